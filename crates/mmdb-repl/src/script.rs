//! Rhai in the debugger: `rhai EXPR` (`: EXPR`), `source FILE`, the commands scripts register with
//! `register_command(name, help, |args| ...)`, and what Rhai conditions of breakpoints see.
//!
//! One [`QueryEngine`] per session, made on first use, holds what scripts define: functions, top-level variables
//! and constants, and registered commands, for every later expression, condition and command. Scripts read the
//! model at the cursor through the query API of `mmdb-script` (`page`, `rmap`, `history`, `smaps`, `rss`,
//! `vmstat`, `ps()`, ...) and see the event at the cursor as `event`. The engine reads no files: `source` asks the
//! reader the front end injected ([`crate::Session::set_file_reader`]).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use mmdb_model::{Event, Op};
use mmdb_script::{Dynamic, ErrorKind, Evaluated, Limits, QueryEngine, ScriptError, UserCommand};

use crate::breakpoints::{event_field, Value, EVENT_FIELDS};
use crate::commands::{CmdError, CmdResult, COMMANDS};
use crate::session::Session;
use crate::styled::{Label, Styled};

/// How `rhai EXPR` names the expression in its errors.
const EXPRESSION: &str = "expression";

/// Reads a file for `source`: the path as typed, to the file's text or a message saying why not.
pub type FileReader = Box<dyn Fn(&str) -> Result<String, String>>;

/// A session's scripting: the engine (made on first use), its limits, and the file reader of `source`.
#[derive(Default)]
pub(crate) struct Scripting {
    engine: Option<QueryEngine>,
    limits: Limits,
    reader: Option<FileReader>,
}

impl std::fmt::Debug for Scripting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripting")
            .field("engine", &self.engine)
            .field("limits", &self.limits)
            .field("reader", &self.reader.as_ref().map(|_| "set"))
            .finish()
    }
}

impl Scripting {
    /// The engine, if a script has run.
    pub fn engine(&self) -> Option<&QueryEngine> {
        self.engine.as_ref()
    }

    /// The engine, made now if need be: the debugger's commands are reserved and `event` is defined.
    pub fn engine_or_new(&mut self, interrupt: &Arc<AtomicBool>) -> &QueryEngine {
        self.engine.get_or_insert_with(|| {
            let engine = QueryEngine::new(&self.limits, Arc::clone(interrupt));
            engine.reserve_command_names(
                COMMANDS.iter().flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied())),
            );
            engine.set_var("event", Dynamic::UNIT);
            engine
        })
    }

    pub fn set_reader(&mut self, reader: FileReader) {
        self.reader = Some(reader);
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.engine = None;
    }

    /// The commands scripts registered, in the order they were first registered.
    pub fn commands(&self) -> Vec<UserCommand> {
        self.engine.as_ref().map(QueryEngine::commands).unwrap_or_default()
    }
}

/// The error of a Rhai condition evaluated without an engine (the session makes one before a run that needs it).
pub(crate) fn no_engine() -> ScriptError {
    ScriptError {
        kind: ErrorKind::Runtime,
        message: "the condition cannot be evaluated: the session has no script engine".to_string(),
        notes: Vec::new(),
        line: 0,
        column: 0,
        excerpt: String::new(),
        file: None,
    }
}

/// Sets `event` to the event numbered `number` (a map), or to `()` at the start.
pub(crate) fn set_event(engine: &QueryEngine, event: Option<&Event>, number: usize) {
    engine.set_var("event", event.map_or(Dynamic::UNIT, |ev| event_value(ev, number)));
}

/// An event as Rhai sees it: `#{number, name, pid, cpu, ts, comm}` and the fields of its operation (`addr`,
/// `len`, `advice`, `access`, `child`, `value`, `pfn`), the fields of the simple conditions.
pub fn event_value(ev: &Event, number: usize) -> Dynamic {
    let mut map: BTreeMap<&str, Dynamic> = BTreeMap::new();
    map.insert("number", Dynamic::from_int(i64::try_from(number).unwrap_or(i64::MAX)));
    for field in EVENT_FIELDS {
        let value = match (*field, &ev.op) {
            // A number, so that `event.advice == MADV_FREE` holds.
            ("advice", Op::Madvise { advice, .. }) => Some(Dynamic::from_int(*advice)),
            _ => event_field(ev, field).map(|v| match v {
                Value::Num(n) => Dynamic::from_int(n),
                Value::Str(s) => Dynamic::from(s),
            }),
        };
        if let Some(value) = value {
            map.insert(if *field == "event" { "name" } else { field }, value);
        }
    }
    map.into()
}

/// `rhai EXPR`, `: EXPR`.
pub fn rhai(s: &mut Session, _: &[&str]) -> CmdResult {
    let text = s.line_args().trim().to_string();
    if text.is_empty() {
        return Err(CmdError::Usage("the expression is missing".to_string()));
    }
    let query = s.script_engine().compile_named(EXPRESSION, &text).map_err(|e| script_error(&e, EXPRESSION))?;
    let (engine, model) = s.script_model(query.calls("history"));
    let v = engine.run(model, &query).map_err(|e| script_error(&e, EXPRESSION))?;
    Ok(evaluated(&v))
}

/// `source FILE`.
pub fn source(s: &mut Session, _: &[&str]) -> CmdResult {
    let path = s.line_args().trim().to_string();
    if path.is_empty() {
        return Err(CmdError::Usage("which file? give its path".to_string()));
    }
    let Some(reader) = &s.scripting().reader else {
        return Err(CmdError::Failed(
            "`source` is not available here: this front end lets the debugger read no files".to_string(),
        ));
    };
    let text = reader(&path).map_err(CmdError::Failed)?;
    let query = s.script_engine().compile_named(&path, &text).map_err(|e| script_error(&e, &path))?;
    let (engine, model) = s.script_model(query.calls("history"));
    let v = engine.run(model, &query).map_err(|e| script_error(&e, &path))?;
    let mut out = Styled::new();
    out.text(&v.output);
    let functions = query.functions();
    let commands: Vec<String> =
        s.scripting().commands().into_iter().filter(|c| c.file == path).map(|c| c.name).collect();
    let mut done = format!("sourced {path}");
    if !functions.is_empty() {
        done.push_str(&format!("; functions: {}", functions.join(", ")));
    }
    if !commands.is_empty() {
        done.push_str(&format!("; commands: {}", commands.join(", ")));
    }
    out.line(Label::Dim, done);
    Ok(out)
}

/// A command a script registered, with the words after its name.
pub fn run_command(s: &mut Session, cmd: &UserCommand, args: &[&str]) -> CmdResult {
    let history = s.script_engine().library_calls("history");
    let (engine, model) = s.script_model(history);
    let v = engine.call_command(model, &cmd.name, args).map_err(|e| script_error(&e, &cmd.file))?;
    Ok(evaluated(&v))
}

/// What a script printed, then its value (if it is not `()`).
fn evaluated(v: &Evaluated) -> Styled {
    let mut out = Styled::new();
    out.text(&v.output);
    let value = v.value_text();
    if !value.is_empty() {
        out.text(value).nl();
    }
    out
}

/// A script error, rendered as rustc would (message, `--> PATH:LINE:COLUMN`, the line with a caret).
pub(crate) fn script_error(e: &ScriptError, path: &str) -> CmdError {
    CmdError::Output(render_error(e, path))
}

/// [`ScriptError::render`], labelled.
pub(crate) fn render_error(e: &ScriptError, path: &str) -> Styled {
    let text = e.render(path);
    let mut out = Styled::new();
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    match first.strip_prefix("error:") {
        Some(msg) => out.push(Label::Error, "error:").text(msg),
        None => out.text(first),
    };
    out.nl();
    for line in rest.lines() {
        out.text(line).nl();
    }
    out
}
