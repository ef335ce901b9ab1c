//! An edit made live: after a guarded reload, the component an edit added
//! (or removed) started (or stopped) in the running prosody.

use super::{probe, Action, Context, EditOutcome, Error};

/// After a guarded reload: a reload applies a changed secret, but prosody
/// starts and stops components only on restart, so start (or stop) the one
/// an `add` (or `remove`) changed through prosody's admin shell, and prove a
/// start with a handshake. Returns what to tell the operator, if anything.
pub fn apply_to_running(ctx: &Context, o: &EditOutcome) -> Result<Option<String>, Error> {
    let name = &o.name;
    let shell = |active| {
        crate::service::set_active(name, active).map_err(|e| {
            let state = if active { "is not active" } else { "is still active" };
            Error::Service(format!("the config is written and prosody reloaded, but {name} {state}: {e}; run fogbow-xmpp-ctl restart"))
        })
    };
    match o.action {
        Action::Added => {
            shell(true)?;
            match probe(ctx, name, None, None, false) {
                Ok(r) if r.outcome.ok() => Ok(Some(format!(
                    "activated {name} in the running prosody; a handshake is accepted"
                ))),
                Ok(r) => Err(Error::Service(format!(
                    "{name} was activated, but the handshake probe says {:?}: {}",
                    r.outcome, r.hint
                ))),
                // kick_old components are not probed; the activation itself succeeded.
                Err(e) => Ok(Some(format!(
                    "activated {name} in the running prosody (not probed: {})",
                    e
                ))),
            }
        }
        Action::Removed => {
            shell(false)?;
            Ok(Some(format!(
                "deactivated {name} in the running prosody: new connections are refused; one already connected stays until it disconnects or prosody restarts"
            )))
        }
        _ => Ok(None),
    }
}
