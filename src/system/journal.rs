//! Logging to the systemd journal, where there is one.
//!
//! Under systemd (prosody's `ExecStartPre=`), stderr is the journal: each
//! diagnostic then goes as one structured record, so `journalctl -u prosody`
//! shows one clear line per problem and `CONFIG_FILE=`/`CONFIG_LINE=`/
//! `DIAGNOSTIC_CODE=` can be queried. Edits leave an audit record (who,
//! what, which file; never the secret) whenever a journal is running.

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

/// Sends a diagnostic as one structured record; false if no journal took it.
pub fn send_diagnostic(d: &Diagnostic) -> bool {
    let Some(j) = journal() else { return false };
    let file = d.file.display().to_string();
    let line = d.line.to_string();
    // One line per problem in `journalctl`: the help goes in parentheses.
    let text = d.one_line().to_string();
    let kvs = [
        ("CONFIG_FILE", file.as_str()),
        ("CONFIG_LINE", line.as_str()),
        ("DIAGNOSTIC_CODE", d.code.as_str()),
    ];
    let level = match d.severity {
        Severity::Error => Level::Error,
        Severity::Warning => Level::Warn,
    };
    j.journal_send(
        &Record::builder()
            .level(level)
            .args(format_args!("{text}"))
            .key_values(&kvs)
            .build(),
    )
    .is_ok()
}

/// Records who changed what in which file. Best effort: no journal, no record.
pub fn audit(action: &str, name: &str, file: &std::path::Path) {
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
