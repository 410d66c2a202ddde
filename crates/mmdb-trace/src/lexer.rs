//! Lexer for the prefix that ftrace-style text lines share, up to and including the event name.
//!
//! ```text
//!            basic-3175    [000] d....  1272.594494: page_fault_user: address=0x7f7c23d51c20 ip=...
//!            <...>-3175    (   3175) [000] d....  1272.594494: page_fault_user: address=...
//!      Web Content-2801    [001] .....    12.000100: sys_mmap(addr: 0, len: 2000, ...)
//!              app-100     [000]     0.000100: mmap: addr=0x7f0000000000 len=0x40000 ...
//! ```
//!
//! That is `<comm>-<pid> [(<tgid>)] [<cpu>] [<irq-info>] <secs>.<frac>: <event>`, then the rest of the line.
//! The comm may contain spaces and dashes: as in the kernel's output, the pid is the digits after the last `-`
//! before the CPU field. The lexer allocates nothing: it returns slices of the line and byte offsets.

use memchr::memchr_iter;

use crate::diag::LineError;

/// CPU numbers are below this: `NR_CPUS` is at most 8192 (x86-64 `MAXSMP`). A larger one is damage, which the
/// model would refuse too.
pub const MAX_CPUS: u32 = mmdb_model::NR_CPUS;

/// One line of trace text, classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// Empty, or only whitespace.
    Blank,
    /// A comment or header line: its first char is `#`. Holds the text after the `#`.
    Comment(&'a str),
    /// A record, with its prefix split into fields.
    Record(Prefix<'a>),
}

/// How the event name ends, which tells how the rest of the line is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSep {
    /// `name: fields` (tracepoints, the mm event format); [`Prefix::rest`] starts after the colon and spaces.
    Colon,
    /// `name(args)` (ftrace's syscall entries); [`Prefix::rest`] starts at the `(`.
    Paren,
    /// `name -> value` (ftrace's syscall exits); [`Prefix::rest`] starts after the spaces.
    Space,
    /// The name ends the line; [`Prefix::rest`] is empty.
    End,
}

/// The common prefix of one record line, split into its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix<'a> {
    /// The task's comm as printed: may contain spaces and dashes, or be `<...>` when the kernel did not know it.
    pub comm: &'a str,
    /// The pid after the comm (a thread id for threads).
    pub pid: u32,
    /// The TGID column, when the trace has one (`options/record-tgid`) and it holds a number (not `(-------)`).
    pub tgid: Option<u32>,
    /// The CPU the event ran on.
    pub cpu: u32,
    /// The irq-info column (`d....`, `...1.`), when the trace has one.
    pub irq: Option<&'a str>,
    /// The timestamp in nanoseconds.
    pub ts_ns: u64,
    /// The event name (`page_fault_user`, `sys_mmap`, `mmap`, or `syscalls:sys_enter_mmap`).
    pub event: &'a str,
    /// Byte offset of the event name in the line.
    pub event_offset: usize,
    /// How the event name ends.
    pub sep: EventSep,
    /// The rest of the line after the event name and its separator.
    pub rest: &'a str,
    /// Byte offset of [`Prefix::rest`] in the line.
    pub rest_offset: usize,
}

/// Classifies a line (without its line break) and lexes the prefix of a record line.
pub fn lex_line(line: &str) -> Result<Line<'_>, LineError> {
    if let Some(text) = line.strip_prefix('#') {
        return Ok(Line::Comment(text));
    }
    if line.bytes().all(|b| b.is_ascii_whitespace()) {
        return Ok(Line::Blank);
    }
    lex_prefix(line).map(Line::Record)
}

/// Lexes the prefix of a record line (without its line break).
///
/// Each `[` that is preceded by `-<pid>` (and maybe a TGID column) is a candidate CPU field; the first candidate
/// from which the whole prefix lexes wins, so a comm that itself contains `-1 [0]` still works. When none does,
/// the error is that of the first candidate.
pub fn lex_prefix(line: &str) -> Result<Prefix<'_>, LineError> {
    match lex_usual(line) {
        Some(prefix) => Ok(prefix),
        None => lex_general(line),
    }
}

/// [`lex_prefix`] of any line, candidate `[` by candidate `[`.
fn lex_general(line: &str) -> Result<Prefix<'_>, LineError> {
    let start = blanks_end(line.as_bytes(), 0);
    let mut first_err = None;
    for p in memchr_iter(b'[', line.as_bytes()) {
        let Some(head) = lex_head(line, start, p) else {
            continue;
        };
        match head.and_then(|head| lex_tail(line, p, head)) {
            Ok(prefix) => return Ok(prefix),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        LineError::at_token(line, start, "a record `<comm>-<pid> [<cpu>] <secs>.<frac>: <event>: ...`")
    }))
}

/// [`lex_prefix`] of a line in the shape the kernel prints (`<comm>-<pid> [<cpu>] <irq-info> <secs>.<frac>: `,
/// no TGID column, the comm without a `[`, numbers that cannot overflow), read in one pass; `None` for any other
/// line, which the general lexer then reads. On the lines it reads it gives what the general lexer gives: the
/// first `[` is the CPU field, and each step is the general one's on this shape.
///
/// Lines often share everything up to the timestamp's `.` with a line shortly before (the same task on the same
/// CPU in the same second, with one of a few irq-info columns): a line that starts with the bytes of one of the
/// last few lines read here, up to that point, has its comm, pid, CPU, irq-info and seconds where that line had
/// them, as every step up to there reads only those bytes.
#[inline]
fn lex_usual(line: &str) -> Option<Prefix<'_>> {
    let b = line.as_bytes();
    let head = LAST_HEADS.with_borrow(|last| {
        last.heads.iter().find(|h| h.len > 0 && b.len() > h.len && b[..h.len] == h.bytes[..h.len]).map(|h| h.found)
    });
    let head = match head {
        Some(head) => head,
        None => {
            let head = lex_usual_head(b)?;
            let n = head.secs_end + 1;
            LAST_HEADS.with_borrow_mut(|last| {
                let slot = last.next;
                last.next = (slot + 1) % last.heads.len();
                let h = &mut last.heads[slot];
                h.len = if n <= h.bytes.len() { n } else { 0 };
                if h.len > 0 {
                    h.bytes[..n].copy_from_slice(&b[..n]);
                    h.found = head;
                }
            });
            head
        }
    };
    // `<frac>:`, at most 9 digits.
    let mut i = head.secs_end + 1;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let frac_len = i - head.secs_end - 1;
    if frac_len == 0 || frac_len > 9 || b.get(i) != Some(&b':') {
        return None;
    }
    let frac = small_decimal(&b[head.secs_end + 1..i]);
    let ts_ns = head.secs * 1_000_000_000 + frac * POW10[9 - frac_len];
    let event_offset = run_end(b, i + 1, is_blank);
    let (event, sep, rest) = event_name(&line[event_offset..]);
    if event.is_empty() {
        return None;
    }
    Some(Prefix {
        comm: &line[head.comm.0..head.comm.1],
        pid: head.pid,
        tgid: None,
        cpu: head.cpu,
        irq: Some(&line[head.irq.0..head.irq.1]),
        ts_ns,
        event,
        event_offset,
        sep,
        rest,
        rest_offset: line.len() - rest.len(),
    })
}

/// What [`lex_usual`] finds before the timestamp's fraction: byte ranges and values.
#[derive(Clone, Copy, Debug, Default)]
struct UsualHead {
    comm: (usize, usize),
    pid: u32,
    cpu: u32,
    irq: (usize, usize),
    secs: u64,
    /// Where the seconds end, at the `.`.
    secs_end: usize,
}

/// The start of a line [`lex_usual`] read, up to and including its timestamp's `.`, and what it found there
/// (`len` 0: none, or longer than `bytes`).
#[derive(Clone, Copy)]
struct LastHead {
    bytes: [u8; 80],
    len: usize,
    found: UsualHead,
}

/// The starts of the last lines [`lex_usual`] read whose starts differ, replaced in turn.
struct LastHeads {
    heads: [LastHead; 4],
    next: usize,
}

thread_local! {
    static LAST_HEADS: std::cell::RefCell<LastHeads> = const {
        let none = UsualHead { comm: (0, 0), pid: 0, cpu: 0, irq: (0, 0), secs: 0, secs_end: 0 };
        std::cell::RefCell::new(LastHeads { heads: [LastHead { bytes: [0; 80], len: 0, found: none }; 4], next: 0 })
    };
}

/// [`lex_usual`] up to the timestamp's `.`.
#[inline]
fn lex_usual_head(b: &[u8]) -> Option<UsualHead> {
    let start = blanks_end(b, 0);
    // (The blanks before `start` hold no `[`.)
    let p = start + memchr::memchr(b'[', &b[start..])?;
    // `<comm>-<pid>` and spaces, backwards from the `[`.
    let mut j = p;
    while j > start && b[j - 1] == b' ' {
        j -= 1;
    }
    let digits_end = j;
    while j > start && b[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if digits_end == p || j == digits_end || digits_end - j > 9 || j == start || b[j - 1] != b'-' {
        return None;
    }
    let pid = small_decimal(&b[j..digits_end]) as u32;
    let comm = (start, j - 1);
    // `[<cpu>]`, blanks, the irq-info column, blanks.
    let cpu_start = p + 1;
    let mut i = cpu_start;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == cpu_start || i - cpu_start > 4 || b.get(i) != Some(&b']') {
        return None;
    }
    let cpu = small_decimal(&b[cpu_start..i]) as u32;
    i += 1;
    let after_blanks = run_end(b, i, is_blank);
    if cpu >= MAX_CPUS || after_blanks == i {
        return None;
    }
    let (irq_end, after) = irq_field(b, after_blanks)?;
    // `<secs>.`, at most 9 digits.
    let secs_start = after;
    i = secs_start;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == secs_start || i - secs_start > 9 || b.get(i) != Some(&b'.') {
        return None;
    }
    let secs = small_decimal(&b[secs_start..i]);
    Some(UsualHead { comm, pid, cpu, irq: (after_blanks, irq_end), secs, secs_end: i })
}

/// The value of at most 9 ASCII digits (checked by the caller).
#[inline]
fn small_decimal(digits: &[u8]) -> u64 {
    digits.iter().fold(0, |v, &c| v * 10 + u64::from(c - b'0'))
}

/// What precedes the CPU field.
struct Head<'a> {
    comm: &'a str,
    pid: u32,
    tgid: Option<u32>,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Matches `-<pid> [(<tgid>) ]` backwards from the `[` at `p`; `None` when this `[` is not a CPU field.
fn lex_head(line: &str, start: usize, p: usize) -> Option<Result<Head<'_>, LineError>> {
    let b = line.as_bytes();
    let skip_blanks = |mut j: usize| {
        while j > start && is_blank(b[j - 1]) {
            j -= 1;
        }
        j
    };
    let mut j = skip_blanks(p);
    if j == p {
        return None;
    }
    let mut tgid = None;
    if j > start && b[j - 1] == b')' {
        let close = j - 1;
        let mut k = close;
        while k > start && matches!(b[k - 1], b'0'..=b'9' | b' ' | b'-') {
            k -= 1;
        }
        if k == start || b[k - 1] != b'(' {
            return None;
        }
        let inner = line[k..close].trim_matches(' ');
        if inner.is_empty() {
            return None;
        } else if inner.bytes().all(|c| c.is_ascii_digit()) {
            match digits_u32(inner) {
                Some(n) => tgid = Some(n),
                None => {
                    let offset = close - inner.len();
                    return Some(Err(LineError::new(offset, inner.len(), "a TGID that fits in 32 bits")));
                }
            }
        } else if !inner.bytes().all(|c| c == b'-') {
            return None;
        }
        let open = k - 1;
        j = skip_blanks(open);
        if j == open {
            return None;
        }
    }
    let digits_end = j;
    while j > start && b[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if j == digits_end || j == start || b[j - 1] != b'-' {
        return None;
    }
    Some(match digits_u32(&line[j..digits_end]) {
        Some(pid) => Ok(Head { comm: &line[start..j - 1], pid, tgid }),
        None => Err(LineError::new(j, digits_end - j, "a pid that fits in 32 bits")),
    })
}

/// The value of `s`, a run of ASCII digits (the lexer has checked them), unless it does not fit in 64 bits.
#[inline]
fn digits_u64(s: &str) -> Option<u64> {
    if s.len() <= 19 {
        // Below 10^19 < 2^64: no overflow to check.
        return Some(s.bytes().fold(0u64, |v, c| v.wrapping_mul(10).wrapping_add(u64::from(c.wrapping_sub(b'0')))));
    }
    s.bytes().try_fold(0u64, |v, c| v.checked_mul(10)?.checked_add(u64::from(c.wrapping_sub(b'0'))))
}

/// The value of `s`, a run of ASCII digits, unless it does not fit in 32 bits.
fn digits_u32(s: &str) -> Option<u32> {
    digits_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// `10^i`, for scaling a fraction of at most 9 digits to nanoseconds.
const POW10: [u64; 10] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

fn is_irq_char(c: u8) -> bool {
    matches!(c, b'.' | b'd' | b'D' | b'n' | b'N' | b'h' | b'H' | b's' | b'S' | b'b' | b'B' | b'z' | b'Z' | b'0'..=b'9')
}

/// The end of the run of bytes from `i` on that satisfy `f`.
#[inline]
pub(crate) fn run_end(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

/// The 8 bytes of `b` from `i` as a little-endian word, if there are 8.
#[inline]
fn word_at(b: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The high bit of each byte of `w` equal to `c`, and maybe of bytes after such a byte (never before one).
#[inline]
fn bytes_equal(w: u64, c: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// [`run_end`] of blanks: the column padding before a comm is a run of spaces, skipped eight at a time.
#[inline]
pub(crate) fn blanks_end(b: &[u8], mut i: usize) -> usize {
    while word_at(b, i) == Some(u64::from_le_bytes(*b"        ")) {
        i += 8;
    }
    run_end(b, i, is_blank)
}

/// The irq-info column at `i`: 5 flag chars (4 on older kernels), then blanks. Returns where the column ends and
/// where the blanks after it end.
fn irq_field(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let end = run_end(&b[..b.len().min(i + 5)], i, is_irq_char);
    let after = run_end(b, end, is_blank);
    (end - i >= 4 && after > end).then_some((end, after))
}

/// Lexes from the `[` of the CPU field at `p` to the end of the line (by hand: every record line comes here).
fn lex_tail<'a>(line: &'a str, p: usize, head: Head<'a>) -> Result<Prefix<'a>, LineError> {
    let b = line.as_bytes();
    let cpu_start = p + 1;
    let cpu_end = run_end(b, cpu_start, |c| c.is_ascii_digit());
    if cpu_end == cpu_start || b.get(cpu_end) != Some(&b']') {
        return Err(LineError::at_token(line, p, "a CPU field `[<cpu>]`"));
    }
    let cpu = &line[cpu_start..cpu_end];
    let cpu = digits_u32(cpu).filter(|&c| c < MAX_CPUS).ok_or_else(|| {
        LineError::new(cpu_start, cpu.len(), "a CPU number below 8192 (the kernel's largest NR_CPUS)")
    })?;
    let mut i = cpu_end + 1;
    let after_blanks = run_end(b, i, is_blank);
    if after_blanks == i {
        return Err(LineError::at_token(line, i, "a space after the CPU field"));
    }
    i = after_blanks;
    let irq = match irq_field(b, i) {
        Some((end, after)) => {
            let irq = &line[i..end];
            i = after;
            Some(irq)
        }
        None => None,
    };
    let ts_offset = i;
    let secs_end = run_end(b, i, |c| c.is_ascii_digit());
    let frac_end = run_end(b, secs_end + 1, |c| c.is_ascii_digit());
    if secs_end == i || b.get(secs_end) != Some(&b'.') || frac_end == secs_end + 1 {
        return Err(LineError::at_token(line, ts_offset, "a timestamp `<secs>.<frac>`"));
    }
    let (secs, frac) = (&line[i..secs_end], &line[secs_end + 1..frac_end]);
    if frac.len() > 9 {
        return Err(LineError::new(secs_end + 1, frac.len(), "at most 9 fractional digits (nanoseconds)"));
    }
    let ts_ns = digits_u64(secs)
        .and_then(|s| s.checked_mul(1_000_000_000))
        .zip(digits_u64(frac))
        .and_then(|(s, f)| s.checked_add(f * POW10[9 - frac.len()]))
        .ok_or_else(|| LineError::new(ts_offset, frac_end - ts_offset, "a timestamp below 2^64 nanoseconds"))?;
    i = frac_end;
    if b.get(i) != Some(&b':') {
        return Err(LineError::at_token(line, i, "`:` after the timestamp"));
    }
    i = run_end(b, i + 1, |c| c == b' ' || c == b'\t');
    let event_offset = i;
    let (event, sep, rest) = event_name(&line[i..]);
    if event.is_empty() {
        return Err(LineError::at_token(line, event_offset, "an event name"));
    }
    Ok(Prefix {
        comm: head.comm,
        pid: head.pid,
        tgid: head.tgid,
        cpu,
        irq,
        ts_ns,
        event,
        event_offset,
        sep,
        rest,
        rest_offset: line.len() - rest.len(),
    })
}

/// Splits `name: rest`, `name(rest`, `name rest` or `name`; a `:` ends the name only before a blank or the end,
/// so `syscalls:sys_enter_mmap: ...` names `syscalls:sys_enter_mmap`.
fn event_name(i: &str) -> (&str, EventSep, &str) {
    let b = i.as_bytes();
    let mut k = 0;
    loop {
        k = name_end(b, k);
        match b.get(k) {
            None => return (i, EventSep::End, &i[i.len()..]),
            Some(b':') if b.get(k + 1).is_none_or(|&n| is_blank(n)) => {
                return (&i[..k], EventSep::Colon, &i[run_end(b, k + 1, is_blank)..]);
            }
            Some(b':') => k += 1,
            Some(b'(') => return (&i[..k], EventSep::Paren, &i[k..]),
            Some(_) => return (&i[..k], EventSep::Space, &i[run_end(b, k, is_blank)..]),
        }
    }
}

/// The first byte at or after `i` that may end an event name (`:`, `(` or a blank), or `b.len()`: eight bytes at a
/// time, the first marked byte of a word being the first such byte.
#[inline]
fn name_end(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = word_at(b, i) {
        let m = bytes_equal(w, b':') | bytes_equal(w, b'(') | bytes_equal(w, b' ') | bytes_equal(w, b'\t');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    run_end(b, i, |c| !matches!(c, b':' | b'(' | b' ' | b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_name_separators() {
        assert_eq!(event_name("mmap: a=1"), ("mmap", EventSep::Colon, "a=1"));
        assert_eq!(event_name("exit:"), ("exit", EventSep::Colon, ""));
        assert_eq!(event_name("sys_mmap(addr: 0)"), ("sys_mmap", EventSep::Paren, "(addr: 0)"));
        assert_eq!(event_name("sys_mmap -> 0x7f"), ("sys_mmap", EventSep::Space, "-> 0x7f"));
        assert_eq!(event_name("syscalls:sys_exit_mmap: 0x7f"), ("syscalls:sys_exit_mmap", EventSep::Colon, "0x7f"));
        assert_eq!(event_name("exit"), ("exit", EventSep::End, ""));
        assert_eq!(event_name("a:b:c:d:e:f:g:h:i: x"), ("a:b:c:d:e:f:g:h:i", EventSep::Colon, "x"));
        assert_eq!(event_name("mm_page_free_batched:\tpage=0"), ("mm_page_free_batched", EventSep::Colon, "page=0"));
        assert_eq!(event_name("mm_page_free_batched\t-> 0"), ("mm_page_free_batched", EventSep::Space, "-> 0"));
        assert_eq!(event_name("mm_page_free_batched:"), ("mm_page_free_batched", EventSep::Colon, ""));
        assert_eq!(event_name("mm_page_free_batched:x"), ("mm_page_free_batched:x", EventSep::End, ""));
        assert_eq!(
            event_name("sys_mmap_pgoff_longer(addr: 0)"),
            ("sys_mmap_pgoff_longer", EventSep::Paren, "(addr: 0)")
        );
        assert_eq!(event_name(""), ("", EventSep::End, ""));
    }

    /// The lexer of usual lines gives what the general one gives on every line it takes, from a fresh start or
    /// after a line with the same start.
    #[test]
    fn usual_lines_lex_like_the_general_lexer() {
        let lines = [
            ("           churn-4413    [000] ...2. 18352.366607: mm_page_free: page=0 pfn=0x1 order=0", true),
            ("           churn-4413    [000] ...2. 18352.366608: mm_page_free_batched: page=0", true),
            ("           churn-4413    [000] ...2. 18352.9: x", true),
            ("           churn-4413    [000] ...2. 18352.: x", false),
            ("           churn-4413    [000] ...2. 18352.1234567890: x", false),
            ("           churn-4413    [000] ...2. 18352.1 x", false),
            ("           churn-4413    [000] ...2. 18352.1:", false),
            ("           churn-4414    [001] d.... 18352.000001: sys_mmap(addr: 0)", true),
            ("           churn-4414    [001] d.... 18352.000001: sys_mmap -> 0x7f", true),
            ("           <...>-3180    (   3175) [001] .....  1272.603087: sys_clone -> 0x0", false),
            ("     Web Content-2801    [001] .....    12.000100: sys_mmap(addr: 0)", true),
            ("              app-100     [000]     0.000100: mmap: addr=0x7f0000000000", false),
            ("a-1 [0] 1.0: x", false),
            ("a-1 [0] ....  1.0: x", true),
            ("a[1]-1 [0] ....  1.0: x", false),
            ("a-1 [0]\t....\t1.0: x", true),
            ("a-1\t[0] .... 1.0: x", false),
            ("-1 [0] .... 1.0: x", true),
            ("x -1 [0] .... 1.0: x", true),
            ("1 [0] .... 1.0: x", false),
            ("a-1234567890 [0] .... 1.0: x", false),
            ("a-1 [8192] .... 1.0: x", false),
            ("a-1 [8191] .... 1.0: x", true),
            ("a-1 [00001] .... 1.0: x", false),
            ("a-1 [0] .... 1234567890.0: x", false),
            ("a-1 [0] .... 123456789.0: x", true),
            ("a-1 [0] .... 1.0:x", true),
            ("a-1 [0] .... 1.0: ", false),
            ("a-1 [0] .... 1.0", false),
            ("a-1 [0] .... 1.0: syscalls:sys_enter_mmap: a", true),
        ];
        for (line, usual) in lines {
            let general = lex_general(line);
            // A fresh start, then the line again (its start remembered), then after a line with another ending.
            for _ in 0..2 {
                let fast = lex_usual(line);
                assert_eq!(fast.is_some(), usual, "{line:?}");
                if let Some(fast) = fast {
                    assert_eq!(Ok(fast), general, "{line:?}");
                }
            }
        }
    }

    #[test]
    fn irq_column_needs_a_blank_after_it() {
        assert_eq!(irq_field(b"d.... 1.0:", 0), Some((5, 6)));
        assert_eq!(irq_field(b"d..1 1.0:", 0), Some((4, 5)));
        assert_eq!(irq_field(b"12345.000:", 0), None);
        assert_eq!(irq_field(b"d.....  1.0:", 0), None);
    }
}
