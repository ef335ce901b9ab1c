//! `restart` and `reload`, guarded by the check: the full check first (its
//! findings reported), the service manager only when it passes, then proof
//! that prosody serves the config. A broken config never reaches the
//! running server. Also the policy of applying an edit or a migration
//! (`--restart`/`--reload`): a restart, a reload with the components
//! converged, or a restart where a changed credential needs one.

use super::{Context, EditOutcome, Event};
use crate::diagnostics::{CheckOptions, Report};
use crate::error::Error;
use crate::system::service;
use crate::text::remedy::Remedy;

/// Where a guarded restart or reload reports as it goes (the caller words
/// it): the check's findings, then each step done.
pub trait Progress {
    /// The check's findings, before the service is touched.
    fn check(&self, report: &Report);
    /// One step done, or what was done instead.
    fn event(&self, event: &Event);
}

/// What an edit was about: how it is applied, and how its messages read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Component,
    Listener,
    Backup,
}

/// `restart`/`reload`: the full check first; the service only when it
/// passes; then proof that prosody serves the config: after a restart its
/// component listeners accept connections, after a reload the running
/// server's external components are the file's (activated/deactivated
/// through the admin shell) and each activated one is known.
pub fn guarded(ctx: &Context, action: service::Action, out: &dyn Progress) -> Result<(), Error> {
    match action {
        service::Action::Restart => {
            out.event(&Event::Service(checked_service(ctx, action, out)?));
            if let Some(e) = super::wait_after_restart(ctx)? {
                out.event(&e);
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
                out.event(&Event::Service(done));
            }
            for e in super::converge(ctx)? {
                out.event(&e);
            }
            if !pending.is_empty() {
                let (reason, remedy) = super::pending_reason(&pending);
                return Err(Error::Service {
                    message: format!("prosody reloaded, but {reason}"),
                    remedy: Some(remedy),
                });
            }
        }
    }
    Ok(())
}

/// The full check first (its findings shown), and the service manager only
/// when it passes: a broken config never reaches the running server.
/// Returns what the service manager did.
fn checked_service(
    ctx: &Context,
    action: service::Action,
    out: &dyn Progress,
) -> Result<service::Applied, Error> {
    let report = super::check_config(
        &ctx.config,
        &ctx.settings.prosody_lib,
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
        return Err(Error::refused(
            crate::error::refusal::Edit::ConfigHasErrors {
                verb,
                running: service::is_active(),
            },
        ));
    }
    let timeout = std::time::Duration::from_secs(ctx.settings.apply_timeout_secs);
    Ok(service::apply(action, timeout)?)
}

/// `--reload` of an edit that wrote a credential where a reload cannot
/// hand it to prosody (see `credentials::reload_refreshes`): the guarded
/// restart it takes instead, and why.
fn restart_for_credentials(ctx: &Context, out: &dyn Progress) -> Result<(), Error> {
    let why = crate::system::credentials::reload_refreshes().err();
    out.event(&Event::RestartingForCredentials(why));
    guarded(ctx, service::Action::Restart, out)
}

/// `--reload`/`--restart`, as asked of an edit or a migration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apply {
    pub reload: bool,
    pub restart: bool,
}

impl Apply {
    /// Whether a change is applied to the running prosody: when asked, and
    /// never in a dry run (even when the file did not change, so that a
    /// re-run converges).
    pub fn wanted(self, dry_run: bool) -> bool {
        (self.reload || self.restart) && !dry_run
    }
}

/// An edit applied to the running prosody when asked (`None` when not: see
/// [`Apply::wanted`]). A failure once the file was written is
/// [`Error::NotApplied`]: the edit stands, the running server lags behind.
pub fn apply_requested(
    ctx: &Context,
    o: &EditOutcome,
    apply: Apply,
    subject: Subject,
    out: &dyn Progress,
) -> Option<Result<(), Error>> {
    if !apply.wanted(o.dry_run) {
        return None;
    }
    Some(
        apply_edit(ctx, o, apply.restart, subject, out).map_err(|e| match o.changed {
            true => Error::NotApplied(Box::new(e)),
            false => e,
        }),
    )
}

/// A migration applied to the running prosody when asked (`None` when not:
/// see [`Apply::wanted`]): a restart when asked, or when a credential
/// changed that a reload cannot hand to prosody; else a reload. Its error
/// is the failure itself (each component's outcome says what was written).
pub fn apply_migration_requested(
    ctx: &Context,
    components: &[EditOutcome],
    apply: Apply,
    dry_run: bool,
    out: &dyn Progress,
) -> Option<Result<(), Error>> {
    if !apply.wanted(dry_run) {
        return None;
    }
    let restart_needed = components.iter().any(|o| o.restart_needed);
    Some(match (restart_needed, apply.restart) {
        (true, false) => restart_for_credentials(ctx, out),
        (_, true) => guarded(ctx, service::Action::Restart, out),
        (false, false) => guarded(ctx, service::Action::Reload, out),
    })
}

/// The least disruptive way that applies the edit: `--restart` restarts,
/// except for a component edit that left the file unchanged, where a reload
/// with activation converges the running server without dropping connected
/// components (a listener change needs a real restart, so an unchanged
/// `listen --restart` still restarts: it may not have been applied before).
fn apply_edit(
    ctx: &Context,
    o: &EditOutcome,
    restart_asked: bool,
    subject: Subject,
    out: &dyn Progress,
) -> Result<(), Error> {
    let restart = restart_asked && (o.changed || !matches!(subject, Subject::Component));
    if restart {
        return guarded(ctx, service::Action::Restart, out);
    }
    // A new or rotated credential that a reload cannot hand to prosody
    // (the edit asked systemd: see `credentials::reload_refreshes`).
    if o.restart_needed && o.changed {
        restart_for_credentials(ctx, out)?;
        super::wait_for_shell(ctx)?;
        for e in super::apply_to_running(ctx, o)? {
            out.event(&e);
        }
        return Ok(());
    }
    if restart_asked {
        out.event(&Event::ConvergingInstead);
    }
    if matches!(subject, Subject::Listener) && o.changed {
        // prosody opens its listeners at start only: a reload cannot apply it.
        return Err(Error::Service {
            message: "a listener change takes effect only when prosody restarts; the running server was not touched".into(),
            remedy: Some(Remedy::RestartOrFlag),
        });
    }
    // The reload proper, then the edited component proven (converge runs in apply_to_running).
    let done = checked_service(ctx, service::Action::Reload, out)?;
    out.event(&Event::Service(done));
    for e in super::apply_to_running(ctx, o)? {
        out.event(&e);
    }
    // The edit is applied, but another component's credential changed
    // earlier may still wait for a restart: said, so the reload does not
    // read as the server serving the whole file.
    let pending = super::restart_pending(ctx);
    if !pending.is_empty() {
        out.event(&Event::StillPending { pending });
    }
    Ok(())
}
