//! The ground-truth marker lines of `ground-truth-format.md`, and the pure parsing of `/proc` text behind them.
//!
//! ```text
//! mmdb-record pid=<P> cmd=<command line, rest of line>
//! mmdb-checkpoint begin id=<N>
//! mmdb-rollup pid=<P> rss_kb=<Rss> pss_kb=<Pss> anon_kb=<Anonymous> lazyfree_kb=<LazyFree> anonhuge_kb=<AnonHugePages> swap_kb=<Swap> rss_anon_kb=<RssAnon> rss_file_kb=<RssFile> rss_shmem_kb=<RssShmem>
//! mmdb-vma pid=<P> start=0x<hex> end=0x<hex> perms=<rwxp|rwxs> offset=0x<hex> name=<rest of line>
//! mmdb-page pid=<P> vaddr=0x<hex> pfn=0x<hex> present=<0|1> swapped=<0|1> excl=<0|1> soft_dirty=<0|1> file=<0|1> mapcount=<dec> kflags=0x<hex>
//! mmdb-checkpoint end id=<N>
//! ```
//!
//! Nothing here reads a file: the recorder reads `/proc` and hands the text or the raw 64-bit words to these functions.
//! The lines themselves are written by [`Marker`]'s `Display`, the same grammar implementation the verifier reads
//! back with `mmdb_trace::truth::parse_marker`.

use mmdb_trace::truth::{self, Marker};

/// The base page size of x86-64, which is also the unit of `/proc/PID/pagemap`.
pub const PAGE_SIZE: u64 = 4096;

/// Special mappings whose pages are never scanned (they are not the process's memory).
pub const UNSCANNED_NAMES: [&str; 5] = ["[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]", "[uprobes]"];

/// The `mmdb-record` line that opens every recording: the pid whose `execve` starts the recorded program.
pub fn record_line(pid: i32, cmd: &str) -> String {
    Marker::Record { pid: pid as u32, cmd: one_line(cmd) }.to_string()
}

/// The `mmdb-bdi` marker of the backing device named `name` in `/sys/class/bdi` (`<MAJ>:<MIN>` for a block
/// device), whose `read_ahead_kb` file reads `read_ahead_kb`; `None` for a device without numbers (`btrfs-1`).
pub fn bdi_marker(name: &str, read_ahead_kb: &str) -> Option<Marker> {
    let (major, minor) = name.split_once(':')?;
    let dev = (major.parse().ok()?, minor.parse().ok()?);
    let read_ahead_kb = read_ahead_kb.trim().parse().ok()?;
    Some(Marker::Bdi { dev, read_ahead_kb })
}

/// The `mmdb-checkpoint begin` line.
pub fn checkpoint_begin(id: u64) -> String {
    Marker::CheckpointBegin { id: u32::try_from(id).unwrap_or(u32::MAX) }.to_string()
}

/// The `mmdb-checkpoint end` line.
pub fn checkpoint_end(id: u64) -> String {
    Marker::CheckpointEnd { id: u32::try_from(id).unwrap_or(u32::MAX) }.to_string()
}

/// Joins a command line for the `cmd=` field; line breaks become spaces so the marker stays one line.
pub fn command_line<S: AsRef<str>>(args: &[S]) -> String {
    let joined = args.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ");
    one_line(&joined)
}

/// Replaces line breaks by spaces: every marker is exactly one line of the trace.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect()
}

/// A side-file line for perf recordings: the marker prefixed by its CLOCK_MONOTONIC time, `1277.379730585: ...`.
pub fn truth_line(secs: i64, nanos: i64, line: &str) -> String {
    format!("{secs}.{nanos:09}: {line}")
}

/// The `mmdb-rollup` values of process `pid`, read from the text of `/proc/PID/smaps_rollup` (Rss, Pss,
/// Anonymous, LazyFree, AnonHugePages, Swap) and `/proc/PID/status` (RssAnon, RssFile, RssShmem), in kB; a
/// missing field is 0.
pub fn rollup(pid: i32, smaps_rollup: &str, status: &str) -> truth::Rollup {
    let r = |key| kb_field(smaps_rollup, key).unwrap_or(0);
    let s = |key| kb_field(status, key).unwrap_or(0);
    truth::Rollup {
        pid: pid as u32,
        rss_kb: r("Rss"),
        pss_kb: r("Pss"),
        anon_kb: r("Anonymous"),
        lazyfree_kb: r("LazyFree"),
        anonhuge_kb: r("AnonHugePages"),
        swap_kb: r("Swap"),
        rss_anon_kb: s("RssAnon"),
        rss_file_kb: s("RssFile"),
        rss_shmem_kb: s("RssShmem"),
    }
}

/// The value of a `Key:   1234 kB` line of a `/proc` file, matching the key exactly (`Pss` is not `Pss_Anon`).
fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, rest) = line.split_once(':')?;
        if k != key {
            return None;
        }
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// One line of `/proc/PID/maps`: `start-end perms offset dev inode path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapsEntry {
    /// First address of the VMA.
    pub start: u64,
    /// One past the last address of the VMA.
    pub end: u64,
    /// `rwxp` or `rwxs`.
    pub perms: String,
    /// File offset in bytes (0 for anonymous memory).
    pub offset: u64,
    /// The backing file's device (major, minor; `/proc/PID/maps` prints them in hex), `(0, 0)` without one.
    pub dev: (u32, u32),
    /// The inode of the backing file, 0 without one.
    pub inode: u64,
    /// The path or pseudo-name (`[heap]`, `[anon:NAME]`, ...); empty for an unnamed anonymous mapping.
    pub path: String,
}

/// How many of a VMA's pages a checkpoint lists, by the "Which pages" rule of the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageScan {
    /// Every present or swapped page: anonymous VMAs (`[anon]`, `[heap]`, `[stack]`, `[anon:...]`) and shared ones.
    All,
    /// In a private file mapping, only the anonymous COW copies: pages whose pagemap file bit is 0.
    AnonCopies,
    /// Never scanned: `[vvar]`, `[vvar_vclock]`, `[vdso]`, `[vsyscall]`, `[uprobes]`.
    Skip,
}

impl MapsEntry {
    /// Parses one line of `/proc/PID/maps`; the path runs to the end of the line and may contain spaces.
    pub fn parse(line: &str) -> Option<MapsEntry> {
        let (range, rest) = next_field(line)?;
        let (perms, rest) = next_field(rest)?;
        let (offset, rest) = next_field(rest)?;
        let (dev, rest) = next_field(rest)?;
        let (major, minor) = dev.split_once(':')?;
        let (inode, rest) = next_field(rest)?;
        let (start, end) = range.split_once('-')?;
        if perms.len() != 4 {
            return None;
        }
        Some(MapsEntry {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            perms: perms.to_string(),
            offset: u64::from_str_radix(offset, 16).ok()?,
            dev: (u32::from_str_radix(major, 16).ok()?, u32::from_str_radix(minor, 16).ok()?),
            inode: inode.parse().ok()?,
            path: rest.trim_start_matches(' ').to_string(),
        })
    }

    /// The `name=` of the VMA line: the path, or `[anon]` for an unnamed anonymous mapping.
    pub fn name(&self) -> &str {
        if self.path.is_empty() {
            "[anon]"
        } else {
            &self.path
        }
    }

    /// Whether the mapping is shared (`s` in the fourth permission column).
    pub fn is_shared(&self) -> bool {
        self.perms.as_bytes().get(3) == Some(&b's')
    }

    /// Which of the VMA's pages a checkpoint lists.
    pub fn page_scan(&self) -> PageScan {
        if UNSCANNED_NAMES.contains(&self.path.as_str()) {
            PageScan::Skip
        } else if self.is_shared() || self.path.is_empty() || self.path.starts_with('[') {
            // `[heap]`, `[stack]`, `[anon:NAME]`: memory without a backing file.
            PageScan::All
        } else {
            PageScan::AnonCopies
        }
    }

    /// Number of base pages the VMA spans.
    pub fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }

    /// The `mmdb-exec-vma` line of this VMA in process `pid` (an input marker: exec's layout), if its
    /// permissions parse.
    pub fn exec_line(&self, pid: i32) -> Option<String> {
        let vma = self.vma(pid)?;
        Some(Marker::ExecVma(truth::ExecVma { vma, dev: self.dev, ino: self.inode }).to_string())
    }

    /// The marker's view of this VMA in process `pid`, if its permissions parse.
    fn vma(&self, pid: i32) -> Option<truth::Vma> {
        Some(truth::Vma {
            pid: pid as u32,
            start: self.start,
            end: self.end,
            perms: truth::Perms::parse(&self.perms)?,
            offset: self.offset,
            name: self.name().to_string(),
        })
    }

    /// The `mmdb-vma` line of this VMA in process `pid`.
    pub fn line(&self, pid: i32) -> String {
        match self.vma(pid) {
            Some(vma) => Marker::Vma(vma).to_string(),
            // /proc/PID/maps always prints four permission characters; keep whatever it printed otherwise.
            None => format!(
                "mmdb-vma pid={pid} start={:#x} end={:#x} perms={} offset={:#x} name={}",
                self.start,
                self.end,
                self.perms,
                self.offset,
                self.name()
            ),
        }
    }
}

/// Splits off the next space-separated field, skipping leading spaces; `None` at the end of the line.
fn next_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    Some(s.split_once(' ').unwrap_or((s, "")))
}

/// One 64-bit entry of `/proc/PID/pagemap` (Documentation/admin-guide/mm/pagemap.rst).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagemapEntry(pub u64);

impl PagemapEntry {
    /// Bits 0-54: the pfn of a present page, or the swap entry (type in bits 0-4, offset in 5-54).
    pub const PFN_MASK: u64 = (1 << 55) - 1;

    /// Bit 63: the page is present.
    pub fn present(self) -> bool {
        self.0 >> 63 & 1 == 1
    }

    /// Bit 62: the page is swapped out.
    pub fn swapped(self) -> bool {
        self.0 >> 62 & 1 == 1
    }

    /// Bit 61: a page-cache page or shared anonymous memory.
    pub fn file(self) -> bool {
        self.0 >> 61 & 1 == 1
    }

    /// Bit 56: the page is mapped exactly once.
    pub fn exclusive(self) -> bool {
        self.0 >> 56 & 1 == 1
    }

    /// Bit 55: the PTE is soft-dirty (always 0 on kernels without soft-dirty).
    pub fn soft_dirty(self) -> bool {
        self.0 >> 55 & 1 == 1
    }

    /// Bits 0-54: the pfn, or the raw swap entry of a swapped page.
    pub fn pfn(self) -> u64 {
        self.0 & Self::PFN_MASK
    }

    /// Whether a checkpoint lists this page of a VMA scanned as `scan`: only present or swapped pages appear.
    pub fn listed(self, scan: PageScan) -> bool {
        if !self.present() && !self.swapped() {
            return false;
        }
        match scan {
            PageScan::All => true,
            PageScan::AnonCopies => !self.file(),
            PageScan::Skip => false,
        }
    }
}

/// What `/proc/kpagecount` and `/proc/kpageflags` say about a present page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KpageInfo {
    /// `/proc/kpagecount` at the pfn.
    pub mapcount: u64,
    /// `/proc/kpageflags` at the pfn (KPF_* bits).
    pub kflags: u64,
}

/// The `mmdb-page` line of the page at `vaddr` of process `pid`; a swapped page shows `mapcount=0 kflags=0x0`.
pub fn page_line(pid: i32, vaddr: u64, entry: PagemapEntry, kpage: KpageInfo) -> String {
    let kpage = if entry.present() { kpage } else { KpageInfo::default() };
    Marker::Page(truth::Page {
        pid: pid as u32,
        vaddr,
        pfn: entry.pfn(),
        present: entry.present(),
        swapped: entry.swapped(),
        excl: entry.exclusive(),
        soft_dirty: entry.soft_dirty(),
        file: entry.file(),
        mapcount: kpage.mapcount,
        kflags: kpage.kflags,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS_ROLLUP: &str = "\
560f577a1000-7ffc9659c000 ---p 00000000 00:00 0                          [rollup]
Rss:                1684 kB
Pss:                 414 kB
Pss_Dirty:           292 kB
Pss_Anon:            292 kB
Anonymous:           292 kB
LazyFree:             64 kB
AnonHugePages:      2048 kB
Swap:                  0 kB
";

    const STATUS: &str = "\
Name:\tbasic
VmRSS:\t    1684 kB
RssAnon:\t     292 kB
RssFile:\t    1392 kB
RssShmem:\t       0 kB
";

    #[test]
    fn rollup_line_takes_exact_keys() {
        let r = rollup(3175, SMAPS_ROLLUP, STATUS);
        assert_eq!(
            Marker::Rollup(r).to_string(),
            "mmdb-rollup pid=3175 rss_kb=1684 pss_kb=414 anon_kb=292 lazyfree_kb=64 anonhuge_kb=2048 swap_kb=0 \
             rss_anon_kb=292 rss_file_kb=1392 rss_shmem_kb=0"
        );
    }

    #[test]
    fn rollup_missing_fields_are_zero() {
        let r = rollup(1, "", "");
        assert_eq!(Marker::Rollup(r).to_string(), "mmdb-rollup pid=1 rss_kb=0 pss_kb=0 anon_kb=0 lazyfree_kb=0 anonhuge_kb=0 swap_kb=0 rss_anon_kb=0 rss_file_kb=0 rss_shmem_kb=0");
    }

    #[test]
    fn fixed_lines() {
        assert_eq!(record_line(3175, "./basic"), "mmdb-record pid=3175 cmd=./basic");
        assert_eq!(record_line(7, "sh -c 'a\nb'"), "mmdb-record pid=7 cmd=sh -c 'a b'");
        let line = bdi_marker("254:0", "8192\n").map(|m| m.to_string());
        assert_eq!(line.as_deref(), Some("mmdb-bdi dev=254:0 read_ahead_kb=8192"));
        assert_eq!((bdi_marker("btrfs-1", "128\n"), bdi_marker("7:0", "")), (None, None));
        assert_eq!(command_line(&["./w", "--x", "1"]), "./w --x 1");
        assert_eq!(checkpoint_begin(1), "mmdb-checkpoint begin id=1");
        assert_eq!(checkpoint_end(12), "mmdb-checkpoint end id=12");
        assert_eq!(truth_line(1277, 379_730_585, &checkpoint_begin(1)), "1277.379730585: mmdb-checkpoint begin id=1");
        assert_eq!(truth_line(3, 5, "x"), "3.000000005: x");
    }

    /// Parses each maps line and renders it as `name | scan | vma line`.
    fn check_maps(maps: &str, expect: &str) {
        let got: String = maps
            .lines()
            .map(|l| {
                let e = MapsEntry::parse(l).unwrap_or_else(|| panic!("unparsed: {l}"));
                format!("{} | {:?} | {}\n", e.name(), e.page_scan(), e.line(1))
            })
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn maps_lines_and_which_pages() {
        check_maps(
            "\
560f577a1000-560f577a2000 r--p 00000000 fe:00 327559                     /work/basic
560f577a5000-560f577a6000 rw-p 00003000 fe:00 327559                     /work/my dir/basic two
560f58000000-560f58021000 rw-p 00000000 00:00 0                          [heap]
7fbf63236000-7fbf63279000 rw-p 00000000 00:00 0 
7fbf63240000-7fbf63250000 rw-s 00000000 00:01 1031                       /dev/zero (deleted)
7fbf63250000-7fbf63260000 rw-s 00000000 00:01 1032                       /memfd:pool (deleted)
7fbf63260000-7fbf63270000 rw-p 00000000 00:00 0                          [anon:glibc: malloc arena]
7fbf63466000-7fbf6346a000 r--p 00000000 00:00 0                          [vvar]
7fbf6346a000-7fbf6346c000 r--p 00000000 00:00 0                          [vvar_vclock]
7fbf6346c000-7fbf6346e000 r-xp 00000000 00:00 0                          [vdso]
7ffc9657b000-7ffc9659c000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
",
            "\
/work/basic | AnonCopies | mmdb-vma pid=1 start=0x560f577a1000 end=0x560f577a2000 perms=r--p offset=0x0 name=/work/basic
/work/my dir/basic two | AnonCopies | mmdb-vma pid=1 start=0x560f577a5000 end=0x560f577a6000 perms=rw-p offset=0x3000 name=/work/my dir/basic two
[heap] | All | mmdb-vma pid=1 start=0x560f58000000 end=0x560f58021000 perms=rw-p offset=0x0 name=[heap]
[anon] | All | mmdb-vma pid=1 start=0x7fbf63236000 end=0x7fbf63279000 perms=rw-p offset=0x0 name=[anon]
/dev/zero (deleted) | All | mmdb-vma pid=1 start=0x7fbf63240000 end=0x7fbf63250000 perms=rw-s offset=0x0 name=/dev/zero (deleted)
/memfd:pool (deleted) | All | mmdb-vma pid=1 start=0x7fbf63250000 end=0x7fbf63260000 perms=rw-s offset=0x0 name=/memfd:pool (deleted)
[anon:glibc: malloc arena] | All | mmdb-vma pid=1 start=0x7fbf63260000 end=0x7fbf63270000 perms=rw-p offset=0x0 name=[anon:glibc: malloc arena]
[vvar] | Skip | mmdb-vma pid=1 start=0x7fbf63466000 end=0x7fbf6346a000 perms=r--p offset=0x0 name=[vvar]
[vvar_vclock] | Skip | mmdb-vma pid=1 start=0x7fbf6346a000 end=0x7fbf6346c000 perms=r--p offset=0x0 name=[vvar_vclock]
[vdso] | Skip | mmdb-vma pid=1 start=0x7fbf6346c000 end=0x7fbf6346e000 perms=r-xp offset=0x0 name=[vdso]
[stack] | All | mmdb-vma pid=1 start=0x7ffc9657b000 end=0x7ffc9659c000 perms=rw-p offset=0x0 name=[stack]
[vsyscall] | Skip | mmdb-vma pid=1 start=0xffffffffff600000 end=0xffffffffff601000 perms=--xp offset=0x0 name=[vsyscall]
",
        );
    }

    #[test]
    fn maps_rejects_garbage() {
        assert_eq!(MapsEntry::parse(""), None);
        assert_eq!(MapsEntry::parse("nonsense"), None);
        assert_eq!(MapsEntry::parse("1000-2000 rw-p zz 00:00 0"), None);
        let e = MapsEntry::parse("1000-3000 rw-p 00000000 00:00 0").unwrap();
        assert_eq!((e.pages(), e.inode, e.name()), (2, 0, "[anon]"));
    }

    #[test]
    fn pagemap_bits() {
        let present_anon = PagemapEntry(1 << 63 | 1 << 56 | 0x1285e1);
        assert!(present_anon.present() && present_anon.exclusive());
        assert!(!present_anon.swapped() && !present_anon.file() && !present_anon.soft_dirty());
        assert_eq!(present_anon.pfn(), 0x1285e1);

        let file = PagemapEntry(1 << 63 | 1 << 61 | 0x3b34);
        assert!(file.file());
        let swapped = PagemapEntry(1 << 62 | 1 << 55 | (0x1234 << 5) | 1);
        assert!(swapped.swapped() && swapped.soft_dirty() && !swapped.present());
        assert_eq!(swapped.pfn(), 0x1234 << 5 | 1);
        assert_eq!(PagemapEntry(u64::MAX).pfn(), PagemapEntry::PFN_MASK);
    }

    #[test]
    fn which_pages_are_listed() {
        let none = PagemapEntry(0);
        let anon = PagemapEntry(1 << 63 | 5);
        let file = PagemapEntry(1 << 63 | 1 << 61 | 5);
        let swapped = PagemapEntry(1 << 62 | 5);
        // An anonymous VMA lists every present or swapped page, even the huge zero page (file bit set).
        assert_eq!([none, anon, file, swapped].map(|e| e.listed(PageScan::All)), [false, true, true, true]);
        // A private file mapping lists only its anonymous COW copies.
        assert_eq!([none, anon, file, swapped].map(|e| e.listed(PageScan::AnonCopies)), [false, true, false, true]);
        assert_eq!([none, anon, file, swapped].map(|e| e.listed(PageScan::Skip)), [false; 4]);
    }

    #[test]
    fn page_lines() {
        let kpage = KpageInfo { mapcount: 1, kflags: 0x400005828 };
        assert_eq!(
            page_line(3175, 0x560f577a4000, PagemapEntry(1 << 63 | 1 << 56 | 0x1285e1), kpage),
            "mmdb-page pid=3175 vaddr=0x560f577a4000 pfn=0x1285e1 present=1 swapped=0 excl=1 soft_dirty=0 file=0 \
             mapcount=1 kflags=0x400005828"
        );
        // A swapped entry keeps its raw swap entry as pfn and has no kpage information.
        assert_eq!(
            page_line(9, 0x1000, PagemapEntry(1 << 62 | 0x41), kpage),
            "mmdb-page pid=9 vaddr=0x1000 pfn=0x41 present=0 swapped=1 excl=0 soft_dirty=0 file=0 mapcount=0 kflags=0x0"
        );
    }
}
