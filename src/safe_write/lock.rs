//! The edit lock: one read-modify-write of a config set at a time, and a
//! clear error instead of a hang when another holds it.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::libc;
use rustix::fs::{FlockOperation, Mode, OFlags};

use super::{io_error, open_dir, parent_dir, sha1_hex, PathRefusal, WriteError};

/// How often [`Lock::acquire`] retries: short enough not to add noticeable
/// latency, long enough not to spin.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// Where root's edit locks live: a directory only root can enter, so no
/// other user can open, let alone hold, a lock there.
pub(crate) const LOCK_DIR: &str = "/run/fogbow-xmpp-ctl";

/// An exclusive lock that serialises read-modify-write of one config set.
/// Released on drop (closing the descriptor drops the flock).
#[derive(Debug)]
pub struct Lock {
    file: File,
    /// Root's lock file: its directory and name, unlinked on drop while the
    /// flock is still held, so that `LOCK_DIR` does not fill with one file
    /// per config path ever edited.
    root: Option<(File, std::ffi::CString)>,
}

impl Drop for Lock {
    /// Unlinks root's lock file before the descriptor (and with it the
    /// flock) goes. Safe because every locker re-checks, after its flock
    /// succeeds, that the name still leads to the inode it locked
    /// (`still_linked`): one that locked the unlinked file retries with a
    /// fresh one instead of believing it holds the lock.
    fn drop(&mut self) {
        if let Some((dir, name)) = &self.root {
            if still_linked(dir, name, &self.file) {
                let _ = rustix::fs::unlinkat(dir, name.as_c_str(), rustix::fs::AtFlags::empty());
            }
        }
    }
}

impl Lock {
    /// Locks the config whose real path is `config_real`. As root: a file
    /// under `LOCK_DIR` (0700 root), which no other user can open: a lock
    /// anyone can take would let any local user stall root's edits. As any
    /// other user: the config's directory, as before: other users who can
    /// read that directory can hold it too, but a non-root caller edits only
    /// files it owns. Polls instead of blocking so that a stuck holder
    /// becomes a clear error after `timeout`, not a hang.
    pub fn acquire(config_real: &Path, timeout: Duration) -> Result<Lock, WriteError> {
        let root = nix::unistd::geteuid().is_root();
        let what = match root {
            true => lock_path(config_real),
            false => parent_dir(config_real).to_path_buf(),
        };
        let open = || match root {
            true => open_root_lock(&what).map(|(f, d)| (f, Some(d))),
            false => open_dir(&what)
                .map(|f| (f, None))
                .map_err(|e| io_error("lock", &what, e)),
        };
        let (mut f, mut dir) = open()?;
        // None: a timeout too large to represent, i.e. wait for ever.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let e = match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    if let Some((d, name)) = &dir {
                        if !still_linked(d, name, &f) {
                            // The holder we waited for unlinked this file on
                            // its way out: lock the one its name leads to now.
                            (f, dir) = open()?;
                            continue;
                        }
                    }
                    return Ok(Lock { file: f, root: dir });
                }
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
                return Err(WriteError::LockTimeout {
                    lock: what.to_path_buf(),
                    config: config_real.to_path_buf(),
                    timeout,
                });
            }
            std::thread::sleep(wait.min(LOCK_POLL));
        }
    }
}

/// Root's lock file for the config whose real path is `config_real`:
/// `LOCK_DIR/<SHA-1 of the path's bytes>.lock`, one per config, however the
/// operator named it.
pub(crate) fn lock_path(config_real: &Path) -> PathBuf {
    Path::new(LOCK_DIR).join(format!(
        "{}.lock",
        sha1_hex(config_real.as_os_str().as_bytes())
    ))
}

/// Whether `name` in `dir` is still the file `f` is open on (not unlinked
/// or replaced by a lock holder's [`Drop`]).
fn still_linked(dir: &File, name: &std::ffi::CStr, f: &File) -> bool {
    let Ok(held) = rustix::fs::fstat(f) else {
        return false;
    };
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_dev == held.st_dev && st.st_ino == held.st_ino)
}

/// Root's open lock file, with its directory and its name there.
type RootLock = (File, (File, std::ffi::CString));

/// Opens (creating it 0600) root's lock file `path` in [`LOCK_DIR`], which
/// is created 0700 if missing and refused unless it is a real directory
/// owned by root with mode 0700; also returns that directory and the
/// file's name in it, for [`still_linked`] and the unlink on drop.
fn open_root_lock(path: &Path) -> Result<RootLock, WriteError> {
    let dir = Path::new(LOCK_DIR);
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error("create the lock directory", dir, e)),
    }
    let refuse = |why: PathRefusal| WriteError::refused("lock in", dir, why);
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => refuse(PathRefusal::LockDirKind),
            _ => io_error("open the lock directory", dir, e),
        })?;
    let m = d
        .metadata()
        .map_err(|e| io_error("open the lock directory", dir, e))?;
    if m.uid() != 0 || m.mode() & 0o7777 != 0o700 {
        return Err(refuse(PathRefusal::LockDirOwner {
            uid: m.uid(),
            mode: m.mode() & 0o7777,
        }));
    }
    let name = std::ffi::CString::new(path.file_name().unwrap_or_default().as_bytes())
        .map_err(|_| refuse(PathRefusal::LockName))?;
    // Relative to the directory we judged, so it cannot be swapped meanwhile.
    let fd = rustix::fs::openat(
        &d,
        name.as_c_str(),
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| io_error("lock", path, e.into()))?;
    Ok((File::from(fd), (d, name)))
}

/// "30 s", or "200 ms" for the sub-second timeouts of tests.
pub(super) fn human_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 || d.as_secs() >= 10 {
        format!("{} s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_write::testing::*;

    #[test]
    fn second_lock_times_out_naming_the_lock() {
        let s = scratch();
        let cfg = s.path().join("p.cfg.lua");
        std::fs::write(&cfg, "").unwrap();
        // As root the lock is a file under LOCK_DIR only root can open;
        // otherwise the config's directory.
        let lock = if is_root() {
            lock_path(&cfg)
        } else {
            s.path().to_path_buf()
        };
        let held = Lock::acquire(&cfg, Duration::from_secs(1)).unwrap();
        if is_root() {
            assert_eq!(mode(&lock), 0o600);
        }
        let c = cfg.clone();
        let e = std::thread::spawn(move || Lock::acquire(&c, Duration::from_millis(200)).err())
            .join()
            .unwrap()
            .expect("the second lock must not be granted while the first is held");
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        assert!(
            e.to_string().contains("timed out after 200 ms")
                && e.to_string().contains(&lock.display().to_string())
                && e.to_string().contains(&cfg.display().to_string())
                && !e.to_string().contains("another fogbow-xmpp-ctl is editing"),
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
            // Another config, another lock: not held by the first.
            assert_ne!(lock_path(&cfg), lock_path(&s.path().join("q.cfg.lua")));
        } else {
            let e = Lock::acquire(&s.path().join("nope/p"), Duration::from_millis(10)).unwrap_err();
            assert!(e.to_string().contains("does not exist"), "{e}");
        }
    }

    /// Root's lock file goes when the lock is released, and unlinking it
    /// under contention never lets two holders in at once.
    #[test]
    fn root_lock_file_is_removed_on_release_and_stays_exclusive() {
        if !environment_allows(is_root(), "root_lock_file", "root") {
            return;
        }
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let s = scratch();
        let cfg = s.path().join("p.cfg.lua");
        std::fs::write(&cfg, "").unwrap();
        drop(Lock::acquire(&cfg, Duration::from_secs(1)).unwrap());
        assert!(
            std::fs::symlink_metadata(lock_path(&cfg)).is_err(),
            "{} left behind after the lock was released",
            lock_path(&cfg).display()
        );
        let inside = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (cfg, inside) = (cfg.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        let l = Lock::acquire(&cfg, Duration::from_secs(30)).unwrap();
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                        std::thread::yield_now();
                        inside.store(false, Ordering::SeqCst);
                        drop(l);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert!(std::fs::symlink_metadata(lock_path(&cfg)).is_err());
    }
}
