//! A validating recursive-descent parser for Lua 5.4 (the grammar of `lparser.c`).
//!
//! The statement and expression functions follow `lparser.c`'s and carry
//! their names in doc comments (`statement` dispatches to `ifstat`,
//! `whilestat`, `forstat`, …; expressions are `subexpr`, `simpleexp`,
//! `suffixedexp`, …), so a difference from Lua can be found by reading the
//! two side by side. Error
//! messages and positions are Lua's (checked against `luac` in the tests).
//!
//! It checks the whole chunk, as `load` would, but keeps a tree only of the
//! top-level statements: that is all prosody's config model needs, and it keeps
//! memory proportional to the top level rather than to every expression.

use super::lexer::{self, Kw, LexError, Span, Sym, Tok, Token};
pub(crate) use super::lines::line_of;

/// Nesting limit of statements and expressions. Lua stops at `LUAI_MAXCCALLS`
/// (200) C levels, a few of which are spent by `load` itself: measured
/// through prosody 0.12's loader, 195 nested parentheses load and 196 do not.
/// The bound also keeps hostile input from overflowing our own stack.
pub(crate) const MAX_DEPTH: usize = 197;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

impl From<LexError> for ParseError {
    fn from(e: LexError) -> Self {
        ParseError {
            offset: e.offset,
            message: e.message,
        }
    }
}

/// What an expression is, as far as prosody's config model cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExprKind {
    /// A string literal; decode it with [`lexer::decode_string`].
    Str,
    Name,
    Table(Vec<Field>),
    /// A call or index chain: `f "x" { … }`, `a.b`, `(e)`.
    Suffixed(Box<Suffixed>),
    /// Anything else: numbers, operators, functions, `nil`, `...`.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expr {
    pub(crate) span: Span,
    pub(crate) kind: ExprKind,
}

/// A keyed field of a table constructor: `name = value`, `["name"] = value`
/// or `[expr] = value` (positional items and constant non-string keys are
/// not kept: no option prosody reads is named by a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// The name, the string key (possibly in parentheses), or the key expression.
    pub(crate) key: Span,
    pub(crate) key_kind: KeyKind,
    pub(crate) value: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// `name = value`
    Name,
    /// `["name"] = value`: the same option for prosody, which reads the
    /// table with `pairs`.
    Str,
    /// `[expr] = value`: a key known only when the config runs.
    Computed,
}

/// Code that sets options (or changes what sets them) where a static model
/// of top-level statements cannot follow; see [`Extras::opaque`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpaqueKind {
    /// A global name assigned below the top level (`do x = 1 end`, in an
    /// `if`, a loop, a function): prosody sets option `x` of whichever
    /// section is current when (and if) it runs.
    NestedAssign,
    /// `_ENV` (prosody's config environment itself) or `__currenthost` (its
    /// current section), read, assigned or declared.
    Env,
    /// A function that reaches past the config's statements: `rawset`,
    /// `setmetatable`, `debug`, `load`, `loadfile`, `dofile`, `require`,
    /// `RunScript`, `package`, `_G`.
    Escape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opaque {
    /// The name's span.
    pub(crate) span: Span,
    pub(crate) kind: OpaqueKind,
}

/// Free names that let config code reach past its own statements.
const ESCAPES: &[&[u8]] = &[
    b"rawset",
    b"setmetatable",
    b"debug",
    b"load",
    b"loadstring",
    b"loadfile",
    b"dofile",
    b"require",
    b"RunScript",
    b"package",
    b"_G",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Suffix {
    /// `f(args)`, `f "s"`, `f {…}`: the arguments.
    Call(Vec<Expr>),
    /// `.name`, `[exp]`, `:method(args)`.
    Index,
    Method,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suffixed {
    /// The head: a name or a parenthesised expression.
    pub(crate) head: Expr,
    pub(crate) suffixes: Vec<Suffix>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StmtKind {
    /// An expression statement (always a call chain in valid Lua).
    Call(Suffixed),
    /// `a, b.c = x, y`: targets that are plain names carry their span.
    Assign {
        targets: Vec<Option<Span>>,
        values: Vec<Expr>,
    },
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stmt {
    pub(crate) span: Span,
    pub(crate) kind: StmtKind,
}

/// The parsed chunk's top-level statements, which the tests compare; the
/// library hands statements out one by one ([`parse_each`]).
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunk {
    pub(crate) stmts: Vec<Stmt>,
}

/// What a parse leaves besides the statements it hands out one by one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    pub(crate) comments: Vec<Span>,
    /// Expression statements below the top level that call a name, with the
    /// span of that name: prosody would run them, so callers may want to say
    /// that a `Component` inside an `if` is beyond a static model.
    pub(crate) nested_calls: Vec<Span>,
    /// Where the config sets options in ways a static model cannot follow.
    pub(crate) opaque: Vec<Opaque>,
    /// Top-level assignments to a name declared `local` earlier in the
    /// file (the assigned name's span, the declaration's): in prosody's
    /// environment they set the Lua local, not an option.
    pub(crate) shadowed: Vec<(Span, Span)>,
    /// The names of the top-level locals, in order of declaration.
    pub(crate) top_locals: Vec<Span>,
}

/// Parses `src`, handing each top-level statement to `on_stmt` as soon as
/// it is complete: the caller keeps what it needs, so no token list and no
/// list of statement trees ever exists for the whole file.
pub(crate) fn parse_each(src: &[u8], on_stmt: &mut dyn FnMut(Stmt)) -> Result<Extras, ParseError> {
    let mut p = Parser {
        src,
        lexer: lexer::Lexer::new(src),
        cur: Token {
            kind: Tok::Eof,
            span: 0..0,
        },
        ahead: None,
        prev_end: 0,
        lex_error: None,
        comments: Vec::new(),
        depth: 0,
        funcs: vec![FuncState {
            vararg: true,
            loops: 0,
        }],
        nested_calls: Vec::new(),
        opaque: Vec::new(),
        shadowed: Vec::new(),
        locals: Vec::new(),
        scopes: Vec::new(),
        local_decls: std::collections::HashMap::new(),
    };
    p.cur = p.fetch();
    match p.main_chunk(on_stmt) {
        Ok(()) => Ok(Extras {
            comments: p.comments,
            nested_calls: p.nested_calls,
            opaque: p.opaque,
            shadowed: p.shadowed,
            // The top level is never closed: what is left is its locals.
            top_locals: p.locals,
        }),
        // The parser stopped on the bad token: the lexer's message is the real one.
        Err(_) if p.kind() == Tok::Error => {
            Err(p.lex_error.expect("an error token has an error").into())
        }
        Err(e) => Err(e),
    }
}

/// Parses `src` into a [`Chunk`] holding every top-level statement.
#[cfg(test)]
pub(crate) fn parse(src: &[u8]) -> Result<Chunk, ParseError> {
    let mut stmts = Vec::new();
    parse_each(src, &mut |s| stmts.push(s))?;
    Ok(Chunk { stmts })
}

struct FuncState {
    vararg: bool,
    loops: usize,
}

struct Parser<'a> {
    src: &'a [u8],
    /// Tokens are lexed on demand, as Lua does: the current one and at
    /// most one ahead (table fields need `name =`).
    lexer: lexer::Lexer<'a>,
    cur: Token,
    ahead: Option<Token>,
    prev_end: usize,
    /// Set once the lexer fails; from then on every token is `Error`.
    lex_error: Option<LexError>,
    comments: Vec<Span>,
    depth: usize,
    funcs: Vec<FuncState>,
    nested_calls: Vec<Span>,
    opaque: Vec<Opaque>,
    shadowed: Vec<(Span, Span)>,
    /// The locals in scope, innermost last, as declaration spans; `scopes`
    /// marks where each open block's locals start in it.
    locals: Vec<Span>,
    scopes: Vec<usize>,
    /// The declarations in scope of each name, innermost last (a name may
    /// be declared again in an inner block): a lookup costs the same
    /// however many locals a hostile file declares.
    local_decls: std::collections::HashMap<&'a [u8], Vec<Span>>,
}

type R<T> = Result<T, ParseError>;

fn binary_priority(t: Tok) -> Option<(u8, u8)> {
    Some(match t {
        Tok::Keyword(Kw::Or) => (1, 1),
        Tok::Keyword(Kw::And) => (2, 2),
        Tok::Sym(Sym::Lt | Sym::Gt | Sym::Le | Sym::Ge | Sym::Ne | Sym::Eq) => (3, 3),
        Tok::Sym(Sym::Pipe) => (4, 4),
        Tok::Sym(Sym::Tilde) => (5, 5),
        Tok::Sym(Sym::Amp) => (6, 6),
        Tok::Sym(Sym::Shl | Sym::Shr) => (7, 7),
        Tok::Sym(Sym::Concat) => (9, 8),
        Tok::Sym(Sym::Plus | Sym::Minus) => (10, 10),
        Tok::Sym(Sym::Star | Sym::Slash | Sym::DoubleSlash | Sym::Percent) => (11, 11),
        Tok::Sym(Sym::Caret) => (14, 13),
        _ => return None,
    })
}

const UNARY_PRIORITY: u8 = 12;

impl<'a> Parser<'a> {
    /// The next token that is not a comment (comments are kept aside).
    fn fetch(&mut self) -> Token {
        loop {
            if let Some(e) = &self.lex_error {
                return Token {
                    kind: Tok::Error,
                    span: e.offset..e.offset,
                };
            }
            match self.lexer.next_token() {
                Ok(t) if t.kind == Tok::Comment => self.comments.push(t.span),
                Ok(t) => return t,
                Err(e) => self.lex_error = Some(e),
            }
        }
    }
    fn tok(&self) -> &Token {
        &self.cur
    }
    fn kind(&self) -> Tok {
        self.cur.kind
    }
    fn peek_kind(&mut self, n: usize) -> Tok {
        debug_assert!(n <= 1, "one token of lookahead, as in Lua");
        if n == 0 || matches!(self.cur.kind, Tok::Eof | Tok::Error) {
            return self.cur.kind;
        }
        if self.ahead.is_none() {
            self.ahead = Some(self.fetch());
        }
        self.ahead.as_ref().expect("just fetched").kind
    }
    fn start(&self) -> usize {
        self.cur.span.start
    }
    /// End of the last consumed token.
    fn prev_end(&self) -> usize {
        self.prev_end
    }
    fn advance(&mut self) -> Span {
        let s = self.cur.span.clone();
        if !matches!(self.cur.kind, Tok::Eof | Tok::Error) {
            self.prev_end = s.end;
            self.cur = match self.ahead.take() {
                Some(t) => t,
                None => self.fetch(),
            };
        }
        s
    }
    fn test(&mut self, k: Tok) -> bool {
        if self.kind() == k {
            self.advance();
            true
        } else {
            false
        }
    }

    /// Lua's `near 'token'` text for the current token; a string token is
    /// named `<string>` instead: its text may be a secret, and messages end
    /// up in terminals and the journal.
    fn near(&self) -> String {
        let t = self.tok();
        if matches!(t.kind, Tok::Eof | Tok::Error) {
            return "<eof>".into();
        }
        if t.kind == Tok::Str {
            return "<string>".into();
        }
        let text = &self.src[t.span.clone()];
        let shown: String = String::from_utf8_lossy(&text[..text.len().min(40)]).into();
        format!("'{shown}'")
    }

    fn error<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(ParseError {
            offset: self.start(),
            message: format!("{} near {}", msg.into(), self.near()),
        })
    }

    fn expect(&mut self, k: Tok, what: &str) -> R<Span> {
        if self.kind() == k {
            Ok(self.advance())
        } else {
            self.error(format!("'{what}' expected"))
        }
    }

    /// `check_match`: a closing token, naming the opener when it is on another line.
    fn expect_match(&mut self, k: Tok, what: &str, opener: &str, open_at: usize) -> R<Span> {
        if self.kind() == k {
            return Ok(self.advance());
        }
        let open_line = line_of(self.src, open_at);
        if open_line == line_of(self.src, self.start()) {
            self.error(format!("'{what}' expected"))
        } else {
            self.error(format!(
                "'{what}' expected (to close '{opener}' at line {open_line})"
            ))
        }
    }

    /// `str_checkname`: a name.
    fn name(&mut self) -> R<Span> {
        self.expect(Tok::Name, "<name>")
    }

    fn open_scope(&mut self) {
        self.scopes.push(self.locals.len());
    }

    fn close_scope(&mut self) {
        let mark = self.scopes.pop().expect("an open scope");
        let src: &'a [u8] = self.src;
        for s in self.locals.drain(mark..) {
            if let Some(d) = self.local_decls.get_mut(&src[s]) {
                d.pop();
            }
        }
    }

    /// A local comes into scope (`local x`, a parameter, a loop variable).
    fn declare(&mut self, span: Span) {
        let src: &'a [u8] = self.src;
        let name = &src[span.clone()];
        if name == b"_ENV" {
            // Every later global in its scope reads and writes this table,
            // not prosody's config environment.
            self.opaque.push(Opaque {
                span: span.clone(),
                kind: OpaqueKind::Env,
            });
        }
        self.local_decls.entry(name).or_default().push(span.clone());
        self.locals.push(span);
    }

    /// The innermost local named `name` in scope.
    fn local_decl(&self, name: &[u8]) -> Option<Span> {
        self.local_decls.get(name)?.last().cloned()
    }

    /// A name used as a variable: note it when it is a free name that
    /// reaches past the config's statements.
    fn free_name(&mut self, span: &Span) {
        let name = &self.src[span.clone()];
        let kind = if name == b"_ENV" || name == b"__currenthost" {
            OpaqueKind::Env
        } else if ESCAPES.contains(&name) {
            OpaqueKind::Escape
        } else {
            return;
        };
        if self.local_decl(name).is_none() {
            self.opaque.push(Opaque {
                span: span.clone(),
                kind,
            });
        }
    }

    /// `enterlevel`: one more nesting level, bounded by [`MAX_DEPTH`].
    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                offset: self.start(),
                message: format!("chunk has too many syntax levels (more than {MAX_DEPTH} nested)"),
            });
        }
        Ok(())
    }
    /// `leavelevel`.
    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `lparser.c`: `mainfunc` and its `statlist` at the top level, handing
    /// each top-level statement to `on_stmt` as soon as it ends.
    fn main_chunk(&mut self, on_stmt: &mut dyn FnMut(Stmt)) -> R<()> {
        while !self.block_follow(true) {
            if self.kind() == Tok::Keyword(Kw::Return) {
                let start = self.start();
                self.statement(true)?;
                on_stmt(Stmt {
                    span: start..self.prev_end(),
                    kind: StmtKind::Other,
                });
                break;
            }
            let start = self.start();
            let kind = self.statement(true)?;
            if let Some(kind) = kind {
                on_stmt(Stmt {
                    span: start..self.prev_end(),
                    kind,
                });
            }
        }
        if self.kind() != Tok::Eof {
            return self.error("'<eof>' expected");
        }
        Ok(())
    }

    /// `block_follow`: whether the current token ends a block.
    fn block_follow(&self, with_until: bool) -> bool {
        match self.kind() {
            Tok::Keyword(Kw::Else | Kw::Elseif | Kw::End) | Tok::Eof => true,
            Tok::Keyword(Kw::Until) => with_until,
            _ => false,
        }
    }

    /// `block`: a block in a scope of its own.
    fn block(&mut self) -> R<()> {
        self.open_scope();
        let r = self.statlist();
        self.close_scope();
        r
    }

    /// `statlist`: statements up to the end of the block; a `return` is
    /// the last.
    fn statlist(&mut self) -> R<()> {
        while !self.block_follow(true) {
            if self.kind() == Tok::Keyword(Kw::Return) {
                self.statement(false)?;
                return Ok(());
            }
            self.statement(false)?;
        }
        Ok(())
    }

    /// `statement`: one statement, dispatched on its first token as
    /// `lparser.c` does; at the top level, returns its kind (`None` for `;`).
    /// `start` plays the part of Lua's `line`: where the statement began,
    /// for "to close 'x' at line N".
    fn statement(&mut self, top: bool) -> R<Option<StmtKind>> {
        self.enter()?;
        let start = self.start();
        let other = |()| Some(StmtKind::Other);
        let kind = match self.kind() {
            // stat -> ';' (empty statement)
            Tok::Sym(Sym::Semi) => {
                self.advance();
                None
            }
            Tok::Keyword(Kw::If) => self.ifstat(start).map(other)?,
            Tok::Keyword(Kw::While) => self.whilestat(start).map(other)?,
            Tok::Keyword(Kw::Do) => self.dostat(start).map(other)?,
            Tok::Keyword(Kw::For) => self.forstat(start).map(other)?,
            Tok::Keyword(Kw::Repeat) => self.repeatstat(start).map(other)?,
            Tok::Keyword(Kw::Function) => self.funcstat(start).map(other)?,
            Tok::Keyword(Kw::Local) => {
                self.advance();
                if self.test(Tok::Keyword(Kw::Function)) {
                    self.localfunc(start).map(other)?
                } else {
                    self.localstat().map(other)?
                }
            }
            Tok::Sym(Sym::DoubleColon) => {
                self.advance();
                self.labelstat().map(other)?
            }
            Tok::Keyword(Kw::Return) => {
                self.advance();
                self.retstat().map(other)?
            }
            Tok::Keyword(Kw::Break) => self.breakstat(start).map(other)?,
            Tok::Keyword(Kw::Goto) => {
                self.advance();
                self.gotostat().map(other)?
            }
            // stat -> func | assignment
            _ => Some(self.exprstat(top)?),
        };
        self.leave();
        Ok(kind)
    }

    /// `ifstat`: `if cond then block {elseif cond then block} [else block] end`.
    fn ifstat(&mut self, start: usize) -> R<()> {
        self.test_then_block()?;
        while self.kind() == Tok::Keyword(Kw::Elseif) {
            self.test_then_block()?;
        }
        if self.test(Tok::Keyword(Kw::Else)) {
            self.block()?;
        }
        self.expect_match(Tok::Keyword(Kw::End), "end", "if", start)?;
        Ok(())
    }

    /// `test_then_block`: `[if | elseif] cond then block`.
    fn test_then_block(&mut self) -> R<()> {
        self.advance(); // `if` or `elseif`
        self.expr()?;
        self.expect(Tok::Keyword(Kw::Then), "then")?;
        self.block()
    }

    /// `whilestat`: `while cond do block end`.
    fn whilestat(&mut self, start: usize) -> R<()> {
        self.advance();
        self.expr()?;
        self.expect(Tok::Keyword(Kw::Do), "do")?;
        self.loop_block()?;
        self.expect_match(Tok::Keyword(Kw::End), "end", "while", start)?;
        Ok(())
    }

    /// `do block end` (inline in `lparser.c`'s `statement`).
    fn dostat(&mut self, start: usize) -> R<()> {
        self.advance();
        self.block()?;
        self.expect_match(Tok::Keyword(Kw::End), "end", "do", start)?;
        Ok(())
    }

    /// `forstat`: `for` a numeric (`fornum`) or generic (`forlist`) loop, `end`.
    fn forstat(&mut self, start: usize) -> R<()> {
        self.advance();
        let var = self.name()?;
        match self.kind() {
            Tok::Sym(Sym::Assign) => self.fornum(var)?,
            Tok::Sym(Sym::Comma) | Tok::Keyword(Kw::In) => self.forlist(var)?,
            _ => return self.error("'=' or 'in' expected"),
        }
        self.expect_match(Tok::Keyword(Kw::End), "end", "for", start)?;
        Ok(())
    }

    /// `fornum`: `NAME = exp, exp [, exp] forbody`.
    fn fornum(&mut self, var: Span) -> R<()> {
        self.advance();
        self.expr()?;
        self.expect(Tok::Sym(Sym::Comma), ",")?;
        self.expr()?;
        if self.test(Tok::Sym(Sym::Comma)) {
            self.expr()?;
        }
        self.forbody(vec![var])
    }

    /// `forlist`: `NAME {, NAME} in explist forbody`.
    fn forlist(&mut self, first: Span) -> R<()> {
        let mut vars = vec![first];
        while self.test(Tok::Sym(Sym::Comma)) {
            vars.push(self.name()?);
        }
        self.expect(Tok::Keyword(Kw::In), "in")?;
        self.exprlist()?;
        self.forbody(vars)
    }

    /// `forbody`: `do block`, with the loop's variables in scope.
    fn forbody(&mut self, vars: Vec<Span>) -> R<()> {
        self.expect(Tok::Keyword(Kw::Do), "do")?;
        self.open_scope();
        for v in vars {
            self.declare(v);
        }
        let r = self.loop_block();
        self.close_scope();
        r
    }

    /// `repeatstat`: `repeat block until cond`; the condition sees the
    /// block's locals.
    fn repeatstat(&mut self, start: usize) -> R<()> {
        self.advance();
        self.funcs.last_mut().unwrap().loops += 1;
        self.open_scope();
        let r = self.statlist();
        self.funcs.last_mut().unwrap().loops -= 1;
        let r = r.and_then(|()| {
            self.expect_match(Tok::Keyword(Kw::Until), "until", "repeat", start)?;
            self.expr()
        });
        self.close_scope();
        r?;
        Ok(())
    }

    /// `funcstat`: `function funcname body`.
    fn funcstat(&mut self, start: usize) -> R<()> {
        self.advance();
        let (name, plain) = self.funcname()?;
        if plain {
            // `function x() … end` assigns x: a global x is an
            // option of the current section, set to a function.
            if self.local_decl(&self.src[name.clone()]).is_none() {
                self.opaque.push(Opaque {
                    span: name.clone(),
                    kind: OpaqueKind::NestedAssign,
                });
            }
        } else {
            self.free_name(&name);
        }
        self.body(start)
    }

    /// `funcname`: `NAME {'.' NAME} [':' NAME]`; the first name, and
    /// whether it is all there is (then the statement assigns it).
    fn funcname(&mut self) -> R<(Span, bool)> {
        let name = self.name()?;
        let mut plain = true;
        while self.test(Tok::Sym(Sym::Dot)) {
            self.name()?;
            plain = false;
        }
        if self.test(Tok::Sym(Sym::Colon)) {
            self.name()?;
            plain = false;
        }
        Ok((name, plain))
    }

    /// `localfunc`: `local function NAME body`.
    fn localfunc(&mut self, start: usize) -> R<()> {
        let name = self.name()?;
        // In scope in its own body (for recursion).
        self.declare(name);
        self.body(start)
    }

    /// `localstat`: `local NAME attrib {, NAME attrib} [= explist]`.
    fn localstat(&mut self) -> R<()> {
        let mut closes = 0;
        let mut declared = Vec::new();
        loop {
            declared.push(self.name()?);
            self.getlocalattribute(&mut closes)?;
            if !self.test(Tok::Sym(Sym::Comma)) {
                break;
            }
        }
        if self.test(Tok::Sym(Sym::Assign)) {
            self.exprlist()?;
        }
        // In scope only after the statement: `local x = x`.
        for n in declared {
            self.declare(n);
        }
        Ok(())
    }

    /// `getlocalattribute`: `['<' NAME '>']`, `const` or `close` (at most
    /// one to-be-closed variable per statement; `closes` counts them).
    fn getlocalattribute(&mut self, closes: &mut usize) -> R<()> {
        if !self.test(Tok::Sym(Sym::Lt)) {
            return Ok(());
        }
        let at = self.start();
        let attr = self.name()?;
        match &self.src[attr] {
            b"const" => {}
            b"close" => *closes += 1,
            other => {
                return Err(ParseError {
                    offset: at,
                    message: format!("unknown attribute '{}'", String::from_utf8_lossy(other)),
                })
            }
        }
        if *closes > 1 {
            return Err(ParseError {
                offset: at,
                message: "multiple to-be-closed variables in local list".into(),
            });
        }
        self.expect(Tok::Sym(Sym::Gt), ">")?;
        Ok(())
    }

    /// `labelstat`: `:: NAME ::` (after the first `::`).
    fn labelstat(&mut self) -> R<()> {
        self.name()?;
        self.expect(Tok::Sym(Sym::DoubleColon), "::")?;
        Ok(())
    }

    /// `retstat`: `return [explist] [';']` (after `return`).
    fn retstat(&mut self) -> R<()> {
        if !self.block_follow(true) && self.kind() != Tok::Sym(Sym::Semi) {
            self.exprlist()?;
        }
        self.test(Tok::Sym(Sym::Semi));
        Ok(())
    }

    /// `breakstat`: `break`, inside a loop of the current function.
    fn breakstat(&mut self, start: usize) -> R<()> {
        if self.funcs.last().unwrap().loops == 0 {
            let line = line_of(self.src, start);
            return Err(ParseError {
                offset: start,
                message: format!("break outside a loop at line {line} near {}", self.near()),
            });
        }
        self.advance();
        Ok(())
    }

    /// `gotostat`: `goto NAME` (after `goto`).
    fn gotostat(&mut self) -> R<()> {
        self.name()?;
        Ok(())
    }

    /// A loop's block: `break` is allowed in it.
    fn loop_block(&mut self) -> R<()> {
        self.funcs.last_mut().unwrap().loops += 1;
        let r = self.block();
        self.funcs.last_mut().unwrap().loops -= 1;
        r
    }

    /// `exprstat`: `func | assignment`; at the top level, an assignment's
    /// plain-name targets and a call chain are what prosody's model reads.
    fn exprstat(&mut self, top: bool) -> R<StmtKind> {
        let first = self.suffixed()?;
        if matches!(self.kind(), Tok::Sym(Sym::Assign | Sym::Comma)) {
            return self.restassign(first, top);
        }
        match &first.kind {
            ExprKind::Suffixed(s)
                if matches!(s.suffixes.last(), Some(Suffix::Call(_) | Suffix::Method)) => {}
            _ => return self.error("syntax error"),
        }
        let ExprKind::Suffixed(s) = first.kind else {
            unreachable!()
        };
        if !top && s.head.kind == ExprKind::Name {
            self.nested_calls.push(s.head.span.clone());
        }
        Ok(StmtKind::Call(*s))
    }

    /// `restassign`: `{',' suffixedexp} '=' explist` after the first target.
    fn restassign(&mut self, first: Expr, top: bool) -> R<StmtKind> {
        let mut targets = vec![self.assign_target(&first, top)?];
        while self.test(Tok::Sym(Sym::Comma)) {
            let t = self.suffixed()?;
            targets.push(self.assign_target(&t, top)?);
        }
        self.expect(Tok::Sym(Sym::Assign), "=")?;
        let values = self.exprlist()?;
        Ok(StmtKind::Assign { targets, values })
    }

    /// Checks that an assignment target is a variable; returns its span if
    /// it is a plain name that sets an option as prosody runs the config:
    /// a global (not a local, nor `_ENV`/`__currenthost`), at the top level.
    fn assign_target(&mut self, e: &Expr, top: bool) -> R<Option<Span>> {
        match &e.kind {
            ExprKind::Name => {
                let name = &self.src[e.span.clone()];
                if name == b"_ENV" || name == b"__currenthost" {
                    // Already noted by `free_name` (unless a local).
                    return Ok(None);
                }
                match self.local_decl(name) {
                    Some(decl) if top => {
                        self.shadowed.push((e.span.clone(), decl));
                        Ok(None)
                    }
                    Some(_) => Ok(None),
                    None if top => Ok(Some(e.span.clone())),
                    None => {
                        self.opaque.push(Opaque {
                            span: e.span.clone(),
                            kind: OpaqueKind::NestedAssign,
                        });
                        Ok(None)
                    }
                }
            }
            ExprKind::Suffixed(s) if matches!(s.suffixes.last(), Some(Suffix::Index)) => Ok(None),
            _ => self.error("syntax error"),
        }
    }

    /// `explist`: `expr {',' expr}`.
    fn exprlist(&mut self) -> R<Vec<Expr>> {
        let mut v = vec![self.expr()?];
        while self.test(Tok::Sym(Sym::Comma)) {
            v.push(self.expr()?);
        }
        Ok(v)
    }

    /// `expr`.
    fn expr(&mut self) -> R<Expr> {
        self.subexpr(0)
    }

    /// `subexpr`: `(simpleexp | unop subexpr) {binop subexpr}`, where
    /// binary operators bind tighter than `limit`.
    fn subexpr(&mut self, limit: u8) -> R<Expr> {
        self.enter()?;
        let start = self.start();
        let mut e = match self.kind() {
            Tok::Keyword(Kw::Not) | Tok::Sym(Sym::Minus | Sym::Hash | Sym::Tilde) => {
                self.advance();
                self.subexpr(UNARY_PRIORITY)?;
                Expr {
                    span: start..self.prev_end(),
                    kind: ExprKind::Other,
                }
            }
            _ => self.simple_expr()?,
        };
        while let Some((left, right)) = binary_priority(self.kind()) {
            if left <= limit {
                break;
            }
            self.advance();
            self.subexpr(right)?;
            e = Expr {
                span: start..self.prev_end(),
                kind: ExprKind::Other,
            };
        }
        self.leave();
        Ok(e)
    }

    /// `simpleexp`: a constant, `...`, a table, a function, or a
    /// `suffixedexp`.
    fn simple_expr(&mut self) -> R<Expr> {
        let start = self.start();
        let kind = match self.kind() {
            Tok::Number | Tok::Keyword(Kw::Nil | Kw::True | Kw::False) => {
                self.advance();
                ExprKind::Other
            }
            Tok::Str => {
                self.advance();
                ExprKind::Str
            }
            Tok::Sym(Sym::Dots) => {
                if !self.funcs.last().unwrap().vararg {
                    return self.error("cannot use '...' outside a vararg function");
                }
                self.advance();
                ExprKind::Other
            }
            Tok::Sym(Sym::LBrace) => return self.table(),
            Tok::Keyword(Kw::Function) => {
                self.advance();
                self.body(start)?;
                ExprKind::Other
            }
            _ => return self.suffixed(),
        };
        Ok(Expr {
            span: start..self.prev_end(),
            kind,
        })
    }

    /// `primaryexp`: `NAME | '(' expr ')'`.
    fn primary(&mut self) -> R<Expr> {
        let start = self.start();
        match self.kind() {
            Tok::Name => {
                let span = self.advance();
                self.free_name(&span);
                Ok(Expr {
                    span,
                    kind: ExprKind::Name,
                })
            }
            Tok::Sym(Sym::LParen) => {
                self.advance();
                let inner = self.expr()?;
                self.expect_match(Tok::Sym(Sym::RParen), ")", "(", start)?;
                // `(e)` is a value, never a variable or a call statement.
                let kind = match inner.kind {
                    k @ (ExprKind::Str | ExprKind::Table(_)) => k,
                    _ => ExprKind::Other,
                };
                Ok(Expr {
                    span: start..self.prev_end(),
                    kind,
                })
            }
            _ => self.error("unexpected symbol"),
        }
    }

    /// `suffixedexp`: `primaryexp { '.' NAME | '[' exp ']' | ':' NAME funcargs | funcargs }`.
    fn suffixed(&mut self) -> R<Expr> {
        let start = self.start();
        let head = self.primary()?;
        let mut suffixes = Vec::new();
        loop {
            match self.kind() {
                Tok::Sym(Sym::Dot) => {
                    self.advance();
                    self.name()?;
                    suffixes.push(Suffix::Index);
                }
                Tok::Sym(Sym::LBracket) => {
                    self.advance();
                    self.expr()?;
                    self.expect(Tok::Sym(Sym::RBracket), "]")?;
                    suffixes.push(Suffix::Index);
                }
                Tok::Sym(Sym::Colon) => {
                    self.advance();
                    self.name()?;
                    self.call_args()?;
                    suffixes.push(Suffix::Method);
                }
                Tok::Sym(Sym::LParen | Sym::LBrace) | Tok::Str => {
                    let args = self.call_args()?;
                    suffixes.push(Suffix::Call(args));
                }
                _ => break,
            }
        }
        if suffixes.is_empty() {
            return Ok(head);
        }
        Ok(Expr {
            span: start..self.prev_end(),
            kind: ExprKind::Suffixed(Box::new(Suffixed { head, suffixes })),
        })
    }

    /// `funcargs`: `'(' [explist] ')' | constructor | STRING`.
    fn call_args(&mut self) -> R<Vec<Expr>> {
        let start = self.start();
        match self.kind() {
            Tok::Str => {
                let span = self.advance();
                Ok(vec![Expr {
                    span,
                    kind: ExprKind::Str,
                }])
            }
            Tok::Sym(Sym::LBrace) => Ok(vec![self.table()?]),
            Tok::Sym(Sym::LParen) => {
                self.advance();
                let args = if self.kind() == Tok::Sym(Sym::RParen) {
                    Vec::new()
                } else {
                    self.exprlist()?
                };
                self.expect_match(Tok::Sym(Sym::RParen), ")", "(", start)?;
                Ok(args)
            }
            _ => self.error("function arguments expected"),
        }
    }

    /// `constructor`: `'{' [field {sep field} [sep]] '}'`, keeping the
    /// keyed fields (`recfield`) prosody's model reads.
    fn table(&mut self) -> R<Expr> {
        let start = self.start();
        self.advance(); // {
        let mut fields = Vec::new();
        while self.kind() != Tok::Sym(Sym::RBrace) {
            match self.kind() {
                Tok::Name if self.peek_kind(1) == Tok::Sym(Sym::Assign) => {
                    let key = self.advance();
                    self.advance();
                    let value = self.expr()?;
                    fields.push(Field {
                        key,
                        key_kind: KeyKind::Name,
                        value,
                    });
                }
                Tok::Sym(Sym::LBracket) => {
                    self.advance();
                    let first = self.tok().clone();
                    let key = self.expr()?;
                    self.expect(Tok::Sym(Sym::RBracket), "]")?;
                    self.expect(Tok::Sym(Sym::Assign), "=")?;
                    let value = self.expr()?;
                    // A lone number or boolean names no option prosody reads.
                    let constant =
                        matches!(first.kind, Tok::Number | Tok::Keyword(Kw::True | Kw::False))
                            && key.span == first.span;
                    let key_kind = match key.kind {
                        ExprKind::Str => Some(KeyKind::Str),
                        _ if constant => None,
                        _ => Some(KeyKind::Computed),
                    };
                    if let Some(key_kind) = key_kind {
                        fields.push(Field {
                            key: key.span,
                            key_kind,
                            value,
                        });
                    }
                }
                _ => {
                    self.expr()?;
                }
            }
            if !self.test(Tok::Sym(Sym::Comma)) && !self.test(Tok::Sym(Sym::Semi)) {
                break;
            }
        }
        self.expect_match(Tok::Sym(Sym::RBrace), "}", "{", start)?;
        Ok(Expr {
            span: start..self.prev_end(),
            kind: ExprKind::Table(fields),
        })
    }

    /// `body`: `'(' parlist ')' block end`.
    fn body(&mut self, start: usize) -> R<()> {
        self.expect(Tok::Sym(Sym::LParen), "(")?;
        let mut vararg = false;
        let mut params = Vec::new();
        if self.kind() != Tok::Sym(Sym::RParen) {
            loop {
                match self.kind() {
                    Tok::Name => {
                        params.push(self.advance());
                    }
                    Tok::Sym(Sym::Dots) => {
                        self.advance();
                        vararg = true;
                        break;
                    }
                    _ => return self.error("<name> expected"),
                }
                if !self.test(Tok::Sym(Sym::Comma)) {
                    break;
                }
            }
        }
        self.expect(Tok::Sym(Sym::RParen), ")")?;
        self.funcs.push(FuncState { vararg, loops: 0 });
        self.open_scope();
        for p in params {
            self.declare(p);
        }
        let r = self.block();
        self.close_scope();
        self.funcs.pop();
        r?;
        self.expect_match(Tok::Keyword(Kw::End), "end", "function", start)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Chunk {
        parse(src.as_bytes()).unwrap_or_else(|e| panic!("{src:?}: {e:?}"))
    }
    fn err(src: &str) -> ParseError {
        parse(src.as_bytes()).expect_err(src)
    }

    #[test]
    fn whole_statement_grammar() {
        let src = r#"
local a <const>, b <close> = 1, nil
local function f(x, ...) return select('#', ...) end
function t.a.b:c(y) return self end
for i = 1, 10, 2 do if i > 3 then break elseif i then goto done else end end
for k, v in pairs({}) do end
while false do end
repeat local z = 1 until z
do ::done:: end
a.b[c], d = e // 2 ^ -f .. "x" .. 'y', #g | ~h & i << 1 >> 2 ~ 3
print(not a == b and c or d, ...)
;;
return
"#;
        let c = ok(src);
        assert_eq!(c.stmts.len(), 11);
    }

    #[test]
    fn prosody_forms_are_calls() {
        for src in [
            r#"Component "x""#,
            r#"component "x""#,
            r#"Component("x")"#,
            r#"Component 'x'"#,
            r#"Component [[x]]"#,
            r#"Component "x" "muc""#,
            r#"Component "x" { component_secret = "s" }"#,
            r#"Component "x" "muc" { modules_enabled = { "a"; "b" } }"#,
            r#"Component ("conference." .. domain) "muc""#,
            r#"VirtualHost "x" Host "y" host "z""#,
            r#"Include "conf.d/*.cfg.lua""#,
        ] {
            let c = ok(src);
            assert!(matches!(c.stmts[0].kind, StmtKind::Call(_)), "{src}");
        }
    }

    #[test]
    fn syntax_errors_like_lua() {
        let cases: &[(&str, &str, usize)] = &[
            ("# comment\n", "unexpected symbol near '#'", 0),
            ("x = 1\n# comment", "unexpected symbol near '#'", 6),
            ("x = ", "unexpected symbol near <eof>", 4),
            ("x", "syntax error near <eof>", 1),
            ("f() = 1", "syntax error near '='", 4),
            ("if x then", "'end' expected near <eof>", 9),
            (
                "function f()\n\nx()",
                "'end' expected (to close 'function' at line 1) near <eof>",
                17,
            ),
            ("x = {1, 2", "'}' expected near <eof>", 9),
            ("return 1 x = 2", "'<eof>' expected near 'x'", 9),
            ("break", "break outside a loop at line 1", 0),
            (
                "function f() return ... end",
                "cannot use '...' outside a vararg function",
                20,
            ),
            ("local x <foo> = 1", "unknown attribute 'foo'", 9),
            ("x = 1 1", "unexpected symbol near '1'", 6),
            (
                "Component \"a\" component_secret",
                "syntax error near <eof>",
                30,
            ),
            // Lua lexes lazily: the earlier syntax error wins over a later bad token.
            ("# Fogbow's guide", "unexpected symbol near '#'", 0),
            ("x = 1 'abc", "unfinished string", 6),
        ];
        for (src, msg, off) in cases {
            let e = err(src);
            assert!(e.message.contains(msg), "{src:?}: {e:?}");
            assert_eq!(e.offset, *off, "{src:?}: {e:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("x = {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let e = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || parse(deep.as_bytes()))
            .unwrap()
            .join()
            .unwrap()
            .unwrap_err();
        assert!(e.message.contains("too many syntax levels"), "{e:?}");
        let tables = format!("x = {}{}", "{".repeat(50_000), "}".repeat(50_000));
        assert!(parse(tables.as_bytes()).is_err());
    }

    /// prosody 0.12 (Lua 5.4 through its loader) accepts 195 nested
    /// parentheses, tables or `do` blocks and refuses 196: so do we.
    #[test]
    fn nesting_limit_matches_prosody() {
        for (open, close) in [("(", ")"), ("{", "}")] {
            let src = |n: usize| format!("x = {}1{}", open.repeat(n), close.repeat(n));
            assert!(parse(src(195).as_bytes()).is_ok(), "{open}");
            assert!(parse(src(196).as_bytes()).is_err(), "{open}");
        }
        assert!(parse(
            "do "
                .repeat(197)
                .as_bytes()
                .iter()
                .chain("end ".repeat(197).as_bytes())
                .copied()
                .collect::<Vec<u8>>()
                .as_slice()
        )
        .is_ok());
        assert!(parse(format!("{}{}", "do ".repeat(198), "end ".repeat(198)).as_bytes()).is_err());
    }

    #[test]
    fn lua_line_counting() {
        assert_eq!(line_of(b"a\r\nb\n\rc\rd", 9), 4);
        assert_eq!(line_of(b"a\n\nb", 3), 3);
    }
}
