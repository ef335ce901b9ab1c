//! The command-line contract: every flag, the JSON shapes, exit codes, and
//! each bad input leaving every file byte-identical.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod support;
use support::{code, json, running_as_root, stderr, stdout, Scratch, Tmpfs, BIN};

const DEBIAN12: &str = include_str!("../examples/prosody/prosody.cfg.lua");

#[test]
fn add_writes_the_block_prosody_expects() {
    let s = Scratch::new("add");
    let cfg = s.config("-- my config\nadmins = { }\n");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = s
        .ctl()
        .args(["add", "my-manager.internal.mydomain", "--json"])
        .secret("manager_secret_123\n")
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        s.read("prosody.cfg.lua"),
        "-- my config\nadmins = { }\n\nComponent \"my-manager.internal.mydomain\"\n\tcomponent_secret = \"manager_secret_123\"\n"
    );
    let j = json(&o);
    assert_eq!(j["changed"], true);
    assert_eq!(j["action"], "added");
    assert_eq!(j["name"], "my-manager.internal.mydomain");
    assert_eq!(j["file"], cfg.to_str().unwrap());
    let backup = PathBuf::from(j["backup"].as_str().expect("a backup path"));
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "-- my config\nadmins = { }\n"
    );
    assert_eq!(std::fs::metadata(&backup).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(s.path("backups")).unwrap().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().mode() & 0o777,
        0o640,
        "mode kept"
    );
    assert!(
        !stdout(&o).contains("manager_secret_123") && !stderr(&o).contains("manager_secret_123")
    );
}

#[test]
fn add_same_secret_is_unchanged_and_different_needs_replace() {
    let s = Scratch::new("replace");
    s.config("Component \"m.example\" -- the manager\n\tcomponent_secret = 'old-secret-0123456789' -- keep\n");
    let before = s.read("prosody.cfg.lua");
    let o = s
        .ctl()
        .args(["add", "M.Example", "--json"])
        .secret("old-secret-0123456789")
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["action"], "unchanged");
    assert_eq!(json(&o)["changed"], false);
    assert!(json(&o).get("backup").is_none());
    assert_eq!(s.read("prosody.cfg.lua"), before);

    let new = s.secret("new-secret-0123456789\r\n");
    let o = s
        .ctl()
        .args(["add", "m.example"])
        .secret_file(&new)
        .output();
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("--replace"), "{}", stderr(&o));
    // Placed by its Component line, as `list` places it.
    assert!(
        stderr(&o).contains("already exists at ")
            && stderr(&o).contains("prosody.cfg.lua:1 with a different secret"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("secret-0123456789"),
        "no secret in errors: {}",
        stderr(&o)
    );
    assert_eq!(s.read("prosody.cfg.lua"), before);

    let o = s
        .ctl()
        .args(["add", "m.example", "--replace", "--json"])
        .secret_file(&new)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["action"], "replaced");
    assert_eq!(
        s.read("prosody.cfg.lua"),
        "Component \"m.example\" -- the manager\n\tcomponent_secret = \"new-secret-0123456789\" -- keep\n"
    );
}

#[test]
fn replace_changes_the_table_form_in_place() {
    let s = Scratch::new("table");
    s.config("Component \"m.example\" { component_secret = \"aaaaaaaaaaaaaaaaaaaa\", x = 1 }\n");
    let o = s
        .ctl()
        .args(["add", "m.example", "--replace"])
        .secret("bbbbbbbbbbbbbbbbbbbb")
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        s.read("prosody.cfg.lua"),
        "Component \"m.example\" { component_secret = \"bbbbbbbbbbbbbbbbbbbb\", x = 1 }\n"
    );
}

#[test]
fn add_then_remove_restores_debian_default_byte_for_byte() {
    for (tag, original) in [
        ("lf", DEBIAN12.to_string()),
        ("crlf", DEBIAN12.replace('\n', "\r\n")),
        ("nofinal", "x = 1".to_string()),
    ] {
        let s = Scratch::new(tag);
        // The default's Include needs its conf.d; an empty one matches nothing, as in prosody.
        std::fs::create_dir_all(s.path("conf.d")).unwrap();
        s.config(&original);
        let o = s
            .ctl()
            .args(["add", "my-manager.internal.mydomain"])
            .secret("s3cret\"with\\odd]]--chars")
            .output();
        assert_eq!(code(&o), 0, "{tag}: {}", stderr(&o));
        let added = s.read("prosody.cfg.lua");
        if tag == "crlf" {
            assert!(
                added.ends_with("\r\n\tcomponent_secret = \"s3cret\\\"with\\\\odd]]--chars\"\r\n"),
                "{added:?}"
            );
        }
        let o = s.run(&["remove", "my-manager.internal.mydomain", "--json"]);
        assert_eq!(code(&o), 0, "{tag}: {}", stderr(&o));
        assert_eq!(json(&o)["action"], "removed");
        assert_eq!(s.read("prosody.cfg.lua"), original, "{tag}");
    }
}

#[test]
fn remove_absent_and_if_exists() {
    let s = Scratch::new("absent");
    s.config("x = 1\n");
    let o = s.run(&["remove", "nope.example"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("no Component nope.example") && stderr(&o).contains("--if-exists"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["remove", "nope.example", "--if-exists", "--json"]);
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["action"], "absent");
    assert_eq!(json(&o)["changed"], false);
    assert_eq!(s.read("prosody.cfg.lua"), "x = 1\n");
    // An empty list says so instead of printing a bare header.
    let o = s.run(&["list"]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("no components in"), "{}", stderr(&o));
    // A likely typo gets the name it probably means.
    let cfg = "Component \"my-manager.internal.mydomain\"\n\tcomponent_secret = \"0123456789abcdef0123\"\n";
    s.config(cfg);
    let o = s.run(&["remove", "my-manger.internal.mydomain"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("did you mean my-manager.internal.mydomain?"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["remove", "other.example"]);
    assert!(!stderr(&o).contains("did you mean"), "{}", stderr(&o));
    assert_eq!(s.read("prosody.cfg.lua"), cfg);
    // `probe` too.
    let o = s.run(&["probe", "my-manger.internal.mydomain"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("did you mean my-manager.internal.mydomain?"),
        "{}",
        stderr(&o)
    );
    // `add` of a name one typing mistake from an existing component: added
    // (exit 0), with a warning naming the existing one and its line.
    let secret = s.secret("0123456789abcdef-typo");
    let o = s
        .ctl()
        .args(["add", "my-manager.internal.mydomian"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: my-manager.internal.mydomian is a new component, one or two characters away from the external component my-manager.internal.mydomain at")
            && stderr(&o).contains("prosody.cfg.lua:1"),
        "{}",
        stderr(&o)
    );
    // Not for a name far from every other.
    let o = s
        .ctl()
        .args(["add", "other.example"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("characters away"), "{}", stderr(&o));
}

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
fn list_table_and_json() {
    let s = Scratch::new("list");
    s.write(
        "conf.avail/fogbow.cfg.lua",
        "-- fogbow\nComponent \"r.example\"\n\tcomponent_secret = \"rendezvous-secret-1\"\n",
    );
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    std::os::unix::fs::symlink(
        "../conf.avail/fogbow.cfg.lua",
        s.path("conf.d/fogbow.cfg.lua"),
    )
    .unwrap();
    s.config(
        "local domain = \"example.org\"\nVirtualHost \"example.org\"\nComponent (\"conference.\" .. domain) \"muc\"\n\
         Component \"m.example\"\n\tcomponent_secret = Credential(\"m\")\nComponent \"nosecret.example\"\nInclude \"conf.d/*.cfg.lua\"\n",
    );
    let o = s.run(&["list", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["config"], s.path("prosody.cfg.lua").to_str().unwrap());
    let c = j["components"].as_array().unwrap();
    assert_eq!(c.len(), 4, "{j}");
    assert_eq!(c[0]["name"], "\"conference.\" .. domain");
    assert_eq!(c[0]["name_is_expression"], true);
    assert_eq!(c[0]["module"], "muc");
    assert_eq!(c[0]["line"], 3);
    assert_eq!(c[1]["name"], "m.example");
    assert_eq!(c[1]["module"], "component");
    assert_eq!(c[1]["secret_set"], true);
    // prosody 13's Credential(): still "expression" (a JSON value is never
    // renamed); secret_ref names it.
    assert_eq!(c[1]["secret_source"], "expression");
    assert_eq!(c[1]["secret_ref"]["name"], "m");
    assert_eq!(c[2]["secret_set"], false);
    assert_eq!(c[3]["name"], "r.example");
    assert_eq!(
        c[3]["file"],
        s.path("conf.d/fogbow.cfg.lua").to_str().unwrap()
    );
    assert_eq!(c[3]["line"], 2);
    assert!(c.iter().all(|x| x.get("secret").is_none()));

    let o = s.run(&["list", "--json", "--show-secrets"]);
    let j = json(&o);
    assert_eq!(j["components"][3]["secret"], "rendezvous-secret-1");
    assert_eq!(j["components"][1]["secret"], "Credential(\"m\")");

    let o = s.run(&["list"]);
    let out = stdout(&o);
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("r.example")
            && l.contains("component")
            && l.contains("set")
            && l.contains("conf.d/fogbow.cfg.lua:2")),
        "{out}"
    );
    assert!(!out.contains("rendezvous-secret-1"));

    // remove edits the symlink's target and keeps the link.
    let o = s.run(&["remove", "r.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(s.read("conf.avail/fogbow.cfg.lua"), "");
    assert!(std::fs::symlink_metadata(s.path("conf.d/fogbow.cfg.lua"))
        .unwrap()
        .file_type()
        .is_symlink());
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
        let secret_path = s.secret(secret);
        let mut args = args.to_vec();
        if args[0] == "add" {
            args.extend(["--secret-file", secret_path.to_str().unwrap()]);
        }
        let o = s.run(&args);
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
fn concurrent_adds_all_land() {
    let s = Scratch::new("concurrent");
    s.write(
        "settings.toml",
        &format!(
            "backup_dir = \"{}\"\nlock_timeout_secs = 60\n",
            s.path("backups").display()
        ),
    );
    s.config(
        DEBIAN12
            .replace("Include \"conf.d/*.cfg.lua\"", "")
            .as_str(),
    );
    let secret = s.secret("concurrent-secret-123456");
    let children: Vec<_> = (0..8)
        .map(|i| {
            s.ctl()
                .args(["add", &format!("c{i}.example")])
                .secret_file(&secret)
                .command()
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = s.run(&["list", "--json"]);
    let names: Vec<String> = json(&o)["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..8).map(|i| format!("c{i}.example")).collect::<Vec<_>>()
    );
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
