//! The `mmdb` binary: the only part of mmdb that touches files and the terminal.
//!
//! It parses the command line, reads the trace, hands the bytes to mmdb-session and writes what comes back.
//! `main` maps the outcome to the exit status: 0 clean, 1 findings, 2 usage error or unreadable input; a closed
//! stdout (`mmdb replay … | head`) counts as success.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod bench;
mod input;
mod progress;
mod record;
mod repl;
mod run;
mod stream;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use mmdb_model::Severity;
use mmdb_session::{render_json, render_text, replay, ParseError, ReplayOptions};
use mmdb_trace::ErrorTally;

/// How many parse errors stderr shows in full; a file in the wrong format would otherwise flood the terminal.
const MAX_SHOWN_PARSE_ERRORS: usize = 100;

/// Exit status when the replay found nothing wrong.
pub(crate) const EXIT_CLEAN: u8 = 0;
/// Exit status when the replay found parse errors, warnings or invariant violations.
const EXIT_FINDINGS: u8 = 1;
/// Exit status for a usage error or input that cannot be read.
const EXIT_ERROR: u8 = 2;

/// The long description of `mmdb --help`, wrapped for an 80-column terminal.
const ABOUT_LONG: &str = "\
A trace-replay debugger for the Linux memory manager.

mmdb replays a trace of memory-management events (mmap, page faults, fork,
madvise, reclaim, ...) into a model of the Linux 6.18 memory manager, then shows
the resulting state the way the kernel would: per-process VMAs, RSS counters and
smaps, folios by state and LRU list, and vmstat counters.";

const AFTER_HELP: &str = "\
Examples:
  mmdb traces/basic.events
      Open the trace in the interactive debugger (the same as `mmdb repl`).
  mmdb replay traces/basic.events
  mmdb replay --check --until 67 traces/basic.events
  mmdb replay --format json traces/basic.events | jq .report.pages

Run `mmdb help replay` for what the report contains and the exit statuses.";

/// The long description of `mmdb replay --help`.
const REPLAY_LONG: &str = "\
Replays a trace into the memory-manager model and prints the final state.

Every event of FILE is applied, in order, to a fresh model. Lines that do not
parse are reported on stderr as FILE:LINE:COLUMN with the line and what was
expected, then skipped; the replay goes on, and a last line counts the errors
(by kind when there are several kinds). With --strict the first error (a line
that does not parse, or a warning diagnostic) ends the replay instead: it is
shown, no report is printed, and the exit status is 2. A file that is not text
(a program, perf.data, trace.dat, a sparse file) is refused before it is read
whole. A real trace is streamed: read in pieces, parsed on --jobs threads and
replayed in order, so memory does not grow with the file. The chapter \"What mmdb does with bad input\" of the book lists each case.

The report on stdout shows, for each process, its RSS counters (mm->rss_stat, in
pages), its smaps_rollup (in kB) and its VMAs as /proc/PID/maps shows them; then
page totals by state, the LRU lists, zero-page mappings, the non-zero vmstat
counters, and memory cgroups and swap when present. It ends with the diagnostics
(trace anomalies, such as a fault outside any VMA, and failed operations) and
the invariant violations (model bugs found by --check), each with its event and
source line. Events are numbered from 1, the way --until counts them.";

const REPLAY_AFTER_HELP: &str = "\
Exit status:
  0  the replay was clean
  1  parse errors, diagnostics of severity warning, invariant violations, or
     lost events (a real trace whose ring buffer overflowed)
  2  usage error, FILE cannot be read or is not text, or --strict met an error

Examples:
  mmdb replay traces/basic.events
      Replay the whole trace and print the report.
  mmdb replay --check traces/basic.events
      Also check every model invariant after every event.
  mmdb replay --until 67 traces/basic.events
      Show the state right after event 18.
  mmdb replay --format json traces/basic.events | jq .report.pages
      The report as JSON, for scripts.
  mmdb replay --strict traces/basic.events
      Stop at the first error, with exit status 2.
  cat traces/basic.events | mmdb replay -
      Read the trace from standard input.";

#[derive(Debug, Parser)]
#[command(
    name = "mmdb",
    version,
    about = "A trace-replay debugger for the Linux memory manager.",
    long_about = ABOUT_LONG,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `mmdb FILE` opens FILE in the REPL, as `mmdb repl FILE` does.
    #[command(flatten)]
    repl: repl::ReplArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replays a trace into the memory-manager model and prints the final state.
    #[command(long_about = REPLAY_LONG, after_help = REPLAY_AFTER_HELP)]
    Replay(ReplayArgs),
    /// Records a command as an ftrace (or perf) trace with ground-truth checkpoints (root only).
    #[command(long_about = record::RECORD_LONG, after_help = record::RECORD_AFTER_HELP)]
    Record(record::RecordArgs),
    /// Opens a trace in the interactive debugger: time travel, breakpoints, watchpoints, page inspection.
    #[command(long_about = repl::REPL_LONG, after_help = repl::REPL_AFTER_HELP)]
    Repl(repl::ReplArgs),
    /// Runs a Rhai scenario script on a fresh model and prints what it prints.
    #[command(long_about = run::RUN_LONG, after_help = run::RUN_AFTER_HELP)]
    Run(run::RunArgs),
    /// Lists the kernel profiles: the semantics of a kernel version or a proposed patch, one line each.
    Profiles,
    /// Replays the same input under two kernel profiles and reports where and how they differ.
    #[command(long_about = DIFF_LONG)]
    Diff(DiffArgs),
    /// Measures how fast mmdb reads, parses and replays a real trace, beside a plain newline count of it.
    #[command(long_about = bench::BENCH_LONG, after_help = bench::BENCH_AFTER_HELP)]
    Bench(bench::BenchArgs),
}

const DIFF_LONG: &str = "\
Replays the same input under two kernel profiles, side by side, and reports the
first event after which the two models differ, in words: what the operation
did under each profile to the folios it touched (split or left whole, made
lazyfree, unmapped, freed, swapped, copied on write or reused), what it
returned and which vm events it counted. Then every result, figure (RSS
counters, smaps fields, vmstat, LRU lists) and page that ends differently, the
pages grouped by folio and by identical difference. A figure one profile does
not keep (and the other has at zero) is no difference.

INPUT is an mm event trace, a real ftrace or perf trace (lowered once, under
the first profile), or a Rhai script (its events, as it performed them under
the first profile). `mmdb profiles` lists the profiles.

Lines of the input that do not parse are skipped, as `mmdb replay` skips them,
and reported on standard error with a summary by kind; --strict stops at the
first one instead.

Exit status: 0 no difference and no error, 1 the profiles differ or the input
had errors (standard error says which), 2 usage or I/O error, or --strict met
an error.

Example:
  mmdb diff scripts/seeds/large-folio-sharers.rhai --profile sharers-estimated --profile sharers-precise";

#[derive(Debug, clap::Args)]
struct DiffArgs {
    /// The input: an mm event trace, a real trace or a `.rhai` script.
    #[arg(value_name = "INPUT")]
    input: PathBuf,
    /// The two profiles to compare (give --profile twice).
    #[arg(long, value_name = "NAME", num_args = 1, required = true, value_parser = parse_profile)]
    profile: Vec<mmdb_model::Profile>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Stop at the first line that does not parse (exit status 2) instead of skipping it.
    #[arg(long)]
    strict: bool,
}

/// A profile name on the command line.
pub(crate) fn parse_profile(name: &str) -> Result<mmdb_model::Profile, String> {
    mmdb_model::Profile::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = mmdb_model::Profile::ALL.iter().map(|p| p.name()).collect();
        format!("unknown profile `{name}`; `mmdb profiles` lists them: {}", names.join(", "))
    })
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The trace to replay, in the mm event format; `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Output format of the report on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Run the full invariant check after every event (slower) and report violations.
    #[arg(long)]
    check: bool,
    /// Stop after event N (events are numbered from 1); the report shows the state at that point.
    #[arg(long, value_name = "N")]
    until: Option<u64>,
    /// The input format; by default it is detected from the content.
    #[arg(long, value_enum, value_name = "FORMAT")]
    input_format: Option<InputFormat>,
    /// For a real trace: compare every rss_stat and every ground-truth checkpoint with the model, and print the figures.
    #[arg(long)]
    verify: bool,
    /// The ground-truth side file of a perf recording (`mmdb record --perf` writes FILE.truth).
    #[arg(long, value_name = "SIDEFILE")]
    truth: Option<PathBuf>,
    /// The LRU events of the other tasks, beside a perf recording (`mmdb record --perf` writes FILE.lru): merged
    /// into the trace by time, they show when per-CPU batches moved.
    #[arg(long, value_name = "FILE")]
    lru: Option<PathBuf>,
    /// The kernel profile to replay under (`mmdb profiles` lists them).
    #[arg(long, value_name = "NAME", default_value = "linux-6.18", value_parser = parse_profile)]
    profile: mmdb_model::Profile,
    /// Stop at the first error (a line that does not parse, or a warning diagnostic): show it and exit with 2.
    #[arg(long)]
    strict: bool,
    /// Threads that parse a real trace while it is replayed in order (default: the CPUs mmdb may use; 1 parses
    /// and replays on one thread).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
    /// The size of the pieces a real trace is read and parsed in (tests use small ones to cut traces often).
    #[arg(long, value_name = "BYTES", default_value_t = stream::PIECE, hide = true)]
    piece_size: usize,
}

/// The parser threads to use: `jobs` when given, else one per CPU this process may run on.
pub(crate) fn parser_threads(jobs: Option<u16>) -> usize {
    jobs.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), usize::from)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum InputFormat {
    /// ftrace text (`trace`, `trace_pipe`, `trace-cmd report`).
    Ftrace,
    /// `perf script` text.
    Perf,
    /// The mm event format.
    Mmdb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The human-readable report.
    Text,
    /// One JSON object (schema `mmdb_report_version` 1), for scripts.
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout and are successes; everything else is a usage error.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { EXIT_ERROR } else { EXIT_CLEAN });
        }
    };
    let result = match cli.command {
        Some(Command::Replay(args)) => cmd_replay(&args),
        Some(Command::Record(args)) => record::run(&args),
        Some(Command::Repl(args)) => repl::run(&args),
        Some(Command::Profiles) => cmd_profiles(),
        Some(Command::Diff(args)) => cmd_diff(&args),
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Bench(args)) => bench::run(&args),
        None if cli.repl.file.is_some() => repl::run(&cli.repl),
        None => {
            let msg = "mmdb: give a trace to open, or a command (`mmdb --help` lists them)";
            let _ = writeln!(io::stderr().lock(), "{msg}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(EXIT_CLEAN),
        Err(err) => {
            let _ = writeln!(io::stderr().lock(), "mmdb: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `mmdb replay`: reads the trace, replays it, prints parse errors to stderr and the report to stdout.
///
/// A real trace is streamed (read in pieces, parsed on `--jobs` threads, replayed in order), so memory does not
/// grow with its size; an mm event trace is read whole.
fn cmd_replay(args: &ReplayArgs) -> anyhow::Result<u8> {
    let from_stdin = args.file.as_os_str() == "-";
    let display = if from_stdin { "<stdin>".to_string() } else { args.file.display().to_string() };
    let mut text = input::open_text(&args.file, &display)?;
    let first = text.read_piece(args.piece_size.max(1)).map_err(|e| text.error(e))?.unwrap_or_default();
    let format = input_format(&args.file, &first, args.input_format);
    if format != InputFormat::Mmdb {
        return cmd_replay_real(args, text, first, &display, format);
    }
    let mut source = first;
    io::Read::read_to_end(&mut text, &mut source).map_err(|e| text.error(e))?;
    let opts =
        ReplayOptions { check: args.check, until: args.until, profile: args.profile, ..ReplayOptions::default() };
    let replay = replay(&source, &opts);
    let source = Source::Bytes(&source);

    if args.strict {
        let warnings = replay
            .report
            .diagnostics
            .iter()
            .filter(|d| d.severity >= Severity::Warning)
            .filter_map(|d| Some((replay.line_of(d.event)?, d)));
        if let Some(first) = first_error(&replay.parse_errors, warnings, &source, &display) {
            return Ok(strict_stop(&first, &display));
        }
    }
    let mut err = io::stderr().lock();
    report_errors(&mut err, &replay.parse_errors, &replay.error_tally, &display, &source);

    let rendering = match args.format {
        Format::Text => render_text(&replay, &display),
        Format::Json => render_json(&replay, &display),
    };
    let mut out = io::stdout().lock();
    out.write_all(rendering.as_bytes()).and_then(|()| out.flush()).context("cannot write the report")?;

    Ok(if replay.is_clean() { EXIT_CLEAN } else { EXIT_FINDINGS })
}

/// Where the text of the lines that errors name comes from.
enum Source<'a> {
    /// The whole text is at hand.
    Bytes(&'a [u8]),
    /// The text was streamed: lines are read again from the file when an error needs them (not from standard
    /// input, which cannot be read twice).
    Streamed { path: &'a Path, display: &'a str, unterminated: Option<u32> },
}

impl Source<'_> {
    /// The texts of the lines `wanted` (1-based; without their line breaks), read in one pass.
    fn lines(&self, wanted: impl Iterator<Item = u32>) -> BTreeMap<u32, String> {
        let wanted: BTreeSet<u32> = wanted.collect();
        match *self {
            Source::Bytes(bytes) => lines_of(bytes, &wanted),
            Source::Streamed { path, .. } if path.as_os_str() == "-" => BTreeMap::new(),
            Source::Streamed { path, display, .. } => match input::open_text(path, display) {
                Ok(text) => lines_of(io::BufReader::with_capacity(1 << 20, text), &wanted),
                Err(_) => BTreeMap::new(),
            },
        }
    }

    /// The number of the last line when it has no line break.
    fn unterminated(&self) -> Option<u32> {
        match *self {
            Source::Bytes(s) => (!s.is_empty() && !s.ends_with(b"\n")).then(|| line_count(s)),
            Source::Streamed { unterminated, .. } => unterminated,
        }
    }
}

/// The texts of the lines `wanted` of `text`, read until the last of them.
fn lines_of(mut text: impl io::BufRead, wanted: &BTreeSet<u32>) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    let Some(&last) = wanted.last() else { return out };
    let mut buf = Vec::new();
    for line in 1..=last {
        buf.clear();
        match text.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if wanted.contains(&line) {
            let bytes = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            out.insert(line, String::from_utf8_lossy(bytes).into_owned());
        }
    }
    out
}

/// Writes `errors` (of the file shown as `display`, whose text is `source` when at hand) to stderr: each rendered
/// like rustc's, at most [`MAX_SHOWN_PARSE_ERRORS`] of them, then a line that counts them, by kind when there are
/// several kinds (`3 errors in x.ftrace: 2 syntax, 1 marker`). Nothing when there are none.
///
/// With the source, a marker error (located in the marker's text) is moved to its place in the whole line, and an
/// error on a last line that has no line break says that the file may have been cut short.
fn report_errors(err: &mut impl Write, errors: &[ParseError], tally: &ErrorTally, display: &str, source: &Source<'_>) {
    if tally.total == 0 {
        return;
    }
    let shown = &errors[..errors.len().min(MAX_SHOWN_PARSE_ERRORS)];
    let lines = source.lines(shown.iter().map(|e| e.line));
    let last_line = source.unterminated();
    for e in shown {
        let e = relocate(e, lines.get(&e.line).map(String::as_str));
        // Each error is followed by a blank line, as rustc does.
        // A failing stderr has nowhere to report to; the exit status still says what happened.
        let _ = writeln!(err, "{}", e.render(display).trim_end_matches('\n'));
        if Some(e.line) == last_line {
            let _ =
                writeln!(err, "note: the last line of {display} has no line break: the file may have been cut short");
        }
        let _ = writeln!(err);
    }
    let hidden = tally.total - shown.len() as u64;
    if hidden > 0 {
        let json = if tally.total > errors.len() as u64 {
            format!("--format json lists the first {}", errors.len())
        } else {
            "--format json lists them all".to_string()
        };
        let _ = writeln!(err, "... {hidden} more errors not shown ({json})");
    }
    let _ = writeln!(err, "{}", tally.summary(display));
}

/// One note per field of a known event that Linux 6.18 does not print (a trace from another kernel).
pub(crate) fn report_unknown_fields(err: &mut impl Write, fields: &[mmdb_trace::UnknownField], display: &str) {
    for u in fields {
        let lines = if u.count == 1 { "1 line".to_string() } else { format!("{} lines", u.count) };
        let _ = writeln!(
            err,
            "note: {display}:{}: `{}` has a field `{}` that Linux 6.18 does not print; not understood, ignored ({lines})",
            u.line, u.event, u.key
        );
    }
}

/// How many lines `source` has (a last line without a line break counts).
fn line_count(source: &[u8]) -> u32 {
    let breaks = source.iter().filter(|&&b| b == b'\n').count();
    let last = usize::from(!source.is_empty() && !source.ends_with(b"\n"));
    u32::try_from(breaks + last).unwrap_or(u32::MAX)
}

/// `e` located in its whole line `line` when it was located in a part of it (the text of a marker after
/// `tracing_mark_write: `): the column moves by what comes before that part.
fn relocate<'a>(e: &'a ParseError, line: Option<&str>) -> Cow<'a, ParseError> {
    match line {
        Some(line)
            if e.excerpt.starts_with("mmdb-")
                && line.len() > e.excerpt.len()
                && line.ends_with(e.excerpt.as_str())
                && line[..line.len() - e.excerpt.len()].ends_with(": ") =>
        {
            let before = line[..line.len() - e.excerpt.len()].chars().count();
            let column = e.column.saturating_add(u32::try_from(before).unwrap_or(u32::MAX));
            Cow::Owned(ParseError { column, excerpt: line.to_string(), ..e.clone() })
        }
        _ => Cow::Borrowed(e),
    }
}

/// The first error of a replay in file order: a parse error, or a warning diagnostic at its event's line.
fn first_error<'a>(
    errors: &[ParseError],
    warnings: impl Iterator<Item = (u32, &'a mmdb_model::Diagnostic)>,
    source: &Source<'_>,
    display: &str,
) -> Option<String> {
    let first_parse = errors.iter().min_by_key(|e| e.line);
    let first_warning = warnings.min_by_key(|(line, _)| *line);
    match (first_parse, first_warning) {
        (Some(e), w) if w.is_none_or(|(line, _)| e.line <= line) => {
            let lines = source.lines(std::iter::once(e.line));
            Some(relocate(e, lines.get(&e.line).map(String::as_str)).render(display))
        }
        (_, Some((line, d))) => {
            let text = source.lines(std::iter::once(line)).remove(&line).unwrap_or_default();
            // Underline the event's name when the line lexes, else its first word.
            let (column, len) = match mmdb_trace::lexer::lex_prefix(&text) {
                Ok(p) => (text[..p.event_offset].chars().count() + 1, p.event.chars().count()),
                Err(_) => {
                    let start = text.len() - text.trim_start().len();
                    let word = text[start..].split_whitespace().next().unwrap_or("");
                    (text[..start].chars().count() + 1, word.chars().count())
                }
            };
            let message = format!("{}: {}", d.kind, d.message);
            let column = u32::try_from(column).unwrap_or(u32::MAX);
            Some(mmdb_trace::diag::render_snippet(&message, display, line, column, &text, len))
        }
        (_, None) => None,
    }
}

/// `--strict` met an error: shows it (rendered) and returns the exit status.
fn strict_stop(rendered: &str, display: &str) -> u8 {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{}\n", rendered.trim_end_matches('\n'));
    let _ = writeln!(err, "mmdb: stopped at the first error in {display} (--strict)");
    EXIT_ERROR
}

/// The format of a trace: `explicit` if given; else the content decides, and when it cannot (no line looks like any
/// format), a `.events` file is mm events.
fn input_format(path: &Path, source: &[u8], explicit: Option<InputFormat>) -> InputFormat {
    let detection = mmdb_trace::detect(source);
    let by_extension = path
        .to_string_lossy()
        .trim_end_matches(".xz")
        .trim_end_matches(".gz")
        .trim_end_matches(".zst")
        .ends_with(".events");
    match (explicit, detection.format) {
        (Some(f), _) => f,
        (None, _) if !detection.certain && by_extension => InputFormat::Mmdb,
        (None, mmdb_trace::Format::Ftrace) => InputFormat::Ftrace,
        (None, mmdb_trace::Format::Perf) => InputFormat::Perf,
        (None, mmdb_trace::Format::Mmdb) => InputFormat::Mmdb,
    }
}

/// A perf recording's ground-truth side file: its text, its markers and the lines that did not parse.
struct SideFile {
    display: String,
    source: Vec<u8>,
    markers: Vec<mmdb_trace::TimedMarker>,
    errors: Vec<ParseError>,
}

/// Reads a perf recording's ground-truth side file for the REPL; its errors go to stderr.
fn read_truth_sidefile(p: &Path) -> anyhow::Result<Vec<mmdb_trace::TimedMarker>> {
    let side = read_side_file(p)?;
    report_errors(
        &mut io::stderr().lock(),
        &side.errors,
        &ErrorTally::of(&side.errors),
        &side.display,
        &Source::Bytes(&side.source),
    );
    Ok(side.markers)
}

/// Reads a perf recording's ground-truth side file.
fn read_side_file(p: &Path) -> anyhow::Result<SideFile> {
    let display = p.display().to_string();
    let source = input::read_trace(p, &display)?;
    let (markers, errors) = mmdb_trace::truth::parse_truth_sidefile(&source);
    Ok(SideFile { display, source, markers, errors })
}

/// Reads the ftrace text of other tasks' LRU events that `mmdb record --perf` writes beside the trace (FILE.lru).
pub(crate) fn read_lru_file(p: &Path) -> anyhow::Result<mmdb_trace::ParsedTrace> {
    let display = p.display().to_string();
    let bytes = input::read_trace(p, &display)?;
    let trace = mmdb_trace::parse_ftrace(&bytes);
    report_errors(
        &mut io::stderr().lock(),
        &trace.errors,
        &ErrorTally::of(&trace.errors),
        &display,
        &Source::Bytes(&bytes),
    );
    Ok(trace)
}

/// `mmdb replay` of a real ftrace or perf trace: lowering to the model, divergences and, with `--verify`, the
/// comparison with rss_stat and the ground-truth checkpoints. The trace is streamed: `first` is its first piece,
/// already read for format detection, `text` the rest.
fn cmd_replay_real(
    args: &ReplayArgs,
    mut text: input::TextReader,
    first: Vec<u8>,
    display: &str,
    format: InputFormat,
) -> anyhow::Result<u8> {
    let side = match &args.truth {
        Some(p) => Some(read_side_file(p)?),
        None => None,
    };
    let real = RealInput {
        path: &args.file,
        display,
        format,
        profile: args.profile,
        side: side.as_ref().map(|s| s.markers.clone()),
        lru: args.lru.as_deref(),
        keep_log: args.strict,
        jobs: parser_threads(args.jobs),
        piece: args.piece_size.max(1),
    };
    let (r, log, streamed) = real.replay(&mut text, first)?;
    let source = Source::Streamed { path: &args.file, display, unterminated: streamed.unterminated };
    // The side file's errors: those of its lines, then those against the grammar's rules.
    let side_errors: Vec<ParseError> = match &side {
        Some(s) => {
            let mut all: Vec<ParseError> = s.errors.iter().chain(&r.truth_errors).cloned().collect();
            all.sort_by_key(|e| e.line);
            all
        }
        None => Vec::new(),
    };
    if args.strict {
        let warnings = r.report.diagnostics.iter().filter(|d| d.severity >= Severity::Warning).filter_map(|d| {
            // A diagnostic of the lowering's own (`ts-backwards`) names its line; a model's is at its event's.
            let named = d.message.strip_prefix("line ").and_then(|r| r.split_once(':')?.0.parse().ok());
            Some((named.or_else(|| Some(log.events.get(usize::try_from(d.event).ok()?)?.0))?, d))
        });
        if let Some(first) = first_error(&r.parse_errors, warnings, &source, display) {
            return Ok(strict_stop(&first, display));
        }
        if let (Some(s), Some(e)) = (&side, side_errors.first()) {
            return Ok(strict_stop(&e.render(&s.display), &s.display));
        }
    }
    let mut err = io::stderr().lock();
    if let Some(s) = &side {
        report_errors(&mut err, &side_errors, &ErrorTally::of(&side_errors), &s.display, &Source::Bytes(&s.source));
    }
    report_errors(&mut err, &r.parse_errors, &r.error_tally, display, &source);
    report_unknown_fields(&mut err, &r.unknown_fields, display);
    let rendering = match args.format {
        Format::Text => mmdb_session::verify::render_real_text(&r, display, args.verify),
        Format::Json => mmdb_session::verify::render_real_json(&r, display),
    };
    let mut out = io::stdout().lock();
    out.write_all(rendering.as_bytes()).and_then(|()| out.flush()).context("cannot write the report")?;
    let clean = r.as_replay().is_clean() && side_errors.is_empty() && r.lost == 0;
    Ok(if clean { EXIT_CLEAN } else { EXIT_FINDINGS })
}

/// A real trace to stream into a [`mmdb_session::verify::TraceReplayer`], and how.
pub(crate) struct RealInput<'a> {
    pub path: &'a Path,
    pub display: &'a str,
    pub format: InputFormat,
    pub profile: mmdb_model::Profile,
    /// A perf side file's markers.
    pub side: Option<Vec<mmdb_trace::TimedMarker>>,
    /// The other tasks' LRU events beside a perf recording.
    pub lru: Option<&'a Path>,
    /// Keep the applied events (the REPL navigates them; `--strict` places diagnostics by them).
    pub keep_log: bool,
    pub jobs: usize,
    pub piece: usize,
}

impl RealInput<'_> {
    /// Streams the trace (`first`, its first piece, then the rest of `text`) through the lowering and the model,
    /// with a progress bar on a terminal when it takes more than a second.
    pub fn replay(
        &self,
        text: &mut input::TextReader,
        first: Vec<u8>,
    ) -> anyhow::Result<(mmdb_session::verify::RealReplay, mmdb_session::verify::ReplayLog, stream::Streamed)> {
        self.replay_with(text, first, |_| {})
    }

    /// [`RealInput::replay`], with `prepare` called on the replayer before the first record (to observe its steps).
    pub fn replay_with(
        &self,
        text: &mut input::TextReader,
        first: Vec<u8>,
        prepare: impl FnOnce(&mut mmdb_session::verify::TraceReplayer),
    ) -> anyhow::Result<(mmdb_session::verify::RealReplay, mmdb_session::verify::ReplayLog, stream::Streamed)> {
        let mut replayer = mmdb_session::verify::TraceReplayer::new(self.profile, self.side.clone(), self.keep_log);
        prepare(&mut replayer);
        if let Some(p) = self.lru {
            replayer.merge_extra(read_lru_file(p)?);
        }
        let real = if self.format == InputFormat::Perf { stream::RealFormat::Perf } else { stream::RealFormat::Ftrace };
        let size = if self.path.as_os_str() == "-" { None } else { std::fs::metadata(self.path).ok().map(|m| m.len()) };
        let progress =
            progress::Progress::bytes(&format!("replaying {}", self.display), size.filter(|_| text.is_plain()));
        let streamed = stream::parse_pieces(text, first, real, self.piece, self.jobs, &progress, |p| replayer.feed(p))
            .map_err(|e| text.error(e))?;
        progress.finish();
        let (r, log) = replayer.finish();
        Ok((r, log, streamed))
    }
}

/// `mmdb profiles`.
fn cmd_profiles() -> anyhow::Result<u8> {
    let mut out = io::stdout().lock();
    for p in mmdb_model::Profile::ALL {
        let width = mmdb_model::Profile::ALL.iter().map(|p| p.name().len()).max().unwrap_or(0);
        writeln!(out, "{:<width$} {}", p.name(), p.summary()).context("cannot write the list")?;
    }
    Ok(EXIT_CLEAN)
}

/// What `mmdb diff` compares: the input's events with their source lines, and its parse errors with the text to
/// show their lines (empty for a script).
#[derive(Default)]
struct DiffInput {
    source: Vec<u8>,
    errors: Vec<ParseError>,
    tally: ErrorTally,
    events: Vec<(u32, mmdb_model::Event)>,
}

/// `mmdb diff`: the input's events (with their source lines) under two profiles.
fn cmd_diff(args: &DiffArgs) -> anyhow::Result<u8> {
    let [a, b] = args.profile[..] else {
        anyhow::bail!("give exactly two profiles (--profile A --profile B); `mmdb profiles` lists them");
    };
    let display = args.input.display().to_string();
    let DiffInput { source, errors, tally, events } = if display.ends_with(".rhai") {
        let interrupt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let run = run::execute(&args.input, &display, interrupt, a)?;
        if let Some(e) = &run.error {
            anyhow::bail!("the script failed under {}:\n{}", a.name(), e.render(&display));
        }
        let events = run.events.iter().enumerate();
        let events = events.map(|(i, ev)| (mmdb_script::ScriptRun::trace_line(i), ev.clone())).collect();
        DiffInput { events, ..DiffInput::default() }
    } else {
        let source = input::read_trace(&args.input, &display)?;
        match input_format(&args.input, &source, None) {
            InputFormat::Mmdb => {
                let parsed = mmdb_trace::parse_events_bytes(&source);
                let tally = ErrorTally::of(&parsed.errors);
                let events = parsed.events.into_iter().map(|l| (l.line, l.value)).collect();
                DiffInput { source, errors: parsed.errors, tally, events }
            }
            format => {
                let trace = if format == InputFormat::Perf {
                    mmdb_trace::parse_perf(&source)
                } else {
                    mmdb_trace::parse_ftrace(&source)
                };
                let (r, log) = mmdb_session::verify::replay_trace_profile(&trace, None, a, true);
                DiffInput { source, errors: r.parse_errors, tally: r.error_tally, events: log.events }
            }
        }
    };
    let text = Source::Bytes(&source);
    if args.strict {
        if let Some(first) = first_error(&errors, std::iter::empty(), &text, &display) {
            return Ok(strict_stop(&first, &display));
        }
    }
    report_errors(&mut io::stderr().lock(), &errors, &tally, &display, &text);
    let d = mmdb_session::diff::diff_profiles(&events, a, b);
    let rendering = match args.format {
        Format::Text => mmdb_session::diff::render_diff_text(&d, &display),
        Format::Json => serde_json::to_string_pretty(&d).context("cannot render JSON")? + "\n",
    };
    let mut out = io::stdout().lock();
    out.write_all(rendering.as_bytes()).and_then(|()| out.flush()).context("cannot write the report")?;
    Ok(if d.first.is_some() || tally.total > 0 { EXIT_FINDINGS } else { EXIT_CLEAN })
}

/// Returns whether the error chain bottoms out in a closed pipe, which ends output early but is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().filter_map(|e| e.downcast_ref::<io::Error>()).any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
