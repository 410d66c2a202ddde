//! Reclaim, memcg limits and swap (kernel-semantics §6, §7, §11).

use crate::sim::*;
use mmdb_model::*;

#[test]
fn global_reclaim_without_swap_frees_only_lazyfree_pages() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 8 * PG);
    s.write(1, a, 8 * PG);
    s.madvise(1, a, 4 * PG, MADV_FREE);
    s.drain();
    // The first scan finds the young PTEs (the fault made them young): PG_referenced, kept.
    let freed = s.ev(0, Op::Reclaim { nr: 32, memcg: None }).unwrap();
    assert_eq!(freed, 4, "MADV_FREE cleared young, so the lazyfree pages go at once");
    assert_eq!(s.rss(1), (0, 4, 0, 0));
    assert_eq!(s.vm(VmEvent::PGLAZYFREED), 4);
    assert_eq!(s.page(1, a + 4 * PG), "WDA map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");
}

#[test]
fn swap_out_and_swap_in() {
    let mut s = Sim::new();
    s.ev(0, Op::Swapon { size: 64 * PG });
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.write(1, a, 4 * PG);
    s.drain();
    // The first reclaim pass finds young PTEs and keeps the pages (PG_referenced); the second swaps them.
    let freed = s.ev(0, Op::Reclaim { nr: 4, memcg: None }).unwrap();
    assert_eq!(freed, 4);
    assert_eq!(s.rss(1), (0, 0, 4, 0));
    assert_eq!(s.page(1, a), "swap entry=0x1 excl=1");
    assert_eq!(s.vm(VmEvent::PSWPOUT), 4);
    let r = s.m.smaps_rollup(1).unwrap();
    assert_eq!((r.rss_kb, r.swap_kb), (0, 16));
    // Swap-in of an exclusive entry maps a fresh folio writable (write fault: dirty too).
    s.write(1, a, PG);
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    assert_eq!((s.vm(VmEvent::PGMAJFAULT), s.vm(VmEvent::PSWPIN)), (1, 1));
    assert_eq!(s.rss(1), (0, 1, 3, 0));
    // A shared swap entry (after fork) goes through the swap cache; munmap releases the rest.
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.read(2, a + PG, PG);
    assert_eq!(s.page(2, a + PG), "--A map=1 ref=3 [swapcache swapbacked] lru=- batch=cpu0:lru_add");
    // The parent finds it in the swap cache (a minor fault). The swap count is now 0 but a read fault with
    // swap far from full does not free the cache (should_try_to_free_swap).
    s.read(1, a + PG, PG);
    assert_eq!(s.page(1, a + PG), "--A map=2 ref=4 [swapcache swapbacked] lru=- batch=cpu0:lru_add");
    assert_eq!(s.vm(VmEvent::PGMAJFAULT), 2);
    s.ev(1, Op::Munmap { addr: a, len: 4 * PG });
    s.ev(2, Op::Munmap { addr: a, len: 4 * PG });
    s.drain();
    assert_eq!(s.m.report().swap.unwrap().used_pages, 0);
    assert_eq!(s.m.report().pages.pages, 0);
}

#[test]
fn memcg_limit_reclaims_then_oom_kills() {
    let mut s = Sim::new();
    s.ev(0, Op::MemcgCreate { id: 1, limit: 8 * PG });
    s.spawn(1);
    s.ev(1, Op::MemcgAttach { id: 1 });
    let a = s.mmap(1, 16 * PG);
    s.write(1, a, 4 * PG);
    s.madvise(1, a, 4 * PG, MADV_FREE);
    s.drain();
    // 4 lazyfree pages + 4 more fill the limit; the next charge reclaims the lazyfree ones.
    s.write(1, a + 4 * PG, 5 * PG);
    let r = s.m.report();
    assert_eq!(r.memcgs[0].usage_pages, 5);
    assert_eq!(r.memcgs[0].reclaims, 1);
    assert_eq!(s.vm(VmEvent::PGLAZYFREED), 4);
    // Nothing reclaimable left (no swap): the memcg OOM killer takes the process.
    s.write(1, a + 9 * PG, 4 * PG);
    assert_eq!(s.vm(VmEvent::OOM_KILL), 1);
    assert!(s.m.task(1).is_none());
    assert!(s.m.diagnostics().iter().any(|d| d.kind == "oom-kill"));
    s.drain();
    assert_eq!(s.m.report().memcgs[0].usage_pages, 0);
}

/// The machine's memory bounds what the model allocates on its own: global reclaim first (lazyfree pages go),
/// then the OOM killer, so a `MAP_POPULATE` of any size ends with a kill, not with the model filling memory.
#[test]
fn totalram_reclaims_then_oom_kills_so_populate_stays_bounded() {
    let mut s = Sim::new();
    s.m = Model::new(Config { totalram_pages: 12, ..Config::default() });
    s.spawn(1);
    s.spawn(2);
    let a = s.lazyfree_region(1, 4);
    let held = |s: &Sim| s.m.report().pages.pages;
    assert_eq!(held(&s), 4);
    // 1 TiB populated: 8 pages fit, the next reclaims the 4 lazyfree pages, then memory is full for good.
    let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
    let big = s.ev(2, Op::Mmap { addr: None, len: 1 << 40, prot: PROT_READ | PROT_WRITE, flags, file: None });
    assert!(big.is_some_and(|r| r > 0), "mmap itself succeeds: {big:?}");
    assert_eq!(s.vm(VmEvent::PGLAZYFREED), 4);
    assert_eq!(s.vm(VmEvent::OOM_KILL), 1);
    assert!(s.m.task(2).is_none(), "the populating task had the most pages");
    assert_eq!(s.pfn(1, a), None, "pid 1 lost its lazyfree pages, not its life");
    assert!(s.m.task(1).is_some());
    let d = s.m.diagnostics().iter().find(|d| d.kind == "oom-kill").map(|d| d.message.clone());
    assert_eq!(d.as_deref(), Some("the machine out of memory: killed pid 2 (12 pages)"));
    assert!(held(&s) <= 12);
}

#[test]
fn write_to_a_swap_cache_page_frees_the_slot_and_maps_it_exclusive() {
    // Regression: the swap-cache hit must hold the lookup reference, or folio_free_swap() frees the folio
    // under the fault.
    let mut s = Sim::new();
    s.ev(0, Op::Swapon { size: 256 * PG });
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.madvise(1, a, PG, MADV_PAGEOUT);
    assert_eq!(s.page(1, a), "swap entry=0x1 excl=1");
    s.ev(1, Op::Fork { child: 2, thread: false });
    assert_eq!(s.page(1, a), "swap entry=0x1 excl=0", "fork clears swp_exclusive in the parent");
    s.cpu = 1;
    s.read(2, a, PG); // swap count 2: through the swap cache, mapped read-only, not exclusive
    assert_eq!(s.page(2, a), "--A map=1 ref=3 [swapcache swapbacked] lru=- batch=cpu1:lru_add");
    s.ev(2, Op::LruAddDrain);
    s.ev(2, Op::Exit);
    s.cpu = 0;
    // The parent's write: swap count drops to 0 and refcount == 1 + nr, so should_try_to_free_swap() frees the
    // slot; folio_free_swap() dirties the folio; refcount 1 makes it exclusive: writable, no COW.
    s.write(1, a, PG);
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [dirty lru anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.vm(VmEvent::PGREUSE), 0);
    assert_eq!(s.m.report().swap.unwrap().used_pages, 0);
    assert_eq!(s.rss(1), (0, 1, 0, 0));
}

#[test]
fn a_fresh_swap_in_that_bypasses_the_cache_is_exclusive() {
    // §7 / 6.12 mm/memory.c do_swap_page: "We have a fresh page that is not exposed to the swapcache ->
    // certainly exclusive", even when the swap PTE lost swp_exclusive at fork.
    let mut s = Sim::new();
    s.ev(0, Op::Swapon { size: 256 * PG });
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.madvise(1, a, PG, MADV_PAGEOUT);
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.ev(2, Op::Exit); // swap count back to 1, but the parent's PTE stays non-exclusive
    assert_eq!(s.page(1, a), "swap entry=0x1 excl=0");
    s.read(1, a, PG);
    assert_eq!(s.page(1, a), "W-A map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
}

#[test]
fn a_swap_in_that_fills_the_lru_add_batch_keeps_its_folio() {
    // Regression: the fault's reference must be held before folio_add_lru(); when that add is the 31st, the
    // batch drains at once and drops the batch reference.
    let mut s = Sim::new();
    s.ev(0, Op::Swapon { size: 256 * PG });
    s.spawn(1);
    let a = s.mmap(1, 64 * PG);
    s.write(1, a, PG);
    s.madvise(1, a, PG, MADV_PAGEOUT);
    assert_eq!(s.page(1, a), "swap entry=0x1 excl=1");
    s.write(1, a + PG, 30 * PG); // 30 folios in CPU 0's lru_add batch
    s.write(1, a, PG); // the swap-in is the 31st add
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.m.report().pages.in_batch, 0);
}

#[test]
fn page_cache_a_process_reads_is_charged_to_its_memcg() {
    // mem_cgroup_charge() at filemap_add_folio(): the memcg of the task that brings the page in pays for it.
    let mut s = Sim::new();
    s.ev(0, Op::MemcgCreate { id: 1, limit: 0 });
    s.spawn(1);
    s.ev(1, Op::MemcgAttach { id: 1 });
    let f = FileRef { name: "/data/file".into(), offset: 0 };
    let op = Op::Mmap { addr: None, len: 4 * PG, prot: PROT_READ, flags: MAP_PRIVATE, file: Some(f) };
    let a = s.ev(1, op).unwrap() as u64;
    s.read(1, a, PG); // fault-around brings in all four pages
    assert_eq!(s.m.report().memcgs[0].usage_pages, 4);
}

#[test]
fn memcg_reclaim_scans_only_that_memcg() {
    // try_to_free_mem_cgroup_pages(): only the target memcg's lruvec is scanned.
    let mut s = Sim::new();
    s.ev(0, Op::MemcgCreate { id: 1, limit: 0 });
    for pid in [1, 2] {
        s.spawn(pid);
        let a = s.mmap(pid, 4 * PG);
        s.write(pid, a, 4 * PG);
        s.madvise(pid, a, 4 * PG, MADV_FREE);
    }
    s.ev(1, Op::MemcgAttach { id: 1 }); // pid 1's pages stay charged to the root: v1 does not move charges
    let b = s.mmap(1, 4 * PG);
    s.write(1, b, 4 * PG);
    s.madvise(1, b, 4 * PG, MADV_FREE);
    s.drain();
    assert_eq!(s.ev(0, Op::Reclaim { nr: 32, memcg: Some(1) }), Some(4));
    assert_eq!(s.rss(1), (0, 4, 0, 0), "only the 4 pages charged to memcg 1 went");
    assert_eq!(s.rss(2), (0, 4, 0, 0));
    assert_eq!(s.ev(0, Op::Reclaim { nr: 32, memcg: Some(9) }), Some(-EINVAL), "no such memcg");
}

/// `shrink_folio` applies reclaim to the folio a real trace names: the same fate `shrink_folio_list()` gives it
/// when the model's own scan picks it.
#[test]
fn shrink_folio_reclaims_the_named_folio() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.write(1, a, 4 * PG);
    s.madvise(1, a, 4 * PG, MADV_FREE);
    s.drain();
    // A store after MADV_FREE re-dirties page 1 without a fault.
    s.ev(1, Op::Touch { addr: a + PG, access: Access::Write });
    let (clean, dirty) = (s.pfn(1, a + 2 * PG).unwrap(), s.pfn(1, a + PG).unwrap());
    // The kernel's victim is page 2, not the LRU's tail: only it goes.
    assert_eq!(s.ev(0, Op::ShrinkFolio { pfn: clean }), Some(1));
    assert!(!s.m.pagemap(1, a + 2 * PG).unwrap().present, "discarded");
    assert!(s.m.pagemap(1, a).unwrap().present, "the other clean lazyfree pages stay until named");
    assert_eq!((s.rss(1), s.vm(VmEvent::PGLAZYFREED), s.vm(VmEvent::PGSTEAL_FILE)), ((0, 3, 0, 0), 1, 1));
    // The written page survives: its PTE is young, so folio_check_references() keeps it (PG_referenced) on
    // its list, still lazyfree, without unmapping it (kernel-semantics §6.1).
    assert_eq!(s.ev(0, Op::ShrinkFolio { pfn: dirty }), Some(0));
    assert_eq!(s.page(1, a + PG), "WD- map=1 ref=1 [referenced lru anon_exclusive] lru=inactive_file");
    // A pfn that is not a folio on an LRU list (freed, or never allocated) is refused.
    assert_eq!(s.ev(0, Op::ShrinkFolio { pfn: clean }), Some(-EINVAL));
    assert_eq!(s.rss(1), (0, 3, 0, 0));
}
