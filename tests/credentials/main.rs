//! Secrets as systemd credentials: the store (`add --secret-store
//! credential`, rotation, `remove`, `restore --undo`, `migrate`) and the
//! reading of `Credential()`, `FileContents()` and `FileLine()` by `check`,
//! `list`, `doctor` and `probe`.

#[path = "../support/mod.rs"]
mod support;

mod read;
mod store;
