//! Secrets kept out of the config in encrypted systemd
//! credentials: `add --secret-store credential`, rotation, `remove`,
//! `restore --undo`, `migrate` both ways, backups without the plaintext,
//! and the refusal on prosody 0.12.
//!
//! Real parts: the host's `systemd-creds` (encrypts with the host key, as
//! root) and its prosody. This host has prosody 0.12, which has no
//! `Credential()`: there the refusal is the real behaviour. The positive
//! path runs with the `prosody_lib` setting at a stand-in prosody library that has
//! `Credential()` and loads every config ([`PROSODY13_LIB`]: 0.12's loader
//! would refuse `Credential()`, rightly); prosody 13 itself, with real
//! handshakes and a restart through the gate, is
//! `tests/systemd/credentials.sh`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const SECRET: &str = "cred-secret-0123456789abcdef";
const NAME: &str = "mgr.fog.test";
const CRED: &str = "fogbow-xmpp-ctl.mgr.fog.test";

/// Root and systemd-creds, or the test is skipped (fails under FXC_REQUIRE_REAL).
fn ready(test: &str) -> bool {
    if !running_as_root(test) {
        return false;
    }
    require_tool("systemd-creds", &["systemd-creds", "--version"])
}

/// A scratch whose settings point the credentials and the drop-in at
/// scratch paths (`etc/…`), and backups at `var/backups`; [`ctl13`]'s
/// settings beside them, so that they are there before a test's first
/// snapshot.
fn scratch(tag: &str, extra_settings: &str) -> Scratch {
    let s = Scratch::new(tag);
    s.write(
        "settings.toml",
        &format!(
            "backup_dir = \"{}\"\ncredentials_dir = \"{}\"\ncredentials_drop_in = \"{}\"\n{extra_settings}",
            s.path("var/backups").display(),
            s.path("etc/credentials").display(),
            s.path("etc/prosody.service.d/fogbow-xmpp-ctl-credentials.conf")
                .display(),
        ),
    );
    s.settings_with_lib(PROSODY13_LIB);
    s
}

/// fogbow-xmpp-ctl as if prosody 13 were installed (a stand-in library
/// with `Credential()`), without running 0.12's loader on a `Credential()`
/// config.
fn ctl13(s: &Scratch) -> Ctl {
    s.ctl_with_lib(PROSODY13_LIB)
}

fn cred_file(s: &Scratch, cred: &str) -> PathBuf {
    s.path(&format!("etc/credentials/{cred}.cred"))
}

fn drop_in(s: &Scratch) -> PathBuf {
    s.path("etc/prosody.service.d/fogbow-xmpp-ctl-credentials.conf")
}

/// What the real `systemd-creds decrypt` makes of a `.cred` file.
fn decrypt(cred: &str, file: &Path) -> Vec<u8> {
    let o = Command::new("systemd-creds")
        .args(["decrypt", &format!("--name={cred}")])
        .arg(file)
        .arg("-")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o.stdout
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                let b = std::fs::read(&p).unwrap();
                if b.windows(needle.len()).any(|w| w == needle) {
                    out.push(p);
                }
            }
        }
    }
    out
}

const BASE: &str = "-- a config\nadmins = { }\n";

#[test]
fn add_rotate_remove_and_undo_keep_config_credential_and_drop_in_in_step() {
    if !ready("credential add/rotate/remove") {
        return;
    }
    let s = scratch("cred-add", "");
    let cfg = s.config(BASE);
    let secret = s.secret(SECRET);
    let secret = secret.to_str().unwrap();

    // A dry run says what would happen, changes nothing, shows no secret.
    let o = ctl13(&s)
        .args(["add", NAME, "--secret-store", "credential", "--dry-run"])
        .secret_file(secret)
        .output();
    let out = ok(&o);
    let err = stderr(&o);
    // The credential's name is shown (where the secret is, not what).
    assert!(
        out.contains("+\tcomponent_secret = Credential(\"fogbow-xmpp-ctl."),
        "{out}"
    );
    assert!(
        err.contains("would create the encrypted credential"),
        "{err}"
    );
    assert!(err.contains("would create the drop-in"), "{err}");
    assert!(!out.contains(SECRET) && !err.contains(SECRET));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), BASE);
    assert!(!s.path("etc").exists(), "a dry run creates nothing");

    let o = ctl13(&s)
        .args(["add", NAME, "--secret-store", "credential", "--json"])
        .secret_file(secret)
        .output();
    let j = json(&o);
    assert_eq!(j["action"], "added");
    assert_eq!(j["restart_needed"], true);
    let kinds: Vec<String> = j["credential_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["kind"].as_str().unwrap(),
                c["action"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(kinds, ["credential created", "drop-in created"]);
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert_eq!(
        text,
        format!("{BASE}\nComponent \"{NAME}\"\n\tcomponent_secret = Credential(\"{CRED}\")\n")
    );
    let cred = cred_file(&s, CRED);
    assert_eq!(mode(&s.path("etc/credentials")), 0o700);
    assert_eq!(mode(&cred), 0o600);
    assert_eq!(std::fs::metadata(&cred).unwrap().uid(), 0);
    assert_eq!(decrypt(CRED, &cred), SECRET.as_bytes());
    let d = std::fs::read_to_string(drop_in(&s)).unwrap();
    assert!(
        d.contains(&format!(
            "\n[Service]\nLoadCredentialEncrypted={CRED}:{}\n",
            cred.display()
        )),
        "{d}"
    );
    assert!(files_holding(&s.dir, SECRET.as_bytes()) == vec![s.path("secret")]);

    // The same secret again: unchanged (decrypted and compared).
    let o = ctl13(&s)
        .args(["add", NAME, "--json"])
        .secret_file(secret)
        .output();
    assert_eq!(json(&o)["action"], "unchanged");
    // Another without --replace: refused, naming the credential, not the secret.
    let other = s.write("other", "rotated-secret-9876543210fedcba");
    let e = refused(&ctl13(&s).args(["add", NAME]).secret_file(&other).output());
    assert!(
        e.contains("--replace") && e.contains("encrypted credential"),
        "{e}"
    );

    // Rotation: a new .cred, the config byte for byte as it was; restart needed.
    let before_cred = std::fs::read(&cred).unwrap();
    let o = ctl13(&s)
        .args(["add", NAME, "--replace"])
        .secret_file(&other)
        .output();
    ok(&o);
    assert!(stderr(&o).contains("restart needed"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
    assert_ne!(std::fs::read(&cred).unwrap(), before_cred);
    assert_eq!(decrypt(CRED, &cred), b"rotated-secret-9876543210fedcba");
    assert_eq!(mode(&cred), 0o600);

    // remove: the block, the credential and the drop-in (no line left) go.
    ok(&ctl13(&s).args(["remove", NAME]).output());
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), BASE);
    assert!(!cred.exists());
    assert!(!drop_in(&s).exists());

    // undo: all three come back, the credential being the rotated one.
    ok(&ctl13(&s).args(["restore", "--undo"]).output());
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
    assert_eq!(decrypt(CRED, &cred), b"rotated-secret-9876543210fedcba");
    assert_eq!(mode(&cred), 0o600);
    assert_eq!(std::fs::read_to_string(drop_in(&s)).unwrap(), d);
    // undo again (a redo of the remove) and once more: in step each time.
    ok(&ctl13(&s).args(["restore", "--undo"]).output());
    assert!(!cred.exists() && !drop_in(&s).exists());
    ok(&ctl13(&s).args(["restore", "--undo"]).output());
    assert!(cred.exists() && drop_in(&s).exists());
}

#[test]
fn a_config_reading_a_credential_whose_file_is_gone_is_refused() {
    if !ready("credential consistency") {
        return;
    }
    let s = scratch("cred-gone", "secret_store = \"credential\"\n");
    let cfg = s.config(BASE);
    let secret = s.secret(SECRET);
    // secret_store = "credential" in the settings is the default store.
    ok(&ctl13(&s).args(["add", NAME]).secret_file(&secret).output());
    let with = std::fs::read(&cfg).unwrap();
    assert!(String::from_utf8_lossy(&with).contains("Credential("));
    ok(&ctl13(&s).args(["remove", NAME]).output());
    // The backup remove made holds the Credential() form; its .cred is gone.
    let list = json(&ctl13(&s).args(["restore", "--list", "--json"]).output());
    let last = list.as_array().unwrap().last().unwrap()["backup"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(std::fs::read(&last).unwrap(), with);
    // The remove backed the .cred up too; without that backup, restoring
    // the config is refused.
    let backups = s.path("var/backups");
    let cred_backup = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.contains(".cred.") && !n.ends_with(".edit")
        })
        .expect("remove backed the credential up");
    let aside = s.path("cred-backup-aside");
    std::fs::rename(&cred_backup, &aside).unwrap();
    let e = refused(&ctl13(&s).args(["restore", &last]).output());
    assert!(e.contains("is gone") && e.contains(CRED), "{e}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), BASE);
    assert!(!drop_in(&s).exists());
    // With it, the credential comes back with the config, in one edit.
    std::fs::rename(&aside, &cred_backup).unwrap();
    ok(&ctl13(&s).args(["restore", &last]).output());
    assert_eq!(std::fs::read(&cfg).unwrap(), with);
    assert_eq!(decrypt(CRED, &cred_file(&s, CRED)), SECRET.as_bytes());
    assert!(drop_in(&s).exists());
}

#[test]
fn migrate_both_ways_keeps_the_secrets_and_leaves_no_plaintext() {
    if !ready("credential migrate") || !real_parts_available() {
        return;
    }
    // A secret that needs escapes, and a second component.
    let tricky = "q\"uo]]te\\d-0123456789";
    let lit = "\"q\\\"uo]]te\\\\d-0123456789\"";
    let s = scratch("cred-migrate", "");
    let original = format!(
        "{BASE}\nComponent \"{NAME}\"\n\tcomponent_secret = {lit} -- the manager\n\nComponent \"rdv.fog.test\"\n\tcomponent_secret = \"rdv-secret-0123456789abc\"\n"
    );
    let cfg = s.config(&original);
    assert_eq!(
        prosody_value(&cfg, NAME, "component_secret")
            .unwrap()
            .unwrap(),
        tricky.as_bytes()
    );
    // An edit first, so that a backup holds the literals.
    s.secret("third-secret-0123456789abcdef");
    let third = s.path("secret");
    ok(&ctl13(&s)
        .args(["add", "third.fog.test"])
        .secret_file(&third)
        .output());
    assert!(!files_holding(&s.path("var/backups"), b"rdv-secret-0123456789abc").is_empty());
    std::fs::remove_file(&third).unwrap();

    let o = ctl13(&s)
        .args(["migrate", "--to", "credential", "--json"])
        .output();
    let j = json(&o);
    let names: Vec<&str> = j["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["action"], "migrated");
            c["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(names, [NAME, "rdv.fog.test", "third.fog.test"]);
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains(&format!(
            "component_secret = Credential(\"{CRED}\") -- the manager"
        )),
        "{text}"
    );
    assert_eq!(decrypt(CRED, &cred_file(&s, CRED)), tricky.as_bytes());
    // No plaintext anywhere: config, credentials, drop-in, backups, records.
    for secret in [
        "rdv-secret-0123456789abc",
        "third-secret-0123456789abcdef",
        "0123456789\"",
    ] {
        let mut holding = files_holding(&s.path("var"), secret.as_bytes());
        holding.extend(files_holding(&s.path("etc"), secret.as_bytes()));
        holding.extend(files_holding(&s.dir, secret.as_bytes()));
        assert!(holding.is_empty(), "{secret} in {holding:?}");
    }
    assert!(files_holding(&s.path("var"), b"uo]]te").is_empty());
    // Nothing left to migrate: a re-run changes nothing.
    let j = json(
        &ctl13(&s)
            .args(["migrate", "--to", "credential", "--json"])
            .output(),
    );
    assert_eq!(j["components"].as_array().unwrap().len(), 0);

    // Undo the last move: decrypted back (the backups hold no literal to restore).
    ok(&ctl13(&s).args(["restore", "--undo"]).output());
    // (prosody 0.12 cannot read the config yet: the others are credentials.)
    assert!(std::fs::read_to_string(&cfg).unwrap().ends_with(
        "Component \"third.fog.test\"\n\tcomponent_secret = \"third-secret-0123456789abcdef\"\n"
    ));
    assert!(!cred_file(&s, "fogbow-xmpp-ctl.third.fog.test").exists());

    // And all back into the config, e.g. for a prosody 0.12 host: prosody
    // 0.12's own configmanager reads exactly the secrets it read before.
    let o = ctl13(&s).args(["migrate", "--to", "config"]).output();
    ok(&o);
    for (n, sec) in [
        (NAME, tricky),
        ("rdv.fog.test", "rdv-secret-0123456789abc"),
        ("third.fog.test", "third-secret-0123456789abcdef"),
    ] {
        assert_eq!(
            prosody_value(&cfg, n, "component_secret").unwrap().unwrap(),
            sec.as_bytes(),
            "{n}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        original.clone()
            + "\nComponent \"third.fog.test\"\n\tcomponent_secret = \"third-secret-0123456789abcdef\"\n"
    );
    assert!(!drop_in(&s).exists());
    assert_eq!(
        std::fs::read_dir(s.path("etc/credentials"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn prosody_0_12_refuses_credentials_and_changes_nothing() {
    if !ready("credential refusal on 0.12") || !real_parts_available() {
        return;
    }
    let version = std::fs::read_to_string("/usr/lib/prosody/prosody.version").unwrap_or_default();
    if !version.starts_with("0.12") {
        // Nothing here to refuse: under FXC_REQUIRE_REAL the test must
        // prove its name, so a host with another prosody fails it.
        assert!(
            std::env::var_os("FXC_REQUIRE_REAL").is_none(),
            "prosody {version} is not 0.12: run this on a Debian 12 host (tests/systemd/credentials.sh tests the refusal in a container)"
        );
        eprintln!(
            "prosody {version} is not 0.12: the refusal is tested in tests/systemd/credentials.sh"
        );
        return;
    }
    let s = scratch("cred-012", "");
    let original = format!("{BASE}\nComponent \"{NAME}\"\n\tcomponent_secret = \"{SECRET}\"\n");
    let cfg = s.config(&original);
    let secret = s.secret(SECRET);
    // The host's real prosody, no override: this is what a 0.12 host does.
    let add = ["--secret-store", "credential"];
    for args in [
        [&["add", "new.fog.test"][..], &add].concat(),
        [&["add", NAME][..], &add, &["--dry-run"]].concat(),
        vec!["migrate", "--to", "credential"],
        vec!["migrate", "--to", "credential", NAME],
    ] {
        let ctl = s.ctl().args(&args);
        let ctl = match args[0] {
            "add" => ctl.secret_file(&secret),
            _ => ctl,
        };
        let e = refused(&ctl.output());
        assert!(
            e.contains("prosody 0.12")
                && e.contains("has no Credential()")
                && e.contains("nothing was changed"),
            "{args:?}: {e}"
        );
        assert!(!e.contains(SECRET));
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
        assert!(!s.path("etc").exists(), "{args:?}");
        assert!(!s.path("var/backups").exists(), "{args:?}");
    }
    // The settings' secret_store = "credential" is refused alike.
    s.write(
        "settings.toml",
        &format!("{}secret_store = \"credential\"\n", s.read("settings.toml")),
    );
    let e = refused(
        &s.ctl()
            .args(["add", "new.fog.test"])
            .secret_file(&secret)
            .output(),
    );
    assert!(e.contains("has no Credential()"), "{e}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
    // Moving back into the config (what a 0.12 host needs) is not refused:
    // here there is nothing to move.
    ok(&s.run(&["migrate", "--to", "config"]));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
}

/// A string secret replaced by a new one stored in a credential is a
/// rotation, not a move: the old string is not scrubbed into a
/// `Credential()` it never was, and `restore --undo` gives back exactly
/// the config before it (the old string, no credential, no drop-in),
/// while the backups hold the old string nowhere in plaintext (it is kept
/// encrypted beside them, for that undo). (It failed before: the undo
/// wrote the new secret as a string, a config that never was.)
#[test]
fn rotating_a_string_into_a_credential_undoes_exactly() {
    if !ready("rotating_a_string_into_a_credential_undoes_exactly") {
        return;
    }
    let s = scratch("cred-rotate-move", "");
    let original =
        format!("Component \"{NAME}\"\n\tcomponent_secret = \"old-string-secret-0123\"\n");
    s.config(&original);
    let new = s.secret("new-credential-secret-4567");
    ok(&ctl13(&s)
        .args(["add", NAME, "--secret-store", "credential", "--replace"])
        .secret_file(&new)
        .output());
    assert_eq!(
        decrypt(CRED, &cred_file(&s, CRED)),
        b"new-credential-secret-4567"
    );
    assert_eq!(
        files_holding(&s.path("var"), b"old-string-secret-0123"),
        Vec::<PathBuf>::new(),
        "no plaintext of the old secret in the backups"
    );
    let j = json(&ctl13(&s).args(["restore", "--undo", "--json"]).output());
    assert_eq!(j["action"], "undone", "{j}");
    assert_eq!(s.read("prosody.cfg.lua"), original);
    assert!(!cred_file(&s, CRED).exists());
    assert!(!drop_in(&s).exists());
}

/// A scrub a kill interrupted (its marker still in the backup directory,
/// a backup still holding the moved secret as a string) is finished by
/// the next edit of any component, and its marker removed.
#[test]
fn an_interrupted_scrub_is_finished_by_the_next_edit() {
    if !ready("an_interrupted_scrub_is_finished_by_the_next_edit") {
        return;
    }
    let s = scratch("cred-scrub-pending", "");
    let literal = format!("Component \"{NAME}\"\n\tcomponent_secret = \"{SECRET}\"\n");
    s.config(&literal);
    // An edit, so that a backup exists; then the move into a credential.
    let other = s.secret("other-secret-0123456789abcdef");
    ok(&ctl13(&s)
        .args(["add", "other.fog.test"])
        .secret_file(&other)
        .output());
    ok(&ctl13(&s)
        .args(["migrate", "--to", "credential", NAME])
        .output());
    assert!(files_holding(&s.path("var"), SECRET.as_bytes()).is_empty());
    // As if killed between the commit and the scrub: a backup with the
    // string, and the marker the move wrote before its commit.
    let j = json(&ctl13(&s).args(["restore", "--list", "--json"]).output());
    let newest = j.as_array().unwrap().last().unwrap()["backup"]
        .as_str()
        .unwrap()
        .to_string();
    let planted = format!("{}20990101T000000.000000000Z", &newest[..newest.len() - 26]);
    std::fs::write(&planted, &literal).unwrap();
    std::fs::set_permissions(
        &planted,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let marker = s.path(&format!("var/backups/fogbow-xmpp-ctl.scrub-pending.{CRED}"));
    std::fs::write(&marker, "").unwrap();

    let third = s.secret("third-secret-0123456789abcdef");
    ok(&ctl13(&s)
        .args(["add", "third.fog.test"])
        .secret_file(&third)
        .output());
    assert_eq!(
        files_holding(&s.path("var"), SECRET.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert!(std::fs::read_to_string(&planted)
        .unwrap()
        .contains(&format!("Credential(\"{CRED}\")")));
    assert!(!marker.exists());
}

/// Every file under `dir` with its bytes, to prove a refusal changed nothing.
fn every_file(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The `Credential("…")` name the config gives component `name`.
fn credential_of(s: &Scratch, file: &str, name: &str) -> String {
    let text = s.read(file);
    let block = text
        .split("Component ")
        .find(|b| b.starts_with(&format!("\"{name}\"")))
        .unwrap_or_else(|| panic!("no {name} in {text}"));
    let at = block.find("Credential(\"").expect("a Credential()") + "Credential(\"".len();
    block[at..].split('"').next().unwrap().to_string()
}

/// `h` and the first 32 hex digits of SHA-1(`name`): a plain component
/// name spelled like the hashed credential name of `name`.
fn hashed_look_alike(name: &str) -> String {
    use sha1::Digest;
    let d = sha1::Sha1::digest(name.as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("h{}", &hex[..32])
}

/// A component whose name is not plain ASCII gets a hashed credential
/// name; a component literally named like that hash gets a credential of
/// its own, never the first one's (which kept its secret).
#[test]
fn credential_names_of_two_components_never_collide() {
    if !ready("credential_names_of_two_components_never_collide") {
        return;
    }
    let s = scratch("cred-collide", "");
    s.config(BASE);
    let first = s.secret("first-secret-0123456789abcdef");
    let add = |name: &str, secret: &Path| {
        ctl13(&s)
            .args(["add", name, "--secret-store", "credential"])
            .secret_file(secret)
            .output()
    };
    ok(&add("bücher.example", &first));
    let look_alike = hashed_look_alike("bücher.example");
    let second = s.secret("second-secret-0123456789abcdef");
    let o = add(&look_alike, &second);
    ok(&o);
    assert!(
        !stderr(&o).contains("replaced the encrypted credential"),
        "{}",
        stderr(&o)
    );
    let a = credential_of(&s, "prosody.cfg.lua", "bücher.example");
    let b = credential_of(&s, "prosody.cfg.lua", &look_alike);
    assert_ne!(a, b);
    assert_eq!(
        decrypt(&a, &cred_file(&s, &a)),
        b"first-secret-0123456789abcdef"
    );
    assert_eq!(
        decrypt(&b, &cred_file(&s, &b)),
        b"second-secret-0123456789abcdef"
    );
}

/// A deployment whose config already reads an old-style hashed name keeps
/// it (a rotation writes that very file), and a component whose credential
/// name is another component's credential (by the config, or by a `.cred`
/// already on disk) is refused with every file left as it was.
#[test]
fn a_credential_of_another_component_is_never_overwritten() {
    if !ready("a_credential_of_another_component_is_never_overwritten") {
        return;
    }
    let s = scratch("cred-owner", "");
    let look_alike = hashed_look_alike("bücher.example");
    let old_style = format!("fogbow-xmpp-ctl.{look_alike}");
    std::fs::create_dir_all(s.path("etc/credentials")).unwrap();
    std::fs::set_permissions(
        s.path("etc/credentials"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let sh_encrypt = |cred: &str, secret: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf %s '{secret}' | systemd-creds encrypt --with-key=host --name='{cred}' - '{}'",
                cred_file(&s, cred).display()
            ))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        std::fs::set_permissions(
            cred_file(&s, cred),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    };
    sh_encrypt(&old_style, "first-secret-0123456789abcdef");
    let config = format!(
        "{BASE}\nComponent \"bücher.example\"\n\tcomponent_secret = Credential(\"{old_style}\")\n"
    );
    let cfg = s.config(&config);
    let rotated = s.secret("rotated-secret-0123456789abcdef");
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec!["add", name, "--secret-store", "credential"];
        args.extend_from_slice(extra);
        ctl13(&s).args(&args).secret_file(&rotated).output()
    };
    let snapshot = || every_file(&s.dir);
    let before = snapshot();
    for dry in [&["--dry-run"][..], &[]] {
        let e = refused(&add(&look_alike, dry));
        assert!(
            e.contains(&old_style) && e.contains("bücher.example") && e.contains(":4"),
            "{e}"
        );
        assert!(!e.contains("rotated-secret"), "{e}");
        assert_eq!(snapshot(), before, "{dry:?}");
    }
    // A `.cred` on disk that no component reads is not overwritten either.
    sh_encrypt(
        "fogbow-xmpp-ctl.new.fog.test",
        "stray-secret-0123456789abcdef",
    );
    let before = snapshot();
    let e = refused(&add("new.fog.test", &[]));
    assert!(e.contains("fogbow-xmpp-ctl.new.fog.test.cred"), "{e}");
    assert_eq!(snapshot(), before);
    std::fs::remove_file(cred_file(&s, "fogbow-xmpp-ctl.new.fog.test")).unwrap();
    // Two components reading one credential: rotating one would change
    // the other's secret.
    std::fs::write(
        &cfg,
        format!("{config}\nComponent \"other.fog.test\"\n\tcomponent_secret = Credential(\"{old_style}\")\n"),
    )
    .unwrap();
    let before = snapshot();
    let e = refused(&add("other.fog.test", &["--replace"]));
    assert!(e.contains("bücher.example"), "{e}");
    assert_eq!(snapshot(), before);
    std::fs::write(&cfg, &config).unwrap();
    // The old-style name is read from the config, not recomputed.
    ok(&add("bücher.example", &["--replace"]));
    assert_eq!(s.read("prosody.cfg.lua"), config);
    assert_eq!(
        decrypt(&old_style, &cred_file(&s, &old_style)),
        b"rotated-secret-0123456789abcdef"
    );
}

/// A `Credential()` name planted in an included file, holding a newline
/// and a unit-file line after it: an unrelated `add --secret-store
/// credential` (and its dry run) refuses, naming the place, and leaves
/// every file as it was; the drop-in never holds anything but our
/// `LoadCredentialEncrypted=` lines; `check` reports the name.
#[test]
fn a_credential_name_from_the_config_never_writes_a_unit_line() {
    if !ready("a_credential_name_from_the_config_never_writes_a_unit_line") {
        return;
    }
    let s = scratch("cred-inject", "");
    s.config(&format!("{BASE}Include \"conf.d/*.cfg.lua\"\n"));
    std::fs::create_dir_all(s.path("conf.d")).unwrap();
    let secret = s.secret(SECRET);
    let add = |name: &str, dry: bool| {
        let mut args = vec!["add", name, "--secret-store", "credential"];
        if dry {
            args.push("--dry-run");
        }
        ctl13(&s).args(&args).secret_file(&secret).output()
    };
    ok(&add(NAME, false));
    let only_ours = |text: &str| {
        for l in text.lines() {
            assert!(
                l.starts_with('#') || l == "[Service]" || l.starts_with("LoadCredentialEncrypted="),
                "{l:?} in the drop-in:\n{text}"
            );
        }
    };
    only_ours(&std::fs::read_to_string(drop_in(&s)).unwrap());
    s.write(
        "conf.d/evil.cfg.lua",
        "Component \"evil.fog.test\"\n\tcomponent_secret = Credential(\"fogbow-xmpp-ctl.x\\nExecStartPre=+/bin/sh -c 'touch /tmp/fxc-pwned'\")\n",
    );
    let before = every_file(&s.dir);
    for dry in [false, true] {
        let o = add("rdv.fog.test", dry);
        only_ours(&std::fs::read_to_string(drop_in(&s)).unwrap());
        let e = refused(&o);
        assert!(
            e.contains("conf.d/evil.cfg.lua:2:21") && e.contains("credential name"),
            "{e}"
        );
        assert!(!e.contains(SECRET));
        assert_eq!(every_file(&s.dir), before, "dry run: {dry}");
    }
    // check names it, at its place, as an error.
    let o = ctl13(&s).args(["check", "--json", "--no-prosody"]).output();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let j = json(&o);
    let d = diagnostic(&j, "credential-name-invalid");
    assert_eq!(d["severity"], "error");
    assert!(d["file"].as_str().unwrap().ends_with("conf.d/evil.cfg.lua"));
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(2), Some(21))
    );
    // Removing the component that reads it is an edit that fixes it.
    ok(&ctl13(&s).args(["remove", "evil.fog.test"]).output());
    only_ours(&std::fs::read_to_string(drop_in(&s)).unwrap());
}
