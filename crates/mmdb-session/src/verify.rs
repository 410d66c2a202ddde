//! Replay of a real kernel trace with verification against the kernel's own numbers: `rss_stat` events and the
//! ground-truth checkpoints (`mmdb-page`, `mmdb-rollup` markers, ground-truth-format.md).
//!
//! A page agrees when present, swapped, pfn, mapcount (kpagecount), excl (pagemap bit 56) and the kpageflags bits
//! in [`COMPARED_KFLAGS`] all match the model's; a page the model does not know does not agree. A rollup agrees
//! when every field matches.

use std::sync::Arc;

use crate::lower::{Divergence, Lowerer, LoweringStats, RssCheck, RssSample};
use mmdb_model::{kpf, Config, Event, Model, PageLog, Profile, Report};
use mmdb_trace::diag::MAX_KEPT_ERRORS;
use mmdb_trace::records::Record;
use mmdb_trace::records::UnknownField;
use mmdb_trace::truth::{collect_checkpoints, parse_marker, Marker, Page, Rollup, TimedMarker};
use mmdb_trace::{ErrorTally, ParseError, ParsedTrace, TraceLine};
use serde::Serialize;

/// The kpageflags bits compared, with their names.
pub const COMPARED_KFLAGS: &[(u32, &str)] = &[
    (kpf::LRU, "LRU"),
    (kpf::ACTIVE, "ACTIVE"),
    (kpf::ANON, "ANON"),
    (kpf::SWAPBACKED, "SWAPBACKED"),
    (kpf::SWAPCACHE, "SWAPCACHE"),
    (kpf::DIRTY, "DIRTY"),
    (kpf::UNEVICTABLE, "UNEVICTABLE"),
    (kpf::MLOCKED, "MLOCKED"),
    (kpf::COMPOUND_HEAD, "COMPOUND_HEAD"),
    (kpf::COMPOUND_TAIL, "COMPOUND_TAIL"),
    (kpf::THP, "THP"),
    (kpf::ZERO_PAGE, "ZERO_PAGE"),
    (kpf::OWNER_2, "ANON_EXCLUSIVE"),
];

/// A total and how many agreed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub total: u64,
    pub agree: u64,
}

/// One ground-truth line that disagreed with the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    /// The line of the marker (in the trace, or in the side file).
    pub line: u32,
    /// `pid:vaddr` for a page, `pid` for a rollup.
    pub what: String,
    /// The fields that differ, as `field: kernel K, model M`.
    pub fields: Vec<String>,
}

/// The verification figures (`--verify`); the JSON keys are a stable interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verify {
    pub rss_stat: RssTally,
    pub checkpoints: u64,
    pub pages: Tally,
    pub rollups: Tally,
    pub divergences: u64,
    /// Per page field: how many compared pages disagreed on it.
    pub page_fields: Vec<(String, u64)>,
    /// Per rollup field: how many rollups disagreed on it.
    pub rollup_fields: Vec<(String, u64)>,
    /// Per rollup field: how many agreeing rollups matched it only within the model's range, not its best value
    /// (Pss: page cache shared outside the trace; LazyFree: stores through clean writable PTEs, which no event
    /// shows). See [`compare_rollup`].
    pub rollup_within: Vec<(String, u64)>,
    /// Pages whose pfn the model never allocated: state from before the trace, or untraced allocations.
    pub pages_unknown: u64,
    /// Compared pages that processes outside the trace map too (`mmdb-outside`): their mappings were added to the
    /// model's mapcount.
    #[serde(skip)]
    pub pages_outside: u64,
    /// Disagreeing pages by likely cause: `pre-trace` (the model never saw the page, or maps nothing there: the
    /// page was populated before the trace or by an untraced path such as exec), `batch` (only `PG_lru` or
    /// `PG_active` differ: the folio's per-CPU batch drained at another time, usually where a pid-filtered trace
    /// cannot see it, traps 4 and 6), `other`.
    pub page_causes: Vec<(String, u64)>,
    /// The first disagreements, in trace order.
    pub first_pages: Vec<Disagreement>,
    pub first_rollups: Vec<Disagreement>,
    /// What was compared after events were lost; absent when nothing was lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncertain: Option<Uncertain>,
}

/// What was compared after events were lost (`CPU:N [LOST M EVENTS]`, `PERF_RECORD_LOST`): counted here, apart
/// from the other figures, because the model may be wrong from the first loss on. `None` when nothing was lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Uncertain {
    /// The line of the first loss notice: every finding after it is uncertain.
    pub from_line: u32,
    /// The divergences found after it (they are also in `divergences`, their cause naming the loss).
    pub divergences: u64,
    pub rss_stat: RssTally,
    pub pages: Tally,
    pub rollups: Tally,
}

/// `rss_stat` figures in the verify object: `total` and `matched`; and, when not zero, how many of the matched
/// did so within a range rather than exactly: `concurrent` (a sibling thread's fault under way on another CPU may
/// be counted), `resched` (an unmap step `need_resched()` cut short inside a page table) and `retried` (a
/// fault-around step before its fault's retry, which mapped what it skipped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RssTally {
    pub total: u64,
    pub matched: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub concurrent: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub resched: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retried: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The result of replaying a real trace.
#[derive(Debug)]
pub struct RealReplay {
    pub report: Report,
    pub verify: Verify,
    pub rss: RssCheck,
    pub divergences: Vec<Divergence>,
    pub stats: LoweringStats,
    /// The first [`MAX_KEPT_ERRORS`] parse errors found, in line order; `error_tally` counts them all.
    pub parse_errors: Vec<ParseError>,
    pub error_tally: ErrorTally,
    /// Lost-event notices (`CPU:N [LOST M EVENTS]`): the model may be wrong from there on.
    pub lost: u64,
    /// Errors of the perf side file's markers against the grammar's rules (`collect_checkpoints`), located in that
    /// file; the trace's own marker errors are in `parse_errors`.
    pub truth_errors: Vec<ParseError>,
    /// Fields of known events that Linux 6.18 does not print, in order of first appearance.
    pub unknown_fields: Vec<UnknownField>,
}

const KEEP: usize = 20;

/// Replays `trace`, verifying against its markers, or against `side` (a perf side file's markers) when given.
pub fn replay_trace(trace: &ParsedTrace, side: Option<&[TimedMarker]>) -> RealReplay {
    replay_trace_inner(trace, side, false, Profile::default()).0
}

/// [`replay_trace`] under a kernel profile, also returning the applied events when `keep_log` is set.
pub fn replay_trace_profile(
    trace: &ParsedTrace,
    side: Option<&[TimedMarker]>,
    profile: Profile,
    keep_log: bool,
) -> (RealReplay, ReplayLog) {
    replay_trace_inner(trace, side, keep_log, profile)
}

/// [`replay_trace_profile`] with its log kept and per-page history recorded ([`ReplayLog::history`]): what a
/// debugging session of the trace needs.
pub fn replay_trace_for_session(
    trace: &ParsedTrace,
    side: Option<&[TimedMarker]>,
    profile: Profile,
) -> (RealReplay, ReplayLog) {
    let mut r = TraceReplayer::new(profile, side.map(<[TimedMarker]>::to_vec), true);
    r.record_history();
    r.low.learn_tgids(&trace.lines);
    r.replay_piece(trace);
    r.finish()
}

/// [`replay_trace`], also returning every model event the lowering applied with its source line, in order.
///
/// Applying these events to a fresh `Model::new(Config { trace_pfns: true, .. })` reproduces the replay's model
/// (the lowering consults the model but never changes it any other way); the REPL navigates over them.
pub fn replay_trace_logged(trace: &ParsedTrace, side: Option<&[TimedMarker]>) -> (RealReplay, ReplayLog) {
    replay_trace_inner(trace, side, true, Profile::default())
}

/// What [`replay_trace_logged`] keeps besides the report: the model events it applied and the `rss_stat`s it
/// compared, each placed by its position in that event list.
#[derive(Clone, Debug, Default)]
pub struct ReplayLog {
    /// The applied model events with their source lines, in order.
    pub events: Vec<(u32, Event)>,
    pub rss: Vec<RssSample>,
    /// The trace's own ground-truth markers (`tracing_mark_write: mmdb-...`), in order.
    pub markers: Vec<TimedMarker>,
    /// Every page's history over the whole replay, when [`TraceReplayer::record_history`] asked for it (empty
    /// otherwise).
    pub history: Arc<PageLog>,
}

fn replay_trace_inner(
    trace: &ParsedTrace,
    side: Option<&[TimedMarker]>,
    keep_log: bool,
    profile: Profile,
) -> (RealReplay, ReplayLog) {
    let mut r = TraceReplayer::new(profile, side.map(<[TimedMarker]>::to_vec), keep_log);
    r.low.learn_tgids(&trace.lines);
    r.replay_piece(trace);
    r.finish()
}

/// How many records a [`TraceReplayer`] reads ahead of the one it replays, to learn TGIDs from them.
pub const TGID_LOOKAHEAD: usize = 4096;

/// A real trace replayed as it is read, for traces too large to hold: feed it the parsed trace in consecutive pieces
/// ([`TraceReplayer::feed`], each with the file's own line numbers, see [`ParsedTrace::shift_lines`]), then
/// [`TraceReplayer::finish`]. Any cut into pieces gives the same result as the whole trace at once (tested), as
/// long as a new thread's first record with its TGID comes within [`TGID_LOOKAHEAD`] records of its fork:
/// records are held back that long, so that [`Lowerer::learn_tgids`] sees them first (it tells a thread from a
/// process at a `clone3`, whose flags the trace does not show).
#[derive(Debug)]
pub struct TraceReplayer {
    low: Lowerer,
    v: Verifier,
    /// The first [`MAX_KEPT_ERRORS`] parse errors, and the count of all of them.
    errors: Vec<ParseError>,
    error_tally: ErrorTally,
    /// The trace's own `mmdb-` markers, for the grammar's rules at the end.
    markers: Vec<TimedMarker>,
    /// The side file's markers (perf recordings), merged by time, and the next one to merge.
    side: Vec<TimedMarker>,
    side_next: usize,
    truth_errors: Vec<ParseError>,
    /// Records recorded beside the trace (`--lru`), merged by time, and the next one to merge.
    extra: Vec<TraceLine>,
    extra_next: usize,
    /// The line of the last record of the trace itself: merged records take it.
    last_line: u32,
    first_loss: Option<u32>,
    lost: u64,
    backwards: Backwards,
    /// The pieces held back until the records after them have taught the lowering their TGIDs, and how many
    /// records they hold.
    pending: std::collections::VecDeque<ParsedTrace>,
    pending_records: usize,
    unknown_fields: Vec<UnknownField>,
}

impl TraceReplayer {
    /// A replay under `profile`, verified against the trace's own markers, or against `side` (a perf side file's
    /// markers) when given; `keep_log` keeps the applied events ([`ReplayLog`]).
    pub fn new(profile: Profile, side: Option<Vec<TimedMarker>>, keep_log: bool) -> TraceReplayer {
        let mut low =
            Lowerer::new(Model::new(Config { history: false, trace_pfns: true, profile, ..Config::default() }));
        if keep_log {
            low.keep_log();
        }
        let truth_errors = side.as_deref().map(|m| collect_checkpoints(m).errors).unwrap_or_default();
        TraceReplayer {
            low,
            v: Verifier::default(),
            errors: Vec::new(),
            error_tally: ErrorTally::default(),
            markers: Vec::new(),
            side: side.unwrap_or_default(),
            side_next: 0,
            truth_errors,
            extra: Vec::new(),
            extra_next: 0,
            last_line: 0,
            first_loss: None,
            lost: 0,
            backwards: Backwards::default(),
            pending: std::collections::VecDeque::new(),
            pending_records: 0,
            unknown_fields: Vec::new(),
        }
    }

    /// Records every page's history as the trace is replayed, from the next event on; [`TraceReplayer::finish`]
    /// returns it in [`ReplayLog::history`]. Costs time and memory (a few bytes per change of a page).
    pub fn record_history(&mut self) {
        self.low.record_history();
    }

    /// Merges `extra` (the LRU events of other tasks that `mmdb record --perf` keeps in a `.lru` file, of the same
    /// clock) by time, as [`ParsedTrace::merge`] does: at equal times the trace's record comes first, and a merged
    /// record takes the line of the trace's record it follows. Call it before the first [`TraceReplayer::feed`].
    pub fn merge_extra(&mut self, extra: ParsedTrace) {
        self.low.learn_tgids(&extra.lines);
        self.extra = extra.lines;
        self.extra_next = 0;
    }

    /// Calls `f` with the number of model events applied so far and the model then: at once, then after each
    /// event the lowering applies ([`Lowerer::on_step`]).
    pub fn on_step(&mut self, f: impl FnMut(usize, &Model) + 'static) {
        self.low.on_step(f);
    }

    /// Replays the next piece of the trace (its lines numbered as in the whole file).
    pub fn feed(&mut self, piece: ParsedTrace) {
        self.low.learn_tgids(&piece.lines);
        self.pending_records += piece.lines.len();
        self.pending.push_back(piece);
        while let Some(front) = self.pending.front() {
            if self.pending_records - front.lines.len() < TGID_LOOKAHEAD {
                break;
            }
            self.pending_records -= front.lines.len();
            if let Some(front) = self.pending.pop_front() {
                self.replay_piece(&front);
            }
        }
    }

    fn replay_piece(&mut self, piece: &ParsedTrace) {
        if let Some(first) = piece.lost.iter().map(|l| l.line).min() {
            self.first_loss = Some(self.first_loss.map_or(first, |f| f.min(first)));
        }
        self.lost += piece.lost.iter().map(|l| l.count.unwrap_or(1)).sum::<u64>();
        for e in &piece.errors {
            self.error(e.clone());
        }
        for u in piece.unknown_fields.iter().cloned() {
            match self.unknown_fields.iter_mut().find(|k| k.event == u.event && k.key == u.key) {
                Some(k) => k.count += u.count,
                None => self.unknown_fields.push(u),
            }
        }
        for l in &piece.lines {
            while let Some(x) = self.extra.get(self.extra_next).filter(|x| x.ts_ns < l.ts_ns) {
                let mut x = x.clone();
                x.line = self.last_line;
                self.extra_next += 1;
                self.line(&x);
            }
            self.last_line = l.line;
            self.line(l);
        }
    }

    /// One record, after the side file's markers that come before it.
    fn line(&mut self, l: &TraceLine) {
        while self.side.get(self.side_next).is_some_and(|m| m.ts_ns < l.ts_ns) {
            self.side_next += 1;
            self.side_marker(self.side_next - 1);
        }
        if let Some(lost) = self.first_loss.filter(|&f| l.line > f && self.v.uncertain.is_none()) {
            self.low.mark_uncertain(lost);
            self.v.uncertain = Some(Uncertain { from_line: lost, ..Uncertain::default() });
        }
        self.backwards.check(l, self.low.stats.events);
        self.low.feed(l);
        if let Record::TracingMarkWrite { buf } = &l.record {
            if buf.starts_with("mmdb-") {
                match parse_marker(buf) {
                    Ok(m) => {
                        if matches!(m, Marker::CheckpointBegin { .. }) {
                            self.low.flush_pending_faults();
                        }
                        self.v.marker(&self.low, l.line, &m);
                        self.markers.push(TimedMarker { ts_ns: l.ts_ns, line: l.line, marker: m });
                    }
                    Err(e) => self.error(e.to_parse_error(l.line, buf)),
                }
            }
        }
    }

    /// Counts a parse error, and keeps it if it is among the first [`MAX_KEPT_ERRORS`] by line (they are not found
    /// in line order: a piece's syntax errors come before its markers' errors).
    fn error(&mut self, e: ParseError) {
        self.error_tally.add(&e);
        self.errors.push(e);
        if self.errors.len() >= 2 * MAX_KEPT_ERRORS {
            keep_first_errors(&mut self.errors);
        }
    }

    fn side_marker(&mut self, index: usize) {
        let m = &self.side[index];
        if let Marker::Record { pid, .. } = m.marker {
            self.low.set_recorded(pid);
        }
        self.low.input_marker(&m.marker);
        if matches!(m.marker, Marker::CheckpointBegin { .. }) {
            self.low.flush_pending_faults();
        }
        self.v.marker(&self.low, m.line, &m.marker);
    }

    /// Replays what is left (the piece held back, records and markers merged after the trace's last record) and
    /// returns the result, with the applied events when the log was kept.
    pub fn finish(mut self) -> (RealReplay, ReplayLog) {
        while let Some(piece) = self.pending.pop_front() {
            self.replay_piece(&piece);
        }
        while self.extra_next < self.extra.len() {
            let mut x = self.extra[self.extra_next].clone();
            x.line = self.last_line;
            self.extra_next += 1;
            self.line(&x);
        }
        while self.side_next < self.side.len() {
            self.side_next += 1;
            self.side_marker(self.side_next - 1);
        }
        // The grammar's rules (checkpoint ids, begin/end pairs, order); the markers' own parse errors came above.
        for e in collect_checkpoints(&self.markers).errors {
            self.error(e);
        }
        let mut errors = self.errors;
        keep_first_errors(&mut errors);
        let (model, mut low) = self.low.finish();
        let log = ReplayLog {
            events: low.take_log(),
            rss: low.take_rss_log(),
            markers: self.markers,
            history: Arc::clone(model.history_log()),
        };
        let mut report = model.report();
        report.violations = model.check();
        report.diagnostics.extend(self.backwards.finish());
        report.diagnostics.sort_by_key(|d| d.event);
        let mut verify = self.v.finish();
        verify.rss_stat = RssTally {
            total: low.rss.total,
            matched: low.rss.matched,
            concurrent: low.rss.concurrent,
            resched: low.rss.resched,
            retried: low.rss.retried,
        };
        verify.divergences = low.divergence_count;
        if let Some(u) = &mut verify.uncertain {
            u.divergences = low.uncertain_divergences;
            u.rss_stat =
                RssTally { total: low.rss.uncertain_total, matched: low.rss.uncertain_matched, ..RssTally::default() };
        } else if let Some(lost) = self.first_loss {
            // Lost after the last record: nothing was compared after it.
            verify.uncertain = Some(Uncertain { from_line: lost, ..Uncertain::default() });
        }
        let r = RealReplay {
            report,
            verify,
            rss: low.rss,
            divergences: low.divergences,
            stats: low.stats,
            parse_errors: errors,
            error_tally: self.error_tally,
            lost: self.lost,
            truth_errors: self.truth_errors,
            unknown_fields: self.unknown_fields,
        };
        (r, log)
    }
}

/// Keeps the first [`MAX_KEPT_ERRORS`] of `errors` by line, in line order.
fn keep_first_errors(errors: &mut Vec<ParseError>) {
    errors.sort_by_key(|e| e.line);
    errors.truncate(MAX_KEPT_ERRORS);
}

/// How many timestamps going backwards are reported one by one; the rest are counted in one more diagnostic.
const MAX_BACKWARDS: usize = 10;

/// Records whose timestamp is before the previous record's: ftrace and perf print events in time order, so such a
/// trace was damaged or pieced together. Each is a warning; the replay keeps the file's order.
#[derive(Debug, Default)]
struct Backwards {
    previous: Option<(u64, u32)>,
    found: Vec<mmdb_model::Diagnostic>,
    more: u64,
}

impl Backwards {
    /// Checks record `l`, fed when the model has applied `events` events.
    fn check(&mut self, l: &mmdb_trace::TraceLine, events: u64) {
        if let Some((ts, line)) = self.previous.filter(|&(ts, _)| l.ts_ns < ts) {
            if self.found.len() < MAX_BACKWARDS {
                let message = format!(
                    "line {}: timestamp {} is before {} of line {line}; replayed in file order",
                    l.line,
                    crate::text::format_ts(l.ts_ns),
                    crate::text::format_ts(ts)
                );
                self.found.push(mmdb_model::Diagnostic {
                    event: events,
                    severity: mmdb_model::Severity::Warning,
                    kind: "ts-backwards".to_string(),
                    message,
                });
            } else {
                self.more += 1;
            }
        }
        self.previous = Some((l.ts_ns, l.line));
    }

    fn finish(mut self) -> Vec<mmdb_model::Diagnostic> {
        if self.more > 0 {
            let last = self.found.last().map_or(0, |d| d.event);
            let message = format!("{} more records go back in time (not listed)", self.more);
            let (severity, kind) = (mmdb_model::Severity::Warning, "ts-backwards".to_string());
            self.found.push(mmdb_model::Diagnostic { event: last, severity, kind, message });
        }
        self.found
    }
}

fn zero_or_pfn(zero: bool, pfn: u64) -> String {
    if zero {
        "the zero page".to_string()
    } else {
        format!("{pfn:#x}")
    }
}

/// How one `mmdb-page` line compares with the model's page at that address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageComparison {
    /// The fields that differ, as (field, `field: kernel K, model M`); empty when the page agrees.
    pub diffs: Vec<(String, String)>,
    /// The kernel's page is one the model never allocated (or the process is unknown to the model).
    pub unknown: bool,
    /// The likely cause of a disagreement (see [`Verify::page_causes`]); `None` when the page agrees.
    pub cause: Option<&'static str>,
}

/// Compares one `mmdb-page` line with the model: the one rule `--verify` and the REPL's `verify` share.
///
/// `outside` is how many of the page's mappings belong to processes the trace does not follow (the checkpoint's
/// `mmdb-outside` line for the pfn, else 0): the model's mapcount (kpagecount) is compared with them added, and its
/// `excl` (pagemap's "mapped once") holds only when there are none.
pub fn compare_page(model: &Model, p: &Page, outside: u64) -> PageComparison {
    let mut diffs = Vec::new();
    let mut diff = |field: &str, kernel: String, modelv: String| {
        if kernel != modelv {
            diffs.push((field.to_string(), format!("{field}: kernel {kernel}, model {modelv}")));
        }
    };
    let Some(pm) = model.pagemap(p.pid, p.vaddr) else {
        return PageComparison {
            diffs: vec![("pid".into(), format!("pid {} unknown to the model", p.pid))],
            unknown: true,
            cause: Some("pre-trace"),
        };
    };
    diff("present", p.present.to_string(), pm.present.to_string());
    diff("swapped", p.swapped.to_string(), pm.swapped.to_string());
    // The zero pages are compared by identity: their pfns are properties of the machine, not state.
    let kernel_zero = p.present && p.kflags >> kpf::ZERO_PAGE & 1 == 1;
    let model_zero = pm.present && model.kpageflags(pm.pfn) >> kpf::ZERO_PAGE & 1 == 1;
    if kernel_zero || model_zero {
        diff("pfn", zero_or_pfn(kernel_zero, p.pfn), zero_or_pfn(model_zero, pm.pfn));
    } else if p.present || p.swapped {
        diff("pfn", format!("{:#x}", p.pfn), format!("{:#x}", pm.pfn));
    }
    let unseen = p.present && model.folio(p.pfn).is_none() && !kernel_zero;
    if p.present {
        let mapcount = model.kpagecount(pm.pfn) + outside;
        diff("excl", p.excl.to_string(), (pm.excl && outside == 0).to_string());
        diff("mapcount", p.mapcount.to_string(), mapcount.to_string());
        let mk = model.kpageflags(pm.pfn);
        for (bit, name) in COMPARED_KFLAGS {
            // Which page of the huge zero folio it is: a machine property too.
            if (*bit == kpf::COMPOUND_HEAD || *bit == kpf::COMPOUND_TAIL) && kernel_zero && model_zero {
                continue;
            }
            let (k, m) = (p.kflags >> bit & 1, mk >> bit & 1);
            if k != m {
                diff(name, k.to_string(), m.to_string());
            }
        }
    }
    if diffs.is_empty() {
        return PageComparison { diffs, unknown: unseen, cause: None };
    }
    let missing = (p.present || p.swapped) && !pm.present && !pm.swapped;
    let only_lru = diffs.iter().all(|(f, _)| f == "LRU" || f == "ACTIVE");
    let cause = if unseen || missing {
        "pre-trace"
    } else if only_lru {
        "batch"
    } else {
        "other"
    };
    PageComparison { diffs, unknown: unseen, cause: Some(cause) }
}

/// The comparison of one `mmdb-rollup` line with the model ([`compare_rollup`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollupComparison {
    /// The fields that differ, as (field, `field: kernel K, model M`); empty when the rollup agrees.
    pub diffs: Vec<(String, String)>,
    /// The fields that agree only within the range the model gives them, not with its best value, as (field,
    /// `field: kernel K, model LOW..=BEST`).
    pub within: Vec<(&'static str, String)>,
}

/// Compares one `mmdb-rollup` line with the model, field by field. Every field is exact but two, which the model
/// knows only as a range ([`Model::smaps_rollup_bounds`]): Pss, because pages cached before the trace may be
/// shared with processes outside it; and LazyFree, because a store through a clean writable PTE dirties it with
/// no event (`smaps_account()` leaves PTE-dirty pages out).
pub fn compare_rollup(model: &Model, r: &Rollup) -> RollupComparison {
    let (Some((s, low)), Some(rss)) = (model.smaps_rollup_bounds(r.pid), model.rss(r.pid)) else {
        let diffs = vec![("pid".to_string(), format!("pid {} unknown to the model", r.pid))];
        return RollupComparison { diffs, within: Vec::new() };
    };
    let kb = |pages: i64| (pages.max(0) as u64) * 4;
    let exact = |v: u64| (v, v);
    let fields = [
        ("rss_kb", r.rss_kb, exact(s.rss_kb)),
        ("pss_kb", r.pss_kb, (low.pss_kb, s.pss_kb)),
        ("anon_kb", r.anon_kb, exact(s.anon_kb)),
        ("lazyfree_kb", r.lazyfree_kb, (low.lazyfree_kb, s.lazyfree_kb)),
        ("anonhuge_kb", r.anonhuge_kb, exact(s.anonhuge_kb)),
        ("swap_kb", r.swap_kb, exact(s.swap_kb)),
        ("rss_anon_kb", r.rss_anon_kb, exact(kb(rss.anon))),
        ("rss_file_kb", r.rss_file_kb, exact(kb(rss.file))),
        ("rss_shmem_kb", r.rss_shmem_kb, exact(kb(rss.shmem))),
    ];
    let mut out = RollupComparison::default();
    for (f, k, (lo, hi)) in fields {
        let model = if lo == hi { lo.to_string() } else { format!("{lo}..={hi}") };
        if !(lo..=hi).contains(&k) {
            out.diffs.push((f.to_string(), format!("{f}: kernel {k}, model {model}")));
        } else if k != hi {
            out.within.push((f, format!("{f}: kernel {k}, model {model}")));
        }
    }
    out
}

#[derive(Debug, Default)]
struct Verifier {
    out: Verify,
    page_fields: Vec<(String, u64)>,
    rollup_fields: Vec<(String, u64)>,
    rollup_within: Vec<(String, u64)>,
    page_causes: Vec<(String, u64)>,
    /// Set once the replay is past lost events: comparisons are counted here instead.
    uncertain: Option<Uncertain>,
    /// The checkpoint ids seen, and the id of a checkpoint that repeats one (its lines are not compared).
    seen: std::collections::BTreeSet<u32>,
    skipping: Option<u32>,
    /// The `mmdb-outside` lines for the checkpoint that begins next, or is open.
    outside: std::collections::BTreeMap<u64, u64>,
}

impl Verifier {
    fn marker(&mut self, low: &Lowerer, line: u32, m: &Marker) {
        match m {
            Marker::CheckpointBegin { id } => {
                // A repeated id is reported by `collect_checkpoints`; its lines are left out, as there.
                self.skipping = (!self.seen.insert(*id)).then_some(*id);
                if self.skipping.is_none() {
                    self.out.checkpoints += 1;
                }
            }
            Marker::CheckpointEnd { id } if self.skipping == Some(*id) => {
                self.skipping = None;
                self.outside.clear();
            }
            Marker::CheckpointEnd { .. } => self.outside.clear(),
            Marker::Outside { pfn, mapcount } => {
                self.outside.insert(*pfn, *mapcount);
            }
            _ if self.skipping.is_some() => {}
            Marker::Page(p) => {
                let outside = if p.present { self.outside.get(&p.pfn).copied().unwrap_or(0) } else { 0 };
                match &mut self.uncertain {
                    Some(u) => {
                        u.pages.total += 1;
                        u.pages.agree += u64::from(compare_page(low.model(), p, outside).cause.is_none());
                    }
                    None => self.page(low.model(), line, p, outside),
                }
            }
            Marker::Rollup(r) => match &mut self.uncertain {
                Some(u) => {
                    u.rollups.total += 1;
                    u.rollups.agree += u64::from(compare_rollup(low.model(), r).diffs.is_empty());
                }
                None => self.rollup(low.model(), line, r),
            },
            _ => {}
        }
    }

    fn bump(list: &mut Vec<(String, u64)>, field: &str) {
        match list.iter_mut().find(|(f, _)| f == field) {
            Some((_, n)) => *n += 1,
            None => list.push((field.to_string(), 1)),
        }
    }

    fn page(&mut self, model: &Model, line: u32, p: &Page, outside: u64) {
        self.out.pages.total += 1;
        self.out.pages_outside += u64::from(outside > 0);
        let c = compare_page(model, p, outside);
        if c.unknown {
            self.out.pages_unknown += 1;
        }
        match c.cause {
            None => self.out.pages.agree += 1,
            Some(cause) => {
                Self::bump(&mut self.page_causes, cause);
                self.disagree_page(line, p, c.diffs);
            }
        }
    }

    fn disagree_page(&mut self, line: u32, p: &Page, diffs: Vec<(String, String)>) {
        for (f, _) in &diffs {
            Self::bump(&mut self.page_fields, f);
        }
        if self.out.first_pages.len() < KEEP {
            let what = format!("{}:{:#x}", p.pid, p.vaddr);
            self.out.first_pages.push(Disagreement { line, what, fields: diffs.into_iter().map(|d| d.1).collect() });
        }
    }

    fn rollup(&mut self, model: &Model, line: u32, r: &Rollup) {
        self.out.rollups.total += 1;
        let RollupComparison { diffs, within } = compare_rollup(model, r);
        if diffs.is_empty() {
            self.out.rollups.agree += 1;
            for (f, _) in within {
                Self::bump(&mut self.rollup_within, f);
            }
            return;
        }
        for (f, _) in &diffs {
            Self::bump(&mut self.rollup_fields, f);
        }
        if self.out.first_rollups.len() < KEEP {
            let fields = diffs.into_iter().map(|d| d.1).collect();
            self.out.first_rollups.push(Disagreement { line, what: r.pid.to_string(), fields });
        }
    }

    fn finish(mut self) -> Verify {
        self.page_fields.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        self.rollup_fields.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        self.rollup_within.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        self.page_causes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        self.out.page_causes = self.page_causes;
        self.out.page_fields = self.page_fields;
        self.out.rollup_fields = self.rollup_fields;
        self.out.rollup_within = self.rollup_within;
        self.out.uncertain = self.uncertain;
        self.out
    }
}

impl RealReplay {
    /// The model-report view of this replay, for the renderers of mm event traces.
    pub fn as_replay(&self) -> crate::Replay {
        crate::Replay {
            report: self.report.clone(),
            parse_errors: self.parse_errors.clone(),
            error_tally: self.error_tally.clone(),
            event_lines: Vec::new(),
            parsed_events: self.report.events,
        }
    }
}

/// The text report of a real trace: the model's report, then the lowering (divergences first), then with
/// `verify` the verification figures with per-field breakdowns and the first disagreements.
pub fn render_real_text(r: &RealReplay, path: &str, verify: bool) -> String {
    use std::fmt::Write as _;
    let mut out = crate::render_text(&r.as_replay(), path);
    let s = &r.stats;
    let _ = writeln!(out, "real trace: {} model events lowered, {} records unused", s.events, s.ignored);
    let _ = writeln!(
        out,
        "  pre-trace state: {} VMAs stood in for mappings made before the trace; {} per-CPU batch drains inferred",
        s.pre_trace_vmas, s.implicit_drains
    );
    if r.lost > 0 {
        let _ = writeln!(out, "  LOST EVENTS: {} (the model may be wrong from the first loss on)", r.lost);
        if let Some(u) = &r.verify.uncertain {
            let _ = writeln!(
                out,
                "    uncertain from line {} on: {} divergences, {} rss_stat, {} pages and {} rollups compared \
                 after it are counted apart",
                u.from_line, u.divergences, u.rss_stat.total, u.pages.total, u.rollups.total
            );
        }
    }
    let _ = writeln!(out, "divergences ({}):", r.verify.divergences);
    for d in &r.divergences {
        let _ = writeln!(out, "  line {} {}: predicted {}; actual: {}", d.line, d.kind, d.predicted, d.actual);
        let _ = writeln!(out, "    likely cause: {}", d.cause);
    }
    if r.verify.divergences > r.divergences.len() as u64 {
        let _ = writeln!(out, "  ... {} more", r.verify.divergences - r.divergences.len() as u64);
    }
    if !verify {
        return out;
    }
    let v = &r.verify;
    let pct = |a: u64, t: u64| if t == 0 { 100.0 } else { 100.0 * a as f64 / t as f64 };
    let _ = writeln!(out, "verify:");
    let _ = writeln!(
        out,
        "  rss_stat: {} of {} matched ({:.1}%); {} not comparable (mm not known to the model at that point)",
        v.rss_stat.matched,
        v.rss_stat.total,
        pct(v.rss_stat.matched, v.rss_stat.total),
        r.rss.skipped
    );
    if r.rss.concurrent > 0 {
        let _ = writeln!(
            out,
            "    {} of the matched also count a sibling thread's fault under way on another CPU",
            r.rss.concurrent
        );
    }
    if r.rss.resched > 0 {
        let _ = writeln!(
            out,
            "    {} of the matched are unmap steps need_resched() cut short inside a page table (within the table's range)",
            r.rss.resched
        );
    }
    if r.rss.retried > 0 {
        let _ = writeln!(
            out,
            "    {} of the matched are fault-around steps before their fault's retry (within the fault's range)",
            r.rss.retried
        );
    }
    for (i, name) in mmdb_model::mm::RSS_COUNTER_NAMES.iter().enumerate() {
        let (t, m) = r.rss.by_member[i];
        if t > 0 {
            let _ = writeln!(out, "    {name}: {m} of {t}");
        }
    }
    for m in r.rss.mismatches.iter().take(5) {
        let _ = writeln!(
            out,
            "    line {}: pid {} {} kernel {} pages, model {}",
            m.line, m.pid, m.member, m.kernel, m.model
        );
    }
    let _ = writeln!(out, "  checkpoints: {}", v.checkpoints);
    let _ = writeln!(
        out,
        "  pages: {} of {} agree ({:.1}%)",
        v.pages.agree,
        v.pages.total,
        pct(v.pages.agree, v.pages.total)
    );
    if v.pages_outside > 0 {
        let _ = writeln!(out, "    {} mapped by processes outside the trace too (mmdb-outside)", v.pages_outside);
    }
    if !v.page_causes.is_empty() {
        let causes: Vec<String> = v.page_causes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let _ = writeln!(out, "    disagreements by cause: {}", causes.join(", "));
        let fields: Vec<String> = v.page_fields.iter().map(|(f, n)| format!("{f} {n}")).collect();
        let _ = writeln!(out, "    by field: {}", fields.join(", "));
    }
    for d in v.first_pages.iter().take(5) {
        let _ = writeln!(out, "    line {} {}: {}", d.line, d.what, d.fields.join("; "));
    }
    let _ = writeln!(out, "  rollups: {} of {} agree", v.rollups.agree, v.rollups.total);
    if !v.rollup_fields.is_empty() {
        let fields: Vec<String> = v.rollup_fields.iter().map(|(f, n)| format!("{f} {n}")).collect();
        let _ = writeln!(out, "    by field: {}", fields.join(", "));
    }
    if !v.rollup_within.is_empty() {
        let fields: Vec<String> = v.rollup_within.iter().map(|(f, n)| format!("{f} {n}")).collect();
        let _ = writeln!(out, "    within the model's range, not its best value: {}", fields.join(", "));
        for (f, _) in &v.rollup_within {
            let why = match f.as_str() {
                "lazyfree_kb" => "a store through a clean writable PTE dirties it without an event",
                "pss_kb" => "page cache from before the trace may be shared outside it",
                _ => continue,
            };
            let _ = writeln!(out, "      {f}: {why}");
        }
    }
    for d in v.first_rollups.iter().take(3) {
        let _ = writeln!(out, "    line {} pid {}: {}", d.line, d.what, d.fields.join("; "));
    }
    if let Some(u) = &v.uncertain {
        let _ = writeln!(out, "  uncertain (after the events lost at line {}):", u.from_line);
        let _ = writeln!(out, "    rss_stat: {} of {} matched", u.rss_stat.matched, u.rss_stat.total);
        let _ = writeln!(out, "    pages: {} of {} agree", u.pages.agree, u.pages.total);
        let _ = writeln!(out, "    rollups: {} of {} agree", u.rollups.agree, u.rollups.total);
    }
    out
}

/// The JSON report of a real trace: [`crate::render_json`]'s object plus `verify` (`rss_stat`, `checkpoints`,
/// `pages`, `rollups`, `divergences`, and the breakdowns; with lost events also `uncertain`, what was compared after
/// the first loss), `divergence_list`, `rss_mismatches`, `lowering` and `lost_events`.
pub fn render_real_json(r: &RealReplay, path: &str) -> String {
    let base = crate::render_json(&r.as_replay(), path);
    let mut v: serde_json::Value = serde_json::from_str(&base).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = v.as_object_mut() {
        let mut verify = serde_json::to_value(&r.verify).unwrap_or_default();
        if let Some(p) = verify.get_mut("pages").and_then(|p| p.as_object_mut()) {
            p.insert("unknown".into(), r.verify.pages_unknown.into());
            p.insert("outside".into(), r.verify.pages_outside.into());
        }
        obj.insert("verify".into(), verify);
        obj.insert("divergence_list".into(), serde_json::to_value(&r.divergences).unwrap_or_default());
        obj.insert("rss_mismatches".into(), serde_json::to_value(&r.rss.mismatches).unwrap_or_default());
        obj.insert("lowering".into(), serde_json::to_value(&r.stats).unwrap_or_default());
        obj.insert("lost_events".into(), r.lost.into());
    }
    let mut s = serde_json::to_string_pretty(&v).unwrap_or(base);
    s.push('\n');
    s
}
