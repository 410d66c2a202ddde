//! Property tests: parsing is total for every format. Whatever the bytes, each parser returns records plus errors
//! (never panics), accounts for each line at most once, keeps errors in line order with real places, and parses a
//! line the same whatever surrounds it.

use mmdb_trace::{
    binary_kind, detect, parse_events_bytes, parse_ftrace, parse_perf, parse_truth_sidefile, ParseError, ParsedTrace,
};
use proptest::prelude::*;

/// Real lines of every format, to build inputs that reach past the prefix.
fn real_lines() -> Vec<&'static str> {
    [
        include_str!("../data/ftrace-tgid.txt"),
        include_str!("../data/trace-cmd-report.txt"),
        include_str!("../data/perf-default.txt"),
        include_str!("../data/perf-ns-lost.txt"),
        include_str!("../data/truth-excerpt.txt"),
        include_str!("../../../../traces/basic.events"),
    ]
    .iter()
    .flat_map(|t| t.lines())
    .collect()
}

/// One line of input: a real line (maybe damaged), random bytes, or a run of NUL bytes; without its line break.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let real = prop::sample::select(real_lines()).prop_map(|l| l.as_bytes().to_vec());
    let damaged =
        (prop::sample::select(real_lines()), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4))
            .prop_map(|(l, edits)| {
                let mut b = l.as_bytes().to_vec();
                for (at, byte) in edits {
                    let i = at.index(b.len() + 1);
                    if i < b.len() {
                        b[i] = byte;
                    } else {
                        b.push(byte);
                    }
                }
                b
            });
    prop_oneof![
        4 => real,
        3 => damaged,
        1 => prop::collection::vec(any::<u8>(), 0..80),
        1 => (1usize..200).prop_map(|n| vec![0; n]),
    ]
    .prop_map(|mut l| {
        l.retain(|&b| b != b'\n');
        l
    })
}

/// Lines joined with LF or CRLF, with or without a final line break.
fn text() -> impl Strategy<Value = (Vec<Vec<u8>>, bool, bool)> {
    (prop::collection::vec(line(), 0..24), any::<bool>(), any::<bool>())
}

fn join(lines: &[Vec<u8>], crlf: bool, final_break: bool) -> Vec<u8> {
    let sep: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = lines.join(sep);
    if final_break && !lines.is_empty() {
        out.extend_from_slice(sep);
    }
    out
}

/// The checks every list of errors of an input of `lines` lines passes.
fn check_errors(errors: &[ParseError], lines: usize) -> Result<(), TestCaseError> {
    for pair in errors.windows(2) {
        prop_assert!(pair[0].line <= pair[1].line, "errors out of order: {:?}", pair);
    }
    for e in errors {
        prop_assert!(e.line >= 1 && e.line as usize <= lines, "line {} of {lines}", e.line);
        prop_assert!(e.column >= 1);
        let shown = e.render("t");
        prop_assert!(!shown.contains('\0') && !shown.contains('\x1b'), "control characters shown: {shown:?}");
    }
    Ok(())
}

fn check_trace(t: &ParsedTrace, lines: usize) -> Result<(), TestCaseError> {
    prop_assert!(t.lines.len() + t.lost.len() + t.errors.len() <= lines);
    for pair in t.lines.windows(2) {
        prop_assert!(pair[0].line < pair[1].line);
    }
    check_errors(&t.errors, lines)
}

/// What a parse of one line gave, independent of where the line was: records (with their comm), notices, errors.
fn shape(t: &ParsedTrace, line: u32) -> (Vec<String>, usize, Vec<String>) {
    let records = t
        .lines
        .iter()
        .filter(|l| l.line == line)
        .map(|l| format!("{} {} {:?} {} {} {:?}", t.comm(l), l.pid, l.tgid, l.cpu, l.ts_ns, l.record))
        .collect();
    let lost = t.lost.iter().filter(|l| l.line == line).count();
    let errors = t.errors.iter().filter(|e| e.line == line).map(|e| format!("{} {}", e.column, e.message())).collect();
    (records, lost, errors)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_format_parses_any_text_totally((lines, crlf, final_break) in text()) {
        let src = join(&lines, crlf, final_break);
        let n = src.iter().filter(|&&b| b == b'\n').count() + 1;
        for t in [parse_ftrace(&src), parse_perf(&src)] {
            check_trace(&t, n)?;
        }
        let events = parse_events_bytes(&src);
        prop_assert!(events.events.len() + events.errors.len() <= n);
        check_errors(&events.errors, n)?;
        let (markers, errors) = parse_truth_sidefile(&src);
        prop_assert!(markers.len() + errors.len() <= n);
        check_errors(&errors, n)?;
        let _ = (detect(&src), binary_kind(&src));
    }

    #[test]
    fn a_line_parses_the_same_whatever_surrounds_it((lines, crlf, final_break) in text()) {
        let src = join(&lines, crlf, final_break);
        for parse in [parse_ftrace as fn(&[u8]) -> ParsedTrace, parse_perf] {
            let whole = parse(&src);
            for (i, line) in lines.iter().enumerate() {
                // The line with the break it has in `src`: a line that ends in `\r` reads differently before
                // `\r\n` than at the end of the text (its own `\r` is taken for half of the break there).
                let alone = parse(&join(std::slice::from_ref(line), crlf, final_break || i + 1 < lines.len()));
                let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
                prop_assert_eq!(shape(&whole, n), shape(&alone, 1), "line {}: {:?}", n, String::from_utf8_lossy(line));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_parse_totally(src in prop::collection::vec(any::<u8>(), 0..600)) {
        let n = src.iter().filter(|&&b| b == b'\n').count() + 1;
        check_trace(&parse_ftrace(&src), n)?;
        check_trace(&parse_perf(&src), n)?;
        let events = parse_events_bytes(&src);
        prop_assert!(events.events.len() + events.errors.len() <= n);
        check_errors(&events.errors, n)?;
        let (markers, errors) = parse_truth_sidefile(&src);
        prop_assert!(markers.len() + errors.len() <= n);
        check_errors(&errors, n)?;
    }
}
