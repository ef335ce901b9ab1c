//! The Fogbow workflow against a real prosody: restore a backup, probe
//! with a real handshake, doctor's checklist, and a slixmpp component.

mod support;

use support::*;

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
    let e = refused(
        &s.ctl()
            .config(&cfg)
            .args(["restore", "no-such-backup"])
            .output(),
    );
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
    let e = refused(&s.ctl().config(&cfg).args(["restore", &newest]).output());
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
    let e = refused(
        &s.ctl()
            .config(&cfg)
            .args(["probe", "later.internal.mydomain"])
            .output(),
    );
    assert!(e.contains("kick_old") && e.contains("--force"), "{e}");
    let o = s
        .ctl()
        .config(&cfg)
        .args(["probe", "later.internal.mydomain", "--force"])
        .output();
    ok(&o);
    // Unknown to the config: an error before any connection.
    let e = refused(
        &s.ctl()
            .config(&cfg)
            .args(["probe", "nope.example"])
            .output(),
    );
    assert!(e.contains("no external Component nope.example"), "{e}");
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
