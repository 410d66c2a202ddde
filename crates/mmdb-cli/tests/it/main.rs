//! Integration tests of the `mmdb` binary: exit statuses, stdout and stderr of real runs on small inline traces.
// Tests of the binary write trace files, like the binary itself reads them.
#![allow(clippy::disallowed_methods)]

mod book;
mod hostile;
mod pty;
mod real;
mod record;
mod repl;
mod scripts;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A line no trace format accepts.
const BAD_LINE: &str = "this is not an event\n";

/// A small clean trace: a process maps anonymous memory, writes a page, forks, and the child writes (COW).
const FORK_COW: &str = "\
# mmdb events v1
             app-100     [000]     0.000050: spawn: comm=app
             app-100     [000]     0.000100: mmap: addr=0x7f0000000000 len=0x40000 prot=PROT_READ|PROT_WRITE flags=MAP_PRIVATE|MAP_ANONYMOUS
             app-100     [000]     0.000200: fault: addr=0x7f0000000000 access=write
             app-100     [000]     0.000300: fork: child=101
             app-101     [001]     0.000400: fault: addr=0x7f0000000000 access=write
";

/// A fault at an address no VMA covers: the model reports a warning.
const SEGV_LINE: &str = "             app-100     [000]     0.000500: fault: addr=0x1000 access=read\n";

/// What one run of `mmdb` produced.
#[derive(Debug)]
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The whole run as text, for snapshots: exit status, stdout, stderr.
    fn render(&self) -> String {
        let status = self.status.map_or_else(|| "signal".to_string(), |c| c.to_string());
        format!("status: {status}\n----- stdout -----\n{}----- stderr -----\n{}", self.stdout, self.stderr)
    }
}

/// A fresh, empty directory for one test, under Cargo's per-target temp dir.
fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mmdb-cli-it").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(err) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {err}", dir.display());
    }
    dir
}

/// The `mmdb-pagecache` lines of a recording that a traced task's `mmap()` of a descriptor follows at once: the
/// files the recorder measured at an mmap stop.
fn measured_at_mmap<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("tracing_mark_write: mmdb-pagecache "))
        .filter(|(i, _)| {
            let next = lines[i + 1..].iter().find(|l| !l.contains("tracing_mark_write: mmdb-pagecache"));
            next.is_some_and(|n| n.contains(": sys_mmap(") && !n.contains("fd: 0xffffffff"))
        })
        .map(|(_, l)| *l)
        .collect()
}

/// Writes `text` to `dir/name`.
fn write(dir: &Path, name: &str, text: &str) {
    if let Err(err) = std::fs::write(dir.join(name), text) {
        panic!("cannot write {name}: {err}");
    }
}

/// Runs `mmdb args…` in `dir` (so paths in the output are relative), feeding `stdin` if given.
fn mmdb(dir: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mmdb"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => panic!("cannot run mmdb: {err}"),
    };
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        if let Err(err) = pipe.write_all(text.as_bytes()) {
            panic!("cannot feed stdin: {err}");
        }
    }
    let out = match child.wait_with_output() {
        Ok(out) => out,
        Err(err) => panic!("mmdb did not finish: {err}"),
    };
    Run {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn missing_file_is_a_usage_error() {
    let dir = test_dir("missing_file");
    let run = mmdb(&dir, &["replay", "nope.events"], None);
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert!(run.stderr.starts_with("mmdb: cannot read nope.events: "), "{}", run.render());
    assert_eq!(run.stdout, "");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = test_dir("bad_arguments");
    for args in [&["replay"][..], &["replay", "x", "--until", "ten"], &["replay", "x", "--format", "xml"], &["frob"]] {
        let run = mmdb(&dir, args, None);
        assert_eq!(run.status, Some(2), "{args:?}: {}", run.render());
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn empty_trace_is_clean() {
    let dir = test_dir("empty_trace");
    write(&dir, "empty.events", "");
    let run = mmdb(&dir, &["replay", "empty.events"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert!(run.stdout.starts_with("mmdb replay: empty.events: 0 events"), "{}", run.render());
    assert_eq!(run.stderr, "");
}

/// Depends on mmdb-trace's error wording and on the empty model's report; it does not depend on model semantics,
/// because no event parses.
#[test]
fn parse_error_run() {
    let dir = test_dir("parse_error");
    write(&dir, "bad.events", BAD_LINE);
    let run = mmdb(&dir, &["replay", "bad.events"], None);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run.stderr.contains("bad.events:1:1"), "{}", run.render());
    assert!(run.stderr.ends_with("1 error in bad.events\n"), "{}", run.render());
    insta::assert_snapshot!("parse_error_run", run.render());
}

/// Depends on model semantics: the snapshot shows the model's report of a fork and a COW fault.
#[test]
fn fork_cow_run() {
    let dir = test_dir("fork_cow");
    write(&dir, "fork-cow.events", FORK_COW);
    let run = mmdb(&dir, &["replay", "--check", "fork-cow.events"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert_eq!(run.stderr, "");
    insta::assert_snapshot!("fork_cow_run", run.render());
}

#[test]
fn until_stops_early() {
    let dir = test_dir("until");
    write(&dir, "fork-cow.events", FORK_COW);
    let run = mmdb(&dir, &["replay", "--until", "2", "fork-cow.events"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert!(
        run.stdout.starts_with("mmdb replay: fork-cow.events: 2 of 5 events, last at 0.000100\n"),
        "{}",
        run.render()
    );
}

/// Depends on model semantics: a fault outside any VMA is a warning.
#[test]
fn warning_diagnostic_is_a_finding() {
    let dir = test_dir("segv");
    write(&dir, "segv.events", &format!("{FORK_COW}{SEGV_LINE}"));
    let run = mmdb(&dir, &["replay", "segv.events"], None);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run.stdout.contains("\n  event 6 (line 7) warning "), "{}", run.render());
    assert_eq!(run.stderr, "");
}

#[test]
fn json_has_the_documented_keys() {
    let dir = test_dir("json");
    write(&dir, "bad.events", &format!("\n{BAD_LINE}"));
    let run = mmdb(&dir, &["replay", "--format", "json", "bad.events"], None);
    assert_eq!(run.status, Some(1), "{}", run.render());
    let v: serde_json::Value = match serde_json::from_str(&run.stdout) {
        Ok(v) => v,
        Err(err) => panic!("stdout is not JSON ({err}):\n{}", run.render()),
    };
    assert_eq!(v["mmdb_report_version"], 1);
    assert_eq!(v["trace"], "bad.events");
    let errors = v["parse_errors"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert_eq!(errors[0]["line"], 2);
    for key in ["column", "expected", "found", "excerpt"] {
        assert!(errors[0].get(key).is_some(), "parse error lacks {key}: {}", run.stdout);
    }
    for key in ["events", "processes", "pages", "vmstat", "violations", "diagnostics"] {
        assert!(v["report"].get(key).is_some(), "report lacks {key}: {}", run.stdout);
    }
}

#[test]
fn dash_reads_stdin() {
    let dir = test_dir("stdin");
    let run = mmdb(&dir, &["replay", "-"], Some(BAD_LINE));
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run.stderr.contains("<stdin>:1:1"), "{}", run.render());
    assert!(run.stdout.starts_with("mmdb replay: <stdin>: 0 events"), "{}", run.render());
}

#[test]
fn closed_stdout_is_success() {
    let dir = test_dir("broken_pipe");
    let mut child = match Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(["replay", "-"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => panic!("cannot run mmdb: {err}"),
    };
    // mmdb writes only after reading all of stdin, so closing stdout first makes its write fail with EPIPE.
    drop(child.stdout.take());
    drop(child.stdin.take());
    let out = match child.wait_with_output() {
        Ok(out) => out,
        Err(err) => panic!("mmdb did not finish: {err}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn help_explains_replay() {
    let dir = test_dir("help");
    let run = mmdb(&dir, &["--help"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert!(run.stdout.contains("replay"), "{}", run.stdout);

    let run = mmdb(&dir, &["replay", "--help"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    for needle in ["--check", "--until", "--format", "Exit status", "Examples", "smaps"] {
        assert!(run.stdout.contains(needle), "replay --help lacks {needle}:\n{}", run.stdout);
    }

    let run = mmdb(&dir, &["--version"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert!(run.stdout.starts_with("mmdb "), "{}", run.stdout);
}
