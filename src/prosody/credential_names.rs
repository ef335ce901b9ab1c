//! The names of the systemd credentials fogbow-xmpp-ctl makes for
//! component secrets, as prosody's `Credential("NAME")` reads them: how a
//! component's name becomes one, and which names may become a line of a
//! unit file. Pure rules: the credential store itself is
//! [`crate::system::credentials`].

/// Prefix of the credential names we make, so that they never collide with
/// an operator's own credentials.
pub(crate) const PREFIX: &str = "fogbow-xmpp-ctl.";

/// What follows [`PREFIX`] in a name derived from a hash: a character no
/// plain name holds, so a hashed name is never a plain one. systemd takes
/// it in a credential name and, unlike `%`, `\` or quotes, literally in
/// a unit file.
const HASHED: char = '+';

/// Whether `component` is used as it is in its credential name: plain
/// ASCII (what systemd accepts in a credential name and in
/// `LoadCredentialEncrypted=ID:PATH`, where `:` separates), and short.
fn plain(component: &str) -> bool {
    !component.is_empty()
        && PREFIX.len() + component.len() <= 200
        && component
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The credential name for the component `name`: `fogbow-xmpp-ctl.NAME`
/// when NAME is [`plain`], else `fogbow-xmpp-ctl.+` and the hex SHA-1 of
/// NAME. Injective: a plain name holds no `+`, so the two forms never meet
/// (and two hashed names only if SHA-1 collides, which the edit's refusal
/// to write another component's credential still catches).
///
/// A config that reads another name of ours for a component (such as
/// `fogbow-xmpp-ctl.h` and 32 hex digits) keeps it: an edit reads a
/// component's credential name from the config and never recomputes it.
pub(crate) fn credential_name(component: &str) -> String {
    if plain(component) {
        return format!("{PREFIX}{component}");
    }
    use sha1::Digest;
    let digest = sha1::Sha1::digest(component.as_bytes());
    format!("{PREFIX}{HASHED}{}", crate::text::hex::encode(&digest))
}

/// Whether `name` is in our namespace (see [`credential_name`]); whether
/// it may be written into a unit is [`name_fault`]'s question.
pub(crate) fn is_ours(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// Why credential `name` may not be written into our drop-in, if it may
/// not. systemd's `credential_name_valid` wants a valid file name (not
/// empty, not `.` or `..`, no `/`, at most 255 bytes: our prefix rules out
/// the first three); a line of a unit
/// file needs more: no control character (a newline would start a new
/// directive), no space, nothing systemd would reinterpret (`%`
/// specifiers, `\` escapes, quotes) and no `:` (it ends the name in
/// `NAME:PATH`). Names we make are printable ASCII, so anything else is
/// refused too, and so is a name outside our namespace.
pub(crate) fn name_fault(name: &str) -> Option<String> {
    if !is_ours(name) {
        return Some(format!("it does not start with {PREFIX}"));
    }
    if name.len() > 255 {
        return Some(format!(
            "it is {} bytes long; systemd takes 255",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !c.is_ascii_graphic() || matches!(c, '/' | ':' | '%' | '\\' | '"' | '\''))
    {
        return Some(format!("it holds the character {c:?}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_systemd_accepts() {
        assert_eq!(
            credential_name("my-manager.internal.mydomain"),
            "fogbow-xmpp-ctl.my-manager.internal.mydomain"
        );
        for odd in ["bücher.example", "a:b.example", "a/b", "", &"x".repeat(300)] {
            let n = credential_name(odd);
            assert!(n.starts_with("fogbow-xmpp-ctl.+"), "{n}");
            assert_eq!(name_fault(&n), None, "{n}");
        }
        assert_ne!(credential_name("a:b"), credential_name("a/b"));
        assert!(is_ours(&credential_name("x.example")));
    }

    /// No plain name is spelled like a hashed one: `h` and 32 hex digits
    /// (the hashed form of older releases) or `+` and 40 are plain names
    /// of their own.
    #[test]
    fn plain_and_hashed_names_never_meet() {
        let hashed = credential_name("bücher.example");
        let digits = hashed.strip_prefix("fogbow-xmpp-ctl.+").unwrap();
        assert_eq!(digits.len(), 40);
        for look_alike in [format!("h{}", &digits[..32]), digits.to_string()] {
            assert_ne!(credential_name(&look_alike), hashed);
            assert!(!credential_name(&look_alike).contains('+'));
        }
    }
}
