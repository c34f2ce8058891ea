//! Resource limits of one execution.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The bounds every execution runs under, recorded with its result.
///
/// The kernel enforces the rlimits per process (CPU time, address space, file
/// size, open files) or per sandbox user (processes); the wall clock and the
/// output caps are enforced by the sandbox, which kills the whole process
/// group when either is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// `RLIMIT_CPU`, seconds of CPU time per process.
    pub cpu_seconds: u64,
    /// `RLIMIT_AS`, bytes of address space per process.
    pub address_space_bytes: u64,
    /// `RLIMIT_NPROC`, processes of the sandbox's user.
    pub processes: u64,
    /// `RLIMIT_FSIZE`, the largest file a process may write, in bytes.
    pub file_size_bytes: u64,
    /// `RLIMIT_NOFILE`, open file descriptors per process.
    pub open_files: u64,
    /// Wall-clock time before the whole process group is killed, in ms.
    pub wall_clock_ms: u64,
    /// Bytes captured per stream (stdout, stderr); more kills the execution.
    pub output_bytes: u64,
}

impl Limits {
    /// The wall-clock bound as a duration.
    pub const fn wall_clock(&self) -> Duration {
        Duration::from_millis(self.wall_clock_ms)
    }
}

impl Default for Limits {
    /// Bounds that fit a build or a test run, not a bomb.
    fn default() -> Self {
        Limits {
            cpu_seconds: 60,
            address_space_bytes: 2 << 30,
            processes: 256,
            file_size_bytes: 256 << 20,
            open_files: 256,
            wall_clock_ms: 120_000,
            output_bytes: 1 << 20,
        }
    }
}
