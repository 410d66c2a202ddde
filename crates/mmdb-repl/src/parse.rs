//! Argument syntax shared by the commands: numbers, pids, page references, breakpoint conditions.
//!
//! Every parser returns a message on bad input; none panics.

use mmdb_model::consts::{MADV_NAMES, PAGE_SIZE};
use mmdb_model::mm::Pte;
use mmdb_model::{Model, Pfn, Pid};

/// A number in decimal or `0x` hex.
pub fn parse_u64(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse::<u64>(),
    };
    parsed.map_err(|_| format!("`{text}` is not a number (decimal, or hex with 0x)"))
}

/// A hex address, with or without `0x`.
pub fn parse_addr(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
    u64::from_str_radix(hex, 16).map_err(|_| format!("`{text}` is not an address (hex, such as 0x7f5a3c000000)"))
}

/// A process id.
pub fn parse_pid(text: &str) -> Result<Pid, String> {
    text.trim().parse::<Pid>().map_err(|_| format!("`{text}` is not a pid"))
}

/// A count of events: a positive number.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match parse_u64(text) {
        Ok(n) if n > 0 => usize::try_from(n).map_err(|_| format!("`{text}` is too large")),
        _ => Err(format!("`{text}` is not a positive count")),
    }
}

/// A timestamp in seconds (`1.000670`), as the trace prints it; returns nanoseconds.
pub fn parse_seconds(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a timestamp in seconds (such as 1.000670)");
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = if secs.is_empty() { 0 } else { secs.parse().map_err(|_| bad())? };
    let mut ns: u64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
    for _ in frac.len()..9 {
        ns *= 10;
    }
    secs.checked_mul(1_000_000_000).and_then(|s| s.checked_add(ns)).ok_or_else(bad)
}

/// Formats nanoseconds as the trace does: seconds with six decimals (nine when needed).
pub fn format_ts(ts_ns: u64) -> String {
    let (secs, ns) = (ts_ns / 1_000_000_000, ts_ns % 1_000_000_000);
    if ns % 1000 == 0 {
        format!("{secs}.{:06}", ns / 1000)
    } else {
        format!("{secs}.{ns:09}")
    }
}

/// An `MADV_*` advice: its kernel name, the name without `MADV_` in any case, or its number.
pub fn parse_advice(text: &str) -> Result<i64, String> {
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("MADV_") { upper } else { format!("MADV_{upper}") };
    if let Some((_, v)) = MADV_NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(*v);
    }
    text.parse::<i64>().map_err(|_| format!("`{text}` is not an advice (MADV_FREE, free, 8, ...)"))
}

/// Where a page is: a pfn, or the page a process maps at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageRef {
    Pfn(Pfn),
    Addr { pid: Pid, vaddr: u64 },
}

impl PageRef {
    /// Parses `0x11abdf` (a pfn) or `3175:0x7f6d8ecf9000` (pid and virtual address).
    pub fn parse(text: &str) -> Result<PageRef, String> {
        match text.split_once(':') {
            Some((pid, addr)) => Ok(PageRef::Addr { pid: parse_pid(pid)?, vaddr: parse_addr(addr)? }),
            None => parse_u64(text).map(PageRef::Pfn).map_err(|_| {
                format!("`{text}` is not a page: give a pfn (0x11abdf) or PID:VADDR (3175:0x7f6d8ecf9000)")
            }),
        }
    }

    /// The pfn this reference names in `model`, or why there is none.
    pub fn resolve(&self, model: &Model) -> Result<Pfn, String> {
        match *self {
            PageRef::Pfn(pfn) => Ok(pfn),
            PageRef::Addr { pid, vaddr } => {
                if model.task(pid).and_then(|t| t.mm).is_none() {
                    return Err(format!("no process {pid} (with an mm) at this point"));
                }
                match model.lookup(pid, vaddr & !(PAGE_SIZE - 1)) {
                    Some(Pte::Present(p)) => Ok(p.pfn),
                    Some(Pte::Swap { entry, .. }) => {
                        Err(format!("{pid}:{vaddr:#x} is swapped out (swap entry {entry:#x}): no page"))
                    }
                    _ => Err(format!("{pid}:{vaddr:#x} maps no page at this point")),
                }
            }
        }
    }
}

impl std::fmt::Display for PageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageRef::Pfn(p) => write!(f, "{p:#x}"),
            PageRef::Addr { pid, vaddr } => write!(f, "{pid}:{vaddr:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_pages_and_times_parse_or_say_why_not() {
        assert_eq!(parse_u64("0x10"), Ok(16));
        assert_eq!(parse_u64("10"), Ok(10));
        assert!(parse_u64("ten").is_err());
        assert_eq!(PageRef::parse("0x11abdf"), Ok(PageRef::Pfn(0x11abdf)));
        assert_eq!(PageRef::parse("3175:7f00"), Ok(PageRef::Addr { pid: 3175, vaddr: 0x7f00 }));
        assert!(PageRef::parse("x:1").is_err());
        assert_eq!(parse_seconds("1.00067"), Ok(1_000_670_000));
        assert_eq!(parse_seconds("2"), Ok(2_000_000_000));
        assert!(parse_seconds("1.x").is_err());
        assert!(parse_seconds(".").is_err());
        assert_eq!(format_ts(1_000_670_000), "1.000670");
        assert_eq!(parse_advice("free"), Ok(8));
        assert_eq!(parse_advice("MADV_DONTNEED"), Ok(4));
    }
}
