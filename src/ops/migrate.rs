//! `migrate --to credential|config [NAME…]`: moves components' secrets
//! between the config (a string) and encrypted systemd credentials
//! (`Credential("…")`, prosody 13), one component at a time, each its own
//! edit through the pipeline (checked, atomic, backed up, recorded): a
//! failure stops the run with the components before it moved and the rest
//! untouched, and each move is undone by `restore --undo` (the last one)
//! or by the reverse `migrate`.

use serde::Serialize;

use super::credstore::{self, MigrateTo};
use super::{pipeline, Context, EditOptions, EditOutcome};
use crate::error::Error;

/// What `migrate` did, component by component; its JSON form is part of
/// the contract.
#[derive(Debug, Serialize)]
pub struct MigrateOutput {
    /// `credential` or `config`.
    pub to: &'static str,
    /// One edit outcome per component done, in order (`"action":
    /// "migrated"` or `"unchanged"`).
    pub components: Vec<EditOutcome>,
    /// The component whose move failed, if one did (the run stops there;
    /// the components before it are moved, the rest untouched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failed: Option<String>,
    /// Why it failed (also said on standard error).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_message")]
    pub error: Option<Error>,
}

fn as_message<S: serde::Serializer>(e: &Option<Error>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_str(&e.to_string()),
        None => s.serialize_none(),
    }
}

/// Moves the secrets of `names` (none: every external component whose
/// secret is not yet where `to` says) to `to`. Moving into credentials is
/// refused, before anything is changed, where prosody cannot read them
/// (prosody 0.12). Moving back into the config needs root (decryption).
pub fn migrate(
    ctx: &Context,
    to: MigrateTo,
    names: &[String],
    opts: EditOptions,
) -> Result<MigrateOutput, Error> {
    if to == MigrateTo::Credential {
        credstore::require_support(
            &ctx.settings.prosody_lib,
            "to migrate secrets into credentials",
        )?;
    }
    let names: Vec<String> = if names.is_empty() {
        let set = pipeline::load_config(&ctx.config)?;
        credstore::candidates(&set, to)
    } else {
        names.to_vec()
    };
    let mut out = MigrateOutput {
        to: match to {
            MigrateTo::Credential => "credential",
            MigrateTo::Config => "config",
        },
        components: Vec::with_capacity(names.len()),
        failed: None,
        error: None,
    };
    for (i, name) in names.iter().enumerate() {
        match pipeline::edit_with(ctx, name, opts, |set| {
            credstore::plan_migrate(ctx, set, name, to, opts.dry_run)
        }) {
            Ok(o) => out.components.push(o),
            // The first one: nothing was done, a plain error.
            Err(e) if i == 0 => return Err(e),
            Err(e) => {
                out.failed = Some(name.clone());
                out.error = Some(e);
                break;
            }
        }
    }
    Ok(out)
}
