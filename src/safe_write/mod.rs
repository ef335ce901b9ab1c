//! The edit pipeline's last step: replacing config files safely, by
//! role: `lock` (one edit of a config set at a time), `temp` (the new
//! version's hidden name next to the target), `attrs` (its extended
//! attributes and ACL), `backup` (names, listing, pruning and trust of
//! previous versions), `trust` (whose files and symlinks we follow), and
//! `error` (one operator-facing line per failure). This file is the
//! two-phase API itself: `prepare` (a new version of a file),
//! `prepare_new` (a file that does not exist yet) or `prepare_removal`
//! (a file to remove), then `commit_all`.
//!
//! The file holds secrets (Debian ships it `root:prosody 0640`), prosody may
//! read it at any moment, and we may be killed at any moment: so the new
//! bytes go to a temp file in the same directory that has the right owner
//! and mode *before* its first byte, and a rename swaps it in atomically. A
//! reader sees the old file or the new one, never a mix, and never a file
//! that is briefly readable by the wrong people.
//!
//! Two phases, because an edit may change several files (a host defined in
//! the main file and in an Include) and because prosody's own loader judges
//! the prepared temp files before anything is renamed: every file is
//! complete on disk before the first rename, so a failure until then
//! changes nothing.

mod attrs;
mod backup;
mod error;
mod lock;
mod private;
mod temp;
mod trust;

pub(crate) use backup::Backups;
pub(crate) use backup::{
    backups_and_records_of, content_hash, list_backups, list_records, markers, put_marker,
    read_backup, remove_marker, rewrite_backup, time_of, write_old_secret, write_record,
    EditRecord, FileRecord,
};
pub(crate) use error::{io_error, unreadable, PathRefusal, WriteError};
pub use lock::Lock;
// The settings' tests compare the lock directory with the packaged list of files.
#[cfg(test)]
pub(crate) use lock::LOCK_DIR;
pub(crate) use private::{ensure_private_dir, prepare_private};
pub(crate) use temp::remove_stale_temp_files;
pub(crate) use trust::resolve;
pub(crate) use trust::{check_ancestors, check_trusted, open_trusted, readable_by_others};

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::libc;
use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};

/// The SHA-1 of `bytes` in hex: a fixed-length name for a path.
pub(super) fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    crate::text::hex::encode(&Sha1::digest(bytes))
}

/// Replaces `target` (a real file, symlinks already resolved by the caller)
/// with `contents`; returns the backup written, if any. [`prepare`] then
/// [`Prepared::commit`].
#[cfg(test)]
pub(crate) fn replace(
    target: &Path,
    contents: &[u8],
    backups: Option<&Backups>,
) -> Result<Option<PathBuf>, WriteError> {
    prepare(target, contents)?.commit(backups)
}

/// A new version of a file, complete on disk in a temp file next to it
/// (owner, mode, ACL and extended attributes of the original; bytes
/// fsynced), not yet renamed over it. Dropped uncommitted, the temp file is
/// removed: an edit of several files prepares them all first, so a failure
/// before the first rename changes nothing.
#[derive(Debug)]
pub(crate) struct Prepared {
    target: PathBuf,
    /// For [`Kind::Remove`], the target itself (nothing is written).
    temp: PathBuf,
    kind: Kind,
    /// False once renamed (or removed): then drop leaves the path alone.
    pending: bool,
}

/// What committing a [`Prepared`] does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Renamed over the existing file (which is backed up first).
    Replace,
    /// Renamed into place only if nothing is there ([`prepare_new`]).
    Create,
    /// The file is backed up, then unlinked ([`prepare_removal`]).
    Remove,
}

impl Prepared {
    /// The file this will replace.
    pub(crate) fn target(&self) -> &Path {
        &self.target
    }

    /// The complete new version, at a hidden name next to the target (so a
    /// loader that resolves relative paths sees the target's directory).
    pub(crate) fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Backs up the current version, renames the new one over it, syncs
    /// the directory and prunes old backups.
    #[cfg(test)]
    pub(crate) fn commit(self, backups: Option<&Backups>) -> Result<Option<PathBuf>, WriteError> {
        Ok(commit_all(vec![self], backups)?.pop().flatten())
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if self.pending && self.kind != Kind::Remove {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Commits prepared files: first every backup (so a full disk or a bad
/// backup directory fails before anything is renamed), then the renames in
/// order. Returns each file's backup. On an error before the first rename
/// nothing changed; a rename that fails after an earlier one succeeded
/// leaves the earlier file(s) edited, which the error says.
///
/// Order per file: the temp is on disk before its backup is written, and
/// pruning comes after the rename, so a failed edit neither leaves a backup
/// of a change that never happened nor prunes away an older backup.
pub(crate) fn commit_all(
    mut prepared: Vec<Prepared>,
    backups: Option<&Backups>,
) -> Result<Vec<Option<PathBuf>>, WriteError> {
    let backups = backups.filter(|b| b.keep > 0);
    let mut written: Vec<Option<PathBuf>> = Vec::with_capacity(prepared.len());
    let remove_backups = |w: &[Option<PathBuf>]| {
        for b in w.iter().flatten() {
            let _ = std::fs::remove_file(b);
        }
    };
    if let Some(b) = backups {
        for p in &prepared {
            if p.kind == Kind::Create {
                written.push(None);
                continue;
            }
            match backup::write(&p.target, b) {
                Ok(path) => written.push(Some(path)),
                Err(e) => {
                    remove_backups(&written);
                    return Err(e);
                }
            }
        }
    } else {
        written.resize(prepared.len(), None);
    }
    let mut done: Vec<PathBuf> = Vec::new();
    for (i, p) in prepared.iter_mut().enumerate() {
        let done_ok = match p.kind {
            Kind::Replace => std::fs::rename(&p.temp, &p.target),
            // Never over a file that appeared meanwhile (ours or planted).
            Kind::Create => match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &p.temp,
                rustix::fs::CWD,
                &p.target,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                // A file system without RENAME_NOREPLACE: link(2) never
                // replaces either; then the temp name goes.
                Err(rustix::io::Errno::INVAL) => std::fs::hard_link(&p.temp, &p.target).map(|()| {
                    let _ = std::fs::remove_file(&p.temp);
                }),
                r => r.map_err(std::io::Error::from),
            },
            Kind::Remove => std::fs::remove_file(&p.target),
        };
        if let Err(e) = done_ok {
            let e = io_error("replace", &p.target, e);
            // Backups of files not replaced would be backups of nothing.
            remove_backups(&written[i..]);
            if done.is_empty() {
                return Err(e);
            }
            return Err(WriteError::PartlyCommitted {
                error: Box::new(e),
                replaced: done,
            });
        }
        p.pending = false;
        // The rename is durable only once the directory is on disk too. The
        // file is in place by now, so a failure here (e.g. EINVAL on a file
        // system without directory fsync) is not a failed edit.
        sync_dir(parent_dir(&p.target));
        done.push(p.target.clone());
    }
    if let Some(b) = backups {
        for p in prepared.iter().filter(|p| p.kind == Kind::Replace) {
            // Best effort: a failed prune must not turn a done edit into an error.
            let _ = backup::prune(b, &p.target);
        }
    }
    Ok(written)
}

/// Writes `contents` to a new temp file next to `target` that has the
/// target's owner, mode, ACL and extended attributes (and not the
/// directory's default ACL), fsynced; renames nothing.
pub(crate) fn prepare(target: &Path, contents: &[u8]) -> Result<Prepared, WriteError> {
    let not_regular = || WriteError::refused("replace", target, PathRefusal::NotRegular);
    let meta = std::fs::symlink_metadata(target).map_err(|e| io_error("read", target, e))?;
    if !meta.file_type().is_file() {
        return Err(not_regular());
    }
    // The original's attributes are read through one descriptor, so they
    // are those of the file we judged (O_NONBLOCK: a FIFO swapped in never
    // blocks us; O_NOFOLLOW: nor does a symlink).
    let original = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(target)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => not_regular(),
            _ => io_error("read", target, e),
        })?;
    let meta = original
        .metadata()
        .map_err(|e| io_error("read", target, e))?;
    if !meta.file_type().is_file() {
        return Err(not_regular());
    }
    refuse_unreplaceable(&original, target)?;
    // Decided before anything is created: a non-root run that could not keep
    // the owner fails here without litter.
    let chown = owner_of(&meta, target, None)?;
    let dir = parent_dir(target);
    let (temp, mut tmp) =
        temp::create(target).map_err(|e| io_error("create a temp file in", dir, e))?;
    let prepared = Prepared {
        target: target.to_path_buf(),
        temp,
        kind: Kind::Replace,
        pending: true,
    };
    prepare_temp(&mut tmp, &original, target, meta.mode(), chown, contents)?;
    Ok(prepared)
}

/// Prepares a file that does not exist yet (a component in its own
/// `conf.d` file): a temp file next to it with the owner and group of
/// `like` (the main config) and its mode limited to `0640` and to what
/// `like` allows, so it is never more readable than the main config.
/// [`commit_all`] renames it into place only if nothing is there by then.
/// Its directory must be one only root (or we) can write.
pub(crate) fn prepare_new(
    target: &Path,
    like: &Path,
    contents: &[u8],
) -> Result<Prepared, WriteError> {
    match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Ok(_) => return Err(WriteError::refused("create", target, PathRefusal::Exists)),
        Err(e) => return Err(io_error("create", target, e)),
    }
    let dir = parent_dir(target);
    let real_dir = std::fs::canonicalize(dir).map_err(|e| io_error("create a file in", dir, e))?;
    let d = open_dir(&real_dir).map_err(|e| io_error("create a file in", dir, e))?;
    check_trusted("the directory", &real_dir, &d)?;
    check_ancestors(
        "the new file",
        &real_dir.join(target.file_name().unwrap_or_default()),
    )?;
    let meta = std::fs::metadata(like).map_err(|e| io_error("read", like, e))?;
    let chown = owner_of(&meta, target, Some(like))?;
    let (temp, mut tmp) =
        temp::create(target).map_err(|e| io_error("create a temp file in", dir, e))?;
    let prepared = Prepared {
        target: target.to_path_buf(),
        temp,
        kind: Kind::Create,
        pending: true,
    };
    if chown != (None, None) {
        std::os::unix::fs::fchown(&tmp, chown.0, chown.1)
            .map_err(|e| io_error("give the new file the owner and group of", like, e))?;
    }
    // Created 0600 (no directory default ACL can widen it before this).
    attrs::remove_all_but(&tmp, &Vec::new(), target)?;
    tmp.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o640))
        .map_err(|e| io_error("set the mode of the new", target, e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.sync_all())
        .map_err(|e| io_error("write", target, e))?;
    Ok(prepared)
}

/// Prepares the removal of `target` (a file an edit empties of all it
/// made): committed, it is backed up like a replaced file, then unlinked.
pub(crate) fn prepare_removal(target: &Path) -> Result<Prepared, WriteError> {
    let meta = std::fs::symlink_metadata(target).map_err(|e| io_error("read", target, e))?;
    if !meta.file_type().is_file() {
        return Err(WriteError::refused(
            "remove",
            target,
            PathRefusal::NotRegular,
        ));
    }
    Ok(Prepared {
        target: target.to_path_buf(),
        temp: target.to_path_buf(),
        kind: Kind::Remove,
        pending: true,
    })
}

impl Prepared {
    /// Whether committing this removes the target rather than writing it.
    pub(crate) fn removes(&self) -> bool {
        self.kind == Kind::Remove
    }
}

/// Refuses, before anything is written, a target that a rename cannot
/// replace: a mount point (a single-file bind mount: EBUSY), or a file
/// marked immutable or append-only (EPERM). Found here, an edit of several
/// files fails before its first rename.
fn refuse_unreplaceable(original: &File, target: &Path) -> Result<(), WriteError> {
    // AT_EMPTY_PATH with "": describe the open descriptor itself.
    let Ok(stx) = rustix::fs::statx(original, "", AtFlags::EMPTY_PATH, StatxFlags::empty()) else {
        // An old kernel without statx: the rename will say what is wrong.
        return Ok(());
    };
    let has = |attr: StatxAttributes| {
        stx.stx_attributes_mask.contains(attr) && stx.stx_attributes.contains(attr)
    };
    if has(StatxAttributes::MOUNT_ROOT) {
        return Err(io_error(
            "replace",
            target,
            std::io::Error::from_raw_os_error(libc::EBUSY),
        ));
    }
    if has(StatxAttributes::IMMUTABLE) || has(StatxAttributes::APPEND) {
        return Err(WriteError::Immutable {
            path: target.to_path_buf(),
        });
    }
    Ok(())
}

/// Which ids to pass to fchown, `None` meaning "already right". Only root may
/// give a file away; a non-root caller may still change the group to one of
/// its own, which the kernel checks for us.
/// The owner change a new file needs to get `meta`'s owner and group, as
/// this process can make it; the refusal names `target` (and the file
/// `like` it is made like, if another).
fn owner_of(
    meta: &std::fs::Metadata,
    target: &Path,
    like: Option<&Path>,
) -> Result<(Option<u32>, Option<u32>), WriteError> {
    let me = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    owner_change(
        (meta.uid(), meta.gid()),
        me,
        nix::unistd::geteuid().is_root(),
    )
    .map_err(|why| WriteError::ForeignOwner {
        target: target.to_path_buf(),
        like: like.map(Path::to_path_buf),
        why,
    })
}

fn owner_change(
    file: (u32, u32),
    me: (u32, u32),
    root: bool,
) -> Result<(Option<u32>, Option<u32>), ForeignOwner> {
    if file.0 != me.0 && !root {
        return Err(ForeignOwner { uid: file.0 });
    }
    Ok((
        (file.0 != me.0).then_some(file.0),
        (file.1 != me.1).then_some(file.1),
    ))
}

/// Why `owner_change` cannot give a new file its original's owner: it
/// belongs to `uid`, and only root may give a file away.
#[derive(Debug, PartialEq, Eq)]
pub struct ForeignOwner {
    uid: u32,
}

impl std::fmt::Display for ForeignOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "it belongs to uid {} and only root can give the new file that owner",
            self.uid
        )
    }
}

/// Gives the (still empty) temp file the original's owner, then drops every
/// extended attribute the original lacks (above all the access ACL the
/// directory's default ACL gave it), then the original's mode, then the
/// original's own ACL and extended attributes, then its bytes, then fsyncs
/// it: no byte of a secret ever sits in a file that more people can read
/// than the original, and no one who could not open the original gets a
/// descriptor of the new file while it is empty. (Created 0600, the temp's
/// inherited ACL is masked to nothing until the chmod.)
fn prepare_temp(
    tmp: &mut File,
    original: &File,
    target: &Path,
    mode: u32,
    chown: (Option<u32>, Option<u32>),
    contents: &[u8],
) -> Result<(), WriteError> {
    if chown != (None, None) {
        // None leaves that id unchanged.
        std::os::unix::fs::fchown(&*tmp, chown.0, chown.1)
            .map_err(|e| io_error("give the new file the owner and group of", target, e))?;
    }
    let wanted =
        attrs::xattrs(original).map_err(|e| io_error("read the attributes of", target, e))?;
    attrs::remove_all_but(tmp, &wanted, target)?;
    // After fchown, which clears the set-id bits.
    tmp.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| io_error("set the mode of the new", target, e))?;
    // The original's access ACL carries its mode's group bits (the mask),
    // so setting it after the chmod keeps the mode exact.
    attrs::copy_all(tmp, &wanted, target)?;
    tmp.write_all(contents)
        .and_then(|()| tmp.sync_all())
        .map_err(|e| io_error("write", target, e))
}

/// The directory of `path`, "." for a bare file name.
pub(super) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        Some(_) => Path::new("."),
        None => Path::new("/"),
    }
}

pub(super) fn open_dir(dir: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
}

pub(super) fn sync_dir(dir: &Path) {
    if let Ok(d) = open_dir(dir) {
        let _ = d.sync_all();
    }
}

/// `O_CREAT|O_EXCL|O_NOFOLLOW|O_WRONLY|O_CLOEXEC`: a file or symlink planted
/// at `path` (say by a user who can write the directory) is never opened,
/// let alone written through.
pub(super) fn open_new(path: &Path, mode: u32) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// What the tests of every room share.
#[cfg(test)]
mod testing {
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// A fresh directory, removed when dropped (also when the test fails).
    pub(crate) fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("fxc-sw-")
            .tempdir()
            .unwrap()
    }

    /// The names in `d`, sorted.
    pub(crate) fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    pub(crate) fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    pub(crate) fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Whether the environment lets `test` prove what it is named for
    /// (`ready`: root, a file system with the attribute, …). When it does
    /// not, the test has nothing to check and is skipped, saying so;
    /// under `FXC_REQUIRE_REAL` that is a failure instead.
    pub(crate) fn environment_allows(ready: bool, test: &str, needs: &str) -> bool {
        if !ready {
            assert!(
                std::env::var_os("FXC_REQUIRE_REAL").is_none(),
                "{test} needs {needs}"
            );
            eprintln!("{test} is skipped: it needs {needs}");
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_write::testing::*;
    use rustix::fs::XattrFlags;

    #[test]
    fn replace_keeps_mode_and_owner_and_leaves_no_temp() {
        let s = scratch();
        let t = s.path().join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o640)).unwrap();
        // As root, an owner that is not ours, as Debian's root:prosody is not
        // the caller's when run through sudo by another user's tooling.
        let (uid, gid) = if is_root() {
            std::os::unix::fs::chown(&t, Some(4242), Some(4343)).unwrap();
            (4242, 4343)
        } else {
            let m = std::fs::metadata(&t).unwrap();
            (m.uid(), m.gid())
        };
        assert_eq!(replace(&t, b"new", None).unwrap(), None);
        let m = std::fs::metadata(&t).unwrap();
        assert_eq!(std::fs::read(&t).unwrap(), b"new");
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!((m.uid(), m.gid()), (uid, gid));
        assert_eq!(entries(s.path()), vec!["p.cfg.lua"]);

        // Set-id bits survive too (fchmod comes after fchown, which clears them).
        if is_root() {
            std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o2640)).unwrap();
            replace(&t, b"newer", None).unwrap();
            assert_eq!(mode(&t), 0o2640);
            assert_eq!(std::fs::read(&t).unwrap(), b"newer");
        }
    }

    #[test]
    fn target_in_a_missing_directory_fails_clearly() {
        let s = scratch();
        let t = s.path().join("missing/p.cfg.lua");
        let e = replace(&t, b"new", None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(
            e.to_string().contains(&t.display().to_string())
                && e.to_string().contains("does not exist"),
            "{e}"
        );
        assert_eq!(entries(s.path()), Vec::<String>::new());
    }

    #[test]
    fn non_regular_target_is_refused() {
        let s = scratch();
        let t = s.path().join("p.cfg.lua");
        std::fs::create_dir(&t).unwrap();
        let e = replace(&t, b"new", None).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        std::os::unix::fs::symlink(&t, s.path().join("link")).unwrap();
        let e = replace(&s.path().join("link"), b"new", None).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert_eq!(entries(s.path()), vec!["link", "p.cfg.lua"]);
    }

    #[test]
    fn temp_file_open_never_follows_planted_paths() {
        let s = scratch();
        // A dangling symlink: following it would create "victim".
        std::os::unix::fs::symlink(s.path().join("victim"), s.path().join("planted")).unwrap();
        let e = open_new(&s.path().join("planted"), 0o600).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(!s.path().join("victim").exists());
        // A symlink to an existing file: not truncated, not written.
        std::fs::write(s.path().join("secret"), "keep").unwrap();
        std::os::unix::fs::symlink(s.path().join("secret"), s.path().join("planted2")).unwrap();
        let e = open_new(&s.path().join("planted2"), 0o600).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        // A plain file already there.
        let e = open_new(&s.path().join("secret"), 0o600).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(s.path().join("secret")).unwrap(), b"keep");
    }

    #[test]
    fn only_root_may_keep_another_users_owner() {
        assert_eq!(owner_change((5, 6), (5, 6), false), Ok((None, None)));
        assert_eq!(owner_change((5, 7), (5, 6), false), Ok((None, Some(7))));
        assert!(owner_change((0, 7), (5, 6), false)
            .unwrap_err()
            .to_string()
            .contains("only root"));
        assert_eq!(owner_change((0, 7), (0, 0), true), Ok((None, Some(7))));
        assert_eq!(owner_change((5, 7), (0, 0), true), Ok((Some(5), Some(7))));
    }

    #[test]
    fn prepared_is_complete_and_dropping_it_changes_nothing() {
        let s = scratch();
        let t = s.path().join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o640)).unwrap();
        let xattrs_work = {
            let f = File::open(&t).unwrap();
            let set = rustix::fs::fsetxattr(&f, "user.fxc", b"kept", XattrFlags::empty()).is_ok();
            environment_allows(
                set,
                "prepared_is_complete",
                "a file system with user xattrs",
            )
        };
        let p = prepare(&t, b"new").unwrap();
        assert_eq!(p.target(), t);
        let tmp = p.temp_path().to_path_buf();
        assert_eq!(tmp.parent(), t.parent());
        assert_eq!(std::fs::read(&tmp).unwrap(), b"new");
        assert_eq!(mode(&tmp), 0o640);
        if xattrs_work {
            let f = File::open(&tmp).unwrap();
            let got = attrs::xattr(&f, &std::ffi::CString::new("user.fxc").unwrap()).unwrap();
            assert_eq!(got.as_deref(), Some(&b"kept"[..]));
        }
        drop(p);
        assert_eq!(std::fs::read(&t).unwrap(), b"old");
        assert_eq!(entries(s.path()), vec!["p.cfg.lua"]);
        // Committed: the temp is the file now.
        let p = prepare(&t, b"new").unwrap();
        assert_eq!(p.commit(None).unwrap(), None);
        assert_eq!(std::fs::read(&t).unwrap(), b"new");
        assert_eq!(entries(s.path()), vec!["p.cfg.lua"]);
    }

    /// statx's attributes: an immutable or append-only target is refused
    /// before a temp file exists. Needs root and a file system with
    /// `chattr` (not tmpfs); elsewhere there is nothing to check, and
    /// under `FXC_REQUIRE_REAL` that fails.
    #[test]
    fn immutable_target_is_refused_before_anything_is_written() {
        let s = scratch();
        let t = s.path().join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        let chattr = |flag: &str| {
            std::process::Command::new("chattr")
                .arg(flag)
                .arg(&t)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|st| st.success())
        };
        for (set, unset) in [("+i", "-i"), ("+a", "-a")] {
            let ready = is_root() && chattr(set);
            if !environment_allows(ready, "immutable_target", "root and chattr (not tmpfs)") {
                return;
            }
            let r = prepare(&t, b"new");
            // Unset first, so a failure leaves a file the scratch can remove.
            assert!(chattr(unset));
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
            assert!(
                e.to_string()
                    .contains("marked immutable or append-only (see lsattr"),
                "{e}"
            );
            assert_eq!(entries(s.path()), vec!["p.cfg.lua"]);
        }
    }

    #[test]
    fn a_new_file_is_never_more_readable_and_never_replaces_one() {
        let s = scratch();
        let main = s.path().join("main.cfg.lua");
        std::fs::write(&main, "").unwrap();
        std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o644)).unwrap();
        let new = s.path().join("new.cfg.lua");
        let p = prepare_new(&new, &main, b"-- new\n").unwrap();
        assert_eq!(mode(p.temp_path()), 0o640, "0640 at most");
        assert!(!new.exists());
        commit_all(vec![p], None).unwrap();
        assert_eq!(std::fs::read(&new).unwrap(), b"-- new\n");
        assert_eq!(entries(s.path()), vec!["main.cfg.lua", "new.cfg.lua"]);
        std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A file that appears between prepare and commit is kept.
        let late = s.path().join("late.cfg.lua");
        let p = prepare_new(&late, &main, b"ours").unwrap();
        assert_eq!(
            mode(p.temp_path()),
            0o600,
            "never more than the main config"
        );
        std::fs::write(&late, "theirs").unwrap();
        let e = commit_all(vec![p], None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
        assert_eq!(std::fs::read(&late).unwrap(), b"theirs");
        // An existing one is refused before anything is written.
        assert!(prepare_new(&late, &main, b"x").is_err());
        assert_eq!(
            entries(s.path()),
            vec!["late.cfg.lua", "main.cfg.lua", "new.cfg.lua"]
        );
        // A removal is backed up, then unlinked; dropped uncommitted, nothing happens.
        drop(prepare_removal(&new).unwrap());
        assert!(new.exists());
        let b = Backups {
            dir: s.path().join("backups"),
            keep: 3,
        };
        let written = commit_all(vec![prepare_removal(&new).unwrap()], Some(&b)).unwrap();
        assert!(!new.exists());
        assert_eq!(
            std::fs::read(written[0].as_ref().unwrap()).unwrap(),
            b"-- new\n"
        );
    }

    #[test]
    fn commit_all_writes_every_backup_before_any_rename() {
        let s = scratch();
        let a = s.path().join("a.cfg.lua");
        let b = s.path().join("b.cfg.lua");
        std::fs::write(&a, "a0").unwrap();
        std::fs::write(&b, "b0").unwrap();
        // A backup directory we refuse: nothing renamed, no backup, no temp.
        std::fs::create_dir(s.path().join("open")).unwrap();
        std::fs::set_permissions(
            s.path().join("open"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let bad = Backups {
            dir: s.path().join("open"),
            keep: 3,
        };
        let both = vec![prepare(&a, b"a1").unwrap(), prepare(&b, b"b1").unwrap()];
        let e = commit_all(both, Some(&bad)).unwrap_err();
        assert!(e.to_string().contains("writable by group or others"), "{e}");
        assert_eq!(std::fs::read(&a).unwrap(), b"a0");
        assert_eq!(std::fs::read(&b).unwrap(), b"b0");
        assert_eq!(entries(s.path()), vec!["a.cfg.lua", "b.cfg.lua", "open"]);
        // A file that cannot be prepared: the one prepared before is dropped.
        let first = prepare(&a, b"a1").unwrap();
        assert!(prepare(&s.path().join("missing/c"), b"c").is_err());
        drop(first);
        assert_eq!(entries(s.path()), vec!["a.cfg.lua", "b.cfg.lua", "open"]);
        // Both committed, each with its backup.
        let good = Backups {
            dir: s.path().join("backups"),
            keep: 3,
        };
        let both = vec![prepare(&a, b"a1").unwrap(), prepare(&b, b"b1").unwrap()];
        let written = commit_all(both, Some(&good)).unwrap();
        assert_eq!(std::fs::read(written[0].as_ref().unwrap()).unwrap(), b"a0");
        assert_eq!(std::fs::read(written[1].as_ref().unwrap()).unwrap(), b"b0");
        assert_eq!(std::fs::read(&b).unwrap(), b"b1");
    }
}
