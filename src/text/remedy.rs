//! The way out a message ends with: the command that applies what is
//! pending (a restart or a reload), and why that one. Every "run
//! fogbow-xmpp-ctl restart" or "reload" the tool says is worded here, so
//! the library hands the remedy on as data and the messages agree; so is
//! the command that makes a component's copy of its secret prosody's
//! ([`SetSecret`]), and the name a component must connect as
//! ([`connect_as`]).

use std::fmt;
use std::path::Path;

/// The command that applies what is pending to the running prosody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// `fogbow-xmpp-ctl restart`.
    Restart,
    /// `fogbow-xmpp-ctl restart`, or the refused edit again with `--restart`.
    RestartOrFlag,
    /// `fogbow-xmpp-ctl reload`.
    Reload,
}

impl Remedy {
    /// The command alone.
    pub(crate) fn command(self) -> &'static str {
        match self {
            Remedy::Restart | Remedy::RestartOrFlag => "fogbow-xmpp-ctl restart",
            Remedy::Reload => "fogbow-xmpp-ctl reload",
        }
    }
}

/// As a message ends with it: `run fogbow-xmpp-ctl restart`.
impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run {}", self.command())?;
        if *self == Remedy::RestartOrFlag {
            f.write_str(" (or use --restart)")?;
        }
        Ok(())
    }
}

/// Why a written edit needs the remedy it is told: the hint after an edit
/// that was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// prosody opens its listeners only when it starts.
    ListenerChange,
    /// A reload starts and stops components (activated through the admin
    /// shell): no restart is needed.
    Converge,
    /// prosody reads credentials only when it starts; where known, why a
    /// reload does not hand them over on this machine.
    CredentialsAtStart(Option<AtStartOnly>),
}

/// Why a credential edit is applied by a restart, not a reload.
const CREDENTIALS_AT_START: &str = "prosody reads credentials only when it starts";

impl Why {
    /// The command that applies it.
    pub(crate) fn remedy(self) -> Remedy {
        match self {
            Why::ListenerChange | Why::CredentialsAtStart(_) => Remedy::Restart,
            Why::Converge => Remedy::Reload,
        }
    }

    /// How to apply a written edit that was not applied.
    pub fn apply_hint(self) -> String {
        let command = self.remedy().command();
        match self {
            Why::CredentialsAtStart(_) => {
                format!("restart needed: {self}; apply it with: {command}")
            }
            Why::ListenerChange | Why::Converge => format!("apply it with: {command} ({self})"),
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::ListenerChange => f.write_str("a listener change needs a restart"),
            Why::Converge => f.write_str("components are started and stopped without a restart"),
            Why::CredentialsAtStart(None) => f.write_str(CREDENTIALS_AT_START),
            Why::CredentialsAtStart(Some(why)) => {
                write!(f, "{CREDENTIALS_AT_START}; {}", why.reason())
            }
        }
    }
}

/// Why a reload cannot hand the running prosody a changed credential, so
/// that only a restart applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtStartOnly {
    /// prosody.service is not active under systemd (a restart starts it).
    NotRunning,
    /// The running systemd has no `RefreshOnReload=` (before 260).
    NoRefresh,
    /// The prosody.service systemd runs lacks `credentials` in its
    /// `RefreshOnReload=` (a drop-in without the line, or one resetting it).
    UnitLacks,
    /// The running prosody was started with no credential: systemd
    /// refreshes only a credentials directory it populated at start.
    StartedWithout,
}

impl AtStartOnly {
    /// The reason, in the words every message uses.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            AtStartOnly::NotRunning => "prosody is not running",
            AtStartOnly::NoRefresh => {
                "this systemd hands a service its credentials at start only (RefreshOnReload= came in systemd 260)"
            }
            AtStartOnly::UnitLacks => {
                "the prosody.service systemd runs has no RefreshOnReload=credentials"
            }
            AtStartOnly::StartedWithout => {
                "the running prosody was started without any credential, and systemd refreshes credentials on reload only for a service started with some"
            }
        }
    }
}

/// How a component `status` lists differs from the running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// Its credential changed since prosody loaded it; a reload applies it.
    ReloadPending,
    /// Its credential changed since prosody started; only a restart applies it.
    RestartPending,
    /// In the file, not active in the running server.
    NotActive,
    /// Active in the running server, not in the file.
    NotInFile,
}

impl Drift {
    /// The command that ends it.
    pub(crate) fn remedy(self) -> Remedy {
        match self {
            Drift::RestartPending => Remedy::Restart,
            Drift::ReloadPending | Drift::NotActive | Drift::NotInFile => Remedy::Reload,
        }
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Drift::ReloadPending => {
                "reload pending: its credential changed since prosody loaded it"
            }
            Drift::RestartPending => {
                "restart pending: its credential changed since prosody started"
            }
            Drift::NotActive => "not active",
            Drift::NotInFile => "not in the file",
        };
        write!(f, "{what}; {}", self.remedy())
    }
}

/// The command that makes a component's own copy of its secret
/// prosody's, applied at once: `add … --replace --reload`.
#[derive(Debug, Clone, Copy)]
pub enum SetSecret<'a> {
    /// `add NAME --secret-file PATH`.
    File { name: &'a str, path: &'a Path },
    /// `add --from-properties PATH`; `None`: the placeholder `FILE`.
    Properties(Option<&'a Path>),
}

impl fmt::Display for SetSecret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetSecret::File { name, path } => write!(
                f,
                "fogbow-xmpp-ctl add {name} --secret-file {}",
                path.display()
            )?,
            SetSecret::Properties(Some(path)) => write!(
                f,
                "fogbow-xmpp-ctl add --from-properties {}",
                path.display()
            )?,
            SetSecret::Properties(None) => {
                f.write_str("fogbow-xmpp-ctl add --from-properties FILE")?
            }
        }
        f.write_str(" --replace --reload")
    }
}

/// The way out for a component whose name is written otherwise than
/// prosody knows it (after nameprep): the one wording of it, said as a
/// note, in `probe`'s hint (and its JSON) and in the error of an
/// activation whose handshake failed.
pub fn connect_as(written: &str, known_as: &str) -> String {
    format!(
        "prosody knows the component {written} as {known_as} (after nameprep), and refuses a component \
         that connects as {written} (host-unknown): configure the component to connect as {known_as}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_secret_replaces_and_reloads() {
        let path = Path::new("/etc/a.secret");
        assert_eq!(
            SetSecret::File {
                name: "a.example",
                path
            }
            .to_string(),
            "fogbow-xmpp-ctl add a.example --secret-file /etc/a.secret --replace --reload"
        );
        assert_eq!(
            SetSecret::Properties(None).to_string(),
            "fogbow-xmpp-ctl add --from-properties FILE --replace --reload"
        );
    }

    #[test]
    fn connect_as_names_both_spellings() {
        assert_eq!(
            connect_as("MiXed.Fog.Test", "mixed.fog.test"),
            "prosody knows the component MiXed.Fog.Test as mixed.fog.test (after nameprep), and refuses a component \
             that connects as MiXed.Fog.Test (host-unknown): configure the component to connect as mixed.fog.test"
        );
    }

    #[test]
    fn remedies_read_as_the_messages_end() {
        assert_eq!(Remedy::Restart.to_string(), "run fogbow-xmpp-ctl restart");
        assert_eq!(
            Remedy::RestartOrFlag.to_string(),
            "run fogbow-xmpp-ctl restart (or use --restart)"
        );
        assert_eq!(Remedy::Reload.to_string(), "run fogbow-xmpp-ctl reload");
    }

    #[test]
    fn apply_hints_name_the_command_and_why() {
        assert_eq!(
            Why::ListenerChange.apply_hint(),
            "apply it with: fogbow-xmpp-ctl restart (a listener change needs a restart)"
        );
        assert_eq!(
            Why::Converge.apply_hint(),
            "apply it with: fogbow-xmpp-ctl reload (components are started and stopped without a restart)"
        );
        assert_eq!(
            Why::CredentialsAtStart(Some(AtStartOnly::NotRunning)).apply_hint(),
            "restart needed: prosody reads credentials only when it starts; prosody is not running; apply it with: fogbow-xmpp-ctl restart"
        );
    }

    #[test]
    fn drift_ends_with_its_remedy() {
        assert_eq!(
            Drift::RestartPending.to_string(),
            "restart pending: its credential changed since prosody started; run fogbow-xmpp-ctl restart"
        );
        assert_eq!(
            Drift::NotInFile.to_string(),
            "not in the file; run fogbow-xmpp-ctl reload"
        );
    }
}
