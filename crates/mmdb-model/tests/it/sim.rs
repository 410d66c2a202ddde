//! `Sim`: a small driver that applies events, runs the full invariant check after every one, and renders
//! page state as one line of text.

use mmdb_model::mm::Pte;
use mmdb_model::*;

pub const PG: u64 = PAGE_SIZE;

pub struct Sim {
    pub m: Model,
    pub ts: u64,
    pub cpu: u32,
    /// Findings `check()` reports that a test expects (the kernel era's, not the model's): not failures.
    pub expected_findings: Vec<&'static str>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with_profile(Profile::Linux618)
    }

    /// A simulation under a kernel profile.
    pub fn with_profile(profile: Profile) -> Sim {
        Sim { m: Model::new(Config { profile, ..Config::default() }), ts: 0, cpu: 0, expected_findings: Vec::new() }
    }

    pub fn ev(&mut self, pid: Pid, op: Op) -> Option<i64> {
        self.ts += 1000;
        let ev = Event { comm: "t".into(), pid, cpu: self.cpu, ts_ns: self.ts, op };
        let out = self.m.apply(&ev);
        let mut v = self.m.check();
        v.retain(|v| !self.expected_findings.contains(&v.invariant.as_str()));
        assert!(v.is_empty(), "invariants broken after {ev:?}:\n{v:#?}");
        out.ret
    }

    pub fn spawn(&mut self, pid: Pid) {
        assert_eq!(self.ev(pid, Op::Spawn { comm: "app".into() }), Some(0));
    }

    pub fn mmap(&mut self, pid: Pid, len: u64) -> u64 {
        let r = self.ev(
            pid,
            Op::Mmap { addr: None, len, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS, file: None },
        );
        let r = r.expect("mmap returns");
        assert!(r > 0, "mmap failed: {r}");
        r as u64
    }

    pub fn write(&mut self, pid: Pid, addr: u64, len: u64) {
        let mut a = addr;
        while a < addr + len {
            self.ev(pid, Op::Fault { addr: a, access: Access::Write, pfn: None, around: None });
            a += PG;
        }
    }

    /// Stores to every page of the range: a fault only where the PTE does not allow the write.
    pub fn store(&mut self, pid: Pid, addr: u64, len: u64) {
        let mut a = addr;
        while a < addr + len {
            self.ev(pid, Op::Touch { addr: a, access: Access::Write });
            a += PG;
        }
    }

    pub fn read(&mut self, pid: Pid, addr: u64, len: u64) {
        let mut a = addr;
        while a < addr + len {
            self.ev(pid, Op::Fault { addr: a, access: Access::Read, pfn: None, around: None });
            a += PG;
        }
    }

    pub fn madvise(&mut self, pid: Pid, addr: u64, len: u64, advice: i64) -> i64 {
        self.ev(pid, Op::Madvise { addr, len, advice }).unwrap()
    }

    pub fn drain(&mut self) {
        self.ev(0, Op::LruAddDrainAll);
    }

    /// A new region of `pages` written pages, all given to MADV_FREE and drained: lazyfree on the LRU.
    pub fn lazyfree_region(&mut self, pid: Pid, pages: u64) -> u64 {
        let a = self.mmap(pid, pages * PG);
        self.write(pid, a, pages * PG);
        assert_eq!(self.madvise(pid, a, pages * PG, MADV_FREE), 0);
        self.drain();
        a
    }

    pub fn pfn(&self, pid: Pid, addr: u64) -> Option<u64> {
        match self.m.lookup(pid, addr) {
            Some(Pte::Present(p)) => Some(p.pfn),
            _ => None,
        }
    }

    pub fn vm(&self, e: VmEvent) -> u64 {
        self.m.vm_event(e)
    }

    /// One line: the PTE bits, then the page's mapcount, refcount, flags, LRU and batches.
    pub fn page(&self, pid: Pid, addr: u64) -> String {
        let pte = match self.m.lookup(pid, addr) {
            None | Some(Pte::None) => return "none".into(),
            Some(Pte::Swap { entry, exclusive }) => return format!("swap entry={entry:#x} excl={}", exclusive as u8),
            Some(Pte::Vrange) => return "vrange".into(),
            Some(Pte::Present(p)) => p,
        };
        let bits = format!(
            "{}{}{}",
            if pte.write { "W" } else { "-" },
            if pte.dirty { "D" } else { "-" },
            if pte.young { "A" } else { "-" }
        );
        if pte.special {
            return format!("{bits} zero-page");
        }
        let Some(i) = self.m.page_info(pte.pfn) else {
            return format!("{bits} pfn {:#x} FREED", pte.pfn);
        };
        let flags: Vec<&str> =
            i.flags.iter().map(|f| f.trim_start_matches("PG_")).filter(|f| *f != "uptodate").collect();
        format!(
            "{bits} map={} ref={} [{}] lru={}{}",
            i.mapcount,
            i.refcount,
            flags.join(" "),
            i.lru.unwrap_or("-"),
            if i.batches.is_empty() { String::new() } else { format!(" batch={}", i.batches.join(",")) }
        )
    }

    /// `page()` for `n` consecutive pages, one per line, prefixed by the page index.
    pub fn pages(&self, pid: Pid, addr: u64, n: u64) -> String {
        (0..n).map(|i| format!("{i:>2} {}\n", self.page(pid, addr + i * PG))).collect()
    }

    pub fn rss(&self, pid: Pid) -> (i64, i64, i64, i64) {
        let r = self.m.rss(pid).unwrap();
        (r.file, r.anon, r.swapents, r.shmem)
    }
}
