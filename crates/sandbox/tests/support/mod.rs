//! Re-running a test binary's tests as an unprivileged user.

use std::path::Path;

/// As root, runs `tests` of this test binary again as `nobody` with no
/// capabilities (through `setpriv`) and asserts they all pass: the sandbox
/// and its egress need no privileges. Returns without running anything when
/// already unprivileged (every test ran as this user) or when `nobody`
/// cannot reach the binaries (a checkout only root may enter), which it says.
pub(crate) fn rerun_as_nobody(tests: &[&str], helper: &str) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    if !reachable_by_others(&exe) || !reachable_by_others(Path::new(helper)) {
        eprintln!(
            "skipped: {} or {helper} is not reachable by other users",
            exe.display()
        );
        return;
    }
    let output = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ])
        .arg(&exe)
        .args(["--exact", "--test-threads=2"])
        .args(tests)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("setpriv runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = format!("{} passed; 0 failed", tests.len());
    assert!(stdout.contains(&summary), "{stdout}");
}

/// Whether a user other than the owner may execute `file`.
fn reachable_by_others(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0)
    };
    mode(file) & 0o001 != 0 && file.ancestors().skip(1).all(|dir| mode(dir) & 0o001 != 0)
}
