//! The unprivileged user a root server runs its sandboxes as.
//!
//! The kernel does not hold root to `RLIMIT_NPROC`, and a sandbox started by
//! root keeps root's identity on the host's files: so a root server starts
//! bubblewrap (or, degraded, the helper) as another user, and what that user
//! must reach (the binaries, the workspace, the hidden paths) is checked with
//! its permissions rather than root's.

use std::ffi::{CStr, OsStr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag, fstat, fstatat};
use nix::unistd::{Gid, Uid, fchownat};

use crate::SandboxError;

/// The host user and group a sandbox runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SandboxUser {
    /// The user id.
    pub uid: u32,
    /// The group id (the only group: supplementary groups are dropped).
    pub gid: u32,
}

impl SandboxUser {
    /// `nobody`/`nogroup`, which owns nothing on a usual host.
    pub const NOBODY: SandboxUser = SandboxUser {
        uid: 65534,
        gid: 65534,
    };

    /// The default for this process: `nobody` when it runs as root, so the
    /// kernel's per-user limits hold; nobody else to switch to otherwise.
    pub fn for_this_process() -> Option<SandboxUser> {
        nix::unistd::geteuid()
            .is_root()
            .then_some(SandboxUser::NOBODY)
    }

    /// The permission bits (`rwx`, 0 to 7) `self` gets on a file.
    fn bits(self, meta: &std::fs::Metadata) -> u32 {
        let mode = meta.mode();
        if meta.uid() == self.uid {
            (mode >> 6) & 0o7
        } else if meta.gid() == self.gid {
            (mode >> 3) & 0o7
        } else {
            mode & 0o7
        }
    }

    /// Whether `self` may enter every folder above `path` and has `want`
    /// (`rwx` bits) on `path` itself. Mode bits only: an ACL that grants
    /// more makes this answer no, never yes.
    pub(crate) fn may(self, path: &Path, want: u32) -> bool {
        let has =
            |p: &Path, bits: u32| std::fs::metadata(p).is_ok_and(|m| self.bits(&m) & bits == bits);
        path.ancestors().skip(1).all(|dir| has(dir, 0o1)) && has(path, want)
    }

    /// Refuses a binary `self` cannot execute, naming it.
    pub(crate) fn check_executable(self, what: &str, path: &Path) -> Result<(), SandboxError> {
        if self.may(path, 0o5) {
            Ok(())
        } else {
            Err(SandboxError::Setup(format!(
                "{what} {} is not executable by the sandbox user (uid {}, gid {}): \
                 install it where that user can read and execute it",
                path.display(),
                self.uid,
                self.gid
            )))
        }
    }

    /// Gives the folder tree at `root` to `self`, without following any
    /// symbolic link (a link planted in the workspace cannot hand a host file
    /// to the sandbox user) and leaving files with more than one link alone.
    pub(crate) fn own_tree(self, root: &Path) -> Result<(), SandboxError> {
        let fail = |path: &Path, e: nix::Error| {
            SandboxError::InvalidRequest(format!("workspace {}: {e}", path.display()))
        };
        let dir = Dir::open(root, directory_flags(), Mode::empty()).map_err(|e| fail(root, e))?;
        self.own_dir(dir, root.to_owned())
            .map_err(|(path, e)| fail(&path, e))
    }

    /// Gives `dir` and everything under it to `self`.
    fn own_dir(self, mut dir: Dir, path: PathBuf) -> Result<(), (PathBuf, nix::Error)> {
        let (uid, gid) = (Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid)));
        nix::unistd::fchown(dir.as_fd(), uid, gid).map_err(|e| (path.clone(), e))?;
        let names: Vec<std::ffi::CString> = dir
            .iter()
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_owned())
            .filter(|name| !is_dot(name))
            .collect();
        for name in names {
            let child = path.join(OsStr::from_bytes(name.to_bytes()));
            let stat = fstatat(dir.as_fd(), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| (child.clone(), e))?;
            let format = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
            if format == SFlag::S_IFDIR {
                let sub = Dir::openat(
                    dir.as_fd(),
                    name.as_c_str(),
                    directory_flags(),
                    Mode::empty(),
                )
                .map_err(|e| (child.clone(), e))?;
                // The folder opened is the one examined, not a replacement.
                let opened = fstat(&sub).map_err(|e| (child.clone(), e))?;
                if opened.st_ino == stat.st_ino && opened.st_dev == stat.st_dev {
                    self.own_dir(sub, child)?;
                }
            } else if format == SFlag::S_IFLNK || stat.st_nlink <= 1 {
                fchownat(
                    dir.as_fd(),
                    name.as_c_str(),
                    uid,
                    gid,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| (child, e))?;
            }
        }
        Ok(())
    }
}

/// Folders only, never through a symbolic link.
fn directory_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

fn is_dot(name: &CStr) -> bool {
    matches!(name.to_bytes(), b"." | b"..")
}

/// Where `Command` would find `program` on `path_var` (a `PATH` value), if
/// anywhere: the path itself when it has a slash.
pub(crate) fn find_program(program: &Path, path_var: &str) -> Option<PathBuf> {
    if program.as_os_str().as_bytes().contains(&b'/') {
        return std::fs::canonicalize(program).ok();
    }
    path_var
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
        .and_then(|found| std::fs::canonicalize(found).ok())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn permissions_are_read_for_the_users_class() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        std::fs::write(&file, "").unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        let owner = SandboxUser {
            uid: meta.uid(),
            gid: meta.gid(),
        };
        let stranger = SandboxUser {
            uid: meta.uid() + 1000,
            gid: meta.gid() + 1000,
        };
        chmod(dir.path(), 0o711);
        chmod(&file, 0o750);
        assert!(owner.may(&file, 0o5));
        assert!(!stranger.may(&file, 0o5));
        chmod(&file, 0o755);
        assert!(stranger.may(&file, 0o5));
        chmod(dir.path(), 0o700);
        assert!(!stranger.may(&file, 0o5));
        assert!(
            stranger
                .check_executable("helper", &file)
                .unwrap_err()
                .to_string()
                .contains("not executable by the sandbox user")
        );
        assert!(owner.check_executable("helper", &file).is_ok());
    }

    #[test]
    fn a_program_is_found_on_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "").unwrap();
        let path_var = format!("/nonexistent:{}", dir.path().display());
        let found = find_program(Path::new("tool"), &path_var).unwrap();
        assert_eq!(found, std::fs::canonicalize(&tool).unwrap());
        assert_eq!(find_program(Path::new("tool"), "/nonexistent"), None);
        assert_eq!(find_program(&tool, "").unwrap(), found);
    }

    #[test]
    fn the_tree_is_given_away_without_following_links() {
        if !nix::unistd::geteuid().is_root() {
            // Only root may give files away.
            return;
        }
        let outside = tempfile::tempdir().unwrap();
        let host_file = outside.path().join("host");
        std::fs::write(&host_file, "").unwrap();
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("a/b")).unwrap();
        std::fs::write(ws.path().join("a/b/file"), "").unwrap();
        std::os::unix::fs::symlink(&host_file, ws.path().join("a/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("dirlink")).unwrap();
        let user = SandboxUser::NOBODY;
        user.own_tree(ws.path()).unwrap();
        for owned in ["", "a", "a/b", "a/b/file"] {
            let meta = std::fs::symlink_metadata(ws.path().join(owned)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "{owned}");
        }
        assert_eq!(std::fs::metadata(&host_file).unwrap().uid(), 0);
        assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), 0);
    }
}
