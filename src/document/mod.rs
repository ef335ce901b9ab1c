//! The Lua-aware, lossless model of one prosody config file.
//!
//! A [`Document`] keeps the original bytes and, from the parse, the spans of
//! its top-level statements, classified the way prosody's configmanager runs
//! them: `VirtualHost`/`Component` calls open a section, bare assignments set
//! an option in the current section, `Include` pulls in other files. Edits are
//! splices of the original bytes, so everything not edited stays as it was.
//!
//! The rooms, in the order data flows through them:
//!
//! - `lexer`: Lua 5.4's tokens (`llex.c`), with byte spans; string
//!   literals decoded and encoded.
//! - `syntax`: the validating parser (`lparser.c`), which hands out the
//!   top-level statements one at a time and notes what a static model
//!   cannot follow.
//! - `build`: turns those statements into records, as prosody runs them;
//!   [`Document::parse`] and `SyntaxError`.
//! - `records`: the compact per-statement records, and why they are small.
//! - `view`: borrowed views of the records (`Stmt`, [`Statement`],
//!   `SectionHeader`, `OptionSet`, [`Value`]) and the reading methods.
//! - `edit`: splices: append a component, insert or replace a secret,
//!   remove a section (`EditError`).
//! - `lines`: Lua's line-break rule, written once, and positions.
//! - [`fuzz`]: the properties the fuzz targets check.
//!
//! Memory: the model is a few small records per statement (byte offsets as
//! `u32`, no strings); names and literals are read from the text when asked
//! for, through borrowed views (`Stmt`, [`Statement`], `OptionSet`,
//! [`Value`]). So a config costs about its own size again, not tens of times
//! that (see docs/BENCHMARKS.md).

mod build;
mod edit;
pub mod fuzz;
pub(crate) mod lexer;
pub(crate) mod lines;
mod records;
pub(crate) mod syntax;
mod view;

pub(crate) use build::SyntaxError;
pub(crate) use lexer::Span;
pub(crate) use syntax::OpaqueKind;
pub(crate) use view::{
    Literal, OptionSet, Options, Owner, SecretRef, SecretRefKind, SectionHeader,
};
pub use view::{Statement, Value};

use records::{HeadExtra, HeadRec, OptRec, Sp, StmtRec, ValRec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SectionKind {
    VirtualHost,
    Component,
}

impl SectionKind {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            SectionKind::VirtualHost => "VirtualHost",
            SectionKind::Component => "Component",
        }
    }
}

/// The largest file we model: offsets are stored as `u32`.
pub(crate) const MAX_LEN: usize = u32::MAX as usize;

/// One config file: its bytes and the records of its top-level statements
/// (see `records`); read through `view`, edited through `edit`.
#[derive(Debug, Clone)]
pub struct Document {
    text: Vec<u8>,
    stmts: Vec<StmtRec>,
    opts: Vec<OptRec>,
    heads: Vec<HeadRec>,
    head_extras: Vec<HeadExtra>,
    includes: Vec<ValRec>,
    comments: Vec<Sp>,
    nested_calls: Vec<Sp>,
    /// The decoded names of bracketed keys (`["component_secret"] = …`), by
    /// option index, in order: rare, so kept aside.
    key_names: Vec<(u32, Box<str>)>,
    /// What the parse found beyond the model (see [`syntax::Extras`]).
    opaque: Vec<(Sp, OpaqueKind)>,
    shadowed: Vec<(Sp, Sp)>,
    top_locals: Vec<Sp>,
    /// Where each line starts, as Lua counts lines.
    line_starts: Vec<u32>,
    /// The section of each statement (see [`Document::owner`]): the index of
    /// its header statement, or `GLOBAL`.
    owners: Vec<u32>,
}

#[cfg(test)]
mod tests;
