//! prosody's view of its config: what prosody itself sees when it starts.
//!
//! `config` runs the main file and its `Include`s in prosody's order,
//! [`names`] compares and refuses host names as prosody's nameprep does,
//! `credential_names` names our systemd credentials as `Credential()`
//! reads them, [`listener`] says where prosody accepts components (`listen`
//! plans its edits in `ops`), and `loader` asks the installed prosody's
//! own configmanager for its verdict.
//! The static checks built on this view are in [`crate::diagnostics`].

pub(crate) mod config;
pub(crate) mod credential_names;
pub mod listener;
pub(crate) mod loader;
pub mod names;

pub use loader::{absolute, Installed, Verdict};
pub(crate) use loader::{Credentials, Loading, ServedCredentials};
