//! What a guarded restart or reload did, step by step, as data (names,
//! outcomes, what the service manager did): ops reports each through
//! `Progress`, and the binary words it (`src/words.rs`).

use crate::system::running::PendingRestart;
use crate::system::service::Applied;
use crate::text::remedy::AtStartOnly;

/// One step of bringing the running prosody to the file, or what was done
/// instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The service manager restarted or reloaded prosody.
    Service(Applied),
    /// A restart is made instead of the reload asked for: a credential
    /// changed that a reload cannot hand to prosody (why, where known).
    RestartingForCredentials(Option<AtStartOnly>),
    /// `--restart` of a component edit that left the file unchanged: a
    /// reload with the components converged instead.
    ConvergingInstead,
    /// After a restart: the component listener accepts connections on
    /// these `HOST:PORT` targets.
    ListenerAccepting { targets: Vec<String> },
    /// The file's component `name` runs in prosody as a host of another
    /// kind (`None`: a VirtualHost): only a restart applies it.
    NotExternal { name: String, kind: Option<String> },
    /// The external component `name` was activated in the running prosody.
    Activated { name: String },
    /// The added component `name` was activated and a handshake with its
    /// secret is accepted.
    ActivatedAccepted { name: String },
    /// The added component `name` was activated but not probed, for the
    /// reason `error`.
    ActivatedNotProbed { name: String, error: String },
    /// `name` runs but the file no longer declares it: deactivated.
    Deactivated { name: String },
    /// `name` runs and is not among the file's literal names, but a name
    /// computed by an expression may declare it: left running.
    NotDeactivated { name: String },
    /// After a replace: the running prosody accepts the new secret of `name`.
    SecretAccepted { name: String },
    /// After a reload that applied the edit: credentials changed earlier
    /// that are still not in the running prosody.
    StillPending { pending: Vec<PendingRestart> },
}
