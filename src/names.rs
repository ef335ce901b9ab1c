//! Host names as prosody's nameprep would accept them.
//!
//! prosody passes every `VirtualHost`/`Component` name through nameprep,
//! which lowercases it; a name it rejects stops the server. We accept the
//! strict subset that is also a valid DNS name for a federation: letters and
//! digits (any script), `-` and `_`, in dot-separated labels.

/// Checks `name`; the error says what is wrong in operator terms.
pub fn validate(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the component name is empty".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "the component name is {} bytes long; a domain name has at most 253",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
    {
        let what = match c {
            ' ' => "a space".to_string(),
            c if c.is_control() => format!("the control character U+{:04X}", c as u32),
            c => format!("'{c}'"),
        };
        return Err(format!("the component name {name:?} contains {what}; a domain name has only letters, digits, '-', '_' and dots"));
    }
    if name.starts_with('.') || name.ends_with('.') {
        return Err(format!(
            "the component name {name:?} starts or ends with a dot"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "the component name {name:?} has an empty label (two dots in a row)"
            ));
        }
        if label.len() > 63 {
            return Err(format!("the label {label:?} of the component name is {} bytes long; at most 63 are allowed", label.len()));
        }
    }
    Ok(())
}

/// Why prosody's nameprep (stringprep, RFC 3491) would refuse these bytes
/// as a host name, which stops prosody at start: invalid UTF-8 and the
/// prohibited code points (tables C.2.2–C.9). It is far more lenient than a
/// DNS name: spaces, quotes and `@` pass (see [`validate`] for those).
pub fn nameprep_rejects(name: &[u8]) -> Option<String> {
    let Ok(s) = std::str::from_utf8(name) else {
        return Some("is not valid UTF-8".into());
    };
    let prohibited = |c: char| {
        let u = c as u32;
        matches!(u,
            0x80..=0x9F | 0x6DD | 0x70F | 0x180E | 0x200C | 0x200D | 0x2028 | 0x2029 | 0x2060..=0x2063
            | 0x206A..=0x206F | 0xFEFF | 0xFFF9..=0xFFFD | 0x1D173..=0x1D17A // C.2.2, C.6
            | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD // C.3 private use
            | 0xFDD0..=0xFDEF // C.4 non-characters
            | 0x2FF0..=0x2FFB // C.7
            | 0x340 | 0x341 | 0x200E | 0x200F | 0x202A..=0x202E // C.8
            | 0xE0001 | 0xE0020..=0xE007F) // C.9
            || (u & 0xFFFE) == 0xFFFE // C.4: U+nFFFE, U+nFFFF
    };
    s.chars()
        .find(|&c| prohibited(c))
        .map(|c| format!("contains U+{:04X}, which nameprep prohibits", c as u32))
}

/// The form prosody compares names in (nameprep lowercases).
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// Whether two names denote the same host for prosody.
pub fn same(a: &str, b: &str) -> bool {
    a == b || fold(a) == fold(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_domain_names() {
        for ok in [
            "my-manager.internal.mydomain",
            "localhost",
            "xn--bcher-kva.example",
            "bücher.example",
            "a_b.c",
            "UPPER.Example",
        ] {
            validate(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn rejects_what_prosody_or_dns_would() {
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}.example", ["abcdefghij"; 25].join("."));
        for (bad, why) in [
            ("", "empty"),
            ("a b.example", "a space"),
            ("a\"b", "'\"'"),
            ("a'b", "'''"),
            ("a/b", "'/'"),
            ("user@host", "'@'"),
            ("a\\b", "'\\'"),
            ("a..b", "empty label"),
            (".a", "starts or ends with a dot"),
            ("a.", "starts or ends with a dot"),
            (long_label.as_str(), "at most 63"),
            (long_name.as_str(), "at most 253"),
            ("a\nb", "control character"),
            ("a\0b", "control character"),
        ] {
            let e = validate(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    /// The verdicts of prosody 0.12's own nameprep (util.encodings), measured.
    #[test]
    fn nameprep_like_prosody() {
        for ok in [
            "a b",
            "a\"b",
            "a@b",
            "a..b",
            "",
            "a\u{200B}b",
            "ok.example",
            "b\u{fc}cher.de",
        ] {
            assert_eq!(nameprep_rejects(ok.as_bytes()), None, "{ok:?}");
        }
        for bad in [
            &b"\xff"[..],
            "a\u{E000}b".as_bytes(),
            "a\u{FFFE}b".as_bytes(),
            "a\u{80}b".as_bytes(),
        ] {
            assert!(nameprep_rejects(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn comparison_is_case_insensitive() {
        assert!(same("My-Manager.Example", "my-manager.example"));
        assert!(!same("a.example", "b.example"));
    }
}
