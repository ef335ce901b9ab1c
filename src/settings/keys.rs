// The keys of the settings file, each with its default and what it means,
// and the files the tool reads and writes: the one list the man page's
// SETTINGS and FILES are generated from (build.rs includes this file, so it
// uses nothing of the crate), held against `Settings` by the settings'
// tests (every key listed, every default the real one).

/// The settings file read when `--settings` names none.
pub const DEFAULT_PATH: &str = "/etc/fogbow-xmpp-ctl/config.toml";
pub(crate) const DEFAULT_PROSODY_CONFIG: &str = "/etc/prosody/prosody.cfg.lua";
pub(crate) const DEFAULT_BACKUP_DIR: &str = "/var/lib/fogbow-xmpp-ctl/backups";
/// Where Debian installs prosody's modules (both 0.12 and 13).
pub(crate) const DEFAULT_PROSODY_LIB: &str = "/usr/lib/prosody";

/// A key's default value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // read by build.rs and the tests only
pub(crate) enum KeyDefault {
    /// A path (a TOML string).
    Path(&'static str),
    /// A word (a TOML string).
    Word(&'static str),
    Number(u64),
    /// Unset unless the operator sets it.
    Unset,
}

/// One key of the settings file. Text is plain (build.rs escapes it for
/// roff); the man page and `tests/surface.rs` read it, the binary does not.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read by build.rs and the tests only
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) default: KeyDefault,
    /// What it sets.
    pub(crate) help: &'static str,
    /// For a key naming a path: what is there, for FILES.
    pub(crate) file: Option<&'static str>,
}

/// Every key of the settings file, in the order of the packaged one.
#[allow(dead_code)] // read by build.rs and the tests only
pub(crate) const KEYS: [Key; 10] = [
    Key {
        name: "prosody_config",
        default: KeyDefault::Path(DEFAULT_PROSODY_CONFIG),
        help: "prosody's main config file (-c/--config overrides it).",
        file: Some("prosody's main config, and the files it includes (e.g. /etc/prosody/conf.d/*.cfg.lua, often symlinks into conf.avail/: the target is edited and the link kept). Edits replace a file atomically (a temp file with the original's owner, mode and ACL, fsync, rename) under an exclusive lock (see /run/fogbow-xmpp-ctl/)."),
    },
    Key {
        name: "prosody_lib",
        default: KeyDefault::Path(DEFAULT_PROSODY_LIB),
        help: "the installed prosody's library (an absolute path): its configmanager loads the config as prosody will for check (and so for the check before every restart, reload and start), before every edit, for doctor and migrate, and says whether prosody has Credential(). Like the settings file, it must be root's (or the invoking user's). No configmanager there: prosody is not installed.",
        file: Some("prosody's modules: core/configmanager.lua is run, with the Lua interpreter of /usr/bin/prosody, to load the config as prosody will."),
    },
    Key {
        name: "backup_dir",
        default: KeyDefault::Path(DEFAULT_BACKUP_DIR),
        help: "where previous versions of edited files are kept (an absolute path; created mode 0700).",
        file: Some("previous versions of edited files (mode 0600), as restore --list lists them."),
    },
    Key {
        name: "backups",
        default: KeyDefault::Number(10),
        help: "how many backups to keep per file; 0 keeps none.",
        file: None,
    },
    Key {
        name: "lock_timeout_secs",
        default: KeyDefault::Number(30),
        help: "how long to wait, in seconds, for another invocation editing the same config.",
        file: None,
    },
    Key {
        name: "apply_timeout_secs",
        default: KeyDefault::Number(30),
        help: "how long to wait, in seconds, for the running prosody to serve a change after a restart or reload.",
        file: None,
    },
    Key {
        name: "component_file",
        default: KeyDefault::Unset,
        help: "where add puts a new component: a file of its own, {name} replaced by its name, relative to the main config's directory (e.g. conf.d/{name}.cfg.lua; an Include of the main config must cover it). Unset: at the end of the main config.",
        file: None,
    },
    Key {
        name: "secret_store",
        default: KeyDefault::Word("config"),
        help: "where add puts a new secret: config (a string in prosody's config) or credential (an encrypted systemd credential the config reads with Credential(); prosody 13). add --secret-store overrides it; migrate moves existing secrets.",
        file: None,
    },
    Key {
        name: "credentials_dir",
        default: KeyDefault::Path("/etc/fogbow-xmpp-ctl/credentials"),
        help: "where the encrypted credentials go (an absolute path).",
        file: Some("the encrypted credentials, one .cred file per component (root only: the directory 0700, each file 0600)."),
    },
    Key {
        name: "credentials_drop_in",
        default: KeyDefault::Path(
            "/etc/systemd/system/prosody.service.d/fogbow-xmpp-ctl-credentials.conf",
        ),
        help: "the drop-in for prosody.service with a LoadCredentialEncrypted= line per credential (an absolute path).",
        file: Some("the drop-in that makes prosody.service load the credentials, generated from the config (never edit it by hand)."),
    },
];

/// Files that are no setting's, after the settings file and the settings'
/// own: the package's gate and root's edit locks.
#[allow(dead_code)] // read by build.rs and the tests only
pub(crate) const OTHER_FILES: [(&str, &str); 2] = [
    (
        "/usr/lib/systemd/system/prosody.service.d/fogbow-xmpp-ctl.conf",
        "the package's drop-in that checks the config before prosody starts or reloads.",
    ),
    (
        "/run/fogbow-xmpp-ctl/",
        "root's edit locks (directory 0700): one file per config being edited, removed when the edit is done. Another user's edit locks the config's directory instead.",
    ),
];
