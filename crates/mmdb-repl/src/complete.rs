//! Completion and hints, computed from the command table and the state at the cursor; the CLI's line editor
//! only asks.

use crate::breakpoints::{EVENT_FIELDS, PAGE_FIELDS, RSS_COUNTERS};
use crate::commands::{find, ArgKind, COMMANDS};
use crate::nav::INFO_TOPICS;
use crate::session::Session;
use mmdb_model::consts::MADV_NAMES;

/// What completing a word offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// The byte offset where the word being completed starts.
    pub start: usize,
    /// The words that complete it, sorted.
    pub candidates: Vec<String>,
    /// Whether the word is a file path (the argument of `source`), which the front end completes from the file
    /// system.
    pub path: bool,
}

/// Completes the word that ends at byte `pos` of `line`.
pub fn complete(session: &Session, line: &str, pos: usize) -> Completion {
    let pos = if line.is_char_boundary(pos) { pos.min(line.len()) } else { line.len() };
    let before = &line[..pos];
    let start = before.char_indices().rev().find(|(_, c)| c.is_whitespace()).map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[start..];
    let done: Vec<&str> = before[..start].split_whitespace().collect();
    let mut path = false;
    let mut candidates: Vec<String> = match done.split_first() {
        None => COMMANDS
            .iter()
            .map(|c| c.name.to_string())
            .chain(session.scripting().commands().into_iter().map(|c| c.name))
            .collect(),
        Some((name, args)) => match find(name) {
            None => Vec::new(),
            Some(cmd) if cmd.args.first() == Some(&ArgKind::File) => {
                path = true;
                Vec::new()
            }
            Some(cmd) => {
                let kind = cmd.args.get(args.len()).or(cmd.args.last()).copied();
                match kind {
                    Some(k) => arg_candidates(session, k, args),
                    None => Vec::new(),
                }
            }
        },
    };
    candidates.retain(|c| c.starts_with(word));
    candidates.sort();
    candidates.dedup();
    Completion { start, candidates, path }
}

/// The candidates for an argument of kind `kind` after the arguments `args`.
fn arg_candidates(s: &Session, kind: ArgKind, args: &[&str]) -> Vec<String> {
    let strs = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let conditional = matches!(kind, ArgKind::BreakSpec | ArgKind::WatchSpec);
    if let Some(i) = args.iter().position(|a| *a == "if").filter(|_| conditional) {
        return match args.len() - i {
            1 => EVENT_FIELDS.iter().chain(PAGE_FIELDS).chain(RSS_COUNTERS).map(|x| x.to_string()).collect(),
            2 => strs(&["==", "!=", "<", "<=", ">", ">=", "~"]),
            _ => Vec::new(),
        };
    }
    match kind {
        ArgKind::Count | ArgKind::Addr | ArgKind::Event | ArgKind::Expr | ArgKind::File => Vec::new(),
        ArgKind::Target => match args {
            [] => strs(&["start", "end", "checkpoint"]),
            ["checkpoint"] => s.program().checkpoints.iter().map(|c| c.id.to_string()).collect(),
            _ => Vec::new(),
        },
        ArgKind::Page => pages(s),
        ArgKind::Pid => pids(s),
        ArgKind::BreakSpec => match args {
            [] => {
                let mut v = strs(&["pid", "pfn", "addr", "madvise", "divergence", "violation"]);
                v.extend(mmdb_trace::events::event_names().map(str::to_string));
                v
            }
            ["pid"] => pids(s),
            ["pfn"] => folio_pfns(s),
            ["addr"] => pids(s).into_iter().map(|p| format!("{p}:")).collect(),
            ["madvise"] => MADV_NAMES.iter().map(|(n, _)| n.to_string()).collect(),
            _ => strs(&["if"]),
        },
        ArgKind::WatchSpec => match args {
            [] => strs(&["page", "rss"]),
            ["page"] => pages(s),
            ["rss"] => pids(s),
            ["page", _] => PAGE_FIELDS.iter().map(|x| x.to_string()).chain(["if".to_string()]).collect(),
            ["rss", _] => RSS_COUNTERS.iter().map(|x| x.to_string()).chain(["if".to_string()]).collect(),
            _ => strs(&["if"]),
        },
        ArgKind::BreakpointId => s.breakpoints().iter().map(|b| b.id.to_string()).collect(),
        ArgKind::Command => COMMANDS.iter().map(|c| c.name.to_string()).collect(),
        ArgKind::InfoTopic => strs(INFO_TOPICS),
    }
}

fn pids(s: &Session) -> Vec<String> {
    s.model().tasks().map(|t| t.pid.to_string()).collect()
}

fn folio_pfns(s: &Session) -> Vec<String> {
    s.model().folios_sorted().iter().map(|f| format!("{:#x}", f.pfn)).collect()
}

/// Pages: the pfns of the folios, then `PID:` for each process.
fn pages(s: &Session) -> Vec<String> {
    let mut v = folio_pfns(s);
    v.extend(pids(s).into_iter().map(|p| format!("{p}:")));
    v
}

/// A hint to show after what is typed: the rest of a unique command name, or the arguments a command takes.
pub fn hint(line: &str) -> Option<String> {
    if line.trim().is_empty() || line.starts_with(char::is_whitespace) {
        return None;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() == 1 && !line.ends_with(char::is_whitespace) {
        let mut matching = COMMANDS.iter().filter(|c| c.name.starts_with(words[0]));
        return match (matching.next(), matching.next()) {
            (Some(c), None) if c.name != words[0] => Some(c.name[words[0].len()..].to_string()),
            _ => None,
        };
    }
    if words.len() == 1 && line.ends_with(' ') && !line.ends_with("  ") {
        let cmd = find(words[0])?;
        let rest = cmd.usage.strip_prefix(cmd.name)?.trim_start();
        return (!rest.is_empty()).then(|| rest.to_string());
    }
    None
}
