//! Format detection: headers decide, otherwise record lines vote.

use mmdb_trace::{detect, detect_format, Format};

#[test]
fn headers_decide() {
    let d = detect(include_bytes!("../data/ftrace-tgid.txt"));
    assert_eq!((d.format, d.certain, d.reason.as_str()), (Format::Ftrace, true, "header line 1: # tracer: nop"));
    assert_eq!(detect_format(include_bytes!("../data/trace-cmd-report.txt")), Format::Ftrace);
    let mm = format!("{}\n  app-100 [000] 0.000100: mm_page_free: pfn=0x1 order=0\n", mmdb_trace::HEADER);
    assert_eq!(detect_format(mm.as_bytes()), Format::Mmdb);
}

#[test]
fn record_lines_vote() {
    let d = detect(include_bytes!("../data/perf-ns-lost.txt"));
    assert_eq!((d.format, d.certain, d.reason.as_str()), (Format::Perf, true, "9 of 9 record lines look like perf"));
    assert_eq!(detect_format(include_bytes!("../data/perf-default.txt")), Format::Perf);
    let ftrace = "  basic-3175 [000] d.... 1272.594494: page_fault_user: address=0x1 ip=0x2 error_code=0x7\n\
                  CPU:1 [LOST 3 EVENTS]\n";
    let d = detect(ftrace.as_bytes());
    assert_eq!(
        (d.format, d.certain, d.reason.as_str()),
        (Format::Ftrace, true, "2 of 2 record lines look like ftrace")
    );
    let mm = "  app-100 [000] 0.000100: mmap: addr=0x7f0000000000 len=0x40000 prot=PROT_READ flags=MAP_PRIVATE\n\
              \n  app-100 [000] 0.000200: fault: addr=0x7f0000000000 access=write\n";
    assert_eq!(detect_format(mm.as_bytes()), Format::Mmdb);
}

#[test]
fn unknown_input_is_a_guess_with_a_reason() {
    let d = detect(b"hello\nworld\n");
    assert_eq!(
        (d.format, d.certain, d.reason.as_str()),
        (Format::Ftrace, false, "no record line found; guessing ftrace")
    );
    let mixed = "  app-1 [000] 0.1: fault: addr=0x1 access=read\n\
                 \x20 app 1 [000] 0.2: kmem:mm_page_free: pfn=0x1 order=0\n\
                 \x20 app 1 [000] 0.3: kmem:mm_page_free: pfn=0x1 order=0\n";
    let d = detect(mixed.as_bytes());
    assert_eq!((d.format, d.certain, d.reason.as_str()), (Format::Perf, false, "2 of 3 record lines look like perf"));
}
