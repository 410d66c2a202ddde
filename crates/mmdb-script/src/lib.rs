//! mmdb-script: Rhai scenarios and queries over the mmdb model, in a sandbox.
//!
//! A scenario script builds a workload the way a kernel selftest would (`spawn`, `p.mmap`, `p.write`,
//! `p.fork()`, `p.madvise`, `reclaim`, ...), each call applying model events through [`mmdb_model::Model::apply`],
//! and checks what the kernel must do with `assert`. [`run_script`] runs one on a fresh model and returns a
//! [`ScriptRun`]: what it printed, every event it applied (a trace `mmdb replay` reproduces), the final model
//! and the error that stopped it, located by line and column. [`QueryEngine`] evaluates read-only expressions
//! (`page`, `rmap`, `history`, `smaps`, `rss`, `vmstat`, `ps`) against any model, for the debugger; it is a
//! session, keeping what [`QueryEngine::run`] defines (functions, variables, the debugger commands registered
//! with `register_command`) for later queries.
//!
//! The sandbox: a raw Rhai engine with the standard language but no clock, no `eval`, no module loading and no
//! direct output (`print` and `debug` go into a buffer); limits on operations, call depth, expression depth,
//! string, array and map sizes, model events and output; an interrupt flag checked as the script runs.
//!
//! Architecture invariant: this crate is pure like the model. It touches no files, no environment and no clock.

mod api;
mod error;
mod host;
mod inspect;
mod run;
mod sandbox;

pub use api::{constant_table, ApiDoc, Memcg, Process, Section};
pub use error::{ErrorKind, ScriptError};
pub use rhai::Dynamic;
pub use run::{
    api_reference, eval_query, reference_markdown, run_script, CompiledQuery, Evaluated, QueryEngine, ScriptConfig,
    ScriptRun, UserCommand,
};
pub use sandbox::Limits;
