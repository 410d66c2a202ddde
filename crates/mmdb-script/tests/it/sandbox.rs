//! The sandbox: limits, no way out to files, the environment or the clock, interrupts, captured output, and the
//! read-only query engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mmdb_script::{eval_query, run_script, Dynamic, ErrorKind, Limits, QueryEngine, ScriptConfig};

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

/// The model keeps per-CPU state for each CPU it sees: a script cannot name a CPU no machine has.
#[test]
fn cpu_numbers_stop_at_nr_cpus() {
    let e = run("let p = spawn(\"a\");\np.cpu = 8191;\np.cpu = 8192;\n").error.unwrap_or_else(|| panic!("no error"));
    assert_eq!((e.kind, e.line), (ErrorKind::Runtime, 3), "{e:?}");
    assert!(e.message.contains("no CPU 8192: CPUs are numbered 0 to 8191"), "{}", e.message);
    let e = run("reclaim(1, -1);").error.unwrap_or_else(|| panic!("no error"));
    assert!(e.message.contains("no CPU -1"), "{}", e.message);
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

#[test]
fn a_query_session_keeps_definitions_and_commands() {
    let r = run("let p = spawn(\"app\");\nlet a = p.mmap(PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);\np.store(a, 7);\n");
    let mut model = r.model;
    let q = QueryEngine::new(&Limits::default(), Arc::new(AtomicBool::new(false)));
    q.reserve_command_names(["step"]);
    let lib = "// a library\nconst HOT = 0x100000;\nfn mapped(pfn) {\n    page(pfn).mapcount > 0\n}\nfn broken(x) {\n    x.frob()\n}\nregister_command(\"hot\", \"Shows the hot page. More.\", |args| { print(`args ${args}`); page(HOT).content });\n";
    let compiled = q.compile_named("lib.rhai", lib).unwrap_or_else(|e| panic!("{}", e.render("lib.rhai")));
    assert_eq!(compiled.functions(), ["broken(x)", "mapped(pfn)"]);
    q.run(&mut model, &compiled).unwrap_or_else(|e| panic!("{}", e.render("lib.rhai")));
    // Functions and constants stay; an undefined name is a compile error with its column.
    let later = q.compile("mapped(HOT) && HOT == 0x100000").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.eval_bool(&mut model, &later), Ok(true));
    let e = q.compile("mapped(HOTT)").err().unwrap_or_else(|| panic!("compiled"));
    assert_eq!((e.line, e.column), (1, 8), "{}", e.message);
    // `eval` leaves nothing behind, `run` keeps variables.
    let temp = q.compile("let x = 1; x").unwrap_or_else(|e| panic!("{e}"));
    q.eval(&mut model, &temp).unwrap_or_else(|e| panic!("{e}"));
    assert!(q.compile("x").is_err());
    q.run(&mut model, &temp).unwrap_or_else(|e| panic!("{e}"));
    assert!(q.compile("x + 1").is_ok());
    // A variable set from outside.
    q.set_var("event", Dynamic::from(5_i64));
    let ev = q.compile("event * 2").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(q.eval(&mut model, &ev).map(|v| v.value_text()), Ok("10".to_string()));
    // An error inside a library function is placed in the file that defined it.
    let call = q.compile("broken(1)").unwrap_or_else(|e| panic!("{e}"));
    let e = q.eval(&mut model, &call).err().unwrap_or_else(|| panic!("ran"));
    assert!(e.render("expression").contains("--> lib.rhai:7:7\n"), "{}", e.render("expression"));
    assert!(e.render("expression").contains("x.frob()"), "{}", e.render("expression"));
    // The registered command.
    let cmds = q.commands();
    assert_eq!(
        (cmds[0].name.as_str(), cmds[0].help.as_str(), cmds[0].file.as_str()),
        ("hot", "Shows the hot page. More.", "lib.rhai")
    );
    let v = q.call_command(&mut model, "hot", &["a", "b"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((v.output.as_str(), v.value_text()), ("args [\"a\", \"b\"]\n", "7".to_string()));
    assert!(q.library_calls("page") && !q.library_calls("history"));
    assert!(call.calls("broken") && call.calls("page") && !call.calls("history"));
    // Reserved and malformed names are refused where the script registers them; a failed run keeps nothing.
    for (src, msg) in [
        ("register_command(\"step\", \"x\", |a| 1)", "is a command of the debugger"),
        ("register_command(\"a b\", \"x\", |a| 1)", "is not a command name"),
        ("register_command(\"ok\", \"x\", |a| 1); fn kept() { 1 } let y = 2; throw \"no\"", "uncaught exception"),
    ] {
        let c = q.compile(src).unwrap_or_else(|e| panic!("{e}"));
        let e = q.run(&mut model, &c).err().unwrap_or_else(|| panic!("`{src}` ran"));
        assert!(e.message.contains(msg), "{src}: {}", e.message);
    }
    assert_eq!(q.commands().len(), 1);
    assert!(q.compile("y").is_err());
}
