//! Following every traced thread with ptrace: each `execve`'s stop, forks, self-stops, and checkpoints.
//!
//! The command is attached (`PTRACE_SEIZE`) before its `execve` with `PTRACE_O_TRACEFORK | TRACEVFORK | TRACECLONE`,
//! so every thread and process it makes is attached from its first instruction (auto-attach), and with
//! `PTRACE_O_TRACEEXEC`, so every `execve` of the tree stops once the new image is in place and before it runs
//! (`PTRACE_EVENT_EXEC`, reported right after the `sched_process_exec` tracepoint): there the recorder reads the
//! layout exec chose and the page cache of the new image's files, for a shell's `cat` as for the command itself.
//!
//! Being the tracer changes how the recorder sees and makes stops:
//! - A thread that stops itself (`raise(SIGSTOP)`) reports a signal-delivery-stop: it is held there for the
//!   checkpoint and resumed with the signal suppressed, as if continued at once (which the recorder used to do
//!   with `SIGCONT`). Its parent's `waitpid(WUNTRACED)` does not see it stop.
//! - A checkpoint stops every thread with `PTRACE_INTERRUPT` (a `PTRACE_EVENT_STOP` trap at the same point a
//!   `SIGSTOP` would stop it) and resumes it with `PTRACE_CONT`: no signal is sent to the processes.
//! - Every other signal is passed on unchanged. A job-control stop (`SIGTSTP`, `SIGTTIN`, `SIGTTOU`: a group-stop)
//!   is resumed at once: the recorded processes are not kept stopped by job control.
//! - As under strace, a setuid program runs without its privileges, and a program that is itself a debugger
//!   cannot attach to its children.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use nix::sys::ptrace::{self, Event};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The ptrace options of every traced thread (auto-attached threads inherit them).
pub fn options() -> ptrace::Options {
    use ptrace::Options as O;
    O::PTRACE_O_TRACEEXEC
        | O::PTRACE_O_TRACEFORK
        | O::PTRACE_O_TRACEVFORK
        | O::PTRACE_O_TRACEVFORKDONE
        | O::PTRACE_O_TRACECLONE
        | O::PTRACE_O_EXITKILL
        | O::PTRACE_O_TRACESECCOMP
}

/// A stop where the recorder writes something before the thread goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// An `execve` of this pid completed: the new image waits before its first instruction.
    Exec(i32),
    /// This thread is about to `mmap()` a file ([`super::mmapstop`]).
    Mmap(i32),
}

/// A thread held in a ptrace-stop, and the signal to deliver when it is resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    inject: Option<Signal>,
}

/// What a report of a traced thread asks the recorder to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Report {
    /// The thread left: forget it.
    Gone,
    /// An `execve` completed: the new image's layout is to be written, then the thread resumed.
    Exec,
    /// The mmap filter stopped it before an `mmap()` of a file: the file is to be measured, then the thread resumed.
    Mmap,
    /// It made a thread or process `child` (which starts in a stop of its own), and waits to be resumed; after a
    /// `vfork()` it then waits for the child to execute or exit, which it reports ([`Report::VforkDone`]).
    Fork { child: i32, vfork: bool },
    /// The child of its `vfork()` executed or exited: it goes on.
    VforkDone,
    /// It stopped itself with `SIGSTOP`: a checkpoint is due; resume it without the signal.
    SelfStop,
    /// A signal is about to be delivered: resume it with the signal.
    Signal(Signal),
    /// Any other ptrace-stop (an interrupt, a new thread's first stop, a group-stop): resume it as it is.
    Trap,
}

/// Classifies one `waitpid()` report of a traced thread.
fn classify(status: WaitStatus) -> Option<Report> {
    Some(match status {
        WaitStatus::Exited(..) | WaitStatus::Signaled(..) => Report::Gone,
        WaitStatus::PtraceEvent(_, _, e) if e == Event::PTRACE_EVENT_EXEC as i32 => Report::Exec,
        WaitStatus::PtraceEvent(_, _, e) if e == Event::PTRACE_EVENT_SECCOMP as i32 => Report::Mmap,
        WaitStatus::PtraceEvent(pid, _, e)
            if [Event::PTRACE_EVENT_FORK, Event::PTRACE_EVENT_VFORK, Event::PTRACE_EVENT_CLONE]
                .iter()
                .any(|&f| f as i32 == e) =>
        {
            // The new thread's id (0 if ptrace cannot say: the thread is then not waited for).
            let child = ptrace::getevent(pid).ok().and_then(|c| i32::try_from(c).ok()).unwrap_or(0);
            Report::Fork { child, vfork: e == Event::PTRACE_EVENT_VFORK as i32 }
        }
        WaitStatus::PtraceEvent(_, _, e) if e == Event::PTRACE_EVENT_VFORK_DONE as i32 => Report::VforkDone,
        WaitStatus::Stopped(_, Signal::SIGSTOP) => Report::SelfStop,
        WaitStatus::Stopped(_, sig) => Report::Signal(sig),
        WaitStatus::PtraceEvent(..) | WaitStatus::PtraceSyscall(_) => Report::Trap,
        WaitStatus::Continued(_) | WaitStatus::StillAlive => return None,
    })
}

/// Every thread of the traced tree, attached.
#[derive(Debug)]
pub struct Tracer {
    /// The recorder's child: its exit status is the command's.
    child: i32,
    /// Each attached thread, with the stop it is held in.
    tids: BTreeMap<i32, Option<Held>>,
    /// The child's exit status, once it has exited.
    status: Option<WaitStatus>,
    /// Whether a thread stopped itself since the last [`Tracer::take_self_stop`].
    self_stop: bool,
    /// The threads waiting for the child of their `vfork()` to execute or exit (`wait_for_vfork_done()`): they
    /// run no user code until then, and a checkpoint does not wait for them to stop.
    in_vfork: BTreeSet<i32>,
}

impl Tracer {
    /// Tracing `child`, attached with [`options`] and past its first `execve`.
    pub fn new(child: i32) -> Tracer {
        Tracer {
            child,
            tids: BTreeMap::from([(child, None)]),
            status: None,
            self_stop: false,
            in_vfork: BTreeSet::new(),
        }
    }

    /// The child's exit status, once it has exited.
    pub fn status(&self) -> Option<WaitStatus> {
        self.status
    }

    /// Whether a thread stopped itself since the last call (and is held for the checkpoint).
    pub fn take_self_stop(&mut self) -> bool {
        std::mem::take(&mut self.self_stop)
    }

    /// Collects every report waiting. Outside a checkpoint (`hold` false) each stopped thread is resumed at once,
    /// except one that stopped itself; during one, every thread that reports is held. `at_stop` runs at each exec
    /// stop, while the new image waits, and at each mmap stop, before the call runs.
    pub fn poll(&mut self, hold: bool, at_stop: &mut dyn FnMut(Stop)) {
        loop {
            let mut reported = false;
            let tids: Vec<i32> = self.tids.keys().copied().collect();
            for tid in tids {
                match waitpid(Pid::from_raw(tid), Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                    Ok(status) => {
                        if let Some(report) = classify(status) {
                            reported = true;
                            self.on_report(tid, status, report, hold, at_stop);
                        }
                    }
                    // Not ours any more: a thread that exec replaced, or one reaped elsewhere.
                    Err(Errno::ECHILD) => {
                        self.tids.remove(&tid);
                    }
                    Err(_) => {}
                }
            }
            if !reported {
                return;
            }
        }
    }

    fn on_report(&mut self, tid: i32, status: WaitStatus, report: Report, hold: bool, at_stop: &mut dyn FnMut(Stop)) {
        let inject = match report {
            Report::Gone => {
                self.tids.remove(&tid);
                self.in_vfork.remove(&tid);
                if tid == self.child {
                    self.status = Some(status);
                }
                return;
            }
            Report::Exec => {
                // A thread other than the leader that executes takes the leader's id (`de_thread()`).
                if let Ok(former) = ptrace::getevent(Pid::from_raw(tid)) {
                    if former != i64::from(tid) {
                        self.tids.remove(&(former as i32));
                    }
                }
                at_stop(Stop::Exec(tid));
                None
            }
            Report::Mmap => {
                at_stop(Stop::Mmap(tid));
                None
            }
            Report::Fork { child, vfork } => {
                if child > 0 {
                    self.tids.entry(child).or_insert(None);
                }
                if vfork {
                    self.in_vfork.insert(tid);
                }
                None
            }
            Report::VforkDone => {
                self.in_vfork.remove(&tid);
                None
            }
            Report::SelfStop => {
                // Held for the checkpoint it asks for (during one, it is part of that one).
                self.self_stop |= !hold;
                self.tids.insert(tid, Some(Held { inject: None }));
                return;
            }
            Report::Signal(sig) => Some(sig),
            Report::Trap => None,
        };
        if hold {
            self.tids.insert(tid, Some(Held { inject }));
        } else {
            self.resume(tid, inject);
        }
    }

    /// Resumes `tid` from its ptrace-stop, delivering `inject`; a thread that is gone is forgotten.
    fn resume(&mut self, tid: i32, inject: Option<Signal>) {
        match ptrace::cont(Pid::from_raw(tid), inject) {
            Ok(()) => {
                self.tids.insert(tid, None);
            }
            Err(Errno::ESRCH) => {
                // Killed while stopped (SIGKILL): its exit is reported next.
                self.tids.insert(tid, None);
            }
            Err(e) => eprintln!("mmdb record: warning: cannot continue thread {tid}: {e}"),
        }
    }

    /// Stops every thread for a checkpoint (`PTRACE_INTERRUPT`) and waits until each is held or gone, collecting
    /// the threads made meanwhile. Returns the threads still running after `timeout` (stuck in the kernel).
    pub fn stop_all(&mut self, timeout: Duration, at_stop: &mut dyn FnMut(Stop)) -> Vec<i32> {
        let deadline = Instant::now() + timeout;
        let mut asked = BTreeSet::new();
        loop {
            for (&tid, held) in &self.tids {
                if held.is_none() && !self.in_vfork.contains(&tid) && asked.insert(tid) {
                    // ESRCH: it is exiting, or in a stop not collected yet: either is reported next.
                    let _ = ptrace::interrupt(Pid::from_raw(tid));
                }
            }
            self.poll(true, at_stop);
            let running: Vec<i32> =
                self.tids.iter().filter(|(t, h)| h.is_none() && !self.in_vfork.contains(t)).map(|(&t, _)| t).collect();
            if running.is_empty() || Instant::now() >= deadline {
                return running;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Resumes every held thread, each with the signal it stopped for.
    pub fn resume_all(&mut self) {
        let held: Vec<(i32, Held)> = self.tids.iter().filter_map(|(&t, h)| h.map(|h| (t, h))).collect();
        for (tid, h) in held {
            self.resume(tid, h.inject);
        }
    }
}

/// Wakes the recorder's main loop when a child changes state (`SIGCHLD`, which every ptrace-stop of a tracee
/// sends its tracer), so a thread stopped at a fork or a signal waits for the recorder microseconds, not a poll.
#[derive(Debug)]
pub struct Wake {
    reader: UnixStream,
    id: signal_hook::SigId,
}

impl Wake {
    /// Installs the `SIGCHLD` handler that writes to a socket pair (`signal_hook`'s self-pipe).
    pub fn new() -> anyhow::Result<Wake> {
        let (reader, writer) = UnixStream::pair().context("cannot create the SIGCHLD socket pair")?;
        let id = signal_hook::low_level::pipe::register(signal_hook::consts::SIGCHLD, writer)
            .context("cannot install the SIGCHLD handler")?;
        Ok(Wake { reader, id })
    }

    /// Waits until a `SIGCHLD` arrives or `timeout` passes (a signal that came before the call counts).
    pub fn wait(&mut self, timeout: Duration) {
        let mut buf = [0u8; 64];
        if self.reader.set_read_timeout(Some(timeout)).is_ok() {
            let _ = self.reader.read(&mut buf);
        } else {
            std::thread::sleep(timeout);
        }
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_classified() {
        let p = Pid::from_raw(1);
        assert_eq!(classify(WaitStatus::Exited(p, 0)), Some(Report::Gone));
        assert_eq!(classify(WaitStatus::Signaled(p, Signal::SIGKILL, false)), Some(Report::Gone));
        assert_eq!(classify(WaitStatus::Stopped(p, Signal::SIGSTOP)), Some(Report::SelfStop));
        assert_eq!(classify(WaitStatus::Stopped(p, Signal::SIGCHLD)), Some(Report::Signal(Signal::SIGCHLD)));
        let exec = WaitStatus::PtraceEvent(p, Signal::SIGTRAP, Event::PTRACE_EVENT_EXEC as i32);
        assert_eq!(classify(exec), Some(Report::Exec));
        let done = WaitStatus::PtraceEvent(p, Signal::SIGTRAP, Event::PTRACE_EVENT_VFORK_DONE as i32);
        assert_eq!(classify(done), Some(Report::VforkDone));
        // The mmap filter's SECCOMP_RET_TRACE: a stop before the call, where the file is measured.
        let seccomp = WaitStatus::PtraceEvent(p, Signal::SIGTRAP, Event::PTRACE_EVENT_SECCOMP as i32);
        assert_eq!(classify(seccomp), Some(Report::Mmap));
        // A group-stop and an interrupt are both PTRACE_EVENT_STOP: resumed as they are.
        let stop = WaitStatus::PtraceEvent(p, Signal::SIGTSTP, Event::PTRACE_EVENT_STOP as i32);
        assert_eq!(classify(stop), Some(Report::Trap));
        assert_eq!(classify(WaitStatus::StillAlive), None);
    }
}
