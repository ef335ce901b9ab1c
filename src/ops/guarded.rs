//! `restart` and `reload`, guarded by the check: the full check first (its
//! findings reported), the service manager only when it passes, then proof
//! that prosody serves the config. A broken config never reaches the
//! running server.

use super::{Context, Error};
use crate::diagnostics::{CheckOptions, Report};
use crate::system::service;

/// Where a guarded restart or reload reports as it goes (the caller words
/// it): the check's findings, then one line per step done.
pub trait Progress {
    /// The check's findings, before the service is touched.
    fn check(&self, report: &Report);
    /// One step done, or what was done instead.
    fn info(&self, message: &str);
}

/// `restart`/`reload`: the full check first; the service only when it
/// passes; then proof that prosody serves the config: after a restart its
/// component listeners accept connections, after a reload the running
/// server's external components are the file's (activated/deactivated
/// through the admin shell) and each activated one is known.
pub fn guarded(ctx: &Context, action: service::Action, out: &dyn Progress) -> Result<(), Error> {
    match action {
        service::Action::Restart => {
            out.info(&checked_service(ctx, action, out)?);
            if let Some(m) = super::wait_after_restart(ctx)? {
                out.info(&m);
            }
        }
        service::Action::Reload => {
            // A credential changed since prosody loaded it: the reload runs
            // (it applies the rest, and the credential too where systemd
            // refreshes it), but it is "done" only if nothing is pending then.
            let mut pending = super::restart_pending(ctx);
            let done = checked_service(ctx, action, out)?;
            if !pending.is_empty() {
                pending = super::restart_pending(ctx);
            }
            if pending.is_empty() {
                out.info(&done);
            }
            for m in super::converge(ctx)? {
                out.info(&m);
            }
            if !pending.is_empty() {
                return Err(Error::Service(format!(
                    "prosody reloaded, but {}",
                    super::pending_text(&pending)
                )));
            }
        }
    }
    Ok(())
}

/// The full check first (its findings shown), and the service manager only
/// when it passes: a broken config never reaches the running server.
/// Returns the service manager's one-line outcome.
pub fn checked_service(
    ctx: &Context,
    action: service::Action,
    out: &dyn Progress,
) -> Result<String, Error> {
    let report = super::check_config(
        &ctx.config,
        CheckOptions {
            with_prosody: true,
            strict: false,
        },
    );
    out.check(&report);
    if !report.ok {
        // A server that is down (a start that failed) was not "touched":
        // nothing ran, and it stays down until the config is fixed.
        let verb = action.verb();
        return Err(Error::refused(match service::is_active() {
            true => format!(
                "not {verb}ing prosody: the config has errors; the running server was not touched"
            ),
            false => format!(
                "not {verb}ing prosody: the config has errors; prosody is not running, and nothing was run: fix the config, then run fogbow-xmpp-ctl restart"
            ),
        }));
    }
    let timeout = std::time::Duration::from_secs(ctx.settings.apply_timeout_secs);
    service::apply(action, timeout).map_err(Error::Service)
}
