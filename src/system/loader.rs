//! The installed prosody: load a config through its own configmanager.
//!
//! Our parser knows Lua's grammar; only running the file shows what prosody
//! itself will refuse at start (a `require` of a missing module, an unset
//! `ENV_` variable used in an expression, a call prosody does not provide).
//! So `check` also runs the installed configmanager on it, with the Lua
//! interpreter prosody itself runs on, through the one runner (`super::run`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::run::{Failure, Run, RunError, Running};
use crate::prosody::{absolute, Verdict};
use crate::safe_write::{self, WriteError};

const LOADER: &str = include_str!("loader.lua");

const PROSODY_BIN: &str = "/usr/bin/prosody";

/// Where an interpreter named without a directory (`#!/usr/bin/env
/// lua5.4`) is looked for: the system's, never `PATH`'s (we run as root).
const SYSTEM_BIN: [&str; 2] = ["/usr/bin", "/bin"];

/// The files of prosody's library that the loader runs first: 0.12's and
/// 13's configmanager, and 13's own module loader.
const LIB_ENTRY_FILES: [&str; 2] = ["core/configmanager.lua", "loader.lua"];

/// How long a config may take to load before we call it hung (prosody
/// would hang at start too).
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// An installed prosody we can load configs with.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The Lua interpreter from `/usr/bin/prosody`'s `#!` line.
    pub(crate) lua: PathBuf,
    pub(crate) lib: PathBuf,
}

impl Installed {
    /// Finds the prosody installed with its modules in `lib` (the
    /// `prosody_lib` setting), or `None` when it is not installed.
    pub fn find(lib: &Path) -> Option<Installed> {
        let lib = absolute(lib);
        let has_configmanager =
            lib.join("core/configmanager.lua").exists() || lib.join("loader.lua").exists();
        if !has_configmanager {
            return None;
        }
        let lua = interpreter_of(Path::new(PROSODY_BIN)).unwrap_or_else(|| "lua5.4".into());
        Some(Installed {
            lua: in_system_bin(&lua),
            lib,
        })
    }

    /// Whether this prosody has prosody 13's config helpers
    /// (`Credential()`, `FileContents()`, …): its configmanager can be told
    /// a credentials directory. prosody 0.12 has none of them.
    pub(crate) fn has_credentials(&self) -> bool {
        std::fs::read(self.lib.join("core/configmanager.lua"))
            .is_ok_and(|t| crate::text::contains(&t, b"set_credentials_directory"))
    }

    /// Loads `config` with prosody's configmanager.
    pub fn load(&self, config: &Path) -> Result<Verdict, LoaderError> {
        self.load_with(config, &[])
    }

    /// Loads `config` with some files read from elsewhere: each `(real,
    /// temp)` pair makes every open of `real` (by any name that reaches the
    /// same inode) read `temp`. So an edit written to temp files is judged by
    /// prosody exactly as if it stood in place, before anything is renamed.
    pub fn load_with(
        &self,
        config: &Path,
        overlay: &[(&Path, &Path)],
    ) -> Result<Verdict, LoaderError> {
        self.start(config, overlay)?.wait()
    }

    /// Starts loading `config` (see [`Installed::load_with`]) and returns at
    /// once: `check` runs its static pass while prosody's loader works.
    /// `Credential()` is read as prosody's start-up reads it: from
    /// `$CREDENTIALS_DIRECTORY` when that is set (in the unit), else it is
    /// only a warning (as `prosodyctl` does).
    pub(crate) fn start(
        &self,
        config: &Path,
        overlay: &[(&Path, &Path)],
    ) -> Result<Loading, LoaderError> {
        self.start_serving(config, overlay, Credentials::Environment)
    }

    /// [`Installed::start`], with `credentials` as where prosody reads
    /// `Credential()` from. Served values reach the loader through its
    /// standard input and are read from memory there, never from a file.
    pub(crate) fn start_serving(
        &self,
        config: &Path,
        overlay: &[(&Path, &Path)],
        credentials: Credentials<'_>,
    ) -> Result<Loading, LoaderError> {
        self.spawn(config, overlay, credentials, false)
    }

    /// Loads `config` (with `overlay`, see [`Installed::load_with`]) and
    /// returns every option of every host as prosody loaded it, or
    /// prosody's verdict when the config does not load.
    pub(crate) fn options_with(
        &self,
        config: &Path,
        overlay: &[(&Path, &Path)],
    ) -> Result<Result<LoadedOptions, Verdict>, LoaderError> {
        let (verdict, out) = self
            .spawn(config, overlay, Credentials::Environment, true)?
            .finish()?;
        if verdict != Verdict::Loads {
            return Ok(Err(verdict));
        }
        let mut options = LoadedOptions::default();
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let mut f = line.splitn(3, |&b| b == b' ');
            let (Some(host), Some(name), Some(value)) = (f.next(), f.next(), f.next()) else {
                return Err(LoaderError::StrayOutput);
            };
            options
                .0
                .insert((host.to_vec(), name.to_vec()), value.to_vec());
        }
        Ok(Ok(options))
    }

    fn spawn(
        &self,
        config: &Path,
        overlay: &[(&Path, &Path)],
        credentials: Credentials<'_>,
        dump: bool,
    ) -> Result<Loading, LoaderError> {
        self.check_trusted().map_err(LoaderError::Untrusted)?;
        // prosody resolves relative Includes against the path it is given,
        // joined to its own working directory: an absolute path gives the
        // verdict prosody gives the config wherever we are run from.
        let config = absolute(config);
        // With credentials the script may not fit in the pipe, and the
        // loader reads all of it before it runs: the runner writes it from
        // a thread.
        let mut script = match credentials {
            Credentials::Served(s) => s.lua_prefix(),
            _ => Vec::new(),
        };
        script.extend_from_slice(LOADER.as_bytes());
        let running = self
            .command(&config, overlay, credentials, dump)
            .input(&script)
            .start()
            .map_err(|source| LoaderError::Run {
                lua: self.lua.clone(),
                source,
            })?;
        Ok(Loading {
            running,
            lua: self.lua.clone(),
            config,
        })
    }

    /// Refuses a library that someone other than root or us could change:
    /// its code runs as root. The library directory and the files the
    /// loader runs first, and every directory above them, must pass the
    /// rule the settings file passes (`safe_write`'s trust rule).
    fn check_trusted(&self) -> Result<(), WriteError> {
        const WHAT: &str = "prosody's library";
        let real = safe_write::resolve(&self.lib)?;
        let dir = std::fs::File::open(&real)
            .map_err(|e| safe_write::io_error("read prosody's library", &self.lib, e))?;
        safe_write::check_trusted(WHAT, &self.lib, &dir)?;
        safe_write::check_ancestors(WHAT, &real)?;
        for name in LIB_ENTRY_FILES {
            let path = self.lib.join(name);
            if !path.exists() {
                continue;
            }
            let real = safe_write::resolve(&path)?;
            let f = safe_write::open_trusted(&real)
                .map_err(|e| safe_write::io_error("read prosody's library", &path, e))?;
            safe_write::check_trusted(WHAT, &path, &f)?;
            safe_write::check_ancestors(WHAT, &real)?;
        }
        Ok(())
    }

    /// The loader's command line and environment: the script comes on
    /// stdin, the config and its overlay as (absolute) arguments. Lua runs
    /// with `-E` (no `LUA_INIT`, `LUA_PATH`, `LUA_CPATH`) in `/`, as prosody
    /// under systemd: nothing of the caller's environment or directory
    /// decides what code runs as root. Its stderr is read
    /// while it runs (an error longer than the pipe buffer would otherwise
    /// block it until our deadline and be reported as a hang): a bounded
    /// prefix is kept, the rest drained. What it dumps on stdout is kept in
    /// memory only: it holds secrets.
    fn command<'a>(
        &self,
        config: &Path,
        overlay: &[(&Path, &Path)],
        credentials: Credentials<'_>,
        dump: bool,
    ) -> Run<'a> {
        let overlay: Vec<PathBuf> = overlay
            .iter()
            .flat_map(|(real, temp)| [absolute(real), absolute(temp)])
            .collect();
        let mut args: Vec<&OsStr> = vec![OsStr::new("-E"), OsStr::new("-"), config.as_os_str()];
        args.extend(overlay.iter().map(|p| p.as_os_str()));
        let run = Run::new(&self.lua, &args)
            .current_dir("/")
            .env("FXC_PROSODY_LIB", &self.lib)
            .deadline(LOAD_TIMEOUT)
            .drain_stderr(STDERR_KEPT);
        let run = match dump {
            true => run.env("FXC_DUMP", "1").max_stdout(MAX_DUMP),
            false => run.discard_stdout(),
        };
        match credentials {
            Credentials::Environment => run,
            Credentials::Directory(d) => run.env("CREDENTIALS_DIRECTORY", d),
            // What we serve is what the unit would get; not another directory.
            Credentials::Served(_) => run.env_remove("CREDENTIALS_DIRECTORY"),
        }
    }
}

/// Where prosody's loader reads `Credential("NAME")` from.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum Credentials<'a> {
    /// As prosody's start-up: `$CREDENTIALS_DIRECTORY` when set, else a
    /// `Credential()` is only a warning (as `prosodyctl` does).
    #[default]
    Environment,
    /// This credentials directory (the running service's, for a check in
    /// its `ExecReload=`, where systemd does not set the variable).
    Directory(&'a Path),
    /// These values, from memory (see [`ServedCredentials`]).
    Served(&'a ServedCredentials),
}

/// Credentials for the loader to serve as prosody.service's
/// `$CREDENTIALS_DIRECTORY` (see [`Installed::start_serving`]).
#[derive(Clone, Default)]
pub(crate) struct ServedCredentials {
    /// The directory prosody is told credentials are in (systemd's
    /// `/run/credentials/prosody.service`): reads under it are served.
    pub(crate) dir: PathBuf,
    /// Credential name and value.
    pub(crate) files: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for ServedCredentials {
    /// Names only: a value is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.files.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ServedCredentials")
            .field("dir", &self.dir)
            .field("names", &names)
            .finish()
    }
}

impl ServedCredentials {
    /// `local FXC_CREDENTIALS = {…}` for the top of the loader script:
    /// every byte of every string as a decimal escape, so any name or value
    /// is a valid Lua string that reads back exactly.
    fn lua_prefix(&self) -> Vec<u8> {
        fn lua_string(out: &mut Vec<u8>, bytes: &[u8]) {
            out.push(b'"');
            for b in bytes {
                out.extend_from_slice(format!("\\{b:03}").as_bytes());
            }
            out.push(b'"');
        }
        let mut out = b"local FXC_CREDENTIALS = { dir = ".to_vec();
        lua_string(&mut out, self.dir.as_os_str().as_encoded_bytes());
        out.extend_from_slice(b", files = {");
        for (name, value) in &self.files {
            out.push(b'[');
            lua_string(&mut out, name.as_bytes());
            out.extend_from_slice(b"] = ");
            lua_string(&mut out, value);
            out.push(b',');
        }
        // One line: the script's own line numbers move by one only.
        out.extend_from_slice(b"} }\n");
        out
    }
}

/// The most option text a load may print (see [`Installed::options_with`]):
/// far above any real config's options.
const MAX_DUMP: u64 = 512 << 20;

/// Every option of every host as prosody loaded it: (host, option) to its
/// value, each as the loader prints it (bytes outside `!`..`~`, `\` and `"`
/// as `\DDD`; a string value in double quotes). Holds secrets: compared,
/// never shown.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct LoadedOptions(pub(crate) std::collections::BTreeMap<(Vec<u8>, Vec<u8>), Vec<u8>>);

impl std::fmt::Debug for LoadedOptions {
    /// Counts only: values are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoadedOptions({} options)", self.0.len())
    }
}

impl LoadedOptions {
    /// `bytes` as the loader prints a name or a string's contents.
    pub(crate) fn escape(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if (33..=126).contains(&b) && b != b'\\' && b != b'"' {
                out.push(b);
            } else {
                out.extend_from_slice(format!("\\{b:03}").as_bytes());
            }
        }
        out
    }
}

/// How much of the loader's error output is kept: prosody's error is its
/// first line; a config can make it megabytes long.
const STDERR_KEPT: u64 = 64 * 1024;

/// Why prosody's loader gave no verdict.
#[derive(Debug)]
pub enum LoaderError {
    /// The Lua interpreter `lua` could not be started, or waiting for it
    /// failed.
    Run { lua: PathBuf, source: RunError },
    /// It printed a line that is no option.
    StrayOutput,
    /// It printed more options than are compared.
    TooMuchOutput,
    /// It failed without a verdict, saying this on its standard error.
    Failed { said: String },
    /// prosody's library is not trusted to run as root (the trust rule
    /// of the settings file): the refusal names the path and why.
    Untrusted(WriteError),
}

impl std::fmt::Display for LoaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoaderError::Run { lua, source } => match &source.failure {
                Failure::Spawn(e) => write!(
                    f,
                    "cannot run {}: {}",
                    lua.display(),
                    crate::text::plain_io(e)
                ),
                Failure::Wait(e) => std::fmt::Display::fmt(e, f),
                Failure::Timeout(_) => std::fmt::Display::fmt(source, f),
            },
            LoaderError::StrayOutput => {
                f.write_str("prosody's loader printed an option it should not")
            }
            LoaderError::TooMuchOutput => {
                f.write_str("prosody's loader printed more options than fogbow-xmpp-ctl compares")
            }
            LoaderError::Failed { said } => {
                write!(f, "could not run prosody's configmanager: {said}")
            }
            LoaderError::Untrusted(e) => std::fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for LoaderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoaderError::Run { source, .. } => Some(source),
            LoaderError::Untrusted(e) => Some(e),
            _ => None,
        }
    }
}

/// A load by prosody's configmanager in progress. Dropping it stops the
/// loader (a `check` whose static pass already found errors needs no more).
#[derive(Debug)]
pub(crate) struct Loading {
    running: Running,
    lua: PathBuf,
    config: PathBuf,
}

impl Loading {
    /// Waits for prosody's verdict, at most `LOAD_TIMEOUT` (10 s) from the start.
    pub(crate) fn wait(self) -> Result<Verdict, LoaderError> {
        self.finish().map(|(v, _)| v)
    }

    /// [`Loading::wait`], with what the loader wrote on its standard output.
    fn finish(self) -> Result<(Verdict, Vec<u8>), LoaderError> {
        let out = match self.running.wait() {
            Ok(out) => out,
            Err(RunError {
                failure: Failure::Timeout(_),
                ..
            }) => {
                let message = format!(
                    "loading the config did not finish within {} s (an endless loop?)",
                    LOAD_TIMEOUT.as_secs()
                );
                let verdict = Verdict::Fails {
                    file: Some(self.config),
                    line: None,
                    message,
                };
                return Ok((verdict, Vec::new()));
            }
            Err(source) => {
                return Err(LoaderError::Run {
                    lua: self.lua,
                    source,
                })
            }
        };
        if out.stdout.len() as u64 >= MAX_DUMP {
            return Err(LoaderError::TooMuchOutput);
        }
        let err = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => Ok((Verdict::Loads, out.stdout)),
            Some(2) => Ok((parse_error(err.trim_end()), out.stdout)),
            _ => Err(LoaderError::Failed {
                said: err.trim().to_string(),
            }),
        }
    }
}

/// The interpreter named by a script's `#!` line (`#!/usr/bin/env lua5.4`).
fn interpreter_of(script: &Path) -> Option<PathBuf> {
    let text = std::fs::read(script).ok()?;
    let first = text.split(|&c| c == b'\n').next()?;
    let line = std::str::from_utf8(first).ok()?.strip_prefix("#!")?;
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let interp = if first.ends_with("/env") {
        words.next()?
    } else {
        first
    };
    Some(interp.into())
}

/// `lua` as a path: a bare name is looked for in [`SYSTEM_BIN`], never on
/// `PATH`; when it is in none of them, the first (which then does not run,
/// as when no Lua is installed).
fn in_system_bin(lua: &Path) -> PathBuf {
    if lua.is_absolute() {
        return lua.to_path_buf();
    }
    let mut found = SYSTEM_BIN.iter().map(|d| Path::new(d).join(lua));
    let first = found.next().unwrap_or_default();
    if first.is_file() {
        return first;
    }
    found.find(|p| p.is_file()).unwrap_or(first)
}

/// How much of prosody's error line a diagnostic carries: a config can
/// raise an error of any length, and it goes to the journal.
const MESSAGE_KEPT: usize = 500;

/// Splits `FILE:LINE: message` (Lua's error format) when it has that shape.
fn parse_error(err: &str) -> Verdict {
    let first = err.lines().next().unwrap_or("");
    let first = match first.char_indices().nth(MESSAGE_KEPT) {
        Some((cut, _)) => format!("{} … ({} more bytes)", &first[..cut], first.len() - cut),
        None => first.to_string(),
    };
    let mut parts = first.splitn(3, ':');
    if let (Some(file), Some(line), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
        if let Ok(line) = line.parse::<usize>() {
            if !file.is_empty() {
                return Verdict::Fails {
                    file: Some(file.into()),
                    line: Some(line),
                    message: rest.trim().to_string(),
                };
            }
        }
    }
    Verdict::Fails {
        file: None,
        line: None,
        message: first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes() {
        assert_eq!(
            parse_error("/etc/prosody/prosody.cfg.lua:3: unexpected symbol near '#'"),
            Verdict::Fails {
                file: Some("/etc/prosody/prosody.cfg.lua".into()),
                line: Some(3),
                message: "unexpected symbol near '#'".into()
            }
        );
        assert_eq!(
            parse_error("Error loading included /x.lua: No such file or directory\nmore"),
            Verdict::Fails {
                file: None,
                line: None,
                message: "Error loading included /x.lua: No such file or directory".into()
            }
        );
    }

    #[test]
    fn shebang_interpreter() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("prosody");
        std::fs::write(&d, "#!/usr/bin/env lua5.4\nprint(1)\n").unwrap();
        assert_eq!(interpreter_of(&d), Some("lua5.4".into()));
        std::fs::write(&d, "#!/usr/bin/lua5.3\n").unwrap();
        assert_eq!(interpreter_of(&d), Some("/usr/bin/lua5.3".into()));
    }

    #[test]
    fn a_bare_interpreter_is_the_system_one() {
        assert_eq!(in_system_bin(Path::new("sh")), Path::new("/usr/bin/sh"));
        assert_eq!(
            in_system_bin(Path::new("fxc-no-such-lua")),
            Path::new("/usr/bin/fxc-no-such-lua")
        );
        assert_eq!(in_system_bin(Path::new("/opt/lua")), Path::new("/opt/lua"));
    }
}
