//! The page cache as an input: `traces/real/pagecache-holes.ftrace` (a 64-page file with pages 5 and 40 evicted,
//! mapped and read) agrees with the kernel in every figure, and would not if the replay took every file page to be
//! cached, as it does without `mmdb-pagecache` markers and the filemap records.

use mmdb_session::verify::replay_trace;
use mmdb_trace::parse_ftrace;

const TRACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces/real/pagecache-holes.ftrace");

fn text() -> String {
    std::fs::read_to_string(TRACE).unwrap_or_else(|e| panic!("{TRACE}: {e}"))
}

#[test]
fn holes_in_the_page_cache_are_not_mapped_by_fault_around() {
    let r = replay_trace(&parse_ftrace(text().as_bytes()), None);
    let v = &r.verify;
    assert_eq!((r.rss.matched, r.rss.total), (89, 89), "{:?}", r.rss.mismatches);
    assert_eq!((v.pages.agree, v.pages.total, v.rollups.agree, v.rollups.total), (96, 96, 3, 3));
    assert!(r.divergences.is_empty(), "{:?}", r.divergences);
}

/// Without what the trace says about the page cache (the residency markers and the deletions from the page
/// cache), fault-around at page 0 maps the evicted page 5 too: the process's MM_FILEPAGES is one page high (16
/// pages mapped by the model, 15 by the kernel), the rollup of checkpoint 2 shows RssFile 4 kB too high, and the
/// read of page 5 finds it mapped where the kernel read it in. (The read-around of that fault brought page 40 in
/// as well, so the window of page 33 was whole in the kernel too.)
#[test]
fn without_residency_the_model_maps_the_holes() {
    let stripped: String = text()
        .lines()
        .filter(|l| !l.contains("mmdb-pagecache") && !l.contains("mm_filemap_delete_from_page_cache"))
        .map(|l| format!("{l}\n"))
        .collect();
    let r = replay_trace(&parse_ftrace(stripped.as_bytes()), None);
    let file: Vec<(i64, i64)> =
        r.rss.mismatches.iter().filter(|m| m.member == "MM_FILEPAGES").map(|m| (m.kernel, m.model)).collect();
    assert_eq!((r.rss.matched, r.rss.total, file.len()), (88, 89, 1), "{:?}", r.rss.mismatches);
    assert_eq!(file[0].1 - file[0].0, 1);
    assert_eq!((r.verify.rollups.agree, r.verify.rollups.total), (2, 3));
    assert!(r.divergences.iter().any(|d| d.kind == "fault-alloc-missing"), "{:?}", r.divergences);
}
