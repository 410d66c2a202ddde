//! Kernel profiles: named sets of semantic switches, each the behaviour a kernel version or a proposed patch
//! gave one operation, so that the same input can be replayed under each and compared (`mmdb diff`).
//!
//! The default, [`Profile::Linux618`], is the kernel the rest of the model mirrors. The others change only what
//! their doc comment names; everything else stays 6.18. A patch's profile changes only what the patch changed;
//! a version's profile (`linux-4.5`, ...) changes what that version did differently in what the model covers.

use crate::folio::Folio;

/// A kernel profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Linux 6.18 as shipped: the rest of the model.
    #[default]
    Linux618,
    /// "Is this large folio shared?" answered by `folio_mapcount() > 1`: every mapping counts, the caller's own
    /// included, so a folio PTE-mapped twice by one process looks shared (seed 004). Like the next two, an era
    /// before 6.15, when a write fault never reused a large anon folio that was not `PG_anon_exclusive`.
    SharersTotal,
    /// ... by `folio_estimated_sharers() > 1` (6.3): the first page's mapcount alone, blind to the rest of the
    /// folio (seed 004).
    SharersEstimated,
    /// ... by `folio_likely_mapped_shared()` (6.9 to 6.14): exclusive when the total mapcount is at most 1; shared
    /// when PMD-mapped or mapped more often than it has pages; otherwise the first page's `_mapcount > 0` (seed 004).
    SharersLikely,
    /// ... by `folio_maybe_mapped_shared()` with the 6.15 mm-id slots: exact but for a third mm that came while
    /// both slots were taken. The same as `linux-6.18`, named for comparing with the other three (seed 004).
    SharersPrecise,
    /// MADV_FREE as merged in 4.5 (to 4.11): without swap it is MADV_DONTNEED; with swap the page keeps
    /// `PG_swapbacked` on the anon LRU (deactivated, PTE cleaned and aged, `PG_dirty` cleared), and reclaim
    /// discards it while it is still clean (TTU_LZFREE, PGLAZYFREED); no PGLAZYFREE, no LazyFree (seed 003).
    Linux45,
    /// MADV_FREE as Minchan Kim's 2014 v3 patch had it (seed 003): as `linux-4.5`, but the page is not
    /// deactivated.
    MadvFreeV3,
    /// MADV_FREE as reworked in 4.12 (Shaohua Li): lazy-free pages lose `PG_swapbacked` and go to the inactive
    /// file list, also without swap, as on 6.18; but every THP the walk meets is split, and "shared" is the
    /// mapcount of the one page at hand, `page_mapcount(page) != 1` (kernel-semantics §12.2). No MADV_COLD or
    /// MADV_PAGEOUT (5.4): they return -EINVAL.
    Linux412,
    /// `linux-4.12` plus Shaohua Li's never-merged MM_LAZYFREEPAGES (seed 000, kernel-semantics §12.3): madvise
    /// charges a page mapped once and marks it `PG_lazyfreeaccounted`; zap, reclaim's unmap (success or not),
    /// fork (from the source mm) and GUP uncharge it. Shown as RssLazyfree.
    LazyfreeRss,
    /// `lazyfree-rss` without the flag, as Minchan Kim suggested in the thread: madvise charges every time it
    /// makes a page lazy-free, and the uncharge sites uncharge a page that is still lazy-free, so a second
    /// madvise of the same page counts it twice (seed 000).
    LazyfreeRssNoflag,
    /// Vladimir Davydov's 2015 RFC "mm: uncharge kmem pages from generic free_page path" (seed 001, on 4.3):
    /// `alloc_kmem_pages()` marks its pages with `_mapcount = PAGE_KMEM_MAPCOUNT_VALUE` (`PageKmem()`), and
    /// `free_pages_prepare()` uncharges a marked page however it is freed (`put_page()`, `release_pages()`).
    KmemcgUncharge,
    /// Linux 4.8: kmem pages charged through `__GFP_ACCOUNT` and marked `PageKmemcg` (PAGE_KMEMCG_MAPCOUNT_VALUE
    /// in `_mapcount`), uncharged in the free path; MADV_FREE as in 4.5 (kernel-semantics §11.2, §12.1).
    Linux48,
    /// Minchan Kim's volatile ranges, RFC v7 (seed 002, Mar 2013, on 3.9): `vrange(addr, len, mode, behavior)`
    /// marks anonymous ranges volatile; reclaim purges volatile ranges first, from an LRU of ranges, before
    /// anything else, and does not purge a page a process that has not marked it volatile still maps.
    VrangeV7,
}

/// How kmem pages are charged, marked and uncharged (kernel-semantics §11.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KmemEra {
    /// Up to 4.7: `alloc_kmem_pages()` charges; only `free_kmem_pages()` uncharges; no mark.
    Helpers,
    /// The 2015 RFC: `alloc_kmem_pages()` sets PAGE_KMEM_MAPCOUNT_VALUE; the generic free path uncharges.
    PageKmem,
    /// 4.8 to 4.17: `__GFP_ACCOUNT` charges and sets PAGE_KMEMCG_MAPCOUNT_VALUE; the free path uncharges.
    Kmemcg,
    /// 5.11 and later: `MEMCG_DATA_KMEM` in `memcg_data`; `_mapcount` is not used, and is a `page_type` union.
    MemcgData,
}

impl Profile {
    /// Every profile, in the order `mmdb profiles` lists them.
    pub const ALL: [Profile; 13] = [
        Profile::Linux618,
        Profile::SharersTotal,
        Profile::SharersEstimated,
        Profile::SharersLikely,
        Profile::SharersPrecise,
        Profile::Linux45,
        Profile::MadvFreeV3,
        Profile::Linux412,
        Profile::LazyfreeRss,
        Profile::LazyfreeRssNoflag,
        Profile::KmemcgUncharge,
        Profile::Linux48,
        Profile::VrangeV7,
    ];

    /// The profile's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Linux618 => "linux-6.18",
            Profile::SharersTotal => "sharers-total",
            Profile::SharersEstimated => "sharers-estimated",
            Profile::SharersLikely => "sharers-likely",
            Profile::SharersPrecise => "sharers-precise",
            Profile::Linux45 => "linux-4.5",
            Profile::MadvFreeV3 => "madv-free-v3",
            Profile::Linux412 => "linux-4.12",
            Profile::LazyfreeRss => "lazyfree-rss",
            Profile::LazyfreeRssNoflag => "lazyfree-rss-noflag",
            Profile::KmemcgUncharge => "kmemcg-uncharge",
            Profile::Linux48 => "linux-4.8",
            Profile::VrangeV7 => "vrange-v7",
        }
    }

    /// The profile called `name`.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// One line: what the profile changes and where it comes from.
    pub fn summary(self) -> &'static str {
        match self {
            Profile::Linux618 => "Linux 6.18 as shipped (the default)",
            Profile::SharersTotal => {
                "MADV_FREE/COLD/PAGEOUT treat a large folio as shared when folio_mapcount() > 1 (seed 004)"
            }
            Profile::SharersEstimated => {
                "... when folio_estimated_sharers(), the first page's mapcount, is > 1 (6.3; seed 004)"
            }
            Profile::SharersLikely => "... when folio_likely_mapped_shared() says so (6.9-6.14; seed 004)",
            Profile::SharersPrecise => "... when folio_maybe_mapped_shared() says so, mm-id slots (6.15+; seed 004)",
            Profile::Linux45 => {
                "MADV_FREE of 4.5-4.11: DONTNEED without swap; pages stay swap-backed, deactivated, discarded clean"
            }
            Profile::MadvFreeV3 => "MADV_FREE of the 2014 v3 patch (3.14): as linux-4.5, without the deactivation",
            Profile::Linux412 => {
                "MADV_FREE of 4.12: inactive file list, no swap needed; THPs split; page_mapcount(page) != 1 is shared"
            }
            Profile::LazyfreeRss => "linux-4.12 + MM_LAZYFREEPAGES (RssLazyfree), never merged (2017; seed 000)",
            Profile::LazyfreeRssNoflag => "lazyfree-rss without PG_lazyfreeaccounted: a second madvise counts twice",
            Profile::KmemcgUncharge => {
                "kmem pages marked by _mapcount (PageKmem), uncharged in any free path (2015; seed 001)"
            }
            Profile::Linux48 => "kmem charged by __GFP_ACCOUNT, marked PageKmemcg in _mapcount; MADV_FREE as 4.5",
            Profile::VrangeV7 => "vrange(): volatile anon ranges, purged first under pressure, RFC v7 (2013; seed 002)",
        }
    }

    /// The kmem accounting of the profile's kernel.
    pub fn kmem_era(self) -> KmemEra {
        match self {
            Profile::Linux45 | Profile::MadvFreeV3 => KmemEra::Helpers,
            Profile::KmemcgUncharge => KmemEra::PageKmem,
            Profile::Linux48 | Profile::Linux412 | Profile::LazyfreeRss | Profile::LazyfreeRssNoflag => KmemEra::Kmemcg,
            _ => KmemEra::MemcgData,
        }
    }

    /// MADV_FREE of the 4.12 era: every large folio the walk meets is split, and sharing is judged by the page
    /// at hand.
    pub(crate) fn madv_free_412(self) -> bool {
        matches!(self, Profile::Linux412 | Profile::LazyfreeRss | Profile::LazyfreeRssNoflag)
    }

    /// `wp_can_reuse_anon_folio()` may reuse a large anon folio that is not `PG_anon_exclusive` (6.15's mm-id
    /// slots make "exclusive to this mm" knowable); before, in the era of the other sharers checks, a large folio
    /// was never reused that way: the write fault copies the page.
    pub(crate) fn large_folio_cow_reuse(self) -> bool {
        !matches!(self, Profile::SharersTotal | Profile::SharersEstimated | Profile::SharersLikely)
    }

    /// MADV_COLD and MADV_PAGEOUT exist (5.4 and later).
    pub(crate) fn has_madv_cold(self) -> bool {
        !self.swapbacked_lazyfree() && !self.madv_free_412()
    }

    /// The MM_LAZYFREEPAGES counter: `Some(true)` with `PG_lazyfreeaccounted`, `Some(false)` without it.
    pub fn lazyfree_rss(self) -> Option<bool> {
        match self {
            Profile::LazyfreeRss => Some(true),
            Profile::LazyfreeRssNoflag => Some(false),
            _ => None,
        }
    }

    /// MADV_FREE keeps lazy-free pages swap-backed on the anon LRU, as before 4.12 (kernel-semantics §12.1).
    pub(crate) fn swapbacked_lazyfree(self) -> bool {
        matches!(self, Profile::Linux45 | Profile::MadvFreeV3 | Profile::Linux48)
    }

    /// The "is this large folio shared?" test of MADV_FREE, MADV_COLD and MADV_PAGEOUT, which skip (or do not
    /// split) a shared folio.
    /// `idx` is the page the walk is at (the first of a PTE batch; 0 for a PMD mapping).
    pub(crate) fn folio_shared(self, f: &Folio, idx: usize) -> bool {
        match self {
            Profile::Linux618
            | Profile::SharersPrecise
            | Profile::Linux45
            | Profile::MadvFreeV3
            | Profile::Linux48
            | Profile::KmemcgUncharge
            | Profile::VrangeV7 => f.maybe_mapped_shared(),
            Profile::Linux412 | Profile::LazyfreeRss | Profile::LazyfreeRssNoflag => f.page_mapcount(idx) != 1,
            Profile::SharersTotal => f.mapcount() > 1,
            Profile::SharersEstimated => f.page_mapcount(0) > 1,
            Profile::SharersLikely => {
                let mapcount = f.mapcount();
                if !f.is_large() {
                    return mapcount > 1;
                }
                if mapcount <= 1 {
                    return false;
                }
                if f.entire_mapcount >= 0 || mapcount > f.nr_pages() as i32 {
                    return true;
                }
                f.pages[0].mapcount > 0
            }
        }
    }
}
