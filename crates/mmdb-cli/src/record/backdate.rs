//! Backdating the page-cache residency of files first measured after the exec stop (at a checkpoint, or at a
//! descendant's exec stop) to the exec stop.
//!
//! A file the program maps after exec (`dlopen()` of a Python extension module, an `mmap()` of a data file) is
//! measured only at the next checkpoint, when `/proc/PID/maps` first shows it ([`super::pagecache`]); its first
//! fault-arounds come before that, and a replay that takes its unknown pages to be cached maps pages the kernel
//! could not. But between the exec stop and the checkpoint the trace shows every page the recorded processes
//! brought into the page cache (`mm_filemap_add_to_page_cache`) or took out of it
//! (`mm_filemap_delete_from_page_cache`): undoing those changes, newest first, on what `mincore()` showed at the
//! checkpoint gives the residency at the exec stop. So after the recording the recorder reads its trace back and
//! writes, for each such file, `mmdb-pagecache` lines of that residency just before the first `mmdb-exec` marker,
//! with its timestamp, where the lines of the binary and its libraries already are.
//!
//! The reconstruction is exact for every page the recorded processes touched. Changes made by other tasks are not
//! in the trace (the main instance follows the recorded processes only): a page another task read in between is
//! taken to have been cached from the start, one that reclaim evicted in between to have been missing. On a warm
//! cache neither happens much; the checkpoint's own lines still follow and correct the replay from there.
//!
//! A file never measured at all (mapped and unmapped between checkpoints: git's objects, read through short-lived
//! mappings) still leaves a trace: a page whose first page-cache record after the exec stop is an addition was not
//! cached at the exec stop. Those pages get lines of their own there (`first=I pages=N cached=-`), and the replay
//! takes the file's other pages to be cached, as without residency.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead as _, BufReader, BufWriter, Write as _};
use std::path::Path;

use anyhow::Context as _;
use mmdb_model::filemap::PageRanges;
use mmdb_trace::truth::{Marker, PageCache, PageCachePage, TimedMarker};
use mmdb_trace::{Record, TraceLine};

use super::pagecache::{self, FileKey};
use crate::progress::Progress;
use crate::stream::{self, RealFormat};

/// One change of the page cache the trace shows: page indexes `index..end` of file `key` entered it (`cached`)
/// or left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// When (the trace clock).
    pub ts_ns: u64,
    /// The file.
    pub key: FileKey,
    /// The folio's first page index.
    pub index: u64,
    /// One past its last page index.
    pub end: u64,
    /// Added (`__filemap_add_folio()`) rather than removed (`__filemap_remove_folio()`).
    pub cached: bool,
}

/// A file's residency as one measurement described it: its size in pages and the indexes not cached.
#[derive(Clone, Debug)]
struct Measured {
    ts_ns: u64,
    pages: u64,
    uncached: PageRanges,
    /// The cached pages measured with `PG_readahead`.
    readahead: PageRanges,
    /// The page frames and kpageflags measured with it (`mmdb-pagecache-page`), by page index.
    frames: BTreeMap<u64, (u64, u64)>,
}

/// What a recording says about the page cache: the first exec stop, the residency lines written after it, and
/// the page-cache changes of its records.
#[derive(Debug, Default)]
pub struct Scan {
    /// The first `mmdb-exec` marker: its time and line.
    exec: Option<(u64, u32)>,
    /// The first measurement of each file measured after the exec stop.
    measured: BTreeMap<FileKey, Measured>,
    /// Every file some `mmdb-pagecache` line describes, before the exec stop or after.
    described: std::collections::BTreeSet<FileKey>,
    changes: Vec<Change>,
    /// The file whose first measurement the last marker was part of: its `mmdb-pagecache-page` lines follow.
    measuring: Option<FileKey>,
}

impl Scan {
    /// Takes note of a record: the page-cache changes.
    pub fn record(&mut self, l: &TraceLine) {
        let (p, cached) = match &l.record {
            Record::MmFilemapAddToPageCache(p) => (p, true),
            Record::MmFilemapDeleteFromPageCache(p) => (p, false),
            _ => return,
        };
        let Some(end) = p.end() else { return };
        let key = ((p.s_dev.major, p.s_dev.minor), p.i_ino);
        self.changes.push(Change { ts_ns: l.ts_ns, key, index: p.index, end, cached });
    }

    /// Takes note of a marker, in the order of the file that holds the markers: the first `mmdb-exec`, and the
    /// `mmdb-pagecache` lines after it. A file measured more than once keeps its first measurement, which may
    /// take several lines, each going on where the previous one stopped.
    pub fn marker(&mut self, m: &TimedMarker) {
        let measuring = self.measuring.take();
        match &m.marker {
            Marker::Exec(_) if self.exec.is_none() => self.exec = Some((m.ts_ns, m.line)),
            Marker::PageCache(p) => {
                self.described.insert((p.dev, p.ino));
                if self.exec.is_some() && self.measured_line(m.ts_ns, p) {
                    self.measuring = Some((p.dev, p.ino));
                }
            }
            Marker::PageCachePage(p) if measuring == Some((p.dev, p.ino)) => {
                if let Some(measured) = self.measured.get_mut(&(p.dev, p.ino)) {
                    measured.frames.insert(p.index, (p.pfn, p.kflags));
                }
                self.measuring = measuring;
            }
            _ => {}
        }
    }

    /// Adds a line to the first measurement of its file; false when it belongs to a later one.
    fn measured_line(&mut self, ts_ns: u64, p: &PageCache) -> bool {
        let end = p.first.saturating_add(p.pages);
        let m = match self.measured.get_mut(&(p.dev, p.ino)) {
            None if p.first == 0 => self.measured.entry((p.dev, p.ino)).or_insert(Measured {
                ts_ns,
                pages: 0,
                uncached: PageRanges::default(),
                readahead: PageRanges::default(),
                frames: BTreeMap::new(),
            }),
            Some(m) if p.first != 0 && p.first == m.pages => m,
            _ => return false, // a later measurement, or a line that does not go on from the last one
        };
        m.pages = end;
        for (a, b) in p.uncached() {
            m.uncached.insert(a, b.saturating_add(1));
        }
        for &(a, b) in &p.readahead {
            m.readahead.insert(a, b.saturating_add(1));
        }
        true
    }

    /// The `mmdb-pagecache` lines of each file measured after the exec stop, as its residency was at the exec
    /// stop: the measurement with the changes between the two undone, newest first (an addition means the pages
    /// were not cached before it, a removal that they were).
    pub fn backdated(&self) -> Vec<String> {
        let Some((exec_ts, _)) = self.exec else { return Vec::new() };
        let mut by_key: BTreeMap<FileKey, Vec<&Change>> = BTreeMap::new();
        for c in self.changes.iter().filter(|c| c.ts_ns > exec_ts) {
            by_key.entry(c.key).or_default().push(c);
        }
        let mut out = Vec::new();
        for (&key, m) in &self.measured {
            let (mut pages, mut uncached, mut readahead) = (m.pages, m.uncached.clone(), m.readahead.clone());
            let mut frames = m.frames.clone();
            let mut changes: Vec<&Change> =
                by_key.get(&key).map(|v| v.iter().copied().filter(|c| c.ts_ns < m.ts_ns).collect()).unwrap_or_default();
            // Stable: changes at the same time keep their trace order, and are undone last one first.
            changes.sort_by_key(|c| c.ts_ns);
            for c in changes.iter().rev() {
                // A page added in between carried no mark at the exec stop (it was not cached); one removed in
                // between may have: its mark is not known. Nor is the frame of either.
                readahead.remove(c.index, c.end);
                frames.retain(|&i, _| !(c.index..c.end).contains(&i));
                if c.cached {
                    uncached.insert(c.index, c.end);
                } else {
                    // A page removed in between was cached before, even beyond a later, shorter file's end.
                    pages = pages.max(c.end);
                    uncached.remove(c.index, c.end);
                }
            }
            let cached = complement(&uncached, pages);
            let readahead: Vec<(u64, u64)> = readahead.iter().map(|(a, b)| (a, b - 1)).collect();
            out.extend(pagecache::lines(key, pages, &cached, &readahead));
            let (dev, ino) = key;
            out.extend(frames.into_iter().map(|(index, (pfn, kflags))| {
                Marker::PageCachePage(PageCachePage { dev, ino, index, pfn, kflags }).to_string()
            }));
        }
        out
    }

    /// The `mmdb-pagecache` lines of the files no line describes: for each, the pages whose first page-cache
    /// record after the exec stop is an addition, which were not cached at the exec stop; and how many files
    /// those lines describe.
    pub fn unmeasured(&self) -> (Vec<String>, usize) {
        let Some((exec_ts, _)) = self.exec else { return (Vec::new(), 0) };
        let mut by_key: BTreeMap<FileKey, Vec<&Change>> = BTreeMap::new();
        for c in self.changes.iter().filter(|c| c.ts_ns > exec_ts && !self.described.contains(&c.key)) {
            by_key.entry(c.key).or_default().push(c);
        }
        let (mut out, mut files) = (Vec::new(), 0);
        for ((dev, ino), mut changes) in by_key {
            changes.sort_by_key(|c| c.ts_ns);
            let (mut seen, mut missing) = (PageRanges::default(), PageRanges::default());
            for c in changes {
                if c.cached {
                    // The part of the folio no earlier record spoke of.
                    let mut new = PageRanges::default();
                    new.insert(c.index, c.end);
                    for (a, b) in seen.iter() {
                        new.remove(a, b);
                    }
                    for (a, b) in new.iter() {
                        missing.insert(a, b);
                    }
                }
                seen.insert(c.index, c.end);
            }
            files += usize::from(!missing.is_empty());
            for (first, end) in missing.iter() {
                let m = PageCache { dev, ino, first, pages: end - first, cached: Vec::new(), readahead: Vec::new() };
                out.push(Marker::PageCache(m).to_string());
            }
        }
        (out, files)
    }

    /// The line of the first `mmdb-exec` marker, if there is one.
    pub fn exec_line(&self) -> Option<u32> {
        self.exec.map(|(_, line)| line)
    }
}

/// The indexes of `0..pages` not in `uncached`, as inclusive ranges.
fn complement(uncached: &PageRanges, pages: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = 0;
    for (a, b) in uncached.iter() {
        let a = a.min(pages);
        if a > at {
            out.push((at, a - 1));
        }
        at = at.max(b);
    }
    if at < pages {
        out.push((at, pages - 1));
    }
    out
}

/// Backdates the residency in an ftrace recording, whose markers are in the trace. Returns how many files' were
/// backdated, and how many files never measured got lines of their missing pages.
pub fn ftrace(trace: &Path) -> anyhow::Result<(usize, usize)> {
    let mut scan = Scan::default();
    read(trace, RealFormat::Ftrace, &mut scan, true)?;
    finish(&scan, trace)
}

/// Backdates the residency in a perf recording: the changes are in the perf text, the markers in the side file.
pub fn perf(trace: &Path, truth: &Path) -> anyhow::Result<(usize, usize)> {
    let mut scan = Scan::default();
    read(trace, RealFormat::Perf, &mut scan, false)?;
    let bytes = std::fs::read(truth).with_context(|| format!("cannot read {}", truth.display()))?;
    for m in mmdb_trace::parse_truth_sidefile(&bytes).0 {
        scan.marker(&m);
    }
    finish(&scan, truth)
}

/// Reads a recording's records (and, with `markers`, its markers) into `scan`.
fn read(path: &Path, format: RealFormat, scan: &mut Scan, markers: bool) -> anyhow::Result<()> {
    let display = path.display().to_string();
    let mut text = crate::input::open_text(path, &display)?;
    let first = text.read_piece(stream::PIECE).map_err(|e| text.error(e))?.unwrap_or_default();
    let progress = Progress::bytes(&format!("reading back {display}"), None);
    let streamed = stream::parse_pieces(&mut text, first, format, stream::PIECE, 1, &progress, |p| {
        for l in &p.lines {
            scan.record(l);
        }
        if markers {
            for m in mmdb_trace::trace_markers(&p).0 {
                scan.marker(&m);
            }
        }
    });
    progress.finish();
    streamed.map_err(|e| text.error(e))?;
    Ok(())
}

/// Writes the backdated lines into `markers` (the file holding the markers) before its first `mmdb-exec`.
fn finish(scan: &Scan, markers: &Path) -> anyhow::Result<(usize, usize)> {
    let mut lines = scan.backdated();
    let (missing, files) = scan.unmeasured();
    lines.extend(missing);
    let (Some(line), false) = (scan.exec_line(), lines.is_empty()) else { return Ok((0, 0)) };
    insert_before(markers, line, &lines).with_context(|| format!("cannot write {}", markers.display()))?;
    Ok((scan.measured.len(), files))
}

/// Rewrites `path` with a line for each of `markers` before its line `before` (1-based): that line's text up to its
/// marker (`mmdb-exec`), which gives the new lines its prefix and timestamp, followed by the marker. The file is
/// written beside `path` and renamed over it, so a failure leaves `path` as it was.
fn insert_before(path: &Path, before: u32, markers: &[String]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".backdating");
    let tmp = std::path::PathBuf::from(tmp);
    let result = (|| {
        let mut r = BufReader::new(File::open(path)?);
        let mut w = BufWriter::new(File::create(&tmp)?);
        let mut line = Vec::new();
        let mut n = 0u32;
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            n += 1;
            if n == before {
                let at = memchr::memmem::find(&line, b": mmdb-exec").map_or(0, |i| i + 2);
                for m in markers {
                    w.write_all(&line[..at])?;
                    w.write_all(m.as_bytes())?;
                    w.write_all(b"\n")?;
                }
            }
            w.write_all(&line)?;
        }
        w.flush()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmdb_trace::truth::parse_marker;

    fn pagecache(line: &str) -> Marker {
        parse_marker(line).expect("a marker")
    }

    fn timed(ts_ns: u64, marker: Marker) -> TimedMarker {
        TimedMarker { ts_ns, line: 0, marker }
    }

    fn change(ts_ns: u64, index: u64, end: u64, cached: bool) -> Change {
        Change { ts_ns, key: ((254, 0), 42), index, end, cached }
    }

    fn exec() -> Marker {
        parse_marker("mmdb-exec pid=10 start_stack=0x7ffc00001000 arg_start=0x7ffc00000f00 env_end=0x7ffc00000ff0")
            .expect("a marker")
    }

    #[test]
    fn a_measurement_after_exec_is_undone_back_to_it() {
        let mut scan = Scan::default();
        // Before the exec stop: the binary's line stays where it is and is not backdated.
        scan.marker(&timed(5, pagecache("mmdb-pagecache dev=254:0 ino=7 first=0 pages=2 cached=0-1")));
        scan.marker(&timed(10, exec()));
        // Measured at a checkpoint at t=100: pages 0-5 and 8 cached of 10.
        scan.marker(&timed(100, pagecache("mmdb-pagecache dev=254:0 ino=42 first=0 pages=10 cached=0-5,8")));
        // A later measurement of the same file is not the first.
        scan.marker(&timed(200, pagecache("mmdb-pagecache dev=254:0 ino=42 first=0 pages=10 cached=-")));
        scan.changes = vec![
            change(8, 9, 10, true),    // before the exec stop: the state at the exec stop has it
            change(20, 2, 4, true),    // read in after the exec stop: not cached at it
            change(30, 6, 7, false),   // evicted after: cached at it
            change(40, 6, 7, true),    // ... and read in again: undone first, then the eviction
            change(50, 3, 4, false),   // read in at 20, evicted at 50: still not cached at the exec stop
            change(150, 0, 10, false), // after the measurement: not undone
            Change { key: ((254, 0), 7), ..change(20, 0, 1, true) }, // another file
        ];
        assert_eq!(scan.backdated(), ["mmdb-pagecache dev=254:0 ino=42 first=0 pages=10 cached=0-1,4-6,8"]);
    }

    /// The page frames measured with a file go back with it, but not those of pages that left or entered the page
    /// cache in between (their frame at the exec stop is not known), nor those of a later measurement.
    #[test]
    fn page_frames_measured_go_back_with_their_file() {
        let frame = |ts: u64, index: u64, pfn: u64| {
            let line = format!("mmdb-pagecache-page dev=254:0 ino=42 index={index} pfn={pfn:#x} kflags=0x40000086c");
            timed(ts, pagecache(&line))
        };
        let mut scan = Scan::default();
        scan.marker(&frame(5, 0, 0x100)); // before the exec stop: stays there
        scan.marker(&timed(10, exec()));
        scan.marker(&timed(100, pagecache("mmdb-pagecache dev=254:0 ino=42 first=0 pages=3 cached=0-2")));
        for (index, pfn) in [(0, 0x200), (1, 0x201), (2, 0x202)] {
            scan.marker(&frame(100, index, pfn));
        }
        scan.marker(&timed(101, pagecache("mmdb-checkpoint begin id=1")));
        scan.marker(&frame(300, 0, 0x300)); // not after a measurement of its file
        scan.changes = vec![change(50, 1, 2, true)];
        assert_eq!(
            scan.backdated(),
            [
                "mmdb-pagecache dev=254:0 ino=42 first=0 pages=3 cached=0,2",
                "mmdb-pagecache-page dev=254:0 ino=42 index=0 pfn=0x200 kflags=0x40000086c",
                "mmdb-pagecache-page dev=254:0 ino=42 index=2 pfn=0x202 kflags=0x40000086c",
            ]
        );
    }

    #[test]
    fn a_measurement_of_several_lines_and_a_removal_beyond_the_end() {
        let mut scan = Scan::default();
        scan.marker(&timed(10, exec()));
        scan.marker(&timed(100, pagecache("mmdb-pagecache dev=254:0 ino=42 first=0 pages=4 cached=0")));
        scan.marker(&timed(100, pagecache("mmdb-pagecache dev=254:0 ino=42 first=4 pages=2 cached=5")));
        // The file lost pages 6-7 in between (truncated): they were cached at the exec stop.
        scan.changes = vec![change(50, 6, 8, false)];
        assert_eq!(scan.backdated(), ["mmdb-pagecache dev=254:0 ino=42 first=0 pages=8 cached=0,5-7"]);
        // Without an exec stop there is nothing to backdate to.
        assert!(Scan { exec: None, ..scan }.backdated().is_empty());
    }

    #[test]
    fn pages_of_files_never_measured_first_added_were_missing() {
        let mut scan = Scan::default();
        scan.marker(&timed(5, pagecache("mmdb-pagecache dev=254:0 ino=7 first=0 pages=2 cached=0-1")));
        scan.marker(&timed(10, exec()));
        let other = |c: Change| Change { key: ((254, 0), 43), ..c };
        scan.changes = vec![
            change(8, 0, 1, true),         // before the exec stop: the image exec replaced
            change(20, 2, 4, true),        // added first: missing at the exec stop
            change(30, 3, 4, false),       // evicted, then added again: still missing (added first)
            change(40, 3, 4, true),        //
            change(50, 6, 7, false),       // removed first: cached at the exec stop
            change(60, 6, 7, true),        //
            change(70, 4, 6, true),        // a folio next to the first: one line for 2-5
            other(change(20, 0, 1, true)), // another file never measured
            Change { key: ((254, 0), 7), ..change(20, 5, 6, true) }, // a file described before the exec stop
        ];
        let lines = [
            "mmdb-pagecache dev=254:0 ino=42 first=2 pages=4 cached=-",
            "mmdb-pagecache dev=254:0 ino=43 first=0 pages=1 cached=-",
        ];
        assert_eq!(scan.unmeasured(), (lines.map(String::from).to_vec(), 2));
        assert_eq!(Scan { exec: None, ..scan }.unmeasured(), (Vec::new(), 0));
    }

    #[test]
    fn the_lines_go_before_the_exec_marker_with_its_prefix() {
        let dir = std::env::temp_dir().join(format!("mmdb-backdate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("t.ftrace");
        let text = "# header\n\
                    mmdb-9 [001] ..... 1.000000: tracing_mark_write: mmdb-exec-vma pid=10\n\
                    mmdb-9 [001] ..... 1.000001: tracing_mark_write: mmdb-exec pid=10 sp=0x1 arg_start=0x1\n\
                    app-10 [000] ..... 1.000002: exit:\n";
        std::fs::write(&path, text).expect("write");
        insert_before(&path, 3, &["mmdb-pagecache a".to_string(), "mmdb-pagecache b".to_string()]).expect("insert");
        let out = std::fs::read_to_string(&path).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        let want = "# header\n\
                    mmdb-9 [001] ..... 1.000000: tracing_mark_write: mmdb-exec-vma pid=10\n\
                    mmdb-9 [001] ..... 1.000001: tracing_mark_write: mmdb-pagecache a\n\
                    mmdb-9 [001] ..... 1.000001: tracing_mark_write: mmdb-pagecache b\n\
                    mmdb-9 [001] ..... 1.000001: tracing_mark_write: mmdb-exec pid=10 sp=0x1 arg_start=0x1\n\
                    app-10 [000] ..... 1.000002: exit:\n";
        assert_eq!(out, want);
    }
}
