//! The program a session navigates: the trace lowered to model events, one [`Step`] each, with what the trace
//! says beside them (divergences, ground-truth checkpoints).
//!
//! An mm event trace is its own program. A real ftrace or perf trace is lowered once, by
//! `mmdb_session::verify::replay_trace_logged`, whose event log is the program: applying it in order to a fresh
//! model with [`Program::config`] rebuilds the lowering's model exactly.

use std::sync::Arc;

use mmdb_model::{Config, Event, PageLog, Profile};
use mmdb_session::lower::{Divergence, RssSample};
use mmdb_session::verify::{replay_trace_for_session, RealReplay, ReplayLog};
use mmdb_trace::truth::{collect_checkpoints, trace_markers, Page, Rollup, TimedMarker};
use mmdb_trace::{parse_events_bytes, ErrorTally, Located, ParseError, ParsedTrace};

/// One model event and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The 1-based source line of the trace.
    pub line: u32,
    pub event: Event,
}

/// The kind of trace a program was made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// No trace: an empty program (`mmdb repl` without a file).
    Empty,
    /// The mm event format.
    Events,
    /// A real kernel trace (ftrace or perf text), lowered to model events.
    Real,
}

/// A ground-truth checkpoint of a real recording, placed in the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruthCheckpoint {
    /// The checkpoint's id (1, 2, ...).
    pub id: u32,
    /// When `mmdb-checkpoint begin` was written.
    pub ts_ns: u64,
    /// The line of the marker (in the trace, or in the perf side file).
    pub line: u32,
    /// The program position the checkpoint describes: the number of steps applied before it.
    pub position: usize,
    /// What `/proc` said about each traced process's pages (`mmdb-page` lines).
    pub pages: Vec<Located<Page>>,
    /// Each traced process's smaps_rollup and RSS counters (`mmdb-rollup` lines).
    pub rollups: Vec<Located<Rollup>>,
    /// pfn → its mappings by processes outside the trace (`mmdb-outside` lines).
    pub outside: std::collections::BTreeMap<u64, u64>,
}

/// A divergence of a real trace, placed in the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedDivergence {
    /// The position after which it shows: the number of steps whose line is at or before the divergence's.
    pub position: usize,
    pub divergence: Divergence,
}

/// Everything a session knows about its trace.
#[derive(Clone, Debug)]
pub struct Program {
    pub kind: SourceKind,
    pub steps: Vec<Step>,
    /// The model configuration the steps replay with.
    pub config: Config,
    /// Lines that did not parse (the session skips them, as `mmdb replay` does): of a real trace, the first
    /// [`mmdb_trace::diag::MAX_KEPT_ERRORS`].
    pub parse_errors: Vec<ParseError>,
    /// Every parse error, counted by kind.
    pub error_tally: ErrorTally,
    /// The divergences the lowering kept (the first ones), in trace order.
    pub divergences: Vec<PlacedDivergence>,
    /// How many divergences the lowering found in all, kept or not.
    pub divergence_count: u64,
    /// The ground-truth checkpoints, in order.
    pub checkpoints: Vec<TruthCheckpoint>,
    /// The kernel's `rss_stat`s of the traced mms, placed by position, in order (real traces only).
    pub rss_samples: Vec<RssSample>,
    /// Every page's history over the whole program, recorded as it was first replayed (by the lowering of a real
    /// trace, or by [`crate::Session::new`]); empty until then.
    pub history: Arc<PageLog>,
}

impl Program {
    /// An empty program: no steps, a fresh model.
    pub fn empty() -> Program {
        Program {
            kind: SourceKind::Empty,
            steps: Vec::new(),
            config: Config { history: false, ..Config::default() },
            parse_errors: Vec::new(),
            error_tally: ErrorTally::default(),
            divergences: Vec::new(),
            divergence_count: 0,
            checkpoints: Vec::new(),
            rss_samples: Vec::new(),
            history: Arc::default(),
        }
    }

    /// The program of an mm event trace.
    pub fn from_events(source: &[u8]) -> Program {
        let parsed = parse_events_bytes(source);
        let steps = parsed.events.into_iter().map(|l| Step { line: l.line, event: l.value }).collect();
        let error_tally = ErrorTally::of(&parsed.errors);
        Program { kind: SourceKind::Events, steps, parse_errors: parsed.errors, error_tally, ..Program::empty() }
    }

    /// The program of a real ftrace or perf trace; `side` holds the markers of a perf side file.
    pub fn from_real(trace: &ParsedTrace, side: Option<&[TimedMarker]>) -> Program {
        Program::from_real_profile(trace, side, Profile::default())
    }

    /// [`Program::from_real`] lowered and replayed under a kernel profile.
    pub fn from_real_profile(trace: &ParsedTrace, side: Option<&[TimedMarker]>, profile: Profile) -> Program {
        let (replay, log) = replay_trace_for_session(trace, side, profile);
        let markers = match side {
            Some(markers) => markers.to_vec(),
            None => trace_markers(trace).0,
        };
        Program::from_replay(replay, log, &markers, profile)
    }

    /// The program of a real trace already replayed with its log kept (by a streaming
    /// [`mmdb_session::verify::TraceReplayer`]); `markers` are its ground-truth markers (the trace's own, or a perf
    /// side file's: [`mmdb_session::verify::ReplayLog::markers`] holds the former).
    pub fn from_replay(replay: RealReplay, log: ReplayLog, markers: &[TimedMarker], profile: Profile) -> Program {
        let steps: Vec<Step> = log.events.into_iter().map(|(line, event)| Step { line, event }).collect();
        // A fault is applied when its allocations are complete, so lines are nearly, not strictly, in order: a
        // line's position is that of the first step after it.
        let after_line = FirstAbove::new(steps.iter().map(|s| u64::from(s.line)));
        let divergences = replay
            .divergences
            .iter()
            .map(|d| PlacedDivergence { position: after_line.position(u64::from(d.line)), divergence: d.clone() })
            .collect();
        let after_time = FirstAbove::new(steps.iter().map(|s| s.event.ts_ns));
        let truth = collect_checkpoints(markers);
        // Checkpoints are placed by time: a perf side file's lines are not the trace's.
        let checkpoints = truth
            .checkpoints
            .iter()
            .map(|c| TruthCheckpoint {
                id: c.id,
                ts_ns: c.ts_ns,
                line: c.line,
                position: after_time.position(c.ts_ns),
                pages: c.pages.clone(),
                rollups: c.rollups.clone(),
                outside: c.outside.clone(),
            })
            .collect();
        Program {
            kind: SourceKind::Real,
            steps,
            config: Config { history: false, trace_pfns: true, profile, ..Config::default() },
            parse_errors: replay.parse_errors,
            error_tally: replay.error_tally,
            divergences,
            divergence_count: replay.verify.divergences,
            checkpoints,
            rss_samples: log.rss,
            history: log.history,
        }
    }

    /// How many steps the program has.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the program has no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The first position whose key is above a value, for keys that are nearly but not strictly in order (step lines,
/// timestamps): a binary search of the keys' running maximum, which passes a value exactly where the first key above
/// it is. So placing every divergence or checkpoint costs a search each, not a pass over the steps.
struct FirstAbove {
    running_max: Vec<u64>,
}

impl FirstAbove {
    fn new(keys: impl Iterator<Item = u64>) -> FirstAbove {
        let mut max = 0;
        FirstAbove {
            running_max: keys
                .map(|k| {
                    max = max.max(k);
                    max
                })
                .collect(),
        }
    }

    /// The first position whose key is above `value`, or the number of keys when there is none.
    fn position(&self, value: u64) -> usize {
        self.running_max.partition_point(|&m| m <= value)
    }
}

#[cfg(test)]
mod tests {
    use super::FirstAbove;

    #[test]
    fn first_above_is_the_linear_search() {
        let keys = [3u64, 1, 5, 2, 7, 7, 4, 9];
        let f = FirstAbove::new(keys.iter().copied());
        for value in 0..11 {
            let linear = keys.iter().position(|&k| k > value).unwrap_or(keys.len());
            assert_eq!(f.position(value), linear, "value {value}");
        }
        assert_eq!(FirstAbove::new(std::iter::empty()).position(5), 0);
    }
}
