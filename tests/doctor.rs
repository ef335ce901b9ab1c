//! The read-only commands (`list`, `probe`, `status`, `doctor`)
//! work on a broken config, the breakage shown first; and a `doctor` that
//! is right: loopback names, every `check` finding, prosody's own log (a
//! real prosody refusing a wrong secret), the sockets actually listening.

mod support;

use std::net::TcpListener;
use std::path::Path;

use support::*;

/// The item `check` (of `component`, or the server's) in doctor's JSON.
fn doctor_item<'j>(
    j: &'j serde_json::Value,
    component: Option<&str>,
    check: &str,
) -> &'j serde_json::Value {
    j["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["check"] == check && i["component"].as_str() == component)
        .unwrap_or_else(|| panic!("no item {component:?} {check}: {j}"))
}

/// The byte offset where `needle` first appears in `hay`.
fn at(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {hay}"))
}

const GOOD: &str = "Component \"good.example\"\n\tcomponent_secret = \"0123456789abcdef-good\"\n";

/// Three ways a hand edit breaks the config; each with where `check` says it is.
fn broken_configs() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "hash comment",
            format!("admins = {{ }}\n# a comment the Python way\n{GOOD}"),
            "prosody.cfg.lua:2:1: error[syntax]",
        ),
        (
            "unclosed string",
            format!("admins = {{ \"root@example\n{GOOD}"),
            "prosody.cfg.lua:1:",
        ),
        (
            "missing include",
            format!("admins = {{ }}\nInclude \"conf.d/missing.cfg.lua\"\n{GOOD}"),
            "prosody.cfg.lua:2:1: error[include-missing]",
        ),
    ]
}

#[test]
fn read_only_commands_read_a_broken_config_breakage_first() {
    for (what, text, place) in broken_configs() {
        let s = Scratch::new("broken");
        let cfg = s.config(&text);
        // list: the data, the breakage first on stderr, exit 1 (documented).
        let o = s.run(&["list"]);
        assert_eq!(code(&o), 1, "{what}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(!err.contains("already broken"), "{what}: {err}");
        assert!(
            at(&err, place) < at(&err, "showing what parses"),
            "{what}: diagnostics come first: {err}"
        );
        assert!(
            stdout(&o).lines().any(|l| l.starts_with("good.example")),
            "{what}: {}",
            stdout(&o)
        );
        // Its JSON keeps the shape and adds the breakage.
        let o = s.run(&["list", "--json"]);
        assert_eq!(code(&o), 1, "{what}");
        let j = json(&o);
        assert_eq!(j["components"][0]["name"], "good.example", "{what}: {j}");
        assert_eq!(j["components"][0]["secret_set"], true, "{what}: {j}");
        assert_eq!(j["broken"], true);
        assert_eq!(j["source"], "partial");
        assert!(!j["diagnostics"].as_array().unwrap().is_empty(), "{j}");
        assert!(!j["skipped"].as_array().unwrap().is_empty(), "{j}");

        // doctor: ✘ config passes check, with every diagnostic; still the checklist.
        let o = s.run(&["doctor", "--json"]);
        assert_eq!(code(&o), 1, "{what}");
        let j = json(&o);
        assert_eq!(j["ok"], false);
        assert_eq!(j["broken"], true);
        let check = doctor_item(&j, None, "config passes check");
        assert_eq!(check["ok"], false, "{what}: {j}");
        assert!(!check["diagnostics"].as_array().unwrap().is_empty());
        doctor_item(&j, Some("good.example"), "secret is strong");
        let o = s.run(&["doctor"]);
        assert!(
            stdout(&o).starts_with("✘ config passes check"),
            "{what}: {}",
            stdout(&o)
        );
        assert!(stdout(&o).contains(place), "{what}: {}", stdout(&o));

        // probe: reads the secret and listener from what parses; a closed
        // port is a connection error, and the breakage is said first.
        let port = free_port().to_string();
        let o = s.run(&["probe", "good.example", "--port", &port]);
        assert_eq!(code(&o), 1, "{what}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("good.example: connection-error"),
            "{what}: {}",
            stdout(&o)
        );
        assert!(stderr(&o).contains(place), "{}", stderr(&o));
        let j = json(&s.run(&["probe", "good.example", "--port", &port, "--json"]));
        assert_eq!(j["outcome"], "connection-error");
        assert_eq!(j["broken"], true);

        // status: no server to ask here; the breakage is still said first.
        let o = s.run(&["status"]);
        assert_eq!(code(&o), 1);
        let err = stderr(&o);
        assert!(
            at(&err, place) < at(&err, "cannot ask the running prosody"),
            "{what}: {err}"
        );

        // Edits still refuse, and nothing was written by any of it.
        let o = s.run(&["remove", "good.example"]);
        assert_eq!(code(&o), 1);
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text, "{what}");
    }
}

/// A config that still loads: `"broken": false`, exit 0 as before.
#[test]
fn a_healthy_config_says_so() {
    let s = Scratch::new("healthy");
    s.config(GOOD);
    let o = s.run(&["list", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["broken"], false);
    assert_eq!(j["source"], "config");
    assert!(j.get("diagnostics").is_none(), "{j}");
}

/// Nothing useful parses (here: more problems than are stepped over, then
/// a main config that is gone): the last good backup, said so with its
/// name and date.
#[test]
fn nothing_parses_the_last_good_backup_is_shown() {
    let s = Scratch::new("backup");
    let cfg = s.config("admins = { }\n");
    let secret = s.secret("0123456789abcdef-backup");
    for name in ["first.example", "second.example"] {
        let o = s.ctl().args(["add", name]).secret_file(&secret).output();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    // The newest backup is the version before the second add.
    let hashes = "# not Lua\n".repeat(60);
    std::fs::write(&cfg, format!("{hashes}Component \"third.example\"\n")).unwrap();
    let o = s.run(&["list", "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["source"], "backup", "{j}");
    let names: Vec<&str> = j["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first.example"], "{j}");
    let backup = j["backup"].as_str().unwrap();
    assert!(backup.starts_with(s.path("backups").to_str().unwrap()));
    let date = j["backup_date"].as_str().unwrap();
    assert!(date.ends_with(" UTC") && date.len() == 23, "{date}");
    let err = stderr(&o);
    assert!(
        at(&err, "prosody.cfg.lua:1:1: error[syntax]")
            < at(
                &err,
                &format!(
                    "showing the last good backup {backup}, the config as it was before the edit of {date}"
                )
            ),
        "{err}"
    );

    // The main config gone: still the backup.
    std::fs::remove_file(&cfg).unwrap();
    let o = s.run(&["list"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("first.example"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("showing the last good backup"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("No such file"), "{}", stderr(&o));

    // Named by a bare file name (its parent is ""): the backup still.
    let o = s
        .ctl()
        .config(std::path::Path::new("prosody.cfg.lua"))
        .args(["list"])
        .current_dir(&s.dir)
        .output();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains("first.example"), "{}", stderr(&o));
}

/// `doctor` lists every finding of `check`, warnings included, with
/// file:line (a duplicate block can be what broke authentication).
#[test]
fn doctor_shows_every_check_finding() {
    let s = Scratch::new("findings");
    s.config(&format!(
        "{GOOD}Component \"good.example\"\n\tcomponent_secret = \"0123456789abcdef-other\"\n"
    ));
    let o = s.run(&["doctor", "--json"]);
    let j = json(&o);
    let check = doctor_item(&j, None, "config passes check");
    let ds = check["diagnostics"].as_array().unwrap();
    // Two secrets for one component: an error (the first block's secret is
    // refused), at the winning block's line.
    assert!(
        ds.iter()
            .any(|d| d["code"] == "duplicate-component-secret" && d["line"] == 3),
        "{j}"
    );
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("1 error(s)"),
        "{check}"
    );
    // One set of items per component, not one per block.
    let strong: Vec<_> = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["check"] == "secret is strong" && i["component"] == "good.example")
        .collect();
    assert_eq!(strong.len(), 1, "{j}");
    let human = stdout(&s.run(&["doctor"]));
    assert!(
        human.contains("prosody.cfg.lua:3:1: error[duplicate-component-secret]"),
        "{human}"
    );

    // Equal secrets twice: still listed, as the warning it is.
    s.config(&format!("{GOOD}{GOOD}"));
    let j = json(&s.run(&["doctor", "--json"]));
    let check = doctor_item(&j, None, "config passes check");
    assert!(
        check["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "duplicate-component" && d["severity"] == "warning"),
        "{j}"
    );
    assert!(
        check["detail"].as_str().unwrap().contains("1 warning(s)"),
        "{check}"
    );
}

/// A name that resolves to loopback is useless to a federation: ✘ with
/// why; 127.0.1.1 is explained as Debian's /etc/hosts convention, not as
/// a NAT. (`localhost` and a literal address resolve without touching
/// /etc/hosts.)
#[test]
fn doctor_loopback_names_fail_with_why() {
    let s = Scratch::new("loopback");
    s.config(
        "Component \"localhost\"\n\tcomponent_secret = \"0123456789abcdef-lo\"\n\
         Component \"127.0.1.1\"\n\tcomponent_secret = \"0123456789abcdef-deb\"\n",
    );
    let o = s.run(&["doctor", "--json"]);
    assert_eq!(code(&o), 1);
    let j = json(&o);
    let lo = doctor_item(&j, Some("localhost"), "name points to this machine");
    assert_eq!(lo["ok"], false, "{lo}");
    assert!(lo["detail"].as_str().unwrap().contains("loopback"), "{lo}");
    assert!(lo["hint"].as_str().unwrap().contains("other sites"), "{lo}");
    let deb = doctor_item(&j, Some("127.0.1.1"), "name points to this machine");
    assert_eq!(deb["ok"], false, "{deb}");
    assert!(
        deb["detail"]
            .as_str()
            .unwrap()
            .contains("Debian's installer"),
        "{deb}"
    );
    assert!(!deb["hint"].as_str().unwrap().contains("NAT"), "{deb}");
}

/// What listens where, from /proc: a component port on every interface
/// is flagged (⚠: firewall it); a server-to-server port on loopback only
/// fails (other sites cannot connect).
#[test]
fn doctor_reads_the_listening_sockets() {
    let everywhere = TcpListener::bind("0.0.0.0:0").unwrap();
    let comp = everywhere.local_addr().unwrap().port();
    let lo = TcpListener::bind("127.0.0.1:0").unwrap();
    let s2s = lo.local_addr().unwrap().port();
    let s = Scratch::new("sockets");
    s.config(&format!(
        "component_ports = {{ {comp} }}\ncomponent_interfaces = {{ \"0.0.0.0\" }}\ns2s_ports = {{ {s2s} }}\n{GOOD}"
    ));
    let j = json(&s.run(&["doctor", "--json"]));
    // The sockets are seen, the firewall is not: what to check is said,
    // not that the port is closed to the internet.
    let c = doctor_item(&j, None, "component port exposure");
    assert_eq!(c["ok"], true, "{c}");
    assert_eq!(c["warn"], true, "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(detail.contains("0.0.0.0"), "{c}");
    assert!(detail.contains("the firewall is not checked here"), "{c}");
    assert!(
        c["hint"].as_str().unwrap().contains(&format!(
            "check the firewall (nft list ruleset, or iptables -S): {comp}/tcp must be open only to"
        )),
        "{c}"
    );
    let f = doctor_item(&j, None, "server-to-server port open to other sites");
    assert_eq!(f["ok"], false, "{f}");
    assert!(f["detail"].as_str().unwrap().contains("127.0.0.1"), "{f}");
    let human = stdout(&s.run(&["doctor"]));
    assert!(human.contains("⚠ component port exposure"), "{human}");
    assert!(!human.contains("not open to the internet"), "{human}");
}

/// A real prosody refuses a wrong secret and logs it; `doctor`, given the
/// config whose `log` names that file, reports the failure for that
/// component with the hint, the log line escaped for the terminal.
#[test]
fn doctor_finds_authentication_failures_in_prosodys_log() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("doctor-log");
    let (base, c2s, comp) = base_config(&s.dir);
    let name = "my-manager.internal.mydomain";
    let component =
        format!("Component \"{name}\"\n\tcomponent_secret = \"right-secret-0123456789\"\n");
    let cfg = s.write("prosody.cfg.lua", &format!("{base}{component}"));
    let server = Prosody::start(&cfg, c2s, comp);
    assert_eq!(
        handshake(comp, name, b"the-wrong-secret"),
        Handshake::NotAuthorized,
        "{}",
        server.log_text()
    );
    let log = cfg.with_extension("log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server
        .log_text()
        .contains("Component authentication failed for")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "prosody did not log the failure: {}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The same config, its log option naming the file the server writes.
    let console = base
        .lines()
        .find(|l| l.starts_with("log = "))
        .unwrap()
        .to_string();
    let doctor_cfg = s.write(
        "doctor.cfg.lua",
        &format!("{base}{component}").replace(
            &console,
            &format!("log = {{ info = \"{}\" }}", log.display()),
        ),
    );
    let o = s
        .ctl()
        .config(&doctor_cfg)
        .args(["doctor", "--json"])
        .output();
    let j = json(&o);
    let i = doctor_item(&j, Some(name), "no recent authentication failures");
    assert_eq!(i["ok"], false, "{i}");
    let detail = i["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("Component authentication failed for {name}"))
            && detail.contains(&log.display().to_string()),
        "{detail}"
    );
    assert!(
        i["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("fogbow-xmpp-ctl probe {name} --from-properties")),
        "{i}"
    );
    // Another component of the config has none.
    let human = stdout(&s.ctl().config(&doctor_cfg).args(["doctor"]).output());
    assert!(
        human.contains(&format!("✘ {name}: no recent authentication failures")),
        "{human}"
    );

    // Log lines are hostile input: a line with escape sequences is shown escaped.
    let hostile = s.write(
        "hostile.log",
        &format!(
            "x:component\tinfo\tComponent authentication failed for {name} \u{1b}]0;pwned\u{7}\n"
        ),
    );
    let hostile_cfg = s.write(
        "hostile.cfg.lua",
        &format!("log = \"{}\"\n{component}", hostile.display()),
    );
    let out = stdout(&s.ctl().config(&hostile_cfg).args(["doctor"]).output());
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("\\u{1b}]0;pwned"), "{out}");
    assert!(Path::new(&log).exists());
}

/// A `#` comment after an option (the Fogbow guide's style) is stepped
/// over from the `#` on, not with its whole line: the component read from a
/// broken config keeps the secret written before the comment.
#[test]
fn a_trailing_hash_comment_keeps_the_option_before_it() {
    let s = Scratch::new("broken-trailing");
    s.config(
        "# Fogbow sample\nComponent \"m.example\"\n  component_secret = \"0123456789abcdef-m\" # the manager\n",
    );
    let o = s.run(&["list", "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["broken"], true, "{j}");
    assert_eq!(j["components"][0]["name"], "m.example", "{j}");
    assert_eq!(j["components"][0]["secret_set"], true, "{j}");
    assert!(
        stderr(&o).contains("prosody.cfg.lua:3:43: error[syntax]"),
        "{}",
        stderr(&o)
    );
}

/// prosody's log separates its fields with tabs: `doctor` shows them as
/// spaces, not as `\u{9}`, and the line is still terminal-safe.
#[test]
fn doctor_shows_log_tabs_as_spaces() {
    let s = Scratch::new("doctor-tabs");
    let name = "m.example";
    let log = s.write(
        "prosody.log",
        &format!("Dec 07 01:02:03 m.example:component\tinfo\tComponent authentication failed for {name} \u{1b}[2J\n"),
    );
    s.config(&format!(
        "log = \"{}\"\nComponent \"{name}\"\n\tcomponent_secret = \"right-secret-0123456789\"\n",
        log.display()
    ));
    let out = stdout(&s.run(&["doctor"]));
    assert!(
        out.contains(&format!(
            "m.example:component  info  Component authentication failed for {name}"
        )),
        "{out}"
    );
    assert!(!out.contains("\\u{9}") && !out.contains('\t'), "{out}");
    assert!(
        !out.contains('\u{1b}') && out.contains("\\u{1b}[2J"),
        "{out}"
    );
}

/// An upgrade of prosody that left its new default config beside an
/// edited one (`prosody.cfg.lua.dpkg-dist`) is reported, with how to merge.
#[test]
fn doctor_reports_an_unmerged_dpkg_dist() {
    let s = Scratch::new("doctor-dpkg-dist");
    let cfg = s.config(GOOD);
    let j = json(&s.run(&["doctor", "--json"]));
    assert!(
        !j["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["check"] == "config from the package merged"),
        "{j}"
    );
    let dist = s.write("prosody.cfg.lua.dpkg-dist", "-- the new default\n");
    let j = json(&s.run(&["doctor", "--json"]));
    let i = doctor_item(&j, None, "config from the package merged");
    assert_eq!(i["warn"], true, "{i}");
    assert!(
        i["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{} is there", dist.display())),
        "{i}"
    );
    assert!(
        i["hint"].as_str().unwrap().contains(&format!(
            "diff -u {} {}",
            cfg.display(),
            dist.display()
        )),
        "{i}"
    );
    let human = stdout(&s.run(&["doctor"]));
    assert!(
        human.contains("⚠ config from the package merged"),
        "{human}"
    );
}
