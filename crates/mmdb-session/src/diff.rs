//! `mmdb diff`: the same events replayed under two kernel profiles, side by side: the first event after which the
//! two models' results or counters part, and every page, counter and process figure that ends differently.

use std::collections::BTreeSet;

use mmdb_model::{Config, Event, Model, Profile};
use serde::Serialize;
use serde_json::Value;

/// Where the two replays first part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirstDifference {
    /// 1-based event number.
    pub event: u64,
    /// The event's source line.
    pub line: u32,
    /// The event, as the mm event format writes it.
    pub text: String,
    /// What differs right after it, as `what: A vs B`.
    pub changes: Vec<String>,
}

/// What the two replays end with that differs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProfileDiff {
    pub a: String,
    pub b: String,
    pub events: u64,
    pub first: Option<FirstDifference>,
    /// Report figures (processes' counters and smaps, page totals, vmstat, memcgs) that end differently, as
    /// `path: A vs B`.
    pub report: Vec<String>,
    /// Pages that end differently, as `pfn (mapped by): field A vs B; ...`.
    pub pages: Vec<String>,
}

/// A model's state reduced to the figures a reviewer compares, as JSON (stable, ordered).
fn figures(m: &Model) -> Value {
    let mut r = m.report();
    r.events = 0;
    r.last_ts_ns = 0;
    r.diagnostics.clear();
    serde_json::to_value(&r).unwrap_or(Value::Null)
}

/// Leaf-by-leaf differences of two JSON values, as `path: a vs b`.
fn json_diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                json_diff(&p, x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                // Processes are listed by pid: name them so.
                let label = u.get("pid").map_or_else(|| i.to_string(), |pid| format!("pid {pid}"));
                json_diff(&format!("{path}[{label}]"), u, v, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

/// The pages of both models that differ, field by field.
fn page_diff(a: &Model, b: &Model, la: &str, lb: &str) -> Vec<String> {
    let pfns: BTreeSet<u64> =
        a.folios_sorted().iter().chain(b.folios_sorted().iter()).flat_map(|f| f.pfn..f.pfn + f.nr_pages()).collect();
    let mut out = Vec::new();
    for pfn in pfns {
        let (pa, pb) = (a.page_info(pfn), b.page_info(pfn));
        if pa == pb {
            continue;
        }
        let va = pa.as_ref().map_or(Value::Null, |p| serde_json::to_value(p).unwrap_or(Value::Null));
        let vb = pb.as_ref().map_or(Value::Null, |p| serde_json::to_value(p).unwrap_or(Value::Null));
        let mut fields = Vec::new();
        json_diff("", &va, &vb, &mut fields);
        out.push(format!("pfn {pfn:#x}: {} ({la} vs {lb})", fields.join("; ")));
    }
    out
}

/// Replays `events` (with their source lines) under profiles `a` and `b` in lockstep.
pub fn diff_profiles(events: &[(u32, Event)], a: Profile, b: Profile) -> ProfileDiff {
    let config = |profile| Config { history: false, profile, ..Config::default() };
    let (mut ma, mut mb) = (Model::new(config(a)), Model::new(config(b)));
    let mut first = None;
    for (i, (line, ev)) in events.iter().enumerate() {
        let (oa, ob) = (ma.apply(ev), mb.apply(ev));
        if first.is_some() {
            continue;
        }
        // Per event, only what is cheap: the results and the counters. Most semantic differences move a counter
        // (a page made lazy-free, split, freed, swapped) or a result; one that moves neither (a flag, a list) is
        // found when it does, or at the end.
        let mut changes = Vec::new();
        if oa.ret != ob.ret {
            changes.push(format!("returned {:?} vs {:?}", oa.ret, ob.ret));
        }
        if oa.allocated != ob.allocated || oa.freed != ob.freed {
            changes.push(format!(
                "allocated {} and freed {} pages vs {} and {}",
                oa.allocated.len(),
                oa.freed.len(),
                ob.allocated.len(),
                ob.freed.len()
            ));
        }
        if !changes.is_empty() || ma.vmstat() != mb.vmstat() {
            json_diff("", &figures(&ma), &figures(&mb), &mut changes);
        }
        if !changes.is_empty() {
            let text = mmdb_trace::format_event(ev).trim().to_string();
            first = Some(FirstDifference { event: i as u64 + 1, line: *line, text, changes });
        }
    }
    let mut report = Vec::new();
    json_diff("", &figures(&ma), &figures(&mb), &mut report);
    ProfileDiff {
        a: a.name().to_string(),
        b: b.name().to_string(),
        events: events.len() as u64,
        first,
        report,
        pages: page_diff(&ma, &mb, a.name(), b.name()),
    }
}

/// The text form of a diff.
pub fn render_diff_text(d: &ProfileDiff, name: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "mmdb diff: {name}: {} events under {} (A) and {} (B)", d.events, d.a, d.b);
    let Some(f) = &d.first else {
        let _ = writeln!(out, "no difference: both profiles end in the same state");
        return out;
    };
    let _ = writeln!(out, "first difference after event {} (line {}): {}", f.event, f.line, f.text);
    for c in f.changes.iter().take(12) {
        let _ = writeln!(out, "  {c}");
    }
    if f.changes.len() > 12 {
        let _ = writeln!(out, "  ... {} more", f.changes.len() - 12);
    }
    let _ = writeln!(out, "figures that end differently (A vs B): {}", d.report.len());
    for r in &d.report {
        let _ = writeln!(out, "  {r}");
    }
    let _ = writeln!(out, "pages that end differently: {}", d.pages.len());
    for p in d.pages.iter().take(20) {
        let _ = writeln!(out, "  {p}");
    }
    if d.pages.len() > 20 {
        let _ = writeln!(out, "  ... {} more", d.pages.len() - 20);
    }
    out
}
