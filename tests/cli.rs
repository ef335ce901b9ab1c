//! The command-line contract: every flag, the JSON shapes, exit codes, and
//! each bad input leaving every file byte-identical.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

mod support;
use support::{code, json, running_as_root, stderr, stdout, Scratch, Tmpfs, BIN};

#[test]
fn dry_run_prints_a_masked_diff_and_writes_nothing() {
    let s = Scratch::new("dry");
    s.config("x = 1\nComponent \"other.example\"\n\tcomponent_secret = \"other-secret-value\"\n");
    let secret = s.secret("fresh-secret-value");
    let o = s
        .ctl()
        .args(["add", "m.example", "--dry-run"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("+Component \"m.example\""), "{out}");
    assert!(
        out.contains("+\tcomponent_secret = \"******** (hmac:"),
        "{out}"
    );
    assert!(
        !out.contains("fresh-secret-value") && !out.contains("other-secret-value"),
        "{out}"
    );
    assert_eq!(
        s.read("prosody.cfg.lua"),
        "x = 1\nComponent \"other.example\"\n\tcomponent_secret = \"other-secret-value\"\n"
    );
    assert!(!s.path("backups").exists());

    let o = s
        .ctl()
        .args(["add", "m.example", "--dry-run", "--show-secrets", "--json"])
        .secret_file(&secret)
        .output();
    let j = json(&o);
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["changed"], true);
    assert!(j["diff"].as_str().unwrap().contains("fresh-secret-value"));

    let o = s.run(&["remove", "other.example", "--dry-run"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).contains("-Component \"other.example\""),
        "{}",
        stdout(&o)
    );
    assert!(s.read("prosody.cfg.lua").contains("other.example"));
}

#[test]
fn symlinked_main_config_is_edited_at_its_target() {
    let s = Scratch::new("symlink");
    s.write("real/prosody.cfg.lua", "x = 1\n");
    std::os::unix::fs::symlink("real/prosody.cfg.lua", s.path("prosody.cfg.lua")).unwrap();
    let o = s
        .ctl()
        .args(["add", "m.example"])
        .secret("abcdefghijklmnopqrstuvwxyz")
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(s.path("prosody.cfg.lua"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(s
        .read("real/prosody.cfg.lua")
        .contains("Component \"m.example\""));
}

#[test]
fn secret_sources() {
    let s = Scratch::new("sources");
    s.config("");
    // Standard input, one trailing newline stripped.
    let o = s
        .ctl()
        .args(["add", "a.example", "--secret-file", "-"])
        .stdin(b"from-stdin-secret-12\n")
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(s
        .read("prosody.cfg.lua")
        .contains("component_secret = \"from-stdin-secret-12\"\n"));
    // Generated: printed once on stdout, 40 hex digits, written to the file.
    let o = s.run(&["add", "b.example", "--generate-secret", "-q"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let secret = stdout(&o).trim().to_string();
    assert_eq!(secret.len(), 40, "{secret:?}");
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(s
        .read("prosody.cfg.lua")
        .contains(&format!("component_secret = \"{secret}\"")));
    let o = s.run(&["add", "c.example", "--generate-secret", "--json"]);
    assert_eq!(json(&o)["secret"].as_str().unwrap().len(), 40);
    // No source and no terminal: a usage error.
    let before = s.read("prosody.cfg.lua");
    let o = s.run(&["add", "d.example"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--secret-file"));
    // Two sources: a usage error from clap.
    let o = s.run(&[
        "add",
        "d.example",
        "--generate-secret",
        "--secret-file",
        "-",
    ]);
    assert_eq!(code(&o), 2);
    // There is no flag that takes the secret itself.
    let o = s.run(&["add", "d.example", "--secret", "x"]);
    assert_eq!(code(&o), 2);
    assert_eq!(s.read("prosody.cfg.lua"), before);
}

#[test]
fn bad_inputs_leave_files_untouched() {
    let good = "x = 1\nVirtualHost \"v.example\"\n";
    let cases: &[(&str, &str, &[&str], &str, &str)] = &[
        // (tag, config, args, secret file content, expected message part)
        (
            "space",
            good,
            &["add", "a b.example"],
            "secretsecretsecret",
            "contains a space",
        ),
        (
            "quote",
            good,
            &["add", "a\"b"],
            "secretsecretsecret",
            "contains '\"'",
        ),
        ("slash", good, &["add", "a/b"], "secretsecretsecret", "'/'"),
        ("at", good, &["add", "user@b"], "secretsecretsecret", "'@'"),
        (
            "backslash",
            good,
            &["add", "a\\b"],
            "secretsecretsecret",
            "'\\'",
        ),
        (
            "emptylabel",
            good,
            &["add", "a..b"],
            "secretsecretsecret",
            "empty label",
        ),
        (
            "dot",
            good,
            &["add", ".a"],
            "secretsecretsecret",
            "starts or ends with a dot",
        ),
        (
            "emptyname",
            good,
            &["add", ""],
            "secretsecretsecret",
            "empty",
        ),
        (
            "newline",
            good,
            &["add", "a.example"],
            "sec\nret",
            "newline",
        ),
        ("nul", good, &["add", "a.example"], "sec\0ret", "NUL"),
        (
            "empty",
            good,
            &["add", "a.example"],
            "\n",
            "the secret is empty",
        ),
        (
            "vhost",
            good,
            &["add", "V.example"],
            "secretsecretsecret",
            "is a VirtualHost",
        ),
        (
            "vhostremove",
            good,
            &["remove", "v.example"],
            "",
            "is a VirtualHost",
        ),
        (
            "hash",
            "x = 1\n# Fogbow guide comment\n",
            &["add", "a.example"],
            "secretsecretsecret",
            "prosody.cfg.lua:2:1: error[syntax]",
        ),
        (
            "bom",
            "\u{feff}x = 1\n",
            &["add", "a.example"],
            "secretsecretsecret",
            "byte order mark",
        ),
        (
            "shebang",
            "#!/usr/bin/lua\nx = 1\n",
            &["add", "a.example"],
            "secretsecretsecret",
            "#!",
        ),
        (
            "unterminated",
            "x = [[\nComponent \"a\"\n",
            &["add", "a.example"],
            "secretsecretsecret",
            "unfinished long string",
        ),
        (
            "include",
            "Include \"missing.cfg.lua\"\n",
            &["add", "a.example"],
            "secretsecretsecret",
            "error[include-missing]",
        ),
        (
            "muc",
            "Component \"m.example\" \"muc\"\n",
            &["add", "m.example"],
            "secretsecretsecret",
            "plugin module \"muc\"",
        ),
        // A plugin component is not ours to delete.
        (
            "mucremove",
            "-- the MUC\nComponent \"m.example\" \"muc\"\n\tname = \"Rooms\"\n",
            &["remove", "m.example"],
            "",
            "not an external component",
        ),
        (
            "expr",
            "Component \"m.example\"\n\tcomponent_secret = FileLine(\"/x\")\n",
            &["add", "m.example", "--replace"],
            "secretsecretsecret",
            "is an expression",
        ),
        (
            "moved",
            "Component \"m.example\"\nlocal x = 1\ncomponent_secret = \"s\"\n",
            &["remove", "m.example"],
            "",
            "edit the file by hand",
        ),
    ];
    for (tag, config, args, secret, want) in cases {
        let s = Scratch::new(tag);
        s.config(config);
        let ctl = s.ctl().args(args.iter());
        let o = match args[0] {
            "add" => ctl.secret(secret),
            _ => ctl,
        }
        .output();
        assert_eq!(code(&o), 1, "{tag}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(want),
            "{tag}: wanted {want:?} in:\n{}",
            stderr(&o)
        );
        assert!(
            stderr(&o).lines().count() <= 4,
            "{tag}: short errors:\n{}",
            stderr(&o)
        );
        if secret.len() > 3 {
            assert!(
                !stderr(&o).contains(secret),
                "{tag}: the secret leaked:\n{}",
                stderr(&o)
            );
        }
        assert_eq!(s.read("prosody.cfg.lua"), *config, "{tag}: file changed");
        assert!(!s.path("backups").exists(), "{tag}: a backup was written");
        let leftovers: Vec<_> = std::fs::read_dir(&s.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{tag}: {leftovers:?}");
    }
}

#[test]
fn missing_files_and_settings() {
    let s = Scratch::new("missing");
    let o = s.run(&["list"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("prosody.cfg.lua") && stderr(&o).contains("No such file"),
        "{}",
        stderr(&o)
    );

    s.config("x = 1\n");
    let o = s
        .ctl()
        .settings("/nonexistent/settings.toml")
        .arg("list")
        .output();
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("/nonexistent/settings.toml"),
        "{}",
        stderr(&o)
    );

    s.write("settings.toml", "backups = 3\nbakcup_dir = \"/x\"\n");
    let o = s.run(&["list"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("settings.toml:2:1") && stderr(&o).contains("bakcup_dir"),
        "{}",
        stderr(&o)
    );

    let secret = s.secret("secretsecretsecret");
    s.write(
        "settings.toml",
        &format!(
            "prosody_config = \"{}\"\nbackups = 0\n",
            s.path("prosody.cfg.lua").display()
        ),
    );
    let o = s
        .ctl()
        .no_config()
        .arg("add")
        .arg("a.example")
        .secret_file(&secret)
        .arg("--json")
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(json(&o).get("backup").is_none(), "backups = 0 keeps none");
    assert!(s.read("prosody.cfg.lua").contains("a.example"));
}

#[test]
fn backups_are_pruned_to_the_configured_count() {
    let s = Scratch::new("prune");
    s.write(
        "settings.toml",
        &format!(
            "backup_dir = \"{}\"\nbackups = 2\n",
            s.path("backups").display()
        ),
    );
    s.config("");
    for i in 0..4 {
        let o = s
            .ctl()
            .args(["add", &format!("c{i}.example")])
            .secret(format!("secret-number-{i}-abcdef"))
            .output();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    // Backups, and as many edit records (`restore --list`, `restore --undo`).
    let names: Vec<String> = std::fs::read_dir(s.path("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.iter().filter(|n| !n.ends_with(".edit")).count(), 2);
    assert_eq!(names.iter().filter(|n| n.ends_with(".edit")).count(), 2);
}

#[test]
fn lock_timeout_is_a_clear_error() {
    let s = Scratch::new("lock");
    s.write(
        "settings.toml",
        &format!(
            "backup_dir = \"{}\"\nlock_timeout_secs = 1\n",
            s.path("backups").display()
        ),
    );
    s.config("x = 1\n");
    let secret = s.secret("secretsecretsecret");
    // Held the way the binary takes it (as root: under /run/fogbow-xmpp-ctl).
    let real = std::fs::canonicalize(s.path("prosody.cfg.lua")).unwrap();
    let dir = fogbow_xmpp_ctl::safe_write::Lock::acquire(&real, std::time::Duration::ZERO).unwrap();
    let o = s
        .ctl()
        .args(["add", "a.example"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("lock"), "{}", stderr(&o));
    assert_eq!(s.read("prosody.cfg.lua"), "x = 1\n");
    drop(dir);
    let o = s
        .ctl()
        .args(["add", "a.example"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// Runs as an unprivileged user (when we are root, as in CI) to see the
/// permission errors an operator without sudo gets.
#[test]
fn permission_denied_suggests_sudo() {
    if !running_as_root("the permission test (it switches users)") {
        return;
    }
    let s = Scratch::new("perm");
    let cfg = s.config("x = 1\n");
    std::fs::set_permissions(&s.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let secret = s.write("secret", "secretsecretsecret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        s.path("settings.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let mut p = s.dir.clone();
    while let Some(parent) = p.parent() {
        p = parent.to_path_buf();
        if p == Path::new("/") {
            break;
        }
    }
    let o = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            BIN,
            "--settings",
        ])
        .arg(s.path("settings.toml"))
        .arg("-c")
        .arg(&cfg)
        .args(["add", "a.example", "--secret-file"])
        .arg(&secret)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("sudo"), "{}", stderr(&o));
    assert_eq!(s.read("prosody.cfg.lua"), "x = 1\n");
}

#[test]
fn help_says_secrets_are_not_taken_on_the_command_line() {
    let o = support::ctl().args(["add", "--help"]).output();
    assert_eq!(code(&o), 0);
    let h = stdout(&o);
    assert!(h.contains("never taken on the command line"), "{h}");
    for flag in [
        "--secret-file",
        "--generate-secret",
        "--replace",
        "--dry-run",
        "--json",
        "--show-secrets",
    ] {
        assert!(h.contains(flag), "{flag}");
    }
    let o = support::ctl().arg("--version").output();
    assert!(stdout(&o).starts_with("fogbow-xmpp-ctl "));
    let o = support::ctl().arg("frobnicate").output();
    assert_eq!(code(&o), 2);
}

/// The interactive prompt, on a real terminal (`script` gives the binary a
/// pty): asked twice, not echoed, and a mismatch changes nothing.
#[test]
fn prompt_asks_twice_without_echo() {
    let s = Scratch::new("prompt");
    s.config("x = 1\n");
    let run = |first: &str, second: &str| {
        let cmd = format!(
            "{BIN} --settings {} -c {} add p.example",
            s.path("settings.toml").display(),
            s.path("prosody.cfg.lua").display()
        );
        let feed = format!(
            "sleep 0.5; printf '%s\\n' '{first}'; sleep 0.3; printf '%s\\n' '{second}'; sleep 0.5"
        );
        Command::new("sh")
            .arg("-c")
            .arg(format!("({feed}) | script -qec \"{cmd}\" /dev/null"))
            .output()
            .unwrap()
    };
    let o = run("typed-secret-one", "typed-secret-two");
    assert!(stdout(&o).contains("differ"), "{}", stdout(&o));
    assert_eq!(s.read("prosody.cfg.lua"), "x = 1\n");
    let o = run("typed-secret-value", "typed-secret-value");
    let screen = stdout(&o);
    assert!(
        screen.contains("Secret for p.example:") && screen.contains("Repeat the secret:"),
        "{screen}"
    );
    assert!(!screen.contains("typed-secret-value"), "echoed: {screen}");
    assert!(s
        .read("prosody.cfg.lua")
        .contains("component_secret = \"typed-secret-value\""));
}

/// A config on a read-only file system (a tmpfs remounted read-only; needs
/// root, as CI runs): a clear one-line error, nothing changed, no backup.
#[test]
fn read_only_file_system_is_a_clear_error() {
    if !running_as_root("the read-only test") {
        return;
    }
    let s = Scratch::new("rofs");
    let mnt = s.path("ro");
    let fs = Tmpfs::mount(&mnt, "1m");
    std::fs::write(mnt.join("prosody.cfg.lua"), "x = 1\n").unwrap();
    fs.remount_read_only();
    let secret = s.secret("secretsecretsecret");
    let o = s
        .ctl()
        .config(mnt.join("prosody.cfg.lua"))
        .arg("add")
        .arg("a.example")
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("read-only file system"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(mnt.join("prosody.cfg.lua")).unwrap(),
        "x = 1\n"
    );
    assert!(!s.path("backups").exists());
}

/// Edits refuse only *new* errors: a config that already has warnings, or
/// errors elsewhere, can still be edited; the findings are shown.
#[test]
fn edits_work_on_configs_with_existing_findings() {
    let s = Scratch::new("findings");
    s.config("Component \"weak.example\"\n\tcomponent_secret = \"short\"\nComponent \"nosecret.example\"\n");
    let secret = s.secret("a-strong-secret-0123456789");
    let o = s
        .ctl()
        .args(["add", "new.example"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning[weak-secret]"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["remove", "new.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(s.read("prosody.cfg.lua"), "Component \"weak.example\"\n\tcomponent_secret = \"short\"\nComponent \"nosecret.example\"\n");
}

/// Exit status 3: the file is written, but it could not be applied to the
/// running prosody (here: a service manager and prosodyctl that fail, as
/// with prosody stopped). The JSON says `"applied": false` with the reason,
/// and a generated secret is still printed; without --json the secret is
/// on stdout and the message says the config is written.
#[test]
fn written_but_not_applied_is_exit_3_with_the_secret() {
    let s = Scratch::new("notapplied");
    s.config("VirtualHost \"localhost\"\n");
    let bin = s.path("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["prosodyctl", "systemctl", "service"] {
        let p = s.write(
            &format!("fakebin/{tool}"),
            "#!/bin/sh\necho 'Prosody is not running' >&2\nexit 1\n",
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| s.ctl().args(args).env("PATH", &path).output();
    for apply in ["--reload", "--restart"] {
        let name = format!("n{}.example", &apply[2..]);
        let o = run(&["add", &name, "--generate-secret", apply, "--json"]);
        assert_eq!(code(&o), 3, "{apply}: {}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["changed"], true);
        assert_eq!(j["applied"], false, "{j}");
        assert!(!j["apply_error"].as_str().unwrap().is_empty(), "{j}");
        let secret = j["secret"].as_str().unwrap();
        assert_eq!(secret.len(), 40);
        assert!(s
            .read("prosody.cfg.lua")
            .contains(&format!("component_secret = \"{secret}\"")));
    }
    let o = run(&["add", "plain.example", "--generate-secret", "--reload"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(stdout(&o).trim().len(), 40, "the secret is still shown");
    assert!(
        stderr(&o).contains("the config is written, but it is not applied"),
        "{}",
        stderr(&o)
    );
    // Without --reload/--restart there is nothing to apply: exit 0, no "applied".
    let o = run(&["add", "later.example", "--generate-secret", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(json(&o).get("applied").is_none());
    // A dry run applies nothing either.
    let o = run(&["remove", "later.example", "--dry-run", "--reload", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(json(&o).get("applied").is_none());
}

#[test]
fn help_documents_exit_statuses_and_status() {
    let o = support::ctl().arg("--help").output();
    let help = stdout(&o);
    for s in [
        "0  success",
        "1  failure",
        "2  usage",
        "3  written, but applying",
        "4  status",
    ] {
        assert!(help.contains(s), "{s:?} missing from --help:\n{help}");
    }
    assert!(help.contains("status"));
    let o = support::ctl().args(["status", "--help"]).output();
    assert!(stdout(&o).contains("--json"));
}

#[test]
fn man_page_documents_exit_3_and_4() {
    let dir = std::path::Path::new(BIN).parent().unwrap().join("assets");
    let page = std::fs::read_to_string(dir.join("fogbow-xmpp-ctl.1")).unwrap();
    let exit = &page[page.find(".SH \"EXIT STATUS\"").unwrap()..];
    assert!(exit.contains(".B 3\nWritten, but applying it"), "{exit}");
    assert!(exit.contains(".B 4\n\\fBstatus\\fR"), "{exit}");
    assert!(page.contains(".B apply_timeout_secs"));
}
