//! mmap, munmap (including partial), mprotect, mremap, brk: VMAs and what happens to their pages.

use crate::sim::*;
use mmdb_model::*;

fn vmas(s: &Sim, pid: Pid) -> String {
    s.m.vmas(pid)
        .iter()
        .map(|v| {
            format!("{:x}-{:x} {} {}", v.start, v.end, v.flags.perms(), v.special_name.clone().unwrap_or_default())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn mmap_places_top_down_and_merges_neighbours() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    let b = s.mmap(1, 4 * PG);
    assert_eq!(a, MMAP_BASE - 4 * PG);
    assert_eq!(b, a - 4 * PG);
    // Adjacent anonymous VMAs with the same flags merge into one.
    assert_eq!(vmas(&s, 1), format!("{:x}-{:x} rw-p ", b, a + 4 * PG));
    // A 2 MiB multiple is THP-aligned.
    let c = s.mmap(1, HPAGE_PMD_SIZE);
    assert_eq!(c % HPAGE_PMD_SIZE, 0);
}

#[test]
fn mmap_errors() {
    let mut s = Sim::new();
    s.spawn(1);
    let mm = |addr, len, flags| Op::Mmap { addr, len, prot: PROT_READ, flags, file: None };
    assert_eq!(s.ev(1, mm(None, 0, MAP_PRIVATE | MAP_ANONYMOUS)), Some(-EINVAL));
    assert_eq!(s.ev(1, mm(None, PG, MAP_ANONYMOUS)), Some(-EINVAL));
    assert_eq!(s.ev(1, mm(Some(0x1001), PG, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)), Some(-EINVAL));
    let a = s.ev(1, mm(Some(0x10000000), PG, MAP_PRIVATE | MAP_ANONYMOUS)).unwrap();
    assert_eq!(a, 0x10000000, "a free hint is honoured");
    assert_eq!(s.ev(1, mm(Some(0x10000000), PG, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE)), Some(-EEXIST));
}

#[test]
fn partial_munmap_splits_the_vma_and_frees_only_that_range() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.write(1, a, 4 * PG);
    s.drain();
    assert_eq!(s.ev(1, Op::Munmap { addr: a + PG, len: 2 * PG }), Some(0));
    assert_eq!(vmas(&s, 1), format!("{:x}-{:x} rw-p \n{:x}-{:x} rw-p ", a, a + PG, a + 3 * PG, a + 4 * PG));
    assert_eq!(s.rss(1), (0, 2, 0, 0));
    assert_eq!(s.vm(VmEvent::PGFREE), 2, "drained pages are freed at the TLB flush");
    assert_eq!(s.ev(1, Op::Munmap { addr: a + 1, len: PG }), Some(-EINVAL));
    assert_eq!(s.ev(1, Op::Munmap { addr: a + PG, len: PG }), Some(0), "munmap of a hole is not an error");
}

#[test]
fn mprotect_write_protects_and_exclusive_pages_become_writable_again() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    s.write(1, a, 2 * PG);
    s.drain();
    assert_eq!(s.ev(1, Op::Mprotect { addr: a, len: PG, prot: PROT_READ }), Some(0));
    assert_eq!(s.m.vmas(1).len(), 2);
    assert_eq!(s.page(1, a), "-DA map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");
    s.ev(1, Op::Fault { addr: a, access: Access::Write, pfn: None, around: None });
    assert_eq!(s.m.diagnostics().last().unwrap().kind, "segv");
    assert_eq!(s.ev(1, Op::Mprotect { addr: a, len: PG, prot: PROT_READ | PROT_WRITE }), Some(0));
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.m.vmas(1).len(), 1, "the halves merge again");
    assert_eq!(s.ev(1, Op::Mprotect { addr: a + 8 * PG, len: PG, prot: PROT_READ }), Some(-ENOMEM));
}

#[test]
fn mremap_moves_ptes_and_the_rmap_without_touching_counts() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    s.mmap(1, PG); // blocks growing in place below... (top-down: this one is below `a`)
    s.write(1, a, 2 * PG);
    s.drain();
    let p = s.pfn(1, a).unwrap();
    // Growing in place fails only if something is above; place a blocker right after `a`'s end.
    let blocker = s
        .ev(
            1,
            Op::Mmap {
                addr: Some(a + 2 * PG),
                len: PG,
                prot: PROT_READ,
                flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                file: None,
            },
        )
        .unwrap();
    assert_eq!(blocker as u64, a + 2 * PG);
    assert_eq!(
        s.ev(1, Op::Mremap { addr: a, old_len: 2 * PG, new_len: 4 * PG, flags: 0, new_addr: None }),
        Some(-ENOMEM)
    );
    let n = s
        .ev(1, Op::Mremap { addr: a, old_len: 2 * PG, new_len: 4 * PG, flags: MREMAP_MAYMOVE, new_addr: None })
        .unwrap() as u64;
    assert_ne!(n, a);
    assert_eq!(s.pfn(1, n), Some(p));
    assert_eq!(s.page(1, a), "none");
    assert_eq!(s.m.page_info(p).unwrap().rmap, vec![format!("1:{n:#x}")]);
    assert_eq!(s.rss(1), (0, 2, 0, 0));
    // Shrinking unmaps the tail.
    assert_eq!(s.ev(1, Op::Mremap { addr: n, old_len: 4 * PG, new_len: PG, flags: 0, new_addr: None }), Some(n as i64));
    assert_eq!(s.rss(1), (0, 1, 0, 0));
}

#[test]
fn brk_grows_and_shrinks_the_heap() {
    let mut s = Sim::new();
    s.spawn(1);
    let b0 = START_BRK;
    assert_eq!(s.ev(1, Op::Brk { brk: 0 }), Some(b0 as i64));
    assert_eq!(s.ev(1, Op::Brk { brk: b0 + 3 * PG }), Some((b0 + 3 * PG) as i64));
    assert_eq!(vmas(&s, 1), format!("{:x}-{:x} rw-p [heap]", b0, b0 + 3 * PG));
    s.write(1, b0, 3 * PG);
    assert_eq!(s.ev(1, Op::Brk { brk: b0 + PG }), Some((b0 + PG) as i64));
    assert_eq!(s.rss(1), (0, 1, 0, 0));
}

#[test]
fn private_file_mappings_cow_into_anon_and_shared_ones_do_not_copy_at_fork() {
    let mut s = Sim::new();
    s.spawn(1);
    let f = FileRef { name: "/lib/x.so".into(), offset: 0 };
    let a = s
        .ev(1, Op::Mmap { addr: None, len: 2 * PG, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE, file: Some(f) })
        .unwrap() as u64;
    s.read(1, a, PG);
    assert_eq!(s.rss(1), (2, 0, 0, 0), "fault-around maps the other page too");
    s.drain();
    assert_eq!(s.page(1, a), "--A map=1 ref=2 [lru] lru=inactive_file");
    s.write(1, a, PG);
    assert_eq!(s.rss(1), (1, 1, 0, 0), "COW of a file page: MM_FILEPAGES -1, MM_ANONPAGES +1");
    let sh = s
        .ev(
            1,
            Op::Mmap {
                addr: None,
                len: PG,
                prot: PROT_READ | PROT_WRITE,
                flags: MAP_SHARED | MAP_ANONYMOUS,
                file: None,
            },
        )
        .unwrap() as u64;
    s.write(1, sh, PG);
    assert_eq!(s.rss(1), (1, 1, 0, 1));
    s.ev(1, Op::Fork { child: 2, thread: false });
    assert_eq!(s.page(2, sh), "none", "trap 9: MAP_SHARED memory is not copied at fork");
    s.read(2, sh, PG);
    // page cache + two mappings + the lru_add batch.
    assert_eq!(s.page(2, sh), "--A map=2 ref=4 [dirty swapbacked] lru=- batch=cpu0:lru_add");
}

#[test]
fn a_file_read_fault_maps_its_fault_around_window() {
    // do_fault_around(): the 16-page aligned window around the fault, clipped to the VMA and the PTE table.
    let mut s = Sim::new();
    s.spawn(1);
    let f = FileRef { name: "/usr/lib/libc.so".into(), offset: 0x10000 };
    let op = Op::Mmap {
        addr: Some(0x7f00_0000_3000),
        len: 40 * PG,
        prot: PROT_READ,
        flags: MAP_PRIVATE | MAP_FIXED,
        file: Some(f),
    };
    let a = s.ev(1, op).unwrap() as u64;
    // The fault at 0x7f0000005000 is PTE index 5, 2 pages into the VMA: from = max(align_down(5, 16), 5 - 2) = 3,
    // to = min(3 + 16, 512, 5 + 40 - 2) - 1 = 18, so indices 3-18 are mapped: 16 pages.
    s.read(1, a + 2 * PG, PG);
    assert_eq!(s.rss(1), (16, 0, 0, 0));
    assert_eq!(s.page(1, a), "--A map=1 ref=3 [] lru=- batch=cpu0:lru_add");
    assert_eq!(s.page(1, a + 15 * PG), "--A map=1 ref=3 [] lru=- batch=cpu0:lru_add");
    assert_eq!(s.page(1, a + 16 * PG), "none");
    // A fault inside the window maps nothing new; at index 19 the window is 16-31, of which 19-31 are new.
    s.read(1, a + 5 * PG, PG);
    assert_eq!(s.rss(1), (16, 0, 0, 0));
    s.read(1, a + 16 * PG, PG);
    assert_eq!(s.rss(1), (29, 0, 0, 0));
    assert_eq!(s.vm(VmEvent::PGFAULT), 3);
    assert_eq!(s.vm(VmEvent::PGALLOC), 29, "the page cache the model creates is counted as allocated pages");
}

/// An ELF's RELRO range: the data segment is mapped writable (private, so `VM_ACCOUNT`), relocated (an anon_vma),
/// then `mprotect(PROT_READ)`. It keeps `VM_ACCOUNT`, so it does not merge with the read-only segment before it,
/// exactly as `/proc/PID/maps` shows for every library on 6.18 (traces/real: libc's `r--p` at 0x1cf000 stays
/// apart from the one at 0x17c000); merged, fork would copy that segment's file PTEs into the child.
#[test]
fn relro_keeps_vm_account_and_stays_apart() {
    let mut s = Sim::new();
    s.spawn(1);
    let file = |offset| Some(FileRef { name: "libc.so.6".into(), offset });
    let base = 0x7f00_0000_0000;
    let fixed = MAP_PRIVATE | MAP_FIXED;
    s.ev(1, Op::Mmap { addr: Some(base), len: 4 * PG, prot: PROT_READ, flags: fixed, file: file(0) });
    s.ev(
        1,
        Op::Mmap {
            addr: Some(base + 4 * PG),
            len: 4 * PG,
            prot: PROT_READ | PROT_WRITE,
            flags: fixed,
            file: file(4 * PG),
        },
    );
    s.write(1, base + 4 * PG, PG);
    assert_eq!(s.ev(1, Op::Mprotect { addr: base + 4 * PG, len: 2 * PG, prot: PROT_READ }), Some(0));
    let want = format!(
        "{:x}-{:x} r--p \n{:x}-{:x} r--p \n{:x}-{:x} rw-p ",
        base,
        base + 4 * PG,
        base + 4 * PG,
        base + 6 * PG,
        base + 6 * PG,
        base + 8 * PG
    );
    assert_eq!(vmas(&s, 1), want);
    // Two read-only file mappings without the accounting do merge.
    s.ev(1, Op::Mmap { addr: Some(base + 8 * PG), len: PG, prot: PROT_READ, flags: fixed, file: file(8 * PG) });
    s.ev(1, Op::Mmap { addr: Some(base + 9 * PG), len: PG, prot: PROT_READ, flags: fixed, file: file(9 * PG) });
    assert!(vmas(&s, 1).ends_with(&format!("{:x}-{:x} r--p ", base + 8 * PG, base + 10 * PG)), "{}", vmas(&s, 1));
}

/// A read fault on a file maps the fault-around window the trace gives (`around`), not the model's own guess:
/// the kernel's window knows where the file ends and which pages were cached.
#[test]
fn fault_around_takes_the_kernels_window() {
    let mut s = Sim::new();
    s.spawn(1);
    let base = 0x7f00_0000_0000;
    let file = Some(FileRef { name: "bin".into(), offset: 0 });
    s.ev(
        1,
        Op::Mmap {
            addr: Some(base),
            len: 32 * PG,
            prot: PROT_READ,
            flags: MAP_PRIVATE | MAP_FIXED,
            file: file.clone(),
        },
    );
    // The model's own window: the 16-page block.
    s.ev(1, Op::Fault { addr: base + 3 * PG, access: Access::Read, pfn: None, around: None });
    assert_eq!(s.rss(1).0, 16);
    // The kernel's window: 5 pages of the next block (the file ends there).
    s.ev(1, Op::Fault { addr: base + 17 * PG, access: Access::Read, pfn: None, around: Some((base + 16 * PG, 5)) });
    assert_eq!(s.rss(1).0, 21);
    let present = |a| matches!(s.m.lookup(1, a), Some(mmdb_model::mm::Pte::Present(_)));
    assert!(present(base + 20 * PG) && !present(base + 21 * PG));
    // A window reaching outside the VMA is clipped to it.
    s.ev(1, Op::Fault { addr: base + 25 * PG, access: Access::Read, pfn: None, around: Some((base + 24 * PG, 64)) });
    assert_eq!(s.rss(1).0, 29);
}

/// Replaying a real trace (`trace_pfns`), a file page nobody allocated during the trace was cached before it: it
/// sits on its LRU list (not in a per-CPU batch, where it would take one of the 31 slots the kernel's batch never
/// gave it), and its Pss share is only an upper bound, since processes outside the trace may map it too.
#[test]
fn pre_trace_page_cache_is_on_the_lru_and_bounds_pss() {
    let mut s = Sim::new();
    s.m = Model::new(Config { trace_pfns: true, ..Config::default() });
    s.spawn(1);
    let base = 0x7f00_0000_0000;
    let file = Some(FileRef { name: "libc.so.6".into(), offset: 0 });
    s.ev(1, Op::Mmap { addr: Some(base), len: 4 * PG, prot: PROT_READ, flags: MAP_PRIVATE | MAP_FIXED, file });
    s.ev(1, Op::Fault { addr: base, access: Access::Read, pfn: None, around: Some((base, 4)) });
    let pfn = s.pfn(1, base).expect("mapped");
    let info = s.m.page_info(pfn).expect("a page");
    assert!(info.batches.is_empty() && info.lru.is_some(), "{info:?}");
    let (rollup, low) = s.m.smaps_rollup_bounds(1).expect("a process");
    assert_eq!((rollup.rss_kb, rollup.pss_kb, low.pss_kb), (16, 16, 0));
    // An anonymous page is known exactly: it raises both ends.
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    let (rollup, low) = s.m.smaps_rollup_bounds(1).expect("a process");
    assert_eq!((rollup.pss_kb, low.pss_kb), (20, 4));
}

/// The shmem object behind `MAP_SHARED | MAP_ANONYMOUS` dies with its last mapping: the parent's munmap after the
/// child's exit truncates it and frees its pages (`shmem_evict_inode()`), as a real fork-tree trace shows; while
/// any mapping is left, the pages stay in its page cache.
#[test]
fn shared_anonymous_pages_are_freed_with_the_last_mapping() {
    let mut s = Sim::new();
    s.spawn(1);
    let flags = MAP_SHARED | MAP_ANONYMOUS;
    let a = s.ev(1, Op::Mmap { addr: None, len: 4 * PG, prot: PROT_READ | PROT_WRITE, flags, file: None });
    let a = a.expect("mmap returns") as u64;
    s.write(1, a, 4 * PG);
    s.drain();
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.read(2, a, PG);
    assert_eq!(s.m.report().pages.pages, 4);
    // The child's exit leaves the parent's mapping: the pages stay, mapped once.
    s.ev(2, Op::Exit);
    assert_eq!(s.m.report().pages.pages, 4);
    // Unmapping part of it keeps the object alive too.
    s.ev(1, Op::Munmap { addr: a, len: PG });
    assert_eq!(s.m.report().pages.pages, 4, "the object still has a mapping");
    s.ev(1, Op::Munmap { addr: a + PG, len: 3 * PG });
    assert_eq!(s.m.report().pages.pages, 0, "the last mapping gone, the object is truncated");
    assert_eq!(s.vm(VmEvent::PGFREE), 4);
}
