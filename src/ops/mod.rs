//! The commands as operations on the config, for any caller (the CLI, a
//! test, another tool): each reads the config, decides, and (for an edit)
//! writes through the one edit pipeline, which checks the result as prosody
//! would load it, replaces files safely and leaves an audit record. Results
//! are data (their JSON forms are part of the contract); the CLI maps them
//! to output.
//!
//! The rooms: `pipeline` (load → plan → verify → diff → commit, for every
//! edit), `plan` (what `add` and `remove` change, and their refusals),
//! `diff` (what a dry run shows, secrets masked), `list`, `listen`,
//! `restore`, `probe` and `doctor` (one command each), `apply`
//! (an edit made live in the running prosody), and `reading` (how the
//! read-only commands read a config that does not load).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diagnostics::Diagnostic;
pub use crate::error::Error;
use crate::settings::Settings;

mod apply;
mod diff;
mod doctor;
mod list;
mod listen;
mod pipeline;
mod plan;
mod probe;
mod reading;
mod restore;

pub use apply::{
    apply_to_running, converge, status, wait_after_restart, ComponentStatus, StatusReport,
};
pub use diff::mask_secrets;
pub use doctor::doctor;
pub use list::{list, ComponentInfo, ListOutput};
pub use listen::{listen, show_listener};
pub use probe::{probe, ProbeReport};
pub use reading::{Breakage, Skipped, Source};
pub use restore::{backups, restore};

/// What every operation needs to know.
#[derive(Debug, Clone)]
pub struct Context {
    /// prosody's main config, as the operator named it.
    pub config: PathBuf,
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Added,
    Replaced,
    Unchanged,
    Removed,
    Absent,
    /// `listen` changed the listener.
    Updated,
    /// `restore` put a backup back.
    Restored,
}

impl Action {
    /// The JSON value (`"added"`, …), also used in the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Added => "added",
            Action::Replaced => "replaced",
            Action::Unchanged => "unchanged",
            Action::Removed => "removed",
            Action::Absent => "absent",
            Action::Updated => "updated",
            Action::Restored => "restored",
        }
    }
}

/// The result of an edit; its JSON form is part of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct EditOutcome {
    pub changed: bool,
    pub action: Action,
    pub name: String,
    /// The file that was (or would be) edited.
    #[serde(serialize_with = "crate::config::json_path::one")]
    pub file: PathBuf,
    /// The previous version, when a backup was written.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::config::json_path::opt"
    )]
    pub backup: Option<PathBuf>,
    /// Only for `--dry-run`: the unified diff of what would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Warnings the edited config still has (never new errors: those refuse the edit).
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
    /// Warnings about the edit itself, one line each (e.g. a secret written
    /// into a file others can read).
    #[serde(skip)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct EditOptions {
    pub replace: bool,
    pub dry_run: bool,
    pub show_secrets: bool,
    pub if_exists: bool,
}

/// Adds (or, with `replace`, updates) the external component `name`.
pub fn add(
    ctx: &Context,
    name: &str,
    secret: &[u8],
    opts: EditOptions,
) -> Result<EditOutcome, Error> {
    crate::names::validate(name).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::secret::validate(secret).map_err(Error::Invalid)?;
    pipeline::edit(ctx, name, opts, |set| {
        plan::add(set, name, secret, opts.replace)
    })
}

/// Removes every `Component` section named `name`.
pub fn remove(ctx: &Context, name: &str, opts: EditOptions) -> Result<EditOutcome, Error> {
    if name.is_empty() {
        return Err(Error::Invalid("the component name is empty".into()));
    }
    pipeline::edit(ctx, name, opts, |set| {
        plan::remove(set, name, opts.if_exists)
    })
}

/// `add --from-properties`: the name and secret from a Fogbow component's
/// own configuration; returns the outcome and what may still keep the
/// component from reaching prosody.
pub fn add_from_properties(
    ctx: &Context,
    name: Option<&str>,
    path: &Path,
    opts: EditOptions,
) -> Result<(EditOutcome, Vec<String>), Error> {
    let props = crate::fogbow::read(path).map_err(Error::Invalid)?;
    if let Some(n) = name {
        if !crate::names::same(n, &props.jid) {
            return Err(Error::Invalid(format!(
                "the name {n} differs from xmpp_jid = {} in {}",
                props.jid,
                path.display()
            )));
        }
    }
    let outcome = add(ctx, &props.jid, &props.password, opts)?;
    let listener = show_listener(ctx)?;
    Ok((outcome, props.warnings(path, &listener)))
}

#[cfg(test)]
mod tests {
    use super::Action;

    /// The audit record and the JSON say the same word.
    #[test]
    fn action_as_str_is_its_json() {
        for a in [
            Action::Added,
            Action::Replaced,
            Action::Unchanged,
            Action::Removed,
            Action::Absent,
            Action::Updated,
            Action::Restored,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }
}
