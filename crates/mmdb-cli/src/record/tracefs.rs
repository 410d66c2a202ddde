//! The recorder's own tracefs instance, the events it enables, and the thread that drains its `trace_pipe`.
//!
//! Only `instances/mmdb-<pid>` is ever written; the top-level settings and other instances are left alone.
//! [`Instance`] disables and removes the instance when dropped, so every exit path (error, panic) cleans up.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::snapshot::{MarkerSink, TraceMarker};

/// Where tracefs is mounted on these machines.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// The events of `real-traces.md` that proved useful, as `system:event`.
pub const EVENTS: &[&str] = &[
    "syscalls:sys_enter_mmap",
    "syscalls:sys_exit_mmap",
    "syscalls:sys_enter_munmap",
    "syscalls:sys_exit_munmap",
    "syscalls:sys_enter_mprotect",
    "syscalls:sys_exit_mprotect",
    "syscalls:sys_enter_mremap",
    "syscalls:sys_exit_mremap",
    "syscalls:sys_enter_brk",
    "syscalls:sys_exit_brk",
    "syscalls:sys_enter_madvise",
    "syscalls:sys_exit_madvise",
    "syscalls:sys_enter_process_madvise",
    "syscalls:sys_exit_process_madvise",
    "syscalls:sys_enter_clone",
    "syscalls:sys_exit_clone",
    "syscalls:sys_enter_clone3",
    "syscalls:sys_exit_clone3",
    "syscalls:sys_enter_fork",
    "syscalls:sys_exit_fork",
    "syscalls:sys_enter_vfork",
    "syscalls:sys_exit_vfork",
    "syscalls:sys_enter_execve",
    "syscalls:sys_exit_execve",
    "syscalls:sys_enter_exit_group",
    "sched:sched_process_fork",
    "sched:sched_process_exec",
    "sched:sched_process_exit",
    "sched:sched_process_free",
    "task:task_newtask",
    "exceptions:page_fault_user",
    "exceptions:page_fault_kernel",
    "kmem:mm_page_alloc",
    "kmem:mm_page_free",
    "kmem:mm_page_free_batched",
    "kmem:rss_stat",
    "pagemap:mm_lru_insertion",
    "pagemap:mm_lru_activate",
    "filemap:mm_filemap_map_pages",
    "filemap:mm_filemap_fault",
    "filemap:mm_filemap_add_to_page_cache",
    "filemap:mm_filemap_delete_from_page_cache",
    "vmscan:mm_vmscan_lru_isolate",
    "vmscan:mm_vmscan_lru_shrink_inactive",
    "vmscan:mm_vmscan_lru_shrink_active",
    "vmscan:mm_vmscan_write_folio",
    "vmscan:mm_vmscan_direct_reclaim_begin",
    "vmscan:mm_vmscan_direct_reclaim_end",
    "vmscan:mm_vmscan_memcg_reclaim_begin",
    "vmscan:mm_vmscan_memcg_reclaim_end",
    "oom:mark_victim",
];

/// Systems whose every event is recorded.
pub const WHOLE_SYSTEMS: &[&str] = &["huge_memory", "migrate", "thp"];

/// The events to record that exist on this kernel (`EVENTS`, then every event of `WHOLE_SYSTEMS`), and the missing.
pub fn available_events(tracefs: &Path) -> (Vec<String>, Vec<String>) {
    let events_dir = tracefs.join("events");
    let exists = |ev: &str| {
        let (sys, name) = ev.split_once(':').unwrap_or((ev, ""));
        events_dir.join(sys).join(name).join("enable").exists()
    };
    let (mut present, mut missing): (Vec<String>, Vec<String>) =
        EVENTS.iter().map(|e| e.to_string()).partition(|e| exists(e));
    for sys in WHOLE_SYSTEMS {
        let mut names: Vec<String> = fs::read_dir(events_dir.join(sys))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().join("enable").exists())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            missing.push(format!("{sys}:*"));
        }
        names.sort();
        present.extend(names.into_iter().map(|n| format!("{sys}:{n}")));
    }
    (present, missing)
}

/// What the trace_pipe reader saw, for the end-of-recording summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReaderSummary {
    /// Bytes of trace text written to the output.
    pub bytes: u64,
    /// Events the ring buffer dropped (sum of `overrun` and `dropped events` of every CPU).
    pub lost: u64,
}

/// A running trace_pipe reader: its stop flag and thread.
#[derive(Debug)]
struct Reader {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<(BufWriter<File>, u64)>>,
}

/// The instance `instances/mmdb-<pid>`: created by [`Instance::create`], removed by [`Instance::finish`] or on drop.
#[derive(Debug)]
pub struct Instance {
    dir: PathBuf,
    marker: Option<TraceMarker>,
    reader: Option<Reader>,
    removed: bool,
}

impl Instance {
    /// Creates the instance `name` with tracing off; fails if it already exists (a leftover of a killed recorder).
    pub fn create(tracefs: &Path, name: &str) -> anyhow::Result<Instance> {
        let dir = tracefs.join("instances").join(name);
        if dir.exists() {
            bail!("tracefs instance {} already exists (a leftover? remove it with rmdir)", dir.display());
        }
        fs::create_dir(&dir).with_context(|| format!("cannot create tracefs instance {}", dir.display()))?;
        let inst = Instance { dir, marker: None, reader: None, removed: false };
        // A new instance starts with tracing on; nothing is enabled yet, but keep it quiet until configured.
        inst.write("tracing_on", "0")?;
        Ok(inst)
    }

    /// The instance's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `value` to the instance file `rel`.
    pub fn write(&self, rel: &str, value: &str) -> anyhow::Result<()> {
        let path = self.dir.join(rel);
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        f.write_all(value.as_bytes()).with_context(|| format!("cannot write `{value}` to {}", path.display()))
    }

    /// Sets the clock, the overwrite mode, the buffer size and the fork following; optionally the TGID column.
    pub fn configure(&self, buffer_size_kb: u64, record_tgid: bool) -> anyhow::Result<()> {
        self.write("trace_clock", "mono")?;
        self.write("options/overwrite", "0")?;
        self.write("buffer_size_kb", &buffer_size_kb.to_string())?;
        self.write("options/event-fork", "1")?;
        self.write("options/record-tgid", if record_tgid { "1" } else { "0" })?;
        Ok(())
    }

    /// Enables each event (`system:event`); returns a warning for each one that could not be enabled.
    pub fn enable_events(&self, events: &[String]) -> Vec<String> {
        events
            .iter()
            .filter_map(|ev| {
                let (sys, name) = ev.split_once(':')?;
                self.write(&format!("events/{sys}/{name}/enable"), "1").err().map(|e| format!("{ev}: {e:#}"))
            })
            .collect()
    }

    /// Starts the thread that copies `trace_pipe` into `out` until [`Instance::finish`].
    pub fn start_reader(&mut self, out: BufWriter<File>) -> anyhow::Result<()> {
        let path = self.dir.join("trace_pipe");
        let pipe = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let losses = LossWatch::new(self.dir.join("per_cpu"));
        let thread = thread::Builder::new()
            .name("trace_pipe".into())
            .spawn({
                let stop = Arc::clone(&stop);
                move || copy_trace_pipe(pipe, out, &stop, losses)
            })
            .context("cannot start the trace_pipe reader")?;
        self.reader = Some(Reader { stop, thread });
        Ok(())
    }

    /// Opens `trace_marker` for the checkpoint lines.
    pub fn open_marker(&mut self) -> anyhow::Result<()> {
        let path = self.dir.join("trace_marker");
        let f =
            OpenOptions::new().write(true).open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        self.marker = Some(TraceMarker(f));
        Ok(())
    }

    /// Turns tracing on or off.
    pub fn tracing_on(&self, on: bool) -> anyhow::Result<()> {
        self.write("tracing_on", if on { "1" } else { "0" })
    }

    /// Stops tracing, drains the buffer into the output, appends `trailer` lines, and removes the instance.
    pub fn finish(mut self, trailer: &dyn Fn(&ReaderSummary) -> Vec<String>) -> anyhow::Result<ReaderSummary> {
        let _ = self.tracing_on(false);
        let lost = self.lost_events();
        let mut summary = ReaderSummary { bytes: 0, lost };
        if let Some(reader) = self.reader.take() {
            let (mut out, bytes) = reader.join()?;
            summary.bytes = bytes;
            for line in trailer(&summary) {
                writeln!(out, "{line}")?;
            }
            out.flush().context("cannot write the trace")?;
        }
        self.remove()?;
        Ok(summary)
    }

    /// Events the ring buffer could not keep, summed over CPUs (`per_cpu/cpuN/stats`).
    fn lost_events(&self) -> u64 {
        lost_per_cpu(&self.dir.join("per_cpu")).iter().map(|(_, n)| n).sum()
    }

    /// Disables everything and removes the directory; the reader and the marker must be closed first (EBUSY).
    fn remove(&mut self) -> anyhow::Result<()> {
        if self.removed {
            return Ok(());
        }
        let _ = self.tracing_on(false);
        self.marker = None;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = self.write("events/enable", "0");
        let _ = self.write("set_event_pid", "");
        let _ = self.write("set_event_notrace_pid", "");
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match fs::remove_dir(&self.dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(nix::libc::EBUSY) => {
                    sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove tracefs instance {}", self.dir.display()))
                }
            }
        }
        self.removed = true;
        Ok(())
    }
}

impl MarkerSink for Instance {
    fn mark(&mut self, line: &str) -> io::Result<()> {
        match &mut self.marker {
            Some(m) => m.mark(line),
            None => Err(io::Error::other("trace_marker is not open")),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("mmdb record: {e:#}");
        }
    }
}

impl Reader {
    /// Stops the thread after it has drained what the buffer holds; returns the output and the bytes copied.
    fn join(self) -> anyhow::Result<(BufWriter<File>, u64)> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.join() {
            Ok(r) => r.context("cannot copy trace_pipe to the output"),
            Err(_) => bail!("the trace_pipe reader panicked"),
        }
    }
}

/// Events each CPU's ring buffer could not keep so far (`overrun` plus `dropped events` of `per_cpu/cpuN/stats`),
/// by CPU number.
fn lost_per_cpu(per_cpu: &Path) -> Vec<(u32, u64)> {
    let Ok(cpus) = fs::read_dir(per_cpu) else { return Vec::new() };
    let mut out: Vec<(u32, u64)> = cpus
        .filter_map(Result::ok)
        .filter_map(|cpu| {
            let n = cpu.file_name().to_str()?.strip_prefix("cpu")?.parse().ok()?;
            let stats = fs::read_to_string(cpu.path().join("stats")).ok()?;
            let lost = stats
                .lines()
                .filter_map(|l| l.split_once(':'))
                .filter(|(k, _)| *k == "overrun" || *k == "dropped events")
                .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
                .sum::<u64>();
            Some((n, lost))
        })
        .collect();
    out.sort_unstable();
    out
}

/// Watches the per-CPU loss counters while recording, so that losses become `CPU:N [LOST M EVENTS]` lines in the
/// trace where they happened: with `overwrite` off a full buffer drops new events without `trace_pipe` saying so.
#[derive(Debug)]
struct LossWatch {
    per_cpu: PathBuf,
    seen: Vec<(u32, u64)>,
}

impl LossWatch {
    fn new(per_cpu: PathBuf) -> Self {
        let seen = lost_per_cpu(&per_cpu);
        LossWatch { per_cpu, seen }
    }

    /// The notices for what was lost since the last call.
    fn notices(&mut self) -> Vec<String> {
        let now = lost_per_cpu(&self.per_cpu);
        let mut notices = Vec::new();
        for &(cpu, lost) in &now {
            let before = self.seen.iter().find(|(c, _)| *c == cpu).map_or(0, |(_, n)| *n);
            if lost > before {
                notices.push(format!("CPU:{cpu} [LOST {} EVENTS]\n", lost - before));
            }
        }
        self.seen = now;
        notices
    }
}

/// How many polls of `trace_pipe` pass between two looks at the loss counters.
const LOSS_POLLS: u32 = 10;

/// Copies the non-blocking `trace_pipe` into `out` until `stop` is set, then drains what is left.
///
/// Every [`LOSS_POLLS`] polls, and before the last drain, new losses are written as `CPU:N [LOST M EVENTS]` lines
/// before the events read after them: the buffer held only events older than the losses, so the notice comes at
/// the earliest place where events can be missing (at the next line boundary), and the replay counts everything
/// after it as uncertain.
fn copy_trace_pipe(
    mut pipe: File,
    mut out: BufWriter<File>,
    stop: &AtomicBool,
    mut losses: LossWatch,
) -> io::Result<(BufWriter<File>, u64)> {
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    // Whether the output ends inside a line (a read can end mid-line).
    let mut mid_line = false;
    let mut pending: Vec<String> = Vec::new();
    let mut polls = 0u32;
    loop {
        // Read the flag before draining: once it is set, one drain to empty copies everything written before.
        let stopping = stop.load(Ordering::SeqCst);
        if stopping || polls.is_multiple_of(LOSS_POLLS) {
            pending.extend(losses.notices());
        }
        polls = polls.wrapping_add(1);
        if !mid_line {
            for notice in pending.drain(..) {
                out.write_all(notice.as_bytes())?;
            }
        }
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let mut chunk = &buf[..n];
                    if mid_line && !pending.is_empty() {
                        if let Some(end) = chunk.iter().position(|&b| b == b'\n') {
                            out.write_all(&chunk[..=end])?;
                            chunk = &chunk[end + 1..];
                            for notice in pending.drain(..) {
                                out.write_all(notice.as_bytes())?;
                            }
                        }
                    }
                    out.write_all(chunk)?;
                    if let Some(&last) = buf[..n].last() {
                        mid_line = last != b'\n';
                    }
                    bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Flushed whenever the buffer is empty, so the output can be followed while recording.
        out.flush()?;
        if stopping {
            if !pending.is_empty() {
                if mid_line {
                    out.write_all(b"\n")?;
                }
                for notice in pending.drain(..) {
                    out.write_all(notice.as_bytes())?;
                }
                out.flush()?;
            }
            return Ok((out, bytes));
        }
        sleep(Duration::from_millis(10));
    }
}
