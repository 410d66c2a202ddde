//! The book's command reference is generated from the command table; this test keeps the committed page current.

use crate::repo_root;

/// The reference page, relative to the repository root.
const PAGE: &str = "book/src/repl-commands.md";

#[test]
fn the_book_reference_is_the_command_table() {
    let path = repo_root().join(PAGE);
    let want = mmdb_repl::reference_markdown();
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have == want {
        return;
    }
    if std::env::var("MMDB_BLESS").is_ok_and(|v| v == "1") {
        if let Err(err) = std::fs::write(&path, &want) {
            panic!("cannot write {PAGE}: {err}");
        }
        return;
    }
    panic!("{PAGE} is not the command table's reference; rerun with MMDB_BLESS=1 to regenerate it");
}
