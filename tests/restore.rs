//! `restore --list` says what made each backup, `restore --undo`
//! undoes exactly the last edit (and only an edit whose files are still as
//! written), and `add --file` puts a component in its own `conf.d` file
//! that an `Include` covers, which `remove` deletes again.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use support::*;

const SECRET: &str = "undo-secret-0123456789abcdef";

fn add(s: &Scratch, name: &str, extra: &[&str]) -> Output {
    s.ctl()
        .args(["add", name])
        .secret(SECRET)
        .args(extra)
        .output()
}

/// The names in `dir`, sorted (hidden temp files included).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn prosody_gid() -> u32 {
    nix::unistd::Group::from_name("prosody")
        .unwrap()
        .expect("the prosody group (Debian's prosody package)")
        .gid
        .as_raw()
}

/// A main config as Debian ships it: `root:prosody 0640`, including conf.d.
fn debian_layout(s: &Scratch, extra: &str) -> std::path::PathBuf {
    let cfg = s.config(&format!(
        "admins = {{ }}\n\nInclude \"conf.d/*.cfg.lua\"\n{extra}"
    ));
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    std::os::unix::fs::chown(&cfg, Some(0), Some(prosody_gid())).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o640)).unwrap();
    cfg
}

#[test]
fn list_says_when_which_command_and_which_component() {
    let s = Scratch::new("undo-list");
    s.config("admins = { }\n");
    ok(&add(&s, "a.example", &[]));
    ok(&add(&s, "b.example", &[]));
    ok(&s.run(&["remove", "a.example"]));
    ok(&s.run(&["listen", "--port", "5348"]));
    // A backup from before edits were recorded: listed, without a command.
    let j = json(&s.run(&["restore", "--list", "--json"]));
    let first = j[0]["backup"].as_str().unwrap().to_string();
    let old = format!("{}19990101T000000.000000000Z", &first[..first.len() - 26]);
    std::fs::copy(&first, &old).unwrap();

    let j = json(&s.run(&["restore", "--list", "--json"]));
    let rows = j.as_array().unwrap();
    assert_eq!(rows.len(), 5, "{j}");
    assert_eq!(rows[0]["backup"], old.as_str());
    assert_eq!(rows[0]["time"], "1999-01-01 00:00:00 UTC");
    assert!(rows[0]["command"].is_null() && rows[0]["name"].is_null());
    let made: Vec<(&str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| {
            (
                r["command"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        made,
        [
            ("add", "a.example", "added"),
            ("add", "b.example", "added"),
            ("remove", "a.example", "removed"),
            ("listen", "component listener", "updated"),
        ]
    );
    for r in &rows[1..] {
        let t = r["time"].as_str().unwrap();
        assert!(
            t.len() == 23 && t.ends_with(" UTC") && t.starts_with("20"),
            "{t}"
        );
    }
    // The table: a legend, a header, then per backup a row and its name.
    let text = ok(&s.run(&["restore", "--list"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].contains("BEFORE the edit"), "{text}");
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["EDIT", "(UTC)", "COMMAND", "COMPONENT", "FILE"]
    );
    assert_eq!(lines[4], "  BACKUP");
    assert!(lines[5].starts_with("1999-01-01 00:00:00  -  "), "{text}");
    let name = |b: &str| {
        Path::new(b)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(lines[6], format!("  {}", name(&old)), "{text}");
    let row = |i: usize| {
        lines[5 + 2 * i]
            .split_whitespace()
            .skip(2)
            .collect::<Vec<_>>()
    };
    assert_eq!(row(1)[..3], ["add", "a.example", "prosody.cfg.lua"]);
    assert_eq!(row(3)[..2], ["remove", "a.example"]);
    assert_eq!(row(4)[..3], ["listen", "component", "listener"]);
    // Every backup's name is under its row, and restores.
    assert_eq!(
        lines[14].trim(),
        name(rows[4]["backup"].as_str().unwrap()),
        "{text}"
    );
    ok(&s.run(&["restore", lines[14].trim()]));
}

#[test]
fn undo_after_add_remove_and_listen_is_precise() {
    let s = Scratch::new("undo-each");
    let original = "-- kept\nadmins = { }\r\n\nVirtualHost \"localhost\"\n";
    s.config(original);

    // Undo of an add: the file as it was, byte for byte.
    ok(&add(&s, "a.example", &[]));
    let j = json(&s.run(&["restore", "--undo", "--json"]));
    assert_eq!(j["action"], "undone");
    assert_eq!(j["changed"], true);
    assert_eq!(j["name"], "a.example");
    assert!(
        j["undid"]
            .as_str()
            .unwrap()
            .starts_with("add a.example of 20"),
        "{j}"
    );
    assert_eq!(s.read("prosody.cfg.lua"), original);

    // Undo of the last edit only.
    ok(&add(&s, "a.example", &[]));
    let with_a = s.read("prosody.cfg.lua");
    ok(&add(&s, "b.example", &[]));
    let with_a_b = s.read("prosody.cfg.lua");
    ok(&s.run(&["remove", "a.example"]));
    ok(&add(&s, "c.example", &[]));
    let o = s.run(&["restore", "--undo"]);
    ok(&o);
    assert!(
        stderr(&o).contains("undid add c.example of "),
        "{}",
        stderr(&o)
    );
    // Twice in a row: the second undoes the first undo (a redo), so
    // c.example is back, and the remove of a.example before it stays.
    ok(&s.run(&["restore", "--undo"]));
    let text = s.read("prosody.cfg.lua");
    assert!(text.contains("c.example"), "{text}");
    assert!(!text.contains("a.example"), "{text}");

    // Undo of a remove after an add: a.example is back, b.example (added
    // since a.example's backup was made) is kept.
    s.config(&with_a_b);
    ok(&s.run(&["remove", "a.example"]));
    let without_a = s.read("prosody.cfg.lua");
    ok(&s.run(&["restore", "--undo"]));
    assert_eq!(s.read("prosody.cfg.lua"), with_a_b);
    // ... and redo it.
    ok(&s.run(&["restore", "--undo"]));
    assert_eq!(s.read("prosody.cfg.lua"), without_a);

    // Undo of listen.
    s.config(&with_a);
    ok(&s.run(&["listen", "--interface", "0.0.0.0", "--port", "5348"]));
    assert!(s.read("prosody.cfg.lua").contains("component_ports"));
    let o = s.run(&["restore", "--undo"]);
    ok(&o);
    assert!(
        stderr(&o).contains("undid listen component listener of "),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.read("prosody.cfg.lua"), with_a);
}

#[test]
fn undo_refuses_when_the_file_changed_since() {
    let s = Scratch::new("undo-changed");
    s.config("admins = { }\n");
    ok(&add(&s, "a.example", &[]));
    // An operator's hand edit after ours.
    let mut text = s.read("prosody.cfg.lua");
    text.push_str("-- a note by hand\n");
    s.config(&text);
    let backups = entries(&s.path("backups"));
    let e = refused(&s.run(&["restore", "--undo"]));
    let cfg = std::fs::canonicalize(s.path("prosody.cfg.lua")).unwrap();
    assert!(
        e.contains(&format!(
            "{} changed since fogbow-xmpp-ctl last wrote it at 20",
            cfg.display()
        )) && e.contains("(add a.example)")
            && e.contains("use restore BACKUP"),
        "{e}"
    );
    assert!(!e.contains(SECRET), "{e}");
    // Nothing written: the file as it is, no new backup or record.
    assert_eq!(s.read("prosody.cfg.lua"), text);
    assert_eq!(entries(&s.path("backups")), backups);
    // A dry run says the same.
    refused(&s.run(&["restore", "--undo", "--dry-run"]));
}

#[test]
fn undo_with_nothing_recorded_says_so() {
    let s = Scratch::new("undo-none");
    s.config("admins = { }\n");
    let o = s.run(&["restore", "--undo"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no edit of") && stderr(&o).contains("is recorded in"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.read("prosody.cfg.lua"), "admins = { }\n");
    // restore --list with no backups: nothing on stdout, a sentence on stderr.
    let o = s.run(&["restore", "--list"]);
    assert_eq!(ok(&o), "");
    assert!(stderr(&o).contains("no backups of"), "{}", stderr(&o));
    // --undo and BACKUP, --undo and --list: usage errors.
    assert_eq!(code(&s.run(&["restore", "--undo", "x"])), 2);
    assert_eq!(code(&s.run(&["restore", "--undo", "--list"])), 2);
}

/// `add --file conf.d/NAME.cfg.lua` creates the file as Debian's own,
/// root:prosody 0640, holding just the block; prosody's loader accepts
/// the result and a real prosody serves the component from it; `remove`
/// deletes the file again and the config is as before.
#[test]
fn conf_d_add_and_remove_with_real_prosody() {
    if !real_parts_available() || !running_as_root("conf_d_add_and_remove_with_real_prosody") {
        return;
    }
    let s = Scratch::new("undo-confd");
    let (base, c2s, comp) = base_config(&s.dir);
    let cfg = debian_layout(&s, &base);
    let original = s.read("prosody.cfg.lua");
    // The dry run shows the new file and creates nothing.
    let o = add(
        &s,
        "a.example",
        &["--file", "conf.d/{name}.cfg.lua", "--dry-run"],
    );
    let diff = ok(&o);
    let named = s.path("conf.d/a.example.cfg.lua").display().to_string();
    assert!(
        diff.starts_with(&format!("--- {named}\n+++ {named}\n@@ -0,0 +1,6 @@\n")),
        "{diff}"
    );
    assert!(
        diff.contains("+Component \"a.example\"\n+\tcomponent_secret = \"******** (hmac:"),
        "{diff}"
    );
    assert_eq!(entries(&s.path("conf.d")), Vec::<String>::new());

    let j = json(&add(
        &s,
        "a.example",
        &["--file", "conf.d/{name}.cfg.lua", "--json"],
    ));
    assert_eq!(j["action"], "added");
    assert_eq!(
        j["file"],
        s.path("conf.d/a.example.cfg.lua").to_str().unwrap()
    );
    assert_eq!(
        s.read("prosody.cfg.lua"),
        original,
        "the main config is untouched"
    );
    assert_eq!(entries(&s.path("conf.d")), ["a.example.cfg.lua"]);
    let file = s.path("conf.d/a.example.cfg.lua");
    let m = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (0, prosody_gid(), 0o640)
    );
    let text = s.read("conf.d/a.example.cfg.lua");
    assert!(text.starts_with("-- Created by fogbow-xmpp-ctl"), "{text}");
    assert!(
        text.ends_with(&format!(
            "\n\nComponent \"a.example\"\n\tcomponent_secret = \"{SECRET}\"\n"
        )),
        "{text}"
    );
    // The settings key does the same for the next one.
    s.write(
        "settings.toml",
        &format!(
            "backup_dir = \"{}\"\ncomponent_file = \"conf.d/{{name}}.cfg.lua\"\n",
            s.path("backups").display()
        ),
    );
    ok(&add(&s, "b.example", &[]));
    assert_eq!(
        entries(&s.path("conf.d")),
        ["a.example.cfg.lua", "b.example.cfg.lua"]
    );

    // prosody's own configmanager reads both, and check (with prosody) passes.
    assert_eq!(
        prosody_value(&cfg, "a.example", "component_secret").unwrap(),
        Some(SECRET.as_bytes().to_vec())
    );
    let o = s.run(&["check"]);
    ok(&o);
    assert!(stderr(&o).contains("check: OK"), "{}", stderr(&o));
    // A real prosody, as the prosody user, serves a component from its file.
    let mut p = Prosody::start(&cfg, c2s, comp);
    assert!(
        matches!(
            handshake(comp, "a.example", SECRET.as_bytes()),
            Handshake::Accepted
        ),
        "{}",
        p.log_text()
    );
    p.stop();

    // A comment of the operator's does not keep a file we created.
    let mut a = s.read("conf.d/a.example.cfg.lua");
    a.push_str("-- checked by ops\n");
    s.write("conf.d/a.example.cfg.lua", &a);
    // remove's dry run shows the whole file going, and removes nothing.
    let diff = ok(&s.run(&["remove", "a.example", "--dry-run"]));
    assert!(diff.contains("@@ -1,7 +0,0 @@"), "{diff}");
    assert!(file.exists());
    ok(&s.run(&["remove", "a.example"]));
    assert_eq!(entries(&s.path("conf.d")), ["b.example.cfg.lua"]);
    // A file with a statement of the operator's is kept, without our block.
    let mut b = s.read("conf.d/b.example.cfg.lua");
    b = b.replace("Component", "admins = { }\n\nComponent");
    s.write("conf.d/b.example.cfg.lua", &b);
    ok(&s.run(&["remove", "b.example"]));
    let left = s.read("conf.d/b.example.cfg.lua");
    assert!(
        left.contains("admins = { }") && !left.contains("b.example\""),
        "{left}"
    );
    std::fs::remove_file(s.path("conf.d/b.example.cfg.lua")).unwrap();
    assert_eq!(s.read("prosody.cfg.lua"), original);
    ok(&s.run(&["check"]));
}

#[test]
fn undo_of_a_conf_d_add_removes_the_file_and_redo_creates_it() {
    if !running_as_root("undo_of_a_conf_d_add_removes_the_file_and_redo_creates_it") {
        return;
    }
    let s = Scratch::new("undo-confd-undo");
    debian_layout(&s, "");
    let original = s.read("prosody.cfg.lua");
    ok(&add(&s, "a.example", &["--file", "conf.d/{name}.cfg.lua"]));
    let created = s.read("conf.d/a.example.cfg.lua");
    let j = json(&s.run(&["restore", "--undo", "--json"]));
    assert_eq!(j["action"], "undone");
    assert_eq!(
        j["file"],
        s.path("conf.d/a.example.cfg.lua").to_str().unwrap()
    );
    assert_eq!(entries(&s.path("conf.d")), Vec::<String>::new());
    assert_eq!(s.read("prosody.cfg.lua"), original);
    // Redo: the same bytes, owner and mode.
    ok(&s.run(&["restore", "--undo"]));
    assert_eq!(s.read("conf.d/a.example.cfg.lua"), created);
    let m = std::fs::metadata(s.path("conf.d/a.example.cfg.lua")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (0, prosody_gid(), 0o640)
    );
    // Undo of the remove that deleted the file brings it back.
    ok(&s.run(&["remove", "a.example"]));
    assert_eq!(entries(&s.path("conf.d")), Vec::<String>::new());
    ok(&s.run(&["restore", "--undo"]));
    assert_eq!(s.read("conf.d/a.example.cfg.lua"), created);
    // A file that was changed by hand since is not removed by an undo.
    ok(&s.run(&["remove", "a.example"]));
    ok(&s.run(&["restore", "--undo"]));
    s.write("conf.d/a.example.cfg.lua", &format!("{created}-- mine\n"));
    let e = refused(&s.run(&["restore", "--undo"]));
    assert!(
        e.contains("changed since fogbow-xmpp-ctl last wrote it"),
        "{e}"
    );
    assert!(s.path("conf.d/a.example.cfg.lua").exists());
    // A file that appeared where an undo would create one: refused too.
    ok(&s.run(&["remove", "a.example"]));
    s.write("conf.d/a.example.cfg.lua", "-- someone else's\n");
    let e = refused(&s.run(&["restore", "--undo"]));
    assert!(e.contains("was created again since"), "{e}");
    assert_eq!(s.read("conf.d/a.example.cfg.lua"), "-- someone else's\n");
}

#[test]
fn add_file_without_a_covering_include_is_refused_and_writes_nothing() {
    let s = Scratch::new("undo-noinclude");
    s.config("admins = { }\n");
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    let e = refused(&add(
        &s,
        "a.example",
        &["--file", "conf.d/a.example.cfg.lua"],
    ));
    assert!(
        e.contains("no Include of") && e.contains("add the line `Include \"conf.d/*.cfg.lua\"` to"),
        "{e}"
    );
    assert!(e.contains("nothing was written"), "{e}");
    assert!(!e.contains(SECRET));
    assert_eq!(s.read("prosody.cfg.lua"), "admins = { }\n");
    assert_eq!(entries(&s.path("conf.d")), Vec::<String>::new());
    assert_eq!(entries(&s.path("backups")), Vec::<String>::new());
    // In the main config's own directory, the hint names the file (a glob
    // there would include the main config itself).
    let e = refused(&add(&s, "a.example", &["--file", "a.example.lua"]));
    assert!(e.contains("`Include \"a.example.lua\"`"), "{e}");
    // An Include of another directory does not cover it either.
    s.config("Include \"other/*.cfg.lua\"\n");
    std::fs::create_dir_all(s.path("other")).unwrap();
    refused(&add(
        &s,
        "a.example",
        &["--file", "conf.d/a.example.cfg.lua"],
    ));
    assert_eq!(entries(&s.path("conf.d")), Vec::<String>::new());
    // An existing file the config does not load is refused, untouched.
    s.write("conf.d/x.cfg.lua", "-- x\n");
    let e = refused(&add(&s, "a.example", &["--file", "conf.d/x.cfg.lua"]));
    assert!(e.contains("does not include it"), "{e}");
    assert_eq!(s.read("conf.d/x.cfg.lua"), "-- x\n");
    // Covered and existing: the block is appended to it.
    s.config("Include \"conf.d/*.cfg.lua\"\n");
    ok(&add(&s, "a.example", &["--file", "conf.d/x.cfg.lua"]));
    assert_eq!(
        s.read("conf.d/x.cfg.lua"),
        format!("-- x\n\nComponent \"a.example\"\n\tcomponent_secret = \"{SECRET}\"\n")
    );
}

/// prosody's own loader, judging an edit before it is renamed into place,
/// sees a file the edit creates (a glob lists it) and reads it from its
/// temp file.
#[test]
fn prosody_loader_sees_a_file_an_edit_creates() {
    if !real_parts_available() {
        return;
    }
    let lib = fogbow_xmpp_ctl::settings::Settings::default().prosody_lib;
    let Some(prosody) = fogbow_xmpp_ctl::system::loader::Installed::find(&lib) else {
        panic!("prosody is installed");
    };
    let s = Scratch::new("undo-loader");
    let cfg = s.config("Include \"conf.d/*.cfg.lua\"\n");
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    let temp = s.write(
        "conf.d/.new.fxc-1-00000000.tmp",
        "require \"fxc_no_such_module\"\n",
    );
    let new = std::fs::canonicalize(s.path("conf.d"))
        .unwrap()
        .join("new.cfg.lua");
    use fogbow_xmpp_ctl::prosody::Verdict;
    assert_eq!(prosody.load(&cfg).unwrap(), Verdict::Loads);
    let v = prosody
        .load_with(&cfg, &[(new.as_path(), temp.as_path())])
        .unwrap();
    assert!(
        matches!(&v, Verdict::Fails { message, .. } if message.contains("fxc_no_such_module")),
        "{v:?}"
    );
}

/// With Debian's layout, the history of a component's own file is listed
/// and restorable too, not only the last edit through --undo: `--list`
/// shows its backups with the file each is of, and `restore BACKUP` puts
/// one back, creating the file again when a `remove` deleted it.
#[test]
fn conf_d_backups_are_listed_and_restored() {
    if !running_as_root("conf_d_backups_are_listed_and_restored") {
        return;
    }
    let s = Scratch::new("undo-confd-list");
    debian_layout(&s, "");
    let file = s.path("conf.d/c1.example.cfg.lua");
    ok(&add(&s, "c1.example", &["--file", "conf.d/{name}.cfg.lua"]));
    let created = s.read("conf.d/c1.example.cfg.lua");
    ok(&add(
        &s,
        "c2.example",
        &["--file", "conf.d/c1.example.cfg.lua"],
    ));
    ok(&s.run(&["remove", "c1.example"]));
    // The last component out: the file goes, and the tool says so.
    let j = json(&s.run(&["remove", "c2.example", "--dry-run", "--json"]));
    assert_eq!(
        j["deleted"],
        serde_json::json!([file.to_str().unwrap()]),
        "{j}"
    );
    let o = s.run(&["remove", "c2.example"]);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!(
            "deleted {}: nothing but comments was left in it",
            file.display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(!file.exists(), "the emptied file of ours is deleted");

    let j = json(&s.run(&["restore", "--list", "--json"]));
    let rows: Vec<&serde_json::Value> = j
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["file"] == file.to_str().unwrap())
        .collect();
    // Backups of the file before c2 was added, before each remove.
    assert_eq!(rows.len(), 3, "{j}");
    assert_eq!(
        rows.iter()
            .map(|r| r["command"].clone())
            .collect::<Vec<_>>(),
        vec!["add", "remove", "remove"],
        "{j}"
    );
    let text = stdout(&s.run(&["restore", "--list"]));
    assert!(text.contains("\nEDIT (UTC)  "), "{text}");
    assert!(text.contains("  conf.d/c1.example.cfg.lua\n"), "{text}");

    // The first backup: the file as `add c1` made it, created again.
    let first = rows[0]["backup"].as_str().unwrap();
    ok(&s.run(&["restore", first]));
    assert_eq!(s.read("conf.d/c1.example.cfg.lua"), created);
    let l = json(&s.run(&["list", "--json"]));
    assert_eq!(l["components"][0]["name"], "c1.example", "{l}");
}

/// The newest backup of the scratch's main config in the JSON list.
fn newest_main_backup(s: &Scratch) -> String {
    let j = json(&s.run(&["restore", "--list", "--json"]));
    let main = std::fs::canonicalize(s.path("prosody.cfg.lua")).unwrap();
    j.as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["file"] == main.to_str().unwrap())
        .expect("a backup of the main config")["backup"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A config broken by hand is what a backup is for: `restore BACKUP` of a
/// backup that passes check replaces it (the broken text backed up like
/// any version it replaces); one that does not pass is refused with
/// nothing changed.
#[test]
fn restore_replaces_a_hand_broken_config() {
    let s = Scratch::new("undo-broken-restore");
    s.config("admins = { }\n");
    ok(&add(&s, "a.example", &[]));
    let good = s.read("prosody.cfg.lua");
    ok(&add(&s, "b.example", &[]));
    let before_b = newest_main_backup(&s);
    let broken = format!(
        "{}# a note written as in a shell script\n",
        s.read("prosody.cfg.lua")
    );
    s.config(&broken);
    // A backup that does not pass check either: refused, nothing changed.
    let bad = s.path("backups").join(format!(
        "{}19990101T000000.000000000Z",
        &Path::new(&before_b).file_name().unwrap().to_str().unwrap()
            [..Path::new(&before_b).file_name().unwrap().len() - 26]
    ));
    std::fs::write(&bad, "Component \"x.example\"\n\tcomponent_secret = 1 +\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = refused(&s.run(&["restore", bad.to_str().unwrap()]));
    assert!(!e.contains("already broken"), "{e}");
    // Where the backup breaks, at the place it would take.
    assert!(e.contains("prosody.cfg.lua:3:1: error[syntax]"), "{e}");
    assert!(e.contains("with the backup in place of"), "{e}");
    assert_eq!(s.read("prosody.cfg.lua"), broken);

    // A dry run shows the change and writes nothing.
    let d = ok(&s.run(&["restore", &before_b, "--dry-run"]));
    assert!(d.contains("-# a note written as in a shell script"), "{d}");
    assert!(!d.contains(SECRET), "the diff masks secrets: {d}");
    assert_eq!(s.read("prosody.cfg.lua"), broken);

    let o = s.run(&["restore", &before_b, "--json"]);
    let j = json(&o);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(j["action"], "restored", "{j}");
    assert_eq!(s.read("prosody.cfg.lua"), good);
    // The broken version is a backup too, and prosody reads the result.
    let broken_backup = j["backup"].as_str().expect("a backup of the broken file");
    assert_eq!(std::fs::read_to_string(broken_backup).unwrap(), broken);
    assert_eq!(
        prosody_value(&s.path("prosody.cfg.lua"), "a.example", "component_secret").unwrap(),
        Some(SECRET.as_bytes().to_vec())
    );
}

/// `restore --undo` cannot undo an edit of a config broken by hand since;
/// it says so with the exact command that puts the last good backup back,
/// and that command works.
#[test]
fn undo_of_a_hand_broken_config_names_the_backup_to_restore() {
    let s = Scratch::new("undo-broken-undo");
    s.config("admins = { }\n");
    ok(&add(&s, "a.example", &[]));
    ok(&add(&s, "b.example", &[]));
    let newest = newest_main_backup(&s);
    let broken = format!("{}component_secret = \n", s.read("prosody.cfg.lua"));
    s.config(&broken);
    let e = refused(&s.run(&["restore", "--undo"]));
    assert!(!e.contains("fix it first"), "{e}");
    let cfg = s.path("prosody.cfg.lua");
    let command = format!(
        "fogbow-xmpp-ctl -c {} restore {}",
        cfg.display(),
        Path::new(&newest).file_name().unwrap().to_str().unwrap()
    );
    assert!(e.contains(&command), "{e}");
    let at = format!(
        "{}:{}:1: error[syntax]",
        cfg.display(),
        broken.lines().count() + 1
    );
    assert!(e.contains(&at), "names where it is broken: {e}");
    assert_eq!(s.read("prosody.cfg.lua"), broken, "nothing changed");
    // The command it gives, as given (but our settings).
    let name = command.rsplit(' ').next().unwrap();
    ok(&s.run(&["restore", name]));
    assert_eq!(
        prosody_value(&cfg, "a.example", "component_secret").unwrap(),
        Some(SECRET.as_bytes().to_vec())
    );
    assert_eq!(
        prosody_value(&cfg, "b.example", "component_secret").unwrap(),
        None
    );
}

/// A component whose `.properties` (`original`, mode 0640) gets a new
/// secret from `add --from-properties --generate-secret --replace`: the
/// file's path, and the config as it was before.
fn rotated_by_properties(s: &Scratch, original: &str) -> (PathBuf, String) {
    s.config(&format!(
        "admins = {{ }}\nComponent \"m.fogbow.example\"\n\tcomponent_secret = \"{SECRET}\"\n"
    ));
    let props = s.write("manager.properties", original);
    std::fs::set_permissions(&props, std::fs::Permissions::from_mode(0o640)).unwrap();
    let config_before = s.read("prosody.cfg.lua");
    let p = props.to_str().unwrap();
    ok(&s.run(&[
        "add",
        "--from-properties",
        p,
        "--generate-secret",
        "--replace",
    ]));
    (props, config_before)
}

/// A Fogbow component's `.properties` rewritten by `add --from-properties
/// --generate-secret` is part of the edit: the undo puts it back with the
/// config (they agree again), and refuses, naming it, when it changed since.
#[test]
fn undo_puts_back_the_properties_file_a_generated_secret_was_written_to() {
    let s = Scratch::new("undo-properties");
    let original = format!("xmpp_jid=m.fogbow.example\nxmpp_password={SECRET}\nx=1\n");
    let (props, config_before) = rotated_by_properties(&s, &original);
    let p = props.to_str().unwrap();
    let rotated = s.read("manager.properties");
    assert_ne!(rotated, original);

    let o = s.run(&["restore", "--undo", "--json"]);
    assert_eq!(json(&o)["action"], "undone", "{}", stderr(&o));
    assert_eq!(s.read("prosody.cfg.lua"), config_before);
    assert_eq!(
        s.read("manager.properties"),
        original,
        "the properties file agrees again"
    );
    assert_eq!(std::fs::metadata(&props).unwrap().mode() & 0o7777, 0o640);
    // A redo rewrites both again.
    ok(&s.run(&["restore", "--undo"]));
    assert_eq!(s.read("manager.properties"), rotated);
    // Changed by hand since: refused, naming it, nothing changed.
    let edited = format!("{rotated}y=2\n");
    s.write("manager.properties", &edited);
    let config_now = s.read("prosody.cfg.lua");
    let e = refused(&s.run(&["restore", "--undo"]));
    assert!(
        e.contains(&format!("{} changed since", props.display())),
        "{e}"
    );
    assert_eq!(s.read("manager.properties"), edited);
    assert_eq!(s.read("prosody.cfg.lua"), config_now);
    // The list has backups of config files only.
    let j = json(&s.run(&["restore", "--list", "--json"]));
    assert!(j.as_array().unwrap().iter().all(|r| r["file"] != p), "{j}");
}

/// A FIFO in place of a file the edit wrote is refused, not read: opening
/// it would block until a writer came, with the config's lock held.
#[test]
fn undo_refuses_a_fifo_in_place_of_a_file_the_edit_wrote() {
    let s = Scratch::new("undo-fifo");
    let original = format!("xmpp_jid=m.fogbow.example\nxmpp_password={SECRET}\n");
    let (props, _) = rotated_by_properties(&s, &original);
    let p = props.to_str().unwrap();
    std::fs::remove_file(&props).unwrap();
    nix::unistd::mkfifo(&props, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let config_now = s.read("prosody.cfg.lua");
    let undo = s.ctl().args(["restore", "--undo"]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(undo.output()));
    let o = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(o) => o,
        Err(_) => {
            // Let the blocked process go: a writer opens the FIFO.
            drop(std::fs::OpenOptions::new().write(true).open(&props));
            panic!("restore --undo blocks on a FIFO in place of {p}");
        }
    };
    assert_ne!(code(&o), 0, "{}", stdout(&o));
    let e = stderr(&o);
    assert!(e.contains(p) && e.contains("not a regular file"), "{e}");
    assert_eq!(s.read("prosody.cfg.lua"), config_now);
}

/// fogbow-xmpp-ctl with credentials and the drop-in at scratch paths, as
/// if prosody 13 were installed (the stand-in library with `Credential()`,
/// as in tests/credentials/store.rs), without 0.12's loader; `None` without
/// root or systemd-creds.
fn credential_scratch(tag: &str) -> Option<(Scratch, impl Fn(&[&str]) -> Output)> {
    if !running_as_root(tag) {
        return None;
    }
    if !require_tool("systemd-creds", &["systemd-creds", "--version"]) {
        return None;
    }
    let s = Scratch::new(tag);
    s.write(
        "settings.toml",
        &format!(
            "backup_dir = \"{}\"\ncredentials_dir = \"{}\"\ncredentials_drop_in = \"{}\"\nprosody_lib = \"{PROSODY13_LIB}\"\n",
            s.path("backups").display(),
            s.path("etc/credentials").display(),
            s.path("etc/prosody.service.d/creds.conf").display(),
        ),
    );
    let cfg = s.path("prosody.cfg.lua");
    let settings = s.path("settings.toml");
    let run = move |args: &[&str]| {
        support::ctl()
            .settings(&settings)
            .config(&cfg)
            .args(args)
            .output()
    };
    Some((s, run))
}

/// `restore --list` lists only what `restore` takes (files of the config,
/// never a `.cred` or the drop-in); restoring a config backup puts back
/// the credential its edit removed, in the same edit, and the drop-in
/// follows; a credential's backup is refused without advising an Include.
#[test]
fn restore_lists_config_files_only_and_brings_credentials_back_with_them() {
    let Some((s, run)) = credential_scratch("undo-cred-list") else {
        return;
    };
    s.config("admins = { }\n");
    let secret = s.secret(SECRET);
    let secret = secret.to_str().unwrap();
    let name = "mgr.fog.test";
    ok(&run(&[
        "add",
        name,
        "--secret-file",
        secret,
        "--secret-store",
        "credential",
    ]));
    let in_credential = s.read("prosody.cfg.lua");
    let creds = entries(&s.path("etc/credentials"));
    assert_eq!(creds.len(), 1, "{creds:?}");
    let cred = s.path("etc/credentials").join(&creds[0]);
    let drop_in = s.read("etc/prosody.service.d/creds.conf");
    ok(&run(&["migrate", "--to", "config", name]));
    assert!(!cred.exists() && !s.path("etc/prosody.service.d/creds.conf").exists());

    let j = json(&run(&["restore", "--list", "--json"]));
    let main = std::fs::canonicalize(s.path("prosody.cfg.lua")).unwrap();
    let files: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, [main.to_str().unwrap(); 2], "{j}");
    let text = ok(&run(&["restore", "--list"]));
    assert!(
        !text.contains(".cred") && !text.contains("creds.conf"),
        "{text}"
    );

    // A credential's backup is not something restore takes.
    let cred_backup = entries(&s.path("backups"))
        .into_iter()
        .find(|n| n.contains(".cred.") && !n.ends_with(".edit"))
        .expect("the credential was backed up");
    let o = run(&["restore", &cred_backup]);
    assert_ne!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("Include"), "{}", stderr(&o));

    // The config before the migrate reads the credential: it comes back.
    let before_migrate = j[1]["backup"].as_str().unwrap();
    let o = run(&["restore", before_migrate, "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(s.read("prosody.cfg.lua"), in_credential);
    let got = std::process::Command::new("systemd-creds")
        .arg("decrypt")
        .arg(format!(
            "--name={}",
            creds[0].strip_suffix(".cred").unwrap()
        ))
        .arg(&cred)
        .arg("-")
        .output()
        .unwrap();
    assert_eq!(got.stdout, SECRET.as_bytes(), "{}", stderr(&got));
    assert_eq!(s.read("etc/prosody.service.d/creds.conf"), drop_in);
}

/// The table says that each backup is the file before the edit on its
/// row, and fits 100 columns.
#[test]
fn list_is_a_legend_and_rows_within_100_columns() {
    let s = Scratch::new("undo-list-width");
    s.config("admins = { }\n");
    ok(&add(&s, "my-manager.internal.mydomain", &[]));
    ok(&add(&s, "b.example", &[]));
    let text = ok(&s.run(&["restore", "--list"]));
    assert!(text.to_lowercase().contains("before"), "{text}");
    for l in text.lines() {
        assert!(l.chars().count() <= 100, "{} wide: {l}", l.chars().count());
    }
    let j = json(&s.run(&["restore", "--list", "--json"]));
    for r in j.as_array().unwrap() {
        let b = r["backup"].as_str().unwrap();
        assert!(
            text.contains(Path::new(b).file_name().unwrap().to_str().unwrap()),
            "{text}"
        );
    }
}
