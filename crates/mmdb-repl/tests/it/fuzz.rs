//! Nothing a user types makes the REPL panic or lose its place: random lines, and random sequences of real
//! commands with random arguments, run against sessions on an mm event trace and a real trace.

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use mmdb_repl::COMMANDS;

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

fn line() -> impl Strategy<Value = String> {
    prop_oneof![3 => command_line(), 1 => "\\PC{0,40}"]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_lines_never_panic_and_keep_the_cursor_in_range(lines in proptest::collection::vec(line(), 1..12)) {
        let mut s = crate::open("traces/basic.events");
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
    let mut s = crate::open("traces/real/fork-cow.ftrace");
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..64 {
        let Ok(tree) = line().new_tree(&mut runner) else { continue };
        let l = tree.current();
        let _ = s.execute(&l);
        assert!(s.cursor() <= s.program().len(), "{l}");
    }
}
