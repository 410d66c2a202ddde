//! `perf script` text in its variants: default columns with microseconds, `-F ...pid,tid... --ns`, lost-event
//! notices, raw records, errors, and no panic on any input.

use mmdb_trace::records::{
    LruList, MmFilemapPageCache, MmLruInsertion, PageFaultUser, RawRecord, SchedProcessExit, SchedProcessFork,
    SysEnter, SysExit, Syscall,
};
use mmdb_trace::{parse_perf, Lost, ParsedTrace, Record};
use proptest::prelude::*;

/// A record line's (comm, pid, tgid, cpu, ts_ns, line).
type Prefix<'a> = (&'a str, u32, Option<u32>, u32, u64, u32);

/// The prefix of every record line.
fn prefixes(trace: &ParsedTrace) -> Vec<Prefix<'_>> {
    trace.lines.iter().map(|l| (trace.comm(l), l.pid, l.tgid, l.cpu, l.ts_ns, l.line)).collect()
}

#[test]
fn default_columns_in_microseconds() {
    let trace = parse_perf(include_bytes!("../data/perf-default.txt"));
    assert_eq!(trace.errors, vec![]);
    assert_eq!(
        prefixes(&trace),
        [
            ("python3", 3225, None, 0, 1_277_375_856_000, 1),
            ("python3", 3225, None, 0, 1_277_375_919_000, 2),
            ("basic", 3225, None, 0, 1_277_378_063_000, 3),
            ("basic", 3225, None, 0, 1_277_378_092_000, 4),
            ("Web Content", 2801, None, 1, 1_277_378_153_000, 5),
            ("basic", 3363, None, 1, 1_277_398_604_000, 6),
        ]
    );
    let records: Vec<&Record> = trace.lines.iter().map(|l| &l.record).collect();
    assert_eq!(
        records[0],
        &Record::PageFaultUser(PageFaultUser { address: 0x7f516fd51c20, ip: 0x7f516f8ff04a, error_code: 7 })
    );
    assert_eq!(
        records[2],
        &Record::SysEnter(SysEnter::Mmap { addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffff_ffff, off: 0 })
    );
    assert_eq!(records[3], &Record::SysExit(SysExit { syscall: Syscall::Mmap, ret: 0x7f6d8ef27000 }));
    assert_eq!(
        records[4],
        &Record::MmLruInsertion(MmLruInsertion {
            pfn: 0x170b17,
            lru: LruList::InactiveAnon,
            flags: 0x1 | 0x2 | 0x10 | 0x20
        })
    );
    assert_eq!(
        records[5],
        &Record::SchedProcessExit(SchedProcessExit {
            comm: "basic".into(),
            pid: 3363,
            prio: 120,
            group_dead: Some(true)
        })
    );
}

#[test]
fn pid_tid_nanoseconds_and_lost_events() {
    let trace = parse_perf(include_bytes!("../data/perf-ns-lost.txt"));
    assert_eq!(trace.errors, vec![]);
    assert_eq!(
        trace.lost,
        [Lost { line: 4, cpu: Some(1), count: Some(17) }, Lost { line: 5, cpu: Some(0), count: Some(3) }]
    );
    assert_eq!(
        prefixes(&trace),
        [
            ("python3", 3225, Some(3225), 0, 1_277_375_856_759, 1),
            ("basic", 3225, Some(3225), 0, 1_277_378_548_901, 2),
            ("basic", 3225, Some(3225), 0, 1_277_381_680_167, 3),
            ("basic", 3225, Some(3225), 0, 1_277_383_175_353, 6),
            ("basic", 3363, Some(3363), 1, 1_277_383_208_948, 7),
            ("basic", 3225, Some(3225), 0, 1_277_383_208_949, 8),
            ("basic", 3225, Some(3225), 0, 1_277_383_208_950, 9),
        ]
    );
    let records: Vec<&Record> = trace.lines.iter().map(|l| &l.record).collect();
    let dev = mmdb_trace::records::Dev { major: 254, minor: 0 };
    assert_eq!(
        records[1],
        &Record::MmFilemapAddToPageCache(MmFilemapPageCache {
            pfn: 0x1557f8,
            i_ino: 0x51207e,
            index: 0,
            s_dev: dev,
            order: 0
        })
    );
    assert_eq!(
        records[2],
        &Record::SysEnter(SysEnter::Clone {
            clone_flags: 0x01200011,
            newsp: 0,
            parent_tidptr: 0,
            child_tidptr: 0x7f6d8ed39a10,
            tls: 0
        })
    );
    assert_eq!(
        records[3],
        &Record::SchedProcessFork(SchedProcessFork {
            parent_comm: "basic".into(),
            parent_pid: 3225,
            child_comm: "basic".into(),
            child_pid: 3363
        })
    );
    assert_eq!(records[4], &Record::SysExit(SysExit { syscall: Syscall::Clone, ret: 0 }));
    let Record::Raw(r) = records[5] else { panic!() };
    let RawRecord { system, event, fields_text } = &**r;
    assert_eq!((system.as_deref(), event.as_str()), (Some("sched"), "sched_switch"));
    assert!(fields_text.starts_with("prev_comm=basic"));
    let Record::Raw(r) = records[6] else { panic!() };
    let RawRecord { system, event, .. } = &**r;
    assert_eq!((system.as_deref(), event.as_str()), (Some("syscalls"), "sys_enter_openat"));
}

#[test]
fn a_known_name_under_another_system_is_raw() {
    let trace = parse_perf(b"  a 1 [000] 1.000001: mine:mm_page_free: whatever\n");
    assert_eq!(trace.errors, vec![]);
    assert!(matches!(&trace.lines[0].record, Record::Raw(r) if r.system.as_deref() == Some("mine")));
}

#[test]
fn bad_lines_are_errors() {
    let text = "\
# perf script header comment
  basic  3225/3225  [000]  1277.378548901:  kmem:mm_page_free: page=0x1 order=0
  no timestamp at all
  basic  3225/3225  1277.378548902:  kmem:mm_page_free: page=0x1 pfn=0x1 order=0
  basic  [000]  1277.378548903:  kmem:mm_page_free: page=0x1 pfn=0x1 order=0
  basic  3225/3225  [000]  1277.378548904:  no_colon_event
  basic  3225/3225  [000]  1277.378548905:  syscalls:sys_exit_mmap: nothex
";
    let trace = parse_perf(text.as_bytes());
    assert_eq!(trace.lines, vec![]);
    let errors: Vec<(u32, String)> = trace.errors.iter().map(|e| (e.line, e.message())).collect();
    assert_eq!(
        errors,
        [
            (2, "expected a `pfn=` field, found end of line".to_string()),
            (3, "expected a record `<comm> <pid>[/<tid>] [<cpu>] <secs>.<frac>: <event>: ...`, found `no`".to_string()),
            (4, "expected a CPU column `[<cpu>]` (perf script -F cpu), found `basic`".to_string()),
            (5, "expected a pid before the CPU column, found `basic`".to_string()),
            (6, "expected an event name `<system>:<event>:`, found `no_colon_event`".to_string()),
            (7, "expected a return value in hex, found `nothex`".to_string()),
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(src in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_perf(&src);
    }

    #[test]
    fn any_text_after_a_known_event_never_panics(
        event in prop::sample::select(vec![
            "", "kmem:mm_page_alloc: ", "kmem:rss_stat: ", "syscalls:sys_enter_mmap: ", "syscalls:sys_exit_mmap: ",
            "filemap:mm_filemap_add_to_page_cache: dev ", "PERF_RECORD_LOST", "oom:mark_victim: pid=1 ",
        ]),
        text in "\\PC{0,80}",
    ) {
        let _ = parse_perf(format!("  a  1/1  [000]  1.000000001: {event}{text}").as_bytes());
        let _ = parse_perf(format!("{text} 1 [000] 1.000001: {event}{text}").as_bytes());
    }

    #[test]
    fn mutated_real_lines_never_panic(
        line in prop::sample::select(include_str!("../data/perf-ns-lost.txt").lines().collect::<Vec<_>>()),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = line.as_bytes().to_vec();
        for (at, b) in edits {
            let i = at.index(bytes.len() + 1);
            if i < bytes.len() { bytes[i] = b } else { bytes.push(b) }
        }
        let _ = parse_perf(&bytes);
    }
}
