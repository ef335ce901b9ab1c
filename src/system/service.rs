//! Applying a config to the running prosody, guarded by the check.
//!
//! systemd cannot veto the stop half of `systemctl restart`: with a broken
//! config the old server is already gone when `ExecStartPre=` fails. So
//! `fogbow-xmpp-ctl restart|reload` check first and touch the service only
//! when the config is good.

use std::path::Path;

use std::process::ExitStatus;

use super::run::{Run, RunError};
use super::running::ShellError;
use crate::text::remedy::Remedy;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Restart,
    Reload,
}

impl Action {
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Reload => "reload",
        }
    }
}

/// Whether systemd is the running init (`sd_booted()`).
pub(crate) fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Why the service manager did not do what was asked.
#[derive(Debug)]
pub enum ServiceError {
    /// The program could not be run, or did not finish.
    Run(RunError),
    /// `command` exited with `status`, saying `stderr`.
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// prosody.service changed on disk and `systemctl daemon-reload` failed.
    DaemonReload(Box<ServiceError>),
    /// prosody is not active (it is `state`), so it cannot be reloaded.
    NotReloadable { state: String },
    /// The start was refused and `systemctl reset-failed` failed too.
    ResetFailed {
        refused: Box<ServiceError>,
        reset: Box<ServiceError>,
    },
    /// The `verb` hit systemd's start rate limit and the start after
    /// `systemctl reset-failed` failed.
    StartLimit {
        verb: &'static str,
        start: Box<ServiceError>,
    },
    /// prosody failed after the `verb`.
    FailedAfter { verb: &'static str },
    /// prosody is still `state` `secs` after the `verb`.
    NotActive {
        state: String,
        secs: u64,
        verb: &'static str,
    },
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::Run(e) => std::fmt::Display::fmt(e, f),
            ServiceError::Failed {
                command,
                status,
                stderr,
            } => write!(f, "{command} failed ({status}): {stderr}"),
            ServiceError::DaemonReload(e) => write!(
                f,
                "prosody.service changed on disk and {e}: not restarting prosody"
            ),
            ServiceError::NotReloadable { state } => write!(
                f,
                "prosody is {state}, so it cannot be reloaded; start it with {}",
                Remedy::Restart.command()
            ),
            ServiceError::ResetFailed { refused, reset } => write!(f, "{refused}; then {reset}"),
            ServiceError::StartLimit { verb, start } => write!(
                f,
                "systemd refused the {verb} (start rate limit hit); after reset-failed, {start}"
            ),
            ServiceError::FailedAfter { verb } => write!(
                f,
                "prosody failed after the {verb}: see journalctl -u prosody"
            ),
            ServiceError::NotActive { state, secs, verb } => write!(
                f,
                "prosody is {state} {secs} s after the {verb}: see journalctl -u prosody"
            ),
        }
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServiceError::Run(e) => Some(e),
            ServiceError::DaemonReload(e) | ServiceError::StartLimit { start: e, .. } => Some(e),
            ServiceError::ResetFailed { reset, .. } => Some(reset),
            _ => None,
        }
    }
}

/// Runs `program` with `args`: its trimmed standard output, or why not.
fn run(program: &str, args: &[&str]) -> Result<String, ServiceError> {
    let run = Run::new(program, args);
    let command = run.shown();
    let o = run.output().map_err(ServiceError::Run)?;
    if o.status.success() {
        Ok(o.stdout_text())
    } else {
        Err(ServiceError::Failed {
            command,
            status: o.status,
            stderr: o.stderr_text(),
        })
    }
}

/// One property of prosody.service (`systemctl show -p NAME --value`).
pub(crate) fn unit_property(name: &str) -> String {
    run(
        "systemctl",
        &["show", "-p", name, "--value", "prosody.service"],
    )
    .unwrap_or_default()
}

/// prosody.service's `RefreshOnReload=` list as the running systemd has
/// it (`credentials`, `extensions credentials`, empty when unset); `None`
/// where systemd does not run or does not know the setting (it came in
/// systemd 260: an older `systemctl show` prints no line for it). Found by
/// feature, never by version number.
pub(crate) fn refresh_on_reload() -> Option<String> {
    if !systemd_running() {
        return None;
    }
    // Without --value: an unset list prints `RefreshOnReload=`, an older
    // systemd nothing at all.
    let out = run(
        "systemctl",
        &["show", "-p", "RefreshOnReload", "prosody.service"],
    )
    .ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("RefreshOnReload="))
        .map(str::to_string)
}

/// When prosody.service last became active (`ActiveEnterTimestamp`, to
/// the second); `None` without systemd or when it never was.
pub(crate) fn active_since() -> Option<std::time::SystemTime> {
    if !systemd_running() {
        return None;
    }
    let v = run(
        "systemctl",
        &[
            "show",
            "-p",
            "ActiveEnterTimestamp",
            "--value",
            "--timestamp=unix",
            "prosody.service",
        ],
    )
    .ok()?;
    let secs: u64 = v.strip_prefix('@')?.parse().ok()?;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Whether prosody runs: under systemd, its unit is active.
pub(crate) fn is_active() -> bool {
    if systemd_running() {
        unit_property("ActiveState") == "active"
    } else {
        run("prosodyctl", &["status"]).is_ok()
    }
}

/// `systemctl daemon-reload`, so that a changed drop-in applies at
/// prosody's next start.
pub(crate) fn daemon_reload() -> Result<(), ServiceError> {
    run("systemctl", &["daemon-reload"]).map(|_| ())
}

/// What the service manager did for `apply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Without systemd: through `prosodyctl reload` or `service prosody restart`.
    WithoutSystemd(Action),
    /// `systemctl VERB` done, and prosody active again as `MainPID` `pid`,
    /// after the `steps` taken besides the verb.
    Active {
        verb: &'static str,
        pid: String,
        steps: Vec<Step>,
    },
}

/// A step `apply` took besides the `systemctl` verb asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// prosody.service had changed on disk: `systemctl daemon-reload` first.
    DaemonReloaded,
    /// prosody was in this state (stopped, failed): the restart started it.
    StartedFrom(String),
    /// systemd refused this verb (its start rate limit): `systemctl
    /// reset-failed`, then a start.
    StartLimitReset(&'static str),
}

/// The one-line outcome the operator is told.
impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Applied::WithoutSystemd(action) => write!(
                f,
                "prosody: {} done (no systemd: via prosodyctl/service)",
                action.verb()
            ),
            Applied::Active { verb, pid, steps } => {
                write!(f, "prosody: {verb} done; active (MainPID {pid})")?;
                steps.iter().try_for_each(|s| write!(f, "; {s}"))
            }
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::DaemonReloaded => f.write_str(
                "ran systemctl daemon-reload first (prosody.service had changed on disk)",
            ),
            Step::StartedFrom(state) => write!(f, "prosody was {state}: started it"),
            Step::StartLimitReset(verb) => write!(
                f,
                "systemd refused the {verb} (start rate limit: too many starts in a short time); ran systemctl reset-failed prosody and started it"
            ),
        }
    }
}

/// Restarts or reloads prosody through the service manager and waits
/// (bounded by `timeout`) until it is active again. Returns what was
/// done. A restart of a stopped or failed prosody starts it (and says
/// so); a start refused by systemd's start rate limit (`Result=start-limit-hit`,
/// after a burst of restarts) is retried once after `systemctl reset-failed`:
/// the config has passed the check, so leaving prosody down helps no one.
pub(crate) fn apply(action: Action, timeout: Duration) -> Result<Applied, ServiceError> {
    if !systemd_running() {
        let cmd = match action {
            Action::Reload => run("prosodyctl", &["reload"]),
            Action::Restart => run("service", &["prosody", "restart"]),
        };
        return cmd.map(|_| Applied::WithoutSystemd(action));
    }
    // A drop-in changed on disk (ours, for credentials) and systemd has not
    // read it: a start now would run without it, and the check in the unit
    // would stop prosody. Read it first, or do not start at all.
    let mut steps = Vec::new();
    if action == Action::Restart && unit_property("NeedDaemonReload") == "yes" {
        daemon_reload().map_err(|e| ServiceError::DaemonReload(Box::new(e)))?;
        steps.push(Step::DaemonReloaded);
    }
    let verb = systemctl_verb(action, &mut steps)?;
    run_verb(action, verb, &mut steps)?;
    wait_active(verb, timeout, steps)
}

/// The `systemctl` verb that carries out `action` on prosody as it is now:
/// a reload needs it active; a restart of a stopped prosody is a start.
fn systemctl_verb(action: Action, steps: &mut Vec<Step>) -> Result<&'static str, ServiceError> {
    let before = unit_property("ActiveState");
    Ok(match action {
        Action::Reload => {
            if before != "active" {
                return Err(ServiceError::NotReloadable { state: before });
            }
            "reload"
        }
        Action::Restart if before == "active" || before == "reloading" => "restart",
        Action::Restart => {
            steps.push(Step::StartedFrom(before));
            "start"
        }
    })
}

/// `systemctl VERB prosody.service`; for a restart refused by the start
/// rate limit, `reset-failed` and one more start.
fn run_verb(action: Action, verb: &'static str, steps: &mut Vec<Step>) -> Result<(), ServiceError> {
    let Err(e) = run("systemctl", &[verb, "prosody.service"]) else {
        return Ok(());
    };
    if action != Action::Restart || unit_property("Result") != "start-limit-hit" {
        return Err(e);
    }
    if let Err(r) = run("systemctl", &["reset-failed", "prosody.service"]) {
        return Err(ServiceError::ResetFailed {
            refused: Box::new(e),
            reset: Box::new(r),
        });
    }
    run("systemctl", &["start", "prosody.service"]).map_err(|s| ServiceError::StartLimit {
        verb,
        start: Box::new(s),
    })?;
    steps.push(Step::StartLimitReset(verb));
    Ok(())
}

/// Waits (at most `timeout`) until prosody is active after `verb`, and
/// says so with `steps`; an error when it fails or is still not active.
fn wait_active(
    verb: &'static str,
    timeout: Duration,
    steps: Vec<Step>,
) -> Result<Applied, ServiceError> {
    let deadline = Instant::now() + timeout;
    loop {
        let state = unit_property("ActiveState");
        match state.as_str() {
            "active" => {
                let pid = unit_property("MainPID");
                return Ok(Applied::Active { verb, pid, steps });
            }
            "failed" => return Err(ServiceError::FailedAfter { verb }),
            _ if Instant::now() > deadline => {
                return Err(ServiceError::NotActive {
                    state,
                    secs: timeout.as_secs(),
                    verb,
                })
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Starts (or stops) a component in the running prosody through its admin
/// shell (`prosodyctl shell`, `mod_admin_shell`, enabled in Debian's default
/// config): prosody 0.12 activates an added component, and deactivates a
/// removed one, only on restart, not on reload. Call it only for a name the
/// loaded config has: activating an unknown name makes a plain VirtualHost.
pub(crate) fn set_active(name: &str, active: bool) -> Result<(), AdminError> {
    let call = format!(
        "host:{}({})",
        if active { "activate" } else { "deactivate" },
        crate::document::lexer::encode_string(name.as_bytes())
    );
    let out = super::running::shell(&call).map_err(AdminError::Unavailable)?;
    // The shell reports failures in its output, with a zero exit status.
    let failed = super::running::meaningful(&out)
        .find(|l| l.contains("Error") || l.contains("error") || l.contains("Unable to connect"));
    match failed {
        Some(said) => Err(AdminError::Refused {
            said: said.to_string(),
        }),
        None => Ok(()),
    }
}

/// Why an admin shell command was not done: the shell gave no answer
/// (prosodyctl missing, no prosody reached, …), or it answered with an error.
#[derive(Debug)]
pub enum AdminError {
    Unavailable(ShellError),
    /// The shell's error line.
    Refused {
        said: String,
    },
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Unavailable(e) => {
                write!(f, "prosody's admin shell is unavailable ({e})")
            }
            AdminError::Refused { said } => write!(f, "prosody's admin shell said: {said}"),
        }
    }
}

impl std::error::Error for AdminError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AdminError::Unavailable(e) => Some(e),
            AdminError::Refused { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_reads_as_one_line_with_its_steps() {
        let done = Applied::Active {
            verb: "start",
            pid: "42".into(),
            steps: vec![
                Step::DaemonReloaded,
                Step::StartedFrom("failed".into()),
                Step::StartLimitReset("start"),
            ],
        };
        assert_eq!(
            done.to_string(),
            "prosody: start done; active (MainPID 42); ran systemctl daemon-reload first (prosody.service had changed on disk); prosody was failed: started it; systemd refused the start (start rate limit: too many starts in a short time); ran systemctl reset-failed prosody and started it"
        );
        assert_eq!(
            Applied::WithoutSystemd(Action::Reload).to_string(),
            "prosody: reload done (no systemd: via prosodyctl/service)"
        );
    }
}
