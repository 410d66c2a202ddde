//! Checks shared by the fuzz targets: what every parse result must satisfy whatever the input.
#![allow(dead_code)]

use mmdb_trace::{ParseError, ParsedTrace};

/// How many lines `data` has, as the parsers count them (a last line without a line break counts, and so does
/// the empty line after a final line break).
pub fn line_count(data: &[u8]) -> usize {
    data.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Every error names a line of the input and a column from 1, comes in line order, and renders.
pub fn check_errors(errors: &[ParseError], lines: usize) {
    let mut previous = 0;
    for e in errors {
        assert!(e.line >= 1 && e.line as usize <= lines, "error at line {} of {lines}: {e:?}", e.line);
        assert!(e.column >= 1, "{e:?}");
        assert!(e.line >= previous, "errors out of line order: {e:?}");
        previous = e.line;
        let shown = e.render("fuzz");
        assert!(!shown.contains('\0'), "a rendered error holds a NUL byte: {shown:?}");
    }
}

/// A parsed real trace: at most one record, notice or error per line, every one on a line of the input.
pub fn check_trace(data: &[u8], trace: &ParsedTrace) {
    let lines = line_count(data);
    assert!(trace.lines.len() + trace.lost.len() + trace.errors.len() <= lines);
    check_errors(&trace.errors, lines);
    for l in &trace.lines {
        assert!(l.line >= 1 && l.line as usize <= lines);
    }
    for u in &trace.unknown_fields {
        assert!(u.count >= 1 && u.line >= 1 && u.line as usize <= lines);
    }
}
