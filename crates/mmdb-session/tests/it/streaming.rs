//! A real trace replayed in pieces, as `mmdb replay` streams it, gives the same report as the whole trace at once:
//! every recording under `traces/real/`, cut every line, every 97 lines and every 5000 lines, each piece parsed on
//! its own and renumbered (`ParsedTrace::shift_lines`) before [`TraceReplayer::feed`].

use mmdb_model::Profile;
use mmdb_session::verify::{render_real_json, render_real_text, replay_trace_profile, RealReplay, TraceReplayer};
use mmdb_trace::truth::parse_truth_sidefile;
use mmdb_trace::{parse_ftrace, parse_perf, ParsedTrace, TimedMarker};

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces/real");

/// The text of `traces/real/NAME`, decompressed when it ends in `.xz`.
fn read(name: &str) -> Vec<u8> {
    let path = format!("{REAL}/{name}");
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if !name.ends_with(".xz") {
        return raw;
    }
    let mut out = Vec::new();
    lzma_rs::xz_decompress(&mut &raw[..], &mut out).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    out
}

fn rendered(r: &RealReplay) -> (String, String) {
    (render_real_text(r, "t", true), render_real_json(r, "t"))
}

/// `text` cut after every `lines` lines.
fn pieces(text: &[u8], lines: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen = 0;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen % lines == 0 {
                out.push(&text[start..=i]);
                start = i + 1;
            }
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The report of `text` replayed in pieces of `lines` lines.
fn streamed(
    text: &[u8],
    parse: fn(&[u8]) -> ParsedTrace,
    lines: usize,
    side: Option<&[TimedMarker]>,
    lru: Option<&ParsedTrace>,
) -> (String, String) {
    let mut r = TraceReplayer::new(Profile::default(), side.map(<[TimedMarker]>::to_vec), false);
    if let Some(lru) = lru {
        r.merge_extra(lru.clone());
    }
    let mut before = 0u32;
    for piece in pieces(text, lines) {
        let mut p = parse(piece);
        p.shift_lines(before);
        before += piece.iter().filter(|&&b| b == b'\n').count() as u32;
        r.feed(p);
    }
    rendered(&r.finish().0)
}

fn check(name: &str, parse: fn(&[u8]) -> ParsedTrace, side: Option<&str>, lru: Option<&str>) {
    let text = read(name);
    let markers = side.map(|s| {
        let (markers, errors) = parse_truth_sidefile(&read(s));
        assert!(errors.is_empty(), "{s}: {errors:?}");
        markers
    });
    let lru = lru.map(|l| parse_ftrace(&read(l)));
    let mut whole = parse(&text);
    if let Some(lru) = &lru {
        whole.merge(lru.clone());
    }
    let expected = rendered(&replay_trace_profile(&whole, markers.as_deref(), Profile::default(), false).0);
    for lines in [1, 97, 5000] {
        let got = streamed(&text, parse, lines, markers.as_deref(), lru.as_ref());
        assert!(got == expected, "{name} in pieces of {lines} lines:\n{}\n---- whole:\n{}", got.0, expected.0);
    }
}

#[test]
fn ftrace_recordings_replay_the_same_in_pieces() {
    for name in [
        "shared-basic.ftrace",
        "fork-cow.ftrace",
        "fork-tree.ftrace",
        "madv-free.ftrace",
        "dontneed-munmap.ftrace",
        "zero-page.ftrace",
        "thp-fork.ftrace.xz",
        "thread-churn.ftrace.xz",
        "lazyfree-memcg.ftrace.xz",
    ] {
        check(name, parse_ftrace, None, None);
    }
}

#[test]
fn perf_recordings_replay_the_same_in_pieces() {
    check("shared-basic.perf.txt", parse_perf, Some("shared-basic.perf.txt.truth"), None);
    for name in ["fork-cow", "fork-tree", "madv-free"] {
        let (perf, truth, lru) =
            (format!("{name}.perf.txt"), format!("{name}.perf.txt.truth"), format!("{name}.perf.txt.lru.xz"));
        check(&perf, parse_perf, Some(&truth), Some(&lru));
    }
}
