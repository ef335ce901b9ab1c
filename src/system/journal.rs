//! Logging to the systemd journal, where there is one.
//!
//! Under systemd (prosody's `ExecStartPre=`/`ExecReload=`), stderr is the
//! journal: each diagnostic then goes as one line with its priority, which
//! `journalctl -u prosody` shows every time ([`stream_diagnostic`]). Edits
//! leave an audit record (who, what, which file; never the secret) whenever
//! a journal is running.
//! `doctor` reads prosody.service's recent journal (`prosody_log`).

use log::{Level, Record};
use systemd_journal_logger::JournalLog;

use crate::diagnostics::{Diagnostic, Severity};

const IDENTIFIER: &str = "fogbow-xmpp-ctl";

/// Whether our stderr is connected to the journal (`$JOURNAL_STREAM` matches it).
pub fn stderr_is_journal() -> bool {
    systemd_journal_logger::connected_to_journal()
}

fn journal() -> Option<JournalLog> {
    Some(
        JournalLog::new()
            .ok()?
            .with_syslog_identifier(IDENTIFIER.to_string()),
    )
}

/// Writes a diagnostic to stderr as one journal line: stderr is the stream
/// systemd opened for the unit, so journald files the line under the unit
/// whatever becomes of this process; a record sent on the native socket
/// instead is filed under no unit when the process has exited before
/// journald reads its cgroup (measured: 2 of 10 failed reloads lost the
/// FILE:LINE from `journalctl -u prosody`). The `<N>` prefix is the
/// line's syslog priority (systemd.exec(5), `SyslogLevelPrefix=`, on by
/// default). One line per problem: the help goes in parentheses.
pub fn stream_diagnostic(d: &Diagnostic) {
    let priority = match d.severity {
        Severity::Error => 3,
        Severity::Warning => 4,
    };
    eprintln!("<{priority}>{}", d.one_line());
}

/// Records who changed what in which file. Best effort: no journal, no record.
pub(crate) fn audit(action: &str, name: &str, file: &std::path::Path) {
    if !std::path::Path::new("/run/systemd/journal/socket").exists() {
        return;
    }
    let Some(j) = journal() else { return };
    let uid = nix::unistd::getuid().as_raw().to_string();
    let sudo_user = std::env::var("SUDO_USER").unwrap_or_default();
    let who = if sudo_user.is_empty() {
        format!("uid {uid}")
    } else {
        format!("uid {uid} (sudo by {sudo_user})")
    };
    let file_s = file.display().to_string();
    let kvs = [
        ("FXC_ACTION", action),
        ("FXC_COMPONENT", name),
        ("CONFIG_FILE", file_s.as_str()),
        ("FXC_UID", uid.as_str()),
        ("FXC_SUDO_USER", sudo_user.as_str()),
    ];
    let _ = j.journal_send(
        &Record::builder()
            .level(Level::Info)
            .args(format_args!(
                "{action} component {name} in {file_s} by {who}"
            ))
            .key_values(&kvs)
            .build(),
    );
}

/// How long `journalctl` may take, and how much of its output is read.
const JOURNAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const JOURNAL_MAX_BYTES: u64 = 8 << 20;

/// The last 24 hours (at most 20,000 lines) of prosody.service's journal,
/// as `journalctl` prints it: what prosody logs to the console (Debian's
/// default when `log` is unset) or to `*syslog`. For `doctor`, which
/// looks there for components refused; bounded in time, lines and bytes,
/// and stopped after 5 s.
pub(crate) fn prosody_log() -> Result<String, JournalError> {
    use super::run::Run;
    let args = [
        "--unit=prosody.service",
        "--since=-24h",
        "--lines=20000",
        "--no-pager",
        "--quiet",
        "--output=short-iso",
    ];
    let out = Run::new("journalctl", &args)
        .deadline(JOURNAL_TIMEOUT)
        .max_stdout(JOURNAL_MAX_BYTES)
        .output()
        .map_err(JournalError::Run)?;
    if !out.status.success() {
        return Err(JournalError::Failed(out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Why the journal was not read: journalctl could not be run or did not
/// finish in time, or it failed with that status.
#[derive(Debug)]
pub(crate) enum JournalError {
    Run(super::run::RunError),
    Failed(std::process::ExitStatus),
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::run::Failure;
        match self {
            JournalError::Run(e) => match &e.failure {
                Failure::Spawn(io) => write!(f, "journalctl: {}", crate::text::plain_io(io)),
                _ => write!(
                    f,
                    "journalctl did not finish within {} s",
                    JOURNAL_TIMEOUT.as_secs()
                ),
            },
            JournalError::Failed(status) => write!(f, "journalctl failed ({status})"),
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Run(e) => Some(e),
            JournalError::Failed(_) => None,
        }
    }
}
