//! Integration tests of mmdb-trace: the shared lexer, the mm event format's parser and errors, and its printer.

mod errors;
mod events;
mod lexer;
mod roundtrip;
