//! Finding every mistake: `check` names every `#` comment line,
//! explains `Component("x", "muc")`, makes two different secrets for one
//! component an error, and a dry run's warnings point at the file on disk.

use crate::support::*;

fn diag<'j>(j: &'j serde_json::Value, code: &str) -> Vec<&'j serde_json::Value> {
    j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .collect()
}

/// The Fogbow guide's sample has five `#` comment lines; prosody stops at
/// the first. `check` names all five (and a `#` in a string or a Lua
/// comment is none), each with its fix; fixed as told, the config loads in
/// prosody's own configmanager.
#[test]
fn every_hash_comment_line_is_reported_with_its_fix() {
    let s = Scratch::new("hash");
    let text = format!(
        "admins = {{ }}\n\
         # Fogbow's guide: the manager\n\
         Component \"my-manager.internal.mydomain\"\n\
         \tcomponent_secret = \"{STRONG}\" # its xmpp_password\n\
         # the rendezvous\n\
         Component \"my-rendezvous.internal.mydomain\"\n\
         \x20  # indented, with a ' quote\n\
         \tcomponent_secret = \"{STRONG}x\"\n\
         x = \"# not a comment\"\n\
         --[[ # nor this\n# nor this ]]\n\
         # the last one\n"
    );
    let cfg = s.config(&text);
    let o = s.run(&["check", "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    let want: Vec<(String, String, u64, u64)> = [(2, 1), (4, 44), (5, 1), (7, 4), (12, 1)]
        .iter()
        .map(|&(l, c)| ("error".into(), "syntax".into(), l, c))
        .collect();
    assert_eq!(found(&j), want);
    for d in diag(&j, "syntax") {
        assert_eq!(d["message"], "unexpected symbol near '#'");
        assert_eq!(
            d["help"],
            "Lua comments start with `--`, not `#`: replace the `#` with `--`"
        );
    }
    // Human form: one FILE:LINE:COLUMN per line.
    let o = s.run(&["check"]);
    let err = stderr(&o);
    for at in [":2:1:", ":4:44:", ":5:1:", ":7:4:", ":12:1:"] {
        assert!(
            err.contains(&format!("prosody.cfg.lua{at} error[syntax]")),
            "{at}: {err}"
        );
    }
    // The file is as it was; an edit refuses, naming every line too.
    let o = s.run(&["add", "a.example", "--generate-secret"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o).matches("error[syntax]").count(),
        5,
        "{}",
        stderr(&o)
    );
    assert_eq!(s.read("prosody.cfg.lua"), text);

    // Each fix applied where it was reported: the config loads, in ours
    // and in prosody's own configmanager.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for (l, c, ..) in want.iter().map(|w| (w.2 as usize, w.3 as usize)) {
        let line = &mut lines[l - 1];
        assert_eq!(&line[c - 1..c], "#");
        line.replace_range(c - 1..c, "--");
    }
    std::fs::write(&cfg, lines.join("\n") + "\n").unwrap();
    let o = s.run(&["check", "--no-prosody"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    if real_parts_available() {
        assert_eq!(
            prosody_value(&cfg, "my-rendezvous.internal.mydomain", "component_secret"),
            Ok(Some(format!("{STRONG}x").into_bytes()))
        );
    }
}

/// After the `#` lines, the next other syntax error is reported as well
/// (what prosody would stop at once they are fixed); nothing after it.
#[test]
fn hash_comments_then_the_next_real_error() {
    let s = Scratch::new("hash-then");
    s.config("# one\nx = 1\n# two\ny = = 2\n# after the error: not reported\n");
    let o = s.run(&["check", "--json"]);
    assert_eq!(code(&o), 1);
    let j = json(&o);
    let f: Vec<(u64, u64)> = found(&j).into_iter().map(|d| (d.2, d.3)).collect();
    assert_eq!(f, [(1, 1), (3, 1), (4, 5)]);
    let last = &j["diagnostics"][2];
    assert_eq!(last["message"], "unexpected symbol near '='");
    assert!(last.get("help").is_none(), "{last}");
}

/// `Component("x", "muc")`: prosody's `Component(name)` ignores the second
/// argument (its configmanager says the module is "component"), so this is
/// an external component without a secret. `check` says why, and shows
/// the call form that sets the module; a string that is no module name
/// (it may be a secret) and a table (it may hold one) are not repeated.
#[test]
fn component_with_two_arguments_is_explained() {
    let s = Scratch::new("module-ignored");
    let cfg = s.config(
        "Component(\"conference.example\", \"muc\")\n\
         Component(\"x.example\", { component_secret = \"T4BLE-S3CRET-0123\" })\n\
         Component(\"y.example\", \"ARG-S3CRET 0123\")\n\
         \tcomponent_secret = \"0123456789abcdef0123\"\n\
         Component \"ok.example\" \"muc\"\n",
    );
    let o = s.run(&["check", "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    let got: Vec<(String, String, u64, u64)> = found(&j);
    let at = |sev: &str, code: &str, l: u64| (sev.to_string(), code.to_string(), l, 1);
    // A warning that says why (prosody serves an external component), and
    // for a section without a secret the error that was always there.
    let want = vec![
        at("warning", "component-module-ignored", 1),
        at("error", "component-secret-missing", 1),
        at("warning", "component-module-ignored", 2),
        at("error", "component-secret-missing", 2),
        at("warning", "component-module-ignored", 3),
    ];
    assert_eq!(got, want);
    let d = diag(&j, "component-module-ignored");
    assert_eq!(
        d[0]["message"],
        "prosody's Component() takes one argument and ignores the rest: \"conference.example\" is an external component, not a \"muc\" service; it has no component_secret, so prosody will refuse every connection to it"
    );
    assert!(d[0]["help"]
        .as_str()
        .unwrap()
        .starts_with("write `Component \"conference.example\" \"muc\"`"));
    assert!(d[1]["message"]
        .as_str()
        .unwrap()
        .contains("the options in that table are not set; it has no component_secret"));
    assert!(d[1]["help"]
        .as_str()
        .unwrap()
        .starts_with("write `Component \"x.example\" { … }`"));
    // y.example has a secret of its own below: no "refuse every connection".
    assert!(!d[2]["message"].as_str().unwrap().contains("refuse"));
    let all = format!("{}{}", stdout(&o), stderr(&s.run(&["check"])));
    assert!(!all.contains("S3CRET"), "{all}");

    // What prosody itself makes of them.
    if real_parts_available() {
        for (host, module) in [
            ("conference.example", "component"),
            ("x.example", "component"),
            ("ok.example", "muc"),
        ] {
            assert_eq!(
                prosody_value(&cfg, host, "component_module"),
                Ok(Some(module.as_bytes().to_vec())),
                "{host}"
            );
        }
        assert_eq!(
            prosody_value(&cfg, "x.example", "component_secret"),
            Ok(None)
        );
    }
    // The fix as shown: the muc needs no secret, and the error is gone.
    std::fs::write(
        &cfg,
        "Component \"conference.example\" \"muc\"\nComponent \"ok.example\" \"muc\"\n",
    )
    .unwrap();
    assert_eq!(code(&s.run(&["check"])), 0);

    // With a secret, prosody serves the external component it was given:
    // a warning, so the gate before prosody's start lets it start; and
    // `Component("x", "component")` is exactly what it says.
    std::fs::write(
        &cfg,
        "Component(\"b.example\", \"muc\")\n\tcomponent_secret = \"0123456789abcdef0123\"\n\
         Component(\"a.example\", \"component\")\n\tcomponent_secret = \"0123456789abcdef0123\"\n",
    )
    .unwrap();
    let o = s.run(&["check", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        found(&json(&o)),
        vec![at("warning", "component-module-ignored", 1)]
    );
}

/// Two blocks for one component with different secrets: prosody merges
/// them and the last secret wins (its configmanager's `set` overwrites),
/// so the first block's secret is dead text. `check` makes that an error
/// at the winning block's Component line, naming both lines and never the
/// secrets; equal secrets stay a warning. `list` shows both blocks, and
/// an edit that does not touch the component still works.
#[test]
fn one_component_with_two_secrets_is_an_error() {
    let s = Scratch::new("two-secrets");
    let text = "admins = { }\n\
                Component \"c.example\"\n\
                \tcomponent_secret = \"FIRST-s3cret-0123456\"\n\
                \n\
                -- later, by another hand\n\
                Component \"c.example\"\n\
                \tcomponent_secret = \"LAST-s3cret-0123456\"\n";
    let cfg = s.config(text);
    let o = s.run(&["check", "--json", "--no-prosody"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(
        found(&j),
        [("error".into(), "duplicate-component-secret".into(), 6, 1)]
    );
    let d = &j["diagnostics"][0];
    let at = |l: u32| format!("{}:{l}", cfg.display());
    assert_eq!(
        d["message"].as_str().unwrap(),
        format!("Component \"c.example\" is defined more than once with different component_secrets: prosody uses the last one set, in this block ({}), and a component connecting with the secret set in the block at {} is refused (not-authorized)", at(6), at(2))
    );
    let human = stderr(&s.run(&["check"]));
    assert!(
        human.contains(":6:1: error[duplicate-component-secret]"),
        "{human}"
    );
    assert!(
        !human.contains("s3cret") && !d.to_string().contains("s3cret"),
        "{human}"
    );

    // prosody's own configmanager: the last block's secret is the one.
    if real_parts_available() {
        assert_eq!(
            prosody_value(&cfg, "c.example", "component_secret"),
            Ok(Some(b"LAST-s3cret-0123456".to_vec()))
        );
    }
    // list shows both blocks.
    let l = json(&s.run(&["list", "--json"]));
    let lines: Vec<u64> = l["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 6]);
    // The error was there before: an unrelated add is not refused.
    let o = s.run(&["add", "other.example", "--generate-secret", "-q"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(s.read("prosody.cfg.lua").starts_with(text));

    // Equal secrets: the warning, exit 0.
    s.config(&text.replace("FIRST", "LAST"));
    let o = s.run(&["check", "--json", "--no-prosody"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        found(&json(&o)),
        [("warning".into(), "duplicate-component".into(), 6, 1)]
    );
    // One block without a secret has the other's: no missing secret.
    s.config("Component \"c.example\"\nComponent \"c.example\"\n\tcomponent_secret = \"0123456789abcdef0123\"\n");
    let o = s.run(&["check", "--json", "--no-prosody"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        found(&json(&o)),
        [("warning".into(), "duplicate-component".into(), 2, 1)]
    );
}

/// The same, proved on a running prosody: the first block's secret is
/// refused, the last block's accepted.
#[test]
fn real_prosody_takes_the_last_blocks_secret() {
    if !real_parts_available() || !running_as_root("real_prosody_takes_the_last_blocks_secret") {
        return;
    }
    let s = Scratch::new("two-secrets-server");
    let (base, c2s, comp) = base_config(&s.dir);
    let cfg = s.write(
        "prosody.cfg.lua",
        &format!(
            "{base}Component \"c.example\"\n\tcomponent_secret = \"FIRST-s3cret-0123456\"\n\
             Component \"c.example\"\n\tcomponent_secret = \"LAST-s3cret-0123456\"\n"
        ),
    );
    let o = s.ctl().config(&cfg).args(["check", "--json"]).output();
    assert_eq!(code(&o), 1);
    assert_eq!(
        json(&o)["diagnostics"][0]["code"],
        "duplicate-component-secret"
    );
    let server = Prosody::start(&cfg, c2s, comp);
    assert_eq!(
        handshake(comp, "c.example", b"FIRST-s3cret-0123456"),
        Handshake::NotAuthorized,
        "{}",
        server.log_text()
    );
    assert_eq!(
        handshake(comp, "c.example", b"LAST-s3cret-0123456"),
        Handshake::Accepted,
        "{}",
        server.log_text()
    );
}

/// A dry run writes nothing, so its warnings must name the lines of the
/// file on disk: below the edited spot they move back by what the edit
/// adds or removes (the lines a message names too), and a warning inside
/// the text the edit adds says so. A real edit names the new file's lines.
#[test]
fn dry_run_warnings_point_at_the_file_on_disk() {
    let s = Scratch::new("dry-run-lines");
    let text = format!(
        "admins = {{ }}\n\
         Component \"a.example\"\n\
         \tcomponent_secret = \"{STRONG}\"\n\
         Component \"b.example\"\n\
         \tcomponent_secret = \"short\"\n\
         \tc2s_ports = {{ 5222 }}\n"
    );
    s.config(&text);
    let weak = s.secret("weak");
    let lines = |o: &std::process::Output| -> Vec<String> {
        stderr(o)
            .lines()
            .filter(|l| l.contains("warning["))
            .map(|l| {
                l.split(" warning").next().unwrap().to_string()
                    + " "
                    + l.split("]: ").nth(1).unwrap()
            })
            .collect()
    };
    // remove deletes lines 2-3: b.example's warnings stay at 5 and 6 on disk.
    let o = s.run(&["remove", "a.example", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let got = lines(&o);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with(&format!("{}:5:21: ", s.path("prosody.cfg.lua").display())),
        "{got:?}"
    );
    assert!(
        got[1].contains(":6:2: ") && got[1].contains("under Component \"b.example\" (line 4)"),
        "{got:?}"
    );
    assert_eq!(s.read("prosody.cfg.lua"), text);

    // add appends a block: its own warning is in the added text, at the
    // line where it goes (after the last, 6), and says so.
    let o = s
        .ctl()
        .args(["add", "c.example", "--dry-run"])
        .secret_file(&weak)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let got = lines(&o);
    let added: Vec<&String> = got.iter().filter(|l| l.contains("\"c.example\"")).collect();
    assert_eq!(added.len(), 1, "{got:?}");
    assert!(
        added[0].ends_with("(in the text this edit adds here; not in the file yet)"),
        "{got:?}"
    );
    let at: usize = added[0].split(':').nth(1).unwrap().parse().unwrap();
    assert!(at >= 6, "{got:?}");
    assert!(got.iter().any(|l| l.contains(":5:21: ")), "{got:?}");

    // Written: the file now has the new lines, and so do the warnings.
    let o = s.run(&["remove", "a.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let got = lines(&o);
    assert!(
        got[0].contains(":3:21: ") && got[1].contains("(line 2)"),
        "{got:?}"
    );
}

/// prosody looks `component_secret` up in the component's section, then in
/// the global one: a component that sets none uses the global secret
/// (a real prosody accepts the handshake with it). `check` passes it,
/// `list` says where the secret comes from, without showing it.
#[test]
fn a_global_secret_is_the_components_secret() {
    if !real_parts_available() || !running_as_root("a_global_secret_is_the_components_secret") {
        return;
    }
    let s = Scratch::new("global-secret");
    let (base, c2s, comp) = base_config(&s.dir);
    let global = format!("{STRONG}-global");
    let cfg = s.write(
        "prosody.cfg.lua",
        &format!(
            "component_secret = \"{global}\"\n{base}Component \"c.example\"\n\
             Component \"d.example\" \"component\"\n\
             Component \"e.example\"\n\tcomponent_secret = \"{STRONG}-own\"\n"
        ),
    );
    let o = s.ctl().config(&cfg).args(["check", "--json"]).output();
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(diag(&json(&o), "component-secret-missing").is_empty());
    let o = s.ctl().config(&cfg).args(["list", "--json"]).output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    let by_name = |n: &str| {
        j["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {j}"))
            .clone()
    };
    let want_at = format!("{}:1", cfg.display());
    for n in ["c.example", "d.example"] {
        let c = by_name(n);
        assert_eq!(c["secret_source"], "global", "{c}");
        assert_eq!(c["secret_set"], false, "{c}");
        assert_eq!(c["secret_inherited_from"], want_at.as_str(), "{c}");
    }
    assert_eq!(by_name("e.example")["secret_source"], "literal");
    assert!(by_name("e.example").get("secret_inherited_from").is_none());
    let o = s.ctl().config(&cfg).args(["list"]).output();
    let out = stdout(&o);
    assert!(out.contains(&format!("global ({want_at})")), "{out}");
    assert!(!out.contains(&global), "{out}");
    let server = Prosody::start(&cfg, c2s, comp);
    for n in ["c.example", "d.example"] {
        assert_eq!(
            handshake(comp, n, global.as_bytes()),
            Handshake::Accepted,
            "{n}: {}",
            server.log_text()
        );
    }
    assert_eq!(
        handshake(comp, "e.example", global.as_bytes()),
        Handshake::NotAuthorized
    );
}

/// `Component "x" "component"` names prosody's module for external
/// components: it is one. `check` wants its secret, `add --replace`
/// changes it, `remove` removes it.
#[test]
fn component_module_component_is_an_external_component() {
    let s = Scratch::new("module-component");
    let cfg = s.config("x = 1\nComponent \"d.example\" \"component\"\n");
    let o = s.run(&["check", "--json", "--no-prosody"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert_eq!(diag(&json(&o), "component-secret-missing").len(), 1);
    let o = s
        .ctl()
        .args(["add", "d.example"])
        .secret(format!("{STRONG}-one"))
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = s
        .ctl()
        .args(["add", "d.example", "--replace"])
        .secret(format!("{STRONG}-two"))
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains(&format!("component_secret = \"{STRONG}-two\"")),
        "{text}"
    );
    let o = s.run(&["remove", "d.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "x = 1\n");
}
