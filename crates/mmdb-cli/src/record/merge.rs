//! Merging the LRU instance's trace into the main trace by timestamp.
//!
//! The main instance follows the recorded processes (`set_event_pid`), so it misses per-CPU batch drains that
//! another task performs: a folio the program faulted in waits in its CPU's `lru_add` batch until whoever runs
//! there next fills or drains it (real-traces.md, traps 4 and 6). A second instance records `mm_lru_insertion`
//! and `mm_lru_activate` of every other task (`set_event_notrace_pid` with `event-fork`, so the recorded tasks'
//! own events are not there twice), and its lines are merged into the trace in time order, so the lowering sees
//! when the program's folios reached the LRU. Both instances use the same trace clock.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;

/// The events the LRU instance records for every other task.
pub const LRU_EVENTS: &[&str] = &["pagemap:mm_lru_insertion", "pagemap:mm_lru_activate"];

/// The timestamp of a record line, or `None` for comments, notices (`CPU:N [LOST M EVENTS]`), blank lines and lines
/// that are not UTF-8 (a comm may hold any byte).
fn timestamp(line: &[u8]) -> Option<u64> {
    if line.starts_with(b"#") {
        return None;
    }
    let line = std::str::from_utf8(line).ok()?;
    mmdb_trace::lexer::lex_prefix(line).ok().map(|p| p.ts_ns)
}

/// The lines of `r` as bytes, without their line breaks (a trace line need not be UTF-8).
fn byte_lines(r: impl BufRead) -> impl Iterator<Item = io::Result<Vec<u8>>> {
    r.split(b'\n')
}

/// Writes the lines of `main` and `extra` to `out` in timestamp order. Lines of `main` without a timestamp
/// (the header, notices, the trailer) keep their place among `main`'s lines; at equal times `main` comes first.
/// Returns how many lines of `extra` were merged. Lines are copied byte for byte, UTF-8 or not.
pub fn merge_traces(main: &Path, extra: &Path, out: &Path) -> io::Result<u64> {
    let mut a = byte_lines(BufReader::new(File::open(main)?));
    // Each extra record with its timestamp, lexed once.
    let mut b = byte_lines(BufReader::new(File::open(extra)?))
        .filter_map(|l| l.map(|l| timestamp(&l).map(|t| (t, l))).transpose());
    let mut w = BufWriter::new(File::create(out)?);
    let mut next_b = b.next().transpose()?;
    let mut merged = 0;
    while let Some(line) = a.next().transpose()? {
        if let Some(t) = timestamp(&line) {
            while let Some((_, extra_line)) = next_b.as_ref().filter(|(te, _)| *te < t) {
                w.write_all(extra_line)?;
                w.write_all(b"\n")?;
                merged += 1;
                next_b = b.next().transpose()?;
            }
        }
        w.write_all(&line)?;
        w.write_all(b"\n")?;
    }
    // What the LRU instance saw after the main trace's last record (the trailer is already out) is dropped:
    // the program is gone.
    w.flush()?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::merge_traces;

    #[test]
    fn lines_interleave_by_time_and_main_keeps_its_comments() {
        let dir = std::env::temp_dir().join(format!("mmdb-merge-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let rec = |comm: &str, t: u32, what: &str| format!("{comm:>16}    [001] .....   100.0000{t:02}: {what}\n");
        let main = format!(
            "# header\n{}CPU:1 [LOST 3 EVENTS]\n{}{}# trailer\n",
            rec("app-10", 10, "page_fault_user: address=0x1000 ip=0x1 error_code=0x6"),
            rec("app-10", 30, "rss_stat: mm_id=1 curr=1 type=MM_ANONPAGES size=4096B"),
            rec("app-10", 50, "page_fault_user: address=0x2000 ip=0x1 error_code=0x6"),
        );
        let extra: String = [20, 30, 40, 60]
            .iter()
            .map(|&t| rec("other-20", t, &format!("mm_lru_insertion: folio=0 pfn={t:#x} lru=0 flags=M")))
            .collect();
        std::fs::write(dir.join("main"), main).expect("write");
        std::fs::write(dir.join("extra"), extra).expect("write");
        let n = merge_traces(&dir.join("main"), &dir.join("extra"), &dir.join("out")).expect("merge");
        let out = std::fs::read_to_string(dir.join("out")).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        let shape: Vec<String> = out
            .lines()
            .map(|l| match l.split_once(": ") {
                Some((_, rest)) if !l.starts_with('#') && !l.starts_with("CPU:") => {
                    rest.split(':').next().unwrap_or("").to_string() + &l[l.find("pfn=").map_or(l.len(), |i| i + 4)..]
                }
                _ => l.to_string(),
            })
            .collect();
        // In time order; the main trace's comments and notices keep their place; at equal times the main trace's
        // record comes first; what the LRU instance saw after the last record is dropped.
        let want = [
            "# header",
            "page_fault_user",
            "CPU:1 [LOST 3 EVENTS]",
            "mm_lru_insertion0x14 lru=0 flags=M",
            "rss_stat",
            "mm_lru_insertion0x1e lru=0 flags=M",
            "mm_lru_insertion0x28 lru=0 flags=M",
            "page_fault_user",
            "# trailer",
        ];
        assert_eq!(shape, want, "{out}");
        assert_eq!(n, 3);
    }

    #[test]
    fn lines_that_are_not_utf8_are_copied_byte_for_byte() {
        let dir = std::env::temp_dir().join(format!("mmdb-merge-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let main =
            b"     a\xff-10    [001] .....   100.000010: exit:\n        app-10    [001] .....   100.000030: exit:\n";
        let extra = b"        oth-20    [001] .....   100.000020: mm_lru_insertion: pfn=0x1\n";
        std::fs::write(dir.join("main"), main).expect("write");
        std::fs::write(dir.join("extra"), extra).expect("write");
        let n = merge_traces(&dir.join("main"), &dir.join("extra"), &dir.join("out")).expect("merge");
        let out = std::fs::read(dir.join("out")).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        // The line that is not UTF-8 has no timestamp for the merge, so the extra line goes before the next one.
        let mut want = main[..46].to_vec();
        want.extend_from_slice(extra);
        want.extend_from_slice(&main[46..]);
        assert_eq!((n, String::from_utf8_lossy(&out)), (1, String::from_utf8_lossy(&want)));
    }
}
