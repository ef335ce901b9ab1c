//! A Fogbow component's own configuration: the Java `.properties` file
//! (`manager.conf`, `federation.conf`, `rendezvous.conf`, `ras.conf`, …) that
//! names its XMPP identity (`xmpp_jid`), secret (`xmpp_password`), and where
//! it will dial prosody. Read as `java.util.Properties.load(InputStream)`
//! reads it (the Fogbow services' own reader; see [`parse_properties`]).

use std::path::Path;

use crate::listener::{Listener, DEFAULT_PORT};

/// What a Fogbow component will present to prosody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentProperties {
    pub jid: String,
    pub password: Vec<u8>,
    /// The port it dials, and the key that set it.
    pub port: (u16, Option<&'static str>),
    /// The address it dials (`xmpp_host` / `xmpp_server_ip`), if set.
    pub host: Option<String>,
    /// `xmpp_enabled`, if set.
    pub enabled: Option<bool>,
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
pub const MAX_PROPERTIES: u64 = 1 << 20;

/// Reads and checks a Fogbow component's properties file: a regular file of
/// at most [`MAX_PROPERTIES`] bytes (a FIFO or a device is refused unread).
pub fn read(path: &Path) -> Result<ComponentProperties, String> {
    use crate::secret::ReadError;
    let p = path.display();
    let bytes =
        crate::secret::read_regular(path, MAX_PROPERTIES, "the properties file").map_err(|e| {
            match e {
                ReadError::Missing => format!("cannot read {p}: No such file or directory"),
                ReadError::TooLarge => format!(
                    "{p} is larger than {} MiB: not a Fogbow component's configuration",
                    MAX_PROPERTIES >> 20
                ),
                ReadError::Other(m) => m,
            }
        })?;
    let map = parse_properties(&bytes)
        .map_err(|(line, e)| format!("{p}:{line}: not a valid properties file: {e}"))?;
    // The secret's value never appears in a message.
    let get = |key: &str| -> Result<String, String> {
        // The value, or (the password) a note that says why it is left out.
        let shown = |v: &str| {
            if key == "xmpp_password" {
                " from Fogbow's example (its value is not shown: it may be a secret)".to_string()
            } else {
                format!(" {v:?} from Fogbow's example")
            }
        };
        let v = map.get(key).ok_or_else(|| {
            format!("{p} has no {key}: is it a Fogbow component's configuration?")
        })?;
        if v.trim().is_empty() {
            return Err(format!("{p}: {key} is empty"));
        }
        if v.starts_with('$') || v.contains("${") {
            return Err(format!(
                "{p}: {key} is an unexpanded placeholder{}; put the real value in",
                shown(v)
            ));
        }
        Ok(v.clone())
    };
    let jid = get("xmpp_jid")?;
    let password = get("xmpp_password")?;
    let mut port = (DEFAULT_PORT, None);
    for key in PORT_KEYS {
        if let Some(v) = map.get(key) {
            let n = v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{p}: {key} = {v:?} is not a port number"))?;
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
) -> Result<std::collections::HashMap<String, String>, (usize, String)> {
    let text: Vec<char> = bytes.iter().map(|&b| char::from(b)).collect();
    let mut map = std::collections::HashMap::new();
    let (mut at, mut line_no) = (0, 1);
    while at < text.len() {
        // One logical line: from its first non-blank to its unescaped end.
        let mut logical: Vec<char> = Vec::new();
        let mut first_line = line_no;
        let mut starting = true; // skipping blanks at a natural line's start
        let mut continued = false; // this natural line continues the previous
        let mut comment = false;
        let mut backslash = false; // an odd run of backslashes precedes
                                   // Java keeps a line that a backslash leaves empty only at the end of
                                   // the input: `\` alone, or `\` and one line break, is the key "".
        let mut keep_empty = false;
        while at < text.len() {
            let c = text[at];
            at += 1;
            let last_byte = at == text.len();
            let newline = c == '\n' || c == '\r';
            if newline {
                line_no += 1;
                if c == '\r' && text.get(at) == Some(&'\n') {
                    at += 1;
                }
            }
            if starting {
                if blank(c) || (newline && !continued) {
                    continue;
                }
                starting = false;
                if !continued {
                    first_line = line_no;
                }
                // As in Java, a comment starts wherever the logical line is
                // still empty, even after a continued blank line.
                comment = logical.is_empty() && (c == '#' || c == '!');
            }
            if !newline {
                if !comment {
                    logical.push(c);
                    backslash = c == '\\' && !backslash;
                }
                continue;
            }
            if comment || logical.is_empty() {
                break;
            }
            if backslash {
                logical.pop();
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
            keep_empty = true;
        }
        if comment || (logical.is_empty() && !keep_empty) {
            continue;
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|e| (first_line, e))?;
        let value = unescape(value).map_err(|e| (first_line, e))?;
        map.insert(key, value);
    }
    Ok(map)
}

/// Java's whitespace in a `.properties` line (line breaks aside).
fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// `Properties.load`'s split of a logical line into key and value.
fn split_key_value(line: &[char]) -> (&[char], &[char]) {
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
    (&line[..key_len], &line[value_start..])
}

/// `Properties.loadConvert`: the escapes of a key or value.
fn unescape(s: &[char]) -> Result<String, String> {
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
                        .ok_or("malformed \\uxxxx encoding (four hex digits expected)")?
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
            _ => return Err("a \\u escape is half of a UTF-16 surrogate pair".into()),
        }
    }
    if high.is_some() {
        return Err("a \\u escape is half of a UTF-16 surrogate pair".into());
    }
    Ok(out)
}

impl ComponentProperties {
    /// Why the component may still not reach prosody, with what to run.
    pub fn warnings(&self, path: &Path, listener: &Listener) -> Vec<String> {
        let p = path.display();
        let mut out = Vec::new();
        if self.enabled == Some(false) {
            out.push(format!("{p} sets xmpp_enabled=false: the component will not connect to prosody until it is true"));
        }
        let (port, key) = self.port;
        if let Some(why) = listener.closed() {
            out.push(format!(
                "{why}: run fogbow-xmpp-ctl listen --port {port} (and --interface, if it is the interfaces)"
            ));
        } else if !listener.ports.contains(&port) {
            let from = key.map_or(String::from("the default"), |k| k.to_string());
            // `listen --port` replaces the list: keep the ports other
            // components already dial, and add this one.
            let keep: String = listener
                .ports
                .iter()
                .chain([&port])
                .map(|p| format!(" --port {p}"))
                .collect();
            out.push(format!(
                "the component dials port {port} ({from}), but prosody accepts components on {}: run fogbow-xmpp-ctl listen{keep}",
                listener.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(h) = &self.host {
            let loopback = matches!(h.as_str(), "localhost" | "127.0.0.1" | "::1");
            if !loopback && !listener.remote_reachable() {
                out.push(format!(
                    "the component dials {h}, but prosody accepts components on loopback only: run fogbow-xmpp-ctl listen --interface 0.0.0.0"
                ));
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
        read(&f)
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
            let (line, e) = parse_properties(bad).unwrap_err();
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
        assert!(read(&fifo).unwrap_err().contains("is a FIFO"));
        assert!(read(Path::new("/dev/zero"))
            .unwrap_err()
            .contains("is a device"));
        let big = d.join("big.conf");
        let mut text = b"xmpp_jid=a.example\nxmpp_password=x\n".to_vec();
        text.resize(MAX_PROPERTIES as usize + 1, b'#');
        std::fs::write(&big, &text).unwrap();
        assert!(read(&big).unwrap_err().contains("larger than 1 MiB"));
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
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("xmpp_enabled=false"));
        // The port other components dial is kept (issue 13).
        assert!(w[1].contains("listen --port 5347 --port 5348"), "{w:?}");
        assert!(w[2].contains("listen --interface 0.0.0.0"));
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
            w[1].contains("no component port") && w[1].contains("listen --port 5348"),
            "{w:?}"
        );
    }
}
