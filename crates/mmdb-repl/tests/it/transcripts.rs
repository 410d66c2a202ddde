//! Transcript tests: command sequences over the traces in `traces/`, snapshotted into the top-level
//! `snapshots/` as `repl@<name>.snap`. Each snapshot is a reviewed claim about kernel state as much as about the
//! REPL: after a fork, a shared anonymous page has mapcount 2 and is not anon-exclusive; after the child's COW
//! write the parent's page is mapped once again but stays non-exclusive until the parent writes.

use crate::{open, transcript, transcript_with};

/// The repository's top-level `snapshots/`, relative to this file's directory (what insta resolves against).
const SNAPSHOTS: &str = "../../../../snapshots";

fn check(name: &str, trace: &str, commands: &str, text: String) {
    insta::with_settings!({
        snapshot_path => SNAPSHOTS,
        prepend_module_to_snapshot => false,
        omit_expression => true,
        snapshot_suffix => name,
        description => format!("mmdb repl {trace}, commands:\n{}", commands.trim()),
    }, {
        insta::assert_snapshot!("repl", text);
    });
}

/// Runs `commands` on `trace` and snapshots the plain transcript as `repl@<name>`.
fn run(name: &str, trace: &str, commands: &str) {
    let mut s = open(trace);
    let text = transcript(&mut s, commands);
    check(name, trace, commands, text);
}

#[test]
fn basic_navigation() {
    run(
        "basic-navigation",
        "traces/basic.events",
        "
        where
        step
        step 2
        list 5
        next 3
        goto 66
        list 3
        goto @1.000670
        reverse-step
        reverse-step 100
        step 1000
        goto start
        ",
    );
}

#[test]
fn basic_fork_and_cow() {
    run(
        "basic-fork-cow",
        "traces/basic.events",
        "
        goto 66
        page 3175:0x7f5a3c010000
        step
        page 3175:0x7f5a3c010000
        page 3176:0x7f5a3c010000
        rmap 0x100000
        ps
        step
        page 3176:0x7f5a3c010000
        page 0x100000
        history 0x100000
        explain 0x100000
        explain 3176:0x7f5a3c010000
        diff 66 68
        rss 3176
        smaps 3176
        lru
        check
        ",
    );
}

#[test]
fn basic_breakpoints_and_watchpoints() {
    run(
        "basic-breakpoints",
        "traces/basic.events",
        "
        break fork
        watch page 3175:0x7f5a3c020000 lazyfree
        break fault if pid == 3176
        info breakpoints
        continue
        continue
        disable 3
        continue
        page 3175:0x7f5a3c020000
        continue
        reverse-continue
        reverse-continue
        reverse-continue
        enable 3
        delete 1 2
        break madvise MADV_DONTNEED
        watch rss 3175 anon
        info breakpoints
        goto end
        reverse-continue
        continue
        ",
    );
}

#[test]
fn madv_free_batches() {
    run(
        "madv-free-batch",
        "traces/madv-free-batch.events",
        "
        break madvise free
        continue
        lru
        step
        lru
        page 700:0x7f7000000000
        page 700:0x7f7000027000
        vmstat
        goto end
        smaps 700
        maps 700
        pte 700 0x7f7000000000
        ",
    );
}

#[test]
fn real_fork_cow_with_ground_truth() {
    let trace = "traces/real/fork-cow.ftrace";
    let mut s = open(trace);
    // The pids and addresses come from the recording: a page of the workload's region that checkpoint 2 (right
    // after the fork) shows shared by parent and child, and the child the fork created.
    let p = &s.program();
    let shared = p
        .checkpoints
        .iter()
        .find(|c| c.id == 2)
        .and_then(|c| c.pages.iter().map(|l| &l.value).find(|pg| pg.mapcount == 2 && pg.vaddr >> 40 == 0x7f))
        .unwrap_or_else(|| panic!("{trace}: checkpoint 2 shows no shared page in an mmap region"));
    let (parent, vaddr) = (shared.pid, shared.vaddr);
    let child = p
        .steps
        .iter()
        .find_map(|st| match st.event.op {
            mmdb_model::Op::Fork { child, .. } if st.event.pid == parent => Some(child),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{trace}: no fork of {parent}"));
    let commands = format!(
        "
        info trace
        info checkpoints
        goto checkpoint 2
        verify
        ps
        rss {parent}
        rss {child}
        page {parent}:{vaddr:#x}
        rmap {parent}:{vaddr:#x}
        goto checkpoint 3
        page {parent}:{vaddr:#x}
        page {child}:{vaddr:#x}
        history {child}:{vaddr:#x}
        verify 1
        verify 9
        divergences
        goto start
        break fork
        continue
        check
        "
    );
    let text = transcript(&mut s, &commands);
    check("real-fork-cow", trace, &commands, text);
}

#[test]
fn mistakes_get_clear_errors() {
    run(
        "errors",
        "traces/basic.events",
        "
        rmpa 0x100000
        stpe
        re
        step 0
        step many
        step 1 2
        goto 1000
        goto @x
        goto checkpoint 1
        goto
        page
        page 0x1
        page 9999:0x1000
        page 3175:zz
        break
        break frob
        break pid x
        break fault if frob == 1
        break fault if pid
        break divergence
        watch page
        watch rss 3175 frob
        delete 42
        delete x
        info
        help frob
        help step
        divergences
        reverse-step
        reverse-continue
        diff 1
        maps 42
        ",
    );
}

#[test]
fn output_is_labelled() {
    let mut s = open("traces/basic.events");
    let commands = "goto 67\npage 0x100000\nhistory 0x100000\nrmpa";
    let text = transcript_with(&mut s, commands, mmdb_repl::Styled::marked);
    check("labels", "traces/basic.events", commands, text);
}

#[test]
fn completion_comes_from_the_table_and_the_state() {
    let mut s = open("traces/basic.events");
    s.execute("goto 67");
    let c = mmdb_repl::complete(&s, "rev", 3);
    assert_eq!(c.candidates, ["reverse-continue", "reverse-step"]);
    let c = mmdb_repl::complete(&s, "break p", 7);
    let want = ["page_cache", "page_cache_frame", "pfn", "pid"].map(String::from);
    assert_eq!((c.start, c.candidates.as_slice()), (6, &want[..]));
    let c = mmdb_repl::complete(&s, "rss 31", 6);
    assert_eq!(c.candidates, ["3175", "3176"]);
    let c = mmdb_repl::complete(&s, "page 0x10000", 12);
    assert!(c.candidates.contains(&"0x100000".to_string()), "{:?}", c.candidates);
    let c = mmdb_repl::complete(&s, "watch page 0x100000 map", 23);
    assert_eq!(c.candidates, ["mapcount"]);
    let c = mmdb_repl::complete(&s, "break fault if p", 16);
    assert!(c.candidates.contains(&"pid".to_string()), "{:?}", c.candidates);
    assert_eq!(mmdb_repl::hint("revers"), None);
    assert_eq!(mmdb_repl::hint("reverse-c").as_deref(), Some("ontinue"));
    assert_eq!(mmdb_repl::hint("step ").as_deref(), Some("[N]"));
}

#[test]
fn time_travel_agrees_with_straight_replay() {
    // Every position reached by going back must hold the model a straight replay reaches.
    let mut s = open("traces/basic.events");
    s.execute("goto end");
    let n = s.program().len();
    for pos in (0..=n).rev().step_by(7) {
        s.seek(pos);
        let mut straight = mmdb_model::Model::new(s.program().config.clone());
        for step in &s.program().steps[..pos] {
            straight.apply(&step.event);
        }
        assert_eq!(s.model().report(), straight.report(), "position {pos}");
        assert_eq!(s.model().events_applied() as usize, pos);
    }
}

/// Opens `trace` with a file reader for `source`: the files of `files` (name, text), else the repository's files.
fn open_with_files(trace: &str, files: &'static [(&'static str, &'static str)]) -> mmdb_repl::Session {
    let mut s = open(trace);
    s.set_file_reader(Box::new(move |path: &str| match files.iter().find(|(name, _)| *name == path) {
        Some((_, text)) => Ok((*text).to_string()),
        None => std::fs::read_to_string(crate::repo_root().join(path)).map_err(|e| format!("cannot read {path}: {e}")),
    }));
    s
}

#[test]
fn rhai_expressions_read_the_state_at_the_cursor() {
    run(
        "rhai",
        "traces/basic.events",
        "
        rhai 1 + 2
        : event
        : ps()
        goto 67
        : event
        : event.name == \"fork\" && event.child == 3176
        : page(0x100000).mapcount
        : rmap(page(0x100000)).map(|m| m.pid)
        rhai print(`${ps().len()} tasks`); vmstat().pgfault
        rhai let hot = 0x100000
        rhai fn sharers(pfn) { rmap(page(pfn)).len() }
        : sharers(hot)
        : history(page(hot)).map(|h| h.event)
        : page(3176, 0x7f5a3c010000).pfn == hot
        rhai \"spaces  are  kept\"
        : frob + 1
        : page(0x100000
        : page(-1)
        : page(hot).mapcount > 1 && sharers(hot, 2)
        rhai
        help rhai
        ",
    );
}

/// Files the `source` transcript reads besides the book's `lazy.rhai`.
const FILES: &[(&str, &str)] = &[
    ("broken.rhai", "// a syntax error on line 2\nfn f(x) {\n    x +\n}\n"),
    (
        "failing.rhai",
        "fn kept() { 1 }\nregister_command(\"dropped\", \"Never registered.\", |args| 1);\nlet x = page(0x100000);\nx.mapcount.frob()\n",
    ),
    ("step.rhai", "register_command(\"step\", \"Replaces step.\", |args| 1);\n"),
    ("again.rhai", "register_command(\"lazy\", \"Counts the lazyfree pages of a process.\", |args| lazy_count(parse_int(args[0])));\n"),
];

#[test]
fn sourced_files_define_functions_and_commands() {
    let trace = "book/src/examples/lazyfree.events";
    let commands = "
        source book/src/examples/lazy.rhai
        help lazy
        goto 11
        lazy 200
        step
        lazy 200
        : lazy_count(200)
        la 200
        lazy
        lazy 999
        break pid 200 if lazy_count(200) == 0
        continue
        source missing.rhai
        source broken.rhai
        source failing.rhai
        dropped
        : kept()
        source step.rhai
        source again.rhai
        lazy 200
        help
        source
        ";
    let mut s = open_with_files(trace, FILES);
    let text = transcript(&mut s, commands);
    check("source", trace, commands, text);
    let c = mmdb_repl::complete(&s, "la", 2);
    assert_eq!(c.candidates, ["lazy"]);
    let c = mmdb_repl::complete(&s, "source book/", 12);
    assert!(c.path && c.candidates.is_empty(), "{c:?}");
}

#[test]
fn without_a_file_reader_source_is_not_available() {
    let mut s = open("traces/basic.events");
    let r = s.execute("source book/src/examples/lazy.rhai");
    assert_eq!(r.status, mmdb_repl::Status::Error);
    assert!(r.output.plain().contains("`source` is not available here"), "{}", r.output.plain());
}

#[test]
fn rhai_conditions_and_simple_conditions() {
    run(
        "rhai-conditions",
        "traces/basic.events",
        "
        break fault if event.pid == 3176 && page(0x100000).mapcount == 1
        break fork if pid == 3175
        watch page 3175:0x7f5a3c020000 if event.advice == MADV_FREE
        info breakpoints
        continue
        continue
        continue
        reverse-continue
        delete 1 2
        continue
        delete 3
        break madvise if rss(3175).anon < 48
        goto start
        continue
        break fault if pid == 3176 && mapcount > 1
        break fault if frob == 1
        break fault if page(0x100000
        break fault if
        break fault if page(0x100000).mapcount
        goto 60
        continue
        info breakpoints
        reverse-continue
        delete 5
        break fault if page(event.addr).frob()
        continue
        ",
    );
}
