//! Line arithmetic as Lua counts lines.
//!
//! `llex.c`'s `inclinenumber` is the one rule: a line break is `\n` or `\r`,
//! and `\r\n` or `\n\r` (two *different* break bytes, paired from the left)
//! is one break. So `"\n\r\n"` is two breaks (`\n\r`, then `\n`), and
//! `"\n\n"` is two as well. Everything in the document that counts lines,
//! skips a line break or keeps one (the lexer, string decoding, positions
//! in messages, edits) goes through [`line_break_len`] or [`breaks`], so
//! a line number we print is the one prosody's Lua prints.

use super::{Document, Span};

/// Whether `c` starts (or ends) a line break.
#[inline]
pub(crate) fn is_line_break(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

/// The length of the line break at `bytes[i]`: 0 when there is none, 1 for
/// a lone `\n` or `\r`, 2 for `\r\n` or `\n\r`.
#[inline]
pub(crate) fn line_break_len(bytes: &[u8], i: usize) -> usize {
    match bytes.get(i) {
        Some(&c) if is_line_break(c) => match bytes.get(i + 1) {
            Some(&d) if is_line_break(d) && d != c => 2,
            _ => 1,
        },
        _ => 0,
    }
}

/// The offset of the first `\n` or `\r` in `bytes`. Every config we read
/// is scanned for line breaks (and most of a stock config is comments, which
/// end at one), so this looks at eight bytes at a time.
#[inline]
pub(crate) fn find_break(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A word has a zero byte iff this is non-zero (the classic bit trick).
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    let lf = u64::from_ne_bytes([b'\n'; 8]);
    let cr = u64::from_ne_bytes([b'\r'; 8]);
    let mut at = 0;
    for word in bytes.chunks_exact(8) {
        let w = u64::from_ne_bytes(word.try_into().expect("eight bytes"));
        if has_zero(w ^ lf) | has_zero(w ^ cr) != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&c| is_line_break(c))
        .map(|i| at + i)
}

/// The line breaks of `bytes`, in order, as byte ranges.
pub(crate) fn breaks(bytes: &[u8]) -> impl Iterator<Item = Span> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + find_break(&bytes[at..])?;
        at = start + line_break_len(bytes, start);
        Some(start..at)
    })
}

/// Where each line starts: 0, then the end of every line break.
pub(crate) fn line_starts(bytes: &[u8]) -> Vec<u32> {
    std::iter::once(0)
        .chain(breaks(bytes).map(|b| b.end as u32))
        .collect()
}

/// Lua's 1-based line number of a byte offset: one more than the line
/// breaks that start before it (what `luaX_syntaxerror` prints).
pub(crate) fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + breaks(bytes).take_while(|b| b.start < offset).count()
}

/// 1-based line and column (in characters) of `offset`, given the text's
/// [`line_starts`].
pub(crate) fn position(text: &[u8], starts: &[u32], offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line = starts.partition_point(|&s| s as usize <= offset);
    let ls = starts[line - 1] as usize;
    let column = text[ls..offset]
        .iter()
        .filter(|&&c| (c & 0xC0) != 0x80)
        .count()
        + 1;
    (line, column)
}

/// Where the lines of a document start and end.
impl Document {
    /// 1-based line (Lua's count) and column (in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        position(&self.text, &self.line_starts, offset)
    }

    /// The line ending this file uses (`\r\n` if its first line break is one).
    pub(crate) fn eol(&self) -> &'static str {
        match self.text.iter().position(|&c| is_line_break(c)) {
            Some(i) if self.text[i] == b'\r' && self.text.get(i + 1) == Some(&b'\n') => "\r\n",
            Some(i) if self.text[i] == b'\r' => "\r",
            _ => "\n",
        }
    }

    /// Whether the text ends with a line break (appended text then starts
    /// a line of its own).
    pub(crate) fn ends_with_line_break(&self) -> bool {
        self.text.last().is_some_and(|&c| is_line_break(c))
    }

    /// The line break the text ends with, if it ends with one, as Lua reads
    /// it (Lua pairs "\r\n" and "\n\r" from the left, so "\n\r\n" ends in a
    /// lone "\n").
    pub(super) fn trailing_break(&self) -> Option<&'static str> {
        let n = self.line_starts.len();
        if n < 2 || self.line_starts[n - 1] as usize != self.text.len() {
            return None;
        }
        Some(match &self.text[self.break_before(self.text.len())] {
            b"\r\n" => "\r\n",
            b"\n\r" => "\n\r",
            b"\r" => "\r",
            _ => "\n",
        })
    }

    /// The start of the line holding `offset`.
    pub(super) fn line_start(&self, offset: usize) -> usize {
        let i = self.line_starts.partition_point(|&s| s as usize <= offset);
        self.line_starts[i - 1] as usize
    }

    /// The end of the line whose content ends at `content_end`, after its
    /// line break (if any).
    pub(super) fn line_end_with_break(&self, content_end: usize) -> usize {
        content_end + line_break_len(&self.text, content_end)
    }

    /// The line break that ends just before the line starting at
    /// `line_start` (empty at the start of the file): found from the
    /// previous line's start, as Lua pairs breaks from the left.
    pub(super) fn break_before(&self, line_start: usize) -> Span {
        if line_start == 0 {
            return 0..0;
        }
        let prev = self.line_start(line_start - 1);
        let at = prev
            + self.text[prev..line_start]
                .iter()
                .position(|&c| is_line_break(c))
                .expect("a line start follows a line break");
        at..line_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_break_is_one_or_two_different_bytes() {
        let t = b"a\r\nb\n\rc\rd\ne\n\nf\r\rg\n\r\nh";
        let got: Vec<Span> = breaks(t).collect();
        assert_eq!(
            got,
            vec![
                1..3,
                4..6,
                7..8,
                9..10,
                11..12,
                12..13,
                14..15,
                15..16,
                17..19,
                19..20
            ]
        );
        assert_eq!(line_break_len(t, 0), 0);
        assert_eq!(line_break_len(t, 1), 2);
        assert_eq!(line_break_len(t, 2), 1, "a lone \\n when read from there");
        assert_eq!(line_break_len(t, t.len()), 0);
        assert_eq!(line_starts(b""), vec![0]);
        assert_eq!(line_starts(b"x\r\n"), vec![0, 3]);
    }

    #[test]
    fn find_break_matches_a_byte_scan() {
        let mut t = Vec::new();
        for i in 0..300u32 {
            // Breaks, their neighbours (\x0b, \x0c, \x8a, \x8d) and text.
            t.push(b"ab\n\x0bc\r\x0c\x8ad\x8d"[(i * 7 % 11) as usize % 10]);
            t.extend(std::iter::repeat(b'x').take((i % 13) as usize));
        }
        for from in 0..t.len() {
            let want = t[from..].iter().position(|&c| is_line_break(c));
            assert_eq!(find_break(&t[from..]), want, "from {from}");
        }
        assert_eq!(find_break(b""), None);
        assert_eq!(find_break(b"0123456789abcdef"), None);
        assert_eq!(find_break(b"01234567\r"), Some(8));
    }

    #[test]
    fn line_numbers_count_breaks_before_the_offset() {
        assert_eq!(line_of(b"a\r\nb\n\rc\rd", 9), 4);
        assert_eq!(line_of(b"a\n\nb", 3), 3);
        // A pair straddling the offset counts, as Lua had read it whole.
        assert_eq!(line_of(b"a\r\nb", 2), 2);
        let t = b"x\r\n\xC3\xA9y";
        assert_eq!(
            position(t, &line_starts(t), 5),
            (2, 2),
            "columns count characters"
        );
    }

    #[test]
    fn the_break_before_a_line_pairs_from_the_left() {
        let d = Document::parse(b"a()\n\r\nb()".to_vec()).unwrap();
        // Lines start at 0, 5 (after "\n\r") and 6 (after "\n").
        assert_eq!(d.break_before(6), 5..6);
        assert_eq!(d.break_before(5), 3..5);
        assert_eq!(d.break_before(0), 0..0);
        assert_eq!(d.trailing_break(), None);
        let d = Document::parse(b"a()\n\r\n".to_vec()).unwrap();
        assert_eq!(d.trailing_break(), Some("\n"));
        assert!(d.ends_with_line_break());
    }
}
