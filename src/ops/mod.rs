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
//! `restore`, `probe`, `check` and `doctor` (one command each; `checklist`
//! is doctor's list of items), `guarded` (restart and reload, only after the
//! check passes; what they did is reported as an `event`), `apply`
//! (an edit made live in the running prosody), and `reading` (how the
//! read-only commands read a config that does not load).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diagnostics::Diagnostic;
use crate::diagnostics::Note;
use crate::error::{Error, InputError};
use crate::fogbow::PropertiesWarning;
use crate::settings::{SecretStore, Settings};

mod apply;
mod check;
pub mod checklist;
mod credstore;
mod diff;
mod doctor;
mod event;
mod guarded;
mod list;
mod listen;
mod listen_plan;
mod migrate;
mod pipeline;
mod plan;
mod probe;
mod proof;
mod reading;
mod restore;

pub(crate) use apply::{
    apply_to_running, converge, pending_in, pending_reason, restart_pending, wait_after_restart,
    wait_for_shell,
};
pub use apply::{pending_text, status, StatusReport};
pub use check::check_config;
pub(crate) use credstore::SysFileChange;
pub use credstore::{MigrateTo, SysKind};
pub use doctor::doctor;
pub use event::Event;
pub use guarded::{apply_migration_requested, apply_requested, guarded, Apply, Progress, Subject};
pub use list::{list, ComponentInfo, ListOutput};
pub(crate) use listen::show_listener;
pub use listen::{listen, reset_listener, show_listen};
pub use migrate::{migrate, MigrateOutput};
pub use probe::{probe, probe_with, secret_from_file, secret_from_properties, ProbeReport};
pub use reading::Breakage;
pub(crate) use reading::Source;
pub use restore::{backups, restore, undo, BackupInfo, Backups};

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
    /// `restore --undo` undid the last edit.
    Undone,
    /// `migrate` moved the secret between the config and a credential.
    Migrated,
}

impl Action {
    /// The JSON value (`"added"`, …), also used in the audit record.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Added => "added",
            Action::Replaced => "replaced",
            Action::Unchanged => "unchanged",
            Action::Removed => "removed",
            Action::Absent => "absent",
            Action::Updated => "updated",
            Action::Restored => "restored",
            Action::Undone => "undone",
            Action::Migrated => "migrated",
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
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub file: PathBuf,
    /// The previous version, when a backup was written.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::prosody::config::json_path::opt"
    )]
    pub backup: Option<PathBuf>,
    /// Only for `--dry-run`: the unified diff of what would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Only for `restore --undo`: the edit undone (`add NAME of TIME`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undid: Option<String>,
    /// Warnings the edited config still has (never new errors: those refuse the edit).
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
    /// Warnings about the edit itself, one line each (e.g. a secret written
    /// into a file others can read).
    #[serde(skip)]
    pub notes: Vec<Note>,
    /// Only for `add --from-properties FILE --generate-secret`: what was
    /// (or, in a dry run, would be) written into FILE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<PropertiesWrite>,
    /// Files the edit deleted (or, in a dry run, would delete): a
    /// component's own file with nothing of it left.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "crate::prosody::config::json_path::many"
    )]
    pub deleted: Vec<PathBuf>,
    /// The files of ours outside the config the edit wrote or removed (or,
    /// in a dry run, would): encrypted credentials and our drop-in for
    /// prosody.service. Never their contents.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credential_files: Vec<SysFileChange>,
    /// The edit wrote a credential that only a restart hands to prosody
    /// (`--reload` restarts): systemd refreshes none at a reload here (see
    /// `credentials::reload_refreshes`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub restart_needed: bool,
}

/// The generated secret written back into a Fogbow component's
/// `.properties` file; its JSON form (`"properties"`) is part of the contract.
#[derive(Debug, Clone, Serialize)]
pub struct PropertiesWrite {
    #[serde(serialize_with = "crate::prosody::config::json_path::one")]
    pub file: PathBuf,
    /// `"replaced"` (the value of the last `xmpp_password` line) or
    /// `"appended"` (the file had none).
    pub action: &'static str,
    /// Whether the file was rewritten (false in a dry run).
    pub written: bool,
    /// Only for `--dry-run`: the unified diff of the file, the secret masked
    /// unless `--show-secrets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct EditOptions {
    pub replace: bool,
    pub dry_run: bool,
    pub show_secrets: bool,
    pub if_exists: bool,
    /// `add --secret-store`: where a new secret goes; `None`: the
    /// settings' `secret_store`.
    pub secret_store: Option<SecretStore>,
}

/// A new 160-bit secret from the system's RNG (hex), or why not.
pub fn generate_secret() -> Result<Vec<u8>, Error> {
    crate::secret::generate().map_err(|e| Error::Io(crate::safe_write::WriteError::Random(e)))
}

/// Adds (or, with `replace`, updates) the external component `name`.
pub fn add(
    ctx: &Context,
    name: &str,
    secret: &[u8],
    opts: EditOptions,
) -> Result<EditOutcome, Error> {
    add_with(ctx, name, secret, opts, Vec::new())
}

/// [`add`], rewriting `outside` (a `.properties`) in the same edit.
fn add_with(
    ctx: &Context,
    name: &str,
    secret: &[u8],
    opts: EditOptions,
    outside: Vec<pipeline::OutsideFile>,
) -> Result<EditOutcome, Error> {
    crate::prosody::names::validate(name)?;
    crate::secret::validate(secret)?;
    let file = component_file(ctx, name)?;
    let extra = pipeline::Extra {
        outside,
        ..pipeline::Extra::default()
    };
    let mut near = None;
    let mut spelling = None;
    let mut outcome = pipeline::edit_full(ctx, name, opts, extra, |set| {
        near = plan::near_miss(set, name);
        spelling = plan::spelling(name, &set.hosts_named(name));
        credstore::plan_add_in_store(ctx, set, name, secret, file.as_deref(), opts)
    })?;
    // A new name a typing mistake away from an existing one: said, not refused.
    if outcome.changed {
        outcome.notes.extend(near);
    }
    // A spelling the component cannot connect with: said on every add of it.
    outcome.notes.extend(spelling);
    Ok(outcome)
}

/// Where a new component goes: `component_file` of the settings (or
/// `add --file`), `{name}` replaced by the component's name, relative to
/// the main config's directory; `None`: the end of the main config.
fn component_file(ctx: &Context, name: &str) -> Result<Option<PathBuf>, Error> {
    let Some(template) = &ctx.settings.component_file else {
        return Ok(None);
    };
    let rel = PathBuf::from(template.replace("{name}", name));
    if rel.file_name().is_none() || rel.as_os_str().is_empty() {
        return Err(InputError::ComponentFile {
            template: template.clone(),
        }
        .into());
    }
    let dir = ctx.config.parent().unwrap_or(Path::new(""));
    Ok(Some(dir.join(rel)))
}

/// Removes every `Component` section named `name`.
pub fn remove(ctx: &Context, name: &str, opts: EditOptions) -> Result<EditOutcome, Error> {
    if name.is_empty() {
        return Err(InputError::EmptyName.into());
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
) -> Result<(EditOutcome, Vec<PropertiesWarning>), Error> {
    let props = crate::fogbow::read(path)?;
    same_jid(name, &props.jid, path)?;
    let mut outcome = add(ctx, &props.jid, &props.password, opts)?;
    outcome.notes.extend(readable_note(path, &props.jid));
    let listener = show_listener(ctx)?;
    Ok((outcome, props.warnings(path, &listener)))
}

/// The name given, if any, must be the file's `xmpp_jid`.
fn same_jid(name: Option<&str>, jid: &str, path: &Path) -> Result<(), Error> {
    match name {
        Some(n) if !crate::prosody::names::same(n, jid) => Err(InputError::JidDiffers {
            name: n.to_string(),
            jid: jid.to_string(),
            path: path.to_path_buf(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// A secret in a properties file others can read is theirs too (read from
/// it or written into it).
fn readable_note(path: &Path, jid: &str) -> Option<Note> {
    let why = crate::safe_write::readable_by_others(path).ok()??;
    Some(Note::PropertiesReadable {
        file: path.to_path_buf(),
        jid: jid.to_string(),
        why,
    })
}

/// The key of a Fogbow component's secret in its `.properties` file.
const PASSWORD_KEY: &str = "xmpp_password";

/// `add --from-properties FILE --generate-secret`: a new secret for the
/// component `xmpp_jid` names, written into prosody's config and into
/// FILE's `xmpp_password` (only that value's bytes change; appended when
/// FILE has none), so the two cannot disagree.
///
/// FILE is a file of the edit (see `pipeline::OutsideFile`): its new
/// version is complete on disk next to it (owner, mode, ACL kept; fsynced)
/// before anything is renamed, so a FILE we cannot replace changes
/// nothing; it is renamed right after the config, unless it changed since
/// it was read; it is backed up and recorded with the config, so
/// `restore --undo` puts both back. A dry run writes neither and returns
/// both diffs.
pub fn add_from_properties_generated(
    ctx: &Context,
    name: Option<&str>,
    path: &Path,
    opts: EditOptions,
) -> Result<(EditOutcome, Vec<PropertiesWarning>), Error> {
    let (props, old) = crate::fogbow::read_for_new_secret(path)?;
    same_jid(name, &props.jid, path)?;
    let secret = generate_secret()?;
    let value = std::str::from_utf8(&secret).expect("a generated secret is hex");
    let new = crate::fogbow::set_property(&old, PASSWORD_KEY, value).map_err(|source| {
        InputError::SetProperty {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let had = crate::fogbow::entries(&old).is_ok_and(|es| es.iter().any(|e| e.key == PASSWORD_KEY));
    let mut write = PropertiesWrite {
        file: path.to_path_buf(),
        action: if had { "replaced" } else { "appended" },
        written: false,
        diff: None,
    };
    let listener = show_listener(ctx)?;
    let warnings = props.warnings(path, &listener);
    if opts.dry_run {
        write.diff = Some(diff::properties_diff(
            path,
            &old,
            &new,
            PASSWORD_KEY,
            opts.show_secrets,
        ));
    }
    let outside = match opts.dry_run {
        true => Vec::new(),
        false => vec![pipeline::OutsideFile {
            path: path.to_path_buf(),
            expect: crate::safe_write::content_hash(&old),
            text: new,
        }],
    };
    let mut outcome = add_with(ctx, &props.jid, &secret, opts, outside)?;
    outcome.notes.extend(readable_note(path, &props.jid));
    write.written = !opts.dry_run;
    outcome.properties = Some(write);
    Ok((outcome, warnings))
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
            Action::Undone,
            Action::Migrated,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }
}
