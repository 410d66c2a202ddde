//! The command table: one record per command (name, aliases, usage, help, argument kinds, handler) that drives
//! dispatch, `help`, completion and the book's command reference.

use std::fmt::Write as _;

use crate::inspect;
use crate::nav;
use crate::session::Session;
use crate::styled::{Label, Styled};

/// A group of commands, as `help` and the reference list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Navigation,
    Breakpoints,
    Inspection,
    Session,
}

impl Category {
    /// Every category, in the order `help` lists them.
    pub const ALL: [Category; 4] =
        [Category::Navigation, Category::Breakpoints, Category::Inspection, Category::Session];

    /// The heading.
    pub fn title(self) -> &'static str {
        match self {
            Category::Navigation => "Navigation",
            Category::Breakpoints => "Breakpoints and watchpoints",
            Category::Inspection => "Inspection",
            Category::Session => "Session",
        }
    }
}

/// What an argument is, for completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A count of events.
    Count,
    /// Where `goto` goes: an event number, `@TIMESTAMP`, `start`, `end`, `checkpoint N`.
    Target,
    /// A page: a pfn or `PID:VADDR`.
    Page,
    /// A process id.
    Pid,
    /// A virtual address.
    Addr,
    /// An event number.
    Event,
    /// What `break` breaks on, then `if FIELD OP VALUE`.
    BreakSpec,
    /// What `watch` watches, then `if FIELD OP VALUE`.
    WatchSpec,
    /// A breakpoint number.
    BreakpointId,
    /// A command name.
    Command,
    /// A topic of `info`.
    InfoTopic,
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdError {
    /// The arguments are wrong: the message, then the command's usage.
    Usage(String),
    /// The command could not do what was asked.
    Failed(String),
}

/// What a command handler returns.
pub type CmdResult = Result<Styled, CmdError>;

/// One command.
#[derive(Debug)]
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub category: Category,
    /// The synopsis: `step [N]`.
    pub usage: &'static str,
    /// One line for `help`.
    pub summary: &'static str,
    /// The rest of `help COMMAND`: what it does in detail, with examples.
    pub help: &'static str,
    /// The arguments in order, for completion; the last one repeats.
    pub args: &'static [ArgKind],
    pub run: fn(&mut Session, &[&str]) -> CmdResult,
}

/// Every command, in the order `help` lists them.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "step",
        aliases: &["s"],
        category: Category::Navigation,
        usage: "step [N]",
        summary: "Applies the next N events (default 1), stopping early where a breakpoint fires.",
        help: "Events are numbered from 1; after `step` the cursor is *after* the event shown, so the state the \
               inspection commands show includes it.",
        args: &[ArgKind::Count],
        run: nav::step,
    },
    Command {
        name: "next",
        aliases: &["n"],
        category: Category::Navigation,
        usage: "next [N]",
        summary: "Runs to the Nth next event (default 1) of the current event's process.",
        help: "The current process is the one of the event at the cursor (at the start, of the first event). \
               Breakpoints stop it early.",
        args: &[ArgKind::Count],
        run: nav::next,
    },
    Command {
        name: "continue",
        aliases: &["c", "cont"],
        category: Category::Navigation,
        usage: "continue",
        summary: "Runs forwards until a breakpoint or watchpoint fires, or to the end.",
        help: "When several fire at the same event, all of them are reported. Ctrl-C stops the run where it is.",
        args: &[],
        run: nav::cont,
    },
    Command {
        name: "reverse-step",
        aliases: &["rs"],
        category: Category::Navigation,
        usage: "reverse-step [N]",
        summary: "Goes back N events (default 1).",
        help: "The state is rebuilt from the nearest checkpoint, so going back costs at most one checkpoint \
               interval of replay.",
        args: &[ArgKind::Count],
        run: nav::reverse_step,
    },
    Command {
        name: "reverse-continue",
        aliases: &["rc"],
        category: Category::Navigation,
        usage: "reverse-continue",
        summary: "Runs backwards to the last event before the cursor where a breakpoint or watchpoint fires.",
        help: "A breakpoint fires at the same events going backwards as going forwards: `reverse-continue` after \
               `continue` comes back to the previous stop. Without one firing it stops at the start.",
        args: &[],
        run: nav::reverse_continue,
    },
    Command {
        name: "goto",
        aliases: &["g"],
        category: Category::Navigation,
        usage: "goto EVENT|@TIMESTAMP|start|end|checkpoint N",
        summary: "Moves the cursor to just after an event, a time, the start, the end or a ground-truth checkpoint.",
        help: "`goto 67` shows the state after event 67; `goto 0` and `goto start` the state before any event. \
               `goto @1.000670` goes to the last event at or before that time (seconds, as the trace prints \
               them). `goto checkpoint 2` goes to where checkpoint 2 of a real recording was taken. Breakpoints \
               do not stop `goto`.",
        args: &[ArgKind::Target, ArgKind::Count],
        run: nav::goto,
    },
    Command {
        name: "where",
        aliases: &["w"],
        category: Category::Navigation,
        usage: "where",
        summary: "Shows the event at the cursor with its number, source line and time.",
        help: "",
        args: &[],
        run: nav::where_,
    },
    Command {
        name: "list",
        aliases: &["l"],
        category: Category::Navigation,
        usage: "list [N]",
        summary: "Lists N events around the cursor (default 10), with their source lines; `=>` marks the cursor.",
        help: "",
        args: &[ArgKind::Count],
        run: nav::list,
    },
    Command {
        name: "break",
        aliases: &["b"],
        category: Category::Breakpoints,
        usage: "break EVENT-NAME|pid P|pfn X|addr P:VADDR|madvise [ADVICE]|divergence|violation [if FIELD OP VALUE]",
        summary: "Sets a breakpoint.",
        help: "`break fork` fires at every fork event; `break pid 3176` at every event of that task; `break pfn \
               0x100010` at every event that changes that page; `break addr 3175:0x7f5a3c010000` at every event \
               of that task on that address and every change of its PTE; `break madvise free` at every \
               MADV_FREE; `break divergence` where a real trace contradicted the model; `break violation` where \
               the invariant checker finds a new violation (slow: it checks after every event).\n\n\
               A condition `if FIELD OP VALUE` keeps only the stops where it holds. OP is one of == != < <= > >= \
               and ~ (contains). FIELD is an event field (pid cpu ts comm event addr len advice access child), a \
               page field of the breakpoint's page (mapcount raw_mapcount folio_mapcount refcount flags lru \
               lazyfree anon_exclusive order memcg swap rmap) or an rss counter of the event's process (file \
               anon swapents shmem). Example: `break fault if addr >= 0x7f5a3c020000`.",
        args: &[ArgKind::BreakSpec],
        run: nav::break_,
    },
    Command {
        name: "watch",
        aliases: &[],
        category: Category::Breakpoints,
        usage: "watch page X [FIELD]|rss P [COUNTER] [if FIELD OP VALUE]",
        summary: "Sets a watchpoint: stops where a page field or an RSS counter changes, showing old and new.",
        help: "X is a pfn (`0x100010`) or `PID:VADDR`, which is looked up again at every event. Without FIELD \
               the page's mapcount, refcount, LRU list, flags and exclusivity are watched together. FIELD is one \
               of mapcount raw_mapcount folio_mapcount refcount flags lru lazyfree anon_exclusive order memcg \
               swap rmap; COUNTER one of file anon swapents shmem.",
        args: &[ArgKind::WatchSpec],
        run: nav::watch,
    },
    Command {
        name: "info",
        aliases: &["i"],
        category: Category::Breakpoints,
        usage: "info breakpoints|checkpoints|trace",
        summary: "Lists the breakpoints and watchpoints, the ground-truth checkpoints, or what the trace holds.",
        help: "`info trace` also gives the time-travel checkpoint interval.",
        args: &[ArgKind::InfoTopic],
        run: nav::info,
    },
    Command {
        name: "delete",
        aliases: &["d"],
        category: Category::Breakpoints,
        usage: "delete N...",
        summary: "Deletes breakpoints or watchpoints by number.",
        help: "",
        args: &[ArgKind::BreakpointId],
        run: nav::delete,
    },
    Command {
        name: "disable",
        aliases: &[],
        category: Category::Breakpoints,
        usage: "disable N...",
        summary: "Disables breakpoints or watchpoints by number; they stay listed.",
        help: "",
        args: &[ArgKind::BreakpointId],
        run: nav::disable,
    },
    Command {
        name: "enable",
        aliases: &[],
        category: Category::Breakpoints,
        usage: "enable N...",
        summary: "Enables disabled breakpoints or watchpoints.",
        help: "",
        args: &[ArgKind::BreakpointId],
        run: nav::enable,
    },
    Command {
        name: "page",
        aliases: &["p"],
        category: Category::Inspection,
        usage: "page X",
        summary: "Shows a page: flags, mapcounts, refcount with its parts, LRU list or batch, memcg, swap, mappings.",
        help: "X is a pfn (`0x100010`) or `PID:VADDR` (`3175:0x7f5a3c010000`), the page that process maps there. \
               `_mapcount` is the raw field (-1 = unmapped); `page_mapcount` is what /proc/kpagecount shows.",
        args: &[ArgKind::Page],
        run: inspect::page,
    },
    Command {
        name: "rmap",
        aliases: &[],
        category: Category::Inspection,
        usage: "rmap X",
        summary: "Lists every mapping of a page: process, address and PTE bits.",
        help: "",
        args: &[ArgKind::Page],
        run: inspect::rmap,
    },
    Command {
        name: "history",
        aliases: &["hist"],
        category: Category::Inspection,
        usage: "history X",
        summary: "Lists every change to a page up to the cursor: event, time, operation, process, old -> new.",
        help: "The first `history` replays the trace with per-page history on, from the start to the cursor; later \
               ones continue from there when the cursor moved forwards.",
        args: &[ArgKind::Page],
        run: inspect::history,
    },
    Command {
        name: "explain",
        aliases: &[],
        category: Category::Inspection,
        usage: "explain X",
        summary: "Explains a page's mapcount and state: the events that made them what they are.",
        help: "",
        args: &[ArgKind::Page],
        run: inspect::explain,
    },
    Command {
        name: "pte",
        aliases: &[],
        category: Category::Inspection,
        usage: "pte P VADDR",
        summary: "Shows the page table entry of a process at an address, and its VMA.",
        help: "",
        args: &[ArgKind::Pid, ArgKind::Addr],
        run: inspect::pte,
    },
    Command {
        name: "maps",
        aliases: &[],
        category: Category::Inspection,
        usage: "maps P",
        summary: "Lists a process's VMAs, as /proc/PID/maps does, with the flags beyond the permissions.",
        help: "",
        args: &[ArgKind::Pid],
        run: inspect::maps,
    },
    Command {
        name: "smaps",
        aliases: &[],
        category: Category::Inspection,
        usage: "smaps P",
        summary: "Shows a process's smaps_rollup and each VMA's Rss, Pss and Anonymous.",
        help: "",
        args: &[ArgKind::Pid],
        run: inspect::smaps,
    },
    Command {
        name: "rss",
        aliases: &[],
        category: Category::Inspection,
        usage: "rss P",
        summary: "Shows a process's RSS counters (mm->rss_stat) beside the kernel's last rss_stat of its mm.",
        help: "In a real trace each counter is shown beside the kernel's last `kmem:rss_stat` for the same mm at or \
before the cursor, with its line; when the model disagreed at that event, what the model had then. In an mm \
event trace the counters are shown in pages and kB.",
        args: &[ArgKind::Pid],
        run: inspect::rss,
    },
    Command {
        name: "ps",
        aliases: &[],
        category: Category::Inspection,
        usage: "ps",
        summary: "Lists the tasks: pid, thread group, command, mm and RSS.",
        help: "",
        args: &[],
        run: inspect::ps,
    },
    Command {
        name: "lru",
        aliases: &[],
        category: Category::Inspection,
        usage: "lru",
        summary: "Shows the LRU lists' sizes and what each CPU's folio batches hold.",
        help: "",
        args: &[],
        run: inspect::lru,
    },
    Command {
        name: "vmstat",
        aliases: &[],
        category: Category::Inspection,
        usage: "vmstat",
        summary: "Shows the non-zero vm event counters and the page totals.",
        help: "",
        args: &[],
        run: inspect::vmstat,
    },
    Command {
        name: "check",
        aliases: &[],
        category: Category::Inspection,
        usage: "check",
        summary: "Runs the invariant checker on the state at the cursor.",
        help: "",
        args: &[],
        run: inspect::check,
    },
    Command {
        name: "divergences",
        aliases: &["div"],
        category: Category::Inspection,
        usage: "divergences",
        summary: "Lists where a real trace contradicted the model, with the event each follows.",
        help: "The lowering keeps the first divergences in full and counts the rest.",
        args: &[],
        run: inspect::divergences,
    },
    Command {
        name: "verify",
        aliases: &[],
        category: Category::Inspection,
        usage: "verify [N]",
        summary: "Compares a ground-truth checkpoint of a real recording with the model at that point.",
        help: "Without N, the last checkpoint at or before the cursor. Each `mmdb-page` line is compared on \
               present, swapped, pfn, mapcount, exclusivity and the kpageflags `mmdb replay --verify` compares; \
               each `mmdb-rollup` on its smaps and RSS figures. The first disagreements are listed with their \
               marker lines.",
        args: &[ArgKind::Count],
        run: inspect::verify,
    },
    Command {
        name: "diff",
        aliases: &[],
        category: Category::Inspection,
        usage: "diff A B",
        summary: "Shows what changed between the states after events A and B: pages, RSS counters, vmstat.",
        help: "",
        args: &[ArgKind::Event, ArgKind::Event],
        run: inspect::diff,
    },
    Command {
        name: "help",
        aliases: &["h", "?"],
        category: Category::Session,
        usage: "help [COMMAND]",
        summary: "Lists the commands, or explains one.",
        help: "",
        args: &[ArgKind::Command],
        run: help,
    },
    Command {
        name: "quit",
        aliases: &["q", "exit"],
        category: Category::Session,
        usage: "quit",
        summary: "Leaves mmdb (so does Ctrl-D).",
        help: "",
        args: &[],
        run: |_, _| Ok(Styled::new()),
    },
];

/// The command called `name`: by name, alias, or unique prefix of a name.
pub fn find(name: &str) -> Option<&'static Command> {
    if let Some(c) = COMMANDS.iter().find(|c| c.name == name || c.aliases.contains(&name)) {
        return Some(c);
    }
    let mut prefixed = COMMANDS.iter().filter(|c| !name.is_empty() && c.name.starts_with(name));
    match (prefixed.next(), prefixed.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// The command name closest to `name`, when one is close enough to be a likely typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()).map(move |n| (n, c.name)))
        .map(|(n, canonical)| (strsim::damerau_levenshtein(name, n), canonical))
        .filter(|(d, _)| *d <= 2.max(name.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// What executing one line did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub output: Styled,
    pub status: Status,
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// The command failed or was not understood; the session is unchanged.
    Error,
    /// The user asked to leave.
    Quit,
}

impl Session {
    /// Executes one command line. Never panics; an error leaves the session where it was.
    pub fn execute(&mut self, line: &str) -> Response {
        self.clear_interrupt();
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&name, args)) = words.split_first() else {
            return Response { output: Styled::new(), status: Status::Ok };
        };
        let Some(cmd) = find(name) else {
            let mut out = Styled::new();
            let prefixed: Vec<&str> = COMMANDS.iter().map(|c| c.name).filter(|n| n.starts_with(name)).collect();
            if prefixed.len() > 1 {
                out.push(Label::Error, "error:").text(format!(" `{name}` is ambiguous: {}", prefixed.join(", ")));
                out.nl();
                return Response { output: out, status: Status::Error };
            }
            out.push(Label::Error, "error:").text(format!(" unknown command `{name}`"));
            if let Some(s) = suggest(name) {
                out.text(": did you mean `").push(Label::Event, s).text("`?");
            }
            out.nl().push(Label::Dim, "Type `help` for the list of commands.").nl();
            return Response { output: out, status: Status::Error };
        };
        if cmd.name == "quit" {
            return Response { output: Styled::new(), status: Status::Quit };
        }
        match (cmd.run)(self, args) {
            Ok(output) => Response { output, status: Status::Ok },
            Err(CmdError::Usage(msg)) => {
                let mut out = Styled::new();
                out.push(Label::Error, "error:").text(format!(" {msg}")).nl();
                out.push(Label::Dim, "usage: ").text(cmd.usage).nl();
                Response { output: out, status: Status::Error }
            }
            Err(CmdError::Failed(msg)) => {
                let mut out = Styled::new();
                out.push(Label::Error, "error:").text(format!(" {msg}")).nl();
                Response { output: out, status: Status::Error }
            }
        }
    }
}

/// Joins a paragraph of help text that the source wraps, keeping blank-line paragraph breaks.
fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n").map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|p| !p.is_empty()).collect()
}

/// Wraps a paragraph at `width` columns, for the terminal.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        if col > 0 && col + 1 + n > width {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += n;
    }
    out
}

/// `help [COMMAND]`.
fn help(_: &mut Session, args: &[&str]) -> CmdResult {
    let mut out = Styled::new();
    match args {
        [] => {
            for (i, cat) in Category::ALL.iter().enumerate() {
                if i > 0 {
                    out.nl();
                }
                out.line(Label::Heading, cat.title());
                for c in COMMANDS.iter().filter(|c| c.category == *cat) {
                    out.text("  ").push(Label::Event, format!("{:<18}", c.name)).text(c.summary).nl();
                }
            }
            out.nl().push(Label::Dim, "Type `help COMMAND` for a command's arguments and details.").nl();
        }
        [name] => {
            let Some(c) = find(name) else {
                let hint = suggest(name).map(|s| format!(": did you mean `{s}`?")).unwrap_or_default();
                return Err(CmdError::Failed(format!("no command `{name}`{hint}")));
            };
            out.push(Label::Heading, c.usage).nl();
            if !c.aliases.is_empty() {
                out.push(Label::Dim, format!("aliases: {}", c.aliases.join(", "))).nl();
            }
            out.text(c.summary).nl();
            for p in paragraphs(c.help) {
                out.nl().text(wrap(&p, 100)).nl();
            }
        }
        _ => return Err(CmdError::Usage("`help` takes at most one command name".to_string())),
    }
    Ok(out)
}

/// The Markdown command reference of the book, generated from [`COMMANDS`].
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str("# The REPL's commands\n\n");
    out.push_str(
        "<!-- Generated from the REPL's command table (crates/mmdb-repl/src/commands.rs); a test keeps it current. -->\n\n",
    );
    out.push_str("Every command of `mmdb repl`, as `help COMMAND` explains it.\n");
    out.push_str("A unique prefix of a command name works too (`cont` for `continue`).\n");
    for cat in Category::ALL {
        let _ = write!(out, "\n## {}\n", cat.title());
        for c in COMMANDS.iter().filter(|c| c.category == cat) {
            let _ = write!(out, "\n### `{}`\n\n", c.usage);
            if !c.aliases.is_empty() {
                let aliases: Vec<String> = c.aliases.iter().map(|a| format!("`{a}`")).collect();
                let _ = writeln!(out, "Aliases: {}.\n", aliases.join(", "));
            }
            let _ = writeln!(out, "{}", c.summary);
            for p in paragraphs(c.help) {
                let _ = write!(out, "\n{p}\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_unique() {
        let mut all: Vec<&str> =
            COMMANDS.iter().flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied())).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        for c in COMMANDS {
            assert!(c.usage.starts_with(c.name), "{}: usage must start with the name", c.name);
        }
    }

    #[test]
    fn typos_get_suggestions() {
        assert_eq!(suggest("rmpa"), Some("rmap"));
        assert_eq!(suggest("contineu"), Some("continue"));
        assert_eq!(suggest("xyzzyplugh"), None);
        assert_eq!(find("cont").map(|c| c.name), Some("continue"));
        assert_eq!(find("re").map(|c| c.name), None);
    }
}
