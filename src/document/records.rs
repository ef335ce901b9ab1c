//! The compact records a [`Document`](super::Document) keeps per statement.
//!
//! Why they are small: a config with hundreds of thousands of components
//! must cost about its own size again, not tens of times that (see
//! docs/BENCHMARKS.md). So a record holds byte offsets as `u32` and flags,
//! never strings or trees; names and literals are read from the text when a
//! borrowed view ([`super::view`]) asks for them, and the rare parts (a
//! plugin module, a table form, a bracketed key's decoded name) live in
//! side tables of their own. The `const` asserts below pin the sizes the
//! memory figures rest on.

use super::lexer::Span;
use super::SectionKind;

/// A byte range in 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sp {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Sp {
    pub(crate) fn of(r: &Span) -> Sp {
        Sp {
            start: r.start as u32,
            end: r.end as u32,
        }
    }
    pub(crate) fn r(self) -> Span {
        self.start as usize..self.end as usize
    }
}

/// A value expression: its span, and whether it is a string literal
/// (possibly in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ValRec {
    pub(crate) span: Sp,
    pub(crate) is_str: bool,
}

/// `name = value` in 20 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct OptRec {
    pub(crate) name: Sp,
    pub(crate) value: Sp,
    /// `false` in `a, b = 1` for `b`.
    pub(crate) has_value: bool,
    pub(crate) is_str: bool,
    /// The last option of its statement (so a statement needs only the
    /// index of its first).
    pub(crate) last: bool,
    /// A table field `["name"] = value`: `name` spans the key's string
    /// literal, and the decoded name is in `Document::key_names`.
    pub(crate) bracketed: bool,
}

impl OptRec {
    pub(crate) fn new(name: Sp, value: Option<ValRec>) -> Self {
        OptRec {
            name,
            value: value.map_or(Sp { start: 0, end: 0 }, |v| v.span),
            has_value: value.is_some(),
            is_str: value.is_some_and(|v| v.is_str),
            last: false,
            bracketed: false,
        }
    }
    pub(crate) fn value(&self) -> Option<ValRec> {
        self.has_value.then_some(ValRec {
            span: self.value,
            is_str: self.is_str,
        })
    }
}

/// A section header in 16 bytes: the rare parts (a plugin module, a table
/// form) live in `Document::head_extras`.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeadRec {
    pub(crate) name: Sp,
    pub(crate) kind: SectionKind,
    pub(crate) name_is_str: bool,
    /// An index into `Document::head_extras`, or `NONE`.
    pub(crate) extra: u32,
}

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct HeadExtra {
    pub(crate) module: Option<ValRec>,
    /// The table form's span and its `name = value` fields in `opts`.
    pub(crate) table: Option<Sp>,
    pub(crate) fields: Run,
    /// The first `[expr] = value` field of the table form whose key is
    /// computed: any option, `component_secret` too, may be set there.
    pub(crate) computed_key: Option<Sp>,
    /// The first argument after the name in its own call (`"muc"` in
    /// `Component("x", "muc")`): prosody's `Component(name)` takes one, so
    /// it (and any after it) is ignored.
    pub(crate) ignored_args: Option<Sp>,
}

/// `HeadRec::extra` of a header with no extras.
pub(super) const NONE: u32 = u32::MAX;

/// A run of records in `Document::opts`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Run {
    pub(crate) first: u32,
    pub(crate) len: u32,
}

/// What a statement is; each index is into one of `Document`'s tables.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rec {
    Other,
    /// The first of its options in `opts` (see `OptRec::last`).
    Options(u32),
    Section(u32),
    Include(u32),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct StmtRec {
    pub(crate) span: Sp,
    pub(crate) rec: Rec,
}

/// `Owner::Global` in `Document::owners`.
pub(super) const GLOBAL: u32 = u32::MAX;

// The sizes the memory figures in docs/BENCHMARKS.md rest on.
const _: () = assert!(std::mem::size_of::<StmtRec>() == 16);
const _: () = assert!(std::mem::size_of::<OptRec>() == 20);
const _: () = assert!(std::mem::size_of::<HeadRec>() == 16);
