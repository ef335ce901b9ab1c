//! Findings about an edited text, pointed back at the file on disk.
//!
//! An edit is checked as it would be written, so its findings carry the
//! edited text's lines. When the edit is not written (a dry run, a refused
//! edit) the file on disk still has the old lines, and an operator who
//! opens it at `FILE:LINE` must find the finding there: below a splice a
//! line moves by what the splices above it added or removed; inside the
//! text an edit adds there is no old line, and the finding says so.
//!
//! Only the old text's line starts and the splices are kept (4 bytes a
//! line, not a second copy of the config).

use std::path::Path;

use super::Diagnostic;
use crate::document::lines;
use crate::document::Span;

/// How one file's text was edited: its old line starts, and the splices
/// (old range, length of what replaced it), by old start.
#[derive(Debug, Clone)]
pub(crate) struct Splices {
    old_starts: Vec<u32>,
    edits: Vec<(Span, usize)>,
}

/// Where an offset of the edited text was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// At this offset of the old text.
    Old(usize),
    /// In text the edit adds (or writes in place of old text) at this old offset.
    Added(usize),
}

impl Splices {
    /// `edits` (non-overlapping) of `old`.
    pub(crate) fn new(old: &[u8], edits: impl IntoIterator<Item = (Span, usize)>) -> Splices {
        let mut edits: Vec<(Span, usize)> = edits.into_iter().collect();
        edits.sort_by_key(|(r, _)| r.start);
        Splices {
            old_starts: lines::line_starts(old),
            edits,
        }
    }

    fn origin(&self, new_offset: usize) -> Origin {
        let mut shift: isize = 0;
        for (r, len) in &self.edits {
            let new_start = (r.start as isize + shift) as usize;
            if new_offset < new_start {
                break;
            }
            if new_offset < new_start + len {
                return Origin::Added(r.start);
            }
            shift += *len as isize - r.len() as isize;
        }
        Origin::Old((new_offset as isize - shift) as usize)
    }

    /// The old line of an old offset (Lua's count, as everywhere).
    fn old_line(&self, old_offset: usize) -> usize {
        self.old_starts
            .partition_point(|&s| s as usize <= old_offset)
    }

    /// Points `ds`, findings about the edited config, at the old text of
    /// `path` (whose edited text is `new_text`): each finding about `path`
    /// at its line (and column, where the line is untouched before it)
    /// there, or, inside added text, at the line where that text goes, with
    /// the message saying so; and each line of `path` a message names.
    pub(crate) fn relocate(&self, path: &Path, ds: &mut [Diagnostic], new_text: &[u8]) {
        let new_starts = lines::line_starts(new_text);
        for d in ds {
            for i in 0..d.refs.len() {
                let r = &d.refs[i];
                if r.file != path {
                    continue;
                }
                let Some(&ls) = new_starts.get(r.line.wrapping_sub(1)) else {
                    continue;
                };
                if let Origin::Old(old) = self.origin(ls as usize) {
                    let (prefix, from, to) = (r.prefix.clone(), r.line, self.old_line(old));
                    replace_line(&mut d.message, &prefix, from, to);
                    if let Some(h) = &mut d.help {
                        replace_line(h, &prefix, from, to);
                    }
                    d.refs[i].line = to;
                }
            }
            if d.file == path {
                self.relocate_one(d, new_text, &new_starts);
            }
        }
    }

    fn relocate_one(&self, d: &mut Diagnostic, new_text: &[u8], new_starts: &[u32]) {
        if d.line == 0 {
            return;
        }
        let Some(&ls) = new_starts.get(d.line - 1) else {
            return;
        };
        let ls = ls as usize;
        // The column counts characters: walk that many from the line start.
        let mut off = ls;
        let mut chars = 1;
        while off < new_text.len() && chars < d.column {
            off += 1;
            while off < new_text.len() && new_text[off] & 0xC0 == 0x80 {
                off += 1;
            }
            chars += 1;
        }
        match self.origin(off) {
            Origin::Old(old) => {
                let line = self.old_line(old);
                let old_ls = self.old_starts[line - 1] as usize;
                // The same bytes precede it on its line unless a splice
                // touches the line before it: then the column is the best
                // we know, the edited one.
                let touched = self
                    .edits
                    .iter()
                    .any(|(r, _)| r.start < old && r.end > old_ls);
                if !touched {
                    let before = &new_text[off - (old - old_ls)..off];
                    d.column = 1 + before.iter().filter(|&&c| c & 0xC0 != 0x80).count();
                }
                d.line = line;
            }
            Origin::Added(at) => {
                d.line = self.old_line(at);
                d.column = 1;
                d.message
                    .push_str(" (in the text this edit adds here; not in the file yet)");
            }
        }
    }
}

/// `{prefix}{from}` (not followed by a digit) in `s` made `{prefix}{to}`.
pub(super) fn replace_line(s: &mut String, prefix: &str, from: usize, to: usize) {
    let needle = format!("{prefix}{from}");
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find(&needle) {
        let after = &rest[i + needle.len()..];
        out.push_str(&rest[..i]);
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(&needle);
        } else {
            out.push_str(prefix);
            out.push_str(&to.to_string());
        }
        rest = after;
    }
    out.push_str(rest);
    *s = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{Code, Subject};

    fn at(line: usize, column: usize) -> Diagnostic {
        Diagnostic::new(
            Code::WeakSecret,
            Subject::File("p".into()),
            ("p".into(), line, column),
            "m".into(),
        )
    }

    /// Lines below a splice move back by what it added; inside added text
    /// the finding is at the line where it goes, and says so; a line the
    /// edit removed text from above keeps its column.
    #[test]
    fn lines_map_back_to_the_old_text() {
        let old = b"a = 1\nb = 2\nc = 3\nd = 4\n";
        // Insert two lines before `b`, delete `c = 3\n`.
        let ins = b"x = 1\ny = 2\n";
        let mut new = Vec::new();
        new.extend_from_slice(&old[..6]);
        new.extend_from_slice(ins);
        new.extend_from_slice(&old[6..12]);
        new.extend_from_slice(&old[18..]);
        assert_eq!(new, b"a = 1\nx = 1\ny = 2\nb = 2\nd = 4\n");
        let s = Splices::new(old, [(6..6, ins.len()), (12..18, 0)]);
        for (new_line, col, old_line, old_col, added) in [
            (1, 3, 1, 3, false),
            (2, 1, 2, 1, true),
            (3, 5, 2, 1, true),
            (4, 5, 2, 5, false),
            (5, 3, 4, 3, false),
        ] {
            let d = at(new_line, col);
            let mut ds = [d];
            s.relocate(Path::new("p"), &mut ds, &new);
            let [d] = ds;
            assert_eq!((d.line, d.column), (old_line, old_col), "{new_line}");
            assert_eq!(d.message.contains("adds here"), added, "{new_line}");
        }
    }
}
