//! `mmdb run` over every scenario of `scripts/`: each must pass its own assertions, its output and final report are
//! snapshots (each a reviewed claim about kernel state), and the trace it emits must replay to the same report.
//! Then the command's edges: errors with their location, exit statuses, profiles, and `mmdb SCRIPT.rhai`.

use std::path::Path;
use std::process::Command;

use super::{mmdb, test_dir, write, Run};

/// `scripts/`, relative to this file's directory (what `insta::glob!` resolves against).
const SCRIPTS: &str = "../../../../scripts";
/// `scripts/seeds/`, the scenarios of the seed discussions.
const SEEDS: &str = "../../../../scripts/seeds";
/// The repository's top-level `snapshots/`, relative to this file's directory.
const SNAPSHOTS: &str = "../../../../snapshots";

/// Runs `mmdb args…` in the repository root.
fn mmdb_in_root(args: &[&str]) -> Run {
    mmdb(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")), args, None)
}

/// The report part of `mmdb run --report` output: from its `mmdb replay:` header on.
fn report_of(stdout: &str) -> &str {
    let at = stdout.find("mmdb replay: ").unwrap_or_else(|| panic!("no report in:\n{stdout}"));
    &stdout[at..]
}

#[test]
fn every_script_passes_and_replays_to_the_same_state() {
    let out = test_dir("scripts_roundtrip");
    insta::glob!(SCRIPTS, "*.rhai", |path| {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let name = format!("scripts/{file}");
        let run = mmdb_in_root(&["run", &name, "--report"]);
        assert_eq!(run.status, Some(0), "{name}:\n{}", run.render());
        assert_eq!(run.stderr, "", "{name}");
        insta::with_settings!({
            snapshot_path => SNAPSHOTS,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("mmdb run {name} --report"),
        }, {
            insta::assert_snapshot!("script", run.render());
        });

        // The emitted trace replays (with the invariant checker) to the report the run printed.
        let trace = out.join(file.replace(".rhai", ".events"));
        let trace = trace.to_string_lossy();
        let run = mmdb_in_root(&["run", &name, "--emit-trace", &trace, "--report"]);
        assert_eq!(run.status, Some(0), "{name}:\n{}", run.render());
        let replay = mmdb_in_root(&["replay", "--check", &trace]);
        assert_eq!(replay.stderr, "", "{name}: the emitted trace does not parse:\n{}", replay.render());
        assert_eq!(report_of(&run.stdout), replay.stdout, "{name}: the replay of its trace differs from the run");
    });
}

/// A script with a runtime error inside a function, and one that does not parse.
const BROKEN: &str = "\
let p = spawn(\"app\");
fn check(p, a) {
    assert_eq(p.load(a), 1, \"the page holds 1\");
}
let a = p.mmap(PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
print(`mapped at ${a.to_hex()}`);
check(p, a);
";

#[test]
fn errors_name_the_script_line_and_column() {
    let dir = test_dir("script_errors");
    write(&dir, "broken.rhai", BROKEN);
    let run = mmdb(&dir, &["run", "broken.rhai", "--emit-trace", "broken.events"], None);
    assert_eq(&run, 1);
    assert_eq!(
        run.stderr,
        "error: assertion failed: the page holds 1\n \
         --> broken.rhai:3:5\n  |\n3 |     assert_eq(p.load(a), 1, \"the page holds 1\");\n  |     ^^^^^^^^^\n  \
         = note: left:  0\n  = note: right: 1\n  = note: in function `check`, called at line 7, column 1\n",
        "{}",
        run.render()
    );
    assert_eq!(run.stdout, "mapped at 7efffffff000\n");
    // The events before the failure are still written.
    let trace = std::fs::read_to_string(dir.join("broken.events")).unwrap_or_default();
    assert_eq!(trace.lines().filter(|l| !l.starts_with('#')).count(), 3, "{trace}");

    write(&dir, "syntax.rhai", "let p = spawn(\"app\");\nlet x = p.mmap(;\n");
    let run = mmdb(&dir, &["run", "syntax.rhai"], None);
    assert_eq(&run, 1);
    assert!(run.stderr.starts_with("error: ") && run.stderr.contains("--> syntax.rhai:2:"), "{}", run.render());

    write(
        &dir,
        "store.rhai",
        "let p = spawn(\"app\");\nlet a = p.mmap(PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);\np.store(a, 5);\n",
    );
    let run = mmdb(&dir, &["run", "store.rhai"], None);
    assert_eq(&run, 1);
    assert!(run.stderr.contains("did not happen") && run.stderr.contains("--> store.rhai:3:3"), "{}", run.render());
}

/// Asserts the exit status, showing the run when it differs.
fn assert_eq(run: &Run, status: i32) {
    assert_eq!(run.status, Some(status), "{}", run.render());
}

#[test]
fn usage_errors_exit_2() {
    let dir = test_dir("script_usage");
    write(&dir, "ok.rhai", "print(1);\n");
    let run = mmdb(&dir, &["run", "missing.rhai"], None);
    assert_eq(&run, 2);
    assert!(run.stderr.starts_with("mmdb: cannot read missing.rhai"), "{}", run.render());
    let run = mmdb(&dir, &["run", "ok.rhai", "--profile", "linux-5.10"], None);
    assert_eq(&run, 2);
    assert!(
        run.stderr.contains("unknown profile `linux-5.10`; `mmdb profiles` lists them: linux-6.18"),
        "{}",
        run.stderr
    );
    let run = mmdb(&dir, &["run", "ok.rhai", "--profile", "linux-6.18"], None);
    assert_eq(&run, 0);
    assert_eq!(run.stdout, "1\n");
    let run = mmdb(&dir, &["run", "ok.rhai", "--emit-trace", "no/such/dir/out.events"], None);
    assert_eq(&run, 2);
    let run = mmdb(&dir, &["run", "--help"], None);
    assert_eq(&run, 0);
    for needle in ["--emit-trace", "--profile", "--report", "Exit status", "130"] {
        assert!(run.stdout.contains(needle), "run --help lacks {needle}:\n{}", run.stdout);
    }
}

#[test]
fn the_sandbox_stops_runaway_scripts() {
    let dir = test_dir("script_sandbox");
    write(&dir, "loop.rhai", "let n = 0;\nloop { n += 1; }\n");
    let run = mmdb(&dir, &["run", "loop.rhai"], None);
    assert_eq(&run, 1);
    assert!(run.stderr.contains("sandbox limit") && run.stderr.contains("loop.rhai:2:"), "{}", run.render());
    write(&dir, "file.rhai", "import \"/etc/passwd\" as x;\n");
    let run = mmdb(&dir, &["run", "file.rhai"], None);
    assert_eq(&run, 1);
}

#[test]
fn ctrl_c_stops_a_running_script() {
    let dir = test_dir("script_interrupt");
    write(&dir, "forever.rhai", "print(\"started\");\nlet n = 0;\nloop { n += 1; }\n");
    let child = match Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(["run", "forever.rhai", "--emit-trace", "forever.events"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => panic!("cannot run mmdb: {err}"),
    };
    // Wait until it catches SIGINT (bit 1 of SigCgt in /proc/PID/status), then send it.
    let status = format!("/proc/{}/status", child.id());
    let catches_sigint = || {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        let mask = text.lines().find_map(|l| l.strip_prefix("SigCgt:")).map(str::trim).unwrap_or("0");
        u64::from_str_radix(mask, 16).is_ok_and(|m| m & 2 != 0)
    };
    for _ in 0..1000 {
        if catches_sigint() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The handler is installed before the script is compiled and run: give it time to print `started` and
    // enter its endless loop, so that the output before Ctrl-C is there to keep.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    if let Err(err) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT) {
        panic!("cannot signal mmdb: {err}");
    }
    let out = match child.wait_with_output() {
        Ok(out) => out,
        Err(err) => panic!("mmdb did not finish: {err}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.starts_with("error: interrupted"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "started\n");
    assert!(dir.join("forever.events").exists(), "the trace is written on Ctrl-C too");
}

#[test]
fn a_script_opens_in_the_repl_on_its_events() {
    let dir = test_dir("script_repl");
    write(&dir, "s.rhai", "let p = spawn(\"app\");\nlet a = p.mmap(PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);\np.store(a, 9);\nprint(\"done\");\n");
    let run = mmdb(&dir, &["s.rhai"], Some("goto end\nwhere\n"));
    assert_eq(&run, 0);
    assert_eq!(
        run.stdout,
        "done\nmmdb repl: s.rhai: 3 mm events; the cursor is at the start\n(mmdb) goto end\n\
         event 3 of 3, line 5, 1.000030: app-100 [000] store: addr=0x7efffffff000 value=9\n(mmdb) where\n\
         event 3 of 3, line 5, 1.000030: app-100 [000] store: addr=0x7efffffff000 value=9\n",
        "{}",
        run.render()
    );
    // A failing script still opens, on the events before the failure.
    write(&dir, "bad.rhai", "let p = spawn(\"app\");\nassert(false, \"stop\");\n");
    let run = mmdb(&dir, &["repl", "bad.rhai"], Some("where\n"));
    assert_eq(&run, 0);
    assert!(run.stderr.contains("--> bad.rhai:2:1"), "{}", run.render());
    assert!(run.stdout.starts_with("mmdb repl: bad.rhai: 1 mm events"), "{}", run.render());
}

/// The seed scenarios (`scripts/seeds/`) under each profile they name in a `// profiles: A B ...` line (every
/// profile when they name none): one snapshot per script holding each profile's output, so a reviewer reads the
/// profiles side by side.
#[test]
fn seed_scripts_under_their_profiles() {
    let profiles = mmdb_in_root(&["profiles"]);
    assert_eq!(profiles.status, Some(0), "{}", profiles.render());
    let known: Vec<&str> = profiles.stdout.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(known.contains(&"linux-6.18") && known.len() > 1, "{}", profiles.stdout);
    insta::glob!(SEEDS, "*.rhai", |path| {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let name = format!("scripts/seeds/{file}");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let named: Vec<&str> = text
            .lines()
            .find_map(|l| l.strip_prefix("// profiles:"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_else(|| known.clone());
        for p in &named {
            assert!(known.contains(p), "{name} names profile {p}, which `mmdb profiles` does not list");
        }
        assert!(named.len() > 1, "{name}: a seed scenario compares at least two profiles");
        let mut all = String::new();
        for profile in &named {
            let run = mmdb_in_root(&["run", &name, "--profile", profile]);
            assert_eq!(run.status, Some(0), "{name} under {profile}:\n{}", run.render());
            all.push_str(&format!("===== --profile {profile}\n{}", run.stdout));
        }
        insta::with_settings!({
            snapshot_path => SNAPSHOTS,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("mmdb run {name} --profile P, for each profile P its `// profiles:` line names"),
            snapshot_suffix => file,
        }, {
            insta::assert_snapshot!("seed", all);
        });
    });
}

/// `mmdb diff` finds where two profiles part, and nothing where they agree.
#[test]
fn diff_reports_the_first_difference_between_profiles() {
    let seed = "scripts/seeds/large-folio-sharers.rhai";
    let run = mmdb_in_root(&["diff", seed, "--profile", "sharers-estimated", "--profile", "sharers-precise"]);
    assert_eq!(run.status, Some(1), "{}", run.render());
    assert!(run.stdout.contains("first difference after event"), "{}", run.stdout);
    assert!(run.stdout.contains("advice=MADV_FREE"), "{}", run.stdout);
    let same = mmdb_in_root(&["diff", seed, "--profile", "linux-6.18", "--profile", "sharers-precise"]);
    assert_eq!(same.status, Some(0), "{}", same.render());
    assert!(same.stdout.contains("no difference"), "{}", same.stdout);
    let json =
        mmdb_in_root(&["diff", seed, "--profile", "sharers-total", "--profile", "sharers-precise", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["a"], "sharers-total");
    assert!(v["first"]["event"].as_u64().is_some(), "{}", json.stdout);
    let bad = mmdb_in_root(&["diff", seed, "--profile", "linux-9.9", "--profile", "sharers-precise"]);
    assert_eq!(bad.status, Some(2));
    assert!(bad.stderr.contains("unknown profile `linux-9.9`"), "{}", bad.stderr);
}
