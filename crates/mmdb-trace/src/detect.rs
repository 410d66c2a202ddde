//! Guesses a trace's format from its first lines: ftrace text, `perf script` text or the mm event format.
//!
//! ```text
//! # mmdb events v1                                                  mm event format (its header)
//! # tracer: nop                                                     ftrace (its header)
//! version = 6 / cpus=2                                              trace-cmd report (ftrace)
//!            basic-3175    [000] d....  1272.594494: page_fault_user: ...      ftrace record
//!              app-100     [000]     0.000200: fault: addr=0x7f0000000000 ...  mm event record
//!            basic  3225/3225  [000]  1277.377528975:  filemap:mm_filemap_fault: ...  perf record
//! ```
//!
//! The heuristics, in order:
//! 1. A header line decides: `# mmdb events` means the mm event format; `# tracer:` or trace-cmd's
//!    `version = N`/`cpus=N` mean ftrace.
//! 2. Otherwise each of the first [`SAMPLE_LINES`] record lines (within [`MAX_SCAN`] lines) votes. A line whose prefix is ftrace-shaped
//!    (`<comm>-<pid> [<cpu>]`) votes for the mm event format when its event is an mm event name (`fault`, `mmap`,
//!    ...) and for ftrace otherwise; a `CPU:<n> [LOST ...]` line votes for ftrace. A line with perf's prefix
//!    (`<comm> <pid>[/<tid>] [<cpu>] <secs>.<frac>: <system>:<event>:` and no `-<pid>`) votes for perf, and so
//!    does a `PERF_RECORD_*` line (even `:-1 -1/-1 [000] ...`, whose `-1` looks like ftrace's `-<pid>`).
//! 3. The format with most votes wins (ties go to the first line's vote); the answer is certain only when every
//!    vote agrees. With no votes at all the guess is ftrace.

use std::fmt;

use crate::events::event_names;
use crate::fields::{is_blank, parse_dec};
use crate::ftrace::{special_line, Special};
use crate::lexer::{lex_prefix, EventSep};
use crate::perf::lex_perf_prefix;
use crate::print::HEADER;

/// How many record lines vote at most.
pub const SAMPLE_LINES: usize = 32;

/// How many lines are looked at at most.
pub const MAX_SCAN: usize = 1000;

/// A trace text format mmdb reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// ftrace text: `trace`, `trace_pipe`, `trace-cmd report`.
    Ftrace,
    /// `perf script` text.
    Perf,
    /// mmdb's own mm event format.
    Mmdb,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Ftrace => "ftrace",
            Format::Perf => "perf",
            Format::Mmdb => "mmdb",
        })
    }
}

/// A format guess and why it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The format.
    pub format: Format,
    /// True when a header said so or every voting line agreed.
    pub certain: bool,
    /// Why, in words (`"header line 1: # tracer: nop"`, `"12 of 12 record lines look like perf"`).
    pub reason: String,
}

/// How many bytes from the start of a file [`binary_kind`] looks at.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// Says what a file is (a noun phrase: "an ELF file (a program or a library)") when its first bytes (up to [`SNIFF_BYTES`] of them) show that it is not trace text at all:
/// a recording that still needs converting (`perf.data`, `trace.dat`), a program, or other binary data (only NUL
/// bytes, or more than one byte in ten a control character or not UTF-8, a run of NUL bytes counting as one: a
/// sparse file, an image, ...). `None` for text.
///
/// A text trace with a few damaged bytes is text: its damaged lines are errors of their own.
pub fn binary_kind(head: &[u8]) -> Option<String> {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"PERFILE2", "a perf.data file (`perf script` converts it to text)"),
        (b"PERFFILE", "a perf.data file (`perf script` converts it to text)"),
        (b"\x17\x08\x44tracing", "a trace-cmd trace.dat file (`trace-cmd report` converts it to text)"),
        (b"\x7fELF", "an ELF file (a program or a library)"),
    ];
    if let Some((_, what)) = MAGICS.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some((*what).to_string());
    }
    let head = &head[..head.len().min(SNIFF_BYTES)];
    if head.is_empty() {
        return None;
    }
    if head.iter().all(|&b| b == 0) {
        return Some(format!(
            "binary data (its first {} bytes are all NUL: a sparse or preallocated file?)",
            head.len()
        ));
    }
    // A run of NUL bytes counts once: a text file with a hole of them (what a crash leaves in a log file) is text
    // with one damaged line, while binary data has NUL bytes everywhere among other control bytes.
    let control = |s: &[u8]| {
        let bad = |i: usize| s[i] < 0x20 && !matches!(s[i], b'\t' | b'\n' | b'\r' | 0x0c | 0x1b);
        (0..s.len()).filter(|&i| bad(i) && !(s[i] == 0 && i > 0 && s[i - 1] == 0)).count()
    };
    let (mut bad, mut rest) = (0, head);
    loop {
        match std::str::from_utf8(rest) {
            Ok(_) => {
                bad += control(rest);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // A sequence cut by the end of the sample is not an error.
                let Some(n) = e.error_len() else {
                    bad += control(valid);
                    break;
                };
                bad += control(valid) + n;
                rest = &after[n..];
            }
        }
    }
    (bad * 10 > head.len())
        .then(|| format!("binary data ({bad} of its first {} bytes are control characters or not UTF-8)", head.len()))
}

/// Guesses the format of `bytes`; see the module documentation for the heuristics.
pub fn detect_format(bytes: &[u8]) -> Format {
    detect(bytes).format
}

/// Guesses the format of `bytes` and says why.
pub fn detect(bytes: &[u8]) -> Detection {
    let mut votes: Vec<Format> = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate().take(MAX_SCAN) {
        if votes.len() >= SAMPLE_LINES {
            break;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else { continue };
        if let Some(format) = header(line) {
            let reason = format!("header line {}: {}", index + 1, line.trim());
            return Detection { format, certain: true, reason };
        }
        if let Some(vote) = vote(line) {
            votes.push(vote);
        }
    }
    let Some(&first) = votes.first() else {
        return Detection {
            format: Format::Ftrace,
            certain: false,
            reason: "no record line found; guessing ftrace".to_string(),
        };
    };
    let count = |f: Format| votes.iter().filter(|&&v| v == f).count();
    let mut best = first;
    for f in [Format::Ftrace, Format::Perf, Format::Mmdb] {
        if count(f) > count(best) {
            best = f;
        }
    }
    let n = count(best);
    Detection {
        format: best,
        certain: n == votes.len(),
        reason: format!("{n} of {} record lines look like {best}", votes.len()),
    }
}

/// The format a header line names, if it is one.
fn header(line: &str) -> Option<Format> {
    let t = line.trim_end();
    if t.starts_with(HEADER.trim_end_matches(" v1")) {
        return Some(Format::Mmdb);
    }
    if t.starts_with("# tracer:") {
        return Some(Format::Ftrace);
    }
    let trace_cmd =
        t.strip_prefix("version = ").or_else(|| t.strip_prefix("cpus=")).is_some_and(|n| parse_dec(n).is_some());
    trace_cmd.then_some(Format::Ftrace)
}

/// The format one line votes for, if it is a record or a loss notice.
fn vote(line: &str) -> Option<Format> {
    match special_line(line) {
        Some(Special::Lost(..)) => return Some(Format::Ftrace),
        Some(Special::Skip) => return None,
        None => {}
    }
    let perf = lex_perf_prefix(line);
    let body = perf.as_ref().map_or("", |p| line[p.body..].trim_start_matches([' ', '\t']));
    if body.starts_with("PERF_RECORD_") {
        return Some(Format::Perf);
    }
    if let Ok(p) = lex_prefix(line) {
        let mm = p.sep == EventSep::Colon && event_names().any(|n| n == p.event);
        return Some(if mm { Format::Mmdb } else { Format::Ftrace });
    }
    let p = perf?;
    let word = &body[..body.bytes().position(is_blank).unwrap_or(body.len())];
    (word.ends_with(':') && (p.pid.is_some() || p.cpu.is_some())).then_some(Format::Perf)
}
