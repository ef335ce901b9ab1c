//! prosody 13's `Credential("NAME")`, `FileContents("PATH")` and
//! `FileLine("PATH")` as `check`, `list`, `doctor` and `probe` read them.
//! The gate must never refuse a config prosody accepts.
//!
//! The prosody-13 cases run prosody 13's own configmanager: this host has
//! prosody 0.12, so they run our binary in a chroot of the Debian 13 root
//! that tests/systemd/container.sh builds (cached in
//! target/containers/trixie-*.tar.zst). Without that root (or not root)
//! they are skipped, saying so, unless FXC_REQUIRE_REAL=1 (the README's
//! test command sets it, and makes the root first) or FXC_REQUIRE_TRIXIE=1.
//! The rest run on this host, with systemd-creds (root) and prosody 0.12.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::support::*;

const STRONG: &str = "strong-secret-0123456789abcdef";
const WEAK: &str = "tiny-s3cr";

/// The Debian 13 root with our binary in it, extracted once per run.
fn trixie() -> Option<&'static Path> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        let cache = std::env::var_os("FXC_CACHE").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/containers"),
            PathBuf::from,
        );
        let tarball = std::fs::read_dir(&cache).ok()?.flatten().find_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            (n.starts_with("trixie-") && n.ends_with(".tar.zst")).then(|| e.path())
        })?;
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("trixie-root");
        let stamp = dir.join(".fxc-extracted-from");
        let want = tarball.to_string_lossy().into_owned();
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(&want) {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let ok = Command::new("tar")
                .args(["--zstd", "-xpf"])
                .arg(&tarball)
                .arg("-C")
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "extracting {want}");
            std::fs::write(&stamp, &want).unwrap();
        }
        std::fs::copy(BIN, dir.join("usr/local/bin/fogbow-xmpp-ctl")).unwrap();
        Some(dir)
    });
    if root.is_none() {
        assert!(
            std::env::var_os("FXC_REQUIRE_TRIXIE").is_none()
                && std::env::var_os("FXC_REQUIRE_REAL").is_none(),
            "the Debian 13 root (tests/systemd/container.sh cache_root trixie) and root are required"
        );
        eprintln!("no Debian 13 root (or not root): prosody 13 cases skipped");
    }
    root.as_deref()
}

/// A scratch directory inside the Debian 13 root, as `/tmp/fxc-…` there.
struct InRoot {
    root: &'static Path,
    _tmp: tempfile::TempDir,
    /// The directory as seen inside the root.
    inside: PathBuf,
}

impl InRoot {
    fn new(root: &'static Path) -> InRoot {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::Builder::new()
            .prefix("fxc-cred-")
            .tempdir_in(root.join("tmp"))
            .unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let inside = Path::new("/tmp").join(tmp.path().file_name().unwrap());
        let s = InRoot {
            root,
            _tmp: tmp,
            inside,
        };
        s.write(
            "settings.toml",
            &format!("backup_dir = \"{}/backups\"\n", s.inside.display()),
        );
        s.write(
            "units/prosody.service",
            "[Service]\nExecStart=/usr/bin/prosody -F\n",
        );
        s
    }
    /// The host path of `p` (relative to the scratch).
    fn host(&self, p: &str) -> PathBuf {
        self._tmp.path().join(p)
    }
    fn inner(&self, p: &str) -> String {
        self.inside.join(p).display().to_string()
    }
    fn write(&self, p: &str, content: &str) {
        let path = self.host(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    /// `chroot ROOT fogbow-xmpp-ctl … ARGS` on the scratch config, with
    /// `env` (SYSTEMD_UNIT_PATH is the scratch's units unless given).
    fn run(&self, user: Option<&str>, env: &[(&str, String)], args: &[&str]) -> Output {
        let mut cmd = Command::new("chroot");
        if let Some(u) = user {
            cmd.arg(format!("--userspec={u}:{u}"));
        }
        cmd.arg(self.root)
            .arg("/usr/local/bin/fogbow-xmpp-ctl")
            .arg("--settings")
            .arg(self.inner("settings.toml"))
            .arg("-c")
            .arg(self.inner("prosody.cfg.lua"))
            .args(args)
            .env_remove("CREDENTIALS_DIRECTORY")
            .env("SYSTEMD_UNIT_PATH", self.inner("units"))
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // The binary was just copied in: a test thread forking meanwhile may
        // still hold the copy's write descriptor (until its child execs), and
        // exec then fails with "Text file busy". Only that is retried.
        for _ in 0..50 {
            let o = cmd.output().unwrap();
            if !String::from_utf8_lossy(&o.stderr).contains("Text file busy") {
                return o;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        cmd.output().unwrap()
    }
    /// `systemd-creds encrypt` in the root (its own host key), the secret on standard input.
    fn encrypt(&self, name: &str, secret: &str, to: &str) {
        let mut c = Command::new("chroot");
        c.arg(self.root).arg("systemd-creds");
        encrypt_with(c, name, secret, Path::new(&self.inner(to)));
    }
}

fn codes(j: &serde_json::Value) -> Vec<String> {
    j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

fn config_with(secret_expr: &str) -> String {
    format!("admins = {{ }}\nComponent \"mgr.fog.test\"\n\tcomponent_secret = {secret_expr}\n")
}

/// The no-secret-anywhere rule for one run's output.
fn assert_no_secret(o: &Output, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !stdout(o).contains(s) && !stderr(o).contains(s),
            "a secret in the output: {} / {}",
            stdout(o),
            stderr(o)
        );
    }
}

/// prosody 13's own loader, run by `check` outside the unit, refuses
/// `Credential()` ("requires the $CREDENTIALS_DIRECTORY environment
/// variable"); the gate must not block a config prosody starts with. In
/// the unit (the directory set) it reads the credential;
/// outside, unreadable here, it is a warning, never an error.
#[test]
fn prosody_13_gate_accepts_credential() {
    let Some(root) = trixie() else { return };
    let s = InRoot::new(root);
    s.write(
        "prosody.cfg.lua",
        &config_with("Credential(\"fogbow-mgr\")"),
    );
    s.write("creds/fogbow-mgr", &format!("{STRONG}\n"));
    s.write("weak/fogbow-mgr", WEAK);
    std::fs::create_dir_all(s.host("empty")).unwrap();
    let unit = |dir: &str| vec![("CREDENTIALS_DIRECTORY", s.inner(dir))];

    // In the unit (ExecStartPre= runs as prosody, with the directory set).
    let o = s.run(Some("prosody"), &unit("creds"), &["check", "--json"]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
    assert_eq!(codes(&json(&o)), Vec::<String>::new());
    let o = s.run(Some("prosody"), &unit("weak"), &["check", "--json"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert_eq!(codes(&json(&o)), ["weak-secret"]);
    assert!(
        stdout(&o).contains("Credential(\\\"fogbow-mgr\\\")"),
        "{}",
        stdout(&o)
    );
    assert_no_secret(&o, &[WEAK]);
    // A credential the unit does not give: prosody fails; so does the gate.
    let o = s.run(Some("prosody"), &unit("empty"), &["check", "--json"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert_eq!(codes(&json(&o)), ["credential-missing"]);

    // Outside the unit, not root: the credential cannot be decrypted here,
    // whether its file can be seen (readable directory) or not (root's 0700).
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(s.host("private")).unwrap();
    std::fs::set_permissions(s.host("private"), std::fs::Permissions::from_mode(0o700)).unwrap();
    for cred in ["private/mgr.cred", "mgr.cred"] {
        s.write(
            "units/prosody.service.d/fogbow.conf",
            &format!(
                "[Service]\nLoadCredentialEncrypted=fogbow-mgr:{}\n",
                s.inner(cred)
            ),
        );
        s.encrypt("fogbow-mgr", STRONG, cred);
        let o = s.run(Some("prosody"), &[], &["check", "--json"]);
        assert_eq!(code(&o), 0, "{cred}: {} {}", stdout(&o), stderr(&o));
        assert_eq!(codes(&json(&o)), ["secret-unverified"], "{cred}");
        assert!(
            !stdout(&o).contains("CREDENTIALS_DIRECTORY environment"),
            "{}",
            stdout(&o)
        );
    }
    // No prosody.service at all (root): nothing says what prosody gets.
    let o = s.run(
        None,
        &[("SYSTEMD_UNIT_PATH", s.inner("none"))],
        &["check", "--json"],
    );
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert_eq!(codes(&json(&o)), ["secret-unverified"]);
}

/// As root outside the unit, the credentials prosody.service would load
/// are decrypted into memory and prosody 13's loader reads them from there
/// (a config that uses the value, e.g. strips its newline, loads as it
/// will in the unit); a name the unit does not load is an error; nothing
/// is written in plaintext.
#[test]
fn prosody_13_root_check_decrypts_what_the_unit_loads() {
    let Some(root) = trixie() else { return };
    let s = InRoot::new(root);
    s.write(
        "units/prosody.service.d/fogbow.conf",
        &format!(
            "[Service]\nLoadCredentialEncrypted=fogbow-mgr:{}\nLoadCredentialEncrypted=fogbow-weak:{}\n",
            s.inner("mgr.cred"),
            s.inner("weak.cred")
        ),
    );
    s.encrypt("fogbow-mgr", STRONG, "mgr.cred");
    s.encrypt("fogbow-weak", WEAK, "weak.cred");

    s.write(
        "prosody.cfg.lua",
        &config_with("Credential(\"fogbow-mgr\")"),
    );
    let o = s.run(None, &[], &["check", "--json"]);
    assert_eq!((code(&o), codes(&json(&o))), (0, vec![]), "{}", stdout(&o));

    // Only prosody's loader can judge this one: it needs the value.
    s.write(
        "prosody.cfg.lua",
        &config_with("Credential(\"fogbow-mgr\"):gsub(\"%s+$\", \"\")"),
    );
    let o = s.run(None, &[], &["check", "--json"]);
    assert_eq!((code(&o), codes(&json(&o))), (0, vec![]), "{}", stdout(&o));
    // As prosodyctl (not root: the values are not there) it cannot, and says so.
    let o = s.run(Some("prosody"), &[], &["check", "--json"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));

    s.write(
        "prosody.cfg.lua",
        &config_with("Credential(\"fogbow-weak\")"),
    );
    let o = s.run(None, &[], &["check", "--json"]);
    assert_eq!(
        (code(&o), codes(&json(&o))),
        (0, vec!["weak-secret".to_string()]),
        "{}",
        stdout(&o)
    );
    assert_no_secret(&o, &[WEAK]);

    s.write(
        "prosody.cfg.lua",
        &config_with("Credential(\"fogbow-other\")"),
    );
    let o = s.run(None, &[], &["check", "--json"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert_eq!(codes(&json(&o)), ["credential-missing"]);
    let d = &json(&o)["diagnostics"][0];
    assert_eq!(d["line"], 3);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("prosody will fail to start"),
        "{d}"
    );

    // Nothing under the scratch (nor the root's /run) holds a secret in plaintext.
    let grep = Command::new("grep")
        .args(["-rlF", STRONG])
        .arg(s.host(""))
        .arg(root.join("run"))
        .output()
        .unwrap();
    assert_eq!(stdout(&grep), "", "plaintext found");
}

/// FileContents/FileLine with prosody 13: relative to the directory of
/// the file that names them; a missing file is an error (prosody fails),
/// a weak secret behind a readable one a warning.
#[test]
fn prosody_13_file_helpers() {
    let Some(root) = trixie() else { return };
    let s = InRoot::new(root);
    s.write("secrets/mgr", &format!("{STRONG}\n"));
    s.write("secrets/weak", &format!("{WEAK}\nsecond line\n"));
    s.write("prosody.cfg.lua", &config_with("FileLine(\"secrets/mgr\")"));
    let o = s.run(Some("prosody"), &[], &["check", "--json"]);
    assert_eq!((code(&o), codes(&json(&o))), (0, vec![]), "{}", stdout(&o));
    s.write("prosody.cfg.lua", &config_with("FileLine \"secrets/weak\""));
    let o = s.run(Some("prosody"), &[], &["check", "--json"]);
    assert_eq!(
        (code(&o), codes(&json(&o))),
        (0, vec!["weak-secret".to_string()]),
        "{}",
        stdout(&o)
    );
    assert_no_secret(&o, &[WEAK]);
    s.write(
        "prosody.cfg.lua",
        &config_with("FileContents(\"secrets/none\")"),
    );
    let o = s.run(Some("prosody"), &[], &["check", "--json"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert_eq!(codes(&json(&o)), ["secret-file-missing"]);
    // prosody's own loader agrees: without our static pass' error it says the same.
    let o = s.run(Some("prosody"), &[], &["check", "--json", "--strict"]);
    assert_eq!(code(&o), 1);
}

/// On prosody 0.12 (this host) Credential() is no function: prosody fails
/// to load such a config, and `check` says so with a hint.
#[test]
fn prosody_0_12_has_no_credential() {
    if !real_parts_available() {
        return;
    }
    let s = Scratch::new("cred-012");
    s.config(&config_with("Credential(\"fogbow-mgr\")"));
    let o = s.run(&["check", "--json"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let j = json(&o);
    assert_eq!(codes(&j), ["prosody-load"]);
    let help = j["diagnostics"][0]["help"].as_str().unwrap();
    assert!(help.contains("prosody 13"), "{help}");
}

/// The host's own systemd-creds and a scratch unit (SYSTEMD_UNIT_PATH), the
/// static pass alone (`--no-prosody`: prosody 0.12 cannot load these).
#[test]
fn root_decrypts_the_units_credential_for_the_static_pass() {
    if !running_as_root("decrypting a credential") || !have_systemd_creds() {
        return;
    }
    let s = Scratch::new("cred-host");
    let cred = s.path("mgr.cred");
    encrypt_on_host("fogbow-mgr", WEAK, &cred);
    s.write(
        "units/prosody.service.d/fogbow.conf",
        &format!(
            "[Service]\nLoadCredentialEncrypted=fogbow-mgr:{}\n",
            cred.display()
        ),
    );
    s.write(
        "units/prosody.service",
        "[Service]\nExecStart=/usr/bin/prosody -F\n",
    );
    s.config(&config_with("Credential(\"fogbow-mgr\")"));
    let run = |s: &Scratch| {
        s.ctl()
            .args(["check", "--json", "--no-prosody"])
            .env("SYSTEMD_UNIT_PATH", s.path("units"))
            .env_remove("CREDENTIALS_DIRECTORY")
            .output()
    };
    let o = run(&s);
    assert_eq!(
        (code(&o), codes(&json(&o))),
        (0, vec!["weak-secret".to_string()]),
        "{}",
        stdout(&o)
    );
    assert_no_secret(&o, &[WEAK]);
    encrypt_on_host("fogbow-mgr", STRONG, &cred);
    let o = run(&s);
    assert_eq!((code(&o), codes(&json(&o))), (0, vec![]), "{}", stdout(&o));
    // Encrypted for another name: systemd-creds refuses; not known to be wrong.
    encrypt_on_host("fogbow-other", STRONG, &cred);
    let o = run(&s);
    assert_eq!(
        (code(&o), codes(&json(&o))),
        (0, vec!["secret-unverified".to_string()]),
        "{}",
        stdout(&o)
    );
    // The .cred file is gone: systemd would not start prosody.
    std::fs::remove_file(&cred).unwrap();
    let o = run(&s);
    assert_eq!(
        (code(&o), codes(&json(&o))),
        (1, vec!["credential-missing".to_string()]),
        "{}",
        stdout(&o)
    );
}

/// `list`: where the secret is read from, additively in the JSON, and as
/// `credential NAME` / `file PATH` in the table.
#[test]
fn list_names_the_reference() {
    let s = Scratch::new("cred-list");
    s.config(
        "Component \"a.example\"\n\tcomponent_secret = Credential(\"fogbow-a\")\n\
         Component \"b.example\"\n\tcomponent_secret = FileContents \"b.secret\"\n\
         Component \"c.example\"\n\tcomponent_secret = \"0123456789abcdef0123\"\n\
         Component \"d.example\"\n\tcomponent_secret = \"x\" .. \"0123456789abcdef\"\n",
    );
    let o = s.run(&["list", "--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j = json(&o);
    let c = j["components"].as_array().unwrap();
    let sources: Vec<&str> = c
        .iter()
        .map(|c| c["secret_source"].as_str().unwrap())
        .collect();
    // The JSON value scripts know stays; secret_ref says which helper.
    assert_eq!(
        sources,
        ["expression", "expression", "literal", "expression"]
    );
    assert!(c[3].get("secret_ref").is_none());
    assert_eq!(
        c[0]["secret_ref"],
        serde_json::json!({"kind": "Credential", "name": "fogbow-a"})
    );
    assert_eq!(
        c[1]["secret_ref"],
        serde_json::json!({"kind": "FileContents", "path": "b.secret"})
    );
    assert!(c[2].get("secret_ref").is_none() && c[3].get("secret_ref").is_none());
    assert_eq!(c[0]["secret_set"], true);
    let o = s.run(&["list"]);
    let t = stdout(&o);
    assert!(t.contains("credential fogbow-a"), "{t}");
    assert!(t.contains("file b.secret"), "{t}");
    assert!(!t.contains("0123456789abcdef0123"), "{t}");
}

/// `probe` presents the secret behind FileLine() and (as root) behind an
/// encrypted credential the unit loads; a real prosody 0.12 serves a
/// literal copy of it.
#[test]
fn probe_reads_through_the_reference() {
    if !real_parts_available() || !running_as_root("probing with a credential") {
        return;
    }
    let s = Scratch::new("cred-probe");
    let (base, c2s, comp) = base_config(&s.dir);
    let server = s.write(
        "server.cfg.lua",
        &format!("{base}Component \"mgr.fog.test\"\n\tcomponent_secret = \"{STRONG}\"\n"),
    );
    let _p = Prosody::start(&server, c2s, comp);
    s.write("secrets/mgr", &format!("{STRONG}\nsecond line\n"));
    s.config(&format!(
        "{base}Component \"mgr.fog.test\"\n\tcomponent_secret = FileLine(\"secrets/mgr\")\n"
    ));
    let probe = |s: &Scratch, env: &[(&str, PathBuf)]| {
        let mut c = s
            .ctl()
            .args(["probe", "mgr.fog.test", "--json"])
            .env_remove("CREDENTIALS_DIRECTORY");
        for (k, v) in env {
            c = c.env(k, v);
        }
        c.output()
    };
    let o = probe(&s, &[]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
    assert_eq!(json(&o)["outcome"], "accepted", "{}", stdout(&o));
    assert_no_secret(&o, &[STRONG]);
    // The whole file (two lines) is not the secret: refused.
    s.config(&format!(
        "{base}Component \"mgr.fog.test\"\n\tcomponent_secret = FileContents(\"secrets/mgr\")\n"
    ));
    let o = probe(&s, &[]);
    assert_eq!(json(&o)["outcome"], "not-authorized", "{}", stdout(&o));
    if !have_systemd_creds() {
        return;
    }
    let cred = s.path("mgr.cred");
    encrypt_on_host("fogbow-mgr", STRONG, &cred);
    s.write(
        "units/prosody.service",
        "[Service]\nExecStart=/usr/bin/prosody -F\n",
    );
    s.write(
        "units/prosody.service.d/fogbow.conf",
        &format!(
            "[Service]\nLoadCredentialEncrypted=fogbow-mgr:{}\n",
            cred.display()
        ),
    );
    s.config(&format!(
        "{base}Component \"mgr.fog.test\"\n\tcomponent_secret = Credential(\"fogbow-mgr\")\n"
    ));
    let o = probe(&s, &[("SYSTEMD_UNIT_PATH", s.path("units"))]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
    assert_eq!(json(&o)["outcome"], "accepted", "{}", stdout(&o));
    // Not loaded by the unit: refused before any connection, and says why.
    let o = probe(&s, &[("SYSTEMD_UNIT_PATH", s.path("nowhere"))]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("Credential(\"fogbow-mgr\")"),
        "{}",
        stderr(&o)
    );
}

/// `doctor`'s "secret is strong" reads through the reference where it can.
#[test]
fn doctor_reads_through_the_reference() {
    let s = Scratch::new("cred-doctor");
    s.write("weak.secret", WEAK);
    s.config(
        "Component \"a.example\"\n\tcomponent_secret = FileContents(\"weak.secret\")\n\
         Component \"b.example\"\n\tcomponent_secret = Credential(\"fogbow-b\")\n",
    );
    let o = s
        .ctl()
        .args(["doctor", "--json"])
        .env("SYSTEMD_UNIT_PATH", s.path("no-units"))
        .env_remove("CREDENTIALS_DIRECTORY")
        .output();
    let j = json(&o);
    assert_no_secret(&o, &[WEAK]);
    let item = |c: &str| {
        j["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["component"] == c && i["check"] == "secret is strong")
            .cloned()
            .unwrap_or_else(|| panic!("{j}"))
    };
    let a = item("a.example");
    assert_eq!(a["ok"], false, "{a}");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("FileContents(\"weak.secret\")"),
        "{a}"
    );
    let b = item("b.example");
    assert_eq!(b["ok"], true, "{b}");
    assert!(
        b["detail"].as_str().unwrap().contains("not checked here"),
        "{b}"
    );
}

fn have_systemd_creds() -> bool {
    require_tool("systemd-creds", &["systemd-creds", "--version"])
}

fn encrypt_on_host(name: &str, secret: &str, to: &Path) {
    encrypt_with(Command::new("systemd-creds"), name, secret, to);
}

/// `systemd-creds encrypt --with-key=host` (as `cmd` runs it: here, or in
/// the Debian 13 root), the secret on standard input, never an argument.
fn encrypt_with(mut cmd: Command, name: &str, secret: &str, to: &Path) {
    use std::io::Write;
    let mut c = cmd
        .args(["encrypt", "--with-key=host"])
        .arg(format!("--name={name}"))
        .arg("-")
        .arg(to)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    assert!(c.wait().unwrap().success());
}
