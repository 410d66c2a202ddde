//! The inspection commands: pages, mappings, history, processes, LRU, counters, invariants, divergences, diffs.

use mmdb_model::consts::{PAGE_SIZE, ZERO_PFN};
use mmdb_model::mm::Pte;
use mmdb_model::{Field, FolioMapping, HistoryEntry, Model, PageFlags, PageInfo, Pfn, Pid, ProcessReport};
use mmdb_session::verify::{compare_page, compare_rollup};

use crate::commands::{CmdError, CmdResult};
use crate::parse::{format_ts, parse_addr, parse_pid, parse_u64, PageRef};
use crate::session::Session;
use crate::styled::{Label, Styled};

/// The single page argument of `page`, `rmap`, `history`, `explain`, resolved at the cursor.
fn page_arg(s: &Session, args: &[&str]) -> Result<(PageRef, Pfn), CmdError> {
    let [x] = args else {
        return Err(CmdError::Usage("give one page: a pfn (0x100010) or PID:VADDR".to_string()));
    };
    let r = PageRef::parse(x).map_err(CmdError::Usage)?;
    let pfn = r.resolve(s.model()).map_err(CmdError::Failed)?;
    Ok((r, pfn))
}

/// The single pid argument, which must name a task with an mm at the cursor.
fn pid_arg(s: &Session, args: &[&str]) -> Result<Pid, CmdError> {
    let [p] = args else {
        return Err(CmdError::Usage("give one pid".to_string()));
    };
    let pid = parse_pid(p).map_err(CmdError::Usage)?;
    if s.model().task(pid).and_then(|t| t.mm).is_none() {
        return Err(CmdError::Failed(format!("no process {pid} (with an mm) at this point; `ps` lists them")));
    }
    Ok(pid)
}

/// The heading of a page: `page 0x100010` and, when named by address, where.
fn page_heading(out: &mut Styled, r: &PageRef, pfn: Pfn) {
    out.push(Label::Heading, "page ").push(Label::Pfn, format!("{pfn:#x}"));
    if let PageRef::Addr { pid, vaddr } = r {
        out.text(" (mapped by ")
            .push(Label::Pid, pid.to_string())
            .text(" at ")
            .push(Label::Addr, format!("{vaddr:#x}"));
        out.text(")");
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `page X`.
pub fn page(s: &mut Session, args: &[&str]) -> CmdResult {
    let (r, pfn) = page_arg(s, args)?;
    let m = s.model();
    let mut out = Styled::new();
    page_heading(&mut out, &r, pfn);
    if pfn == ZERO_PFN {
        out.text(": the shared zero page (not a folio; mapped read-only by special PTEs)").nl();
        return Ok(out);
    }
    let (Some(info), Some(folio)) = (m.page_info(pfn), m.folio(pfn)) else {
        out.text(": ").push(Label::Removed, "free").text(" (no folio holds it at this point)").nl();
        return Ok(out);
    };
    let kind = match folio.mapping {
        FolioMapping::Anon => "anon".to_string(),
        FolioMapping::File { index, .. } => format!("file, index {index}"),
        FolioMapping::Shmem { index, .. } => format!("shmem, index {index}"),
    };
    out.text(": folio ").push(Label::Pfn, format!("{:#x}", info.head));
    out.text(format!(" order {}, {kind}", info.order)).nl();
    field(&mut out, "flags");
    if info.flags.is_empty() {
        out.push(Label::Dim, "none");
    }
    for (i, f) in info.flags.iter().enumerate() {
        if i > 0 {
            out.text(" ");
        }
        out.push(Label::Field, *f);
    }
    out.nl();
    field(&mut out, "mapcount");
    out.text(format!(
        "_mapcount {}, page_mapcount {}, folio_mapcount {}",
        info.raw_mapcount, info.mapcount, info.folio_mapcount
    ));
    if let (Some(l), Some(e)) = (info.large_mapcount, info.entire_mapcount) {
        out.text(format!(", _large_mapcount {l}, _entire_mapcount {e}"));
    }
    out.nl();
    field(&mut out, "exclusive");
    let bit = if info.anon_exclusive { "set" } else { "clear" };
    out.text(format!("{} (PG_anon_exclusive {bit})", yes_no(info.anon_exclusive))).nl();
    field(&mut out, "lazyfree");
    out.text(yes_no(info.lazyfree)).nl();
    field(&mut out, "refcount");
    out.text(format!("{}{}", info.refcount, refcount_parts(&info))).nl();
    field(&mut out, "lru");
    out.text(info.lru.unwrap_or("none"));
    if !info.batches.is_empty() {
        out.text(format!("; in per-CPU batch {}", info.batches.join(", ")));
    }
    out.nl();
    field(&mut out, "memcg");
    out.text(info.memcg.to_string()).nl();
    field(&mut out, "swap");
    out.text(info.swap.map_or_else(|| "none".to_string(), |e| format!("entry {e:#x}"))).nl();
    if let Some(content) = m.page_content(pfn) {
        field(&mut out, "content");
        out.text(content.to_string()).nl();
    }
    field(&mut out, "mapped by");
    if info.rmap.is_empty() {
        out.push(Label::Dim, "nobody");
    }
    for (i, r) in info.rmap.iter().enumerate() {
        if i > 0 {
            out.text(" ");
        }
        out.push(Label::Addr, r);
    }
    out.nl();
    Ok(out)
}

/// A field name in a page's listing, padded.
fn field(out: &mut Styled, name: &str) {
    out.text("  ").push(Label::Field, format!("{name:<10}")).text(" ");
}

/// ` = mappings 2 + batch 1`: the non-zero parts of the refcount.
fn refcount_parts(info: &PageInfo) -> String {
    let r = &info.refs;
    let parts: Vec<String> = [
        ("mappings", r.mappings),
        ("batch", r.batch),
        ("isolated", r.isolated),
        ("swapcache", r.swapcache),
        ("pagecache", r.pagecache),
        ("temp", r.temp),
    ]
    .iter()
    .filter(|(_, n)| *n != 0)
    .map(|(name, n)| format!("{name} {n}"))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" = {}", parts.join(" + "))
    }
}

/// The tasks whose mm is `mm`, by pid.
fn mm_tasks(m: &Model, mm: u32) -> Vec<Pid> {
    m.tasks().filter(|t| t.mm == Some(mm)).map(|t| t.pid).collect()
}

/// `rmap X`.
pub fn rmap(s: &mut Session, args: &[&str]) -> CmdResult {
    let (r, pfn) = page_arg(s, args)?;
    let m = s.model();
    let mut out = Styled::new();
    page_heading(&mut out, &r, pfn);
    let maps = m.page_rmap(pfn);
    if m.folio(pfn).is_none() {
        out.text(": ").push(Label::Removed, "free").nl();
        return Ok(out);
    }
    out.text(format!(": {} mapping{}", maps.len(), if maps.len() == 1 { "" } else { "s" })).nl();
    for map in maps {
        let pids = mm_tasks(m, map.mm);
        out.text("  ");
        match pids.split_first() {
            Some((first, rest)) => {
                out.push(Label::Pid, first.to_string());
                if !rest.is_empty() {
                    let others: Vec<String> = rest.iter().map(|p| p.to_string()).collect();
                    out.push(Label::Dim, format!(" (and threads {})", others.join(" ")));
                }
            }
            None => {
                out.push(Label::Dim, "(no task)");
            }
        }
        let comm = pids.first().and_then(|p| m.task(*p)).map(|t| t.comm.clone()).unwrap_or_default();
        out.text(format!(" {comm} mm {} ", map.mm)).push(Label::Addr, format!("{:#x}", map.addr)).text(" ");
        let mm = m.mm_struct(map.mm);
        if map.pmd {
            match mm.and_then(|mm| mm.huge_pmd(map.addr)) {
                Some(h) => out.text(format!("pmd {}", bits(h.write, h.dirty, h.young))),
                None => out.text("pmd"),
            };
        } else {
            match mm.and_then(|mm| mm.pte(map.addr)) {
                Some(Pte::Present(p)) => out.text(format!("pte {}", bits(p.write, p.dirty, p.young))),
                other => out.text(format!("pte {other:?}")),
            };
        }
        out.nl();
    }
    Ok(out)
}

/// PTE bits as `write dirty young` words, `-` for clear ones.
fn bits(write: bool, dirty: bool, young: bool) -> String {
    format!(
        "{} {} {}",
        if write { "write" } else { "read-only" },
        if dirty { "dirty" } else { "clean" },
        if young { "young" } else { "old" }
    )
}

/// The name `history` prints for a field.
fn field_name(f: Field) -> &'static str {
    match f {
        Field::Allocated => "state",
        Field::Mapcount => "_mapcount",
        Field::AnonExclusive => "anon_exclusive",
        Field::Refcount => "_refcount",
        Field::Flags => "flags",
        Field::Lru => "lru",
        Field::LargeMapcount => "_large_mapcount",
        Field::EntireMapcount => "_entire_mapcount",
    }
}

/// One history change, `old -> new` coloured as a diff (flags as `+PG_x -PG_y`).
fn push_change(out: &mut Styled, e: &HistoryEntry) {
    match e.field {
        Field::Allocated => {
            if e.new == 1 {
                out.push(Label::Added, "allocated");
            } else {
                out.push(Label::Removed, "freed");
            }
        }
        Field::Flags => {
            let (old, new) = (PageFlags(e.old as u32), PageFlags(e.new as u32));
            let mut first = true;
            for f in mmdb_model::PageFlag::ALL {
                let label = match (old.test(*f), new.test(*f)) {
                    (false, true) => Some((Label::Added, '+')),
                    (true, false) => Some((Label::Removed, '-')),
                    _ => None,
                };
                if let Some((label, sign)) = label {
                    if !first {
                        out.text(" ");
                    }
                    first = false;
                    out.push(label, format!("{sign}{}", f.name()));
                }
            }
        }
        Field::Lru | Field::Mapcount | Field::AnonExclusive | Field::Refcount => {
            let text = e.describe_change();
            let (old, new) = text.split_once(" -> ").unwrap_or(("", &text));
            out.push(Label::Removed, old).text(" -> ").push(Label::Added, new);
        }
        Field::LargeMapcount | Field::EntireMapcount => {
            out.push(Label::Removed, e.old.to_string()).text(" -> ").push(Label::Added, e.new.to_string());
        }
    }
}

/// The history of the page, from the history model at the cursor.
fn page_history(s: &mut Session, pfn: Pfn) -> Vec<HistoryEntry> {
    s.history_model().page_history(pfn)
}

/// `history X`.
pub fn history(s: &mut Session, args: &[&str]) -> CmdResult {
    let (r, pfn) = page_arg(s, args)?;
    let entries = page_history(s, pfn);
    let mut out = Styled::new();
    page_heading(&mut out, &r, pfn);
    out.text(format!(": {} change{}", entries.len(), if entries.len() == 1 { "" } else { "s" })).nl();
    let mut last_event = None;
    for e in &entries {
        if last_event != Some(e.event) {
            last_event = Some(e.event);
            let line = usize::try_from(e.event).ok().and_then(|i| s.program().steps.get(i)).map_or(0, |st| st.line);
            out.text("  event ").push(Label::Event, (e.event + 1).to_string());
            out.push(Label::Dim, format!(" (line {line}, {})", format_ts(e.ts_ns))).text(" ");
            out.push(Label::Event, e.op).text(" by ").push(Label::Pid, e.pid.to_string());
            if let Some(a) = e.addr {
                out.text(" at ").push(Label::Addr, format!("{a:#x}"));
            }
            out.nl();
        }
        out.text("      ").push(Label::Field, format!("{:<16}", field_name(e.field)));
        push_change(&mut out, e);
        out.nl();
    }
    Ok(out)
}

/// `explain X`: the events that changed the page's mapcount, exclusivity, lazyfree state and life, in words.
pub fn explain(s: &mut Session, args: &[&str]) -> CmdResult {
    let (r, pfn) = page_arg(s, args)?;
    let info = s.model().page_info(pfn);
    let entries = page_history(s, pfn);
    let mut out = Styled::new();
    page_heading(&mut out, &r, pfn);
    let Some(info) = info else {
        out.text(": ").push(Label::Removed, "free").text(" at this point").nl();
        return Ok(out);
    };
    out.text(format!(
        ": page_mapcount {}, {}exclusive{}",
        info.mapcount,
        if info.anon_exclusive { "" } else { "not " },
        if info.lazyfree { ", lazyfree" } else { "" }
    ))
    .nl();
    if !info.rmap.is_empty() {
        out.text(format!("  mapped by {}", info.rmap.join(" "))).nl();
    }
    out.line(Label::Heading, "because:");
    let mut events: Vec<u64> = entries.iter().map(|e| e.event).collect();
    events.dedup();
    let mut said = 0;
    for ev in events {
        let here: Vec<&HistoryEntry> = entries.iter().filter(|e| e.event == ev).collect();
        let Some(first) = here.first() else { continue };
        let why = reason(first.op, &here);
        if why.is_empty() {
            continue;
        }
        said += 1;
        out.text("  event ").push(Label::Event, (ev + 1).to_string()).text(" ");
        out.push(Label::Event, first.op).text(" by ").push(Label::Pid, first.pid.to_string()).text(": ");
        out.text(why.join("; ")).nl();
    }
    if said == 0 {
        out.line(Label::Dim, "  no event changed its mapping state (history starts with the trace)");
    }
    Ok(out)
}

/// What a group of changes of one event means, for `explain`.
fn reason(op: &str, changes: &[&HistoryEntry]) -> Vec<String> {
    let mut out = Vec::new();
    for e in changes {
        match e.field {
            Field::Allocated if e.new == 1 => out.push("allocated".to_string()),
            Field::Allocated => out.push("freed".to_string()),
            Field::Mapcount if e.new > e.old => match op {
                "fork" => out.push(format!("fork shared it with the child (mapcount {} -> {})", e.old + 1, e.new + 1)),
                _ => out.push(format!("mapped (mapcount {} -> {})", e.old + 1, e.new + 1)),
            },
            Field::Mapcount => match op {
                "fault" | "touch" => {
                    out.push(format!("a write fault copied it away (COW; mapcount {} -> {})", e.old + 1, e.new + 1))
                }
                "exit" => out.push(format!("an exit unmapped it (mapcount {} -> {})", e.old + 1, e.new + 1)),
                _ => out.push(format!("unmapped (mapcount {} -> {})", e.old + 1, e.new + 1)),
            },
            Field::AnonExclusive if e.new == 1 => out.push("now exclusive to one process (PG_anon_exclusive)".into()),
            Field::AnonExclusive => out.push("no longer exclusive (PG_anon_exclusive cleared)".into()),
            Field::Flags => {
                let (old, new) = (PageFlags(e.old as u32), PageFlags(e.new as u32));
                if old.test_swapbacked() && !new.test_swapbacked() {
                    out.push("made lazyfree (PG_swapbacked cleared)".to_string());
                }
                if !old.test_swapbacked() && new.test_swapbacked() && e.old != 0 {
                    out.push("no longer lazyfree (PG_swapbacked set again)".to_string());
                }
            }
            _ => {}
        }
    }
    out
}

/// `pte P VADDR`.
pub fn pte(s: &mut Session, args: &[&str]) -> CmdResult {
    let [p, a] = args else {
        return Err(CmdError::Usage("give a pid and an address".to_string()));
    };
    let pid = pid_arg(s, &[p])?;
    let vaddr = parse_addr(a).map_err(CmdError::Usage)? & !(PAGE_SIZE - 1);
    let m = s.model();
    let mut out = Styled::new();
    out.push(Label::Pid, pid.to_string()).text(":").push(Label::Addr, format!("{vaddr:#x}")).text(": ");
    match m.lookup(pid, vaddr) {
        Some(Pte::Present(e)) => {
            out.text("present pfn ").push(Label::Pfn, format!("{:#x}", e.pfn));
            out.text(format!(
                " {}{}",
                bits(e.write, e.dirty, e.young),
                if e.special { " special (zero page)" } else { "" }
            ));
        }
        Some(Pte::Swap { entry, exclusive }) => {
            out.text(format!("swap entry {entry:#x}{}", if exclusive { " exclusive" } else { "" }));
        }
        Some(Pte::Vrange) => {
            out.text("vrange (the mark of a purged page of a volatile range)");
        }
        Some(Pte::None) | None => {
            out.text("none");
        }
    }
    out.nl();
    match m.vma_at(pid, vaddr) {
        Some(v) => {
            out.text(format!("  vma {:x}-{:x} {}", v.start, v.end, v.flags.perms())).nl();
        }
        None => {
            out.line(Label::Dim, "  no VMA covers it");
        }
    }
    Ok(out)
}

/// The report entry of the process whose mm `pid` runs in.
fn process_report(m: &Model, pid: Pid) -> Option<ProcessReport> {
    let mm = m.task(pid)?.mm?;
    m.report().processes.into_iter().find(|p| p.mm_id == mm)
}

/// `maps P`.
pub fn maps(s: &mut Session, args: &[&str]) -> CmdResult {
    let pid = pid_arg(s, args)?;
    let Some(p) = process_report(s.model(), pid) else {
        return Err(CmdError::Failed(format!("no report for process {pid}")));
    };
    let mut out = Styled::new();
    if p.vmas.is_empty() {
        out.line(Label::Dim, "no VMAs");
    }
    for v in &p.vmas {
        out.push(Label::Addr, format!("{:x}-{:x}", v.start, v.end));
        out.text(format!(" {} {:08x} {}", v.perms, v.offset, v.name));
        if !v.flags.is_empty() {
            out.text("  ").push(Label::Field, v.flags.join(" "));
        }
        out.nl();
    }
    Ok(out)
}

/// `smaps P`.
pub fn smaps(s: &mut Session, args: &[&str]) -> CmdResult {
    let pid = pid_arg(s, args)?;
    let Some(p) = process_report(s.model(), pid) else {
        return Err(CmdError::Failed(format!("no report for process {pid}")));
    };
    let r = &p.smaps;
    let mut out = Styled::new();
    out.push(Label::Heading, "smaps_rollup of ").push(Label::Pid, pid.to_string()).nl();
    out.text(format!(
        "  Rss {} kB  Pss {} kB  Anonymous {} kB  LazyFree {} kB  AnonHugePages {} kB  Swap {} kB\n",
        r.rss_kb, r.pss_kb, r.anon_kb, r.lazyfree_kb, r.anonhuge_kb, r.swap_kb
    ));
    out.text(format!(
        "  Shared_Clean {} kB  Shared_Dirty {} kB  Private_Clean {} kB  Private_Dirty {} kB  Referenced {} kB  Locked {} kB\n",
        r.shared_clean_kb, r.shared_dirty_kb, r.private_clean_kb, r.private_dirty_kb, r.referenced_kb, r.locked_kb
    ));
    for v in &p.vmas {
        out.text("  ").push(Label::Addr, format!("{:x}-{:x}", v.start, v.end)).text(format!(" {} {}", v.perms, v.name));
        out.text(format!("  Rss {} kB  Pss {} kB  Anonymous {} kB", v.smaps.rss_kb, v.smaps.pss_kb, v.smaps.anon_kb));
        out.nl();
    }
    Ok(out)
}

/// `statm P`.
pub fn statm(s: &mut Session, args: &[&str]) -> CmdResult {
    let pid = pid_arg(s, args)?;
    let Some(st) = s.model().statm(pid) else {
        return Err(CmdError::Failed(format!("no process {pid}")));
    };
    let mut out = Styled::new();
    out.push(Label::Heading, "/proc/").push(Label::Pid, pid.to_string()).push(Label::Heading, "/statm");
    out.text(format!(": {st}")).nl();
    let fields = [
        ("size", st.size),
        ("resident", st.resident),
        ("shared", st.shared),
        ("text", st.text),
        ("lib", st.lib),
        ("data", st.data),
        ("dt", st.dt),
    ];
    for (name, v) in fields.into_iter().chain(st.lazyfree.map(|v| ("lazyfree", v))) {
        out.text("  ").push(Label::Field, format!("{name:<9}")).text(format!("{v:>8} pages  ({} kB)", v * 4)).nl();
    }
    Ok(out)
}

/// `rss P`.
pub fn rss(s: &mut Session, args: &[&str]) -> CmdResult {
    let pid = pid_arg(s, args)?;
    let m = s.model();
    let Some(r) = m.rss(pid) else {
        return Err(CmdError::Failed(format!("no process {pid}")));
    };
    let model = [r.file, r.anon, r.swapents, r.shmem];
    let names = mmdb_model::mm::RSS_COUNTER_NAMES;
    let mut out = Styled::new();
    out.push(Label::Heading, "rss_stat of ").push(Label::Pid, pid.to_string()).text(" (pages)").nl();
    let samples = &s.program().rss_samples;
    if samples.is_empty() {
        for (name, v) in names.iter().zip(model) {
            out.text("  ").push(Label::Field, format!("{name:<14}")).text(format!("{v:>8}  ({} kB)", v * 4)).nl();
        }
        if let Some(v) = m.rss_lazyfree(pid) {
            let name = "MM_LAZYFREEPAGES";
            out.text("  ")
                .push(Label::Field, name)
                .text(format!("{v:>6}  ({} kB, never merged: lazyfree-rss)", v * 4))
                .nl();
        }
        return Ok(out);
    }
    // The kernel's last `rss_stat` of each counter of this mm at or before the cursor. A sample names the task
    // its mm_id maps to, which may be another thread of the same mm.
    let mm = m.task(pid).and_then(|t| t.mm);
    let same_mm = |p: Pid| p == pid || (mm.is_some() && m.task(p).and_then(|t| t.mm) == mm);
    let upto = samples.partition_point(|x| x.position <= s.cursor());
    let mut last: [Option<&mmdb_session::lower::RssSample>; 4] = [None; 4];
    for x in samples[..upto].iter().rev() {
        if let Some(i) = names.iter().position(|n| *n == x.member) {
            if last[i].is_none() && same_mm(x.pid) {
                last[i] = Some(x);
            }
        }
        if last.iter().all(Option::is_some) {
            break;
        }
    }
    out.line(Label::Dim, format!("  {:<14} {:>8} {:>8}  kernel's last rss_stat", "counter", "model", "kernel"));
    for ((name, v), k) in names.iter().zip(model).zip(last) {
        out.text("  ").push(Label::Field, format!("{name:<14}")).text(format!(" {v:>8} "));
        match k {
            None => out.push(Label::Dim, format!("{:>8}  none yet", "-")),
            Some(k) => {
                out.text(format!("{:>8}", k.kernel)).text(format!("  line {}, after event {}", k.line, k.position));
                if k.model != k.kernel {
                    out.push(Label::Warning, format!(" (the model had {} then)", k.model));
                }
                &mut out
            }
        };
        out.nl();
    }
    Ok(out)
}

/// `ps`.
pub fn ps(s: &mut Session, args: &[&str]) -> CmdResult {
    if !args.is_empty() {
        return Err(CmdError::Usage("`ps` takes no arguments".to_string()));
    }
    let m = s.model();
    let mut out = Styled::new();
    out.line(
        Label::Heading,
        format!("{:>7} {:>7} {:<16} {:>4} {:>8} {:>8}", "PID", "TGID", "COMM", "MM", "ANON", "FILE"),
    );
    let mut any = false;
    for t in m.tasks() {
        any = true;
        out.push(Label::Pid, format!("{:>7}", t.pid)).text(format!(" {:>7} {:<16} ", t.tgid, t.comm));
        match t.mm.and_then(|_| m.rss(t.pid)) {
            Some(r) => out.text(format!("{:>4} {:>8} {:>8}", t.mm.unwrap_or_default(), r.anon, r.file)),
            None => out.text(format!("{:>4} {:>8} {:>8}", "-", "-", "-")),
        };
        out.nl();
    }
    if !any {
        out.line(Label::Dim, "no tasks at this point");
    }
    Ok(out)
}

/// `lru`.
pub fn lru(s: &mut Session, args: &[&str]) -> CmdResult {
    if !args.is_empty() {
        return Err(CmdError::Usage("`lru` takes no arguments".to_string()));
    }
    let m = s.model();
    let p = m.report().pages;
    let mut out = Styled::new();
    out.line(Label::Heading, "lru lists (pages)");
    for (name, n) in [
        ("inactive_anon", p.inactive_anon),
        ("active_anon", p.active_anon),
        ("inactive_file", p.inactive_file),
        ("active_file", p.active_file),
        ("unevictable", p.unevictable),
    ] {
        out.text("  ").push(Label::Field, format!("{name:<14}")).text(format!("{n:>8}")).nl();
    }
    out.line(Label::Heading, "per-CPU folio batches (folios)");
    let mut any = false;
    for (cpu, c) in m.cpu_batches().iter().enumerate() {
        for (kind, folios) in c.all() {
            if folios.is_empty() {
                continue;
            }
            any = true;
            out.text(format!("  cpu{cpu} ")).push(Label::Field, format!("{:<15}", kind.name()));
            out.text(format!("{:>3}: ", folios.len()));
            for (i, pfn) in folios.iter().enumerate() {
                if i > 0 {
                    out.text(" ");
                }
                out.push(Label::Pfn, format!("{pfn:#x}"));
            }
            out.nl();
        }
    }
    if !any {
        out.line(Label::Dim, "  all empty");
    }
    Ok(out)
}

/// `vmstat`.
pub fn vmstat(s: &mut Session, args: &[&str]) -> CmdResult {
    if !args.is_empty() {
        return Err(CmdError::Usage("`vmstat` takes no arguments".to_string()));
    }
    let r = s.model().report();
    let mut out = Styled::new();
    out.line(Label::Heading, "vm events");
    if r.vmstat.is_empty() {
        out.line(Label::Dim, "  all zero");
    }
    for (name, v) in &r.vmstat {
        out.text("  ").push(Label::Field, format!("{name:<24}")).text(format!("{v:>10}")).nl();
    }
    let p = &r.pages;
    out.line(Label::Heading, "pages");
    out.text(format!(
        "  {} folios, {} pages: anon {}, file {}, mapped {}, unmapped {}, lazyfree {}, thp {}, swapcache {}, in-batch {}, isolated {}",
        p.folios, p.pages, p.anon, p.file, p.mapped, p.unmapped, p.lazyfree, p.thp, p.swapcache, p.in_batch, p.isolated
    ))
    .nl();
    Ok(out)
}

/// `check`.
pub fn check(s: &mut Session, args: &[&str]) -> CmdResult {
    if !args.is_empty() {
        return Err(CmdError::Usage("`check` takes no arguments".to_string()));
    }
    let v = s.model().check();
    let mut out = Styled::new();
    if v.is_empty() {
        out.push(Label::Added, "every invariant holds").nl();
    }
    for v in v {
        out.push(Label::Error, v.invariant).text(format!(": {}", v.message)).nl();
    }
    Ok(out)
}

/// `divergences`.
pub fn divergences(s: &mut Session, args: &[&str]) -> CmdResult {
    if !args.is_empty() {
        return Err(CmdError::Usage("`divergences` takes no arguments".to_string()));
    }
    let p = s.program();
    let mut out = Styled::new();
    if p.kind != crate::program::SourceKind::Real {
        out.line(Label::Dim, "no divergences: only real traces have them");
        return Ok(out);
    }
    out.text(format!("{} divergence{}", p.divergence_count, if p.divergence_count == 1 { "" } else { "s" }));
    if (p.divergences.len() as u64) < p.divergence_count {
        out.text(format!(", the first {} kept", p.divergences.len()));
    }
    out.nl();
    for d in &p.divergences {
        let here = if d.position == s.cursor() { "=> " } else { "   " };
        out.text(here).text("after event ").push(Label::Event, d.position.to_string());
        out.push(Label::Dim, format!(" (line {})", d.divergence.line)).text(" ");
        out.push(Label::Warning, d.divergence.kind).text(": predicted ").push(Label::Removed, &d.divergence.predicted);
        out.text("; actual: ").push(Label::Added, &d.divergence.actual).nl();
        out.push(Label::Dim, format!("      likely cause: {}", d.divergence.cause)).nl();
    }
    Ok(out)
}

/// How a page changed, for `diff`: the fields that differ (flags as `+PG_x -PG_y`, mappings as a count).
fn page_change(x: Option<&PageInfo>, y: Option<&PageInfo>) -> Styled {
    let mut out = Styled::new();
    let (x, y) = match (x, y) {
        (None, Some(y)) => {
            out.push(Label::Added, "allocated").text(format!(", {}", crate::breakpoints::page_summary(y)));
            return out;
        }
        (Some(_), None) => {
            out.push(Label::Removed, "freed");
            return out;
        }
        (Some(x), Some(y)) => (x, y),
        (None, None) => return out,
    };
    let mut parts: Vec<(String, String, String)> = Vec::new();
    let mut num = |name: &str, a: String, b: String| {
        if a != b {
            parts.push((name.to_string(), a, b));
        }
    };
    num("mapcount", x.mapcount.to_string(), y.mapcount.to_string());
    num("mappings", x.rmap.len().to_string(), y.rmap.len().to_string());
    num("refcount", x.refcount.to_string(), y.refcount.to_string());
    num("lru", x.lru.unwrap_or("none").to_string(), y.lru.unwrap_or("none").to_string());
    num("batches", x.batches.join(" "), y.batches.join(" "));
    num("swap", format!("{:?}", x.swap), format!("{:?}", y.swap));
    for (i, (name, a, b)) in parts.iter().enumerate() {
        if i > 0 {
            out.text(", ");
        }
        out.push(Label::Field, name).text(" ");
        out.push(Label::Removed, if a.is_empty() { "none" } else { a }).text(" -> ");
        out.push(Label::Added, if b.is_empty() { "none" } else { b });
    }
    let added: Vec<&&str> = y.flags.iter().filter(|f| !x.flags.contains(f)).collect();
    let removed: Vec<&&str> = x.flags.iter().filter(|f| !y.flags.contains(f)).collect();
    let mut first = parts.is_empty();
    for (label, sign, flags) in [(Label::Added, '+', added), (Label::Removed, '-', removed)] {
        for f in flags {
            out.text(if first { "" } else { ", " });
            first = false;
            out.push(label, format!("{sign}{f}"));
        }
    }
    if first {
        out.text("mapped elsewhere");
    }
    out
}

/// `diff A B`.
pub fn diff(s: &mut Session, args: &[&str]) -> CmdResult {
    let [a, b] = args else {
        return Err(CmdError::Usage("give two event numbers".to_string()));
    };
    let len = s.program().len();
    let pos = |t: &str| -> Result<usize, CmdError> {
        let n = parse_u64(t).map_err(CmdError::Usage)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= len)
            .ok_or_else(|| CmdError::Failed(format!("no event {n}: the trace has {len} events")))
    };
    let (pa, pb) = (pos(a)?, pos(b)?);
    let (ma, mb) = (s.model_at(pa), s.model_at(pb));
    let mut out = Styled::new();
    out.push(Label::Heading, format!("from after event {pa} to after event {pb}")).nl();
    // Pages: every pfn either model holds, in order; runs of pages with the same change share a line.
    let mut pfns: Vec<Pfn> =
        ma.folios_sorted().iter().chain(mb.folios_sorted().iter()).flat_map(|f| f.pfn..f.pfn + f.nr_pages()).collect();
    pfns.sort_unstable();
    pfns.dedup();
    let mut runs: Vec<(Pfn, Pfn, Styled)> = Vec::new();
    for pfn in pfns {
        let (x, y) = (ma.page_info(pfn), mb.page_info(pfn));
        if x == y {
            continue;
        }
        let change = page_change(x.as_ref(), y.as_ref());
        match runs.last_mut() {
            Some((_, last, c)) if *last + 1 == pfn && *c == change => *last = pfn,
            _ => runs.push((pfn, pfn, change)),
        }
    }
    const MAX_RUNS: usize = 40;
    for (first, last, change) in runs.iter().take(MAX_RUNS) {
        if first == last {
            out.text("  page ").push(Label::Pfn, format!("{first:#x}")).text(": ");
        } else {
            out.text("  pages ").push(Label::Pfn, format!("{first:#x}-{last:#x}"));
            out.text(format!(" ({}): ", last - first + 1));
        }
        out.append(change.clone()).nl();
    }
    if runs.len() > MAX_RUNS {
        out.push(Label::Dim, format!("  ... {} more runs of changed pages", runs.len() - MAX_RUNS)).nl();
    }
    if runs.is_empty() {
        out.line(Label::Dim, "  no page changed");
    }
    // RSS counters of every process in either state.
    let (ra, rb) = (ma.report(), mb.report());
    let mut pids: Vec<Pid> = ra.processes.iter().chain(rb.processes.iter()).map(|p| p.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    for pid in pids {
        let (x, y) = (ra.processes.iter().find(|p| p.pid == pid), rb.processes.iter().find(|p| p.pid == pid));
        let (x, y) = (x.map(|p| p.rss), y.map(|p| p.rss));
        if x == y {
            continue;
        }
        out.text("  rss of ").push(Label::Pid, pid.to_string()).text(": ");
        let show = |r: Option<mmdb_model::RssCounters>| {
            r.map_or_else(
                || "none".to_string(),
                |r| format!("file {} anon {} swapents {} shmem {}", r.file, r.anon, r.swapents, r.shmem),
            )
        };
        out.push(Label::Removed, show(x)).text(" -> ").push(Label::Added, show(y)).nl();
    }
    let mut names: Vec<&String> = ra.vmstat.keys().chain(rb.vmstat.keys()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let (x, y) = (ra.vmstat.get(name).copied().unwrap_or(0), rb.vmstat.get(name).copied().unwrap_or(0));
        if x != y {
            out.text("  vmstat ").push(Label::Field, name).text(" ").push(Label::Removed, x.to_string());
            out.text(" -> ").push(Label::Added, y.to_string()).nl();
        }
    }
    Ok(out)
}

/// `verify [N]`: compares ground-truth checkpoint N (by default the last one at or before the cursor) with the
/// model at that checkpoint, the way `mmdb replay --verify` does.
pub fn verify(s: &mut Session, args: &[&str]) -> CmdResult {
    let cps = &s.program().checkpoints;
    if cps.is_empty() {
        return Err(CmdError::Failed("this trace has no ground-truth checkpoints".to_string()));
    }
    let chosen: Vec<&crate::program::TruthCheckpoint> = match args {
        // Several checkpoints can describe the same position (nothing traced happened between them): all of them.
        [] => {
            let last = cps.iter().rev().find(|c| c.position <= s.cursor()).ok_or_else(|| {
                CmdError::Failed("no checkpoint at or before the cursor; `info checkpoints` lists them".to_string())
            })?;
            cps.iter().filter(|c| c.position == last.position).collect()
        }
        [n] => {
            let id = parse_u64(n).map_err(CmdError::Usage)?;
            vec![cps
                .iter()
                .find(|c| u64::from(c.id) == id)
                .ok_or_else(|| CmdError::Failed(format!("no checkpoint {id}; `info checkpoints` lists them")))?]
        }
        _ => return Err(CmdError::Usage("give at most one checkpoint number".to_string())),
    };
    let m = s.model_at(chosen[0].position);
    let mut out = Styled::new();
    for cp in chosen {
        verify_checkpoint(&mut out, &m, cp);
    }
    Ok(out)
}

/// One checkpoint's comparison, for `verify`.
fn verify_checkpoint(out: &mut Styled, m: &Model, cp: &crate::program::TruthCheckpoint) {
    let mut bad_pages: Vec<(u32, String, Vec<String>)> = Vec::new();
    for p in &cp.pages {
        let outside = if p.value.present { cp.outside.get(&p.value.pfn).copied().unwrap_or(0) } else { 0 };
        let diffs: Vec<String> = compare_page(m, &p.value, outside).diffs.into_iter().map(|d| d.1).collect();
        if !diffs.is_empty() {
            bad_pages.push((p.line, format!("{}:{:#x}", p.value.pid, p.value.vaddr), diffs));
        }
    }
    let mut bad_rollups: Vec<(u32, String, Vec<String>)> = Vec::new();
    let mut within: Vec<(u32, u32, Vec<String>)> = Vec::new();
    for r in &cp.rollups {
        let c = compare_rollup(m, &r.value);
        if !c.diffs.is_empty() {
            bad_rollups.push((r.line, r.value.pid.to_string(), c.diffs.into_iter().map(|d| d.1).collect()));
        } else if !c.within.is_empty() {
            within.push((r.line, r.value.pid, c.within.into_iter().map(|w| w.1).collect()));
        }
    }
    out.push(Label::Heading, format!("checkpoint {}", cp.id)).text(format!(" (after event {}): ", cp.position));
    let (np, nr) = (cp.pages.len(), cp.rollups.len());
    let agree = |bad: usize| if bad == 0 { Label::Added } else { Label::Warning };
    out.push(agree(bad_pages.len()), format!("pages {} of {np} agree", np - bad_pages.len()));
    out.text(", ");
    out.push(agree(bad_rollups.len()), format!("rollups {} of {nr} agree", nr - bad_rollups.len())).nl();
    const SHOWN: usize = 10;
    for (what, bad) in [("rollup", &bad_rollups), ("page", &bad_pages)] {
        for (line, name, diffs) in bad.iter().take(SHOWN) {
            out.push(Label::Dim, format!("  line {line} ")).text(format!("{what} ")).push(Label::Addr, name);
            out.text(format!(": {}", diffs.join("; "))).nl();
        }
        if bad.len() > SHOWN {
            out.push(Label::Dim, format!("  ... {} more {what}s disagree", bad.len() - SHOWN)).nl();
        }
    }
    for (line, pid, fields) in within.iter().take(SHOWN) {
        let note = format!("  line {line} rollup {pid} agrees within the model's range: {}", fields.join("; "));
        out.push(Label::Dim, note).nl();
    }
}
