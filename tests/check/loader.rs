//! prosody's own loader as `check` runs it: the one the settings name, a
//! long error is reported as the error it is, and a relative `--config`
//! gets exactly the verdict of the absolute path.

use crate::support::*;

/// A config whose error is far longer than a pipe's buffer: the loader
/// must not block on writing it, and the error is prosody's, shortened.
#[test]
fn a_long_load_error_is_reported_not_a_hang() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("long-error");
    s.config("admins = { }\nerror((\"x\"):rep(200000))\n");
    let o = s.run(&["check", "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    let d = &j["diagnostics"][0];
    assert_eq!(d["code"], "prosody-load", "{j}");
    let message = d["message"].as_str().unwrap();
    assert!(!message.contains("did not finish"), "{message}");
    assert!(message.contains("xxxxxxxxxx"), "{message}");
    assert!(message.len() < 2_000, "bounded: {} bytes", message.len());
}

/// `cd DIR && check -c prosody.cfg.lua`, `-c sub/prosody.cfg.lua` and the
/// absolute path give one verdict, and name files as the operator did.
#[test]
fn a_relative_config_gets_the_verdict_of_the_absolute_one() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("relative");
    let main = "admins = { }\nInclude \"conf.d/*.cfg.lua\"\n";
    s.write("etc/p/prosody.cfg.lua", main);
    s.write(
        "etc/p/conf.d/x.cfg.lua",
        "Component \"x.example\"\n\tcomponent_secret = \"0123456789abcdef0123\"\n",
    );
    let check = |cwd: &str, config: &str| {
        let o = s
            .ctl()
            .config(std::path::Path::new(config))
            .args(["check", "--json"])
            .current_dir(s.path(cwd))
            .output();
        (code(&o), json(&o))
    };
    let abs = s.path("etc/p/prosody.cfg.lua");
    let (c0, j0) = check(".", abs.to_str().unwrap());
    assert_eq!((c0, &j0["ok"]), (0, &serde_json::json!(true)), "{j0}");
    for (cwd, config) in [("etc/p", "prosody.cfg.lua"), ("etc", "p/prosody.cfg.lua")] {
        let (c, j) = check(cwd, config);
        assert_eq!(c, 0, "{cwd} {config}: {j}");
        assert_eq!(j["ok"], true, "{cwd} {config}: {j}");
        assert_eq!(j["diagnostics"], j0["diagnostics"], "{cwd} {config}");
    }
    // An error prosody finds in an included file is named as the operator
    // would name it from there.
    s.write("etc/p/conf.d/x.cfg.lua", "x = require \"no.such.module\"\n");
    let (c, j) = check("etc", "p/prosody.cfg.lua");
    assert_eq!(c, 1, "{j}");
    let d = j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "prosody-load")
        .unwrap_or_else(|| panic!("{j}"));
    assert_eq!(d["file"], "p/conf.d/x.cfg.lua", "{j}");
    assert_eq!(d["line"], 1, "{j}");
    assert!(
        !d["message"].as_str().unwrap().contains("p/p/"),
        "no doubled path: {j}"
    );
}

/// The prosody that loads the config is the `prosody_lib` setting's, never
/// the environment's: `FXC_PROSODY_LIB` at the stand-in library (which
/// loads every config) leaves the installed prosody judging, and it
/// refuses a missing module; the same stand-in named by the settings does
/// judge.
#[test]
fn the_environment_does_not_choose_the_prosody() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("prosody-env");
    s.config("require \"fxc_no_such_module\"\n");
    let o = s
        .ctl()
        .args(["check", "--json"])
        .env("FXC_PROSODY_LIB", PROSODY13_LIB)
        .output();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    let codes: Vec<&str> = j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(codes.contains(&"prosody-load"), "{j}");
    let o = s.ctl_with_lib(PROSODY13_LIB).arg("check").output();
    assert_eq!(code(&o), 0, "the stand-in loads it: {}", stderr(&o));
}
