//! The sandbox: limits, no way out to files, the environment or the clock, interrupts, captured output, and the
//! read-only query engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mmdb_script::{eval_query, run_script, ErrorKind, Limits, QueryEngine, ScriptConfig};

use crate::run;

/// The kind of error `source` stops with under small limits (debug builds of Rhai are slow).
fn kind_of(source: &str) -> Option<ErrorKind> {
    let limits =
        Limits { max_operations: 200_000, max_string_size: 1 << 16, max_array_size: 1 << 12, ..Limits::default() };
    let cfg = ScriptConfig { limits, ..ScriptConfig::default() };
    run_script("t.rhai", source, &cfg, Arc::new(AtomicBool::new(false))).error.map(|e| e.kind)
}

#[test]
fn limits_stop_runaway_scripts() {
    assert_eq!(kind_of("loop {}"), Some(ErrorKind::Limit));
    assert_eq!(kind_of("fn f(n) { f(n + 1) } f(0);"), Some(ErrorKind::Limit));
    assert_eq!(kind_of("let s = \"x\"; loop { s += s; }"), Some(ErrorKind::Limit));
    assert_eq!(kind_of("let a = []; loop { a.push(1); }"), Some(ErrorKind::Limit));
    let limits = Limits { max_events: 10, ..Limits::default() };
    let cfg = ScriptConfig { limits, ..ScriptConfig::default() };
    let src =
        "let p = spawn(\"a\");\nlet a = p.mmap(64 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);\n\
               p.write(a, 64 * PAGE_SIZE);\n";
    let r = run_script("t.rhai", src, &cfg, Arc::new(AtomicBool::new(false)));
    let e = r.error.unwrap_or_else(|| panic!("no error"));
    assert_eq!((e.kind, e.line), (ErrorKind::Limit, 3));
    assert!(e.message.contains("more than 10 model events"), "{}", e.message);
    assert_eq!(r.events.len(), 10);
    let limits = Limits { max_output: 100, ..Limits::default() };
    let cfg = ScriptConfig { limits, ..ScriptConfig::default() };
    let r = run_script("t.rhai", "loop { print(\"0123456789\"); }", &cfg, Arc::new(AtomicBool::new(false)));
    assert_eq!(r.error.map(|e| e.kind), Some(ErrorKind::Limit));
    assert!(r.output.len() <= 100);
}

#[test]
fn there_is_no_way_out() {
    for src in ["import \"x\" as x;", "eval(\"1\")", "timestamp()", "open(\"/etc/passwd\")", "env(\"HOME\")"] {
        let e = run(src).error.unwrap_or_else(|| panic!("`{src}` ran"));
        assert!(matches!(e.kind, ErrorKind::Syntax | ErrorKind::Runtime), "{src}: {e:?}");
    }
}

#[test]
fn the_interrupt_flag_stops_a_script() {
    let flag = Arc::new(AtomicBool::new(true));
    let r = run_script("t.rhai", "print(1);\nloop {}\n", &ScriptConfig::default(), Arc::clone(&flag));
    let e = r.error.unwrap_or_else(|| panic!("not interrupted"));
    assert_eq!(e.kind, ErrorKind::Interrupted);
    assert!(flag.load(Ordering::Relaxed));
}

#[test]
fn print_and_debug_go_to_the_output() {
    assert_eq!(crate::output("print(\"a\"); debug(\"b\"); print(#{x: 1});"), "a\n[1:13] \"b\"\n#{\"x\": 1}\n");
}

#[test]
fn queries_read_a_model_without_changing_it() {
    let r = run("let p = spawn(\"app\");\nlet a = p.mmap(PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);\np.store(a, 7);\n");
    let mut model = r.model;
    let before = model.report();
    let q = QueryEngine::new(&Limits::default(), Arc::new(AtomicBool::new(false)));
    let page = q.compile("page(100, 0x7efffffff000).content").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.eval(&mut model, &page).map(|v| v.value_text()), Ok("7".to_string()));
    let cond = q.compile("page(0x100000).mapcount == 1 && rss(100).anon == 1").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.eval_bool(&mut model, &cond), Ok(true));
    let many = q.compile("print(ps()); vmstat().pgfault").unwrap_or_else(|e| panic!("{e}"));
    let v = q.eval(&mut model, &many).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (v.value_text(), v.output.as_str()),
        ("1".to_string(), "[#{\"comm\": \"app\", \"mm\": 1, \"pid\": 100, \"tgid\": 100}]\n")
    );
    assert_eq!(model.report(), before, "the model is back, unchanged");
    // The scenario API is not there, and a condition must be a boolean.
    for src in ["spawn(\"x\")", "process(100).store(0x7efffffff000, 1)", "lru_add_drain()", "reclaim(1)"] {
        let e = eval_query(&mut model, src).err().unwrap_or_else(|| panic!("`{src}` ran"));
        assert!(e.message.starts_with("function not found"), "{src}: {}", e.message);
    }
    let e = q.eval_bool(&mut model, &page).err().unwrap_or_else(|| panic!("not a boolean"));
    assert!(e.message.contains("must give a boolean"), "{}", e.message);
    assert_eq!(eval_query(&mut model, "process(100).smaps().rss_kb").map(|v| v.value_text()), Ok("4".to_string()));
    assert_eq!(eval_query(&mut model, "\"text\"").map(|v| v.value_text()), Ok("text".to_string()));
    assert_eq!(model.report(), before);
}
