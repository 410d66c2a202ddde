//! `vmscan` events: LRU isolation and shrinking, `reclaim_pages()`, writeback, and reclaim entry and exit.
//!
//! ```text
//! mm_vmscan_lru_isolate:          print fmt: "classzone=%d order=%d nr_requested=%lu nr_scanned=%lu
//!                                   nr_skipped=%lu nr_taken=%lu lru=%s" (lru: inactive_anon ... unevictable)
//! mm_vmscan_lru_shrink_inactive:  print fmt: "nid=%d nr_scanned=%ld nr_reclaimed=%ld nr_dirty=%ld
//!                                   nr_writeback=%ld nr_congested=%ld nr_immediate=%ld nr_activate_anon=%d
//!                                   nr_activate_file=%d nr_ref_keep=%ld nr_unmap_fail=%ld priority=%d flags=%s"
//! mm_vmscan_lru_shrink_active:    print fmt: "nid=%d nr_taken=%ld nr_active=%ld nr_deactivated=%ld
//!                                   nr_referenced=%ld priority=%d flags=%s"
//! mm_vmscan_reclaim_pages:        print fmt: "nid=%d nr_scanned=%ld nr_reclaimed=%ld nr_dirty=%ld
//!                                   nr_writeback=%ld nr_congested=%ld nr_immediate=%ld nr_activate_anon=%d
//!                                   nr_activate_file=%d nr_ref_keep=%ld nr_unmap_fail=%ld"
//! mm_vmscan_write_folio:          print fmt: "page=%p pfn=0x%lx flags=%s"
//! mm_vmscan_direct_reclaim_begin, mm_vmscan_memcg_reclaim_begin:  print fmt: "order=%d gfp_flags=%s"
//! mm_vmscan_direct_reclaim_end, mm_vmscan_memcg_reclaim_end:      print fmt: "nr_reclaimed=%lu"
//! ```
//!
//! Printed names differ from field names: `classzone` is `highest_zoneidx`, `nr_activate_anon`/`_file` are
//! `nr_activate0`/`1`, `flags` is `reclaim_flags` (`RECLAIM_WB_*` names, `RECLAIM_WB_NONE` for 0).

use crate::diag::LineError;
use crate::fields::Kv;

use super::kmem::{parse_flags, GFP_NAMES};
use super::pagemap::LruList;
use super::Record;

/// The `RECLAIM_WB_*` names of `show_reclaim_flags` with their bits.
pub const RECLAIM_WB_NAMES: &[(&str, u64)] = &[
    ("RECLAIM_WB_ANON", 0x1),
    ("RECLAIM_WB_FILE", 0x2),
    ("RECLAIM_WB_MIXED", 0x10),
    ("RECLAIM_WB_SYNC", 0x4),
    ("RECLAIM_WB_ASYNC", 0x8),
];

/// `vmscan:mm_vmscan_lru_isolate`: `isolate_lru_folios()` took folios off a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmVmscanLruIsolate {
    /// The highest zone index usable (printed `classzone=`).
    pub highest_zoneidx: i32,
    /// The reclaim order.
    pub order: i32,
    /// Folios asked for.
    pub nr_requested: u64,
    /// Folios scanned.
    pub nr_scanned: u64,
    /// Folios skipped (wrong zone).
    pub nr_skipped: u64,
    /// Folios isolated.
    pub nr_taken: u64,
    /// The list scanned.
    pub lru: LruList,
}

/// `vmscan:mm_vmscan_lru_shrink_inactive`: the result of one `shrink_inactive_list()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmVmscanLruShrinkInactive {
    /// The node.
    pub nid: i32,
    /// Folios scanned.
    pub nr_scanned: u64,
    /// Folios reclaimed.
    pub nr_reclaimed: u64,
    /// Dirty folios met.
    pub nr_dirty: u64,
    /// Folios under writeback met.
    pub nr_writeback: u64,
    /// Folios on congested devices met.
    pub nr_congested: u64,
    /// Folios marked for immediate reclaim.
    pub nr_immediate: u64,
    /// Anon folios activated (printed `nr_activate_anon=`).
    pub nr_activate0: u64,
    /// File folios activated (printed `nr_activate_file=`).
    pub nr_activate1: u64,
    /// Folios kept because referenced.
    pub nr_ref_keep: u64,
    /// Folios that failed to unmap.
    pub nr_unmap_fail: u64,
    /// The scan priority.
    pub priority: i32,
    /// `RECLAIM_WB_*` bits of [`RECLAIM_WB_NAMES`] (printed `flags=`).
    pub reclaim_flags: u64,
}

/// `vmscan:mm_vmscan_lru_shrink_active`: the result of one `shrink_active_list()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmVmscanLruShrinkActive {
    /// The node.
    pub nid: i32,
    /// Folios isolated.
    pub nr_taken: u64,
    /// Folios kept active.
    pub nr_active: u64,
    /// Folios deactivated.
    pub nr_deactivated: u64,
    /// Folios found referenced.
    pub nr_referenced: u64,
    /// The scan priority.
    pub priority: i32,
    /// `RECLAIM_WB_*` bits (printed `flags=`).
    pub reclaim_flags: u64,
}

/// `vmscan:mm_vmscan_reclaim_pages`: the result of `reclaim_pages()` (MADV_PAGEOUT, DAMON) on one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmVmscanReclaimPages {
    /// The node.
    pub nid: i32,
    /// Folios scanned.
    pub nr_scanned: u64,
    /// Folios reclaimed.
    pub nr_reclaimed: u64,
    /// Dirty folios met.
    pub nr_dirty: u64,
    /// Folios under writeback met.
    pub nr_writeback: u64,
    /// Folios on congested devices met.
    pub nr_congested: u64,
    /// Folios marked for immediate reclaim.
    pub nr_immediate: u64,
    /// Anon folios activated (printed `nr_activate_anon=`).
    pub nr_activate0: u64,
    /// File folios activated (printed `nr_activate_file=`).
    pub nr_activate1: u64,
    /// Folios kept because referenced.
    pub nr_ref_keep: u64,
    /// Folios that failed to unmap.
    pub nr_unmap_fail: u64,
}

/// `vmscan:mm_vmscan_write_folio`: reclaim started writeback of a folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmVmscanWriteFolio {
    /// The folio's first pfn.
    pub pfn: u64,
    /// `RECLAIM_WB_*` bits (printed `flags=`).
    pub reclaim_flags: u64,
}

/// `vmscan:mm_vmscan_direct_reclaim_begin` and `mm_vmscan_memcg_reclaim_begin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReclaimBegin {
    /// The order of the allocation that needs the memory.
    pub order: i32,
    /// Its GFP mask (bits of [`GFP_NAMES`]).
    pub gfp_flags: u64,
}

/// `vmscan:mm_vmscan_direct_reclaim_end` and `mm_vmscan_memcg_reclaim_end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReclaimEnd {
    /// Pages reclaimed.
    pub nr_reclaimed: u64,
}

fn reclaim_flags(kv: &Kv<'_>) -> Result<u64, LineError> {
    parse_flags(&kv.req("flags")?, RECLAIM_WB_NAMES, "RECLAIM_WB_NONE", "`RECLAIM_WB_*`")
}

pub(super) fn mm_vmscan_lru_isolate(kv: &Kv<'_>) -> Result<Record, LineError> {
    let lru = kv.req("lru")?;
    let lru = LruList::parse(lru.text).ok_or_else(|| lru.error("an LRU list name (`inactive_anon`, ...)"))?;
    Ok(Record::MmVmscanLruIsolate(MmVmscanLruIsolate {
        highest_zoneidx: kv.req_any(&["classzone", "highest_zoneidx"])?.i32()?,
        order: kv.req("order")?.i32()?,
        nr_requested: kv.req("nr_requested")?.u64()?,
        nr_scanned: kv.req("nr_scanned")?.u64()?,
        nr_skipped: kv.req("nr_skipped")?.u64()?,
        nr_taken: kv.req("nr_taken")?.u64()?,
        lru,
    }))
}

pub(super) fn mm_vmscan_lru_shrink_inactive(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::MmVmscanLruShrinkInactive(Box::new(MmVmscanLruShrinkInactive {
        nid: kv.req("nid")?.i32()?,
        nr_scanned: kv.req("nr_scanned")?.u64()?,
        nr_reclaimed: kv.req("nr_reclaimed")?.u64()?,
        nr_dirty: kv.req("nr_dirty")?.u64()?,
        nr_writeback: kv.req("nr_writeback")?.u64()?,
        nr_congested: kv.req("nr_congested")?.u64()?,
        nr_immediate: kv.req("nr_immediate")?.u64()?,
        nr_activate0: kv.req_any(&["nr_activate_anon", "nr_activate0"])?.u64()?,
        nr_activate1: kv.req_any(&["nr_activate_file", "nr_activate1"])?.u64()?,
        nr_ref_keep: kv.req("nr_ref_keep")?.u64()?,
        nr_unmap_fail: kv.req("nr_unmap_fail")?.u64()?,
        priority: kv.req("priority")?.i32()?,
        reclaim_flags: reclaim_flags(kv)?,
    })))
}

pub(super) fn mm_vmscan_lru_shrink_active(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::MmVmscanLruShrinkActive(MmVmscanLruShrinkActive {
        nid: kv.req("nid")?.i32()?,
        nr_taken: kv.req("nr_taken")?.u64()?,
        nr_active: kv.req("nr_active")?.u64()?,
        nr_deactivated: kv.req("nr_deactivated")?.u64()?,
        nr_referenced: kv.req("nr_referenced")?.u64()?,
        priority: kv.req("priority")?.i32()?,
        reclaim_flags: reclaim_flags(kv)?,
    }))
}

pub(super) fn mm_vmscan_reclaim_pages(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::MmVmscanReclaimPages(Box::new(MmVmscanReclaimPages {
        nid: kv.req("nid")?.i32()?,
        nr_scanned: kv.req("nr_scanned")?.u64()?,
        nr_reclaimed: kv.req("nr_reclaimed")?.u64()?,
        nr_dirty: kv.req("nr_dirty")?.u64()?,
        nr_writeback: kv.req("nr_writeback")?.u64()?,
        nr_congested: kv.req("nr_congested")?.u64()?,
        nr_immediate: kv.req("nr_immediate")?.u64()?,
        nr_activate0: kv.req_any(&["nr_activate_anon", "nr_activate0"])?.u64()?,
        nr_activate1: kv.req_any(&["nr_activate_file", "nr_activate1"])?.u64()?,
        nr_ref_keep: kv.req("nr_ref_keep")?.u64()?,
        nr_unmap_fail: kv.req("nr_unmap_fail")?.u64()?,
    })))
}

pub(super) fn mm_vmscan_write_folio(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::MmVmscanWriteFolio(MmVmscanWriteFolio { pfn: kv.req("pfn")?.hex()?, reclaim_flags: reclaim_flags(kv)? }))
}

fn reclaim_begin(kv: &Kv<'_>) -> Result<ReclaimBegin, LineError> {
    Ok(ReclaimBegin {
        order: kv.req("order")?.i32()?,
        gfp_flags: parse_flags(&kv.req("gfp_flags")?, GFP_NAMES, "none", "`GFP_*`/`__GFP_*`")?,
    })
}

fn reclaim_end(kv: &Kv<'_>) -> Result<ReclaimEnd, LineError> {
    Ok(ReclaimEnd { nr_reclaimed: kv.req("nr_reclaimed")?.u64()? })
}

pub(super) fn direct_reclaim_begin(kv: &Kv<'_>) -> Result<Record, LineError> {
    reclaim_begin(kv).map(Record::MmVmscanDirectReclaimBegin)
}

pub(super) fn direct_reclaim_end(kv: &Kv<'_>) -> Result<Record, LineError> {
    reclaim_end(kv).map(Record::MmVmscanDirectReclaimEnd)
}

pub(super) fn memcg_reclaim_begin(kv: &Kv<'_>) -> Result<Record, LineError> {
    reclaim_begin(kv).map(Record::MmVmscanMemcgReclaimBegin)
}

pub(super) fn memcg_reclaim_end(kv: &Kv<'_>) -> Result<Record, LineError> {
    reclaim_end(kv).map(Record::MmVmscanMemcgReclaimEnd)
}
