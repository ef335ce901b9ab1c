//! Text for people and terminals, the leaf every room may use: escaping
//! for a terminal, hex, byte search, an io::Error's message, a secret
//! masked for a diff, and the remedy a message ends with ([`remedy`]). No
//! I/O beyond drawing one random key per run.

pub(crate) mod hex;
pub mod remedy;

/// Whether a terminal would act on `c` rather than show it: C0 and C1
/// controls, DEL, and the bidirectional marks, embeddings, overrides and
/// isolates (which reorder what follows them on the line).
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` for a terminal: every character a terminal would act on (escape
/// sequences that retitle or clear it, a carriage return that hides the
/// line, a right-to-left override) written as `\u{…}`. Names and paths
/// from a config are data; human output must show them, not run them.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(acts_on_terminal) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if acts_on_terminal(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// An io::Error's message without Rust's "(os error N)" suffix.
pub(crate) fn plain_io(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Where `needle` first occurs in `hay` (never, for an empty needle).
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether `needle` occurs in `hay` (an empty needle never does).
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

/// A secret's value as a diff shows it: `********` and this run's
/// fingerprint of it, as [`mask_secrets`] shows a Lua string (used for a
/// `.properties` file's `xmpp_password`, so both diffs of one edit agree).
pub(crate) fn masked_value(value: &[u8]) -> String {
    match run_key() {
        Some(key) => format!("******** (hmac:{})", fingerprint(key, value)),
        None => "********".into(),
    }
}

/// This run's fingerprint key: 32 bytes from the OS RNG, drawn on first use
/// and never written anywhere. `None` if the RNG fails (it does not, on
/// Linux): the strings are then masked without a fingerprint, as a fixed
/// key would make fingerprints of weak secrets a dictionary lookup.
pub(crate) fn run_key() -> Option<&'static [u8; 32]> {
    static KEY: std::sync::OnceLock<Option<[u8; 32]>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).ok().map(|()| k)
    })
    .as_ref()
}

/// The first 4 bytes of HMAC-SHA256(key, value), in hex.
pub(crate) fn fingerprint(key: &[u8], value: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(value);
    hex::encode(&mac.finalize().into_bytes()[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped() {
        assert_eq!(terminal_safe("a.example"), "a.example");
        assert_eq!(
            terminal_safe("a\u{1b}]0;pwned\u{7}b\u{7f}\u{9b}\r\t"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{7f}\\u{9b}\\u{d}\\u{9}"
        );
        for bidi in ['\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{200f}'] {
            let s = terminal_safe(&format!("x{bidi}y")).into_owned();
            assert!(!s.contains(bidi) && s.starts_with("x\\u{"), "{s}");
        }
        // Letters of any script are shown as they are.
        assert_eq!(terminal_safe("straße.例え.אב"), "straße.例え.אב");
    }

    /// It is HMAC-SHA256 as documented (RFC 4231, test case 2), cut to 4 bytes.
    #[test]
    fn fingerprint_is_truncated_hmac_sha256() {
        assert_eq!(
            fingerprint(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146"
        );
    }
}
