//! A Fogbow component's own configuration: the Java `.properties` file
//! (`manager.conf`, `federation.conf`, `rendezvous.conf`, `ras.conf`, …) that
//! names its XMPP identity (`xmpp_jid`), secret (`xmpp_password`), and where
//! it will dial prosody. Read as `java.util.Properties.load(InputStream)`
//! reads it (the Fogbow services' own reader; see [`parse_properties`]).

use std::path::{Path, PathBuf};

use crate::prosody::listener::{Listener, DEFAULT_PORT};

/// What a Fogbow component will present to prosody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ComponentProperties {
    pub(crate) jid: String,
    pub(crate) password: Vec<u8>,
    /// The port it dials, and the key that set it.
    pub(crate) port: (u16, Option<&'static str>),
    /// The address it dials (`xmpp_host` / `xmpp_server_ip`), if set.
    pub(crate) host: Option<String>,
    /// `xmpp_enabled`, if set.
    pub(crate) enabled: Option<bool>,
}

/// Keys naming the component port, older services first; `xmpp_c2s_port`
/// is a name seen in the wild by mistake for the same thing.
const PORT_KEYS: [&str; 4] = [
    "xmpp_port",
    "xmpp_c2c_port",
    "xmpp_server_port",
    "xmpp_c2s_port",
];
const HOST_KEYS: [&str; 2] = ["xmpp_host", "xmpp_server_ip"];

/// The largest properties file we read: Fogbow's are a few KiB, and a
/// bound keeps `--from-properties /dev/stdin < huge` from eating memory.
pub(crate) const MAX_PROPERTIES: u64 = 1 << 20;

/// Reads and checks a Fogbow component's properties file: a regular file of
/// at most [`MAX_PROPERTIES`] bytes (a FIFO or a device is refused unread).
pub(crate) fn read(path: &Path) -> Result<ComponentProperties, PropertiesError> {
    let bytes = read_bytes(path)?;
    let map = parse_properties(&bytes).map_err(|e| not_valid(path, e))?;
    component(path, &map, true)
}

/// [`read`] for a file whose secret is about to be generated
/// (`add --from-properties FILE --generate-secret`): `xmpp_password` may be
/// missing, empty or Fogbow's `$…` placeholder, as in a fresh copy of
/// Fogbow's example (`password` is then empty). Returns the file's bytes
/// too, which [`set_property`] rewrites.
pub(crate) fn read_for_new_secret(
    path: &Path,
) -> Result<(ComponentProperties, Vec<u8>), PropertiesError> {
    let bytes = read_bytes(path)?;
    let map = parse_properties(&bytes).map_err(|e| not_valid(path, e))?;
    Ok((component(path, &map, false)?, bytes))
}

fn not_valid(path: &Path, error: SyntaxError) -> PropertiesError {
    PropertiesError::Syntax {
        path: path.to_path_buf(),
        error,
    }
}

/// Why a component's properties file is not read, or not usable. No
/// variant holds the value of `xmpp_password`.
#[derive(Debug)]
pub enum PropertiesError {
    /// A symbolic link on the way is refused.
    Link(crate::safe_write::WriteError),
    /// No such file.
    Missing(PathBuf),
    /// Larger than `MAX_PROPERTIES`.
    TooLarge(PathBuf),
    /// It cannot be read (naming the file).
    Read(crate::secret::ReadError),
    /// It is not a properties file.
    Syntax { path: PathBuf, error: SyntaxError },
    /// It has no `key`.
    NoKey { path: PathBuf, key: &'static str },
    /// Its `key` is empty.
    Empty { path: PathBuf, key: &'static str },
    /// Its `key` is a placeholder of Fogbow's example: `value`, unless
    /// that may be a secret.
    Placeholder {
        path: PathBuf,
        key: &'static str,
        value: Option<String>,
    },
    /// Its port `key` is not a port number.
    NotAPort {
        path: PathBuf,
        key: &'static str,
        value: String,
    },
}

impl std::fmt::Display for PropertiesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropertiesError::Link(e) => std::fmt::Display::fmt(e, f),
            PropertiesError::Missing(p) => {
                write!(f, "cannot read {}: No such file or directory", p.display())
            }
            PropertiesError::TooLarge(p) => write!(
                f,
                "{} is larger than {} MiB: not a Fogbow component's configuration",
                p.display(),
                MAX_PROPERTIES >> 20
            ),
            PropertiesError::Read(e) => std::fmt::Display::fmt(e, f),
            PropertiesError::Syntax { path, error } => write!(
                f,
                "{}:{}: not a valid properties file: {}",
                path.display(),
                error.line,
                error.escape
            ),
            PropertiesError::NoKey { path, key } => write!(
                f,
                "{} has no {key}: is it a Fogbow component's configuration?",
                path.display()
            ),
            PropertiesError::Empty { path, key } => write!(f, "{}: {key} is empty", path.display()),
            PropertiesError::Placeholder { path, key, value } => {
                let shown = match value {
                    None => " from Fogbow's example (its value is not shown: it may be a secret)"
                        .to_string(),
                    Some(v) => format!(" {v:?} from Fogbow's example"),
                };
                write!(
                    f,
                    "{}: {key} is an unexpanded placeholder{shown}; put the real value in",
                    path.display()
                )
            }
            PropertiesError::NotAPort { path, key, value } => write!(
                f,
                "{}: {key} = {value:?} is not a port number",
                path.display()
            ),
        }
    }
}

impl std::error::Error for PropertiesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PropertiesError::Link(e) => Some(e),
            PropertiesError::Read(e) => Some(e),
            PropertiesError::Syntax { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Where a `.properties` text does not parse: the first line of the
/// logical line, and the escape that is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub(crate) escape: BadEscape,
}

/// A `\u` escape Java's `Properties.load` would not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadEscape {
    /// Not four hex digits.
    Malformed,
    /// Half of a UTF-16 surrogate pair.
    HalfSurrogate,
}

impl SyntaxError {
    fn at(line: usize, escape: BadEscape) -> SyntaxError {
        SyntaxError { line, escape }
    }
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.escape)
    }
}

impl std::fmt::Display for BadEscape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BadEscape::Malformed => "malformed \\uxxxx encoding (four hex digits expected)",
            BadEscape::HalfSurrogate => "a \\u escape is half of a UTF-16 surrogate pair",
        })
    }
}

impl std::error::Error for SyntaxError {}

/// Why [`set_property`] returns nothing.
#[derive(Debug)]
pub enum SetError {
    /// The file does not parse.
    Syntax(SyntaxError),
    /// No way of writing `key` leaves the other keys as they read.
    WouldChange { key: String },
}

impl std::fmt::Display for SetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetError::Syntax(e) => std::fmt::Display::fmt(e, f),
            SetError::WouldChange { key } => write!(
                f,
                "setting {key} would change how other keys read (this is a bug in fogbow-xmpp-ctl; please report it)"
            ),
        }
    }
}

impl std::error::Error for SetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetError::Syntax(e) => Some(e),
            SetError::WouldChange { .. } => None,
        }
    }
}

/// The file's bytes, bounded, from a regular file only, reached as the
/// write of that file reaches it ([`crate::safe_write::resolve`]): a
/// symbolic link another user planted is refused, or it could hand root any
/// file as a component's secret. A path that does not resolve (missing, or
/// `/dev/stdin` on a pipe) is read as named, for `read_regular`'s message.
fn read_bytes(path: &Path) -> Result<Vec<u8>, PropertiesError> {
    use crate::secret::ReadError;
    let real = match crate::safe_write::resolve(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(PropertiesError::Link(e))
        }
        Err(_) => path.to_path_buf(),
    };
    crate::secret::read_regular(&real, MAX_PROPERTIES, "the properties file").map_err(|e| match e {
        ReadError::Missing => PropertiesError::Missing(path.to_path_buf()),
        ReadError::TooLarge => PropertiesError::TooLarge(path.to_path_buf()),
        e => PropertiesError::Read(e),
    })
}

/// What the component will present, from the file's keys; without
/// `need_password`, a missing or placeholder `xmpp_password` is fine.
fn component(
    path: &Path,
    map: &std::collections::HashMap<String, String>,
    need_password: bool,
) -> Result<ComponentProperties, PropertiesError> {
    let path = path.to_path_buf();
    // The secret's value never appears in a message.
    let get = |key: &'static str| -> Result<String, PropertiesError> {
        let path = path.clone();
        let Some(v) = map.get(key) else {
            return Err(PropertiesError::NoKey { path, key });
        };
        if v.trim().is_empty() {
            return Err(PropertiesError::Empty { path, key });
        }
        if v.starts_with('$') || v.contains("${") {
            // The value, unless it may be the password.
            let value = (key != "xmpp_password").then(|| v.clone());
            return Err(PropertiesError::Placeholder { path, key, value });
        }
        Ok(v.clone())
    };
    let jid = get("xmpp_jid")?;
    let password = match need_password {
        true => get("xmpp_password")?,
        false => String::new(),
    };
    let mut port = (DEFAULT_PORT, None);
    for key in PORT_KEYS {
        if let Some(v) = map.get(key) {
            let n = v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| PropertiesError::NotAPort {
                    path: path.clone(),
                    key,
                    value: v.clone(),
                })?;
            port = (n, Some(key));
            break;
        }
    }
    let host = HOST_KEYS
        .iter()
        .find_map(|k| map.get(*k))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    let enabled = map
        .get("xmpp_enabled")
        .map(|v| !v.trim().eq_ignore_ascii_case("false"));
    Ok(ComponentProperties {
        jid: jid.trim().to_string(),
        password: password.into_bytes(),
        port,
        host,
        enabled,
    })
}

/// The keys and values of a Java `.properties` file, as
/// `java.util.Properties.load(InputStream)` reads them: bytes are ISO-8859-1;
/// a logical line continues over a line break preceded by an odd number of
/// backslashes (leading blanks of the next line dropped); blank lines and
/// lines whose first non-blank (of the logical line) is `#` or `!` are
/// comments; the key ends at
/// the first unescaped `=`, `:` or blank, and blanks around one separator
/// are skipped; `\t \n \r \f \uXXXX` are escapes and `\x` is `x`; the last
/// value of a key wins. An error names the logical line's first line.
pub fn parse_properties(
    bytes: &[u8],
) -> Result<std::collections::HashMap<String, String>, SyntaxError> {
    Ok(entries(bytes)?
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect())
}

/// One key of a `.properties` file, where its value is in the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) value: String,
    /// The value's bytes as written (escapes, continuations and all): what
    /// [`set_property`] replaces. Empty, at the end of the key's line, for
    /// an empty value.
    pub(crate) span: std::ops::Range<usize>,
    /// The line has no separator after its key (`key` alone): a value put
    /// there needs one.
    pub(crate) bare_key: bool,
}

/// Every key and value of a `.properties` file, in file order (a key may
/// repeat; the last one wins), as [`parse_properties`] reads them, with
/// where each value is written.
pub(crate) fn entries(bytes: &[u8]) -> Result<Vec<Entry>, SyntaxError> {
    let text: Vec<char> = bytes.iter().map(|&b| char::from(b)).collect();
    let mut out = Vec::new();
    let (mut at, mut line_no) = (0, 1);
    while at < text.len() {
        let Some(line) = logical_line(&text, &mut at, &mut line_no) else {
            continue;
        };
        let (logical, raw, first_line) = (line.chars, line.raw, line.first_line);
        let (key_len, value_start) = split_key_value(&logical);
        let key = unescape(&logical[..key_len]).map_err(|e| SyntaxError::at(first_line, e))?;
        let value =
            unescape(&logical[value_start..]).map_err(|e| SyntaxError::at(first_line, e))?;
        let end = raw.last().map_or(at, |&r| r + 1);
        let start = raw.get(value_start).copied().unwrap_or(end);
        out.push(Entry {
            key,
            value,
            span: start..end,
            bare_key: key_len == logical.len(),
        });
    }
    Ok(out)
}

/// One logical line of a `.properties` file: from its first non-blank to
/// its unescaped end, continuations joined.
struct LogicalLine {
    chars: Vec<char>,
    /// Where each character of `chars` is in the file's bytes.
    raw: Vec<usize>,
    /// The number of the natural line it starts on.
    first_line: usize,
}

/// Reads the logical line at `text[*at..]`, moving `at` past it and
/// counting line breaks in `line_no`: `None` for a comment or a blank line.
fn logical_line(text: &[char], at: &mut usize, line_no: &mut usize) -> Option<LogicalLine> {
    let mut logical: Vec<char> = Vec::new();
    let mut raw: Vec<usize> = Vec::new();
    let mut first_line = *line_no;
    let mut starting = true; // skipping blanks at a natural line's start
    let mut continued = false; // this natural line continues the previous
    let mut comment = false;
    let mut backslash = false; // an odd run of backslashes precedes
                               // Java keeps a line that a backslash leaves empty only at the end of
                               // the input: `\` alone, or `\` and one line break, is the key "".
    let mut keep_empty = false;
    while *at < text.len() {
        let c = text[*at];
        *at += 1;
        let last_byte = *at == text.len();
        let newline = c == '\n' || c == '\r';
        if newline {
            *line_no += 1;
            if c == '\r' && text.get(*at) == Some(&'\n') {
                *at += 1;
            }
        }
        if starting {
            if blank(c) || (newline && !continued) {
                continue;
            }
            starting = false;
            if !continued {
                first_line = *line_no;
            }
            // As in Java, a comment starts wherever the logical line is
            // still empty, even after a continued blank line.
            comment = logical.is_empty() && (c == '#' || c == '!');
        }
        if !newline {
            if !comment {
                logical.push(c);
                raw.push(*at - 1);
                backslash = c == '\\' && !backslash;
            }
            continue;
        }
        if comment || logical.is_empty() {
            break;
        }
        if backslash {
            logical.pop();
            raw.pop();
            backslash = false;
            if last_byte {
                keep_empty = true;
                break;
            }
            starting = true;
            continued = true;
            continue;
        }
        break;
    }
    if backslash {
        // A backslash escaping the end of the file escapes nothing.
        logical.pop();
        raw.pop();
        keep_empty = true;
    }
    if comment || (logical.is_empty() && !keep_empty) {
        return None;
    }
    Some(LogicalLine {
        chars: logical,
        raw,
        first_line,
    })
}

/// `key`'s value set to `value` in the file `bytes`, every other byte as
/// it was: the last line that sets `key` (the one Java reads) gets the new
/// value's bytes in place of the old one's (a value continued over several
/// lines becomes one line); without one, `key=value` is appended, in the
/// file's own line ending. The new value is escaped as
/// `escape` does, and the result is read back: unless every other key
/// reads as before and `key` reads `value`, nothing is returned.
pub fn set_property(bytes: &[u8], key: &str, value: &str) -> Result<Vec<u8>, SetError> {
    let before = entries(bytes).map_err(SetError::Syntax)?;
    let want = |new: &[u8]| -> bool {
        let Ok(mut map) = parse_properties(new) else {
            return false;
        };
        let mut old: std::collections::HashMap<String, String> = before
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        old.insert(key.to_string(), value.to_string());
        std::mem::take(&mut map) == old
    };
    let escaped = escape(value, false);
    let mut tries: Vec<Vec<u8>> = Vec::new();
    if let Some(e) = before.iter().rev().find(|e| e.key == key) {
        let mut new = bytes[..e.span.start].to_vec();
        if e.bare_key {
            new.push(b'=');
        }
        new.extend_from_slice(escaped.as_bytes());
        new.extend_from_slice(&bytes[e.span.end..]);
        tries.push(new);
    } else {
        let eol = line_ending(bytes);
        let line = format!("{}={escaped}{eol}", escape(key, true));
        let ends = bytes.is_empty() || matches!(bytes.last(), Some(b'\n' | b'\r'));
        let mut new = bytes.to_vec();
        if !ends {
            new.extend_from_slice(eol.as_bytes());
        }
        // After a last line that a backslash continues, an empty line ends
        // it first.
        let mut safer = new.clone();
        safer.extend_from_slice(eol.as_bytes());
        new.extend_from_slice(line.as_bytes());
        safer.extend_from_slice(line.as_bytes());
        tries.extend([new, safer]);
    }
    tries
        .into_iter()
        .find(|t| want(t))
        .ok_or_else(|| SetError::WouldChange {
            key: key.to_string(),
        })
}

/// The file's line ending: that of its first line, else `\n`.
fn line_ending(bytes: &[u8]) -> &'static str {
    match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
        Some(i) if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') => "\r\n",
        Some(i) if bytes[i] == b'\r' => "\r",
        _ => "\n",
    }
}

/// A key or value written so that `Properties.load` reads it back exactly,
/// as `Properties.store` writes it (`saveConvert`): `\` doubled; tab, line
/// breaks and form feed as `\t \n \r \f`; `= : # !` escaped; a space
/// escaped in a key, and at the start of a value (where it would be
/// skipped); every other character outside printable ASCII as `\uXXXX`
/// (UTF-16), so the file stays ASCII whatever encoding a reader assumes.
pub(crate) fn escape(s: &str, key: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' if i == 0 || key => out.push_str("\\ "),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
        }
    }
    out
}

/// The one value a properties diff shows: the component's name.
const SHOWN_KEY: &str = "xmpp_jid";

/// The file's text with every value but `xmpp_jid`'s replaced by
/// `mask(value)` (what a diff shows without `--show-secrets`: any value may
/// be a password). A value continued over lines keeps its lines (a diff
/// compares lines): the mask on the first, `...` on each continuation.
/// A file that does not parse is returned as it is.
pub(crate) fn masked(bytes: &[u8], mask: impl Fn(&[u8]) -> String) -> Vec<u8> {
    let mut shown = bytes.to_vec();
    let Ok(es) = entries(bytes) else {
        return shown;
    };
    // Back to front, so earlier spans stay where they are.
    for e in es.iter().rev().filter(|e| e.key != SHOWN_KEY) {
        let masked = mask(e.value.as_bytes());
        let mut rep = Vec::new();
        for (i, seg) in shown[e.span.clone()]
            .split_inclusive(|&c| c == b'\n')
            .enumerate()
        {
            let body = seg.strip_suffix(b"\n").unwrap_or(seg);
            let body = body.strip_suffix(b"\r").unwrap_or(body);
            rep.extend_from_slice(if i == 0 { masked.as_bytes() } else { b"..." });
            rep.extend_from_slice(&seg[body.len()..]);
        }
        shown.splice(e.span.clone(), rep);
    }
    shown
}

/// Java's whitespace in a `.properties` line (line breaks aside).
fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// `Properties.load`'s split of a logical line into key and value: the
/// key's length and where the value starts.
fn split_key_value(line: &[char]) -> (usize, usize) {
    let (mut key_len, mut value_start, mut has_sep) = (0, line.len(), false);
    let mut backslash = false;
    while key_len < line.len() {
        let c = line[key_len];
        if (c == '=' || c == ':') && !backslash {
            value_start = key_len + 1;
            has_sep = true;
            break;
        }
        if blank(c) && !backslash {
            value_start = key_len + 1;
            break;
        }
        backslash = c == '\\' && !backslash;
        key_len += 1;
    }
    while value_start < line.len() {
        let c = line[value_start];
        if !blank(c) {
            if !has_sep && (c == '=' || c == ':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    (key_len, value_start)
}

/// `Properties.loadConvert`: the escapes of a key or value.
fn unescape(s: &[char]) -> Result<String, BadEscape> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    // A UTF-16 high surrogate waiting for its low half.
    let mut high: Option<u32> = None;
    while i < s.len() {
        let c = s[i];
        i += 1;
        let unit = if c != '\\' {
            c as u32
        } else {
            // A lone backslash at the end escapes nothing.
            let Some(&e) = s.get(i) else { break };
            i += 1;
            match e {
                'u' => {
                    let hex: String = s
                        .get(i..i + 4)
                        .map(|h| h.iter().collect())
                        .unwrap_or_default();
                    i += 4;
                    u32::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                        .ok_or(BadEscape::Malformed)?
                }
                't' => '\t' as u32,
                'n' => '\n' as u32,
                'r' => '\r' as u32,
                'f' => '\x0c' as u32,
                other => other as u32,
            }
        };
        match (high.take(), unit) {
            (Some(h), 0xDC00..=0xDFFF) => {
                out.push(
                    char::from_u32(0x10000 + ((h - 0xD800) << 10) + (unit - 0xDC00))
                        .expect("a surrogate pair is a character"),
                );
            }
            (None, 0xD800..=0xDBFF) => high = Some(unit),
            (None, _) if char::from_u32(unit).is_some() => {
                out.push(char::from_u32(unit).expect("just checked"))
            }
            _ => return Err(BadEscape::HalfSurrogate),
        }
    }
    if high.is_some() {
        return Err(BadEscape::HalfSurrogate);
    }
    Ok(out)
}

/// Why a Fogbow component may still not reach prosody, as data (the
/// binary words it, with what to run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertiesWarning {
    /// `file` sets `xmpp_enabled=false`.
    Disabled { file: PathBuf },
    /// prosody opens no component listener, for the reason `why`; the
    /// component dials `port`.
    Closed { why: String, port: u16 },
    /// The component dials `port` (set by `key`; `None`: the default),
    /// and prosody accepts components on `accepted` only.
    OtherPort {
        port: u16,
        key: Option<&'static str>,
        accepted: Vec<u16>,
    },
    /// The component dials `host`, not a loopback address, and prosody
    /// accepts components on loopback only.
    LoopbackOnly { host: String },
}

impl ComponentProperties {
    /// Why the component may still not reach prosody.
    pub(crate) fn warnings(&self, path: &Path, listener: &Listener) -> Vec<PropertiesWarning> {
        let mut out = Vec::new();
        if self.enabled == Some(false) {
            out.push(PropertiesWarning::Disabled {
                file: path.to_path_buf(),
            });
        }
        let (port, key) = self.port;
        if let Some(why) = listener.closed() {
            out.push(PropertiesWarning::Closed { why, port });
        } else if !listener.ports.contains(&port) {
            out.push(PropertiesWarning::OtherPort {
                port,
                key,
                accepted: listener.ports.clone(),
            });
        }
        if let Some(h) = &self.host {
            let loopback = matches!(h.as_str(), "localhost" | "127.0.0.1" | "::1");
            if !loopback && !listener.remote_reachable() {
                out.push(PropertiesWarning::LoopbackOnly { host: h.clone() });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Result<ComponentProperties, String> {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("component.conf");
        std::fs::write(&f, text).unwrap();
        read(&f).map_err(|e| e.to_string())
    }

    /// Values read by Java 17's `Properties.load(InputStream)` from the same
    /// bytes (measured once with `jshell`; see the comment of each case).
    /// The bytes of a file, and the (key, value) pairs read from it.
    type Case<'a> = (&'a [u8], &'a [(&'a str, &'a str)]);

    #[test]
    fn reads_like_java() {
        let cases: &[Case] = &[
            // CRLF, lone CR, blanks before the key, `:` and blank separators.
            (
                b"  a = 1\r\nb:2\rc 3\n",
                &[("a", "1"), ("b", "2"), ("c", "3")],
            ),
            // A continuation drops the next line's leading blanks; an empty
            // line after one ends the logical line.
            (b"a = x\\\n   y\\\n\nb = z\n", &[("a", "xy"), ("b", "z")]),
            // Comments are never continued; `#` later on a line is data.
            (b"# c \\\na = #1 !2\n", &[("a", "#1 !2")]),
            // An even run of backslashes does not continue; escaped separators.
            (b"a\\=b\\ c=d\\\\\ne=f\n", &[("a=b c", "d\\"), ("e", "f")]),
            // ISO-8859-1 bytes; \u escapes; a surrogate pair; a final backslash.
            (
                b"k=caf\xe9 \\u00e9\\uD83D\\uDE00\\",
                &[("k", "caf\u{e9} \u{e9}\u{1F600}")],
            ),
            // Only one separator is skipped; the last value of a key wins.
            (b"a==b\na = c\nd\n", &[("a", "c"), ("d", "")]),
        ];
        for (bytes, want) in cases {
            let got = parse_properties(bytes).unwrap();
            let want: std::collections::HashMap<String, String> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(bytes));
        }
        for bad in [&b"a=\\u00g1\n"[..], b"x=1\n\na=\\u12", b"a=\\uD800x"] {
            let SyntaxError { line, escape } = parse_properties(bad).unwrap_err();
            let e = escape.to_string();
            assert!(e.contains("\\u"), "{e}");
            assert_eq!(line, if bad.starts_with(b"x") { 3 } else { 1 });
        }
    }

    /// 2,000 random inputs and what Java 17's `Properties.load` read from
    /// each (tests/data/properties-java17.sh made the file): ours reads the
    /// same, or refuses where Java errs or keeps half a surrogate pair (which
    /// no Rust string, and no XMPP name or secret, can hold).
    #[test]
    fn reads_what_java_reads() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let units = |s: &str| -> Vec<u16> {
            (0..s.len())
                .step_by(4)
                .map(|i| u16::from_str_radix(&s[i..i + 4], 16).unwrap())
                .collect()
        };
        let mut compared = 0;
        for line in include_str!("../tests/data/properties-java17.tsv").lines() {
            let (input, java) = line.split_once('\t').unwrap();
            let ours = parse_properties(&hex(input));
            let Some(entries) = java.strip_prefix("OK ") else {
                assert_eq!(java, "ERROR");
                assert!(ours.is_err(), "{input}: Java refuses, we read {ours:?}");
                continue;
            };
            let java: Result<std::collections::HashMap<String, String>, _> = entries
                .split(',')
                .filter(|e| !e.is_empty())
                .map(|e| {
                    let (k, v) = e.split_once(':').unwrap();
                    Ok((
                        String::from_utf16(&units(k))?,
                        String::from_utf16(&units(v))?,
                    ))
                })
                .collect::<Result<_, std::string::FromUtf16Error>>();
            match java {
                Ok(java) => assert_eq!(ours.unwrap(), java, "{input}"),
                Err(_) => assert!(ours.is_err(), "{input}: half a surrogate pair"),
            }
            compared += 1;
        }
        assert!(compared > 1500, "only {compared} inputs Java reads");
    }

    /// Only the value's bytes change: comments, other lines, escapes and
    /// line endings stay; a missing key is appended in the file's line
    /// ending, after a continued last line is ended.
    #[test]
    fn set_property_is_lossless() {
        let cases: &[(&[u8], &[u8])] = &[
            (
                b"# c \\\r\nxmpp_jid=a\\u0062\r\nxmpp_password = old\\\r\n   cont  \r\nother:1\r\n",
                b"# c \\\r\nxmpp_jid=a\\u0062\r\nxmpp_password = NEW\r\nother:1\r\n",
            ),
            // The last of two wins in Java, so it is the one changed.
            (
                b"xmpp_password=1\nxmpp_password=2\n",
                b"xmpp_password=1\nxmpp_password=NEW\n",
            ),
            (b"xmpp_password\n", b"xmpp_password=NEW\n"),
            (b"  xmpp_password =  \n", b"  xmpp_password =  NEW\n"),
            (b"xmpp_password=$p\\\n\n", b"xmpp_password=NEW\\\n\n"),
            (b"a=1\r\nb=2", b"a=1\r\nb=2\r\nxmpp_password=NEW\r\n"),
            (b"a=1\rb=2\r", b"a=1\rb=2\rxmpp_password=NEW\r"),
            (b"a=1\\\n", b"a=1\\\n\nxmpp_password=NEW\n"),
            (b"# only \\\n", b"# only \\\nxmpp_password=NEW\n"),
            (b"", b"xmpp_password=NEW\n"),
            (b"k=caf\xe9\n", b"k=caf\xe9\nxmpp_password=NEW\n"),
        ];
        for (before, after) in cases {
            let got = set_property(before, "xmpp_password", "NEW").unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(after),
                "{:?}",
                String::from_utf8_lossy(before)
            );
        }
        assert!(set_property(b"a=\\u12\n", "xmpp_password", "x")
            .unwrap_err()
            .to_string()
            .contains("line 1"));
    }

    #[test]
    fn escape_as_java_stores() {
        assert_eq!(escape("a b", false), "a b");
        assert_eq!(escape(" a", false), "\\ a");
        assert_eq!(escape("a b", true), "a\\ b");
        assert_eq!(
            escape("\\=:#!\t\n\r\x0c", false),
            "\\\\\\=\\:\\#\\!\\t\\n\\r\\f"
        );
        assert_eq!(
            escape("\u{e9}\u{1F600}\u{7f}", false),
            "\\u00E9\\uD83D\\uDE00\\u007F"
        );
    }

    proptest::proptest! {
        /// Any value, in place of any old one or appended, reads back as
        /// itself, and no other key changes.
        #[test]
        fn any_value_reads_back(
            value in "\\PC*|[ \\\\=:#!\t\r\n\x0c\u{e9}\u{1F600}a]{0,12}",
            old in "[ a\\\\=:\t]{0,6}",
            tail in proptest::sample::select(vec!["", "\n", "\r\n", "\\\n", "\\"]),
            present in proptest::bool::ANY,
        ) {
            let mut file = b"# Fogbow\nxmpp_jid = m.example\n".to_vec();
            if present {
                file.extend_from_slice(format!("xmpp_password={old}\nz=1\n").as_bytes());
            }
            file.extend_from_slice(format!("last=v{tail}").as_bytes());
            let before = parse_properties(&file).unwrap();
            let new = set_property(&file, "xmpp_password", &value).unwrap();
            let mut after = parse_properties(&new).unwrap();
            proptest::prop_assert_eq!(after.remove("xmpp_password"), Some(value));
            let mut before = before;
            before.remove("xmpp_password");
            proptest::prop_assert_eq!(after, before);
            proptest::prop_assert!(new.is_ascii(), "the file stays ASCII");
        }
    }

    #[test]
    fn java_properties_syntax() {
        let p = props(
            "# Fogbow manager.conf\n! also a comment\nxmpp_jid = my-manager.internal.mydomain\nxmpp_password:s3cr\\u00e9t\\\n    continued  \nxmpp_c2c_port 5348\nxmpp_server_ip=10.0.0.5\n",
        )
        .unwrap();
        assert_eq!(p.jid, "my-manager.internal.mydomain");
        assert_eq!(
            p.password,
            "s3cr\u{e9}tcontinued  ".as_bytes(),
            "escapes, continuation, trailing spaces kept"
        );
        assert_eq!(p.port, (5348, Some("xmpp_c2c_port")));
        assert_eq!(p.host.as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn clear_errors() {
        for (text, want) in [
            ("xmpp_password=x\n", "has no xmpp_jid"),
            ("xmpp_jid=a.example\n", "has no xmpp_password"),
            ("xmpp_jid=\nxmpp_password=x\n", "xmpp_jid is empty"),
            (
                "xmpp_jid=$manager.internal.mydomain\nxmpp_password=x\n",
                "unexpanded placeholder \"$manager",
            ),
            (
                "xmpp_jid=a.example\nxmpp_password=$manager_password\n",
                "xmpp_password is an unexpanded placeholder from Fogbow's example (its value is not shown: it may be a secret); put",
            ),
            (
                "xmpp_jid=a.example\nxmpp_password=x\nxmpp_port=http\n",
                "not a port number",
            ),
        ] {
            let e = props(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    /// A FIFO, a device or a huge file is refused before it blocks or
    /// fills memory, with the limit in the message.
    #[test]
    fn only_bounded_regular_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let fifo = d.join("fifo.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(read(&fifo).unwrap_err().to_string().contains("is a FIFO"));
        assert!(read(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string()
            .contains("is a device"));
        let big = d.join("big.conf");
        let mut text = b"xmpp_jid=a.example\nxmpp_password=x\n".to_vec();
        text.resize(MAX_PROPERTIES as usize + 1, b'#');
        std::fs::write(&big, &text).unwrap();
        assert!(read(&big)
            .unwrap_err()
            .to_string()
            .contains("larger than 1 MiB"));
        text.truncate(MAX_PROPERTIES as usize);
        std::fs::write(&big, &text).unwrap();
        assert_eq!(read(&big).unwrap().jid, "a.example");
    }

    #[test]
    fn warnings_say_what_to_run() {
        let p = props("xmpp_jid=a.example\nxmpp_password=x\nxmpp_c2c_port=5348\nxmpp_enabled=false\nxmpp_host=10.1.2.3\n").unwrap();
        let l = Listener {
            interfaces: vec!["127.0.0.1".into()],
            ports: vec![5347],
            interfaces_default: true,
            ports_default: true,
        };
        let w = p.warnings(Path::new("m.conf"), &l);
        assert_eq!(
            w,
            [
                PropertiesWarning::Disabled {
                    file: "m.conf".into()
                },
                // The ports other components dial are kept.
                PropertiesWarning::OtherPort {
                    port: 5348,
                    key: Some("xmpp_c2c_port"),
                    accepted: vec![5347]
                },
                PropertiesWarning::LoopbackOnly {
                    host: "10.1.2.3".into()
                },
            ]
        );
        let open = Listener {
            interfaces: vec!["0.0.0.0".into()],
            ports: vec![5348],
            interfaces_default: false,
            ports_default: false,
        };
        assert_eq!(
            p.warnings(Path::new("m.conf"), &open).len(),
            1,
            "only xmpp_enabled is left"
        );
        let closed = Listener {
            ports: vec![],
            ..open
        };
        let w = p.warnings(Path::new("m.conf"), &closed);
        assert!(
            matches!(&w[1], PropertiesWarning::Closed { why, port: 5348 } if why.contains("no component port")),
            "{w:?}"
        );
    }
}
