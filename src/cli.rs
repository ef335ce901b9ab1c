// The command-line definition, kept free of any logic so that the man page
// and shell completions can be generated from exactly what `--help` shows.

use std::path::PathBuf;

use clap::{ArgGroup, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

pub const AFTER_HELP: &str = "\
Exit status:
  0  success, including \"already present, unchanged\"; with --reload/--restart,
     also applied: the running prosody serves it
  1  failure: the message says what and where; no file was changed (the
     one exception says so: add --from-properties --generate-secret when the
     .properties file cannot follow the config it already wrote)
  2  usage error
  3  written, but applying it to the running prosody failed or was impossible
     (--reload/--restart; with --json: \"applied\": false and \"apply_error\"; a
     generated secret is still printed; also when the file was already so)
  4  status: the file and the running prosody disagree (drift)

Secrets are never taken on the command line: every local user can read a
process's arguments. Use --secret-file (- for standard input),
--generate-secret, or answer the prompt on a terminal.";

/// A subcommand's arguments, built only when that subcommand runs (clap's
/// `Command::defer`): the `check` before every prosody start then pays for
/// its own arguments, not for every subcommand's help text.
#[derive(Debug, Clone)]
pub struct Deferred<T>(pub T);

impl<T> std::ops::Deref for Deferred<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Deferred)
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
}

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args)
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(T::augment_args_for_update)
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// The help heading of the options every command takes (`-c`, `--settings`,
/// `-q`, `-v`): listed after a command's own options, not mixed into them.
pub const GLOBAL: &str = "Global options";

/// Edit and check the XMPP external components (XEP-0114) of prosody's config.
///
/// Adds, removes and lists `Component` blocks in /etc/prosody/prosody.cfg.lua
/// (and the files it includes) with a Lua-aware, lossless editor: every byte it
/// does not mean to change stays as it was, and a broken file is never written.
#[derive(Debug, Parser)]
#[command(name = "fogbow-xmpp-ctl", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    /// prosody's main config file [default: prosody_config from the settings, else /etc/prosody/prosody.cfg.lua]
    #[arg(short = 'c', long = "config", value_name = "PATH", global = true, help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// Settings file (TOML); a missing default file is fine, a missing named one is an error [default: /etc/fogbow-xmpp-ctl/config.toml]
    // The default is named here, not given to clap: `None` is what tells
    // "not named" from "named, and it is the default path".
    #[arg(long, value_name = "PATH", global = true, help_heading = GLOBAL)]
    pub settings: Option<PathBuf>,

    /// Print only errors (and the data asked for)
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,

    /// Say more about what is done (files, backups, lock waits)
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add an external component, or set its secret
    ///
    /// Appends `Component "NAME"` with its `component_secret` at the end of the
    /// main config (with --file or the setting component_file: in a file of
    /// its own, which an Include must cover). If NAME exists with the same secret nothing is written
    /// (exit 0, "unchanged"); with a different secret, --replace changes only
    /// that string, wherever it is written.
    #[command(after_help = AFTER_HELP)]
    Add(Deferred<AddArgs>),
    /// Remove an external component's whole section
    ///
    /// Deletes the `Component` statement, its options and the comment lines
    /// directly above it, in whichever file it lives; nothing else changes,
    /// except that a file `add --file` created, left with nothing but
    /// comments, is deleted.
    #[command(after_help = AFTER_HELP)]
    Remove(Deferred<RemoveArgs>),
    /// List the components of the config and its includes
    ///
    /// A config that does not load is listed anyway: first, on standard
    /// error, what breaks it (as `check` says it), then the components as far
    /// as it parses (the offending lines left out), or those of its last good
    /// backup when nothing useful parses; the exit status is then 1 (the JSON
    /// says "broken": true). Exit 0 when the config loads.
    #[command(after_help = AFTER_HELP)]
    List(Deferred<ListArgs>),
    /// Check the config and everything it includes, as prosody would load it
    ///
    /// Prints `FILE:LINE:COLUMN: error[CODE]: message` (and a `help:` line
    /// where a fix is known) for each problem. Exit 0 when there are no errors
    /// (warnings allowed), 1 when there is any. Takes no lock and writes
    /// nothing, so it can run as the prosody user before every start.
    /// A prosody 13 `Credential("NAME")` is read from `$CREDENTIALS_DIRECTORY`
    /// in prosody's unit; elsewhere from what prosody.service loads
    /// (decrypted into memory as root; a warning when it cannot be read).
    #[command(after_help = check_after_help())]
    Check(Deferred<CheckArgs>),
    /// Check the config, then restart prosody only if it has no errors
    ///
    /// Plain `systemctl restart prosody` with a broken config stops the running
    /// server before the check in its unit can refuse the start, leaving prosody
    /// down. This checks first and leaves the running server alone on errors;
    /// otherwise it runs `systemctl restart prosody` (a stopped or failed
    /// prosody is started, and it says so; without systemd: `service prosody
    /// restart`) and returns only when prosody is active and every component
    /// listener of the config accepts connections (bounded by
    /// apply_timeout_secs). If systemd refuses the start (its start rate
    /// limit), it runs `systemctl reset-failed prosody`, starts it again and
    /// says so. Only a listener change (`listen`) needs a restart.
    #[command(after_help = AFTER_HELP)]
    Restart,
    /// Check the config, reload prosody, and bring its components to the file's state
    ///
    /// Runs `systemctl reload prosody` (without systemd: `prosodyctl reload`),
    /// which applies changed secrets; then, through prosody's admin shell,
    /// activates the external components the file declares and the server
    /// lacks, and deactivates those it runs that the file no longer declares
    /// (never a VirtualHost or a plugin component), and returns only when each
    /// activated one is known to the server. No restart: connected components
    /// stay connected.
    #[command(after_help = AFTER_HELP)]
    Reload,
    /// Compare the file's external components with the running prosody's
    ///
    /// Per component: declared in the file, active in the running server,
    /// connected right now (asked through prosody's admin shell). Exit 0 when
    /// file and server agree, 4 when they drift (`fogbow-xmpp-ctl reload`
    /// converges), 1 when the running server cannot be asked or the config is
    /// broken (then what breaks it is shown first, and the file is read as far
    /// as it parses, or from its last good backup).
    #[command(after_help = AFTER_HELP)]
    Status(Deferred<StatusArgs>),
    /// Show or set where prosody accepts external components
    ///
    /// Without options, prints the effective listener (prosody's default:
    /// loopback only, port 5347). With options, sets `component_interfaces`
    /// and/or `component_ports` in the global section of the main config,
    /// replacing existing global definitions (and the legacy
    /// `component_interface`/`component_port`) in place, or inserting them
    /// after the last global statement before the first VirtualHost/Component
    /// line, set apart by blank lines. A listener change is the
    /// one change that needs a restart (--restart); component changes need
    /// only a reload (--reload).
    #[command(after_help = AFTER_HELP)]
    Listen(Deferred<ListenArgs>),
    /// Prove with a real XEP-0114 handshake that prosody accepts a component
    ///
    /// Connects to prosody's component port (default: the configured listener,
    /// 127.0.0.1 for a wildcard) with the configured secret and reports
    /// accepted, not-authorized, host-unknown, conflict (connected elsewhere:
    /// good news), connection-error, timeout (no answer within 5 s, or not all
    /// of it within the probe's 10 s deadline) or not-xmpp (another service
    /// answers there). Exit 0 for accepted and conflict.
    ///
    /// With --from-properties FILE or --secret-file PATH it presents the
    /// component's own copy of the secret instead, says whether prosody
    /// accepts it and whether it equals the config's component_secret
    /// (printing neither), and how to fix a mismatch. A conflict does not
    /// verify the copy (prosody refuses a second session before checking any
    /// secret). A copy known to differ from the config's is exit 1 even when
    /// the running server accepts it: the next reload or restart will not.
    ///
    /// A broken config is read as far as it parses (or from its last good
    /// backup), what breaks it shown first, and the exit status is 1 whatever
    /// the handshake says.
    #[command(after_help = AFTER_HELP)]
    Probe(Deferred<ProbeArgs>),
    /// List the backups of the main config, restore one, or undo the last edit
    ///
    /// --list shows the backups of the config's files (the main config and
    /// the files it includes), each the file as it was BEFORE the edit shown
    /// with it (when, the command and the component), and its name under it.
    /// BACKUP is checked like any edit and written with the same safe
    /// replacement; the current version is backed up first; the encrypted
    /// credentials the edit that made it changed are put back with it, in
    /// the same edit. A config that does not load is replaced by a backup
    /// that loads and passes check. --undo undoes exactly the last edit
    /// (add, remove, listen, restore or undo: a second undo redoes), in
    /// every file it touched (a file it created is removed, one it removed
    /// comes back; a `.properties` that add --generate-secret rewrote is put
    /// back too), and only while each is still exactly what that edit wrote;
    /// otherwise it refuses and says which file changed. On a config that
    /// does not load it refuses and gives the restore command of the newest
    /// backup that passes check.
    #[command(after_help = AFTER_HELP)]
    Restore(Deferred<RestoreArgs>),
    /// Move component secrets between the config and encrypted credentials
    ///
    /// --to credential: each component's `component_secret = "…"` becomes
    /// `Credential("fogbow-xmpp-ctl.NAME")`, its secret encrypted with
    /// systemd-creds (the host key; a TPM2 too where there is one) into
    /// credentials_dir (root only), and prosody.service gets the matching
    /// `LoadCredentialEncrypted=` line in our drop-in; the backups that hold
    /// the old string get the `Credential()` form instead. Needs prosody 13
    /// (refused on 0.12, which has no `Credential()`, with nothing changed)
    /// and root. Applying it needs a restart (--reload restarts).
    ///
    /// --to config: the reverse, for moving a config to a prosody 0.12 host:
    /// each credential of ours is decrypted back into the config as a
    /// string, and its `.cred` file and drop-in line are removed.
    ///
    /// Without NAME: every external component whose secret is not yet where
    /// --to says. One component at a time, each its own checked, atomic,
    /// recorded edit: a failure stops there (the ones before it are moved),
    /// and `restore --undo` undoes the last one (or run the reverse migrate).
    #[command(after_help = AFTER_HELP)]
    Migrate(Deferred<MigrateArgs>),
    /// Check, item by item, what a Fogbow component needs to reach prosody
    ///
    /// The config passes check (every error and warning listed with
    /// FILE:LINE); prosody listens on the server-to-server port (5269, which
    /// must listen beyond loopback) and on the component port, and the latter
    /// on a non-loopback interface (one on every interface is marked ⚠:
    /// firewall it); for each external component, its name resolves to a
    /// non-loopback address of this machine (or --public-address), its secret
    /// is not weak, and prosody's recent log (the files of its `log` option,
    /// last 256 KiB; the journal, last 24 h) has no "Component authentication
    /// failed" line for it. Each item is marked ✔, ⚠ or ✘ with a hint; exit 1
    /// when any is ✘. A broken config is read as far as it parses (or from
    /// its last good backup), "config passes check" is ✘ and lists why.
    #[command(after_help = AFTER_HELP)]
    Doctor(Deferred<DoctorArgs>),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// This machine's public address, when it is not on an interface (NAT); repeat for several
    #[arg(long = "public-address", value_name = "IP")]
    pub public: Vec<std::net::IpAddr>,

    /// Print JSON: {"ok", "items": [{"component"?, "check", "ok", "detail", "hint"?, "warn"?, "diagnostics"?}], "broken", "source", …}
    #[arg(long)]
    pub json: bool,
}

/// `check --help`'s epilogue: every diagnostic code, then the exit status.
/// `Code` is the including crate's: the library's in the binary, build.rs's
/// own copy of `src/diagnostics/codes.rs` in the man page.
pub fn check_after_help() -> String {
    format!(
        "Diagnostic codes:\n{}\n{CHECK_EXIT_STATUS}",
        super::Code::list()
    )
}

const CHECK_EXIT_STATUS: &str = "\
Exit status:
  0  no errors (warnings allowed, unless --strict)
  1  errors found, or the config could not be read
  2  usage error";

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").args(["secret_file", "generate_secret"]).multiple(false)))]
pub struct AddArgs {
    /// The component's name, its `xmpp_jid` (e.g. my-manager.internal.mydomain); optional with --from-properties
    #[arg(required_unless_present = "from_properties")]
    pub name: Option<String>,

    /// Take the name and secret (xmpp_jid, xmpp_password) from a Fogbow component's configuration file (Java .properties: manager.conf, rendezvous.conf, …; a regular file of at most 1 MiB). With --generate-secret: a new secret goes into the config and into FILE's xmpp_password (only that value changes; appended if absent; FILE's owner and mode kept), neither file written unless both can be; if FILE cannot be replaced after the config was, the error says what each holds (exit 1)
    #[arg(long, value_name = "FILE", conflicts_with = "secret_file")]
    pub from_properties: Option<PathBuf>,

    /// Read the secret from PATH, a regular file (- for standard input); one trailing newline is stripped; at most 1024 bytes
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,

    /// Generate a 160-bit secret from the system's RNG and print it once on standard output (with --from-properties: write it into FILE instead, never print it)
    #[arg(long)]
    pub generate_secret: bool,

    /// Change the secret of an existing component (one kept in a credential gets a new credential; --reload applies that by a reload where systemd refreshes credentials then (RefreshOnReload=, systemd 260 and later), else by the restart it needs)
    #[arg(long)]
    pub replace: bool,

    /// Where the secret goes: config (a string in the config) or credential (encrypted with systemd-creds into credentials_dir, root only; the config gets Credential("fogbow-xmpp-ctl.NAME") and prosody.service a LoadCredentialEncrypted= line; prosody 13 only: refused on 0.12). A component whose secret is already in a credential keeps it there [default: secret_store from the settings, else config]
    #[arg(long, value_name = "STORE", value_enum)]
    pub secret_store: Option<Store>,

    /// Put a new component in a file of its own, relative to the main config's directory ({name} is replaced by its name: conf.d/{name}.cfg.lua; created like the main config, at most 0640), which an Include of the config must cover [default: component_file from the settings, else the end of the main config]
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub edit: EditFlags,
}

/// Where a secret is kept (`add --secret-store`, `migrate --to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// A string in prosody's config: component_secret = "…"
    Config,
    /// An encrypted systemd credential the config reads with Credential("…") (prosody 13)
    Credential,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where the secrets go
    #[arg(long, value_name = "STORE", value_enum, required = true)]
    pub to: Store,

    /// The components to migrate [default: every external component whose secret is not yet there]
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,

    #[command(flatten)]
    pub edit: EditFlags,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The component's name
    pub name: String,

    /// Succeed (action "absent") when there is no such component
    #[arg(long)]
    pub if_exists: bool,

    #[command(flatten)]
    pub edit: EditFlags,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// An address to listen on: *, 0.0.0.0, :: or a literal IP (repeat for several)
    #[arg(long = "interface", value_name = "ADDR")]
    pub interfaces: Vec<String>,

    /// A port to listen on, 1-65535 (repeat for several)
    #[arg(long = "port", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub ports: Vec<u16>,

    /// Delete every component_ports/component_interfaces definition (and the legacy
    /// component_port/component_interface), global or set under a section, so that
    /// prosody's defaults apply (127.0.0.1 and ::1, port 5347)
    #[arg(long, conflicts_with_all = ["interfaces", "ports"])]
    pub reset: bool,

    #[command(flatten)]
    pub edit: EditFlags,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("copy").args(["from_properties", "secret_file"]).multiple(false)))]
pub struct ProbeArgs {
    /// The component's name; optional with --from-properties (its xmpp_jid)
    #[arg(required_unless_present = "from_properties")]
    pub name: Option<String>,

    /// Test the component's own copy of the secret: xmpp_password (and the name, xmpp_jid, which NAME must equal) from its Fogbow configuration file (manager.conf, …). Says whether prosody accepts it, whether it equals the config's component_secret (neither is printed), and how to fix it; a conflict (the component is connected) does not verify it
    #[arg(long, value_name = "FILE")]
    pub from_properties: Option<PathBuf>,

    /// Test this secret instead of the config's: read from PATH, a regular file (- for standard input); one trailing newline is stripped
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,

    /// Connect to this address [default: the configured listener]
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// Connect to this port [default: the first configured component port]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Probe even a component set to component_conflict_resolve = "kick_old" (it would lose a live session)
    #[arg(long)]
    pub force: bool,

    /// Print JSON: {"name", "host", "port", "outcome", "detail"?, "hint", "secret_from", "matches_config"?}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup to restore: its file name in the backup directory, or its path
    #[arg(required_unless_present_any = ["list", "undo"])]
    pub backup: Option<PathBuf>,

    /// List the backups of the config's files, oldest first, each the file as it was before the edit listed with it (--json: [{"backup", "file", "time", "command", "name", "action"}])
    #[arg(long, conflicts_with_all = ["backup", "undo"])]
    pub list: bool,

    /// Undo the last edit of fogbow-xmpp-ctl, only if the files it wrote are unchanged since (a second --undo redoes it)
    #[arg(long, conflicts_with = "backup")]
    pub undo: bool,

    #[command(flatten)]
    pub edit: EditFlags,
}

#[derive(Debug, Args)]
pub struct EditFlags {
    /// Print a unified diff of what would change, and write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print the result as JSON: {"changed", "action", "name", "file", "backup"?}
    #[arg(long)]
    pub json: bool,

    /// Show secrets in the --dry-run diff, not ******** and a fingerprint
    ///
    /// Without it, every string in the diff (section and module names,
    /// Include paths and listening addresses such as component_interfaces
    /// aside) reads "******** (hmac:1a2b3c4d)": the fingerprint
    /// is HMAC-SHA256 of the value under a key drawn for this run only, first
    /// 8 hex digits. Equal values match within one diff and a changed secret
    /// shows as a changed line, but a fingerprint cannot be looked up in a
    /// dictionary or compared with another run's.
    #[arg(long)]
    pub show_secrets: bool,

    /// Then check the config, reload prosody and activate/deactivate components (as `reload` does); enough for any component change, and for a new or rotated credential where systemd refreshes credentials at a reload (RefreshOnReload=, systemd 260 and later); elsewhere prosody reads credentials only at start: then it restarts instead, and says why; exit 3 if not applied
    #[arg(long, conflicts_with = "restart")]
    pub reload: bool,

    /// Then check the config and restart prosody (as `restart` does); needed only for a listener change; exit 3 if not applied
    #[arg(long)]
    pub restart: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print JSON: {"ok", "files": [...], "diagnostics": [{"severity", "code", "file", "line", "column", "message", "help"?}]}
    #[arg(long)]
    pub json: bool,

    /// Treat warnings as errors
    #[arg(long)]
    pub strict: bool,

    /// Skip loading the config with the installed prosody's configmanager
    #[arg(long)]
    pub no_prosody: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON: {"components": [{"name", "in_file", "active", "connected"}], "in_sync"}
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON: {"config", "components": [{"name", "module", "file", "line", "secret_set", …}]}
    #[arg(long)]
    pub json: bool,

    /// Include the secrets in the output
    #[arg(long)]
    pub show_secrets: bool,
}
