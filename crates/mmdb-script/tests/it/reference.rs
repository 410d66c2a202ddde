//! The book's API reference is generated from the registered functions; this test keeps the committed page current.

use std::path::Path;

/// The reference page, relative to the repository root.
const PAGE: &str = "book/src/script-api.md";

#[test]
fn the_book_reference_is_the_registered_api() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(PAGE);
    let want = mmdb_script::reference_markdown();
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
    panic!("{PAGE} is not the registered API's reference; rerun with MMDB_BLESS=1 to regenerate it");
}

#[test]
fn every_entry_is_registered_and_documented() {
    let docs = mmdb_script::api_reference();
    assert!(docs.len() > 40, "{} entries", docs.len());
    for d in &docs {
        assert!(!d.doc.is_empty() && d.doc.ends_with(['.', ')']), "{}: {:?}", d.signature, d.doc);
    }
    for (i, d) in docs.iter().enumerate() {
        assert!(docs[..i].iter().all(|e| e.signature != d.signature), "{} twice", d.signature);
    }
    // The list, by name.
    let names: Vec<&str> = docs.iter().map(|d| d.signature).collect();
    for want in [
        "spawn(comm) -> Process",
        "p.mmap(len, prot, flags) -> addr",
        "p.write(addr, len) -> faults",
        "p.store(addr, value)",
        "p.load(addr) -> value",
        "p.fork() -> Process",
        "p.madvise(addr, len, advice) -> 0 or -errno",
        "lru_add_drain()",
        "reclaim(nr) -> freed",
        "memcg_create(limit) -> Memcg",
        "g.attach(p) -> 0 or -errno",
        "swapon(size) -> 0 or -errno",
        "page(p, addr) -> map",
        "page(pfn) -> map",
        "rmap(f) -> array",
        "history(f) -> array",
        "p.smaps() -> map",
        "p.rss() -> map",
        "vmstat() -> map",
        "ps() -> array",
        "assert(cond, message)",
        "assert_eq(left, right, message)",
    ] {
        assert!(names.contains(&want), "missing {want}");
    }
    let consts: Vec<&str> = mmdb_script::constant_table().iter().map(|(n, _)| *n).collect();
    for want in ["PAGE_SIZE", "PROT_READ", "MAP_ANONYMOUS", "MADV_FREE", "MADV_HUGEPAGE", "MADV_COLD", "MADV_PAGEOUT"] {
        assert!(consts.contains(&want), "missing {want}");
    }
    for want in ["MADV_DONTNEED", "MREMAP_MAYMOVE", "EINVAL", "ENOMEM"] {
        assert!(consts.contains(&want), "missing {want}");
    }
}
