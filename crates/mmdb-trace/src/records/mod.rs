//! Typed records of the kernel tracepoints that real mm traces carry, one module per trace system.
//!
//! Records and their fields keep the kernel's names: the struct is the event in CamelCase and each field is the
//! name in the event's `format` file (`/sys/kernel/tracing/events/kmem/mm_page_alloc/format`), even where
//! `TP_printk` prints another name (`rss_stat` prints `member` as `type=`, `sched_process_fork` prints
//! `parent_comm` as `comm=`). Each module's header quotes the `print fmt:` lines of Linux 6.18 that it parses.
//!
//! Fields are read by name, so added or reordered fields do no harm; a missing required field or a value that
//! does not parse makes the line an error that names the field. An event this crate does not know becomes
//! [`Record::Raw`], never an error.

use std::collections::BTreeMap;

use crate::diag::{LineError, ParseError};
use crate::fields::{Exact, Kv};

pub mod exceptions;
pub mod filemap;
pub mod kmem;
pub mod migrate;
pub mod oom;
pub mod pagemap;
pub mod sched;
pub mod syscalls;
pub mod vmscan;

pub use exceptions::{PageFaultKernel, PageFaultUser};
pub use filemap::{Dev, MmFilemapFault, MmFilemapMapPages, MmFilemapPageCache};
pub use kmem::{gfp_names, MmPageAlloc, MmPageFree, MmPageFreeBatched, RssMember, RssStat, GFP_NAMES};
pub use migrate::MigrationPte;
pub use oom::MarkVictim;
pub use pagemap::{LruList, MmLruActivate, MmLruInsertion, PAGEMAP_FLAGS};
pub use sched::{SchedProcessExec, SchedProcessExit, SchedProcessFork, SchedProcessFree, TaskNewtask};
pub use syscalls::{SysEnter, SysExit, Syscall};
pub use vmscan::{
    MmVmscanLruIsolate, MmVmscanLruShrinkActive, MmVmscanLruShrinkInactive, MmVmscanReclaimPages, MmVmscanWriteFolio,
    ReclaimBegin, ReclaimEnd, RECLAIM_WB_NAMES,
};

/// One record line of a real trace: who, where, when, and the typed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// The task's comm, interned in [`ParsedTrace::comms`].
    pub comm: CommId,
    /// The thread id (ftrace's `<comm>-<pid>`, perf's `tid`).
    pub pid: u32,
    /// The thread group id, when the trace shows it (ftrace's TGID column, perf's `pid/tid`).
    pub tgid: Option<u32>,
    /// The CPU the event ran on.
    pub cpu: u32,
    /// The timestamp in nanoseconds (of the trace clock: `mono` with the recorder's settings).
    pub ts_ns: u64,
    /// The 1-based line number in the trace text.
    pub line: u32,
    /// The event fired in interrupt context (the irq-info column's third character: `h` hard irq, `s` softirq,
    /// `H` hard irq inside a softirq, `z`/`Z` NMI), so it is not the task's own doing: an RCU callback freeing
    /// pages in the middle of a page fault, say. Always false where the trace has no irq-info column (perf).
    pub in_irq: bool,
    /// `TIF_NEED_RESCHED` was set when the event fired (the irq-info column's second character: `N`, `n`, `B` or
    /// `b`; not the lazy-only `L`/`l` nor `p`), so a loop that polls `need_resched()` may have stopped early: a
    /// zap's `rss_stat` carrying it may be a partial step. Always false where the trace has no irq-info column.
    pub need_resched: bool,
    /// The event.
    pub record: Record,
}

/// One tracepoint event, typed when mmdb knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// `exceptions:page_fault_user`.
    PageFaultUser(PageFaultUser),
    /// `exceptions:page_fault_kernel`.
    PageFaultKernel(PageFaultKernel),
    /// `kmem:mm_page_alloc`.
    MmPageAlloc(MmPageAlloc),
    /// `kmem:mm_page_free`.
    MmPageFree(MmPageFree),
    /// `kmem:mm_page_free_batched`.
    MmPageFreeBatched(MmPageFreeBatched),
    /// `kmem:rss_stat`.
    RssStat(RssStat),
    /// `pagemap:mm_lru_insertion`.
    MmLruInsertion(MmLruInsertion),
    /// `pagemap:mm_lru_activate`.
    MmLruActivate(MmLruActivate),
    /// `filemap:mm_filemap_map_pages`.
    MmFilemapMapPages(MmFilemapMapPages),
    /// `filemap:mm_filemap_fault`.
    MmFilemapFault(MmFilemapFault),
    /// `filemap:mm_filemap_add_to_page_cache`.
    MmFilemapAddToPageCache(MmFilemapPageCache),
    /// `filemap:mm_filemap_delete_from_page_cache`.
    MmFilemapDeleteFromPageCache(MmFilemapPageCache),
    /// `sched:sched_process_fork`.
    SchedProcessFork(SchedProcessFork),
    /// `sched:sched_process_exec`.
    SchedProcessExec(SchedProcessExec),
    /// `sched:sched_process_exit`.
    SchedProcessExit(SchedProcessExit),
    /// `sched:sched_process_free`.
    SchedProcessFree(SchedProcessFree),
    /// `task:task_newtask`.
    TaskNewtask(TaskNewtask),
    /// `vmscan:mm_vmscan_lru_isolate`.
    MmVmscanLruIsolate(MmVmscanLruIsolate),
    /// `vmscan:mm_vmscan_lru_shrink_inactive`.
    MmVmscanLruShrinkInactive(Box<MmVmscanLruShrinkInactive>),
    /// `vmscan:mm_vmscan_lru_shrink_active`.
    MmVmscanLruShrinkActive(MmVmscanLruShrinkActive),
    /// `vmscan:mm_vmscan_reclaim_pages`.
    MmVmscanReclaimPages(Box<MmVmscanReclaimPages>),
    /// `vmscan:mm_vmscan_write_folio`.
    MmVmscanWriteFolio(MmVmscanWriteFolio),
    /// `vmscan:mm_vmscan_direct_reclaim_begin`.
    MmVmscanDirectReclaimBegin(ReclaimBegin),
    /// `vmscan:mm_vmscan_direct_reclaim_end`.
    MmVmscanDirectReclaimEnd(ReclaimEnd),
    /// `vmscan:mm_vmscan_memcg_reclaim_begin`.
    MmVmscanMemcgReclaimBegin(ReclaimBegin),
    /// `vmscan:mm_vmscan_memcg_reclaim_end`.
    MmVmscanMemcgReclaimEnd(ReclaimEnd),
    /// `migrate:set_migration_pte`.
    SetMigrationPte(MigrationPte),
    /// `migrate:remove_migration_pte`.
    RemoveMigrationPte(MigrationPte),
    /// `oom:mark_victim`.
    MarkVictim(Box<MarkVictim>),
    /// `syscalls:sys_enter_*` of the syscalls in [`Syscall`].
    SysEnter(SysEnter),
    /// `syscalls:sys_exit_*` of the syscalls in [`Syscall`].
    SysExit(SysExit),
    /// `ftrace:print` from a `trace_marker` write (printed `tracing_mark_write: <buf>`).
    TracingMarkWrite {
        /// The text written, without the line break.
        buf: String,
    },
    /// Any other event, kept as text (boxed: the largest record by far, and a rare one, would make every record
    /// line that large).
    Raw(Box<RawRecord>),
}

/// An event mmdb does not type, kept as text ([`Record::Raw`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// The trace system when the format shows it (perf: `sched` of `sched:sched_switch`); ftrace does not.
    pub system: Option<String>,
    /// The event name (`sched_switch`, `sys_openat`).
    pub event: String,
    /// The text after the event name and its separator.
    pub fields_text: String,
}

impl Record {
    /// The kernel's event name of this record (`mm_page_alloc`, `sys_enter_mmap`; the name itself for raw ones).
    pub fn event_name(&self) -> &str {
        match self {
            Record::PageFaultUser(_) => "page_fault_user",
            Record::PageFaultKernel(_) => "page_fault_kernel",
            Record::MmPageAlloc(_) => "mm_page_alloc",
            Record::MmPageFree(_) => "mm_page_free",
            Record::MmPageFreeBatched(_) => "mm_page_free_batched",
            Record::RssStat(_) => "rss_stat",
            Record::MmLruInsertion(_) => "mm_lru_insertion",
            Record::MmLruActivate(_) => "mm_lru_activate",
            Record::MmFilemapMapPages(_) => "mm_filemap_map_pages",
            Record::MmFilemapFault(_) => "mm_filemap_fault",
            Record::MmFilemapAddToPageCache(_) => "mm_filemap_add_to_page_cache",
            Record::MmFilemapDeleteFromPageCache(_) => "mm_filemap_delete_from_page_cache",
            Record::SchedProcessFork(_) => "sched_process_fork",
            Record::SchedProcessExec(_) => "sched_process_exec",
            Record::SchedProcessExit(_) => "sched_process_exit",
            Record::SchedProcessFree(_) => "sched_process_free",
            Record::TaskNewtask(_) => "task_newtask",
            Record::MmVmscanLruIsolate(_) => "mm_vmscan_lru_isolate",
            Record::MmVmscanLruShrinkInactive(_) => "mm_vmscan_lru_shrink_inactive",
            Record::MmVmscanLruShrinkActive(_) => "mm_vmscan_lru_shrink_active",
            Record::MmVmscanReclaimPages(_) => "mm_vmscan_reclaim_pages",
            Record::MmVmscanWriteFolio(_) => "mm_vmscan_write_folio",
            Record::MmVmscanDirectReclaimBegin(_) => "mm_vmscan_direct_reclaim_begin",
            Record::MmVmscanDirectReclaimEnd(_) => "mm_vmscan_direct_reclaim_end",
            Record::MmVmscanMemcgReclaimBegin(_) => "mm_vmscan_memcg_reclaim_begin",
            Record::MmVmscanMemcgReclaimEnd(_) => "mm_vmscan_memcg_reclaim_end",
            Record::SetMigrationPte(_) => "set_migration_pte",
            Record::RemoveMigrationPte(_) => "remove_migration_pte",
            Record::MarkVictim(_) => "mark_victim",
            Record::SysEnter(e) => e.syscall().enter_event(),
            Record::SysExit(e) => e.syscall.exit_event(),
            Record::TracingMarkWrite { .. } => "tracing_mark_write",
            Record::Raw(r) => &r.event,
        }
    }
}

/// A parser of one event's `key=value` fields.
type FieldParser = fn(&Kv<'_>) -> Result<Record, LineError>;

/// A parser of one event's fields for lines printed exactly as Linux 6.18 prints them (see [`Exact`]): the record
/// its [`FieldParser`] gives, with no unknown key, or `None` for any other line (which then takes the general path,
/// errors included). The most frequent events have one, as most lines of a capture are theirs.
type ExactParser = fn(Exact<'_>) -> Option<Record>;

/// An entry of [`FIELD_EVENTS`]: system, event, parser, the keys 6.18 prints, the parser of exact lines.
type FieldEvent = (&'static str, &'static str, FieldParser, &'static [&'static str], Option<ExactParser>);

/// The events whose fields are `key=value` text, by trace system and name, with their parsers and the keys Linux
/// 6.18 prints (a key outside that list is reported as not understood, see [`ParsedTrace::unknown_fields`]).
const FIELD_EVENTS: &[FieldEvent] = &[
    ("exceptions", "page_fault_user", exceptions::page_fault_user, FAULT_KEYS, Some(exceptions::page_fault_user_exact)),
    ("exceptions", "page_fault_kernel", exceptions::page_fault_kernel, FAULT_KEYS, None),
    (
        "kmem",
        "mm_page_alloc",
        kmem::mm_page_alloc,
        &["page", "pfn", "order", "migratetype", "gfp_flags"],
        Some(kmem::mm_page_alloc_exact),
    ),
    ("kmem", "mm_page_free", kmem::mm_page_free, &["page", "pfn", "order"], Some(kmem::mm_page_free_exact)),
    (
        "kmem",
        "mm_page_free_batched",
        kmem::mm_page_free_batched,
        &["page", "pfn", "order"],
        Some(kmem::mm_page_free_batched_exact),
    ),
    ("kmem", "rss_stat", kmem::rss_stat, &["mm_id", "curr", "type", "size"], Some(kmem::rss_stat_exact)),
    (
        "pagemap",
        "mm_lru_insertion",
        pagemap::mm_lru_insertion,
        &["folio", "pfn", "lru", "flags"],
        Some(pagemap::mm_lru_insertion_exact),
    ),
    ("pagemap", "mm_lru_activate", pagemap::mm_lru_activate, &["folio", "pfn"], None),
    ("filemap", "mm_filemap_map_pages", filemap::mm_filemap_map_pages, &["dev", "ino", "ofs"], None),
    ("filemap", "mm_filemap_fault", filemap::mm_filemap_fault, &["dev", "ino", "ofs"], None),
    ("filemap", "mm_filemap_add_to_page_cache", filemap::mm_filemap_add_to_page_cache, PAGE_CACHE_KEYS, None),
    ("filemap", "mm_filemap_delete_from_page_cache", filemap::mm_filemap_delete_from_page_cache, PAGE_CACHE_KEYS, None),
    ("sched", "sched_process_fork", sched::sched_process_fork, &["comm", "pid", "child_comm", "child_pid"], None),
    ("sched", "sched_process_exec", sched::sched_process_exec, &["filename", "pid", "old_pid"], None),
    ("sched", "sched_process_exit", sched::sched_process_exit, &["comm", "pid", "prio", "group_dead"], None),
    ("sched", "sched_process_free", sched::sched_process_free, &["comm", "pid", "prio"], None),
    ("task", "task_newtask", sched::task_newtask, &["pid", "comm", "clone_flags", "oom_score_adj"], None),
    ("vmscan", "mm_vmscan_lru_isolate", vmscan::mm_vmscan_lru_isolate, LRU_ISOLATE_KEYS, None),
    ("vmscan", "mm_vmscan_lru_shrink_inactive", vmscan::mm_vmscan_lru_shrink_inactive, SHRINK_INACTIVE_KEYS, None),
    ("vmscan", "mm_vmscan_lru_shrink_active", vmscan::mm_vmscan_lru_shrink_active, SHRINK_ACTIVE_KEYS, None),
    ("vmscan", "mm_vmscan_reclaim_pages", vmscan::mm_vmscan_reclaim_pages, SHRINK_INACTIVE_KEYS.split_at(11).0, None),
    ("vmscan", "mm_vmscan_write_folio", vmscan::mm_vmscan_write_folio, &["page", "pfn", "flags"], None),
    ("vmscan", "mm_vmscan_direct_reclaim_begin", vmscan::direct_reclaim_begin, &["order", "gfp_flags"], None),
    ("vmscan", "mm_vmscan_direct_reclaim_end", vmscan::direct_reclaim_end, &["nr_reclaimed"], None),
    ("vmscan", "mm_vmscan_memcg_reclaim_begin", vmscan::memcg_reclaim_begin, &["order", "gfp_flags"], None),
    ("vmscan", "mm_vmscan_memcg_reclaim_end", vmscan::memcg_reclaim_end, &["nr_reclaimed"], None),
    ("migrate", "set_migration_pte", migrate::set_migration_pte, &["addr", "pte", "order"], None),
    ("migrate", "remove_migration_pte", migrate::remove_migration_pte, &["addr", "pte", "order"], None),
    ("oom", "mark_victim", oom::mark_victim, MARK_VICTIM_KEYS, None),
];

const FAULT_KEYS: &[&str] = &["address", "ip", "error_code"];
/// `dev %d:%d ino %lx` come before the pairs, as words.
const PAGE_CACHE_KEYS: &[&str] = &["pfn", "ofs", "order"];
const LRU_ISOLATE_KEYS: &[&str] =
    &["classzone", "order", "nr_requested", "nr_scanned", "nr_skipped", "nr_taken", "lru"];
/// `mm_vmscan_reclaim_pages` prints the first 11.
const SHRINK_INACTIVE_KEYS: &[&str] = &[
    "nid",
    "nr_scanned",
    "nr_reclaimed",
    "nr_dirty",
    "nr_writeback",
    "nr_congested",
    "nr_immediate",
    "nr_activate_anon",
    "nr_activate_file",
    "nr_ref_keep",
    "nr_unmap_fail",
    "priority",
    "flags",
];
const SHRINK_ACTIVE_KEYS: &[&str] =
    &["nid", "nr_taken", "nr_active", "nr_deactivated", "nr_referenced", "priority", "flags"];
const MARK_VICTIM_KEYS: &[&str] =
    &["pid", "comm", "total-vm", "anon-rss", "file-rss", "shmem-rss", "uid", "pgtables", "oom_score_adj"];

/// The `(system, event)` names of every tracepoint that parses into a typed record (syscalls are listed by
/// [`Syscall::ALL`]).
pub fn known_events() -> impl Iterator<Item = (&'static str, &'static str)> {
    FIELD_EVENTS.iter().map(|&(system, event, ..)| (system, event))
}

/// Parses the `key=value` fields of event `event` (of `system`, when the format shows it) that start at byte
/// `fields_offset` of `line`; an unknown event, or a known name under another system, becomes [`Record::Raw`].
/// The keys of a known event that Linux 6.18 does not print are added to `unknown` (the record parses without
/// them: fields are read by name).
pub(crate) fn parse_fields_event<'a>(
    line: &'a str,
    system: Option<&str>,
    event: &str,
    fields_offset: usize,
    unknown: &mut Vec<&'a str>,
) -> Result<Record, LineError> {
    let found = field_event(event).filter(|&&(sys, ..)| system.is_none_or(|s| s == sys));
    match found {
        Some(&(_, _, parse, known, exact)) => {
            if let Some(record) = exact.and_then(|exact| exact(Exact::new(line, fields_offset)?)) {
                return Ok(record);
            }
            let mut kv = Kv::empty(line, fields_offset);
            kv.split(known);
            let record = parse(&kv)?;
            unknown.extend(kv.unknown_keys(known));
            Ok(record)
        }
        None => Ok(raw(system, event, line.get(fields_offset..).unwrap_or(""))),
    }
}

/// The slots of the table of event names: a power of two, more than twice the number of names.
const NAME_SLOTS: usize = 128;
// An empty slot always remains, so the search for a name the table lacks ends there.
const _: () = assert!(2 * FIELD_EVENTS.len() < NAME_SLOTS && NAME_SLOTS.is_power_of_two());

/// Where the search for `name` starts in the table of event names: its length and last byte, which tell the 6.18
/// names apart (so a known name is found at the first probe, and an unknown one is told from it by its length).
fn name_slot(name: &str) -> usize {
    let last = name.as_bytes().last().copied().unwrap_or(0);
    (name.len().wrapping_mul(31) ^ usize::from(last)) & (NAME_SLOTS - 1)
}

/// The entry of [`FIELD_EVENTS`] named `event`: an open-addressing table of the names, built once (every record
/// line asks, so this avoids a string comparison per step of a search).
fn field_event(event: &str) -> Option<&'static FieldEvent> {
    static BY_NAME: std::sync::OnceLock<[u8; NAME_SLOTS]> = std::sync::OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        // Slot value: index + 1 into FIELD_EVENTS, 0 for an empty slot.
        let mut t = [0u8; NAME_SLOTS];
        for (i, e) in FIELD_EVENTS.iter().enumerate() {
            let mut s = name_slot(e.1);
            while t[s] != 0 {
                s = (s + 1) & (NAME_SLOTS - 1);
            }
            t[s] = u8::try_from(i + 1).expect("fewer than 255 field events");
        }
        t
    });
    let mut s = name_slot(event);
    loop {
        let entry = FIELD_EVENTS.get(usize::from(by_name[s]).checked_sub(1)?)?;
        if crate::fields::same(entry.1, event) {
            return Some(entry);
        }
        s = (s + 1) & (NAME_SLOTS - 1);
    }
}

/// A [`Record::Raw`].
pub(crate) fn raw(system: Option<&str>, event: &str, fields_text: &str) -> Record {
    Record::Raw(Box::new(RawRecord {
        system: system.map(str::to_string),
        event: event.to_string(),
        fields_text: fields_text.to_string(),
    }))
}

/// An interned comm: an index into [`Comms`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommId(pub u32);

/// The distinct comms of a trace, in order of first appearance, so that a [`TraceLine`] holds no string.
#[derive(Clone, Debug, Default)]
pub struct Comms {
    names: Vec<Box<str>>,
    index: BTreeMap<Box<str>, CommId>,
    last: Option<CommId>,
}

impl Comms {
    /// The id of `comm`, adding it on first sight. Allocates only for a comm not seen before.
    pub fn intern(&mut self, comm: &str) -> CommId {
        if let Some(id) = self.last.filter(|id| crate::fields::same(self.get(*id), comm)) {
            return id;
        }
        let id = match self.index.get(comm) {
            Some(&id) => id,
            None => {
                let id = CommId(u32::try_from(self.names.len()).unwrap_or(u32::MAX));
                self.names.push(comm.into());
                self.index.insert(comm.into(), id);
                id
            }
        };
        self.last = Some(id);
        id
    }

    /// The comm of `id` (empty for an id this table did not hand out).
    pub fn get(&self, id: CommId) -> &str {
        self.names.get(id.0 as usize).map_or("", |s| s)
    }

    /// The id of `comm`, if the trace has it.
    pub fn lookup(&self, comm: &str) -> Option<CommId> {
        self.index.get(comm).copied()
    }

    /// The number of distinct comms.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Tells whether there are no comms.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Two tables are equal when they hold the same comms in the same order.
impl PartialEq for Comms {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Eq for Comms {}

/// Events the kernel (or perf) dropped: `CPU:1 [LOST 12 EVENTS]`, `PERF_RECORD_LOST lost 12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lost {
    /// The 1-based line of the notice.
    pub line: u32,
    /// The CPU whose buffer overflowed, when the notice says.
    pub cpu: Option<u32>,
    /// How many events were lost, when the notice says (`trace-cmd` can print `[EVENTS DROPPED]` without a count).
    pub count: Option<u64>,
}

/// A field of a known event that this version of mmdb does not know (a trace from another kernel, which added it):
/// the lines parse without it, and it is reported once per event and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownField {
    /// The event (`mm_page_alloc`).
    pub event: String,
    /// The key as printed (`nid`).
    pub key: String,
    /// The first line that has it.
    pub line: u32,
    /// How many lines have it.
    pub count: u64,
}

/// What parsing a real trace produced: the records, the loss notices and one error per bad line, in line order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedTrace {
    /// The record lines that parsed.
    pub lines: Vec<TraceLine>,
    /// The loss notices.
    pub lost: Vec<Lost>,
    /// One error per line that did not parse.
    pub errors: Vec<ParseError>,
    /// The comms that [`TraceLine::comm`] points into.
    pub comms: Comms,
    /// Fields of known events that Linux 6.18 does not print, in order of first appearance.
    pub unknown_fields: Vec<UnknownField>,
}

impl ParsedTrace {
    /// Merges the records of `extra`, a trace of the same clock recorded beside this one (the LRU events of other
    /// tasks that `mmdb record --perf` keeps in a `.lru` file), into this one by time; at equal times this
    /// trace's record comes first. A merged record takes the line of the record of this trace it follows (0
    /// before the first), so reports point near where it happened in this file. Its errors are not kept.
    pub fn merge(&mut self, extra: ParsedTrace) {
        let mut merged = Vec::with_capacity(self.lines.len() + extra.lines.len());
        let mut base = std::mem::take(&mut self.lines).into_iter().peekable();
        let mut last_line = 0;
        for mut l in extra.lines {
            while let Some(b) = base.next_if(|b| b.ts_ns <= l.ts_ns) {
                last_line = b.line;
                merged.push(b);
            }
            l.comm = self.comms.intern(extra.comms.get(l.comm));
            l.line = last_line;
            merged.push(l);
        }
        merged.extend(base);
        self.lines = merged;
    }

    /// Parses `src` line by line with `parse_line`, which adds records, loss notices and errors to the trace;
    /// lines that are not UTF-8 are errors too, and all errors end up in line order.
    /// The lines are numbered from `before + 1`; also returns the number of line breaks in `src`.
    pub(crate) fn parse_lines(
        src: &[u8],
        before: u32,
        mut parse_line: impl FnMut(u32, &str, &mut ParsedTrace),
    ) -> (ParsedTrace, u64) {
        let mut out = ParsedTrace::default();
        // Room for a record per 64 bytes of a piece of a streamed trace (4 MiB), more than real traces have (their
        // lines are about twice as long): the records are then never moved as the vector grows, and the room they
        // do not use is never touched (so it takes no memory). A whole file grows from there.
        out.lines.reserve((src.len() / 64).min(1 << 16));
        let mut errors = Vec::new();
        let breaks = crate::fields::for_each_line_from(src, before, &mut errors, |line_no, line| {
            parse_line(line_no, line, &mut out)
        });
        if !errors.is_empty() {
            out.errors.extend(errors);
            out.errors.sort_by_key(|e| e.line);
        }
        (out, breaks)
    }

    /// Notes that line `line` of event `event` has the fields `keys`, which Linux 6.18 does not print.
    pub(crate) fn note_unknown(&mut self, event: &str, keys: &[&str], line: u32) {
        for &key in keys {
            match self.unknown_fields.iter_mut().find(|u| u.event == event && u.key == key) {
                Some(u) => u.count += 1,
                None => self.unknown_fields.push(UnknownField {
                    event: event.to_string(),
                    key: key.to_string(),
                    line,
                    count: 1,
                }),
            }
        }
    }

    /// Renumbers the lines of a trace parsed from a piece of a file as lines of the whole file: `by` is the number
    /// of lines before the piece. Saturates at `u32::MAX`, like the parsers.
    pub fn shift_lines(&mut self, by: u32) {
        if by == 0 {
            return;
        }
        let shift = |line: &mut u32| *line = line.saturating_add(by);
        self.lines.iter_mut().for_each(|l| shift(&mut l.line));
        self.lost.iter_mut().for_each(|l| shift(&mut l.line));
        self.errors.iter_mut().for_each(|e| shift(&mut e.line));
        self.unknown_fields.iter_mut().for_each(|u| shift(&mut u.line));
    }

    /// The comm of `line`.
    pub fn comm(&self, line: &TraceLine) -> &str {
        self.comms.get(line.comm)
    }

    /// Tells whether every line parsed.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact parsers give what the general path gives on every line they take, and take the usual lines.
    #[test]
    fn exact_lines_parse_like_the_general_path() {
        let lines: &[(&str, &str, bool)] = &[
            ("page_fault_user", "address=0x7f7c23d51c20 ip=0x7f7c238ff04a error_code=0x7", true),
            ("page_fault_user", "address=0x7f7c23d51c20 ip=0x7f7c238ff04a error_code=0x7 ", false),
            ("page_fault_user", "address=0x7f7c23d51c20 ip=0x7f7c238ff04a error_code=0x7,", false),
            ("page_fault_user", "address=0x7f7c23d51c20, ip=0x7f7c238ff04a error_code=0x7", false),
            ("page_fault_user", "address=0x7f7c23d51c20  ip=0x7f7c238ff04a error_code=0x7", false),
            ("page_fault_user", "address=0x7f7c23d51c20\tip=0x7f7c238ff04a error_code=0x7", false),
            ("page_fault_user", "address=0x7F7C ip=ABC error_code=7", true),
            ("page_fault_user", "address=0x7f7c ip=sym+0x40/0x80 error_code=0x7", false),
            ("page_fault_user", "address=0x7f7c ip=0x1 error_code=0x7 extra=1", false),
            ("page_fault_user", "address=0x7f7c ip=0x1", false),
            ("page_fault_user", "ip=0x1 address=0x7f7c error_code=0x7", false),
            ("page_fault_user", "address= ip=0x1 error_code=0x7", false),
            (
                "mm_page_alloc",
                "page=0000000054734d28 pfn=0x1d4c47 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP",
                true,
            ),
            ("mm_page_alloc", "page=(null) pfn=0x0 order=0 migratetype=1 gfp_flags=GFP_KERNEL", true),
            ("mm_page_alloc", "page=0000000000000000 pfn=0x1 order=0 migratetype=1 gfp_flags=none", true),
            ("mm_page_alloc", "page=0000000054734d28 pfn=-1 order=9 migratetype=-1 gfp_flags=GFP_TRANSHUGE", true),
            (
                "mm_page_alloc",
                "page=0000000054734d28 pfn=0xffffffffffffffff order=0 migratetype=1 gfp_flags=none",
                true,
            ),
            ("mm_page_alloc", "page=0000000054734d28 pfn=0x1 order=19 migratetype=1 gfp_flags=none", false),
            ("mm_page_alloc", "page=0000000054734d28 pfn=0x1 order=0 migratetype=x gfp_flags=none", false),
            ("mm_page_alloc", "page=0000000054734d28 pfn=0x1 order=0 migratetype=1 gfp_flags=GFP_NOPE", false),
            ("mm_page_alloc", "page=0000000054734d28 pfn=0x1 order=0 migratetype=1 gfp_flags=0x400|GFP_KERNEL", true),
            ("mm_page_alloc", "page=0x104c48 pfn=0x104c48 order=0 migratetype=1 gfp_flags=GFP_USER", true),
            ("mm_page_alloc", "page=0000000054734d28 pfn=0x1 order=0 migratetype=1", false),
            ("mm_page_free", "page=000000008c44a0e5 pfn=0x20080f order=0", true),
            ("mm_page_free", "page=000000008c44a0e5 pfn=0x20080f order=0 nid=1", false),
            ("mm_page_free", "page=000000008c44a0e5 pfn=0x20080f order=x", false),
            ("mm_page_free", "page=000000008c44a0e5 pfn=20080f order=18", true),
            ("mm_page_free_batched", "page=000000003fdc0df1 pfn=0x2f2390 order=0", true),
            ("mm_page_free_batched", "page=000000003fdc0df1 pfn=0x2f2390 order=junk", true),
            ("mm_page_free_batched", "page=000000003fdc0df1 pfn=0x2f2390", false),
            ("mm_page_free_batched", "page=000000003fdc0df1 pfn=0xg order=0", false),
            ("rss_stat", "mm_id=3932844115 curr=1 type=MM_FILEPAGES size=3489792B", true),
            ("rss_stat", "mm_id=1 curr=0 type=1 size=-4096B", true),
            ("rss_stat", "mm_id=1 curr=2 type=MM_ANONPAGES size=4096B", false),
            ("rss_stat", "mm_id=1 curr=1 type=MM_NOPE size=4096B", false),
            ("rss_stat", "mm_id=1 curr=1 type=MM_ANONPAGES size=4096", false),
            ("rss_stat", "mm_id=99999999999 curr=1 type=MM_ANONPAGES size=4096B", false),
            ("rss_stat", "mm_id=1 curr=1 member=MM_ANONPAGES size=4096B", false),
            ("mm_lru_insertion", "folio=000000000fce29d7 pfn=0x106d6f lru=0 flags=Ma bd", true),
            ("mm_lru_insertion", "folio=000000000fce29d7 pfn=0x106d6f lru=0 flags=Ma bd ", true),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=2 flags= f   B", true),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=2 flags=      ", true),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=2 flags=", true),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=inactive_file flags= f", true),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=5 flags= f", false),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=2 flags= f x=1", false),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=2 flags=Ma\tbd", false),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=2 flags=Mq", false),
            ("mm_lru_insertion", "folio=000000007019f604 pfn=0x16a2ed lru=2 flags=Ma bd,", false),
        ];
        for &(event, text, usual) in lines {
            let &(_, _, parse, known, exact) = field_event(event).expect("a field event");
            let fast = exact.and_then(|exact| exact(Exact::new(text, 0)?));
            assert_eq!(fast.is_some(), usual, "{event}: {text:?}");
            let mut kv = Kv::empty(text, 0);
            kv.split(known);
            let general = parse(&kv).ok();
            if let Some(record) = fast {
                assert_eq!(Some(record), general, "{event}: {text:?}");
                assert_eq!(kv.unknown_keys(known).count(), 0, "{event}: {text:?}");
            }
        }
    }

    #[test]
    fn every_field_event_is_found_by_name() {
        for e in FIELD_EVENTS {
            assert_eq!(field_event(e.1).map(|f| f.1), Some(e.1));
        }
        // `Kv::split` relies on each listed key being one a word scan would find.
        for &(_, event, _, keys, _) in FIELD_EVENTS {
            for key in keys {
                let b = key.as_bytes();
                let valid = b.first().copied().is_some_and(crate::fields::is_key_start)
                    && b.iter().all(|&c| crate::fields::is_key_char(c));
                assert!(valid, "{event}: {key}");
            }
        }
        for other in ["", "sched_switch", "mm_page_allo", "mm_page_allocx", "rss_stax", "page_fault_usez"] {
            assert!(field_event(other).is_none(), "{other}");
        }
    }
}
