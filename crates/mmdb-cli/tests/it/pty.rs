//! `mmdb repl` driven in a pseudo-terminal, as a user at a terminal drives it: tab completion, colour, Ctrl-C at
//! the prompt and in the middle of a long `continue`, and Ctrl-D to leave.
//!
//! The binary runs under `setsid --ctty` so that the pty is its controlling terminal: a Ctrl-C byte typed while a
//! command runs (the terminal in cooked mode) becomes SIGINT, exactly as at a real terminal; at the prompt
//! rustyline reads it as a key.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};

use super::{test_dir, write, FORK_COW};

/// The REPL's prompt.
const PROMPT: &str = "(mmdb) ";

/// How long to wait for an expected output before failing.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The binary in a pty, and everything it has printed so far.
struct Terminal {
    child: Child,
    master: std::fs::File,
    output: Receiver<Vec<u8>>,
    /// Everything printed so far, escape sequences included.
    raw: Vec<u8>,
    /// How much of `plain(raw)` earlier expectations consumed.
    consumed: usize,
}

impl Terminal {
    /// Starts `mmdb ARGS` in `dir` on a fresh 200x50 pty, with a terminal type and colour allowed.
    fn spawn(dir: &Path, args: &[&str]) -> Option<Terminal> {
        if !Path::new("/usr/bin/setsid").exists() {
            eprintln!("skipped: /usr/bin/setsid (util-linux) is missing");
            return None;
        }
        let size = Winsize { ws_row: 50, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
        let pty = openpty(Some(&size), None).expect("openpty");
        let slave = std::fs::File::from(pty.slave);
        let stdio = || Stdio::from(slave.try_clone().expect("dup the pty"));
        let child = Command::new("/usr/bin/setsid")
            .arg("--ctty")
            .arg(env!("CARGO_BIN_EXE_mmdb"))
            .args(args)
            .current_dir(dir)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .env("XDG_STATE_HOME", dir.join("state"))
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .expect("start mmdb under setsid");
        drop(slave);
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().expect("dup the pty master");
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // The read fails with EIO once the child has closed the pty: the end of the output.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Some(Terminal { child, master, output, raw: Vec::new(), consumed: 0 })
    }

    /// Types `keys`.
    fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).expect("write to the pty");
    }

    /// Waits until the text printed after the last expectation (escape sequences removed) contains `needle`;
    /// returns that text up to and including it, with its escape sequences.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let (plain, raw_at) = plain(&self.raw);
            if let Some(at) = plain[self.consumed..].find(needle) {
                let end = self.consumed + at + needle.len();
                let start_raw = raw_at[self.consumed];
                let text = String::from_utf8_lossy(&self.raw[start_raw..raw_at[end]]).into_owned();
                self.consumed = end;
                return text;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.raw.extend_from_slice(&bytes),
                Err(_) => panic!("timed out waiting for {needle:?}; the terminal shows:\n{}", &plain[self.consumed..]),
            }
        }
    }

    /// Waits for `needle` and then for the prompt after it: the REPL is ready for the next line. (Typing before
    /// the prompt is lost: the line editor flushes input it has not read when it takes the terminal.)
    fn ready(&mut self, needle: &str) -> String {
        let mut out = self.expect(needle);
        out.push_str(&self.expect(PROMPT));
        out
    }

    /// Types `line` and Enter, and waits for `needle` in its output and the next prompt.
    fn command(&mut self, line: &str, needle: &str) -> String {
        self.send(&format!("{line}\r"));
        self.ready(needle)
    }

    /// Waits for the process to exit and returns its status.
    fn wait(mut self) -> Option<i32> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for mmdb") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "mmdb did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of terminal output without its escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL`), and
/// for each byte of that text plus one, where it is in the output.
fn plain(raw: &[u8]) -> (String, Vec<usize>) {
    let (mut text, mut at) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < raw.len() {
        match (raw[i], raw.get(i + 1)) {
            (0x1b, Some(b'[')) => {
                i += 2;
                while i < raw.len() && !(0x40..=0x7e).contains(&raw[i]) {
                    i += 1;
                }
                i += 1;
            }
            (0x1b, Some(b']')) => {
                while i < raw.len() && raw[i] != 0x07 {
                    i += 1;
                }
                i += 1;
            }
            (b, _) => {
                text.push(b);
                at.push(i);
                i += 1;
            }
        }
    }
    at.push(raw.len().min(i));
    (String::from_utf8_lossy(&text).into_owned(), at)
}

/// An mm event trace long enough that `continue` runs for a while: `n` stores to one mapped page.
fn long_trace(n: usize) -> String {
    let mut t = String::from(FORK_COW);
    for i in 0..n {
        let (s, us) = (1 + i / 1_000_000, i % 1_000_000);
        t.push_str(&format!(
            "             app-100     [000] {s:>5}.{us:06}: touch: addr=0x7f0000000000 access=write\n"
        ));
    }
    t
}

#[test]
fn completion_colour_ctrl_c_and_ctrl_d_at_a_terminal() {
    let dir = test_dir("pty");
    write(&dir, "fork-cow.events", FORK_COW);
    let Some(mut t) = Terminal::spawn(&dir, &["fork-cow.events"]) else { return };
    t.ready("Ctrl-D to leave.");
    t.command("goto end", "event 5 of 5");

    // Tab completes a command name.
    t.send("rm\t");
    t.expect("rmap");
    let out = t.command(" 100:0x7f0000000000", "mapped by");
    // The output of a terminal is coloured (an SGR escape sequence), NO_COLOR being unset.
    assert!(out.contains("\x1b["), "no colour in {out:?}");

    // Both pids start with 10: Tab offers the first, a second Tab the next.
    t.send("rss 10\t");
    t.expect("rss 100");
    t.send("\t");
    t.expect("rss 101");
    t.command("", "rss_stat of 101");

    // Ctrl-C at the prompt drops the half-typed line and keeps the REPL.
    t.send("frobnicate");
    t.expect("frobnicate");
    t.send("\x03");
    t.expect(PROMPT);
    let out = t.command("where", "event 5 of 5");
    assert!(!out.contains("unknown command"), "the dropped line ran: {out:?}");

    // Ctrl-D leaves, with success, and the history is saved.
    t.send("\x04");
    assert_eq!(t.wait(), Some(0));
    let history = std::fs::read_to_string(dir.join("state/mmdb/history")).unwrap_or_default();
    assert!(history.contains("goto end"), "history: {history:?}");
    assert!(!history.contains("frobnicate"), "history: {history:?}");
}

#[test]
fn ctrl_c_stops_a_long_continue_and_the_repl_goes_on() {
    let dir = test_dir("pty_interrupt");
    write(&dir, "long.events", &long_trace(1_000_000));
    let Some(mut t) = Terminal::spawn(&dir, &["long.events"]) else { return };
    t.ready("Ctrl-D to leave.");
    // After the parent's COW reuse (event 6), a watchpoint that never fires: `continue` runs to the end
    // unless interrupted.
    t.command("goto 6", "event 6 of");
    t.command("watch page 100:0x7f0000000000 refcount", "(now: 1)");
    t.send("continue\r");
    t.expect("continue");
    // A million events take a release build about half a second to run through (a debug build, many).
    std::thread::sleep(Duration::from_millis(50));
    t.send("\x03");
    t.ready("interrupted");
    // The cursor stopped somewhere in the middle, and the session still answers.
    let out = t.command("where", "of 1000005");
    assert!(!out.contains("event 1000005 of"), "where: {out:?}");
    t.send("quit\r");
    assert_eq!(t.wait(), Some(0));
}
