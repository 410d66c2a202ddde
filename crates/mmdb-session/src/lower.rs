//! Lowering of real kernel traces (ftrace or perf records) to model events, in lockstep with the model so that
//! every place where the trace contradicts the model's prediction becomes a [`Divergence`].
//!
//! What is lowered (kernel-semantics §13 names the tracepoints):
//! - `tracing_mark_write: mmdb-record pid=P` names the recorded task; its events before `sched_process_exec`
//!   belong to the image exec replaces and are ignored (trap 1). The exec starts it with a fresh mm.
//! - `sched_process_fork`, with the clone flags of the parent's `sys_enter_clone` (`CLONE_VM` makes a thread,
//!   sharing the mm) or the TGID column; `sched_process_exit`.
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
//! - The recorded program gets a memcg of its own; `mm_vmscan_{memcg,direct}_reclaim_begin/end` in a traced task
//!   become a model reclaim of as many pages (in that memcg for memcg reclaim).
//!
//! State from before the trace: a fault where the model has no VMA lands in a mapping exec made (the ELF image,
//! the stack); the lowering adds a stand-in VMA, file-backed with the kernel's fault-around window when the
//! fault's filemap records name the file. The user pages exec allocates before `sched_process_exec` have known
//! pfns but unknown addresses; they are placed below `mmap_min_addr`. Each is counted in [`LoweringStats`].

use mmdb_model::consts::*;
use mmdb_model::lru::BatchKind;
use mmdb_model::{Access, Event, FileRef, Model, Op, Pid};
use mmdb_trace::records::{Record, RssMember, SysEnter, Syscall};
use mmdb_trace::{ParsedTrace, TraceLine};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

/// `CLONE_VM`: the child shares the parent's mm.
const CLONE_VM: u64 = 0x100;
/// The migratetype of user pages (`MIGRATE_MOVABLE`); page tables are UNMOVABLE.
const MIGRATE_MOVABLE: i32 = 1;

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
    /// The first mismatches, in trace order.
    pub mismatches: Vec<RssMismatch>,
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

/// The memcg the lowering puts the recorded program in.
const RECORDED_MEMCG: u32 = 1;

/// How many mismatches and divergences are kept in full.
const KEEP: usize = 50;

/// A fault waiting for the allocations that follow it.
#[derive(Debug)]
struct PendingFault {
    addr: u64,
    access: Access,
    line: u32,
    cpu: u32,
    ts_ns: u64,
    /// User pages the kernel allocated for it: (pfn, order).
    allocs: Vec<(u64, u32)>,
    /// The file behind the fault, when `mm_filemap_map_pages` or `mm_filemap_fault` says: (name, first page
    /// index, last page index) of the window the kernel mapped or read.
    file: Option<(String, u64, u64)>,
    /// `rss_stat`s that fired inside the fault (before its last record): compared once the fault is applied.
    rss: Vec<(TraceLine, u32, bool, RssMember, i64)>,
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
    pending_sys: FxHashMap<Pid, SysEnter>,
    /// Return values the model gave for syscalls applied at entry, to compare at exit.
    model_ret: FxHashMap<Pid, (Syscall, i64)>,
    pending_fault: FxHashMap<Pid, PendingFault>,
    clone_flags: FxHashMap<Pid, u64>,
    /// The kernel's break per thread group, learnt from `brk` returns.
    brk: FxHashMap<Pid, u64>,
    /// `rss_stat` `mm_id` hash → a task of that mm.
    mm_ids: FxHashMap<u32, Pid>,
    /// User pages the kernel allocated for a task's new image while it was inside `execve` (before its
    /// `sched_process_exec`): the stack's argument page, copies of the binary's data pages.
    exec_pages: FxHashMap<Pid, Vec<u64>>,
    /// `rss_stat`s of a not-yet-known mm reported while a traced task is inside clone/fork: the child's counters
    /// during `copy_page_range`, compared once the fork is applied.
    fork_rss: FxHashMap<Pid, Vec<(TraceLine, u32, RssMember, i64)>>,
    /// Tasks inside direct or memcg reclaim (true for memcg), with the pfns the kernel freed so far.
    in_reclaim: FxHashMap<Pid, (bool, Vec<u64>)>,
    /// The line of the record being fed, for the log.
    cur_line: u32,
    /// Every model event applied so far with the source line that caused it, when [`Lowerer::keep_log`] asked
    /// for it: re-applying them to a fresh model reproduces the lowering's model exactly (the REPL's time travel
    /// rests on this).
    log: Option<Vec<(u32, Event)>>,
    pub divergences: Vec<Divergence>,
    pub divergence_count: u64,
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
            pending_sys: FxHashMap::default(),
            model_ret: FxHashMap::default(),
            pending_fault: FxHashMap::default(),
            clone_flags: FxHashMap::default(),
            brk: FxHashMap::default(),
            mm_ids: FxHashMap::default(),
            in_reclaim: FxHashMap::default(),
            exec_pages: FxHashMap::default(),
            fork_rss: FxHashMap::default(),
            cur_line: 0,
            log: None,
            divergences: Vec::new(),
            divergence_count: 0,
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
                self.tgid.entry(l.pid).or_insert(t);
            }
        }
    }

    /// Names the recorded task when the `mmdb-record` marker comes from a side file (perf recordings).
    pub fn set_recorded(&mut self, pid: Pid) {
        self.recorded = Some(pid);
    }

    /// Keeps a log of every model event the lowering applies, with its source line (see [`Lowerer::take_log`]).
    pub fn keep_log(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    /// The applied events with their source lines, in order; empty unless [`Lowerer::keep_log`] was called.
    pub fn take_log(&mut self) -> Vec<(u32, Event)> {
        self.log.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// The model, as the lowering has left it.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Finishes pending work (faults whose allocations were the last records) and returns the model.
    pub fn finish(mut self) -> (Model, Lowerer) {
        let pids: Vec<Pid> = self.pending_fault.keys().copied().collect();
        for pid in pids {
            self.flush_fault(pid);
        }
        let model = std::mem::replace(&mut self.model, Model::new(Default::default()));
        (model, self)
    }

    fn diverge(&mut self, line: u32, kind: &'static str, predicted: String, actual: String, cause: &str) {
        self.divergence_count += 1;
        if self.divergences.len() < KEEP {
            self.divergences.push(Divergence { line, kind, predicted, actual, cause: cause.to_string() });
        }
    }

    fn apply(&mut self, pid: Pid, cpu: u32, ts_ns: u64, op: Op) -> mmdb_model::Outcome {
        self.stats.events += 1;
        let ev = Event { comm: String::new(), pid, cpu, ts_ns, op };
        let out = self.model.apply(&ev);
        if let Some(log) = &mut self.log {
            log.push((self.cur_line, ev));
        }
        out
    }

    /// Feeds one record line.
    pub fn feed(&mut self, trace: &ParsedTrace, l: &TraceLine) {
        let pid = l.pid;
        self.cur_line = l.line;
        if let Some(t) = l.tgid {
            self.tgid.entry(pid).or_insert(t);
        }
        // Another task's pending fault is complete once its CPU runs someone else (the kernel finished it before
        // switching). A sibling thread on another CPU may act between a fault and its allocation record, so that
        // alone does not complete it; its rss_stat waits for the fault instead (below).
        let done: Vec<Pid> =
            self.pending_fault.iter().filter(|(p, f)| **p != pid && f.cpu == l.cpu).map(|(p, _)| *p).collect();
        for p in done {
            self.flush_fault(p);
        }
        // A fault collects the user-page allocations of its task until the task does something else.
        if let Some(f) = self.pending_fault.get_mut(&pid) {
            let file =
                |dev: mmdb_trace::records::Dev, ino: u64| format!("dev {}:{} ino {ino:#x}", dev.major, dev.minor);
            match &l.record {
                Record::MmPageAlloc(a) => {
                    if let (Some(pfn), true) = (a.pfn, a.migratetype == MIGRATE_MOVABLE) {
                        f.allocs.push((pfn, a.order));
                    }
                    return;
                }
                Record::MmFilemapMapPages(m) => {
                    f.file = Some((file(m.s_dev, m.i_ino), m.index, m.last_index));
                    return;
                }
                Record::MmFilemapFault(m) => {
                    f.file.get_or_insert((file(m.s_dev, m.i_ino), m.index, m.index));
                    return;
                }
                Record::RssStat(r) => {
                    f.rss.push((l.clone(), r.mm_id, r.curr, r.member, r.size));
                    return;
                }
                _ => self.flush_fault(pid),
            }
        }
        match &l.record {
            Record::TracingMarkWrite { buf } => {
                if let Some(rest) = buf.strip_prefix("mmdb-record pid=") {
                    self.recorded = rest.split_whitespace().next().and_then(|p| p.parse().ok());
                }
            }
            Record::SchedProcessExec(e) => {
                let p = e.pid;
                if self.alive.contains(&p) {
                    self.apply(p, l.cpu, l.ts_ns, Op::Exec { filename: e.filename.clone() });
                } else if Some(p) == self.recorded || Some(e.old_pid) == self.recorded {
                    let comm = e.filename.rsplit('/').next().unwrap_or(&e.filename).chars().take(15).collect();
                    self.apply(p, l.cpu, l.ts_ns, Op::Spawn { comm });
                    // The recorded program and its descendants get a memcg of their own (no limit: the kernel's
                    // reclaim records drive reclaim), so memcg reclaim scans only their pages, as in the kernel.
                    self.apply(p, l.cpu, l.ts_ns, Op::MemcgCreate { id: RECORDED_MEMCG, limit: 0 });
                    self.apply(p, l.cpu, l.ts_ns, Op::MemcgAttach { id: RECORDED_MEMCG });
                    self.alive.insert(p);
                    self.place_exec_pages(p, l);
                    self.tgid.insert(p, p);
                } else {
                    self.stats.ignored += 1;
                }
            }
            Record::SchedProcessFork(f) if self.alive.contains(&f.parent_pid) => {
                let thread = match self.clone_flags.get(&f.parent_pid) {
                    Some(flags) => flags & CLONE_VM != 0,
                    None => self.tgid.get(&f.child_pid).is_some_and(|t| *t != f.child_pid),
                };
                let _ = trace;
                self.apply(f.parent_pid, l.cpu, l.ts_ns, Op::Fork { child: f.child_pid, thread });
                self.alive.insert(f.child_pid);
                self.fork_rss_compare(f.parent_pid, f.child_pid, thread);
                let group = if thread { *self.tgid.get(&f.parent_pid).unwrap_or(&f.parent_pid) } else { f.child_pid };
                self.tgid.entry(f.child_pid).or_insert(group);
            }
            Record::SchedProcessExit(e) if self.alive.contains(&e.pid) => {
                self.apply(e.pid, l.cpu, l.ts_ns, Op::Exit);
                self.alive.remove(&e.pid);
            }
            Record::SysEnter(s) if self.alive.contains(&pid) => self.sys_enter(l, *s),
            Record::SysExit(x) if self.alive.contains(&pid) => self.sys_exit(l, x.syscall, x.ret),
            Record::PageFaultUser(f) if self.alive.contains(&pid) => {
                let access = if f.error_code & 0x2 != 0 {
                    Access::Write
                } else if f.error_code & 0x10 != 0 {
                    Access::Exec
                } else {
                    Access::Read
                };
                let pf = PendingFault {
                    addr: f.address,
                    access,
                    line: l.line,
                    cpu: l.cpu,
                    ts_ns: l.ts_ns,
                    allocs: vec![],
                    file: None,
                    rss: vec![],
                };
                self.pending_fault.insert(pid, pf);
            }
            // Inside the recorded task's execve the new image's first user pages are allocated (pages of the old
            // image are only freed): remember them for the exec.
            Record::MmPageAlloc(a)
                if Some(pid) == self.recorded
                    && !self.alive.contains(&pid)
                    && a.migratetype == MIGRATE_MOVABLE
                    && self.pending_sys.get(&pid).is_some_and(|s| s.syscall() == Syscall::Execve) =>
            {
                if let Some(pfn) = a.pfn {
                    self.exec_pages.entry(pid).or_default().push(pfn);
                }
            }
            Record::SysEnter(s @ SysEnter::Execve { .. }) if Some(pid) == self.recorded => {
                self.exec_pages.remove(&pid);
                self.pending_sys.insert(pid, *s);
            }
            Record::MmPageFree(f) => match self.in_reclaim.get_mut(&pid) {
                Some((_, freed)) => freed.push(f.pfn),
                None => self.page_free(l, f.pfn),
            },
            Record::MmVmscanMemcgReclaimBegin(_) if self.alive.contains(&pid) => {
                self.in_reclaim.insert(pid, (true, Vec::new()));
            }
            Record::MmVmscanDirectReclaimBegin(_) if self.alive.contains(&pid) => {
                self.in_reclaim.insert(pid, (false, Vec::new()));
            }
            Record::MmVmscanMemcgReclaimEnd(e) | Record::MmVmscanDirectReclaimEnd(e) => {
                self.reclaim_end(l, e.nr_reclaimed)
            }
            Record::MmLruInsertion(i) => self.lru_insertion(l, i.pfn),
            Record::RssStat(r) => {
                // While a thread of the same mm is inside a fault, the shared counter already includes that fault:
                // compare once the model has applied it.
                let group = self.tgid.get(&pid).copied().unwrap_or(pid);
                let sibling = self
                    .pending_fault
                    .iter_mut()
                    .find(|(p, _)| self.tgid.get(p).copied().unwrap_or(**p) == group)
                    .map(|(_, f)| f);
                let forking = !r.curr
                    && !self.mm_ids.contains_key(&r.mm_id)
                    && self.alive.contains(&pid)
                    && self.pending_sys.get(&pid).is_some_and(|s| {
                        matches!(s.syscall(), Syscall::Clone | Syscall::Clone3 | Syscall::Fork | Syscall::Vfork)
                    });
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
            SysEnter::Fork | SysEnter::Vfork | SysEnter::Clone3 { .. } => {
                self.clone_flags.remove(&pid);
                None
            }
            _ => None,
        };
        if let Some(op) = op {
            let ret = self.apply(pid, cpu, ts, op).ret.unwrap_or(0);
            self.model_ret.insert(pid, (s.syscall(), ret));
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
                let (p, a) = (format!("{} returns {model}", syscall.name()), format!("the kernel returned {ret}"));
                self.diverge(l.line, "syscall-ret", p, a, "the range held mappings the model did not know");
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

    fn flush_fault(&mut self, pid: Pid) {
        let Some(f) = self.pending_fault.remove(&pid) else { return };
        if !self.alive.contains(&pid) {
            return;
        }
        let fed = std::mem::replace(&mut self.cur_line, f.line);
        if self.model.vma_at(pid, f.addr).is_none() {
            self.stand_in_vma(pid, &f);
        }
        // The kernel allocating a pfn proves it had freed it: if the model still holds it unmapped in a per-CPU
        // batch, that CPU drained where the trace cannot see it (trap 6).
        for &(pfn, _) in &f.allocs {
            if self.model.folio(pfn).is_some_and(|folio| !folio.mapped()) {
                self.drain_batches(pid, f.ts_ns, pfn, None);
            }
        }
        let want = f.allocs.first().map(|a| a.0);
        let out = self.apply(pid, f.cpu, f.ts_ns, Op::Fault { addr: f.addr, access: f.access, pfn: want });
        for (l, mm_id, curr, member, size) in &f.rss {
            self.rss_stat(l, *mm_id, *curr, *member, *size);
        }
        let what = || format!("{} fault at {:#x}", f.access.name(), f.addr);
        match (f.allocs.first(), out.allocated.first()) {
            (Some(&(pfn, order)), None) => self.diverge(
                f.line,
                "fault-alloc-missing",
                format!("{}: no new page (the page is reused or already mapped)", what()),
                format!("the kernel allocated pfn {pfn:#x} (order {order})"),
                "an extra reference (a per-CPU batch, the swap cache) made the kernel copy, or the page predates the trace",
            ),
            (None, Some(&(pfn, _))) => self.diverge(
                f.line,
                "fault-alloc-extra",
                format!("{}: a new page (pfn {pfn:#x})", what()),
                "the kernel allocated no page".to_string(),
                "the page was mapped before the trace began, or the allocation was not traced",
            ),
            _ => {}
        }
        self.cur_line = fed;
    }

    /// The pages exec made for the new image before the trace could follow the program have known pfns but
    /// unknown addresses. They are placed below `mmap_min_addr` (`0x1000..0x10000`), where no program can map
    /// anything, so they count in RSS, are inherited at fork and freed at exit like the real ones, and never
    /// collide with the program's own mappings; the page comparison still counts their true addresses as
    /// pre-trace state.
    fn place_exec_pages(&mut self, pid: Pid, l: &TraceLine) {
        const LOW: u64 = 0x1000;
        let pages = self.exec_pages.remove(&pid).unwrap_or_default();
        let pages: Vec<u64> = pages.into_iter().take(((0x10000 - LOW) / PAGE_SIZE) as usize).collect();
        if pages.is_empty() {
            return;
        }
        let len = pages.len() as u64 * PAGE_SIZE;
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
        self.apply(
            pid,
            l.cpu,
            l.ts_ns,
            Op::Mmap { addr: Some(LOW), len, prot: PROT_READ | PROT_WRITE, flags, file: None },
        );
        for (i, pfn) in pages.into_iter().enumerate() {
            let addr = LOW + i as u64 * PAGE_SIZE;
            self.apply(pid, l.cpu, l.ts_ns, Op::Fault { addr, access: Access::Write, pfn: Some(pfn) });
        }
        self.stats.pre_trace_vmas += 1;
    }

    /// A fault where the model has no VMA lands in a mapping made before the trace began (the ELF image and the
    /// stack, which exec maps without syscalls). The stand-in is file-backed when the fault's filemap records name
    /// the file: the window `mm_filemap_map_pages` reports (from the 64 KiB-aligned block of the fault, at the
    /// window's first page index), so that the model's fault-around maps what the kernel's did; otherwise it is
    /// one anonymous page. Stand-ins never overlap a VMA the model knows.
    fn stand_in_vma(&mut self, pid: Pid, f: &PendingFault) {
        let page = f.addr & !(PAGE_SIZE - 1);
        let vmas = self.model.vmas(pid);
        let gap_lo = vmas.iter().filter(|v| v.end <= page).map(|v| v.end).max().unwrap_or(0);
        let gap_hi = vmas.iter().filter(|v| v.start > page).map(|v| v.start).min().unwrap_or(TASK_SIZE);
        let prot = PROT_READ | PROT_WRITE | PROT_EXEC;
        let op = match &f.file {
            Some((name, first, last)) => {
                // The kernel's window holds the faulting page. It starts at the 16-page block when the VMA did not
                // clip its start; otherwise it starts at the VMA's start and (unless clipped there too) ends at the
                // block's end.
                let len = (last - first + 1) * PAGE_SIZE;
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
                let offset = (first + (start - window) / PAGE_SIZE) * PAGE_SIZE;
                let file = Some(FileRef { name: name.clone(), offset });
                Op::Mmap { addr: Some(start), len: end - start, prot, flags: MAP_PRIVATE | MAP_FIXED, file }
            }
            None => Op::Mmap {
                addr: Some(page),
                len: PAGE_SIZE,
                prot,
                flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                file: None,
            },
        };
        self.apply(pid, f.cpu, f.ts_ns, op);
        self.stats.pre_trace_vmas += 1;
    }

    fn page_free(&mut self, l: &TraceLine, pfn: u64) {
        let Some(info) = self.model.page_info(pfn) else {
            self.stats.ignored += 1; // a page the model never saw (another mm, the kernel, the old image)
            return;
        };
        if info.folio_mapcount > 0 {
            self.diverge(
                l.line,
                "free-mapped",
                format!("pfn {pfn:#x} is mapped (mapcount {})", info.folio_mapcount),
                "the kernel freed it".to_string(),
                "an unmap the trace did not show, or a divergence earlier on",
            );
            return;
        }
        if !self.drain_batches(l.pid, l.ts_ns, pfn, None) {
            self.diverge(
                l.line,
                "free-held",
                format!("pfn {pfn:#x} is unmapped but held (refcount {})", info.refcount),
                "the kernel freed it".to_string(),
                "a reference the model keeps that the kernel dropped",
            );
        }
    }

    /// The end of direct or memcg reclaim in a traced task: the model reclaims as many pages as the kernel did
    /// (`try_to_free_mem_cgroup_pages`, `try_to_free_pages`); kernel frees the model did not make are then treated
    /// like any other `mm_page_free`.
    fn reclaim_end(&mut self, l: &TraceLine, nr_reclaimed: u64) {
        let Some((memcg, freed)) = self.in_reclaim.remove(&l.pid) else {
            self.stats.ignored += 1;
            return;
        };
        let memcg = memcg.then_some(RECORDED_MEMCG);
        let out = self.apply(l.pid, l.cpu, l.ts_ns, Op::Reclaim { nr: nr_reclaimed, memcg });
        let by_model: FxHashSet<u64> = out.freed.iter().map(|f| f.0).collect();
        for pfn in freed {
            if !by_model.contains(&pfn) {
                self.page_free(l, pfn);
            }
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
            self.mm_ids.insert(e.1, child);
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

    /// Drains the CPUs whose per-CPU batches (of `only` that kind, or of any) hold the folio of `pfn`: the
    /// kernel has shown that the folio left its batch. Returns whether any CPU was drained.
    fn drain_batches(&mut self, pid: Pid, ts_ns: u64, pfn: u64, only: Option<BatchKind>) -> bool {
        let Some(head) = self.model.folio_head(pfn) else { return false };
        let mut cpus: Vec<usize> = self
            .model
            .folio_batches(head)
            .into_iter()
            .filter(|(_, k)| only.is_none_or(|o| o == *k))
            .map(|(c, _)| c)
            .collect();
        cpus.dedup();
        for &cpu in &cpus {
            self.apply(pid, cpu as u32, ts_ns, Op::LruAddDrain);
            self.stats.implicit_drains += 1;
        }
        !cpus.is_empty()
    }

    /// `mm_lru_insertion` fires only in `lru_add()`, when an lru_add batch moves: if the model still holds the
    /// folio in a CPU's lru_add batch, that CPU drained where the trace cannot see it, so the model drains it.
    fn lru_insertion(&mut self, l: &TraceLine, pfn: u64) {
        if !self.drain_batches(l.pid, l.ts_ns, pfn, Some(BatchKind::LruAdd)) && self.model.folio_head(pfn).is_none() {
            self.stats.ignored += 1;
        }
    }

    fn rss_stat(&mut self, l: &TraceLine, mm_id: u32, curr: bool, member: RssMember, size: i64) {
        if curr && self.alive.contains(&l.pid) {
            self.mm_ids.insert(mm_id, l.pid);
        }
        let Some(&pid) = self.mm_ids.get(&mm_id) else {
            self.stats.ignored += 1;
            return;
        };
        let Some(r) = self.model.rss(pid) else {
            self.rss.skipped += 1;
            return;
        };
        let model = [r.file, r.anon, r.swapents, r.shmem][member.index()];
        let kernel = size / PAGE_SIZE as i64;
        self.rss.total += 1;
        self.rss.by_member[member.index()].0 += 1;
        if model == kernel {
            self.rss.matched += 1;
            self.rss.by_member[member.index()].1 += 1;
        } else if self.rss.mismatches.len() < KEEP {
            self.rss.mismatches.push(RssMismatch { line: l.line, pid, member: member.name(), kernel, model });
        }
    }
}
