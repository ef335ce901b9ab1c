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

const BIN: &str = "fogbow-xmpp-ctl";

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=src/diagnostics/codes.rs");
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
/// each command with its own options, then exit status, files and notes.
fn man_page(w: &mut Vec<u8>) -> std::io::Result<()> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone())
        .date("2026-11-25")
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    writeln!(w, ".SH COMMANDS")?;
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        // A build script runs once: leaking the name for clap's &'static str is fine.
        let full: &'static str = Box::leak(format!("{BIN} {name}").into_boxed_str());
        let sub = sub.clone().name(full).bin_name(full);
        let sub_man = clap_mangen::Man::new(sub);
        let mut part = Vec::new();
        sub_man.render_synopsis_section(&mut part)?;
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
    for line in cli::codes::Code::list().lines() {
        writeln!(
            w,
            "{}",
            line.trim_start().replace('\\', "\\\\").replace('-', "\\-")
        )?;
    }
    writeln!(w, ".fi")?;
    w.write_all(EXTRA.as_bytes())?;
    man.render_version_section(w)?;
    Ok(())
}

const EXTRA: &str = r#".SH "EXIT STATUS"
.TP
.B 0
Success, including "already present, unchanged" and, for \fBcheck\fR, a config with warnings only; with \fB\-\-reload\fR/\fB\-\-restart\fR, also applied: the running prosody serves it.
.TP
.B 1
Any failure: the message says what and where (FILE:LINE:COLUMN for problems in a config), and no file was changed. For \fBcheck\fR: the config has errors.
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
.SH SETTINGS
\fI/etc/fogbow\-xmpp\-ctl/config.toml\fR (TOML; an unknown key is an error naming the key and line):
.TP
.B prosody_config
prosody's main config file (default \fI/etc/prosody/prosody.cfg.lua\fR).
.TP
.B backup_dir
where previous versions of edited files are kept (default \fI/var/lib/fogbow\-xmpp\-ctl/backups\fR, created mode 0700).
.TP
.B backups
how many backups to keep per file (default 10; 0 keeps none).
.TP
.B lock_timeout_secs
how long to wait for another invocation editing the same config (default 30).
.TP
.B apply_timeout_secs
how long to wait for the running prosody to serve a change after a restart or reload (default 30).
.SH FILES
.TP
.I /etc/prosody/prosody.cfg.lua
prosody's main config, and the files it includes (e.g. \fI/etc/prosody/conf.d/*.cfg.lua\fR, often symlinks into \fIconf.avail/\fR: the target is edited and the link kept).
Edits replace the file atomically (temp file with the original's owner and mode, fsync, rename) under an exclusive lock on its directory.
.TP
.I /etc/fogbow\-xmpp\-ctl/config.toml
the settings.
.TP
.I /var/lib/fogbow\-xmpp\-ctl/backups/
previous versions of edited files (mode 0600).
.TP
.I /usr/lib/systemd/system/prosody.service.d/fogbow\-xmpp\-ctl.conf
the systemd drop\-in that checks the config before prosody starts or reloads.
"#;
