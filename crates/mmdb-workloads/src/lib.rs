//! Helpers shared by the workloads, in the style of `samples/common.h`: mapped regions touched one page at a time,
//! madvise, fork, pipes, and checkpoints.
//!
//! A workload stops itself with `raise(SIGSTOP)` at each checkpoint ([`ckpt`]); `mmdb record` sees the stop,
//! stops every other traced process, writes the ground truth and continues them all. Everything a workload does
//! is logged on stderr as `[name pid] ...`.
//!
//! The unsafe calls live here, each behind a safe wrapper whose SAFETY comment says why it is sound; the binaries
//! forbid unsafe code.
//!
//! The binaries (`cargo build --release -p mmdb-workloads`, then `sudo mmdb record -- target/release/NAME`):
//!
//! | binary | exercises |
//! |--------|-----------|
//! | `zero-page` | read faults on the zero page, writes replacing it, MADV_DONTNEED and re-read |
//! | `fork-cow` | COW by parent and child after fork, reuse after the child exits |
//! | `madv-free` | MADV_FREE, re-writes of lazyfree pages, MADV_FREE again |
//! | `dontneed-munmap` | MADV_DONTNEED, munmap, and a child's exit without munmap |
//! | `thp-fork` | THPs on MADV_HUGEPAGE, the huge zero page, fork, partial MADV_FREE and MADV_DONTNEED |
//! | `lazyfree-memcg` | memcg reclaim discarding lazyfree pages (run with `--memcg-limit 8M`) |
//! | `thread-churn` | four threads with glibc malloc arenas, mmapped blocks and arena trimming |
//! | `fork-tree` | seven processes, a shared and a private region, exit bottom-up |
//! | `pagecache-holes` | fault-around over a file mapping whose page cache has holes, and a read of a hole |
//! | `pagecache-readin` | file faults that read their page in (readahead, `VM_FAULT_RETRY`) and fault-around after |
//! | `big-unmap` | MADV_DONTNEED and munmap of 10000 pages: the mmu_gather fills and flushes inside a page table |
//!
//! Run alone, a workload stops at its first checkpoint until it gets SIGCONT (`kill -CONT PID`, or `fg`).
// The workloads read /proc/self/status to check that a fork is safe.
#![allow(clippy::disallowed_methods)]

use std::fmt;
use std::io::{self, Write as _};
use std::ptr::NonNull;
use std::sync::OnceLock;

/// The base page size.
pub const PG: usize = 4096;
/// A 2 MiB PMD-sized huge page.
pub const HPAGE: usize = 2 << 20;
/// One mebibyte.
pub const MB: usize = 1 << 20;

static NAME: OnceLock<&'static str> = OnceLock::new();

/// Sets the workload name used in log lines.
pub fn set_name(name: &'static str) {
    let _ = NAME.set(name);
}

/// Logs one line on stderr, prefixed with the workload name and the pid.
pub fn log(args: fmt::Arguments<'_>) {
    let line = format!("[{} {}] {args}\n", NAME.get().copied().unwrap_or("workload"), std::process::id());
    // One write per line, so the lines of processes writing at the same time do not interleave.
    let _ = io::stderr().write_all(line.as_bytes());
}

/// Logs like `eprintln!`, prefixed with `[name pid]`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::log(format_args!($($arg)*)) };
}

/// Logs what failed with the OS error, and exits with status 1.
pub fn die(what: &str) -> ! {
    let err = io::Error::last_os_error();
    log(format_args!("{what}: {err}"));
    std::process::exit(1)
}

/// A checkpoint: logs the label and stops this process until the recorder continues it.
pub fn ckpt(label: &str) {
    log(format_args!("stop: {label}"));
    // SAFETY: raise() has no memory-safety preconditions.
    if unsafe { libc::raise(libc::SIGSTOP) } != 0 {
        die("raise(SIGSTOP)");
    }
}

/// The madvise advice the workloads use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// `MADV_FREE`: the pages may be discarded lazily, unless written again.
    Free,
    /// `MADV_DONTNEED`: the pages are zapped now.
    DontNeed,
    /// `MADV_HUGEPAGE`: the range may use transparent huge pages.
    HugePage,
    /// `MADV_NOHUGEPAGE`: the range uses base pages only, whatever the THP setting.
    NoHugePage,
    /// `MADV_PAGEOUT`: reclaim the pages now.
    PageOut,
}

impl Advice {
    fn raw(self) -> libc::c_int {
        match self {
            Advice::Free => libc::MADV_FREE,
            Advice::DontNeed => libc::MADV_DONTNEED,
            Advice::HugePage => libc::MADV_HUGEPAGE,
            Advice::NoHugePage => libc::MADV_NOHUGEPAGE,
            Advice::PageOut => libc::MADV_PAGEOUT,
        }
    }
}

/// A readable and writable memory mapping owned by the workload.
///
/// It is never unmapped implicitly: a workload either calls [`Region::unmap`] or lets exit tear it down, and
/// both are what the trace is about.
#[derive(Debug)]
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

impl Region {
    /// Maps `pages` pages of private anonymous memory.
    pub fn anon(pages: usize) -> Region {
        Region::map(pages * PG, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS)
    }

    /// Maps `pages` pages of shared anonymous memory (shared with children after fork, not copied).
    pub fn shared_anon(pages: usize) -> Region {
        Region::map(pages * PG, libc::MAP_SHARED | libc::MAP_ANONYMOUS)
    }

    /// Maps `len` bytes of private anonymous memory whose start is aligned to `align` (a power of two).
    pub fn anon_aligned(len: usize, align: usize) -> Region {
        let raw = Region::map(len + align, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS);
        let base = raw.addr();
        let start = (base + align - 1) & !(align - 1);
        let head = start - base;
        let tail = align - head;
        if head > 0 {
            munmap(base, head);
        }
        if tail > 0 {
            munmap(start + len, tail);
        }
        let ptr = NonNull::new(start as *mut u8).expect("aligned start is not null");
        Region { ptr, len }
    }

    fn map(len: usize, flags: libc::c_int) -> Region {
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing aliases nothing.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
        if p == libc::MAP_FAILED {
            die("mmap");
        }
        Region { ptr: NonNull::new(p.cast()).expect("mmap returned NULL"), len }
    }

    /// The start address.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The length in pages.
    pub fn pages(&self) -> usize {
        self.len / PG
    }

    fn at(&self, offset: usize) -> *mut u8 {
        assert!(offset < self.len, "offset {offset:#x} outside a region of {:#x} bytes", self.len);
        // SAFETY: the offset is inside the mapping, checked above.
        unsafe { self.ptr.as_ptr().add(offset) }
    }

    /// Reads the first byte of page `page` (a read fault if it is not mapped yet).
    pub fn read(&self, page: usize) -> u8 {
        // SAFETY: the byte is inside a live readable mapping; volatile keeps the access (and its fault) in the program.
        unsafe { self.at(page * PG).read_volatile() }
    }

    /// Writes `value` to the first byte of page `page` (a write fault if it is not writable yet).
    pub fn write(&self, page: usize, value: u8) {
        // SAFETY: the byte is inside a live writable mapping; volatile keeps the access (and its fault) in the program.
        unsafe { self.at(page * PG).write_volatile(value) }
    }

    /// Reads the first byte of each page in `pages`.
    pub fn read_pages(&self, pages: std::ops::Range<usize>) {
        for p in pages {
            std::hint::black_box(self.read(p));
        }
    }

    /// Writes `value` to the first byte of each page in `pages`.
    pub fn write_pages(&self, pages: std::ops::Range<usize>, value: u8) {
        for p in pages {
            self.write(p, value);
        }
    }

    /// Applies `advice` to `count` pages from page `first`; a failure is logged, not fatal (as in common.h).
    pub fn madvise(&self, first: usize, count: usize, advice: Advice) {
        assert!((first + count) * PG <= self.len, "madvise outside the region");
        // SAFETY: the range lies inside this mapping; none of these advices invalidates the mapping itself.
        let r = unsafe { libc::madvise(self.at(first * PG).cast(), count * PG, advice.raw()) };
        if r != 0 {
            let err = io::Error::last_os_error();
            log(format_args!("madvise({advice:?}) of pages {first}..{} failed: {err}", first + count));
        }
    }

    /// How many pages of the region are resident (mincore), without touching them.
    pub fn resident_pages(&self) -> usize {
        let mut vec = vec![0u8; self.pages()];
        // SAFETY: the range is this mapping; mincore writes one byte per page into a vector of that many bytes.
        if unsafe { libc::mincore(self.ptr.as_ptr().cast(), self.len, vec.as_mut_ptr()) } != 0 {
            die("mincore");
        }
        vec.iter().filter(|&&b| b & 1 == 1).count()
    }

    /// Unmaps the whole region.
    pub fn unmap(self) {
        munmap(self.addr(), self.len);
    }
}

fn munmap(addr: usize, len: usize) {
    // SAFETY: callers pass ranges of mappings they own and never touch again.
    if unsafe { libc::munmap(addr as *mut libc::c_void, len) } != 0 {
        die("munmap");
    }
}

/// A regular file the workload creates in the temporary directory (a disk file system, not tmpfs, so that its
/// clean pages can be dropped), written one page per `write()` so that each page is a folio of its own.
#[derive(Debug)]
pub struct ScratchFile {
    file: std::fs::File,
    path: std::path::PathBuf,
    pages: usize,
}

impl ScratchFile {
    /// Creates `name` (made unique by the pid) with `pages` pages, page `i` filled with byte `i`, and writes it back
    /// (`fsync`), so its page-cache pages are clean.
    pub fn create(name: &str, pages: usize) -> ScratchFile {
        use std::io::Write as _;
        let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap_or_else(|e| die(&format!("create {}: {e}", path.display())));
        let mut page = vec![0u8; PG];
        for i in 0..pages {
            page.fill(i as u8);
            if let Err(e) = file.write_all(&page) {
                die(&format!("write: {e}"));
            }
        }
        if let Err(e) = file.sync_all() {
            die(&format!("fsync: {e}"));
        }
        ScratchFile { file, path, pages }
    }

    /// `posix_fadvise(POSIX_FADV_DONTNEED)` of `count` pages from page `first`: clean, unmapped pages leave the page
    /// cache (`mapping_try_invalidate()`).
    pub fn drop_cached(&self, first: usize, count: usize) {
        use std::os::fd::AsRawFd as _;
        let (off, len) = ((first * PG) as libc::off_t, (count * PG) as libc::off_t);
        // SAFETY: posix_fadvise() only reads its arguments; the descriptor is open.
        let r = unsafe { libc::posix_fadvise(self.file.as_raw_fd(), off, len, libc::POSIX_FADV_DONTNEED) };
        if r != 0 {
            log(format_args!("posix_fadvise(DONTNEED) of pages {first}..{}: error {r}", first + count));
        }
    }

    /// Maps the whole file `PROT_READ`, `MAP_PRIVATE`. Only [`Region::read`] may be used on the region.
    pub fn map_readonly(&self) -> Region {
        use std::os::fd::AsRawFd as _;
        let len = self.pages * PG;
        let fd = self.file.as_raw_fd();
        // SAFETY: a fresh mapping at an address of the kernel's choosing aliases nothing; the file stays open.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, fd, 0) };
        if p == libc::MAP_FAILED {
            die("mmap");
        }
        Region { ptr: NonNull::new(p.cast()).expect("mmap returned NULL"), len }
    }

    /// The file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The result of [`fork`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forked {
    /// This is the new child.
    Child,
    /// This is the parent; the child's pid.
    Parent(libc::pid_t),
}

/// Forks; panics if the process has more than one thread, where a fork is not safe.
pub fn fork() -> Forked {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let threads = status.lines().find_map(|l| l.strip_prefix("Threads:")).map(str::trim);
    assert_eq!(threads, Some("1"), "fork() of a multithreaded process");
    // SAFETY: the process is single-threaded (checked above), so the child inherits no lock held by another thread.
    match unsafe { libc::fork() } {
        -1 => die("fork"),
        0 => Forked::Child,
        pid => Forked::Parent(pid),
    }
}

/// Waits for child `pid` to exit; returns its raw wait status.
pub fn wait_child(pid: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes only to the status integer it is given.
        if unsafe { libc::waitpid(pid, &mut status, 0) } >= 0 {
            return status;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            die("waitpid");
        }
    }
}

/// Exits at once, like `_exit`: no destructors, no atexit handlers (what a forked child should do).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit() never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// A pipe for one-byte synchronisation between processes, like `pipe_put`/`pipe_get` of common.h.
#[derive(Debug, Clone, Copy)]
pub struct Pipe {
    read: libc::c_int,
    write: libc::c_int,
}

impl Pipe {
    /// Creates the pipe (both ends stay open in every process forked afterwards).
    pub fn new() -> Pipe {
        let mut fds = [0; 2];
        // SAFETY: pipe() writes two descriptors into the two-element array.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            die("pipe");
        }
        Pipe { read: fds[0], write: fds[1] }
    }

    /// Writes one byte.
    pub fn put(&self) {
        loop {
            // SAFETY: writes one byte from a live local.
            let r = unsafe { libc::write(self.write, b"x".as_ptr().cast(), 1) };
            if r == 1 {
                return;
            }
            if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                die("write pipe");
            }
        }
    }

    /// Reads `n` bytes, waiting for each.
    pub fn get(&self, mut n: usize) {
        let mut b = 0u8;
        while n > 0 {
            // SAFETY: reads at most one byte into a live local.
            let r = unsafe { libc::read(self.read, (&mut b as *mut u8).cast(), 1) };
            match r {
                1 => n -= 1,
                0 => die("pipe eof"),
                _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => die("read pipe"),
            }
        }
    }
}

impl Default for Pipe {
    fn default() -> Self {
        Pipe::new()
    }
}
