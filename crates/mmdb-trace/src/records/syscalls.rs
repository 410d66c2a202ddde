//! `syscalls` events: entry and exit of the memory-management and process syscalls.
//!
//! ftrace prints them with its own syscall printer (`kernel/trace/trace_syscalls.c`): arguments below 10 in
//! decimal, others in hex with `0x` (older kernels: hex without `0x`), the return value in hex:
//!
//! ```text
//! sys_mmap(addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffffffff, off: 0)
//! sys_mmap -> 0x7fbf63464000
//! ```
//!
//! perf prints the `format` file's `print fmt`, every argument as `0x%08lx` and the return value as `0x%lx`:
//!
//! ```text
//! syscalls:sys_enter_mmap: addr: 0x00000000, len: 0x00002000, prot: 0x00000003, flags: 0x00000022, ...
//! syscalls:sys_exit_mmap: 0x7f6d8ef27000
//! ```
//!
//! Both are read the same way: `name: value` pairs separated by commas, values in hex with an optional `0x` (a
//! decimal number below 10 is the same in hex). With ftrace's `verbose` option the name is preceded by its C type
//! (`unsigned long addr: 0`), so the name is the last word before the colon. A negative return value prints as
//! its two's complement (`0xfffffffffffffff4` is -ENOMEM).

use crate::diag::LineError;
use crate::fields::{is_blank, parse_dec, parse_hex, Value};

use super::Record;

macro_rules! syscalls {
    ($($variant:ident $name:literal,)*) => {
        /// The syscalls whose entry and exit parse into [`SysEnter`] and [`SysExit`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Syscall {
            $(#[doc = concat!("`", $name, "`.")] $variant,)*
        }

        impl Syscall {
            /// Every syscall, in declaration order.
            pub const ALL: &'static [Syscall] = &[$(Syscall::$variant,)*];

            /// The syscall's name without prefix (`mmap`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Syscall::$variant => $name,)*
                }
            }

            /// The entry tracepoint's name (`sys_enter_mmap`).
            pub fn enter_event(self) -> &'static str {
                match self {
                    $(Syscall::$variant => concat!("sys_enter_", $name),)*
                }
            }

            /// The exit tracepoint's name (`sys_exit_mmap`).
            pub fn exit_event(self) -> &'static str {
                match self {
                    $(Syscall::$variant => concat!("sys_exit_", $name),)*
                }
            }
        }
    };
}

syscalls! {
    Mmap "mmap",
    Munmap "munmap",
    Mprotect "mprotect",
    Mremap "mremap",
    Brk "brk",
    Madvise "madvise",
    ProcessMadvise "process_madvise",
    Mlock "mlock",
    Mlock2 "mlock2",
    Munlock "munlock",
    Mlockall "mlockall",
    Munlockall "munlockall",
    Clone "clone",
    Clone3 "clone3",
    Fork "fork",
    Vfork "vfork",
    Execve "execve",
    Exit "exit",
    ExitGroup "exit_group",
}

impl Syscall {
    /// The syscall named `name` (`mmap`).
    pub fn from_name(name: &str) -> Option<Syscall> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }
}

/// A syscall entry with its arguments, named as in the `sys_enter_*` format files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // The argument names are the kernel's; each variant documents its syscall.
pub enum SysEnter {
    /// `mmap(addr, len, prot, flags, fd, off)`; `fd` is printed as an unsigned long (`0xffffffff` for -1).
    Mmap { addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64 },
    /// `munmap(addr, len)`.
    Munmap { addr: u64, len: u64 },
    /// `mprotect(start, len, prot)`.
    Mprotect { start: u64, len: u64, prot: u64 },
    /// `mremap(addr, old_len, new_len, flags, new_addr)`.
    Mremap { addr: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64 },
    /// `brk(brk)`.
    Brk { brk: u64 },
    /// `madvise(start, len_in, behavior)`.
    Madvise { start: u64, len_in: u64, behavior: u64 },
    /// `process_madvise(pidfd, vec, vlen, behavior, flags)`: `vec` is a user pointer, the ranges are not traced.
    ProcessMadvise { pidfd: u64, vec: u64, vlen: u64, behavior: u64, flags: u64 },
    /// `mlock(start, len)`.
    Mlock { start: u64, len: u64 },
    /// `mlock2(start, len, flags)`.
    Mlock2 { start: u64, len: u64, flags: u64 },
    /// `munlock(start, len)`.
    Munlock { start: u64, len: u64 },
    /// `mlockall(flags)`.
    Mlockall { flags: u64 },
    /// `munlockall()`.
    Munlockall,
    /// `clone(clone_flags, newsp, parent_tidptr, child_tidptr, tls)`.
    Clone { clone_flags: u64, newsp: u64, parent_tidptr: u64, child_tidptr: u64, tls: u64 },
    /// `clone3(uargs, size)`: only a pointer to the arguments is traced.
    Clone3 { uargs: u64, size: u64 },
    /// `fork()`.
    Fork,
    /// `vfork()`.
    Vfork,
    /// `execve(filename, argv, envp)`: user pointers.
    Execve { filename: u64, argv: u64, envp: u64 },
    /// `exit(error_code)`.
    Exit { error_code: u64 },
    /// `exit_group(error_code)`.
    ExitGroup { error_code: u64 },
}

impl SysEnter {
    /// The syscall entered.
    pub fn syscall(&self) -> Syscall {
        match self {
            SysEnter::Mmap { .. } => Syscall::Mmap,
            SysEnter::Munmap { .. } => Syscall::Munmap,
            SysEnter::Mprotect { .. } => Syscall::Mprotect,
            SysEnter::Mremap { .. } => Syscall::Mremap,
            SysEnter::Brk { .. } => Syscall::Brk,
            SysEnter::Madvise { .. } => Syscall::Madvise,
            SysEnter::ProcessMadvise { .. } => Syscall::ProcessMadvise,
            SysEnter::Mlock { .. } => Syscall::Mlock,
            SysEnter::Mlock2 { .. } => Syscall::Mlock2,
            SysEnter::Munlock { .. } => Syscall::Munlock,
            SysEnter::Mlockall { .. } => Syscall::Mlockall,
            SysEnter::Munlockall => Syscall::Munlockall,
            SysEnter::Clone { .. } => Syscall::Clone,
            SysEnter::Clone3 { .. } => Syscall::Clone3,
            SysEnter::Fork => Syscall::Fork,
            SysEnter::Vfork => Syscall::Vfork,
            SysEnter::Execve { .. } => Syscall::Execve,
            SysEnter::Exit { .. } => Syscall::Exit,
            SysEnter::ExitGroup { .. } => Syscall::ExitGroup,
        }
    }
}

/// A syscall exit: `sys_exit_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysExit {
    /// The syscall returning.
    pub syscall: Syscall,
    /// The return value (`-errno` on failure; an address for mmap, mremap and brk; 0 in a fork child).
    pub ret: i64,
}

/// The most arguments a syscall has.
const MAX_ARGS: usize = 8;

/// The `name: value` arguments of one syscall entry.
struct Args<'a> {
    line: &'a str,
    args: [(&'a str, &'a str, usize); MAX_ARGS],
    len: usize,
}

impl<'a> Args<'a> {
    /// Splits `line[start..end]` at commas outside double quotes.
    fn new(line: &'a str, start: usize, end: usize) -> Self {
        let mut args = [("", "", 0); MAX_ARGS];
        let mut len = 0;
        let mut push = |arg: Option<(&'a str, &'a str, usize)>| {
            if let Some(arg) = arg.filter(|_| len < MAX_ARGS) {
                args[len] = arg;
                len += 1;
            }
        };
        let mut part = start;
        let mut quoted = false;
        for (i, &c) in line.as_bytes()[start..end].iter().enumerate() {
            if c == b'"' {
                quoted = !quoted;
            } else if c == b',' && !quoted {
                push(split_arg(line, part, start + i));
                part = start + i + 1;
            }
        }
        push(split_arg(line, part, end));
        Args { line, args, len }
    }

    fn req(&self, key: &'static str) -> Result<u64, LineError> {
        match self.args[..self.len].iter().find(|(name, _, _)| *name == key) {
            Some(&(_, text, offset)) => Value { text, offset, key }.hex(),
            None => Err(LineError::new(self.line.len(), 0, format!("a `{key}: <value>` argument"))),
        }
    }
}

/// Splits one `[type] name: value [...]` argument of `line[start..end]` into name, value and the value's offset.
fn split_arg(line: &str, start: usize, end: usize) -> Option<(&str, &str, usize)> {
    let part = &line[start..end];
    let colon = part.find(':')?;
    let name = part[..colon].trim_end_matches([' ', '\t']);
    let name = name.rsplit([' ', '\t']).next().unwrap_or(name);
    let after = &part[colon + 1..];
    let value = after.trim_start_matches([' ', '\t']);
    let value_offset = start + colon + 1 + (after.len() - value.len());
    let value_len = value.bytes().position(is_blank).unwrap_or(value.len());
    Some((name, &value[..value_len], value_offset))
}

/// Parses the arguments of an entry of `syscall` found in `line[start..end]` (without ftrace's parentheses).
pub(crate) fn sys_enter(line: &str, syscall: Syscall, start: usize, end: usize) -> Result<Record, LineError> {
    let a = Args::new(line, start, end);
    let enter = match syscall {
        Syscall::Mmap => SysEnter::Mmap {
            addr: a.req("addr")?,
            len: a.req("len")?,
            prot: a.req("prot")?,
            flags: a.req("flags")?,
            fd: a.req("fd")?,
            off: a.req("off")?,
        },
        Syscall::Munmap => SysEnter::Munmap { addr: a.req("addr")?, len: a.req("len")? },
        Syscall::Mprotect => SysEnter::Mprotect { start: a.req("start")?, len: a.req("len")?, prot: a.req("prot")? },
        Syscall::Mremap => SysEnter::Mremap {
            addr: a.req("addr")?,
            old_len: a.req("old_len")?,
            new_len: a.req("new_len")?,
            flags: a.req("flags")?,
            new_addr: a.req("new_addr")?,
        },
        Syscall::Brk => SysEnter::Brk { brk: a.req("brk")? },
        Syscall::Madvise => {
            SysEnter::Madvise { start: a.req("start")?, len_in: a.req("len_in")?, behavior: a.req("behavior")? }
        }
        Syscall::ProcessMadvise => SysEnter::ProcessMadvise {
            pidfd: a.req("pidfd")?,
            vec: a.req("vec")?,
            vlen: a.req("vlen")?,
            behavior: a.req("behavior")?,
            flags: a.req("flags")?,
        },
        Syscall::Mlock => SysEnter::Mlock { start: a.req("start")?, len: a.req("len")? },
        Syscall::Mlock2 => SysEnter::Mlock2 { start: a.req("start")?, len: a.req("len")?, flags: a.req("flags")? },
        Syscall::Munlock => SysEnter::Munlock { start: a.req("start")?, len: a.req("len")? },
        Syscall::Mlockall => SysEnter::Mlockall { flags: a.req("flags")? },
        Syscall::Munlockall => SysEnter::Munlockall,
        Syscall::Clone => SysEnter::Clone {
            clone_flags: a.req("clone_flags")?,
            newsp: a.req("newsp")?,
            parent_tidptr: a.req("parent_tidptr")?,
            child_tidptr: a.req("child_tidptr")?,
            tls: a.req("tls")?,
        },
        Syscall::Clone3 => SysEnter::Clone3 { uargs: a.req("uargs")?, size: a.req("size")? },
        Syscall::Fork => SysEnter::Fork,
        Syscall::Vfork => SysEnter::Vfork,
        Syscall::Execve => {
            SysEnter::Execve { filename: a.req("filename")?, argv: a.req("argv")?, envp: a.req("envp")? }
        }
        Syscall::Exit => SysEnter::Exit { error_code: a.req("error_code")? },
        Syscall::ExitGroup => SysEnter::ExitGroup { error_code: a.req("error_code")? },
    };
    Ok(Record::SysEnter(enter))
}

/// Parses the return value of `syscall` at `line[start..]`: hex (with or without `0x`) or a negative decimal.
pub(crate) fn sys_exit(line: &str, syscall: Syscall, start: usize) -> Result<Record, LineError> {
    let text = line.get(start..).unwrap_or("").trim_end_matches([' ', '\t']);
    let ret = match text.strip_prefix('-') {
        Some(digits) => parse_dec(digits).and_then(|v| i64::try_from(v).ok()).map(|v| -v),
        None => parse_hex(text).map(|v| v as i64),
    };
    let ret = ret.ok_or_else(|| LineError::at_token(line, start, "a return value in hex"))?;
    Ok(Record::SysExit(SysExit { syscall, ret }))
}
