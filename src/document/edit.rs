//! Edits as splices of the original bytes: everything not edited stays as
//! it was (comments, spacing, tabs, CRLF, a missing final newline).
//!
//! An edit is a `(byte range, replacement)` pair; the `*_edit` functions
//! compute one, [`Document::splice`] applies several. Adding a component,
//! setting or replacing its secret and removing a section are here, with
//! the layout rules they share: which comment lines belong to a statement,
//! which blank line separates it, and which line break to write.

use super::lexer::{self, Span};
use super::lines::{breaks, is_line_break};
use super::records::Rec;
use super::view::Value;
use super::{Document, Owner};

/// Why an edit cannot be made by splicing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

/// Splices.
impl Document {
    /// Applies non-overlapping edits (byte range → replacement) to the text.
    pub fn splice(&self, mut edits: Vec<(Span, Vec<u8>)>) -> Vec<u8> {
        edits.sort_by_key(|(r, _)| r.start);
        let mut out =
            Vec::with_capacity(self.text.len() + edits.iter().map(|e| e.1.len()).sum::<usize>());
        let mut at = 0;
        for (range, with) in edits {
            debug_assert!(range.start >= at, "overlapping edits");
            out.extend_from_slice(&self.text[at..range.start]);
            out.extend_from_slice(&with);
            at = range.end;
        }
        out.extend_from_slice(&self.text[at..]);
        out
    }

    /// The text with a new external component appended (see
    /// `Document::append_component_edit`).
    pub fn append_component(&self, name: &str, secret: &[u8]) -> Vec<u8> {
        self.splice(vec![self.append_component_edit(name, secret)])
    }

    /// The edit appending a new external component after everything else
    /// (so it cannot capture options meant for another section), in the
    /// file's own line ending, keeping a missing final newline missing.
    pub(crate) fn append_component_edit(&self, name: &str, secret: &[u8]) -> (Span, Vec<u8>) {
        // Continue with the file's last line break: another kind could merge
        // with it into one ("\r" then "\n", or "\n" then "\r": Lua counts each
        // pair once), and the blank separator line would vanish.
        let eol = self.trailing_break().unwrap_or_else(|| self.eol());
        let mut add = String::new();
        let ends_with_eol = self.ends_with_line_break();
        if !self.text.is_empty() {
            if !ends_with_eol {
                add.push_str(eol);
            }
            add.push_str(eol);
        }
        add.push_str(&format!(
            "Component {}{eol}\tcomponent_secret = {}",
            lexer::encode_string(name.as_bytes()),
            lexer::encode_string(secret)
        ));
        if self.text.is_empty() || ends_with_eol {
            add.push_str(eol);
        }
        let end = self.text.len();
        (end..end, add.into_bytes())
    }

    /// The edit that sets `component_secret` in the section of `header`
    /// which has none: a new line right after the `Component` line (not at
    /// the section's textual end, which may lie past an `Include`), or a new
    /// field at the start of its table form.
    pub(crate) fn insert_secret_edit(&self, header: usize, secret: &[u8]) -> (Span, Vec<u8>) {
        let lit = lexer::encode_string(secret);
        if let Some((span, _)) = self.section(header).and_then(|h| h.table) {
            let at = span.start + 1;
            return (at..at, format!(" component_secret = {lit};").into_bytes());
        }
        let at = self.line_content_end(self.stmt_span(header).end);
        (
            at..at,
            format!("{}\tcomponent_secret = {lit}", self.eol()).into_bytes(),
        )
    }

    /// The edit replacing a string-literal value with a new literal.
    pub(crate) fn replace_value_edit(value: &Value, new: &[u8]) -> (Span, Vec<u8>) {
        (value.span.clone(), lexer::encode_string(new).into_bytes())
    }
}

/// Removals, and where text goes above a statement.
impl Document {
    /// The byte range that removing the section opened by statement `header`
    /// deletes: the statement, the options that follow it in its section, the
    /// comment lines attached directly above, and one blank line before it.
    /// It fails rather than change what any other statement means.
    pub fn section_removal(&self, header: usize) -> Result<Span, EditError> {
        let mut last = header;
        let mut stopped_at: Option<usize> = None;
        for i in header + 1..self.stmts.len() {
            if self.owner(i) != Owner::Section(header) {
                break;
            }
            match (self.stmts[i].rec, stopped_at) {
                (Rec::Options(_), None) => last = i,
                (Rec::Options(_), Some(other)) => {
                    let (l, _) = self.line_col(self.stmt_span(other).start);
                    return Err(EditError {
                        offset: self.stmt_span(i).start,
                        message: format!(
                            "this option belongs to the section but follows another statement at line {l}; \
                             removing the section would move it into another section: edit the file by hand"
                        ),
                    });
                }
                (_, None) => stopped_at = Some(i),
                (_, Some(_)) => {}
            }
        }
        Ok(self.removal_range(header, last))
    }

    /// The range deleting statement `stmt` alone takes: its whole lines, with
    /// the comment lines attached above and one blank line before.
    pub(crate) fn statement_removal(&self, stmt: usize) -> Span {
        self.removal_range(stmt, stmt)
    }

    /// The range deleting statement `stmt` alone that keeps every comment
    /// (the comment lines above it belong to whatever they describe): its
    /// whole line when nothing else is on it; otherwise the statement and
    /// the blanks after it, so that a comment after it stays on its line.
    pub(crate) fn statement_removal_keeping_comments(&self, stmt: usize) -> Span {
        let span = self.stmt_span(stmt);
        let ls = self.line_start(span.start);
        let le = self.line_content_end(span.end);
        let starts_line = ls >= self.prev_stmt_end(stmt) && self.is_blank(ls..span.start);
        if starts_line && self.is_blank(span.end..le) {
            return ls..self.line_end_with_break(le);
        }
        let mut to = span.end;
        while to < le && matches!(self.text[to], b' ' | b'\t') {
            to += 1;
        }
        span.start..to
    }

    /// Where text inserted "just above" statement `stmt` goes: above the
    /// comment lines attached to it, at the start of its line.
    pub(crate) fn attached_start(&self, stmt: usize) -> usize {
        let start = self.stmt_span(stmt).start;
        let ls = self.line_start(start);
        let prev_end = self.prev_stmt_end(stmt);
        if ls < prev_end || !self.is_blank(ls..start) {
            return start;
        }
        self.attached_comments_start(ls, prev_end)
    }

    /// The start of the line after the one where statement `stmt` ends
    /// (past a long comment that starts on it), or the end of the text.
    pub(crate) fn line_after(&self, stmt: usize) -> usize {
        self.line_end_with_break(self.line_content_end(self.stmt_span(stmt).end))
    }

    /// The bytes deleting statements `first..=last` takes: whole lines with
    /// the comment lines attached above and one blank line before, or just
    /// the statements when they share a line with other code.
    fn removal_range(&self, first: usize, last: usize) -> Span {
        let prev_end = self.prev_stmt_end(first);
        let start = self.stmt_span(first).start;
        let end = self.stmt_span(last).end;

        let ls = self.line_start(start);
        let le = self.line_content_end(end);
        let starts_line = ls >= prev_end && self.is_blank(ls..start);
        let ends_line = self.is_blank_or_comment(end..le);
        if !(starts_line && ends_line) {
            // Shares a line with other code: remove exactly the statements.
            return start..end;
        }
        let mut from = self.attached_comments_start(ls, prev_end);
        // One blank line before (the separator `append_component` writes).
        if from > 0 && from > prev_end {
            let above = self.line_start(from - 1);
            if above >= prev_end
                && self.is_blank(above..from)
                && !self.comment_overlaps(above..from)
            {
                from = above;
            }
        }
        let mut to = self.line_end_with_break(le);
        if to == self.text.len() && !self.ends_with_line_break() && from > 0 {
            // The section ended the file without a final newline: take the
            // line break before it instead, so the file still ends without one.
            from = self.break_before(from).start;
            to = self.text.len();
        }
        from..to
    }

    /// Where the statement before `stmt` ends (0 for the first).
    fn prev_stmt_end(&self, stmt: usize) -> usize {
        match stmt {
            0 => 0,
            _ => self.stmt_span(stmt - 1).end,
        }
    }

    /// The start of the comment lines directly above the line starting at
    /// `ls` (each starting its own line, none before `prev_end`).
    fn attached_comments_start(&self, ls: usize, prev_end: usize) -> usize {
        let mut from = ls;
        let above: Vec<Span> = self
            .comments
            .iter()
            .map(|c| c.r())
            .filter(|c| c.end <= ls && c.start >= prev_end)
            .collect();
        for c in above.into_iter().rev() {
            let gap = c.end..from;
            let cls = self.line_start(c.start);
            if !(self.is_blank(gap.clone())
                && breaks(&self.text[gap]).count() == 1
                && cls >= prev_end
                && self.is_blank(cls..c.start))
            {
                break;
            }
            from = cls;
        }
        from
    }

    /// The end of the line holding `offset`, before its line break. A long
    /// comment that starts on this line and spans lines extends it.
    fn line_content_end(&self, offset: usize) -> usize {
        let mut at = offset;
        loop {
            let end = at
                + self.text[at..]
                    .iter()
                    .position(|&c| is_line_break(c))
                    .unwrap_or(self.text.len() - at);
            match self
                .comments
                .iter()
                .map(|c| c.r())
                .find(|c| c.start < end && c.end > end && c.start >= at)
            {
                Some(c) => at = c.end,
                None => return end,
            }
        }
    }

    fn comment_overlaps(&self, r: Span) -> bool {
        self.comments
            .iter()
            .map(|c| c.r())
            .any(|c| c.start < r.end && r.start < c.end)
    }

    fn is_blank(&self, r: Span) -> bool {
        self.text[r].iter().all(|&c| lexer::is_space(c))
    }

    /// Whitespace, or whitespace around one comment that ends in the range.
    fn is_blank_or_comment(&self, r: Span) -> bool {
        let mut at = r.start;
        for c in self
            .comments
            .iter()
            .map(|c| c.r())
            .filter(|c| c.start >= r.start && c.start < r.end)
        {
            if !self.is_blank(at..c.start) || c.end > r.end {
                return false;
            }
            at = c.end;
        }
        self.is_blank(at..r.end)
    }
}
