//! Bounds a hostile peer or input cannot break: `probe` against servers that
//! trickle, stay silent, speak HTTP or send odd stream ids; secrets and
//! properties from FIFOs, devices and oversized files; an empty listener;
//! a secret typed as an argument; core dumps. Every run has a generous
//! deadline that only guards against a hang: the assertions are outcomes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{json, stderr, Scratch};

const NAME: &str = "probe.example";
const SECRET: &str = "probe-secret-0123456789";
/// Far beyond any outcome's own bound (the probe's is 10 s): only a hang trips it.
const HANG: Duration = Duration::from_secs(60);

/// Waits for `child`, killing it (and failing) if it outlives [`HANG`].
fn bounded(mut child: Child) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("still running after {HANG:?}: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(s: &Scratch, args: &[&str], stdin: Stdio) -> Output {
    let child = s
        .ctl()
        .args(args)
        .command()
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    bounded(child)
}

/// A one-connection server on loopback that plays `script` and is stopped
/// (its thread joined) on drop.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<u8>>>,
}

impl Server {
    fn new(script: impl FnOnce(&mut std::net::TcpStream, &AtomicBool) + Send + 'static) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                        script(&mut c, &flag);
                        let mut rest = Vec::new();
                        let _ = c.read_to_end(&mut rest);
                        return rest;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            Vec::new()
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads what the probe sends until its stream header is complete.
fn read_open(c: &mut std::net::TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b">") || !String::from_utf8_lossy(&got).contains("<stream:stream") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn probe_scratch(tag: &str) -> Scratch {
    let s = Scratch::new(tag);
    s.config(&format!(
        "Component \"{NAME}\"\n\tcomponent_secret = \"{SECRET}\"\n"
    ));
    s
}

fn probe(s: &Scratch, port: u16) -> Output {
    run(
        s,
        &[
            "probe",
            NAME,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--json",
        ],
        Stdio::null(),
    )
}

/// A server that trickles a byte every second never completes a header;
/// the probe's overall deadline ends it, however long bytes keep coming.
#[test]
fn probe_has_an_overall_deadline() {
    let s = probe_scratch("trickle");
    let server = Server::new(|c, stop| {
        read_open(c);
        let header = b"<?xml version='1.0'?><stream:stream ";
        // Blanks between attributes: a header that is never complete.
        for b in header.iter().chain(std::iter::repeat(&b' ')) {
            if stop.load(Ordering::SeqCst) || c.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let o = probe(&s, server.port);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["outcome"], "timeout", "{j}");
    assert!(
        j["detail"].as_str().unwrap().contains("10 s deadline"),
        "{j}"
    );
}

/// A server that accepts and says nothing: a timeout, not "closed".
#[test]
fn probe_reports_silence_as_a_timeout() {
    let s = probe_scratch("silent");
    let server = Server::new(|c, stop| {
        read_open(c);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let o = probe(&s, server.port);
    let j = json(&o);
    assert_eq!(j["outcome"], "timeout", "{j}");
    assert!(j["detail"].as_str().unwrap().contains("silence"), "{j}");
    // The human form says it too, with the detail and its hint.
    drop(server);
    let server = Server::new(|c, stop| {
        read_open(c);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let o = run(
        &s,
        &[
            "probe",
            NAME,
            "--host",
            "127.0.0.1",
            "--port",
            &server.port.to_string(),
        ],
        Stdio::null(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(": timeout (no stream header after 5 s of silence)"),
        "{out}"
    );
    assert!(
        stderr(&o).contains("did not answer in time"),
        "{}",
        stderr(&o)
    );
}

/// An HTTP server on the port is named as such.
#[test]
fn probe_names_an_http_server() {
    let s = probe_scratch("http");
    let server = Server::new(|c, _| {
        read_open(c);
        let _ = c.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let _ = c.shutdown(std::net::Shutdown::Write);
    });
    let o = probe(&s, server.port);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["outcome"], "not-xmpp", "{j}");
    let detail = j["detail"].as_str().unwrap();
    assert!(
        detail.contains("not an XMPP component port")
            && detail.contains("HTTP/1.1 400 Bad Request"),
        "{detail}"
    );
}

/// Non-ASCII stream ids: an unquoted one (which crashed the old parser) is
/// refused; a quoted one is hashed as its bytes, as a component would.
#[test]
fn probe_survives_non_ascii_stream_ids() {
    let s = probe_scratch("nonascii");
    let server = Server::new(|c, _| {
        read_open(c);
        let _ = c.write_all(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' id=ééé>"
                .as_bytes(),
        );
        let _ = c.shutdown(std::net::Shutdown::Write);
    });
    let o = probe(&s, server.port);
    assert_eq!(o.status.code(), Some(1), "no crash: {}", stderr(&o));
    assert_eq!(json(&o)["outcome"], "not-xmpp");

    let id = "ïd-ünïcödé-\u{1F600}";
    let server = Server::new(move |c, _| {
        use sha1::Digest;
        read_open(c);
        let _ = c.write_all(
            format!("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='{id}' from='{NAME}'>").as_bytes(),
        );
        let mut h = sha1::Sha1::new();
        h.update(id.as_bytes());
        h.update(SECRET.as_bytes());
        let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&got).contains("</handshake>") {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let answer: &[u8] = if String::from_utf8_lossy(&got).contains(&want) {
            b"<handshake/>"
        } else {
            b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
        };
        let _ = c.write_all(answer);
    });
    let o = probe(&s, server.port);
    assert_eq!(json(&o)["outcome"], "accepted", "{}", stderr(&o));
}

/// `component_ports = {}` is valid in prosody and opens no port: probe and
/// doctor say so instead of taking the first port of an empty list.
#[test]
fn empty_component_ports_are_explained() {
    let s = Scratch::new("noports");
    s.config(&format!(
        "component_ports = {{}}\ns2s_ports = {{ }}\nComponent \"{NAME}\"\n\tcomponent_secret = \"{SECRET}\"\n"
    ));
    let o = run(&s, &["probe", NAME], Stdio::null());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("component_ports is an empty list, so prosody opens no component port")
            && stderr(&o).contains("listen --port 5347"),
        "{}",
        stderr(&o)
    );
    // Told where, it probes (nothing listens there).
    let port = crate::support::free_port().to_string();
    let o = run(
        &s,
        &["probe", NAME, "--port", &port, "--json"],
        Stdio::null(),
    );
    assert_eq!(json(&o)["outcome"], "connection-error");

    s.config("component_ports = {}\ns2s_ports = { }\n");
    let o = run(&s, &["doctor", "--json"], Stdio::null());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let j = json(&o);
    let item = |check: &str| {
        j["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["check"] == check)
            .unwrap_or_else(|| panic!("{check}: {j}"))
            .clone()
    };
    let reach = item("component port reachable");
    assert_eq!(reach["ok"], false);
    assert!(
        reach["detail"]
            .as_str()
            .unwrap()
            .contains("opens no component port"),
        "{reach}"
    );
    let s2s = item("server-to-server port listens");
    assert!(
        s2s["detail"]
            .as_str()
            .unwrap()
            .contains("s2s_ports is an empty list"),
        "{s2s}"
    );
}

/// Secret and properties sources that never end, block, or are too big:
/// refused with the limit named, the secret never shown, nothing written.
#[test]
fn secret_and_properties_sources_are_bounded() {
    let s = Scratch::new("sources");
    let cfg = s.config("x = 1\n");
    let before = std::fs::read(&cfg).unwrap();
    let fifo = s.path("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let fifo = fifo.to_str().unwrap();
    let huge = "k".repeat(1025);
    let too_long = s.write("long", &format!("{huge}\n"));
    let bom = s.write("bom", "\u{feff}bom-secret-0123456789\n");
    let props = s.write("big.conf", &"#".repeat((1 << 20) + 1));
    let cases: &[(&[&str], &str)] = &[
        (
            &["add", NAME, "--secret-file", "/dev/zero"],
            "/dev/zero is a device",
        ),
        (&["add", NAME, "--secret-file", fifo], "is a FIFO"),
        (
            &["add", NAME, "--secret-file", too_long.to_str().unwrap()],
            "longer than 1024 bytes",
        ),
        (
            &["add", NAME, "--secret-file", bom.to_str().unwrap()],
            "byte order mark",
        ),
        (
            &["add", "--from-properties", "/dev/zero"],
            "/dev/zero is a device",
        ),
        (&["add", "--from-properties", fifo], "is a FIFO"),
        (
            &["add", "--from-properties", props.to_str().unwrap()],
            "larger than 1 MiB",
        ),
    ];
    for (args, want) in cases {
        let o = run(&s, args, Stdio::null());
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("kkkk") && !stderr(&o).contains("bom-secret"));
        assert_eq!(std::fs::read(&cfg).unwrap(), before, "{args:?}");
    }
    // Standard input that never ends is cut at the limit.
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let o = run(&s, &["add", NAME, "--secret-file", "-"], Stdio::from(zero));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("longer than 1024 bytes"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&cfg).unwrap(), before);
    // Exactly at the limit is fine.
    let max = s.write("max", &format!("{}\n", &huge[..1024]));
    let o = run(
        &s,
        &["add", NAME, "--secret-file", max.to_str().unwrap()],
        Stdio::null(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `add NAME SECRET`: clap's usage error must not repeat the secret.
#[test]
fn a_secret_typed_as_an_argument_is_not_repeated() {
    let s = Scratch::new("argv");
    let cfg = s.config("x = 1\n");
    let o = run(&s, &["add", NAME, "typed-secret-4711"], Stdio::null());
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(!e.contains("typed-secret-4711"), "{e}");
    assert!(e.contains("--secret-file -") && e.contains("Usage:"), "{e}");
    assert_eq!(std::fs::read_to_string(cfg).unwrap(), "x = 1\n");
    // Other usage errors are clap's own.
    let o = run(&s, &["add", NAME, "--bogus"], Stdio::null());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unexpected argument '--bogus'"));
}

/// The process is not dumpable and its core size limit is 0 from the
/// start: seen from outside while it waits for a secret on a pipe. A
/// non-dumpable process's /proc files belong to root, so it runs as
/// `nobody` when the test runs as root.
#[test]
fn no_core_dumps() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let s = Scratch::new("core");
    s.config("x = 1\n");
    let mut cmd = s.ctl().args(["add", NAME, "--secret-file", "-"]).command();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if nix::unistd::Uid::effective().is_root() {
        cmd.uid(65534).gid(65534);
    }
    let mut child = cmd.spawn().unwrap();
    let proc = format!("/proc/{}", child.id());
    let core_limit = |limits: &str| {
        limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .map(|l| l.split_whitespace().nth(4).unwrap_or("").to_string())
    };
    let start = Instant::now();
    let (mut limit, mut owner) = (None, None);
    while start.elapsed() < HANG {
        limit = std::fs::read_to_string(format!("{proc}/limits"))
            .ok()
            .and_then(|l| core_limit(&l));
        owner = std::fs::metadata(format!("{proc}/status"))
            .ok()
            .map(|m| m.uid());
        if limit.as_deref() == Some("0") && owner == Some(0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::fs::read_to_string(format!("{proc}/status")).unwrap_or_default();
    drop(child.stdin.take());
    let o = bounded(child);
    assert_eq!(limit.as_deref(), Some("0"), "soft core limit");
    assert!(
        !status.lines().any(|l| l.starts_with("Uid:\t0")),
        "the child must not run as root for this check"
    );
    assert_eq!(owner, Some(0), "not dumpable: /proc/PID is root's");
    assert_eq!(o.status.code(), Some(1), "empty secret: {}", stderr(&o));
}
