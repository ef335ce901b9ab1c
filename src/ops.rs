//! `add`, `remove` and `list` as operations on the config: read under the
//! lock, compute splices, check the result as prosody would load it, and
//! only then replace files. The CLI maps these results to output.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::{ConfigSet, Host};
use crate::diagnostics::{self, Diagnostic};
use crate::document::{Document, Span, Statement, Value};
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
    let lock_dir = main_real.parent().unwrap_or(Path::new("/"));
    // A dry run writes nothing, so, like `check`, it takes no lock.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(Lock::acquire(
            lock_dir,
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
        message: "refusing to write: the edited config would not load (this is a bug in fogbow-xmpp-ctl; please report it)".into(),
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
            ..outcome(true, None, Some(diff))
        });
    }

    let backups = Backups {
        dir: ctx.settings.backup_dir.clone(),
        keep: ctx.settings.backups,
    };
    let mut backup = None;
    for (_, target) in paths.values() {
        // Temp files of ours left by a killed run are stale: we hold the lock.
        let _ = safe_write::remove_stale_temp_files(target);
        let b = safe_write::replace(
            target,
            edited(target).text(),
            (backups.keep > 0).then_some(&backups),
        )?;
        if *target == main_file {
            backup = b;
        }
    }
    Ok(EditOutcome {
        warnings,
        ..outcome(true, backup, None)
    })
}

/// Loads the config; one that does not load is neither read nor edited.
fn load_config(main: &Path) -> Result<ConfigSet, Error> {
    ConfigSet::load(main).map_err(|e| {
        let d = diagnostics::from_load_error(&e);
        let message = match d.code {
            "unreadable" => {
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
            diagnostics: if d.code == "unreadable" {
                vec![]
            } else {
                vec![d]
            },
        }
    })
}

fn where_(set: &ConfigSet, h: &Host) -> String {
    format!("{}:{}", set.files[h.at.file].path.display(), h.line())
}

fn plan_add(set: &ConfigSet, name: &str, secret: &[u8], replace: bool) -> Result<Plan, Error> {
    let hosts = set.hosts_named(name);
    if let Some(v) = hosts
        .iter()
        .find(|h| h.kind == crate::document::SectionKind::VirtualHost)
    {
        return Err(Error::new(format!(
            "{name} is a VirtualHost at {}; a Component of the same name would stop prosody from starting",
            where_(set, v)
        )));
    }
    if hosts.is_empty() {
        let main = &set.files[0];
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
        let module = h
            .module()
            .map(|m| set.files[h.at.file].doc.slice(&m.span))
            .unwrap_or_default();
        return Err(Error::new(format!(
            "{name} is a Component with the plugin module {module} at {}, not an external component; not changing it",
            where_(set, h)
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
        let e = doc.insert_secret_edit(last.at.stmt, secret);
        return Ok(Plan {
            action: Action::Added,
            verify: verified(name, Action::Added),
            files: BTreeMap::from([(last.at.file, Change::Splice(vec![e]))]),
            file: last.at.file,
        });
    };
    let doc = &set.files[file].doc;
    let (line, _) = doc.line_col(current.span.start);
    let place = format!("{}:{line}", set.files[file].path.display());
    match current.literal() {
        None => Err(Error::new(format!(
            "the component_secret of {name} at {place} is an expression ({}), not a string; edit it by hand",
            doc.slice(&current.span)
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
    if let Some(v) = hosts
        .iter()
        .find(|h| h.kind == crate::document::SectionKind::VirtualHost)
    {
        return Err(Error::new(format!(
            "{name} is a VirtualHost at {}, not a Component; not removing it",
            where_(set, v)
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

/// The text with every `component_secret` string replaced by `"********"`.
pub fn mask_secrets(doc: &Document) -> Vec<u8> {
    let mut edits = Vec::new();
    let mut mask = |v: &Option<Value>| {
        if let Some(v) = v {
            if v.is_literal() {
                edits.push((v.span.clone(), b"\"********\"".to_vec()));
            }
        }
    };
    for s in doc.statements() {
        match &s.statement {
            Statement::Options(opts) => opts
                .iter()
                .filter(|o| o.name == "component_secret")
                .for_each(|o| mask(&o.value)),
            Statement::Section(h) => {
                if let Some((_, fields)) = &h.table {
                    fields
                        .iter()
                        .filter(|o| o.name == "component_secret")
                        .for_each(|o| mask(&o.value));
                }
            }
            _ => {}
        }
    }
    doc.splice(edits)
}

fn unified_diff(path: &Path, old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let p = path.display().to_string();
    similar::TextDiff::from_lines(&*old, &*new)
        .unified_diff()
        .context_radius(3)
        .header(&p, &p)
        .to_string()
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
    safe_write::list_backups(&ctx.settings.backup_dir, &real)
        .map_err(|e| Error::new(safe_write::io_error("read", &ctx.settings.backup_dir, e).message))
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
    let bytes = std::fs::read(&chosen)
        .map_err(|e| Error::new(safe_write::io_error("read", &chosen, e).message))?;
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
    let host = host.unwrap_or_else(|| listener.local_address());
    let port = port.unwrap_or(listener.ports[0]);
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
