//! madvise: MADV_FREE and its batches, MADV_DONTNEED, MADV_COLD, MADV_PAGEOUT, EINVAL/ENOMEM (§5).

use crate::sim::*;
use mmdb_model::*;

#[test]
fn madv_free_of_batched_pages_does_nothing_until_they_reach_the_lru() {
    // folio_mark_lazyfree() needs PG_lru; madvise_free_single_vma drains this CPU first, so pages faulted on
    // this CPU are on the LRU by then. Pages faulted on another CPU are still in its batch: silently skipped,
    // although their PTEs were cleaned.
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    s.cpu = 1;
    s.write(1, a, PG);
    s.cpu = 0;
    s.write(1, a + PG, PG);
    assert_eq!(s.madvise(1, a, 2 * PG, MADV_FREE), 0);
    assert_eq!(s.page(1, a), "W-- map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu1:lru_add");
    assert_eq!(
        s.page(1, a + PG),
        "W-- map=1 ref=2 [lru anon_exclusive swapbacked] lru=inactive_anon batch=cpu0:lru_lazyfree"
    );
    // PGLAZYFREE is counted when the lazyfree batch drains.
    assert_eq!(s.vm(VmEvent::PGLAZYFREE), 0);
    s.drain();
    assert_eq!(s.vm(VmEvent::PGLAZYFREE), 1);
    assert_eq!(s.page(1, a + PG), "W-- map=1 ref=1 [lru anon_exclusive] lru=inactive_file");
    assert_eq!(s.page(1, a), "W-- map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");
    let r = s.m.smaps_rollup(1).unwrap();
    assert_eq!((r.lazyfree_kb, r.private_clean_kb, r.anon_kb), (4, 8, 8));
}

#[test]
fn rewriting_a_lazyfree_page_moves_it_out_of_smaps_lazyfree_without_a_fault() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.lazyfree_region(1, 4);
    assert_eq!(s.m.smaps_rollup(1).unwrap().lazyfree_kb, 16);
    // The PTE kept RW, so the store only sets Dirty in hardware: no fault at all.
    let faults = s.vm(VmEvent::PGFAULT);
    s.store(1, a, PG);
    assert_eq!(s.vm(VmEvent::PGFAULT), faults);
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [lru anon_exclusive] lru=inactive_file");
    let r = s.m.smaps_rollup(1).unwrap();
    assert_eq!((r.lazyfree_kb, r.private_dirty_kb, r.private_clean_kb), (12, 4, 12));
}

/// A trace cannot show such a store, so the model knows LazyFree only from above: every lazyfree page mapped
/// writable and clean may have been dirtied behind its back. A read-only mapping cannot be dirtied silently.
#[test]
fn lazyfree_is_bounded_below_by_the_pages_no_store_can_dirty_silently() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.lazyfree_region(1, 4);
    let (r, low) = s.m.smaps_rollup_bounds(1).unwrap();
    assert_eq!((r.lazyfree_kb, low.lazyfree_kb), (16, 0));
    assert_eq!(s.ev(1, Op::Mprotect { addr: a, len: 2 * PG, prot: PROT_READ }), Some(0));
    let (r, low) = s.m.smaps_rollup_bounds(1).unwrap();
    assert_eq!((r.lazyfree_kb, low.lazyfree_kb), (16, 8));
}

#[test]
fn madv_free_then_reclaim_discards_clean_pages_and_rescues_dirty_ones() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 16 * PG);
    s.write(1, a, 16 * PG);
    s.madvise(1, a, 16 * PG, MADV_FREE);
    s.drain();
    s.write(1, a, 2 * PG); // re-dirty two pages
    assert_eq!(s.madvise(1, a, 16 * PG, MADV_PAGEOUT), 0);
    // kernel-semantics §6.1 item 5: pglazyfreed +14, pgactivate +2; clean pages gone, dirty ones swap-backed.
    assert_eq!(s.vm(VmEvent::PGLAZYFREED), 14);
    assert_eq!(s.vm(VmEvent::PGACTIVATE), 2);
    assert_eq!(s.page(1, a + 2 * PG), "none");
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [dirty active anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    assert_eq!(s.rss(1), (0, 2, 0, 0));
    s.drain();
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [dirty lru active anon_exclusive swapbacked] lru=active_anon");
    // A discarded page reads back as the zero page.
    s.read(1, a + 5 * PG, PG);
    assert_eq!(s.page(1, a + 5 * PG), "--A zero-page");
}

#[test]
fn madv_free_on_a_fork_shared_page_loses_the_clean_mapping_but_the_page_survives() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.madvise(1, a, PG, MADV_FREE);
    s.drain();
    // §5.2: not PG_dirty, not swapcache, so it is made lazyfree; only this process's PTE is cleaned.
    assert_eq!(s.page(1, a), "--- map=2 ref=2 [lru] lru=inactive_file");
    assert_eq!(s.page(2, a), "-D- map=2 ref=2 [lru] lru=inactive_file");
    assert_eq!(s.vm(VmEvent::PGLAZYFREE), 1);
    // try_to_unmap_one() walks the mappings oldest first: the parent's clean PTE passes the discard check
    // (refcount == 1 + mapcount) and is zapped (MM_ANONPAGES -1 in the parent); the child's dirty PTE then
    // sets PG_dirty, restores, folio_set_swapbacked() and aborts. The page survives, activated, in the child.
    s.ev(0, Op::Reclaim { nr: 32, memcg: None });
    assert_eq!(s.vm(VmEvent::PGLAZYFREED), 0);
    assert_eq!(s.page(1, a), "none");
    assert_eq!(s.rss(1), (0, 0, 0, 0));
    assert_eq!(s.page(2, a), "-D- map=1 ref=1 [dirty lru active swapbacked] lru=active_anon");
    assert_eq!(s.vm(VmEvent::PGACTIVATE), 1);
}

#[test]
fn madv_dontneed_zaps_without_draining() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    s.write(1, a, 2 * PG);
    let p = s.pfn(1, a).unwrap();
    assert_eq!(s.madvise(1, a, 2 * PG, MADV_DONTNEED), 0);
    assert_eq!(s.page(1, a), "none");
    assert_eq!(s.rss(1), (0, 0, 0, 0));
    // trap 5: the page is alive until the batch drains. PG_anon_exclusive survives the zap: measured on
    // 6.18.44, kpageflags of such a page read 0x400005008 (UPTODATE ANON SWAPBACKED OWNER_2, no MMAP).
    let i = s.m.page_info(p).unwrap();
    assert_eq!(
        (i.refcount, i.mapcount, i.flags.clone()),
        (1, 0, vec!["PG_uptodate", "PG_anon_exclusive", "PG_swapbacked"])
    );
    s.drain();
    assert!(s.m.page_info(p).is_none());
    s.write(1, a, PG);
    assert_eq!(s.pfn(1, a), Some(p + 1), "LIFO free list: the last freed pfn comes back first");
}

#[test]
fn madv_cold_deactivates_and_clears_referenced() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.madvise(1, a, PG, MADV_FREE);
    s.drain();
    s.write(1, a, PG);
    s.madvise(1, a, PG, MADV_PAGEOUT);
    s.drain();
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [dirty lru active anon_exclusive swapbacked] lru=active_anon");
    assert_eq!(s.madvise(1, a, PG, MADV_COLD), 0);
    s.drain();
    assert_eq!(s.page(1, a), "WD- map=1 ref=1 [dirty lru workingset anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.vm(VmEvent::PGDEACTIVATE), 1);
}

#[test]
fn madv_pageout_without_swap_activates_anon_pages() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.write(1, a, 4 * PG);
    s.madvise(1, a, 4 * PG, MADV_PAGEOUT);
    assert_eq!(s.vm(VmEvent::PGACTIVATE), 4);
    s.drain();
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [lru active anon_exclusive swapbacked] lru=active_anon");
}

#[test]
fn einval_and_enomem_cases() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    assert_eq!(s.madvise(1, a + 1, PG, MADV_FREE), -EINVAL);
    assert_eq!(s.madvise(1, a, PG, 9999), -EINVAL);
    assert_eq!(s.madvise(1, a, 0, MADV_FREE), 0);
    assert_eq!(s.ev(1, Op::Mlock { addr: a, len: PG }), Some(0));
    for adv in [MADV_FREE, MADV_DONTNEED, MADV_COLD, MADV_PAGEOUT] {
        assert_eq!(s.madvise(1, a, PG, adv), -EINVAL, "{}", madv_name(adv).unwrap());
    }
    assert_eq!(s.madvise(1, a, PG, MADV_DONTNEED_LOCKED), 0);
    // A gap: the mapped part is processed, then -ENOMEM.
    assert_eq!(s.ev(1, Op::Munmap { addr: a + 2 * PG, len: PG }), Some(0));
    s.write(1, a + PG, PG);
    assert_eq!(s.madvise(1, a + PG, 3 * PG, MADV_DONTNEED), -ENOMEM);
    assert_eq!(s.page(1, a + PG), "none");
    // MAP_SHARED anonymous memory is shmem: MADV_FREE refuses it.
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
    assert_eq!(s.madvise(1, sh, PG, MADV_FREE), -EINVAL);
}

#[test]
fn mlocked_pages_are_unevictable() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    s.write(1, a, PG);
    assert_eq!(s.ev(1, Op::Mlock { addr: a, len: 2 * PG }), Some(0));
    // No explicit drain: mlock() drains around its page walk and GUP populate drains after faulting.
    // Both pages: the existing one mlocked, the other populated through GUP (a write fault: private+writable).
    // GUP's FOLL_TOUCH marks every page it returns accessed: PG_referenced (§5.5 [T] shows REFERENCED).
    let locked = "WDA map=1 ref=1 [referenced lru anon_exclusive swapbacked unevictable mlocked] lru=unevictable";
    assert_eq!(s.page(1, a), locked);
    assert_eq!(s.page(1, a + PG), locked);
    assert_eq!(s.vm(VmEvent::UNEVICTABLE_PGMLOCKED), 2);
    assert_eq!(s.vm(VmEvent::PGFAULT), 2);
    assert_eq!(s.ev(1, Op::Munlock { addr: a, len: 2 * PG }), Some(0));
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [referenced lru anon_exclusive swapbacked] lru=inactive_anon");
}
