//! The traced processes: who they are (descendants of the recorder), whether they are stopped, and signalling them.
//!
//! The kernel here has no `/proc/PID/task/TID/children`, so the process tree comes from a scan of `/proc/*/stat`.
//! The recorder is a child subreaper, so a traced process whose parent exits is re-parented to the recorder and
//! stays in the tree.

use std::collections::BTreeMap;
use std::fs;
use std::io;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The fields of `/proc/PID/stat` the recorder uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// The process id.
    pub pid: i32,
    /// The parent's process id.
    pub ppid: i32,
    /// The state letter: `R` running, `S` sleeping, `D` disk sleep, `T` stopped, `Z` zombie, ...
    pub state: char,
}

impl ProcStat {
    /// Parses `/proc/PID/stat`: `pid (comm) state ppid ...`, where comm may contain spaces and parentheses.
    pub fn parse(text: &str) -> Option<ProcStat> {
        let (pid, rest) = text.split_once(" (")?;
        let (_comm, rest) = rest.rsplit_once(") ")?;
        let mut fields = rest.split(' ');
        let state = fields.next()?.chars().next()?;
        let ppid = fields.next()?.parse().ok()?;
        Some(ProcStat { pid: pid.parse().ok()?, ppid, state })
    }

    /// Whether the task is gone or going: a zombie or dead.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Every process of the machine (thread-group leaders, as `/proc` lists them).
pub fn scan() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let name = e.file_name();
        let name = name.to_str()?;
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        ProcStat::parse(&fs::read_to_string(format!("/proc/{name}/stat")).ok()?)
    })
    .collect()
}

/// The descendants of `root` (not `root` itself), leaving out the subtrees of `exclude`, sorted by pid.
pub fn descendants(all: &[ProcStat], root: i32, exclude: &[i32]) -> Vec<ProcStat> {
    let mut children: BTreeMap<i32, Vec<&ProcStat>> = BTreeMap::new();
    for p in all {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(parent) = todo.pop() {
        for &c in children.get(&parent).map(Vec::as_slice).unwrap_or_default() {
            if c.pid == root || exclude.contains(&c.pid) {
                continue;
            }
            out.push(*c);
            todo.push(c.pid);
        }
    }
    out.sort_by_key(|p| p.pid);
    out
}

/// The state letters of every thread of process `pid`; an error once the process is gone.
pub fn thread_states(pid: i32) -> io::Result<Vec<char>> {
    let mut states = Vec::new();
    for e in fs::read_dir(format!("/proc/{pid}/task"))? {
        let e = e?;
        // A thread that exits between the listing and the read is simply not counted.
        if let Ok(text) = fs::read_to_string(e.path().join("stat")) {
            if let Some(st) = ProcStat::parse(&text) {
                states.push(st.state);
            }
        }
    }
    Ok(states)
}

/// How far a process is from a consistent snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Every thread is stopped (`T`) or held by the recorder in a ptrace-stop (`t`), or exiting.
    Stopped,
    /// No thread is stopped or runnable: all sleep (`S`), waiting for something.
    Sleeping,
    /// Some thread runs or waits uninterruptibly (`R`, `D`, ...).
    Busy,
    /// The process is gone.
    Gone,
}

/// Classifies the thread states of one process.
pub fn activity_of(states: &[char]) -> Activity {
    let live: Vec<char> = states.iter().copied().filter(|s| !matches!(s, 'Z' | 'X' | 'x')).collect();
    if live.is_empty() {
        Activity::Gone
    } else if live.iter().all(|&s| matches!(s, 'T' | 't')) {
        Activity::Stopped
    } else if live.iter().all(|&s| matches!(s, 'T' | 't' | 'S' | 'I')) {
        Activity::Sleeping
    } else {
        Activity::Busy
    }
}

/// The activity of process `pid` right now.
pub fn activity(pid: i32) -> Activity {
    match thread_states(pid) {
        Ok(states) => activity_of(&states),
        Err(_) => Activity::Gone,
    }
}

/// Sends `sig` to `pid`; a process that is already gone is not an error.
pub fn signal(pid: i32, sig: Signal) -> io::Result<()> {
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(io::Error::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        assert_eq!(
            ProcStat::parse("8701 (cat) R 8696 8696 1563 0 -1 4194304 101 0"),
            Some(ProcStat { pid: 8701, ppid: 8696, state: 'R' })
        );
        // comm may hold spaces and parentheses: the last ") " ends it.
        assert_eq!(ProcStat::parse("12 (a) b (c) T 1 12 12 0"), Some(ProcStat { pid: 12, ppid: 1, state: 'T' }));
        assert_eq!(ProcStat::parse("garbage"), None);
    }

    #[test]
    fn descendants_skip_excluded_subtrees() {
        let p = |pid, ppid| ProcStat { pid, ppid, state: 'S' };
        let all = [p(1, 0), p(10, 1), p(11, 10), p(12, 10), p(13, 11), p(20, 10), p(21, 20), p(30, 1)];
        let pids = |v: Vec<ProcStat>| v.iter().map(|p| p.pid).collect::<Vec<_>>();
        assert_eq!(pids(descendants(&all, 10, &[])), [11, 12, 13, 20, 21]);
        assert_eq!(pids(descendants(&all, 10, &[20])), [11, 12, 13]);
        assert_eq!(pids(descendants(&all, 13, &[])), Vec::<i32>::new());
    }

    #[test]
    fn activities() {
        assert_eq!(activity_of(&['T', 'T']), Activity::Stopped);
        assert_eq!(activity_of(&['T', 'Z']), Activity::Stopped);
        assert_eq!(activity_of(&['t', 'T']), Activity::Stopped);
        assert_eq!(activity_of(&['t', 'S']), Activity::Sleeping);
        assert_eq!(activity_of(&['S', 'T']), Activity::Sleeping);
        assert_eq!(activity_of(&['S', 'R']), Activity::Busy);
        assert_eq!(activity_of(&['D']), Activity::Busy);
        assert_eq!(activity_of(&['Z']), Activity::Gone);
        assert_eq!(activity_of(&[]), Activity::Gone);
    }
}
