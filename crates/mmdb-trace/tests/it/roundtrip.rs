//! Property tests: printing then parsing gives back the same events, and no input makes the parser panic.

use mmdb_model::{Access, Event, FileRef, Op};
use mmdb_trace::{format_event, parse_events, parse_events_bytes, write_events};
use proptest::prelude::*;

/// Comms without line breaks or NUL bytes (the printer writes `?` for those, as no kernel comm has them), with
/// spaces and dashes, and not starting with a blank (the padding eats those).
fn comm() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _./:#<>()\\[\\]-]{0,20}",
        "[^\n\r\0]{0,20}",
        Just("<...>".to_string()),
        Just("Web Content".to_string()),
        Just("-1 [2] x-3".to_string()),
    ]
    .prop_filter("no leading blank", |s| !s.starts_with([' ', '\t']))
}

/// Any string, or a short plain one.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z/._:-]{1,12}", "[ -~]{0,12}"]
}

/// Any `u64`, or a small one (so that decimal and suffix-friendly values also occur).
fn num() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), 0u64..0x10000, Just(0)]
}

fn access() -> impl Strategy<Value = Access> {
    prop_oneof![Just(Access::Read), Just(Access::Write), Just(Access::Exec)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        text().prop_map(|comm| Op::Spawn { comm }),
        (any::<u32>(), any::<bool>()).prop_map(|(child, thread)| Op::Fork { child, thread }),
        text().prop_map(|filename| Op::Exec { filename }),
        text().prop_map(|comm| Op::Rename { comm }),
        Just(Op::Exit),
        (proptest::option::of(num()), num(), num(), num(), proptest::option::of((text(), num()))).prop_map(
            |(addr, len, prot, flags, file)| Op::Mmap {
                addr,
                len,
                prot,
                flags,
                file: file.map(|(name, offset)| FileRef { name, offset }),
            }
        ),
        (num(), num()).prop_map(|(addr, len)| Op::Munmap { addr, len }),
        (num(), num(), num()).prop_map(|(addr, len, prot)| Op::Mprotect { addr, len, prot }),
        (num(), num(), num(), num(), proptest::option::of(num())).prop_map(
            |(addr, old_len, new_len, flags, new_addr)| Op::Mremap { addr, old_len, new_len, flags, new_addr }
        ),
        num().prop_map(|brk| Op::Brk { brk }),
        (num(), access(), proptest::option::of(num()), proptest::option::of((num(), num())))
            .prop_map(|(addr, access, pfn, around)| Op::Fault { addr, access, pfn, around }),
        (num(), access()).prop_map(|(addr, access)| Op::Touch { addr, access }),
        (num(), num(), prop_oneof![any::<i64>(), 0i64..30]).prop_map(|(addr, len, advice)| Op::Madvise {
            addr,
            len,
            advice
        }),
        (num(), num()).prop_map(|(addr, len)| Op::Mlock { addr, len }),
        (num(), num()).prop_map(|(addr, len)| Op::Munlock { addr, len }),
        Just(Op::LruAddDrain),
        Just(Op::LruAddDrainAll),
        (num(), proptest::option::of(any::<u32>())).prop_map(|(nr, memcg)| Op::Reclaim { nr, memcg }),
        num().prop_map(|pfn| Op::ShrinkFolio { pfn }),
        (num(), any::<bool>()).prop_map(|(addr, write)| Op::Gup { addr, write }),
        proptest::sample::select(mmdb_model::lru::BatchKind::ALL.to_vec())
            .prop_map(|batch| Op::FolioBatchMove { batch }),
        (num(), num()).prop_map(|(addr, value)| Op::Store { addr, value }),
        (any::<u32>(), num()).prop_map(|(id, limit)| Op::MemcgCreate { id, limit }),
        any::<u32>().prop_map(|id| Op::MemcgAttach { id }),
        num().prop_map(|size| Op::Swapon { size }),
        (any::<u32>(), any::<bool>()).prop_map(|(order, account)| Op::KmemAlloc { order, account }),
        num().prop_map(|pfn| Op::KmemGet { pfn }),
        num().prop_map(|pfn| Op::FolioGet { pfn }),
        num().prop_map(|pfn| Op::FolioPut { pfn }),
        (num(), proptest::sample::select(mmdb_model::kmem::KmemFreeVia::ALL.to_vec()))
            .prop_map(|(pfn, via)| Op::KmemFree { pfn, via }),
        any::<bool>().prop_map(|account| Op::BalloonInflate { account }),
        num().prop_map(|pfn| Op::BalloonDeflate { pfn }),
        (num(), num(), any::<bool>(), any::<bool>()).prop_map(|(addr, len, novolatile, partial)| {
            use mmdb_model::vrange::{VrangeBehavior, VrangeMode};
            let mode = if novolatile { VrangeMode::Novolatile } else { VrangeMode::Volatile };
            let behavior = if partial { VrangeBehavior::Partial } else { VrangeBehavior::Full };
            Op::Vrange { addr, len, mode, behavior }
        }),
        (text(), num(), num(), any::<bool>(), any::<bool>()).prop_map(|(file, index, pages, cached, ra)| {
            Op::PageCache { file, index, pages, cached, readahead: cached && ra }
        }),
        (text(), num(), num(), num()).prop_map(|(file, index, pfn, kflags)| Op::PageCacheFrame {
            file,
            index,
            pfn,
            kflags
        }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let ts = prop_oneof![any::<u64>(), any::<u64>().prop_map(|t| t / 1000 * 1000)];
    (comm(), any::<u32>(), 0u32..mmdb_trace::lexer::MAX_CPUS, ts, op()).prop_map(|(comm, pid, cpu, ts_ns, op)| Event {
        comm,
        pid,
        cpu,
        ts_ns,
        op,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn format_then_parse_is_identity(ev in event()) {
        let line = format_event(&ev);
        prop_assert!(!line.contains('\n'));
        let parsed = parse_events(&line);
        prop_assert!(parsed.errors.is_empty(), "{line:?}: {:?}", parsed.errors);
        prop_assert_eq!(parsed.events.len(), 1);
        prop_assert_eq!(&parsed.events[0].value, &ev, "{:?}", line);
    }

    #[test]
    fn write_events_round_trips(evs in proptest::collection::vec(event(), 0..8)) {
        let text = write_events(&evs);
        prop_assert!(text.starts_with("# mmdb events v1\n"));
        let parsed = parse_events_bytes(text.as_bytes());
        prop_assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let got: Vec<Event> = parsed.events.into_iter().map(|e| e.value).collect();
        prop_assert_eq!(got, evs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(src in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_sane(&src);
    }

    #[test]
    fn near_miss_text_never_panics(src in "[a-z0-9A-Z_ \\-\\[\\]().:=|\"\\\\#<>\r\n\t\u{e9}]{0,200}") {
        check_sane(src.as_bytes());
    }

    #[test]
    fn mutated_lines_never_panic(ev in event(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = format_event(&ev).into_bytes();
        for (at, b) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        check_sane(&bytes);
    }
}

/// Parses `src` and checks that every event and error lies on a line of `src`, one result per line at most.
fn check_sane(src: &[u8]) {
    let parsed = parse_events_bytes(src);
    let lines = src.split(|&b| b == b'\n').count();
    let max = u32::try_from(lines).unwrap_or(u32::MAX);
    assert!(parsed.events.len() + parsed.errors.len() <= lines);
    for e in &parsed.errors {
        assert!(e.line >= 1 && e.line <= max && e.column >= 1, "{e:?}");
        assert!(!e.render("x").is_empty());
    }
    assert!(parsed.events.iter().all(|e| e.line >= 1 && e.line <= max));
    if let Ok(text) = std::str::from_utf8(src) {
        assert_eq!(parse_events(text), parsed);
    }
}

/// Formats then parses one event, returning the line and what came back.
fn round_trip(ev: &Event) -> (String, Option<Event>) {
    let line = format_event(ev);
    let parsed = parse_events(&line);
    assert!(parsed.errors.is_empty(), "{line:?}: {:?}", parsed.errors);
    (line, parsed.events.into_iter().next().map(|e| e.value))
}

#[test]
fn awkward_comms_and_timestamps_round_trip() {
    let base = Event { comm: String::new(), pid: 7, cpu: 1, ts_ns: 0, op: Op::Exit };
    for comm in ["", "################", "#a", "a\tb", "tab\t", "x-12", "(1)", "a (1) [2]", "-1 [0] 0.1 x", "é-"] {
        let ev = Event { comm: comm.to_string(), ..base.clone() };
        let (line, back) = round_trip(&ev);
        assert_eq!(back.as_ref(), Some(&ev), "{line:?}");
    }
    for ts_ns in [0, 1, 999, 1000, 1_000_000_000, u64::MAX, u64::MAX / 1000 * 1000] {
        let ev = Event { ts_ns, ..base.clone() };
        let (line, back) = round_trip(&ev);
        assert_eq!(back.as_ref(), Some(&ev), "{line:?}");
    }
}

#[test]
fn printed_lines_look_like_ftrace() {
    let ev = |ts_ns, op| Event { comm: "app".to_string(), pid: 100, cpu: 0, ts_ns, op };
    let evs = [
        ev(100_000, Op::Mmap { addr: Some(0x7f00_0000_0000), len: 0x40000, prot: 3, flags: 0x22, file: None }),
        ev(200_000, Op::Fault { addr: 0x7f00_0000_0000, access: Access::Write, pfn: Some(0x10_0000), around: None }),
        ev(300_001, Op::Fork { child: 101, thread: true }),
        ev(400_000, Op::Exec { filename: "my \"prog\"".to_string() }),
        ev(500_000, Op::Madvise { addr: 0x1000, len: 0x2000, advice: 8 }),
        ev(600_000, Op::Mremap { addr: 0x1000, old_len: 0x1000, new_len: 0x2000, flags: 0, new_addr: None }),
        ev(700_000, Op::Exit),
    ];
    let expected = "\
# mmdb events v1
             app-100     [000]     0.000100: mmap: addr=0x7f0000000000 len=0x40000 prot=PROT_READ|PROT_WRITE flags=MAP_PRIVATE|MAP_ANONYMOUS
             app-100     [000]     0.000200: fault: addr=0x7f0000000000 access=write pfn=0x100000
             app-100     [000]     0.000300001: fork: child=101 thread=1
             app-100     [000]     0.000400: exec: filename=\"my \\\"prog\\\"\"
             app-100     [000]     0.000500: madvise: addr=0x1000 len=0x2000 advice=MADV_FREE
             app-100     [000]     0.000600: mremap: addr=0x1000 old_len=0x1000 new_len=0x2000 flags=0
             app-100     [000]     0.000700: exit:
";
    assert_eq!(write_events(&evs), expected);
    let comm = Event { comm: "a\nb".to_string(), ..evs[6].clone() };
    assert_eq!(format_event(&comm), "             a?b-100     [000]     0.000700: exit:");
}
