//! The edit pipeline every edit goes through, as named stages, each a
//! function of this file called in order by [`edit_full`]:
//!
//! 1. [`load`]: the config, under the lock;
//! 2. plan: the caller's closure, named for the outcome by [`Head::of`];
//! 3. [`check_edit`]: the plan [`apply`]-ed, the result read back as
//!    prosody would and [`verify`]-ed, refused if it has new errors;
//! 4. [`dry_run`]: a dry run stops at the [`diff`](super::diff);
//! 5. [`commit`]: prosody's own loader judges the prepared files, then
//!    every file is renamed into place and the edit recorded for `restore
//!    --list` and `restore --undo`;
//! 6. [`write`]: the edit audited, and the credential store told.
//!
//! The credential store ([`credstore`](super::credstore)) plugs into these
//! stages through [`Store`] (before the plan, after the edit) and
//! [`StoreEdit`] (before the commit, its files, committed); this file
//! knows nothing of scrubs, rotations or the drop-in. A plan may also
//! create files (`add --file`) and remove them (`remove` of the last block
//! of a file `add --file` made): a created file is loaded as if it stood
//! in place and must be covered by an `Include`; a removed one reads as
//! empty.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::credstore::{Store, StoreEdit, SysFile};
use super::plan::{Change, NewFile, Plan, Verify};
use super::{diff, Action, Context, EditOptions, EditOutcome};
use crate::diagnostics::{self, Diagnostic, Note, Severity};
use crate::error::refusal;
use crate::error::Error;
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
/// (encrypted credentials; see [`Store`]). Every edit, whatever its
/// plan, leaves those files in step with the edited config: they are
/// prepared, backed up, renamed and recorded with the config's files, as
/// one edit.
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
    pub(crate) path: PathBuf,
    /// The SHA-1 of what it must still hold at the commit: a change made
    /// since it was read is never overwritten.
    pub(crate) expect: String,
    pub(crate) text: Vec<u8>,
}

/// What an edit does besides its plan.
#[derive(Default)]
pub(super) struct Extra {
    pub(crate) outside: Vec<OutsideFile>,
    /// `restore BACKUP` of a config that does not load: the edit starts
    /// from the config with these bytes in place of this file (its real
    /// path), which must load and pass check on their own (no error is
    /// "already there"), and prosody's loader must accept them.
    pub(crate) recovery: Option<(PathBuf, Vec<u8>)>,
}

/// [`edit_with`], with files outside the config, or from a backup in place
/// of a broken file (see [`Extra`]): the stages in order.
pub(super) fn edit_full(
    ctx: &Context,
    name: &str,
    opts: EditOptions,
    extra: Extra,
    plan: impl FnOnce(&ConfigSet) -> Result<(Plan, Vec<SysFile>), Error>,
) -> Result<EditOutcome, Error> {
    let (_lock, set) = load(ctx, opts.dry_run, extra.recovery.as_ref())?;
    let store = Store::before(ctx, &set, name, opts.dry_run);
    let (planned, planned_sys) = plan(&set)?;
    let head = Head::of(name, opts, &set, &planned);
    if planned.files.is_empty()
        && planned.create.is_empty()
        && planned_sys.is_empty()
        && extra.outside.is_empty()
    {
        let warnings = warnings_of(diagnostics::check(&set));
        return Ok(head.outcome(false, None, None, warnings, Vec::new(), Vec::new()));
    }
    let checked = check_edit(ctx, set, planned, extra, &head)?;
    let store = store.after(ctx, name, &checked.edited.after, planned_sys)?;
    let mut notes = store.notes.clone();
    notes.extend(readable_note(&head, store.literal_after));
    if opts.dry_run {
        return Ok(dry_run(&head, checked, &store, notes));
    }
    write(ctx, &head, checked, store, notes)
}

/// What every outcome of an edit names: the component, its action, the
/// file (the one created, if any) and the main file of the edit.
struct Head {
    name: String,
    action: Action,
    opts: EditOptions,
    file: PathBuf,
    main_file: PathBuf,
}

impl Head {
    /// Stage 2's result as the outcome will name it.
    fn of(name: &str, opts: EditOptions, set: &ConfigSet, plan: &Plan) -> Head {
        let (file, main_file) = match plan.create.first() {
            Some(c) => (c.path.clone(), set.files[0].real_path.clone()),
            None => (
                set.files[plan.file].path.clone(),
                set.files[plan.file].real_path.clone(),
            ),
        };
        Head {
            name: name.to_string(),
            action: plan.action,
            opts,
            file,
            main_file,
        }
    }

    fn outcome(
        &self,
        changed: bool,
        backup: Option<PathBuf>,
        diff: Option<String>,
        warnings: Vec<Diagnostic>,
        notes: Vec<Note>,
        deleted: Vec<PathBuf>,
    ) -> EditOutcome {
        EditOutcome {
            changed,
            action: self.action,
            name: self.name.clone(),
            file: self.file.clone(),
            backup,
            diff,
            dry_run: self.opts.dry_run,
            undid: None,
            warnings,
            notes,
            properties: None,
            deleted,
            credential_files: Vec::new(),
            restart_needed: false,
        }
    }

    /// The outcome of an edit that changes something, with what the
    /// credential store says of it.
    fn changed(
        &self,
        store: &StoreEdit,
        (backup, diff): (Option<PathBuf>, Option<String>),
        warnings: Vec<Diagnostic>,
        notes: Vec<Note>,
        edited: &Edited,
    ) -> EditOutcome {
        // Files the edit deletes (a component's own file left empty).
        let deleted = edited
            .deleted
            .iter()
            .map(|i| edited.paths[i].0.clone())
            .collect();
        EditOutcome {
            credential_files: store.files.clone(),
            restart_needed: store.restart_needed(),
            ..self.outcome(true, backup, diff, warnings, notes, deleted)
        }
    }
}

/// An edit through stage 3: applied, verified, with no new error.
struct Checked {
    edited: Edited,
    /// The edited config's warnings.
    warnings: Vec<Diagnostic>,
    /// The old side of a dry run's diff.
    old_side: BTreeMap<usize, Vec<u8>>,
    /// Why prosody's own loader must prove the edit (see `proof`).
    proof: Option<diagnostics::Opaque>,
}

/// Stage 3: the plan applied ([`apply`]), [`verify`]-ed, and refused if it
/// adds an error ([`no_new_errors`]); findings of an edit that is not
/// written point at the files as they are on disk.
fn check_edit(
    ctx: &Context,
    set: ConfigSet,
    planned: Plan,
    extra: Extra,
    head: &Head,
) -> Result<Checked, Error> {
    let Plan {
        files: changes,
        create,
        verify: check_plan,
        ..
    } = planned;
    let (errors_before, old_side) = before(&set, &changes, head.opts, extra.recovery.as_ref());
    let splices = splices_of(&set, &changes);
    // Code that can set a component_secret beyond our reading: the edit
    // is proved with prosody's own loader before it is written.
    let proof = matches!(
        head.action,
        Action::Added | Action::Replaced | Action::Removed
    )
    .then(|| super::proof::needed(&set, &head.name))
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
    if head.opts.dry_run {
        on_disk(&edited, &splices, &mut warnings);
    }
    Ok(Checked {
        edited,
        warnings,
        old_side,
        proof,
    })
}

/// How the edited files' lines map back to the files on disk, for the
/// findings of an edit that is not written (a dry run, a refusal).
fn splices_of(
    set: &ConfigSet,
    changes: &BTreeMap<usize, Change>,
) -> BTreeMap<usize, diagnostics::Splices> {
    changes
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
        .collect()
}

/// A secret written where others can read it is theirs too: say so.
fn readable_note(head: &Head, literal_after: bool) -> Option<Note> {
    let writes_secret = matches!(
        head.action,
        Action::Added | Action::Replaced | Action::Migrated
    );
    if !(writes_secret && literal_after) {
        return None;
    }
    let why = safe_write::readable_by_others(&head.main_file).ok()??;
    Some(Note::ConfigReadable {
        file: head.file.clone(),
        name: head.name.clone(),
        why,
    })
}

/// Stage 4: a dry run stops at the diff.
fn dry_run(head: &Head, checked: Checked, store: &StoreEdit, mut notes: Vec<Note>) -> EditOutcome {
    if let Some(why) = &checked.proof {
        notes.push(Note::ProvedOnWrite {
            opaque: why.clone(),
            name: head.name.clone(),
        });
    }
    let diff = diff::render(&checked.edited, &checked.old_side, head.opts.show_secrets);
    head.changed(
        store,
        (None, Some(diff)),
        checked.warnings,
        notes,
        &checked.edited,
    )
}

/// Stages 5 and 6: the credential store readied ([`StoreEdit::before_commit`]),
/// every file committed, the edit audited, and the store told
/// ([`StoreEdit::committed`]).
fn write(
    ctx: &Context,
    head: &Head,
    checked: Checked,
    mut store: StoreEdit,
    mut notes: Vec<Note>,
) -> Result<EditOutcome, Error> {
    let edited = &checked.edited;
    store.before_commit(ctx, &edited.after.files[0].real_path)?;
    let (backup, commit_notes) = commit(ctx, edited, &store, head, checked.proof.as_ref())?;
    notes.extend(commit_notes);
    crate::system::journal::audit(head.action.as_str(), &head.name, &head.file);
    notes.extend(store.committed(ctx, &edited.after));
    Ok(head.changed(&store, (backup, None), checked.warnings, notes, edited))
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
        let set = ConfigSet::load_with(&ctx.config, overlay).map_err(|e| {
            let d = vec![diagnostics::from_load_error(&e)];
            let file = file.clone();
            Error::refused_with(
                refusal::Edit::RestoreStillBroken {
                    file,
                    error: Box::new(e),
                },
                d,
            )
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
    pub(crate) after: ConfigSet,
    /// Each changed file by its index in the set: its path as named and
    /// its real path (where the bytes live).
    pub(crate) paths: BTreeMap<usize, (PathBuf, PathBuf)>,
    /// The changed files (by index) that the edit removes.
    pub(crate) deleted: std::collections::BTreeSet<usize>,
    /// The files the edit creates: path as named, real path.
    pub(crate) created: Vec<(PathBuf, PathBuf)>,
    /// Files outside the config the edit rewrites too.
    pub(crate) outside: Vec<OutsideFile>,
    /// prosody's loader must accept the edited config even though it
    /// refuses the current one (a broken config a backup replaces).
    pub(crate) strict: bool,
}

impl Edited {
    /// The edited document of the file at `real`.
    pub(crate) fn doc(&self, real: &Path) -> &crate::document::Document {
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
    let after = ConfigSet::load_with(&ctx.config, overlay).map_err(|e| {
        // A splice that breaks the file is our bug; a backup that does not
        // load (an Include gone since, a hand-made file) is the backup's.
        let d = vec![diagnostics::from_load_error(&e)];
        let error = Box::new(e);
        Error::refused_with(refusal::Edit::DoesNotLoadEdited { restoring, error }, d)
    })?;
    // A new file prosody would never read is refused: its component would
    // exist only in the file, never in the server.
    for (path, real) in &created {
        if !after.files.iter().any(|f| &f.real_path == real) {
            return Err(Error::refused(refusal::Edit::NotIncluded {
                path: path.clone(),
                main: main_path.clone(),
                hint: super::plan::include_hint(&main_path, path),
                new_file: true,
            }));
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
        return Err(Error::refused_with(refusal::Edit::NewErrors, new_errors));
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
/// Returns the backup of the main file, if one was written, and notes (when
/// prosody's loader could not be run, when the edit could not be recorded).
/// Leaves the record of the edit that `restore --list` and `restore
/// --undo` read (see [`safe_write::EditRecord`]).
fn commit(
    ctx: &Context,
    edited: &Edited,
    store: &StoreEdit,
    head: &Head,
    proof: Option<&diagnostics::Opaque>,
) -> Result<(Option<PathBuf>, Vec<Note>), Error> {
    let backups = Backups {
        dir: ctx.settings.backup_dir.clone(),
        keep: ctx.settings.backups,
    };
    let (prepared, contents) = prepare_config(edited)?;
    let files: Vec<PathBuf> = edited.after.files.iter().map(|f| f.path.clone()).collect();
    let prosody = crate::system::loader::Installed::find(&ctx.settings.prosody_lib);
    let mut notes: Vec<Note> = prosody_accepts(
        prosody.as_ref(),
        &ctx.config,
        &files,
        &prepared,
        edited.strict,
    )?
    .into_iter()
    .collect();
    if let Some(why) = proof {
        let overlay = overlay_of(&prepared);
        let what = (head.action, head.name.as_str());
        super::proof::prove(
            prosody.as_ref(),
            &ctx.config,
            &overlay,
            &edited.after,
            what,
            why,
        )?;
    }
    let (outside, outside_reals) = prepare_outside(&edited.outside)?;
    // Our files outside the config are complete on disk before the first
    // rename too; a file outside the config (a `.properties`) follows it.
    let (first, last) = store.prepare(ctx)?;
    let (first, first_contents): (Vec<_>, Vec<_>) = first.into_iter().unzip();
    let (last, last_contents): (Vec<_>, Vec<_>) = last.into_iter().unzip();
    let contents: Vec<Option<&[u8]>> = (first_contents.iter().map(|c| c.as_deref()))
        .chain(contents)
        .chain(edited.outside.iter().map(|o| Some(o.text.as_slice())))
        .chain(last_contents.iter().map(|c| c.as_deref()))
        .collect();
    let prepared: Vec<_> = (first.into_iter())
        .chain(prepared)
        .chain(outside)
        .chain(last)
        .collect();
    let targets: Vec<PathBuf> = prepared.iter().map(|p| p.target().to_path_buf()).collect();
    let written = safe_write::commit_all(prepared, (backups.keep > 0).then_some(&backups))?;
    if backups.keep > 0 {
        let record = safe_write::EditRecord {
            command: command_of(head.action).into(),
            action: head.action.as_str().into(),
            name: head.name.clone(),
            moved: store.moved.map(String::from),
            old_secret: store.old_secret.clone(),
            files: file_records(&targets, &written, &contents, &outside_reals),
        };
        let main_real = &edited.after.files[0].real_path;
        if let Err(e) = safe_write::write_record(&backups, main_real, &record) {
            notes.push(Note::NotRecorded {
                error: e.to_string(),
            });
        }
    }
    let backup = targets
        .iter()
        .zip(written)
        .find(|(t, _)| **t == head.main_file)
        .and_then(|(_, b)| b);
    Ok((backup, notes))
}

/// Files prepared next to their targets, each with what it will hold
/// (`None`: removed), for the record.
type Prepared<'a> = (Vec<safe_write::Prepared>, Vec<Option<&'a [u8]>>);

/// The config's changed and created files prepared next to their targets.
fn prepare_config(edited: &Edited) -> Result<Prepared<'_>, Error> {
    let mut prepared = Vec::with_capacity(edited.paths.len());
    let mut contents = Vec::with_capacity(edited.paths.len());
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
    let main_real = &edited.after.files[0].real_path;
    for (_, real) in &edited.created {
        let _ = safe_write::remove_stale_temp_files(real);
        let text = edited.doc(real).text();
        prepared.push(safe_write::prepare_new(real, main_real, text)?);
        contents.push(Some(text));
    }
    Ok((prepared, contents))
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
            return Err(Error::refused(refusal::Edit::ChangedSinceRead {
                path: o.path.clone(),
            }));
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
    prosody: Option<&crate::system::loader::Installed>,
    main: &Path,
    files: &[PathBuf],
    prepared: &[safe_write::Prepared],
    strict: bool,
) -> Result<Option<Note>, Error> {
    let Some(prosody) = prosody else {
        return Ok(None);
    };
    let overlay = overlay_of(prepared);
    let verdict = match prosody.load_with(main, &overlay) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Some(Note::NotLoaded {
                error: e.to_string(),
            }))
        }
    };
    let Some(d) = diagnostics::from_prosody_verdict(main, files, verdict) else {
        return Ok(None);
    };
    if strict || matches!(prosody.load(main), Ok(crate::prosody::Verdict::Loads)) {
        return Err(Error::refused_with(refusal::Edit::LoaderRefuses, vec![d]));
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
