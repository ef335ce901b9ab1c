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
    let d = diagnostic(&j, "prosody-load");
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
    diagnostic(&j, "prosody-load");
    let o = s.ctl_with_lib(PROSODY13_LIB).arg("check").output();
    assert_eq!(code(&o), 0, "the stand-in loads it: {}", stderr(&o));
}

/// A Lua file that writes `marker` when it is loaded.
fn trap(marker: &std::path::Path) -> String {
    format!(
        "local f = io.open({:?}, \"w\") if f then f:write(\"loaded\") f:close() end\nreturn {{}}\n",
        marker.display().to_string()
    )
}

/// prosody's loader runs as root: modules in the directory `check` is run
/// from (another user's `lfs.lua`, a `core/configmanager.lua`) are never
/// loaded, and the verdict is the one without them.
#[test]
fn modules_in_the_current_directory_are_not_loaded() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("cwd-modules");
    let config = s.config("admins = { }\nlocal ok = pcall(require, \"fxc_cwd_module\")\n");
    let marker = s.path("marker");
    let code_of = trap(&marker);
    for module in [
        "cwd/lfs.lua",
        "cwd/core/configmanager.lua",
        "cwd/fxc_cwd_module.lua",
    ] {
        s.write(module, &code_of);
    }
    let check = |cwd: &std::path::Path| {
        let o = s
            .ctl()
            .config(&config)
            .args(["check", "--json"])
            .current_dir(cwd)
            .output();
        (code(&o), json(&o))
    };
    let (c0, j0) = check(&s.dir);
    let (c, j) = check(&s.path("cwd"));
    assert!(!marker.exists(), "a module in the current directory ran");
    assert_eq!((c, &j), (c0, &j0));
    assert_eq!(c, 0, "{j}");
}

/// `LUA_INIT`, `LUA_PATH` and `LUA_CPATH` in the environment choose no
/// code that prosody's loader runs.
#[test]
fn the_lua_environment_runs_nothing() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("lua-init");
    s.config("admins = { }\nlocal ok = pcall(require, \"fxc_env_module\")\n");
    let marker = s.path("marker");
    let init = s.write("init.lua", &trap(&marker));
    s.write("mods/fxc_env_module.lua", &trap(&marker));
    s.write("mods/lfs.lua", &trap(&marker));
    let mods = s.path("mods");
    let o = s
        .ctl()
        .args(["check", "--json"])
        .env("LUA_INIT", format!("@{}", init.display()))
        .env("LUA_INIT_5_4", format!("@{}", init.display()))
        .env("LUA_PATH", format!("{}/?.lua;;", mods.display()))
        .env("LUA_PATH_5_4", format!("{}/?.lua;;", mods.display()))
        .output();
    assert!(!marker.exists(), "the environment's Lua ran");
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

/// A copy of the stand-in prosody library at `lib` in `s` (it loads every
/// config), for its trust to be spoiled.
fn stand_in_lib(s: &Scratch) -> std::path::PathBuf {
    let cm = std::path::Path::new(PROSODY13_LIB).join("core/configmanager.lua");
    s.write(
        "lib/core/configmanager.lua",
        &std::fs::read_to_string(cm).unwrap(),
    );
    s.path("lib")
}

/// `check` with the prosody in `lib`: refused, naming `named`.
fn assert_lib_refused(s: &Scratch, lib: &std::path::Path, named: &std::path::Path) {
    let o = s.ctl_with_lib(lib).args(["check", "--json"]).output();
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let j = json(&o);
    let d = diagnostic(&j, "prosody-load");
    let message = d["message"].as_str().unwrap();
    assert!(message.contains("prosody's library"), "{message}");
    assert!(
        message.contains(named.to_str().unwrap()),
        "{message} names {}",
        named.display()
    );
}

/// A prosody library that others can write is never run: `check` says
/// which path and why, instead of running it.
#[test]
fn a_library_others_can_write_is_refused() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("open-lib");
    s.config("admins = { }\n");
    let lib = stand_in_lib(&s);
    let o = s.ctl_with_lib(&lib).arg("check").output();
    assert_eq!(code(&o), 0, "the trusted stand-in loads it: {}", stderr(&o));
    chmod(&lib, 0o777);
    assert_lib_refused(&s, &lib, &lib);
    chmod(&lib, 0o755);
    let cm = lib.join("core/configmanager.lua");
    chmod(&cm, 0o666);
    assert_lib_refused(&s, &lib, &cm);
}

/// A prosody library owned by another user is never run.
#[test]
fn a_library_of_another_user_is_refused() {
    if !real_parts_available() || !running_as_root("a_library_of_another_user_is_refused") {
        return;
    }
    let s = Scratch::new("foreign-lib");
    s.config("admins = { }\n");
    let lib = stand_in_lib(&s);
    let cm = lib.join("core/configmanager.lua");
    std::os::unix::fs::chown(&cm, Some(65534), Some(65534)).unwrap();
    assert_lib_refused(&s, &lib, &cm);
    std::os::unix::fs::chown(&cm, Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&lib, Some(65534), Some(65534)).unwrap();
    assert_lib_refused(&s, &lib, &lib);
}

/// The interpreter of `/usr/bin/prosody`'s `#!/usr/bin/env lua5.4` is the
/// system's, never a `lua5.4` found first on `PATH`.
#[test]
fn the_interpreter_is_not_looked_up_on_path() {
    use std::os::unix::fs::PermissionsExt;
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("lua-path");
    s.config("admins = { }\n");
    let marker = s.path("marker");
    let fake = s.write(
        "bin/lua5.4",
        &format!(
            "#!/bin/sh\necho ran > '{}'\nexec /usr/bin/lua5.4 \"$@\"\n",
            marker.display()
        ),
    );
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        s.path("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let o = s.ctl().args(["check", "--json"]).env("PATH", path).output();
    assert!(!marker.exists(), "a lua5.4 on PATH ran");
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}
