//! Nothing a user types makes the REPL panic or lose its place: random lines, and random sequences of real
//! commands with random arguments, run against sessions on an mm event trace and a real trace; random Rhai in
//! `rhai` lines, conditions and sourced files neither panics nor hangs (the sandbox's limits stop it).

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use mmdb_repl::{Session, COMMANDS};

/// Words that commands take, to make random lines that reach deep into argument parsing.
const WORDS: &[&str] = &[
    "0",
    "1",
    "3",
    "67",
    "82",
    "100000",
    "-1",
    "0x100010",
    "0x100000",
    "0xffffffffffffffff",
    "3175",
    "3176",
    "3175:0x7f5a3c010000",
    "3176:0x7f5a3c020000",
    "3175:",
    ":",
    "9:9",
    "start",
    "end",
    "checkpoint",
    "@1.0005",
    "@",
    "@x",
    "pid",
    "pfn",
    "addr",
    "madvise",
    "free",
    "MADV_DONTNEED",
    "divergence",
    "violation",
    "fault",
    "fork",
    "page",
    "rss",
    "mapcount",
    "refcount",
    "flags",
    "lru",
    "anon",
    "if",
    "==",
    ">",
    "~",
    "<=",
    "x",
    "breakpoints",
    "checkpoints",
    "trace",
    "",
    "é",
    "18446744073709551616",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
    ]
}

fn command_line() -> impl Strategy<Value = String> {
    let names: Vec<&'static str> = COMMANDS.iter().map(|c| c.name).filter(|n| *n != "quit").collect();
    (proptest::sample::select(names), proptest::collection::vec(word(), 0..5))
        .prop_map(|(name, args)| format!("{name} {}", args.join(" ")))
}

/// Pieces of Rhai, to make random expressions that reach past the parser into the engine and the query API.
const RHAI: &[&str] = &[
    "page(0x100000)",
    "page(3175, 0x7f5a3c010000)",
    "page(-1)",
    ".mapcount",
    ".pfn",
    ".frob",
    "rmap(",
    "history(",
    "smaps(3175)",
    "rss(3176).anon",
    "vmstat().pgfault",
    "ps()",
    "pages()",
    "check()",
    "process(3175).vmas()",
    "event",
    "event.pid",
    "event.addr",
    "event.number",
    "MADV_FREE",
    "PAGE_SIZE",
    "x",
    "f(1)",
    "fn f(a) { a + 1 }",
    "let x = 1;",
    "const y = 2;",
    "register_command(\"z\", \"Zed.\", |a| a.len())",
    "register_command(\"step\", \"No.\", |a| 1)",
    "z",
    "while true {}",
    "loop { }",
    "fn r(n) { r(n + 1) } r(0)",
    "\"a\" * 100000",
    "[0; 10]",
    "print(\"p\");",
    "debug(1);",
    "throw \"t\"",
    "Fn(\"page\").call(1)",
    "eval(\"1\")",
    "import \"m\" as m;",
    "1 / 0",
    "9223372036854775807 + 1",
    "&&",
    "||",
    "==",
    ">",
    "!",
    "+",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "#{",
    ";",
    ",",
    "`${",
    "\"",
    "0x",
    "é",
];

/// Whole statements, so that random programs also parse and run: queries, definitions, endless loops, growing
/// strings and arrays, deep recursion, errors.
const STATEMENTS: &[&str] = &[
    "page(0x100000).mapcount > 1",
    "rmap(page(0x100000)).len()",
    "history(page(3175, 0x7f5a3c010000))",
    "smaps(3175)",
    "rss(3176).anon",
    "vmstat().pgfault",
    "ps()",
    "pages().lazyfree",
    "check()",
    "process(3175).vmas()",
    "event",
    "event.pid == 3176",
    "event.advice == MADV_FREE",
    "fn f(a) { a + 1 }",
    "let x = 1",
    "const y = 2",
    "x + y",
    "f(1)",
    "register_command(\"z\", \"Zed.\", |a| { print(a); a.len() })",
    "while true {}",
    "loop { x += 1 }",
    "fn r(n) { r(n + 1) } r(0)",
    "let s = \"ab\"; loop { s += s }",
    "let v = []; loop { v.push(v.len()) }",
    "loop { print(\"spam\") }",
    "print(\"p\")",
    "throw \"t\"",
    "1 / 0",
    "page(-1)",
    "true",
    "0",
];

fn rhai_text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => proptest::collection::vec(proptest::sample::select(RHAI), 0..8).prop_map(|v| v.join(" ")),
        2 => proptest::collection::vec(proptest::sample::select(STATEMENTS), 1..4).prop_map(|v| v.join("; ")),
    ]
}

/// A line that reaches Rhai: an expression, a condition, a registered command, or a sourced file.
fn rhai_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => rhai_text().prop_map(|t| format!("rhai {t}")),
        2 => rhai_text().prop_map(|t| format!(": {t}")),
        2 => rhai_text().prop_map(|t| format!("break fault if {t}")),
        1 => rhai_text().prop_map(|t| format!("watch page 0x100000 if {t}")),
        1 => Just("source lib.rhai".to_string()),
        1 => Just("z 1 2".to_string()),
        2 => Just("continue".to_string()),
        1 => Just("reverse-continue".to_string()),
        1 => Just("goto 67".to_string()),
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![3 => command_line(), 1 => rhai_line(), 1 => "\\PC{0,40}"]
}

/// A session on `trace` with small sandbox limits (an endless loop stops fast) and a file reader that gives
/// random Rhai for `lib.rhai`.
fn session(trace: &str, lib: String) -> Session {
    let mut s = crate::open(trace);
    s.set_script_limits(mmdb_script::Limits {
        max_operations: 20_000,
        max_call_levels: 16,
        max_string_size: 4096,
        max_array_size: 4096,
        ..mmdb_script::Limits::default()
    });
    s.set_file_reader(Box::new(
        move |path| if path == "lib.rhai" { Ok(lib.clone()) } else { Err(format!("no {path}")) },
    ));
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_lines_never_panic_and_keep_the_cursor_in_range(
        lines in proptest::collection::vec(line(), 1..12),
        lib in rhai_text(),
    ) {
        let mut s = session("traces/basic.events", lib);
        for l in &lines {
            let _ = s.execute(l);
            prop_assert!(s.cursor() <= s.program().len());
            prop_assert_eq!(s.model().events_applied() as usize, s.cursor());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn completion_and_hints_never_panic(l in line(), cut in 0usize..64) {
        let s = crate::open("traces/basic.events");
        let c = mmdb_repl::complete(&s, &l, cut);
        prop_assert!(c.start <= l.len());
        let _ = mmdb_repl::hint(&l);
    }
}

#[test]
fn random_lines_on_a_real_trace_never_panic() {
    let mut s = session("traces/real/fork-cow.ftrace", "fn g(x) { x }".to_string());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..64 {
        let Ok(tree) = line().new_tree(&mut runner) else { continue };
        let l = tree.current();
        let _ = s.execute(&l);
        assert!(s.cursor() <= s.program().len(), "{l}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_rhai_never_panics_nor_hangs(lines in proptest::collection::vec(rhai_line(), 1..10), lib in rhai_text()) {
        let mut s = session("traces/basic.events", lib);
        for l in &lines {
            let _ = s.execute(l);
            prop_assert!(s.cursor() <= s.program().len());
            prop_assert_eq!(s.model().events_applied() as usize, s.cursor());
        }
    }
}
