//! `check`: every diagnostic with its code, line and column; the JSON shape;
//! exit codes; `--strict`/`--quiet`; includes; and the verdict compared with
//! prosody's own configmanager over broken and valid configs.

use std::process::Output;

use crate::support::*;

const LOCALHOST: &str = include_str!("../../examples/prosody/conf.avail/localhost.cfg.lua");

fn check(s: &Scratch, args: &[&str]) -> (Output, serde_json::Value) {
    let mut a = vec!["check", "--json"];
    a.extend_from_slice(args);
    let o = s.ctl().args(&a).output();
    let j = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    (o, j)
}

/// A case's name, its config, and the (severity, code, line, column) of
/// each diagnostic `check --json` reports for it.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str, u64, u64)>);

#[test]
fn every_diagnostic_with_code_line_and_column() {
    let secret = format!("\tcomponent_secret = \"{STRONG}\"\n");
    let cases: Vec<Case> = vec![
        ("clean", format!("admins = {{ }}\nVirtualHost \"v.example\"\nComponent \"c.example\"\n{secret}"), vec![]),
        ("hash", "admins = { }\n  # Fogbow's guide\n".into(), vec![("error", "syntax", 2, 3)]),
        ("unfinished", "x = [[\nnever closed\n".into(), vec![("error", "syntax", 3, 1)]),
        ("include", "x = 1\n\nInclude \"nope.cfg.lua\"\n".into(), vec![("error", "include-missing", 3, 1)]),
        ("badname", "Component \"a\\u{E000}b\"\n\tcomponent_secret = \"0123456789abcdef0123\"\n".into(), vec![("error", "bad-host-name", 1, 1)]),
        ("unusable", format!("Component \"a b.example\"\n{secret}"), vec![("warning", "unusable-host-name", 1, 1)]),
        // prosody matches a connecting component's name without nameprep.
        ("spelling", format!("x = 1\nComponent \"MiXed.example\"\n{secret}"), vec![("warning", "component-name-spelling", 2, 11)]),
        ("spelling-sharp-s", format!("Component(\"straße.example\")\n{secret}"), vec![("warning", "component-name-spelling", 1, 11)]),
        ("spelling-virtual-host", "VirtualHost \"V.example\"\n".into(), vec![]),
        ("clash", format!("VirtualHost \"x.example\"\n\nComponent \"X.example\"\n{secret}"), vec![("error", "host-clash", 3, 1)]),
        ("clash-reverse", format!("Component \"x.example\"\n{secret}VirtualHost \"x.example\"\n"), vec![("error", "host-clash", 3, 1)]),
        ("nosecret", "x = 1\nComponent \"c.example\"\n".into(), vec![("error", "component-secret-missing", 2, 1)]),
        ("muc-needs-no-secret", "Component \"c.example\" \"muc\"\n".into(), vec![]),
        // prosody's own module for external components: one needs a secret.
        ("component-module-needs-secret", "x = 1\nComponent \"c.example\" \"component\"\n".into(), vec![("error", "component-secret-missing", 2, 1)]),
        // A component that sets no secret uses the global one, set before or after it.
        ("global-secret", format!("component_secret = \"{STRONG}\"\nComponent \"c.example\"\n"), vec![]),
        ("global-secret-after", format!("Component \"c.example\" {{ }}\ncomponent_secret = \"{STRONG}\"\n"), vec![]),
        (
            "global-in-section",
            format!("Component \"c.example\"\n{secret}\tcomponent_interface = \"0.0.0.0\"\n   component_ports = {{ 5347 }}\n"),
            vec![("warning", "global-option-in-section", 3, 2), ("warning", "global-option-in-section", 4, 4)],
        ),
        ("global-in-global", "component_interfaces = { \"0.0.0.0\" }\nVirtualHost \"v\"\n".into(), vec![]),
        ("dup-option", "a = 1\nVirtualHost \"v\"\na = 2\n  a = 3\n".into(), vec![("warning", "duplicate-option", 4, 3)]),
        (
            "dup-component",
            format!("Component \"c.example\"\n{secret}\nComponent \"c.example\"\n{secret}"),
            vec![("warning", "duplicate-component", 4, 1)],
        ),
        ("weak-short", "Component \"c.example\"\n\tcomponent_secret = \"short\"\n".into(), vec![("warning", "weak-secret", 2, 21)]),
        (
            "weak-placeholder",
            "Component \"c.example\" { component_secret = \"rendezvous_password\" }\n".into(),
            vec![("warning", "weak-secret", 1, 44)],
        ),
        ("prosody-load", "x = ENV_FXC_SURELY_UNSET .. \"\"\n".into(), vec![("error", "prosody-load", 1, 1)]),
        (
            "prosody-load-require",
            "require \"no.such.module\"\n".into(),
            vec![("warning", "opaque-option", 1, 1), ("error", "prosody-load", 1, 1)],
        ),
    ];
    if !real_parts_available() {
        return;
    }
    for (tag, config, want) in cases {
        let s = Scratch::new(tag);
        s.write("prosody.cfg.lua", &config);
        let (o, j) = check(&s, &[]);
        let got = found(&j);
        let want: Vec<(String, String, u64, u64)> = want
            .iter()
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), *c, *d))
            .collect();
        assert_eq!(got, want, "{tag}: {j}");
        let errors = want.iter().any(|w| w.0 == "error");
        assert_eq!(o.status.code(), Some(if errors { 1 } else { 0 }), "{tag}");
        assert_eq!(j["ok"], !errors, "{tag}");
        assert!(
            j["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.as_str().unwrap().ends_with("prosody.cfg.lua")),
            "{tag}"
        );
    }
}

#[test]
fn human_output_strict_and_quiet() {
    let s = Scratch::new("human");
    let cfg = s.write(
        "prosody.cfg.lua",
        "Component \"c.example\"\n\tcomponent_secret = \"short\"\n# not lua\n",
    );
    let o = s
        .ctl()
        .config(&cfg)
        .args(["check", "--no-prosody"])
        .output();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let path = cfg.display().to_string();
    assert!(err.contains(&format!("{path}:3:1: error[syntax]: unexpected symbol near '#'\n  help: Lua comments start with `--`")), "{err}");

    s.write(
        "prosody.cfg.lua",
        "Component \"c.example\"\n\tcomponent_secret = \"short\"\n",
    );
    let o = s
        .ctl()
        .config(&cfg)
        .args(["check", "--no-prosody"])
        .output();
    assert_eq!(o.status.code(), Some(0), "warnings alone pass");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains(&format!("{path}:2:21: warning[weak-secret]")),
        "{err}"
    );
    assert!(
        err.contains("help: fogbow-xmpp-ctl add c.example --generate-secret --replace"),
        "{err}"
    );
    assert!(
        !err.contains("\"short\""),
        "the secret itself is never printed: {err}"
    );

    let o = s
        .ctl()
        .config(&cfg)
        .args(["check", "--no-prosody", "--quiet"])
        .output();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "",
        "--quiet prints only errors"
    );

    let o = s
        .ctl()
        .config(&cfg)
        .args(["check", "--no-prosody", "--strict", "--json"])
        .output();
    assert_eq!(
        o.status.code(),
        Some(1),
        "--strict turns warnings into errors"
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ok"], false);
    assert_eq!(j["diagnostics"][0]["severity"], "error");
    assert_eq!(j["diagnostics"][0]["code"], "weak-secret");
    assert_eq!(
        j["diagnostics"][0]["help"],
        "fogbow-xmpp-ctl add c.example --generate-secret --replace"
    );
}

#[test]
fn includes_glob_missing_and_symlinked() {
    let s = Scratch::new("includes");
    s.write(
        "conf.avail/fogbow.cfg.lua",
        "-- components\nComponent \"r.example\"\n\tcomponent_interface = \"0.0.0.0\"\n",
    );
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    std::os::unix::fs::symlink(
        "../conf.avail/fogbow.cfg.lua",
        s.path("conf.d/fogbow.cfg.lua"),
    )
    .unwrap();
    s.write(
        "conf.d/.hidden.cfg.lua",
        "# never loaded: dot-files are skipped\n",
    );
    s.write(
        "prosody.cfg.lua",
        "VirtualHost \"localhost\"\nInclude \"conf.d/*.cfg.lua\"\n",
    );
    let (_, j) = check(&s, &["--no-prosody"]);
    let inc = s.path("conf.d/fogbow.cfg.lua").display().to_string();
    assert_eq!(j["files"].as_array().unwrap().len(), 2, "{j}");
    assert_eq!(j["files"][1], inc.as_str());
    let d = &j["diagnostics"];
    assert_eq!(d[0]["code"], "component-secret-missing");
    assert_eq!(
        (d[0]["file"].as_str().unwrap(), d[0]["line"].as_u64()),
        (inc.as_str(), Some(2))
    );
    assert_eq!(d[1]["code"], "global-option-in-section");
    assert!(d[1]["help"]
        .as_str()
        .unwrap()
        .contains("above the first VirtualHost/Component"));
    assert!(
        d[1]["message"]
            .as_str()
            .unwrap()
            .contains("Component \"r.example\""),
        "names the section: {}",
        d[1]["message"]
    );
    // A dangling conf.d link is fatal for prosody, so it is an error here.
    std::os::unix::fs::symlink("../conf.avail/gone.cfg.lua", s.path("conf.d/gone.cfg.lua"))
        .unwrap();
    let (o, j) = check(&s, &["--no-prosody"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(j["diagnostics"][0]["code"], "include-missing", "{j}");
}

/// The check runs as the prosody user in prosody's unit: read access is
/// enough, and it writes nothing (no lock, no backup, no temp file).
#[test]
fn check_runs_as_prosody_with_read_access_only() {
    if !real_parts_available() || !running_as_root("the check as the prosody user") {
        return;
    }
    let s = Scratch::new("asprosody");
    let cfg = s.write(
        "prosody.cfg.lua",
        &format!("Component \"c.example\"\n\tcomponent_secret = \"{STRONG}\"\n"),
    );
    let st = std::process::Command::new("chown")
        .arg("root:prosody")
        .arg(&cfg)
        .status()
        .unwrap();
    assert!(st.success());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(
        s.path("settings.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let before: Vec<_> = std::fs::read_dir(&s.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let check_as_prosody = || {
        std::process::Command::new("setpriv")
            .args([
                "--reuid=prosody",
                "--regid=prosody",
                "--init-groups",
                BIN,
                "--settings",
            ])
            .arg(s.path("settings.toml"))
            .arg("-c")
            .arg(&cfg)
            .arg("check")
            .output()
            .unwrap()
    };
    let o = check_as_prosody();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let after: Vec<_> = std::fs::read_dir(&s.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    // Without read access, a clear error.
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = check_as_prosody();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Our verdict is never more lenient than prosody's own configmanager, and
/// where prosody names a line, our own diagnostic names the same one.
#[test]
fn verdict_matches_prosody() {
    if !real_parts_available() {
        return;
    }
    let secret = format!("\tcomponent_secret = \"{STRONG}\"\n");
    let corpus: Vec<(&str, String)> = vec![
        ("debian-default", DEBIAN12.to_string()),
        ("fogbow-block", format!("{DEBIAN12}\nComponent \"my-manager.internal.mydomain\"\n{secret}")),
        ("table-forms", format!("Component \"m.example\" {{ component_secret = \"{STRONG}\" }}\nComponent \"x.example\" \"muc\" {{ name = \"x\" }}\n")),
        ("computed", "local d = \"example.org\"\nComponent (\"conference.\" .. d) \"muc\"\nVirtualHost(d)\n".into()),
        ("crlf", DEBIAN12.replace('\n', "\r\n")),
        ("hash", "admins = { }\n# comment\n".into()),
        ("hash-first", "# comment\nadmins = { }\n".into()),
        ("shebang", "#!/usr/bin/lua\nadmins = { }\n".into()),
        ("bom", "\u{feff}admins = { }\n".into()),
        ("unfinished-string", "admins = { \"a }\n".into()),
        ("unfinished-long", "x = [==[\n\n]=]\n".into()),
        ("unfinished-comment", "x = 1\n--[[\n".into()),
        ("missing-end", "if true then\nx = 1\n".into()),
        ("bad-escape", "x = \"\\q\"\n".into()),
        ("stray-bracket", "x = { 1, 2 ]\n".into()),
        ("deep", format!("x = {}1{}\n", "(".repeat(300), ")".repeat(300))),
        ("deep-195", format!("x = {}1{}\n", "{".repeat(195), "}".repeat(195))),
        ("deep-196", format!("x = {}1{}\n", "{".repeat(196), "}".repeat(196))),
        ("include-missing", "Include \"/nonexistent/fxc.cfg.lua\"\n".into()),
        ("include-glob-missing-dir", "Include \"/nonexistent/*.cfg.lua\"\n".into()),
        ("host-clash", format!("VirtualHost \"a.example\"\nComponent \"a.example\"\n{secret}")),
        ("host-clash-reverse", format!("Component \"a.example\"\n{secret}VirtualHost \"a.example\"\n")),
        ("nameprep", "VirtualHost \"a\\xffb\"\n".into()),
        ("env-unset", "x = ENV_FXC_SURELY_UNSET .. \"\"\n".into()),
        ("require", "require \"no.such.module\"\n".into()),
        ("vhost-module", "VirtualHost \"v.example\" \"muc\"\n".into()),
        ("call-nil", "Frobnicate \"x\"\n".into()),
    ];
    for (tag, text) in corpus {
        let s = Scratch::new(tag);
        s.write("conf.avail/localhost.cfg.lua", LOCALHOST);
        std::fs::create_dir_all(s.path("conf.d")).unwrap();
        let cfg = s.write("prosody.cfg.lua", &text);
        let prosody = prosody_dump(&cfg);
        let (full, j) = check(&s, &[]);
        let (_, static_only) = check(&s, &["--no-prosody"]);
        let errors: Vec<&serde_json::Value> = j["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .collect();
        match &prosody {
            Ok(_) => assert_eq!(
                full.status.code(),
                Some(0),
                "{tag}: prosody loads it, so must we: {j}"
            ),
            Err(e) => {
                assert_eq!(
                    full.status.code(),
                    Some(1),
                    "{tag}: prosody refuses ({e}); we must too: {j}"
                );
                // prosody's `FILE:LINE:` when it gives one: our error is on that line.
                let mut parts = e.splitn(3, ':');
                let (file, line) = (
                    parts.next().unwrap_or(""),
                    parts.next().and_then(|l| l.trim().parse::<u64>().ok()),
                );
                let line = line.filter(|_| file.starts_with(s.dir.to_str().unwrap()));
                if let Some(line) = line {
                    assert!(
                        errors.iter().any(|d| d["line"].as_u64() == Some(line)),
                        "{tag}: prosody says line {line} ({e}); we say {j}"
                    );
                }
            }
        }
        // The static check alone catches every syntax error prosody reports.
        if prosody.as_ref().is_err_and(|e| {
            e.contains("near") || e.contains("unfinished") || e.contains("expected")
        }) {
            assert_eq!(static_only["ok"], false, "{tag}: {static_only}");
            assert_eq!(
                static_only["diagnostics"][0]["code"], "syntax",
                "{tag}: {static_only}"
            );
        }
    }
}

/// Without prosody installed the loader step is skipped with a note, and
/// `--no-prosody` skips it on purpose (simulated with a `prosody_lib`
/// setting where there is no prosody).
#[test]
fn prosody_step_skipped_with_a_note_when_not_installed() {
    let s = Scratch::new("noprosody");
    let cfg = s.write("prosody.cfg.lua", "require \"no.such.module\"\n");
    let o = s
        .ctl_with_lib(s.path("no-prosody-here"))
        .config(&cfg)
        .arg("check")
        .output();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("note: prosody is not installed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    if real_parts_available() {
        let o = s
            .ctl()
            .config(&cfg)
            .args(["check", "--no-prosody"])
            .output();
        assert_eq!(o.status.code(), Some(0));
        let o = s.ctl().config(&cfg).args(["check"]).output();
        assert_eq!(o.status.code(), Some(1), "the installed prosody refuses it");
    }
}

/// A missing closing quote says where (the line up to the quote, strings
/// in it masked: the value may be a secret) and how to fix it.
#[test]
fn unfinished_string_says_where_and_how() {
    let s = Scratch::new("unfinished-string");
    let cfg = s.write(
        "prosody.cfg.lua",
        "admins = { \"admin-XYZ\" }\nComponent \"c.example\"\n\tcomponent_secret = \"s3cr3t-value-0123\nx = 1\n",
    );
    let o = s
        .ctl()
        .config(&cfg)
        .args(["check", "--no-prosody"])
        .output();
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}:3:21: error[syntax]: unfinished string",
            cfg.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("help: the string opened at `component_secret = \"…` is not closed on its line: close the quote on the same line")
            && err.contains("or use [[ ]] for a multi-line string"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
    // Strings before the quote on its line are masked too.
    s.write("prosody.cfg.lua", "x = { \"admin-XYZ\", \"s3cr3t\n");
    let err = stderr(
        &s.ctl()
            .config(&cfg)
            .args(["check", "--no-prosody"])
            .output(),
    );
    assert!(err.contains("`x = { \"…\", \"…`"), "{err}");
    assert!(
        !err.contains("admin-XYZ") && !err.contains("s3cr3t"),
        "{err}"
    );
}
