//! The reverse map and mapcounts: `folio_add_*_rmap_*`, `folio_remove_rmap_*`, and the large-folio mm_id slots
//! (mm/rmap.c, include/linux/rmap.h; kernel-semantics §4.5, §10.2).

use crate::consts::{EINVAL, HPAGE_PMD_ORDER};
use crate::event::Pfn;
use crate::folio::FolioRc;
use crate::folio::{FolioMapping, MmId, Rmap};
use crate::model::Model;
use crate::report::Severity;
use crate::vmstat::VmEvent;

impl Model {
    /// Takes `n` mapping references (the `folio_get`/`folio_ref_add` that goes with each new mapping).
    pub(crate) fn folio_ref_add_mapping(&mut self, head: Pfn, n: i32) {
        let f = self.folio_mut(head);
        f.refcount += n;
        f.refs.mappings += n;
    }

    /// `folio_get` event: a short-lived reference of an operation in flight elsewhere on the folio of `pfn`.
    /// Returns 0, or `-EINVAL` (with a warning) when no folio holds `pfn`.
    pub(crate) fn folio_get_op(&mut self, pfn: Pfn) -> i64 {
        match self.folio_head(pfn) {
            Some(head) => {
                self.folio_get_temp(head);
                0
            }
            None => {
                self.diag(Severity::Warning, "folio-unknown", format!("folio_get: pfn {pfn:#x} is not allocated"));
                -EINVAL
            }
        }
    }

    /// `folio_put` event: drops a reference [`Model::folio_get_op`] took; 1 when that freed the folio, 0 when
    /// references remain, `-EINVAL` (with a warning) when the folio holds no such reference.
    pub(crate) fn folio_put_op(&mut self, pfn: Pfn) -> i64 {
        let Some(head) = self.folio_head(pfn).filter(|h| self.folios[h].refs.temp > 0) else {
            let msg = format!("folio_put: pfn {pfn:#x} holds no reference of a folio_get");
            self.diag(Severity::Warning, "folio-unknown", msg);
            return -EINVAL;
        };
        self.folio_mut(head).refs.temp -= 1;
        self.folio_put_refs(head, 1);
        i64::from(!self.folios.contains_key(&head))
    }

    /// Takes a short-lived reference held inside one operation (`folio_get` before the folio is mapped).
    pub(crate) fn folio_get_temp(&mut self, head: Pfn) {
        let f = self.folio_mut(head);
        f.refcount += 1;
        f.refs.temp += 1;
    }

    /// Drops `n` mapping references (the zap's or COW's `folio_put`), freeing the folio at zero.
    pub(crate) fn folio_put_mapping(&mut self, head: Pfn, n: i32) {
        self.folio_mut(head).refs.mappings -= n;
        self.folio_put_refs(head, n);
    }

    /// `folio_add_return_large_mapcount()` (7.2:include/linux/rmap.h): the total and this mm's slot.
    fn folio_add_large_mapcount(&mut self, head: Pfn, diff: i32, mm: MmId) {
        let f = self.folio_mut(head);
        let new = f.large_mapcount + diff;
        f.large_mapcount = new;
        if f.mm_id[0] == mm {
            f.mm_id_mapcount[0] += diff;
        } else if f.mm_id[1] == mm {
            f.mm_id_mapcount[1] += diff;
        } else if f.mm_id[0] == 0 {
            f.mm_id[0] = mm;
            f.mm_id_mapcount[0] = diff - 1;
            if new != diff - 1 {
                f.mm_ids_shared = true;
            }
        } else if f.mm_id[1] == 0 {
            f.mm_id[1] = mm;
            f.mm_id_mapcount[1] = diff - 1;
            f.mm_ids_shared = true;
        }
    }

    /// `folio_sub_return_large_mapcount()`: a slot that goes negative is freed; when one slot then owns every
    /// mapping the folio is exclusive again.
    fn folio_sub_large_mapcount(&mut self, head: Pfn, diff: i32, mm: MmId) {
        let f = self.folio_mut(head);
        let new = f.large_mapcount - diff;
        f.large_mapcount = new;
        for i in 0..2 {
            if f.mm_id[i] == mm {
                f.mm_id_mapcount[i] -= diff;
                if f.mm_id_mapcount[i] >= 0 {
                    return;
                }
                f.mm_id_mapcount[i] = -1;
                f.mm_id[i] = 0;
                break;
            }
        }
        if f.mm_id_mapcount[0] == new || f.mm_id_mapcount[1] == new {
            f.mm_ids_shared = false;
        }
    }

    /// `folio_add_new_anon_rmap()` (7.2:mm/rmap.c:1646): the first mapping of a new anonymous folio, by PTE
    /// (`pmd == false`, order-0 folios) or by PMD. Sets `PG_swapbacked`, the anon mapping, `_mapcount = 0` (or
    /// `_entire_mapcount = 0`) and, if `exclusive`, `PG_anon_exclusive`.
    pub(crate) fn folio_add_new_anon_rmap(&mut self, head: Pfn, mm: MmId, addr: u64, exclusive: bool, pmd: bool) {
        let f = self.folio_mut(head);
        f.flags.set_swapbacked();
        f.mapping = FolioMapping::Anon;
        if pmd {
            f.entire_mapcount = 0;
            f.large_mapcount = 0;
            f.mm_id = [mm, 0];
            f.mm_id_mapcount = [0, -1];
            f.mm_ids_shared = false;
            f.pages[0].anon_exclusive = exclusive;
        } else {
            debug_assert!(!f.is_large(), "PTE-mapping a new large folio: the model only maps PMD-sized ones by PMD");
            f.pages[0].mapcount = 0;
            f.pages[0].anon_exclusive = exclusive;
        }
        rmap_push(&mut f.rmap, Rmap { mm, addr, page: 0, pmd });
        self.sync_head_exclusive(head);
    }

    /// `folio_add_anon_rmap_ptes()`/`folio_add_file_rmap_ptes()` for one page, and the mapcount half of
    /// `folio_try_dup_anon_rmap_pte()`: `_mapcount++` (and the large mapcount for large folios).
    pub(crate) fn folio_add_rmap_pte(&mut self, head: Pfn, idx: usize, mm: MmId, addr: u64, exclusive: bool) {
        let f = self.folio_mut(head);
        let large = f.is_large();
        let p = &mut f.pages[idx];
        p.mapcount += 1;
        if p.mapcount == 0 && large {
            f.nr_pages_mapped += 1;
        }
        if exclusive {
            f.pages[idx].anon_exclusive = true;
        }
        rmap_push(&mut f.rmap, Rmap { mm, addr, page: idx as u32, pmd: false });
        if large {
            self.folio_add_large_mapcount(head, 1, mm);
        }
        self.sync_head_exclusive(head);
    }

    /// The PMD half of `folio_try_dup_anon_rmap_pmd()` (fork of a PMD-mapped THP): `_entire_mapcount++`.
    pub(crate) fn folio_add_rmap_pmd(&mut self, head: Pfn, mm: MmId, addr: u64) {
        let f = self.folio_mut(head);
        f.entire_mapcount += 1;
        rmap_push(&mut f.rmap, Rmap { mm, addr, page: 0, pmd: true });
        self.folio_add_large_mapcount(head, 1, mm);
    }

    fn rmap_remove(&mut self, head: Pfn, mm: MmId, addr: u64, pmd: bool) {
        let f = self.folio_mut(head);
        if let Some(i) = f.rmap.iter().position(|r| r.mm == mm && r.addr == addr && r.pmd == pmd) {
            // remove(), not swap_remove(): reclaim walks mappings in the order they were made, like the
            // anon_vma interval tree visits older VMAs first.
            f.rmap.remove(i);
        }
    }

    /// `folio_remove_rmap_pte()`: one page, see [`Model::folio_remove_rmap_ptes`].
    pub(crate) fn folio_remove_rmap_pte(&mut self, head: Pfn, idx: usize, mm: MmId, addr: u64) {
        self.folio_remove_rmap_ptes(head, idx, 1, mm, addr);
    }

    /// `folio_remove_rmap_ptes()` → `__folio_remove_rmap(RMAP_LEVEL_PTE)` (7.2:mm/rmap.c:1780): `nr` consecutive
    /// pages from `idx`, mapped at consecutive addresses from `addr`, lose one PTE mapping each, in one step.
    /// A large anon folio is queued for deferred split only if some of its pages are still mapped afterwards
    /// (so zapping a whole PTE-mapped THP in one batch never counts as a partial unmap). Does not drop the
    /// references. Costs O(nr + mappings of the folio).
    pub(crate) fn folio_remove_rmap_ptes(&mut self, head: Pfn, idx: usize, nr: usize, mm: MmId, addr: u64) {
        let end = addr + ((nr as u64) << crate::consts::PAGE_SHIFT);
        let f = self.folio_mut(head);
        if nr == 1 {
            if let Some(i) = f.rmap.iter().position(|r| r.mm == mm && r.addr == addr && !r.pmd) {
                // remove(), not swap_remove(): reclaim walks mappings in the order they were made, like the
                // anon_vma interval tree visits older VMAs first.
                f.rmap.remove(i);
            }
        } else {
            f.rmap.retain(|r| !(r.mm == mm && !r.pmd && r.addr >= addr && r.addr < end));
        }
        let mut last = 0;
        for p in &mut f.pages[idx..idx + nr] {
            p.mapcount -= 1;
            last += (p.mapcount < 0) as i32;
        }
        if !f.is_large() {
            return;
        }
        f.nr_pages_mapped -= last;
        let partially_mapped = last > 0 && f.entire_mapcount < 0 && f.nr_pages_mapped > 0;
        self.folio_sub_large_mapcount(head, nr as i32, mm);
        if partially_mapped {
            self.deferred_split_folio(head, true);
        }
        self.sync_head_exclusive(head);
    }

    /// `folio_remove_rmap_pmd()` → `__folio_remove_rmap(RMAP_LEVEL_PMD)`.
    pub(crate) fn folio_remove_rmap_pmd(&mut self, head: Pfn, mm: MmId, addr: u64) {
        self.rmap_remove(head, mm, addr, true);
        let f = self.folio_mut(head);
        f.entire_mapcount -= 1;
        let last = f.entire_mapcount < 0;
        let nr = f.nr_pages() as i32;
        let partially_mapped = last && f.nr_pages_mapped > 0 && f.nr_pages_mapped < nr;
        self.folio_sub_large_mapcount(head, 1, mm);
        if partially_mapped {
            self.deferred_split_folio(head, true);
        }
    }

    /// `deferred_split_folio()` (7.2:mm/huge_memory.c:4467): queue a partially mapped anon large folio.
    pub(crate) fn deferred_split_folio(&mut self, head: Pfn, partially_mapped: bool) {
        let f = &self.folios[&head];
        if f.order <= 1 || !f.is_anon() || f.flags.test_swapcache() {
            return;
        }
        if partially_mapped && !f.flags.test_partially_mapped() {
            let order = f.order;
            let f = self.folio_mut(head);
            f.flags.set_partially_mapped();
            f.deferred_split = true;
            if order == HPAGE_PMD_ORDER {
                self.count(VmEvent::THP_DEFERRED_SPLIT_PAGE, 1);
            }
            self.deferred_split.insert(head);
        }
    }

    /// kpageflags reads `PG_anon_exclusive` of the head page through the folio flags; keep that view in sync. The
    /// bit is `PG_mappedtodisk` on a page-cache folio, which the rmap leaves alone.
    pub(crate) fn sync_head_exclusive(&mut self, head: Pfn) {
        let f = FolioRc::make_mut(self.folios.get_mut(&head).expect("folio vanished"));
        if !f.is_anon() {
            return;
        }
        if f.pages[0].anon_exclusive {
            f.flags.set_anon_exclusive();
        } else {
            f.flags.clear_anon_exclusive();
        }
    }

    /// Sets or clears `PG_anon_exclusive` on one page.
    pub(crate) fn set_page_anon_exclusive(&mut self, head: Pfn, idx: usize, on: bool) {
        self.folio_mut(head).pages[idx].anon_exclusive = on;
        self.sync_head_exclusive(head);
    }

    /// The mappings of the page `pfn` (for a PMD-mapped folio, the PMD mappings too): `rmap_walk` restricted
    /// to one page. Costs time proportional to the folio's mappings.
    pub fn page_rmap(&self, pfn: Pfn) -> Vec<Rmap> {
        let Some(head) = self.folio_head(pfn) else {
            return Vec::new();
        };
        let idx = (pfn - head) as u32;
        let mut v: Vec<Rmap> = self.folios[&head].rmap.iter().filter(|r| r.pmd || r.page == idx).copied().collect();
        v.sort_by_key(|r| (r.mm, r.addr));
        v
    }
}

/// Appends a mapping to a folio's reverse map, making room for just one in an empty map: most folios are mapped
/// once (an order-0 anonymous page by its one PTE), and a map that grows past one grows like any `Vec`.
#[inline]
fn rmap_push(rmap: &mut Vec<Rmap>, r: Rmap) {
    if rmap.capacity() == 0 {
        rmap.reserve_exact(1);
    }
    rmap.push(r);
}
