//! fogbow-xmpp-ctl: edit and check prosody's XMPP external components.
//!
//! The rooms, as layers that import only downward (docs/ARCHITECTURE.md
//! has the map and the rules): [`document`] (the Lua lexer and parser, and
//! the lossless model of one file with its edits; no I/O), [`text`]
//! (terminal escaping, hex, byte search, io-error wording, masked secrets),
//! [`secret`] (where a secret comes from, and the one bounded file reader),
//! [`prosody`] (what prosody reads: the config with its Includes, host and
//! credential names, the component listener),
//! [`diagnostics`] (the rules `check` reports; what needs the system is
//! handed in), then the outside world: [`safe_write`] (lock, temp file,
//! fsync, rename, backup), [`system`] (the service, its admin shell, the
//! journal, the handshake, systemd's credentials, prosody's own loader
//! run on the installed prosody), [`settings`] and
//! [`fogbow`] (a Fogbow component's `.properties`); then [`error`] (the one error type, wrapping
//! the lower layers' own), [`ops`] (every command as an operation, every
//! edit through one pipeline), and the CLI in `main.rs`/`cli.rs`/`output.rs`.

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
