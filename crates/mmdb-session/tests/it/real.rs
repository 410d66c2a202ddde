//! Replays of the shared real recordings (`traces/real/shared-basic.*`, copies of `../shared/samples`, recorded on 6.18.44) with verification.
//!
//! The figures are floors measured when the lowering was written: a change that makes the model agree less with
//! the real kernel fails here. Raise them when the model improves.

use mmdb_session::verify::{render_real_text, replay_trace};
use mmdb_trace::truth::parse_truth_sidefile;
use mmdb_trace::{parse_ftrace, parse_perf};

/// Reads a file of the shared sample, kept in the repository as `traces/real/shared-basic.*` (a copy of
/// `../shared/samples/basic.*`: `basic.perf.truth.txt` is `shared-basic.perf.txt.truth`).
fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/../../traces/real/{}", env!("CARGO_MANIFEST_DIR"), sample_name(name));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn basic_ftrace_replays_and_verifies() {
    let trace = parse_ftrace(&sample("basic.ftrace"));
    let r = replay_trace(&trace, None);
    assert!(r.parse_errors.is_empty(), "{:?}", r.parse_errors.first());
    assert!(r.report.violations.is_empty(), "{:#?}", r.report.violations);
    let v = &r.verify;
    assert_eq!(v.checkpoints, 6);
    assert_eq!(v.pages.total, 640);
    assert!(v.pages.agree >= 548, "pages agree {} of {}", v.pages.agree, v.pages.total);
    let explained: u64 = v.page_causes.iter().map(|(_, n)| n).sum();
    assert_eq!(explained, v.pages.total - v.pages.agree, "every disagreement has a cause");
    assert_eq!(v.rollups.total, 8);
    assert!(v.rss_stat.total >= 133);
    assert!(v.rss_stat.matched >= 78, "rss_stat matched {} of {}", v.rss_stat.matched, v.rss_stat.total);
    // MM_ANONPAGES: exec's pages are placed, so every comparable counter but two agrees.
    assert!(r.rss.by_member[1].1 + 2 >= r.rss.by_member[1].0, "MM_ANONPAGES {:?}", r.rss.by_member[1]);
    // The report leads with the divergences and shows the figures.
    let text = render_real_text(&r, "basic.ftrace", true);
    assert!(text.contains("divergences ("));
    assert!(text.contains(&format!("pages: {} of 640 agree", v.pages.agree)));
}

#[test]
fn basic_perf_replays_with_its_side_file() {
    let trace = parse_perf(&sample("basic.perf.txt"));
    let (markers, errors) = parse_truth_sidefile(&sample("basic.perf.truth.txt"));
    assert!(errors.is_empty());
    let r = replay_trace(&trace, Some(&markers));
    assert!(r.parse_errors.is_empty());
    assert!(r.report.violations.is_empty(), "{:#?}", r.report.violations);
    assert_eq!(r.verify.checkpoints, 6);
    assert_eq!(r.verify.pages.total, 632);
    assert!(r.verify.pages.agree >= 594, "pages agree {} of {}", r.verify.pages.agree, r.verify.pages.total);
    assert!(
        r.verify.rss_stat.matched >= 76,
        "rss_stat matched {} of {}",
        r.verify.rss_stat.matched,
        r.verify.rss_stat.total
    );
}

/// The REPL's time travel re-applies the lowering's log to fresh models: that must rebuild the very same state,
/// and each logged `rss_stat` must describe the state at its position.
#[test]
fn the_lowering_log_rebuilds_the_model() {
    use mmdb_model::{Config, Model};
    use mmdb_session::verify::replay_trace_logged;
    let trace = parse_ftrace(&sample("basic.ftrace"));
    let (r, log) = replay_trace_logged(&trace, None);
    assert_eq!(log.events.len() as u64, r.stats.events);
    assert_eq!(log.rss.len() as u64, r.rss.total);
    let mut m = Model::new(Config { history: false, trace_pfns: true, ..Config::default() });
    let mut samples = log.rss.iter().peekable();
    for (i, (_, ev)) in log.events.iter().enumerate() {
        while let Some(s) = samples.next_if(|s| s.position == i) {
            let c = m.rss(s.pid).expect("a sampled mm is alive");
            let model = match s.member {
                "MM_FILEPAGES" => c.file,
                "MM_ANONPAGES" => c.anon,
                "MM_SWAPENTS" => c.swapents,
                _ => c.shmem,
            };
            assert_eq!(model, s.model, "rss_stat at line {}", s.line);
        }
        m.apply(ev);
    }
    let mut again = m.report();
    again.violations = m.check();
    assert_eq!(format!("{again:?}"), format!("{:?}", r.report));
}

/// A page the page cache took after a fault (here the sample's `write()` to a file, `GFP_HIGHUSER_MOVABLE |
/// __GFP_WRITE`, then `mm_filemap_add_to_page_cache`) is not that fault's page: the read fault before it
/// (line 1141, fault-around over a library) maps pages cached before the trace and allocates none.
#[test]
fn a_page_the_page_cache_takes_is_not_the_fault_before_it() {
    use mmdb_model::Op;
    use mmdb_session::verify::replay_trace_logged;
    let trace = parse_ftrace(&sample("basic.ftrace"));
    let (_, log) = replay_trace_logged(&trace, None);
    let text = String::from_utf8(sample("basic.ftrace")).expect("UTF-8");
    assert!(text.contains("mm_filemap_add_to_page_cache: dev 254:0 ino 51207b pfn=0x16a2ed ofs=0 order=0"));
    let fault = log.events.iter().find(|(line, _)| *line == 1141).map(|(_, ev)| &ev.op);
    assert!(matches!(fault, Some(Op::Fault { pfn: None, .. })), "{fault:?}");
    assert!(!log.events.iter().any(|(_, ev)| matches!(ev.op, Op::Fault { pfn: Some(0x16a2ed), .. })));
}

/// The repository's name of a file of the shared sample.
fn sample_name(name: &str) -> String {
    match name {
        "basic.perf.truth.txt" => "shared-basic.perf.txt.truth".to_string(),
        _ => format!("shared-{name}"),
    }
}
