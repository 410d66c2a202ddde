//! Lexer tests on real ftrace prefixes: irq-info column, TGID column, comms with spaces and dashes, `<...>`.

use mmdb_trace::lexer::{lex_line, lex_prefix, EventSep, Line, Prefix};

/// The fields of a prefix that the tests compare, as one tuple.
type Fields<'a> = (&'a str, u32, Option<u32>, u32, Option<&'a str>, u64, &'a str, EventSep, &'a str);

fn check(line: &str, expected: Fields<'_>) {
    let p: Prefix<'_> = match lex_prefix(line) {
        Ok(p) => p,
        Err(e) => panic!("{line:?}: {e:?}"),
    };
    assert_eq!((p.comm, p.pid, p.tgid, p.cpu, p.irq, p.ts_ns, p.event, p.sep, p.rest), expected, "{line:?}");
    assert_eq!(&line[p.rest_offset..], p.rest, "{line:?}");
    assert_eq!(&line[p.event_offset..p.event_offset + p.event.len()], p.event, "{line:?}");
}

#[test]
fn real_ftrace_lines_with_irq_column() {
    check(
        "         python3-3056    [001] ...1.  1272.594378: tracing_mark_write: mmdb-record pid=3175 cmd=./basic",
        (
            "python3",
            3056,
            None,
            1,
            Some("...1."),
            1_272_594_378_000,
            "tracing_mark_write",
            EventSep::Colon,
            "mmdb-record pid=3175 cmd=./basic",
        ),
    );
    check(
        "           basic-3175    [000] d....  1272.594494: page_fault_user: address=0x7f7c23d51c20 ip=0x7f7c238ff04a error_code=0x7",
        (
            "basic",
            3175,
            None,
            0,
            Some("d...."),
            1_272_594_494_000,
            "page_fault_user",
            EventSep::Colon,
            "address=0x7f7c23d51c20 ip=0x7f7c238ff04a error_code=0x7",
        ),
    );
    check(
        "           basic-3175    [000] .....  1272.594616: sys_execve(filename: 0x7f7c2301a030, argv: 0x7f7c2354c9e0)",
        (
            "basic",
            3175,
            None,
            0,
            Some("....."),
            1_272_594_616_000,
            "sys_execve",
            EventSep::Paren,
            "(filename: 0x7f7c2301a030, argv: 0x7f7c2354c9e0)",
        ),
    );
    check(
        "           basic-3175    [000] .....  1272.594700: sys_mmap -> 0x7f7c23d50000",
        ("basic", 3175, None, 0, Some("....."), 1_272_594_700_000, "sys_mmap", EventSep::Space, "-> 0x7f7c23d50000"),
    );
}

#[test]
fn tgid_column() {
    check(
        "          <...>-3175    (   3175) [000] d....  1272.594494: page_fault_user: address=0x7f7c23d51c20",
        (
            "<...>",
            3175,
            Some(3175),
            0,
            Some("d...."),
            1_272_594_494_000,
            "page_fault_user",
            EventSep::Colon,
            "address=0x7f7c23d51c20",
        ),
    );
    check(
        "     kworker/0:1-12      (-------) [001] .....    10.5: workqueue_execute_start: work",
        ("kworker/0:1", 12, None, 1, Some("....."), 10_500_000_000, "workqueue_execute_start", EventSep::Colon, "work"),
    );
}

#[test]
fn comms_with_spaces_and_dashes() {
    check(
        "     Web Content-2801    [001] d....  1272.600000: page_fault_user: address=0x1",
        (
            "Web Content",
            2801,
            None,
            1,
            Some("d...."),
            1_272_600_000_000,
            "page_fault_user",
            EventSep::Colon,
            "address=0x1",
        ),
    );
    check(
        "     gnome-shell-1234    [001] ...1.  5.000000001: rss_stat: mm_id=1",
        ("gnome-shell", 1234, None, 1, Some("...1."), 5_000_000_001, "rss_stat", EventSep::Colon, "mm_id=1"),
    );
    // A comm that itself looks like `-<pid> [<cpu>]` does not fool the lexer.
    check("a-1 [2]-77 [003] 0.1: exit:", ("a-1 [2]", 77, None, 3, None, 100_000_000, "exit", EventSep::Colon, ""));
    check("x-12-5 [0] 1.0: exit:", ("x-12", 5, None, 0, None, 1_000_000_000, "exit", EventSep::Colon, ""));
}

#[test]
fn mm_format_and_older_irq_column() {
    check(
        "             app-100     [000]     0.000100: fork: child=101",
        ("app", 100, None, 0, None, 100_000, "fork", EventSep::Colon, "child=101"),
    );
    check(
        "            bash-77    [000] d..1   3.25: exit:",
        ("bash", 77, None, 0, Some("d..1"), 3_250_000_000, "exit", EventSep::Colon, ""),
    );
    check(
        "  perf-1 [000] 1.5:   syscalls:sys_enter_mmap: addr: 0x0",
        ("perf", 1, None, 0, None, 1_500_000_000, "syscalls:sys_enter_mmap", EventSep::Colon, "addr: 0x0"),
    );
}

#[test]
fn blank_and_comment_lines() {
    assert_eq!(lex_line(""), Ok(Line::Blank));
    assert_eq!(lex_line("   \t "), Ok(Line::Blank));
    assert_eq!(lex_line("# tracer: nop"), Ok(Line::Comment(" tracer: nop")));
    assert!(matches!(lex_line("app-1 [0] 0.1: exit:"), Ok(Line::Record(_))));
}

#[test]
fn lexer_errors_point_at_the_bad_field() {
    let err = |line: &str| match lex_prefix(line) {
        Ok(p) => panic!("{line:?} lexed as {p:?}"),
        Err(e) => (e.offset, e.len, e.expected.into_owned()),
    };
    assert_eq!(err("app-1 [0] 1.0 exit:"), (13, 1, "`:` after the timestamp".to_string()));
    assert_eq!(err("app-1 [x] 1.0: exit:"), (6, 3, "a CPU field `[<cpu>]`".to_string()));
    assert_eq!(err("app-1 [0] 1,0: exit:"), (10, 4, "a timestamp `<secs>.<frac>`".to_string()));
    assert_eq!(err("app-1 [0] 1.0:"), (14, 0, "an event name".to_string()));
    assert_eq!(err("app-99999999999 [0] 1.0: x:"), (4, 11, "a pid that fits in 32 bits".to_string()));
    assert_eq!(err("app-1 [0] 1.0123456789: x:"), (12, 10, "at most 9 fractional digits (nanoseconds)".to_string()));
    assert_eq!(err("app-1 [0] 18446744074.0: x:"), (10, 13, "a timestamp below 2^64 nanoseconds".to_string()));
    assert_eq!(
        err("  app 1 [0] 1.0: x:"),
        (2, 3, "a record `<comm>-<pid> [<cpu>] <secs>.<frac>: <event>: ...`".to_string())
    );
}
