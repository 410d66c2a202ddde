//! Replaying a whole trace into a fresh model: parse, apply event by event, optionally check, then report.

use mmdb_model::{Config, Diagnostic, Model, Report, Severity, Violation};

use mmdb_trace::{parse_events_bytes, ErrorTally, Located, ParseError};

/// How to replay a trace. The default checks nothing, stops nowhere and records no history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Runs the model's full invariant check after every event.
    pub check: bool,
    /// Stops after this many events: `Some(n)` applies events 1..=n (1-based), `None` applies all of them.
    pub until: Option<u64>,
    /// Records per-page history in the model. The replay report does not show it, so it is off by default;
    /// it costs time and memory in proportion to the trace.
    pub history: bool,
    /// The kernel profile to replay under.
    pub profile: mmdb_model::Profile,
}

/// The result of one replay: the model's report plus what the parser said about the source.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The model's report after the last applied event, with checker violations merged in.
    pub report: Report,
    /// Lines that did not parse; the replay skipped them and went on. A real trace's replay keeps only the
    /// first [`mmdb_trace::diag::MAX_KEPT_ERRORS`]; `error_tally` counts them all.
    pub parse_errors: Vec<ParseError>,
    /// Every parse error, counted by kind.
    pub error_tally: ErrorTally,
    /// The source line of each applied event, indexed by event index (0-based).
    pub event_lines: Vec<u32>,
    /// How many events the source held, applied or not (more than `event_lines.len()` when `until` stopped early).
    pub parsed_events: u64,
}

impl Replay {
    /// Returns the source line of the event with this 0-based index, if it was applied.
    pub fn line_of(&self, event: u64) -> Option<u32> {
        usize::try_from(event).ok().and_then(|i| self.event_lines.get(i)).copied()
    }

    /// Returns whether the replay found nothing to complain about.
    ///
    /// A replay is clean when every line parsed, no diagnostic has severity [`Severity::Warning`] and no
    /// invariant was violated; `info` diagnostics do not count. The CLI's exit status follows this.
    pub fn is_clean(&self) -> bool {
        self.parse_errors.is_empty()
            && self.report.violations.is_empty()
            && !self.report.diagnostics.iter().any(|d| d.severity >= Severity::Warning)
    }
}

/// Parses `source` (the mm event format) and replays it into a fresh model.
///
/// Lines that do not parse are collected in [`Replay::parse_errors`] and skipped; the replay never stops early
/// except for [`ReplayOptions::until`]. An event whose timestamp is before the previous event's is a warning
/// (`ts-backwards`); events are applied in the file's order. Parse errors are reported for the whole source, also past `until`.
///
/// With [`ReplayOptions::check`], [`Model::check`] runs after every event. A violation is recorded with the index
/// of the event after which it first appeared; while it stays broken (same invariant and message) it is not
/// repeated for each later event. Violations the model's own [`Model::report`] returns are merged in: when both
/// name the same invariant and message, the one with the earlier event stays; the result is ordered by event
/// index, the model's before the checker's within one event.
pub fn replay(source: &[u8], opts: &ReplayOptions) -> Replay {
    let parsed = parse_events_bytes(source);
    let parsed_events = u64::try_from(parsed.events.len()).unwrap_or(u64::MAX);

    let mut model = Model::new(Config { history: opts.history, profile: opts.profile, ..Config::default() });

    let limit = match opts.until {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    let mut event_lines = Vec::new();
    let mut log = ViolationLog::default();
    let mut backwards = Vec::new();
    let mut previous: Option<&Located<mmdb_model::Event>> = None;
    for (index, located) in parsed.events.iter().take(limit).enumerate() {
        if let Some(p) = previous.filter(|p| located.value.ts_ns < p.value.ts_ns) {
            backwards.push(ts_backwards(index, located, p));
        }
        previous = Some(located);
        let _outcome = model.apply(&located.value);
        event_lines.push(located.line);
        if opts.check {
            log.record(u64::try_from(index).unwrap_or(u64::MAX), model.check());
        }
    }

    let mut report = model.report();
    report.violations = merge_violations(std::mem::take(&mut report.violations), log.found);
    if !backwards.is_empty() {
        report.diagnostics.extend(backwards);
        report.diagnostics.sort_by_key(|d| d.event);
    }

    Replay {
        report,
        error_tally: ErrorTally::of(&parsed.errors),
        parse_errors: parsed.errors,
        event_lines,
        parsed_events,
    }
}

/// The warning for event `index` (at `at`), whose timestamp is before that of the event before it (at `before`):
/// events are replayed in the file's order, whatever their times say.
fn ts_backwards(index: usize, at: &Located<mmdb_model::Event>, before: &Located<mmdb_model::Event>) -> Diagnostic {
    let message = format!(
        "timestamp {} is before {} of line {}; replayed in file order",
        crate::text::format_ts(at.value.ts_ns),
        crate::text::format_ts(before.value.ts_ns),
        before.line
    );
    Diagnostic {
        event: u64::try_from(index).unwrap_or(u64::MAX),
        severity: Severity::Warning,
        kind: "ts-backwards".to_string(),
        message,
    }
}

/// The checker's findings over a replay, each kept at the event after which it first appeared.
#[derive(Debug, Default)]
struct ViolationLog {
    /// New violations, in the order found.
    found: Vec<Violation>,
    /// What the last check returned.
    previous: Vec<Violation>,
}

impl ViolationLog {
    /// Records the result of the check that ran after event `event`.
    fn record(&mut self, event: u64, now: Vec<Violation>) {
        for v in &now {
            if !self.previous.iter().any(|p| same_finding(p, v)) {
                self.found.push(Violation { event, ..v.clone() });
            }
        }
        self.previous = now;
    }
}

/// Merges the model's reported violations with the checker's, as [`replay`] documents.
fn merge_violations(model: Vec<Violation>, checker: Vec<Violation>) -> Vec<Violation> {
    let mut merged: Vec<Violation> = Vec::with_capacity(model.len() + checker.len());
    for v in model.into_iter().chain(checker) {
        match merged.iter_mut().find(|m| same_finding(m, &v)) {
            Some(m) if v.event < m.event => *m = v,
            Some(_) => {}
            None => merged.push(v),
        }
    }
    merged.sort_by_key(|v| v.event);
    merged
}

/// Two violations describe the same broken state, whatever event they were found after.
fn same_finding(a: &Violation, b: &Violation) -> bool {
    a.invariant == b.invariant && a.message == b.message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(event: u64, invariant: &str, message: &str) -> Violation {
        Violation { event, invariant: invariant.to_string(), message: message.to_string() }
    }

    #[test]
    fn a_violation_is_logged_once_at_the_event_it_appeared() {
        let mut log = ViolationLog::default();
        log.record(0, vec![]);
        log.record(1, vec![v(99, "lru", "a")]);
        log.record(2, vec![v(99, "lru", "a"), v(99, "rss-walk", "b")]);
        log.record(3, vec![]);
        log.record(4, vec![v(99, "lru", "a")]);
        assert_eq!(log.found, vec![v(1, "lru", "a"), v(2, "rss-walk", "b"), v(4, "lru", "a")]);
    }

    #[test]
    fn merge_keeps_the_earliest_and_orders_by_event() {
        let model = vec![v(7, "lru", "a"), v(3, "refcount", "c")];
        let checker = vec![v(1, "refcount", "x"), v(5, "lru", "a"), v(7, "rss-walk", "b")];
        assert_eq!(
            merge_violations(model, checker),
            vec![v(1, "refcount", "x"), v(3, "refcount", "c"), v(5, "lru", "a"), v(7, "rss-walk", "b")]
        );
    }
}
