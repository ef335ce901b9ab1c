//! The Fogbow workflow: add from the component's own properties, set the
//! listener, probe with a real handshake, restore a backup.

mod support;

use std::process::Output;

use support::*;

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const MANAGER_CONF: &str = "\
# Fogbow Manager: manager.conf
xmpp_jid = my-manager.internal.mydomain
xmpp_password:m\\u00e4nager\\\"secret\\\\with-escapes
xmpp_host = 127.0.0.1
xmpp_port 5347
";

#[test]
fn add_from_properties() {
    let s = Scratch::new("props");
    let cfg = s.write("prosody.cfg.lua", "admins = { }\n");
    // As Debian ships it: a secret in a world-readable file is warned about.
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let conf = s.write("manager.conf", MANAGER_CONF);
    // Not readable by others, which would be warned about too.
    std::fs::set_permissions(&conf, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let o = s
        .ctl()
        .config(&cfg)
        .args(["add", "--from-properties", conf.to_str().unwrap(), "--json"])
        .output();
    let j: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(j["action"], "added");
    assert_eq!(j["name"], "my-manager.internal.mydomain");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.ends_with("Component \"my-manager.internal.mydomain\"\n\tcomponent_secret = \"m\u{e4}nager\\\"secret\\\\with-escapes\"\n"), "{text}");
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("warning"),
        "port and host match the default listener"
    );
    // Given a NAME, it must be the xmpp_jid.
    let e = err(&s
        .ctl()
        .config(&cfg)
        .args([
            "add",
            "other.example",
            "--from-properties",
            conf.to_str().unwrap(),
        ])
        .output());
    assert!(e.contains("differs from xmpp_jid"), "{e}");
    // Placeholders and missing keys are clear errors; the secret never shows.
    let bad = s.write(
        "bad.conf",
        "xmpp_jid=$manager.internal.mydomain\nxmpp_password=hunter2-secret\n",
    );
    let e = err(&s
        .ctl()
        .config(&cfg)
        .args(["add", "--from-properties", bad.to_str().unwrap()])
        .output());
    assert!(
        e.contains("unexpanded placeholder") && !e.contains("hunter2"),
        "{e}"
    );
    // A port prosody does not listen on, and a remote host with a loopback listener: warnings that say what to run.
    let far = s.write("ras.conf", "xmpp_jid=ras.internal.mydomain\nxmpp_password=ras-secret-0123456789\nxmpp_c2c_port=5348\nxmpp_server_ip=10.11.12.13\nxmpp_enabled=false\n");
    let o = s
        .ctl()
        .config(&cfg)
        .args(["add", "--from-properties", far.to_str().unwrap()])
        .output();
    ok(&o);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        // The suggestion keeps the listener's current port and adds 5348.
        e.contains("listen --port ")
            && e.contains(" --port 5348")
            && e.contains("listen --interface 0.0.0.0")
            && e.contains("xmpp_enabled=false"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .matches("Component")
            .count(),
        2
    );
    // Neither NAME nor --from-properties: a usage error.
    assert_eq!(
        s.ctl().config(&cfg).args(["add"]).output().status.code(),
        Some(2)
    );
}

#[test]
fn listen_sets_the_global_listener_in_place() {
    let s = Scratch::new("listen");
    let cfg = s.write(
        "prosody.cfg.lua",
        "admins = { }\ncomponent_interface = \"127.0.0.1\" -- legacy\nmodules = 1\ncomponent_ports = 5347\ncomponent_interfaces = { \"::1\" }\n\n-- localhost\nVirtualHost \"localhost\"\n",
    );
    let o = s.ctl().config(&cfg).args(["listen", "--json"]).output();
    let j = json(&o);
    assert_eq!(
        j["interfaces"],
        serde_json::json!(["::1"]),
        "component_interfaces wins over the legacy form"
    );
    assert_eq!(j["ports"], serde_json::json!([5347]));
    ok(&s
        .ctl()
        .config(&cfg)
        .args([
            "listen",
            "--interface",
            "0.0.0.0",
            "--interface",
            "::",
            "--port",
            "5347",
            "--port",
            "5348",
        ])
        .output());
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "admins = { }\ncomponent_interfaces = { \"0.0.0.0\", \"::\" } -- legacy\nmodules = 1\ncomponent_ports = { 5347, 5348 }\n\n-- localhost\nVirtualHost \"localhost\"\n"
    );
    let j = json(&s.ctl().config(&cfg).args(["listen", "--json"]).output());
    assert_eq!(j["interfaces"], serde_json::json!(["0.0.0.0", "::"]));
    assert_eq!(j["interfaces_default"], false);
    // Running it again changes nothing.
    let j = json(
        &s.ctl()
            .config(&cfg)
            .args(["listen", "--port", "5347", "--port", "5348", "--json"])
            .output(),
    );
    assert_eq!(j["action"], "unchanged");

    // Absent: inserted after the last global option, set apart by blank lines.
    let cfg2 = s.write(
        "p2.cfg.lua",
        "admins = { }\n\n-- the host\nVirtualHost \"localhost\"\ncomponent_ports = { 1 }\n",
    );
    let o = s.ctl().config(&cfg2).args(["listen"]).output();
    assert_eq!(
        ok(&o),
        format!("interfaces: 127.0.0.1, ::1 (prosody's default)\nports: 5347 (prosody's default)\nignored: component_ports at {}:5 (under VirtualHost \"localhost\": prosody reads it only from the global section; fogbow-xmpp-ctl listen --interface/--port moves it)\n", cfg2.display()),
        "a port set under a VirtualHost is ignored by prosody"
    );
    // listen moves it to the global section (tests/check/findings.rs).
    ok(&s
        .ctl()
        .config(&cfg2)
        .args(["listen", "--interface", "0.0.0.0"])
        .output());
    assert_eq!(
        std::fs::read_to_string(&cfg2).unwrap(),
        "admins = { }\n\ncomponent_interfaces = { \"0.0.0.0\" }\ncomponent_ports = { 1 }\n\n-- the host\nVirtualHost \"localhost\"\n"
    );
    // Validation: usage errors for ports, clear errors for addresses; nothing written.
    let before = std::fs::read_to_string(&cfg2).unwrap();
    assert_eq!(
        s.ctl()
            .config(&cfg2)
            .args(["listen", "--port", "0"])
            .output()
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        s.ctl()
            .config(&cfg2)
            .args(["listen", "--port", "65536"])
            .output()
            .status
            .code(),
        Some(2)
    );
    let e = err(&s
        .ctl()
        .config(&cfg2)
        .args(["listen", "--interface", "my-host.example"])
        .output());
    assert!(e.contains("not an interface address"), "{e}");
    assert_eq!(std::fs::read_to_string(&cfg2).unwrap(), before);
}

/// In Debian's default config the new listener line reads as its own
/// statement: after the last global option with blank lines around it, not
/// under the comment that introduces the `Include` nor glued to a section.
#[test]
fn listen_places_the_listener_after_the_global_options_of_debians_config() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("listen-debian");
    let debian = std::fs::read_to_string("/etc/prosody/prosody.cfg.lua").unwrap();
    let cfg = s.write("prosody.cfg.lua", &debian);
    std::fs::create_dir(s.path("conf.d")).unwrap();
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["listen", "--interface", "0.0.0.0"])
        .output());
    let after = std::fs::read_to_string(&cfg).unwrap();
    let lines: Vec<&str> = after.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("component_interfaces"))
        .unwrap_or_else(|| panic!("no listener line:\n{after}"));
    assert_eq!(lines[at], "component_interfaces = { \"0.0.0.0\" }");
    assert!(
        lines[at - 1].is_empty() && lines[at + 1].is_empty(),
        "not set apart by blank lines:\n{}",
        lines[at - 3..at + 4].join("\n")
    );
    // The statement above it is the last global option, and nothing of
    // Debian's text moved: the file is the old one plus the new lines.
    let above = lines[..at - 1]
        .iter()
        .rev()
        .find(|l| !l.is_empty())
        .unwrap();
    assert_eq!(*above, "certificates = \"certs\"");
    let mut without = lines.clone();
    without.drain(at - 1..at + 1);
    assert_eq!(without, debian.lines().collect::<Vec<_>>());
    let dump = prosody_dump(&cfg).unwrap();
    assert!(
        dump.contains("\"*\"\t\"component_interfaces\"\t{[1]=\"0.0.0.0\"}"),
        "{dump}"
    );
    // listen --reset gives back Debian's file byte for byte, and so it does
    // for a file whose last global option is followed by a section's comment.
    ok(&s.ctl().config(&cfg).args(["listen", "--reset"]).output());
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), debian);
    let glued = "admins = { }\n-- the host\nVirtualHost \"localhost\"\n";
    let cfg2 = s.write("p2.cfg.lua", glued);
    ok(&s
        .ctl()
        .config(&cfg2)
        .args(["listen", "--port", "5348"])
        .output());
    assert_eq!(
        std::fs::read_to_string(&cfg2).unwrap(),
        "admins = { }\ncomponent_ports = { 5348 }\n\n-- the host\nVirtualHost \"localhost\"\n"
    );
    ok(&s.ctl().config(&cfg2).args(["listen", "--reset"]).output());
    assert_eq!(std::fs::read_to_string(&cfg2).unwrap(), glued);
}

#[test]
fn restore_lists_and_restores_backups() {
    let s = Scratch::new("restore");
    let cfg = s.write("prosody.cfg.lua", "admins = { }\n");
    s.write("secret", "restore-secret-0123456789");
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", "a.example"])
        .secret_file(s.path("secret"))
        .output());
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", "b.example"])
        .secret_file(s.path("secret"))
        .output());
    let list = json(
        &s.ctl()
            .config(&cfg)
            .args(["restore", "--list", "--json"])
            .output(),
    );
    let backups: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["backup"].as_str().unwrap())
        .collect();
    assert_eq!(backups.len(), 2, "{list}");
    assert_eq!(
        std::fs::read_to_string(backups[0]).unwrap(),
        "admins = { }\n"
    );
    let first = std::path::Path::new(backups[0])
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let j = json(
        &s.ctl()
            .config(&cfg)
            .args(["restore", &first, "--json"])
            .output(),
    );
    assert_eq!(j["action"], "restored");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "admins = { }\n");
    // The version it replaced was backed up too.
    assert_eq!(
        json(
            &s.ctl()
                .config(&cfg)
                .args(["restore", "--list", "--json"])
                .output()
        )
        .as_array()
        .unwrap()
        .len(),
        3
    );
    let j = json(
        &s.ctl()
            .config(&cfg)
            .args(["restore", &first, "--json"])
            .output(),
    );
    assert_eq!(j["action"], "unchanged");
    let e = err(&s
        .ctl()
        .config(&cfg)
        .args(["restore", "no-such-backup"])
        .output());
    assert!(e.contains("is not a backup of"), "{e}");
    // A backup that no longer loads (its include is gone) is refused.
    std::fs::write(&cfg, "Include \"inc.cfg.lua\"\n").unwrap();
    s.write("inc.cfg.lua", "x = 1\n");
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", "c.example"])
        .secret_file(s.path("secret"))
        .output());
    let newest = ok(&s.ctl().config(&cfg).args(["restore", "--list"]).output())
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_string();
    std::fs::remove_file(s.path("inc.cfg.lua")).unwrap();
    std::fs::write(&cfg, "x = 2\n").unwrap();
    let e = err(&s.ctl().config(&cfg).args(["restore", &newest]).output());
    assert!(e.contains("include-missing"), "{e}");
    // The backup's fault, not ours (never "this is a bug").
    assert!(
        e.contains("refusing to restore") && !e.contains("bug"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "x = 2\n");
}

/// Every outcome of `probe`, against a real prosody.
#[test]
fn probe_reports_each_outcome() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("probe");
    let (base, c2s, comp) = base_config(&s.dir);
    let cfg = s.write("prosody.cfg.lua", &base);
    let conf = s.write(
        "manager.conf",
        &MANAGER_CONF.replace("5347", &comp.to_string()),
    );
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", "--from-properties", conf.to_str().unwrap()])
        .output());
    let mut server = Prosody::start(&cfg, c2s, comp);
    let name = "my-manager.internal.mydomain";

    let j = json(
        &s.ctl()
            .config(&cfg)
            .args(["probe", name, "--json"])
            .output(),
    );
    assert_eq!(j["outcome"], "accepted", "{j}\n{}", server.log_text());
    assert_eq!(
        (j["host"].as_str(), j["port"].as_u64()),
        (Some("127.0.0.1"), Some(comp as u64)),
        "defaults from the listener"
    );

    // Connected elsewhere: good news (exit 0), and the live session stays.
    let secret = "m\u{e4}nager\"secret\\with-escapes".as_bytes();
    let (h, held) = handshake_keep(comp, name, secret);
    assert_eq!(h, Handshake::Accepted);
    let o = s.ctl().config(&cfg).args(["probe", name]).output();
    assert!(
        ok(&o).starts_with(&format!("{name}: conflict")),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    drop(held);

    // A secret changed in the file but not in the running server: not-authorized.
    s.write("new-secret", "a-new-secret-0123456789");
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", name, "--replace"])
        .secret_file(s.path("new-secret"))
        .output());
    let o = s
        .ctl()
        .config(&cfg)
        .args(["probe", name, "--json"])
        .output();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["outcome"], "not-authorized");
    assert!(json(&o)["hint"]
        .as_str()
        .unwrap()
        .contains("reload or restart"));

    // Added but prosody not restarted: host-unknown.
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", "later.internal.mydomain", "--generate-secret"])
        .output());
    let o = s
        .ctl()
        .config(&cfg)
        .args(["probe", "later.internal.mydomain", "--json"])
        .output();
    assert_eq!(json(&o)["outcome"], "host-unknown");
    server.restart();
    assert_eq!(
        json(
            &s.ctl()
                .config(&cfg)
                .args(["probe", "later.internal.mydomain", "--json"])
                .output()
        )["outcome"],
        "accepted"
    );
    assert_eq!(
        json(
            &s.ctl()
                .config(&cfg)
                .args(["probe", name, "--json"])
                .output()
        )["outcome"],
        "accepted",
        "the new secret after restart"
    );

    // Nothing listening there: a connection error.
    let o = s
        .ctl()
        .config(&cfg)
        .args(["probe", name, "--port", &free_port().to_string(), "--json"])
        .output();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["outcome"], "connection-error");

    // kick_old: a probe would disconnect the live component; refused without --force.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "Component \"later.internal.mydomain\"",
            "Component \"later.internal.mydomain\"\n\tcomponent_conflict_resolve = \"kick_old\"",
        ),
    )
    .unwrap();
    let e = err(&s
        .ctl()
        .config(&cfg)
        .args(["probe", "later.internal.mydomain"])
        .output());
    assert!(e.contains("kick_old") && e.contains("--force"), "{e}");
    let o = s
        .ctl()
        .config(&cfg)
        .args(["probe", "later.internal.mydomain", "--force"])
        .output();
    ok(&o);
    // Unknown to the config: an error before any connection.
    let e = err(&s
        .ctl()
        .config(&cfg)
        .args(["probe", "nope.example"])
        .output());
    assert!(e.contains("no external Component nope.example"), "{e}");
}

/// `listen` changes what prosody actually binds (seen with `ss`).
#[test]
fn listen_changes_what_prosody_binds() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("bind");
    let (base, c2s, _) = base_config(&s.dir);
    let port = free_port();
    let cfg = s.write("prosody.cfg.lua", &base);
    s.write("secret", "bind-secret-0123456789");
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", "bind.example"])
        .secret_file(s.path("secret"))
        .output());
    ok(&s
        .ctl()
        .config(&cfg)
        .args([
            "listen",
            "--interface",
            "127.0.0.2",
            "--port",
            &port.to_string(),
        ])
        .output());
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(
        text.matches("component_ports").count(),
        1,
        "replaced in place: {text}"
    );
    let server = Prosody::start(&cfg, c2s, port);
    let mut listening = String::new();
    for _ in 0..50 {
        let ss = std::process::Command::new("ss")
            .args(["-Hltn"])
            .output()
            .unwrap();
        listening = String::from_utf8_lossy(&ss.stdout).into_owned();
        if listening.contains(&format!("127.0.0.2:{port}")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        listening.contains(&format!("127.0.0.2:{port}")),
        "{listening}\n{}",
        server.log_text()
    );
    assert!(
        !listening.contains(&format!("127.0.0.1:{port} ")),
        "{listening}"
    );
    let j = json(
        &s.ctl()
            .config(&cfg)
            .args(["probe", "bind.example", "--json"])
            .output(),
    );
    assert_eq!(j["host"], "127.0.0.2");
    assert_eq!(j["outcome"], "accepted", "{j}");
}

/// `doctor` on a loopback-only setup with a real prosody; names resolve
/// through /etc/hosts entries made here and removed afterwards.
#[test]
fn doctor_checklist_on_a_loopback_setup() {
    if !real_parts_available() || !running_as_root("the doctor test (it edits /etc/hosts)") {
        return;
    }
    struct Hosts(String);
    impl Drop for Hosts {
        fn drop(&mut self) {
            let now = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            let _ = std::fs::write("/etc/hosts", now.replace(&self.0, ""));
        }
    }
    let line = format!("127.0.0.1 fxc-doctor-{}.test\n", std::process::id());
    let name = line.split_whitespace().nth(1).unwrap().to_string();
    let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    if !hosts.ends_with('\n') {
        hosts.push('\n');
    }
    std::fs::write("/etc/hosts", format!("{hosts}{line}")).unwrap();
    let _hosts = Hosts(line);

    let s = Scratch::new("doctor");
    let (base, c2s, comp) = base_config(&s.dir);
    let cfg = s.write("prosody.cfg.lua", &base);
    s.write("strong", "doctor-secret-0123456789");
    s.write("weak", "weak");
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", &name])
        .secret_file(s.path("strong"))
        .output());
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", "nowhere.invalid"])
        .secret_file(s.path("weak"))
        .output());
    let _server = Prosody::start(&cfg, c2s, comp);
    let o = s.ctl().config(&cfg).args(["doctor", "--json"]).output();
    assert_eq!(o.status.code(), Some(1));
    let j = json(&o);
    let verdict = |component: Option<&str>, check: &str| -> bool {
        j["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["check"] == check && i["component"].as_str() == component)
            .unwrap_or_else(|| panic!("no item {component:?} {check}: {j}"))["ok"]
            .as_bool()
            .unwrap()
    };
    assert!(verdict(None, "config passes check"));
    assert!(verdict(None, "server-to-server port listens"), "{j}");
    assert!(verdict(None, "component port reachable"), "{j}");
    assert!(
        !verdict(None, "component port open to other machines"),
        "loopback only"
    );
    assert!(verdict(Some(&name), "name resolves"));
    // Its /etc/hosts line says 127.0.0.1: loopback is useless to a
    // federation, so this is ✘ with why.
    assert!(!verdict(Some(&name), "name points to this machine"));
    assert!(verdict(Some(&name), "secret is strong"));
    assert!(!verdict(Some("nowhere.invalid"), "name resolves"));
    assert!(!verdict(Some("nowhere.invalid"), "secret is strong"));
    let human = String::from_utf8(s.ctl().config(&cfg).args(["doctor"]).output().stdout).unwrap();
    assert!(
        human.contains(&format!("✘ {name}: name points to this machine"))
            && human.contains("a loopback address"),
        "{human}"
    );
    assert!(
        human.contains("✘ component port open to other machines")
            && human.contains("hint: a Fogbow component on another machine"),
        "{human}"
    );
    // Opening the listener fixes that item (in the config; a restart applies it).
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["listen", "--interface", "0.0.0.0"])
        .output());
    let j2 = json(&s.ctl().config(&cfg).args(["doctor", "--json"]).output());
    assert!(j2["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["check"] == "component port open to other machines" && i["ok"] == true));
}

/// A component added `--from-properties` is accepted by slixmpp's
/// ComponentXMPP (PyPI; tests/run-all.sh installs it), a client we did not
/// write; the same client with a wrong secret is refused.
#[test]
fn slixmpp_component_is_accepted() {
    if !real_parts_available() {
        return;
    }
    if !require_tool("slixmpp", &["python3", "-c", "import slixmpp"]) {
        return;
    }
    let s = Scratch::new("slixmpp");
    let (base, c2s, comp) = base_config(&s.dir);
    let cfg = s.write("prosody.cfg.lua", &base);
    let conf = s.write(
        "rendezvous.conf",
        "xmpp_jid=my-rendezvous.internal.mydomain\nxmpp_password=rendezvous \"secret\" \\\\ ]]--\n",
    );
    ok(&s
        .ctl()
        .config(&cfg)
        .args(["add", "--from-properties", conf.to_str().unwrap()])
        .output());
    let _server = Prosody::start(&cfg, c2s, comp);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/slixmpp_component.py");
    let secret = s.write("secret", "rendezvous \"secret\" \\ ]]--\n");
    let run = |secret: &std::path::Path| {
        let o = std::process::Command::new("python3")
            .arg(&script)
            .args([
                "127.0.0.1",
                &comp.to_string(),
                "my-rendezvous.internal.mydomain",
            ])
            .arg(secret)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(run(&secret), "session_start");
    let wrong = s.write("wrong", "not the secret\n");
    assert_ne!(run(&wrong), "session_start");
}
