//! Why a file was not read, locked or replaced: one variant per failure,
//! holding its data (the path, the io::Error, the owner found); Display
//! words it as one operator-facing line that names the path and, where one
//! helps, what to do (sudo, lsattr, findmnt).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::libc;

use crate::secret::SecretError;
use crate::text::plain_io;

/// A failure to read, lock or replace a file, or a file or directory
/// refused as unsafe to use.
#[derive(Debug)]
pub enum WriteError {
    /// `action` (a verb: "read", "write", "lock") on `path` failed with
    /// `source`. `as_root`: whether we ran as root when it failed (the
    /// sudo hint is given only when not: as root, EPERM means something
    /// else, an immutable file).
    Io {
        action: String,
        path: PathBuf,
        source: std::io::Error,
        as_root: bool,
    },
    /// The extended attribute `name` could not be given (`verb`: "copy",
    /// "remove") to the new version of `path`; nothing was changed.
    Attribute {
        verb: &'static str,
        name: String,
        path: PathBuf,
        source: std::io::Error,
        as_root: bool,
    },
    /// Replacing a file failed after the files `replaced` were replaced.
    PartlyCommitted {
        error: Box<WriteError>,
        replaced: Vec<PathBuf>,
    },
    /// The lock file `lock` of the config `config` stayed held for `timeout`.
    LockTimeout {
        lock: PathBuf,
        config: PathBuf,
        timeout: Duration,
    },
    /// `action` ("use the backup", "replace", "lock in", …) on `path` is
    /// refused: `why`.
    Refused {
        action: String,
        path: PathBuf,
        why: PathRefusal,
    },
    /// `path` is marked immutable or append-only: a rename cannot replace it.
    Immutable { path: PathBuf },
    /// The new version of `target` (made like `like`, when that is another
    /// file) cannot get the original's owner: we are not root.
    ForeignOwner {
        target: PathBuf,
        like: Option<PathBuf>,
        why: super::ForeignOwner,
    },
    /// The symbolic link `link`, owned by `link_owner`, leads to `target`,
    /// owned by `owner`: the kernel's `fs.protected_symlinks` rule refuses
    /// to follow it.
    Symlink {
        link: PathBuf,
        link_owner: u32,
        target: PathBuf,
        owner: u32,
    },
    /// The system's random number generator failed: no new secret.
    Random(SecretError),
}

/// Why a file or directory is refused ([`WriteError::Refused`]).
#[derive(Debug)]
pub enum PathRefusal {
    /// It is not an absolute path; `setting` names the setting that sets
    /// it, if one does (such a directory is refused as untrusted).
    NotAbsolute { setting: Option<&'static str> },
    /// It is a symbolic link.
    Symlink,
    /// It is not a directory.
    NotDirectory,
    /// It is not a regular file.
    NotRegular,
    /// It is larger than a bounded read takes.
    TooLarge,
    /// It exists (and is to be created).
    Exists,
    /// It belongs to `uid`, neither root nor us.
    ForeignUid { uid: u32 },
    /// It belongs to `uid`, not root nor `me` (uid 0: we are root), so
    /// that user decides what it does.
    Untrusted { uid: u32, me: u32 },
    /// Others may write it, as `reasons` say (mode bits, ACL entries).
    Writable { reasons: Vec<String> },
    /// A backup directory writable by group or others (`mode`).
    GroupWritable { mode: u32 },
    /// A private directory whose `mode` is wider than `max`.
    Wider { mode: u32, max: u32 },
    /// The directory `dir` on the way (owned by `uid`, with `mode`) lets
    /// others rename the file away.
    OpenAncestor { dir: PathBuf, uid: u32, mode: u32 },
    /// The lock directory is a symbolic link or not a directory.
    LockDirKind,
    /// The lock directory belongs to `uid` with `mode`, not root with 0700.
    LockDirOwner { uid: u32, mode: u32 },
    /// The lock file's name is not a C string.
    LockName,
}

impl WriteError {
    /// The io::Error kind this failure is of, for callers that branch on it.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            WriteError::Io { source, .. } | WriteError::Attribute { source, .. } => source.kind(),
            WriteError::PartlyCommitted { error, .. } => error.kind(),
            WriteError::LockTimeout { .. } => ErrorKind::TimedOut,
            WriteError::Refused { why, .. } => why.kind(),
            WriteError::Immutable { .. }
            | WriteError::ForeignOwner { .. }
            | WriteError::Symlink { .. } => ErrorKind::PermissionDenied,
            WriteError::Random(_) => ErrorKind::Other,
        }
    }

    /// `action` on `path` refused: `why`.
    pub(crate) fn refused(action: impl Into<String>, path: &Path, why: PathRefusal) -> WriteError {
        WriteError::Refused {
            action: action.into(),
            path: path.to_path_buf(),
            why,
        }
    }
}

impl PathRefusal {
    fn kind(&self) -> ErrorKind {
        match self {
            PathRefusal::NotAbsolute { setting: None } | PathRefusal::NotRegular => {
                ErrorKind::InvalidInput
            }
            PathRefusal::Exists => ErrorKind::AlreadyExists,
            PathRefusal::TooLarge => ErrorKind::InvalidData,
            _ => ErrorKind::PermissionDenied,
        }
    }

    /// Whether it is about the lock directory, which is recreated if removed.
    fn of_lock_dir(&self) -> bool {
        matches!(
            self,
            PathRefusal::LockDirKind | PathRefusal::LockDirOwner { .. } | PathRefusal::LockName
        )
    }
}

impl std::fmt::Display for PathRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathRefusal::NotAbsolute { setting } => {
                f.write_str("it is not an absolute path")?;
                match setting {
                    Some(s) => write!(f, " (set {s} to one in the settings)"),
                    None => Ok(()),
                }
            }
            PathRefusal::Symlink => f.write_str("it is a symbolic link"),
            PathRefusal::NotDirectory => f.write_str("it is not a directory"),
            PathRefusal::NotRegular => f.write_str("it is not a regular file"),
            PathRefusal::TooLarge => f.write_str("it is too large to read"),
            PathRefusal::Exists => f.write_str("it exists"),
            PathRefusal::ForeignUid { uid } => write!(f, "it belongs to uid {uid}"),
            PathRefusal::Untrusted { uid, me } => {
                write!(f, "it belongs to uid {uid}, not root")?;
                if *me != 0 {
                    write!(f, " or you (uid {me})")?;
                }
                f.write_str(", so that user could choose what is done with it (chown root it)")
            }
            PathRefusal::Writable { reasons } => write!(
                f,
                "{}, so others could choose what is done with it (chmod go-w it; setfacl -b removes an ACL)",
                reasons.join(" and ")
            ),
            PathRefusal::GroupWritable { mode } => write!(
                f,
                "it is writable by group or others (mode {mode:04o}; chmod 700 it)"
            ),
            PathRefusal::Wider { mode, max } => write!(
                f,
                "its mode is {mode:04o}, wider than {max:04o} (chmod {max:o} it)"
            ),
            PathRefusal::OpenAncestor { dir, uid, mode } => write!(
                f,
                "the directory {} (uid {uid}, mode {mode:04o}) lets others replace it; keep it in a directory only root can write",
                dir.display()
            ),
            PathRefusal::LockDirKind => f.write_str("it is a symbolic link or not a directory"),
            PathRefusal::LockDirOwner { uid, mode } => write!(
                f,
                "it belongs to uid {uid} with mode {mode:04o}, not root with 0700"
            ),
            PathRefusal::LockName => f.write_str("bad lock name"),
        }
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Io {
                action,
                path,
                source,
                as_root,
            } => write_io(f, action, path, source, *as_root),
            WriteError::Attribute {
                verb,
                name,
                path,
                source,
                as_root,
            } => {
                let action = format!("{verb} the attribute {name} for the new");
                write_io(f, &action, path, source, *as_root)?;
                f.write_str(" (nothing was changed)")
            }
            WriteError::PartlyCommitted { error, replaced } => {
                let list: Vec<String> = replaced.iter().map(|d| d.display().to_string()).collect();
                write!(
                    f,
                    "{error} (already replaced: {}; see restore --list)",
                    list.join(", ")
                )
            }
            WriteError::LockTimeout {
                lock,
                config,
                timeout,
            } => write!(
                f,
                "timed out after {} waiting for the lock on {} for {} (another process holds it, e.g. another fogbow-xmpp-ctl editing that config; lslocks shows which; see lock_timeout_secs)",
                super::lock::human_duration(*timeout),
                lock.display(),
                config.display()
            ),
            WriteError::Refused { action, path, why } => {
                write!(f, "refusing to {action} {}: {why}", path.display())?;
                if why.of_lock_dir() {
                    f.write_str("; remove it (it is recreated 0700 root)")?;
                }
                Ok(())
            }
            WriteError::Immutable { path } => write!(
                f,
                "cannot replace {}: it is marked immutable or append-only (see lsattr; chattr -i -a removes that)",
                path.display()
            ),
            WriteError::ForeignOwner { target, like, why } => {
                write!(f, "permission denied: cannot ")?;
                match like {
                    None => write!(f, "replace {}", target.display())?,
                    Some(l) => write!(f, "create {} like {}", target.display(), l.display())?,
                }
                write!(f, ": {why} (run with sudo?)")
            }
            WriteError::Symlink {
                link,
                link_owner,
                target,
                owner,
            } => write!(
                f,
                "refusing to follow the symbolic link {} (owned by uid {link_owner}): it leads to {}, owned by uid {owner}, and a link planted by another user could redirect the edit to any file (the kernel's fs.protected_symlinks rule); name the real path or have root own the link",
                link.display(),
                target.display()
            ),
            WriteError::Random(e) => std::fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Io { source, .. } | WriteError::Attribute { source, .. } => Some(source),
            WriteError::PartlyCommitted { error, .. } => error.source(),
            WriteError::Random(e) => Some(e),
            _ => None,
        }
    }
}

/// Words an io::Error of `action` on `path`, with a hint where one helps.
fn write_io(
    f: &mut std::fmt::Formatter<'_>,
    action: &str,
    path: &Path,
    e: &std::io::Error,
    as_root: bool,
) -> std::fmt::Result {
    let p = path.display();
    let code = e.raw_os_error().or(match e.kind() {
        ErrorKind::PermissionDenied => Some(libc::EACCES),
        ErrorKind::NotFound => Some(libc::ENOENT),
        _ => None,
    });
    match code {
        Some(libc::EACCES) | Some(libc::EPERM) if !as_root => {
            write!(f, "permission denied: cannot {action} {p} (run with sudo?)")
        }
        Some(libc::EPERM) => write!(
            f,
            "operation not permitted: cannot {action} {p} (is it immutable? see lsattr)"
        ),
        Some(libc::EACCES) => write!(f, "permission denied: cannot {action} {p}"),
        Some(libc::EROFS) => write!(f, "cannot {action} {p}: it is on a read-only file system"),
        // A rename over a mount point: typically a single-file bind mount
        // into a container.
        Some(libc::EBUSY) => write!(
            f,
            "cannot {action} {p}: Device or resource busy: it is a mount point (a bind mount?), which cannot be replaced by renaming over it; edit the file it is mounted from (findmnt {p} shows it)"
        ),
        Some(libc::ENOSPC) => write!(f, "cannot {action} {p}: no space left on device"),
        Some(libc::EDQUOT) => write!(f, "cannot {action} {p}: disk quota exceeded"),
        // "No such file or directory" is kept: it is the phrase operators grep for.
        Some(libc::ENOENT) => write!(
            f,
            "cannot {action} {p}: it does not exist (No such file or directory)"
        ),
        _ => write!(f, "cannot {action} {p}: {}", plain_io(e)),
    }
}

/// A bounded read of `path` ([`crate::secret::read_at_most`]) that read
/// nothing: the failure to read it, or `action` on it refused.
pub(crate) fn unreadable(action: &str, path: &Path, e: crate::secret::Unreadable) -> WriteError {
    use crate::secret::Unreadable;
    match e {
        Unreadable::Io(e) => io_error("read", path, e),
        Unreadable::NotRegular(_) => WriteError::refused(action, path, PathRefusal::NotRegular),
        Unreadable::TooLarge => WriteError::refused(action, path, PathRefusal::TooLarge),
    }
}

/// The failure of `action` (a verb: "read", "write", "lock") on `path`,
/// with whether we are root now (which decides the sudo hint).
pub(crate) fn io_error(action: &str, path: &Path, e: std::io::Error) -> WriteError {
    WriteError::Io {
        action: action.to_string(),
        path: path.to_path_buf(),
        source: e,
        as_root: nix::unistd::geteuid().is_root(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_write::testing::*;

    #[test]
    fn io_errors_name_the_path_and_hint() {
        let p = Path::new("/etc/prosody/prosody.cfg.lua");
        let os = std::io::Error::from_raw_os_error;
        let m = |code| io_error("write", p, os(code)).to_string();
        assert_eq!(
            m(libc::EROFS),
            "cannot write /etc/prosody/prosody.cfg.lua: it is on a read-only file system"
        );
        assert!(m(libc::ENOSPC).ends_with("prosody.cfg.lua: no space left on device"));
        assert!(m(libc::ENOENT).contains("does not exist (No such file or directory)"));
        assert!(
            m(libc::EIO).ends_with(": Input/output error"),
            "{}",
            m(libc::EIO)
        );
        let denied = m(libc::EACCES);
        assert!(denied.starts_with("permission denied") && denied.contains(p.to_str().unwrap()));
        assert_eq!(denied.ends_with("(run with sudo?)"), !is_root(), "{denied}");
        let e = io_error(
            "read",
            p,
            std::io::Error::new(ErrorKind::PermissionDenied, "x"),
        );
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let source = std::error::Error::source(&e).expect("the io::Error is the source");
        assert_eq!(
            source.downcast_ref::<std::io::Error>().map(|e| e.kind()),
            Some(ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn bind_mount_busy_gets_a_hint() {
        let p = Path::new("/etc/prosody/prosody.cfg.lua");
        let m = io_error("replace", p, std::io::Error::from_raw_os_error(libc::EBUSY)).to_string();
        assert!(
            m.starts_with("cannot replace /etc/prosody/prosody.cfg.lua: Device or resource busy")
                && m.contains("mount point")
                && m.contains("edit the file it is mounted from"),
            "{m}"
        );
    }

    #[test]
    fn each_failure_reads_as_one_line() {
        let p = Path::new("/etc/prosody/prosody.cfg.lua");
        let d = Path::new("/var/backups/fxc");
        let refused = |action: &str, path: &Path, why| WriteError::refused(action, path, why);
        let cases = [
            (
                refused("use the backup directory", d, PathRefusal::NotAbsolute { setting: Some("backup_dir") }),
                "refusing to use the backup directory /var/backups/fxc: it is not an absolute path (set backup_dir to one in the settings)",
            ),
            (
                refused("use the credentials directory", d, PathRefusal::NotAbsolute { setting: None }),
                "refusing to use the credentials directory /var/backups/fxc: it is not an absolute path",
            ),
            (
                refused("use the backup directory", d, PathRefusal::GroupWritable { mode: 0o775 }),
                "refusing to use the backup directory /var/backups/fxc: it is writable by group or others (mode 0775; chmod 700 it)",
            ),
            (
                refused("use the backup directory", d, PathRefusal::ForeignUid { uid: 4242 }),
                "refusing to use the backup directory /var/backups/fxc: it belongs to uid 4242",
            ),
            (
                refused("use the settings file", p, PathRefusal::Untrusted { uid: 4242, me: 1000 }),
                "refusing to use the settings file /etc/prosody/prosody.cfg.lua: it belongs to uid 4242, not root or you (uid 1000), so that user could choose what is done with it (chown root it)",
            ),
            (
                refused("use the settings file", p, PathRefusal::Untrusted { uid: 4242, me: 0 }),
                "refusing to use the settings file /etc/prosody/prosody.cfg.lua: it belongs to uid 4242, not root, so that user could choose what is done with it (chown root it)",
            ),
            (
                refused("use the backup", p, PathRefusal::Writable { reasons: vec!["mode 0666 lets every local user write it".into(), "an ACL lets uid 7 write it".into()] }),
                "refusing to use the backup /etc/prosody/prosody.cfg.lua: mode 0666 lets every local user write it and an ACL lets uid 7 write it, so others could choose what is done with it (chmod go-w it; setfacl -b removes an ACL)",
            ),
            (
                refused("use the credentials directory", d, PathRefusal::Wider { mode: 0o755, max: 0o700 }),
                "refusing to use the credentials directory /var/backups/fxc: its mode is 0755, wider than 0700 (chmod 700 it)",
            ),
            (
                refused("use the new file", p, PathRefusal::OpenAncestor { dir: "/etc/prosody".into(), uid: 7, mode: 0o777 }),
                "refusing to use the new file /etc/prosody/prosody.cfg.lua: the directory /etc/prosody (uid 7, mode 0777) lets others replace it; keep it in a directory only root can write",
            ),
            (
                refused("lock in", d, PathRefusal::LockDirKind),
                "refusing to lock in /var/backups/fxc: it is a symbolic link or not a directory; remove it (it is recreated 0700 root)",
            ),
            (
                refused("lock in", d, PathRefusal::LockDirOwner { uid: 7, mode: 0o755 }),
                "refusing to lock in /var/backups/fxc: it belongs to uid 7 with mode 0755, not root with 0700; remove it (it is recreated 0700 root)",
            ),
            (
                refused("create", p, PathRefusal::Exists),
                "refusing to create /etc/prosody/prosody.cfg.lua: it exists",
            ),
            (
                refused("remove", p, PathRefusal::NotRegular),
                "refusing to remove /etc/prosody/prosody.cfg.lua: it is not a regular file",
            ),
            (
                WriteError::Immutable { path: p.into() },
                "cannot replace /etc/prosody/prosody.cfg.lua: it is marked immutable or append-only (see lsattr; chattr -i -a removes that)",
            ),
            (
                WriteError::ForeignOwner { target: p.into(), like: None, why: crate::safe_write::ForeignOwner { uid: 7 } },
                "permission denied: cannot replace /etc/prosody/prosody.cfg.lua: it belongs to uid 7 and only root can give the new file that owner (run with sudo?)",
            ),
            (
                WriteError::ForeignOwner { target: "/etc/prosody/conf.d/a.cfg.lua".into(), like: Some(p.into()), why: crate::safe_write::ForeignOwner { uid: 7 } },
                "permission denied: cannot create /etc/prosody/conf.d/a.cfg.lua like /etc/prosody/prosody.cfg.lua: it belongs to uid 7 and only root can give the new file that owner (run with sudo?)",
            ),
            (
                WriteError::LockTimeout { lock: "/run/fxc/x.lock".into(), config: p.into(), timeout: Duration::from_secs(30) },
                "timed out after 30 s waiting for the lock on /run/fxc/x.lock for /etc/prosody/prosody.cfg.lua (another process holds it, e.g. another fogbow-xmpp-ctl editing that config; lslocks shows which; see lock_timeout_secs)",
            ),
            (
                WriteError::Symlink { link: "/etc/prosody/l".into(), link_owner: 7, target: p.into(), owner: 0 },
                "refusing to follow the symbolic link /etc/prosody/l (owned by uid 7): it leads to /etc/prosody/prosody.cfg.lua, owned by uid 0, and a link planted by another user could redirect the edit to any file (the kernel's fs.protected_symlinks rule); name the real path or have root own the link",
            ),
            (
                WriteError::PartlyCommitted { error: Box::new(io_error("replace", p, std::io::Error::from_raw_os_error(libc::ENOSPC))), replaced: vec!["/a".into(), "/b".into()] },
                "cannot replace /etc/prosody/prosody.cfg.lua: no space left on device (already replaced: /a, /b; see restore --list)",
            ),
            (
                WriteError::Attribute { verb: "copy", name: "user.x".into(), path: p.into(), source: std::io::Error::from_raw_os_error(libc::ENOSPC), as_root: true },
                "cannot copy the attribute user.x for the new /etc/prosody/prosody.cfg.lua: no space left on device (nothing was changed)",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
