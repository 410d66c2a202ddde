//! Model events: one operation of one task on one CPU at one time, the only input the model accepts.

use serde::{Deserialize, Serialize};

/// A process or thread id as the kernel prints it.
pub type Pid = u32;
/// A physical page frame number.
pub type Pfn = u64;

/// The kind of memory access that faulted (the WRITE and INSTR bits of the x86 error code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
    Exec,
}

impl Access {
    /// The name used in the event format.
    pub fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Exec => "exec",
        }
    }
}

/// A file backing a mapping: its identity and the byte offset of the mapping's start.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileRef {
    /// The file's name (a path, or any stable identity such as `memfd:x`).
    pub name: String,
    /// `offset` in bytes, page aligned.
    pub offset: u64,
}

/// One model operation. Each variant is one line of the mm event format and mirrors a kernel entry point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A new process with a fresh, empty `mm_struct` (the model's stand-in for a task it did not see being born).
    Spawn { comm: String },
    /// `kernel_clone()`: a child process (copy of the mm) or, with `thread`, a thread sharing the mm.
    Fork { child: Pid, thread: bool },
    /// `kernel_clone()` with `CLONE_VM` but not `CLONE_THREAD` (`vfork()`, `posix_spawn()`): a child process that
    /// borrows the parent's mm until it execs or exits.
    Vfork { child: Pid },
    /// `execve()`: the task gets a fresh mm; the old one is released (`exec_mmap` → `mmput`). An empty `filename`
    /// leaves the comm as it is (a trace that shows the teardown before the name: [`Op::Rename`] follows).
    Exec { filename: String },
    /// `__set_task_comm()` (the `task_rename` tracepoint; `begin_new_exec()` calls it right after `exec_mmap()`).
    Rename { comm: String },
    /// `do_exit()` of one task; the mm is torn down when its last user exits.
    Exit,
    /// `mmap()`; `addr` is a hint (or the exact place with `MAP_FIXED`), `None` lets the model choose.
    Mmap { addr: Option<u64>, len: u64, prot: u64, flags: u64, file: Option<FileRef> },
    /// `munmap()`.
    Munmap { addr: u64, len: u64 },
    /// `mprotect()`.
    Mprotect { addr: u64, len: u64, prot: u64 },
    /// `mremap()`.
    Mremap { addr: u64, old_len: u64, new_len: u64, flags: u64, new_addr: Option<u64> },
    /// `brk()`.
    Brk { brk: u64 },
    /// A user page fault at `addr` (`handle_mm_fault`). `pfn` names the page the kernel allocated, if known.
    /// `around` is the window a read fault on a file mapping scanned for fault-around, as `(first page's
    /// address, pages)`, when the trace says (`mm_filemap_map_pages`; one page when it shows no window): the
    /// kernel's window also reflects the file's size and its page cache, which the model does not know.
    Fault { addr: u64, access: Access, pfn: Option<Pfn>, around: Option<(u64, u64)> },
    /// A user load, store or instruction fetch at `addr`, faulting or not. The MMU sets Accessed (and Dirty for
    /// a store) when the PTE allows the access; otherwise it is a page fault, as with [`Op::Fault`]. Scenarios
    /// use it for "the program wrote here"; real traces only ever show the faults.
    Touch { addr: u64, access: Access },
    /// A user store of `value` to the page at `addr`: the write access of [`Op::Touch`] (faulting as the kernel
    /// would), then the page's content (`Page::content`) becomes `value`. Scripts use it to make data loss and
    /// COW isolation visible; the value stands for whatever the program wrote into the page.
    Store { addr: u64, value: u64 },
    /// The kernel reaching the page at `addr` on the task's behalf through GUP (`get_user_pages_remote()` with
    /// `FOLL_TOUCH`, as exec's `copy_strings()` does): faults it in when needed, then marks it accessed (and
    /// dirty, for a write). Real traces show no event for it; the lowering derives it from exec's layout.
    Gup { addr: u64, write: bool },
    /// `madvise()`.
    Madvise { addr: u64, len: u64, advice: i64 },
    /// `mlock()`.
    Mlock { addr: u64, len: u64 },
    /// `munlock()`.
    Munlock { addr: u64, len: u64 },
    /// `lru_add_drain()`: drain the per-CPU folio batches of this event's CPU.
    LruAddDrain,
    /// `lru_add_drain_all()`: drain every CPU's batches.
    LruAddDrainAll,
    /// `folio_batch_move_lru()` of this event's CPU's `batch` alone: what the kernel does when a batch is full
    /// (`folio_batch_add_and_move()`), where `lru_add_drain()` would drain every batch. Real traces show it
    /// through `mm_lru_insertion` (an `lru_add` batch moving) and `mm_lru_activate` (an `lru_activate` batch).
    FolioBatchMove { batch: crate::lru::BatchKind },
    /// Reclaim asked to free `nr` pages: global (`try_to_free_pages`, kswapd), or, with `memcg`, inside that
    /// memory cgroup only (`try_to_free_mem_cgroup_pages`).
    Reclaim { nr: u64, memcg: Option<u32> },
    /// Reclaim took the folio of `pfn` off its inactive list and ran `shrink_folio_list()` on it, as
    /// `shrink_inactive_list()` does for each folio it isolates. Real traces name reclaim's victims (the pfns
    /// reclaim frees); this applies the kernel's choice where [`Op::Reclaim`] applies the model's own.
    ShrinkFolio { pfn: Pfn },
    /// Creates a memory cgroup with `memory.limit_in_bytes = limit` (0 = unlimited).
    MemcgCreate { id: u32, limit: u64 },
    /// Moves this event's task, and the mm it owns, into memcg `id`.
    MemcgAttach { id: u32 },
    /// `swapon()` of a swap device of `size` bytes.
    Swapon { size: u64 },
    /// A kernel block of `2^order` pages for the task: `alloc_pages(GFP_KERNEL)`, or with `account`
    /// `alloc_kmem_pages()` (before 4.8) / `__GFP_ACCOUNT` (since), charged to the task's memcg. Returns the pfn.
    KmemAlloc { order: u32, account: bool },
    /// `get_page()` on a kernel page: another reference (a pipe buffer `tee()`d to a second pipe).
    KmemGet { pfn: Pfn },
    /// `folio_get()` by an operation in flight on another CPU, which the model applies whole (the reference
    /// `do_wp_page()` holds on the page it copies): a short-lived reference on the folio of `pfn`.
    FolioGet { pfn: Pfn },
    /// The matching `folio_put()`: the folio is freed if that was its last reference.
    FolioPut { pfn: Pfn },
    /// A kernel page let go `via` `free_kmem_pages()`, `__free_pages()`, `put_page()` or `release_pages()`.
    KmemFree { pfn: Pfn, via: crate::kmem::KmemFreeVia },
    /// A balloon driver takes a page from the guest (`balloon_page_enqueue()`); `account` allocates it as kmem.
    BalloonInflate { account: bool },
    /// The balloon gives the page at `pfn` back (`balloon_page_dequeue()`).
    BalloonDeflate { pfn: Pfn },
    /// `vrange(addr, len, mode, behavior)` of the 2013 volatile-range RFC (profile `vrange-v7`; -ENOSYS
    /// elsewhere).
    Vrange { addr: u64, len: u64, mode: crate::vrange::VrangeMode, behavior: crate::vrange::VrangeBehavior },
    /// What a real trace says about the page cache of the regular file `file` (the model's name for it): page
    /// indexes `index..index + pages` are in the page cache (`cached`) or not. Fault-around
    /// (`filemap_map_pages()`) maps only cached pages, and a page the trace said nothing about is taken to be
    /// cached. The lowering derives it from `mmdb-pagecache` input markers and the `mm_filemap_add_to_page_cache`
    /// and `mm_filemap_delete_from_page_cache` records (filemap.rs). `readahead`: the cached pages carry
    /// `PG_readahead`, which fault-around skips too (`mmdb-pagecache`'s `readahead=`).
    PageCache { file: String, index: u64, pages: u64, cached: bool, readahead: bool },
    /// What a real trace says about one page of regular file `file` cached before the trace: page `index` is held
    /// by page frame `pfn`, whose `/proc/kpageflags` read `kflags` (the KPF_* bits) when the recorder measured it
    /// (`mmdb-pagecache-page`). When the model first needs that page (a fault, fault-around) it takes this frame
    /// and the flags no tracepoint shows (`PG_active`, `PG_referenced`, `PG_dirty`, `PG_mappedtodisk`) instead
    /// of a page frame of its own (filemap.rs).
    PageCacheFrame { file: String, index: u64, pfn: Pfn, kflags: u64 },
}

impl Op {
    /// The event name as written in the mm event format.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Spawn { .. } => "spawn",
            Op::Fork { .. } => "fork",
            Op::Vfork { .. } => "vfork",
            Op::Exec { .. } => "exec",
            Op::Exit => "exit",
            Op::Rename { .. } => "rename",
            Op::Mmap { .. } => "mmap",
            Op::Munmap { .. } => "munmap",
            Op::Mprotect { .. } => "mprotect",
            Op::Mremap { .. } => "mremap",
            Op::Brk { .. } => "brk",
            Op::Fault { .. } => "fault",
            Op::Touch { .. } => "touch",
            Op::Store { .. } => "store",
            Op::Gup { .. } => "gup",
            Op::Madvise { .. } => "madvise",
            Op::Mlock { .. } => "mlock",
            Op::Munlock { .. } => "munlock",
            Op::LruAddDrain => "lru_add_drain",
            Op::LruAddDrainAll => "lru_add_drain_all",
            Op::FolioBatchMove { .. } => "folio_batch_move",
            Op::Reclaim { .. } => "reclaim",
            Op::ShrinkFolio { .. } => "shrink_folio",
            Op::MemcgCreate { .. } => "memcg_create",
            Op::MemcgAttach { .. } => "memcg_attach",
            Op::Swapon { .. } => "swapon",
            Op::KmemAlloc { .. } => "kmem_alloc",
            Op::KmemGet { .. } => "kmem_get",
            Op::FolioGet { .. } => "folio_get",
            Op::FolioPut { .. } => "folio_put",
            Op::KmemFree { .. } => "kmem_free",
            Op::BalloonInflate { .. } => "balloon_inflate",
            Op::BalloonDeflate { .. } => "balloon_deflate",
            Op::Vrange { .. } => "vrange",
            Op::PageCache { .. } => "page_cache",
            Op::PageCacheFrame { .. } => "page_cache_frame",
        }
    }
}

/// One event: who did what, where and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The task's command name (informational; the model keys tasks by pid).
    pub comm: String,
    /// The acting task.
    pub pid: Pid,
    /// The CPU it ran on; selects the per-CPU folio batches.
    pub cpu: u32,
    /// Timestamp in nanoseconds (trace clock).
    pub ts_ns: u64,
    /// The operation.
    pub op: Op,
}
