//! `mmdb record` for real: only as root with tracefs mounted; elsewhere each test says why it skips, and passes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::{mmdb, test_dir};

/// Why recording cannot work here, if it cannot.
fn skip_reason() -> Option<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1));
    if euid != Some("0") {
        return Some("not root");
    }
    if !Path::new("/sys/kernel/tracing/instances").is_dir() {
        return Some("tracefs is not mounted at /sys/kernel/tracing");
    }
    None
}

/// Returns true (after saying so) when the test cannot run here.
fn skip(test: &str) -> bool {
    match skip_reason() {
        Some(why) => {
            eprintln!("{test}: skipped: {why}");
            true
        }
        None => false,
    }
}

/// The marker lines of an ftrace recording, in order.
fn markers(trace: &str) -> Vec<&str> {
    trace.lines().filter_map(|l| l.split_once("tracing_mark_write: ").map(|(_, m)| m)).collect()
}

#[test]
fn record_writes_a_checkpoint_and_removes_its_instance() {
    if skip("record_writes_a_checkpoint_and_removes_its_instance") {
        return;
    }
    let dir = test_dir("record_checkpoint");
    let run = mmdb(&dir, &["record", "-o", "sh.ftrace", "--", "sh", "-c", "kill -STOP $$; true"], None);
    assert_eq!(run.status, Some(0), "{}", run.render());
    let trace = std::fs::read_to_string(dir.join("sh.ftrace")).expect("the trace was written");

    let m = markers(&trace);
    let pid = m[0]
        .strip_prefix("mmdb-record pid=")
        .and_then(|r| r.strip_suffix(" cmd=sh -c kill -STOP $$; true"))
        .unwrap_or_else(|| panic!("first marker: {}", m[0]));
    // Exec's layout, read at the exec stop: every mapping of the new image, the stack among them, then the
    // stack's addresses; then the first checkpoint.
    let begin = m.iter().position(|l| *l == "mmdb-checkpoint begin id=1").expect("a checkpoint");
    let (layout, exec) = m[1..begin].split_at(begin - 2);
    assert!(layout.iter().all(|l| l.starts_with(&format!("mmdb-exec-vma pid={pid} start=0x"))), "{layout:?}");
    assert!(layout.iter().any(|l| l.ends_with(" dev=0:0 ino=0 name=[stack]")), "{layout:?}");
    assert!(layout.iter().any(|l| l.contains(" perms=r-xp ") && (l.ends_with("/dash") || l.ends_with("/sh"))));
    assert!(exec[0].starts_with(&format!("mmdb-exec pid={pid} start_stack=0x")), "{}", exec[0]);
    assert!(m[begin + 1].starts_with(&format!("mmdb-rollup pid={pid} rss_kb=")), "{}", m[begin + 1]);
    assert!(m.iter().any(|l| l.starts_with(&format!("mmdb-vma pid={pid} ")) && l.ends_with(" name=[stack]")));
    assert!(m.iter().any(|l| l.starts_with(&format!("mmdb-page pid={pid} vaddr=0x"))));
    assert_eq!(m.last(), Some(&"mmdb-checkpoint end id=1"));
    assert!(trace.contains(&format!("-{pid} ")) && trace.contains("sched_process_exec"), "the exec is traced");
    assert!(trace.ends_with("# mmdb record: 1 checkpoint; the command exited with status 0\n"));

    let instance = trace
        .lines()
        .find_map(|l| l.split_once(" instance ").map(|(_, r)| r.split(' ').next().unwrap_or_default()))
        .expect("the header names the instance");
    assert!(instance.starts_with("/sys/kernel/tracing/instances/mmdb-"), "{instance}");
    assert!(!Path::new(instance).exists(), "{instance} was not removed");
}

#[test]
fn record_rejects_a_missing_command_before_creating_anything() {
    if skip("record_rejects_a_missing_command_before_creating_anything") {
        return;
    }
    let dir = test_dir("record_missing_command");
    let run = mmdb(&dir, &["record", "-o", "x.ftrace", "--", "mmdb-no-such-command"], None);
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert_eq!(run.stderr, "mmdb: cannot run `mmdb-no-such-command`: command not found in PATH\n");
    assert!(!dir.join("x.ftrace").exists());
}

#[test]
fn sigterm_stops_the_command_and_cleans_up() {
    if skip("sigterm_stops_the_command_and_cleans_up") {
        return;
    }
    let dir = test_dir("record_sigterm");
    let child = Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(["record", "--memcg-limit", "64M", "-o", "sleep.ftrace", "--", "sleep", "30"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mmdb starts");
    let instance = Path::new("/sys/kernel/tracing/instances").join(format!("mmdb-{}", child.id()));
    let memcg = Path::new("/sys/fs/cgroup/memory").join(format!("mmdb-{}", child.id()));
    let deadline = Instant::now() + Duration::from_secs(4);
    while !std::fs::read_to_string(dir.join("sleep.ftrace")).unwrap_or_default().contains("mmdb-record pid=") {
        assert!(Instant::now() < deadline, "the recording did not start");
        sleep(Duration::from_millis(20));
    }
    assert!(instance.is_dir(), "{} exists while recording", instance.display());
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let out = child.wait_with_output().expect("mmdb exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted; the command was killed by SIGTERM"), "{stderr}");
    assert!(!instance.exists(), "{} was not removed", instance.display());
    assert!(!memcg.exists(), "{} was not removed", memcg.display());
}

#[test]
fn record_needs_root() {
    if skip_reason() != Some("not root") {
        eprintln!("record_needs_root: skipped: running as root");
        return;
    }
    let dir = test_dir("record_needs_root");
    let run = mmdb(&dir, &["record", "-o", "x.ftrace", "--", "true"], None);
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert!(run.stderr.starts_with("mmdb: mmdb record must run as root"), "{}", run.render());
    assert!(!dir.join("x.ftrace").exists());
}
