//! Replay is deterministic: two runs over the same input give byte-identical reports, in both formats, for the
//! hand-written traces, a real recording with its ground truth, and random mm event traces (damaged lines,
//! impossible sequences and timestamps going backwards included).

use mmdb_session::verify::{render_real_json, render_real_text, replay_trace};
use mmdb_session::{render_json, render_text, replay, ReplayOptions};
use mmdb_trace::{parse_ftrace, parse_perf, parse_truth_sidefile};

/// `traces/` from this crate.
const TRACES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Both renderings of a replay of `src` with the invariant checker on.
fn mm_reports(src: &[u8]) -> (String, String) {
    let r = replay(src, &ReplayOptions { check: true, history: true, ..ReplayOptions::default() });
    (render_text(&r, "t"), render_json(&r, "t"))
}

#[test]
fn hand_written_traces_replay_to_identical_reports() {
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(TRACES)
        .expect("traces/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "events"))
        .collect();
    names.sort();
    assert!(names.len() > 10, "{names:?}");
    for path in names {
        let src = read(&path.display().to_string());
        assert_eq!(mm_reports(&src), mm_reports(&src), "{}", path.display());
    }
}

#[test]
fn real_recordings_replay_to_identical_reports() {
    let ftrace = parse_ftrace(&read(&format!("{TRACES}/real/fork-cow.ftrace")));
    let reports = || {
        let r = replay_trace(&ftrace, None);
        (render_real_text(&r, "t", true), render_real_json(&r, "t"))
    };
    assert_eq!(reports(), reports());
    let perf = parse_perf(&read(&format!("{TRACES}/real/fork-cow.perf.txt")));
    let (markers, errors) = parse_truth_sidefile(&read(&format!("{TRACES}/real/fork-cow.perf.txt.truth")));
    assert!(errors.is_empty());
    let reports = || {
        let r = replay_trace(&perf, Some(&markers));
        (render_real_text(&r, "t", true), render_real_json(&r, "t"))
    };
    assert_eq!(reports(), reports());
}

/// A small deterministic random number generator (xorshift64*): this crate has no proptest, and a fixed seed
/// makes a failure reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One line of a random mm event trace: an operation of one of four tasks in a small address range, or a damaged
/// line. Timestamps are random too, so some go backwards.
fn line(rng: &mut Rng) -> String {
    let page = |rng: &mut Rng| 0x7f00_0000_0000u64 + rng.below(600) * 4096;
    let op = match rng.below(12) {
        0 => "spawn: comm=app".to_string(),
        1 => "mmap: addr=0x7f0000000000 len=0x200000 prot=PROT_READ|PROT_WRITE flags=MAP_PRIVATE|MAP_ANONYMOUS"
            .to_string(),
        2..=4 => format!("fault: addr={:#x} access={}", page(rng), ["read", "write"][rng.below(2) as usize]),
        5 => {
            let advice = ["MADV_FREE", "MADV_DONTNEED", "MADV_COLD", "MADV_PAGEOUT"][rng.below(4) as usize];
            format!("madvise: addr={:#x} len={} advice={advice}", page(rng), (1 + rng.below(64)) * 4096)
        }
        6 => format!("munmap: addr={:#x} len={}", page(rng), (1 + rng.below(64)) * 4096),
        7 => format!("fork: child={}", 100 + rng.below(4)),
        8 => "exit:".to_string(),
        9 => format!("reclaim: nr={}", 1 + rng.below(64)),
        10 => "swapon: size=1M".to_string(),
        _ => "frob: x=1".to_string(),
    };
    let (pid, cpu, us) = (100 + rng.below(4), rng.below(2), rng.below(1000));
    format!("             app-{pid}     [{cpu:03}]     0.{us:06}: {op}\n")
}

#[test]
fn random_traces_replay_to_identical_reports() {
    let mut rng = Rng(0x6d6d_6462_6465_7465);
    for case in 0..64 {
        let n = rng.below(80);
        let src = format!("# mmdb events v1\n{}", (0..n).map(|_| line(&mut rng)).collect::<String>());
        assert_eq!(mm_reports(src.as_bytes()), mm_reports(src.as_bytes()), "case {case}:\n{src}");
    }
}
