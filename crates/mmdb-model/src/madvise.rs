//! madvise (mm/madvise.c): DONTNEED, FREE, COLD, PAGEOUT, HUGEPAGE/NOHUGEPAGE, DONTFORK/DOFORK, with the
//! kernel's EINVAL and ENOMEM cases (kernel-semantics §5).

use crate::consts::*;
use crate::event::{Pfn, Pid};
use crate::flags::VmFlags;
use crate::folio::MmId;
use crate::memory::ZapKind;
use crate::mm::{pmd_index, Pmd, Pte, Vma, MM_SWAPENTS};
use crate::model::Model;

impl Model {
    /// `do_madvise()` → `madvise_walk_vmas()`: each VMA piece in the range is handled in order; the first
    /// error stops the walk; unmapped gaps give -ENOMEM after the mapped parts were processed.
    pub(crate) fn do_madvise(&mut self, pid: Pid, addr: u64, len: u64, advice: i64) -> i64 {
        let Some(mm) = self.task_mm(pid) else {
            return -EINVAL;
        };
        if !addr.is_multiple_of(PAGE_SIZE) || madv_name(advice).is_none() {
            return -EINVAL;
        }
        let len = page_align(len);
        let Some(end) = addr.checked_add(len) else {
            return -EINVAL;
        };
        if len == 0 {
            return 0;
        }
        if matches!(advice, MADV_COLD | MADV_PAGEOUT) && !self.cfg.profile.has_madv_cold() {
            return -EINVAL; // before 5.4: madvise_behavior_valid() does not know them
        }
        self.ctx_addr = Some(addr);
        let mut unmapped = false;
        let mut cur = addr;
        let vmas: Vec<Vma> = self.mm(mm).vmas.range(..end).map(|(_, v)| v.clone()).filter(|v| v.end > addr).collect();
        for v in vmas {
            if v.start > cur {
                unmapped = true;
            }
            let s = v.start.max(addr);
            let e = v.end.min(end);
            cur = e;
            let r = self.madvise_vma(mm, &v, s, e, advice);
            if r != 0 {
                return r;
            }
        }
        if cur < end {
            unmapped = true;
        }
        if unmapped {
            -ENOMEM
        } else {
            0
        }
    }

    /// `madvise_vma_behavior()`: one VMA's part of the range, with each advice's validity checks.
    fn madvise_vma(&mut self, mm: MmId, vma: &Vma, start: u64, end: u64, advice: i64) -> i64 {
        let locked = vma.flags.contains(VmFlags::VM_LOCKED);
        let pfnmap = vma.flags.contains(VmFlags::VM_PFNMAP);
        match advice {
            MADV_DONTNEED | MADV_DONTNEED_LOCKED => {
                // madvise_dontneed_free_valid_vma()
                if pfnmap || (locked && advice == MADV_DONTNEED) {
                    return -EINVAL;
                }
                self.zap_page_range(mm, vma, start, end, ZapKind::Dontneed);
            }
            MADV_FREE => {
                if !vma.is_anonymous() || vma.flags.contains(VmFlags::VM_SHARED) || locked || pfnmap {
                    return -EINVAL;
                }
                if self.cfg.profile.swapbacked_lazyfree() {
                    self.madvise_free_swapbacked(mm, vma, start, end);
                } else {
                    self.madvise_free_single_vma(mm, start, end);
                }
            }
            MADV_COLD | MADV_PAGEOUT => {
                // can_madv_lru_vma()
                if locked || pfnmap {
                    return -EINVAL;
                }
                self.madvise_cold_or_pageout(mm, start, end, advice == MADV_PAGEOUT);
            }
            MADV_HUGEPAGE | MADV_NOHUGEPAGE | MADV_DONTFORK | MADV_DOFORK => {
                let (set, clear) = match advice {
                    MADV_HUGEPAGE => (VmFlags::VM_HUGEPAGE, VmFlags::VM_NOHUGEPAGE),
                    MADV_NOHUGEPAGE => (VmFlags::VM_NOHUGEPAGE, VmFlags::VM_HUGEPAGE),
                    MADV_DONTFORK => (VmFlags::VM_DONTCOPY, VmFlags(0)),
                    _ => (VmFlags(0), VmFlags::VM_DONTCOPY),
                };
                self.split_vma(mm, start);
                self.split_vma(mm, end);
                let keys: Vec<u64> = self.mm(mm).vmas.range(start..end).map(|(k, _)| *k).collect();
                for k in keys {
                    let v = self.mm_mut(mm).vmas.get_mut(&k).expect("vma vanished");
                    v.flags.insert(set);
                    v.flags.remove(clear);
                }
                self.vma_merge_around(mm, start, end);
            }
            _ => {}
        }
        0
    }

    /// MADV_FREE before 4.12 (profiles `linux-4.5`, `linux-4.8` and `madv-free-v3`, kernel-semantics §12.1): without swap,
    /// MADV_DONTNEED. With swap, every page of the range (large folios are split first, as the madvise walk did)
    /// that is mapped once gets its PTE cleaned and aged and `PG_dirty` cleared, leaves the swap cache, and (4.5)
    /// is deactivated; it keeps `PG_swapbacked` and stays on the anon LRU, where reclaim discards it while it is
    /// clean ([`Profile::swapbacked_lazyfree`] in `shrink_folio`).
    fn madvise_free_swapbacked(&mut self, mm: MmId, vma: &Vma, start: u64, end: u64) {
        if self.swap.is_none() {
            self.zap_page_range(mm, vma, start, end, ZapKind::Dontneed);
            return;
        }
        self.lru_add_drain();
        for (haddr, h) in self.mm(mm).huge_pmds_in(start, end) {
            if !h.huge_zero {
                self.split_huge_pmd(mm, haddr);
            }
        }
        let deactivate = self.cfg.profile != crate::Profile::MadvFreeV3;
        for (addr, pte) in self.mm(mm).populated_ptes(start, end) {
            self.ctx_addr = Some(addr);
            let Pte::Present(p) = pte else { continue };
            if p.special {
                continue;
            }
            let Some(head) = self.folio_head(p.pfn) else { continue };
            if self.folios[&head].is_large() && !self.split_folio(head) {
                continue;
            }
            let Some(head) = self.folio_head(p.pfn) else { continue };
            let f = &self.folios[&head];
            if !f.is_anon() || f.mapcount() != 1 {
                continue;
            }
            if f.flags.test_swapcache() {
                self.delete_from_swap_cache(head);
            }
            self.folio_mut(head).flags.clear_dirty();
            if let Some(Pte::Present(q)) = self.mm_mut(mm).pte_mut(addr) {
                q.dirty = false;
                q.young = false;
            }
            if deactivate && self.folios[&head].flags.test_active() {
                self.folio_deactivate(head);
            }
        }
    }

    /// `madvise_free_single_vma()` → `madvise_free_pte_range()` (6.12:650; kernel-semantics §5.2).
    fn madvise_free_single_vma(&mut self, mm: MmId, start: u64, end: u64) {
        self.lru_add_drain();
        for (haddr, h) in self.mm(mm).huge_pmds_in(start, end) {
            // madvise_free_huge_pmd()
            if !self.madvise_pmd_whole(haddr, h, start, end) {
                continue;
            }
            self.folio_mut(h.pfn).flags.clear_dirty();
            if let Some(Pmd::Huge(ph)) = self.mm_mut(mm).pmds.get_mut(&pmd_index(haddr).0) {
                ph.young = false;
                ph.dirty = false;
            }
            self.folio_mark_lazyfree(h.pfn);
            self.lazyfree_rss_charge(mm, h.pfn, 0);
        }
        let ptes = self.mm(mm).populated_ptes(start, end);
        let mut nr_swap = 0i64;
        let mut i = 0;
        while i < ptes.len() {
            let (addr, pte) = ptes[i];
            self.ctx_addr = Some(addr);
            match pte {
                Pte::None | Pte::Vrange => {}
                Pte::Swap { entry, .. } => {
                    nr_swap += 1;
                    self.free_swap_and_cache(entry);
                    if let Some(s) = self.mm_mut(mm).pte_mut(addr) {
                        *s = Pte::None;
                    }
                }
                Pte::Present(p) if p.special => {}
                Pte::Present(p) => {
                    let Some(head) = self.folio_head(p.pfn) else {
                        i += 1;
                        continue;
                    };
                    let f = &self.folios[&head];
                    let idx = (p.pfn - head) as usize;
                    let mut nr = 1;
                    if f.is_large() {
                        // madvise_folio_pte_batch(): consecutive PTEs of this folio within the range. 4.12 split
                        // every PTE-mapped THP it met, if the page at hand was mapped once.
                        nr = self.pte_batch(mm, &ptes[i..], head);
                        if (nr as u64) < f.nr_pages() || self.cfg.profile.madv_free_412() {
                            if self.cfg.profile.folio_shared(f, idx) || !self.split_folio(head) {
                                i += nr;
                                continue;
                            }
                            continue; // reprocess this address: it is a small folio now
                        }
                    }
                    let f = &self.folios[&head];
                    if f.flags.test_swapcache() || f.flags.test_dirty() {
                        if f.mapcount() as u64 != f.nr_pages() {
                            i += nr;
                            continue;
                        }
                        if f.flags.test_swapcache() && !self.folio_free_swap(head) {
                            i += nr;
                            continue;
                        }
                        self.folio_mut(head).flags.clear_dirty();
                    }
                    // clear_young_dirty_ptes(): RW is kept, so later writes dirty the PTE with no fault.
                    for &(a, _) in &ptes[i..i + nr] {
                        if let Some(Pte::Present(pp)) = self.mm_mut(mm).pte_mut(a) {
                            pp.young = false;
                            pp.dirty = false;
                        }
                    }
                    self.folio_mark_lazyfree(head);
                    self.lazyfree_rss_charge(mm, head, idx);
                    i += nr;
                    continue;
                }
            }
            i += 1;
        }
        if nr_swap != 0 {
            self.add_mm_counter(mm, MM_SWAPENTS, -nr_swap);
        }
    }

    /// The PMD-level rule `madvise_free_huge_pmd()` and `madvise_cold_or_pageout_pte_range()` share: skip the
    /// huge zero page and folios that may be mapped by another mm; split a folio the range covers only partly
    /// (`split_folio`; the PTE walk then handles its pages). True when the whole PMD is to be processed.
    fn madvise_pmd_whole(&mut self, haddr: u64, h: crate::mm::HugePmd, start: u64, end: u64) -> bool {
        self.ctx_addr = Some(haddr);
        if h.huge_zero || self.cfg.profile.folio_shared(&self.folios[&h.pfn], 0) {
            return false;
        }
        if haddr < start || haddr + HPAGE_PMD_SIZE > end {
            self.split_folio(h.pfn);
            return false;
        }
        true
    }

    /// The number of consecutive present PTEs at the start of `ptes` that map consecutive pages of `head`.
    fn pte_batch(&self, _mm: MmId, ptes: &[(u64, Pte)], head: Pfn) -> usize {
        let mut n = 0;
        let mut expect: Option<(u64, u64)> = None;
        for &(a, pte) in ptes {
            let Pte::Present(p) = pte else { break };
            if p.special || self.folio_head(p.pfn) != Some(head) {
                break;
            }
            if let Some((ea, ep)) = expect {
                if a != ea || p.pfn != ep {
                    break;
                }
            }
            expect = Some((a + PAGE_SIZE, p.pfn + 1));
            n += 1;
        }
        n.max(1)
    }

    /// `madvise_cold_or_pageout_pte_range()` (6.12:343; kernel-semantics §5.3, §5.4): exclusive folios on the
    /// LRU lose `PG_referenced`; COLD deactivates them, PAGEOUT isolates them and runs `reclaim_pages()`.
    fn madvise_cold_or_pageout(&mut self, mm: MmId, start: u64, end: u64, pageout: bool) {
        self.lru_add_drain();
        let mut list: Vec<Pfn> = Vec::new();
        let mut listed: rustc_hash::FxHashSet<Pfn> = Default::default();
        for (haddr, h) in self.mm(mm).huge_pmds_in(start, end) {
            if !self.madvise_pmd_whole(haddr, h, start, end) {
                continue;
            }
            if let Some(Pmd::Huge(ph)) = self.mm_mut(mm).pmds.get_mut(&pmd_index(haddr).0) {
                ph.young = false;
            }
            self.cold_one(h.pfn, pageout, &mut list);
            listed.insert(h.pfn);
        }
        let ptes = self.mm(mm).populated_ptes(start, end);
        let mut i = 0;
        while i < ptes.len() {
            let (addr, pte) = ptes[i];
            self.ctx_addr = Some(addr);
            let Pte::Present(p) = pte else {
                i += 1;
                continue;
            };
            let Some(head) = self.folio_head(p.pfn).filter(|_| !p.special) else {
                i += 1;
                continue;
            };
            let f = &self.folios[&head];
            if f.is_large() {
                let nr = self.pte_batch(mm, &ptes[i..], head);
                if (nr as u64) < f.nr_pages() {
                    if self.cfg.profile.folio_shared(f, (p.pfn - head) as usize) || !self.split_folio(head) {
                        i += nr;
                    }
                    continue;
                }
            }
            let f = &self.folios[&head];
            let nr = if f.is_large() { f.nr_pages() as usize } else { 1 };
            if !f.flags.test_lru()
                || self.cfg.profile.folio_shared(f, (p.pfn - head) as usize)
                || listed.contains(&head)
            {
                i += nr;
                continue;
            }
            if !pageout {
                for &(a, _) in &ptes[i..(i + nr).min(ptes.len())] {
                    if let Some(Pte::Present(pp)) = self.mm_mut(mm).pte_mut(a) {
                        pp.young = false;
                    }
                }
            }
            self.cold_one(head, pageout, &mut list);
            listed.insert(head);
            i += nr;
        }
        if pageout && !list.is_empty() {
            self.reclaim_pages(list);
        }
    }

    /// The per-folio step of `madvise_cold_or_pageout_pte_range()`: clear `PG_referenced`/`PG_young`, mark
    /// active folios `PG_workingset`, then deactivate (COLD) or isolate for `reclaim_pages()` (PAGEOUT).
    fn cold_one(&mut self, head: Pfn, pageout: bool, list: &mut Vec<Pfn>) {
        let f = self.folio_mut(head);
        f.flags.clear_referenced();
        f.flags.clear_young();
        if f.flags.test_active() {
            f.flags.set_workingset();
        }
        if pageout {
            if self.folio_isolate_lru(head) {
                if self.folios[&head].flags.test_unevictable() {
                    self.folio_putback_lru(head);
                } else {
                    list.push(head);
                }
            }
        } else {
            self.folio_deactivate(head);
        }
    }
}

impl Model {
    /// `mlock()`/`munlock()` (mm/mlock.c): set or clear `VM_LOCKED` on the range, mlock or munlock the
    /// present folios, and populate the rest through GUP.
    pub(crate) fn do_mlock(&mut self, pid: Pid, addr: u64, len: u64, lock: bool) -> i64 {
        let Some(mm) = self.task_mm(pid) else {
            return -EINVAL;
        };
        let start = addr & !(PAGE_SIZE - 1);
        let Some(end) = addr.checked_add(len).map(page_align) else {
            return -EINVAL;
        };
        if start >= end {
            return 0;
        }
        self.ctx_addr = Some(start);
        // Every page in the range must be mapped (-ENOMEM).
        let mut cur = start;
        for (_, v) in self.mm(mm).vmas.range(..end) {
            if v.end <= cur {
                continue;
            }
            if v.start > cur {
                return -ENOMEM;
            }
            cur = v.end;
        }
        if cur < end {
            return -ENOMEM;
        }
        self.split_vma(mm, start);
        self.split_vma(mm, end);
        let keys: Vec<u64> = self.mm(mm).vmas.range(start..end).map(|(k, _)| *k).collect();
        for k in &keys {
            let v = self.mm_mut(mm).vmas.get_mut(k).expect("vma vanished");
            if lock {
                v.flags.insert(VmFlags::VM_LOCKED);
            } else {
                v.flags.remove(VmFlags::VM_LOCKED);
            }
        }
        let mut heads: Vec<Pfn> = Vec::new();
        for (_, h) in self.mm(mm).huge_pmds_in(start, end) {
            if !h.huge_zero {
                heads.push(h.pfn);
            }
        }
        for (_, pte) in self.mm(mm).populated_ptes(start, end) {
            if let Pte::Present(p) = pte {
                if let Some(h) = self.folio_head(p.pfn).filter(|_| !p.special) {
                    if !heads.contains(&h) {
                        heads.push(h);
                    }
                }
            }
        }
        // mlock_vma_pages_range() (6.12:mm/mlock.c:447): lru_add_drain() around the page walk.
        self.lru_add_drain();
        for h in heads {
            if lock {
                self.mlock_folio(h);
            } else {
                self.munlock_folio(h);
            }
        }
        self.lru_add_drain();
        if lock {
            self.populate_range(mm, start, end);
            if !self.mms.contains_key(&mm) {
                return 0; // the memcg OOM killer chose this process while populating
            }
        }
        self.vma_merge_around(mm, start, end);
        0
    }
}
