//! Real traces too large to hold: read in pieces of whole lines, parsed on worker threads, handed on in file order.
//!
//! The input is never held whole: at most a few pieces per worker are in flight (read, being parsed, parsed and
//! waiting for their turn), so memory stays at about `3 × jobs × piece` of text and its records, whatever the size
//! of the file. Each piece is parsed on its own with lines numbered from 1 and renumbered as lines of the whole
//! file ([`ParsedTrace::shift_lines`]) before it is handed on, so the records, loss notices and errors are exactly
//! those of parsing the whole text at once.

use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;

use mmdb_trace::ParsedTrace;

use crate::input::TextReader;
use crate::progress::Progress;

/// The size of a piece of text: large enough that the per-piece costs vanish, small enough that a few per worker
/// stay a few tens of megabytes.
pub const PIECE: usize = 4 << 20;

/// Which parser reads the pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealFormat {
    Ftrace,
    Perf,
}

impl RealFormat {
    /// Parses a piece that comes after `before` lines, and counts its line breaks on the way.
    fn parse(self, text: &[u8], before: u32) -> (ParsedTrace, u64) {
        match self {
            RealFormat::Ftrace => mmdb_trace::parse_ftrace_piece(text, before),
            RealFormat::Perf => mmdb_trace::parse_perf_piece(text, before),
        }
    }
}

/// What was read, besides the records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streamed {
    /// Bytes of text (after decompression).
    pub bytes: u64,
    /// Lines (a last line without a line break counts).
    pub lines: u64,
    /// The number of the last line when it has no line break (the file may have been cut short).
    pub unterminated: Option<u32>,
}

/// A parsed piece, with the number of line breaks in its text.
struct Parsed {
    trace: ParsedTrace,
    /// The lines before the piece that its lines are numbered after (0 when the reader did not know them).
    before: u32,
    breaks: u64,
    bytes: u64,
    ends_with_break: bool,
}

/// Parses a piece, its lines numbered after `before` lines (which the pieces parsed in order know; parser threads
/// pass 0, and the piece is renumbered when its turn comes).
fn parse_piece(format: RealFormat, text: &[u8], before: u32) -> Parsed {
    let (trace, breaks) = format.parse(text, before);
    Parsed { trace, before, breaks, bytes: text.len() as u64, ends_with_break: text.ends_with(b"\n") }
}

/// Keeps the running totals and renumbers each piece as it is handed on.
#[derive(Default)]
struct Order {
    streamed: Streamed,
    last_ended: bool,
}

impl Order {
    /// The lines handed on so far, as a line number.
    fn before(&self) -> u32 {
        u32::try_from(self.streamed.lines).unwrap_or(u32::MAX)
    }

    fn hand_on(&mut self, mut p: Parsed, consume: &mut impl FnMut(ParsedTrace)) {
        let before = self.before();
        if p.before != before {
            p.trace.shift_lines(before.saturating_sub(p.before));
        }
        self.streamed.lines += p.breaks;
        self.streamed.bytes += p.bytes;
        self.last_ended = p.ends_with_break;
        consume(p.trace);
    }

    fn finish(mut self) -> Streamed {
        if self.streamed.bytes > 0 && !self.last_ended {
            self.streamed.lines += 1;
            self.streamed.unterminated = Some(u32::try_from(self.streamed.lines).unwrap_or(u32::MAX));
        }
        self.streamed
    }
}

/// Reads `text` in pieces of about `piece` bytes (`first`, already read for format detection, then the rest),
/// parses each as `format` and
/// hands the parsed pieces to `consume` in file order, their lines numbered as in the whole file.
///
/// With `jobs` above 1, a reader thread and `jobs` parser threads run while `consume` runs on this thread;
/// with 1, everything runs here, one piece after the other.
pub fn parse_pieces(
    text: &mut TextReader,
    first: Vec<u8>,
    format: RealFormat,
    piece: usize,
    jobs: usize,
    progress: &Progress,
    mut consume: impl FnMut(ParsedTrace),
) -> io::Result<Streamed> {
    let mut order = Order::default();
    if jobs <= 1 {
        // One buffer, reused: fresh memory for every piece would cost a page fault per page.
        let mut buf = first;
        let mut more = !buf.is_empty();
        while more {
            progress.advance(buf.len() as u64);
            order.hand_on(parse_piece(format, &buf, order.before()), &mut consume);
            more = text.read_piece_into(&mut buf, piece)?;
        }
        return Ok(order.finish());
    }
    thread::scope(|s| {
        let (work_tx, work_rx) = sync_channel::<(u64, Vec<u8>)>(jobs);
        let (done_tx, done_rx) = sync_channel::<(u64, Parsed)>(jobs * 2);
        // Parsed pieces' buffers go back to the reader, which reuses them.
        let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = s.spawn(move || -> io::Result<u64> {
            let mut seq = 0;
            let mut buf = first;
            let mut more = !buf.is_empty();
            while more {
                if work_tx.send((seq, buf)).is_err() {
                    break;
                }
                seq += 1;
                buf = free_rx.try_recv().unwrap_or_default();
                more = text.read_piece_into(&mut buf, piece)?;
            }
            Ok(seq)
        });
        let work_rx = Arc::new(Mutex::new(work_rx));
        for _ in 0..jobs {
            let (work_rx, done_tx, free_tx) = (Arc::clone(&work_rx), done_tx.clone(), free_tx.clone());
            s.spawn(move || {
                worker(format, &work_rx, |seq, parsed, buf| {
                    let _ = free_tx.send(buf);
                    done_tx.send((seq, parsed)).is_ok()
                })
            });
        }
        drop(free_tx);
        drop(done_tx);
        let mut waiting: BTreeMap<u64, Parsed> = BTreeMap::new();
        let mut next = 0u64;
        for (seq, parsed) in done_rx {
            waiting.insert(seq, parsed);
            while let Some(p) = waiting.remove(&next) {
                progress.advance(p.bytes);
                order.hand_on(p, &mut consume);
                next += 1;
            }
        }
        let pieces = reader.join().unwrap_or_else(|_| Err(io::Error::other("the reader thread panicked")))?;
        if next != pieces {
            // A parser thread died (a bug): say so rather than replay a trace with a hole in it.
            return Err(io::Error::other(format!(
                "piece {next} of {pieces} was never parsed (a parser thread failed)"
            )));
        }
        Ok(())
    })?;
    Ok(order.finish())
}

/// A parser thread: takes pieces until there are none, and sends each parsed piece on (with its buffer, for reuse)
/// while `send` accepts.
fn worker(format: RealFormat, work: &Mutex<Receiver<(u64, Vec<u8>)>>, send: impl Fn(u64, Parsed, Vec<u8>) -> bool) {
    loop {
        // A poisoned lock means another worker panicked: stop taking work.
        let job = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((seq, piece)) = job else { return };
        let parsed = parse_piece(format, &piece, 0);
        if !send(seq, parsed, piece) {
            return;
        }
    }
}
