//! Breakpoints and watchpoints: what each one watches, its optional condition (`if FIELD OP VALUE`, or a Rhai
//! expression), and how it is decided whether it fires at a position.
//!
//! A breakpoint fires *at position p* when applying event p (1-based) makes it true: an event breakpoint looks
//! at event p itself; a page, address, rss or violation breakpoint compares a probe of the model before and
//! after the event. `continue` stops at the first position that fires, `reverse-continue` at the last one
//! before the cursor; both use this one definition.

use mmdb_model::consts::{madv_name, PAGE_SIZE};
use mmdb_model::{Event, Model, Op, PageInfo, Pfn, Pid};
use mmdb_script::{CompiledQuery, QueryEngine, ScriptError};

use crate::parse::{parse_advice, parse_pid, PageRef};

/// What a breakpoint watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakKind {
    /// Every event with this name (`fault`, `fork`, ...).
    Event(String),
    /// Every event of this task.
    Pid(Pid),
    /// Every event that changes this page's state.
    Pfn(Pfn),
    /// Every event of this task on a range covering this address, and every change of the PTE there.
    Addr { pid: Pid, vaddr: u64 },
    /// Every `madvise`, or only those with this advice.
    Madvise(Option<i64>),
    /// Every place where the real trace contradicted the model.
    Divergence,
    /// Every event after which the invariant checker finds a new violation.
    Violation,
    /// A watchpoint on one page field (or its whole state).
    WatchPage { page: PageRef, field: Option<String> },
    /// A watchpoint on a process's RSS counters (or one of them).
    WatchRss { pid: Pid, counter: Option<String> },
}

impl BreakKind {
    /// Whether this is a watchpoint (it reports old and new values).
    pub fn is_watch(&self) -> bool {
        matches!(self, BreakKind::WatchPage { .. } | BreakKind::WatchRss { .. })
    }

    /// The page a condition's page fields refer to, if any.
    fn page(&self) -> Option<PageRef> {
        match self {
            BreakKind::Pfn(p) => Some(PageRef::Pfn(*p)),
            BreakKind::Addr { pid, vaddr } => Some(PageRef::Addr { pid: *pid, vaddr: *vaddr }),
            BreakKind::WatchPage { page, .. } => Some(*page),
            _ => None,
        }
    }

    /// Whether firing needs the model before and after the event (a probe), not just the event.
    pub fn has_probe(&self) -> bool {
        matches!(
            self,
            BreakKind::Pfn(_)
                | BreakKind::Addr { .. }
                | BreakKind::Violation
                | BreakKind::WatchPage { .. }
                | BreakKind::WatchRss { .. }
        )
    }

    /// The value the probe sees in `model`; a change of it between two positions fires the breakpoint.
    pub fn probe(&self, model: &Model) -> String {
        match self {
            BreakKind::Pfn(pfn) => format!("{:?}", model.page_info(*pfn)),
            BreakKind::Addr { pid, vaddr } => format!("{:?}", model.lookup(*pid, *vaddr & !(PAGE_SIZE - 1))),
            BreakKind::Violation => {
                model.check().iter().map(|v| format!("{}: {}", v.invariant, v.message)).collect::<Vec<_>>().join("\n")
            }
            BreakKind::WatchPage { page, field } => match page.resolve(model) {
                Err(_) => "unmapped".to_string(),
                Ok(pfn) => match model.page_info(pfn) {
                    None => "free".to_string(),
                    Some(info) => match field {
                        None => page_summary(&info),
                        Some(f) => page_field(&info, f).map(|v| v.to_string()).unwrap_or_default(),
                    },
                },
            },
            BreakKind::WatchRss { pid, counter } => match model.rss(*pid) {
                None => "no mm".to_string(),
                Some(r) => match counter.as_deref() {
                    Some("file") => r.file.to_string(),
                    Some("anon") => r.anon.to_string(),
                    Some("swapents") => r.swapents.to_string(),
                    Some("shmem") => r.shmem.to_string(),
                    _ => format!("file {} anon {} swapents {} shmem {}", r.file, r.anon, r.swapents, r.shmem),
                },
            },
            _ => String::new(),
        }
    }

    /// Whether event `ev` alone fires an event breakpoint (probe kinds answer through [`BreakKind::probe`]).
    pub fn event_fires(&self, ev: &Event) -> bool {
        match self {
            BreakKind::Event(name) => ev.op.name() == name,
            BreakKind::Pid(pid) => ev.pid == *pid,
            BreakKind::Madvise(advice) => match &ev.op {
                Op::Madvise { advice: a, .. } => advice.is_none_or(|want| want == *a),
                _ => false,
            },
            BreakKind::Addr { pid, vaddr } => ev.pid == *pid && op_covers(&ev.op, *vaddr),
            _ => false,
        }
    }

    /// How `info breakpoints` and stop messages describe it.
    pub fn describe(&self) -> String {
        match self {
            BreakKind::Event(name) => format!("event {name}"),
            BreakKind::Pid(pid) => format!("pid {pid}"),
            BreakKind::Pfn(pfn) => format!("pfn {pfn:#x}"),
            BreakKind::Addr { pid, vaddr } => format!("addr {pid}:{vaddr:#x}"),
            BreakKind::Madvise(None) => "madvise".to_string(),
            BreakKind::Madvise(Some(a)) => match madv_name(*a) {
                Some(n) => format!("madvise {n}"),
                None => format!("madvise {a}"),
            },
            BreakKind::Divergence => "divergence".to_string(),
            BreakKind::Violation => "violation".to_string(),
            BreakKind::WatchPage { page, field: None } => format!("page {page}"),
            BreakKind::WatchPage { page, field: Some(f) } => format!("page {page} {f}"),
            BreakKind::WatchRss { pid, counter: None } => format!("rss {pid}"),
            BreakKind::WatchRss { pid, counter: Some(c) } => format!("rss {pid} {c}"),
        }
    }
}

/// Whether an operation works on a range that covers `vaddr` (a fault on its page, an mmap or madvise over it).
fn op_covers(op: &Op, vaddr: u64) -> bool {
    let page = vaddr & !(PAGE_SIZE - 1);
    let within = |addr: u64, len: u64| addr <= vaddr && vaddr < addr.saturating_add(len);
    match op {
        Op::Fault { addr, .. } | Op::Touch { addr, .. } | Op::Store { addr, .. } => addr & !(PAGE_SIZE - 1) == page,
        Op::Mmap { addr: Some(addr), len, .. } => within(*addr, *len),
        Op::Munmap { addr, len }
        | Op::Mprotect { addr, len, .. }
        | Op::Madvise { addr, len, .. }
        | Op::Mlock { addr, len }
        | Op::Munlock { addr, len } => within(*addr, *len),
        Op::Mremap { addr, old_len, .. } => within(*addr, *old_len),
        _ => false,
    }
}

/// Splits the arguments of `break` or `watch`, as typed, at the first word `if`: the words of what to watch, and
/// the condition's text (`None` without `if`).
pub fn split_condition(args: &str) -> (Vec<&str>, Option<&str>) {
    let mut words = Vec::new();
    for word in args.split_whitespace() {
        if word == "if" {
            // `word` is a slice of `args`: the condition is the text after it.
            let at = word.as_ptr() as usize - args.as_ptr() as usize;
            return (words, Some(args[at + word.len()..].trim()));
        }
        words.push(word);
    }
    (words, None)
}

/// Parses what `break` breaks on (the words before `if`).
pub fn parse_break(words: &[&str], event_names: &[&str]) -> Result<BreakKind, String> {
    Ok(match words {
        ["pid", p] => BreakKind::Pid(parse_pid(p)?),
        ["pfn", x] => BreakKind::Pfn(crate::parse::parse_u64(x)?),
        ["addr", a] => match PageRef::parse(a)? {
            PageRef::Addr { pid, vaddr } => BreakKind::Addr { pid, vaddr },
            PageRef::Pfn(_) => return Err(format!("`{a}` is not PID:VADDR")),
        },
        ["madvise"] => BreakKind::Madvise(None),
        ["madvise", a] => BreakKind::Madvise(Some(parse_advice(a)?)),
        ["divergence"] => BreakKind::Divergence,
        ["violation"] => BreakKind::Violation,
        [name] if event_names.contains(name) => BreakKind::Event((*name).to_string()),
        [name] => {
            return Err(format!(
                "`{name}` is not an event name or a breakpoint kind (pid, pfn, addr, madvise, divergence, violation)"
            ))
        }
        [] => return Err("what to break on is missing".to_string()),
        _ => return Err(format!("cannot read `{}`", words.join(" "))),
    })
}

/// Parses what `watch` watches (the words before `if`): `page X [FIELD]` or `rss P [COUNTER]`.
pub fn parse_watch(words: &[&str]) -> Result<BreakKind, String> {
    Ok(match words {
        ["page", x] => BreakKind::WatchPage { page: PageRef::parse(x)?, field: None },
        ["page", x, f] => {
            if !PAGE_FIELDS.contains(f) {
                return Err(format!("`{f}` is not a page field ({})", PAGE_FIELDS.join(", ")));
            }
            BreakKind::WatchPage { page: PageRef::parse(x)?, field: Some((*f).to_string()) }
        }
        ["rss", p] => BreakKind::WatchRss { pid: parse_pid(p)?, counter: None },
        ["rss", p, c] => {
            if !RSS_COUNTERS.contains(c) {
                return Err(format!("`{c}` is not an rss counter ({})", RSS_COUNTERS.join(", ")));
            }
            BreakKind::WatchRss { pid: parse_pid(p)?, counter: Some((*c).to_string()) }
        }
        _ => return Err("expected `page X [FIELD]` or `rss P [COUNTER]`".to_string()),
    })
}

/// The page fields `watch page X FIELD` and conditions know.
pub const PAGE_FIELDS: &[&str] = &[
    "mapcount",
    "raw_mapcount",
    "folio_mapcount",
    "refcount",
    "flags",
    "lru",
    "lazyfree",
    "anon_exclusive",
    "order",
    "memcg",
    "swap",
    "rmap",
];

/// The rss counters `watch rss P COUNTER` and conditions know (`mm->rss_stat` members).
pub const RSS_COUNTERS: &[&str] = &["file", "anon", "swapents", "shmem"];

/// The event fields conditions know.
pub const EVENT_FIELDS: &[&str] =
    &["pid", "cpu", "ts", "comm", "event", "addr", "len", "advice", "access", "child", "value", "pfn"];

/// A value a condition compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Num(i64),
    Str(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// One field of a page's state, by the names in [`PAGE_FIELDS`].
pub fn page_field(info: &PageInfo, field: &str) -> Option<Value> {
    let flag = |b: bool| Value::Num(i64::from(b));
    Some(match field {
        "mapcount" => Value::Num(info.mapcount.into()),
        "raw_mapcount" => Value::Num(info.raw_mapcount.into()),
        "folio_mapcount" => Value::Num(info.folio_mapcount.into()),
        "refcount" => Value::Num(info.refcount.into()),
        "flags" => Value::Str(info.flags.join("|")),
        "lru" => Value::Str(info.lru.unwrap_or("none").to_string()),
        "lazyfree" => flag(info.lazyfree),
        "anon_exclusive" => flag(info.anon_exclusive),
        "order" => Value::Num(info.order.into()),
        "memcg" => Value::Num(info.memcg.into()),
        "swap" => Value::Str(info.swap.map_or_else(|| "none".to_string(), |s| format!("{s:#x}"))),
        "rmap" => Value::Str(info.rmap.join(" ")),
        _ => return None,
    })
}

/// A one-line summary of a page's state, what `watch page X` without a field compares.
pub fn page_summary(info: &PageInfo) -> String {
    format!(
        "mapcount {} refcount {} lru {} flags {}{}",
        info.mapcount,
        info.refcount,
        info.lru.unwrap_or("none"),
        info.flags.join("|"),
        if info.anon_exclusive { " exclusive" } else { "" }
    )
}

/// One event field, by the names in [`EVENT_FIELDS`]; `None` when the event has no such field.
pub fn event_field(ev: &Event, field: &str) -> Option<Value> {
    let num = |n: u64| Value::Num(i64::try_from(n).unwrap_or(i64::MAX));
    Some(match (field, &ev.op) {
        ("pid", _) => num(ev.pid.into()),
        ("cpu", _) => num(ev.cpu.into()),
        ("ts", _) => num(ev.ts_ns),
        ("comm", _) => Value::Str(ev.comm.clone()),
        ("event", op) => Value::Str(op.name().to_string()),
        ("addr", Op::Fault { addr, .. } | Op::Touch { addr, .. } | Op::Store { addr, .. }) => num(*addr),
        ("addr", Op::Munmap { addr, .. }) => num(*addr),
        ("addr", Op::Mprotect { addr, .. } | Op::Madvise { addr, .. } | Op::Mremap { addr, .. }) => num(*addr),
        ("addr", Op::Mlock { addr, .. } | Op::Munlock { addr, .. }) => num(*addr),
        ("addr", Op::Mmap { addr: Some(addr), .. }) => num(*addr),
        ("len", Op::Mmap { len, .. } | Op::Munmap { len, .. } | Op::Mprotect { len, .. }) => num(*len),
        ("len", Op::Madvise { len, .. } | Op::Mlock { len, .. } | Op::Munlock { len, .. }) => num(*len),
        ("advice", Op::Madvise { advice, .. }) => match madv_name(*advice) {
            Some(n) => Value::Str(n.to_string()),
            None => Value::Num(*advice),
        },
        ("access", Op::Fault { access, .. } | Op::Touch { access, .. }) => Value::Str(access.name().to_string()),
        ("child", Op::Fork { child, .. } | Op::Vfork { child }) => num((*child).into()),
        ("value", Op::Store { value, .. }) => num(*value),
        ("pfn", Op::Fault { pfn: Some(pfn), .. } | Op::ShrinkFolio { pfn }) => num(*pfn),
        _ => return None,
    })
}

/// A comparison operator of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `~`: the field's text contains the value.
    Contains,
}

impl CmpOp {
    const ALL: [(&'static str, CmpOp); 7] = [
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
        ("~", CmpOp::Contains),
    ];

    fn symbol(self) -> &'static str {
        CmpOp::ALL.iter().find(|(_, o)| *o == self).map_or("?", |(s, _)| s)
    }
}

/// A breakpoint's condition: `FIELD OP VALUE`, or a Rhai expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Field(FieldCondition),
    Rhai(RhaiCondition),
}

/// Why a condition cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConditionError {
    /// The simple form is malformed or names no field.
    Field(String),
    /// The Rhai expression does not compile.
    Rhai(ScriptError),
}

impl Condition {
    /// Reads a condition. The rule: when its first word (up to a blank or an operator) is a field name
    /// ([`EVENT_FIELDS`], [`PAGE_FIELDS`], [`RSS_COUNTERS`]), it is the simple form `FIELD OP VALUE`; anything else
    /// is a Rhai expression, compiled once with `engine` (called only then).
    pub fn parse<'e>(text: &str, engine: impl FnOnce() -> &'e QueryEngine) -> Result<Condition, ConditionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConditionError::Field("the condition after `if` is missing".to_string()));
        }
        let first = text.split(|c: char| c.is_whitespace() || "=!<>~".contains(c)).next().unwrap_or("");
        if is_field(first) {
            return FieldCondition::parse(text).map(Condition::Field).map_err(ConditionError::Field);
        }
        match engine().compile_named(CONDITION, text) {
            Ok(query) => Ok(Condition::Rhai(RhaiCondition { text: text.to_string(), query })),
            Err(e) => Err(ConditionError::Rhai(e)),
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::Field(c) => c.fmt(f),
            Condition::Rhai(c) => f.write_str(&c.text),
        }
    }
}

/// How a Rhai condition is named in its errors.
pub const CONDITION: &str = "condition";

/// Whether `name` is a field of the simple form.
fn is_field(name: &str) -> bool {
    EVENT_FIELDS.contains(&name) || PAGE_FIELDS.contains(&name) || RSS_COUNTERS.contains(&name)
}

/// A condition in Rhai, compiled once; it sees the state after the event and the event as `event`.
#[derive(Clone, Debug)]
pub struct RhaiCondition {
    /// The expression as typed.
    pub text: String,
    query: CompiledQuery,
}

impl PartialEq for RhaiCondition {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for RhaiCondition {}

impl RhaiCondition {
    /// Whether the condition holds after event `ev` (event number `pos`) in `model`; an error when it fails or
    /// does not give a boolean.
    pub fn holds(
        &self,
        engine: Option<&QueryEngine>,
        ev: &Event,
        pos: usize,
        model: &mut Model,
    ) -> Result<bool, ScriptError> {
        let Some(engine) = engine else { return Err(crate::script::no_engine()) };
        crate::script::set_event(engine, Some(ev), pos);
        engine.eval_bool(model, &self.query)
    }
}

/// `FIELD OP VALUE`: a condition on the event, the breakpoint's page or the process's rss counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldCondition {
    pub field: String,
    pub op: CmpOp,
    pub value: String,
}

impl FieldCondition {
    /// Parses `FIELD OP VALUE`, as separate words or run together (`mapcount>1`); VALUE is one word.
    pub fn parse(text: &str) -> Result<FieldCondition, String> {
        let text = text.trim();
        let usage = || format!("a condition is `FIELD OP VALUE` with OP one of == != < <= > >= ~, not `{text}`");
        let (at, (sym, op)) = CmpOp::ALL
            .iter()
            .filter_map(|(s, o)| text.find(s).map(|i| (i, (*s, *o))))
            .min_by_key(|(i, (s, _))| (*i, usize::MAX - s.len()))
            .ok_or_else(usage)?;
        let field = text[..at].trim();
        let value = text[at + sym.len()..].trim();
        if field.is_empty() || value.is_empty() || field.contains(' ') {
            return Err(usage());
        }
        if value.contains(char::is_whitespace) {
            return Err(format!(
                "`{field} {sym}` takes one word, not `{value}`; write longer conditions in Rhai, such as \
                 `event.pid == 3176 && page(0x100000).mapcount > 1`"
            ));
        }
        if !is_field(field) {
            return Err(format!(
                "`{field}` is not a field; event fields: {}; page fields: {}; rss counters: {}",
                EVENT_FIELDS.join(", "),
                PAGE_FIELDS.join(", "),
                RSS_COUNTERS.join(", ")
            ));
        }
        Ok(FieldCondition { field: field.to_string(), op, value: value.to_string() })
    }

    /// Whether the condition holds for event `ev` and the state after it, for a breakpoint of `kind`.
    /// A field the event or the state does not have makes the condition false.
    pub fn holds(&self, kind: &BreakKind, ev: &Event, model: &Model) -> bool {
        let value = if let Some(v) = event_field(ev, &self.field) {
            Some(v)
        } else if PAGE_FIELDS.contains(&self.field.as_str()) {
            kind.page()
                .and_then(|p| p.resolve(model).ok())
                .and_then(|pfn| model.page_info(pfn))
                .and_then(|info| page_field(&info, &self.field))
        } else if let BreakKind::WatchRss { pid, .. } = kind {
            rss_field(model, *pid, &self.field)
        } else {
            rss_field(model, ev.pid, &self.field)
        };
        value.is_some_and(|v| self.compare(&v))
    }

    fn compare(&self, have: &Value) -> bool {
        let want_num = crate::parse::parse_u64(&self.value)
            .ok()
            .and_then(|n| i64::try_from(n).ok())
            .or_else(|| self.value.strip_prefix('-').and_then(|n| n.parse::<i64>().ok()).map(|n| -n))
            .or_else(|| parse_advice(&self.value).ok().filter(|_| self.field == "advice"));
        let have_num = match have {
            Value::Num(n) => Some(*n),
            Value::Str(s) if self.field == "advice" => parse_advice(s).ok(),
            Value::Str(_) => None,
        };
        if let (Some(h), Some(w)) = (have_num, want_num) {
            return match self.op {
                CmpOp::Eq => h == w,
                CmpOp::Ne => h != w,
                CmpOp::Lt => h < w,
                CmpOp::Le => h <= w,
                CmpOp::Gt => h > w,
                CmpOp::Ge => h >= w,
                CmpOp::Contains => h.to_string().contains(&self.value),
            };
        }
        let h = have.to_string();
        match self.op {
            CmpOp::Eq => h == self.value,
            CmpOp::Ne => h != self.value,
            CmpOp::Contains => h.contains(&self.value),
            _ => false,
        }
    }
}

impl std::fmt::Display for FieldCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.field, self.op.symbol(), self.value)
    }
}

fn rss_field(model: &Model, pid: Pid, field: &str) -> Option<Value> {
    let r = model.rss(pid)?;
    Some(Value::Num(match field {
        "file" => r.file,
        "anon" => r.anon,
        "swapents" => r.swapents,
        "shmem" => r.shmem,
        _ => return None,
    }))
}

/// One breakpoint or watchpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breakpoint {
    /// Its number, as `delete N` names it.
    pub id: u32,
    pub kind: BreakKind,
    pub condition: Option<Condition>,
    pub enabled: bool,
    /// How many times it stopped the program.
    pub hits: u64,
}

impl Breakpoint {
    /// `breakpoint 2` or `watchpoint 3`.
    pub fn title(&self) -> String {
        let what = if self.kind.is_watch() { "watchpoint" } else { "breakpoint" };
        format!("{what} {}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> QueryEngine {
        let e = QueryEngine::new(&mmdb_script::Limits::default(), std::sync::Arc::default());
        e.set_var("event", mmdb_script::Dynamic::UNIT);
        e
    }

    #[test]
    fn field_conditions_parse_in_words_or_run_together() {
        let c = FieldCondition::parse("mapcount > 1").unwrap();
        assert_eq!((c.field.as_str(), c.op, c.value.as_str()), ("mapcount", CmpOp::Gt, "1"));
        let c = FieldCondition::parse("mapcount>=2").unwrap();
        assert_eq!(c.op, CmpOp::Ge);
        assert!(FieldCondition::parse("frob == 1").is_err());
        assert!(FieldCondition::parse("pid").is_err());
        assert!(FieldCondition::parse("== 1").is_err());
        assert!(FieldCondition::parse("pid == 1 && x").unwrap_err().contains("takes one word"));
    }

    #[test]
    fn a_condition_is_the_simple_form_when_it_starts_with_a_field() {
        let e = engine();
        let field = |t: &str| matches!(Condition::parse(t, || &e), Ok(Condition::Field(_)));
        let rhai = |t: &str| matches!(Condition::parse(t, || &e), Ok(Condition::Rhai(_)));
        assert!(field("pid == 3176") && field("mapcount>1") && field("advice == free"));
        assert!(rhai("event.pid == 3176") && rhai("page(0x100000).mapcount > 1") && rhai("true"));
        assert!(matches!(Condition::parse("pid", || &e), Err(ConditionError::Field(_))));
        // A misspelt name is caught when the breakpoint is made, with its column.
        match Condition::parse("event.pid == 1 && frob", || &e) {
            Err(ConditionError::Rhai(err)) => assert_eq!((err.line, err.column), (1, 19), "{}", err.message),
            other => panic!("{other:?}"),
        }
        assert!(matches!(Condition::parse("  ", || &e), Err(ConditionError::Field(_))));
    }

    #[test]
    fn break_words_parse_to_kinds() {
        let names = ["fault", "fork"];
        assert_eq!(parse_break(&["fault"], &names), Ok(BreakKind::Event("fault".into())));
        assert_eq!(parse_break(&["madvise", "free"], &names), Ok(BreakKind::Madvise(Some(8))));
        assert!(parse_break(&["frob"], &names).is_err());
        assert!(parse_break(&["pid", "x"], &names).is_err());
        let (words, cond) = split_condition("pid 7 if event.comm == \"a  b\"");
        assert_eq!((words.as_slice(), cond), (&["pid", "7"][..], Some("event.comm == \"a  b\"")));
        assert_eq!(split_condition("fault"), (vec!["fault"], None));
        assert_eq!(split_condition("fault if"), (vec!["fault"], Some("")));
    }

    #[test]
    fn stores_are_address_events() {
        let ev =
            Event { comm: "a".into(), pid: 1, cpu: 0, ts_ns: 0, op: Op::Store { addr: 0x7f00_0000_1234, value: 42 } };
        assert!(op_covers(&ev.op, 0x7f00_0000_1000));
        assert!(!op_covers(&ev.op, 0x7f00_0000_2000));
        assert_eq!(event_field(&ev, "addr"), Some(Value::Num(0x7f00_0000_1234)));
        assert_eq!(event_field(&ev, "value"), Some(Value::Num(42)));
        assert!(BreakKind::Addr { pid: 1, vaddr: 0x7f00_0000_1000 }.event_fires(&ev));
    }
}
