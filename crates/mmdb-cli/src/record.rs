//! `mmdb record`: records a command and its descendants as ftrace text (or perf text) with ground-truth markers.
//!
//! The command starts blocked ([`child`]); the recorder sets up its own tracefs instance ([`tracefs`]) or attaches
//! perf ([`perf`]), writes the `mmdb-record` marker and releases the command, so its `execve` is in the trace.
//! While it runs, a thread drains `trace_pipe` into the output and the main loop watches the traced processes:
//! whenever one stops itself (or every `--checkpoint-every` milliseconds) it stops them all, writes a checkpoint
//! of `/proc` in the grammar of `ground-truth-format.md` ([`markers`], [`snapshot`]) and continues them. At the
//! exec stop and before each checkpoint it also writes the page cache of the files the processes map or will map
//! ([`pagecache`]), an input the replay needs for fault-around; at the end, the residency of files first measured
//! at a checkpoint is taken back to the exec stop through the trace's page-cache records ([`backdate`]).
//!
//! Every resource is a guard that undoes itself when dropped (the instance, the memory cgroup, the work directory,
//! perf, the process tree), so errors and panics clean up; Ctrl-C and SIGTERM set a flag the main loop obeys.

mod backdate;
mod child;
mod markers;
mod memcg;
mod merge;
mod mmapstop;
mod pagecache;
mod perf;
mod procs;
mod snapshot;
mod tracefs;
mod tracer;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _};
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpid, Pid};

use self::child::{BlockedChild, WorkDir};
use self::markers::{checkpoint_begin, checkpoint_end, command_line, record_line};
use self::memcg::Memcg;
use self::perf::Perf;
use self::procs::{activity, Activity, ProcStat};
use self::snapshot::{Kpage, MarkerSink, TruthFile};
use self::tracefs::{Instance, ReaderSummary, TRACEFS};

/// How often the main loop looks at the traced processes.
const POLL: Duration = Duration::from_millis(5);
/// How long a checkpoint waits for the other processes to reach a stop or a sleep of their own.
const SETTLE_MAX: Duration = Duration::from_millis(100);
/// How many consecutive quiet polls end the settling.
const SETTLE_QUIET_POLLS: u32 = 3;
/// How long a process may take to stop after SIGSTOP before the checkpoint goes on without it.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the processes get to exit after an interrupt before they are killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);

/// Exit status: recorded, and the command exited with status 0.
const EXIT_OK: u8 = 0;
/// Exit status: recorded, but the command failed, events were lost, or the recording was interrupted.
const EXIT_FINDINGS: u8 = 1;

/// The long description of `mmdb record --help`.
pub const RECORD_LONG: &str = "\
Records CMD and its descendants as an ftrace text trace with ground truth.

The recorder (root only) creates its own tracefs instance
(/sys/kernel/tracing/instances/mmdb-PID) with trace_clock=mono, overwrite off,
a pid filter that follows forks, and the memory-management events mmdb
replays. CMD starts blocked; the `mmdb-record` marker is written, then CMD
executes, so its execve is in the trace. The recorder follows CMD and every
process and thread it makes with ptrace (as strace -f does: a setuid program
runs without its privileges, and a debugger cannot attach to its children),
and at every execve of the tree (CMD's, a shell's `cat`, a compiler's cc1)
writes the new image's layout (maps, stack) as input markers while it waits
before its first instruction. trace_pipe is copied into
FILE while CMD runs. A second instance (mmdb-PID-lru) records the LRU events
of every other task, which move the per-CPU batches CMD's pages wait in; its
lines are merged into FILE by time at the end.

Page cache: at each exec stop the recorder writes which pages of the
binary, its interpreter and its libraries are cached (mincore), and which of
those carry the readahead mark that fault-around skips (found by faulting
around in a mapping of its own); and the same for each file the tree maps
later, at its first mmap(), before the call runs (a seccomp filter, installed
before CMD executes, stops every mmap of a file descriptor for the recorder;
like ptrace, it keeps a setuid program from gaining privileges), or at the
next checkpoint where that filter cannot be used. At the end it takes those
measurements back to the exec stop through the
trace's page-cache records, and writes there the pages of files never
measured that the trace shows being read in, so the replay's fault-around
knows every file's holes from the start. For a file mapped shared, whose
pages are ground truth, it also writes the page frame and kpageflags of each
cached page, and before each checkpoint how many of a listed file page's
mappings belong to processes outside the trace.

Checkpoints: whenever a traced process stops itself (raise(SIGSTOP)), and
every MS milliseconds with --checkpoint-every, the recorder stops every
traced thread (PTRACE_INTERRUPT), writes the ground-truth markers of
ground-truth-format.md (smaps_rollup, maps, pagemap, kpagecount and
kpageflags of each process) to the instance's trace_marker, and resumes
them; a self-stop's SIGSTOP is taken as the request and not delivered.
After a self-stop the recorder waits up to 100 ms for the other processes
to stop or block, so processes that stop together share one checkpoint.
Nothing global changes.

With --perf, `perf record` attaches to the blocked CMD instead and FILE holds
`perf script` text; the markers go to FILE.truth, each line prefixed by its
CLOCK_MONOTONIC time, and the other tasks' LRU events to FILE.lru (ftrace
text). Replay it with `mmdb replay FILE --truth FILE.truth --lru FILE.lru`.

The instance, the memory cgroup and the temporary files are removed on every
exit, including errors and Ctrl-C (which also stops CMD).";

/// The `after_help` of `mmdb record --help`.
pub const RECORD_AFTER_HELP: &str = "\
Options go before CMD: everything from CMD on is the command line to record.
Without -o, FILE is mmdb-CMD-YYYYMMDD-HHMMSS.ftrace (.perf.txt with --perf)
in the current directory (UTC time).

Exit status:
  0  recorded, and CMD exited with status 0
  1  recorded, but CMD failed, events were lost, or Ctrl-C interrupted it
  2  could not record (not root, no tracefs, CMD not found, ...)

Examples:
  sudo mmdb record -o basic.ftrace -- ./basic
  sudo mmdb record --cpu 1 --checkpoint-every 50 -- ./churn
  sudo mmdb record --memcg-limit 32M -o lazyfree.ftrace -- ./lazyfree-memcg
  sudo mmdb record --perf -o basic.perf.txt -- ./basic   (+ .truth and .lru)";

/// The arguments of `mmdb record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Where to write the trace (default: mmdb-CMD-YYYYMMDD-HHMMSS.ftrace, or .perf.txt with --perf).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also take a checkpoint every MS milliseconds, stopping the processes wherever they are.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: Option<u64>,
    /// Run CMD in a new cgroup v1 memory cgroup limited to BYTES (suffixes k, M, G).
    #[arg(long, value_name = "BYTES", value_parser = memcg::parse_bytes)]
    memcg_limit: Option<u64>,
    /// Add the TGID column to the ftrace text (threads are told from processes without it too: the clone flags of
    /// `task_newtask`).
    #[arg(long)]
    record_tgid: bool,
    /// Record with perf; the markers go to FILE.truth, the other tasks' LRU events to FILE.lru.
    #[arg(long)]
    perf: bool,
    /// Run CMD on CPU N only (like taskset -c N) and keep the recorder off that CPU.
    #[arg(long, value_name = "N")]
    cpu: Option<usize>,
    /// Ring buffer size per CPU of the tracefs instance, in KiB.
    #[arg(long, value_name = "KB", default_value_t = 65536, value_parser = clap::value_parser!(u64).range(64..))]
    buffer_size_kb: u64,
    /// Internal: the child side, waiting on FIFO before it executes CMD.
    #[arg(long, hide = true, value_name = "FIFO")]
    exec_after: Option<PathBuf>,
    /// Internal: the recorder's pid, which the child checks.
    #[arg(long, hide = true, value_name = "PID")]
    exec_ppid: Option<i32>,
    /// The command to record and its arguments.
    #[arg(value_name = "CMD", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

/// `mmdb record`: records the command; returns the exit status (see `RECORD_AFTER_HELP`).
pub fn run(args: &RecordArgs) -> anyhow::Result<u8> {
    if let Some(fifo) = &args.exec_after {
        return Ok(child::exec_after(fifo, args.exec_ppid, &args.command));
    }
    preflight(args)?;
    let me = getpid().as_raw();
    let name = format!("mmdb-{me}");
    let cmd_text = command_line(&args.command.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>());
    let output = args.output.clone().unwrap_or_else(|| default_output(&args.command[0], args.perf));

    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signal_hook::flag::register(sig as i32, Arc::clone(&interrupted)).context("cannot install signal handlers")?;
    }
    // Orphaned descendants are re-parented to the recorder, so they stay in the traced tree and get reaped here.
    nix::sys::prctl::set_child_subreaper(true).context("cannot become a child subreaper")?;
    if let Some(cpu) = args.cpu {
        pin_recorder_off(cpu)?;
    }
    let (events, missing) = tracefs::available_events(Path::new(TRACEFS));
    for ev in &missing {
        eprintln!("mmdb record: warning: event {ev} does not exist on this kernel; not recorded");
    }

    // Guards, dropped in reverse order on every exit: processes, perf, cgroup, instance, work directory.
    let out = File::create(&output).with_context(|| format!("cannot create {}", output.display()))?;
    let mut outputs = Outputs { paths: vec![output.clone()], keep: false };
    let work = WorkDir::create(&format!("mmdb-record-{me}"))?;
    let mut instance = if args.perf { None } else { Some(Instance::create(Path::new(TRACEFS), &name)?) };
    // The LRU events of every task, merged into the trace at the end (see merge.rs).
    let lru_events: Vec<String> =
        merge::LRU_EVENTS.iter().map(|e| e.to_string()).filter(|e| events.contains(e)).collect();
    let mut lru_instance =
        if lru_events.is_empty() { None } else { Some(Instance::create(Path::new(TRACEFS), &format!("{name}-lru"))?) };
    let lru_path = work.path().join("lru.txt");
    let memcg = args.memcg_limit.map(|limit| Memcg::create(&name, limit)).transpose()?;
    let mut child = BlockedChild::spawn(work.path(), &args.command)?;
    let mut tree = Tree::new(me, child.pid());
    if let (Some(memcg), Some(limit)) = (&memcg, args.memcg_limit) {
        memcg.add(child.pid())?;
        eprintln!("mmdb record: memory cgroup {} limited to {limit} bytes", memcg.dir().display());
    }
    if let Some(cpu) = args.cpu {
        let mut set = CpuSet::new();
        set.set(cpu)?;
        sched_setaffinity(Pid::from_raw(child.pid()), &set).with_context(|| format!("cannot pin CMD to CPU {cpu}"))?;
    }

    let mut truth: Option<TruthFile> = None;
    let sink: &mut dyn MarkerSink = match &mut instance {
        Some(inst) => {
            inst.configure(args.buffer_size_kb, args.record_tgid)?;
            inst.write("set_event_pid", &child.pid().to_string())?;
            for warning in inst.enable_events(&events) {
                eprintln!("mmdb record: warning: cannot enable {warning}");
            }
            let mut out = BufWriter::new(out);
            write_header(&mut out, &cmd_text, inst.dir(), &events)?;
            if let Some(lru) = &lru_instance {
                let what = lru_events.join(",");
                writeln!(out, "# mmdb record: {what} of every task from {}, merged by time", lru.dir().display())?;
            }
            inst.start_reader(out)?;
            inst.open_marker()?;
            start_lru_instance(lru_instance.as_mut(), args, child.pid(), &lru_events, &lru_path)?;
            inst.tracing_on(true)?;
            inst
        }
        None => {
            if args.record_tgid {
                eprintln!("mmdb record: note: --record-tgid has no effect with --perf (perf always shows pid/tid)");
            }
            drop(out);
            let data = with_suffix(&output, ".data");
            start_lru_instance(lru_instance.as_mut(), args, child.pid(), &lru_events, &lru_path)?;
            let perf = Perf::attach(&events, child.pid(), &data, work.path(), &interrupted)?;
            tree.perf = Some((perf, data));
            let truth_path = with_suffix(&output, ".truth");
            let file = File::create(&truth_path).with_context(|| format!("cannot create {}", truth_path.display()))?;
            outputs.paths.push(truth_path);
            truth.insert(TruthFile(BufWriter::new(file)))
        }
    };
    sink.mark(&record_line(child.pid(), &cmd_text)).context("cannot write the mmdb-record marker")?;
    for line in bdi_lines() {
        sink.mark(&line).context("cannot write an mmdb-bdi marker")?;
    }
    child.seize(tracer::options())?;
    child.release()?;
    let written = &mut tree.pagecache;
    if let Some(status) = child.finish_exec(|| write_exec_stop(child.pid(), &mut *sink, written))? {
        tree.status = Some(status);
    }
    // From here on, a partial trace is worth keeping.
    outputs.keep = true;
    eprintln!("mmdb record: recording pid {} ({cmd_text}) into {}", child.pid(), output.display());

    let every = args.checkpoint_every.map(Duration::from_millis);
    let end = tree.record(sink, every, &interrupted)?;
    let checkpoints = end.checkpoints;

    // The workload is gone: finish the trace.
    let lost = match instance {
        Some(inst) => {
            // The LRU instance stops first: nothing it records after the main trace's end is merged anyway.
            let lru_lost = match lru_instance.take() {
                Some(lru) => lru.finish(&|_| Vec::new())?.lost,
                None => 0,
            };
            let trailer = |s: &ReaderSummary| trailer_lines(&end, s.lost + lru_lost);
            let summary = inst.finish(&trailer)?;
            if lru_path.exists() {
                let merged = with_suffix(&output, ".merging");
                merge::merge_traces(&output, &lru_path, &merged)
                    .and_then(|_| fs::rename(&merged, &output))
                    .with_context(|| format!("cannot merge the LRU events into {}", output.display()))?;
            }
            report_backdated(backdate::ftrace(&output)?);
            summary.lost + lru_lost
        }
        None => {
            let (mut perf, data) = tree.perf.take().expect("perf mode has perf");
            if let Some(TruthFile(w)) = &mut truth {
                w.flush().context("cannot write the truth file")?;
            }
            let log = perf.stop()?;
            for line in log.lines().filter(|l| !l.starts_with("Events ")) {
                eprintln!("perf: {line}");
            }
            perf.script(&output).with_context(|| format!("perf data kept in {}", data.display()))?;
            let _ = fs::remove_file(&data);
            let lru_lost = match lru_instance.take() {
                Some(lru) => lru.finish(&|_| Vec::new())?.lost,
                None => 0,
            };
            if lru_path.exists() {
                // perf text and ftrace text do not mix: the other tasks' LRU events go to a file of their own,
                // which `mmdb replay` merges by time (both use CLOCK_MONOTONIC).
                let lru_out = with_suffix(&output, ".lru");
                fs::copy(&lru_path, &lru_out).with_context(|| format!("cannot write {}", lru_out.display()))?;
                outputs.paths.push(lru_out);
            }
            report_backdated(backdate::perf(&output, &with_suffix(&output, ".truth"))?);
            count_perf_lost(&output) + lru_lost
        }
    };
    drop(memcg);
    drop(work);

    let size = fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    let truth_note =
        if args.perf { format!(" (markers in {})", with_suffix(&output, ".truth").display()) } else { String::new() };
    eprintln!(
        "mmdb record: wrote {} ({} KiB, {}){truth_note}; {}",
        output.display(),
        size.div_ceil(1024),
        plural(checkpoints, "checkpoint"),
        end.describe()
    );
    if lost > 0 {
        eprintln!("mmdb record: warning: {lost} events were lost (try a larger --buffer-size-kb)");
    }
    Ok(if end.clean() && lost == 0 { EXIT_OK } else { EXIT_FINDINGS })
}

/// Says how many files' page cache was backdated to the exec stop, and of how many files never measured the
/// pages read in during the recording were written as missing there ([`backdate`]).
fn report_backdated((files, unmeasured): (usize, usize)) {
    if files > 0 {
        eprintln!(
            "mmdb record: page cache of {} first measured after the exec stop (at a checkpoint or a later exec), backdated to it",
            plural(files as u64, "file")
        );
    }
    if unmeasured > 0 {
        eprintln!(
            "mmdb record: pages read in of {} never measured, written as missing at the exec stop",
            plural(unmeasured as u64, "file")
        );
    }
}

/// Starts the instance that records the LRU events of every task but the recorded ones (and, with event-fork,
/// their descendants), whose own events the main recording has: see merge.rs.
fn start_lru_instance(
    lru: Option<&mut Instance>,
    args: &RecordArgs,
    child: i32,
    events: &[String],
    path: &Path,
) -> anyhow::Result<()> {
    let Some(lru) = lru else { return Ok(()) };
    lru.configure(args.buffer_size_kb, args.record_tgid)?;
    lru.write("set_event_notrace_pid", &child.to_string())?;
    for warning in lru.enable_events(events) {
        eprintln!("mmdb record: warning: cannot enable {warning}");
    }
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    lru.start_reader(BufWriter::new(file))?;
    lru.tracing_on(true)
}

/// The checks that fail early with a clear message: root, tracefs, the command, perf.
fn preflight(args: &RecordArgs) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "mmdb record must run as root: it creates a tracefs instance and reads page frame numbers from \
             /proc/PID/pagemap and /proc/kpageflags (try `sudo mmdb record ...`)"
        );
    }
    if !Path::new(TRACEFS).join("instances").is_dir() {
        bail!("tracefs is not mounted at {TRACEFS} (mount it with `mount -t tracefs nodev {TRACEFS}`)");
    }
    child::resolve_command(&args.command[0])?;
    if args.perf {
        let ok = std::process::Command::new("perf")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            bail!("--perf needs perf, which is not installed (apt-get install linux-perf)");
        }
    }
    if let Some(cpu) = args.cpu {
        let allowed = sched_getaffinity(Pid::from_raw(0)).context("cannot read the CPU affinity")?;
        if cpu >= CpuSet::count() || !allowed.is_set(cpu).unwrap_or(false) {
            bail!("--cpu {cpu}: no such CPU available to this process");
        }
    }
    Ok(())
}

/// Keeps the recorder (and the threads it starts later) off `cpu`, so its page cache writes and allocations do not
/// touch the per-CPU batches of the CPU the command runs on; a single-CPU machine keeps its one CPU.
fn pin_recorder_off(cpu: usize) -> anyhow::Result<()> {
    let mut set = sched_getaffinity(Pid::from_raw(0)).context("cannot read the CPU affinity")?;
    set.unset(cpu)?;
    let others = (0..CpuSet::count()).any(|c| set.is_set(c).unwrap_or(false));
    if others {
        sched_setaffinity(Pid::from_raw(0), &set).context("cannot set the recorder's CPU affinity")?;
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name (`x.perf.txt` -> `x.perf.txt.truth`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `mmdb-<cmd>-<YYYYMMDD-HHMMSS>.ftrace` (or `.perf.txt`) in the current directory, in UTC.
fn default_output(cmd: &OsString, perf: bool) -> PathBuf {
    let base = Path::new(cmd).file_name().map(|b| b.to_string_lossy().into_owned()).unwrap_or_default();
    let base: String = base.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).collect();
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    PathBuf::from(format!("mmdb-{}-{}.{}", base, utc_stamp(secs), if perf { "perf.txt" } else { "ftrace" }))
}

/// `YYYYMMDD-HHMMSS` of a Unix time, in UTC.
fn utc_stamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86400) as i64;
    let rem = unix_secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}-{:02}{:02}{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// The comment lines at the top of an ftrace recording (trace parsers skip `#` lines).
fn write_header(out: &mut BufWriter<File>, cmd: &str, instance: &Path, events: &[String]) -> anyhow::Result<()> {
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    writeln!(out, "# mmdb record: cmd={cmd}")?;
    writeln!(out, "# mmdb record: kernel {} instance {} trace_clock=mono", kernel.trim(), instance.display())?;
    writeln!(out, "# mmdb record: events {}", events.join(","))?;
    Ok(())
}

/// The comment lines at the end of an ftrace recording.
fn trailer_lines(end: &LoopEnd, lost: u64) -> Vec<String> {
    let mut lines = vec![format!("# mmdb record: {}; {}", plural(end.checkpoints, "checkpoint"), end.describe())];
    if lost > 0 {
        lines.push(format!("# mmdb record: LOST {lost} events (ring buffer full)"));
    }
    lines
}

/// `1 checkpoint`, `2 checkpoints`.
fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Counts the events `perf script --show-lost-events` reports as lost.
fn count_perf_lost(output: &Path) -> u64 {
    let Ok(text) = fs::read_to_string(output) else { return 0 };
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find("LOST ")? + 5..];
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// The output files, removed on drop unless the recording got far enough to keep them.
#[derive(Debug)]
struct Outputs {
    paths: Vec<PathBuf>,
    keep: bool,
}

impl Drop for Outputs {
    fn drop(&mut self) {
        if !self.keep {
            for p in &self.paths {
                let _ = fs::remove_file(p);
            }
        }
    }
}

/// How the recording loop ended.
#[derive(Debug, Clone)]
struct LoopEnd {
    checkpoints: u64,
    status: Option<WaitStatus>,
    interrupted: bool,
}

impl LoopEnd {
    /// Whether the command exited with status 0 by itself.
    fn clean(&self) -> bool {
        !self.interrupted && matches!(self.status, Some(WaitStatus::Exited(_, 0)))
    }

    /// How the command ended, for the summary.
    fn describe(&self) -> String {
        let how = match self.status {
            Some(WaitStatus::Exited(_, code)) => format!("the command exited with status {code}"),
            Some(WaitStatus::Signaled(_, sig, _)) => format!("the command was killed by {sig}"),
            _ => "the command's status is unknown".to_string(),
        };
        if self.interrupted {
            format!("interrupted; {how}")
        } else {
            how
        }
    }
}

/// The traced process tree: the recorder's descendants except perf. Dropped before the end, it kills them all.
#[derive(Debug)]
struct Tree {
    me: i32,
    child: i32,
    status: Option<WaitStatus>,
    perf: Option<(Perf, PathBuf)>,
    done: bool,
    /// The files whose page cache the recording has written.
    pagecache: pagecache::Written,
    /// Every traced thread, attached with ptrace from its first instruction.
    tracer: tracer::Tracer,
}

impl Tree {
    fn new(me: i32, child: i32) -> Tree {
        let (pagecache, tracer) = (pagecache::Written::default(), tracer::Tracer::new(child));
        Tree { me, child, status: None, perf: None, done: false, pagecache, tracer }
    }

    /// The live traced processes, sorted by pid; zombies that are the recorder's children are reaped on the way.
    fn live(&mut self) -> Vec<ProcStat> {
        let perf_pid: Vec<i32> = self.perf.as_ref().and_then(|(p, _)| p.pid()).into_iter().collect();
        let all = procs::descendants(&procs::scan(), self.me, &perf_pid);
        let me = self.me;
        for p in all.iter().filter(|p| p.is_dead() && p.ppid == me) {
            self.reap(p.pid);
        }
        all.into_iter().filter(|p| !p.is_dead()).collect()
    }

    /// Collects the exit status of the recorder's child `pid` if it has exited.
    fn reap(&mut self, pid: i32) {
        if let Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) =
            waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG))
        {
            if pid == self.child {
                self.status = Some(st);
            }
        }
    }

    /// Collects the traced threads' ptrace-stops: resumes them (`hold` false) or holds them for a checkpoint,
    /// and writes the layout of each new image at its exec stop.
    fn poll(&mut self, hold: bool, sink: &mut dyn MarkerSink) {
        let pagecache = &mut self.pagecache;
        self.tracer.poll(hold, &mut |stop| on_stop(stop, sink, pagecache));
    }

    /// The command's exit status, once known: collected by the tracer, or by a reap or the exec wait before it.
    fn command_status(&self) -> Option<WaitStatus> {
        self.status.or(self.tracer.status())
    }

    /// The main loop: checkpoints on self-stops and on the timer until every traced process is gone.
    fn record(
        &mut self,
        sink: &mut dyn MarkerSink,
        every: Option<Duration>,
        interrupted: &AtomicBool,
    ) -> anyhow::Result<LoopEnd> {
        let mut wake = tracer::Wake::new()?;
        let mut checkpoints = 0;
        let mut next = every.map(|d| Instant::now() + d);
        loop {
            if interrupted.load(Ordering::SeqCst) {
                self.interrupt(sink);
                self.done = true;
                return Ok(LoopEnd { checkpoints, status: self.command_status(), interrupted: true });
            }
            self.poll(false, sink);
            let live = self.live();
            if live.is_empty() && self.command_status().is_some() {
                self.done = true;
                return Ok(LoopEnd { checkpoints, status: self.command_status(), interrupted: false });
            }
            let self_stop = self.tracer.take_self_stop();
            let due = next.is_some_and(|t| Instant::now() >= t);
            if self_stop || due {
                if !due {
                    self.settle(sink);
                }
                checkpoints += 1;
                self.checkpoint(checkpoints, sink)?;
                next = every.map(|d| Instant::now() + d);
            }
            let timeout = next.map_or(POLL, |t| t.saturating_duration_since(Instant::now()).min(POLL));
            wake.wait(timeout);
        }
    }

    /// Gives the other processes a moment to reach a stop (or a sleep) of their own, so processes that stop
    /// together share one checkpoint instead of being stopped a few instructions before theirs.
    fn settle(&mut self, sink: &mut dyn MarkerSink) {
        let deadline = Instant::now() + SETTLE_MAX;
        let mut quiet = 0;
        while quiet < SETTLE_QUIET_POLLS && Instant::now() < deadline {
            sleep(Duration::from_millis(2));
            self.poll(false, sink);
            let busy = self.live().iter().any(|p| activity(p.pid) == Activity::Busy);
            quiet = if busy { 0 } else { quiet + 1 };
        }
    }

    /// Stops every traced thread, writes checkpoint `id`, and resumes them. The threads made while the others
    /// stop are stopped too (they begin in a ptrace-stop); an exec stop on the way writes its layout first.
    fn checkpoint(&mut self, id: u64, sink: &mut dyn MarkerSink) -> anyhow::Result<()> {
        let pagecache = &mut self.pagecache;
        let stuck = self.tracer.stop_all(STOP_TIMEOUT, &mut |stop| on_stop(stop, &mut *sink, pagecache));
        for tid in stuck {
            eprintln!("mmdb record: warning: thread {tid} did not stop within {STOP_TIMEOUT:?}; snapshot anyway");
        }
        let stopped: BTreeSet<i32> = self.live().iter().map(|p| p.pid).collect();
        let written = write_checkpoint(id, &stopped, sink, &mut self.pagecache);
        self.tracer.resume_all();
        written
    }

    /// After Ctrl-C or SIGTERM: asks the processes to terminate, then kills what is left.
    fn interrupt(&mut self, sink: &mut dyn MarkerSink) {
        eprintln!("mmdb record: interrupted; stopping the command");
        self.tracer.resume_all();
        for (sig, grace) in [(Signal::SIGTERM, INTERRUPT_GRACE), (Signal::SIGKILL, INTERRUPT_GRACE)] {
            for p in self.live() {
                let _ = procs::signal(p.pid, sig);
            }
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                // Each signal reaches a traced thread as a ptrace-stop, and is delivered when it is resumed.
                self.poll(false, sink);
                if self.live().is_empty() {
                    return;
                }
                sleep(POLL);
            }
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // An error or a panic ends the recording early: the processes must not outlive the instance and cgroup.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let live = self.live();
            if live.is_empty() || Instant::now() > deadline {
                break;
            }
            for p in live {
                let _ = procs::signal(p.pid, Signal::SIGKILL);
            }
            // The killed threads' exits are reported to the tracer: collecting them reaps them.
            self.tracer.poll(false, &mut |_| {});
            sleep(POLL);
        }
        self.tracer.poll(false, &mut |_| {});
    }
}

/// At the exec stop of `pid` (the command's, or any traced process's `execve`): writes the new image's layout
/// and, before its `mmdb-exec` line, the page cache of the files it maps or will map, measured now.
fn write_exec_stop(pid: i32, sink: &mut dyn MarkerSink, pagecache: &mut pagecache::Written) -> anyhow::Result<()> {
    let mut lines = child::exec_layout(pid)?;
    // The page cache of the image's files goes before `mmdb-exec`, which ends the layout.
    let exec = lines.pop();
    lines.extend(pagecache.exec_lines(pid));
    lines.extend(exec);
    for line in lines {
        sink.mark(&line).context("cannot write an exec layout marker")?;
    }
    Ok(())
}

/// The `mmdb-bdi` lines of every block device in `/sys/class/bdi`, sorted: the readahead window files
/// opened on each start with (an unreadable directory gives none; the replay then places no read-around marks).
fn bdi_lines() -> Vec<String> {
    let Ok(dir) = fs::read_dir("/sys/class/bdi") else { return Vec::new() };
    let mut lines: Vec<String> = dir
        .flatten()
        .filter_map(|entry| {
            let kb = fs::read_to_string(entry.path().join("read_ahead_kb")).ok()?;
            markers::bdi_marker(entry.file_name().to_str()?, &kb).map(|m| m.to_string())
        })
        .collect();
    lines.sort();
    lines
}

/// What the recorder writes at a stop of a traced thread: at a descendant's `execve`, [`write_exec_stop`] (a
/// failure costs that image its layout, not the recording); at an `mmap()` of a file, the file's page cache, the
/// first time it is mapped ([`mmapstop`]).
fn on_stop(stop: tracer::Stop, sink: &mut dyn MarkerSink, pagecache: &mut pagecache::Written) {
    match stop {
        tracer::Stop::Exec(pid) => {
            if let Err(e) = write_exec_stop(pid, sink, pagecache) {
                eprintln!("mmdb record: warning: no exec layout for pid {pid}: {e:#}");
            }
        }
        tracer::Stop::Mmap(tid) => {
            let Some((fd, shared)) = mmapstop::mmap_args(tid) else { return };
            for line in pagecache.fd_lines(tid, fd, shared) {
                if let Err(e) = sink.mark(&line) {
                    eprintln!("mmdb record: warning: cannot write a page-cache marker: {e:#}");
                    return;
                }
            }
        }
    }
}

/// Writes the marker lines of checkpoint `id` for the stopped processes `pids`, in pid order, after the page cache
/// of the files they map that have no `mmdb-pagecache` line yet (mapped since exec: `dlopen()`, `mmap()`) and the
/// `mmdb-outside` lines of the pages listed that processes outside the trace map too.
fn write_checkpoint(
    id: u64,
    pids: &BTreeSet<i32>,
    sink: &mut dyn MarkerSink,
    pagecache: &mut pagecache::Written,
) -> anyhow::Result<()> {
    let kpage = Kpage::open().context("cannot open /proc/kpagecount and /proc/kpageflags")?;
    for &pid in pids {
        for line in pagecache.process_lines(pid) {
            sink.mark(&line).context("cannot write a page-cache marker")?;
        }
    }
    // A process that exits while being snapshotted is skipped.
    let snapshots: Vec<snapshot::ProcessSnapshot> =
        pids.iter().filter_map(|&pid| snapshot::process_lines(pid, &kpage).ok()).collect();
    for (pfn, mapcount) in snapshot::outside(&snapshots) {
        sink.mark(&mmdb_trace::truth::Marker::Outside { pfn, mapcount }.to_string())
            .context("cannot write a checkpoint marker")?;
    }
    sink.mark(&checkpoint_begin(id)).context("cannot write a checkpoint marker")?;
    for line in snapshots.iter().flat_map(|s| &s.lines) {
        sink.mark(line).context("cannot write a checkpoint marker")?;
    }
    sink.mark(&checkpoint_end(id)).context("cannot write a checkpoint marker")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
        assert_eq!(utc_stamp(1_767_225_599), "20251231-235959");
        assert_eq!(utc_stamp(1_772_323_200 + 3_723), "20260301-010203");
    }

    #[test]
    fn output_names() {
        assert_eq!(with_suffix(Path::new("a/b.perf.txt"), ".truth"), PathBuf::from("a/b.perf.txt.truth"));
        let name = default_output(&OsString::from("./target/release/fork tree"), true);
        let name = name.to_string_lossy();
        assert!(name.starts_with("mmdb-forktree-") && name.ends_with(".perf.txt"), "{name}");
    }

    #[test]
    fn lost_event_trailer() {
        let end = LoopEnd { checkpoints: 3, status: Some(WaitStatus::Exited(Pid::from_raw(5), 0)), interrupted: false };
        assert!(end.clean());
        assert_eq!(
            trailer_lines(&end, 7),
            [
                "# mmdb record: 3 checkpoints; the command exited with status 0",
                "# mmdb record: LOST 7 events (ring buffer full)"
            ]
        );
        let end = LoopEnd { interrupted: true, ..end };
        assert!(!end.clean());
        assert_eq!(end.describe(), "interrupted; the command exited with status 0");
    }
}
