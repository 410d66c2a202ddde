//! Synthetic traces: a deterministic generator of a realistic, churning anonymous-memory workload.
//!
//! [`churn`] produces a `Vec<Event>` that replays cleanly into a fresh [`mmdb_model::Model`] and is meant for
//! benchmarks and soak tests. It is pure: no clock, no OS randomness, no `rand` crate. A small SplitMix64
//! generator seeded with the caller's `seed` drives every choice, so the same `(seed, n_events)` always gives the
//! same events.
//!
//! # The workload
//!
//! * **Setup.** [`ChurnConfig::processes`] long-lived processes are spawned (`spawn`), each pinned to one of
//!   [`ChurnConfig::cpus`] CPUs (it migrates now and then). With [`ChurnConfig::swap_bytes`] set, a swap device
//!   is switched on (`swapon`) first.
//! * **Address space.** Each process maps private anonymous regions (`mmap` with an address hint the generator
//!   knows to be free, so it can fault inside them): mostly small ones (1-16 pages), some medium (16-256
//!   pages) and some 2 or 4 MiB regions on a 2 MiB boundary followed by `madvise(MADV_HUGEPAGE)`, which get
//!   PMD-mapped THPs (or the huge zero folio on a read fault).
//! * **Faults.** Most events are page faults: first a sequential first-touch sweep of each region, then random
//!   writes (about three in four) and reads anywhere in the process's regions.
//! * **Fork and COW.** Processes fork short-lived children that inherit every region; a child writes to
//!   inherited pages (copy-on-write breaks, including on THPs), reads some, sometimes `exec`s first (fresh mm,
//!   then it maps and touches a small region of its own) and exits after a few dozen to a few hundred events.
//! * **Giving memory back.** `madvise(MADV_FREE)` on parts or all of a region (later re-written, which cancels
//!   the lazy free), `madvise(MADV_DONTNEED)` (which splits THPs when the range covers part of one), `munmap`
//!   of whole regions or of a region's tail (partial unmaps of THP regions split them too).
//! * **Process churn.** Long-lived processes exit now and then and are replaced by a freshly spawned one with a
//!   new pid, so the number of processes stays constant; every exit tears a whole mm down.
//! * **LRU and reclaim.** Occasional `lru_add_drain` on the acting CPU, and occasional global `reclaim` of 32 to
//!   512 pages by `kswapd0`, which frees lazy-free folios (and, with swap, swaps anonymous ones out; later
//!   faults swap them back in).
//!
//! Events alternate between processes at random, so the per-CPU batches of both CPUs fill and drain in an
//! interleaved way. Timestamps increase strictly (1-3000 ns apart). Live memory is bounded: the pages mapped by
//! all live processes together never exceed [`ChurnConfig::max_mapped_pages`] (64 Ki pages, 256 MiB, by
//! default), so a replay of millions of events stays in modest memory. The generator never lets a fault land
//! outside a VMA and never reuses a live pid, so the model reports (almost) no diagnostics.

use mmdb_model::consts::{
    HPAGE_PMD_NR, MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE,
};
use mmdb_model::{Access, Event, Op, Pid};

/// The shape of a [`churn_with`] workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChurnConfig {
    /// Long-lived processes alive at any time (children come on top).
    pub processes: usize,
    /// CPUs events are spread over.
    pub cpus: u32,
    /// Upper bound on the pages mapped by all live processes together (resident pages are at most this).
    pub max_mapped_pages: u64,
    /// Upper bound on the regions one process maps.
    pub max_regions_per_process: usize,
    /// Size of the swap device switched on at the start, in bytes; 0 (the default) for no swap.
    pub swap_bytes: u64,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        ChurnConfig { processes: 16, cpus: 2, max_mapped_pages: 64 * 1024, max_regions_per_process: 24, swap_bytes: 0 }
    }
}

/// `n_events` events of the churning workload described in the [module documentation](self), with the default
/// [`ChurnConfig`]. Deterministic: the same arguments always give the same events.
pub fn churn(seed: u64, n_events: usize) -> Vec<Event> {
    churn_with(seed, n_events, &ChurnConfig::default())
}

/// Like [`churn`], with an explicit configuration.
pub fn churn_with(seed: u64, n_events: usize, cfg: &ChurnConfig) -> Vec<Event> {
    let mut g = Gen::new(seed, n_events, cfg.clone());
    g.setup();
    while g.out.len() < n_events {
        g.step();
    }
    g.out.truncate(n_events);
    g.out
}

/// SplitMix64: tiny, fast, and good enough to pick workload actions.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Where a process's regions go: slot `k` starts at `SLOT_BASE + k * SLOT_SIZE`; slots are never reused.
const SLOT_BASE: u64 = 0x1000_0000_0000;
/// 4 MiB: room for the largest region, 2 MiB aligned so huge regions can be PMD-mapped.
const SLOT_SIZE: u64 = 2 * HPAGE_PMD_NR * PAGE_SIZE;

/// The pid and name of the task that issues `reclaim` (the model does not need to know it).
const KSWAPD_PID: Pid = 80;
const KSWAPD_COMM: &str = "kswapd0";

const COMMS: &[&str] = &["postgres", "nginx", "java", "python3", "redis-server", "node", "rustc", "chrome"];

/// One private anonymous region the generator knows to be mapped.
#[derive(Clone, Debug)]
struct Region {
    addr: u64,
    pages: u64,
    /// First-touch sweep position: pages below it have been faulted once (unless freed since).
    cursor: u64,
}

#[derive(Clone, Debug)]
struct Proc {
    pid: Pid,
    comm: String,
    cpu: u32,
    regions: Vec<Region>,
    next_slot: u64,
    /// For a forked child: events left before it exits.
    child_left: Option<u32>,
}

impl Proc {
    fn mapped_pages(&self) -> u64 {
        self.regions.iter().map(|r| r.pages).sum()
    }
}

#[derive(Debug)]
struct Gen {
    rng: Rng,
    cfg: ChurnConfig,
    ts: u64,
    next_pid: Pid,
    procs: Vec<Proc>,
    /// Pages mapped by all live processes.
    mapped: u64,
    out: Vec<Event>,
}

impl Gen {
    fn new(seed: u64, n_events: usize, cfg: ChurnConfig) -> Gen {
        Gen {
            rng: Rng(seed ^ 0x6d6d_6462_5f63_6875), // "mmdb_chu"
            cfg,
            ts: 1_000_000,
            next_pid: 1000,
            procs: Vec::new(),
            mapped: 0,
            out: Vec::with_capacity(n_events.saturating_add(8)),
        }
    }

    fn push(&mut self, comm: &str, pid: Pid, cpu: u32, op: Op) {
        self.ts += self.rng.range(1, 3000);
        self.out.push(Event { comm: comm.to_string(), pid, cpu, ts_ns: self.ts, op });
    }

    /// Emits an event of process `i`.
    fn emit(&mut self, i: usize, op: Op) {
        let p = &self.procs[i];
        let (pid, cpu) = (p.pid, p.cpu);
        let comm = std::mem::take(&mut self.procs[i].comm);
        self.push(&comm, pid, cpu, op);
        self.procs[i].comm = comm;
    }

    fn setup(&mut self) {
        if self.cfg.swap_bytes > 0 {
            let op = Op::Swapon { size: self.cfg.swap_bytes };
            self.push("swapon", 1, 0, op);
        }
        for _ in 0..self.cfg.processes.max(1) {
            self.spawn_proc();
        }
    }

    fn spawn_proc(&mut self) {
        let pid = self.alloc_pid();
        let comm = COMMS[self.rng.below(COMMS.len() as u64) as usize].to_string();
        let cpu = self.rng.below(u64::from(self.cfg.cpus.max(1))) as u32;
        self.procs.push(Proc { pid, comm: comm.clone(), cpu, regions: Vec::new(), next_slot: 0, child_left: None });
        self.push(&comm, pid, cpu, Op::Spawn { comm: comm.clone() });
    }

    fn alloc_pid(&mut self) -> Pid {
        let pid = self.next_pid;
        self.next_pid += 1;
        pid
    }

    fn step(&mut self) {
        let i = self.rng.below(self.procs.len() as u64) as usize;
        if self.cfg.cpus > 1 && self.rng.chance(5) {
            let c = &mut self.procs[i].cpu;
            *c = (*c + 1) % self.cfg.cpus;
        }
        if self.procs[i].child_left.is_some() {
            self.child_step(i);
            return;
        }
        let r = self.rng.below(1000);
        match r {
            0..450 => self.fault(i, Access::Write),
            450..600 => self.fault(i, Access::Read),
            600..650 => self.mmap(i),
            650..680 => self.munmap(i),
            680..710 => self.madvise(i, MADV_FREE),
            710..730 => self.madvise(i, MADV_DONTNEED),
            730..742 => self.fork(i),
            742..746 => self.exit_and_respawn(i),
            746..756 => self.emit(i, Op::LruAddDrain),
            756..758 => {
                let nr = self.rng.range(32, 512);
                let cpu = self.rng.below(u64::from(self.cfg.cpus.max(1))) as u32;
                self.push(KSWAPD_COMM, KSWAPD_PID, cpu, Op::Reclaim { nr, memcg: None });
            }
            _ => self.fault(i, Access::Write),
        }
    }

    /// A forked child: copy-on-write writes and reads to what it inherited, then exit.
    fn child_step(&mut self, i: usize) {
        let left = self.procs[i].child_left.unwrap_or(0);
        if left == 0 {
            self.exit(i);
            return;
        }
        self.procs[i].child_left = Some(left - 1);
        if self.procs[i].regions.is_empty() {
            self.mmap(i);
        } else if self.rng.chance(800) {
            self.fault(i, Access::Write);
        } else {
            self.fault(i, Access::Read);
        }
    }

    /// A fault somewhere in one of the process's regions; maps a region first if it has none.
    fn fault(&mut self, i: usize, access: Access) {
        if self.procs[i].regions.is_empty() {
            self.mmap(i);
            return;
        }
        let n = self.procs[i].regions.len() as u64;
        let k = self.rng.below(n) as usize;
        let sweep = self.rng.chance(700);
        let random_page = self.rng.below(self.procs[i].regions[k].pages);
        let offset = self.rng.below(PAGE_SIZE) & !7;
        let reg = &mut self.procs[i].regions[k];
        let page = if sweep && reg.cursor < reg.pages {
            reg.cursor += 1;
            reg.cursor - 1
        } else {
            random_page
        };
        let addr = reg.addr + page * PAGE_SIZE + offset;
        self.emit(i, Op::Fault { addr, access, pfn: None, around: None });
    }

    fn mmap(&mut self, i: usize) {
        let p = &self.procs[i];
        let at_limit = p.regions.len() >= self.cfg.max_regions_per_process;
        let roll = self.rng.below(100);
        let (pages, huge) = match roll {
            0..55 => (self.rng.range(1, 16), false),
            55..85 => (self.rng.range(16, 256), false),
            _ => (HPAGE_PMD_NR * self.rng.range(1, 2), true),
        };
        if at_limit || self.mapped + pages > self.cfg.max_mapped_pages {
            // No room: give memory back instead.
            if !self.procs[i].regions.is_empty() {
                self.munmap(i);
            } else {
                self.emit(i, Op::LruAddDrain);
            }
            return;
        }
        let p = &mut self.procs[i];
        let addr = SLOT_BASE + p.next_slot * SLOT_SIZE;
        p.next_slot += 1;
        p.regions.push(Region { addr, pages, cursor: 0 });
        self.mapped += pages;
        let len = pages * PAGE_SIZE;
        self.emit(
            i,
            Op::Mmap {
                addr: Some(addr),
                len,
                prot: PROT_READ | PROT_WRITE,
                flags: MAP_PRIVATE | MAP_ANONYMOUS,
                file: None,
            },
        );
        if huge {
            self.emit(i, Op::Madvise { addr, len, advice: MADV_HUGEPAGE });
        }
    }

    /// Unmaps a whole region, or its tail.
    fn munmap(&mut self, i: usize) {
        if self.procs[i].regions.is_empty() {
            self.fault(i, Access::Write);
            return;
        }
        let k = self.rng.below(self.procs[i].regions.len() as u64) as usize;
        let pages = self.procs[i].regions[k].pages;
        let keep = if pages > 1 && self.rng.chance(400) { self.rng.range(1, pages - 1) } else { 0 };
        let reg = &mut self.procs[i].regions[k];
        let addr = reg.addr + keep * PAGE_SIZE;
        let len = (pages - keep) * PAGE_SIZE;
        if keep == 0 {
            self.procs[i].regions.swap_remove(k);
        } else {
            reg.pages = keep;
            reg.cursor = reg.cursor.min(keep);
        }
        self.mapped -= pages - keep;
        self.emit(i, Op::Munmap { addr, len });
    }

    /// `MADV_FREE` or `MADV_DONTNEED` on a whole region or part of one.
    fn madvise(&mut self, i: usize, advice: i64) {
        if self.procs[i].regions.is_empty() {
            self.mmap(i);
            return;
        }
        let k = self.rng.below(self.procs[i].regions.len() as u64) as usize;
        let reg = &self.procs[i].regions[k];
        let (first, n) = if self.rng.chance(300) {
            (0, reg.pages)
        } else {
            let first = self.rng.below(reg.pages);
            let n = self.rng.range(1, (reg.pages - first).min(64));
            (first, n)
        };
        let addr = reg.addr + first * PAGE_SIZE;
        let reg = &mut self.procs[i].regions[k];
        if advice == MADV_DONTNEED && first == 0 && n == reg.pages {
            // Everything is gone: the next sweep starts over.
            reg.cursor = 0;
        }
        self.emit(i, Op::Madvise { addr, len: n * PAGE_SIZE, advice });
    }

    fn fork(&mut self, i: usize) {
        let pages = self.procs[i].mapped_pages();
        if self.mapped + pages > self.cfg.max_mapped_pages {
            self.fault(i, Access::Write);
            return;
        }
        let child = self.alloc_pid();
        self.emit(i, Op::Fork { child, thread: false });
        let mut c = self.procs[i].clone();
        c.pid = child;
        c.child_left = Some(self.rng.range(16, 320) as u32);
        if self.cfg.cpus > 1 && self.rng.chance(500) {
            c.cpu = (c.cpu + 1) % self.cfg.cpus;
        }
        self.mapped += pages;
        self.procs.push(c);
        let ci = self.procs.len() - 1;
        if self.rng.chance(250) {
            // fork + exec: the child drops the inherited mm at once.
            self.mapped -= pages;
            self.procs[ci].regions.clear();
            self.procs[ci].next_slot = 0;
            self.emit(ci, Op::Exec { filename: "/bin/sh".to_string() });
        }
    }

    fn exit(&mut self, i: usize) {
        self.emit(i, Op::Exit);
        let p = self.procs.swap_remove(i);
        self.mapped -= p.mapped_pages();
    }

    fn exit_and_respawn(&mut self, i: usize) {
        self.exit(i);
        self.spawn_proc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmdb_model::{Config, Model};
    use std::collections::BTreeSet;

    fn replay(events: &[Event]) -> Model {
        let mut model = Model::new(Config { history: false, ..Config::default() });
        for ev in events {
            model.apply(ev);
        }
        model
    }

    #[test]
    fn is_deterministic_and_exactly_as_long_as_asked() {
        let a = churn(7, 5000);
        let b = churn(7, 5000);
        assert_eq!(a.len(), 5000);
        assert_eq!(a, b);
        assert_ne!(a, churn(8, 5000));
        assert!(churn(7, 0).is_empty());
        assert_eq!(churn(7, 1).len(), 1);
        // A shorter run is a prefix of a longer one with the same seed.
        assert_eq!(&churn(7, 1234)[..], &a[..1234]);
    }

    #[test]
    fn timestamps_increase_and_both_cpus_are_used() {
        let evs = churn(1, 20_000);
        assert!(evs.windows(2).all(|w| w[0].ts_ns < w[1].ts_ns));
        let cpus: BTreeSet<u32> = evs.iter().map(|e| e.cpu).collect();
        assert_eq!(cpus, BTreeSet::from([0, 1]));
    }

    #[test]
    fn covers_the_whole_workload() {
        let evs = churn(2, 20_000);
        let ops: BTreeSet<&str> = evs.iter().map(|e| e.op.name()).collect();
        for op in ["spawn", "fork", "exec", "exit", "mmap", "munmap", "fault", "madvise", "lru_add_drain", "reclaim"] {
            assert!(ops.contains(op), "no {op} event in {ops:?}");
        }
        let advices: BTreeSet<i64> = evs
            .iter()
            .filter_map(|e| match e.op {
                Op::Madvise { advice, .. } => Some(advice),
                _ => None,
            })
            .collect();
        assert_eq!(advices, BTreeSet::from([MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE]));
    }

    #[test]
    fn replays_cleanly_with_bounded_memory() {
        let n = 20_000;
        let evs = churn(3, n);
        let model = replay(&evs);
        let diags = model.diagnostics();
        assert!(diags.len() * 100 < n, "{} diagnostics in {n} events, first: {:?}", diags.len(), diags.first());
        let violations = model.check();
        assert!(violations.is_empty(), "{violations:#?}");
        // THPs were used, COW copies made, lazy-free pages reclaimed or swap used.
        use mmdb_model::VmEvent;
        assert!(model.vm_event(VmEvent::THP_FAULT_ALLOC) > 0);
        let resident: u64 = model.folios_sorted().iter().map(|f| f.nr_pages()).sum();
        assert!(resident <= ChurnConfig::default().max_mapped_pages + 2 * HPAGE_PMD_NR, "{resident} pages resident");
    }

    #[test]
    fn replays_cleanly_with_swap() {
        let cfg = ChurnConfig { swap_bytes: 64 << 20, ..ChurnConfig::default() };
        let n = 20_000;
        for seed in [1, 2, 3] {
            let evs = churn_with(seed, n, &cfg);
            assert_eq!(evs[0].op, Op::Swapon { size: 64 << 20 });
            let model = replay(&evs);
            assert!(model.diagnostics().len() * 100 < n);
            let violations = model.check();
            assert!(violations.is_empty(), "seed {seed}: {violations:#?}");
            assert!(model.vm_event(mmdb_model::VmEvent::PSWPIN) > 0);
        }
    }

    #[test]
    fn round_trips_through_the_event_format() {
        let evs = churn(4, 3000);
        let text = mmdb_trace::write_events(&evs);
        let parsed = mmdb_trace::parse_events(&text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors.first());
        let back: Vec<Event> = parsed.events.into_iter().map(|l| l.value).collect();
        assert_eq!(back, evs);
    }
}
