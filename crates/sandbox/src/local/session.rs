//! The host's side of a session: starts the sandbox once, with the command a
//! one-off execution would use and the server (`serve.rs`) in place of the
//! command, then sends each request's confinement spec, takes its output
//! under the caps, and asks the server to kill the command's process group
//! when its clock or a cap runs out. The egress socket is bound in once, at
//! open, and the server runs the one forwarder; a command's secret values
//! follow its spec in a frame of their own.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::LocalSandbox;
use crate::capture::{Capture, capture};
use crate::record::{Execution, Isolation, Output, Termination};
use crate::serve::SERVE_ARG;
use crate::spec::{EGRESS_SOCKET, SETUP_FAILED_EXIT, SETUP_FAILED_PREFIX};
use crate::wire;
use crate::{ExecRequest, SandboxError, SandboxProfile, SandboxSession, SessionId, SessionSpec};

/// How long the sandbox may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to report a command it was told to kill.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How long the server may take to kill everything and exit on close,
/// before the host kills the sandbox's process group itself.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Bytes of the server's own stderr kept to explain a failed start.
const SERVER_STDERR_BYTES: u64 = 4096;

/// A session on this host.
pub(super) struct LocalSession {
    id: SessionId,
    sandbox: LocalSandbox,
    workspace: PathBuf,
    profile: SandboxProfile,
    /// The egress proxy's socket on the host, as the session was opened with
    /// it: each command must name the same.
    egress: Option<PathBuf>,
    /// The degraded mode's private folder: its `tmp/` is shared by the
    /// session's commands, a command's secrets folder is beside it (under
    /// namespaces `/tmp` is the sandbox's own tmpfs).
    private_tmp: Option<tempfile::TempDir>,
    /// Frames to the server; `None` once the session is closed or broken.
    to_server: Option<ChildStdin>,
    from_server: ChildStdout,
    /// The process group of the sandbox (bubblewrap, or the server in the
    /// degraded mode).
    group: Pid,
    /// Spawned and waits for the sandbox. A parent-death signal (bubblewrap's
    /// `--die-with-parent`) follows the thread that created the process
    /// (prctl(2)), and callers may open a session on one thread and run
    /// commands on others: this thread lives exactly as long as the sandbox.
    reaper: Option<JoinHandle<()>>,
    reaped: mpsc::Receiver<()>,
}

impl LocalSession {
    pub(super) fn open(sandbox: &LocalSandbox, spec: &SessionSpec) -> Result<Self, SandboxError> {
        let workspace = canonical_workspace(&spec.workspace)?;
        let profile = spec.profile;
        let sandbox = LocalSandbox {
            config: sandbox.config.clone(),
            isolation: sandbox.isolation,
        };
        let private_tmp = sandbox.degraded_folder()?;
        // The sandbox a one-off execution with the session's egress would
        // get (its checks included: a socket that is not one, `offline` with
        // a socket, the degraded mode with one are refused here).
        let mut probe = ExecRequest::new("true", Vec::<String>::new(), &workspace, profile);
        probe.egress = spec.egress.clone();
        let tmp = private_tmp.as_ref().map(|t| t.path());
        let one_off = sandbox.command(&probe, &workspace, tmp, true)?;
        let command = server_command(&one_off, spec.egress.is_some());
        let (started, start) = mpsc::channel();
        let (reaped_tx, reaped) = mpsc::channel();
        let reaper = thread::Builder::new()
            .name("sandbox-session".to_owned())
            .spawn(move || {
                let mut command = command;
                match command.spawn() {
                    Ok(mut child) => {
                        let pipes = (
                            child.stdin.take(),
                            child.stdout.take(),
                            child.stderr.take(),
                            child.id(),
                        );
                        let _ = started.send(Ok(pipes));
                        let _ = child.wait();
                    }
                    Err(e) => {
                        let _ = started.send(Err(e));
                    }
                }
                let _ = reaped_tx.send(());
            })?;
        let (stdin, stdout, stderr, pid) = start
            .recv()
            .map_err(|_| SandboxError::Setup("session starter panicked".to_owned()))??;
        let (Some(to_server), Some(from_server), Some(stderr)) = (stdin, stdout, stderr) else {
            return Err(SandboxError::Setup("session pipes missing".to_owned()));
        };
        // Read in the background (up to a cap, after which writes to it fail
        // rather than block), so the server never waits on it; only a failed
        // start looks at it.
        let server_stderr = thread::spawn(move || capture(stderr, SERVER_STDERR_BYTES, || ()));
        let mut session = LocalSession {
            id: SessionId::mint(),
            sandbox,
            workspace,
            profile,
            egress: spec.egress.clone(),
            private_tmp,
            to_server: Some(to_server),
            from_server,
            group: Pid::from_raw(pid as i32),
            reaper: Some(reaper),
            reaped,
        };
        let ready = readable(&session.from_server, START_TIMEOUT)
            && matches!(
                wire::read_frame(&mut session.from_server),
                Ok(Some((wire::READY, _)))
            );
        if !ready {
            session.shutdown();
            let said = server_stderr.join().map(|o| o.excerpt).unwrap_or_default();
            let said = said.trim();
            let said = said.strip_prefix(SETUP_FAILED_PREFIX).unwrap_or(said);
            return Err(SandboxError::Setup(format!(
                "session did not start: {said}"
            )));
        }
        Ok(session)
    }

    /// Sends one frame; a server that cannot take it has ended.
    fn send(&mut self, tag: u8, payload: &[u8]) -> Result<(), SandboxError> {
        let sent = match self.to_server.as_mut() {
            Some(to) => wire::write_frame(to, tag, payload),
            None => return Err(ended("the session is closed")),
        };
        sent.map_err(|e| self.broken(&format!("cannot reach the server: {e}")))
    }

    /// Tears the session down after a protocol failure and says why.
    fn broken(&mut self, why: &str) -> SandboxError {
        self.shutdown();
        ended(why)
    }

    /// Closes the server's input (it kills every process it started and
    /// exits, and with it the PID namespace ends), waits for the sandbox to
    /// be gone, and kills its process group if it does not go in time.
    fn shutdown(&mut self) {
        drop(self.to_server.take());
        let Some(reaper) = self.reaper.take() else {
            return;
        };
        if self.reaped.recv_timeout(CLOSE_GRACE).is_err() {
            let _ = killpg(self.group, Signal::SIGKILL);
        }
        let _ = reaper.join();
    }

    /// Runs the request's command and follows its frames to the end.
    fn execute(&mut self, request: &ExecRequest) -> Result<Execution, SandboxError> {
        let tmp = self.private_tmp.as_ref().map(|t| t.path().to_owned());
        let one_off = self
            .sandbox
            .command(request, &self.workspace, tmp.as_deref(), true)?;
        let spec = spec_of(&one_off)?;
        let limits = request.limits;
        let start = Instant::now();
        self.send(wire::RUN, spec.as_encoded_bytes())?;
        if !request.secret_files.is_empty() {
            self.send(wire::SECRETS, &crate::secret::frames(&request.secret_files))?;
        }
        let mut deadline = start + limits.wall_clock();
        let mut stdout = Capture::new(limits.output_bytes);
        let mut stderr = Capture::new(limits.output_bytes);
        let (mut timed_out, mut over_cap, mut kill_sent) = (false, false, false);
        let termination = loop {
            let now = Instant::now();
            if now >= deadline {
                if kill_sent {
                    return Err(self.broken("the server did not end a killed command"));
                }
                timed_out = true;
                self.send(wire::KILL, &[])?;
                kill_sent = true;
                deadline = now + KILL_GRACE;
                continue;
            }
            if !readable(&self.from_server, deadline - now) {
                continue;
            }
            let (tag, payload) = match wire::read_frame(&mut self.from_server) {
                Ok(Some(frame)) => frame,
                Ok(None) => return Err(self.broken("the server ended")),
                Err(e) => return Err(self.broken(&format!("reading the server: {e}"))),
            };
            let passed_cap = match tag {
                wire::STDOUT => stdout.feed(&payload),
                wire::STDERR => stderr.feed(&payload),
                wire::EXITED | wire::SIGNALED => {
                    let value = wire::int_payload(&payload)
                        .map_err(|e| self.broken(&format!("reading the server: {e}")))?;
                    break if tag == wire::EXITED {
                        Termination::Exited { code: value }
                    } else {
                        Termination::Signaled { signal: value }
                    };
                }
                wire::NOT_STARTED => {
                    let reason = String::from_utf8_lossy(&payload);
                    return Err(SandboxError::Setup(format!(
                        "cannot start the helper: {reason}"
                    )));
                }
                other => return Err(self.broken(&format!("unexpected frame {other}"))),
            };
            if passed_cap {
                over_cap = true;
                if !kill_sent {
                    self.send(wire::KILL, &[])?;
                    kill_sent = true;
                    deadline = Instant::now() + KILL_GRACE;
                }
            }
        };
        let duration_ms = start.elapsed().as_millis() as u64;
        let (stdout, stderr): (Output, Output) = (stdout.finish(), stderr.finish());
        if termination
            == (Termination::Exited {
                code: SETUP_FAILED_EXIT,
            })
            && let Some(reason) = stderr.excerpt.strip_prefix(SETUP_FAILED_PREFIX)
        {
            return Err(SandboxError::Setup(reason.trim_end().to_owned()));
        }
        let isolation = self.sandbox.isolation;
        Ok(Execution {
            program: request.program.clone(),
            args: request.args.clone(),
            profile: request.profile,
            isolation,
            degraded: isolation == Isolation::LandlockOnly,
            limits,
            termination,
            duration_ms,
            timed_out,
            killed: timed_out || over_cap,
            bytes_out: stdout.bytes + stderr.bytes,
            stdout,
            stderr,
            session: Some(self.id.clone()),
            egress: Vec::new(),
            secret_files: request
                .secret_files
                .iter()
                .map(|f| f.name.clone())
                .collect(),
        })
    }
}

impl SandboxSession for LocalSession {
    fn id(&self) -> &SessionId {
        &self.id
    }

    fn run(&mut self, request: &ExecRequest) -> Result<Execution, SandboxError> {
        if request.program.is_empty() {
            return Err(SandboxError::InvalidRequest("empty program".to_owned()));
        }
        if request.profile != self.profile {
            return Err(SandboxError::InvalidRequest(format!(
                "profile {} is not the session's ({})",
                request.profile.as_str(),
                self.profile.as_str()
            )));
        }
        if canonical_workspace(&request.workspace)? != self.workspace {
            return Err(SandboxError::InvalidRequest(
                "the workspace is not the session's".to_owned(),
            ));
        }
        // A session's network is fixed when it opens: a command asking for
        // another way out (or none, while the proxy is there) is refused.
        if request.egress != self.egress {
            return Err(SandboxError::InvalidRequest(
                "the egress socket is not the session's".to_owned(),
            ));
        }
        crate::secret::validate(&request.secret_files)?;
        if self.to_server.is_none() {
            return Err(ended("the session is closed"));
        }
        self.execute(request)
    }

    fn close(mut self: Box<Self>) -> Result<(), SandboxError> {
        self.shutdown();
        Ok(())
    }
}

impl Drop for LocalSession {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn ended(why: &str) -> SandboxError {
    SandboxError::SessionEnded(why.to_owned())
}

/// The workspace as the sandbox binds it: canonical, and a folder.
fn canonical_workspace(workspace: &Path) -> Result<PathBuf, SandboxError> {
    let canonical = std::fs::canonicalize(workspace).map_err(|e| {
        SandboxError::InvalidRequest(format!("workspace {}: {e}", workspace.display()))
    })?;
    if !canonical.is_dir() {
        return Err(SandboxError::InvalidRequest(
            "workspace is not a folder".to_owned(),
        ));
    }
    Ok(canonical)
}

/// The one-off execution's command (bubblewrap with the session's mounts
/// and the helper, or the helper alone in the degraded mode), with the
/// server's `--serve` in place of the command's spec, its last argument
/// (followed by the egress socket inside the sandbox when the session has
/// one, for the server to start the forwarder), and a control pipe for
/// stdin. Built from the one-off command rather than alongside it, so both
/// always get the same sandbox.
fn server_command(one_off: &Command, egress: bool) -> Command {
    let mut args: Vec<&std::ffi::OsStr> = one_off.get_args().collect();
    args.pop();
    let mut command = Command::new(one_off.get_program());
    command.args(args).arg(SERVE_ARG).env_clear();
    if egress {
        command.arg(EGRESS_SOCKET);
    }
    for (key, value) in one_off.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    if let Some(dir) = one_off.get_current_dir() {
        command.current_dir(dir);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    command
}

/// The confinement spec a one-off execution passes the helper (its last
/// argument): the session's server hands the very same one to the helper.
fn spec_of(one_off: &Command) -> Result<OsString, SandboxError> {
    one_off
        .get_args()
        .last()
        .map(ToOwned::to_owned)
        .ok_or_else(|| SandboxError::Setup("no confinement spec".to_owned()))
}

/// Waits up to `timeout` for the server to have something to say.
fn readable(from: &ChildStdout, timeout: Duration) -> bool {
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
    matches!(
        poll(&mut fds, PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)),
        Ok(n) if n > 0
    )
}
