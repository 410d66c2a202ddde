//! Parser for `perf script` text of tracepoint events.
//!
//! ```text
//!          python3  3225/3225  [000]  1277.375856759:                exceptions:page_fault_user: address=0x7f516fd51c20 ip=0x7f516f8ff04a error_code=0x7
//!            basic  3225/3225  [000]  1277.378063478:                   syscalls:sys_enter_mmap: addr: 0x00000000, len: 0x00002000, ...
//!            basic  3225/3225  [000]  1277.378092965:                    syscalls:sys_exit_mmap: 0x7f6d8ef27000
//!          python3     3225 [000]  1277.375856: exceptions:page_fault_user: address=0x7f516fd51c20 ...
//!          python3  3225/3225  [001]  1277.400000000: PERF_RECORD_LOST lost 12
//! ```
//!
//! The first line is `perf script -F trace:comm,pid,tid,cpu,time,event,trace --ns` (the recorder's choice): `pid/tid`
//! and nanoseconds. The fourth is perf's default: the tid alone and microseconds. In general a line is
//! `<comm> <pid>[/<tid>] [<cpu>] <secs>.<frac>: <system>:<event>: <fields>`: the comm is right-aligned and may
//! contain blanks, the event name is right-aligned to the longest name. The timestamp is the first
//! `<digits>.<digits>:` word; the CPU and the pid are the last two words before it, the comm is the rest. With
//! `pid/tid`, [`TraceLine::pid`] is the tid and [`TraceLine::tgid`] the pid; a lone number is taken as the tid.
//!
//! `--show-lost-events` prints `PERF_RECORD_LOST lost <n>` after the prefix; other `PERF_RECORD_*` side-band
//! lines (`--show-task-events` and friends) are skipped, as are blank lines and lines starting with `#`.

use crate::diag::LineError;
use crate::fields::{is_blank, parse_dec, parse_seconds};
use crate::lexer::MAX_CPUS;
use crate::records::syscalls::{sys_enter, sys_exit};
use crate::records::{parse_fields_event, raw, Lost, ParsedTrace, Record, Syscall, TraceLine};

/// Parses `perf script` text (LF or CRLF lines) into records, loss notices and one error per bad line.
pub fn parse_perf(src: &[u8]) -> ParsedTrace {
    ParsedTrace::parse_lines(src, 0, parse_line).0
}

/// [`parse_perf`] of a piece of a file that comes after `before` lines of it: its lines are numbered as lines of
/// the whole file (what [`ParsedTrace::shift_lines`] would do after parsing, without going over the records again).
/// Also returns the number of line breaks in `src`, so that the next piece's `before` needs no count of its own.
pub fn parse_perf_piece(src: &[u8], before: u32) -> (ParsedTrace, u64) {
    ParsedTrace::parse_lines(src, before, parse_line)
}

/// The prefix of one perf line, up to the timestamp's colon.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PerfPrefix<'a> {
    /// The comm, trimmed (`:-1` when perf did not know the thread).
    pub comm: &'a str,
    /// The tid, when the line has a valid one.
    pub pid: Option<u32>,
    /// The pid of `pid/tid`.
    pub tgid: Option<u32>,
    /// The CPU column, when present.
    pub cpu: Option<u32>,
    /// Byte offset of the CPU column's number, when present.
    pub cpu_offset: usize,
    /// The timestamp in nanoseconds.
    pub ts_ns: u64,
    /// Byte offset of the text after the timestamp's colon.
    pub body: usize,
}

/// Finds the timestamp and splits what comes before it; `None` when the line has no `<secs>.<frac>:` word.
pub(crate) fn lex_perf_prefix(line: &str) -> Option<PerfPrefix<'_>> {
    lex_perf_usual(line).or_else(|| lex_perf_general(line))
}

/// [`lex_perf_prefix`] of a line in the shape `perf script` prints (`<comm> <tgid>/<pid> [<cpu>] <secs>.<frac>:`,
/// the line's first `:` ending the timestamp, numbers that cannot overflow), read in one pass from that `:`
/// backwards; `None` for any other line, which the general lexer then reads. On the lines it reads it gives what
/// the general lexer gives: the first `:` is the one that lexer takes, and each word is the one it finds.
#[inline]
fn lex_perf_usual(line: &str) -> Option<PerfPrefix<'_>> {
    let b = line.as_bytes();
    let colon = memchr::memchr(b':', b)?;
    if b.get(colon + 1).is_some_and(|&c| !is_blank(c)) {
        return None;
    }
    // `<secs>.<frac>` before the `:`, a blank before it.
    let frac_start = run_start(b, colon, |c| c.is_ascii_digit());
    let frac_len = colon - frac_start;
    if frac_len == 0 || frac_len > 9 || frac_start < 2 || b[frac_start - 1] != b'.' {
        return None;
    }
    let ts_start = run_start(b, frac_start - 1, |c| c.is_ascii_digit());
    let secs_len = frac_start - 1 - ts_start;
    if secs_len == 0 || secs_len > 9 || ts_start == 0 || !is_blank(b[ts_start - 1]) {
        return None;
    }
    let decimal = |digits: &[u8]| digits.iter().fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
    let frac = decimal(&b[frac_start..colon]) * 10u64.pow(9 - frac_len as u32);
    let ts_ns = decimal(&b[ts_start..frac_start - 1]) * 1_000_000_000 + frac;
    // `[<cpu>]`, the last word before the timestamp.
    let cpu_end = run_start(b, ts_start, is_blank);
    let cpu_word = run_start(b, cpu_end, |c| !is_blank(c));
    let cpu_digits = &b[cpu_word.min(cpu_end)..cpu_end];
    let cpu_digits = cpu_digits.strip_prefix(b"[")?.strip_suffix(b"]")?;
    if cpu_digits.is_empty() || cpu_digits.len() > 9 || !cpu_digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // `<tgid>/<pid>`, the word before.
    let ids_end = run_start(b, cpu_word, is_blank);
    let ids_start = run_start(b, ids_end, |c| !is_blank(c));
    let ids = &b[ids_start..ids_end];
    let slash = memchr::memchr(b'/', ids)?;
    let id = |s: &[u8]| (!s.is_empty() && s.len() <= 9 && s.iter().all(u8::is_ascii_digit)).then(|| decimal(s) as u32);
    let (tgid, pid) = (id(&ids[..slash])?, id(&ids[slash + 1..])?);
    // The comm: the rest, without the blanks around it.
    let comm_end = run_start(b, ids_start, is_blank);
    let comm_start = crate::lexer::blanks_end(b, 0).min(comm_end);
    if ids_end == 0 || cpu_end == 0 {
        return None;
    }
    Some(PerfPrefix {
        comm: &line[comm_start..comm_end],
        pid: Some(pid),
        tgid: Some(tgid),
        cpu: Some(decimal(cpu_digits) as u32),
        cpu_offset: cpu_word + 1,
        ts_ns,
        body: colon + 1,
    })
}

/// Where the run of bytes that satisfy `f` and ends at `i` starts.
#[inline(always)]
fn run_start(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i > 0 && f(b[i - 1]) {
        i -= 1;
    }
    i
}

/// [`lex_perf_prefix`] of any line.
fn lex_perf_general(line: &str) -> Option<PerfPrefix<'_>> {
    let b = line.as_bytes();
    let (ts_start, colon, ts_ns) = memchr::memchr_iter(b':', b).find_map(|p| {
        if b.get(p + 1).is_some_and(|&c| !is_blank(c)) {
            return None;
        }
        let start = b[..p].iter().rposition(|&c| is_blank(c)).map_or(0, |i| i + 1);
        parse_seconds(&line[start..p]).map(|ts| (start, p, ts))
    })?;
    let mut head = line[..ts_start].trim_end_matches([' ', '\t']);
    let (mut cpu, mut cpu_offset) = (None, 0);
    if let Some((rest, word)) = last_word(head) {
        if let Some(n) = word.strip_prefix('[').and_then(|w| w.strip_suffix(']')).and_then(parse_dec) {
            cpu = Some(u32::try_from(n).unwrap_or(u32::MAX));
            cpu_offset = head.len() - word.len() + 1;
            head = rest;
        }
    }
    let (mut pid, mut tgid) = (None, None);
    if let Some((rest, word)) = last_word(head) {
        let ids = match word.split_once('/') {
            Some((p, t)) => pid_token(p).zip(pid_token(t)),
            None => pid_token(word).map(|t| (None, t)),
        };
        if let Some((p, t)) = ids {
            (pid, tgid) = (t, p);
            head = rest;
        }
    }
    Some(PerfPrefix { comm: head.trim_matches([' ', '\t']), pid, tgid, cpu, cpu_offset, ts_ns, body: colon + 1 })
}

/// Reads a pid word: `Some(Some(n))` for a number, `Some(None)` for perf's `-1`, `None` when it is not a pid.
fn pid_token(word: &str) -> Option<Option<u32>> {
    if word == "-1" {
        return Some(None);
    }
    parse_dec(word).map(|n| u32::try_from(n).ok())
}

/// Splits `text` into everything before its last blank-separated word and that word.
fn last_word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_end_matches([' ', '\t']);
    if text.is_empty() {
        return None;
    }
    let start = text.bytes().rposition(is_blank).map_or(0, |i| i + 1);
    Some((text[..start].trim_end_matches([' ', '\t']), &text[start..]))
}

fn parse_line(line_no: u32, line: &str, out: &mut ParsedTrace) {
    let start = crate::lexer::blanks_end(line.as_bytes(), 0);
    let t = &line[start..];
    if t.is_empty() || t.starts_with('#') || t.trim_end().is_empty() {
        return;
    }
    let Some(p) = lex_perf_prefix(line) else {
        let e = LineError::at_token(line, start, "a record `<comm> <pid>[/<tid>] [<cpu>] <secs>.<frac>: <event>: ...`");
        out.errors.push(e.to_parse_error(line_no, line));
        return;
    };
    let body_start = crate::lexer::blanks_end(line.as_bytes(), p.body);
    let body = &line[body_start..];
    if let Some(side_band) = body.strip_prefix("PERF_RECORD_") {
        if side_band.starts_with("LOST") {
            let count = side_band.split_once(" lost ").and_then(|(_, n)| parse_dec(n.trim()));
            out.lost.push(Lost { line: line_no, cpu: p.cpu, count });
        }
        return;
    }
    let mut unknown = Vec::new();
    let result = record(line, body_start, &mut unknown).and_then(|record| {
        let pid = p.pid.ok_or_else(|| LineError::at_token(line, start, "a pid before the CPU column"))?;
        let cpu =
            p.cpu.ok_or_else(|| LineError::at_token(line, start, "a CPU column `[<cpu>]` (perf script -F cpu)"))?;
        if cpu >= MAX_CPUS {
            let len = line[p.cpu_offset..].find(']').unwrap_or(0);
            return Err(LineError::new(p.cpu_offset, len, "a CPU number below 8192 (the kernel's largest NR_CPUS)"));
        }
        Ok((pid, cpu, record))
    });
    match result {
        Ok((pid, cpu, record)) => {
            if !unknown.is_empty() {
                out.note_unknown(record.event_name(), &unknown, line_no);
            }
            let comm = out.comms.intern(p.comm);
            let ts_ns = p.ts_ns;
            let (in_irq, need_resched) = (false, false);
            out.lines.push(TraceLine {
                comm,
                pid,
                tgid: p.tgid,
                cpu,
                ts_ns,
                line: line_no,
                in_irq,
                need_resched,
                record,
            });
        }
        Err(e) => out.errors.push(e.to_parse_error(line_no, line)),
    }
}

/// Parses the event name at `start` (`<system>:<event>:`) and the fields after it.
fn record<'a>(line: &'a str, start: usize, unknown: &mut Vec<&'a str>) -> Result<Record, LineError> {
    let body = &line[start..];
    let word_len = body.bytes().position(is_blank).unwrap_or(body.len());
    let Some(name) = body[..word_len].strip_suffix(':').filter(|n| !n.is_empty()) else {
        return Err(LineError::at_token(line, start, "an event name `<system>:<event>:`"));
    };
    let fields = crate::lexer::blanks_end(line.as_bytes(), start + word_len);
    let (system, event) = match name.split_once(':') {
        Some((system, event)) => (Some(system), event),
        None => (None, name),
    };
    if system == Some("syscalls") {
        if let Some(syscall) = event.strip_prefix("sys_enter_").and_then(Syscall::from_name) {
            let end = line.trim_end_matches([' ', '\t']).len().max(fields);
            return sys_enter(line, syscall, fields, end);
        }
        if let Some(syscall) = event.strip_prefix("sys_exit_").and_then(Syscall::from_name) {
            return sys_exit(line, syscall, fields);
        }
        return Ok(raw(system, event, &line[fields..]));
    }
    parse_fields_event(line, system, event, fields, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let p = lex_perf_prefix("         python3  3225/3226  [001]  1277.375856759:   kmem:x: a=1").unwrap();
        assert_eq!(
            (p.comm, p.pid, p.tgid, p.cpu, p.ts_ns),
            ("python3", Some(3226), Some(3225), Some(1), 1_277_375_856_759)
        );
        let p = lex_perf_prefix(" Web Content 2801 [000] 12.000100: sched:x: a=1").unwrap();
        assert_eq!((p.comm, p.pid, p.tgid, p.cpu, p.ts_ns), ("Web Content", Some(2801), None, Some(0), 12_000_100_000));
        let p = lex_perf_prefix("             :-1    -1/-1    [001]     5.000000001: PERF_RECORD_LOST lost 3").unwrap();
        assert_eq!((p.comm, p.pid, p.tgid, p.cpu), (":-1", None, None, Some(1)));
        assert_eq!(lex_perf_prefix("no timestamp here: x"), None);
    }

    /// The lexer of usual lines gives what the general one gives on every line it takes.
    #[test]
    fn usual_prefixes_lex_like_the_general_lexer() {
        let lines = [
            ("         python3  3225/3226  [001]  1277.375856759:   kmem:x: a=1", true),
            (
                "            mmdb  5983/5983  [001] 18375.077594349:                exceptions:page_fault_user: a=0x1",
                true,
            ),
            (" Web Content 2801/2802 [000] 12.000100: sched:x: a=1", true),
            ("Web Content 2801/2802 [000] 12.000100: sched:x: a=1", true),
            (" 2801/2802 [000] 12.000100: sched:x: a=1", true),
            ("2801/2802 [000] 12.000100: sched:x: a=1", true),
            ("a 1/2 [0] 1.0:", true),
            ("a 1/2 [0] 1.0:x", false),
            ("a\t1/2\t[0]\t1.0:\tx", true),
            (" Web Content 2801 [000] 12.000100: sched:x: a=1", false),
            ("             :-1    -1/-1    [001]     5.000000001: PERF_RECORD_LOST lost 3", false),
            ("   a:b  1/2  [001]  5.000000001: x", false),
            ("   a  1/2  [001]  5.0000000001: x", false),
            ("   a  1/2  [001]  1234567890.0: x", false),
            ("   a  1/2  [001]  .5: x", false),
            ("   a  1/2  [001]  5.: x", false),
            ("   a  1/2  [001]  5.5.5: x", false),
            ("   a  1/2  [0x1]  5.5: x", false),
            ("   a  1/2  []  5.5: x", false),
            ("   a  1/2  [1234567890]  5.5: x", false),
            ("   a  1/  [1]  5.5: x", false),
            ("   a  1/2/3  [1]  5.5: x", false),
            ("   a  12345678901/2  [1]  5.5: x", false),
            ("   a  1/2  5.5: x", false),
            ("1/2  [1]  5.5: x", true),
            ("[1]  5.5: x", false),
            ("5.5: x", false),
        ];
        for (line, usual) in lines {
            let fast = lex_perf_usual(line);
            assert_eq!(fast.is_some(), usual, "{line:?}");
            if fast.is_some() {
                assert_eq!(fast, lex_perf_general(line), "{line:?}");
            }
        }
    }
}
