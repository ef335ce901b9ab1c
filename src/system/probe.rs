//! The XEP-0114 handshake, as a Fogbow component makes it: proof that
//! prosody accepts a component's name and secret, from the outside.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::text::remedy::Remedy;
use crate::text::{contains, find};
use sha1::{Digest, Sha1};

/// What prosody answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "detail")]
pub enum Outcome {
    /// `<handshake/>`: the secret is right.
    Accepted,
    /// The secret does not match prosody's `component_secret`.
    NotAuthorized,
    /// prosody has no such component (not configured, or not restarted since).
    HostUnknown,
    /// The component is already connected: a live session elsewhere.
    Conflict,
    /// No TCP connection, or the stream ended without a usable answer.
    ConnectionError(String),
    /// Connected, but the answer did not come in time.
    Timeout(String),
    /// Something that does not speak XEP-0114 answered (HTTP, TLS, SSH, …).
    NotXmpp(String),
}

impl Outcome {
    /// The one-line hint an operator needs next.
    pub(crate) fn hint(&self) -> String {
        let hint = match self {
            Outcome::Accepted => "prosody accepts this component's name and secret",
            Outcome::NotAuthorized => "prosody's component_secret differs from this one: fix the secret, then reload or restart prosody",
            Outcome::HostUnknown => {
                return format!(
                    "prosody does not know this component: it is not active in the running server ({} activates it; fogbow-xmpp-ctl status shows what runs)",
                    Remedy::Reload.command()
                )
            }
            Outcome::Conflict => "the component is connected elsewhere right now, which is good news: prosody refused a second session",
            Outcome::ConnectionError(_) => "nothing accepted the connection: is prosody running, and listening there? (fogbow-xmpp-ctl listen)",
            Outcome::Timeout(_) => "something accepted the connection but did not answer in time: is it prosody's component port (fogbow-xmpp-ctl listen), and is prosody responsive?",
            Outcome::NotXmpp(_) => "another service answers on this port: probe prosody's component port (fogbow-xmpp-ctl listen shows it), or move one of them",
        };
        hint.to_string()
    }

    /// Whether this is good news.
    pub(crate) fn ok(&self) -> bool {
        matches!(self, Outcome::Accepted | Outcome::Conflict)
    }

    /// What went wrong, for the outcomes that carry it.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Outcome::ConnectionError(d) | Outcome::Timeout(d) | Outcome::NotXmpp(d) => Some(d),
            _ => None,
        }
    }
}

/// The longest a connect, a read or a write may wait.
const STEP: Duration = Duration::from_secs(5);
/// The whole probe ends within this, however slowly a peer trickles bytes.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);
/// prosody's answers are a few hundred bytes; more without a verdict is not prosody.
const MAX_ANSWER: usize = 64 * 1024;

/// Opens a component stream to `host:port` for `name`, answers the
/// challenge with SHA-1(stream id + secret), and closes the stream. Returns
/// within `DEADLINE` (plus one `STEP` at most for a name lookup that
/// the system resolver will not cut short; an address needs none).
pub(crate) fn handshake(host: &str, port: u16, name: &str, secret: &[u8]) -> Outcome {
    let deadline = Instant::now() + DEADLINE;
    match run(host, port, name, secret, deadline) {
        Ok(o) | Err(o) => o,
    }
}

fn run(
    host: &str,
    port: u16,
    name: &str,
    secret: &[u8],
    deadline: Instant,
) -> Result<Outcome, Outcome> {
    let s = connect(host, port, deadline)?;
    let mut peer = Peer {
        s,
        deadline,
        got: Vec::new(),
    };
    let to = name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;");
    peer.send(&format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='{to}'>"
    ))?;
    let (id, mark) = stream_header(&mut peer)?;
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        // prosody opens the stream with id='' and then refuses an unknown host.
        while !contains(&peer.got[mark..], b"host-unknown") {
            if !peer.read_more("stream error")? {
                return Err(Outcome::ConnectionError(
                    "no stream id in the server's answer".into(),
                ));
            }
        }
        return Ok(Outcome::HostUnknown);
    };
    let mut h = Sha1::new();
    h.update(&id);
    h.update(secret);
    let hex = crate::text::hex::encode(&h.finalize());
    peer.send(&format!("<handshake>{hex}</handshake>"))?;
    let outcome = loop {
        if let Some(o) = verdict(&peer.got[mark..]) {
            break o;
        }
        if !peer.read_more("answer to the handshake")? {
            break Outcome::ConnectionError(closed_without_verdict(&peer.got[mark..]));
        }
    };
    // Leave politely: we are a probe, not the component.
    let _ = peer.send("</stream:stream>");
    Ok(outcome)
}

/// A TCP connection to the first address of `host` that answers, each
/// tried for at most `STEP`, all before `deadline`.
fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, Outcome> {
    let mut last = String::from("no address");
    for a in resolve(host, port, left(deadline).min(STEP))? {
        let wait = left(deadline).min(STEP);
        if wait.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&a, wait) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{a}: {}", crate::text::plain_io(&e)),
        }
    }
    Err(Outcome::ConnectionError(last))
}

/// Reads the server's stream header: its id and where it ends in `peer.got`.
fn stream_header(peer: &mut Peer) -> Result<(Option<Vec<u8>>, usize), Outcome> {
    loop {
        match header(&peer.got) {
            Header::Stream { id, end } => return Ok((id, end)),
            Header::NotXmpp(why) => return Err(Outcome::NotXmpp(why)),
            Header::Partial => {}
        }
        if !peer.read_more("stream header")? {
            return Err(not_xmpp(&peer.got).map_or_else(
                || {
                    Outcome::ConnectionError(
                        "the server closed the stream before its header".into(),
                    )
                },
                Outcome::NotXmpp,
            ));
        }
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The addresses of `host`. A name is looked up on a thread so that a slow
/// resolver cannot outlast the probe's deadline (the thread, if it is
/// still waiting, ends with the process).
fn resolve(host: &str, port: u16, wait: Duration) -> Result<Vec<SocketAddr>, Outcome> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>()),
        );
    });
    match rx.recv_timeout(wait) {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(e)) => Err(Outcome::ConnectionError(format!(
            "cannot resolve {host}: {}",
            crate::text::plain_io(&e)
        ))),
        Err(_) => Err(Outcome::Timeout(format!(
            "looking up {host} took more than {} s",
            wait.as_secs()
        ))),
    }
}

/// The connection, what it has answered so far, and when the probe ends.
struct Peer {
    s: TcpStream,
    deadline: Instant,
    got: Vec<u8>,
}

impl Peer {
    fn send(&mut self, text: &str) -> Result<(), Outcome> {
        let wait = left(self.deadline).min(STEP);
        if wait.is_zero() {
            return Err(self.late("chance to write", true));
        }
        let _ = self.s.set_write_timeout(Some(wait));
        self.s
            .write_all(text.as_bytes())
            .map_err(|e| match e.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                    self.late("chance to write", wait < STEP)
                }
                _ => Outcome::ConnectionError(crate::text::plain_io(&e)),
            })
    }

    /// Reads what comes next into `got`; false when the server closed the
    /// stream. `waiting` names what we wait for, for the messages.
    fn read_more(&mut self, waiting: &str) -> Result<bool, Outcome> {
        let wait = left(self.deadline).min(STEP);
        if wait.is_zero() {
            return Err(self.late(waiting, true));
        }
        let room = MAX_ANSWER.saturating_sub(self.got.len());
        if room == 0 {
            return Err(Outcome::NotXmpp(format!(
                "{} KiB of answer without a complete {waiting}",
                MAX_ANSWER / 1024
            )));
        }
        let _ = self.s.set_read_timeout(Some(wait));
        let mut buf = [0u8; 4096];
        let n = room.min(buf.len());
        match self.s.read(&mut buf[..n]) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.got.extend_from_slice(&buf[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(self.late(waiting, wait < STEP))
            }
            Err(e) => Err(Outcome::ConnectionError(format!(
                "reading the {waiting}: {}",
                crate::text::plain_io(&e)
            ))),
        }
    }

    /// The timeout that ended the wait for `waiting`: the probe's deadline
    /// (`overall`), or one step's silence.
    fn late(&self, waiting: &str, overall: bool) -> Outcome {
        if overall {
            Outcome::Timeout(format!(
                "no complete {waiting} within the probe's {} s deadline ({} bytes received): the server answers too slowly",
                DEADLINE.as_secs(),
                self.got.len()
            ))
        } else {
            Outcome::Timeout(format!(
                "no {waiting} after {} s of silence",
                STEP.as_secs()
            ))
        }
    }
}

/// What the bytes received so far say about the server's stream header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Header {
    /// Not complete yet.
    Partial,
    /// The header, which ends before byte `end`, and its `id` as the
    /// component must hash it (entities decoded; absent is `None`).
    Stream { id: Option<Vec<u8>>, end: usize },
    /// Not the start of an XMPP component stream.
    NotXmpp(String),
}

fn space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Parses `[BOM] [<?xml …?>] <stream:stream attributes…>` from the start of
/// `got`, for any bytes at all: never panics, never reads past `got`.
fn header(got: &[u8]) -> Header {
    let mut i = 0;
    if got.starts_with(b"\xef\xbb\xbf") {
        i = 3;
    }
    let skip = |mut i: usize| {
        while got.get(i).copied().is_some_and(space) {
            i += 1;
        }
        i
    };
    i = skip(i);
    if let Some(why) = not_xmpp(&got[i..]) {
        return Header::NotXmpp(why);
    }
    if got[i..].starts_with(b"<?") {
        match find(&got[i..], b"?>") {
            Some(end) => i = skip(i + end + 2),
            None => return Header::Partial,
        }
    }
    const OPEN: &[u8] = b"<stream:stream";
    let rest = &got[i..];
    let n = rest.len().min(OPEN.len());
    if rest[..n] != OPEN[..n] {
        return Header::NotXmpp(format!(
            "the server's answer is XML but not an XMPP stream: it starts with {}",
            shown(rest)
        ));
    }
    if n < OPEN.len() {
        return Header::Partial;
    }
    i += OPEN.len();
    let malformed = || Header::NotXmpp(format!("malformed stream header: {}", shown(got)));
    let mut id = None;
    loop {
        let before = i;
        i = skip(i);
        match got.get(i) {
            None => return Header::Partial,
            Some(b'>') => return Header::Stream { id, end: i + 1 },
            Some(_) if i == before => return malformed(),
            Some(_) => {}
        }
        let name_start = i;
        while got
            .get(i)
            .is_some_and(|&b| !space(b) && !matches!(b, b'=' | b'>' | b'/' | b'<'))
        {
            i += 1;
        }
        let name = &got[name_start..i];
        i = skip(i);
        match got.get(i) {
            None => return Header::Partial,
            Some(b'=') if !name.is_empty() => i = skip(i + 1),
            Some(_) => return malformed(),
        }
        let quote = match got.get(i) {
            None => return Header::Partial,
            Some(&q) if q == b'\'' || q == b'"' => q,
            Some(_) => return malformed(),
        };
        let Some(len) = got[i + 1..].iter().position(|&b| b == quote) else {
            return Header::Partial;
        };
        if name == b"id" {
            id = Some(unescape(&got[i + 1..i + 1 + len]));
        }
        i += len + 2;
    }
}

/// Why an answer that starts with `start` is not XML at all, once enough
/// of it has come to tell (a whole first line for HTTP).
fn not_xmpp(start: &[u8]) -> Option<String> {
    if start.starts_with(b"HTTP/") {
        return Some(format!(
            "not an XMPP component port: the server answered {}",
            shown(start)
        ));
    }
    match start.first() {
        None | Some(b'<') => None,
        Some(_) => Some(format!(
            "not an XMPP component port: the server's answer is not XML: {}",
            shown(start)
        )),
    }
}

/// The first line of `bytes`, at most 60 bytes, quoted (a quote or
/// backslash in it escaped with a backslash), with what a terminal would
/// act on escaped ([`crate::text::terminal_safe`]; bytes that are not
/// UTF-8 shown as U+FFFD): a hostile server's words reach a terminal.
fn shown(bytes: &[u8]) -> String {
    let line = bytes
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let cut = &line[..line.len().min(60)];
    let quoted = String::from_utf8_lossy(cut)
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\'', "\\'");
    let mut out = crate::text::terminal_safe(&quoted).into_owned();
    if cut.len() < line.len() {
        out.push('…');
    }
    format!("\"{out}\"")
}

/// An attribute value with XML's entity and character references decoded.
fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'&' {
            if let Some(len) = v[i..].iter().take(12).position(|&b| b == b';') {
                let name = &v[i + 1..i + len];
                let ch = match name {
                    b"lt" => Some('<'),
                    b"gt" => Some('>'),
                    b"amp" => Some('&'),
                    b"quot" => Some('"'),
                    b"apos" => Some('\''),
                    [b'#', b'x', hex @ ..] => std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32),
                    [b'#', dec @ ..] => std::str::from_utf8(dec)
                        .ok()
                        .and_then(|d| d.parse::<u32>().ok())
                        .and_then(char::from_u32),
                    _ => None,
                };
                if let Some(c) = ch {
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    i += len + 1;
                    continue;
                }
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// prosody's answer to the handshake, once it has come.
fn verdict(answer: &[u8]) -> Option<Outcome> {
    if contains(answer, b"<handshake/>") || contains(answer, b"<handshake></handshake>") {
        Some(Outcome::Accepted)
    } else if contains(answer, b"not-authorized") {
        Some(Outcome::NotAuthorized)
    } else if contains(answer, b"conflict") {
        Some(Outcome::Conflict)
    } else if contains(answer, b"host-unknown") {
        Some(Outcome::HostUnknown)
    } else {
        None
    }
}

/// What to say when the server closed the stream with no verdict.
fn closed_without_verdict(answer: &[u8]) -> String {
    let condition = find(answer, b"<stream:error").and_then(|at| {
        let inner = &answer[at + 1..];
        let open = inner.iter().position(|&b| b == b'<')? + 1;
        let name: Vec<u8> = inner[open..]
            .iter()
            .copied()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
            .take(64)
            .collect();
        (!name.is_empty()).then(|| String::from_utf8_lossy(&name).into_owned())
    });
    match condition {
        Some(c) => format!("the server ended the stream with the error {c}"),
        None => "the server closed the stream without answering the handshake".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PROSODY: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='abc-123' from=\"x.example\">";

    fn id_of(got: &[u8]) -> Option<Vec<u8>> {
        match header(got) {
            Header::Stream { id, .. } => id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stream_header_as_prosody_sends_it() {
        assert_eq!(
            header(PROSODY),
            Header::Stream {
                id: Some(b"abc-123".to_vec()),
                end: PROSODY.len()
            }
        );
        // Every proper prefix is incomplete, never an error.
        for n in 0..PROSODY.len() {
            assert_eq!(header(&PROSODY[..n]), Header::Partial, "{n}");
        }
        assert_eq!(id_of(b"<stream:stream id=''>"), Some(vec![]));
        assert_eq!(id_of(b"<stream:stream from='x'>"), None);
        assert!(
            matches!(header(b" \xef\xbb\xbf<stream:stream>"), Header::NotXmpp(_)),
            "a BOM after blanks is not XML"
        );
        assert_eq!(
            id_of(b"\xef\xbb\xbf <stream:stream\n id = \"a>b&amp;&#233;&#x41;&bogus;\"\t>"),
            Some("a>b&\u{e9}A&bogus;".as_bytes().to_vec())
        );
    }

    /// A stream id with non-ASCII bytes (the review's panic: a multi-byte
    /// character where the quote was expected) is read or refused, never a crash.
    #[test]
    fn non_ascii_stream_ids() {
        assert_eq!(
            id_of("<stream:stream id='ünï\u{1F600}'>".as_bytes()),
            Some("ünï\u{1F600}".as_bytes().to_vec())
        );
        assert_eq!(
            id_of(b"<stream:stream id='\xff\xfe'>"),
            Some(vec![0xff, 0xfe])
        );
        for bad in [
            "<stream:stream id=éé>",
            "<stream:stream id=«x«>",
            "<stream:stream id='x' é>",
        ] {
            assert!(
                matches!(header(bad.as_bytes()), Header::NotXmpp(_)),
                "{bad}: {:?}",
                header(bad.as_bytes())
            );
        }
    }

    #[test]
    fn other_services_are_named() {
        let Header::NotXmpp(why) = header(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        else {
            panic!()
        };
        assert!(
            why.contains("the server answered \"HTTP/1.1 400 Bad Request\""),
            "{why}"
        );
        let Header::NotXmpp(why) = header(b"SSH-2.0-OpenSSH_9.2\r\n") else {
            panic!()
        };
        assert!(why.contains("not XML: \"SSH-2.0-OpenSSH_9.2\""), "{why}");
        // A TLS alert, and a terminal escape: shown escaped.
        let Header::NotXmpp(why) = header(b"\x15\x03\x03\x00\x02\x02\x46\x1b]0;x\x07") else {
            panic!()
        };
        assert!(!why.bytes().any(|b| b.is_ascii_control()), "{why:?}");
        assert!(why.contains("F\\u{1b}]0;x\\u{7}\""), "{why}");
        // Printable text as it came, quotes and backslashes escaped; cut at 60 bytes.
        assert_eq!(
            shown(b"<a b='c' d=\"e\\f\">\r\nrest"),
            r#""<a b=\'c\' d=\"e\\f\">""#
        );
        assert_eq!(shown(&[b'x'; 61]), format!("\"{}…\"", "x".repeat(60)));
        let Header::NotXmpp(why) = header(b"<html><body>") else {
            panic!()
        };
        assert!(why.contains("not an XMPP stream"), "{why}");
        assert!(matches!(header(b"<stream:streamer>"), Header::NotXmpp(_)));
        assert!(matches!(header(b"<stream:stream/>"), Header::NotXmpp(_)));
    }

    #[test]
    fn handshake_answers() {
        assert_eq!(verdict(b"<handshake/>"), Some(Outcome::Accepted));
        assert_eq!(
            verdict(b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"),
            Some(Outcome::NotAuthorized)
        );
        assert_eq!(verdict(b"<stream:err"), None);
        assert_eq!(
            closed_without_verdict(b"<stream:error><policy-violation xmlns='x'/></stream:error>"),
            "the server ended the stream with the error policy-violation"
        );
        assert!(closed_without_verdict(b"").contains("without answering"));
    }

    proptest! {
        /// Any bytes from a hostile server: the parsers return, and the
        /// header's verdict on a prefix is "incomplete" or the same as on the
        /// whole (what a slow server sends in pieces reads the same).
        #[test]
        fn any_answer_parses_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
            let whole = header(&bytes);
            let _ = verdict(&bytes);
            let _ = closed_without_verdict(&bytes);
            let _ = not_xmpp(&bytes);
            let _ = unescape(&bytes);
            let cut = cut.min(bytes.len());
            let part = header(&bytes[..cut]);
            if let Header::Stream { end, .. } = &whole {
                prop_assert!(*end <= bytes.len());
                if cut >= *end {
                    prop_assert_eq!(&part, &whole);
                }
            }
        }

        /// Headers built around any id, with any attribute around it.
        #[test]
        fn any_stream_id_reads_back(id in "[^'<&]{0,40}", other in "[a-z]{1,8}", value in "[^\"<&]{0,20}") {
            let text = format!("<?xml version='1.0'?>\n<stream:stream {other}=\"{value}\" id='{id}'>");
            prop_assume!(other != "id");
            prop_assert_eq!(header(text.as_bytes()), Header::Stream { id: Some(id.into_bytes()), end: text.len() });
        }
    }

    #[test]
    fn nothing_listening_is_a_connection_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(matches!(
            handshake("127.0.0.1", port, "x.example", b"s"),
            Outcome::ConnectionError(_)
        ));
    }
}
