//! Progress bars on standard error for anything that takes more than a second, and nothing when it is not a terminal.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before its bar appears: shorter work shows none.
const DELAY: Duration = Duration::from_secs(1);

/// A bar of bytes read that appears once the work has run for [`DELAY`], on a terminal only.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    shown: AtomicBool,
    enabled: bool,
}

impl Progress {
    /// A bar for `what` (`replaying trace.ftrace`) of `total` bytes when known (a plain file), or a counter of bytes.
    pub fn bytes(what: &str, total: Option<u64>) -> Progress {
        let (bar, template) = match total {
            Some(total) => (ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden()), BAR_BYTES),
            None => (ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()), SPINNER_BYTES),
        };
        Progress::with(bar, template, what)
    }

    fn with(bar: ProgressBar, template: &str, what: &str) -> Progress {
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        let enabled = std::io::stderr().is_terminal() && std::env::var_os("MMDB_NO_PROGRESS").is_none();
        Progress { bar, start: Instant::now(), shown: AtomicBool::new(false), enabled }
    }

    /// Adds `n` to the position; shows the bar once the work has run for a second.
    pub fn advance(&self, n: u64) {
        self.bar.inc(n);
        if self.enabled && !self.shown.load(Ordering::Relaxed) && self.start.elapsed() >= DELAY {
            self.shown.store(true, Ordering::Relaxed);
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// Removes the bar (the work is done).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

const BAR_BYTES: &str = "{msg} [{bar:32}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)";
const SPINNER_BYTES: &str = "{spinner} {msg}: {bytes} ({bytes_per_sec})";
