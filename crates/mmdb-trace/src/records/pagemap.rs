//! `pagemap` events: folios entering an LRU list and being activated.
//!
//! ```text
//! mm_lru_insertion:  print fmt: "folio=%p pfn=0x%lx lru=%d flags=%s%s%s%s%s%s", ...
//!                      REC->flags & 0x0001u ? "M" : " ", REC->flags & 0x0002u ? "a" : "f",
//!                      REC->flags & 0x0008u ? "s" : " ", REC->flags & 0x0010u ? "b" : " ",
//!                      REC->flags & 0x0020u ? "d" : " ", REC->flags & 0x0040u ? "B" : " "
//!     folio=000000000fce29d7 pfn=0x106d6f lru=0 flags=Ma bd
//!     folio=000000007019f604 pfn=0x16a2ed lru=2 flags= f   B
//! mm_lru_activate:   print fmt: "folio=%p pfn=0x%lx"
//! ```
//!
//! The flag column is six fixed positions with blanks for clear bits (perf squeezes the blanks: `flags= f B`), so
//! it is read by letter, not by position.

use crate::diag::LineError;
use crate::fields::{parse_hex, Exact, Kv};

use super::Record;

/// The kernel's `enum lru_list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LruList {
    /// `LRU_INACTIVE_ANON` (0), printed `inactive_anon` by vmscan events.
    InactiveAnon,
    /// `LRU_ACTIVE_ANON` (1).
    ActiveAnon,
    /// `LRU_INACTIVE_FILE` (2).
    InactiveFile,
    /// `LRU_ACTIVE_FILE` (3).
    ActiveFile,
    /// `LRU_UNEVICTABLE` (4).
    Unevictable,
}

impl LruList {
    /// Every list, in index order.
    pub const ALL: [LruList; 5] =
        [LruList::InactiveAnon, LruList::ActiveAnon, LruList::InactiveFile, LruList::ActiveFile, LruList::Unevictable];

    /// The list with the kernel's index `index`.
    pub fn from_index(index: u64) -> Option<LruList> {
        Self::ALL.into_iter().find(|l| *l as u64 == index)
    }

    /// The name vmscan events print (`inactive_anon`, ..., `unevictable`).
    pub fn name(self) -> &'static str {
        match self {
            LruList::InactiveAnon => "inactive_anon",
            LruList::ActiveAnon => "active_anon",
            LruList::InactiveFile => "inactive_file",
            LruList::ActiveFile => "active_file",
            LruList::Unevictable => "unevictable",
        }
    }

    /// The list printed as `text`: a name (`inactive_anon`) or an index (`0`).
    pub fn parse(text: &str) -> Option<LruList> {
        let index = || crate::fields::parse_dec(text).or_else(|| text.parse().ok());
        Self::ALL
            .into_iter()
            .find(|l| crate::fields::same(l.name(), text))
            .or_else(|| index().and_then(Self::from_index))
    }
}

/// The letters of `mm_lru_insertion`'s flag column and their `PAGEMAP_*` bits (`include/trace/events/pagemap.h`).
pub const PAGEMAP_FLAGS: &[(char, u64)] = &[
    ('M', 0x1),  // PAGEMAP_MAPPED: folio_mapped()
    ('a', 0x2),  // PAGEMAP_ANONYMOUS
    ('f', 0x4),  // PAGEMAP_FILE
    ('s', 0x8),  // PAGEMAP_SWAPCACHE
    ('b', 0x10), // PAGEMAP_SWAPBACKED
    ('d', 0x20), // PAGEMAP_MAPPEDDISK: PG_anon_exclusive on anon folios
    ('B', 0x40), // PAGEMAP_BUFFERS: PG_private
];

/// `pagemap:mm_lru_insertion`: `lru_add()` put a folio on an LRU list (a batch drain or a putback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmLruInsertion {
    /// The folio's first pfn.
    pub pfn: u64,
    /// The list it went on.
    pub lru: LruList,
    /// The `PAGEMAP_*` bits of [`PAGEMAP_FLAGS`], as computed at insertion.
    pub flags: u64,
}

/// `pagemap:mm_lru_activate`: `lru_activate()` moved a folio to its active list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmLruActivate {
    /// The folio's first pfn.
    pub pfn: u64,
}

pub(super) fn mm_lru_insertion(kv: &Kv<'_>) -> Result<Record, LineError> {
    let lru = kv.req("lru")?;
    let lru = LruList::parse(lru.text).ok_or_else(|| lru.error("an LRU list index 0 to 4"))?;
    let flags = kv.req("flags")?;
    let mut bits = 0;
    for (i, c) in flags.text.char_indices() {
        if c == ' ' {
            continue;
        }
        match PAGEMAP_FLAGS.iter().find(|(letter, _)| *letter == c) {
            Some(&(_, bit)) => bits |= bit,
            None => {
                let expected = "the flag letters `M`, `a`, `f`, `s`, `b`, `d`, `B` or blanks for `flags`";
                return Err(LineError::new(flags.offset + i, c.len_utf8(), expected));
            }
        }
    }
    Ok(Record::MmLruInsertion(MmLruInsertion { pfn: kv.req("pfn")?.hex()?, lru, flags: bits }))
}

/// [`mm_lru_insertion`] of a line in the shape 6.18 prints (the flag column has blanks in it).
pub(super) fn mm_lru_insertion_exact(mut f: Exact<'_>) -> Option<Record> {
    f.next("folio=")?;
    let pfn = parse_hex(f.next("pfn=")?.text)?;
    let lru = LruList::parse(f.next("lru=")?.text)?;
    let is_flag = |c: u8| matches!(c, b'M' | b'a' | b'f' | b's' | b'b' | b'd' | b'B' | b' ');
    let mut flags = 0;
    for c in f.last("flags=", Some(is_flag))?.text.bytes() {
        flags |= PAGEMAP_FLAGS.iter().find(|(letter, _)| *letter as u8 == c).map_or(0, |&(_, bit)| bit);
    }
    Some(Record::MmLruInsertion(MmLruInsertion { pfn, lru, flags }))
}

pub(super) fn mm_lru_activate(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::MmLruActivate(MmLruActivate { pfn: kv.req("pfn")?.hex()? }))
}
