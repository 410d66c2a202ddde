//! churn: a busy mix of fork, faults, MADV_FREE, MADV_DONTNEED, munmap and threads for N seconds, to record the
//! large real traces the benchmarks replay (`scripts/gen-trace.sh`). It takes no checkpoints.
//!
//! Usage: `churn [SECONDS]` (default 5). Each round, until the time is up:
//! 1. the process maps a private region of 64 to 512 pages and writes every page;
//! 2. it forks a child that writes half of the region (copy-on-write), MADV_FREEs a quarter of it and exits;
//! 3. two threads each run 32 iterations of: map 1 to 256 pages, write them, MADV_FREE half, write a quarter again
//!    (which cancels the lazy free of those pages), MADV_DONTNEED an eighth, munmap; the threads are then joined,
//!    so the next fork happens in a single-threaded process;
//! 4. the process MADV_FREEs the region, writes some pages again and unmaps it.
//!
//! The sizes come from a fixed-seed xorshift generator, so runs differ only in how many rounds fit in the time.
#![forbid(unsafe_code)]
// A workload runs for a wall-clock time; the clock rule is for the model.
#![allow(clippy::disallowed_methods)]

use std::thread;
use std::time::{Duration, Instant};

use mmdb_workloads::{exit_now, fork, say, set_name, wait_child, Advice, Forked, Region};

/// xorshift64*: enough to vary sizes; the seed is fixed so that every run does the same rounds.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

/// One thread's share of a round: map, write, lazily free, re-write, zap, unmap.
fn thread_round(seed: u64) {
    let mut rng = Rng(seed | 1);
    for i in 0..32 {
        let pages = rng.range(1, 256);
        let r = Region::anon(pages);
        r.write_pages(0..pages, i as u8 | 1);
        r.madvise(0, pages / 2, Advice::Free);
        r.write_pages(0..pages / 4, 2);
        if pages >= 8 {
            r.madvise(pages - pages / 8, pages / 8, Advice::DontNeed);
        }
        r.unmap();
    }
}

fn main() {
    set_name("churn");
    let seconds: u64 = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 5,
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            say!("usage: churn [SECONDS]");
            std::process::exit(2)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rng = Rng(0x6d6d_6462);
    let mut rounds = 0u64;
    while Instant::now() < deadline {
        let pages = rng.range(64, 512);
        let region = Region::anon(pages);
        region.write_pages(0..pages, 1);
        match fork() {
            Forked::Child => {
                region.write_pages(0..pages / 2, 3);
                region.madvise(0, pages / 4, Advice::Free);
                exit_now(0)
            }
            Forked::Parent(child) => {
                wait_child(child);
            }
        }
        let seeds = [rng.next(), rng.next()];
        let threads: Vec<_> = seeds.into_iter().map(|s| thread::spawn(move || thread_round(s))).collect();
        for t in threads {
            if t.join().is_err() {
                say!("a thread panicked");
                std::process::exit(1)
            }
        }
        region.madvise(0, pages, Advice::Free);
        region.write_pages(0..pages / 8, 4);
        region.unmap();
        rounds += 1;
    }
    say!("{rounds} rounds in {seconds} s");
}
