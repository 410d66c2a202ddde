//! Temporary: the public API of the model, filled in by the model modules.
use crate::{Event, Report, Violation};

/// Model configuration: the machine's settings that change semantics.
#[derive(Clone, Debug)]
pub struct Config {
    /// Record per-page history (costs memory on long traces).
    pub history: bool,
}
impl Default for Config {
    fn default() -> Self {
        Config { history: true }
    }
}

/// What one applied event returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The syscall's return value, where the operation is a syscall (`mmap` address, 0, or `-errno`).
    pub ret: Option<i64>,
}

/// The kernel model.
#[derive(Debug, Default)]
pub struct Model {
    events: u64,
}

impl Model {
    /// A fresh machine: no processes, no memory in use.
    pub fn new(_config: Config) -> Model {
        Model::default()
    }
    /// Applies one event.
    pub fn apply(&mut self, _ev: &Event) -> Outcome {
        self.events += 1;
        Outcome::default()
    }
    /// Runs every invariant check and returns what is broken.
    pub fn check(&self) -> Vec<Violation> {
        Vec::new()
    }
    /// The report of the current state.
    pub fn report(&self) -> Report {
        Report {
            events: self.events,
            last_ts_ns: 0,
            processes: vec![],
            pages: Default::default(),
            vmstat: Default::default(),
            memcgs: vec![],
            swap: None,
            violations: vec![],
            diagnostics: vec![],
        }
    }
}
