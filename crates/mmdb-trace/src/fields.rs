//! Shared helpers for real trace text: splitting bytes into lines, `key=value` field lists and number syntax.
//!
//! Tracepoints print their fields with the kernel's `TP_printk` format, which is mostly `key=value` pairs
//! separated by blanks, with a few exceptions that this module also covers:
//!
//! ```text
//! page=00000000d171b5dc pfn=0x19272d order=0          plain pairs
//! comm=Web Content pid=2801 child_comm=Web Content     values with blanks (a comm)
//! folio=0000000072ac00b7 pfn=0x1079b9 lru=0 flags=Ma bd      a `%s%s%s` flag column with blanks in it
//! addr=7f0000001000, pte=8000000101c3b067 order=0     a comma after a value
//! pid=42 comm=x total-vm=100kB file-rss:0kB            dashes in keys, `key:value`
//! dev 254:0 ino 51207b pfn=0x16a2ed ofs=0 order=0      words before the first pair (the "lead")
//! ```
//!
//! A new pair starts at a word that begins with a letter or `_`, continues with letters, digits, `_` or `-`, and
//! ends in `=` (or in `:` directly followed by a digit). Everything up to the next such word is the value, with
//! trailing blanks and commas removed. Nothing here allocates unless a line has an error.

use memchr::memchr_iter;

use crate::diag::{line_problem, LineError, ParseError, EXPECTED_UTF8};

/// Splits `src` into lines (LF or CRLF) and calls `f` with each 1-based line number and valid UTF-8 line.
///
/// A line that is not valid UTF-8, has a NUL byte or is longer than [`crate::diag::MAX_LINE_BYTES`] becomes an error in `errors`
/// and is not passed to `f`.
pub(crate) fn for_each_line<'a>(src: &'a [u8], errors: &mut Vec<ParseError>, mut f: impl FnMut(u32, &'a str)) {
    // The usual case, clean text, checked once as a whole: then each line only needs its length checked.
    if let (None, Ok(text)) = (memchr::memchr(0, src), std::str::from_utf8(src)) {
        let mut start = 0;
        let ends = memchr_iter(b'\n', src).chain(std::iter::once(src.len()));
        for (index, end) in ends.enumerate() {
            let line = &text[start..end];
            start = end + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line_no = u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1));
            if line.len() > crate::diag::MAX_LINE_BYTES {
                errors.extend(line_problem(line_no, line.as_bytes()));
                continue;
            }
            f(line_no, line);
        }
        return;
    }
    let mut start = 0;
    let ends = memchr_iter(b'\n', src).chain(std::iter::once(src.len()));
    for (index, end) in ends.enumerate() {
        if start > src.len() {
            break;
        }
        let bytes = &src[start..end];
        start = end + 1;
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let line_no = u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1));
        if let Some(e) = line_problem(line_no, bytes) {
            errors.push(e);
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(line) => f(line_no, line),
            Err(e) => errors.push(utf8_error(line_no, bytes, &e)),
        }
    }
}

/// The error for a line that is not valid UTF-8: it points at the first bad byte.
fn utf8_error(line_no: u32, bytes: &[u8], e: &std::str::Utf8Error) -> ParseError {
    let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
    let bad = &bytes[e.valid_up_to()..];
    let bad = &bad[..e.error_len().unwrap_or(bad.len()).min(bad.len())];
    ParseError {
        line: line_no,
        column: u32::try_from(valid.chars().count() + 1).unwrap_or(u32::MAX),
        excerpt: String::from_utf8_lossy(bytes).into_owned(),
        expected: EXPECTED_UTF8.to_string(),
        found: Some(bad.iter().map(|b| format!("\\x{b:02x}")).collect()),
    }
}

/// Tells whether `b` is a blank (space or tab).
pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The most pairs one line can hold; later pairs are ignored (no tracepoint mmdb reads has more than 13).
const MAX_PAIRS: usize = 24;

/// One `key=value` pair, as byte offsets into the line.
#[derive(Clone, Copy, Debug, Default)]
struct Pair {
    key_start: u32,
    key_end: u32,
    val_start: u32,
    val_end: u32,
}

/// The `key=value` fields of one line, split once and then read by name.
#[derive(Debug)]
pub(crate) struct Kv<'a> {
    line: &'a str,
    pairs: [Pair; MAX_PAIRS],
    len: usize,
    /// Byte offset where the field text starts.
    start: usize,
    /// Byte offset where the lead (the words before the first pair) ends.
    lead_end: usize,
    /// Where [`Kv::get`] starts looking: after the pair it found last, as parsers read fields in print order.
    cursor: std::cell::Cell<usize>,
}

/// One field's value, with where it sits in the line and the key it was read under (for messages).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Value<'a> {
    /// The value's text, without trailing blanks or comma.
    pub text: &'a str,
    /// Byte offset of [`Value::text`] in the line.
    pub offset: usize,
    /// The key, for error messages.
    pub key: &'static str,
}

fn is_key_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

impl<'a> Kv<'a> {
    /// Splits the fields of `line` that start at byte offset `start`.
    pub(crate) fn new(line: &'a str, start: usize) -> Self {
        let b = line.as_bytes();
        let mut pairs = [Pair::default(); MAX_PAIRS];
        let mut len = 0;
        let mut lead_end = b.len();
        let mut i = start.min(b.len());
        let mut at_word = true;
        while i < b.len() {
            if at_word && is_key_start(b[i]) {
                let mut j = i + 1;
                while j < b.len() && is_key_char(b[j]) {
                    j += 1;
                }
                let is_pair =
                    j < b.len() && (b[j] == b'=' || (b[j] == b':' && b.get(j + 1).is_some_and(|c| c.is_ascii_digit())));
                if is_pair {
                    if len == 0 {
                        lead_end = i;
                    } else {
                        pairs[len - 1].val_end = value_end(b, pairs[len - 1].val_start as usize, i) as u32;
                    }
                    if len < MAX_PAIRS {
                        pairs[len] =
                            Pair { key_start: i as u32, key_end: j as u32, val_start: j as u32 + 1, val_end: 0 };
                        len += 1;
                    } else {
                        // Keep the last stored value from swallowing the ignored pairs.
                        break;
                    }
                    i = j + 1;
                    at_word = false;
                    continue;
                }
                i = j;
                at_word = false;
                continue;
            }
            at_word = is_blank(b[i]);
            i += 1;
        }
        if len > 0 && pairs[len - 1].val_end == 0 {
            pairs[len - 1].val_end = value_end(b, pairs[len - 1].val_start as usize, b.len()) as u32;
        }
        Kv { line, pairs, len, start, lead_end, cursor: std::cell::Cell::new(0) }
    }

    /// The words before the first `key=value` pair, trimmed, and their byte offset.
    pub(crate) fn lead(&self) -> (&'a str, usize) {
        let start = self.start.min(self.lead_end);
        let text = &self.line[start..self.lead_end];
        let trimmed = text.trim_start_matches([' ', '\t']);
        (trimmed.trim_end_matches([' ', '\t']), start + text.len() - trimmed.len())
    }

    /// The value of the field named `key`, if there is one: the first after the field read last, else the first
    /// (parsers read fields in print order, so each lookup usually compares one key; a key a line repeats, which
    /// no kernel prints, is read in turn).
    pub(crate) fn get(&self, key: &'static str) -> Option<Value<'a>> {
        let from = self.cursor.get().min(self.len);
        let found = (from..self.len).chain(0..from).find(|&i| same(self.key_at(i), key))?;
        self.cursor.set(found + 1);
        let p = &self.pairs[found];
        Some(Value { text: &self.line[p.val_start as usize..p.val_end as usize], offset: p.val_start as usize, key })
    }

    fn key_at(&self, i: usize) -> &'a str {
        let p = &self.pairs[i];
        &self.line[p.key_start as usize..p.key_end as usize]
    }

    /// The keys that are not in `known`; nothing to check when the line has exactly those keys in that order, as
    /// lines of the kernel the list was written for do.
    pub(crate) fn unknown_keys<'k>(&'k self, known: &'k [&str]) -> impl Iterator<Item = &'a str> + 'k {
        let exact = self.len == known.len() && (0..self.len).all(|i| same(self.key_at(i), known[i]));
        (0..if exact { 0 } else { self.len }).map(|i| self.key_at(i)).filter(|k| !known.iter().any(|n| same(k, n)))
    }

    /// The value of the field named `key`, or an error naming the missing field.
    pub(crate) fn req(&self, key: &'static str) -> Result<Value<'a>, LineError> {
        self.get(key).ok_or_else(|| missing(self.line, key))
    }

    /// The value of the first of `keys` that is present (for fields whose printed name changed), or an error
    /// naming the first key.
    pub(crate) fn req_any(&self, keys: &[&'static str]) -> Result<Value<'a>, LineError> {
        keys.iter().find_map(|k| self.get(k)).ok_or_else(|| missing(self.line, keys.first().copied().unwrap_or("")))
    }
}

/// String equality for short keys, compared inline (a call to `memcmp` per key costs more than the comparison).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The error for a required field that the line lacks.
pub(crate) fn missing(line: &str, key: &str) -> LineError {
    LineError::new(line.len(), 0, format!("a `{key}=` field"))
}

/// Where a value that starts at `start` ends when the next pair starts at `next`: before trailing blanks and commas.
fn value_end(b: &[u8], start: usize, next: usize) -> usize {
    let mut end = next;
    while end > start && (is_blank(b[end - 1]) || b[end - 1] == b',') {
        end -= 1;
    }
    end
}

impl<'a> Value<'a> {
    /// An error about this value: "expected {what} for `key`".
    pub(crate) fn error(&self, what: &str) -> LineError {
        let len = self.text.len();
        LineError::new(self.offset, len, format!("{what} for `{}`", self.key))
    }

    /// A hexadecimal number, with or without `0x` (`%lx`, `0x%lx` and `%p` all print this way).
    pub(crate) fn hex(&self) -> Result<u64, LineError> {
        parse_hex(self.text).ok_or_else(|| {
            let digits = self.text.strip_prefix("0x").or_else(|| self.text.strip_prefix("0X")).unwrap_or(self.text);
            let too_big = !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_hexdigit());
            self.error(if too_big { "a hexadecimal number below 2^64" } else { "a hexadecimal number" })
        })
    }

    /// A decimal `u64`.
    pub(crate) fn u64(&self) -> Result<u64, LineError> {
        parse_dec(self.text).ok_or_else(|| {
            let too_big = !self.text.is_empty() && self.text.bytes().all(|c| c.is_ascii_digit());
            self.error(if too_big { "a decimal number below 2^64" } else { "a decimal number" })
        })
    }

    /// A decimal `u32`.
    pub(crate) fn u32(&self) -> Result<u32, LineError> {
        parse_dec(self.text)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| self.error("a decimal number below 2^32"))
    }

    /// A folio order: a decimal number no larger than [`MAX_FOLIO_ORDER`].
    pub(crate) fn order(&self) -> Result<u32, LineError> {
        parse_dec(self.text)
            .filter(|&v| v <= u64::from(MAX_FOLIO_ORDER))
            .map(|v| v as u32)
            .ok_or_else(|| self.error("an order of at most 18 (a 1 GiB block, the largest x86-64 has)"))
    }

    /// A decimal `i32`, maybe negative.
    pub(crate) fn i32(&self) -> Result<i32, LineError> {
        self.text.parse().map_err(|_| self.error("a decimal 32-bit integer"))
    }

    /// A decimal `u64` followed by `suffix` (`size=4096B`, `total-vm=100kB`).
    pub(crate) fn u64_with(&self, suffix: &str) -> Result<u64, LineError> {
        self.text
            .strip_suffix(suffix)
            .and_then(parse_dec)
            .ok_or_else(|| self.error(&format!("a decimal number followed by `{suffix}`")))
    }

    /// `true` or `false` (also `1` or `0`).
    pub(crate) fn bool(&self) -> Result<bool, LineError> {
        match self.text {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(self.error("`true` or `false`")),
        }
    }

    /// The value as an owned string (comms, file names).
    pub(crate) fn string(&self) -> String {
        self.text.to_string()
    }
}

/// The largest order of a block of pages: `PUD_ORDER` on x86-64 (1 GiB); `MAX_PAGE_ORDER`, the buddy allocator's,
/// is 10. A larger order in a trace is damage, and `1 << order` pages would not even fit in 64 bits past 63.
pub(crate) const MAX_FOLIO_ORDER: u32 = 18;

/// Parses hex digits with an optional `0x`/`0X` prefix; `None` unless the whole text is such a number below 2^64.
pub(crate) fn parse_hex(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.bytes().try_fold(0u64, |v, c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        Some(v << 4 | u64::from(d))
    })
}

/// Parses decimal digits only (no sign); `None` unless the whole text is such a number below 2^64.
pub(crate) fn parse_dec(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |v, c| match c {
        b'0'..=b'9' => v.checked_mul(10)?.checked_add(u64::from(c - b'0')),
        _ => None,
    })
}

/// Parses `<secs>.<frac>` (1 to 9 fractional digits) into nanoseconds.
pub(crate) fn parse_seconds(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.')?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let scale = 10u64.pow(9 - frac.len() as u32);
    let frac: u64 = frac.parse().ok()?;
    parse_dec(secs)?.checked_mul(1_000_000_000)?.checked_add(frac * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        let kv = Kv::new(text, 0);
        kv.pairs[..kv.len]
            .iter()
            .map(|p| {
                (
                    text[p.key_start as usize..p.key_end as usize].to_string(),
                    text[p.val_start as usize..p.val_end as usize].to_string(),
                )
            })
            .collect()
    }

    fn owned(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn splits_the_kernel_field_shapes() {
        assert_eq!(pairs("pfn=0x1 order=0"), owned(&[("pfn", "0x1"), ("order", "0")]));
        assert_eq!(
            pairs("comm=Web Content pid=2801 child_comm=a b"),
            owned(&[("comm", "Web Content"), ("pid", "2801"), ("child_comm", "a b")])
        );
        assert_eq!(pairs("lru=2 flags= f   B"), owned(&[("lru", "2"), ("flags", " f   B")]));
        assert_eq!(pairs("flags=Ma bd "), owned(&[("flags", "Ma bd")]));
        assert_eq!(pairs("addr=7f00, pte=8000 order=0"), owned(&[("addr", "7f00"), ("pte", "8000"), ("order", "0")]));
        assert_eq!(
            pairs("total-vm=1kB file-rss:0kB uid=0"),
            owned(&[("total-vm", "1kB"), ("file-rss", "0kB"), ("uid", "0")])
        );
        assert_eq!(pairs("dev=254:0 ino=1"), owned(&[("dev", "254:0"), ("ino", "1")]));
        let kv = Kv::new("dev 254:0 ino 5a pfn=0x1", 0);
        assert_eq!(kv.lead(), ("dev 254:0 ino 5a", 0));
        assert_eq!(pairs("x y"), owned(&[]));
        assert_eq!(Kv::new("  x y", 0).lead(), ("x y", 2));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_hex("0x1f"), Some(31));
        assert_eq!(parse_hex("1f"), Some(31));
        assert_eq!(parse_hex("0x"), None);
        assert_eq!(parse_hex("ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_hex("1ffffffffffffffff"), None);
        assert_eq!(parse_dec("+1"), None);
        assert_eq!(parse_seconds("1272.594378"), Some(1_272_594_378_000));
        assert_eq!(parse_seconds("1277.375856759"), Some(1_277_375_856_759));
        assert_eq!(parse_seconds("1.0123456789"), None);
    }
}
