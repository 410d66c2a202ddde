//! `sched` and `task` events: the process lifecycle.
//!
//! ```text
//! sched_process_fork:  print fmt: "comm=%s pid=%d child_comm=%s child_pid=%d"
//!     comm=basic pid=3175 child_comm=basic child_pid=3180
//! sched_process_exec:  print fmt: "filename=%s pid=%d old_pid=%d"
//! sched_process_exit:  print fmt: "comm=%s pid=%d prio=%d group_dead=%s" (group_dead: `true`/`false`)
//! sched_process_free:  print fmt: "comm=%s pid=%d prio=%d"
//! task_newtask:        print fmt: "pid=%d comm=%s clone_flags=%llx oom_score_adj=%hd"
//! ```
//!
//! `sched_process_fork` prints its `parent_comm`/`parent_pid` fields as `comm=`/`pid=`. Comms and file names may
//! contain blanks (`comm=Web Content pid=2801`). `clone_flags` is hex without `0x`. Kernels before 6.8 print no
//! `group_dead`.

use crate::diag::LineError;
use crate::fields::Kv;

use super::Record;

/// `sched:sched_process_fork`: `copy_process()` finished; the child's mm is a full copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedProcessFork {
    /// The parent's comm (printed `comm=`).
    pub parent_comm: String,
    /// The parent's pid (printed `pid=`).
    pub parent_pid: u32,
    /// The child's comm.
    pub child_comm: String,
    /// The child's pid (a thread id for a thread).
    pub child_pid: u32,
}

/// `sched:sched_process_exec`: an exec succeeded; the task runs the new image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedProcessExec {
    /// The file name as passed to exec.
    pub filename: String,
    /// The pid after exec (the thread group leader's).
    pub pid: u32,
    /// The pid of the thread that called exec.
    pub old_pid: u32,
}

/// `sched:sched_process_exit`: a task exits, before `exit_mm()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedProcessExit {
    /// The task's comm.
    pub comm: String,
    /// The task's pid.
    pub pid: u32,
    /// The task's priority.
    pub prio: i32,
    /// Whether the whole thread group is dead (6.8+; `None` when the kernel does not print it).
    pub group_dead: Option<bool>,
}

/// `sched:sched_process_free`: the task struct is freed (RCU).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedProcessFree {
    /// The task's comm.
    pub comm: String,
    /// The task's pid.
    pub pid: u32,
    /// The task's priority.
    pub prio: i32,
}

/// `task:task_newtask`: inside `copy_process()`, for processes and threads alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskNewtask {
    /// The new task's pid.
    pub pid: u32,
    /// The new task's comm.
    pub comm: String,
    /// The `CLONE_*` flags.
    pub clone_flags: u64,
    /// The new task's `oom_score_adj`, when printed.
    pub oom_score_adj: Option<i16>,
}

pub(super) fn sched_process_fork(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::SchedProcessFork(SchedProcessFork {
        parent_comm: kv.req_any(&["comm", "parent_comm"])?.string(),
        parent_pid: kv.req_any(&["pid", "parent_pid"])?.u32()?,
        child_comm: kv.req("child_comm")?.string(),
        child_pid: kv.req("child_pid")?.u32()?,
    }))
}

pub(super) fn sched_process_exec(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::SchedProcessExec(SchedProcessExec {
        filename: kv.req("filename")?.string(),
        pid: kv.req("pid")?.u32()?,
        old_pid: kv.req("old_pid")?.u32()?,
    }))
}

pub(super) fn sched_process_exit(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::SchedProcessExit(SchedProcessExit {
        comm: kv.req("comm")?.string(),
        pid: kv.req("pid")?.u32()?,
        prio: kv.req("prio")?.i32()?,
        group_dead: kv.get("group_dead").map(|v| v.bool()).transpose()?,
    }))
}

pub(super) fn sched_process_free(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::SchedProcessFree(SchedProcessFree {
        comm: kv.req("comm")?.string(),
        pid: kv.req("pid")?.u32()?,
        prio: kv.req("prio")?.i32()?,
    }))
}

pub(super) fn task_newtask(kv: &Kv<'_>) -> Result<Record, LineError> {
    let oom_score_adj = match kv.get("oom_score_adj") {
        Some(v) => Some(v.text.parse().map_err(|_| v.error("a 16-bit integer"))?),
        None => None,
    };
    Ok(Record::TaskNewtask(TaskNewtask {
        pid: kv.req("pid")?.u32()?,
        comm: kv.req("comm")?.string(),
        clone_flags: kv.req("clone_flags")?.hex()?,
        oom_score_adj,
    }))
}
