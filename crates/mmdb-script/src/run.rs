//! Running a scenario script on a fresh model, and read-only queries against a given model.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mmdb_model::{Event, Model};
use rhai::{ASTNode, Array, Dynamic, Engine, EvalAltResult, Expr, FnPtr, NativeCallContext, Scope, Stmt, AST};

use crate::api::{self, ApiDoc, Mode};
use crate::error::{ErrorKind, Failure, ScriptError};
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
    /// The query with the engine's library (what earlier [`QueryEngine::run`]s defined) merged in.
    ast: AST,
    /// The functions the query itself defines, to keep in the library after [`QueryEngine::run`].
    own: AST,
    name: String,
    source: String,
}

impl CompiledQuery {
    /// The functions the query defines (`name(params)`), closures left out, sorted.
    pub fn functions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .own
            .iter_functions()
            .filter(|f| !f.name.starts_with(ANONYMOUS))
            .map(|f| format!("{}({})", f.name, f.params.join(", ")))
            .collect();
        v.sort();
        v
    }

    /// Whether the query, or a function it can call from the library, calls the function `name` directly (a
    /// call through a function pointer is not seen).
    pub fn calls(&self, name: &str) -> bool {
        !self.ast.walk(&mut |path: &[ASTNode]| match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(f, _) | Expr::MethodCall(f, _)) | ASTNode::Stmt(Stmt::FnCall(f, _))) => {
                f.name != name
            }
            _ => true,
        })
    }
}

/// The name Rhai gives the function behind a closure starts with this.
const ANONYMOUS: &str = "anon$";

/// A REPL command a script registered with `register_command(name, help, function)`.
#[derive(Clone, Debug)]
pub struct UserCommand {
    pub name: String,
    /// The help text: its first sentence is the summary `help` lists.
    pub help: String,
    /// The name of the script that registered it.
    pub file: String,
    func: FnPtr,
}

/// The commands scripts registered, and the names they may not take.
#[derive(Debug, Default)]
struct CommandTable {
    commands: Vec<UserCommand>,
    reserved: Vec<String>,
}

/// What [`QueryEngine::run`] keeps from one query to the next.
#[derive(Debug, Default)]
struct Session {
    /// The functions defined so far, merged into every query compiled afterwards.
    library: AST,
    /// The top-level variables and constants defined so far, and those set with [`QueryEngine::set_var`].
    scope: Scope<'static>,
    /// The source (name and text) of each library function, by function name, to place errors inside it.
    defined_in: BTreeMap<String, Rc<(String, String)>>,
}

/// An engine for read-only queries (`page`, `rmap`, `history`, `smaps`, `rss`, `vmstat`, `ps`, `assert`...),
/// built once and used against any model: the debugger's `rhai EXPR`, `source FILE` and breakpoint conditions.
///
/// The engine is a session: [`QueryEngine::run`] keeps what a query defines (functions, top-level variables
/// and constants, commands registered with `register_command(name, help, |args| ...)`) for the queries compiled
/// after it, while [`QueryEngine::eval`] leaves nothing behind. Variables must be defined before they are used
/// (Rhai's strict variables mode), so a misspelt name is an error when the query is compiled.
#[derive(Debug)]
pub struct QueryEngine {
    engine: Engine,
    host: Rc<RefCell<Host>>,
    output: Rc<RefCell<Output>>,
    session: RefCell<Session>,
    commands: Rc<RefCell<CommandTable>>,
}

impl QueryEngine {
    /// An engine with the sandbox's `limits`; setting `interrupt` stops a running query.
    pub fn new(limits: &Limits, interrupt: Arc<AtomicBool>) -> QueryEngine {
        let host = Rc::new(RefCell::new(Host::new(Model::default(), 0, Arc::clone(&interrupt))));
        let output = Rc::new(RefCell::new(Output::default()));
        let mut engine = sandbox::engine(limits, Rc::clone(&output), interrupt);
        engine.set_strict_variables(true);
        api::register(&mut engine, &host, Mode::Query);
        let commands = Rc::new(RefCell::new(CommandTable::default()));
        let table = Rc::clone(&commands);
        engine.register_fn(
            "register_command",
            move |ctx: NativeCallContext, name: &str, help: &str, func: FnPtr| -> Result<(), Box<EvalAltResult>> {
                register_command(&mut table.borrow_mut(), ctx.call_source().unwrap_or(""), name, help, func)
            },
        );
        QueryEngine { engine, host, output, session: RefCell::new(Session::default()), commands }
    }

    /// Compiles `source`; errors are located in it.
    pub fn compile(&self, source: &str) -> Result<CompiledQuery, ScriptError> {
        self.compile_named("", source)
    }

    /// Compiles `source`, named `name` (a file name, say): commands it registers and errors inside the
    /// functions it defines name it. Variables must be defined: the constants, those earlier [`QueryEngine::run`]s
    /// kept, those set with [`QueryEngine::set_var`], or by the query itself.
    pub fn compile_named(&self, name: &str, source: &str) -> Result<CompiledQuery, ScriptError> {
        let session = self.session.borrow();
        let mut known = Scope::new();
        for (constant, value) in api::constant_table() {
            known.push_constant(constant, value);
        }
        for (var, constant, value) in session.scope.iter_raw() {
            if constant {
                known.push_constant_dynamic(var.to_string(), value.clone());
            } else {
                known.push_dynamic(var.to_string(), value.clone());
            }
        }
        let own = self.engine.compile_with_scope(&known, source).map_err(|e| ScriptError::from_parse(&e, source))?;
        let mut ast = session.library.merge(&own);
        ast.set_source(name);
        Ok(CompiledQuery { own: own.clone_functions_only(), ast, name: name.to_string(), source: source.to_string() })
    }

    /// Evaluates `query` against `model`, leaving nothing behind (what it defines or registers is dropped). The
    /// model is lent to the engine for the evaluation and comes back unchanged: the query API has no function
    /// that changes it.
    pub fn eval(&self, model: &mut Model, query: &CompiledQuery) -> Result<Evaluated, ScriptError> {
        self.evaluate(model, query, false)
    }

    /// Evaluates `query` like [`QueryEngine::eval`] and keeps what it defines: its functions, its top-level
    /// variables and constants, and the commands it registers. A query that fails keeps nothing.
    pub fn run(&self, model: &mut Model, query: &CompiledQuery) -> Result<Evaluated, ScriptError> {
        self.evaluate(model, query, true)
    }

    fn evaluate(&self, model: &mut Model, query: &CompiledQuery, keep: bool) -> Result<Evaluated, ScriptError> {
        let commands = self.commands.borrow().commands.clone();
        let mut session = self.session.borrow_mut();
        let vars = session.scope.len();
        std::mem::swap(model, &mut self.host.borrow_mut().model);
        let result = self.engine.eval_ast_with_scope::<Dynamic>(&mut session.scope, &query.ast);
        std::mem::swap(model, &mut self.host.borrow_mut().model);
        let output = self.take_output();
        match result {
            Ok(value) if keep => {
                session.library = session.library.merge(&query.own);
                let from = Rc::new((query.name.clone(), query.source.clone()));
                for f in query.own.iter_functions() {
                    session.defined_in.insert(f.name.to_string(), Rc::clone(&from));
                }
                session.scope = session.scope.clone_visible();
                Ok(Evaluated { value, output })
            }
            Ok(value) => {
                session.scope.rewind(vars);
                self.commands.borrow_mut().commands = commands;
                Ok(Evaluated { value, output })
            }
            Err(e) => {
                session.scope.rewind(vars);
                self.commands.borrow_mut().commands = commands;
                Err(self.error(&session, &e, query))
            }
        }
    }

    /// What the last evaluation printed.
    fn take_output(&self) -> String {
        let mut out = self.output.borrow_mut();
        out.truncated = false;
        std::mem::take(&mut out.text)
    }

    /// A runtime error placed in the query, or in the source of the library function it happened in.
    fn error(&self, session: &Session, e: &EvalAltResult, query: &CompiledQuery) -> ScriptError {
        ScriptError::from_eval_in(e, &query.source, |function| {
            if query.own.iter_functions().any(|f| f.name == function) {
                return None;
            }
            session.defined_in.get(function).map(|s| (s.0.as_str(), s.1.as_str()))
        })
    }

    /// Evaluates `query` as a condition: it must give a boolean.
    pub fn eval_bool(&self, model: &mut Model, query: &CompiledQuery) -> Result<bool, ScriptError> {
        let v = self.eval(model, query)?;
        v.value.as_bool().map_err(|ty| {
            let msg = format!("a condition must give a boolean, this gives {ty} ({})", v.value_text());
            ScriptError::unplaced(ErrorKind::Runtime, msg)
        })
    }

    /// Sets the variable `name` for the queries compiled and evaluated from now on (the debugger's `event`).
    pub fn set_var(&self, name: &str, value: Dynamic) {
        let mut session = self.session.borrow_mut();
        if session.scope.is_constant(name) == Some(true) {
            // A script's constant of that name gives way.
            session.scope = session.scope.clone_visible();
            let _ = session.scope.remove::<Dynamic>(name);
        }
        session.scope.set_or_push(name, value);
    }

    /// Names `register_command` refuses: the debugger's own commands and their aliases.
    pub fn reserve_command_names<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        self.commands.borrow_mut().reserved.extend(names.into_iter().map(str::to_string));
    }

    /// The commands scripts registered, in the order they were first registered.
    pub fn commands(&self) -> Vec<UserCommand> {
        self.commands.borrow().commands.clone()
    }

    /// Runs the registered command `name` with `args` (its function gets them as an array of strings) against
    /// `model`. Errors are placed in the script that registered it.
    pub fn call_command(&self, model: &mut Model, name: &str, args: &[&str]) -> Result<Evaluated, ScriptError> {
        let Some(cmd) = self.commands.borrow().commands.iter().find(|c| c.name == name).cloned() else {
            return Err(ScriptError::unplaced(ErrorKind::Runtime, format!("no command `{name}` was registered")));
        };
        let session = self.session.borrow();
        let args: Array = args.iter().map(|a| Dynamic::from(a.to_string())).collect();
        std::mem::swap(model, &mut self.host.borrow_mut().model);
        let result = cmd.func.call::<Dynamic>(&self.engine, &session.library, (args,));
        std::mem::swap(model, &mut self.host.borrow_mut().model);
        let output = self.take_output();
        result.map(|value| Evaluated { value, output }).map_err(|e| self.error(&session, &e, &self.library_query()))
    }

    /// Whether a function of the library (what [`QueryEngine::run`] kept) calls the function `name` directly.
    pub fn library_calls(&self, name: &str) -> bool {
        self.library_query().calls(name)
    }

    /// The library as a query with no statements of its own.
    fn library_query(&self) -> CompiledQuery {
        let library = self.session.borrow().library.clone();
        CompiledQuery { ast: library, own: AST::empty(), name: String::new(), source: String::new() }
    }
}

/// `register_command(name, help, function)`: adds (or replaces) a command of the debugger.
fn register_command(
    table: &mut CommandTable,
    file: &str,
    name: &str,
    help: &str,
    func: FnPtr,
) -> Result<(), Box<EvalAltResult>> {
    let well_formed = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !well_formed {
        return Err(Failure::runtime(format!(
            "register_command: `{name}` is not a command name (a letter, then letters, digits, `-` or `_`)"
        )));
    }
    if table.reserved.iter().any(|r| r == name) {
        return Err(Failure::runtime(format!(
            "register_command: `{name}` is a command of the debugger; choose another name"
        )));
    }
    if help.trim().is_empty() {
        return Err(Failure::runtime(format!("register_command: the help text of `{name}` is empty")));
    }
    let cmd = UserCommand { name: name.to_string(), help: help.trim().to_string(), file: file.to_string(), func };
    match table.commands.iter_mut().find(|c| c.name == name) {
        Some(old) => *old = cmd,
        None => table.commands.push(cmd),
    }
    Ok(())
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
