//! Kernel profiles: named sets of semantic switches, each the behaviour a kernel version or a proposed patch
//! gave one operation, so that the same input can be replayed under each and compared (`mmdb diff`).
//!
//! The default, [`Profile::Linux618`], is the kernel the rest of the model mirrors. The others change only what
//! their doc comment names; everything else stays 6.18.

use crate::folio::Folio;

/// A kernel profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Linux 6.18 as shipped: the rest of the model.
    #[default]
    Linux618,
    /// "Is this large folio shared?" answered by `folio_mapcount() > 1`: every mapping counts, the caller's own
    /// included, so a folio PTE-mapped twice by one process looks shared (seed 004).
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
}

impl Profile {
    /// Every profile, in the order `mmdb profiles` lists them.
    pub const ALL: [Profile; 7] = [
        Profile::Linux618,
        Profile::SharersTotal,
        Profile::SharersEstimated,
        Profile::SharersLikely,
        Profile::SharersPrecise,
        Profile::Linux45,
        Profile::MadvFreeV3,
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
        }
    }

    /// MADV_FREE keeps lazy-free pages swap-backed on the anon LRU, as before 4.12 (kernel-semantics §12.1).
    pub(crate) fn swapbacked_lazyfree(self) -> bool {
        matches!(self, Profile::Linux45 | Profile::MadvFreeV3)
    }

    /// The "is this large folio shared?" test of MADV_FREE, MADV_COLD and MADV_PAGEOUT, which skip (or do not
    /// split) a shared folio.
    pub(crate) fn folio_shared(self, f: &Folio) -> bool {
        match self {
            Profile::Linux618 | Profile::SharersPrecise | Profile::Linux45 | Profile::MadvFreeV3 => {
                f.maybe_mapped_shared()
            }
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
