//! Per-page history: every change of a page's state, found by diffing a folio before and after each event.
//!
//! One mechanism records everything: the model mutates folios only through `Model::folio_mut`, which snapshots
//! the folio the first time an event touches it; when the event ends, `Model::flush_history` compares each
//! snapshot with the folio's new state and appends one [`HistoryEntry`] per changed field.

use crate::event::{Pfn, Pid};
use crate::flags::PageFlags;
use crate::folio::{Folio, LruList};
use serde::{Deserialize, Serialize};

/// Which piece of page state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// 1 = allocated (order in the new value's high bits is not kept: see `Folio::order`), 0 = free.
    Allocated,
    /// `page->_mapcount` (raw: -1 = unmapped).
    Mapcount,
    /// `PG_anon_exclusive` of this page (0/1).
    AnonExclusive,
    /// `folio->_refcount`.
    Refcount,
    /// The folio's `PG_*` flags (bit set).
    Flags,
    /// The LRU list: -1 none, otherwise `enum lru_list`.
    Lru,
    /// `_large_mapcount`.
    LargeMapcount,
    /// `_entire_mapcount`.
    EntireMapcount,
}

/// One change of one field of one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Index (0-based) of the event that made the change.
    pub event: u64,
    pub ts_ns: u64,
    /// The event's operation name (`fault`, `fork`, `madvise`…).
    pub op: &'static str,
    /// The acting task.
    pub pid: Pid,
    /// The virtual address the operation was working on when it first touched the folio.
    pub addr: Option<u64>,
    pub field: Field,
    pub old: i64,
    pub new: i64,
}

impl HistoryEntry {
    /// Renders `old → new` for the field (flag sets as `+PG_x -PG_y`).
    pub fn describe_change(&self) -> String {
        match self.field {
            Field::Flags => {
                let old = PageFlags(self.old as u32);
                let new = PageFlags(self.new as u32);
                let mut parts = Vec::new();
                for f in crate::flags::PageFlag::ALL {
                    match (old.test(*f), new.test(*f)) {
                        (false, true) => parts.push(format!("+{}", f.name())),
                        (true, false) => parts.push(format!("-{}", f.name())),
                        _ => {}
                    }
                }
                parts.join(" ")
            }
            Field::Lru => format!("{} -> {}", lru_name(self.old), lru_name(self.new)),
            Field::Allocated => (if self.new == 1 { "allocated" } else { "freed" }).to_string(),
            _ => format!("{} -> {}", self.old, self.new),
        }
    }
}

fn lru_name(v: i64) -> &'static str {
    LruList::ALL.iter().find(|l| **l as i64 == v).map(|l| l.name()).unwrap_or("none")
}

/// The state of a folio as history sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub alive: bool,
    pub head: Pfn,
    pub refcount: i32,
    pub flags: u32,
    pub lru: i64,
    pub large_mapcount: i32,
    pub entire_mapcount: i32,
    pub mapcounts: Vec<i32>,
    pub exclusive: Vec<bool>,
}

impl Snapshot {
    pub fn of(f: Option<&Folio>, pfn: Pfn) -> Snapshot {
        match f {
            None => Snapshot {
                alive: false,
                head: pfn,
                refcount: 0,
                flags: 0,
                lru: -1,
                large_mapcount: -1,
                entire_mapcount: -1,
                mapcounts: Vec::new(),
                exclusive: Vec::new(),
            },
            Some(f) => Snapshot {
                alive: true,
                head: f.pfn,
                refcount: f.refcount,
                flags: f.flags.0,
                lru: f.lru.map(|l| l as i64).unwrap_or(-1),
                large_mapcount: f.large_mapcount,
                entire_mapcount: f.entire_mapcount,
                mapcounts: f.pages.iter().map(|p| p.mapcount).collect(),
                exclusive: f.pages.iter().map(|p| p.anon_exclusive).collect(),
            },
        }
    }

    /// The per-field differences between two snapshots of the same head pfn, as (pfn, field, old, new).
    pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<(Pfn, Field, i64, i64)> {
        let mut out = Vec::new();
        let head = before.head;
        if before.alive != after.alive {
            out.push((head, Field::Allocated, before.alive as i64, after.alive as i64));
        }
        let mut scalar = |field, a: i64, b: i64| {
            if a != b {
                out.push((head, field, a, b));
            }
        };
        scalar(Field::Refcount, before.refcount as i64, after.refcount as i64);
        scalar(Field::Flags, before.flags as i64, after.flags as i64);
        scalar(Field::Lru, before.lru, after.lru);
        if before.mapcounts.len() > 1 || after.mapcounts.len() > 1 {
            scalar(Field::LargeMapcount, before.large_mapcount as i64, after.large_mapcount as i64);
            scalar(Field::EntireMapcount, before.entire_mapcount as i64, after.entire_mapcount as i64);
        }
        let n = before.mapcounts.len().max(after.mapcounts.len());
        for i in 0..n {
            let m0 = before.mapcounts.get(i).copied().unwrap_or(-1);
            let m1 = after.mapcounts.get(i).copied().unwrap_or(-1);
            if m0 != m1 {
                out.push((head + i as u64, Field::Mapcount, m0 as i64, m1 as i64));
            }
            let e0 = before.exclusive.get(i).copied().unwrap_or(false);
            let e1 = after.exclusive.get(i).copied().unwrap_or(false);
            if e0 != e1 {
                out.push((head + i as u64, Field::AnonExclusive, e0 as i64, e1 as i64));
            }
        }
        out
    }
}
