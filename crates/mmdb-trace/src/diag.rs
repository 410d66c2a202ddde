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

/// Renders an error at `line:column` of `path` like rustc: `error: message`, `--> path:line:column`, the line and
/// `carets` carets under the column (1-based). Every located error of mmdb (traces, markers, scripts) uses it.
///
/// The result has no trailing newline.
pub fn render_snippet(message: &str, path: &str, line: u32, column: u32, excerpt: &str, carets: usize) -> String {
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let mut out = String::new();
    let _ = writeln!(out, "error: {message}");
    let _ = writeln!(out, "{pad}--> {path}:{line}:{column}");
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{number} | {excerpt}");
    let _ = write!(out, "{pad} | ");
    // Mirror tabs so that the carets line up with the excerpt in a terminal.
    let before = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    let mut shown = 0;
    for c in excerpt.chars().take(before) {
        out.push(if c == '\t' { '\t' } else { ' ' });
        shown += 1;
    }
    out.extend(std::iter::repeat_n(' ', before.saturating_sub(shown)));
    out.extend(std::iter::repeat_n('^', carets.max(1)));
    out
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
            Some(line[start..end].to_string())
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
