//! `mmdb bench FILE`: how fast mmdb reads, parses and replays one trace on this machine, beside the speed of a plain
//! newline count of the same file measured in the same run, so that the ratio stays meaningful on a noisy machine.

use std::io::{self, BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::input;
use crate::progress::Progress;
use crate::stream::{self, RealFormat};

pub const BENCH_LONG: &str = "\
Measures how fast mmdb reads, parses and replays FILE (a real ftrace or perf
trace), on this machine, now. Each phase runs --runs times and the median is
shown, with the peak memory of its fastest run (VmHWM, reset between phases):

  newline count  read FILE and count its lines (memchr): the speed of reading
                 it at all, the yardstick for the others
  parse          read and parse every line into records, on one thread
  replay -j1     parse and replay into the model (lowering, divergences,
                 rss_stat checks), everything on one thread
  replay -jN     the same with N parser threads (default: every CPU), replay
                 in order on this thread

Rates are in MB/s of text (decompressed) and records/s (trace lines that
parsed). A perf recording's side files, FILE.truth and FILE.lru, are used by
the replay phases when they exist, as `mmdb replay --truth --lru` would. The last lines give replay's share of the newline count's speed and
the gain of the parser threads. The file is read once before the first phase,
so every phase reads it from the page cache.

The book's performance chapter has the figures of a reference machine and the
commands that generate large traces (scripts/gen-trace.sh).";

pub const BENCH_AFTER_HELP: &str = "\
Examples:
  mmdb bench traces/real/madv-free.ftrace
  mmdb bench --runs 5 -j 2 /tmp/churn.ftrace";

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The trace to measure (ftrace or perf text, maybe compressed).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// How many times each phase runs; the median is shown.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
    /// Parser threads for the last phase (default: every CPU mmdb may use).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
}

/// One run of one phase.
#[derive(Clone, Copy, Debug)]
struct Run {
    time: Duration,
    bytes: u64,
    records: u64,
    events: u64,
    /// Peak resident memory during the run, in KiB, when /proc says.
    peak_kib: Option<u64>,
}

/// The phases, each a function of the file that returns what it did.
type Phase<'a> = (String, Box<dyn Fn() -> anyhow::Result<Run> + 'a>);

pub fn run(args: &BenchArgs) -> anyhow::Result<u8> {
    let path = args.file.as_path();
    let display = path.display().to_string();
    anyhow::ensure!(path.as_os_str() != "-", "mmdb bench reads FILE several times: give a file, not standard input");
    let format = detect(path, &display)?;
    let jobs = crate::parser_threads(args.jobs);
    let side_file = |suffix: &str| Some(PathBuf::from(format!("{display}{suffix}"))).filter(|p| p.is_file());
    let (truth, lru) = (side_file(".truth"), side_file(".lru"));
    let side = truth.as_deref().map(crate::read_truth_sidefile).transpose()?;
    let sides = Sides { side: side.as_deref(), lru: lru.as_deref() };
    // Warm the page cache, so that every phase reads the file from memory.
    let warm = newline_count(path, &display)?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "mmdb bench: {display} ({}, {:.1} MB of text, {} lines), {} run{} per phase",
        match format {
            RealFormat::Ftrace => "ftrace",
            RealFormat::Perf => "perf",
        },
        warm.bytes as f64 / 1e6,
        warm.records,
        args.runs,
        if args.runs == 1 { "" } else { "s" }
    )?;
    for file in truth.iter().chain(&lru) {
        writeln!(out, "with {}", file.display())?;
    }
    let phases: Vec<Phase<'_>> = vec![
        ("newline count".to_string(), Box::new(|| newline_count(path, &display))),
        ("parse".to_string(), Box::new(|| parse_only(path, &display, format))),
        ("replay -j1".to_string(), Box::new(|| replay(path, &display, format, 1, &sides))),
        (format!("replay -j{jobs}"), Box::new(|| replay(path, &display, format, jobs, &sides))),
    ];
    writeln!(out, "{:<14} {:>9} {:>10} {:>13} {:>11}", "phase", "time", "MB/s", "records/s", "peak RSS")?;
    let mut medians = Vec::new();
    for (name, phase) in &phases {
        let mut runs = Vec::new();
        for _ in 0..args.runs {
            reset_peak();
            let mut r = phase()?;
            r.peak_kib = peak_kib();
            runs.push(r);
        }
        runs.sort_by_key(|r| r.time);
        let median = runs[runs.len() / 2];
        let peak = runs[0].peak_kib;
        let secs = median.time.as_secs_f64().max(1e-9);
        let events = if median.events > 0 { format!("  ({} model events)", median.events) } else { String::new() };
        writeln!(
            out,
            "{name:<14} {:>8.3}s {:>10.1} {:>13.0} {:>11}{events}",
            secs,
            median.bytes as f64 / 1e6 / secs,
            median.records as f64 / secs,
            peak.map_or_else(|| "n/a".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
        )?;
        medians.push(median);
    }
    let rate = |r: &Run| r.bytes as f64 / r.time.as_secs_f64().max(1e-9);
    let (count, one, many) = (rate(&medians[0]), rate(&medians[2]), rate(&medians[3]));
    writeln!(
        out,
        "replay -j1 runs at {:.1}% of the newline count's speed (1/{:.1})",
        100.0 * one / count,
        count / one
    )?;
    writeln!(out, "replay -j{jobs} is {:.2} times replay -j1", many / one)?;
    Ok(crate::EXIT_CLEAN)
}

/// The format of `path`, from its first piece; only real traces are measured.
fn detect(path: &Path, display: &str) -> anyhow::Result<RealFormat> {
    let mut text = input::open_text(path, display)?;
    let first = text.read_piece(stream::PIECE).map_err(|e| text.error(e))?.unwrap_or_default();
    match mmdb_trace::detect(&first).format {
        mmdb_trace::Format::Ftrace => Ok(RealFormat::Ftrace),
        mmdb_trace::Format::Perf => Ok(RealFormat::Perf),
        mmdb_trace::Format::Mmdb => anyhow::bail!("{display} is an mm event trace; mmdb bench measures real traces"),
    }
}

/// Reads the whole file and counts its line breaks.
fn newline_count(path: &Path, display: &str) -> anyhow::Result<Run> {
    let start = Instant::now();
    let mut text = input::open_text(path, display)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let n = text.read(&mut buf).map_err(|e| text.error(e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
    Ok(Run { time: start.elapsed(), bytes, records: lines, events: 0, peak_kib: None })
}

/// Reads and parses every piece, keeping nothing.
fn parse_only(path: &Path, display: &str, format: RealFormat) -> anyhow::Result<Run> {
    let start = Instant::now();
    let mut text = input::open_text(path, display)?;
    let first = text.read_piece(stream::PIECE).map_err(|e| text.error(e))?.unwrap_or_default();
    let mut records = 0u64;
    let progress = Progress::bytes("parsing", None);
    let streamed = stream::parse_pieces(&mut text, first, format, stream::PIECE, 1, &progress, |p| {
        records += p.lines.len() as u64;
    })
    .map_err(|e| text.error(e))?;
    Ok(Run { time: start.elapsed(), bytes: streamed.bytes, records, events: 0, peak_kib: None })
}

/// A perf recording's side files.
struct Sides<'a> {
    side: Option<&'a [mmdb_trace::TimedMarker]>,
    lru: Option<&'a Path>,
}

/// Parses and replays, as `mmdb replay` does, with `jobs` parser threads.
fn replay(path: &Path, display: &str, format: RealFormat, jobs: usize, sides: &Sides<'_>) -> anyhow::Result<Run> {
    let start = Instant::now();
    let mut text = input::open_text(path, display)?;
    let first = text.read_piece(stream::PIECE).map_err(|e| text.error(e))?.unwrap_or_default();
    let side = sides.side.map(<[mmdb_trace::TimedMarker]>::to_vec);
    let mut replayer = mmdb_session::verify::TraceReplayer::new(mmdb_model::Profile::default(), side, false);
    if let Some(lru) = sides.lru {
        replayer.merge_extra(crate::read_lru_file(lru)?);
    }
    let mut records = 0u64;
    let progress = Progress::bytes("replaying", None);
    let streamed = stream::parse_pieces(&mut text, first, format, stream::PIECE, jobs, &progress, |p| {
        records += p.lines.len() as u64;
        replayer.feed(p);
    })
    .map_err(|e| text.error(e))?;
    let (r, _) = replayer.finish();
    std::hint::black_box(&r);
    Ok(Run { time: start.elapsed(), bytes: streamed.bytes, records, events: r.stats.events, peak_kib: None })
}

/// Resets this process's peak resident memory (`VmHWM`), so the next phase measures its own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident memory since the last reset, in KiB.
fn peak_kib() -> Option<u64> {
    let status = std::fs::File::open("/proc/self/status").ok()?;
    io::BufReader::new(status).lines().map_while(Result::ok).find_map(|l| {
        let kib = l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kib)
    })
}
