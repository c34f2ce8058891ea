//! The helper's side: inside the namespaces, set the rlimits, restrict the
//! process with Landlock and the seccomp filter, then execute the command.
//! Each layer is applied before the next so that a failure leaves the command
//! unrun.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use nix::sys::resource::{Resource, setrlimit};

use crate::invocation::{Invocation, Mode};
use crate::spec::{ConfineSpec, SETUP_FAILED_EXIT, SETUP_FAILED_PREFIX};

/// The helper's `main`: reads the spec from the last argument and never
/// returns (it becomes the command, or exits with [`SETUP_FAILED_EXIT`]).
/// Given `--serve` instead, it is a session's server (`serve.rs`).
pub fn helper_main() -> ! {
    let invocation = Invocation::current();
    if let Some(Mode::Serve { egress }) = &invocation.mode {
        crate::serve::serve_main(&invocation, egress.as_deref())
    }
    let error = match run(&invocation) {
        Ok(never) => match never {},
        Err(error) => error,
    };
    eprintln!("{SETUP_FAILED_PREFIX}{error}");
    std::process::exit(SETUP_FAILED_EXIT)
}

enum Never {}

/// Closes every descriptor above the standard three that the helper was
/// handed without close-on-exec (a pipe or file the server's own parent
/// leaked to it), so that the command starts with nothing it was not meant
/// to have. Listed first, then closed: the listing's own descriptor is gone
/// by then, and closing its stale number fails harmlessly.
fn close_inherited() -> Result<(), String> {
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("cannot list open descriptors: {e}"))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in open {
        let _ = nix::unistd::close(fd);
    }
    Ok(())
}

fn run(invocation: &Invocation) -> Result<Never, String> {
    close_inherited()?;
    let raw = match &invocation.mode {
        Some(Mode::Forward { socket }) => match crate::forward::run(socket)? {},
        Some(Mode::Confine { spec }) => spec
            .to_str()
            .ok_or_else(|| "the confinement spec is not UTF-8".to_owned())?,
        Some(Mode::Serve { .. }) | None => return Err("no confinement spec".to_owned()),
    };
    let mut spec: ConfineSpec =
        serde_json::from_str(raw).map_err(|e| format!("bad confinement spec: {e}"))?;
    let mut command = Command::new(&spec.program);
    if let Some(dir) = spec.secrets_dir.clone() {
        crate::secret::write_files(&dir, &spec.secret_files, std::io::stdin().lock())?;
        // This command may read its own secrets folder (under namespaces
        // `/run` is otherwise out of its reach).
        spec.read.push(dir.clone());
        // Standard input carried the values; the command gets none.
        command.stdin(Stdio::null()).env("SECRETS_DIR", dir);
    }
    let proxy_env = crate::forward::start(invocation, &spec)?;
    set_limits(&spec)?;
    landlock(&spec)?;
    for filter in crate::seccomp::filters().map_err(|e| format!("seccomp filter: {e}"))? {
        seccompiler::apply_filter(&filter).map_err(|e| format!("seccomp: {e}"))?;
    }
    let error = command.args(&spec.args).envs(proxy_env).exec();
    Err(format!("cannot execute {}: {error}", spec.program))
}

fn set_limits(spec: &ConfineSpec) -> Result<(), String> {
    let l = &spec.limits;
    for (resource, value) in [
        (Resource::RLIMIT_CPU, l.cpu_seconds),
        (Resource::RLIMIT_AS, l.address_space_bytes),
        (Resource::RLIMIT_NPROC, l.processes),
        (Resource::RLIMIT_FSIZE, l.file_size_bytes),
        (Resource::RLIMIT_NOFILE, l.open_files),
        (Resource::RLIMIT_CORE, 0),
    ] {
        setrlimit(resource, value, value).map_err(|e| format!("setrlimit {resource:?}: {e}"))?;
    }
    Ok(())
}

/// The Landlock layer. Filesystem rules are required (the command does not
/// run without them); signal and abstract-socket scoping are best effort.
pub(crate) fn landlock(spec: &ConfineSpec) -> Result<(), String> {
    let abi = ABI::V6;
    let fail = |e: landlock::RulesetError| format!("landlock: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?
        .scope(Scope::from_all(abi))
        .map_err(fail)?;
    if spec.deny_tcp {
        ruleset = ruleset
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessNet::from_all(ABI::V4))
            .map_err(fail)?;
    }
    let read = AccessFs::from_read(abi);
    let device = read | AccessFs::WriteFile | AccessFs::Truncate;
    let status = ruleset
        .create()
        .map_err(fail)?
        .add_rules(path_beneath_rules(&spec.read, read))
        .map_err(fail)?
        .add_rules(path_beneath_rules(&spec.list, AccessFs::ReadDir))
        .map_err(fail)?
        .add_rules(path_beneath_rules(&spec.write, AccessFs::from_all(abi)))
        .map_err(fail)?
        .add_rules(path_beneath_rules(&spec.devices, device))
        .map_err(fail)?
        .restrict_self()
        .map_err(fail)?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err("landlock: not enforced by this kernel".to_owned());
    }
    Ok(())
}
