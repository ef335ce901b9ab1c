//! What a dry run shows: a unified diff of each changed file, every
//! string literal masked unless `--show-secrets`, and escaped for the
//! terminal (the diff is also the JSON's `"diff"`, escaped the same way).

use std::collections::BTreeMap;
use std::path::Path;

use super::pipeline::Edited;
use crate::config::ConfigSet;
use crate::diagnostics;
use crate::document::{Document, Span, Statement};

/// The old side of the diff for the files about to change, by index.
pub(super) fn old_side(
    set: &ConfigSet,
    changed: impl Iterator<Item = usize>,
    show_secrets: bool,
) -> BTreeMap<usize, Vec<u8>> {
    changed
        .map(|i| (i, shown(&set.files[i].doc, show_secrets)))
        .collect()
}

/// The diff of every changed file, old side from [`old_side`].
pub(super) fn render(
    edited: &Edited,
    old_side: &BTreeMap<usize, Vec<u8>>,
    show_secrets: bool,
) -> String {
    let mut diff = String::new();
    for (i, old_text) in old_side {
        let (path, real) = &edited.paths[i];
        let new_text = shown(edited.doc(real), show_secrets);
        diff.push_str(&unified_diff(path, old_text, &new_text));
    }
    // A file the edit creates: all of it is new.
    for (path, real) in &edited.created {
        let new_text = shown(edited.doc(real), show_secrets);
        diff.push_str(&unified_diff(path, b"", &new_text));
    }
    diff
}

/// A document's text as a diff may show it.
fn shown(doc: &Document, show_secrets: bool) -> Vec<u8> {
    match show_secrets {
        true => doc.text().to_vec(),
        false => mask_secrets(doc),
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
