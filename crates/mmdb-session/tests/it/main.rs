//! Replays every hand-written trace under `traces/` and snapshots its report into the top-level `snapshots/`.
//!
//! Each `traces/*.events` file must parse cleanly and replay without invariant violations (the checker runs
//! after every event); its text report is an insta snapshot, and each snapshot is a reviewed claim about
//! kernel state (the trace's header comments say which numbers matter and why). Each `traces/err/*.events`
//! file must produce parse errors; the rendered errors and the report are snapshotted together.
// Test code reads the trace files; the library crates stay pure.
#![allow(clippy::disallowed_methods)]

mod determinism;
mod diff;
mod pagecache;
mod real;
mod streaming;
mod traces;
