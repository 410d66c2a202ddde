//! mmdb-session: the engine the CLI (and later the REPL) drives.
