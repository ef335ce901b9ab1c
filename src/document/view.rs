//! Borrowed views of a [`Document`]'s records: what callers read.
//!
//! A view ([`Stmt`], [`Statement`], [`SectionHeader`], [`OptionSet`],
//! [`Value`]) is made on demand from a compact record and the text it
//! borrows; a name or literal is decoded only when asked for. The
//! document's reading methods (statements, sections, the options a
//! section sets, what the parse found beyond the model) are here too.

use super::lexer::{self, Span};
use super::records::{HeadExtra, HeadRec, Rec, Run, Sp, ValRec, GLOBAL, NONE};
use super::{Document, OpaqueKind, SectionKind};

/// A value as written: a string literal (decoded on demand) or any other
/// expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'d> {
    pub(crate) span: Span,
    text: &'d [u8],
    is_str: bool,
}

impl<'d> Value<'d> {
    pub(super) fn new(text: &'d [u8], v: ValRec) -> Self {
        Value {
            span: v.span.r(),
            text,
            is_str: v.is_str,
        }
    }

    /// Whether the value is a plain string literal.
    pub(crate) fn is_literal(&self) -> bool {
        self.is_str
    }

    /// The bytes Lua reads, when the value is a plain string literal.
    pub fn literal(&self) -> Option<Vec<u8>> {
        self.is_str.then(|| {
            let inner = strip_parens(self.text, self.span.clone());
            lexer::decode_string(&self.text[inner])
        })
    }

    /// The value read from elsewhere by one of prosody 13's config helpers
    /// with a literal argument: `Credential("x")`, `FileContents "path"`, ….
    /// `None` for anything else (a literal, any other expression).
    pub(crate) fn secret_ref(&self) -> Option<SecretRef> {
        use lexer::{Sym, Tok};
        if self.is_str {
            return None;
        }
        let text = &self.text[self.span.clone()];
        let mut lx = lexer::Lexer::new(text);
        let mut all = Vec::new();
        while let Ok(t) = lx.next_token() {
            match t.kind {
                Tok::Eof => break,
                Tok::Comment => continue,
                Tok::Error => return None,
                _ => all.push(t),
            }
            if all.len() > 64 {
                return None;
            }
        }
        // `((F("x")))`: outer parentheses that enclose the whole value.
        let mut toks = all.as_slice();
        while toks.len() >= 2
            && toks[0].kind == Tok::Sym(Sym::LParen)
            && toks[toks.len() - 1].kind == Tok::Sym(Sym::RParen)
        {
            let mut depth = 0usize;
            let closes_at_end = toks.iter().enumerate().all(|(i, t)| {
                match t.kind {
                    Tok::Sym(Sym::LParen) => depth += 1,
                    Tok::Sym(Sym::RParen) => depth -= 1,
                    _ => {}
                }
                depth > 0 || i == toks.len() - 1
            });
            if !closes_at_end {
                break;
            }
            toks = &toks[1..toks.len() - 1];
        }
        let kind = match (toks.first(), toks.len()) {
            (Some(t), 2 | 4) if t.kind == Tok::Name => match &text[t.span.clone()] {
                b"Credential" => SecretRefKind::Credential,
                b"FileContents" => SecretRefKind::FileContents,
                b"FileLine" => SecretRefKind::FileLine,
                b"FileLines" => SecretRefKind::FileLines,
                _ => return None,
            },
            _ => return None,
        };
        // `F "x"`, or `F("x")`.
        let arg = match toks {
            [_, s] if s.kind == Tok::Str => s,
            [_, l, s, r]
                if l.kind == Tok::Sym(Sym::LParen)
                    && s.kind == Tok::Str
                    && r.kind == Tok::Sym(Sym::RParen) =>
            {
                s
            }
            _ => return None,
        };
        Some(SecretRef {
            kind,
            arg: lexer::decode_string(&text[arg.span.clone()]),
        })
    }
}

/// An option's value that prosody 13 reads from a file or a systemd
/// credential when it loads the config (see [`Value::secret_ref`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretRef {
    pub(crate) kind: SecretRefKind,
    /// The decoded string argument: the credential name, or the path
    /// (relative to the config file's directory, as prosody resolves it).
    pub(crate) arg: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretRefKind {
    /// `Credential("name")`: the whole file `$CREDENTIALS_DIRECTORY/name`.
    Credential,
    /// `FileContents("path")`: the whole file.
    FileContents,
    /// `FileLine("path")`: its first line.
    FileLine,
    /// `FileLines("path")`: a list of its lines (never a secret prosody takes).
    FileLines,
}

impl SecretRefKind {
    /// The helper's name, as the config writes it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SecretRefKind::Credential => "Credential",
            SecretRefKind::FileContents => "FileContents",
            SecretRefKind::FileLine => "FileLine",
            SecretRefKind::FileLines => "FileLines",
        }
    }
}

/// One option set in the file: `name = value`, or a `name = value` field of
/// a section's table form (`Component "x" { component_secret = "…" }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OptionSet<'d> {
    /// A Lua name, or the decoded string of a bracketed key
    /// (`["component_secret"] = …`, lossily decoded if not UTF-8).
    pub(crate) name: &'d str,
    pub(crate) name_span: Span,
    /// `None` when the assignment has fewer values than names (`a, b = 1`).
    pub(crate) value: Option<Value<'d>>,
}

/// Options of one statement (or of a table form), read on demand.
#[derive(Debug, Clone, Copy)]
pub struct Options<'d> {
    doc: &'d Document,
    run: Run,
}

impl<'d> Options<'d> {
    pub(crate) fn len(&self) -> usize {
        self.run.len as usize
    }
    pub(crate) fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = OptionSet<'d>> + ExactSizeIterator + 'd {
        let doc = self.doc;
        (self.run.first..self.run.first + self.run.len).map(move |i| doc.option(OptId(i)))
    }
}

/// A `VirtualHost`/`Component` statement and what it sets itself.
#[derive(Debug, Clone)]
pub struct SectionHeader<'d> {
    pub(crate) kind: SectionKind,
    pub name: Value<'d>,
    /// The plugin of `Component "x" "muc"`; `None` for an external component.
    pub(crate) module: Option<Value<'d>>,
    /// The fields of the table form, and the table's span.
    pub(crate) table: Option<(Span, Options<'d>)>,
    /// A field of the table form with a computed key (`[k] = v`): the
    /// options this section sets are then known only when prosody runs it.
    pub(crate) computed_key: Option<Span>,
    /// The first argument after the name in the name's own call (`"muc"`
    /// in `Component("x", "muc")`; any after it too): prosody's
    /// `VirtualHost(name)`/`Component(name)` ignore them, so
    /// `Component("x", "muc")` is an external component, not a MUC.
    pub(crate) ignored_args: Option<Span>,
}

#[derive(Debug, Clone)]
pub enum Statement<'d> {
    Section(SectionHeader<'d>),
    /// `Include "path"`: the path, literal or not.
    Include(Value<'d>),
    /// An assignment whose targets are plain names: options of the current section.
    Options(Options<'d>),
    /// Anything else (locals, calls, control flow): kept, never interpreted.
    Other,
}

/// A top-level statement: its span and what prosody makes of it.
#[derive(Debug, Clone)]
pub struct Stmt<'d> {
    pub(crate) span: Span,
    pub statement: Statement<'d>,
}

/// Which section a statement runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Global,
    /// The index of the `VirtualHost`/`Component` statement.
    Section(usize),
}

/// Names one option record of a [`Document`] (see [`Document::option`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptId(u32);

/// A constant in a config value: what `listen` and `probe` need to read
/// `component_ports = { 5347 }` or `component_interface = "0.0.0.0"`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Str(Vec<u8>),
    Num(f64),
}

/// Statements and sections.
impl Document {
    pub(crate) fn text(&self) -> &[u8] {
        &self.text
    }

    pub(crate) fn into_text(self) -> Vec<u8> {
        self.text
    }

    /// The source text of a span, lossily decoded for display.
    pub(crate) fn slice(&self, span: &Span) -> String {
        String::from_utf8_lossy(&self.text[span.clone()]).into_owned()
    }

    /// How many top-level statements the file has.
    pub(crate) fn statement_count(&self) -> usize {
        self.stmts.len()
    }

    /// The top-level statements, in order.
    pub fn statements(&self) -> impl DoubleEndedIterator<Item = Stmt<'_>> + ExactSizeIterator {
        (0..self.stmts.len()).map(|i| self.stmt(i))
    }

    /// Top-level statement `i`.
    pub(crate) fn stmt(&self, i: usize) -> Stmt<'_> {
        let s = self.stmts[i];
        let statement = match s.rec {
            Rec::Other => Statement::Other,
            Rec::Options(first) => Statement::Options(Options {
                doc: self,
                run: self.options_run(first),
            }),
            Rec::Include(v) => {
                Statement::Include(Value::new(&self.text, self.includes[v as usize]))
            }
            Rec::Section(h) => Statement::Section(self.header(h)),
        };
        Stmt {
            span: s.span.r(),
            statement,
        }
    }

    /// The span of top-level statement `i`.
    pub(crate) fn stmt_span(&self, i: usize) -> Span {
        self.stmts[i].span.r()
    }

    /// How many `VirtualHost`/`Component` statements the file has.
    pub(crate) fn section_count(&self) -> usize {
        self.heads.len()
    }

    /// Whether statement `i` opens a section.
    pub(crate) fn is_section(&self, i: usize) -> bool {
        matches!(self.stmts[i].rec, Rec::Section(_))
    }

    /// The `VirtualHost`/`Component` header of statement `i`, if it is one.
    pub(crate) fn section(&self, i: usize) -> Option<SectionHeader<'_>> {
        match self.stmts[i].rec {
            Rec::Section(h) => Some(self.header(h)),
            _ => None,
        }
    }

    fn header(&self, h: u32) -> SectionHeader<'_> {
        let h = self.heads[h as usize];
        let extra = self.head_extra(h);
        SectionHeader {
            kind: h.kind,
            name: Value::new(
                &self.text,
                ValRec {
                    span: h.name,
                    is_str: h.name_is_str,
                },
            ),
            module: extra.module.map(|m| Value::new(&self.text, m)),
            computed_key: extra.computed_key.map(Sp::r),
            ignored_args: extra.ignored_args.map(Sp::r),
            table: extra.table.map(|t| {
                (
                    t.r(),
                    Options {
                        doc: self,
                        run: extra.fields,
                    },
                )
            }),
        }
    }

    fn head_extra(&self, h: HeadRec) -> HeadExtra {
        match h.extra {
            NONE => HeadExtra::default(),
            i => self.head_extras[i as usize],
        }
    }

    /// The section statement `i` runs in, as prosody's configmanager sets
    /// `__currenthost`: a `VirtualHost`/`Component` line opens its section,
    /// and its table form (`Component "x" { … }`) returns to the global one.
    pub(crate) fn owner(&self, i: usize) -> Owner {
        match self.owners[i] {
            GLOBAL => Owner::Global,
            h => Owner::Section(h as usize),
        }
    }
}

/// Options.
impl Document {
    /// The options of the statement whose first option is `first`.
    fn options_run(&self, first: u32) -> Run {
        let len = self.opts[first as usize..]
            .iter()
            .position(|o| o.last)
            .expect("a statement's options end")
            + 1;
        Run {
            first,
            len: len as u32,
        }
    }

    /// The option record `id`.
    pub(crate) fn option(&self, id: OptId) -> OptionSet<'_> {
        let o = self.opts[id.0 as usize];
        OptionSet {
            name: self.option_name(id),
            name_span: o.name.r(),
            value: o.value().map(|v| Value::new(&self.text, v)),
        }
    }

    /// The name option `id` sets: a Lua name as written, or a bracketed
    /// key's decoded string.
    fn option_name(&self, id: OptId) -> &str {
        let o = self.opts[id.0 as usize];
        if o.bracketed {
            if let Ok(i) = self.key_names.binary_search_by_key(&id.0, |(i, _)| *i) {
                return &self.key_names[i].1;
            }
        }
        std::str::from_utf8(&self.text[o.name.r()]).unwrap_or("")
    }

    /// The option records set in the section opened by statement `header`,
    /// in order: the table form's fields, then the assignments that follow.
    fn section_option_ids(&self, header: usize) -> impl Iterator<Item = OptId> + '_ {
        let fields = match self.stmts[header].rec {
            Rec::Section(h) => self.head_extra(self.heads[h as usize]).fields,
            _ => Run::default(),
        };
        let following = (header + 1..self.stmts.len())
            .take_while(move |&i| !(self.is_section(i)))
            .filter(move |&i| self.owners[i] == header as u32)
            .flat_map(move |i| match self.stmts[i].rec {
                Rec::Options(first) => {
                    let run = self.options_run(first);
                    run.first..run.first + run.len
                }
                _ => 0..0,
            });
        (fields.first..fields.first + fields.len)
            .chain(following)
            .map(OptId)
    }

    /// Options set in the section opened by statement `header`, in order:
    /// the table form's fields, then the assignments that follow it.
    pub(crate) fn section_options(&self, header: usize) -> Vec<OptionSet<'_>> {
        self.section_option_ids(header)
            .map(|id| self.option(id))
            .collect()
    }

    /// The last option called `name` set in the section of `header`: the
    /// one prosody keeps.
    pub(crate) fn last_section_option(&self, header: usize, name: &str) -> Option<OptId> {
        self.section_option_ids(header)
            .filter(|&id| self.option_name(id) == name)
            .last()
    }

    /// The value at `span` as a list of constants: a string or number is a
    /// list of one, a table of strings and numbers its items. `None` for
    /// anything else (names, calls, keyed fields): not guessed.
    pub(crate) fn literal_list(&self, span: &Span) -> Option<Vec<Literal>> {
        let toks = lexer::tokenize(&self.text[span.clone()]).ok()?;
        let toks: Vec<&lexer::Token> = toks
            .iter()
            .filter(|t| !matches!(t.kind, lexer::Tok::Comment | lexer::Tok::Eof))
            .collect();
        let at = |t: &lexer::Token| &self.text[span.start + t.span.start..span.start + t.span.end];
        let scalar = |t: &lexer::Token| match t.kind {
            lexer::Tok::Str => Some(Literal::Str(lexer::decode_string(at(t)))),
            lexer::Tok::Number => parse_number(at(t)).map(Literal::Num),
            _ => None,
        };
        use lexer::{Sym, Tok};
        match toks.as_slice() {
            [one] => Some(vec![scalar(one)?]),
            [open, inner @ .., close]
                if open.kind == Tok::Sym(Sym::LBrace) && close.kind == Tok::Sym(Sym::RBrace) =>
            {
                let mut out = Vec::new();
                let mut expect_value = true;
                for t in inner {
                    if expect_value {
                        out.push(scalar(t)?);
                    } else if !matches!(t.kind, Tok::Sym(Sym::Comma | Sym::Semi)) {
                        return None;
                    }
                    expect_value = !expect_value;
                }
                Some(out)
            }
            _ => None,
        }
    }
}

/// What the parse found beyond the model: reported, never guessed.
impl Document {
    /// Where the file sets options in ways a static model cannot follow:
    /// the name's span and why (see [`OpaqueKind`]).
    pub(crate) fn opaque(&self) -> impl Iterator<Item = (Span, OpaqueKind)> + '_ {
        self.opaque.iter().map(|(s, k)| (s.r(), *k))
    }

    /// Top-level assignments that set a Lua local, not an option: the
    /// assigned name's span and the span of the `local` declaring it.
    pub(crate) fn shadowed(&self) -> impl Iterator<Item = (Span, Span)> + '_ {
        self.shadowed.iter().map(|(a, d)| (a.r(), d.r()))
    }

    /// A top-level `local NAME` declared before `offset`: from there on, a
    /// top-level `NAME = …` assigns that local instead of setting the option.
    pub(crate) fn local_before(&self, name: &str, offset: usize) -> Option<Span> {
        self.top_locals
            .iter()
            .map(|s| s.r())
            .take_while(|s| s.end <= offset)
            .filter(|s| &self.text[s.clone()] == name.as_bytes())
            .last()
    }

    /// Names called in nested blocks (`if … then Component "x" end`): prosody
    /// runs them, a static model cannot; reported rather than guessed.
    pub(crate) fn nested_calls(&self) -> impl Iterator<Item = Span> + '_ {
        self.nested_calls.iter().map(|s| s.r())
    }
}

fn parse_number(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok().map(|v| v as f64),
        None => s.parse().ok(),
    }
}

/// The span of the string token inside `( ( "x" ) )`.
pub(super) fn strip_parens(text: &[u8], span: Span) -> Span {
    if text[span.start] != b'(' {
        return span;
    }
    let toks = lexer::tokenize(&text[span.clone()]).expect("already lexed");
    let t = toks
        .iter()
        .find(|t| t.kind == lexer::Tok::Str)
        .expect("a string inside parentheses");
    span.start + t.span.start..span.start + t.span.end
}
