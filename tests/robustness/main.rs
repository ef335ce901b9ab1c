//! Robustness: inputs and peers that try to break a run (bounds on every
//! read and every wait, hostile names, secrets and configs) and failures in
//! the middle of a write (SIGKILL, a full disk, concurrent edits).

#[path = "../support/mod.rs"]
mod support;

mod bounds;
mod crash;
mod hostile;
