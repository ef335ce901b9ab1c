//! Generates the man page and the shell completions from the same clap
//! definition the binary parses with (`src/cli.rs`), so they can never drift
//! from `--help`.
//!
//! They are written to `OUT_DIR` (the man page also gzipped, as Debian installs it) and copied to `target/<profile>/assets/`:
//! cargo-deb maps its `target/release/` asset prefix to the real target
//! directory, and `OUT_DIR`'s hashed path cannot be named in `Cargo.toml`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

mod cli {
    include!("src/cli.rs");
}
use cli::Cli;

/// The diagnostic codes, as the library defines them: `check --help`'s
/// list (cli.rs names this `Code`) and the man page's DIAGNOSTICS.
#[allow(dead_code)]
mod codes {
    include!("src/diagnostics/codes.rs");
}
use codes::Code;

/// The settings' keys and the files: SETTINGS and FILES are rendered from
/// the list the binary's settings are tested against.
#[allow(dead_code)]
mod keys {
    include!("src/settings/keys.rs");
}

const BIN: &str = "fogbow-xmpp-ctl";

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=src/diagnostics/codes.rs");
    println!("cargo:rerun-if-changed=src/settings/keys.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    write_all(&out)?;
    // OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
    if let Some(profile_dir) = out.ancestors().nth(3) {
        write_all(&profile_dir.join("assets"))?;
    }
    Ok(())
}

fn write_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut page = Vec::new();
    man_page(&mut page)?;
    std::fs::write(dir.join(format!("{BIN}.1")), &page)?;
    // Debian installs man pages gzipped (`gzip -9n`: no name, no time stamp);
    // cargo-deb compresses only assets it did not build.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&page)?;
    std::fs::write(dir.join(format!("{BIN}.1.gz")), gz.finish()?)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), BIN, dir)?;
    }
    Ok(())
}

/// One page for the whole tool: the top-level synopsis and options, then
/// each command with its synopsis and own options, then exit status, files,
/// notes, examples and where to read more.
fn man_page(w: &mut Vec<u8>) -> std::io::Result<()> {
    let cmd = Cli::command();
    // Built: each command's deferred arguments expanded, the global
    // options propagated to it (the synopses skip those).
    let mut built = cmd.clone();
    built.build();
    let man = clap_mangen::Man::new(cmd.clone())
        .date("2026-11-25")
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    man.render_title(w)?;
    man.render_name_section(w)?;
    // Every form of the command on one page, as the README's usage shows it.
    writeln!(w, ".SH SYNOPSIS")?;
    writeln!(
        w,
        "{}",
        synopsis_line(&format!(
            "{} \\fICOMMAND\\fR [\\fIARGS\\fR]",
            synopsis(&built, &roff_bold(BIN), false)
        ))
    )?;
    for sub in commands(&built) {
        writeln!(
            w,
            "{}",
            synopsis_line(&synopsis(
                sub,
                &roff_bold(&format!("{BIN} {}", sub.get_name())),
                true
            ))
        )?;
    }
    writeln!(
        w,
        "{}\n.PP\nThe global options may come before or after \\fICOMMAND\\fR.",
        synopsis_line(&format!(
            "{} {}|{} | {}|{}",
            roff_bold(BIN),
            roff_bold("-h"),
            roff_bold("--help"),
            roff_bold("-V"),
            roff_bold("--version")
        ))
    )?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    writeln!(w, ".SH COMMANDS")?;
    for (sub, built_sub) in cmd.get_subcommands().zip(commands(&built)) {
        let name = sub.get_name();
        assert_eq!(name, built_sub.get_name(), "one order");
        // A build script runs once: leaking the name for clap's &'static str is fine.
        let full: &'static str = Box::leak(format!("{BIN} {name}").into_boxed_str());
        let sub = sub.clone().name(full).bin_name(full);
        let sub_man = clap_mangen::Man::new(sub);
        let mut part = Vec::new();
        // clap_mangen's synopsis names options without their values
        // (`[--secret-file]`): ours says `[--secret-file PATH]`.
        writeln!(
            part,
            ".SH SYNOPSIS\n{}",
            synopsis_line(&synopsis(built_sub, &roff_bold(full), true))
        )?;
        sub_man.render_description_section(&mut part)?;
        sub_man.render_options_section(&mut part)?;
        // Each command's sections become subsections of COMMANDS.
        let text = String::from_utf8(part).expect("roff is UTF-8");
        let mut first = true;
        for line in text.lines() {
            if let Some(title) = line.strip_prefix(".SH ") {
                if first {
                    writeln!(w, ".SS \"{BIN} {name}\"")?;
                    first = false;
                }
                if title.contains("DESCRIPTION") {
                    writeln!(w, ".PP")?;
                }
                if title.contains("OPTIONS") {
                    writeln!(w, ".PP\n\\fBOptions:\\fR")?;
                }
                continue;
            }
            writeln!(w, "{line}")?;
        }
    }
    // The diagnostic codes, exactly as `check --help` lists them.
    writeln!(w, ".SH DIAGNOSTICS\nEach problem \\fBcheck\\fR finds has a code (part of the interface) and a severity:\n.PP\n.nf")?;
    for line in Code::list().lines() {
        writeln!(
            w,
            "{}",
            line.trim_start().replace('\\', "\\\\").replace('-', "\\-")
        )?;
    }
    writeln!(w, ".fi")?;
    w.write_all(EXTRA.as_bytes())?;
    settings_and_files(w)?;
    w.write_all(EXAMPLES.as_bytes())?;
    man.render_version_section(w)?;
    w.write_all(SEE_ALSO.as_bytes())?;
    Ok(())
}

/// Plain text as roff: a backslash and a minus escaped, and no line
/// starting with a control character.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    match t.starts_with(['.', '\'']) {
        true => format!("\\&{t}"),
        false => t,
    }
}

/// SETTINGS and FILES, from [`keys::KEYS`] and [`keys::OTHER_FILES`].
fn settings_and_files(w: &mut Vec<u8>) -> std::io::Result<()> {
    use keys::KeyDefault;
    writeln!(
        w,
        ".SH SETTINGS\n\\fI{}\\fR (TOML; an unknown key is an error naming the key and line; \\fB\\-\\-settings\\fR names another file):",
        roff(keys::DEFAULT_PATH)
    )?;
    for k in keys::KEYS {
        let default = match k.default {
            KeyDefault::Path(p) => format!(" Default: \\fI{}\\fR.", roff(p)),
            KeyDefault::Word(v) => format!(" Default: \\fB\"{}\"\\fR.", roff(v)),
            KeyDefault::Number(n) => format!(" Default: {n}."),
            // Its help says what unset means.
            KeyDefault::Unset => String::new(),
        };
        writeln!(w, ".TP\n.B {}\n{}{default}", k.name, roff(k.help))?;
    }
    writeln!(w, ".SH FILES")?;
    let mut files = vec![(
        keys::DEFAULT_PATH,
        "the settings (see SETTINGS).".to_string(),
    )];
    for k in keys::KEYS {
        if let (KeyDefault::Path(p), Some(what)) = (k.default, k.file) {
            files.push((p, format!("{what} Setting: {}.", k.name)));
        }
    }
    files.extend(keys::OTHER_FILES.map(|(p, what)| (p, what.to_string())));
    for (path, what) in files {
        writeln!(w, ".TP\n.I {}\n{}", roff(path), roff(&what))?;
    }
    Ok(())
}

/// The commands of a built `Command`, without clap's `help`.
fn commands(built: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    built.get_subcommands().filter(|s| s.get_name() != "help")
}

/// `text` in bold, roff-escaped (`-` is `\-`: a minus a reader can type).
fn roff_bold(text: &str) -> String {
    format!("\\fB{}\\fR", text.replace('-', "\\-"))
}

/// One synopsis form: its own paragraph, a wrapped line indented under the
/// command name, never hyphenated (a hyphen in an option would read as part
/// of it).
fn synopsis_line(body: &str) -> String {
    format!(".PP\n.nh\n.ad l\n.in +4n\n.ti -4n\n{body}\n.in\n.ad\n.hy")
}

/// A command's synopsis from its clap definition: each option with its
/// value placeholder (`[--secret-file PATH]`), optional ones in brackets,
/// mutually exclusive ones (a non-`multiple` group, or `conflicts_with`) as
/// one `[a | b]`, a repeatable one followed by `...`, then the operands
/// (`NAME`, `[NAME]` when optional), in roff. `words` is the command as
/// typed, in roff. The global options are left to the tool's own synopsis
/// when `skip_global`.
fn synopsis(cmd: &clap::Command, words: &str, skip_global: bool) -> String {
    use clap::{Arg, ArgAction};
    let opts: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| {
            let help = matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            );
            let left_out = a.is_positional() || a.is_hide_set() || help;
            !(left_out || skip_global && a.is_global_set())
        })
        .collect();
    // Union-find over `opts`: each set is one bracket.
    let mut set: Vec<usize> = (0..opts.len()).collect();
    fn root(set: &[usize], mut i: usize) -> usize {
        while set[i] != i {
            i = set[i];
        }
        i
    }
    let index = |id: &clap::Id| opts.iter().position(|a| a.get_id() == id);
    let mut pairs = Vec::new();
    // Pairs a non-`multiple` group joins: a bracket of its own even when
    // other conflicts do not make one bracket of more.
    let mut grouped = Vec::new();
    // Required alone, or as a member of a required group.
    let mut required: Vec<bool> = opts.iter().map(|a| a.is_required_set()).collect();
    for g in cmd.get_groups() {
        let members: Vec<usize> = g.get_args().filter_map(index).collect();
        if g.is_required_set() {
            members.iter().for_each(|&i| required[i] = true);
        }
        if !g.clone().is_multiple() {
            pairs.extend(members.windows(2).map(|w| (w[0], w[1])));
            grouped.extend(members.windows(2).map(|w| (w[0], w[1])));
        }
    }
    for (i, a) in opts.iter().enumerate() {
        for c in cmd.get_arg_conflicts_with(a) {
            if let Some(j) = index(c.get_id()) {
                pairs.push((i, j));
            }
        }
    }
    let mut conflict = vec![vec![false; opts.len()]; opts.len()];
    for &(i, j) in &pairs {
        conflict[i][j] = true;
        conflict[j][i] = true;
    }
    for (i, j) in pairs {
        let (ri, rj) = (root(&set, i), root(&set, j));
        set[ri.max(rj)] = ri.min(rj);
    }
    // One `[a | b | c]` only when each excludes every other: `--interface`
    // and `--port` go together though each excludes `--reset`. Otherwise
    // the set falls back to its groups' brackets (`add`: `[--from-properties
    // FILE] [--secret-file PATH | --generate-secret]`), the finer
    // exclusions left to the options' descriptions.
    let roots: Vec<usize> = (0..opts.len()).map(|j| root(&set, j)).collect();
    let mut split = Vec::new();
    for i in 0..opts.len() {
        if roots[i] != i {
            continue;
        }
        let members: Vec<usize> = (0..opts.len()).filter(|&j| roots[j] == i).collect();
        let clique = members
            .iter()
            .all(|&a| members.iter().all(|&b| a == b || conflict[a][b]));
        if !clique {
            split.extend(members);
        }
    }
    split.iter().for_each(|&j| set[j] = j);
    for &(i, j) in &grouped {
        if split.contains(&i) && split.contains(&j) {
            let (ri, rj) = (root(&set, i), root(&set, j));
            set[ri.max(rj)] = ri.min(rj);
        }
    }
    let option = |a: &Arg| {
        let mut s = match (a.get_short(), a.get_long()) {
            (Some(c), Some(l)) => format!(
                "{}|{}",
                roff_bold(&format!("-{c}")),
                roff_bold(&format!("--{l}"))
            ),
            (Some(c), None) => roff_bold(&format!("-{c}")),
            (None, Some(l)) => roff_bold(&format!("--{l}")),
            (None, None) => unreachable!("an option has a flag"),
        };
        if a.get_num_args().is_some_and(|r| r.takes_values()) {
            s.push_str(&format!(" \\fI{}\\fR", placeholder(a)));
        }
        s
    };
    let mut line = words.to_string();
    for i in 0..opts.len() {
        if root(&set, i) != i {
            continue;
        }
        let set_of: Vec<usize> = (0..opts.len()).filter(|&j| root(&set, j) == i).collect();
        let members: Vec<&Arg> = set_of.iter().map(|&j| opts[j]).collect();
        let body: Vec<String> = members.iter().map(|a| option(a)).collect();
        let body = body.join(" | ");
        match (set_of.iter().any(|&j| required[j]), members.len()) {
            (true, 1) => line.push_str(&format!(" {body}")),
            (true, _) => line.push_str(&format!(" ({body})")),
            (false, _) => line.push_str(&format!(" [{body}]")),
        }
        if members.len() == 1 && repeatable(members[0]) {
            line.push_str("...");
        }
    }
    for a in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let mut p = format!("\\fI{}\\fR", placeholder(a));
        if repeatable(a) {
            p.push_str("...");
        }
        if a.is_required_set() {
            line.push_str(&format!(" {p}"));
        } else {
            line.push_str(&format!(" [{p}]"));
        }
    }
    line
}

/// An argument's value as its help names it: `PATH`, `NAME`.
fn placeholder(a: &clap::Arg) -> String {
    match a.get_value_names() {
        Some(names) => names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        None => a.get_id().as_str().to_uppercase(),
    }
}

/// Given more than once on one command line (`--port N --port M`).
fn repeatable(a: &clap::Arg) -> bool {
    matches!(a.get_action(), clap::ArgAction::Append)
        || a.get_num_args().is_some_and(|r| r.max_values() > 1)
}

const EXTRA: &str = r#".SH "EXIT STATUS"
.TP
.B 0
Success, including "already present, unchanged" and, for \fBcheck\fR, a config with warnings only; with \fB\-\-reload\fR/\fB\-\-restart\fR, also applied: the running prosody serves it.
.TP
.B 1
Any failure: the message says what and where (FILE:LINE:COLUMN for problems in a config), and no file was changed (the one exception says so in its message: \fBadd \-\-from\-properties \-\-generate\-secret\fR when the .properties file cannot follow the config it already wrote). For \fBcheck\fR: the config has errors.
.TP
.B 2
Usage error.
.TP
.B 3
Written, but applying it to the running prosody failed or was impossible (\fB\-\-reload\fR/\fB\-\-restart\fR: prosody stopped, no admin shell, a listener or component that did not come up within \fBapply_timeout_secs\fR). With \fB\-\-json\fR: "applied": false and "apply_error"; a generated secret is still printed.
.TP
.B 4
\fBstatus\fR: the file and the running prosody disagree (drift); \fBfogbow\-xmpp\-ctl reload\fR converges.
.SH SECRETS
No option takes a secret on the command line: every local user can read a process's arguments.
Use \fB\-\-secret\-file\fR \fIPATH\fR (\fB\-\fR for standard input; one trailing newline is stripped),
\fB\-\-generate\-secret\fR (printed once on standard output), or answer the prompt on a terminal.
Secrets never appear in messages, logs or diffs (\fB\-\-show\-secrets\fR shows them on request).
A \fB\-\-dry\-run\fR diff shows every string as \fB"******** (hmac:1a2b3c4d)"\fR: the first 8 hex digits of
HMAC\-SHA256 of its value under a key drawn for this run only. Equal values have equal fingerprints
within one diff, so a changed secret shows as a changed line; a fingerprint cannot be looked up in a
dictionary, nor compared with another run's.
.SH "RESTARTING PROSODY SAFELY"
The package installs a drop\-in for prosody.service that runs \fBfogbow\-xmpp\-ctl check \-\-quiet\fR
before every start and reload. A reload with a broken config fails and the running server keeps its
old config. But \fBsystemctl restart prosody\fR with a broken config stops the running server before
the check can refuse the start, and leaves prosody down (systemd cannot veto the stop half of a
restart). Use \fBfogbow\-xmpp\-ctl restart\fR: it checks first and leaves the running server alone when
the config has errors; it returns only when every component listener accepts connections, starts a
stopped prosody, and recovers from systemd's start rate limit (\fBsystemctl reset\-failed\fR, then
start). \fBfogbow\-xmpp\-ctl reload\fR activates and deactivates components through prosody's admin
shell without a restart: only a listener change needs a restart.
"#;

/// How the tool is used: the Fogbow workflow first (what most readers came
/// for), then one line per other task, then what scripts rely on.
const EXAMPLES: &str = r#".SH EXAMPLES
.SS "The Fogbow workflow"
A Fogbow component's own configuration names it (\fBxmpp_jid\fR) and holds its secret
(\fBxmpp_password\fR). Add the Manager and the Rendezvous from those files, open the component
listener to the machines they run on, apply the change, prove each component with a real
XEP\-0114 handshake, then check everything a component needs to reach prosody:
.PP
.RS 4
.nf
fogbow\-xmpp\-ctl add \-\-from\-properties /etc/fogbow/manager.conf
fogbow\-xmpp\-ctl add \-\-from\-properties /etc/fogbow/rendezvous.conf
fogbow\-xmpp\-ctl listen \-\-interface 0.0.0.0 \-\-port 5347
fogbow\-xmpp\-ctl restart
fogbow\-xmpp\-ctl probe my\-manager.internal.mydomain
fogbow\-xmpp\-ctl probe my\-rendezvous.internal.mydomain
fogbow\-xmpp\-ctl doctor
.fi
.RE
.PP
Only the listener change needs the restart. A component change alone needs a reload, which
keeps connected components connected: \fBfogbow\-xmpp\-ctl reload\fR, or \fB\-\-reload\fR on the
edit itself (\fBfogbow\-xmpp\-ctl add \-\-from\-properties /etc/fogbow/manager.conf \-\-reload\fR;
\fBlisten\fR takes \fB\-\-restart\fR). \fB\-\-interface 0.0.0.0\fR is for components on other
machines; the default (loopback) is enough for components on this one. When \fBadd\fR finds that
a component dials a port prosody does not listen on, it prints the \fBlisten\fR command to run.
.SS "Other tasks"
.TP
\fBfogbow\-xmpp\-ctl add my\-manager.internal.mydomain \-\-secret\-file /root/manager.secret \-\-secret\-store credential \-\-reload\fR
Prosody 13: keep the secret encrypted (systemd\-creds) in /etc/fogbow\-xmpp\-ctl/credentials; the config reads
\fBCredential("fogbow\-xmpp\-ctl.NAME")\fR. A new or rotated credential is applied by a restart, which \fB\-\-reload\fR then does.
.TP
\fBfogbow\-xmpp\-ctl migrate \-\-to credential\fR
Move every component's secret from the config into encrypted credentials (\fB\-\-to config\fR: back, for prosody 0.12).
.TP
\fBfogbow\-xmpp\-ctl add my\-manager.internal.mydomain \-\-secret\-file /root/manager.secret \-\-reload\fR
Add a component with the secret in a file (\fB\-\-secret\-file \-\fR reads standard input), and
have the running prosody serve it.
.TP
\fBsecret=$(fogbow\-xmpp\-ctl add my\-rendezvous.internal.mydomain \-\-generate\-secret)\fR
Generate a 160\-bit secret: standard output is the secret alone, then a newline.
.TP
\fBfogbow\-xmpp\-ctl add my\-manager.internal.mydomain \-\-secret\-file new.secret \-\-replace \-\-dry\-run\fR
Show what changing the secret would change, and write nothing. Every string in the diff reads
\fB"******** (hmac:1a2b3c4d)"\fR: the changed secret's line differs in its fingerprint, and
nothing of the secret is shown.
.TP
\fBfogbow\-xmpp\-ctl remove my\-manager.internal.mydomain \-\-reload\fR
Delete the component's section, and deactivate it in the running prosody.
.TP
\fBfogbow\-xmpp\-ctl list\fR
The components of the config and its includes: name, module, whether a secret is set, file and line.
.TP
\fBfogbow\-xmpp\-ctl check \-\-strict\fR
Check the config and its includes as prosody would load them, warnings counting as errors.
.TP
\fBfogbow\-xmpp\-ctl add \-\-from\-properties /etc/fogbow/manager.conf \-\-generate\-secret \-\-replace \-\-reload\fR
A new secret for the Manager, written both into prosody's config and into manager.conf's
\fBxmpp_password\fR (every other byte of manager.conf kept, its owner and mode too); the secret
is never printed.
.TP
\fBfogbow\-xmpp\-ctl probe \-\-from\-properties /etc/fogbow/manager.conf\fR
Is manager.conf right? A handshake with the component's own copy of the secret: accepted, or
how it differs from prosody's and the command that fixes it.
.TP
\fBfogbow\-xmpp\-ctl add my\-manager.internal.mydomain \-\-file conf.d/{name}.cfg.lua \-\-secret\-file m.secret\fR
Put the component in a file of its own under Debian's \fBconf.d\fR (only where an \fBInclude\fR
of the config covers it); \fBremove\fR deletes that file again when nothing else is left in it.
.TP
\fBfogbow\-xmpp\-ctl listen \-\-reset \-\-restart\fR
Back to prosody's default listener (loopback, port 5347), wherever the options were set.
.TP
\fBfogbow\-xmpp\-ctl restore \-\-list\fR
List the backups of the main config, oldest first, with the command and component of the edit
that made each; \fBfogbow\-xmpp\-ctl restore \fIBACKUP\fB \-\-reload\fR puts one back (the current
version is backed up first).
.TP
\fBfogbow\-xmpp\-ctl restore \-\-undo\fR
Undo exactly the last edit, only while the files are still what it wrote (a second undo redoes).
.SS "In scripts and Ansible"
With \fB\-\-json\fR the result is one JSON document on standard output, and messages go to
standard error. Its fields are a contract: fields may be added, none is renamed or removed.
The exit status says what happened (see \fBEXIT STATUS\fR): 0 done, whether it changed something
(\fB"changed": true\fR) or it was already so; 1 failed, nothing written; 3 written but not applied
to the running prosody. Ansible's command module fails the task on any other status than 0, 3
included. A re-run converges, so a task can run on every play:
.PP
.RS 4
.nf
\- name: the Fogbow Manager's component in prosody
  ansible.builtin.command: >\-
    fogbow\-xmpp\-ctl add \-\-from\-properties /etc/fogbow/manager.conf
    \-\-reload \-\-json
  register: fxc
  changed_when: fxc.rc in [0, 3] and (fxc.stdout | from_json).changed
.fi
.RE
.PP
In a shell script:
.PP
.RS 4
.nf
fogbow\-xmpp\-ctl remove old.example \-\-if\-exists \-\-reload
case $? in
  0) ;;                                     # removed, or already absent
  3) echo "written; prosody does not serve it yet" >&2 ;;
  *) exit 1 ;;                              # nothing was written
esac
fogbow\-xmpp\-ctl list \-\-json | jq \-r '.components[].name'
.fi
.RE
"#;

/// Where to read more: prosody's and systemd's pages, and the README the
/// package installs (the whole Fogbow workflow, every JSON field).
const SEE_ALSO: &str = r#".SH "SEE ALSO"
.BR prosody (8),
.BR prosodyctl (1),
.BR systemctl (1),
.BR journalctl (1),
.BR systemd.unit (5)
(drop\-in files such as \fI/usr/lib/systemd/system/prosody.service.d/fogbow\-xmpp\-ctl.conf\fR).
.PP
\fI/usr/share/doc/fogbow\-xmpp\-ctl/README.md\fR: the Fogbow workflow step by step, every JSON
field, the diagnostic codes, and what the package changes on the system.
"#;
