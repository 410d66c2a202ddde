//! Lowering of real kernel traces (ftrace or perf records) to model events, in lockstep with the model so that
//! every place where the trace contradicts the model's prediction becomes a [`Divergence`].
//!
//! What is lowered (kernel-semantics §13 names the tracepoints):
//! - `tracing_mark_write: mmdb-record pid=P` names the recorded task; its events before `sched_process_exec`
//!   belong to the image exec replaces and are ignored (trap 1). The exec starts it with a fresh mm.
//! - `sched_process_fork`, with the clone flags of `task_newtask` (or of the parent's `sys_enter_clone`;
//!   `vfork()` is `CLONE_VM | CLONE_VFORK`) or the TGID column: `CLONE_THREAD` makes a thread, `CLONE_VM` alone
//!   a process borrowing the parent's mm (`Op::Vfork`); `sched_process_exit`.
//! - Syscalls: the range operations (munmap, mprotect, madvise, mlock, munlock) are applied at `sys_enter`,
//!   because the kernel's effects (page frees) appear before `sys_exit`; mmap and mremap at `sys_exit`, where
//!   the address is known (applied as `MAP_FIXED`/`MREMAP_FIXED` at that address); brk as the mapping or
//!   unmapping of the heap range between the old and the new break. The return values are compared.
//! - `page_fault_user` with the user-page `mm_page_alloc`s (migratetype MOVABLE) that follow it in the same task
//!   gives a fault with the kernel's pfn; the model's own allocation is compared with the kernel's.
//! - `mm_page_free` of a page the model still holds: an unmapped page in a per-CPU batch means that CPU drained
//!   its batches where the trace cannot see it (traps 5 and 6): the model drains that CPU too. Anything else is
//!   a divergence. `mm_page_free_batched` repeats `mm_page_free` and is ignored (trap 2).
//! - `mm_lru_insertion` of a folio the model holds in a CPU's lru_add batch is the same evidence of a drain.
//! - `rss_stat` is never used to set state (honesty rule): each one of a traced mm (mapped to its process by the
//!   `curr=1` events) is compared with the model's counter.
//!
//! - The recorded program gets a memcg of its own. Between `mm_vmscan_{memcg,direct}_reclaim_begin` and `_end` in
//!   a traced task (memcg reclaim runs inside the fault whose charge needed it, which completes after it), the
//!   pages the kernel frees are reclaim's victims: each becomes an `Op::ShrinkFolio`, in the kernel's order, and
//!   the reclaim's `rss_stat`s are compared one after each victim that moved a counter.
//! - An anonymous fault is applied at its own `MM_ANONPAGES` `rss_stat`; munmap, madvise and mlock at the task's
//!   next record inside the syscall, an unmap one page table at a time at each of its `rss_stat`s; so counter
//!   steps of threads on two CPUs happen in the trace's order. An `rss_stat` may also count a sibling's fault
//!   under way on the other CPU (allocated, its own `rss_stat` not yet written): reported as `concurrent`.
//!
//! - A file fault whose page is not cached reads it in inside the fault (`mm_filemap_fault`, then page-cache
//!   additions): the readahead's additions, the lru_add batches they fill and the pages it gives back belong to
//!   the fault, and so does its `VM_FAULT_RETRY`: a copy-on-write fault frees its copy and page table and
//!   allocates them again, a read fault's retry maps the window read in (`mm_filemap_map_pages` after the
//!   additions), with no new `page_fault` record. When fault-around ran before the miss too, its `rss_stat` is
//!   short of the pages read in since. The task sleeps on the read inside the fault: other tasks running on its
//!   CPU meanwhile do not end it; a checkpoint's SIGSTOP does, and the fault then maps nothing
//!   (`fault_signal_pending()`).
//! - `page_fault_kernel` on a user address (exec's `padzero` and `create_elf_tables`, `copy_to_user` into a fresh
//!   buffer) is a fault like `page_fault_user`.
//! - A read fault on a file mapping maps the window `mm_filemap_map_pages` reports (one page without it): the
//!   kernel's window knows the file's end. Which pages of it were cached, it does not say (`filemap_map_pages()`
//!   skips the others silently): the page cache comes from `mmdb-pagecache` input markers (what `mincore()` showed
//!   at the exec stop and at checkpoints) and from `mm_filemap_add_to_page_cache` and
//!   `mm_filemap_delete_from_page_cache` of any task. The lowering keeps, per file, the pages known not to be
//!   cached, and before a fault on a file it knows them of gives them to the model (`Op::PageCache`), the VMA first
//!   named after the file when `mmap(fd)` could only name it by its descriptor (below). Pages the trace said
//!   nothing about are taken to be cached, as without residency.
//!
//! Exec: a task's records from `sys_enter_execve` to `sched_process_exec` are held back (the recorded task's, and
//! any traced task's: a shell's child executing a command); the new image starts when its layout is known: the
//! `mmdb-exec-vma`/`mmdb-exec` input markers `mmdb record` writes at the recorded command's exec stop (the ELF
//! segments, the vDSO, the stack), or, for other tasks, at once, with stand-ins; the held records are replayed
//! into it (the page-cache lines measured at the exec stop are newer than them: their page-cache additions take no
//! measured mark or frame away). A failed `execve` gives its records back to the old image. The pages
//! `copy_strings` allocated (no fault shows them) are the stack's top pages, down to `arg_start`. The old image's
//! records (its teardown) are not the new mm's and are counted as skipped. The old image itself goes at its
//! teardown (`exec_mmap()`, early in the exec: `exec` without the name), at the first free of a page it maps or
//! the first `rss_stat` of its mm (a child's teardown frees nothing it shares with its parent), or at
//! `sched_process_exec`,
//! which names the task (`rename`). Several execs may be in flight at once: each holds only records that came after
//! its own `sys_enter_execve`, and a record of another task still ends the fault pending on its CPU. The exec's
//! own batch moves and frees of pages that are neither the new image's nor the old image's are applied at once.
//!
//! Two write faults of different tasks racing on one copy-on-write page on two CPUs both copy in the kernel; the
//! model, which applies a fault whole, is given the other fault's reference on the page while it applies the
//! first (`folio_get`/`folio_put`, [`Lowerer::racing_cow`]). And a write fault on a shared anonymous page
//! that it reused applies other tasks' pending write faults on it that have allocated their copies first
//! ([`Lowerer::end_copies_before`]): a copy changes no counter, so nothing else would end them in time. A free of
//! a page that is no user page the model knows does not end a fault (an interrupt's, in perf text, which has no
//! irq-info column).
//!
//! State from before the trace, in traces without exec's layout: a fault where the model has no VMA lands in a
//! mapping exec made; the lowering adds a stand-in VMA, file-backed with the kernel's fault-around window when the
//! fault's filemap records name the file; exec's argument pages have known pfns but unknown addresses and are
//! placed below `mmap_min_addr`. Each is counted in [`LoweringStats`].

use mmdb_model::consts::*;
use mmdb_model::filemap::PageRanges;
use mmdb_model::lru::BatchKind;
use mmdb_model::tlb::MmuGather;
use mmdb_model::{Access, Event, FileRef, MmId, Model, Op, Pid, VmFlags};
use mmdb_trace::records::{MmPageAlloc as MmPageAllocRec, Record, RssMember, SysEnter, Syscall};
use mmdb_trace::truth::{parse_marker, ExecStack, ExecVma, Marker};
use mmdb_trace::TraceLine;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

/// `CLONE_VM`: the child shares the parent's mm.
const CLONE_VM: u64 = 0x100;
/// The pfn a free record frees.
fn freed_pfn(r: &Record) -> Option<u64> {
    match r {
        Record::MmPageFree(f) => Some(f.pfn),
        Record::MmPageFreeBatched(f) => Some(f.pfn),
        _ => None,
    }
}

/// `KPF_MAPPEDTODISK` (kpageflags bit 34, `PG_mappedtodisk` of a page-cache page).
const KPF_MAPPEDTODISK: u64 = 1 << 34;
/// `CLONE_VFORK`: the parent waits until the child execs or exits.
const CLONE_VFORK: u64 = 0x4000;
/// `CLONE_THREAD`: the child is in the parent's thread group.
const CLONE_THREAD: u64 = 0x10000;
/// The migratetype of user pages (`MIGRATE_MOVABLE`); page tables are UNMOVABLE.
const MIGRATE_MOVABLE: i32 = 1;

/// The lowest address above user space: faults at or above it (the kernel's own) are not user faults.
const USER_END: u64 = TASK_SIZE;
/// Where exec's argument pages go when the trace does not say where the stack is: below `mmap_min_addr`, where
/// no real mapping can be.
const EXEC_PAGES_LOW: u64 = 0x1000;
const EXEC_PAGES_END: u64 = 0x10000;

/// The lowering's name for a file: its device and inode, as the filemap tracepoints and the input markers give
/// them (`dev 254:0 ino 0x51207b`).
fn file_name(major: u32, minor: u32, ino: u64) -> String {
    format!("dev {major}:{minor} ino {ino:#x}")
}

/// VMA flags an `mmap()` does not give: a VMA carrying one is not re-created to name its file.
const NOT_FROM_MMAP: u64 = VmFlags::VM_LOCKED.0
    | VmFlags::VM_HUGEPAGE.0
    | VmFlags::VM_NOHUGEPAGE.0
    | VmFlags::VM_DONTCOPY.0
    | VmFlags::VM_GROWSDOWN.0
    | VmFlags::VM_PFNMAP.0;

/// The recorded task inside its `execve`, until the new image's layout is known.
#[derive(Debug)]
struct ExecInFlight {
    pid: Pid,
    /// The CPU of its `sys_enter_execve`: another task's LRU records there are held with it.
    cpu: u32,
    /// The line of its `sys_enter_execve`: records from before it (another exec's held records, replayed late)
    /// are not this exec's.
    from_line: u32,
    /// The task's records from `sys_enter_execve` to `sched_process_exec`, replayed into the new image (but the
    /// frees of the old image's pages, applied at `sched_process_exec`: [`Lowerer::begin_exec`]).
    held: Vec<TraceLine>,
    /// The page frames the held records allocate (the new image's pages: [`Lowerer::exec_window_page`]).
    allocated: FxHashSet<u64>,
    /// `sched_process_exec`, once seen: (its line, the filename).
    exec: Option<(TraceLine, String)>,
    /// Whether the old image is gone from the model (`Op::Exec` applied at `sched_process_exec`).
    begun: bool,
    /// The `mmdb-exec-vma` markers so far.
    vmas: Vec<ExecVma>,
}

/// A place where the trace contradicts the model. The trace wins; the model goes on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The trace line of the event.
    pub line: u32,
    /// A short stable kind (`fault-alloc-missing`, `fault-alloc-extra`, `free-mapped`, `syscall-ret`, …).
    pub kind: &'static str,
    /// What the model predicted.
    pub predicted: String,
    /// What the kernel did.
    pub actual: String,
    /// The likely cause.
    pub cause: String,
}

/// One `rss_stat` that disagreed with the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RssMismatch {
    pub line: u32,
    pub pid: Pid,
    pub member: &'static str,
    /// The kernel's counter, in pages.
    pub kernel: i64,
    /// The model's counter, in pages.
    pub model: i64,
}

/// One `rss_stat` of a traced mm as the lowering compared it, placed in the event log (kept with
/// [`Lowerer::keep_log`], so that a debugger can show the kernel's counters beside the model's at any point).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RssSample {
    /// How many logged events were applied when it was compared: the model state it describes.
    pub position: usize,
    pub line: u32,
    /// The task the event's `mm_id` maps to.
    pub pid: Pid,
    pub member: RssMemberName,
    /// The kernel's counter, in pages.
    pub kernel: i64,
    /// The model's counter, in pages.
    pub model: i64,
}

/// An `rss_stat` member's kernel name (`MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SWAPENTS`, `MM_SHMEMPAGES`).
pub type RssMemberName = &'static str;

/// The `rss_stat` reconciliation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RssCheck {
    /// `rss_stat` events of traced mms that could be compared.
    pub total: u64,
    pub matched: u64,
    /// Per member (`MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SWAPENTS`, `MM_SHMEMPAGES`): (compared, matched).
    pub by_member: [(u64, u64); 4],
    /// Events of traced mms that could not be compared (the mm not yet known to the model, or already gone).
    pub skipped: u64,
    /// Of the matched: those whose value also counts the MM_ANONPAGES step of a sibling thread's fault on another
    /// CPU that was under way (its page allocated, its own `rss_stat` not yet written). The counter is a percpu
    /// counter and `rss_stat` prints its exact sum at that moment, so such a step may or may not be in it.
    pub concurrent: u64,
    /// Of the matched: partial steps of an unmap that `need_resched()` cut short inside a page table (the event
    /// says it was set), whose value lies between the model's counters before and after that table.
    #[serde(skip_serializing_if = "is_zero")]
    pub resched: u64,
    /// Of the matched: fault-around steps of a fault that then retried without reading its own page in (it
    /// waited for an earlier readahead's I/O, or started the next readahead from a `PG_readahead` folio): the
    /// retry's fault-around maps what the first skipped, and the value lies between the model's counters before
    /// and after the fault (which it applies whole).
    #[serde(skip_serializing_if = "is_zero")]
    pub retried: u64,
    /// The first mismatches, in trace order.
    pub mismatches: Vec<RssMismatch>,
    /// `rss_stat` events compared after events were lost ([`Lowerer::mark_uncertain`]), counted here instead of in
    /// `total`, `matched` and `by_member`: the model may miss what the lost events did.
    #[serde(skip_serializing_if = "is_zero")]
    pub uncertain_total: u64,
    /// Of `uncertain_total`, those that matched.
    #[serde(skip_serializing_if = "is_zero")]
    pub uncertain_matched: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Counts of what the lowering did that is not a divergence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoweringStats {
    /// Model events applied.
    pub events: u64,
    /// Anonymous VMAs added for faults in mappings made before the trace began.
    pub pre_trace_vmas: u64,
    /// Batch drains the model did because the kernel freed a page that only a per-CPU batch still held.
    pub implicit_drains: u64,
    /// Records the lowering does not use (raw events, events of untraced tasks, duplicates).
    pub ignored: u64,
}

/// The byte ranges of the new stack that exec's three copies wrote, in order, each through one `get_arg_page()`
/// per page it spans (`copy_strings()` keeps the page it is on across strings): `copy_string_kernel(filename)`
/// just below the top (`bprm->p` starts at the stack's end minus a pointer), then the environment strings, then
/// the argument strings (fs/exec.c `do_execveat_common()`). Empty without `arg_end`, which older recordings lack.
///
/// Only ranges inside `arg_start..stack_end` are kept: a marker whose `arg_end` or `env_end` lies elsewhere is damage.
fn copy_strings_calls(s: &ExecStack, stack_end: u64) -> Vec<(u64, u64)> {
    let Some(arg_end) = s.arg_end else { return Vec::new() };
    let top = stack_end.saturating_sub(8);
    [(s.env_end, top), (arg_end, s.env_end), (s.arg_start, arg_end)]
        .into_iter()
        .filter(|&(lo, hi)| lo < hi && lo >= s.arg_start && hi <= stack_end)
        .collect()
}

/// The window a read fault on a file mapping mapped, `vma` being the VMA of the fault: what
/// `mm_filemap_map_pages` reports, placed through the VMA's linear page index; the faulting page alone when no
/// window was reported (no page of the window was cached, or a mapping without `map_pages` such as the vDSO).
/// `None` for other faults.
fn fault_window(vma: &mmdb_model::mm::Vma, f: &PendingFault) -> Option<(u64, u64)> {
    if vma.file.is_none() || f.access == Access::Write {
        return None;
    }
    let page = f.addr & !(PAGE_SIZE - 1);
    match &f.file {
        // At most a PMD's worth: a longer window is damage (fault-around maps within one page table).
        Some((_, first, last)) if last >= first && last - first < HPAGE_PMD_NR => {
            let start = i128::from(vma.start) + (i128::from(*first) - i128::from(vma.pgoff)) * i128::from(PAGE_SIZE);
            let start = u64::try_from(start).ok()?;
            Some((start, last - first + 1))
        }
        _ => Some((page, 1)),
    }
}

/// The most exec copies onto the new stack: the strings and their pointers may take 3/4 of `_STK_LIM` (fs/exec.c
/// `bprm_stack_limits()`).
const MAX_ARG_STRINGS: u64 = 6 << 20;

/// A task inside direct or memcg reclaim.
#[derive(Debug, Default)]
struct InReclaim {
    /// The pfns the kernel freed so far.
    freed: Vec<u64>,
    /// The `rss_stat`s written so far (try_to_unmap_one() steps the counters of the mms it unmaps from).
    rss: Vec<HeldRss>,
}

/// A syscall entered whose model operation waits for the task's next record.
#[derive(Debug)]
struct DeferredSys {
    op: Op,
    cpu: u32,
    ts_ns: u64,
    line: u32,
    syscall: Syscall,
    /// For an unmap applied piece by piece: where the part not applied yet starts (0: nothing applied).
    done: u64,
    /// The first error a piece returned, else 0.
    ret: i64,
    /// The unmap's mmu_gather: a piece ends where `zap_pte_range()` finds it full.
    gather: MmuGather,
    /// The last piece ended on a full gather: the kernel is freeing what it gathered (`tlb_flush_mmu()`), and
    /// those frees are not the end of the zap.
    flushing: bool,
    /// The kernel's step at the last piece was cut short by `need_resched()` inside a page table the model applied
    /// whole: the step that resumes it (`goto retry`) finishes that table, and the model applies nothing for it.
    resched_rest: bool,
    /// The members the last piece moved (bit per `rss_stat` member) and the member of the last `rss_stat`:
    /// `add_mm_rss_vec()` writes one event per member that moved, in member order, so an `rss_stat` of a
    /// higher member the piece moved belongs to the same step.
    step_members: u8,
    last_member: Option<usize>,
    /// With `resched_rest`: the model's counters before the table, the low end of the partial step's range.
    partial_before: Option<[i64; 4]>,
}

/// An `rss_stat` at which a deferred unmap takes its next step: the member it reports, and whether
/// `need_resched()` was true when it fired ([`TraceLine::need_resched`]).
#[derive(Clone, Copy, Debug)]
struct RssStep {
    member: usize,
    need_resched: bool,
}

impl DeferredSys {
    fn op_addr(&self) -> u64 {
        match self.op {
            Op::Munmap { addr, .. } | Op::Madvise { addr, .. } | Op::Mlock { addr, .. } => addr,
            _ => 0,
        }
    }
}

/// Whether `addr` is page aligned (an unaligned munmap or madvise fails with EINVAL as a whole).
fn addr_aligned(addr: u64) -> bool {
    addr.is_multiple_of(PAGE_SIZE)
}

/// How many PMDs without page tables an unmap applied piece by piece steps over one at a time; a longer run of
/// them is one piece.
const EMPTY_PMDS_IN_ONE_PIECE: u64 = 64;

/// The memcg the lowering puts the recorded program in.
const RECORDED_MEMCG: u32 = 1;

/// How many mismatches and divergences are kept in full.
const KEEP: usize = 50;

/// A fault waiting for the allocations that follow it.
#[derive(Debug)]
struct PendingFault {
    /// A per-CPU batch moved before the fault allocated anything (`wp_can_reuse_anon_folio()`'s drain).
    drained: bool,
    addr: u64,
    access: Access,
    /// A user-mode fault (`page_fault_user`), which a pending signal ends before its retry.
    user: bool,
    line: u32,
    cpu: u32,
    ts_ns: u64,
    /// User pages the kernel allocated for it: (pfn, order).
    allocs: Vec<(u64, u32)>,
    /// The file behind the fault, when `mm_filemap_map_pages` or `mm_filemap_fault` says: (name, first page
    /// index, last page index) of the window the kernel mapped or read.
    file: Option<(String, u64, u64)>,
    /// `rss_stat`s that fired inside the fault (before its last record): compared once the fault is applied.
    rss: Vec<HeldRss>,
    /// How many of `rss` came before `mm_filemap_fault` when `mm_filemap_map_pages` came first: fault-around found
    /// the faulting page missing from the page cache, and its counter step (written even when it mapped nothing)
    /// does not count the page `filemap_fault()` then reads in.
    rss_before_miss: Option<usize>,
    /// The fault read its page in: the page cache grew after its `mm_filemap_fault`. (A `VM_FAULT_RETRY` then
    /// frees a copy-on-write fault's copy and page table, and the fault starts over without a new `page_fault`
    /// record: the copy's free is one of the fault's allocations given back, below.)
    read: bool,
    /// A copy-on-write fault of a private file mapping: `do_cow_fault()` allocated the copy before
    /// `filemap_fault()` (`mm_filemap_fault` came after a user-page allocation).
    cow: bool,
    /// The page index `filemap_fault()` was called for (`mm_filemap_fault`): the page cache grows after it
    /// when the page was not cached.
    miss_index: Option<u64>,
    /// Page-cache additions of the read-in, held back when fault-around came before the miss: the window was
    /// mapped with the page cache as it was then.
    late_adds: Vec<TraceLine>,
    /// Fault-around ran again after the miss: the retry (`VM_FAULT_RETRY`) mapped the window read in.
    around_after_miss: bool,
    /// The read-in added the faulting page itself: it was missing (`do_sync_mmap_readahead()`). Without it, the
    /// page was cached and carried `PG_readahead`, and the read-in is the asynchronous readahead it started.
    read_own: bool,
    /// The first folio the read-in added: (file, first page index, one past its last).
    first_read: Option<(String, u64, u64)>,
    /// The folio the read-in added where a read-around from the faulting page puts its `PG_readahead` mark
    /// (`do_sync_mmap_readahead()`: `ra_pages` from the device's `mmdb-bdi` line): (file, first index, one past).
    around_mark: Option<(String, u64, u64)>,
}

/// Why an `rss_stat` is compared as a range (between the model's counters before and after an operation it
/// applied whole) rather than as one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartialStep {
    /// An unmap step `need_resched()` cut short inside a page table.
    Resched,
    /// A fault-around step before the fault's retry, which mapped what the first pass skipped: pages still
    /// under a readahead's I/O, or the folio whose `PG_readahead` the fault cleared.
    Retried,
}

/// An `rss_stat` held back to be compared later: its record, `mm_id`, `curr`, member and size.
type HeldRss = (TraceLine, u32, bool, RssMember, i64);

/// The vectors of a completed fault, emptied: its allocations and its held `rss_stat`s.
type SpareFault = (Vec<(u64, u32)>, Vec<HeldRss>);

/// How many emptied fault vectors are kept for reuse.
const SPARE_FAULTS: usize = 8;

/// What [`Lowerer::on_step`] calls: the number of events applied so far, and the model after them.
type StepFn = dyn FnMut(usize, &Model);

/// A [`StepFn`], boxed.
struct StepHook(Box<StepFn>);

impl std::fmt::Debug for StepHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepHook")
    }
}

/// The lowering's state.
#[derive(Debug)]
pub struct Lowerer {
    model: Model,
    recorded: Option<Pid>,
    /// Tasks the model knows.
    alive: FxHashSet<Pid>,
    /// Each task's thread group.
    tgid: FxHashMap<Pid, Pid>,
    /// A task that has an entry in `tgid` (entries are never removed): records come in runs of one task, and
    /// this spares each record of a run the lookup.
    tgid_known: Option<Pid>,
    pending_sys: FxHashMap<Pid, SysEnter>,
    /// Return values the model gave for syscalls applied at entry, to compare at exit.
    model_ret: FxHashMap<Pid, (Syscall, i64)>,
    /// Syscalls that zap or populate (munmap, madvise, mlock) entered but not yet applied: each is applied at
    /// its task's next record but an allocation (its first `rss_stat` or page free inside the syscall, or its
    /// exit), so that the
    /// counter steps of threads doing this at the same time on two CPUs happen in the trace's order.
    deferred_sys: FxHashMap<Pid, DeferredSys>,
    /// Set by [`Lowerer::apply_deferred_sys`] for the `rss_stat` at hand when it is a step `need_resched()` cut
    /// short: the task and the model's counters before the table, the range's other end.
    partial_step: Option<(Pid, [i64; 4], PartialStep)>,
    pending_fault: FxHashMap<Pid, PendingFault>,
    /// The emptied vectors of completed faults, reused by the next ones (a fault per few records would otherwise
    /// allocate and free two).
    spare: Vec<SpareFault>,
    clone_flags: FxHashMap<Pid, u64>,
    /// The kernel's break per thread group, learnt from `brk` returns.
    brk: FxHashMap<Pid, u64>,
    /// `rss_stat` `mm_id` hash → a task of that mm.
    mm_ids: FxHashMap<u32, Pid>,
    /// The `mm_id` each task's mm has now, the reverse of `mm_ids`: an mm_struct freed (by exec or exit) may come
    /// back from the slab under the same hashed pointer for the next fork's child ([`Lowerer::mm_owner`]).
    mm_id_of: FxHashMap<Pid, u32>,
    /// The recorded task's `execve` in flight.
    /// The execs in flight: the recorded task's first, and any traced task's (a child of `fork()` or `vfork()`
    /// executing another program).
    execs: Vec<ExecInFlight>,
    /// `CLONE_*` flags by new task, from `task_newtask` (which every clone, clone3, fork and vfork fires).
    newtask_flags: FxHashMap<Pid, u64>,
    /// Ranges exec mapped with `VM_PFNMAP` (`[vvar]`, `[vvar_vclock]`): their faults map no page.
    pfnmap: Vec<(u64, u64)>,
    /// `rss_stat`s of a not-yet-known mm reported while a traced task is inside clone/fork: the child's counters
    /// during `copy_page_range`, compared once the fork is applied.
    fork_rss: FxHashMap<Pid, Vec<(TraceLine, u32, RssMember, i64)>>,
    /// Tasks inside direct or memcg reclaim.
    in_reclaim: FxHashMap<Pid, InReclaim>,
    /// The page cache the trace described, by file ([`file_name`]): the page indexes known not to be cached. A
    /// file is here once an `mmdb-pagecache` marker or a deletion from its page cache was seen; the model gets its
    /// holes before a fault on it ([`Lowerer::sync_page_cache`]).
    page_cache: FxHashMap<String, PageRanges>,
    /// Cached pages the markers showed carrying `PG_readahead` (`readahead=`), by file, not yet given to the model:
    /// it gets them with the file's holes, and from then on keeps them itself (a fault on the page clears its mark).
    readahead_marks: FxHashMap<String, PageRanges>,
    /// A `read()` reading a file from its first page, by task: the file, one past the last page its synchronous
    /// readahead added so far, and whether every folio was a single page ([`Lowerer::read_from_start`]).
    reads_from_start: FxHashMap<Pid, (String, u64, bool)>,
    /// Each block device's readahead window in pages (`bdi->ra_pages`, from `mmdb-bdi`), by major and minor.
    ra_pages: FxHashMap<(u32, u32), u64>,
    /// Page frames and kpageflags of cached pages, by file, then page index, not yet given to the model: those
    /// measured (`mmdb-pagecache-page`), and those the trace shows being added to a file it described. The model
    /// gets them with the file's holes, for the pages of a fault's window (`Op::PageCacheFrame`).
    page_frames: FxHashMap<String, std::collections::BTreeMap<u64, (u64, u64)>>,
    /// Replaying an exec's held records ([`Lowerer::finish_exec`]): they all came before the exec stop, where the
    /// `mmdb-pagecache` lines just read were measured, so their page-cache additions do not take away the marks
    /// and frames measured there (the exec's own readahead set those marks).
    replaying_exec: bool,
    /// The line of the record being fed, for the log.
    cur_line: u32,
    /// Every model event applied so far with the source line that caused it, when [`Lowerer::keep_log`] asked
    /// for it: re-applying them to a fresh model reproduces the lowering's model exactly (the REPL's time travel
    /// rests on this).
    log: Option<Vec<(u32, Event)>>,
    /// Called after each event the lowering applies, with the number applied so far and the model then (the REPL
    /// takes its time-travel checkpoints so, instead of replaying the log a second time).
    on_step: Option<StepHook>,
    /// The compared `rss_stat`s, kept with the log.
    rss_log: Vec<RssSample>,
    pub divergences: Vec<Divergence>,
    pub divergence_count: u64,
    /// The line of the first lost-events notice once the lowering is past it: from there on its findings are
    /// uncertain.
    pub uncertain_from: Option<u32>,
    /// Of `divergence_count`, those found after events were lost.
    pub uncertain_divergences: u64,
    pub rss: RssCheck,
    pub stats: LoweringStats,
}

impl Lowerer {
    /// A lowering into a fresh model.
    pub fn new(model: Model) -> Lowerer {
        Lowerer {
            model,
            recorded: None,
            alive: FxHashSet::default(),
            tgid: FxHashMap::default(),
            tgid_known: None,
            pending_sys: FxHashMap::default(),
            model_ret: FxHashMap::default(),
            deferred_sys: FxHashMap::default(),
            partial_step: None,
            pending_fault: FxHashMap::default(),
            spare: Vec::new(),
            clone_flags: FxHashMap::default(),
            newtask_flags: FxHashMap::default(),
            brk: FxHashMap::default(),
            mm_ids: FxHashMap::default(),
            mm_id_of: FxHashMap::default(),
            in_reclaim: FxHashMap::default(),
            page_cache: FxHashMap::default(),
            readahead_marks: FxHashMap::default(),
            ra_pages: FxHashMap::default(),
            reads_from_start: FxHashMap::default(),
            page_frames: FxHashMap::default(),
            replaying_exec: false,
            execs: Vec::new(),
            pfnmap: Vec::new(),
            fork_rss: FxHashMap::default(),
            cur_line: 0,
            log: None,
            on_step: None,
            rss_log: Vec::new(),
            divergences: Vec::new(),
            divergence_count: 0,
            uncertain_from: None,
            uncertain_divergences: 0,
            rss: RssCheck::default(),
            stats: LoweringStats::default(),
        }
    }

    /// Learns every task's thread group from the trace's TGID column (ftrace with `record-tgid`, perf's
    /// `pid/tid`) before lowering: `clone3` hides its flags, and a thread shows its group only in its own lines,
    /// after the `sched_process_fork` that created it.
    pub fn learn_tgids(&mut self, lines: &[TraceLine]) {
        for l in lines {
            if let Some(t) = l.tgid.filter(|t| *t != 0) {
                self.learn_tgid(l.pid, t);
            }
        }
    }

    /// Records that `pid` is in thread group `tgid`, unless its group is known already.
    fn learn_tgid(&mut self, pid: Pid, tgid: Pid) {
        if self.tgid_known != Some(pid) {
            self.tgid.entry(pid).or_insert(tgid);
            self.tgid_known = Some(pid);
        }
    }

    /// Names the recorded task when the `mmdb-record` marker comes from a side file (perf recordings).
    pub fn set_recorded(&mut self, pid: Pid) {
        self.recorded = Some(pid);
    }

    /// Calls `f` with the number of events applied so far and the model after them (the model a fresh replay of
    /// that many events of the log reaches): at once, then after each event the lowering applies.
    pub fn on_step(&mut self, mut f: impl FnMut(usize, &Model) + 'static) {
        f(self.stats.events as usize, &self.model);
        self.on_step = Some(StepHook(Box::new(f)));
    }

    /// Keeps a log of every model event the lowering applies, with its source line (see [`Lowerer::take_log`]).
    pub fn keep_log(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    /// Records per-page history in the model from the next event on ([`Model::record_history`]): the REPL's
    /// `history` reads it. Recording does not change what the lowering decides.
    pub fn record_history(&mut self) {
        self.model.record_history(true);
    }

    /// The applied events with their source lines, in order; empty unless [`Lowerer::keep_log`] was called.
    pub fn take_log(&mut self) -> Vec<(u32, Event)> {
        self.log.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Every `rss_stat` compared while the log was kept, in order, placed by log position.
    pub fn take_rss_log(&mut self) -> Vec<RssSample> {
        std::mem::take(&mut self.rss_log)
    }

    /// The model, as the lowering has left it.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Completes every fault still collecting its records: a checkpoint is taken while every traced task is
    /// stopped, so the faults they were in are over (the task's next record would otherwise end each one). But a
    /// user fault that was reading its page in when the checkpoint's SIGSTOP came did not retry: with a signal
    /// pending, `fault_signal_pending()` sends the task back to user space, where it stops, and the access faults
    /// again after the checkpoint (a new `page_fault_user`). Such a fault mapped nothing: only its read-in stays,
    /// and the step of a fault-around before the miss that mapped nothing (`add_mm_counter()` of 0 pages). So does
    /// a fault that was waiting for a page another read had in flight (`filemap_fault()` came, no read of its own).
    pub fn flush_pending_faults(&mut self) {
        let mut pids: Vec<Pid> = self.pending_fault.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            let file_pages = self.model.rss(pid).map(|r| r.file * PAGE_SIZE as i64);
            let abandoned = self.pending_fault.get(&pid).is_some_and(|f| {
                let idle_around = f.rss.len() <= f.rss_before_miss.unwrap_or(0)
                    && f.rss.iter().all(|r| r.3 == RssMember::FilePages && Some(r.4) == file_pages);
                (f.read || f.miss_index.is_some())
                    && idle_around
                    && !f.around_after_miss
                    && f.user
                    && f.access != Access::Write
            });
            match abandoned.then(|| self.pending_fault.remove(&pid)).flatten() {
                Some(f) => {
                    for (l, mm_id, curr, member, size) in &f.rss {
                        self.rss_stat_ahead(l, *mm_id, *curr, *member, *size, 0);
                    }
                    self.late_page_cache(&f);
                    self.recycle(f);
                }
                None => self.flush_fault(pid),
            }
        }
        let mut pids: Vec<Pid> = self.deferred_sys.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            self.apply_deferred_sys(pid, None);
        }
    }

    /// Applies the syscall `pid` entered and [`Lowerer::sys_enter`] deferred, if any: all of it, or, at an
    /// `rss_stat` (`step`), only as much as the kernel had zapped when it wrote that event.
    ///
    /// `zap_pte_range()` adds its counts to the mm's counters once per page table (`add_mm_rss_vec()`), and
    /// `zap_huge_pmd()` once per huge PMD, so an unmap or MADV_DONTNEED spanning several page tables writes one
    /// `rss_stat` per table that held pages; and once more inside a table where its mmu_gather filled up
    /// (`force_break`, every 9678 pages: [`mmdb_model::tlb`]). Applied piece by piece, one PMD's worth at a time
    /// or up to the page that fills the gather, until the model's counters move, the model takes the same steps.
    ///
    /// `zap_pte_range()` also stops where `need_resched()` becomes true, which no record predicts; the trace marks
    /// the `rss_stat`s written then ([`TraceLine::need_resched`]). The model applies the whole table at such a
    /// step, which is compared as a range (between the model's counters before and after the table), and nothing
    /// at the step that resumes the table.
    fn apply_deferred_sys(&mut self, pid: Pid, step: Option<RssStep>) {
        self.partial_step = None;
        let Some(mut d) = self.deferred_sys.remove(&pid) else { return };
        let at_rss = step.is_some();
        if let Some(st) = step {
            // Another member's event of the step the last piece took.
            let same_step = d.last_member.is_some_and(|m| st.member > m) && d.step_members & (1 << st.member) != 0;
            d.last_member = Some(st.member);
            let resumed = d.resched_rest && !same_step;
            if resumed && !st.need_resched {
                d.resched_rest = false;
            }
            if same_step || resumed {
                if d.resched_rest {
                    self.partial_step = d.partial_before.map(|before| (pid, before, PartialStep::Resched));
                }
                self.deferred_sys.insert(pid, d);
                return;
            }
        }
        let fed = std::mem::replace(&mut self.cur_line, d.line);
        let range = match d.op {
            Op::Munmap { addr, len } => Some((addr, addr.saturating_add(page_align(len)))),
            Op::Madvise { addr, len, advice } if advice == MADV_DONTNEED => {
                Some((addr, addr.saturating_add(page_align(len))))
            }
            _ => None,
        };
        let (Some((start, end)), true) = (range, addr_aligned(d.op_addr())) else {
            let ret = self.apply(pid, d.cpu, d.ts_ns, d.op).ret.unwrap_or(0);
            self.model_ret.insert(pid, (d.syscall, ret));
            self.cur_line = fed;
            return;
        };
        let mut at = start.max(d.done);
        let before = self.model.rss(pid);
        let mut in_table = false;
        while at < end {
            let mut next =
                if at_rss { ((at / HPAGE_PMD_SIZE) + 1).saturating_mul(HPAGE_PMD_SIZE).min(end) } else { end };
            if at_rss {
                // Across a long run of PMDs without page tables no counter can move: one piece covers it, so
                // that an unmap of a huge empty range (a damaged length, a reservation) takes steps in proportion
                // to the page tables, not to the range.
                let populated = self.next_page_table(pid, at).unwrap_or(end).min(end);
                if populated.saturating_sub(next) > EMPTY_PMDS_IN_ONE_PIECE * HPAGE_PMD_SIZE {
                    next = populated;
                }
                // unmap_vmas() zaps one VMA after the other: a table two VMAs share gets a zap_pte_range(), and a
                // counter step, for each.
                if let Some(vma) = self.model.vma_at(pid, at) {
                    next = next.min(vma.end);
                }
                let mm = self.model.task(pid).and_then(|t| t.mm);
                let full = mm.and_then(|mm| self.model.zap_gather(mm, &mut d.gather, at, next));
                d.flushing = full.is_some();
                next = full.unwrap_or(next);
                in_table = self.next_page_table(pid, at).is_some_and(|p| p <= at)
                    && mm.and_then(|mm| self.model.mm_struct(mm)).is_some_and(|m| m.huge_pmd(at).is_none());
            }
            let piece = match d.op {
                Op::Munmap { .. } => Op::Munmap { addr: at, len: next - at },
                Op::Madvise { advice, .. } => Op::Madvise { addr: at, len: next - at, advice },
                _ => unreachable!("only munmap and madvise are split"),
            };
            let ret = self.apply(pid, d.cpu, d.ts_ns, piece).ret.unwrap_or(0);
            if d.ret == 0 {
                d.ret = ret;
            }
            at = next;
            if at_rss && self.model.rss(pid) != before {
                break;
            }
        }
        if let (Some(st), Some(b), Some(a)) = (step, before, self.model.rss(pid)) {
            let (b, a) = ([b.file, b.anon, b.swapents, b.shmem], [a.file, a.anon, a.swapents, a.shmem]);
            d.step_members = (0..4).filter(|&i| a[i] != b[i]).fold(0, |m, i| m | 1 << i);
            // need_resched() stopped the kernel somewhere in the table the model applied whole.
            d.resched_rest = st.need_resched && in_table && a != b;
            d.partial_before = d.resched_rest.then_some(b);
            if d.resched_rest {
                self.partial_step = Some((pid, b, PartialStep::Resched));
            }
        }
        d.done = at;
        if at < end {
            self.deferred_sys.insert(pid, d);
        } else {
            self.model_ret.insert(pid, (d.syscall, d.ret));
        }
        self.cur_line = fed;
    }

    /// The start of the first PMD at or after the one holding `addr` that has a page table (or a huge page) in
    /// `pid`'s mm, if any.
    fn next_page_table(&self, pid: Pid, addr: u64) -> Option<u64> {
        let mm = self.model.mm_struct(self.model.task(pid)?.mm?)?;
        let (first, _) = mmdb_model::mm::pmd_index(addr);
        mm.pmds.range(first..).next().map(|(&pmd, _)| pmd.saturating_mul(HPAGE_PMD_SIZE))
    }

    /// Finishes pending work (faults whose allocations were the last records) and returns the model.
    pub fn finish(mut self) -> (Model, Lowerer) {
        // An exec whose new image did nothing more before the trace ended.
        while let Some(i) = self.execs.iter().position(|x| x.exec.is_some()) {
            self.finish_exec(i, None);
        }
        let pids: Vec<Pid> = self.deferred_sys.keys().copied().collect();
        for pid in pids {
            self.apply_deferred_sys(pid, None);
        }
        let pids: Vec<Pid> = self.pending_fault.keys().copied().collect();
        for pid in pids {
            self.flush_fault(pid);
        }
        let model = std::mem::replace(&mut self.model, Model::new(Default::default()));
        // Whoever observed the steps gets back what it lent the hook.
        self.on_step = None;
        (model, self)
    }

    /// Events were lost at `line` (`CPU:N [LOST M EVENTS]`) and the lowering is past it: what it compares from
    /// here on may be wrong because of what it did not see, so divergences say so and `rss_stat`s are counted apart.
    pub fn mark_uncertain(&mut self, line: u32) {
        self.uncertain_from.get_or_insert(line);
    }

    /// Counts a divergence, and keeps it (its texts made only then) while fewer than [`KEEP`] are kept.
    fn diverge(
        &mut self,
        line: u32,
        kind: &'static str,
        predicted: impl FnOnce() -> String,
        actual: impl FnOnce() -> String,
        cause: &str,
    ) {
        self.divergence_count += 1;
        if self.uncertain_from.is_some() {
            self.uncertain_divergences += 1;
        }
        if self.divergences.len() < KEEP {
            let cause = match self.uncertain_from {
                Some(lost) => format!("events were lost at line {lost}, before it; else: {cause}"),
                None => cause.to_string(),
            };
            self.divergences.push(Divergence { line, kind, predicted: predicted(), actual: actual(), cause });
        }
    }

    fn apply(&mut self, pid: Pid, cpu: u32, ts_ns: u64, op: Op) -> mmdb_model::Outcome {
        self.stats.events += 1;
        let ev = Event { comm: String::new(), pid, cpu, ts_ns, op };
        let out = self.model.apply(&ev);
        if let Some(log) = &mut self.log {
            log.push((self.cur_line, ev));
        }
        if let Some(hook) = &mut self.on_step {
            (hook.0)(self.stats.events as usize, &self.model);
        }
        out
    }

    /// Whether the model has `pfn` mapped by `pid`'s mm.
    fn mapped_by_task(&self, pfn: Option<u64>, pid: Pid) -> bool {
        let (Some(pfn), Some(mm)) = (pfn, self.model.task(pid).and_then(|t| t.mm)) else { return false };
        self.model.folio(pfn).is_some_and(|f| f.rmap.iter().any(|r| r.mm == mm))
    }

    /// Completes the pending faults of other tasks on `l`'s CPU: a task's fault is over once its CPU runs someone
    /// else (the kernel finished it before switching). Done before anything else looks at `l`, so that a record
    /// held back with an exec still ends the faults before it. A sibling thread on another CPU may act between a
    /// fault and its allocation record, so that alone does not complete it; its rss_stat waits for the fault
    /// instead. Nor does a fault that reads its page in (`mm_filemap_fault` came): the task sleeps on the I/O
    /// inside the fault (`filemap_fault()` → `lock_folio_maybe_drop_mmap()`), others run on its CPU, and the fault
    /// goes on (its retry's fault-around) when the read completes. A record replayed late (held with an exec) ends
    /// only the faults that began before it.
    fn end_faults_switched_out(&mut self, l: &TraceLine) {
        if self.pending_fault.is_empty() {
            return;
        }
        let done: Vec<Pid> = self
            .pending_fault
            .iter()
            .filter(|(p, f)| **p != l.pid && f.cpu == l.cpu && f.miss_index.is_none() && f.line < l.line)
            .map(|(p, _)| *p)
            .collect();
        for p in done {
            self.flush_fault(p);
        }
    }

    /// Feeds one record line.
    pub fn feed(&mut self, l: &TraceLine) {
        let pid = l.pid;
        self.cur_line = l.line;
        self.end_faults_switched_out(l);
        if !self.execs.is_empty() {
            let lru = matches!(l.record, Record::MmLruInsertion(_) | Record::MmLruActivate(_));
            let frees = matches!(l.record, Record::MmPageFree(_) | Record::MmPageFreeBatched(_));
            if let Some(i) = self.execs.iter().position(|x| x.pid == pid && l.line > x.from_line) {
                match &l.record {
                    _ if self.execs[i].exec.is_some() => self.finish_exec(i, None),
                    Record::SchedProcessExec(e) => {
                        self.execs[i].exec = Some((l.clone(), e.filename.clone()));
                        // exec_mmap() dropped the old mm: its mm_struct may be the next fork's.
                        self.mm_id_of.remove(&pid);
                        self.begin_exec(i);
                        return;
                    }
                    // The old image's teardown frees its pages, or steps its counters down (a page it shared with its
                    // parent is not freed: a child's teardown frees nothing): exec_mmap() has run.
                    Record::MmPageFree(f) if !l.in_irq && self.exec_teardown_free(i, l, f.pfn) => return,
                    Record::RssStat(r)
                        if !r.curr
                            && !self.execs[i].begun
                            && self.mm_id_of.get(&pid) == Some(&r.mm_id)
                            && self.may_tear_down(i) =>
                    {
                        self.begin_teardown(i, l);
                        self.execs[i].held.push(l.clone());
                        return;
                    }
                    // The batch moves and frees of pages that are neither the new image's (allocated since
                    // `sys_enter_execve`) nor the old image's (the drain in `exit_mmap()` moves other tasks'
                    // folios too, and frees those whose last reference the batch held) happen now: held to the
                    // exec stop, they would find the page frames reused.
                    Record::MmLruInsertion(mmdb_trace::records::MmLruInsertion { pfn, .. })
                    | Record::MmLruActivate(mmdb_trace::records::MmLruActivate { pfn, .. })
                    | Record::MmPageFree(mmdb_trace::records::MmPageFree { pfn, .. })
                        if !self.exec_window_page(i, *pfn) => {}
                    // A failed execve (a PATH entry that is not there): its records are the old image's after all.
                    Record::SysExit(e) if e.syscall == Syscall::Execve && e.ret < 0 => {
                        let x = self.execs.swap_remove(i);
                        for h in &x.held {
                            self.feed(h);
                        }
                    }
                    _ => {
                        let x = &mut self.execs[i];
                        if let Record::MmPageAlloc(MmPageAllocRec { pfn: Some(pfn), .. }) = &l.record {
                            x.allocated.insert(*pfn);
                        }
                        x.held.push(l.clone());
                        return;
                    }
                }
            } else if let Some(i) = self.execs.iter().position(|x| {
                x.cpu == l.cpu
                    && l.line > x.from_line
                    && (lru || (frees && self.mapped_by_task(freed_pfn(&l.record), x.pid)))
            }) {
                // Another task draining a per-CPU batch during the exec may move the new image's pages (the
                // arguments copy_strings() put in this CPU's batch), or free the old image's (exec_mmap()'s
                // teardown left them in the batch with its last reference, and the model tears the old image
                // down only at `sched_process_exec`): keep it in order with the held records. A free of any
                // other page is not the exec's: another exec's replayed records free their own old image, and
                // holding those until this exec ends would free them after their new image reused the pfns.
                self.execs[i].held.push(l.clone());
                if let Some(f) = self.pending_fault.get_mut(&pid).filter(|f| lru && f.allocs.is_empty()) {
                    // The batch move is this task's fault's drain all the same (see `drained`).
                    f.drained = true;
                }
                return;
            } else if let Record::TracingMarkWrite { buf } = &l.record {
                if buf.starts_with("mmdb-exec") || buf.starts_with("mmdb-pagecache") {
                    if let Ok(m) = parse_marker(buf) {
                        self.input_marker(&m);
                    }
                    return;
                }
            }
        }
        if let Some(t) = l.tgid {
            self.learn_tgid(pid, t);
        }
        // A read's readahead is over at the task's first record that is not one of its folios (allocated, added,
        // then put in a per-CPU batch).
        let reading_on = matches!(
            l.record,
            Record::MmPageAlloc(_)
                | Record::MmFilemapAddToPageCache(_)
                | Record::MmLruInsertion(_)
                | Record::MmLruActivate(_)
        );
        if !reading_on && !l.in_irq && !self.reads_from_start.is_empty() {
            self.end_read_from_start(pid);
        }
        // Not at an allocation: zap_page_range() allocates its mmu_gather batch before it zaps anything. Nor at
        // the frees of a full gather's flush: the zap goes on after them.
        let deferred = if self.deferred_sys.is_empty() || l.in_irq { None } else { self.deferred_sys.get_mut(&pid) };
        if let Some(d) = deferred {
            if d.flushing && matches!(l.record, Record::MmPageFree(_) | Record::MmPageFreeBatched(_)) {
                // The step before was the full gather's, whatever need_resched() said then.
                d.resched_rest = false;
            } else if !matches!(l.record, Record::SysEnter(_) | Record::MmPageAlloc(_)) {
                let step = match &l.record {
                    Record::RssStat(r) => Some(RssStep { member: r.member.index(), need_resched: l.need_resched }),
                    _ => None,
                };
                self.apply_deferred_sys(pid, step);
            }
        }
        // A file fault whose page is not cached (`filemap_fault()` came, then the page cache grows) reads it in:
        // the readahead's page-cache additions, the lru_add batches they fill and the pages it gives back are not
        // its end, and their pages are not its own, but for the faulting page's when the fault maps it (a copy-on-
        // write fault, `do_cow_fault()`, allocated its copy first). Nor, after a `VM_FAULT_RETRY` (the mmap lock
        // was dropped for the I/O), the copy and page table it frees before it starts over: the retry maps the
        // window, now cached, with `mm_filemap_map_pages`.
        let lru = matches!(l.record, Record::MmLruInsertion(_) | Record::MmLruActivate(_));
        let reading = !l.in_irq
            && matches!(
                l.record,
                Record::MmFilemapAddToPageCache(_)
                    | Record::MmLruInsertion(_)
                    | Record::MmLruActivate(_)
                    | Record::MmPageFree(_)
                    | Record::MmPageFreeBatched(_)
            )
            && self.pending_fault.get(&pid).is_some_and(|f| {
                // (A copy's own lru_add batch filling up is the end of the fault: folio_add_lru_vma().)
                let part = match &l.record {
                    Record::MmFilemapAddToPageCache(_) => true,
                    Record::MmLruInsertion(p) => f.read && !(f.cow && f.allocs.iter().any(|a| a.0 == p.pfn)),
                    Record::MmLruActivate(p) => f.read && !(f.cow && f.allocs.iter().any(|a| a.0 == p.pfn)),
                    // A copy-on-write fault's retry frees its page table too, also when the page it waited for
                    // was another task's read (`lock_folio_maybe_drop_mmap()`, then `VM_FAULT_RETRY`).
                    Record::MmPageFree(p) => (f.read || f.cow) && !f.allocs.iter().any(|a| a.0 == p.pfn),
                    Record::MmPageFreeBatched(_) => f.read || f.cow,
                    _ => false,
                };
                part && f.miss_index.is_some()
            });
        if let (Record::MmFilemapAddToPageCache(p), true) = (&l.record, reading) {
            let mut late = false;
            if let Some(f) = self.pending_fault.get_mut(&pid) {
                let own = !f.cow && f.miss_index.is_some_and(|i| p.index <= i && p.end().is_some_and(|e| i < e));
                match f.allocs.iter().position(|a| a.0 == p.pfn) {
                    // The faulting page's folio: the page the fault maps, first among its allocations.
                    Some(at) if own => {
                        let a = f.allocs.remove(at);
                        f.allocs.insert(0, a);
                    }
                    Some(at) => {
                        f.allocs.remove(at);
                    }
                    None => {}
                }
                if !f.read {
                    let name = file_name(p.s_dev.major, p.s_dev.minor, p.i_ino);
                    f.first_read = p.end().map(|end| (name, p.index, end));
                }
                f.read = true;
                f.read_own |= f.miss_index.is_some_and(|i| p.index <= i && p.end().is_some_and(|e| i < e));
                // mmap read-around: `ra_pages` pages from `ra_pages / 2` before the faulting page, the last
                // `ra_pages / 4` of them asynchronous, so the page starting those carries the mark.
                let ra = self.ra_pages.get(&(p.s_dev.major, p.s_dev.minor)).copied().filter(|&ra| ra > 0);
                if let (Some(ra), Some(i), Some(end)) = (ra, f.miss_index, p.end()) {
                    let mark = i.saturating_sub(ra / 2) + ra - ra / 4;
                    if (p.index..end).contains(&mark) {
                        f.around_mark = Some((file_name(p.s_dev.major, p.s_dev.minor, p.i_ino), p.index, end));
                    }
                }
                late = f.rss_before_miss.is_some() || own;
                if late {
                    f.late_adds.push(l.clone());
                }
                if own {
                    // The faulting page was not cached until now, even in a file the trace never described: the
                    // model must read it in (with the kernel's pfn), not find it.
                    if let Some(end) = p.end() {
                        let name = file_name(p.s_dev.major, p.s_dev.minor, p.i_ino);
                        self.page_cache.entry(name).or_default().insert(p.index, end);
                    }
                }
            }
            if !late {
                self.page_cache_record(l, p, true);
            }
            return;
        }
        // A fault collects the user-page allocations of its task until the task does something else. Reclaim in
        // the middle of a fault is the charge of its new page (mem_cgroup_charge() after the allocation): the
        // fault goes on after it.
        let reclaim = (!self.in_reclaim.is_empty() && self.in_reclaim.contains_key(&pid))
            || matches!(l.record, Record::MmVmscanMemcgReclaimBegin(_) | Record::MmVmscanDirectReclaimBegin(_));
        // So does a per-CPU batch move before the fault allocated anything: wp_can_reuse_anon_folio() drains this
        // CPU's batches before it decides between reuse and copy. (After the allocation, it is the new folio
        // filling a batch at the end of the fault, folio_add_lru_vma(): the fault is complete.)
        // The drain frees the folios whose last reference the batch held (`folios_put_refs()`): part of it too.
        let frees = matches!(l.record, Record::MmPageFree(_) | Record::MmPageFreeBatched(_));
        let drain = (lru || frees)
            && !l.in_irq
            && self.pending_fault.get_mut(&pid).is_some_and(|f| {
                let drain = f.allocs.is_empty() && (lru || (frees && f.drained));
                f.drained |= drain;
                drain
            });
        let batch_move = drain || reading;
        // An interrupt on the task's CPU (an RCU callback freeing pages) is not the task's doing either.
        if let Some(f) = self.pending_fault.get_mut(&pid).filter(|_| !reclaim && !batch_move && !l.in_irq) {
            let file = |dev: mmdb_trace::records::Dev, ino: u64| file_name(dev.major, dev.minor, ino);
            match &l.record {
                Record::MmPageAlloc(a) => {
                    if let (Some(pfn), true) = (a.pfn, a.migratetype == MIGRATE_MOVABLE) {
                        f.allocs.push((pfn, a.order));
                    }
                    return;
                }
                Record::MmFilemapMapPages(m) => {
                    f.file = Some((file(m.s_dev, m.i_ino), m.index, m.last_index));
                    f.around_after_miss |= f.miss_index.is_some();
                    return;
                }
                Record::MmFilemapFault(m) => {
                    f.cow |= f.access == Access::Write && !f.allocs.is_empty();
                    f.miss_index.get_or_insert(m.index);
                    if f.file.is_some() && f.rss_before_miss.is_none() {
                        f.rss_before_miss = Some(f.rss.len());
                    }
                    f.file.get_or_insert((file(m.s_dev, m.i_ino), m.index, m.index));
                    return;
                }
                // A page the fault allocated and gave back before using it (read-around allocating a page-cache
                // folio that it then did not add): not the fault's page, and the fault goes on.
                Record::MmPageFree(p) if f.allocs.iter().any(|a| a.0 == p.pfn) => {
                    f.allocs.retain(|a| a.0 != p.pfn);
                    self.stats.ignored += 1;
                    return;
                }
                // A free of a page that is no user page the model knows (a slab's, a page table's) is not the
                // task's next step: an interrupt's RCU callback freeing on its stack, which perf text, without
                // the irq-info column, cannot tell apart (ftrace's `in_irq` does). The fault goes on.
                Record::MmPageFree(p) if self.model.folio_head(p.pfn).is_none() => {
                    self.stats.ignored += 1;
                    return;
                }
                Record::RssStat(r) => {
                    f.rss.push((l.clone(), r.mm_id, r.curr, r.member, r.size));
                    // An anonymous fault is complete at its MM_ANONPAGES step: do_anonymous_page() and
                    // wp_page_copy() allocate, then count, then map. Applying it there keeps the order of the
                    // counter's steps when sibling threads fault on other CPUs at the same time. (A file fault
                    // waits: mm_filemap_map_pages, which gives its window, fires after add_mm_counter().)
                    let anon_done = r.member == RssMember::AnonPages && !f.allocs.is_empty() && f.file.is_none();
                    let addr = f.addr;
                    if anon_done && self.model.vma_at(pid, addr).is_some_and(|v| v.file.is_none()) {
                        self.flush_fault(pid);
                    }
                    return;
                }
                // A page the page cache took (file-system metadata the task read after its fault, another file's
                // readahead) is not the fault's: the fault is over, and without it.
                Record::MmFilemapAddToPageCache(p) => {
                    f.allocs.retain(|a| a.0 != p.pfn);
                    self.flush_fault(pid)
                }
                _ => self.flush_fault(pid),
            }
        }
        match &l.record {
            Record::TracingMarkWrite { buf } => {
                if let Some(rest) = buf.strip_prefix("mmdb-record pid=") {
                    self.recorded = rest.split_whitespace().next().and_then(|p| p.parse().ok());
                } else if buf.starts_with("mmdb-pagecache") || buf.starts_with("mmdb-bdi ") {
                    if let Ok(m) = parse_marker(buf) {
                        self.input_marker(&m);
                    }
                }
            }
            // Evidence of the page cache, for whichever task: remembered for the file's next fault (and counted
            // with the records not used, as no model event comes of them here).
            Record::MmFilemapAddToPageCache(p) => {
                self.page_cache_record(l, p, true);
                // (Not an exec's own reads: the page cache measured at its exec stop shows what they left.)
                if self.alive.contains(&pid) && !self.replaying_exec {
                    self.read_from_start(pid, p);
                }
            }
            Record::MmFilemapDeleteFromPageCache(p) => self.page_cache_record(l, p, false),
            Record::SchedProcessExec(e) => {
                let p = e.pid;
                if self.alive.contains(&p) {
                    // The new image's break is its own (the first `brk(0)` learns it).
                    self.brk.remove(self.tgid.get(&p).unwrap_or(&p));
                    self.apply(p, l.cpu, l.ts_ns, Op::Exec { filename: e.filename.clone() });
                } else if Some(p) == self.recorded || Some(e.old_pid) == self.recorded {
                    // No `sys_enter_execve` was seen (the trace began inside it): nothing was held back.
                    self.spawn_recorded(p, l, &e.filename);
                } else {
                    self.stats.ignored += 1;
                }
            }
            Record::SchedProcessFork(f) if self.alive.contains(&f.parent_pid) => {
                // The clone flags: task_newtask's, else the parent's clone() (vfork() is CLONE_VM | CLONE_VFORK),
                // else the TGID column tells a thread.
                let flags =
                    self.newtask_flags.remove(&f.child_pid).or_else(|| self.clone_flags.get(&f.parent_pid).copied());
                let (thread, vm) = match flags {
                    Some(flags) => (flags & CLONE_THREAD != 0, flags & CLONE_VM != 0),
                    None => {
                        let thread = self.tgid.get(&f.child_pid).is_some_and(|t| *t != f.child_pid);
                        (thread, thread)
                    }
                };
                let op = match (thread, vm) {
                    (false, true) => Op::Vfork { child: f.child_pid },
                    _ => Op::Fork { child: f.child_pid, thread },
                };
                self.apply(f.parent_pid, l.cpu, l.ts_ns, op);
                self.alive.insert(f.child_pid);
                self.fork_rss_compare(f.parent_pid, f.child_pid, vm);
                let parent_group = *self.tgid.get(&f.parent_pid).unwrap_or(&f.parent_pid);
                let group = if thread { parent_group } else { f.child_pid };
                self.tgid.entry(f.child_pid).or_insert(group);
                if let (false, Some(&brk)) = (vm, self.brk.get(&parent_group)) {
                    // `dup_mm()` copies the mm, its break included: the child's heap grows from the parent's.
                    self.brk.insert(f.child_pid, brk);
                }
            }
            Record::SchedProcessExit(e) if self.alive.contains(&e.pid) => {
                self.apply(e.pid, l.cpu, l.ts_ns, Op::Exit);
                self.alive.remove(&e.pid);
            }
            // An execve, the recorded task's first or any traced task's: hold its records back until the new image
            // begins (and its layout is known, when the recorder wrote it).
            Record::SysEnter(SysEnter::Execve { .. })
                if (Some(pid) == self.recorded || self.alive.contains(&pid))
                    && !self.execs.iter().any(|x| x.pid == pid) =>
            {
                self.execs.push(ExecInFlight {
                    pid,
                    cpu: l.cpu,
                    from_line: l.line,
                    held: Vec::new(),
                    allocated: FxHashSet::default(),
                    exec: None,
                    begun: false,
                    vmas: Vec::new(),
                });
            }
            Record::SysEnter(s) if self.alive.contains(&pid) => self.sys_enter(l, *s),
            Record::SysExit(x) if self.alive.contains(&pid) => self.sys_exit(l, x.syscall, x.ret),
            Record::PageFaultUser(mmdb_trace::records::PageFaultUser { address, error_code, .. })
            | Record::PageFaultKernel(mmdb_trace::records::PageFaultKernel { address, error_code, .. })
                if self.alive.contains(&pid) && *address < USER_END =>
            {
                let access = if error_code & 0x2 != 0 {
                    Access::Write
                } else if error_code & 0x10 != 0 {
                    Access::Exec
                } else {
                    Access::Read
                };
                let (allocs, rss) = self.spare.pop().unwrap_or_default();
                let user = matches!(l.record, Record::PageFaultUser(_));
                let pf = PendingFault {
                    drained: false,
                    user,
                    addr: *address,
                    access,
                    line: l.line,
                    cpu: l.cpu,
                    ts_ns: l.ts_ns,
                    allocs,
                    file: None,
                    rss,
                    rss_before_miss: None,
                    read: false,
                    cow: false,
                    miss_index: None,
                    late_adds: Vec::new(),
                    around_after_miss: false,
                    read_own: false,
                    first_read: None,
                    around_mark: None,
                };
                self.pending_fault.insert(pid, pf);
            }
            Record::TaskNewtask(t) if self.alive.contains(&pid) => {
                self.newtask_flags.insert(t.pid, t.clone_flags);
            }
            Record::MmPageFree(f) => match self.in_reclaim.get_mut(&pid) {
                Some(r) => r.freed.push(f.pfn),
                None => self.page_free(l, f.pfn),
            },
            Record::RssStat(r) if !self.in_reclaim.is_empty() && self.in_reclaim.contains_key(&pid) => {
                if let Some(x) = self.in_reclaim.get_mut(&pid) {
                    x.rss.push((l.clone(), r.mm_id, r.curr, r.member, r.size));
                }
            }
            Record::MmVmscanMemcgReclaimBegin(_) | Record::MmVmscanDirectReclaimBegin(_)
                if self.alive.contains(&pid) =>
            {
                // shrink_inactive_list() starts with lru_add_drain(): every batch of this CPU moves.
                self.apply(pid, l.cpu, l.ts_ns, Op::LruAddDrain);
                self.in_reclaim.insert(pid, InReclaim::default());
            }
            Record::MmVmscanMemcgReclaimEnd(_) | Record::MmVmscanDirectReclaimEnd(_) => self.reclaim_end(l),
            Record::MmLruInsertion(i) => self.lru_insertion(l, i.pfn),
            // `lru_activate()` fires it when an lru_activate batch moves: the same evidence for that batch.
            Record::MmLruActivate(a) => {
                if !self.drain_batches(l.pid, l.ts_ns, a.pfn, Some(BatchKind::LruActivate)) {
                    self.stats.ignored += 1;
                }
            }
            Record::RssStat(r) => {
                // While a thread of the same mm is inside a fault, the shared counter already includes that fault:
                // compare once the model has applied it.
                let group = self.tgid.get(&pid).copied().unwrap_or(pid);
                // A fork's copy (`curr=0` inside clone): an mm no live task has yet (only asked then: the lookup
                // is off the path of the usual `curr=1` event).
                let forking = !r.curr
                    && self.alive.contains(&pid)
                    && self.pending_sys.get(&pid).is_some_and(|s| {
                        matches!(s.syscall(), Syscall::Clone | Syscall::Clone3 | Syscall::Fork | Syscall::Vfork)
                    })
                    && self.mm_owner(r.mm_id).is_none();
                let sibling = self
                    .pending_fault
                    .iter_mut()
                    .find(|(p, _)| self.tgid.get(p).copied().unwrap_or(**p) == group)
                    .map(|(_, f)| f);
                match sibling {
                    _ if forking => self.fork_rss.entry(pid).or_default().push((l.clone(), r.mm_id, r.member, r.size)),
                    Some(f) => f.rss.push((l.clone(), r.mm_id, r.curr, r.member, r.size)),
                    None => self.rss_stat(l, r.mm_id, r.curr, r.member, r.size),
                }
            }
            _ => self.stats.ignored += 1,
        }
    }

    fn sys_enter(&mut self, l: &TraceLine, s: SysEnter) {
        let (pid, cpu, ts) = (l.pid, l.cpu, l.ts_ns);
        let now = |op| Some(op);
        let op = match s {
            SysEnter::Munmap { addr, len } => now(Op::Munmap { addr, len }),
            SysEnter::Mprotect { start, len, prot } => now(Op::Mprotect { addr: start, len, prot }),
            SysEnter::Madvise { start, len_in, behavior } => {
                now(Op::Madvise { addr: start, len: len_in, advice: behavior as i64 })
            }
            SysEnter::Mlock { start, len } | SysEnter::Mlock2 { start, len, .. } => now(Op::Mlock { addr: start, len }),
            SysEnter::Munlock { start, len } => now(Op::Munlock { addr: start, len }),
            SysEnter::Clone { clone_flags, .. } => {
                self.clone_flags.insert(pid, clone_flags);
                None
            }
            SysEnter::Vfork => {
                self.clone_flags.insert(pid, CLONE_VM | CLONE_VFORK);
                None
            }
            SysEnter::Fork | SysEnter::Clone3 { .. } => {
                self.clone_flags.remove(&pid);
                None
            }
            SysEnter::Brk { brk } => self.brk_shrink(pid, brk),
            _ => None,
        };
        match op {
            Some(op @ (Op::Munmap { .. } | Op::Madvise { .. } | Op::Mlock { .. })) => {
                let d = DeferredSys {
                    op,
                    cpu,
                    ts_ns: ts,
                    line: l.line,
                    syscall: s.syscall(),
                    done: 0,
                    ret: 0,
                    gather: MmuGather::default(),
                    flushing: false,
                    resched_rest: false,
                    step_members: 0,
                    last_member: None,
                    partial_before: None,
                };
                self.deferred_sys.insert(pid, d);
            }
            Some(op) => {
                let ret = self.apply(pid, cpu, ts, op).ret.unwrap_or(0);
                self.model_ret.insert(pid, (s.syscall(), ret));
            }
            None => {}
        }
        self.pending_sys.insert(pid, s);
    }

    fn sys_exit(&mut self, l: &TraceLine, syscall: Syscall, ret: i64) {
        let (pid, cpu, ts) = (l.pid, l.cpu, l.ts_ns);
        let Some(enter) = self.pending_sys.remove(&pid).filter(|e| e.syscall() == syscall) else {
            self.stats.ignored += 1;
            return;
        };
        if let Some((sc, model)) = self.model_ret.remove(&pid) {
            if sc == syscall && (model < 0) != (ret < 0) {
                let p = || format!("{} returns {model}", syscall.name());
                let a = || format!("the kernel returned {ret}");
                self.diverge(l.line, "syscall-ret", p, a, "the range held mappings the model did not know");
            }
            if let (SysEnter::Brk { .. }, true) = (enter, ret > 0) {
                // A shrinking brk, unmapped inside the syscall (`brk_shrink`): the break it left.
                self.brk.insert(*self.tgid.get(&pid).unwrap_or(&pid), ret as u64);
            }
            return;
        }
        let failed = (-4095..0).contains(&ret);
        match enter {
            SysEnter::Mmap { len, prot, flags, fd, off, .. } if !failed => {
                let anon = flags & MAP_ANONYMOUS != 0;
                let file = (!anon).then(|| FileRef { name: format!("fd{}", fd as i32), offset: off });
                let flags = (flags & !MAP_FIXED_NOREPLACE) | MAP_FIXED;
                let op = Op::Mmap { addr: Some(ret as u64), len, prot, flags, file };
                self.apply(pid, cpu, ts, op);
            }
            SysEnter::Mremap { addr, old_len, new_len, flags, .. } if !failed => {
                let op = if ret as u64 == addr {
                    Op::Mremap { addr, old_len, new_len, flags: flags & !MREMAP_FIXED, new_addr: None }
                } else {
                    let flags = flags | MREMAP_MAYMOVE | MREMAP_FIXED;
                    Op::Mremap { addr, old_len, new_len, flags, new_addr: Some(ret as u64) }
                };
                self.apply(pid, cpu, ts, op);
            }
            SysEnter::Brk { brk } if ret > 0 => {
                let group = *self.tgid.get(&pid).unwrap_or(&pid);
                let new = ret as u64;
                if let Some(old) = self.brk.insert(group, new) {
                    let (o, n) = (page_align(old), page_align(new));
                    let _ = brk;
                    if n > o {
                        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
                        let op =
                            Op::Mmap { addr: Some(o), len: n - o, prot: PROT_READ | PROT_WRITE, flags, file: None };
                        self.apply(pid, cpu, ts, op);
                    } else if n < o {
                        self.apply(pid, cpu, ts, Op::Munmap { addr: n, len: o - n });
                    }
                }
            }
            _ => {}
        }
    }

    /// `brk()` lowering the break: the kernel unmaps the heap's end inside the syscall (`do_vmi_align_munmap()` from
    /// `SYSCALL_DEFINE1(brk)`), so its `rss_stat`s and page frees come before `sys_exit_brk`; the unmap is applied
    /// there, like munmap's, one page table at a time. Only when the new break lies inside the heap the model
    /// holds (the kernel refuses a break below `mm->start_brk` and keeps the old one); a growing break maps
    /// nothing until it returns.
    fn brk_shrink(&self, pid: Pid, brk: u64) -> Option<Op> {
        let old = *self.brk.get(self.tgid.get(&pid).unwrap_or(&pid))?;
        let (o, n) = (page_align(old), page_align(brk));
        let heap = self.model.vma_at(pid, n)?;
        (n < o && heap.start <= n && o <= heap.end).then_some(Op::Munmap { addr: n, len: o - n })
    }

    /// A write fault of `pid` at `addr` that allocated nothing (the kernel reused the page) is applied: another
    /// task's pending write fault on the same shared anonymous page that has allocated its copy had put it in place
    /// before this fault decided, or this one would have copied too (both copying is [`Lowerer::racing_cow`]).
    /// So it is applied first. Left pending (it ends at its task's next record, and a copy changes no counter),
    /// it would come after this fault, which would find the page still shared and copy it where the kernel
    /// reused it (a shell's copy after `fork()` and its child's write to the same page: bash's loop).
    fn end_copies_before(&mut self, pid: Pid, addr: u64) {
        // (The page-table walks below only when another task's copy is under way at all: this runs at every
        // fault.)
        let copying = |(&a, f): (&Pid, &PendingFault)| a != pid && f.access == Access::Write && !f.allocs.is_empty();
        if !self.pending_fault.iter().any(copying) {
            return;
        }
        let Some(page) = self.shared_anon_page(pid, addr) else { return };
        let copies: Vec<Pid> = self
            .pending_fault
            .iter()
            .filter(|&entry| copying(entry) && self.shared_anon_page(*entry.0, entry.1.addr) == Some(page))
            .map(|(&a, _)| a)
            .collect();
        for a in copies {
            self.flush_fault(a);
        }
    }

    /// Another task's write fault racing this one (`f`, of `pid`, taken out of the pending faults) on the same
    /// copy-on-write page on another CPU: both allocated their copies, so each `do_wp_page()` found the page still
    /// mapped by the other, or held by its `folio_get()`, and copied; applied one after the other, the second
    /// would find the page its own and reuse it. Returns that task and the page's pfn.
    fn racing_cow(&self, pid: Pid, f: &PendingFault) -> Option<(Pid, u64)> {
        let copying = |(&g, gf): (&Pid, &PendingFault)| {
            g != pid && gf.cpu != f.cpu && gf.access == Access::Write && !gf.allocs.is_empty()
        };
        // (The page-table walks below only when another task's copy is under way at all: this runs at every
        // fault.)
        if f.access != Access::Write || f.allocs.is_empty() || !self.pending_fault.iter().any(copying) {
            return None;
        }
        let old = self.shared_anon_page(pid, f.addr)?;
        let mm = self.model.task(pid).and_then(|t| t.mm);
        self.pending_fault
            .iter()
            .filter(|&entry| copying(entry) && self.model.task(*entry.0).and_then(|t| t.mm) != mm)
            .find_map(|(&g, gf)| (self.shared_anon_page(g, gf.addr) == Some(old)).then_some((g, old)))
    }

    /// The anonymous folio `pid` maps read-only at `addr` when more than one mapping shares it (a copy-on-write
    /// page a write fault there copies or reuses), by its head pfn.
    fn shared_anon_page(&self, pid: Pid, addr: u64) -> Option<u64> {
        match self.model.lookup(pid, addr)? {
            mmdb_model::mm::Pte::Present(p) if !p.write && !p.special => {
                let folio = self.model.folio(p.pfn).filter(|folio| folio.is_anon() && folio.mapcount() > 1)?;
                Some(folio.pfn)
            }
            _ => None,
        }
    }

    fn flush_fault(&mut self, pid: Pid) {
        let Some(f) = self.pending_fault.remove(&pid) else { return };
        let vvar = self.pfnmap.iter().any(|&(s, e)| (s..e).contains(&f.addr));
        if !self.alive.contains(&pid) || vvar {
            // (`[vvar]`: vmf_insert_pfn() maps no page and counts nothing.)
            self.stats.ignored += u64::from(vvar);
            self.late_page_cache(&f);
            return self.recycle(f);
        }
        let fed = std::mem::replace(&mut self.cur_line, f.line);
        // Fault-around, the miss, the read-in, then (retrying) fault-around over the window read in: the model
        // maps it at once, with the page cache as the retry found it, and the step of the first fault-around
        // lacks the pages read in since. Unless the faulting page was cached all along (no addition of it): the
        // read was the asynchronous readahead its `PG_readahead` started (`do_async_mmap_readahead()`, which
        // drops the mmap lock: `VM_FAULT_RETRY`), and the retry's fault-around found those pages still locked
        // under I/O and not uptodate (`next_uptodate_folio()` skips them): they enter the model after the fault.
        let mut read_in_window = 0;
        let mapped_read_in = f.around_after_miss && (f.read_own || f.miss_index.is_none());
        if mapped_read_in {
            for add in &f.late_adds {
                if let Record::MmFilemapAddToPageCache(p) = &add.record {
                    if let (Some((_, first, last)), Some(end)) = (&f.file, p.end()) {
                        read_in_window += end.min(last + 1).saturating_sub(p.index.max(*first));
                    }
                    self.page_cache_record(add, p, true);
                }
            }
            self.read_around_mark(pid, &f);
        }
        let around = match self.model.vma_at(pid, f.addr) {
            Some(vma) => fault_window(vma, &f),
            None => {
                self.stand_in_vma(pid, &f);
                self.model.vma_at(pid, f.addr).and_then(|vma| fault_window(vma, &f))
            }
        };
        // The kernel allocating a pfn proves it had freed it: if the model still holds it unmapped in a per-CPU
        // batch, that CPU drained where the trace cannot see it (trap 6).
        for &(pfn, _) in &f.allocs {
            if self.model.folio(pfn).is_some_and(|folio| !folio.mapped()) {
                self.drain_batches(pid, f.ts_ns, pfn, None);
            }
        }
        let around = match self.sync_page_cache(pid, &f) {
            // The VMA was re-created under the file's name: the same window, through the same page offset.
            true => self.model.vma_at(pid, f.addr).and_then(|vma| fault_window(vma, &f)),
            false => around,
        };
        let want = f.allocs.first().map(|a| a.0);
        // A fault that went into filemap_fault() and retried its fault-around without reading its own page in:
        // either the page was being read by an earlier readahead (fault-around skipped the pages still locked
        // under that I/O, and filemap_fault() slept until the page was uptodate: `lock_folio_maybe_drop_mmap()`),
        // or it carried `PG_readahead` and started the next readahead (`do_async_mmap_readahead()` drops the mmap
        // lock). The retry maps what the first pass skipped; how much that was, no record says (the I/O's
        // progress): the first step lies between the model's counters before and after the fault.
        let retried = f.around_after_miss && !f.read_own;
        let before = retried.then(|| self.model.rss(pid).map(|r| [r.file, r.anon, r.swapents, r.shmem])).flatten();
        if f.access == Access::Write && f.allocs.is_empty() {
            self.end_copies_before(pid, f.addr);
        }
        // (The other task, its page and where its fault ran.)
        let racing = self.racing_cow(pid, &f).map(|(other, old)| {
            let (cpu, ts) = self.pending_fault.get(&other).map_or((f.cpu, f.ts_ns), |g| (g.cpu, g.ts_ns));
            (other, old, cpu, ts)
        });
        if let Some((other, old, cpu, ts)) = racing {
            // The other fault's `folio_get()` before its copy: this fault finds the page still shared.
            self.apply(other, cpu, ts, Op::FolioGet { pfn: old });
        }
        let out = self.apply(pid, f.cpu, f.ts_ns, Op::Fault { addr: f.addr, access: f.access, pfn: want, around });
        if let Some((other, old, cpu, ts)) = racing {
            // Its copy is made too (its allocation came already): then its `folio_put()`, which frees the page.
            self.flush_fault(other);
            self.cur_line = f.line;
            self.apply(other, cpu, ts, Op::FolioPut { pfn: old });
        }
        for (i, (l, mm_id, curr, member, size)) in f.rss.iter().enumerate() {
            // Fault-around's step before a page-cache miss: the page read in is counted by finish_fault() later.
            let before_miss = f.rss_before_miss.is_some_and(|n| i < n) && f.access != Access::Write;
            let ahead = match (before_miss && *member == RssMember::FilePages, retried, before) {
                (true, true, Some(b)) => {
                    self.partial_step = Some((pid, b, PartialStep::Retried));
                    0
                }
                (true, _, _) => read_in_window.max(1) as i64,
                (false, _, _) => 0,
            };
            self.rss_stat_ahead(l, *mm_id, *curr, *member, *size, ahead);
        }
        let what = || format!("{} fault at {:#x}", f.access.name(), f.addr);
        match (f.allocs.first(), out.allocated.first()) {
            (Some(&(pfn, order)), None) => self.diverge(
                f.line,
                "fault-alloc-missing",
                || format!("{}: no new page (the page is reused or already mapped)", what()),
                || format!("the kernel allocated pfn {pfn:#x} (order {order})"),
                "an extra reference (a per-CPU batch, the swap cache) made the kernel copy, or the page predates the trace",
            ),
            (None, Some(&(pfn, _))) => self.diverge(
                f.line,
                "fault-alloc-extra",
                || format!("{}: a new page (pfn {pfn:#x})", what()),
                || "the kernel allocated no page".to_string(),
                "the page was mapped before the trace began, or the allocation was not traced",
            ),
            _ => {}
        }
        if !mapped_read_in {
            self.late_page_cache(&f);
            self.read_around_mark(pid, &f);
        }
        if let Some((name, index, end)) = f.first_read.as_ref().filter(|_| f.read && !f.read_own) {
            // Asynchronous readahead marks the first folio of the window it reads (`page_cache_async_ra()` sets
            // `async_size = size`, so `page_cache_ra_order()`'s mark is the window's start): fault-around skips it
            // from now on, and a fault on it starts the next window. Given to the model at the file's next fault,
            // like a measured mark (a file whose page cache the trace never described keeps no marks).
            if self.page_cache.contains_key(name) {
                self.readahead_marks.entry(name.clone()).or_default().insert(*index, *end);
            }
        }
        self.cur_line = fed;
        self.recycle(f);
    }

    /// The `PG_readahead` mark of a fault's synchronous read-around, once its read-in is in the page cache: only a
    /// fault that read its own page in reads around (`do_sync_mmap_readahead()`), and not in a `VM_EXEC` mapping
    /// (since 6.16 that reads from the faulting page to the VMA's end with `async_size = 0`) nor a `VM_HUGEPAGE` one
    /// (PMD-sized folios). Given to the model with the file's holes, before the retry's fault-around (which skips
    /// the marked folio), in a file whose page cache the trace described.
    fn read_around_mark(&mut self, pid: Pid, f: &PendingFault) {
        let Some((name, index, end)) = f.around_mark.as_ref().filter(|_| f.read_own) else { return };
        let flags = self.model.vma_at(pid, f.addr).map(|vma| vma.flags);
        if flags.is_none_or(|v| v.contains(VmFlags::VM_EXEC) || v.contains(VmFlags::VM_HUGEPAGE)) {
            return;
        }
        if self.page_cache.contains_key(name) {
            self.readahead_marks.entry(name.clone()).or_default().insert(*index, *end);
        }
    }

    /// A page-cache addition by a traced task outside any fault: a `read()` (or `pread()`) that missed, whose
    /// synchronous readahead (`page_cache_sync_ra()`) adds its window folio by folio. One that starts at the
    /// file's first page is followed to its end ([`Lowerer::end_read_from_start`]).
    fn read_from_start(&mut self, pid: Pid, p: &mmdb_trace::records::MmFilemapPageCache) {
        let Some(end) = p.end() else { return };
        let name = file_name(p.s_dev.major, p.s_dev.minor, p.i_ino);
        let single = end == p.index + 1;
        match self.reads_from_start.get_mut(&pid) {
            Some((file, next, all_single)) if *file == name && *next == p.index => {
                *next = end;
                *all_single &= single;
                return;
            }
            Some(_) => self.end_read_from_start(pid),
            None => {}
        }
        if p.index == 0 {
            self.reads_from_start.insert(pid, (name, end, single));
        }
    }

    /// The end of a read's readahead from a file's first page: where its `PG_readahead` mark went. A read at the
    /// start of a file gets the initial window (`page_cache_sync_ra()`: `size = get_init_ra_size(req_count)`,
    /// four times the request rounded up to a power of two while that is at most `ra_pages / 32`, with
    /// `async_size = size - req_count`), so the mark is on page `req_count`, and the window's size tells the
    /// request: up to 4 pages (fewer at the file's end), one page (the dynamic loader's 832-byte read of an ELF
    /// header, the common case); up to 8, two. A larger window leaves the request ambiguous, and no mark is
    /// given.
    fn end_read_from_start(&mut self, pid: Pid) {
        let Some((name, pages, single)) = self.reads_from_start.remove(&pid) else { return };
        let mark = match pages {
            2..=4 => 1,
            5..=8 => 2,
            _ => return,
        };
        if single && self.page_cache.contains_key(&name) {
            self.readahead_marks.entry(name).or_default().insert(mark, mark + 1);
        }
    }

    /// The page-cache additions a fault's read-in made after its fault-around, once the fault is applied.
    fn late_page_cache(&mut self, f: &PendingFault) {
        for add in &f.late_adds {
            if let Record::MmFilemapAddToPageCache(p) = &add.record {
                self.page_cache_record(add, p, true);
            }
        }
    }

    /// Keeps the vectors of a completed fault for the next one.
    fn recycle(&mut self, f: PendingFault) {
        let PendingFault { mut allocs, mut rss, .. } = f;
        if self.spare.len() < SPARE_FAULTS {
            allocs.clear();
            rss.clear();
            self.spare.push((allocs, rss));
        }
    }

    /// Starts the recorded program: a task with a fresh mm in a memcg of its own (no limit: the kernel's reclaim
    /// records drive reclaim, so memcg reclaim scans only the program's pages, as in the kernel).
    fn spawn_recorded(&mut self, pid: Pid, l: &TraceLine, filename: &str) {
        let comm = filename.rsplit('/').next().unwrap_or(filename).chars().take(15).collect();
        self.apply(pid, l.cpu, l.ts_ns, Op::Spawn { comm });
        self.apply(pid, l.cpu, l.ts_ns, Op::MemcgCreate { id: RECORDED_MEMCG, limit: 0 });
        self.apply(pid, l.cpu, l.ts_ns, Op::MemcgAttach { id: RECORDED_MEMCG });
        self.alive.insert(pid);
        self.tgid.insert(pid, pid);
    }

    /// An input marker: exec's layout (`mmdb-exec-vma`, `mmdb-exec`), written by `mmdb record` at the exec stop,
    /// or a file's page cache (`mmdb-pagecache`), written there and at checkpoints. Other markers are ground truth
    /// and not the lowering's business.
    pub fn input_marker(&mut self, m: &Marker) {
        if let Marker::PageCache(p) = m {
            // What mincore() showed replaces what the lowering knew of those pages.
            let name = file_name(p.dev.0, p.dev.1, p.ino);
            let end = p.first.saturating_add(p.pages);
            let holes = self.page_cache.entry(name.clone()).or_default();
            holes.remove(p.first, end);
            for (a, b) in p.uncached() {
                holes.insert(a, b.saturating_add(1));
            }
            let marks = self.readahead_marks.entry(name).or_default();
            marks.remove(p.first, end);
            for &(a, b) in &p.readahead {
                marks.insert(a, b.saturating_add(1));
            }
            return;
        }
        if let Marker::Bdi { dev, read_ahead_kb } = m {
            // read_ahead_kb_store(): the window in pages.
            self.ra_pages.insert(*dev, read_ahead_kb / (PAGE_SIZE / 1024));
            return;
        }
        if let Marker::PageCachePage(p) = m {
            let name = file_name(p.dev.0, p.dev.1, p.ino);
            self.page_frames.entry(name).or_default().insert(p.index, (p.pfn, p.kflags));
            return;
        }
        let pid = match m {
            Marker::ExecVma(v) => v.vma.pid,
            Marker::Exec(stack) => stack.pid,
            _ => return,
        };
        let Some(i) = self.execs.iter().position(|x| x.pid == pid && x.exec.is_some()) else { return };
        match m {
            Marker::ExecVma(v) => self.execs[i].vmas.push(v.clone()),
            Marker::Exec(stack) => self.finish_exec(i, Some(*stack)),
            _ => {}
        }
    }

    /// Whether the exec in flight `execs[i]` may begin at its old image's teardown: before `sched_process_exec`,
    /// the task traced, and not in reclaim (whose frees are counted at its end).
    fn may_tear_down(&self, i: usize) -> bool {
        let x = &self.execs[i];
        let reclaim = |h: &TraceLine| {
            matches!(h.record, Record::MmVmscanMemcgReclaimBegin(_) | Record::MmVmscanDirectReclaimBegin(_))
        };
        x.exec.is_none() && self.alive.contains(&x.pid) && !x.held.iter().any(reclaim)
    }

    /// The old image of the exec in flight `execs[i]` is being torn down (`l` shows it): `exec_mmap()` dropped
    /// the old mm early in the exec (`begin_new_exec()`), before the new image is loaded, and while the task
    /// sleeps in the loading others may reuse its page frames, or write to pages it shared with them, before
    /// `sched_process_exec` fires. `Op::Exec` without the name (which only `sched_process_exec` gives) is applied
    /// here.
    fn begin_teardown(&mut self, i: usize, l: &TraceLine) {
        let pid = self.execs[i].pid;
        self.brk.remove(self.tgid.get(&pid).unwrap_or(&pid));
        // The old mm_struct is freed: the next fork's child may be given it, and its hashed mm_id.
        self.mm_id_of.remove(&pid);
        self.apply(pid, l.cpu, l.ts_ns, Op::Exec { filename: String::new() });
        self.execs[i].begun = true;
    }

    /// A free by the task of an exec in flight (`execs[i]`), applied now when it is the old image's teardown
    /// (returns whether it was): the first free of a page the old image maps begins the exec
    /// ([`Lowerer::begin_teardown`]), and the task's later frees are applied as they come, but those of pages
    /// allocated since `sys_enter_execve` (the new image's, held with their allocations).
    fn exec_teardown_free(&mut self, i: usize, l: &TraceLine, pfn: u64) -> bool {
        if !self.may_tear_down(i) {
            return false;
        }
        let x = &self.execs[i];
        if x.begun {
            if x.allocated.contains(&pfn) {
                return false;
            }
        } else {
            if !self.mapped_by_task(Some(pfn), x.pid) {
                return false;
            }
            self.begin_teardown(i, l);
        }
        self.page_free(l, pfn);
        true
    }

    /// Whether `pfn` is a page of the exec in flight `execs[i]`: allocated since its `sys_enter_execve`, or mapped
    /// by its old image.
    fn exec_window_page(&self, i: usize, pfn: u64) -> bool {
        let x = &self.execs[i];
        x.allocated.contains(&pfn) || self.mapped_by_task(Some(pfn), x.pid)
    }

    /// The old image of a traced task's exec in flight (`execs[i]`, at its `sched_process_exec`) is gone: mirrors
    /// `exec_mmap()`, which dropped the old mm before the event fired. `Op::Exec` is applied now, with the frees
    /// held back since `sys_enter_execve` of pages the old image mapped (its teardown's, and other tasks' frees
    /// of its pages left in this CPU's batches), so that the tasks that run before the new image begins find
    /// those pfns free when they reuse them; every other held record, and the new image's layout, wait for
    /// [`Lowerer::finish_exec`]. Not when the task was in reclaim during the exec (its frees are the reclaim's,
    /// counted at its end), nor for the recorded task's first exec (no old image in the model).
    fn begin_exec(&mut self, i: usize) {
        let x = &self.execs[i];
        let pid = x.pid;
        let Some((exec_line, filename)) = x.exec.clone() else { return };
        if !self.alive.contains(&pid) {
            return;
        }
        if x.begun {
            // Its teardown began it (`exec_teardown_free`): the name is all that is left.
            self.cur_line = exec_line.line;
            let comm = filename.rsplit('/').next().unwrap_or(&filename).to_string();
            self.apply(pid, exec_line.cpu, exec_line.ts_ns, Op::Rename { comm });
            return;
        }
        let reclaim = x
            .held
            .iter()
            .any(|l| matches!(l.record, Record::MmVmscanMemcgReclaimBegin(_) | Record::MmVmscanDirectReclaimBegin(_)));
        // The old image's pages among the frees (the teardown's): the rest stays in order with the held records.
        let held = std::mem::take(&mut self.execs[i].held);
        let (frees, rest): (Vec<TraceLine>, Vec<TraceLine>) = held.into_iter().partition(|l| {
            !reclaim && matches!(l.record, Record::MmPageFree(_)) && self.mapped_by_task(freed_pfn(&l.record), pid)
        });
        self.execs[i].held = rest;
        self.cur_line = exec_line.line;
        // The new image's break is its own (the first `brk(0)` learns it).
        self.brk.remove(self.tgid.get(&pid).unwrap_or(&pid));
        self.apply(pid, exec_line.cpu, exec_line.ts_ns, Op::Exec { filename });
        self.execs[i].begun = true;
        for l in &frees {
            if let Record::MmPageFree(f) = &l.record {
                self.cur_line = l.line;
                self.page_free(l, f.pfn);
            }
        }
        self.cur_line = exec_line.line;
    }

    /// The new image of an exec in flight (`execs[i]`) begins: its layout (when the trace has it), then the records
    /// held back since `sys_enter_execve`, replayed into it. The recorded task starts here; any other traced task
    /// gets a fresh mm (`Op::Exec`).
    ///
    /// Mirrors `load_elf_binary()`: `copy_strings()` filled the new stack's top pages through GUP before
    /// `exec_mmap()` (a `mm_page_alloc` with no fault: placed from the stack's end down to `arg_start`, the first
    /// at the top, as `copy_string_kernel(filename)` comes first); then the old mm was torn down (its `rss_stat`s
    /// are not the new mm's); then `elf_load()`/`padzero()` and `create_elf_tables()` faulted in kernel mode.
    /// Without the layout, the argument pages go below `mmap_min_addr` (`0x1000..0x10000`), where no program
    /// maps anything: they count in RSS, are inherited at fork and freed at exit like the real ones, and the page
    /// comparison counts their true addresses as pre-trace state.
    fn finish_exec(&mut self, i: usize, stack: Option<ExecStack>) {
        let x = self.execs.swap_remove(i);
        let Some((exec_line, filename)) = x.exec else { return };
        let pid = x.pid;
        if !x.begun {
            self.spawn_recorded(pid, &exec_line, &filename);
        }
        let (cpu, ts) = (exec_line.cpu, exec_line.ts_ns);
        let mut arg_pages: Vec<u64> = Vec::new();
        // The byte ranges of the stack each copy_strings() call wrote (see `copy_strings_calls`).
        let mut gup_calls: Vec<(u64, u64)> = Vec::new();
        // Without `mmdb-exec`, the layout is incomplete: the stand-ins take over.
        let layout: &[ExecVma] = if stack.is_some() { &x.vmas } else { &[] };
        for v in layout {
            let vma = &v.vma;
            if vma.start >= USER_END || vma.end <= vma.start {
                continue; // [vsyscall]
            }
            if vma.name.starts_with("[vvar") {
                self.pfnmap.push((vma.start, vma.end));
                continue;
            }
            let bit = |set: bool, prot: u64| if set { prot } else { 0 };
            let prot =
                bit(vma.perms.read, PROT_READ) | bit(vma.perms.write, PROT_WRITE) | bit(vma.perms.exec, PROT_EXEC);
            let (file, anon) = if v.ino != 0 {
                let name = file_name(v.dev.0, v.dev.1, v.ino);
                (Some(FileRef { name, offset: vma.offset }), 0)
            } else if vma.name == "[vdso]" {
                (Some(FileRef { name: "[vdso]".to_string(), offset: 0 }), 0)
            } else {
                (None, MAP_ANONYMOUS)
            };
            let shared = if vma.perms.shared { MAP_SHARED } else { MAP_PRIVATE };
            let op = Op::Mmap {
                addr: Some(vma.start),
                len: vma.end - vma.start,
                prot,
                flags: shared | anon | MAP_FIXED,
                file,
            };
            self.apply(pid, cpu, ts, op);
            if vma.name == "[stack]" {
                // exec copies at most 6 MiB of strings (`bprm_stack_limits()`): a marker that says more is damage,
                // and its argument pages are placed as without it.
                let fits = |s: &ExecStack| {
                    s.arg_start >= vma.start && s.arg_start < vma.end && vma.end - s.arg_start <= MAX_ARG_STRINGS
                };
                if let Some(s) = stack.filter(fits) {
                    let low = s.arg_start & !(PAGE_SIZE - 1);
                    arg_pages = (1..=(vma.end - low) / PAGE_SIZE).map(|i| vma.end - i * PAGE_SIZE).collect();
                    gup_calls = copy_strings_calls(&s, vma.end);
                }
            }
        }
        if stack.is_none() {
            let (addr, len) = (EXEC_PAGES_LOW, EXEC_PAGES_END - EXEC_PAGES_LOW);
            let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
            self.apply(
                pid,
                cpu,
                ts,
                Op::Mmap { addr: Some(addr), len, prot: PROT_READ | PROT_WRITE, flags, file: None },
            );
            arg_pages = (EXEC_PAGES_LOW..EXEC_PAGES_END).step_by(PAGE_SIZE as usize).collect();
            self.stats.pre_trace_vmas += 1;
        }
        // The new mm's `rss_stat`s: the first in execve is copy_strings' (the old mm's teardown comes later).
        let new_mm = x.held.iter().find_map(|l| match &l.record {
            Record::RssStat(r) => Some(r.mm_id),
            _ => None,
        });
        if let Some(id) = new_mm {
            self.learn_mm_id(id, pid);
        }
        // copy_strings()'s get_arg_page() calls in order, each a FOLL_TOUCH of one page. The first touch of a page
        // faults it in: the next argument-page allocation held back, then what that fault wrote (its counter step,
        // the LRU insertions of a per-CPU batch it filled) before the touch itself.
        let touches: Vec<u64> = gup_calls
            .iter()
            .flat_map(|&(lo, hi)| {
                let (first, last) = ((hi - 1) & !(PAGE_SIZE - 1), lo & !(PAGE_SIZE - 1));
                (0..=(first - last) / PAGE_SIZE).map(move |i| first - i * PAGE_SIZE)
            })
            .collect();
        // Allocations that the page cache took (exec reading a binary that was not cached: the next record of
        // their pfn adds it) are not argument pages.
        let mut cache_allocs = FxHashSet::default();
        for (i, l) in x.held.iter().enumerate() {
            if let Record::MmPageAlloc(MmPageAllocRec { pfn: Some(pfn), .. }) = &l.record {
                let next = x.held[i + 1..].iter().find_map(|m| match &m.record {
                    Record::MmFilemapAddToPageCache(p) if p.pfn == *pfn => Some(true),
                    Record::MmPageAlloc(a) if a.pfn == Some(*pfn) => Some(false),
                    Record::MmPageFree(f) if f.pfn == *pfn => Some(false),
                    _ => None,
                });
                if next == Some(true) {
                    cache_allocs.insert(l.line);
                }
            }
        }
        let mut next_arg = arg_pages.into_iter();
        // (Only an exec stop with `mmdb-exec` measured the page cache after these records.)
        self.replaying_exec = stack.is_some();
        let mut held = x.held.iter().peekable();
        let mut faulted: Vec<u64> = Vec::new();
        let (mut at_cpu, mut at_ts) = (cpu, ts);
        let in_fault = |l: &&TraceLine| {
            matches!(&l.record, Record::RssStat(_) | Record::MmLruInsertion(_) | Record::MmLruActivate(_))
        };
        for &page in &touches {
            if !faulted.contains(&page) {
                faulted.push(page);
                while let Some(l) = held.next() {
                    (at_cpu, at_ts) = (l.cpu, l.ts_ns);
                    if self.exec_held(l, new_mm, &mut next_arg, &cache_allocs) {
                        while let Some(l) = held.next_if(in_fault) {
                            self.exec_held(l, new_mm, &mut next_arg, &cache_allocs);
                        }
                        break;
                    }
                }
            }
            self.apply(pid, at_cpu, at_ts, Op::Gup { addr: page, write: true });
        }
        for l in held {
            self.exec_held(l, new_mm, &mut next_arg, &cache_allocs);
        }
        self.replaying_exec = false;
        self.cur_line = exec_line.line;
    }

    /// Replays one record of the exec held back by [`Lowerer::finish_exec`]: an allocation of a user page with no
    /// fault is copy_strings()' (GUP) and faults in the next argument page; `rss_stat`s of the old mm are not
    /// comparable. Returns whether it was such an allocation.
    fn exec_held(
        &mut self,
        l: &TraceLine,
        new_mm: Option<u32>,
        next_arg: &mut impl Iterator<Item = u64>,
        cache_allocs: &FxHashSet<u32>,
    ) -> bool {
        self.cur_line = l.line;
        match &l.record {
            Record::MmPageAlloc(a)
                if a.migratetype == MIGRATE_MOVABLE
                    && !self.pending_fault.contains_key(&l.pid)
                    && !cache_allocs.contains(&l.line) =>
            {
                if let (Some(pfn), Some(addr)) = (a.pfn, next_arg.next()) {
                    let op = Op::Fault { addr, access: Access::Write, pfn: Some(pfn), around: None };
                    self.apply(l.pid, l.cpu, l.ts_ns, op);
                }
                true
            }
            Record::RssStat(r) if Some(r.mm_id) != new_mm => {
                self.rss.skipped += 1;
                false
            }
            _ => {
                self.feed(l);
                false
            }
        }
    }

    /// A fault where the model has no VMA lands in a mapping made before the trace began (the ELF image and the
    /// stack, which exec maps without syscalls). The stand-in is file-backed when the fault's filemap records name
    /// the file: the window `mm_filemap_map_pages` reports (from the 64 KiB-aligned block of the fault, at the
    /// window's first page index), so that the model's fault-around maps what the kernel's did; otherwise it is
    /// one anonymous page. Stand-ins never overlap a VMA the model knows.
    fn stand_in_vma(&mut self, pid: Pid, f: &PendingFault) {
        let page = f.addr & !(PAGE_SIZE - 1);
        // The gap around the page between the VMAs of `pid`'s mm, which hold no VMA over the page: the end of the
        // VMA before it and the start of the one after it (VMAs are keyed by their start and do not overlap).
        let vmas = self.model.task(pid).and_then(|t| t.mm).and_then(|mm| self.model.mm_struct(mm)).map(|mm| &mm.vmas);
        let gap_lo = vmas.and_then(|v| v.range(..=page).next_back()).map_or(0, |(_, v)| v.end);
        let gap_hi = vmas.and_then(|v| v.range(page + 1..).next()).map_or(TASK_SIZE, |(_, v)| v.start);
        debug_assert_eq!(
            (gap_lo, gap_hi),
            {
                let all = self.model.vmas(pid);
                let lo = all.iter().filter(|v| v.end <= page).map(|v| v.end).max().unwrap_or(0);
                (lo, all.iter().filter(|v| v.start > page).map(|v| v.start).min().unwrap_or(TASK_SIZE))
            },
            "the gap around {page:#x}"
        );
        let prot = PROT_READ | PROT_WRITE | PROT_EXEC;
        // A window the fault-around code cannot have reported (more than its 16-page block, backwards, or past
        // the end of a file's offsets) is damage: the stand-in is then one anonymous page, as without a window.
        let file_op = f.file.as_ref().and_then(|(name, first, last)| {
            let pages = last.checked_sub(*first)?.checked_add(1).filter(|&n| n <= 16)?;
            // The kernel's window holds the faulting page. It starts at the 16-page block when the VMA did not
            // clip its start; otherwise it starts at the VMA's start and (unless clipped there too) ends at the
            // block's end.
            let len = pages * PAGE_SIZE;
            let block = f.addr & !(16 * PAGE_SIZE - 1);
            let window = if page < block + len {
                block
            } else if page < block + 16 * PAGE_SIZE && block + 16 * PAGE_SIZE - len <= page {
                block + 16 * PAGE_SIZE - len
            } else {
                page
            };
            let start = window.max(gap_lo);
            let end = (window + len).min(gap_hi).max(page + PAGE_SIZE);
            let offset = first.checked_add((start - window) / PAGE_SIZE)?.checked_mul(PAGE_SIZE)?;
            let file = Some(FileRef { name: name.clone(), offset });
            Some(Op::Mmap { addr: Some(start), len: end - start, prot, flags: MAP_PRIVATE | MAP_FIXED, file })
        });
        let op = file_op.unwrap_or(Op::Mmap {
            addr: Some(page),
            len: PAGE_SIZE,
            prot,
            flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            file: None,
        });
        self.apply(pid, f.cpu, f.ts_ns, op);
        self.stats.pre_trace_vmas += 1;
    }

    /// `mm_filemap_add_to_page_cache` (`__filemap_add_folio()`, `cached`) or `mm_filemap_delete_from_page_cache`
    /// (`__filemap_remove_folio()`): the folio's pages are now in the page cache, or no longer. A file the trace
    /// has not described yet takes every page to be cached, so an addition to it changes nothing. The model learns
    /// it at the file's next fault; a deletion of a folio the model holds reaches it at once (the kernel frees the
    /// page next). Counted with the records not used when no model event comes of it here.
    fn page_cache_record(&mut self, l: &TraceLine, p: &mmdb_trace::records::MmFilemapPageCache, cached: bool) {
        let Some(end) = p.end() else {
            self.stats.ignored += 1;
            return;
        };
        let name = file_name(p.s_dev.major, p.s_dev.minor, p.i_ino);
        if !cached && self.model.page_cache_holds(&name, p.index, end) {
            let op =
                Op::PageCache { file: name.clone(), index: p.index, pages: end - p.index, cached, readahead: false };
            self.apply(l.pid, l.cpu, l.ts_ns, op);
        } else {
            self.stats.ignored += 1;
        }
        let measured_since = self.replaying_exec && cached;
        if let Some(marks) = self.readahead_marks.get_mut(&name).filter(|_| !measured_since) {
            // A folio added now is not the one measured with the mark; a deleted one takes its mark along.
            marks.remove(p.index, end);
        }
        if let Some(frames) = self.page_frames.get_mut(&name).filter(|_| !measured_since) {
            // Nor is it in the frame measured: that one is gone, or going.
            mmdb_model::filemap::remove_pages(frames, p.index, end);
        }
        if cached && !measured_since && self.page_cache.contains_key(&name) {
            // In a file the trace described, the pages are in the folio the record names, read from disk
            // (`ext4_mpage_readpages()` sets `PG_mappedtodisk` when every block is mapped): a fault that maps one
            // before the model has read it in (the read-around of another page) maps that frame, not one of the
            // model's own.
            let frames = self.page_frames.entry(name.clone()).or_default();
            for (i, index) in (p.index..end).enumerate() {
                frames.insert(index, (p.pfn + i as u64, KPF_MAPPEDTODISK));
            }
        }
        match (self.page_cache.get_mut(&name), cached) {
            (Some(holes), true) => holes.remove(p.index, end),
            (Some(holes), false) => holes.insert(p.index, end),
            (None, true) => {}
            (None, false) => {
                let mut holes = PageRanges::default();
                holes.insert(p.index, end);
                self.page_cache.insert(name, holes);
            }
        }
    }

    /// Before a fault on a file mapping: when the fault's filemap records name a file whose page cache the trace
    /// described, the model's file learns the pages known not to be cached (one `Op::PageCache` per range that
    /// changed since it last did). The VMA must name the same file: a mapping made by `mmap(fd)` is named after
    /// its descriptor (the syscall shows no more), so such a VMA is first re-created under the file's name, with
    /// the same address, protection and offset (`Op::Mmap` with `MAP_FIXED`), while it maps no page yet and
    /// carries nothing an `mmap()` would not give it. Returns whether the VMA was re-created.
    fn sync_page_cache(&mut self, pid: Pid, f: &PendingFault) -> bool {
        let Some((name, _, _)) = &f.file else { return false };
        if !self.page_cache.contains_key(name) {
            return false;
        }
        let Some(vma) = self.model.vma_at(pid, f.addr).cloned() else { return false };
        let Some(file) = vma.file.filter(|&id| !self.model.file_is_shmem(id)) else { return false };
        let mut rebound = false;
        if self.model.file_name(file) != Some(name.as_str()) {
            let mm = self.model.task(pid).and_then(|t| t.mm).and_then(|mm| self.model.mm_struct(mm));
            let empty = mm.is_some_and(|mm| mm.populated_ptes(vma.start, vma.end).is_empty());
            if !empty || vma.anon_vma.is_some() || vma.flags.0 & NOT_FROM_MMAP != 0 {
                return false;
            }
            let bit = |flag: VmFlags, prot: u64| if vma.flags.contains(flag) { prot } else { 0 };
            let prot = bit(VmFlags::VM_READ, PROT_READ)
                | bit(VmFlags::VM_WRITE, PROT_WRITE)
                | bit(VmFlags::VM_EXEC, PROT_EXEC);
            let flags = MAP_FIXED
                | if vma.flags.contains(VmFlags::VM_MAYSHARE) { MAP_SHARED } else { MAP_PRIVATE }
                | if vma.flags.contains(VmFlags::VM_NORESERVE) { MAP_NORESERVE } else { 0 };
            let file = Some(FileRef { name: name.clone(), offset: vma.pgoff.saturating_mul(PAGE_SIZE) });
            let op = Op::Mmap { addr: Some(vma.start), len: vma.end - vma.start, prot, flags, file };
            self.apply(pid, f.cpu, f.ts_ns, op);
            rebound = true;
        }
        let Some(known) = self.page_cache.get(name) else { return rebound };
        let mut model = PageRanges::default();
        for (a, b) in self.model.page_cache_holes(name) {
            model.insert(a, b);
        }
        let (mut add, mut drop) = (known.clone(), model.clone());
        for (a, b) in model.iter() {
            add.remove(a, b);
        }
        for (a, b) in known.iter() {
            drop.remove(a, b);
        }
        // The holes that changed, then the readahead marks not given yet (on cached pages).
        let marks = self.readahead_marks.remove(name).unwrap_or_default();
        let ops: Vec<Op> = add
            .iter()
            .map(|(a, b)| (a, b, false, false))
            .chain(drop.iter().map(|(a, b)| (a, b, true, false)))
            .chain(marks.iter().map(|(a, b)| (a, b, true, true)))
            .map(|(index, end, cached, readahead)| Op::PageCache {
                file: name.clone(),
                index,
                pages: end - index,
                cached,
                readahead,
            })
            .collect();
        // The frames of the pages this fault may map (its window); the others wait for a fault that maps them.
        let (first, last) = f.file.as_ref().map_or((0, u64::MAX), |(_, a, b)| (*a, *b));
        let frames: Vec<(u64, (u64, u64))> = match self.page_frames.get_mut(name) {
            Some(all) => {
                let window: Vec<u64> = all.range(first..=last).map(|(&i, _)| i).collect();
                window.into_iter().filter_map(|i| all.remove(&i).map(|frame| (i, frame))).collect()
            }
            None => Vec::new(),
        };
        let frames = frames.into_iter().map(|(index, (pfn, kflags))| Op::PageCacheFrame {
            file: name.clone(),
            index,
            pfn,
            kflags,
        });
        for op in ops.into_iter().chain(frames) {
            self.apply(pid, f.cpu, f.ts_ns, op);
        }
        rebound
    }

    fn page_free(&mut self, l: &TraceLine, pfn: u64) {
        // The folio's mapcount and refcount, as `Model::page_info` reports them (without building the rest of it).
        let Some((mapcount, refcount)) = self.model.folio(pfn).map(|f| (f.mapcount(), f.refcount)) else {
            self.stats.ignored += 1; // a page the model never saw (another mm, the kernel, the old image)
            return;
        };
        if mapcount > 0 {
            self.diverge(
                l.line,
                "free-mapped",
                || format!("pfn {pfn:#x} is mapped (mapcount {mapcount})"),
                || "the kernel freed it".to_string(),
                "an unmap the trace did not show, or a divergence earlier on",
            );
            return;
        }
        if !self.drain_batches(l.pid, l.ts_ns, pfn, None) {
            self.diverge(
                l.line,
                "free-held",
                || format!("pfn {pfn:#x} is unmapped but held (refcount {refcount})"),
                || "the kernel freed it".to_string(),
                "a reference the model keeps that the kernel dropped",
            );
        }
    }

    /// The end of direct or memcg reclaim in a traced task: the model reclaims as many pages as the kernel did
    /// (`try_to_free_mem_cgroup_pages`, `try_to_free_pages`); kernel frees the model did not make are then treated
    /// like any other `mm_page_free`.
    /// The end of a direct or memcg reclaim: the kernel's victims are the pfns it freed, in the order
    /// `shrink_folio_list()` took them, so each is applied as [`Op::ShrinkFolio`] (the trace wins over the model's
    /// own LRU order). `try_to_unmap_one()` stepped the counters of each mapped victim before the batch was freed,
    /// so the `rss_stat`s of the reclaim are compared in order, one after each victim that moved a counter.
    fn reclaim_end(&mut self, l: &TraceLine) {
        let Some(r) = self.in_reclaim.remove(&l.pid) else {
            self.stats.ignored += 1;
            return;
        };
        let mut samples = r.rss.into_iter();
        for pfn in r.freed {
            let Some(head) = self.model.folio_head(pfn) else {
                // Not a page the model has: allocated before the trace, or by an untraced path.
                self.stats.ignored += 1;
                continue;
            };
            // The mms whose counters the victim may step: those mapping it.
            let mms: Vec<MmId> =
                self.model.folio(head).map(|f| f.rmap.iter().map(|m| m.mm).collect()).unwrap_or_default();
            let counters = |m: &Model| mms.iter().map(|id| m.mm_struct(*id).map(|x| x.rss)).collect::<Vec<_>>();
            let before = counters(&self.model);
            let out = self.apply(l.pid, l.cpu, l.ts_ns, Op::ShrinkFolio { pfn: head });
            if out.ret.is_none_or(|n| n <= 0) {
                self.diverge(
                    l.line,
                    "reclaim-victim",
                    || {
                        format!(
                            "pfn {pfn:#x} survives shrink_folio_list() (it is mapped dirty, referenced or not on an LRU)"
                        )
                    },
                    || "the kernel's reclaim freed it".to_string(),
                    "a write or access the trace cannot show, or LRU state from before the trace",
                );
            }
            if before != counters(&self.model) {
                if let Some((l, mm_id, curr, member, size)) = samples.next() {
                    self.rss_stat(&l, mm_id, curr, member, size);
                }
            }
        }
        for (l, mm_id, curr, member, size) in samples {
            self.rss_stat(&l, mm_id, curr, member, size);
        }
    }

    /// The child's counters reported during `copy_page_range()`: once the fork is applied, the last value of
    /// each counter is the child's state after the copy and is compared; the earlier ones are partial sums of a
    /// copy the model makes in one step, and count as not comparable.
    fn fork_rss_compare(&mut self, parent: Pid, child: Pid, thread: bool) {
        let Some(events) = self.fork_rss.remove(&parent) else { return };
        if thread {
            self.rss.skipped += events.len() as u64;
            return;
        }
        let mut last: Vec<(TraceLine, u32, RssMember, i64)> = Vec::new();
        for e in events {
            self.learn_mm_id(e.1, child);
            match last.iter_mut().find(|x| x.2 == e.2) {
                Some(x) => {
                    self.rss.skipped += 1;
                    *x = e;
                }
                None => last.push(e),
            }
        }
        for (l, mm_id, member, size) in last {
            self.rss_stat(&l, mm_id, false, member, size);
        }
    }

    /// Moves the per-CPU batches (of `only` that kind, or of any) that hold the folio of `pfn`: the kernel has
    /// shown that the folio left its batch. Returns whether any batch moved.
    ///
    /// Only those batches move (`Op::FolioBatchMove`): a full batch moves alone (`folio_batch_add_and_move()`),
    /// and when `lru_add_drain_cpu()` moved them all, the others show it with evidence of their own (the
    /// lru_activate batch with `mm_lru_activate`, recorded for every task) or are drained where the model itself
    /// drains (reclaim, the syscalls that call `lru_add_drain()`).
    fn drain_batches(&mut self, pid: Pid, ts_ns: u64, pfn: u64, only: Option<BatchKind>) -> bool {
        let Some(head) = self.model.folio_head(pfn) else { return false };
        let mut batches: Vec<(usize, BatchKind)> =
            self.model.folio_batches(head).into_iter().filter(|(_, k)| only.is_none_or(|o| o == *k)).collect();
        batches.dedup();
        for &(cpu, batch) in &batches {
            self.apply(pid, cpu as u32, ts_ns, Op::FolioBatchMove { batch });
            self.stats.implicit_drains += 1;
        }
        !batches.is_empty()
    }

    /// `mm_lru_insertion` fires only in `lru_add()`, when an lru_add batch moves: if the model still holds the
    /// folio in a CPU's lru_add batch, that batch moved where the trace cannot see it (or in another task, from
    /// the recorder's second instance), so the model moves it too.
    fn lru_insertion(&mut self, l: &TraceLine, pfn: u64) {
        if self.model.folio_head(pfn).is_none() {
            self.stats.ignored += 1;
        } else {
            self.drain_batches(l.pid, l.ts_ns, pfn, Some(BatchKind::LruAdd));
        }
    }

    /// `mm_id` is the mm of task `pid` (a `curr=1` event of it, exec's new mm, a fork's copy).
    fn learn_mm_id(&mut self, mm_id: u32, pid: Pid) {
        self.mm_ids.insert(mm_id, pid);
        self.mm_id_of.insert(pid, mm_id);
    }

    /// The live task whose mm `mm_id` is now: not one that has exited or executed another image since, whose
    /// mm_struct (and so its hashed pointer) the next fork may have been given.
    fn mm_owner(&self, mm_id: u32) -> Option<Pid> {
        let pid = *self.mm_ids.get(&mm_id)?;
        (self.alive.contains(&pid) && self.mm_id_of.get(&pid) == Some(&mm_id)).then_some(pid)
    }

    fn rss_stat(&mut self, l: &TraceLine, mm_id: u32, curr: bool, member: RssMember, size: i64) {
        self.rss_stat_ahead(l, mm_id, curr, member, size, 0);
    }

    /// Compares one `rss_stat` with the model's counter, which is `ahead` pages past the moment the event describes
    /// (steps of the same operation that the model took at once).
    fn rss_stat_ahead(&mut self, l: &TraceLine, mm_id: u32, curr: bool, member: RssMember, size: i64, ahead: i64) {
        let pid = if curr && self.alive.contains(&l.pid) {
            self.learn_mm_id(mm_id, l.pid);
            l.pid
        } else {
            let Some(&pid) = self.mm_ids.get(&mm_id) else {
                self.stats.ignored += 1;
                return;
            };
            pid
        };
        let Some(r) = self.model.rss(pid) else {
            self.rss.skipped += 1;
            return;
        };
        let model = [r.file, r.anon, r.swapents, r.shmem][member.index()] - ahead;
        let kernel = size / PAGE_SIZE as i64;
        // Anonymous faults of other threads of this mm under way on other CPUs: their counter step may already
        // be in the sum (`do_anonymous_page()` counts right after allocating; the fault is applied at its own
        // `rss_stat`).
        let in_flight = if member == RssMember::AnonPages {
            let mm = self.model.task(pid).and_then(|t| t.mm);
            let shares = |p: Pid| mm.is_some() && self.model.task(p).and_then(|t| t.mm) == mm;
            self.pending_fault
                .iter()
                .filter(|(p, f)| **p != l.pid && f.cpu != l.cpu && !f.allocs.is_empty() && f.file.is_none())
                .filter(|(p, f)| f.rss.is_empty() && shares(**p))
                .count() as i64
        } else {
            0
        };
        if let Some(log) = &self.log {
            let sample = RssSample { position: log.len(), line: l.line, pid, member: member.name(), kernel, model };
            self.rss_log.push(sample);
        }
        // A step need_resched() cut short, or a fault-around step before its fault's retry: anywhere between the
        // model's counters before and after the table or the fault ([`PartialStep`]).
        let partial = self.partial_step.take().filter(|(p, ..)| *p == pid);
        let in_partial = partial.is_some_and(|(_, before, _)| {
            let b = before[member.index()];
            kernel >= model.min(b) && kernel <= model.max(b)
        });
        let matched = model == kernel || (model < kernel && kernel <= model + in_flight) || in_partial;
        if self.uncertain_from.is_some() {
            self.rss.uncertain_total += 1;
            self.rss.uncertain_matched += u64::from(matched);
            return;
        }
        self.rss.total += 1;
        self.rss.by_member[member.index()].0 += 1;
        if matched {
            self.rss.matched += 1;
            self.rss.by_member[member.index()].1 += 1;
            if model != kernel {
                if let (true, Some((_, _, kind))) = (in_partial, partial) {
                    match kind {
                        PartialStep::Resched => self.rss.resched += 1,
                        PartialStep::Retried => self.rss.retried += 1,
                    }
                } else {
                    self.rss.concurrent += 1;
                }
            }
        } else if self.rss.mismatches.len() < KEEP {
            self.rss.mismatches.push(RssMismatch { line: l.line, pid, member: member.name(), kernel, model });
        }
    }
}
