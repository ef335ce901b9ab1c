//! Lua 5.4's lexical grammar, as `llex.c` implements it, over raw bytes.
//!
//! Every token carries its byte span in the original text, so edits can be
//! made as splices of that text. Comments are kept as tokens of their own:
//! `remove` needs them to find the comment lines attached to a `Component`.
//! Whitespace is not a token; it is whatever lies between spans.

use std::ops::Range;

use super::lines::{find_break, line_break_len, line_of};

/// A byte range in the source text.
pub(crate) type Span = Range<usize>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Name,
    Keyword(Kw),
    /// A short (`"…"`, `'…'`) or long (`[==[…]==]`) string literal.
    Str,
    Number,
    Sym(Sym),
    /// `-- …` or `--[[ … ]]`: trivia, never seen by the parser.
    Comment,
    Eof,
    /// Where lexing failed: the parser's stand-in for the bad token, since
    /// Lua lexes lazily and a syntax error *before* it is the one reported.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    And,
    Break,
    Do,
    Else,
    Elseif,
    End,
    False,
    For,
    Function,
    Goto,
    If,
    In,
    Local,
    Nil,
    Not,
    Or,
    Repeat,
    Return,
    Then,
    True,
    Until,
    While,
}

impl Kw {
    fn from_bytes(b: &[u8]) -> Option<Kw> {
        Some(match b {
            b"and" => Kw::And,
            b"break" => Kw::Break,
            b"do" => Kw::Do,
            b"else" => Kw::Else,
            b"elseif" => Kw::Elseif,
            b"end" => Kw::End,
            b"false" => Kw::False,
            b"for" => Kw::For,
            b"function" => Kw::Function,
            b"goto" => Kw::Goto,
            b"if" => Kw::If,
            b"in" => Kw::In,
            b"local" => Kw::Local,
            b"nil" => Kw::Nil,
            b"not" => Kw::Not,
            b"or" => Kw::Or,
            b"repeat" => Kw::Repeat,
            b"return" => Kw::Return,
            b"then" => Kw::Then,
            b"true" => Kw::True,
            b"until" => Kw::Until,
            b"while" => Kw::While,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sym {
    Plus,
    Minus,
    Star,
    Slash,
    DoubleSlash,
    Percent,
    Caret,
    Hash,
    Amp,
    Tilde,
    Pipe,
    Shl,
    Shr,
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
    Assign,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    DoubleColon,
    Semi,
    Colon,
    Comma,
    Dot,
    Concat,
    Dots,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) span: Span,
}

/// A lexical error: where it is and what Lua would call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

/// Splits `src` into tokens (comments included), ending with one `Eof`.
/// For small pieces (a value, a test); the parser pulls tokens from a
/// [`Lexer`] one at a time instead, as Lua does.
pub(crate) fn tokenize(src: &[u8]) -> Result<Vec<Token>, LexError> {
    let mut lx = Lexer::new(src);
    let mut out = Vec::new();
    loop {
        let t = lx.next_token()?;
        let eof = t.kind == Tok::Eof;
        out.push(t);
        if eof {
            return Ok(out);
        }
    }
}

/// Lexes one token at a time (see [`Lexer::next_token`]).
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
}

/// Lua's `lisspace`: what separates tokens.
pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

fn is_alpha(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a [u8]) -> Self {
        Lexer { src, pos: 0 }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    fn err<T>(&self, offset: usize, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            offset,
            message: message.into(),
        })
    }

    /// The next token, comments included; `Eof` at the end.
    pub(crate) fn next_token(&mut self) -> Result<Token, LexError> {
        let rest = &self.src[self.pos..];
        self.pos += rest
            .iter()
            .position(|&c| !is_space(c))
            .unwrap_or(rest.len());
        let start = self.pos;
        let Some(c) = self.peek(0) else {
            return Ok(Token {
                kind: Tok::Eof,
                span: start..start,
            });
        };
        let kind = match c {
            b'-' if self.peek(1) == Some(b'-') => {
                self.pos += 2;
                if let Some(level) = self.long_bracket_level() {
                    self.long_bracket_body(start, level, "comment")?;
                } else {
                    // Most of a stock config is comments: one scan per line.
                    let rest = &self.src[self.pos..];
                    self.pos += find_break(rest).unwrap_or(rest.len());
                }
                Tok::Comment
            }
            b'[' => {
                if let Some(level) = self.long_bracket_level() {
                    self.long_bracket_body(start, level, "string")?;
                    Tok::Str
                } else if self.peek(1) == Some(b'=') {
                    // `[=` not followed by a complete opening bracket.
                    return self.err(start, "invalid long string delimiter");
                } else {
                    self.pos += 1;
                    Tok::Sym(Sym::LBracket)
                }
            }
            b'"' | b'\'' => {
                self.short_string(c)?;
                Tok::Str
            }
            b'0'..=b'9' => {
                self.numeral()?;
                Tok::Number
            }
            b'.' if self.peek(1).is_some_and(|d| d.is_ascii_digit()) => {
                self.numeral()?;
                Tok::Number
            }
            c if is_alpha(c) => {
                while self.peek(0).is_some_and(is_alnum) {
                    self.pos += 1;
                }
                match Kw::from_bytes(&self.src[start..self.pos]) {
                    Some(k) => Tok::Keyword(k),
                    None => Tok::Name,
                }
            }
            _ => Tok::Sym(self.symbol(start)?),
        };
        Ok(Token {
            kind,
            span: start..self.pos,
        })
    }

    fn symbol(&mut self, start: usize) -> Result<Sym, LexError> {
        let c = self.src[start];
        let n = self.peek(1);
        let (sym, len) = match (c, n) {
            (b'/', Some(b'/')) => (Sym::DoubleSlash, 2),
            (b'=', Some(b'=')) => (Sym::Eq, 2),
            (b'~', Some(b'=')) => (Sym::Ne, 2),
            (b'<', Some(b'=')) => (Sym::Le, 2),
            (b'>', Some(b'=')) => (Sym::Ge, 2),
            (b'<', Some(b'<')) => (Sym::Shl, 2),
            (b'>', Some(b'>')) => (Sym::Shr, 2),
            (b':', Some(b':')) => (Sym::DoubleColon, 2),
            (b'.', Some(b'.')) => {
                if self.peek(2) == Some(b'.') {
                    (Sym::Dots, 3)
                } else {
                    (Sym::Concat, 2)
                }
            }
            (b'+', _) => (Sym::Plus, 1),
            (b'-', _) => (Sym::Minus, 1),
            (b'*', _) => (Sym::Star, 1),
            (b'/', _) => (Sym::Slash, 1),
            (b'%', _) => (Sym::Percent, 1),
            (b'^', _) => (Sym::Caret, 1),
            (b'#', _) => (Sym::Hash, 1),
            (b'&', _) => (Sym::Amp, 1),
            (b'~', _) => (Sym::Tilde, 1),
            (b'|', _) => (Sym::Pipe, 1),
            (b'=', _) => (Sym::Assign, 1),
            (b'<', _) => (Sym::Lt, 1),
            (b'>', _) => (Sym::Gt, 1),
            (b'(', _) => (Sym::LParen, 1),
            (b')', _) => (Sym::RParen, 1),
            (b'{', _) => (Sym::LBrace, 1),
            (b'}', _) => (Sym::RBrace, 1),
            (b']', _) => (Sym::RBracket, 1),
            (b';', _) => (Sym::Semi, 1),
            (b':', _) => (Sym::Colon, 1),
            (b',', _) => (Sym::Comma, 1),
            (b'.', _) => (Sym::Dot, 1),
            _ => return self.err(start, format!("unexpected symbol near {}", near_byte(c))),
        };
        self.pos += len;
        Ok(sym)
    }

    /// At `[`: if `[`, `=`*, `[` follows, consume it and return the level.
    fn long_bracket_level(&mut self) -> Option<usize> {
        if self.peek(0) != Some(b'[') {
            return None;
        }
        let mut i = 1;
        while self.peek(i) == Some(b'=') {
            i += 1;
        }
        if self.peek(i) == Some(b'[') {
            self.pos += i + 1;
            Some(i - 1)
        } else {
            None
        }
    }

    fn long_bracket_body(
        &mut self,
        start: usize,
        level: usize,
        what: &str,
    ) -> Result<(), LexError> {
        loop {
            match self.peek(0) {
                // Lua reports this at the end of the file, naming where it began.
                None => {
                    let line = line_of(self.src, start);
                    return self.err(
                        self.src.len(),
                        format!("unfinished long {what} (starting at line {line})"),
                    );
                }
                Some(b']') => {
                    let mut i = 1;
                    while self.peek(i) == Some(b'=') {
                        i += 1;
                    }
                    if i - 1 == level && self.peek(i) == Some(b']') {
                        self.pos += i + 1;
                        return Ok(());
                    }
                    self.pos += 1;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn short_string(&mut self, quote: u8) -> Result<(), LexError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            let Some(c) = self.peek(0) else {
                return self.err(start, "unfinished string");
            };
            match c {
                b'\n' | b'\r' => return self.err(start, "unfinished string"),
                b'\\' => {
                    let esc_at = self.pos;
                    self.pos += 1;
                    self.escape(esc_at)?;
                }
                c if c == quote => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Validates one escape sequence (after the backslash), as `llex.c` does.
    fn escape(&mut self, esc_at: usize) -> Result<(), LexError> {
        let Some(c) = self.peek(0) else {
            return self.err(esc_at, "unfinished string");
        };
        match c {
            b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'\\' | b'"' | b'\'' => self.pos += 1,
            b'\n' | b'\r' => self.skip_newline(),
            b'x' => {
                for i in 1..=2 {
                    if !self.peek(i).is_some_and(|d| d.is_ascii_hexdigit()) {
                        return self.err(esc_at, "hexadecimal digit expected");
                    }
                }
                self.pos += 3;
            }
            b'z' => {
                self.pos += 1;
                while self.peek(0).is_some_and(is_space) {
                    self.pos += 1;
                }
            }
            b'u' => {
                if self.peek(1) != Some(b'{') {
                    return self.err(esc_at, "missing '{' in \\u{xxxx}");
                }
                self.pos += 2;
                let mut value: u64 = 0;
                let mut digits = 0;
                while let Some(d) = self.peek(0).filter(u8::is_ascii_hexdigit) {
                    value = value * 16 + (d as char).to_digit(16).unwrap() as u64;
                    if value > 0x7FFF_FFFF {
                        return self.err(esc_at, "UTF-8 value too large");
                    }
                    digits += 1;
                    self.pos += 1;
                }
                if digits == 0 {
                    return self.err(esc_at, "hexadecimal digit expected");
                }
                if self.peek(0) != Some(b'}') {
                    return self.err(esc_at, "missing '}' in \\u{xxxx}");
                }
                self.pos += 1;
            }
            b'0'..=b'9' => {
                let mut value = 0u32;
                let mut i = 0;
                while i < 3 {
                    match self.peek(0) {
                        Some(d @ b'0'..=b'9') => {
                            value = value * 10 + (d - b'0') as u32;
                            self.pos += 1;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                if value > 255 {
                    return self.err(esc_at, "decimal escape too large");
                }
            }
            _ => return self.err(esc_at, "invalid escape sequence"),
        }
        Ok(())
    }

    /// Skips one line break: `\n`, `\r`, `\r\n` or `\n\r` (Lua counts each as one).
    fn skip_newline(&mut self) {
        self.pos += line_break_len(self.src, self.pos);
    }

    fn numeral(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        let mut expo: &[u8] = b"Ee";
        if self.peek(0) == Some(b'0') && matches!(self.peek(1), Some(b'x' | b'X')) {
            self.pos += 2;
            expo = b"Pp";
        }
        loop {
            match self.peek(0) {
                Some(c) if expo.contains(&c) => {
                    self.pos += 1;
                    if matches!(self.peek(0), Some(b'+' | b'-')) {
                        self.pos += 1;
                    }
                }
                Some(c) if c.is_ascii_hexdigit() || c == b'.' => self.pos += 1,
                _ => break,
            }
        }
        if self.peek(0).is_some_and(is_alpha) {
            self.pos += 1; // a numeral touching a letter is malformed, as in Lua
            return self.err(start, "malformed number");
        }
        if !valid_numeral(&self.src[start..self.pos]) {
            return self.err(start, "malformed number");
        }
        Ok(())
    }
}

/// Lua's `luaO_str2num` restricted to what the lexer can hand it.
fn valid_numeral(s: &[u8]) -> bool {
    fn digits(s: &[u8], hex: bool) -> usize {
        s.iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count()
    }
    let (hex, body) = if s.len() >= 2 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X') {
        (true, &s[2..])
    } else {
        (false, s)
    };
    let int = digits(body, hex);
    let mut rest = &body[int..];
    let mut frac = 0;
    if rest.first() == Some(&b'.') {
        frac = digits(&rest[1..], hex);
        rest = &rest[1 + frac..];
    }
    if int + frac == 0 {
        return false;
    }
    if let Some(&e) = rest.first() {
        let ok = if hex {
            e == b'p' || e == b'P'
        } else {
            e == b'e' || e == b'E'
        };
        if !ok {
            return false;
        }
        rest = &rest[1..];
        if matches!(rest.first(), Some(b'+' | b'-')) {
            rest = &rest[1..];
        }
        let n = digits(rest, false);
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
    }
    rest.is_empty()
}

/// How Lua quotes a byte in "near '…'" messages.
pub(crate) fn near_byte(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", c as char)
    } else {
        format!("'<\\{c}>'")
    }
}

/// Decodes a string literal token (short or long) to the bytes Lua reads.
///
/// The token must come from [`tokenize`], which has already validated it.
pub(crate) fn decode_string(tok: &[u8]) -> Vec<u8> {
    if tok[0] == b'[' {
        decode_long(tok)
    } else {
        decode_short(tok)
    }
}

/// `[==[…]==]`: the bytes as written, but for line breaks.
fn decode_long(tok: &[u8]) -> Vec<u8> {
    let level = tok[1..].iter().take_while(|&&c| c == b'=').count();
    let mut body = &tok[level + 2..tok.len() - level - 2];
    // A line break right after the opening bracket is not part of the string.
    body = &body[line_break_len(body, 0)..];
    // Lua normalises every line break sequence inside a long string to "\n".
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match line_break_len(body, i) {
            0 => {
                out.push(body[i]);
                i += 1;
            }
            n => {
                out.push(b'\n');
                i += n;
            }
        }
    }
    out
}

/// `"…"` or `'…'`: every escape `read_string` in `llex.c` knows.
fn decode_short(tok: &[u8]) -> Vec<u8> {
    let body = &tok[1..tok.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let e = body[i];
        i += 1;
        match e {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\n' | b'\r' => {
                // A backslash before a line break: the break, read as "\n".
                out.push(b'\n');
                i += line_break_len(body, i - 1) - 1;
            }
            b'x' => {
                let h = std::str::from_utf8(&body[i..i + 2]).unwrap();
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 2;
            }
            b'z' => {
                while i < body.len() && is_space(body[i]) {
                    i += 1;
                }
            }
            b'u' => {
                let close = i + body[i..].iter().position(|&c| c == b'}').unwrap();
                let h = std::str::from_utf8(&body[i + 1..close]).unwrap();
                let v = u32::from_str_radix(h, 16).unwrap();
                utf8_lua(v, &mut out);
                i = close + 1;
            }
            b'0'..=b'9' => {
                let mut v = (e - b'0') as u32;
                let mut n = 1;
                while n < 3 && i < body.len() && body[i].is_ascii_digit() {
                    v = v * 10 + (body[i] - b'0') as u32;
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other), // \\ \" \'
        }
    }
    out
}

/// `luaO_utf8esc`: Lua encodes code points up to 2^31 with the old 6-byte UTF-8 scheme.
fn utf8_lua(mut x: u32, out: &mut Vec<u8>) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let mut buf = [0u8; 8];
    let mut n = 1;
    let mut mfb: u32 = 0x3f;
    loop {
        buf[8 - n] = (0x80 | (x & 0x3f)) as u8;
        n += 1;
        x >>= 6;
        mfb >>= 1;
        if x <= mfb {
            break;
        }
    }
    buf[8 - n] = ((!mfb << 1) | x) as u8;
    out.extend_from_slice(&buf[8 - n..]);
}

/// Writes `bytes` as a double-quoted Lua string literal that reads back exactly.
///
/// Only `\` and `"` need escaping in a short string; control bytes and invalid
/// UTF-8 are written as `\ddd` so the file stays printable text. `]]`, `--`
/// and `[=[` have no meaning inside a short string.
pub(crate) fn encode_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (v, b) = rest.split_at(e.valid_up_to());
                (std::str::from_utf8(v).unwrap(), b)
            }
        };
        for (i, ch) in valid.char_indices() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    // Three digits, so a following digit is never swallowed.
                    out.push_str(&format!("\\{:03}", valid.as_bytes()[i]));
                }
                c => out.push(c),
            }
        }
        if let Some((&b, tail)) = bad.split_first() {
            out.push_str(&format!("\\{b:03}"));
            rest = tail;
        } else {
            rest = &[];
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src.as_bytes())
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    fn lit(src: &str) -> Vec<u8> {
        let toks = tokenize(src.as_bytes()).unwrap();
        assert_eq!(toks[0].kind, Tok::Str, "{src}");
        assert_eq!(toks[0].span, 0..src.len(), "{src}");
        decode_string(&src.as_bytes()[toks[0].span.clone()])
    }

    #[test]
    fn short_string_escapes() {
        assert_eq!(lit(r#""a\"b""#), b"a\"b");
        assert_eq!(lit(r#"'a\'b'"#), b"a'b");
        assert_eq!(lit(r#""\\\n\t\a\b\f\v\r""#), b"\\\n\t\x07\x08\x0c\x0b\r");
        assert_eq!(lit(r#""\x41\x7a""#), b"Az");
        assert_eq!(lit(r#""\65\0661\255""#), b"AB1\xff");
        assert_eq!(lit("\"a\\z  \n\t b\""), b"ab");
        assert_eq!(lit(r#""\u{48}\u{e9}\u{20AC}""#), "Hé€".as_bytes());
        assert_eq!(lit(r#""\u{7FFFFFFF}""#), b"\xfd\xbf\xbf\xbf\xbf\xbf");
        assert_eq!(lit("\"a\\\r\nb\""), b"a\nb");
        assert_eq!(lit("\"a\\\n\rb\""), b"a\nb");
    }

    #[test]
    fn long_strings_and_levels() {
        assert_eq!(lit("[[x]]"), b"x");
        assert_eq!(lit("[==[a]]b]=]c]==]"), b"a]]b]=]c");
        assert_eq!(lit("[[\nfirst]]"), b"first");
        assert_eq!(lit("[[\r\nfirst\r\nsecond]]"), b"first\nsecond");
        assert_eq!(lit("[=[\\n]=]"), b"\\n");
    }

    #[test]
    fn comments_hide_code() {
        let k = kinds("--[[ Component \"x\" ]] a --[==[\n]]\n]==] -- Component \"y\"\nb");
        assert_eq!(
            k,
            vec![
                Tok::Comment,
                Tok::Name,
                Tok::Comment,
                Tok::Comment,
                Tok::Name,
                Tok::Eof
            ]
        );
        // "--[" without a second bracket is a line comment.
        assert_eq!(kinds("--[ x\ny"), vec![Tok::Comment, Tok::Name, Tok::Eof]);
        assert_eq!(kinds("--[=x\ny"), vec![Tok::Comment, Tok::Name, Tok::Eof]);
    }

    #[test]
    fn numbers() {
        for ok in [
            "3",
            "3.0",
            "3.1416",
            "314.16e-2",
            "0.31416E1",
            "34e1",
            "0xff",
            "0xBEBADA",
            "0xA",
            "0x0.1E",
            "0xA23p-4",
            "0X1.921FB54442D18P+1",
            ".5",
            "5.",
            "0x.8p1",
        ] {
            assert_eq!(kinds(ok), vec![Tok::Number, Tok::Eof], "{ok}");
        }
        for bad in ["3x", "0x", "1e", "1e+", "1..2", "0xg", "3.4.5", "08f"] {
            assert!(tokenize(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn symbols() {
        use Sym::*;
        let k = kinds("a//b..c...d::e~=f<=g>=h<<i>>j==k");
        let syms: Vec<Sym> = k
            .iter()
            .filter_map(|t| if let Tok::Sym(s) = t { Some(*s) } else { None })
            .collect();
        assert_eq!(
            syms,
            vec![
                DoubleSlash,
                Concat,
                Dots,
                DoubleColon,
                Ne,
                Le,
                Ge,
                Shl,
                Shr,
                Eq
            ]
        );
    }

    #[test]
    fn lexical_errors() {
        let cases: &[(&str, &str)] = &[
            ("\"abc", "unfinished string"),
            ("\"ab\nc\"", "unfinished string"),
            ("[[abc", "unfinished long string"),
            ("--[==[ abc ]]", "unfinished long comment"),
            ("[=x", "invalid long string delimiter"),
            (r#""\q""#, "invalid escape sequence"),
            (r#""\x4""#, "hexadecimal digit expected"),
            (r#""\256""#, "decimal escape too large"),
            (r#""\u{80000000}""#, "UTF-8 value too large"),
            (r#""\u41""#, "missing '{'"),
            ("a @ b", "unexpected symbol near '@'"),
            ("\u{feff}x", "unexpected symbol near '<\\239>'"),
        ];
        for (src, msg) in cases {
            let e = tokenize(src.as_bytes()).unwrap_err();
            assert!(e.message.contains(msg), "{src:?}: {e:?}");
        }
    }

    #[test]
    fn encode_round_trips() {
        for s in [
            &b"plain"[..],
            b"a\"b",
            b"back\\slash",
            b"]]",
            b"--",
            b"[=[",
            "h\u{e9}".as_bytes(),
            b"\x00\x01\n\x7f9",
            b"\xff\xfe",
            b"%s%d",
        ] {
            let enc = encode_string(s);
            assert_eq!(lit(&enc), s, "{enc}");
        }
    }
}
