//! The `mmdb` binary: the only part of mmdb that touches files and the terminal.
fn main() {}
