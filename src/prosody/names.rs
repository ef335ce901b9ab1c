//! Host names the way prosody sees them.
//!
//! prosody passes every `VirtualHost`/`Component` name through nameprep
//! (stringprep, RFC 3491) and compares the results: `straße.example`,
//! `STRASSE.example` and full-width `ｓｔｒａｓｓｅ.example` are one host, and a
//! name nameprep refuses stops the server. [`nameprep`] computes exactly what
//! prosody does; every comparison goes through `fold`. For names `add`
//! writes we accept the strict subset whose prepped form is also a valid DNS
//! name for a federation: letters and digits (any script), `-` and `_`, in
//! dot-separated labels.

/// Checks a name `add` is asked to write: prosody's nameprep must accept
/// it (or prosody would not start), and the form prosody uses must be a
/// name an XMPP address can carry.
pub(crate) fn validate(name: &str) -> Result<(), BadName> {
    let bad = |prepped: &str, fault| BadName {
        name: name.into(),
        prepped: (prepped != name).then(|| prepped.into()),
        fault,
    };
    if name.is_empty() {
        return Err(bad(name, Fault::Empty));
    }
    let prepped = nameprep(name.as_bytes()).map_err(|why| bad(name, Fault::Refused(why)))?;
    // Mapped-to-nothing characters and case are nameprep's business; what
    // is left must be a domain name.
    if prepped.is_empty() {
        return Err(bad(&prepped, Fault::Empty));
    }
    if prepped.len() > 253 {
        return Err(bad(&prepped, Fault::TooLong(prepped.len())));
    }
    if let Some(c) = prepped
        .chars()
        .find(|&c| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
    {
        return Err(bad(&prepped, Fault::Character(c)));
    }
    if prepped.starts_with('.') || prepped.ends_with('.') {
        return Err(bad(&prepped, Fault::EdgeDot));
    }
    for label in prepped.split('.') {
        if label.is_empty() {
            return Err(bad(&prepped, Fault::EmptyLabel));
        }
        if label.len() > 63 {
            return Err(bad(&prepped, Fault::LongLabel(label.into())));
        }
    }
    Ok(())
}

/// A name `validate` refuses. It does not say whose name it is (the
/// component `add` is asked for, or a config's `VirtualHost`): each use
/// says that through `BadName::describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadName {
    pub(crate) name: String,
    /// The form prosody uses, when it differs from `name`.
    pub(crate) prepped: Option<String>,
    pub(crate) fault: Fault,
}

/// What is wrong with a [`BadName`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Empty as written, or after nameprep.
    Empty,
    /// prosody's nameprep refuses it (why, as [`nameprep`] says).
    Refused(NameprepError),
    /// Longer than a domain name's 253 bytes (after nameprep).
    TooLong(usize),
    /// A character a domain name cannot have.
    Character(char),
    /// Starts or ends with a dot.
    EdgeDot,
    /// Two dots in a row.
    EmptyLabel,
    /// A label longer than 63 bytes.
    LongLabel(String),
}

impl BadName {
    /// The operator's sentence, for `whose` name (`"component"`,
    /// `"VirtualHost"`): "the component name \"a b\" contains a space; …".
    pub(crate) fn describe(&self, whose: &str) -> String {
        let name = &self.name;
        let shown = match &self.prepped {
            None => format!("{name:?}"),
            Some(p) => format!("{name:?} (to prosody {p:?})"),
        };
        match &self.fault {
            Fault::Empty if name.is_empty() => format!("the {whose} name is empty"),
            Fault::Empty => format!("the {whose} name {shown} is empty"),
            Fault::Refused(why) => {
                format!("the {whose} name {name:?} {why}; prosody would refuse to start")
            }
            Fault::TooLong(len) => format!(
                "the {whose} name {shown} is {len} bytes long; a domain name has at most 253"
            ),
            Fault::Character(c) => {
                let what = match c {
                    ' ' => "a space".to_string(),
                    c if c.is_control() => format!("the control character U+{:04X}", *c as u32),
                    c => format!("'{c}'"),
                };
                format!("the {whose} name {shown} contains {what}; a domain name has only letters, digits, '-', '_' and dots")
            }
            Fault::EdgeDot => format!("the {whose} name {shown} starts or ends with a dot"),
            Fault::EmptyLabel => {
                format!("the {whose} name {shown} has an empty label (two dots in a row)")
            }
            Fault::LongLabel(label) => format!(
                "the label {label:?} of the {whose} name is {} bytes long; at most 63 are allowed",
                label.len()
            ),
        }
    }
}

/// As `add` says it: a component's name.
impl std::fmt::Display for BadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe("component"))
    }
}

impl std::error::Error for BadName {}

/// prosody's limit: `util.encodings` refuses an input, and an output, of
/// 1024 bytes or more (its fixed buffers).
const PROSODY_MAX: usize = 1024;

/// The name prosody uses for `name`, exactly as prosody 0.12's
/// `util.encodings.stringprep.nameprep` (ICU's RFC 3491 profile, unassigned
/// code points allowed) computes it; `Err` says why it refuses the name,
/// which stops prosody at start. Proved byte for byte against prosody on
/// `tests/data/nameprep-corpus.tsv`.
///
/// The mapping, prohibition and Unicode 3.2 tables are RFC 3454's (from the
/// `stringprep` crate); like ICU, characters unassigned in Unicode 3.2 pass
/// unmapped and unnormalized, and the bidi rule uses today's bidi classes.
/// (`stringprep::nameprep` itself refuses unassigned code points, which
/// prosody accepts.)
pub fn nameprep(name: &[u8]) -> Result<String, NameprepError> {
    use stringprep::tables as t;
    use unicode_normalization::UnicodeNormalization;
    if name.len() >= PROSODY_MAX {
        return Err(NameprepError::TooLong);
    }
    let Ok(s) = std::str::from_utf8(name) else {
        return Err(NameprepError::NotUtf8);
    };
    // ASCII maps to its lowercase and nothing in it is prohibited.
    if s.is_ascii() {
        return Ok(s.to_ascii_lowercase());
    }
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    for c in s.chars().filter(|&c| !t::commonly_mapped_to_nothing(c)) {
        if t::unassigned_code_point(c) {
            out.extend(run.nfkc());
            run.clear();
            out.push(c);
        } else if let Some(c) = unicode_3_2_decomposition(c) {
            run.push(c);
        } else {
            run.extend(t::case_fold_for_nfkc(c));
        }
    }
    out.extend(run.nfkc());
    let prohibited = |c: char| {
        t::non_ascii_space_character(c)
            || t::non_ascii_control_character(c)
            || t::private_use(c)
            || t::non_character_code_point(c)
            || t::surrogate_code(c)
            || t::inappropriate_for_plain_text(c)
            || t::inappropriate_for_canonical_representation(c)
            || t::change_display_properties_or_deprecated(c)
            || t::tagging_character(c)
    };
    if let Some(c) = out.chars().find(|&c| prohibited(c)) {
        return Err(NameprepError::Prohibited(c));
    }
    // RFC 3454 section 6: right-to-left text stands alone, and starts and
    // ends right-to-left.
    if out.contains(t::bidi_r_or_al) {
        if out.contains(t::bidi_l) {
            return Err(NameprepError::MixedDirections);
        }
        let ends_rtl = |c: Option<char>| c.is_some_and(t::bidi_r_or_al);
        if !ends_rtl(out.chars().next()) || !ends_rtl(out.chars().next_back()) {
            return Err(NameprepError::RightToLeftEdges);
        }
    }
    if out.len() >= PROSODY_MAX {
        return Err(NameprepError::TooLong);
    }
    Ok(out)
}

/// Why prosody's nameprep refuses a name; its text completes a sentence
/// that starts with the name ("… is not valid UTF-8").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameprepError {
    /// As long as prosody's limit for a name, or longer.
    TooLong,
    NotUtf8,
    /// A character nameprep prohibits.
    Prohibited(char),
    /// Right-to-left and left-to-right characters in one name.
    MixedDirections,
    /// Right-to-left characters, but not at both ends.
    RightToLeftEdges,
}

impl std::fmt::Display for NameprepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameprepError::TooLong => write!(
                f,
                "is {PROSODY_MAX} bytes or longer to prosody, its limit for a name"
            ),
            NameprepError::NotUtf8 => f.write_str("is not valid UTF-8"),
            NameprepError::Prohibited(c) => write!(
                f,
                "contains U+{:04X}, which nameprep prohibits",
                *c as u32
            ),
            NameprepError::MixedDirections => f.write_str("mixes right-to-left and left-to-right characters, which nameprep prohibits (RFC 3454 section 6; write each label in one direction)"),
            NameprepError::RightToLeftEdges => f.write_str("has right-to-left characters but does not start and end with one, which nameprep prohibits (RFC 3454 section 6)"),
        }
    }
}

impl std::error::Error for NameprepError {}

/// Stringprep normalizes by Unicode 3.2, before Corrigendum #4 changed the
/// decompositions of five CJK compatibility ideographs (ICU, and so
/// prosody, keep the 3.2 ones). Each is a singleton, so mapping it first
/// and normalizing after gives 3.2's result.
fn unicode_3_2_decomposition(c: char) -> Option<char> {
    Some(match c {
        '\u{2F868}' => '\u{2136A}',
        '\u{2F874}' => '\u{5F33}',
        '\u{2F91F}' => '\u{43AB}',
        '\u{2F95F}' => '\u{7AAE}',
        '\u{2F9BF}' => '\u{4D57}',
        _ => return None,
    })
}

/// Why prosody's nameprep would refuse these bytes as a host name (which
/// stops prosody at start). It is far more lenient than a DNS name: spaces,
/// quotes and `@` pass (see [`validate`] for those).
pub(crate) fn nameprep_rejects(name: &[u8]) -> Option<String> {
    nameprep(name).err().map(|e| e.to_string())
}

/// The form prosody compares names in: nameprep's output. A name nameprep
/// refuses (which stops prosody anyway) equals only itself, byte for byte.
pub(crate) fn fold(name: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match nameprep(name) {
        Ok(p) if p.as_bytes() == name => std::borrow::Cow::Borrowed(name),
        Ok(p) => std::borrow::Cow::Owned(p.into_bytes()),
        Err(_) => std::borrow::Cow::Borrowed(name),
    }
}

/// Whether two names denote the same host for prosody.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a == b || fold(a.as_bytes()) == fold(b.as_bytes())
}

/// The spelling an external component must connect with when the config
/// writes its name as `written` and that is not it: prosody activates the
/// component under nameprep's form (`mixed.fog.test` for `MiXed.Fog.Test`,
/// `strasse…` for `straße…`), but mod_component looks a connecting stream's
/// `to` up without nameprep, so a component connecting as written gets
/// `host-unknown`. `None` when `written` already is that form (or
/// nameprep refuses it, which stops prosody anyway).
pub(crate) fn connect_as(written: &[u8]) -> Option<String> {
    nameprep(written).ok().filter(|p| p.as_bytes() != written)
}

/// The name among `known` that `name` most likely mistypes: at most two
/// edits away (insert, delete, substitute one character), compared after
/// nameprep, and the nearest one; `None` when none is that close. For
/// "did you mean …?" on `remove my-manger…`.
pub(crate) fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let want: Vec<char> = String::from_utf8_lossy(&fold(name.as_bytes()))
        .chars()
        .collect();
    known
        .filter_map(|k| {
            let have: Vec<char> = String::from_utf8_lossy(&fold(k.as_bytes()))
                .chars()
                .collect();
            let d = edit_distance(&want, &have);
            (d <= 2).then_some((d, k))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, one row at a time (names are short).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
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
            let e = validate(bad).unwrap_err().to_string();
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
    fn comparison_is_after_nameprep() {
        assert!(same("My-Manager.Example", "my-manager.example"));
        assert!(!same("a.example", "b.example"));
        assert!(same("straße.example", "STRASSE.example"));
        assert!(same("ｘｍｐｐ.example", "xmpp.example"));
        assert!(same("x\u{AD}mpp.example", "xmpp.example"));
        assert!(
            !same("ß.example", "\u{1E9E}.example"),
            "U+1E9E is unassigned in Unicode 3.2"
        );
        // A refused name is only itself.
        assert!(!same("\u{5D0}a", "\u{5D0}A"));
        assert_eq!(&*fold(b"\xff"), b"\xff");
    }

    #[test]
    fn add_refuses_what_nameprep_refuses_and_checks_the_prepped_form() {
        for (bad, why) in [
            ("\u{5D0}\u{5D1}.example", "right-to-left"),
            ("1\u{5D0}", "start and end"),
            ("a\u{E000}", "U+E000"),
            ("\u{AD}", "is empty"),
            ("a\u{A0}b", "a space"),
        ] {
            let e = validate(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        for ok in [
            "\u{5D0}\u{5D1}",
            "ＸＭＰＰ.example",
            "x\u{AD}mpp.example",
            "straße.example",
        ] {
            validate(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn connect_as_is_nameprep_when_it_changes_the_name() {
        assert_eq!(
            connect_as(b"MiXed.Fog.Test").as_deref(),
            Some("mixed.fog.test")
        );
        assert_eq!(
            connect_as("straße.fog.test".as_bytes()).as_deref(),
            Some("strasse.fog.test")
        );
        assert_eq!(connect_as(b"mixed.fog.test"), None);
        assert_eq!(connect_as("bücher.example".as_bytes()), None);
        assert_eq!(connect_as(b"\xff"), None);
    }

    #[test]
    fn closest_names_a_likely_typo() {
        let known = [
            "my-manager.internal.mydomain",
            "my-rendezvous.internal.mydomain",
        ];
        let c = |n: &str| closest(n, known.iter().copied());
        assert_eq!(c("my-manger.internal.mydomain"), Some(known[0]));
        assert_eq!(c("MY-MANAGER.internal.mydomain"), Some(known[0]));
        assert_eq!(c("my-rendevous.internal.mydomain"), Some(known[1]));
        assert_eq!(c("other.example"), None);
        assert_eq!(edit_distance(&['a', 'b'], &['b', 'a']), 2);
        assert_eq!(edit_distance(&[], &['x']), 1);
    }
}
