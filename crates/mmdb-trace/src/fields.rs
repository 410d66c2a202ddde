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
pub(crate) fn for_each_line<'a>(src: &'a [u8], errors: &mut Vec<ParseError>, f: impl FnMut(u32, &'a str)) {
    for_each_line_from(src, 0, errors, f);
}

/// [`for_each_line`] of text that comes after `before` lines of the same file: its lines are numbered from
/// `before + 1` (saturating at `u32::MAX`). Returns the number of line breaks in `src`.
pub(crate) fn for_each_line_from<'a>(
    src: &'a [u8],
    before: u32,
    errors: &mut Vec<ParseError>,
    mut f: impl FnMut(u32, &'a str),
) -> u64 {
    let number = |index: usize| u32::try_from(index).map_or(u32::MAX, |i| i.saturating_add(1)).saturating_add(before);
    let mut breaks = 0;
    // The usual case, clean text, checked once as a whole: then each line only needs its length checked.
    if let (None, Ok(text)) = (memchr::memchr(0, src), std::str::from_utf8(src)) {
        let mut start = 0;
        let ends = memchr_iter(b'\n', src).chain(std::iter::once(src.len()));
        for (index, end) in ends.enumerate() {
            breaks = index as u64;
            let line = &text[start..end];
            start = end + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let line_no = number(index);
            if line.len() > crate::diag::MAX_LINE_BYTES {
                errors.extend(line_problem(line_no, line.as_bytes()));
                continue;
            }
            f(line_no, line);
        }
        return breaks;
    }
    let mut start = 0;
    let ends = memchr_iter(b'\n', src).chain(std::iter::once(src.len()));
    for (index, end) in ends.enumerate() {
        if start > src.len() {
            break;
        }
        breaks = index as u64;
        let bytes = &src[start..end];
        start = end + 1;
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let line_no = number(index);
        if let Some(e) = line_problem(line_no, bytes) {
            errors.push(e);
            continue;
        }
        match std::str::from_utf8(bytes) {
            Ok(line) => f(line_no, line),
            Err(e) => errors.push(utf8_error(line_no, bytes, &e)),
        }
    }
    breaks
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

/// From a key-start character at `i`: where its run of key characters ends, and whether the run is a key (followed
/// by `=`, or by `:` and a digit).
#[inline]
fn key_run(b: &[u8], i: usize) -> (usize, bool) {
    let mut j = i + 1;
    while j < b.len() && is_key_char(b[j]) {
        j += 1;
    }
    let is_key = j < b.len() && (b[j] == b'=' || (b[j] == b':' && b.get(j + 1).is_some_and(|c| c.is_ascii_digit())));
    (j, is_key)
}

/// Tells whether a word from the word start `i` on starts a pair, as [`Kv::split_words`] scans them.
fn pair_after(b: &[u8], mut i: usize) -> bool {
    while i < b.len() {
        let c = b[i];
        if is_key_start(c) {
            let (j, is_pair) = key_run(b, i);
            if is_pair {
                return true;
            }
            i = j;
        } else if is_blank(c) {
            i += 1;
            continue;
        }
        i = next_blank(b, i) + 1;
    }
    false
}

/// The index of the first blank (space or tab) in `b` at or after `i`, or `b.len()`: eight bytes at a time, as
/// values are a few words long.
fn next_blank(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `w` equal to `c`, and maybe of bytes after such a byte (never before one).
    let matches = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let m = matches(w, b' ') | matches(w, b'\t');
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !is_blank(b[i]) {
        i += 1;
    }
    i.min(b.len())
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
    /// The keys, when [`Kv::split`] found exactly those it was given.
    exact: Option<&'a [&'a str]>,
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

pub(crate) fn is_key_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(crate) fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

impl<'a> Kv<'a> {
    /// Splits the fields of `line` that start at byte offset `start`.
    #[cfg(test)]
    pub(crate) fn new(line: &'a str, start: usize) -> Self {
        let mut kv = Kv::empty(line, start);
        kv.split_words();
        kv
    }

    /// Splits the fields of the line from its start offset, expected to be exactly `keys` in this order as
    /// the kernel prints them (`k1=v1 k2=v2 ...`, one space apart, no blank in a value): checked key by key instead
    /// of word by word, the usual case. Any other text is split word by word, like [`Kv::new`]; both give the same
    /// pairs.
    ///
    /// (Used as `let mut kv = Kv::empty(line, start); kv.split(keys);`: a `Kv` is a few hundred bytes, and
    /// returning one from a function copies it.)
    #[inline]
    pub(crate) fn split(&mut self, keys: &'a [&'a str]) {
        if !self.split_exactly(keys) {
            self.split_words();
        }
    }

    /// No pairs yet: see [`Kv::split`].
    #[inline]
    pub(crate) fn empty(line: &'a str, start: usize) -> Self {
        let (pairs, cursor) = ([Pair::default(); MAX_PAIRS], std::cell::Cell::new(0));
        Kv { line, pairs, len: 0, start, lead_end: line.len(), cursor, exact: None }
    }

    /// Finds the pairs word by word.
    fn split_words(&mut self) {
        let b = self.line.as_bytes();
        let (pairs, start) = (&mut self.pairs, self.start);
        let mut len = 0;
        let mut lead_end = b.len();
        // `i` is always at the start of a word: the field text's start, or just after a blank.
        let mut i = start.min(b.len());
        while i < b.len() {
            let c = b[i];
            if is_key_start(c) {
                let (j, is_pair) = key_run(b, i);
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
                } else {
                    i = j;
                }
            } else if is_blank(c) {
                i += 1;
                continue;
            }
            // Inside a word (a value, or a word that is not a key): the next word starts after the next blank.
            i = next_blank(b, i) + 1;
        }
        if len > 0 && pairs[len - 1].val_end == 0 {
            pairs[len - 1].val_end = value_end(b, pairs[len - 1].val_start as usize, b.len()) as u32;
        }
        (self.len, self.lead_end) = (len, lead_end);
    }

    /// Finds the pairs when they are exactly `keys`, in the shape [`Kv::split`] describes; returns whether
    /// they are (else the pairs are left unspecified, to be split again).
    ///
    /// The pairs are those a word scan finds: each key starts a word (the field text's start, or after a space),
    /// is a whole run of key characters ending in `=`, and its value runs to the next blank, where the next key
    /// starts; the last value runs to the end of the line.
    fn split_exactly(&mut self, keys: &'a [&'a str]) -> bool {
        let b = self.line.as_bytes();
        if keys.is_empty() || keys.len() > MAX_PAIRS || self.start > b.len() {
            return false;
        }
        let mut i = self.start;
        for (n, key) in keys.iter().enumerate() {
            let k = key.as_bytes();
            let key_end = i + k.len();
            // (Every key an event lists is a valid key: tested in `records`.)
            let key_here = b.get(i..key_end).is_some_and(|text| same_bytes(text, k));
            if !key_here || b.get(key_end) != Some(&b'=') {
                return false;
            }
            let val_start = key_end + 1;
            let blank = next_blank(b, val_start);
            let next = if n + 1 == keys.len() {
                // The last value runs to the end of the line, blanks included (`flags=Ma bd`), unless a later word
                // starts a pair.
                if blank != b.len() && pair_after(b, blank + 1) {
                    return false;
                }
                b.len()
            } else {
                if b.get(blank) != Some(&b' ') {
                    return false;
                }
                blank + 1
            };
            self.pairs[n] = Pair {
                key_start: i as u32,
                key_end: key_end as u32,
                val_start: val_start as u32,
                val_end: value_end(b, val_start, next) as u32,
            };
            i = next;
        }
        (self.len, self.lead_end, self.exact) = (keys.len(), self.start, Some(keys));
        true
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
        // Keys compared as bytes: slicing the line as `str` would check char boundaries at every step.
        let is_key = |i: &usize| {
            let p = &self.pairs[*i];
            self.line
                .as_bytes()
                .get(p.key_start as usize..p.key_end as usize)
                .is_some_and(|k| same_bytes(k, key.as_bytes()))
        };
        let found = (from..self.len).find(is_key).or_else(|| (0..from).find(is_key))?;
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
        let exact = self.exact.is_some_and(|keys| std::ptr::eq(keys, known))
            || (self.len == known.len() && (0..self.len).all(|i| same(self.key_at(i), known[i])));
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

/// The fields of a line read in the one shape the kernel prints them, key after key (`k1=v1 k2=v2 ... kn=vn`: each
/// key where the one before ended, a value without blanks or a trailing comma and one space after it, the last
/// value to the end of the line). A line in this shape is one that [`Kv::split`] splits exactly into these keys,
/// and each value read here is the one [`Kv::get`] gives; a reader returns `None` at the first departure from
/// the shape, and the line then goes through [`Kv`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exact<'a> {
    line: &'a str,
    /// Where the next key must start.
    at: usize,
}

impl<'a> Exact<'a> {
    /// The fields of `line` from byte offset `start`.
    #[inline]
    pub(crate) fn new(line: &'a str, start: usize) -> Option<Self> {
        (start <= line.len()).then_some(Exact { line, at: start })
    }

    /// Where the value of `key` (given with its `=`) starts, if the next key is `key`.
    #[inline]
    fn value_start(&self, key_eq: &str) -> Option<usize> {
        let b = self.line.as_bytes();
        let end = self.at + key_eq.len();
        b.get(self.at..end).is_some_and(|k| same_bytes(k, key_eq.as_bytes())).then_some(end)
    }

    /// The value of the next field, which must be `key_eq` (the key with its `=`) and not the last.
    #[inline]
    pub(crate) fn next(&mut self, key_eq: &'static str) -> Option<Value<'a>> {
        let start = self.value_start(key_eq)?;
        let b = self.line.as_bytes();
        let blank = next_blank(b, start);
        if b.get(blank) != Some(&b' ') || (blank > start && b[blank - 1] == b',') {
            return None;
        }
        self.at = blank + 1;
        Some(self.value(key_eq, start, blank))
    }

    /// The value of the last field, which must be `key_eq`: the rest of the line, without blanks (or, with
    /// `blanks_in`, made only of bytes it accepts, which must not include `=` or `:`; trailing blanks are then
    /// trimmed), and not ending in a comma.
    #[inline]
    pub(crate) fn last(&mut self, key_eq: &'static str, blanks_in: Option<fn(u8) -> bool>) -> Option<Value<'a>> {
        let start = self.value_start(key_eq)?;
        let b = self.line.as_bytes();
        let mut end = b.len();
        match blanks_in {
            None if next_blank(b, start) != end => return None,
            None => {}
            Some(ok) => {
                if !b[start..].iter().all(|&c| ok(c)) {
                    return None;
                }
                while end > start && is_blank(b[end - 1]) {
                    end -= 1;
                }
            }
        }
        if end > start && b[end - 1] == b',' {
            return None;
        }
        self.at = b.len();
        Some(self.value(key_eq, start, end))
    }

    fn value(&self, key_eq: &'static str, start: usize, end: usize) -> Value<'a> {
        Value { text: &self.line[start..end], offset: start, key: &key_eq[..key_eq.len() - 1] }
    }
}

/// String equality for short keys, compared inline (a call to `memcmp` per key costs more than the comparison).
pub(crate) fn same(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// [`same`] of bytes.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
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
        // One digit, the usual case (`migratetype=1`), without the general parser.
        if let &[c @ b'0'..=b'9'] = self.text.as_bytes() {
            return Ok(i32::from(c - b'0'));
        }
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
    // Without a branch per digit (digits and letters mix at random in addresses): a table lookup, and one test
    // of the high bit that marks a byte that is not a hex digit.
    let (mut v, mut bad) = (0u64, 0u8);
    for &c in digits.as_bytes() {
        let d = HEX_DIGITS[usize::from(c)];
        bad |= d;
        v = v << 4 | u64::from(d & 0xf);
    }
    (bad & 0x80 == 0).then_some(v)
}

/// The value of each byte as a hex digit, or 0xff.
const HEX_DIGITS: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Parses decimal digits only (no sign); `None` unless the whole text is such a number below 2^64.
pub(crate) fn parse_dec(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    if s.len() <= 19 {
        // Below 10^19 < 2^64: no overflow to check, only the digits.
        let (mut v, mut bad) = (0u64, false);
        for &c in s.as_bytes() {
            let d = c.wrapping_sub(b'0');
            bad |= d > 9;
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        }
        return (!bad).then_some(v);
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
    fn exact_keys_split_like_the_word_scanner() {
        let keys = ["page", "pfn", "order"];
        let split = |kv: &Kv<'_>| {
            let p: Vec<_> =
                kv.pairs[..kv.len].iter().map(|p| (p.key_start, p.key_end, p.val_start, p.val_end)).collect();
            (p, kv.lead_end, kv.start)
        };
        for text in [
            "page=0001 pfn=0x1 order=0",
            "page=0001 pfn=0x1 order=0 ",
            "page=0001, pfn=0x1, order=0,",
            "page= pfn=0x1 order=",
            "page=a=b pfn==1 order=0",
            "x: page=0001 pfn=0x1 order=0",
            "page=0001 pfn=0x1 order=0 extra",
            "page=0001 pfn=0x1 order=0 extra  words, ",
            "page=0001 pfn=0x1 order=0 nid=1",
            "page=0001 pfn=0x1 order=0 a b nid=1",
            "page=0001 pfn=0x1 order=0 x file-rss:0kB",
            "page=0001 pfn=0x1 order=0 x file-rss:kB",
            "page=0001 pfn=0x1 order=0\tnid=1",
            "page=0001 pfn=0x1 order=Ma bd ",
            "page=0001  pfn=0x1 order=0",
            "page=0001\tpfn=0x1 order=0",
            "page=0001 pfn=0x1",
            "page=0001 xpfn=0x1 order=0",
            "pagex=0001 pfn=0x1 order=0",
            "",
        ] {
            for start in [0, 3] {
                let start = start.min(text.len());
                if !text.is_char_boundary(start) {
                    continue;
                }
                let mut fast = Kv::empty(text, start);
                fast.split(&keys);
                let slow = Kv::new(text, start);
                assert_eq!(split(&fast), split(&slow), "{text:?} from {start}");
            }
        }
        assert!(Kv::empty("page=1 pfn=2 order=3", 0).split_exactly(&keys));
        assert!(!Kv::empty("page=1 pfn=2 order=3 nid=0", 0).split_exactly(&keys));
        assert!(Kv::empty("page=1 pfn=2 order=M a ", 0).split_exactly(&keys));
    }

    #[test]
    fn next_blank_finds_the_first_blank() {
        let text = b"0123456789abcdef ghi\tjkl";
        for i in 0..=text.len() {
            let want = (i..text.len()).find(|&k| is_blank(text[k])).unwrap_or(text.len());
            assert_eq!(next_blank(text, i), want, "from {i}");
        }
        assert_eq!(next_blank(b"abcdefgh", 0), 8);
        assert_eq!(next_blank(b"abcdefgh\t", 0), 8);
        assert_eq!(next_blank(b"\x80\x81 x", 0), 2);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_hex("0x1f"), Some(31));
        assert_eq!(parse_hex("1f"), Some(31));
        assert_eq!(parse_hex("0x"), None);
        assert_eq!(parse_hex("ffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_hex("1ffffffffffffffff"), None);
        assert_eq!(parse_dec("+1"), None);
        assert_eq!(parse_hex("0xABCdef09"), Some(0xabc_def09));
        assert_eq!(parse_hex("0xg"), None);
        assert_eq!(parse_hex("12 4"), None);
        assert_eq!(parse_hex("\u{e9}"), None);
        assert_eq!(parse_dec("9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(parse_dec("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_dec("18446744073709551616"), None);
        assert_eq!(parse_dec("00000000000000000000001"), Some(1));
        assert_eq!(parse_dec("12a"), None);
        assert_eq!(parse_dec("1/"), None);
        assert_eq!(parse_dec(""), None);
        assert_eq!(parse_seconds("1272.594378"), Some(1_272_594_378_000));
        assert_eq!(parse_seconds("1277.375856759"), Some(1_277_375_856_759));
        assert_eq!(parse_seconds("1.0123456789"), None);
    }
}
