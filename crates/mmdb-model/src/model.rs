//! The `Model`: all state, the single entry point `apply`, page allocation and freeing, history and diagnostics.

use crate::consts::*;
use crate::event::{Event, Op, Pfn, Pid};
use crate::folio::FolioRc;
use crate::folio::{FileId, Folio, FolioMapping, MmId};
use crate::history::{HistoryEntry, PageLog, Snapshot, Touched};
use crate::lru::{CpuBatches, Lruvec};
use crate::memcg::Memcg;
use crate::mm::{MmStruct, Task};
use crate::profile::Profile;
use crate::report::{Diagnostic, DiagnosticLog, Severity};
use crate::swap::SwapDevice;
use crate::vmstat::{VmEvent, VmStat};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// `/sys/kernel/mm/transparent_hugepage/enabled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThpMode {
    Always,
    /// Only in `VM_HUGEPAGE` VMAs (the default on the machines mmdb was measured on).
    Madvise,
    Never,
}

/// Model configuration: the machine's settings that change semantics.
#[derive(Clone, Debug)]
pub struct Config {
    /// Record per-page history (costs memory on long traces).
    pub history: bool,
    /// THP policy for PMD-sized folios.
    pub thp: ThpMode,
    /// `transparent_hugepage/use_zero_page`.
    pub thp_use_zero_page: bool,
    /// The pfns of the pages come from a real trace: pages the trace did not show being allocated (the page
    /// cache before the trace, say) get pfns from [`SYNTHETIC_PFN_BASE`] up, never reused, so they cannot collide
    /// with pfns the kernel hands out later.
    pub trace_pfns: bool,
    /// The kernel profile whose semantics the model follows ([`Profile::Linux618`] by default).
    pub profile: Profile,
    /// `totalram_pages()`: the machine's memory, in pages ([`DEFAULT_TOTALRAM_PAGES`] by default). Pages the model
    /// allocates on its own beyond it are reclaimed for, then refused after an OOM kill; pages a trace shows
    /// being allocated are not refused.
    pub totalram_pages: u64,
}

/// 4 GiB: enough for any scenario, and a bound on the model's own memory (about 1.4 KiB per page with history).
pub const DEFAULT_TOTALRAM_PAGES: u64 = (4 << 30) / PAGE_SIZE;

impl Default for Config {
    fn default() -> Self {
        Config {
            history: true,
            thp: ThpMode::Madvise,
            thp_use_zero_page: true,
            trace_pfns: false,
            profile: Profile::Linux618,
            totalram_pages: DEFAULT_TOTALRAM_PAGES,
        }
    }
}

/// What one applied event returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The syscall's return value where the operation is a syscall (`mmap` address, 0, or `-errno`).
    pub ret: Option<i64>,
    /// The folios the event allocated, as (head pfn, order), in order: what `kmem:mm_page_alloc` would show.
    pub allocated: Vec<(Pfn, u32)>,
    /// The folios the event freed, as (head pfn, order), in order: what `kmem:mm_page_free` would show.
    pub freed: Vec<(Pfn, u32)>,
}

/// A free list of pfns: a stack (last freed, first reused, like the per-CPU page lists) kept in chunks of
/// [`FreeList::CHUNK`] pfns, each shared copy-on-write between clones of the model (time-travel checkpoints).
/// Only the last chunk changes as pfns come and go, so a clone costs one pointer per chunk, not a copy of a list
/// that may hold millions of pfns.
#[derive(Clone, Debug, Default)]
pub(crate) struct FreeList {
    /// Every chunk is full but the last, which is never empty.
    chunks: Vec<Arc<Vec<Pfn>>>,
}

impl FreeList {
    /// Pfns per chunk.
    pub(crate) const CHUNK: usize = 4096;

    /// Puts a pfn on top.
    pub(crate) fn push(&mut self, pfn: Pfn) {
        match self.chunks.last_mut() {
            Some(top) if top.len() < Self::CHUNK => Arc::make_mut(top).push(pfn),
            _ => {
                let mut top = Vec::with_capacity(Self::CHUNK);
                top.push(pfn);
                self.chunks.push(Arc::new(top));
            }
        }
    }

    /// Takes the pfn on top.
    pub(crate) fn pop(&mut self) -> Option<Pfn> {
        let top = self.chunks.last_mut()?;
        let pfn = Arc::make_mut(top).pop();
        if top.is_empty() {
            self.chunks.pop();
        }
        pfn
    }

    /// The chunks, bottom first (for [`Model::footprint_since`]).
    pub(crate) fn chunks(&self) -> &[Arc<Vec<Pfn>>] {
        &self.chunks
    }
}

/// A file or shmem object: its page cache.
#[derive(Clone, Debug, Default)]
pub struct FileObj {
    pub name: String,
    pub shmem: bool,
    /// Page index → pfn of the page-cache folio.
    pub pages: BTreeMap<u64, Pfn>,
    /// Page index → the content writeback last wrote to the file (`Page::content`); pages never written read 0.
    pub data: BTreeMap<u64, u64>,
    /// The object has no name in any directory (the shmem object of a `MAP_SHARED | MAP_ANONYMOUS` mapping,
    /// `shmem_zero_setup()`): it lives only as long as a mapping refers to it.
    pub unlinked: bool,
    /// Page indexes the trace showed not to be in the page cache, where the model holds no folio (filemap.rs,
    /// [`Op::PageCache`]); every other page of a regular file is taken to be cached.
    pub uncached: crate::filemap::PageRanges,
    /// Cached page indexes whose folio carries `PG_readahead` (the async-readahead mark), as the trace showed
    /// them: fault-around skips them, a fault on the page itself clears the mark (filemap.rs).
    pub readahead: crate::filemap::PageRanges,
    /// Page index → the page frame and kpageflags the trace gave for a page cached before the trace
    /// ([`Op::PageCacheFrame`]), until the model takes the page (filemap.rs).
    pub frames: BTreeMap<u64, (Pfn, u64)>,
}

/// The kernel model. See the crate documentation.
#[derive(Clone, Debug)]
pub struct Model {
    pub(crate) cfg: Config,
    pub(crate) tasks: BTreeMap<Pid, Task>,
    pub(crate) mms: BTreeMap<MmId, MmStruct>,
    pub(crate) next_mm_id: MmId,
    pub(crate) next_anon_vma: u32,
    /// The folios, each shared copy-on-write between clones of the model (time-travel checkpoints): writers go
    /// through [`Model::folio_mut`] (`Arc::make_mut`), so a clone costs the table, not the folios.
    pub(crate) folios: FxHashMap<Pfn, FolioRc<Folio>>,
    pub(crate) tails: FxHashMap<Pfn, Pfn>,
    /// The order-0 free list (the per-CPU page lists, LIFO). It only grows on a churning trace (split THPs are
    /// freed a page at a time), so it is kept in chunks shared between clones ([`FreeList`]).
    pub(crate) free_order0: FreeList,
    /// Kernel pages (kmem, balloon, and the free pages they became), by head pfn (`kmem.rs`).
    pub(crate) kpages: BTreeMap<Pfn, crate::kmem::KernelPage>,
    /// The LRU of volatile ranges (`vrange.rs`), oldest first, as (mm, range start).
    pub(crate) vrange_lru: std::collections::VecDeque<(MmId, u64)>,
    pub(crate) free_huge: FreeList,
    next_pfn: Pfn,
    pub(crate) lruvecs: BTreeMap<u32, Lruvec>,
    pub(crate) cpus: Vec<CpuBatches>,
    pub(crate) memcgs: BTreeMap<u32, Memcg>,
    pub(crate) swap: Option<SwapDevice>,
    pub(crate) files: Vec<FileObj>,
    pub(crate) huge_zero: Option<Pfn>,
    pub(crate) deferred_split: BTreeSet<Pfn>,
    pub(crate) vmstat: VmStat,
    pub(crate) diagnostics: DiagnosticLog,
    /// Every page's changes, when `cfg.history` records them; shared with clones (see [`Model::pack`]).
    history: Arc<PageLog>,
    /// Allocations and frees of the event being applied, returned in its [`Outcome`].
    pub(crate) allocated: Vec<(Pfn, u32)>,
    pub(crate) freed: Vec<(Pfn, u32)>,
    /// The folios the event being applied has changed, with their state before it (history only).
    pending: Touched,
    /// Room for one folio's changes, kept from event to event.
    changes: Vec<(Pfn, crate::history::Field, i64, i64)>,
    pub(crate) events: u64,
    pub(crate) ev_ts: u64,
    pub(crate) cur_pid: Pid,
    pub(crate) cur_cpu: usize,
    pub(crate) cur_op: &'static str,
    /// The virtual address the current operation is working on, for history.
    pub(crate) ctx_addr: Option<u64>,
    /// The fault-around window the trace gave the fault being applied (`Op::Fault::around`).
    pub(crate) fault_around: Option<(u64, u64)>,
}

impl Default for Model {
    fn default() -> Self {
        Model::new(Config::default())
    }
}

impl Model {
    /// A fresh machine: no processes, no memory in use, the root memcg, no swap.
    pub fn new(cfg: Config) -> Model {
        let mut lruvecs = BTreeMap::new();
        lruvecs.insert(0, Lruvec::default());
        let mut memcgs = BTreeMap::new();
        memcgs.insert(0, Memcg::new(0, 0));
        Model {
            cfg,
            tasks: BTreeMap::new(),
            mms: BTreeMap::new(),
            next_mm_id: 1,
            next_anon_vma: 1,
            folios: FxHashMap::default(),
            tails: FxHashMap::default(),
            free_order0: FreeList::default(),
            kpages: BTreeMap::new(),
            vrange_lru: Default::default(),
            free_huge: FreeList::default(),
            next_pfn: FIRST_PFN,
            lruvecs,
            cpus: Vec::new(),
            memcgs,
            swap: None,
            files: Vec::new(),
            huge_zero: None,
            deferred_split: BTreeSet::new(),
            vmstat: VmStat::default(),
            diagnostics: DiagnosticLog::default(),
            history: crate::history::empty_log(),
            allocated: Vec::new(),
            freed: Vec::new(),
            pending: Touched::default(),
            changes: Vec::new(),
            events: 0,
            ev_ts: 0,
            cur_pid: 0,
            cur_cpu: 0,
            cur_op: "",
            ctx_addr: None,
            fault_around: None,
        }
    }

    /// The configuration the model runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Applies one event: the only way model state changes.
    pub fn apply(&mut self, ev: &Event) -> Outcome {
        self.ev_ts = ev.ts_ns;
        self.cur_pid = ev.pid;
        self.cur_cpu = ev.cpu as usize;
        self.cur_op = ev.op.name();
        self.ctx_addr = None;
        if ev.cpu >= NR_CPUS {
            // No such CPU: its per-CPU batches would not exist either (and would cost memory per CPU number).
            let msg = format!("{} by pid {} on CPU {}: there are at most {NR_CPUS} CPUs", ev.op.name(), ev.pid, ev.cpu);
            self.diag(Severity::Warning, "no-cpu", msg);
            self.events += 1;
            return Outcome::default();
        }
        while self.cpus.len() <= self.cur_cpu {
            self.cpus.push(CpuBatches::default());
        }
        let ret = self.dispatch(ev);
        if let Some(r) = ret.filter(|r| *r < 0) {
            // A failed syscall is worth seeing in the report; unknown pids were already reported.
            if r != -ESRCH {
                let msg = format!("{} by pid {} returned -{}", ev.op.name(), ev.pid, errno_name(-r));
                self.diag(Severity::Info, "syscall-error", msg);
            }
        }
        self.flush_history();
        self.events += 1;
        Outcome { ret, allocated: std::mem::take(&mut self.allocated), freed: std::mem::take(&mut self.freed) }
    }

    /// Routes an event to the operation that mirrors it; returns the syscall's value, if it is one.
    fn dispatch(&mut self, ev: &Event) -> Option<i64> {
        let pid = ev.pid;
        if !matches!(
            ev.op,
            Op::Spawn { .. }
                | Op::LruAddDrain
                | Op::LruAddDrainAll
                | Op::FolioBatchMove { .. }
                | Op::Reclaim { .. }
                | Op::ShrinkFolio { .. }
                | Op::KmemGet { .. }
                | Op::KmemFree { .. }
                | Op::FolioGet { .. }
                | Op::FolioPut { .. }
                | Op::BalloonDeflate { .. }
                | Op::PageCache { .. }
                | Op::PageCacheFrame { .. }
        ) && !matches!(ev.op, Op::MemcgCreate { .. } | Op::Swapon { .. })
            && !self.tasks.contains_key(&pid)
        {
            self.diag(
                Severity::Warning,
                "unknown-pid",
                format!("{} by pid {pid}, which the model has not seen", ev.op.name()),
            );
            return Some(-ESRCH);
        }
        match &ev.op {
            Op::Spawn { comm } => self.spawn(pid, comm),
            Op::Fork { child, thread } => self.fork(pid, *child, *thread, *thread, &ev.comm),
            Op::Vfork { child } => self.fork(pid, *child, false, true, &ev.comm),
            Op::Exec { filename } => self.exec(pid, filename),
            Op::Rename { comm } => {
                self.set_task_comm(pid, comm);
                None
            }
            Op::Exit => {
                self.do_exit(pid);
                None
            }
            Op::Mmap { addr, len, prot, flags, file } => {
                Some(self.do_mmap(pid, *addr, *len, *prot, *flags, file.as_ref()))
            }
            Op::Munmap { addr, len } => Some(self.do_munmap_syscall(pid, *addr, *len)),
            Op::Mprotect { addr, len, prot } => Some(self.do_mprotect(pid, *addr, *len, *prot)),
            Op::Mremap { addr, old_len, new_len, flags, new_addr } => {
                Some(self.do_mremap(pid, *addr, *old_len, *new_len, *flags, *new_addr))
            }
            Op::Brk { brk } => Some(self.do_brk(pid, *brk)),
            Op::Fault { addr, access, pfn, around } => {
                self.fault_around = *around;
                self.user_fault(pid, *addr, *access, *pfn);
                self.fault_around = None;
                None
            }
            Op::Touch { addr, access } => {
                self.user_touch(pid, *addr, *access);
                None
            }
            Op::Store { addr, value } => {
                self.user_store(pid, *addr, *value);
                None
            }
            Op::Gup { addr, write } => Some(self.gup_one(pid, *addr, *write)),
            Op::Madvise { addr, len, advice } => Some(self.do_madvise(pid, *addr, *len, *advice)),
            Op::Mlock { addr, len } => Some(self.do_mlock(pid, *addr, *len, true)),
            Op::Munlock { addr, len } => Some(self.do_mlock(pid, *addr, *len, false)),
            Op::LruAddDrain => {
                self.lru_add_drain_cpu(self.cur_cpu);
                None
            }
            Op::LruAddDrainAll => {
                self.lru_add_drain_all();
                None
            }
            Op::FolioBatchMove { batch } => {
                self.folio_batch_move(self.cur_cpu, *batch);
                None
            }
            Op::Reclaim { nr, memcg } => match memcg {
                Some(id) if !self.memcgs.contains_key(id) => Some(-EINVAL),
                _ => Some(self.try_to_free_pages(*nr, *memcg) as i64),
            },
            Op::ShrinkFolio { pfn } => Some(self.shrink_one_folio(*pfn)),
            Op::MemcgCreate { id, limit } => Some(self.memcg_create(*id, *limit)),
            Op::MemcgAttach { id } => Some(self.memcg_attach(pid, *id)),
            Op::Swapon { size } => Some(self.swapon(*size)),
            Op::KmemAlloc { order, account } => Some(self.kmem_alloc(pid, *order, *account)),
            Op::KmemGet { pfn } => Some(self.kmem_get(*pfn)),
            Op::FolioGet { pfn } => Some(self.folio_get_op(*pfn)),
            Op::FolioPut { pfn } => Some(self.folio_put_op(*pfn)),
            Op::KmemFree { pfn, via } => Some(self.kmem_put(*pfn, *via)),
            Op::BalloonInflate { account } => Some(self.balloon_inflate(pid, *account)),
            Op::BalloonDeflate { pfn } => Some(self.balloon_deflate(*pfn)),
            Op::Vrange { addr, len, mode, behavior } => Some(self.sys_vrange(pid, *addr, *len, *mode, *behavior)),
            Op::PageCache { file, index, pages, cached, readahead } => {
                self.page_cache_state(file, *index, *pages, *cached, *readahead);
                None
            }
            Op::PageCacheFrame { file, index, pfn, kflags } => {
                self.page_cache_frame(file, *index, *pfn, *kflags);
                None
            }
        }
    }

    // ---- diagnostics ------------------------------------------------------------------------------------

    /// Records a diagnostic against the event being applied.
    pub(crate) fn diag(&mut self, severity: Severity, kind: &str, message: String) {
        self.diagnostics.push(Diagnostic { event: self.events, severity, kind: kind.to_string(), message });
    }

    /// Every diagnostic so far.
    pub fn diagnostics(&self) -> &DiagnosticLog {
        &self.diagnostics
    }

    /// How many events have been applied.
    pub fn events_applied(&self) -> u64 {
        self.events
    }

    /// `count_vm_events()`.
    #[inline]
    pub(crate) fn count(&mut self, e: VmEvent, n: u64) {
        self.vmstat.count(e, n);
    }

    /// Every vm event counter (`/proc/vmstat`'s event part).
    pub fn vmstat(&self) -> &crate::vmstat::VmStat {
        &self.vmstat
    }

    /// The value of a vm event counter.
    pub fn vm_event(&self, e: VmEvent) -> u64 {
        self.vmstat.get(e)
    }

    // ---- folio access -----------------------------------------------------------------------------------

    /// The head pfn of the folio containing `pfn`.
    #[inline]
    pub fn folio_head(&self, pfn: Pfn) -> Option<Pfn> {
        if self.folios.contains_key(&pfn) {
            Some(pfn)
        } else {
            self.tails.get(&pfn).copied()
        }
    }

    /// The folio containing `pfn` (`page_folio(pfn_to_page(pfn))`), if allocated.
    pub fn folio(&self, pfn: Pfn) -> Option<&Folio> {
        self.folio_head(pfn).and_then(|h| self.folios.get(&h)).map(|f| &**f)
    }

    /// Every mutation of a folio goes through here, so that history sees it.
    pub(crate) fn folio_mut(&mut self, head: Pfn) -> &mut Folio {
        self.touch(head);
        FolioRc::make_mut(self.folios.get_mut(&head).expect("folio_mut on a pfn that is not a folio head: model bug"))
    }

    /// Snapshots a folio for history the first time the current event touches it.
    pub(crate) fn touch(&mut self, head: Pfn) {
        if self.cfg.history && !self.pending.contains(head) {
            let snap = Snapshot::of(self.folios.get(&head).map(|f| &**f), head);
            self.pending.insert(head, snap, self.ctx_addr);
        }
    }

    /// One page's `_mapcount` and `PG_anon_exclusive`, wherever its folio is now ((-1, false) when free).
    fn page_state(&self, pfn: Pfn) -> (i32, bool) {
        match self.folio_head(pfn).and_then(|h| self.folios.get(&h).map(|f| (h, f))) {
            Some((h, f)) => {
                let p = f.pages[(pfn - h) as usize];
                (p.mapcount, p.anon_exclusive)
            }
            None => (-1, false),
        }
    }

    /// Diffs every snapshot of this event against the folio's new state and appends the changes to history.
    fn flush_history(&mut self) {
        if !self.cfg.history {
            return;
        }
        let log = Arc::make_mut(&mut self.history);
        log.record_event(self.events, self.ev_ts, self.cur_pid, self.cur_op);
        if self.pending.is_empty() {
            return;
        }
        let mut pending = self.pending.take();
        let mut changes = std::mem::take(&mut self.changes);
        for (head, before, addr) in pending.drain(..) {
            let mut after = Snapshot::of(self.folios.get(&head).map(|f| &**f), head);
            if !after.alive || after.mapcounts.len() < before.mapcounts.len() {
                // Pages moved to other folios (split) or were freed: read each page where it is now.
                let n = before.mapcounts.len().max(after.mapcounts.len());
                after.mapcounts = (0..n).map(|i| self.page_state(head + i as u64).0).collect();
                after.exclusive = (0..n).map(|i| self.page_state(head + i as u64).1).collect();
            }
            changes.clear();
            Snapshot::diff(&before, &after, &mut changes);
            Arc::make_mut(&mut self.history).record_changes(self.events, addr, &changes);
        }
        self.pending.give_back(pending);
        self.changes = changes;
    }

    /// The history of one page up to the model's position: its own changes and, for a page of a large folio,
    /// the folio's (head) changes.
    pub fn page_history(&self, pfn: Pfn) -> Vec<HistoryEntry> {
        self.history.page_history(pfn, self.folio_head(pfn), self.events)
    }

    /// Starts or stops recording per-page history (`Config::history`) from the next event on.
    pub fn record_history(&mut self, on: bool) {
        self.cfg.history = on;
    }

    /// The per-page history log, shared.
    pub fn history_log(&self) -> &Arc<PageLog> {
        &self.history
    }

    /// Gives the model a history log to read (recorded by another model of the same events, further on
    /// perhaps): [`Model::page_history`] shows what it holds up to this model's position.
    pub fn set_history_log(&mut self, log: Arc<PageLog>) {
        self.history = log;
    }

    // ---- page allocator ---------------------------------------------------------------------------------

    /// Allocates a folio (`__alloc_pages` → `mm_page_alloc`). `want` is the pfn the trace says the kernel
    /// handed out; without it the model's allocator picks (order-0 frees are reused LIFO, like the per-CPU
    /// page lists). The folio starts with refcount 1, charged to nobody.
    pub(crate) fn alloc_folio(&mut self, order: u32, want: Option<Pfn>, mapping: FolioMapping, memcg: u32) -> Pfn {
        let nr = 1u64 << order;
        let pfn = match want {
            Some(p) if p % nr != 0 || p.checked_add(nr).is_none_or(|end| end > MAX_PFN) => {
                self.diag(
                    Severity::Warning,
                    "pfn-invalid",
                    format!("the trace allocates pfn {p:#x} for an order-{order} folio, which no machine has; using another pfn"),
                );
                self.pick_pfn(order)
            }
            Some(p) if self.range_is_free(p, nr) => p,
            Some(p) => {
                // Lost frees make this one of the commonest diagnostics of a long capture: its message is built
                // without the formatting machinery.
                self.diag(Severity::Warning, "pfn-in-use", pfn_in_use_message(p));
                self.pick_pfn(order)
            }
            None => self.pick_pfn(order),
        };
        self.kpages_reused(pfn, nr);
        let mut f = Folio::new(pfn, order, mapping, memcg);
        f.refcount = 0;
        self.touch(pfn);
        self.folios.insert(pfn, FolioRc::new(f));
        for i in 1..nr {
            self.tails.insert(pfn + i, pfn);
        }
        self.count(VmEvent::PGALLOC, nr);
        self.allocated.push((pfn, order));
        pfn
    }

    /// True when no folio holds any of the `nr` pfns from `pfn` (and it is not the zero page).
    fn range_is_free(&self, pfn: Pfn, nr: u64) -> bool {
        (0..nr).all(|i| self.folio_head(pfn + i).is_none() && !self.kpage_busy(pfn + i)) && pfn != ZERO_PFN
    }

    /// A block for a kernel page: the model allocator's choice, taking it from the free kernel pages there.
    pub(crate) fn kernel_pick_pfn(&mut self, order: u32) -> Pfn {
        let pfn = self.pick_pfn(order);
        self.kpages_reused(pfn, 1 << order);
        pfn
    }

    /// The model allocator's choice: the last freed block of this order (per-CPU lists are LIFO), else fresh
    /// naturally aligned pfns.
    fn pick_pfn(&mut self, order: u32) -> Pfn {
        if self.cfg.trace_pfns {
            let nr = 1u64 << order;
            let base = self.next_pfn.max(SYNTHETIC_PFN_BASE);
            let p = (base + nr - 1) & !(nr - 1);
            self.next_pfn = p + nr;
            return p;
        }
        if order == 0 {
            while let Some(p) = self.free_order0.pop() {
                if self.range_is_free(p, 1) {
                    return p;
                }
            }
        } else if order == HPAGE_PMD_ORDER {
            while let Some(p) = self.free_huge.pop() {
                if self.range_is_free(p, HPAGE_PMD_NR) {
                    return p;
                }
            }
        }
        let nr = 1u64 << order;
        loop {
            let p = (self.next_pfn + nr - 1) & !(nr - 1);
            self.next_pfn = p + nr;
            if self.range_is_free(p, nr) {
                return p;
            }
        }
    }

    /// Drops `n` references to a folio (`folio_put`/`folio_put_refs`); frees it at zero.
    pub(crate) fn folio_put_refs(&mut self, head: Pfn, n: i32) {
        let f = self.folio_mut(head);
        f.refcount -= n;
        if f.refcount <= 0 {
            self.free_folio(head);
        }
    }

    /// Frees a folio whose refcount reached zero: `__folio_put` → `__page_cache_release` (off the LRU) →
    /// memcg uncharge → `free_pages_prepare` (`mm_page_free`, PGFREE) → back to the free lists.
    pub(crate) fn free_folio(&mut self, head: Pfn) {
        self.touch(head);
        if self.folios.get(&head).is_some_and(|f| f.lru.is_some()) {
            self.lruvec_del_folio(head);
        }
        let Some(f) = self.folios.remove(&head) else {
            return;
        };
        let nr = f.nr_pages();
        for i in 1..nr {
            self.tails.remove(&(head + i));
        }
        self.deferred_split.remove(&head);
        self.memcg_uncharge(f.memcg, nr);
        self.count(VmEvent::PGFREE, nr);
        self.freed.push((head, f.order));
        match f.order {
            0 => self.free_order0.push(head),
            HPAGE_PMD_ORDER => self.free_huge.push(head),
            _ => {}
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------------

    /// The mm a task runs in.
    pub(crate) fn task_mm(&self, pid: Pid) -> Option<MmId> {
        self.tasks.get(&pid).and_then(|t| t.mm)
    }

    /// An mm by id; every id the model hands out names a live mm.
    pub(crate) fn mm(&self, id: MmId) -> &MmStruct {
        self.mms.get(&id).expect("mm id without mm_struct: model bug")
    }

    /// An mm by id, mutable.
    pub(crate) fn mm_mut(&mut self, id: MmId) -> &mut MmStruct {
        self.mms.get_mut(&id).expect("mm id without mm_struct: model bug")
    }

    /// `add_mm_counter()`.
    pub(crate) fn add_mm_counter(&mut self, mm: MmId, member: usize, n: i64) {
        self.mm_mut(mm).rss[member] += n;
    }

    /// `mm_counter(folio)`: the RSS counter a folio's pages are accounted in.
    pub(crate) fn mm_counter(&self, head: Pfn) -> usize {
        match self.folios.get(&head).map(|f| f.mapping) {
            Some(FolioMapping::Anon) | None => crate::mm::MM_ANONPAGES,
            Some(FolioMapping::File { .. }) => crate::mm::MM_FILEPAGES,
            Some(FolioMapping::Shmem { .. }) => crate::mm::MM_SHMEMPAGES,
        }
    }

    /// The file (or shmem object) called `name`, created on first use.
    pub(crate) fn file_id(&mut self, name: &str, shmem: bool) -> FileId {
        if let Some(i) = self.files.iter().position(|f| f.name == name) {
            return i as FileId;
        }
        let (pages, data) = (BTreeMap::new(), BTreeMap::new());
        self.files.push(FileObj {
            name: name.to_string(),
            shmem,
            pages,
            data,
            unlinked: false,
            uncached: Default::default(),
            readahead: Default::default(),
            frames: BTreeMap::new(),
        });
        (self.files.len() - 1) as FileId
    }

    /// Tasks, by pid.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    /// A task by pid.
    pub fn task(&self, pid: Pid) -> Option<&Task> {
        self.tasks.get(&pid)
    }

    /// An mm_struct by id.
    pub fn mm_struct(&self, id: MmId) -> Option<&MmStruct> {
        self.mms.get(&id)
    }

    /// The content of the page at `pfn` (`Page::content`): 0 for the zero pages, `None` when no folio holds it.
    pub fn page_content(&self, pfn: Pfn) -> Option<u64> {
        if pfn == ZERO_PFN {
            return Some(0);
        }
        let head = self.folio_head(pfn)?;
        self.folios.get(&head).map(|f| f.pages[(pfn - head) as usize].content)
    }

    /// What a user load from `vaddr` of `pid` reads without faulting: the content of the page its PTE (or PMD)
    /// maps; `None` when nothing is mapped there (a load would fault first).
    pub fn load(&self, pid: Pid, vaddr: u64) -> Option<u64> {
        match self.lookup(pid, vaddr)? {
            crate::mm::Pte::Present(p) if p.special => Some(0),
            crate::mm::Pte::Present(p) => self.page_content(p.pfn),
            _ => None,
        }
    }

    /// Every live folio, in pfn order.
    pub fn folios_sorted(&self) -> Vec<&Folio> {
        let mut v: Vec<&Folio> = self.folios.values().map(|f| &**f).collect();
        v.sort_unstable_by_key(|f| f.pfn);
        v
    }
}

/// `format!("the trace allocates pfn {pfn:#x}, which the model still holds; using another pfn")`, sooner.
fn pfn_in_use_message(pfn: Pfn) -> String {
    const HEAD: &str = "the trace allocates pfn 0x";
    const TAIL: &str = ", which the model still holds; using another pfn";
    let mut s = String::with_capacity(HEAD.len() + 16 + TAIL.len());
    s.push_str(HEAD);
    let digits = (64 - pfn.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        s.push(char::from(b"0123456789abcdef"[(pfn >> (4 * i) & 0xf) as usize]));
    }
    s.push_str(TAIL);
    s
}

/// A model packed into a few bytes per folio and per PTE, for time-travel checkpoints that must be many and small:
/// a clone shares unchanged folios and PTE tables with the model it came from, but a churning trace changes most
/// of them within a few thousand events, and a clone then costs as much as the model.
///
/// [`PackedModel::unpack`] gives back a model equal to the packed one in every respect the model's behaviour and
/// output can depend on: the folio table is rebuilt in its exact hash layout (so it iterates in the same order),
/// each folio and PTE table field for field; only the capacities of vectors, and the layout of the tail-page table
/// (which is only ever looked up, never iterated), may differ. The unpacked model shares nothing with the packed
/// one but the free lists' chunks. Unpacking costs about as much as replaying a couple of thousand events.
#[derive(Clone, Debug)]
pub struct PackedModel {
    /// The model without its PTE tables and tail pages, each folio replaced by `placeholder`: a clone of the folio
    /// table keeps its layout, so unpacking fills the same slots in the same order.
    pub(crate) rest: Model,
    /// The folios in the table's order, then each mm's PTE tables ([`Folio::pack`], `mm::pack_table`).
    pub(crate) data: Vec<u8>,
    /// The capacity of the tail-page table, restored so that it grows as the original would.
    tails_capacity: usize,
}

impl Model {
    /// Packs the model into a [`PackedModel`], which [`PackedModel::unpack`] turns back into an equal model,
    /// with one exception: a packed model records no history and holds none. A packed model is a checkpoint to
    /// navigate from; the history of the whole trace is the one log the recording model built
    /// ([`Model::history_log`]), which any model can be given to read ([`Model::set_history_log`]).
    pub fn pack(&self) -> PackedModel {
        let placeholder = FolioRc::new(Folio::new(0, 0, FolioMapping::Anon, 0));
        let mut data = Vec::new();
        // The clone keeps the table's layout; each folio's place is then taken by the placeholder.
        let mut folios = self.folios.clone();
        for f in folios.values_mut() {
            f.pack(&mut data);
            *f = FolioRc::clone(&placeholder);
        }
        let mut mms = self.mms.clone();
        for mm in mms.values_mut() {
            let tables = mm.pmds.values().filter(|p| matches!(p, crate::mm::Pmd::Table(_))).count();
            crate::folio::varint::put(&mut data, tables as u64);
            for (idx, pmd) in &mm.pmds {
                if let crate::mm::Pmd::Table(t) = pmd {
                    crate::folio::varint::put(&mut data, *idx);
                    crate::mm::pack_table(t, &mut data);
                }
            }
            mm.pmds.retain(|_, p| !matches!(p, crate::mm::Pmd::Table(_)));
        }
        data.shrink_to_fit();
        // Every field by name, so that a new one cannot be forgotten here.
        let rest = Model {
            cfg: Config { history: false, ..self.cfg.clone() },
            tasks: self.tasks.clone(),
            mms,
            next_mm_id: self.next_mm_id,
            next_anon_vma: self.next_anon_vma,
            folios,
            tails: FxHashMap::default(),
            free_order0: self.free_order0.clone(),
            kpages: self.kpages.clone(),
            vrange_lru: self.vrange_lru.clone(),
            free_huge: self.free_huge.clone(),
            next_pfn: self.next_pfn,
            lruvecs: self.lruvecs.clone(),
            cpus: self.cpus.clone(),
            memcgs: self.memcgs.clone(),
            swap: self.swap.clone(),
            files: self.files.clone(),
            huge_zero: self.huge_zero,
            deferred_split: self.deferred_split.clone(),
            vmstat: self.vmstat.clone(),
            diagnostics: self.diagnostics.clone(),
            history: crate::history::empty_log(),
            allocated: self.allocated.clone(),
            freed: self.freed.clone(),
            pending: self.pending.clone(),
            changes: Vec::new(),
            events: self.events,
            ev_ts: self.ev_ts,
            cur_pid: self.cur_pid,
            cur_cpu: self.cur_cpu,
            cur_op: self.cur_op,
            ctx_addr: self.ctx_addr,
            fault_around: self.fault_around,
        };
        PackedModel { rest, data, tails_capacity: self.tails.capacity() }
    }
}

impl PackedModel {
    /// The model that was packed.
    pub fn unpack(&self) -> Model {
        let mut m = self.rest.clone();
        let mut input = &self.data[..];
        for f in m.folios.values_mut() {
            *f = FolioRc::new(Folio::unpack(&mut input));
        }
        let mut tails = FxHashMap::with_capacity_and_hasher(self.tails_capacity, Default::default());
        for f in m.folios.values().filter(|f| f.is_large()) {
            for i in 1..f.nr_pages() {
                tails.insert(f.pfn + i, f.pfn);
            }
        }
        m.tails = tails;
        for mm in m.mms.values_mut() {
            for _ in 0..crate::folio::varint::get(&mut input) {
                let idx = crate::folio::varint::get(&mut input);
                mm.pmds.insert(idx, crate::mm::Pmd::Table(crate::mm::unpack_table(&mut input)));
            }
        }
        debug_assert!(input.is_empty(), "packed model has bytes left over: model bug");
        m
    }

    /// How many events the packed model had applied.
    pub fn events_applied(&self) -> u64 {
        self.rest.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Access, FileRef};

    /// Everything the model holds, as text; the tail-page table (never iterated) sorted.
    fn state(m: &Model) -> String {
        let mut m = m.clone();
        let mut tails: Vec<(Pfn, Pfn)> = std::mem::take(&mut m.tails).into_iter().collect();
        tails.sort_unstable();
        format!("{m:?}\n{tails:?}")
    }

    /// A scenario that makes every kind of folio and PTE: THPs (PMD- and PTE-mapped, split), COW after fork,
    /// page cache, swap entries, lazy-free folios, stored contents, two mms; as (pid, operation).
    fn scenario() -> Vec<(Pid, Op)> {
        let anon = MAP_PRIVATE | MAP_ANONYMOUS;
        let rw = PROT_READ | PROT_WRITE;
        let base = 0x7f00_0000_0000u64;
        let file = base + (16 << 20);
        let mut ops = vec![
            (1, Op::Swapon { size: 64 << 20 }),
            (1, Op::Spawn { comm: "a".into() }),
            (1, Op::Mmap { addr: Some(base), len: 8 << 20, prot: rw, flags: anon | MAP_FIXED, file: None }),
            (1, Op::Madvise { addr: base, len: 4 << 20, advice: MADV_HUGEPAGE }),
            (
                1,
                Op::Mmap {
                    addr: Some(file),
                    len: 64 * PAGE_SIZE,
                    prot: PROT_READ,
                    flags: MAP_PRIVATE | MAP_FIXED,
                    file: Some(FileRef { name: "/lib/x.so".into(), offset: 0 }),
                },
            ),
        ];
        let fault = |addr, write: bool| Op::Fault {
            addr,
            access: if write { Access::Write } else { Access::Read },
            pfn: None,
            around: None,
        };
        for i in 0..1100u64 {
            let addr = base + (i * 7919 % 2048) * PAGE_SIZE;
            ops.push((1, fault(addr, i % 3 != 0)));
            if i % 5 == 0 {
                ops.push((1, Op::Store { addr, value: i }));
            }
            if i % 17 == 0 {
                ops.push((1, fault(file + (i % 64) * PAGE_SIZE, false)));
            }
        }
        ops.push((1, Op::LruAddDrainAll));
        ops.push((1, Op::Madvise { addr: base + (7 << 20), len: 1 << 19, advice: MADV_PAGEOUT }));
        ops.push((1, Op::Fork { child: 2, thread: false }));
        for i in 0..40u64 {
            ops.push((2, fault(base + i * 37 * PAGE_SIZE, true)));
        }
        ops.push((1, Op::Madvise { addr: base + (1 << 20), len: 1 << 20, advice: MADV_DONTNEED }));
        ops.push((2, Op::Madvise { addr: base + (5 << 20), len: 1 << 20, advice: MADV_FREE }));
        ops.push((1, Op::LruAddDrainAll));
        ops.push((1, Op::Reclaim { nr: 300, memcg: None }));
        ops.push((1, Op::Munmap { addr: base + (6 << 20), len: 5 * PAGE_SIZE }));
        ops.push((2, fault(base + (7 << 20), true)));
        ops
    }

    #[test]
    fn the_pfn_in_use_message_is_the_formatted_one() {
        for pfn in [0, 1, 0xf, 0x10, 0x2f2390, 0x10_0000_01e2, u64::MAX] {
            let want = format!("the trace allocates pfn {pfn:#x}, which the model still holds; using another pfn");
            assert_eq!(pfn_in_use_message(pfn), want);
        }
    }

    #[test]
    fn an_unpacked_model_is_the_packed_one_and_goes_on_the_same() {
        let cfg = Config { history: false, ..Config::default() };
        let mut m = Model::new(cfg);
        let mut packed: Vec<(usize, PackedModel)> = Vec::new();
        let ops = scenario();
        let event = |i: usize, (pid, op): &(Pid, Op)| Event {
            comm: "a".into(),
            pid: *pid,
            cpu: (i % 2) as u32,
            ts_ns: i as u64 * 1000,
            op: op.clone(),
        };
        let (mut large, mut swapped) = (false, false);
        for (i, op) in ops.iter().enumerate() {
            m.apply(&event(i, op));
            if i % 97 == 0 || i + 60 > ops.len() {
                let p = m.pack();
                assert_eq!(state(&p.unpack()), state(&m), "after event {i}");
                packed.push((i, p));
                large |= m.folios.values().any(|f| f.is_large() && f.mapcount() > 1);
                swapped |= m.mms.values().any(|mm| mm.rss[crate::mm::MM_SWAPENTS] > 0);
            }
        }
        assert!(m.diagnostics.is_empty(), "{:?}", m.diagnostics);
        assert!(large && swapped && m.mms.len() == 2 && m.files[0].pages.len() > 10);
        // Each unpacked model, replayed to the end, ends where the straight replay did.
        for (at, p) in &packed {
            let mut u = p.unpack();
            for (i, op) in ops.iter().enumerate().skip(at + 1) {
                u.apply(&event(i, op));
            }
            assert_eq!(state(&u), state(&m), "replayed from event {at}");
        }
    }

    #[test]
    fn a_packed_model_carries_no_history_and_records_none() {
        let mut m = Model::new(Config::default());
        for (i, (pid, op)) in scenario().into_iter().enumerate().take(40) {
            m.apply(&Event { comm: "a".into(), pid, cpu: 0, ts_ns: i as u64, op });
        }
        assert!(!m.history_log().is_empty());
        let mut u = m.pack().unpack();
        assert!(u.history_log().is_empty() && !u.config().history);
        for (i, (pid, op)) in scenario().into_iter().enumerate().skip(40) {
            u.apply(&Event { comm: "a".into(), pid, cpu: 0, ts_ns: i as u64, op });
        }
        assert!(u.history_log().is_empty(), "an unpacked checkpoint recorded history");
    }
}
