//! What the running prosody has, asked through its admin shell
//! (`prosodyctl shell`, mod_admin_shell), and whether its listeners accept
//! connections yet. The shell's output may carry banners (a minimal root
//! without lua-unbound prints several lines about it): parsers look for
//! their own lines and ignore the rest.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use std::process::ExitStatus;

use super::run::{Failure, Run, RunError};

/// A host of the running server, as `host:list()` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunningHost {
    pub(crate) name: String,
    /// `None` for a VirtualHost; `Some("component")` for an external
    /// component; `Some("muc component")` etc. for a plugin component.
    pub(crate) kind: Option<String>,
}

impl RunningHost {
    /// An external (XEP-0114) component: the only kind we activate or deactivate.
    pub(crate) fn is_external(&self) -> bool {
        self.kind.as_deref() == Some("component")
    }
}

/// What prosodyctl prints (0.12 and 13) when it cannot read the config:
/// it then never reaches the admin shell.
pub(crate) const CONFIG_UNREADABLE: &str = "A problem occurred while reading the config file";

/// Why the admin shell gave no usable answer: prosodyctl could not be run,
/// it reached no prosody, it failed, or its answer is not the one asked for.
#[derive(Debug)]
pub enum ShellError {
    /// prosodyctl could not be run (not installed, not executable, …).
    Missing(RunError),
    /// The shell reached no prosody (not running, or no mod_admin_shell):
    /// its first meaningful line.
    NoAnswer { said: String },
    /// The shell exited with a failure and no `OK:` line.
    Failed { status: ExitStatus, said: String },
    /// The shell answered `call` with something else than its answer.
    Unexpected { call: String, said: String },
    /// A line of the answer to `call` names no host.
    UnexpectedLine { call: String, line: String },
}

impl ShellError {
    /// prosodyctl could not read the config, so it never asked the server.
    pub(crate) fn config_unreadable(&self) -> bool {
        self.to_string().contains(CONFIG_UNREADABLE)
    }
}

impl std::fmt::Display for ShellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShellError::Missing(e) => match &e.failure {
                Failure::Spawn(io) | Failure::Wait(io) => {
                    write!(f, "cannot run prosodyctl: {}", crate::text::plain_io(io))
                }
                Failure::Timeout(_) => std::fmt::Display::fmt(e, f),
            },
            ShellError::NoAnswer { said } => {
                write!(f, "prosodyctl shell cannot reach prosody: {said}")
            }
            ShellError::Failed { status, said } => {
                write!(f, "prosodyctl shell failed ({status}): {said}")
            }
            ShellError::Unexpected { call, said } => {
                write!(f, "unexpected answer to {call}: {said}")
            }
            ShellError::UnexpectedLine { call, line } => {
                write!(f, "unexpected line in the answer to {call}: {line}")
            }
        }
    }
}

impl std::error::Error for ShellError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShellError::Missing(e) => Some(e),
            _ => None,
        }
    }
}

/// The admin shell client: runs one admin shell command; its output
/// (standard output, then standard error), or why the shell is unavailable.
/// The shell may exit 0 when it reached no prosody, and non-zero after an
/// `OK:`, so its words decide, not its exit status alone.
pub(crate) fn shell(call: &str) -> Result<String, ShellError> {
    let o = Run::new("prosodyctl", &["shell", call])
        .output()
        .map_err(ShellError::Missing)?;
    let mut out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.push_str(&String::from_utf8_lossy(&o.stderr));
    if out.contains("Unable to connect") || out.contains("Is Prosody running") {
        return Err(ShellError::NoAnswer {
            said: first_meaningful(&out),
        });
    }
    if !o.status.success() && !out.lines().any(is_ok_line) {
        return Err(ShellError::Failed {
            status: o.status,
            said: first_meaningful(&out),
        });
    }
    Ok(out)
}

/// The first line of the shell's output that is not a banner.
fn first_meaningful(out: &str) -> String {
    meaningful(out).next().unwrap_or("no output").to_string()
}

/// The shell's output lines, trimmed, without blank lines and banners
/// (lua-unbound's notes, `**` warnings).
pub(crate) fn meaningful(out: &str) -> impl Iterator<Item = &str> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("lua-unbound") && !l.starts_with("**"))
}

/// A line of the shell without its `| ` prefix (older consoles print one).
fn strip(line: &str) -> &str {
    let l = line.trim();
    l.strip_prefix('|').map(str::trim_start).unwrap_or(l)
}

fn is_ok_line(line: &str) -> bool {
    strip(line).starts_with("OK:")
}

/// Parses `host:list()` as mod_admin_shell prints it (0.12 and 13 alike):
/// one line per host, `NAME` for a VirtualHost, `NAME (component)` for an
/// external component, `NAME (muc component)` for a plugin one, then
/// `OK: N hosts`. The hosts are the N lines before that line, whatever
/// their names hold (prosody prints any name nameprep lets through); what
/// comes before them (banners, warnings) is not read. Without the `OK:`
/// line, or with fewer lines than it counts, the answer is not trusted.
pub(crate) fn parse_host_list(out: &str) -> Result<Vec<RunningHost>, ShellError> {
    let lines: Vec<&str> = out.lines().collect();
    let counted = lines.iter().enumerate().rev().find_map(|(i, l)| {
        let n = strip(l)
            .strip_prefix("OK:")?
            .trim()
            .strip_suffix("hosts")?
            .trim()
            .parse::<usize>()
            .ok()?;
        Some((i, n))
    });
    let Some((ok_at, n)) = counted.filter(|&(i, n)| n <= i) else {
        return Err(ShellError::Unexpected {
            call: "host:list()".into(),
            said: first_meaningful(out),
        });
    };
    let mut hosts = Vec::new();
    for line in &lines[ok_at - n..ok_at] {
        // The telnet console prefixes the lines of an answer with `| `.
        let l = line.strip_prefix("| ").unwrap_or(line);
        let l = l.trim_matches(|c| c == ' ' || c == '\r');
        let (name, kind) = match l.strip_suffix(')').and_then(|r| r.rsplit_once(" (")) {
            Some((name, k)) if k == "component" || k.ends_with(" component") => {
                (name, Some(k.to_string()))
            }
            _ => (l, None),
        };
        if name.is_empty() {
            return Err(ShellError::UnexpectedLine {
                call: "host:list()".into(),
                line: l.to_string(),
            });
        }
        hosts.push(RunningHost {
            name: name.to_string(),
            kind,
        });
    }
    Ok(hosts)
}

/// The hosts of the running server.
pub(crate) fn hosts() -> Result<Vec<RunningHost>, ShellError> {
    parse_host_list(&shell("host:list()")?)
}

/// [`hosts`], asked again until the admin shell answers or `deadline`:
/// right after a start, prosody accepts connections on its listeners
/// before its admin shell answers (measured: "no output" in 10 of 16
/// restarts of a 20-component config).
pub(crate) fn hosts_by(deadline: Instant) -> Result<Vec<RunningHost>, ShellError> {
    loop {
        match hosts() {
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            answer => return answer,
        }
    }
}

/// Parses `config:get(NAME, "component_module")`: whether the config the
/// running server has loaded makes NAME an external component (`OK: component`,
/// quoted or not; `OK: nil` when it has no such host). `None` when the answer
/// is not one.
pub(crate) fn parse_component_module(out: &str) -> Option<bool> {
    out.lines().find_map(|l| {
        let v = strip(l).strip_prefix("OK:")?.trim().trim_matches('"');
        Some(v == "component")
    })
}

/// Whether the config the running server has loaded declares NAME as an
/// external component: after a reload (a signal, handled asynchronously)
/// this tells that prosody has read the new file, before `host:activate`.
pub(crate) fn loaded_as_component(name: &str) -> Result<bool, ShellError> {
    let call = format!(
        "config:get({}, \"component_module\")",
        crate::document::lexer::encode_string(name.as_bytes())
    );
    let out = shell(&call)?;
    parse_component_module(&out).ok_or_else(|| ShellError::Unexpected {
        said: first_meaningful(&out),
        call,
    })
}

/// Parses `module:info("component", NAME)`: connected when the status line
/// of the host's section (`on Component "NAME"`; the `in global context`
/// section is the shared listener's) says `Connected` (`[warn] Disconnected`
/// after a component left; `[core] Loaded` before any connection).
pub(crate) fn parse_connected(out: &str) -> bool {
    let sectioned = out
        .lines()
        .any(|l| l.starts_with("on ") || l.starts_with("in global context"));
    let mut in_host = !sectioned;
    for line in out.lines() {
        if line.starts_with("on ") {
            in_host = true;
        } else if line.starts_with("in global context") {
            in_host = false;
        }
        let l = strip(line).to_ascii_lowercase();
        if in_host
            && l.starts_with("status:")
            && l.contains("connected")
            && !l.contains("disconnected")
        {
            return true;
        }
    }
    false
}

/// Whether a component connection for `name` is live right now.
pub(crate) fn connected(name: &str) -> Result<bool, ShellError> {
    let call = format!(
        "module:info(\"component\", {})",
        crate::document::lexer::encode_string(name.as_bytes())
    );
    Ok(parse_connected(&shell(&call)?))
}

/// A component whose secret is a systemd credential that the running
/// prosody loaded with another value than the one the unit gives it now
/// (rotated, or added, since): a restart applies it, and a reload too where
/// systemd refreshes credentials at a reload (`by_reload`).
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct PendingRestart {
    pub component: String,
    pub(crate) credential: String,
    /// A reload applies it (systemd's `RefreshOnReload=credentials`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub by_reload: bool,
    /// Why only a restart applies it, when `by_reload` is false.
    #[serde(skip)]
    pub(crate) why: Option<crate::text::remedy::AtStartOnly>,
}

/// For each `(component, credential name)`: the copy the running
/// prosody.service got at its start (systemd writes it into
/// [`RUNTIME_DIR`](crate::system::unit_credentials::RUNTIME_DIR), and
/// refreshes there at a reload where it can) compared with
/// the value the unit gives at its next start (read as `check` reads it:
/// the unit's files, the `.cred` decrypted, as root). Nothing is pending
/// when prosody.service is not active under systemd, or where either copy
/// cannot be read here (not root): unknown is not reported as pending.
pub(crate) fn pending_restart(credentials: &[(String, String)]) -> Vec<PendingRestart> {
    use crate::diagnostics::secret_refs::Resolved;
    use crate::system::secret_refs::Resolver;
    if credentials.is_empty()
        || !crate::system::service::systemd_running()
        || crate::system::service::unit_property("ActiveState") != "active"
    {
        return Vec::new();
    }
    let dir = Path::new(crate::system::unit_credentials::RUNTIME_DIR);
    // No directory at all: the running prosody was started without any
    // credential.
    let started_without = match std::fs::metadata(dir) {
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(_) => return Vec::new(),
    };
    let mut resolver = Resolver::from_env();
    let why = crate::system::credentials::reload_refreshes().err();
    let mut pending = Vec::new();
    for (component, credential) in credentials {
        let loaded = match started_without {
            true => None,
            false => match std::fs::read(dir.join(credential)) {
                Ok(v) => Some(v),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(_) => continue,
            },
        };
        let Resolved::Value(next) = resolver.credential(credential) else {
            continue;
        };
        if loaded.as_deref() != Some(next.as_slice()) {
            pending.push(PendingRestart {
                component: component.clone(),
                credential: credential.clone(),
                by_reload: why.is_none(),
                why,
            });
        }
    }
    pending
}

/// The local addresses to try for a listener interface: a wildcard is
/// reached through loopback.
pub(crate) fn local_targets(interfaces: &[String], ports: &[u16]) -> Vec<String> {
    let mut v = Vec::new();
    for i in interfaces {
        let host = match i.as_str() {
            "*" | "0.0.0.0" => "127.0.0.1".to_string(),
            "::" => "::1".to_string(),
            a => a.to_string(),
        };
        for p in ports {
            let t = if host.contains(':') {
                format!("[{host}]:{p}")
            } else {
                format!("{host}:{p}")
            };
            if !v.contains(&t) {
                v.push(t);
            }
        }
    }
    v
}

/// Waits until every address accepts a TCP connection, or the deadline;
/// returns those that never did. An address this machine does not have
/// (e.g. `::1` without IPv6) cannot be listened on by prosody either and is
/// skipped.
pub(crate) fn wait_accepting(targets: &[String], deadline: Instant) -> Vec<String> {
    let mut pending: Vec<String> = targets.to_vec();
    loop {
        pending.retain(|t| {
            let addrs: Vec<SocketAddr> = match t.to_socket_addrs() {
                Ok(a) => a.collect(),
                Err(_) => return true,
            };
            !addrs.iter().any(|a| {
                match TcpStream::connect_timeout(a, Duration::from_millis(500)) {
                    Ok(_) => true,
                    // EADDRNOTAVAIL / ENETUNREACH: no such address here.
                    Err(e) => matches!(e.raw_os_error(), Some(99) | Some(101)),
                }
            })
        });
        if pending.is_empty() || Instant::now() >= deadline {
            return pending;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_list_with_banner_and_prefixes() {
        let out = "**************************\n\
            Prosody was unable to find lua-unbound\n\
            This package can be obtained in the following ways:\n\
            \n\
            localhost\n\
            | conference.localhost (muc component)\n\
            reload.example (component)\n\
            OK: 3 hosts\n";
        let h = parse_host_list(out).unwrap();
        assert_eq!(
            h,
            vec![
                RunningHost {
                    name: "localhost".into(),
                    kind: None
                },
                RunningHost {
                    name: "conference.localhost".into(),
                    kind: Some("muc component".into())
                },
                RunningHost {
                    name: "reload.example".into(),
                    kind: Some("component".into())
                },
            ]
        );
        let ext: Vec<_> = h
            .iter()
            .filter(|h| h.is_external())
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(ext, ["reload.example"]);
    }

    /// What prosody prints for hosts whose names (after nameprep) hold
    /// characters a banner also has: every one of them is a host.
    #[test]
    fn host_list_with_unusual_names() {
        let out = HOST_LIST_012
            .replace(
                "ext.example (component)\n",
                "a@b.fog.test (component)\n!x/y.fog.test (component)\nx (y) z\nweird: name (muc component)\n",
            )
            .replace("OK: 3 hosts", "OK: 6 hosts");
        let h = parse_host_list(&out).unwrap();
        let got: Vec<_> = h
            .iter()
            .map(|h| (h.name.as_str(), h.kind.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("a@b.fog.test", Some("component")),
                ("!x/y.fog.test", Some("component")),
                ("x (y) z", None),
                ("weird: name", Some("muc component")),
                ("localhost", None),
                ("conference.localhost", Some("muc component")),
            ]
        );
        // The telnet console's `| ` prefix, on every line of the answer.
        let piped = "| a@b.fog.test (component)\n| localhost\n| OK: 2 hosts\n";
        let names: Vec<_> = parse_host_list(piped)
            .unwrap()
            .into_iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(names, ["a@b.fog.test", "localhost"]);
        // Fewer lines than the count: not an answer to trust.
        assert!(parse_host_list("localhost\nOK: 2 hosts\n").is_err());
    }

    #[test]
    fn host_list_without_ok_is_not_trusted() {
        assert!(parse_host_list("Unable to connect to server\n").is_err());
        assert!(parse_host_list("").is_err());
    }

    #[test]
    fn connected_status() {
        assert!(parse_connected(
            "Host: a.example\nstatus: [info] Connected\nOK: x\n"
        ));
        assert!(!parse_connected(
            "status: [warn] Disconnected: closed\nOK\n"
        ));
        assert!(!parse_connected("status: [core] Loaded\n"));
        assert!(!parse_connected(
            "unable to find lua-unbound\nConnected to nowhere\n"
        ));
        assert!(parse_connected("| status: [info] Connected\n"));
    }

    /// `prosodyctl shell 'host:list()'` as prosody 0.12.3 prints it in a
    /// booted Debian 12 container without lua-unbound (measured).
    const HOST_LIST_012: &str = "
**************************
Prosody was unable to find lua-unbound
This package can be obtained in the following ways:

  Debian/Ubuntu | sudo apt install lua-unbound                                  
       luarocks | luarocks install luaunbound                                   
         Source | https://www.zash.se/luaunbound.html                           

Old DNS resolver library will be used
More help can be found on our website, at https://prosody.im/doc/depends
**************************

ext.example (component)
localhost
conference.localhost (muc component)
OK: 3 hosts
";

    /// The same on prosody 13.0.1 (Debian 13, measured).
    const HOST_LIST_13: &str = "ext.example (component)
localhost
conference.localhost (muc component)
OK: 3 hosts
";

    #[test]
    fn host_list_as_prosody_prints_it() {
        for out in [HOST_LIST_012, HOST_LIST_13] {
            let h = parse_host_list(out).unwrap();
            let names: Vec<_> = h
                .iter()
                .map(|h| (h.name.as_str(), h.kind.as_deref()))
                .collect();
            assert_eq!(
                names,
                [
                    ("ext.example", Some("component")),
                    ("localhost", None),
                    ("conference.localhost", Some("muc component")),
                ]
            );
            let ext: Vec<_> = h.iter().filter(|h| h.is_external()).collect();
            assert_eq!(ext.len(), 1);
        }
    }

    #[test]
    fn module_info_as_prosody_prints_it() {
        // prosody 13.0.1: the host's section first, then the global one.
        let left = "on Component \"ext.example\"
  path: /usr/lib/prosody/modules/mod_component.lua
  status: [warn] Disconnected: stream error
in global context
  path: /usr/lib/prosody/modules/mod_component.lua
  status: [core] Loaded
  provides:
  - Network service (1 item)
    - component: [127.0.0.1]:5347, [::1]:5347
Result: true
";
        assert!(!parse_connected(left));
        assert!(parse_connected(&left.replace(
            "[warn] Disconnected: stream error",
            "[info] Connected"
        )));
        // prosody 0.12.3: the global section first (after the banner).
        let live = "Old DNS resolver library will be used
in global context
  path: /usr/lib/prosody/modules/mod_component.lua
  status: [core] Loaded
on Component \"ext.example\"
  path: /usr/lib/prosody/modules/mod_component.lua
  status: [info] Connected
Result: true
";
        assert!(parse_connected(live));
        assert!(!parse_connected(
            &live.replace("[info] Connected", "[core] Loaded")
        ));
    }

    #[test]
    fn component_module_answers() {
        assert_eq!(parse_component_module("OK: \"component\"\n"), Some(true));
        assert_eq!(
            parse_component_module("banner\n| OK: component\n"),
            Some(true)
        );
        assert_eq!(parse_component_module("OK: nil\n"), Some(false));
        assert_eq!(parse_component_module("OK: \"muc\"\n"), Some(false));
        assert_eq!(parse_component_module("Unable to connect\n"), None);
    }

    #[test]
    fn targets_replace_wildcards() {
        let t = local_targets(&["0.0.0.0".into(), "::".into(), "10.0.0.1".into()], &[5347]);
        assert_eq!(t, ["127.0.0.1:5347", "[::1]:5347", "10.0.0.1:5347"]);
    }
}
