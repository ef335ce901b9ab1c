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

    #[test]
    fn comparison_is_case_insensitive() {
        assert!(same("My-Manager.Example", "my-manager.example"));
        assert!(!same("a.example", "b.example"));
    }
}
