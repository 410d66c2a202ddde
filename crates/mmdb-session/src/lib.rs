//! mmdb-session: the engine the CLI (and later the REPL) drives: replay a trace into the model and render reports.
//!
//! [`replay`] parses a trace with mmdb-trace, applies its events to a fresh [`mmdb_model::Model`] and returns a
//! [`Replay`]: the model's [`mmdb_model::Report`], the parse errors, and the source line of every applied event.
//! [`render_text`] and [`render_json`] turn a replay into the two output formats of `mmdb replay`.
//!
//! Architecture invariant: this crate is pure. It reads no files, no environment, no clock and writes to no
//! terminal; sources come in as bytes and reports go out as strings. `clippy.toml` enforces this.

pub mod diff;
mod json;
pub mod lower;
mod replay;
pub mod synth;
mod text;
pub mod verify;

#[cfg(test)]
mod tests;

pub use json::{render_json, REPORT_VERSION};
pub use replay::{replay, Replay, ReplayOptions};
pub use text::render_text;

pub use mmdb_trace::ParseError;
