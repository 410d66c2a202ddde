//! ftrace text in its variants: TGID column, no irq column, `<...>` and odd comms, loss notices, trace-cmd report,
//! raw records, errors, and no panic on any input.

use mmdb_trace::records::{MmPageFree, RawRecord, SysEnter, SysExit, Syscall};
use mmdb_trace::{parse_ftrace, Lost, ParsedTrace, Record};
use proptest::prelude::*;

/// A record line's (comm, pid, tgid, cpu, ts_ns, line).
type Prefix<'a> = (&'a str, u32, Option<u32>, u32, u64, u32);

/// The prefix of every record line.
fn prefixes(trace: &ParsedTrace) -> Vec<Prefix<'_>> {
    trace.lines.iter().map(|l| (trace.comm(l), l.pid, l.tgid, l.cpu, l.ts_ns, l.line)).collect()
}

fn names(trace: &ParsedTrace) -> Vec<&str> {
    trace.lines.iter().map(|l| l.record.event_name()).collect()
}

/// Parses one record line that must parse.
fn one(line: &str) -> Record {
    let trace = parse_ftrace(line.as_bytes());
    assert_eq!(trace.errors, vec![], "{line}");
    assert_eq!(trace.lines.len(), 1, "{line}");
    trace.lines[0].record.clone()
}

#[test]
fn tgid_column_odd_comms_and_lost_notices() {
    let trace = parse_ftrace(include_bytes!("../data/ftrace-tgid.txt"));
    assert_eq!(trace.errors, vec![]);
    assert_eq!(
        prefixes(&trace),
        [
            ("basic", 3175, Some(3175), 0, 1_272_602_905_000, 13),
            ("basic", 3175, Some(3175), 0, 1_272_603_015_000, 14),
            ("basic", 3175, Some(3175), 0, 1_272_603_040_000, 15),
            ("<...>", 3180, Some(3180), 1, 1_272_603_087_000, 17),
            ("Web Content", 2801, Some(2790), 1, 1_272_603_100_000, 18),
            ("kworker/u8:1-events", 12, None, 0, 1_272_603_200_000, 19),
            ("basic", 3180, Some(3175), 1, 1_272_616_979_000, 20),
        ]
    );
    assert_eq!(trace.lost, [Lost { line: 16, cpu: Some(1), count: Some(2) }]);
    assert_eq!(
        names(&trace),
        [
            "sys_enter_clone",
            "sched_process_fork",
            "sys_exit_clone",
            "sys_exit_clone",
            "page_fault_user",
            "mm_page_free_batched",
            "sys_enter_exit_group"
        ]
    );
    assert_eq!(trace.lines[2].record, Record::SysExit(SysExit { syscall: Syscall::Clone, ret: 0xc6c }));
}

#[test]
fn trace_cmd_report() {
    let trace = parse_ftrace(include_bytes!("../data/trace-cmd-report.txt"));
    assert_eq!(trace.errors, vec![]);
    assert_eq!(
        trace.lost,
        [Lost { line: 6, cpu: Some(1), count: Some(204_600) }, Lost { line: 9, cpu: Some(0), count: None }]
    );
    assert_eq!(
        names(&trace),
        [
            "tracing_mark_write",
            "page_fault_user",
            "mm_page_free",
            "sys_enter_execve",
            "sched_process_exec",
            "sched_switch"
        ]
    );
    assert_eq!(trace.lines[0].record, Record::TracingMarkWrite { buf: "mmdb-record pid=3175 cmd=./basic".into() });
    assert_eq!(trace.lines[2].record, Record::MmPageFree(MmPageFree { pfn: 0x19272d, order: 0 }));
    assert_eq!(
        trace.lines[3].record,
        Record::SysEnter(SysEnter::Execve { filename: 0x7f7c2301a030, argv: 0x7f7c2354c9e0, envp: 0x7f7c230ea330 })
    );
    let Record::Raw(r) = &trace.lines[5].record else { panic!("{:?}", trace.lines[5]) };
    let RawRecord { system, event, fields_text } = &**r;
    assert_eq!((system.as_deref(), event.as_str()), (None, "sched_switch"));
    assert!(fields_text.starts_with("prev_comm=basic prev_pid=3175"));
    // No irq column in trace-cmd's default output.
    assert_eq!(prefixes(&trace)[1], ("basic", 3175, None, 0, 1_272_594_494_000, 5));
}

#[test]
fn no_irq_column_and_no_header() {
    let text = "  app-100     [000]     0.000100: mm_page_free: page=0000000070e6bb79 pfn=0x10 order=2\r\n\
                \r\n\
                  app-100     [000]     0.000200: mm_page_free: page=0000000070e6bb79 pfn=0x11 order=0\n";
    let trace = parse_ftrace(text.as_bytes());
    assert_eq!(trace.errors, vec![]);
    assert_eq!(prefixes(&trace), [("app", 100, None, 0, 100_000, 1), ("app", 100, None, 0, 200_000, 3)]);
    assert_eq!(trace.lines[0].record, Record::MmPageFree(MmPageFree { pfn: 0x10, order: 2 }));
}

#[test]
fn syscalls_in_old_and_verbose_shapes() {
    let prefix = "           basic-3175    [000] .....  1272.596403: ";
    // Kernels before 6.1x print every argument in hex without `0x`.
    assert_eq!(
        one(&format!("{prefix}sys_mmap(addr: 0, len: 2000, prot: 3, flags: 22, fd: ffffffff, off: 0)")),
        Record::SysEnter(SysEnter::Mmap { addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffff_ffff, off: 0 })
    );
    // The `verbose` trace option prints each argument's C type.
    assert_eq!(
        one(&format!("{prefix}sys_munmap(unsigned long addr: 7fbf6345b000, size_t len: 8513)")),
        Record::SysEnter(SysEnter::Munmap { addr: 0x7fbf6345b000, len: 0x8513 })
    );
    assert_eq!(one(&format!("{prefix}sys_fork()")), Record::SysEnter(SysEnter::Fork));
    assert_eq!(
        one(&format!("{prefix}sys_mmap -> 0xfffffffffffffff4")),
        Record::SysExit(SysExit { syscall: Syscall::Mmap, ret: -12 })
    );
    let Record::Raw(r) = one(&format!("{prefix}sys_openat(dfd: 0xffffff9c)")) else { panic!() };
    let RawRecord { system: None, event, fields_text } = *r else { panic!() };
    assert_eq!((event.as_str(), fields_text.as_str()), ("sys_openat", "(dfd: 0xffffff9c)"));
    let Record::Raw(r) = one(&format!("{prefix}sys_openat -> 0x3")) else { panic!() };
    let RawRecord { event, fields_text, .. } = *r;
    assert_eq!((event.as_str(), fields_text.as_str()), ("sys_openat", "-> 0x3"));
}

#[test]
fn unknown_events_are_raw() {
    let line = "          <idle>-0       [001] d..2.  1272.600000: sched_switch: prev_comm=swapper/1 prev_pid=0 ==> next_comm=basic";
    let Record::Raw(r) = one(line) else { panic!() };
    let RawRecord { system, event, fields_text } = *r;
    assert_eq!(system, None);
    assert_eq!(event, "sched_switch");
    assert_eq!(fields_text, "prev_comm=swapper/1 prev_pid=0 ==> next_comm=basic");
    let Record::Raw(r) = one("  a-1 [000] 1.0: bare_event") else { panic!() };
    let RawRecord { event, fields_text, .. } = *r;
    assert_eq!((event.as_str(), fields_text.as_str()), ("bare_event", ""));
}

#[test]
fn bad_lines_are_errors_and_parsing_goes_on() {
    let text: &[u8] = b"\
           basic-3175    [000] .....  1272.594516: mm_page_free: page=00000000d171b5dc order=0
           basic-3175    [000] .....  1272.594517: mm_page_free: page=00000000d171b5dc pfn=0xzz order=0
this is not a trace line
           basic-3175    [000] .....  1272.594518: sys_mmap(addr: 0, len: 0x2000
           basic-3175    [000] .....  1272.594519: mm_page_free: page=00000000d171b5dc pfn=0x1 order=0
\xff\xfe
           basic-3175    [000] .....  1272.594520: rss_stat: mm_id=1 curr=1 type=MM_BOGUS size=4096B
";
    let trace = parse_ftrace(text);
    assert_eq!(trace.lines.len(), 1);
    assert_eq!(trace.lines[0].line, 5);
    let errors: Vec<(u32, String)> = trace.errors.iter().map(|e| (e.line, e.message())).collect();
    assert_eq!(
        errors,
        [
            (1, "expected a `pfn=` field, found end of line".to_string()),
            (2, "expected a hexadecimal number for `pfn`, found `0xzz`".to_string()),
            (3, "expected a record `<comm>-<pid> [<cpu>] <secs>.<frac>: <event>: ...`, found `this`".to_string()),
            (4, "expected `)` closing the syscall's arguments, found end of line".to_string()),
            (6, "expected valid UTF-8, found `\\xff`".to_string()),
            (
                7,
                "expected `MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SWAPENTS` or `MM_SHMEMPAGES` for `type`, found `MM_BOGUS`"
                    .to_string()
            ),
        ]
    );
    let e = &trace.errors[1];
    assert_eq!(e.column as usize, e.excerpt.find("0xzz").unwrap() + 1);
    assert!(e.render("t.ftrace").contains(&format!("--> t.ftrace:2:{}", e.column)));
}

#[test]
fn fields_are_read_by_name() {
    let prefix = "  a-1 [000] 1.0: ";
    assert_eq!(
        one(&format!("{prefix}mm_page_free: order=3 extra=7 pfn=0x5 page=0000000070e6bb79")),
        Record::MmPageFree(MmPageFree { pfn: 5, order: 3 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(src in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_ftrace(&src);
    }

    #[test]
    fn any_text_after_a_known_event_never_panics(
        event in prop::sample::select(vec![
            "", "mm_page_alloc: ", "mm_lru_insertion: pfn=0x1 lru=0 flags=", "mm_filemap_add_to_page_cache: dev ",
            "mm_filemap_map_pages: ofs=", "sched_process_fork: comm=", "mark_victim: pid=1 ", "sys_mmap(",
            "sys_mmap -> ", "sys_enter_mmap: ", "print: ", "tracing_mark_write: mmdb-",
        ]),
        text in "\\PC{0,80}",
    ) {
        let _ = parse_ftrace(format!("  a-1 (  1) [000] d.... 1.0: {event}{text}").as_bytes());
        let _ = parse_ftrace(format!("{text}-1 [000] 1.0: {event}{text}").as_bytes());
    }

    #[test]
    fn mutated_real_lines_never_panic(
        line in prop::sample::select(include_str!("../data/ftrace-tgid.txt").lines().collect::<Vec<_>>()),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = line.as_bytes().to_vec();
        for (at, b) in edits {
            let i = at.index(bytes.len() + 1);
            if i < bytes.len() { bytes[i] = b } else { bytes.push(b) }
        }
        let trace = parse_ftrace(&bytes);
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        prop_assert!(trace.lines.len() + trace.errors.len() + trace.lost.len() <= lines);
    }
}
