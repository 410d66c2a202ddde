//! Error reporting: line, column, expected and found for bad lines, recovery after them, and rendering.

use mmdb_model::Op;
use mmdb_trace::{parse_events, parse_events_bytes, ParseError};

const PREFIX: &str = "             app-100     [000]     0.000200: ";

/// A bad line, the token the error must point at (`None`: the end of the line), and what was expected.
struct Case {
    line: String,
    /// Where the token starts, when not at the last occurrence of `found`: the first occurrence of this anchor.
    anchor: Option<&'static str>,
    found: Option<&'static str>,
    expected: &'static str,
}

fn case(line: &str, found: Option<&'static str>, expected: &'static str) -> Case {
    Case { line: line.to_string(), anchor: None, found, expected }
}

fn anchored(mut c: Case, anchor: &'static str) -> Case {
    c.anchor = Some(anchor);
    c
}

fn mm(text: &str, found: Option<&'static str>, expected: &'static str) -> Case {
    case(&format!("{PREFIX}{text}"), found, expected)
}

fn cases() -> Vec<Case> {
    vec![
        mm("fault: addr=0x7f0000000000 acess=write", Some("acess=write"), "`access=read|write|exec`"),
        mm("fault: addr=0x1 access=wrte", Some("wrte"), "`read`, `write` or `exec` for `access`"),
        mm("fault: addr=0x1 access=read pfn=0x2 junk", Some("junk"), "one of `around=ADDR`, `around_pages=N` or end of line"),
        mm("fault: addr=0x1 access=read zz=1", Some("zz=1"), "one of `pfn=HEX`, `around=ADDR`, `around_pages=N` or end of line"),
        mm(
            "mmap: len=0x1000 prot=PROT_READ|PROT_RAED flags=MAP_PRIVATE",
            Some("PROT_RAED"),
            "`PROT_*` names joined by `|`, `PROT_NONE` or `0` for `prot`",
        ),
        mm("mmap: lenn=4096 prot=0 flags=0", Some("lenn=4096"), "one of `len=SIZE`, `prot=PROT`, `flags=FLAGS`"),
        mm(
            "mmap: offset=0x1000 len=4K prot=PROT_READ flags=MAP_PRIVATE",
            Some("offset=0x1000"),
            "`file=NAME` alongside `offset=`",
        ),
        mm("munmap: addr=0x1000", None, "`len=SIZE`"),
        mm("munmap: addr=0x1000 addr=0x2000 len=1", Some("addr=0x2000"), "at most one `addr=`"),
        mm("munmap: addr= len=1", Some("addr="), "a number (decimal or `0x` hex) for `addr`"),
        mm("munmap: addr=0x1000 len=1T", Some("1T"), "a size (decimal with an optional `K`, `M` or `G` suffix, or `0x` hex) for `len`"),
        mm("munmap: addr=0x10000000000000000 len=1", Some("0x10000000000000000"), "a number that fits in 64 bits for `addr`"),
        mm("mlock: addr=0 len=18014398509481984K", Some("18014398509481984K"), "a number that fits in 64 bits for `len`"),
        mm("fork: child=4294967296", Some("4294967296"), "a number that fits in 32 bits for `child`"),
        mm("fork: child=1 thread=2", Some("2"), "`0` or `1` for `thread`"),
        mm("madvise: addr=0x1 len=1 advice=MADV_FREEE", Some("MADV_FREEE"), "a `MADV_*` name or a decimal number for `advice`"),
        mm("mremap: addr=1 old_len=1 new_len=2 flags=MREMAP_MAYMOVE|MAP_FIXED", Some("MAP_FIXED"), "`MREMAP_*` names joined by `|`, or `0` for `flags`"),
        mm(r#"exec: filename="/bin/unterminated"#, None, "a closing `\"`"),
        mm(r#"exec: filename="a\qb""#, Some("\\q"), "an escape `\\\"`, `\\\\`, `\\n`, `\\r`, `\\t` or `\\0`"),
        mm(r#"spawn: comm="a"b"#, Some("b"), "a blank after the closing `\"`"),
        mm("exit: now", Some("now"), "end of line"),
        mm("frobnicate: x=1", Some("frobnicate"), "one of the mm event names: spawn, fork, vfork, exec, exit, rename, mmap, munmap, mprotect, mremap, brk, fault, touch, gup, store, madvise, mlock, munlock, lru_add_drain, lru_add_drain_all, folio_batch_move, reclaim, shrink_folio, memcg_create, memcg_attach, swapon, kmem_alloc, folio_get, folio_put, kmem_get, kmem_free, balloon_inflate, balloon_deflate, vrange, page_cache, page_cache_frame"),
        anchored(mm("fault addr=0x1 access=read", Some(" "), "`:` after the event name"), " addr=0x1"),
        mm("exit", None, "`:` after the event name"),
        anchored(case("app-100 [000] 0.000200 fault: addr=0x1 access=read", Some(" "), "`:` after the timestamp"), " fault:"),
        case("app100 [000] 0.1: exit:", Some("app100"), "a record `<comm>-<pid> [<cpu>] <secs>.<frac>: <event>: ...`"),
        case("app-100 [x] 0.1: exit:", Some("[x]"), "a CPU field `[<cpu>]`"),
        case("app-100 [0] 0.1234567891: exit:", Some("1234567891"), "at most 9 fractional digits (nanoseconds)"),
        case("  # indented is not a comment", Some("#"), "a record `<comm>-<pid> [<cpu>] <secs>.<frac>: <event>: ...`"),
    ]
}

/// The 1-based char column where the case's error must point.
fn column_of(c: &Case) -> u32 {
    let line = &c.line;
    let byte = match (c.anchor, c.found) {
        (Some(a), _) => line.find(a).unwrap_or_else(|| panic!("{a:?} not in {line:?}")),
        (None, Some(f)) => line.rfind(f).unwrap_or_else(|| panic!("{f:?} not in {line:?}")),
        (None, None) => line.len(),
    };
    u32::try_from(line[..byte].chars().count() + 1).unwrap_or(u32::MAX)
}

#[test]
fn bad_lines_are_located_and_good_lines_after_them_still_parse() {
    let cases = cases();
    let good = format!("{PREFIX}fork: child=7");
    // Interleave: good, bad, good, bad, ..., good.
    let mut src = good.clone();
    for c in &cases {
        src.push('\n');
        src.push_str(&c.line);
        src.push('\n');
        src.push_str(&good);
    }
    let parsed = parse_events(&src);
    assert_eq!(parsed.errors.len(), cases.len(), "{:#?}", parsed.errors);
    for (i, (c, e)) in cases.iter().zip(&parsed.errors).enumerate() {
        let expected = ParseError {
            line: u32::try_from(2 * i + 2).unwrap_or(u32::MAX),
            column: column_of(c),
            excerpt: c.line.clone(),
            expected: c.expected.to_string(),
            found: c.found.map(str::to_string),
        };
        assert_eq!(e, &expected, "{}", c.line);
    }
    let lines: Vec<u32> = parsed.events.iter().map(|e| e.line).collect();
    let want: Vec<u32> = (0..=cases.len()).map(|i| u32::try_from(2 * i + 1).unwrap_or(u32::MAX)).collect();
    assert_eq!(lines, want);
    assert!(parsed.events.iter().all(|e| e.value.op == Op::Fork { child: 7, thread: false }));
}

#[test]
fn render_is_rustc_style() {
    let mut src = String::from("# mmdb events v1\n");
    for _ in 0..10 {
        src.push_str(PREFIX);
        src.push_str("exit:\n");
    }
    src.push_str("             app-100     [000]     0.000200: fault: addr=0x7f0000000000 acess=write\r\n");
    let parsed = parse_events(&src);
    assert_eq!(parsed.events.len(), 10);
    let [e] = &parsed.errors[..] else { panic!("{:?}", parsed.errors) };
    let expected = "\
error: expected `access=read|write|exec`, found `acess=write`
  --> traces/x.events:12:73
   |
12 |              app-100     [000]     0.000200: fault: addr=0x7f0000000000 acess=write
   |                                                                         ^^^^^^^^^^^";
    assert_eq!(e.render("traces/x.events"), expected);
    assert_eq!(e.to_string(), "12:73: expected `access=read|write|exec`, found `acess=write`");
    let _: &dyn std::error::Error = e;
}

#[test]
fn invalid_utf8_is_an_error_for_its_line_only() {
    let mut src = Vec::new();
    src.extend_from_slice(format!("{PREFIX}exit:\n").as_bytes());
    src.extend_from_slice(b"  \xc3\xa9-1 [0] 0.1: spawn: comm=\xff\xfe\r\n");
    src.extend_from_slice(format!("{PREFIX}lru_add_drain:").as_bytes());
    let parsed = parse_events_bytes(&src);
    let ops: Vec<(u32, &Op)> = parsed.events.iter().map(|e| (e.line, &e.value.op)).collect();
    assert_eq!(ops, vec![(1, &Op::Exit), (3, &Op::LruAddDrain)]);
    assert_eq!(
        parsed.errors,
        vec![ParseError {
            line: 2,
            column: 28,
            excerpt: "  é-1 [0] 0.1: spawn: comm=\u{fffd}\u{fffd}".to_string(),
            expected: "valid UTF-8".to_string(),
            found: Some("\\xff".to_string()),
        }]
    );
}
