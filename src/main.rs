//! The `fogbow-xmpp-ctl` command, only wiring: `main` parses the arguments,
//! [`run`] loads the settings and dispatches to one handler per command,
//! each handler calls an operation of the library and hands its result to
//! the output layer ([`output`]), and `main` maps an error to its message
//! and exit status (ripgrep's `main` → `run` → one function per mode).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use fogbow_xmpp_ctl::diagnostics::{CheckOptions, Code};
use fogbow_xmpp_ctl::error::Error;
use fogbow_xmpp_ctl::ops::{self, Apply, Context, EditOptions, EditOutcome, Subject};
use fogbow_xmpp_ctl::secret;
use fogbow_xmpp_ctl::settings::{self, SecretStore, Settings};
use fogbow_xmpp_ctl::system::service;

mod cli;
mod output;
mod words;
use cli::{Cli, Command};
use output::Out;

/// Exit status of a usage error, as clap uses it.
const USAGE: u8 = 2;

/// How a command that ran ended: some report a negative finding (a config
/// with errors, a refused handshake) with exit status 1 and no error line.
enum Status {
    Success,
    Failure,
    /// Written, but applying it to the running server failed: exit 3.
    NotApplied(Error),
    /// `status`: the file and the running server disagree: exit 4.
    Drift,
}

/// Exit status: the file was written, but applying it to the running prosody
/// failed or was impossible.
const NOT_APPLIED: u8 = 3;
/// Exit status of `status` when the file and the running server disagree.
const DRIFT: u8 = 4;

impl Status {
    fn from_ok(ok: bool) -> Status {
        if ok {
            Status::Success
        } else {
            Status::Failure
        }
    }
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
    match run(&out, cli) {
        Ok(Status::Success) => ExitCode::SUCCESS,
        Ok(Status::Failure) => ExitCode::from(1),
        Ok(Status::NotApplied(e)) => {
            out.error(&e);
            ExitCode::from(NOT_APPLIED)
        }
        Ok(Status::Drift) => ExitCode::from(DRIFT),
        Err(e @ Error::Usage(_)) => {
            out.usage(&e);
            ExitCode::from(USAGE)
        }
        Err(e) => {
            out.error(&e);
            ExitCode::from(1)
        }
    }
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

/// The settings and the config they point at, then the command.
fn run(out: &Out, cli: Cli) -> Result<Status, Error> {
    // A missing default settings file is fine; a missing named one is not:
    // an operator who names a file means it.
    let settings = match &cli.settings {
        Some(path) => Settings::load(path, true),
        None => Settings::load(settings::DEFAULT_PATH.as_ref(), false),
    }
    .map_err(Error::Settings)?;
    let ctx = Context {
        config: cli
            .config
            .clone()
            .unwrap_or_else(|| settings.prosody_config.clone()),
        settings,
    };
    out.detail(&format!("prosody config: {}", ctx.config.display()));
    match cli.command {
        Command::Add(a) => add(out, &ctx, &a),
        Command::Remove(r) => remove(out, &ctx, &r),
        Command::List(l) => list(out, &ctx, &l),
        Command::Check(c) => check(out, &ctx, &c),
        Command::Restart => {
            ops::guarded(&ctx, service::Action::Restart, out).map(|_| Status::Success)
        }
        Command::Reload => {
            ops::guarded(&ctx, service::Action::Reload, out).map(|_| Status::Success)
        }
        Command::Status(s) => status(&ctx, &s),
        Command::Listen(l) => listen(out, &ctx, &l),
        Command::Probe(p) => probe(out, &ctx, &p),
        Command::Doctor(d) => doctor(&ctx, &d),
        Command::Restore(r) => restore(out, &ctx, &r),
        Command::Migrate(m) => migrate(out, &ctx, &m),
    }
}

fn add(out: &Out, ctx: &Context, a: &cli::AddArgs) -> Result<Status, Error> {
    // --file is the settings' component_file for this run.
    let mut with_file;
    let ctx = match &a.file {
        Some(f) => {
            with_file = ctx.clone();
            with_file.settings.component_file = Some(f.to_string_lossy().into_owned());
            &with_file
        }
        None => ctx,
    };
    let opts = EditOptions {
        replace: a.replace,
        secret_store: a.secret_store.map(store),
        ..edit_options(&a.edit)
    };
    if let Some(props) = &a.from_properties {
        let (o, warnings) = if a.generate_secret {
            ops::add_from_properties_generated(ctx, a.name.as_deref(), props, opts)?
        } else {
            ops::add_from_properties(ctx, a.name.as_deref(), props, opts)?
        };
        // The secret written back into FILE (never shown): said before the
        // config's sentence, as it is done by then.
        if let (Some(w), false) = (&o.properties, a.edit.json) {
            out.properties_write(w);
        }
        let applied = report_edit(out, ctx, &o, &a.edit, None, Subject::Component);
        // What may still keep the component from reaching prosody, last.
        for w in warnings {
            out.info(&format!("warning: {}", words::properties_warning(&w)));
        }
        return applied;
    }
    let name = a
        .name
        .as_deref()
        .expect("clap requires NAME without --from-properties");
    let (secret, generated) = if let Some(path) = &a.secret_file {
        (secret::read_file(path)?, false)
    } else if a.generate_secret {
        (ops::generate_secret()?, true)
    } else {
        (secret::prompt(name)?, false)
    };
    let o = ops::add(ctx, name, &secret, opts)?;
    // The generated secret is shown once, only if it was written.
    let shown =
        (generated && o.changed && !o.dry_run).then(|| String::from_utf8(secret).expect("hex"));
    report_edit(out, ctx, &o, &a.edit, shown, Subject::Component)
}

fn remove(out: &Out, ctx: &Context, r: &cli::RemoveArgs) -> Result<Status, Error> {
    let opts = EditOptions {
        if_exists: r.if_exists,
        ..edit_options(&r.edit)
    };
    let o = ops::remove(ctx, &r.name, opts)?;
    report_edit(out, ctx, &o, &r.edit, None, Subject::Component)
}

/// `list --json`: the listing with its notes worded (the library's are data).
#[derive(serde::Serialize)]
struct ListJson<'a> {
    /// Lossy where a path is not UTF-8, as every path in our JSON.
    config: std::borrow::Cow<'a, str>,
    components: &'a [ops::ComponentInfo],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    #[serde(flatten)]
    breakage: &'a ops::Breakage,
}

impl<'a> ListJson<'a> {
    fn of(list: &'a ops::ListOutput) -> Self {
        ListJson {
            config: list.config.to_string_lossy(),
            components: &list.components,
            notes: list.notes.iter().map(words::note).collect(),
            breakage: &list.breakage,
        }
    }
}

fn list(out: &Out, ctx: &Context, l: &cli::ListArgs) -> Result<Status, Error> {
    let list = ops::list(ctx, l.show_secrets)?;
    // A broken config: the breakage first, then what could be read.
    output::print_breakage(&list.breakage, &ctx.config);
    for n in &list.notes {
        out.info(&format!("note: {}", words::note(n)));
    }
    if l.json {
        output::print_json(&ListJson::of(&list));
    } else if list.components.is_empty() {
        // A bare header reads like a failure: say what was looked at.
        out.info(&format!(
            "no components in {} or the files it includes",
            list.config.display()
        ));
    } else {
        output::print_table(&list, l.show_secrets);
    }
    Ok(Status::from_ok(!list.breakage.broken))
}

fn check(out: &Out, ctx: &Context, c: &cli::CheckArgs) -> Result<Status, Error> {
    let opts = CheckOptions {
        with_prosody: !c.no_prosody,
        strict: c.strict,
    };
    let report = ops::check_config(&ctx.config, &ctx.settings.prosody_lib, opts);
    if c.json {
        output::print_json(&report);
    } else {
        out.check(&report);
    }
    Ok(Status::from_ok(report.ok))
}

/// `status`: per component, in the file / active / connected; exit 4 on drift.
fn status(ctx: &Context, s: &cli::StatusArgs) -> Result<Status, Error> {
    let report = ops::status(ctx)?;
    output::print_breakage(&report.breakage, &ctx.config);
    if s.json {
        output::print_json(&report);
    } else {
        output::print_status(&report);
    }
    Ok(if report.breakage.broken {
        Status::Failure
    } else if report.in_sync {
        Status::Success
    } else {
        Status::Drift
    })
}

fn listen(out: &Out, ctx: &Context, l: &cli::ListenArgs) -> Result<Status, Error> {
    if l.interfaces.is_empty() && l.ports.is_empty() && !l.reset {
        let shown = ops::show_listen(ctx)?;
        if l.edit.json {
            output::print_json(&shown);
        } else {
            output::print_listener(&shown);
        }
        return Ok(Status::Success);
    }
    let interfaces = (!l.interfaces.is_empty()).then(|| l.interfaces.clone());
    let ports = (!l.ports.is_empty()).then(|| l.ports.clone());
    let o = match l.reset {
        true => ops::reset_listener(ctx, edit_options(&l.edit))?,
        false => ops::listen(ctx, interfaces, ports, edit_options(&l.edit))?,
    };
    report_edit(out, ctx, &o, &l.edit, None, Subject::Listener)
}

fn probe(out: &Out, ctx: &Context, p: &cli::ProbeArgs) -> Result<Status, Error> {
    // Whose copy of the secret: the config's, or the component's own.
    let (name, given) = match (&p.from_properties, &p.secret_file) {
        (Some(file), _) => {
            let (name, g) = ops::secret_from_properties(p.name.as_deref(), file)?;
            (name, Some(g))
        }
        (None, Some(path)) => {
            let name = p.name.clone().expect("clap requires NAME");
            let given = ops::secret_from_file(&name, path)?;
            (name, Some(given))
        }
        (None, None) => (p.name.clone().expect("clap requires NAME"), None),
    };
    let r = ops::probe_with(ctx, &name, p.host.clone(), p.port, p.force, given)?;
    output::print_breakage(&r.breakage, &ctx.config);
    if p.json {
        output::print_json(&r);
    } else {
        out.probe(&r);
    }
    Ok(Status::from_ok(r.ok() && !r.breakage.broken))
}

fn doctor(ctx: &Context, d: &cli::DoctorArgs) -> Result<Status, Error> {
    let report = ops::doctor(ctx, &d.public)?;
    output::print_breakage(&report.config, &ctx.config);
    if d.json {
        output::print_json(&report);
    } else {
        output::print_doctor(&report);
    }
    Ok(Status::from_ok(report.ok))
}

fn restore(out: &Out, ctx: &Context, r: &cli::RestoreArgs) -> Result<Status, Error> {
    if r.list {
        let list = ops::backups(ctx)?;
        if r.edit.json {
            output::print_json(&list.backups);
        } else if list.backups.is_empty() {
            out.info(&format!(
                "no backups of {} in {}",
                ctx.config.display(),
                ctx.settings.backup_dir.display()
            ));
        } else {
            output::print_backups(&list, &ctx.settings.backup_dir);
        }
        return Ok(Status::Success);
    }
    if r.undo {
        let o = ops::undo(ctx, edit_options(&r.edit))?;
        return report_edit(out, ctx, &o, &r.edit, None, Subject::Backup);
    }
    let backup = r
        .backup
        .as_deref()
        .expect("clap requires BACKUP without --list");
    let o = ops::restore(ctx, backup, edit_options(&r.edit))?;
    report_edit(out, ctx, &o, &r.edit, None, Subject::Backup)
}

fn store(s: cli::Store) -> SecretStore {
    match s {
        cli::Store::Config => SecretStore::Config,
        cli::Store::Credential => SecretStore::Credential,
    }
}

/// `migrate`: one edit per component, each reported as it is; the run
/// stops at the first failure (exit 1, the ones before it done).
fn migrate(out: &Out, ctx: &Context, m: &cli::MigrateArgs) -> Result<Status, Error> {
    let to = match m.to {
        cli::Store::Config => ops::MigrateTo::Config,
        cli::Store::Credential => ops::MigrateTo::Credential,
    };
    let result = ops::migrate(ctx, to, &m.names, edit_options(&m.edit))?;
    let apply = apply_flags(&m.edit);
    let will_apply = apply.wanted(m.edit.dry_run);
    out.migration(&result, m.edit.json, m.edit.dry_run || will_apply);
    if let Some(e) = result.error {
        return Err(e);
    }
    let applied =
        ops::apply_migration_requested(ctx, &result.components, apply, m.edit.dry_run, out);
    Ok(status_of(applied))
}

fn edit_options(edit: &cli::EditFlags) -> EditOptions {
    EditOptions {
        replace: false,
        dry_run: edit.dry_run,
        show_secrets: edit.show_secrets,
        if_exists: false,
        secret_store: None,
    }
}

fn apply_flags(edit: &cli::EditFlags) -> Apply {
    Apply {
        reload: edit.reload,
        restart: edit.restart,
    }
}

/// Applied, not asked, or written but not applied (exit 3).
fn status_of(applied: Option<Result<(), Error>>) -> Status {
    match applied {
        Some(Err(e)) => Status::NotApplied(e),
        _ => Status::Success,
    }
}

/// Reports an edit, and the library applies it when asked (see
/// `ops::apply_requested`). In JSON the report follows the apply, as one
/// document whose `changed` says whether the file was written: its error
/// is the bare cause.
fn report_edit(
    out: &Out,
    ctx: &Context,
    o: &EditOutcome,
    flags: &cli::EditFlags,
    generated: Option<String>,
    subject: Subject,
) -> Result<Status, Error> {
    let apply = apply_flags(flags);
    let will_apply = apply.wanted(o.dry_run);
    if flags.json {
        let applied = ops::apply_requested(ctx, o, apply, subject, out).map(|r| {
            r.map_err(|e| match e {
                Error::NotApplied(cause) => *cause,
                e => e,
            })
        });
        let shown = applied.as_ref().map(|r| r.as_ref().map(|_| ()));
        out.edit(o, true, will_apply, generated, subject, shown);
        return Ok(status_of(applied));
    }
    out.edit(o, false, will_apply, generated, subject, None);
    Ok(status_of(ops::apply_requested(ctx, o, apply, subject, out)))
}
