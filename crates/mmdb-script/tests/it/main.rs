//! Integration tests of mmdb-script: scenarios, errors and their locations, the sandbox, queries, the reference.
// The reference test reads and writes the book page, like the CLI does with files.
#![allow(clippy::disallowed_methods)]

mod reference;
mod sandbox;
mod scenarios;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mmdb_script::{run_script, ScriptConfig, ScriptRun};

/// Runs `source` with the default configuration.
pub fn run(source: &str) -> ScriptRun {
    run_script("test.rhai", source, &ScriptConfig::default(), Arc::new(AtomicBool::new(false)))
}

/// Runs `source`, which must succeed, and returns what it printed.
pub fn output(source: &str) -> String {
    let r = run(source);
    if let Some(e) = &r.error {
        panic!("the script failed:\n{}\noutput:\n{}", e.render("test.rhai"), r.output);
    }
    r.output
}

/// Runs `source`, which must fail, and returns the rendered error.
pub fn error(source: &str) -> String {
    let r = run(source);
    match &r.error {
        Some(e) => e.render("test.rhai"),
        None => panic!("the script succeeded; output:\n{}", r.output),
    }
}
