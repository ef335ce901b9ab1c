//! `probe`: the XEP-0114 handshake for a component, with the secret and
//! the listener the config gives it.

use serde::Serialize;

use super::reading::{self, Breakage};
use super::{Context, Error};
use crate::config::Host;

/// What `probe` found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub name: String,
    pub host: String,
    pub port: u16,
    #[serde(flatten)]
    pub outcome: crate::probe::Outcome,
    pub hint: &'static str,
    /// A broken config is read as far as it parses (or from its last good
    /// backup) for the secret and the listener: `"broken"`, `"source"`, ….
    #[serde(flatten)]
    pub breakage: Breakage,
}

/// Makes the XEP-0114 handshake for `name` with its configured secret.
pub fn probe(
    ctx: &Context,
    name: &str,
    host: Option<String>,
    port: Option<u16>,
    force: bool,
) -> Result<ProbeReport, Error> {
    let reading::Reading { set, breakage } = reading::read(ctx)?;
    let hosts: Vec<Host> = set
        .hosts_named(name)
        .into_iter()
        .filter(|h| h.is_external())
        .collect();
    if hosts.is_empty() {
        return Err(Error::NotFound(format!(
            "there is no external Component {name} in {} or its includes",
            ctx.config.display()
        )));
    }
    let secret =
        hosts.iter().rev().find_map(|h| h.secret()).ok_or_else(|| {
            Error::NotFound(format!("{name} has no component_secret to probe with"))
        })?;
    let secret = secret.literal().ok_or_else(|| {
        Error::refused(format!(
            "the component_secret of {name} is an expression; cannot probe with it"
        ))
    })?;
    // A component set to kick_old would lose its live session to our probe.
    let kick_old = hosts.iter().any(|h| {
        let doc = &set.files[h.at.file].doc;
        doc.section_options(h.at.stmt).iter().any(|o| {
            o.name == "component_conflict_resolve"
                && o.value.as_ref().and_then(|v| v.literal()).as_deref() == Some(&b"kick_old"[..])
        })
    });
    if kick_old && !force {
        return Err(Error::refused(format!(
            "{name} has component_conflict_resolve = \"kick_old\": a probe would disconnect its live session; use --force if it is not connected"
        )));
    }
    let listener = crate::listener::effective(&set).map_err(Error::refused)?;
    // With no component listener there is nothing to probe, unless told where.
    let port = match (port, listener.closed(), listener.ports.first()) {
        (Some(p), _, _) => p,
        (None, None, Some(&p)) => p,
        (None, why, _) => {
            return Err(Error::refused(format!(
                "{}; set one with fogbow-xmpp-ctl listen --port {}, or probe elsewhere with --port",
                why.unwrap_or_default(),
                crate::listener::DEFAULT_PORT
            )))
        }
    };
    let host = host.unwrap_or_else(|| listener.local_address());
    let outcome = crate::probe::handshake(&host, port, name, &secret);
    Ok(ProbeReport {
        name: name.to_string(),
        host,
        port,
        hint: outcome.hint(),
        outcome,
        breakage,
    })
}
