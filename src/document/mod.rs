//! The Lua-aware, lossless model of one prosody config file.
//!
//! A [`Document`] keeps the original bytes and, from the parse, the spans of
//! its top-level statements, classified the way prosody's configmanager runs
//! them: `VirtualHost`/`Component` calls open a section, bare assignments set
//! an option in the current section, `Include` pulls in other files. Edits are
//! splices of the original bytes, so everything not edited stays as it was.

pub mod fuzz;
pub mod lexer;
pub mod syntax;

pub use lexer::Span;
use syntax::{Expr, ExprKind, StmtKind, Suffix};

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

/// A value as written: a string literal (decoded) or any other expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub span: Span,
    /// The bytes Lua reads, when the value is a plain string literal.
    pub literal: Option<Vec<u8>>,
}

/// One option set in the file: `name = value`, or a `name = value` field of
/// a section's table form (`Component "x" { component_secret = "…" }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSet {
    pub name: String,
    pub name_span: Span,
    /// `None` when the assignment has fewer values than names (`a, b = 1`).
    pub value: Option<Value>,
}

/// A `VirtualHost`/`Component` statement and what it sets itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHeader {
    pub kind: SectionKind,
    pub name: Value,
    /// The plugin of `Component "x" "muc"`; `None` for an external component.
    pub module: Option<Value>,
    /// The fields of the table form, and the table's span.
    pub table: Option<(Span, Vec<OptionSet>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// Boxed: a config has far more assignments than sections, and the
    /// header is the largest variant.
    Section(Box<SectionHeader>),
    /// `Include "path"`: the path, literal or not.
    Include(Value),
    /// An assignment whose targets are plain names: options of the current section.
    Options(Vec<OptionSet>),
    /// Anything else (locals, calls, control flow): kept, never interpreted.
    Other,
}

#[derive(Debug, Clone)]
pub struct Stmt {
    pub span: Span,
    pub statement: Statement,
}

/// Which section a statement runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Global,
    /// The index of the `VirtualHost`/`Component` statement.
    Section(usize),
}

#[derive(Debug, Clone)]
pub struct Document {
    text: Vec<u8>,
    stmts: Vec<Stmt>,
    comments: Vec<Span>,
    nested_calls: Vec<Span>,
    line_starts: Vec<usize>,
    /// The section of each statement (see [`Document::owners`]).
    owners: Vec<Owner>,
}

/// Why an edit cannot be made by splicing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    pub offset: usize,
    pub message: String,
}

impl Document {
    /// Parses `text`; fails with the first syntax error, positioned.
    pub fn parse(text: Vec<u8>) -> Result<Document, SyntaxError> {
        let line_starts = line_starts(&text);
        let chunk = match syntax::parse(&text) {
            Ok(c) => c,
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
        // A `#!` first line parses as `#` … in Lua only when it is an
        // operator; prosody loads from a string, where it is an error anyway
        // (the parser above reports it as an unexpected symbol).
        let stmts: Vec<Stmt> = chunk
            .stmts
            .into_iter()
            .map(|s| Stmt {
                statement: classify(&text, s.kind),
                span: s.span,
            })
            .collect();
        let owners = section_owners(&stmts);
        Ok(Document {
            text,
            owners,
            stmts,
            comments: chunk.comments,
            nested_calls: chunk.nested_calls,
            line_starts,
        })
    }

    pub fn text(&self) -> &[u8] {
        &self.text
    }

    pub fn into_text(self) -> Vec<u8> {
        self.text
    }

    pub fn statements(&self) -> &[Stmt] {
        &self.stmts
    }

    /// Names called in nested blocks (`if … then Component "x" end`): prosody
    /// runs them, a static model cannot; reported rather than guessed.
    pub fn nested_calls(&self) -> &[Span] {
        &self.nested_calls
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
        if n < 2 || self.line_starts[n - 1] != self.text.len() {
            return None;
        }
        let line = &self.text[self.line_starts[n - 2]..];
        let start = line.iter().position(|&c| c == b'\n' || c == b'\r')?;
        Some(match &line[start..] {
            b"\r\n" => "\r\n",
            b"\n\r" => "\n\r",
            b"\r" => "\r",
            _ => "\n",
        })
    }

    /// The section every statement runs in, as prosody's configmanager sets
    /// `__currenthost`: a `VirtualHost`/`Component` line opens its section,
    /// and its table form (`Component "x" { … }`) returns to the global one.
    pub fn owners(&self) -> &[Owner] {
        &self.owners
    }

    /// Options set in the section opened by statement `header`, in order:
    /// the table form's fields, then the assignments that follow it.
    pub fn section_options(&self, header: usize) -> Vec<&OptionSet> {
        let owners = &self.owners;
        let mut out = Vec::new();
        if let Statement::Section(h) = &self.stmts[header].statement {
            if let Some((_, fields)) = &h.table {
                out.extend(fields.iter());
            }
        }
        for (i, s) in self.stmts.iter().enumerate().skip(header + 1) {
            if owners[i] != Owner::Section(header) {
                if matches!(s.statement, Statement::Section(_)) {
                    break;
                }
                continue;
            }
            if let Statement::Options(opts) = &s.statement {
                out.extend(opts.iter());
            }
        }
        out
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

    /// The text with a new external component appended after everything else
    /// (so it cannot capture options meant for another section), in the
    /// file's own line ending, keeping a missing final newline missing.
    pub fn append_component(&self, name: &str, secret: &[u8]) -> Vec<u8> {
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
        let mut out = self.text.clone();
        out.extend_from_slice(add.as_bytes());
        out
    }

    /// The edit that sets `component_secret` in the section of `header`
    /// which has none: a new line right after the `Component` line (not at
    /// the section's textual end, which may lie past an `Include`), or a new
    /// field at the start of its table form.
    pub fn insert_secret_edit(&self, header: usize, secret: &[u8]) -> (Span, Vec<u8>) {
        let lit = lexer::encode_string(secret);
        let stmt = &self.stmts[header];
        if let Some((span, _)) = match &stmt.statement {
            Statement::Section(h) => h.table.as_ref(),
            _ => None,
        } {
            let at = span.start + 1;
            return (at..at, format!(" component_secret = {lit};").into_bytes());
        }
        let at = self.line_content_end(stmt.span.end);
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
        let owners = &self.owners;
        let mut last = header;
        let mut stopped_at: Option<usize> = None;
        for i in header + 1..self.stmts.len() {
            if owners[i] != Owner::Section(header) {
                break;
            }
            match (&self.stmts[i].statement, stopped_at) {
                (Statement::Options(_), None) => last = i,
                (Statement::Options(_), Some(other)) => {
                    let (l, _) = self.line_col(self.stmts[other].span.start);
                    return Err(EditError {
                        offset: self.stmts[i].span.start,
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
        let start = self.stmts[stmt].span.start;
        let ls = self.line_start(start);
        let prev_end = if stmt == 0 {
            0
        } else {
            self.stmts[stmt - 1].span.end
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
        let above: Vec<&Span> = self
            .comments
            .iter()
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
            self.stmts[first - 1].span.end
        };
        let start = self.stmts[first].span.start;
        let end = self.stmts[last].span.end;

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
        let i = self.line_starts.partition_point(|&s| s <= offset);
        self.line_starts[i - 1]
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

fn section_owners(stmts: &[Stmt]) -> Vec<Owner> {
    let mut current = Owner::Global;
    stmts
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.statement {
            Statement::Section(h) => {
                current = if h.table.is_some() {
                    Owner::Global
                } else {
                    Owner::Section(i)
                };
                Owner::Section(i)
            }
            _ => current,
        })
        .collect()
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

/// Turns a parsed top-level statement into what prosody would make of it.
fn classify(text: &[u8], kind: StmtKind) -> Statement {
    match kind {
        StmtKind::Assign { targets, values } => {
            let opts: Vec<OptionSet> = targets
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    let span = t.clone()?;
                    Some(OptionSet {
                        name: String::from_utf8_lossy(&text[span.clone()]).into_owned(),
                        name_span: span,
                        value: values.get(i).map(|v| value(text, v)),
                    })
                })
                .collect();
            if opts.is_empty() {
                Statement::Other
            } else {
                Statement::Options(opts)
            }
        }
        StmtKind::Call(s) => {
            if s.head.kind != ExprKind::Name {
                return Statement::Other;
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
                return Statement::Other;
            }
            let first = |args: &Vec<Expr>| args.first().map(|e| value(text, e));
            let kind = match &text[s.head.span.clone()] {
                b"VirtualHost" | b"Host" | b"host" => SectionKind::VirtualHost,
                b"Component" | b"component" => SectionKind::Component,
                b"Include" | b"include" if calls.len() == 1 => {
                    return match first(calls[0]) {
                        Some(v) => Statement::Include(v),
                        None => Statement::Other,
                    }
                }
                _ => return Statement::Other,
            };
            let Some(name) = first(calls[0]) else {
                return Statement::Other;
            };
            let mut header = SectionHeader {
                kind,
                name,
                module: None,
                table: None,
            };
            let mut rest = calls[1..].iter();
            if let Some(args) = rest.next() {
                match args.first() {
                    Some(
                        e @ Expr {
                            kind: ExprKind::Table(_),
                            ..
                        },
                    ) => header.table = Some(table(text, e)),
                    Some(e) if kind == SectionKind::Component => {
                        header.module = Some(value(text, e));
                        if let Some(args) = rest.next() {
                            match args.first() {
                                Some(
                                    t @ Expr {
                                        kind: ExprKind::Table(_),
                                        ..
                                    },
                                ) => header.table = Some(table(text, t)),
                                _ => return Statement::Other,
                            }
                        }
                    }
                    _ => return Statement::Other,
                }
            }
            if rest.next().is_some() {
                return Statement::Other;
            }
            Statement::Section(Box::new(header))
        }
        StmtKind::Other => Statement::Other,
    }
}

fn value(text: &[u8], e: &Expr) -> Value {
    let literal = match e.kind {
        // `("x")` has the literal inside parentheses.
        ExprKind::Str => {
            let inner = strip_parens(text, e.span.clone());
            Some(lexer::decode_string(&text[inner]))
        }
        _ => None,
    };
    Value {
        span: e.span.clone(),
        literal,
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

fn table(text: &[u8], e: &Expr) -> (Span, Vec<OptionSet>) {
    let ExprKind::Table(fields) = &e.kind else {
        unreachable!()
    };
    let opts = fields
        .iter()
        .map(|f| OptionSet {
            name: String::from_utf8_lossy(&text[f.key.clone()]).into_owned(),
            name_span: f.key.clone(),
            value: Some(value(text, &f.value)),
        })
        .collect();
    (e.span.clone(), opts)
}

fn line_starts(text: &[u8]) -> Vec<usize> {
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
            v.push(i + 1);
        }
        i += 1;
    }
    v
}

fn line_breaks(s: &[u8]) -> usize {
    line_starts(s).len() - 1
}

fn position(text: &[u8], starts: &[usize], offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line = starts.partition_point(|&s| s <= offset);
    let ls = starts[line - 1];
    let column = text[ls..offset]
        .iter()
        .filter(|&&c| (c & 0xC0) != 0x80)
        .count()
        + 1;
    (line, column)
}

fn syntax_help(text: &[u8], starts: &[usize], offset: usize, line: usize) -> Option<String> {
    if text.starts_with(b"\xEF\xBB\xBF") && offset == 0 {
        return Some("the file starts with a UTF-8 byte order mark, which Lua (and so prosody) rejects: save it without a BOM".into());
    }
    let ls = starts[line - 1];
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
