//! Where prosody accepts external components: `component_interfaces` and
//! `component_ports`, which prosody reads only from the global section
//! (`core/portmanager.lua`), with the legacy singular forms as fallbacks.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::document::{Literal, Owner, Span, Statement};
use crate::prosody::config::ConfigSet;

/// The component port when none is configured.
pub(crate) const DEFAULT_PORT: u16 = 5347;
/// The component service is private: with no interfaces set it binds loopback.
pub(crate) const DEFAULT_INTERFACES: [&str; 2] = ["127.0.0.1", "::1"];

pub(crate) const INTERFACE_OPTIONS: [&str; 2] = ["component_interfaces", "component_interface"];
pub(crate) const PORT_OPTIONS: [&str; 2] = ["component_ports", "component_port"];
/// Every option `listen` owns, wherever it is set.
pub(crate) const LISTENER_OPTIONS: [&str; 4] = [
    "component_interfaces",
    "component_interface",
    "component_ports",
    "component_port",
];

/// Whether option `name` says where prosody listens (an address or a
/// port, never a secret): the listener options, `interfaces`, and any
/// service's `*_interface(s)`/`*_port(s)`. A dry run's diff shows their
/// values unmasked.
pub(crate) fn is_address_option(name: &str) -> bool {
    name == "interfaces"
        || ["_interfaces", "_interface", "_ports", "_port"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// A listener option set under a `VirtualHost`/`Component`. prosody (0.12
/// and 13 alike) reads the listener only from the global section
/// (`core/portmanager.lua`: `config.get("*", "component_ports")`); set in a
/// section it is only that host's option, which nothing reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Misplaced {
    pub option: String,
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub file: PathBuf,
    pub line: usize,
    /// The section, as written: `Component "x.example"`.
    pub section: String,
}

/// `listen` without options: the effective listener, and the listener
/// options prosody ignores because they are set in a section. The JSON of
/// [`Listener`] with `"ignored": [{"option", "file", "line", "section"}]`.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    #[serde(flatten)]
    pub listener: Listener,
    pub ignored: Vec<Misplaced>,
}

/// The listener prosody will open for components.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub interfaces: Vec<String>,
    pub ports: Vec<u16>,
    /// Whether each list is prosody's default (nothing set).
    pub interfaces_default: bool,
    pub ports_default: bool,
}

impl Listener {
    /// The address to reach it from this machine: the first interface, with
    /// a wildcard replaced by loopback.
    pub(crate) fn local_address(&self) -> String {
        match self.interfaces.first().map(String::as_str) {
            None | Some("*") | Some("0.0.0.0") => "127.0.0.1".into(),
            Some("::") => "::1".into(),
            Some(a) => a.into(),
        }
    }

    /// Why prosody opens no component listener at all, if so. An empty
    /// list is a valid config: portmanager binds every interface × port
    /// pair, none here ("Activated service 'component' on no ports").
    pub(crate) fn closed(&self) -> Option<String> {
        if self.ports.is_empty() {
            Some(
                "the global component_ports is an empty list, so prosody opens no component port"
                    .into(),
            )
        } else if self.interfaces.is_empty() {
            Some("the global component_interfaces is an empty list, so prosody listens for components on no interface".into())
        } else {
            None
        }
    }

    /// Whether it accepts connections from other machines.
    pub(crate) fn remote_reachable(&self) -> bool {
        self.interfaces.iter().any(|i| match i.as_str() {
            "*" => true,
            a => a.parse::<IpAddr>().is_ok_and(|ip| !ip.is_loopback()),
        })
    }
}

/// Checks an interface address as `listen` accepts it.
pub(crate) fn validate_interface(a: &str) -> Result<(), ListenerError> {
    if a == "*" || a.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(ListenerError::NotAnAddress(a.to_string()))
    }
}

/// Why a listener value cannot be told or is not acceptable.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenerError {
    /// A string that is no interface address.
    NotAnAddress(String),
    /// A number given as an interface.
    NumericInterface(f64),
    /// A string that is no port number.
    NotAPort,
    /// A number out of the ports' range.
    PortOutOfRange(f64),
    /// The error in the value of `option`.
    In {
        option: &'static str,
        error: Box<ListenerError>,
    },
    /// The option `name` is assigned no value.
    NoValue { name: &'static str },
    /// The option `name` at `path`:`line` is computed, not constants.
    NotConstant {
        name: &'static str,
        path: std::path::PathBuf,
        line: usize,
    },
}

impl std::fmt::Display for ListenerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenerError::NotAnAddress(a) => write!(
                f,
                "{a:?} is not an interface address: use *, 0.0.0.0, :: or a literal IP address"
            ),
            ListenerError::NumericInterface(n) => write!(f, "the interface {n} is not an address"),
            ListenerError::NotAPort => f.write_str("a port is not a number from 1 to 65535"),
            ListenerError::PortOutOfRange(n) => write!(f, "the port {n} is out of range"),
            ListenerError::In { option, error } => write!(f, "{error} (in {option})"),
            ListenerError::NoValue { name } => write!(f, "{name} has no value"),
            ListenerError::NotConstant { name, path, line } => write!(
                f,
                "{name} at {}:{line} is not a list of constants; cannot tell its value",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ListenerError {}

/// A global assignment of one of `names`, the last one prosody runs.
pub(crate) struct Found {
    pub(crate) file: usize,
    pub(crate) stmt: usize,
    pub(crate) value: Option<Span>,
}

pub(crate) fn global_assignments(set: &ConfigSet, names: &[&str]) -> Vec<Found> {
    let mut out = Vec::new();
    for at in set.order() {
        let doc = &set.files[at.file].doc;
        if doc.owner(at.stmt) != Owner::Global {
            continue;
        }
        if let Statement::Options(opts) = &doc.stmt(at.stmt).statement {
            for o in opts.iter().filter(|o| names.contains(&o.name)) {
                out.push(Found {
                    file: at.file,
                    stmt: at.stmt,
                    value: o.value.as_ref().map(|v| v.span.clone()),
                });
            }
        }
    }
    out
}

/// The values of the first of `names` that is set (in prosody's order of
/// preference), from its last global assignment.
fn read(set: &ConfigSet, names: &[&'static str]) -> Result<Option<Vec<Literal>>, ListenerError> {
    for &name in names {
        if let Some(f) = global_assignments(set, &[name]).pop() {
            let doc = &set.files[f.file].doc;
            let span = f.value.ok_or(ListenerError::NoValue { name })?;
            let (line, _) = doc.line_col(span.start);
            return doc
                .literal_list(&span)
                .map(Some)
                .ok_or_else(|| ListenerError::NotConstant {
                    name,
                    path: set.files[f.file].path.clone(),
                    line,
                });
        }
    }
    Ok(None)
}

/// The ports set by the first of `names` that is set globally.
fn ports(set: &ConfigSet, names: &[&'static str]) -> Result<Option<Vec<u16>>, ListenerError> {
    let Some(v) = read(set, names)? else {
        return Ok(None);
    };
    ports_of(v)
        .map_err(|e| ListenerError::In {
            option: names[0],
            error: Box::new(e),
        })
        .map(Some)
}

/// prosody's server-to-server ports (`s2s_ports`, default 5269).
pub(crate) fn s2s_ports(set: &ConfigSet) -> Result<Vec<u16>, ListenerError> {
    Ok(ports(set, &["s2s_ports"])?.unwrap_or_else(|| vec![5269]))
}

/// One of [`LISTENER_OPTIONS`] set under a section.
pub(crate) struct InSection {
    pub(crate) file: usize,
    pub(crate) stmt: usize,
    /// The option's name and its value.
    pub(crate) name: &'static str,
    pub(crate) value: Option<Span>,
    /// Whether it is a field of the section's table form.
    pub(crate) in_table: bool,
    /// Whether its statement sets other options too.
    pub(crate) shared: bool,
    pub(crate) shown: Misplaced,
}

/// Every listener option set under a section, in prosody's order.
pub(crate) fn in_sections(set: &ConfigSet) -> Vec<InSection> {
    let mut out = Vec::new();
    for at in set.order() {
        let doc = &set.files[at.file].doc;
        let (head, opts, in_table) = match (doc.owner(at.stmt), doc.stmt(at.stmt).statement) {
            (Owner::Section(h), Statement::Options(o)) => (h, o, false),
            (_, Statement::Section(head)) => match head.table {
                Some((_, fields)) => (at.stmt, fields, true),
                None => continue,
            },
            _ => continue,
        };
        let header = doc.section(head).expect("an owner is a section");
        let n = opts.len();
        for o in opts.iter() {
            let Some(&name) = LISTENER_OPTIONS.iter().find(|&&l| l == o.name) else {
                continue;
            };
            out.push(InSection {
                file: at.file,
                stmt: at.stmt,
                name,
                value: o.value.as_ref().map(|v| v.span.clone()),
                in_table,
                shared: n > 1,
                shown: Misplaced {
                    option: name.to_string(),
                    file: set.files[at.file].path.clone(),
                    line: doc.line_col(o.name_span.start).0,
                    section: format!("{} {}", header.kind.keyword(), doc.slice(&header.name.span)),
                },
            });
        }
    }
    out
}

/// The listener options prosody ignores because they are set in a section.
pub(crate) fn ignored(set: &ConfigSet) -> Vec<Misplaced> {
    in_sections(set).into_iter().map(|m| m.shown).collect()
}

/// The effective listener of `set`, with prosody's defaults.
pub(crate) fn effective(set: &ConfigSet) -> Result<Listener, ListenerError> {
    let interfaces = match read(
        set,
        &[
            "component_interfaces",
            "component_interface",
            "local_interfaces",
        ],
    )? {
        Some(v) => Some(
            v.into_iter()
                .map(|l| match l {
                    Literal::Str(s) => Ok(String::from_utf8_lossy(&s).into_owned()),
                    Literal::Num(n) => Err(ListenerError::NumericInterface(n)),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let ports = ports(set, &PORT_OPTIONS)?;
    Ok(Listener {
        interfaces_default: interfaces.is_none(),
        ports_default: ports.is_none(),
        interfaces: interfaces
            .unwrap_or_else(|| DEFAULT_INTERFACES.iter().map(|s| s.to_string()).collect()),
        ports: ports.unwrap_or_else(|| vec![DEFAULT_PORT]),
    })
}

pub(crate) fn ports_of(v: Vec<Literal>) -> Result<Vec<u16>, ListenerError> {
    v.into_iter()
        .map(|l| match l {
            Literal::Num(n) if n.fract() == 0.0 && (1.0..=65535.0).contains(&n) => Ok(n as u16),
            Literal::Str(s) => String::from_utf8_lossy(&s)
                .parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(ListenerError::NotAPort),
            Literal::Num(n) => Err(ListenerError::PortOutOfRange(n)),
        })
        .collect()
}

pub(crate) fn interfaces_of(v: Vec<Literal>) -> Result<Vec<String>, ListenerError> {
    v.into_iter()
        .map(|l| match l {
            Literal::Str(s) => {
                let a = String::from_utf8_lossy(&s).into_owned();
                validate_interface(&a).map(|()| a)
            }
            Literal::Num(n) => Err(ListenerError::NumericInterface(n)),
        })
        .collect()
}

/// Whether `set` defines any listener option, globally or in a section.
pub(crate) fn any_defined(set: &ConfigSet) -> bool {
    !global_assignments(set, &LISTENER_OPTIONS).is_empty() || !in_sections(set).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(text: &str) -> Result<Listener, String> {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.cfg.lua");
        std::fs::write(&f, text).unwrap();
        effective(&ConfigSet::load(&f).unwrap()).map_err(|e| e.to_string())
    }

    /// An empty list is valid in prosody and opens nothing (portmanager
    /// loops over interfaces × ports); it reads as such, not as the default.
    #[test]
    fn empty_lists_open_no_listener() {
        let l = listener("component_ports = { }\n").unwrap();
        assert!(l.ports.is_empty() && !l.ports_default);
        assert!(l
            .closed()
            .unwrap()
            .contains("component_ports is an empty list"));
        let l = listener("component_interfaces = {}\n").unwrap();
        assert!(l
            .closed()
            .unwrap()
            .contains("component_interfaces is an empty list"));
        assert!(!l.remote_reachable());
        assert_eq!(listener("").unwrap().closed(), None);
        assert_eq!(listener("component_ports = 5348\n").unwrap().ports, [5348]);
        for bad in ["component_ports = { \"0\" }\n", "component_ports = { 0 }\n"] {
            assert!(listener(bad).is_err(), "{bad}");
        }
    }
}
