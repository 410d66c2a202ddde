//! Parser for ftrace text: `/sys/kernel/tracing/trace`, `trace_pipe` and `trace-cmd report` output.
//!
//! ```text
//! # tracer: nop
//! #           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
//!          python3-3056    [001] ...1.  1272.594378: tracing_mark_write: mmdb-record pid=3175 cmd=./basic
//!            basic-3175    [000] d....  1272.594494: page_fault_user: address=0x7f7c23d51c20 ip=0x7f7c238ff04a error_code=0x7
//!            basic-3175    [000] .....  1272.594616: sys_execve(filename: 0x7f7c2301a030, argv: 0x7f7c2354c9e0, envp: 0x7f7c230ea330)
//!            basic-3175    [000] .....  1272.595594: sys_execve -> 0x0
//!            <...>-3180    (   3175) [001] .....  1272.603087: sys_clone -> 0x0
//! CPU:1 [LOST 12 EVENTS]
//! ```
//!
//! The prefix (comm, pid, optional TGID column, CPU, optional irq-info column, timestamp) is split by
//! [`crate::lexer`]; the event's fields by [`crate::records`]. Syscalls are recognised by their `sys_<name>(` and
//! `sys_<name> -> ` shapes (trace-cmd prints `sys_enter_<name>: <args>` and `sys_exit_<name>: <ret>` instead).
//! `trace_marker` writes are `tracing_mark_write: <text>` (trace-cmd shows them as the event `print` with the
//! fields `tracing_mark_write: <text>`). Lines starting with `#`, blank lines and trace-cmd's header lines
//! (`version = 6`, `cpus=2`, `CPU 0 is empty`) are skipped. Loss notices are the kernel's
//! `CPU:<n> [LOST <m> EVENTS]` and trace-cmd's `CPU:<n> [<m> EVENTS DROPPED]` and `CPU:<n> [EVENTS DROPPED]`.

use crate::diag::LineError;
use crate::fields::parse_dec;
use crate::lexer::{lex_prefix, EventSep, Prefix};
use crate::records::syscalls::{sys_enter, sys_exit};
use crate::records::{parse_fields_event, raw, Lost, ParsedTrace, Record, Syscall, TraceLine};

/// Parses ftrace text (LF or CRLF lines) into records, loss notices and one error per bad line.
pub fn parse_ftrace(src: &[u8]) -> ParsedTrace {
    ParsedTrace::parse_lines(src, 0, parse_line).0
}

/// [`parse_ftrace`] of a piece of a file that comes after `before` lines of it: its lines are numbered as lines of
/// the whole file (what [`ParsedTrace::shift_lines`] would do after parsing, without going over the records again).
/// Also returns the number of line breaks in `src`, so that the next piece's `before` needs no count of its own.
pub fn parse_ftrace_piece(src: &[u8], before: u32) -> (ParsedTrace, u64) {
    ParsedTrace::parse_lines(src, before, parse_line)
}

/// What one line of ftrace text is, when it is not a record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Special {
    /// A comment, a blank line or a trace-cmd header: nothing to keep.
    Skip,
    /// A loss notice: the CPU and the count when known.
    Lost(u32, Option<u64>),
}

/// Recognises the lines of ftrace text that are not records.
pub(crate) fn special_line(line: &str) -> Option<Special> {
    let t = &line[crate::lexer::blanks_end(line.as_bytes(), 0)..];
    let first = t.as_bytes().first().copied();
    // Most lines are records, whose comm starts with anything but these.
    if first.is_some_and(|c| c.is_ascii_graphic() && !matches!(c, b'#' | b'C' | b'v' | b'c')) {
        return None;
    }
    // A comm may start with these too (`churn-4413`): only the notices' and headers' first words make a line special.
    let notice = match first {
        Some(b'c') => "cpus=",
        Some(b'v') => "version = ",
        Some(b'C') => "CPU",
        _ => "",
    };
    if !t.starts_with(notice) {
        return None;
    }
    if first.is_none() || first == Some(b'#') || t.trim_end().is_empty() {
        return Some(Special::Skip);
    }
    if let Some(rest) = t.strip_prefix("CPU:") {
        return lost_notice(rest.trim_end());
    }
    let t = t.trim_end();
    let is_header = t.strip_prefix("version = ").is_some_and(|v| parse_dec(v).is_some())
        || t.strip_prefix("cpus=").is_some_and(|v| parse_dec(v).is_some())
        || t.strip_prefix("CPU ").and_then(|r| r.strip_suffix(" is empty")).is_some_and(|v| parse_dec(v).is_some());
    is_header.then_some(Special::Skip)
}

/// Reads `<n> [LOST <m> EVENTS]`, `<n> [<m> EVENTS DROPPED]` or `<n> [EVENTS DROPPED]` (after `CPU:`).
fn lost_notice(rest: &str) -> Option<Special> {
    let (cpu, notice) = rest.split_once(' ')?;
    let cpu = u32::try_from(parse_dec(cpu)?).ok()?;
    let notice = notice.trim_start().strip_prefix('[')?.strip_suffix(']')?;
    if notice == "EVENTS DROPPED" {
        return Some(Special::Lost(cpu, None));
    }
    let count = notice
        .strip_prefix("LOST ")
        .and_then(|n| n.strip_suffix(" EVENTS"))
        .or_else(|| notice.strip_suffix(" EVENTS DROPPED"))?;
    Some(Special::Lost(cpu, Some(parse_dec(count)?)))
}

fn parse_line(line_no: u32, line: &str, out: &mut ParsedTrace) {
    match special_line(line) {
        Some(Special::Skip) => return,
        Some(Special::Lost(cpu, count)) => {
            out.lost.push(Lost { line: line_no, cpu: Some(cpu), count });
            return;
        }
        None => {}
    }
    // (Step by step rather than through combinators: the prefix and the record are large, and each step of a
    // chain of them would move them again.)
    let mut unknown = Vec::new();
    let p = match lex_prefix(line) {
        Ok(p) => p,
        Err(e) => return out.errors.push(e.to_parse_error(line_no, line)),
    };
    let record = match record(line, &p, &mut unknown) {
        Ok(record) => record,
        Err(e) => return out.errors.push(e.to_parse_error(line_no, line)),
    };
    if !unknown.is_empty() {
        out.note_unknown(record.event_name(), &unknown, line_no);
    }
    let comm = out.comms.intern(p.comm);
    out.lines.push(TraceLine {
        comm,
        pid: p.pid,
        tgid: p.tgid,
        cpu: p.cpu,
        ts_ns: p.ts_ns,
        line: line_no,
        in_irq: p.irq.is_some_and(|irq| matches!(irq.as_bytes().get(2), Some(b'h' | b's' | b'H' | b'z' | b'Z'))),
        need_resched: p.irq.is_some_and(|irq| matches!(irq.as_bytes().get(1), Some(b'N' | b'n' | b'B' | b'b'))),
        record,
    });
}

/// Maps a lexed ftrace line to its record.
fn record<'a>(line: &'a str, p: &Prefix<'_>, unknown: &mut Vec<&'a str>) -> Result<Record, LineError> {
    if let Some(name) = p.event.strip_prefix("sys_") {
        match p.sep {
            EventSep::Paren => return syscall_entry(line, p, name),
            EventSep::Space if p.rest.starts_with("->") => return syscall_exit(line, p, name),
            _ => {}
        }
    }
    if p.sep == EventSep::Colon {
        // trace-cmd prints syscalls with their format files' names and `print fmt`, like perf.
        if let Some(syscall) = p.event.strip_prefix("sys_enter_").and_then(Syscall::from_name) {
            let end = line.trim_end_matches([' ', '\t']).len().max(p.rest_offset);
            return sys_enter(line, syscall, p.rest_offset, end);
        }
        if let Some(syscall) = p.event.strip_prefix("sys_exit_").and_then(Syscall::from_name) {
            return sys_exit(line, syscall, p.rest_offset);
        }
    }
    match (p.event, p.sep) {
        ("tracing_mark_write", EventSep::Colon) => Ok(Record::TracingMarkWrite { buf: p.rest.to_string() }),
        ("print", EventSep::Colon) => {
            // trace-cmd: `print: tracing_mark_write: <text>` (the `%ps: %s` of ftrace's print event).
            let buf = p.rest.split_once(": ").map_or(p.rest, |(_, text)| text);
            Ok(Record::TracingMarkWrite { buf: buf.to_string() })
        }
        (event, EventSep::Colon) => parse_fields_event(line, None, event, p.rest_offset, unknown),
        (event, EventSep::End) => parse_fields_event(line, None, event, line.len(), unknown),
        (event, _) => Ok(raw(None, event, p.rest)),
    }
}

/// `sys_<name>(<args>)`: an entry of a known syscall, or a raw record.
fn syscall_entry(line: &str, p: &Prefix<'_>, name: &str) -> Result<Record, LineError> {
    let Some(syscall) = Syscall::from_name(name) else {
        return Ok(raw(None, p.event, p.rest));
    };
    let body = p.rest.trim_end_matches([' ', '\t']);
    let Some(args) = body.strip_suffix(')') else {
        return Err(LineError::new(p.rest_offset + body.len(), 0, "`)` closing the syscall's arguments"));
    };
    // `rest` starts at the `(`.
    sys_enter(line, syscall, p.rest_offset + 1, p.rest_offset + args.len())
}

/// `sys_<name> -> <ret>`: the exit of a known syscall, or a raw record.
fn syscall_exit(line: &str, p: &Prefix<'_>, name: &str) -> Result<Record, LineError> {
    let Some(syscall) = Syscall::from_name(name) else {
        return Ok(raw(None, p.event, p.rest));
    };
    let after = &p.rest[2..];
    let value = after.trim_start_matches([' ', '\t']);
    sys_exit(line, syscall, p.rest_offset + 2 + (after.len() - value.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_lines() {
        assert_eq!(special_line("# tracer: nop"), Some(Special::Skip));
        assert_eq!(special_line("   "), Some(Special::Skip));
        assert_eq!(special_line("CPU:1 [LOST 12 EVENTS]"), Some(Special::Lost(1, Some(12))));
        assert_eq!(special_line("CPU:7 [204600 EVENTS DROPPED]"), Some(Special::Lost(7, Some(204_600))));
        assert_eq!(special_line("CPU:0 [EVENTS DROPPED]"), Some(Special::Lost(0, None)));
        assert_eq!(special_line("CPU:x [LOST 1 EVENTS]"), None);
        assert_eq!(special_line("version = 6"), Some(Special::Skip));
        assert_eq!(special_line("cpus=2"), Some(Special::Skip));
        assert_eq!(special_line("CPU 0 is empty"), Some(Special::Skip));
        assert_eq!(special_line("  app-1 [000] 1.0: x: y"), None);
        for comm in ["churn-1 [000] 1.0: x: y", "cpus-1 [000] 1.0: x: y", "vim-1 [000] 1.0: x: y", "CPUx-1 [0] 1.0: x:"]
        {
            assert_eq!(special_line(comm), None, "{comm}");
        }
        assert_eq!(special_line("  cpus=4"), Some(Special::Skip));
    }
}
