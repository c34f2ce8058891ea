//! A session's server: the helper started with `--serve` inside the
//! session's sandbox. It reads one command at a time from the host (its
//! stdin), starts the helper on that command's confinement spec, exactly as
//! a one-off execution would, relays the command's output and exit status
//! (its stdout), and kills the command's process group when the host asks.
//! When the host goes away it kills every process the session started.
//!
//! Given the egress proxy's socket (its argument after `--serve`), it starts
//! the sandbox's one egress forwarder before it says it is ready; each
//! command's spec then asks for the proxy variables only. A command's secret
//! values arrive in the frame after its spec; the server feeds them to that
//! command's helper over its standard input, as the host does for a one-off
//! execution, and deletes the secrets folder when the command has ended,
//! before it reports the end (and so before the next command can run).
//!
//! The server itself is not confined (it must outlive the commands and start
//! the next one), so the commands must not reach it. What holds: its control
//! pipes are never inherited (the command's stdin, stdout and stderr replace
//! fds 0 to 2, every other descriptor is close-on-exec); it is not dumpable,
//! so `/proc/<pid>/mem`, `/proc/<pid>/fd` and `ptrace` access to it are
//! refused to a process without `CAP_SYS_PTRACE` (which nothing in the
//! sandbox has); the commands' seccomp filter refuses `ptrace` and
//! `process_vm_*` anyway, and their Landlock domain refuses writes under
//! `/proc` and signals to processes outside it (the server).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;

use zeroize::Zeroizing;

use crate::invocation::Invocation;
use crate::spec::{ConfineSpec, SETUP_FAILED_EXIT, SETUP_FAILED_PREFIX};
use crate::wire;

/// The helper's argument that makes it a session's server (after any
/// prefix; the egress socket may follow).
pub(crate) const SERVE_ARG: &str = "--serve";

/// Output a background process may still have left in a pipe once its
/// command has exited: read at most this much, so one that keeps writing
/// cannot hold the command open.
const DRAIN_BYTES: usize = 1 << 20;

/// Serves until the host closes the session, then kills every process the
/// session started and exits.
pub(crate) fn serve_main(invocation: &Invocation, egress: Option<&Path>) -> ! {
    let code = match serve(invocation, egress) {
        Ok(()) => 0,
        Err(error) => {
            let _ = writeln!(io::stderr(), "{SETUP_FAILED_PREFIX}{error}");
            SETUP_FAILED_EXIT
        }
    };
    kill_descendants();
    std::process::exit(code)
}

/// Whether the host is still there after a command.
#[derive(PartialEq, Eq)]
enum Flow {
    Next,
    HostGone,
}

fn serve(invocation: &Invocation, egress: Option<&Path>) -> Result<(), String> {
    let fail = |what: &'static str| move |e: nix::Error| format!("{what}: {e}");
    nix::sys::prctl::set_dumpable(false).map_err(fail("not dumpable"))?;
    // Orphans (a command's background processes) become the server's
    // children, so it can reap them and find them all at the end.
    nix::sys::prctl::set_child_subreaper(true).map_err(fail("subreaper"))?;
    // The sandbox's one egress forwarder, when the session has a proxy: it
    // serves every command, which gets the proxy variables only.
    if let Some(socket) = egress {
        crate::forward::spawn(invocation, socket)?;
    }
    let io_fail = |e: io::Error| format!("control pipe: {e}");
    // Unbuffered, close-on-exec copies: the server polls the descriptors, and
    // a command must not inherit them.
    let control_in = File::from(io::stdin().as_fd().try_clone_to_owned().map_err(io_fail)?);
    let control_out = File::from(io::stdout().as_fd().try_clone_to_owned().map_err(io_fail)?);
    wire::write_frame(&control_out, wire::READY, &[]).map_err(io_fail)?;
    loop {
        match wire::read_frame(&control_in).map_err(io_fail)? {
            None => return Ok(()),
            Some((wire::RUN, spec)) => {
                let secrets = secrets_of(&spec, &control_in).map_err(io_fail)?;
                if run_one(invocation, spec, secrets, &control_in, &control_out).map_err(io_fail)?
                    == Flow::HostGone
                {
                    return Ok(());
                }
            }
            // A kill that arrived after its command had ended.
            Some(_) => {}
        }
    }
}

/// A command's secret files: where the helper writes them, and their
/// values, which the host sends in the frame that follows its spec.
struct Secrets {
    dir: PathBuf,
    values: Zeroizing<Vec<u8>>,
}

/// Reads the values of the secret files `spec` names, if any.
fn secrets_of(spec: &[u8], control_in: &File) -> io::Result<Option<Secrets>> {
    let spec: ConfineSpec = serde_json::from_slice(spec).map_err(|_| io::ErrorKind::InvalidData)?;
    let Some(dir) = spec.secrets_dir else {
        return Ok(None);
    };
    match wire::read_frame(control_in)? {
        Some((wire::SECRETS, values)) => Ok(Some(Secrets {
            dir,
            values: Zeroizing::new(values),
        })),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the secret values did not follow their spec",
        )),
    }
}

/// Deletes a command's secrets folder (the helper left it read-only) once
/// the command has ended, before the next one can run. A folder that cannot
/// be deleted ends the session rather than outlive its command.
fn remove_secrets(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        Ok(()) => std::fs::remove_dir_all(dir),
        // The helper failed before it made the folder.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs one command: the helper confines itself by `spec` and executes it,
/// in a process group of its own, while its output is relayed frame by frame.
fn run_one(
    invocation: &Invocation,
    spec: Vec<u8>,
    secrets: Option<Secrets>,
    control_in: &File,
    control_out: &File,
) -> io::Result<Flow> {
    let spec = String::from_utf8(spec).map_err(|_| io::ErrorKind::InvalidData)?;
    let secrets_dir = secrets.as_ref().map(|s| s.dir.clone());
    let ran = run_helper(invocation, spec, secrets, control_in, control_out);
    if let Some(dir) = secrets_dir {
        remove_secrets(&dir)?;
    }
    let (flow, status) = ran?;
    if let (Flow::Next, Some(status)) = (&flow, status) {
        match (status.code(), status.signal()) {
            (Some(code), _) => wire::write_frame(control_out, wire::EXITED, &code.to_le_bytes())?,
            (None, signal) => {
                let signal = signal.unwrap_or(0);
                wire::write_frame(control_out, wire::SIGNALED, &signal.to_le_bytes())?;
            }
        }
    }
    Ok(flow)
}

/// Starts the helper on `spec`, feeds it the secret values, relays its
/// output until it exits, and returns its status (`None` when it did not
/// start, which the host has been told).
fn run_helper(
    invocation: &Invocation,
    spec: String,
    secrets: Option<Secrets>,
    control_in: &File,
    control_out: &File,
) -> io::Result<(Flow, Option<ExitStatus>)> {
    let (out_r, out_w) = io::pipe()?;
    let (err_r, err_w) = io::pipe()?;
    let spawned = {
        // The command owns the write ends; dropping it closes the server's
        // copies, so the pipes end when the command's processes are gone.
        let mut command = invocation.again().map_err(io::Error::other)?;
        command
            .arg(spec)
            .stdin(if secrets.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(out_w)
            .stderr(err_w)
            .process_group(0);
        command.spawn()
    };
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            wire::write_frame(control_out, wire::NOT_STARTED, e.to_string().as_bytes())?;
            return Ok((Flow::Next, None));
        }
    };
    // The values go to the helper's standard input on a thread of their own,
    // as the host feeds a one-off helper, so a helper that never reads them
    // cannot hold up the relay; one that failed first closed the pipe.
    let feeder = match (child.stdin.take(), secrets) {
        (Some(mut stdin), Some(secrets)) => Some(thread::spawn(move || {
            let _ = stdin.write_all(&secrets.values);
        })),
        _ => None,
    };
    let group = Pid::from_raw(child.id() as i32);
    // Told when the command exits, without reaping it: its process id, and so
    // its group, stays reserved until the server has stopped killing it.
    let (exited_r, exited_w) = io::pipe()?;
    thread::spawn(move || {
        while let Err(nix::Error::EINTR) =
            waitid(Id::Pid(group), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
        {}
        drop(exited_w);
    });
    let mut streams = [(wire::STDOUT, Some(out_r)), (wire::STDERR, Some(err_r))];
    let mut buf = vec![0u8; 64 * 1024];
    let mut flow = Flow::Next;
    loop {
        let (ready, control_ready, exited) = {
            let mut fds: Vec<PollFd<'_>> = streams
                .iter()
                .filter_map(|(_, s)| s.as_ref())
                .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            let open = fds.len();
            fds.push(PollFd::new(control_in.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(exited_r.as_fd(), PollFlags::POLLIN));
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let is_ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
            let ready: Vec<bool> = fds[..open].iter().map(is_ready).collect();
            (ready, is_ready(&fds[open]), is_ready(&fds[open + 1]))
        };
        let mut i = 0;
        for (tag, stream) in streams.iter_mut() {
            let Some(reader) = stream else { continue };
            if ready[i] && !relay(reader, *tag, &mut buf, control_out)? {
                *stream = None;
            }
            i += 1;
        }
        if control_ready {
            match wire::read_frame(control_in)? {
                Some((wire::KILL, _)) => {
                    let _ = killpg(group, Signal::SIGKILL);
                }
                Some(_) => {}
                None => {
                    let _ = killpg(group, Signal::SIGKILL);
                    flow = Flow::HostGone;
                    break;
                }
            }
        }
        if exited {
            break;
        }
    }
    if flow == Flow::Next {
        for (tag, stream) in streams.iter_mut() {
            if let Some(reader) = stream {
                drain(reader, *tag, &mut buf, control_out)?;
            }
        }
    }
    drop(streams);
    let status = child.wait()?;
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    reap_orphans();
    Ok((flow, Some(status)))
}

/// Reads once from a ready stream and passes the bytes on; false at its end.
fn relay(mut reader: &io::PipeReader, tag: u8, buf: &mut [u8], to: &File) -> io::Result<bool> {
    match reader.read(buf) {
        Ok(0) => Ok(false),
        Ok(n) => wire::write_frame(to, tag, &buf[..n]).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
        Err(_) => Ok(false),
    }
}

/// Passes on what is already in the pipe once the command has exited.
fn drain(reader: &io::PipeReader, tag: u8, buf: &mut [u8], to: &File) -> io::Result<()> {
    let mut drained = 0;
    while drained < DRAIN_BYTES && readable_now(reader.as_fd()) {
        let before = drained;
        match (&*reader).read(buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                wire::write_frame(to, tag, &buf[..n])?;
                drained += n;
            }
        }
        if drained == before {
            break;
        }
    }
    Ok(())
}

fn readable_now(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Reaps the session's background processes that have ended, so they do not
/// stay as zombies counted against the next command's process limit.
fn reap_orphans() {
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Kills every process the session started, including those that left their
/// command's process group: as the subreaper the server inherits each orphan,
/// so killing its children until it has none reaches them all.
fn kill_descendants() {
    loop {
        for pid in children() {
            let _ = kill(pid, Signal::SIGKILL);
        }
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => thread::sleep(Duration::from_millis(1)),
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// The server's children, from `/proc/<pid>/stat` (the field after the
/// command name is the state, then the parent).
fn children() -> Vec<Pid> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let parent = rest.split_whitespace().nth(1)?;
            (parent == me).then(|| Pid::from_raw(pid))
        })
        .collect()
}
