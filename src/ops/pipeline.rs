//! The edit pipeline every edit goes through, as named stages:
//! [`load`] (under the lock) → plan (the caller's) → [`apply`] and
//! [`verify`] (the edited config, read back as prosody would, may not have
//! new errors) → [`diff`](super::diff) (a dry run stops here) →
//! [`commit`] (prosody's own loader judges the prepared files, then every
//! file is renamed into place, the edit recorded for `restore --list` and
//! `restore --undo`, and audited). A plan may also create files (`add
//! --file`) and remove them (`remove` of the last block of a file `add
//! --file` made): a created file is loaded as if it stood in place and
//! must be covered by an `Include`; a removed one reads as empty.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::credstore::{self, SecretState, SysFile};
use super::plan::{Change, NewFile, Plan, Verify};
use super::{diff, Action, Context, EditOptions, EditOutcome, Error};
use crate::diagnostics::{self, Diagnostic, Severity};
use crate::prosody::config::{ConfigSet, LoadError};
use crate::safe_write::{self, Backups, Lock};

/// Runs an edit of `name` planned by `plan` through every stage.
pub(super) fn edit(
    ctx: &Context,
    name: &str,
    opts: EditOptions,
    plan: impl FnOnce(&ConfigSet) -> Result<Plan, Error>,
) -> Result<EditOutcome, Error> {
    edit_with(ctx, name, opts, |set| Ok((plan(set)?, Vec::new())))
}

/// [`edit`] of a plan that also writes files of ours outside the config
/// (encrypted credentials; see [`credstore`]). Every edit, whatever its
/// plan, leaves those files in step with the edited config
/// ([`credstore::sync`]): they are prepared, backed up, renamed and
/// recorded with the config's files, as one edit.
pub(super) fn edit_with(
    ctx: &Context,
    name: &str,
    opts: EditOptions,
    plan: impl FnOnce(&ConfigSet) -> Result<(Plan, Vec<SysFile>), Error>,
) -> Result<EditOutcome, Error> {
    edit_full(ctx, name, opts, Extra::default(), plan)
}

/// A file outside the config that an edit rewrites with it: a Fogbow
/// component's `.properties` (its `xmpp_password`). Prepared with the
/// config's files, renamed after them, backed up and recorded (kind
/// `properties`), so that `restore --undo` puts it back too.
pub(super) struct OutsideFile {
    /// The path as named (resolved link by link at the commit).
    pub path: PathBuf,
    /// The SHA-1 of what it must still hold at the commit: a change made
    /// since it was read is never overwritten.
    pub expect: String,
    pub text: Vec<u8>,
}

/// What an edit does besides its plan.
#[derive(Default)]
pub(super) struct Extra {
    pub outside: Vec<OutsideFile>,
    /// `restore BACKUP` of a config that does not load: the edit starts
    /// from the config with these bytes in place of this file (its real
    /// path), which must load and pass check on their own (no error is
    /// "already there"), and prosody's loader must accept them.
    pub recovery: Option<(PathBuf, Vec<u8>)>,
}

/// [`edit_with`], with files outside the config, or from a backup in place
/// of a broken file (see [`Extra`]).
pub(super) fn edit_full(
    ctx: &Context,
    name: &str,
    opts: EditOptions,
    extra: Extra,
    plan: impl FnOnce(&ConfigSet) -> Result<(Plan, Vec<SysFile>), Error>,
) -> Result<EditOutcome, Error> {
    let (_lock, set) = load(ctx, opts.dry_run, extra.recovery.as_ref())?;
    // A scrub a kill interrupted is finished first, under the lock.
    let pending_notes = if opts.dry_run {
        Vec::new()
    } else {
        credstore::finish_pending_scrubs(ctx, &set)
    };
    let (
        Plan {
            action,
            files: changes,
            file: outcome_file,
            create,
            verify: check_plan,
        },
        planned_sys,
    ) = plan(&set)?;
    // The file the outcome names: the one created, if any.
    let (file, main_file) = match create.first() {
        Some(c) => (c.path.clone(), set.files[0].real_path.clone()),
        None => (
            set.files[outcome_file].path.clone(),
            set.files[outcome_file].real_path.clone(),
        ),
    };
    let outcome = |changed, backup, diff, warnings, notes, deleted| EditOutcome {
        changed,
        action,
        name: name.to_string(),
        file: file.clone(),
        backup,
        diff,
        dry_run: opts.dry_run,
        undid: None,
        warnings,
        notes,
        properties: None,
        deleted,
        credential_files: Vec::new(),
        restart_needed: false,
    };
    if changes.is_empty() && create.is_empty() && planned_sys.is_empty() && extra.outside.is_empty()
    {
        let warnings = warnings_of(diagnostics::check(&set));
        return Ok(outcome(false, None, None, warnings, Vec::new(), Vec::new()));
    }
    // The credentials the config reads now, and where this component's
    // secret is (see credstore): compared with the edited config's below.
    let refs_before = credstore::referenced(&set);
    let state_before = credstore::secret_state(&set, name);
    let (errors_before, old_side) = before(&set, &changes, opts, extra.recovery.as_ref());
    // How the edited files' lines map back to the files on disk, for the
    // findings of an edit that is not written (a dry run, a refusal).
    let splices: BTreeMap<usize, diagnostics::Splices> = changes
        .iter()
        .filter_map(|(&i, c)| match c {
            Change::Splice(e) => Some((
                i,
                diagnostics::Splices::new(
                    set.files[i].doc.text(),
                    e.iter().map(|(r, b)| (r.clone(), b.len())),
                ),
            )),
            Change::Whole(_) | Change::Delete => None,
        })
        .collect();
    // Code that can set a component_secret beyond our reading: the edit
    // is proved with prosody's own loader before it is written.
    let proof = matches!(action, Action::Added | Action::Replaced | Action::Removed)
        .then(|| super::proof::needed(&set, name))
        .flatten();
    let mut edited = apply(ctx, set, changes, create)?;
    edited.outside = extra.outside;
    edited.strict = extra.recovery.is_some();
    verify(&edited.after, &check_plan)?;
    let mut warnings =
        no_new_errors(&errors_before, diagnostics::check(&edited.after)).map_err(|mut e| {
            if let Error::Refused { diagnostics, .. } = &mut e {
                on_disk(&edited, &splices, diagnostics);
            }
            e
        })?;
    if opts.dry_run {
        on_disk(&edited, &splices, &mut warnings);
    }
    let system = credstore::sync(ctx, &refs_before, &edited.after, planned_sys)?;
    let state_after = credstore::secret_state(&edited.after, name);
    let credential_files: Vec<_> = system.iter().map(SysFile::describe).collect();
    // A new or rotated credential, or one the drop-in newly loads: a restart,
    // unless a reload refreshes it (asked after the drop-in's daemon-reload).
    let credential_changed = system.iter().any(|f| match f.kind {
        credstore::SysKind::Credential => matches!(f.change, credstore::SysChange::Write(_)),
        credstore::SysKind::DropIn => loads_more(f),
    });
    // A string secret that leaves the config for a credential: the backups
    // must not keep it (`scrub`). A move when the credential holds that very
    // string (an undo decrypts it back); a rotation when it holds a new one
    // (the old string is kept encrypted beside the backups, for the undo).
    let (moved, scrub, rotated): (Option<&str>, Option<Leaving>, bool) =
        match (&state_before, &state_after) {
            (SecretState::Literal(s), SecretState::Ours(c)) => {
                let is_move = holds(&system, c, s);
                (
                    is_move.then_some("to-credential"),
                    Some((s.clone(), c.clone())),
                    !is_move,
                )
            }
            (SecretState::Ours(_), SecretState::Literal(_)) => (Some("to-config"), None, false),
            _ => (None, None, false),
        };
    let outcome = |changed, backup, diff, warnings, notes, deleted| EditOutcome {
        credential_files: credential_files.clone(),
        restart_needed: credential_changed
            && crate::system::credentials::reload_refreshes().is_err(),
        ..outcome(changed, backup, diff, warnings, notes, deleted)
    };

    // A secret written where others can read it is theirs too: say so.
    let mut notes = pending_notes;
    if matches!(action, Action::Added | Action::Replaced | Action::Migrated)
        && matches!(state_after, SecretState::Literal(_))
    {
        if let Ok(Some(why)) = safe_write::readable_by_others(&main_file) {
            notes.push(format!(
                "{} is readable by others ({why}): they can read the secret of {name}; chmod o-r it (and setfacl -x any such entry)",
                file.display()
            ));
        }
    }
    // Files the edit deletes (a component's own file left empty).
    let deleted: Vec<PathBuf> = edited
        .deleted
        .iter()
        .map(|i| edited.paths[i].0.clone())
        .collect();
    if opts.dry_run {
        if let Some(why) = &proof {
            notes.push(format!(
                "{why}; when the edit is written, prosody's own loader first proves that prosody reads the component_secret written for {name} and that nothing else changes"
            ));
        }
        let diff = diff::render(&edited, &old_side, opts.show_secrets);
        return Ok(outcome(true, None, Some(diff), warnings, notes, deleted));
    }
    // A scrub is marked before the commit that makes backups hold the old
    // string, so a kill before it is finished by the next edit (below, and
    // at the start of every edit); a rotation's old string is kept
    // encrypted first.
    let backups = Backups {
        dir: ctx.settings.backup_dir.clone(),
        keep: ctx.settings.backups,
    };
    let mut old_secret = None;
    if let (Some((old, cred)), true) = (&scrub, backups.keep > 0) {
        if rotated {
            let sealed = crate::system::credentials::encrypt(cred, old).map_err(Error::Service)?;
            let main_real = edited.after.files[0].real_path.clone();
            old_secret = Some(safe_write::write_old_secret(&backups, &main_real, &sealed)?);
        }
        safe_write::mark_scrub(&backups, cred)?;
    }
    let (backup, commit_notes) = commit(
        ctx,
        &edited,
        &system,
        &main_file,
        (action, name, proof.as_ref()),
        moved,
        old_secret,
    )?;
    notes.extend(commit_notes);
    crate::system::journal::audit(action.as_str(), name, &file);
    // systemd reads the drop-in at daemon-reload: then at prosody's next start.
    let drop_in_changed = system.iter().any(|f| f.kind == credstore::SysKind::DropIn);
    if drop_in_changed && crate::system::service::systemd_running() {
        if let Err(e) = crate::system::service::daemon_reload() {
            notes.push(format!(
                "the drop-in {} changed, but {e}: run systemctl daemon-reload before restarting prosody",
                ctx.settings.credentials_drop_in.display()
            ));
        }
    }
    // The old string is now only in backups: scrub it there.
    if let Some((secret, cred)) = scrub {
        let left = credstore::scrub(ctx, &secret, &cred, &edited.after);
        if left.is_empty() {
            safe_write::scrub_done(&ctx.settings.backup_dir, &cred);
        }
        notes.extend(left);
    }
    Ok(outcome(true, backup, None, warnings, notes, deleted))
}

/// Before the edit: the errors the config has now (only those matter: an
/// edit may not add any; none for a broken config a backup replaces,
/// which must pass check on its own), and what a dry run shows as the old
/// side of the diff, taken before the old texts become the new ones (a
/// broken file a backup replaces: as it is on disk).
fn before(
    set: &ConfigSet,
    changes: &BTreeMap<usize, Change>,
    opts: EditOptions,
    recovery: Option<&(PathBuf, Vec<u8>)>,
) -> (Vec<Diagnostic>, BTreeMap<usize, Vec<u8>>) {
    let errors = match recovery {
        Some(_) => Vec::new(),
        None => diagnostics::check(set)
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect(),
    };
    if !opts.dry_run {
        return (errors, BTreeMap::new());
    }
    let mut old_side = diff::old_side(set, changes.keys().copied(), opts.show_secrets);
    if let Some((real, _)) = recovery {
        if let Some(i) = set.files.iter().position(|f| f.real_path == *real) {
            let on_disk = std::fs::read(real).unwrap_or_default();
            old_side.insert(i, diff::shown_unparsed(&on_disk, opts.show_secrets));
        }
    }
    (errors, old_side)
}

/// A string secret leaving the config, and the credential it goes to.
type Leaving = (Vec<u8>, String);

/// Whether this edit's drop-in loads a credential the one on disk does not.
fn loads_more(f: &SysFile) -> bool {
    let credstore::SysChange::Write(new) = &f.change else {
        return false;
    };
    let old = std::fs::read_to_string(&f.path).unwrap_or_default();
    let old = crate::system::credentials::parse_drop_in(&old);
    crate::system::credentials::parse_drop_in(&String::from_utf8_lossy(new))
        .iter()
        .any(|l| !old.contains(l))
}

/// Whether this edit's new credential `cred` holds `secret` (decrypted in
/// memory; a dry run writes no credential, so it never does).
fn holds(system: &[SysFile], cred: &str, secret: &[u8]) -> bool {
    system.iter().any(|f| {
        f.kind == credstore::SysKind::Credential
            && f.path.file_stem().is_some_and(|n| n == cred)
            && matches!(&f.change, credstore::SysChange::Write(b)
                if !b.is_empty()
                    && crate::system::credentials::decrypt_bytes(cred, b).is_ok_and(|p| p == secret))
    })
}

/// Stage 1: the config, read under the lock (which the caller holds until
/// the last rename). A dry run writes nothing, so, like `check`, it takes
/// no lock.
fn load(
    ctx: &Context,
    dry_run: bool,
    recovery: Option<&(PathBuf, Vec<u8>)>,
) -> Result<(Option<Lock>, ConfigSet), Error> {
    let main_real = std::fs::canonicalize(&ctx.config)
        .map_err(|e| safe_write::io_error("read", &ctx.config, e))?;
    let lock = match dry_run {
        true => None,
        false => Some(Lock::acquire(
            &main_real,
            Duration::from_secs(ctx.settings.lock_timeout_secs),
        )?),
    };
    if let Some((file, bytes)) = recovery {
        let overlay = HashMap::from([(file.clone(), bytes.clone())]);
        let set = ConfigSet::load_with(&ctx.config, overlay).map_err(|e| Error::Refused {
            message: format!(
                "refusing to restore: with the backup in place of {}, the config still does not load (nothing was changed)",
                file.display()
            ),
            diagnostics: vec![diagnostics::from_load_error(&e)],
        })?;
        return Ok((lock, set));
    }
    let set = load_config(&ctx.config).map_err(|e| match e {
        Error::Load {
            message,
            diagnostics,
            source,
        } => Error::Load {
            message: format!("{message} (nothing was changed)"),
            diagnostics,
            source,
        },
        e => e,
    })?;
    Ok((lock, set))
}

/// Loads the config; one that does not load is neither read nor edited.
pub(super) fn load_config(main: &Path) -> Result<ConfigSet, Error> {
    ConfigSet::load(main).map_err(|source| {
        let mut all = diagnostics::from_load_errors(&source);
        let d = all[0].clone();
        match source {
            // The main file itself: its message says it all.
            LoadError::Unreadable { from: None, .. } => Error::Load {
                message: d.message.clone()
                    + &d.help
                        .as_ref()
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default(),
                diagnostics: Vec::new(),
                source: Box::new(source),
            },
            _ => Error::Load {
                message: "the config is already broken; fix it first".into(),
                diagnostics: std::mem::take(&mut all),
                source: Box::new(source),
            },
        }
    })
}

/// The config after an edit, loaded from the edited texts, and which files
/// changed.
pub(super) struct Edited {
    pub after: ConfigSet,
    /// Each changed file by its index in the set: its path as named and
    /// its real path (where the bytes live).
    pub paths: BTreeMap<usize, (PathBuf, PathBuf)>,
    /// The changed files (by index) that the edit removes.
    pub deleted: std::collections::BTreeSet<usize>,
    /// The files the edit creates: path as named, real path.
    pub created: Vec<(PathBuf, PathBuf)>,
    /// Files outside the config the edit rewrites too.
    pub outside: Vec<OutsideFile>,
    /// prosody's loader must accept the edited config even though it
    /// refuses the current one (a broken config a backup replaces).
    pub strict: bool,
}

impl Edited {
    /// The edited document of the file at `real`.
    pub fn doc(&self, real: &Path) -> &crate::document::Document {
        &self
            .after
            .files
            .iter()
            .find(|g| g.real_path == real)
            .expect("the edited file is loaded")
            .doc
    }
}

/// Stage 3a: the changes applied, and the result loaded as prosody would,
/// each file at its own path. The edited texts are made in the old ones'
/// buffers and the old model is dropped first, so the config is in memory
/// once.
fn apply(
    ctx: &Context,
    set: ConfigSet,
    mut changes: BTreeMap<usize, Change>,
    create: Vec<NewFile>,
) -> Result<Edited, Error> {
    let deleted = changes
        .iter()
        .filter(|(_, c)| matches!(c, Change::Delete))
        .map(|(&i, _)| i)
        .collect();
    // A new file is named by its real directory (which must exist).
    let mut created = Vec::with_capacity(create.len());
    let mut new_texts = Vec::with_capacity(create.len());
    for NewFile { path, text } in create {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let real_dir = std::fs::canonicalize(dir)
            .map_err(|e| safe_write::io_error("create a file in", dir, e))?;
        let real = real_dir.join(path.file_name().unwrap_or_default());
        new_texts.push((real.clone(), text));
        created.push((path, real));
    }
    let main_path = set.files[0].path.clone();
    let paths: BTreeMap<usize, (PathBuf, PathBuf)> = changes
        .keys()
        .map(|&i| {
            let f = &set.files[i];
            (i, (f.path.clone(), f.real_path.clone()))
        })
        .collect();
    let restoring = changes.values().any(|c| matches!(c, Change::Whole(_)));
    let overlay: HashMap<PathBuf, Vec<u8>> = set
        .files
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| Some((f.real_path, changes.remove(&i)?.apply(f.doc.into_text()))))
        .chain(new_texts)
        .collect();
    let after = ConfigSet::load_with(&ctx.config, overlay).map_err(|e| Error::Refused {
        // A splice that breaks the file is our bug; a backup that does not
        // load (an Include gone since, a hand-made file) is the backup's.
        message: if restoring {
            "refusing to restore: the backup would not load in place of the config".into()
        } else {
            "refusing to write: the edited config would not load (this is a bug in fogbow-xmpp-ctl; please report it)".into()
        },
        diagnostics: vec![diagnostics::from_load_error(&e)],
    })?;
    // A new file prosody would never read is refused: its component would
    // exist only in the file, never in the server.
    for (path, real) in &created {
        if !after.files.iter().any(|f| &f.real_path == real) {
            return Err(Error::refused(format!(
                "refusing to create {}: no Include of {} covers it, so prosody would never read it; {} (nothing was written)",
                path.display(),
                main_path.display(),
                super::plan::include_hint(&main_path, path)
            )));
        }
    }
    Ok(Edited {
        after,
        paths,
        deleted,
        created,
        outside: Vec::new(),
        strict: false,
    })
}

/// `ds`, findings about the edited texts, pointed at the files as they
/// are on disk (see `diagnostics::Splices`): for an edit that is not
/// written, the lines the operator finds.
fn on_disk(
    edited: &Edited,
    splices: &BTreeMap<usize, diagnostics::Splices>,
    ds: &mut [Diagnostic],
) {
    for (i, s) in splices {
        let (path, real) = &edited.paths[i];
        s.relocate(path, ds, edited.doc(real).text());
    }
}

/// Stage 3b: the edit did what its plan says, read back as prosody would.
fn verify(after: &ConfigSet, check_plan: &Verify) -> Result<(), Error> {
    check_plan(after)
}

/// Stage 3c: the edited config has no error the config did not have
/// already; returns its warnings.
fn no_new_errors(before: &[Diagnostic], after: Vec<Diagnostic>) -> Result<Vec<Diagnostic>, Error> {
    let new_errors = diagnostics::new_errors(before, &after);
    if !new_errors.is_empty() {
        return Err(Error::Refused {
            message: "refusing to write: the edit would introduce errors".into(),
            diagnostics: new_errors,
        });
    }
    Ok(warnings_of(after))
}

fn warnings_of(ds: Vec<Diagnostic>) -> Vec<Diagnostic> {
    ds.into_iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect()
}

/// Stage 5: every file complete on disk before the first rename (a
/// failure until then, a read-only include, a planted link, changes
/// nothing), judged by prosody's own loader, then renamed into place.
/// Returns the backup of `main_file`, if one was written, and notes (when
/// prosody's loader could not be run, when the edit could not be recorded).
/// Leaves the record of the edit that `restore --list` and `restore
/// --undo` read (see [`safe_write::EditRecord`]).
fn commit(
    ctx: &Context,
    edited: &Edited,
    system: &[SysFile],
    main_file: &Path,
    (action, name, proof): (Action, &str, Option<&diagnostics::Opaque>),
    moved: Option<&str>,
    old_secret: Option<String>,
) -> Result<(Option<PathBuf>, Vec<String>), Error> {
    let backups = Backups {
        dir: ctx.settings.backup_dir.clone(),
        keep: ctx.settings.backups,
    };
    let mut prepared = Vec::with_capacity(edited.paths.len());
    // What each file will hold (`None`: removed), for the record.
    let mut contents: Vec<Option<&[u8]>> = Vec::new();
    for (i, (path, target)) in &edited.paths {
        // The path as named, link by link: no link planted by another user.
        safe_write::resolve(path)?;
        if edited.deleted.contains(i) {
            prepared.push(safe_write::prepare_removal(target)?);
            contents.push(None);
            continue;
        }
        // Temp files of ours left by a killed run are stale: we hold the lock.
        let _ = safe_write::remove_stale_temp_files(target);
        let text = edited.doc(target).text();
        prepared.push(safe_write::prepare(target, text)?);
        contents.push(Some(text));
    }
    let main_real = edited.after.files[0].real_path.clone();
    for (_, real) in &edited.created {
        let _ = safe_write::remove_stale_temp_files(real);
        let text = edited.doc(real).text();
        prepared.push(safe_write::prepare_new(real, &main_real, text)?);
        contents.push(Some(text));
    }
    let files: Vec<PathBuf> = edited.after.files.iter().map(|f| f.path.clone()).collect();
    let mut notes: Vec<String> = prosody_accepts(&ctx.config, &files, &prepared, edited.strict)?
        .into_iter()
        .collect();
    if let Some(why) = proof {
        let overlay = overlay_of(&prepared);
        super::proof::prove(&ctx.config, &overlay, &edited.after, (action, name), why)?;
    }
    let (outside, outside_reals) = prepare_outside(&edited.outside)?;
    // Our files outside the config, complete on disk before the first rename
    // too, and renamed in the order that is safe if we are killed between
    // two renames: new credentials and the drop-in that loads them first,
    // then the config that reads them, then the credentials it no longer
    // reads (an extra credential is harmless; a missing one keeps prosody
    // from starting).
    let ours = credstore::prepare(ctx, system)?;
    let ours_contents: Vec<Option<Vec<u8>>> = ours.iter().map(|(_, c)| c.clone()).collect();
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for (((p, _), c), f) in ours.into_iter().zip(&ours_contents).zip(system) {
        let before_config = match (f.kind, c) {
            (_, None) => false,
            (credstore::SysKind::Credential, Some(_)) => true,
            // The drop-in goes first when it loads a credential it did not
            // (the config is about to read it), last when it only drops some.
            (credstore::SysKind::DropIn, Some(_)) => loads_more(f),
        };
        let entry = (p, c.as_deref());
        if before_config {
            first.push(entry);
        } else {
            last.push(entry);
        }
    }
    // A file outside the config (a `.properties`) follows it.
    let outside = outside.into_iter().zip(&edited.outside);
    let config_files: Vec<_> = (prepared.drain(..).zip(contents.drain(..)))
        .chain(outside.map(|(p, o)| (p, Some(o.text.as_slice()))))
        .collect();
    for (p, c) in first.into_iter().chain(config_files).chain(last) {
        prepared.push(p);
        contents.push(c);
    }
    let targets: Vec<PathBuf> = prepared.iter().map(|p| p.target().to_path_buf()).collect();
    let written = safe_write::commit_all(prepared, (backups.keep > 0).then_some(&backups))?;
    if backups.keep > 0 {
        let record = safe_write::EditRecord {
            command: command_of(action).into(),
            action: action.as_str().into(),
            name: name.into(),
            moved: moved.map(String::from),
            old_secret,
            files: file_records(&targets, &written, &contents, &outside_reals),
        };
        if let Err(e) = safe_write::write_record(&backups, &main_real, &record) {
            notes.push(format!(
                "the edit is written, but not recorded, so restore --undo cannot undo it: {e}"
            ));
        }
    }
    let backup = targets
        .iter()
        .zip(written)
        .find(|(t, _)| **t == main_file)
        .and_then(|(_, b)| b);
    Ok((backup, notes))
}

/// The files outside the config, each still what it held when it was read
/// (its real path resolved link by link: no link planted by another
/// user), prepared next to it (owner, mode and ACL kept); with their real
/// paths.
fn prepare_outside(
    files: &[OutsideFile],
) -> Result<(Vec<safe_write::Prepared>, Vec<PathBuf>), Error> {
    let mut prepared = Vec::with_capacity(files.len());
    let mut reals = Vec::with_capacity(files.len());
    for o in files {
        let real = safe_write::resolve(&o.path)?;
        let now = crate::secret::read_regular(&real, crate::fogbow::MAX_PROPERTIES, "the file");
        if !matches!(&now, Ok(b) if safe_write::content_hash(b) == o.expect) {
            return Err(Error::refused(format!(
                "refusing to write: {} changed since it was read (nothing was changed); run the command again",
                o.path.display()
            )));
        }
        let _ = safe_write::remove_stale_temp_files(&real);
        prepared.push(safe_write::prepare(&real, &o.text)?);
        reals.push(real);
    }
    Ok((prepared, reals))
}

/// What the record says of each file committed: its backup, a hash of what
/// it holds now, and `properties` for a file outside the config.
fn file_records(
    targets: &[PathBuf],
    written: &[Option<PathBuf>],
    contents: &[Option<&[u8]>],
    outside: &[PathBuf],
) -> Vec<safe_write::FileRecord> {
    targets
        .iter()
        .zip(written)
        .zip(contents)
        .map(|((t, b), c)| {
            let mut f = safe_write::FileRecord::new(t, b.as_deref(), *c);
            if outside.contains(t) {
                f.kind = Some("properties".into());
            }
            f
        })
        .collect()
}

/// The command that makes an edit with this outcome, as the record says.
fn command_of(action: Action) -> &'static str {
    match action {
        Action::Added | Action::Replaced | Action::Unchanged => "add",
        Action::Removed | Action::Absent => "remove",
        Action::Updated => "listen",
        Action::Restored => "restore",
        Action::Undone => "undo",
        Action::Migrated => "migrate",
    }
}

/// Our model of the config is not prosody: where prosody is installed, its
/// own loader judges the prepared files in place (read from their temp
/// files) before anything is renamed. An edit it refuses is not written,
/// unless prosody already refused the config as it is (that error is not
/// the edit's). Returns a note when the loader could not be run.
fn prosody_accepts(
    main: &Path,
    files: &[PathBuf],
    prepared: &[safe_write::Prepared],
    strict: bool,
) -> Result<Option<String>, Error> {
    let Some(prosody) = crate::prosody::Installed::find() else {
        return Ok(None);
    };
    let overlay = overlay_of(prepared);
    let verdict = match prosody.load_with(main, &overlay) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Some(format!(
                "the edit was not loaded with prosody's own loader: {e}"
            )))
        }
    };
    let Some(d) = diagnostics::from_prosody_verdict(main, files, verdict) else {
        return Ok(None);
    };
    if strict || matches!(prosody.load(main), Ok(crate::prosody::Verdict::Loads)) {
        return Err(Error::Refused {
            message: "refusing to write: prosody's own loader refuses the edited config (it loads the current one)".into(),
            diagnostics: vec![d],
        });
    }
    Ok(None)
}

/// The prepared files as the loader's overlay: each target read from its
/// temp file; a file about to be removed reads as empty, as a removed file
/// counts.
fn overlay_of(prepared: &[safe_write::Prepared]) -> Vec<(&Path, &Path)> {
    prepared
        .iter()
        .map(|p| match p.removes() {
            true => (p.target(), Path::new("/dev/null")),
            false => (p.target(), p.temp_path()),
        })
        .collect()
}
