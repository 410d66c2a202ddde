//! Property test: random operation sequences never break an invariant and never panic.

use mmdb_model::*;
use proptest::prelude::*;

fn op_strategy() -> impl Strategy<Value = (u32, u32, Op)> {
    let pid = 1u32..4;
    let cpu = 0u32..2;
    let page = 0u64..1100;
    let npages = 1u64..600;
    let advice = prop::sample::select(vec![
        MADV_FREE,
        MADV_DONTNEED,
        MADV_COLD,
        MADV_PAGEOUT,
        MADV_HUGEPAGE,
        MADV_NOHUGEPAGE,
        MADV_DONTFORK,
    ]);
    let base = 0x7e00_0000_0000u64;
    let op = prop_oneof![
        3 => (page.clone(), prop::bool::ANY).prop_map(move |(p, w)| Op::Touch { addr: base + p * PAGE_SIZE, access: if w { Access::Write } else { Access::Read } }),
        6 => (page.clone(), prop::bool::ANY).prop_map(move |(p, w)| Op::Fault { addr: base + p * PAGE_SIZE + 8, access: if w { Access::Write } else { Access::Read }, pfn: None, around: None }),
        2 => (page.clone(), npages.clone(), advice).prop_map(move |(p, n, advice)| Op::Madvise { addr: base + p * PAGE_SIZE, len: n * PAGE_SIZE, advice }),
        1 => (page.clone(), npages.clone()).prop_map(move |(p, n)| Op::Munmap { addr: base + p * PAGE_SIZE, len: n * PAGE_SIZE }),
        1 => (page.clone(), npages.clone(), 0u64..8).prop_map(move |(p, n, prot)| Op::Mprotect { addr: base + p * PAGE_SIZE, len: n * PAGE_SIZE, prot: prot & 3 }),
        1 => (page.clone(), npages.clone()).prop_map(move |(p, n)| Op::Mmap { addr: Some(base + p * PAGE_SIZE), len: n * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, file: None }),
        1 => (page.clone(), npages.clone(), npages.clone()).prop_map(move |(p, o, n)| Op::Mremap { addr: base + p * PAGE_SIZE, old_len: o * PAGE_SIZE, new_len: n * PAGE_SIZE, flags: MREMAP_MAYMOVE, new_addr: None }),
        1 => (page.clone(), npages.clone(), prop::bool::ANY).prop_map(move |(p, n, l)| if l { Op::Mlock { addr: base + p * PAGE_SIZE, len: n * PAGE_SIZE } } else { Op::Munlock { addr: base + p * PAGE_SIZE, len: n * PAGE_SIZE } }),
        1 => (4u32..7, prop::bool::ANY).prop_map(|(child, thread)| Op::Fork { child, thread }),
        1 => Just(Op::Exit),
        1 => Just(Op::LruAddDrain),
        1 => (1u64..64).prop_map(|nr| Op::Reclaim { nr, memcg: None }),
    ];
    (pid, cpu, op)
}

proptest! {
    #[test]
    fn random_sequences_keep_every_invariant(ops in prop::collection::vec(op_strategy(), 1..120), swap in prop::bool::ANY, limit in prop::option::of(64u64..400)) {
        let mut m = Model::new(Config::default());
        let mut ts = 0;
        let mut apply = |m: &mut Model, pid, cpu, op| {
            ts += 1000;
            m.apply(&Event { comm: "p".into(), pid, cpu, ts_ns: ts, op });
            let v = m.check();
            prop_assert!(v.is_empty(), "{:#?}", v);
            Ok(())
        };
        if swap {
            apply(&mut m, 0, 0, Op::Swapon { size: 256 * PAGE_SIZE })?;
        }
        if let Some(l) = limit {
            apply(&mut m, 0, 0, Op::MemcgCreate { id: 1, limit: l * PAGE_SIZE })?;
        }
        for pid in 1..4 {
            apply(&mut m, pid, 0, Op::Spawn { comm: "p".into() })?;
            if limit.is_some() {
                apply(&mut m, pid, 0, Op::MemcgAttach { id: 1 })?;
            }
            apply(&mut m, pid, 0, Op::Mmap { addr: Some(0x7e00_0000_0000), len: 1024 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, file: None })?;
        }
        for (pid, cpu, op) in ops {
            apply(&mut m, pid, cpu, op)?;
        }
        apply(&mut m, 0, 0, Op::LruAddDrainAll)?;
    }
}

#[test]
fn replay_is_deterministic() {
    let run = || {
        let mut m = Model::new(Config::default());
        let mut ts = 0;
        let mut ap = |m: &mut Model, pid, op| {
            ts += 1;
            m.apply(&Event { comm: "p".into(), pid, cpu: 0, ts_ns: ts, op });
        };
        ap(&mut m, 1, Op::Spawn { comm: "p".into() });
        ap(
            &mut m,
            1,
            Op::Mmap { addr: None, len: 64 * PAGE_SIZE, prot: 3, flags: MAP_PRIVATE | MAP_ANONYMOUS, file: None },
        );
        for i in 0..64 {
            ap(
                &mut m,
                1,
                Op::Fault {
                    addr: MMAP_BASE - 64 * PAGE_SIZE + i * PAGE_SIZE,
                    access: Access::Write,
                    pfn: None,
                    around: None,
                },
            );
        }
        ap(&mut m, 1, Op::Fork { child: 2, thread: false });
        ap(&mut m, 2, Op::Madvise { addr: MMAP_BASE - 64 * PAGE_SIZE, len: 32 * PAGE_SIZE, advice: MADV_FREE });
        ap(&mut m, 0, Op::Reclaim { nr: 16, memcg: None });
        format!("{:?}", m.report())
    };
    assert_eq!(run(), run());
}

fn any_op() -> impl Strategy<Value = Op> {
    let n =
        || prop_oneof![any::<u64>(), 0u64..0x10000, Just(u64::MAX), Just(u64::MAX - 4095), Just(MMAP_BASE - 0x1000)];
    let acc = prop::sample::select(vec![Access::Read, Access::Write, Access::Exec]);
    prop_oneof![
        (
            n(),
            n(),
            0u64..8,
            prop_oneof![
                Just(MAP_PRIVATE | MAP_ANONYMOUS),
                Just(MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
                Just(MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE),
                any::<u64>()
            ]
        )
            .prop_map(|(a, len, prot, flags)| Op::Mmap { addr: Some(a), len, prot, flags, file: None }),
        (n(), n()).prop_map(|(addr, len)| Op::Munmap { addr, len }),
        (n(), n(), prop_oneof![0u64..8, any::<u64>()]).prop_map(|(addr, len, prot)| Op::Mprotect { addr, len, prot }),
        (n(), n(), n(), prop_oneof![Just(0u64), Just(MREMAP_MAYMOVE), Just(3u64), any::<u64>()], prop::option::of(n()))
            .prop_map(|(addr, old_len, new_len, flags, new_addr)| {
                Op::Mremap { addr, old_len, new_len, flags, new_addr }
            }),
        n().prop_map(|brk| Op::Brk { brk }),
        (n(), acc.clone(), prop::option::of(n()), prop::option::of((n(), n())))
            .prop_map(|(addr, access, pfn, around)| Op::Fault { addr, access, pfn, around }),
        (n(), acc).prop_map(|(addr, access)| Op::Touch { addr, access }),
        (
            n(),
            n(),
            prop_oneof![prop::sample::select(MADV_NAMES.iter().map(|(_, v)| *v).collect::<Vec<_>>()), any::<i64>()]
        )
            .prop_map(|(addr, len, advice)| Op::Madvise { addr, len, advice }),
        (n(), n()).prop_map(|(addr, len)| Op::Mlock { addr, len }),
        (n(), n()).prop_map(|(addr, len)| Op::Munlock { addr, len }),
        any::<u64>().prop_map(|nr| Op::Reclaim { nr, memcg: None }),
        (any::<u32>(), any::<u64>()).prop_map(|(id, limit)| Op::MemcgCreate { id, limit }),
        any::<u32>().prop_map(|id| Op::MemcgAttach { id }),
        n().prop_map(|size| Op::Swapon { size: size % (1 << 30) }),
        (any::<u32>(), any::<bool>()).prop_map(|(child, thread)| Op::Fork { child, thread }),
    ]
}

proptest! {
    /// Hostile field values (overflowing lengths, pfns near u64::MAX, unknown flags) never panic the model.
    #[test]
    fn hostile_values_never_panic(ops in prop::collection::vec((0u32..3, any::<u32>(), any_op()), 1..60)) {
        let mut m = Model::new(Config::default());
        for pid in 1..3 {
            m.apply(&Event { comm: "p".into(), pid, cpu: 0, ts_ns: 0, op: Op::Spawn { comm: "p".into() } });
            let thp = Op::Mmap { addr: None, len: 4 * HPAGE_PMD_SIZE, prot: 3, flags: MAP_PRIVATE | MAP_ANONYMOUS, file: None };
            m.apply(&Event { comm: "p".into(), pid, cpu: 0, ts_ns: 0, op: thp });
        }
        for (pid, cpu, op) in ops {
            m.apply(&Event { comm: "p".into(), pid, cpu: cpu % 4, ts_ns: 1, op });
        }
        let v = m.check();
        prop_assert!(v.is_empty(), "{:#?}", v);
    }
}
