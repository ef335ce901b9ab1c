//! Why a command refuses ([`Refusal`], under [`Error::Refused`]): each
//! kind with its data, in families (an edit, a component, the listener, an
//! undo, a credential, a migration, a probe), worded here and nowhere
//! else, so a caller or a test tells one refusal from another by its
//! variant.
//!
//! [`Error::Refused`]: super::Error::Refused

use std::fmt;
use std::path::PathBuf;

use crate::prosody::config::LoadError;
use crate::prosody::listener::ListenerError;
use crate::secret::SecretError;
use crate::system::credentials::{CredentialError, UnsafeLine, Unsupported};
use crate::system::running::ShellError;
use crate::text::remedy::Remedy;

/// What a command refuses to do, and why.
#[derive(Debug)]
pub enum Refusal {
    Edit(Edit),
    /// The edit would not do what it says: our bug.
    Unintended(Unintended),
    Component(Component),
    Listen(Listen),
    /// The edit's proof by prosody's own loader cannot be made or fails.
    Unproven {
        /// Why the config needs the proof (the code that sets options).
        why: String,
        name: String,
        failure: Unproven,
    },
    Undo(Undo),
    Credential(Credential),
    Migrate(Migrate),
    Probe(Probe),
}

/// An edit (or a restart, a reload) refused as a whole.
#[derive(Debug)]
pub enum Edit {
    /// The config does not load (no load error is at hand to say why).
    DoesNotLoad,
    /// The edit would add errors to the config (the diagnostics say which).
    NewErrors,
    /// prosody's own loader refuses the edited config and loads the current one.
    LoaderRefuses,
    /// The restored backup of `file` still leaves the config unloadable.
    RestoreStillBroken {
        file: PathBuf,
        error: Box<LoadError>,
    },
    /// The edited config (or the backup in its place, `restoring`) would
    /// not load.
    DoesNotLoadEdited {
        restoring: bool,
        error: Box<LoadError>,
    },
    /// A file of the edit changed on disk since it was read.
    ChangedSinceRead { path: PathBuf },
    /// A component would go to `path`, a file no Include of `main` covers;
    /// `new_file`: the edit would create it.
    NotIncluded {
        path: PathBuf,
        main: PathBuf,
        hint: String,
        new_file: bool,
    },
    /// The config has errors: `verb` (restart, reload) is not run.
    ConfigHasErrors { verb: &'static str, running: bool },
    /// The admin shell did not answer (as `message` says) and the config
    /// is broken: its `errors` are the first thing to fix.
    BrokenAndUnasked {
        message: String,
        errors: usize,
        error: ShellError,
    },
}

/// After the edit, the config would not be as intended.
#[derive(Debug)]
pub enum Unintended {
    /// `name` would not be present (or absent).
    Presence { name: String, present: bool },
    /// The listener would not be the one asked for.
    Listener,
    /// `name` would not read the credential `cred` as `action` intends.
    Credential {
        name: String,
        cred: String,
        action: &'static str,
    },
    /// `name` would not have its secret as a string.
    Literal { name: String },
}

/// The config is not as an edit of a component needs it.
#[derive(Debug)]
pub enum Component {
    /// A `local component_secret` at `local` (line, column) of `path`
    /// shadows the option: the assignment at `assignment`, or every later one.
    LocalSecret {
        path: PathBuf,
        local: (usize, usize),
        assignment: Option<(usize, usize)>,
    },
    /// `name` is a VirtualHost (at `at`); `removing` it, or adding a
    /// Component of its name.
    VirtualHost {
        name: String,
        at: String,
        removing: bool,
    },
    /// `name` is a plugin component (at `at`): its `module` when adding,
    /// `None` when removing.
    Plugin {
        name: String,
        at: String,
        module: Option<String>,
    },
    /// The component_secret of `name` (at `at`) is an expression.
    Expression { name: String, at: String },
    /// `name` exists at `at` with a different secret (in the encrypted
    /// credential `credential`), and `--replace` was not given.
    SecretDiffers {
        name: String,
        at: String,
        credential: Option<PathBuf>,
    },
    /// The block of `name` cannot be cut out of `path` at `line`:`col`.
    UnsafeRemoval {
        name: String,
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
}

/// The listener options are not as `listen` (or a reader) needs them.
#[derive(Debug)]
pub enum Listen {
    /// They cannot be told (at `at`, when it is known).
    Unreadable {
        error: ListenerError,
        at: Option<String>,
    },
    /// The option `name` at `at` is set with other options.
    Shared { name: String, at: String },
    /// The option `name` at `at` is not a list of constants.
    NotConstant {
        name: String,
        at: String,
        flag: String,
    },
    /// The option `name` is set differently at `first` and `second`.
    Differs {
        name: String,
        first: String,
        second: String,
        flag: String,
    },
    /// The option `name` is set in an included file.
    Included {
        name: String,
        path: PathBuf,
        line: usize,
    },
    /// A statement at `line` (of `path`, if not the main file) sets
    /// several options.
    SeveralOptions { path: Option<PathBuf>, line: usize },
}

/// Why prosody's own loader cannot prove an edit of a component.
#[derive(Debug)]
pub enum Unproven {
    NotInstalled,
    /// It refuses the `which` (current, edited) config.
    Refuses {
        which: &'static str,
        message: String,
    },
    /// It could not be run.
    NotRun(String),
    /// The edit would also change this option.
    AlsoChanges(String),
    StillFound,
    NotLiteral,
    OtherSecret,
    AlreadySet,
}

/// `restore --undo` of `what` refused.
#[derive(Debug)]
pub enum Undo {
    /// An undo would lose a change made to `path` since the edit.
    Drift {
        path: PathBuf,
        since: Since,
        time: String,
        command: String,
        name: String,
    },
    /// The backup of `path` is unusable.
    BackupUnusable {
        what: String,
        path: PathBuf,
        message: String,
    },
    /// `path`, which the undo would restore, is no longer read.
    NotIncluded { what: String, path: PathBuf },
    /// `name` no longer reads its secret from a credential.
    NoCredential { what: String, name: String },
    /// The credential kept for the undo cannot be decrypted.
    Decrypt {
        what: String,
        error: CredentialError,
    },
    /// The file `path` outside the config cannot be put back: its backup
    /// is unusable (`why`), or there is none (`None`).
    Outside {
        what: String,
        path: PathBuf,
        why: Option<String>,
    },
}

/// How a file differs from what an edit wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Changed,
    Removed,
    CreatedAgain,
}

/// A credential not written.
#[derive(Debug)]
pub enum Credential {
    /// `cred` of `name` is read by `other` too (at `path`:`line`).
    Taken {
        cred: String,
        name: String,
        other: String,
        path: PathBuf,
        line: usize,
    },
    /// The file of `cred` exists, and no secret of `name` reads it.
    Exists {
        cred: String,
        name: String,
        path: PathBuf,
    },
    /// Credentials cannot be written here, for `what`.
    Unsupported { what: String, lack: Lack },
    /// It was not encrypted.
    Encrypt(CredentialError),
    /// The secret of `name` (at `path`:`line`) reads the credential name
    /// `cred`, which we do not write (`why`).
    ForeignName {
        name: String,
        path: PathBuf,
        line: usize,
        cred: String,
        why: String,
    },
    /// `place` would read `cred`, whose file `path` is gone.
    Gone {
        place: String,
        cred: String,
        path: PathBuf,
    },
    /// `call` reads a credential name `cred` the drop-in cannot hold.
    BadName {
        call: String,
        cred: String,
        why: String,
        drop_in: PathBuf,
    },
    /// A line the drop-in cannot hold.
    UnsafeLine(UnsafeLine),
}

/// What writing a credential needs and this machine lacks.
#[derive(Debug)]
pub enum Lack {
    Prosody(Unsupported),
    SystemdCreds,
    Root,
}

/// `migrate` of the secret of `name` refused.
#[derive(Debug)]
pub enum Migrate {
    /// Its credential cannot be decrypted to move it back.
    Decrypt {
        name: String,
        error: CredentialError,
    },
    /// It has no component_secret.
    NoSecret { name: String },
    /// Its component_secret is not ours to move.
    NotMovable { name: String },
    /// Its credential `cred` does not hold a usable secret.
    Unusable {
        cred: String,
        name: String,
        error: SecretError,
    },
}

/// `probe` of `name` refused.
#[derive(Debug)]
pub enum Probe {
    /// Its component_secret is an expression.
    Expression { name: String },
    /// Its component_secret is read from `from`, unreadable here.
    Unreadable {
        name: String,
        from: String,
        why: String,
    },
    /// It is set to kick_old: a probe would disconnect it.
    KickOld { name: String },
    /// No component listener to probe (`why`).
    NoPort { why: String, default: u16 },
}

macro_rules! families {
    ($($family:ident),*) => {$(
        impl From<$family> for Refusal {
            fn from(r: $family) -> Refusal {
                Refusal::$family(r)
            }
        }
    )*};
}

families!(Edit, Unintended, Component, Listen, Undo, Credential, Migrate, Probe);

impl From<ListenerError> for Refusal {
    fn from(error: ListenerError) -> Refusal {
        Refusal::Listen(Listen::Unreadable { error, at: None })
    }
}

impl Refusal {
    /// The typed error the refusal is about.
    pub(crate) fn cause(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Refusal::Edit(Edit::RestoreStillBroken { error, .. })
            | Refusal::Edit(Edit::DoesNotLoadEdited { error, .. }) => Some(error.as_ref()),
            Refusal::Edit(Edit::BrokenAndUnasked { error, .. }) => Some(error),
            Refusal::Listen(Listen::Unreadable { error, .. }) => Some(error),
            Refusal::Undo(Undo::Decrypt { error, .. })
            | Refusal::Migrate(Migrate::Decrypt { error, .. })
            | Refusal::Credential(Credential::Encrypt(error)) => Some(error),
            Refusal::Migrate(Migrate::Unusable { error, .. }) => Some(error),
            _ => None,
        }
    }
}

const BUG: &str = "this is a bug in fogbow-xmpp-ctl; please report it";

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Edit(r) => r.fmt(f),
            Refusal::Unintended(r) => r.fmt(f),
            Refusal::Component(r) => r.fmt(f),
            Refusal::Listen(r) => r.fmt(f),
            Refusal::Unproven { why, name, failure } => {
                write!(f, "{why}; ")?;
                unproven(f, name, failure)?;
                f.write_str(": nothing was changed (rewrite that code as plain `component_secret = \"…\"` lines, or edit the file by hand)")
            }
            Refusal::Undo(r) => r.fmt(f),
            Refusal::Credential(r) => r.fmt(f),
            Refusal::Migrate(r) => r.fmt(f),
            Refusal::Probe(r) => r.fmt(f),
        }
    }
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edit::DoesNotLoad => f.write_str("the config does not load"),
            Edit::NewErrors => f.write_str("refusing to write: the edit would introduce errors"),
            Edit::LoaderRefuses => f.write_str("refusing to write: prosody's own loader refuses the edited config (it loads the current one)"),
            Edit::RestoreStillBroken { file, .. } => write!(f, "refusing to restore: with the backup in place of {}, the config still does not load (nothing was changed)", file.display()),
            Edit::DoesNotLoadEdited { restoring: true, .. } => f.write_str("refusing to restore: the backup would not load in place of the config"),
            Edit::DoesNotLoadEdited { restoring: false, .. } => write!(f, "refusing to write: the edited config would not load ({BUG})"),
            Edit::ChangedSinceRead { path } => write!(f, "refusing to write: {} changed since it was read (nothing was changed); run the command again", path.display()),
            Edit::NotIncluded { path, main, hint, new_file: true } => write!(f, "refusing to create {}: no Include of {} covers it, so prosody would never read it; {hint} (nothing was written)", path.display(), main.display()),
            Edit::NotIncluded { path, main, hint, new_file: false } => write!(f, "{} exists, but {} does not include it, so prosody would never read a component written there; {hint} (nothing was changed)", path.display(), main.display()),
            Edit::ConfigHasErrors { verb, running: true } => write!(f, "not {verb}ing prosody: the config has errors; the running server was not touched"),
            Edit::ConfigHasErrors { verb, running: false } => write!(f, "not {verb}ing prosody: the config has errors; prosody is not running, and nothing was run: fix the config, then {}", Remedy::Restart),
            Edit::BrokenAndUnasked { message, errors, .. } => write!(f, "{message}; fix the config first: {errors} error(s) above"),
        }
    }
}

impl fmt::Display for Unintended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refusing to write: ")?;
        match self {
            Unintended::Presence { name, present } => write!(f, "after the edit, {name} would not be {} as intended ({BUG})", if *present { "present" } else { "absent" }),
            Unintended::Listener => write!(f, "the edited config would not have the requested listener ({BUG})"),
            Unintended::Credential { name, cred, action } => write!(f, "after the edit, {name} would not read the credential {cred} as intended ({action} ; {BUG})"),
            Unintended::Literal { name } => write!(f, "after the edit, {name} would not have its secret as a string ({BUG})"),
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Component::LocalSecret { path, local: (dl, dc), assignment: Some((al, ac)) } => {
                let p = path.display();
                write!(f, "a `local component_secret` at {p}:{dl}:{dc} makes the assignment at {p}:{al}:{ac} set a Lua local, not prosody's option; remove the local (nothing was changed)")
            }
            Component::LocalSecret { path, local: (l, c), assignment: None } => write!(f, "a `local component_secret` at {}:{l}:{c} makes later assignments set a Lua local, not prosody's option; remove it (nothing was changed)", path.display()),
            Component::VirtualHost { name, at, removing: false } => write!(f, "{name} is a VirtualHost at {at}; a Component of the same name would stop prosody from starting"),
            Component::VirtualHost { name, at, removing: true } => write!(f, "{name} is a VirtualHost at {at}, not a Component; not removing it"),
            Component::Plugin { name, at, module: Some(module) } => write!(f, "{name} is a Component with the plugin module {module} at {at}, not an external component; not changing it"),
            Component::Plugin { name, at, module: None } => write!(f, "{name} is a Component with a plugin module at {at}, not an external component; not removing it (edit the file by hand)"),
            Component::Expression { name, at } => write!(f, "the component_secret of {name} at {at} is an expression, not a string literal; edit it by hand"),
            Component::SecretDiffers { name, at, credential: None } => write!(f, "{name} already exists at {at} with a different secret; use --replace to change it"),
            Component::SecretDiffers { name, at, credential: Some(p) } => write!(f, "{name} already exists at {at} with a different secret (in the encrypted credential {}); use --replace to change it", p.display()),
            Component::UnsafeRemoval { name, path, line, col, message } => write!(f, "cannot remove {name} safely: {}:{line}:{col}: {message}", path.display()),
        }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Unreadable { error, at: None } => write!(f, "{error}"),
            Listen::Unreadable { error, at: Some(at) } => write!(f, "{error} (at {at})"),
            Listen::Shared { name, at } => write!(f, "{name} is set at {at} in a statement that sets other options too, where prosody ignores it; delete it there by hand and run listen again"),
            Listen::NotConstant { name, at, flag } => write!(f, "{name} at {at} is not a list of constants; say which with {flag}"),
            Listen::Differs { name, first, second, flag } => write!(f, "{name} is set differently at {first} and at {second}, where prosody ignores both; say which with {flag}"),
            Listen::Included { name, path, line } => write!(f, "{name} is set in {}:{line}; edit it there (listen edits the main config only)", path.display()),
            Listen::SeveralOptions { path: None, line } => write!(f, "line {line} assigns several options at once; edit it by hand"),
            Listen::SeveralOptions { path: Some(p), line } => write!(f, "{}:{line} assigns several options at once; edit it by hand", p.display()),
        }
    }
}

/// What prosody's loader could not prove about `name`.
fn unproven(f: &mut fmt::Formatter<'_>, name: &str, failure: &Unproven) -> fmt::Result {
    const PROVE: &str = "which component_secret prosody would use for";
    match failure {
        Unproven::NotInstalled => write!(f, "prosody is not installed here, so its own loader cannot prove {PROVE} {name}"),
        Unproven::Refuses { which, message } => write!(f, "prosody's own loader refuses the {which} config ({message}), so it cannot prove {PROVE} {name}"),
        Unproven::NotRun(e) => write!(f, "prosody's own loader could not be run to prove {PROVE} {name} ({e})"),
        Unproven::AlsoChanges(what) => write!(f, "prosody's own loader shows the edit of {name} would also change {what}"),
        Unproven::StillFound => write!(f, "prosody's own loader still finds {name} after the edit removes its block"),
        Unproven::NotLiteral => write!(f, "the component_secret written for {name} is not a string, so prosody's own loader cannot prove it is the one prosody uses"),
        Unproven::OtherSecret => write!(f, "prosody's own loader reads another component_secret for {name} than the one the edit writes"),
        Unproven::AlreadySet => write!(f, "prosody's own loader finds a component_secret for {name} already (set by that code); use --replace to change it"),
    }
}

impl fmt::Display for Undo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undo::Drift { path, since, time, command, name } => {
                let since = match since {
                    Since::Changed => "changed since",
                    Since::Removed => "was removed since",
                    Since::CreatedAgain => "was created again since",
                };
                write!(f, "not undoing: {} {since} fogbow-xmpp-ctl last wrote it at {time} ({command} {name}), and an undo would lose that change; nothing was changed; to go back anyway, use restore BACKUP (see restore --list)", path.display())
            }
            Undo::BackupUnusable { what, path, message } => write!(f, "cannot undo {what}: the backup of {} is unusable ({message}); nothing was changed", path.display()),
            Undo::NotIncluded { what, path } => write!(f, "cannot undo {what}: {} is no longer a file of the config (no Include loads it); nothing was changed", path.display()),
            Undo::NoCredential { what, name } => write!(f, "cannot undo {what}: {name} no longer reads its secret from a credential; nothing was changed"),
            Undo::Decrypt { what, error } => write!(f, "cannot undo {what}: {error}; nothing was changed"),
            Undo::Outside { what, path, why } => write!(f, "cannot undo {what}: {} cannot be put back ({}); nothing was changed; put it back by hand, then run restore --undo again", path.display(), why.as_deref().unwrap_or("the edit left no backup of it")),
        }
    }
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Taken { cred, name, other, path, line } => write!(f, "refusing to write the encrypted credential {cred} for {name}: {other} at {}:{line} reads it, and writing it would replace {other}'s secret; keep the secret of {name} in the config (--secret-store config), or give {other} a credential of its own first (fogbow-xmpp-ctl migrate --to config {other}, then migrate --to credential {other}); nothing was changed", path.display()),
            Credential::Exists { cred, name, path } => write!(f, "refusing to write the encrypted credential {cred} for {name}: {} already exists and no component_secret of {name} reads it, so it may be another component's secret; move it away if it is no one's; nothing was changed", path.display()),
            Credential::Unsupported { what, lack } => {
                write!(f, "refusing {what}: ")?;
                match lack {
                    Lack::Prosody(why) => write!(f, "{why}. A config whose component_secret is Credential(\"…\") would not load there, so prosody would not start. Keep the secret in the config (--secret-store config, the default)")?,
                    Lack::SystemdCreds => f.write_str("systemd-creds is not installed (package systemd)")?,
                    Lack::Root => f.write_str("encrypted credentials are made with the host key, which only root can use (run with sudo)")?,
                }
                f.write_str("; nothing was changed")
            }
            Credential::Encrypt(error) => write!(f, "{error}; nothing was changed"),
            Credential::ForeignName { name, path, line, cred, why } => write!(f, "refusing to edit the secret of {name}: its component_secret at {}:{line} reads the credential name {cred:?}, which fogbow-xmpp-ctl does not write ({why}); correct or remove that line by hand; nothing was changed", path.display()),
            Credential::Gone { place, cred, path } => write!(f, "refusing to write: {place} would read the credential {cred}, but its encrypted file {} is gone, so prosody would not start; nothing was changed", path.display()),
            Credential::BadName { call, cred, why, drop_in } => write!(f, "refusing to write: {call} reads the credential name {cred:?}, which fogbow-xmpp-ctl does not write into the drop-in {} ({why}; every line there is a directive root's systemd follows); correct or remove that component_secret by hand (fogbow-xmpp-ctl check reports it as credential-name-invalid); nothing was changed", drop_in.display()),
            Credential::UnsafeLine(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for Migrate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Migrate::Decrypt { name, error } => write!(f, "cannot move the secret of {name} back into the config: {error}; nothing was changed"),
            Migrate::NoSecret { name } => write!(f, "{name} has no component_secret to move; set one with fogbow-xmpp-ctl add {name} --replace"),
            Migrate::NotMovable { name } => write!(f, "the component_secret of {name} is neither a string nor a credential of fogbow-xmpp-ctl (an expression, FileContents(), or a Credential() of your own); not moving it; edit it by hand"),
            Migrate::Unusable { cred, name, error } => write!(f, "the credential {cred} of {name} does not hold a usable secret ({error}); nothing was changed"),
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Expression { name } => write!(f, "the component_secret of {name} is an expression; cannot probe with it"),
            Probe::Unreadable { name, from, why } => write!(f, "the component_secret of {name} is read from {from}, which cannot be read here: {why}"),
            Probe::KickOld { name } => write!(f, "{name} has component_conflict_resolve = \"kick_old\": a probe would disconnect its live session; use --force if it is not connected"),
            Probe::NoPort { why, default } => write!(f, "{why}; set one with fogbow-xmpp-ctl listen --port {default}, or probe elsewhere with --port"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn words(r: impl Into<Refusal>) -> String {
        r.into().to_string()
    }

    #[test]
    fn an_edit_refusal_says_what_is_not_written() {
        assert_eq!(
            words(Edit::ChangedSinceRead {
                path: PathBuf::from("/f")
            }),
            "refusing to write: /f changed since it was read (nothing was changed); run the command again"
        );
        assert_eq!(
            words(Edit::ConfigHasErrors {
                verb: "restart",
                running: false
            }),
            format!("not restarting prosody: the config has errors; prosody is not running, and nothing was run: fix the config, then {}", Remedy::Restart)
        );
        assert_eq!(
            words(Unintended::Presence {
                name: "a.example".into(),
                present: false
            }),
            "refusing to write: after the edit, a.example would not be absent as intended (this is a bug in fogbow-xmpp-ctl; please report it)"
        );
    }

    #[test]
    fn a_component_refusal_names_the_place() {
        assert_eq!(
            words(Component::LocalSecret {
                path: PathBuf::from("/p.cfg.lua"),
                local: (1, 1),
                assignment: Some((3, 3))
            }),
            "a `local component_secret` at /p.cfg.lua:1:1 makes the assignment at /p.cfg.lua:3:3 set a Lua local, not prosody's option; remove the local (nothing was changed)"
        );
        assert_eq!(
            words(Component::SecretDiffers {
                name: "a.example".into(),
                at: "/p.cfg.lua:2".into(),
                credential: None
            }),
            "a.example already exists at /p.cfg.lua:2 with a different secret; use --replace to change it"
        );
    }

    #[test]
    fn a_listener_refusal_says_which_option() {
        assert_eq!(
            words(Listen::SeveralOptions {
                path: Some(PathBuf::from("/i.cfg.lua")),
                line: 4
            }),
            "/i.cfg.lua:4 assigns several options at once; edit it by hand"
        );
        let e = ListenerError::NoValue { name: "ports" };
        assert_eq!(words(e), "ports has no value");
    }

    #[test]
    fn an_unproven_edit_says_why_and_what_to_do() {
        let r = Refusal::Unproven {
            why: "code sets options".into(),
            name: "a.example".into(),
            failure: Unproven::StillFound,
        };
        assert_eq!(
            r.to_string(),
            "code sets options; prosody's own loader still finds a.example after the edit removes its block: nothing was changed (rewrite that code as plain `component_secret = \"…\"` lines, or edit the file by hand)"
        );
    }

    #[test]
    fn an_undo_refusal_says_nothing_was_changed() {
        assert_eq!(
            words(Undo::Outside {
                what: "the add of a.example".into(),
                path: PathBuf::from("/a.properties"),
                why: None
            }),
            "cannot undo the add of a.example: /a.properties cannot be put back (the edit left no backup of it); nothing was changed; put it back by hand, then run restore --undo again"
        );
    }

    #[test]
    fn credential_migrate_and_probe_refusals_name_the_component() {
        assert_eq!(
            words(Credential::Unsupported {
                what: "to rotate the credential".into(),
                lack: Lack::SystemdCreds
            }),
            "refusing to rotate the credential: systemd-creds is not installed (package systemd); nothing was changed"
        );
        assert_eq!(
            words(Migrate::NoSecret {
                name: "a.example".into()
            }),
            "a.example has no component_secret to move; set one with fogbow-xmpp-ctl add a.example --replace"
        );
        assert_eq!(
            words(Probe::NoPort {
                why: "no listener".into(),
                default: 5347
            }),
            "no listener; set one with fogbow-xmpp-ctl listen --port 5347, or probe elsewhere with --port"
        );
    }
}
