//! Safe replacement of a config file: lock, backup, temp file with the
//! original's owner and mode, fsync, rename, fsync of the directory.
//!
//! The file holds secrets (Debian ships it `root:prosody 0640`), prosody may
//! read it at any moment, and we may be killed at any moment: so the new
//! bytes go to a temp file in the same directory that has the right owner
//! and mode *before* its first byte, and a rename swaps it in atomically.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::libc;

/// A failure, as one operator-facing line that names the path.
#[derive(Debug)]
pub struct WriteError {
    pub message: String,
    pub kind: ErrorKind,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriteError {}

/// Maps an io::Error of `action` on `path` to a message with a hint.
pub fn io_error(action: &str, path: &Path, e: std::io::Error) -> WriteError {
    let p = path.display();
    let message = match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            format!("permission denied: cannot {action} {p} (run with sudo?)")
        }
        Some(libc::EROFS) => format!("cannot {action} {p}: it is on a read-only file system"),
        Some(libc::ENOSPC) => format!("cannot {action} {p}: no space left on device"),
        Some(libc::EDQUOT) => format!("cannot {action} {p}: disk quota exceeded"),
        Some(libc::ENOENT) => format!("cannot {action} {p}: No such file or directory"),
        _ => format!("cannot {action} {p}: {}", crate::secret::plain_io(&e)),
    };
    WriteError {
        message,
        kind: e.kind(),
    }
}

/// An exclusive lock that serialises read-modify-write of one config set.
///
/// It locks the *directory* holding the main config: a lock on the file
/// itself would not survive our rename over it, and a directory lock leaves
/// no lock file behind in /etc. Released on drop.
pub struct Lock {
    _dir: File,
}

impl Lock {
    pub fn acquire(dir: &Path, timeout: Duration) -> Result<Lock, WriteError> {
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)
            .map_err(|e| io_error("lock", dir, e))?;
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: flock on a file descriptor we own.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                return Ok(Lock { _dir: f });
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io_error("lock", dir, e));
            }
            if Instant::now() >= deadline {
                return Err(WriteError {
                    message: format!(
                        "timed out after {} s waiting for the lock on {} (another fogbow-xmpp-ctl is editing it; see lock_timeout_secs)",
                        timeout.as_secs(),
                        dir.display()
                    ),
                    kind: ErrorKind::TimedOut,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Where previous versions go, and how many to keep per file.
#[derive(Debug, Clone)]
pub struct Backups {
    pub dir: PathBuf,
    pub keep: usize,
}

/// Replaces `target` (a real file, symlinks already resolved) with
/// `contents`; returns the backup written, if any. On any failure the
/// target is untouched and no temp file is left.
pub fn replace(
    target: &Path,
    contents: &[u8],
    backups: Option<&Backups>,
) -> Result<Option<PathBuf>, WriteError> {
    let meta = std::fs::metadata(target).map_err(|e| io_error("read", target, e))?;
    let dir = target.parent().unwrap_or(Path::new("/"));
    let (tmp_path, mut tmp) =
        create_temp(target).map_err(|e| io_error("write a temp file in", dir, e))?;
    let mut backup = None;
    let result = (|| {
        if meta.uid() != nix::unistd::geteuid().as_raw()
            || meta.gid() != nix::unistd::getegid().as_raw()
        {
            // SAFETY: fchown on a file descriptor we own.
            if unsafe { libc::fchown(tmp.as_raw_fd(), meta.uid(), meta.gid()) } != 0 {
                return Err(io_error(
                    "give the new file the owner of",
                    target,
                    std::io::Error::last_os_error(),
                ));
            }
        }
        tmp.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| io_error("set the mode of the new", target, e))?;
        tmp.write_all(contents)
            .map_err(|e| io_error("write", target, e))?;
        tmp.sync_all().map_err(|e| io_error("write", target, e))?;
        // The backup comes last, so a failed write leaves no backup of a change that never happened.
        if let Some(b) = backups.filter(|b| b.keep > 0) {
            backup = Some(write_backup(target, b)?);
        }
        std::fs::rename(&tmp_path, target).map_err(|e| io_error("replace", target, e))?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(e);
    }
    // The rename is durable only once the directory is on disk too.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(backup)
}

/// `.NAME.fxc-PID-RANDOM.tmp`: hidden, so prosody's `Include "*.cfg.lua"`
/// globs (which skip dot-files) never load a half-written file.
fn temp_name(target: &Path) -> String {
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        ".{name}.fxc-{}-{:02x}{:02x}{:02x}{:02x}.tmp",
        std::process::id(),
        r[0],
        r[1],
        r[2],
        r[3]
    )
}

/// Creates a fresh temp file next to `target`: `O_EXCL|O_NOFOLLOW`, so a
/// file or symlink planted at that name is never written through.
fn create_temp(target: &Path) -> std::io::Result<(PathBuf, File)> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    let path = dir.join(temp_name(target));
    let f = open_new(&path, 0o600)?;
    Ok((path, f))
}

fn open_new(path: &Path, mode: u32) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Removes temp files of our naming next to `target`, left by a killed run.
/// Call only while holding the [`Lock`]: then no live run owns them.
pub fn remove_stale_temp_files(target: &Path) -> std::io::Result<usize> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.fxc-");
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let f = entry.file_name();
        let f = f.to_string_lossy();
        if f.starts_with(&prefix) && f.ends_with(".tmp") && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// The backup name prefix of `target`: its path with `/` as `_`.
fn backup_prefix(target: &Path) -> String {
    let s = target.to_string_lossy();
    format!("{}.", s.trim_start_matches('/').replace('/', "_"))
}

/// Lists the backups of `target` in `dir`, oldest first.
pub fn list_backups(dir: &Path, target: &Path) -> std::io::Result<Vec<PathBuf>> {
    let prefix = backup_prefix(target);
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.strip_prefix(&prefix).is_some_and(is_timestamp)
            })
            .map(|e| e.path())
            .collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    v.sort();
    Ok(v)
}

fn is_timestamp(s: &str) -> bool {
    s.len() == 26 && s.as_bytes()[8] == b'T' && s.ends_with('Z')
}

/// `YYYYMMDDTHHMMSS.nnnnnnnnnZ` in UTC: names sort in time order.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Howard Hinnant's civil-from-days.
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

/// Copies the current bytes of `target` into the backup directory, then
/// prunes that file's backups to the newest `keep`.
fn write_backup(target: &Path, b: &Backups) -> Result<PathBuf, WriteError> {
    ensure_backup_dir(&b.dir)?;
    let current = std::fs::read(target).map_err(|e| io_error("read", target, e))?;
    let mut path = b.dir.join(format!(
        "{}{}",
        backup_prefix(target),
        timestamp(SystemTime::now())
    ));
    let mut f = loop {
        match open_new(&path, 0o600) {
            Ok(f) => break f,
            // Two edits within one nanosecond tick: take the next name.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                path = b.dir.join(format!(
                    "{}{}",
                    backup_prefix(target),
                    timestamp(SystemTime::now() + Duration::from_nanos(1))
                ));
            }
            Err(e) => return Err(io_error("write a backup in", &b.dir, e)),
        }
    };
    let written = f.write_all(&current).and_then(|_| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&path);
        return Err(io_error("write the backup", &path, e));
    }
    if let Ok(all) = list_backups(&b.dir, target) {
        for old in all.iter().take(all.len().saturating_sub(b.keep)) {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(path)
}

/// The backup directory must be ours: a real directory, not a symlink, not
/// writable by others (or a local user could read or plant backups).
fn ensure_backup_dir(dir: &Path) -> Result<(), WriteError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .or_else(|e| {
                    if e.kind() == ErrorKind::AlreadyExists {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| io_error("create the backup directory", dir, e))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io_error("set the mode of", dir, e))?;
            ensure_backup_dir_is_safe(dir)
        }
        Err(e) => Err(io_error("use the backup directory", dir, e)),
        Ok(_) => ensure_backup_dir_is_safe(dir),
    }
}

fn ensure_backup_dir_is_safe(dir: &Path) -> Result<(), WriteError> {
    let m =
        std::fs::symlink_metadata(dir).map_err(|e| io_error("use the backup directory", dir, e))?;
    let refuse = |why: &str| WriteError {
        message: format!(
            "refusing to use the backup directory {}: {why}",
            dir.display()
        ),
        kind: ErrorKind::PermissionDenied,
    };
    if m.file_type().is_symlink() {
        return Err(refuse("it is a symbolic link"));
    }
    if !m.is_dir() {
        return Err(refuse("it is not a directory"));
    }
    if m.mode() & 0o022 != 0 {
        return Err(refuse("it is writable by group or others"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fxc-sw-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_keeping_mode_and_leaves_no_temp() {
        let d = scratch("replace");
        let t = d.join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o640)).unwrap();
        let b = Backups {
            dir: d.join("backups"),
            keep: 2,
        };
        let backup = replace(&t, b"new", Some(&b)).unwrap().unwrap();
        assert_eq!(std::fs::read(&t).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&t).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read(&backup).unwrap(), b"old");
        assert_eq!(std::fs::metadata(&backup).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&b.dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(entries(&d), vec!["backups", "p.cfg.lua"]);
        for i in 0..3 {
            replace(&t, format!("v{i}").as_bytes(), Some(&b)).unwrap();
        }
        let kept = list_backups(&b.dir, &t).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(std::fs::read(&kept[1]).unwrap(), b"v1", "newest last");
        assert!(replace(
            &t,
            b"x",
            Some(&Backups {
                dir: d.join("none"),
                keep: 0
            })
        )
        .unwrap()
        .is_none());
        assert!(!d.join("none").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failures_leave_the_target_untouched() {
        let d = scratch("fail");
        let t = d.join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join("link")).unwrap();
        let e = replace(
            &t,
            b"new",
            Some(&Backups {
                dir: d.join("link"),
                keep: 3,
            }),
        )
        .unwrap_err();
        assert!(e.message.contains("symbolic link"), "{e}");
        std::fs::create_dir(d.join("open")).unwrap();
        std::fs::set_permissions(d.join("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = replace(
            &t,
            b"new",
            Some(&Backups {
                dir: d.join("open"),
                keep: 3,
            }),
        )
        .unwrap_err();
        assert!(e.message.contains("writable by group or others"), "{e}");
        let e = replace(&d.join("missing/p.cfg.lua"), b"new", None).unwrap_err();
        assert!(e.message.contains("No such file"), "{e}");
        assert_eq!(std::fs::read(&t).unwrap(), b"old");
        assert_eq!(entries(&d), vec!["link", "open", "p.cfg.lua"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn planted_paths_are_never_followed() {
        let d = scratch("planted");
        std::os::unix::fs::symlink("/etc/passwd-should-not-be-touched", d.join("planted")).unwrap();
        let e = open_new(&d.join("planted"), 0o600).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn lock_excludes_and_times_out() {
        let d = scratch("lock");
        let held = Lock::acquire(&d, Duration::from_secs(1)).unwrap();
        let d2 = d.clone();
        let e = std::thread::spawn(move || {
            Lock::acquire(&d2, Duration::from_millis(200))
                .err()
                .unwrap()
        })
        .join()
        .unwrap();
        assert!(
            e.message.contains("timed out") && e.message.contains(&d.display().to_string()),
            "{e}"
        );
        drop(held);
        Lock::acquire(&d, Duration::from_millis(200)).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn stale_temp_files_are_ours_only() {
        let d = scratch("stale");
        let t = d.join("f");
        for n in [
            ".f.fxc-1-deadbeef.tmp",
            ".f.fxc-2-00000000.tmp",
            ".g.fxc-1-deadbeef.tmp",
            "f",
            ".f.swp",
        ] {
            std::fs::write(d.join(n), "").unwrap();
        }
        assert_eq!(remove_stale_temp_files(&t).unwrap(), 2);
        assert_eq!(entries(&d), vec![".f.swp", ".g.fxc-1-deadbeef.tmp", "f"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn timestamps_are_utc_and_sortable() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000.000000000Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(1_795_566_896)),
            "20261125T003456.000000000Z"
        );
        assert!(is_timestamp(&timestamp(SystemTime::now())));
    }
}
