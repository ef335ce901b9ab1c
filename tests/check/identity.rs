//! A diagnostic is identified by its code and subject (a host name after
//! nameprep, an option, a file), not by its text: an edit that only moves an
//! error the config already has does not "introduce" it, and a message names
//! its subject as the config spells it, whatever that spelling contains.

use crate::support::{code, json, stderr, Scratch};

const SECRET: &str = "\tcomponent_secret = \"abcdefghijklmnopqrstu\"\n";

/// The host-clash message names the VirtualHost's
/// `file:line`; removing a block above it moved that line, and the old
/// clash counted as new, so nothing could be removed from such a config.
#[test]
fn removing_above_an_existing_clash_is_not_refused() {
    let s = Scratch::new("identity-remove");
    s.config(&format!(
        "Component \"x.example\"\n{SECRET}VirtualHost \"a.example\"\nComponent \"a.example\"\n{SECRET}"
    ));
    let o = s.run(&["remove", "x.example", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["changed"], true);
    assert_eq!(
        s.read("prosody.cfg.lua"),
        format!("VirtualHost \"a.example\"\nComponent \"a.example\"\n{SECRET}")
    );
}

/// The clash is the same one when the file spells the two names
/// differently (one host to prosody) and an edit moves both.
#[test]
fn an_existing_clash_between_spellings_moves_with_the_edit() {
    let s = Scratch::new("identity-spelling");
    s.config(&format!(
        "Component \"x.example\"\n{SECRET}VirtualHost \"A.example\"\n\nComponent \"a.example\"\n{SECRET}"
    ));
    let secret = s.secret("zyxwvutsrqponmlkjihgf");
    let o = s.run(&["remove", "x.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let clash = format!("VirtualHost \"A.example\"\n\nComponent \"a.example\"\n{SECRET}");
    assert_eq!(s.read("prosody.cfg.lua"), clash);
    assert!(stderr(&o).contains("removed x.example"), "{}", stderr(&o));
    let o = s
        .ctl()
        .args(["add", "b.example"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        s.read("prosody.cfg.lua"),
        format!(
            "{clash}\nComponent \"b.example\"\n\tcomponent_secret = \"zyxwvutsrqponmlkjihgf\"\n"
        )
    );
    assert!(stderr(&o).contains("added b.example"), "{}", stderr(&o));
    // The clash the config had is not reported as the edit's doing.
    assert!(!stderr(&o).contains("host-clash"), "{}", stderr(&o));
}

/// Errors the config has keep their place in `check` after such an edit.
#[test]
fn existing_errors_stay_reported_after_the_edit() {
    let s = Scratch::new("identity-stay");
    // c.example lacks its secret and a.example clashes; removing d.example
    // is refused for neither, and both stay reported.
    let text = format!(
        "Component \"c.example\"\nComponent \"d.example\"\n{SECRET}VirtualHost \"a.example\"\nComponent \"a.example\"\n{SECRET}"
    );
    s.config(&text);
    let o = s.run(&["remove", "d.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = s.run(&["check", "--json", "--no-prosody"]);
    let j = json(&o);
    let codes: Vec<&str> = j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["component-secret-missing", "host-clash"]);
}

/// The kind of a host was put into a name-check message by
/// replacing "the component name" in its text, which also rewrote a name
/// that contains those words.
#[test]
fn a_name_is_quoted_as_written_whatever_it_says() {
    let s = Scratch::new("identity-name");
    s.config("VirtualHost \"the component name\"\n");
    let o = s.run(&["check", "--json", "--no-prosody"]);
    let j = json(&o);
    let d = &j["diagnostics"][0];
    assert_eq!(d["code"], "unusable-host-name");
    let m = d["message"].as_str().unwrap();
    assert!(
        m.starts_with("the VirtualHost name \"the component name\" contains a space"),
        "{m}"
    );
}

/// `check --help` lists every code the library reports (both come from
/// `src/diagnostics/codes.rs`), each with its severity.
#[test]
fn check_help_lists_every_code() {
    let o = std::process::Command::new(crate::support::BIN)
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = crate::support::stdout(&o);
    for c in fogbow_xmpp_ctl::diagnostics::Code::ALL {
        let want = format!("  {} ({}) ", c.as_str(), c.severity());
        assert!(help.contains(&want), "{want:?} in {help}");
    }
}
