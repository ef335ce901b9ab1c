//! One operator-facing line per failure, naming the path and, where one
//! helps, what to do (sudo, lsattr, findmnt).

use std::io::ErrorKind;
use std::path::Path;

use nix::libc;

use crate::text::plain_io;

/// A failure, as one operator-facing line that names the path (and, where
/// one helps, a hint), plus the kind for callers that branch on it.
#[derive(Debug)]
pub struct WriteError {
    pub(crate) message: String,
    pub(crate) kind: ErrorKind,
    /// The failure the message words (the io::Error, the RNG's error),
    /// when there is one: [`std::error::Error::source`] returns it.
    pub(crate) cause: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl WriteError {
    pub(crate) fn new(kind: ErrorKind, message: String) -> WriteError {
        WriteError {
            message,
            kind,
            cause: None,
        }
    }

    /// The same failure, with what caused it kept as its source.
    pub(crate) fn caused_by(
        mut self,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> WriteError {
        self.cause = Some(Box::new(cause));
        self
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let cause: &(dyn std::error::Error + 'static) = self.cause.as_deref()?;
        Some(cause)
    }
}

/// Maps an io::Error of `action` (a verb: "read", "write", "lock") on `path`
/// to a message an operator can act on. The sudo hint is given only when we
/// are not root: as root, EPERM means something else (an immutable file).
pub(crate) fn io_error(action: &str, path: &Path, e: std::io::Error) -> WriteError {
    let p = path.display();
    let code = e.raw_os_error().or(match e.kind() {
        ErrorKind::PermissionDenied => Some(libc::EACCES),
        ErrorKind::NotFound => Some(libc::ENOENT),
        _ => None,
    });
    let root = nix::unistd::geteuid().is_root();
    let message = match code {
        Some(libc::EACCES) | Some(libc::EPERM) if !root => {
            format!("permission denied: cannot {action} {p} (run with sudo?)")
        }
        Some(libc::EPERM) => {
            format!("operation not permitted: cannot {action} {p} (is it immutable? see lsattr)")
        }
        Some(libc::EACCES) => format!("permission denied: cannot {action} {p}"),
        Some(libc::EROFS) => format!("cannot {action} {p}: it is on a read-only file system"),
        // A rename over a mount point: typically a single-file bind mount
        // into a container.
        Some(libc::EBUSY) => format!(
            "cannot {action} {p}: Device or resource busy: it is a mount point (a bind mount?), which cannot be replaced by renaming over it; edit the file it is mounted from (findmnt {p} shows it)"
        ),
        Some(libc::ENOSPC) => format!("cannot {action} {p}: no space left on device"),
        Some(libc::EDQUOT) => format!("cannot {action} {p}: disk quota exceeded"),
        // "No such file or directory" is kept: it is the phrase operators grep for.
        Some(libc::ENOENT) => {
            format!("cannot {action} {p}: it does not exist (No such file or directory)")
        }
        _ => format!("cannot {action} {p}: {}", plain_io(&e)),
    };
    WriteError::new(e.kind(), message).caused_by(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_write::testing::*;

    #[test]
    fn io_errors_name_the_path_and_hint() {
        let p = Path::new("/etc/prosody/prosody.cfg.lua");
        let os = std::io::Error::from_raw_os_error;
        let m = |code| io_error("write", p, os(code)).message;
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
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert_eq!(e.to_string(), e.message);
        let source = std::error::Error::source(&e).expect("the io::Error is the source");
        assert_eq!(
            source.downcast_ref::<std::io::Error>().map(|e| e.kind()),
            Some(ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn bind_mount_busy_gets_a_hint() {
        let p = Path::new("/etc/prosody/prosody.cfg.lua");
        let m = io_error("replace", p, std::io::Error::from_raw_os_error(libc::EBUSY)).message;
        assert!(
            m.starts_with("cannot replace /etc/prosody/prosody.cfg.lua: Device or resource busy")
                && m.contains("mount point")
                && m.contains("edit the file it is mounted from"),
            "{m}"
        );
    }
}
