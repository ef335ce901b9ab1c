//! prosody's view of its config: what prosody itself sees when it starts.
//!
//! `config` runs the main file and its `Include`s in prosody's order,
//! [`names`] compares and refuses host names as prosody's nameprep does,
//! `credential_names` names our systemd credentials as `Credential()`
//! reads them, and [`listener`] says where prosody accepts components
//! (`listen` plans its edits in `ops`). The installed prosody's own
//! configmanager gives its [`Verdict`] through `system::loader`, which runs
//! it.
//! The static checks built on this view are in [`crate::diagnostics`].

pub(crate) mod config;
pub(crate) mod credential_names;
pub mod listener;
pub mod names;

use std::path::{Path, PathBuf};

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

/// `path` made absolute against the working directory (as prosody would
/// see it), without resolving symlinks: prosody does not either.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    match path.is_relative() {
        true => std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path)),
        false => path.to_path_buf(),
    }
}
