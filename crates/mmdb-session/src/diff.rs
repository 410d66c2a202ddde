//! `mmdb diff`: the same events replayed under two kernel profiles, side by side: the first event after which the
//! two models part, told in words (what the operation did to which folios under each profile), and every page,
//! counter and result that ends differently, named the way a reviewer reads them.
//!
//! Finding the first difference is cheap per event: the results, the allocations and frees, the vm event counters,
//! the diagnostics, the acting process's RSS, and the page tables, VMAs and folios in the range the event works on.
//! The event found is then checked by a full comparison of the two models right before it (reports, every folio
//! and page). A difference none of the cheap checks shows (a flag of a folio outside the range, a memcg counter) is
//! found that way, or when the two end states differ: full comparisons at a few checkpoints, then a bisection
//! between the last two. Everything else (the description of the first event, the page groups) is computed once,
//! from the models right before and right after that event.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use mmdb_model::mm::Pte;
use mmdb_model::{
    errno_name, madv_name, Access, Config, Event, Folio, Model, Op, Outcome, PageFlag, Profile, Report, VmEvent,
    HPAGE_PMD_NR, PAGE_SIZE,
};
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
    /// One sentence: what the event did under each profile, where that differs.
    pub summary: String,
    /// What the event did, aspect by aspect, where the two profiles differ (the summary says the main ones).
    pub effects: Vec<Effect>,
    /// What differs right after it, as `what: A vs B`.
    pub changes: Vec<String>,
    /// The report figures that differ right after it.
    pub figures: Vec<Figure>,
    /// How many pages differ right after it.
    pub page_count: u64,
    /// Those pages, grouped by folio and by identical difference.
    pub page_groups: Vec<PageGroup>,
    /// The summary's parts, for the text form: the operation and what it worked on, then under A, under B.
    #[serde(skip)]
    parts: [String; 3],
}

/// One aspect of what the first differing event did, under each profile (verb phrases: `made 248 pages lazyfree`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Effect {
    /// `result`, `split`, `freed`, `allocated`, `mappings`, `PTE bits`, `lazyfree`, `swap cache`, `RSS`,
    /// `diagnostics`, `mapped by`, `LRU`, `per-CPU batches`, `page flags`, `vmstat`.
    pub aspect: &'static str,
    /// Whether the summary sentence says it.
    pub main: bool,
    pub a: String,
    pub b: String,
}

/// One report figure that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Figure {
    /// As a reviewer reads it: `pid 100 (parent) smaps_rollup LazyFree`, `vmstat pglazyfree`, `LRU inactive_file`.
    pub name: String,
    /// Where it is in the JSON report (`processes[pid=100].smaps.lazyfree_kb`).
    pub path: String,
    /// `pages`, `kB` or empty.
    pub unit: &'static str,
    /// Under profile A (`null`: absent).
    pub a: Value,
    /// Under profile B.
    pub b: Value,
}

/// An event whose result (syscall return value) differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResultDiff {
    /// 1-based event number.
    pub event: u64,
    pub line: u32,
    pub text: String,
    pub a: Option<i64>,
    pub b: Option<i64>,
}

/// Pages that differ in the same way: of the same folio on each side when it is a large one, mapped by the same
/// processes the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageGroup {
    /// The pages, as runs of pfns `[first, last]`.
    pub pfns: Vec<[u64; 2]>,
    pub pages: u64,
    /// The differences every page of the group shares, field by field (`PageInfo` names; `folio` is the folio's
    /// order and, for a large folio, its head; `rmap` gives each mapping as `pid N PTEs FIRST-LAST, ...` with the
    /// virtual addresses of the group's pages, or `pid N PMD ADDR`).
    pub differences: Vec<FieldDiff>,
}

/// A diagnostic (a failed syscall, a trace anomaly, a broken rule the profile's kernel did not check) that only one
/// profile reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiagnosticDiff {
    /// 1-based number of the event that caused it.
    pub event: u64,
    pub kind: String,
    pub message: String,
    /// The profile that reported it.
    pub only_under: String,
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    pub field: String,
    pub a: Value,
    pub b: Value,
}

/// What the two replays end with that differs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProfileDiff {
    pub a: String,
    pub b: String,
    pub events: u64,
    pub first: Option<FirstDifference>,
    /// Report figures (processes' counters and smaps, page totals, vmstat, memcgs) that end differently, as
    /// `name: A vs B`.
    pub report: Vec<String>,
    /// The same, structured.
    pub figures: Vec<Figure>,
    /// Diagnostics only one profile reported.
    pub diagnostics: Vec<DiagnosticDiff>,
    /// Every event whose result differs.
    pub results: Vec<ResultDiff>,
    /// Pages that end differently, one per page, as `pfn (mapped by): field A vs B; ...`.
    pub pages: Vec<String>,
    /// How many pages end differently.
    pub page_count: u64,
    /// The same pages, grouped by folio and by identical difference.
    pub page_groups: Vec<PageGroup>,
}

// ---- the lockstep replay ------------------------------------------------------------------------------------

/// How many events apart the replay keeps a copy of both models, to go back to the state right before the first
/// difference. Few: after a copy, the first write to each folio and page table copies it (they are shared
/// copy-on-write), which is most of what a copy costs.
fn checkpoint_stride(events: usize) -> usize {
    (events / 8).max(1024)
}

/// Replays `events` (with their source lines) under profiles `a` and `b` in lockstep.
pub fn diff_profiles(events: &[(u32, Event)], a: Profile, b: Profile) -> ProfileDiff {
    let config = |profile| Config { history: false, profile, ..Config::default() };
    let stride = checkpoint_stride(events.len());
    let (mut ma, mut mb) = (Model::new(config(a)), Model::new(config(b)));
    let mut checkpoint = (0, ma.clone(), mb.clone());
    let mut first_at = None;
    let mut results = Vec::new();
    for (i, (line, ev)) in events.iter().enumerate() {
        if first_at.is_none() && i > 0 && i % stride == 0 {
            checkpoint = (i, ma.clone(), mb.clone());
        }
        let (oa, ob) = (ma.apply(ev), mb.apply(ev));
        if oa.ret != ob.ret {
            results.push(ResultDiff { event: i as u64 + 1, line: *line, text: event_text(ev), a: oa.ret, b: ob.ret });
        }
        if first_at.is_none() && cheap_differs(&ma, &mb, ev, &oa, &ob) {
            first_at = Some(i);
        }
    }
    let (ra, rb) = (ma.report(), mb.report());
    let figures = figure_diff(&ra, &rb);
    let diagnostics = diagnostic_diff(&ra, &rb, a.name(), b.name());
    let differing = differing_folios(&ma, &mb);
    let (pages, page_groups) = page_diff(&ma, &mb, &differing);
    let before = match first_at {
        Some(i) => {
            let (ba, bb) = replay_to(events, checkpoint, i);
            if states_differ(&ba, &bb) {
                // They had already parted, at an event none of the cheap checks saw: find it.
                quiet_divergence(&events[..i], config(a), config(b), stride)
            } else {
                Some((i, (ba, bb)))
            }
        }
        // The states part at an event none of the cheap checks saw: find it by a full comparison.
        None if !figures.is_empty() || !diagnostics.is_empty() || !pages.is_empty() => {
            quiet_divergence(events, config(a), config(b), stride)
        }
        None => None,
    };
    let first = before.map(|(i, (ba, bb))| first_difference(events, i, ba, bb, a.name(), b.name()));
    ProfileDiff {
        a: a.name().to_string(),
        b: b.name().to_string(),
        events: events.len() as u64,
        first,
        report: figures.iter().map(render_figure).collect(),
        figures,
        diagnostics,
        results,
        page_count: pages.len() as u64,
        pages,
        page_groups,
    }
}

/// The models of a checkpoint taken before event `checkpoint.0`, brought to the state right before event `i`.
fn replay_to(events: &[(u32, Event)], checkpoint: (usize, Model, Model), i: usize) -> (Model, Model) {
    let (from, mut ma, mut mb) = checkpoint;
    for (_, ev) in &events[from..i] {
        ma.apply(ev);
        mb.apply(ev);
    }
    (ma, mb)
}

/// Whether the two models differ right after `ev`, by what is cheap to compare: the outcomes, the vm event
/// counters, the RSS of the processes involved, and the VMAs, page tables and folios in the event's range.
fn cheap_differs(ma: &Model, mb: &Model, ev: &Event, oa: &Outcome, ob: &Outcome) -> bool {
    if oa != ob
        || ma.vmstat() != mb.vmstat()
        || ma.rss(ev.pid) != mb.rss(ev.pid)
        || ma.diagnostics().len() != mb.diagnostics().len()
    {
        return true;
    }
    let page = |addr: u64| (addr & !(PAGE_SIZE - 1), (addr & !(PAGE_SIZE - 1)) + PAGE_SIZE);
    let range = |addr: u64, len: u64| (addr, addr.saturating_add(len));
    let ranges: Vec<(u64, u64)> = match &ev.op {
        Op::Fork { child, .. } | Op::Vfork { child } => return ma.rss(*child) != mb.rss(*child),
        Op::ShrinkFolio { pfn } | Op::FolioGet { pfn } | Op::FolioPut { pfn } => {
            return !same_folio(ma.folio(*pfn), mb.folio(*pfn))
        }
        Op::Munmap { addr, len }
        | Op::Mprotect { addr, len, .. }
        | Op::Madvise { addr, len, .. }
        | Op::Mlock { addr, len }
        | Op::Munlock { addr, len } => vec![range(*addr, *len)],
        Op::Mremap { addr, old_len, new_len, new_addr, .. } => {
            let mut v = vec![range(*addr, (*old_len).max(*new_len))];
            v.extend(new_addr.map(|n| range(n, *new_len)));
            v
        }
        Op::Fault { addr, .. } | Op::Touch { addr, .. } | Op::Store { addr, .. } | Op::Gup { addr, .. } => {
            vec![page(*addr)]
        }
        _ => Vec::new(),
    };
    ranges.into_iter().any(|(start, end)| range_differs(ma, mb, ev.pid, start, end))
}

/// Whether `pid`'s VMAs, page table entries, or the folios they map differ in `[start, end)`.
fn range_differs(ma: &Model, mb: &Model, pid: u32, start: u64, end: u64) -> bool {
    let (Some(xa), Some(xb)) = (mm_of(ma, pid), mm_of(mb, pid)) else {
        return mm_of(ma, pid).is_some() != mm_of(mb, pid).is_some();
    };
    if !vmas_in(xa, start, end).eq(vmas_in(xb, start, end)) {
        return true;
    }
    let (pa, pb) = (xa.populated_ptes(start, end), xb.populated_ptes(start, end));
    let (ha, hb) = (xa.huge_pmds_in(start, end), xb.huge_pmds_in(start, end));
    if pa != pb || ha != hb {
        return true;
    }
    let mapped = pa
        .iter()
        .filter_map(|(_, p)| match p {
            Pte::Present(p) if !p.special => Some(p.pfn),
            _ => None,
        })
        .chain(ha.iter().filter(|(_, h)| !h.huge_zero).map(|(_, h)| h.pfn));
    let mut last = None;
    for pfn in mapped {
        let head = ma.folio_head(pfn);
        if head.is_some() && head == last {
            continue;
        }
        last = head;
        if !same_folio(ma.folio(pfn), mb.folio(pfn)) {
            return true;
        }
    }
    false
}

/// The VMAs of `mm` that overlap `[start, end)`, from the highest.
fn vmas_in(mm: &mmdb_model::mm::MmStruct, start: u64, end: u64) -> impl Iterator<Item = &mmdb_model::mm::Vma> {
    mm.vmas.range(..end).rev().take_while(move |(_, v)| v.end > start).map(|(_, v)| v)
}

/// The mm of the process `pid`.
fn mm_of(m: &Model, pid: u32) -> Option<&mmdb_model::mm::MmStruct> {
    m.task(pid).and_then(|t| t.mm).and_then(|id| m.mm_struct(id))
}

/// Two folios in the same state, field by field, but for their places on the LRU lists (their neighbours).
fn same_folio(a: Option<&Folio>, b: Option<&Folio>) -> bool {
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (None, None) => return true,
        _ => return false,
    };
    let rmap_key = |r: &mmdb_model::Rmap| (r.mm, r.addr, r.page, r.pmd);
    a.pfn == b.pfn
        && a.order == b.order
        && a.flags == b.flags
        && a.refcount == b.refcount
        && a.refs == b.refs
        && a.pages == b.pages
        && a.large_mapcount == b.large_mapcount
        && a.entire_mapcount == b.entire_mapcount
        && a.nr_pages_mapped == b.nr_pages_mapped
        && a.mm_id == b.mm_id
        && a.mm_id_mapcount == b.mm_id_mapcount
        && a.mm_ids_shared == b.mm_ids_shared
        && a.mapping == b.mapping
        && a.memcg == b.memcg
        && a.lru == b.lru
        && a.swap == b.swap
        && a.deferred_split == b.deferred_split
        && a.pre_trace == b.pre_trace
        && (a.rmap == b.rmap || {
            let mut x: Vec<_> = a.rmap.iter().map(rmap_key).collect();
            let mut y: Vec<_> = b.rmap.iter().map(rmap_key).collect();
            x.sort_unstable();
            y.sort_unstable();
            x == y
        })
}

/// The pfn ranges `[first, end)` of the folios that differ between the two models (on either side), merged.
fn differing_folios(ma: &Model, mb: &Model) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    let mut check = |x: &Model, y: &Model| {
        for f in x.folios_sorted() {
            let g = y.folio(f.pfn).filter(|g| g.pfn == f.pfn);
            if !same_folio(Some(f), g) || x.page_info(f.pfn) != y.page_info(f.pfn) {
                ranges.push((f.pfn, f.pfn + f.nr_pages()));
                if let Some(g) = y.folio(f.pfn) {
                    ranges.push((g.pfn, g.pfn + g.nr_pages()));
                }
            }
        }
    };
    check(ma, mb);
    check(mb, ma);
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// Whether the two models' states differ, by the full comparison the end of the replay makes.
fn states_differ(ma: &Model, mb: &Model) -> bool {
    let (ra, rb) = (ma.report(), mb.report());
    ra.diagnostics != rb.diagnostics || !figure_diff(&ra, &rb).is_empty() || !differing_folios(ma, mb).is_empty()
}

/// The first event after which the full states differ, when no cheap check saw one, with the models right before
/// it: full comparisons every `stride` events, then a bisection inside the stride where they part.
fn quiet_divergence(events: &[(u32, Event)], ca: Config, cb: Config, stride: usize) -> Option<(usize, (Model, Model))> {
    let (mut ma, mut mb) = (Model::new(ca), Model::new(cb));
    let (mut lo, mut la, mut lb) = (0, ma.clone(), mb.clone());
    let mut hi = None;
    for (i, (_, ev)) in events.iter().enumerate() {
        ma.apply(ev);
        mb.apply(ev);
        if (i + 1) % stride == 0 || i + 1 == events.len() {
            if states_differ(&ma, &mb) {
                hi = Some(i + 1);
                break;
            }
            (lo, la, lb) = (i + 1, ma.clone(), mb.clone());
        }
    }
    let mut hi = hi?;
    // Equal after `lo` events, different after `hi`.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let (mut xa, mut xb) = (la.clone(), lb.clone());
        for (_, ev) in &events[lo..mid] {
            xa.apply(ev);
            xb.apply(ev);
        }
        if states_differ(&xa, &xb) {
            hi = mid;
        } else {
            (lo, la, lb) = (mid, xa, xb);
        }
    }
    Some((lo, (la, lb)))
}

fn event_text(ev: &Event) -> String {
    mmdb_trace::format_event(ev).trim().to_string()
}

// ---- report figures -----------------------------------------------------------------------------------------

/// The report figures that differ (all but the diagnostics), named for a reviewer.
fn figure_diff(ra: &Report, rb: &Report) -> Vec<Figure> {
    let strip = |r: &Report| {
        let mut r = r.clone();
        r.events = 0;
        r.last_ts_ns = 0;
        r.diagnostics.clear();
        serde_json::to_value(&r).unwrap_or(Value::Null)
    };
    let mut leaves = Vec::new();
    leaf_diff(&mut Vec::new(), &strip(ra), &strip(rb), &mut leaves);
    // A field one side leaves out of its report while the other has it at zero (a counter only some profiles
    // keep, or one the report omits when zero) is no difference.
    let zero = |v: &Value| match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    let out: Vec<Figure> = leaves
        .into_iter()
        .filter(|(_, a, b)| !(a.is_null() && zero(b) || b.is_null() && zero(a)))
        .map(|(path, mut a, mut b)| {
            let (name, unit) = figure_name(&path, ra, rb);
            if path.first().is_some_and(|s| s == "vmstat") {
                // /proc/vmstat lists every counter; the report only the non-zero ones.
                for v in [&mut a, &mut b] {
                    if v.is_null() {
                        *v = Value::from(0);
                    }
                }
            }
            Figure { name, path: path_string(&path), unit, a, b }
        })
        .collect();
    out
}

/// The diagnostics only one side reported (counted: the same one twice on one side and once on the other differs
/// once).
fn diagnostic_diff(ra: &Report, rb: &Report, na: &str, nb: &str) -> Vec<DiagnosticDiff> {
    let mut counts: BTreeMap<(u64, &str, &str), (usize, usize)> = BTreeMap::new();
    for d in &ra.diagnostics {
        counts.entry((d.event, &d.kind, &d.message)).or_default().0 += 1;
    }
    for d in &rb.diagnostics {
        counts.entry((d.event, &d.kind, &d.message)).or_default().1 += 1;
    }
    let mut out = Vec::new();
    for ((event, kind, message), (a, b)) in counts {
        let (only_under, n) = if a > b { (na, a - b) } else { (nb, b - a) };
        for _ in 0..n {
            out.push(DiagnosticDiff {
                event: event + 1,
                kind: kind.to_string(),
                message: message.to_string(),
                only_under: only_under.to_string(),
            });
        }
    }
    out
}

/// `after event 12 (syscall-error), only under linux-6.18: vrange by pid 100 returned -ENOSYS`.
fn render_diagnostic(d: &DiagnosticDiff) -> String {
    format!("after event {} ({}), only under {}: {}", d.event, d.kind, d.only_under, d.message)
}

/// Leaf-by-leaf differences of two JSON values, with their paths. Array items are matched by their `pid`, `start`
/// or `id` (processes, VMAs, memcgs), labelled `pid=100`; other arrays by position when they are as long, else
/// whole.
fn leaf_diff(path: &mut Vec<String>, a: &Value, b: &Value, out: &mut Vec<(Vec<String>, Value, Value)>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                path.push(k.clone());
                leaf_diff(path, x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out);
                path.pop();
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            let key = ["pid", "start", "id"].into_iter().find(|k| x.iter().chain(y).all(|v| v.get(k).is_some()));
            match key {
                Some(k) if !x.is_empty() || !y.is_empty() => {
                    let label = |v: &Value| match (k, v.get(k).and_then(Value::as_u64)) {
                        ("start", Some(n)) => format!("start={n:#x}"),
                        (_, Some(n)) => format!("{k}={n}"),
                        _ => format!("{k}={}", v.get(k).unwrap_or(&Value::Null)),
                    };
                    let items =
                        |arr: &Vec<Value>| arr.iter().map(|v| (label(v), v.clone())).collect::<BTreeMap<_, _>>();
                    let (ix, iy) = (items(x), items(y));
                    let labels: BTreeSet<&String> = ix.keys().chain(iy.keys()).collect();
                    // In the arrays' order (by pid, by address), not the labels' text order.
                    let mut ordered: Vec<&String> = labels.into_iter().collect();
                    ordered.sort_by_key(|l| {
                        let v = ix.get(*l).or_else(|| iy.get(*l));
                        v.and_then(|v| v.get(k)).and_then(Value::as_u64).unwrap_or(u64::MAX)
                    });
                    for l in ordered {
                        path.push(l.clone());
                        leaf_diff(path, ix.get(l).unwrap_or(&Value::Null), iy.get(l).unwrap_or(&Value::Null), out);
                        path.pop();
                    }
                }
                _ if x.len() == y.len() && x.iter().any(|v| v.is_object()) => {
                    for (i, (u, v)) in x.iter().zip(y).enumerate() {
                        path.push(i.to_string());
                        leaf_diff(path, u, v, out);
                        path.pop();
                    }
                }
                _ => out.push((path.clone(), a.clone(), b.clone())),
            }
        }
        _ => out.push((path.clone(), a.clone(), b.clone())),
    }
}

/// `processes[pid=100].smaps.lazyfree_kb`.
fn path_string(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if seg.contains('=') || seg.parse::<usize>().is_ok() {
            let _ = write!(s, "[{seg}]");
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(seg);
        }
    }
    s
}

/// The smaps field name `/proc/PID/smaps` prints for a report key.
fn smaps_name(key: &str) -> &str {
    match key {
        "rss_kb" => "Rss",
        "pss_kb" => "Pss",
        "shared_clean_kb" => "Shared_Clean",
        "shared_dirty_kb" => "Shared_Dirty",
        "private_clean_kb" => "Private_Clean",
        "private_dirty_kb" => "Private_Dirty",
        "referenced_kb" => "Referenced",
        "anon_kb" => "Anonymous",
        "lazyfree_kb" => "LazyFree",
        "anonhuge_kb" => "AnonHugePages",
        "swap_kb" => "Swap",
        "locked_kb" => "Locked",
        other => other,
    }
}

/// A report path's name as a reviewer reads it, and its unit.
fn figure_name(path: &[String], ra: &Report, rb: &Report) -> (String, &'static str) {
    let seg: Vec<&str> = path.iter().map(String::as_str).collect();
    let process = |label: &str| {
        let pid: u32 = label.trim_start_matches("pid=").parse().unwrap_or(0);
        let p = ra.processes.iter().chain(&rb.processes).find(|p| p.pid == pid);
        (format!("pid {pid}{}", p.map(|p| format!(" ({})", p.comm)).unwrap_or_default()), pid)
    };
    let vma = |pid: u32, label: &str| {
        let start = u64::from_str_radix(label.trim_start_matches("start=0x"), 16).unwrap_or(0);
        let v = ra
            .processes
            .iter()
            .chain(&rb.processes)
            .filter(|p| p.pid == pid)
            .flat_map(|p| &p.vmas)
            .find(|v| v.start == start);
        match v {
            Some(v) => format!("{:x}-{:x} {} {}", v.start, v.end, v.perms, v.name),
            None => format!("{start:x}"),
        }
    };
    match seg.as_slice() {
        ["pages", k] => match *k {
            "folios" => ("folios".into(), ""),
            "pages" => ("allocated pages".into(), ""),
            "anon" => ("anonymous pages".into(), ""),
            "file" => ("page-cache pages".into(), ""),
            "mapped" => ("mapped pages".into(), ""),
            "unmapped" => ("allocated but unmapped pages".into(), ""),
            "lazyfree" => ("lazyfree pages".into(), ""),
            "thp" => ("pages in large folios".into(), ""),
            "swapcache" => ("swap-cache pages".into(), ""),
            "in_batch" => ("pages in per-CPU batches".into(), ""),
            "isolated" => ("isolated pages".into(), ""),
            "inactive_anon" | "active_anon" | "inactive_file" | "active_file" | "unevictable" => {
                (format!("LRU {k}"), "pages")
            }
            "zero_page_ptes" => ("zero-page PTEs".into(), ""),
            "huge_zero_pmds" => ("huge-zero-page PMDs".into(), ""),
            other => (format!("pages {other}"), ""),
        },
        ["vmstat", k] => (format!("vmstat {k}"), ""),
        ["processes", p] => (process(p).0, ""),
        ["processes", p, "rss", k] => {
            let counter = match *k {
                "file" => "MM_FILEPAGES",
                "anon" => "MM_ANONPAGES",
                "swapents" => "MM_SWAPENTS",
                "shmem" => "MM_SHMEMPAGES",
                other => other,
            };
            (format!("{} rss_stat {counter}", process(p).0), "pages")
        }
        ["processes", p, "rss_lazyfree"] => (format!("{} RssLazyfree", process(p).0), "pages"),
        ["processes", p, "smaps", k] => (format!("{} smaps_rollup {}", process(p).0, smaps_name(k)), "kB"),
        ["processes", p, "vmas", v] => {
            let (name, pid) = process(p);
            (format!("{name} VMA {}", vma(pid, v)), "")
        }
        ["processes", p, "vmas", v, "smaps", k] => {
            let (name, pid) = process(p);
            (format!("{name} smaps {} {}", vma(pid, v), smaps_name(k)), "kB")
        }
        ["processes", p, "vmas", v, rest @ ..] => {
            let (name, pid) = process(p);
            (format!("{name} VMA {} {}", vma(pid, v), rest.join(".")), "")
        }
        ["processes", p, rest @ ..] => (format!("{} {}", process(p).0, rest.join(".")), ""),
        ["memcgs", m] => (format!("memcg {}", m.trim_start_matches("id=")), ""),
        ["memcgs", m, k] => {
            let id = m.trim_start_matches("id=");
            match *k {
                "limit_pages" => (format!("memcg {id} limit"), "pages"),
                "usage_pages" => (format!("memcg {id} usage"), "pages"),
                "max_usage_pages" => (format!("memcg {id} max usage"), "pages"),
                "reclaims" => (format!("memcg {id} limit reclaims"), ""),
                "oom_kills" => (format!("memcg {id} OOM kills"), ""),
                other => (format!("memcg {id} {other}"), ""),
            }
        }
        ["swap"] => ("swap device".into(), ""),
        ["swap", "total_pages"] => ("swap total".into(), "pages"),
        ["swap", "used_pages"] => ("swap used".into(), "pages"),
        _ => (path_string(path), ""),
    }
}

/// A JSON value in the text form: strings bare, lists joined, a VMA or process by what names it.
fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "none".into(),
        Value::Array(a) => a.iter().map(show).collect::<Vec<_>>().join(", "),
        Value::Object(o) => {
            if let (Some(s), Some(e)) = (o.get("start").and_then(Value::as_u64), o.get("end").and_then(Value::as_u64)) {
                let perms = o.get("perms").map(show).unwrap_or_default();
                let name = o.get("name").map(show).unwrap_or_default();
                format!("{s:x}-{e:x} {perms} {name}")
            } else if let Some(pid) = o.get("pid") {
                format!("pid {pid}")
            } else {
                v.to_string()
            }
        }
        other => other.to_string(),
    }
}

/// `name: A vs B unit`, or `name: only under A`.
fn render_figure(f: &Figure) -> String {
    let unit = if f.unit.is_empty() { String::new() } else { format!(" {}", f.unit) };
    match (&f.a, &f.b) {
        (Value::Null, b) if !b.is_number() => format!("{}: only under B ({})", f.name, show(b)),
        (a, Value::Null) if !a.is_number() => format!("{}: only under A ({})", f.name, show(a)),
        (a, b) => format!("{}: {} vs {}{unit}", f.name, show(a), show(b)),
    }
}

// ---- pages --------------------------------------------------------------------------------------------------

/// The pages in `ranges` that differ: one line per page (`pfn: field A vs B; ...`) and the grouped form.
fn page_diff(a: &Model, b: &Model, ranges: &[(u64, u64)]) -> (Vec<String>, Vec<PageGroup>) {
    let mut lines = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for pfn in ranges.iter().flat_map(|&(s, e)| s..e) {
        let (va, vb) = (page_value(a, pfn), page_value(b, pfn));
        if va == vb {
            continue;
        }
        let mut fields = Vec::new();
        if va.is_null() || vb.is_null() {
            let page = |v: &Value| if v.is_null() { "free".to_string() } else { v.to_string() };
            fields.push(format!("{} vs {}", page(&va), page(&vb)));
        } else {
            json_diff("", &va, &vb, &mut fields);
        }
        lines.push(format!("pfn {pfn:#x}: {}", fields.join("; ")));
        let maps = [page_mappings(a, pfn), page_mappings(b, pfn)];
        let key = normalized_diff(&va, &vb, &maps);
        let i = *index.entry(format!("{key:?}")).or_insert_with(|| {
            groups.push(Group { pfns: Vec::new(), key, addrs: Default::default() });
            groups.len() - 1
        });
        let g = &mut groups[i];
        g.pfns.push(pfn);
        for (side, m) in maps.iter().enumerate() {
            for &(pid, pmd, addr) in m {
                if !pmd {
                    g.addrs[side].entry(pid).or_default().push(addr);
                }
            }
        }
    }
    (lines, groups.into_iter().map(Group::finish).collect())
}

/// Everything the model knows about a page: its `PageInfo`, and the folio fields `PageInfo` leaves out that
/// [`same_folio`] compares (what the page holds, the mm-id slots, the deferred split queue, ...). `null` for a free
/// page.
fn page_value(m: &Model, pfn: u64) -> Value {
    let (Some(info), Some(f)) = (m.page_info(pfn), m.folio(pfn)) else { return Value::Null };
    let mut v = serde_json::to_value(&info).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        let extra = serde_json::json!({
            "content": f.pages[(pfn - f.pfn) as usize].content,
            "nr_pages_mapped": f.nr_pages_mapped,
            "mm_id": f.mm_id,
            "mm_id_mapcount": f.mm_id_mapcount,
            "mm_ids_shared": f.mm_ids_shared,
            "mapping": f.mapping,
            "deferred_split": f.deferred_split,
            "pre_trace": f.pre_trace,
        });
        if let Value::Object(extra) = extra {
            for (k, x) in extra {
                o.entry(k).or_insert(x);
            }
        }
    }
    v
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
                json_diff(&format!("{path}[{i}]"), u, v, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
}

/// A page group being built: its pages, its difference, and the virtual addresses of its PTE mappings per side
/// and process.
struct Group {
    pfns: Vec<u64>,
    key: Vec<NormField>,
    addrs: [BTreeMap<u32, Vec<u64>>; 2],
}

impl Group {
    fn finish(self) -> PageGroup {
        let mut runs: Vec<[u64; 2]> = Vec::new();
        for &p in &self.pfns {
            match runs.last_mut() {
                Some(r) if r[1] + 1 == p => r[1] = p,
                _ => runs.push([p, p]),
            }
        }
        let addrs = &self.addrs;
        let differences = self
            .key
            .into_iter()
            .map(|f| match f {
                NormField::Plain(field, a, b) => FieldDiff { field, a, b },
                NormField::Rmap(a, b) => {
                    let show = |side: usize, keys: Vec<MapKey>| {
                        let mut seen = BTreeSet::new();
                        let v = keys
                            .into_iter()
                            .filter(|k| seen.insert(*k))
                            .map(|(pid, pmd, addr)| {
                                if pmd {
                                    return Value::from(format!("pid {pid} PMD {addr:#x}"));
                                }
                                let mut va = addrs[side].get(&pid).cloned().unwrap_or_default();
                                va.sort_unstable();
                                va.dedup();
                                let ptes = if va.len() == 1 { "PTE" } else { "PTEs" };
                                Value::from(format!("pid {pid} {ptes} {}", runs_text(&va, PAGE_SIZE)))
                            })
                            .collect();
                        Value::Array(v)
                    };
                    FieldDiff { field: "rmap".into(), a: show(0, a), b: show(1, b) }
                }
            })
            .collect();
        PageGroup { pages: self.pfns.len() as u64, pfns: runs, differences }
    }
}

/// A mapping of a page, for grouping: (pid of the mm's owner, PMD?, the PMD's address or 0 for a PTE, whose
/// address varies from page to page and is kept apart).
type MapKey = (u32, bool, u64);

/// One field of a page's difference with what varies from page to page taken out, so that pages that differ in
/// the same way compare equal: the pfn itself, the head of an order-0 folio, the virtual address of each PTE.
#[derive(Clone, Debug, PartialEq, Eq)]
enum NormField {
    Plain(String, Value, Value),
    /// Each side's mappings.
    Rmap(Vec<MapKey>, Vec<MapKey>),
}

/// The page's mappings as (owner pid, PMD?, virtual address), sorted.
fn page_mappings(m: &Model, pfn: u64) -> Vec<(u32, bool, u64)> {
    let Some(f) = m.folio(pfn) else { return Vec::new() };
    let mut v: Vec<(u32, bool, u64)> = f
        .rmap
        .iter()
        .filter(|r| r.pmd || f.pfn + u64::from(r.page) == pfn)
        .map(|r| (m.mm_struct(r.mm).map_or(0, |mm| mm.owner), r.pmd, r.addr))
        .collect();
    v.sort_unstable();
    v
}

/// A page's difference, normalized (see [`NormField`]), in the order a reviewer reads it.
fn normalized_diff(va: &Value, vb: &Value, maps: &[Vec<(u32, bool, u64)>; 2]) -> Vec<NormField> {
    let norm = |v: &Value| -> BTreeMap<String, Value> {
        let Some(o) = v.as_object() else { return BTreeMap::new() };
        let mut out = BTreeMap::new();
        for (k, x) in o {
            match k.as_str() {
                "pfn" | "head" | "order" | "rmap" => {}
                "refs" => {
                    if let Some(r) = x.as_object() {
                        for (rk, rv) in r {
                            out.insert(format!("refs.{rk}"), rv.clone());
                        }
                    }
                }
                _ => {
                    out.insert(k.clone(), x.clone());
                }
            }
        }
        out
    };
    let folio = |v: &Value| match (v.get("order").and_then(Value::as_u64), v.get("head").and_then(Value::as_u64)) {
        (Some(0), _) => serde_json::json!({ "order": 0 }),
        (Some(o), Some(h)) => serde_json::json!({ "order": o, "head": h }),
        _ => Value::Null,
    };
    let mut out = Vec::new();
    let (fa, fb) = (folio(va), folio(vb));
    if fa != fb {
        out.push(NormField::Plain("folio".into(), fa, fb));
    }
    let (na, nb) = (norm(va), norm(vb));
    let keys: BTreeSet<&String> = na.keys().chain(nb.keys()).collect();
    let mut fields: Vec<NormField> = keys
        .into_iter()
        .filter_map(|k| {
            let (x, y) = (na.get(k).unwrap_or(&Value::Null), nb.get(k).unwrap_or(&Value::Null));
            (x != y).then(|| NormField::Plain(k.clone(), x.clone(), y.clone()))
        })
        .collect();
    if maps[0] != maps[1] {
        let key = |m: &Vec<(u32, bool, u64)>| -> Vec<MapKey> {
            m.iter().map(|&(pid, pmd, addr)| (pid, pmd, if pmd { addr } else { 0 })).collect()
        };
        fields.push(NormField::Rmap(key(&maps[0]), key(&maps[1])));
    }
    let rank = |f: &NormField| match f {
        NormField::Plain(k, ..) => ["lazyfree", "lru", "flags", "rmap", "swap", "batches", "anon_exclusive"]
            .iter()
            .position(|x| x == k)
            .unwrap_or(99),
        NormField::Rmap(..) => 3,
    };
    fields.sort_by_key(rank);
    out.extend(fields);
    out
}

/// A page field's name as the text form prints it.
fn page_field_name(field: &str) -> String {
    match field {
        "raw_mapcount" => "_mapcount".into(),
        "mapcount" => "page mapcount".into(),
        "large_mapcount" => "_large_mapcount".into(),
        "entire_mapcount" => "_entire_mapcount".into(),
        "refcount" => "_refcount".into(),
        "anon_exclusive" => "PG_anon_exclusive".into(),
        "lru" => "LRU".into(),
        "batches" => "per-CPU batches".into(),
        "swap" => "swap entry".into(),
        "rmap" => "mapped by".into(),
        "mm_id" => "_mm_id".into(),
        "mm_id_mapcount" => "_mm_id_mapcount".into(),
        "nr_pages_mapped" => "_nr_pages_mapped".into(),
        other => other.into(),
    }
}

/// `pfns 0x100000-0x1000ff (256 pages): folio order 0 vs order 9 (0x100000-0x1001ff); lazyfree true vs false; ...`.
fn render_group(g: &PageGroup) -> String {
    let range = match g.pfns.as_slice() {
        [[f, l]] if f == l => format!("pfn {f:#x}"),
        [[f, l]] => format!("pfns {f:#x}-{l:#x} ({} pages)", g.pages),
        runs => {
            let pfns: Vec<u64> = runs.iter().flat_map(|&[f, l]| f..=l).collect();
            format!("{} pages at pfns {}", g.pages, pfn_ranges(&pfns))
        }
    };
    // Against a free page, the folio's bookkeeping and the fields the allocated side has at their defaults say
    // nothing.
    let free = g.differences.iter().any(|d| d.field == "folio" && (d.a.is_null() || d.b.is_null()));
    let bookkeeping = ["mapping", "mm_id", "mm_id_mapcount", "mm_ids_shared", "nr_pages_mapped", "pre_trace"];
    let default = |v: &Value| match v {
        Value::Null | Value::Bool(false) => true,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    let fields: Vec<String> = g
        .differences
        .iter()
        .filter(|d| {
            !free || d.field == "folio" || !(default(&d.a) && default(&d.b) || bookkeeping.contains(&d.field.as_str()))
        })
        .map(|d| match d.field.as_str() {
            "folio" => {
                let folio =
                    |v: &Value| match (v.get("order").and_then(Value::as_u64), v.get("head").and_then(Value::as_u64)) {
                        (Some(o), Some(h)) => format!("order {o} ({h:#x}-{:#x})", h + (1u64 << o) - 1),
                        (Some(o), None) => format!("order {o}"),
                        _ => "free".into(),
                    };
                format!("folio {} vs {}", folio(&d.a), folio(&d.b))
            }
            "flags" => {
                let set = |v: &Value| -> BTreeSet<String> {
                    v.as_array().map(|a| a.iter().map(show).collect()).unwrap_or_default()
                };
                let (a, b) = (set(&d.a), set(&d.b));
                let only = |x: &BTreeSet<String>, y: &BTreeSet<String>, side: &str| {
                    let v: Vec<&str> = x.difference(y).map(String::as_str).collect();
                    (!v.is_empty()).then(|| format!("{} only under {side}", v.join(", ")))
                };
                let parts: Vec<String> = [only(&a, &b, "A"), only(&b, &a, "B")].into_iter().flatten().collect();
                format!("flags {}", parts.join(", "))
            }
            field => format!("{} {} vs {}", page_field_name(field), show(&d.a), show(&d.b)),
        })
        .collect();
    format!("{range}: {}", fields.join("; "))
}

// ---- the first difference, in words -------------------------------------------------------------------------

/// What the first differing event worked on: the folios (as they were before it) whose pages differ after it, and
/// pages it allocated that were free before.
struct Subject {
    /// (head, order) of each folio before the event.
    folios: Vec<(u64, u32)>,
    /// Differing pages that belonged to no folio before the event.
    new_pfns: Vec<u64>,
    /// Every pfn of the above, sorted.
    pfns: BTreeSet<u64>,
}

impl Subject {
    fn new(before: &Model, ranges: &[(u64, u64)]) -> Subject {
        let mut s = Subject { folios: Vec::new(), new_pfns: Vec::new(), pfns: BTreeSet::new() };
        for &(start, end) in ranges {
            let mut pfn = start;
            while pfn < end {
                match before.folio(pfn) {
                    Some(f) => {
                        if s.folios.last() != Some(&(f.pfn, f.order)) {
                            s.folios.push((f.pfn, f.order));
                            s.pfns.extend(f.pfn..f.pfn + f.nr_pages());
                        }
                        pfn = f.pfn + f.nr_pages();
                    }
                    None => {
                        s.new_pfns.push(pfn);
                        s.pfns.insert(pfn);
                        pfn += 1;
                    }
                }
            }
        }
        s
    }

    /// `it`, `them` or `the pages`, and `its`/`their` for "N of its pages".
    fn pronouns(&self) -> (&'static str, &'static str) {
        match self.folios.len() + usize::from(!self.new_pfns.is_empty()) {
            0 => ("the pages", ""),
            1 if self.new_pfns.is_empty() => ("it", " of its pages"),
            _ => ("them", " of their pages"),
        }
    }

    /// `the order-9 folio at pfn 0x100000 (mapped by 2 processes: pid 100 through 1 PMD, pid 101 through 256 PTEs)`.
    fn describe(&self, before: &Model) -> Option<String> {
        let mut parts = Vec::new();
        match self.folios.as_slice() {
            [] => {}
            [(head, order)] => parts.push(format!("the order-{order} folio at pfn {head:#x}")),
            folios => {
                let orders: BTreeSet<u32> = folios.iter().map(|f| f.1).collect();
                let orders: Vec<String> = orders.iter().map(u32::to_string).collect();
                let covered: Vec<u64> = folios.iter().flat_map(|&(h, o)| h..h + (1u64 << o)).collect();
                parts.push(format!(
                    "{} folios (order{} {}) at pfns {}",
                    folios.len(),
                    if orders.len() > 1 { "s" } else { "" },
                    orders.join(", "),
                    pfn_ranges(&covered)
                ));
            }
        }
        if !self.folios.is_empty() {
            let m = mappings(before, &self.pfns);
            parts[0].push_str(&format!(" ({})", describe_mappings(&m, "mapped by", "not mapped")));
        }
        if !self.new_pfns.is_empty() {
            parts.push(match self.new_pfns.as_slice() {
                [pfn] => format!("the free page at pfn {pfn:#x}"),
                pfns => format!("{} free pages at pfns {}", pfns.len(), pfn_ranges(pfns)),
            });
        }
        (!parts.is_empty()).then(|| parts.join(" and "))
    }
}

/// `0x100000-0x10003f, 0x100080` (at most four runs, then `...`).
fn pfn_ranges(pfns: &[u64]) -> String {
    runs_text(pfns, 1)
}

/// Sorted values as runs `first-last` of values `step` apart: at most four runs, then `...`.
fn runs_text(values: &[u64], step: u64) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &p in values {
        match runs.last_mut() {
            Some(r) if r.1 + step == p => r.1 = p,
            _ => runs.push((p, p)),
        }
    }
    let mut v: Vec<String> =
        runs.iter().take(4).map(|&(s, e)| if s == e { format!("{s:#x}") } else { format!("{s:#x}-{e:#x}") }).collect();
    if runs.len() > 4 {
        v.push("...".into());
    }
    v.join(", ")
}

/// `1 page`, `2 pages`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Per process (the mm's owner): how many PMDs and PTEs map the pages `pfns`.
fn mappings(m: &Model, pfns: &BTreeSet<u64>) -> BTreeMap<u32, (u64, u64)> {
    let mut out: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut heads = BTreeSet::new();
    for &pfn in pfns {
        let Some(f) = m.folio(pfn) else { continue };
        if !heads.insert(f.pfn) {
            continue;
        }
        for r in &f.rmap {
            let owner = m.mm_struct(r.mm).map_or(0, |mm| mm.owner);
            if r.pmd {
                out.entry(owner).or_default().0 += 1;
            } else if pfns.contains(&(f.pfn + u64::from(r.page))) {
                out.entry(owner).or_default().1 += 1;
            }
        }
    }
    out
}

/// `mapped by 2 processes: pid 100 through 1 PMD, pid 101 through 256 PTEs`.
fn describe_mappings(m: &BTreeMap<u32, (u64, u64)>, lead: &str, none: &str) -> String {
    let each: Vec<String> = m
        .iter()
        .map(|(pid, &(pmds, ptes))| {
            let how: Vec<String> =
                [(pmds, "PMD"), (ptes, "PTE")].iter().filter(|(n, _)| *n > 0).map(|&(n, w)| plural(n, w)).collect();
            format!("pid {pid} through {}", how.join(" and "))
        })
        .collect();
    match each.len() {
        0 => none.to_string(),
        1 => format!("{lead} {}", each[0]),
        n => format!("{lead} {n} processes: {}", each.join(", ")),
    }
}

/// How one PTE (or the PTE-sized part of a PMD) changed in the event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PteChange {
    Discarded,
    Unmapped,
    SwappedOut,
    SwappedIn,
    SwapDropped,
    Copied,
    Remapped,
    Reused,
    MappedNew,
    Mapped,
    Bits(String),
    Other,
}

impl PteChange {
    /// Whether the summary sentence says it (the PTE bits are detail).
    fn main(&self) -> bool {
        !matches!(self, PteChange::Bits(_))
    }

    fn phrase(&self, n: u64) -> String {
        let pages = |verb: &str, tail: &str| {
            if n == 0 {
                format!("{verb} no page")
            } else {
                format!("{verb} {}{tail}", plural(n, "page"))
            }
        };
        match self {
            PteChange::Discarded => pages("discarded", " (clean lazyfree)"),
            PteChange::Unmapped => pages("unmapped", ""),
            PteChange::SwappedOut => pages("swapped out", ""),
            PteChange::SwappedIn => pages("swapped in", ""),
            PteChange::SwapDropped => match n {
                0 => "dropped no swap entry".into(),
                1 => "dropped 1 swap entry".into(),
                n => format!("dropped {n} swap entries"),
            },
            PteChange::Copied => pages("copied", " on write (COW)"),
            PteChange::Remapped => pages("remapped", " to other pfns"),
            PteChange::Reused => pages("reused", " in place on write"),
            PteChange::MappedNew => {
                if n == 0 {
                    "mapped no new page".into()
                } else {
                    format!("mapped {}", plural(n, "new page"))
                }
            }
            PteChange::Mapped => pages("mapped", ""),
            PteChange::Bits(label) => {
                if n == 0 {
                    format!("{label} in no PTE")
                } else {
                    format!("{label} in {}", plural(n, "PTE"))
                }
            }
            PteChange::Other => {
                if n == 0 {
                    "changed no other PTE".into()
                } else {
                    format!("changed {} otherwise", plural(n, "PTE"))
                }
            }
        }
    }
}

/// Every populated user address of the process `pid` (PMD mappings as their 512 pages).
fn populated(m: &Model, pid: u32) -> Vec<u64> {
    const USER_END: u64 = 1 << 47;
    let Some(mm) = mm_of(m, pid) else { return Vec::new() };
    let mut v: Vec<u64> = mm.populated_ptes(0, USER_END).into_iter().map(|(a, _)| a).collect();
    for (addr, _) in mm.huge_pmds_in(0, USER_END) {
        v.extend((0..HPAGE_PMD_NR).map(|i| addr + i * PAGE_SIZE));
    }
    v
}

/// How the event changed the page tables of every process, by kind of change.
fn pte_changes(before: &Model, after: &Model, ev: &Event, out: &Outcome) -> BTreeMap<PteChange, u64> {
    let allocated = |pfn: u64| out.allocated.iter().any(|&(p, o)| (p..p + (1u64 << o)).contains(&pfn));
    let freed = |pfn: u64| out.freed.iter().any(|&(p, o)| (p..p + (1u64 << o)).contains(&pfn));
    let write_access = match &ev.op {
        Op::Fault { access, .. } | Op::Touch { access, .. } => *access == Access::Write,
        Op::Store { .. } => true,
        Op::Gup { write, .. } => *write,
        _ => false,
    };
    // One process per mm: the lowest pid using it.
    let mut pids = BTreeSet::new();
    for m in [before, after] {
        let mut seen = BTreeSet::new();
        for t in m.tasks() {
            if let Some(mm) = t.mm {
                if seen.insert(mm) {
                    pids.insert(t.pid);
                }
            }
        }
    }
    let mut counts: BTreeMap<PteChange, u64> = BTreeMap::new();
    for pid in pids {
        let addrs: BTreeSet<u64> = populated(before, pid).into_iter().chain(populated(after, pid)).collect();
        for addr in addrs {
            let b = before.lookup(pid, addr).unwrap_or_default();
            let a = after.lookup(pid, addr).unwrap_or_default();
            if a == b {
                continue;
            }
            let change = match (b, a) {
                (Pte::Present(p), Pte::None) => {
                    let lazy = !p.special && before.folio(p.pfn).is_some_and(Folio::is_lazyfree);
                    if lazy && freed(p.pfn) {
                        PteChange::Discarded
                    } else {
                        PteChange::Unmapped
                    }
                }
                (Pte::Present(_), Pte::Swap { .. }) => PteChange::SwappedOut,
                (Pte::Swap { .. }, Pte::Present(_)) => PteChange::SwappedIn,
                (Pte::Swap { .. }, Pte::None) => PteChange::SwapDropped,
                (Pte::None, Pte::Present(q)) if allocated(q.pfn) => PteChange::MappedNew,
                (Pte::None, Pte::Present(_)) => PteChange::Mapped,
                (Pte::Present(p), Pte::Present(q)) if p.pfn != q.pfn => {
                    if allocated(q.pfn) {
                        PteChange::Copied
                    } else {
                        PteChange::Remapped
                    }
                }
                (Pte::Present(p), Pte::Present(q)) => {
                    if write_access && !p.write && q.write {
                        PteChange::Reused
                    } else {
                        let bits =
                            [("write", p.write, q.write), ("dirty", p.dirty, q.dirty), ("young", p.young, q.young)];
                        let set: Vec<&str> = bits.iter().filter(|b| !b.1 && b.2).map(|b| b.0).collect();
                        let cleared: Vec<&str> = bits.iter().filter(|b| b.1 && !b.2).map(|b| b.0).collect();
                        let mut label = Vec::new();
                        if !cleared.is_empty() {
                            label.push(format!("cleared {}", cleared.join(" and ")));
                        }
                        if !set.is_empty() {
                            label.push(format!("set {}", set.join(" and ")));
                        }
                        PteChange::Bits(label.join(", "))
                    }
                }
                _ => PteChange::Other,
            };
            *counts.entry(change).or_default() += 1;
        }
    }
    counts
}

/// What one side's event did, measured over the subject's pages and the whole machine.
struct Facts {
    ret: Option<i64>,
    allocated: Vec<(u64, u32)>,
    freed: u64,
    /// Per large subject folio: the orders of the folios now covering it (empty: freed).
    large: Vec<Vec<u32>>,
    ptes: BTreeMap<PteChange, u64>,
    lazyfree: (u64, u64),
    swapcache: (u64, u64),
    lru: BTreeMap<(Option<&'static str>, Option<&'static str>), u64>,
    batches: BTreeMap<String, u64>,
    mapped_by: BTreeMap<u32, (u64, u64)>,
    flags: BTreeMap<(bool, &'static str), u64>,
    diagnostics: Vec<String>,
}

impl Facts {
    fn measure(before: &Model, after: &Model, ev: &Event, out: &Outcome, subject: &Subject) -> Facts {
        let large = subject
            .folios
            .iter()
            .filter(|(_, o)| *o > 0)
            .map(|&(head, order)| {
                let mut orders = Vec::new();
                let mut pfn = head;
                while pfn < head + (1u64 << order) {
                    match after.folio(pfn) {
                        Some(g) => {
                            orders.push(g.order);
                            pfn = g.pfn + g.nr_pages();
                        }
                        None => pfn += 1,
                    }
                }
                let freed = out.freed.iter().any(|&(p, o)| p < head + (1u64 << order) && head < p + (1u64 << o));
                if freed && orders == [order] {
                    // Freed and a folio of the same size allocated in its place.
                    orders.clear();
                }
                orders
            })
            .collect();
        let count = |m: &Model, test: &dyn Fn(&Folio) -> bool| {
            subject.pfns.iter().filter(|&&p| m.folio(p).is_some_and(test)).count() as u64
        };
        let mut lru = BTreeMap::new();
        let mut flags = BTreeMap::new();
        // Flags the other aspects already tell: the split, the LRU lists, lazyfree, the swap cache.
        let told = [
            PageFlag::head,
            PageFlag::lru,
            PageFlag::active,
            PageFlag::unevictable,
            PageFlag::swapbacked,
            PageFlag::swapcache,
        ];
        for &pfn in &subject.pfns {
            let (fb, fa) = (before.folio(pfn), after.folio(pfn));
            let (lb, la) = (fb.and_then(|f| f.lru).map(|l| l.name()), fa.and_then(|f| f.lru).map(|l| l.name()));
            if lb != la && fa.is_some() {
                *lru.entry((lb, la)).or_default() += 1;
            }
            if let (Some(fb), Some(fa)) = (fb, fa) {
                for &flag in PageFlag::ALL.iter().filter(|f| !told.contains(f)) {
                    if fb.flags.test(flag) != fa.flags.test(flag) {
                        *flags.entry((fa.flags.test(flag), flag.name())).or_default() += 1;
                    }
                }
            }
        }
        let mut batches: BTreeMap<String, u64> = BTreeMap::new();
        let mut heads = BTreeSet::new();
        for &pfn in &subject.pfns {
            let Some(f) = after.folio(pfn) else { continue };
            if !heads.insert(f.pfn) {
                continue;
            }
            let pages = (f.pfn..f.pfn + f.nr_pages()).filter(|p| subject.pfns.contains(p)).count() as u64;
            for batch in after.page_info(f.pfn).map(|p| p.batches).unwrap_or_default() {
                *batches.entry(batch).or_default() += pages;
            }
        }
        Facts {
            ret: out.ret,
            allocated: out.allocated.clone(),
            freed: out.freed.iter().map(|&(_, o)| 1u64 << o).sum(),
            large,
            ptes: pte_changes(before, after, ev, out),
            lazyfree: (count(before, &Folio::is_lazyfree), count(after, &Folio::is_lazyfree)),
            swapcache: (count(before, &|f| f.flags.test_swapcache()), count(after, &|f| f.flags.test_swapcache())),
            lru,
            batches,
            mapped_by: mappings(after, &subject.pfns),
            flags,
            diagnostics: after
                .diagnostics()
                .since(before.diagnostics().len())
                .map(|d| format!("{} ({})", d.kind, d.message))
                .collect(),
        }
    }
}

/// `0`, `-22 (EINVAL)`, `-` (no result).
fn ret_value(ret: Option<i64>) -> String {
    match ret {
        None => "-".into(),
        Some(r) if r < 0 => format!("{r} ({})", errno_name(-r)),
        Some(r) if r > 0xffff => format!("{r:#x}"),
        Some(r) => r.to_string(),
    }
}

/// `returned 0`, `returned -22 (EINVAL)`.
fn returned(ret: Option<i64>) -> String {
    match ret {
        None => "returned nothing".into(),
        Some(r) if r < 0 => format!("returned {r} ({})", errno_name(-r)),
        Some(r) if r > 0xffff => format!("returned {r:#x}"),
        Some(r) => format!("returned {r}"),
    }
}

/// An RSS counter the two sides end the event with differently: its name, then (before, after) under A and B.
type RssMove = (String, (i64, i64), (i64, i64));

/// The aspects in which the two sides' events differ, as verb phrases for each side.
fn effects(fa: &Facts, fb: &Facts, subject: &Subject, rss: &[RssMove], vm: &[(&'static str, u64, u64)]) -> Vec<Effect> {
    let (it, of_its) = subject.pronouns();
    let mut out = Vec::new();
    let mut push = |aspect, main, a: String, b: String| out.push(Effect { aspect, main, a, b });
    if fa.ret != fb.ret {
        push("result", true, returned(fa.ret), returned(fb.ret));
    }
    if fa.large != fb.large {
        let split = |large: &Vec<Vec<u32>>| {
            let single = large.len() == 1;
            let (mut whole, mut freed, mut split, mut into) = (0, 0, 0, BTreeMap::<u32, u64>::new());
            for orders in large {
                match orders.as_slice() {
                    [] => freed += 1,
                    [_] => whole += 1,
                    many => {
                        split += 1;
                        for o in many {
                            *into.entry(*o).or_default() += 1;
                        }
                    }
                }
            }
            let into: Vec<String> =
                into.iter().map(|(o, n)| format!("{n} order-{o} folio{}", if *n == 1 { "" } else { "s" })).collect();
            let mut parts = Vec::new();
            let the = |n: u64| if single { "the folio".to_string() } else { plural(n, "large folio") };
            if split > 0 {
                parts.push(format!("split {} into {}", the(split), into.join(" and ")));
            }
            if whole > 0 {
                parts.push(format!("left {} whole", the(whole)));
            }
            if freed > 0 {
                parts.push(format!("freed {}", the(freed)));
            }
            parts.join(", ")
        };
        push("split", true, split(&fa.large), split(&fb.large));
    }
    let kinds: BTreeSet<&PteChange> = fa.ptes.keys().chain(fb.ptes.keys()).collect();
    let pte_phrases = |main: bool| {
        let differing: Vec<&PteChange> =
            kinds.iter().copied().filter(|k| k.main() == main && fa.ptes.get(*k) != fb.ptes.get(*k)).collect();
        let phrase = |f: &Facts| {
            differing.iter().map(|k| k.phrase(f.ptes.get(*k).copied().unwrap_or(0))).collect::<Vec<_>>().join(", ")
        };
        (!differing.is_empty()).then(|| (phrase(fa), phrase(fb)))
    };
    if let Some((a, b)) = pte_phrases(true) {
        push("mappings", true, a, b);
    }
    if fa.freed != fb.freed {
        let freed = |n: u64| if n == 0 { "freed no page".into() } else { format!("freed {}", plural(n, "page")) };
        push("freed", true, freed(fa.freed), freed(fb.freed));
    }
    if fa.allocated != fb.allocated {
        let alloc = |v: &[(u64, u32)]| {
            let pages: u64 = v.iter().map(|&(_, o)| 1u64 << o).sum();
            match v {
                [] => "allocated no page".to_string(),
                [(p, 0)] => format!("allocated a page at pfn {p:#x}"),
                [(p, o)] => format!("allocated an order-{o} folio at pfn {p:#x}"),
                _ => format!("allocated {} in {} folios", plural(pages, "page"), v.len()),
            }
        };
        push("allocated", true, alloc(&fa.allocated), alloc(&fb.allocated));
    }
    if let Some((a, b)) = pte_phrases(false) {
        push("PTE bits", false, a, b);
    }
    let delta = |(b, a): (u64, u64)| a as i64 - b as i64;
    if delta(fa.lazyfree) != delta(fb.lazyfree) {
        let lazy = |d: i64| match d {
            0 if of_its.is_empty() => "made no page lazyfree".to_string(),
            0 => format!("made none{of_its} lazyfree"),
            d if d > 0 => format!("made {d}{} lazyfree", if of_its.is_empty() { " pages" } else { of_its }),
            d => format!("took {}{} out of lazyfree", -d, if of_its.is_empty() { " pages" } else { of_its }),
        };
        push("lazyfree", true, lazy(delta(fa.lazyfree)), lazy(delta(fb.lazyfree)));
    }
    if delta(fa.swapcache) != delta(fb.swapcache) {
        let swap = |d: i64| match d {
            0 => "added no page to the swap cache".to_string(),
            d if d > 0 => format!("added {} to the swap cache", plural(d as u64, "page")),
            d => format!("took {} out of the swap cache", plural((-d) as u64, "page")),
        };
        push("swap cache", true, swap(delta(fa.swapcache)), swap(delta(fb.swapcache)));
    }
    if !rss.is_empty() {
        let phrase = |side: usize| {
            rss.iter()
                .map(|(name, a, b)| {
                    let (was, now) = if side == 0 { *a } else { *b };
                    if was == now {
                        format!("kept {name} at {now}")
                    } else {
                        format!("took {name} from {was} to {now}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        push("RSS", true, phrase(0), phrase(1));
    }
    if fa.diagnostics != fb.diagnostics {
        let diag = |d: &[String]| {
            if d.is_empty() {
                "reported nothing".to_string()
            } else {
                format!("reported {}", d.join(", "))
            }
        };
        push("diagnostics", true, diag(&fa.diagnostics), diag(&fb.diagnostics));
    }
    if fa.mapped_by != fb.mapped_by {
        let lead = format!("left {it} mapped by");
        let none = format!("left {it} unmapped");
        push(
            "mapped by",
            false,
            describe_mappings(&fa.mapped_by, &lead, &none),
            describe_mappings(&fb.mapped_by, &lead, &none),
        );
    }
    if fa.lru != fb.lru {
        let lru = |m: &BTreeMap<(Option<&str>, Option<&str>), u64>| {
            if m.is_empty() {
                return "moved no page between LRU lists".to_string();
            }
            m.iter()
                .map(|((from, to), n)| match (from, to) {
                    (Some(f), Some(t)) => format!("moved {} from {f} to {t}", plural(*n, "page")),
                    (None, Some(t)) => format!("put {} on {t}", plural(*n, "page")),
                    (Some(f), None) => format!("took {} off {f}", plural(*n, "page")),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        push("LRU", false, lru(&fa.lru), lru(&fb.lru));
    }
    if fa.batches != fb.batches {
        let batches = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                return "left no page in a per-CPU batch".to_string();
            }
            let v: Vec<String> = m.iter().map(|(b, n)| format!("{} in {b}", plural(*n, "page"))).collect();
            format!("left {}", v.join(", "))
        };
        push("per-CPU batches", false, batches(&fa.batches), batches(&fb.batches));
    }
    if fa.flags != fb.flags {
        let flags = |m: &BTreeMap<(bool, &str), u64>| {
            if m.is_empty() {
                return "changed no other page flag".to_string();
            }
            m.iter()
                .map(|((set, flag), n)| {
                    format!("{} {flag} on {}", if *set { "set" } else { "cleared" }, plural(*n, "page"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        push("page flags", false, flags(&fa.flags), flags(&fb.flags));
    }
    if !vm.is_empty() {
        let side = |i: usize| {
            vm.iter().map(|(n, a, b)| format!("{n} +{}", if i == 0 { a } else { b })).collect::<Vec<_>>().join(", ")
        };
        push("vmstat", false, side(0), side(1));
    }
    out
}

/// `madvise(MADV_FREE) of 0x7effff800000+0x100000 by pid 100 (parent)`.
fn describe_op(ev: &Event, comm: &str) -> String {
    let by = format!("by pid {} ({comm})", ev.pid);
    let prot = |p: u64| mmdb_model::format_bits(p, mmdb_model::PROT_NAMES, "PROT_NONE");
    match &ev.op {
        Op::Spawn { comm: c } => format!("spawn of pid {} ({c})", ev.pid),
        Op::Fork { child, thread: false } => format!("fork of pid {child} {by}"),
        Op::Fork { child, thread: true } => format!("clone of thread {child} {by}"),
        Op::Vfork { child } => format!("vfork of pid {child} {by}"),
        Op::Exec { filename } if filename.is_empty() => format!("exec {by}"),
        Op::Exec { filename } => format!("exec of {filename} {by}"),
        Op::Exit => format!("exit of pid {} ({comm})", ev.pid),
        Op::Rename { comm: to } => format!("pid {} ({comm}) renamed {to}", ev.pid),
        Op::Mmap { addr, len, prot: p, flags, .. } => format!(
            "mmap of {len:#x} bytes{} ({}, {}) {by}",
            addr.map(|a| format!(" at {a:#x}")).unwrap_or_default(),
            prot(*p),
            mmdb_model::format_bits(*flags, mmdb_model::MAP_NAMES, "0")
        ),
        Op::Munmap { addr, len } => format!("munmap of {addr:#x}+{len:#x} {by}"),
        Op::Mprotect { addr, len, prot: p } => format!("mprotect({}) of {addr:#x}+{len:#x} {by}", prot(*p)),
        Op::Mremap { addr, old_len, new_len, .. } => {
            format!("mremap of {addr:#x}+{old_len:#x} to {new_len:#x} bytes {by}")
        }
        Op::Brk { brk } => format!("brk({brk:#x}) {by}"),
        Op::Fault { addr, access, .. } => format!("{} fault at {addr:#x} {by}", access.name()),
        Op::Touch { addr, access } => format!("{} access to {addr:#x} {by}", access.name()),
        Op::Store { addr, .. } => format!("store to {addr:#x} {by}"),
        Op::Gup { addr, write } => format!("GUP {} of {addr:#x} {by}", if *write { "write" } else { "read" }),
        Op::Madvise { addr, len, advice } => {
            let name = madv_name(*advice).map_or_else(|| advice.to_string(), str::to_string);
            format!("madvise({name}) of {addr:#x}+{len:#x} {by}")
        }
        Op::Mlock { addr, len } => format!("mlock of {addr:#x}+{len:#x} {by}"),
        Op::Munlock { addr, len } => format!("munlock of {addr:#x}+{len:#x} {by}"),
        Op::LruAddDrain => format!("lru_add_drain() on cpu {}", ev.cpu),
        Op::LruAddDrainAll => "lru_add_drain_all()".into(),
        Op::FolioBatchMove { batch } => format!("the move of cpu {}'s {} batch", ev.cpu, batch.name()),
        Op::Reclaim { nr, memcg: None } => format!("reclaim of {}", plural(*nr, "page")),
        Op::Reclaim { nr, memcg: Some(id) } => format!("reclaim of {} in memcg {id}", plural(*nr, "page")),
        Op::ShrinkFolio { pfn } => format!("shrink_folio_list() of the folio at pfn {pfn:#x}"),
        Op::FolioGet { pfn } => format!("folio_get() of the folio at pfn {pfn:#x} {by}"),
        Op::FolioPut { pfn } => format!("folio_put() of the folio at pfn {pfn:#x} {by}"),
        Op::MemcgCreate { id, .. } => format!("creation of memcg {id}"),
        Op::MemcgAttach { id } => format!("move of pid {} into memcg {id}", ev.pid),
        Op::Swapon { size } => format!("swapon of {size:#x} bytes"),
        // Operations added since: as the mm event format writes them.
        _ => format!("{} {by}", event_text(ev).split_once(": ").map_or("", |(_, op)| op)),
    }
}

/// Describes event `i` (0-based), given both models right before it.
fn first_difference(
    events: &[(u32, Event)],
    i: usize,
    before_a: Model,
    before_b: Model,
    na: &str,
    nb: &str,
) -> FirstDifference {
    let (line, ev) = &events[i];
    let (mut ma, mut mb) = (before_a.clone(), before_b.clone());
    let (oa, ob) = (ma.apply(ev), mb.apply(ev));
    let differing = differing_folios(&ma, &mb);
    let (page_lines, page_groups) = page_diff(&ma, &mb, &differing);
    let subject = Subject::new(&before_a, &differing);
    let fa = Facts::measure(&before_a, &ma, ev, &oa, &subject);
    let fb = Facts::measure(&before_b, &mb, ev, &ob, &subject);
    // RSS counters that end the event differently, with each side's value before and after.
    let mut rss = Vec::new();
    let pids: BTreeSet<u32> = ma.tasks().chain(mb.tasks()).map(|t| t.pid).collect();
    for pid in pids {
        let get = |m: &Model| m.rss(pid).unwrap_or_default();
        let (ba, aa, bb, ab) = (get(&before_a), get(&ma), get(&before_b), get(&mb));
        for (name, f) in [
            ("MM_FILEPAGES", (|r: &mmdb_model::RssCounters| r.file) as fn(&mmdb_model::RssCounters) -> i64),
            ("MM_ANONPAGES", |r| r.anon),
            ("MM_SWAPENTS", |r| r.swapents),
            ("MM_SHMEMPAGES", |r| r.shmem),
        ] {
            if f(&aa) != f(&ab) {
                rss.push((format!("pid {pid}'s {name}"), (f(&ba), f(&aa)), (f(&bb), f(&ab))));
            }
        }
    }
    let vm: Vec<(&'static str, u64, u64)> = VmEvent::ALL
        .iter()
        .map(|&e| (e.name(), ma.vm_event(e) - before_a.vm_event(e), mb.vm_event(e) - before_b.vm_event(e)))
        .filter(|(_, a, b)| a != b)
        .collect();
    let (ra, rb) = (ma.report(), mb.report());
    let figures = figure_diff(&ra, &rb);
    let mut effects = effects(&fa, &fb, &subject, &rss, &vm);
    if effects.iter().all(|e| e.aspect == "vmstat") {
        // Nothing the aspects measure: say how the figures that differ moved on each side.
        let moved = |before: &Model, after: &Model| {
            figure_diff(&before.report(), &after.report())
                .into_iter()
                .map(|f| (f.path, f.a))
                .collect::<BTreeMap<_, _>>()
        };
        let (moved_a, moved_b) = (moved(&before_a, &ma), moved(&before_b, &mb));
        let shown: Vec<&Figure> = figures.iter().take(4).collect();
        let phrase = |moved: &BTreeMap<String, Value>, now: &dyn Fn(&Figure) -> Value| {
            shown
                .iter()
                .map(|f| {
                    let unit = if f.unit.is_empty() { String::new() } else { format!(" {}", f.unit) };
                    // A figure the profile does not keep is absent, not "-".
                    match (moved.get(&f.path), now(f)) {
                        (None, Value::Null) => format!("left {} absent", f.name),
                        (Some(was), Value::Null) => format!("took {} from {}{unit} to absent", f.name, show(was)),
                        (Some(was), now) => format!("took {} from {} to {}{unit}", f.name, show(was), show(&now)),
                        (None, now) => format!("kept {} at {}{unit}", f.name, show(&now)),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !shown.is_empty() {
            let (a, b) = (phrase(&moved_a, &|f| f.a.clone()), phrase(&moved_b, &|f| f.b.clone()));
            effects.push(Effect { aspect: "figures", main: false, a, b });
        }
    }
    // The sentence: the main aspects (or, when none differs, the others), then the vm events in brackets.
    let said: Vec<&Effect> = {
        let main: Vec<&Effect> = effects.iter().filter(|e| e.main).collect();
        if main.is_empty() {
            effects.iter().filter(|e| e.aspect != "vmstat").collect()
        } else {
            main
        }
    };
    let sentence = |side: usize| {
        let phrases: Vec<&str> = said.iter().map(|e| if side == 0 { e.a.as_str() } else { e.b.as_str() }).collect();
        let mut s = match phrases.as_slice() {
            [] => "ended in another state".to_string(),
            [one] => one.to_string(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        };
        if let Some(v) = effects.iter().find(|e| e.aspect == "vmstat") {
            let _ = write!(s, " ({})", if side == 0 { &v.a } else { &v.b });
        }
        s
    };
    // Real traces may not name the task; the model knows it from its exec or fork.
    let comm = match before_a.task(ev.pid) {
        Some(t) if ev.comm.is_empty() => t.comm.clone(),
        _ => ev.comm.clone(),
    };
    let head = match subject.describe(&before_a) {
        Some(s) => format!("{} on {s}", describe_op(ev, &comm)),
        None => describe_op(ev, &comm),
    };
    let under_a = format!("under {na} it {}", sentence(0));
    let under_b = format!("under {nb} it {}", sentence(1));
    let summary = format!("event {}, {head}: {under_a}; {under_b}", i + 1);
    let mut changes = Vec::new();
    if oa.ret != ob.ret {
        changes.push(format!("result: {} vs {}", returned(oa.ret), returned(ob.ret)));
    }
    if oa.allocated != ob.allocated || oa.freed != ob.freed {
        let pages = |v: &[(u64, u32)]| v.iter().map(|&(_, o)| 1u64 << o).sum::<u64>();
        changes.push(format!(
            "pages allocated and freed: {} and {} vs {} and {}",
            pages(&oa.allocated),
            pages(&oa.freed),
            pages(&ob.allocated),
            pages(&ob.freed)
        ));
    }
    changes.extend(figures.iter().map(render_figure));
    changes.extend(diagnostic_diff(&ra, &rb, na, nb).iter().map(|d| format!("diagnostic {}", render_diagnostic(d))));
    FirstDifference {
        event: i as u64 + 1,
        line: *line,
        text: event_text(ev),
        summary,
        effects,
        changes,
        figures,
        page_count: page_lines.len() as u64,
        page_groups,
        parts: [head, under_a, under_b],
    }
}

// ---- text ---------------------------------------------------------------------------------------------------

/// How many lines of each list the text form shows (the JSON form has them all).
const SHOWN: usize = 20;

/// The text form of a diff.
pub fn render_diff_text(d: &ProfileDiff, name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mmdb diff: {name}: {} events under {} (A) and {} (B)", d.events, d.a, d.b);
    let Some(f) = &d.first else {
        let _ = writeln!(out, "no difference: both profiles end in the same state");
        return out;
    };
    let _ = writeln!(out, "first difference after event {} (line {}): {}", f.event, f.line, f.text);
    let [head, under_a, under_b] = &f.parts;
    let _ = writeln!(out, "  {head}:");
    let _ = writeln!(out, "    {under_a};");
    let _ = writeln!(out, "    {under_b}.");
    let said_main = f.effects.iter().any(|e| e.main);
    let detail: Vec<&Effect> = f.effects.iter().filter(|e| !e.main && said_main && e.aspect != "vmstat").collect();
    if !detail.is_empty() {
        let _ = writeln!(out, "  also (A vs B):");
        for e in detail {
            let _ = writeln!(out, "    {}: {} vs {}", e.aspect, e.a, e.b);
        }
    }
    let _ = writeln!(out, "  right after it (A vs B):");
    list(&mut out, "    ", &f.changes, 12);
    let _ = writeln!(out, "    pages that differ: {}{}", f.page_count, groups_note(f.page_groups.len()));
    list(&mut out, "      ", &f.page_groups.iter().map(render_group).collect::<Vec<_>>(), 4);
    let _ = writeln!(out, "results that differ (A vs B): {}", d.results.len());
    let results: Vec<String> = d
        .results
        .iter()
        .map(|r| format!("event {} (line {}): {}: {} vs {}", r.event, r.line, r.text, ret_value(r.a), ret_value(r.b)))
        .collect();
    list(&mut out, "  ", &results, SHOWN);
    let _ = writeln!(out, "figures that end differently (A vs B): {}", d.report.len());
    list(&mut out, "  ", &d.report, usize::MAX);
    if !d.diagnostics.is_empty() {
        let _ = writeln!(out, "diagnostics only one profile reported: {}", d.diagnostics.len());
        list(&mut out, "  ", &d.diagnostics.iter().map(render_diagnostic).collect::<Vec<_>>(), SHOWN);
    }
    let _ = writeln!(out, "pages that end differently: {}{}", d.page_count, groups_note(d.page_groups.len()));
    list(&mut out, "  ", &d.page_groups.iter().map(render_group).collect::<Vec<_>>(), SHOWN);
    out
}

/// `, in 2 groups (A vs B)`.
fn groups_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => ", in 1 group (A vs B)".into(),
        n => format!(", in {n} groups (A vs B)"),
    }
}

/// The first `max` lines, indented, then how many more the JSON form has.
fn list(out: &mut String, indent: &str, lines: &[String], max: usize) {
    for l in lines.iter().take(max) {
        let _ = writeln!(out, "{indent}{l}");
    }
    if lines.len() > max {
        let _ = writeln!(out, "{indent}... {} more (--format json lists them all)", lines.len() - max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmdb_model::{ThpMode, HPAGE_PMD_SIZE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE};

    /// Without a cheap check's help, the search by checkpoints and bisection lands on the event after which the
    /// full states first differ, and hands back the models right before it.
    #[test]
    fn quiet_divergence_finds_the_first_event_whose_states_differ() {
        let (rw, anon) = (PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        let (small, big) = (0x7f00_0000_0000, 0x7f00_0040_0000);
        let mut ops = vec![
            Op::Spawn { comm: "t".into() },
            Op::Mmap { addr: Some(small), len: 64 * PAGE_SIZE, prot: rw, flags: anon, file: None },
            Op::Mmap { addr: Some(big), len: 2 * HPAGE_PMD_SIZE, prot: rw, flags: anon, file: None },
        ];
        // The same under both THP policies: small pages in a 64 KiB mapping.
        ops.extend((0..20).map(|i| Op::Touch { addr: small + i * PAGE_SIZE, access: Access::Write }));
        // A THP under `always`, a small page under `never`: event 24.
        ops.push(Op::Touch { addr: big, access: Access::Write });
        ops.extend((20..30).map(|i| Op::Touch { addr: small + i * PAGE_SIZE, access: Access::Write }));
        let events: Vec<(u32, Event)> = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| (i as u32 + 1, Event { comm: "t".into(), pid: 1, cpu: 0, ts_ns: i as u64 * 1000, op }))
            .collect();
        let config = |thp| Config { history: false, thp, ..Config::default() };
        for stride in [1, 4, 7, 64] {
            let (i, (ma, mb)) = quiet_divergence(&events, config(ThpMode::Always), config(ThpMode::Never), stride)
                .expect("the states part");
            assert_eq!(i, 23, "stride {stride}");
            assert!(!states_differ(&ma, &mb), "stride {stride}: the models right before it are alike");
            let (mut ma, mut mb) = (ma, mb);
            ma.apply(&events[i].1);
            mb.apply(&events[i].1);
            assert!(states_differ(&ma, &mb), "stride {stride}");
        }
        let same = quiet_divergence(&events, config(ThpMode::Never), config(ThpMode::Never), 4);
        assert!(same.is_none());
    }
}
