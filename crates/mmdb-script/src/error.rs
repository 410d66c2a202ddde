//! Script errors located by line and column, with the source excerpt, rendered like mmdb-trace's parse errors.

use std::fmt::{self, Write as _};

use rhai::{Dynamic, EvalAltResult, Position};

use crate::sandbox::{INTERRUPTED, OUTPUT_FULL};

/// What kind of failure stopped a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The script does not parse.
    Syntax,
    /// A runtime error: a type mismatch, an unknown function, a model operation that could not happen.
    Runtime,
    /// `assert` or `assert_eq` failed.
    Assertion,
    /// A sandbox limit was reached (operations, call depth, sizes, events, output).
    Limit,
    /// The interrupt flag was set (Ctrl-C).
    Interrupted,
}

/// Why a script stopped, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub kind: ErrorKind,
    /// One line saying what went wrong (`assertion failed: ...`).
    pub message: String,
    /// More lines of explanation (`left`/`right` of `assert_eq`, the calls the error came through).
    pub notes: Vec<String>,
    /// The 1-based line and column of the offending token; 0 when the error has no place in the source.
    pub line: u32,
    pub column: u32,
    /// The source line, or empty.
    pub excerpt: String,
    /// The script the line and column are in, when it is not the one the error is rendered for: a function a
    /// debugger session defined earlier (from a `source`d file) and the query called.
    pub file: Option<String>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ScriptError {}

/// A failure raised by the script API (an assertion, a model operation that cannot happen), carried through
/// Rhai as the value of a runtime error.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    pub notes: Vec<String>,
}

impl Failure {
    /// A runtime error of the API; Rhai fills in the position of the call.
    pub fn runtime(message: impl Into<String>) -> Box<EvalAltResult> {
        Failure { kind: ErrorKind::Runtime, message: message.into(), notes: Vec::new() }.into_error()
    }

    pub fn into_error(self) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorRuntime(Dynamic::from(self), Position::NONE))
    }
}

impl ScriptError {
    /// An error with no place in the source.
    pub(crate) fn unplaced(kind: ErrorKind, message: String) -> ScriptError {
        ScriptError { kind, message, notes: Vec::new(), line: 0, column: 0, excerpt: String::new(), file: None }
    }

    /// A parse error of `source`.
    pub(crate) fn from_parse(err: &rhai::ParseError, source: &str) -> ScriptError {
        let mut e = ScriptError::unplaced(ErrorKind::Syntax, lower_first(&err.err_type().to_string()));
        e.place(err.position(), source);
        e
    }

    /// A runtime error of `source`, placed at the innermost call it came through.
    pub(crate) fn from_eval(err: &EvalAltResult, source: &str) -> ScriptError {
        ScriptError::from_eval_in(err, source, |_| None)
    }

    /// A runtime error of `source`, placed at the innermost call it came through; when that call is of a
    /// function `defined_in` knows (giving the name and text of the script that defined it), in that script.
    pub(crate) fn from_eval_in<'s>(
        err: &EvalAltResult,
        source: &'s str,
        defined_in: impl Fn(&str) -> Option<(&'s str, &'s str)>,
    ) -> ScriptError {
        let mut calls = Vec::new();
        let mut inner = err;
        while let EvalAltResult::ErrorInFunctionCall(name, _, next, pos) = inner {
            calls.push((name.clone(), *pos));
            inner = next;
        }
        let mut e = match inner {
            EvalAltResult::ErrorRuntime(v, _) if v.is::<Failure>() => {
                let f = v.clone_cast::<Failure>();
                ScriptError { notes: f.notes, ..ScriptError::unplaced(f.kind, f.message) }
            }
            EvalAltResult::ErrorRuntime(v, _) => {
                ScriptError::unplaced(ErrorKind::Runtime, format!("uncaught exception: {v}"))
            }
            EvalAltResult::ErrorTerminated(token, _) => match token.clone().into_string().as_deref() {
                Ok(INTERRUPTED) => ScriptError::unplaced(ErrorKind::Interrupted, "interrupted".into()),
                Ok(OUTPUT_FULL) => ScriptError::unplaced(ErrorKind::Limit, "the script printed too much".into()),
                _ => ScriptError::unplaced(ErrorKind::Runtime, "the script was terminated".into()),
            },
            EvalAltResult::ErrorTooManyOperations(_)
            | EvalAltResult::ErrorStackOverflow(_)
            | EvalAltResult::ErrorDataTooLarge(..)
            | EvalAltResult::ErrorTooManyVariables(_)
            | EvalAltResult::ErrorTooManyModules(_) => {
                ScriptError::unplaced(ErrorKind::Limit, format!("{} (a sandbox limit)", describe(inner)))
            }
            other => ScriptError::unplaced(ErrorKind::Runtime, describe(other)),
        };
        match calls.last().and_then(|(name, _)| defined_in(name)) {
            Some((file, text)) => {
                e.place(inner.position(), text);
                e.file = Some(file.to_string());
            }
            None => e.place(inner.position(), source),
        }
        for (name, pos) in calls {
            let what =
                if name.starts_with("anon$") { "in a closure".to_string() } else { format!("in function `{name}`") };
            let at = match (pos.line(), pos.position()) {
                (Some(l), Some(c)) => format!(", called at line {l}, column {c}"),
                _ => String::new(),
            };
            e.notes.push(format!("{what}{at}"));
        }
        e
    }

    /// Sets line, column and excerpt from a Rhai position.
    fn place(&mut self, pos: Position, source: &str) {
        let (Some(line), Some(column)) = (pos.line(), pos.position()) else { return };
        self.line = u32::try_from(line).unwrap_or(u32::MAX);
        self.column = u32::try_from(column).unwrap_or(u32::MAX);
        self.excerpt = source.lines().nth(line.saturating_sub(1)).unwrap_or("").to_string();
    }

    /// Renders the error like rustc: message, `--> path:line:column`, the line with a caret run under the
    /// token, then the notes. The result has no trailing newline.
    pub fn render(&self, path: &str) -> String {
        let path = self.file.as_deref().unwrap_or(path);
        if self.line == 0 {
            let mut out = format!("error: {}\n --> {path}", self.message);
            for note in &self.notes {
                let _ = write!(out, "\n  = note: {note}");
            }
            return out;
        }
        let before = usize::try_from(self.column.saturating_sub(1)).unwrap_or(usize::MAX);
        let token = self.excerpt.chars().skip(before).take_while(|c| c.is_alphanumeric() || *c == '_').count();
        let mut out =
            mmdb_trace::diag::render_snippet(&self.message, path, self.line, self.column, &self.excerpt, token);
        let pad = " ".repeat(self.line.to_string().len());
        for note in &self.notes {
            let _ = write!(out, "\n{pad} = note: {note}");
        }
        out
    }
}

/// Rhai's message for an error, without its position and with a lower-case first letter.
fn describe(err: &EvalAltResult) -> String {
    let text = err.to_string();
    let suffix = format!(" ({})", err.position());
    lower_first(text.strip_suffix(&suffix).unwrap_or(&text))
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
