//! Ground-truth markers: the kernel's own view of memory at checkpoints, carried by a recorded trace.
//!
//! The grammar (`ground-truth-format.md`; numbers are decimal unless written with `0x`):
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
//! Two more markers are inputs, not ground truth: `mmdb record` writes them while the recorded program is stopped
//! right after its `execve` (a ptrace exec stop), because no tracepoint shows the layout exec chose. They carry the
//! kernel's random choices (load addresses, stack top), never a page's state, and the lowering uses them as it uses
//! an `mmap` return value:
//!
//! ```text
//! mmdb-exec-vma pid=<P> start=0x<hex> end=0x<hex> perms=<rwxp|rwxs> offset=0x<hex> dev=<MAJ>:<MIN> ino=<dec> name=<rest of line>
//! mmdb-exec pid=<P> start_stack=0x<hex> arg_start=0x<hex> [arg_end=0x<hex>] env_end=0x<hex>
//! ```
//!
//! `mmdb-exec-vma` is one line of `/proc/P/maps` (with its device and inode) and `mmdb-exec` comes last, with
//! fields 28, 48 and 51 of `/proc/P/stat`. A trace without them replays too, with stand-ins for exec's mappings.
//!
//! A third input marker gives the page cache of a file the traced processes map (no tracepoint shows what was
//! cached before the trace, and fault-around maps only cached pages: `filemap_map_pages()`):
//!
//! ```text
//! mmdb-pagecache dev=<MAJ>:<MIN> ino=<dec> first=<idx> pages=<N> cached=<ranges|-> [readahead=<ranges>]
//! ```
//!
//! It describes the `N` page indexes `first` to `first + N - 1` of the file (device and inode as in
//! `mmdb-exec-vma`): `cached` lists the cached ones as comma-separated decimal ranges `a-b` (both included) or
//! single indexes `a`, increasing and disjoint, or is `-` when none is. `mmdb record` measures it with `mincore()`
//! at the exec stop, before `mmdb-exec`, for each file the new image maps or will map (the binary, the interpreter
//! and the shared libraries the dynamic loader resolves), and at each checkpoint, before `mmdb-checkpoint begin`,
//! for the files mapped since; a file with many ranges is split over several lines (at most
//! [`PAGECACHE_MAX_RANGES`] ranges each), the last one reaching the file's end. Files measured only at a checkpoint
//! also get lines at the exec stop, backdated through the trace's page-cache records, and so do files never
//! measured, for the pages the trace shows being read in (`first=I pages=N cached=-`: those pages only). `readahead`, when present, lists
//! the cached pages that carry `PG_readahead`, which fault-around skips (the recorder finds them by faulting
//! around in a mapping of its own; `mincore()` cannot tell them apart).
//!
//! For a file some traced process maps shared (`s` perms: its page-cache pages are ground truth, `mmdb-page`), the
//! recorder also writes, after its `mmdb-pagecache` lines, one line per cached page with its pfn and kpageflags as
//! they were when measured: which page frame holds a page cached before the trace, and its flags (`PG_active`,
//! `PG_mappedtodisk`), are state no tracepoint shows:
//!
//! ```text
//! mmdb-pagecache-page dev=<MAJ>:<MIN> ino=<dec> index=<idx> pfn=0x<hex> kflags=0x<hex>
//! ```
//!
//! Right after `mmdb-record`, one line per block device gives its readahead window as sysfs shows it
//! (`/sys/class/bdi/<MAJ>:<MIN>/read_ahead_kb`, the `ra_pages` every file opened on it starts with): where
//! `do_sync_mmap_readahead()`'s read-around puts its `PG_readahead` mark depends on it, and no tracepoint shows it.
//!
//! ```text
//! mmdb-bdi dev=<MAJ>:<MIN> read_ahead_kb=<dec>
//! ```
//!
//! And before `mmdb-checkpoint begin` (after the `mmdb-pagecache` lines), for each page of the checkpoint's page
//! lines that processes outside the trace map too (a shared file's page cache, `gconv-modules.cache`): how many of
//! the `kpagecount` that page line gives are theirs, the line's mapcount less the PTEs of the traced processes that
//! map the pfn. This is not state of the traced processes, so it is not an input: the verifier adds it to the
//! model's mapcount of that pfn when it compares the checkpoint.
//!
//! ```text
//! mmdb-outside pfn=0x<hex> mapcount=<dec>
//! ```
//!
//! In ftrace text each marker is a `trace_marker` write (`tracing_mark_write: mmdb-checkpoint begin id=1`); with
//! perf they sit in a side file, each line prefixed by its CLOCK_MONOTONIC time (`1277.379730585: mmdb-...`).
//!
//! Fields come in the grammar's order, separated by blanks; `cmd` and `name` run to the end of the line (blanks
//! included). [`Marker`]'s `Display` writes exactly this grammar, so `parse_marker(&m.to_string()) == Ok(m)`.
//! [`collect_checkpoints`] checks the grammar's rules: one `mmdb-record` before the first checkpoint, ids from 1
//! increasing by 1, begin/end pairs, and per checkpoint, per process sorted by pid: one rollup line, the VMA lines
//! in address order, then the page lines in address order.

use std::collections::BTreeMap;
use std::fmt;

use crate::diag::{LineError, Located, ParseError};
use crate::fields::{for_each_line, is_blank, parse_dec, parse_hex, parse_seconds};
use crate::records::{ParsedTrace, Record, TraceLine};

/// One ground-truth marker line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    /// `mmdb-record`: the pid whose `execve` starts the recorded program, and its command line.
    Record {
        /// The recorded pid.
        pid: u32,
        /// The command line (rest of the line).
        cmd: String,
    },
    /// `mmdb-checkpoint begin`.
    CheckpointBegin {
        /// The checkpoint's id (1, 2, ...).
        id: u32,
    },
    /// `mmdb-rollup`: one process's totals.
    Rollup(Rollup),
    /// `mmdb-vma`: one line of `/proc/P/maps`.
    Vma(Vma),
    /// `mmdb-page`: one present or swapped page.
    Page(Page),
    /// `mmdb-checkpoint end`.
    CheckpointEnd {
        /// The checkpoint's id.
        id: u32,
    },
    /// `mmdb-exec-vma`: one mapping exec made (an input, not ground truth).
    ExecVma(ExecVma),
    /// `mmdb-exec`: the end of exec's layout, with the stack's addresses from `/proc/P/stat`.
    Exec(ExecStack),
    /// `mmdb-pagecache`: which pages of a file were in the page cache (an input, not ground truth).
    PageCache(PageCache),
    /// `mmdb-pagecache-page`: the page frame and flags of one cached page of a file mapped shared (an input).
    PageCachePage(PageCachePage),
    /// `mmdb-bdi`: a block device's readahead window, `read_ahead_kb` in sysfs (an input).
    Bdi {
        /// The device's major and minor numbers (as `dev=` of the filemap tracepoints gives them).
        dev: (u32, u32),
        /// `/sys/class/bdi/<MAJ>:<MIN>/read_ahead_kb`.
        read_ahead_kb: u64,
    },
    /// `mmdb-outside`: how many mappings of a page the next checkpoint shows belong to processes outside the trace.
    Outside {
        /// The page frame.
        pfn: u64,
        /// Its mappings by tasks the trace does not follow.
        mapcount: u64,
    },
}

/// `mmdb-pagecache-page`: page `index` of one file was cached in page frame `pfn`, with kpageflags `kflags`, when
/// the recorder measured the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCachePage {
    /// The device's major and minor numbers.
    pub dev: (u32, u32),
    /// The inode.
    pub ino: u64,
    /// The page index in the file.
    pub index: u64,
    /// The page frame holding it.
    pub pfn: u64,
    /// `/proc/kpageflags` at `pfn` (the KPF_* bits).
    pub kflags: u64,
}

/// The most ranges one `mmdb-pagecache` line holds: a line stays under about 1.5 KB.
pub const PAGECACHE_MAX_RANGES: usize = 64;

/// `mmdb-pagecache`: the page-cache residency of page indexes `first..first + pages` of one file, as `mincore()`
/// showed it while every traced process was stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageCache {
    /// The device's major and minor numbers.
    pub dev: (u32, u32),
    /// The inode.
    pub ino: u64,
    /// The first page index the line describes.
    pub first: u64,
    /// How many page indexes it describes.
    pub pages: u64,
    /// The cached page indexes: inclusive ranges `(a, b)`, increasing and disjoint, inside the described indexes.
    pub cached: Vec<(u64, u64)>,
    /// Of the cached pages, those carrying `PG_readahead`: inclusive ranges, increasing and disjoint (usually
    /// none).
    pub readahead: Vec<(u64, u64)>,
}

impl PageCache {
    /// The ranges of the described indexes that were not cached, inclusive, in increasing order.
    pub fn uncached(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let end = self.first.saturating_add(self.pages);
        let mut at = self.first;
        for &(a, b) in &self.cached {
            if a > at {
                out.push((at, a - 1));
            }
            at = b.saturating_add(1);
        }
        if at < end {
            out.push((at, end - 1));
        }
        out
    }
}

/// `mmdb-exec-vma`: one line of `/proc/P/maps` right after `execve`, with the file's device and inode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecVma {
    /// The mapping, as an `mmdb-vma` line would show it.
    pub vma: Vma,
    /// The device's major and minor numbers (`0:0` for anonymous mappings).
    pub dev: (u32, u32),
    /// The inode (0 for anonymous mappings).
    pub ino: u64,
}

/// `mmdb-exec`: where exec put the stack's contents (`/proc/P/stat` fields `startstack`, `arg_start`, `env_end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecStack {
    /// The process.
    pub pid: u32,
    /// `mm->start_stack`: the initial stack pointer's region.
    pub start_stack: u64,
    /// `mm->arg_start`: the lowest byte of the argument strings, the lowest of the strings exec copied.
    pub arg_start: u64,
    /// `mm->arg_end`: the end of the argument strings, where the environment strings start (`env_start`).
    /// Recordings made before it was written lack it.
    pub arg_end: Option<u64>,
    /// `mm->env_end`: the end of the environment strings.
    pub env_end: u64,
}

/// `mmdb-rollup`: the first six values from `/proc/P/smaps_rollup`, the last three from `/proc/P/status`, in kB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rollup {
    /// The process.
    pub pid: u32,
    /// `Rss`.
    pub rss_kb: u64,
    /// `Pss`.
    pub pss_kb: u64,
    /// `Anonymous`.
    pub anon_kb: u64,
    /// `LazyFree`.
    pub lazyfree_kb: u64,
    /// `AnonHugePages`.
    pub anonhuge_kb: u64,
    /// `Swap`.
    pub swap_kb: u64,
    /// `RssAnon`.
    pub rss_anon_kb: u64,
    /// `RssFile`.
    pub rss_file_kb: u64,
    /// `RssShmem`.
    pub rss_shmem_kb: u64,
}

/// The permissions column of `/proc/P/maps`: `rwxp`, `r--s`, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perms {
    /// `r`.
    pub read: bool,
    /// `w`.
    pub write: bool,
    /// `x`.
    pub exec: bool,
    /// `s` (shared) rather than `p` (private).
    pub shared: bool,
}

impl Perms {
    /// Reads exactly four characters `[r-][w-][x-][ps]`.
    pub fn parse(text: &str) -> Option<Perms> {
        let b = text.as_bytes();
        if b.len() != 4 {
            return None;
        }
        let flag = |c: u8, set: u8| match c {
            _ if c == set => Some(true),
            b'-' => Some(false),
            _ => None,
        };
        let shared = match b[3] {
            b's' => true,
            b'p' => false,
            _ => return None,
        };
        Some(Perms { read: flag(b[0], b'r')?, write: flag(b[1], b'w')?, exec: flag(b[2], b'x')?, shared })
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |on: bool, c: char| if on { c } else { '-' };
        let s = if self.shared { 's' } else { 'p' };
        write!(f, "{}{}{}{s}", c(self.read, 'r'), c(self.write, 'w'), c(self.exec, 'x'))
    }
}

/// `mmdb-vma`: one line of `/proc/P/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// The process.
    pub pid: u32,
    /// The first address.
    pub start: u64,
    /// The address after the last.
    pub end: u64,
    /// The permissions.
    pub perms: Perms,
    /// The file offset.
    pub offset: u64,
    /// The path, `[heap]`, `[stack]`, `[vdso]`, `[anon:NAME]` or `[anon]` (rest of line, may contain blanks).
    pub name: String,
}

/// `mmdb-page`: one page from `/proc/P/pagemap`, with `/proc/kpagecount` and `/proc/kpageflags` when present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// The process.
    pub pid: u32,
    /// The virtual address.
    pub vaddr: u64,
    /// The pfn, or the raw swap entry (bits 0–4 type, 5–54 offset) when swapped.
    pub pfn: u64,
    /// pagemap bit 63.
    pub present: bool,
    /// pagemap bit 62.
    pub swapped: bool,
    /// pagemap bit 56: mapped exactly once.
    pub excl: bool,
    /// pagemap bit 55 (always 0 where soft-dirty is compiled out).
    pub soft_dirty: bool,
    /// pagemap bit 61: a file page or shared anon.
    pub file: bool,
    /// `/proc/kpagecount` at the pfn (0 when swapped).
    pub mapcount: u64,
    /// `/proc/kpageflags` at the pfn: the `KPF_*` bits (0 when swapped).
    pub kflags: u64,
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |v: bool| u8::from(v);
        match self {
            Marker::Record { pid, cmd } => write!(f, "mmdb-record pid={pid} cmd={cmd}"),
            Marker::CheckpointBegin { id } => write!(f, "mmdb-checkpoint begin id={id}"),
            Marker::CheckpointEnd { id } => write!(f, "mmdb-checkpoint end id={id}"),
            Marker::Rollup(r) => write!(
                f,
                "mmdb-rollup pid={} rss_kb={} pss_kb={} anon_kb={} lazyfree_kb={} anonhuge_kb={} swap_kb={} \
                 rss_anon_kb={} rss_file_kb={} rss_shmem_kb={}",
                r.pid,
                r.rss_kb,
                r.pss_kb,
                r.anon_kb,
                r.lazyfree_kb,
                r.anonhuge_kb,
                r.swap_kb,
                r.rss_anon_kb,
                r.rss_file_kb,
                r.rss_shmem_kb
            ),
            Marker::Vma(v) => write!(
                f,
                "mmdb-vma pid={} start={:#x} end={:#x} perms={} offset={:#x} name={}",
                v.pid, v.start, v.end, v.perms, v.offset, v.name
            ),
            Marker::Page(p) => write!(
                f,
                "mmdb-page pid={} vaddr={:#x} pfn={:#x} present={} swapped={} excl={} soft_dirty={} file={} \
                 mapcount={} kflags={:#x}",
                p.pid,
                p.vaddr,
                p.pfn,
                b(p.present),
                b(p.swapped),
                b(p.excl),
                b(p.soft_dirty),
                b(p.file),
                p.mapcount,
                p.kflags
            ),
            Marker::ExecVma(e) => write!(
                f,
                "mmdb-exec-vma pid={} start={:#x} end={:#x} perms={} offset={:#x} dev={}:{} ino={} name={}",
                e.vma.pid, e.vma.start, e.vma.end, e.vma.perms, e.vma.offset, e.dev.0, e.dev.1, e.ino, e.vma.name
            ),
            Marker::Exec(e) => {
                write!(f, "mmdb-exec pid={} start_stack={:#x} arg_start={:#x}", e.pid, e.start_stack, e.arg_start)?;
                if let Some(a) = e.arg_end {
                    write!(f, " arg_end={a:#x}")?;
                }
                write!(f, " env_end={:#x}", e.env_end)
            }
            Marker::PageCache(p) => {
                write!(
                    f,
                    "mmdb-pagecache dev={}:{} ino={} first={} pages={} cached=",
                    p.dev.0, p.dev.1, p.ino, p.first, p.pages
                )?;
                if p.cached.is_empty() {
                    return f.write_str("-");
                }
                write_ranges(f, &p.cached)?;
                if !p.readahead.is_empty() {
                    f.write_str(" readahead=")?;
                    write_ranges(f, &p.readahead)?;
                }
                Ok(())
            }
            Marker::PageCachePage(p) => write!(
                f,
                "mmdb-pagecache-page dev={}:{} ino={} index={} pfn={:#x} kflags={:#x}",
                p.dev.0, p.dev.1, p.ino, p.index, p.pfn, p.kflags
            ),
            Marker::Bdi { dev, read_ahead_kb } => {
                write!(f, "mmdb-bdi dev={}:{} read_ahead_kb={read_ahead_kb}", dev.0, dev.1)
            }
            Marker::Outside { pfn, mapcount } => write!(f, "mmdb-outside pfn={pfn:#x} mapcount={mapcount}"),
        }
    }
}

/// Writes inclusive page ranges as `a-b` or `a`, joined by commas.
fn write_ranges(f: &mut fmt::Formatter<'_>, ranges: &[(u64, u64)]) -> fmt::Result {
    for (i, &(a, b)) in ranges.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        if a == b {
            write!(f, "{sep}{a}")?;
        } else {
            write!(f, "{sep}{a}-{b}")?;
        }
    }
    Ok(())
}

/// Reads a marker's fields in order.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_blanks(&mut self) {
        while self.text.as_bytes().get(self.pos).is_some_and(|&c| is_blank(c)) {
            self.pos += 1;
        }
    }

    /// The next blank-delimited word and its offset.
    fn word(&mut self) -> (&'a str, usize) {
        self.skip_blanks();
        let start = self.pos;
        let rest = &self.text[start..];
        let len = rest.bytes().position(is_blank).unwrap_or(rest.len());
        self.pos += len;
        (&rest[..len], start)
    }

    /// Whether the next field is `key=` (for optional fields).
    fn next_is(&mut self, key: &str) -> bool {
        self.skip_blanks();
        self.text[self.pos..].strip_prefix(key).is_some_and(|r| r.starts_with('='))
    }

    /// Expects `key=` and returns the value up to the next blank (or, with `to_end`, to the end of the text).
    fn field(&mut self, key: &'static str, syntax: &str, to_end: bool) -> Result<(&'a str, usize), LineError> {
        self.skip_blanks();
        let rest = &self.text[self.pos..];
        let Some(value) = rest.strip_prefix(key).and_then(|r| r.strip_prefix('=')) else {
            return Err(LineError::at_token(self.text, self.pos, format!("`{key}={syntax}`")));
        };
        let start = self.pos + key.len() + 1;
        if to_end {
            self.pos = self.text.len();
            return Ok((value, start));
        }
        let len = value.bytes().position(is_blank).unwrap_or(value.len());
        self.pos = start + len;
        Ok((&value[..len], start))
    }

    /// A number field: decimal, or hex with `0x`.
    fn num(&mut self, key: &'static str, syntax: &str) -> Result<u64, LineError> {
        let (text, offset) = self.field(key, syntax, false)?;
        let value = match text.strip_prefix("0x") {
            Some(_) => parse_hex(text),
            None => parse_dec(text),
        };
        value.ok_or_else(|| LineError::new(offset, text.len(), format!("a number {syntax} for `{key}`")))
    }

    /// A number field that must fit in 32 bits (pids, ids).
    fn num32(&mut self, key: &'static str, syntax: &str) -> Result<u32, LineError> {
        let start = self.pos;
        let value = self.num(key, syntax)?;
        u32::try_from(value).map_err(|_| {
            let offset = start + self.text[start..].find('=').map_or(0, |i| i + 1);
            LineError::new(offset, self.pos - offset, format!("a number below 2^32 for `{key}`"))
        })
    }

    fn pid(&mut self) -> Result<u32, LineError> {
        self.num32("pid", "<P>")
    }

    /// `dev=<MAJ>:<MIN>`, both decimal.
    fn dev(&mut self) -> Result<(u32, u32), LineError> {
        let (dev, offset) = self.field("dev", "<MAJ>:<MIN>", false)?;
        dev.split_once(':')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| LineError::new(offset, dev.len(), "`<MAJ>:<MIN>` (decimal) for `dev`"))
    }

    fn bit(&mut self, key: &'static str) -> Result<bool, LineError> {
        let (text, offset) = self.field(key, "<0|1>", false)?;
        match text {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(LineError::new(offset, text.len(), format!("`0` or `1` for `{key}`"))),
        }
    }

    /// Expects nothing but blanks until the end of the text.
    fn end(&mut self) -> Result<(), LineError> {
        self.skip_blanks();
        if self.pos < self.text.len() {
            return Err(LineError::at_token(self.text, self.pos, "end of line"));
        }
        Ok(())
    }
}

/// Parses one marker (the text after `tracing_mark_write: ` or after a side file's timestamp).
///
/// Error offsets are byte offsets into `text`.
pub fn parse_marker(text: &str) -> Result<Marker, LineError> {
    let mut c = Cursor { text, pos: 0 };
    let (kind, kind_offset) = c.word();
    let marker = match kind {
        "mmdb-record" => {
            let pid = c.pid()?;
            let (cmd, _) = c.field("cmd", "<command line>", true)?;
            return Ok(Marker::Record { pid, cmd: cmd.to_string() });
        }
        "mmdb-checkpoint" => {
            let (which, offset) = c.word();
            if which != "begin" && which != "end" {
                return Err(LineError::at_token(text, offset, "`begin` or `end`"));
            }
            let id = c.num32("id", "<N>")?;
            match which {
                "begin" => Marker::CheckpointBegin { id },
                "end" => Marker::CheckpointEnd { id },
                _ => return Err(LineError::at_token(text, offset, "`begin` or `end`")),
            }
        }
        "mmdb-rollup" => Marker::Rollup(Rollup {
            pid: c.pid()?,
            rss_kb: c.num("rss_kb", "<Rss>")?,
            pss_kb: c.num("pss_kb", "<Pss>")?,
            anon_kb: c.num("anon_kb", "<Anonymous>")?,
            lazyfree_kb: c.num("lazyfree_kb", "<LazyFree>")?,
            anonhuge_kb: c.num("anonhuge_kb", "<AnonHugePages>")?,
            swap_kb: c.num("swap_kb", "<Swap>")?,
            rss_anon_kb: c.num("rss_anon_kb", "<RssAnon>")?,
            rss_file_kb: c.num("rss_file_kb", "<RssFile>")?,
            rss_shmem_kb: c.num("rss_shmem_kb", "<RssShmem>")?,
        }),
        "mmdb-vma" | "mmdb-exec-vma" => {
            let pid = c.pid()?;
            let start = c.num("start", "0x<hex>")?;
            let end = c.num("end", "0x<hex>")?;
            let (perms, offset) = c.field("perms", "<rwxp|rwxs>", false)?;
            let perms = Perms::parse(perms)
                .ok_or_else(|| LineError::new(offset, perms.len(), "`[r-][w-][x-][ps]` for `perms`"))?;
            let file_offset = c.num("offset", "0x<hex>")?;
            let exec = if kind == "mmdb-exec-vma" {
                let dev = c.dev()?;
                Some((dev, c.num("ino", "<dec>")?))
            } else {
                None
            };
            let (name, _) = c.field("name", "<rest of line>", true)?;
            let vma = Vma { pid, start, end, perms, offset: file_offset, name: name.to_string() };
            return Ok(match exec {
                Some((dev, ino)) => Marker::ExecVma(ExecVma { vma, dev, ino }),
                None => Marker::Vma(vma),
            });
        }
        "mmdb-pagecache" => {
            let dev = c.dev()?;
            let ino = c.num("ino", "<dec>")?;
            let first = c.num("first", "<idx>")?;
            let pages = c.num("pages", "<N>")?;
            let (text, offset) = c.field("cached", "<ranges|->", false)?;
            let cached = parse_ranges("cached", text, first, pages)
                .map_err(|(at, len, what)| LineError::new(offset + at, len, what))?;
            let mut readahead = Vec::new();
            if c.next_is("readahead") {
                let (text, offset) = c.field("readahead", "<ranges>", false)?;
                let bad = |at: usize, len: usize, what: String| LineError::new(offset + at, len, what);
                readahead =
                    parse_ranges("readahead", text, first, pages).map_err(|(at, len, what)| bad(at, len, what))?;
                let in_cached = |&(a, b): &(u64, u64)| cached.iter().any(|&(c, d)| c <= a && b <= d);
                if readahead.is_empty() || !readahead.iter().all(in_cached) {
                    return Err(bad(0, text.len().max(1), "cached page ranges for `readahead`".to_string()));
                }
            }
            Marker::PageCache(PageCache { dev, ino, first, pages, cached, readahead })
        }
        "mmdb-pagecache-page" => Marker::PageCachePage(PageCachePage {
            dev: c.dev()?,
            ino: c.num("ino", "<dec>")?,
            index: c.num("index", "<idx>")?,
            pfn: c.num("pfn", "0x<hex>")?,
            kflags: c.num("kflags", "0x<hex>")?,
        }),
        "mmdb-bdi" => Marker::Bdi { dev: c.dev()?, read_ahead_kb: c.num("read_ahead_kb", "<dec>")? },
        "mmdb-outside" => Marker::Outside { pfn: c.num("pfn", "0x<hex>")?, mapcount: c.num("mapcount", "<dec>")? },
        "mmdb-exec" => Marker::Exec(ExecStack {
            pid: c.pid()?,
            start_stack: c.num("start_stack", "0x<hex>")?,
            arg_start: c.num("arg_start", "0x<hex>")?,
            arg_end: if c.next_is("arg_end") { Some(c.num("arg_end", "0x<hex>")?) } else { None },
            env_end: c.num("env_end", "0x<hex>")?,
        }),
        "mmdb-page" => Marker::Page(Page {
            pid: c.pid()?,
            vaddr: c.num("vaddr", "0x<hex>")?,
            pfn: c.num("pfn", "0x<hex>")?,
            present: c.bit("present")?,
            swapped: c.bit("swapped")?,
            excl: c.bit("excl")?,
            soft_dirty: c.bit("soft_dirty")?,
            file: c.bit("file")?,
            mapcount: c.num("mapcount", "<dec>")?,
            kflags: c.num("kflags", "0x<hex>")?,
        }),
        _ => {
            let expected = "a marker: `mmdb-record`, `mmdb-checkpoint`, `mmdb-rollup`, `mmdb-vma`, `mmdb-page`, \
                            `mmdb-exec-vma`, `mmdb-exec`, `mmdb-pagecache`, `mmdb-pagecache-page`, `mmdb-bdi` or `mmdb-outside`";
            return Err(LineError::at_token(text, kind_offset, expected));
        }
    };
    c.end()?;
    Ok(marker)
}

/// The `cached=` (or `readahead=`: `key`) ranges of `mmdb-pagecache`: `-`, or `a-b` and `a` joined by commas,
/// increasing, disjoint and inside `first..first + pages`. An error is (offset in `text`, length, what was
/// expected).
fn parse_ranges(key: &str, text: &str, first: u64, pages: u64) -> Result<Vec<(u64, u64)>, (usize, usize, String)> {
    if text == "-" {
        return Ok(Vec::new());
    }
    // The last index described, if any (`first + pages - 1`, which may not fit in 64 bits).
    let last = u128::from(first) + u128::from(pages);
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut at = 0;
    for part in text.split(',') {
        let bad = |what: &str| (at, part.len().max(1), what.to_string());
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (parse_dec(a), parse_dec(b)),
            None => (parse_dec(part), parse_dec(part)),
        };
        let (Some(a), Some(b)) = (a, b) else {
            return Err(bad(&format!("`-` or decimal page ranges `a-b` or `a` joined by `,` for `{key}`")));
        };
        if a > b || out.last().is_some_and(|&(_, prev)| a <= prev) {
            return Err(bad(&format!("increasing, disjoint page ranges for `{key}`")));
        }
        if a < first || u128::from(b) >= last {
            return Err(bad(&format!("page ranges inside `first` .. `first + pages - 1` for `{key}`")));
        }
        out.push((a, b));
        at += part.len() + 1;
    }
    Ok(out)
}

/// A marker with its time and the 1-based line it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedMarker {
    /// The timestamp in nanoseconds (CLOCK_MONOTONIC with the recorder's settings).
    pub ts_ns: u64,
    /// The 1-based line of the trace or side file.
    pub line: u32,
    /// The marker.
    pub marker: Marker,
}

/// Parses a perf side file: one `<secs>.<frac>: <marker>` per line; blank lines and `#` lines are skipped.
pub fn parse_truth_sidefile(bytes: &[u8]) -> (Vec<TimedMarker>, Vec<ParseError>) {
    let mut markers = Vec::new();
    let mut errors = Vec::new();
    let mut line_errors = Vec::new();
    for_each_line(bytes, &mut errors, |line_no, line| {
        let t = line.trim_start_matches([' ', '\t']);
        if t.trim_end().is_empty() || t.starts_with('#') {
            return;
        }
        let start = line.len() - t.len();
        let result = sidefile_line(line, start).map(|(ts_ns, marker)| TimedMarker { ts_ns, line: line_no, marker });
        match result {
            Ok(m) => markers.push(m),
            Err(e) => line_errors.push(e.to_parse_error(line_no, line)),
        }
    });
    errors.extend(line_errors);
    errors.sort_by_key(|e| e.line);
    (markers, errors)
}

/// Parses `<secs>.<frac>: <marker>` starting at byte `start` of `line`.
fn sidefile_line(line: &str, start: usize) -> Result<(u64, Marker), LineError> {
    let rest = &line[start..];
    let ts = rest.split_once(':').and_then(|(ts, _)| parse_seconds(ts).map(|ns| (ts.len(), ns)));
    let Some((ts_len, ts_ns)) = ts else {
        return Err(LineError::at_token(line, start, "a timestamp `<secs>.<frac>:`"));
    };
    let after = &rest[ts_len + 1..];
    let text = after.trim_start_matches([' ', '\t']);
    let offset = start + ts_len + 1 + (after.len() - text.len());
    parse_marker(text).map(|m| (ts_ns, m)).map_err(|e| LineError { offset: e.offset + offset, ..e })
}

/// The markers among a trace's `trace_marker` writes (those starting with `mmdb-`), with their errors.
///
/// An error's `excerpt` is the marker text and its column counts in that text.
pub fn trace_markers(trace: &ParsedTrace) -> (Vec<TimedMarker>, Vec<ParseError>) {
    let mut markers = Vec::new();
    let mut errors = Vec::new();
    for l in &trace.lines {
        let Record::TracingMarkWrite { buf } = &l.record else { continue };
        if !buf.starts_with("mmdb-") {
            continue;
        }
        match parse_marker(buf) {
            Ok(marker) => markers.push(TimedMarker { ts_ns: l.ts_ns, line: l.line, marker }),
            Err(e) => errors.push(e.to_parse_error(l.line, buf)),
        }
    }
    (markers, errors)
}

/// The `mmdb-record` marker: which process the trace follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordStart {
    /// The pid whose `execve` starts the recorded program.
    pub pid: u32,
    /// Its command line.
    pub cmd: String,
    /// When the marker was written.
    pub ts_ns: u64,
    /// Its line.
    pub line: u32,
}

/// One checkpoint: what `/proc` said about every traced process while all of them were stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The id (1, 2, ...).
    pub id: u32,
    /// When `mmdb-checkpoint begin` was written.
    pub ts_ns: u64,
    /// The line of `mmdb-checkpoint begin`.
    pub line: u32,
    /// When `mmdb-checkpoint end` was written (`None` if it never was).
    pub end_ts_ns: Option<u64>,
    /// The line of `mmdb-checkpoint end`.
    pub end_line: Option<u32>,
    /// One rollup per process, by pid.
    pub rollups: Vec<Located<Rollup>>,
    /// The VMA lines of every process.
    pub vmas: Vec<Located<Vma>>,
    /// The page lines of every process.
    pub pages: Vec<Located<Page>>,
    /// The `mmdb-outside` lines written before `begin`: pfn → mappings by tasks outside the trace.
    pub outside: BTreeMap<u64, u64>,
}

/// The ground truth of a trace: its `mmdb-record`, its checkpoints and the rule violations found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Truth {
    /// The `mmdb-record` marker, if any.
    pub record: Option<RecordStart>,
    /// The checkpoints in order.
    pub checkpoints: Vec<Checkpoint>,
    /// Parse errors and rule violations, in line order.
    pub errors: Vec<ParseError>,
}

impl Truth {
    /// The ground truth of an ftrace trace: its markers parsed and collected.
    pub fn from_trace(trace: &ParsedTrace) -> Truth {
        let (markers, errors) = trace_markers(trace);
        Self::with_errors(&markers, errors)
    }

    /// The ground truth of a perf side file.
    pub fn from_sidefile(bytes: &[u8]) -> Truth {
        let (markers, errors) = parse_truth_sidefile(bytes);
        Self::with_errors(&markers, errors)
    }

    fn with_errors(markers: &[TimedMarker], errors: Vec<ParseError>) -> Truth {
        let mut truth = collect_checkpoints(markers);
        truth.errors.extend(errors);
        truth.errors.sort_by_key(|e| e.line);
        truth
    }

    /// The checkpoint with id `id`.
    pub fn checkpoint(&self, id: u32) -> Option<&Checkpoint> {
        self.checkpoints.iter().find(|c| c.id == id)
    }
}

/// A rule violation at marker `m`: `found` is the offending part of its text.
fn rule_error(m: &TimedMarker, expected: impl Into<String>, found: &str) -> ParseError {
    let excerpt = m.marker.to_string();
    let column = excerpt.find(found).map_or(1, |i| excerpt[..i].chars().count() + 1);
    ParseError {
        line: m.line,
        column: u32::try_from(column).unwrap_or(u32::MAX),
        excerpt,
        expected: expected.into(),
        found: Some(found.to_string()),
    }
}

/// What the checker knows about the process whose lines a checkpoint is listing.
#[derive(Clone, Copy, Debug)]
struct Current {
    pid: u32,
    last_vma: Option<u64>,
    last_page: Option<u64>,
}

/// Groups markers into checkpoints and checks the grammar's rules; violations become errors, never panics.
///
/// A checkpoint whose id repeats an earlier one is reported and its lines are dropped; other violations are
/// reported and the data kept.
pub fn collect_checkpoints(markers: &[TimedMarker]) -> Truth {
    let mut truth = Truth::default();
    let mut seen: BTreeMap<u32, u32> = BTreeMap::new();
    let mut open: Option<usize> = None;
    let mut skipping: Option<u32> = None;
    let mut current: Option<Current> = None;
    let mut next_id = 1u32;
    let mut outside = BTreeMap::new();
    for m in markers {
        let err = |expected: String, found: &str| rule_error(m, expected, found);
        match &m.marker {
            Marker::Record { pid, cmd } => {
                if let Some(first) = &truth.record {
                    truth
                        .errors
                        .push(err(format!("one `mmdb-record` (the first is at line {})", first.line), "mmdb-record"));
                } else {
                    if !truth.checkpoints.is_empty() {
                        truth.errors.push(err("`mmdb-record` before the first checkpoint".into(), "mmdb-record"));
                    }
                    truth.record = Some(RecordStart { pid: *pid, cmd: cmd.clone(), ts_ns: m.ts_ns, line: m.line });
                }
            }
            Marker::CheckpointBegin { id } => {
                skipping = None;
                if let Some(i) = open.take() {
                    let prev = truth.checkpoints[i].id;
                    truth.errors.push(err(format!("`mmdb-checkpoint end id={prev}` before the next begin"), "begin"));
                }
                current = None;
                if let Some(first) = seen.get(id) {
                    truth
                        .errors
                        .push(err(format!("a new checkpoint id (id={id} began at line {first})"), &format!("id={id}")));
                    skipping = Some(*id);
                    outside.clear();
                    continue;
                }
                if *id != next_id {
                    let expected = format!("id={next_id} (ids start at 1 and increase by 1)");
                    truth.errors.push(err(expected, &format!("id={id}")));
                }
                seen.insert(*id, m.line);
                next_id = id.saturating_add(1);
                truth.checkpoints.push(Checkpoint {
                    id: *id,
                    ts_ns: m.ts_ns,
                    line: m.line,
                    end_ts_ns: None,
                    end_line: None,
                    rollups: Vec::new(),
                    vmas: Vec::new(),
                    pages: Vec::new(),
                    outside: std::mem::take(&mut outside),
                });
                open = Some(truth.checkpoints.len() - 1);
            }
            Marker::CheckpointEnd { id } => {
                if skipping == Some(*id) {
                    skipping = None;
                    continue;
                }
                current = None;
                let Some(i) = open.take() else {
                    truth.errors.push(err("`mmdb-checkpoint begin` before its end".into(), "end"));
                    continue;
                };
                let c = &mut truth.checkpoints[i];
                if c.id != *id {
                    truth.errors.push(err(format!("id={} (the open checkpoint)", c.id), &format!("id={id}")));
                }
                c.end_ts_ns = Some(m.ts_ns);
                c.end_line = Some(m.line);
            }
            // Exec's layout and the page cache are inputs for the lowering, not part of a checkpoint.
            Marker::ExecVma(_)
            | Marker::Exec(_)
            | Marker::PageCache(_)
            | Marker::PageCachePage(_)
            | Marker::Bdi { .. } => {}
            // For the checkpoint that begins next.
            Marker::Outside { pfn, mapcount } => {
                outside.insert(*pfn, *mapcount);
            }
            Marker::Rollup(_) | Marker::Vma(_) | Marker::Page(_) if skipping.is_some() => {}
            Marker::Rollup(_) | Marker::Vma(_) | Marker::Page(_) if open.is_none() => {
                truth.errors.push(err("`mmdb-checkpoint begin` before snapshot lines".into(), "mmdb-"));
            }
            Marker::Rollup(r) => {
                if let Some(prev) = current.filter(|c| c.pid >= r.pid) {
                    let expected = format!("one rollup per process, by increasing pid (after pid {})", prev.pid);
                    truth.errors.push(err(expected, &format!("pid={}", r.pid)));
                }
                current = Some(Current { pid: r.pid, last_vma: None, last_page: None });
                if let Some(i) = open {
                    truth.checkpoints[i].rollups.push(Located { value: *r, line: m.line });
                }
            }
            Marker::Vma(v) => {
                match current.as_mut() {
                    Some(c) if c.pid == v.pid => {
                        if c.last_page.is_some() {
                            truth.errors.push(err("VMA lines before page lines".into(), "mmdb-vma"));
                        } else if c.last_vma.is_some_and(|s| s >= v.start) {
                            truth
                                .errors
                                .push(err("VMA lines in address order".into(), &format!("start={:#x}", v.start)));
                        }
                        c.last_vma = Some(v.start);
                    }
                    _ => {
                        truth
                            .errors
                            .push(err(format!("the rollup line of pid {} first", v.pid), &format!("pid={}", v.pid)));
                        // Go on as if it had been there: one missing rollup is one error, not one per line.
                        current = Some(Current { pid: v.pid, last_vma: Some(v.start), last_page: None });
                    }
                }
                if let Some(i) = open {
                    truth.checkpoints[i].vmas.push(Located { value: v.clone(), line: m.line });
                }
            }
            Marker::Page(p) => {
                match current.as_mut() {
                    Some(c) if c.pid == p.pid => {
                        if c.last_page.is_some_and(|a| a >= p.vaddr) {
                            truth
                                .errors
                                .push(err("page lines in address order".into(), &format!("vaddr={:#x}", p.vaddr)));
                        }
                        c.last_page = Some(p.vaddr);
                    }
                    _ => {
                        truth
                            .errors
                            .push(err(format!("the rollup line of pid {} first", p.pid), &format!("pid={}", p.pid)));
                        current = Some(Current { pid: p.pid, last_vma: None, last_page: Some(p.vaddr) });
                    }
                }
                if let Some(i) = open {
                    truth.checkpoints[i].pages.push(Located { value: *p, line: m.line });
                }
            }
        }
    }
    if let Some(i) = open {
        let c = &truth.checkpoints[i];
        let begin = TimedMarker { ts_ns: c.ts_ns, line: c.line, marker: Marker::CheckpointBegin { id: c.id } };
        truth.errors.push(rule_error(&begin, format!("`mmdb-checkpoint end id={}` after it", c.id), "begin"));
    }
    truth.errors.sort_by_key(|e| e.line);
    truth
}

/// One item of a trace merged with side-file markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merged<'a> {
    /// A trace record.
    Line(&'a TraceLine),
    /// A marker.
    Marker(&'a TimedMarker),
}

/// Merges trace lines and markers, both in time order, by timestamp; a marker goes after lines of equal time.
pub fn merge_by_time<'a>(lines: &'a [TraceLine], markers: &'a [TimedMarker]) -> impl Iterator<Item = Merged<'a>> {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let line = lines.get(i);
        let marker = markers.get(j);
        match (line, marker) {
            (Some(l), Some(m)) if m.ts_ns < l.ts_ns => {
                j += 1;
                Some(Merged::Marker(m))
            }
            (Some(l), _) => {
                i += 1;
                Some(Merged::Line(l))
            }
            (None, Some(m)) => {
                j += 1;
                Some(Merged::Marker(m))
            }
            (None, None) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_round_trip() {
        for text in ["rwxp", "r--s", "---p", "-w-s"] {
            let p = Perms::parse(text).unwrap();
            assert_eq!(p.to_string(), text);
        }
        assert_eq!(Perms::parse("rwx"), None);
        assert_eq!(Perms::parse("rwxq"), None);
        assert_eq!(Perms::parse("wrxp"), None);
    }
}
