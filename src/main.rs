//! The `fogbow-xmpp-ctl` command: parses arguments, runs an operation of
//! the library, and maps its result to output and an exit status.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use fogbow_xmpp_ctl::diagnostics::{self, CheckOptions, Diagnostic, Severity};
use fogbow_xmpp_ctl::ops::{self, Context, EditOptions, EditOutcome};
use fogbow_xmpp_ctl::settings::Settings;
use fogbow_xmpp_ctl::{journal, secret, service, settings};

mod cli;
use cli::{Cli, Command};

/// Exit status of a usage error, as clap uses it.
const USAGE: u8 = 2;

struct Out {
    quiet: bool,
    verbose: bool,
}

impl Out {
    /// Messages quote names and paths from the config: escaped for the terminal.
    fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{}", diagnostics::terminal_safe(msg));
        }
    }
    fn detail(&self, msg: &str) {
        if self.verbose {
            eprintln!("{}", diagnostics::terminal_safe(msg));
        }
    }
    fn warnings(&self, ds: &[Diagnostic]) {
        if !self.quiet {
            for d in ds {
                emit(d);
            }
        }
    }
}

/// A diagnostic to the journal when stderr is one (one structured record
/// per problem), else to stderr in compiler style.
fn emit(d: &Diagnostic) {
    if !(journal::stderr_is_journal() && journal::send_diagnostic(d)) {
        eprintln!("{d}");
    }
}

fn fail(message: &str, diagnostics: &[Diagnostic]) -> ExitCode {
    for d in diagnostics {
        emit(d);
    }
    // Messages quote names and paths from the config.
    eprintln!(
        "fogbow-xmpp-ctl: error: {}",
        diagnostics::terminal_safe(message)
    );
    ExitCode::from(1)
}

fn usage(message: &str) -> ExitCode {
    eprintln!("fogbow-xmpp-ctl: error: {message}\n\nFor more information, try '--help'.");
    ExitCode::from(USAGE)
}

fn print_json(v: &impl serde::Serialize) {
    let mut s = serde_json::to_string_pretty(v).expect("serialisable");
    s.push('\n');
    // A closed pipe (`| head`) is not our failure.
    let _ = std::io::stdout().write_all(s.as_bytes());
}

/// A usage error from clap, without the value it complains about when that
/// may be a secret: clap repeats an unexpected positional argument, and
/// `add NAME SECRET` is the likeliest way to type one there.
fn parse_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let positional = matches!(
        e.get(ContextKind::InvalidArg),
        Some(ContextValue::String(a)) if !a.starts_with('-')
    );
    if e.kind() == ErrorKind::UnknownArgument && positional {
        let usage = e
            .get(ContextKind::Usage)
            .map(|u| format!("\n\n{u}"))
            .unwrap_or_default();
        eprintln!(
            "error: one argument too many (not repeated here, in case it is a secret: no command takes a secret on the command line, where every local user can read it; type it with --secret-file - or at the prompt, or use --generate-secret){usage}\n\nFor more information, try '--help'."
        );
        return ExitCode::from(USAGE);
    }
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(USAGE))
}

fn main() -> ExitCode {
    // First of all: whatever happens next, no core dump holds a secret.
    secret::forbid_core_dumps();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return parse_error(e),
    };
    let out = Out {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let explicit = cli.settings.as_os_str() != settings::DEFAULT_PATH;
    let settings = match Settings::load(&cli.settings, explicit) {
        Ok(s) => s,
        Err(e) => return fail(&e, &[]),
    };
    let ctx = Context {
        config: cli
            .config
            .clone()
            .unwrap_or_else(|| settings.prosody_config.clone()),
        settings,
    };
    out.detail(&format!("prosody config: {}", ctx.config.display()));

    match cli.command {
        Command::Add(a) => {
            let opts = EditOptions {
                replace: a.replace,
                dry_run: a.edit.dry_run,
                show_secrets: a.edit.show_secrets,
                if_exists: false,
            };
            if let Some(props) = &a.from_properties {
                return match ops::add_from_properties(&ctx, a.name.as_deref(), props, opts) {
                    Ok((o, warnings)) => {
                        let code = report_edit(&out, &ctx, &o, &a.edit, None, Subject::Component);
                        for w in warnings {
                            out.info(&format!("warning: {w}"));
                        }
                        code
                    }
                    Err(e) => fail(&e.message, &e.diagnostics),
                };
            }
            let name = a
                .name
                .clone()
                .expect("clap requires NAME without --from-properties");
            let (secret, generated) = if let Some(path) = &a.secret_file {
                match secret::read_file(path) {
                    Ok(s) => (s, false),
                    Err(e) => return fail(&e, &[]),
                }
            } else if a.generate_secret {
                match secret::generate() {
                    Ok(s) => (s, true),
                    Err(e) => return fail(&e, &[]),
                }
            } else {
                match secret::prompt(&name) {
                    Ok(s) => (s, false),
                    Err(e) if e.starts_with("no secret given") => return usage(&e),
                    Err(e) => return fail(&e, &[]),
                }
            };
            match ops::add(&ctx, &name, &secret, opts) {
                Ok(o) => {
                    // The generated secret is shown once, only if it was written.
                    let shown = (generated && o.changed && !o.dry_run)
                        .then(|| String::from_utf8(secret).expect("hex"));
                    report_edit(&out, &ctx, &o, &a.edit, shown, Subject::Component)
                }
                Err(e) => fail(&e.message, &e.diagnostics),
            }
        }
        Command::Remove(r) => {
            let opts = EditOptions {
                replace: false,
                dry_run: r.edit.dry_run,
                show_secrets: r.edit.show_secrets,
                if_exists: r.if_exists,
            };
            match ops::remove(&ctx, &r.name, opts) {
                Ok(o) => report_edit(&out, &ctx, &o, &r.edit, None, Subject::Component),
                Err(e) => fail(&e.message, &e.diagnostics),
            }
        }
        Command::List(l) => match ops::list(&ctx, l.show_secrets) {
            Ok(list) => {
                for n in &list.notes {
                    out.info(&format!("note: {n}"));
                }
                if l.json {
                    print_json(&list);
                } else {
                    print_table(&list, l.show_secrets);
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.message, &e.diagnostics),
        },
        Command::Check(c) => {
            let opts = CheckOptions {
                with_prosody: !c.no_prosody,
                strict: c.strict,
            };
            let report = diagnostics::check_config(&ctx.config, opts);
            if c.json {
                print_json(&report);
            } else {
                report_check(&out, &report);
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Restart => guarded(&out, &ctx, service::Action::Restart),
        Command::Reload => guarded(&out, &ctx, service::Action::Reload),
        Command::Listen(l) => {
            if l.interfaces.is_empty() && l.ports.is_empty() {
                return match ops::show_listener(&ctx) {
                    Ok(listener) => {
                        if l.edit.json {
                            print_json(&listener);
                        } else {
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
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(&e.message, &e.diagnostics),
                };
            }
            let interfaces = (!l.interfaces.is_empty()).then(|| l.interfaces.clone());
            let ports = (!l.ports.is_empty()).then(|| l.ports.clone());
            match ops::listen(&ctx, interfaces, ports, edit_options(&l.edit)) {
                Ok(o) => report_edit(&out, &ctx, &o, &l.edit, None, Subject::Listener),
                Err(e) => fail(&e.message, &e.diagnostics),
            }
        }
        Command::Probe(p) => match ops::probe(&ctx, &p.name, p.host.clone(), p.port, p.force) {
            Ok(r) => {
                if p.json {
                    print_json(&r);
                } else {
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
                    out.info(&format!("hint: {}", r.hint));
                }
                if r.outcome.ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(&e.message, &e.diagnostics),
        },
        Command::Doctor(d) => match ops::doctor(&ctx, &d.public) {
            Ok(report) => {
                if d.json {
                    print_json(&report);
                } else {
                    let mut s = String::new();
                    for i in &report.items {
                        let who = i
                            .component
                            .as_deref()
                            .map(|c| format!("{c}: "))
                            .unwrap_or_default();
                        s.push_str(&format!(
                            "{} {who}{} ({})\n",
                            if i.ok { "✔" } else { "✘" },
                            i.check,
                            i.detail
                        ));
                        if let Some(h) = &i.hint {
                            s.push_str(&format!("    hint: {h}\n"));
                        }
                    }
                    let _ = std::io::stdout().write_all(s.as_bytes());
                }
                if report.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(&e.message, &e.diagnostics),
        },
        Command::Restore(r) => {
            if r.list {
                return match ops::backups(&ctx) {
                    Ok(list) => {
                        if r.edit.json {
                            print_json(&list);
                        } else {
                            for b in list {
                                println!("{}", b.display());
                            }
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(&e.message, &e.diagnostics),
                };
            }
            let backup = r
                .backup
                .clone()
                .expect("clap requires BACKUP without --list");
            match ops::restore(&ctx, &backup, edit_options(&r.edit)) {
                Ok(o) => report_edit(&out, &ctx, &o, &r.edit, None, Subject::Backup),
                Err(e) => fail(&e.message, &e.diagnostics),
            }
        }
    }
}

fn report_check(out: &Out, report: &diagnostics::Report) {
    for d in &report.diagnostics {
        if d.severity == Severity::Error || !out.quiet {
            emit(d);
        }
    }
    for n in &report.notes {
        out.info(&format!("note: {n}"));
    }
    let errors = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = report.diagnostics.len() - errors;
    let files = report.files.len();
    out.detail(&format!(
        "checked {files} file(s): {}",
        report
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if errors > 0 {
        out.info(&format!(
            "check: {errors} error(s), {warnings} warning(s) in {files} file(s)"
        ));
    } else {
        out.info(&format!(
            "check: OK, {warnings} warning(s) in {files} file(s)"
        ));
    }
}

/// `restart`/`reload`: the full check first; the service only when it passes.
fn guarded(out: &Out, ctx: &Context, action: service::Action) -> ExitCode {
    let report = diagnostics::check_config(
        &ctx.config,
        CheckOptions {
            with_prosody: true,
            strict: false,
        },
    );
    report_check(out, &report);
    if !report.ok {
        return fail(
            &format!(
                "not {}ing prosody: the config has errors; the running server was not touched",
                action.verb().trim_end_matches('e')
            ),
            &[],
        );
    }
    match service::apply(action) {
        Ok(msg) => {
            out.info(&msg);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, &[]),
    }
}

fn edit_options(edit: &cli::EditFlags) -> EditOptions {
    EditOptions {
        replace: false,
        dry_run: edit.dry_run,
        show_secrets: edit.show_secrets,
        if_exists: false,
    }
}

/// Reports an edit, then applies it to the running prosody when asked.
/// What an edit was about, for its messages.
#[derive(Clone, Copy)]
enum Subject {
    Component,
    Listener,
    Backup,
}

fn report_edit(
    out: &Out,
    ctx: &Context,
    o: &EditOutcome,
    apply: &cli::EditFlags,
    generated: Option<String>,
    subject: Subject,
) -> ExitCode {
    let code = report_edit_only(out, o, apply, generated, subject);
    if !(o.changed && !o.dry_run && (apply.reload || apply.restart)) {
        return code;
    }
    let action = if apply.restart {
        service::Action::Restart
    } else {
        service::Action::Reload
    };
    let applied = guarded(out, ctx, action);
    if applied != ExitCode::SUCCESS || apply.restart {
        return applied;
    }
    match ops::apply_to_running(ctx, o) {
        Ok(Some(msg)) => {
            out.info(&msg);
            ExitCode::SUCCESS
        }
        Ok(None) => applied,
        Err(e) => fail(&e.message, &e.diagnostics),
    }
}

fn report_edit_only(
    out: &Out,
    o: &EditOutcome,
    apply: &cli::EditFlags,
    generated: Option<String>,
    subject: Subject,
) -> ExitCode {
    let json = apply.json;
    if o.changed && !o.dry_run {
        let action = serde_json::to_value(o.action)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        journal::audit(&action, &o.name, &o.file);
    }
    if json {
        #[derive(serde::Serialize)]
        struct WithSecret<'a> {
            #[serde(flatten)]
            outcome: &'a EditOutcome,
            #[serde(skip_serializing_if = "Option::is_none")]
            secret: Option<String>,
        }
        print_json(&WithSecret {
            outcome: o,
            secret: generated,
        });
        out.warnings(&o.warnings);
        for n in &o.notes {
            out.info(&format!("warning: {n}"));
        }
        return ExitCode::SUCCESS;
    }
    if let Some(diff) = &o.diff {
        print!("{diff}");
    }
    out.warnings(&o.warnings);
    for n in &o.notes {
        out.info(&format!("warning: {n}"));
    }
    let file = o.file.display();
    let verb = match (o.action, o.dry_run) {
        (ops::Action::Added, false) => format!("added {} to {file}", o.name),
        (ops::Action::Added, true) => format!("would add {} to {file}", o.name),
        (ops::Action::Replaced, false) => format!("replaced the secret of {} in {file}", o.name),
        (ops::Action::Replaced, true) => {
            format!("would replace the secret of {} in {file}", o.name)
        }
        (ops::Action::Removed, false) => format!("removed {} from {file}", o.name),
        (ops::Action::Removed, true) => format!("would remove {} from {file}", o.name),
        (ops::Action::Updated, false) => format!("updated the {} in {file}", o.name),
        (ops::Action::Updated, true) => format!("would update the {} in {file}", o.name),
        (ops::Action::Restored, false) => format!("restored {file} from {}", o.name),
        (ops::Action::Restored, true) => format!("would restore {file} from {}", o.name),
        (ops::Action::Unchanged, _) => match subject {
            Subject::Component => format!(
                "{} is already present with this secret in {file}; unchanged",
                o.name
            ),
            Subject::Listener => format!("the {} in {file} is already so; unchanged", o.name),
            Subject::Backup => format!("{file} is already identical to {}; unchanged", o.name),
        },
        (ops::Action::Absent, _) => format!("{} is not in the config; nothing to remove", o.name),
    };
    out.info(&verb);
    if let Some(b) = &o.backup {
        out.detail(&format!("previous version saved as {}", b.display()));
    }
    if let Some(s) = generated {
        out.info("generated secret (shown once; copy it into the component's xmpp_password):");
        println!("{s}");
    }
    if o.changed && !o.dry_run && !apply.reload && !apply.restart {
        out.info("apply it with: fogbow-xmpp-ctl restart (or reload, for a changed secret)");
    }
    ExitCode::SUCCESS
}

fn print_table(list: &ops::ListOutput, show_secrets: bool) {
    let rows: Vec<[String; 4]> = list
        .components
        .iter()
        .map(|c| {
            let secret = match (c.secret_source, show_secrets) {
                ("none", _) => "none".to_string(),
                (_, true) => c.secret.clone().unwrap_or_default(),
                ("expression", false) => "set (expression)".to_string(),
                _ => "set".to_string(),
            };
            // Names, paths (and secrets) are the config's data: shown, never
            // run by the terminal.
            [
                c.name.clone(),
                c.module.clone(),
                secret,
                format!("{}:{}", c.file.display(), c.line),
            ]
            .map(|cell| diagnostics::terminal_safe(&cell).into_owned())
        })
        .collect();
    let header = ["NAME", "MODULE", "SECRET", "FILE:LINE"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    let _ = std::io::stdout().write_all(s.as_bytes());
}
