//! The never-merged MM_LAZYFREEPAGES counter (Shaohua Li, "mm: add a separate RSS for MADV_FREE pages", Feb
//! 2017; seed 000, kernel-semantics §12.3), for the profiles `lazyfree-rss` and `lazyfree-rss-noflag`.
//!
//! With the patch (`lazyfree-rss`), madvise charges a page mapped once and marks it `PG_lazyfreeaccounted` (an
//! alias of `PG_mappedtodisk`); zap, reclaim's unmap (success or failure), fork (from the source mm: the page
//! becomes shared) and GUP uncharge a marked page. Without the flag, as Minchan Kim suggested in the thread
//! (`lazyfree-rss-noflag`), madvise charges the caller whenever it makes a page lazy-free, fork charges the child
//! for a lazy-free page behind a clean PTE, and zap, unmap and GUP uncharge a page that is still lazy-free: a
//! second madvise of one page counts it twice, and nothing takes the extra count back.
//! Neither form sees a user store through a clean writable PTE, so a page written after MADV_FREE stays counted
//! where smaps' LazyFree, which reads the PTE's dirty bit, leaves it out.

use crate::event::Pfn;
use crate::folio::MmId;
use crate::model::Model;

impl Model {
    /// `madvise_free_pte_range()` / `madvise_free_huge_pmd()` with the patch: after `mark_page_lazyfree()`,
    /// `if (page_mapcount(page) == 1 && !TestSetPageLazyFreeAccounted(page)) add_mm_counter(mm,
    /// MM_LAZYFREEPAGES, nr)`. `page` is the walk's page in the folio.
    pub(crate) fn lazyfree_rss_charge(&mut self, mm: MmId, head: Pfn, page: usize) {
        let Some(flagged) = self.cfg.profile.lazyfree_rss() else { return };
        let Some(f) = self.folios.get(&head) else { return };
        if flagged && (f.page_mapcount(page) != 1 || f.lazyfree_accounted) {
            return;
        }
        let nr = f.nr_pages() as i64;
        if flagged {
            self.folio_mut(head).lazyfree_accounted = true;
        }
        if let Some(m) = self.mms.get_mut(&mm) {
            m.lazyfree_rss += nr;
        }
    }

    /// The uncharge of `zap_pte_range()`, `zap_huge_pmd()`, `try_to_unmap_one()` and `follow_page_pte()`:
    /// `if (TestClearPageLazyFreeAccounted(page)) add_mm_counter(mm, MM_LAZYFREEPAGES, -nr)`; without the flag, a
    /// page that is still lazy-free is uncharged.
    #[inline]
    pub(crate) fn lazyfree_rss_uncharge(&mut self, mm: MmId, head: Pfn) {
        if let Some(flagged) = self.cfg.profile.lazyfree_rss() {
            self.lazyfree_rss_uncharge_slow(mm, head, flagged);
        }
    }

    /// fork's `copy_one_pte()` / `copy_huge_pmd()` for an anon folio: with the flag, the source mm is uncharged;
    /// without it, the child is charged for a page still lazy-free behind a clean PTE (`dirty` is the parent's
    /// PTE dirty bit).
    pub(crate) fn lazyfree_rss_fork(&mut self, pmm: MmId, cmm: MmId, head: Pfn, dirty: bool) {
        match self.cfg.profile.lazyfree_rss() {
            None => {}
            Some(true) => self.lazyfree_rss_uncharge_slow(pmm, head, true),
            Some(false) if !dirty && self.lazyfree_now(head) => {
                let nr = self.folios[&head].nr_pages() as i64;
                if let Some(m) = self.mms.get_mut(&cmm) {
                    m.lazyfree_rss += nr;
                }
            }
            Some(false) => {}
        }
    }

    /// Lazy-free, or on its way there in a CPU's lazyfree batch.
    fn lazyfree_now(&self, head: Pfn) -> bool {
        self.folios.get(&head).is_some_and(|f| f.is_lazyfree())
            || self.cpus.iter().any(|c| c.lru_lazyfree.contains(&head))
    }

    fn lazyfree_rss_uncharge_slow(&mut self, mm: MmId, head: Pfn, flagged: bool) {
        let Some(f) = self.folios.get(&head) else { return };
        let charged = if flagged { f.lazyfree_accounted } else { self.lazyfree_now(head) };
        if !charged {
            return;
        }
        let nr = f.nr_pages() as i64;
        if flagged {
            self.folio_mut(head).lazyfree_accounted = false;
        }
        if let Some(m) = self.mms.get_mut(&mm) {
            m.lazyfree_rss -= nr;
        }
    }
}
