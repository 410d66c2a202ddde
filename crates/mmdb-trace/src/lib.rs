//! mmdb-trace: parses trace text into model events, collecting errors instead of stopping at the first one.
//!
//! The mm event format is ftrace-like text where each line is one model operation ([`mmdb_model::Op`]):
//!
//! ```text
//! # mmdb events v1
//!              app-100     [000]     0.000100: mmap: addr=0x7f0000000000 len=0x40000 prot=PROT_READ|PROT_WRITE flags=MAP_PRIVATE|MAP_ANONYMOUS
//!              app-100     [000]     0.000200: fault: addr=0x7f0000000000 access=write
//!              app-100     [001]     0.000300: fork: child=101
//! ```
//!
//! [`lexer`] splits the prefix every ftrace-style line shares (comm, pid, TGID, CPU, irq-info, timestamp, event
//! name); [`events`] maps the mm format's event names and fields to operations; [`parse_events`] drives both over
//! a whole text and [`format_event`] prints the same format back.

pub mod diag;
pub mod events;
pub mod lexer;
mod parse;
mod print;

pub use diag::{ErrorTally, LineError, Located, ParseError, Parsed};
pub use parse::{parse_events, parse_events_bytes};
pub use print::{format_event, write_events, HEADER};

pub mod detect;
mod fields;
pub mod ftrace;
pub mod perf;
pub mod records;
pub mod truth;

pub use detect::{binary_kind, detect, detect_format, Detection, Format};
pub use ftrace::{parse_ftrace, parse_ftrace_piece};
pub use perf::{parse_perf, parse_perf_piece};
pub use records::{CommId, Comms, Lost, ParsedTrace, Record, TraceLine, UnknownField};
pub use truth::{
    collect_checkpoints, merge_by_time, parse_marker, parse_truth_sidefile, trace_markers, Checkpoint, Marker,
    TimedMarker, Truth,
};
