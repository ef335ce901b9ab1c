//! The `fogbow-xmpp-ctl` command: parses arguments, runs an operation of
//! the library, and maps its result to output and an exit status.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use fogbow_xmpp_ctl::diagnostics::Diagnostic;
use fogbow_xmpp_ctl::ops::{self, Context, EditOptions, EditOutcome};
use fogbow_xmpp_ctl::settings::Settings;
use fogbow_xmpp_ctl::{secret, settings};

mod cli;
use cli::{Cli, Command};

/// Exit status of a usage error, as clap uses it.
const USAGE: u8 = 2;

struct Out {
    quiet: bool,
    verbose: bool,
}

impl Out {
    fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
    fn detail(&self, msg: &str) {
        if self.verbose {
            eprintln!("{msg}");
        }
    }
    fn warnings(&self, ds: &[Diagnostic]) {
        if !self.quiet {
            for d in ds {
                eprintln!("{d}");
            }
        }
    }
}

fn fail(message: &str, diagnostics: &[Diagnostic]) -> ExitCode {
    for d in diagnostics {
        eprintln!("{d}");
    }
    eprintln!("fogbow-xmpp-ctl: error: {message}");
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

fn main() -> ExitCode {
    let cli = Cli::parse();
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
                match secret::prompt(&a.name) {
                    Ok(s) => (s, false),
                    Err(e) if e.starts_with("no secret given") => return usage(&e),
                    Err(e) => return fail(&e, &[]),
                }
            };
            let opts = EditOptions {
                replace: a.replace,
                dry_run: a.edit.dry_run,
                show_secrets: a.edit.show_secrets,
                if_exists: false,
            };
            match ops::add(&ctx, &a.name, &secret, opts) {
                Ok(o) => {
                    // The generated secret is shown once, only if it was written.
                    let shown = (generated && o.changed && !o.dry_run)
                        .then(|| String::from_utf8(secret).expect("hex"));
                    report_edit(&out, &o, a.edit.json, shown)
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
                Ok(o) => report_edit(&out, &o, r.edit.json, None),
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
    }
}

fn report_edit(out: &Out, o: &EditOutcome, json: bool, generated: Option<String>) -> ExitCode {
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
        return ExitCode::SUCCESS;
    }
    if let Some(diff) = &o.diff {
        print!("{diff}");
    }
    out.warnings(&o.warnings);
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
        (ops::Action::Unchanged, _) => format!(
            "{} is already present with this secret in {file}; unchanged",
            o.name
        ),
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
    if o.changed && !o.dry_run {
        out.info("restart prosody for the change to take effect");
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
            [
                c.name.clone(),
                c.module.clone(),
                secret,
                format!("{}:{}", c.file.display(), c.line),
            ]
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
