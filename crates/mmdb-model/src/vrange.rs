//! Volatile ranges, as Minchan Kim's RFC v7 "Support vrange for anonymous page" had them (profile `vrange-v7`;
//! seed 002, Mar 2013 on 3.9; kernel-semantics §12.4). Never merged; MADV_FREE is its descendant.
//!
//! - `vrange(start, len, VRANGE_VOLATILE, behavior)` records `[start, start + len)` in the mm's range tree
//!   (`add_vrange()`, merging overlapping ranges) and puts it at the tail of a global LRU of ranges.
//! - Reclaim purges volatile ranges before it reclaims anything else (`discard_vrange_pages()`): the oldest range
//!   is the victim; VRANGE_FULL discards every page of it, VRANGE_PARTIAL only as many as reclaim asked for (the
//!   intent Minchan described; v7 itself had not implemented PARTIAL yet).
//! - A page is purged only when every mapping of it is inside a volatile range of its own mm: a page still
//!   COW-shared with a process that has not marked it volatile stays (`try_to_discard_one()`), as John Stultz
//!   found in the thread.
//! - A purged page's PTE keeps a mark (`pte_mkvrange()`, [`Pte::Vrange`]): a fault on it is SIGBUS while the
//!   range is volatile and purged (`is_purged_vrange()`), and maps a fresh zero-filled page once it is not.
//!   `zap_pte_range()` skips the mark; v7's `copy_one_pte()` did not know it and counted it in the child as a
//!   swap entry (the bug the thread found; fixed in the June 2013 repost): see `copy_page_range()` in fork.rs.
//! - `vrange(start, len, VRANGE_NOVOLATILE, _)` removes the ranges (`remove_vrange()`) and returns 1 when any of
//!   them lost a page to purging, else 0.
//! - Volatility is not inherited at fork (the child's tree starts empty), and goes with the mm at exit.

use serde::{Deserialize, Serialize};

use crate::consts::*;
use crate::event::{Pfn, Pid};
use crate::folio::MmId;
use crate::mm::Pte;
use crate::model::Model;
use crate::Profile;

/// `mode` of `vrange()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VrangeMode {
    /// VRANGE_VOLATILE (0): the kernel may discard the range's pages.
    Volatile,
    /// VRANGE_NOVOLATILE (1): pin the range again; reports whether anything was purged.
    Novolatile,
}

/// `behavior` of `vrange()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VrangeBehavior {
    /// VRANGE_FULL (0): once chosen, the whole range is discarded.
    Full,
    /// VRANGE_PARTIAL (1): only what reclaim needs.
    Partial,
}

impl VrangeMode {
    /// The name the mm event format writes.
    pub fn name(self) -> &'static str {
        match self {
            VrangeMode::Volatile => "volatile",
            VrangeMode::Novolatile => "novolatile",
        }
    }
    /// The mode called `name`, or numbered so (0, 1).
    pub fn from_name(name: &str) -> Option<VrangeMode> {
        match name {
            "volatile" | "0" => Some(VrangeMode::Volatile),
            "novolatile" | "1" => Some(VrangeMode::Novolatile),
            _ => None,
        }
    }
}

impl VrangeBehavior {
    /// The name the mm event format writes.
    pub fn name(self) -> &'static str {
        match self {
            VrangeBehavior::Full => "full",
            VrangeBehavior::Partial => "partial",
        }
    }
    /// The behavior called `name`, or numbered so (0, 1).
    pub fn from_name(name: &str) -> Option<VrangeBehavior> {
        match name {
            "full" | "0" => Some(VrangeBehavior::Full),
            "partial" | "1" => Some(VrangeBehavior::Partial),
            _ => None,
        }
    }
}

/// One `struct vrange` of an mm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolatileRange {
    pub start: u64,
    pub end: u64,
    pub behavior: VrangeBehavior,
    /// Some page of the range was discarded since it became volatile.
    pub purged: bool,
}

impl Model {
    /// `sys_vrange()`. Returns 0, 1 (NOVOLATILE of a purged range), or -ENOSYS on a kernel without it.
    pub(crate) fn sys_vrange(
        &mut self,
        pid: Pid,
        addr: u64,
        len: u64,
        mode: VrangeMode,
        behavior: VrangeBehavior,
    ) -> i64 {
        if self.cfg.profile != Profile::VrangeV7 {
            return -ENOSYS;
        }
        let Some(mm) = self.task_mm(pid) else { return -EINVAL };
        if !addr.is_multiple_of(PAGE_SIZE) {
            return -EINVAL;
        }
        let Some(end) = addr.checked_add(page_align(len)) else { return -EINVAL };
        if end == addr {
            return 0;
        }
        self.ctx_addr = Some(addr);
        match mode {
            VrangeMode::Volatile => {
                self.add_vrange(mm, addr, end, behavior);
                0
            }
            VrangeMode::Novolatile => i64::from(self.remove_vrange(mm, addr, end)),
        }
    }

    /// `add_vrange()`: the new range absorbs the ranges it overlaps (and their purged state), then goes to the
    /// tail of the range LRU.
    fn add_vrange(&mut self, mm: MmId, start: u64, end: u64, behavior: VrangeBehavior) {
        let m = self.mm_mut(mm);
        let overlapping: Vec<u64> = m.vranges.range(..end).filter(|(_, r)| r.end > start).map(|(s, _)| *s).collect();
        let mut range = VolatileRange { start, end, behavior, purged: false };
        for s in overlapping {
            let r = m.vranges.remove(&s).expect("listed above");
            range.start = range.start.min(r.start);
            range.end = range.end.max(r.end);
            range.purged |= r.purged;
        }
        let key = range.start;
        m.vranges.insert(key, range);
        self.vrange_lru.retain(|&(m2, s)| !(m2 == mm && s == key));
        self.vrange_lru.push_back((mm, key));
    }

    /// `remove_vrange()`: the part of each overlapping range inside `[start, end)` stops being volatile; the parts
    /// outside stay. True when a removed part had been purged.
    fn remove_vrange(&mut self, mm: MmId, start: u64, end: u64) -> bool {
        let m = self.mm_mut(mm);
        let overlapping: Vec<u64> = m.vranges.range(..end).filter(|(_, r)| r.end > start).map(|(s, _)| *s).collect();
        let mut purged = false;
        let mut right = None;
        for s in overlapping {
            let r = m.vranges.remove(&s).expect("listed above");
            purged |= r.purged;
            if r.start < start {
                m.vranges.insert(r.start, VolatileRange { end: start, ..r });
            }
            if r.end > end {
                m.vranges.insert(end, VolatileRange { start: end, ..r });
                right = Some(end);
            }
        }
        if let Some(key) = right {
            self.vrange_lru.push_back((mm, key));
        }
        purged
    }

    /// `is_purged_vrange()`: `addr` of `mm` is inside one of its volatile ranges, and that range lost a page.
    pub(crate) fn vrange_addr_purged(&self, mm: MmId, addr: u64) -> bool {
        self.mms
            .get(&mm)
            .is_some_and(|m| m.vranges.range(..=addr).next_back().is_some_and(|(_, r)| addr < r.end && r.purged))
    }

    /// True when `addr` of `mm` is inside one of its volatile ranges.
    fn vrange_covers(&self, mm: MmId, addr: u64) -> bool {
        self.mms.get(&mm).is_some_and(|m| m.vranges.range(..=addr).next_back().is_some_and(|(_, r)| addr < r.end))
    }

    /// `discard_vrange_pages()`: purges victim ranges, oldest first, until `nr_to_reclaim` pages are freed or no
    /// range is left. Returns the pages freed.
    /// Each range is a victim once per call; a victim goes to the LRU's tail (it stays volatile), and entries of
    /// ranges that no longer exist are dropped.
    pub(crate) fn discard_vrange_pages(&mut self, nr_to_reclaim: u64) -> u64 {
        let mut freed = 0;
        let victims: Vec<(MmId, u64)> = self.vrange_lru.iter().copied().collect();
        for victim in victims {
            if freed >= nr_to_reclaim {
                break;
            }
            self.vrange_lru.retain(|v| *v != victim);
            let (mm, key) = victim;
            let Some(range) = self.mms.get(&mm).and_then(|m| m.vranges.get(&key)).copied() else { continue };
            let want = match range.behavior {
                VrangeBehavior::Full => u64::MAX,
                VrangeBehavior::Partial => nr_to_reclaim - freed,
            };
            freed += self.discard_vma_pages(mm, range, want);
            self.vrange_lru.push_back(victim);
        }
        freed
    }

    /// `discard_vma_pages()`: discards up to `want` pages of one range whose every mapping is volatile.
    fn discard_vma_pages(&mut self, mm: MmId, range: VolatileRange, want: u64) -> u64 {
        let mut freed = 0;
        for (addr, pte) in self.mm(mm).populated_ptes(range.start, range.end) {
            if freed >= want {
                break;
            }
            let Pte::Present(p) = pte else { continue };
            if p.special {
                continue;
            }
            let Some(head) = self.folio_head(p.pfn) else { continue };
            self.ctx_addr = Some(addr);
            if self.try_to_discard(head) {
                freed += 1;
            }
        }
        freed
    }

    /// `try_to_discard_one()` over every mapping: an order-0 anon folio whose every mapping is in a volatile
    /// range of its mm loses them all and is freed. False (nothing changed) otherwise.
    fn try_to_discard(&mut self, head: Pfn) -> bool {
        let f = &self.folios[&head];
        if !f.is_anon() || f.is_large() || f.flags.test_mlocked() {
            return false;
        }
        let rmaps = f.rmap.clone();
        if !rmaps.iter().all(|r| self.vrange_covers(r.mm, r.addr)) {
            return false;
        }
        // Only the mappings hold it (no batch, no swap cache, no GUP pin).
        if f.refcount != f.mapcount() {
            return false;
        }
        for r in rmaps {
            // `set_pte_at(..., pte_mkvrange(*pte))`: the purge leaves its mark.
            if let Some(s) = self.mm_mut(r.mm).pte_mut(r.addr) {
                *s = Pte::Vrange;
            }
            self.add_mm_counter(r.mm, crate::mm::MM_ANONPAGES, -1);
            if let Some(range) =
                self.mm_mut(r.mm).vranges.range_mut(..=r.addr).next_back().map(|(_, v)| v).filter(|v| r.addr < v.end)
            {
                range.purged = true;
            }
            self.folio_remove_rmap_pte(head, 0, r.mm, r.addr);
            self.folio_put_mapping(head, 1);
        }
        true
    }
}
