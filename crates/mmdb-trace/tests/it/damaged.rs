//! Damaged and foreign input: NUL bytes, huge lines, binary files, CRLF, fields of other kernels, and the crashes
//! fuzzing found (each one a regression test named after what broke).

use mmdb_trace::diag::{error_kind, render_snippet, MAX_LINE_BYTES, MAX_SHOWN_CHARS};
use mmdb_trace::records::{MmPageAlloc, MmPageFree};
use mmdb_trace::{binary_kind, parse_events_bytes, parse_ftrace, parse_perf, parse_truth_sidefile, Record};

const FREE: &str = "  a-1 [000] 1.0: mm_page_free: page=0000000070e6bb79 pfn=0x5 order=0";

/// Reads a file of `traces/real/`.
#[allow(clippy::disallowed_methods)] // Tests may read their fixtures.
fn real(name: &str) -> Vec<u8> {
    let path = format!("{}/../../traces/real/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn real_recordings_have_no_unknown_fields() {
    for name in ["fork-cow.ftrace", "fork-tree.ftrace", "madv-free.ftrace", "shared-basic.ftrace", "zero-page.ftrace"] {
        let t = parse_ftrace(&real(name));
        assert!(t.errors.is_empty() && t.unknown_fields.is_empty(), "{name}: {:?} {:?}", t.errors, t.unknown_fields);
    }
    for name in ["fork-cow.perf.txt", "fork-tree.perf.txt", "madv-free.perf.txt", "shared-basic.perf.txt"] {
        let t = parse_perf(&real(name));
        assert!(t.errors.is_empty() && t.unknown_fields.is_empty(), "{name}: {:?} {:?}", t.errors, t.unknown_fields);
    }
}

#[test]
fn fields_of_other_kernels_are_read_by_name_and_the_unknown_ones_reported() {
    let src = "  a-1 [000] 1.0: mm_page_alloc: nid=0 order=0 pfn=0x10 gfp_flags=GFP_KERNEL migratetype=1 page=0x1\n\
               \x20 a-1 [000] 1.1: mm_page_alloc: pfn=0x11 order=0 migratetype=1 gfp_flags=GFP_KERNEL nid=1 zone=2\n\
               \x20 a-1 [000] 1.2: mm_page_free: page=0x1 order=0\n\
               \x20 a-1 [000] 1.3: sched_switch: prev_comm=a prev_pid=1 next_comm=b next_pid=2\n";
    let t = parse_ftrace(src.as_bytes());
    // Reordered and added fields: both lines parse.
    let pfns: Vec<Option<u64>> = t
        .lines
        .iter()
        .filter_map(|l| match &l.record {
            Record::MmPageAlloc(MmPageAlloc { pfn, .. }) => Some(*pfn),
            _ => None,
        })
        .collect();
    assert_eq!(pfns, [Some(0x10), Some(0x11)]);
    // Each key 6.18 does not print is reported once, with its first line and how many lines have it.
    let unknown: Vec<(&str, &str, u32, u64)> =
        t.unknown_fields.iter().map(|u| (u.event.as_str(), u.key.as_str(), u.line, u.count)).collect();
    assert_eq!(unknown, [("mm_page_alloc", "nid", 1, 2), ("mm_page_alloc", "zone", 2, 1)]);
    // A removed field mmdb needs: the error names it.
    assert_eq!(t.errors.len(), 1);
    assert_eq!((t.errors[0].line, t.errors[0].message().as_str()), (3, "expected a `pfn=` field, found end of line"));
    // An unknown event is kept raw, never an error.
    assert!(matches!(&t.lines[2].record, Record::Raw(r) if r.event == "sched_switch"));
}

#[test]
fn a_nul_byte_makes_its_line_an_error_and_the_next_line_parses() {
    for nul_line in ["  a-1 [000] 1.0: mm_page_free: page=0 pfn=0x\0 order=0", "\0\0\0\0\0\0\0\0\0\0"] {
        let src = format!("{nul_line}\n{FREE}\n");
        let t = parse_ftrace(src.as_bytes());
        assert_eq!(t.lines.len(), 1, "{:?}", t.errors);
        assert_eq!(t.lines[0].line, 2);
        assert_eq!(t.lines[0].record, Record::MmPageFree(MmPageFree { pfn: 5, order: 0 }));
        let e = &t.errors[0];
        let column = nul_line.find('\0').map(|i| i + 1);
        assert_eq!((e.line, Some(e.column as usize), error_kind(e)), (1, column, "NUL byte"));
        // The rendering shows the NUL escaped, with carets under it.
        let shown = e.render("t");
        assert!(!shown.contains('\0') && shown.contains("found `\\x00`"), "{shown}");
        let caret_line = shown.lines().last().unwrap_or_default();
        let text_line = shown.lines().nth(3).unwrap_or_default();
        let at = caret_line.find('^').unwrap_or(0);
        assert_eq!(&text_line[at..at + 4], "\\x00", "{shown}");
    }
    let mm = format!("{}\n  app-1 [000] 0.1: exit:\x00\n  app-1 [000] 0.2: exit:\n", mmdb_trace::HEADER);
    let parsed = parse_events_bytes(mm.as_bytes());
    assert_eq!((parsed.events.len(), parsed.errors.len(), parsed.errors[0].column), (1, 1, 25));
    let (markers, errors) =
        parse_truth_sidefile(b"1.0: mmdb-checkpoint begin id=1\x00\n2.0: mmdb-checkpoint end id=1\n");
    assert_eq!((markers.len(), errors.len(), errors[0].line), (1, 1, 1));
}

#[test]
fn a_line_longer_than_the_limit_is_an_error_that_shows_a_window_of_it() {
    let long = format!("  a-1 [000] 1.0: tracing_mark_write: {}", "x".repeat(3 * 1024 * 1024));
    let src = format!("{FREE}\n{long}\r\n{FREE}\n");
    let t = parse_ftrace(src.as_bytes());
    assert_eq!(t.lines.iter().map(|l| l.line).collect::<Vec<_>>(), [1, 3]);
    let e = &t.errors[0];
    assert_eq!((e.line, e.column as usize, error_kind(e)), (2, MAX_LINE_BYTES + 1, "line too long"));
    assert_eq!(e.found.as_deref(), Some(format!("{} more bytes", long.len() - MAX_LINE_BYTES).as_str()));
    assert!(e.excerpt.len() < MAX_LINE_BYTES + 100, "the excerpt is cut: {}", e.excerpt.len());
    let shown = e.render("t");
    assert!(shown.lines().all(|l| l.chars().count() < MAX_SHOWN_CHARS + 20), "{shown}");
    let parsed = parse_events_bytes(src.as_bytes());
    assert_eq!(parsed.errors.iter().map(|e| (e.line, error_kind(e))).collect::<Vec<_>>()[1], (2, "line too long"));
}

#[test]
fn snippets_escape_control_characters_and_cut_long_lines_around_the_column() {
    assert_eq!(
        render_snippet("bad \x1b[31m", "f", 1, 3, "ab\x1bc", 1),
        "error: bad \\x1b[31m\n --> f:1:3\n  |\n1 | ab\\x1bc\n  |   ^^^^"
    );
    let line: String = (0..1000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let shown = render_snippet("m", "f", 7, 600, &line, 3);
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines[3].starts_with("7 | ...") && lines[3].ends_with("..."), "{shown}");
    let at = lines[4].find('^').unwrap_or(0);
    assert_eq!(&lines[3][at..at + 3], &line[599..602], "{shown}");
    assert_eq!(lines[4][at..].trim_end(), "^^^");
    // The end of a long line: no trailing `...`, and a caret past its end.
    let shown = render_snippet("m", "f", 7, 1001, &line, 1);
    assert!(shown.lines().nth(3).is_some_and(|l| l.ends_with(&line[990..])), "{shown}");
    assert!(shown.ends_with(" ^"), "{shown}");
}

#[test]
fn crlf_lines_parse_like_lf_lines() {
    let lf = parse_ftrace(include_bytes!("../data/ftrace-tgid.txt"));
    let crlf: Vec<u8> = String::from_utf8_lossy(include_bytes!("../data/ftrace-tgid.txt")).replace('\n', "\r\n").into();
    let crlf = parse_ftrace(&crlf);
    assert_eq!((crlf.lines, crlf.lost, crlf.errors), (lf.lines, lf.lost, lf.errors));
}

#[test]
fn binary_files_are_recognised_from_their_first_bytes() {
    let kind = |b: &[u8]| binary_kind(b).unwrap_or_default();
    assert!(kind(b"\x7fELF\x02\x01\x01\0\0\0").starts_with("an ELF file"));
    assert!(kind(b"PERFILE2\x68\0\0\0").contains("perf script"));
    assert!(kind(b"\x17\x08\x44tracing6\0").contains("trace-cmd report"));
    assert!(kind(&[0; 4096]).contains("all NUL"));
    let mostly_binary: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    assert!(kind(&mostly_binary).starts_with("binary data ("), "{}", kind(&mostly_binary));
    // Text, even with a few damaged bytes, is text: its damaged lines are errors of their own.
    assert_eq!(binary_kind(include_bytes!("../data/ftrace-tgid.txt")), None);
    assert_eq!(binary_kind(b""), None);
    let mut damaged = include_bytes!("../data/perf-default.txt").to_vec();
    damaged[100..108].fill(0);
    damaged[300] = 0xff;
    assert_eq!(binary_kind(&damaged), None);
    // A hole of NUL bytes is one damaged place, however long.
    let mut holed = include_bytes!("../data/ftrace-tgid.txt").to_vec();
    holed.splice(200..200, [0; 2000]);
    assert_eq!(binary_kind(&holed), None);
}

/// Found by fuzzing (`mm_events`): a carriage return inside a line is part of it (only a final one ends it), so a
/// comm can hold one; the printer writes it as `?`, like every line break in a comm.
#[test]
fn a_carriage_return_inside_a_comm_parses_and_prints_as_a_question_mark() {
    let parsed = parse_events_bytes(b"  a\r\rb-1 [000] 1.000050: exit:\r\n");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let ev = &parsed.events[0].value;
    assert_eq!(ev.comm, "a\r\rb");
    let again = mmdb_trace::parse_events(&mmdb_trace::format_event(ev));
    assert_eq!(again.events[0].value.comm, "a??b");
}

/// Found by fuzzing (`perf`, out of memory): a CPU number no machine has made the model keep per-CPU state for 333
/// million CPUs. Every format now rejects CPU numbers from `NR_CPUS`' largest value, 8192, on.
#[test]
fn a_cpu_number_no_kernel_has_is_an_error() {
    let expected = "a CPU number below 8192 (the kernel's largest NR_CPUS)";
    let t =
        parse_perf(b"   fork-cow 18801/18801 [333333001] 11839.875014227: syscalls:sys_exit_mmap: 0x7f51248e0000\n");
    assert_eq!((t.lines.len(), t.errors[0].column, t.errors[0].expected.as_str()), (0, 26, expected));
    assert_eq!(t.errors[0].found.as_deref(), Some("333333001"));
    let t = parse_ftrace(b"  a-1 [8192] 1.0: mm_page_free: page=0 pfn=0x5 order=0\n  a-1 [8191] 1.0: exit:\n");
    assert_eq!((t.lines.len(), t.errors.len(), t.errors[0].expected.as_str()), (1, 1, expected));
    let parsed = parse_events_bytes(b"  app-1 [9999] 0.1: exit:\n");
    assert_eq!(parsed.errors[0].expected, expected);
}
