//! Replay throughput on a generated trace of one million events ([`mmdb_session::synth::churn`]).
//!
//! Run with `cargo bench -p mmdb-session` (or `cargo bench -p mmdb-session -- model_apply` for one group).
//! Every benchmark reports elements (events) per second; `parse_bytes` reports bytes per second.
//!
//! * `model_apply/history_off`, `model_apply/history_on`: `Model::apply` over the events into a fresh model
//!   (the model's construction and drop are inside the timed loop: a replay pays for both; with history on,
//!   the drop frees about 2.5 GB of per-page history).
//! * `parse/parse_events`, `parse_bytes/parse_events`: `mmdb_trace::parse_events` of the events' text.
//! * `replay/history_off`: `mmdb_session::replay` of the text: parse, apply, final report. (With history on,
//!   replay costs about `parse` plus `model_apply/history_on`; it is left out to keep the run to a few minutes.)
//!
//! Inputs (events and text) are generated once, outside the timed loops.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use mmdb_model::{Config, Event, Model};
use mmdb_session::{replay, synth, ReplayOptions};

/// Events per benchmark iteration.
const N_EVENTS: usize = 1_000_000;
/// The generator seed: fixed, so every run measures the same trace.
const SEED: u64 = 0x6d6d_6462;

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(10).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(15));
}

fn apply_all(events: &[Event], history: bool) -> u64 {
    let mut model = Model::new(Config { history, ..Config::default() });
    for ev in events {
        black_box(model.apply(ev));
    }
    model.events_applied()
}

fn benches(c: &mut Criterion) {
    let events = synth::churn(SEED, N_EVENTS);
    let elements = Throughput::Elements(events.len() as u64);

    let mut group = c.benchmark_group("model_apply");
    configure(&mut group);
    group.throughput(elements.clone());
    for (name, history) in [("history_off", false), ("history_on", true)] {
        group.bench_function(name, |b| b.iter(|| apply_all(&events, history)));
    }
    group.finish();

    let text = mmdb_trace::write_events(&events);
    drop(events);

    let mut group = c.benchmark_group("parse");
    configure(&mut group);
    group.throughput(elements.clone());
    group.bench_function("parse_events", |b| b.iter(|| mmdb_trace::parse_events(black_box(&text))));
    group.finish();

    let mut group = c.benchmark_group("parse_bytes");
    configure(&mut group);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_events", |b| b.iter(|| mmdb_trace::parse_events(black_box(&text))));
    group.finish();

    let mut group = c.benchmark_group("replay");
    configure(&mut group);
    group.throughput(elements);
    let opts = ReplayOptions { history: false, ..ReplayOptions::default() };
    group.bench_function("history_off", |b| b.iter(|| replay(black_box(text.as_bytes()), &opts)));
    group.finish();
}

criterion_group!(replay_benches, benches);
criterion_main!(replay_benches);
