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

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mmdb_trace::truth::{Marker, PageCache, PAGECACHE_MAX_RANGES};

use super::markers::{MapsEntry, PAGE_SIZE};

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
                lines.extend(File::open(&lib).ok().and_then(|f| residency_lines(&f, key)).unwrap_or_default());
            }
        }
        lines
    }

    /// The `mmdb-pagecache` lines of the files `pid` maps (its `/proc/PID/maps` lines `mapped`) that have none yet,
    /// each opened through `/proc/PID/map_files`, which names the mapped file even when its path no longer does.
    pub fn mapped_lines(&mut self, pid: i32, mapped: &[MapsEntry]) -> Vec<String> {
        let mut lines = Vec::new();
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
                lines.extend(residency_lines(&f, key).unwrap_or_default());
            }
        }
        lines
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
fn split_dev(dev: u64) -> (u32, u32) {
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

/// The `mmdb-pagecache` lines of an open file named `key`, if it can be measured.
fn residency_lines(file: &File, key: FileKey) -> Option<Vec<String>> {
    let size = file.metadata().ok()?.len();
    let resident = mincore_file(file, size)?;
    let pages = u64::try_from(resident.len()).ok()?;
    let cached = ranges(resident.iter().map(|&r| r & 1 != 0));
    Some(lines(key, pages, &cached))
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

/// The lines of a file of `pages` pages whose cached ranges are `cached`: one line per [`PAGECACHE_MAX_RANGES`]
/// ranges, each describing the indexes from its first range (0 for the first line) to the next line's, the last
/// one to the file's end, so that together they describe every page.
pub(super) fn lines((dev, ino): FileKey, pages: u64, cached: &[(u64, u64)]) -> Vec<String> {
    let chunks: Vec<&[(u64, u64)]> =
        if cached.is_empty() { vec![&[]] } else { cached.chunks(PAGECACHE_MAX_RANGES).collect() };
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let first = if i == 0 { 0 } else { chunk[0].0 };
        let end = chunks.get(i + 1).map_or(pages, |next| next[0].0);
        let marker = PageCache { dev, ino, first, pages: end - first, cached: chunk.to_vec() };
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
        assert_eq!(lines(key, 7, &r), ["mmdb-pagecache dev=254:0 ino=42 first=0 pages=7 cached=0-1,3,6"]);
        assert_eq!(lines(key, 3, &[]), ["mmdb-pagecache dev=254:0 ino=42 first=0 pages=3 cached=-"]);
        // 200 cached pages every other index: 4 lines of at most 64 ranges that describe every page once.
        let many: Vec<(u64, u64)> = (0..200).map(|i| (2 * i + 1, 2 * i + 1)).collect();
        let out = lines(key, 401, &many);
        assert_eq!(out.len(), 4);
        let mut next = 0;
        for line in &out {
            let Ok(Marker::PageCache(p)) = parse_marker(line) else { panic!("{line}") };
            assert!(p.cached.len() <= PAGECACHE_MAX_RANGES && line.len() < 1024, "{line}");
            assert_eq!(p.first, next);
            next = p.first + p.pages;
        }
        assert_eq!(next, 401);
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
}
