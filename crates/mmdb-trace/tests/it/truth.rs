//! Ground-truth markers: the grammar both ways, side files, and the checkpoint rules.

use mmdb_trace::truth::{ExecStack, ExecVma, Page, PageCache, PageCachePage, Perms, Rollup, Vma};
use mmdb_trace::{collect_checkpoints, parse_marker, parse_truth_sidefile, Marker, TimedMarker};
use proptest::prelude::*;

#[test]
fn every_kind_parses_from_real_lines() {
    assert_eq!(
        parse_marker("mmdb-record pid=3225 cmd=./basic --flag  two"),
        Ok(Marker::Record { pid: 3225, cmd: "./basic --flag  two".into() })
    );
    assert_eq!(parse_marker("mmdb-checkpoint begin id=1"), Ok(Marker::CheckpointBegin { id: 1 }));
    assert_eq!(parse_marker("mmdb-checkpoint end id=12"), Ok(Marker::CheckpointEnd { id: 12 }));
    assert_eq!(
        parse_marker(
            "mmdb-rollup pid=3225 rss_kb=1668 pss_kb=416 anon_kb=288 lazyfree_kb=0 anonhuge_kb=0 swap_kb=0 \
             rss_anon_kb=288 rss_file_kb=1380 rss_shmem_kb=0"
        ),
        Ok(Marker::Rollup(Rollup {
            pid: 3225,
            rss_kb: 1668,
            pss_kb: 416,
            anon_kb: 288,
            lazyfree_kb: 0,
            anonhuge_kb: 0,
            swap_kb: 0,
            rss_anon_kb: 288,
            rss_file_kb: 1380,
            rss_shmem_kb: 0
        }))
    );
    assert_eq!(
        parse_marker("mmdb-vma pid=3225 start=0x7f6d8ed3c000 end=0x7f6d8ed62000 perms=r--p offset=0x0 name=/usr/lib/x86_64-linux-gnu/libc.so.6"),
        Ok(Marker::Vma(Vma {
            pid: 3225,
            start: 0x7f6d8ed3c000,
            end: 0x7f6d8ed62000,
            perms: Perms { read: true, write: false, exec: false, shared: false },
            offset: 0,
            name: "/usr/lib/x86_64-linux-gnu/libc.so.6".into()
        }))
    );
    assert_eq!(
        parse_marker("mmdb-vma pid=1 start=0x1000 end=0x2000 perms=rw-s offset=0x0 name=/memfd:my buffer (deleted)"),
        Ok(Marker::Vma(Vma {
            pid: 1,
            start: 0x1000,
            end: 0x2000,
            perms: Perms { read: true, write: true, exec: false, shared: true },
            offset: 0,
            name: "/memfd:my buffer (deleted)".into()
        }))
    );
    assert_eq!(
        parse_marker(
            "mmdb-page pid=3225 vaddr=0x55a18b4b9000 pfn=0x1a2b3c present=1 swapped=0 excl=1 soft_dirty=0 file=0 \
             mapcount=1 kflags=0x400005868"
        ),
        Ok(Marker::Page(Page {
            pid: 3225,
            vaddr: 0x55a18b4b9000,
            pfn: 0x1a2b3c,
            present: true,
            swapped: false,
            excl: true,
            soft_dirty: false,
            file: false,
            mapcount: 1,
            kflags: 0x400005868
        }))
    );
}

/// The message and the found token of a marker that does not parse.
fn error(text: &str) -> (String, usize) {
    match parse_marker(text) {
        Ok(m) => panic!("{text}: parsed as {m:?}"),
        Err(e) => (e.to_parse_error(1, text).message(), e.offset),
    }
}

#[test]
fn errors_say_what_the_grammar_expects() {
    assert_eq!(error("mmdb-rollup pid=1 rss_kb=2").0, "expected `pss_kb=<Pss>`, found end of line");
    assert_eq!(error("mmdb-rollup pid=1 pss_kb=2").0, "expected `rss_kb=<Rss>`, found `pss_kb=2`");
    assert_eq!(error("mmdb-page pid=1 vaddr=0x1 pfn=0x2 present=2").0, "expected `0` or `1` for `present`, found `2`");
    assert_eq!(
        error("mmdb-vma pid=1 start=0x1 end=0x2 perms=rwx offset=0x0 name=x").0,
        "expected `[r-][w-][x-][ps]` for `perms`, found `rwx`"
    );
    assert_eq!(error("mmdb-vma pid=1 start=0xg end=0x2").0, "expected a number 0x<hex> for `start`, found `0xg`");
    assert_eq!(error("mmdb-checkpoint middle id=1").0, "expected `begin` or `end`, found `middle`");
    assert_eq!(
        error("mmdb-checkpoint begin id=4294967296").0,
        "expected a number below 2^32 for `id`, found `4294967296`"
    );
    assert_eq!(error("mmdb-checkpoint end id=1 extra").0, "expected end of line, found `extra`");
    assert_eq!(
        error("mmdb-snapshot id=1"),
        (
            "expected a marker: `mmdb-record`, `mmdb-checkpoint`, `mmdb-rollup`, `mmdb-vma`, `mmdb-page`, \
             `mmdb-exec-vma`, `mmdb-exec`, `mmdb-pagecache`, `mmdb-pagecache-page`, `mmdb-bdi` or `mmdb-outside`, found \
             `mmdb-snapshot`"
                .to_string(),
            0
        )
    );
    assert_eq!(error("mmdb-record cmd=x").0, "expected `pid=<P>`, found `cmd=x`");
}

#[test]
fn side_file_errors_point_into_the_line() {
    let text = "1.000000001: mmdb-record pid=1 cmd=x\n\n# comment\n2.5: mmdb-checkpoint begin id=x\nnot a line\n";
    let (markers, errors) = parse_truth_sidefile(text.as_bytes());
    assert_eq!(
        markers,
        [TimedMarker { ts_ns: 1_000_000_001, line: 1, marker: Marker::Record { pid: 1, cmd: "x".into() } }]
    );
    let errors: Vec<(u32, u32, String)> = errors.iter().map(|e| (e.line, e.column, e.message())).collect();
    assert_eq!(
        errors,
        [
            (4, 31, "expected a number <N> for `id`, found `x`".to_string()),
            (5, 1, "expected a timestamp `<secs>.<frac>:`, found `not`".to_string()),
        ]
    );
}

/// Markers at consecutive lines and times.
fn timed(markers: &[&str]) -> Vec<TimedMarker> {
    markers
        .iter()
        .enumerate()
        .map(|(i, text)| match parse_marker(text) {
            Ok(marker) => TimedMarker { ts_ns: i as u64 * 1000, line: i as u32 + 1, marker },
            Err(e) => panic!("{text}: {e:?}"),
        })
        .collect()
}

const ROLLUP: &str =
    "rss_kb=1 pss_kb=1 anon_kb=1 lazyfree_kb=0 anonhuge_kb=0 swap_kb=0 rss_anon_kb=1 rss_file_kb=0 rss_shmem_kb=0";

fn rollup(pid: u32) -> String {
    format!("mmdb-rollup pid={pid} {ROLLUP}")
}

fn vma(pid: u32, start: u64) -> String {
    format!("mmdb-vma pid={pid} start={start:#x} end={:#x} perms=rw-p offset=0x0 name=[anon]", start + 0x1000)
}

fn page(pid: u32, vaddr: u64) -> String {
    format!("mmdb-page pid={pid} vaddr={vaddr:#x} pfn=0x1 present=1 swapped=0 excl=1 soft_dirty=0 file=0 mapcount=1 kflags=0x0")
}

/// The (line, message) of every rule violation.
fn violations(markers: &[&str]) -> Vec<(u32, String)> {
    collect_checkpoints(&timed(markers)).errors.iter().map(|e| (e.line, e.message())).collect()
}

#[test]
fn a_well_formed_trace_has_no_violations() {
    let (r1, v1, p1, r2, v2, p2) =
        (rollup(1), vma(1, 0x1000), page(1, 0x1000), rollup(2), vma(2, 0x1000), page(2, 0x1000));
    let markers = [
        "mmdb-record pid=1 cmd=./a",
        "mmdb-checkpoint begin id=1",
        &r1,
        &v1,
        &p1,
        &r2,
        &v2,
        &p2,
        "mmdb-checkpoint end id=1",
        "mmdb-checkpoint begin id=2",
        "mmdb-checkpoint end id=2",
    ];
    let truth = collect_checkpoints(&timed(&markers));
    assert_eq!(truth.errors, vec![]);
    assert_eq!(truth.record.as_ref().map(|r| (r.pid, r.line)), Some((1, 1)));
    let shape: Vec<_> = truth
        .checkpoints
        .iter()
        .map(|c| (c.id, c.line, c.end_line, c.ts_ns, c.rollups.len(), c.vmas.len(), c.pages.len()))
        .collect();
    assert_eq!(shape, [(1, 2, Some(9), 1000, 2, 2, 2), (2, 10, Some(11), 9000, 0, 0, 0)]);
    assert_eq!(truth.checkpoints[0].pages[1].line, 8);
}

#[test]
fn a_missing_rollup_is_one_error_not_one_per_line() {
    let (v1, v2, p1, p2) = (vma(1, 0x1000), vma(1, 0x2000), page(1, 0x1000), page(1, 0x2000));
    let got = violations(&["mmdb-checkpoint begin id=1", &v1, &v2, &p1, &p2, "mmdb-checkpoint end id=1"]);
    assert_eq!(got, [(2, "expected the rollup line of pid 1 first, found `pid=1`".to_string())]);
    // Its rules still hold for the lines that follow.
    let got = violations(&["mmdb-checkpoint begin id=1", &p2, &p1, "mmdb-checkpoint end id=1"]);
    assert_eq!(
        got,
        [
            (2, "expected the rollup line of pid 1 first, found `pid=1`".to_string()),
            (3, "expected page lines in address order, found `vaddr=0x1000`".to_string())
        ]
    );
}

#[test]
fn rule_violations_are_errors_with_lines() {
    let (r1, r2, v1, p1) = (rollup(1), rollup(2), vma(1, 0x2000), page(1, 0x2000));
    let (v1_low, p1_low, p2) = (vma(1, 0x1000), page(1, 0x1000), page(2, 0x1000));
    let got = violations(&[
        "mmdb-checkpoint begin id=2",    // 1: ids start at 1
        &r2,                             // 2
        &r1,                             // 3: pids must increase
        &v1,                             // 4
        &p1,                             // 5
        &v1_low,                         // 6: VMA after a page
        &p1_low,                         // 7: pages out of order
        &p2,                             // 8: not the current process
        "mmdb-checkpoint end id=3",      // 9: not the open checkpoint
        "mmdb-checkpoint end id=3",      // 10: no open checkpoint
        &r1,                             // 11: outside a checkpoint
        "mmdb-checkpoint begin id=2",    // 12: duplicate id, its lines are dropped
        &r1,                             // 13
        "mmdb-checkpoint end id=2",      // 14
        "mmdb-record pid=1 cmd=./late",  // 15: after the first checkpoint
        "mmdb-record pid=1 cmd=./again", // 16: a second record
        "mmdb-checkpoint begin id=3",    // 17
        "mmdb-checkpoint begin id=4",    // 18: 3 never ended
    ]);
    let expected: Vec<(u32, String)> = [
        (1, "expected id=1 (ids start at 1 and increase by 1), found `id=2`"),
        (3, "expected one rollup per process, by increasing pid (after pid 2), found `pid=1`"),
        (6, "expected VMA lines before page lines, found `mmdb-vma`"),
        (7, "expected page lines in address order, found `vaddr=0x1000`"),
        (8, "expected the rollup line of pid 2 first, found `pid=2`"),
        (9, "expected id=2 (the open checkpoint), found `id=3`"),
        (10, "expected `mmdb-checkpoint begin` before its end, found `end`"),
        (11, "expected `mmdb-checkpoint begin` before snapshot lines, found `mmdb-`"),
        (12, "expected a new checkpoint id (id=2 began at line 1), found `id=2`"),
        (15, "expected `mmdb-record` before the first checkpoint, found `mmdb-record`"),
        (16, "expected one `mmdb-record` (the first is at line 15), found `mmdb-record`"),
        (18, "expected `mmdb-checkpoint end id=3` before the next begin, found `begin`"),
        (18, "expected `mmdb-checkpoint end id=4` after it, found `begin`"),
    ]
    .iter()
    .map(|&(l, m)| (l, m.to_string()))
    .collect();
    assert_eq!(got, expected);
}

#[test]
fn the_duplicate_checkpoints_lines_are_dropped() {
    let r1 = rollup(1);
    let truth = collect_checkpoints(&timed(&[
        "mmdb-checkpoint begin id=1",
        "mmdb-checkpoint end id=1",
        "mmdb-checkpoint begin id=1",
        &r1,
        "mmdb-checkpoint end id=1",
    ]));
    assert_eq!(truth.errors.len(), 1);
    assert_eq!(truth.checkpoints.len(), 1);
    assert!(truth.checkpoints[0].rollups.is_empty());
}

/// `mmdb-outside` lines belong to the checkpoint that begins after them, and to no other.
#[test]
fn outside_lines_go_with_the_next_checkpoint() {
    let truth = collect_checkpoints(&timed(&[
        "mmdb-outside pfn=0x179cf2 mapcount=4",
        "mmdb-pagecache-page dev=254:0 ino=325745 index=0 pfn=0x179cf2 kflags=0x40000086c",
        "mmdb-outside pfn=0x494bbf mapcount=1",
        "mmdb-checkpoint begin id=1",
        "mmdb-checkpoint end id=1",
        "mmdb-checkpoint begin id=2",
        "mmdb-checkpoint end id=2",
    ]));
    assert!(truth.errors.is_empty(), "{:?}", truth.errors);
    let outside: Vec<Vec<(u64, u64)>> =
        truth.checkpoints.iter().map(|c| c.outside.iter().map(|(&p, &n)| (p, n)).collect()).collect();
    assert_eq!(outside, [vec![(0x179cf2, 4), (0x494bbf, 1)], vec![]]);
}

fn perms() -> impl Strategy<Value = Perms> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(read, write, exec, shared)| Perms {
        read,
        write,
        exec,
        shared,
    })
}

/// Text for `cmd=`/`name=`: anything on one line.
fn rest_of_line() -> impl Strategy<Value = String> {
    prop_oneof!["[^\n\r]{0,30}", "[a-z/._ \\[\\]:-]{0,20}", Just("[anon]".to_string())]
}

fn marker() -> impl Strategy<Value = Marker> {
    prop_oneof![
        (any::<u32>(), rest_of_line()).prop_map(|(pid, cmd)| Marker::Record { pid, cmd }),
        any::<u32>().prop_map(|id| Marker::CheckpointBegin { id }),
        any::<u32>().prop_map(|id| Marker::CheckpointEnd { id }),
        (any::<u32>(), proptest::array::uniform9(any::<u64>())).prop_map(|(pid, v)| Marker::Rollup(Rollup {
            pid,
            rss_kb: v[0],
            pss_kb: v[1],
            anon_kb: v[2],
            lazyfree_kb: v[3],
            anonhuge_kb: v[4],
            swap_kb: v[5],
            rss_anon_kb: v[6],
            rss_file_kb: v[7],
            rss_shmem_kb: v[8],
        })),
        (any::<u32>(), any::<u64>(), any::<u64>(), perms(), any::<u64>(), rest_of_line()).prop_map(
            |(pid, start, end, perms, offset, name)| Marker::Vma(Vma { pid, start, end, perms, offset, name })
        ),
        (
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            proptest::array::uniform5(any::<bool>()),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(pid, vaddr, pfn, b, mapcount, kflags)| Marker::Page(Page {
                pid,
                vaddr,
                pfn,
                present: b[0],
                swapped: b[1],
                excl: b[2],
                soft_dirty: b[3],
                file: b[4],
                mapcount,
                kflags,
            })),
        (
            any::<(u32, u32)>(),
            any::<u64>(),
            0u64..1 << 40,
            0u64..5000,
            proptest::collection::btree_set(0u64..5000, 0..20)
        )
            .prop_map(|(dev, ino, first, pages, points)| {
                // Sorted distinct indexes inside the described ones, paired into disjoint ranges.
                let points: Vec<u64> = points.into_iter().filter(|p| *p < pages).map(|p| first + p).collect();
                let cached: Vec<(u64, u64)> = points.chunks(2).map(|c| (c[0], c[c.len() - 1])).collect();
                // Every other cached range's first page carries the readahead mark.
                let readahead = cached.iter().step_by(2).map(|&(a, _)| (a, a)).collect();
                Marker::PageCache(PageCache { dev, ino, first, pages, cached, readahead })
            }),
        (any::<(u32, u32)>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
            |(dev, ino, index, pfn, kflags)| Marker::PageCachePage(PageCachePage { dev, ino, index, pfn, kflags })
        ),
        (any::<u64>(), any::<u64>()).prop_map(|(pfn, mapcount)| Marker::Outside { pfn, mapcount }),
        (any::<(u32, u32)>(), any::<u64>()).prop_map(|(dev, read_ahead_kb)| Marker::Bdi { dev, read_ahead_kb }),
    ]
}

#[test]
fn the_samples_markers_print_back_byte_for_byte() {
    for line in include_str!("../data/truth-excerpt.txt").lines() {
        let (_, text) = line.split_once(": ").unwrap();
        let marker = parse_marker(text).unwrap();
        assert_eq!(marker.to_string(), text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn display_round_trips(m in marker()) {
        let text = m.to_string();
        prop_assert_eq!(parse_marker(&text), Ok(m), "{}", text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[^\n]{0,120}", prefix in prop::sample::select(vec!["", "mmdb-record ", "mmdb-checkpoint ", "mmdb-rollup pid=1 ", "mmdb-vma pid=1 ", "mmdb-page pid=1 ", "mmdb-pagecache dev=8:1 ino=5 first=0 pages=64 cached="])) {
        let _ = parse_marker(&format!("{prefix}{text}"));
    }

    #[test]
    fn unicode_side_file_lines_never_panic(ts in "[0-9.:]{0,12}", text in "\\PC{0,80}") {
        let _ = parse_truth_sidefile(format!("{ts}: mmdb-vma pid=1 {text}\n{ts}{text}").as_bytes());
    }

    #[test]
    fn arbitrary_side_files_never_panic(src in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_truth_sidefile(&src);
    }

    #[test]
    fn any_marker_sequence_is_collected_without_panic(markers in proptest::collection::vec(marker(), 0..40)) {
        let timed: Vec<TimedMarker> =
            markers.into_iter().enumerate().map(|(i, marker)| TimedMarker { ts_ns: i as u64, line: i as u32 + 1, marker }).collect();
        let truth = collect_checkpoints(&timed);
        prop_assert!(truth.errors.windows(2).all(|w| w[0].line <= w[1].line));
    }
}

/// Exec's layout markers (inputs written by `mmdb record` at the exec stop) parse and print back exactly.
#[test]
fn exec_layout_markers_round_trip() {
    let vma = "mmdb-exec-vma pid=31658 start=0x7f2d6cbda000 end=0x7f2d6cbdb000 perms=r--p offset=0x0 dev=254:0 \
               ino=325843 name=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";
    let parsed = parse_marker(vma);
    let want = Marker::ExecVma(ExecVma {
        vma: Vma {
            pid: 31658,
            start: 0x7f2d6cbda000,
            end: 0x7f2d6cbdb000,
            perms: Perms::parse("r--p").expect("perms"),
            offset: 0,
            name: "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into(),
        },
        dev: (254, 0),
        ino: 325843,
    });
    assert_eq!(parsed, Ok(want.clone()));
    assert_eq!(want.to_string(), vma);
    let exec = "mmdb-exec pid=31658 start_stack=0x7ffc02c60f70 arg_start=0x7ffc02c61ac3 arg_end=0x7ffc02c61ad0 \
                env_end=0x7ffc02c61fe0";
    let want = Marker::Exec(ExecStack {
        pid: 31658,
        start_stack: 0x7ffc02c60f70,
        arg_start: 0x7ffc02c61ac3,
        arg_end: Some(0x7ffc02c61ad0),
        env_end: 0x7ffc02c61fe0,
    });
    assert_eq!(parse_marker(exec), Ok(want.clone()));
    assert_eq!(want.to_string(), exec);
    // Recordings made before `arg_end` was written still read.
    let old = "mmdb-exec pid=31658 start_stack=0x7ffc02c60f70 arg_start=0x7ffc02c61ac3 env_end=0x7ffc02c61fe0";
    let Marker::Exec(new) = want else { unreachable!("built above") };
    let want_old = Marker::Exec(ExecStack { arg_end: None, ..new });
    assert_eq!(parse_marker(old), Ok(want_old.clone()));
    assert_eq!(want_old.to_string(), old);
    assert_eq!(
        error("mmdb-exec-vma pid=1 start=0x1000 end=0x2000 perms=r--p offset=0x0 dev=fe00 ino=1 name=x").0,
        "expected `<MAJ>:<MIN>` (decimal) for `dev`, found `fe00`"
    );
    // They are inputs, not part of a checkpoint: a trace of layout markers alone has no checkpoint and no error.
    let truth = collect_checkpoints(&timed(&["mmdb-record pid=1 cmd=x", vma, exec]));
    assert!(truth.errors.is_empty() && truth.checkpoints.is_empty(), "{:?}", truth.errors);
}

/// Page-cache residency markers (inputs written by `mmdb record`) parse and print back exactly; damaged ranges are
/// errors at their place, and the markers are not part of a checkpoint.
#[test]
fn pagecache_markers_round_trip() {
    let text = "mmdb-pagecache dev=254:0 ino=5341728 first=0 pages=64 cached=0-4,6-39,41-63";
    let want = Marker::PageCache(PageCache {
        dev: (254, 0),
        ino: 5341728,
        first: 0,
        pages: 64,
        cached: vec![(0, 4), (6, 39), (41, 63)],
        readahead: Vec::new(),
    });
    assert_eq!(parse_marker(text), Ok(want.clone()));
    assert_eq!(want.to_string(), text);
    let Marker::PageCache(p) = &want else { unreachable!("built above") };
    assert_eq!(p.uncached(), [(5, 5), (40, 40)]);
    // A single index, nothing cached, a later part of a long file.
    for text in [
        "mmdb-pagecache dev=8:1 ino=12 first=0 pages=3 cached=1",
        "mmdb-pagecache dev=8:1 ino=12 first=0 pages=0 cached=-",
        "mmdb-pagecache dev=8:1 ino=12 first=4096 pages=100 cached=4096,4098-4195",
        "mmdb-pagecache dev=8:1 ino=12 first=0 pages=64 cached=0-63 readahead=17,40-41",
    ] {
        let m = parse_marker(text).expect(text);
        assert_eq!(m.to_string(), text);
    }
    let none = parse_marker("mmdb-pagecache dev=8:1 ino=12 first=10 pages=3 cached=-").expect("none cached");
    let Marker::PageCache(p) = none else { unreachable!("a pagecache marker") };
    assert_eq!(p.uncached(), [(10, 12)]);
    let base = "mmdb-pagecache dev=8:1 ino=12 first=10 pages=20";
    let inside = "page ranges inside `first` .. `first + pages - 1` for `cached`";
    let order = "increasing, disjoint page ranges for `cached`";
    let syntax = "`-` or decimal page ranges `a-b` or `a` joined by `,` for `cached`";
    // (the ranges, what is expected, where in the ranges the error points)
    for (cached, expected, at) in [
        ("5-11", inside, 0),
        ("10-30", inside, 0),
        ("12,11", order, 3),
        ("12-14,14", order, 6),
        ("13-12", order, 0),
        ("12,x", syntax, 3),
        ("12,,14", syntax, 3),
    ] {
        let line = format!("{base} cached={cached}");
        let e = parse_marker(&line).expect_err(&line);
        assert_eq!((e.expected.as_ref(), e.offset), (expected, base.len() + 8 + at), "{line}");
    }
    assert_eq!(
        error("mmdb-pagecache dev=8:1 ino=12 first=0 pages=3").0,
        "expected `cached=<ranges|->`, found end of line"
    );
    // Readahead marks are on cached pages only, and the field is absent rather than empty.
    let mark = "cached page ranges for `readahead`";
    let syntax = syntax.replace("cached", "readahead");
    for (readahead, expected, at) in [("11", mark, 0), ("-", mark, 0), ("14-16", mark, 0), ("13,x", &syntax, 3)] {
        let line = format!("{base} cached=12-15 readahead={readahead}");
        let e = parse_marker(&line).expect_err(&line);
        let field = base.len() + " cached=12-15 readahead=".len();
        assert_eq!((e.expected.as_ref(), e.offset), (expected, field + at), "{line}");
    }
    assert_eq!(
        error("mmdb-pagecache dev=8 ino=12 first=0 pages=3 cached=-").0,
        "expected `<MAJ>:<MIN>` (decimal) for `dev`, found `8`"
    );
    // Huge indexes do not overflow.
    let edge = format!("mmdb-pagecache dev=8:1 ino=12 first={} pages=2 cached={}", u64::MAX - 1, u64::MAX);
    assert_eq!(parse_marker(&edge).expect("edge").to_string(), edge);
    let truth = collect_checkpoints(&timed(&[
        "mmdb-record pid=1 cmd=x",
        text,
        "mmdb-checkpoint begin id=1",
        "mmdb-checkpoint end id=1",
        text,
    ]));
    assert!(truth.errors.is_empty() && truth.checkpoints.len() == 1, "{:?}", truth.errors);
}
