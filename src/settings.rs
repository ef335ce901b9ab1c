//! `/etc/fogbow-xmpp-ctl/config.toml`: where things are and how many backups to keep.

use std::path::{Path, PathBuf};

use crate::safe_write::{self, WriteError};

/// The documented keys and files (the man page's; tests hold them to
/// [`Settings`]): the binary uses only their default paths.
mod keys;
pub use keys::DEFAULT_PATH;
pub(crate) use keys::{DEFAULT_BACKUP_DIR, DEFAULT_PROSODY_CONFIG, DEFAULT_PROSODY_LIB};

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// prosody's main config file.
    pub prosody_config: PathBuf,
    /// The installed prosody's library: its configmanager is what loads
    /// the config as prosody will (and says whether it has
    /// `Credential()`). Root runs its Lua, so it is a setting of this
    /// trusted file, never the environment.
    pub prosody_lib: PathBuf,
    /// Where previous versions of edited files are kept.
    pub backup_dir: PathBuf,
    /// How many backups to keep per file; 0 keeps none.
    pub backups: usize,
    /// How long to wait for another invocation to finish editing.
    pub lock_timeout_secs: u64,
    /// How long to wait for the running prosody to serve a change (a restart's
    /// listeners open, an activated component known) before saying it did not.
    pub apply_timeout_secs: u64,
    /// Where `add` puts a new component: a file of its own, `{name}`
    /// replaced by its name, relative to the main config's directory
    /// (Debian's layout: `conf.d/{name}.cfg.lua`); unset: the end of the
    /// main config. The file must be covered by an `Include` of the config.
    pub component_file: Option<String>,
    /// Where `add` puts a new secret: `config` (a string in the
    /// config, the default) or `credential` (an encrypted systemd
    /// credential that the config reads with `Credential("…")`; prosody 13).
    pub secret_store: SecretStore,
    /// Where the encrypted `.cred` files go (root's, `0700`).
    pub credentials_dir: PathBuf,
    /// Our drop-in for prosody.service with their `LoadCredentialEncrypted=`
    /// lines.
    pub credentials_drop_in: PathBuf,
}

/// Where a component's secret is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretStore {
    /// `component_secret = "…"` in the config.
    #[default]
    Config,
    /// `component_secret = Credential("fogbow-xmpp-ctl.NAME")` and an
    /// encrypted credential.
    Credential,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prosody_config: DEFAULT_PROSODY_CONFIG.into(),
            prosody_lib: DEFAULT_PROSODY_LIB.into(),
            backup_dir: DEFAULT_BACKUP_DIR.into(),
            backups: 10,
            lock_timeout_secs: 30,
            apply_timeout_secs: 30,
            component_file: None,
            secret_store: SecretStore::Config,
            credentials_dir: crate::system::credentials::CREDENTIALS_DIR.into(),
            credentials_drop_in: crate::system::credentials::DROP_IN.into(),
        }
    }
}

impl Settings {
    /// Loads the settings file. A missing file is fine only when it is the
    /// default one (`explicit == false`): an operator who names a file means it.
    ///
    /// The file decides which file root edits and where restores come from,
    /// so, as sudo and ssh do with theirs, it is refused unless only root
    /// (or the invoking user) can write it and the directories above it,
    /// and a symbolic link to it must not be another user's.
    pub fn load(path: &Path, explicit: bool) -> Result<Settings, SettingsError> {
        let text = match Self::read_trusted(path) {
            Ok(t) => t,
            Err(e) if e.is_missing() && !explicit => return Ok(Settings::default()),
            Err(e) => return Err(e),
        };
        let settings = Self::parse(&text).map_err(|e| e.in_file(path))?;
        settings.validate(&text).map_err(|e| e.in_file(path))?;
        Ok(settings)
    }

    /// The settings file's text, if it is a regular file we can trust.
    fn read_trusted(path: &Path) -> Result<String, SettingsError> {
        let what = "the settings file";
        // A refused link along the way may be another path: say whose it is.
        let real = safe_write::resolve(path).map_err(|error| SettingsError::Resolve {
            path: path.to_path_buf(),
            error,
        })?;
        let mut f = safe_write::open_trusted(&real)
            .map_err(|e| safe_write::io_error("read the settings file", path, e))?;
        use crate::secret::Unreadable;
        let refused = |e: Unreadable| match e {
            Unreadable::Io(e) => safe_write::io_error("read the settings file", path, e).into(),
            Unreadable::NotRegular(_) => SettingsError::NotRegular(path.to_path_buf()),
            // A settings file is a few hundred bytes; this bounds a hostile one.
            Unreadable::TooLarge => SettingsError::TooLarge(path.to_path_buf()),
        };
        crate::secret::regular(&f).map_err(refused)?;
        safe_write::check_trusted(what, path, &f)?;
        safe_write::check_ancestors(what, &real)?;
        let bytes = crate::secret::read_at_most(&mut f, MAX_SETTINGS_BYTES).map_err(refused)?;
        String::from_utf8(bytes).map_err(|source| SettingsError::NotText {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Values that parse but cannot be meant; the error starts with
    /// `LINE:COLUMN: ` (of the key in `text`).
    fn validate(&self, text: &str) -> Result<(), SettingsError> {
        let at = |key: &str, fault: Fault| SettingsError::At {
            path: None,
            position: key_position(text, key),
            fault,
        };
        if let Some(f) = &self.component_file {
            if f.is_empty() || f.ends_with('/') {
                return Err(at("component_file", Fault::NoComponentFile));
            }
        }
        for (key, p) in [
            ("prosody_lib", &self.prosody_lib),
            ("credentials_dir", &self.credentials_dir),
            ("credentials_drop_in", &self.credentials_drop_in),
        ] {
            if !p.is_absolute() || p.file_name().is_none() {
                return Err(at(key, Fault::NotAbsolute { key }));
            }
        }
        let dir = &self.backup_dir;
        let why = if dir.as_os_str().is_empty() {
            "backup_dir is empty"
        } else if !dir.is_absolute() {
            "backup_dir is a relative path, which would depend on the directory fogbow-xmpp-ctl is started in"
        } else {
            return Ok(());
        };
        Err(at("backup_dir", Fault::BackupDir { why }))
    }

    /// Parses settings; the error starts with `LINE:COLUMN: `.
    pub(crate) fn parse(text: &str) -> Result<Settings, SettingsError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let (line, col) = match e.span() {
                Some(s) => {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    (line, col)
                }
                None => (1, 1),
            };
            SettingsError::At {
                path: None,
                position: format!("{line}:{col}"),
                fault: Fault::Syntax(Box::new(e)),
            }
        })
    }
}

/// Why the settings were not loaded.
#[derive(Debug)]
pub enum SettingsError {
    /// The file cannot be read, or is not to be trusted.
    Read(WriteError),
    /// A symbolic link on the way to the file at `path` is refused, or the
    /// path cannot be resolved.
    Resolve { path: PathBuf, error: WriteError },
    /// The file at this path is not a regular file.
    NotRegular(PathBuf),
    /// The file at this path is larger than `MAX_SETTINGS_BYTES`.
    TooLarge(PathBuf),
    /// The file at `path` is not UTF-8 text.
    NotText {
        path: PathBuf,
        source: std::string::FromUtf8Error,
    },
    /// The text is wrong at `position` (`LINE:COLUMN`) of `path` (none
    /// when the text was not read from a file).
    At {
        path: Option<PathBuf>,
        position: String,
        fault: Fault,
    },
}

/// What is wrong at a place in the settings.
#[derive(Debug)]
pub enum Fault {
    /// Not TOML, or not our keys and values (boxed: it is large, and
    /// errors travel by value).
    Syntax(Box<toml::de::Error>),
    /// `component_file` names a directory or nothing.
    NoComponentFile,
    /// A path `key` that must be absolute is not.
    NotAbsolute { key: &'static str },
    /// `backup_dir` is empty or relative: `why`.
    BackupDir { why: &'static str },
}

impl From<WriteError> for SettingsError {
    fn from(e: WriteError) -> SettingsError {
        SettingsError::Read(e)
    }
}

impl SettingsError {
    /// Whether the file (or a directory on the way to it) does not exist.
    fn is_missing(&self) -> bool {
        match self {
            SettingsError::Read(e) | SettingsError::Resolve { error: e, .. } => {
                e.kind() == std::io::ErrorKind::NotFound
            }
            _ => false,
        }
    }

    /// The error as found in the file `path`.
    fn in_file(self, file: &Path) -> SettingsError {
        match self {
            SettingsError::At {
                position, fault, ..
            } => SettingsError::At {
                path: Some(file.to_path_buf()),
                position,
                fault,
            },
            e => e,
        }
    }
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsError::Read(e) => std::fmt::Display::fmt(e, f),
            SettingsError::Resolve { path, error } => {
                write!(f, "the settings file {}: {error}", path.display())
            }
            SettingsError::NotRegular(path) => write!(
                f,
                "the settings file {} is not a regular file",
                path.display()
            ),
            SettingsError::TooLarge(path) => write!(
                f,
                "the settings file {} is larger than {MAX_SETTINGS_BYTES} bytes",
                path.display()
            ),
            SettingsError::NotText { path, .. } => {
                write!(f, "the settings file {} is not UTF-8 text", path.display())
            }
            SettingsError::At {
                path,
                position,
                fault,
            } => {
                if let Some(path) = path {
                    write!(f, "{}:", path.display())?;
                }
                write!(f, "{position}: {fault}")
            }
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Syntax(e) => f.write_str(e.message().trim()),
            Fault::NoComponentFile => f.write_str(
                "component_file names no file; set a path such as \"conf.d/{name}.cfg.lua\", or remove the key",
            ),
            Fault::NotAbsolute { key } => write!(
                f,
                "{key} must be an absolute path (the default is {})",
                match *key {
                    "prosody_lib" => DEFAULT_PROSODY_LIB,
                    "credentials_dir" => crate::system::credentials::CREDENTIALS_DIR,
                    _ => crate::system::credentials::DROP_IN,
                }
            ),
            Fault::BackupDir { why } => write!(
                f,
                "{why}; set an absolute path (the default is {DEFAULT_BACKUP_DIR})"
            ),
        }
    }
}

impl std::error::Error for SettingsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SettingsError::Read(e) | SettingsError::Resolve { error: e, .. } => Some(e),
            SettingsError::NotText { source, .. } => Some(source),
            SettingsError::NotRegular(_) | SettingsError::TooLarge(_) => None,
            SettingsError::At {
                fault: Fault::Syntax(e),
                ..
            } => Some(e.as_ref()),
            SettingsError::At { .. } => None,
        }
    }
}

/// The settings file is read up to this size.
const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// `LINE:COLUMN` of the first line of `text` that sets `key`, else `1:1`.
fn key_position(text: &str, key: &str) -> String {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let rest = t.strip_prefix(key).map(str::trim_start);
        if rest.is_some_and(|r| r.starts_with('=')) {
            return format!("{}:{}", i + 1, line.len() - t.len() + 1);
        }
    }
    "1:1".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packaged settings file shows every key, in the man page's order,
    /// each commented out with its real default (an unset one with an
    /// example), and nothing else: uncommented, it is the defaults.
    #[test]
    fn the_packaged_settings_file_shows_every_key_with_its_default() {
        let packaged = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/debian/config.toml"));
        let shown: Vec<&str> = packaged
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.contains(" = ") && !l.starts_with(' '))
            .collect();
        let names: Vec<&str> = shown
            .iter()
            .map(|l| l.split(" = ").next().unwrap())
            .collect();
        assert_eq!(names, keys::KEYS.map(|k| k.name), "{packaged}");
        let defaults: String = shown
            .iter()
            .zip(keys::KEYS)
            .filter(|(_, k)| k.default != keys::KeyDefault::Unset)
            .map(|(l, _)| format!("{l}\n"))
            .collect();
        assert_eq!(
            Settings::parse(&defaults).unwrap(),
            Settings::default(),
            "{defaults}"
        );
        assert!(
            packaged.lines().all(|l| l.is_empty() || l.starts_with('#')),
            "only comments: every key stays at its default until the operator sets it"
        );
    }

    /// The man page's keys are `Settings`' fields, in order, and its
    /// defaults are the real ones; its files are where the tool puts them.
    #[test]
    fn the_documented_keys_are_the_settings() {
        let e = Settings::parse("no_such_key = 1\n")
            .unwrap_err()
            .to_string();
        let fields: Vec<&str> = e
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("{e}"))
            .split(", ")
            .map(|k| k.trim().trim_matches('`'))
            .collect();
        assert_eq!(fields, keys::KEYS.map(|k| k.name));
        for k in keys::KEYS {
            let text = match k.default {
                keys::KeyDefault::Path(v) | keys::KeyDefault::Word(v) => {
                    format!("{} = {v:?}\n", k.name)
                }
                keys::KeyDefault::Number(n) => format!("{} = {n}\n", k.name),
                keys::KeyDefault::Unset => {
                    assert_eq!(k.name, "component_file");
                    assert_eq!(Settings::default().component_file, None);
                    continue;
                }
            };
            assert_eq!(
                Settings::parse(&text).unwrap(),
                Settings::default(),
                "{text}"
            );
        }
        let (lock_dir, _) = keys::OTHER_FILES[1];
        assert_eq!(lock_dir.trim_end_matches('/'), crate::safe_write::LOCK_DIR);
        let (gate, _) = keys::OTHER_FILES[0];
        let (dir, name) = gate.rsplit_once('/').unwrap();
        let cargo = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        assert!(
            cargo.contains(&format!("prosody.service.d/{name}\", \"{}/\"", &dir[1..])),
            "{gate} is not where the package installs the gate"
        );
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(Settings::parse("").unwrap(), Settings::default());
        let s = Settings::parse("prosody_config = \"/tmp/p.cfg.lua\"\nbackups = 0\nlock_timeout_secs = 5\nbackup_dir = \"/tmp/b\"\n").unwrap();
        assert_eq!(s.prosody_config, PathBuf::from("/tmp/p.cfg.lua"));
        assert_eq!((s.backups, s.lock_timeout_secs), (0, 5));
        assert_eq!(s.apply_timeout_secs, 30);
        let t = Settings::parse("apply_timeout_secs = 7\n").unwrap();
        assert_eq!(t.apply_timeout_secs, 7);
        assert_eq!(t.secret_store, SecretStore::Config);
        let c =
            Settings::parse("secret_store = \"credential\"\ncredentials_dir = \"/x/c\"\n").unwrap();
        assert_eq!(c.secret_store, SecretStore::Credential);
        assert_eq!(c.credentials_dir, PathBuf::from("/x/c"));
        assert!(Settings::parse("secret_store = \"vault\"\n").is_err());
        let bad = "backups = 1\ncredentials_drop_in = \"x.conf\"\n";
        let e = Settings::parse(bad)
            .unwrap()
            .validate(bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("2:1: credentials_drop_in must be an absolute path"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_name_key_and_line() {
        let e = Settings::parse("backups = 3\nbakcup_dir = \"/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("2:1: "), "{e}");
        assert!(e.contains("bakcup_dir"), "{e}");
        let e = Settings::parse("backups = \"ten\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("1:"), "{e}");
    }

    #[test]
    fn missing_default_is_fine_missing_named_is_not() {
        let p = Path::new("/nonexistent/fogbow-xmpp-ctl.toml");
        assert_eq!(Settings::load(p, false).unwrap(), Settings::default());
        assert!(Settings::load(p, true)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/fogbow-xmpp-ctl.toml"));
    }

    #[test]
    fn empty_or_relative_backup_dir_names_its_line() {
        let check = |t: &str| {
            Settings::parse(t)
                .unwrap()
                .validate(t)
                .map_err(|e| e.to_string())
        };
        let e = check("backups = 3\n  backup_dir = \"\"\n").unwrap_err();
        assert!(e.starts_with("2:3: backup_dir is empty"), "{e}");
        let e = check("backup_dir=\"var/b\"\n").unwrap_err();
        assert!(e.starts_with("1:1: backup_dir is a relative path"), "{e}");
        assert!(check("backup_dir = \"/var/b\"\n").is_ok());
        let e = check("backups = 1\ncomponent_file = \"conf.d/\"\n").unwrap_err();
        assert!(e.starts_with("2:1: component_file names no file"), "{e}");
        let s = Settings::parse("component_file = \"conf.d/{name}.cfg.lua\"\n").unwrap();
        assert_eq!(s.component_file.as_deref(), Some("conf.d/{name}.cfg.lua"));
        assert!(check("").is_ok());
        assert_eq!(
            key_position("backup_dirx = 1\nbackup_dir = 2\n", "backup_dir"),
            "2:1"
        );
    }

    #[test]
    fn a_settings_file_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let p = d.join("config.toml");
        std::fs::write(&p, "backups = 2\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(Settings::load(&p, true).unwrap().backups, 2);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = Settings::load(&p, true).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "refusing to use the settings file {}",
                p.display()
            )) && e.contains("mode 0666"),
            "{e}"
        );
        // Not a regular file.
        let e = Settings::load(d, true).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
