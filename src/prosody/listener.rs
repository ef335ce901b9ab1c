//! Where prosody accepts external components: `component_interfaces` and
//! `component_ports`, which prosody reads only from the global section
//! (`core/portmanager.lua`), with the legacy singular forms as fallbacks.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::document::{Literal, Owner, Span, Statement};
use crate::prosody::config::ConfigSet;

/// The component port when none is configured.
pub const DEFAULT_PORT: u16 = 5347;
/// The component service is private: with no interfaces set it binds loopback.
pub const DEFAULT_INTERFACES: [&str; 2] = ["127.0.0.1", "::1"];

const INTERFACE_OPTIONS: [&str; 2] = ["component_interfaces", "component_interface"];
const PORT_OPTIONS: [&str; 2] = ["component_ports", "component_port"];
/// Every option `listen` owns, wherever it is set.
const LISTENER_OPTIONS: [&str; 4] = [
    "component_interfaces",
    "component_interface",
    "component_ports",
    "component_port",
];

/// Whether option `name` says where prosody listens (an address or a
/// port, never a secret): the listener options, `interfaces`, and any
/// service's `*_interface(s)`/`*_port(s)`. A dry run's diff shows their
/// values unmasked.
pub(crate) fn is_address_option(name: &str) -> bool {
    name == "interfaces"
        || ["_interfaces", "_interface", "_ports", "_port"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// A listener option set under a `VirtualHost`/`Component`. prosody (0.12
/// and 13 alike) reads the listener only from the global section
/// (`core/portmanager.lua`: `config.get("*", "component_ports")`); set in a
/// section it is only that host's option, which nothing reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Misplaced {
    pub option: String,
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub file: PathBuf,
    pub line: usize,
    /// The section, as written: `Component "x.example"`.
    pub section: String,
}

/// `listen` without options: the effective listener, and the listener
/// options prosody ignores because they are set in a section. The JSON of
/// [`Listener`] with `"ignored": [{"option", "file", "line", "section"}]`.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub listener: Listener,
    pub ignored: Vec<Misplaced>,
}

/// The listener prosody will open for components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub interfaces: Vec<String>,
    pub ports: Vec<u16>,
    /// Whether each list is prosody's default (nothing set).
    pub interfaces_default: bool,
    pub ports_default: bool,
}

impl Listener {
    /// The address to reach it from this machine: the first interface, with
    /// a wildcard replaced by loopback.
    pub fn local_address(&self) -> String {
        match self.interfaces.first().map(String::as_str) {
            None | Some("*") | Some("0.0.0.0") => "127.0.0.1".into(),
            Some("::") => "::1".into(),
            Some(a) => a.into(),
        }
    }

    /// Why prosody opens no component listener at all, if so. An empty
    /// list is a valid config: portmanager binds every interface × port
    /// pair, none here ("Activated service 'component' on no ports").
    pub fn closed(&self) -> Option<String> {
        if self.ports.is_empty() {
            Some(
                "the global component_ports is an empty list, so prosody opens no component port"
                    .into(),
            )
        } else if self.interfaces.is_empty() {
            Some("the global component_interfaces is an empty list, so prosody listens for components on no interface".into())
        } else {
            None
        }
    }

    /// Whether it accepts connections from other machines.
    pub fn remote_reachable(&self) -> bool {
        self.interfaces.iter().any(|i| match i.as_str() {
            "*" => true,
            a => a.parse::<IpAddr>().is_ok_and(|ip| !ip.is_loopback()),
        })
    }
}

/// Checks an interface address as `listen` accepts it.
pub fn validate_interface(a: &str) -> Result<(), String> {
    if a == "*" || a.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{a:?} is not an interface address: use *, 0.0.0.0, :: or a literal IP address"
        ))
    }
}

/// A global assignment of one of `names`, the last one prosody runs.
struct Found {
    file: usize,
    stmt: usize,
    value: Option<Span>,
}

fn global_assignments(set: &ConfigSet, names: &[&str]) -> Vec<Found> {
    let mut out = Vec::new();
    for at in set.order() {
        let doc = &set.files[at.file].doc;
        if doc.owner(at.stmt) != Owner::Global {
            continue;
        }
        if let Statement::Options(opts) = &doc.stmt(at.stmt).statement {
            for o in opts.iter().filter(|o| names.contains(&o.name)) {
                out.push(Found {
                    file: at.file,
                    stmt: at.stmt,
                    value: o.value.as_ref().map(|v| v.span.clone()),
                });
            }
        }
    }
    out
}

/// The values of the first of `names` that is set (in prosody's order of
/// preference), from its last global assignment.
fn read(set: &ConfigSet, names: &[&str]) -> Result<Option<Vec<Literal>>, String> {
    for name in names {
        if let Some(f) = global_assignments(set, &[name]).pop() {
            let doc = &set.files[f.file].doc;
            let span = f.value.ok_or_else(|| format!("{name} has no value"))?;
            let (line, _) = doc.line_col(span.start);
            return doc.literal_list(&span).map(Some).ok_or_else(|| {
                format!(
                    "{name} at {}:{line} is not a list of constants; cannot tell its value",
                    set.files[f.file].path.display()
                )
            });
        }
    }
    Ok(None)
}

/// The ports set by the first of `names` that is set globally.
fn ports(set: &ConfigSet, names: &[&str]) -> Result<Option<Vec<u16>>, String> {
    let Some(v) = read(set, names)? else {
        return Ok(None);
    };
    ports_of(v)
        .map_err(|e| format!("{e} (in {})", names[0]))
        .map(Some)
}

/// prosody's server-to-server ports (`s2s_ports`, default 5269).
pub fn s2s_ports(set: &ConfigSet) -> Result<Vec<u16>, String> {
    Ok(ports(set, &["s2s_ports"])?.unwrap_or_else(|| vec![5269]))
}

/// One of [`LISTENER_OPTIONS`] set under a section.
struct InSection {
    file: usize,
    stmt: usize,
    /// The option's name and its value.
    name: &'static str,
    value: Option<Span>,
    /// Whether it is a field of the section's table form.
    in_table: bool,
    /// Whether its statement sets other options too.
    shared: bool,
    shown: Misplaced,
}

/// Every listener option set under a section, in prosody's order.
fn in_sections(set: &ConfigSet) -> Vec<InSection> {
    let mut out = Vec::new();
    for at in set.order() {
        let doc = &set.files[at.file].doc;
        let (head, opts, in_table) = match (doc.owner(at.stmt), doc.stmt(at.stmt).statement) {
            (Owner::Section(h), Statement::Options(o)) => (h, o, false),
            (_, Statement::Section(head)) => match head.table {
                Some((_, fields)) => (at.stmt, fields, true),
                None => continue,
            },
            _ => continue,
        };
        let header = doc.section(head).expect("an owner is a section");
        let n = opts.len();
        for o in opts.iter() {
            let Some(&name) = LISTENER_OPTIONS.iter().find(|&&l| l == o.name) else {
                continue;
            };
            out.push(InSection {
                file: at.file,
                stmt: at.stmt,
                name,
                value: o.value.as_ref().map(|v| v.span.clone()),
                in_table,
                shared: n > 1,
                shown: Misplaced {
                    option: name.to_string(),
                    file: set.files[at.file].path.clone(),
                    line: doc.line_col(o.name_span.start).0,
                    section: format!("{} {}", header.kind.keyword(), doc.slice(&header.name.span)),
                },
            });
        }
    }
    out
}

/// The listener options prosody ignores because they are set in a section.
pub fn ignored(set: &ConfigSet) -> Vec<Misplaced> {
    in_sections(set).into_iter().map(|m| m.shown).collect()
}

/// The effective listener of `set`, with prosody's defaults.
pub fn effective(set: &ConfigSet) -> Result<Listener, String> {
    let interfaces = match read(
        set,
        &[
            "component_interfaces",
            "component_interface",
            "local_interfaces",
        ],
    )? {
        Some(v) => Some(
            v.into_iter()
                .map(|l| match l {
                    Literal::Str(s) => Ok(String::from_utf8_lossy(&s).into_owned()),
                    Literal::Num(n) => Err(format!("the interface {n} is not an address")),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let ports = ports(set, &PORT_OPTIONS)?;
    Ok(Listener {
        interfaces_default: interfaces.is_none(),
        ports_default: ports.is_none(),
        interfaces: interfaces
            .unwrap_or_else(|| DEFAULT_INTERFACES.iter().map(|s| s.to_string()).collect()),
        ports: ports.unwrap_or_else(|| vec![DEFAULT_PORT]),
    })
}

/// What `listen --interface/--port/--reset` will do: the splices per
/// file (by index in the set), the global values it writes, and what it
/// moved, one sentence each.
#[derive(Debug, Default)]
pub struct ListenPlan {
    pub edits: BTreeMap<usize, Vec<(Span, Vec<u8>)>>,
    pub interfaces: Option<Vec<String>>,
    pub ports: Option<Vec<u16>>,
    pub moved: Vec<String>,
}

/// `FILE:LINE` of a misplaced option, and its section.
fn place(m: &Misplaced) -> String {
    format!("{}:{} (under {})", m.file.display(), m.line, m.section)
}

/// The deletions of the misplaced options `found`, whose lines are their
/// own (comments kept); a table field or a statement that sets other
/// options too is left to the operator.
fn delete_misplaced(
    set: &ConfigSet,
    found: &[InSection],
    edits: &mut BTreeMap<usize, Vec<(Span, Vec<u8>)>>,
) -> Result<(), String> {
    for m in found {
        if m.in_table || m.shared {
            return Err(format!(
                "{} is set at {} in a statement that sets other options too, where prosody ignores it; delete it there by hand and run listen again",
                m.name,
                place(&m.shown)
            ));
        }
        let doc = &set.files[m.file].doc;
        edits
            .entry(m.file)
            .or_default()
            .push((doc.statement_removal_keeping_comments(m.stmt), Vec::new()));
    }
    Ok(())
}

/// The one value the misplaced options of `names` agree on, when the
/// operator did not give one and none is set globally: `listen` moves it
/// to the global section (the evident intent), and refuses when they
/// disagree.
fn misplaced_value<T: PartialEq>(
    set: &ConfigSet,
    found: &[InSection],
    names: &[&str],
    read: impl Fn(Vec<Literal>) -> Result<T, String>,
    flag: &str,
) -> Result<Option<(T, Vec<String>)>, String> {
    let mut value: Option<(T, &InSection)> = None;
    let mut from = Vec::new();
    for m in found.iter().filter(|m| names.contains(&m.name)) {
        let doc = &set.files[m.file].doc;
        let v = m
            .value
            .as_ref()
            .and_then(|span| doc.literal_list(span))
            .ok_or_else(|| {
                format!(
                    "{} at {} is not a list of constants; say which with {flag}",
                    m.name,
                    place(&m.shown)
                )
            })?;
        let v = read(v).map_err(|e| format!("{e} (at {})", place(&m.shown)))?;
        match &value {
            Some((first, at)) if *first != v => {
                return Err(format!(
                    "{} is set differently at {} and at {}, where prosody ignores both; say which with {flag}",
                    m.name,
                    place(&at.shown),
                    place(&m.shown)
                ))
            }
            Some(_) => {}
            None => value = Some((v, m)),
        }
        // Named as written: a legacy `component_interface` is not
        // `component_interfaces`.
        from.push(format!("{} at {}", m.name, place(&m.shown)));
    }
    Ok(value.map(|(v, _)| (v, from)))
}

fn ports_of(v: Vec<Literal>) -> Result<Vec<u16>, String> {
    v.into_iter()
        .map(|l| match l {
            Literal::Num(n) if n.fract() == 0.0 && (1.0..=65535.0).contains(&n) => Ok(n as u16),
            Literal::Str(s) => String::from_utf8_lossy(&s)
                .parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| "a port is not a number from 1 to 65535".to_string()),
            Literal::Num(n) => Err(format!("the port {n} is out of range")),
        })
        .collect()
}

fn interfaces_of(v: Vec<Literal>) -> Result<Vec<String>, String> {
    v.into_iter()
        .map(|l| match l {
            Literal::Str(s) => {
                let a = String::from_utf8_lossy(&s).into_owned();
                validate_interface(&a).map(|()| a)
            }
            Literal::Num(n) => Err(format!("the interface {n} is not an address")),
        })
        .collect()
}

/// The edits that set the listener. Existing global definitions (and
/// their legacy singular forms) are replaced in place, the first one
/// rewritten and the others deleted; when there is none, the option goes
/// just above the first `VirtualHost`/`Component` of the main config (with
/// the comments attached to it), where the global section ends. Listener
/// options set under a section, where prosody ignores them, are deleted;
/// when the operator gives no value for one kind (say only `--interface`)
/// and none is set globally, the value they agree on is moved to the
/// global section.
pub fn plan(
    set: &ConfigSet,
    interfaces: Option<&[String]>,
    ports: Option<&[u16]>,
) -> Result<ListenPlan, String> {
    let doc = &set.files[0].doc;
    let misplaced = in_sections(set);
    let mut out = ListenPlan {
        interfaces: interfaces.map(<[String]>::to_vec),
        ports: ports.map(<[u16]>::to_vec),
        ..ListenPlan::default()
    };
    if out.interfaces.is_none() && global_assignments(set, &INTERFACE_OPTIONS).is_empty() {
        if let Some((v, from)) = misplaced_value(
            set,
            &misplaced,
            &INTERFACE_OPTIONS,
            interfaces_of,
            "--interface",
        )? {
            out.moved.push(format!(
                "{}, where prosody ignores it, goes to the global section as component_interfaces",
                from.join(", ")
            ));
            out.interfaces = Some(v);
        }
    }
    if out.ports.is_none() && global_assignments(set, &PORT_OPTIONS).is_empty() {
        if let Some((v, from)) =
            misplaced_value(set, &misplaced, &PORT_OPTIONS, ports_of, "--port")?
        {
            out.moved.push(format!(
                "{}, where prosody ignores it, goes to the global section as component_ports",
                from.join(", ")
            ));
            out.ports = Some(v);
        }
    }
    let quote = |s: &str| crate::document::lexer::encode_string(s.as_bytes());
    let mut groups: Vec<(&[&str], String)> = Vec::new();
    if let Some(i) = &out.interfaces {
        groups.push((
            &INTERFACE_OPTIONS,
            format!(
                "component_interfaces = {{ {} }}",
                i.iter().map(|a| quote(a)).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if let Some(p) = &out.ports {
        groups.push((
            &PORT_OPTIONS,
            format!(
                "component_ports = {{ {} }}",
                p.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut edits: Vec<(Span, Vec<u8>)> = Vec::new();
    let mut inserts = String::new();
    for (names, text) in groups {
        let found = global_assignments(set, names);
        if let Some(f) = found.iter().find(|f| f.file != 0) {
            let (line, _) = set.files[f.file]
                .doc
                .line_col(set.files[f.file].doc.stmt_span(f.stmt).start);
            return Err(format!(
                "{} is set in {}:{line}; edit it there (listen edits the main config only)",
                names[0],
                set.files[f.file].path.display()
            ));
        }
        for (k, f) in found.iter().enumerate() {
            let stmt = doc.stmt(f.stmt);
            if let Statement::Options(o) = &stmt.statement {
                if o.len() != 1 {
                    let (line, _) = doc.line_col(stmt.span.start);
                    return Err(format!(
                        "line {line} assigns several options at once; edit it by hand"
                    ));
                }
            }
            if k == 0 {
                edits.push((stmt.span.clone(), text.clone().into_bytes()));
            } else {
                edits.push((doc.statement_removal(f.stmt), Vec::new()));
            }
        }
        if found.is_empty() {
            inserts.push_str(&text);
            inserts.push_str(doc.eol());
        }
    }
    if !inserts.is_empty() {
        match (0..doc.statement_count()).position(|i| doc.is_section(i)) {
            Some(h) => edits.push(global_insert(doc, h, inserts)),
            None => {
                let mut text = String::new();
                if !doc.text().is_empty() && !doc.ends_with_line_break() {
                    text.push_str(doc.eol());
                }
                text.push_str(&inserts);
                let end = doc.text().len();
                edits.push((end..end, text.into_bytes()));
            }
        }
    }
    if !edits.is_empty() {
        out.edits.insert(0, edits);
    }
    delete_misplaced(set, &misplaced, &mut out.edits)?;
    Ok(out)
}

/// The edit inserting the global `lines` before the first section `h`: on
/// the line after the last global statement, with a blank line after them,
/// so they read as their own statement (not under comments that introduce
/// what follows, like Debian's "This line includes all config files", nor
/// glued to the section): `prev`, blank, `lines`, blank when a blank line
/// followed `prev`, else `prev`, `lines`, blank ([`tidy_removals`] undoes
/// either exactly). Just above the section and its comments when nothing
/// global precedes it on a line of its own.
fn global_insert(doc: &crate::document::Document, h: usize, lines: String) -> (Span, Vec<u8>) {
    let eol = doc.eol();
    let at = match h {
        0 => None,
        _ => Some(doc.line_after(h - 1)).filter(|&at| at <= doc.stmt_span(h).start),
    };
    let Some(at) = at else {
        let at = doc.attached_start(h);
        return (at..at, lines.into_bytes());
    };
    let text = match blank_line_after(doc.text(), at) {
        Some(_) => format!("{eol}{lines}"),
        None => format!("{lines}{eol}"),
    };
    (at..at, text.into_bytes())
}

/// The end of the blank line starting at `at`, if it is one.
fn blank_line_after(text: &[u8], at: usize) -> Option<usize> {
    let rest = text.get(at..)?;
    let n = rest
        .iter()
        .take_while(|&&c| matches!(c, b' ' | b'\t' | b'\r'))
        .count();
    (rest.get(n) == Some(&b'\n')).then_some(at + n + 1)
}

/// The start of the blank line ending at `at` (just before it), if it is one.
fn blank_line_before(text: &[u8], at: usize) -> Option<usize> {
    let before = text.get(..at.checked_sub(1)?)?;
    (text[at - 1] == b'\n').then_some(())?;
    let start = before
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    before[start..]
        .iter()
        .all(|c| matches!(c, b' ' | b'\t' | b'\r'))
        .then_some(start)
}

/// Whole-line removals that leave a blank line where a blank line was
/// already on each side, or below, of what goes take one of them too: the
/// one above if it is blank, else the one below, so that deleting what
/// [`global_insert`] inserted gives back the file as it was.
fn tidy_removals(text: &[u8], spans: &mut Vec<(Span, Vec<u8>)>) {
    spans.sort_by_key(|(s, _)| s.start);
    let mut merged: Vec<(Span, Vec<u8>)> = Vec::new();
    for (s, b) in spans.drain(..) {
        match merged.last_mut() {
            Some((m, _)) if m.end == s.start => m.end = s.end,
            _ => merged.push((s, b)),
        }
    }
    for (s, _) in &mut merged {
        let whole_lines = (s.start == 0 || text[s.start - 1] == b'\n')
            && s.end > s.start
            && text[s.end - 1] == b'\n';
        if !whole_lines || blank_line_after(text, s.end).is_none() {
            continue;
        }
        match blank_line_before(text, s.start) {
            Some(start) => s.start = start,
            None => s.end = blank_line_after(text, s.end).unwrap_or(s.end),
        }
    }
    *spans = merged;
}

/// The edits of `listen --reset`: every definition of the listener options
/// deleted, global ones (in whichever file) and misplaced ones alike (their
/// comments kept), so that prosody's defaults apply.
pub fn plan_reset(set: &ConfigSet) -> Result<ListenPlan, String> {
    let mut out = ListenPlan::default();
    for f in global_assignments(set, &LISTENER_OPTIONS) {
        let doc = &set.files[f.file].doc;
        if let Statement::Options(o) = &doc.stmt(f.stmt).statement {
            if o.len() != 1 {
                let (line, _) = doc.line_col(doc.stmt_span(f.stmt).start);
                return Err(format!(
                    "{}:{line} assigns several options at once; edit it by hand",
                    set.files[f.file].path.display()
                ));
            }
        }
        out.edits
            .entry(f.file)
            .or_default()
            .push((doc.statement_removal_keeping_comments(f.stmt), Vec::new()));
    }
    for (&f, spans) in out.edits.iter_mut() {
        tidy_removals(set.files[f].doc.text(), spans);
    }
    delete_misplaced(set, &in_sections(set), &mut out.edits)?;
    Ok(out)
}

/// Whether `set` defines any listener option, globally or in a section.
pub fn any_defined(set: &ConfigSet) -> bool {
    !global_assignments(set, &LISTENER_OPTIONS).is_empty() || !in_sections(set).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(text: &str) -> Result<Listener, String> {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.cfg.lua");
        std::fs::write(&f, text).unwrap();
        effective(&ConfigSet::load(&f).unwrap())
    }

    /// An empty list is valid in prosody and opens nothing (portmanager
    /// loops over interfaces × ports); it reads as such, not as the default.
    #[test]
    fn empty_lists_open_no_listener() {
        let l = listener("component_ports = { }\n").unwrap();
        assert!(l.ports.is_empty() && !l.ports_default);
        assert!(l
            .closed()
            .unwrap()
            .contains("component_ports is an empty list"));
        let l = listener("component_interfaces = {}\n").unwrap();
        assert!(l
            .closed()
            .unwrap()
            .contains("component_interfaces is an empty list"));
        assert!(!l.remote_reachable());
        assert_eq!(listener("").unwrap().closed(), None);
        assert_eq!(listener("component_ports = 5348\n").unwrap().ports, [5348]);
        for bad in ["component_ports = { \"0\" }\n", "component_ports = { 0 }\n"] {
            assert!(listener(bad).is_err(), "{bad}");
        }
    }
}
