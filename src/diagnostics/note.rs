//! What a command has to tell the operator beside its result: data (paths,
//! names, line numbers, the text of an error), never sentences. The binary
//! words each one (`src/words.rs`); ops and `check` only say which.

use std::path::PathBuf;

use super::Opaque;
use crate::prosody::listener::Misplaced;

/// One note of an edit, `list` or `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The config file `file`, where the edit wrote the secret of `name`,
    /// is readable by others, for the reason `why` (mode bits, ACL entries).
    ConfigReadable {
        file: PathBuf,
        name: String,
        why: String,
    },
    /// The `.properties` file `file` holding the secret of `jid` is
    /// readable by others, for the reason `why`.
    PropertiesReadable {
        file: PathBuf,
        jid: String,
        why: String,
    },
    /// A dry run: code at `opaque` may set a secret, so the write first has
    /// prosody's loader prove what it reads for `name`.
    ProvedOnWrite { opaque: Opaque, name: String },
    // The failures below happen above this layer (safe_write, system: a
    // WriteError, a ServiceError, a LoaderError, an io::Error), which
    // diagnostics may not import, and a Note is Clone and Eq: each carries
    // its error's own text, which words.rs places in its sentence.
    /// prosody's loader could not be run on the edited config.
    NotLoaded { error: String },
    /// The edit is written but its record is not: `restore --undo` cannot
    /// undo it.
    NotRecorded { error: String },
    /// Our drop-in changed, and systemd's daemon-reload failed.
    DropInNotReloaded { drop_in: PathBuf, error: String },
    /// The backups could not be read to scrub the old secret.
    BackupsNotScrubbed { error: String },
    /// The backup `backup` still holds the old secret of credential `cred`.
    BackupNotScrubbed {
        backup: PathBuf,
        cred: String,
        error: String,
    },
    /// An edit record could not follow a scrubbed backup's new hash.
    RecordNotUpdated { record: PathBuf, error: String },
    /// `list`: code at `opaque` may set a secret anywhere, so the SECRET
    /// column may not be what prosody uses.
    SecretsMayDiffer { opaque: Opaque },
    /// `list`: code at `opaque` in a component's section may set its secret.
    SecretOpaque { opaque: Opaque },
    /// `list`: an Include with a computed path at `file:line`, not followed.
    IncludeNotListed { file: PathBuf, line: usize },
    /// `list`: `callee` (Component, Include, …) called inside a block.
    CallInBlock {
        file: PathBuf,
        line: usize,
        callee: String,
    },
    /// `list`: `name`'s secret at `unused` is replaced by the one at `used`
    /// (file and line each).
    SecretOverridden {
        name: String,
        used: (PathBuf, usize),
        unused: (PathBuf, usize),
    },
    /// `check`: an Include with a computed path at `file:line`, checked only
    /// by prosody's loader.
    IncludeComputed { file: PathBuf, line: usize },
    /// `check`: prosody is not installed, so its loader did not run.
    ProsodyNotInstalled,
    /// `listen`: the options at `from`, ignored in their sections, moved to
    /// the global section as `to`.
    MovedToGlobal {
        from: Vec<Misplaced>,
        to: &'static str,
    },
    /// `add` of a new `name` one or two characters away from the external
    /// component `other`, at `file:line` (`written`: its spelling there,
    /// when that is not `other`).
    NearName {
        name: String,
        other: String,
        file: PathBuf,
        line: usize,
        written: Option<String>,
    },
    /// prosody knows the component written `written` as `known_as`
    /// (nameprep) and refuses one that connects as written.
    ConnectAs { written: String, known_as: String },
}
