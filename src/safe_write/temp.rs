//! The new version's temp file: a hidden name next to the target that no
//! loader globs, created without following anything planted there, and
//! cleaned up after a run that was killed mid-write.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{open_new, parent_dir};

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
    let hex = crate::text::hex::encode(&r);
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
pub(super) fn create(target: &Path) -> std::io::Result<(PathBuf, File)> {
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

/// Removes temp files of our naming next to `target`, left by a run killed
/// mid-write. Call only while holding the [`Lock`](super::Lock): then no live run can own
/// them. Returns how many were removed.
pub(crate) fn remove_stale_temp_files(target: &Path) -> std::io::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_write::testing::*;

    #[test]
    fn stale_temp_files_are_ours_only() {
        let s = scratch();
        let t = s.path().join("f");
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
            std::fs::write(s.path().join(n), "").unwrap();
        }
        assert_eq!(remove_stale_temp_files(&t).unwrap(), 2);
        assert_eq!(
            entries(s.path()),
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
        let (p, f) = create(&t).unwrap();
        drop(f);
        assert_eq!(mode(&p), 0o600);
        assert!(is_temp_name(p.file_name().unwrap(), &temp_prefix(&t)));
        assert_eq!(remove_stale_temp_files(&t).unwrap(), 1);
        assert!(!p.exists());
    }
}
