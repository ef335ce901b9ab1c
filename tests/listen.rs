//! `listen`: the global listener options set in place, placed after the
//! global options of Debian's config, moved out of sections where prosody
//! ignores them, reset to prosody's defaults, and what prosody then binds.

mod support;

use support::*;

/// A config with listener options under Components, where prosody (0.12
/// and 13: `portmanager` reads `config.get("*", …)` only) ignores them.
const MISPLACED: &str = "admins = { }\n\
    Component \"a.example\"\n\
    \tcomponent_secret = \"0123456789abcdef0123\"\n\
    \t-- open it for fogbow\n\
    \tcomponent_interface = \"0.0.0.0\"\n\
    \tcomponent_ports = { 5348 } -- the port\n\
    Component \"b.example\"\n\
    \tcomponent_secret = \"0123456789abcdef0123\"\n\
    \tcomponent_ports = { 5348 }\n";

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
    let e = refused(
        &s.ctl()
            .config(&cfg2)
            .args(["listen", "--interface", "my-host.example"])
            .output(),
    );
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

/// `listen` shows the effective listener (prosody's default here) and each
/// misplaced option as ignored, with FILE:LINE; prosody's own configmanager
/// has them as the hosts' options, and no global one.
#[test]
fn listen_shows_misplaced_options_as_ignored() {
    let s = Scratch::new("listen-show");
    let cfg = s.config(MISPLACED);
    let j = json(&s.run(&["listen", "--json"]));
    assert_eq!(j["ports"], serde_json::json!([5347]));
    assert_eq!(j["ports_default"], true);
    assert_eq!(j["interfaces_default"], true);
    let ignored: Vec<(String, u64, String)> = j["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["file"], cfg.to_str().unwrap());
            (
                m["option"].as_str().unwrap().to_string(),
                m["line"].as_u64().unwrap(),
                m["section"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        ignored,
        [
            (
                "component_interface".into(),
                5,
                "Component \"a.example\"".into()
            ),
            (
                "component_ports".into(),
                6,
                "Component \"a.example\"".into()
            ),
            (
                "component_ports".into(),
                9,
                "Component \"b.example\"".into()
            ),
        ]
    );
    let o = s.run(&["listen"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains(&format!(
        "ignored: component_ports at {}:9 (under Component \"b.example\"",
        cfg.display()
    )));
    if real_parts_available() {
        let dump = prosody_dump(&cfg).unwrap();
        assert!(
            dump.contains("\"a.example\"\t\"component_ports\"\t{[1]=5348}"),
            "{dump}"
        );
        assert!(!dump.contains("\"*\"\t\"component_ports\""), "{dump}");
        assert!(!dump.contains("\"*\"\t\"component_interface"), "{dump}");
    }
}

/// `listen --interface` moves the misplaced options: their lines are
/// deleted (comments kept), the interface given and the ports they agree
/// on are set globally; the listener then is what was asked, and nothing
/// is ignored any more.
#[test]
fn listen_moves_misplaced_options() {
    let s = Scratch::new("listen-move");
    let cfg = s.config(MISPLACED);
    let o = s.run(&["listen", "--interface", "0.0.0.0"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("component_ports at")
            && stderr(&o).contains("goes to the global section as component_ports"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        s.read("prosody.cfg.lua"),
        "admins = { }\n\
         component_interfaces = { \"0.0.0.0\" }\n\
         component_ports = { 5348 }\n\
         \n\
         Component \"a.example\"\n\
         \tcomponent_secret = \"0123456789abcdef0123\"\n\
         \t-- open it for fogbow\n\
         \t-- the port\n\
         Component \"b.example\"\n\
         \tcomponent_secret = \"0123456789abcdef0123\"\n"
    );
    let j = json(&s.run(&["listen", "--json"]));
    assert_eq!(j["interfaces"], serde_json::json!(["0.0.0.0"]));
    assert_eq!(j["ports"], serde_json::json!([5348]));
    assert_eq!(j["ignored"], serde_json::json!([]));
    if real_parts_available() {
        let dump = prosody_dump(&cfg).unwrap();
        assert!(
            dump.contains("\"*\"\t\"component_ports\"\t{[1]=5348}"),
            "{dump}"
        );
    }

    // Ports that disagree are not guessed: the operator says which.
    s.config(&MISPLACED.replace(
        "component_ports = { 5348 }\n",
        "component_ports = { 5349 }\n",
    ));
    let o = s.run(&["listen", "--interface", "0.0.0.0"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("is set differently at") && stderr(&o).contains("--port"),
        "{}",
        stderr(&o)
    );
    // Given, the value given wins and both are deleted.
    let o = s.run(&["listen", "--interface", "0.0.0.0", "--port", "5350"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&s.run(&["listen", "--json"]));
    assert_eq!(j["ports"], serde_json::json!([5350]));
    assert_eq!(j["ignored"], serde_json::json!([]));

    // A legacy option is named as written when it moves.
    s.config(
        "Component \"a.example\"\n\tcomponent_secret = \"0123456789abcdef0123\"\n\tcomponent_interface = \"0.0.0.0\"\n",
    );
    let o = s.run(&["listen", "--port", "5347", "--port", "5348"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("component_interface at")
            && stderr(&o).contains("prosody.cfg.lua:3")
            && stderr(&o).contains("as component_interfaces"),
        "{}",
        stderr(&o)
    );
}

/// `listen --reset` deletes every listener definition, global and
/// misplaced, in whichever file, comments kept: prosody's defaults apply.
/// It cannot be combined with --port/--interface.
#[test]
fn listen_reset_restores_prosodys_defaults() {
    let s = Scratch::new("listen-reset");
    s.write("inc.cfg.lua", "-- included\ncomponent_port = 5351\n");
    s.config(&format!(
        "component_interfaces = {{ \"*\" }} -- everyone\ncomponent_ports = {{ 5348 }}\n{MISPLACED}Include \"inc.cfg.lua\"\n"
    ));
    let o = s.run(&["listen", "--reset", "--port", "5347"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = s.run(&["listen", "--reset"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&s.run(&["listen", "--json"]));
    assert_eq!(j["ports_default"], true);
    assert_eq!(j["interfaces_default"], true);
    assert_eq!(j["ignored"], serde_json::json!([]));
    let main = s.read("prosody.cfg.lua");
    assert!(main.starts_with("-- everyone\nadmins = { }\n"), "{main}");
    assert!(
        !main.contains("component_port") && !main.contains("component_interface"),
        "{main}"
    );
    assert!(main.contains("\t-- the port\n"), "{main}");
    assert_eq!(s.read("inc.cfg.lua"), "-- included\n");
    // Again: nothing to do.
    let o = s.run(&["listen", "--reset"]);
    assert_eq!(code(&o), 0);
    assert!(stderr(&o).contains("unchanged"), "{}", stderr(&o));
}
