//! `listen`: where prosody accepts components, shown or set in place; the
//! listener options set under a section (which prosody ignores) are shown
//! as ignored, and moved or deleted by an edit.

use std::collections::BTreeMap;

use super::pipeline::{self, load_config};
use super::plan::{Change, Plan};
use super::{Action, Context, EditOptions, EditOutcome};
use crate::error::{refusal, Error, InputError};
use crate::prosody::config::ConfigSet;

/// Sets where prosody accepts components (see `listen_plan::plan`).
pub fn listen(
    ctx: &Context,
    interfaces: Option<Vec<String>>,
    ports: Option<Vec<u16>>,
    opts: EditOptions,
) -> Result<EditOutcome, Error> {
    edit(ctx, interfaces, ports, false, opts)
}

/// `listen --reset`: deletes every listener definition so that prosody's
/// defaults apply (see `listen_plan::plan_reset`).
pub fn reset_listener(ctx: &Context, opts: EditOptions) -> Result<EditOutcome, Error> {
    edit(ctx, None, None, true, opts)
}

fn edit(
    ctx: &Context,
    interfaces: Option<Vec<String>>,
    ports: Option<Vec<u16>>,
    reset: bool,
    opts: EditOptions,
) -> Result<EditOutcome, Error> {
    for i in interfaces.iter().flatten() {
        crate::prosody::listener::validate_interface(i).map_err(InputError::Interface)?;
    }
    let mut moved = Vec::new();
    let mut o = pipeline::edit(ctx, "component listener", opts, |set| {
        let p = match reset {
            true => super::listen_plan::plan_reset(set),
            false => super::listen_plan::plan(set, interfaces.as_deref(), ports.as_deref()),
        }?;
        let unchanged = p.edits.iter().all(|(&f, edits)| {
            let text = set.files[f].doc.text();
            edits.iter().all(|(r, b)| text[r.clone()] == b[..])
        });
        moved = p.moved;
        let (want_i, want_p) = (p.interfaces, p.ports);
        let files: BTreeMap<usize, Change> = match unchanged {
            true => BTreeMap::new(),
            false => p
                .edits
                .into_iter()
                .map(|(f, e)| (f, Change::Splice(e)))
                .collect(),
        };
        Ok(Plan {
            action: if files.is_empty() {
                Action::Unchanged
            } else {
                Action::Updated
            },
            files,
            file: 0,
            create: Vec::new(),
            verify: Box::new(move |after: &ConfigSet| {
                let ok = if reset {
                    !crate::prosody::listener::any_defined(after)
                } else {
                    let l = crate::prosody::listener::effective(after).map_err(Error::refused)?;
                    want_i.as_ref().map_or(true, |i| &l.interfaces == i)
                        && want_p.as_ref().map_or(true, |p| &l.ports == p)
                        && crate::prosody::listener::ignored(after).is_empty()
                };
                if ok {
                    Ok(())
                } else {
                    Err(Error::refused(refusal::Unintended::Listener))
                }
            }),
        })
    })?;
    if o.changed {
        o.notes.extend(moved);
    }
    Ok(o)
}

/// The listener prosody will open, with its defaults.
pub(crate) fn show_listener(ctx: &Context) -> Result<crate::prosody::listener::Listener, Error> {
    let set = load_config(&ctx.config)?;
    crate::prosody::listener::effective(&set).map_err(Error::refused)
}

/// `listen` without options: the listener, and the listener options set
/// under a section, which prosody ignores.
pub fn show_listen(ctx: &Context) -> Result<crate::prosody::listener::Shown, Error> {
    let set = load_config(&ctx.config)?;
    Ok(crate::prosody::listener::Shown {
        listener: crate::prosody::listener::effective(&set).map_err(Error::refused)?,
        ignored: crate::prosody::listener::ignored(&set),
    })
}
