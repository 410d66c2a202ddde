//! The replay report: a serialisable snapshot of model state (per-process VMAs, RSS, smaps rollup, page totals).
//!
//! The JSON form of [`Report`] is a stable interface: fields are only ever added, never renamed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything `mmdb replay` prints, computed from model state by [`crate::Model::report`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// How many events were applied.
    pub events: u64,
    /// Timestamp of the last applied event, in nanoseconds.
    pub last_ts_ns: u64,
    /// The live processes, by pid.
    pub processes: Vec<ProcessReport>,
    /// Page totals by state, over every live folio.
    pub pages: PageTotals,
    /// The vm event counters (`/proc/vmstat` names), only the non-zero ones.
    pub vmstat: BTreeMap<String, u64>,
    /// Memory cgroups other than the root.
    pub memcgs: Vec<MemcgReport>,
    /// The swap device, if one was switched on.
    pub swap: Option<SwapReport>,
    /// Invariant violations found by the checker (empty unless checking was on or a check ran).
    pub violations: Vec<Violation>,
    /// Diagnostics: trace anomalies and failed operations.
    pub diagnostics: Vec<Diagnostic>,
}

/// One process (thread-group leader or thread) and its mm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessReport {
    pub pid: u32,
    pub tgid: u32,
    pub comm: String,
    /// The model's `mm->mm_id`; threads of one process show the same id.
    pub mm_id: u32,
    /// The memcg the mm is charged to (0 = root).
    pub memcg: u32,
    pub vmas: Vec<VmaReport>,
    /// `mm->rss_stat`, in pages.
    pub rss: RssCounters,
    /// `/proc/PID/smaps_rollup`, in kB.
    pub smaps: SmapsRollup,
    /// `RssLazyfree` of /proc/PID/status (and the 8th field of statm), in pages: the never-merged
    /// MM_LAZYFREEPAGES counter, under the `lazyfree-rss` profiles only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_lazyfree: Option<i64>,
}

/// One `vm_area_struct`, as `/proc/PID/maps` would show it, plus its smaps Rss.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmaReport {
    pub start: u64,
    pub end: u64,
    /// `rw-p`-style permissions.
    pub perms: String,
    /// Names of the `VM_*` flags beyond the permissions (`VM_LOCKED`, `VM_HUGEPAGE`, …).
    pub flags: Vec<String>,
    /// Byte offset into the file (0 for anonymous memory).
    pub offset: u64,
    /// `[anon]`, `[heap]`, or the file name.
    pub name: String,
    /// smaps of this VMA alone.
    pub smaps: SmapsRollup,
}

/// `mm->rss_stat[]`: `MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SWAPENTS`, `MM_SHMEMPAGES`, in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RssCounters {
    pub file: i64,
    pub anon: i64,
    pub swapents: i64,
    pub shmem: i64,
}

/// `/proc/PID/statm`, in pages, as `task_statm()` computes it (fs/proc/task_mmu.c); the eighth field only
/// under the `lazyfree-rss` profiles, whose patch added it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statm {
    /// `mm->total_vm`: every VMA's pages.
    pub size: u64,
    /// `get_mm_rss()`: MM_FILEPAGES + MM_ANONPAGES + MM_SHMEMPAGES.
    pub resident: u64,
    /// MM_FILEPAGES + MM_SHMEMPAGES.
    pub shared: u64,
    /// `end_code - start_code` in pages: 0, as the model keeps no ELF image's code bounds (`mm->start_code`).
    pub text: u64,
    /// Always 0 since Linux 2.6.
    pub lib: u64,
    /// `mm->data_vm + mm->stack_vm`: private writable VMAs (`is_data_mapping()`) and stacks.
    pub data: u64,
    /// Always 0 since Linux 2.6.
    pub dt: u64,
    /// MM_LAZYFREEPAGES, the never-merged eighth field (`lazyfree-rss` profiles only).
    pub lazyfree: Option<u64>,
}

impl std::fmt::Display for Statm {
    /// The line `/proc/PID/statm` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Statm { size, resident, shared, text, lib, data, dt, lazyfree } = self;
        write!(f, "{size} {resident} {shared} {text} {lib} {data} {dt}")?;
        match lazyfree {
            Some(l) => write!(f, " {l}"),
            None => Ok(()),
        }
    }
}

/// The smaps fields mmdb computes, in kB, the way `fs/proc/task_mmu.c` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmapsRollup {
    pub rss_kb: u64,
    pub pss_kb: u64,
    pub shared_clean_kb: u64,
    pub shared_dirty_kb: u64,
    pub private_clean_kb: u64,
    pub private_dirty_kb: u64,
    pub referenced_kb: u64,
    pub anon_kb: u64,
    pub lazyfree_kb: u64,
    pub anonhuge_kb: u64,
    pub swap_kb: u64,
    pub locked_kb: u64,
}

/// The lowest values `/proc/PID/smaps_rollup` can show for the fields the model knows only from above
/// ([`crate::Model::smaps_rollup_bounds`]), in kB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmapsLow {
    /// Pss without the share of page-cache pages cached before the trace: processes the trace does not show may
    /// map them too, down to a share of nothing.
    pub pss_kb: u64,
    /// LazyFree without the lazyfree pages mapped writable and clean: the CPU sets a PTE's dirty bit on a store,
    /// with no fault and so no event, and `smaps_account()` leaves PTE-dirty pages out of LazyFree.
    pub lazyfree_kb: u64,
}

/// Live folios and pages by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageTotals {
    /// Allocated folios (pages in brackets below are 4 KiB pages).
    pub folios: u64,
    /// Allocated pages.
    pub pages: u64,
    /// Anonymous pages.
    pub anon: u64,
    /// Page-cache pages (file and shmem).
    pub file: u64,
    /// Pages of mapped folios.
    pub mapped: u64,
    /// Pages of folios that are allocated but mapped by no page table.
    pub unmapped: u64,
    /// Anonymous pages with `PG_swapbacked` clear (lazyfree).
    pub lazyfree: u64,
    /// Pages in large folios.
    pub thp: u64,
    /// Pages in the swap cache.
    pub swapcache: u64,
    /// Pages of folios held by a per-CPU batch.
    pub in_batch: u64,
    /// Pages isolated from the LRU.
    pub isolated: u64,
    pub inactive_anon: u64,
    pub active_anon: u64,
    pub inactive_file: u64,
    pub active_file: u64,
    pub unevictable: u64,
    /// Mappings of the shared zero page (PTEs), which are not counted in RSS.
    pub zero_page_ptes: u64,
    /// Mappings of the huge zero page (PMDs).
    pub huge_zero_pmds: u64,
}

/// One memory cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemcgReport {
    pub id: u32,
    /// `memory.limit_in_bytes` in pages (0 = unlimited).
    pub limit_pages: u64,
    /// `memory.usage_in_bytes` in pages.
    pub usage_pages: u64,
    /// The highest usage seen.
    pub max_usage_pages: u64,
    /// How often the limit forced reclaim.
    pub reclaims: u64,
    /// How many tasks the memcg OOM killer killed.
    pub oom_kills: u64,
    /// Kernel (kmem) pages charged, part of `usage_pages` (`memory.kmem.usage_in_bytes`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kmem_pages: u64,
    /// Of `kmem_pages`, those freed without being uncharged (the charge leaked).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kmem_leaked_pages: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The swap device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapReport {
    pub total_pages: u64,
    pub used_pages: u64,
}

/// A broken model invariant: a bug in the model, reported with the event that caused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Index (0-based) of the event after which the check failed.
    pub event: u64,
    /// Which invariant (`mapcount-rmap`, `rss-walk`, `refcount`, `free-page`, `lru`).
    pub invariant: String,
    pub message: String,
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something the user may want to know (an operation returned an error code, an OOM kill).
    Info,
    /// The trace asked for something the model cannot do as stated (fault outside any VMA, unknown pid).
    Warning,
}

/// A finding about the input, tied to the event that produced it. Never a panic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Index (0-based) of the event.
    pub event: u64,
    pub severity: Severity,
    /// A short stable kind (`unknown-pid`, `segv`, `einval`, `oom-kill`, …).
    pub kind: String,
    pub message: String,
}

/// The diagnostics of a model, in order: an append-only list whose full chunks are shared between clones, so that
/// copying a model (a REPL checkpoint, the cursor's model) costs in proportion to the chunks, not to the
/// diagnostics (a long capture collects hundreds of thousands).
#[derive(Clone, Debug, Default)]
pub struct DiagnosticLog {
    chunks: Vec<std::sync::Arc<[Diagnostic]>>,
    tail: Vec<Diagnostic>,
}

impl DiagnosticLog {
    /// How many diagnostics a shared chunk holds.
    const CHUNK: usize = 1024;

    /// Appends a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.tail.push(d);
        if self.tail.len() == Self::CHUNK {
            self.chunks.push(std::mem::take(&mut self.tail).into());
        }
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.chunks.len() * Self::CHUNK + self.tail.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.tail.is_empty()
    }

    /// The diagnostics in order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> + '_ {
        self.chunks.iter().flat_map(|c| c.iter()).chain(self.tail.iter())
    }

    /// The diagnostics from the `from`-th on (none when there are fewer), without walking the ones before.
    pub fn since(&self, from: usize) -> impl Iterator<Item = &Diagnostic> + '_ {
        let (chunk, skip) = (from / Self::CHUNK, from % Self::CHUNK);
        let chunks = self.chunks.get(chunk..).unwrap_or_default();
        let tail = if chunk <= self.chunks.len() { &self.tail[..] } else { &[] };
        chunks.iter().flat_map(|c| c.iter()).chain(tail.iter()).skip(skip)
    }

    /// The first diagnostic.
    pub fn first(&self) -> Option<&Diagnostic> {
        self.iter().next()
    }

    /// The last diagnostic.
    pub fn last(&self) -> Option<&Diagnostic> {
        self.tail.last().or_else(|| self.chunks.last().and_then(|c| c.last()))
    }

    /// The diagnostics as a vector of their own.
    pub fn to_vec(&self) -> Vec<Diagnostic> {
        self.iter().cloned().collect()
    }

    /// The memory the list holds, roughly, in bytes.
    pub fn footprint(&self) -> usize {
        (self.chunks.len() * Self::CHUNK + self.tail.capacity()) * std::mem::size_of::<Diagnostic>()
    }
}

impl PartialEq for DiagnosticLog {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for DiagnosticLog {}

#[cfg(test)]
mod diagnostic_log_tests {
    use super::{Diagnostic, DiagnosticLog, Severity};

    fn diag(event: u64) -> Diagnostic {
        Diagnostic { event, severity: Severity::Info, kind: "k".into(), message: String::new() }
    }

    #[test]
    fn a_log_keeps_order_shares_its_chunks_and_reads_from_any_point() {
        let mut log = DiagnosticLog::default();
        for e in 0..2500 {
            log.push(diag(e));
        }
        let copy = log.clone();
        assert!(std::sync::Arc::ptr_eq(&log.chunks[1], &copy.chunks[1]), "full chunks are shared");
        log.push(diag(2500));
        assert_eq!((log.len(), copy.len()), (2501, 2500));
        assert_ne!(log, copy);
        assert!(log.iter().map(|d| d.event).eq(0..2501));
        for from in [0, 1, 1023, 1024, 1500, 2048, 2500, 2501, 5000] {
            let got: Vec<u64> = log.since(from).map(|d| d.event).collect();
            assert_eq!(got, (from as u64..2501).collect::<Vec<_>>(), "since {from}");
        }
        assert_eq!(log.first().map(|d| d.event), Some(0));
        assert_eq!((log.last().map(|d| d.event), copy.last().map(|d| d.event)), (Some(2500), Some(2499)));
        assert_eq!(log.to_vec().len(), 2501);
    }
}
