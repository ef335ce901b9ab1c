//! `restore`: a backup of the main config put back, through the same
//! pipeline as any edit (checked, safely replaced, the current version
//! backed up first).

use std::path::{Path, PathBuf};

use super::pipeline;
use super::plan::{Change, Plan};
use super::{Action, Context, EditOptions, EditOutcome, Error};
use crate::safe_write;

/// The backups of the main config, oldest first.
pub fn backups(ctx: &Context) -> Result<Vec<PathBuf>, Error> {
    let real = std::fs::canonicalize(&ctx.config)
        .map_err(|e| safe_write::io_error("read", &ctx.config, e))?;
    Ok(safe_write::list_backups(&ctx.settings.backup_dir, &real)?)
}

/// Puts a backup of the main config back: checked like any edit, written
/// with the same safe replacement, and the current version backed up first.
pub fn restore(ctx: &Context, backup: &Path, opts: EditOptions) -> Result<EditOutcome, Error> {
    let known = backups(ctx)?;
    let chosen = known
        .iter()
        .find(|b| b.as_path() == backup || b.file_name() == Some(backup.as_os_str()))
        .cloned()
        .ok_or_else(|| {
            Error::NotFound(format!(
                "{} is not a backup of {} in {} (see restore --list)",
                backup.display(),
                ctx.config.display(),
                ctx.settings.backup_dir.display()
            ))
        })?;
    // Not a file another user could have planted or changed.
    let bytes = safe_write::read_backup(&chosen)?;
    let name = chosen
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    pipeline::edit(ctx, &name, opts, move |set| {
        let unchanged = set.files[0].doc.text() == &bytes[..];
        Ok(Plan::of_main(
            (!unchanged).then_some((Action::Restored, Change::Whole(bytes))),
            // The backup loading (parse, includes) and passing the checks is the test.
            Box::new(|_| Ok(())),
        ))
    })
}
