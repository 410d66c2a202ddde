//! Recording with perf instead of a tracefs instance.
//!
//! `perf record -- CMD` would make perf the parent, and perf takes the SIGCHLD of a workload that stops itself for
//! the end of the workload. So perf attaches with `-p` to the blocked child instead, starts with its events disabled
//! (`-D -1`) and is enabled through its control FIFO; its acknowledgement says the events are armed before the child
//! is released. Afterwards `perf script` turns `perf.data` into text.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::mkfifo;

use super::procs;

/// How long perf may take to open its events before the recording gives up.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `perf record` attached to the workload; stopped (and killed if it must be) when dropped.
#[derive(Debug)]
pub struct Perf {
    child: Option<Child>,
    data: PathBuf,
    log: PathBuf,
}

impl Perf {
    /// Starts `perf record` on `pid` with `events`, writing `data`, and waits until its events are enabled.
    ///
    /// `work` is a private directory for the control FIFOs and perf's log.
    pub fn attach(
        events: &[String],
        pid: i32,
        data: &Path,
        work: &Path,
        interrupted: &AtomicBool,
    ) -> anyhow::Result<Perf> {
        let ctl = work.join("perf-ctl");
        let ack = work.join("perf-ack");
        for fifo in [&ctl, &ack] {
            mkfifo(fifo, Mode::S_IRUSR | Mode::S_IWUSR).with_context(|| format!("cannot create {}", fifo.display()))?;
        }
        // Read-write opens of a FIFO never block, whether perf has opened its end yet or not.
        let mut ctl_fd = OpenOptions::new().read(true).write(true).open(&ctl)?;
        let mut ack_fd = OpenOptions::new().read(true).write(true).custom_flags(nix::libc::O_NONBLOCK).open(&ack)?;
        let log = work.join("perf-record.log");
        let log_file = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new("perf")
            .arg("record")
            .arg("-e")
            .arg(events.join(","))
            .args(["-k", "CLOCK_MONOTONIC", "-m", "16M", "-D", "-1", "--no-buildid", "--no-buildid-cache"])
            .arg("-p")
            .arg(pid.to_string())
            .arg("-o")
            .arg(data)
            .arg("--control")
            .arg(format!("fifo:{},{}", ctl.display(), ack.display()))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            // Its own process group: Ctrl-C reaches the workload, and the recorder stops perf when it is done.
            .process_group(0)
            .spawn()
            .context("cannot start perf (install it with `apt-get install linux-perf`)")?;
        let mut perf = Perf { child: Some(child), data: data.to_path_buf(), log };

        ctl_fd.write_all(b"enable\n").context("cannot write perf's control FIFO")?;
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        let mut got = Vec::new();
        while !got.windows(3).any(|w| w == b"ack") {
            let mut b = [0u8; 16];
            match ack_fd.read(&mut b) {
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => sleep(Duration::from_millis(5)),
                Err(e) => return Err(e).context("cannot read perf's acknowledgement"),
            }
            if let Some(status) = perf.try_wait()? {
                bail!("perf record exited ({status}) before recording:\n{}", perf.log_text());
            }
            if interrupted.load(Ordering::SeqCst) {
                bail!("interrupted while perf was starting");
            }
            if Instant::now() > deadline {
                bail!("perf record did not enable its events within {ATTACH_TIMEOUT:?}:\n{}", perf.log_text());
            }
        }
        Ok(perf)
    }

    /// perf's process id (never a traced process).
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok())
    }

    /// Whether perf has exited, without waiting.
    fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        match &mut self.child {
            Some(c) => Ok(c.try_wait()?),
            None => Ok(None),
        }
    }

    /// perf's stdout and stderr so far.
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops perf once the workload is gone: it usually exits by itself; otherwise SIGINT, then SIGKILL.
    pub fn stop(&mut self) -> anyhow::Result<String> {
        let Some(mut child) = self.child.take() else { return Ok(String::new()) };
        let status = stop_child(&mut child)?;
        let log = self.log_text();
        if !status.success() && status.signal() != Some(Signal::SIGINT as i32) {
            bail!("perf record failed ({status}):\n{log}");
        }
        Ok(log)
    }

    /// Runs `perf script` on the data into `out`.
    pub fn script(&self, out: &Path) -> anyhow::Result<()> {
        let file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
        let output = Command::new("perf")
            .arg("script")
            .arg("-i")
            .arg(&self.data)
            .args(["-F", "trace:comm,pid,tid,cpu,time,event,trace", "--ns", "--show-lost-events"])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::piped())
            .output()
            .context("cannot run perf script")?;
        if !output.status.success() {
            bail!("perf script failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }
}

/// Waits briefly for perf to exit on its own, then interrupts it, then kills it.
fn stop_child(child: &mut Child) -> anyhow::Result<ExitStatus> {
    let pid = i32::try_from(child.id()).unwrap_or(0);
    for (sig, wait) in [(None, 200), (Some(Signal::SIGINT), 30_000), (Some(Signal::SIGKILL), 5_000)] {
        if let Some(sig) = sig {
            procs::signal(pid, sig)?;
        }
        let deadline = Instant::now() + Duration::from_millis(wait);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            sleep(Duration::from_millis(10));
        }
    }
    bail!("perf record (pid {pid}) does not exit")
}

impl Drop for Perf {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = stop_child(&mut child);
        }
    }
}
