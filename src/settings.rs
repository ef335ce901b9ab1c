//! `/etc/fogbow-xmpp-ctl/config.toml`: where things are and how many backups to keep.

use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/etc/fogbow-xmpp-ctl/config.toml";
pub const DEFAULT_PROSODY_CONFIG: &str = "/etc/prosody/prosody.cfg.lua";
pub const DEFAULT_BACKUP_DIR: &str = "/var/lib/fogbow-xmpp-ctl/backups";

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// prosody's main config file.
    pub prosody_config: PathBuf,
    /// Where previous versions of edited files are kept.
    pub backup_dir: PathBuf,
    /// How many backups to keep per file; 0 keeps none.
    pub backups: usize,
    /// How long to wait for another invocation to finish editing.
    pub lock_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prosody_config: DEFAULT_PROSODY_CONFIG.into(),
            backup_dir: DEFAULT_BACKUP_DIR.into(),
            backups: 10,
            lock_timeout_secs: 30,
        }
    }
}

impl Settings {
    /// Loads the settings file. A missing file is fine only when it is the
    /// default one (`explicit == false`): an operator who names a file means it.
    pub fn load(path: &Path, explicit: bool) -> Result<Settings, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Settings::default())
            }
            Err(e) => {
                return Err(format!(
                    "cannot read the settings file {}: {}",
                    path.display(),
                    crate::secret::plain_io(&e)
                ))
            }
        };
        Self::parse(&text).map_err(|e| format!("{}:{e}", path.display()))
    }

    /// Parses settings; the error starts with `LINE:COLUMN: `.
    pub fn parse(text: &str) -> Result<Settings, String> {
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
            format!("{line}:{col}: {}", e.message().trim())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_values() {
        assert_eq!(Settings::parse("").unwrap(), Settings::default());
        let s = Settings::parse("prosody_config = \"/tmp/p.cfg.lua\"\nbackups = 0\nlock_timeout_secs = 5\nbackup_dir = \"/tmp/b\"\n").unwrap();
        assert_eq!(s.prosody_config, PathBuf::from("/tmp/p.cfg.lua"));
        assert_eq!((s.backups, s.lock_timeout_secs), (0, 5));
    }

    #[test]
    fn unknown_keys_name_key_and_line() {
        let e = Settings::parse("backups = 3\nbakcup_dir = \"/x\"\n").unwrap_err();
        assert!(e.starts_with("2:1: "), "{e}");
        assert!(e.contains("bakcup_dir"), "{e}");
        let e = Settings::parse("backups = \"ten\"\n").unwrap_err();
        assert!(e.starts_with("1:"), "{e}");
    }

    #[test]
    fn missing_default_is_fine_missing_named_is_not() {
        let p = Path::new("/nonexistent/fogbow-xmpp-ctl.toml");
        assert_eq!(Settings::load(p, false).unwrap(), Settings::default());
        assert!(Settings::load(p, true)
            .unwrap_err()
            .contains("/nonexistent/fogbow-xmpp-ctl.toml"));
    }
}
