//! Running a scenario script on a fresh model, and read-only queries against a given model.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mmdb_model::{Event, Model};
use rhai::{Dynamic, Engine, AST};

use crate::api::{self, ApiDoc, Mode};
use crate::error::{ErrorKind, ScriptError};
use crate::host::Host;
use crate::sandbox::{self, Limits, Output};

/// How to run a script.
#[derive(Clone, Debug, Default)]
pub struct ScriptConfig {
    /// The sandbox's limits.
    pub limits: Limits,
    /// The model's configuration (the kernel profile). Replaying the emitted trace uses the default one, so a
    /// run with another configuration does not round-trip.
    pub model: mmdb_model::Config,
}

/// What a script did.
#[derive(Debug)]
pub struct ScriptRun {
    /// What it printed (`print` and `debug`), one line each.
    pub output: String,
    /// Every event it applied to the model, in order: the trace `--emit-trace` writes.
    pub events: Vec<Event>,
    /// The model after the last event.
    pub model: Model,
    /// Why it stopped early: a syntax error, a runtime error, a failed assertion, a limit, an interrupt.
    pub error: Option<ScriptError>,
}

impl ScriptRun {
    /// The run as a trace in the mm event format: the header, a comment naming the script, one line per event.
    pub fn trace(&self, name: &str) -> String {
        let text = mmdb_trace::write_events(&self.events);
        let (header, events) = text.split_once('\n').unwrap_or((&text, ""));
        let name: String = name.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
        format!("{header}\n# emitted by `mmdb run {name}`\n{events}")
    }

    /// The line of [`ScriptRun::trace`] that holds event `index` (0-based).
    pub fn trace_line(index: usize) -> u32 {
        u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(3))
    }
}

/// Runs `source` (named `name` in errors) on a fresh model. Ctrl-C handlers set `interrupt` to stop it.
pub fn run_script(name: &str, source: &str, config: &ScriptConfig, interrupt: Arc<AtomicBool>) -> ScriptRun {
    let model = Model::new(config.model.clone());
    let host = Rc::new(RefCell::new(Host::new(model, config.limits.max_events, Arc::clone(&interrupt))));
    let output = Rc::new(RefCell::new(Output::default()));
    let mut engine = sandbox::engine(&config.limits, Rc::clone(&output), interrupt);
    api::register(&mut engine, &host, Mode::Scenario);
    let error = match engine.compile(source) {
        Err(e) => Some(ScriptError::from_parse(&e, source)),
        Ok(mut ast) => {
            ast.set_source(name);
            engine.run_ast(&ast).err().map(|e| ScriptError::from_eval(&e, source))
        }
    };
    let output = std::mem::take(&mut output.borrow_mut().text);
    let mut host = host.borrow_mut();
    ScriptRun { output, events: std::mem::take(&mut host.events), model: std::mem::take(&mut host.model), error }
}

/// The result of a query: its value and what it printed.
#[derive(Debug)]
pub struct Evaluated {
    pub value: Dynamic,
    pub output: String,
}

impl Evaluated {
    /// The value as the debugger shows it: strings bare, `()` as nothing, anything else as Rhai prints it.
    pub fn value_text(&self) -> String {
        if self.value.is_unit() {
            String::new()
        } else if let Ok(s) = self.value.clone().into_immutable_string() {
            s.to_string()
        } else {
            self.value.to_string()
        }
    }
}

/// A compiled query: an expression or a small script over the read-only API.
#[derive(Clone, Debug)]
pub struct CompiledQuery {
    ast: AST,
    source: String,
}

/// An engine for read-only queries (`page`, `rmap`, `history`, `smaps`, `rss`, `vmstat`, `ps`, `assert`...),
/// built once and used against any model: the debugger's `rhai EXPR` and breakpoint conditions.
#[derive(Debug)]
pub struct QueryEngine {
    engine: Engine,
    host: Rc<RefCell<Host>>,
    output: Rc<RefCell<Output>>,
}

impl QueryEngine {
    /// An engine with the sandbox's `limits`; setting `interrupt` stops a running query.
    pub fn new(limits: &Limits, interrupt: Arc<AtomicBool>) -> QueryEngine {
        let host = Rc::new(RefCell::new(Host::new(Model::default(), 0, Arc::clone(&interrupt))));
        let output = Rc::new(RefCell::new(Output::default()));
        let mut engine = sandbox::engine(limits, Rc::clone(&output), interrupt);
        api::register(&mut engine, &host, Mode::Query);
        QueryEngine { engine, host, output }
    }

    /// Compiles `source`; errors are located in it.
    pub fn compile(&self, source: &str) -> Result<CompiledQuery, ScriptError> {
        match self.engine.compile(source) {
            Ok(ast) => Ok(CompiledQuery { ast, source: source.to_string() }),
            Err(e) => Err(ScriptError::from_parse(&e, source)),
        }
    }

    /// Evaluates `query` against `model`. The model is lent to the engine for the evaluation and comes back
    /// unchanged: the query API has no function that changes it.
    pub fn eval(&self, model: &mut Model, query: &CompiledQuery) -> Result<Evaluated, ScriptError> {
        std::mem::swap(model, &mut self.host.borrow_mut().model);
        let result = self.engine.eval_ast::<Dynamic>(&query.ast);
        std::mem::swap(model, &mut self.host.borrow_mut().model);
        let output = std::mem::take(&mut self.output.borrow_mut().text);
        self.output.borrow_mut().truncated = false;
        match result {
            Ok(value) => Ok(Evaluated { value, output }),
            Err(e) => Err(ScriptError::from_eval(&e, &query.source)),
        }
    }

    /// Evaluates `query` as a condition: it must give a boolean.
    pub fn eval_bool(&self, model: &mut Model, query: &CompiledQuery) -> Result<bool, ScriptError> {
        let v = self.eval(model, query)?;
        v.value.as_bool().map_err(|ty| {
            let msg = format!("a condition must give a boolean, this gives {ty} ({})", v.value_text());
            ScriptError::unplaced(ErrorKind::Runtime, msg)
        })
    }
}

/// Compiles and evaluates one query against `model` with the default limits (see [`QueryEngine`] to reuse an
/// engine and compiled queries).
pub fn eval_query(model: &mut Model, source: &str) -> Result<Evaluated, ScriptError> {
    let q = QueryEngine::new(&Limits::default(), Arc::new(AtomicBool::new(false)));
    let compiled = q.compile(source)?;
    q.eval(model, &compiled)
}

/// Every function and property of the script API, in reference order.
pub fn api_reference() -> Vec<ApiDoc> {
    let host = Rc::new(RefCell::new(Host::new(Model::default(), 0, Arc::new(AtomicBool::new(false)))));
    let mut engine = Engine::new_raw();
    api::register(&mut engine, &host, Mode::Scenario)
}

/// The book's API reference page (`book/src/script-api.md`).
pub fn reference_markdown() -> String {
    api::reference_markdown(&api_reference())
}
