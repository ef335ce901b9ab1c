//! From bytes to a [`Document`]: the parser hands over each top-level
//! statement as soon as it is complete, and the [`Builder`] classifies it
//! the way prosody's configmanager runs it: `VirtualHost`/`Component` calls
//! open a section (their table form returns to the global one), bare
//! assignments set options of the current section, `Include` pulls in other
//! files, everything else is kept and never interpreted. A parse that fails
//! becomes a [`SyntaxError`] positioned in Lua's lines, with a fix for the
//! well-known mistakes.

use super::lexer::{self, Span};
use super::lines::{self, position};
use super::records::{HeadExtra, HeadRec, OptRec, Rec, Run, Sp, StmtRec, ValRec, GLOBAL, NONE};
use super::syntax::{self, Expr, ExprKind, KeyKind, StmtKind, Suffix};
use super::view::strip_parens;
use super::{Document, SectionKind, MAX_LEN};

/// A syntax error with its position resolved to Lua's line and a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub(crate) offset: usize,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
    /// A fix, when the mistake is a well-known one.
    pub(crate) help: Option<String>,
    /// The errors after this one, when this one is a `#` comment: every
    /// further `#` comment line (found by reading each `#` comment as the
    /// `--` comment it was meant to be, up to [`MAX_HASH_COMMENTS`]), then
    /// the first other syntax error, if any. Empty otherwise: after another
    /// mistake Lua's reading of the rest is guesswork.
    pub(crate) also: Vec<SyntaxError>,
}

/// How many `#` comment lines one parse reports: each costs a parse of the
/// file, and a guide's sample has a handful.
pub(crate) const MAX_HASH_COMMENTS: usize = 100;

impl Document {
    /// Parses `text`; fails with the first syntax error, positioned.
    pub fn parse(text: Vec<u8>) -> Result<Document, SyntaxError> {
        if text.len() >= MAX_LEN {
            return Err(too_long(text.len()));
        }
        let mut line_starts = lines::line_starts(&text);
        line_starts.shrink_to_fit();
        let mut b = Builder::new(&text);
        match syntax::parse_each(&text, &mut |s| b.push(s)) {
            Ok(extras) => {
                let tables = b.finish();
                Ok(Document::assemble(text, line_starts, tables, extras))
            }
            Err(e) => {
                let mut first = positioned(&text, &line_starts, e);
                first.also = after_hash_comments(&text, &line_starts, &first);
                Err(first)
            }
        }
    }

    /// The document from the builder's tables and what the parse left aside.
    fn assemble(
        text: Vec<u8>,
        line_starts: Vec<u32>,
        t: Tables,
        extras: syntax::Extras,
    ) -> Document {
        let sp = |v: Vec<Span>| v.iter().map(Sp::of).collect();
        Document {
            stmts: t.stmts,
            opts: t.opts,
            heads: t.heads,
            head_extras: t.head_extras,
            includes: t.includes,
            owners: t.owners,
            key_names: t.key_names,
            comments: sp(extras.comments),
            nested_calls: sp(extras.nested_calls),
            opaque: extras
                .opaque
                .iter()
                .map(|o| (Sp::of(&o.span), o.kind))
                .collect(),
            shadowed: extras
                .shadowed
                .iter()
                .map(|(a, d)| (Sp::of(a), Sp::of(d)))
                .collect(),
            top_locals: sp(extras.top_locals),
            line_starts,
            text,
        }
    }
}

/// Offsets are `u32`: a larger file is refused before anything is read.
fn too_long(len: usize) -> SyntaxError {
    SyntaxError {
        offset: 0,
        line: 1,
        column: 1,
        message: format!(
            "the file is {len} bytes long; fogbow-xmpp-ctl reads configs of up to 4 GiB"
        ),
        help: None,
        also: Vec::new(),
    }
}

/// The errors after `first`, when `first` is a `#` comment (see
/// [`SyntaxError::also`]). Each `#` comment is blanked to the end of its
/// line (what `--` would make of it; line breaks, and so every position,
/// stay) and the file parsed again, until it parses, fails elsewhere than
/// at a `#`, or [`MAX_HASH_COMMENTS`] are found.
fn after_hash_comments(text: &[u8], starts: &[u32], first: &SyntaxError) -> Vec<SyntaxError> {
    let mut also = Vec::new();
    if text.get(first.offset) != Some(&b'#') {
        return also;
    }
    let mut blanked = text.to_vec();
    let mut at = first.offset;
    for _ in 1..MAX_HASH_COMMENTS {
        for b in blanked[at..]
            .iter_mut()
            .take_while(|b| !matches!(b, b'\n' | b'\r'))
        {
            *b = b' ';
        }
        match syntax::parse_each(&blanked, &mut |_| {}) {
            Ok(_) => break,
            Err(e) => {
                let is_hash = text.get(e.offset) == Some(&b'#');
                at = e.offset;
                also.push(positioned(text, starts, e));
                if !is_hash {
                    break;
                }
            }
        }
    }
    also
}

/// The parser's error at Lua's line and column, with a fix when known.
fn positioned(text: &[u8], line_starts: &[u32], e: syntax::ParseError) -> SyntaxError {
    let (line, column) = position(text, line_starts, e.offset);
    let help = syntax_help(text, e.offset, line);
    SyntaxError {
        offset: e.offset,
        line,
        column,
        message: e.message,
        help,
        also: Vec::new(),
    }
}

/// Fixes for the mistakes operators make: a byte order mark, a `#!` line,
/// `#` comments.
fn syntax_help(text: &[u8], offset: usize, line: usize) -> Option<String> {
    if text.starts_with(b"\xEF\xBB\xBF") && offset == 0 {
        return Some("the file starts with a UTF-8 byte order mark, which Lua (and so prosody) rejects: save it without a BOM".into());
    }
    // A `#` where a statement may start is a comment in shell or TOML
    // style, at the start of a line or after a statement (`x = 1 # why`).
    if text.get(offset) == Some(&b'#') {
        if line == 1 && text.starts_with(b"#!") {
            return Some("prosody loads its config as a string, where a `#!` first line is not allowed: delete it".into());
        }
        return Some("Lua comments start with `--`, not `#`: replace the `#` with `--`".into());
    }
    if matches!(text.get(offset), Some(b'"' | b'\'')) && unclosed_on_its_line(text, offset) {
        return Some(unfinished_string_help(text, offset));
    }
    None
}

/// Whether the quote at `offset` opens a string no quote closes on its line.
fn unclosed_on_its_line(text: &[u8], offset: usize) -> bool {
    let q = text[offset];
    let mut i = offset + 1;
    while let Some(&b) = text.get(i) {
        match b {
            b'\n' | b'\r' => return true,
            b'\\' => i += 2,
            b if b == q => return false,
            _ => i += 1,
        }
    }
    true
}

/// For a string opened at `offset` and never closed on its line: the line
/// up to that quote (every string in it shown as `…`: it may be a secret),
/// and how to fix it.
fn unfinished_string_help(text: &[u8], offset: usize) -> String {
    let start = text[..offset]
        .iter()
        .rposition(|&b| b == b'\n' || b == b'\r')
        .map_or(0, |i| i + 1);
    let mut shown = Vec::new();
    let mut quote = None;
    for &b in &text[start..=offset] {
        match quote {
            Some(q) if b == q => {
                shown.extend_from_slice("…".as_bytes());
                shown.push(b);
                quote = None;
            }
            Some(_) => {}
            None => {
                shown.push(b);
                if b == b'"' || b == b'\'' {
                    quote = Some(b);
                }
            }
        }
    }
    shown.extend_from_slice("…".as_bytes());
    let shown = String::from_utf8_lossy(&shown);
    let shown = shown.trim_start();
    // The end of a long line: where the quote is.
    let cut = shown.char_indices().rev().nth(60).map_or(0, |(i, _)| i);
    let lead = if cut > 0 { "…" } else { "" };
    format!(
        "the string opened at `{lead}{}` is not closed on its line: close the quote on the same line (a quoted string cannot span lines), or use [[ ]] for a multi-line string",
        &shown[cut..]
    )
}

/// The builder's tables, trimmed to size.
struct Tables {
    stmts: Vec<StmtRec>,
    opts: Vec<OptRec>,
    heads: Vec<HeadRec>,
    head_extras: Vec<HeadExtra>,
    includes: Vec<ValRec>,
    owners: Vec<u32>,
    key_names: Vec<(u32, Box<str>)>,
}

/// Turns parsed top-level statements, one at a time, into records.
struct Builder<'t> {
    text: &'t [u8],
    t: Tables,
    /// The section statements run in now (`GLOBAL` or a header's index).
    current: u32,
}

impl<'t> Builder<'t> {
    fn new(text: &'t [u8]) -> Self {
        Builder {
            text,
            t: Tables {
                stmts: Vec::new(),
                opts: Vec::new(),
                heads: Vec::new(),
                head_extras: Vec::new(),
                includes: Vec::new(),
                owners: Vec::new(),
                key_names: Vec::new(),
            },
            current: GLOBAL,
        }
    }

    fn finish(self) -> Tables {
        let mut t = self.t;
        // The vectors grew by doubling; give back the slack.
        t.stmts.shrink_to_fit();
        t.opts.shrink_to_fit();
        t.heads.shrink_to_fit();
        t.owners.shrink_to_fit();
        t
    }

    /// Records one top-level statement and the section it runs in.
    fn push(&mut self, s: syntax::Stmt) {
        let i = self.t.stmts.len() as u32;
        let mark = self.t.opts.len();
        let rec = self.classify(s.kind);
        if matches!(rec, Rec::Other) {
            // Fields of a table form that turned out not to be a section.
            self.t.opts.truncate(mark);
            let keep = self
                .t
                .key_names
                .partition_point(|(i, _)| (*i as usize) < mark);
            self.t.key_names.truncate(keep);
        }
        let owner = match rec {
            Rec::Section(h) => {
                // `__currenthost` as configmanager sets it: the section's own
                // name, or the global section again after a table form.
                let extra = self.t.heads[h as usize].extra;
                self.current =
                    if extra != NONE && self.t.head_extras[extra as usize].table.is_some() {
                        GLOBAL
                    } else {
                        i
                    };
                i
            }
            _ => self.current,
        };
        self.t.owners.push(owner);
        self.t.stmts.push(StmtRec {
            span: Sp::of(&s.span),
            rec,
        });
    }

    /// What prosody would make of a statement.
    fn classify(&mut self, kind: StmtKind) -> Rec {
        match kind {
            StmtKind::Assign { targets, values } => self.classify_assign(&targets, &values),
            StmtKind::Call(s) => self.classify_call(s),
            StmtKind::Other => Rec::Other,
        }
    }

    /// `a, b = 1, 2`: options named by the targets that are plain names.
    fn classify_assign(&mut self, targets: &[Option<Span>], values: &[Expr]) -> Rec {
        let first = self.t.opts.len() as u32;
        for (i, t) in targets.iter().enumerate() {
            if let Some(span) = t {
                self.t
                    .opts
                    .push(OptRec::new(Sp::of(span), values.get(i).map(value)));
            }
        }
        if self.t.opts.len() as u32 == first {
            return Rec::Other;
        }
        self.t.opts.last_mut().expect("not empty").last = true;
        Rec::Options(first)
    }

    /// A call chain on a name: a section header, an `Include`, or other.
    fn classify_call(&mut self, s: syntax::Suffixed) -> Rec {
        if s.head.kind != ExprKind::Name {
            return Rec::Other;
        }
        let calls: Vec<&Vec<Expr>> = s
            .suffixes
            .iter()
            .map_while(|x| {
                if let Suffix::Call(a) = x {
                    Some(a)
                } else {
                    None
                }
            })
            .collect();
        if calls.len() != s.suffixes.len() || calls.is_empty() {
            return Rec::Other;
        }
        let kind = match &self.text[s.head.span.clone()] {
            b"VirtualHost" | b"Host" | b"host" => SectionKind::VirtualHost,
            b"Component" | b"component" => SectionKind::Component,
            b"Include" | b"include" if calls.len() == 1 => return self.include(calls[0]),
            _ => return Rec::Other,
        };
        let ignored = calls[0].get(1).map(|e| Sp::of(&e.span));
        match calls[0].first().map(value) {
            Some(name) => self.section(kind, name, &calls[1..], ignored),
            None => Rec::Other,
        }
    }

    /// `Include "path"` (the path literal or not).
    fn include(&mut self, args: &[Expr]) -> Rec {
        match args.first().map(value) {
            Some(v) => {
                self.t.includes.push(v);
                Rec::Include(self.t.includes.len() as u32 - 1)
            }
            None => Rec::Other,
        }
    }

    /// A section header named `name`, with the calls after the first:
    /// `Component "x" { … }`, `Component "x" "muc"`, `Component "x" "muc" { … }`.
    fn section(
        &mut self,
        kind: SectionKind,
        name: ValRec,
        rest: &[&Vec<Expr>],
        ignored_args: Option<Sp>,
    ) -> Rec {
        let mut header = HeadExtra {
            ignored_args,
            ..HeadExtra::default()
        };
        let is_table = |e: &Expr| matches!(e.kind, ExprKind::Table(_));
        let mut rest = rest.iter().map(|args| args.first());
        match rest.next() {
            None => {}
            Some(Some(t)) if is_table(t) => {
                (header.table, header.fields, header.computed_key) = self.table(t)
            }
            Some(Some(m)) if kind == SectionKind::Component => {
                header.module = Some(value(m));
                match rest.next() {
                    None => {}
                    Some(Some(t)) if is_table(t) => {
                        (header.table, header.fields, header.computed_key) = self.table(t)
                    }
                    _ => return Rec::Other,
                }
            }
            _ => return Rec::Other,
        }
        if rest.next().is_some() {
            return Rec::Other;
        }
        let extra =
            if header.module.is_none() && header.table.is_none() && header.ignored_args.is_none() {
                NONE
            } else {
                self.t.head_extras.push(header);
                self.t.head_extras.len() as u32 - 1
            };
        self.t.heads.push(HeadRec {
            name: name.span,
            kind,
            name_is_str: name.is_str,
            extra,
        });
        Rec::Section(self.t.heads.len() as u32 - 1)
    }

    /// The table's span, its `name = value` and `["name"] = value` fields
    /// pushed as options, and its first computed key.
    fn table(&mut self, e: &Expr) -> (Option<Sp>, Run, Option<Sp>) {
        let ExprKind::Table(fields) = &e.kind else {
            unreachable!()
        };
        let first = self.t.opts.len() as u32;
        let mut computed = None;
        for f in fields {
            let bracketed = match f.key_kind {
                KeyKind::Name => false,
                KeyKind::Str => true,
                KeyKind::Computed => {
                    computed.get_or_insert(Sp::of(&f.key));
                    continue;
                }
            };
            if bracketed {
                let inner = strip_parens(self.text, f.key.clone());
                let name = lexer::decode_string(&self.text[inner]);
                self.t.key_names.push((
                    self.t.opts.len() as u32,
                    String::from_utf8_lossy(&name).into(),
                ));
            }
            self.t.opts.push(OptRec {
                bracketed,
                ..OptRec::new(Sp::of(&f.key), Some(value(&f.value)))
            });
        }
        let len = self.t.opts.len() as u32 - first;
        if len > 0 {
            self.t.opts.last_mut().expect("not empty").last = true;
        }
        (Some(Sp::of(&e.span)), Run { first, len }, computed)
    }
}

fn value(e: &Expr) -> ValRec {
    ValRec {
        span: Sp::of(&e.span),
        // `("x")` has the literal inside parentheses.
        is_str: e.kind == ExprKind::Str,
    }
}
