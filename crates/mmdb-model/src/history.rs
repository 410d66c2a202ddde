//! Per-page history: every change of a page's state, found by diffing a folio before and after each event.
//!
//! One mechanism records everything: the model mutates folios only through `Model::folio_mut`, which snapshots
//! the folio the first time an event touches it; when the event ends, `Model::flush_history` compares each
//! snapshot with the folio's new state and appends one change per changed field to the [`PageLog`].
//!
//! The log is packed, because a session records it once for the whole trace (millions of events) and keeps
//! it: each page's changes are a stream of varints (the event as a delta from the page's previous change, the
//! field and how the address is given, the old and new values zigzagged, the address as a delta from the page's
//! previous one when it is not the same), about nine bytes a change, written in a chain of fixed-size blocks of
//! one arena; who did each event (time, task, operation) is kept once per event, not per change, in blocks of
//! [`EVENT_BLOCK`] events that restart their deltas, so that reading any event's costs at most a block's worth
//! of varints.

use std::sync::Arc;

use crate::event::{Pfn, Pid};
use crate::flags::PageFlags;
use crate::folio::varint;
use crate::folio::{Folio, LruList};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// Which piece of page state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
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

impl Field {
    const ALL: [Field; 8] = [
        Field::Allocated,
        Field::Mapcount,
        Field::AnonExclusive,
        Field::Refcount,
        Field::Flags,
        Field::Lru,
        Field::LargeMapcount,
        Field::EntireMapcount,
    ];
}

/// How many events share one restart point of the event table.
pub const EVENT_BLOCK: u64 = 64;

/// How an entry gives its address (bits 3-4 of its tag byte).
const ADDR_NONE: u8 = 0;
const ADDR_SAME: u8 = 1;
const ADDR_NEW: u8 = 2;

/// Bytes of a block of the [`Arena`]: [`BLOCK_DATA`] of a page's stream, then the index of its next block.
const BLOCK: usize = 64;
const BLOCK_DATA: usize = BLOCK - 4;
/// Blocks per chunk of the arena (1 MiB chunks: growing never copies what is written).
const CHUNK_BLOCKS: usize = 1 << 14;

/// Where every page's stream lives: fixed-size blocks, each page's chained, in chunks that never move. One
/// allocation per MiB instead of a vector per page that grows (on a long trace, a million pages' vectors
/// reallocating cost more than the encoding).
#[derive(Clone, Debug, Default)]
struct Arena {
    chunks: Vec<Box<[[u8; BLOCK]]>>,
    blocks: u32,
    /// Room to encode one entry in, kept from one to the next.
    scratch: Vec<u8>,
}

impl Arena {
    fn alloc(&mut self) -> u32 {
        let b = self.blocks;
        if (b as usize).is_multiple_of(CHUNK_BLOCKS) {
            self.chunks.push(vec![[0u8; BLOCK]; CHUNK_BLOCKS].into_boxed_slice());
        }
        self.blocks += 1;
        b
    }

    fn block(&self, b: u32) -> &[u8; BLOCK] {
        &self.chunks[b as usize / CHUNK_BLOCKS][b as usize % CHUNK_BLOCKS]
    }

    fn block_mut(&mut self, b: u32) -> &mut [u8; BLOCK] {
        &mut self.chunks[b as usize / CHUNK_BLOCKS][b as usize % CHUNK_BLOCKS]
    }
}

/// One page's changes: a chain of arena blocks, and what the next change is written against.
#[derive(Clone, Copy, Debug)]
struct PageStream {
    first: u32,
    last: u32,
    /// Bytes used in the last block.
    used: u8,
    /// How many changes the stream holds.
    changes: u32,
    last_event: u64,
    last_addr: u64,
}

impl PageStream {
    fn new(arena: &mut Arena) -> PageStream {
        let b = arena.alloc();
        PageStream { first: b, last: b, used: 0, changes: 0, last_event: 0, last_addr: 0 }
    }

    fn push(&mut self, arena: &mut Arena, event: u64, field: Field, old: i64, new: i64, addr: Option<u64>) {
        let mode = match addr {
            None => ADDR_NONE,
            Some(a) if a == self.last_addr => ADDR_SAME,
            Some(_) => ADDR_NEW,
        };
        // One entry, encoded in the arena's scratch room, then written into the chain.
        let mut buf = std::mem::take(&mut arena.scratch);
        buf.clear();
        varint::put(&mut buf, event - self.last_event);
        buf.push(field as u8 | mode << 3);
        varint::put_i(&mut buf, old);
        varint::put_i(&mut buf, new);
        if let Some(a) = addr.filter(|_| mode == ADDR_NEW) {
            varint::put_i(&mut buf, a.wrapping_sub(self.last_addr) as i64);
            self.last_addr = a;
        }
        let n = buf.len();
        self.last_event = event;
        self.changes = self.changes.saturating_add(1);
        // Byte by byte: an entry is a few bytes, and a copy of a variable length would call `memmove`.
        let at = self.used as usize;
        if BLOCK_DATA - at >= n {
            let block = arena.block_mut(self.last);
            for (d, s) in block[at..at + n].iter_mut().zip(&buf) {
                *d = *s;
            }
            self.used += n as u8;
        } else {
            for &b in &buf {
                if self.used as usize == BLOCK_DATA {
                    let next = arena.alloc();
                    arena.block_mut(self.last)[BLOCK_DATA..].copy_from_slice(&next.to_le_bytes());
                    self.last = next;
                    self.used = 0;
                }
                arena.block_mut(self.last)[self.used as usize] = b;
                self.used += 1;
            }
        }
        arena.scratch = buf;
    }

    /// The stream's bytes, its chain of blocks put end to end.
    fn bytes(&self, arena: &Arena) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = self.first;
        while b != self.last {
            let block = arena.block(b);
            out.extend_from_slice(&block[..BLOCK_DATA]);
            let next = &block[BLOCK_DATA..];
            b = u32::from_le_bytes([next[0], next[1], next[2], next[3]]);
        }
        out.extend_from_slice(&arena.block(self.last)[..self.used as usize]);
        out
    }
}

/// Who did each event: its time, task and operation, packed.
#[derive(Clone, Debug, Default)]
struct EventTable {
    /// The index of the first event recorded; the table covers `first .. first + count`.
    first: u64,
    count: u64,
    /// Per event: the time and the pid as zigzagged deltas from the previous event's (from 0 at the start of a
    /// block), then the operation's index in `ops`.
    bytes: Vec<u8>,
    /// Where each block of [`EVENT_BLOCK`] events starts in `bytes`.
    blocks: Vec<usize>,
    ops: Vec<&'static str>,
    last_op: usize,
    last_ts: u64,
    last_pid: Pid,
}

impl EventTable {
    fn push(&mut self, event: u64, ts_ns: u64, pid: Pid, op: &'static str) {
        if self.count == 0 {
            self.first = event;
        }
        // Events are recorded in order; one missed (history off for a while) is given the next one's identity,
        // which no change names.
        while self.first + self.count <= event {
            if self.count.is_multiple_of(EVENT_BLOCK) {
                self.blocks.push(self.bytes.len());
                self.last_ts = 0;
                self.last_pid = 0;
            }
            // The names are `&'static str`s of `Op::name`: the same name is the same pointer, almost always.
            if self.ops.get(self.last_op).is_none_or(|o| !std::ptr::eq(*o, op) && *o != op) {
                self.last_op = match self.ops.iter().position(|o| *o == op) {
                    Some(i) => i,
                    None => {
                        self.ops.push(op);
                        self.ops.len() - 1
                    }
                };
            }
            varint::put_i(&mut self.bytes, ts_ns.wrapping_sub(self.last_ts) as i64);
            varint::put_i(&mut self.bytes, i64::from(pid) - i64::from(self.last_pid));
            varint::put(&mut self.bytes, self.last_op as u64);
            self.last_ts = ts_ns;
            self.last_pid = pid;
            self.count += 1;
        }
    }

    /// Reads events in increasing order: `at(e)` for `e` not before the last one asked continues where it was.
    fn reader(&self) -> EventReader<'_> {
        EventReader { table: self, next: u64::MAX, input: &[], ts: 0, pid: 0, op: 0 }
    }
}

struct EventReader<'t> {
    table: &'t EventTable,
    /// The event the input is positioned at.
    next: u64,
    input: &'t [u8],
    /// The last event read's identity (`next - 1`'s).
    ts: u64,
    pid: Pid,
    op: usize,
}

impl EventReader<'_> {
    /// The time, task and operation of `event` ((0, 0, "") when the table does not cover it).
    fn at(&mut self, event: u64) -> (u64, Pid, &'static str) {
        let t = self.table;
        let Some(rel) = event.checked_sub(t.first).filter(|r| *r < t.count) else {
            return (0, 0, "");
        };
        if self.next != u64::MAX && rel + 1 == self.next {
            return (self.ts, self.pid, t.ops[self.op]);
        }
        if self.next == u64::MAX || rel < self.next || rel - self.next >= EVENT_BLOCK {
            // Start from the restart point of the event's block.
            self.next = rel - rel % EVENT_BLOCK;
            self.input = &t.bytes[t.blocks[(rel / EVENT_BLOCK) as usize]..];
        }
        while self.next <= rel {
            if self.next.is_multiple_of(EVENT_BLOCK) {
                self.ts = 0;
                self.pid = 0;
            }
            self.ts = self.ts.wrapping_add(varint::get_i(&mut self.input) as u64);
            self.pid = (i64::from(self.pid) + varint::get_i(&mut self.input)) as Pid;
            self.op = varint::get(&mut self.input) as usize;
            self.next += 1;
        }
        (self.ts, self.pid, t.ops[self.op])
    }
}

/// Every page's history, packed (see the module's documentation). A model shares its log (`Arc`) with its
/// clones; only a model that records history appends to it.
#[derive(Clone, Default)]
pub struct PageLog {
    pages: FxHashMap<Pfn, PageStream>,
    arena: Arena,
    events: EventTable,
    entries: u64,
}

impl std::fmt::Debug for PageLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PageLog {{ pages: {}, entries: {}, events: {} }}", self.pages.len(), self.entries, self.events.count)
    }
}

impl PageLog {
    /// Records who did `event` (once per event, in order, whether or not it changed a page).
    pub(crate) fn record_event(&mut self, event: u64, ts_ns: u64, pid: Pid, op: &'static str) {
        self.events.push(event, ts_ns, pid, op);
    }

    /// Appends the changes `event` made, as (pfn, field, old, new), each page's changes together (events in
    /// order): one look-up of each page's stream.
    pub(crate) fn record_changes(&mut self, event: u64, addr: Option<u64>, changes: &[(Pfn, Field, i64, i64)]) {
        for run in changes.chunk_by(|a, b| a.0 == b.0) {
            let arena = &mut self.arena;
            let s = self.pages.entry(run[0].0).or_insert_with(|| PageStream::new(arena));
            for &(_, field, old, new) in run {
                s.push(arena, event, field, old, new, addr);
            }
            self.entries += run.len() as u64;
        }
    }

    /// Appends one change of `pfn` by `event` (events in order).
    #[cfg(test)]
    fn record(&mut self, pfn: Pfn, event: u64, field: Field, old: i64, new: i64, addr: Option<u64>) {
        self.record_changes(event, addr, &[(pfn, field, old, new)]);
    }

    /// How many changes the log holds.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Whether the log holds no change.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// How many pages have changes.
    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    /// The page with the most changes and how many (the lowest pfn of those with as many), if any.
    pub fn busiest(&self) -> Option<(Pfn, u32)> {
        self.pages.iter().map(|(p, s)| (*p, s.changes)).max_by_key(|&(p, n)| (n, std::cmp::Reverse(p)))
    }

    /// The bytes the log takes (its buffers' capacities and tables, not the allocator's overhead).
    pub fn footprint(&self) -> usize {
        self.arena.chunks.len() * CHUNK_BLOCKS * BLOCK
            + self.pages.capacity() * (std::mem::size_of::<(Pfn, PageStream)>() + 1)
            + self.events.bytes.capacity()
            + self.events.blocks.capacity() * std::mem::size_of::<usize>()
    }

    /// The changes of `pfn` made by events before `before`, in order, appended to `out`; `keep` chooses fields.
    fn decode(&self, pfn: Pfn, before: u64, keep: impl Fn(Field) -> bool, out: &mut Vec<HistoryEntry>) {
        let Some(s) = self.pages.get(&pfn) else { return };
        let bytes = s.bytes(&self.arena);
        let mut input = &bytes[..];
        let (mut event, mut addr) = (0u64, 0u64);
        let mut who = self.events.reader();
        while !input.is_empty() {
            event += varint::get(&mut input);
            let tag = input[0];
            input = &input[1..];
            let old = varint::get_i(&mut input);
            let new = varint::get_i(&mut input);
            let mode = tag >> 3;
            if mode == ADDR_NEW {
                addr = addr.wrapping_add(varint::get_i(&mut input) as u64);
            }
            if event >= before {
                break;
            }
            let field = Field::ALL[(tag & 7) as usize];
            if !keep(field) {
                continue;
            }
            let (ts_ns, pid, op) = who.at(event);
            let addr = (mode != ADDR_NONE).then_some(addr);
            out.push(HistoryEntry { event, ts_ns, op, pid, addr, field, old, new });
        }
    }

    /// The history of one page before event `before`: its own changes and, when `head` is the head of the large
    /// folio it belongs to, the folio's (the head's changes but its own mapcount and exclusivity).
    pub fn page_history(&self, pfn: Pfn, head: Option<Pfn>, before: u64) -> Vec<HistoryEntry> {
        let mut out = Vec::new();
        self.decode(pfn, before, |_| true, &mut out);
        if let Some(head) = head.filter(|h| *h != pfn) {
            self.decode(head, before, |f| !matches!(f, Field::Mapcount | Field::AnonExclusive), &mut out);
            out.sort_by_key(|e| e.event);
        }
        out
    }
}

/// A shared, empty log: what a model that records no history holds.
pub(crate) fn empty_log() -> Arc<PageLog> {
    Arc::new(PageLog::default())
}

fn lru_name(v: i64) -> &'static str {
    LruList::ALL.iter().find(|l| **l as i64 == v).map(|l| l.name()).unwrap_or("none")
}

/// The folios the event being applied has touched, each with its state before the event and the address the
/// operation was at: a short list (most events touch a few folios), indexed once it grows.
#[derive(Clone, Debug, Default)]
pub(crate) struct Touched {
    pub list: Vec<(Pfn, Snapshot, Option<u64>)>,
    /// The pfns of `list`, once it is longer than [`Touched::SHORT`].
    index: rustc_hash::FxHashSet<Pfn>,
}

impl Touched {
    const SHORT: usize = 16;

    pub fn contains(&self, head: Pfn) -> bool {
        if self.list.len() <= Self::SHORT {
            self.list.iter().any(|t| t.0 == head)
        } else {
            self.index.contains(&head)
        }
    }

    pub fn insert(&mut self, head: Pfn, before: Snapshot, addr: Option<u64>) {
        self.list.push((head, before, addr));
        if self.list.len() == Self::SHORT + 1 {
            self.index.extend(self.list.iter().map(|t| t.0));
        } else if self.list.len() > Self::SHORT + 1 {
            self.index.insert(head);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Takes the list out in the order the folios were first touched (the model is deterministic, so is the
    /// order), leaving the set empty.
    pub fn take(&mut self) -> Vec<(Pfn, Snapshot, Option<u64>)> {
        self.index.clear();
        std::mem::take(&mut self.list)
    }

    /// Gives back the list's room (emptied) for the next event.
    pub fn give_back(&mut self, mut list: Vec<(Pfn, Snapshot, Option<u64>)>) {
        list.clear();
        self.list = list;
    }
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
    /// Each page's `_mapcount` and `PG_anon_exclusive` (inline for small folios: no allocation per touch).
    pub mapcounts: SmallVec<[i32; 2]>,
    pub exclusive: SmallVec<[bool; 8]>,
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
                mapcounts: SmallVec::new(),
                exclusive: SmallVec::new(),
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

    /// Appends the per-field differences between two snapshots of the same head pfn to `out`, as (pfn, field,
    /// old, new).
    pub fn diff(before: &Snapshot, after: &Snapshot, out: &mut Vec<(Pfn, Field, i64, i64)>) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPS: [&str; 4] = ["fault", "fork", "madvise", "munmap"];

    /// (pfn, field, old, new, addr) changes of one event.
    type Changes = Vec<(Pfn, u8, i64, i64, Option<u64>)>;

    fn events() -> impl Strategy<Value = Vec<(u64, Pid, usize, Changes)>> {
        let change = (
            0u64..6,
            0u8..8,
            any::<i64>(),
            -2i64..3,
            prop::option::of(prop::sample::select(vec![0u64, 7, 0x7f00_0000_1000, u64::MAX])),
        );
        prop::collection::vec(
            (0u64..5_000_000_000, 0 as Pid..70_000, 0usize..4, prop::collection::vec(change, 0..4)),
            0..300,
        )
    }

    proptest! {
        /// What the packed log gives back is what was recorded, before any position, with each event's identity.
        #[test]
        fn the_log_gives_back_what_was_recorded(evs in events(), first in 0u64..3, before_frac in 0.0f64..1.2) {
            let mut log = PageLog::default();
            let mut plain: Vec<(Pfn, HistoryEntry)> = Vec::new();
            for (i, (ts, pid, op, changes)) in evs.iter().enumerate() {
                let event = first + i as u64;
                log.record_event(event, *ts, *pid, OPS[*op]);
                for &(pfn, field, old, new, addr) in changes {
                    let field = Field::ALL[field as usize];
                    log.record(pfn, event, field, old, new, addr);
                    plain.push((pfn, HistoryEntry { event, ts_ns: *ts, op: OPS[*op], pid: *pid, addr, field, old, new }));
                }
            }
            let count = |pfn: Pfn| plain.iter().filter(|(p, _)| *p == pfn).count() as u32;
            let busiest = (0..6).map(|p| (p, count(p))).filter(|(_, n)| *n > 0).max_by_key(|&(p, n)| (n, std::cmp::Reverse(p)));
            prop_assert_eq!(log.busiest(), busiest);
            prop_assert_eq!(log.len(), plain.len() as u64);
            let before = first + (evs.len() as f64 * before_frac) as u64;
            for pfn in 0..6 {
                let want: Vec<HistoryEntry> =
                    plain.iter().filter(|(p, e)| *p == pfn && e.event < before).map(|(_, e)| *e).collect();
                prop_assert_eq!(log.page_history(pfn, None, before), want);
            }
            // A tail page of a large folio: its own changes, then the head's but its mapcounts, in event order.
            let mut want: Vec<HistoryEntry> =
                plain.iter().filter(|(p, e)| *p == 3 && e.event < before).map(|(_, e)| *e).collect();
            want.extend(plain.iter().filter(|(p, e)| {
                *p == 2 && e.event < before && !matches!(e.field, Field::Mapcount | Field::AnonExclusive)
            }).map(|(_, e)| *e));
            want.sort_by_key(|e| e.event);
            prop_assert_eq!(log.page_history(3, Some(2), before), want);
        }
    }

    #[test]
    fn events_the_log_missed_are_not_named() {
        let mut log = PageLog::default();
        log.record_event(5, 100, 1, "fault");
        log.record_event(9, 200, 2, "fork");
        log.record(1, 9, Field::Refcount, 1, 2, None);
        let h = log.page_history(1, None, u64::MAX);
        assert_eq!((h[0].event, h[0].ts_ns, h[0].pid, h[0].op), (9, 200, 2, "fork"));
        let mut who = log.events.reader();
        assert_eq!(who.at(4), (0, 0, ""), "before the first recorded event");
        assert_eq!(who.at(5), (100, 1, "fault"));
        assert_eq!(who.at(10), (0, 0, ""), "after the last");
    }
}
