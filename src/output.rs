//! What the operator sees: human messages and diagnostics on standard
//! error (escaped for the terminal: names and paths come from the config),
//! data (tables, JSON, diffs, a generated secret) on standard output. The
//! handlers in `main.rs` decide what to say; this room decides how.

use std::io::{IsTerminal, Write};
use std::path::Path;

use fogbow_xmpp_ctl::diagnostics::{Diagnostic, Report, Severity};
use fogbow_xmpp_ctl::error::Error;
use fogbow_xmpp_ctl::ops::checklist;
use fogbow_xmpp_ctl::ops::{
    self, Action, Breakage, EditOutcome, ListOutput, ProbeReport, StatusReport, Subject,
};
use fogbow_xmpp_ctl::prosody::listener::Shown;
use fogbow_xmpp_ctl::system::journal;
use fogbow_xmpp_ctl::text::remedy::{Drift, Why};

/// Where messages go, and how many.
pub struct Out {
    pub quiet: bool,
    pub verbose: bool,
}

/// A guarded restart or reload reports as any command does.
impl fogbow_xmpp_ctl::ops::Progress for Out {
    fn check(&self, report: &Report) {
        Out::check(self, report)
    }

    fn event(&self, event: &ops::Event) {
        self.info(&crate::words::event(event))
    }
}

impl Out {
    /// Messages quote names and paths from the config: escaped for the terminal.
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{}", fogbow_xmpp_ctl::text::terminal_safe(msg));
        }
    }

    pub fn detail(&self, msg: &str) {
        if self.verbose {
            eprintln!("{}", fogbow_xmpp_ctl::text::terminal_safe(msg));
        }
    }

    fn warnings(&self, ds: &[Diagnostic]) {
        if !self.quiet {
            for d in ds {
                emit(d);
            }
        }
    }

    /// A failure: its diagnostics, then one line that says what failed
    /// (even with `-q`).
    pub fn error(&self, e: &Error) {
        for d in e.diagnostics() {
            emit(d);
        }
        eprintln!(
            "fogbow-xmpp-ctl: error: {}",
            fogbow_xmpp_ctl::text::terminal_safe(&e.to_string())
        );
    }

    /// A usage error clap could not see, worded as clap words its own.
    pub fn usage(&self, e: &Error) {
        eprintln!("fogbow-xmpp-ctl: error: {e}\n\nFor more information, try '--help'.");
    }

    /// `check`'s findings and its one-line summary.
    pub fn check(&self, report: &Report) {
        for d in &report.diagnostics {
            if d.severity == Severity::Error || !self.quiet {
                emit(d);
            }
        }
        for n in &report.notes {
            self.info(&format!("note: {}", crate::words::note(n)));
        }
        let errors = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = report.diagnostics.len() - errors;
        let files = report.files.len();
        self.detail(&format!(
            "checked {files} file(s): {}",
            report
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if errors > 0 {
            self.info(&format!(
                "check: {errors} error(s), {warnings} warning(s) in {files} file(s)"
            ));
        } else {
            self.info(&format!(
                "check: OK, {warnings} warning(s) in {files} file(s)"
            ));
        }
    }

    /// An edit's outcome: its JSON, or the dry run's diff and a sentence;
    /// then the warnings the config still has, and a generated secret.
    pub fn edit(
        &self,
        o: &EditOutcome,
        json: bool,
        will_apply: bool,
        generated: Option<String>,
        subject: Subject,
        applied: Option<Result<(), &Error>>,
    ) {
        if json {
            self.edit_json(o, generated, applied);
            return;
        }
        if let Some(diff) = &o.diff {
            print!("{diff}");
        }
        self.warnings(&o.warnings);
        for n in &o.notes {
            self.info(&format!("warning: {}", crate::words::note(n)));
        }
        self.info(&edit_sentence(o, subject));
        self.edit_files(o);
        if let Some(b) = &o.backup {
            self.detail(&format!("previous version saved as {}", b.display()));
        }
        if let Some(s) = generated {
            self.generated_secret(&s);
        }
        if o.changed && !o.dry_run && !will_apply {
            self.apply_hint(subject, o.restart_needed);
        }
    }

    /// An edit's outcome as JSON (with the generated secret and whether it
    /// was applied), then its warnings on standard error.
    fn edit_json(
        &self,
        o: &EditOutcome,
        generated: Option<String>,
        applied: Option<Result<(), &Error>>,
    ) {
        #[derive(serde::Serialize)]
        struct WithSecret<'a> {
            #[serde(flatten)]
            outcome: &'a EditOutcome,
            #[serde(skip_serializing_if = "Option::is_none")]
            secret: Option<String>,
            /// Only with --reload/--restart: whether the running prosody serves it.
            #[serde(skip_serializing_if = "Option::is_none")]
            applied: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            apply_error: Option<String>,
        }
        print_json(&WithSecret {
            outcome: o,
            secret: generated,
            applied: applied.as_ref().map(Result::is_ok),
            apply_error: applied.and_then(Result::err).map(Error::to_string),
        });
        self.warnings(&o.warnings);
        for n in &o.notes {
            self.info(&format!("warning: {}", crate::words::note(n)));
        }
    }

    /// The files an edit deleted, and our files outside the config it
    /// created, replaced or removed: named, never their contents.
    fn edit_files(&self, o: &EditOutcome) {
        for d in &o.deleted {
            let verb = if o.dry_run { "would delete" } else { "deleted" };
            self.info(&format!(
                "{verb} {}: nothing but comments was left in it",
                d.display()
            ));
        }
        for c in &o.credential_files {
            let what = match c.kind {
                ops::SysKind::Credential => "the encrypted credential",
                ops::SysKind::DropIn => "the drop-in for prosody.service",
            };
            let verb = match (o.dry_run, c.action) {
                (false, "created") => "created",
                (false, "replaced") => "replaced",
                (false, _) => "removed",
                (true, "created") => "would create",
                (true, "replaced") => "would replace",
                (true, _) => "would remove",
            };
            self.info(&format!("{verb} {what} {}", c.file.display()));
        }
    }

    /// A generated secret, alone on standard output. Redirected
    /// (`S=$(… --generate-secret)`), the secret is not on the screen below
    /// the message: say where it went. Standard output stays the secret
    /// alone, for the script that captures it.
    fn generated_secret(&self, s: &str) {
        if std::io::stdout().is_terminal() {
            self.info("generated secret (shown once; copy it into the component's xmpp_password):");
        } else {
            self.info("generated secret written to standard output (not a terminal), once: copy it into the component's xmpp_password");
        }
        println!("{s}");
    }

    /// `migrate`'s outcome: its JSON, or per component the edit's report
    /// and, when it is not applied (nor a dry run), how to apply it.
    pub fn migration(&self, result: &ops::MigrateOutput, json: bool, no_hint: bool) {
        if json {
            print_json(result);
            return;
        }
        if result.components.is_empty() {
            self.info(&format!(
                "no component has its secret outside the {}; nothing to migrate",
                result.to
            ));
        }
        for o in &result.components {
            self.edit(o, false, true, None, Subject::Component, None);
        }
        if result.error.is_none() && !no_hint && result.components.iter().any(|o| o.changed) {
            let restart = result.components.iter().any(|o| o.restart_needed);
            self.apply_hint(Subject::Component, restart);
        }
    }

    /// How to apply a written edit that was not applied: a listener or a
    /// credential needs a restart, a component only a reload.
    fn apply_hint(&self, subject: Subject, restart_needed: bool) {
        let why = match (subject, restart_needed) {
            (_, true) => credentials_at_start(),
            (Subject::Listener, _) => Why::ListenerChange,
            _ => Why::Converge,
        };
        self.info(&why.apply_hint());
    }

    /// `add --from-properties FILE --generate-secret`: FILE's diff in a dry
    /// run, then what was (or would be) written into it — never the secret.
    pub fn properties_write(&self, w: &fogbow_xmpp_ctl::ops::PropertiesWrite) {
        if let Some(diff) = &w.diff {
            print!("{diff}");
        }
        let file = w.file.display();
        self.info(&match (w.written, w.action) {
            (true, "appended") => format!("appended xmpp_password with the new secret to {file}"),
            (true, _) => format!("wrote the new secret into xmpp_password in {file}"),
            (false, "appended") => {
                format!("would append xmpp_password with a new secret to {file}")
            }
            (false, _) => format!("would write a new secret into xmpp_password in {file}"),
        });
    }

    /// `probe`'s finding as one line on standard output, and its hint.
    pub fn probe(&self, r: &ProbeReport) {
        let outcome = serde_json::to_value(&r.outcome)
            .ok()
            .and_then(|v| v["outcome"].as_str().map(String::from))
            .unwrap_or_default();
        let detail = r
            .outcome
            .detail()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        println!("{}: {outcome}{detail} at {}:{}", r.name, r.host, r.port);
        self.info(&format!("hint: {}", r.hint));
    }
}

/// Why a credential edit is applied by a restart, not a reload, with the
/// reason found on this machine (where systemd refreshes credentials at a
/// reload, a credential edit is applied by one and this is not said).
fn credentials_at_start() -> Why {
    Why::CredentialsAtStart(fogbow_xmpp_ctl::system::credentials::reload_refreshes().err())
}

/// The sentence that says what an edit did (or would do).
fn edit_sentence(o: &EditOutcome, subject: Subject) -> String {
    let file = o.file.display();
    match (o.action, o.dry_run) {
        (Action::Added, false) => format!("added {} to {file}", o.name),
        (Action::Added, true) => format!("would add {} to {file}", o.name),
        (Action::Replaced, false) => format!("replaced the secret of {} in {file}", o.name),
        (Action::Replaced, true) => {
            format!("would replace the secret of {} in {file}", o.name)
        }
        (Action::Removed, false) => format!("removed {} from {file}", o.name),
        (Action::Removed, true) => format!("would remove {} from {file}", o.name),
        (Action::Updated, false) => format!("updated the {} in {file}", o.name),
        (Action::Updated, true) => format!("would update the {} in {file}", o.name),
        (Action::Restored, false) => format!("restored {file} from {}", o.name),
        (Action::Restored, true) => format!("would restore {file} from {}", o.name),
        (Action::Undone, false) => format!("undid {} (in {file})", undid(o)),
        (Action::Undone, true) => format!("would undo {} (in {file})", undid(o)),
        (Action::Unchanged, _) => match subject {
            Subject::Component => format!(
                "{} is already present with this secret in {file}; unchanged",
                o.name
            ),
            Subject::Listener => format!("the {} in {file} is already so; unchanged", o.name),
            Subject::Backup => match &o.undid {
                Some(u) => format!("nothing to undo for {u}; unchanged"),
                None => format!("{file} is already identical to {}; unchanged", o.name),
            },
        },
        (Action::Absent, _) => format!("{} is not in the config; nothing to remove", o.name),
        (Action::Migrated, dry) => {
            let into_credential = o
                .credential_files
                .iter()
                .any(|c| c.kind == ops::SysKind::Credential && c.action != "removed");
            let (verb, target) = match (dry, into_credential) {
                (false, true) => ("moved", "an encrypted credential"),
                (true, true) => ("would move", "an encrypted credential"),
                (false, false) => ("moved", "the config"),
                (true, false) => ("would move", "the config"),
            };
            format!("{verb} the secret of {} into {target} ({file})", o.name)
        }
    }
}

/// What an undo undid: `add NAME of TIME`.
fn undid(o: &EditOutcome) -> &str {
    o.undid.as_deref().unwrap_or(&o.name)
}

/// A diagnostic to stderr: one journal line per problem when stderr is the
/// journal (under the gate), else in compiler style.
fn emit(d: &Diagnostic) {
    match journal::stderr_is_journal() {
        true => journal::stream_diagnostic(d),
        false => eprintln!("{d}"),
    }
}

/// Data as pretty JSON on standard output; JSON keeps names exact.
pub fn print_json(v: &impl serde::Serialize) {
    let mut s = serde_json::to_string_pretty(v).expect("serialisable");
    s.push('\n');
    write_stdout(&s);
}

/// A closed pipe (`| head`) is not our failure.
fn write_stdout(s: &str) {
    let _ = std::io::stdout().write_all(s.as_bytes());
}

/// `list`'s table: NAME, MODULE, SECRET, FILE:LINE.
pub fn print_table(list: &ListOutput, show_secrets: bool) {
    let rows: Vec<[String; 4]> = list
        .components
        .iter()
        .map(|c| {
            let mut secret = match (c.secret_source, show_secrets) {
                ("none", _) => "none".to_string(),
                ("global", true) => format!("{} (global)", c.secret.clone().unwrap_or_default()),
                ("global", false) => format!(
                    "global ({})",
                    c.secret_inherited_from.clone().unwrap_or_default()
                ),
                (_, true) => c.secret.clone().unwrap_or_default(),
                // Where prosody 13 reads it: a name or a path, not a secret.
                (_, false) if c.secret_ref.is_some() => {
                    let r = c.secret_ref.as_ref().expect("just checked");
                    match (&r.name, &r.path) {
                        (Some(n), _) => format!("credential {n}"),
                        (_, Some(p)) => format!("file {p}"),
                        _ => "set (expression)".to_string(),
                    }
                }
                ("expression", false) => "set (expression)".to_string(),
                _ => "set".to_string(),
            };
            if c.secret_overridden {
                secret.push_str(" (unused: a later block sets another)");
            }
            // Names, paths (and secrets) are the config's data: shown, never
            // run by the terminal.
            [
                c.name.clone(),
                c.module.clone(),
                secret,
                format!("{}:{}", c.file.display(), c.line),
            ]
            .map(|cell| fogbow_xmpp_ctl::text::terminal_safe(&cell).into_owned())
        })
        .collect();
    write_table(&["NAME", "MODULE", "SECRET", "FILE:LINE"], &rows);
}

/// `listen` without options: where prosody accepts components, then each
/// listener option set under a section, which prosody ignores.
pub fn print_listener(shown: &Shown) {
    let listener = &shown.listener;
    let mark = |d: bool| if d { " (prosody's default)" } else { "" };
    println!(
        "interfaces: {}{}",
        listener.interfaces.join(", "),
        mark(listener.interfaces_default)
    );
    println!(
        "ports: {}{}",
        listener
            .ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        mark(listener.ports_default)
    );
    for m in &shown.ignored {
        println!(
            "ignored: {} at {}:{} (under {}: prosody reads it only from the global section; fogbow-xmpp-ctl listen --interface/--port moves it)",
            m.option,
            fogbow_xmpp_ctl::text::terminal_safe(&m.file.display().to_string()),
            m.line,
            fogbow_xmpp_ctl::text::terminal_safe(&m.section)
        );
    }
}

/// `doctor`'s checklist, one ✔/✘ (⚠: passes, but see the hint) line per
/// item with its hint, and under "config passes check" every diagnostic.
/// Details quote names from the config and lines from prosody's log
/// (hostile input): escaped for the terminal.
pub fn print_doctor(report: &checklist::Report) {
    let mut s = String::new();
    for i in &report.items {
        let who = i
            .component
            .as_deref()
            .map(|c| format!("{c}: "))
            .unwrap_or_default();
        let mark = match (i.ok, i.warn) {
            (false, _) => "✘",
            (true, true) => "⚠",
            (true, false) => "✔",
        };
        let line = format!("{mark} {who}{} ({})", i.check, i.detail);
        s.push_str(&fogbow_xmpp_ctl::text::terminal_safe(&line));
        s.push('\n');
        for d in &i.diagnostics {
            // one_line escapes what comes from the config.
            s.push_str(&format!("    {}\n", d.one_line()));
        }
        if let Some(h) = &i.hint {
            s.push_str(&format!(
                "    hint: {}\n",
                fogbow_xmpp_ctl::text::terminal_safe(h)
            ));
        }
    }
    write_stdout(&s);
}

/// A read-only command on a config that does not load: what breaks it (the
/// diagnostics), then what is shown instead, on standard error before the
/// data (even with `-q`: it is an error).
pub fn print_breakage(b: &Breakage, config: &std::path::Path) {
    for d in &b.diagnostics {
        emit(d);
    }
    if let Some(m) = b.summary(config) {
        eprintln!(
            "fogbow-xmpp-ctl: error: {}",
            fogbow_xmpp_ctl::text::terminal_safe(&m)
        );
    }
}

/// `restore --list`: a legend (each backup is its file as it was *before*
/// the edit named with it; where the backups are), then per backup a row
/// with when, which command and component made it and the file it is a
/// backup of (relative to the config's directory), and under it the
/// backup's name (what `restore` takes), so that a row fits 100 columns;
/// `-` where no record says (a backup older than the records).
pub fn print_backups(list: &ops::Backups, dir: &Path) {
    const WIDTH: usize = 100;
    let safe = |s: &str| fogbow_xmpp_ctl::text::terminal_safe(s).into_owned();
    let dash = |v: &Option<String>| safe(v.as_deref().unwrap_or("-"));
    let base = list.config_dir.as_deref();
    let file = |f: &Path| {
        let shown = base.and_then(|b| f.strip_prefix(b).ok()).unwrap_or(f);
        safe(&shown.display().to_string())
    };
    let time = |t: &Option<String>| {
        let t = dash(t);
        t.strip_suffix(" UTC").map(str::to_string).unwrap_or(t)
    };
    let mut rows: Vec<[String; 4]> = list
        .backups
        .iter()
        .map(|b| {
            [
                time(&b.time),
                dash(&b.command),
                dash(&b.name),
                file(&b.file),
            ]
        })
        .collect();
    let header = ["EDIT (UTC)", "COMMAND", "COMPONENT", "FILE"];
    let widest = |rows: &[[String; 4]], k: usize| {
        rows.iter()
            .map(|r| r[k].chars().count())
            .chain([header[k].len()])
            .max()
            .unwrap_or(0)
    };
    // The component's name is cut (…) where the row would not fit.
    let others = widest(&rows, 0) + widest(&rows, 1) + widest(&rows, 3) + 6;
    let room = WIDTH.saturating_sub(others).max(12);
    for r in &mut rows {
        if r[2].chars().count() > room {
            r[2] = r[2].chars().take(room - 1).chain(['…']).collect();
        }
    }
    let mut s = format!(
        "Backups in {}, oldest first.\nEach BACKUP is its FILE as it was BEFORE the edit on the line above it;\nput one back with: fogbow-xmpp-ctl restore BACKUP\n",
        safe(&dir.display().to_string())
    );
    let widths = [0, 1, 2, 3].map(|k| widest(&rows, k));
    let line = |r: &[String; 4]| {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        cells.join("  ").trim_end().to_string() + "\n"
    };
    s.push_str(&line(&header.map(String::from)));
    s.push_str("  BACKUP\n");
    for (r, b) in rows.iter().zip(&list.backups) {
        s.push_str(&line(r));
        let name = b.backup.file_name().unwrap_or(b.backup.as_os_str());
        s.push_str(&format!("  {}\n", safe(&name.to_string_lossy())));
    }
    write_stdout(&s);
}

/// A table on standard output: a header, then rows, columns padded to
/// their widest cell (in characters) and two spaces apart.
fn write_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    for r in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    write_stdout(&s);
}

/// `status` as a table: NAME, IN FILE, ACTIVE, CONNECTED; drift marked.
pub fn print_status(r: &StatusReport) {
    let yn = |b: bool| if b { "yes" } else { "no" };
    let w = r
        .components
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    println!("{:<w$}  IN FILE  ACTIVE  CONNECTED", "NAME");
    for c in &r.components {
        let by_reload = r
            .restart_pending
            .iter()
            .any(|p| p.component == c.name && p.by_reload);
        let drift = if c.restart_pending && by_reload {
            Some(Drift::ReloadPending)
        } else if c.restart_pending {
            Some(Drift::RestartPending)
        } else if c.in_file == c.active {
            None
        } else if c.in_file {
            Some(Drift::NotActive)
        } else {
            Some(Drift::NotInFile)
        };
        let drift = drift.map(|d| format!("  (drift: {d})")).unwrap_or_default();
        println!(
            "{:<w$}  {:<7}  {:<6}  {}{drift}",
            fogbow_xmpp_ctl::text::terminal_safe(&c.name),
            yn(c.in_file),
            yn(c.active),
            yn(c.connected)
        );
    }
}
