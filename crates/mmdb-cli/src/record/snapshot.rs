//! Reading a stopped process's memory from `/proc` into marker lines, and where the lines go.
//!
//! Nothing global changes while a snapshot is taken: no cache drop, no LRU drain; the files are only read.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use nix::time::{clock_gettime, ClockId};

use super::markers::{self, page_line, truth_line, KpageInfo, MapsEntry, PageScan, PagemapEntry, PAGE_SIZE};
use mmdb_trace::truth::Marker;

/// How many pagemap entries one read fetches (512 KiB of entries cover 256 MiB of address space).
const PAGEMAP_CHUNK: u64 = 64 * 1024;

/// Where marker lines go: the tracefs instance's `trace_marker`, or a side file with timestamps for perf.
pub trait MarkerSink {
    /// Writes one marker line (without its newline).
    fn mark(&mut self, line: &str) -> io::Result<()>;
}

/// Writes each line with one `write()`, as `trace_marker` requires: a line is one event.
#[derive(Debug)]
pub struct TraceMarker(pub File);

impl MarkerSink for TraceMarker {
    fn mark(&mut self, line: &str) -> io::Result<()> {
        let n = self.0.write(line.as_bytes())?;
        if n != line.len() {
            return Err(io::Error::other(format!("trace_marker took {n} of {} bytes", line.len())));
        }
        Ok(())
    }
}

/// The `FILE.truth` side file of a perf recording: each line prefixed by its CLOCK_MONOTONIC time.
#[derive(Debug)]
pub struct TruthFile(pub BufWriter<File>);

impl MarkerSink for TruthFile {
    fn mark(&mut self, line: &str) -> io::Result<()> {
        let now = clock_gettime(ClockId::CLOCK_MONOTONIC).map_err(io::Error::from)?;
        writeln!(self.0, "{}", truth_line(now.tv_sec(), now.tv_nsec(), line))
    }
}

/// `/proc/kpagecount` and `/proc/kpageflags`, opened once per checkpoint.
#[derive(Debug)]
pub struct Kpage {
    count: File,
    flags: File,
}

impl Kpage {
    /// Opens both files (root only).
    pub fn open() -> io::Result<Kpage> {
        Ok(Kpage { count: File::open("/proc/kpagecount")?, flags: File::open("/proc/kpageflags")? })
    }

    /// The mapcount and flags of `pfn`; a pfn the files do not cover reads as zeros.
    pub fn info(&self, pfn: u64) -> KpageInfo {
        let read = |f: &File| {
            let mut b = [0u8; 8];
            f.read_exact_at(&mut b, pfn * 8).map(|()| u64::from_ne_bytes(b)).unwrap_or(0)
        };
        KpageInfo { mapcount: read(&self.count), kflags: read(&self.flags) }
    }
}

/// One process's part of a checkpoint ([`process_lines`]).
#[derive(Debug, Default)]
pub struct ProcessSnapshot {
    /// Its marker lines.
    pub lines: Vec<String>,
    /// The page frame of every present file page (pagemap bit 61) of the VMAs scanned, listed or not: a private
    /// mapping's page-cache page is not listed, but it is one of the page's mappings all the same.
    pub file_pfns: Vec<u64>,
    /// (pfn, kpagecount) of each present file page listed.
    pub listed_file: Vec<(u64, u64)>,
}

/// The mappings of each listed file page by processes outside the trace: kpagecount less the traced processes'
/// PTEs that map the page frame, for the pages where that is not 0 (`mmdb-outside`).
pub fn outside(snapshots: &[ProcessSnapshot]) -> BTreeMap<u64, u64> {
    let mut traced: BTreeMap<u64, u64> = BTreeMap::new();
    for pfn in snapshots.iter().flat_map(|s| &s.file_pfns) {
        *traced.entry(*pfn).or_default() += 1;
    }
    let mut out = BTreeMap::new();
    for &(pfn, mapcount) in snapshots.iter().flat_map(|s| &s.listed_file) {
        let outside = mapcount.saturating_sub(traced.get(&pfn).copied().unwrap_or(0));
        if outside > 0 {
            out.insert(pfn, outside);
        }
    }
    out
}

/// The marker lines of one process: its rollup, every VMA in maps order, then its pages in address order; and the
/// page frames of its file pages, for [`outside`].
///
/// An error means the process could not be read (it exited, for one); the caller skips it.
pub fn process_lines(pid: i32, kpage: &Kpage) -> io::Result<ProcessSnapshot> {
    let proc = Path::new("/proc").join(pid.to_string());
    let rollup = markers::rollup(
        pid,
        &fs::read_to_string(proc.join("smaps_rollup"))?,
        &fs::read_to_string(proc.join("status"))?,
    );
    let maps = fs::read_to_string(proc.join("maps"))?;
    let vmas: Vec<MapsEntry> = maps
        .lines()
        .map(|l| MapsEntry::parse(l).ok_or_else(|| io::Error::other(format!("unexpected maps line: {l}"))))
        .collect::<io::Result<_>>()?;
    let pagemap = File::open(proc.join("pagemap"))?;

    let mut snap = ProcessSnapshot::default();
    let mut lines = Vec::with_capacity(1 + vmas.len());
    lines.push(Marker::Rollup(rollup).to_string());
    lines.extend(vmas.iter().map(|v| v.line(pid)));
    let mut buf = Vec::new();
    for vma in &vmas {
        let scan = vma.page_scan();
        if scan == PageScan::Skip {
            continue;
        }
        let mut done = 0;
        while done < vma.pages() {
            let n = (vma.pages() - done).min(PAGEMAP_CHUNK);
            let first = vma.start / PAGE_SIZE + done;
            buf.resize(n as usize * 8, 0);
            pagemap.read_exact_at(&mut buf, first * 8)?;
            for (i, raw) in buf.chunks_exact(8).enumerate() {
                let entry = PagemapEntry(u64::from_ne_bytes(raw.try_into().expect("chunks of 8 bytes")));
                let file = entry.present() && entry.file();
                if file {
                    snap.file_pfns.push(entry.pfn());
                }
                if entry.listed(scan) {
                    let kp = if entry.present() { kpage.info(entry.pfn()) } else { KpageInfo::default() };
                    if file {
                        snap.listed_file.push((entry.pfn(), kp.mapcount));
                    }
                    lines.push(page_line(pid, (first + i as u64) * PAGE_SIZE, entry, kp));
                }
            }
            done += n;
        }
    }
    snap.lines = lines;
    Ok(snap)
}
