//! Transparent huge pages (mm/huge_memory.c): PMD faults, the huge zero folio, `do_huge_pmd_wp_page`,
//! `__split_huge_pmd`, `split_folio` and the deferred split queue (kernel-semantics §3.1, §3.4-3.6, §8).

use crate::consts::*;
use crate::event::Pfn;
use crate::flags::VmFlags;
use crate::folio::FolioRc;
use crate::folio::{Folio, FolioMapping, MmId, Rmap};
use crate::memory::FaultError;
use crate::mm::{pmd_index, HugePmd, Pmd, PresentPte, Pte, Vma, MM_ANONPAGES};
use crate::model::{Model, ThpMode};
use crate::vmstat::VmEvent;

impl Model {
    /// `thp_vma_allowable_order(PMD_ORDER)` for a fault: anonymous private VMAs, per the THP mode and
    /// `VM_HUGEPAGE`/`VM_NOHUGEPAGE`.
    pub(crate) fn thp_vma_allowable(&self, vma: &Vma) -> bool {
        if !vma.is_anonymous() || vma.flags.contains(VmFlags::VM_SHARED) || vma.flags.contains(VmFlags::VM_NOHUGEPAGE) {
            return false;
        }
        match self.cfg.thp {
            ThpMode::Always => true,
            ThpMode::Madvise => vma.flags.contains(VmFlags::VM_HUGEPAGE),
            ThpMode::Never => false,
        }
    }

    /// `mm_get_huge_zero_folio()`: the global huge zero folio, allocated on first use (THP_ZERO_PAGE_ALLOC); in a
    /// real trace it predates the trace.
    fn get_huge_zero_folio(&mut self, mm: MmId) -> Pfn {
        let pfn = match self.huge_zero {
            Some(p) => p,
            None => {
                let p = self.alloc_folio(HPAGE_PMD_ORDER, None, FolioMapping::Anon, u32::MAX);
                let f = self.folio_mut(p);
                f.refcount = 1;
                f.refs.pagecache = 1; // the global reference held by the huge zero folio itself
                f.flags.set_uptodate();
                f.flags.set_reserved();
                if self.cfg.trace_pfns {
                    // A real trace's machine allocated it long before (it is global and never freed while THP is
                    // on): machine state, like the zero page, not an allocation of the traced program.
                    self.allocated.retain(|&(pfn, _)| pfn != p);
                } else {
                    self.count(VmEvent::THP_ZERO_PAGE_ALLOC, 1);
                }
                self.huge_zero = Some(p);
                p
            }
        };
        self.mm_mut(mm).huge_zero_ref = true;
        pfn
    }

    /// `do_huge_pmd_anonymous_page()` (7.2:mm/huge_memory.c:1561). Returns false when it fell back to PTEs.
    pub(crate) fn do_huge_pmd_anonymous_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        haddr: u64,
        write: bool,
        want: Option<Pfn>,
    ) -> Result<bool, FaultError> {
        self.anon_vma_prepare(mm, vma.start);
        if !write && self.cfg.thp_use_zero_page {
            let pfn = self.get_huge_zero_folio(mm);
            let h = HugePmd { pfn, write: false, dirty: false, young: true, huge_zero: true };
            self.mm_mut(mm).pmds.insert(pmd_index(haddr).0, Pmd::Huge(h));
            return Ok(true);
        }
        Ok(self.map_new_thp(mm, vma, haddr, want))
    }

    /// `vma_alloc_anon_folio_pmd()` + `map_anon_folio_pmd()`: a new exclusive PMD THP, immediately on the LRU,
    /// MM_ANONPAGES += 512, THP_FAULT_ALLOC. False (THP_FAULT_FALLBACK[_CHARGE]) if the memcg refuses it.
    fn map_new_thp(&mut self, mm: MmId, vma: &Vma, haddr: u64, want: Option<Pfn>) -> bool {
        let memcg = self.mm(mm).memcg;
        if want.is_none() && !self.alloc_pages_within_ram(HPAGE_PMD_NR) {
            self.count(VmEvent::THP_FAULT_FALLBACK, 1);
            return false;
        }
        let head = self.alloc_folio(HPAGE_PMD_ORDER, want, FolioMapping::Anon, memcg);
        if !self.mem_cgroup_charge(memcg, HPAGE_PMD_NR) {
            self.folio_mut(head).memcg = u32::MAX;
            self.free_folio(head);
            self.count(VmEvent::THP_FAULT_FALLBACK, 1);
            self.count(VmEvent::THP_FAULT_FALLBACK_CHARGE, 1);
            return false;
        }
        self.folio_mut(head).flags.set_uptodate();
        self.folio_add_new_anon_rmap(head, mm, haddr, true, true);
        self.folio_ref_add_mapping(head, 1);
        self.folio_add_lru_vma(head, vma.flags.contains(VmFlags::VM_LOCKED));
        let w = vma.flags.contains(VmFlags::VM_WRITE);
        let h = HugePmd { pfn: head, write: w, dirty: true, young: true, huge_zero: false };
        self.mm_mut(mm).pmds.insert(pmd_index(haddr).0, Pmd::Huge(h));
        self.add_mm_counter(mm, MM_ANONPAGES, HPAGE_PMD_NR as i64);
        self.count(VmEvent::THP_FAULT_ALLOC, 1);
        true
    }

    /// `do_huge_zero_wp_pmd()` (7.2:mm/huge_memory.c:2172, 6.18 behaviour): a write to the huge zero PMD
    /// allocates a new THP; if that fails, the PMD is split into zero-page PTEs and the fault retried.
    pub(crate) fn do_huge_zero_wp_pmd(
        &mut self,
        mm: MmId,
        vma: &Vma,
        haddr: u64,
        want: Option<Pfn>,
    ) -> Result<bool, FaultError> {
        self.mm_mut(mm).pmds.remove(&pmd_index(haddr).0);
        if self.map_new_thp(mm, vma, haddr, want) {
            return Ok(true);
        }
        // Fallback: 512 special zero-page PTEs, THP_SPLIT_PMD.
        self.install_zero_ptes(mm, haddr, true);
        self.count(VmEvent::THP_SPLIT_PMD, 1);
        Ok(false)
    }

    /// `__split_huge_zero_page_pmd()`: 512 special zero-page PTEs replace a huge zero PMD.
    fn install_zero_ptes(&mut self, mm: MmId, haddr: u64, young: bool) {
        let mut t = Box::new([Pte::None; PTRS_PER_PTE]);
        for pte in t.iter_mut() {
            *pte = Pte::Present(PresentPte { pfn: ZERO_PFN, write: false, dirty: false, young, special: true });
        }
        self.mm_mut(mm).pmds.insert(pmd_index(haddr).0, Pmd::Table(std::sync::Arc::from(t)));
    }

    /// `huge_pmd_set_accessed()`: a read (or a write to a writable PMD) only marks it young (and dirty).
    pub(crate) fn huge_pmd_set_accessed(&mut self, mm: MmId, haddr: u64, write: bool) {
        if let Some(Pmd::Huge(h)) = self.mm_mut(mm).pmds.get_mut(&pmd_index(haddr).0) {
            h.young = true;
            if write {
                h.dirty = true;
            }
        }
    }

    /// `do_huge_pmd_wp_page()` (7.2:2160): reuse when the head is `PG_anon_exclusive` or the refcount is 1
    /// (no PGREUSE on this path); otherwise split the PMD and let the PTE path copy one page. Returns true
    /// when the fault was handled at PMD level.
    pub(crate) fn do_huge_pmd_wp_page(&mut self, mm: MmId, haddr: u64) -> bool {
        let Some(h) = self.mm(mm).huge_pmd(haddr) else {
            return false;
        };
        let head = h.pfn;
        let reuse = {
            let f = &self.folios[&head];
            f.pages[0].anon_exclusive
                || f.refcount == 1 + if f.flags.test_swapcache() { f.nr_pages() as i32 } else { 0 }
        };
        if reuse {
            if self.folios[&head].flags.test_swapcache() {
                self.folio_free_swap(head);
            }
            self.set_page_anon_exclusive(head, 0, true);
            if let Some(Pmd::Huge(h)) = self.mm_mut(mm).pmds.get_mut(&pmd_index(haddr).0) {
                h.write = true;
                h.dirty = true;
                h.young = true;
            }
            return true;
        }
        self.split_huge_pmd(mm, haddr);
        false
    }

    /// `__split_huge_pmd_locked()` (7.2:3117; kernel-semantics §8.1): one PMD mapping becomes 512 PTE
    /// mappings of the same folio. THP_SPLIT_PMD; a dirty PMD sets `PG_dirty`; 511 references are added;
    /// `PG_anon_exclusive` goes to every page if the head had it; RSS is unchanged.
    pub(crate) fn split_huge_pmd(&mut self, mm: MmId, haddr: u64) {
        let haddr = haddr & !(HPAGE_PMD_SIZE - 1);
        let Some(h) = self.mm(mm).huge_pmd(haddr) else {
            return;
        };
        self.count(VmEvent::THP_SPLIT_PMD, 1);
        if h.huge_zero {
            self.install_zero_ptes(mm, haddr, h.young);
            return;
        }
        let head = h.pfn;
        if h.dirty {
            self.folio_mut(head).flags.set_dirty();
        }
        let exclusive = self.folios[&head].pages[0].anon_exclusive;
        self.folio_ref_add_mapping(head, HPAGE_PMD_NR as i32 - 1);
        let mut t = Box::new([Pte::None; PTRS_PER_PTE]);
        for (i, pte) in t.iter_mut().enumerate() {
            let addr = haddr + ((i as u64) << PAGE_SHIFT);
            self.folio_add_rmap_pte(head, i, mm, addr, exclusive);
            *pte = Pte::Present(PresentPte {
                pfn: head + i as u64,
                write: h.write,
                dirty: h.dirty,
                young: h.young,
                special: false,
            });
        }
        self.mm_mut(mm).pmds.insert(pmd_index(haddr).0, Pmd::Table(std::sync::Arc::from(t)));
        // The PMD mapping's reference is now one of the 512 PTE references.
        self.folio_remove_rmap_pmd(head, mm, haddr);
    }

    /// `split_folio()` → `__folio_split()` (kernel-semantics §8.2): a large anon folio becomes order-0 folios
    /// that keep each page's mapcount, `PG_anon_exclusive` and content and the head's flags; unmapped pages are
    /// freed.
    /// PMD mappings are split first. Fails (returns false) while extra references (batch, isolation) exist.
    pub(crate) fn split_folio(&mut self, head: Pfn) -> bool {
        let Some(f) = self.folios.get(&head) else {
            return false;
        };
        if !f.is_large() || !f.is_anon() || f.refs.batch > 0 || f.refs.isolated > 0 || f.refs.swapcache > 0 {
            return false;
        }
        let pmd_maps: Vec<Rmap> = f.rmap.iter().filter(|r| r.pmd).copied().collect();
        for r in pmd_maps {
            self.split_huge_pmd(r.mm, r.addr);
        }
        self.touch(head);
        let was_on_lru = self.folios[&head].lru.is_some();
        if was_on_lru {
            self.lruvec_del_folio(head);
        }
        let old: Folio = FolioRc::unwrap_or_clone(self.folios.remove(&head).expect("folio vanished"));
        for i in 1..old.nr_pages() {
            self.tails.remove(&(head + i));
        }
        self.deferred_split.remove(&head);
        let mut inherit = old.flags;
        inherit.clear_head();
        inherit.clear_partially_mapped();
        inherit.clear_lru();
        // The rmap grouped by page once: O(pages + mappings), not O(pages × mappings).
        let mut by_page: Vec<Vec<Rmap>> = vec![Vec::new(); old.pages.len()];
        for r in old.rmap.iter().filter(|r| !r.pmd) {
            by_page[r.page as usize].push(Rmap { page: 0, ..*r });
        }
        let mut freed = 0;
        for (i, (page, rmap)) in old.pages.iter().zip(by_page).enumerate() {
            let pfn = head + i as u64;
            if page.mapcount < 0 {
                // Nobody maps this page: freed by the split.
                self.count(VmEvent::PGFREE, 1);
                self.freed.push((pfn, 0));
                freed += 1;
                continue;
            }
            let mut nf = Folio::new(pfn, 0, old.mapping, old.memcg);
            nf.flags = inherit;
            // __split_huge_page_tail() copies PG_mappedtodisk, the patch's PG_lazyfreeaccounted.
            nf.lazyfree_accounted = old.lazyfree_accounted;
            nf.pages = smallvec::smallvec![*page];
            nf.refcount = rmap.len() as i32;
            nf.refs.mappings = rmap.len() as i32;
            nf.rmap = rmap;
            // History: the head's snapshot already covers every page of the old folio.
            self.folios.insert(pfn, FolioRc::new(nf));
            self.sync_head_exclusive(pfn);
            if was_on_lru {
                self.lruvec_add_folio(pfn);
            }
        }
        self.memcg_uncharge(old.memcg, freed);
        if old.order == HPAGE_PMD_ORDER {
            self.count(VmEvent::THP_SPLIT_PAGE, 1);
        }
        true
    }

    /// `deferred_split_scan()`: the shrinker splits queued partially mapped folios, freeing unmapped pages.
    /// Returns how many pages it freed.
    pub(crate) fn deferred_split_scan(&mut self) -> u64 {
        let queued: Vec<Pfn> = self.deferred_split.iter().copied().collect();
        let mut freed = 0;
        for head in queued {
            let Some(f) = self.folios.get(&head) else {
                self.deferred_split.remove(&head);
                continue;
            };
            let unmapped = f.pages.iter().filter(|p| p.mapcount < 0).count() as u64;
            if self.split_folio(head) {
                freed += unmapped;
            }
        }
        freed
    }
}
