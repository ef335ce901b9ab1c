//! Real parts for tests: prosody's own configmanager (through Debian's
//! `lua5.4`), a real prosody server on loopback, and an XEP-0114 client.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_fogbow-xmpp-ctl");

/// A prosody library with `Credential()` for the `prosody_lib` setting
/// ([`Scratch::ctl_with_lib`]): a stand-in
/// configmanager that has prosody 13's `set_credentials_directory` and
/// loads every config (see the file).
pub const PROSODY13_LIB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/prosody13");

/// The real parts must be there: `tests/run-all.sh` installs them, and a
/// suite that skips them is not a suite. Returns false (and says why) only
/// when a developer runs `cargo test` on a machine without them.
pub fn real_parts_available() -> bool {
    let have = Path::new("/usr/bin/lua5.4").exists() && Path::new("/usr/bin/prosody").exists();
    if !have {
        assert!(
            std::env::var_os("FXC_REQUIRE_REAL").is_none(),
            "prosody and lua5.4 are required (tests/run-all.sh installs them)"
        );
        eprintln!("prosody or lua5.4 missing: run tests/run-all.sh for the full suite");
    }
    have
}

/// Whether we run as root, which `test` needs (tmpfs mounts, switching
/// users). CI runs as root; elsewhere the test is skipped, saying why,
/// unless the real parts are required.
pub fn running_as_root(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        assert!(
            std::env::var_os("FXC_REQUIRE_REAL").is_none(),
            "{test} needs root"
        );
        eprintln!("not root: {test} is skipped");
    }
    root
}

/// Whether `what` is here: the command `probe` runs and exits 0. Without
/// it the caller skips, saying so; under FXC_REQUIRE_REAL (the README's
/// test command) a missing tool fails the test instead.
pub fn require_tool(what: &str, probe: &[&str]) -> bool {
    let have = Command::new(probe[0])
        .args(&probe[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            std::env::var_os("FXC_REQUIRE_REAL").is_none(),
            "{what} is required (tests/run-all.sh installs it)"
        );
        eprintln!("{what} is missing: skipped");
    }
    have
}

/// A run's exit status (-1 when a signal ended it).
pub fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
/// A run's standard output as JSON; on failure, both streams in the panic.
pub fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(o), stderr(o)))
}

/// A scratch directory removed on drop, readable by the prosody user.
pub struct Scratch {
    pub dir: PathBuf,
    /// Removes `dir` when the scratch is dropped, also when a test fails.
    _tmp: tempfile::TempDir,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::Builder::new()
            .prefix(&format!("fxc-real-{tag}-"))
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        // tempfile makes it 0700: prosody's loader runs as prosody.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = Scratch { dir, _tmp: tmp };
        s.write(
            "settings.toml",
            &format!("backup_dir = \"{}\"\n", s.path("backups").display()),
        );
        s
    }
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
    pub fn write(&self, p: &str, content: &str) -> PathBuf {
        let path = self.path(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }
    pub fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.path(p)).unwrap()
    }
    /// Writes the scratch's own `prosody.cfg.lua`.
    pub fn config(&self, content: &str) -> PathBuf {
        self.write("prosody.cfg.lua", content)
    }
    pub fn secret(&self, content: &str) -> PathBuf {
        self.write("secret", content)
    }
    /// fogbow-xmpp-ctl with this scratch's settings on its own
    /// `prosody.cfg.lua` (another config by [`Ctl::config`]).
    pub fn ctl(&self) -> Ctl {
        Ctl {
            scratch: Some(self.dir.clone()),
            settings: Some(self.path("settings.toml")),
            config: Some(self.path("prosody.cfg.lua")),
            ..ctl()
        }
    }
    /// The scratch's settings with `prosody_lib = "LIB"` added, as a file of
    /// their own (`settings-lib.toml`, brought up to date with the settings
    /// at each call, left untouched when it is): the prosody that `check`
    /// and edits load with is then the one in `lib`, a stand-in or a
    /// directory without prosody.
    pub fn settings_with_lib(&self, lib: impl AsRef<Path>) -> PathBuf {
        let settings = std::fs::read_to_string(self.path("settings.toml")).unwrap_or_default();
        let line = format!("prosody_lib = {:?}\n", lib.as_ref().display().to_string());
        let text = settings + &line;
        let path = self.path("settings-lib.toml");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            self.write("settings-lib.toml", &text);
        }
        path
    }
    /// [`Scratch::ctl`] with the prosody in `lib` (see
    /// [`Scratch::settings_with_lib`]).
    pub fn ctl_with_lib(&self, lib: impl AsRef<Path>) -> Ctl {
        let settings = self.settings_with_lib(lib);
        self.ctl().settings(settings)
    }
    /// Adds `name` with a twenty-byte secret.
    pub fn add(&self, name: &str) -> Output {
        self.ctl()
            .args(["add", name])
            .secret("a-secret-of-twenty-bytes")
            .output()
    }
    /// Runs fogbow-xmpp-ctl with `args` on the scratch's own `prosody.cfg.lua`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.ctl().args(args).output()
    }
}

/// fogbow-xmpp-ctl without settings or config: `--help`, `--version`.
pub fn ctl() -> Ctl {
    Ctl {
        scratch: None,
        settings: None,
        config: None,
        args: Vec::new(),
        stdin: None,
        env: Vec::new(),
        cwd: None,
    }
}

/// One run of fogbow-xmpp-ctl, built up (arguments, standard input,
/// environment) and then run: `--settings` and `-c` go first, standard
/// input is empty unless given, and both output streams are captured.
pub struct Ctl {
    /// Where [`Ctl::secret`] writes its file.
    scratch: Option<PathBuf>,
    settings: Option<PathBuf>,
    config: Option<PathBuf>,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
}

impl Ctl {
    pub fn config(mut self, config: impl AsRef<Path>) -> Ctl {
        self.config = Some(config.as_ref().to_path_buf());
        self
    }
    /// Runs without `-c`: the built-in default config.
    pub fn no_config(mut self) -> Ctl {
        self.config = None;
        self
    }
    pub fn settings(mut self, settings: impl AsRef<Path>) -> Ctl {
        self.settings = Some(settings.as_ref().to_path_buf());
        self
    }
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Ctl {
        self.args.push(arg.as_ref().to_os_string());
        self
    }
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Ctl {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }
    /// Writes `content` to the scratch's `secret` file and passes it with
    /// `--secret-file`.
    pub fn secret(self, content: impl AsRef<[u8]>) -> Ctl {
        let dir = self.scratch.clone().expect("a secret file needs a scratch");
        let path = dir.join("secret");
        std::fs::write(&path, content).unwrap();
        self.secret_file(path)
    }
    /// Passes an existing file with `--secret-file`.
    pub fn secret_file(self, path: impl AsRef<Path>) -> Ctl {
        self.arg("--secret-file").arg(path.as_ref())
    }
    pub fn stdin(mut self, input: impl AsRef<[u8]>) -> Ctl {
        self.stdin = Some(input.as_ref().to_vec());
        self
    }
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Ctl {
        let value = Some(value.as_ref().to_os_string());
        self.env.push((key.as_ref().to_os_string(), value));
        self
    }
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Ctl {
        self.env.push((key.as_ref().to_os_string(), None));
        self
    }
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Ctl {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }
    /// The command, for a caller that spawns it itself (standard input
    /// empty, output inherited unless the caller redirects it).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        if let Some(settings) = &self.settings {
            cmd.arg("--settings").arg(settings);
        }
        if let Some(config) = &self.config {
            cmd.arg("-c").arg(config);
        }
        cmd.args(&self.args).stdin(Stdio::null());
        for (key, value) in &self.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd
    }
    /// Runs to the end: exit status and both output streams.
    pub fn output(self) -> Output {
        let mut cmd = self.command();
        if self.stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = &self.stdin {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        child.wait_with_output().unwrap()
    }
}

fn read_config_lua() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/read_config.lua")
}

/// What prosody's configmanager reads for `host`/`key`: `Ok(None)` when unset,
/// `Err(load error)` when the config does not load.
pub fn prosody_value(config: &Path, host: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
    let o = Command::new("lua5.4")
        .arg(read_config_lua())
        .arg(config)
        .arg(host)
        .arg(key)
        .output()
        .unwrap();
    match o.status.code() {
        Some(0) => Ok(Some(o.stdout)),
        Some(3) => Ok(None),
        _ => Err(String::from_utf8_lossy(&o.stderr).into_owned()),
    }
}

/// Every host and option prosody loads, one sorted line each.
pub fn prosody_dump(config: &Path) -> Result<String, String> {
    let o = Command::new("lua5.4")
        .arg(read_config_lua())
        .arg(config)
        .arg("--dump")
        .output()
        .unwrap();
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A prosody server of Debian's package, in the foreground, on loopback,
/// with its own config, data directory and free ports. Stopped on drop.
pub struct Prosody {
    child: Option<Child>,
    pub config: PathBuf,
    pub c2s_port: u16,
    pub component_port: u16,
    log: PathBuf,
}

/// The global section of a test server's config; components go after it.
pub fn base_config(dir: &Path) -> (String, u16, u16) {
    use std::os::unix::fs::PermissionsExt;
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (c2s, s2s, comp) = (free_port(), free_port(), free_port());
    let text = format!(
        "-- test server\n\
         daemonize = false\n\
         pidfile = \"{data}/prosody.pid\"\n\
         data_path = \"{data}\"\n\
         log = {{ {{ levels = {{ min = \"info\" }}, to = \"console\" }} }}\n\
         interfaces = {{ \"127.0.0.1\" }}\n\
         c2s_ports = {{ {c2s} }}\n\
         s2s_ports = {{ {s2s} }}\n\
         component_ports = {{ {comp} }}\n\
         component_interfaces = {{ \"127.0.0.1\" }}\n\
         http_ports = {{ }}\n\
         https_ports = {{ }}\n\
         modules_disabled = {{ \"posix\" }}\n\
         VirtualHost \"localhost\"\n",
        data = data.display()
    );
    (text, c2s, comp)
}

impl Prosody {
    /// Starts prosody on `config` (whose global section came from [`base_config`]).
    pub fn start(config: &Path, c2s_port: u16, component_port: u16) -> Prosody {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(config, std::fs::Permissions::from_mode(0o644)).unwrap();
        let log = config.with_extension("log");
        let mut p = Prosody {
            child: None,
            config: config.to_path_buf(),
            c2s_port,
            component_port,
            log,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log).unwrap();
        // setpriv execs prosody itself, so the pid we hold is prosody's.
        let child = Command::new("setpriv")
            .args([
                "--reuid=prosody",
                "--regid=prosody",
                "--init-groups",
                "prosody",
                "-F",
                "--config",
            ])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prosody");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.c2s_port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("prosody exited with {status}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "prosody did not listen within 20 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The component port opens after c2s, and only while an external
        // component is configured: wait for it a little, not forever.
        let deadline = Instant::now() + Duration::from_secs(3);
        while TcpStream::connect(("127.0.0.1", self.component_port)).is_err()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    Accepted,
    NotAuthorized,
    HostUnknown,
    Conflict,
    Other(String),
}

/// Performs the XEP-0114 handshake for `name` with `secret`; keeps the
/// stream open (returned) when accepted, so a test can hold a session.
pub fn handshake_keep(port: u16, name: &str, secret: &[u8]) -> (Handshake, Option<TcpStream>) {
    use sha1::{Digest, Sha1};
    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return (Handshake::Other(format!("connect: {e}")), None),
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let header = format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='{name}'>"
    );
    s.write_all(header.as_bytes()).unwrap();
    let mut got = String::new();
    let id = loop {
        if let Some(i) = got.find("<stream:stream") {
            if let Some(end) = got[i..].find('>') {
                let head = &got[i..i + end];
                let id = head.split("id=").nth(1).and_then(|r| {
                    let q = r.chars().next()?;
                    r[1..].split(q).next().map(str::to_string)
                });
                break id.unwrap_or_default();
            }
        }
        if !read_more(&mut s, &mut got) {
            return (Handshake::Other(format!("no stream header: {got}")), None);
        }
    };
    if got.contains("host-unknown") || id.is_empty() {
        // prosody answers an unknown name with an empty id and a stream error.
        let _ = read_more(&mut s, &mut got);
        if got.contains("host-unknown") {
            return (Handshake::HostUnknown, None);
        }
    }
    let mut h = Sha1::new();
    h.update(id.as_bytes());
    h.update(secret);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    s.write_all(format!("<handshake>{hex}</handshake>").as_bytes())
        .unwrap();
    let mark = got.len();
    loop {
        let answer = &got[mark..];
        if answer.contains("<handshake/>") || answer.contains("<handshake></handshake>") {
            return (Handshake::Accepted, Some(s));
        }
        if answer.contains("not-authorized") {
            return (Handshake::NotAuthorized, None);
        }
        if answer.contains("conflict") {
            return (Handshake::Conflict, None);
        }
        if answer.contains("host-unknown") {
            return (Handshake::HostUnknown, None);
        }
        if !read_more(&mut s, &mut got) {
            return (Handshake::Other(got[mark..].to_string()), None);
        }
    }
}

pub fn handshake(port: u16, name: &str, secret: &[u8]) -> Handshake {
    handshake_keep(port, name, secret).0
}

fn read_more(s: &mut TcpStream, into: &mut String) -> bool {
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            into.push_str(&String::from_utf8_lossy(&buf[..n]));
            true
        }
    }
}

/// Runs `sh -c` and requires success.
pub fn sh(c: &str) {
    assert!(
        Command::new("sh")
            .arg("-c")
            .arg(c)
            .status()
            .unwrap()
            .success(),
        "{c}"
    );
}

/// A tmpfs mounted at a directory for a test (needs root), unmounted on drop.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        sh(&format!(
            "mount -t tmpfs -o size={size} tmpfs {}",
            dir.display()
        ));
        Tmpfs(dir.to_path_buf())
    }
    pub fn remount_read_only(&self) {
        sh(&format!("mount -o remount,ro {}", self.0.display()));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The first diagnostic of `check --json` with `code` (the JSON in the
/// panic when there is none).
pub fn diagnostic<'a>(j: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code}: {j}"))
}

/// (severity, code, line, column) of each diagnostic of `check --json`.
pub fn found(j: &serde_json::Value) -> Vec<(String, String, u64, u64)> {
    j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["severity"].as_str().unwrap().to_string(),
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Debian 12's prosody.cfg.lua as the package ships it.
pub const DEBIAN12: &str = include_str!("../../examples/prosody/prosody.cfg.lua");

/// A secret strong enough that no check warns about it.
pub const STRONG: &str = "0123456789abcdef0123";

/// The Fogbow manager's `manager.conf`, in the forms the guide shows.
pub const MANAGER_CONF: &str = "\
# Fogbow Manager: manager.conf
xmpp_jid = my-manager.internal.mydomain
xmpp_password:m\\u00e4nager\\\"secret\\\\with-escapes
xmpp_host = 127.0.0.1
xmpp_port 5347
";

/// Exit 0; returns standard output.
pub fn ok(o: &Output) -> String {
    assert_eq!(code(o), 0, "stdout: {}\nstderr: {}", stdout(o), stderr(o));
    stdout(o)
}

/// Exit 1; returns the message.
pub fn refused(o: &Output) -> String {
    assert_eq!(code(o), 1, "stdout: {}\nstderr: {}", stdout(o), stderr(o));
    stderr(o)
}

pub fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A prosody config that also loads mod_admin_shell, and a `prosodyctl` on
/// PATH that speaks to that server (its config, its admin socket): what
/// `--reload` and `status` use. Returns the config's global section and
/// ports, and the PATH to run fogbow-xmpp-ctl with.
pub fn server_with_shell(s: &Scratch) -> (String, u16, u16, String) {
    use std::os::unix::fs::PermissionsExt;
    let (base, c2s, comp) = base_config(&s.dir);
    // Without it prosodyctl prints an error line before the shell's answer.
    std::fs::create_dir_all(s.path("certs")).unwrap();
    // mod_posix writes the pidfile `prosodyctl reload` signals.
    let base = base
        .replace("modules_disabled = { \"posix\" }", "modules_disabled = { }")
        .replace(
            "VirtualHost \"localhost\"\n",
            "modules_enabled = { \"admin_shell\" }\nVirtualHost \"localhost\"\n",
        );
    let wrapper = format!(
        "#!/bin/sh\nexec /usr/bin/prosodyctl --config '{}' \"$@\"\n",
        s.path("prosody.cfg.lua").display()
    );
    let p = s.write("fakebin/prosodyctl", &wrapper);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        s.path("fakebin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (base, c2s, comp, path)
}
