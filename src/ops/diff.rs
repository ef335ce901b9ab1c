//! What a dry run shows: a unified diff of each changed file, every
//! string literal masked unless `--show-secrets`, and escaped for the
//! terminal (the diff is also the JSON's `"diff"`, escaped the same way).
//!
//! A masked string carries a fingerprint of its value,
//! `"******** (hmac:1a2b3c4d)"`: without it both sides of `add --replace
//! --dry-run` would read `"********"` and the diff would show no change at
//! all. The fingerprint is HMAC-SHA256 under a key drawn once per run and
//! never kept, cut to 32 bits: within one diff equal values have equal
//! fingerprints and a changed one differs (a 1 in 2^32 chance aside), but a
//! weak secret's fingerprint cannot be looked up in a dictionary (a plain hash
//! could), and nothing is comparable across runs.

use std::collections::BTreeMap;
use std::path::Path;

use super::pipeline::Edited;
use crate::document::{Document, Span, Statement};
use crate::prosody::config::ConfigSet;
use crate::text::masked_value;

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
/// `******** (hmac:…)`, its value's fingerprint for this run (quotes
/// kept), except section names, module names, `Include` paths and the
/// argument of `Credential()`/`FileContents()`/`FileLine(s)()` (where a
/// secret is, not what), and the values of the options that say where
/// prosody listens ([`crate::prosody::listener::is_address_option`]): what a diff
/// may show without `--show-secrets`. Any
/// string may be a secret (`sql = { password = "…" }`, `ldap_password`),
/// not only a `component_secret`.
pub(crate) fn mask_secrets(doc: &Document) -> Vec<u8> {
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
                    shown.extend(address_values(*fields));
                }
            }
            Statement::Options(opts) => shown.extend(address_values(*opts)),
            Statement::Include(v) => shown.push(v.span.clone()),
            _ => {}
        }
    }
    // A table form's keys were pushed before its values: sort. Disjoint, so
    // in order the first span ending after the token's start is the only
    // one that can hold it.
    shown.sort_by_key(|s| s.start);
    let is_shown = |t: &Span| {
        let i = shown.partition_point(|s| s.end <= t.start);
        shown
            .get(i)
            .is_some_and(|s| s.start <= t.start && t.end <= s.end)
    };
    let text = doc.text();
    use crate::document::lexer::{Sym, Tok};
    let mut edits = Vec::new();
    let mut lx = crate::document::lexer::Lexer::new(text);
    // The last two tokens (comments aside): a string right after
    // `Credential(`/`Credential` (or prosody 13's file helpers) names where
    // the secret is, never the secret: shown.
    let mut before: [Option<crate::document::lexer::Token>; 2] = [None, None];
    let helper = |t: &Option<crate::document::lexer::Token>| {
        t.as_ref().is_some_and(|t| {
            t.kind == Tok::Name
                && matches!(
                    &text[t.span.clone()],
                    b"Credential" | b"FileContents" | b"FileLine" | b"FileLines"
                )
        })
    };
    while let Ok(t) = lx.next_token() {
        match t.kind {
            Tok::Eof => break,
            Tok::Comment => continue,
            Tok::Str if !is_shown(&t.span) => {
                let names_a_place = helper(&before[1])
                    || (helper(&before[0])
                        && before[1]
                            .as_ref()
                            .is_some_and(|p| p.kind == Tok::Sym(Sym::LParen)));
                if !names_a_place {
                    edits.push((t.span.clone(), masked(&text[t.span.clone()])))
                }
            }
            _ => {}
        }
        before = [before[1].take(), Some(t)];
    }
    doc.splice(edits)
}

/// The text of a file that does not parse (a broken file a restore
/// replaces) as a diff may show it: every string literal masked, as
/// [`mask_secrets`] masks them; from the last string before where it stops
/// lexing (an unfinished string, say), the rest is not shown.
pub(super) fn shown_unparsed(text: &[u8], show_secrets: bool) -> Vec<u8> {
    use crate::document::lexer::{Lexer, Tok};
    if show_secrets {
        return text.to_vec();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut last = 0;
    let mut lx = Lexer::new(text);
    loop {
        match lx.next_token() {
            Ok(t) if t.kind == Tok::Eof => break,
            Ok(t) if t.kind == Tok::Str => {
                out.extend_from_slice(&text[last..t.span.start]);
                out.extend_from_slice(&masked(&text[t.span.clone()]));
                last = t.span.end;
            }
            Ok(t) if t.kind != Tok::Error => {}
            _ => {
                out.extend_from_slice(b"\n(the rest does not lex: not shown)\n");
                return out;
            }
        }
    }
    out.extend_from_slice(&text[last..]);
    out
}

/// The values of the options in `opts` that say where prosody listens.
fn address_values(opts: crate::document::Options<'_>) -> impl Iterator<Item = Span> + '_ {
    opts.iter()
        .filter(|o| crate::prosody::listener::is_address_option(o.name))
        .filter_map(|o| o.value.map(|v| v.span))
}

/// A string token with its contents replaced by `********` and the
/// fingerprint of its value: `"…"`, `'…'` and `[==[…]==]` keep their
/// delimiters.
fn masked(tok: &[u8]) -> Vec<u8> {
    let delim = if tok[0] == b'[' {
        2 + tok[1..].iter().take_while(|&&c| c == b'=').count()
    } else {
        1
    };
    let mut out = tok[..delim].to_vec();
    out.extend_from_slice(b"********");
    // The value Lua reads: `"a\65"` and `'ae'` are one secret.
    let value = crate::document::lexer::decode_string(tok);
    if let Some(key) = crate::text::run_key() {
        let print = crate::text::fingerprint(key, &value);
        out.extend_from_slice(format!(" (hmac:{print})").as_bytes());
    }
    out.extend_from_slice(&tok[tok.len() - delim..]);
    out
}

/// A unified diff for a terminal: characters a terminal would act on are
/// escaped (a line's own line break aside).
fn unified_diff(path: &Path, old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let old: Vec<&str> = old.split_inclusive('\n').collect();
    let new: Vec<&str> = new.split_inclusive('\n').collect();
    unified(path, (&old, &new), (&old, &new))
}

/// A unified diff of a properties file's change for a terminal: every
/// value but `xmpp_jid`'s shown as `********` and this run's fingerprint
/// (as the config's diff shows strings) unless `show_secrets` — a Fogbow
/// component's file holds other passwords too (its database's, an
/// admin's), and any value may be one. Lines are compared as written, so
/// the changed `key` still shows as a changed line.
pub(crate) fn properties_diff(
    path: &Path,
    old: &[u8],
    new: &[u8],
    key: &str,
    show_secrets: bool,
) -> String {
    // Properties files are ISO 8859-1: a byte is a character.
    let lines = |bytes: &[u8]| -> Vec<String> {
        bytes
            .split_inclusive(|&c| c == b'\n')
            .map(|l| l.iter().map(|&c| char::from(c)).collect())
            .collect()
    };
    let shown = |bytes: &[u8]| match show_secrets {
        true => bytes.to_vec(),
        false => crate::fogbow::masked(bytes, masked_value),
    };
    let (old_real, new_real) = (lines(old), lines(new));
    let (old_shown, new_shown) = (lines(&shown(old)), lines(&shown(new)));
    // A masked value spanning lines shortens the shown side: then show
    // the masked text whole rather than misalign it.
    if old_real.len() != old_shown.len() || new_real.len() != new_shown.len() {
        return format!(
            "--- {p}\n+++ {p}\n({key} changed; the lines are not shown: a masked value spans several)\n",
            p = crate::text::terminal_safe(&path.display().to_string())
        );
    }
    unified(path, (&old_real, &new_real), (&old_shown, &new_shown))
}

/// The one unified-diff renderer: lines `compared` (old, new; each with
/// its line break) decide the hunks, with 3 lines of context, and the
/// `shown` lines (as many, masked or not) are what the diff prints, in
/// `diff -u`'s format, escaped for a terminal.
fn unified<A: AsRef<str>, B: AsRef<str>>(
    path: &Path,
    compared: (&[A], &[A]),
    shown: (&[B], &[B]),
) -> String {
    let old: Vec<&str> = compared.0.iter().map(AsRef::as_ref).collect();
    let new: Vec<&str> = compared.1.iter().map(AsRef::as_ref).collect();
    let diff = similar::TextDiff::configure().diff_slices(&old, &new);
    let p = path.display().to_string();
    let mut raw = format!("--- {p}\n+++ {p}\n");
    // `diff -u`'s range: `start,len`, just `start` for one line, and the
    // line before an empty range.
    let range = |start: usize, end: usize| match end - start {
        1 => format!("{}", start + 1),
        0 => format!("{start},0"),
        len => format!("{},{len}", start + 1),
    };
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (o, n) = (first.old_range().start, first.new_range().start);
        let (oe, ne) = (last.old_range().end, last.new_range().end);
        raw.push_str(&format!("@@ -{} +{} @@\n", range(o, oe), range(n, ne)));
        for op in &group {
            for change in op.iter_changes(&old, &new) {
                let (sign, line) = match change.tag() {
                    similar::ChangeTag::Equal => {
                        (' ', shown.0[change.old_index().unwrap()].as_ref())
                    }
                    similar::ChangeTag::Delete => {
                        ('-', shown.0[change.old_index().unwrap()].as_ref())
                    }
                    similar::ChangeTag::Insert => {
                        ('+', shown.1[change.new_index().unwrap()].as_ref())
                    }
                };
                raw.push(sign);
                raw.push_str(line);
                if !line.ends_with('\n') {
                    raw.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    terminal_lines(&raw)
}

/// `text` with characters a terminal would act on escaped, line by line:
/// a tab is layout, and a line's own break (`\r\n` or `\n`) is kept.
fn terminal_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
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
            out.push_str(&crate::text::terminal_safe(part));
        }
        out.push_str(cr);
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked_text(src: &str) -> String {
        let doc = Document::parse(src.as_bytes().to_vec()).unwrap();
        String::from_utf8(mask_secrets(&doc)).unwrap()
    }

    /// Where a secret is read from is shown; what it is, never: the
    /// argument of prosody 13's helpers, in both call forms, but not a
    /// string that only follows one elsewhere.
    #[test]
    fn helper_arguments_are_shown() {
        let t = masked_text(
            "Component \"a.example\"\n\tcomponent_secret = Credential(\"fogbow-xmpp-ctl.a\")\n\
             Component \"b.example\"\n\tcomponent_secret = FileLine \"b.secret\" -- file\n\
             x = { Credential, \"not-a-place\" }\n",
        );
        assert!(t.contains("Credential(\"fogbow-xmpp-ctl.a\")"), "{t}");
        assert!(t.contains("FileLine \"b.secret\""), "{t}");
        assert!(!t.contains("not-a-place"), "{t}");
    }

    /// Equal values (however written) share a fingerprint within a run, a
    /// different value gets another, and the value itself never shows.
    #[test]
    fn masked_strings_carry_a_per_run_fingerprint() {
        let a = masked_text("Component \"a.example\"\n\tcomponent_secret = \"secret-one\"\n");
        let b = masked_text("Component \"a.example\"\n\tcomponent_secret = 'secret-one'\n");
        let c = masked_text("Component \"a.example\"\n\tcomponent_secret = [[secret-two]]\n");
        assert!(!a.contains("secret-one") && !c.contains("secret-two"));
        let fp = |t: &str| {
            let i = t.find("(hmac:").expect(t) + 6;
            t[i..i + 8].to_string()
        };
        assert_eq!(fp(&a), fp(&b), "{a}\n{b}");
        assert_ne!(fp(&a), fp(&c), "{a}\n{c}");
        assert!(fp(&a).bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(
            a.contains("component_secret = \"******** (hmac:")
                && a.contains("Component \"a.example\""),
            "{a}"
        );
        assert!(c.contains("component_secret = [[******** (hmac:"), "{c}");
        // Keyed per run: not the plain SHA-256 of the value.
        use sha2::Digest;
        let plain = crate::text::hex::encode(&sha2::Sha256::digest(b"secret-one")[..4]);
        assert_ne!(fp(&a), plain);
    }

    /// A dry run's diff shows the changed line with the value masked.
    #[test]
    fn masked_diff_hides_both_values() {
        let old = b"xmpp_jid=m.example\njdbc_database_password=hunter2hunter2\nxmpp_password=old-secret\nb=2\n";
        let new = crate::fogbow::set_property(old, "xmpp_password", "new-secret").unwrap();
        let d = properties_diff(Path::new("m.conf"), old, &new, "xmpp_password", false);
        // Context lines are masked too (any value may be a password), all
        // but the component's name.
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains(" xmpp_jid=m.example\n"), "{d}");
        assert!(d.contains(&format!(" b={}\n", masked_value(b"2"))), "{d}");
        // Both sides masked, each with this run's fingerprint of its value:
        // the changed line differs without showing either secret.
        let old_line = format!("-xmpp_password={}\n", masked_value(b"old-secret"));
        let new_line = format!("+xmpp_password={}\n", masked_value(b"new-secret"));
        assert!(old_line.contains("******** (hmac:"), "{old_line}");
        assert_ne!(old_line[1..], new_line[1..]);
        assert!(d.contains(&format!("{old_line}{new_line}")), "{d}");
        assert!(
            !d.contains("old-secret") && !d.contains("new-secret"),
            "{d}"
        );
        let d = properties_diff(Path::new("m.conf"), old, &new, "xmpp_password", true);
        assert!(d.contains("+xmpp_password=new-secret\n"), "{d}");
        // A value continued over lines: masked on its lines, which stay.
        let old = b"long = sec\\\r\n    ret\r\nxmpp_password=o\r\n";
        let new = crate::fogbow::set_property(old, "xmpp_password", "n").unwrap();
        let d = properties_diff(Path::new("m.conf"), old, &new, "xmpp_password", false);
        let long = masked_value(b"secret");
        assert!(d.contains(&format!(" long = {long}\r\n ...\r\n")), "{d}");
        assert!(!d.contains("sec") && !d.contains("ret\r"), "{d}");
        let appended = crate::fogbow::set_property(b"a=1", "xmpp_password", "s").unwrap();
        let d = properties_diff(
            Path::new("m.conf"),
            b"a=1",
            &appended,
            "xmpp_password",
            false,
        );
        let one = masked_value(b"1");
        assert!(
            d.contains(&format!(
                "-a={one}\n\\ No newline at end of file\n+a={one}\n+xmpp_password={}\n",
                masked_value(b"s")
            )),
            "{d}"
        );
    }
}
