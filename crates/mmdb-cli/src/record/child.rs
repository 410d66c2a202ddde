//! Starting the command blocked, so tracing can be set up before its `execve`.
//!
//! The recorder runs its own executable as the child (`mmdb record --exec-after FIFO -- CMD`), which opens a FIFO
//! in the recorder's private work directory and waits for one byte before it executes CMD. This keeps the
//! recorder free of `unsafe` (no raw `fork`), and the pid that executes CMD is the child's pid from the start.
//! If the recorder dies first, the child gets end-of-file (or its parent-death signal) and never executes CMD.

use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::{getpid, getppid, mkfifo};

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

    /// Lets the child execute the command.
    pub fn release(&mut self) -> anyhow::Result<()> {
        self.gate.write_all(b"x").context("cannot release the child")
    }
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
    use super::resolve_command;
    use std::ffi::OsStr;

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
