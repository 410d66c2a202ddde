//! PMD-mapped THPs: fault, huge zero page, fork sharing and COW split, partial munmap (§3.4, §3.5, §8).

use crate::sim::*;
use mmdb_model::*;

fn thp_region(s: &mut Sim, pid: Pid) -> u64 {
    let a = s.mmap(pid, HPAGE_PMD_SIZE);
    assert_eq!(s.madvise(pid, a, HPAGE_PMD_SIZE, MADV_HUGEPAGE), 0);
    a
}

#[test]
fn thp_fault_maps_a_pmd_and_is_on_the_lru_at_once() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = thp_region(&mut s, 1);
    s.write(1, a + 5 * PG, PG);
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [lru head anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.page(1, a + 5 * PG), "WDA map=1 ref=1 [lru head anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.rss(1), (0, 512, 0, 0));
    assert_eq!(s.vm(VmEvent::THP_FAULT_ALLOC), 1);
    let r = s.m.smaps_rollup(1).unwrap();
    assert_eq!((r.anonhuge_kb, r.rss_kb), (2048, 2048));
}

#[test]
fn huge_zero_page_read_then_write_allocates_a_thp() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = thp_region(&mut s, 1);
    s.read(1, a, PG);
    assert_eq!(s.page(1, a), "--A zero-page");
    assert_eq!(s.m.report().pages.huge_zero_pmds, 1);
    assert_eq!(s.vm(VmEvent::THP_ZERO_PAGE_ALLOC), 1);
    assert_eq!(s.rss(1), (0, 0, 0, 0));
    s.write(1, a, PG);
    assert_eq!(s.vm(VmEvent::THP_FAULT_ALLOC), 1);
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PMD), 0);
    assert_eq!(s.rss(1), (0, 512, 0, 0));
}

#[test]
fn cow_of_a_fork_shared_thp_splits_the_pmd_and_copies_one_page() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = thp_region(&mut s, 1);
    s.write(1, a, PG);
    let head = s.pfn(1, a).unwrap();
    s.ev(1, Op::Fork { child: 2, thread: false });
    assert_eq!(s.page(2, a), "-D- map=2 ref=2 [lru head swapbacked] lru=inactive_anon");
    s.write(1, a + 3 * PG, PG);
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PMD), 1);
    assert_ne!(s.pfn(1, a + 3 * PG), Some(head + 3));
    // Untouched pages: the parent's PTE + the child's PMD (kpagecount 2), PG_dirty from the dirty PMD.
    // refcount: 511 parent PTEs (page 3 was copied away) + the child's PMD.
    assert_eq!(s.page(1, a), "-DA map=2 ref=512 [dirty lru head swapbacked] lru=inactive_anon");
    let i = s.m.page_info(head + 3).unwrap();
    assert_eq!((i.mapcount, i.raw_mapcount), (1, -1), "only the child's PMD maps page 3 now");
    assert_eq!(s.rss(1), (0, 512, 0, 0));
    assert_eq!(s.m.smaps_rollup(1).unwrap().anonhuge_kb, 0);
    assert_eq!(s.m.smaps_rollup(2).unwrap().anonhuge_kb, 2048);
}

#[test]
fn partial_munmap_splits_the_pmd_and_queues_a_deferred_split() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = thp_region(&mut s, 1);
    s.write(1, a, PG);
    assert_eq!(s.ev(1, Op::Munmap { addr: a, len: PG }), Some(0));
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PMD), 1);
    assert_eq!(s.vm(VmEvent::THP_DEFERRED_SPLIT_PAGE), 1);
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PAGE), 0);
    assert_eq!(s.rss(1), (0, 511, 0, 0));
    assert_eq!(
        s.page(1, a + PG),
        "WDA map=1 ref=511 [dirty lru head anon_exclusive partially_mapped swapbacked] lru=inactive_anon"
    );
    // The deferred-split shrinker runs under reclaim: the folio is split and the unmapped page freed.
    s.ev(0, Op::Reclaim { nr: 1, memcg: None });
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PAGE), 1);
    assert_eq!(s.page(1, a + PG), "WDA map=1 ref=1 [dirty lru anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.m.report().pages.pages, 511);
}

#[test]
fn madv_free_of_a_whole_thp_counts_pglazyfree_immediately() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = thp_region(&mut s, 1);
    s.write(1, a, PG);
    s.madvise(1, a, HPAGE_PMD_SIZE, MADV_FREE);
    assert_eq!(s.vm(VmEvent::PGLAZYFREE), 512);
    assert_eq!(s.m.smaps_rollup(1).unwrap().lazyfree_kb, 2048);
    // Half of it: split_folio, then the small folios go through the batch.
    let mut s = Sim::new();
    s.spawn(1);
    let a = thp_region(&mut s, 1);
    s.write(1, a, PG);
    s.madvise(1, a, HPAGE_PMD_SIZE / 2, MADV_FREE);
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PAGE), 1);
    assert_eq!(s.vm(VmEvent::PGLAZYFREE), 31 * 8);
    s.drain();
    assert_eq!(s.vm(VmEvent::PGLAZYFREE), 256);
    // The split gave every page the dirty PMD's PG_dirty; MADV_FREE cleared it only inside the range.
    assert_eq!(
        s.pages(1, a + 255 * PG, 2),
        " 0 W-- map=1 ref=1 [lru anon_exclusive] lru=inactive_file\n 1 WDA map=1 ref=1 [dirty lru anon_exclusive swapbacked] lru=inactive_anon\n"
    );
}

#[test]
fn unmapping_a_whole_pte_mapped_thp_is_not_a_partial_unmap() {
    // zap_present_folio_ptes() batches the PTEs of one large folio (folio_pte_batch) into a single
    // folio_remove_rmap_ptes(): the folio goes from fully to not mapped, never "partially mapped".
    let mut s = Sim::new();
    s.spawn(1);
    let a = thp_region(&mut s, 1);
    s.write(1, a, PG);
    // mprotect of one page splits the PMD (THP_SPLIT_PMD) and the VMA; mprotect back merges the VMAs again.
    // The folio is now mapped by 512 PTEs of one PTE table in one VMA. (Without the merge, unmap_vmas() would
    // zap VMA by VMA and the kernel would see a partial unmap; a 512-PTE run that straddles two PTE tables,
    // as after an mremap to an unaligned address, is likewise zapped as two batches.)
    s.ev(1, Op::Mprotect { addr: a, len: PG, prot: PROT_READ });
    s.ev(1, Op::Mprotect { addr: a, len: PG, prot: PROT_READ | PROT_WRITE });
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PMD), 1);
    assert_eq!(s.m.vmas(1).len(), 1);
    assert_eq!(s.m.smaps_rollup(1).unwrap().anonhuge_kb, 0);
    assert_eq!(s.ev(1, Op::Munmap { addr: a, len: HPAGE_PMD_SIZE }), Some(0));
    assert_eq!(s.vm(VmEvent::THP_DEFERRED_SPLIT_PAGE), 0);
    assert_eq!(s.m.report().pages.pages, 0, "the THP is freed whole at the TLB flush");
    assert_eq!(s.vm(VmEvent::PGFREE), 512);
}
