//! Stopping every `mmap()` of a file, so the recorder measures the file's page cache before the program maps it.
//!
//! Fault-around maps only the cached pages of its window, and skips those marked `PG_readahead`; the replay knows
//! which those are from the `mmdb-pagecache` lines the recorder writes ([`super::pagecache`]). At the exec stop it
//! measures the files the new image maps or will map (the binary, the interpreter, the libraries it resolves), and
//! at each checkpoint those mapped since. A file mapped after the exec and before the first checkpoint (a locale
//! file, a `dlopen()`ed module of a short program) used to be measured late or never, and the replay took all its
//! pages to be cached: MM_FILEPAGES ran a page or two high.
//!
//! So the child installs a seccomp filter before it executes the command (inherited by every descendant, across
//! `fork()` and `execve()`): `mmap()` with a descriptor and without `MAP_ANONYMOUS` returns `SECCOMP_RET_TRACE`, a
//! `PTRACE_EVENT_SECCOMP` stop before the call runs, where the recorder reads the descriptor from the registers,
//! measures the file once through `/proc/PID/fd/FD`, and resumes the thread. The recorder traces every thread of
//! the tree with `PTRACE_O_TRACESECCOMP` from its first instruction; without a tracer such a call would fail with
//! `ENOSYS`, which the recorder never lets happen (it kills the tree rather than detach from it).
//!
//! seccompiler sets `PR_SET_NO_NEW_PRIVS`: a setuid program runs without its privileges, as it already does
//! under ptrace. Only on x86-64, whose registers the recorder reads; elsewhere files are measured as before.

use std::os::unix::fs::MetadataExt as _;

/// The `SECCOMP_RET_DATA` of the filter's trace action (what `PTRACE_GETEVENTMSG` returns at the stop).
pub const MMAP_STOP_DATA: u32 = 0x6d6d;

/// `MAP_SHARED`, `MAP_ANONYMOUS` (x86-64).
const MAP_SHARED: u64 = 0x01;
const MAP_ANONYMOUS: u64 = 0x20;

/// Installs the filter in the calling process (the child, just before it executes the command).
#[cfg(target_arch = "x86_64")]
pub fn install() -> anyhow::Result<()> {
    use anyhow::Context as _;
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Cmp, SeccompCondition as Cond,
        SeccompFilter, SeccompRule,
    };
    // mmap(addr, len, prot, flags, fd, off): argument 4 is the descriptor (an int: -1 for none), 3 the flags.
    let rule = SeccompRule::new(vec![
        Cond::new(4, Len::Dword, Cmp::Ne, u64::from(u32::MAX))?,
        Cond::new(3, Len::Dword, Cmp::MaskedEq(MAP_ANONYMOUS), 0)?,
    ])?;
    let filter = SeccompFilter::new(
        [(libc_sys_mmap(), vec![rule])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Trace(MMAP_STOP_DATA),
        seccompiler::TargetArch::x86_64,
    )?;
    let program: BpfProgram = filter.try_into().context("cannot compile the mmap filter")?;
    seccompiler::apply_filter(&program).context("cannot install the mmap filter")?;
    Ok(())
}

/// Elsewhere the recorder does not read registers: no filter.
#[cfg(not(target_arch = "x86_64"))]
pub fn install() -> anyhow::Result<()> {
    Ok(())
}

/// `__NR_mmap` on x86-64.
#[cfg(target_arch = "x86_64")]
fn libc_sys_mmap() -> i64 {
    9
}

/// What an mmap stop of thread `tid` maps: its descriptor and whether the mapping is shared; `None` when the
/// registers cannot be read (the thread was killed meanwhile).
#[cfg(target_arch = "x86_64")]
pub fn mmap_args(tid: i32) -> Option<(i32, bool)> {
    let regs = nix::sys::ptrace::getregs(nix::unistd::Pid::from_raw(tid)).ok()?;
    decode(regs.r8, regs.r10)
}

#[cfg(not(target_arch = "x86_64"))]
pub fn mmap_args(_tid: i32) -> Option<(i32, bool)> {
    None
}

/// The descriptor (the low 32 bits of argument 4) and `MAP_SHARED` of argument 3; `None` for an anonymous mapping
/// (the filter lets none through, but a stop of another origin might come here).
fn decode(fd_arg: u64, flags: u64) -> Option<(i32, bool)> {
    let fd = fd_arg as u32 as i32;
    (fd >= 0 && flags & MAP_ANONYMOUS == 0).then_some((fd, flags & MAP_SHARED != 0))
}

/// The file behind descriptor `fd` of process `pid`, opened through `/proc/PID/fd/FD` (the recorder may open
/// what its child opened), if it is a regular file.
pub fn open_fd(pid: i32, fd: i32) -> Option<(std::fs::File, super::pagecache::FileKey)> {
    let file = std::fs::File::open(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let meta = file.metadata().ok().filter(|m| m.is_file())?;
    Some((file, (super::pagecache::split_dev(meta.dev()), meta.ino())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_reads_the_descriptor_and_sharing() {
        assert_eq!(decode(3, 0x02), Some((3, false))); // MAP_PRIVATE
        assert_eq!(decode(7, 0x01), Some((7, true))); // MAP_SHARED
        assert_eq!(decode(u64::MAX, 0x22), None); // fd -1, MAP_PRIVATE | MAP_ANONYMOUS
        assert_eq!(decode(4, 0x21), None); // a descriptor with MAP_ANONYMOUS: ignored by the kernel
        assert_eq!(decode(0xffff_ffff_0000_0005, 0x02), Some((5, false))); // only the int counts
    }
}
