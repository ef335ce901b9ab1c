//! What the tool teaches about itself: the man page (examples, where to
//! read more, synopses with their placeholders), `--help`'s layout, the
//! words around a generated secret, and a dry run that shows a changed
//! secret without showing the secret.

mod support;

use std::process::Command;

use support::*;

/// The generated man page, as `build.rs` writes it next to the binary.
fn man_page() -> String {
    let dir = std::path::Path::new(BIN).parent().unwrap().join("assets");
    std::fs::read_to_string(dir.join("fogbow-xmpp-ctl.1")).unwrap()
}

/// roff as a reader sees it: no font changes, `\-` a plain minus.
fn plain(roff: &str) -> String {
    roff.replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
        .replace("\\-", "-")
}

/// The text of section `title` (`.SH title` up to the next `.SH`).
fn section<'a>(page: &'a str, title: &str) -> &'a str {
    let start = page
        .find(&format!(".SH {title}\n"))
        .unwrap_or_else(|| panic!("no {title} section in:\n{page}"));
    let rest = &page[start + 1..];
    &rest[..rest.find("\n.SH ").map_or(rest.len(), |i| i + 1)]
}

#[test]
fn man_page_has_examples_see_also_and_keeps_its_sections() {
    let page = man_page();
    let examples = plain(section(&page, "EXAMPLES"));
    // The Fogbow workflow, in order.
    let steps = [
        "fogbow-xmpp-ctl add --from-properties /etc/fogbow/manager.conf",
        "fogbow-xmpp-ctl add --from-properties /etc/fogbow/rendezvous.conf",
        "fogbow-xmpp-ctl listen --interface 0.0.0.0 --port 5347",
        "fogbow-xmpp-ctl restart",
        "fogbow-xmpp-ctl probe my-manager.internal.mydomain",
        "fogbow-xmpp-ctl doctor",
    ];
    let mut at = 0;
    for step in steps {
        let i = examples[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} missing or out of order in:\n{examples}"));
        at += i + step.len();
    }
    for shown in [
        "--reload",
        "fogbow-xmpp-ctl remove ",
        "fogbow-xmpp-ctl list",
        "fogbow-xmpp-ctl check",
        "fogbow-xmpp-ctl restore --list",
        "--generate-secret)",
        "--json",
        "changed_when",
        "3) ",
    ] {
        assert!(
            examples.contains(shown),
            "{shown:?} missing in:\n{examples}"
        );
    }
    let see_also = plain(section(&page, "\"SEE ALSO\""));
    for page_ref in [
        "prosody (8)",
        "prosodyctl (1)",
        "systemctl (1)",
        "journalctl (1)",
        "systemd.unit (5)",
        "/usr/share/doc/fogbow-xmpp-ctl/README.md",
    ] {
        assert!(see_also.contains(page_ref), "{page_ref:?} in:\n{see_also}");
    }
    // SEE ALSO is the last section; the hand-written ones are kept.
    assert!(!see_also.contains("\n.SH "), "{see_also}");
    for kept in [
        "\"EXIT STATUS\"",
        "FILES",
        "SECRETS",
        "SETTINGS",
        "DIAGNOSTICS",
    ] {
        section(&page, kept);
    }
}

/// Every key the settings file accepts, as the binary names them when it
/// refuses an unknown one.
fn settings_keys() -> Vec<String> {
    let s = Scratch::new("keys");
    let f = s.write("settings.toml", "no_such_key = 1\n");
    let o = support::ctl().settings(&f).arg("list").output();
    let e = stderr(&o);
    let list = e
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("{e}"));
    list.trim()
        .split(", ")
        .map(|k| k.trim_matches('`').to_string())
        .collect()
}

/// SETTINGS lists every key the settings file takes, with its default;
/// FILES names every place the tool reads or writes, root's lock included.
#[test]
fn man_page_lists_every_setting_and_every_file() {
    let page = man_page();
    let settings = section(&page, "SETTINGS");
    let keys = settings_keys();
    assert!(keys.len() >= 9, "{keys:?}");
    for k in &keys {
        assert!(
            settings.contains(&format!(".B {k}\n")),
            "{k} is not in SETTINGS:\n{settings}"
        );
    }
    let files = plain(section(&page, "FILES"));
    for path in [
        "/etc/prosody/prosody.cfg.lua",
        "/etc/fogbow-xmpp-ctl/config.toml",
        "/var/lib/fogbow-xmpp-ctl/backups",
        "/etc/fogbow-xmpp-ctl/credentials",
        "/etc/systemd/system/prosody.service.d/fogbow-xmpp-ctl-credentials.conf",
        "/usr/lib/systemd/system/prosody.service.d/fogbow-xmpp-ctl.conf",
        "/run/fogbow-xmpp-ctl/",
    ] {
        assert!(files.contains(path), "{path} is not in FILES:\n{files}");
    }
    assert!(!files.contains("lock on its directory"), "{files}");
}

/// The README the man page points to is the one the package installs.
#[test]
fn the_readme_the_man_page_names_is_installed_there() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo: toml::Value =
        toml::from_str(&std::fs::read_to_string(manifest.join("Cargo.toml")).unwrap()).unwrap();
    let assets = cargo["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .unwrap();
    assert!(
        assets.iter().any(|a| a[0].as_str() == Some("README.md")
            && a[1].as_str() == Some("usr/share/doc/fogbow-xmpp-ctl/")),
        "{assets:?}"
    );
    assert!(manifest.join("README.md").is_file());
}

/// Every synopsis names its values: `--config PATH`, not `[-c|--config]`.
#[test]
fn man_page_synopses_show_placeholders() {
    let page = man_page();
    let synopsis = plain(section(&page, "SYNOPSIS"));
    for form in [
        "fogbow-xmpp-ctl [-c|--config PATH] [--settings PATH] [-q|--quiet | -v|--verbose] COMMAND",
        "fogbow-xmpp-ctl add [--from-properties FILE] [--secret-file PATH | --generate-secret] [--replace]",
        "[--reload | --restart] [NAME]",
        "fogbow-xmpp-ctl remove [--if-exists]",
        "fogbow-xmpp-ctl listen [--interface ADDR]... [--port N]... [--reset]",
        "fogbow-xmpp-ctl probe [--from-properties FILE | --secret-file PATH] [--host HOST] [--port N] [--force] [--json] [NAME]",
        "fogbow-xmpp-ctl doctor [--public-address IP]... [--json]",
    ] {
        assert!(synopsis.contains(form), "{form:?} missing in:\n{synopsis}");
    }
    assert!(!synopsis.contains("[-c|--config]"), "{synopsis}");
    // Each command's own subsection starts with its synopsis.
    let commands = plain(section(&page, "COMMANDS"));
    for name in [
        "add", "remove", "list", "check", "restart", "reload", "status", "listen", "probe",
        "restore", "doctor",
    ] {
        let head = format!(".SS \"fogbow-xmpp-ctl {name}\"\n");
        let i = commands
            .find(&head)
            .unwrap_or_else(|| panic!("no {name} in:\n{commands}"));
        let body = &commands[i + head.len()..];
        let line = body
            .lines()
            .find(|l| l.starts_with("fogbow-xmpp-ctl"))
            .unwrap();
        assert!(
            line.starts_with(&format!("fogbow-xmpp-ctl {name}")),
            "{name}: {line}"
        );
    }
    assert!(
        commands.contains("fogbow-xmpp-ctl add [--from-properties FILE] [--secret-file PATH"),
        "{commands}"
    );
}

/// A command's own options come first; -c, --settings, -q and -v follow
/// under their own heading.
#[test]
fn help_lists_a_commands_own_options_before_the_global_ones() {
    for (cmd, own) in [
        ("add", "--secret-file <PATH>"),
        ("remove", "--if-exists"),
        ("check", "--strict"),
    ] {
        let o = support::ctl().args([cmd, "-h"]).output();
        assert_eq!(code(&o), 0);
        let h = stdout(&o);
        let options = h.find("\nOptions:\n").expect(&h);
        let global = h.find("\nGlobal options:\n").expect(&h);
        assert!(options < global, "{h}");
        let own_at = h.find(own).expect(&h);
        assert!(options < own_at && own_at < global, "{own}: {h}");
        for g in [
            "-c, --config <PATH>",
            "--settings <PATH>",
            "-q, --quiet",
            "-v, --verbose",
        ] {
            let at = h.find(g).expect(&h);
            assert!(at > global, "{g} is not under Global options:\n{h}");
        }
    }
}

/// `S=$(fogbow-xmpp-ctl add X --generate-secret)`: standard output is the
/// secret and a newline, nothing else; standard error says where it went.
#[test]
fn generated_secret_redirected_is_alone_on_stdout_and_stderr_says_where() {
    let s = Scratch::new("gen-pipe");
    s.config("x = 1\n");
    let o = s.run(&["add", "g.example", "--generate-secret"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let secret = out.strip_suffix('\n').expect(&out);
    assert_eq!(secret.len(), 40, "{out:?}");
    assert!(secret.bytes().all(|c| c.is_ascii_hexdigit()), "{out:?}");
    let err = stderr(&o);
    assert!(
        err.contains("generated secret written to standard output (not a terminal)"),
        "{err}"
    );
    assert!(
        !err.contains("copy it into the component's xmpp_password):"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
    assert!(
        s.read("prosody.cfg.lua")
            .contains(&format!("component_secret = \"{secret}\"")),
        "{}",
        s.read("prosody.cfg.lua")
    );
}

/// On a terminal (`script` gives the binary a pty) the secret follows the
/// line that announces it.
#[test]
fn generated_secret_on_a_terminal_follows_its_announcement() {
    let s = Scratch::new("gen-tty");
    s.config("x = 1\n");
    let cmd = format!(
        "{BIN} --settings {} -c {} add t.example --generate-secret",
        s.path("settings.toml").display(),
        s.path("prosody.cfg.lua").display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let screen = stdout(&o).replace('\r', "");
    let announce = "generated secret (shown once; copy it into the component's xmpp_password):\n";
    let i = screen.find(announce).expect(&screen);
    let secret = screen[i + announce.len()..].lines().next().unwrap();
    assert_eq!(secret.len(), 40, "{screen}");
    assert!(!screen.contains("not a terminal"), "{screen}");
    assert!(s
        .read("prosody.cfg.lua")
        .contains(&format!("component_secret = \"{secret}\"")));
}

const OLD: &str = "old-secret-value-0001";
const NEW: &str = "new-secret-value-0002";

/// The fingerprint of each `component_secret` line of a diff, with the
/// line's first character (`-`, `+` or ` `).
fn secret_lines(diff: &str) -> Vec<(char, String)> {
    diff.lines()
        .filter(|l| l.contains("component_secret = \"******** (hmac:"))
        .map(|l| {
            let i = l.find("(hmac:").unwrap() + "(hmac:".len();
            let fp = &l[i..i + 8];
            assert!(fp.bytes().all(|c| c.is_ascii_hexdigit()), "{l}");
            assert!(l[i + 8..].starts_with(")\""), "{l}");
            (l.chars().next().unwrap(), fp.to_string())
        })
        .collect()
}

/// `add --replace --dry-run` shows the secret's line changed (its
/// fingerprint differs), never the secret, and writes nothing.
#[test]
fn replace_dry_run_marks_the_changed_secret_without_showing_it() {
    let s = Scratch::new("replace-dry");
    let src = format!("x = 1\nComponent \"r.example\"\n\tcomponent_secret = \"{OLD}\"\n");
    s.config(&src);
    let run = |extra: &[&str]| {
        s.ctl()
            .args(["add", "r.example", "--replace", "--dry-run"])
            .args(extra)
            .secret(format!("{NEW}\n"))
            .output()
    };
    let o = run(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let lines = secret_lines(&out);
    let minus: Vec<_> = lines.iter().filter(|(c, _)| *c == '-').collect();
    let plus: Vec<_> = lines.iter().filter(|(c, _)| *c == '+').collect();
    assert_eq!((minus.len(), plus.len()), (1, 1), "{out}");
    assert_ne!(minus[0].1, plus[0].1, "{out}");
    for o in [&stdout(&o), &stderr(&o)] {
        assert!(!o.contains(OLD) && !o.contains(NEW), "{o}");
    }
    assert_eq!(s.read("prosody.cfg.lua"), src);
    // The JSON's "diff" is the same diff.
    let o = run(&["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let diff = json(&o)["diff"].as_str().unwrap().to_string();
    let lines = secret_lines(&diff);
    assert_eq!(lines.len(), 2, "{diff}");
    assert_ne!(lines[0].1, lines[1].1, "{diff}");
    assert!(!stdout(&o).contains(OLD) && !stdout(&o).contains(NEW));
    // --show-secrets is unchanged: the values, no fingerprint.
    let out = stdout(&run(&["--show-secrets"]));
    assert!(
        out.contains(&format!("-\tcomponent_secret = \"{OLD}\""))
            && out.contains(&format!("+\tcomponent_secret = \"{NEW}\""))
            && !out.contains("hmac:"),
        "{out}"
    );
    assert_eq!(s.read("prosody.cfg.lua"), src);
}

/// A dry run that does not change a secret shows its line unchanged;
/// equal secrets share a fingerprint within a run, and a run's key is its
/// own (the same secret gets another fingerprint next time).
#[test]
fn dry_run_that_keeps_a_secret_shows_no_change_to_it() {
    let s = Scratch::new("keep-dry");
    let src = format!(
        "x = 1\nComponent \"a.example\"\n\tcomponent_secret = \"{OLD}\"\nComponent \"b.example\"\n\tcomponent_secret = \"{OLD}\"\n"
    );
    s.config(&src);
    // A listener change inserted above the first Component: a's secret is
    // context, the same on both sides.
    let o = s.run(&["listen", "--port", "5348", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("+component_ports"), "{out}");
    let lines = secret_lines(&out);
    assert!(
        !lines.is_empty() && lines.iter().all(|(c, _)| *c == ' '),
        "a secret line changed, or none is shown:\n{out}"
    );
    assert!(!out.contains(OLD), "{out}");
    // The same secret, given again: unchanged, no diff at all.
    let secret = s.secret(OLD);
    let o = s
        .ctl()
        .args(["add", "a.example", "--replace", "--dry-run"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stdout(&o).contains("component_secret"), "{}", stdout(&o));
    // Removing a: its secret's line goes, b's stays, same fingerprint.
    let fingerprints = || {
        let o = s.run(&["remove", "a.example", "--dry-run"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let out = stdout(&o);
        assert!(!out.contains(OLD), "{out}");
        let lines = secret_lines(&out);
        assert_eq!(
            lines.iter().map(|(c, _)| *c).collect::<String>(),
            "- ",
            "{out}"
        );
        assert_eq!(lines[0].1, lines[1].1, "{out}");
        lines[0].1.clone()
    };
    // 1 in 2^32 that two runs' keys give one fingerprint.
    assert_ne!(fingerprints(), fingerprints());
    assert_eq!(s.read("prosody.cfg.lua"), src);
}

/// A dry run of `listen` shows the addresses it replaces and sets (they are
/// not secrets), in the text and the JSON diff alike; secrets stay masked.
#[test]
fn listen_dry_run_shows_addresses_and_masks_secrets() {
    let s = Scratch::new("listen-dry");
    let src = format!(
        "component_interfaces = {{ \"127.0.0.1\" }}\nComponent \"a.example\"\n\tcomponent_secret = \"{OLD}\"\n\tcomponent_interface = \"10.0.0.9\"\n"
    );
    s.config(&src);
    let args = ["listen", "--interface", "0.0.0.0", "--dry-run"];
    let o = s.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("-component_interfaces = { \"127.0.0.1\" }")
            && out.contains("+component_interfaces = { \"0.0.0.0\" }")
            && out.contains("-\tcomponent_interface = \"10.0.0.9\"")
            && !out.contains(OLD)
            && out.contains("component_secret = \"********"),
        "{out}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let diff = json(&s.run(&json_args))["diff"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        diff.contains("+component_interfaces = { \"0.0.0.0\" }") && !diff.contains(OLD),
        "{diff}"
    );
    assert_eq!(s.read("prosody.cfg.lua"), src);
}

/// An xmpp_password left as Fogbow's `$placeholder`: the message says the
/// value is left out and why, never the value.
#[test]
fn placeholder_password_message_says_why_the_value_is_not_shown() {
    let s = Scratch::new("placeholder");
    s.config("x = 1\n");
    s.write(
        "manager.conf",
        "xmpp_jid=m.example\nxmpp_password=$manager_password\n",
    );
    let o = s.run(&[
        "add",
        "--from-properties",
        s.path("manager.conf").to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("xmpp_password is an unexpanded placeholder from Fogbow's example (its value is not shown: it may be a secret)"),
        "{err}"
    );
    assert!(
        !err.contains("manager_password") && !err.contains("(hidden)"),
        "{err}"
    );
    assert_eq!(s.read("prosody.cfg.lua"), "x = 1\n");
}
