//! Parsing mm event text: one [`Event`] per record line, one [`ParseError`] per bad line, never stopping early.

use memchr::memchr_iter;
use mmdb_model::Event;

use crate::diag::{line_problem, Located, ParseError, Parsed, EXPECTED_UTF8};
use crate::events::parse_op;
use crate::lexer::{lex_line, Line};

/// Parses mm event text; lines may end in LF or CRLF. A line with a NUL byte, or longer than
/// [`crate::diag::MAX_LINE_BYTES`], is an error.
pub fn parse_events(src: &str) -> Parsed {
    let mut out = Parsed::default();
    for (index, line) in src.split('\n').enumerate() {
        let line_no = line_number(index);
        match line_problem(line_no, line.strip_suffix('\r').unwrap_or(line).as_bytes()) {
            Some(e) => out.errors.push(e),
            None => parse_line(line_no, line, &mut out),
        }
    }
    out
}

/// Parses mm event text given as bytes; a line that is not valid UTF-8 (or has a NUL byte, or is longer than
/// [`crate::diag::MAX_LINE_BYTES`]) is reported as an error and skipped.
pub fn parse_events_bytes(src: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let mut start = 0;
    let ends = memchr_iter(b'\n', src).chain(std::iter::once(src.len()));
    for (index, end) in ends.enumerate() {
        let bytes = &src[start..end];
        start = end + 1;
        let line_no = line_number(index);
        if let Some(e) = line_problem(line_no, bytes.strip_suffix(b"\r").unwrap_or(bytes)) {
            out.errors.push(e);
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(line) => parse_line(line_no, line, &mut out),
            Err(e) => {
                let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
                let excerpt = bytes.strip_suffix(b"\r").unwrap_or(bytes);
                let excerpt = String::from_utf8_lossy(excerpt).into_owned();
                let bad = &bytes[e.valid_up_to()..];
                let bad = &bad[..e.error_len().unwrap_or(bad.len()).min(bad.len())];
                let found: String = bad.iter().map(|b| format!("\\x{b:02x}")).collect();
                out.errors.push(ParseError {
                    line: line_no,
                    column: u32::try_from(valid.chars().count() + 1).unwrap_or(u32::MAX),
                    excerpt,
                    expected: EXPECTED_UTF8.to_string(),
                    found: Some(found),
                });
            }
        }
    }
    out
}

/// The 1-based line number of the line at `index`.
fn line_number(index: usize) -> u32 {
    u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1))
}

/// Parses one line (without its `\n`) into `out`.
fn parse_line(line_no: u32, line: &str, out: &mut Parsed) {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let result = lex_line(line).and_then(|l| match l {
        Line::Blank | Line::Comment(_) => Ok(None),
        Line::Record(prefix) => parse_op(line, &prefix).map(|op| {
            Some(Event { comm: prefix.comm.to_string(), pid: prefix.pid, cpu: prefix.cpu, ts_ns: prefix.ts_ns, op })
        }),
    });
    match result {
        Ok(Some(value)) => out.events.push(Located { value, line: line_no }),
        Ok(None) => {}
        Err(e) => out.errors.push(e.to_parse_error(line_no, line)),
    }
}
