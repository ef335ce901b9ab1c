//! `probe`: the XEP-0114 handshake for a component, with the secret and
//! the listener the config gives it, or with the component's own copy of
//! the secret (its Fogbow `.properties` file, or a secret file): "is my
//! manager.conf right?" in one command.

use serde::Serialize;

use super::reading::{self, Breakage};
use super::Context;
use crate::error::{refusal, Error, InputError, Missing};
use crate::prosody::config::Host;
use crate::text::remedy::{connect_as, SetSecret};

/// What `probe` found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub name: String,
    pub host: String,
    pub port: u16,
    #[serde(flatten)]
    pub outcome: crate::system::probe::Outcome,
    pub hint: String,
    /// Whose copy of the secret was presented: `"config"` (the
    /// component_secret), `"properties"` (`--from-properties`' xmpp_password)
    /// or `"secret-file"`.
    pub(crate) secret_from: &'static str,
    /// Only for a secret not from the config: whether it equals the
    /// config's component_secret (absent when that is not a literal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) matches_config: Option<bool>,
    /// Refused because the running prosody still has the credential it
    /// loaded at start, and the one on disk differs: only a restart helps.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) restart_pending: bool,
    /// A broken config is read as far as it parses (or from its last good
    /// backup) for the secret and the listener: `"broken"`, `"source"`, ….
    #[serde(flatten)]
    pub breakage: Breakage,
}

impl ProbeReport {
    /// Good news: the secret presented is accepted, or the name is
    /// connected (conflict) — unless the component's copy is known to
    /// differ from the config's: then the next reload or restart refuses
    /// it, whatever the running server says today.
    pub fn ok(&self) -> bool {
        self.outcome.ok() && self.matches_config != Some(false)
    }
}

/// The component's own copy of its secret, to probe with instead of the
/// config's.
#[derive(Debug, Clone)]
pub struct GivenSecret {
    pub(crate) secret: Vec<u8>,
    /// How messages name it: "m.conf's xmpp_password", "the secret in PATH".
    pub(crate) named: String,
    /// `"properties"` or `"secret-file"`.
    pub(crate) from: &'static str,
    /// The command that sets prosody's secret from this copy, if one does.
    pub(crate) fix: Option<String>,
}

/// `probe NAME --secret-file PATH` (`-`: standard input): the copy of the
/// secret the component will present, and the command that makes it
/// prosody's (only for a file: standard input is spent).
pub fn secret_from_file(name: &str, path: &std::path::Path) -> Result<GivenSecret, Error> {
    let stdin = path.as_os_str() == "-";
    Ok(GivenSecret {
        secret: crate::secret::read_file(path)?,
        named: match stdin {
            true => "the secret from standard input".into(),
            false => format!("the secret in {}", path.display()),
        },
        from: "secret-file",
        fix: (!stdin).then(|| SetSecret::File { name, path }.to_string()),
    })
}

/// `probe NAME --from-properties FILE`: the name (xmpp_jid, which NAME,
/// if given, must equal) and the copy of the secret the component will
/// present.
pub fn secret_from_properties(
    name: Option<&str>,
    path: &std::path::Path,
) -> Result<(String, GivenSecret), Error> {
    let props = crate::fogbow::read(path)?;
    if let Some(n) = name {
        if !crate::prosody::names::same(n, &props.jid) {
            return Err(InputError::JidDiffers {
                name: n.to_string(),
                jid: props.jid,
                path: path.to_path_buf(),
            }
            .into());
        }
    }
    let p = path.display();
    Ok((
        props.jid,
        GivenSecret {
            secret: props.password,
            named: format!("{p}'s xmpp_password"),
            from: "properties",
            fix: Some(SetSecret::Properties(Some(path)).to_string()),
        },
    ))
}

/// Makes the XEP-0114 handshake for `name` with its configured secret.
pub fn probe(
    ctx: &Context,
    name: &str,
    host: Option<String>,
    port: Option<u16>,
    force: bool,
) -> Result<ProbeReport, Error> {
    probe_with(ctx, name, host, port, force, None)
}

/// [`probe`], presenting `given` (the component's copy) instead of the
/// config's secret when there is one. The config is still read, for the
/// listener and `kick_old`, and to compare the two copies locally (the
/// report says whether they are equal, never either secret).
pub fn probe_with(
    ctx: &Context,
    name: &str,
    host: Option<String>,
    port: Option<u16>,
    force: bool,
    given: Option<GivenSecret>,
) -> Result<ProbeReport, Error> {
    let reading::Reading { set, breakage } = reading::read(ctx)?;
    let hosts: Vec<Host> = set
        .hosts_named(name)
        .into_iter()
        .filter(|h| h.is_external())
        .collect();
    if hosts.is_empty() {
        return Err(not_found(ctx, &set, name));
    }
    // The secret prosody uses: the last block's that sets one, else the
    // global section's.
    let configured = set.effective_secret(&hosts).map(|(s, file, _)| (s, file));
    let literal = configured
        .as_ref()
        .and_then(|(s, file)| behind(name, s, file).ok());
    let secret = match &given {
        Some(g) => g.secret.clone(),
        None => {
            let (s, file) = configured.as_ref().ok_or_else(|| {
                Error::NotFound(Missing::Secret {
                    name: name.to_string(),
                    to: "probe with",
                })
            })?;
            behind(name, s, file)?
        }
    };
    refuse_kick_old(&set, &hosts, name, force)?;
    let listener = crate::prosody::listener::effective(&set).map_err(Error::refused)?;
    let port = port_of(&listener, port)?;
    let host = host.unwrap_or_else(|| listener.local_address());
    // prosody knows the component by nameprep's form of its name and
    // matches a connecting one's name as sent: that form is the one to use.
    let to = String::from_utf8_lossy(&crate::prosody::names::fold(name.as_bytes())).into_owned();
    let outcome = crate::system::probe::handshake(&host, port, &to, &secret);
    let matches_config = given
        .as_ref()
        .and_then(|g| literal.as_ref().map(|l| *l == g.secret));
    let (hint, restart_pending) = hint(&set, name, given.as_ref(), &outcome, matches_config);
    let hint = match super::plan::spelling(name, &hosts) {
        Some(crate::diagnostics::Note::ConnectAs { written, known_as }) => {
            format!("{hint}; {}", connect_as(&written, &known_as))
        }
        _ => hint,
    };
    Ok(ProbeReport {
        name: name.to_string(),
        host,
        port,
        hint,
        outcome,
        secret_from: given.as_ref().map_or("config", |g| g.from),
        matches_config,
        restart_pending,
        breakage,
    })
}

/// The secret `s` (of `name`, set in `file`) stands for: a literal, or the
/// value behind prosody 13's Credential()/FileContents() (decrypted into
/// memory as root, or read from the file).
fn behind(
    name: &str,
    s: &crate::document::Value<'_>,
    file: &std::path::Path,
) -> Result<Vec<u8>, Error> {
    use crate::diagnostics::secret_refs::{describe, Resolved};
    use crate::system::secret_refs::Resolver;
    if let Some(l) = s.literal() {
        return Ok(l);
    }
    let Some(r) = s.secret_ref() else {
        return Err(Error::refused(refusal::Probe::Expression {
            name: name.to_string(),
        }));
    };
    match Resolver::from_env().resolve(&r, file) {
        Resolved::Value(v) => Ok(v),
        Resolved::Missing(why) | Resolved::Unverified(why) => {
            Err(Error::refused(refusal::Probe::Unreadable {
                name: name.to_string(),
                from: describe(&r),
                why: why.to_string(),
            }))
        }
    }
}

/// A component set to kick_old would lose its live session to our probe:
/// refused unless `force`.
fn refuse_kick_old(
    set: &crate::prosody::config::ConfigSet,
    hosts: &[Host],
    name: &str,
    force: bool,
) -> Result<(), Error> {
    let kick_old = hosts.iter().any(|h| {
        let doc = &set.files[h.at.file].doc;
        doc.section_options(h.at.stmt).iter().any(|o| {
            o.name == "component_conflict_resolve"
                && o.value.as_ref().and_then(|v| v.literal()).as_deref() == Some(&b"kick_old"[..])
        })
    });
    if kick_old && !force {
        return Err(Error::refused(refusal::Probe::KickOld {
            name: name.to_string(),
        }));
    }
    Ok(())
}

/// The port to probe: the one given, else the component listener's. With
/// no component listener there is nothing to probe, unless told where.
fn port_of(listener: &crate::prosody::listener::Listener, port: Option<u16>) -> Result<u16, Error> {
    match (port, listener.closed(), listener.ports.first()) {
        (Some(p), _, _) => Ok(p),
        (None, None, Some(&p)) => Ok(p),
        (None, why, _) => Err(Error::refused(refusal::Probe::NoPort {
            why: why.unwrap_or_default(),
            default: crate::prosody::listener::DEFAULT_PORT,
        })),
    }
}

/// `probe` of a name the config has no external component of, with a
/// "did you mean" for a likely typo.
fn not_found(ctx: &Context, set: &crate::prosody::config::ConfigSet, name: &str) -> Error {
    let hint = super::plan::did_you_mean(set, name);
    Error::NotFound(Missing::External {
        name: name.to_string(),
        config: ctx.config.clone(),
        hint: Some(hint),
    })
}

/// What to do next, and whether it is the restart a credential changed
/// since prosody started needs: refused with the secret on disk, that is
/// the likeliest reason, and a reload would not help.
fn hint(
    set: &crate::prosody::config::ConfigSet,
    name: &str,
    given: Option<&GivenSecret>,
    outcome: &crate::system::probe::Outcome,
    matches_config: Option<bool>,
) -> (String, bool) {
    let refused = *outcome == crate::system::probe::Outcome::NotAuthorized;
    if refused && (given.is_none() || matches_config == Some(true)) {
        let pending: Vec<_> = super::pending_in(set)
            .into_iter()
            .filter(|p| crate::prosody::names::same(&p.component, name))
            .collect();
        if !pending.is_empty() {
            return (super::pending_text(&pending), true);
        }
    }
    let hint = match given {
        Some(g) => given_hint(name, g, outcome, matches_config),
        None => outcome.hint(),
    };
    (hint, false)
}

/// What the outcome says about the component's copy of the secret, and
/// what to do next. Careful: prosody answers `conflict` before it checks a
/// secret, so then the copy is not verified; and the running prosody may
/// not have loaded the config yet, so "differs from the running server"
/// and "differs from the config" are told apart.
fn given_hint(
    name: &str,
    g: &GivenSecret,
    outcome: &crate::system::probe::Outcome,
    matches_config: Option<bool>,
) -> String {
    use crate::system::probe::Outcome;
    let it = &g.named;
    let config = match matches_config {
        Some(true) => "it equals the config's component_secret",
        Some(false) => "it differs from the config's component_secret",
        None => "the config's component_secret is not a literal to compare with",
    };
    let fix = g
        .fix
        .as_ref()
        .map(|f| format!("; if it is the right one, make prosody use it with: {f}"))
        .unwrap_or_default();
    match (outcome, matches_config) {
        (Outcome::Accepted, Some(false)) => format!(
            "{it} is accepted by the running prosody, but {config}: the next reload or restart will refuse it{fix}"
        ),
        (Outcome::Accepted, _) => format!("{it} is accepted by prosody"),
        (Outcome::NotAuthorized, Some(true)) => format!(
            "{it} differs from the secret the running prosody has for {name}, but {config}: prosody has not loaded the config yet: {}",
            crate::text::remedy::Remedy::Reload
        ),
        (Outcome::NotAuthorized, _) => format!(
            "{it} differs from the secret prosody has for {name} ({config}){fix}"
        ),
        (Outcome::Conflict, _) => format!(
            "{name} is connected right now (good news about the server), so prosody refused a second session before checking any secret: {it} was not verified by prosody; {config}"
        ),
        _ => outcome.hint(),
    }
}
