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
//! The filter is hand-written classic BPF ([`program`]) that lets other architectures' calls through (a 32-bit
//! program runs as before), installed with seccompiler, which sets `PR_SET_NO_NEW_PRIVS`: a setuid program runs
//! without its privileges, as it already does under ptrace. Only on x86-64, whose registers the recorder reads;
//! elsewhere files are measured as before.

use std::os::unix::fs::MetadataExt as _;

/// The `SECCOMP_RET_DATA` of the filter's trace action (what `PTRACE_GETEVENTMSG` returns at the stop).
pub const MMAP_STOP_DATA: u32 = 0x6d6d;

/// `MAP_SHARED`, `MAP_ANONYMOUS` (x86-64).
const MAP_SHARED: u64 = 0x01;
const MAP_ANONYMOUS: u64 = 0x20;

/// The filter, in classic BPF over `struct seccomp_data` (`nr` at 0, `arch` at 4, `args[i]` at 16 + 8i, little
/// endian): on x86-64, `mmap()` (nr 9) whose descriptor (the low word of argument 4) is not -1 and whose flags
/// (argument 3) lack `MAP_ANONYMOUS` returns `SECCOMP_RET_TRACE`; everything else, other architectures'
/// system calls included (a 32-bit program, which seccompiler's own filters would kill), is allowed.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn program() -> Vec<seccompiler::sock_filter> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS
    const JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET_K: u16 = 0x05 | 0x40; // BPF_JMP | BPF_JSET | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    let op = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
    // Jump offsets count from the next instruction; ALLOW is instruction 9.
    vec![
        op(LD_W_ABS, 0, 0, 4),                                          // 0: arch
        op(JEQ_K, 0, 7, AUDIT_ARCH_X86_64),                             // 1: else ALLOW
        op(LD_W_ABS, 0, 0, 0),                                          // 2: nr
        op(JEQ_K, 0, 5, 9),                                             // 3: __NR_mmap, else ALLOW
        op(LD_W_ABS, 0, 0, 16 + 8 * 4),                                 // 4: fd
        op(JEQ_K, 3, 0, u32::MAX),                                      // 5: -1: ALLOW
        op(LD_W_ABS, 0, 0, 16 + 8 * 3),                                 // 6: flags
        op(JSET_K, 1, 0, MAP_ANONYMOUS as u32),                         // 7: MAP_ANONYMOUS: ALLOW
        op(RET_K, 0, 0, SECCOMP_RET_TRACE | (MMAP_STOP_DATA & 0xffff)), // 8: SECCOMP_RET_DATA
        op(RET_K, 0, 0, SECCOMP_RET_ALLOW),                             // 9
    ]
}

/// Installs the filter in the calling process (the child, just before it executes the command).
#[cfg(target_arch = "x86_64")]
pub fn install() -> anyhow::Result<()> {
    use anyhow::Context as _;
    seccompiler::apply_filter(&program()).context("cannot install the mmap filter")
}

/// Elsewhere the recorder does not read registers: no filter.
#[cfg(not(target_arch = "x86_64"))]
pub fn install() -> anyhow::Result<()> {
    Ok(())
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

    /// Runs the filter over one `struct seccomp_data` (classic BPF: the four instructions it uses).
    fn run(nr: u32, arch: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend(nr.to_le_bytes());
        data.extend(arch.to_le_bytes());
        data.extend(0u64.to_le_bytes()); // instruction_pointer
        args.iter().for_each(|a| data.extend(a.to_le_bytes()));
        let (prog, mut pc, mut acc) = (program(), 0usize, 0u32);
        loop {
            let i = &prog[pc];
            pc += 1;
            match i.code {
                0x20 => acc = u32::from_le_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap()),
                0x15 => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                0x45 => pc += usize::from(if acc & i.k != 0 { i.jt } else { i.jf }),
                0x06 => return i.k,
                code => panic!("unexpected instruction {code:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_stops_only_mmaps_of_files_on_x86_64() {
        const X86_64: u32 = 0xc000_003e;
        const I386: u32 = 0x4000_0003;
        let (trace, allow) = (0x7ff0_0000 | MMAP_STOP_DATA, 0x7fff_0000);
        let mmap = |fd: u64, flags: u64| [0, 4096, 1, flags, fd, 0];
        assert_eq!(run(9, X86_64, mmap(3, 0x02)), trace); // MAP_PRIVATE of fd 3
        assert_eq!(run(9, X86_64, mmap(5, 0x01)), trace); // MAP_SHARED
        assert_eq!(run(9, X86_64, mmap(u64::MAX, 0x22)), allow); // anonymous, fd -1
        assert_eq!(run(9, X86_64, mmap(0xffff_ffff, 0x22)), allow); // fd -1 as an int
        assert_eq!(run(9, X86_64, mmap(3, 0x22)), allow); // MAP_ANONYMOUS ignores the descriptor
        assert_eq!(run(10, X86_64, mmap(3, 0x02)), allow); // mprotect
        assert_eq!(run(9, I386, mmap(3, 0x02)), allow); // a 32-bit program's call 9 (link) runs
        assert_eq!(run(0x4000_0009, X86_64, mmap(3, 0x02)), allow); // x32's mmap is not stopped
    }

    #[test]
    fn the_stop_reads_the_descriptor_and_sharing() {
        assert_eq!(decode(3, 0x02), Some((3, false))); // MAP_PRIVATE
        assert_eq!(decode(7, 0x01), Some((7, true))); // MAP_SHARED
        assert_eq!(decode(u64::MAX, 0x22), None); // fd -1, MAP_PRIVATE | MAP_ANONYMOUS
        assert_eq!(decode(4, 0x21), None); // a descriptor with MAP_ANONYMOUS: ignored by the kernel
        assert_eq!(decode(0xffff_ffff_0000_0005, 0x02), Some((5, false))); // only the int counts
    }
}
