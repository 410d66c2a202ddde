//! Parse and replay throughput on real ftrace text: a recording of `traces/real/` (default `madv-free.ftrace`), or
//! any trace named by `MMDB_BENCH_TRACE` (for example one of scripts/gen-trace.sh).
//!
//! Run with `cargo bench -p mmdb-session --bench real`. Every benchmark reports bytes per second of text:
//!
//! * `real/parse_ftrace`: `mmdb_trace::parse_ftrace` of the whole text into records.
//! * `real/replay`: parse, lowering to model events, the model, and verification: divergences, every `rss_stat`
//!   and every ground-truth checkpoint of the recording compared with the model (`--verify` only prints them).
//!
//! `mmdb bench FILE` measures the same phases on a file as mmdb reads it (streamed, with parser threads) and
//! prints them beside a plain newline count; the book's performance chapter has both.

// A benchmark reads its input file and the environment; the library never does.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mmdb_model::Profile;
use mmdb_session::verify::TraceReplayer;

fn text() -> (String, Vec<u8>) {
    let path = std::env::var("MMDB_BENCH_TRACE")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces/real/madv-free.ftrace").to_string());
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (path, text)
}

fn benches(c: &mut Criterion) {
    let (path, text) = text();
    eprintln!("real: {path}, {} bytes", text.len());
    let mut group = c.benchmark_group("real");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_ftrace", |b| b.iter(|| mmdb_trace::parse_ftrace(black_box(&text))));
    group.bench_function("replay", |b| {
        b.iter(|| {
            let mut r = TraceReplayer::new(Profile::default(), None, false);
            r.feed(mmdb_trace::parse_ftrace(black_box(&text)));
            r.finish().0.stats.events
        })
    });
    group.finish();
}

criterion_group!(real_benches, benches);
criterion_main!(real_benches);
