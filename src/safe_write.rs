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
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::libc;

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

/// An exclusive lock that serialises read-modify-write of one config set.
/// Released on drop (closing the descriptor drops the flock).
#[derive(Debug)]
pub struct Lock {
    _dir: File,
}

impl Lock {
    /// Locks the *directory* holding the main config: a lock on the file
    /// itself would not survive our rename over it, and a directory lock
    /// leaves no lock file behind in /etc. Polls instead of blocking so that
    /// a stuck holder becomes a clear error after `timeout`, not a hang.
    pub fn acquire(dir: &Path, timeout: Duration) -> Result<Lock, WriteError> {
        let f = open_dir(dir).map_err(|e| io_error("lock", dir, e))?;
        // None: a timeout too large to represent, i.e. wait for ever.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            // SAFETY: flock only operates on the descriptor, which `f` owns
            // and keeps open for the call.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Lock { _dir: f });
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => {}
                Some(libc::EINTR) => continue,
                _ => return Err(io_error("lock", dir, e)),
            }
            let wait = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => LOCK_POLL,
            };
            if wait.is_zero() {
                return Err(WriteError::new(
                    ErrorKind::TimedOut,
                    format!(
                        "timed out after {} waiting for the lock on {} (another fogbow-xmpp-ctl is editing it; see lock_timeout_secs)",
                        human_duration(timeout),
                        dir.display()
                    ),
                ));
            }
            std::thread::sleep(wait.min(LOCK_POLL));
        }
    }
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
/// with `contents`; returns the backup written, if any.
///
/// Order: temp file (owner, mode, bytes, fsync), then the backup of the
/// current bytes, then the rename, then pruning old backups. The backup comes
/// after the new bytes are safely on disk, and pruning after the rename, so a
/// failed edit (disk full, say) neither leaves a backup of a change that
/// never happened nor prunes away an older backup. On any failure the target
/// is untouched and neither the temp file nor the new backup is left behind.
pub fn replace(
    target: &Path,
    contents: &[u8],
    backups: Option<&Backups>,
) -> Result<Option<PathBuf>, WriteError> {
    let meta = std::fs::symlink_metadata(target).map_err(|e| io_error("read", target, e))?;
    if !meta.file_type().is_file() {
        return Err(WriteError::new(
            ErrorKind::InvalidInput,
            format!(
                "refusing to replace {}: it is not a regular file",
                target.display()
            ),
        ));
    }
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
    let (tmp_path, mut tmp) =
        create_temp(target).map_err(|e| io_error("create a temp file in", dir, e))?;
    let mut backup = None;
    let result = (|| {
        prepare_temp(&mut tmp, target, meta.mode(), chown, contents)?;
        if let Some(b) = backups.filter(|b| b.keep > 0) {
            backup = Some(write_backup(target, b)?);
        }
        std::fs::rename(&tmp_path, target).map_err(|e| io_error("replace", target, e))
    })();
    drop(tmp);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp_path);
        if let Some(b) = &backup {
            let _ = std::fs::remove_file(b);
        }
        return Err(e);
    }
    // The rename is durable only once the directory is on disk too. The new
    // file is in place by now, so a failure here (e.g. EINVAL on a file
    // system without directory fsync) is not reported as a failed edit.
    sync_dir(dir);
    if let Some(b) = backups.filter(|_| backup.is_some()) {
        // Best effort: a failed prune must not turn a done edit into an error.
        let _ = prune_backups(b, target);
    }
    Ok(backup)
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

/// Gives the (still empty) temp file the original's owner and mode, then
/// its bytes, then fsyncs it: no byte of a secret ever sits in a file with
/// looser permissions than the original.
fn prepare_temp(
    tmp: &mut File,
    target: &Path,
    mode: u32,
    chown: (Option<u32>, Option<u32>),
    contents: &[u8],
) -> Result<(), WriteError> {
    if chown != (None, None) {
        // -1 leaves that id unchanged.
        let uid = chown.0.unwrap_or(libc::uid_t::MAX);
        let gid = chown.1.unwrap_or(libc::gid_t::MAX);
        // SAFETY: fchown only operates on the descriptor, which `tmp` owns.
        if unsafe { libc::fchown(tmp.as_raw_fd(), uid, gid) } != 0 {
            return Err(io_error(
                "give the new file the owner and group of",
                target,
                std::io::Error::last_os_error(),
            ));
        }
    }
    // After fchown, which clears the set-id bits.
    tmp.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| io_error("set the mode of the new", target, e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.sync_all())
        .map_err(|e| io_error("write", target, e))
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

/// The backup name prefix of `target`: its path without the leading '/',
/// with '/' as '_', then '.'. One directory can hold backups of many files.
fn backup_prefix(target: &Path) -> String {
    let s = target.to_string_lossy();
    let s = s.strip_prefix('/').unwrap_or(&s);
    format!("{}.", s.replace('/', "_"))
}

/// Lists the backups of `target` in `dir`, oldest first (the fixed-width
/// UTC timestamps sort by name in time order). A missing `dir` has none.
pub fn list_backups(dir: &Path, target: &Path) -> std::io::Result<Vec<PathBuf>> {
    let prefix = backup_prefix(target);
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut v = Vec::new();
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name();
        let ours = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .is_some_and(is_timestamp);
        if ours && entry.file_type()?.is_file() {
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
fn prune_backups(b: &Backups, target: &Path) -> std::io::Result<()> {
    let all = list_backups(&b.dir, target)?;
    for old in &all[..all.len().saturating_sub(b.keep)] {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

/// Creates the backup directory 0700 if missing. An existing one must be a
/// real directory, not writable by group or others, owned by us or root:
/// otherwise a local user could read the secrets in it or plant "backups"
/// that a restore would install.
fn ensure_backup_dir(dir: &Path) -> Result<(), WriteError> {
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
    let m =
        std::fs::symlink_metadata(dir).map_err(|e| io_error("use the backup directory", dir, e))?;
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
    Ok(())
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
    fn second_lock_times_out_naming_the_dir() {
        let s = Scratch::new("lock");
        let held = Lock::acquire(&s.0, Duration::from_secs(1)).unwrap();
        let d = s.0.clone();
        let e = std::thread::spawn(move || Lock::acquire(&d, Duration::from_millis(200)).err())
            .join()
            .unwrap()
            .expect("the second lock must not be granted while the first is held");
        assert_eq!(e.kind, ErrorKind::TimedOut);
        assert!(
            e.message.contains("timed out after 200 ms")
                && e.message.contains(&s.0.display().to_string()),
            "{e}"
        );
        drop(held);
        let d = s.0.clone();
        std::thread::spawn(move || Lock::acquire(&d, Duration::from_millis(200)).map(drop))
            .join()
            .unwrap()
            .unwrap();
        let e = Lock::acquire(&s.join("nope"), Duration::from_millis(10)).unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
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
}
