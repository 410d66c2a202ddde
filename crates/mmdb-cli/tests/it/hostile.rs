//! Hostile and damaged input through the real `mmdb` binary: truncated, cut, CRLF, non-UTF-8, NUL bytes, binary
//! and sparse files, huge lines, overflowing and negative numbers, time going backwards, broken markers, traces of
//! other kernels, impossible sequences, lost events, `--strict` and the error summary. `book/src/bad-input.md`
//! names these tests for each case. mmdb never panics or hangs on any of them: every run here is bounded.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{test_dir, write, Run, FORK_COW};

/// How long one run may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(60);

/// Runs `mmdb args…` in `dir` like `super::mmdb`, but kills it and fails after [`HANG`], and fails on a panic.
fn mmdb(dir: &Path, args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mmdb starts");
    let (mut out, mut err) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
    let stdout = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + HANG;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mmdb {args:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = Run {
        status: status.code(),
        stdout: String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    };
    assert!(run.status.is_some(), "mmdb {args:?} died of a signal:\n{}", run.render());
    assert!(!run.stderr.contains("panicked"), "mmdb {args:?} panicked:\n{}", run.render());
    assert!(!run.stderr.contains('\0'), "stderr holds a NUL byte:\n{}", run.render());
    run
}

/// Writes `bytes` to `dir/name`.
fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
}

/// The text of a real recording of `traces/real/`.
fn real(name: &str) -> String {
    let path = format!("{}/../../traces/real/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A line of the mm event format: `app-<pid>` at `ts` (in µs) doing `what`.
fn ev(pid: u32, us: u32, what: &str) -> String {
    format!("             app-{pid}     [000]     0.{us:06}: {what}\n")
}

/// The 1-based column of the first occurrence of `needle` in `line`.
fn column(line: &str, needle: &str) -> usize {
    line.find(needle).map(|i| line[..i].chars().count() + 1).unwrap_or_else(|| panic!("{needle:?} not in {line:?}"))
}

/// The `N error(s) in FILE...` summary line of a run.
fn summary(run: &Run) -> &str {
    run.stderr.lines().rfind(|l| l.contains(" error")).unwrap_or_default()
}

#[test]
fn a_truncated_last_line_is_an_error_that_says_the_file_may_be_cut() {
    let dir = test_dir("hostile_truncated");
    let cut = &FORK_COW[..FORK_COW.len() - 20];
    write(&dir, "cut.events", cut);
    let run = mmdb(&dir, &["replay", "cut.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    let last = cut.lines().last().unwrap_or_default();
    assert!(run.stderr.contains(&format!("--> cut.events:6:{}", last.chars().count() + 1)), "{}", run.render());
    assert!(run
        .stderr
        .contains("note: the last line of cut.events has no line break: the file may have been cut short"));
    // The lines before it replay.
    assert!(run.stdout.starts_with("mmdb replay: cut.events: 4 events"), "{}", run.stdout);
}

#[test]
fn a_file_cut_inside_a_checkpoint_reports_the_open_checkpoint_and_the_cut_line() {
    let dir = test_dir("hostile_cut_checkpoint");
    let full = real("fork-cow.ftrace");
    let lines: Vec<&str> = full.lines().collect();
    // Checkpoint 2 begins at line 1053 and ends at line 1244: cut line 1101 in the middle.
    assert!(lines[1052].ends_with("mmdb-checkpoint begin id=2") && lines[1100].contains("mmdb-page "));
    let mut cut = lines[..1100].join("\n");
    cut.push('\n');
    cut.push_str(&lines[1100][..120]);
    write(&dir, "cut.ftrace", &cut);
    let run = mmdb(&dir, &["replay", "--verify", "cut.ftrace"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    let begin = column(lines[1052], "begin");
    assert!(
        run.stderr.contains(&format!(
            "error: expected `mmdb-checkpoint end id=2` after it, found `begin`\n    --> cut.ftrace:1053:{begin}"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("error: expected `present=<0|1>`, found end of line\n    --> cut.ftrace:1101:121"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("the file may have been cut short"));
    assert!(run.stderr.ends_with("2 errors in cut.ftrace\n"), "{}", run.stderr);
    // The pages before the cut are still compared.
    assert!(
        run.stdout.contains("  checkpoints: 2\n") && run.stdout.contains("  pages: 79 of 79 agree"),
        "{}",
        run.stdout
    );
}

#[test]
fn crlf_line_endings_replay_like_lf() {
    let dir = test_dir("hostile_crlf");
    write(&dir, "lf.events", FORK_COW);
    write(&dir, "crlf.events", &FORK_COW.replace('\n', "\r\n"));
    let (lf, crlf) = (mmdb(&dir, &["replay", "lf.events"]), mmdb(&dir, &["replay", "crlf.events"]));
    assert_eq!((crlf.status, crlf.stderr.as_str()), (Some(0), ""));
    assert_eq!(crlf.stdout.replace("crlf.events", "lf.events"), lf.stdout);
    let real = real("fork-cow.ftrace");
    write(&dir, "lf.ftrace", &real);
    write(&dir, "crlf.ftrace", &real.replace('\n', "\r\n"));
    let (lf, crlf) =
        (mmdb(&dir, &["replay", "--verify", "lf.ftrace"]), mmdb(&dir, &["replay", "--verify", "crlf.ftrace"]));
    assert_eq!((crlf.status, crlf.stderr.as_str()), (Some(0), ""));
    assert_eq!(crlf.stdout.replace("crlf.ftrace", "lf.ftrace"), lf.stdout);
}

#[test]
fn invalid_utf8_is_an_error_on_its_line_only() {
    let dir = test_dir("hostile_utf8");
    let mut bytes = FORK_COW.as_bytes().to_vec();
    let at = FORK_COW.find("fork: child=101").expect("the fork line") + 6;
    bytes[at] = 0xff;
    write_bytes(&dir, "bad.events", &bytes);
    let run = mmdb(&dir, &["replay", "bad.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    let line = FORK_COW.lines().nth(4).unwrap_or_default();
    let col = column(line, "fork: ") + 6;
    assert!(
        run.stderr.contains(&format!("error: expected valid UTF-8, found `\\xff`\n --> bad.events:5:{col}")),
        "{}",
        run.stderr
    );
    // The other events replay: the child's fault is an unknown pid now that the fork is gone.
    assert!(run.stdout.starts_with("mmdb replay: bad.events: 4 events"), "{}", run.stdout);
    assert!(run.stdout.contains("warning unknown-pid: fault by pid 101"), "{}", run.stdout);
}

#[test]
fn nul_bytes_are_errors_on_their_lines_and_shown_escaped() {
    let dir = test_dir("hostile_nul");
    let mut text = FORK_COW.replace("child=101", "child=1\x0001");
    // A hole of NUL bytes, as a crash leaves in a log file, on a line of its own.
    text.push_str(&"\0".repeat(300));
    text.push('\n');
    text.push_str(&ev(100, 600, "exit:"));
    write(&dir, "nul.events", &text);
    let run = mmdb(&dir, &["replay", "nul.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    let line = text.lines().nth(4).unwrap_or_default();
    let col = column(line, "\0");
    assert!(
        run.stderr.contains(&format!(
            "error: expected text (a trace has no NUL bytes), found `\\x00`\n --> nul.events:5:{col}"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--> nul.events:7:1\n"), "{}", run.stderr);
    // The excerpt shows the NUL as `\x00` with the carets under it.
    assert!(run.stderr.contains("fork: child=1\\x0001\n"), "{}", run.stderr);
    assert!(run.stderr.ends_with("2 errors in nul.events\n"), "{}", run.stderr);
    assert!(run.stdout.contains("last at 0.000600"), "the exit after the hole replays: {}", run.stdout);
}

#[test]
fn binary_files_are_refused_before_they_are_read() {
    let dir = test_dir("hostile_binary");
    let exe = std::env::current_exe().expect("the test binary");
    std::fs::copy(&exe, dir.join("program")).expect("copy the test binary");
    write_bytes(&dir, "perf.data", b"PERFILE2\x68\0\0\0\0\0\0\0\x00\x01\0\0\0\0\0\0");
    write_bytes(&dir, "trace.dat", b"\x17\x08\x44tracing6\0\0\0\x00\x10\0\0");
    let noise: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    write_bytes(&dir, "noise.bin", &noise);
    let cases = [
        ("program", "is an ELF file (a program or a library), not a trace"),
        ("perf.data", "is a perf.data file (`perf script` converts it to text), not a trace"),
        ("trace.dat", "is a trace-cmd trace.dat file (`trace-cmd report` converts it to text), not a trace"),
        ("noise.bin", "is binary data ("),
    ];
    for (file, why) in cases {
        for args in [
            &["replay", file][..],
            &["replay", "--input-format", "mmdb", file],
            &["repl", file, "--batch", "/dev/null"],
        ] {
            let run = mmdb(&dir, args);
            assert_eq!(run.status, Some(2), "{args:?}: {}", run.render());
            assert!(run.stderr.starts_with(&format!("mmdb: {file} {why}")), "{args:?}: {}", run.render());
            assert_eq!(run.stdout, "", "{args:?}");
        }
    }
}

#[test]
fn empty_files_replay_clean() {
    let dir = test_dir("hostile_empty");
    for name in ["empty.events", "empty.ftrace", "empty"] {
        write(&dir, name, "");
        let run = mmdb(&dir, &["replay", name]);
        assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""), "{name}: {}", run.render());
        assert!(run.stdout.starts_with(&format!("mmdb replay: {name}: 0 events")), "{name}: {}", run.stdout);
    }
}

#[test]
fn a_10_gb_sparse_file_is_refused_after_its_first_block() {
    let dir = test_dir("hostile_sparse");
    let f = std::fs::File::create(dir.join("sparse.events")).expect("create");
    f.set_len(10 << 30).expect("a sparse 10 GB file");
    // Text first, then nothing but NUL bytes: a preallocated file that was never filled.
    let f = std::fs::File::create(dir.join("prealloc.ftrace")).expect("create");
    std::io::Write::write_all(&mut &f, real("fork-cow.ftrace").as_bytes()).expect("write");
    f.set_len(10 << 30).expect("a sparse tail");
    let start = Instant::now();
    let run = mmdb(&dir, &["replay", "sparse.events"]);
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert_eq!(
        run.stderr,
        "mmdb: sparse.events is binary data (its first 65536 bytes are all NUL: a sparse or preallocated file?), not a trace\n"
    );
    let run = mmdb(&dir, &["replay", "prealloc.ftrace"]);
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert!(
        run.stderr
            .starts_with("mmdb: prealloc.ftrace is not a trace: at byte 327680 it holds 64 KiB of NUL bytes in a row"),
        "{}",
        run.stderr
    );
    // Neither is read whole: 10 GB would take far longer (and more memory than the test machine has to spare).
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
}

#[test]
fn megabyte_lines_are_errors_and_the_lines_after_them_replay() {
    let dir = test_dir("hostile_long_lines");
    let mut text = FORK_COW.to_string();
    text.push_str(&ev(100, 600, &format!("spawn: comm={}", "x".repeat(1 << 20))));
    text.push_str(&"y".repeat(5 << 20));
    text.push('\n');
    text.push_str(&ev(100, 700, "exit:"));
    write(&dir, "long.events", &text);
    let run = mmdb(&dir, &["replay", "long.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    for line in [7, 8] {
        let rest = text.lines().nth(line - 1).map_or(0, |l| l.len() - 65536);
        let want = format!("error: expected the end of the line (no trace line is longer than 64 KiB), found `{rest} more bytes`\n --> long.events:{line}:65537");
        assert!(run.stderr.contains(&want), "{want}\n{}", &run.stderr[..run.stderr.len().min(3000)]);
    }
    // Errors show a window of the line, not megabytes of it.
    assert!(run.stderr.lines().all(|l| l.chars().count() < 300), "a long line on stderr");
    assert!(run.stdout.starts_with("mmdb replay: long.events: 6 events, last at 0.000700"), "{}", run.stdout);
}

#[test]
fn overflowing_numbers_are_errors_that_name_the_field() {
    let dir = test_dir("hostile_overflow");
    let mut text = FORK_COW.to_string();
    for what in [
        "fault: addr=0x7f0000001000 access=write pfn=0xffffffffffffffffff",
        "munmap: addr=0x10000000000000000 len=4096",
        "fork: child=4294967296",
        "mlock: addr=0 len=18014398509481984K",
    ] {
        text.push_str(&ev(100, 600, what));
    }
    text.push_str("             app-100     [000]     99999999999.000000: exit:\n");
    write(&dir, "big.events", &text);
    let run = mmdb(&dir, &["replay", "big.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    for want in [
        "expected a number that fits in 64 bits for `pfn`, found `0xffffffffffffffffff`",
        "expected a number that fits in 64 bits for `addr`, found `0x10000000000000000`",
        "expected a number that fits in 32 bits for `child`, found `4294967296`",
        "expected a number that fits in 64 bits for `len`, found `18014398509481984K`",
        "expected a timestamp below 2^64 nanoseconds, found `99999999999.000000`",
    ] {
        assert!(run.stderr.contains(want), "{want}\n{}", run.stderr);
    }
    assert!(run.stderr.ends_with("5 errors in big.events\n"), "{}", run.stderr);

    let mut ftrace = String::from("# tracer: nop\n");
    for what in [
        "mm_page_alloc: page=0 pfn=0x1ffffffffffffffff order=0 migratetype=1 gfp_flags=GFP_KERNEL",
        "mm_page_alloc: page=0 pfn=0x10 order=99 migratetype=1 gfp_flags=GFP_KERNEL",
        "mm_page_free: page=0 pfn=0x10 order=18446744073709551616",
        "sys_munmap(addr: 7f0000000000, len: 10000000000000000000000)",
    ] {
        ftrace.push_str(&format!("           app-10    [000] .....   100.000010: {what}\n"));
    }
    write(&dir, "big.ftrace", &ftrace);
    let run = mmdb(&dir, &["replay", "big.ftrace"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    for want in [
        "expected a hexadecimal number below 2^64 for `pfn`, found `0x1ffffffffffffffff`",
        "expected an order of at most 18 (a 1 GiB block, the largest x86-64 has) for `order`, found `99`",
        "for `order`, found `18446744073709551616`",
        "expected a hexadecimal number below 2^64 for `len`, found `10000000000000000000000`",
    ] {
        assert!(run.stderr.contains(want), "{want}\n{}", run.stderr);
    }
}

#[test]
fn negative_sizes_are_errors() {
    let dir = test_dir("hostile_negative");
    let mut text = FORK_COW.to_string();
    for what in [
        "munmap: addr=0x7f0000000000 len=-4096",
        "mmap: len=-1 prot=PROT_READ flags=MAP_PRIVATE|MAP_ANONYMOUS",
        "memcg_create: id=1 limit=-1M",
        "swapon: size=-64K",
    ] {
        text.push_str(&ev(100, 600, what));
    }
    write(&dir, "neg.events", &text);
    let run = mmdb(&dir, &["replay", "neg.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    for (line, key, value) in [(7, "len", "-4096"), (8, "len", "-1"), (9, "limit", "-1M"), (10, "size", "-64K")] {
        let pad = " ".repeat(line.to_string().len());
        let want = format!("for `{key}`, found `{value}`\n{pad}--> neg.events:{line}:");
        assert!(run.stderr.contains(&want), "{want}\n{}", run.stderr);
    }
    let ftrace = "           app-10    [000] .....   100.000010: sys_munmap(addr: 7f0000000000, len: -1000)\n";
    write(&dir, "neg.ftrace", ftrace);
    let run = mmdb(&dir, &["replay", "neg.ftrace"]);
    assert!(run.stderr.contains("expected a hexadecimal number for `len`, found `-1000`"), "{}", run.stderr);
}

#[test]
fn timestamps_going_backwards_are_warnings_and_the_file_order_is_kept() {
    let dir = test_dir("hostile_backwards");
    let text = format!("{FORK_COW}{}", ev(101, 350, "fault: addr=0x7f0000001000 access=write"));
    write(&dir, "back.events", &text);
    let run = mmdb(&dir, &["replay", "back.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(
        run.stdout.contains(
            "  event 6 (line 7) warning ts-backwards: timestamp 0.000350 is before 0.000400 of line 6; replayed in file order\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("last at 0.000350"), "the event was applied: {}", run.stdout);

    let full = real("fork-cow.ftrace");
    let mut lines: Vec<&str> = full.lines().collect();
    let ts = |l: &str| l.split(": ").next().and_then(|h| h.rsplit(' ').next()).unwrap_or_default().to_string();
    let k = (700..lines.len() - 1).find(|&k| ts(lines[k]) < ts(lines[k + 1])).expect("two records apart in time");
    let (earlier, later) = (ts(lines[k]), ts(lines[k + 1]));
    lines.swap(k, k + 1);
    write(&dir, "back.ftrace", &(lines.join("\n") + "\n"));
    let run = mmdb(&dir, &["replay", "back.ftrace"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    let want = format!(
        " warning ts-backwards: line {}: timestamp {earlier} is before {later} of line {}; replayed",
        k + 2,
        k + 1
    );
    assert!(run.stdout.contains(&want), "{want}\n{}", run.stdout);
    // Under --strict it is the first error, at its line.
    let run = mmdb(&dir, &["replay", "--strict", "back.ftrace"]);
    assert_eq!((run.status, run.stdout.as_str()), (Some(2), ""), "{}", run.render());
    assert!(run.stderr.contains(&format!("--> back.ftrace:{}:", k + 2)), "{}", run.stderr);
}

#[test]
fn duplicate_checkpoint_ids_are_errors_and_the_repeated_checkpoint_is_not_compared() {
    let dir = test_dir("hostile_duplicate_checkpoint");
    let full = real("fork-cow.ftrace");
    let dup = full
        .replace("mmdb-checkpoint begin id=2", "mmdb-checkpoint begin id=1")
        .replace("mmdb-checkpoint end id=2", "mmdb-checkpoint end id=1");
    write(&dir, "dup.ftrace", &dup);
    let run = mmdb(&dir, &["replay", "--verify", "dup.ftrace"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    let line = dup.lines().nth(1052).unwrap_or_default();
    let want = format!(
        "error: expected a new checkpoint id (id=1 began at line 815), found `id=1`\n    --> dup.ftrace:1053:{}",
        column(line, "id=1")
    );
    assert!(run.stderr.contains(&want), "{want}\n{}", run.stderr);
    assert!(run.stderr.contains("error: expected id=2 (ids start at 1 and increase by 1), found `id=3`"));
    // 4 checkpoints of 5 are compared; the original's 447 pages less checkpoint 2's.
    write(&dir, "orig.ftrace", &full);
    let original = mmdb(&dir, &["replay", "--verify", "--format", "json", "orig.ftrace"]);
    let json = mmdb(&dir, &["replay", "--verify", "--format", "json", "dup.ftrace"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let o: serde_json::Value = serde_json::from_str(&original.stdout).expect("JSON");
    assert_eq!((o["verify"]["checkpoints"].as_u64(), v["verify"]["checkpoints"].as_u64()), (Some(5), Some(4)));
    let checkpoint_2 = dup.lines().skip(1052).take(192).filter(|l| l.contains("mmdb-page ")).count() as u64;
    let pages = |v: &serde_json::Value| v["verify"]["pages"]["total"].as_u64().unwrap_or(0);
    assert_eq!(pages(&v), pages(&o) - checkpoint_2);
}

#[test]
fn markers_with_missing_fields_are_errors_at_their_place_in_the_line() {
    let dir = test_dir("hostile_marker_fields");
    let full = real("fork-cow.ftrace");
    let mut lines: Vec<String> = full.lines().map(str::to_string).collect();
    lines[847] = lines[847].replace(" kflags=0x400005828", "");
    lines[815] = lines[815].replace(" rss_kb=", " rsskb=");
    let text = lines.join("\n") + "\n";
    write(&dir, "miss.ftrace", &text);
    let run = mmdb(&dir, &["replay", "--verify", "miss.ftrace"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    let want =
        format!("error: expected `kflags=0x<hex>`, found end of line\n   --> miss.ftrace:848:{}", lines[847].len() + 1);
    assert!(run.stderr.contains(&want), "{want}\n{}", run.stderr);
    let want = format!(
        "error: expected `rss_kb=<Rss>`, found `rsskb=2048`\n   --> miss.ftrace:816:{}",
        column(&lines[815], "rsskb=")
    );
    assert!(run.stderr.contains(&want), "{want}\n{}", run.stderr);
    // The lines of the process whose rollup did not parse are out of the grammar's order: said once.
    assert_eq!(run.stderr.matches("error: expected the rollup line of pid 26340 first").count(), 1, "{}", run.stderr);
    assert!(run.stderr.ends_with("3 errors in miss.ftrace\n"), "{}", run.stderr);
    // The other pages and rollups are still compared.
    assert!(
        run.stdout.contains("  pages: 446 of 446 agree") && run.stdout.contains("  rollups: 6 of 6 agree"),
        "{}",
        run.stdout
    );
}

#[test]
fn fields_of_other_kernels_are_read_by_name_and_the_unknown_ones_noted() {
    let dir = test_dir("hostile_other_kernels");
    let full = real("fork-cow.ftrace");
    // Added (`nid=`), removed (`page=`, which mmdb does not need) and reordered fields.
    let other: String = full
        .lines()
        .map(|l| {
            let l = l.replace(": mm_page_alloc: page=", ": mm_page_alloc: nid=0 page=");
            let l = match l.split_once(": mm_page_free: ") {
                Some((head, fields)) => {
                    let mut words: Vec<&str> = fields.split(' ').filter(|w| !w.starts_with("page=")).collect();
                    words.reverse();
                    format!("{head}: mm_page_free: {}", words.join(" "))
                }
                None => l,
            };
            l + "\n"
        })
        .collect();
    assert_ne!(other, full);
    write(&dir, "other.ftrace", &other);
    write(&dir, "orig.ftrace", &full);
    let (run, orig) =
        (mmdb(&dir, &["replay", "--verify", "other.ftrace"]), mmdb(&dir, &["replay", "--verify", "orig.ftrace"]));
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert_eq!(run.stdout.replace("other.ftrace", "orig.ftrace"), orig.stdout, "the same replay");
    let first = other.lines().position(|l| l.contains("mm_page_alloc: nid=")).map_or(0, |i| i + 1);
    let count = other.lines().filter(|l| l.contains("mm_page_alloc: nid=")).count();
    assert_eq!(
        run.stderr,
        format!(
            "note: other.ftrace:{first}: `mm_page_alloc` has a field `nid` that Linux 6.18 does not print; not understood, \
             ignored ({count} lines)\n"
        )
    );
    // The REPL says so too, when it opens the trace.
    let repl = mmdb(&dir, &["repl", "other.ftrace", "--batch", "/dev/null"]);
    assert!(repl.stderr.starts_with(&run.stderr), "{}", repl.render());
    // A removed field mmdb needs makes its line an error that names it.
    let broken = other.replacen(" pfn=", " pfm=", 1);
    write(&dir, "broken.ftrace", &broken);
    let run = mmdb(&dir, &["replay", "broken.ftrace"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run.stderr.contains("error: expected a `pfn=` field, found end of line"), "{}", run.stderr);
}

#[test]
fn unknown_events_are_kept_raw_and_counted_as_unused() {
    let dir = test_dir("hostile_unknown_events");
    let full = real("fork-cow.ftrace");
    let mut lines: Vec<String> = full.lines().map(str::to_string).collect();
    let at = lines[700].find("] ").map_or(0, |i| i + 2);
    let prefix = lines[700][..at].to_string();
    let ts = lines[700][at..].split(": ").next().unwrap_or_default().trim().to_string();
    for (i, what) in [
        "sched_switch: prev_comm=a prev_pid=1 prev_prio=120 prev_state=S ==> next_comm=b next_pid=2",
        "frobnicate_widget: x=1 y=2",
        "brand_new_event",
    ]
    .iter()
    .enumerate()
    {
        lines.insert(701 + i, format!("{prefix}{ts}: {what}"));
    }
    write(&dir, "unknown.ftrace", &(lines.join("\n") + "\n"));
    write(&dir, "orig.ftrace", &full);
    let (run, orig) = (mmdb(&dir, &["replay", "unknown.ftrace"]), mmdb(&dir, &["replay", "orig.ftrace"]));
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""), "{}", run.render());
    let unused = |r: &Run| -> u64 {
        r.stdout.lines().find_map(|l| l.split(", ").nth(1)?.strip_suffix(" records unused")?.parse().ok()).unwrap_or(0)
    };
    assert_eq!(unused(&run), unused(&orig) + 3, "{}", run.stdout);
}

#[test]
fn impossible_sequences_are_diagnostics_with_lines_and_the_replay_goes_on() {
    let dir = test_dir("hostile_impossible");
    let mut text = FORK_COW.to_string();
    for (us, what) in [
        (500, "shrink_folio: pfn=0x123456"),
        (600, "fault: addr=0x1000 access=read"),
        (700, "munmap: addr=0x7f0000020000 len=0x10000"),
        (800, "munmap: addr=0x7f0000020000 len=0x10000"),
        (900, "fault: addr=0x7f0000001000 access=write"),
    ] {
        text.push_str(&ev(100, us, what));
    }
    text.push_str(&ev(999, 950, "exit:"));
    write(&dir, "impossible.events", &text);
    let run = mmdb(&dir, &["replay", "--check", "impossible.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    for want in [
        "  event 6 (line 7) info syscall-error: shrink_folio by pid 100 returned -EINVAL\n",
        "  event 7 (line 8) warning segv: fault at 0x1000 by pid 100 outside any VMA (SIGSEGV)\n",
        "  event 11 (line 12) warning unknown-pid: exit by pid 999, which the model has not seen\n",
        "violations: none\n",
    ] {
        assert!(run.stdout.contains(want), "{want}\n{}", run.stdout);
    }
    // The second munmap of the same range succeeds, as in the kernel, and the replay went on to the last fault.
    assert!(!run.stdout.contains("munmap by pid 100 returned"), "{}", run.stdout);
    assert!(run.stdout.contains("last at 0.000950") && run.stdout.contains("pgfault 3"), "{}", run.stdout);

    // In a real trace the kernel's events of pages, pids and VMAs the trace never showed are evidence of state
    // from before the trace: they are counted as unused records, or stand-ins are made, and nothing fails.
    let full = real("fork-cow.ftrace");
    let mut lines: Vec<String> = full.lines().map(str::to_string).collect();
    let ts = lines[700].split(": ").next().and_then(|h| h.rsplit(' ').next()).unwrap_or_default().to_string();
    for (i, what) in [
        "mm_page_free: page=0 pfn=0x123456789 order=0",
        "sched_process_exit: comm=ghost pid=4242 prio=120 group_dead=true",
        "page_fault_user: address=0x1000 ip=0x1 error_code=0x4",
    ]
    .iter()
    .enumerate()
    {
        lines.insert(701 + i, format!("           ghost-4242    [000] ..... {ts}: {what}"));
    }
    write(&dir, "ghost.ftrace", &(lines.join("\n") + "\n"));
    let run = mmdb(&dir, &["replay", "--verify", "ghost.ftrace"]);
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""), "{}", run.render());
    assert!(run.stdout.contains("  pages: 447 of 447 agree"), "{}", run.stdout);
}

#[test]
fn strict_stops_at_the_first_error_with_status_2() {
    let dir = test_dir("hostile_strict");
    let text = format!("{FORK_COW}{}{}", ev(100, 500, "fault: addr=0x1000 access=read"), ev(100, 600, "frob: x=1"));
    write(&dir, "two.events", &text);
    let run = mmdb(&dir, &["replay", "--strict", "two.events"]);
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert_eq!(run.stdout, "");
    let segv = text.lines().nth(6).unwrap_or_default();
    let col = column(segv, "fault:");
    let want = format!(
        "error: segv: fault at 0x1000 by pid 100 outside any VMA (SIGSEGV)\n --> two.events:7:{col}\n  |\n7 | {segv}\n  | {}^^^^^\n\n\
         mmdb: stopped at the first error in two.events (--strict)\n",
        " ".repeat(col - 1)
    );
    assert_eq!(run.stderr, want);
    // Without --strict every error is reported, the replay goes on and the status is 1.
    let run = mmdb(&dir, &["replay", "two.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run.stdout.contains("warning segv") && run.stderr.ends_with("1 error in two.events\n"), "{}", run.render());
    // A clean trace is clean under --strict too.
    write(&dir, "clean.events", FORK_COW);
    let run = mmdb(&dir, &["replay", "--strict", "clean.events"]);
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""));
    // A marker error of a real trace.
    let full = real("fork-cow.ftrace");
    write(&dir, "marker.ftrace", &full.replacen(" kflags=0x", " kflag=0x", 1));
    let run = mmdb(&dir, &["replay", "--strict", "--verify", "marker.ftrace"]);
    assert_eq!((run.status, run.stdout.as_str()), (Some(2), ""), "{}", run.render());
    assert!(run.stderr.starts_with("error: expected `kflags=0x<hex>`, found `kflag=0x"), "{}", run.stderr);
    assert!(run.stderr.ends_with("mmdb: stopped at the first error in marker.ftrace (--strict)\n"), "{}", run.stderr);
}

#[test]
fn all_errors_are_reported_and_counted_by_kind() {
    let dir = test_dir("hostile_summary");
    let mut text = FORK_COW.as_bytes().to_vec();
    text.extend_from_slice(ev(100, 500, "frob: x=1").as_bytes());
    text.extend_from_slice(ev(100, 510, "munmap: addr=0x1 len=1Q").as_bytes());
    text.extend_from_slice(b"             app-100     [000]     0.000520: exit: \xfe\n");
    text.extend_from_slice(b"             app-100     [000]     0.000530: exit: \0\n");
    write_bytes(&dir, "mixed.events", &text);
    let run = mmdb(&dir, &["replay", "mixed.events"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert_eq!(run.stderr.matches("\nerror: ").count() + usize::from(run.stderr.starts_with("error: ")), 4);
    assert_eq!(summary(&run), "4 errors in mixed.events: 2 syntax, 1 NUL byte, 1 invalid UTF-8");
    // More errors than are shown: the rest are counted.
    let many: String = "# mmdb events v1\n".to_string() + &(0..150).map(|i| ev(100, i, "frob:")).collect::<String>();
    write(&dir, "many.events", &many);
    let run = mmdb(&dir, &["replay", "many.events"]);
    assert!(run
        .stderr
        .contains("... 50 more errors not shown (--format json lists them all)\n150 errors in many.events\n"));
}

/// A real trace with more damaged lines than a replay keeps (1000): every one is counted by kind, the first ones
/// are kept, in the JSON report too, and memory does not grow with the rest.
#[test]
fn a_real_trace_keeps_its_first_errors_and_counts_them_all() {
    let dir = test_dir("hostile_many_errors");
    let full = real("fork-cow.ftrace");
    let mut text = String::new();
    for (i, line) in full.lines().enumerate() {
        text.push_str(line);
        text.push('\n');
        if i < 1500 {
            text.push_str(if i % 5 == 0 {
                "  mmdb-1 [000] ...1. 1.0: tracing_mark_write: mmdb-page pid=\n"
            } else {
                "garbage\n"
            });
        }
    }
    write(&dir, "many.ftrace", &text);
    let run = mmdb(&dir, &["replay", "many.ftrace"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(
        run.stderr.contains("... 1400 more errors not shown (--format json lists the first 1000)\n"),
        "{}",
        run.stderr
    );
    assert_eq!(summary(&run), "1500 errors in many.ftrace: 1200 syntax, 300 marker");
    assert!(run.stdout.contains("parse errors: 1500, at lines 2, 4, 6,"), "{}", run.stdout);
    let run = mmdb(&dir, &["replay", "--format", "json", "many.ftrace"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["parse_errors"].as_array().map(Vec::len), Some(1000));
    assert_eq!(json["parse_errors"][999]["line"], 2000);
    assert_eq!(
        json["parse_error_tally"],
        serde_json::json!({"total": 1500, "by_kind": [["syntax", 1200], ["marker", 300]]})
    );
    // The REPL opens it too, with the same count.
    let run = mmdb(&dir, &["repl", "many.ftrace"]);
    assert_eq!(run.status, Some(0), "{}", run.render());
    assert!(run.stderr.contains("... 1400 more errors not shown\n"), "{}", run.render());
    let want = "1500 errors in many.ftrace: 1200 syntax, 300 marker; the REPL skips those lines";
    assert!(run.stderr.lines().any(|l| l == want), "{}", run.render());
}

/// `mmdb diff` skips and reports damaged lines as `mmdb replay` does, and `--strict` stops at the first.
#[test]
fn diff_reports_damaged_lines_and_strict_stops_at_the_first() {
    let dir = test_dir("hostile_diff");
    let mut text = FORK_COW.to_string();
    text.push_str(&ev(100, 500, "munmap: addr=0x1 len=1Q"));
    write(&dir, "damaged.events", &text);
    let args = ["diff", "damaged.events", "--profile", "linux-6.18", "--profile", "linux-4.5"];
    let run = mmdb(&dir, &args);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run.stderr.contains(" --> damaged.events:7:"), "{}", run.render());
    assert_eq!(summary(&run), "1 error in damaged.events");
    assert!(!run.stdout.is_empty(), "{}", run.render());
    let run = mmdb(&dir, &[&args[..], &["--strict"]].concat());
    assert_eq!(run.status, Some(2), "{}", run.render());
    assert!(run.stderr.contains("mmdb: stopped at the first error in damaged.events (--strict)"), "{}", run.render());
    assert_eq!(run.stdout, "", "{}", run.render());
    // The same input without the damaged line: no error, and the profiles agree on it.
    write(&dir, "clean.events", FORK_COW);
    let run = mmdb(&dir, &["diff", "clean.events", "--profile", "linux-6.18", "--profile", "linux-4.5", "--strict"]);
    assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""), "{}", run.render());
}

/// fork-cow.ftrace with a loss notice before checkpoint 3 (line 1310): (the text, the notice's line).
fn with_loss() -> (String, usize) {
    let full = real("fork-cow.ftrace");
    let mut lines: Vec<&str> = full.lines().collect();
    lines.insert(1300, "CPU:1 [LOST 7 EVENTS]");
    (lines.join("\n") + "\n", 1301)
}

#[test]
fn lost_events_make_what_follows_uncertain() {
    let dir = test_dir("hostile_lost");
    let (text, at) = with_loss();
    write(&dir, "lost.ftrace", &text);
    let run = mmdb(&dir, &["replay", "--verify", "lost.ftrace"]);
    assert_eq!(run.status, Some(1), "lost events are a finding: {}", run.render());
    assert!(
        run.stdout.contains("  LOST EVENTS: 7 (the model may be wrong from the first loss on)\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("    uncertain from line {at} on: ")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("  uncertain (after the events lost at line {at}):\n")), "{}", run.stdout);
    let json = mmdb(&dir, &["replay", "--verify", "--format", "json", "lost.ftrace"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let u = &v["verify"]["uncertain"];
    assert_eq!((v["lost_events"].as_u64(), u["from_line"].as_u64()), (Some(7), Some(at as u64)));
    // Checkpoints 3 to 5 come after the loss: their pages are counted apart, the others as before.
    let after = text.lines().skip(at).filter(|l| l.contains("mmdb-page ")).count() as u64;
    let before = text.lines().take(at).filter(|l| l.contains("mmdb-page ")).count() as u64;
    assert_eq!(u["pages"]["total"].as_u64(), Some(after));
    assert_eq!(v["verify"]["pages"]["total"].as_u64(), Some(before));
    assert!(u["rss_stat"]["total"].as_u64().unwrap_or(0) > 0, "{u}");
    // Without a loss there is no `uncertain` object.
    write(&dir, "orig.ftrace", &real("fork-cow.ftrace"));
    let json = mmdb(&dir, &["replay", "--verify", "--format", "json", "orig.ftrace"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert!(v["verify"].get("uncertain").is_none() && v["lost_events"] == 0, "{}", v["verify"]);
}

#[test]
fn errors_of_a_perf_side_file_are_reported_in_that_file() {
    let dir = test_dir("hostile_side_file");
    let truth = real("fork-cow.perf.txt.truth");
    let first = truth.lines().position(|l| l.contains("mmdb-checkpoint begin id=2")).expect("checkpoint 2") + 1;
    write(&dir, "fc.perf.txt", &real("fork-cow.perf.txt"));
    let dup = truth.replace("mmdb-checkpoint begin id=2", "mmdb-checkpoint begin id=1");
    write(&dir, "fc.perf.txt.truth", &dup.replace("mmdb-checkpoint end id=2", "mmdb-checkpoint end id=1"));
    let run = mmdb(&dir, &["replay", "--verify", "fc.perf.txt", "--truth", "fc.perf.txt.truth"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run.stderr.contains(&format!("--> fc.perf.txt.truth:{first}:")), "{}", run.stderr);
    assert!(run.stderr.contains("2 errors in fc.perf.txt.truth"), "{}", run.stderr);
}

/// Records of the recorded task with values no kernel prints, each once a crash or a hang of the lowering: a
/// fault-around window that runs backwards (`attempt to subtract with overflow`) or spans 2^32 pages, an unmap or
/// MADV_DONTNEED of 128 TiB applied one page table at a time (2^26 steps), and exec layouts whose argument strings
/// span 128 TiB (2^35 pages listed) or whose stack ends below 8 (`attempt to subtract with overflow`).
#[test]
fn damaged_records_of_the_recorded_task_neither_panic_nor_hang() {
    let dir = test_dir("hostile_lowering");
    let rec = |us: u32, what: &str| format!("             app-10      [000] .....   100.{us:06}: {what}\n");
    let mut text = String::from("# tracer: nop\n");
    text.push_str("            mmdb-1       [000] ...1.   100.000001: tracing_mark_write: mmdb-record pid=10 cmd=x\n");
    for (us, what) in [
        (2, "sched_process_exec: filename=/bin/x pid=10 old_pid=10"),
        (3, "page_fault_user: address=0x400000 ip=0x1 error_code=0x4"),
        (4, "mm_filemap_map_pages: dev=1:1 ino=1 ofs=8192-4095"),
        (5, "page_fault_user: address=0x500000 ip=0x1 error_code=0x4"),
        (6, "mm_filemap_map_pages: dev=1:1 ino=1 ofs=0-17592186044415"),
        (7, "page_fault_user: address=0x500000 ip=0x1 error_code=0x4"),
        (8, "mm_filemap_map_pages: dev=1:1 ino=1 ofs=0-17592186044415"),
        (9, "sys_madvise(start: 0, len_in: 7ffffffff000, behavior: 4)"),
        (10, "rss_stat: mm_id=1 curr=1 type=MM_ANONPAGES size=0B"),
        (11, "sys_madvise -> 0x0"),
        (12, "sys_munmap(addr: 0, len: 7ffffffff000)"),
        (13, "rss_stat: mm_id=1 curr=1 type=MM_ANONPAGES size=0B"),
        (14, "sys_munmap -> 0x0"),
        (15, "sched_process_exit: comm=x pid=10 prio=120 group_dead=true"),
    ] {
        text.push_str(&rec(us, what));
    }
    write(&dir, "damaged.ftrace", &text);
    let start = Instant::now();
    let run = mmdb(&dir, &["replay", "--verify", "damaged.ftrace"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run
        .stderr
        .contains("error: expected a byte range `<first>-<last>` (first <= last) for `ofs`, found `8192-4095`"));
    assert!(run.stderr.ends_with("1 error in damaged.ftrace\n"), "{}", run.stderr);
    assert!(run.stdout.contains("real trace: "), "{}", run.stdout);
    // exec's layout markers of a 128 TiB stack whose strings would start at its bottom (one argument page per
    // page: 2^35 of them), and of a 4-byte stack.
    let mut exec = String::from("# tracer: nop\n");
    exec.push_str("            mmdb-1       [000] ...1.   100.000001: tracing_mark_write: mmdb-record pid=10 cmd=x\n");
    exec.push_str(&rec(2, "sys_execve(filename: 0x1, argv: 0x2, envp: 0x3)"));
    exec.push_str(&rec(3, "mm_page_alloc: page=0 pfn=0x1000 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE"));
    exec.push_str(&rec(4, "sched_process_exec: filename=/bin/x pid=10 old_pid=10"));
    let marker =
        |us: u32, m: &str| format!("            mmdb-1       [000] ...1.   100.{us:06}: tracing_mark_write: {m}\n");
    for (stack, arg_start) in [("start=0x1000 end=0x7ffffffff000", "0x1000"), ("start=0x0 end=0x4", "0x1")] {
        let mut t = exec.clone();
        t.push_str(&marker(
            5,
            &format!("mmdb-exec-vma pid=10 {stack} perms=rw-p offset=0x0 dev=0:0 ino=0 name=[stack]"),
        ));
        let stack_marker =
            format!("mmdb-exec pid=10 start_stack=0x1 arg_start={arg_start} arg_end=0x2000 env_end=0x7fffffffe000");
        t.push_str(&marker(6, &stack_marker));
        t.push_str(&rec(7, "sched_process_exit: comm=x pid=10 prio=120 group_dead=true"));
        write(&dir, "exec.ftrace", &t);
        let run = mmdb(&dir, &["replay", "exec.ftrace"]);
        assert_eq!((run.status, run.stderr.as_str()), (Some(0), ""), "{stack}: {}", run.render());
    }
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
}
