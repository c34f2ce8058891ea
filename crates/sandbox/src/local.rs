//! The host sandbox: bubblewrap for the namespaces and mounts, the helper for
//! rlimits, Landlock and seccomp, and a watcher for the clock and the output.

use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::capture::capture;
use crate::record::{Execution, Isolation, Termination};
use crate::secret::{DEGRADED_SECRETS_DIR, NAMESPACE_SECRETS_DIR};
use crate::spec::{ConfineSpec, EGRESS_SOCKET, Egress, SETUP_FAILED_EXIT, SETUP_FAILED_PREFIX};
use crate::user::find_program;
use crate::{
    ExecRequest, Limits, Network, Sandbox, SandboxError, SandboxProfile, SandboxUser, SessionSpec,
    WorkspaceAccess,
};

mod session;

/// The `PATH` inside the sandbox.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the degraded mode lets a command read besides its workspace.
const SYSTEM_PATHS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"];

/// The commands' temporary folder inside the degraded mode's private folder.
const DEGRADED_TMP_DIR: &str = "tmp";

/// Devices a command may read and write in the degraded mode.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// How the host sandbox is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// The `agentwerke-sandbox-init` helper binary.
    pub helper: PathBuf,
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
    /// Host folders and files no command may see (the server's data folder,
    /// keys). Each must exist: a folder is covered by an empty tmpfs, a file
    /// by an empty one.
    pub hidden: Vec<PathBuf>,
    /// Run with Landlock, seccomp and rlimits only when namespaces are
    /// unavailable. Off by default: the sandbox then refuses to run.
    pub allow_degraded: bool,
    /// The host user bubblewrap (or, degraded, the helper) runs as, with no
    /// supplementary groups. By default `nobody` when this process is root
    /// (the kernel does not hold root to the process limit, and root's
    /// identity would own the sandbox's files), and `None`, the caller's own
    /// user, otherwise.
    pub run_as: Option<SandboxUser>,
    /// Arguments passed to the helper before its confinement spec: lets a
    /// binary that is more than the helper (the `agentwerke` binary) know
    /// it is started as one. Empty for `agentwerke-sandbox-init`.
    pub helper_args: Vec<String>,
}

impl LocalConfig {
    /// Bubblewrap from `PATH`, nothing hidden, no degraded mode.
    pub fn new(helper: impl Into<PathBuf>) -> Self {
        LocalConfig {
            helper: helper.into(),
            bwrap: PathBuf::from("bwrap"),
            hidden: Vec::new(),
            allow_degraded: false,
            run_as: SandboxUser::for_this_process(),
            helper_args: Vec::new(),
        }
    }
}

/// The sandbox on this host.
#[derive(Debug)]
pub struct LocalSandbox {
    config: LocalConfig,
    isolation: Isolation,
}

impl LocalSandbox {
    /// Probes the host once: bubblewrap with a new user namespace must run,
    /// or, when allowed, the helper must enforce Landlock on its own.
    pub fn new(mut config: LocalConfig) -> Result<Self, SandboxError> {
        config.helper = std::fs::canonicalize(&config.helper)
            .map_err(|e| SandboxError::Setup(format!("helper {}: {e}", config.helper.display())))?;
        // A hidden path that does not exist yet could appear later unhidden:
        // refuse it rather than skip it.
        config.hidden = config
            .hidden
            .iter()
            .map(|p| {
                std::fs::canonicalize(p).map_err(|e| {
                    SandboxError::InvalidRequest(format!("hidden path {}: {e}", p.display()))
                })
            })
            .collect::<Result<_, _>>()?;
        if let Some(user) = config.run_as {
            user.check_executable("the helper", &config.helper)?;
            if let Some(bwrap) = find_program(&config.bwrap, PATH) {
                user.check_executable("bubblewrap", &bwrap)?;
            }
        }
        let isolation = match probe_bwrap(&config.bwrap, config.run_as) {
            Ok(()) => Isolation::Namespaces,
            Err(reason) if !config.allow_degraded => {
                return Err(SandboxError::IsolationUnavailable { reason });
            }
            Err(_) => Isolation::LandlockOnly,
        };
        let sandbox = LocalSandbox { config, isolation };
        if isolation == Isolation::Namespaces {
            sandbox.check_hidden_reachable()?;
        }
        if isolation == Isolation::LandlockOnly {
            sandbox.check_hidden()?;
            let probe = tempfile::tempdir()?;
            sandbox.prepare_workspace(probe.path())?;
            let request = ExecRequest::new(
                "true",
                Vec::<String>::new(),
                probe.path(),
                SandboxProfile::Offline,
            );
            match sandbox.run(&request) {
                Ok(e) if e.termination == (Termination::Exited { code: 0 }) => {}
                _ => return Err(SandboxError::LandlockUnavailable),
            }
        }
        Ok(sandbox)
    }

    /// The host path of the egress proxy's socket to bind in, if the
    /// request has one its profile may use. A profile without a proxy
    /// network is refused one, and the degraded mode cannot confine a
    /// command to it.
    fn egress<'r>(&self, request: &'r ExecRequest) -> Result<Option<&'r Path>, SandboxError> {
        let Some(socket) = request.egress.as_deref() else {
            return Ok(None);
        };
        if request.profile.network() != Network::ViaProxy {
            return Err(SandboxError::InvalidRequest(format!(
                "profile {} has no egress",
                request.profile.as_str()
            )));
        }
        if self.isolation == Isolation::LandlockOnly {
            return Err(SandboxError::EgressUnavailable);
        }
        match std::fs::metadata(socket) {
            Ok(meta) if meta.file_type().is_socket() => Ok(Some(socket)),
            _ => Err(SandboxError::InvalidRequest(format!(
                "egress socket {} is not a socket",
                socket.display()
            ))),
        }
    }

    /// The degraded mode's private folder for one execution or one session
    /// (`None` under namespaces): the commands' temporary folder `tmp/`
    /// (their `TMPDIR` and `HOME`, writable) and, beside it, where the helper
    /// writes a command's `secrets/`, which only that command's Landlock
    /// rules cover: a process an earlier command of a session left running
    /// cannot read it. Both belong to the sandbox user.
    fn degraded_folder(&self) -> Result<Option<tempfile::TempDir>, SandboxError> {
        if self.isolation == Isolation::Namespaces {
            return Ok(None);
        }
        let folder = tempfile::tempdir()?;
        let tmp = folder.path().join(DEGRADED_TMP_DIR);
        std::fs::create_dir(&tmp)?;
        if let Some(user) = self.config.run_as {
            for path in [folder.path(), tmp.as_path()] {
                std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))?;
            }
        }
        Ok(Some(folder))
    }

    /// The degraded mode exposes whole system folders; a hidden folder under
    /// one of them cannot be hidden, so the sandbox refuses to start.
    fn check_hidden(&self) -> Result<(), SandboxError> {
        for hidden in &self.config.hidden {
            let exposed = SYSTEM_PATHS
                .iter()
                .map(Path::new)
                .chain([self.config.helper.as_path()])
                .any(|p| hidden.starts_with(p) || p.starts_with(hidden));
            if exposed {
                return Err(SandboxError::CannotHide(hidden.display().to_string()));
            }
        }
        Ok(())
    }

    /// Bubblewrap, running as the sandbox user, covers each hidden path: it
    /// must be able to reach it. (One it cannot reach is out of the
    /// command's reach too, but permissions can change; the operator hides
    /// a folder above it instead.)
    fn check_hidden_reachable(&self) -> Result<(), SandboxError> {
        let Some(user) = self.config.run_as else {
            return Ok(());
        };
        for hidden in &self.config.hidden {
            if !user.may(hidden, 0) {
                return Err(SandboxError::InvalidRequest(format!(
                    "hidden path {}: the sandbox user (uid {}) cannot reach it to cover it; \
                     hide a folder above it",
                    hidden.display(),
                    user.uid
                )));
            }
        }
        Ok(())
    }

    /// The command of a one-off execution: bubblewrap (or, degraded, the
    /// helper) with the helper's confinement spec as its last argument. In a
    /// session (`in_session`) only that spec is used, and it tells the helper
    /// that the session's server runs the egress forwarder already.
    fn command(
        &self,
        request: &ExecRequest,
        workspace: &Path,
        private_tmp: Option<&Path>,
        in_session: bool,
    ) -> Result<Command, SandboxError> {
        let access = request.profile.workspace_access();
        let mut spec = ConfineSpec {
            read: Vec::new(),
            list: Vec::new(),
            write: Vec::new(),
            devices: Vec::new(),
            deny_tcp: false,
            limits: request.limits,
            program: request.program.clone(),
            args: request.args.clone(),
            egress: Egress::None,
            secrets_dir: None,
            secret_files: request
                .secret_files
                .iter()
                .map(|f| f.name.clone())
                .collect(),
        };
        let egress = self.egress(request)?;
        if egress.is_some() {
            spec.egress = if in_session {
                Egress::Running
            } else {
                Egress::Forward {
                    socket: PathBuf::from(EGRESS_SOCKET),
                }
            };
        }
        match access {
            WorkspaceAccess::ReadOnly => spec.read.push(workspace.to_owned()),
            WorkspaceAccess::ReadWrite => spec.write.push(workspace.to_owned()),
        }
        let mut command;
        match private_tmp {
            None => {
                spec.read.extend(root_but_run());
                spec.list.push(PathBuf::from("/"));
                spec.write.push(PathBuf::from("/tmp"));
                spec.devices.push(PathBuf::from("/dev"));
                command = Command::new(&self.config.bwrap);
                command.args(self.bwrap_args(workspace, access, egress));
                command.arg(&self.config.helper);
                command.args(&self.config.helper_args);
            }
            Some(tmp) => {
                spec.read.extend(SYSTEM_PATHS.iter().map(PathBuf::from));
                spec.read.push(self.config.helper.clone());
                spec.write.push(tmp.join(DEGRADED_TMP_DIR));
                spec.devices.extend(DEVICES.iter().map(PathBuf::from));
                spec.deny_tcp = true;
                command = Command::new(&self.config.helper);
                command.args(&self.config.helper_args);
                command.current_dir(workspace);
            }
        }
        if !request.secret_files.is_empty() {
            spec.secrets_dir = Some(match private_tmp {
                None => PathBuf::from(NAMESPACE_SECRETS_DIR),
                Some(tmp) => tmp.join(DEGRADED_SECRETS_DIR),
            });
        }
        let secrets_dir = spec.secrets_dir.clone();
        let spec = serde_json::to_string(&spec)
            .map_err(|e| SandboxError::InvalidRequest(format!("spec: {e}")))?;
        command
            .arg(spec)
            .env_clear()
            .env("PATH", PATH)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(user) = self.config.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        if let Some(tmp) = private_tmp {
            let tmp = tmp.join(DEGRADED_TMP_DIR);
            command.env("TMPDIR", &tmp).env("HOME", &tmp);
        } else {
            command.env("TMPDIR", "/tmp").env("HOME", "/tmp");
        }
        if secrets_dir.is_some() {
            // The values go to the helper here; it names the folder in the
            // command's `SECRETS_DIR`.
            command.stdin(Stdio::piped());
        }
        Ok(command)
    }

    /// Fresh namespaces; the host's root read-only; private `/dev`, `/proc`
    /// and `/tmp`; each hidden folder covered by an empty tmpfs, each hidden
    /// file by `/dev/null`; then the
    /// workspace and the helper bound in on top.
    fn bwrap_args(
        &self,
        workspace: &Path,
        access: WorkspaceAccess,
        egress: Option<&Path>,
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "--unshare-user",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--disable-userns",
            "--die-with-parent",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/run",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        for hidden in &self.config.hidden {
            if hidden.is_dir() {
                args.extend(["--tmpfs".into(), hidden.into()]);
            } else {
                args.extend(["--ro-bind".into(), "/dev/null".into(), hidden.into()]);
            }
        }
        if let Some(socket) = egress {
            // Into the private `/run` (above), which holds the mount point
            // on the read-only root and hides the host's sockets there.
            args.extend(["--ro-bind".into(), socket.into(), EGRESS_SOCKET.into()]);
        }
        let bind = match access {
            WorkspaceAccess::ReadOnly => "--ro-bind",
            WorkspaceAccess::ReadWrite => "--bind",
        };
        args.extend([bind.into(), workspace.into(), workspace.into()]);
        let helper = self.config.helper.as_os_str();
        args.extend(["--ro-bind".into(), helper.into(), helper.into()]);
        args.extend(["--chdir".into(), workspace.into(), "--".into()]);
        args
    }
}

impl Sandbox for LocalSandbox {
    fn run(&self, request: &ExecRequest) -> Result<Execution, SandboxError> {
        if request.program.is_empty() {
            return Err(SandboxError::InvalidRequest("empty program".to_owned()));
        }
        crate::secret::validate(&request.secret_files)?;
        let workspace = std::fs::canonicalize(&request.workspace).map_err(|e| {
            SandboxError::InvalidRequest(format!("workspace {}: {e}", request.workspace.display()))
        })?;
        if !workspace.is_dir() {
            return Err(SandboxError::InvalidRequest(
                "workspace is not a folder".to_owned(),
            ));
        }
        if let Some(user) = self.config.run_as
            && !user.may(&workspace, 0o5)
        {
            return Err(SandboxError::InvalidRequest(format!(
                "workspace {} is not reachable by the sandbox user (uid {}): \
                 prepare it with Sandbox::prepare_workspace",
                workspace.display(),
                user.uid
            )));
        }
        let private_tmp = self.degraded_folder()?;
        let command = self.command(
            request,
            &workspace,
            private_tmp.as_ref().map(|t| t.path()),
            false,
        )?;
        let execution = watch(command, request, self.isolation)?;
        if let Some(tmp) = &private_tmp {
            // The helper left the secrets folder read-only; open it again so
            // the folder and its files can be deleted.
            let secrets = tmp.path().join(DEGRADED_SECRETS_DIR);
            if secrets.is_dir() {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        drop(private_tmp);
        if let Termination::Exited { code } = execution.termination
            && code == SETUP_FAILED_EXIT
            && let Some(reason) = execution.stderr.excerpt.strip_prefix(SETUP_FAILED_PREFIX)
        {
            return Err(SandboxError::Setup(reason.trim_end().to_owned()));
        }
        Ok(execution)
    }

    fn isolation(&self) -> Isolation {
        self.isolation
    }

    fn open(&self, spec: &SessionSpec) -> Result<Box<dyn crate::SandboxSession>, SandboxError> {
        session::LocalSession::open(self, spec).map(|s| Box::new(s) as Box<_>)
    }

    /// Gives the workspace tree to the sandbox user when there is one.
    fn prepare_workspace(&self, path: &Path) -> Result<(), SandboxError> {
        let Some(user) = self.config.run_as else {
            return Ok(());
        };
        let path = std::fs::canonicalize(path).map_err(|e| {
            SandboxError::InvalidRequest(format!("workspace {}: {e}", path.display()))
        })?;
        user.own_tree(&path)
    }
}

/// Starts the command in its own process group, captures both streams under
/// the cap, and kills the group when the clock or a cap runs out.
fn watch(
    mut command: Command,
    request: &ExecRequest,
    isolation: Isolation,
) -> Result<Execution, SandboxError> {
    let limits: Limits = request.limits;
    let start = Instant::now();
    let mut child = command.spawn()?;
    let group = Pid::from_raw(child.id() as i32);
    let over_cap = Arc::new(AtomicBool::new(false));
    let kill_on_cap = |flag: Arc<AtomicBool>| {
        move || {
            flag.store(true, Ordering::SeqCst);
            let _ = killpg(group, Signal::SIGKILL);
        }
    };
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| SandboxError::Setup("no stdout".to_owned()))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| SandboxError::Setup("no stderr".to_owned()))?;
    let cap = limits.output_bytes;
    let out_kill = kill_on_cap(over_cap.clone());
    let err_kill = kill_on_cap(over_cap.clone());
    let out = thread::spawn(move || capture(stdout, cap, out_kill));
    let err = thread::spawn(move || capture(stderr, cap, err_kill));
    // The secret values go to the helper on a thread of their own, so a
    // sandbox that never reads them cannot hold up the clock.
    let feeder = child.stdin.take().map(|mut stdin| {
        let frames = crate::secret::frames(&request.secret_files);
        thread::spawn(move || {
            use std::io::Write;
            // A sandbox that failed before reading them closed the pipe: its
            // own failure is what the record shows.
            let _ = stdin.write_all(&frames);
        })
    });
    let (done, exited) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let _ = done.send(());
        status
    });
    let timed_out = exited.recv_timeout(limits.wall_clock()).is_err();
    if timed_out {
        let _ = killpg(group, Signal::SIGKILL);
    }
    let status = waiter
        .join()
        .map_err(|_| SandboxError::Setup("watcher panicked".to_owned()))??;
    let duration_ms = start.elapsed().as_millis() as u64;
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    if isolation == Isolation::LandlockOnly {
        // Without a PID namespace, background processes outlive the command;
        // the group is still reserved while any of them lives.
        let _ = killpg(group, Signal::SIGKILL);
    }
    let stdout = out
        .join()
        .map_err(|_| SandboxError::Setup("reader panicked".to_owned()))?;
    let stderr = err
        .join()
        .map_err(|_| SandboxError::Setup("reader panicked".to_owned()))?;
    let termination = match (status.code(), status.signal()) {
        (Some(code), _) => Termination::Exited { code },
        (None, Some(signal)) => Termination::Signaled { signal },
        (None, None) => Termination::Signaled { signal: 0 },
    };
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
        killed: timed_out || over_cap.load(Ordering::SeqCst),
        bytes_out: stdout.bytes + stderr.bytes,
        stdout,
        stderr,
        session: None,
        egress: Vec::new(),
        secret_files: request
            .secret_files
            .iter()
            .map(|f| f.name.clone())
            .collect(),
    })
}

/// What a command may read under namespaces: every entry of `/` but `/run`
/// (a private tmpfs holding the egress socket, which only the forwarder
/// uses, and the secret files, which the helper adds back for the command
/// they are granted to). So a process an earlier command of a session left
/// running, whose Landlock domain has no rule for `/run`, cannot read a
/// later command's secrets. Entries that do not resolve (a dangling link)
/// are left out: Landlock cannot open them.
fn root_but_run() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/") else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path != Path::new("/run") && std::fs::metadata(path).is_ok())
        .collect()
}

/// Whether bubblewrap can create the namespaces the sandbox uses.
fn probe_bwrap(bwrap: &Path, run_as: Option<SandboxUser>) -> Result<(), String> {
    let mut probe = Command::new(bwrap);
    if let Some(user) = run_as {
        probe.uid(user.uid).gid(user.gid);
    }
    let output = probe
        .args([
            "--unshare-user",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--disable-userns",
            "--ro-bind",
            "/",
            "/",
            "--",
            "true",
        ])
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", bwrap.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!("{} failed: {}", bwrap.display(), stderr.trim()))
    }
}
