//! Against the real thing: prosody's own configmanager reads back what we
//! write, and a real prosody accepts (or refuses) a real XEP-0114 handshake.

mod support;

use fogbow_xmpp_ctl::document::{Document, Statement};
use proptest::prelude::*;
use support::*;

const LOCALHOST: &str = include_str!("../examples/prosody/conf.avail/localhost.cfg.lua");

/// Debian 12's default config, with its conf.d symlink into conf.avail.
fn debian_tree(s: &Scratch) -> std::path::PathBuf {
    s.write("etc/conf.avail/localhost.cfg.lua", LOCALHOST);
    std::fs::create_dir_all(s.path("etc/conf.d")).unwrap();
    std::os::unix::fs::symlink(
        "../conf.avail/localhost.cfg.lua",
        s.path("etc/conf.d/localhost.cfg.lua"),
    )
    .unwrap();
    s.write("etc/prosody.cfg.lua", DEBIAN12)
}

#[test]
fn hostile_secrets_read_back_exactly_and_change_nothing_else() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("hostile");
    let cfg = debian_tree(&s);
    let before = prosody_dump(&cfg).expect("Debian's default loads");
    // The longest secret `add` accepts (secret::MAX_SECRET).
    let longest = "x".repeat(1024);
    let secrets: Vec<&[u8]> = vec![
        b"plain-secret-value",
        b"dq\"inside\"quotes",
        b"sq'inside'quotes",
        b"back\\slash\\\\double",
        b"]]close-long-string]]",
        b"--comment-start",
        b"[=[open-level-1[==[",
        b"%s%d%q%%",
        "caf\u{e9}-\u{1f510}-\u{4e2d}\u{6587}".as_bytes(),
        b"\\z\\n\\x41\\u{41}",
        b"\" Component \"evil.example\" component_secret = \"",
        b"\"; os.exit(1); --",
        b"x\" .. os.getenv(\"HOME\") .. \"",
        b" leading and trailing spaces ",
        longest.as_bytes(),
    ];
    for (i, secret) in secrets.iter().enumerate() {
        let name = format!("c{i}.hostile.example");
        let o = s
            .ctl()
            .config(&cfg)
            .args(["add", &name, "--secret-file", "-"])
            .stdin([*secret, b"\n"].concat())
            .output();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = prosody_value(&cfg, &name, "component_secret").expect("loads in prosody");
        assert_eq!(got.as_deref(), Some(*secret), "{name}");
    }
    // Nothing but the new components appeared in what prosody loads.
    let after = prosody_dump(&cfg).unwrap();
    let removed: Vec<&str> = before
        .lines()
        .filter(|l| !after.lines().any(|a| a == *l))
        .collect();
    assert!(removed.is_empty(), "{removed:?}");
    let added: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(added.len(), secrets.len() * 3, "{added:?}");
    assert!(
        added
            .iter()
            .all(|l| l.starts_with("\"c") && l.contains(".hostile.example\"")),
        "{added:?}"
    );
    // And removing them all restores the original bytes.
    for i in 0..secrets.len() {
        let o = s
            .ctl()
            .config(&cfg)
            .args(["remove", &format!("c{i}.hostile.example")])
            .output();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), DEBIAN12);
}

#[test]
fn a_broken_config_is_reported_like_prosody_reports_it() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("broken");
    let cfg = s.write(
        "p.cfg.lua",
        "admins = { }\n\n# Fogbow's guide says so\nComponent \"m.example\"\n",
    );
    let err = prosody_value(&cfg, "m.example", "component_secret").unwrap_err();
    assert!(err.contains(":3:"), "prosody says line 3: {err}");
    let o = s
        .ctl()
        .config(&cfg)
        .args(["add", "m.example", "--generate-secret"])
        .output();
    assert_eq!(o.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(msg.contains("p.cfg.lua:3:1: error[syntax]"), "{msg}");
}

fn generated_config() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z]{1,6}".prop_map(|n| format!("opt_{n} = \"v\\\"{n}\\\\\"")),
        "[a-z]{1,6}".prop_map(|n| format!("opt_{n} = {{ \"a\"; [[b]], c = {{ 1 }} }}")),
        "[ -~]{0,20}".prop_map(|c| format!("-- {c}")),
        "[ -~&&[^\\]]]{0,20}".prop_map(|c| format!("--[==[ Component \"fake.example\" {c} ]==]")),
        "[a-z]{1,6}".prop_map(|n| format!("VirtualHost \"{n}.vhost.example\"")),
        "[a-z]{1,6}".prop_map(|n| format!("Component \"{n}.muc.example\" \"muc\"")),
        "[a-z]{1,6}".prop_map(|n| format!(
            "Component \"{n}.ext.example\"\n\tcomponent_secret = \"0123456789abcdef\""
        )),
        Just(String::new()),
    ];
    (
        proptest::collection::vec(piece, 0..10),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(p, crlf, final_eol)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut s = p.join("\n").replace('\n', eol);
            if final_eol && !s.is_empty() {
                s.push_str(eol);
            }
            s
        })
}

fn header(d: &Document, name: &str) -> usize {
    d.statements()
        .position(|s| matches!(&s.statement, Statement::Section(h) if h.name.literal().as_deref() == Some(name.as_bytes())))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32), ..ProptestConfig::default() })]

    /// For generated configs, names and secrets: prosody reads back the exact
    /// secret, and removing what was added gives back the original bytes.
    #[test]
    fn prosody_reads_back_and_remove_undoes_add(
        original in generated_config(),
        name in "[a-z][a-z0-9-]{0,12}\\.new\\.example",
        secret in prop_oneof!["[ -~]{1,40}", "\\PC{1,16}"],
    ) {
        if !real_parts_available() {
            return Ok(());
        }
        prop_assume!(!secret.chars().any(|c| c.is_control()));
        let s = Scratch::new("prop");
        let d = Document::parse(original.clone().into_bytes()).unwrap();
        let added = d.append_component(&name, secret.as_bytes());
        let cfg = s.path("p.cfg.lua");
        std::fs::write(&cfg, &added).unwrap();
        let got = prosody_value(&cfg, &name, "component_secret");
        prop_assert_eq!(got, Ok(Some(secret.clone().into_bytes())));
        let d2 = Document::parse(added).unwrap();
        let range = d2.section_removal(header(&d2, &name)).unwrap();
        prop_assert_eq!(String::from_utf8(d2.splice(vec![(range, vec![])])).unwrap(), original);
    }
}

/// The end-to-end promise: a secret written by us is accepted by a real
/// prosody in a real XEP-0114 handshake, and a removed component is not.
#[test]
fn real_prosody_accepts_what_we_write() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("server");
    let (base, c2s, comp) = base_config(&s.dir);
    let cfg = s.write("prosody.cfg.lua", &base);
    let secret = b"fogbow \"manager\" secret\\with]]odd--chars";
    let o = s
        .ctl()
        .config(&cfg)
        .args(["add", "my-manager.internal.mydomain", "--secret-file", "-"])
        .stdin(secret)
        .output();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = s
        .ctl()
        .config(&cfg)
        .args([
            "add",
            "my-rendezvous.internal.mydomain",
            "--generate-secret",
            "-q",
        ])
        .output();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let generated = String::from_utf8(o.stdout).unwrap().trim().to_string();

    let mut server = Prosody::start(&cfg, c2s, comp);
    let (accepted, held) = handshake_keep(comp, "my-manager.internal.mydomain", secret);
    assert_eq!(accepted, Handshake::Accepted, "{}", server.log_text());
    assert_eq!(
        handshake(
            comp,
            "my-rendezvous.internal.mydomain",
            generated.as_bytes()
        ),
        Handshake::Accepted
    );
    assert_eq!(
        handshake(comp, "my-rendezvous.internal.mydomain", b"wrong secret"),
        Handshake::NotAuthorized
    );
    assert_eq!(
        handshake(comp, "my-manager.internal.mydomain", secret),
        Handshake::Conflict,
        "second session while the first is held"
    );
    drop(held);
    assert_eq!(
        handshake(comp, "unknown.internal.mydomain", b"x"),
        Handshake::HostUnknown
    );

    // --replace takes effect after a restart; the old secret is refused.
    let o = s
        .ctl()
        .config(&cfg)
        .args([
            "add",
            "my-manager.internal.mydomain",
            "--secret-file",
            "-",
            "--replace",
        ])
        .stdin(b"the-new-manager-secret")
        .output();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = s
        .ctl()
        .config(&cfg)
        .args(["remove", "my-rendezvous.internal.mydomain"])
        .output();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .matches("Component")
            .count(),
        1
    );
    server.restart();
    assert_eq!(
        handshake(
            comp,
            "my-manager.internal.mydomain",
            b"the-new-manager-secret"
        ),
        Handshake::Accepted,
        "{}",
        server.log_text()
    );
    assert_eq!(
        handshake(comp, "my-manager.internal.mydomain", secret),
        Handshake::NotAuthorized
    );
    assert_eq!(
        handshake(
            comp,
            "my-rendezvous.internal.mydomain",
            generated.as_bytes()
        ),
        Handshake::HostUnknown
    );

    // Removing the last component: prosody no longer accepts it at all.
    let o = s
        .ctl()
        .config(&cfg)
        .args(["remove", "my-manager.internal.mydomain"])
        .output();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), base);
    server.restart();
    assert_ne!(
        handshake(
            comp,
            "my-manager.internal.mydomain",
            b"the-new-manager-secret"
        ),
        Handshake::Accepted
    );
}

/// prosody's loader judges an edit held in temp files as if it stood in
/// place: through the conf.d symlink, by the main file's name, and a file
/// not in the overlay is read from disk.
#[test]
fn loader_reads_an_overlay_in_place() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("overlay");
    let cfg = debian_tree(&s);
    let lib = fogbow_xmpp_ctl::settings::Settings::default().prosody_lib;
    let p = fogbow_xmpp_ctl::system::loader::Installed::find(&lib).expect("prosody is installed");
    assert_eq!(
        p.load(&cfg).unwrap(),
        fogbow_xmpp_ctl::prosody::Verdict::Loads
    );
    let broken = s.write(
        "etc/.broken.tmp",
        "VirtualHost \"localhost\"\nx = require \"no.such.module\"\n",
    );
    let real_inc = std::fs::canonicalize(s.path("etc/conf.avail/localhost.cfg.lua")).unwrap();
    let fails = |v| matches!(v, fogbow_xmpp_ctl::prosody::Verdict::Fails { .. });
    // The included file, reached by prosody through the conf.d symlink.
    assert!(fails(p.load_with(&cfg, &[(&real_inc, &broken)]).unwrap()));
    // The main file.
    assert!(fails(p.load_with(&cfg, &[(&cfg, &broken)]).unwrap()));
    // A good overlay loads, and nothing on disk was touched.
    let good = s.write("etc/.good.tmp", "-- edited\n");
    assert_eq!(
        p.load_with(&cfg, &[(&real_inc, &good)]).unwrap(),
        fogbow_xmpp_ctl::prosody::Verdict::Loads
    );
    assert_eq!(s.read("etc/conf.avail/localhost.cfg.lua"), LOCALHOST);
}

/// An edit our static model accepts but prosody's own
/// loader refuses is not written. The config here guards its own size (as
/// prosody reads it): an `add` that passes every static check still makes
/// prosody refuse it, so nothing may change; an already-refused config is
/// not blamed on the edit.
#[test]
fn an_edit_prosody_refuses_is_not_written() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("loader-veto");
    let cfg = s.path("prosody.cfg.lua");
    let guard = format!(
        "local f = assert(io.open(\"{}\")); local n = #f:read(\"a\"); f:close()\nassert(n < 400, \"this config must stay small\")\n",
        cfg.display()
    );
    let original = format!("{guard}{}", "-- padding\n".repeat(10));
    s.config(&original);
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let secret = s.secret("loader-veto-secret-0123456789");
    let add = |name: &str| s.ctl().args(["add", name]).secret_file(&secret).output();
    // A short name fits, and prosody reads the new file back.
    let o = add("a.example");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(prosody_value(&cfg, "a.example", "component_secret")
        .unwrap()
        .is_some());
    let after_first = s.read("prosody.cfg.lua");
    // Growing past the guard: our checks pass, prosody's loader refuses.
    let long = format!("{}.example", "b".repeat(60));
    let o = add(&long);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("prosody's own loader refuses the edited config"),
        "{err}"
    );
    assert!(err.contains("this config must stay small"), "{err}");
    assert_eq!(s.read("prosody.cfg.lua"), after_first, "nothing changed");
    let leftovers: Vec<_> = std::fs::read_dir(&s.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".fxc-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // When prosody already refuses the config as it is, that is not the
    // edit's doing: a removal (which makes it load again) goes through.
    s.config(&format!("{after_first}{}", "-- more\n".repeat(30)));
    let o = s.run(&["remove", "a.example"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A bot platform's config: `pcall(require, "lfs")`, then a loop that
/// `pcall(dofile, …)`s snippet files. Code we cannot follow, so prosody's
/// own loader proves each edit: `add` and `remove` edit it losslessly and
/// prosody reads the secret written; an edit the code would undo is refused
/// saying so, and so is any edit where prosody is not installed.
#[test]
fn code_in_the_config_is_proved_by_prosodys_loader() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("bot-platform");
    s.write("snippets/a.lua", "bot_greeting = \"hello\"\n");
    s.write("snippets/b.lua", "error(\"a broken snippet\")\n");
    let src = format!(
        "admins = {{ }}\n\
         local lfs_ok, lfs = pcall(require, \"lfs\")\n\
         if lfs_ok then\n\
         \tfor f in lfs.dir(\"{dir}/snippets\") do\n\
         \t\tif f:match(\"%.lua$\") then pcall(dofile, \"{dir}/snippets/\" .. f) end\n\
         \tend\n\
         end\n\
         VirtualHost \"localhost\"\n",
        dir = s.dir.display()
    );
    let cfg = s.config(&src);
    let o = s
        .ctl()
        .args(["add", "bot.example"])
        .secret("bot-secret-0123456789")
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with(&src), "lossless: {text}");
    assert_eq!(
        prosody_value(&cfg, "bot.example", "component_secret").unwrap(),
        Some(b"bot-secret-0123456789".to_vec())
    );
    let secret = s.secret("bot-secret-rotated-0123");
    let o = s
        .ctl()
        .args(["add", "bot.example", "--replace"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        prosody_value(&cfg, "bot.example", "component_secret").unwrap(),
        Some(b"bot-secret-rotated-0123".to_vec())
    );
    let o = s.run(&["remove", "bot.example"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), src);

    // Code that sets the secret after the line we edit: prosody would keep
    // its value, so the edit is refused, saying so, and nothing changes.
    let hidden = format!(
        "{src}Component \"k.example\"\n\tcomponent_secret = \"static-secret-0123456\"\n\
         if lfs_ok then component_secret = \"hidden-secret-0123456\" end\n"
    );
    s.config(&hidden);
    let o = s
        .ctl()
        .args(["add", "k.example", "--replace"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("prosody's own loader reads another component_secret for k.example"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("hidden-secret") && !stderr(&o).contains("rotated"));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), hidden);

    // Without prosody, the proof cannot be made: refused, saying why.
    s.config(&src);
    let empty = s.path("no-prosody");
    std::fs::create_dir_all(&empty).unwrap();
    let o = s
        .ctl_with_lib(&empty)
        .config(&cfg)
        .args(["add", "bot.example"])
        .secret_file(&secret)
        .output();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("prosody.cfg.lua:2:")
            && stderr(&o).contains("prosody is not installed here"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), src);
}
