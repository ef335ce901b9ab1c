//! The operator's sentence for each note and event the library reports
//! ([`Note`], [`Event`], [`PropertiesWarning`]): their wording is here.
//! Three sentences are the library's because its own messages need them
//! too: what the service manager did (`system::service::Applied`, also in
//! the restart's error), the spelling to connect as
//! (`text::remedy::connect_as`, also in probe's JSON hint) and a pending
//! credential (`ops::pending_text`, also in reload's error and status).

use std::path::Path;

use fogbow_xmpp_ctl::diagnostics::Note;
use fogbow_xmpp_ctl::fogbow::PropertiesWarning;
use fogbow_xmpp_ctl::ops::{self, Event};
use fogbow_xmpp_ctl::prosody::listener::Misplaced;
use fogbow_xmpp_ctl::text::remedy::{self, Why};

/// `note`'s sentence (one line, without its `note:`/`warning:` prefix).
pub fn note(n: &Note) -> String {
    match n {
        Note::ConfigReadable { file, name, why } => format!(
            "{} is readable by others ({why}): they can read the secret of {name}; chmod o-r it (and setfacl -x any such entry)",
            file.display()
        ),
        Note::PropertiesReadable { file, jid, why } => format!(
            "{} is readable by others ({why}): they can read the secret of {jid}; chmod o-r it",
            file.display()
        ),
        Note::ProvedOnWrite { opaque, name } => format!(
            "{opaque}; when the edit is written, prosody's own loader first proves that prosody reads the component_secret written for {name} and that nothing else changes"
        ),
        Note::NotLoaded { error } => {
            format!("the edit was not loaded with prosody's own loader: {error}")
        }
        Note::NotRecorded { error } => format!(
            "the edit is written, but not recorded, so restore --undo cannot undo it: {error}"
        ),
        Note::DropInNotReloaded { drop_in, error } => format!(
            "the drop-in {} changed, but {error}: run systemctl daemon-reload before restarting prosody",
            drop_in.display()
        ),
        Note::BackupsNotScrubbed { error } => {
            format!("the backups were not scrubbed of the old secret: {error}")
        }
        Note::BackupNotScrubbed { backup, cred, error } => format!(
            "the backup {} still holds the old secret of {cred} and could not be scrubbed ({error}); delete it",
            backup.display()
        ),
        Note::RecordNotUpdated { record, error } => {
            format!("the edit record {} was not updated: {error}", record.display())
        }
        Note::SecretsMayDiffer { opaque } => format!(
            "{opaque}; a component_secret shown here (or its absence) may not be what prosody uses"
        ),
        Note::SecretOpaque { opaque } => opaque.to_string(),
        Note::IncludeNotListed { file, line } => format!(
            "{}: Include with a computed path; its components are not listed",
            at(file, *line)
        ),
        Note::CallInBlock { file, line, callee } => format!(
            "{}: {callee} inside a block (if/for/function); not listed",
            at(file, *line)
        ),
        Note::SecretOverridden { name, used, unused } => format!(
            "{name}: prosody uses the component_secret at {}; the one at {} is never used (fogbow-xmpp-ctl check)",
            at(&used.0, used.1),
            at(&unused.0, unused.1)
        ),
        Note::IncludeComputed { file, line } => format!(
            "{}: an Include with a computed path is checked only by prosody's own loader",
            at(file, *line)
        ),
        Note::ProsodyNotInstalled => "prosody is not installed: the config was not loaded with prosody's own configmanager".into(),
        Note::MovedToGlobal { from, to } => format!(
            "{}, where prosody ignores it, goes to the global section as {to}",
            from.iter().map(misplaced).collect::<Vec<_>>().join(", ")
        ),
        Note::NearName { name, other, file, line, written } => format!(
            "{name} is a new component, one or two characters away from the external component {other} at {}; \
             if you meant that one: fogbow-xmpp-ctl remove {name}, then fogbow-xmpp-ctl add {other} --replace",
            host_at(file, *line, written.as_deref())
        ),
        // Worded in the library: probe's hint and an error say it too.
        Note::ConnectAs { written, known_as } => remedy::connect_as(written, known_as),
    }
}

/// `event`'s sentence: one step of a guarded restart or reload.
pub fn event(e: &Event) -> String {
    match e {
        Event::Service(done) => done.to_string(),
        Event::RestartingForCredentials(why) => format!(
            "restarting instead of reloading: {}",
            Why::CredentialsAtStart(*why)
        ),
        Event::ConvergingInstead => "the file is unchanged: reloading and converging instead of restarting (connected components stay connected)".into(),
        Event::ListenerAccepting { targets } => format!(
            "component listener accepting connections on {}",
            targets.join(", ")
        ),
        Event::NotExternal { name, kind } => format!(
            "{name} runs as a {} in prosody, not as an external component: restart prosody to apply",
            kind.as_deref().unwrap_or("VirtualHost")
        ),
        Event::Activated { name } => format!("activated {name} in the running prosody"),
        Event::ActivatedAccepted { name } => {
            format!("activated {name} in the running prosody; a handshake is accepted")
        }
        Event::ActivatedNotProbed { name, error } => {
            format!("activated {name} in the running prosody (not probed: {error})")
        }
        Event::Deactivated { name } => format!(
            "deactivated {name} in the running prosody: new connections are refused; one already connected stays until it disconnects or prosody restarts"
        ),
        Event::NotDeactivated { name } => format!(
            "{name} runs but is not among the literal names of the file; not deactivated: the config has a component name or Include path computed by an expression"
        ),
        Event::SecretAccepted { name } => {
            format!("the running prosody accepts the new secret of {name}")
        }
        // The library's sentence: reload's and status' messages say it too.
        Event::StillPending { pending } => ops::pending_text(pending),
    }
}

/// A `.properties` warning's sentence (without its `warning:` prefix):
/// why the component may still not reach prosody, and what to run.
pub fn properties_warning(w: &PropertiesWarning) -> String {
    match w {
        PropertiesWarning::Disabled { file } => format!(
            "{} sets xmpp_enabled=false: the component will not connect to prosody until it is true",
            file.display()
        ),
        PropertiesWarning::Closed { why, port } => format!(
            "{why}: run fogbow-xmpp-ctl listen --port {port} (and --interface, if it is the interfaces)"
        ),
        PropertiesWarning::OtherPort {
            port,
            key,
            accepted,
        } => {
            let from = key.unwrap_or("the default");
            // `listen --port` replaces the list: keep the ports other
            // components already dial, and add this one.
            let keep: String = accepted
                .iter()
                .chain([port])
                .map(|p| format!(" --port {p}"))
                .collect();
            let accepted: Vec<String> = accepted.iter().map(u16::to_string).collect();
            format!(
                "the component dials port {port} ({from}), but prosody accepts components on {}: run fogbow-xmpp-ctl listen{keep}",
                accepted.join(", ")
            )
        }
        PropertiesWarning::LoopbackOnly { host } => format!(
            "the component dials {host}, but prosody accepts components on loopback only: run fogbow-xmpp-ctl listen --interface 0.0.0.0"
        ),
    }
}

/// `FILE:LINE`.
fn at(file: &Path, line: usize) -> String {
    format!("{}:{line}", file.display())
}

/// Where a host's block is, with its spelling there when that is not the
/// name it was found by.
fn host_at(file: &Path, line: usize, written: Option<&str>) -> String {
    match written {
        Some(n) => format!(
            "{} (written {n:?}: the same host after prosody's nameprep)",
            at(file, line)
        ),
        None => at(file, line),
    }
}

/// A listener option set in a section: `OPTION at FILE:LINE (under SECTION)`.
fn misplaced(m: &Misplaced) -> String {
    format!(
        "{} at {} (under {})",
        m.option,
        at(&m.file, m.line),
        m.section
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use fogbow_xmpp_ctl::text::remedy::AtStartOnly;

    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn events_say_what_was_done() {
        let name = || "m.example".to_string();
        assert_eq!(
            event(&Event::ListenerAccepting {
                targets: vec!["127.0.0.1:5347".into(), "[::1]:5347".into()]
            }),
            "component listener accepting connections on 127.0.0.1:5347, [::1]:5347"
        );
        assert_eq!(
            event(&Event::NotExternal {
                name: name(),
                kind: None
            }),
            "m.example runs as a VirtualHost in prosody, not as an external component: restart prosody to apply"
        );
        assert_eq!(
            event(&Event::Activated { name: name() }),
            "activated m.example in the running prosody"
        );
        assert_eq!(
            event(&Event::ActivatedAccepted { name: name() }),
            "activated m.example in the running prosody; a handshake is accepted"
        );
        assert_eq!(
            event(&Event::ActivatedNotProbed {
                name: name(),
                error: "E".into()
            }),
            "activated m.example in the running prosody (not probed: E)"
        );
        assert_eq!(
            event(&Event::Deactivated { name: name() }),
            "deactivated m.example in the running prosody: new connections are refused; one already connected stays until it disconnects or prosody restarts"
        );
        assert_eq!(
            event(&Event::NotDeactivated { name: name() }),
            "m.example runs but is not among the literal names of the file; not deactivated: the config has a component name or Include path computed by an expression"
        );
        assert_eq!(
            event(&Event::SecretAccepted { name: name() }),
            "the running prosody accepts the new secret of m.example"
        );
        assert_eq!(
            event(&Event::ConvergingInstead),
            "the file is unchanged: reloading and converging instead of restarting (connected components stay connected)"
        );
        assert_eq!(
            event(&Event::RestartingForCredentials(Some(AtStartOnly::NotRunning))),
            "restarting instead of reloading: prosody reads credentials only when it starts; prosody is not running"
        );
    }

    #[test]
    fn properties_warnings_say_what_to_run() {
        assert_eq!(
            properties_warning(&PropertiesWarning::Disabled {
                file: p("m.conf")
            }),
            "m.conf sets xmpp_enabled=false: the component will not connect to prosody until it is true"
        );
        assert_eq!(
            properties_warning(&PropertiesWarning::Closed {
                why: "W".into(),
                port: 5348
            }),
            "W: run fogbow-xmpp-ctl listen --port 5348 (and --interface, if it is the interfaces)"
        );
        let other = |key| PropertiesWarning::OtherPort {
            port: 5348,
            key,
            accepted: vec![5347, 5349],
        };
        assert_eq!(
            properties_warning(&other(Some("xmpp_c2c_port"))),
            "the component dials port 5348 (xmpp_c2c_port), but prosody accepts components on 5347, 5349: \
             run fogbow-xmpp-ctl listen --port 5347 --port 5349 --port 5348"
        );
        assert!(properties_warning(&other(None)).contains("port 5348 (the default), but"));
        assert_eq!(
            properties_warning(&PropertiesWarning::LoopbackOnly {
                host: "10.1.2.3".into()
            }),
            "the component dials 10.1.2.3, but prosody accepts components on loopback only: run fogbow-xmpp-ctl listen --interface 0.0.0.0"
        );
    }

    #[test]
    fn connect_as_names_the_form_to_connect_with() {
        let n = Note::ConnectAs {
            written: "MiXed.Fog.Test".into(),
            known_as: "mixed.fog.test".into(),
        };
        let note = note(&n);
        assert!(note.ends_with("connect as mixed.fog.test"), "{note}");
    }

    #[test]
    fn places_read_file_colon_line() {
        assert_eq!(
            note(&Note::IncludeNotListed {
                file: p("/e/a.lua"),
                line: 3
            }),
            "/e/a.lua:3: Include with a computed path; its components are not listed"
        );
        assert_eq!(
            note(&Note::IncludeComputed {
                file: p("/e/a.lua"),
                line: 3
            }),
            "/e/a.lua:3: an Include with a computed path is checked only by prosody's own loader"
        );
        assert_eq!(
            note(&Note::CallInBlock {
                file: p("/e/a.lua"),
                line: 9,
                callee: "Component".into()
            }),
            "/e/a.lua:9: Component inside a block (if/for/function); not listed"
        );
        assert_eq!(
            note(&Note::SecretOverridden {
                name: "x.example".into(),
                used: (p("/e/b.lua"), 7),
                unused: (p("/e/a.lua"), 2),
            }),
            "x.example: prosody uses the component_secret at /e/b.lua:7; the one at /e/a.lua:2 is never used (fogbow-xmpp-ctl check)"
        );
    }

    #[test]
    fn a_near_name_says_where_and_how_it_is_written() {
        let near = |written: Option<&str>| {
            note(&Note::NearName {
                name: "mydomian".into(),
                other: "mydomain".into(),
                file: p("/e/p.cfg.lua"),
                line: 4,
                written: written.map(String::from),
            })
        };
        assert_eq!(
            near(None),
            "mydomian is a new component, one or two characters away from the external component mydomain at /e/p.cfg.lua:4; \
             if you meant that one: fogbow-xmpp-ctl remove mydomian, then fogbow-xmpp-ctl add mydomain --replace"
        );
        assert!(near(Some("MyDomain")).contains(
            "at /e/p.cfg.lua:4 (written \"MyDomain\": the same host after prosody's nameprep); if"
        ));
    }

    #[test]
    fn moved_options_are_listed_as_written() {
        let m = |option: &str, line| Misplaced {
            option: option.into(),
            file: p("/e/p.cfg.lua"),
            line,
            section: "Component \"x.example\"".into(),
        };
        assert_eq!(
            note(&Note::MovedToGlobal {
                from: vec![m("component_ports", 3), m("component_ports", 8)],
                to: "component_ports",
            }),
            "component_ports at /e/p.cfg.lua:3 (under Component \"x.example\"), component_ports at /e/p.cfg.lua:8 \
             (under Component \"x.example\"), where prosody ignores it, goes to the global section as component_ports"
        );
    }

    #[test]
    fn failures_after_the_write_carry_their_error() {
        assert_eq!(
            note(&Note::BackupNotScrubbed {
                backup: p("/b/x.bak"),
                cred: "c".into(),
                error: "EIO".into()
            }),
            "the backup /b/x.bak still holds the old secret of c and could not be scrubbed (EIO); delete it"
        );
        assert_eq!(
            note(&Note::ProsodyNotInstalled),
            "prosody is not installed: the config was not loaded with prosody's own configmanager"
        );
        assert_eq!(
            note(&Note::PropertiesReadable {
                file: p("/f/m.conf"),
                jid: "m.example".into(),
                why: "mode 0644".into()
            }),
            "/f/m.conf is readable by others (mode 0644): they can read the secret of m.example; chmod o-r it"
        );
    }
}
