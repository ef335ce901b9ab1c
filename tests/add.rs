//! `add`: the block it writes, an unchanged or replaced secret, the
//! properties file as the source, concurrent adds, and the warnings it
//! gives about readable files and names.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Stdio;

use support::*;

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

/// `add MiXed… --reload` against a running prosody: the component is
/// activated under nameprep's spelling and the apply step proves it with
/// that spelling, so the edit is reported applied (exit 0, not 3).
#[test]
fn add_with_reload_of_a_mixed_case_name_is_applied() {
    if !real_parts_available() || !running_as_root("mixed-case add --reload") {
        return;
    }
    let s = Scratch::new("names-reload");
    let (base, c2s, comp, path) = server_with_shell(&s);
    // One component already, so that the component port is open.
    s.config(&format!(
        "{base}Component \"first.fog.test\"\n\tcomponent_secret = \"{STRONG}\"\n"
    ));
    let _server = Prosody::start(&s.path("prosody.cfg.lua"), c2s, comp);
    let secret = s.secret("new-secret-0123456789abcdef");
    let o = s
        .ctl()
        .args(["add", "MiXed.Fog.Test", "--reload"])
        .secret_file(&secret)
        .env("PATH", &path)
        .output();
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("connect as mixed.fog.test"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        handshake(comp, "mixed.fog.test", b"new-secret-0123456789abcdef"),
        Handshake::Accepted
    );
    let o = s
        .ctl()
        .args(["status", "--json"])
        .env("PATH", &path)
        .output();
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
}

/// Writing a secret into a file others can read (mode o+r or an
/// ACL entry) is done, with a warning that says so.
#[test]
fn add_warns_when_others_can_read_the_config() {
    let s = Scratch::new("warn");
    let cfg = s.config("admins = { }\n");
    chmod(&cfg, 0o640);
    let o = s.add("a.example");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    chmod(&cfg, 0o644);
    let o = s.add("b.example");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("warning:")
            && e.contains("readable by others")
            && e.contains("mode 0644")
            && e.contains("b.example")
            && !e.contains("a-secret-of-twenty-bytes"),
        "{e}"
    );
    // The warning comes with --json too (on stderr).
    let secret = s.path("secret");
    let o = s
        .ctl()
        .args(["add", "c.example", "--json"])
        .secret_file(&secret)
        .output();
    assert!(stderr(&o).contains("readable by others"), "{}", stderr(&o));
    chmod(&cfg, 0o640);
    sh(&format!("setfacl -m u:nobody:r '{}'", cfg.display()));
    let o = s.add("d.example");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("its ACL lets uid 65534 read it"),
        "{}",
        stderr(&o)
    );
}

/// A component's `.properties` that others can read hands them the secret
/// `add --from-properties` reads from it: warned about, as a write is.
#[test]
fn add_from_properties_warns_when_others_can_read_the_file() {
    let s = Scratch::new("props-warn");
    let cfg = s.config("admins = { }\n");
    chmod(&cfg, 0o640);
    let props = s.write(
        "manager.conf",
        "xmpp_jid=p.example\nxmpp_password=a-secret-of-twenty-bytes\n",
    );
    chmod(&props, 0o600);
    let args = ["add", "--from-properties", props.to_str().unwrap()];
    let o = s.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("readable by others"), "{}", stderr(&o));
    s.run(&["remove", "p.example"]);
    chmod(&props, 0o644);
    let o = s.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("warning:")
            && e.contains(&format!("{} is readable by others", props.display()))
            && e.contains("mode 0644")
            && e.contains("p.example")
            && !e.contains("a-secret-of-twenty-bytes"),
        "{e}"
    );
}

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
    let e = refused(
        &s.ctl()
            .config(&cfg)
            .args([
                "add",
                "other.example",
                "--from-properties",
                conf.to_str().unwrap(),
            ])
            .output(),
    );
    assert!(e.contains("differs from xmpp_jid"), "{e}");
    // Placeholders and missing keys are clear errors; the secret never shows.
    let bad = s.write(
        "bad.conf",
        "xmpp_jid=$manager.internal.mydomain\nxmpp_password=hunter2-secret\n",
    );
    let e = refused(
        &s.ctl()
            .config(&cfg)
            .args(["add", "--from-properties", bad.to_str().unwrap()])
            .output(),
    );
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
