//! The state a script drives: the model, every event applied to it (what `--emit-trace` writes), and the
//! script-side view of tasks (the CPU each runs on) and of the pids and memcg ids handed out.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mmdb_model::{Event, Model, Op, Outcome, Pid};
use rhai::EvalAltResult;

use crate::error::{ErrorKind, Failure};

/// The first event's timestamp: 1 s, like the hand-written traces.
const FIRST_TS_NS: u64 = 1_000_000_000;
/// Time between two events: 10 µs.
const TS_STEP_NS: u64 = 10_000;
/// The first pid `spawn` hands out.
pub(crate) const FIRST_PID: Pid = 100;
/// The task system-wide operations (`lru_add_drain`, `memcg_create`, `swapon`) are issued by.
pub(crate) const INIT: (Pid, &str) = (1, "init");
/// The task global reclaim runs in.
pub(crate) const KSWAPD: (Pid, &str) = (45, "kswapd0");

/// A task as the script sees it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TaskView {
    /// The CPU its next events run on: it selects the per-CPU folio batches.
    pub cpu: u32,
}

/// Everything a running script works on.
#[derive(Debug)]
pub(crate) struct Host {
    pub model: Model,
    /// Every event applied, in order.
    pub events: Vec<Event>,
    pub tasks: BTreeMap<Pid, TaskView>,
    pub next_pid: Pid,
    pub next_memcg: u32,
    pub max_events: usize,
    pub interrupt: Arc<AtomicBool>,
}

impl Host {
    pub fn new(model: Model, max_events: usize, interrupt: Arc<AtomicBool>) -> Host {
        Host {
            model,
            events: Vec::new(),
            tasks: BTreeMap::new(),
            next_pid: FIRST_PID,
            next_memcg: 1,
            max_events,
            interrupt,
        }
    }

    /// Applies `op` as an event of task `pid` (named as the model knows it, else `comm`) and records it.
    pub fn apply_as(&mut self, pid: Pid, comm: &str, op: Op) -> Result<Outcome, Box<EvalAltResult>> {
        if self.events.len() >= self.max_events {
            let msg = format!("the script performed more than {} model events (a sandbox limit)", self.max_events);
            return Err(Failure { kind: ErrorKind::Limit, message: msg, notes: Vec::new() }.into_error());
        }
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(
                Failure { kind: ErrorKind::Interrupted, message: "interrupted".into(), notes: Vec::new() }.into_error()
            );
        }
        let comm = self.model.task(pid).map_or_else(|| comm.to_string(), |t| t.comm.clone());
        let cpu = self.tasks.get(&pid).map_or(0, |t| t.cpu);
        let ts_ns = FIRST_TS_NS + TS_STEP_NS * (self.events.len() as u64 + 1);
        let ev = Event { comm, pid, cpu, ts_ns, op };
        let out = self.model.apply(&ev);
        self.events.push(ev);
        Ok(out)
    }

    /// Applies `op` as an event of the script's task `pid`.
    pub fn apply(&mut self, pid: Pid, op: Op) -> Result<Outcome, Box<EvalAltResult>> {
        self.apply_as(pid, "?", op)
    }

    /// A pid no task has had.
    pub fn alloc_pid(&mut self) -> Pid {
        let pid = self.next_pid;
        self.next_pid += 1;
        pid
    }
}
