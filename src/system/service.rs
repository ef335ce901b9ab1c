//! Applying a config to the running prosody, guarded by the check.
//!
//! systemd cannot veto the stop half of `systemctl restart`: with a broken
//! config the old server is already gone when `ExecStartPre=` fails. So
//! `fogbow-xmpp-ctl restart|reload` check first and touch the service only
//! when the config is good.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Restart,
    Reload,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Reload => "reload",
        }
    }
}

/// How long to wait for prosody to be active again.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether systemd is the running init (`sd_booted()`).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let o = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {}", crate::secret::plain_io(&e)))?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        let err = String::from_utf8_lossy(&o.stderr);
        Err(format!("{shown} failed ({}): {}", o.status, err.trim()))
    }
}

/// Restarts or reloads prosody through the service manager and waits
/// (bounded) until it is active again. Returns a one-line outcome.
pub fn apply(action: Action) -> Result<String, String> {
    if !systemd_running() {
        let cmd = match action {
            Action::Reload => run(Command::new("prosodyctl").arg("reload")),
            Action::Restart => run(Command::new("service").args(["prosody", "restart"])),
        };
        return cmd.map(|_| {
            format!(
                "prosody: {} done (no systemd: via prosodyctl/service)",
                action.verb()
            )
        });
    }
    run(Command::new("systemctl").args([action.verb(), "prosody.service"]))?;
    let deadline = Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let state = run(Command::new("systemctl").args([
            "show",
            "-p",
            "ActiveState",
            "--value",
            "prosody.service",
        ]))
        .unwrap_or_default();
        match state.as_str() {
            "active" => {
                let pid = run(Command::new("systemctl").args([
                    "show",
                    "-p",
                    "MainPID",
                    "--value",
                    "prosody.service",
                ]))
                .unwrap_or_default();
                return Ok(format!(
                    "prosody: {} done; active (MainPID {pid})",
                    action.verb()
                ));
            }
            "failed" => {
                return Err(format!(
                    "prosody failed after the {}: see journalctl -u prosody",
                    action.verb()
                ))
            }
            _ if Instant::now() > deadline => {
                return Err(format!(
                    "prosody is {state} {} s after the {}: see journalctl -u prosody",
                    ACTIVE_TIMEOUT.as_secs(),
                    action.verb()
                ))
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Starts (or stops) a component in the running prosody through its admin
/// shell (`prosodyctl shell`, `mod_admin_shell`, enabled in Debian's default
/// config): prosody 0.12 activates an added component, and deactivates a
/// removed one, only on restart, not on reload. Call it only for a name the
/// loaded config has: activating an unknown name makes a plain VirtualHost.
pub fn set_active(name: &str, active: bool) -> Result<(), String> {
    let call = format!(
        "host:{}({})",
        if active { "activate" } else { "deactivate" },
        crate::document::lexer::encode_string(name.as_bytes())
    );
    let out = run(Command::new("prosodyctl").args(["shell", &call]))
        .map_err(|e| format!("prosody's admin shell is unavailable ({e})"))?;
    // The shell reports failures in its output, with a zero exit status.
    if out.contains("Error") || out.contains("error") || out.contains("Unable to connect") {
        return Err(format!(
            "prosody's admin shell said: {}",
            out.lines().next().unwrap_or("")
        ));
    }
    Ok(())
}
