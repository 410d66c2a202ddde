//! Printing events in the mm event format, so that every printed line parses back to the same [`Event`].

use std::fmt::Write as _;

use mmdb_model::consts::{format_bits, madv_name, MAP_NAMES, MREMAP_NAMES, PROT_NAMES};
use mmdb_model::{Event, Op};

/// The header line [`write_events`] starts with.
pub const HEADER: &str = "# mmdb events v1";

/// Formats one event as one line, without a line break:
/// `             app-100     [000]     0.000100: mmap: addr=0x7f0000000000 len=0x40000 ...`.
///
/// The comm is right-aligned to 16 columns and the pid left-aligned to 7, as ftrace does. Line breaks and NUL
/// bytes in the comm are printed as `?`, and a comm that starts with a blank loses it when parsed back (as in ftrace).
pub fn format_event(ev: &Event) -> String {
    let mut out = String::with_capacity(112);
    write_event(&mut out, ev);
    out
}

/// Formats events as mm event text: the [`HEADER`] line, then one line per event, each ending in `\n`.
pub fn write_events(events: &[Event]) -> String {
    let mut out = String::with_capacity(HEADER.len() + 1 + events.len() * 112);
    out.push_str(HEADER);
    out.push('\n');
    for ev in events {
        write_event(&mut out, ev);
        out.push('\n');
    }
    out
}

fn write_event(out: &mut String, ev: &Event) {
    let bad = ['\n', '\r', '\0'];
    let comm = if ev.comm.contains(bad) { ev.comm.replace(bad, "?") } else { ev.comm.clone() };
    // A line that starts with `#` is a comment: keep a long comm that starts with one off the first column.
    if comm.starts_with('#') && comm.chars().count() >= 16 {
        out.push(' ');
    }
    let _ = write!(out, "{comm:>16}-{:<7} [{:03}] ", ev.pid, ev.cpu);
    let (secs, ns) = (ev.ts_ns / 1_000_000_000, ev.ts_ns % 1_000_000_000);
    if ns % 1000 == 0 {
        let _ = write!(out, "{secs:>5}.{:06}", ns / 1000);
    } else {
        let _ = write!(out, "{secs:>5}.{ns:09}");
    }
    let _ = write!(out, ": {}:", ev.op.name());
    write_fields(out, &ev.op);
}

fn write_fields(out: &mut String, op: &Op) {
    match op {
        Op::Spawn { comm } => write_str(out, "comm", comm),
        Op::Fork { child, thread } => {
            let _ = write!(out, " child={child}");
            if *thread {
                out.push_str(" thread=1");
            }
        }
        Op::Vfork { child } => {
            let _ = write!(out, " child={child}");
        }
        Op::Exec { filename } => write_str(out, "filename", filename),
        Op::Rename { comm } => write_str(out, "comm", comm),
        Op::Exit | Op::LruAddDrain | Op::LruAddDrainAll => {}
        Op::Mmap { addr, len, prot, flags, file } => {
            if let Some(addr) = addr {
                hex(out, "addr", *addr);
            }
            hex(out, "len", *len);
            let _ = write!(out, " prot={}", format_bits(*prot, PROT_NAMES, "PROT_NONE"));
            let _ = write!(out, " flags={}", format_bits(*flags, MAP_NAMES, "0"));
            if let Some(file) = file {
                write_str(out, "file", &file.name);
                hex(out, "offset", file.offset);
            }
        }
        Op::Munmap { addr, len } | Op::Mlock { addr, len } | Op::Munlock { addr, len } => {
            hex(out, "addr", *addr);
            hex(out, "len", *len);
        }
        Op::Mprotect { addr, len, prot } => {
            hex(out, "addr", *addr);
            hex(out, "len", *len);
            let _ = write!(out, " prot={}", format_bits(*prot, PROT_NAMES, "PROT_NONE"));
        }
        Op::Mremap { addr, old_len, new_len, flags, new_addr } => {
            hex(out, "addr", *addr);
            hex(out, "old_len", *old_len);
            hex(out, "new_len", *new_len);
            let _ = write!(out, " flags={}", format_bits(*flags, MREMAP_NAMES, "0"));
            if let Some(new_addr) = new_addr {
                hex(out, "new_addr", *new_addr);
            }
        }
        Op::Brk { brk } => hex(out, "brk", *brk),
        Op::Fault { addr, access, pfn, around } => {
            hex(out, "addr", *addr);
            let _ = write!(out, " access={}", access.name());
            if let Some(pfn) = pfn {
                hex(out, "pfn", *pfn);
            }
            if let Some((first, pages)) = around {
                hex(out, "around", *first);
                let _ = write!(out, " around_pages={pages}");
            }
        }
        Op::Touch { addr, access } => {
            hex(out, "addr", *addr);
            let _ = write!(out, " access={}", access.name());
        }
        Op::Gup { addr, write } => {
            hex(out, "addr", *addr);
            let _ = write!(out, " access={}", if *write { "write" } else { "read" });
        }
        Op::Store { addr, value } => {
            hex(out, "addr", *addr);
            let _ = write!(out, " value={value}");
        }
        Op::Madvise { addr, len, advice } => {
            hex(out, "addr", *addr);
            hex(out, "len", *len);
            match madv_name(*advice) {
                Some(name) => {
                    let _ = write!(out, " advice={name}");
                }
                None => {
                    let _ = write!(out, " advice={advice}");
                }
            }
        }
        Op::Reclaim { nr, memcg } => {
            let _ = write!(out, " nr={nr}");
            if let Some(id) = memcg {
                let _ = write!(out, " memcg={id}");
            }
        }
        Op::ShrinkFolio { pfn } => hex(out, "pfn", *pfn),
        Op::FolioBatchMove { batch } => {
            let _ = write!(out, " batch={}", batch.name());
        }
        Op::MemcgCreate { id, limit } => {
            let _ = write!(out, " id={id}");
            hex(out, "limit", *limit);
        }
        Op::MemcgAttach { id } => {
            let _ = write!(out, " id={id}");
        }
        Op::Swapon { size } => hex(out, "size", *size),
        Op::KmemAlloc { order, account } => {
            let _ = write!(out, " order={order} account={}", u8::from(*account));
        }
        Op::KmemGet { pfn } | Op::BalloonDeflate { pfn } | Op::FolioGet { pfn } | Op::FolioPut { pfn } => {
            hex(out, "pfn", *pfn)
        }
        Op::KmemFree { pfn, via } => {
            hex(out, "pfn", *pfn);
            let _ = write!(out, " via={}", via.name());
        }
        Op::BalloonInflate { account } => {
            let _ = write!(out, " account={}", u8::from(*account));
        }
        Op::Vrange { addr, len, mode, behavior } => {
            hex(out, "addr", *addr);
            hex(out, "len", *len);
            let _ = write!(out, " mode={} behavior={}", mode.name(), behavior.name());
        }
        Op::PageCache { file, index, pages, cached, readahead } => {
            write_str(out, "file", file);
            let _ = write!(out, " index={index} pages={pages} cached={}", u8::from(*cached));
            if *readahead {
                out.push_str(" readahead=1");
            }
        }
        Op::PageCacheFrame { file, index, pfn, kflags } => {
            write_str(out, "file", file);
            let _ = write!(out, " index={index} pfn={pfn:#x} kflags={kflags:#x}");
        }
    }
}

/// Writes ` key=0x...`.
fn hex(out: &mut String, key: &str, v: u64) {
    let _ = write!(out, " {key}={v:#x}");
}

/// Writes ` key=value`, quoting and escaping the value unless it is a plain token.
fn write_str(out: &mut String, key: &str, value: &str) {
    let plain =
        !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\');
    let _ = write!(out, " {key}=");
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
}
