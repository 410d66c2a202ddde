//! The API against the model: what each call does, what it returns, and where errors point.

use crate::{error, output, run};

#[test]
fn the_issue_example_runs() {
    let out = output(
        r#"
        let p = spawn("app");
        let a = p.mmap(64 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        print(p.write(a, 48 * PAGE_SIZE));
        print(p.read(a + 48 * PAGE_SIZE, PAGE_SIZE));
        p.store(a, 42);  let v = p.load(a);
        let c = p.fork();
        let r = p.madvise(a, 16 * PAGE_SIZE, MADV_FREE);
        print([v, r, p.madvise(a + 1, PAGE_SIZE, MADV_FREE) == -EINVAL]);
        p.munmap(a + 60 * PAGE_SIZE, PAGE_SIZE);  p.mprotect(a, PAGE_SIZE, PROT_READ);
        let b = p.mremap(a + 32 * PAGE_SIZE, 8 * PAGE_SIZE, 16 * PAGE_SIZE, MREMAP_MAYMOVE);
        c.exit();
        lru_add_drain();
        let n = reclaim(32);
        let g = memcg_create(32 * 1024 * 1024);  g.attach(p);
        print([swapon(64 * 1024 * 1024), g.id, g.limit]);
        let f = page(p, a + 20 * PAGE_SIZE);
        print([f.pfn > 0, f.present, f.mapcount, f.raw_mapcount, f.refcount, f.lazyfree, f.anon_exclusive]);
        print([f.zero_page, f.order, f.lru, f.flags.len() > 0]);
        print([rmap(f).len(), type_of(history(f)), type_of(p.smaps()), p.rss().anon, type_of(vmstat())]);
        print([page(f.pfn).pfn == f.pfn, ps().len(), c.alive, p.alive, b != 0]);
        "#,
    );
    // Page 20 was shared with the child until it exited: mapped once, no longer PG_anon_exclusive (fork cleared
    // it). The 16 MADV_FREE'd pages were discarded by reclaim once the child's mappings were gone: 48 - 16 = 32.
    assert_eq!(
        out,
        "48\n1\n[42, 0, true]\n[0, 1, 8192]\n[true, true, 1, 0, 1, false, false]\n[false, 0, \"inactive_anon\", true]\n\
         [1, \"array\", \"map\", 32, \"map\"]\n[true, 1, false, true, true]\n"
    );
}

#[test]
fn every_operation_is_one_recorded_event() {
    let r = run(r#"
        let p = spawn("app");
        let a = p.mmap(4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        p.write(a, 2 * PAGE_SIZE + 1);
        p.store(a, 0xffffffffffff);
        p.cpu = 3;
        let c = p.fork();
        p.store(a, -1);
        print(p.load(a));
        "#);
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.output, "-1\n");
    let names: Vec<&str> = r.events.iter().map(|e| e.op.name()).collect();
    assert_eq!(names, ["spawn", "mmap", "touch", "touch", "touch", "store", "fork", "store", "touch"]);
    assert_eq!(r.events[6].cpu, 3);
    assert!(r.events.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
    // The trace parses back to the same events, and a fresh model reaches the same state.
    let text = r.trace("t.rhai");
    assert!(text.starts_with("# mmdb events v1\n# emitted by `mmdb run t.rhai`\n"), "{text}");
    let parsed = mmdb_trace::parse_events(&text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let events: Vec<_> = parsed.events.iter().map(|l| l.value.clone()).collect();
    assert_eq!(events, r.events);
    assert_eq!(parsed.events[0].line, mmdb_script::ScriptRun::trace_line(0));
    let mut m = mmdb_model::Model::default();
    for e in &events {
        m.apply(e);
    }
    assert_eq!(m.report(), r.model.report());
    assert_eq!(m.load(100, r.model.vmas(100)[0].start), Some(u64::MAX));
}

#[test]
fn assertions_stop_the_script_where_they_fail() {
    let e = error(
        "let x = 1;\nfn f(y) {\n    assert(y == 2, \"y is two\");\n}\nprint(\"before\");\nf(x);\nprint(\"after\");\n",
    );
    assert_eq!(
        e,
        "error: assertion failed: y is two\n --> test.rhai:3:5\n  |\n3 |     assert(y == 2, \"y is two\");\n  |     ^^^^^^\n  \
         = note: in function `f`, called at line 6, column 1"
    );
    let r = run("print(\"before\");\nassert_eq([1, 2], [1, 3]);\nprint(\"after\");\n");
    assert_eq!(r.output, "before\n");
    let err = r.error.unwrap_or_else(|| panic!("no error"));
    assert_eq!(err.kind, mmdb_script::ErrorKind::Assertion);
    assert_eq!((err.line, err.column), (2, 1));
    assert_eq!(err.notes, ["left:  [1, 2]", "right: [1, 3]"]);
    assert!(run("assert_eq(#{a: 1}, #{a: 1}); assert(true); assert_eq(\"x\", \"x\", \"m\");").error.is_none());
}

#[test]
fn runtime_and_syntax_errors_are_located() {
    let e = error(
        "let p = spawn(\"app\");\nlet a = p.mmap(PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);\np.store(a, 1);\n",
    );
    assert!(e.starts_with("error: store at 0x7efffffff000 by pid 100 did not happen"), "{e}");
    assert!(e.contains("--> test.rhai:3:3"), "{e}");
    let e = error("let p = spawn(\"app\");\np.load(0x1000);\n");
    assert!(e.contains("load at 0x1000 by pid 100 faulted") && e.contains("test.rhai:2:3"), "{e}");
    let e = error("let p = spawn(\"app\");\np.mmap(-1, 0, 0);\n");
    assert!(e.contains("len must not be negative"), "{e}");
    let e = error("frobnicate(1);\n");
    assert!(e.starts_with("error: function not found: frobnicate") && e.contains("test.rhai:1:1"), "{e}");
    let e = error("let x = ;\n");
    assert!(e.contains("--> test.rhai:1:9"), "{e}");
    let e = error("let p = spawn(\"app\");\np.exit();\np.fork();\n");
    assert!(e.contains("process 100 does not exist"), "{e}");
}

#[test]
fn reserved_words_are_plain_names_and_constants_reach_functions() {
    let out = output(
        "fn pages_of(n) { n * PAGE_SIZE }\nlet shared = 1; let new = 2; let thread = spawn(\"t\").thread();\n\
         print([pages_of(2), shared + new, thread.pid, MADV_FREE, MREMAP_FIXED, EINVAL]);\n",
    );
    assert_eq!(out, "[8192, 3, 101, 8, 2, 22]\n");
}
