//! The library's errors are typed: a caller (here, a test) tells a refusal
//! from a missing component from a broken config by its kind, never by its
//! text, and gets the diagnostics that explain it.

use std::path::Path;

use fogbow_xmpp_ctl::error::Error;
use fogbow_xmpp_ctl::ops::{self, Context, EditOptions};
use fogbow_xmpp_ctl::settings::{self, Settings};

mod support;
use support::{code, running_as_root, stderr, Scratch, BIN};

fn context(s: &Scratch, config: &Path) -> Context {
    Context {
        config: config.to_path_buf(),
        settings: Settings {
            backup_dir: s.path("backups"),
            ..Settings::default()
        },
    }
}

const SECRET: &[u8] = b"abcdefghijklmnopqrstu";

#[test]
fn each_failure_has_its_kind() {
    let s = Scratch::new("errors-kinds");
    let cfg = s.config("VirtualHost \"v.example\"\nComponent \"a.example\"\n  component_secret = \"abcdefghijklmnopqrstu\"\n");
    let ctx = context(&s, &cfg);
    let opts = EditOptions::default();

    let e = ops::remove(&ctx, "absent.example", opts).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");

    let e = ops::add(&ctx, "a.example", b"another-secret-0123456789", opts).unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");

    let e = ops::add(&ctx, "v.example", SECRET, opts).unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");

    let e = ops::add(&ctx, "bad name", SECRET, opts).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let e = ops::add(&ctx, "b.example", b"a\nb", opts).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");

    let e = ops::restore(&ctx, Path::new("nothing.bak"), opts).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");

    // Nothing of the above was written.
    assert!(s.read("prosody.cfg.lua").contains("a.example"));
    assert!(!s.read("prosody.cfg.lua").contains("b.example"));
}

#[test]
fn a_config_that_does_not_load_is_a_load_error_with_its_diagnostics() {
    let s = Scratch::new("errors-load");
    let cfg = s.config("Component \"a.example\"\n  component_secret = \n");
    let ctx = context(&s, &cfg);
    // A read-only operation reads what parses, the breakage in its result;
    // an edit is refused with a load error.
    let l = ops::list(&ctx, false).unwrap();
    assert!(
        l.breakage.broken && l.breakage.diagnostics[0].line == 3,
        "{l:?}"
    );
    assert_eq!(l.components[0].name, "a.example");
    let e = ops::remove(&ctx, "a.example", EditOptions::default()).unwrap_err();
    match &e {
        Error::Load { diagnostics, .. } => {
            assert_eq!(diagnostics.len(), 1, "{e:?}");
            assert_eq!(diagnostics[0].line, 3, "{e:?}");
        }
        _ => panic!("not a load error: {e:?}"),
    }
    assert_eq!(e.diagnostics().len(), 1);
    // Its cause is the config's own LoadError.
    assert!(std::error::Error::source(&e).is_some());

    // The main file missing: the message says it all, no diagnostics.
    let ctx = context(&s, &s.path("missing.cfg.lua"));
    let e = ops::remove(&ctx, "a.example", EditOptions::default()).unwrap_err();
    assert!(
        matches!(&e, Error::Io(_) | Error::Load { .. }) && e.diagnostics().is_empty(),
        "{e:?}"
    );
}

#[test]
fn listen_and_probe_say_which_kind() {
    let s = Scratch::new("errors-listen");
    let cfg = s.config("Component \"a.example\"\n  component_secret = \"abcdefghijklmnopqrstu\"\n");
    let ctx = context(&s, &cfg);
    let e = ops::listen(
        &ctx,
        Some(vec!["not an address".into()]),
        None,
        EditOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let e = ops::probe(&ctx, "absent.example", None, Some(1), false).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    // An edit through the library is made (and audited) without the CLI.
    let o = ops::remove(&ctx, "a.example", EditOptions::default()).unwrap();
    assert_eq!(o.action, ops::Action::Removed);
    assert!(!s.read("prosody.cfg.lua").contains("a.example"));
}

/// `--settings` is an Option: naming the default path means it, so a
/// missing file there is an error like any named file (before, a named
/// default path was taken as not named, and its absence ignored).
#[test]
fn naming_the_default_settings_path_means_it() {
    let Some(bin) = without_default_settings() else {
        return;
    };
    let s = Scratch::new("errors-settings");
    let cfg = s.config("");
    let o = bin()
        .arg("--settings")
        .arg(settings::DEFAULT_PATH)
        .arg("-c")
        .arg(&cfg)
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(settings::DEFAULT_PATH),
        "{}",
        stderr(&o)
    );
    // Not named, the missing default is fine.
    let o = bin().arg("-c").arg(&cfg).arg("list").output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The binary as a command that sees no file at the default settings path:
/// where one exists (the package is installed), an empty tmpfs hides its
/// directory in a private mount namespace, which needs root.
fn without_default_settings() -> Option<fn() -> std::process::Command> {
    if !Path::new(settings::DEFAULT_PATH).exists() {
        return Some(|| support::ctl().command());
    }
    if !running_as_root("hiding the installed default settings") {
        return None;
    }
    Some(|| {
        let dir = Path::new(settings::DEFAULT_PATH).parent().unwrap();
        let mut cmd = std::process::Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount -t tmpfs fxc "$0" && exec "$@""#)
            .arg(dir)
            .arg(BIN);
        cmd
    })
}
