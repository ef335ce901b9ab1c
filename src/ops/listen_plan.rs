//! The listener planner of `listen`: the splices that set
//! `component_interfaces`/`component_ports` in the global section (where
//! prosody reads them), move or delete the copies set under a section
//! (where it ignores them), or delete them all for `--reset`. What the
//! config says now is read by [`crate::prosody::listener`].

use std::collections::BTreeMap;

use crate::diagnostics::Note;
use crate::document::{Literal, Span, Statement};
use crate::error::{refusal, Error};
use crate::prosody::config::ConfigSet;
use crate::prosody::listener::{
    global_assignments, in_sections, interfaces_of, ports_of, InSection, Misplaced,
    INTERFACE_OPTIONS, LISTENER_OPTIONS, PORT_OPTIONS,
};

/// What `listen --interface/--port/--reset` will do: the splices per
/// file (by index in the set), the global values it writes, and what it
/// moved, one sentence each.
#[derive(Debug, Default)]
pub(crate) struct ListenPlan {
    pub(crate) edits: BTreeMap<usize, Vec<(Span, Vec<u8>)>>,
    pub(crate) interfaces: Option<Vec<String>>,
    pub(crate) ports: Option<Vec<u16>>,
    pub(crate) moved: Vec<Note>,
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
) -> Result<(), Error> {
    for m in found {
        if m.in_table || m.shared {
            return Err(Error::refused(refusal::Listen::Shared {
                name: m.name.to_string(),
                at: place(&m.shown),
            }));
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
    read: impl Fn(Vec<Literal>) -> Result<T, crate::prosody::listener::ListenerError>,
    flag: &str,
) -> Result<Option<(T, Vec<Misplaced>)>, Error> {
    let mut value: Option<(T, &InSection)> = None;
    let mut from = Vec::new();
    for m in found.iter().filter(|m| names.contains(&m.name)) {
        let doc = &set.files[m.file].doc;
        let v = m
            .value
            .as_ref()
            .and_then(|span| doc.literal_list(span))
            .ok_or_else(|| {
                Error::refused(refusal::Listen::NotConstant {
                    name: m.name.to_string(),
                    at: place(&m.shown),
                    flag: flag.to_string(),
                })
            })?;
        let v = read(v).map_err(|error| {
            let at = Some(place(&m.shown));
            Error::refused(refusal::Listen::Unreadable { error, at })
        })?;
        match &value {
            Some((first, at)) if *first != v => {
                return Err(Error::refused(refusal::Listen::Differs {
                    name: m.name.to_string(),
                    first: place(&at.shown),
                    second: place(&m.shown),
                    flag: flag.to_string(),
                }))
            }
            Some(_) => {}
            None => value = Some((v, m)),
        }
        // Named as written: a legacy `component_interface` is not
        // `component_interfaces`.
        from.push(Misplaced {
            option: m.name.to_string(),
            ..m.shown.clone()
        });
    }
    Ok(value.map(|(v, _)| (v, from)))
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
pub(crate) fn plan(
    set: &ConfigSet,
    interfaces: Option<&[String]>,
    ports: Option<&[u16]>,
) -> Result<ListenPlan, Error> {
    let misplaced = in_sections(set);
    let mut out = ListenPlan {
        interfaces: interfaces.map(<[String]>::to_vec),
        ports: ports.map(<[u16]>::to_vec),
        ..ListenPlan::default()
    };
    adopt_misplaced(set, &misplaced, &mut out)?;
    let edits = global_edits(set, option_lines(&out))?;
    if !edits.is_empty() {
        out.edits.insert(0, edits);
    }
    delete_misplaced(set, &misplaced, &mut out.edits)?;
    Ok(out)
}

/// A kind of option the operator gives no value for, and the global section
/// does not set: the value the misplaced ones agree on moves there.
fn adopt_misplaced(
    set: &ConfigSet,
    misplaced: &[InSection],
    out: &mut ListenPlan,
) -> Result<(), Error> {
    let moved = |from: Vec<Misplaced>, to: &'static str| Note::MovedToGlobal { from, to };
    if out.interfaces.is_none() && global_assignments(set, &INTERFACE_OPTIONS).is_empty() {
        let value = misplaced_value(
            set,
            misplaced,
            &INTERFACE_OPTIONS,
            interfaces_of,
            "--interface",
        )?;
        if let Some((v, from)) = value {
            out.moved.push(moved(from, "component_interfaces"));
            out.interfaces = Some(v);
        }
    }
    if out.ports.is_none() && global_assignments(set, &PORT_OPTIONS).is_empty() {
        if let Some((v, from)) = misplaced_value(set, misplaced, &PORT_OPTIONS, ports_of, "--port")?
        {
            out.moved.push(moved(from, "component_ports"));
            out.ports = Some(v);
        }
    }
    Ok(())
}

/// The global lines the plan sets, each with the options it stands for.
fn option_lines(out: &ListenPlan) -> Vec<(&'static [&'static str], String)> {
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
    groups
}

/// The edits of the main config that set each of `groups` globally: the
/// first definition rewritten, the others deleted, else inserted where the
/// global section ends (or at the end of a config with no section).
fn global_edits(
    set: &ConfigSet,
    groups: Vec<(&[&str], String)>,
) -> Result<Vec<(Span, Vec<u8>)>, Error> {
    let doc = &set.files[0].doc;
    let mut edits: Vec<(Span, Vec<u8>)> = Vec::new();
    let mut inserts = String::new();
    for (names, text) in groups {
        let found = global_assignments(set, names);
        if let Some(f) = found.iter().find(|f| f.file != 0) {
            let (line, _) = set.files[f.file]
                .doc
                .line_col(set.files[f.file].doc.stmt_span(f.stmt).start);
            return Err(Error::refused(refusal::Listen::Included {
                name: names[0].to_string(),
                path: set.files[f.file].path.clone(),
                line,
            }));
        }
        for (k, f) in found.iter().enumerate() {
            let stmt = doc.stmt(f.stmt);
            if let Statement::Options(o) = &stmt.statement {
                if o.len() != 1 {
                    let (line, _) = doc.line_col(stmt.span.start);
                    return Err(Error::refused(refusal::Listen::SeveralOptions {
                        path: None,
                        line,
                    }));
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
    if inserts.is_empty() {
        return Ok(edits);
    }
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
    Ok(edits)
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
pub(crate) fn plan_reset(set: &ConfigSet) -> Result<ListenPlan, Error> {
    let mut out = ListenPlan::default();
    for f in global_assignments(set, &LISTENER_OPTIONS) {
        let doc = &set.files[f.file].doc;
        if let Statement::Options(o) = &doc.stmt(f.stmt).statement {
            if o.len() != 1 {
                let (line, _) = doc.line_col(doc.stmt_span(f.stmt).start);
                return Err(Error::refused(refusal::Listen::SeveralOptions {
                    path: Some(set.files[f.file].path.clone()),
                    line,
                }));
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
