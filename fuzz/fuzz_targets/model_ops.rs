//! Fuzzes the model with arbitrary operation sequences built from the input bytes (the model has no `Arbitrary`
//! implementation; the ops are decoded here through its public API): a few tasks, two CPUs, a small address
//! range so that operations meet, swap and memory cgroups sometimes. After every operation the invariant checker
//! must find nothing, and nothing may panic.
#![no_main]
// `fuzz_target!` expands to code that may write files (libfuzzer-sys's `-only_ascii` handling and the like).
#![allow(clippy::disallowed_methods)]

use libfuzzer_sys::fuzz_target;
use mmdb_model::lru::BatchKind;
use mmdb_model::*;

/// The bytes of the input, read one field at a time; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
}

/// The range the operations work in: 1024 pages, so that 2 MiB-aligned THP ranges occur too.
const BASE: u64 = 0x7e00_0000_0000;

fn addr(b: &mut Bytes<'_>) -> u64 {
    BASE + u64::from(b.u16() % 1100) * PAGE_SIZE + u64::from(b.u8() % 2) * 8
}

fn len(b: &mut Bytes<'_>) -> u64 {
    u64::from(b.u16() % 600 + 1) * PAGE_SIZE
}

fn access(b: &mut Bytes<'_>) -> Access {
    match b.u8() % 3 {
        0 => Access::Read,
        1 => Access::Write,
        _ => Access::Exec,
    }
}

const ADVICE: &[i64] = &[
    MADV_FREE,
    MADV_DONTNEED,
    MADV_COLD,
    MADV_PAGEOUT,
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MADV_DONTFORK,
    MADV_WILLNEED,
    MADV_NORMAL,
];

/// The next operation, or `None` when the input is used up.
fn op(b: &mut Bytes<'_>) -> Option<Op> {
    if b.0.is_empty() {
        return None;
    }
    Some(match b.u8() % 24 {
        0..=3 => Op::Fault { addr: addr(b), access: access(b), pfn: None, around: None },
        4 | 5 => Op::Touch { addr: addr(b), access: access(b) },
        6 => Op::Store { addr: addr(b), value: u64::from(b.u8()) },
        7 => Op::Gup { addr: addr(b), write: b.bool() },
        8 | 9 => Op::Madvise {
            addr: addr(b) & !(PAGE_SIZE - 1),
            len: len(b),
            advice: ADVICE[b.u8() as usize % ADVICE.len()],
        },
        10 => Op::Munmap { addr: addr(b) & !(PAGE_SIZE - 1), len: len(b) },
        11 => Op::Mprotect { addr: addr(b) & !(PAGE_SIZE - 1), len: len(b), prot: u64::from(b.u8() % 8) },
        12 | 13 => {
            let (at, len, fixed) = (addr(b) & !(PAGE_SIZE - 1), len(b), b.bool());
            let flags = MAP_PRIVATE | MAP_ANONYMOUS | if fixed { MAP_FIXED } else { 0 };
            let file = b.u8().is_multiple_of(4).then(|| FileRef { name: "f".to_string(), offset: 0 });
            let flags = if file.is_some() { flags & !MAP_ANONYMOUS } else { flags };
            Op::Mmap { addr: Some(at), len, prot: PROT_READ | PROT_WRITE, flags, file }
        }
        14 => Op::Mremap {
            addr: addr(b) & !(PAGE_SIZE - 1),
            old_len: len(b),
            new_len: len(b),
            flags: if b.bool() { MREMAP_MAYMOVE } else { 0 },
            new_addr: None,
        },
        15 => {
            if b.bool() {
                Op::Mlock { addr: addr(b) & !(PAGE_SIZE - 1), len: len(b) }
            } else {
                Op::Munlock { addr: addr(b) & !(PAGE_SIZE - 1), len: len(b) }
            }
        }
        16 => Op::Fork { child: 4 + u32::from(b.u8() % 4), thread: b.bool() },
        17 => Op::Exit,
        18 => Op::LruAddDrain,
        19 => Op::LruAddDrainAll,
        20 => Op::FolioBatchMove {
            batch: [BatchKind::LruAdd, BatchKind::LruActivate, BatchKind::LruDeactivate, BatchKind::LruLazyfree]
                [b.u8() as usize % 4],
        },
        21 => Op::Reclaim { nr: u64::from(b.u8() % 64 + 1), memcg: b.bool().then_some(1) },
        22 => Op::Brk { brk: BASE - 0x10_0000 + u64::from(b.u16() % 64) * PAGE_SIZE },
        _ => Op::Exec { filename: "x".to_string() },
    })
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let config = Config { history: b.bool(), ..Config::default() };
    let mut m = Model::new(config);
    let mut ts = 0;
    let mut apply = |m: &mut Model, pid: Pid, cpu: u32, op: Op| {
        ts += 1000;
        let text = format!("{op:?}");
        m.apply(&Event { comm: "p".to_string(), pid, cpu, ts_ns: ts, op });
        let v = m.check();
        assert!(v.is_empty(), "after {text} by {pid}: {v:#?}");
    };
    if b.bool() {
        apply(&mut m, 1, 0, Op::Swapon { size: 64 * PAGE_SIZE });
    }
    if b.bool() {
        apply(&mut m, 1, 0, Op::MemcgCreate { id: 1, limit: u64::from(b.u8() % 200 + 32) * PAGE_SIZE });
    }
    for pid in 1..=3 {
        apply(&mut m, pid, 0, Op::Spawn { comm: format!("p{pid}") });
        if b.bool() {
            apply(&mut m, pid, 0, Op::MemcgAttach { id: 1 });
        }
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
        apply(
            &mut m,
            pid,
            0,
            Op::Mmap { addr: Some(BASE), len: 1024 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags, file: None },
        );
    }
    while let Some(op) = op(&mut b) {
        let (pid, cpu) = (1 + u32::from(b.u8() % 7), u32::from(b.u8() % 2));
        apply(&mut m, pid, cpu, op);
    }
    let _ = m.report();
});
