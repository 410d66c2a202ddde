//! The book's transcripts are tests: every `$ mmdb ...` line in a ```console block of `book/src/**/*.md` and of
//! the root `README.md` is run, and its output must be the lines that follow it in the block.
//!
//! The block format:
//!
//! ````text
//! ```console
//! $ mmdb replay traces/basic.events --until 67
//! <stdout, then stderr if there is any>
//! [exit: 1]
//! ```
//! ````
//!
//! * A command's output runs to the next `$ ` line or to the end of the block.
//! * A last output line `[exit: N]` gives the expected exit status; without it the status must be 0.
//! * An output line that is exactly `...` stands for any number of lines (zero or more), so a block can show an
//!   excerpt of a long output.
//! * Arguments are split on blanks; a double-quoted argument may contain blanks (no escapes).
//! * Commands run in the repository root with `NO_COLOR=1` and an empty stdin.
//! * `$ ` lines that do not run `mmdb` are an error here: such commands belong in ```sh blocks, which are not run.
//!
//! A fenced block right after a line `<!-- file: PATH -->` must hold exactly the text of the file at PATH
//! (relative to the repository root), so a trace shown in the book is the trace its transcripts replay.
//!
//! With `MMDB_BLESS=1` the test rewrites the Markdown files with what the commands print and what the files hold,
//! instead of failing. A block with `...` that no longer matches is rewritten in full; trim it again by hand.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root: commands run here, and paths in the book are relative to it.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Markdown files whose blocks are checked: `book/src/**/*.md` in path order, then `README.md`.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => panic!("cannot list {}: {err}", dir.display()),
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root.join("book/src"), &mut files);
    let readme = root.join("README.md");
    if readme.exists() {
        files.push(readme);
    }
    files
}

/// What a fenced block is checked against.
#[derive(Debug, PartialEq, Eq)]
enum BlockKind {
    /// A ```console block: its `$ mmdb` commands are run.
    Console,
    /// A block after `<!-- file: PATH -->`: its text is the file's.
    File(String),
}

/// One fenced block: where its body is in the file (line indices, body only, fences excluded) and what it shows.
#[derive(Debug)]
struct Block {
    kind: BlockKind,
    /// Index of the first body line.
    start: usize,
    /// Index one past the last body line (the closing fence).
    end: usize,
}

/// Finds the checked blocks of a Markdown file given as lines.
fn find_blocks(lines: &[&str]) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let open = i;
        let fence_indent = lines[i].len() - lines[i].trim_start().len();
        let fence: String = lines[i][fence_indent..].chars().take_while(|&c| c == '`').collect();
        let close = (open + 1..lines.len())
            .find(|&j| lines[j].trim() == fence)
            .ok_or_else(|| format!("line {}: the block opened here is not closed", open + 1))?;
        let file = open
            .checked_sub(1)
            .and_then(|p| lines[p].trim().strip_prefix("<!-- file:"))
            .and_then(|rest| rest.strip_suffix("-->"))
            .map(|path| path.trim().to_string());
        let info = info.trim_start_matches('`').trim();
        let kind = match file {
            Some(path) => Some(BlockKind::File(path)),
            None if info == "console" => Some(BlockKind::Console),
            None => None,
        };
        if let Some(kind) = kind {
            blocks.push(Block { kind, start: open + 1, end: close });
        }
        i = close + 1;
    }
    Ok(blocks)
}

/// One command of a console block and what the block says it prints.
#[derive(Debug)]
struct Transcript {
    /// The command line without `$ `.
    command: String,
    /// Index of the command line in the file.
    line: usize,
    /// The output lines, without the `[exit: N]` line.
    expected: Vec<String>,
    /// The exit status the block expects.
    status: i32,
}

/// Splits a console block's body into transcripts.
fn transcripts(lines: &[&str], block: &Block) -> Result<Vec<Transcript>, String> {
    let mut out: Vec<Transcript> = Vec::new();
    for (i, line) in lines.iter().enumerate().take(block.end).skip(block.start) {
        if let Some(command) = line.strip_prefix("$ ") {
            let command = command.trim();
            if command != "mmdb" && !command.starts_with("mmdb ") {
                return Err(format!(
                    "line {}: `$ {command}` is not an mmdb command; put it in a ```sh block, which is not run",
                    i + 1
                ));
            }
            out.push(Transcript { command: command.to_string(), line: i, expected: Vec::new(), status: 0 });
        } else if let Some(t) = out.last_mut() {
            t.expected.push((*line).to_string());
        } else {
            return Err(format!("line {}: a console block must start with a `$ mmdb ...` line", i + 1));
        }
    }
    for t in &mut out {
        let status = t.expected.last().and_then(|last| {
            last.strip_prefix("[exit: ").and_then(|rest| rest.strip_suffix(']')).map(|n| n.parse::<i32>())
        });
        match status {
            Some(Ok(n)) => {
                t.status = n;
                t.expected.pop();
            }
            Some(Err(_)) => return Err(format!("line {}: bad `[exit: N]` line", t.line + 1)),
            None => {}
        }
    }
    Ok(out)
}

/// Splits a command line on blanks; a double-quoted argument may contain blanks.
fn split_args(command: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            ' ' | '\t' if !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            _ => {
                cur.push(c);
                in_arg = true;
            }
        }
    }
    if quoted {
        return Err(format!("unclosed `\"` in `{command}`"));
    }
    if in_arg {
        args.push(cur);
    }
    Ok(args)
}

/// What one run printed: stdout, then stderr if non-empty, as lines; and the exit status.
#[derive(Debug)]
struct Output {
    lines: Vec<String>,
    status: i32,
}

/// Runs `mmdb` with `args` in `root`.
fn run(root: &Path, args: &[String]) -> Output {
    let out = match Command::new(env!("CARGO_BIN_EXE_mmdb"))
        .args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(out) => out,
        Err(err) => panic!("cannot run mmdb: {err}"),
    };
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&stderr);
    }
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let lines = if text.is_empty() { Vec::new() } else { text.split('\n').map(str::to_string).collect() };
    Output {
        lines,
        // A run killed by a signal has no status; -1 matches no `[exit: N]` a block can sensibly expect.
        status: out.status.code().unwrap_or(-1),
    }
}

/// Whether `actual` matches `expected`, where an `...` line in `expected` matches any run of lines.
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => (0..=actual.len()).any(|skip| matches(rest, &actual[skip..])),
        Some((first, rest)) => {
            actual.split_first().is_some_and(|(a, actual_rest)| a == first && matches(rest, actual_rest))
        }
    }
}

/// A line diff of `expected` against `actual` (LCS-based, `-` expected only, `+` actual only).
fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    // lcs[i][j]: length of the longest common subsequence of expected[i..] and actual[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            let _ = writeln!(out, "  {}", expected[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "- {}", expected[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", actual[j]);
            j += 1;
        }
    }
    out
}

/// Describes a mismatch: the first differing line, then the whole diff.
fn describe_mismatch(expected: &[String], actual: &[String]) -> String {
    let mut out = String::new();
    if expected.iter().any(|l| l == "...") {
        let _ = writeln!(out, "the excerpt (with `...`) does not match; the diff is against the excerpt");
    }
    let first = (0..expected.len().max(actual.len())).find(|&k| expected.get(k) != actual.get(k)).unwrap_or(0);
    let show = |l: Option<&String>| l.map_or_else(|| "<no line>".to_string(), |l| format!("{l:?}"));
    let _ = writeln!(out, "first difference at output line {}:", first + 1);
    let _ = writeln!(out, "  expected: {}", show(expected.get(first)));
    let _ = writeln!(out, "  actual:   {}", show(actual.get(first)));
    let _ = writeln!(out, "diff (- expected, + actual):");
    out.push_str(&diff(expected, actual));
    out
}

/// A block's new body, when blessing: it replaces lines `start..end` of the file.
#[derive(Debug)]
struct Replacement {
    start: usize,
    end: usize,
    body: Vec<String>,
}

/// Checks Markdown files against the binary and the files they show, collecting failures or, when blessing,
/// replacements.
#[derive(Debug)]
struct Checker {
    root: PathBuf,
    bless: bool,
    failures: Vec<String>,
    /// How many `$ mmdb` commands ran.
    runs: usize,
}

impl Checker {
    /// Checks one Markdown file; returns its blessed text when blessing changed something.
    fn check_file(&mut self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).unwrap_or(path).display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) => panic!("cannot read {rel}: {err}"),
        };
        let lines: Vec<&str> = text.split('\n').collect();
        let blocks = match find_blocks(&lines) {
            Ok(blocks) => blocks,
            Err(err) => {
                self.failures.push(format!("{rel}: {err}"));
                return None;
            }
        };
        let mut replacements = Vec::new();
        for block in &blocks {
            let replacement = match &block.kind {
                BlockKind::File(file) => self.check_file_block(&rel, &lines, block, file),
                BlockKind::Console => self.check_console_block(&rel, &lines, block),
            };
            replacements.extend(replacement);
        }
        if replacements.is_empty() {
            return None;
        }
        let mut new_lines: Vec<String> = Vec::with_capacity(lines.len());
        let mut next = 0;
        for r in replacements {
            new_lines.extend(lines[next..r.start].iter().map(|l| (*l).to_string()));
            new_lines.extend(r.body);
            next = r.end;
        }
        new_lines.extend(lines[next..].iter().map(|l| (*l).to_string()));
        Some(new_lines.join("\n"))
    }

    /// Checks that a block shows `file` as it is.
    fn check_file_block(&mut self, rel: &str, lines: &[&str], block: &Block, file: &str) -> Option<Replacement> {
        let shown: Vec<String> = lines[block.start..block.end].iter().map(|l| (*l).to_string()).collect();
        let content = match std::fs::read_to_string(self.root.join(file)) {
            Ok(content) => content,
            Err(err) => {
                self.failures.push(format!("{rel}:{}: cannot read {file}: {err}", block.start));
                return None;
            }
        };
        let content = content.strip_suffix('\n').unwrap_or(&content);
        let actual: Vec<String> = content.split('\n').map(str::to_string).collect();
        if shown == actual {
            None
        } else if self.bless {
            eprintln!("blessed {rel}:{}: the text of {file}", block.start);
            Some(Replacement { start: block.start, end: block.end, body: actual })
        } else {
            self.failures.push(format!(
                "{rel}:{}: the block does not show {file} as it is\n{}",
                block.start,
                describe_mismatch(&shown, &actual)
            ));
            None
        }
    }

    /// Runs the commands of a console block and compares their output with the block's.
    fn check_console_block(&mut self, rel: &str, lines: &[&str], block: &Block) -> Option<Replacement> {
        let ts = match transcripts(lines, block) {
            Ok(ts) => ts,
            Err(err) => {
                self.failures.push(format!("{rel}: {err}"));
                return None;
            }
        };
        let mut body: Vec<String> = Vec::new();
        let mut changed = false;
        for t in &ts {
            body.push(format!("$ {}", t.command));
            let args = match split_args(&t.command) {
                Ok(args) => args,
                Err(err) => {
                    self.failures.push(format!("{rel}:{}: {err}", t.line + 1));
                    return None;
                }
            };
            let output = run(&self.root, &args[1..]);
            self.runs += 1;
            let same_output = matches(&t.expected, &output.lines);
            if same_output && output.status == t.status {
                body.extend(t.expected.iter().cloned());
                if t.status != 0 {
                    body.push(format!("[exit: {}]", t.status));
                }
                continue;
            }
            changed = true;
            body.extend(output.lines.iter().cloned());
            if output.status != 0 {
                body.push(format!("[exit: {}]", output.status));
            }
            if self.bless {
                eprintln!("blessed {rel}:{}: $ {}", t.line + 1, t.command);
                if t.expected.iter().any(|l| l == "...") {
                    eprintln!("  the excerpt was replaced by the whole output: trim it again by hand");
                }
                continue;
            }
            let mut msg = format!("{rel}:{}: $ {}\n", t.line + 1, t.command);
            if output.status != t.status {
                let _ = writeln!(msg, "exit status: expected {}, actual {}", t.status, output.status);
            }
            if !same_output {
                msg.push_str(&describe_mismatch(&t.expected, &output.lines));
            }
            self.failures.push(msg);
        }
        (changed && self.bless).then_some(Replacement { start: block.start, end: block.end, body })
    }
}

#[test]
fn book_transcripts_match_the_binary() {
    let mut checker = Checker {
        root: repo_root(),
        bless: std::env::var("MMDB_BLESS").is_ok_and(|v| v == "1"),
        failures: Vec::new(),
        runs: 0,
    };
    let files = markdown_files(&checker.root);
    assert!(!files.is_empty(), "no Markdown files under {}", checker.root.join("book/src").display());
    for path in &files {
        if let Some(blessed) = checker.check_file(path) {
            if let Err(err) = std::fs::write(path, blessed) {
                panic!("cannot write {}: {err}", path.display());
            }
        }
    }
    assert!(checker.runs > 0, "no `$ mmdb` transcripts found in the book");
    assert!(
        checker.failures.is_empty(),
        "{} book check(s) failed (rerun with MMDB_BLESS=1 to rewrite the Markdown with the actual output):\n\n{}",
        checker.failures.len(),
        checker.failures.join("\n")
    );
}

#[test]
fn the_transcript_helpers_work() {
    let s = |v: &[&str]| v.iter().map(|l| (*l).to_string()).collect::<Vec<_>>();
    assert_eq!(split_args(r#"replay "a b.events"  --until 3"#), Ok(s(&["replay", "a b.events", "--until", "3"])));
    assert!(split_args(r#"replay "a"#).is_err());
    assert!(matches(&s(&["a", "...", "d"]), &s(&["a", "b", "c", "d"])));
    assert!(matches(&s(&["a", "...", "b"]), &s(&["a", "b"])));
    assert!(!matches(&s(&["a", "...", "d"]), &s(&["a", "b", "c"])));
    assert!(!matches(&s(&["a"]), &s(&["a", "b"])));
    assert_eq!(diff(&s(&["a", "b", "c"]), &s(&["a", "x", "c"])), "  a\n- b\n+ x\n  c\n");

    let md = "text\n<!-- file: t.events -->\n```text\nx\n```\n```console\n$ mmdb replay t.events\nout\n[exit: 1]\n$ mmdb --version\nmmdb 0.1.0\n```\n```sh\n$ cargo build\n```";
    let lines: Vec<&str> = md.split('\n').collect();
    let blocks = find_blocks(&lines).unwrap_or_default();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(blocks[0].kind, BlockKind::File("t.events".to_string()));
    let ts = transcripts(&lines, &blocks[1]).unwrap_or_default();
    assert_eq!(ts.len(), 2);
    assert_eq!((ts[0].command.as_str(), ts[0].status), ("mmdb replay t.events", 1));
    assert_eq!(ts[0].expected, s(&["out"]));
    assert_eq!((ts[1].expected.clone(), ts[1].status), (s(&["mmdb 0.1.0"]), 0));

    let bad = "```console\n$ cargo build\n```";
    let lines: Vec<&str> = bad.split('\n').collect();
    let blocks = find_blocks(&lines).unwrap_or_default();
    assert!(transcripts(&lines, &blocks[0]).is_err());
}
