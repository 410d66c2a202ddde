//! Parse diagnostics: errors located by line and column, with an excerpt, rendered like rustc's.

use std::borrow::Cow;
use std::fmt::Write as _;

use mmdb_model::Event;
use serde::{Deserialize, Serialize};

/// A value together with the 1-based line of the text it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located<T> {
    /// The parsed value.
    pub value: T,
    /// The 1-based line number it was parsed from.
    pub line: u32,
}

/// What a parse produced: every event it could read and every error it met, both in line order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The events of the lines that parsed.
    pub events: Vec<Located<Event>>,
    /// One error per line that did not parse.
    pub errors: Vec<ParseError>,
}

impl Parsed {
    /// Tells whether every line parsed.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// One line that did not parse: where, what the parser expected there and what it found instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{line}:{column}: {msg}", msg = self.message())]
pub struct ParseError {
    /// The 1-based line number.
    pub line: u32,
    /// The 1-based column, counted in chars, of the offending token.
    pub column: u32,
    /// The whole line (invalid UTF-8 replaced by U+FFFD).
    pub excerpt: String,
    /// What the parser expected, in words (code in backticks).
    pub expected: String,
    /// The offending token; `None` means the line ended where something else was expected.
    pub found: Option<String>,
}

impl ParseError {
    /// Returns the one-line message: "expected X, found `Y`" or "expected X, found end of line".
    pub fn message(&self) -> String {
        match &self.found {
            Some(found) => format!("expected {}, found `{found}`", self.expected),
            None => format!("expected {}, found end of line", self.expected),
        }
    }

    /// Renders the error like rustc: message, `--> path:line:column`, the line and a caret run under the token.
    ///
    /// The result has no trailing newline.
    pub fn render(&self, path: &str) -> String {
        let carets = self.found.as_deref().map_or(1, |f| f.chars().count().max(1));
        render_snippet(&self.message(), path, self.line, self.column, &self.excerpt, carets)
    }
}

/// How many chars of a line an error shows at most; a longer line is cut around the error, marked `...`.
pub const MAX_SHOWN_CHARS: usize = 200;

/// Renders an error at `line:column` of `path` like rustc: `error: message`, `--> path:line:column`, the line and
/// `carets` carets under the column (1-based). Every located error of mmdb (traces, markers, scripts) uses it.
///
/// The output is safe for a terminal: control characters of the excerpt and the message (but tabs, and line
/// breaks in the message) are shown escaped (`\x00`, `\x1b`), and a line longer than [`MAX_SHOWN_CHARS`] is cut
/// to a window around the column, with `...` where text was left out.
///
/// The result has no trailing newline.
pub fn render_snippet(message: &str, path: &str, line: u32, column: u32, excerpt: &str, carets: usize) -> String {
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let mut out = String::new();
    let _ = writeln!(out, "error: {}", escape_controls(message, true));
    let _ = writeln!(out, "{pad}--> {path}:{line}:{column}");
    let _ = writeln!(out, "{pad} |");
    let chars: Vec<char> = excerpt.chars().collect();
    let col = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    let (start, end) = if chars.len() <= MAX_SHOWN_CHARS {
        (0, chars.len())
    } else {
        let start = col.min(chars.len()).saturating_sub(MAX_SHOWN_CHARS / 3);
        let end = (start + MAX_SHOWN_CHARS).min(chars.len());
        (end.saturating_sub(MAX_SHOWN_CHARS), end)
    };
    let _ = write!(out, "{number} | ");
    if start > 0 {
        out.push_str("...");
    }
    for &c in &chars[start..end] {
        push_shown(&mut out, c);
    }
    if end < chars.len() {
        out.push_str("...");
    }
    out.push('\n');
    let _ = write!(out, "{pad} | ");
    if start > 0 {
        out.push_str("   ");
    }
    // Mirror tabs so that the carets line up with the excerpt in a terminal; escaped chars are wider.
    for &c in &chars[start.min(col)..col.min(end)] {
        if c == '\t' {
            out.push('\t');
        } else {
            out.extend(std::iter::repeat_n(' ', shown_width(c)));
        }
    }
    // A column past the end of the line gets its carets right after the text.
    out.extend(std::iter::repeat_n(' ', col.saturating_sub(chars.len())));
    let wanted = carets.max(1);
    let covered = &chars[col.min(end)..col.saturating_add(wanted).min(end)];
    let mut width: usize = covered.iter().map(|&c| shown_width(c)).sum();
    if end == chars.len() {
        // Carets beyond the end of the line stay, one per char of the token that is not there.
        width += wanted - covered.len();
    }
    out.extend(std::iter::repeat_n('^', width.max(1)));
    out
}

/// Whether `c` is shown escaped: a control character other than the tab.
fn is_shown_escaped(c: char) -> bool {
    c != '\t' && c.is_control()
}

/// How many columns [`push_shown`] uses for `c`.
fn shown_width(c: char) -> usize {
    if is_shown_escaped(c) {
        if u32::from(c) < 0x100 {
            4
        } else {
            c.escape_unicode().count()
        }
    } else {
        1
    }
}

/// Appends `c` as an error shows it: control characters escaped like `\x1b`.
fn push_shown(out: &mut String, c: char) {
    if is_shown_escaped(c) {
        if u32::from(c) < 0x100 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.extend(c.escape_unicode());
        }
    } else {
        out.push(c);
    }
}

/// `text` with its control characters escaped (tabs kept; line breaks kept when `keep_newlines`).
pub fn escape_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_shown_escaped(c) && !(keep_newlines && c == '\n')) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if keep_newlines && c == '\n' {
            out.push(c);
        } else {
            push_shown(&mut out, c);
        }
    }
    Cow::Owned(out)
}

/// An error inside one line, located by byte offsets; [`LineError::to_parse_error`] adds line number and excerpt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// Byte offset of the offending token in the line; the line's length means "at the end of the line".
    pub offset: usize,
    /// Byte length of the offending token; 0 only at the end of the line.
    pub len: usize,
    /// What was expected there, in words.
    pub expected: Cow<'static, str>,
}

impl LineError {
    /// Creates an error for the `len` bytes at `offset`.
    pub fn new(offset: usize, len: usize, expected: impl Into<Cow<'static, str>>) -> Self {
        LineError { offset, len, expected: expected.into() }
    }

    /// Creates an error for the whitespace-delimited token of `line` that starts at `offset`.
    pub fn at_token(line: &str, offset: usize, expected: impl Into<Cow<'static, str>>) -> Self {
        LineError::new(offset, token_len(line, offset), expected)
    }

    /// Turns this error into a [`ParseError`] for line `line_no` whose text is `line`.
    pub fn to_parse_error(&self, line_no: u32, line: &str) -> ParseError {
        let start = floor_boundary(line, self.offset);
        let found = if start >= line.len() {
            None
        } else {
            let len = if self.len == 0 { token_len(line, start) } else { self.len };
            let end = ceil_boundary(line, start.saturating_add(len).max(start + 1));
            Some(shorten(&line[start..end]))
        };
        let column = line[..start].chars().count().saturating_add(1);
        ParseError {
            line: line_no,
            column: u32::try_from(column).unwrap_or(u32::MAX),
            excerpt: line.to_string(),
            expected: self.expected.clone().into_owned(),
            found,
        }
    }
}

/// How many chars of an offending token an error keeps; a longer one is cut and ends in `...`.
pub const MAX_FOUND_CHARS: usize = 80;

/// `token`, cut to [`MAX_FOUND_CHARS`] chars (then `...`).
fn shorten(token: &str) -> String {
    match token.char_indices().nth(MAX_FOUND_CHARS) {
        Some((cut, _)) => format!("{}...", &token[..cut]),
        None => token.to_string(),
    }
}

/// The longest line a trace may have. No kernel trace line comes near it (ftrace prints each event into one or two
/// pages, a `trace_marker` write holds at most 4 KiB), so a longer line is damage or another kind of file.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What the error of a line that has a NUL byte expects.
pub const EXPECTED_TEXT: &str = "text (a trace has no NUL bytes)";

/// What the error of a line longer than [`MAX_LINE_BYTES`] expects.
pub const EXPECTED_LINE_END: &str = "the end of the line (no trace line is longer than 64 KiB)";

/// What the error of a line that is not UTF-8 expects.
pub const EXPECTED_UTF8: &str = "valid UTF-8";

/// The error for a line (without its line break) that no parser should look at, if it is one: a line longer than
/// [`MAX_LINE_BYTES`] (the error points at where it becomes too long), or a line with a NUL byte (the first one).
pub fn line_problem(line_no: u32, bytes: &[u8]) -> Option<ParseError> {
    if bytes.len() > MAX_LINE_BYTES {
        let shown = floor_boundary_bytes(bytes, MAX_LINE_BYTES + 64);
        let excerpt = String::from_utf8_lossy(&bytes[..shown]).into_owned();
        let before = String::from_utf8_lossy(&bytes[..floor_boundary_bytes(bytes, MAX_LINE_BYTES)]).chars().count();
        return Some(ParseError {
            line: line_no,
            column: u32::try_from(before + 1).unwrap_or(u32::MAX),
            excerpt,
            expected: EXPECTED_LINE_END.to_string(),
            found: Some(format!("{} more bytes", bytes.len() - MAX_LINE_BYTES)),
        });
    }
    let nul = memchr::memchr(0, bytes)?;
    let excerpt = String::from_utf8_lossy(bytes).into_owned();
    let before = String::from_utf8_lossy(&bytes[..nul]).chars().count();
    Some(ParseError {
        line: line_no,
        column: u32::try_from(before + 1).unwrap_or(u32::MAX),
        excerpt,
        expected: EXPECTED_TEXT.to_string(),
        found: Some("\0".to_string()),
    })
}

/// The largest index at or below `i` that does not split a UTF-8 sequence of `bytes` (as far as it is UTF-8).
fn floor_boundary_bytes(bytes: &[u8], i: usize) -> usize {
    let mut i = i.min(bytes.len());
    // At most three continuation bytes precede a char boundary.
    for _ in 0..3 {
        if i == 0 || i == bytes.len() || bytes[i] & 0xc0 != 0x80 {
            break;
        }
        i -= 1;
    }
    i
}

/// The kind of a parse error, for summaries: `invalid UTF-8`, `NUL byte`, `line too long`, `marker` (a
/// ground-truth marker that does not parse or breaks the grammar's rules) or `syntax` (anything else).
pub fn error_kind(e: &ParseError) -> &'static str {
    if e.expected == EXPECTED_UTF8 {
        "invalid UTF-8"
    } else if e.expected == EXPECTED_TEXT {
        "NUL byte"
    } else if e.expected == EXPECTED_LINE_END {
        "line too long"
    } else if e.excerpt.trim_start().starts_with("mmdb-") || e.excerpt.contains("tracing_mark_write: mmdb-") {
        "marker"
    } else {
        "syntax"
    }
}

/// How many parse errors a file had, by kind ([`error_kind`]): the summary of every error, kept when the errors
/// themselves are not (a replay keeps the first [`MAX_KEPT_ERRORS`] in full).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErrorTally {
    pub total: u64,
    /// (kind, count), the most frequent first, ties by name.
    pub by_kind: Vec<(&'static str, u64)>,
}

/// How many parse errors a replay keeps in full; the rest are only counted ([`ErrorTally`]). Each holds its line,
/// up to [`MAX_LINE_BYTES`], so this bounds their memory whatever the input.
pub const MAX_KEPT_ERRORS: usize = 1000;

impl ErrorTally {
    /// The tally of `errors`.
    pub fn of<'a>(errors: impl IntoIterator<Item = &'a ParseError>) -> ErrorTally {
        let mut t = ErrorTally::default();
        for e in errors {
            t.add(e);
        }
        t
    }

    /// Counts one more error.
    pub fn add(&mut self, e: &ParseError) {
        let kind = error_kind(e);
        self.total += 1;
        match self.by_kind.iter().position(|(k, _)| *k == kind) {
            Some(i) => self.by_kind[i].1 += 1,
            None => self.by_kind.push((kind, 1)),
        }
        self.by_kind.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    }

    /// `3 errors in PLACE`, with `: 2 syntax, 1 marker` when there are several kinds.
    pub fn summary(&self, place: &str) -> String {
        let n = self.total;
        let mut s = format!("{n} error{} in {place}", if n == 1 { "" } else { "s" });
        if self.by_kind.len() > 1 {
            let list: Vec<String> = self.by_kind.iter().map(|(k, c)| format!("{c} {k}")).collect();
            s.push_str(": ");
            s.push_str(&list.join(", "));
        }
        s
    }
}

/// Byte length of the whitespace-delimited token at `offset`: at least one char unless at the end of the line.
pub(crate) fn token_len(line: &str, offset: usize) -> usize {
    let rest = line.get(offset..).unwrap_or("");
    match rest.find([' ', '\t']) {
        Some(0) => 1,
        Some(n) => n,
        None => rest.len(),
    }
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary of `s` at or above `i`.
fn ceil_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_is_the_token_or_end_of_line() {
        let line = "ab cd";
        let e = LineError::at_token(line, 3, "x").to_parse_error(7, line);
        assert_eq!((e.line, e.column, e.found.as_deref()), (7, 4, Some("cd")));
        let e = LineError::new(line.len(), 0, "x").to_parse_error(7, line);
        assert_eq!((e.column, e.found.as_deref()), (6, None));
        assert_eq!(e.message(), "expected x, found end of line");
    }

    #[test]
    fn columns_count_chars_and_offsets_inside_chars_are_clamped() {
        let line = "é é";
        let e = LineError::new(4, 2, "x").to_parse_error(1, line);
        assert_eq!((e.column, e.found.as_deref()), (3, Some("é")));
        let e = LineError::new(1, 1, "x").to_parse_error(1, line);
        assert_eq!((e.column, e.found.as_deref()), (1, Some("é")));
    }

    #[test]
    fn render_mirrors_tabs_and_pads_the_gutter() {
        let line = "\tab x";
        let e = LineError::at_token(line, 4, "y").to_parse_error(100, line);
        assert_eq!(e.render("f"), "error: expected y, found `x`\n   --> f:100:5\n    |\n100 | \tab x\n    | \t   ^");
    }
}
