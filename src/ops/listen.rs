//! `listen`: where prosody accepts components, shown or set in place.

use super::pipeline::{self, load_config};
use super::plan::{Change, Plan};
use super::{Action, Context, EditOptions, EditOutcome, Error};
use crate::config::ConfigSet;

/// Sets where prosody accepts components (see [`crate::listener::plan`]).
pub fn listen(
    ctx: &Context,
    interfaces: Option<Vec<String>>,
    ports: Option<Vec<u16>>,
    opts: EditOptions,
) -> Result<EditOutcome, Error> {
    for i in interfaces.iter().flatten() {
        crate::listener::validate_interface(i).map_err(Error::Invalid)?;
    }
    pipeline::edit(ctx, "component listener", opts, |set| {
        let edits = crate::listener::plan(set, interfaces.as_deref(), ports.as_deref())
            .map_err(Error::refused)?;
        let text = set.files[0].doc.text();
        let unchanged = edits.iter().all(|(r, b)| text[r.clone()] == b[..]);
        let (want_i, want_p) = (interfaces.clone(), ports.clone());
        Ok(Plan::of_main(
            (!unchanged).then_some((Action::Updated, Change::Splice(edits))),
            Box::new(move |after: &ConfigSet| {
                let l = crate::listener::effective(after).map_err(Error::refused)?;
                let ok = want_i.as_ref().map_or(true, |i| &l.interfaces == i)
                    && want_p.as_ref().map_or(true, |p| &l.ports == p);
                if ok {
                    Ok(())
                } else {
                    Err(Error::refused("refusing to write: the edited config would not have the requested listener (this is a bug in fogbow-xmpp-ctl; please report it)"))
                }
            }),
        ))
    })
}

/// The listener prosody will open, with its defaults.
pub fn show_listener(ctx: &Context) -> Result<crate::listener::Listener, Error> {
    let set = load_config(&ctx.config)?;
    crate::listener::effective(&set).map_err(Error::refused)
}
