//! Page contents (`Op::Store`, `Model::load`): what a page holds follows the kernel's copies, discards and I/O.

use crate::sim::*;
use mmdb_model::*;

/// A user store of `value` at `addr` by `pid`.
fn store(s: &mut Sim, pid: Pid, addr: u64, value: u64) {
    s.ev(pid, Op::Store { addr, value });
}

/// A user load: a read access (faulting where needed), then the value the page holds.
fn load(s: &mut Sim, pid: Pid, addr: u64) -> Option<u64> {
    s.ev(pid, Op::Touch { addr, access: Access::Read });
    s.m.load(pid, addr)
}

#[test]
fn fresh_and_zero_pages_read_zero_and_a_store_lands_in_the_page() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    assert_eq!(s.m.load(1, a), None, "nothing mapped yet");
    assert_eq!(load(&mut s, 1, a), Some(0), "the zero page");
    store(&mut s, 1, a, 42);
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    assert_eq!(load(&mut s, 1, a), Some(42));
    // A store to a present, writable page takes no fault.
    let faults = s.vm(VmEvent::PGFAULT);
    store(&mut s, 1, a, 43);
    assert_eq!((s.vm(VmEvent::PGFAULT), s.m.load(1, a)), (faults, Some(43)));
    // A fresh write fault gives a zeroed page.
    s.write(1, a + PG, PG);
    assert_eq!(s.m.load(1, a + PG), Some(0));
    assert_eq!(s.m.page_content(ZERO_PFN), Some(0));
}

#[test]
fn a_store_that_faults_with_sigsegv_stores_nothing() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    store(&mut s, 1, a, 5);
    assert_eq!(s.ev(1, Op::Mprotect { addr: a, len: 2 * PG, prot: PROT_READ }), Some(0));
    store(&mut s, 1, a, 6);
    assert_eq!(s.m.load(1, a), Some(5));
    assert!(s.m.diagnostics().iter().any(|d| d.kind == "segv"), "{:?}", s.m.diagnostics());
}

#[test]
fn fork_shares_contents_and_cow_copies_them() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    store(&mut s, 1, a, 42);
    store(&mut s, 1, a + PG, 7);
    s.drain();
    s.ev(1, Op::Fork { child: 2, thread: false });
    assert_eq!(s.pfn(1, a), s.pfn(2, a), "fork shares the page");
    assert_eq!(load(&mut s, 2, a), Some(42));
    // The child's write fault copies the shared page (wp_page_copy): the copy holds the parent's data.
    let shared = s.pfn(1, a);
    s.store(2, a, PG);
    assert_ne!(s.pfn(2, a), shared);
    assert_eq!(s.m.load(2, a), Some(42), "the copy holds the old data");
    store(&mut s, 2, a, 99);
    assert_eq!((s.m.load(1, a), s.m.load(2, a)), (Some(42), Some(99)), "COW isolates the two");
    // The parent is now the last sharer: it reuses the page in place (PGREUSE), no copy.
    let reuse = s.vm(VmEvent::PGREUSE);
    store(&mut s, 1, a, 43);
    assert_eq!((s.pfn(1, a), s.vm(VmEvent::PGREUSE)), (shared, reuse + 1));
    assert_eq!((s.m.load(1, a), s.m.load(2, a)), (Some(43), Some(99)));
    // The second page: the parent stores first, so the parent gets the copy and the child keeps the original.
    let original = s.pfn(2, a + PG);
    store(&mut s, 1, a + PG, 8);
    assert_eq!(s.pfn(2, a + PG), original);
    assert_eq!((s.m.load(1, a + PG), s.m.load(2, a + PG)), (Some(8), Some(7)));
}

/// A process (pid 1) that stored 42 and 43 in two pages, then MADV_FREE'd them and drained: both lazy-free.
fn two_lazyfree_pages() -> (Sim, u64) {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    store(&mut s, 1, a, 42);
    store(&mut s, 1, a + PG, 43);
    s.madvise(1, a, 2 * PG, MADV_FREE);
    s.drain();
    (s, a)
}

#[test]
fn reclaim_discards_a_clean_lazyfree_page_and_its_data() {
    let (mut s, a) = two_lazyfree_pages();
    assert_eq!(s.m.load(1, a), Some(42), "MADV_FREE keeps the data until reclaim");
    assert_eq!(s.ev(0, Op::Reclaim { nr: 32, memcg: None }), Some(2));
    assert_eq!(s.vm(VmEvent::PGLAZYFREED), 2);
    assert_eq!(s.m.load(1, a), None, "the PTE is gone");
    // A read maps the zero page; a store allocates a fresh, zeroed page: the old data is lost.
    assert_eq!(load(&mut s, 1, a), Some(0));
    assert_eq!(s.page(1, a), "--A zero-page");
    s.store(1, a + PG, PG);
    assert_eq!(s.m.load(1, a + PG), Some(0));
}

#[test]
fn a_lazyfree_page_written_again_keeps_its_new_data_through_reclaim() {
    let (mut s, a) = two_lazyfree_pages();
    // The PTE is still writable: the store takes no fault and only dirties the PTE.
    let faults = s.vm(VmEvent::PGFAULT);
    store(&mut s, 1, a, 44);
    assert_eq!(s.vm(VmEvent::PGFAULT), faults);
    // try_to_unmap_one() finds the dirty PTE: the folio is swap-backed again and kept with its data; the clean
    // one is discarded.
    assert_eq!(s.ev(0, Op::Reclaim { nr: 32, memcg: None }), Some(1));
    assert_eq!(s.page(1, a), "WD- map=1 ref=1 [dirty lru active anon_exclusive swapbacked] lru=active_anon");
    assert_eq!(s.m.load(1, a), Some(44));
    assert_eq!(load(&mut s, 1, a + PG), Some(0));
}

#[test]
fn swap_out_and_swap_in_keep_the_data() {
    let mut s = Sim::new();
    s.ev(0, Op::Swapon { size: 64 * PG });
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    for i in 0..4 {
        store(&mut s, 1, a + i * PG, 100 + i);
    }
    s.drain();
    assert_eq!(s.ev(0, Op::Reclaim { nr: 4, memcg: None }), Some(4));
    assert_eq!(s.page(1, a), "swap entry=0x1 excl=1");
    assert_eq!(s.m.load(1, a), None);
    // A swap-in (the bypass path and, after fork, the swap cache) reads the slot back.
    assert_eq!(load(&mut s, 1, a), Some(100));
    s.ev(1, Op::Fork { child: 2, thread: false });
    assert_eq!(load(&mut s, 2, a + PG), Some(101));
    assert_eq!(load(&mut s, 1, a + PG), Some(101));
    assert_eq!(s.vm(VmEvent::PSWPIN), 2);
    // Writing to the shared swapped-in page copies it with its data.
    s.store(2, a + PG, PG);
    assert_eq!((s.m.load(1, a + PG), s.m.load(2, a + PG)), (Some(101), Some(101)));
    assert_ne!(s.pfn(1, a + PG), s.pfn(2, a + PG));
    assert_eq!(load(&mut s, 2, a + 3 * PG), Some(103));
}

#[test]
fn thp_pages_keep_their_data_through_cow_and_split() {
    let mut s = Sim::new();
    s.spawn(1);
    let len = 2 * HPAGE_PMD_SIZE;
    let r = s.ev(
        1,
        Op::Mmap { addr: None, len, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS, file: None },
    );
    let base = r.unwrap() as u64;
    let a = (base + HPAGE_PMD_SIZE - 1) & !(HPAGE_PMD_SIZE - 1);
    assert_eq!(s.madvise(1, base, len, MADV_HUGEPAGE), 0);
    store(&mut s, 1, a + 5 * PG, 5);
    assert_eq!(s.vm(VmEvent::THP_FAULT_ALLOC), 1);
    store(&mut s, 1, a + 6 * PG, 6);
    s.ev(1, Op::Fork { child: 2, thread: false });
    // The child's write splits its PMD and copies one page (do_huge_pmd_wp_page falls back to the PTE path).
    store(&mut s, 2, a + 6 * PG, 60);
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PMD), 1);
    assert_eq!((s.m.load(1, a + 6 * PG), s.m.load(2, a + 6 * PG)), (Some(6), Some(60)));
    assert_eq!(s.m.load(2, a + 5 * PG), Some(5));
    // Both exit but the parent's partial munmap, then the deferred split: the order-0 pages keep their data.
    s.ev(2, Op::Exit);
    assert_eq!(s.ev(1, Op::Munmap { addr: a, len: PG }), Some(0));
    s.ev(0, Op::Reclaim { nr: 1, memcg: None });
    assert_eq!(s.vm(VmEvent::THP_SPLIT_PAGE), 1);
    assert_eq!(s.m.folio(s.pfn(1, a + 5 * PG).unwrap()).map(|f| f.order), Some(0));
    assert_eq!((s.m.load(1, a + 5 * PG), s.m.load(1, a + 6 * PG)), (Some(5), Some(6)));
}

#[test]
fn mremap_moves_the_pages_with_their_data() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    store(&mut s, 1, a, 1);
    store(&mut s, 1, a + PG, 2);
    let pfn = s.pfn(1, a + PG);
    let (flags, to) = (MREMAP_MAYMOVE | MREMAP_FIXED, Some(0x6000_0000_0000));
    let r = s.ev(1, Op::Mremap { addr: a, old_len: 2 * PG, new_len: 4 * PG, flags, new_addr: to });
    let b = r.unwrap() as u64;
    assert_eq!(Some(b), to);
    assert_eq!((s.pfn(1, b + PG), s.m.load(1, b + PG), s.m.load(1, b)), (pfn, Some(2), Some(1)));
    assert_eq!(s.m.load(1, a), None);
}

#[test]
fn file_pages_get_their_data_back_from_the_file() {
    let mut s = Sim::new();
    s.spawn(1);
    let file = Some(FileRef { name: "/data".into(), offset: 0 });
    let shared = MAP_SHARED;
    let r = s.ev(1, Op::Mmap { addr: None, len: 2 * PG, prot: PROT_READ | PROT_WRITE, flags: shared, file });
    let a = r.unwrap() as u64;
    store(&mut s, 1, a, 42);
    // A private mapping of the same file: a read maps the page-cache page; a write fault copies it into an
    // anonymous page (do_cow_fault), which then holds its own data.
    let file = Some(FileRef { name: "/data".into(), offset: 0 });
    let r = s.ev(1, Op::Mmap { addr: None, len: PG, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE, file });
    let b = r.unwrap() as u64;
    assert_eq!(load(&mut s, 1, b), Some(42));
    assert_eq!(s.ev(1, Op::Munmap { addr: b, len: PG }), Some(0));
    let file = Some(FileRef { name: "/data".into(), offset: 0 });
    let r = s.ev(1, Op::Mmap { addr: None, len: PG, prot: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE, file });
    let c = r.unwrap() as u64;
    s.store(1, c, PG);
    assert_eq!(s.m.load(1, c), Some(42), "do_cow_fault copied the file's page");
    store(&mut s, 1, c, 77);
    assert_eq!((s.m.load(1, a), s.m.load(1, c)), (Some(42), Some(77)), "the private copy is not the file");
    // Unmapped, written back and reclaimed: the next read of the file brings the data back from the file.
    assert_eq!(s.ev(1, Op::Munmap { addr: a, len: 2 * PG }), Some(0));
    s.drain();
    for _ in 0..4 {
        s.ev(0, Op::Reclaim { nr: 32, memcg: None });
    }
    assert_eq!(s.vm(VmEvent::PGSTEAL_FILE), 1, "the page-cache page was written back and freed");
    let file = Some(FileRef { name: "/data".into(), offset: 0 });
    let r = s.ev(1, Op::Mmap { addr: None, len: 2 * PG, prot: PROT_READ, flags: MAP_SHARED, file });
    let d = r.unwrap() as u64;
    assert_eq!((load(&mut s, 1, d), load(&mut s, 1, d + PG)), (Some(42), Some(0)));
}
