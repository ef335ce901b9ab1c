//! What a config's text can hide from a static reading, and what it must
//! never make our output do: a secret set where
//! the model cannot see it is never reported as written; a string literal
//! of the config never reaches a message or a diff without
//! `--show-secrets`; names and paths never drive the terminal.

use std::process::Output;

mod support;
use support::{code, prosody_dump, prosody_value, real_parts_available, stderr, stdout, Scratch};

const OLD: &str = "old-secret-0123456789";
const NEW: &str = "new-secret-9876543210";

/// `add NAME --secret-file NEW [--replace]` on the scratch's config.
fn add(s: &Scratch, name: &str, replace: bool) -> Output {
    let ctl = s.ctl().args(["add", name]).secret(NEW);
    if replace {
        ctl.arg("--replace").output()
    } else {
        ctl.output()
    }
}

fn check_codes(s: &Scratch) -> Vec<String> {
    let o = s.run(&["check", "--no-prosody", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

/// `["component_secret"] = …` in a table form (any string
/// form) is the option itself, as prosody reads it.
#[test]
fn bracketed_key_is_the_component_secret() {
    for key in [
        r#"["component_secret"]"#,
        r#"['component\95secret']"#,
        "[ [[component_secret]] ]",
        r#"[("component_secret")]"#,
    ] {
        let s = Scratch::new("bracket");
        let src = format!("Component \"k.example\" {{ {key} = \"{OLD}\" }}\n");
        let cfg = s.config(&src);
        if real_parts_available() {
            assert_eq!(
                prosody_value(&cfg, "k.example", "component_secret").unwrap(),
                Some(OLD.as_bytes().to_vec()),
                "{key}: prosody reads it as the option"
            );
        }
        let codes = check_codes(&s);
        assert!(
            !codes.iter().any(|c| c == "component-secret-missing"),
            "{key}: {codes:?}"
        );

        let o = add(&s, "k.example", false);
        assert_eq!(code(&o), 1, "{key}: a different secret needs --replace");
        assert!(stderr(&o).contains("--replace"), "{}", stderr(&o));
        assert_eq!(s.read("prosody.cfg.lua"), src);

        let o = s.run(&["remove", "k.example", "--dry-run"]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(!stdout(&o).contains(OLD), "{key}: {}", stdout(&o));
        assert!(
            stdout(&o).contains(key),
            "the option's name stays: {}",
            stdout(&o)
        );

        let o = add(&s, "k.example", true);
        assert_eq!(code(&o), 0, "{key}: {}", stderr(&o));
        if real_parts_available() {
            assert_eq!(
                prosody_value(&cfg, "k.example", "component_secret").unwrap(),
                Some(NEW.as_bytes().to_vec()),
                "{key}: {}",
                s.read("prosody.cfg.lua")
            );
        }
    }
}

/// Every statement form that sets (or hides) component_secret
/// where the model does not look. `add --replace` and `remove` either
/// refuse, naming the place, with the file untouched, or prosody really
/// reads the new secret: never "replaced" while prosody keeps another.
#[test]
fn never_success_for_a_secret_prosody_will_not_use() {
    let k = "Component \"k.example\"\n";
    let old = format!("component_secret = \"{OLD}\"\n");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("local component_secret = \"x\"\n{k}{old}"),
            "shadowed-option",
            "prosody.cfg.lua:1:7",
        ),
        (format!("{k}{old}do component_secret = \"hidden-XYZ\" end\n"), "opaque-option", "prosody.cfg.lua:3:4"),
        (
            format!("{k}{old}if true then component_secret = \"hidden-XYZ\" end\n"),
            "opaque-option",
            "prosody.cfg.lua:3:14",
        ),
        (format!("{k}{old}_ENV.component_secret = \"hidden-XYZ\"\n"), "opaque-option", "prosody.cfg.lua:3:1"),
        (
            format!("Component \"x.example\"\n{old}__currenthost = \"k.example\"\ncomponent_secret = \"hidden-XYZ\"\n{k}{old}"),
            "opaque-option",
            "prosody.cfg.lua:3:1",
        ),
        (
            format!("rawset(_ENV, \"component_secret\", 1)\n{k}{old}"),
            "opaque-option",
            "prosody.cfg.lua:1:1",
        ),
        (format!("{k}{old}function component_secret() end\n"), "opaque-option", "prosody.cfg.lua:3:10"),
        (
            format!("local function f() component_secret = \"hidden-XYZ\" end\n{k}{old}f()\n"),
            "opaque-option",
            "prosody.cfg.lua:1:20",
        ),
        (
            format!("Component \"k.example\" {{ [(\"component_\" .. \"secret\")] = \"{OLD}\" }}\n"),
            "opaque-option",
            "prosody.cfg.lua:1:26",
        ),
    ];
    for (src, diag, place) in cases {
        let s = Scratch::new("opaque");
        let cfg = s.config(&src);
        let codes = check_codes(&s);
        assert!(codes.iter().any(|c| c == diag), "{src}: {codes:?}");
        if diag == "opaque-option" {
            let o = s.run(&["list"]);
            assert!(
                stderr(&o).contains("may not be what prosody uses")
                    || stderr(&o).contains("computed key"),
                "list says the SECRET column may be wrong: {}",
                stderr(&o)
            );
        }

        let o = add(&s, "k.example", true);
        if code(&o) == 0 {
            assert!(real_parts_available());
            assert_eq!(
                prosody_value(&cfg, "k.example", "component_secret").unwrap(),
                Some(NEW.as_bytes().to_vec()),
                "{src}: add --replace said {}, but prosody reads otherwise from\n{}",
                stderr(&o),
                s.read("prosody.cfg.lua")
            );
            continue;
        }
        let err = stderr(&o);
        assert_eq!(code(&o), 1, "{src}: {err}");
        assert!(
            err.contains(&format!("{place}:")) || err.contains(&format!("{place} ")),
            "{src}: {err} should name {place}"
        );
        assert!(!err.contains(OLD) && !err.contains("hidden-XYZ"), "{err}");
        assert_eq!(s.read("prosody.cfg.lua"), src, "nothing changed");

        // remove would leave the hidden setter to the section above: it
        // refuses, or prosody's loader proved that it sees no k.example
        // and nothing else changed.
        let before = prosody_dump(&cfg).unwrap_or_default();
        let o = s.run(&["remove", "k.example"]);
        if code(&o) == 0 {
            let after = prosody_dump(&cfg).unwrap();
            let others = |d: &str| -> Vec<String> {
                d.lines()
                    .filter(|l| !l.is_empty() && !l.contains("k.example"))
                    .map(String::from)
                    .collect()
            };
            assert!(!after.contains("k.example"), "{src}: {after}");
            assert_eq!(others(&before), others(&after), "{src}");
            continue;
        }
        assert_eq!(code(&o), 1, "{src}: {}", stderr(&o));
        assert_eq!(s.read("prosody.cfg.lua"), src, "nothing changed");
    }

    // A new component appended after a top-level `local component_secret`
    // would only assign the local.
    let s = Scratch::new("opaque-new");
    let src = "local component_secret = \"x\"\n";
    s.config(src);
    let o = add(&s, "n.example", false);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("prosody.cfg.lua:1:7 makes later assignments set a Lua local"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.read("prosody.cfg.lua"), src);
}

/// No string literal of the config in a message, a syntax
/// error, a relayed prosody error or a diff's context lines, unless
/// `--show-secrets`.
#[test]
fn messages_and_diffs_never_show_config_strings() {
    // An expression secret.
    let s = Scratch::new("leak-expr");
    s.config("Component \"k.example\"\ncomponent_secret = \"expr-secret-AAAA\" .. \"\"\n");
    let o = add(&s, "k.example", true);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("is an expression"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("expr-secret-AAAA"), "{}", stderr(&o));

    // A syntax error on a string token.
    let s = Scratch::new("leak-syntax");
    s.config("Component \"k.example\"\ncomponent_secret = \"syntax-secret-BBBB\" \"x\"\n");
    for args in [&["check", "--no-prosody"][..], &["check"], &["list"]] {
        let o = s.run(args);
        assert_eq!(code(&o), 1, "{args:?}");
        let err = stderr(&o);
        assert!(!err.contains("syntax-secret-BBBB"), "{args:?}: {err}");
        assert!(err.contains("near <string>"), "{args:?}: {err}");
    }
    let o = add(&s, "k.example", true);
    assert!(!stderr(&o).contains("syntax-secret-BBBB"), "{}", stderr(&o));

    // A syntax error only prosody's loader sees (a computed Include path).
    if real_parts_available() {
        let s = Scratch::new("leak-load");
        s.write("b.cfg.lua", "x = 1 \"load-secret-CCCC\"\n");
        s.config("Include(\"b\" .. \".cfg.lua\")\n");
        let o = s.ctl().args(["check"]).output();
        let err = stderr(&o);
        assert_eq!(code(&o), 1, "{err}");
        assert!(err.contains("error[prosody-load]"), "{err}");
        assert!(err.contains("near <string>"), "{err}");
        assert!(!err.contains("load-secret-CCCC"), "{err}");
        let o = s.ctl().args(["check", "--json"]).output();
        assert!(!stdout(&o).contains("load-secret-CCCC"), "{}", stdout(&o));
    }

    // Other passwords in a dry run's context and removed lines.
    let s = Scratch::new("leak-diff");
    let src = format!(
        "Include \"conf.d/*.cfg.lua\"\n\
         Component \"k.example\"\n\
         \tcomponent_secret = \"{OLD}\"\n\
         sql = {{ driver = \"PostgreSQL\", password = \"p4ss-DDDD\" }}\n\
         ldap_password = [[ldap-EEEE]]\n\
         other = 'single-FFFF' -- a comment\n"
    );
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    s.config(&src);
    let secrets = [
        OLD,
        NEW,
        "p4ss-DDDD",
        "ldap-EEEE",
        "single-FFFF",
        "PostgreSQL",
    ];
    for (args, secret) in [
        (&["add", "n.example", "--dry-run"][..], Some(NEW)),
        (&["remove", "k.example", "--dry-run"], None),
    ] {
        let ctl = s.ctl().args(args);
        let o = match secret {
            Some(secret) => ctl.secret(secret),
            None => ctl,
        }
        .output();
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let out = stdout(&o);
        for x in secrets {
            assert!(!out.contains(x), "{args:?} shows {x}:\n{out}");
        }
        for shown in [
            "password = \"******** (hmac:",
            "ldap_password = [[******** (hmac:",
            "other = '******** (hmac:",
            ")' -- a comment",
        ] {
            assert!(out.contains(shown), "{args:?}: {shown} in\n{out}");
        }
        assert_eq!(s.read("prosody.cfg.lua"), src);
    }
    let o = s.run(&["remove", "k.example", "--dry-run"]);
    let out = stdout(&o);
    assert!(
        out.contains("-Component \"k.example\""),
        "section names stay: {out}"
    );
    assert!(
        out.contains("Include \"conf.d/*.cfg.lua\""),
        "Include paths stay: {out}"
    );
    assert!(
        out.contains("-\tcomponent_secret = \"******** (hmac:"),
        "{out}"
    );
    let o = s.run(&["remove", "k.example", "--dry-run", "--show-secrets"]);
    let out = stdout(&o);
    for x in [OLD, "p4ss-DDDD", "ldap-EEEE"] {
        assert!(out.contains(x), "--show-secrets shows {x}:\n{out}");
    }
}

/// Names and paths from a config never drive the terminal;
/// JSON keeps them exact.
#[test]
fn human_output_escapes_terminal_controls() {
    let s = Scratch::new("escapes");
    let evil = "a\u{1b}]0;pwned\u{7}b";
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    s.write(
        "conf.d/x\u{1b}[2J.cfg.lua",
        "Component \"inc.example\"\n\tcomponent_secret = \"0123456789abcdef0\"\n",
    );
    let src = "Include \"conf.d/*.cfg.lua\"\n\
         Component \"a\\27]0;pwned\\7b\"\n\
         \tcomponent_secret = \"0123456789abcdef0\"\n\
         Component \"c\u{202e}d.example\" \"m\u{1b}[31mod\"\n\
         -- a comment \u{1b}[2J that clears the screen\n";
    s.config(src);
    let bad = |t: &str| t.contains('\u{1b}') || t.contains('\u{7}') || t.contains('\u{202e}');

    let o = s.run(&["list"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!bad(&stdout(&o)) && !bad(&stderr(&o)), "{:?}", stdout(&o));
    assert!(
        stdout(&o).contains("a\\u{1b}]0;pwned\\u{7}b"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("x\\u{1b}[2J.cfg.lua"), "{}", stdout(&o));

    let o = s.run(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&evil), "{names:?}");
    assert!(names.contains(&"c\u{202e}d.example"), "{names:?}");

    for args in [
        &["check", "--no-prosody"][..],
        &["add", "c\u{202e}d.example", "--generate-secret"],
    ] {
        let o = s.run(args);
        assert!(
            !bad(&stderr(&o)) && !bad(&stdout(&o)),
            "{args:?}: {:?}",
            stderr(&o)
        );
    }
    let o = s.run(&["remove", "inc.example", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!bad(&stdout(&o)) && !bad(&stderr(&o)), "{:?}", stdout(&o));
    let secret = s.secret(NEW);
    let o = s
        .ctl()
        .args(["add", "n.example", "--dry-run"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!bad(&stdout(&o)), "{:?}", stdout(&o));
    assert!(
        stdout(&o).contains("\\u{1b}[2J that clears"),
        "{}",
        stdout(&o)
    );
}

/// `add --from-properties FILE --generate-secret --dry-run` shows FILE's
/// diff: the component's other passwords in it (its database's, an
/// admin's) are masked like the secret, in the text and in the JSON.
#[test]
fn properties_diff_masks_every_value() {
    let s = Scratch::new("leak-props");
    s.config("");
    let props = s.write(
        "k.conf",
        "xmpp_jid=k.example.com\njdbc_database_password=hunter2hunter2\nxmpp_password=old\nadmin_password=TopSecret99\n",
    );
    let before = std::fs::read(&props).unwrap();
    for json in [false, true] {
        let mut args = vec![
            "add",
            "--from-properties",
            props.to_str().unwrap(),
            "--generate-secret",
            "--dry-run",
        ];
        if json {
            args.push("--json");
        }
        let o = s.run(&args);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        for secret in ["hunter2hunter2", "TopSecret99", "=old"] {
            assert!(!all.contains(secret), "{secret} shown: {all}");
        }
        assert!(all.contains("k.example.com"), "{all}");
        assert!(all.contains("admin_password=******** (hmac:"), "{all}");
    }
    assert_eq!(std::fs::read(&props).unwrap(), before);
}
