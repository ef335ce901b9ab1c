//! What `add` and `remove` change, decided on the loaded config: a
//! [`Plan`] of splices per file (and of files to create or remove) and the
//! check that the edit did what it says, or a refusal that names the place
//! in the config and the way out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Action;
use crate::diagnostics::Note;
use crate::document::{Document, SectionKind, Span, Value};
use crate::error::{refusal, Error, Missing};
use crate::prosody::config::{ConfigSet, Host};

/// What an edit will do to some files (by index in the set).
pub(super) struct Plan {
    pub(crate) action: Action,
    pub(crate) files: BTreeMap<usize, Change>,
    /// The file named in the outcome (the one holding the component),
    /// unless the edit creates one: then the first of [`Plan::create`].
    pub(crate) file: usize,
    /// Files the edit creates (none exists yet).
    pub(crate) create: Vec<NewFile>,
    /// Confirms, on the edited config read back as prosody would, that the
    /// edit did what it says.
    pub(crate) verify: Verify,
}

impl Plan {
    /// A change of the main config only; `None` when it already is as asked.
    pub(super) fn of_main(change: Option<(Action, Change)>, verify: Verify) -> Plan {
        let (action, files) = match change {
            Some((action, c)) => (action, BTreeMap::from([(0, c)])),
            None => (Action::Unchanged, BTreeMap::new()),
        };
        Plan {
            action,
            files,
            file: 0,
            create: Vec::new(),
            verify,
        }
    }
}

/// A file an edit creates: the path as it will be named (absolute, or as
/// the main config is named), and its contents.
pub(super) struct NewFile {
    pub(crate) path: PathBuf,
    pub(crate) text: Vec<u8>,
}

/// The first line of a file `add --file` creates: what tells `remove` that
/// the file is ours to delete once it holds nothing but comments.
pub(super) const CREATED_MARKER: &str = "-- Created by fogbow-xmpp-ctl";

/// A new file holding just the `Component` block of `name`, under a
/// header that says who made it (a blank line apart: `remove` deletes
/// the comment lines directly above a section, and the header must stay).
pub(super) fn new_component_file(name: &str, secret: &[u8]) -> Vec<u8> {
    let header = format!(
        "{CREATED_MARKER} for the external component {name}.\n\
         -- `fogbow-xmpp-ctl remove` deletes this file when it removes the last\n\
         -- statement in it; comments of your own do not keep it.\n"
    );
    let doc = Document::parse(header.into_bytes()).expect("comments parse");
    let edit = doc.append_component_edit(name, secret);
    doc.splice(vec![edit])
}

/// Whether `text` (a file's text after an edit) is a file `add --file`
/// created that now holds nothing but comments and whitespace.
fn only_our_header_left(text: &[u8]) -> bool {
    text.starts_with(CREATED_MARKER.as_bytes())
        && Document::parse(text.to_vec()).is_ok_and(|d| d.statement_count() == 0)
}

/// A plan's check of the edited config (see [`Plan::verify`]).
pub(super) type Verify = Box<dyn Fn(&ConfigSet) -> Result<(), Error>>;

/// How one file changes.
pub(super) enum Change {
    /// Non-overlapping splices of its current text.
    Splice(Vec<(Span, Vec<u8>)>),
    /// Whole new contents (a restored backup).
    Whole(Vec<u8>),
    /// The file is removed. Read back as an empty file, which is what a
    /// file that is gone contributes to the config.
    Delete,
}

impl Change {
    /// The new text, made in the buffer of the old one: a large config is
    /// not held twice.
    pub(super) fn apply(self, mut text: Vec<u8>) -> Vec<u8> {
        let mut edits = match self {
            Change::Whole(new) => return new,
            Change::Delete => return Vec::new(),
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

fn path_of(file: Option<&Path>) -> PathBuf {
    file.map(Path::to_path_buf).unwrap_or_default()
}

/// Where `add --file PATH` appends: `Some(index)` of the loaded file at
/// `path`, `None` when there is no file there yet (the edit creates it; the
/// pipeline refuses it unless an `Include` covers it). An existing file
/// that the config does not load is refused: prosody would never read a
/// component written there.
fn in_file(set: &ConfigSet, path: &Path) -> Result<Option<usize>, Error> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::safe_write::io_error("read", path, e).into()),
        Ok(_) => {}
    }
    let real =
        std::fs::canonicalize(path).map_err(|e| crate::safe_write::io_error("read", path, e))?;
    match set.files.iter().position(|f| f.real_path == real) {
        Some(i) => Ok(Some(i)),
        None => Err(Error::refused(refusal::Edit::NotIncluded {
            path: path.to_path_buf(),
            main: set.files[0].path.clone(),
            hint: include_hint(&set.files[0].path, path),
            new_file: false,
        })),
    }
}

/// What to add to the main config `main` so that prosody loads `file`:
/// `add the line `Include "conf.d/*.cfg.lua"` to MAIN`, the pattern
/// relative to the main config's directory where it can be.
pub(super) fn include_hint(main: &Path, file: &Path) -> String {
    let dir = main.parent().unwrap_or(Path::new(""));
    let rel = file.strip_prefix(dir).unwrap_or(file);
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A glob in the main config's own directory could match the main
    // config itself (an include loop): there, the file by name.
    let include = match rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(p) if name.ends_with(".cfg.lua") => format!("{}/*.cfg.lua", p.display()),
        Some(p) => format!("{}/{name}", p.display()),
        None => name,
    };
    format!("add the line `Include {include:?}` to {}", main.display())
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

/// Refuses an edit of `name` where a `component_secret = …` in its
/// section only assigns a Lua local: an edit would leave it (and its
/// secret) behind or beside ours. (Code that can set a secret beyond a
/// static reading is left to the proof by prosody's own loader: see
/// `proof`.)
fn refuse_local_secret(set: &ConfigSet, hosts: &[Host]) -> Result<(), Error> {
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
            return Err(Error::refused(refusal::Component::LocalSecret {
                path: f.path.clone(),
                local: (dl, dc),
                assignment: Some((al, ac)),
            }));
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
            Err(Error::refused(refusal::Component::LocalSecret {
                path: f.path.clone(),
                local: (l, c),
                assignment: None,
            }))
        }
    }
}

/// `file`: where a new component goes, when not at the end of the main
/// config (`add --file`, relative paths already joined to the main
/// config's directory). An existing component is edited where it is.
pub(super) fn add(
    set: &ConfigSet,
    name: &str,
    secret: &[u8],
    replace: bool,
    file: Option<&Path>,
) -> Result<Plan, Error> {
    let hosts = set.hosts_named(name);
    refuse_local_secret(set, &hosts)?;
    if let Some(v) = hosts.iter().find(|h| h.kind == SectionKind::VirtualHost) {
        return Err(Error::refused(refusal::Component::VirtualHost {
            name: name.to_string(),
            at: where_(set, v, name),
            removing: false,
        }));
    }
    if hosts.is_empty() {
        return add_new(set, name, secret, file);
    }
    if let Some(h) = hosts.iter().find(|h| !h.is_external()) {
        // A module name is shown, never an expression's text.
        let module = h.module().and_then(|m| m.literal()).map_or_else(
            || "(an expression)".into(),
            |m| format!("{:?}", String::from_utf8_lossy(&m)),
        );
        return Err(Error::refused(refusal::Component::Plugin {
            name: name.to_string(),
            at: where_(set, h, name),
            module: Some(module),
        }));
    }
    // Duplicate blocks merge in prosody and the last secret wins: that is the one to compare and change.
    let last = hosts.last().expect("not empty");
    match hosts.iter().rev().find_map(|h| Some((h, h.secret()?))) {
        None => add_secret(set, name, secret, last),
        Some((owner, current)) => set_secret(set, name, secret, replace, owner, &current),
    }
}

/// A plan for `name` that changes `files` and names `file`.
fn edit_plan(name: &str, action: Action, file: usize, files: BTreeMap<usize, Change>) -> Plan {
    Plan {
        action,
        verify: verified(name, action),
        files,
        file,
        create: Vec::new(),
    }
}

/// `add` of a component the config does not have: a new file of its own
/// (`add --file` of a file that does not exist), else appended to the
/// file it names (or the main config).
fn add_new(set: &ConfigSet, name: &str, secret: &[u8], file: Option<&Path>) -> Result<Plan, Error> {
    let index = match file {
        None => 0,
        Some(path) => match in_file(set, path)? {
            Some(i) => i,
            None => {
                return Ok(Plan {
                    create: vec![NewFile {
                        path: path_of(file),
                        text: new_component_file(name, secret),
                    }],
                    ..edit_plan(name, Action::Added, 0, BTreeMap::new())
                })
            }
        },
    };
    let target = &set.files[index];
    refuse_shadowed(set, index, target.doc.text().len())?;
    let e = target.doc.append_component_edit(name, secret);
    let files = BTreeMap::from([(index, Change::Splice(vec![e]))]);
    Ok(edit_plan(name, Action::Added, index, files))
}

/// `add` of a component with no `component_secret`: one added to its last block.
fn add_secret(set: &ConfigSet, name: &str, secret: &[u8], last: &Host) -> Result<Plan, Error> {
    let doc = &set.files[last.at.file].doc;
    if doc.section(last.at.stmt).and_then(|h| h.table).is_none() {
        refuse_shadowed(set, last.at.file, doc.stmt_span(last.at.stmt).end)?;
    }
    let e = doc.insert_secret_edit(last.at.stmt, secret);
    let files = BTreeMap::from([(last.at.file, Change::Splice(vec![e]))]);
    Ok(edit_plan(name, Action::Added, last.at.file, files))
}

/// `add` of a component whose block `owner` sets the secret prosody reads
/// (`current`): unchanged when it is `secret`, replaced with `--replace`.
fn set_secret(
    set: &ConfigSet,
    name: &str,
    secret: &[u8],
    replace: bool,
    owner: &Host,
    current: &Value<'_>,
) -> Result<Plan, Error> {
    let file = owner.at.file;
    let doc = &set.files[file].doc;
    let (line, column) = doc.line_col(current.span.start);
    let place = format!("{}:{line}:{column}", set.files[file].path.display());
    // A component is placed by its `Component` line, as `list` shows it.
    let component_at = format!("{}:{}", set.files[file].path.display(), owner.line());
    match current.literal() {
        // Never its text: an expression may hold the secret itself (`"S" .. ""`).
        None => Err(Error::refused(refusal::Component::Expression {
            name: name.to_string(),
            at: place,
        })),
        Some(old) if old == secret => Ok(edit_plan(name, Action::Unchanged, file, BTreeMap::new())),
        Some(_) if !replace => Err(Error::refused(refusal::Component::SecretDiffers {
            name: name.to_string(),
            at: component_at,
            credential: None,
        })),
        Some(_) => {
            let e = Document::replace_value_edit(current, secret);
            let files = BTreeMap::from([(file, Change::Splice(vec![e]))]);
            Ok(edit_plan(name, Action::Replaced, file, files))
        }
    }
}

/// For `add` of a name the config does not have: the external component
/// one or two typing mistakes away from it (`mydomian` next to
/// `mydomain`), as a warning that says where it is.
pub(super) fn near_miss(set: &ConfigSet, name: &str) -> Option<Note> {
    if !set.hosts_named(name).is_empty() {
        return None;
    }
    let known: Vec<(String, Host)> = set
        .hosts()
        .filter(|h| h.is_external())
        .filter_map(|h| Some((h.literal_name()?, h)))
        .collect();
    let other = crate::prosody::names::closest(name, known.iter().map(|(n, _)| n.as_str()))?;
    let (_, h) = known.iter().find(|(n, _)| n == other)?;
    Some(Note::NearName {
        name: name.to_string(),
        other: other.to_string(),
        file: set.files[h.at.file].path.clone(),
        line: h.line(),
        written: h.literal_name().filter(|n| n != other),
    })
}

/// Which spelling an external component must connect with, when `name`
/// (as given to `add` or `probe`) or the config's spelling of it (in
/// `hosts`, its blocks) is not nameprep's form: `MiXed.Fog.Test` must
/// connect as `mixed.fog.test` (see `names::connect_as`).
pub(super) fn spelling(name: &str, hosts: &[Host]) -> Option<Note> {
    let written: Vec<String> = hosts
        .iter()
        .filter(|h| h.is_external())
        .filter_map(|h| h.literal_name())
        .collect();
    std::iter::once(name)
        .chain(written.iter().map(String::as_str))
        .find_map(|written| {
            let known_as = crate::prosody::names::connect_as(written.as_bytes())?;
            Some(Note::ConnectAs {
                written: written.to_string(),
                known_as,
            })
        })
}

pub(super) fn remove(set: &ConfigSet, name: &str, if_exists: bool) -> Result<Plan, Error> {
    let hosts = set.hosts_named(name);
    refuse_local_secret(set, &hosts)?;
    if let Some(v) = hosts.iter().find(|h| h.kind == SectionKind::VirtualHost) {
        return Err(Error::refused(refusal::Component::VirtualHost {
            name: name.to_string(),
            at: where_(set, v, name),
            removing: true,
        }));
    }
    if hosts.is_empty() {
        return remove_absent(set, name, if_exists);
    }
    // `add` refuses a plugin component (a MUC, an upload service): so does
    // `remove`, which would otherwise delete a whole service it never made.
    if let Some(h) = hosts.iter().find(|h| !h.is_external()) {
        return Err(Error::refused(refusal::Component::Plugin {
            name: name.to_string(),
            at: where_(set, h, name),
            module: None,
        }));
    }
    let mut per_file: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
    for h in &hosts {
        let doc = &set.files[h.at.file].doc;
        let span = doc.section_removal(h.at.stmt).map_err(|e| {
            let (l, c) = doc.line_col(e.offset);
            Error::refused(refusal::Component::UnsafeRemoval {
                name: name.to_string(),
                path: set.files[h.at.file].path.clone(),
                line: l,
                col: c,
                message: e.message,
            })
        })?;
        per_file.entry(h.at.file).or_default().push(span);
    }
    let files = per_file
        .into_iter()
        .map(|(fi, spans)| (fi, removal(set, fi, spans)))
        .collect();
    Ok(edit_plan(name, Action::Removed, hosts[0].at.file, files))
}

/// `; did you mean NAME?` when an external component's name is a likely
/// typing mistake away from `name`, else nothing.
pub(super) fn did_you_mean(set: &ConfigSet, name: &str) -> String {
    let known: Vec<String> = set
        .hosts()
        .filter(|h| h.is_external())
        .filter_map(|h| h.literal_name())
        .collect();
    crate::prosody::names::closest(name, known.iter().map(String::as_str))
        .map(|n| format!("; did you mean {n}?"))
        .unwrap_or_default()
}

/// `remove` of a name the config does not have: nothing to do with
/// `--if-exists`, else not found (with the external component it is
/// likely a typing mistake of).
fn remove_absent(set: &ConfigSet, name: &str, if_exists: bool) -> Result<Plan, Error> {
    if if_exists {
        return Ok(edit_plan(name, Action::Absent, 0, BTreeMap::new()));
    }
    let hint = did_you_mean(set, name);
    Err(Error::NotFound(Missing::Component {
        name: name.to_string(),
        config: set.files[0].path.clone(),
        hint,
    }))
}

/// The change to file `fi` that removes the blocks at `spans` (merged
/// where they overlap). A file `add --file` created, left with nothing but
/// comments, is removed, not left behind empty (never the main config,
/// never a symlink, which would be left dangling).
fn removal(set: &ConfigSet, fi: usize, mut spans: Vec<Span>) -> Change {
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<Span> = Vec::new();
    for s in spans {
        match merged.last_mut() {
            Some(m) if s.start <= m.end => m.end = m.end.max(s.end),
            _ => merged.push(s),
        }
    }
    let splice: Vec<(Span, Vec<u8>)> = merged.into_iter().map(|s| (s, Vec::new())).collect();
    let f = &set.files[fi];
    let link = std::fs::symlink_metadata(&f.path).is_ok_and(|m| m.file_type().is_symlink());
    let ours = fi != 0 && !link && only_our_header_left(&f.doc.splice(splice.clone()));
    if ours {
        Change::Delete
    } else {
        Change::Splice(splice)
    }
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
        Err(Error::refused(refusal::Unintended::Presence {
            name: name.to_string(),
            present: action != Action::Removed,
        }))
    }
}
