//! The command table: one record per command (name, aliases, usage, help, argument kinds, handler) that drives
//! dispatch, `help`, completion and the book's command reference.

use std::fmt::Write as _;

use mmdb_script::UserCommand;

use crate::inspect;
use crate::nav;
use crate::script;
use crate::session::Session;
use crate::styled::{Label, Styled};

/// A group of commands, as `help` and the reference list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Navigation,
    Breakpoints,
    Inspection,
    Scripting,
    Session,
}

impl Category {
    /// Every category, in the order `help` lists them.
    pub const ALL: [Category; 5] =
        [Category::Navigation, Category::Breakpoints, Category::Inspection, Category::Scripting, Category::Session];

    /// The heading.
    pub fn title(self) -> &'static str {
        match self {
            Category::Navigation => "Navigation",
            Category::Breakpoints => "Breakpoints and watchpoints",
            Category::Inspection => "Inspection",
            Category::Scripting => "Scripting with Rhai",
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
    /// What `break` breaks on, then `if CONDITION`.
    BreakSpec,
    /// What `watch` watches, then `if CONDITION`.
    WatchSpec,
    /// A breakpoint number.
    BreakpointId,
    /// A command name.
    Command,
    /// A topic of `info`.
    InfoTopic,
    /// The rest of the line, as typed: a Rhai expression.
    Expr,
    /// A file path, which the front end completes.
    File,
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdError {
    /// The arguments are wrong: the message, then the command's usage.
    Usage(String),
    /// The command could not do what was asked.
    Failed(String),
    /// The command failed and says why in labelled output of its own (a located script error, a run stopped by
    /// a failing condition).
    Output(Styled),
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
        usage: "break EVENT-NAME|pid P|pfn X|addr P:VADDR|madvise [ADVICE]|divergence|violation [if CONDITION]",
        summary: "Sets a breakpoint.",
        help: "`break fork` fires at every fork event; `break pid 3176` at every event of that task; `break pfn \
               0x100010` at every event that changes that page; `break addr 3175:0x7f5a3c010000` at every event \
               of that task on that address and every change of its PTE; `break madvise free` at every \
               MADV_FREE; `break divergence` where a real trace contradicted the model; `break violation` where \
               the invariant checker finds a new violation (slow: it checks after every event).\n\n\
               A condition `if CONDITION` keeps only the stops where it holds. It is read as the simple form \
               `FIELD OP VALUE` when its first word is one of the fields below, and as a Rhai expression \
               otherwise.\n\n\
               The simple form: OP is one of == != < <= > >= and ~ (contains), VALUE is one word. FIELD is an \
               event field (pid cpu ts comm event addr len advice access child value pfn), a page field of the \
               breakpoint's page (mapcount raw_mapcount folio_mapcount refcount flags lru lazyfree \
               anon_exclusive order memcg swap rmap) or an rss counter of the event's process (file anon \
               swapents shmem). Example: `break fault if addr >= 0x7f5a3c020000`.\n\n\
               A Rhai condition is compiled once, when the breakpoint is set, and evaluated after each event \
               the breakpoint fires at; it must give a boolean. It reads the state after the event with the \
               query API (`page`, `rmap`, `smaps`, `rss`, `vmstat`, `ps()`, ...; `history` is empty there) and \
               sees the event as `event`: a map of `number`, `name`, `pid`, `cpu`, `ts` (ns), `comm` and, when \
               the event has them, `addr`, `len`, `advice` (a number: `event.advice == MADV_FREE`), `access`, \
               `child`, `value` and `pfn`. Functions and constants that `source` and `rhai` defined can be used. \
               Example: `break madvise if page(0x100000).mapcount > 1`. A condition that fails (an error, or a \
               value that is not a boolean) stops the run at that event and says why.",
        args: &[ArgKind::BreakSpec],
        run: nav::break_,
    },
    Command {
        name: "watch",
        aliases: &[],
        category: Category::Breakpoints,
        usage: "watch page X [FIELD]|rss P [COUNTER] [if CONDITION]",
        summary: "Sets a watchpoint: stops where a page field or an RSS counter changes, showing old and new.",
        help: "X is a pfn (`0x100010`) or `PID:VADDR`, which is looked up again at every event. Without FIELD \
               the page's mapcount, refcount, LRU list, flags and exclusivity are watched together. FIELD is one \
               of mapcount raw_mapcount folio_mapcount refcount flags lru lazyfree anon_exclusive order memcg \
               swap rmap; COUNTER one of file anon swapents shmem. A condition is read as `break` reads it (see \
               `help break`): `watch rss 3175 anon if anon < 48`, or in Rhai, `watch page 0x100000 if \
               event.pid == 3176`.",
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
        help: "The REPL records every page's history once, as it opens the trace (`info trace` says how much and \
               names the busiest page); `history` reads it up to the cursor, so it costs the same anywhere.",
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
        name: "statm",
        aliases: &[],
        category: Category::Inspection,
        usage: "statm P",
        summary: "Shows a process's /proc/PID/statm: sizes in pages, with the lazyfree-rss profiles' eighth field.",
        help: "The line `/proc/P/statm` would print, then each field named: size (every VMA), resident (file, anon \
and shmem RSS), shared (file and shmem), text (0: the model keeps no ELF code bounds), lib and dt (always 0), data \
(private writable VMAs and stacks), and under the `lazyfree-rss` profiles the never-merged eighth field, \
MM_LAZYFREEPAGES.",
        args: &[ArgKind::Pid],
        run: inspect::statm,
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
        name: "rhai",
        aliases: &[":"],
        category: Category::Scripting,
        usage: "rhai EXPR",
        summary: "Evaluates Rhai against the state at the cursor and prints the value and what it printed.",
        help: "`: page(0x100000).mapcount` is the same as `rhai page(0x100000).mapcount`. EXPR is the rest of the \
               line, an expression or several statements, with the query API of scripts (see the book's script \
               API): `page(pfn)`, `page(pid, addr)`, `rmap(f)`, `history(f)`, `smaps(pid)`, `rss(pid)`, \
               `vmstat()`, `ps()`, `pages()`, `check()` and the kernel constants. `event` is the event at the \
               cursor (a map, see `help break`; `()` at the start). What EXPR defines stays for later \
               expressions, conditions and commands: `rhai fn many(pfn) { page(pfn).mapcount > 1 }`, `rhai \
               let hot = 0x100000`. Errors give the column in the expression. Variables must be defined before \
               they are used, so a misspelt name is an error before anything runs.",
        args: &[ArgKind::Expr],
        run: script::rhai,
    },
    Command {
        name: "source",
        aliases: &[],
        category: Category::Scripting,
        usage: "source FILE",
        summary: "Runs a Rhai file against the state at the cursor; what it defines stays for the session.",
        help: "The file can print, define functions and constants for later `rhai` expressions and \
               conditions, and add commands: `register_command(\"lazy\", \"Lists the lazyfree pages of a \
               process.\", |args| { ... })` makes `lazy` a command of this session, listed by `help` with its \
               help text; its function gets the words after the command name as an array of strings and what it \
               prints or returns is shown. A command cannot take the name of a built-in one. Sourcing a file \
               again replaces its definitions. As always in Rhai, a function sees only its parameters and the \
               constants of the API, while a closure captures the variables it uses. A file that fails (a syntax \
               error, an error while it runs) defines nothing, and the error gives its file, line and column.",
        args: &[ArgKind::File],
        run: script::source,
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
    /// The command failed or was not understood; the session is unchanged, except after a run that a failing
    /// breakpoint condition stopped: the cursor stays at the event where it failed.
    Error,
    /// The user asked to leave.
    Quit,
}

/// What a command name typed at the prompt names.
enum Resolved {
    Builtin(&'static Command),
    User(UserCommand),
    /// A prefix of several commands.
    Ambiguous(Vec<String>),
    Unknown,
}

/// Resolves `name`: a built-in command's name or alias, a registered command's name, then a unique prefix of
/// either.
fn resolve(s: &Session, name: &str) -> Resolved {
    if let Some(c) = COMMANDS.iter().find(|c| c.name == name || c.aliases.contains(&name)) {
        return Resolved::Builtin(c);
    }
    let users = s.scripting().commands();
    if let Some(u) = users.iter().find(|u| u.name == name) {
        return Resolved::User(u.clone());
    }
    if name.is_empty() {
        return Resolved::Unknown;
    }
    let builtins: Vec<&'static Command> = COMMANDS.iter().filter(|c| c.name.starts_with(name)).collect();
    let prefixed: Vec<&UserCommand> = users.iter().filter(|u| u.name.starts_with(name)).collect();
    match (builtins.as_slice(), prefixed.as_slice()) {
        ([], []) => Resolved::Unknown,
        ([c], []) => Resolved::Builtin(c),
        ([], [u]) => Resolved::User((*u).clone()),
        _ => Resolved::Ambiguous(
            builtins.iter().map(|c| c.name.to_string()).chain(prefixed.iter().map(|u| u.name.clone())).collect(),
        ),
    }
}

impl Session {
    /// Executes one command line. Never panics; an error leaves the session where it was, except a run that a
    /// failing breakpoint condition stopped, which stays at the event where it failed.
    pub fn execute(&mut self, line: &str) -> Response {
        self.clear_interrupt();
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&name, args)) = words.split_first() else {
            return Response { output: Styled::new(), status: Status::Ok };
        };
        self.set_line_args(line[name.len()..].trim());
        let result = match resolve(self, name) {
            Resolved::Builtin(cmd) if cmd.name == "quit" => {
                return Response { output: Styled::new(), status: Status::Quit };
            }
            Resolved::Builtin(cmd) => (cmd.run)(self, args).map_err(|e| (e, cmd.usage.to_string())),
            Resolved::User(cmd) => {
                script::run_command(self, &cmd, args).map_err(|e| (e, format!("{} [ARGS...]", cmd.name)))
            }
            Resolved::Ambiguous(names) => {
                let mut out = Styled::new();
                out.push(Label::Error, "error:").text(format!(" `{name}` is ambiguous: {}", names.join(", ")));
                out.nl();
                return Response { output: out, status: Status::Error };
            }
            Resolved::Unknown => {
                let mut out = Styled::new();
                out.push(Label::Error, "error:").text(format!(" unknown command `{name}`"));
                if let Some(s) = suggest(name) {
                    out.text(": did you mean `").push(Label::Event, s).text("`?");
                }
                out.nl().push(Label::Dim, "Type `help` for the list of commands.").nl();
                return Response { output: out, status: Status::Error };
            }
        };
        match result {
            Ok(output) => Response { output, status: Status::Ok },
            Err((CmdError::Usage(msg), usage)) => {
                let mut out = Styled::new();
                out.push(Label::Error, "error:").text(format!(" {msg}")).nl();
                out.push(Label::Dim, "usage: ").text(usage).nl();
                Response { output: out, status: Status::Error }
            }
            Err((CmdError::Failed(msg), _)) => {
                let mut out = Styled::new();
                out.push(Label::Error, "error:").text(format!(" {msg}")).nl();
                Response { output: out, status: Status::Error }
            }
            Err((CmdError::Output(out), _)) => Response { output: out, status: Status::Error },
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

/// The first sentence of a help text: what `help` lists.
fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    match text.find(". ") {
        Some(i) => &text[..=i],
        None => text,
    }
}

/// `help [COMMAND]`.
fn help(s: &mut Session, args: &[&str]) -> CmdResult {
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
            let users = s.scripting().commands();
            if !users.is_empty() {
                out.nl().line(Label::Heading, "Registered by scripts");
                for u in &users {
                    let summary = first_sentence(&u.help).replace('\n', " ");
                    out.text("  ").push(Label::Event, format!("{:<18}", u.name)).text(summary).nl();
                }
            }
            out.nl().push(Label::Dim, "Type `help COMMAND` for a command's arguments and details.").nl();
        }
        [name] => match resolve(s, name) {
            Resolved::Builtin(c) => {
                out.push(Label::Heading, c.usage).nl();
                if !c.aliases.is_empty() {
                    out.push(Label::Dim, format!("aliases: {}", c.aliases.join(", "))).nl();
                }
                out.text(c.summary).nl();
                for p in paragraphs(c.help) {
                    out.nl().text(wrap(&p, 100)).nl();
                }
            }
            Resolved::User(u) => {
                out.push(Label::Heading, format!("{} [ARGS...]", u.name)).nl();
                out.push(Label::Dim, format!("registered by {}", u.file)).nl();
                for p in paragraphs(&u.help) {
                    out.text(wrap(&p, 100)).nl();
                }
            }
            Resolved::Ambiguous(_) | Resolved::Unknown => {
                let hint = suggest(name).map(|s| format!(": did you mean `{s}`?")).unwrap_or_default();
                return Err(CmdError::Failed(format!("no command `{name}`{hint}")));
            }
        },
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
