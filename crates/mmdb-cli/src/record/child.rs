//! Starting the command blocked, so tracing can be set up before its `execve`.
//!
//! The recorder runs its own executable as the child (`mmdb record --exec-after FIFO -- CMD`), which opens a FIFO
//! in the recorder's private work directory and waits for one byte before it executes CMD. This keeps the
//! recorder free of `unsafe` (no raw `fork`), and the pid that executes CMD is the child's pid from the start.
//! If the recorder dies first, the child gets end-of-file (or its parent-death signal) and never executes CMD.
//!
//! The recorder attaches to the child with ptrace before it executes the command ([`super::tracer`]): at the stop
//! after its `execve` it reads the layout exec chose (`/proc/PID/maps`, the stack addresses in `/proc/PID/stat`),
//! which no tracepoint shows, and writes it as `mmdb-exec-vma` and `mmdb-exec` input markers; the tracer then
//! follows the command's descendants and their own `execve`s the same way.

use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use nix::sys::prctl;
use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{getpid, getppid, mkfifo, Pid};

/// The recorder's private directory for FIFOs (mode 0700), removed with everything in it when dropped.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates `<tmp>/<name>`; refuses to reuse an existing path.
    pub fn create(name: &str) -> anyhow::Result<WorkDir> {
        let path = std::env::temp_dir().join(name);
        DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create the work directory {}", path.display()))?;
        Ok(WorkDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!("mmdb record: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// The child, blocked before executing the command until [`BlockedChild::release`].
#[derive(Debug)]
pub struct BlockedChild {
    pid: i32,
    /// The recorder's read-write end of the FIFO: it keeps the FIFO open, so the byte waits for a late reader.
    gate: File,
}

impl BlockedChild {
    /// Starts the child; it waits on a FIFO in `work` before it executes `cmd`.
    pub fn spawn(work: &Path, cmd: &[OsString]) -> anyhow::Result<BlockedChild> {
        let fifo = work.join("go");
        mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR).with_context(|| format!("cannot create {}", fifo.display()))?;
        // A read-write open of a FIFO does not block, and it counts as a writer, so the child's open does not either.
        let gate = OpenOptions::new().read(true).write(true).open(&fifo)?;
        let exe = std::env::current_exe().context("cannot find the mmdb executable")?;
        let child = Command::new(exe)
            .arg("record")
            .arg("--exec-after")
            .arg(&fifo)
            .arg("--exec-ppid")
            .arg(getpid().to_string())
            .arg("--")
            .args(cmd)
            .spawn()
            .context("cannot start the child process")?;
        let pid = i32::try_from(child.id()).context("child pid out of range")?;
        Ok(BlockedChild { pid, gate })
    }

    /// The child's pid: the pid whose `execve` starts the recorded program.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Attaches to the (still blocked) child with ptrace and `options`, which must stop it once its `execve` has
    /// completed (`PTRACE_O_TRACEEXEC`).
    pub fn seize(&self, options: ptrace::Options) -> anyhow::Result<()> {
        ptrace::seize(Pid::from_raw(self.pid), options).context("cannot attach to the child with ptrace")
    }

    /// After [`BlockedChild::release`]: waits for the exec stop, runs `at_exec` while the new image is stopped
    /// before its first instruction, and resumes it, still attached. Returns the child's exit status instead when
    /// it ended without executing the command.
    pub fn finish_exec(&self, at_exec: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Option<WaitStatus>> {
        let pid = Pid::from_raw(self.pid);
        loop {
            match waitpid(pid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::PtraceEvent(_, _, event)) if event == ptrace::Event::PTRACE_EVENT_EXEC as i32 => {
                    let result = at_exec();
                    ptrace::cont(pid, None).context("cannot continue the child")?;
                    return result.map(|()| None);
                }
                // Signals sent to the child before its exec are passed on unchanged.
                Ok(WaitStatus::Stopped(_, sig)) => ptrace::cont(pid, sig).context("cannot continue the child")?,
                Ok(WaitStatus::PtraceEvent(..)) => ptrace::cont(pid, None).context("cannot continue the child")?,
                Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(Some(st)),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => bail!("cannot wait for the child's exec: {e}"),
            }
        }
    }

    /// Lets the child execute the command.
    pub fn release(&mut self) -> anyhow::Result<()> {
        self.gate.write_all(b"x").context("cannot release the child")
    }
}

/// The input markers of exec's layout for `pid`, read at its exec stop: one `mmdb-exec-vma` per line of
/// `/proc/PID/maps`, then `mmdb-exec` with `startstack`, `arg_start`, `arg_end` and `env_end` of `/proc/PID/stat`.
pub fn exec_layout(pid: i32) -> anyhow::Result<Vec<String>> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).context("cannot read the new image's maps")?;
    let mut lines: Vec<String> =
        maps.lines().filter_map(super::markers::MapsEntry::parse).filter_map(|e| e.exec_line(pid)).collect();
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).context("cannot read the new image's stat")?;
    let (start_stack, arg_start, arg_end, env_end) =
        stack_fields(&stat).context("cannot parse /proc/PID/stat of the new image")?;
    let arg_end = Some(arg_end);
    let marker = mmdb_trace::truth::ExecStack { pid: pid as u32, start_stack, arg_start, arg_end, env_end };
    lines.push(mmdb_trace::truth::Marker::Exec(marker).to_string());
    Ok(lines)
}

/// Fields 28 (`startstack`), 48 (`arg_start`), 49 (`arg_end`) and 51 (`env_end`) of a `/proc/PID/stat` line; the
/// comm (field 2) may hold blanks and parentheses, so fields are counted after its last `)`.
fn stack_fields(stat: &str) -> Option<(u64, u64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts with field 3 (state).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some((field(28)?, field(48)?, field(49)?, field(51)?))
}

/// The child side: waits for the recorder's byte on `fifo`, then executes `cmd` (never returns on success).
///
/// Returns the exit status for the child: 125 when the recorder went away, 127 when `cmd` cannot be executed.
pub fn exec_after(fifo: &Path, ppid: Option<i32>, cmd: &[OsString]) -> u8 {
    // If the recorder dies before the release, so does the child; the signal is cleared before exec.
    if prctl::set_pdeathsig(Signal::SIGKILL).is_err() || ppid.is_some_and(|p| getppid().as_raw() != p) {
        return 125;
    }
    let mut byte = [0u8; 1];
    let released = File::open(fifo).and_then(|mut f| f.read(&mut byte)).is_ok_and(|n| n == 1);
    if !released || prctl::set_pdeathsig(None).is_err() {
        return 125;
    }
    let Some((program, args)) = cmd.split_first() else { return 127 };
    // Execute the resolved path (argv[0] stays as typed): a PATH search would put failed execve calls in the trace.
    let path = match resolve_command(program) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("mmdb record: {e:#}");
            return 127;
        }
    };
    // Every mmap() of a file in the tree stops for the recorder first (mmapstop.rs); without it, such files are
    // measured at the next checkpoint, as before.
    if let Err(e) = super::mmapstop::install() {
        eprintln!("mmdb record: warning: {e:#}; files mapped after exec are measured at checkpoints only");
    }
    let err = Command::new(path).arg0(program).args(args).exec();
    eprintln!("mmdb record: cannot execute {}: {err}", program.to_string_lossy());
    127
}

/// Checks that `program` can be executed: a path must be an executable file; a bare name must be found in PATH.
pub fn resolve_command(program: &OsStr) -> anyhow::Result<PathBuf> {
    let shown = program.to_string_lossy();
    if program.is_empty() {
        bail!("no command to record");
    }
    if shown.contains('/') {
        let path = PathBuf::from(program);
        return match is_executable(&path) {
            Ok(true) => Ok(path),
            Ok(false) => bail!("cannot run `{shown}`: not an executable file"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => bail!("cannot run `{shown}`: no such file"),
            Err(e) => bail!("cannot run `{shown}`: {e}"),
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p).unwrap_or(false))
        .with_context(|| format!("cannot run `{shown}`: command not found in PATH"))
}

/// Whether `path` is a regular file with an execute bit.
fn is_executable(path: &Path) -> io::Result<bool> {
    let meta = fs::metadata(path)?;
    Ok(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::{resolve_command, stack_fields};
    use std::ffi::OsStr;

    #[test]
    fn stack_fields_are_counted_after_the_comm() {
        // A real line of this machine's /proc/PID/stat, with a comm holding a blank and a parenthesis.
        let stat = "29431 (a b) c) R 29429 29429 20034 0 -1 4194304 131 0 0 0 0 0 0 0 20 0 1 0 536468 3133440 383 \
                    18446744073709551615 93887821369344 93887821389225 140726381999200 0 0 0 0 0 0 0 0 0 17 0 0 0 0 \
                    0 0 93887821405232 93887821406848 93887863078912 140726382000866 140726382000886 \
                    140726382000886 140726382002155 0";
        assert_eq!(stack_fields(stat), Some((140726381999200, 140726382000866, 140726382000886, 140726382002155)));
        assert_eq!(stack_fields("1 (x) S 0"), None);
    }

    #[test]
    fn commands_are_resolved_before_recording() {
        assert!(resolve_command(OsStr::new("sh")).is_ok());
        assert!(resolve_command(OsStr::new("/bin/sh")).is_ok());
        let err = resolve_command(OsStr::new("mmdb-no-such-command")).unwrap_err();
        assert_eq!(err.to_string(), "cannot run `mmdb-no-such-command`: command not found in PATH");
        let err = resolve_command(OsStr::new("./no/such/file")).unwrap_err();
        assert_eq!(err.to_string(), "cannot run `./no/such/file`: no such file");
        let err = resolve_command(OsStr::new("/proc/version")).unwrap_err();
        assert_eq!(err.to_string(), "cannot run `/proc/version`: not an executable file");
    }
}
