//! fogbow-xmpp-ctl: edit and check prosody's XMPP external components.
//!
//! The rooms of the house: [`document`] (the lossless Lua-aware model of one
//! file), [`config`] (the main file and what it includes), [`diagnostics`]
//! (the checks), [`safe_write`] (lock, temp file, fsync, rename, backup),
//! [`ops`] (the commands as operations on those, every edit through one
//! pipeline), [`error`] (their one error type), the outside world
//! ([`prosody`], [`service`], [`journal`], [`probe`]), Fogbow's side
//! ([`fogbow`], [`listener`], [`doctor`]), and the CLI in `main.rs`/`cli.rs`/`output.rs`.

#![forbid(unsafe_code)]

pub mod config;
pub mod diagnostics;
pub mod doctor;
pub mod document;
pub mod error;
pub mod fogbow;
pub mod hex;
pub mod journal;
pub mod listener;
pub mod names;
pub mod ops;
pub mod probe;
pub mod prosody;
pub mod safe_write;
pub mod secret;
pub mod service;
pub mod settings;

pub use error::Error;
