//! Safe replacement of a config file: lock, temp file with the original's
//! owner and mode, fsync, backup, rename, fsync of the directory.
//!
//! The file holds secrets (Debian ships it `root:prosody 0640`), prosody may
//! read it at any moment, and we may be killed at any moment: so the new
//! bytes go to a temp file in the same directory that has the right owner
//! and mode *before* its first byte, and a rename swaps it in atomically. A
//! reader sees the old file or the new one, never a mix, and never a file
//! that is briefly readable by the wrong people.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::libc;
use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, StatxAttributes, StatxFlags, XattrFlags};
use rustix::io::Errno;

/// The extended attribute that holds a file's access ACL.
const ACL_ACCESS: &std::ffi::CStr =
    match std::ffi::CStr::from_bytes_with_nul(b"system.posix_acl_access\0") {
        Ok(c) => c,
        Err(_) => panic!("NUL-terminated"),
    };

/// How often [`Lock::acquire`] retries: short enough not to add noticeable
/// latency, long enough not to spin.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// A failure, as one operator-facing line that names the path (and, where
/// one helps, a hint), plus the kind for callers that branch on it.
#[derive(Debug)]
pub struct WriteError {
    pub message: String,
    pub kind: ErrorKind,
}

impl WriteError {
    fn new(kind: ErrorKind, message: String) -> WriteError {
        WriteError { message, kind }
    }
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriteError {}

/// Maps an io::Error of `action` (a verb: "read", "write", "lock") on `path`
/// to a message an operator can act on. The sudo hint is given only when we
/// are not root: as root, EPERM means something else (an immutable file).
pub fn io_error(action: &str, path: &Path, e: std::io::Error) -> WriteError {
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
    WriteError::new(e.kind(), message)
}

use crate::secret::plain_io;

/// Where root's edit locks live: a directory only root can enter, so no
/// other user can open, let alone hold, a lock there.
pub const LOCK_DIR: &str = "/run/fogbow-xmpp-ctl";

/// An exclusive lock that serialises read-modify-write of one config set.
/// Released on drop (closing the descriptor drops the flock).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Root's lock file for the config whose real path is `config_real`:
/// `LOCK_DIR/<SHA-1 of the path's bytes>.lock`, one per config, however the
/// operator named it.
pub fn lock_path(config_real: &Path) -> PathBuf {
    Path::new(LOCK_DIR).join(format!(
        "{}.lock",
        sha1_hex(config_real.as_os_str().as_bytes())
    ))
}

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Lock {
    /// Locks the config whose real path is `config_real`. As root: a file
    /// under [`LOCK_DIR`] (0700 root), which no other user can open: a lock
    /// anyone can take would let any local user stall root's edits. As any
    /// other user: the config's directory, as before: other users who can
    /// read that directory can hold it too, but a non-root caller edits only
    /// files it owns. Polls instead of blocking so that a stuck holder
    /// becomes a clear error after `timeout`, not a hang.
    pub fn acquire(config_real: &Path, timeout: Duration) -> Result<Lock, WriteError> {
        let (f, what) = if nix::unistd::geteuid().is_root() {
            let path = lock_path(config_real);
            (open_root_lock(&path)?, path)
        } else {
            let dir = parent_dir(config_real);
            let f = open_dir(dir).map_err(|e| io_error("lock", dir, e))?;
            (f, dir.to_path_buf())
        };
        // None: a timeout too large to represent, i.e. wait for ever.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let e = match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Lock { _file: f }),
                Err(e) => std::io::Error::from(e),
            };
            match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => {}
                Some(libc::EINTR) => continue,
                _ => return Err(io_error("lock", &what, e)),
            }
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => LOCK_POLL,
            };
            if wait.is_zero() {
                // Who holds it is not ours to know (fuser/lslocks can tell).
                return Err(WriteError::new(
                    ErrorKind::TimedOut,
                    format!(
                        "timed out after {} waiting for the lock on {} for {} (another process holds it, e.g. another fogbow-xmpp-ctl editing that config; lslocks shows which; see lock_timeout_secs)",
                        human_duration(timeout),
                        what.display(),
                        config_real.display()
                    ),
                ));
            }
            std::thread::sleep(wait.min(LOCK_POLL));
        }
    }
}

/// Opens (creating it 0600) root's lock file `path` in [`LOCK_DIR`], which
/// is created 0700 if missing and refused unless it is a real directory
/// owned by root with mode 0700.
fn open_root_lock(path: &Path) -> Result<File, WriteError> {
    let dir = Path::new(LOCK_DIR);
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error("create the lock directory", dir, e)),
    }
    let refuse = |why: String| {
        WriteError::new(
            ErrorKind::PermissionDenied,
            format!(
                "refusing to lock in {}: {why}; remove it (it is recreated 0700 root)",
                dir.display()
            ),
        )
    };
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
                refuse("it is a symbolic link or not a directory".into())
            }
            _ => io_error("open the lock directory", dir, e),
        })?;
    let m = d
        .metadata()
        .map_err(|e| io_error("open the lock directory", dir, e))?;
    if m.uid() != 0 || m.mode() & 0o7777 != 0o700 {
        return Err(refuse(format!(
            "it belongs to uid {} with mode {:04o}, not root with 0700",
            m.uid(),
            m.mode() & 0o7777
        )));
    }
    let name = std::ffi::CString::new(path.file_name().unwrap_or_default().as_bytes())
        .map_err(|_| refuse("bad lock name".into()))?;
    // Relative to the directory we judged, so it cannot be swapped meanwhile.
    let fd = rustix::fs::openat(
        &d,
        name.as_c_str(),
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| io_error("lock", path, e.into()))?;
    Ok(File::from(fd))
}

/// "30 s", or "200 ms" for the sub-second timeouts of tests.
fn human_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 || d.as_secs() >= 10 {
        format!("{} s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Where previous versions go, and how many to keep per file (0: none).
#[derive(Debug, Clone)]
pub struct Backups {
    pub dir: PathBuf,
    pub keep: usize,
}

/// Replaces `target` (a real file, symlinks already resolved by the caller)
/// with `contents`; returns the backup written, if any. [`prepare`] then
/// [`Prepared::commit`].
pub fn replace(
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
pub struct Prepared {
    target: PathBuf,
    temp: PathBuf,
    /// False once renamed (or removed): then drop leaves the path alone.
    pending: bool,
}

impl Prepared {
    /// The file this will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The complete new version, at a hidden name next to the target (so a
    /// loader that resolves relative paths sees the target's directory).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Backs up the current version, renames the new one over it, syncs
    /// the directory and prunes old backups.
    pub fn commit(self, backups: Option<&Backups>) -> Result<Option<PathBuf>, WriteError> {
        Ok(commit_all(vec![self], backups)?.pop().flatten())
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if self.pending {
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
pub fn commit_all(
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
            match write_backup(&p.target, b) {
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
        if let Err(e) = std::fs::rename(&p.temp, &p.target) {
            let mut e = io_error("replace", &p.target, e);
            // Backups of files not replaced would be backups of nothing.
            remove_backups(&written[i..]);
            if !done.is_empty() {
                let list: Vec<String> = done.iter().map(|d| d.display().to_string()).collect();
                e.message = format!(
                    "{} (already replaced: {}; see restore --list)",
                    e.message,
                    list.join(", ")
                );
            }
            return Err(e);
        }
        p.pending = false;
        // The rename is durable only once the directory is on disk too. The
        // file is in place by now, so a failure here (e.g. EINVAL on a file
        // system without directory fsync) is not a failed edit.
        sync_dir(parent_dir(&p.target));
        done.push(p.target.clone());
    }
    if let Some(b) = backups {
        for p in &prepared {
            // Best effort: a failed prune must not turn a done edit into an error.
            let _ = prune_backups(b, &p.target);
        }
    }
    Ok(written)
}

/// Writes `contents` to a new temp file next to `target` that has the
/// target's owner, mode, ACL and extended attributes (and not the
/// directory's default ACL), fsynced; renames nothing.
pub fn prepare(target: &Path, contents: &[u8]) -> Result<Prepared, WriteError> {
    let not_regular = || {
        WriteError::new(
            ErrorKind::InvalidInput,
            format!(
                "refusing to replace {}: it is not a regular file",
                target.display()
            ),
        )
    };
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
    let me = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let chown = owner_change(
        (meta.uid(), meta.gid()),
        me,
        nix::unistd::geteuid().is_root(),
    )
    .map_err(|why| {
        WriteError::new(
            ErrorKind::PermissionDenied,
            format!(
                "permission denied: cannot replace {}: {why} (run with sudo?)",
                target.display()
            ),
        )
    })?;
    let dir = parent_dir(target);
    let (temp, mut tmp) =
        create_temp(target).map_err(|e| io_error("create a temp file in", dir, e))?;
    let prepared = Prepared {
        target: target.to_path_buf(),
        temp,
        pending: true,
    };
    prepare_temp(&mut tmp, &original, target, meta.mode(), chown, contents)?;
    Ok(prepared)
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
        return Err(WriteError::new(
            ErrorKind::PermissionDenied,
            format!(
                "cannot replace {}: it is marked immutable or append-only (see lsattr; chattr -i -a removes that)",
                target.display()
            ),
        ));
    }
    Ok(())
}

/// Which ids to pass to fchown, `None` meaning "already right". Only root may
/// give a file away; a non-root caller may still change the group to one of
/// its own, which the kernel checks for us.
fn owner_change(
    file: (u32, u32),
    me: (u32, u32),
    root: bool,
) -> Result<(Option<u32>, Option<u32>), String> {
    if file.0 != me.0 && !root {
        return Err(format!(
            "it belongs to uid {} and only root can give the new file that owner",
            file.0
        ));
    }
    Ok((
        (file.0 != me.0).then_some(file.0),
        (file.1 != me.1).then_some(file.1),
    ))
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
    let wanted = xattrs(original).map_err(|e| io_error("read the attributes of", target, e))?;
    let inherited =
        xattrs(tmp).map_err(|e| io_error("read the attributes of the new", target, e))?;
    for (name, _) in inherited
        .iter()
        .filter(|(n, _)| !wanted.iter().any(|(w, _)| w == n))
    {
        if let Err(e) = rustix::fs::fremovexattr(&*tmp, name.as_c_str()) {
            if e != Errno::NODATA {
                return Err(xattr_error("remove", name, target, e.into()));
            }
        }
    }
    // After fchown, which clears the set-id bits.
    tmp.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| io_error("set the mode of the new", target, e))?;
    // The original's access ACL carries its mode's group bits (the mask),
    // so setting it after the chmod keeps the mode exact.
    for (name, value) in &wanted {
        if let Err(e) = rustix::fs::fsetxattr(&*tmp, name.as_c_str(), value, XattrFlags::empty()) {
            if xattr_must_copy(name.to_bytes(), Some(e.raw_os_error())) {
                return Err(xattr_error("copy", name, target, e.into()));
            }
        }
    }
    tmp.write_all(contents)
        .and_then(|()| tmp.sync_all())
        .map_err(|e| io_error("write", target, e))
}

/// Whether failing to copy the extended attribute `name` (with `errno`)
/// must fail the edit: always for the access ACL (who may read the file);
/// for `trusted.` and `security.` ones (policy: SELinux labels,
/// capabilities) unless the file system does not support them at all, in
/// which case the original cannot have had them either. `user.` ones are
/// copied where permitted.
fn xattr_must_copy(name: &[u8], errno: Option<i32>) -> bool {
    if name == b"system.posix_acl_access" {
        return true;
    }
    (name.starts_with(b"trusted.") || name.starts_with(b"security."))
        && errno != Some(libc::ENOTSUP)
}

fn xattr_error(verb: &str, name: &std::ffi::CStr, target: &Path, e: std::io::Error) -> WriteError {
    let mut w = io_error(
        &format!(
            "{verb} the attribute {} for the new",
            name.to_string_lossy()
        ),
        target,
        e,
    );
    w.message.push_str(" (nothing was changed)");
    w
}

/// Every extended attribute of the open file `f`, with its value; none on
/// a file system without them.
fn xattrs(f: &File) -> std::io::Result<Vec<(std::ffi::CString, Vec<u8>)>> {
    // Sizes can grow between the two calls: retry on ERANGE.
    let names = loop {
        let n = match rustix::fs::flistxattr_query(f) {
            Ok(0) => break Vec::new(),
            Ok(n) => n,
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut buf = vec![0u8; n];
        match rustix::fs::flistxattr(f, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                break buf;
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::ffi::CString::new(name).expect("split at NUL");
        match xattr(f, &name)? {
            Some(v) => out.push((name, v)),
            None => continue,
        }
    }
    Ok(out)
}

/// The value of the extended attribute `name` of `f`; `None` if it has none.
fn xattr(f: &File, name: &std::ffi::CStr) -> std::io::Result<Option<Vec<u8>>> {
    loop {
        let n = match rustix::fs::fgetxattr_query(f, name) {
            // rustix reads a 0-byte buffer as nothing, not as a size query.
            Ok(0) => return Ok(Some(Vec::new())),
            Ok(n) => n,
            Err(Errno::NODATA | Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut v = vec![0u8; n];
        match rustix::fs::fgetxattr(f, name, &mut v[..]) {
            Ok(n) => {
                v.truncate(n);
                return Ok(Some(v));
            }
            Err(Errno::RANGE) => continue,
            Err(Errno::NODATA) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Who may access a file beyond its owner, from its mode and its access
/// ACL (`system.posix_acl_access`, Linux's binary form: a u32 version, then
/// entries of u16 tag, u16 permissions, u32 id). `perm` is 4 (read) or 2
/// (write); `group` counts the owning group as "others" too. One phrase
/// per finding, e.g. "mode 0644 lets every local user read it".
fn others_with(mode: u32, acl: Option<&[u8]>, perm: u16, group: bool) -> Vec<String> {
    const USER: u16 = 0x02;
    const GROUP: u16 = 0x08;
    const MASK: u16 = 0x10;
    let verb = if perm == 4 { "read" } else { "write" };
    let mut why = Vec::new();
    let bits = u32::from(perm);
    if mode & bits != 0 || (group && mode & (bits << 3) != 0) {
        let who = if mode & bits != 0 {
            "every local user"
        } else {
            "its group"
        };
        why.push(format!("mode {:04o} lets {who} {verb} it", mode & 0o7777));
    }
    let entries: Vec<(u16, u16, u32)> = acl
        .filter(|a| a.len() >= 4)
        .map(|a| {
            a[4..]
                .chunks_exact(8)
                .map(|e| {
                    (
                        u16::from_le_bytes([e[0], e[1]]),
                        u16::from_le_bytes([e[2], e[3]]),
                        u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // Named entries are limited by the mask (which the mode's group bits show).
    let mask = entries.iter().find(|e| e.0 == MASK).map_or(7, |e| e.1);
    for (tag, p, id) in entries {
        if p & mask & perm == 0 {
            continue;
        }
        match tag {
            USER => why.push(format!("its ACL lets uid {id} {verb} it")),
            GROUP => why.push(format!("its ACL lets gid {id} {verb} it")),
            _ => {}
        }
    }
    why
}

/// Why users other than the file's owner and group can read `path`, if
/// they can: its mode's "other" bits or a named user or group in its ACL.
/// A secret written there is readable by them; `add` warns.
pub fn readable_by_others(path: &Path) -> std::io::Result<Option<String>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let mode = f.metadata()?.mode();
    let acl = xattr(&f, ACL_ACCESS)?;
    let why = others_with(mode, acl.as_deref(), 4, false);
    Ok((!why.is_empty()).then(|| why.join(" and ")))
}

/// Refuses a file or directory that someone other than root or us could
/// write (owner, group/other write bits, ACL write entries), as sudo and
/// ssh refuse their configs: its contents decide what root does. `what`
/// names it ("the settings file").
pub fn check_trusted(what: &str, path: &Path, f: &File) -> Result<(), WriteError> {
    let m = f.metadata().map_err(|e| io_error("read", path, e))?;
    let refuse = |why: String| {
        WriteError::new(
            ErrorKind::PermissionDenied,
            format!("refusing to use {what} {}: {why}", path.display()),
        )
    };
    let me = nix::unistd::geteuid().as_raw();
    if m.uid() != 0 && m.uid() != me {
        return Err(refuse(format!(
            "it belongs to uid {}, not root{}, so that user could choose what is done with it (chown root it)",
            m.uid(),
            if me == 0 { String::new() } else { format!(" or you (uid {me})") }
        )));
    }
    let acl = xattr(f, ACL_ACCESS).map_err(|e| io_error("read", path, e))?;
    let why = others_with(m.mode(), acl.as_deref(), 2, true);
    if !why.is_empty() {
        return Err(refuse(format!(
            "{}, so others could choose what is done with it (chmod go-w it; setfacl -b removes an ACL)",
            why.join(" and ")
        )));
    }
    Ok(())
}

/// Opens a file to trust: no symlink as its last component, no FIFO
/// blocking us, then [`check_trusted`]; must be a regular file.
pub fn open_trusted(path: &Path) -> Result<File, std::io::Error> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// Reads a backup to restore: it must be a regular file (not a symlink)
/// that only root or we can write, or it could be a planted "backup"
/// whose Lua runs as root at the next check.
pub fn read_backup(path: &Path) -> Result<Vec<u8>, WriteError> {
    let mut f = open_trusted(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => WriteError::new(
            ErrorKind::PermissionDenied,
            format!(
                "refusing to use the backup {}: it is a symbolic link",
                path.display()
            ),
        ),
        _ => io_error("read", path, e),
    })?;
    let m = f.metadata().map_err(|e| io_error("read", path, e))?;
    if !m.is_file() {
        return Err(WriteError::new(
            ErrorKind::InvalidInput,
            format!(
                "refusing to use the backup {}: it is not a regular file",
                path.display()
            ),
        ));
    }
    check_trusted("the backup", path, &f)?;
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut v).map_err(|e| io_error("read", path, e))?;
    Ok(v)
}

/// Refuses a directory on the way to `path` that someone other than root
/// or us could write without the sticky bit: they could rename the file
/// away and put their own in its place (ssh's StrictModes rule). `path`
/// must be absolute and free of symlinks (see [`resolve`]).
pub fn check_ancestors(what: &str, path: &Path) -> Result<(), WriteError> {
    let me = nix::unistd::geteuid().as_raw();
    for dir in path.ancestors().skip(1) {
        let m = std::fs::metadata(dir).map_err(|e| io_error("read", dir, e))?;
        let open = m.mode() & 0o022 != 0 && m.mode() & 0o1000 == 0;
        if (m.uid() != 0 && m.uid() != me) || open {
            return Err(WriteError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "refusing to use {what} {}: the directory {} (uid {}, mode {:04o}) lets others replace it; keep it in a directory only root can write",
                    path.display(),
                    dir.display(),
                    m.uid(),
                    m.mode() & 0o7777
                ),
            ));
        }
    }
    Ok(())
}

/// How many symlinks a path may pass through, as Linux's MAXSYMLINKS.
const MAX_SYMLINKS: usize = 40;

/// Resolves `path` component by component, as the kernel would, and
/// returns the real path. Refuses a symbolic link met on the way whose
/// owner is neither root, nor us, nor the owner of the final file: the rule
/// of the kernel's `fs.protected_symlinks`, which containers and old
/// systems may lack. Otherwise a user could plant a link in a directory it
/// owns and have root rewrite the file it points to. Debian's root-owned
/// `conf.d` links pass.
pub fn resolve(path: &Path) -> Result<PathBuf, WriteError> {
    let start = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().map_err(|e| io_error("resolve", path, e))?
    };
    let mut resolved = start;
    let mut pending: std::collections::VecDeque<OsString> = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::RootDir))
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut links: Vec<(PathBuf, u32)> = Vec::new();
    while let Some(c) = pending.pop_front() {
        if c == "." {
            continue;
        }
        if c == ".." {
            // `resolved` holds no symlinks, so ".." is its parent.
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&c);
        let m = std::fs::symlink_metadata(&candidate).map_err(|e| io_error("read", path, e))?;
        if !m.file_type().is_symlink() {
            resolved = candidate;
            continue;
        }
        if links.len() >= MAX_SYMLINKS {
            return Err(io_error(
                "resolve",
                path,
                std::io::Error::from_raw_os_error(libc::ELOOP),
            ));
        }
        let to = std::fs::read_link(&candidate).map_err(|e| io_error("read", &candidate, e))?;
        links.push((candidate, m.uid()));
        if to.is_absolute() {
            resolved = PathBuf::from("/");
        }
        for part in to.components().rev() {
            if !matches!(part, std::path::Component::RootDir) {
                pending.push_front(part.as_os_str().to_os_string());
            }
        }
    }
    let owner = std::fs::metadata(&resolved)
        .map_err(|e| io_error("read", path, e))?
        .uid();
    let me = nix::unistd::geteuid().as_raw();
    if let Some((link, uid)) = links
        .iter()
        .find(|(_, uid)| *uid != 0 && *uid != me && *uid != owner)
    {
        return Err(WriteError::new(
            ErrorKind::PermissionDenied,
            format!(
                "refusing to follow the symbolic link {} (owned by uid {uid}): it leads to {}, owned by uid {owner}, and a link planted by another user could redirect the edit to any file (the kernel's fs.protected_symlinks rule); name the real path or have root own the link",
                link.display(),
                resolved.display()
            ),
        ));
    }
    Ok(resolved)
}

/// The directory of `path`, "." for a bare file name.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        Some(_) => Path::new("."),
        None => Path::new("/"),
    }
}

fn open_dir(dir: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = open_dir(dir) {
        let _ = d.sync_all();
    }
}

/// `.NAME.fxc-` : the start of our temp names for `target`.
fn temp_prefix(target: &Path) -> Vec<u8> {
    let name = target.file_name().unwrap_or_default();
    [b".", name.as_bytes(), b".fxc-"].concat()
}

/// `.NAME.fxc-PID-RANDOM.tmp`: hidden, so prosody's `Include "*.cfg.lua"`
/// globs (which skip dot-files) never load a half-written file; the pid and
/// random part keep concurrent or crashed runs from colliding.
fn temp_name(target: &Path) -> OsString {
    let mut r = [0u8; 4];
    if getrandom::fill(&mut r).is_err() {
        // O_EXCL still guarantees a fresh file; this only avoids collisions.
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        r = n.to_le_bytes();
    }
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let mut name = temp_prefix(target);
    name.extend_from_slice(format!("{}-{hex}.tmp", std::process::id()).as_bytes());
    OsString::from_vec(name)
}

/// Whether `name` is one of our temp names for the file whose prefix is
/// `prefix`: PID digits, '-', 8 hex digits, ".tmp". Strict, so cleaning up
/// never removes a file that merely looks similar.
fn is_temp_name(name: &OsStr, prefix: &[u8]) -> bool {
    let Some(rest) = name.as_bytes().strip_prefix(prefix) else {
        return false;
    };
    let Some(rest) = rest.strip_suffix(b".tmp") else {
        return false;
    };
    let Some(dash) = rest.iter().position(|&c| c == b'-') else {
        return false;
    };
    let (pid, hex) = (&rest[..dash], &rest[dash + 1..]);
    !pid.is_empty()
        && pid.iter().all(u8::is_ascii_digit)
        && hex.len() == 8
        && hex.iter().all(u8::is_ascii_hexdigit)
}

/// Creates a fresh temp file next to `target`, retrying on the (unlikely)
/// name collision.
fn create_temp(target: &Path) -> std::io::Result<(PathBuf, File)> {
    let dir = parent_dir(target);
    let mut tries = 0;
    loop {
        let path = dir.join(temp_name(target));
        match open_new(&path, 0o600) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// `O_CREAT|O_EXCL|O_NOFOLLOW|O_WRONLY|O_CLOEXEC`: a file or symlink planted
/// at `path` (say by a user who can write the directory) is never opened,
/// let alone written through.
fn open_new(path: &Path, mode: u32) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Removes temp files of our naming next to `target`, left by a run killed
/// mid-write. Call only while holding the [`Lock`]: then no live run can own
/// them. Returns how many were removed.
pub fn remove_stale_temp_files(target: &Path) -> std::io::Result<usize> {
    let prefix = temp_prefix(target);
    let mut n = 0;
    for entry in std::fs::read_dir(parent_dir(target))? {
        let entry = entry?;
        if is_temp_name(&entry.file_name(), &prefix) && entry.file_type()?.is_file() {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(n)
}

/// The backup name prefix of `target`: an unambiguous encoding of its path's
/// bytes, then '.'. Without the leading '/', '/' becomes '_'; letters,
/// digits and `.-+,=@~` stay; every other byte (so '_' and '%' too, and
/// non-UTF-8 ones) becomes `%XX`. Distinct paths thus never share a prefix
/// (`x_y.cfg.lua` is `x%5Fy.cfg.lua.`, `x/y.cfg.lua` is `x_y.cfg.lua.`),
/// so one directory can hold backups of many files. A path too long for a
/// file name is `%sha1-<hex>`, which no path encodes to ('%' is otherwise
/// followed by two hex digits).
fn backup_prefix(target: &Path) -> String {
    let bytes = target.as_os_str().as_bytes();
    let bytes = bytes.strip_prefix(b"/").unwrap_or(bytes);
    let mut s = String::with_capacity(bytes.len() + 1);
    for &b in bytes {
        match b {
            b'/' => s.push('_'),
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'.'
            | b'-'
            | b'+'
            | b','
            | b'='
            | b'@'
            | b'~' => s.push(char::from(b)),
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    // NAME_MAX is 255: room for '.' and the 26-byte timestamp.
    if s.len() > 200 {
        s = format!("%sha1-{}", sha1_hex(bytes));
    }
    s.push('.');
    s
}

/// Lists the backups of `target` in `dir`, oldest first (the fixed-width
/// UTC timestamps sort by name in time order). A missing `dir` has none;
/// an existing one must pass the checks of [`ensure_backup_dir`]: what a
/// restore installs comes from there.
pub fn list_backups(dir: &Path, target: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let prefix = backup_prefix(target);
    if !dir.is_absolute() {
        return check_backup_dir(dir).map(|()| Vec::new());
    }
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("use the backup directory", dir, e)),
        Ok(_) => check_backup_dir(dir)?,
    }
    let read = |e| io_error("read the backup directory", dir, e);
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .is_some_and(is_timestamp);
        if ours && entry.file_type().map_err(read)?.is_file() {
            v.push(entry.path());
        }
    }
    v.sort();
    Ok(v)
}

/// Exactly `YYYYMMDDTHHMMSS.nnnnnnnnnZ`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 26
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 => c == b'T',
            15 => c == b'.',
            25 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// `YYYYMMDDTHHMMSS.nnnnnnnnnZ` in UTC, computed by hand (no date crate):
/// fixed width, so names sort in time order.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Copies the current bytes of `target` into the backup directory as a new
/// 0600 file, fsynced. Pruning is the caller's, after the rename.
fn write_backup(target: &Path, b: &Backups) -> Result<PathBuf, WriteError> {
    ensure_backup_dir(&b.dir)?;
    let current = std::fs::read(target).map_err(|e| io_error("read", target, e))?;
    let prefix = backup_prefix(target);
    let mut t = SystemTime::now();
    let mut tries = 0;
    let (path, mut f) = loop {
        let path = b.dir.join(format!("{prefix}{}", timestamp(t)));
        match open_new(&path, 0o600) {
            Ok(f) => break (path, f),
            // Two backups within one clock tick: take the next nanosecond.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && tries < 1000 => {
                t += Duration::from_nanos(1);
                tries += 1;
            }
            Err(e) => return Err(io_error("write a backup in", &b.dir, e)),
        }
    };
    // Exactly 0600 whatever the umask.
    let written = f
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| f.write_all(&current))
        .and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(&path);
        return Err(io_error("write the backup", &path, e));
    }
    sync_dir(&b.dir);
    Ok(path)
}

/// Keeps only the newest `keep` backups of `target`.
fn prune_backups(b: &Backups, target: &Path) -> Result<(), WriteError> {
    let all = list_backups(&b.dir, target)?;
    for old in &all[..all.len().saturating_sub(b.keep)] {
        std::fs::remove_file(old).map_err(|e| io_error("remove", old, e))?;
    }
    Ok(())
}

/// Creates the backup directory 0700 if missing; then [`check_backup_dir`].
fn ensure_backup_dir(dir: &Path) -> Result<(), WriteError> {
    // Relative to whatever directory we were started in: never created.
    if !dir.is_absolute() {
        return check_backup_dir(dir);
    }
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
            }
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {
                    // mkdir's mode passes through the umask: set it exactly,
                    // through a descriptor, so a symlink swapped in meanwhile
                    // is never followed by a chmod.
                    let f = OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                        .open(dir)
                        .and_then(|f| {
                            f.set_permissions(std::fs::Permissions::from_mode(0o700))
                                .map(|()| f)
                        });
                    f.map_err(|e| io_error("set the mode of", dir, e))?;
                }
                // Made by someone else meanwhile: judged below like any existing one.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("create the backup directory", dir, e)),
            }
        }
        Err(e) => return Err(io_error("use the backup directory", dir, e)),
    }
    check_backup_dir(dir)
}

/// An existing backup directory must be an absolute path to a real
/// directory, not writable by group or others, owned by us or root, in
/// directories only root (or we) can write: otherwise a local user could
/// read the secrets in it or plant "backups" that a restore would install.
pub fn check_backup_dir(dir: &Path) -> Result<(), WriteError> {
    let refuse = |why: String| {
        WriteError::new(
            ErrorKind::PermissionDenied,
            format!(
                "refusing to use the backup directory {}: {why}",
                dir.display()
            ),
        )
    };
    let me = nix::unistd::geteuid().as_raw();
    if !dir.is_absolute() {
        return Err(refuse(
            "it is not an absolute path (set backup_dir to one in the settings)".into(),
        ));
    }
    let m =
        std::fs::symlink_metadata(dir).map_err(|e| io_error("use the backup directory", dir, e))?;
    if m.file_type().is_symlink() {
        return Err(refuse("it is a symbolic link".into()));
    }
    if !m.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    if m.mode() & 0o022 != 0 {
        return Err(refuse(format!(
            "it is writable by group or others (mode {:04o}; chmod 700 it)",
            m.mode() & 0o7777
        )));
    }
    if m.uid() != me && m.uid() != 0 {
        return Err(refuse(format!("it belongs to uid {}", m.uid())));
    }
    let d = open_dir(dir).map_err(|e| io_error("use the backup directory", dir, e))?;
    check_trusted("the backup directory", dir, &d)?;
    match std::fs::canonicalize(dir) {
        Ok(real) => check_ancestors("the backup directory", &real),
        Err(e) => Err(io_error("use the backup directory", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop (also
    /// when the test fails).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            static N: AtomicUsize = AtomicUsize::new(0);
            let d = std::env::temp_dir().join(format!(
                "fxc-sw-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Scratch(d)
        }
        fn join(&self, p: &str) -> PathBuf {
            self.0.join(p)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn replace_keeps_mode_and_owner_and_leaves_no_temp() {
        let s = Scratch::new("replace");
        let t = s.join("p.cfg.lua");
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
        assert_eq!(entries(&s.0), vec!["p.cfg.lua"]);

        // Set-id bits survive too (fchmod comes after fchown, which clears them).
        if is_root() {
            std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o2640)).unwrap();
            replace(&t, b"newer", None).unwrap();
            assert_eq!(mode(&t), 0o2640);
            assert_eq!(std::fs::read(&t).unwrap(), b"newer");
        }
    }

    #[test]
    fn backup_is_private_and_pruned_to_keep() {
        let s = Scratch::new("backup");
        let t = s.join("p.cfg.lua");
        let other = s.join("other.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        std::fs::write(&other, "o0").unwrap();
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o640)).unwrap();
        let b = Backups {
            dir: s.join("var/backups"),
            keep: 2,
        };
        let first = replace(&t, b"v0", Some(&b)).unwrap().unwrap();
        assert_eq!(std::fs::read(&first).unwrap(), b"old");
        assert_eq!(mode(&first), 0o600);
        assert_eq!(mode(&b.dir), 0o700);
        let name = first.file_name().unwrap().to_str().unwrap();
        let prefix = backup_prefix(&t);
        assert!(!prefix.starts_with('_') && prefix.ends_with("_p.cfg.lua."));
        assert!(is_timestamp(name.strip_prefix(&prefix).unwrap()), "{name}");

        replace(&other, b"o1", Some(&b)).unwrap().unwrap();
        for i in 1..4 {
            replace(&t, format!("v{i}").as_bytes(), Some(&b)).unwrap();
        }
        let kept = list_backups(&b.dir, &t).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(std::fs::read(&kept[0]).unwrap(), b"v1", "oldest first");
        assert_eq!(std::fs::read(&kept[1]).unwrap(), b"v2", "newest last");
        // Another file's backups in the same directory are not pruned.
        let others = list_backups(&b.dir, &other).unwrap();
        assert_eq!(others.len(), 1);
        assert_eq!(std::fs::read(&others[0]).unwrap(), b"o0");
        assert_eq!(std::fs::read(&t).unwrap(), b"v3");
        assert_eq!(entries(&s.0), vec!["other.cfg.lua", "p.cfg.lua", "var"]);
    }

    #[test]
    fn no_backup_when_keep_is_zero_or_none() {
        let s = Scratch::new("nobackup");
        let t = s.join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        let b = Backups {
            dir: s.join("backups"),
            keep: 0,
        };
        assert_eq!(replace(&t, b"a", Some(&b)).unwrap(), None);
        assert_eq!(replace(&t, b"b", None).unwrap(), None);
        assert_eq!(std::fs::read(&t).unwrap(), b"b");
        assert_eq!(entries(&s.0), vec!["p.cfg.lua"]);
        assert_eq!(list_backups(&b.dir, &t).unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn target_in_a_missing_directory_fails_clearly() {
        let s = Scratch::new("missing");
        let t = s.join("missing/p.cfg.lua");
        let e = replace(&t, b"new", None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message.contains(&t.display().to_string()) && e.message.contains("does not exist"),
            "{e}"
        );
        assert_eq!(entries(&s.0), Vec::<String>::new());
    }

    #[test]
    fn non_regular_target_is_refused() {
        let s = Scratch::new("nonreg");
        let t = s.join("p.cfg.lua");
        std::fs::create_dir(&t).unwrap();
        let e = replace(&t, b"new", None).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        std::os::unix::fs::symlink(&t, s.join("link")).unwrap();
        let e = replace(&s.join("link"), b"new", None).unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        assert_eq!(entries(&s.0), vec!["link", "p.cfg.lua"]);
    }

    #[test]
    fn unsafe_backup_dirs_are_refused_and_target_untouched() {
        let s = Scratch::new("unsafe");
        let t = s.join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        // A symlink to a real directory: nothing may be written, or chmodded, through it.
        std::fs::create_dir(s.join("elsewhere")).unwrap();
        std::fs::set_permissions(s.join("elsewhere"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink(s.join("elsewhere"), s.join("link")).unwrap();
        std::fs::create_dir(s.join("open")).unwrap();
        std::fs::set_permissions(s.join("open"), std::fs::Permissions::from_mode(0o770)).unwrap();
        std::fs::write(s.join("file"), "").unwrap();
        for (dir, why) in [
            ("link", "symbolic link"),
            ("open", "writable by group or others"),
            ("file", "not a directory"),
        ] {
            let b = Backups {
                dir: s.join(dir),
                keep: 3,
            };
            let e = replace(&t, b"new", Some(&b)).unwrap_err();
            assert!(
                e.message.contains(why) && e.message.contains(&b.dir.display().to_string()),
                "{e}"
            );
            assert_eq!(std::fs::read(&t).unwrap(), b"old");
        }
        assert_eq!(entries(&s.join("elsewhere")), Vec::<String>::new());
        assert_eq!(mode(&s.join("elsewhere")), 0o755);
        assert_eq!(
            entries(&s.0),
            vec!["elsewhere", "file", "link", "open", "p.cfg.lua"]
        );
    }

    #[test]
    fn second_lock_times_out_naming_the_lock() {
        let s = Scratch::new("lock");
        let cfg = s.join("p.cfg.lua");
        std::fs::write(&cfg, "").unwrap();
        // As root the lock is a file under LOCK_DIR only root can open;
        // otherwise the config's directory.
        let lock = if is_root() {
            lock_path(&cfg)
        } else {
            s.0.clone()
        };
        let held = Lock::acquire(&cfg, Duration::from_secs(1)).unwrap();
        let c = cfg.clone();
        let e = std::thread::spawn(move || Lock::acquire(&c, Duration::from_millis(200)).err())
            .join()
            .unwrap()
            .expect("the second lock must not be granted while the first is held");
        assert_eq!(e.kind, ErrorKind::TimedOut);
        assert!(
            e.message.contains("timed out after 200 ms")
                && e.message.contains(&lock.display().to_string())
                && e.message.contains(&cfg.display().to_string())
                && !e.message.contains("another fogbow-xmpp-ctl is editing"),
            "{e}"
        );
        drop(held);
        let c = cfg.clone();
        std::thread::spawn(move || Lock::acquire(&c, Duration::from_millis(200)).map(drop))
            .join()
            .unwrap()
            .unwrap();
        if is_root() {
            let m = std::fs::symlink_metadata(LOCK_DIR).unwrap();
            assert!(m.is_dir() && m.uid() == 0 && m.mode() & 0o7777 == 0o700);
            assert_eq!(mode(&lock), 0o600);
            let _ = std::fs::remove_file(&lock);
            // Another config, another lock: not held by the first.
            assert_ne!(lock_path(&cfg), lock_path(&s.join("q.cfg.lua")));
        } else {
            let e = Lock::acquire(&s.join("nope/p"), Duration::from_millis(10)).unwrap_err();
            assert!(e.message.contains("does not exist"), "{e}");
        }
    }

    #[test]
    fn stale_temp_files_are_ours_only() {
        let s = Scratch::new("stale");
        let t = s.join("f");
        for n in [
            ".f.fxc-1-deadbeef.tmp",
            ".f.fxc-22-0123ABCD.tmp",
            ".f.fxc-1-deadbee.tmp",
            ".f.fxc-x-deadbeef.tmp",
            ".g.fxc-1-deadbeef.tmp",
            ".ff.fxc-1-deadbeef.tmp",
            "f",
            ".f.swp",
        ] {
            std::fs::write(s.join(n), "").unwrap();
        }
        assert_eq!(remove_stale_temp_files(&t).unwrap(), 2);
        assert_eq!(
            entries(&s.0),
            vec![
                ".f.fxc-1-deadbee.tmp",
                ".f.fxc-x-deadbeef.tmp",
                ".f.swp",
                ".ff.fxc-1-deadbeef.tmp",
                ".g.fxc-1-deadbeef.tmp",
                "f"
            ]
        );
        // Our own temp names are recognised by the cleanup.
        let (p, f) = create_temp(&t).unwrap();
        drop(f);
        assert_eq!(mode(&p), 0o600);
        assert!(is_temp_name(p.file_name().unwrap(), &temp_prefix(&t)));
        assert_eq!(remove_stale_temp_files(&t).unwrap(), 1);
        assert!(!p.exists());
    }

    #[test]
    fn temp_file_open_never_follows_planted_paths() {
        let s = Scratch::new("planted");
        // A dangling symlink: following it would create "victim".
        std::os::unix::fs::symlink(s.join("victim"), s.join("planted")).unwrap();
        let e = open_new(&s.join("planted"), 0o600).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(!s.join("victim").exists());
        // A symlink to an existing file: not truncated, not written.
        std::fs::write(s.join("secret"), "keep").unwrap();
        std::os::unix::fs::symlink(s.join("secret"), s.join("planted2")).unwrap();
        let e = open_new(&s.join("planted2"), 0o600).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        // A plain file already there.
        let e = open_new(&s.join("secret"), 0o600).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(s.join("secret")).unwrap(), b"keep");
    }

    #[test]
    fn only_root_may_keep_another_users_owner() {
        assert_eq!(owner_change((5, 6), (5, 6), false), Ok((None, None)));
        assert_eq!(owner_change((5, 7), (5, 6), false), Ok((None, Some(7))));
        assert!(owner_change((0, 7), (5, 6), false)
            .unwrap_err()
            .contains("only root"));
        assert_eq!(owner_change((0, 7), (0, 0), true), Ok((None, Some(7))));
        assert_eq!(owner_change((5, 7), (0, 0), true), Ok((Some(5), Some(7))));
    }

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
    }

    #[test]
    fn timestamps_are_utc_and_sortable() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000.000000000Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(1_795_566_896)),
            "20261125T003456.000000000Z"
        );
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::new(951_825_600, 7)),
            "20000229T120000.000000007Z"
        );
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(1_735_689_599)),
            "20241231T235959.000000000Z"
        );
        assert!(is_timestamp(&timestamp(SystemTime::now())));
        assert!(!is_timestamp("20241231T235959.00000000xZ"));
        let a = timestamp(UNIX_EPOCH + Duration::new(1_735_689_599, 999_999_999));
        let b = timestamp(UNIX_EPOCH + Duration::from_secs(1_735_689_600));
        assert!(a < b, "{a} < {b}");
    }

    #[test]
    fn backup_names_are_unambiguous() {
        let p = |s: &str| backup_prefix(Path::new(s));
        assert_eq!(
            p("/etc/prosody/prosody.cfg.lua"),
            "etc_prosody_prosody.cfg.lua."
        );
        // The collision of finding 7: '_' in a name vs a directory separator.
        assert_eq!(p("/d/x_y.cfg.lua"), "d_x%5Fy.cfg.lua.");
        assert_eq!(p("/d/x/y.cfg.lua"), "d_x_y.cfg.lua.");
        assert_eq!(p("/d/x%5Fy.cfg.lua"), "d_x%255Fy.cfg.lua.");
        assert_eq!(p("/a b/ü"), "a%20b_%C3%BC.");
        let raw = PathBuf::from(OsString::from_vec(b"/d/\xff.lua".to_vec()));
        assert_eq!(backup_prefix(&raw), "d_%FF.lua.");
        // Too long for a file name: a hash no path encodes to.
        let long = format!("/{}", "x".repeat(300));
        let h = p(&long);
        assert!(h.starts_with("%sha1-") && h.len() == 6 + 40 + 1, "{h}");
        assert_ne!(h, p(&format!("/{}", "x".repeat(301))));
        // Distinct paths, distinct prefixes, and no prefix is a prefix of
        // another one followed by a timestamp.
        let paths = ["/a/b", "/a_b", "/a%5Fb", "/a/b.", "/a/b.x", "/ab", "/a//b"];
        for (i, a) in paths.iter().enumerate() {
            for b in &paths[i + 1..] {
                if Path::new(a) != Path::new(b) {
                    assert_ne!(p(a), p(b), "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn who_else_can_read_or_write() {
        assert!(others_with(0o640, None, 4, false).is_empty());
        assert_eq!(
            others_with(0o644, None, 4, false),
            vec!["mode 0644 lets every local user read it"]
        );
        assert!(others_with(0o644, None, 2, true).is_empty());
        assert_eq!(
            others_with(0o664, None, 2, true),
            vec!["mode 0664 lets its group write it"]
        );
        // version 2; user_obj rw; user 65534 r; group_obj r; group 7 rw; mask r; other none.
        let entry = |tag: u16, perm: u16, id: u32| {
            [
                tag.to_le_bytes().to_vec(),
                perm.to_le_bytes().to_vec(),
                id.to_le_bytes().to_vec(),
            ]
            .concat()
        };
        let acl = |mask: u16| {
            [
                2u32.to_le_bytes().to_vec(),
                entry(0x01, 6, u32::MAX),
                entry(0x02, 4, 65534),
                entry(0x04, 4, u32::MAX),
                entry(0x08, 6, 7),
                entry(0x10, mask, u32::MAX),
                entry(0x20, 0, u32::MAX),
            ]
            .concat()
        };
        assert_eq!(
            others_with(0o640, Some(&acl(4)), 4, false),
            vec![
                "its ACL lets uid 65534 read it",
                "its ACL lets gid 7 read it"
            ]
        );
        // The mask limits named entries: r-- leaves gid 7 no write.
        assert!(others_with(0o640, Some(&acl(4)), 2, false).is_empty());
        assert_eq!(
            others_with(0o660, Some(&acl(6)), 2, false),
            vec!["its ACL lets gid 7 write it"]
        );
        assert!(others_with(0o600, Some(&acl(0)), 4, false).is_empty());
        // Garbage is no entry, not a panic.
        assert!(others_with(0o600, Some(&[1, 2, 3, 4, 5]), 4, false).is_empty());
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

    #[test]
    fn which_xattrs_must_be_copied() {
        for errno in [libc::EPERM, libc::ENOTSUP, libc::ENOSPC] {
            assert!(xattr_must_copy(b"system.posix_acl_access", Some(errno)));
            assert!(!xattr_must_copy(b"user.x", Some(errno)));
        }
        assert!(xattr_must_copy(b"security.selinux", Some(libc::EPERM)));
        assert!(xattr_must_copy(b"trusted.x", Some(libc::EPERM)));
        assert!(!xattr_must_copy(b"trusted.x", Some(libc::ENOTSUP)));
    }

    #[test]
    fn prepared_is_complete_and_dropping_it_changes_nothing() {
        let s = Scratch::new("prepared");
        let t = s.join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o640)).unwrap();
        let xattrs_work = {
            let f = File::open(&t).unwrap();
            rustix::fs::fsetxattr(&f, "user.fxc", b"kept", XattrFlags::empty()).is_ok()
        };
        let p = prepare(&t, b"new").unwrap();
        assert_eq!(p.target(), t);
        let tmp = p.temp_path().to_path_buf();
        assert_eq!(tmp.parent(), t.parent());
        assert_eq!(std::fs::read(&tmp).unwrap(), b"new");
        assert_eq!(mode(&tmp), 0o640);
        if xattrs_work {
            let f = File::open(&tmp).unwrap();
            let got = xattr(&f, &std::ffi::CString::new("user.fxc").unwrap()).unwrap();
            assert_eq!(got.as_deref(), Some(&b"kept"[..]));
        }
        drop(p);
        assert_eq!(std::fs::read(&t).unwrap(), b"old");
        assert_eq!(entries(&s.0), vec!["p.cfg.lua"]);
        // Committed: the temp is the file now.
        let p = prepare(&t, b"new").unwrap();
        assert_eq!(p.commit(None).unwrap(), None);
        assert_eq!(std::fs::read(&t).unwrap(), b"new");
        assert_eq!(entries(&s.0), vec!["p.cfg.lua"]);
    }

    #[test]
    fn commit_all_writes_every_backup_before_any_rename() {
        let s = Scratch::new("commitall");
        let a = s.join("a.cfg.lua");
        let b = s.join("b.cfg.lua");
        std::fs::write(&a, "a0").unwrap();
        std::fs::write(&b, "b0").unwrap();
        // A backup directory we refuse: nothing renamed, no backup, no temp.
        std::fs::create_dir(s.join("open")).unwrap();
        std::fs::set_permissions(s.join("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let bad = Backups {
            dir: s.join("open"),
            keep: 3,
        };
        let both = vec![prepare(&a, b"a1").unwrap(), prepare(&b, b"b1").unwrap()];
        let e = commit_all(both, Some(&bad)).unwrap_err();
        assert!(e.message.contains("writable by group or others"), "{e}");
        assert_eq!(std::fs::read(&a).unwrap(), b"a0");
        assert_eq!(std::fs::read(&b).unwrap(), b"b0");
        assert_eq!(entries(&s.0), vec!["a.cfg.lua", "b.cfg.lua", "open"]);
        // A file that cannot be prepared: the one prepared before is dropped.
        let first = prepare(&a, b"a1").unwrap();
        assert!(prepare(&s.join("missing/c"), b"c").is_err());
        drop(first);
        assert_eq!(entries(&s.0), vec!["a.cfg.lua", "b.cfg.lua", "open"]);
        // Both committed, each with its backup.
        let good = Backups {
            dir: s.join("backups"),
            keep: 3,
        };
        let both = vec![prepare(&a, b"a1").unwrap(), prepare(&b, b"b1").unwrap()];
        let written = commit_all(both, Some(&good)).unwrap();
        assert_eq!(std::fs::read(written[0].as_ref().unwrap()).unwrap(), b"a0");
        assert_eq!(std::fs::read(written[1].as_ref().unwrap()).unwrap(), b"b0");
        assert_eq!(std::fs::read(&b).unwrap(), b"b1");
    }

    #[test]
    fn resolve_follows_links_as_the_kernel_does() {
        let s = Scratch::new("resolve");
        std::fs::create_dir_all(s.join("avail")).unwrap();
        std::fs::create_dir_all(s.join("d")).unwrap();
        std::fs::write(s.join("avail/x.lua"), "").unwrap();
        std::os::unix::fs::symlink("../avail/x.lua", s.join("d/x.lua")).unwrap();
        std::os::unix::fs::symlink(s.join("d"), s.join("dl")).unwrap();
        let real = std::fs::canonicalize(s.join("avail/x.lua")).unwrap();
        assert_eq!(resolve(&s.join("dl/x.lua")).unwrap(), real);
        assert_eq!(resolve(&s.join("d/../dl/./x.lua")).unwrap(), real);
        std::os::unix::fs::symlink("loop", s.join("loop")).unwrap();
        let e = resolve(&s.join("loop")).unwrap_err();
        assert!(
            e.message.contains("Too many levels of symbolic links"),
            "{e}"
        );
        assert!(resolve(&s.join("d/missing"))
            .unwrap_err()
            .message
            .contains("does not exist"));
        if is_root() {
            // Another user's link to a file that user does not own.
            std::os::unix::fs::lchown(s.join("d/x.lua"), Some(4242), None).unwrap();
            let e = resolve(&s.join("dl/x.lua")).unwrap_err();
            assert!(
                e.message.starts_with(&format!(
                    "refusing to follow the symbolic link {} (owned by uid 4242)",
                    s.join("d/x.lua").display()
                )),
                "{e}"
            );
            // ... to a file that user owns: its own file, followed.
            std::os::unix::fs::chown(s.join("avail/x.lua"), Some(4242), None).unwrap();
            assert_eq!(resolve(&s.join("dl/x.lua")).unwrap(), real);
        }
    }

    #[test]
    fn trust_checks_refuse_what_others_can_write() {
        let s = Scratch::new("trust");
        let f = s.join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = || File::open(&f).unwrap();
        check_trusted("the file", &f, &open()).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o646)).unwrap();
        let e = check_trusted("the file", &f, &open()).unwrap_err();
        assert!(e.message.contains("lets every local user write it"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_backup(&f).unwrap(), b"x");
        std::os::unix::fs::symlink(&f, s.join("l")).unwrap();
        let e = read_backup(&s.join("l")).unwrap_err();
        assert!(e.message.contains("symbolic link"), "{e}");
        if is_root() {
            std::os::unix::fs::chown(&f, Some(4242), None).unwrap();
            let e = read_backup(&f).unwrap_err();
            assert!(e.message.contains("belongs to uid 4242"), "{e}");
        }
        // Ancestors: a directory others can write without the sticky bit.
        std::fs::create_dir(s.join("open")).unwrap();
        std::fs::set_permissions(s.join("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(s.join("open/g"), "").unwrap();
        let real = std::fs::canonicalize(s.join("open/g")).unwrap();
        let e = check_ancestors("the file", &real).unwrap_err();
        assert!(e.message.contains("lets others replace it"), "{e}");
        std::fs::set_permissions(s.join("open"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        check_ancestors("the file", &real).unwrap();
        // A relative backup directory is never used.
        let e = check_backup_dir(Path::new("backups")).unwrap_err();
        assert!(e.message.contains("not an absolute path"), "{e}");
    }
}
