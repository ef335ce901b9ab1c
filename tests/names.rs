//! Host names the way prosody sees them:
//! our nameprep against prosody's own `util.encodings` on a corpus, and
//! `add`/`remove`/`list`/`check` comparing, refusing and reporting names
//! as prosody does.

mod support;

use std::process::{Command, Output, Stdio};

use support::*;

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}
fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// (name, prosody's result in hex or "refused", note)
fn corpus() -> Vec<(Vec<u8>, String, String)> {
    let text = include_str!("data/nameprep-corpus.tsv");
    let rows: Vec<_> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let (name, want, note) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            (unhex(name), want.to_string(), note.to_string())
        })
        .collect();
    assert!(rows.len() >= 60, "the corpus has {} names", rows.len());
    rows
}

/// Our verdict on every corpus name is the recorded one, byte for byte.
#[test]
fn nameprep_matches_the_recorded_verdicts() {
    let mut wrong = Vec::new();
    for (name, want, note) in corpus() {
        let got = match fogbow_xmpp_ctl::prosody::names::nameprep(&name) {
            Ok(p) => hex(p.as_bytes()),
            Err(_) => "refused".into(),
        };
        if got != want {
            wrong.push(format!(
                "{note}: {} -> ours {got}, prosody {want}",
                hex(&name)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The recorded verdicts are those of the installed prosody's own nameprep
/// (`util.encodings`, the function `core/configmanager.lua` calls on every
/// `VirtualHost`/`Component` name).
#[test]
fn recorded_verdicts_are_prosodys() {
    if !real_parts_available() {
        return;
    }
    const LUA: &str = r#"
package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local ok, enc = pcall(require, "prosody.util.encodings")
if not ok then enc = require "util.encodings" end
for line in io.lines() do
  local s = line:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  local r = enc.stringprep.nameprep(s)
  io.write(r == nil and "refused" or (r:gsub(".", function(c) return string.format("%02x", c:byte()) end)), "\n")
end
"#;
    let rows = corpus();
    let input: String = rows.iter().map(|(n, _, _)| hex(n) + "\n").collect();
    let mut child = Command::new("lua5.4")
        .args(["-e", LUA])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(got.len(), rows.len());
    for ((name, want, note), got) in rows.iter().zip(got) {
        assert_eq!(got, want, "{note}: {}", hex(name));
    }
}

fn add(s: &Scratch, name: &str, secret: &str, extra: &[&str]) -> Output {
    let f = s.write(&format!("secret-{}", hex(secret.as_bytes())), secret);
    s.ctl()
        .args(["add", name])
        .secret_file(&f)
        .args(extra)
        .output()
}

/// `straße.example` and `strasse.example` are one host to prosody: a second
/// `add` with another secret is a re-key that needs `--replace`, and
/// `remove` takes every block prosody would merge.
#[test]
fn sharp_s_and_ss_are_one_host() {
    let s = Scratch::new("names-strasse");
    s.config("admins = { }\n");
    let a = "strasse-secret-A-0123456789";
    let b = "strasse-secret-B-0123456789";
    let o = add(&s, "strasse.example", a, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let before = s.read("prosody.cfg.lua");

    let o = add(&s, "straße.example", b, &[]);
    assert_eq!(
        code(&o),
        1,
        "a silent re-key: {}",
        s.read("prosody.cfg.lua")
    );
    assert!(stderr(&o).contains("--replace"), "{}", stderr(&o));
    assert_eq!(s.read("prosody.cfg.lua"), before, "exit 1: nothing changed");

    // The same secret under the other spelling is the same component.
    let o = add(&s, "STRASSE.Example", a, &["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["action"], "unchanged");

    // Written by hand, both spellings: check says they merge; remove takes both.
    s.config(&format!(
        "Component \"strasse.example\"\n\tcomponent_secret = \"{a}\"\nComponent \"straße.example\"\n\tcomponent_secret = \"{b}\"\n"
    ));
    let o = s.run(&["check", "--json", "--no-prosody"]);
    let j = json(&o);
    let d = j["diagnostics"].as_array().unwrap();
    assert!(
        // Two different secrets: an error (tests/check/findings.rs).
        d.iter().any(|d| d["code"] == "duplicate-component-secret"
            && d["line"] == 3
            && d["message"]
                .as_str()
                .unwrap()
                .contains("\"strasse.example\"")),
        "{j}"
    );
    let o = s.run(&["remove", "strasse.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        s.read("prosody.cfg.lua"),
        "",
        "the straße block is gone too"
    );
    if real_parts_available() {
        assert_eq!(
            prosody_value(
                &s.path("prosody.cfg.lua"),
                "strasse.example",
                "component_secret"
            ),
            Ok(None)
        );
    }
}

/// A full-width `VirtualHost` is `xmpp.example` to prosody: adding a
/// Component of that name would stop prosody.
#[test]
fn full_width_virtual_host_clashes() {
    let s = Scratch::new("names-fullwidth");
    s.config("VirtualHost \"ｘｍｐｐ.example\"\n");
    let before = s.read("prosody.cfg.lua");
    let o = add(&s, "xmpp.example", STRONG, &[]);
    assert_eq!(code(&o), 1, "{}", s.read("prosody.cfg.lua"));
    assert!(stderr(&o).contains("VirtualHost"), "{}", stderr(&o));
    // The error shows the spelling the operator will find in the file.
    assert!(
        stderr(&o).contains("written \"ｘｍｐｐ.example\""),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.read("prosody.cfg.lua"), before);

    // check finds the clash a hand edit makes, as prosody does.
    s.config("VirtualHost \"ｘｍｐｐ.example\"\nComponent \"XMPP.example\"\n\tcomponent_secret = \"0123456789abcdef0123\"\n");
    let o = s.run(&["check", "--json", "--no-prosody"]);
    let j = json(&o);
    assert!(
        j["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "host-clash" && d["line"] == 2),
        "{j}"
    );
    if real_parts_available() {
        let e = prosody_value(&s.path("prosody.cfg.lua"), "xmpp.example", "x").unwrap_err();
        assert!(e.contains("clashes"), "{e}");
    }
}

/// A name nameprep refuses is refused by `add` (nothing written) and
/// reported by `check` as bad-host-name; prosody refuses it too.
#[test]
fn names_nameprep_refuses() {
    let s = Scratch::new("names-rtl");
    s.config("admins = { }\n");
    let before = s.read("prosody.cfg.lua");
    for (name, why) in [
        ("אב.example", "right-to-left"),
        ("a\u{200E}b.example", "U+200E"),
        ("a\u{E000}.example", "U+E000"),
    ] {
        let o = add(&s, name, STRONG, &[]);
        assert_eq!(code(&o), 1, "{name}");
        assert!(stderr(&o).contains(why), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("nameprep"), "{name}: {}", stderr(&o));
        assert_eq!(s.read("prosody.cfg.lua"), before);
    }
    // Accepted: a right-to-left name on its own, and one with soft hyphens
    // prosody maps to nothing.
    for name in ["אב", "x\u{AD}mpp.example"] {
        let o = add(&s, name, STRONG, &[]);
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
    }

    s.config("Component \"אב.example\"\n\tcomponent_secret = \"0123456789abcdef0123\"\n");
    let o = s.run(&["check", "--json", "--no-prosody"]);
    let j = json(&o);
    let d = &j["diagnostics"][0];
    assert_eq!(d["code"], "bad-host-name", "{j}");
    assert!(
        d["message"].as_str().unwrap().contains("right-to-left"),
        "{j}"
    );
    if real_parts_available() {
        let e = prosody_value(&s.path("prosody.cfg.lua"), "x", "x").unwrap_err();
        assert!(e.contains("forbidden characters"), "{e}");
    }
}

/// list, check and the edits agree on which blocks are one host.
#[test]
fn list_and_check_agree_with_edits() {
    let s = Scratch::new("names-list");
    s.config(&format!(
        "Component \"Ｍ.example\"\n\tcomponent_secret = \"{STRONG}\"\nComponent \"r.example\"\n\tcomponent_secret = \"{STRONG}\"\n"
    ));
    let o = s.run(&["list", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["components"][0]["name"], "Ｍ.example");
    let o = s.run(&["check", "--json", "--no-prosody"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    // add m.example is the existing full-width block: unchanged.
    let o = add(&s, "m.example", STRONG, &["--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["action"], "unchanged");
    let o = s.run(&["remove", "m.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = s.run(&["list", "--json"]);
    let j = json(&o);
    let c = j["components"].as_array().unwrap();
    assert_eq!(c.len(), 1, "{j}");
    assert_eq!(c[0]["name"], "r.example");
}

/// A `conf.d` file whose name is not UTF-8 is loaded by prosody; `check`,
/// `list` (table and JSON) and `add` read it too.
#[test]
fn conf_d_file_names_are_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new("names-bytes");
    s.config("admins = { }\nInclude \"conf.d/*.cfg.lua\"\n");
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    let file = s.path("conf.d").join(OsStr::from_bytes(b"\xff.cfg.lua"));
    std::fs::write(
        &file,
        format!("Component \"b.example\"\n\tcomponent_secret = \"{STRONG}\"\n"),
    )
    .unwrap();
    let main = s.path("prosody.cfg.lua");
    if real_parts_available() {
        assert_eq!(
            prosody_value(&main, "b.example", "component_secret"),
            Ok(Some(STRONG.as_bytes().to_vec())),
            "prosody loads it"
        );
    }
    let o = s.run(&["check", "--json"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(json(&o)["files"].as_array().unwrap().len(), 2);

    let o = s.run(&["list", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["components"][0]["name"], "b.example", "{j}");
    assert!(j["components"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("conf.d/\u{FFFD}.cfg.lua"));
    let o = s.run(&["list"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let new = "another-secret-0123456789";
    let o = add(&s, "b.example", new, &["--replace", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["action"], "replaced");
    assert!(std::fs::read_to_string(&file).unwrap().contains(new));
    let o = s.run(&["remove", "b.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(&file).unwrap(), b"");
}

/// prosody activates `Component "MiXed.Fog.Test"` (and `straße…`) under the
/// nameprepped name, but matches a connecting component's name as sent:
/// the file's spelling gets host-unknown, nameprep's is accepted. `check`
/// warns at the name and says which spelling to connect as; `add` says it
/// on stderr (exit 0); `probe` connects as prosody's spelling and says so.
#[test]
fn a_component_must_connect_with_the_nameprepped_spelling() {
    if !real_parts_available() || !running_as_root("nameprepped spelling") {
        return;
    }
    let s = Scratch::new("names-spelling");
    let (base, c2s, comp, _) = server_with_shell(&s);
    s.config(&base);
    // What `add` says, kept to be checked after what prosody does.
    let mut said = Vec::new();
    for name in ["MiXed.Fog.Test", "straße.fog.test", "plain.fog.test"] {
        let o = add(&s, name, STRONG, &[]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        said.push(stderr(&o));
    }

    let _server = Prosody::start(&s.path("prosody.cfg.lua"), c2s, comp);
    for (written, prepped) in [
        ("MiXed.Fog.Test", "mixed.fog.test"),
        ("straße.fog.test", "strasse.fog.test"),
    ] {
        assert_eq!(
            handshake(comp, written, STRONG.as_bytes()),
            Handshake::HostUnknown,
            "prosody refuses the file's spelling {written}"
        );
        assert_eq!(
            handshake(comp, prepped, STRONG.as_bytes()),
            Handshake::Accepted,
            "prosody accepts nameprep's spelling {prepped}"
        );
        let o = s.run(&["probe", written, "--json"]);
        assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
        let j = json(&o);
        assert_eq!(j["outcome"], "accepted", "{j}");
        assert!(
            j["hint"]
                .as_str()
                .unwrap()
                .contains(&format!("connect as {prepped}")),
            "{j}"
        );
    }

    let o = s.run(&["check", "--json"]);
    assert_eq!(code(&o), 0, "warnings only: {}", stdout(&o));
    let j = json(&o);
    let config = s.read("prosody.cfg.lua");
    for (written, prepped) in [
        ("MiXed.Fog.Test", "mixed.fog.test"),
        ("straße.fog.test", "strasse.fog.test"),
    ] {
        let line = config
            .lines()
            .position(|l| l.contains(&format!("Component \"{written}\"")))
            .unwrap()
            + 1;
        let d = j["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["code"] == "component-name-spelling" && d["line"] == line as u64)
            .unwrap_or_else(|| panic!("no warning for {written}: {j}"));
        assert_eq!(d["severity"], "warning");
        assert_eq!(d["column"], 11, "at the name: {d}");
        let text = format!("{} {}", d["message"], d["help"]);
        assert!(text.contains(&format!("connect as {prepped}")), "{d}");
    }
    assert_eq!(
        j["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] == "component-name-spelling")
            .count(),
        2,
        "plain.fog.test is not reported: {j}"
    );
    // (Each add also shows the check's warnings about the whole config.)
    let note = |w: &str, p: &str| format!("warning: prosody knows the component {w} as {p}");
    assert!(
        said[0].contains(&note("MiXed.Fog.Test", "mixed.fog.test")),
        "{}",
        said[0]
    );
    assert!(said[0].contains("connect as mixed.fog.test"), "{}", said[0]);
    assert!(
        said[1].contains(&note("straße.fog.test", "strasse.fog.test")),
        "{}",
        said[1]
    );
    assert!(!said[2].contains("component plain.fog.test"), "{}", said[2]);
}
