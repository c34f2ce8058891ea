//! Standard output that tolerates a reader who stopped reading.
//!
//! `println!` panics when standard output is a pipe whose reader has gone
//! (`agentwerke evidence verify pack.json | head -1`): Rust ignores SIGPIPE,
//! so the write fails with `BrokenPipe`. Every command writes through
//! [`say!`] instead, which treats that as success: the output was no longer
//! wanted, and the exit code still tells the command's outcome.

use std::io::{ErrorKind, Write};

/// Writes one line to standard output; a closed pipe is not an error.
pub fn line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    match writeln!(std::io::stdout().lock(), "{args}") {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `println!` for commands: returns `std::io::Result<()>` (use `?`) and
/// ignores a reader that has gone away.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;
