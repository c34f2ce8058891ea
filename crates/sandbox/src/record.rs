//! The record of one execution: what ran, under which bounds, and how it
//! ended. Persisted in the evidence, so its wire shape is pinned by a test.

use serde::{Deserialize, Serialize};

use crate::{EgressConnection, Limits, SandboxProfile, SessionId};

/// One execution's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Execution {
    /// The program, as requested.
    pub program: String,
    /// Its arguments, as requested.
    pub args: Vec<String>,
    /// The profile it ran under.
    pub profile: SandboxProfile,
    /// The isolation it ran under.
    pub isolation: Isolation,
    /// True when it ran without namespaces (Landlock only); the evidence
    /// states this for every such execution.
    pub degraded: bool,
    /// The bounds it ran under.
    pub limits: Limits,
    /// How it ended.
    pub termination: Termination,
    /// Wall-clock time from start to reaping, in ms.
    pub duration_ms: u64,
    /// Killed because the wall clock ran out.
    pub timed_out: bool,
    /// Killed by the sandbox (timeout or output cap).
    pub killed: bool,
    /// Bytes written to stdout and stderr together.
    pub bytes_out: u64,
    /// What it wrote to stdout.
    pub stdout: Output,
    /// What it wrote to stderr.
    pub stderr: Output,
    /// The session it ran in (`agent_sandboxed`); absent for a one-off
    /// execution in a fresh sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
    /// Every connection it made through the egress proxy, allowed or not,
    /// in the order they reached it. Filled in by the caller that ran the
    /// proxy; absent when there was none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressConnection>,
    /// The names of the secret files it was given (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_files: Vec<String>,
}

/// The isolation an execution ran under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Isolation {
    /// New user, mount, PID, network, IPC and UTS namespaces (bubblewrap),
    /// plus Landlock, seccomp and rlimits.
    Namespaces,
    /// Landlock, seccomp and rlimits only, allowed by the operator where
    /// user namespaces are unavailable: no private network (TCP is refused by
    /// Landlock), no private process view.
    LandlockOnly,
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Termination {
    /// It exited with this code. Under namespaces a command killed by signal
    /// N reports 128+N, as bubblewrap does.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// It was killed by this signal.
    Signaled {
        /// The signal number.
        signal: i32,
    },
}

/// One captured stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Output {
    /// Bytes read from the stream (at most the cap plus one read).
    pub bytes: u64,
    /// SHA-256 of those bytes, hex.
    pub sha256: String,
    /// The first bytes, lossy UTF-8. Not redacted: the caller redacts before
    /// it records or shows them.
    pub excerpt: String,
    /// The stream went over the output cap and the execution was killed.
    pub truncated: bool,
    /// The captured bytes (at most the cap), for the caller; not serialized.
    #[serde(skip)]
    pub captured: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_shape_is_pinned() {
        let record = Execution {
            program: "sh".to_owned(),
            args: vec!["-c".to_owned(), "echo hi".to_owned()],
            profile: SandboxProfile::RepoRead,
            isolation: Isolation::Namespaces,
            degraded: false,
            limits: Limits::default(),
            termination: Termination::Exited { code: 0 },
            duration_ms: 12,
            timed_out: false,
            killed: false,
            bytes_out: 3,
            stdout: Output {
                bytes: 3,
                sha256: "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4"
                    .to_owned(),
                excerpt: "hi\n".to_owned(),
                truncated: false,
                captured: b"hi\n".to_vec(),
            },
            stderr: Output {
                bytes: 0,
                sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                    .to_owned(),
                excerpt: String::new(),
                truncated: false,
                captured: Vec::new(),
            },
            session: None,
            egress: Vec::new(),
            secret_files: Vec::new(),
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "program": "sh",
                "args": ["-c", "echo hi"],
                "profile": "repo-read",
                "isolation": "namespaces",
                "degraded": false,
                "limits": {
                    "cpuSeconds": 60,
                    "addressSpaceBytes": 2147483648u64,
                    "processes": 256,
                    "fileSizeBytes": 268435456,
                    "openFiles": 256,
                    "wallClockMs": 120000,
                    "outputBytes": 1048576
                },
                "termination": {"kind": "exited", "code": 0},
                "durationMs": 12,
                "timedOut": false,
                "killed": false,
                "bytesOut": 3,
                "stdout": {
                    "bytes": 3,
                    "sha256": "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4",
                    "excerpt": "hi\n",
                    "truncated": false
                },
                "stderr": {
                    "bytes": 0,
                    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    "excerpt": "",
                    "truncated": false
                }
            })
        );
        let mut back: Execution = serde_json::from_value(json.clone()).unwrap();
        back.stdout.captured = b"hi\n".to_vec();
        assert_eq!(back, record);
        let plain = json;
        let in_session = Execution {
            session: Some(SessionId("0193a1b2-0000-7000-8000-000000000001".to_owned())),
            ..record.clone()
        };
        let json = serde_json::to_value(&in_session).unwrap();
        assert_eq!(json["session"], "0193a1b2-0000-7000-8000-000000000001");
        let mut back: Execution = serde_json::from_value(json).unwrap();
        back.stdout.captured = b"hi\n".to_vec();
        assert_eq!(back, in_session);
        // The egress log is left out when empty (above) and listed when not.
        let connection = crate::EgressConnection {
            host: "example.com".to_owned(),
            port: 443,
            method: "CONNECT".to_owned(),
            addresses: Vec::new(),
            decision: crate::EgressDecision::Refused,
            code: Some("gateway.egress.host_not_allowed".to_owned()),
            reason: None,
            bytes_up: 0,
            bytes_down: 0,
            at: agentwerke_types::Timestamp(1),
        };
        let with_egress = Execution {
            egress: vec![connection.clone()],
            ..record.clone()
        };
        let json = serde_json::to_value(&with_egress).unwrap();
        assert_eq!(
            json["egress"],
            serde_json::json!([serde_json::to_value(&connection).unwrap()])
        );
        let mut back: Execution = serde_json::from_value(json).unwrap();
        back.stdout.captured = b"hi\n".to_vec();
        assert_eq!(back, with_egress);
        let mut with_secrets = record.clone();
        with_secrets.secret_files = vec!["token".to_owned()];
        let mut expected = plain;
        expected["secretFiles"] = serde_json::json!(["token"]);
        assert_eq!(serde_json::to_value(&with_secrets).unwrap(), expected);
        let signaled = serde_json::to_value(Termination::Signaled { signal: 9 }).unwrap();
        assert_eq!(
            signaled,
            serde_json::json!({"kind": "signaled", "signal": 9})
        );
        let degraded = serde_json::to_value(Isolation::LandlockOnly).unwrap();
        assert_eq!(degraded, serde_json::json!("landlockOnly"));
        let names: Vec<_> = SandboxProfile::ALL
            .iter()
            .map(|p| serde_json::to_value(p).unwrap())
            .collect();
        assert_eq!(
            names,
            ["offline", "repo-read", "repo-write", "deployment"].map(serde_json::Value::from)
        );
    }
}
