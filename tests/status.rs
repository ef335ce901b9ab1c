//! `status` and the convergence of `reload` against a stand-in for the
//! running server: a `prosodyctl` (and `systemctl`) on PATH that answer as
//! prosody's admin shell does (output measured from prosody 0.12.3, banner
//! included) and log every call. The real server is exercised under systemd
//! by tests/systemd/running.sh; this pins the decisions without one.

use std::os::unix::fs::PermissionsExt;

mod support;
use support::{code, json, stderr, stdout, Scratch};

const BANNER: &str = "
**************************
Prosody was unable to find lua-unbound
Old DNS resolver library will be used
**************************
";

/// The hosts the stand-in's `host:list()` prints, as prosody prints them.
const HOSTS: &str = "a.example (component)
c.example (component)
localhost
conference.localhost (muc component)
OK: 4 hosts";

/// A fake prosodyctl/systemctl in `fakebin/`; returns the PATH to use.
fn fake_server(s: &Scratch) -> String {
    fake_server_with(s, HOSTS)
}

/// [`fake_server`] whose `host:list()` prints `hosts` (then its banner first).
fn fake_server_with(s: &Scratch, hosts: &str) -> String {
    let log = s.path("calls.log");
    let prosodyctl = format!(
        r#"#!/bin/sh
echo "$*" >> '{log}'
case "$2" in
  'host:list()')
    cat <<'OUT'
{BANNER}
{hosts}
OUT
    ;;
  'module:info("component", "a.example")')
    printf '%s\nin global context\n  status: [core] Loaded\non Component "a.example"\n  status: [info] Connected\nResult: true\n' '{BANNER}' ;;
  module:info*)
    printf 'on Component "x"\n  status: [warn] Disconnected: closed\nResult: true\n' ;;
  config:get*) printf '%s\nOK: "component"\n' '{BANNER}' ;;
  host:*) echo 'OK: done' ;;
esac
exit 0
"#,
        log = log.display()
    );
    let systemctl = "#!/bin/sh\ncase \"$1\" in show) echo active ;; esac\nexit 0\n";
    for (name, text) in [
        ("prosodyctl", prosodyctl.as_str()),
        ("systemctl", systemctl),
    ] {
        let p = s.write(&format!("fakebin/{name}"), text);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!(
        "{}:{}",
        s.path("fakebin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn run(s: &Scratch, path: &str, args: &[&str]) -> std::process::Output {
    s.ctl().args(args).env("PATH", path).output()
}

const FILE: &str = "VirtualHost \"localhost\"\nComponent \"conference.localhost\" \"muc\"\nComponent \"a.example\"\n    component_secret = \"secret-a-0123456789\"\nComponent \"B.example\"\n    component_secret = \"secret-b-0123456789\"\n";

#[test]
fn status_reports_drift_with_exit_4() {
    let s = Scratch::new("status");
    s.config(FILE);
    let path = fake_server(&s);
    let o = run(&s, &path, &["status", "--json"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["in_sync"], false);
    let got: Vec<(String, bool, bool, bool)> = j["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["in_file"].as_bool().unwrap(),
                c["active"].as_bool().unwrap(),
                c["connected"].as_bool().unwrap(),
            )
        })
        .collect();
    // Names compare as prosody compares them; VirtualHosts and plugin
    // components are not external components and are not listed.
    assert_eq!(
        got,
        [
            ("a.example".into(), true, true, true),
            ("b.example".into(), true, false, false),
            ("c.example".into(), false, true, false),
        ]
    );
    let o = run(&s, &path, &["status"]);
    assert_eq!(code(&o), 4);
    assert!(stdout(&o).contains("drift: not active"), "{}", stdout(&o));
    assert!(stdout(&o).contains("drift: not in the file"));

    // File and server agree: exit 0.
    s.config("Component \"a.example\"\n    component_secret = \"x-0123456789\"\nComponent \"c.example\"\n    component_secret = \"y-0123456789\"\n");
    let o = run(&s, &path, &["status", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["in_sync"], true);
}

/// prosody activates and lists a component whatever its name (after
/// nameprep: `@`, `/`, `!` and the like stay): the file and the server agree.
#[test]
fn components_with_unusual_names_are_read_from_the_host_list() {
    let s = Scratch::new("oddnames");
    s.config(
        "Component \"a@b.fog.test\"\n    component_secret = \"secret-a-0123456789\"\nComponent \"!x/y.fog.test\"\n    component_secret = \"secret-x-0123456789\"\n",
    );
    let path = fake_server_with(
        &s,
        "localhost\n!x/y.fog.test (component)\na@b.fog.test (component)\nOK: 3 hosts",
    );
    let o = run(&s, &path, &["status", "--json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let j = json(&o);
    assert_eq!(j["in_sync"], true, "{j}");
    let names: Vec<&str> = j["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["!x/y.fog.test", "a@b.fog.test"], "{j}");
    let o = run(&s, &path, &["reload"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let calls = s.read("calls.log");
    assert!(!calls.contains("activate"), "{calls}");
}

#[test]
fn reload_activates_what_is_missing_and_deactivates_only_external_components() {
    let s = Scratch::new("converge");
    s.config(FILE);
    s.write(
        "settings.toml",
        &format!(
            "backup_dir = \"{}\"\napply_timeout_secs = 1\n",
            s.path("backups").display()
        ),
    );
    let path = fake_server(&s);
    let o = run(&s, &path, &["reload"]);
    let calls = s.read("calls.log");
    assert!(
        calls.contains("shell host:activate(\"b.example\")"),
        "{calls}"
    );
    assert!(
        calls.contains("shell host:deactivate(\"c.example\")"),
        "{calls}"
    );
    assert!(!calls.contains("activate(\"a.example\")"), "{calls}");
    for never in ["localhost\")", "conference.localhost\")"] {
        assert!(!calls.contains(&format!("deactivate(\"{never}")), "{calls}");
    }
    // Nothing listens for the stand-in: the activated component never
    // becomes known, and the error names it and the timeout.
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("not known to the running prosody after 1 s"),
        "{err}"
    );
    assert!(err.contains("b.example"), "{err}");

    // The same through an edit: written, not applied: exit 3.
    let o = run(
        &s,
        &path,
        &[
            "add",
            "d.example",
            "--generate-secret",
            "--reload",
            "--json",
        ],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(
        (j["changed"].as_bool(), j["applied"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        j["apply_error"].as_str().unwrap().contains("d.example"),
        "{j}"
    );
}

#[test]
fn a_computed_component_name_prevents_deactivation() {
    let s = Scratch::new("computed");
    s.config(
        "local d = \"example\"\nComponent (\"a.\" .. d)\n    component_secret = \"s-0123456789\"\n",
    );
    let path = fake_server(&s);
    let o = run(&s, &path, &["reload"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let calls = s.read("calls.log");
    assert!(!calls.contains("deactivate"), "{calls}");
    assert!(stderr(&o).contains("not deactivated"), "{}", stderr(&o));
}

#[test]
fn a_listener_change_with_reload_is_written_but_not_applied() {
    let s = Scratch::new("listenreload");
    s.config(FILE);
    let path = fake_server(&s);
    let o = run(
        &s,
        &path,
        &["listen", "--port", "5348", "--reload", "--json"],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["changed"], true);
    assert_eq!(j["applied"], false);
    assert!(
        j["apply_error"]
            .as_str()
            .unwrap()
            .contains("only when prosody restarts"),
        "{j}"
    );
    assert!(s
        .read("prosody.cfg.lua")
        .contains("component_ports = { 5348 }"));
    // The running server was not touched.
    assert!(!s.path("calls.log").exists() || !s.read("calls.log").contains("reload"));
}

/// `status` with a broken config: prosodyctl reads the config before it
/// asks the server, so the admin shell cannot be asked; that is what is
/// said, not "is it running?".
#[test]
fn status_with_a_broken_config_says_the_shell_could_not_read_it() {
    let s = Scratch::new("status-broken");
    s.config("Component \"a.example\"\n    component_secret = \"secret-a-0123456789\"\n# broken\n");
    let path = fake_server_with(
        &s,
        "**************************\nA problem occurred while reading the config file /etc/prosody/prosody.cfg.lua\n\nError: prosody.cfg.lua:3: unexpected symbol near '#'\n**************************",
    );
    let o = run(&s, &path, &["status"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("prosody.cfg.lua:3:1: error[syntax]"), "{err}");
    assert!(err.contains("could not read the config"), "{err}");
    assert!(!err.contains("is it running"), "{err}");
}

/// `restart` refused by the check while prosody is down (a start that
/// failed): nothing ran, and the message says so rather than "the running
/// server was not touched".
#[test]
fn a_refused_restart_of_a_stopped_prosody_says_nothing_ran() {
    let s = Scratch::new("restart-down");
    s.config("Component \"a.example\"\n    component_secret = \"secret-a-0123456789\"\n# broken\n");
    // prosodyctl status: not running; every other call would succeed.
    let p = s.write(
        "fakebin/prosodyctl",
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n[ \"$1\" = status ] && exit 3\nexit 0\n",
            s.path("calls.log").display()
        ),
    );
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        s.path("fakebin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = run(&s, &path, &["restart"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("prosody is not running, and nothing was run"),
        "{err}"
    );
    assert!(!err.contains("was not touched"), "{err}");
    // Only asked whether it runs: nothing restarted or started.
    let calls = std::fs::read_to_string(s.path("calls.log")).unwrap_or_default();
    assert!(
        !calls.contains("restart") && !calls.contains("start"),
        "{calls}"
    );
}
