//! `mmdb diff`: the first difference told in words, the pages grouped by folio and by difference, the figures named
//! as a reviewer reads them, on the seed 004 scenario (a large folio shared after fork, then MADV_FREE), a large
//! folio's COW, a hand-written MADV_FREE trace and a real recording, each replayed under two profiles.
//!
//! The text snapshots (`snapshots/diff@*.snap`) are reviewed claims about what each profile does.

use mmdb_model::{
    Access, Event, Op, Profile, HPAGE_PMD_NR, HPAGE_PMD_SIZE, MADV_FREE, MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE,
    PAGE_SIZE, PROT_READ, PROT_WRITE,
};
use mmdb_session::diff::{diff_profiles, render_diff_text, ProfileDiff};
use serde_json::Value;

/// The repository's top-level `snapshots/`, relative to this file's directory (what insta resolves against).
const SNAPSHOTS: &str = "../../../../snapshots";

/// Snapshots the text form as `snapshots/diff@NAME.snap`.
fn snapshot(name: &str, description: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => SNAPSHOTS,
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => description,
        snapshot_suffix => name,
    }, {
        insta::assert_snapshot!("diff", text);
    });
}

/// Numbers events from 1 as their source lines, one task on CPU 0, 10 µs apart.
struct Script(Vec<(u32, Event)>);

impl Script {
    fn ev(&mut self, pid: u32, comm: &str, op: Op) {
        let n = self.0.len() as u32;
        let ts_ns = 1_000_000_000 + u64::from(n) * 10_000;
        self.0.push((n + 1, Event { comm: comm.into(), pid, cpu: 0, ts_ns, op }));
    }

    /// `p.write(start, HPAGE_PMD_SIZE)`: a store to each page.
    fn write_thp(&mut self, pid: u32, comm: &str, start: u64) {
        for i in 0..HPAGE_PMD_NR {
            self.ev(pid, comm, Op::Touch { addr: start + i * PAGE_SIZE, access: Access::Write });
        }
    }
}

const BASE: u64 = 0x7eff_ff80_0000;
const RW: u64 = PROT_READ | PROT_WRITE;
const ANON: u64 = MAP_PRIVATE | MAP_ANONYMOUS;

/// The events of parts 1 and 2 of `scripts/seeds/large-folio-sharers.rhai`, built here (this crate does not run
/// scripts). Part 1: a THP shared with a child that unmapped its first half, then MADV_FREE of that half by the
/// parent; part 2: a THP the parent alone maps through 512 PTEs, then MADV_FREE of its first half.
fn sharers_events() -> Vec<(u32, Event)> {
    let half = HPAGE_PMD_SIZE / 2;
    let mut s = Script(Vec::new());
    s.ev(100, "parent", Op::Spawn { comm: "parent".into() });
    s.ev(100, "parent", Op::Mmap { addr: Some(BASE), len: 4 * HPAGE_PMD_SIZE, prot: RW, flags: ANON, file: None });
    s.ev(100, "parent", Op::Madvise { addr: BASE, len: 4 * HPAGE_PMD_SIZE, advice: MADV_HUGEPAGE });
    s.write_thp(100, "parent", BASE);
    s.ev(100, "parent", Op::Fork { child: 101, thread: false });
    s.ev(101, "parent", Op::Munmap { addr: BASE, len: half });
    s.ev(100, "parent", Op::Madvise { addr: BASE, len: half, advice: MADV_FREE });
    s.ev(1, "init", Op::LruAddDrainAll);
    s.ev(101, "parent", Op::Exit);
    let h2 = BASE + HPAGE_PMD_SIZE;
    s.write_thp(100, "parent", h2);
    s.ev(100, "parent", Op::Mprotect { addr: h2, len: PAGE_SIZE, prot: PROT_READ });
    s.ev(100, "parent", Op::Mprotect { addr: h2, len: PAGE_SIZE, prot: RW });
    s.ev(100, "parent", Op::Madvise { addr: h2, len: half, advice: MADV_FREE });
    s.ev(1, "init", Op::LruAddDrainAll);
    s.0
}

/// Part 3 of `scripts/seeds/large-folio-sharers.rhai`: a THP the parent PTE-maps (after a partial mprotect) and
/// shares with a child by fork; the child exits and the parent writes one page: the folio is the parent's alone
/// again, but not `PG_anon_exclusive`.
fn cow_events() -> Vec<(u32, Event)> {
    let mut s = Script(Vec::new());
    s.ev(100, "cow", Op::Spawn { comm: "cow".into() });
    s.ev(100, "cow", Op::Mmap { addr: Some(BASE), len: HPAGE_PMD_SIZE, prot: RW, flags: ANON, file: None });
    s.ev(100, "cow", Op::Madvise { addr: BASE, len: HPAGE_PMD_SIZE, advice: MADV_HUGEPAGE });
    s.ev(100, "cow", Op::Touch { addr: BASE, access: Access::Write });
    s.ev(100, "cow", Op::Mprotect { addr: BASE, len: PAGE_SIZE, prot: PROT_READ });
    s.ev(100, "cow", Op::Mprotect { addr: BASE, len: PAGE_SIZE, prot: RW });
    s.ev(100, "cow", Op::Fork { child: 101, thread: false });
    s.ev(101, "cow", Op::Exit);
    s.ev(100, "cow", Op::Touch { addr: BASE + 5 * PAGE_SIZE, access: Access::Write });
    s.0
}

/// A file of the repository, relative to its root.
fn repo_file(path: &str) -> Vec<u8> {
    let path = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The events of a hand-written trace under `traces/`, with their lines.
fn trace_events(name: &str) -> Vec<(u32, Event)> {
    let parsed = mmdb_trace::parse_events_bytes(&repo_file(&format!("traces/{name}")));
    assert!(parsed.errors.is_empty(), "{name}: {:?}", parsed.errors.first());
    parsed.events.into_iter().map(|l| (l.line, l.value)).collect()
}

fn summary(d: &ProfileDiff) -> &str {
    &d.first.as_ref().expect("the profiles differ").summary
}

#[test]
fn sharers_estimated_splits_the_partly_shared_folio_that_precise_skips() {
    let d = diff_profiles(&sharers_events(), Profile::SharersEstimated, Profile::SharersPrecise);
    let first = d.first.as_ref().expect("the profiles differ");
    assert_eq!(first.event, 518, "the parent's first MADV_FREE");
    assert_eq!(
        first.summary,
        "event 518, madvise(MADV_FREE) of 0x7effff800000+0x100000 by pid 100 (parent) on the order-9 folio at pfn \
         0x100000 (mapped by 2 processes: pid 100 through 1 PMD, pid 101 through 256 PTEs): under sharers-estimated \
         it split the folio into 512 order-0 folios and made 248 of its pages lazyfree (pglazyfree +248, \
         thp_split_page +1, thp_split_pmd +1); under sharers-precise it left the folio whole and made none of its \
         pages lazyfree (pglazyfree +0, thp_split_page +0, thp_split_pmd +0)"
    );
    // The details the sentence leaves out: 8 pages still wait in the lazyfree batch.
    let batches = first.effects.iter().find(|e| e.aspect == "per-CPU batches").expect("batches differ");
    assert_eq!(
        (batches.a.as_str(), batches.b.as_str()),
        ("left 8 pages in cpu0:lru_lazyfree", "left no page in a per-CPU batch")
    );
    // Right after it, the folio's 512 pages differ in three ways: lazyfree, waiting in the batch, the child's half.
    let runs: Vec<(Vec<[u64; 2]>, u64)> = first.page_groups.iter().map(|g| (g.pfns.clone(), g.pages)).collect();
    assert_eq!(
        runs,
        [(vec![[0x100000, 0x1000f7]], 248), (vec![[0x1000f8, 0x1000ff]], 8), (vec![[0x100100, 0x1001ff]], 256)]
    );
    // At the end: 512 pages in two runs of 256, the first lazyfree under A only.
    assert_eq!(d.page_count, 512);
    assert_eq!(d.pages.len(), 512, "one line per page in the JSON form");
    let groups: Vec<&[[u64; 2]]> = d.page_groups.iter().map(|g| g.pfns.as_slice()).collect();
    assert_eq!(groups, [&[[0x100000, 0x1000ff]][..], &[[0x100100, 0x1001ff]][..]]);
    let lazy = d.page_groups[0].differences.iter().find(|f| f.field == "lazyfree").expect("lazyfree differs");
    assert_eq!((&lazy.a, &lazy.b), (&Value::Bool(true), &Value::Bool(false)));
    let text = render_diff_text(&d, "large-folio-sharers");
    assert!(text.contains("first difference after event 518 (line 518): "), "{text}");
    assert!(text.contains("advice=MADV_FREE"), "{text}");
    assert!(
        text.contains(
            "  pfns 0x100000-0x1000ff (256 pages): folio order 0 vs order 9 (0x100000-0x1001ff); lazyfree true vs \
             false; LRU inactive_file vs inactive_anon; flags PG_dirty, PG_head, PG_swapbacked only under B; mapped \
             by pid 100 PTEs 0x7effff800000-0x7effff8ff000 vs pid 100 PMD 0x7effff800000;"
        ),
        "{text}"
    );
    snapshot(
        "sharers-estimated-vs-precise",
        "mmdb diff of parts 1 and 2 of scripts/seeds/large-folio-sharers.rhai --profile sharers-estimated \
         --profile sharers-precise: folio_estimated_sharers() reads the first page only, which the parent alone maps, so \
         MADV_FREE splits the folio the child still half maps; the mm-id slots see the child and skip it",
        &text,
    );
}

#[test]
fn sharers_total_skips_the_folio_one_process_maps_through_its_ptes() {
    let d = diff_profiles(&sharers_events(), Profile::SharersTotal, Profile::SharersPrecise);
    assert_eq!(d.first.as_ref().map(|f| f.event), Some(1035), "the parent's second MADV_FREE");
    let s = summary(&d);
    assert!(s.contains("on the order-9 folio at pfn 0x100200 (mapped by pid 100 through 512 PTEs)"), "{s}");
    assert!(s.contains("under sharers-total it left the folio whole and made none of its pages lazyfree"), "{s}");
    assert!(s.contains("under sharers-precise it split the folio into 512 order-0 folios and made 248 of its"), "{s}");
}

#[test]
fn a_large_folio_is_copied_on_write_before_6_15_and_reused_after() {
    let d = diff_profiles(&cow_events(), Profile::SharersTotal, Profile::SharersPrecise);
    let first = d.first.as_ref().expect("the profiles differ");
    assert_eq!(first.event, 9, "the parent's write after the child exited");
    let s = &first.summary;
    assert!(s.starts_with("event 9, write access to 0x7effff805000 by pid 100 (cow) on the order-9 folio"), "{s}");
    assert!(s.contains("and the free page at pfn 0x100200"), "{s}");
    assert!(s.contains("under sharers-total it copied 1 page on write (COW), reused no page"), "{s}");
    assert!(s.contains("under sharers-precise it copied no page, reused 1 page in place on write"), "{s}");
    assert!(s.contains("pgreuse +0") && s.contains("pgreuse +1"), "{s}");
    let text = render_diff_text(&d, "cow");
    snapshot(
        "cow-large-folio-total-vs-precise",
        "mmdb diff of part 3 of scripts/seeds/large-folio-sharers.rhai (a PTE-mapped THP whose fork child exited, \
         then a write by the parent) --profile sharers-total --profile sharers-precise: before 6.15 the write copies the page; with the mm-id slots the folio is known \
         to be the parent's alone and the page is reused",
        &text,
    );
}

#[test]
fn madv_free_before_4_12_without_swap_unmaps_and_frees() {
    let d = diff_profiles(&trace_events("madv-free-batch.events"), Profile::Linux45, Profile::Linux618);
    let first = d.first.as_ref().expect("the profiles differ");
    let s = &first.summary;
    assert!(
        s.contains("madvise(MADV_FREE) of 0x7f7000000000+0x28000 by pid 700 (jemalloc) on 40 folios (order 0)"),
        "{s}"
    );
    assert!(
        s.contains(
            "under linux-4.5 it unmapped 40 pages, freed 31 pages, made none of their pages lazyfree and took pid \
             700's MM_ANONPAGES from 40 to 0 (pgfree +31, pglazyfree +0)"
        ),
        "{s}"
    );
    assert!(s.contains("under linux-6.18 it unmapped no page, freed no page, made 31 of their pages lazyfree"), "{s}");
    // The figures, named as /proc names them.
    let names: Vec<&str> = first.figures.iter().map(|f| f.name.as_str()).collect();
    for name in [
        "pid 700 (jemalloc) rss_stat MM_ANONPAGES",
        "pid 700 (jemalloc) smaps_rollup LazyFree",
        "LRU inactive_file",
        "lazyfree pages",
        "allocated but unmapped pages",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    let rss = first.figures.iter().find(|f| f.name.ends_with("MM_ANONPAGES")).expect("RSS differs");
    assert_eq!(
        (rss.path.as_str(), rss.unit, &rss.a, &rss.b),
        ("processes[pid=700].rss.anon", "pages", &Value::from(0), &Value::from(40))
    );
    assert!(
        first.changes.contains(&"pid 700 (jemalloc) smaps_rollup LazyFree: 0 vs 124 kB".to_string()),
        "{:?}",
        first.changes
    );
    let text = render_diff_text(&d, "traces/madv-free-batch.events");
    snapshot(
        "madv-free-batch-4.5-vs-6.18",
        "mmdb diff traces/madv-free-batch.events --profile linux-4.5 --profile linux-6.18: without swap, 4.5's \
         MADV_FREE is MADV_DONTNEED (40 pages unmapped, the 31 out of the lru_add batch freed); 6.18 makes them \
         lazyfree",
        &text,
    );
}

#[test]
fn pages_that_differ_alike_group_across_scattered_pfns() {
    // A real recording: the kernel's pfns are scattered, the virtual addresses contiguous.
    let trace = mmdb_trace::parse_ftrace(&repo_file("traces/real/madv-free.ftrace"));
    let events = mmdb_session::verify::replay_trace_profile(&trace, None, Profile::Linux618, true).1.events;
    let d = diff_profiles(&events, Profile::Linux618, Profile::Linux45);
    let first = d.first.as_ref().expect("the profiles differ");
    assert_eq!(first.page_count, 64);
    let sizes: Vec<u64> = first.page_groups.iter().map(|g| g.pages).collect();
    assert_eq!(sizes, [62, 2], "lazyfree pages, then the two still in the lazyfree batch");
    assert!(first.page_groups[0].pfns.len() > 1, "the 62 pages are not one pfn run: {:?}", first.page_groups[0].pfns);
    let rmap = first.page_groups[0].differences.iter().find(|f| f.field == "rmap").expect("mappings differ");
    assert_eq!(rmap.a, serde_json::json!(["pid 26379 PTEs 0x7f2c61477000-0x7f2c614b4000"]));
    assert_eq!(rmap.b, serde_json::json!([]));
    // The task's name comes from the model when the trace line has none.
    assert!(first.summary.contains("by pid 26379 (madv-free) on 64 folios (order 0)"), "{}", first.summary);
}

#[test]
fn equivalent_profiles_show_no_difference() {
    let d = diff_profiles(&sharers_events(), Profile::Linux618, Profile::SharersPrecise);
    assert!(d.first.is_none() && d.figures.is_empty() && d.page_groups.is_empty() && d.results.is_empty(), "{d:?}");
    assert_eq!(
        render_diff_text(&d, "s"),
        "mmdb diff: s: 1036 events under linux-6.18 (A) and sharers-precise (B)\n\
         no difference: both profiles end in the same state\n"
    );
}

#[test]
fn json_keeps_the_old_keys_and_adds_the_structured_ones() {
    let d = diff_profiles(&sharers_events(), Profile::SharersEstimated, Profile::SharersPrecise);
    let v = serde_json::to_value(&d).expect("JSON");
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let mut top = keys(&v);
    top.sort();
    assert_eq!(
        top,
        [
            "a",
            "b",
            "diagnostics",
            "events",
            "figures",
            "first",
            "page_count",
            "page_groups",
            "pages",
            "report",
            "results"
        ]
    );
    let mut first = keys(&v["first"]);
    first.sort();
    assert_eq!(
        first,
        ["changes", "effects", "event", "figures", "line", "page_count", "page_groups", "summary", "text"]
    );
    // Every figure is there twice: as a line (`report`) and structured (`figures`), with its JSON path.
    assert_eq!(v["report"].as_array().map(Vec::len), v["figures"].as_array().map(Vec::len));
    let lazy = v["figures"].as_array().and_then(|f| f.iter().find(|f| f["name"] == "vmstat pglazyfree")).cloned();
    assert_eq!(
        lazy,
        Some(
            serde_json::json!({"name": "vmstat pglazyfree", "path": "vmstat.pglazyfree", "unit": "", "a": 512, "b": 256})
        )
    );
    let grouped: u64 = d.page_groups.iter().map(|g| g.pages).sum();
    assert_eq!(grouped, d.page_count, "the groups hold every differing page once");
}
