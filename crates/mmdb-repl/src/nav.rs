//! The navigation and breakpoint commands, and how a position and a stop are shown.

use mmdb_model::Event;
use mmdb_trace::format_event;

use crate::breakpoints::{parse_break, parse_watch, split_condition, BreakKind, Condition, ConditionError, CONDITION};
use crate::commands::{CmdError, CmdResult};
use crate::parse::{format_ts, parse_count, parse_seconds, parse_u64};
use crate::session::{RunUntil, Session, Stop};
use crate::styled::{Label, Styled};

/// The optional count argument of `step`, `next`, `reverse-step`, `list`.
fn count_arg(args: &[&str], default: usize) -> Result<usize, CmdError> {
    match args {
        [] => Ok(default),
        [n] => parse_count(n).map_err(CmdError::Usage),
        _ => Err(CmdError::Usage("too many arguments".to_string())),
    }
}

fn no_args(args: &[&str]) -> Result<(), CmdError> {
    match args {
        [] => Ok(()),
        _ => Err(CmdError::Usage(format!("unexpected argument `{}`", args.join(" ")))),
    }
}

/// `step [N]`.
pub fn step(s: &mut Session, args: &[&str]) -> CmdResult {
    let n = count_arg(args, 1)?;
    if s.cursor() >= s.program().len() {
        return Err(CmdError::Failed("at the end of the trace: nothing to step".to_string()));
    }
    let stop = s.run_forward(RunUntil::Steps(n));
    stopped(s, &stop)
}

/// `next [N]`.
pub fn next(s: &mut Session, args: &[&str]) -> CmdResult {
    let n = count_arg(args, 1)?;
    let pid = match s.cursor().checked_sub(1).and_then(|i| s.program().steps.get(i)) {
        Some(step) => step.event.pid,
        None => match s.program().steps.first() {
            Some(step) => step.event.pid,
            None => return Err(CmdError::Failed("the trace has no events".to_string())),
        },
    };
    if s.cursor() >= s.program().len() {
        return Err(CmdError::Failed("at the end of the trace: nothing to step".to_string()));
    }
    let stop = s.run_forward(RunUntil::EventsOf(pid, n));
    stopped(s, &stop)
}

/// `continue`.
pub fn cont(s: &mut Session, args: &[&str]) -> CmdResult {
    no_args(args)?;
    if s.cursor() >= s.program().len() {
        return Err(CmdError::Failed("at the end of the trace: nothing to run".to_string()));
    }
    let stop = s.run_forward(RunUntil::Breakpoint);
    stopped(s, &stop)
}

/// `reverse-step [N]`.
pub fn reverse_step(s: &mut Session, args: &[&str]) -> CmdResult {
    let n = count_arg(args, 1)?;
    if s.cursor() == 0 {
        return Err(CmdError::Failed("at the start of the trace: nothing to step back over".to_string()));
    }
    let to = s.cursor().saturating_sub(n);
    s.seek(to);
    let stop = if to == 0 { Stop::Start } else { Stop::Done };
    stopped(s, &stop)
}

/// `reverse-continue`.
pub fn reverse_continue(s: &mut Session, args: &[&str]) -> CmdResult {
    no_args(args)?;
    if s.cursor() == 0 {
        return Err(CmdError::Failed("at the start of the trace: nothing to run back over".to_string()));
    }
    let stop = s.run_backward();
    stopped(s, &stop)
}

/// `goto EVENT|@TIMESTAMP|start|end|checkpoint N`.
pub fn goto(s: &mut Session, args: &[&str]) -> CmdResult {
    let len = s.program().len();
    let pos = match args {
        ["start"] => 0,
        ["end"] => len,
        ["checkpoint", n] => {
            let id = parse_u64(n).map_err(CmdError::Usage)?;
            let cps = &s.program().checkpoints;
            match cps.iter().find(|c| u64::from(c.id) == id) {
                Some(c) => c.position,
                None if cps.is_empty() => {
                    return Err(CmdError::Failed("this trace has no ground-truth checkpoints".to_string()))
                }
                None => {
                    let ids: Vec<String> = cps.iter().map(|c| c.id.to_string()).collect();
                    return Err(CmdError::Failed(format!("no checkpoint {id}; the trace has {}", ids.join(", "))));
                }
            }
        }
        [t] if t.starts_with('@') => {
            let ts = parse_seconds(&t[1..]).map_err(CmdError::Usage)?;
            s.program().steps.iter().position(|st| st.event.ts_ns > ts).unwrap_or(len)
        }
        [n] => {
            let n = parse_u64(n).map_err(CmdError::Usage)?;
            match usize::try_from(n) {
                Ok(n) if n <= len => n,
                _ => return Err(CmdError::Failed(format!("no event {n}: the trace has {len} events"))),
            }
        }
        _ => return Err(CmdError::Usage("where to go is missing or unclear".to_string())),
    };
    s.seek(pos);
    Ok(where_styled(s))
}

/// `where`.
pub fn where_(s: &mut Session, args: &[&str]) -> CmdResult {
    no_args(args)?;
    Ok(where_styled(s))
}

/// The fields of an event after its name, as the mm event format prints them.
pub fn event_fields(ev: &Event) -> String {
    let text = format_event(ev);
    let marker = format!(": {}:", ev.op.name());
    match text.find(&marker) {
        Some(i) => text[i + marker.len()..].trim().to_string(),
        None => String::new(),
    }
}

/// `comm-pid [cpu] name: fields`, labelled.
pub fn push_event(out: &mut Styled, ev: &Event) {
    if !ev.comm.is_empty() {
        out.text(format!("{}-", ev.comm));
    }
    out.push(Label::Pid, ev.pid.to_string()).text(format!(" [{:03}] ", ev.cpu));
    out.push(Label::Event, ev.op.name()).text(":");
    let fields = event_fields(ev);
    if !fields.is_empty() {
        out.text(" ").text(fields);
    }
}

/// The position line: which event the cursor is after, with its line and time.
pub fn where_styled(s: &Session) -> Styled {
    let mut out = Styled::new();
    let len = s.program().len();
    let c = s.cursor();
    match c.checked_sub(1).and_then(|i| s.program().steps.get(i)) {
        None => {
            out.text("at the start: no event applied yet (")
                .push(Label::Event, len.to_string())
                .text(if len == 1 { " event)" } else { " events)" })
                .nl();
            if let Some(first) = s.program().steps.first() {
                out.push(Label::Dim, format!("next: event 1, line {}, {}: ", first.line, format_ts(first.event.ts_ns)));
                push_event(&mut out, &first.event);
                out.nl();
            }
        }
        Some(step) => {
            out.text("event ").push(Label::Event, c.to_string()).text(format!(" of {len}, "));
            out.push(Label::Dim, format!("line {}, {}", step.line, format_ts(step.event.ts_ns))).text(": ");
            push_event(&mut out, &step.event);
            out.nl();
        }
    }
    out
}

/// What a run prints: why it stopped, then where it is. A run stopped by a failing condition is an error.
fn stopped(s: &Session, stop: &Stop) -> CmdResult {
    let mut out = Styled::new();
    match stop {
        Stop::ConditionFailed { id, error } => {
            if let Some(bp) = s.breakpoints().iter().find(|b| b.id == *id) {
                out.push(Label::Warning, bp.title()).text(format!(" ({})", bp.kind.describe()));
                if let Some(c) = &bp.condition {
                    out.push(Label::Dim, format!(" if {c}"));
                }
                out.text(": ");
            }
            out.push(Label::Error, "the condition failed, so the run stopped here").nl();
            out.append(crate::script::render_error(error, CONDITION));
            out.append(where_styled(s));
            return Err(CmdError::Output(out));
        }
        Stop::Done => {}
        Stop::End => {
            out.line(Label::Warning, "reached the end of the trace");
        }
        Stop::Start => {
            out.line(Label::Warning, "reached the start of the trace");
        }
        Stop::Interrupted => {
            out.line(Label::Warning, "interrupted");
        }
        Stop::Breakpoints(hits) => {
            for h in hits {
                let Some(bp) = s.breakpoints().iter().find(|b| b.id == h.id) else { continue };
                out.push(Label::Warning, bp.title()).text(format!(" ({})", bp.kind.describe()));
                if let Some(c) = &bp.condition {
                    out.push(Label::Dim, format!(" if {c}"));
                }
                match &h.change {
                    Some((old, new)) if bp.kind.is_watch() => {
                        out.text(": ").push(Label::Removed, old).text(" -> ").push(Label::Added, new);
                    }
                    Some((_, new)) if bp.kind == BreakKind::Violation => {
                        out.text(": ").push(Label::Error, new.replace('\n', "; "));
                    }
                    _ => {}
                }
                out.nl();
            }
            if let Some(d) = s.program().divergences.iter().find(|d| d.position == s.cursor()) {
                if hits.iter().any(|h| s.breakpoints().iter().any(|b| b.id == h.id && b.kind == BreakKind::Divergence))
                {
                    let d = &d.divergence;
                    out.push(Label::Warning, format!("divergence at line {}: {}", d.line, d.kind));
                    out.text(format!(": predicted {}; actual: {}", d.predicted, d.actual)).nl();
                    out.push(Label::Dim, format!("  likely cause: {}", d.cause)).nl();
                }
            }
        }
    }
    out.append(where_styled(s));
    Ok(out)
}

/// `list [N]`.
pub fn list(s: &mut Session, args: &[&str]) -> CmdResult {
    let n = count_arg(args, 10)?;
    let len = s.program().len();
    if len == 0 {
        return Ok(Styled::new().line(Label::Dim, "the trace has no events").clone());
    }
    let c = s.cursor();
    let n = n.min(len);
    // Events are numbered from 1; the window holds the current event about a third of the way down.
    let first = c.saturating_sub(n / 3).max(1);
    let last = first.saturating_add(n - 1).min(len);
    let first = last.saturating_sub(n - 1).max(1);
    let mut out = Styled::new();
    if c == 0 {
        out.text("=> ").push(Label::Dim, "(start)").nl();
    }
    let width = last.to_string().len();
    for i in first..=last {
        let step = &s.program().steps[i - 1];
        out.text(if i == c { "=> " } else { "   " });
        out.push(Label::Event, format!("{i:>width$}"));
        out.push(Label::Dim, format!("  line {:<5} {:>12}  ", step.line, format_ts(step.event.ts_ns)));
        push_event(&mut out, &step.event);
        out.nl();
    }
    Ok(out)
}

/// The condition after `if` of the command being executed, compiled; `None` without `if`.
fn condition(s: &mut Session, text: Option<&str>) -> Result<Option<Condition>, CmdError> {
    let Some(text) = text else { return Ok(None) };
    match Condition::parse(text, || s.script_engine()) {
        Ok(c) => Ok(Some(c)),
        Err(ConditionError::Field(msg)) => Err(CmdError::Usage(msg)),
        Err(ConditionError::Rhai(e)) => {
            let mut out = crate::script::render_error(&e, CONDITION);
            out.push(Label::Dim, "(read as Rhai: the condition does not start with a field name; see `help break`)")
                .nl();
            Err(CmdError::Output(out))
        }
    }
}

/// `break ...`.
pub fn break_(s: &mut Session, _: &[&str]) -> CmdResult {
    let line = s.line_args().to_string();
    let (words, cond) = split_condition(&line);
    let names: Vec<&str> = mmdb_trace::events::event_names().collect();
    let kind = parse_break(&words, &names).map_err(CmdError::Usage)?;
    if kind == BreakKind::Divergence && s.program().kind != crate::program::SourceKind::Real {
        return Err(CmdError::Failed("only real traces have divergences".to_string()));
    }
    let cond = condition(s, cond)?;
    let bp = s.add_breakpoint(kind, cond);
    let mut out = Styled::new();
    out.push(Label::Warning, bp.title()).text(format!(": {}", bp.kind.describe()));
    if let Some(c) = &bp.condition {
        out.text(format!(" if {c}"));
    }
    out.nl();
    Ok(out)
}

/// `watch ...`.
pub fn watch(s: &mut Session, _: &[&str]) -> CmdResult {
    let line = s.line_args().to_string();
    let (words, cond) = split_condition(&line);
    let kind = parse_watch(&words).map_err(CmdError::Usage)?;
    let cond = condition(s, cond)?;
    let now = kind.probe(s.model());
    let bp = s.add_breakpoint(kind, cond);
    let mut out = Styled::new();
    out.push(Label::Warning, bp.title()).text(format!(": {}", bp.kind.describe()));
    if let Some(c) = &bp.condition {
        out.text(format!(" if {c}"));
    }
    out.push(Label::Dim, format!(" (now: {now})")).nl();
    Ok(out)
}

/// Parses breakpoint numbers.
fn ids(args: &[&str]) -> Result<Vec<u32>, CmdError> {
    if args.is_empty() {
        return Err(CmdError::Usage("which breakpoint? give its number (`info breakpoints` lists them)".to_string()));
    }
    args.iter()
        .map(|a| a.parse::<u32>().map_err(|_| CmdError::Usage(format!("`{a}` is not a breakpoint number"))))
        .collect()
}

fn for_each_id(s: &mut Session, args: &[&str], verb: &str, f: fn(&mut Session, u32) -> bool) -> CmdResult {
    let mut out = Styled::new();
    let mut missing = Vec::new();
    for id in ids(args)? {
        if f(s, id) {
            out.text(format!("{verb} {id}")).nl();
        } else {
            missing.push(id.to_string());
        }
    }
    if !missing.is_empty() {
        return Err(CmdError::Failed(format!("no breakpoint {}", missing.join(", "))));
    }
    Ok(out)
}

/// `delete N...`.
pub fn delete(s: &mut Session, args: &[&str]) -> CmdResult {
    for_each_id(s, args, "deleted", |s, id| s.delete_breakpoint(id))
}

/// `disable N...`.
pub fn disable(s: &mut Session, args: &[&str]) -> CmdResult {
    for_each_id(s, args, "disabled", |s, id| s.enable_breakpoint(id, false))
}

/// `enable N...`.
pub fn enable(s: &mut Session, args: &[&str]) -> CmdResult {
    for_each_id(s, args, "enabled", |s, id| s.enable_breakpoint(id, true))
}

/// The topics of `info`.
pub const INFO_TOPICS: &[&str] = &["breakpoints", "checkpoints", "trace"];

/// `info breakpoints|checkpoints|trace`.
pub fn info(s: &mut Session, args: &[&str]) -> CmdResult {
    let topic = match args {
        [t] => INFO_TOPICS.iter().find(|n| n.starts_with(t) && !t.is_empty()).copied(),
        _ => None,
    };
    let mut out = Styled::new();
    match topic {
        Some("breakpoints") => {
            if s.breakpoints().is_empty() {
                out.line(Label::Dim, "no breakpoints or watchpoints");
            }
            for b in s.breakpoints() {
                out.push(Label::Event, format!("{:>3}", b.id)).text(format!(
                    "  {:<10} {:<8} ",
                    if b.kind.is_watch() { "watch" } else { "break" },
                    if b.enabled { "enabled" } else { "disabled" }
                ));
                out.text(b.kind.describe());
                if let Some(c) = &b.condition {
                    out.text(format!(" if {c}"));
                }
                out.push(Label::Dim, format!("  (hit {} time{})", b.hits, if b.hits == 1 { "" } else { "s" })).nl();
            }
        }
        Some("checkpoints") => {
            let cps = &s.program().checkpoints;
            if cps.is_empty() {
                out.line(Label::Dim, "this trace has no ground-truth checkpoints");
            }
            for c in cps {
                out.text("checkpoint ").push(Label::Event, c.id.to_string());
                out.text(format!(" at {} (marker line {}): after event {}", format_ts(c.ts_ns), c.line, c.position))
                    .nl();
            }
        }
        Some("trace") => {
            let p = s.program();
            let kind = match p.kind {
                crate::program::SourceKind::Empty => "no trace",
                crate::program::SourceKind::Events => "mm event format",
                crate::program::SourceKind::Real => "real kernel trace, lowered to model events",
            };
            out.text(format!("{}: {} events ({kind})", s.name(), p.len())).nl();
            if let (Some(a), Some(b)) = (p.steps.first(), p.steps.last()) {
                out.text(format!("time {} to {}", format_ts(a.event.ts_ns), format_ts(b.event.ts_ns))).nl();
            }
            out.text(format!("parse errors: {}", p.parse_errors.len())).nl();
            if p.kind == crate::program::SourceKind::Real {
                out.text(format!(
                    "divergences: {}; ground-truth checkpoints: {}",
                    p.divergence_count,
                    p.checkpoints.len()
                ))
                .nl();
            }
            out.text(format!("time travel: a checkpoint every {} events, {} kept", s.interval(), s.checkpoint_count()))
                .nl();
            let h = &p.history;
            out.text(format!(
                "page history: {} changes of {} pages, {:.1} MiB",
                h.len(),
                h.pages(),
                h.footprint() as f64 / (1u64 << 20) as f64
            ));
            if let Some((pfn, n)) = h.busiest() {
                out.text(format!("; the busiest page is {pfn:#x} ({n} changes)"));
            }
            out.nl();
        }
        _ => return Err(CmdError::Usage("which topic? breakpoints, checkpoints or trace".to_string())),
    }
    Ok(out)
}
