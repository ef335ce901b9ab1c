//! `doctor`: the Fogbow install guide's checklist, one item at a time, for
//! each external component — the places operators go wrong after the edit.
//!
//! Besides the config and the ports, it reads what the running system says:
//! the sockets actually listening (`/proc/net/tcp{,6}`, no extra tool), and
//! prosody's own log (the files its `log` option names, and the journal of
//! `prosody.service`) for recent "Component authentication failed for NAME"
//! lines: the one sign that a component's `.properties` secret differs from
//! prosody's. Every part that takes input from the system (the resolved
//! addresses, `/etc/hosts`, the log, `/proc`) is a function of that input,
//! so it is tested with it; the binary reads the real thing.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::diagnostics::{self, CheckOptions, Diagnostic, Severity};
use crate::document::lexer::{self, Sym, Tok};
use crate::document::{Owner, Statement};
use crate::ops::Breakage;
use crate::prosody::config::ConfigSet;
use crate::prosody::listener::Listener;
use crate::secret::Unreadable;

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
    /// Passes, but needs the operator's attention (a component port open on
    /// every interface: only a firewall keeps the internet out). Shown ⚠.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warn: bool,
    /// For "config passes check": every error and warning `check` reports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub items: Vec<Item>,
    /// Whether the config loads; when not, what the checklist read instead.
    #[serde(flatten)]
    pub config: Breakage,
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
        warn: false,
        diagnostics: Vec::new(),
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

fn listening(host: &str, port: u16) -> Result<(), NotListening> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(NotListening::Resolve)?
        .collect();
    let mut last = NotListening::NoAddress;
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = NotListening::Refused(a, e),
        }
    }
    Err(last)
}

/// Why [`listening`] found nothing accepting connections.
#[derive(Debug)]
enum NotListening {
    /// The host does not resolve.
    Resolve(std::io::Error),
    /// It resolves to no address.
    NoAddress,
    /// The last of its addresses refused, or did not answer.
    Refused(SocketAddr, std::io::Error),
}

impl std::fmt::Display for NotListening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotListening::Resolve(e) => std::fmt::Display::fmt(e, f),
            NotListening::NoAddress => f.write_str("no address"),
            NotListening::Refused(a, e) => write!(f, "{a}: {}", crate::text::plain_io(e)),
        }
    }
}

/// Runs the checklist on the config at `main` (read as `set`; `config`
/// says whether that is all of it), loaded by the prosody in `prosody_lib`:
/// the server's items, then each external component's, in the order the
/// install guide has an operator do them.
pub(crate) fn run(
    main: &Path,
    prosody_lib: &Path,
    set: &ConfigSet,
    listener: &Listener,
    public: &[IpAddr],
    config: Breakage,
    pending: &[crate::system::running::PendingRestart],
) -> Report {
    let sockets = listening_sockets();
    let mut items = vec![config_passes_check(main, prosody_lib, &config)];
    items.extend(no_unmerged_package_config(main));
    items.push(s2s_port_listens(set));
    items.extend(s2s_open_to_other_sites(set, sockets.as_deref()));
    items.push(component_port_reachable(listener));
    items.push(component_port_open_to_others(listener));
    items.extend(component_ports_exposed(listener, sockets.as_deref()));
    let mine: HashSet<IpAddr> = local_addresses()
        .into_iter()
        .chain(public.iter().copied())
        .collect();
    let hosts = crate::secret::read_tail(Path::new("/etc/hosts"), 1 << 20).unwrap_or_default();
    let log = ProsodyLog::read(set, main);
    // One set of items per component, however many blocks declare it:
    // prosody merges them, and the secret it uses is the last one set.
    type Secret<'v> = Option<(crate::document::Value<'v>, &'v Path)>;
    let mut components: Vec<(Vec<u8>, String, Secret<'_>)> = Vec::new();
    for h in set.hosts().filter(|h| h.is_external()) {
        let Some(name) = h.literal_name() else {
            continue;
        };
        let folded = crate::prosody::names::fold(name.as_bytes()).into_owned();
        let secret = h.secret().map(|s| (s, set.files[h.at.file].path.as_path()));
        match components.iter_mut().find(|(f, _, _)| *f == folded) {
            Some((_, _, s)) => {
                if secret.is_some() {
                    *s = secret;
                }
            }
            None => components.push((folded, name, secret)),
        }
    }
    // A component whose blocks set none uses the global section's.
    let global = set
        .global_secret()
        .map(|g| (g.value, set.files[g.file].path.as_path()));
    let mut resolver = crate::system::secret_refs::Resolver::from_env();
    for (_, name, secret) in components {
        let secret = secret.or_else(|| global.clone());
        items.extend(name_resolves_here(&name, &mine, &hosts));
        items.push(secret_is_strong(&name, secret, &mut resolver));
        let restart = pending
            .iter()
            .find(|p| crate::prosody::names::same(&p.component, &name));
        items.extend(restart.map(restart_pending));
        let mut failures = no_authentication_failures(&name, &log);
        if let (Some(p), false) = (restart, failures.ok) {
            // Refused for the old credential: the .properties is not to blame.
            failures.hint = Some(crate::ops::pending_text(std::slice::from_ref(p)));
        }
        items.push(failures);
    }
    Report {
        ok: items.iter().all(|i| i.ok) && !config.broken,
        items,
        config,
    }
}

/// The config passes `check`, prosody's own loader included; every error
/// and warning is listed under the item (a warning such as a duplicate
/// component block can be what breaks a component's authentication).
fn config_passes_check(main: &Path, prosody_lib: &Path, config: &Breakage) -> Item {
    if config.broken {
        let read = match config.source {
            crate::ops::Source::Backup => "the rest of this checklist reads its last good backup",
            _ => "the rest of this checklist reads what parses of it",
        };
        return Item {
            diagnostics: config.diagnostics.clone(),
            ..item(
                None,
                "config passes check",
                false,
                format!(
                    "the config does not load: {} error(s); {read}",
                    config.diagnostics.len()
                ),
                Some("fix what is listed (fogbow-xmpp-ctl check); until then prosody refuses to start or reload, and edits are refused".into()),
            )
        };
    }
    let check = crate::ops::check_config(
        main,
        prosody_lib,
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
    let warnings = check.diagnostics.len() - errors;
    Item {
        diagnostics: check.diagnostics,
        ..item(
            None,
            "config passes check",
            check.ok,
            format!(
                "{errors} error(s), {warnings} warning(s) in {} file(s)",
                check.files.len()
            ),
            Some("fix the errors listed (fogbow-xmpp-ctl check shows them with their help)".into()),
        )
    }
}
/// An upgrade of prosody whose default config changed, on a config the
/// operator edited, leaves the package's version beside it as
/// `prosody.cfg.lua.dpkg-dist` (dpkg's conffile handling): new defaults and
/// options of the new version that this config does not have. Said only
/// when such a file is there.
fn no_unmerged_package_config(main: &Path) -> Option<Item> {
    let mut dist = main.as_os_str().to_owned();
    dist.push(".dpkg-dist");
    let dist = PathBuf::from(dist);
    std::fs::symlink_metadata(&dist).ok()?;
    Some(Item {
        warn: true,
        hint: Some(format!(
            "compare them (diff -u {} {}), merge what the new version needs into the config, then remove {}",
            main.display(),
            dist.display(),
            dist.display()
        )),
        ..item(
            None,
            "config from the package merged",
            true,
            format!(
                "{} is there: a package upgrade brought a new version of the config that is not merged into {}",
                dist.display(),
                main.display()
            ),
            None,
        )
    })
}

/// Federation needs the server-to-server port. An empty `s2s_ports = { }`
/// opens no port (prosody's portmanager binds each listed port): say so
/// rather than test a port prosody never opens.
fn s2s_port_listens(set: &ConfigSet) -> Item {
    let s2s = match crate::prosody::listener::s2s_ports(set) {
        Ok(p) => match p.first() {
            Some(&port) => listening("127.0.0.1", port)
                .map(|()| format!("port {port} accepts connections"))
                .map_err(|e| format!("port {port}: {e}")),
            None => Err(
                "the global s2s_ports is an empty list, so prosody opens no server-to-server port"
                    .into(),
            ),
        },
        Err(e) => Err(e.to_string()),
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
            listening(&at, port)
                .map(|()| format!("{at}:{port} accepts connections"))
                .map_err(|e| e.to_string())
        }
        (why, _) => Err(why.unwrap_or_default()),
    };
    let hint = if listener.closed().is_some() {
        format!(
            "set a port (and an interface) for components: fogbow-xmpp-ctl listen --port {}",
            crate::prosody::listener::DEFAULT_PORT
        )
    } else {
        format!(
            "prosody opens the component port only while it runs with at least one external component: {}",
            crate::text::remedy::Remedy::Restart.command()
        )
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

/// The sockets listening for TCP on this machine (in our network
/// namespace), from `/proc/net/tcp` and `/proc/net/tcp6`; `None` when
/// neither can be read.
fn listening_sockets() -> Option<Vec<SocketAddr>> {
    let mut out = Vec::new();
    let mut read_any = false;
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(text) = std::fs::read_to_string(path) {
            read_any = true;
            out.extend(parse_proc_net_tcp(&text, v6));
        }
    }
    read_any.then_some(out)
}

/// The listening sockets of a `/proc/net/tcp` (or `tcp6`) table: state
/// `0A` (LISTEN); the address is the kernel's network-order words printed
/// as native integers (so each 32-bit word is turned back into its bytes
/// in native order), the port plain hex.
pub(crate) fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 4 || fields[3] != "0A" {
            continue;
        }
        let Some((addr, port)) = fields[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port, 16) else {
            continue;
        };
        let words: Option<Vec<[u8; 4]>> = (0..addr.len() / 8)
            .map(|i| {
                u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                    .ok()
                    .map(u32::to_ne_bytes)
            })
            .collect();
        let ip = match (words.as_deref(), v6) {
            (Some([w]), false) => IpAddr::V4(Ipv4Addr::from(*w)),
            (Some(ws), true) if ws.len() == 4 => {
                let mut b = [0u8; 16];
                for (i, w) in ws.iter().enumerate() {
                    b[i * 4..i * 4 + 4].copy_from_slice(w);
                }
                IpAddr::V6(Ipv6Addr::from(b))
            }
            _ => continue,
        };
        out.push(SocketAddr::new(ip, port));
    }
    out
}

/// The addresses some socket listens on for `port`, as text.
fn bound(sockets: &[SocketAddr], port: u16) -> Vec<SocketAddr> {
    let mut v: Vec<SocketAddr> = sockets
        .iter()
        .copied()
        .filter(|s| s.port() == port)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn shown(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Federation: other sites connect to the server-to-server port, so it
/// must listen beyond loopback (and the firewall must let the world in).
/// Said only for a port something listens on: "listens" covers the rest.
fn s2s_open_to_other_sites(set: &ConfigSet, sockets: Option<&[SocketAddr]>) -> Vec<Item> {
    let (Some(sockets), Ok(ports)) = (sockets, crate::prosody::listener::s2s_ports(set)) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    for port in ports {
        let on = bound(sockets, port);
        if on.is_empty() {
            continue;
        }
        let open = on.iter().any(|a| !a.ip().is_loopback());
        items.push(item(
            None,
            "server-to-server port open to other sites",
            open,
            if open {
                format!("port {port} listens on {}; the firewall must let other sites (the internet) reach {port}/tcp", shown(&on))
            } else {
                format!("port {port} listens only on {}, a loopback address: other sites cannot connect", shown(&on))
            },
            Some(format!("federation needs port {port} reachable from other sites: let prosody listen on every interface (no interfaces/s2s_interfaces restricted to loopback) and open {port}/tcp in the firewall")),
        ));
    }
    items
}

/// The component port is for the Fogbow components' hosts only: open on
/// every interface, only a firewall keeps the internet from it (and the
/// component secret is then all that guards it).
fn component_ports_exposed(listener: &Listener, sockets: Option<&[SocketAddr]>) -> Vec<Item> {
    let Some(sockets) = sockets else {
        return Vec::new();
    };
    let mut items = Vec::new();
    for &port in &listener.ports {
        let on = bound(sockets, port);
        if on.is_empty() {
            continue;
        }
        let everywhere = on.iter().any(|a| a.ip().is_unspecified());
        let loopback = on.iter().all(|a| a.ip().is_loopback());
        // The sockets are seen here; the firewall is not: say what it must do.
        let detail = if everywhere {
            format!("port {port} listens on {}: every interface; only a firewall can keep the internet from it, and the firewall is not checked here", shown(&on))
        } else if loopback {
            format!(
                "port {port} listens only on {} (loopback): no other machine can connect",
                shown(&on)
            )
        } else {
            format!(
                "port {port} listens on {}; whether the internet can reach it depends on the firewall, which is not checked here",
                shown(&on)
            )
        };
        items.push(Item {
            warn: !loopback,
            hint: (!loopback).then(|| format!("check the firewall (nft list ruleset, or iptables -S): {port}/tcp must be open only to the hosts of the Fogbow components, never to the internet (unlike 5269, the federation port, which other sites must reach); from a machine outside, a connection to {port} must fail")),
            ..item(None, "component port exposure", true, detail, None)
        });
    }
    items
}

/// The component's name resolves, and to an address of this machine (or
/// one given with `--public-address`) that other sites can reach: one
/// item, or two once it resolves.
fn name_resolves_here(name: &str, mine: &HashSet<IpAddr>, hosts: &str) -> Vec<Item> {
    match (name, 0).to_socket_addrs() {
        Ok(a) => {
            let addrs: Vec<IpAddr> = a.map(|s| s.ip()).collect();
            let shown = addrs
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                item(Some(name), "name resolves", true, shown, None),
                points_here(name, &addrs, mine, hosts),
            ]
        }
        Err(e) => vec![item(
            Some(name),
            "name resolves",
            false,
            e.to_string(),
            Some(format!(
                "add an A/AAAA record for {name} pointing to this machine's public address"
            )),
        )],
    }
}

/// Debian's installer maps the machine's own host name to this address in
/// `/etc/hosts` when the machine has no permanent IP address.
const DEBIAN_HOSTNAME_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);

/// Judges the addresses `name` resolves to (`hosts` is the text of
/// `/etc/hosts`, to say where a loopback answer comes from). A loopback
/// address is "this machine" to every machine: useless to a federation,
/// whose other sites (and the Fogbow components on other hosts) must reach
/// the name, so it fails with why — and 127.0.1.1 is explained as the
/// Debian convention it is, not taken for a NAT.
pub(crate) fn points_here(
    name: &str,
    addrs: &[IpAddr],
    mine: &HashSet<IpAddr>,
    hosts: &str,
) -> Item {
    let shown = addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let check = "name points to this machine";
    if addrs.iter().any(|a| !a.is_loopback() && mine.contains(a)) {
        return item(Some(name), check, true, shown, None);
    }
    if addrs.is_empty() || !addrs.iter().all(IpAddr::is_loopback) {
        return item(
            Some(name),
            check,
            false,
            shown,
            Some(format!("{name} must resolve to this machine's (public) address; pass it with --public-address if it is NATed")),
        );
    }
    let line = hosts_line(hosts, name, addrs);
    let from = line
        .as_ref()
        .map(|(n, l)| format!(" (/etc/hosts:{n}: {l})"))
        .unwrap_or_default();
    let debian = addrs.contains(&IpAddr::V4(DEBIAN_HOSTNAME_ADDRESS));
    let detail = if debian {
        format!("{shown}{from}: the address Debian's installer gives the machine's own host name in /etc/hosts when it has no permanent IP address; a loopback address, which other sites cannot reach (not a NAT address)")
    } else {
        format!("{shown}{from}: a loopback address, which every machine has for itself; other sites and Fogbow components on other machines cannot reach {name} there")
    };
    let hint = if debian {
        format!("give {name} a DNS A/AAAA record with this machine's public address; if the machine now has a permanent IP address, put it in place of 127.0.1.1 in /etc/hosts")
    } else {
        format!("other sites must reach {name}: give it a DNS A/AAAA record with this machine's public address (an /etc/hosts line helps only this machine)")
    };
    item(Some(name), check, false, detail, Some(hint))
}

/// The `/etc/hosts` line (number, text) that maps `name` to one of `addrs`.
fn hosts_line(hosts: &str, name: &str, addrs: &[IpAddr]) -> Option<(usize, String)> {
    hosts.lines().enumerate().find_map(|(i, l)| {
        let l = l.split('#').next().unwrap_or("");
        let mut f = l.split_whitespace();
        let ip: IpAddr = f.next()?.parse().ok()?;
        (addrs.contains(&ip) && f.any(|n| n.eq_ignore_ascii_case(name)))
            .then(|| (i + 1, l.split_whitespace().collect::<Vec<_>>().join(" ")))
    })
}

/// How much of prosody's log is read: the last 256 KiB of each file, and
/// the last 24 hours (at most 20,000 lines) of the journal.
pub(crate) const LOG_TAIL_BYTES: u64 = 256 << 10;

/// The lines of prosody's recent log that tell of a component refused, by
/// the name it gave; and what was read (or could not be).
#[derive(Debug, Default)]
pub(crate) struct ProsodyLog {
    /// (where, line) of each "authentication failed" / "secret not set" line.
    pub(crate) lines: Vec<(String, String)>,
    pub(crate) read: Vec<String>,
    pub(crate) unread: Vec<String>,
}

/// mod_component's words (prosody 0.12 and 13 alike).
const AUTH_FAILED: &str = "Component authentication failed for ";
const NO_SECRET: &str = "Component attempted to identify as ";
/// Logged by the component host's own module (`NAME:component  info  …`).
const AUTH_OK: &str = "External component successfully authenticated";

/// The name a refusal line is about.
fn refusal_of(l: &str) -> Option<&str> {
    match (l.find(AUTH_FAILED), l.find(NO_SECRET)) {
        (Some(i), _) => l[i + AUTH_FAILED.len()..].split_whitespace().next(),
        (None, Some(i)) => l[i + NO_SECRET.len()..]
            .split(|c: char| c == ',' || c.is_whitespace())
            .next(),
        _ => None,
    }
}

/// The host of a line logged by a component's module: its `NAME:component`
/// source field.
fn component_of(l: &str) -> Option<&str> {
    l.split_whitespace()
        .find_map(|w| w.strip_suffix(":component"))
}

impl ProsodyLog {
    /// The files the config's `log` option names (or Debian's default
    /// file), and the journal of prosody.service.
    fn read(set: &ConfigSet, main: &Path) -> ProsodyLog {
        let mut log = ProsodyLog::default();
        for f in log_files(set, main) {
            let shown = format!("{} (last {} KiB)", f.display(), LOG_TAIL_BYTES >> 10);
            match crate::secret::read_tail(&f, LOG_TAIL_BYTES) {
                Ok(text) => {
                    log.add(&f.display().to_string(), &text);
                    log.read.push(shown);
                }
                Err(e) => {
                    let why = match e {
                        Unreadable::Io(e) => crate::text::plain_io(&e),
                        _ => "not a regular file".to_string(),
                    };
                    log.unread.push(format!("{}: {why}", f.display()));
                }
            }
        }
        match crate::system::journal::prosody_log() {
            Ok(text) => {
                log.add("the journal", &text);
                log.read
                    .push("the journal of prosody.service (24 h)".into());
            }
            Err(e) => log.unread.push(format!("the journal: {e}")),
        }
        log
    }

    /// Keeps the lines of `text` that matter: a component's refusals
    /// since its last successful authentication in that source (once the
    /// operator fixed the secret and the component logged in, its old
    /// refusals are history, not a finding).
    pub(crate) fn add(&mut self, source: &str, text: &str) {
        let mut kept: Vec<String> = Vec::new();
        for l in text.lines() {
            if l.contains(AUTH_FAILED) || (l.contains(NO_SECRET) && l.contains("component_secret"))
            {
                kept.push(l.to_string());
            } else if l.contains(AUTH_OK) {
                if let Some(host) = component_of(l) {
                    kept.retain(|k| {
                        !refusal_of(k).is_some_and(|w| crate::prosody::names::same(w, host))
                    });
                }
            }
        }
        self.lines
            .extend(kept.into_iter().map(|l| (source.to_string(), l)));
    }

    /// The lines about component `name`.
    pub(crate) fn failures_of(&self, name: &str) -> Vec<&(String, String)> {
        self.lines
            .iter()
            .filter(|(_, l)| refusal_of(l).is_some_and(|w| crate::prosody::names::same(w, name)))
            .collect()
    }
}

/// The log files prosody writes, from its global `log` option: a file name
/// (`log = "/var/log/prosody/prosody.log"`), or a table of level = file
/// (`{ info = "…"; error = "…" }`) and sinks (`{ to = "file", filename =
/// "…" }`); `*syslog`/`*console` and sinks to elsewhere are the journal's.
/// Unset (or not readable statically): Debian's file, if it exists.
fn log_files(set: &ConfigSet, main: &Path) -> Vec<PathBuf> {
    let debian = || {
        let p = PathBuf::from("/var/log/prosody/prosody.log");
        if p.exists() {
            vec![p]
        } else {
            Vec::new()
        }
    };
    let mut last = None;
    for at in set.order() {
        let doc = &set.files[at.file].doc;
        if doc.owner(at.stmt) != Owner::Global {
            continue;
        }
        if let Statement::Options(opts) = &doc.stmt(at.stmt).statement {
            for o in opts.iter().filter(|o| o.name == "log") {
                last = Some((at.file, o.value.as_ref().map(|v| v.span.clone())));
            }
        }
    }
    let Some((file, Some(span))) = last else {
        return debian();
    };
    let text = &set.files[file].doc.text()[span];
    let Some(names) = log_file_names(text) else {
        return debian();
    };
    let dir = main.parent().unwrap_or(Path::new("/"));
    let mut out: Vec<PathBuf> = names.into_iter().map(|n| dir.join(n)).collect();
    out.dedup();
    out
}

/// The file names in the text of a `log` value; `None` when it is not
/// made of constants.
pub(crate) fn log_file_names(value: &[u8]) -> Option<Vec<String>> {
    const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];
    let toks: Vec<lexer::Token> = lexer::tokenize(value)
        .ok()?
        .into_iter()
        .filter(|t| !matches!(t.kind, Tok::Comment | Tok::Eof))
        .collect();
    let text = |t: &lexer::Token| &value[t.span.clone()];
    let string =
        |t: &lexer::Token| String::from_utf8_lossy(&lexer::decode_string(text(t))).into_owned();
    let is_file = |s: &str| !s.starts_with('*') && !s.is_empty();
    if let [one] = toks.as_slice() {
        return match one.kind {
            Tok::Str => Some(
                Some(string(one))
                    .filter(|s| is_file(s))
                    .into_iter()
                    .collect(),
            ),
            _ => None,
        };
    }
    // Anything but a table constructor (a name, a concatenation) is not
    // followed: the caller falls back to Debian's file.
    let braced = toks.first().map(|t| t.kind) == Some(Tok::Sym(Sym::LBrace))
        && toks.last().map(|t| t.kind) == Some(Tok::Sym(Sym::RBrace));
    if !braced {
        return None;
    }
    let mut out = Vec::new();
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Tok::Sym(Sym::LBrace) => depth += 1,
            Tok::Sym(Sym::RBrace) => depth = depth.saturating_sub(1),
            Tok::Str => {
                let key = match (
                    i.checked_sub(2).map(|k| &toks[k]),
                    i.checked_sub(1).map(|k| &toks[k]),
                ) {
                    (Some(k), Some(eq))
                        if k.kind == Tok::Name && eq.kind == Tok::Sym(Sym::Assign) =>
                    {
                        Some(String::from_utf8_lossy(text(k)).into_owned())
                    }
                    _ => None,
                };
                let s = string(t);
                let wanted = match key.as_deref() {
                    Some(k) => (depth == 1 && LEVELS.contains(&k)) || k == "filename",
                    // A positional file name in the outer table.
                    None => depth == 1 && !LEVELS.contains(&s.as_str()),
                };
                if wanted && is_file(&s) {
                    out.push(s);
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// A component whose credential changed since prosody started: the
/// running server refuses the new secret until a restart.
fn restart_pending(p: &crate::system::running::PendingRestart) -> Item {
    item(
        Some(&p.component),
        "running prosody has the credential on disk",
        false,
        format!(
            "the running prosody loaded the credential {} at its start; the one on disk differs (rotated or added since)",
            p.credential
        ),
        Some(crate::ops::pending_text(std::slice::from_ref(p))),
    )
}

/// Recent "Component authentication failed for NAME" lines in prosody's
/// log: the component dials with a secret other than this config's.
fn no_authentication_failures(name: &str, log: &ProsodyLog) -> Item {
    let failures = log.failures_of(name);
    let check = "no recent authentication failures";
    let Some((source, last)) = failures.last() else {
        let detail = match (log.read.is_empty(), log.unread.is_empty()) {
            (true, _) => format!(
                "prosody's log could not be read ({})",
                log.unread.join("; ")
            ),
            (false, true) => format!("none in {}", log.read.join(", ")),
            (false, false) => format!(
                "none in {}; not read: {}",
                log.read.join(", "),
                log.unread.join("; ")
            ),
        };
        // A log not read is not a clean log: ⚠, with what to do about it.
        let mut i = item(Some(name), check, true, detail, None);
        if !log.unread.is_empty() || !nix::unistd::geteuid().is_root() {
            i.warn = true;
            i.hint = Some(
                "run doctor as root (or in the adm and systemd-journal groups) to read all of prosody's log: a user sees only part of the journal".into(),
            );
        }
        return i;
    };
    // prosody separates its log's fields with tabs: shown as spaces.
    let full = last.trim().replace('\t', "  ");
    let mut last: String = full.chars().take(300).collect();
    if last.len() < full.len() {
        last.push('…');
    }
    item(
        Some(name),
        check,
        false,
        format!("{} time(s) in prosody's log; the last, in {source}: {last}", failures.len()),
        Some(format!("prosody refused the secret {name} sent: the secret in the component's .properties (xmpp_password) differs from its component_secret here; compare with fogbow-xmpp-ctl probe {name} --from-properties FILE, and set one from the other ({})", crate::text::remedy::SetSecret::Properties(None))),
    )
}

/// The component's secret is set and not weak (the rule `check` uses),
/// read through prosody 13's `Credential()`/`FileContents()`/`FileLine()`
/// where it can be (a credential is decrypted only by root).
fn secret_is_strong(
    name: &str,
    secret: Option<(crate::document::Value<'_>, &Path)>,
    resolver: &mut crate::system::secret_refs::Resolver,
) -> Item {
    use diagnostics::secret_refs::{describe, Resolved};
    let judge = |l: &[u8], from: &str| match diagnostics::weak_secret(l) {
        true => (
            false,
            format!("{from}a Fogbow guide placeholder, or shorter than 16 bytes"),
        ),
        false => (
            true,
            format!("{from}set, not a placeholder, at least 16 bytes"),
        ),
    };
    let (ok, detail) = match secret {
        None => (false, "no component_secret".to_string()),
        Some((s, file)) => match (s.literal(), s.secret_ref()) {
            (Some(l), _) => judge(&l, ""),
            (None, Some(r)) => {
                let from = describe(&r);
                match resolver.resolve(&r, file) {
                    Resolved::Value(v) => judge(&v, &format!("read from {from}: ")),
                    // prosody fails on it: `config passes check` says how.
                    Resolved::Missing(why) => (false, format!("read from {from}, but {why}")),
                    Resolved::Unverified(why) => {
                        (true, format!("read from {from}: not checked here ({why})"))
                    }
                }
            }
            // A concatenation, another function: not read here.
            (None, None) => (
                true,
                "set by an expression: its value is not checked".into(),
            ),
        },
    };
    item(
        Some(name),
        "secret is strong",
        ok,
        detail,
        Some(format!(
            "fogbow-xmpp-ctl add {name} --generate-secret --replace"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as the kernel prints them (x86: native order is little-endian).
    #[test]
    fn proc_net_tcp_listening_sockets() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:14A5 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 1 1 0 100 0 0 10 0\n\
   1: 0100007F:14E6 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 2 1 0 100 0 0 10 0\n\
   2: 0100007F:14E6 0100007F:9C40 01 00000000:00000000 00:00000000 00000000   107        0 3 1 0 100 0 0 10 0\n";
        let got = parse_proc_net_tcp(v4, false);
        assert_eq!(
            got,
            vec![
                "0.0.0.0:5285".parse().unwrap(),
                "127.0.0.1:5350".parse().unwrap()
            ],
            "the established connection (01) is not listening"
        );
        let v6 = "  sl  local_address                         remote_address                        st\n\
   0: 00000000000000000000000000000000:14A5 00000000000000000000000000000000:0000 0A\n\
   1: 00000000000000000000000001000000:14E6 00000000000000000000000000000000:0000 0A\n";
        assert_eq!(
            parse_proc_net_tcp(v6, true),
            vec!["[::]:5285".parse().unwrap(), "[::1]:5350".parse().unwrap()]
        );
    }

    #[test]
    fn loopback_is_not_this_machine_to_a_federation() {
        let mine: HashSet<IpAddr> = ["127.0.0.1", "10.1.2.3"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let i = points_here("m.example", &[lo], &mine, "127.0.0.1 localhost m.example\n");
        assert!(!i.ok);
        assert!(
            i.detail.contains("/etc/hosts:1") && i.detail.contains("loopback"),
            "{}",
            i.detail
        );
        assert!(i.hint.unwrap().contains("DNS"));
        // Debian's hostname line: explained, not a NAT hint.
        let deb: IpAddr = "127.0.1.1".parse().unwrap();
        let hosts = "127.0.0.1 localhost\n127.0.1.1 m.example m\n";
        let i = points_here("M.example", &[deb], &mine, hosts);
        assert!(!i.ok);
        assert!(
            i.detail.contains("/etc/hosts:2: 127.0.1.1 m.example m")
                && i.detail.contains("Debian's installer"),
            "{}",
            i.detail
        );
        assert!(!i.hint.as_deref().unwrap().contains("NAT"));
        // A public address of this machine passes; another one gets the NAT hint.
        let here: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(points_here("m.example", &[here, lo], &mine, "").ok);
        let there: IpAddr = "192.0.2.7".parse().unwrap();
        let i = points_here("m.example", &[there], &mine, "");
        assert!(!i.ok && i.hint.unwrap().contains("--public-address"));
    }

    #[test]
    fn log_option_forms() {
        let f = |s: &str| log_file_names(s.as_bytes());
        assert_eq!(f("\"/var/log/p.log\""), Some(vec!["/var/log/p.log".into()]));
        assert_eq!(f("\"*syslog\""), Some(vec![]));
        assert_eq!(
            f("{ info = \"/var/log/prosody/prosody.log\"; error = \"/var/log/prosody/prosody.err\"; { levels = { \"error\" }; to = \"syslog\" }; }"),
            Some(vec![
                "/var/log/prosody/prosody.log".into(),
                "/var/log/prosody/prosody.err".into()
            ])
        );
        assert_eq!(
            f("{ { levels = { min = \"info\" }, to = \"file\", filename = \"p.log\" }, \"*console\" }"),
            Some(vec!["p.log".into()])
        );
        assert_eq!(f("LOG_PATH .. \"/p.log\""), None);
    }

    #[test]
    fn authentication_failures_by_component() {
        let mut log = ProsodyLog::default();
        log.add(
            "f",
            "Jan 01 00:00:00 m.example:component\tinfo\tComponent authentication failed for m.example\n\
             Jan 01 00:00:01 x.example:component\tinfo\tComponent authentication failed for x.example\n\
             Jan 01 00:00:02 n.example:component\twarn\tComponent attempted to identify as n.example, but component_secret is not set\n\
             Jan 01 00:00:03 general\tinfo\tHello and welcome\n",
        );
        assert_eq!(log.lines.len(), 3);
        assert_eq!(log.failures_of("M.EXAMPLE").len(), 1);
        assert_eq!(log.failures_of("n.example").len(), 1);
        assert!(log.failures_of("other.example").is_empty());
        let i = no_authentication_failures("m.example", &log);
        assert!(!i.ok && i.hint.unwrap().contains("--from-properties"));

        // Fixed since: a successful authentication after the refusals
        // clears that component's, and only its.
        let mut log = ProsodyLog::default();
        log.add(
            "f",
            "Jan 01 00:00:00 m.example:component\tinfo\tComponent authentication failed for m.example\n\
             Jan 01 00:00:01 x.example:component\tinfo\tComponent authentication failed for x.example\n\
             Jan 01 00:00:02 M.example:component\tinfo\tExternal component successfully authenticated\n\
             Jan 01 00:00:03 x.example:component\tinfo\tExternal component successfully authenticated\n\
             Jan 01 00:00:04 x.example:component\tinfo\tComponent authentication failed for x.example\n",
        );
        assert!(log.failures_of("m.example").is_empty());
        assert_eq!(log.failures_of("x.example").len(), 1);

        // A source not read makes a clean result a ⚠, never a plain ✔.
        let log = ProsodyLog {
            read: vec!["the journal of prosody.service (24 h)".into()],
            unread: vec!["/var/log/prosody/prosody.log: Permission denied".into()],
            ..ProsodyLog::default()
        };
        let i = no_authentication_failures("m.example", &log);
        assert!(i.ok && i.warn, "{i:?}");
        assert!(
            i.detail.contains("not read: /var/log/prosody/prosody.log"),
            "{}",
            i.detail
        );
        assert!(i.hint.is_some());
    }
}
