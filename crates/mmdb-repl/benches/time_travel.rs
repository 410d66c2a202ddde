//! Time-travel cost: how long `goto` to a random event, `reverse-step` and `history` of the busiest page take on a
//! long synthetic trace.
//!
//! Run with `cargo bench -p mmdb-repl --bench time_travel` (optionally `-- EVENTS`, default 1,000,000). It prints
//! the setup time, the checkpoint interval, count and memory, the size of the page history the setup recorded,
//! what restoring a checkpoint costs, and the median and 90th-percentile latency of each operation. It is a measurement, not a test: nothing fails on slow numbers.
// A benchmark reads the clock; the library never does.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use mmdb_repl::program::{Program, SourceKind, Step};
use mmdb_repl::Session;

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let t = Instant::now();
    let steps: Vec<Step> = mmdb_session::synth::churn(1, n)
        .into_iter()
        .enumerate()
        .map(|(i, event)| Step { line: u32::try_from(i + 1).unwrap_or(u32::MAX), event })
        .collect();
    let program = Program { kind: SourceKind::Events, steps, ..Program::empty() };
    let mut s = Session::new("churn", program);
    println!(
        "{n} events: setup {:.2?}; a checkpoint every {} events, {} kept, {} MiB packed (PackedModel::footprint_since)",
        t.elapsed(),
        s.interval(),
        s.checkpoint_count(),
        s.checkpoint_bytes() >> 20
    );
    // A fixed pseudo-random walk (xorshift), so runs are comparable.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Restoring a checkpoint: the model exactly at one (the cursor stays at the start, far from it).
    let mut restores = Vec::new();
    for _ in 0..20 {
        let k = 1 + (next() % s.checkpoint_count().saturating_sub(1).max(1) as u64) as usize;
        let t = Instant::now();
        let m = s.model_at(k * s.interval());
        restores.push(t.elapsed());
        drop(m);
    }
    report("unpack a checkpoint", &mut restores);
    let mut gotos = Vec::new();
    let mut backs = Vec::new();
    for _ in 0..50 {
        let pos = (next() % (n as u64 + 1)) as usize;
        let t = Instant::now();
        s.seek(pos);
        gotos.push(t.elapsed());
        let t = Instant::now();
        s.seek(pos.saturating_sub(1));
        backs.push(t.elapsed());
    }
    report("goto EVENT", &mut gotos);
    report("reverse-step (first after a goto)", &mut backs);
    // Ten reverse-steps in a row, as a user walking back does.
    let mut walk = Vec::new();
    s.seek(n / 2);
    for _ in 0..10 {
        let t = Instant::now();
        s.seek(s.cursor().saturating_sub(1));
        walk.push(t.elapsed());
    }
    report("reverse-step (walking back)", &mut walk);
    // `history` of the page with the most changes, at random positions (the cursor moves there first, untimed).
    let log = std::sync::Arc::clone(&s.program().history);
    println!("page history: {} changes of {} pages, {} MiB", log.len(), log.pages(), log.footprint() >> 20);
    if let Some((pfn, changes)) = log.busiest() {
        let mut histories = Vec::new();
        for _ in 0..20 {
            s.seek((next() % (n as u64 + 1)) as usize);
            let t = Instant::now();
            let h = s.history_model().page_history(pfn);
            histories.push(t.elapsed());
            std::hint::black_box(h);
        }
        report(&format!("history of pfn {pfn:#x} ({changes} changes in all)"), &mut histories);
    }
    // The process's peak resident memory, as the kernel counts it.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(hwm) = status.lines().find(|l| l.starts_with("VmHWM:")) {
        println!("peak memory: {}", hwm.trim_start_matches("VmHWM:").trim());
    }
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort_unstable();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!("{what}: median {median:.2?}, p90 {p90:.2?} over {} runs", times.len());
}
