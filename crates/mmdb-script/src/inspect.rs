//! Read-only views of the model as Rhai values: pages, reverse maps, history, smaps, RSS, vmstat, processes.
//! Every map has the same keys whatever the state, so scripts can read any field without checking first.

use mmdb_model::mm::Pte;
use mmdb_model::{Field, Model, Pid, Severity, SmapsRollup, VmEvent, ZERO_PFN};
use rhai::{Array, Dynamic, Map};

/// A `u64` as a Rhai integer (addresses, pfns and counts are far below 2^63; contents wrap).
pub(crate) fn int(v: u64) -> Dynamic {
    Dynamic::from_int(v as i64)
}

fn map<const N: usize>(entries: [(&str, Dynamic); N]) -> Map {
    entries.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Dynamic {
    Dynamic::from_array(items.into_iter().map(|s| Dynamic::from(s.to_string())).collect())
}

/// The page at `pfn`: folio state as `/proc/kpage*` and the debugger's `page` show it.
pub(crate) fn page_pfn(model: &Model, pfn: u64) -> Map {
    let mut m = map([
        ("pfn", int(pfn)),
        ("present", Dynamic::FALSE),
        ("zero_page", Dynamic::from_bool(pfn == ZERO_PFN)),
        ("swap", Dynamic::UNIT),
        ("swap_exclusive", Dynamic::FALSE),
        ("pte_write", Dynamic::FALSE),
        ("pte_dirty", Dynamic::FALSE),
        ("pte_young", Dynamic::FALSE),
        ("head", int(pfn)),
        ("order", Dynamic::from_int(0)),
        ("flags", Dynamic::from_array(Array::new())),
        ("mapcount", Dynamic::from_int(0)),
        ("raw_mapcount", Dynamic::from_int(-1)),
        ("folio_mapcount", Dynamic::from_int(0)),
        ("refcount", Dynamic::from_int(0)),
        ("anon_exclusive", Dynamic::FALSE),
        ("lazyfree", Dynamic::FALSE),
        ("lru", Dynamic::from("none")),
        ("batches", Dynamic::from_array(Array::new())),
        ("memcg", Dynamic::from_int(0)),
        ("content", Dynamic::from_int(0)),
        ("allocated", Dynamic::FALSE),
    ]);
    if pfn == ZERO_PFN {
        m.insert("flags".into(), strings(["PG_reserved"]));
        return m;
    }
    let Some(info) = model.page_info(pfn) else { return m };
    let lru = match (info.lru, info.batches.is_empty(), info.refs.isolated > 0) {
        (Some(l), _, _) => l,
        (None, false, _) => "batch",
        (None, true, true) => "isolated",
        (None, true, false) => "none",
    };
    m.extend(map([
        ("zero_page", Dynamic::from_bool(info.flags.contains(&"PG_reserved"))),
        ("swap", info.swap.map_or(Dynamic::UNIT, int)),
        ("head", int(info.head)),
        ("order", Dynamic::from_int(info.order.into())),
        ("flags", strings(info.flags.iter().copied())),
        ("mapcount", Dynamic::from_int(info.mapcount.into())),
        ("raw_mapcount", Dynamic::from_int(info.raw_mapcount.into())),
        ("folio_mapcount", Dynamic::from_int(info.folio_mapcount.into())),
        ("refcount", Dynamic::from_int(info.refcount.into())),
        ("anon_exclusive", Dynamic::from_bool(info.anon_exclusive)),
        ("lazyfree", Dynamic::from_bool(info.lazyfree)),
        ("lru", Dynamic::from(lru)),
        ("batches", strings(info.batches.iter().map(String::as_str))),
        ("memcg", Dynamic::from_int(info.memcg.into())),
        ("content", int(model.page_content(pfn).unwrap_or(0))),
        ("allocated", Dynamic::TRUE),
    ]));
    m
}

/// The page `pid` maps at `addr`: the PTE (or PMD) bits, then the page's state when one is present.
pub(crate) fn page_at(model: &Model, pid: Pid, addr: u64) -> Map {
    let mut m = match model.lookup(pid, addr) {
        Some(Pte::Present(p)) => {
            let mut m = page_pfn(model, p.pfn);
            m.extend(map([
                ("present", Dynamic::TRUE),
                ("zero_page", Dynamic::from_bool(p.special)),
                ("pte_write", Dynamic::from_bool(p.write)),
                ("pte_dirty", Dynamic::from_bool(p.dirty)),
                ("pte_young", Dynamic::from_bool(p.young)),
            ]));
            m
        }
        Some(Pte::Swap { entry, exclusive }) => {
            let mut m = page_pfn(model, 0);
            m.extend(map([("swap", int(entry)), ("swap_exclusive", Dynamic::from_bool(exclusive))]));
            m
        }
        Some(Pte::Vrange) => {
            let mut m = page_pfn(model, 0);
            m.insert("vrange_purged".into(), Dynamic::TRUE);
            m
        }
        None | Some(Pte::None) => page_pfn(model, 0),
    };
    if !m.get("present").is_some_and(|p| p.as_bool().unwrap_or(false)) {
        m.insert("pfn".into(), Dynamic::UNIT);
        m.insert("head".into(), Dynamic::UNIT);
    }
    m.insert("pid".into(), Dynamic::from_int(pid.into()));
    m.insert("addr".into(), int(addr));
    m
}

/// The pfn a page map names, if any.
fn pfn_of(f: &Map) -> Option<u64> {
    f.get("pfn").and_then(|v| v.as_int().ok()).and_then(|v| u64::try_from(v).ok())
}

/// Every mapping of the page `f` names: `#{pid, mm, addr, pmd}`, by mm and address.
pub(crate) fn rmap(model: &Model, f: &Map) -> Array {
    let Some(pfn) = pfn_of(f) else { return Array::new() };
    model
        .page_rmap(pfn)
        .into_iter()
        .map(|r| {
            let owner = model.mm_struct(r.mm).map_or(0, |m| m.owner);
            Dynamic::from_map(map([
                ("pid", Dynamic::from_int(owner.into())),
                ("mm", Dynamic::from_int(r.mm.into())),
                ("addr", int(r.addr)),
                ("pmd", Dynamic::from_bool(r.pmd)),
            ]))
        })
        .collect()
}

/// The kernel name of a history field.
fn field_name(f: Field) -> &'static str {
    match f {
        Field::Allocated => "allocated",
        Field::Mapcount => "mapcount",
        Field::AnonExclusive => "anon_exclusive",
        Field::Refcount => "refcount",
        Field::Flags => "flags",
        Field::Lru => "lru",
        Field::LargeMapcount => "large_mapcount",
        Field::EntireMapcount => "entire_mapcount",
    }
}

/// The history of the page `f` names: one `#{event, op, pid, addr, field, old, new, change}` per change,
/// events numbered from 1.
pub(crate) fn history(model: &Model, f: &Map) -> Array {
    let Some(pfn) = pfn_of(f) else { return Array::new() };
    model
        .page_history(pfn)
        .into_iter()
        .map(|e| {
            Dynamic::from_map(map([
                ("event", int(e.event + 1)),
                ("op", Dynamic::from(e.op)),
                ("pid", Dynamic::from_int(e.pid.into())),
                ("addr", e.addr.map_or(Dynamic::UNIT, int)),
                ("field", Dynamic::from(field_name(e.field))),
                ("old", Dynamic::from_int(e.old)),
                ("new", Dynamic::from_int(e.new)),
                ("change", Dynamic::from(e.describe_change())),
            ]))
        })
        .collect()
}

/// `/proc/PID/smaps_rollup` in kB.
pub(crate) fn smaps(s: &SmapsRollup) -> Map {
    map([
        ("rss_kb", int(s.rss_kb)),
        ("pss_kb", int(s.pss_kb)),
        ("anon_kb", int(s.anon_kb)),
        ("lazyfree_kb", int(s.lazyfree_kb)),
        ("anonhuge_kb", int(s.anonhuge_kb)),
        ("swap_kb", int(s.swap_kb)),
        ("shared_clean_kb", int(s.shared_clean_kb)),
        ("shared_dirty_kb", int(s.shared_dirty_kb)),
        ("private_clean_kb", int(s.private_clean_kb)),
        ("private_dirty_kb", int(s.private_dirty_kb)),
        ("referenced_kb", int(s.referenced_kb)),
        ("locked_kb", int(s.locked_kb)),
    ])
}

/// `/proc/PID/statm` of `pid` in pages: `#{size, resident, shared, text, lib, data, dt}`, and `lazyfree` under the
/// `lazyfree-rss` profiles; `None` for a pid without an mm.
pub(crate) fn statm(model: &Model, pid: Pid) -> Option<Map> {
    let s = model.statm(pid)?;
    let mut m = map([
        ("size", int(s.size)),
        ("resident", int(s.resident)),
        ("shared", int(s.shared)),
        ("text", int(s.text)),
        ("lib", int(s.lib)),
        ("data", int(s.data)),
        ("dt", int(s.dt)),
    ]);
    if let Some(lazy) = s.lazyfree {
        m.insert("lazyfree".into(), int(lazy));
    }
    Some(m)
}

/// `mm->rss_stat` of `pid` in pages; `None` for a pid without an mm.
/// Under the `lazyfree-rss` profiles the map also has `lazyfree` (MM_LAZYFREEPAGES).
pub(crate) fn rss(model: &Model, pid: Pid) -> Option<Map> {
    let r = model.rss(pid)?;
    let mut m = map([
        ("file", Dynamic::from_int(r.file)),
        ("anon", Dynamic::from_int(r.anon)),
        ("swapents", Dynamic::from_int(r.swapents)),
        ("shmem", Dynamic::from_int(r.shmem)),
    ]);
    if let Some(lazy) = model.rss_lazyfree(pid) {
        m.insert("lazyfree".into(), Dynamic::from_int(lazy));
    }
    Some(m)
}

/// The VMAs of `pid` as `/proc/PID/maps` lists them.
pub(crate) fn vmas(model: &Model, pid: Pid) -> Array {
    model
        .vmas(pid)
        .into_iter()
        .map(|v| {
            Dynamic::from_map(map([
                ("start", int(v.start)),
                ("end", int(v.end)),
                ("perms", Dynamic::from(v.flags.perms())),
                ("flags", strings(v.flags.names())),
            ]))
        })
        .collect()
}

/// Every `/proc/vmstat` event counter the model keeps, zero or not.
pub(crate) fn vmstat(model: &Model) -> Map {
    VmEvent::ALL.iter().map(|e| (e.name().into(), int(model.vm_event(*e)))).collect()
}

/// Every task: `#{pid, tgid, comm, mm}` by pid (`mm` is 0 for a task without one).
pub(crate) fn ps(model: &Model) -> Array {
    model
        .tasks()
        .map(|t| {
            Dynamic::from_map(map([
                ("pid", Dynamic::from_int(t.pid.into())),
                ("tgid", Dynamic::from_int(t.tgid.into())),
                ("comm", Dynamic::from(t.comm.clone())),
                ("mm", Dynamic::from_int(t.mm.unwrap_or(0).into())),
            ]))
        })
        .collect()
}

/// The page totals and LRU sizes of the report, in pages.
pub(crate) fn pages(model: &Model) -> Map {
    let p = model.report().pages;
    map([
        ("folios", int(p.folios)),
        ("pages", int(p.pages)),
        ("anon", int(p.anon)),
        ("file", int(p.file)),
        ("mapped", int(p.mapped)),
        ("unmapped", int(p.unmapped)),
        ("lazyfree", int(p.lazyfree)),
        ("thp", int(p.thp)),
        ("swapcache", int(p.swapcache)),
        ("in_batch", int(p.in_batch)),
        ("isolated", int(p.isolated)),
        ("inactive_anon", int(p.inactive_anon)),
        ("active_anon", int(p.active_anon)),
        ("inactive_file", int(p.inactive_file)),
        ("active_file", int(p.active_file)),
        ("unevictable", int(p.unevictable)),
        ("zero_page_ptes", int(p.zero_page_ptes)),
        ("huge_zero_pmds", int(p.huge_zero_pmds)),
    ])
}

/// The memcg `id` as the report shows it (limit and usage in pages); `None` if it does not exist.
pub(crate) fn memcg(model: &Model, id: u32) -> Option<Map> {
    let m = model.report().memcgs.into_iter().find(|m| m.id == id)?;
    Some(map([
        ("id", Dynamic::from_int(id.into())),
        ("limit", int(m.limit_pages)),
        ("usage", int(m.usage_pages)),
        ("max_usage", int(m.max_usage_pages)),
        ("reclaims", int(m.reclaims)),
        ("oom_kills", int(m.oom_kills)),
        ("kmem", int(m.kmem_pages)),
        ("kmem_leaked", int(m.kmem_leaked_pages)),
    ]))
}

/// The kernel page at `pfn` (kmem, balloon, free): `#{pfn, order, kind, refcount, raw_mapcount, page_mapcount,
/// mapcount_value, memcg, memcg_data_kmem, clobbered}`, or `()` when the model holds none there.
pub(crate) fn kpage(model: &Model, pfn: u64) -> Dynamic {
    let Some(k) = model.kernel_page(pfn) else { return Dynamic::UNIT };
    let era = model.config().profile.kmem_era();
    let kind = k.kind.name().to_string();
    Dynamic::from_map(map([
        ("pfn", int(k.pfn)),
        ("order", Dynamic::from_int(k.order.into())),
        ("kind", Dynamic::from(kind)),
        ("refcount", Dynamic::from_int(k.refcount.into())),
        ("raw_mapcount", Dynamic::from_int(k.mapcount_raw.into())),
        ("page_mapcount", Dynamic::from_int(k.page_mapcount(era).into())),
        ("mapcount_value", k.mapcount_meaning().map_or(Dynamic::UNIT, |s| Dynamic::from(s.to_string()))),
        ("memcg", k.memcg.map_or(Dynamic::UNIT, |m| Dynamic::from_int(m.into()))),
        ("memcg_data_kmem", Dynamic::from_bool(k.memcg_data_kmem)),
        ("clobbered", Dynamic::from_array(k.clobbered.iter().map(|c| Dynamic::from(c.clone())).collect())),
    ]))
}

/// The swap device: `#{total, used}` in pages, or `()` without one.
pub(crate) fn swap(model: &Model) -> Dynamic {
    model
        .report()
        .swap
        .map_or(Dynamic::UNIT, |s| Dynamic::from_map(map([("total", int(s.total_pages)), ("used", int(s.used_pages))])))
}

/// The model's diagnostics: `#{event, severity, kind, message}`, events numbered from 1.
pub(crate) fn diagnostics(model: &Model) -> Array {
    model
        .diagnostics()
        .iter()
        .map(|d| {
            let severity = if d.severity == Severity::Warning { "warning" } else { "info" };
            Dynamic::from_map(map([
                ("event", int(d.event + 1)),
                ("severity", Dynamic::from(severity)),
                ("kind", Dynamic::from(d.kind.clone())),
                ("message", Dynamic::from(d.message.clone())),
            ]))
        })
        .collect()
}

/// The invariant checker's findings, as `invariant: message` strings (empty when the model is consistent).
pub(crate) fn check(model: &Model) -> Array {
    model.check().into_iter().map(|v| Dynamic::from(format!("{}: {}", v.invariant, v.message))).collect()
}
