//! The debugger's state: the program, the cursor and the model at the cursor, time-travel checkpoints, and the
//! breakpoints; navigation forwards and backwards.
//!
//! Time travel has two layers, both bounded in memory:
//!
//! - **Checkpoints**: the model after every `interval`-th step, packed ([`Model::pack`]: a few bytes per folio
//!   and per PTE, about a fifth of what a clone costs on a churning trace, where clones share little). Going to any
//!   position unpacks the checkpoint at or before it ([`PackedModel::unpack`], about as long as replaying a couple
//!   of thousand events) and replays at most `interval - 1` steps. `interval` is [`MIN_INTERVAL`] steps, or more on
//!   long traces so that there are never more than [`MAX_CHECKPOINTS`] checkpoints, and doubles (every other
//!   checkpoint dropped) whenever the checkpoints would take more memory than the budget ([`CHECKPOINT_BUDGET`]
//!   by default, as [`PackedModel::footprint_since`] counts it).
//! - **The ladder**: up to [`LADDER_RUNGS`] plain clones of the model inside the one interval the cursor is in, at
//!   every `interval / LADDER_RUNGS` steps, so that going back a little (`reverse-step`) clones the rung before
//!   the target and replays a sixteenth of an interval at most. A long jump (`goto`) leaves the rung just
//!   before its target on its way; a short step back across a rung that is not there yet leaves every rung
//!   it passes, so walking back with `reverse-step` after `reverse-step` pays for one replay per interval.
//!   The ladder moves when the cursor enters another interval.
//!
//! The checkpoints are taken in one pass over the steps by a [`Checkpointer`]: a session of a real trace gets
//! them from the lowering's own model as it applies the trace's events (nothing is replayed twice), any other
//! program by a replay of its steps ([`Session::new`]).
//!
//! Whatever a position is reached through (the cursor, a rung, a checkpoint), the model there is the one a
//! straight replay gives: packing and clones keep every field, down to the folio table's hash layout.
//!
//! Memory: the checkpoints stay within the budget (plus at most one checkpoint while the interval doubles); on
//! top come the ladder (at most [`LADDER_RUNGS`] clones, which share unchanged folios and PTE tables with each
//! other and with the cursor's model), the model at the cursor and the program's page history (recorded by the
//! same pass that takes the checkpoints: [`Program::history`], read by `history` and `explain` at any position).
//!
//! The session also holds the Rhai engine of `rhai`, `source`, registered commands and breakpoint conditions
//! (made on first use, see `script.rs`); a Rhai condition is compiled when its breakpoint is set and evaluated,
//! with `event` set, at each event its breakpoint fires at.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mmdb_model::{Config, Model, PackedModel, Pid};
use mmdb_script::{ErrorKind, QueryEngine, ScriptError};

use crate::breakpoints::{BreakKind, Breakpoint, Condition};
use crate::program::Program;
use crate::script::Scripting;

/// The fewest steps between two checkpoints: closer ones would save less replay than unpacking one costs.
pub const MIN_INTERVAL: usize = 1024;
/// The most checkpoints a session keeps; long traces get a longer interval instead of more checkpoints (and a
/// longer setup: each checkpoint is packed once).
pub const MAX_CHECKPOINTS: usize = 1024;
/// The memory the checkpoints may take by default: 1 GiB.
pub const CHECKPOINT_BUDGET: usize = 1 << 30;
/// How many clones the ladder keeps inside the cursor's interval.
pub const LADDER_RUNGS: usize = 16;
/// What unpacking a checkpoint costs, in steps replayed: a seek replays from the cursor rather than unpack a
/// checkpoint that is nearer its target by fewer steps than this. Measured with `cargo bench -p mmdb-repl`: a
/// few milliseconds, for a model of fifteen thousand folios.
const UNPACK_STEPS: usize = 2048;
/// What cloning a rung costs, in steps replayed (about an eighth of unpacking).
const CLONE_STEPS: usize = 256;

/// Takes a session's checkpoints as a program's steps are applied, one pass: the model after every `interval`-th
/// step, packed. The interval starts at [`MIN_INTERVAL`] (or more, when the program's length is known, for at
/// most [`MAX_CHECKPOINTS`]) and doubles, every other checkpoint dropped, whenever the checkpoints would take more
/// than the budget or be more than [`MAX_CHECKPOINTS`]: the memory is never over budget by more than one
/// checkpoint.
#[derive(Debug)]
pub struct Checkpointer {
    budget: usize,
    interval: usize,
    /// Each checkpoint's position, what it costs beyond the one before it (they share the free lists' chunks),
    /// and the checkpoint.
    checkpoints: Vec<(usize, usize, PackedModel)>,
    bytes: usize,
}

impl Checkpointer {
    /// A checkpointer whose first checkpoint is `start`, the model before any step; `len` is the number of steps
    /// to come, when known.
    pub fn new(budget: usize, len: Option<usize>, start: &Model) -> Checkpointer {
        Checkpointer::with_interval(budget, MIN_INTERVAL.max(len.map_or(0, |n| n.div_ceil(MAX_CHECKPOINTS))), start)
    }

    /// [`Checkpointer::new`] starting at `interval` steps (at least 1) rather than [`MIN_INTERVAL`]: for tests on
    /// short programs.
    pub fn with_interval(budget: usize, interval: usize, start: &Model) -> Checkpointer {
        let first = start.pack();
        let bytes = first.footprint_since(None);
        Checkpointer { budget, interval: interval.max(1), checkpoints: vec![(0, bytes, first)], bytes }
    }

    /// After step `n` (counted from 1): takes a checkpoint of `model` when `n` is a multiple of the interval.
    pub fn after_step(&mut self, n: usize, model: &Model) {
        if !n.is_multiple_of(self.interval) {
            return;
        }
        let packed = model.pack();
        let size = packed.footprint_since(self.checkpoints.last().map(|c| &c.2));
        self.checkpoints.push((n, size, packed));
        self.bytes += size;
        // (The first checkpoint, at the start, is not counted.)
        while (self.bytes > self.budget || self.checkpoints.len() > MAX_CHECKPOINTS + 1) && self.checkpoints.len() > 1 {
            self.interval *= 2;
            let interval = self.interval;
            self.checkpoints.retain(|c| c.0.is_multiple_of(interval));
            // What each kept checkpoint shares with its new predecessor.
            for j in 1..self.checkpoints.len() {
                let size = self.checkpoints[j].2.footprint_since(Some(&self.checkpoints[j - 1].2));
                self.checkpoints[j].1 = size;
            }
            self.bytes = self.checkpoints.iter().map(|c| c.1).sum();
        }
    }

    /// The interval, the checkpoints (the one at `len`, the end, dropped: nothing seeks from there) and their
    /// memory.
    fn finish(mut self, len: usize) -> (usize, Vec<PackedModel>, usize) {
        if self.checkpoints.len() > 1 && self.checkpoints.last().is_some_and(|c| c.0 >= len) {
            self.checkpoints.pop();
            self.bytes = self.checkpoints.iter().map(|c| c.1).sum();
        }
        (self.interval, self.checkpoints.into_iter().map(|c| c.2).collect(), self.bytes)
    }
}

/// One breakpoint that fired at a position, and what it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The breakpoint's id.
    pub id: u32,
    /// For a watchpoint or a probe, the value before and after the event.
    pub change: Option<(String, String)>,
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// It did what it was asked (so many steps, the next event of a process).
    Done,
    /// Breakpoints fired at the new position.
    Breakpoints(Vec<Hit>),
    /// It reached the end of the program.
    End,
    /// It reached the start of the program.
    Start,
    /// Ctrl-C.
    Interrupted,
    /// The Rhai condition of breakpoint `id` failed at the new position.
    ConditionFailed { id: u32, error: ScriptError },
}

/// How a forward run decides it is done, apart from breakpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunUntil {
    /// After this many steps.
    Steps(usize),
    /// After this many events of this task.
    EventsOf(Pid, usize),
    /// Never: only breakpoints or the end stop it.
    Breakpoint,
}

/// A debugging session over one program.
#[derive(Debug)]
pub struct Session {
    /// How the trace is named in messages.
    name: String,
    program: Program,
    /// How many steps have been applied to `model`.
    cursor: usize,
    model: Model,
    interval: usize,
    /// `checkpoints[k]` is the model after `k * interval` steps, packed.
    checkpoints: Vec<PackedModel>,
    /// What the checkpoints take together, as [`PackedModel::footprint_since`] counts it.
    checkpoint_bytes: usize,
    /// The interval the ladder covers (`k` for steps `k * interval ..`), and its rungs (position, model) in
    /// position order.
    ladder: Option<(usize, Vec<(usize, Model)>)>,
    breakpoints: Vec<Breakpoint>,
    next_id: u32,
    interrupt: Arc<AtomicBool>,
    /// The Rhai engine of `rhai`, `source`, conditions and registered commands, and the file reader.
    scripting: Scripting,
    /// The arguments of the command being executed, as typed (for commands that read an expression).
    line_args: String,
}

impl Session {
    /// Opens a session on `program` at the start. Replays the whole program once to take the checkpoints, within
    /// [`CHECKPOINT_BUDGET`] bytes.
    pub fn new(name: impl Into<String>, program: Program) -> Session {
        Session::with_budget(name, program, CHECKPOINT_BUDGET)
    }

    /// [`Session::new`] with the checkpoints' memory bounded by `budget` bytes (as [`PackedModel::footprint_since`]
    /// counts it): one pass over the program through a [`Checkpointer`].
    pub fn with_budget(name: impl Into<String>, mut program: Program, budget: usize) -> Session {
        // The same pass records every page's history, unless the program came with it.
        let record = program.history.is_empty();
        let mut model = Model::new(Config { history: record, ..program.config.clone() });
        let mut checkpointer = Checkpointer::new(budget, Some(program.len()), &model);
        for (i, step) in program.steps.iter().enumerate() {
            model.apply(&step.event);
            if i + 1 < program.len() {
                checkpointer.after_step(i + 1, &model);
            }
        }
        if record {
            program.history = Arc::clone(model.history_log());
        }
        Session::with_checkpoints(name, program, checkpointer)
    }

    /// A session on `program` whose checkpoints were taken while its events were applied the first time (the
    /// lowering of a real trace, [`mmdb_session::verify::TraceReplayer::on_step`]), so that nothing is replayed
    /// twice. The checkpointer must have seen the program's steps from a model with the program's configuration.
    pub fn with_checkpoints(name: impl Into<String>, program: Program, checkpointer: Checkpointer) -> Session {
        let (interval, checkpoints, checkpoint_bytes) = checkpointer.finish(program.len());
        Session {
            name: name.into(),
            program,
            cursor: 0,
            model: checkpoints[0].unpack(),
            interval,
            checkpoints,
            checkpoint_bytes,
            ladder: None,
            breakpoints: Vec::new(),
            next_id: 1,
            interrupt: Arc::new(AtomicBool::new(false)),
            scripting: Scripting::default(),
            line_args: String::new(),
        }
    }

    /// The trace's name, as messages show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// How many steps have been applied: 0 at the start, `program().len()` at the end.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The model at the cursor.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The checkpoint interval.
    pub fn interval(&self) -> usize {
        self.interval
    }

    /// How many checkpoints are kept.
    pub fn checkpoint_count(&self) -> usize {
        self.checkpoints.len()
    }

    /// About how many bytes the checkpoints take together, as [`PackedModel::footprint_since`] counts it.
    pub fn checkpoint_bytes(&self) -> usize {
        self.checkpoint_bytes
    }

    /// The flag that interrupts a running command when set (the CLI sets it on Ctrl-C); commands clear it.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.interrupt)
    }

    fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::Relaxed)
    }

    /// Clears a pending interrupt (before a command starts).
    pub fn clear_interrupt(&self) {
        self.interrupt.store(false, Ordering::Relaxed);
    }

    /// Applies the next step to the cursor model.
    fn apply_next(&mut self) {
        if let Some(step) = self.program.steps.get(self.cursor) {
            self.model.apply(&step.event);
            self.cursor += 1;
        }
    }

    /// The interval `pos` is in: the index of the checkpoint at or before it.
    fn segment(&self, pos: usize) -> usize {
        (pos / self.interval).min(self.checkpoints.len() - 1)
    }

    /// Where to start building the model after `pos` steps (at most the program's length): the cursor, a rung
    /// of the ladder, or the checkpoint, whichever costs the fewest steps counting what restoring it costs.
    fn base_for(&self, pos: usize) -> Base {
        let k = self.segment(pos);
        let mut best = (UNPACK_STEPS + (pos - k * self.interval), Base::Checkpoint(k));
        if let Some((seg, rungs)) = &self.ladder {
            if *seg == k {
                if let Some(i) = rungs.iter().rposition(|(p, _)| *p <= pos) {
                    best = best.min((CLONE_STEPS + (pos - rungs[i].0), Base::Rung(i)));
                }
            }
        }
        if self.cursor <= pos {
            best = best.min((pos - self.cursor, Base::Cursor));
        }
        best.1
    }

    /// The model after `pos` steps, built from the nearest checkpoint, rung or the cursor, without moving the
    /// cursor.
    pub fn model_at(&self, pos: usize) -> Model {
        let pos = pos.min(self.program.len());
        let (from, mut m) = match self.base_for(pos) {
            Base::Cursor => (self.cursor, self.model.clone()),
            Base::Rung(i) => {
                let (p, m) = &self.ladder.as_ref().expect("a rung without a ladder").1[i];
                (*p, m.clone())
            }
            Base::Checkpoint(k) => (k * self.interval, self.checkpoints[k].unpack()),
        };
        for step in &self.program.steps[from..pos] {
            m.apply(&step.event);
        }
        m
    }

    /// Moves the cursor to `pos` (clamped to the program), the cheapest way, leaving rungs of the ladder on the
    /// way (see the module documentation).
    pub fn seek(&mut self, pos: usize) {
        let pos = pos.min(self.program.len());
        // A short step back leaves every rung it passes, for the steps back that follow; any other seek only the
        // last rung before its target, for the first step back (a clone costs as much as replaying a few hundred
        // steps).
        let every_rung = pos < self.cursor && self.cursor - pos <= self.interval;
        let k = self.segment(pos);
        let start = k * self.interval;
        if self.ladder.as_ref().is_none_or(|(seg, _)| *seg != k) {
            self.ladder = Some((k, Vec::new()));
        }
        match self.base_for(pos) {
            Base::Cursor => {}
            Base::Rung(i) => {
                let (p, m) = &self.ladder.as_ref().expect("a rung without a ladder").1[i];
                self.cursor = *p;
                self.model = m.clone();
            }
            Base::Checkpoint(k) => {
                self.cursor = start;
                self.model = self.checkpoints[k].unpack();
            }
        }
        let every = (self.interval / LADDER_RUNGS).max(1);
        // The last rung position before `pos`.
        let last = pos.checked_sub(start + 1).map(|d| start + d / every * every);
        while self.cursor < pos {
            self.apply_next();
            let at = self.cursor;
            if at > start && at < pos && (at - start).is_multiple_of(every) && (every_rung || Some(at) == last) {
                if let Some((_, rungs)) = self.ladder.as_mut() {
                    let i = rungs.partition_point(|(p, _)| *p < at);
                    if rungs.get(i).is_none_or(|(p, _)| *p != at) {
                        rungs.insert(i, (at, self.model.clone()));
                    }
                }
            }
        }
    }

    /// Runs forwards until `until` is met, a breakpoint fires, the end, or an interrupt.
    pub fn run_forward(&mut self, until: RunUntil) -> Stop {
        let active = self.active_breakpoints();
        let mut probes: Vec<Option<String>> = active
            .iter()
            .map(|&i| {
                let k = &self.breakpoints[i].kind;
                k.has_probe().then(|| k.probe(&self.model))
            })
            .collect();
        let mut done = 0usize;
        loop {
            if self.cursor >= self.program.len() {
                return Stop::End;
            }
            if self.interrupted() {
                return Stop::Interrupted;
            }
            self.apply_next();
            let engine = self.scripting.engine();
            match evaluate(&self.program, &self.breakpoints, engine, &active, &mut probes, &mut self.model, self.cursor)
            {
                Ok(hits) if hits.is_empty() => {}
                Ok(hits) => {
                    self.count_hits(&hits);
                    return Stop::Breakpoints(hits);
                }
                Err(stop) => return stop,
            }
            let ev = &self.program.steps[self.cursor - 1].event;
            match until {
                RunUntil::Steps(_) => done += 1,
                RunUntil::EventsOf(pid, _) if ev.pid == pid => done += 1,
                _ => {}
            }
            let target = match until {
                RunUntil::Steps(n) | RunUntil::EventsOf(_, n) => n,
                RunUntil::Breakpoint => usize::MAX,
            };
            if done >= target {
                return Stop::Done;
            }
        }
    }

    /// Runs backwards to the last position before the cursor where a breakpoint fires, or to the start.
    pub fn run_backward(&mut self) -> Stop {
        let active = self.active_breakpoints();
        if active.is_empty() || self.cursor == 0 {
            self.seek(0);
            return Stop::Start;
        }
        let from = self.cursor;
        let mut k = ((from - 1) / self.interval).min(self.checkpoints.len() - 1);
        loop {
            // Positions k*interval+1 ..= min((k+1)*interval, from-1), replayed from checkpoint k.
            let start = k * self.interval;
            let end = ((k + 1) * self.interval).min(from - 1);
            let mut model = self.checkpoints[k].unpack();
            let mut probes: Vec<Option<String>> = active
                .iter()
                .map(|&i| {
                    let kind = &self.breakpoints[i].kind;
                    kind.has_probe().then(|| kind.probe(&model))
                })
                .collect();
            // The last stop of the segment: breakpoints that fired, or a condition that failed.
            let mut last: Option<(usize, Result<Vec<Hit>, Stop>)> = None;
            for pos in start + 1..=end {
                if self.interrupted() {
                    return Stop::Interrupted;
                }
                model.apply(&self.program.steps[pos - 1].event);
                let engine = self.scripting.engine();
                match evaluate(&self.program, &self.breakpoints, engine, &active, &mut probes, &mut model, pos) {
                    Ok(hits) if hits.is_empty() => {}
                    Err(Stop::Interrupted) => return Stop::Interrupted,
                    found => last = Some((pos, found)),
                }
            }
            if let Some((pos, found)) = last {
                self.seek(pos);
                return match found {
                    Ok(hits) => {
                        self.count_hits(&hits);
                        Stop::Breakpoints(hits)
                    }
                    Err(stop) => stop,
                };
            }
            if k == 0 {
                self.seek(0);
                return Stop::Start;
            }
            k -= 1;
        }
    }

    /// The enabled breakpoints (their indices); creates the script engine first when one has a Rhai condition.
    fn active_breakpoints(&mut self) -> Vec<usize> {
        if self.breakpoints.iter().any(|b| b.enabled && matches!(b.condition, Some(Condition::Rhai(_)))) {
            self.script_engine();
        }
        (0..self.breakpoints.len()).filter(|&i| self.breakpoints[i].enabled).collect()
    }

    fn count_hits(&mut self, hits: &[Hit]) {
        for h in hits {
            if let Some(bp) = self.breakpoints.iter_mut().find(|b| b.id == h.id) {
                bp.hits += 1;
            }
        }
    }

    /// The breakpoints, in the order they were made.
    pub fn breakpoints(&self) -> &[Breakpoint] {
        &self.breakpoints
    }

    /// Adds a breakpoint; returns it.
    pub fn add_breakpoint(&mut self, kind: BreakKind, condition: Option<Condition>) -> &Breakpoint {
        let id = self.next_id;
        self.next_id += 1;
        self.breakpoints.push(Breakpoint { id, kind, condition, enabled: true, hits: 0 });
        &self.breakpoints[self.breakpoints.len() - 1]
    }

    /// Deletes breakpoint `id`; returns whether it existed.
    pub fn delete_breakpoint(&mut self, id: u32) -> bool {
        let before = self.breakpoints.len();
        self.breakpoints.retain(|b| b.id != id);
        self.breakpoints.len() != before
    }

    /// Enables or disables breakpoint `id`; returns whether it exists.
    pub fn enable_breakpoint(&mut self, id: u32, enabled: bool) -> bool {
        match self.breakpoints.iter_mut().find(|b| b.id == id) {
            Some(b) => {
                b.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// The model at the cursor, reading the program's per-page history ([`Program::history`]) up to the cursor.
    pub fn history_model(&mut self) -> &Model {
        self.attach_history();
        &self.model
    }

    /// Gives the model at the cursor the program's history log to read (it records none itself).
    fn attach_history(&mut self) {
        if !Arc::ptr_eq(self.model.history_log(), &self.program.history) {
            self.model.set_history_log(Arc::clone(&self.program.history));
        }
    }

    /// The model at the cursor, for a script, with `event` set to the event at the cursor; reading the program's
    /// per-page history when `history` (a query that calls `history()`).
    pub(crate) fn script_model(&mut self, history: bool) -> (&QueryEngine, &mut Model) {
        if history {
            self.attach_history();
        }
        let cursor = self.cursor;
        let event = cursor.checked_sub(1).and_then(|i| self.program.steps.get(i)).map(|st| &st.event);
        let engine = self.scripting.engine_or_new(&self.interrupt);
        crate::script::set_event(engine, event, cursor);
        (engine, &mut self.model)
    }

    /// The Rhai engine, made on first use.
    pub(crate) fn script_engine(&mut self) -> &QueryEngine {
        self.scripting.engine_or_new(&self.interrupt)
    }

    /// The scripting state (engine, limits, file reader).
    pub(crate) fn scripting(&self) -> &Scripting {
        &self.scripting
    }

    /// Lets `source FILE` read files: `reader` gets the path as typed and returns the file's text, or a message
    /// saying why it cannot. The engine reads no files itself; without a reader, `source` says it is not available.
    pub fn set_file_reader(&mut self, reader: crate::FileReader) {
        self.scripting.set_reader(reader);
    }

    /// Sets the sandbox limits of Rhai in this session (expressions, sourced files, conditions, registered
    /// commands). Set them before the first script runs: a change starts a fresh engine, which forgets the
    /// functions, variables and commands scripts defined.
    pub fn set_script_limits(&mut self, limits: mmdb_script::Limits) {
        self.scripting.set_limits(limits);
    }

    /// The arguments of the command being executed, as typed.
    pub(crate) fn line_args(&self) -> &str {
        &self.line_args
    }

    /// Records the arguments of the command about to run, as typed.
    pub(crate) fn set_line_args(&mut self, args: &str) {
        self.line_args.clear();
        self.line_args.push_str(args);
    }
}

/// Where [`Session::seek`] and [`Session::model_at`] start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Base {
    /// The model at the cursor.
    Cursor,
    /// A rung of the ladder (its index).
    Rung(usize),
    /// A checkpoint (its index).
    Checkpoint(usize),
}

/// The breakpoints among `active` that fire at `pos` (event `pos` just applied to `model`), updating probes; or
/// why the run must stop instead (a condition that failed, an interrupt while evaluating one).
fn evaluate(
    program: &Program,
    breakpoints: &[Breakpoint],
    engine: Option<&QueryEngine>,
    active: &[usize],
    probes: &mut [Option<String>],
    model: &mut Model,
    pos: usize,
) -> Result<Vec<Hit>, Stop> {
    let ev = &program.steps[pos - 1].event;
    let mut hits = Vec::new();
    for (slot, &i) in active.iter().enumerate() {
        let bp = &breakpoints[i];
        let mut change = None;
        let mut fired = bp.kind.event_fires(ev);
        if let Some(old) = probes[slot].as_mut() {
            let new = bp.kind.probe(model);
            if new != *old {
                let appeared = !(bp.kind == BreakKind::Violation && new.is_empty());
                fired |= appeared;
                if appeared {
                    change = Some((std::mem::take(old), new.clone()));
                }
                *old = new;
            }
        }
        if bp.kind == BreakKind::Divergence {
            fired |= program.divergences.iter().any(|d| d.position == pos);
        }
        if !fired {
            continue;
        }
        let holds = match &bp.condition {
            None => true,
            Some(Condition::Field(c)) => c.holds(&bp.kind, ev, model),
            Some(Condition::Rhai(c)) => match c.holds(engine, ev, pos, model) {
                Ok(holds) => holds,
                Err(e) if e.kind == ErrorKind::Interrupted => return Err(Stop::Interrupted),
                Err(error) => return Err(Stop::ConditionFailed { id: bp.id, error }),
            },
        };
        if holds {
            hits.push(Hit { id: bp.id, change });
        }
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{SourceKind, Step};

    /// Everything a model holds, as text, but the order of its tail-page table (a hash table that is only ever
    /// looked up, which unpacking rebuilds).
    fn state(m: &Model) -> String {
        let text = format!("{m:?}");
        let (a, rest) = text.split_once("tails: {").expect("Model's Debug shows its tails");
        let (_, b) = rest.split_once("}, ").expect("the tails end");
        format!("{a}{b}")
    }

    /// Walks back step by step across rungs and checkpoints, jumps far both ways and asks for models elsewhere:
    /// every model the session builds is the one a straight replay builds, hash layouts and all.
    #[test]
    fn every_way_to_a_position_gives_the_straight_replays_model() {
        let steps: Vec<Step> = mmdb_session::synth::churn(3, 3_000)
            .into_iter()
            .enumerate()
            .map(|(i, event)| Step { line: i as u32 + 1, event })
            .collect();
        let program = Program { kind: SourceKind::Events, steps, ..Program::empty() };
        let straight = |pos: usize| {
            let mut m = Model::new(program.config.clone());
            for step in &program.steps[..pos] {
                m.apply(&step.event);
            }
            state(&m)
        };
        let mut s = Session::new("churn", program.clone());
        assert_eq!(s.interval(), MIN_INTERVAL);
        let i = s.interval();
        let mut seen = 0;
        for pos in [2_500, 2 * i + 1, 2 * i, 2 * i - 1, 2 * i - 2, 2 * i - 70, 2 * i - 71, 900, 3_000, 1, i + 5, 2_100]
        {
            s.seek(pos);
            assert_eq!(s.cursor(), pos);
            assert_eq!(state(s.model()), straight(pos), "seek to {pos}");
            let elsewhere = (pos * 7 + 333) % 3_000;
            assert_eq!(state(&s.model_at(elsewhere)), straight(elsewhere), "model at {elsewhere} from {pos}");
            seen += s.ladder.as_ref().map_or(0, |(_, r)| r.len());
        }
        assert!(seen > 0, "no rung was used");
    }

    /// `mmdb repl` takes a real trace's checkpoints while the lowering applies its events, on the lowering's own model:
    /// each is the model a straight replay of the program reaches, with a roomy budget and with one so small that the
    /// interval doubles. (A recording holds a few hundred model events: the interval starts at 16, not 1024.)
    #[test]
    fn checkpoints_taken_while_lowering_are_the_straight_replays_models() {
        use std::cell::RefCell;
        use std::rc::Rc;
        let rel = "traces/real/madv-free.ftrace";
        let bytes = include_bytes!("../../../traces/real/madv-free.ftrace");
        for budget in [usize::MAX, 1] {
            let trace = mmdb_trace::parse_ftrace(bytes);
            let mut replayer = mmdb_session::verify::TraceReplayer::new(mmdb_model::Profile::default(), None, true);
            let taken: Rc<RefCell<Option<Checkpointer>>> = Rc::default();
            let shared = Rc::clone(&taken);
            replayer.on_step(move |n, model| {
                let mut c = shared.borrow_mut();
                match c.as_mut() {
                    Some(c) => c.after_step(n, model),
                    None => *c = Some(Checkpointer::with_interval(budget, 16, model)),
                }
            });
            replayer.feed(trace);
            let (replay, log) = replayer.finish();
            let markers = log.markers.clone();
            let program = Program::from_replay(replay, log, &markers, mmdb_model::Profile::default());
            let checkpointer = Rc::try_unwrap(taken).expect("the replayer let go of the hook").into_inner();
            let s = Session::with_checkpoints(rel, program.clone(), checkpointer.expect("a checkpoint at the start"));
            let n = program.len();
            if budget == 1 {
                assert!(s.interval() > 16 && s.checkpoint_count() == 1, "the interval doubled down to one checkpoint");
            } else {
                assert!(n > 4 * s.interval(), "{n} events, interval {}", s.interval());
                assert_eq!(s.checkpoint_count(), n.div_ceil(s.interval()));
            }
            let mut straight = Model::new(program.config.clone());
            for (i, step) in program.steps.iter().enumerate() {
                if i % s.interval() == 0 {
                    assert_eq!(state(&s.model_at(i)), state(&straight), "checkpoint at {i}, budget {budget}");
                }
                straight.apply(&step.event);
            }
        }
    }
}
