//! Fuzzes the REPL's command parser through its public API: the argument parsers of `mmdb_repl::parse` and
//! `mmdb_repl::breakpoints` on every line, then each line as a command of a session on `traces/basic.events`
//! (lines that run Rhai are left out: the sandbox has its own proptests); each input gets a fresh session.
//! Nothing may panic, and the cursor stays in the program.
#![no_main]
// `fuzz_target!` expands to code that may write files (libfuzzer-sys's `-only_ascii` handling and the like).
#![allow(clippy::disallowed_methods)]

use libfuzzer_sys::fuzz_target;
use mmdb_repl::{Program, Session};

/// The trace the session replays, compiled in so that the target runs from any directory.
const TRACE: &[u8] = include_bytes!("../../traces/basic.events");

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // A fresh session for every input, so that a crash reproduces from its input alone.
    let mut session = Session::new("basic.events", Program::from_events(TRACE));
    let names: Vec<&str> = mmdb_trace::events::event_names().collect();
    for line in text.lines().take(16) {
        for word in line.split_whitespace() {
            let _ = mmdb_repl::parse::parse_u64(word);
            let _ = mmdb_repl::parse::parse_addr(word);
            let _ = mmdb_repl::parse::parse_pid(word);
            let _ = mmdb_repl::parse::parse_count(word);
            let _ = mmdb_repl::parse::parse_seconds(word);
            let _ = mmdb_repl::parse::parse_advice(word);
            if let Ok(p) = mmdb_repl::parse::PageRef::parse(word) {
                let _ = p.resolve(session.model());
                assert_eq!(mmdb_repl::parse::PageRef::parse(&p.to_string()), Ok(p));
            }
        }
        let (words, condition) = mmdb_repl::breakpoints::split_condition(line);
        let _ = mmdb_repl::breakpoints::parse_break(&words, &names);
        let _ = mmdb_repl::breakpoints::parse_watch(&words);
        let first = line.split_whitespace().next().unwrap_or("");
        let runs_rhai = condition.is_some() || matches!(first, "rhai" | ":" | "source") || first.starts_with(':');
        if !runs_rhai {
            let _ = session.execute(line);
            assert!(session.cursor() <= session.program().len(), "{line:?}");
        }
    }
});
