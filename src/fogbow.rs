//! A Fogbow component's own configuration: the Java `.properties` file
//! (`manager.conf`, `federation.conf`, `rendezvous.conf`, `ras.conf`, …) that
//! names its XMPP identity (`xmpp_jid`), secret (`xmpp_password`), and where
//! it will dial prosody. Parsed with the `java-properties` crate, which
//! follows `java.util.Properties.load` (the Fogbow services' own reader):
//! `=`/`:`/whitespace separators, `#`/`!` comments, escapes and `\uXXXX`,
//! line continuations, ISO-8859-1, trailing whitespace kept.

use std::path::Path;

use crate::listener::{Listener, DEFAULT_PORT};

/// What a Fogbow component will present to prosody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentProperties {
    pub jid: String,
    pub password: Vec<u8>,
    /// The port it dials, and the key that set it.
    pub port: (u16, Option<&'static str>),
    /// The address it dials (`xmpp_host` / `xmpp_server_ip`), if set.
    pub host: Option<String>,
    /// `xmpp_enabled`, if set.
    pub enabled: Option<bool>,
}

/// Keys naming the component port, older services first; `xmpp_c2s_port`
/// is a name seen in the wild by mistake for the same thing.
const PORT_KEYS: [&str; 4] = [
    "xmpp_port",
    "xmpp_c2c_port",
    "xmpp_server_port",
    "xmpp_c2s_port",
];
const HOST_KEYS: [&str; 2] = ["xmpp_host", "xmpp_server_ip"];

/// Reads and checks a Fogbow component's properties file.
pub fn read(path: &Path) -> Result<ComponentProperties, String> {
    let p = path.display();
    let file = std::fs::File::open(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
            " (run with sudo?)"
        } else {
            ""
        };
        format!("cannot read {p}: {}{hint}", crate::secret::plain_io(&e))
    })?;
    let map = java_properties::read(std::io::BufReader::new(file)).map_err(|e| {
        match e.line_number() {
            Some(l) => format!("{p}:{l}: not a valid properties file: {e}"),
            None => format!("{p}: not a valid properties file: {e}"),
        }
    })?;
    // The secret's value never appears in a message.
    let get = |key: &str| -> Result<String, String> {
        let shown = |v: &str| {
            if key == "xmpp_password" {
                "(hidden)".to_string()
            } else {
                format!("{v:?}")
            }
        };
        let v = map.get(key).ok_or_else(|| {
            format!("{p} has no {key}: is it a Fogbow component's configuration?")
        })?;
        if v.trim().is_empty() {
            return Err(format!("{p}: {key} is empty"));
        }
        if v.starts_with('$') || v.contains("${") {
            return Err(format!("{p}: {key} is an unexpanded placeholder {} from Fogbow's example; put the real value in", shown(v)));
        }
        Ok(v.clone())
    };
    let jid = get("xmpp_jid")?;
    let password = get("xmpp_password")?;
    let mut port = (DEFAULT_PORT, None);
    for key in PORT_KEYS {
        if let Some(v) = map.get(key) {
            let n = v
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{p}: {key} = {v:?} is not a port number"))?;
            port = (n, Some(key));
            break;
        }
    }
    let host = HOST_KEYS
        .iter()
        .find_map(|k| map.get(*k))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    let enabled = map
        .get("xmpp_enabled")
        .map(|v| !v.trim().eq_ignore_ascii_case("false"));
    Ok(ComponentProperties {
        jid: jid.trim().to_string(),
        password: password.into_bytes(),
        port,
        host,
        enabled,
    })
}

impl ComponentProperties {
    /// Why the component may still not reach prosody, with what to run.
    pub fn warnings(&self, path: &Path, listener: &Listener) -> Vec<String> {
        let p = path.display();
        let mut out = Vec::new();
        if self.enabled == Some(false) {
            out.push(format!("{p} sets xmpp_enabled=false: the component will not connect to prosody until it is true"));
        }
        let (port, key) = self.port;
        if !listener.ports.contains(&port) {
            let from = key.map_or(String::from("the default"), |k| k.to_string());
            out.push(format!(
                "the component dials port {port} ({from}), but prosody accepts components on {}: run fogbow-xmpp-ctl listen --port {port}",
                listener.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(h) = &self.host {
            let loopback = matches!(h.as_str(), "localhost" | "127.0.0.1" | "::1");
            if !loopback && !listener.remote_reachable() {
                out.push(format!(
                    "the component dials {h}, but prosody accepts components on loopback only: run fogbow-xmpp-ctl listen --interface 0.0.0.0"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Result<ComponentProperties, String> {
        let f =
            std::env::temp_dir().join(format!("fxc-props-{}-{}", std::process::id(), text.len()));
        std::fs::write(&f, text).unwrap();
        let r = read(&f);
        std::fs::remove_file(&f).unwrap();
        r
    }

    #[test]
    fn java_properties_syntax() {
        let p = props(
            "# Fogbow manager.conf\n! also a comment\nxmpp_jid = my-manager.internal.mydomain\nxmpp_password:s3cr\\u00e9t\\\n    continued  \nxmpp_c2c_port 5348\nxmpp_server_ip=10.0.0.5\n",
        )
        .unwrap();
        assert_eq!(p.jid, "my-manager.internal.mydomain");
        assert_eq!(
            p.password,
            "s3cr\u{e9}tcontinued  ".as_bytes(),
            "escapes, continuation, trailing spaces kept"
        );
        assert_eq!(p.port, (5348, Some("xmpp_c2c_port")));
        assert_eq!(p.host.as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn clear_errors() {
        for (text, want) in [
            ("xmpp_password=x\n", "has no xmpp_jid"),
            ("xmpp_jid=a.example\n", "has no xmpp_password"),
            ("xmpp_jid=\nxmpp_password=x\n", "xmpp_jid is empty"),
            (
                "xmpp_jid=$manager.internal.mydomain\nxmpp_password=x\n",
                "unexpanded placeholder \"$manager",
            ),
            (
                "xmpp_jid=a.example\nxmpp_password=$manager_password\n",
                "unexpanded placeholder (hidden)",
            ),
            (
                "xmpp_jid=a.example\nxmpp_password=x\nxmpp_port=http\n",
                "not a port number",
            ),
        ] {
            let e = props(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn warnings_say_what_to_run() {
        let p = props("xmpp_jid=a.example\nxmpp_password=x\nxmpp_c2c_port=5348\nxmpp_enabled=false\nxmpp_host=10.1.2.3\n").unwrap();
        let l = Listener {
            interfaces: vec!["127.0.0.1".into()],
            ports: vec![5347],
            interfaces_default: true,
            ports_default: true,
        };
        let w = p.warnings(Path::new("m.conf"), &l);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].contains("xmpp_enabled=false"));
        assert!(w[1].contains("listen --port 5348"));
        assert!(w[2].contains("listen --interface 0.0.0.0"));
        let open = Listener {
            interfaces: vec!["0.0.0.0".into()],
            ports: vec![5348],
            interfaces_default: false,
            ports_default: false,
        };
        assert_eq!(
            p.warnings(Path::new("m.conf"), &open).len(),
            1,
            "only xmpp_enabled is left"
        );
    }
}
