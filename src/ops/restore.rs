//! `restore`: a backup of the main config put back, or the last edit
//! undone, through the same pipeline as any edit (checked, safely
//! replaced, the current version backed up first, recorded).
//!
//! Each edit leaves a record beside its backups (see
//! [`safe_write::EditRecord`]): which command made it, for which component,
//! which files it touched, their backups and a hash of what was written.
//! `--list` joins the backups with the records; `--undo` undoes the newest
//! record exactly (a component added since an older backup is not lost, as
//! it would be by restoring that backup), and only while every file it
//! touched is still exactly what was written: a file changed since by hand
//! (or by an edit that left no record) is never overwritten by an undo.
//! An undo is an edit too, with its own record, so a second undo undoes
//! the undo (a redo); older edits are put back with `restore BACKUP`.

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::credstore::{self, MigrateTo, SysChange, SysFile, SysKind};
use super::pipeline;
use super::plan::{Change, NewFile, Plan};
use super::{Action, Context, EditOptions, EditOutcome};
use crate::error::refusal::{self, Since};
use crate::error::Error;
use crate::error::Missing;
use crate::prosody::config::ConfigSet;
use crate::safe_write;

/// A backup of a file of the config (the main config, or a file of its
/// own that `add --file` made), and what made it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    /// Its path.
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub backup: PathBuf,
    /// The file it is a backup of.
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub file: PathBuf,
    /// When it was made (the edit that replaced it): `2026-12-02 13:36:09 UTC`.
    pub time: Option<String>,
    /// The command whose edit made it (`add`, `remove`, `listen`,
    /// `restore`, `undo`); `None` for a backup made before edits were
    /// recorded, or whose record was pruned.
    pub command: Option<String>,
    /// The component that edit was about (for `listen`: "component
    /// listener"; for `restore`: the backup restored).
    pub name: Option<String>,
    /// The edit's outcome (`added`, `removed`, …).
    pub(crate) action: Option<String>,
}

/// `restore --list`: the backups, and the directory of the config they
/// belong to (symlinks resolved: the files are named relative to it).
#[derive(Debug, Clone)]
pub struct Backups {
    pub backups: Vec<BackupInfo>,
    pub config_dir: Option<PathBuf>,
}

/// The backups of the main config, and of the other files our recorded
/// edits touched (a component's own `conf.d` file), oldest first, each with
/// the time and the command and component of the edit that made it; and
/// the config's directory, as resolved to find them.
pub fn backups(ctx: &Context) -> Result<Backups, Error> {
    let real = std::fs::canonicalize(&ctx.config)
        .map_err(|e| safe_write::io_error("read", &ctx.config, e))?;
    let dir = &ctx.settings.backup_dir;
    let mut paths: Vec<(PathBuf, PathBuf)> = safe_write::list_backups(dir, &real)?
        .into_iter()
        .map(|b| (b, real.clone()))
        .collect();
    let mut made_by: HashMap<String, safe_write::EditRecord> = HashMap::new();
    for (_, rec) in safe_write::list_records(dir, &real)? {
        for f in &rec.files {
            if let Some(b) = &f.backup {
                made_by.insert(b.clone(), rec.clone());
                let file = f.real_path();
                // Only what `restore` takes: a file of the config (never a
                // credential, our drop-in or a `.properties`).
                if file != real && is_config_file(ctx, f) && dir.join(b).is_file() {
                    paths.push((dir.join(b), file));
                }
            }
        }
    }
    let mut list: Vec<BackupInfo> = paths
        .into_iter()
        .map(|(backup, file)| {
            let rec = backup
                .file_name()
                .and_then(|n| made_by.get(&*n.to_string_lossy()));
            BackupInfo {
                time: safe_write::time_of(&backup),
                command: rec.map(|r| r.command.clone()),
                name: rec.map(|r| r.name.clone()),
                action: rec.map(|r| r.action.clone()),
                backup,
                file,
            }
        })
        .collect();
    // Oldest first; the time stamp ends each name.
    list.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.backup.cmp(&b.backup)));
    list.dedup_by(|a, b| a.backup == b.backup);
    Ok(Backups {
        backups: list,
        config_dir: real.parent().map(Path::to_path_buf),
    })
}

/// Puts a backup back (of the main config, or of another file a recorded
/// edit touched, created again if it is gone): checked like any edit,
/// written with the same safe replacement, the current version backed up
/// first. The credentials the edit that made the backup changed are put
/// back with it, in the same edit (the drop-in follows the restored
/// config). A config that does not load is replaced all the same when the
/// backup makes it load and pass check: that is what backups are for.
pub fn restore(ctx: &Context, backup: &Path, opts: EditOptions) -> Result<EditOutcome, Error> {
    let known = backups(ctx)?.backups;
    let chosen = known
        .iter()
        .find(|b| b.backup.as_path() == backup || b.backup.file_name() == Some(backup.as_os_str()))
        .cloned()
        .ok_or_else(|| {
            Error::NotFound(Missing::Backup {
                backup: backup.to_path_buf(),
                config: ctx.config.clone(),
                dir: ctx.settings.backup_dir.clone(),
            })
        })?;
    // Not a file another user could have planted or changed.
    let bytes = safe_write::read_backup(&chosen.backup)?;
    let name = chosen
        .backup
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let system = credentials_before(ctx, &name)?;
    let file = chosen.file;
    let broken = matches!(
        crate::prosody::config::ConfigSet::load(&ctx.config),
        Err(e) if !matches!(e, crate::prosody::config::LoadError::Unreadable { from: None, .. })
    );
    let extra = pipeline::Extra {
        recovery: broken.then(|| (file.clone(), bytes.clone())),
        ..pipeline::Extra::default()
    };
    pipeline::edit_full(ctx, &name, opts, extra, move |set| {
        let verify: super::plan::Verify = Box::new(|_| Ok(()));
        let mut plan = Plan::of_main(None, verify);
        // The backup loading (parse, includes) and passing the checks is the test.
        match set.files.iter().position(|f| f.real_path == file) {
            Some(i) if broken || set.files[i].doc.text() != &bytes[..] => {
                plan.action = Action::Restored;
                plan.files.insert(i, Change::Whole(bytes));
                plan.file = i;
            }
            Some(_) => return Ok((plan, Vec::new())),
            // A component's own file removed since: created again (only
            // where an Include still covers it, as any new file).
            None => {
                plan.action = Action::Restored;
                plan.create.push(NewFile {
                    path: file,
                    text: bytes,
                });
            }
        }
        Ok((plan, system))
    })
}

/// The credentials the edit that made `backup` changed, as they were
/// before it (a `.cred` it created goes, one it replaced or removed comes
/// back): restored with the config backup, so that it reads the secrets it
/// read then. The drop-in is not among them: every edit makes it agree
/// with the config.
fn credentials_before(ctx: &Context, backup: &str) -> Result<Vec<SysFile>, Error> {
    let real = std::fs::canonicalize(&ctx.config)
        .map_err(|e| safe_write::io_error("read", &ctx.config, e))?;
    let dir = &ctx.settings.backup_dir;
    let records = safe_write::list_records(dir, &real)?;
    let Some((_, rec)) = records
        .iter()
        .find(|(_, r)| r.files.iter().any(|f| f.backup.as_deref() == Some(backup)))
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for f in &rec.files {
        let path = f.real_path();
        if sys_kind(ctx, &path) != Some(SysKind::Credential) {
            continue;
        }
        let change = match &f.backup {
            // Pruned or deleted since: the config then reads a credential
            // whose file is gone, which the edit refuses, saying so.
            Some(b) if !dir.join(b).exists() => continue,
            Some(b) => SysChange::Write(safe_write::read_backup(&dir.join(b))?),
            None if path.exists() => SysChange::Delete,
            None => continue,
        };
        out.push(SysFile {
            path,
            kind: SysKind::Credential,
            change,
        });
    }
    Ok(out)
}

/// Our files outside the config: an encrypted credential, or our drop-in.
fn sys_kind(ctx: &Context, path: &Path) -> Option<SysKind> {
    if path == ctx.settings.credentials_drop_in {
        Some(SysKind::DropIn)
    } else if path.parent() == Some(ctx.settings.credentials_dir.as_path())
        && path.extension().is_some_and(|e| e == "cred")
    {
        Some(SysKind::Credential)
    } else {
        None
    }
}

/// Whether a file an edit touched is a file of the config (not ours, not a
/// `.properties`): what `restore BACKUP` takes.
fn is_config_file(ctx: &Context, f: &safe_write::FileRecord) -> bool {
    f.kind.is_none() && sys_kind(ctx, &f.real_path()).is_none()
}

/// Undoes the last recorded edit of the config: every file it touched is
/// put back as it was before (a file it created is removed, a file it
/// removed is created again), only if each is still exactly what that edit
/// wrote. The outcome's name is the component of the edit undone, and
/// its `undid` says which edit that was (`add NAME of TIME`).
pub fn undo(ctx: &Context, opts: EditOptions) -> Result<EditOutcome, Error> {
    let dir = ctx.settings.backup_dir.clone();
    let (time, last) = last_edit(ctx, &dir)?;
    let what = format!("{} {} of {time}", last.command, last.name);
    // A `.properties` the edit rewrote is put back with the config's files
    // (see `outside_before`).
    let extra = pipeline::Extra {
        outside: outside_before(&dir, &last, &what)?,
        ..pipeline::Extra::default()
    };
    let undo = Undo {
        ctx,
        dir: &dir,
        last: &last,
        time: &time,
        what: &what,
        dry_run: opts.dry_run,
    };
    let result = pipeline::edit_full(ctx, &last.name, opts, extra, |set| undo.plan(set));
    let mut outcome = result.map_err(|e| broken_config(ctx, e))?;
    outcome.undid = Some(what);
    Ok(outcome)
}

/// The newest edit record of the config, with its time.
fn last_edit(ctx: &Context, dir: &Path) -> Result<(String, safe_write::EditRecord), Error> {
    let real = std::fs::canonicalize(&ctx.config)
        .map_err(|e| safe_write::io_error("read", &ctx.config, e))?;
    let records = safe_write::list_records(dir, &real)?;
    records.into_iter().last().ok_or_else(|| {
        Error::NotFound(Missing::EditRecord {
            config: ctx.config.clone(),
            dir: dir.to_path_buf(),
        })
    })
}

/// The undo of one recorded edit, planned against the config as loaded.
struct Undo<'a> {
    ctx: &'a Context,
    dir: &'a Path,
    last: &'a safe_write::EditRecord,
    time: &'a str,
    /// `COMMAND NAME of TIME`, for messages.
    what: &'a str,
    dry_run: bool,
}

/// What an undo puts back: the config's files (changed or removed), the
/// files it creates again, and files of ours outside the config.
#[derive(Default)]
struct PutBack {
    files: BTreeMap<usize, Change>,
    create: Vec<NewFile>,
    system: Vec<SysFile>,
}

impl Undo<'_> {
    /// The plan: every file the edit touched checked unchanged and put
    /// back, unless the edit moved a secret (see [`Undo::secret_back`]).
    fn plan(&self, set: &ConfigSet) -> Result<(Plan, Vec<SysFile>), Error> {
        let mut back = PutBack::default();
        for f in &self.last.files {
            self.put_back(set, f, &mut back)?;
        }
        if let Some(p) = self.secret_back(set)? {
            return Ok(p);
        }
        let PutBack {
            files,
            create,
            system,
        } = back;
        let file = files.keys().next().copied().unwrap_or(0);
        let action = if files.is_empty() && create.is_empty() && system.is_empty() {
            Action::Unchanged
        } else {
            Action::Undone
        };
        let plan = Plan {
            action,
            files,
            file,
            create,
            // The files being what they were before, loading, and passing
            // the checks is the test.
            verify: Box::new(|_| Ok(())),
        };
        Ok((plan, system))
    }

    /// What the file `f` holds now, refused unless it is still what the
    /// edit wrote (`None`: it does not exist, as the edit left it).
    fn current(&self, f: &safe_write::FileRecord) -> Result<Option<Vec<u8>>, Error> {
        let path = f.real_path();
        // Bounded, and never a FIFO (which would block with the lock held).
        let current = match crate::prosody::config::read_config_file(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(safe_write::unreadable("read", &path, e.0).into()),
        };
        let since = match (&f.written_sha1, &current) {
            (Some(h), Some(c)) if safe_write::content_hash(c) == *h => None,
            (Some(_), Some(_)) => Some(Since::Changed),
            (Some(_), None) => Some(Since::Removed),
            (None, Some(_)) => Some(Since::CreatedAgain),
            (None, None) => None,
        };
        match since {
            None => Ok(current),
            Some(since) => Err(Error::refused(refusal::Undo::Drift {
                path,
                since,
                time: self.time.to_string(),
                command: self.last.command.to_string(),
                name: self.last.name.to_string(),
            })),
        }
    }

    /// The file `f`, checked unchanged, put back as it was before the edit.
    /// Files outside the config (a `.properties`) are put back by the
    /// pipeline, after the config's files; ours (an encrypted credential,
    /// our drop-in) like the config's own.
    fn put_back(
        &self,
        set: &ConfigSet,
        f: &safe_write::FileRecord,
        back: &mut PutBack,
    ) -> Result<(), Error> {
        let current = self.current(f)?;
        if f.kind.is_some() {
            return Ok(());
        }
        let path = f.real_path();
        let before = match &f.backup {
            Some(b) => Some(safe_write::read_backup(&self.dir.join(b)).map_err(|e| {
                Error::refused(refusal::Undo::BackupUnusable {
                    what: self.what.to_string(),
                    path: path.clone(),
                    message: e.to_string(),
                })
            })?),
            None => None,
        };
        if let Some(kind) = sys_kind(self.ctx, &path) {
            let change = match (before, current.is_some()) {
                (Some(bytes), _) => Some(SysChange::Write(bytes)),
                (None, true) => Some(SysChange::Delete),
                (None, false) => None,
            };
            back.system
                .extend(change.map(|change| SysFile { path, kind, change }));
            return Ok(());
        }
        let index = set.files.iter().position(|g| g.real_path == path);
        match (before, current.is_some(), index) {
            (Some(bytes), true, Some(i)) => {
                back.files.insert(i, Change::Whole(bytes));
            }
            (Some(bytes), false, _) => back.create.push(NewFile { path, text: bytes }),
            (None, true, Some(i)) => {
                back.files.insert(i, Change::Delete);
            }
            (None, false, _) => {}
            (_, true, None) => {
                return Err(Error::refused(refusal::Undo::NotIncluded {
                    what: self.what.to_string(),
                    path,
                }))
            }
        }
        Ok(())
    }

    /// A move into a credential scrubbed the old string from the backups:
    /// the undo decrypts it back into the config instead (the files are
    /// checked unchanged all the same). A rotation into a credential
    /// scrubbed the old string too, and kept it encrypted beside the
    /// backups: decrypted, it goes back as the string it was (the new
    /// credential then goes, as the config no longer reads it).
    fn secret_back(&self, set: &ConfigSet) -> Result<Option<(Plan, Vec<SysFile>)>, Error> {
        let name = &self.last.name;
        if let Some(kept) = self.last.old_secret.as_ref().filter(|k| !k.contains('/')) {
            let credstore::SecretState::Ours(cred) = credstore::secret_state(set, name) else {
                return Err(Error::refused(refusal::Undo::NoCredential {
                    what: self.what.to_string(),
                    name: name.to_string(),
                }));
            };
            let old = crate::system::credentials::decrypt(&cred, &self.dir.join(kept)).map_err(
                |error| {
                    Error::refused(refusal::Undo::Decrypt {
                        what: self.what.to_string(),
                        error,
                    })
                },
            )?;
            let mut p = credstore::plan_literal(set, name, &cred, old)?;
            p.action = Action::Undone;
            return Ok(Some((p, Vec::new())));
        }
        if self.last.moved.as_deref() == Some("to-credential") {
            let (mut p, sys) =
                credstore::plan_migrate(self.ctx, set, name, MigrateTo::Config, self.dry_run)?;
            if p.action != Action::Unchanged {
                p.action = Action::Undone;
            }
            return Ok(Some((p, sys)));
        }
        Ok(None)
    }
}

/// The files outside the config that the edit `last` rewrote (a
/// `.properties`), as they were before it, for the undo to put back; an
/// undo that cannot put one back is refused, naming it.
fn outside_before(
    dir: &Path,
    last: &safe_write::EditRecord,
    what: &str,
) -> Result<Vec<pipeline::OutsideFile>, Error> {
    let mut out = Vec::new();
    for f in last.files.iter().filter(|f| f.kind.is_some()) {
        let path = f.real_path();
        let cannot = |why: Option<String>| {
            Error::refused(refusal::Undo::Outside {
                what: what.to_string(),
                path: path.clone(),
                why,
            })
        };
        let (Some(b), Some(expect)) = (&f.backup, &f.written_sha1) else {
            return Err(cannot(None));
        };
        let text =
            safe_write::read_backup(&dir.join(b)).map_err(|e| cannot(Some(e.to_string())))?;
        out.push(pipeline::OutsideFile {
            path,
            expect: expect.clone(),
            text,
        });
    }
    Ok(out)
}

/// An undo refused because the config does not load: what to do instead,
/// the exact command that puts back the newest backup of the broken file
/// that loads and passes check.
fn broken_config(ctx: &Context, e: Error) -> Error {
    let Error::Load {
        message,
        diagnostics,
        source,
    } = e
    else {
        return e;
    };
    // The main file itself cannot be read: its message says it all.
    if diagnostics.is_empty() {
        return Error::Load {
            message,
            diagnostics,
            source,
        };
    }
    let file = diagnostics[0].file.clone();
    let advice = match good_backup(ctx, &file) {
        Some(b) => format!(
            "to put back the newest backup of {} that passes check, the file as it was before the edit of {}, run: {}",
            file.display(),
            made_by(&b),
            restore_command(ctx, &b.backup)
        ),
        None => format!(
            "no backup of {} passes check: fix it by hand (fogbow-xmpp-ctl check shows where)",
            file.display()
        ),
    };
    Error::Load {
        message: format!(
            "restore --undo cannot undo an edit of a config that does not load (it undoes only an edit whose files are still as it wrote them); {advice} (nothing was changed)"
        ),
        diagnostics,
        source,
    }
}

/// How many backups of a broken file, newest first, are tried for one
/// that passes check.
const MAX_BACKUPS_TRIED: usize = 20;

/// The newest backup of `file` (a file of the config) that loads in its
/// place and passes check.
fn good_backup(ctx: &Context, file: &Path) -> Option<BackupInfo> {
    let real = std::fs::canonicalize(file).ok()?;
    let list = backups(ctx).ok()?.backups;
    list.into_iter()
        .rev()
        .filter(|b| b.file == real)
        .take(MAX_BACKUPS_TRIED)
        .find(|b| {
            let Ok(bytes) = safe_write::read_backup(&b.backup) else {
                return false;
            };
            let overlay = HashMap::from([(real.clone(), bytes)]);
            crate::prosody::config::ConfigSet::load_with(&ctx.config, overlay).is_ok_and(|set| {
                !crate::diagnostics::check(&set)
                    .iter()
                    .any(|d| d.severity == crate::diagnostics::Severity::Error)
            })
        })
}

/// The edit that made a backup, for people: `TIME (COMMAND NAME)`.
fn made_by(b: &BackupInfo) -> String {
    let time = b.time.as_deref().unwrap_or("an unknown time");
    match (&b.command, &b.name) {
        (Some(c), Some(n)) => format!("{time} ({c} {n})"),
        _ => time.to_string(),
    }
}

/// The command line that restores `backup` (by its name in the backup
/// directory), with `-c` when the config is not the settings' own.
pub(crate) fn restore_command(ctx: &Context, backup: &Path) -> String {
    let mut cmd = String::from("fogbow-xmpp-ctl");
    if ctx.config != ctx.settings.prosody_config {
        cmd.push_str(" -c ");
        cmd.push_str(&shell_word(&ctx.config.to_string_lossy()));
    }
    let name = backup.file_name().unwrap_or(backup.as_os_str());
    cmd.push_str(" restore ");
    cmd.push_str(&shell_word(&name.to_string_lossy()));
    cmd
}

/// `s` as one word of a POSIX shell: as it is when it needs no quoting.
fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,=@~%:".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
