//! `mmdb run SCRIPT.rhai`: runs a Rhai scenario on a fresh model and prints what it prints; `--emit-trace`
//! writes the events it performed as an mm event trace and `--report` prints the report replaying it gives.
//! The script itself (mmdb-script) touches nothing: this module reads it, installs the Ctrl-C handler and
//! writes the outputs.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use mmdb_script::{run_script, ErrorKind, ScriptConfig, ScriptRun};

use crate::{EXIT_CLEAN, EXIT_FINDINGS};

/// Exit status of a script stopped by Ctrl-C, as shells report SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

/// The long description of `mmdb run --help`.
pub const RUN_LONG: &str = "\
Runs a Rhai scenario script on a fresh model.

The script drives the model with kernel-named operations (spawn, p.mmap,
p.write, p.store, p.fork(), p.madvise, lru_add_drain, reclaim, memcg_create,
swapon, ...), inspects it (page, rmap, history, p.smaps(), p.rss(), vmstat())
and checks it with assert and assert_eq. What it prints goes to stdout; an
error or a failed assertion goes to stderr as SCRIPT:LINE:COLUMN with the line.

Every operation is a model event: --emit-trace writes them as an mm event
trace that `mmdb replay` replays to the same state, and `mmdb SCRIPT.rhai`
opens the REPL on them. Scripts run in a sandbox: no files, no environment, no
clock, bounded operations and sizes; Ctrl-C stops a running script.";

/// The epilogue of `mmdb run --help`.
pub const RUN_AFTER_HELP: &str = "\
Exit status:
  0    the script ran to its end
  1    a failed assertion, or an error in the script
  2    usage error, an unknown profile, or a file that cannot be read or written
  130  the script was stopped by Ctrl-C

Examples:
  mmdb run scripts/cow-reuse-vs-copy.rhai
  mmdb run scripts/madv-free-reclaim.rhai --emit-trace free.events --report
  mmdb scripts/cow-reuse-vs-copy.rhai
      Step through the operations the script performed in the REPL.";

/// The arguments of `mmdb run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The Rhai script to run.
    #[arg(value_name = "SCRIPT")]
    script: PathBuf,
    /// Also write the events the script performed to OUT, in the mm event format.
    #[arg(long, value_name = "OUT")]
    emit_trace: Option<PathBuf>,
    /// The kernel profile to model (`mmdb profiles` lists them).
    #[arg(long, value_name = "NAME", default_value = "linux-6.18", value_parser = crate::parse_profile)]
    profile: mmdb_model::Profile,
    /// After the script's output, print the final state as `mmdb replay` reports it.
    #[arg(long)]
    report: bool,
}

/// `mmdb run`: returns the exit status (see `RUN_AFTER_HELP`).
pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let display = args.script.display().to_string();
    let interrupt = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupt))
        .context("cannot install the Ctrl-C handler")?;
    let run = execute(&args.script, &display, interrupt, args.profile)?;
    let mut out = io::stdout().lock();
    out.write_all(run.output.as_bytes()).context("cannot write the output")?;
    let trace_name = args.emit_trace.as_ref().map_or_else(|| display.clone(), |p| p.display().to_string());
    if let Some(path) = &args.emit_trace {
        std::fs::write(path, run.trace(&display)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.report {
        out.write_all(report(&run, &trace_name).as_bytes()).context("cannot write the report")?;
    }
    out.flush().context("cannot write the output")?;
    drop(out);
    Ok(match &run.error {
        None => EXIT_CLEAN,
        Some(e) => {
            let _ = writeln!(io::stderr().lock(), "{}", e.render(&display));
            if e.kind == ErrorKind::Interrupted {
                EXIT_INTERRUPTED
            } else {
                EXIT_FINDINGS
            }
        }
    })
}

/// Reads and runs the script at `path` (named `display` in errors) under `profile`.
pub(crate) fn execute(
    path: &Path,
    display: &str,
    interrupt: Arc<AtomicBool>,
    profile: mmdb_model::Profile,
) -> anyhow::Result<ScriptRun> {
    let source = std::fs::read_to_string(path).with_context(|| format!("cannot read {display}"))?;
    let mut config = ScriptConfig::default();
    config.model.profile = profile;
    Ok(run_script(display, &source, &config, interrupt))
}

/// The report `mmdb replay` prints for the run's trace (written as `trace_name`), built from the run's own model.
fn report(run: &ScriptRun, trace_name: &str) -> String {
    let replay = mmdb_session::Replay {
        report: run.model.report(),
        parse_errors: Vec::new(),
        error_tally: Default::default(),
        event_lines: (0..run.events.len()).map(ScriptRun::trace_line).collect(),
        parsed_events: run.events.len() as u64,
    };
    mmdb_session::render_text(&replay, trace_name)
}

/// For `mmdb SCRIPT.rhai`: runs the script (Ctrl-C stops it), prints its output and any error, and returns the
/// trace of what it performed, for the REPL to step through.
pub fn trace_for_repl(path: &Path, display: &str, profile: mmdb_model::Profile) -> anyhow::Result<String> {
    let interrupt = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupt))
        .context("cannot install the Ctrl-C handler")?;
    let run = execute(path, display, interrupt, profile)?;
    io::stdout().lock().write_all(run.output.as_bytes()).context("cannot write the output")?;
    if let Some(e) = &run.error {
        let _ = writeln!(
            io::stderr().lock(),
            "{}\nthe REPL opens on the events performed before the error",
            e.render(display)
        );
    }
    Ok(run.trace(display))
}
