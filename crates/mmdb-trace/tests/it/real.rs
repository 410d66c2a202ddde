//! The shared real captures (`traces/real/shared-basic.*`, copies of `../shared/samples`): every line parses, each record kind has the count `grep -c`
//! gives, and the ground truth has its six checkpoints.

use std::collections::BTreeMap;

use mmdb_trace::records::{RssMember, SysEnter, Syscall};
use mmdb_trace::truth::Truth;
use mmdb_trace::{merge_by_time, parse_ftrace, parse_perf, parse_truth_sidefile, truth::Merged, ParsedTrace, Record};

/// Reads a file of the shared sample, kept in the repository as `traces/real/shared-basic.*` (a copy of
/// `../shared/samples/basic.*`: `basic.perf.truth.txt` is `shared-basic.perf.txt.truth`).
#[allow(clippy::disallowed_methods)] // Tests may read their fixtures.
fn sample(name: &str) -> Vec<u8> {
    let name = sample_name(name);
    let path = format!("{}/../../traces/real/{name}", env!("CARGO_MANIFEST_DIR"));
    match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => panic!("{path}: {e}"),
    }
}

/// How many records of each event name a trace has.
fn counts(trace: &ParsedTrace) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for l in &trace.lines {
        *counts.entry(l.record.event_name().to_string()).or_insert(0) += 1;
    }
    counts
}

fn map(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

/// The counts of the events both captures share (as `grep -c` finds them in both files).
const COMMON: &[(&str, usize)] = &[
    ("page_fault_user", 188),
    ("mm_filemap_map_pages", 55),
    ("mm_filemap_fault", 6),
    ("mm_filemap_add_to_page_cache", 1),
    ("sys_enter_mmap", 9),
    ("sys_exit_mmap", 9),
    ("sys_enter_mprotect", 3),
    ("sys_exit_mprotect", 3),
    ("sys_enter_munmap", 2),
    ("sys_exit_munmap", 2),
    ("sys_enter_madvise", 2),
    ("sys_exit_madvise", 2),
    ("sys_enter_clone", 1),
    ("sys_exit_clone", 2),
    ("sys_enter_exit_group", 2),
    ("sys_enter_execve", 1),
    ("sys_exit_execve", 1),
    ("sys_enter_brk", 1),
    ("sys_exit_brk", 1),
    ("sched_process_fork", 1),
    ("sched_process_exec", 1),
    ("sched_process_exit", 2),
];

#[test]
fn basic_ftrace_parses_completely() {
    let trace = parse_ftrace(&sample("basic.ftrace"));
    assert_eq!(trace.errors, vec![]);
    assert_eq!(trace.lost, vec![]);
    // The header says `entries-in-buffer/entries-written: 2655/2655`.
    assert_eq!(trace.lines.len(), 2655);
    let mut expected = map(COMMON);
    expected.extend(map(&[
        ("tracing_mark_write", 845),
        ("mm_page_free", 496),
        ("mm_page_free_batched", 479),
        ("rss_stat", 263),
        ("mm_page_alloc", 143),
        ("mm_lru_insertion", 134),
    ]));
    assert_eq!(counts(&trace), expected);
    assert!(trace.lines.windows(2).all(|w| w[0].line < w[1].line));
    let comms: Vec<&str> = (0..trace.comms.len() as u32).map(|i| trace.comms.get(mmdb_trace::CommId(i))).collect();
    assert_eq!(comms, ["python3", "basic"]);
}

#[test]
fn basic_ftrace_records_have_the_printed_values() {
    let trace = parse_ftrace(&sample("basic.ftrace"));
    let first = |name: &str| trace.lines.iter().find(|l| l.record.event_name() == name).unwrap();
    let l = first("mm_page_alloc");
    assert_eq!((trace.comm(l), l.pid, l.tgid, l.cpu, l.ts_ns, l.line), ("basic", 3175, None, 0, 1_272_594_530_000, 17));
    let Record::MmPageAlloc(a) = &l.record else { unreachable!() };
    assert_eq!((a.pfn, a.order, a.migratetype), (Some(0x1d4c47), 0, 1));
    assert_eq!(mmdb_trace::records::gfp_names(a.gfp_flags), "GFP_HIGHUSER_MOVABLE|__GFP_COMP");
    let Record::RssStat(r) = &first("rss_stat").record else { unreachable!() };
    assert_eq!((r.mm_id, r.curr, r.member, r.size), (3_932_844_115, true, RssMember::FilePages, 3_489_792));
    let Record::SysEnter(SysEnter::Clone { clone_flags, child_tidptr, .. }) = first("sys_enter_clone").record else {
        unreachable!()
    };
    assert_eq!((clone_flags, child_tidptr), (0x1200011, 0x7fbf63276a10));
    let exits: Vec<(u32, i64)> = trace
        .lines
        .iter()
        .filter_map(|l| match l.record {
            Record::SysExit(e) if e.syscall == Syscall::Clone => Some((l.pid, e.ret)),
            _ => None,
        })
        .collect();
    assert_eq!(exits, [(3175, 3180), (3180, 0)]);
}

#[test]
fn basic_ftrace_ground_truth() {
    let trace = parse_ftrace(&sample("basic.ftrace"));
    let truth = Truth::from_trace(&trace);
    assert_eq!(truth.errors, vec![]);
    let record = truth.record.as_ref().unwrap();
    assert_eq!((record.pid, record.cmd.as_str(), record.line), (3175, "./basic", 13));
    let shape: Vec<(u32, usize, usize, usize)> =
        truth.checkpoints.iter().map(|c| (c.id, c.rollups.len(), c.vmas.len(), c.pages.len())).collect();
    assert_eq!(
        shape,
        [(1, 1, 23, 89), (2, 2, 46, 178), (3, 2, 46, 178), (4, 1, 23, 89), (5, 1, 23, 81), (6, 1, 23, 25)]
    );
    assert!(truth.checkpoints.iter().all(|c| c.end_line.is_some()));
}

#[test]
fn basic_perf_parses_completely() {
    let trace = parse_perf(&sample("basic.perf.txt"));
    assert_eq!(trace.errors, vec![]);
    assert_eq!(trace.lost, vec![]);
    assert_eq!(trace.lines.len(), 1857);
    let mut expected = map(COMMON);
    expected.extend(map(&[
        ("mm_page_free", 553),
        ("mm_page_free_batched", 541),
        ("rss_stat", 225),
        ("mm_page_alloc", 142),
        ("mm_lru_insertion", 101),
    ]));
    assert_eq!(counts(&trace), expected);
    let l = &trace.lines[0];
    assert_eq!((trace.comm(l), l.pid, l.tgid, l.cpu, l.ts_ns), ("python3", 3225, Some(3225), 0, 1_277_375_856_759));
}

#[test]
fn basic_perf_truth_merges_by_time() {
    let trace = parse_perf(&sample("basic.perf.txt"));
    let (markers, errors) = parse_truth_sidefile(&sample("basic.perf.truth.txt"));
    assert_eq!(errors, vec![]);
    assert_eq!(markers.len(), 837);
    let truth = Truth::from_sidefile(&sample("basic.perf.truth.txt"));
    assert_eq!(truth.errors, vec![]);
    let pages: Vec<usize> = truth.checkpoints.iter().map(|c| c.pages.len()).collect();
    assert_eq!(pages, [88, 176, 176, 88, 80, 24]); // As `awk` counts them per checkpoint.

    // The traced processes are stopped during a checkpoint, so no event falls inside one, and the checkpoints
    // sit at the program's own stop points: #2 after the fork, #4 after the child's exit, #5 after MADV_DONTNEED.
    let merged: Vec<Merged<'_>> = merge_by_time(&trace.lines, &markers).collect();
    assert_eq!(merged.len(), trace.lines.len() + markers.len());
    let mut open = false;
    let mut seen_fork = false;
    for item in &merged {
        match item {
            Merged::Marker(m) => match m.marker {
                mmdb_trace::Marker::CheckpointBegin { id } => {
                    open = true;
                    assert_eq!(seen_fork, id >= 2, "checkpoint {id}");
                }
                mmdb_trace::Marker::CheckpointEnd { .. } => open = false,
                _ => {}
            },
            Merged::Line(l) => {
                assert!(!open, "line {} inside a checkpoint", l.line);
                seen_fork |= matches!(l.record, Record::SchedProcessFork(_));
            }
        }
    }
    let ts: Vec<u64> = merged
        .iter()
        .map(|m| match m {
            Merged::Line(l) => l.ts_ns,
            Merged::Marker(m) => m.ts_ns,
        })
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
}

/// The repository's name of a file of the shared sample.
fn sample_name(name: &str) -> String {
    match name {
        "basic.perf.truth.txt" => "shared-basic.perf.txt.truth".to_string(),
        _ => format!("shared-{name}"),
    }
}

/// A perf recording's `.lru` file (ftrace text of other tasks' LRU events) merges into it by time, with the
/// comms re-interned and each merged record at the line of the perf record it follows.
#[test]
fn another_trace_merges_by_time() {
    let perf = "\
app   100/100   [001] 1.000000100:  exceptions:page_fault_user: address=0x1000 ip=0x1 error_code=0x6
app   100/100   [001] 1.000000300:  exceptions:page_fault_user: address=0x2000 ip=0x1 error_code=0x6
";
    let lru = "\
      kworker/1:0-40    [001] d..2.     1.000000200: mm_lru_insertion: folio=0 pfn=0x10 lru=0 flags=M
      kworker/1:0-40    [001] d..2.     1.000000400: mm_lru_insertion: folio=0 pfn=0x11 lru=0 flags=M
";
    let mut trace = parse_perf(perf.as_bytes());
    assert!(trace.errors.is_empty(), "{:?}", trace.errors);
    trace.merge(parse_ftrace(lru.as_bytes()));
    let seen: Vec<(u64, u32, &str)> = trace.lines.iter().map(|l| (l.ts_ns, l.line, trace.comms.get(l.comm))).collect();
    assert_eq!(
        seen,
        [
            (1_000_000_100, 1, "app"),
            (1_000_000_200, 1, "kworker/1:0"),
            (1_000_000_300, 2, "app"),
            (1_000_000_400, 2, "kworker/1:0")
        ]
    );
}
