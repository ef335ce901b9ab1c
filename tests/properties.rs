//! Closing the Fogbow loop: `add --from-properties FILE
//! --generate-secret` writes the new secret into prosody's config AND into
//! FILE's xmpp_password, losslessly; `probe --from-properties FILE` tests
//! the component's own copy against a running prosody. The proof is the
//! real readers: Java 17's `Properties.load` (tests/data/PropertiesCorpus.java),
//! prosody's configmanager (lua5.4) and a real prosody's handshake.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use support::*;

/// Whether Java (the reference reader of `.properties`) is here; required
/// when the real parts are.
fn java_available() -> bool {
    require_tool(
        "java (openjdk-17-jre-headless, to read .properties as Fogbow does)",
        &["java", "-version"],
    )
}

/// What Java 17's `Properties.load` reads from `file`: key → value.
fn java_reads(file: &Path) -> BTreeMap<String, String> {
    let java = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/PropertiesCorpus.java"
    );
    let o = Command::new("java")
        .arg(java)
        .arg("--file")
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let entries = out
        .trim_end()
        .strip_prefix("OK ")
        .unwrap_or_else(|| panic!("Java refuses {}: {out}", file.display()));
    let text = |h: &str| -> String {
        let units: Vec<u16> = (0..h.len())
            .step_by(4)
            .map(|i| u16::from_str_radix(&h[i..i + 4], 16).unwrap())
            .collect();
        String::from_utf16(&units).unwrap()
    };
    entries
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (k, v) = e.split_once(':').unwrap();
            (text(k), text(v))
        })
        .collect()
}

/// A manager.conf as operators keep them: comments, CRLF, a continued
/// value, escapes, ISO-8859-1, Fogbow's placeholder for the password.
const MANAGER_CONF: &[u8] = b"# Fogbow manager\r\n! kept\r\nxmpp_jid = m.fogbow.example\r\nxmpp_password = $manager_password\r\nmanager_label=caf\xe9 \\u00e9\r\nlong = a\\\r\n    b\r\nxmpp_c2c_port=5347\r\n";

/// The file after the write-back: only the value's bytes differ.
fn expected(secret: &str) -> Vec<u8> {
    let at = MANAGER_CONF
        .windows(17)
        .position(|w| w == b"$manager_password")
        .unwrap();
    [
        &MANAGER_CONF[..at],
        secret.as_bytes(),
        &MANAGER_CONF[at + 17..],
    ]
    .concat()
}

fn entries_of(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The whole loop against the real readers and a real prosody: the file
/// is rewritten in place (every other byte, owner, group and mode kept),
/// Java reads every other key as before and the password as the config's
/// secret, prosody accepts a handshake with the password Java read, and
/// `probe --from-properties` says so; a wrong copy and a wrong name are
/// told apart.
#[test]
fn generated_secret_closes_the_loop() {
    if !real_parts_available() || !java_available() {
        return;
    }
    let s = Scratch::new("loop");
    let (base, c2s, comp) = base_config(&s.dir);
    let config = s.config(&base);
    let conf = s.path("manager.conf");
    std::fs::write(&conf, MANAGER_CONF).unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o640)).unwrap();
    let root = nix::unistd::Uid::effective().is_root();
    if root {
        std::os::unix::fs::chown(&conf, Some(4242), Some(4343)).unwrap();
    }
    let before = java_reads(&conf);
    assert_eq!(before["xmpp_password"], "$manager_password");

    let o = s.run(&[
        "add",
        "--from-properties",
        conf.to_str().unwrap(),
        "--generate-secret",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let secret = prosody_value(&config, "m.fogbow.example", "component_secret")
        .unwrap()
        .expect("the component has a secret");
    let secret = String::from_utf8(secret).unwrap();
    assert_eq!(secret.len(), 40, "{secret}");
    // Never shown: it is in both files.
    assert!(!stdout(&o).contains(&secret) && !stderr(&o).contains(&secret));
    assert!(
        stderr(&o).contains("wrote the new secret into xmpp_password in"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&conf).unwrap(), expected(&secret));
    let m = std::fs::metadata(&conf).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    if root {
        assert_eq!((m.uid(), m.gid()), (4242, 4343));
    }
    let mut after = java_reads(&conf);
    assert_eq!(after.remove("xmpp_password").as_deref(), Some(&*secret));
    let mut others = before.clone();
    others.remove("xmpp_password");
    assert_eq!(after, others, "every other key reads as before");
    assert!(!entries_of(&s.dir).iter().any(|e| e.contains(".fxc-")));

    // A real prosody accepts the password Java read from the file.
    let mut server = Prosody::start(&config, c2s, comp);
    let java_secret = java_reads(&conf)["xmpp_password"].clone();
    assert_eq!(
        handshake(comp, "m.fogbow.example", java_secret.as_bytes()),
        Handshake::Accepted,
        "{}",
        server.log_text()
    );

    // probe with the file's copy, the name from xmpp_jid.
    let o = s.run(&["probe", "--from-properties", conf.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("m.fogbow.example: accepted"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("manager.conf's xmpp_password is accepted by prosody"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&[
        "probe",
        "m.fogbow.example",
        "--from-properties",
        conf.to_str().unwrap(),
        "--json",
    ]);
    let j = json(&o);
    assert_eq!(j["outcome"], "accepted");
    assert_eq!(j["secret_from"], "properties");
    assert_eq!(j["matches_config"], true);

    // A wrong copy: refused, told it differs from prosody's and the
    // config's, with the fix; neither secret printed.
    let wrong = s.write(
        "wrong.conf",
        "xmpp_jid=m.fogbow.example\nxmpp_password=not-the-secret\n",
    );
    let o = s.run(&["probe", "--from-properties", wrong.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let e = stderr(&o);
    assert!(stdout(&o).contains("not-authorized"), "{}", stdout(&o));
    assert!(
        e.contains(
            "wrong.conf's xmpp_password differs from the secret prosody has for m.fogbow.example"
        ) && e.contains("it differs from the config's component_secret")
            && e.contains("add --from-properties")
            && e.contains("--replace"),
        "{e}"
    );
    for out in [stdout(&o), e] {
        assert!(!out.contains("not-the-secret") && !out.contains(&secret));
    }
    // The same copy through --secret-file, on standard input.
    let o = s
        .ctl()
        .args(["probe", "m.fogbow.example", "--secret-file", "-"])
        .stdin(format!("{secret}\n").as_bytes())
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("the secret from standard input is accepted"));

    // A name that is not the file's xmpp_jid: an error, nothing probed.
    let o = s.run(&[
        "probe",
        "other.fogbow.example",
        "--from-properties",
        conf.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o)
            .contains("the name other.fogbow.example differs from xmpp_jid = m.fogbow.example"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));

    // While the component is connected, a probe gets a conflict: the
    // file's copy is then said not to be verified.
    let (h, _session) = handshake_keep(comp, "m.fogbow.example", secret.as_bytes());
    assert_eq!(h, Handshake::Accepted);
    let o = s.run(&["probe", "--from-properties", conf.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("was not verified by prosody; it equals the config's component_secret"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["probe", "--from-properties", wrong.to_str().unwrap()]);
    assert_eq!(
        code(&o),
        1,
        "a conflict does not excuse a copy known to differ"
    );
    drop(_session);

    // The config's secret changed and not yet applied: the running server
    // still accepts the file's copy, but the next reload will refuse it —
    // exit 1, with why.
    let o = s
        .ctl()
        .args(["add", "m.fogbow.example", "--replace"])
        .secret("a-new-secret-not-yet-applied-0123")
        .output();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = s.run(&["probe", "--from-properties", conf.to_str().unwrap()]);
    assert!(stdout(&o).contains("accepted"), "{}", stdout(&o));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the next reload or restart will refuse it"),
        "{}",
        stderr(&o)
    );
    server.stop();
}

/// A dry run writes neither file and shows both diffs, masked; an existing
/// component needs --replace, and a refused edit leaves FILE (and the
/// config) byte for byte as they were, without a temp file.
#[test]
fn dry_run_and_refusal_change_nothing() {
    let s = Scratch::new("loop-dry");
    let cfg = "x = 1\nComponent \"m.fogbow.example\"\n\tcomponent_secret = \"old-secret-value\"\n";
    s.config(cfg);
    let conf = s.path("manager.conf");
    std::fs::write(&conf, MANAGER_CONF).unwrap();
    let o = s.run(&[
        "add",
        "--from-properties",
        conf.to_str().unwrap(),
        "--generate-secret",
        "--replace",
        "--dry-run",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    // Each side masked with this run's fingerprint of its value: the lines
    // differ, and the new secret's fingerprint is the one the config's
    // diff shows for component_secret (one secret, written twice).
    let masked = |sign: &str| -> String {
        let line = out
            .split('\n')
            .find(|l| l.starts_with(&format!("{sign}xmpp_password = ******** (hmac:")))
            .unwrap_or_else(|| panic!("no {sign} line: {out}"));
        assert!(line.ends_with(")\r"), "CRLF kept: {line:?}");
        line[line.find("(hmac:").unwrap()..].trim_end().to_string()
    };
    let (old_fp, new_fp) = (masked("-"), masked("+"));
    assert_ne!(old_fp, new_fp, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with('+') && l.contains("component_secret") && l.contains(&new_fp)),
        "{out}"
    );
    assert!(
        !out.contains("old-secret-value") && !out.contains("$manager"),
        "{out}"
    );
    assert_eq!(std::fs::read(&conf).unwrap(), MANAGER_CONF);
    assert_eq!(s.read("prosody.cfg.lua"), cfg);

    // With --show-secrets both diffs show the one new secret.
    let o = s.run(&[
        "add",
        "--from-properties",
        conf.to_str().unwrap(),
        "--generate-secret",
        "--replace",
        "--dry-run",
        "--show-secrets",
    ]);
    let out = stdout(&o);
    let new = out
        .split("+xmpp_password = ")
        .nth(1)
        .and_then(|t| t.get(..40))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        out.contains(&format!("+\tcomponent_secret = \"{new}\"")),
        "{out}"
    );
    assert_eq!(std::fs::read(&conf).unwrap(), MANAGER_CONF);
    let o = s.run(&[
        "add",
        "--from-properties",
        conf.to_str().unwrap(),
        "--generate-secret",
        "--replace",
        "--dry-run",
        "--json",
    ]);
    let j = json(&o);
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["properties"]["action"], "replaced");
    assert_eq!(j["properties"]["written"], false);
    assert!(j["properties"]["diff"]
        .as_str()
        .unwrap()
        .contains("********"));
    assert!(j.get("secret").is_none());

    // Without --replace: refused, nothing written.
    let o = s.run(&[
        "add",
        "--from-properties",
        conf.to_str().unwrap(),
        "--generate-secret",
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("use --replace"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&conf).unwrap(), MANAGER_CONF);
    assert_eq!(s.read("prosody.cfg.lua"), cfg);
    assert!(!entries_of(&s.dir).iter().any(|e| e.contains(".fxc-")));

    // A name that is not xmpp_jid: refused before anything.
    let o = s.run(&[
        "add",
        "other.example",
        "--from-properties",
        conf.to_str().unwrap(),
        "--generate-secret",
        "--replace",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("differs from xmpp_jid"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&conf).unwrap(), MANAGER_CONF);

    // With --replace: both written, and they agree; appended where absent,
    // in the file's line ending.
    let bare = s.path("rendezvous.conf");
    std::fs::write(&bare, b"xmpp_jid=r.fogbow.example\r\nx=1").unwrap();
    let o = s.run(&[
        "add",
        "--from-properties",
        bare.to_str().unwrap(),
        "--generate-secret",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["properties"]["action"], "appended");
    assert_eq!(j["properties"]["written"], true);
    let text = std::fs::read_to_string(&bare).unwrap();
    let secret = text
        .strip_prefix("xmpp_jid=r.fogbow.example\r\nx=1\r\nxmpp_password=")
        .and_then(|t| t.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(s
        .read("prosody.cfg.lua")
        .contains(&format!("component_secret = \"{secret}\"")));
}

/// The escaper against Java itself: any value written by set_property,
/// in place or appended, is what Java's Properties.load reads back.
#[test]
fn java_reads_back_any_value() {
    if !java_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let values = [
        " lead and trail ",
        "back\\slash = : # !",
        "tab\tline\nfeed\r\x0cend",
        "caf\u{e9} \u{1F600} \u{7f}\u{80}",
        "\\u0041 not an escape",
        "",
    ];
    let mut all = Vec::new();
    for (i, v) in values.iter().enumerate() {
        for base in [&b"a=1\nxmpp_password=old\\\n  more\nz: 2\n"[..], b"a=1\\\n"] {
            let new = fogbow_xmpp_ctl::fogbow::set_property(base, "xmpp_password", v).unwrap();
            let f = d.path().join(format!("{i}-{}.conf", all.len()));
            std::fs::write(&f, &new).unwrap();
            all.push((f, v, base));
        }
    }
    for (f, v, base) in all {
        let got = java_reads(&f);
        assert_eq!(
            got.get("xmpp_password").map(String::as_str),
            Some(*v),
            "{}",
            f.display()
        );
        let old = fogbow_xmpp_ctl::fogbow::parse_properties(base).unwrap();
        for (k, val) in old.iter().filter(|(k, _)| *k != "xmpp_password") {
            assert_eq!(got.get(k), Some(val), "{}: {k}", f.display());
        }
    }
}
