//! `check` and its diagnostics: codes, positions, JSON and exit codes
//! (`diagnostics`), the mistakes it finds (`findings`), a diagnostic's
//! identity across edits (`identity`) and prosody's own loader as `check`
//! runs it (`loader`).

#[path = "../support/mod.rs"]
mod support;

mod diagnostics;
mod findings;
mod identity;
mod loader;
