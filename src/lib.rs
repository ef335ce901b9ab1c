//! fogbow-xmpp-ctl: edit and check prosody's XMPP external components.
//!
//! The rooms of the house, as `ls src` shows them: [`document`] (the Lua
//! lexer and parser, and the lossless model of one file with its edits),
//! [`prosody`] (prosody's view: the config with its Includes, host names,
//! the component listener, prosody's own loader), [`diagnostics`] (what
//! `check` reports), [`ops`] (the commands as operations, every edit through
//! one pipeline), [`safe_write`] (lock, temp file, fsync, rename, backup),
//! [`system`] (the running server: service, journal, probe, doctor),
//! [`fogbow`] (a Fogbow component's `.properties`), [`error`] (the one error
//! type), and the CLI in `main.rs`/`cli.rs`/`output.rs`.

#![forbid(unsafe_code)]

pub mod diagnostics;
pub mod document;
pub mod error;
pub mod fogbow;
pub mod ops;
pub mod prosody;
pub mod safe_write;
pub mod secret;
pub mod settings;
pub mod system;
pub mod text;

pub use error::Error;
