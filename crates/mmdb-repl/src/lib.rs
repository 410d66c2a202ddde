//! mmdb-repl: the debugger's engine, what `mmdb repl` drives: a program of model events, a cursor that moves
//! forwards and backwards over it, breakpoints and watchpoints, and the commands that inspect the state.
//!
//! [`Session::execute`] runs one command line and returns labelled output ([`Styled`]); the command table
//! ([`commands::COMMANDS`]) drives dispatch, `help`, [`complete`] and the book's command reference. Rhai
//! (`rhai EXPR`, `source FILE`, breakpoint conditions) runs in one `mmdb_script::QueryEngine` per session; the
//! commands scripts register with `register_command` are a second, dynamic list beside the table.
//!
//! Architecture invariant: this crate is pure. It reads no files, no environment, no clock and writes to no
//! terminal; the CLI hands it the trace's bytes and prints what comes back, and gives `source` a file reader
//! ([`Session::set_file_reader`]). `clippy.toml` enforces this.

pub mod breakpoints;
pub mod commands;
mod complete;
mod inspect;
mod nav;
pub mod parse;
pub mod program;
mod script;
pub mod session;
pub mod styled;

pub use commands::{reference_markdown, Response, Status, COMMANDS};
pub use complete::{complete, hint, Completion};
pub use program::Program;
pub use script::{event_value, FileReader};
pub use session::Session;
pub use styled::{Label, Span, Styled};
