//! Previous versions: one private directory for the backups of many files,
//! names that never collide and sort in time order, pruning to a count, and
//! the checks that keep a planted "backup" from being restored.
//!
//! Beside the backups, one *edit record* per edit (`PREFIX.TIMESTAMP.edit`,
//! PREFIX the main config's): which command made it, for which component,
//! and per file it touched its backup (none: the edit created the file) and
//! the SHA-1 of what was written (none: the edit removed it). `restore
//! --list` joins backups with them to say what made each one, and `restore
//! --undo` uses the newest to undo exactly that edit, and only while every
//! file is still what was written. A record's name is never a backup's
//! (its tail is not a bare timestamp), so backups made before records
//! existed are still listed, without a command.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::libc;

use super::{
    check_ancestors, check_trusted, io_error, open_dir, open_new, open_trusted, sha1_hex, sync_dir,
    unreadable, PathRefusal, WriteError,
};

/// Where previous versions go, and how many to keep per file (0: none).
#[derive(Debug, Clone)]
pub struct Backups {
    pub(crate) dir: PathBuf,
    pub(crate) keep: usize,
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
/// an existing one must pass the checks of [`check_backup_dir`]: what a
/// restore installs comes from there.
pub(crate) fn list_backups(dir: &Path, target: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let prefix = backup_prefix(target);
    scan(dir, |n| n.strip_prefix(&prefix).is_some_and(is_timestamp))
}

/// The regular files of the backup directory whose names `ours` accepts,
/// sorted by name. A missing `dir` has none; an existing one must pass the
/// checks of [`check_backup_dir`].
fn scan(dir: &Path, ours: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, WriteError> {
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
        if name.to_str().is_some_and(&ours) && entry.file_type().map_err(read)?.is_file() {
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
pub(super) fn write(target: &Path, b: &Backups) -> Result<PathBuf, WriteError> {
    ensure_backup_dir(&b.dir)?;
    let current = std::fs::read(target).map_err(|e| io_error("read", target, e))?;
    let prefix = backup_prefix(target);
    write_stamped(&b.dir, |t| format!("{prefix}{t}"), &current, "the backup")
}

/// Writes `bytes` into a new 0600 file of `dir` named by `name` from a
/// time stamp (the next nanosecond when two fall within one clock tick),
/// fsynced with its directory; `what` names it in an error.
fn write_stamped(
    dir: &Path,
    name: impl Fn(&str) -> String,
    bytes: &[u8],
    what: &str,
) -> Result<PathBuf, WriteError> {
    let mut t = SystemTime::now();
    let mut tries = 0;
    let (path, mut f) = loop {
        let path = dir.join(name(&timestamp(t)));
        match open_new(&path, 0o600) {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && tries < 1000 => {
                t += Duration::from_nanos(1);
                tries += 1;
            }
            Err(e) => return Err(io_error(&format!("write {what} in"), dir, e)),
        }
    };
    // Exactly 0600 whatever the umask.
    let written = f
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(&path);
        return Err(io_error(&format!("write {what}"), &path, e));
    }
    sync_dir(dir);
    Ok(path)
}

/// Keeps only the newest `keep` backups of `target`.
pub(super) fn prune(b: &Backups, target: &Path) -> Result<(), WriteError> {
    let all = list_backups(&b.dir, target)?;
    for old in &all[..all.len().saturating_sub(b.keep)] {
        std::fs::remove_file(old).map_err(|e| io_error("remove", old, e))?;
    }
    Ok(())
}

/// One edit, as recorded beside its backups (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct EditRecord {
    /// `add`, `remove`, `listen`, `restore` or `undo`.
    pub(crate) command: String,
    /// The outcome's action (`added`, `removed`, …).
    pub(crate) action: String,
    /// The component (or "component listener", or the backup restored).
    pub(crate) name: String,
    pub(crate) files: Vec<FileRecord>,
    /// When the edit moved the component's secret between the config and
    /// an encrypted credential: `to-credential` or `to-config`.
    /// An undo of `to-credential` cannot put the literal back from the
    /// backup (the backups are scrubbed of it): it decrypts it instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) moved: Option<String>,
    /// When the edit replaced a string secret by a new one stored in a
    /// credential (a rotation): the file name, in the backup
    /// directory, of the old string encrypted as that credential (see
    /// [`write_old_secret`]). The backups are scrubbed of the old string;
    /// an undo decrypts it from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) old_secret: Option<String>,
}

/// One file an edit touched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FileRecord {
    /// Its real path, for people (lossy where the path is not UTF-8).
    pub(crate) path: String,
    /// Its real path's bytes in hex: the exact path.
    pub(crate) path_hex: String,
    /// The file name (in the backup directory) of its previous version;
    /// `None`: the edit created the file.
    pub(crate) backup: Option<String>,
    /// The SHA-1 (hex) of the bytes written; `None`: the edit removed it.
    pub(crate) written_sha1: Option<String>,
    /// A file outside the config and outside our credentials that the edit
    /// rewrote with them: `properties` (a Fogbow component's `.properties`,
    /// its `xmpp_password`). `None`: a file of the config, or ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
}

impl FileRecord {
    pub(crate) fn new(path: &Path, backup: Option<&Path>, written: Option<&[u8]>) -> FileRecord {
        FileRecord {
            path: path.to_string_lossy().into_owned(),
            path_hex: crate::text::hex::encode(path.as_os_str().as_bytes()),
            backup: backup
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned()),
            written_sha1: written.map(sha1_hex),
            kind: None,
        }
    }

    /// The exact path (from `path_hex`).
    pub(crate) fn real_path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStringExt;
        let h = self.path_hex.as_bytes();
        let digit = |c: u8| char::from(c).to_digit(16).unwrap_or(0) as u8;
        let bytes = h
            .chunks(2)
            .map(|p| digit(p[0]) << 4 | digit(*p.get(1).unwrap_or(&b'0')));
        PathBuf::from(std::ffi::OsString::from_vec(bytes.collect()))
    }
}

/// The SHA-1 (hex) of `bytes`, as [`FileRecord::written_sha1`] holds it.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    sha1_hex(bytes)
}

const RECORD_SUFFIX: &str = ".edit";

/// Writes the record of an edit of the config whose main file is `config`
/// (its real path), 0600 and fsynced, and keeps only the newest `keep`
/// records, as many as the backups.
pub(crate) fn write_record(
    b: &Backups,
    config: &Path,
    rec: &EditRecord,
) -> Result<PathBuf, WriteError> {
    ensure_backup_dir(&b.dir)?;
    let prefix = backup_prefix(config);
    let text = serde_json::to_vec_pretty(rec).expect("serialisable");
    let path = write_stamped(
        &b.dir,
        |t| format!("{prefix}{t}{RECORD_SUFFIX}"),
        &text,
        "the edit record",
    )?;
    let all = record_paths(&b.dir, config)?;
    for old in &all[..all.len().saturating_sub(b.keep)] {
        // An encrypted old secret goes with the record that names it.
        let named = read_backup(old)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<EditRecord>(&bytes).ok())
            .and_then(|r| r.old_secret);
        if let Some(f) = named.filter(|f| !f.contains('/')) {
            let _ = std::fs::remove_file(b.dir.join(f));
        }
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

/// The paths of the edit records of `config` in `dir`, oldest first.
fn record_paths(dir: &Path, config: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let prefix = backup_prefix(config);
    scan(dir, |n| {
        n.strip_prefix(&prefix)
            .and_then(|n| n.strip_suffix(RECORD_SUFFIX))
            .is_some_and(is_timestamp)
    })
}

/// The edit records of the config whose main file is `config`, oldest
/// first, each with the time it was made (as [`time_of`] says). A record
/// that another user could have written is refused like such a backup; one
/// that does not parse is skipped (undo then finds the files changed since
/// the record before it, and refuses).
pub(crate) fn list_records(
    dir: &Path,
    config: &Path,
) -> Result<Vec<(String, EditRecord)>, WriteError> {
    let mut out = Vec::new();
    for p in record_paths(dir, config)? {
        let bytes = read_backup(&p)?;
        if let Ok(rec) = serde_json::from_slice::<EditRecord>(&bytes) {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            let stamp = name
                .strip_suffix(RECORD_SUFFIX)
                .and_then(|n| n.get(n.len().saturating_sub(26)..))
                .unwrap_or_default();
            out.push((human_time(stamp), rec));
        }
    }
    Ok(out)
}

/// The backups and edit records of `config` in `dir`: its own backups,
/// its records, and the backups of every other file those records name (a
/// component's own `conf.d` file): what a scrub of one of its secrets
/// reads, and nothing of another config that shares the directory.
pub(crate) fn backups_and_records_of(
    dir: &Path,
    config: &Path,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), WriteError> {
    let records = record_paths(dir, config)?;
    let mut files = vec![config.to_path_buf()];
    for (_, rec) in list_records(dir, config)? {
        files.extend(rec.files.iter().map(FileRecord::real_path));
    }
    files.sort();
    files.dedup();
    let mut backups = Vec::new();
    for f in &files {
        backups.extend(list_backups(dir, f)?);
    }
    backups.sort();
    backups.dedup();
    Ok((backups, records))
}

/// Suffix of an encrypted old secret in the backup directory (never taken
/// for a backup: a backup's name ends in its time stamp).
const OLD_SECRET_SUFFIX: &str = ".old-secret.cred";

/// Keeps `cred` (a string secret a rotation replaced, already encrypted by
/// systemd-creds) beside the backups of `config`, 0600: what an undo of
/// that rotation decrypts. Returns its file name, for the edit record.
pub(crate) fn write_old_secret(
    b: &Backups,
    config: &Path,
    cred: &[u8],
) -> Result<String, WriteError> {
    ensure_backup_dir(&b.dir)?;
    let prefix = backup_prefix(config);
    let path = write_stamped(
        &b.dir,
        |t| format!("{prefix}{t}{OLD_SECRET_SUFFIX}"),
        cred,
        "the encrypted old secret",
    )?;
    Ok(path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// Leaves the empty 0600 marker file `name` in the backup directory (one
/// already there is kept): a note to the next run that outlives a kill,
/// found by [`markers`] and removed by [`remove_marker`]. `action` says
/// what the marker is for in an error (`mark a pending scrub in`).
pub(crate) fn put_marker(b: &Backups, name: &str, action: &str) -> Result<(), WriteError> {
    ensure_backup_dir(&b.dir)?;
    let path = b.dir.join(name);
    match open_new(&path, 0o600) {
        Ok(_) => {
            sync_dir(&b.dir);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error(action, &b.dir, e)),
    }
}

/// The names of the files in `dir` that start with `prefix`, the prefix
/// taken off, sorted.
pub(crate) fn markers(dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .map(String::from)
        })
        .collect();
    out.sort();
    out
}

/// Removes the marker file `name` from `dir`.
pub(crate) fn remove_marker(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(dir.join(name));
    sync_dir(dir);
}

/// Replaces a backup or record with `bytes` (a scrubbed version), `0600`,
/// atomically: a crash leaves the old or the new one, never a mix.
pub(crate) fn rewrite_backup(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let (temp, mut f) =
        super::temp::create(path).map_err(|e| io_error("create a temp file for", path, e))?;
    let written = f
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error("rewrite", path, e));
    }
    sync_dir(super::parent_dir(path));
    Ok(())
}

/// When the backup (or record) at `path` was made, from its name:
/// `2026-12-02 13:36:09 UTC`; `None` for a name that is not ours.
pub(crate) fn time_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stamp = name.get(name.len().checked_sub(26)?..)?;
    is_timestamp(stamp).then(|| human_time(stamp))
}

/// `YYYYMMDDTHHMMSS.nnnnnnnnnZ` as `YYYY-MM-DD HH:MM:SS UTC`.
fn human_time(stamp: &str) -> String {
    if !is_timestamp(stamp) {
        return stamp.to_string();
    }
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    )
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
pub(crate) fn check_backup_dir(dir: &Path) -> Result<(), WriteError> {
    let refuse = |why: PathRefusal| WriteError::refused("use the backup directory", dir, why);
    let me = nix::unistd::geteuid().as_raw();
    if !dir.is_absolute() {
        return Err(refuse(PathRefusal::NotAbsolute {
            setting: Some("backup_dir"),
        }));
    }
    let m =
        std::fs::symlink_metadata(dir).map_err(|e| io_error("use the backup directory", dir, e))?;
    if m.file_type().is_symlink() {
        return Err(refuse(PathRefusal::Symlink));
    }
    if !m.is_dir() {
        return Err(refuse(PathRefusal::NotDirectory));
    }
    if m.mode() & 0o022 != 0 {
        return Err(refuse(PathRefusal::GroupWritable {
            mode: m.mode() & 0o7777,
        }));
    }
    if m.uid() != me && m.uid() != 0 {
        return Err(refuse(PathRefusal::ForeignUid { uid: m.uid() }));
    }
    let d = open_dir(dir).map_err(|e| io_error("use the backup directory", dir, e))?;
    check_trusted("the backup directory", dir, &d)?;
    match std::fs::canonicalize(dir) {
        Ok(real) => check_ancestors("the backup directory", &real),
        Err(e) => Err(io_error("use the backup directory", dir, e)),
    }
}

/// Reads a backup to restore: it must be a regular file (not a symlink)
/// that only root or we can write, or it could be a planted "backup"
/// whose Lua runs as root at the next check.
pub(crate) fn read_backup(path: &Path) -> Result<Vec<u8>, WriteError> {
    let mut f = open_trusted(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => WriteError::refused("use the backup", path, PathRefusal::Symlink),
        _ => io_error("read", path, e),
    })?;
    let refused = |e| unreadable("use the backup", path, e);
    crate::secret::regular(&f).map_err(refused)?;
    check_trusted("the backup", path, &f)?;
    // Unbounded: a backup is a copy of a config file we read.
    crate::secret::read_at_most(&mut f, u64::MAX).map_err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safe_write::replace;
    use crate::safe_write::testing::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn backup_is_private_and_pruned_to_keep() {
        let s = scratch();
        let t = s.path().join("p.cfg.lua");
        let other = s.path().join("other.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        std::fs::write(&other, "o0").unwrap();
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o640)).unwrap();
        let b = Backups {
            dir: s.path().join("var/backups"),
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
        assert_eq!(entries(s.path()), vec!["other.cfg.lua", "p.cfg.lua", "var"]);
    }

    #[test]
    fn no_backup_when_keep_is_zero_or_none() {
        let s = scratch();
        let t = s.path().join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        let b = Backups {
            dir: s.path().join("backups"),
            keep: 0,
        };
        assert_eq!(replace(&t, b"a", Some(&b)).unwrap(), None);
        assert_eq!(replace(&t, b"b", None).unwrap(), None);
        assert_eq!(std::fs::read(&t).unwrap(), b"b");
        assert_eq!(entries(s.path()), vec!["p.cfg.lua"]);
        assert_eq!(list_backups(&b.dir, &t).unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn unsafe_backup_dirs_are_refused_and_target_untouched() {
        let s = scratch();
        let t = s.path().join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        // A symlink to a real directory: nothing may be written, or chmodded, through it.
        std::fs::create_dir(s.path().join("elsewhere")).unwrap();
        std::fs::set_permissions(
            s.path().join("elsewhere"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink(s.path().join("elsewhere"), s.path().join("link")).unwrap();
        std::fs::create_dir(s.path().join("open")).unwrap();
        std::fs::set_permissions(
            s.path().join("open"),
            std::fs::Permissions::from_mode(0o770),
        )
        .unwrap();
        std::fs::write(s.path().join("file"), "").unwrap();
        for (dir, why) in [
            ("link", "symbolic link"),
            ("open", "writable by group or others"),
            ("file", "not a directory"),
        ] {
            let b = Backups {
                dir: s.path().join(dir),
                keep: 3,
            };
            let e = replace(&t, b"new", Some(&b)).unwrap_err();
            assert!(
                e.to_string().contains(why) && e.to_string().contains(&b.dir.display().to_string()),
                "{e}"
            );
            assert_eq!(std::fs::read(&t).unwrap(), b"old");
        }
        assert_eq!(entries(&s.path().join("elsewhere")), Vec::<String>::new());
        assert_eq!(mode(&s.path().join("elsewhere")), 0o755);
        assert_eq!(
            entries(s.path()),
            vec!["elsewhere", "file", "link", "open", "p.cfg.lua"]
        );
    }

    #[test]
    fn edit_records_are_listed_apart_from_backups_and_pruned_alike() {
        let s = scratch();
        let t = s.path().join("p.cfg.lua");
        std::fs::write(&t, "old").unwrap();
        let b = Backups {
            dir: s.path().join("backups"),
            keep: 2,
        };
        let backup = replace(&t, b"new", Some(&b)).unwrap().unwrap();
        // A path that is not UTF-8 comes back exactly.
        let raw = PathBuf::from(OsString::from_vec(b"/d/\xff x.lua".to_vec()));
        let rec = |name: &str| EditRecord {
            old_secret: None,
            command: "add".into(),
            action: "added".into(),
            name: name.into(),
            files: vec![
                FileRecord::new(&t, Some(&backup), Some(b"new")),
                FileRecord::new(&raw, None, None),
            ],
            moved: None,
        };
        for n in ["a", "b", "c"] {
            let p = write_record(&b, &t, &rec(n)).unwrap();
            assert_eq!(mode(&p), 0o600);
            assert!(time_of(Path::new(
                p.to_str().unwrap().strip_suffix(".edit").unwrap()
            ))
            .is_some());
        }
        // Records are never backups, and backups never records.
        assert_eq!(list_backups(&b.dir, &t).unwrap(), vec![backup.clone()]);
        let got = list_records(&b.dir, &t).unwrap();
        let names: Vec<&str> = got.iter().map(|(_, r)| r.name.as_str()).collect();
        assert_eq!(names, ["b", "c"], "pruned to keep, oldest first");
        let (time, r) = &got[1];
        assert!(time.ends_with(" UTC") && time.len() == 23, "{time}");
        assert_eq!(r, &rec("c"));
        assert_eq!(
            r.files[0].backup.as_deref(),
            backup.file_name().unwrap().to_str()
        );
        assert_eq!(
            r.files[0].written_sha1.as_deref(),
            Some(content_hash(b"new").as_str())
        );
        assert_eq!(r.files[0].real_path(), t);
        assert_eq!(r.files[1].real_path(), raw);
        // Another file's records are not this one's.
        let other = s.path().join("p.cfg.lua.x");
        assert!(list_records(&b.dir, &other).unwrap().is_empty());
        // A record that does not parse is skipped; one others can write is refused.
        let p = write_record(&b, &t, &rec("d")).unwrap();
        std::fs::write(&p, "{").unwrap();
        let names: Vec<String> = list_records(&b.dir, &t)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r.name)
            .collect();
        assert_eq!(names, ["c"]);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = list_records(&b.dir, &t).unwrap_err();
        assert!(
            e.to_string().contains("lets every local user write it"),
            "{e}"
        );
    }

    #[test]
    fn backup_times_read_from_names() {
        assert_eq!(
            time_of(Path::new("/b/etc_p.cfg.lua.20261202T134046.878209517Z")).as_deref(),
            Some("2026-12-02 13:40:46 UTC")
        );
        assert_eq!(time_of(Path::new("/b/short")), None);
        assert_eq!(
            time_of(Path::new("/b/etc_p.cfg.lua.20261202T134046.87820951xZ")),
            None
        );
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
}
