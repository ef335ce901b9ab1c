//! The rules about the secrets behind prosody 13's config helpers:
//! `Credential("NAME")`, `FileContents` and `FileLine`. Whether prosody can
//! read them, and whether what it reads is weak, is judged here on the
//! value a [`Resolve`] hands in; reading it (a file, the unit's
//! credentials, `systemd-creds`) is the caller's: see
//! `system::secret_refs`.

use std::path::Path;

use super::{Code, Diagnostic, Subject};
use crate::document::{SecretRef, SecretRefKind};
use crate::prosody::config::ConfigSet;

/// The value behind a reference, or why there is none.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    Value(Vec<u8>),
    /// prosody (or systemd, starting it) fails on it: the reason.
    Missing(String),
    /// Not readable here, and not known to be wrong: the reason.
    Unverified(String),
}

impl std::fmt::Debug for Resolved {
    /// Never the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolved::Value(v) => write!(f, "Value({} bytes)", v.len()),
            Resolved::Missing(m) => write!(f, "Missing({m:?})"),
            Resolved::Unverified(m) => write!(f, "Unverified({m:?})"),
        }
    }
}

/// Where [`check`] gets the value behind a reference, as prosody will
/// read it.
pub(crate) trait Resolve {
    /// The value behind `r`, named in the config file `file`.
    fn resolve(&mut self, r: &SecretRef, file: &Path) -> Resolved;
}

/// Whether any file of the config calls `Credential` (the loader needs the
/// unit's credentials then, wherever the call is).
pub(crate) fn uses_credentials(set: &ConfigSet) -> bool {
    set.files
        .iter()
        .any(|f| crate::text::contains(f.doc.text(), b"Credential"))
}

/// The `Credential("NAME")` name of our namespace that fogbow-xmpp-ctl
/// would not write into its drop-in for prosody.service, with why
/// ([`crate::prosody::credential_names::name_fault`]); `None` for any other value.
fn invalid_name(r: &SecretRef) -> Option<(String, String)> {
    if r.kind != SecretRefKind::Credential {
        return None;
    }
    let name = String::from_utf8_lossy(&r.arg);
    if !crate::prosody::credential_names::is_ours(&name) {
        return None;
    }
    crate::prosody::credential_names::name_fault(&name).map(|why| (name.into_owned(), why))
}

/// `credential-name-invalid`: each `component_secret =
/// Credential("fogbow-xmpp-ctl.…")` whose name fogbow-xmpp-ctl refuses to
/// write into the drop-in (a newline, `:`, `%`, …: see
/// [`crate::prosody::credential_names::name_fault`]), so that a config string never
/// becomes a line of a unit. A static check: it needs no prosody 13.
pub(crate) fn invalid_credential_names(set: &ConfigSet) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for h in set.hosts().filter(|h| h.is_external()) {
        let Some(value) = h.secret() else { continue };
        let Some((cred, why)) = value.secret_ref().as_ref().and_then(invalid_name) else {
            continue;
        };
        let (name, at, subject) = placed(set, &h, &value);
        out.push(
            Diagnostic::new(
                Code::CredentialNameInvalid,
                subject,
                at,
                format!(
                    "the component_secret of {name:?} is Credential({cred:?}), a name fogbow-xmpp-ctl's drop-in for prosody.service never loads: {why}"
                ),
            )
            .with_help(format!(
                "fogbow-xmpp-ctl refuses every edit that leaves this name in the config: remove this line by hand (or the component: fogbow-xmpp-ctl remove {name}), then set the secret again: fogbow-xmpp-ctl add {name} --secret-store credential --replace"
            )),
        );
    }
    out
}

/// `check`'s findings about the secrets behind references: a credential
/// prosody will not get (`credential-missing`), a file it cannot read
/// (`secret-file-missing`), a weak secret behind a readable one
/// (`weak-secret`), and what cannot be read here (`secret-unverified`).
pub(crate) fn check(set: &ConfigSet, resolver: &mut dyn Resolve) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for h in set.hosts().filter(|h| h.is_external()) {
        let Some(value) = h.secret() else { continue };
        let Some(r) = value.secret_ref() else {
            continue;
        };
        // Reported by [`invalid_credential_names`], and never loaded.
        if invalid_name(&r).is_some() {
            continue;
        }
        let (name, at, subject) = placed(set, &h, &value);
        let what = describe(&r);
        let d = match resolver.resolve(&r, &at.0) {
            Resolved::Value(v) if super::weak_secret(&v) => Diagnostic::new(
                Code::WeakSecret,
                subject,
                at,
                format!("the component_secret of {name:?}, read from {what}, is a placeholder or shorter than 16 bytes"),
            )
            .with_help(format!("fogbow-xmpp-ctl add {name} --generate-secret --replace")),
            Resolved::Value(_) => continue,
            Resolved::Missing(why) => {
                let code = match r.kind {
                    SecretRefKind::Credential if !r.arg.starts_with(b"/") => Code::CredentialMissing,
                    _ => Code::SecretFileMissing,
                };
                Diagnostic::new(
                    code,
                    subject,
                    at,
                    format!("the component_secret of {name:?} is read from {what}, but {why}"),
                )
            }
            Resolved::Unverified(why) => Diagnostic::new(
                Code::SecretUnverified,
                subject,
                at,
                format!("the component_secret of {name:?} is read from {what}, which is not checked here: {why}"),
            ),
        };
        out.push(d);
    }
    out
}

/// The component's name as the file spells it, where its secret's value
/// starts, and the component as a diagnostic's subject.
fn placed(
    set: &ConfigSet,
    h: &crate::prosody::config::Host,
    value: &crate::document::Value<'_>,
) -> (String, (std::path::PathBuf, usize, usize), Subject) {
    let f = &set.files[h.at.file];
    let name = h
        .literal_name()
        .unwrap_or_else(|| f.doc.slice(&h.name().span));
    let (line, column) = f.doc.line_col(value.span.start);
    let subject = Subject::Host(crate::prosody::names::fold(name.as_bytes()).into_owned());
    (name, (f.path.clone(), line, column), subject)
}

/// `Credential("NAME")`, `FileContents("PATH")`: the reference as written
/// (its argument is a name or a path, never a secret).
pub(crate) fn describe(r: &SecretRef) -> String {
    format!("{}({:?})", r.kind.as_str(), String::from_utf8_lossy(&r.arg))
}
