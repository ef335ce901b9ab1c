//! The Lua-aware, lossless model of one prosody config file.
//!
//! A [`Document`] keeps the original bytes and, from the parse, the spans of
//! its top-level statements, classified the way prosody's configmanager runs
//! them: `VirtualHost`/`Component` calls open a section, bare assignments set
//! an option in the current section, `Include` pulls in other files. Edits are
//! splices of the original bytes, so everything not edited stays as it was.
//!
//! Memory: the model is a few small records per statement (byte offsets as
//! `u32`, no strings); names and literals are read from the text when asked
//! for, through borrowed views ([`Stmt`], [`Statement`], [`OptionSet`],
//! [`Value`]). So a config costs about its own size again, not tens of times
//! that (see docs/BENCHMARKS.md).

pub mod fuzz;
pub mod lexer;
pub mod syntax;

pub use lexer::Span;
pub use syntax::OpaqueKind;
use syntax::{Expr, ExprKind, KeyKind, StmtKind, Suffix};

/// A syntax error with its position resolved to Lua's line and a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// A fix, when the mistake is a well-known one.
    pub help: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    VirtualHost,
    Component,
}

impl SectionKind {
    pub fn keyword(self) -> &'static str {
        match self {
            SectionKind::VirtualHost => "VirtualHost",
            SectionKind::Component => "Component",
        }
    }
}

/// The largest file we model: offsets are stored as `u32`.
pub const MAX_LEN: usize = u32::MAX as usize;

/// A byte range in 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sp {
    start: u32,
    end: u32,
}

impl Sp {
    fn of(r: &Span) -> Sp {
        Sp {
            start: r.start as u32,
            end: r.end as u32,
        }
    }
    fn r(self) -> Span {
        self.start as usize..self.end as usize
    }
}

/// A value expression: its span, and whether it is a string literal
/// (possibly in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ValRec {
    span: Sp,
    is_str: bool,
}

/// `name = value` in 20 bytes.
#[derive(Debug, Clone, Copy)]
struct OptRec {
    name: Sp,
    value: Sp,
    /// `false` in `a, b = 1` for `b`.
    has_value: bool,
    is_str: bool,
    /// The last option of its statement (so a statement needs only the
    /// index of its first).
    last: bool,
    /// A table field `["name"] = value`: `name` spans the key's string
    /// literal, and the decoded name is in `Document::key_names`.
    bracketed: bool,
}

impl OptRec {
    fn new(name: Sp, value: Option<ValRec>) -> Self {
        OptRec {
            name,
            value: value.map_or(Sp { start: 0, end: 0 }, |v| v.span),
            has_value: value.is_some(),
            is_str: value.is_some_and(|v| v.is_str),
            last: false,
            bracketed: false,
        }
    }
    fn value(&self) -> Option<ValRec> {
        self.has_value.then_some(ValRec {
            span: self.value,
            is_str: self.is_str,
        })
    }
}

/// A section header in 16 bytes: the rare parts (a plugin module, a table
/// form) live in `Document::head_extras`.
#[derive(Debug, Clone, Copy)]
struct HeadRec {
    name: Sp,
    kind: SectionKind,
    name_is_str: bool,
    /// An index into `Document::head_extras`, or `NONE`.
    extra: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct HeadExtra {
    module: Option<ValRec>,
    /// The table form's span and its `name = value` fields in `opts`.
    table: Option<Sp>,
    fields: Run,
    /// The first `[expr] = value` field of the table form whose key is
    /// computed: any option, `component_secret` too, may be set there.
    computed_key: Option<Sp>,
}

const NONE: u32 = u32::MAX;

/// A run of records in `Document::opts`.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    first: u32,
    len: u32,
}

/// What a statement is; each index is into one of `Document`'s tables.
#[derive(Debug, Clone, Copy)]
enum Rec {
    Other,
    /// The first of its options in `opts` (see `OptRec::last`).
    Options(u32),
    Section(u32),
    Include(u32),
}

#[derive(Debug, Clone, Copy)]
struct StmtRec {
    span: Sp,
    rec: Rec,
}

/// `Owner::Global` in `Document::owners`.
const GLOBAL: u32 = u32::MAX;

/// A value as written: a string literal (decoded on demand) or any other
/// expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<'d> {
    pub span: Span,
    text: &'d [u8],
    is_str: bool,
}

impl<'d> Value<'d> {
    fn new(text: &'d [u8], v: ValRec) -> Self {
        Value {
            span: v.span.r(),
            text,
            is_str: v.is_str,
        }
    }

    /// Whether the value is a plain string literal.
    pub fn is_literal(&self) -> bool {
        self.is_str
    }

    /// The bytes Lua reads, when the value is a plain string literal.
    pub fn literal(&self) -> Option<Vec<u8>> {
        self.is_str.then(|| {
            let inner = strip_parens(self.text, self.span.clone());
            lexer::decode_string(&self.text[inner])
        })
    }
}

/// One option set in the file: `name = value`, or a `name = value` field of
/// a section's table form (`Component "x" { component_secret = "…" }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSet<'d> {
    /// A Lua name, or the decoded string of a bracketed key
    /// (`["component_secret"] = …`, lossily decoded if not UTF-8).
    pub name: &'d str,
    pub name_span: Span,
    /// `None` when the assignment has fewer values than names (`a, b = 1`).
    pub value: Option<Value<'d>>,
}

/// Options of one statement (or of a table form), read on demand.
#[derive(Debug, Clone, Copy)]
pub struct Options<'d> {
    doc: &'d Document,
    run: Run,
}

impl<'d> Options<'d> {
    pub fn len(&self) -> usize {
        self.run.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.run.len == 0
    }
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = OptionSet<'d>> + ExactSizeIterator + 'd {
        let doc = self.doc;
        (self.run.first..self.run.first + self.run.len).map(move |i| doc.option(OptId(i)))
    }
}

/// A `VirtualHost`/`Component` statement and what it sets itself.
#[derive(Debug, Clone)]
pub struct SectionHeader<'d> {
    pub kind: SectionKind,
    pub name: Value<'d>,
    /// The plugin of `Component "x" "muc"`; `None` for an external component.
    pub module: Option<Value<'d>>,
    /// The fields of the table form, and the table's span.
    pub table: Option<(Span, Options<'d>)>,
    /// A field of the table form with a computed key (`[k] = v`): the
    /// options this section sets are then known only when prosody runs it.
    pub computed_key: Option<Span>,
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
    pub span: Span,
    pub statement: Statement<'d>,
}

/// Which section a statement runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Global,
    /// The index of the `VirtualHost`/`Component` statement.
    Section(usize),
}

/// Names one option record of a [`Document`] (see [`Document::option`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptId(u32);

#[derive(Debug, Clone)]
pub struct Document {
    text: Vec<u8>,
    stmts: Vec<StmtRec>,
    opts: Vec<OptRec>,
    heads: Vec<HeadRec>,
    head_extras: Vec<HeadExtra>,
    includes: Vec<ValRec>,
    comments: Vec<Sp>,
    nested_calls: Vec<Sp>,
    /// The decoded names of bracketed keys (`["component_secret"] = …`), by
    /// option index, in order: rare, so kept aside.
    key_names: Vec<(u32, Box<str>)>,
    /// What the parse found beyond the model (see [`syntax::Extras`]).
    opaque: Vec<(Sp, OpaqueKind)>,
    shadowed: Vec<(Sp, Sp)>,
    top_locals: Vec<Sp>,
    /// Where each line starts, as Lua counts lines.
    line_starts: Vec<u32>,
    /// The section of each statement (see [`Document::owner`]): the index of
    /// its header statement, or `GLOBAL`.
    owners: Vec<u32>,
}

/// Why an edit cannot be made by splicing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    pub offset: usize,
    pub message: String,
}

// The sizes the memory figures in docs/BENCHMARKS.md rest on.
const _: () = assert!(std::mem::size_of::<StmtRec>() == 16);
const _: () = assert!(std::mem::size_of::<OptRec>() == 20);
const _: () = assert!(std::mem::size_of::<HeadRec>() == 16);

impl Document {
    /// Parses `text`; fails with the first syntax error, positioned.
    pub fn parse(text: Vec<u8>) -> Result<Document, SyntaxError> {
        if text.len() >= MAX_LEN {
            return Err(SyntaxError {
                offset: 0,
                line: 1,
                column: 1,
                message: format!(
                    "the file is {} bytes long; fogbow-xmpp-ctl reads configs of up to 4 GiB",
                    text.len()
                ),
                help: None,
            });
        }
        let mut line_starts = line_starts(&text);
        line_starts.shrink_to_fit();
        let mut b = Builder {
            text: &text,
            stmts: Vec::new(),
            opts: Vec::new(),
            heads: Vec::new(),
            head_extras: Vec::new(),
            includes: Vec::new(),
            owners: Vec::new(),
            key_names: Vec::new(),
            current: GLOBAL,
        };
        let extras = match syntax::parse_each(&text, &mut |s| b.push(s)) {
            Ok(x) => x,
            Err(e) => {
                let (line, column) = position(&text, &line_starts, e.offset);
                let help = syntax_help(&text, &line_starts, e.offset, line);
                return Err(SyntaxError {
                    offset: e.offset,
                    line,
                    column,
                    message: e.message,
                    help,
                });
            }
        };
        let Builder {
            mut stmts,
            mut opts,
            mut heads,
            head_extras,
            includes,
            mut owners,
            key_names,
            ..
        } = b;
        // The vectors grew by doubling; give back the slack.
        stmts.shrink_to_fit();
        opts.shrink_to_fit();
        heads.shrink_to_fit();
        owners.shrink_to_fit();
        let sp = |v: Vec<Span>| v.iter().map(Sp::of).collect();
        Ok(Document {
            stmts,
            opts,
            heads,
            head_extras,
            includes,
            owners,
            comments: sp(extras.comments),
            nested_calls: sp(extras.nested_calls),
            key_names,
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
        })
    }

    pub fn text(&self) -> &[u8] {
        &self.text
    }

    pub fn into_text(self) -> Vec<u8> {
        self.text
    }

    /// How many top-level statements the file has.
    pub fn statement_count(&self) -> usize {
        self.stmts.len()
    }

    /// The top-level statements, in order.
    pub fn statements(&self) -> impl DoubleEndedIterator<Item = Stmt<'_>> + ExactSizeIterator {
        (0..self.stmts.len()).map(|i| self.stmt(i))
    }

    /// Top-level statement `i`.
    pub fn stmt(&self, i: usize) -> Stmt<'_> {
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
    pub fn stmt_span(&self, i: usize) -> Span {
        self.stmts[i].span.r()
    }

    /// How many `VirtualHost`/`Component` statements the file has.
    pub fn section_count(&self) -> usize {
        self.heads.len()
    }

    /// Whether statement `i` opens a section.
    pub fn is_section(&self, i: usize) -> bool {
        matches!(self.stmts[i].rec, Rec::Section(_))
    }

    /// The `VirtualHost`/`Component` header of statement `i`, if it is one.
    pub fn section(&self, i: usize) -> Option<SectionHeader<'_>> {
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
    pub fn option(&self, id: OptId) -> OptionSet<'_> {
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

    /// Where the file sets options in ways a static model cannot follow:
    /// the name's span and why (see [`OpaqueKind`]).
    pub fn opaque(&self) -> impl Iterator<Item = (Span, OpaqueKind)> + '_ {
        self.opaque.iter().map(|(s, k)| (s.r(), *k))
    }

    /// Top-level assignments that set a Lua local, not an option: the
    /// assigned name's span and the span of the `local` declaring it.
    pub fn shadowed(&self) -> impl Iterator<Item = (Span, Span)> + '_ {
        self.shadowed.iter().map(|(a, d)| (a.r(), d.r()))
    }

    /// A top-level `local NAME` declared before `offset`: from there on, a
    /// top-level `NAME = …` assigns that local instead of setting the option.
    pub fn local_before(&self, name: &str, offset: usize) -> Option<Span> {
        self.top_locals
            .iter()
            .map(|s| s.r())
            .take_while(|s| s.end <= offset)
            .filter(|s| &self.text[s.clone()] == name.as_bytes())
            .last()
    }

    /// Names called in nested blocks (`if … then Component "x" end`): prosody
    /// runs them, a static model cannot; reported rather than guessed.
    pub fn nested_calls(&self) -> impl Iterator<Item = Span> + '_ {
        self.nested_calls.iter().map(|s| s.r())
    }

    /// 1-based line (Lua's count) and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        position(&self.text, &self.line_starts, offset)
    }

    /// The source text of a span, lossily decoded for display.
    pub fn slice(&self, span: &Span) -> String {
        String::from_utf8_lossy(&self.text[span.clone()]).into_owned()
    }

    /// The line ending this file uses (`\r\n` if its first line break is one).
    pub fn eol(&self) -> &'static str {
        match self.text.iter().position(|&c| c == b'\n' || c == b'\r') {
            Some(i) if self.text[i] == b'\r' && self.text.get(i + 1) == Some(&b'\n') => "\r\n",
            Some(i) if self.text[i] == b'\r' => "\r",
            _ => "\n",
        }
    }

    /// The line break the text ends with, if it ends with one, as Lua reads
    /// it (Lua pairs "\r\n" and "\n\r" from the left, so "\n\r\n" ends in a
    /// lone "\n").
    fn trailing_break(&self) -> Option<&'static str> {
        let n = self.line_starts.len();
        if n < 2 || self.line_starts[n - 1] as usize != self.text.len() {
            return None;
        }
        let line = &self.text[self.line_starts[n - 2] as usize..];
        let start = line.iter().position(|&c| c == b'\n' || c == b'\r')?;
        Some(match &line[start..] {
            b"\r\n" => "\r\n",
            b"\n\r" => "\n\r",
            b"\r" => "\r",
            _ => "\n",
        })
    }

    /// The section statement `i` runs in, as prosody's configmanager sets
    /// `__currenthost`: a `VirtualHost`/`Component` line opens its section,
    /// and its table form (`Component "x" { … }`) returns to the global one.
    pub fn owner(&self, i: usize) -> Owner {
        match self.owners[i] {
            GLOBAL => Owner::Global,
            h => Owner::Section(h as usize),
        }
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
    pub fn section_options(&self, header: usize) -> Vec<OptionSet<'_>> {
        self.section_option_ids(header)
            .map(|id| self.option(id))
            .collect()
    }

    /// The last option called `name` set in the section of `header`: the
    /// one prosody keeps.
    pub fn last_section_option(&self, header: usize, name: &str) -> Option<OptId> {
        self.section_option_ids(header)
            .filter(|&id| self.option_name(id) == name)
            .last()
    }

    /// Applies non-overlapping edits (byte range → replacement) to the text.
    pub fn splice(&self, mut edits: Vec<(Span, Vec<u8>)>) -> Vec<u8> {
        edits.sort_by_key(|(r, _)| r.start);
        let mut out =
            Vec::with_capacity(self.text.len() + edits.iter().map(|e| e.1.len()).sum::<usize>());
        let mut at = 0;
        for (range, with) in edits {
            debug_assert!(range.start >= at, "overlapping edits");
            out.extend_from_slice(&self.text[at..range.start]);
            out.extend_from_slice(&with);
            at = range.end;
        }
        out.extend_from_slice(&self.text[at..]);
        out
    }

    /// The text with a new external component appended (see
    /// [`Document::append_component_edit`]).
    pub fn append_component(&self, name: &str, secret: &[u8]) -> Vec<u8> {
        self.splice(vec![self.append_component_edit(name, secret)])
    }

    /// The edit appending a new external component after everything else
    /// (so it cannot capture options meant for another section), in the
    /// file's own line ending, keeping a missing final newline missing.
    pub fn append_component_edit(&self, name: &str, secret: &[u8]) -> (Span, Vec<u8>) {
        // Continue with the file's last line break: another kind could merge
        // with it into one ("\r" then "\n", or "\n" then "\r": Lua counts each
        // pair once), and the blank separator line would vanish.
        let eol = self.trailing_break().unwrap_or_else(|| self.eol());
        let mut add = String::new();
        let ends_with_eol = matches!(self.text.last(), Some(b'\n' | b'\r'));
        if !self.text.is_empty() {
            if !ends_with_eol {
                add.push_str(eol);
            }
            add.push_str(eol);
        }
        add.push_str(&format!(
            "Component {}{eol}\tcomponent_secret = {}",
            lexer::encode_string(name.as_bytes()),
            lexer::encode_string(secret)
        ));
        if self.text.is_empty() || ends_with_eol {
            add.push_str(eol);
        }
        let end = self.text.len();
        (end..end, add.into_bytes())
    }

    /// The edit that sets `component_secret` in the section of `header`
    /// which has none: a new line right after the `Component` line (not at
    /// the section's textual end, which may lie past an `Include`), or a new
    /// field at the start of its table form.
    pub fn insert_secret_edit(&self, header: usize, secret: &[u8]) -> (Span, Vec<u8>) {
        let lit = lexer::encode_string(secret);
        if let Some((span, _)) = self.section(header).and_then(|h| h.table) {
            let at = span.start + 1;
            return (at..at, format!(" component_secret = {lit};").into_bytes());
        }
        let at = self.line_content_end(self.stmt_span(header).end);
        (
            at..at,
            format!("{}\tcomponent_secret = {lit}", self.eol()).into_bytes(),
        )
    }

    /// The edit replacing a string-literal value with a new literal.
    pub fn replace_value_edit(value: &Value, new: &[u8]) -> (Span, Vec<u8>) {
        (value.span.clone(), lexer::encode_string(new).into_bytes())
    }

    /// The byte range that removing the section opened by statement `header`
    /// deletes: the statement, the options that follow it in its section, the
    /// comment lines attached directly above, and one blank line before it.
    /// It fails rather than change what any other statement means.
    pub fn section_removal(&self, header: usize) -> Result<Span, EditError> {
        let mut last = header;
        let mut stopped_at: Option<usize> = None;
        for i in header + 1..self.stmts.len() {
            if self.owner(i) != Owner::Section(header) {
                break;
            }
            match (self.stmts[i].rec, stopped_at) {
                (Rec::Options(_), None) => last = i,
                (Rec::Options(_), Some(other)) => {
                    let (l, _) = self.line_col(self.stmt_span(other).start);
                    return Err(EditError {
                        offset: self.stmt_span(i).start,
                        message: format!(
                            "this option belongs to the section but follows another statement at line {l}; \
                             removing the section would move it into another section: edit the file by hand"
                        ),
                    });
                }
                (_, None) => stopped_at = Some(i),
                (_, Some(_)) => {}
            }
        }
        Ok(self.removal_range(header, last))
    }

    /// The range deleting statement `stmt` alone takes: its whole lines, with
    /// the comment lines attached above and one blank line before.
    pub fn statement_removal(&self, stmt: usize) -> Span {
        self.removal_range(stmt, stmt)
    }

    /// Where text inserted "just above" statement `stmt` goes: above the
    /// comment lines attached to it, at the start of its line.
    pub fn attached_start(&self, stmt: usize) -> usize {
        let start = self.stmt_span(stmt).start;
        let ls = self.line_start(start);
        let prev_end = if stmt == 0 {
            0
        } else {
            self.stmt_span(stmt - 1).end
        };
        if ls < prev_end || !self.is_blank(ls..start) {
            return start;
        }
        self.attached_comments_start(ls, prev_end)
    }

    /// The start of the comment lines directly above the line starting at
    /// `ls` (each starting its own line, none before `prev_end`).
    fn attached_comments_start(&self, ls: usize, prev_end: usize) -> usize {
        let mut from = ls;
        let above: Vec<Span> = self
            .comments
            .iter()
            .map(|c| c.r())
            .filter(|c| c.end <= ls && c.start >= prev_end)
            .collect();
        for c in above.into_iter().rev() {
            let gap = c.end..from;
            let cls = self.line_start(c.start);
            if !(self.is_blank(gap.clone())
                && line_breaks(&self.text[gap]) == 1
                && cls >= prev_end
                && self.is_blank(cls..c.start))
            {
                break;
            }
            from = cls;
        }
        from
    }

    /// The bytes deleting statements `first..=last` takes: whole lines with
    /// the comment lines attached above and one blank line before, or just
    /// the statements when they share a line with other code.
    fn removal_range(&self, first: usize, last: usize) -> Span {
        let prev_end = if first == 0 {
            0
        } else {
            self.stmt_span(first - 1).end
        };
        let start = self.stmt_span(first).start;
        let end = self.stmt_span(last).end;

        let ls = self.line_start(start);
        let le = self.line_content_end(end);
        let starts_line = ls >= prev_end && self.is_blank(ls..start);
        let ends_line = self.is_blank_or_comment(end..le);
        if !(starts_line && ends_line) {
            // Shares a line with other code: remove exactly the statements.
            return start..end;
        }
        let mut from = self.attached_comments_start(ls, prev_end);
        // One blank line before (the separator `append_component` writes).
        if from > 0 && from > prev_end {
            let above = self.line_start(from - 1);
            if above >= prev_end
                && self.is_blank(above..from)
                && !self.comment_overlaps(above..from)
            {
                from = above;
            }
        }
        let mut to = self.line_end_with_break(le);
        if to == self.text.len() && !matches!(self.text.last(), Some(b'\n' | b'\r')) && from > 0 {
            // The section ended the file without a final newline: take the
            // line break before it instead, so the file still ends without one.
            from = self.break_start_before(from);
            to = self.text.len();
        }
        from..to
    }

    fn comment_overlaps(&self, r: Span) -> bool {
        self.comments
            .iter()
            .map(|c| c.r())
            .any(|c| c.start < r.end && r.start < c.end)
    }

    fn is_blank(&self, r: Span) -> bool {
        self.text[r]
            .iter()
            .all(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c))
    }

    /// Whitespace, or whitespace around one comment that ends in the range.
    fn is_blank_or_comment(&self, r: Span) -> bool {
        let mut at = r.start;
        for c in self
            .comments
            .iter()
            .map(|c| c.r())
            .filter(|c| c.start >= r.start && c.start < r.end)
        {
            if !self.is_blank(at..c.start) || c.end > r.end {
                return false;
            }
            at = c.end;
        }
        self.is_blank(at..r.end)
    }

    fn line_start(&self, offset: usize) -> usize {
        let i = self.line_starts.partition_point(|&s| s as usize <= offset);
        self.line_starts[i - 1] as usize
    }

    /// The end of the line holding `offset`, before its line break. A long
    /// comment that starts on this line and spans lines extends it.
    fn line_content_end(&self, offset: usize) -> usize {
        let mut at = offset;
        loop {
            let mut end = at;
            while end < self.text.len() && !matches!(self.text[end], b'\n' | b'\r') {
                end += 1;
            }
            match self
                .comments
                .iter()
                .map(|c| c.r())
                .find(|c| c.start < end && c.end > end && c.start >= at)
            {
                Some(c) => at = c.end,
                None => return end,
            }
        }
    }

    fn line_end_with_break(&self, content_end: usize) -> usize {
        let t = &self.text;
        match t.get(content_end) {
            Some(&c @ (b'\n' | b'\r')) => match t.get(content_end + 1) {
                Some(&d) if (d == b'\n' || d == b'\r') && d != c => content_end + 2,
                _ => content_end + 1,
            },
            _ => content_end,
        }
    }

    fn break_start_before(&self, offset: usize) -> usize {
        let t = &self.text;
        let mut s = offset;
        if s > 0 && matches!(t[s - 1], b'\n' | b'\r') {
            s -= 1;
            if s > 0 && matches!(t[s - 1], b'\n' | b'\r') && t[s - 1] != t[s] {
                s -= 1;
            }
        }
        s
    }
}

/// A constant in a config value: what `listen` and `probe` need to read
/// `component_ports = { 5347 }` or `component_interface = "0.0.0.0"`.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(Vec<u8>),
    Num(f64),
}

impl Document {
    /// The value at `span` as a list of constants: a string or number is a
    /// list of one, a table of strings and numbers its items. `None` for
    /// anything else (names, calls, keyed fields): not guessed.
    pub fn literal_list(&self, span: &Span) -> Option<Vec<Literal>> {
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

fn parse_number(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok().map(|v| v as f64),
        None => s.parse().ok(),
    }
}

/// Turns parsed top-level statements, one at a time, into records.
struct Builder<'t> {
    text: &'t [u8],
    stmts: Vec<StmtRec>,
    opts: Vec<OptRec>,
    heads: Vec<HeadRec>,
    head_extras: Vec<HeadExtra>,
    includes: Vec<ValRec>,
    owners: Vec<u32>,
    key_names: Vec<(u32, Box<str>)>,
    /// The section statements run in now (`GLOBAL` or a header's index).
    current: u32,
}

impl Builder<'_> {
    fn push(&mut self, s: syntax::Stmt) {
        let i = self.stmts.len() as u32;
        let mark = self.opts.len();
        let rec = self.classify(s.kind);
        if matches!(rec, Rec::Other) {
            // Fields of a table form that turned out not to be a section.
            self.opts.truncate(mark);
            let keep = self
                .key_names
                .partition_point(|(i, _)| (*i as usize) < mark);
            self.key_names.truncate(keep);
        }
        let owner = match rec {
            Rec::Section(h) => {
                let extra = self.heads[h as usize].extra;
                self.current = if extra != NONE && self.head_extras[extra as usize].table.is_some()
                {
                    GLOBAL
                } else {
                    i
                };
                i
            }
            _ => self.current,
        };
        self.owners.push(owner);
        self.stmts.push(StmtRec {
            span: Sp::of(&s.span),
            rec,
        });
    }

    /// What prosody would make of a statement.
    fn classify(&mut self, kind: StmtKind) -> Rec {
        match kind {
            StmtKind::Assign { targets, values } => {
                let first = self.opts.len() as u32;
                for (i, t) in targets.iter().enumerate() {
                    if let Some(span) = t {
                        self.opts
                            .push(OptRec::new(Sp::of(span), values.get(i).map(value)));
                    }
                }
                if self.opts.len() as u32 == first {
                    return Rec::Other;
                }
                self.opts.last_mut().expect("not empty").last = true;
                Rec::Options(first)
            }
            StmtKind::Call(s) => self.classify_call(s),
            StmtKind::Other => Rec::Other,
        }
    }

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
        let first = |args: &Vec<Expr>| args.first().map(value);
        let kind = match &self.text[s.head.span.clone()] {
            b"VirtualHost" | b"Host" | b"host" => SectionKind::VirtualHost,
            b"Component" | b"component" => SectionKind::Component,
            b"Include" | b"include" if calls.len() == 1 => {
                return match first(calls[0]) {
                    Some(v) => {
                        self.includes.push(v);
                        Rec::Include(self.includes.len() as u32 - 1)
                    }
                    None => Rec::Other,
                }
            }
            _ => return Rec::Other,
        };
        let Some(name) = first(calls[0]) else {
            return Rec::Other;
        };
        // `Component "x" { … }`, `Component "x" "muc"`, `Component "x" "muc" { … }`.
        let mut header = HeadExtra::default();
        let is_table = |e: &Expr| matches!(e.kind, ExprKind::Table(_));
        let mut rest = calls[1..].iter().map(|args| args.first());
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
        let extra = if header.module.is_none() && header.table.is_none() {
            NONE
        } else {
            self.head_extras.push(header);
            self.head_extras.len() as u32 - 1
        };
        self.heads.push(HeadRec {
            name: name.span,
            kind,
            name_is_str: name.is_str,
            extra,
        });
        Rec::Section(self.heads.len() as u32 - 1)
    }

    /// The table's span, its `name = value` and `["name"] = value` fields
    /// pushed as options, and its first computed key.
    fn table(&mut self, e: &Expr) -> (Option<Sp>, Run, Option<Sp>) {
        let ExprKind::Table(fields) = &e.kind else {
            unreachable!()
        };
        let first = self.opts.len() as u32;
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
                self.key_names.push((
                    self.opts.len() as u32,
                    String::from_utf8_lossy(&name).into(),
                ));
            }
            self.opts.push(OptRec {
                bracketed,
                ..OptRec::new(Sp::of(&f.key), Some(value(&f.value)))
            });
        }
        let len = self.opts.len() as u32 - first;
        if len > 0 {
            self.opts.last_mut().expect("not empty").last = true;
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

/// The span of the string token inside `( ( "x" ) )`.
fn strip_parens(text: &[u8], span: Span) -> Span {
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

fn line_starts(text: &[u8]) -> Vec<u32> {
    let mut v = vec![0];
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'\n' || c == b'\r' {
            if i + 1 < text.len()
                && (text[i + 1] == b'\n' || text[i + 1] == b'\r')
                && text[i + 1] != c
            {
                i += 1;
            }
            v.push(i as u32 + 1);
        }
        i += 1;
    }
    v
}

fn line_breaks(s: &[u8]) -> usize {
    line_starts(s).len() - 1
}

fn position(text: &[u8], starts: &[u32], offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line = starts.partition_point(|&s| s as usize <= offset);
    let ls = starts[line - 1] as usize;
    let column = text[ls..offset]
        .iter()
        .filter(|&&c| (c & 0xC0) != 0x80)
        .count()
        + 1;
    (line, column)
}

fn syntax_help(text: &[u8], starts: &[u32], offset: usize, line: usize) -> Option<String> {
    if text.starts_with(b"\xEF\xBB\xBF") && offset == 0 {
        return Some("the file starts with a UTF-8 byte order mark, which Lua (and so prosody) rejects: save it without a BOM".into());
    }
    let ls = starts[line - 1] as usize;
    let line_text = &text[ls..];
    let trimmed = line_text
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t'))
        .map(|i| &line_text[i..]);
    if text.get(offset) == Some(&b'#') && trimmed.is_some_and(|t| t.first() == Some(&b'#')) {
        if line == 1 && text.starts_with(b"#!") {
            return Some("prosody loads its config as a string, where a `#!` first line is not allowed: delete it".into());
        }
        return Some("Lua comments start with `--`, not `#`: replace the `#` with `--`".into());
    }
    None
}

#[cfg(test)]
mod tests;
