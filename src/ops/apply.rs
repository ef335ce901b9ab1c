//! The running prosody brought to the file's state, and proof that it
//! serves it: after a restart, every component listener the config declares
//! accepts connections; after a reload, the external components the file
//! declares are activated through prosody's admin shell (a reload alone
//! does not start or stop them) and those it no longer declares are
//! deactivated, and each activated one is known to the server (a handshake
//! no longer gets `host-unknown`). Also `status`: file and server compared.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::pipeline::load_config;
use super::reading::{self, Breakage};
use super::{probe, Action, Context, EditOutcome, Event};
use crate::error::Error;
use crate::system::running::{self, PendingRestart};
use crate::text::remedy::Remedy;

/// A name as prosody compares it (nameprep).
fn key(name: &str) -> String {
    String::from_utf8_lossy(&crate::prosody::names::fold(name.as_bytes())).into_owned()
}

/// The external components the file declares (literal names, as prosody
/// compares them), and whether that is all of them: a name computed by an
/// expression, or an Include with a computed path, may declare others, and
/// then nothing the server runs is deactivated as "gone".
struct FileComponents {
    names: BTreeSet<String>,
    complete: bool,
}

fn file_components(ctx: &Context) -> Result<FileComponents, Error> {
    Ok(FileComponents::of(&load_config(&ctx.config)?))
}

impl FileComponents {
    fn of(set: &crate::prosody::config::ConfigSet) -> FileComponents {
        let external: Vec<_> = set.hosts().filter(|h| h.is_external()).collect();
        FileComponents {
            names: external
                .iter()
                .filter_map(|h| h.literal_name())
                .map(|n| key(&n))
                .collect(),
            complete: external.iter().all(|h| h.literal_name().is_some())
                && set.unresolved_includes.is_empty(),
        }
    }
}

/// The external components whose secret prosody reads with
/// `Credential("NAME")`, with NAME (the last block's secret wins, as in
/// prosody), as prosody compares their names.
fn credential_components(set: &crate::prosody::config::ConfigSet) -> Vec<(String, String)> {
    use crate::document::SecretRefKind;
    let mut by_name = std::collections::BTreeMap::new();
    for h in set.hosts().filter(|h| h.is_external()) {
        let (Some(name), Some(secret)) = (h.literal_name(), h.secret()) else {
            continue;
        };
        let credential = secret
            .secret_ref()
            .filter(|r| r.kind == SecretRefKind::Credential && !r.arg.starts_with(b"/"))
            .map(|r| String::from_utf8_lossy(&r.arg).into_owned());
        by_name.insert(key(&name), credential);
    }
    by_name
        .into_iter()
        .filter_map(|(n, c)| Some((n, c?)))
        .collect()
}

/// The components of `set` whose credential changed since the running
/// prosody loaded it: a restart (or reload) is pending (see
/// [`running::pending_restart`]).
pub(crate) fn pending_in(set: &crate::prosody::config::ConfigSet) -> Vec<PendingRestart> {
    running::pending_restart(&credential_components(set))
}

/// [`pending_in`] the config; none when it does not load (the check
/// that comes next says why).
pub(crate) fn restart_pending(ctx: &Context) -> Vec<PendingRestart> {
    load_config(&ctx.config)
        .map(|set| pending_in(&set))
        .unwrap_or_default()
}

/// What a pending restart is, for messages: which credentials, and
/// whether a reload applies them (systemd refreshes credentials at a
/// reload) or why only a restart does; and the command that applies them.
pub(crate) fn pending_reason(pending: &[PendingRestart]) -> (String, Remedy) {
    let which: Vec<String> = pending
        .iter()
        .map(|p| format!("{} (credential {})", p.component, p.credential))
        .collect();
    let which = which.join(", ");
    match pending.iter().find_map(|p| p.why) {
        None => (format!(
            "a reload is pending: the running prosody has other credentials than the ones on disk for {which}; systemd refreshes them at a reload (RefreshOnReload=credentials)"
        ), Remedy::Reload),
        Some(why) => (format!(
            "a restart is pending: the running prosody has other credentials than the ones on disk for {which}; a reload cannot apply them, as {}",
            why.reason()
        ), Remedy::Restart),
    }
}

/// A pending credential as one sentence: which credentials, why, and the
/// command that applies them (`pending_reason`, joined with its remedy).
pub fn pending_text(pending: &[PendingRestart]) -> String {
    let (reason, remedy) = pending_reason(pending);
    format!("{reason}: {remedy}")
}

fn deadline(ctx: &Context) -> Instant {
    Instant::now() + Duration::from_secs(ctx.settings.apply_timeout_secs)
}

/// The admin shell's failure `e` (`detail` said after it), and the way out.
fn shell_error(e: running::ShellError, detail: &str) -> Error {
    Error::system(format!(
        "prosody's admin shell is unavailable ({e}{detail}); components are started and stopped only through it or by a restart: {}",
        Remedy::Restart
    ), e)
}

/// After a restart: waits until every component listener accepts TCP
/// connections (prosody opens the component port only while at least one
/// external component is configured). Returns what it waited for.
pub(crate) fn wait_after_restart(ctx: &Context) -> Result<Option<Event>, Error> {
    let set = load_config(&ctx.config)?;
    if !set.hosts().any(|h| h.is_external()) {
        return Ok(None);
    }
    let l = crate::prosody::listener::effective(&set).map_err(Error::refused)?;
    if l.closed().is_some() {
        return Ok(None);
    }
    let targets = running::local_targets(&l.interfaces, &l.ports);
    let pending = running::wait_accepting(&targets, deadline(ctx));
    if pending.is_empty() {
        Ok(Some(Event::ListenerAccepting { targets }))
    } else {
        Err(Error::Service { message: format!(
            "prosody is active, but its component listener does not accept connections on {} after {} s (apply_timeout_secs): see journalctl -u prosody",
            pending.join(", "),
            ctx.settings.apply_timeout_secs
        ), remedy: None })
    }
}

/// After a restart: waits until prosody's admin shell answers (bounded by
/// `apply_timeout_secs`), which it does a moment after its listeners
/// accept: asked earlier, it gives no answer to conclude anything from.
pub(crate) fn wait_for_shell(ctx: &Context) -> Result<(), Error> {
    running::hosts_by(deadline(ctx)).map(|_| ()).map_err(|e| {
        let detail = format!(
            "; still {} s after the restart (apply_timeout_secs)",
            ctx.settings.apply_timeout_secs
        );
        shell_error(e, &detail)
    })
}

/// The hosts of the running server. Within `apply_timeout_secs` of
/// prosody's start (`restart && status`), asked again until the admin
/// shell answers: it does a moment after the listeners accept.
fn running_hosts(ctx: &Context) -> Result<Vec<running::RunningHost>, Unanswered> {
    let e = match running::hosts() {
        Ok(hosts) => return Ok(hosts),
        Err(e) => e,
    };
    let timeout = Duration::from_secs(ctx.settings.apply_timeout_secs);
    let left = crate::system::service::active_since().and_then(|t| {
        (t + timeout)
            .duration_since(std::time::SystemTime::now())
            .ok()
    });
    match left {
        Some(left) if crate::system::service::is_active() => {
            running::hosts_by(Instant::now() + left).map_err(|later| Unanswered {
                error: later,
                after_start: Some(ctx.settings.apply_timeout_secs),
            })
        }
        _ => Err(Unanswered {
            error: e,
            after_start: None,
        }),
    }
}

/// Why [`running_hosts`] has no answer: the admin shell's failure, and
/// whether it still failed that many seconds after prosody started.
struct Unanswered {
    error: running::ShellError,
    after_start: Option<u64>,
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        match self.after_start {
            Some(secs) => write!(f, "; {secs} s after prosody started"),
            None => Ok(()),
        }
    }
}

/// After a reload: activates the file's external components the server
/// lacks, deactivates the external components it has that the file no
/// longer declares (never a VirtualHost or a plugin component), and waits
/// until each activated one is known to the server. Returns what it did.
pub(crate) fn converge(ctx: &Context) -> Result<Vec<Event>, Error> {
    let file = file_components(ctx)?;
    let have = running::hosts().map_err(|e| shell_error(e, ""))?;
    let mut said = Vec::new();
    let mut activated = Vec::new();
    for name in &file.names {
        match have.iter().find(|h| key(&h.name) == *name) {
            Some(h) if h.is_external() => {}
            Some(h) => said.push(Event::NotExternal {
                name: name.clone(),
                kind: h.kind.clone(),
            }),
            None => {
                activate(ctx, name)?;
                activated.push(name.clone());
            }
        }
    }
    for h in have.iter().filter(|h| h.is_external()) {
        if !file.names.contains(&key(&h.name)) {
            said.push(deactivate(&file, &h.name)?);
        }
    }
    if !activated.is_empty() {
        await_known(ctx, &activated)?;
        for name in &activated {
            said.push(Event::Activated { name: name.clone() });
        }
    }
    Ok(said)
}

/// Activates `name` once the running prosody has read the file that
/// declares it (the reload is a signal: it may not have yet).
fn activate(ctx: &Context, name: &str) -> Result<(), Error> {
    let end = deadline(ctx);
    loop {
        match running::loaded_as_component(name) {
            Ok(true) => break,
            Ok(false) if Instant::now() < end => std::thread::sleep(Duration::from_millis(100)),
            Ok(false) => {
                return Err(Error::Service { message: format!(
                    "{name} is not an external component in the config the running prosody has loaded, {} s after the reload (apply_timeout_secs): see journalctl -u prosody",
                    ctx.settings.apply_timeout_secs
                ), remedy: None })
            }
            Err(e) => return Err(shell_error(e, "")),
        }
    }
    crate::system::service::set_active(name, true).map_err(|e| {
        let message = format!(
            "{name} is not active in the running prosody: {e}; {}",
            Remedy::Restart
        );
        Error::system(message, e)
    })
}

/// Deactivates `name`, an external component the server runs and the file
/// no longer declares, unless the file may declare it by an expression.
/// Returns what it did.
fn deactivate(file: &FileComponents, name: &str) -> Result<Event, Error> {
    let name = name.to_string();
    if !file.complete {
        return Ok(Event::NotDeactivated { name });
    }
    crate::system::service::set_active(&name, false).map_err(|e| {
        let message = format!(
            "{name} is still active in the running prosody: {e}; {}",
            Remedy::Restart
        );
        Error::system(message, e)
    })?;
    Ok(Event::Deactivated { name })
}

/// Waits until every component of `activated` is known to the server: a
/// handshake with a wrong secret on purpose, which prosody answers
/// not-authorized for a known component (and never disconnects a live
/// session for).
fn await_known(ctx: &Context, activated: &[String]) -> Result<(), Error> {
    let set = load_config(&ctx.config)?;
    let l = crate::prosody::listener::effective(&set).map_err(Error::refused)?;
    let (host, port) = (l.local_address(), l.ports.first().copied());
    let end = deadline(ctx);
    let mut unknown = Vec::new();
    for name in activated {
        let Some(port) = port else { break };
        loop {
            let o = crate::system::probe::handshake(
                &host,
                port,
                name,
                b"fogbow-xmpp-ctl readiness probe",
            );
            let known = !matches!(
                o,
                crate::system::probe::Outcome::HostUnknown
                    | crate::system::probe::Outcome::ConnectionError(_)
            );
            if known {
                break;
            }
            if Instant::now() >= end {
                unknown.push(format!("{name} ({o:?})"));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::Service {
        message: format!(
            "activated, but not known to the running prosody after {} s (apply_timeout_secs): {}",
            ctx.settings.apply_timeout_secs,
            unknown.join(", ")
        ),
        remedy: Some(Remedy::Restart),
    })
}

/// After a guarded reload for an edit: the running server brought to the
/// file's state ([`converge`]), and an added component proven with a
/// handshake with its own secret. Returns what it did.
pub(crate) fn apply_to_running(ctx: &Context, o: &EditOutcome) -> Result<Vec<Event>, Error> {
    let name = key(&o.name);
    // An added component's activation is said once, with its proof.
    let mut said: Vec<Event> = converge(ctx)?
        .into_iter()
        .filter(|e| {
            !(o.action == Action::Added && matches!(e, Event::Activated { name: n } if *n == name))
        })
        .collect();
    if o.action == Action::Replaced {
        // A reload is a signal: wait until prosody has read the new secret.
        let end = deadline(ctx);
        loop {
            match probe(ctx, &o.name, None, None, false) {
                Ok(r) if r.outcome.ok() => {
                    said.push(Event::SecretAccepted {
                        name: o.name.clone(),
                    });
                    break;
                }
                Ok(r) if Instant::now() >= end => {
                    return Err(Error::Service { message: format!(
                        "prosody reloaded, but the new secret of {} is not accepted after {} s (apply_timeout_secs): the handshake probe says {:?}",
                        o.name, ctx.settings.apply_timeout_secs, r.outcome
                    ), remedy: None })
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(100)),
                // kick_old components are not probed.
                Err(_) => break,
            }
        }
    }
    if o.action == Action::Added {
        match probe(ctx, &o.name, None, None, false) {
            Ok(r) if r.outcome.ok() => said.push(Event::ActivatedAccepted {
                name: o.name.clone(),
            }),
            Ok(r) => {
                return Err(Error::Service {
                    message: format!(
                        "{} was activated, but the handshake probe says {:?}: {}",
                        o.name, r.outcome, r.hint
                    ),
                    remedy: None,
                })
            }
            // kick_old components are not probed; the activation itself succeeded.
            Err(e) => said.push(Event::ActivatedNotProbed {
                name: o.name.clone(),
                error: e.to_string(),
            }),
        }
    }
    Ok(said)
}

/// One component in `status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ComponentStatus {
    pub name: String,
    /// The file declares it (an external component).
    pub in_file: bool,
    /// The running server has it as an external component.
    pub active: bool,
    /// A component connection is live right now.
    pub connected: bool,
    /// Its credential changed since the running prosody loaded it: a
    /// restart applies it (a reload too where the pending entry says so).
    pub restart_pending: bool,
}

/// `status`: the file's external components and the running server's.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub components: Vec<ComponentStatus>,
    /// Every component in the file is active, every active one is in the
    /// file, and no restart is pending.
    pub in_sync: bool,
    /// The components whose credential changed since prosody started.
    pub restart_pending: Vec<PendingRestart>,
    /// A broken config is compared as far as it parses (or from its last
    /// good backup): `"broken"`, `"source"`, … (see [`Breakage`]).
    #[serde(flatten)]
    pub breakage: Breakage,
}

/// `status`; a config that does not load is read as far as it parses:
/// the running server still runs what it loaded before, which is what an
/// operator then needs to see.
pub fn status(ctx: &Context) -> Result<StatusReport, Error> {
    let reading::Reading { set, breakage } = reading::read(ctx)?;
    let want = FileComponents::of(&set).names;
    let have = running_hosts(ctx).map_err(|e| {
        // prosodyctl reads the config before it connects to the admin
        // shell: with a broken config it never asks the server.
        let unread = breakage.broken || e.error.config_unreadable();
        let message = match unread {
            true => format!("cannot ask the running prosody: its admin shell client (prosodyctl) could not read the config ({e}); the running server keeps the config it loaded before"),
            false => format!("cannot ask the running prosody ({e}); is it running, with mod_admin_shell?"),
        };
        match breakage.broken {
            // The breakage is still the first thing to say.
            true => Error::refused_with(
                crate::error::refusal::Edit::BrokenAndUnasked {
                    message,
                    errors: breakage.diagnostics.len(),
                    error: e.error,
                },
                breakage.diagnostics.clone(),
            ),
            false => Error::system(message, e.error),
        }
    })?;
    let active: BTreeSet<String> = have
        .iter()
        .filter(|h| h.is_external())
        .map(|h| key(&h.name))
        .collect();
    let restart_pending = pending_in(&set);
    let mut components = Vec::new();
    for name in want.union(&active) {
        let is_active = active.contains(name);
        let connected = is_active && running::connected(name)?;
        components.push(ComponentStatus {
            name: name.clone(),
            in_file: want.contains(name),
            active: is_active,
            connected,
            restart_pending: restart_pending.iter().any(|p| p.component == *name),
        });
    }
    let in_sync = components.iter().all(|c| c.in_file == c.active) && restart_pending.is_empty();
    Ok(StatusReport {
        components,
        in_sync,
        restart_pending,
        breakage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::remedy::AtStartOnly;

    fn pending(why: Option<AtStartOnly>) -> PendingRestart {
        PendingRestart {
            component: "m.example".into(),
            credential: "c".into(),
            by_reload: why.is_none(),
            why,
        }
    }

    /// The sentence reload, status, doctor, probe and an edit applied by
    /// reload all say: which credentials, why, and the command.
    #[test]
    fn a_pending_credential_is_told_with_its_remedy() {
        assert_eq!(
            pending_text(&[pending(Some(AtStartOnly::NoRefresh))]),
            "a restart is pending: the running prosody has other credentials than the ones on disk for m.example (credential c); a reload cannot apply them, as this systemd hands a service its credentials at start only (RefreshOnReload= came in systemd 260): run fogbow-xmpp-ctl restart"
        );
        assert_eq!(
            pending_text(&[pending(None)]),
            "a reload is pending: the running prosody has other credentials than the ones on disk for m.example (credential c); systemd refreshes them at a reload (RefreshOnReload=credentials): run fogbow-xmpp-ctl reload"
        );
    }
}
