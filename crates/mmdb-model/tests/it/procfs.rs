//! The model's /proc views (kpageflags, kpagecount, pagemap) against values measured on 6.18.44.

use crate::sim::*;
use mmdb_model::*;

fn kflags(names: &[u32]) -> u64 {
    names.iter().map(|b| 1u64 << b).sum()
}

#[test]
fn kpageflags_of_a_fresh_page_and_of_an_unmapped_batched_one() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    let pfn = s.pfn(1, a).unwrap();
    // Measured on 6.18.44 (taskset -c 1): 0x400005808 = UPTODATE MMAP ANON SWAPBACKED OWNER_2, no LRU yet.
    assert_eq!(s.m.kpageflags(pfn), 0x4_0000_5808);
    assert_eq!(s.m.kpagecount(pfn), 1);
    let pm = s.m.pagemap(1, a).unwrap();
    assert_eq!((pm.present, pm.file, pm.excl, pm.pfn), (true, false, true, pfn));
    s.ev(1, Op::Munmap { addr: a, len: PG });
    // Measured after munmap: 0x400005008 (MMAP gone, OWNER_2 kept), kpagecount 0.
    assert_eq!(s.m.kpageflags(pfn), 0x4_0000_5008);
    assert_eq!(s.m.kpagecount(pfn), 0);
}

#[test]
fn kpageflags_after_the_lru_add_batch_drains() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 31 * PG);
    s.write(1, a, 31 * PG);
    // kernel-semantics §3.2 [T]: after 30 more faults on that CPU the first page gains LRU.
    use kpf::*;
    assert_eq!(s.m.kpageflags(s.pfn(1, a).unwrap()), kflags(&[UPTODATE, LRU, MMAP, ANON, SWAPBACKED, OWNER_2]));
}

#[test]
fn the_zero_page_and_the_huge_zero_page() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.read(1, a, PG);
    // §3.1 [T]: pagemap present with the zero pfn, not exclusive, not file; kpagecount 0; ZERO_PAGE|RESERVED.
    let pm = s.m.pagemap(1, a).unwrap();
    assert_eq!((pm.present, pm.file, pm.excl, pm.pfn), (true, false, false, ZERO_PFN));
    assert_eq!(s.m.kpagecount(ZERO_PFN), 0);
    assert_eq!(s.m.kpageflags(ZERO_PFN), kflags(&[kpf::ZERO_PAGE, kpf::RESERVED]));
    let h = s.mmap(1, HPAGE_PMD_SIZE);
    s.madvise(1, h, HPAGE_PMD_SIZE, MADV_HUGEPAGE);
    s.read(1, h + 3 * PG, PG);
    // §3.1 [T]: the huge zero page via a PMD shows PM_FILE; kpageflags THP|ZERO_PAGE and HEAD or TAIL.
    let pm = s.m.pagemap(1, h + 3 * PG).unwrap();
    assert!(pm.present && pm.file && !pm.excl);
    assert_eq!(s.m.kpagecount(pm.pfn), 0);
    assert_eq!(s.m.kpageflags(pm.pfn), kflags(&[kpf::ZERO_PAGE, kpf::THP, kpf::COMPOUND_TAIL]));
}

#[test]
fn a_thp_and_a_fork_shared_thp() {
    let mut s = Sim::new();
    s.spawn(1);
    let h = s.mmap(1, HPAGE_PMD_SIZE);
    s.madvise(1, h, HPAGE_PMD_SIZE, MADV_HUGEPAGE);
    s.write(1, h, PG);
    let head = s.pfn(1, h).unwrap();
    use kpf::*;
    // §3.4 [T]: LRU SWAPBACKED HEAD|TAIL THP OWNER_2, tails reporting the head's OWNER_2.
    let common = [UPTODATE, LRU, MMAP, ANON, SWAPBACKED, THP, OWNER_2];
    assert_eq!(s.m.kpageflags(head), kflags(&common) | kflags(&[COMPOUND_HEAD]));
    assert_eq!(s.m.kpageflags(head + 7), kflags(&common) | kflags(&[COMPOUND_TAIL]));
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.write(1, h + 3 * PG, PG);
    // §9.3 [T]: after the parent's COW split, an untouched page reads 2 (parent PTE + child PMD).
    assert_eq!(s.m.kpagecount(head + 5), 2);
    assert_eq!(s.m.kpagecount(head + 3), 1);
    assert!(!s.m.pagemap(1, h + 5 * PG).unwrap().excl);
}

#[test]
fn an_mlocked_page_populated_by_gup_is_referenced() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.ev(1, Op::Mlock { addr: a, len: PG });
    use kpf::*;
    // §5.5 [T]: REFERENCED UPTODATE LRU MMAP ANON SWAPBACKED UNEVICTABLE MLOCKED OWNER_2.
    let want = kflags(&[REFERENCED, UPTODATE, LRU, MMAP, ANON, SWAPBACKED, UNEVICTABLE, MLOCKED, OWNER_2]);
    assert_eq!(s.m.kpageflags(s.pfn(1, a).unwrap()), want);
}

#[test]
fn a_swapped_page_in_pagemap() {
    let mut s = Sim::new();
    s.ev(0, Op::Swapon { size: 64 * PG });
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.madvise(1, a, PG, MADV_PAGEOUT);
    // Swap entry: type 0 in bits 0-4, offset 1 above them.
    let pm = s.m.pagemap(1, a).unwrap();
    assert_eq!((pm.present, pm.swapped, pm.pfn), (false, true, 1 << 5));
}

/// `/proc/PID/statm` (`task_statm()`), against deltas measured on 6.18.44 (a Python process mapping regions and
/// reading its own statm): 16 private writable pages with 8 written add `16 8 0 0 0 16 0`; 4 shared anonymous
/// pages written add `4 4 4 0 0 0 0` (shmem is resident and shared, and not data); 2 private read-only pages add
/// `2 0 0 0 0 0 0`.
#[test]
fn statm_counts_sizes_rss_and_data_like_task_statm() {
    let mut s = Sim::new();
    s.spawn(1);
    let rw = PROT_READ | PROT_WRITE;
    let a = s.mmap(1, 16 * PG);
    s.write(1, a, 8 * PG);
    assert_eq!(s.m.statm(1).map(|m| m.to_string()).as_deref(), Some("16 8 0 0 0 16 0"));
    let shared = MAP_SHARED | MAP_ANONYMOUS;
    let b = s.ev(1, Op::Mmap { addr: None, len: 4 * PG, prot: rw, flags: shared, file: None }).unwrap() as u64;
    s.write(1, b, 4 * PG);
    assert_eq!(s.m.statm(1).map(|m| m.to_string()).as_deref(), Some("20 12 4 0 0 16 0"));
    let private = MAP_PRIVATE | MAP_ANONYMOUS;
    s.ev(1, Op::Mmap { addr: None, len: 2 * PG, prot: PROT_READ, flags: private, file: None });
    assert_eq!(s.m.statm(1).map(|m| m.to_string()).as_deref(), Some("22 12 4 0 0 16 0"));
    assert_eq!(s.m.statm(9), None);
}

/// The lazyfree-rss patch's eighth statm field: MM_LAZYFREEPAGES, only under its profiles.
#[test]
fn statm_has_an_eighth_field_under_lazyfree_rss() {
    for (profile, want) in [(Profile::LazyfreeRss, "4 4 0 0 0 4 0 4"), (Profile::Linux412, "4 4 0 0 0 4 0")] {
        let mut s = Sim::new();
        s.m = Model::new(Config { profile, ..Config::default() });
        s.spawn(1);
        s.lazyfree_region(1, 4);
        assert_eq!(s.m.statm(1).map(|m| m.to_string()).as_deref(), Some(want), "{profile:?}");
    }
}
