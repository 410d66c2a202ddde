//! Unit tests: the text and JSON renderings of a hand-built replay, and the replay bookkeeping.

use std::collections::BTreeMap;

use mmdb_model::{
    Diagnostic, MemcgReport, PageTotals, ProcessReport, Report, RssCounters, Severity, SmapsRollup, SwapReport,
    Violation, VmaReport,
};

use crate::{render_json, render_text, ParseError, Replay};
use mmdb_trace::ErrorTally;

/// A replay of a made-up trace: one process with two VMAs, a memcg, swap, findings and a parse error.
fn sample() -> Replay {
    let smaps = SmapsRollup {
        rss_kb: 192,
        pss_kb: 128,
        private_dirty_kb: 192,
        referenced_kb: 192,
        anon_kb: 192,
        ..SmapsRollup::default()
    };
    let vmstat: BTreeMap<String, u64> = [
        ("pgfault", 64),
        ("pgalloc_normal", 56),
        ("pgfree", 0),
        ("thp_fault_alloc", 0),
        ("nr_anon_pages", 56),
        ("pgactivate", 3),
        ("pglazyfree", 12),
        ("pglazyfreed", 4),
        ("pgrefill", 7),
        ("pgscan_anon", 9),
        ("pgsteal_anon", 9),
        ("pswpout", 2),
        ("cow_ksm", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let report = Report {
        events: 42,
        last_ts_ns: 1_200_000,
        processes: vec![ProcessReport {
            pid: 100,
            tgid: 100,
            comm: "app".to_string(),
            mm_id: 1,
            memcg: 1,
            vmas: vec![
                VmaReport {
                    start: 0x5555_5555_4000,
                    end: 0x5555_5557_5000,
                    perms: "rw-p".to_string(),
                    flags: vec![],
                    offset: 0,
                    name: "[heap]".to_string(),
                    smaps: SmapsRollup::default(),
                },
                VmaReport {
                    start: 0x7f00_0000_0000,
                    end: 0x7f00_0004_0000,
                    perms: "rw-p".to_string(),
                    flags: vec!["VM_HUGEPAGE".to_string(), "VM_LOCKED".to_string()],
                    offset: 0,
                    name: "[anon]".to_string(),
                    smaps: SmapsRollup { locked_kb: 192, ..smaps },
                },
            ],
            rss: RssCounters { file: 0, anon: 48, swapents: 0, shmem: 0 },
            smaps,
            rss_lazyfree: None,
        }],
        pages: PageTotals {
            folios: 56,
            pages: 56,
            anon: 56,
            mapped: 50,
            unmapped: 6,
            in_batch: 20,
            inactive_anon: 30,
            zero_page_ptes: 16,
            ..PageTotals::default()
        },
        vmstat,
        memcgs: vec![MemcgReport {
            id: 1,
            limit_pages: 8192,
            usage_pages: 100,
            max_usage_pages: 120,
            reclaims: 3,
            oom_kills: 0,
            kmem_pages: 0,
            kmem_leaked_pages: 0,
        }],
        swap: Some(SwapReport { total_pages: 16384, used_pages: 100 }),
        violations: vec![Violation {
            event: 40,
            invariant: "rss-walk".to_string(),
            message: "MM_ANONPAGES is 48, the page tables map 47 anon pages".to_string(),
        }],
        diagnostics: vec![
            Diagnostic {
                event: 17,
                severity: Severity::Warning,
                kind: "segv".to_string(),
                message: "fault at 0x1000 outside any VMA".to_string(),
            },
            Diagnostic {
                event: 30,
                severity: Severity::Info,
                kind: "einval".to_string(),
                message: "madvise returned -EINVAL".to_string(),
            },
        ],
    };
    let mut event_lines: Vec<u32> = (0..42).map(|i| i + 2).collect();
    event_lines[17] = 23;
    let parse_errors = vec![ParseError {
        line: 5,
        column: 12,
        excerpt: "100 0 0.000100 fault addr=zz".to_string(),
        expected: "a hexadecimal address".to_string(),
        found: Some("zz".to_string()),
    }];
    Replay { report, error_tally: ErrorTally::of(&parse_errors), parse_errors, event_lines, parsed_events: 50 }
}

/// An empty replay: nothing parsed, nothing applied.
fn empty() -> Replay {
    Replay {
        report: Report {
            events: 0,
            last_ts_ns: 0,
            processes: vec![],
            pages: PageTotals::default(),
            vmstat: BTreeMap::new(),
            memcgs: vec![],
            swap: None,
            violations: vec![],
            diagnostics: vec![],
        },
        parse_errors: vec![],
        error_tally: ErrorTally::default(),
        event_lines: vec![],
        parsed_events: 0,
    }
}

#[track_caller]
fn check(actual: &str, expected: &str) {
    let expected = expected.strip_prefix('\n').unwrap_or(expected);
    if actual != expected {
        panic!("rendering differs\n--- expected\n{expected}\n--- actual\n{actual}\n---");
    }
}

#[test]
fn text_full_report() {
    check(
        &render_text(&sample(), "traces/fork-cow.events"),
        "
mmdb replay: traces/fork-cow.events: 42 of 50 events, last at 0.001200
process 100 (app) tgid 100 mm 1 memcg 1
  rss: file 0 anon 48 swapents 0 shmem 0 (pages)
  smaps: Rss 192 kB  Pss 128 kB  Anonymous 192 kB  LazyFree 0 kB  AnonHugePages 0 kB  Swap 0 kB
         Shared_Clean 0 kB  Shared_Dirty 0 kB  Private_Clean 0 kB  Private_Dirty 192 kB  Referenced 192 kB  Locked 0 kB
  vmas:
    555555554000-555555575000 rw-p 00000000 [heap]  Rss   0 kB  Pss   0 kB
    7f0000000000-7f0000040000 rw-p 00000000 [anon]  Rss 192 kB  Pss 128 kB  Anonymous 192 kB  Locked 192 kB  VM_HUGEPAGE  VM_LOCKED
pages: 56 folios, 56 pages: anon 56, file 0, mapped 50, unmapped 6, lazyfree 0, thp 0, swapcache 0, in-batch 20, isolated 0
lru: inactive_anon 30 active_anon 0 inactive_file 0 active_file 0 unevictable 0
zero page: 16 ptes, huge zero: 0 pmds
vmstat: cow_ksm 1 nr_anon_pages 56 pgactivate 3 pgalloc_normal 56 pgfault 64 pglazyfree 12
  pglazyfreed 4 pgrefill 7 pgscan_anon 9 pgsteal_anon 9 pswpout 2
memcg 1: limit 8192 pages, usage 100 pages (max 120), reclaims 3, oom kills 0
swap: 100 of 16384 pages used
parse errors: 1, at line 5 (skipped)
diagnostics (2):
  event 18 (line 23) warning segv: fault at 0x1000 outside any VMA
  event 31 (line 32) info einval: madvise returned -EINVAL
violations (1):
  event 41 (line 42) rss-walk: MM_ANONPAGES is 48, the page tables map 47 anon pages
",
    );
}

#[test]
fn text_empty_report() {
    check(
        &render_text(&empty(), "empty.events"),
        "
mmdb replay: empty.events: 0 events, last at 0.000000
processes: none
pages: 0 folios, 0 pages: anon 0, file 0, mapped 0, unmapped 0, lazyfree 0, thp 0, swapcache 0, in-batch 0, isolated 0
lru: inactive_anon 0 active_anon 0 inactive_file 0 active_file 0 unevictable 0
zero page: 0 ptes, huge zero: 0 pmds
vmstat: all zero
diagnostics: none
violations: none
",
    );
}

#[test]
fn text_nanosecond_timestamps_and_unknown_lines() {
    let mut r = empty();
    r.report.last_ts_ns = 1_272_600_565_123;
    r.report.memcgs.push(MemcgReport {
        id: 2,
        limit_pages: 0,
        usage_pages: 1,
        max_usage_pages: 1,
        reclaims: 0,
        oom_kills: 0,
        kmem_pages: 0,
        kmem_leaked_pages: 0,
    });
    r.report.violations.push(Violation { event: 7, invariant: "lru".to_string(), message: "x".to_string() });
    r.parse_errors = (1..=12)
        .map(|line| ParseError {
            line,
            column: 1,
            excerpt: String::new(),
            expected: "an event".to_string(),
            found: None,
        })
        .collect();
    r.error_tally = ErrorTally::of(&r.parse_errors);
    let text = render_text(&r, "t");
    assert!(text.starts_with("mmdb replay: t: 0 events, last at 1272.600565123\n"), "{text}");
    assert!(text.contains("\nmemcg 2: unlimited, usage 1 pages (max 1), reclaims 0, oom kills 0\n"), "{text}");
    assert!(text.contains("\nparse errors: 12, at lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, … (skipped)\n"), "{text}");
    // An event without a known line is still named.
    assert!(text.contains("\n  event 8 lru: x\n"), "{text}");
}

#[test]
fn text_is_deterministic_and_has_no_trailing_spaces() {
    let a = render_text(&sample(), "p");
    assert_eq!(a, render_text(&sample(), "p"));
    for line in a.lines() {
        assert_eq!(line, line.trim_end(), "trailing space in {line:?}");
    }
}

#[test]
fn json_report() {
    let replay = sample();
    let text = render_json(&replay, "traces/fork-cow.events");
    assert!(text.ends_with("}\n"));
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(err) => panic!("invalid JSON ({err}):\n{text}"),
    };
    assert_eq!(v["mmdb_report_version"], 1);
    assert_eq!(v["trace"], "traces/fork-cow.events");
    assert_eq!(
        v["parse_errors"],
        serde_json::json!([{
            "line": 5,
            "column": 12,
            "expected": "a hexadecimal address",
            "found": "zz",
            "excerpt": "100 0 0.000100 fault addr=zz",
        }])
    );
    let back: Report = match serde_json::from_value(v["report"].clone()) {
        Ok(r) => r,
        Err(err) => panic!("report does not round-trip ({err})"),
    };
    assert_eq!(back, replay.report);
    // The keys come in the documented order.
    let keys: Vec<usize> = ["mmdb_report_version", "trace", "parse_errors", "report"]
        .iter()
        .filter_map(|k| text.find(&format!("\n  \"{k}\":")))
        .collect();
    assert_eq!(keys.len(), 4, "{text}");
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn json_empty_report() {
    let text = render_json(&empty(), "-");
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(err) => panic!("invalid JSON ({err}):\n{text}"),
    };
    assert_eq!(v["parse_errors"], serde_json::json!([]));
    assert_eq!(v["report"]["swap"], serde_json::Value::Null);
    assert_eq!(v["report"]["events"], 0);
}

#[test]
fn line_of_and_is_clean() {
    let r = sample();
    assert_eq!(r.line_of(0), Some(2));
    assert_eq!(r.line_of(17), Some(23));
    assert_eq!(r.line_of(42), None);
    assert_eq!(r.line_of(u64::MAX), None);
    assert!(!r.is_clean());

    let mut r = empty();
    assert!(r.is_clean());
    r.report.diagnostics.push(Diagnostic {
        event: 0,
        severity: Severity::Info,
        kind: "oom-kill".to_string(),
        message: "killed 100".to_string(),
    });
    assert!(r.is_clean(), "info diagnostics are not findings");
    r.report.diagnostics[0].severity = Severity::Warning;
    assert!(!r.is_clean());
}

/// A four-event trace with a comment, a blank line and one bad line.
const TRACE: &str = "\
# mmdb events v1
             app-100     [000]     0.000050: spawn: comm=app

             app-100     [000]     0.000100: mmap: addr=0x7f0000000000 len=0x40000 prot=PROT_READ|PROT_WRITE flags=MAP_PRIVATE|MAP_ANONYMOUS
             app-100     [000]     0.000150: nonsense: x=1
             app-100     [000]     0.000200: fault: addr=0x7f0000000000 access=write
             app-100     [000]     0.000300: fault: addr=0x7f0000001000 access=read
";

#[test]
fn replay_maps_events_to_lines_and_collects_parse_errors() {
    let r = crate::replay(TRACE.as_bytes(), &crate::ReplayOptions::default());
    assert_eq!(r.event_lines, vec![2, 4, 6, 7]);
    assert_eq!(r.parsed_events, 4);
    assert_eq!(r.report.events, 4);
    assert_eq!(r.report.last_ts_ns, 300_000);
    assert_eq!(r.parse_errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![5]);
    assert_eq!(r.line_of(2), Some(6));
    assert!(!r.is_clean());
}

#[test]
fn replay_until_stops_after_event_n() {
    let opts = crate::ReplayOptions { check: true, until: Some(2), history: false, ..Default::default() };
    let r = crate::replay(TRACE.as_bytes(), &opts);
    assert_eq!(r.event_lines, vec![2, 4]);
    assert_eq!((r.report.events, r.parsed_events), (2, 4));
    assert_eq!(r.report.last_ts_ns, 100_000);
    // Parse errors past the stopping point are still reported.
    assert_eq!(r.parse_errors.len(), 1);
    assert!(render_text(&r, "t").starts_with("mmdb replay: t: 2 of 4 events, last at 0.000100\n"));

    let r = crate::replay(TRACE.as_bytes(), &crate::ReplayOptions { until: Some(0), ..opts });
    assert_eq!((r.report.events, r.event_lines.len()), (0, 0));
}

#[test]
fn replay_of_nothing_is_clean() {
    let r = crate::replay(b"", &crate::ReplayOptions::default());
    assert!(r.is_clean());
    assert_eq!(render_text(&r, "e"), render_text(&empty(), "e"));
}
