//! `mmdb repl` (and `mmdb TRACE`): the interactive debugger's terminal side.
//!
//! The engine (mmdb-repl) does everything that is not I/O. This module reads the trace, owns the line editor
//! (rustyline: history in the user's state directory, completion and hints delegated to the engine, Ctrl-C
//! cancels a running command, Ctrl-D leaves), maps the engine's labels to colours, and runs batch mode: commands
//! from `--batch FILE`, or from standard input when it is not a terminal, each echoed after the prompt so that a
//! batch run reads as a transcript.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::Context as _;
use clap::ValueEnum;
use colored::Colorize as _;
use mmdb_repl::session::{Checkpointer, CHECKPOINT_BUDGET};
use mmdb_repl::{Label, Program, Session, Status, Styled};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::{input, InputFormat, EXIT_CLEAN, EXIT_FINDINGS};

/// Exit status of a batch run stopped by Ctrl-C, as shells report SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

/// The prompt, also echoed before each command in batch mode.
const PROMPT: &str = "(mmdb) ";

/// The long description of `mmdb repl --help`.
pub const REPL_LONG: &str = "\
Opens a trace in the interactive debugger.

The REPL replays the trace into the model and puts a cursor before its first
event. Move it forwards and backwards (step, next, continue, reverse-step,
reverse-continue, goto), set breakpoints and watchpoints (break, watch),
inspect the state at the cursor (page, rmap, history, maps, rss, ps, lru,
vmstat, check) and query it in Rhai (rhai EXPR, source FILE.rhai). `help`
lists every command.

Without FILE the REPL starts on an empty model. `mmdb FILE` is the same as
`mmdb repl FILE`.";

/// The epilogue of `mmdb repl --help`.
pub const REPL_AFTER_HELP: &str = "\
Batch mode:
  With --batch FILE, or when standard input is not a terminal, commands are
  read one per line (blank lines and lines starting with # are skipped). Each
  is printed after the prompt `(mmdb) `, followed by its output.

Exit status:
  0    every command succeeded
  1    a batch command failed (unknown command, bad arguments, ...)
  2    usage error, or FILE cannot be read
  130  a batch run was stopped by Ctrl-C

Examples:
  mmdb traces/basic.events
  mmdb repl traces/basic.events --batch book/src/examples/tour.mmdb
  echo 'goto end' | mmdb repl traces/basic.events";

/// When to colour the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// When standard output is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

/// The arguments of `mmdb repl` (and of `mmdb FILE`).
#[derive(Debug, clap::Args)]
pub struct ReplArgs {
    /// The trace to open: mm events, ftrace or perf text, possibly compressed; without it, an empty model.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run the commands of this file (one per line) instead of reading the terminal, then exit.
    #[arg(long, value_name = "COMMANDS")]
    pub batch: Option<PathBuf>,
    /// When to colour the output.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// The input format; by default it is detected from the content.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,
    /// The ground-truth side file of a perf recording (`mmdb record --perf` writes FILE.truth).
    #[arg(long, value_name = "SIDEFILE")]
    pub truth: Option<PathBuf>,
    /// The LRU events of the other tasks, beside a perf recording (`mmdb record --perf` writes FILE.lru).
    #[arg(long, value_name = "FILE")]
    pub lru: Option<PathBuf>,
    /// The kernel profile to replay under (`mmdb profiles` lists them).
    #[arg(long, value_name = "NAME", default_value = "linux-6.18", value_parser = crate::parse_profile)]
    pub profile: mmdb_model::Profile,
}

/// Runs the REPL; returns the exit status.
pub fn run(args: &ReplArgs) -> anyhow::Result<u8> {
    let session = load(args)?;
    let batch_input: Option<Box<dyn BufRead>> = match &args.batch {
        Some(path) => {
            let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(Box::new(io::BufReader::new(file)))
        }
        None if !io::stdin().is_terminal() => Some(Box::new(io::stdin().lock())),
        None => None,
    };
    let colour = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    colored::control::set_override(colour);
    // Ctrl-C while a command runs sets the session's flag; the command stops where it is.
    signal_hook::flag::register(signal_hook::consts::SIGINT, session.interrupt_flag())
        .context("cannot install the Ctrl-C handler")?;
    let mut out = io::stdout().lock();
    writeln!(out, "{}", banner(&session)).context("cannot write the output")?;
    match batch_input {
        Some(input) => batch(session, input, &mut out, colour),
        None => {
            drop(out);
            interactive(session, colour)
        }
    }
}

/// Reads the trace (if any) and opens a session on it, with the file reader of `source`.
fn load(args: &ReplArgs) -> anyhow::Result<Session> {
    let mut session = open(args)?;
    session.set_file_reader(Box::new(read_script));
    Ok(session)
}

/// `source FILE` reads the file here: the engine reads no files. Relative paths are from the current directory.
fn read_script(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Reads the trace (if any) and opens a session on it.
fn open(args: &ReplArgs) -> anyhow::Result<Session> {
    let Some(path) = &args.file else {
        return Ok(Session::new("(no trace)", Program::empty()));
    };
    let from_stdin = path.as_os_str() == "-";
    if from_stdin {
        anyhow::bail!("the REPL cannot read the trace from standard input: give a file");
    }
    let display = path.display().to_string();
    if path.extension().is_some_and(|ext| ext == "rhai") {
        let trace = crate::run::trace_for_repl(path, &display, args.profile)?;
        let mut program = Program::from_events(trace.as_bytes());
        program.config.profile = args.profile;
        return Ok(Session::new(display, program));
    }
    let mut text = input::open_text(path, &display)?;
    let first = text.read_piece(crate::stream::PIECE).map_err(|e| text.error(e))?.unwrap_or_default();
    let format = crate::input_format(path, &first, args.input_format);
    // A real trace's checkpoints are taken as the lowering applies its events, on the lowering's own model (the
    // one a replay of its log reaches), so that opening it replays it once.
    let mut observed = None;
    let program = match format {
        InputFormat::Mmdb => {
            let mut source = first;
            std::io::Read::read_to_end(&mut text, &mut source).map_err(|e| text.error(e))?;
            let mut program = Program::from_events(&source);
            program.config.profile = args.profile;
            program
        }
        InputFormat::Ftrace | InputFormat::Perf => {
            let side = match &args.truth {
                Some(p) => Some(crate::read_truth_sidefile(p)?),
                None => None,
            };
            let real = crate::RealInput {
                path,
                display: &display,
                format,
                profile: args.profile,
                side: side.clone(),
                lru: args.lru.as_deref(),
                keep_log: true,
                jobs: crate::parser_threads(None),
                piece: crate::stream::PIECE,
            };
            let checkpointer: Rc<RefCell<Option<Checkpointer>>> = Rc::new(RefCell::new(None));
            // The trace's length in model events is known only at its end. A bound from the file's size (a record
            // takes a line of 100 bytes or more) keeps the interval from starting so short that a long trace's
            // growing model is packed thousands of times (each pack copies the folio table).
            let len_hint = std::fs::metadata(path).ok().filter(|_| text.is_plain()).map(|m| (m.len() / 100) as usize);
            let (replay, log, _) = real.replay_with(&mut text, first, |replayer| {
                // `history` and `explain` read every page's history from this one pass.
                replayer.record_history();
                let shared = Rc::clone(&checkpointer);
                replayer.on_step(move |n, model| {
                    let mut c = shared.borrow_mut();
                    match c.as_mut() {
                        Some(c) => c.after_step(n, model),
                        None => *c = Some(Checkpointer::new(CHECKPOINT_BUDGET, len_hint, model)),
                    }
                });
            })?;
            observed = Rc::try_unwrap(checkpointer).ok().and_then(RefCell::into_inner);
            crate::report_unknown_fields(&mut io::stderr().lock(), &replay.unknown_fields, &display);
            let markers = side.unwrap_or_else(|| log.markers.clone());
            Program::from_replay(replay, log, &markers, args.profile)
        }
    };
    if program.error_tally.total > 0 {
        let mut err = io::stderr().lock();
        let shown = crate::MAX_SHOWN_PARSE_ERRORS.min(program.parse_errors.len());
        for e in &program.parse_errors[..shown] {
            let _ = writeln!(err, "{}\n", e.render(&display).trim_end_matches('\n'));
        }
        let hidden = program.error_tally.total - shown as u64;
        if hidden > 0 {
            let _ = writeln!(err, "... {hidden} more errors not shown");
        }
        let _ = writeln!(err, "{}; the REPL skips those lines", program.error_tally.summary(&display));
    }
    Ok(match observed {
        Some(checkpointer) => Session::with_checkpoints(display, program, checkpointer),
        None => Session::new(display, program),
    })
}

/// The first line: what was opened and where the cursor is.
fn banner(s: &Session) -> String {
    let p = s.program();
    let kind = match p.kind {
        mmdb_repl::program::SourceKind::Empty => return "mmdb repl: no trace, an empty model".to_string(),
        mmdb_repl::program::SourceKind::Events => "mm events",
        mmdb_repl::program::SourceKind::Real => "model events lowered from a real trace",
    };
    format!("mmdb repl: {}: {} {kind}; the cursor is at the start", s.name(), p.len())
}

/// Prints labelled output with the theme, or plain.
fn render(styled: &Styled, colour: bool) -> String {
    if !colour {
        return styled.plain();
    }
    let mut out = String::new();
    for span in styled.spans() {
        // Colour each line separately so that a line break never carries an escape sequence.
        let mut first = true;
        for piece in span.text.split('\n') {
            if !first {
                out.push('\n');
            }
            first = false;
            if !piece.is_empty() {
                out.push_str(&theme(span.label, piece));
            }
        }
    }
    out
}

/// The colour theme: one style per label.
fn theme(label: Label, text: &str) -> String {
    match label {
        Label::Plain => text.to_string(),
        Label::Heading => text.bold().to_string(),
        Label::Pfn => text.cyan().to_string(),
        Label::Pid => text.magenta().to_string(),
        Label::Addr => text.blue().to_string(),
        Label::Event => text.yellow().to_string(),
        Label::Field => text.bold().to_string(),
        Label::Added => text.green().to_string(),
        Label::Removed => text.red().to_string(),
        Label::Error => text.bright_red().bold().to_string(),
        Label::Warning => text.yellow().bold().to_string(),
        Label::Dim => text.dimmed().to_string(),
    }
}

/// Batch mode: runs every command of `input`, echoing each after the prompt.
fn batch(mut session: Session, input: Box<dyn BufRead>, out: &mut impl Write, colour: bool) -> anyhow::Result<u8> {
    let mut failed = false;
    for line in input.lines() {
        let line = line.context("cannot read the commands")?;
        let command = line.trim();
        if command.is_empty() || command.starts_with('#') {
            continue;
        }
        writeln!(out, "{PROMPT}{command}").context("cannot write the output")?;
        let response = session.execute(command);
        out.write_all(render(&response.output, colour).as_bytes()).context("cannot write the output")?;
        if session.interrupt_flag().load(std::sync::atomic::Ordering::Relaxed) {
            // Ctrl-C stopped this command; in batch mode it stops the whole run.
            out.flush().context("cannot write the output")?;
            return Ok(EXIT_INTERRUPTED);
        }
        match response.status {
            Status::Ok => {}
            Status::Error => failed = true,
            Status::Quit => break,
        }
    }
    out.flush().context("cannot write the output")?;
    Ok(if failed { EXIT_FINDINGS } else { EXIT_CLEAN })
}

/// The line editor's helper: completion and hints come from the engine, paths from the file system.
struct ReplHelper {
    session: Rc<RefCell<Session>>,
    files: FilenameCompleter,
    colour: bool,
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let c = mmdb_repl::complete(&self.session.borrow(), line, pos);
        let word = line.get(c.start..pos).unwrap_or("");
        if c.path || (c.candidates.is_empty() && c.start > 0 && (word.contains('/') || word.starts_with('.'))) {
            return self.files.complete(line, pos, ctx);
        }
        let pairs = c.candidates.into_iter().map(|w| Pair { display: w.clone(), replacement: w }).collect();
        Ok((c.start, pairs))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        mmdb_repl::hint(line)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.colour {
            Cow::Owned(hint.dimmed().to_string())
        } else {
            Cow::Borrowed(hint)
        }
    }
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

/// Where the command history is kept: `$XDG_STATE_HOME/mmdb/history`, else `~/.local/state/mmdb/history`.
fn history_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(&std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".local/state"),
    };
    Some(base.join("mmdb").join("history"))
}

/// Interactive mode: the line editor until `quit` or Ctrl-D.
fn interactive(session: Session, colour: bool) -> anyhow::Result<u8> {
    let session = Rc::new(RefCell::new(session));
    let config = rustyline::Config::builder().auto_add_history(true).max_history_size(10_000)?.build();
    let mut editor: Editor<ReplHelper, rustyline::history::DefaultHistory> =
        Editor::with_config(config).context("cannot set up the terminal")?;
    editor.set_helper(Some(ReplHelper { session: Rc::clone(&session), files: FilenameCompleter::new(), colour }));
    let history = history_path();
    if let Some(path) = &history {
        // No history yet is the normal first run.
        let _ = editor.load_history(path);
    }
    println!("Type `help` for the commands, Ctrl-D to leave.");
    loop {
        match editor.readline(PROMPT) {
            Ok(line) => {
                let response = session.borrow_mut().execute(&line);
                let mut out = io::stdout().lock();
                out.write_all(render(&response.output, colour).as_bytes())
                    .and_then(|()| out.flush())
                    .context("cannot write the output")?;
                if response.status == Status::Quit {
                    break;
                }
            }
            // Ctrl-C at the prompt drops the line, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(err).context("cannot read the terminal"),
        }
    }
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(err) = editor.save_history(path) {
            eprintln!("mmdb: cannot save the command history to {}: {err}", path.display());
        }
    }
    Ok(EXIT_CLEAN)
}
