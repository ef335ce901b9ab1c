//! `add`, `remove` and `list` as operations on the config: read under the
//! lock, compute splices, check the result as prosody would load it, and
//! only then replace files. The CLI maps these results to output.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::{ConfigSet, Host};
use crate::diagnostics::{self, Diagnostic};
use crate::document::{Document, Span, Statement};
use crate::safe_write::{self, Backups, Lock};
use crate::settings::Settings;

/// What every operation needs to know.
#[derive(Debug, Clone)]
pub struct Context {
    /// prosody's main config, as the operator named it.
    pub config: PathBuf,
    pub settings: Settings,
}

/// A failure, with the diagnostics that explain it (if any).
#[derive(Debug, Clone)]
pub struct Error {
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl Error {
    fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            diagnostics: Vec::new(),
        }
    }
}

impl From<safe_write::WriteError> for Error {
    fn from(e: safe_write::WriteError) -> Error {
        Error::new(e.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Added,
    Replaced,
    Unchanged,
    Removed,
    Absent,
    /// `listen` changed the listener.
    Updated,
    /// `restore` put a backup back.
    Restored,
}

/// The result of `add`/`remove`; its JSON form is part of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct EditOutcome {
    pub changed: bool,
    pub action: Action,
    pub name: String,
    /// The file that was (or would be) edited.
    #[serde(serialize_with = "crate::config::json_path::one")]
    pub file: PathBuf,
    /// The previous version, when a backup was written.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::config::json_path::opt"
    )]
    pub backup: Option<PathBuf>,
    /// Only for `--dry-run`: the unified diff of what would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Warnings the edited config still has (never new errors: those refuse the edit).
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
    /// Warnings about the edit itself, one line each (e.g. a secret written
    /// into a file others can read).
    #[serde(skip)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct EditOptions {
    pub replace: bool,
    pub dry_run: bool,
    pub show_secrets: bool,
    pub if_exists: bool,
}

/// Adds (or, with `replace`, updates) the external component `name`.
pub fn add(
    ctx: &Context,
    name: &str,
    secret: &[u8],
    opts: EditOptions,
) -> Result<EditOutcome, Error> {
    crate::names::validate(name).map_err(Error::new)?;
    crate::secret::validate(secret).map_err(Error::new)?;
    edit(ctx, name, opts, |set| {
        plan_add(set, name, secret, opts.replace)
    })
}

/// Removes every `Component` section named `name`.
pub fn remove(ctx: &Context, name: &str, opts: EditOptions) -> Result<EditOutcome, Error> {
    if name.is_empty() {
        return Err(Error::new("the component name is empty"));
    }
    edit(ctx, name, opts, |set| {
        plan_remove(set, name, opts.if_exists)
    })
}

/// What an edit will do to some files (by index in the set).
struct Plan {
    action: Action,
    files: BTreeMap<usize, Change>,
    /// The file named in the outcome (the one holding the component).
    file: usize,
    /// Confirms, on the edited config read back as prosody would, that the
    /// edit did what it says.
    verify: Verify,
}

impl Plan {
    /// A change of the main config only; `None` when it already is as asked.
    fn of_main(change: Option<(Action, Change)>, verify: Verify) -> Plan {
        let (action, files) = match change {
            Some((action, c)) => (action, BTreeMap::from([(0, c)])),
            None => (Action::Unchanged, BTreeMap::new()),
        };
        Plan {
            action,
            files,
            file: 0,
            verify,
        }
    }
}

/// A plan's check of the edited config (see [`Plan::verify`]).
type Verify = Box<dyn Fn(&ConfigSet) -> Result<(), Error>>;

/// How one file changes.
enum Change {
    /// Non-overlapping splices of its current text.
    Splice(Vec<(Span, Vec<u8>)>),
    /// Whole new contents (a restored backup).
    Whole(Vec<u8>),
}

impl Change {
    /// The new text, made in the buffer of the old one: a large config is
    /// not held twice.
    fn apply(self, mut text: Vec<u8>) -> Vec<u8> {
        let mut edits = match self {
            Change::Whole(new) => return new,
            Change::Splice(e) => e,
        };
        let grows: usize = edits.iter().map(|(_, b)| b.len()).sum();
        text.reserve_exact(grows);
        // From the last to the first, so earlier ranges stay where they are.
        edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        for (range, with) in edits {
            text.splice(range, with);
        }
        text
    }
}

fn edit(
    ctx: &Context,
    name: &str,
    opts: EditOptions,
    plan: impl FnOnce(&ConfigSet) -> Result<Plan, Error>,
) -> Result<EditOutcome, Error> {
    let main_real = std::fs::canonicalize(&ctx.config)
        .map_err(|e| Error::new(safe_write::io_error("read", &ctx.config, e).message))?;
    // A dry run writes nothing, so, like `check`, it takes no lock.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(Lock::acquire(
            &main_real,
            Duration::from_secs(ctx.settings.lock_timeout_secs),
        )?)
    };
    let set = load_config(&ctx.config).map_err(|e| Error {
        message: format!("{} (nothing was changed)", e.message),
        ..e
    })?;
    let Plan {
        action,
        files: mut changes,
        file: outcome_file,
        verify,
    } = plan(&set)?;
    let file_path = set.files[outcome_file].path.clone();
    let outcome = |changed, backup, diff| EditOutcome {
        changed,
        action,
        name: name.to_string(),
        file: file_path.clone(),
        backup,
        diff,
        dry_run: opts.dry_run,
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let warnings_of = |ds: Vec<Diagnostic>| -> Vec<Diagnostic> {
        ds.into_iter()
            .filter(|d| d.severity == diagnostics::Severity::Warning)
            .collect()
    };
    if changes.is_empty() {
        return Ok(EditOutcome {
            warnings: warnings_of(diagnostics::check(&set)),
            ..outcome(false, None, None)
        });
    }
    // Only the errors the config has now matter below (an edit may not add any).
    let errors_before: Vec<Diagnostic> = diagnostics::check(&set)
        .into_iter()
        .filter(|d| d.severity == diagnostics::Severity::Error)
        .collect();
    // What a dry run shows as the old side of the diff.
    let old_texts: BTreeMap<usize, Vec<u8>> = if opts.dry_run {
        changes
            .keys()
            .map(|&i| {
                let doc = &set.files[i].doc;
                let text = if opts.show_secrets {
                    doc.text().to_vec()
                } else {
                    mask_secrets(doc)
                };
                (i, text)
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    let paths: BTreeMap<usize, (PathBuf, PathBuf)> = changes
        .keys()
        .map(|&i| {
            (
                i,
                (set.files[i].path.clone(), set.files[i].real_path.clone()),
            )
        })
        .collect();
    let main_file = set.files[outcome_file].real_path.clone();

    let restoring = changes.values().any(|c| matches!(c, Change::Whole(_)));
    // Check the result as prosody would load it, each file at its own path.
    // The edited texts are made in the old ones' buffers and the old model is
    // dropped first, so the config is in memory once.
    let overlay: HashMap<PathBuf, Vec<u8>> = set
        .files
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| Some((f.real_path, changes.remove(&i)?.apply(f.doc.into_text()))))
        .collect();
    let after_set = ConfigSet::load_with(&ctx.config, overlay).map_err(|e| Error {
        // A splice that breaks the file is our bug; a backup that does not
        // load (an Include gone since, a hand-made file) is the backup's.
        message: if restoring {
            "refusing to restore: the backup would not load in place of the config".into()
        } else {
            "refusing to write: the edited config would not load (this is a bug in fogbow-xmpp-ctl; please report it)".into()
        },
        diagnostics: vec![diagnostics::from_load_error(&e)],
    })?;
    verify(&after_set)?;
    let after = diagnostics::check(&after_set);
    let new_errors = diagnostics::new_errors(&errors_before, &after);
    if !new_errors.is_empty() {
        return Err(Error {
            message: "refusing to write: the edit would introduce errors".into(),
            diagnostics: new_errors,
        });
    }
    let warnings = warnings_of(after);
    let edited = |real: &Path| {
        &after_set
            .files
            .iter()
            .find(|g| g.real_path == real)
            .expect("the edited file is loaded")
            .doc
    };

    // A secret written where others can read it is theirs too: say so.
    let mut notes = Vec::new();
    if matches!(action, Action::Added | Action::Replaced) {
        if let Ok(Some(why)) = safe_write::readable_by_others(&main_file) {
            notes.push(format!(
                "{} is readable by others ({why}): they can read the secret of {name}; chmod o-r it (and setfacl -x any such entry)",
                file_path.display()
            ));
        }
    }
    if opts.dry_run {
        let mut diff = String::new();
        for (i, old_text) in &old_texts {
            let (path, real) = &paths[i];
            let new_doc = edited(real);
            let new_text = if opts.show_secrets {
                new_doc.text().to_vec()
            } else {
                mask_secrets(new_doc)
            };
            diff.push_str(&unified_diff(path, old_text, &new_text));
        }
        return Ok(EditOutcome {
            warnings,
            notes,
            ..outcome(true, None, Some(diff))
        });
    }

    let backups = Backups {
        dir: ctx.settings.backup_dir.clone(),
        keep: ctx.settings.backups,
    };
    // Every file is complete on disk before the first rename: a failure
    // until then (a read-only include, a planted link) changes nothing.
    let mut prepared = Vec::with_capacity(paths.len());
    for (path, target) in paths.values() {
        // The path as named, link by link: no link planted by another user.
        safe_write::resolve(path)?;
        // Temp files of ours left by a killed run are stale: we hold the lock.
        let _ = safe_write::remove_stale_temp_files(target);
        prepared.push(safe_write::prepare(target, edited(target).text())?);
    }
    let files: Vec<PathBuf> = after_set.files.iter().map(|f| f.path.clone()).collect();
    notes.extend(prosody_accepts(&ctx.config, &files, &prepared)?);
    let targets: Vec<PathBuf> = prepared.iter().map(|p| p.target().to_path_buf()).collect();
    let written = safe_write::commit_all(prepared, (backups.keep > 0).then_some(&backups))?;
    let backup = targets
        .iter()
        .zip(written)
        .find(|(t, _)| **t == main_file)
        .and_then(|(_, b)| b);
    Ok(EditOutcome {
        warnings,
        notes,
        ..outcome(true, backup, None)
    })
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
) -> Result<Option<String>, Error> {
    let Some(prosody) = crate::prosody::Installed::find() else {
        return Ok(None);
    };
    // prosody resolves relative Includes against the path it is given.
    let main = match main.is_relative() {
        true => std::env::current_dir().map_or(main.to_path_buf(), |d| d.join(main)),
        false => main.to_path_buf(),
    };
    let overlay: Vec<(&Path, &Path)> = prepared
        .iter()
        .map(|p| (p.target(), p.temp_path()))
        .collect();
    let verdict = match prosody.load_with(&main, &overlay) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Some(format!(
                "the edit was not loaded with prosody's own loader: {e}"
            )))
        }
    };
    let Some(d) = diagnostics::from_prosody_verdict(&main, files, verdict) else {
        return Ok(None);
    };
    if matches!(prosody.load(&main), Ok(crate::prosody::Verdict::Loads)) {
        return Err(Error {
            message: "refusing to write: prosody's own loader refuses the edited config (it loads the current one)".into(),
            diagnostics: vec![d],
        });
    }
    Ok(None)
}

/// Loads the config; one that does not load is neither read nor edited.
fn load_config(main: &Path) -> Result<ConfigSet, Error> {
    ConfigSet::load(main).map_err(|e| {
        let d = diagnostics::from_load_error(&e);
        let message = match d.code {
            diagnostics::Code::Unreadable => {
                d.message.clone()
                    + &d.help
                        .as_ref()
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default()
            }
            _ => "the config is already broken; fix it first".into(),
        };
        Error {
            message,
            diagnostics: if d.code == diagnostics::Code::Unreadable {
                vec![]
            } else {
                vec![d]
            },
        }
    })
}

/// `FILE:LINE` of host `h`, found under `name`; when the config spells it
/// otherwise (`ｘｍｐｐ.example` for `xmpp.example`), that spelling too, or
/// the operator would look for a name that is not in the file.
fn where_(set: &ConfigSet, h: &Host, name: &str) -> String {
    let place = format!("{}:{}", set.files[h.at.file].path.display(), h.line());
    match h.literal_name() {
        Some(n) if n != name => {
            format!("{place} (written {n:?}: the same host after prosody's nameprep)")
        }
        _ => place,
    }
}

/// Refuses an edit of `name` when the config can set a `component_secret`
/// beyond a static reading: whatever we wrote, prosody might use another.
fn refuse_opaque(set: &ConfigSet, name: &str, hosts: &[Host]) -> Result<(), Error> {
    let found = diagnostics::secret_opaque_anywhere(set).or_else(|| {
        hosts
            .iter()
            .find_map(|h| diagnostics::secret_opaque_in(set, h))
    });
    if let Some(o) = found {
        return Err(Error::new(format!(
            "{o}; so fogbow-xmpp-ctl cannot tell which component_secret prosody would use for {name}: \
             nothing was changed; rewrite that code as plain `component_secret = \"…\"` lines, or edit the file by hand"
        )));
    }
    // A `component_secret = …` in the section that only assigns a local:
    // an edit would leave it (and its secret) behind or beside ours.
    for h in hosts {
        let f = &set.files[h.at.file];
        let doc = &f.doc;
        let start = doc.stmt_span(h.at.stmt).start;
        let end = (h.at.stmt + 1..doc.statement_count())
            .find(|&i| doc.is_section(i))
            .map_or(doc.text().len(), |i| doc.stmt_span(i).start);
        if let Some((a, decl)) = doc
            .shadowed()
            .find(|(a, _)| a.start > start && a.start < end && doc.slice(a) == "component_secret")
        {
            let (al, ac) = doc.line_col(a.start);
            let (dl, dc) = doc.line_col(decl.start);
            let p = f.path.display();
            return Err(Error::new(format!(
                "a `local component_secret` at {p}:{dl}:{dc} makes the assignment at {p}:{al}:{ac} set a Lua local, \
                 not prosody's option; remove the local (nothing was changed)"
            )));
        }
    }
    Ok(())
}

/// Refuses to add a `component_secret = …` line where a top-level `local
/// component_secret` declared before `offset` would turn it into an
/// assignment of that local.
fn refuse_shadowed(set: &ConfigSet, file: usize, offset: usize) -> Result<(), Error> {
    let f = &set.files[file];
    match f.doc.local_before("component_secret", offset) {
        None => Ok(()),
        Some(decl) => {
            let (l, c) = f.doc.line_col(decl.start);
            Err(Error::new(format!(
                "a `local component_secret` at {}:{l}:{c} makes later assignments set a Lua local, not prosody's option; \
                 remove it (nothing was changed)",
                f.path.display()
            )))
        }
    }
}

fn plan_add(set: &ConfigSet, name: &str, secret: &[u8], replace: bool) -> Result<Plan, Error> {
    let hosts = set.hosts_named(name);
    refuse_opaque(set, name, &hosts)?;
    if let Some(v) = hosts
        .iter()
        .find(|h| h.kind == crate::document::SectionKind::VirtualHost)
    {
        return Err(Error::new(format!(
            "{name} is a VirtualHost at {}; a Component of the same name would stop prosody from starting",
            where_(set, v, name)
        )));
    }
    if hosts.is_empty() {
        let main = &set.files[0];
        refuse_shadowed(set, 0, main.doc.text().len())?;
        return Ok(Plan {
            action: Action::Added,
            verify: verified(name, Action::Added),
            files: BTreeMap::from([(
                0,
                Change::Splice(vec![main.doc.append_component_edit(name, secret)]),
            )]),
            file: 0,
        });
    }
    if let Some(h) = hosts.iter().find(|h| !h.is_external()) {
        // A module name is shown, never an expression's text.
        let module = h.module().and_then(|m| m.literal()).map_or_else(
            || "(an expression)".into(),
            |m| format!("{:?}", String::from_utf8_lossy(&m)),
        );
        return Err(Error::new(format!(
            "{name} is a Component with the plugin module {module} at {}, not an external component; not changing it",
            where_(set, h, name)
        )));
    }
    // Duplicate blocks merge in prosody and the last secret wins: that is the one to compare and change.
    let last = hosts.last().expect("not empty");
    let Some((file, current)) = hosts
        .iter()
        .rev()
        .find_map(|h| Some((h.at.file, h.secret()?)))
    else {
        let doc = &set.files[last.at.file].doc;
        if doc.section(last.at.stmt).and_then(|h| h.table).is_none() {
            refuse_shadowed(set, last.at.file, doc.stmt_span(last.at.stmt).end)?;
        }
        let e = doc.insert_secret_edit(last.at.stmt, secret);
        return Ok(Plan {
            action: Action::Added,
            verify: verified(name, Action::Added),
            files: BTreeMap::from([(last.at.file, Change::Splice(vec![e]))]),
            file: last.at.file,
        });
    };
    let doc = &set.files[file].doc;
    let (line, column) = doc.line_col(current.span.start);
    let place = format!("{}:{line}:{column}", set.files[file].path.display());
    match current.literal() {
        // Never its text: an expression may hold the secret itself (`"S" .. ""`).
        None => Err(Error::new(format!(
            "the component_secret of {name} at {place} is an expression, not a string literal; edit it by hand"
        ))),
        Some(old) if old == secret => Ok(Plan {
            action: Action::Unchanged,
            verify: verified(name, Action::Unchanged),
            files: BTreeMap::new(),
            file,
        }),
        Some(_) if !replace => Err(Error::new(format!(
            "{name} already exists at {place} with a different secret; use --replace to change it"
        ))),
        Some(_) => Ok(Plan {
            action: Action::Replaced,
            verify: verified(name, Action::Replaced),
            files: BTreeMap::from([(file, Change::Splice(vec![Document::replace_value_edit(&current, secret)]))]),
            file,
        }),
    }
}

fn plan_remove(set: &ConfigSet, name: &str, if_exists: bool) -> Result<Plan, Error> {
    let hosts = set.hosts_named(name);
    refuse_opaque(set, name, &hosts)?;
    if let Some(v) = hosts
        .iter()
        .find(|h| h.kind == crate::document::SectionKind::VirtualHost)
    {
        return Err(Error::new(format!(
            "{name} is a VirtualHost at {}, not a Component; not removing it",
            where_(set, v, name)
        )));
    }
    if hosts.is_empty() {
        if if_exists {
            return Ok(Plan {
                action: Action::Absent,
                verify: verified(name, Action::Absent),
                files: BTreeMap::new(),
                file: 0,
            });
        }
        return Err(Error::new(format!(
            "there is no Component {name} in {} or the files it includes (use --if-exists to accept that)",
            set.files[0].path.display()
        )));
    }
    // `add` refuses a plugin component (a MUC, an upload service): so does
    // `remove`, which would otherwise delete a whole service it never made.
    if let Some(h) = hosts.iter().find(|h| !h.is_external()) {
        return Err(Error::new(format!(
            "{name} is a Component with a plugin module at {}, not an external component; not removing it (edit the file by hand)",
            where_(set, h, name)
        )));
    }
    let mut per_file: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
    for h in &hosts {
        let doc = &set.files[h.at.file].doc;
        let span = doc.section_removal(h.at.stmt).map_err(|e| {
            let (l, c) = doc.line_col(e.offset);
            Error::new(format!(
                "cannot remove {name} safely: {}:{l}:{c}: {}",
                set.files[h.at.file].path.display(),
                e.message
            ))
        })?;
        per_file.entry(h.at.file).or_default().push(span);
    }
    let files = per_file
        .into_iter()
        .map(|(fi, mut spans)| {
            spans.sort_by_key(|s| s.start);
            let mut merged: Vec<Span> = Vec::new();
            for s in spans {
                match merged.last_mut() {
                    Some(m) if s.start <= m.end => m.end = m.end.max(s.end),
                    _ => merged.push(s),
                }
            }
            (
                fi,
                Change::Splice(merged.into_iter().map(|s| (s, Vec::new())).collect()),
            )
        })
        .collect();
    Ok(Plan {
        action: Action::Removed,
        verify: verified(name, Action::Removed),
        files,
        file: hosts[0].at.file,
    })
}

/// The check an `add`/`remove` plan carries: [`verify`] for `name`.
fn verified(name: &str, action: Action) -> Verify {
    let name = name.to_string();
    Box::new(move |s: &ConfigSet| verify(s, &name, action))
}

/// The edit did what it says, read back as prosody would read it.
fn verify(set: &ConfigSet, name: &str, action: Action) -> Result<(), Error> {
    let hosts = set.hosts_named(name);
    let ok = match action {
        Action::Removed => hosts.is_empty(),
        _ => {
            hosts.iter().any(|h| h.is_external())
                && hosts
                    .iter()
                    .rev()
                    .find_map(|h| h.secret())
                    .is_some_and(|s| s.is_literal())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Error::new(format!(
            "refusing to write: after the edit, {name} would not be {} as intended (this is a bug in fogbow-xmpp-ctl; please report it)",
            if action == Action::Removed { "absent" } else { "present" }
        )))
    }
}

/// The text with the contents of every string literal replaced by
/// `********` (quotes kept), except section names, module names and
/// `Include` paths: what a diff may show without `--show-secrets`. Any
/// string may be a secret (`sql = { password = "…" }`, `ldap_password`),
/// not only a `component_secret`.
pub fn mask_secrets(doc: &Document) -> Vec<u8> {
    let mut shown: Vec<Span> = Vec::new();
    for s in doc.statements() {
        match &s.statement {
            Statement::Section(h) => {
                shown.push(h.name.span.clone());
                if let Some(m) = &h.module {
                    shown.push(m.span.clone());
                }
                // Option names written as keys: `["component_secret"] = …`.
                if let Some((_, fields)) = &h.table {
                    shown.extend(
                        fields
                            .iter()
                            .map(|o| o.name_span)
                            // A bracketed key starts with a quote, `[` or `(`.
                            .filter(|k| matches!(doc.text()[k.start], b'"' | b'\'' | b'[' | b'(')),
                    );
                }
            }
            Statement::Include(v) => shown.push(v.span.clone()),
            _ => {}
        }
    }
    // In order and disjoint: the first span ending after the token's start
    // is the only one that can hold it.
    let is_shown = |t: &Span| {
        let i = shown.partition_point(|s| s.end <= t.start);
        shown
            .get(i)
            .is_some_and(|s| s.start <= t.start && t.end <= s.end)
    };
    let text = doc.text();
    let mut edits = Vec::new();
    let mut lx = crate::document::lexer::Lexer::new(text);
    while let Ok(t) = lx.next_token() {
        match t.kind {
            crate::document::lexer::Tok::Eof => break,
            crate::document::lexer::Tok::Str if !is_shown(&t.span) => {
                edits.push((t.span.clone(), masked(&text[t.span])))
            }
            _ => {}
        }
    }
    doc.splice(edits)
}

/// A string token with its contents replaced by `********`: `"…"`, `'…'`
/// and `[==[…]==]` keep their delimiters.
fn masked(tok: &[u8]) -> Vec<u8> {
    let delim = if tok[0] == b'[' {
        2 + tok[1..].iter().take_while(|&&c| c == b'=').count()
    } else {
        1
    };
    let mut out = tok[..delim].to_vec();
    out.extend_from_slice(b"********");
    out.extend_from_slice(&tok[tok.len() - delim..]);
    out
}

/// A unified diff for a terminal: characters a terminal would act on are
/// escaped (a line's own line break aside).
fn unified_diff(path: &Path, old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let p = path.display().to_string();
    let diff = similar::TextDiff::from_lines(&*old, &*new)
        .unified_diff()
        .context_radius(3)
        .header(&p, &p)
        .to_string();
    let mut out = String::with_capacity(diff.len());
    for line in diff.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let (body, cr) = match body.strip_suffix('\r') {
            Some(b) => (b, "\r"),
            None => (body, ""),
        };
        // A tab is layout, not a control sequence.
        for (i, part) in body.split('\t').enumerate() {
            if i > 0 {
                out.push('\t');
            }
            out.push_str(&diagnostics::terminal_safe(part));
        }
        out.push_str(cr);
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// One component, as `list` shows it; the JSON form is part of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentInfo {
    /// The name, or the source text of the expression that computes it.
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub name_is_expression: bool,
    /// `"component"` for an external component, else the plugin module.
    pub module: String,
    #[serde(serialize_with = "crate::config::json_path::one")]
    pub file: PathBuf,
    pub line: usize,
    pub secret_set: bool,
    /// `"literal"`, `"expression"` (e.g. `Credential("x")`) or `"none"`.
    pub secret_source: &'static str,
    /// Only with `--show-secrets`: the literal, or the expression's source text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListOutput {
    #[serde(serialize_with = "crate::config::json_path::one")]
    pub config: PathBuf,
    pub components: Vec<ComponentInfo>,
    /// Things a static reading cannot follow (computed Include paths,
    /// Component calls inside blocks), with file:line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

pub fn list(ctx: &Context, show_secrets: bool) -> Result<ListOutput, Error> {
    let set = load_config(&ctx.config)?;
    let mut components = Vec::new();
    for h in set.hosts() {
        if h.kind != crate::document::SectionKind::Component {
            continue;
        }
        let f = &set.files[h.at.file];
        let name = match h.literal_name() {
            Some(n) => n,
            None => f.doc.slice(&h.name().span),
        };
        let module = match h.module() {
            None => "component".to_string(),
            Some(m) => m
                .literal()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_else(|| f.doc.slice(&m.span)),
        };
        let (source, secret) = match h.secret() {
            None => ("none", None),
            Some(s) => match s.literal() {
                Some(l) => ("literal", Some(String::from_utf8_lossy(&l).into_owned())),
                None => ("expression", Some(f.doc.slice(&s.span))),
            },
        };
        components.push(ComponentInfo {
            name,
            name_is_expression: !h.name().is_literal(),
            module,
            file: f.path.clone(),
            line: h.line(),
            secret_set: h.secret().is_some(),
            secret_source: source,
            secret: if show_secrets { secret } else { None },
        });
    }
    let mut notes = Vec::new();
    // The SECRET column is what a static reading finds; say where code may
    // set another.
    if let Some(o) = diagnostics::secret_opaque_anywhere(&set) {
        notes.push(format!(
            "{o}; a component_secret shown here (or its absence) may not be what prosody uses"
        ));
    }
    for h in set.hosts() {
        if let Some(o) = diagnostics::secret_opaque_in(&set, &h) {
            notes.push(o.to_string());
        }
    }
    for at in &set.unresolved_includes {
        let f = &set.files[at.file];
        let (l, _) = f.doc.line_col(f.doc.stmt_span(at.stmt).start);
        notes.push(format!(
            "{}:{l}: Include with a computed path; its components are not listed",
            f.path.display()
        ));
    }
    for f in &set.files {
        for span in f.doc.nested_calls() {
            let callee = f.doc.slice(&span);
            if matches!(
                callee.as_str(),
                "Component" | "component" | "VirtualHost" | "Host" | "host" | "Include" | "include"
            ) {
                let (l, _) = f.doc.line_col(span.start);
                notes.push(format!(
                    "{}:{l}: {callee} inside a block (if/for/function); not listed",
                    f.path.display()
                ));
            }
        }
    }
    Ok(ListOutput {
        config: ctx.config.clone(),
        components,
        notes,
    })
}

/// Sets where prosody accepts components (see [`crate::listener::plan`]).
pub fn listen(
    ctx: &Context,
    interfaces: Option<Vec<String>>,
    ports: Option<Vec<u16>>,
    opts: EditOptions,
) -> Result<EditOutcome, Error> {
    for i in interfaces.iter().flatten() {
        crate::listener::validate_interface(i).map_err(Error::new)?;
    }
    edit(ctx, "component listener", opts, |set| {
        let edits = crate::listener::plan(set, interfaces.as_deref(), ports.as_deref())
            .map_err(Error::new)?;
        let text = set.files[0].doc.text();
        let unchanged = edits.iter().all(|(r, b)| text[r.clone()] == b[..]);
        let (want_i, want_p) = (interfaces.clone(), ports.clone());
        Ok(Plan::of_main(
            (!unchanged).then_some((Action::Updated, Change::Splice(edits))),
            Box::new(move |after: &ConfigSet| {
                let l = crate::listener::effective(after).map_err(Error::new)?;
                let ok = want_i.as_ref().map_or(true, |i| &l.interfaces == i)
                    && want_p.as_ref().map_or(true, |p| &l.ports == p);
                if ok {
                    Ok(())
                } else {
                    Err(Error::new("refusing to write: the edited config would not have the requested listener (this is a bug in fogbow-xmpp-ctl; please report it)"))
                }
            }),
        ))
    })
}

/// The listener prosody will open, with its defaults.
pub fn show_listener(ctx: &Context) -> Result<crate::listener::Listener, Error> {
    let set = load_config(&ctx.config)?;
    crate::listener::effective(&set).map_err(Error::new)
}

/// The backups of the main config, oldest first.
pub fn backups(ctx: &Context) -> Result<Vec<PathBuf>, Error> {
    let real = std::fs::canonicalize(&ctx.config)
        .map_err(|e| Error::new(safe_write::io_error("read", &ctx.config, e).message))?;
    Ok(safe_write::list_backups(&ctx.settings.backup_dir, &real)?)
}

/// Puts a backup of the main config back: checked like any edit, written
/// with the same safe replacement, and the current version backed up first.
pub fn restore(ctx: &Context, backup: &Path, opts: EditOptions) -> Result<EditOutcome, Error> {
    let known = backups(ctx)?;
    let chosen = known
        .iter()
        .find(|b| b.as_path() == backup || b.file_name() == Some(backup.as_os_str()))
        .cloned()
        .ok_or_else(|| {
            Error::new(format!(
                "{} is not a backup of {} in {} (see restore --list)",
                backup.display(),
                ctx.config.display(),
                ctx.settings.backup_dir.display()
            ))
        })?;
    // Not a file another user could have planted or changed.
    let bytes = safe_write::read_backup(&chosen)?;
    let name = chosen
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    edit(ctx, &name, opts, move |set| {
        let unchanged = set.files[0].doc.text() == &bytes[..];
        Ok(Plan::of_main(
            (!unchanged).then_some((Action::Restored, Change::Whole(bytes))),
            // The backup loading (parse, includes) and passing the checks is the test.
            Box::new(|_| Ok(())),
        ))
    })
}

/// What `probe` found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub name: String,
    pub host: String,
    pub port: u16,
    #[serde(flatten)]
    pub outcome: crate::probe::Outcome,
    pub hint: &'static str,
}

/// Makes the XEP-0114 handshake for `name` with its configured secret.
pub fn probe(
    ctx: &Context,
    name: &str,
    host: Option<String>,
    port: Option<u16>,
    force: bool,
) -> Result<ProbeReport, Error> {
    let set = load_config(&ctx.config)?;
    let hosts: Vec<Host> = set
        .hosts_named(name)
        .into_iter()
        .filter(|h| h.is_external())
        .collect();
    if hosts.is_empty() {
        return Err(Error::new(format!(
            "there is no external Component {name} in {} or its includes",
            ctx.config.display()
        )));
    }
    let secret = hosts
        .iter()
        .rev()
        .find_map(|h| h.secret())
        .ok_or_else(|| Error::new(format!("{name} has no component_secret to probe with")))?;
    let secret = secret.literal().ok_or_else(|| {
        Error::new(format!(
            "the component_secret of {name} is an expression; cannot probe with it"
        ))
    })?;
    // A component set to kick_old would lose its live session to our probe.
    let kick_old = hosts.iter().any(|h| {
        let doc = &set.files[h.at.file].doc;
        doc.section_options(h.at.stmt).iter().any(|o| {
            o.name == "component_conflict_resolve"
                && o.value.as_ref().and_then(|v| v.literal()).as_deref() == Some(&b"kick_old"[..])
        })
    });
    if kick_old && !force {
        return Err(Error::new(format!(
            "{name} has component_conflict_resolve = \"kick_old\": a probe would disconnect its live session; use --force if it is not connected"
        )));
    }
    let listener = crate::listener::effective(&set).map_err(Error::new)?;
    // With no component listener there is nothing to probe, unless told where.
    let port = match (port, listener.closed(), listener.ports.first()) {
        (Some(p), _, _) => p,
        (None, None, Some(&p)) => p,
        (None, why, _) => {
            return Err(Error::new(format!(
                "{}; set one with fogbow-xmpp-ctl listen --port {}, or probe elsewhere with --port",
                why.unwrap_or_default(),
                crate::listener::DEFAULT_PORT
            )))
        }
    };
    let host = host.unwrap_or_else(|| listener.local_address());
    let outcome = crate::probe::handshake(&host, port, name, &secret);
    Ok(ProbeReport {
        name: name.to_string(),
        host,
        port,
        hint: outcome.hint(),
        outcome,
    })
}

/// `add --from-properties`: the name and secret from a Fogbow component's
/// own configuration; returns the outcome and what may still keep the
/// component from reaching prosody.
pub fn add_from_properties(
    ctx: &Context,
    name: Option<&str>,
    path: &Path,
    opts: EditOptions,
) -> Result<(EditOutcome, Vec<String>), Error> {
    let props = crate::fogbow::read(path).map_err(Error::new)?;
    if let Some(n) = name {
        if !crate::names::same(n, &props.jid) {
            return Err(Error::new(format!(
                "the name {n} differs from xmpp_jid = {} in {}",
                props.jid,
                path.display()
            )));
        }
    }
    let outcome = add(ctx, &props.jid, &props.password, opts)?;
    let listener = show_listener(ctx)?;
    Ok((outcome, props.warnings(path, &listener)))
}

/// The checklist of `doctor` for every external component.
pub fn doctor(ctx: &Context, public: &[std::net::IpAddr]) -> Result<crate::doctor::Report, Error> {
    let set = load_config(&ctx.config)?;
    let listener = crate::listener::effective(&set).map_err(Error::new)?;
    Ok(crate::doctor::run(&ctx.config, &set, &listener, public))
}

/// After a guarded reload: a reload applies a changed secret, but prosody
/// starts and stops components only on restart, so start (or stop) the one
/// an `add` (or `remove`) changed through prosody's admin shell, and prove a
/// start with a handshake. Returns what to tell the operator, if anything.
pub fn apply_to_running(ctx: &Context, o: &EditOutcome) -> Result<Option<String>, Error> {
    let name = &o.name;
    let shell = |active| {
        crate::service::set_active(name, active).map_err(|e| {
            let state = if active { "is not active" } else { "is still active" };
            Error::new(format!("the config is written and prosody reloaded, but {name} {state}: {e}; run fogbow-xmpp-ctl restart"))
        })
    };
    match o.action {
        Action::Added => {
            shell(true)?;
            match probe(ctx, name, None, None, false) {
                Ok(r) if r.outcome.ok() => Ok(Some(format!(
                    "activated {name} in the running prosody; a handshake is accepted"
                ))),
                Ok(r) => Err(Error::new(format!(
                    "{name} was activated, but the handshake probe says {:?}: {}",
                    r.outcome, r.hint
                ))),
                // kick_old components are not probed; the activation itself succeeded.
                Err(e) => Ok(Some(format!(
                    "activated {name} in the running prosody (not probed: {})",
                    e.message
                ))),
            }
        }
        Action::Removed => {
            shell(false)?;
            Ok(Some(format!(
                "deactivated {name} in the running prosody: new connections are refused; one already connected stays until it disconnects or prosody restarts"
            )))
        }
        _ => Ok(None),
    }
}
