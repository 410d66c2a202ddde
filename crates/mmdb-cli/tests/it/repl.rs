//! `mmdb repl` and `mmdb FILE` end to end: batch mode from standard input and from `--batch`, exit statuses,
//! colour control.

use super::{mmdb, test_dir, write, FORK_COW};

/// Commands for the small fork-and-COW trace: the parent's page is shared after the fork, the child's write
/// copies it.
const COMMANDS: &str = "\
# comments and blank lines are skipped

goto 4
page 100:0x7f0000000000
step
page 101:0x7f0000000000
frob
quit
step
";

#[test]
fn piped_commands_run_as_a_transcript() {
    let dir = test_dir("repl_stdin");
    write(&dir, "fork-cow.events", FORK_COW);
    let run = mmdb(&dir, &["repl", "fork-cow.events"], Some(COMMANDS));
    // `frob` failed, so the status is 1; `quit` stopped the run before the last `step`.
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert_eq!(run.stderr, "");
    assert!(run.stdout.ends_with("(mmdb) quit\n"), "{}", run.render());
    insta::with_settings!({
        snapshot_path => "../../../../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        snapshot_suffix => "cli-stdin",
        description => "echo COMMANDS | mmdb repl fork-cow.events (the FORK_COW trace of crates/mmdb-cli/tests/it/main.rs)",
    }, {
        insta::assert_snapshot!("repl", run.render());
    });
}

#[test]
fn a_bare_file_and_batch_files_open_the_repl() {
    let dir = test_dir("repl_batch");
    write(&dir, "fork-cow.events", FORK_COW);
    write(&dir, "cmds.mmdb", "goto end\nwhere\n");
    let run = mmdb(&dir, &["fork-cow.events"], Some("where\n"));
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert!(run
        .stdout
        .starts_with("mmdb repl: fork-cow.events: 5 mm events; the cursor is at the start\n(mmdb) where\n"));
    let run = mmdb(&dir, &["repl", "fork-cow.events", "--batch", "cmds.mmdb"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert!(
        run.stdout.ends_with(
            "(mmdb) where\nevent 5 of 5, line 6, 0.000400: app-101 [001] fault: addr=0x7f0000000000 access=write\n"
        ),
        "{}",
        run.render()
    );
    let run = mmdb(&dir, &["repl"], Some("ps\n"));
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert!(run.stdout.starts_with("mmdb repl: no trace, an empty model\n(mmdb) ps\n"), "{}", run.render());
}

#[test]
fn unreadable_inputs_are_usage_errors() {
    let dir = test_dir("repl_missing");
    let run = mmdb(&dir, &["repl", "nope.events"], Some(""));
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert!(run.stderr.starts_with("mmdb: cannot read nope.events"), "{}", run.render());
    write(&dir, "t.events", FORK_COW);
    let run = mmdb(&dir, &["repl", "t.events", "--batch", "nope.mmdb"], None);
    assert_eq!(run.status, Some(2), "{}", run.render());
    let run = mmdb(&dir, &["repl", "t.events", "--color", "sometimes"], Some(""));
    assert_eq!(run.status, Some(2), "{}", run.render());
}

#[test]
fn colour_follows_the_color_option() {
    let dir = test_dir("repl_colour");
    write(&dir, "t.events", FORK_COW);
    let always = mmdb(&dir, &["repl", "t.events", "--color", "always"], Some("step\n"));
    assert!(always.stdout.contains("\u{1b}["), "{}", always.render());
    let never = mmdb(&dir, &["repl", "t.events", "--color", "never"], Some("step\n"));
    assert!(!never.stdout.contains('\u{1b}'), "{}", never.render());
    // NO_COLOR is set by the helper and stdout is a pipe: auto means no colour.
    let auto = mmdb(&dir, &["repl", "t.events"], Some("step\n"));
    assert!(!auto.stdout.contains('\u{1b}'), "{}", auto.render());
}

/// A library for the FORK_COW trace: a constant, a function and a command.
const LIB: &str = "\
// lib.rhai: written by the test
const FIRST = 0x7f0000000000;
fn owners(pid, addr) { page(pid, addr).mapcount }
register_command(\"first\", \"Shows the first page of a process: first PID.\", |args| {
    let f = page(parse_int(args[0]), FIRST);
    print(`pfn 0x${f.pfn.to_hex()}`);
    f.mapcount
});
print(\"lib loaded\");
";

#[test]
fn source_reads_a_file_through_the_cli() {
    let dir = test_dir("repl_source");
    write(&dir, "fork-cow.events", FORK_COW);
    write(&dir, "lib.rhai", LIB);
    write(&dir, "bad.rhai", "let x = 1;\nx.frob()\n");
    let commands = "\
source lib.rhai
break fault if owners(100, FIRST) == 1 && event.pid == 101
continue
first 100
: owners(101, FIRST) + event.number
help first
source bad.rhai
source nope.rhai
";
    let run = mmdb(&dir, &["repl", "fork-cow.events"], Some(commands));
    // `bad.rhai` and `nope.rhai` fail, so the status is 1.
    assert_eq!(run.status, Some(1), "{}", run.render());
    let want = "\
(mmdb) source lib.rhai
lib loaded
sourced lib.rhai; functions: owners(pid, addr); commands: first
(mmdb) break fault if owners(100, FIRST) == 1 && event.pid == 101
breakpoint 1: event fault if owners(100, FIRST) == 1 && event.pid == 101
(mmdb) continue
breakpoint 1 (event fault) if owners(100, FIRST) == 1 && event.pid == 101
event 5 of 5, line 6, 0.000400: app-101 [001] fault: addr=0x7f0000000000 access=write
(mmdb) first 100
pfn 0x100000
1
(mmdb) : owners(101, FIRST) + event.number
6
(mmdb) help first
first [ARGS...]
registered by lib.rhai
Shows the first page of a process: first PID.
(mmdb) source bad.rhai
error: function not found: frob (i64)
 --> bad.rhai:2:3
  |
2 | x.frob()
  |   ^^^^
(mmdb) source nope.rhai
error: cannot read nope.rhai: No such file or directory (os error 2)
";
    assert!(run.stdout.ends_with(want), "{}", run.render());
    assert_eq!(run.stderr, "");
}
