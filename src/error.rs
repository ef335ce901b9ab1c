//! The library's one error type: what went wrong, as a kind a caller can
//! match (the CLI maps kinds to exit statuses; a test can assert a refusal
//! without reading its text), with the operator-facing message and, where
//! the config explains the failure, its diagnostics.
//!
//! Like cargo-deb's `CargoDebError`, one enum for the whole library whose
//! variants say what failed; unlike it, no variant is a bare `io::Error`:
//! every message already names the path and the way out. The layers below
//! return their own small typed errors (the admin shell's, the service
//! manager's, systemd-creds', the settings'); they become an `Error` with
//! `From` (or with a sentence that says what was being done) and stay
//! reachable through [`std::error::Error::source`].

use std::fmt;
use std::path::PathBuf;

use crate::diagnostics::Diagnostic;
use crate::fogbow::{PropertiesError, SetError};
use crate::prosody::config::LoadError;
use crate::prosody::listener::ListenerError;
use crate::prosody::names::BadName;
use crate::safe_write::WriteError;
use crate::secret::{PromptError, SecretError};
use crate::settings::SettingsError;
use crate::system::credentials::{CredentialError, UnsafeLine};
use crate::system::running::ShellError;
use crate::system::service::{AdminError, ServiceError};
use crate::text::remedy::Remedy;

pub mod refusal;
pub use refusal::Refusal;

#[derive(Debug)]
pub enum Error {
    /// The command was invoked wrongly in a way clap cannot see (no secret
    /// given and no terminal to ask on): exit status 2, like clap's own.
    Usage(PromptError),
    /// An argument or an input file of ours is not acceptable (a name
    /// prosody would refuse, a secret with a newline, a `.properties` file
    /// without `xmpp_jid`).
    Invalid(InputError),
    /// The settings file cannot be read or is wrong.
    Settings(SettingsError),
    /// The config cannot be loaded (unreadable, a syntax error, an Include
    /// loop), so it is neither read nor edited.
    Load {
        message: String,
        /// Where it fails; empty when the message says it all (the main
        /// file cannot be read).
        diagnostics: Vec<Diagnostic>,
        /// Boxed: a LoadError is large, and errors travel by value.
        source: Box<LoadError>,
    },
    /// The edit (or the command) is refused: it would introduce errors,
    /// prosody's loader refuses the result, the config is not as the
    /// command needs it (a VirtualHost of that name, a secret set by code).
    Refused {
        /// What is refused and why, with the typed failure it is about
        /// (boxed: errors travel by value).
        refusal: Box<Refusal>,
        /// The errors the edit would introduce, or prosody's verdict.
        diagnostics: Vec<Diagnostic>,
    },
    /// The component, backup, edit record or secret named does not exist.
    NotFound(Missing),
    /// Reading, locking or safely replacing a file failed.
    Io(WriteError),
    /// The running prosody is not as the command needs it (down, not
    /// converged, a listener change that needs a restart), and the command
    /// that applies what is pending, said after the message.
    Service {
        message: String,
        remedy: Option<Remedy>,
    },
    /// A program of the system failed (systemd, prosodyctl and its admin
    /// shell, systemd-creds): what was being done, and the failure.
    System {
        message: String,
        source: SystemError,
    },
    /// The edit is written, but applying it to the running prosody failed.
    NotApplied(Box<Error>),
}

/// What is wrong with an argument or an input file ([`Error::Invalid`]).
#[derive(Debug)]
pub enum InputError {
    /// A component name prosody would refuse.
    Name(BadName),
    /// The component name is empty.
    EmptyName,
    /// A secret we do not accept, or a secret file we cannot read.
    Secret(SecretError),
    /// The prompt failed, or its two answers differ.
    Prompt(PromptError),
    /// A Fogbow `.properties` file is not read, or not usable.
    Properties(PropertiesError),
    /// A value cannot be written into the `.properties` file at `path`.
    SetProperty { path: PathBuf, source: SetError },
    /// The name given differs from the `xmpp_jid` of the `.properties`
    /// file at `path`.
    JidDiffers {
        name: String,
        jid: String,
        path: PathBuf,
    },
    /// An interface given to `listen` is not an address.
    Interface(ListenerError),
    /// The settings' `component_file` names no file once `{name}` is
    /// replaced.
    ComponentFile { template: String },
}

impl InputError {
    /// The typed error it wraps.
    fn inner(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InputError::Name(e) => Some(e),
            InputError::Secret(e) => Some(e),
            InputError::Prompt(e) => Some(e),
            InputError::Properties(e) => Some(e),
            InputError::SetProperty { source, .. } => Some(source),
            InputError::Interface(e) => Some(e),
            InputError::EmptyName
            | InputError::JidDiffers { .. }
            | InputError::ComponentFile { .. } => None,
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Name(e) => fmt::Display::fmt(e, f),
            InputError::EmptyName => f.write_str("the component name is empty"),
            InputError::Secret(e) => fmt::Display::fmt(e, f),
            InputError::Prompt(e) => fmt::Display::fmt(e, f),
            InputError::Properties(e) => fmt::Display::fmt(e, f),
            InputError::SetProperty { path, source } => write!(f, "{}: {source}", path.display()),
            InputError::JidDiffers { name, jid, path } => write!(
                f,
                "the name {name} differs from xmpp_jid = {jid} in {}",
                path.display()
            ),
            InputError::Interface(e) => fmt::Display::fmt(e, f),
            InputError::ComponentFile { template } => {
                write!(f, "the component file {template:?} names no file")
            }
        }
    }
}

/// What [`Error::NotFound`] did not find.
#[derive(Debug)]
pub enum Missing {
    /// No Component `name` in the config at `config` or its includes, to
    /// remove; `hint` is a "did you mean" (or empty).
    Component {
        name: String,
        config: PathBuf,
        hint: String,
    },
    /// No external Component `name` in the config at `config`; with
    /// `hint` (a "did you mean", or empty), its includes were searched too.
    External {
        name: String,
        config: PathBuf,
        hint: Option<String>,
    },
    /// `backup` is none of the backups of `config` in `dir`.
    Backup {
        backup: PathBuf,
        config: PathBuf,
        dir: PathBuf,
    },
    /// No edit of `config` is recorded in `dir`.
    EditRecord { config: PathBuf, dir: PathBuf },
    /// The component `name` has no `component_secret` to `to` ("replace",
    /// "probe with").
    Secret { name: String, to: &'static str },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Component { name, config, hint } => write!(
                f,
                "there is no Component {name} in {} or the files it includes{hint} (use --if-exists to accept that)",
                config.display()
            ),
            Missing::External { name, config, hint: None } => {
                write!(f, "there is no external Component {name} in {}", config.display())
            }
            Missing::External { name, config, hint: Some(hint) } => write!(
                f,
                "there is no external Component {name} in {} or its includes{hint}",
                config.display()
            ),
            Missing::Backup { backup, config, dir } => write!(
                f,
                "{} is not a backup of {} or of a file of its config that our edits touched, in {} (see restore --list)",
                backup.display(),
                config.display(),
                dir.display()
            ),
            Missing::EditRecord { config, dir } => write!(
                f,
                "no edit of {} by fogbow-xmpp-ctl is recorded in {} (edits are recorded with their backups; backups = 0 keeps none); see restore --list",
                config.display(),
                dir.display()
            ),
            Missing::Secret { name, to } => write!(f, "{name} has no component_secret to {to}"),
        }
    }
}

/// The failures of the programs [`Error::System`] carries.
#[derive(Debug)]
pub enum SystemError {
    /// prosody's admin shell gave no answer.
    Shell(ShellError),
    /// An admin shell command was not done.
    Admin(AdminError),
    /// The service manager did not restart or reload prosody.
    Service(ServiceError),
    /// A credential was not encrypted or decrypted.
    Credential(CredentialError),
}

impl fmt::Display for SystemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystemError::Shell(e) => fmt::Display::fmt(e, f),
            SystemError::Admin(e) => fmt::Display::fmt(e, f),
            SystemError::Service(e) => fmt::Display::fmt(e, f),
            SystemError::Credential(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl SystemError {
    /// The typed error it wraps.
    fn inner(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            SystemError::Shell(e) => e,
            SystemError::Admin(e) => e,
            SystemError::Service(e) => e,
            SystemError::Credential(e) => e,
        }
    }
}

impl std::error::Error for SystemError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SystemError::Shell(e) => e.source(),
            SystemError::Admin(e) => e.source(),
            SystemError::Service(e) => e.source(),
            SystemError::Credential(e) => e.source(),
        }
    }
}

impl From<ShellError> for SystemError {
    fn from(e: ShellError) -> SystemError {
        SystemError::Shell(e)
    }
}

impl From<CredentialError> for SystemError {
    fn from(e: CredentialError) -> SystemError {
        SystemError::Credential(e)
    }
}

impl From<ServiceError> for SystemError {
    fn from(e: ServiceError) -> SystemError {
        SystemError::Service(e)
    }
}

impl From<AdminError> for SystemError {
    fn from(e: AdminError) -> SystemError {
        SystemError::Admin(e)
    }
}

/// A failure of the system as the error itself: its own words.
macro_rules! system_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::system(e.to_string(), e)
            }
        }
    )*};
}

system_error_from!(ShellError, AdminError, ServiceError, CredentialError);

impl Error {
    /// A refusal, with no diagnostics.
    pub(crate) fn refused(refusal: impl Into<Refusal>) -> Error {
        Error::refused_with(refusal, Vec::new())
    }

    /// A refusal, explained by `diagnostics`.
    pub(crate) fn refused_with(refusal: impl Into<Refusal>, diagnostics: Vec<Diagnostic>) -> Error {
        Error::Refused {
            refusal: Box::new(refusal.into()),
            diagnostics,
        }
    }

    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    /// A failure of the system, told as `message` (which names it).
    pub(crate) fn system(message: impl Into<String>, source: impl Into<SystemError>) -> Error {
        Error::System {
            message: message.into(),
            source: source.into(),
        }
    }

    /// The diagnostics that explain the failure, to show before its message.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Load { diagnostics, .. } | Error::Refused { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(e) => fmt::Display::fmt(e, f),
            Error::Invalid(e) => fmt::Display::fmt(e, f),
            Error::NotFound(e) => fmt::Display::fmt(e, f),
            Error::Service {
                message: m,
                remedy: None,
            }
            | Error::System { message: m, .. }
            | Error::Load { message: m, .. } => f.write_str(m),
            Error::Refused { refusal, .. } => fmt::Display::fmt(refusal, f),
            Error::Service {
                message,
                remedy: Some(r),
            } => write!(f, "{message}: {r}"),
            Error::Io(e) => fmt::Display::fmt(e, f),
            Error::Settings(e) => fmt::Display::fmt(e, f),
            Error::NotApplied(e) => write!(
                f,
                "the config is written, but it is not applied to the running prosody: {e}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Load { source, .. } => Some(source.as_ref()),
            Error::Io(e) => Some(e),
            Error::Settings(e) => Some(e),
            Error::NotApplied(e) => Some(e.as_ref()),
            Error::System { source, .. } => Some(source.inner()),
            Error::Usage(e) => Some(e),
            Error::Invalid(e) => e.inner(),
            Error::Refused { refusal, .. } => refusal.cause(),
            Error::NotFound(_) | Error::Service { .. } => None,
        }
    }
}

impl From<PromptError> for Error {
    /// No terminal to ask on is a usage error (no secret was given); a
    /// failed or mismatched answer is an unacceptable input.
    fn from(e: PromptError) -> Error {
        match e {
            PromptError::NoTerminal => Error::Usage(e),
            PromptError::Read(_) | PromptError::Differ => Error::Invalid(InputError::Prompt(e)),
        }
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Error {
        Error::Invalid(e)
    }
}

/// A name prosody would refuse is an unacceptable input.
impl From<BadName> for Error {
    fn from(e: BadName) -> Error {
        Error::Invalid(InputError::Name(e))
    }
}

/// A secret we do not accept (or cannot read) is an unacceptable input.
impl From<SecretError> for Error {
    fn from(e: SecretError) -> Error {
        Error::Invalid(InputError::Secret(e))
    }
}

/// A `.properties` file we cannot use is an unacceptable input.
impl From<PropertiesError> for Error {
    fn from(e: PropertiesError) -> Error {
        Error::Invalid(InputError::Properties(e))
    }
}

impl From<Missing> for Error {
    fn from(e: Missing) -> Error {
        Error::NotFound(e)
    }
}

impl From<UnsafeLine> for Error {
    fn from(e: UnsafeLine) -> Error {
        Error::refused(refusal::Credential::UnsafeLine(e))
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Error {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::path::{Path, PathBuf};

    use super::*;

    /// The source of `e`, as the typed error `T`.
    fn source_is<T: std::error::Error + 'static>(e: &Error) -> &T {
        e.source()
            .and_then(|s| s.downcast_ref::<T>())
            .unwrap_or_else(|| panic!("{e:?}: no source of the expected type"))
    }

    #[test]
    fn invalid_inputs_keep_their_typed_error() {
        let e = Error::from(crate::prosody::names::validate("a b").unwrap_err());
        assert_eq!(source_is::<BadName>(&e).name, "a b");
        let e = Error::from(crate::secret::validate(b"").unwrap_err());
        assert!(matches!(source_is::<SecretError>(&e), SecretError::Empty));
        let e = Error::from(PromptError::Differ);
        assert!(matches!(source_is::<PromptError>(&e), PromptError::Differ));
        let missing = Path::new("/nonexistent/fogbow.properties");
        let e = Error::from(crate::fogbow::read(missing).unwrap_err());
        assert!(matches!(
            source_is::<PropertiesError>(&e),
            PropertiesError::Missing(p) if p == missing
        ));
        let e = Error::from(InputError::SetProperty {
            path: PathBuf::from("f.properties"),
            source: SetError::WouldChange { key: "k".into() },
        });
        assert!(matches!(
            source_is::<SetError>(&e),
            SetError::WouldChange { .. }
        ));
        assert!(e
            .to_string()
            .starts_with("f.properties: setting k would change"));
        let e = Error::from(InputError::Interface(ListenerError::NotAnAddress(
            "x".into(),
        )));
        assert!(matches!(
            source_is::<ListenerError>(&e),
            ListenerError::NotAnAddress(_)
        ));
        // What wraps nothing has no source.
        assert!(Error::from(InputError::EmptyName).source().is_none());
    }

    #[test]
    fn usage_keeps_the_prompt_error() {
        let e = Error::from(PromptError::NoTerminal);
        assert!(matches!(e, Error::Usage(_)));
        assert!(matches!(
            source_is::<PromptError>(&e),
            PromptError::NoTerminal
        ));
        assert_eq!(e.to_string(), PromptError::NoTerminal.to_string());
    }

    #[test]
    fn refusals_keep_their_typed_cause() {
        let e = Error::refused(refusal::Listen::Unreadable {
            error: ListenerError::NoValue { name: "ports" },
            at: None,
        });
        assert_eq!(e.to_string(), "ports has no value");
        assert!(matches!(
            source_is::<ListenerError>(&e),
            ListenerError::NoValue { .. }
        ));
        let e = Error::refused(refusal::Migrate::Unusable {
            cred: "c".into(),
            name: "a.example".into(),
            error: SecretError::Empty,
        });
        assert!(matches!(source_is::<SecretError>(&e), SecretError::Empty));
        let load = LoadError::Unreadable {
            path: PathBuf::from("/etc/prosody/prosody.cfg.lua"),
            from: None,
            message: "gone".into(),
            kind: std::io::ErrorKind::NotFound,
        };
        let e = Error::refused(refusal::Edit::DoesNotLoadEdited {
            restoring: true,
            error: Box::new(load.clone()),
        });
        assert_eq!(source_is::<LoadError>(&e), &load);
        let e = Error::refused(refusal::Edit::BrokenAndUnasked {
            message: "no answer".into(),
            errors: 1,
            error: ShellError::NoAnswer {
                said: "down".into(),
            },
        });
        assert!(matches!(
            source_is::<ShellError>(&e),
            ShellError::NoAnswer { .. }
        ));
        assert!(matches!(
            e.refusal(),
            Some(Refusal::Edit(refusal::Edit::BrokenAndUnasked {
                errors: 1,
                ..
            }))
        ));
        assert!(Error::refused(refusal::Edit::DoesNotLoad)
            .source()
            .is_none());
    }

    #[test]
    fn system_failures_keep_the_program_error() {
        let e = Error::from(ShellError::NoAnswer {
            said: "down".into(),
        });
        assert!(matches!(
            source_is::<ShellError>(&e),
            ShellError::NoAnswer { .. }
        ));
        assert_eq!(e.to_string(), e.source().unwrap().to_string());
    }

    #[test]
    fn not_found_says_what_is_missing() {
        let e = Error::from(Missing::Secret {
            name: "a.example".into(),
            to: "probe with",
        });
        assert_eq!(
            e.to_string(),
            "a.example has no component_secret to probe with"
        );
        let e = Error::from(Missing::External {
            name: "a.example".into(),
            config: PathBuf::from("/p.cfg.lua"),
            hint: None,
        });
        assert_eq!(
            e.to_string(),
            "there is no external Component a.example in /p.cfg.lua"
        );
        assert!(e.source().is_none());
    }
}
