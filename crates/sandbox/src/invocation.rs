//! How the helper was started, read from its arguments.
//!
//! The helper's own arguments come last: `--serve [SOCKET]` (a session's
//! server), `--egress-forwarder SOCKET` (the forwarder), or the confinement
//! spec (one command). Anything before them is the prefix a binary that is
//! more than the helper needs to know it is one
//! ([`crate::LocalConfig::helper_args`], the `agentwerke` binary's
//! `__sandbox-init`); the helper passes it on whenever it starts itself
//! again, so the server's commands and the forwarder run as the helper too.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::serve::SERVE_ARG;
use crate::spec::FORWARDER_ARG;

/// What the helper is asked to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A session's server, starting the forwarder to `egress` if given.
    Serve { egress: Option<PathBuf> },
    /// The egress forwarder to `socket`.
    Forward { socket: PathBuf },
    /// One command, confined by this spec.
    Confine { spec: OsString },
}

/// The helper's arguments, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// The arguments before the helper's own.
    pub(crate) prefix: Vec<OsString>,
    /// What it is asked to be; `None` without any argument.
    pub(crate) mode: Option<Mode>,
}

impl Invocation {
    /// This process's invocation.
    pub(crate) fn current() -> Self {
        Self::parse(std::env::args_os().skip(1).collect())
    }

    /// Splits `args` (without the program name).
    pub(crate) fn parse(mut args: Vec<OsString>) -> Self {
        if let Some(at) = args.iter().position(|a| a == SERVE_ARG) {
            let egress = args.get(at + 1).map(PathBuf::from);
            args.truncate(at);
            return Invocation {
                prefix: args,
                mode: Some(Mode::Serve { egress }),
            };
        }
        if let Some(at) = args.iter().position(|a| a == FORWARDER_ARG) {
            let socket = args.get(at + 1).map(PathBuf::from);
            args.truncate(at);
            return Invocation {
                prefix: args,
                mode: socket.map(|socket| Mode::Forward { socket }),
            };
        }
        let spec = args.pop();
        Invocation {
            prefix: args,
            mode: spec.map(|spec| Mode::Confine { spec }),
        }
    }

    /// This binary started as the helper again, with the same prefix; the
    /// caller adds the helper's own arguments.
    pub(crate) fn again(&self) -> Result<Command, String> {
        let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
        let mut command = Command::new(exe);
        command.args(&self.prefix);
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::{Invocation, Mode};

    fn parse(args: &[&str]) -> Invocation {
        Invocation::parse(args.iter().map(Into::into).collect())
    }

    #[test]
    fn the_helpers_own_arguments_come_last_after_any_prefix() {
        for prefix in [&[][..], &["__sandbox-init"][..]] {
            let with = |own: &[&str]| {
                let mut all = prefix.to_vec();
                all.extend_from_slice(own);
                parse(&all)
            };
            let spec = with(&[r#"{"program":"true"}"#]);
            assert_eq!(spec.prefix, prefix);
            assert_eq!(
                spec.mode,
                Some(Mode::Confine {
                    spec: r#"{"program":"true"}"#.into()
                })
            );
            let serve = with(&["--serve", "/run/agentwerke/egress.sock"]);
            assert_eq!(serve.prefix, prefix);
            assert_eq!(
                serve.mode,
                Some(Mode::Serve {
                    egress: Some("/run/agentwerke/egress.sock".into())
                })
            );
            assert_eq!(with(&["--serve"]).mode, Some(Mode::Serve { egress: None }));
            let forward = with(&["--egress-forwarder", "/s"]);
            assert_eq!(forward.prefix, prefix);
            assert_eq!(
                forward.mode,
                Some(Mode::Forward {
                    socket: "/s".into()
                })
            );
            assert_eq!(with(&["--egress-forwarder"]).mode, None);
        }
        assert_eq!(parse(&[]).mode, None);
    }
}
