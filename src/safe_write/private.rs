//! Files of our own outside prosody's config: the encrypted
//! credentials (`root 0600` in a `root 0700` directory) and our drop-in
//! for prosody.service (`0644`: it names files, it holds no secret). They
//! are prepared and committed with the config's files as one edit
//! ([`super::commit_all`]), so a failure before the first rename changes
//! none of them.
//!
//! Unlike [`super::prepare`], the new version never inherits the old one's
//! owner, mode or ACL: a `.cred` file someone widened is put back to ours.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::{
    attrs, check_ancestors, check_trusted, io_error, open_dir, temp, Kind, PathRefusal, Prepared,
    WriteError,
};

/// Creates `dir` with exactly `mode` if it is missing (its parents as
/// `create_dir_all` makes them), then refuses it unless it is a real
/// directory of root's (or ours), no wider than `mode`, in directories only
/// root can write: a credentials directory others can list or write would
/// give away which secrets exist, or let them be swapped.
pub(crate) fn ensure_private_dir(dir: &Path, mode: u32, what: &str) -> Result<(), WriteError> {
    if !dir.is_absolute() {
        return Err(WriteError::refused(
            format!("use {what}"),
            dir,
            PathRefusal::NotAbsolute { setting: None },
        ));
    }
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
            }
            match std::fs::DirBuilder::new().mode(mode).create(dir) {
                Ok(()) => {
                    // mkdir's mode passes through the umask: set it exactly,
                    // through a descriptor (never a symlink swapped in).
                    let d = open_dir(dir).map_err(|e| io_error("create", dir, e))?;
                    d.set_permissions(std::fs::Permissions::from_mode(mode))
                        .map_err(|e| io_error("set the mode of", dir, e))?;
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("create", dir, e)),
            }
        }
        Err(e) => return Err(io_error("use", dir, e)),
    }
    check_private_dir(dir, mode, what)
}

/// The checks of [`ensure_private_dir`] on an existing directory.
pub(crate) fn check_private_dir(dir: &Path, mode: u32, what: &str) -> Result<(), WriteError> {
    let refuse = |why: PathRefusal| WriteError::refused(format!("use {what}"), dir, why);
    let m = std::fs::symlink_metadata(dir).map_err(|e| io_error("use", dir, e))?;
    if m.file_type().is_symlink() {
        return Err(refuse(PathRefusal::Symlink));
    }
    if !m.is_dir() {
        return Err(refuse(PathRefusal::NotDirectory));
    }
    let extra = m.mode() & 0o777 & !mode;
    if extra != 0 {
        return Err(refuse(PathRefusal::Wider {
            mode: m.mode() & 0o7777,
            max: mode,
        }));
    }
    let d = open_dir(dir).map_err(|e| io_error("use", dir, e))?;
    check_trusted(what, dir, &d)?;
    let real = std::fs::canonicalize(dir).map_err(|e| io_error("use", dir, e))?;
    check_ancestors(what, &real.join("x"))
}

/// Prepares `contents` as the new version of `target` (created if missing,
/// replaced if present), owned by us (root) with exactly `mode` and no
/// extended attributes (no ACL a directory default could add), fsynced.
/// Its directory must already pass [`check_private_dir`].
pub(crate) fn prepare_private(
    target: &Path,
    contents: &[u8],
    mode: u32,
) -> Result<Prepared, WriteError> {
    let kind = match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == ErrorKind::NotFound => Kind::Create,
        Ok(m) if m.file_type().is_file() => Kind::Replace,
        Ok(_) => {
            return Err(WriteError::refused(
                "replace",
                target,
                PathRefusal::NotRegular,
            ))
        }
        Err(e) => return Err(io_error("read", target, e)),
    };
    let dir = super::parent_dir(target);
    let (temp, mut tmp) =
        temp::create(target).map_err(|e| io_error("create a temp file in", dir, e))?;
    let prepared = Prepared {
        target: target.to_path_buf(),
        temp,
        kind,
        pending: true,
    };
    // Created 0600: nothing but us can open it before the chmod.
    attrs::remove_all_but(&tmp, &Vec::new(), target)?;
    tmp.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_error("set the mode of the new", target, e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.sync_all())
        .map_err(|e| io_error("write", target, e))?;
    Ok(prepared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_write::commit_all;
    use crate::safe_write::testing::*;

    /// Whether `path` is a regular file owned by root (or us) with no access
    /// for group or others: what a `.cred` file must be.
    fn is_private_file(path: &Path) -> bool {
        let me = nix::unistd::geteuid().as_raw();
        std::fs::symlink_metadata(path).is_ok_and(|m| {
            m.file_type().is_file() && (m.uid() == 0 || m.uid() == me) && m.mode() & 0o077 == 0
        })
    }

    #[test]
    fn private_files_and_dirs() {
        let s = scratch();
        let dir = s.path().join("a/creds");
        ensure_private_dir(&dir, 0o700, "the credentials directory").unwrap();
        assert_eq!(mode(&dir), 0o700);
        let t = dir.join("x.cred");
        let p = prepare_private(&t, b"one", 0o600).unwrap();
        commit_all(vec![p], None).unwrap();
        assert_eq!(mode(&t), 0o600);
        assert_eq!(std::fs::read(&t).unwrap(), b"one");
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!is_private_file(&t));
        let p = prepare_private(&t, b"two", 0o600).unwrap();
        commit_all(vec![p], None).unwrap();
        assert_eq!(
            (mode(&t), std::fs::read(&t).unwrap()),
            (0o600, b"two".to_vec())
        );
        assert!(is_private_file(&t));
        // Dropped uncommitted: nothing left behind.
        drop(prepare_private(&dir.join("y.cred"), b"y", 0o600).unwrap());
        assert_eq!(entries(&dir), vec!["x.cred"]);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = ensure_private_dir(&dir, 0o700, "the credentials directory").unwrap_err();
        assert!(e.to_string().contains("wider than 0700"), "{e}");
    }
}
