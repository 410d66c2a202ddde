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
    // Exec's layout, read at the exec stop: every mapping of the new image, the stack among them, then the page
    // cache of its files (the shell, the dynamic loader, and the libc the loader resolves for the shell), then the
    // stack's addresses; then the first checkpoint, after the page cache of any file mapped since.
    // First the readahead window of each block device (the shell's own among them, as its `mmdb-exec-vma` lines
    // name it), then exec's layout, read at the exec stop.
    let bdis: Vec<&str> = m[1..].iter().copied().take_while(|l| l.starts_with("mmdb-bdi dev=")).collect();
    let begin = m.iter().position(|l| *l == "mmdb-checkpoint begin id=1").expect("a checkpoint");
    let exec_at = m.iter().position(|l| l.starts_with("mmdb-exec pid=")).expect("an mmdb-exec marker");
    let vmas = m[1 + bdis.len()..exec_at].iter().take_while(|l| l.starts_with("mmdb-exec-vma ")).count();
    let (layout, pagecache) = m[1 + bdis.len()..exec_at].split_at(vmas);
    let shell_dev = layout.iter().find(|l| l.contains(" perms=r-xp ")).and_then(|l| l.split(" dev=").nth(1));
    let shell_dev = shell_dev.and_then(|d| d.split(' ').next()).expect("the shell's device");
    assert!(
        shell_dev.starts_with("0:")
            || bdis.iter().any(|b| b.starts_with(&format!("mmdb-bdi dev={shell_dev} read_ahead_kb="))),
        "{shell_dev}: {bdis:?}"
    );
    assert!(layout.iter().all(|l| l.starts_with(&format!("mmdb-exec-vma pid={pid} start=0x"))), "{layout:?}");
    assert!(layout.iter().any(|l| l.ends_with(" dev=0:0 ino=0 name=[stack]")), "{layout:?}");
    assert!(layout.iter().any(|l| l.contains(" perms=r-xp ") && (l.ends_with("/dash") || l.ends_with("/sh"))));
    assert!(pagecache.len() >= 3 && pagecache.iter().all(|l| l.starts_with("mmdb-pagecache dev=")), "{pagecache:?}");
    assert!(m[exec_at + 1..begin].iter().all(|l| l.starts_with("mmdb-pagecache dev=")), "{m:?}");
    let exec = &m[exec_at..];
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

/// The top-level tracefs settings, which a recording must leave as it found them (it only writes its instances).
const GLOBAL_SETTINGS: &[&str] = &[
    "tracing_on",
    "trace_clock",
    "buffer_size_kb",
    "current_tracer",
    "set_event",
    "set_event_pid",
    "set_event_notrace_pid",
    "options/overwrite",
    "options/record-tgid",
    "options/event-fork",
    "events/enable",
];

/// The values of [`GLOBAL_SETTINGS`].
fn global_settings() -> Vec<(&'static str, String)> {
    let root = Path::new("/sys/kernel/tracing");
    GLOBAL_SETTINGS.iter().map(|&f| (f, std::fs::read_to_string(root.join(f)).unwrap_or_default())).collect()
}

/// What a recorder with pid `pid` created and must have removed: its two tracefs instances, its memory cgroup,
/// its work directory, and any process whose command line holds `token`.
fn leftovers(pid: u32, token: &str) -> Vec<String> {
    let mut left: Vec<String> = [
        format!("/sys/kernel/tracing/instances/mmdb-{pid}"),
        format!("/sys/kernel/tracing/instances/mmdb-{pid}-lru"),
        format!("/sys/fs/cgroup/memory/mmdb-{pid}"),
        std::env::temp_dir().join(format!("mmdb-record-{pid}")).display().to_string(),
    ]
    .into_iter()
    .filter(|p| Path::new(p).exists())
    .collect();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(token) {
            left.push(format!("process {}", entry.file_name().to_string_lossy()));
        }
    }
    left
}

/// Runs `mmdb record` on `sh -c SCRIPT` (in `dir`, writing `out`) and returns the recorder's child handle.
fn spawn_record(dir: &Path, out: &str, extra: &[&str], script: &str) -> std::process::Child {
    let mut args = vec!["record", "--memcg-limit", "64M", "-o", out];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(&args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mmdb starts")
}

/// Waits until the recording into `dir/out` has started (its `mmdb-record` marker is in the file).
fn wait_for_start(dir: &Path, out: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(dir.join(out)).unwrap_or_default().contains("mmdb-record pid=") {
        assert!(Instant::now() < deadline, "the recording did not start");
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn record_cleans_up_after_a_clean_exit_a_failure_and_a_crash() {
    if skip("record_cleans_up_after_a_clean_exit_a_failure_and_a_crash") {
        return;
    }
    let dir = test_dir("record_cleanup_endings");
    let before = global_settings();
    // (the command, the recorder's exit status, how the summary describes the ending)
    let cases = [
        ("true", 0, "the command exited with status 0"),
        ("exit 3", 1, "the command exited with status 3"),
        ("kill -SEGV $$", 1, "the command was killed by SIGSEGV"),
    ];
    for (i, (cmd, status, how)) in cases.into_iter().enumerate() {
        let token = format!("mmdb-cleanup-token-{i}");
        let out = format!("{i}.ftrace");
        let child = spawn_record(&dir, &out, &[], &format!("{cmd}; : {token}"));
        let pid = child.id();
        let run = child.wait_with_output().expect("mmdb exits");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(status), "{cmd}: {stderr}");
        assert!(stderr.contains(how), "{cmd}: {stderr}");
        assert_eq!(leftovers(pid, &token), Vec::<String>::new(), "{cmd}: left behind");
        let trace = std::fs::read_to_string(dir.join(&out)).expect("the trace was written");
        assert!(trace.ends_with(&format!("; {how}\n")), "{cmd}: {}", &trace[trace.len().saturating_sub(200)..]);
    }
    assert_eq!(global_settings(), before, "a top-level tracefs setting changed");
}

#[test]
fn record_cleans_up_after_sigint_and_sigterm() {
    if skip("record_cleans_up_after_sigint_and_sigterm") {
        return;
    }
    let dir = test_dir("record_cleanup_signals");
    let before = global_settings();
    for (signal, name) in [(nix::sys::signal::Signal::SIGINT, "int"), (nix::sys::signal::Signal::SIGTERM, "term")] {
        let token = format!("mmdb-signal-token-{name}");
        let out = format!("{name}.ftrace");
        let child = spawn_record(&dir, &out, &[], &format!("sleep 30; : {token}"));
        let pid = child.id();
        wait_for_start(&dir, &out);
        assert!(Path::new(&format!("/sys/kernel/tracing/instances/mmdb-{pid}")).is_dir());
        let raw = i32::try_from(pid).expect("a pid fits in i32");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), signal).expect("the signal is sent");
        let run = child.wait_with_output().expect("mmdb exits");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted; the command was killed by SIGTERM"), "{signal}: {stderr}");
        assert_eq!(leftovers(pid, &token), Vec::<String>::new(), "{signal}: left behind");
    }
    assert_eq!(global_settings(), before, "a top-level tracefs setting changed");
}

#[test]
fn record_refuses_to_reuse_an_existing_instance() {
    if skip("record_refuses_to_reuse_an_existing_instance") {
        return;
    }
    let dir = test_dir("record_existing_instance");
    // The shell's pid becomes the recorder's at `exec`: the instance it will want is known before it runs.
    let mut child = Command::new("sh")
        .args(["-c", "read x; exec \"$0\" record -o x.ftrace -- true", env!("CARGO_BIN_EXE_mmdb")])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh starts");
    let instance = Path::new("/sys/kernel/tracing/instances").join(format!("mmdb-{}", child.id()));
    std::fs::create_dir(&instance).expect("the test creates the instance");
    std::fs::write(instance.join("buffer_size_kb"), "100").expect("the test configures its instance");
    // The kernel rounds the size to whole pages: compare with what it took.
    let set = std::fs::read_to_string(instance.join("buffer_size_kb")).unwrap_or_default();
    let go = child.stdin.take().map(|mut stdin| std::io::Write::write_all(&mut stdin, b"go\n"));
    assert!(go.is_some_and(|r| r.is_ok()));
    let run = child.wait_with_output().expect("mmdb exits");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let kept = std::fs::read_to_string(instance.join("buffer_size_kb")).unwrap_or_default();
    let removed = std::fs::remove_dir(&instance);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("tracefs instance {} already exists", instance.display())), "{stderr}");
    assert_eq!(kept, set, "the existing instance was changed");
    assert!(removed.is_ok(), "the existing instance was left as it was: {removed:?}");
    assert!(!dir.join("x.ftrace").exists(), "no trace is left of a recording that could not start");
}

#[test]
fn a_full_ring_buffer_is_reported_as_lost_events() {
    if skip("a_full_ring_buffer_is_reported_as_lost_events") {
        return;
    }
    let dir = test_dir("record_lost_events");
    // A storm of page faults (four events each) against the smallest buffer: the reader cannot keep up. (Not a
    // loop of fork and exec: each exec's mappings stop for the recorder now, which slows it enough to keep up.)
    let busy = "awk 'BEGIN { for (i = 0; i < 1500000; i++) a[i] = i }'";
    let child = spawn_record(&dir, "busy.ftrace", &["--buffer-size-kb", "64"], busy);
    let run = child.wait_with_output().expect("mmdb exits");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(" events were lost (try a larger --buffer-size-kb)"), "{stderr}");
    let trace = std::fs::read_to_string(dir.join("busy.ftrace")).expect("the trace was written");
    let notices: Vec<&str> = trace.lines().filter(|l| l.starts_with("CPU:") && l.ends_with(" EVENTS]")).collect();
    assert!(!notices.is_empty(), "no `CPU:N [LOST M EVENTS]` line in the trace");
    // The replay says so, and counts what comes after the first loss apart.
    let replay = mmdb(&dir, &["replay", "--verify", "--format", "json", "busy.ftrace"], None);
    assert_eq!(replay.status, Some(1), "{}", replay.stderr);
    let v: serde_json::Value = serde_json::from_str(&replay.stdout).expect("a JSON report");
    assert!(v["lost_events"].as_u64().unwrap_or(0) > 0, "{}", v["lost_events"]);
    let first = trace.lines().position(|l| l == notices[0]).map(|i| i as u64 + 1);
    assert_eq!(v["verify"]["uncertain"]["from_line"].as_u64(), first);
    let text = mmdb(&dir, &["replay", "busy.ftrace"], None);
    assert!(text.stdout.contains("LOST EVENTS: "), "{}", text.stdout);
}

/// A file a program maps after its exec stop (here the locale files `setlocale()` maps) is measured at its
/// `mmap()`, before the call runs: its `mmdb-pagecache` line comes right before the task's `sys_mmap` record of a
/// descriptor, and the replay matches every `rss_stat` of a program that exits before any checkpoint.
#[test]
fn files_are_measured_at_their_first_mmap() {
    if skip("files_are_measured_at_their_first_mmap") {
        return;
    }
    if !Path::new("/usr/lib/locale/C.utf8/LC_CTYPE").exists() {
        eprintln!("skipped files_are_measured_at_their_first_mmap: no C.utf8 locale to map");
        return;
    }
    let dir = test_dir("record_mmap_stops");
    let out = Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(["record", "-o", "wc.ftrace", "--", "sh", "-c", "wc -l /dev/null"])
        .current_dir(&dir)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .expect("mmdb records");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let trace = std::fs::read_to_string(dir.join("wc.ftrace")).expect("the trace was written");
    let lines: Vec<&str> = trace.lines().collect();
    let at_mmap = super::measured_at_mmap(&lines);
    assert!(!at_mmap.is_empty(), "no page-cache line right before an mmap of a file:\n{trace}");
    let replay = mmdb(&dir, &["replay", "--verify", "--format", "json", "wc.ftrace"], None);
    let v: serde_json::Value = serde_json::from_str(&replay.stdout).expect("a JSON report");
    let rss = &v["verify"]["rss_stat"];
    assert_eq!(rss["matched"], rss["total"], "{rss}");
}
