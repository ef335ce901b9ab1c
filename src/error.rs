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

use crate::diagnostics::Diagnostic;
use crate::prosody::config::LoadError;
use crate::safe_write::WriteError;
use crate::secret::PromptError;
use crate::settings::SettingsError;
use crate::system::credentials::{CredentialError, UnsafeLine};
use crate::system::running::ShellError;
use crate::system::service::{AdminError, ServiceError};
use crate::text::remedy::Remedy;

#[derive(Debug)]
pub enum Error {
    /// The command was invoked wrongly in a way clap cannot see (no secret
    /// given and no terminal to ask on): exit status 2, like clap's own.
    Usage(String),
    /// An argument or an input file of ours is not acceptable (a name
    /// prosody would refuse, a secret with a newline, a `.properties` file
    /// without `xmpp_jid`).
    Invalid(String),
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
        message: String,
        /// The errors the edit would introduce, or prosody's verdict.
        diagnostics: Vec<Diagnostic>,
    },
    /// The component or backup named does not exist.
    NotFound(String),
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
    pub(crate) fn refused(message: impl Into<String>) -> Error {
        Error::Refused {
            message: message.into(),
            diagnostics: Vec::new(),
        }
    }

    /// A failure of the system, told as `message` (which names it).
    pub fn system(message: impl Into<String>, source: impl Into<SystemError>) -> Error {
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
            Error::Usage(m)
            | Error::Invalid(m)
            | Error::NotFound(m)
            | Error::Service {
                message: m,
                remedy: None,
            }
            | Error::System { message: m, .. }
            | Error::Load { message: m, .. }
            | Error::Refused { message: m, .. } => f.write_str(m),
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
            Error::System { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<PromptError> for Error {
    /// No terminal to ask on is a usage error (no secret was given); a
    /// failed or mismatched answer is an unacceptable input.
    fn from(e: PromptError) -> Error {
        match e {
            PromptError::NoTerminal => Error::Usage(e.to_string()),
            PromptError::Read(_) | PromptError::Differ => Error::Invalid(e.to_string()),
        }
    }
}

impl From<UnsafeLine> for Error {
    fn from(e: UnsafeLine) -> Error {
        Error::refused(e.0)
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Error {
        Error::Io(e)
    }
}
