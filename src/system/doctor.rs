//! `doctor`: the Fogbow install guide's checklist, one item at a time, for
//! each external component — the places operators go wrong after the edit.

use std::collections::HashSet;
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config::ConfigSet;
use crate::diagnostics::{self, CheckOptions, Severity};
use crate::listener::Listener;

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The component it is about; `None` for the server as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    pub check: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub items: Vec<Item>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn item(
    component: Option<&str>,
    check: &str,
    ok: bool,
    detail: String,
    hint: Option<String>,
) -> Item {
    Item {
        component: component.map(String::from),
        check: check.into(),
        ok,
        detail,
        hint: if ok { None } else { hint },
    }
}

/// The addresses of this machine's interfaces.
fn local_addresses() -> HashSet<IpAddr> {
    let mut out = HashSet::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            if let Some(sa) = a.address {
                if let Some(v4) = sa.as_sockaddr_in() {
                    out.insert(IpAddr::V4(v4.ip()));
                } else if let Some(v6) = sa.as_sockaddr_in6() {
                    out.insert(IpAddr::V6(v6.ip()));
                }
            }
        }
    }
    out
}

fn listening(host: &str, port: u16) -> Result<(), String> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{a}: {}", crate::secret::plain_io(&e)),
        }
    }
    Err(last)
}

/// Runs the checklist on the config at `main` (already loaded as `set`):
/// the server's items, then each external component's, in the order the
/// install guide has an operator do them.
pub fn run(main: &Path, set: &ConfigSet, listener: &Listener, public: &[IpAddr]) -> Report {
    let mut items = vec![
        config_passes_check(main),
        s2s_port_listens(set),
        component_port_reachable(listener),
        component_port_open_to_others(listener),
    ];
    let mine: HashSet<IpAddr> = local_addresses()
        .into_iter()
        .chain(public.iter().copied())
        .collect();
    for h in set.hosts().filter(|h| h.is_external()) {
        let Some(name) = h.literal_name() else {
            continue;
        };
        items.extend(name_resolves_here(&name, &mine));
        items.push(secret_is_strong(&name, h.secret()));
    }
    Report {
        ok: items.iter().all(|i| i.ok),
        items,
    }
}

/// The config passes `check`, prosody's own loader included.
fn config_passes_check(main: &Path) -> Item {
    let check = diagnostics::check_config(
        main,
        CheckOptions {
            with_prosody: true,
            strict: false,
        },
    );
    let errors = check
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    item(
        None,
        "config passes check",
        check.ok,
        format!("{errors} error(s) in {} file(s)", check.files.len()),
        Some("run fogbow-xmpp-ctl check to see them".into()),
    )
}

/// Federation needs the server-to-server port. An empty `s2s_ports = { }`
/// opens no port (prosody's portmanager binds each listed port): say so
/// rather than test a port prosody never opens.
fn s2s_port_listens(set: &ConfigSet) -> Item {
    let s2s = match crate::listener::s2s_ports(set) {
        Ok(p) => match p.first() {
            Some(&port) => listening("127.0.0.1", port)
                .map(|()| format!("port {port} accepts connections"))
                .map_err(|e| format!("port {port}: {e}")),
            None => Err(
                "the global s2s_ports is an empty list, so prosody opens no server-to-server port"
                    .into(),
            ),
        },
        Err(e) => Err(e),
    };
    item(
        None,
        "server-to-server port listens",
        s2s.is_ok(),
        s2s.unwrap_or_else(|e| e),
        Some("is prosody running? federation needs its server-to-server port (s2s_ports, 5269 by default) open to the world".into()),
    )
}

/// The component listener accepts connections here.
fn component_port_reachable(listener: &Listener) -> Item {
    let reach = match (listener.closed(), listener.ports.first()) {
        (None, Some(&port)) => {
            let at = listener.local_address();
            listening(&at, port).map(|()| format!("{at}:{port} accepts connections"))
        }
        (why, _) => Err(why.unwrap_or_default()),
    };
    let hint = if listener.closed().is_some() {
        format!(
            "set a port (and an interface) for components: fogbow-xmpp-ctl listen --port {}",
            crate::listener::DEFAULT_PORT
        )
    } else {
        "prosody opens the component port only while it runs with at least one external component: fogbow-xmpp-ctl restart".into()
    };
    item(
        None,
        "component port reachable",
        reach.is_ok(),
        reach.unwrap_or_else(|e| e),
        Some(hint),
    )
}

/// Fogbow's components usually run on other machines: the listener must
/// not be loopback only.
fn component_port_open_to_others(listener: &Listener) -> Item {
    item(
        None,
        "component port open to other machines",
        listener.remote_reachable() && listener.closed().is_none(),
        match listener.closed() {
            Some(why) => why,
            None => format!("prosody accepts components on {}", listener.interfaces.join(", ")),
        },
        Some("a Fogbow component on another machine cannot connect: fogbow-xmpp-ctl listen --interface 0.0.0.0 (and open the port to the intranet only)".into()),
    )
}

/// The component's name resolves, and to an address of this machine (or
/// one given with `--public-address`): one item, or two once it resolves.
fn name_resolves_here(name: &str, mine: &HashSet<IpAddr>) -> Vec<Item> {
    let addrs: Vec<IpAddr> = match (name, 0).to_socket_addrs() {
        Ok(a) => a.map(|s| s.ip()).collect(),
        Err(e) => {
            return vec![item(
                Some(name),
                "name resolves",
                false,
                e.to_string(),
                Some(format!(
                    "add an A/AAAA record for {name} pointing to this machine's public address"
                )),
            )]
        }
    };
    let shown = addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        item(Some(name), "name resolves", true, shown.clone(), None),
        item(
            Some(name),
            "name points to this machine",
            addrs.iter().any(|a| mine.contains(a)),
            shown,
            Some(format!("{name} must resolve to this machine's (public) address; pass it with --public-address if it is NATed")),
        ),
    ]
}

/// The component's secret is set and not weak (the rule `check` uses).
fn secret_is_strong(name: &str, secret: Option<crate::document::Value<'_>>) -> Item {
    let weak = match secret {
        None => Some("no component_secret".to_string()),
        Some(s) => match s.literal() {
            Some(l) if diagnostics::weak_secret(&l) => {
                Some("a placeholder, or shorter than 16 bytes".into())
            }
            _ => None,
        },
    };
    item(
        Some(name),
        "secret is strong",
        weak.is_none(),
        weak.unwrap_or_else(|| "set".into()),
        Some(format!(
            "fogbow-xmpp-ctl add {name} --generate-secret --replace"
        )),
    )
}
