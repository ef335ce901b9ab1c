//! The XEP-0114 handshake, as a Fogbow component makes it: proof that
//! prosody accepts a component's name and secret, from the outside.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;
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
    /// No TCP connection, or no usable answer.
    ConnectionError(String),
}

impl Outcome {
    /// The one-line hint an operator needs next.
    pub fn hint(&self) -> &'static str {
        match self {
            Outcome::Accepted => "prosody accepts this component's name and secret",
            Outcome::NotAuthorized => "prosody's component_secret differs from this one: fix the secret, then reload or restart prosody",
            Outcome::HostUnknown => "prosody does not know this component: was prosody restarted since it was added? (fogbow-xmpp-ctl restart)",
            Outcome::Conflict => "the component is connected elsewhere right now, which is good news: prosody refused a second session",
            Outcome::ConnectionError(_) => "nothing accepted the connection: is prosody running, and listening there? (fogbow-xmpp-ctl listen)",
        }
    }

    /// Whether this is good news.
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Accepted | Outcome::Conflict)
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a component stream to `host:port` for `name`, answers the
/// challenge with SHA-1(stream id + secret), and closes the stream.
pub fn handshake(host: &str, port: u16, name: &str, secret: &[u8]) -> Outcome {
    let addrs = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => return Outcome::ConnectionError(format!("cannot resolve {host}: {e}")),
    };
    let mut stream = None;
    let mut last = String::new();
    for a in addrs {
        match TcpStream::connect_timeout(&a, TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("{a}: {}", crate::secret::plain_io(&e)),
        }
    }
    let Some(mut s) = stream else {
        return Outcome::ConnectionError(last);
    };
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let _ = s.set_write_timeout(Some(TIMEOUT));
    let to = name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;");
    let open = format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='{to}'>"
    );
    if let Err(e) = s.write_all(open.as_bytes()) {
        return Outcome::ConnectionError(e.to_string());
    }
    let mut got = String::new();
    let id = loop {
        if let Some(i) = got.find("<stream:stream") {
            if let Some(end) = got[i..].find('>') {
                break attribute(&got[i..i + end], "id").unwrap_or_default();
            }
        }
        if !read_more(&mut s, &mut got) {
            return Outcome::ConnectionError(
                "the server closed the stream before its header".into(),
            );
        }
    };
    if id.is_empty() {
        let _ = read_more(&mut s, &mut got);
        return if got.contains("host-unknown") {
            Outcome::HostUnknown
        } else {
            Outcome::ConnectionError("no stream id in the server's answer".into())
        };
    }
    let mut h = Sha1::new();
    h.update(id.as_bytes());
    h.update(secret);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if let Err(e) = s.write_all(format!("<handshake>{hex}</handshake>").as_bytes()) {
        return Outcome::ConnectionError(e.to_string());
    }
    let mark = got.len();
    let outcome = loop {
        let answer = &got[mark..];
        if answer.contains("<handshake/>") || answer.contains("<handshake></handshake>") {
            break Outcome::Accepted;
        }
        if answer.contains("not-authorized") {
            break Outcome::NotAuthorized;
        }
        if answer.contains("conflict") {
            break Outcome::Conflict;
        }
        if answer.contains("host-unknown") {
            break Outcome::HostUnknown;
        }
        if !read_more(&mut s, &mut got) {
            break Outcome::ConnectionError("no answer to the handshake".into());
        }
    };
    // Leave politely: we are a probe, not the component.
    let _ = s.write_all(b"</stream:stream>");
    outcome
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let quote = tag[at..].chars().next()?;
    let rest = &tag[at + 1..];
    rest.find(quote).map(|end| rest[..end].to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_attribute() {
        let tag = "<stream:stream xmlns='jabber:component:accept' id='abc-123' from=\"x\"";
        assert_eq!(attribute(tag, "id").as_deref(), Some("abc-123"));
        assert_eq!(attribute(tag, "from").as_deref(), Some("x"));
        assert_eq!(attribute("<stream:stream id=''", "id").as_deref(), Some(""));
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
