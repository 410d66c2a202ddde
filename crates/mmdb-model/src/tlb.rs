//! The mmu_gather of a zap (`struct mmu_gather`): how many pages an unmap gathers before its batch is full and
//! `zap_pte_range()` must stop, step the counters and flush.
//!
//! An unmap (munmap, MADV_DONTNEED) collects the pages it unmaps in an mmu_gather and frees them at the TLB flush.
//! The gather holds an on-stack bundle of `MMU_GATHER_BUNDLE` (8) entries, then up to `MAX_GATHER_BATCH_COUNT`
//! (19) pages of `MAX_GATHER_BATCH` (510) entries that `tlb_next_batch()` allocates (`GFP_NOWAIT`, visible in a
//! trace) as each fills. `__tlb_remove_folio_pages_size()` (6.12:mm/mmu_gather.c:165) adds one entry for a page,
//! two for a run of a large folio (the page and `nr_pages`), and asks for the next batch once `nr >= max - 1`; when
//! there is none to be had, `zap_pte_range()` sets `force_break`, stops after that run, writes its `rss_stat`s
//! (`add_mm_rss_vec()`), flushes (`tlb_flush_mmu()`: the gathered pages are freed) and carries on from there
//! with the batches it kept. So a 50 MB munmap steps its counters one page table at a time, except every
//! 7 + 19 × 509 = 9678 pages, where a step stops inside a table: the model must stop there too.
//!
//! Not modelled: a `GFP_NOWAIT` batch allocation that fails, `need_resched()` breaks, and the limit
//! `tlb_next_batch()` puts on batches while delayed rmaps (dirty shared file pages) are pending.

use crate::consts::*;
use crate::folio::MmId;
use crate::mm::{pmd_index, Pmd, Pte};
use crate::model::Model;

/// `MMU_GATHER_BUNDLE`: the entries of the on-stack batch (`tlb->local`).
pub const MMU_GATHER_BUNDLE: u32 = 8;
/// `MAX_GATHER_BATCH`: the entries of an allocated batch page, `(PAGE_SIZE - 16) / 8`.
pub const MAX_GATHER_BATCH: u32 = ((PAGE_SIZE as u32) - 16) / 8;
/// `MAX_GATHER_BATCH_COUNT`: how many batch pages one gather may allocate, `10000 / MAX_GATHER_BATCH`.
pub const MAX_GATHER_BATCH_COUNT: u32 = 10_000 / MAX_GATHER_BATCH;

/// The fill state of one `struct mmu_gather` (`tlb_gather_mmu()` starts it empty).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmuGather {
    /// The batch being filled: 0 is `tlb->local`, k the k-th allocated batch.
    active: u32,
    /// Entries in the active batch (`batch->nr`).
    nr: u32,
    /// Batches allocated so far (`tlb->batch_count`); kept across flushes until `tlb_finish_mmu()`.
    batch_count: u32,
}

impl MmuGather {
    /// Adds one gathered page (`slots` 1) or large-folio run (`slots` 2), as `__tlb_remove_folio_pages_size()`
    /// does; true when the gather is full and must be flushed (`tlb_next_batch()` failed).
    pub fn add(&mut self, slots: u32) -> bool {
        self.nr += slots;
        let max = if self.active == 0 { MMU_GATHER_BUNDLE } else { MAX_GATHER_BATCH };
        if self.nr < max - 1 {
            return false;
        }
        // tlb_next_batch(): the next batch kept from an earlier flush, else a new one while the count allows.
        if self.active < self.batch_count || self.batch_count < MAX_GATHER_BATCH_COUNT {
            self.batch_count = self.batch_count.max(self.active + 1);
            self.active += 1;
            self.nr = 0;
            return false;
        }
        true
    }

    /// `tlb_flush_mmu()` → `tlb_batch_pages_flush()`: every batch is emptied, the local one is active again;
    /// the allocated batches stay.
    pub fn flush(&mut self) {
        self.active = 0;
        self.nr = 0;
    }

    /// How many batch pages the gather has allocated (each a `GFP_NOWAIT` `mm_page_alloc`).
    pub fn batch_count(&self) -> u32 {
        self.batch_count
    }
}

impl Model {
    /// Gathers the pages a zap of `[start, end)` in `mm` would add to `gather`, in the kernel's order
    /// (`zap_pmd_range()` → `zap_huge_pmd()` or `zap_pte_range()`), and returns the address where a
    /// `zap_pte_range()` stops on a full gather (`force_break`), after flushing `gather`; `None` when the zap
    /// reaches `end`. The zero page (`vm_normal_page()` is NULL) and swap entries are not gathered;
    /// consecutive PTEs of one large folio are one run (`folio_pte_batch()`), never past a page table's end.
    pub fn zap_gather(&self, mm: MmId, gather: &mut MmuGather, start: u64, end: u64) -> Option<u64> {
        let mm = self.mm_struct(mm)?;
        if start >= end {
            return None;
        }
        let (first, _) = pmd_index(start);
        let (last, _) = pmd_index(end - 1);
        for (&pmd, slot) in mm.pmds.range(first..=last) {
            let base = pmd * HPAGE_PMD_SIZE;
            match slot {
                // zap_huge_pmd(): tlb_remove_page_size() flushes a full gather itself; the zap goes on.
                Pmd::Huge(h) => {
                    if !h.huge_zero && gather.add(1) {
                        gather.flush();
                    }
                }
                Pmd::Table(t) => {
                    let lo = if pmd == first { pmd_index(start).1 } else { 0 };
                    let hi = if pmd == last { pmd_index(end - 1).1 + 1 } else { PTRS_PER_PTE };
                    let mut i = lo;
                    while i < hi {
                        let Pte::Present(p) = t[i] else {
                            i += 1;
                            continue;
                        };
                        if p.special {
                            i += 1;
                            continue;
                        }
                        // folio_pte_batch(): the PTEs that follow map the next pages of the same folio.
                        let head = self.folio_head(p.pfn);
                        let mut nr = 1;
                        while i + nr < hi
                            && matches!(t[i + nr], Pte::Present(q)
                                if !q.special && q.pfn == p.pfn + nr as u64 && self.folio_head(q.pfn) == head)
                        {
                            nr += 1;
                        }
                        i += nr;
                        if gather.add(if nr == 1 { 1 } else { 2 }) {
                            gather.flush();
                            let at = base + ((i as u64) << PAGE_SHIFT);
                            return (at < end).then_some(at);
                        }
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_gather_holds_9678_pages() {
        // 7 in the local bundle (full at nr >= 7), then 509 in each of 19 allocated batches.
        let mut g = MmuGather::default();
        let n = (1..).find(|_| g.add(1)).unwrap();
        assert_eq!(n, 7 + 19 * 509);
        assert_eq!(g.batch_count(), 19);
        // After the flush the kept batches are reused: the next fill holds as many.
        g.flush();
        let n = (1..).find(|_| g.add(1)).unwrap();
        assert_eq!((n, g.batch_count()), (9678, 19));
    }

    #[test]
    fn a_large_folio_run_takes_two_entries() {
        let mut g = MmuGather::default();
        assert!(!g.add(2)); // nr 2
        assert!(!g.add(2)); // nr 4
        assert!(!g.add(2)); // nr 6
        assert!(!g.add(2)); // nr 8 >= 7: the first allocated batch
        assert_eq!((g.active, g.nr, g.batch_count), (1, 0, 1));
    }
}
