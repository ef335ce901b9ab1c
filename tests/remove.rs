//! `remove`: a removed block leaves the file as it was before `add`, and
//! an absent name is an error unless `--if-exists`.

mod support;

use support::*;

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
