//! Reclaim (mm/vmscan.c, mm/rmap.c): LRU scanning, `folio_check_references`, `shrink_folio_list`,
//! `try_to_unmap_one` with the lazyfree discard and swap-out paths, `reclaim_pages` (kernel-semantics §6).

use crate::consts::*;
use crate::event::Pfn;
use crate::flags::VmFlags;
use crate::folio::{FolioMapping, LruList, Rmap};
use crate::mm::{pmd_index, Pmd, Pte, MM_ANONPAGES, MM_SWAPENTS};
use crate::model::Model;
use crate::vmstat::VmEvent;

/// `enum folio_references`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FolioRef {
    Reclaim,
    ReclaimClean,
    Keep,
    Activate,
}

/// What `shrink_folio_list` decided for one folio.
enum Fate {
    Freed(u64),
    Activate,
    Keep,
}

impl Model {
    /// `try_to_free_pages()` / `try_to_free_mem_cgroup_pages()`: reclaim up to `nr_to_reclaim` pages from every
    /// lruvec (or one memcg's), returning how many were freed. The deferred-split shrinker runs first. Scan
    /// balance is simplified (kernel `get_scan_count` weighs swappiness and cost): file lists always, anon
    /// lists only with swap, each priority level scanning `size >> priority` folios.
    pub(crate) fn try_to_free_pages(&mut self, nr_to_reclaim: u64, memcg: Option<u32>) -> u64 {
        self.lru_add_drain();
        let mut reclaimed = if memcg.is_none() { self.deferred_split_scan() } else { 0 };
        if memcg.is_none() && !self.vrange_lru.is_empty() {
            // vrange-v7: volatile ranges go first (discard_vrange_pages() from the zone shrinker).
            reclaimed += self.discard_vrange_pages(nr_to_reclaim.saturating_sub(reclaimed));
            if reclaimed >= nr_to_reclaim {
                return reclaimed;
            }
        }
        let can_swap = self.swap.as_ref().is_some_and(|s| s.used < s.total());
        let ids: Vec<u32> = match memcg {
            Some(id) => vec![id],
            None => self.lruvecs.keys().copied().collect(),
        };
        for priority in (0..=12u32).rev() {
            for &id in &ids {
                for (inactive, active) in
                    [(LruList::InactiveFile, LruList::ActiveFile), (LruList::InactiveAnon, LruList::ActiveAnon)]
                {
                    if inactive == LruList::InactiveAnon && !can_swap {
                        continue;
                    }
                    let size =
                        |m: &Model, l: LruList| m.lruvecs.get(&id).map(|lv| lv.lists[l as usize].nr_pages).unwrap_or(0);
                    if size(self, inactive) < size(self, active) {
                        let n = (size(self, active) >> priority).max(1);
                        self.shrink_active_list(id, active, n);
                    }
                    let n = (size(self, inactive) >> priority).max(1);
                    reclaimed += self.shrink_inactive_list(id, inactive, n);
                    if reclaimed >= nr_to_reclaim {
                        return reclaimed;
                    }
                }
            }
        }
        reclaimed
    }

    /// `shrink_active_list()`: moves folios from the active tail to the inactive list (PGDEACTIVATE), keeping
    /// referenced executable file folios active.
    fn shrink_active_list(&mut self, memcg: u32, list: LruList, nr: u64) {
        let victims: Vec<Pfn> = self.lru_tail(memcg, list, nr as usize);
        for head in victims {
            self.count(VmEvent::PGREFILL, self.folios[&head].nr_pages());
            let (referenced, _, exec) = self.folio_referenced(head);
            self.lruvec_del_folio(head);
            if referenced > 0 && exec && self.folios[&head].is_file_lru() {
                self.lruvec_add_folio(head);
                continue;
            }
            self.folio_mut(head).flags.clear_active();
            self.folio_mut(head).flags.set_workingset();
            self.lruvec_add_folio(head);
            let nr = self.folios[&head].nr_pages();
            self.count(VmEvent::PGDEACTIVATE, nr);
        }
    }

    /// `shrink_inactive_list()`: isolate from the tail, `shrink_folio_list()`, put survivors back
    /// (`move_folios_to_lru`, directly on the list their flags select).
    fn shrink_inactive_list(&mut self, memcg: u32, list: LruList, nr: u64) -> u64 {
        let victims: Vec<Pfn> = self.lru_tail(memcg, list, nr.min(SWAP_CLUSTER_MAX) as usize);
        let mut isolated = Vec::new();
        for head in victims {
            if self.folio_isolate_lru(head) {
                let n = self.folios[&head].nr_pages();
                self.count(if list == LruList::InactiveFile { VmEvent::PGSCAN_FILE } else { VmEvent::PGSCAN_ANON }, n);
                isolated.push(head);
            }
        }
        let mut reclaimed = 0;
        for head in isolated {
            match self.shrink_folio(head, false) {
                Fate::Freed(n) => {
                    // PGSTEAL is counted here, by the list scanned, not on the reclaim_pages() path.
                    let steal =
                        if list == LruList::InactiveFile { VmEvent::PGSTEAL_FILE } else { VmEvent::PGSTEAL_ANON };
                    self.count(steal, n);
                    reclaimed += n
                }
                Fate::Activate | Fate::Keep => self.move_folio_to_lru(head),
            }
        }
        reclaimed
    }

    /// `shrink_inactive_list()` for one victim the trace names ([`crate::Op::ShrinkFolio`]): isolate the folio of
    /// `pfn` from its LRU list, `shrink_folio_list()` it, put it back if it survives. Returns the pages freed, or
    /// `-EINVAL` when `pfn` is not a folio on an LRU list (the kernel isolated something the model does not have
    /// there).
    pub(crate) fn shrink_one_folio(&mut self, pfn: Pfn) -> i64 {
        let Some(head) = self.folio_head(pfn) else { return -EINVAL };
        let Some(list) = self.folios[&head].lru else { return -EINVAL };
        if !self.folio_isolate_lru(head) {
            return -EINVAL;
        }
        let n = self.folios[&head].nr_pages();
        let file = matches!(list, LruList::InactiveFile | LruList::ActiveFile);
        self.count(if file { VmEvent::PGSCAN_FILE } else { VmEvent::PGSCAN_ANON }, n);
        match self.shrink_folio(head, false) {
            Fate::Freed(n) => {
                self.count(if file { VmEvent::PGSTEAL_FILE } else { VmEvent::PGSTEAL_ANON }, n);
                n as i64
            }
            Fate::Activate | Fate::Keep => {
                self.move_folio_to_lru(head);
                0
            }
        }
    }

    /// Whether any PTE mapping the folio is dirty.
    fn folio_pte_dirty(&self, head: Pfn) -> bool {
        self.folios[&head].rmap.iter().any(|r| {
            !r.pmd && matches!(self.lookup_mm(r.mm, r.addr), Some(Pte::Present(p)) if p.dirty && p.pfn == head + r.page as u64)
        })
    }

    /// `move_folios_to_lru()` for one survivor: onto its list, dropping the isolation reference.
    fn move_folio_to_lru(&mut self, head: Pfn) {
        if !self.folios.contains_key(&head) {
            return;
        }
        self.lruvec_add_folio(head);
        self.folio_mut(head).refs.isolated -= 1;
        self.folio_put_refs(head, 1);
    }

    /// `reclaim_pages()` (6.12:mm/vmscan.c:2176): MADV_PAGEOUT's path. Clears `PG_active`, runs
    /// `shrink_folio_list(ignore_references = true)` and puts survivors back through the lru_add batch.
    pub(crate) fn reclaim_pages(&mut self, list: Vec<Pfn>) -> u64 {
        let mut reclaimed = 0;
        for head in list {
            self.folio_mut(head).flags.clear_active();
            match self.shrink_folio(head, true) {
                Fate::Freed(n) => reclaimed += n,
                Fate::Activate | Fate::Keep => {
                    if self.folios.contains_key(&head) {
                        self.folio_putback_lru(head);
                    }
                }
            }
        }
        reclaimed
    }

    /// `folio_referenced()`: walks the rmap clearing Accessed bits; returns (young mappings, VM_LOCKED seen,
    /// VM_EXEC seen).
    fn folio_referenced(&mut self, head: Pfn) -> (u32, bool, bool) {
        let rmaps: Vec<Rmap> = self.folios[&head].rmap.clone();
        let (mut young, mut locked, mut exec) = (0, false, false);
        for r in rmaps {
            let Some(m) = self.mms.get_mut(&r.mm) else {
                continue;
            };
            if let Some(v) = m.vma_lookup(r.addr) {
                locked |= v.flags.contains(VmFlags::VM_LOCKED);
                exec |= v.flags.contains(VmFlags::VM_EXEC);
            }
            if r.pmd {
                if let Some(Pmd::Huge(h)) = m.pmds.get_mut(&pmd_index(r.addr).0) {
                    if std::mem::take(&mut h.young) {
                        young += 1;
                    }
                }
            } else if let Some(Pte::Present(p)) = m.pte_mut(r.addr) {
                if std::mem::take(&mut p.young) {
                    young += 1;
                }
            }
        }
        (young, locked, exec)
    }

    /// `folio_check_references()` (6.12:865).
    fn folio_check_references(&mut self, head: Pfn) -> FolioRef {
        let (referenced_ptes, locked, exec) = self.folio_referenced(head);
        let f = self.folio_mut(head);
        let referenced_folio = f.flags.test_referenced();
        f.flags.clear_referenced();
        if locked {
            return FolioRef::Activate;
        }
        if referenced_ptes > 0 {
            f.flags.set_referenced();
            if referenced_folio || referenced_ptes > 1 {
                return FolioRef::Activate;
            }
            if exec && f.is_file_lru() {
                return FolioRef::Activate;
            }
            return FolioRef::Keep;
        }
        if referenced_folio && f.is_file_lru() {
            return FolioRef::ReclaimClean;
        }
        FolioRef::Reclaim
    }

    /// `shrink_folio_list()` for one isolated folio (6.12:mm/vmscan.c:1049).
    fn shrink_folio(&mut self, head: Pfn, ignore_references: bool) -> Fate {
        if self.folios[&head].flags.test_unevictable() || self.folios[&head].flags.test_mlocked() {
            return Fate::Keep;
        }
        if !ignore_references {
            match self.folio_check_references(head) {
                FolioRef::Activate => return self.activate_locked(head),
                FolioRef::Keep => return Fate::Keep,
                FolioRef::Reclaim | FolioRef::ReclaimClean => {}
            }
        }
        let f = &self.folios[&head];
        if self.cfg.profile.swapbacked_lazyfree()
            && f.is_anon()
            && f.flags.test_swapbacked()
            && !f.flags.test_swapcache()
            && !f.is_large()
            && !f.flags.test_dirty()
            && f.refcount == f.mapcount() + 1
            && !self.folio_pte_dirty(head)
        {
            // Before 4.12 (linux-4.5, madv-free-v3): try_to_unmap() with TTU_LZFREE discards a clean anon page
            // instead of swapping it out. The model's discard path is the lazy-free one: the page is treated as
            // lazy-free from here on.
            self.folio_mut(head).flags.clear_swapbacked();
        }
        let f = &self.folios[&head];
        if f.is_anon() && f.flags.test_swapbacked() && !f.flags.test_swapcache() {
            if f.is_large() {
                // Split before swap-out (the model has no THP_SWAP); a failed split activates.
                if self.swap.is_none() || !self.split_large_isolated(head) {
                    return self.activate_locked(head);
                }
            }
            if !self.add_to_swap(head) {
                return self.activate_locked(head);
            }
            // shrink_folio_list: anon folios just added to the swap cache are always dirty.
            self.folio_mut(head).flags.set_dirty();
        }
        if self.folios[&head].mapped() && !self.try_to_unmap(head) {
            return self.activate_locked(head);
        }
        let f = &self.folios[&head];
        let nr = f.nr_pages();
        if f.flags.test_dirty() && (f.flags.test_swapcache() || !f.is_anon()) {
            // pageout(): the model's swap device and file writeback complete synchronously.
            if f.flags.test_swapcache() {
                self.count(VmEvent::PSWPOUT, nr);
            }
            self.writepage(head);
            self.folio_mut(head).flags.clear_dirty();
        }
        let f = &self.folios[&head];
        if f.is_lazyfree() {
            // folio_ref_freeze(folio, 1): only the isolation reference may be left.
            if f.refcount != 1 {
                return Fate::Keep;
            }
            self.count(VmEvent::PGLAZYFREED, nr);
            self.drop_isolated(head);
            return Fate::Freed(nr);
        }
        if f.flags.test_swapcache() {
            // __remove_mapping(): isolation + swap cache references only.
            if f.refcount != 1 + nr as i32 {
                return Fate::Keep;
            }
            let f = self.folio_mut(head);
            f.refs.isolated -= 1;
            f.refcount -= 1;
            self.delete_from_swap_cache(head);
            return Fate::Freed(nr);
        }
        if let FolioMapping::File { file, index } | FolioMapping::Shmem { file, index } = f.mapping {
            if f.refcount != 1 + f.refs.pagecache || matches!(f.mapping, FolioMapping::Shmem { .. }) {
                return Fate::Keep;
            }
            self.files[file as usize].pages.remove(&index);
            let f = self.folio_mut(head);
            f.refs.pagecache -= 1;
            f.refcount -= 1;
            self.drop_isolated(head);
            return Fate::Freed(nr);
        }
        Fate::Keep
    }

    /// `swap_writepage()` / the filesystem's `writepage`: the folio's content goes to its swap slot or to its
    /// file, where swap-in or the next page-cache read finds it (folios are split before swap-out, so a swap-cache
    /// folio has one page).
    fn writepage(&mut self, head: Pfn) {
        let f = &self.folios[&head];
        let content = f.pages[0].content;
        match (f.swap, f.mapping) {
            (Some(entry), _) => {
                if let Some(s) = self.swap.as_mut() {
                    s.write(entry, content);
                }
            }
            (None, FolioMapping::File { file, index } | FolioMapping::Shmem { file, index }) => {
                let data = &mut self.files[file as usize].data;
                if content == 0 {
                    data.remove(&index);
                } else {
                    data.insert(index, content);
                }
            }
            (None, FolioMapping::Anon) => {}
        }
    }

    fn drop_isolated(&mut self, head: Pfn) {
        self.folio_mut(head).refs.isolated -= 1;
        self.folio_put_refs(head, 1);
    }

    /// Splits an isolated large folio for swap-out: the split needs the isolation reference dropped, so the
    /// folio is put back on the LRU, split there, and the head re-isolated.
    fn split_large_isolated(&mut self, head: Pfn) -> bool {
        self.move_folio_to_lru(head);
        let ok = self.split_folio(head);
        if self.folios.contains_key(&head) {
            self.folio_isolate_lru(head);
        }
        ok && self.folios.get(&head).is_some_and(|f| !f.is_large())
    }

    /// `activate_locked`: `PG_active` (unless unevictable), PGACTIVATE; frees the swap slot when swap is
    /// more than half full.
    fn activate_locked(&mut self, head: Pfn) -> Fate {
        let Some(f) = self.folios.get(&head) else {
            return Fate::Keep;
        };
        let nr = f.nr_pages();
        if f.flags.test_swapcache() && self.swap.as_ref().is_some_and(|s| s.used * 2 > s.total()) {
            self.folio_free_swap(head);
        }
        let f = self.folio_mut(head);
        if !f.flags.test_mlocked() {
            f.flags.set_active();
            self.count(VmEvent::PGACTIVATE, nr);
        }
        Fate::Activate
    }

    /// `try_to_unmap()` → `try_to_unmap_one()` per mapping (6.12:mm/rmap.c:1642; kernel-semantics §6.1, §7).
    /// Returns true when the folio ended up unmapped.
    fn try_to_unmap(&mut self, head: Pfn) -> bool {
        let rmaps: Vec<Rmap> = self.folios[&head].rmap.clone();
        for r in rmaps {
            self.lazyfree_rss_uncharge(r.mm, head);
            let locked = self
                .mms
                .get(&r.mm)
                .and_then(|m| m.vma_lookup(r.addr))
                .is_some_and(|v| v.flags.contains(VmFlags::VM_LOCKED));
            if locked {
                self.mlock_folio(head);
                return false;
            }
            if r.pmd {
                if !self.try_to_unmap_pmd(head, r) {
                    return false;
                }
                continue;
            }
            if !self.try_to_unmap_pte(head, r) {
                return false;
            }
        }
        !self.folios.get(&head).is_some_and(|f| f.mapped())
    }

    /// `unmap_huge_pmd_locked()` → `__discard_anon_folio_pmd_locked()` for a lazyfree PMD THP; other PMD
    /// mappings are split (TTU_SPLIT_HUGE_PMD) and unmapped page by page.
    fn try_to_unmap_pmd(&mut self, head: Pfn, r: Rmap) -> bool {
        let Some(h) = self.mm(r.mm).huge_pmd(r.addr) else {
            return true;
        };
        let f = &self.folios[&head];
        if f.is_lazyfree() {
            if h.dirty || f.flags.test_dirty() {
                self.folio_mut(head).flags.set_swapbacked();
                return false;
            }
            if f.refcount != f.mapcount() + 1 {
                return false;
            }
            self.ctx_addr = Some(r.addr);
            self.mm_mut(r.mm).pmds.remove(&pmd_index(r.addr).0);
            self.folio_remove_rmap_pmd(head, r.mm, r.addr);
            self.add_mm_counter(r.mm, MM_ANONPAGES, -(HPAGE_PMD_NR as i64));
            self.folio_put_mapping(head, 1);
            return true;
        }
        self.split_huge_pmd(r.mm, r.addr);
        let ptes: Vec<Rmap> = self.folios[&head].rmap.iter().filter(|x| x.mm == r.mm && !x.pmd).copied().collect();
        ptes.into_iter().all(|p| self.try_to_unmap_pte(head, p))
    }

    fn try_to_unmap_pte(&mut self, head: Pfn, r: Rmap) -> bool {
        let Some(Pte::Present(p)) = self.mm(r.mm).pte(r.addr) else {
            return true;
        };
        self.ctx_addr = Some(r.addr);
        let idx = r.page as usize;
        // ptep_clear_flush(); a dirty PTE dirties the folio.
        if p.dirty {
            self.folio_mut(head).flags.set_dirty();
        }
        let f = &self.folios[&head];
        if f.is_lazyfree() {
            if f.flags.test_dirty() {
                // Re-dirtied after MADV_FREE: restore the PTE, back to swap-backed.
                self.folio_mut(head).flags.set_swapbacked();
                return false;
            }
            if f.refcount != 1 + f.mapcount() {
                // An extra reference (a batch, GUP): restore, stay lazyfree (6.15+).
                return false;
            }
            self.set_pte(r.mm, r.addr, Pte::None);
            self.add_mm_counter(r.mm, MM_ANONPAGES, -1);
            self.folio_remove_rmap_pte(head, idx, r.mm, r.addr);
            self.folio_put_mapping(head, 1);
            return true;
        }
        if f.is_anon() {
            let Some(entry) = f.swap else { return false };
            let exclusive = f.pages[idx].anon_exclusive;
            if let Some(s) = self.swap.as_mut() {
                s.swap_duplicate(entry);
            }
            if exclusive {
                self.set_page_anon_exclusive(head, idx, false);
            }
            self.set_pte(r.mm, r.addr, Pte::Swap { entry, exclusive });
            self.add_mm_counter(r.mm, MM_ANONPAGES, -1);
            self.add_mm_counter(r.mm, MM_SWAPENTS, 1);
            self.folio_remove_rmap_pte(head, idx, r.mm, r.addr);
            self.folio_put_mapping(head, 1);
            return true;
        }
        let c = self.mm_counter(head);
        self.set_pte(r.mm, r.addr, Pte::None);
        self.add_mm_counter(r.mm, c, -1);
        self.folio_remove_rmap_pte(head, idx, r.mm, r.addr);
        self.folio_put_mapping(head, 1);
        true
    }

    fn set_pte(&mut self, mm: u32, addr: u64, pte: Pte) {
        if let Some(s) = self.mm_mut(mm).pte_mut(addr) {
            *s = pte;
        }
    }
}
