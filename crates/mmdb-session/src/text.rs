//! The human-readable replay report: a stable plain-text layout built only from a [`Replay`].
//!
//! The layout, section by section (sections marked "when present" are left out when empty):
//!
//! ```text
//! mmdb replay: traces/fork-cow.events: 42 events, last at 0.001200
//! process 100 (app) tgid 100 mm 1 memcg 0
//!   rss: file 0 anon 48 swapents 0 shmem 0 (pages)
//!   smaps: Rss 192 kB  Pss 128 kB  Anonymous 192 kB  LazyFree 0 kB  AnonHugePages 0 kB  Swap 0 kB
//!          Shared_Clean 0 kB  Shared_Dirty 0 kB  Private_Clean 0 kB  Private_Dirty 192 kB  Referenced 192 kB  Locked 0 kB
//!   vmas:
//!     7f0000000000-7f0000040000 rw-p 00000000 [anon]  Rss 192 kB  Pss 128 kB  VM_HUGEPAGE
//! pages: 56 folios, 56 pages: anon 56, file 0, mapped 50, unmapped 6, lazyfree 0, thp 0, swapcache 0, in-batch 20, isolated 0
//! lru: inactive_anon 30 active_anon 0 inactive_file 0 active_file 0 unevictable 0
//! zero page: 16 ptes, huge zero: 0 pmds
//! vmstat: pgfault 64 pgfree 0 …
//! memcg 1: limit 8192 pages, usage 100 pages (max 120), reclaims 3, oom kills 0    (when present)
//! swap: 100 of 16384 pages used                                                    (when present)
//! parse errors: 2, at lines 3, 9                                                   (when present)
//! diagnostics (1):
//!   event 18 (line 23) warning segv: fault at 0x1000 outside any VMA
//! violations: none
//! ```
//!
//! Events are numbered from 1 here (event 18 is index 17 in the JSON report), the way `--until` counts them, so
//! `--until 18` stops right after the event a finding names. Addresses and offsets are lowercase hex without
//! `0x`, as in `/proc/PID/maps`.

use std::fmt::Write as _;

use mmdb_model::{ProcessReport, Severity, SmapsRollup, VmaReport};

use crate::Replay;

/// The column at which long lists (vmstat) wrap.
const WRAP: usize = 100;
/// How many parse-error lines the summary names before it elides the rest.
const MAX_LISTED_ERROR_LINES: usize = 10;

/// Renders a replay as the plain-text report; `path` names the trace in the header.
pub fn render_text(replay: &Replay, path: &str) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; the fmt::Result values are ignored for that reason.
    let _ = write_report(&mut out, replay, path);
    out
}

fn write_report(out: &mut String, replay: &Replay, path: &str) -> std::fmt::Result {
    let r = &replay.report;
    write!(out, "mmdb replay: {path}: ")?;
    if r.events == replay.parsed_events {
        write!(out, "{} event{}", r.events, if r.events == 1 { "" } else { "s" })?;
    } else {
        write!(out, "{} of {} events", r.events, replay.parsed_events)?;
    }
    writeln!(out, ", last at {}", format_ts(r.last_ts_ns))?;

    if r.processes.is_empty() {
        writeln!(out, "processes: none")?;
    }
    for p in &r.processes {
        write_process(out, p)?;
    }

    let pg = &r.pages;
    writeln!(
        out,
        "pages: {} folios, {} pages: anon {}, file {}, mapped {}, unmapped {}, lazyfree {}, thp {}, swapcache {}, \
         in-batch {}, isolated {}",
        pg.folios,
        pg.pages,
        pg.anon,
        pg.file,
        pg.mapped,
        pg.unmapped,
        pg.lazyfree,
        pg.thp,
        pg.swapcache,
        pg.in_batch,
        pg.isolated
    )?;
    writeln!(
        out,
        "lru: inactive_anon {} active_anon {} inactive_file {} active_file {} unevictable {}",
        pg.inactive_anon, pg.active_anon, pg.inactive_file, pg.active_file, pg.unevictable
    )?;
    writeln!(out, "zero page: {} ptes, huge zero: {} pmds", pg.zero_page_ptes, pg.huge_zero_pmds)?;

    let counters: Vec<String> =
        r.vmstat.iter().filter(|(_, &v)| v != 0).map(|(name, v)| format!("{name} {v}")).collect();
    if counters.is_empty() {
        writeln!(out, "vmstat: all zero")?;
    } else {
        write_wrapped(out, "vmstat:", &counters)?;
    }

    for m in &r.memcgs {
        let limit = if m.limit_pages == 0 { "unlimited".to_string() } else { format!("limit {} pages", m.limit_pages) };
        writeln!(
            out,
            "memcg {}: {limit}, usage {} pages (max {}), reclaims {}, oom kills {}",
            m.id, m.usage_pages, m.max_usage_pages, m.reclaims, m.oom_kills
        )?;
        if m.kmem_pages != 0 {
            writeln!(
                out,
                "  kmem: {} pages charged, {} of them leaked (freed uncharged)",
                m.kmem_pages, m.kmem_leaked_pages
            )?;
        }
    }
    if let Some(swap) = &r.swap {
        writeln!(out, "swap: {} of {} pages used", swap.used_pages, swap.total_pages)?;
    }

    if !replay.parse_errors.is_empty() {
        let lines: Vec<String> =
            replay.parse_errors.iter().take(MAX_LISTED_ERROR_LINES).map(|e| e.line.to_string()).collect();
        let total = replay.error_tally.total;
        let more = if total > lines.len() as u64 { ", …" } else { "" };
        let s = if lines.len() == 1 { "" } else { "s" };
        writeln!(out, "parse errors: {total}, at line{s} {}{more} (skipped)", lines.join(", "))?;
    }

    if r.diagnostics.is_empty() {
        writeln!(out, "diagnostics: none")?;
    } else {
        writeln!(out, "diagnostics ({}):", r.diagnostics.len())?;
        for d in &r.diagnostics {
            let severity = match d.severity {
                Severity::Info => "info",
                Severity::Warning => "warning",
            };
            writeln!(out, "  {} {severity} {}: {}", event_ref(replay, d.event), d.kind, d.message)?;
        }
    }

    if r.violations.is_empty() {
        writeln!(out, "violations: none")?;
    } else {
        writeln!(out, "violations ({}):", r.violations.len())?;
        for v in &r.violations {
            writeln!(out, "  {} {}: {}", event_ref(replay, v.event), v.invariant, v.message)?;
        }
    }
    Ok(())
}

fn write_process(out: &mut String, p: &ProcessReport) -> std::fmt::Result {
    writeln!(out, "process {} ({}) tgid {} mm {} memcg {}", p.pid, p.comm, p.tgid, p.mm_id, p.memcg)?;
    let rss = &p.rss;
    writeln!(out, "  rss: file {} anon {} swapents {} shmem {} (pages)", rss.file, rss.anon, rss.swapents, rss.shmem)?;
    if let Some(lazy) = p.rss_lazyfree {
        writeln!(out, "  RssLazyfree: {lazy} pages (MM_LAZYFREEPAGES, never merged)")?;
    }
    let s = &p.smaps;
    writeln!(
        out,
        "  smaps: Rss {} kB  Pss {} kB  Anonymous {} kB  LazyFree {} kB  AnonHugePages {} kB  Swap {} kB",
        s.rss_kb, s.pss_kb, s.anon_kb, s.lazyfree_kb, s.anonhuge_kb, s.swap_kb
    )?;
    writeln!(
        out,
        "         Shared_Clean {} kB  Shared_Dirty {} kB  Private_Clean {} kB  Private_Dirty {} kB  Referenced {} kB  \
         Locked {} kB",
        s.shared_clean_kb, s.shared_dirty_kb, s.private_clean_kb, s.private_dirty_kb, s.referenced_kb, s.locked_kb
    )?;
    if p.vmas.is_empty() {
        writeln!(out, "  vmas: none")?;
        return Ok(());
    }
    writeln!(out, "  vmas:")?;
    let ranges: Vec<String> = p.vmas.iter().map(|v| format!("{:08x}-{:08x}", v.start, v.end)).collect();
    let range_w = ranges.iter().map(|r| r.len()).max().unwrap_or(0);
    let name_w = p.vmas.iter().map(|v| v.name.chars().count()).max().unwrap_or(0);
    let rss_w = p.vmas.iter().map(|v| digits(v.smaps.rss_kb)).max().unwrap_or(1);
    let pss_w = p.vmas.iter().map(|v| digits(v.smaps.pss_kb)).max().unwrap_or(1);
    for (vma, range) in p.vmas.iter().zip(&ranges) {
        write_vma(out, vma, range, [range_w, name_w, rss_w, pss_w])?;
    }
    Ok(())
}

fn write_vma(out: &mut String, v: &VmaReport, range: &str, widths: [usize; 4]) -> std::fmt::Result {
    let [range_w, name_w, rss_w, pss_w] = widths;
    let s = &v.smaps;
    write!(
        out,
        "    {range:<range_w$} {} {:08x} {:<name_w$}  Rss {:>rss_w$} kB  Pss {:>pss_w$} kB",
        v.perms, v.offset, v.name, s.rss_kb, s.pss_kb
    )?;
    for (label, kb) in vma_extras(s) {
        write!(out, "  {label} {kb} kB")?;
    }
    for flag in &v.flags {
        write!(out, "  {flag}")?;
    }
    writeln!(out)
}

/// The per-VMA smaps fields worth a column only when non-zero.
fn vma_extras(s: &SmapsRollup) -> impl Iterator<Item = (&'static str, u64)> {
    [
        ("Anonymous", s.anon_kb),
        ("LazyFree", s.lazyfree_kb),
        ("AnonHugePages", s.anonhuge_kb),
        ("Swap", s.swap_kb),
        ("Locked", s.locked_kb),
    ]
    .into_iter()
    .filter(|&(_, kb)| kb != 0)
}

/// Writes `label` and then `items` separated by spaces, continuing on lines indented by two spaces at [`WRAP`].
fn write_wrapped(out: &mut String, label: &str, items: &[String]) -> std::fmt::Result {
    let mut line = label.to_string();
    let mut has_item = false;
    for item in items {
        if has_item && line.chars().count() + 1 + item.chars().count() > WRAP {
            writeln!(out, "{line}")?;
            line = " ".to_string();
        }
        line.push(' ');
        line.push_str(item);
        has_item = true;
    }
    writeln!(out, "{line}")
}

/// Names an event for a human: its 1-based number and source line.
fn event_ref(replay: &Replay, index: u64) -> String {
    let number = index.saturating_add(1);
    match replay.line_of(index) {
        Some(line) => format!("event {number} (line {line})"),
        None => format!("event {number}"),
    }
}

/// Formats a trace timestamp in seconds: microsecond precision like ftrace, nanoseconds when they matter.
pub(crate) fn format_ts(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let micros = ns % 1_000_000_000 / 1_000;
    let nanos = ns % 1_000;
    if nanos == 0 {
        format!("{secs}.{micros:06}")
    } else {
        format!("{secs}.{micros:06}{nanos:03}")
    }
}

fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}
