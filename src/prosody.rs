//! The installed prosody: load a config through its own configmanager.
//!
//! Our parser knows Lua's grammar; only running the file shows what prosody
//! itself will refuse at start (a `require` of a missing module, an unset
//! `ENV_` variable used in an expression, a call prosody does not provide).
//! So `check` also runs the installed configmanager on it, with the Lua
//! interpreter prosody itself runs on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOADER: &str = include_str!("prosody_load.lua");

/// Where Debian installs prosody's modules (both 0.12 and 13).
pub const LIB_DIR: &str = "/usr/lib/prosody";
const PROSODY_BIN: &str = "/usr/bin/prosody";

/// How long a config may take to load before we call it hung (prosody
/// would hang at start too).
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// An installed prosody we can load configs with.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The Lua interpreter from `/usr/bin/prosody`'s `#!` line.
    pub lua: PathBuf,
    pub lib: PathBuf,
}

/// prosody's verdict on a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Loads,
    /// The error as prosody prints it, split into file and line when it says them.
    Fails {
        file: Option<PathBuf>,
        line: Option<usize>,
        message: String,
    },
}

impl Installed {
    /// Finds the installed prosody, or `None` when it is not installed.
    pub fn find() -> Option<Installed> {
        let lib =
            PathBuf::from(std::env::var_os("FXC_PROSODY_LIB").unwrap_or_else(|| LIB_DIR.into()));
        let has_configmanager =
            lib.join("core/configmanager.lua").exists() || lib.join("loader.lua").exists();
        if !has_configmanager {
            return None;
        }
        let lua = interpreter_of(Path::new(PROSODY_BIN)).unwrap_or_else(|| "lua5.4".into());
        Some(Installed { lua, lib })
    }

    /// Loads `config` with prosody's configmanager.
    pub fn load(&self, config: &Path) -> Result<Verdict, String> {
        self.load_with(config, &[])
    }

    /// Loads `config` with some files read from elsewhere: each `(real,
    /// temp)` pair makes every open of `real` (by any name that reaches the
    /// same inode) read `temp`. So an edit written to temp files is judged by
    /// prosody exactly as if it stood in place, before anything is renamed.
    pub fn load_with(&self, config: &Path, overlay: &[(&Path, &Path)]) -> Result<Verdict, String> {
        let mut child = Command::new(&self.lua)
            .arg("-")
            .arg(config)
            .args(overlay.iter().flat_map(|(real, temp)| [real, temp]))
            .env("FXC_PROSODY_LIB", &self.lib)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run {}: {}",
                    self.lua.display(),
                    crate::secret::plain_io(&e)
                )
            })?;
        // The script is small: it fits in the pipe, so this cannot block.
        let _ = child
            .stdin
            .take()
            .expect("piped")
            .write_all(LOADER.as_bytes());
        let deadline = Instant::now() + LOAD_TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Verdict::Fails {
                    file: Some(config.to_path_buf()),
                    line: None,
                    message: format!(
                        "loading the config did not finish within {} s (an endless loop?)",
                        LOAD_TIMEOUT.as_secs()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let mut err = String::new();
        use std::io::Read;
        let _ = child.stderr.take().expect("piped").read_to_string(&mut err);
        match status.code() {
            Some(0) => Ok(Verdict::Loads),
            Some(2) => Ok(parse_error(err.trim_end())),
            _ => Err(format!(
                "could not run prosody's configmanager: {}",
                err.trim()
            )),
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

/// Splits `FILE:LINE: message` (Lua's error format) when it has that shape.
fn parse_error(err: &str) -> Verdict {
    let first = err.lines().next().unwrap_or("").to_string();
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
        let d = std::env::temp_dir().join(format!("fxc-shebang-{}", std::process::id()));
        std::fs::write(&d, "#!/usr/bin/env lua5.4\nprint(1)\n").unwrap();
        assert_eq!(interpreter_of(&d), Some("lua5.4".into()));
        std::fs::write(&d, "#!/usr/bin/lua5.3\n").unwrap();
        assert_eq!(interpreter_of(&d), Some("/usr/bin/lua5.3".into()));
        std::fs::remove_file(&d).unwrap();
    }
}
