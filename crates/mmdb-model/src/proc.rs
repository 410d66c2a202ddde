//! What `/proc` would show: smaps rollups computed like fs/proc/task_mmu.c (`smaps_account`,
//! `smaps_page_accumulate`), and the replay [`Report`].

use crate::consts::*;
use crate::flags::VmFlags;
use crate::folio::{Folio, LruList, MmId};
use crate::mm::{Pte, Vma, MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES};
use crate::model::Model;
use crate::report::*;
use crate::vmstat::VmEvent;

/// `PSS_SHIFT`: Pss is accumulated in fixed point.
const PSS_SHIFT: u32 = 12;

#[derive(Default)]
struct Mss {
    rss: u64,
    pss: u64,
    shared_clean: u64,
    shared_dirty: u64,
    private_clean: u64,
    private_dirty: u64,
    referenced: u64,
    anon: u64,
    lazyfree: u64,
    anonhuge: u64,
    swap: u64,
    pss_locked: u64,
    /// The part of `pss` from pre-trace page-cache pages (`Folio::pre_trace`), whose true share may be smaller.
    pss_pre_trace: u64,
    /// The part of `lazyfree` mapped by a clean, writable PTE or PMD: a store through it sets the dirty bit in
    /// hardware, with no fault and no event, and takes the page out of the kernel's LazyFree.
    lazyfree_silent: u64,
}

/// The bits of the PTE or PMD that `smaps_account()` is given, and the write bit, which it is not: that one only
/// tells whether the CPU could have set the dirty bit since the model last saw the entry.
#[derive(Clone, Copy)]
struct EntryBits {
    young: bool,
    dirty: bool,
    write: bool,
}

impl Mss {
    /// `smaps_page_accumulate()`.
    fn accumulate(&mut self, size: u64, pss: u64, dirty: bool, locked: bool, private: bool) {
        self.pss += pss;
        if locked {
            self.pss_locked += pss;
        }
        match (dirty, private) {
            (true, true) => self.private_dirty += size,
            (true, false) => self.shared_dirty += size,
            (false, true) => self.private_clean += size,
            (false, false) => self.shared_clean += size,
        }
    }

    /// `smaps_account()` (7.2:947), for the page table entry `e` that maps `f` from its page `first_page`.
    fn account(&mut self, f: &Folio, first_page: usize, compound: bool, e: EntryBits, locked: bool) {
        let EntryBits { young, dirty, write } = e;
        let nr = if compound { f.nr_pages() } else { 1 };
        let size = nr * PAGE_SIZE;
        if f.is_anon() {
            self.anon += size;
            if !f.flags.test_swapbacked() && !dirty && !f.flags.test_dirty() {
                self.lazyfree += size;
                if write {
                    self.lazyfree_silent += size;
                }
            }
        }
        self.rss += size;
        if young || f.flags.test_young() || f.flags.test_referenced() {
            self.referenced += size;
        }
        let dirty = dirty || f.flags.test_dirty();
        if f.refcount == 1 {
            self.accumulate(size, size << PSS_SHIFT, dirty, locked, true);
            return;
        }
        for i in 0..nr as usize {
            let mapcount = f.page_mapcount(first_page + i).max(1) as u64;
            let pss = (PAGE_SIZE << PSS_SHIFT) / mapcount;
            self.accumulate(PAGE_SIZE, pss, dirty, locked, mapcount < 2);
            if f.pre_trace {
                self.pss_pre_trace += pss;
            }
        }
    }

    fn rollup(&self) -> SmapsRollup {
        SmapsRollup {
            rss_kb: self.rss >> 10,
            pss_kb: self.pss >> (10 + PSS_SHIFT),
            shared_clean_kb: self.shared_clean >> 10,
            shared_dirty_kb: self.shared_dirty >> 10,
            private_clean_kb: self.private_clean >> 10,
            private_dirty_kb: self.private_dirty >> 10,
            referenced_kb: self.referenced >> 10,
            anon_kb: self.anon >> 10,
            lazyfree_kb: self.lazyfree >> 10,
            anonhuge_kb: self.anonhuge >> 10,
            swap_kb: self.swap >> 10,
            locked_kb: self.pss_locked >> (10 + PSS_SHIFT),
        }
    }

    fn add(&mut self, o: &Mss) {
        self.rss += o.rss;
        self.pss += o.pss;
        self.shared_clean += o.shared_clean;
        self.shared_dirty += o.shared_dirty;
        self.private_clean += o.private_clean;
        self.private_dirty += o.private_dirty;
        self.referenced += o.referenced;
        self.anon += o.anon;
        self.lazyfree += o.lazyfree;
        self.anonhuge += o.anonhuge;
        self.swap += o.swap;
        self.pss_locked += o.pss_locked;
        self.pss_pre_trace += o.pss_pre_trace;
        self.lazyfree_silent += o.lazyfree_silent;
    }
}

impl Model {
    fn smaps_vma(&self, mm: MmId, v: &Vma) -> Mss {
        let m = self.mm(mm);
        let locked = v.flags.contains(VmFlags::VM_LOCKED);
        let mut mss = Mss::default();
        for (_, h) in m.huge_pmds_in(v.start, v.end) {
            if h.huge_zero {
                continue;
            }
            if let Some(f) = self.folios.get(&h.pfn) {
                if f.is_anon() {
                    mss.anonhuge += f.nr_pages() * PAGE_SIZE;
                }
                mss.account(f, 0, true, EntryBits { young: h.young, dirty: h.dirty, write: h.write }, locked);
            }
        }
        for (_, pte) in m.populated_ptes(v.start, v.end) {
            match pte {
                Pte::Present(p) if !p.special => {
                    if let Some(f) = self.folio(p.pfn) {
                        let e = EntryBits { young: p.young, dirty: p.dirty, write: p.write };
                        mss.account(f, (p.pfn - f.pfn) as usize, false, e, locked);
                    }
                }
                Pte::Swap { .. } => mss.swap += PAGE_SIZE,
                _ => {}
            }
        }
        mss
    }

    /// `/proc/PID/smaps_rollup` for the process `pid`.
    pub fn smaps_rollup(&self, pid: u32) -> Option<SmapsRollup> {
        self.smaps_rollup_bounds(pid).map(|(s, _)| s)
    }

    /// [`Model::smaps_rollup`] with the lowest values the kernel can show for the fields no event pins down
    /// exactly ([`SmapsLow`]). The rollup itself is the model's best answer and the highest the kernel can show.
    pub fn smaps_rollup_bounds(&self, pid: u32) -> Option<(SmapsRollup, SmapsLow)> {
        let mm = self.task_mm(pid)?;
        let mut total = Mss::default();
        for v in self.mm(mm).vmas.values() {
            total.add(&self.smaps_vma(mm, v));
        }
        let low = SmapsLow {
            pss_kb: (total.pss - total.pss_pre_trace) >> (10 + PSS_SHIFT),
            lazyfree_kb: (total.lazyfree - total.lazyfree_silent) >> 10,
        };
        Some((total.rollup(), low))
    }

    /// `mm->rss_stat` of the process `pid`, in pages.
    pub fn rss(&self, pid: u32) -> Option<RssCounters> {
        let mm = self.task_mm(pid)?;
        let r = self.mm(mm).rss;
        Some(RssCounters { file: r[0], anon: r[1], swapents: r[2], shmem: r[3] })
    }

    /// `RssLazyfree` of the process `pid`, in pages: the never-merged MM_LAZYFREEPAGES, which only the
    /// `lazyfree-rss` profiles keep.
    pub fn rss_lazyfree(&self, pid: u32) -> Option<i64> {
        self.cfg.profile.lazyfree_rss()?;
        Some(self.mm(self.task_mm(pid)?).lazyfree_rss)
    }

    /// `/proc/PID/statm` of the process `pid` (`task_statm()`), in pages.
    pub fn statm(&self, pid: u32) -> Option<Statm> {
        let m = self.mm(self.task_mm(pid)?);
        let pages = |v: &Vma| (v.end - v.start) >> PAGE_SHIFT;
        let (write, shared, stack) = (VmFlags::VM_WRITE.0, VmFlags::VM_SHARED.0, VmFlags::VM_GROWSDOWN.0);
        // vm_stat_account(): is_data_mapping() and is_stack_mapping() (VM_STACK is VM_GROWSDOWN on x86).
        let data = |v: &&Vma| v.flags.0 & (write | shared | stack) == write || v.flags.0 & stack != 0;
        let counter = |i: usize| m.rss[i].max(0) as u64;
        let (file, anon, shmem) = (counter(MM_FILEPAGES), counter(MM_ANONPAGES), counter(MM_SHMEMPAGES));
        Some(Statm {
            size: m.vmas.values().map(pages).sum(),
            resident: file + anon + shmem,
            shared: file + shmem,
            text: 0,
            lib: 0,
            data: m.vmas.values().filter(data).map(pages).sum(),
            dt: 0,
            lazyfree: self.cfg.profile.lazyfree_rss().map(|_| m.lazyfree_rss.max(0) as u64),
        })
    }

    fn vma_name(&self, v: &Vma) -> String {
        if let Some(n) = &v.special_name {
            return n.clone();
        }
        match v.file {
            Some(f) => self.files[f as usize].name.clone(),
            None => "[anon]".to_string(),
        }
    }

    /// The report of the current state.
    pub fn report(&self) -> Report {
        let mut processes = Vec::new();
        for t in self.tasks.values() {
            let Some(mm) = t.mm else { continue };
            // One entry per thread group: the leader, or the lowest pid left of the group.
            if t.pid != t.tgid && self.tasks.contains_key(&t.tgid) {
                continue;
            }
            if t.pid != t.tgid && self.tasks.values().any(|o| o.tgid == t.tgid && o.pid < t.pid) {
                continue;
            }
            let m = self.mm(mm);
            let mut total = Mss::default();
            let mut vmas = Vec::new();
            for v in m.vmas.values() {
                let mss = self.smaps_vma(mm, v);
                total.add(&mss);
                let extra: Vec<String> = v
                    .flags
                    .names()
                    .into_iter()
                    .filter(|n| {
                        !matches!(
                            *n,
                            "VM_READ"
                                | "VM_WRITE"
                                | "VM_EXEC"
                                | "VM_SHARED"
                                | "VM_MAYREAD"
                                | "VM_MAYWRITE"
                                | "VM_MAYEXEC"
                                | "VM_MAYSHARE"
                                | "VM_ACCOUNT"
                                | "VM_NORESERVE"
                        )
                    })
                    .map(str::to_string)
                    .collect();
                vmas.push(VmaReport {
                    start: v.start,
                    end: v.end,
                    perms: v.flags.perms(),
                    flags: extra,
                    offset: if v.file.is_some() { v.pgoff << PAGE_SHIFT } else { 0 },
                    name: self.vma_name(v),
                    smaps: mss.rollup(),
                });
            }
            processes.push(ProcessReport {
                pid: t.pid,
                tgid: t.tgid,
                comm: t.comm.clone(),
                mm_id: mm,
                memcg: m.memcg,
                vmas,
                rss: RssCounters { file: m.rss[0], anon: m.rss[1], swapents: m.rss[2], shmem: m.rss[3] },
                smaps: total.rollup(),
                rss_lazyfree: self.cfg.profile.lazyfree_rss().map(|_| m.lazyfree_rss),
            });
        }
        let mut pages = PageTotals::default();
        for f in self.folios.values() {
            if Some(f.pfn) == self.huge_zero {
                continue;
            }
            let nr = f.nr_pages();
            pages.folios += 1;
            pages.pages += nr;
            if f.is_anon() {
                pages.anon += nr;
            } else {
                pages.file += nr;
            }
            if f.mapped() {
                pages.mapped += nr;
            } else {
                pages.unmapped += nr;
            }
            if f.is_lazyfree() {
                pages.lazyfree += nr;
            }
            if f.is_large() {
                pages.thp += nr;
            }
            if f.flags.test_swapcache() {
                pages.swapcache += nr;
            }
            if f.refs.batch > 0 {
                pages.in_batch += nr;
            }
            if f.refs.isolated > 0 {
                pages.isolated += nr;
            }
            match f.lru {
                Some(LruList::InactiveAnon) => pages.inactive_anon += nr,
                Some(LruList::ActiveAnon) => pages.active_anon += nr,
                Some(LruList::InactiveFile) => pages.inactive_file += nr,
                Some(LruList::ActiveFile) => pages.active_file += nr,
                Some(LruList::Unevictable) => pages.unevictable += nr,
                None => {}
            }
        }
        for mm in self.mms.values() {
            for slot in mm.pmds.values() {
                match slot {
                    crate::mm::Pmd::Huge(h) if h.huge_zero => pages.huge_zero_pmds += 1,
                    crate::mm::Pmd::Table(t) => {
                        pages.zero_page_ptes +=
                            t.iter().filter(|p| matches!(p, Pte::Present(x) if x.special)).count() as u64
                    }
                    _ => {}
                }
            }
        }
        let vmstat = VmEvent::ALL
            .iter()
            .filter(|e| self.vmstat.get(**e) != 0)
            .map(|e| (e.name().to_string(), self.vmstat.get(*e)))
            .collect();
        let memcgs = self
            .memcgs
            .values()
            .filter(|m| m.id != 0)
            .map(|m| MemcgReport {
                id: m.id,
                limit_pages: m.limit,
                usage_pages: m.usage,
                max_usage_pages: m.max_usage,
                reclaims: m.reclaims,
                oom_kills: m.oom_kills,
                kmem_pages: m.kmem,
                kmem_leaked_pages: m.kmem_leaked,
            })
            .collect();
        let swap = self.swap.as_ref().map(|s| SwapReport { total_pages: s.total(), used_pages: s.used });
        Report {
            events: self.events,
            last_ts_ns: self.ev_ts,
            processes,
            pages,
            vmstat,
            memcgs,
            swap,
            violations: Vec::new(),
            diagnostics: self.diagnostics.to_vec(),
        }
    }
}

/// Everything the model knows about one page, for `page X` in the debugger and for tests.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PageInfo {
    pub pfn: u64,
    /// The folio's head pfn and order.
    pub head: u64,
    pub order: u32,
    /// Folio flags by kernel name.
    pub flags: Vec<&'static str>,
    /// Raw `page->_mapcount` (-1 = unmapped).
    pub raw_mapcount: i32,
    /// `folio_precise_page_mapcount()`, what `/proc/kpagecount` shows.
    pub mapcount: i32,
    /// `folio_mapcount()`.
    pub folio_mapcount: i32,
    pub large_mapcount: Option<i32>,
    pub entire_mapcount: Option<i32>,
    pub refcount: i32,
    pub refs: crate::folio::RefParts,
    pub anon_exclusive: bool,
    pub lazyfree: bool,
    /// `inactive_anon`, …, or `None` when not on a list.
    pub lru: Option<&'static str>,
    /// The per-CPU batches holding the folio, as `cpuN:lru_add`.
    pub batches: Vec<String>,
    pub memcg: u32,
    pub swap: Option<u64>,
    /// `pid:vaddr` of every mapping of this page (PMD mappings marked `pmd`).
    pub rmap: Vec<String>,
}

impl Model {
    /// The state of the page at `pfn`, if it belongs to an allocated folio.
    pub fn page_info(&self, pfn: u64) -> Option<PageInfo> {
        let f = self.folio(pfn)?;
        let idx = (pfn - f.pfn) as usize;
        let owner = |mm: MmId| self.mms.get(&mm).map(|m| m.owner).unwrap_or(0);
        let mut rmap: Vec<String> = self
            .page_rmap(pfn)
            .iter()
            .map(|r| {
                if r.pmd {
                    format!("{}:{:#x} pmd", owner(r.mm), r.addr)
                } else {
                    format!("{}:{:#x}", owner(r.mm), r.addr)
                }
            })
            .collect();
        rmap.sort();
        Some(PageInfo {
            pfn,
            head: f.pfn,
            order: f.order,
            flags: f.flags.folio_names(f.is_anon()),
            raw_mapcount: f.pages[idx].mapcount,
            mapcount: f.page_mapcount(idx),
            folio_mapcount: f.mapcount(),
            large_mapcount: f.is_large().then_some(f.large_mapcount),
            entire_mapcount: f.is_large().then_some(f.entire_mapcount),
            refcount: f.refcount,
            refs: f.refs,
            anon_exclusive: f.pages[idx].anon_exclusive,
            lazyfree: f.is_lazyfree(),
            lru: f.lru.map(|l| l.name()),
            batches: self.folio_batches(f.pfn).iter().map(|(c, k)| format!("cpu{c}:{}", k.name())).collect(),
            memcg: f.memcg,
            swap: f.swap,
            rmap,
        })
    }

    /// What the page table of `pid` holds at `vaddr`: the PTE (or a PTE built from a huge PMD).
    pub fn lookup(&self, pid: u32, vaddr: u64) -> Option<Pte> {
        self.lookup_mm(self.task_mm(pid)?, vaddr)
    }

    /// [`Model::lookup`] by mm.
    pub(crate) fn lookup_mm(&self, mm: MmId, vaddr: u64) -> Option<Pte> {
        let mm = self.mms.get(&mm)?;
        if let Some(h) = mm.huge_pmd(vaddr) {
            let off = (vaddr & (HPAGE_PMD_SIZE - 1)) >> PAGE_SHIFT;
            return Some(Pte::Present(crate::mm::PresentPte {
                pfn: h.pfn + off,
                write: h.write,
                dirty: h.dirty,
                young: h.young,
                special: h.huge_zero,
            }));
        }
        mm.pte(vaddr)
    }

    /// The VMA of `pid`'s mm that contains `addr` (`vma_lookup`).
    pub fn vma_at(&self, pid: u32, addr: u64) -> Option<&Vma> {
        self.mms.get(&self.task_mm(pid)?)?.vma_lookup(addr)
    }

    /// The VMAs of `pid`'s mm.
    pub fn vmas(&self, pid: u32) -> Vec<Vma> {
        self.task_mm(pid).map(|m| self.mm(m).vmas.values().cloned().collect()).unwrap_or_default()
    }
}

/// `/proc/kpageflags` bits (include/uapi/linux/kernel-page-flags.h and the kernel-internal ones).
pub mod kpf {
    pub const LOCKED: u32 = 0;
    pub const REFERENCED: u32 = 2;
    pub const UPTODATE: u32 = 3;
    pub const DIRTY: u32 = 4;
    pub const LRU: u32 = 5;
    pub const ACTIVE: u32 = 6;
    pub const MMAP: u32 = 11;
    pub const ANON: u32 = 12;
    pub const SWAPCACHE: u32 = 13;
    pub const SWAPBACKED: u32 = 14;
    pub const COMPOUND_HEAD: u32 = 15;
    pub const COMPOUND_TAIL: u32 = 16;
    pub const UNEVICTABLE: u32 = 18;
    pub const THP: u32 = 22;
    pub const ZERO_PAGE: u32 = 24;
    pub const RESERVED: u32 = 32;
    pub const MLOCKED: u32 = 33;
    /// `PG_owner_2`: `PG_anon_exclusive` on anonymous pages, `PG_mappedtodisk` (`KPF_MAPPEDTODISK`) on others.
    pub const OWNER_2: u32 = 34;
    /// `PG_owner_priv_1`: `PG_swapcache` on swap-backed folios.
    pub const OWNER_PRIVATE: u32 = 37;
    /// The names of the bits above, for reports.
    pub const NAMES: &[(u32, &str)] = &[
        (LOCKED, "LOCKED"),
        (REFERENCED, "REFERENCED"),
        (UPTODATE, "UPTODATE"),
        (DIRTY, "DIRTY"),
        (LRU, "LRU"),
        (ACTIVE, "ACTIVE"),
        (MMAP, "MMAP"),
        (ANON, "ANON"),
        (SWAPCACHE, "SWAPCACHE"),
        (SWAPBACKED, "SWAPBACKED"),
        (COMPOUND_HEAD, "COMPOUND_HEAD"),
        (COMPOUND_TAIL, "COMPOUND_TAIL"),
        (UNEVICTABLE, "UNEVICTABLE"),
        (THP, "THP"),
        (ZERO_PAGE, "ZERO_PAGE"),
        (RESERVED, "RESERVED"),
        (MLOCKED, "MLOCKED"),
        (OWNER_2, "OWNER_2"),
        (OWNER_PRIVATE, "OWNER_PRIVATE"),
    ];
}

/// One `/proc/PID/pagemap` entry, decoded (kernel-semantics §9.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PagemapEntry {
    /// Bit 63.
    pub present: bool,
    /// Bit 62: any non-present, non-none PTE.
    pub swapped: bool,
    /// Bit 61 (`PM_FILE`): the page exists and is not anonymous; the huge zero page via a PMD shows 1.
    pub file: bool,
    /// Bit 56 (`PM_MMAP_EXCLUSIVE`): the page's precise mapcount is 1 (not `PG_anon_exclusive`).
    pub excl: bool,
    /// Bits 0-54: the pfn when present; for a swap entry, type in bits 0-4 and offset above.
    pub pfn: u64,
}

impl Model {
    /// `/proc/kpageflags` at `pfn`, as `stable_page_flags()` computes it on 6.18 (kernel-semantics §9.4): folio
    /// bits come from the head's flags, so tail pages report the head's `PG_anon_exclusive`, `PG_dirty`, `PG_lru`.
    /// Free pages read 0 (the model does not track which free pages sit in the buddy allocator).
    pub fn kpageflags(&self, pfn: u64) -> u64 {
        let bit = |b: u32| 1u64 << b;
        if pfn == ZERO_PFN {
            return bit(kpf::ZERO_PAGE) | bit(kpf::RESERVED);
        }
        let Some(f) = self.folio(pfn) else { return 0 };
        let mut k = 0;
        if Some(f.pfn) == self.huge_zero {
            k |= bit(kpf::ZERO_PAGE) | bit(kpf::THP);
            k |= if pfn == f.pfn { bit(kpf::COMPOUND_HEAD) } else { bit(kpf::COMPOUND_TAIL) };
            return k;
        }
        let fl = f.flags;
        let mut set = |cond: bool, b: u32| {
            if cond {
                k |= bit(b);
            }
        };
        set(fl.test_locked(), kpf::LOCKED);
        set(fl.test_referenced(), kpf::REFERENCED);
        set(fl.test_uptodate(), kpf::UPTODATE);
        set(fl.test_dirty(), kpf::DIRTY);
        set(fl.test_lru(), kpf::LRU);
        set(fl.test_active(), kpf::ACTIVE);
        set(f.mapped(), kpf::MMAP);
        set(f.is_anon(), kpf::ANON);
        set(fl.test_swapcache() && fl.test_swapbacked(), kpf::SWAPCACHE);
        set(fl.test_swapbacked(), kpf::SWAPBACKED);
        set(f.is_large() && pfn == f.pfn, kpf::COMPOUND_HEAD);
        set(f.is_large() && pfn != f.pfn, kpf::COMPOUND_TAIL);
        set(fl.test_unevictable(), kpf::UNEVICTABLE);
        set(f.is_large() && f.is_anon(), kpf::THP);
        set(fl.test_mlocked(), kpf::MLOCKED);
        set(f.is_anon() && f.pages[0].anon_exclusive, kpf::OWNER_2);
        set(!f.is_anon() && fl.test_mappedtodisk(), kpf::OWNER_2);
        set(fl.test_swapcache(), kpf::OWNER_PRIVATE);
        k
    }

    /// `/proc/kpagecount` at `pfn`: `folio_precise_page_mapcount()` (kernel-semantics §9.3); 0 for the zero
    /// pages and free pages.
    pub fn kpagecount(&self, pfn: u64) -> u64 {
        if pfn == ZERO_PFN {
            return 0;
        }
        match self.folio(pfn) {
            Some(f) if Some(f.pfn) != self.huge_zero => f.page_mapcount((pfn - f.pfn) as usize).max(0) as u64,
            _ => 0,
        }
    }

    /// `/proc/PID/pagemap` for `vaddr` (kernel-semantics §9.2): `None` when `pid` is unknown.
    pub fn pagemap(&self, pid: u32, vaddr: u64) -> Option<PagemapEntry> {
        let mm = self.mm(self.task_mm(pid)?);
        let vaddr = vaddr & !(PAGE_SIZE - 1);
        if let Some(h) = mm.huge_pmd(vaddr) {
            let off = (vaddr & (HPAGE_PMD_SIZE - 1)) >> PAGE_SHIFT;
            if h.huge_zero {
                // pagemap_pmd_range() uses pmd_page() without vm_normal_page(): PM_FILE, not exclusive.
                return Some(PagemapEntry { present: true, file: true, pfn: h.pfn + off, ..Default::default() });
            }
            // The exclusive bit is computed once per PMD from its first page.
            let excl = self.folio(h.pfn).is_some_and(|f| f.page_mapcount(0) == 1);
            let file = self.folio(h.pfn).is_some_and(|f| !f.is_anon());
            return Some(PagemapEntry { present: true, file, excl, pfn: h.pfn + off, swapped: false });
        }
        Some(match mm.pte(vaddr) {
            // (vrange-v7's kernel read its purge mark as swap entry 0 here; the model shows no page.)
            None | Some(Pte::None) | Some(Pte::Vrange) => PagemapEntry::default(),
            Some(Pte::Swap { entry, .. }) => PagemapEntry { swapped: true, pfn: entry << 5, ..Default::default() },
            Some(Pte::Present(p)) if p.special => PagemapEntry { present: true, pfn: p.pfn, ..Default::default() },
            Some(Pte::Present(p)) => {
                let (file, excl) = match self.folio(p.pfn) {
                    Some(f) => (!f.is_anon(), f.page_mapcount((p.pfn - f.pfn) as usize) == 1),
                    None => (false, false),
                };
                PagemapEntry { present: true, file, excl, pfn: p.pfn, swapped: false }
            }
        })
    }
}
