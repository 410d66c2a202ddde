//! Integration tests of mmdb-trace: the shared lexer, the mm event format's parser and errors, and its printer.

mod damaged;
mod detect;
mod errors;
mod events;
mod ftrace;
mod lexer;
mod perf;
mod props;
mod real;
mod records;
mod roundtrip;
mod truth;
