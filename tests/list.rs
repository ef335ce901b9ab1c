//! `list`: the table and the JSON, and a block whose secret prosody never
//! uses.

mod support;

use support::*;

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

/// `list` still shows both blocks of one component, and marks the one whose
/// secret prosody never uses (text and JSON), naming the block that wins;
/// equal-name blocks where only one sets a secret are not marked.
#[test]
fn list_marks_the_block_whose_secret_is_never_used() {
    let s = Scratch::new("list-dead-secret");
    s.config(&format!(
        "Component \"a.example\"\n\tcomponent_secret = \"{STRONG}-first\"\n\
         Component \"b.example\"\n\tcomponent_secret = \"{STRONG}-b\"\n\
         Component \"A.example\"\n\tcomponent_secret = \"{STRONG}-last\"\n\
         Component \"b.example\"\n"
    ));
    let o = s.run(&["list", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    let marked: Vec<(String, u64)> = j["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["secret_overridden"] == true)
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(marked, vec![("a.example".to_string(), 1)], "{j}");
    let o = s.run(&["list"]);
    let out = stdout(&o);
    let first = out.lines().find(|l| l.contains(":1")).unwrap();
    assert!(first.contains("unused"), "{out}");
    assert_eq!(out.matches("unused").count(), 1, "{out}");
    let err = stderr(&o);
    assert!(
        err.contains("prosody uses the component_secret at")
            && err.contains("prosody.cfg.lua:5; the one at")
            && err.contains("prosody.cfg.lua:1 is never used"),
        "{err}"
    );
    assert!(!out.contains(STRONG) && !err.contains(STRONG));
}
