//! The page cache of the files the traced processes map, written as `mmdb-pagecache` input markers.
//!
//! Fault-around (`filemap_map_pages()`) maps only the pages of its window that are in the page cache, and no
//! tracepoint says which were: a file page evicted before the trace makes the kernel map fewer pages than a replay
//! that takes every page to be cached. So at the exec stop the recorder writes the residency of every regular file
//! the new image maps (the binary and its interpreter) or will map (the shared libraries the dynamic loader
//! resolves, `INTERP --list BINARY`), and at each checkpoint that of the files mapped since, each measured with
//! `mincore()` on a read-only shared mapping of the file: the mapping faults nothing in and `mincore()` reads the
//! page cache without touching it, so measuring changes nothing. A file that cannot be resolved, opened or mapped
//! is skipped; the replay then takes its pages to be cached, as without residency.
//!
//! A cached page may carry `PG_readahead`, which fault-around skips (`next_uptodate_folio()`) and `mincore()`
//! cannot see. The recorder finds those pages with fault-around itself ([`probe`]): in a read-only
//! shared mapping of its own with `MADV_RANDOM`, it touches one cached page of each fault-around window and reads
//! from `/proc/self/pagemap` which cached pages were not mapped. `MADV_RANDOM` (`VM_RAND_READ`) keeps this from
//! changing anything: a fault there starts no readahead and clears no mark (`do_async_mmap_readahead()`), and the
//! unmap does not mark the pages accessed (`vma_has_recency()`). They go in the markers' `readahead=`.
//!
//! The same probe, once every cached page is mapped in it, reads which page frame holds each one. For a file some
//! traced process maps shared, whose page-cache pages are ground truth (`mmdb-page`), those frames and their
//! kpageflags go in `mmdb-pagecache-page` lines: a page cached before the trace was put in its frame, and given
//! `PG_active` or `PG_mappedtodisk`, where no tracepoint saw it.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mmdb_trace::truth::{Marker, PageCache, PageCachePage, PAGECACHE_MAX_RANGES};

use super::markers::{MapsEntry, PagemapEntry, PAGE_SIZE};
use super::snapshot::Kpage;

/// A file by device (major, minor) and inode, as `/proc/PID/maps` and the filemap tracepoints name it.
pub type FileKey = ((u32, u32), u64);

/// The files whose residency the recording has written, so that each is written once.
#[derive(Debug, Default)]
pub struct Written(BTreeSet<FileKey>);

impl Written {
    /// The `mmdb-pagecache` lines for the exec stop of `pid`: the files mapped now (from `/proc/PID/maps`) and the
    /// shared libraries the program's interpreter resolves for it.
    pub fn exec_lines(&mut self, pid: i32) -> Vec<String> {
        let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        let mapped: Vec<MapsEntry> = maps.lines().filter_map(MapsEntry::parse).filter(is_file).collect();
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
        // At the exec stop only the binary and its interpreter (PT_INTERP) are mapped. `INTERP --list` reads the
        // binary's and the libraries' headers, dynamic sections and version needs through their mappings, and the
        // read-around of those faults brings more of their pages into the page cache (untraced: the recorder's
        // child does it): so it runs first, and everything is measured after it, as the program will find it.
        let interp = mapped.iter().map(|e| PathBuf::from(&e.path)).find(|p| exe.as_deref() != Some(p.as_path()));
        let needed = match (&exe, &interp) {
            (Some(exe), Some(interp)) => needed_libraries(interp, exe),
            _ => Vec::new(),
        };
        let mut lines = self.mapped_lines(pid, &mapped);
        for lib in needed {
            let Ok(meta) = fs::metadata(&lib) else { continue };
            let key = (split_dev(meta.dev()), meta.ino());
            if meta.is_file() && self.0.insert(key) {
                lines.extend(File::open(&lib).ok().and_then(|f| residency_lines(&f, key, None)).unwrap_or_default());
            }
        }
        lines
    }

    /// The `mmdb-pagecache` lines of the files `pid` maps (its `/proc/PID/maps` lines `mapped`) that have none yet,
    /// each opened through `/proc/PID/map_files`, which names the mapped file even when its path no longer does;
    /// and the `mmdb-pagecache-page` lines of those it maps shared.
    pub fn mapped_lines(&mut self, pid: i32, mapped: &[MapsEntry]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut kpage = None;
        for e in mapped.iter().filter(|e| is_file(e)) {
            let key = (e.dev, e.inode);
            if self.0.contains(&key) {
                continue;
            }
            let file = File::open(format!("/proc/{pid}/map_files/{:x}-{:x}", e.start, e.end))
                .or_else(|_| File::open(&e.path))
                .ok()
                .filter(|f| f.metadata().is_ok_and(|m| m.is_file() && m.ino() == e.inode));
            if let Some(f) = file {
                self.0.insert(key);
                let shared = mapped.iter().any(|m| (m.dev, m.inode) == key && m.perms.ends_with('s'));
                if shared && kpage.is_none() {
                    kpage = Kpage::open().ok();
                }
                lines.extend(residency_lines(&f, key, kpage.as_ref().filter(|_| shared)).unwrap_or_default());
            }
        }
        lines
    }

    /// The lines of the file behind descriptor `fd` of `pid`, which it is about to map (shared or not), if it has
    /// none yet: at an mmap stop ([`super::mmapstop`]).
    pub fn fd_lines(&mut self, pid: i32, fd: i32, shared: bool) -> Vec<String> {
        let Some((file, key)) = super::mmapstop::open_fd(pid, fd) else { return Vec::new() };
        if !self.0.insert(key) {
            return Vec::new();
        }
        let kpage = if shared { Kpage::open().ok() } else { None };
        residency_lines(&file, key, kpage.as_ref()).unwrap_or_default()
    }

    /// The lines for the files the stopped process `pid` maps that have none yet (at a checkpoint).
    pub fn process_lines(&mut self, pid: i32) -> Vec<String> {
        let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        let mapped: Vec<MapsEntry> = maps.lines().filter_map(MapsEntry::parse).collect();
        self.mapped_lines(pid, &mapped)
    }
}

/// Whether a `/proc/PID/maps` line maps a file by path: not anonymous memory, not `[vdso]` and the like, and not the
/// kernel's own shmem objects of `MAP_SHARED | MAP_ANONYMOUS` (`/dev/zero (deleted)`) and SysV shared memory
/// (`/SYSV...`), whose pages exist only once written.
fn is_file(e: &MapsEntry) -> bool {
    e.inode != 0 && e.path.starts_with('/') && !e.path.starts_with("/dev/zero ") && !e.path.starts_with("/SYSV")
}

/// A `dev_t` as (major, minor), the Linux encoding.
pub(super) fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
    (major as u32, minor as u32)
}

/// The shared libraries the dynamic loader `interp` resolves for `exe` (`INTERP --list EXE`, the `=> PATH` of
/// each line and the lines that are a path), canonical; none when it cannot run.
fn needed_libraries(interp: &Path, exe: &Path) -> Vec<PathBuf> {
    let out = Command::new(interp).arg("--list").arg(exe).stdin(Stdio::null()).stderr(Stdio::null()).output();
    let Ok(out) = out else { return Vec::new() };
    let text = String::from_utf8_lossy(&out.stdout);
    parse_ld_list(&text).into_iter().filter_map(|p| fs::canonicalize(p).ok()).collect()
}

/// The paths in the output of `ld.so --list`: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` gives the
/// path after `=>`, `/lib64/ld-linux-x86-64.so.2 (0x...)` the path itself; `linux-vdso.so.1 (0x...)` and
/// `libx.so => not found` give none.
fn parse_ld_list(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.split_once("=> ").map_or(line, |(_, p)| p);
            let path = path.rsplit_once(" (0x").map_or(path, |(p, _)| p).trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// The `mmdb-pagecache` lines of an open file named `key`, if it can be measured; with `frames`, then an
/// `mmdb-pagecache-page` line for each cached page the probe found in a page frame, with its kpageflags.
fn residency_lines(file: &File, key: FileKey, frames: Option<&Kpage>) -> Option<Vec<String>> {
    let size = file.metadata().ok()?.len();
    let resident = settled_residency(file, size)?;
    let pages = u64::try_from(resident.len()).ok()?;
    let cached = ranges(resident.iter().map(|&r| r & 1 != 0));
    let probed = probe(file, size, &resident);
    let readahead = ranges((0..pages).map(|i| probed.marks.binary_search(&i).is_ok()));
    let mut out = lines(key, pages, &cached, &readahead);
    if let Some(kpage) = frames {
        let (dev, ino) = key;
        for &(index, pfn) in &probed.frames {
            let kflags = kpage.info(pfn).kflags;
            out.push(Marker::PageCachePage(PageCachePage { dev, ino, index, pfn, kflags }).to_string());
        }
    }
    Some(out)
}

/// The cached pages as inclusive index ranges.
fn ranges(resident: impl Iterator<Item = bool>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (i, r) in (0u64..).zip(resident) {
        match out.last_mut() {
            Some(last) if r && last.1 + 1 == i => last.1 = i,
            _ if r => out.push((i, i)),
            _ => {}
        }
    }
    out
}

/// The lines of a file of `pages` pages whose cached ranges are `cached` (of which `readahead` carry the mark):
/// one line per [`PAGECACHE_MAX_RANGES`] ranges, each describing the indexes from its first range (0 for the first
/// line) to the next line's, the last one to the file's end, so that together they describe every page.
pub(super) fn lines((dev, ino): FileKey, pages: u64, cached: &[(u64, u64)], readahead: &[(u64, u64)]) -> Vec<String> {
    let chunks: Vec<&[(u64, u64)]> =
        if cached.is_empty() { vec![&[]] } else { cached.chunks(PAGECACHE_MAX_RANGES).collect() };
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let first = if i == 0 { 0 } else { chunk[0].0 };
        let end = chunks.get(i + 1).map_or(pages, |next| next[0].0);
        let readahead = readahead.iter().copied().filter(|&(a, _)| first <= a && a < end).collect();
        let marker = PageCache { dev, ino, first, pages: end - first, cached: chunk.to_vec(), readahead };
        out.push(Marker::PageCache(marker).to_string());
    }
    out
}

/// `mincore()` of the whole file through a read-only shared mapping of it: one byte per page, bit 0 set when the
/// page is in the page cache. `mmap()` faults nothing in and `mincore()` only looks (for a file mapping it reads
/// the page cache where no PTE is present), so the page cache is left as it was. `None` for an empty file or
/// when the file cannot be mapped.
#[allow(unsafe_code)]
fn mincore_file(file: &File, size: u64) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd as _;

    use nix::libc;
    let len = usize::try_from(size).ok().filter(|&l| l > 0)?;
    let pages = len.div_ceil(PAGE_SIZE as usize);
    let mut vec = vec![0u8; pages];
    // SAFETY: a new mapping chosen by the kernel (addr NULL), read-only and shared, of an open file descriptor
    // that outlives the call; nothing reads through it, and it is unmapped below with the same length.
    let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0) };
    if addr == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: `addr..addr + len` is the mapping made above, and `vec` holds one byte for each of its pages.
    let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    // SAFETY: unmaps exactly the mapping made above; no reference into it exists.
    unsafe { libc::munmap(addr, len) };
    (rc == 0).then_some(vec)
}

/// How long [`settled_residency`] waits for a file's read I/O in flight to complete.
const READ_IO_WAIT: Duration = Duration::from_secs(1);

/// `mincore()` of `file` once no read of it is in flight. `mincore()` counts only uptodate pages
/// (`mincore_page()`), and the read-around `ld.so --list` (or the exec) started goes on after it returned: just
/// after `ld.so --list cc1` the page cache held 3074 of `cc1`'s pages, 1654 of them uptodate, all 3074 some 6 ms
/// later, with no tracepoint of the traced processes to say so. `cachestat()` (6.5) counts every page in the
/// cache, so the two agree once the I/O is done: polled each millisecond for up to [`READ_IO_WAIT`] (without
/// `cachestat()`, the first measurement stands).
fn settled_residency(file: &File, size: u64) -> Option<Vec<u8>> {
    let deadline = Instant::now() + READ_IO_WAIT;
    loop {
        let resident = mincore_file(file, size)?;
        let uptodate = resident.iter().filter(|&&r| r & 1 != 0).count() as u64;
        if cachestat_pages(file).is_none_or(|cached| cached <= uptodate) || Instant::now() >= deadline {
            return Some(resident);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The pages of `file` in the page cache, uptodate or not (`cachestat()`'s `nr_cache` over the whole file), or
/// `None` when the kernel has no `cachestat()`.
#[allow(unsafe_code)]
fn cachestat_pages(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd as _;

    use nix::libc;
    /// `__NR_cachestat` (the generic syscall table's number, the same on every architecture).
    const SYS_CACHESTAT: libc::c_long = 451;
    /// `struct cachestat_range`: offset and length in bytes, a length of 0 meaning to the end of the file.
    #[repr(C)]
    struct CachestatRange {
        off: u64,
        len: u64,
    }
    /// `struct cachestat`.
    #[repr(C)]
    #[derive(Default)]
    struct Cachestat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    let range = CachestatRange { off: 0, len: 0 };
    let mut stat = Cachestat::default();
    // SAFETY: cachestat(fd, &range, &stat, 0) reads `range` and writes one `struct cachestat` into `stat`, both
    // live, properly laid out (#[repr(C)]) locals; `fd` is open for the duration of the call.
    let rc = unsafe {
        libc::syscall(SYS_CACHESTAT, file.as_raw_fd(), &range as *const CachestatRange, &mut stat as *mut Cachestat, 0)
    };
    (rc == 0).then_some(stat.nr_cache)
}

/// The fault-around window: `fault_around_bytes` (64 KiB) of pages, aligned in the virtual address space
/// (`do_fault_around()`).
const FAULT_AROUND_PAGES: usize = 16;

/// What probing a file's cached pages with fault-around found ([`probe`]).
#[derive(Debug, Default)]
struct Probed {
    /// The cached pages carrying `PG_readahead`, in increasing order.
    marks: Vec<u64>,
    /// (page index, pfn) of each cached page, in increasing order of index.
    frames: Vec<(u64, u64)>,
}

/// The cached pages of `file` (`resident`, from `mincore()`) that carry `PG_readahead`, in increasing order:
/// those that fault-around skips in two probes ([`fault_around_skips`]). A folio still under read I/O (locked,
/// not uptodate: readahead that `ld.so --list` started a moment ago) is skipped too, but only for a moment: the
/// first probe waits for the pages it found skipped, so the second sees them mapped. And the page frames of the
/// cached pages, from the first probe. Nothing found when the file cannot be probed.
fn probe(file: &File, size: u64, resident: &[u8]) -> Probed {
    let Some(first) = fault_around_skips(file, size, resident) else { return Probed::default() };
    if first.skipped.is_empty() {
        return Probed { marks: Vec::new(), frames: first.frames };
    }
    let second = fault_around_skips(file, size, resident).map(|p| p.skipped).unwrap_or_default();
    let marks = first.skipped.into_iter().filter(|i| second.binary_search(i).is_ok()).collect();
    Probed { marks, frames: first.frames }
}

/// One run of [`fault_around_skips`].
struct FaultAround {
    /// The cached pages fault-around did not map.
    skipped: Vec<u64>,
    /// (page index, pfn) of every cached page, each mapped by the end of the run.
    frames: Vec<(u64, u64)>,
}

/// The cached pages of `file` (`resident`, from `mincore()`) that fault-around does not map: those carrying
/// `PG_readahead`, or under read I/O, in increasing order. In a shared read-only mapping with
/// `MADV_RANDOM`, one cached page of each fault-around window is read; the window's other cached pages that
/// `/proc/self/pagemap` then shows not present were skipped. A page read this way is mapped whatever its mark, so
/// each window whose read page is not known to be unmarked is done again (`MADV_DONTNEED` of the window, then a
/// read of another of its cached pages). Each page found is then read where it is, which waits for its I/O
/// (`filemap_fault()` locks the folio) and keeps its mark (`VM_RAND_READ`). Every cached page is mapped then, and
/// the page map gives their page frames. `None` when the file cannot be mapped or the page map read.
#[allow(unsafe_code)]
fn fault_around_skips(file: &File, size: u64, resident: &[u8]) -> Option<FaultAround> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::FileExt as _;

    use nix::libc;
    let len = usize::try_from(size).ok().filter(|&l| l > 0)?;
    let page = PAGE_SIZE as usize;
    let cached: Vec<usize> = (0..resident.len()).filter(|&i| resident[i] & 1 != 0).collect();
    if cached.is_empty() {
        return Some(FaultAround { skipped: Vec::new(), frames: Vec::new() });
    }
    // `do_fault_around()` aligns its window in the virtual address space, but a window clipped by the VMA's start
    // slides to start there: with the file mapped at a 16-page boundary, the windows are file pages 16k..16k+15.
    let span = FAULT_AROUND_PAGES * page;
    let reserved = len + span;
    // SAFETY: a new reservation chosen by the kernel (addr NULL), inaccessible, of anonymous memory; the file is
    // mapped over part of it below, and the whole of it is unmapped at the end.
    let reserve = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            reserved,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if reserve == libc::MAP_FAILED {
        return None;
    }
    let base = (reserve as usize).next_multiple_of(span);
    // SAFETY: MAP_FIXED over `base..base + len`, which lies inside the reservation made above (base is at most
    // span - 1 bytes past its start), so it replaces nothing but that reservation; read-only and shared, of an
    // open file descriptor that outlives the call; it is only read within the file's size.
    let addr = unsafe {
        libc::mmap(
            base as *mut libc::c_void,
            len,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_FIXED,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        // SAFETY: unmaps exactly the reservation made above; no reference into it exists.
        unsafe { libc::munmap(reserve, reserved) };
        return None;
    }
    // SAFETY: advice on exactly the mapping made above; MADV_RANDOM changes no memory.
    let random = unsafe { libc::madvise(addr, len, libc::MADV_RANDOM) } == 0;
    let read = |i: usize| {
        // SAFETY: page `i` lies inside the mapping (i < resident.len(), the file's pages) and is in the page
        // cache, so the read maps it rather than failing; a volatile read of one byte, never kept.
        unsafe { std::ptr::read_volatile((base + i * page) as *const u8) };
    };
    let pagemap = File::open("/proc/self/pagemap").ok();
    let entries = |from: usize, to: usize| -> Option<Vec<PagemapEntry>> {
        let mut buf = vec![0u8; (to - from) * 8];
        pagemap.as_ref()?.read_exact_at(&mut buf, ((base / page + from) * 8) as u64).ok()?;
        Some(buf.chunks_exact(8).map(|e| PagemapEntry(u64::from_ne_bytes(e.try_into().expect("8 bytes")))).collect())
    };
    let present = |from: usize, to: usize| -> Option<Vec<bool>> {
        Some(entries(from, to)?.into_iter().map(|e| e.present()).collect())
    };
    let window = |i: usize| i / FAULT_AROUND_PAGES;
    let result = (|| {
        if !random {
            return None; // without MADV_RANDOM a read could clear a mark and start readahead
        }
        // Pass 1: the first cached page of each window.
        let mut firsts = Vec::new();
        for &i in &cached {
            if firsts.last().is_none_or(|&f| window(f) != window(i)) {
                read(i);
                firsts.push(i);
            }
        }
        let mapped = present(0, resident.len())?;
        let mut marked: Vec<u64> = cached.iter().filter(|&&i| !mapped[i]).map(|&i| i as u64).collect();
        // Pass 2: each page read in pass 1, seen from another cached page of its window.
        for &f in &firsts {
            let Some(&other) = cached.iter().find(|&&i| i != f && window(i) == window(f) && mapped[i]) else {
                continue;
            };
            let lo = cached.iter().copied().find(|&i| window(i) == window(f)).unwrap_or(f);
            let hi = cached.iter().copied().rfind(|&i| window(i) == window(f)).unwrap_or(f) + 1;
            // SAFETY: zaps the PTEs of pages lo..hi of the mapping made above (shared, read-only: nothing is
            // lost); the file's pages stay in the page cache.
            if unsafe { libc::madvise((base + lo * page) as *mut libc::c_void, (hi - lo) * page, libc::MADV_DONTNEED) }
                != 0
            {
                return None;
            }
            read(other);
            if !present(f, f + 1)?[0] {
                marked.push(f as u64);
            }
        }
        marked.sort_unstable();
        for &i in &marked {
            read(i as usize);
        }
        let all = entries(0, resident.len())?;
        let frames = cached.iter().filter(|&&i| all[i].present()).map(|&i| (i as u64, all[i].pfn())).collect();
        Some(FaultAround { skipped: marked, frames })
    })();
    // SAFETY: unmaps the reservation, and with it the file's mapping inside it; no reference into them exists.
    unsafe { libc::munmap(reserve, reserved) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmdb_trace::truth::parse_marker;

    #[test]
    fn ld_list_output_gives_the_paths() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd3e9f2000)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1a2c5b5000)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1a2c3d4000)\n\
                    \tlibmissing.so => not found\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f1a2c5f4000)\n";
        let want: Vec<PathBuf> =
            ["/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]
                .iter()
                .map(PathBuf::from)
                .collect();
        assert_eq!(parse_ld_list(text), want);
    }

    #[test]
    fn residency_becomes_ranges_and_bounded_lines() {
        let r = ranges([true, true, false, true, false, false, true].into_iter());
        assert_eq!(r, [(0, 1), (3, 3), (6, 6)]);
        let key = ((254, 0), 42);
        assert_eq!(lines(key, 7, &r, &[]), ["mmdb-pagecache dev=254:0 ino=42 first=0 pages=7 cached=0-1,3,6"]);
        assert_eq!(lines(key, 3, &[], &[]), ["mmdb-pagecache dev=254:0 ino=42 first=0 pages=3 cached=-"]);
        assert_eq!(
            lines(key, 7, &r, &[(1, 1), (6, 6)]),
            ["mmdb-pagecache dev=254:0 ino=42 first=0 pages=7 cached=0-1,3,6 readahead=1,6"]
        );
        // 200 cached pages every other index: 4 lines of at most 64 ranges that describe every page once.
        let many: Vec<(u64, u64)> = (0..200).map(|i| (2 * i + 1, 2 * i + 1)).collect();
        // Every fifth marked: each line carries the marks of its own pages.
        let marks: Vec<(u64, u64)> = many.iter().copied().step_by(5).collect();
        let out = lines(key, 401, &many, &marks);
        assert_eq!(out.len(), 4);
        let (mut next, mut found) = (0, Vec::new());
        for line in &out {
            let Ok(Marker::PageCache(p)) = parse_marker(line) else { panic!("{line}") };
            assert!(p.cached.len() <= PAGECACHE_MAX_RANGES && line.len() < 1400, "{line}");
            assert_eq!(p.first, next);
            next = p.first + p.pages;
            found.extend(p.readahead);
        }
        assert_eq!(next, 401);
        assert_eq!(found, marks);
    }

    #[test]
    fn devices_split_like_the_kernel() {
        assert_eq!(split_dev(0xfe00), (254, 0));
        assert_eq!(split_dev(0x0801), (8, 1));
    }

    #[test]
    fn a_file_is_measured_without_reading_it() {
        let exe = std::env::current_exe().expect("the test binary");
        let f = File::open(&exe).expect("open");
        let size = f.metadata().expect("stat").len();
        let v = mincore_file(&f, size).expect("mincore");
        assert_eq!(v.len() as u64, size.div_ceil(PAGE_SIZE));
        assert_eq!(mincore_file(&f, 0), None);
    }

    /// Readahead in flight (`POSIX_FADV_WILLNEED` starts it and returns) puts pages in the page cache that
    /// `mincore()` does not count until their I/O completes: the residency written waits for them.
    #[test]
    fn residency_waits_for_reads_in_flight() {
        use std::io::Write as _;
        let dir = std::env::current_exe().expect("the test binary").parent().expect("its directory").to_path_buf();
        let path = dir.join(format!("mmdb-inflight-probe-{}", std::process::id()));
        let pages = 2048;
        let mut f = File::create(&path).expect("create");
        f.write_all(&vec![7u8; pages * PAGE_SIZE as usize]).expect("write");
        f.sync_all().expect("fsync");
        let f = File::open(&path).expect("open");
        let size = pages as u64 * PAGE_SIZE;
        nix::fcntl::posix_fadvise(&f, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED).expect("fadvise");
        let evicted = mincore_file(&f, size).expect("mincore").iter().all(|&r| r & 1 == 0);
        nix::fcntl::posix_fadvise(&f, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED).expect("fadvise");
        let settled = settled_residency(&f, size).expect("mincore");
        let cached = cachestat_pages(&f);
        fs::remove_file(&path).expect("remove");
        if !evicted || cached.is_none() {
            eprintln!("{}: no page cache to drop, or no cachestat(); nothing to wait for", path.display());
            return;
        }
        let uptodate = settled.iter().filter(|&&r| r & 1 != 0).count() as u64;
        assert_eq!(Some(uptodate), cached);
        assert!(uptodate > 0);
    }

    /// A `read()` of page 0 of a file not cached reads 4 pages ahead (`get_init_ra_size()` of a 1-page request)
    /// and marks page 1 for the next readahead (`async_size` 3). The probe finds that mark, and finding it leaves
    /// the page cache and the mark as they were. It also finds the page frame of each cached page.
    #[test]
    fn readahead_marks_are_found_and_left_in_place() {
        use std::io::Write as _;
        use std::os::unix::fs::FileExt as _;
        let dir = std::env::current_exe().expect("the test binary").parent().expect("its directory").to_path_buf();
        let path = dir.join(format!("mmdb-readahead-probe-{}", std::process::id()));
        let mut f = File::create(&path).expect("create");
        f.write_all(&vec![7u8; 64 * PAGE_SIZE as usize]).expect("write");
        f.sync_all().expect("fsync");
        let f = File::open(&path).expect("open");
        nix::fcntl::posix_fadvise(&f, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED).expect("fadvise");
        let size = 64 * PAGE_SIZE;
        let before = mincore_file(&f, size).expect("mincore");
        let mut byte = [0u8; 1];
        f.read_exact_at(&mut byte, 0).expect("read");
        let cached = mincore_file(&f, size).expect("mincore");
        let marks = fault_around_skips(&f, size, &cached).map(|p| p.skipped);
        let again = probe(&f, size, &cached);
        let after = mincore_file(&f, size).expect("mincore");
        fs::remove_file(&path).expect("remove");
        if before.iter().any(|&r| r & 1 != 0) {
            // A file system that keeps no clean page out of memory (tmpfs): no readahead to see.
            eprintln!("the page cache of {} could not be dropped; nothing to probe", path.display());
            return;
        }
        assert_eq!(ranges(cached.iter().map(|&r| r & 1 != 0)), [(0, 3)]);
        assert_eq!(marks, Some(vec![1]));
        assert_eq!((again.marks, after), (vec![1], cached));
        assert_eq!(again.frames.iter().map(|f| f.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        if nix::unistd::geteuid().is_root() {
            // /proc/self/pagemap shows page frames to root only; four pages, four frames.
            let pfns: BTreeSet<u64> = again.frames.iter().map(|f| f.1).collect();
            assert!(pfns.len() == 4 && !pfns.contains(&0), "{:?}", again.frames);
        }
    }
}
