//! Kernel profiles other than 6.18: the switches each one flips, checked on the smallest case that shows them
//! (kernel-semantics §11.2, §12; the seed scenarios in `scripts/seeds/` show them at length).

use crate::sim::*;
use mmdb_model::kmem::KmemFreeVia;
use mmdb_model::vrange::{VrangeBehavior, VrangeMode};
use mmdb_model::*;

fn lazyfree_rss(s: &Sim, pid: Pid) -> Option<i64> {
    s.m.rss_lazyfree(pid)
}

#[test]
fn lazyfree_rss_counts_a_page_once_with_the_flag_and_twice_without() {
    for (profile, after_twice, after_munmap) in
        [(Profile::LazyfreeRss, 4, 0), (Profile::LazyfreeRssNoflag, 6, 2), (Profile::Linux412, -1, -1)]
    {
        let mut s = Sim::with_profile(profile);
        s.spawn(1);
        let a = s.mmap(1, 4 * PG);
        s.write(1, a, 4 * PG);
        s.madvise(1, a, 4 * PG, MADV_FREE);
        s.drain();
        s.madvise(1, a, 2 * PG, MADV_FREE);
        s.drain();
        let twice = lazyfree_rss(&s, 1);
        // A store through the clean writable PTE: no fault, so the counter keeps the page.
        s.store(1, a, PG);
        assert_eq!(lazyfree_rss(&s, 1), twice, "{profile:?}");
        s.ev(1, Op::Munmap { addr: a, len: 4 * PG });
        let expect = |n: i64| (n >= 0).then_some(n);
        assert_eq!((twice, lazyfree_rss(&s, 1)), (expect(after_twice), expect(after_munmap)), "{profile:?}");
    }
}

#[test]
fn lazyfree_rss_fork_uncharges_the_parent_with_the_flag_and_charges_the_child_without() {
    for (profile, parent, child) in [(Profile::LazyfreeRss, 0, 0), (Profile::LazyfreeRssNoflag, 4, 4)] {
        let mut s = Sim::with_profile(profile);
        s.spawn(1);
        let a = s.mmap(1, 4 * PG);
        s.write(1, a, 4 * PG);
        s.madvise(1, a, 4 * PG, MADV_FREE);
        s.drain();
        s.ev(1, Op::Fork { child: 2, thread: false });
        assert_eq!((lazyfree_rss(&s, 1), lazyfree_rss(&s, 2)), (Some(parent), Some(child)), "{profile:?}");
    }
}

#[test]
fn madv_cold_and_pageout_do_not_exist_before_5_4() {
    for (profile, ret) in [(Profile::Linux618, 0), (Profile::Linux412, -EINVAL), (Profile::Linux45, -EINVAL)] {
        let mut s = Sim::with_profile(profile);
        s.spawn(1);
        let a = s.mmap(1, 4 * PG);
        assert_eq!(s.madvise(1, a, 4 * PG, MADV_COLD), ret, "{profile:?}");
        assert_eq!(s.madvise(1, a, 4 * PG, MADV_PAGEOUT), ret, "{profile:?}");
    }
}

#[test]
fn linux_412_splits_a_thp_madv_free_covers_whole_when_pte_mapped() {
    for (profile, order) in [(Profile::Linux618, 9), (Profile::Linux412, 0)] {
        let mut s = Sim::with_profile(profile);
        s.spawn(1);
        let a = s.mmap(1, 4 * HPAGE_PMD_SIZE);
        let a = (a + HPAGE_PMD_SIZE - 1) & !(HPAGE_PMD_SIZE - 1);
        s.ev(1, Op::Madvise { addr: a, len: HPAGE_PMD_SIZE, advice: MADV_HUGEPAGE });
        s.write(1, a, PG);
        // mprotect of one page leaves the THP PTE-mapped, whole.
        s.ev(1, Op::Mprotect { addr: a, len: PG, prot: PROT_READ });
        s.ev(1, Op::Mprotect { addr: a, len: PG, prot: PROT_READ | PROT_WRITE });
        let pfn = s.pfn(1, a).unwrap();
        assert_eq!(s.m.folio(pfn).map(|f| f.order), Some(9), "{profile:?}");
        s.madvise(1, a, HPAGE_PMD_SIZE, MADV_FREE);
        assert_eq!(s.m.folio(pfn).map(|f| f.order), Some(order), "{profile:?}");
    }
}

fn kmem_setup(profile: Profile) -> Sim {
    let mut s = Sim::with_profile(profile);
    // Before 4.18 kpagecount reads a kmem page's mark as a mapcount: the kernel's finding, expected here.
    s.expected_findings.push("mapcount-read");
    s.ev(0, Op::MemcgCreate { id: 1, limit: 0 });
    s.spawn(1);
    s.ev(1, Op::MemcgAttach { id: 1 });
    s
}

fn memcg_usage(s: &Sim) -> (u64, u64) {
    let m = s.m.report().memcgs.into_iter().find(|m| m.id == 1).unwrap();
    (m.usage_pages, m.kmem_leaked_pages)
}

#[test]
fn a_kmem_page_freed_by_put_page_keeps_its_charge_before_the_generic_uncharge() {
    for (profile, leaked) in
        [(Profile::Linux45, 1), (Profile::KmemcgUncharge, 0), (Profile::Linux48, 0), (Profile::Linux618, 0)]
    {
        let mut s = kmem_setup(profile);
        let pfn = s.ev(1, Op::KmemAlloc { order: 0, account: true }).unwrap() as u64;
        assert_eq!(memcg_usage(&s), (1, 0), "{profile:?}");
        assert_eq!(s.ev(0, Op::KmemGet { pfn }), Some(0));
        assert_eq!(s.ev(0, Op::KmemFree { pfn, via: KmemFreeVia::PutPage }), Some(0), "a reference remains");
        assert_eq!(s.ev(0, Op::KmemFree { pfn, via: KmemFreeVia::PutPage }), Some(1));
        assert_eq!(memcg_usage(&s), (leaked, leaked), "{profile:?}");
        // Only free_kmem_pages() uncharged before 4.8.
        let pfn = s.ev(1, Op::KmemAlloc { order: 0, account: true }).unwrap() as u64;
        assert_eq!(s.ev(0, Op::KmemFree { pfn, via: KmemFreeVia::FreeKmemPages }), Some(1));
        assert_eq!(memcg_usage(&s), (leaked, leaked), "{profile:?}");
    }
}

#[test]
fn the_kmem_mark_lives_in_mapcount_until_memcg_data() {
    for (profile, raw, page_mapcount) in [
        (Profile::Linux45, -1, 0),
        (Profile::KmemcgUncharge, -512, -511),
        (Profile::Linux48, -512, -511),
        (Profile::Linux618, -1, 0),
    ] {
        let mut s = kmem_setup(profile);
        let pfn = s.ev(1, Op::KmemAlloc { order: 0, account: true }).unwrap() as u64;
        let k = s.m.kernel_page(pfn).unwrap();
        let era = profile.kmem_era();
        assert_eq!((k.mapcount_raw, k.page_mapcount(era)), (raw, page_mapcount), "{profile:?}");
        assert_eq!(k.memcg_data_kmem, profile == Profile::Linux618);
    }
}

#[test]
fn a_freed_kmem_pfn_is_reused_for_a_user_page() {
    let mut s = kmem_setup(Profile::Linux618);
    let pfn = s.ev(1, Op::KmemAlloc { order: 0, account: false }).unwrap() as u64;
    s.ev(0, Op::KmemFree { pfn, via: KmemFreeVia::FreePages });
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    assert_eq!(s.pfn(1, a), Some(pfn), "the per-CPU list is LIFO");
    assert!(s.m.kernel_page(pfn).is_none());
    assert_eq!(s.ev(0, Op::KmemFree { pfn, via: KmemFreeVia::PutPage }), Some(-EINVAL));
}

fn vrange(s: &mut Sim, pid: Pid, addr: u64, len: u64, mode: VrangeMode) -> i64 {
    s.ev(pid, Op::Vrange { addr, len, mode, behavior: VrangeBehavior::Full }).unwrap()
}

#[test]
fn vrange_purges_only_pages_every_mapping_marks_volatile() {
    let mut s = Sim::with_profile(Profile::VrangeV7);
    s.spawn(1);
    let a = s.mmap(1, 8 * PG);
    s.write(1, a, 8 * PG);
    assert_eq!(vrange(&mut s, 1, a, 4 * PG, VrangeMode::Volatile), 0);
    s.ev(1, Op::Fork { child: 2, thread: false });
    // Shared with a child that did not mark them (volatility is not inherited): nothing to purge.
    assert_eq!(s.ev(0, Op::Reclaim { nr: 8, memcg: None }), Some(0));
    // The child breaks COW on two of them: the parent's two copies are its own now.
    s.write(2, a, 2 * PG);
    assert_eq!(s.ev(0, Op::Reclaim { nr: 8, memcg: None }), Some(2));
    assert_eq!(s.rss(1), (0, 6, 0, 0));
    assert_eq!(s.page(1, a), "vrange", "the purge leaves its mark in the PTE");
    assert_eq!(vrange(&mut s, 1, a, 8 * PG, VrangeMode::Novolatile), 1, "NOVOLATILE reports the purge");
    assert_eq!(vrange(&mut s, 1, a, 8 * PG, VrangeMode::Novolatile), 0);
    // A purged page reads back zero-filled once its range is not volatile.
    s.read(1, a, PG);
    assert_eq!(s.page(1, a), "--A zero-page");
}

/// A purged page's mark, read by `handle_pte_fault()` and copied by vrange-v7's `copy_one_pte()`.
#[test]
fn vrange_purge_mark_faults_sigbus_and_fork_counts_it_as_a_swap_entry() {
    let mut s = Sim::with_profile(Profile::VrangeV7);
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.write(1, a, 4 * PG);
    assert_eq!(vrange(&mut s, 1, a, 2 * PG, VrangeMode::Volatile), 0);
    assert_eq!(s.ev(0, Op::Reclaim { nr: 2, memcg: None }), Some(2));
    assert_eq!(s.rss(1), (0, 2, 0, 0));
    // Still volatile and purged: the access is SIGBUS, and nothing is mapped.
    let before = s.m.diagnostics().len();
    s.read(1, a, PG);
    assert_eq!(s.page(1, a), "vrange");
    let sigbus: Vec<_> = s.m.diagnostics().since(before).filter(|d| d.kind == "sigbus").collect();
    assert_eq!(sigbus.len(), 1, "{:?}", s.m.diagnostics());
    // Fork: the child gets the marks, and counts each as a swap entry, though there is no swap at all.
    s.expected_findings.push("rss-walk");
    s.ev(1, Op::Fork { child: 2, thread: false });
    assert_eq!(s.rss(2), (0, 2, 2, 0), "MM_SWAPENTS counts the two marks");
    assert_eq!(s.page(2, a), "vrange");
    assert_eq!(s.m.pack().unpack().lookup(2, a), Some(mmdb_model::mm::Pte::Vrange), "checkpoints keep the mark");
    let walk: Vec<_> = s.m.check().into_iter().filter(|v| v.invariant == "rss-walk").collect();
    assert_eq!(walk.len(), 1, "the child's counters disagree with its page tables: {walk:?}");
    // The child has no volatile range (not inherited): its access maps a zero-filled page.
    s.read(2, a, PG);
    assert_eq!(s.page(2, a), "--A zero-page");
    assert_eq!(s.rss(2), (0, 2, 2, 0), "clearing the mark gives nothing back");
    // Its exit leaves the counter behind: check_mm() reports it.
    s.ev(2, Op::Exit);
    let bad: Vec<_> = s.m.diagnostics().iter().filter(|d| d.kind == "bad-rss-counter").collect();
    assert_eq!(bad.len(), 1);
    assert!(bad[0].message.ends_with("type:MM_SWAPENTS val:2"), "{}", bad[0].message);
}

#[test]
fn vrange_is_enosys_on_other_kernels() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    assert_eq!(vrange(&mut s, 1, a, PG, VrangeMode::Volatile), -ENOSYS);
}
