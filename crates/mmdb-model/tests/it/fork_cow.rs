//! Anonymous faults, fork and copy-on-write (kernel-semantics §3.1, §3.2, §3.5, §3.6, §4.1).

use crate::sim::*;
use mmdb_model::*;

#[test]
fn read_fault_maps_the_zero_page_without_rss() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.read(1, a, PG);
    assert_eq!(s.page(1, a), "--A zero-page");
    assert_eq!(s.rss(1), (0, 0, 0, 0));
    assert_eq!(s.vm(VmEvent::PGFAULT), 1);
    assert_eq!(s.m.report().pages.zero_page_ptes, 1);
}

#[test]
fn write_fault_sits_in_the_lru_add_batch_until_the_31st_page() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 64 * PG);
    s.write(1, a, PG);
    // refcount 2 = mapping + lru_add batch; PG_lru only after the drain; PG_dirty is not set (PTE dirty).
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    assert_eq!(s.rss(1), (0, 1, 0, 0));
    s.write(1, a + PG, 29 * PG);
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    // The 31st add fills the batch and moves all 31 folios to the inactive anon list.
    s.write(1, a + 30 * PG, PG);
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.page(1, a + 30 * PG), "WDA map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");
    s.write(1, a + 31 * PG, PG);
    assert_eq!(s.page(1, a + 31 * PG), "WDA map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    assert_eq!(s.m.report().pages.inactive_anon, 31);
}

#[test]
fn write_after_read_replaces_the_zero_page() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.read(1, a, PG);
    s.write(1, a, PG);
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    assert_eq!(s.rss(1), (0, 1, 0, 0));
    assert_eq!(s.vm(VmEvent::PGFAULT), 2);
    assert_eq!(s.vm(VmEvent::PGREUSE), 0);
}

#[test]
fn fork_write_protects_and_shares_every_page() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.write(1, a, 2 * PG);
    s.read(1, a + 2 * PG, PG);
    s.drain();
    s.ev(1, Op::Fork { child: 2, thread: false });
    // Parent keeps Dirty and Accessed, loses RW and PG_anon_exclusive; the child's PTE is old.
    assert_eq!(s.page(1, a), "-DA map=2 ref=2 [lru swapbacked] lru=inactive_anon");
    assert_eq!(s.page(2, a), "-D- map=2 ref=2 [lru swapbacked] lru=inactive_anon");
    assert_eq!(s.page(1, a + 2 * PG), "--A zero-page");
    assert_eq!(s.page(2, a + 2 * PG), "--- zero-page");
    assert_eq!(s.page(2, a + 3 * PG), "none");
    assert_eq!(s.rss(2), (0, 2, 0, 0));
    let r = s.m.smaps_rollup(1).unwrap();
    assert_eq!((r.rss_kb, r.pss_kb, r.shared_dirty_kb, r.private_dirty_kb), (8, 4, 8, 0));
}

#[test]
fn cow_copies_a_shared_page_and_the_last_sharer_reuses_it() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.drain();
    let old = s.pfn(1, a).unwrap();
    s.ev(1, Op::Fork { child: 2, thread: false });
    // Parent writes: the page is shared (refcount 2), so do_wp_page copies.
    s.write(1, a, PG);
    let new = s.pfn(1, a).unwrap();
    assert_ne!(new, old);
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    // The child's page now has mapcount 1 but no PG_anon_exclusive until its own write...
    assert_eq!(s.page(2, a), "-D- map=1 ref=1 [lru swapbacked] lru=inactive_anon");
    // ...which reuses it: same pfn, exclusive, PGREUSE.
    s.write(2, a, PG);
    assert_eq!(s.pfn(2, a), Some(old));
    assert_eq!(s.page(2, a), "WDA map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");
    assert_eq!(s.vm(VmEvent::PGREUSE), 1);
    assert_eq!(s.rss(1), (0, 1, 0, 0));
    assert_eq!(s.rss(2), (0, 1, 0, 0));
}

#[test]
fn a_batch_reference_turns_reuse_into_a_copy_unless_the_drain_clears_it() {
    // The folio is exclusive after the child exits but still in the lru_add batch: wp_can_reuse_anon_folio
    // sees !PG_lru, drains this CPU, and then reuses (refcount 1).
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    let old = s.pfn(1, a).unwrap();
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.ev(2, Op::Exit);
    assert_eq!(s.page(1, a), "-DA map=1 ref=2 [swapbacked] lru=- batch=cpu0:lru_add");
    s.write(1, a, PG);
    assert_eq!(s.pfn(1, a), Some(old));
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [lru anon_exclusive swapbacked] lru=inactive_anon");

    // The same on another CPU's batch: the local drain does not help, so the kernel copies.
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.cpu = 1;
    s.write(1, a, PG);
    let old = s.pfn(1, a).unwrap();
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.ev(2, Op::Exit);
    s.cpu = 0;
    s.write(1, a, PG);
    assert_ne!(s.pfn(1, a), Some(old));
    // The old folio survives in CPU 1's batch with refcount 1 and no mapping (trap 5).
    let i = s.m.page_info(old).unwrap();
    assert_eq!((i.refcount, i.mapcount, i.batches.clone()), (1, 0, vec!["cpu1:lru_add".to_string()]));
    s.drain();
    assert!(s.m.page_info(old).is_none(), "freed at the drain");
}

#[test]
fn a_store_faults_only_where_the_pte_refuses_it() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    s.store(1, a, PG); // PTE none: a write fault
    s.store(1, a, PG); // writable now: the MMU sets A/D, no fault
    assert_eq!(s.vm(VmEvent::PGFAULT), 1);
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.store(2, a, PG); // write-protected by fork: a COW fault
    assert_eq!(s.vm(VmEvent::PGFAULT), 2);
    s.ev(1, Op::Touch { addr: a + PG, access: Access::Read }); // zero page via a read fault
    s.ev(1, Op::Touch { addr: a + PG, access: Access::Read }); // present: no fault
    assert_eq!(s.vm(VmEvent::PGFAULT), 3);
    assert_eq!(s.page(1, a + PG), "--A zero-page");
}

#[test]
fn threads_share_the_mm_and_exit_frees_it_when_the_last_goes() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    s.write(1, a, 2 * PG);
    s.ev(1, Op::Fork { child: 11, thread: true });
    s.write(11, a, PG); // writable already: no COW
    assert_eq!(s.vm(VmEvent::PGREUSE), 0);
    assert_eq!(s.m.report().processes.len(), 1);
    s.ev(1, Op::Exit);
    assert_eq!(s.rss(11), (0, 2, 0, 0));
    s.ev(11, Op::Exit);
    // munmap/exit do not drain on 6.18: both pages are still held by the lru_add batch.
    assert_eq!(s.m.report().pages.unmapped, 2);
    s.drain();
    assert_eq!(s.m.report().pages.pages, 0);
    assert_eq!(s.vm(VmEvent::PGFREE), 2);
}

/// `vfork()`: the child is a process of its own that borrows the parent's mm, nothing copied (the parent's pages
/// stay writable and exclusive); its exec gives it a fresh mm and leaves the parent's alone.
#[test]
fn a_vfork_child_borrows_the_mm_until_it_execs() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 2 * PG);
    s.write(1, a, 2 * PG);
    s.ev(1, Op::Vfork { child: 12 });
    assert_eq!(s.m.report().processes.len(), 2, "two thread groups");
    assert_eq!(s.rss(12), s.rss(1), "one mm");
    assert_eq!(s.page(1, a), s.page(12, a));
    s.ev(12, Op::Exec { filename: "/bin/true".into() });
    assert_eq!((s.rss(1), s.rss(12)), ((0, 2, 0, 0), (0, 0, 0, 0)));
    s.store(1, a, PG); // still writable and exclusive: no fault at all
    assert_eq!((s.vm(VmEvent::PGREUSE), s.vm(VmEvent::PGFAULT)), (0, 2), "only the two first writes faulted");
    assert!(s.m.check().is_empty(), "{:#?}", s.m.check());
}

#[test]
fn exec_replaces_the_mm() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.drain();
    s.ev(1, Op::Exec { filename: "/bin/true".into() });
    assert_eq!(s.rss(1), (0, 0, 0, 0));
    assert!(s.m.vmas(1).is_empty());
    assert_eq!(s.m.task(1).unwrap().comm, "true");
    assert_eq!(s.m.report().pages.pages, 0);
}

#[test]
fn faults_outside_vmas_and_access_errors_are_diagnostics() {
    let mut s = Sim::new();
    s.spawn(1);
    s.ev(1, Op::Fault { addr: 0x1000, access: Access::Read, pfn: None, around: None });
    let a = s
        .ev(1, Op::Mmap { addr: None, len: PG, prot: PROT_READ, flags: MAP_PRIVATE | MAP_ANONYMOUS, file: None })
        .unwrap() as u64;
    s.ev(1, Op::Fault { addr: a, access: Access::Write, pfn: None, around: None });
    s.ev(9, Op::Fault { addr: a, access: Access::Write, pfn: None, around: None });
    let kinds: Vec<_> = s.m.diagnostics().iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["segv", "segv", "unknown-pid"]);
    assert_eq!(s.vm(VmEvent::PGFAULT), 0, "access errors never reach handle_mm_fault");
}

/// A CPU number no machine has is refused with a warning: the model keeps per-CPU batches for every CPU it sees,
/// so `cpu = 4e9` must not make it allocate four billion of them.
#[test]
fn events_on_cpus_beyond_nr_cpus_are_refused() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.cpu = u32::MAX;
    assert_eq!(s.ev(1, Op::Fault { addr: a, access: Access::Write, pfn: None, around: None }), None);
    s.cpu = NR_CPUS - 1;
    s.write(1, a, PG);
    let kinds: Vec<_> = s.m.diagnostics().iter().map(|d| (d.kind.as_str(), d.event)).collect();
    assert_eq!(kinds, [("no-cpu", 2)]);
    assert_eq!(s.m.cpu_batches().len(), NR_CPUS as usize);
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [anon_exclusive swapbacked] lru=- batch=cpu8191:lru_add");
}

#[test]
fn history_records_every_change_of_a_page() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    let pfn = s.pfn(1, a).unwrap();
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.write(2, a, PG);
    let h: Vec<String> =
        s.m.page_history(pfn)
            .iter()
            .map(|e| format!("{} {} {:?} {}", e.event, e.op, e.field, e.describe_change()))
            .collect();
    assert_eq!(
        h,
        [
            "2 fault Allocated allocated",
            "2 fault Refcount 0 -> 2",
            "2 fault Flags +PG_uptodate +PG_anon_exclusive +PG_swapbacked",
            "2 fault Mapcount -1 -> 0",
            "2 fault AnonExclusive 0 -> 1",
            "3 fork Refcount 2 -> 3",
            "3 fork Flags -PG_anon_exclusive",
            "3 fork Mapcount 0 -> 1",
            "3 fork AnonExclusive 1 -> 0",
            "4 fault Refcount 3 -> 1",
            "4 fault Flags +PG_lru",
            "4 fault Lru none -> inactive_anon",
            "4 fault Mapcount 1 -> 0",
        ]
    );
}

#[test]
fn pfns_from_the_trace_are_used_when_valid() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.ev(1, Op::Fault { addr: a, access: Access::Write, pfn: Some(0x19272d), around: None });
    assert_eq!(s.pfn(1, a), Some(0x19272d));
    // A pfn still held by the model, or one no machine has, is reported and replaced.
    s.ev(1, Op::Fault { addr: a + PG, access: Access::Write, pfn: Some(0x19272d), around: None });
    s.ev(1, Op::Fault { addr: a + 2 * PG, access: Access::Write, pfn: Some(u64::MAX), around: None });
    let kinds: Vec<_> = s.m.diagnostics().iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["pfn-in-use", "pfn-invalid"]);
    assert_eq!(s.rss(1), (0, 3, 0, 0));
}

#[test]
fn the_outcome_lists_what_an_event_allocated_and_freed() {
    // What kmem:mm_page_alloc and mm_page_free would show, so real traces can be compared with the model.
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    let ev = |op| Event { comm: "t".into(), pid: 1, cpu: 0, ts_ns: 1, op };
    let out = s.m.apply(&ev(Op::Fault { addr: a, access: Access::Write, pfn: None, around: None }));
    let pfn = s.pfn(1, a).unwrap();
    assert_eq!((out.allocated, out.freed), (vec![(pfn, 0)], vec![]));
    let out = s.m.apply(&ev(Op::Munmap { addr: a, len: PG }));
    assert_eq!((out.allocated, out.freed), (vec![], vec![]), "still held by the lru_add batch");
    let out = s.m.apply(&ev(Op::LruAddDrain));
    assert_eq!(out.freed, vec![(pfn, 0)]);
}

/// Two tasks writing to one copy-on-write page at the same moment on two CPUs both copy (each `do_wp_page()`
/// found the other's mapping, or its `folio_get()`, still there). Applied one after the other, the second would
/// find the page its own and reuse it; with the first one's reference held across (`folio_get`/`folio_put`),
/// both copy, and the put frees the page.
#[test]
fn a_reference_in_flight_makes_both_racing_writers_copy() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.drain();
    s.ev(1, Op::Fork { child: 2, thread: false });
    let old = s.pfn(1, a).expect("mapped");
    assert_eq!(s.pfn(2, a), Some(old));
    s.ev(2, Op::FolioGet { pfn: old });
    s.write(1, a, PG);
    s.write(2, a, PG);
    let (p1, p2) = (s.pfn(1, a).expect("parent's copy"), s.pfn(2, a).expect("child's copy"));
    assert!(p1 != old && p2 != old && p1 != p2, "both copied: {old:#x} {p1:#x} {p2:#x}");
    assert_eq!(s.vm(VmEvent::PGREUSE), 0);
    let f = s.m.folio(old).expect("the held reference keeps it");
    assert_eq!((f.refcount, f.refs.temp, f.mapcount()), (1, 1, 0));
    assert_eq!(s.ev(2, Op::FolioPut { pfn: old }), Some(1), "the put freed it");
    assert!(s.m.folio(old).is_none());
    assert_eq!(s.ev(2, Op::FolioPut { pfn: old }), Some(-mmdb_model::EINVAL));
    assert_eq!(s.ev(2, Op::FolioGet { pfn: old }), Some(-mmdb_model::EINVAL));
    let warned = s.m.diagnostics().iter().filter(|d| d.kind == "folio-unknown").count();
    assert_eq!(warned, 2, "{:?}", s.m.diagnostics().to_vec());
    assert!(s.m.check().is_empty(), "{:#?}", s.m.check());
    // Without the reference, the second writer reuses the page the first left it.
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.ev(1, Op::Fork { child: 2, thread: false });
    let old = s.pfn(1, a).expect("mapped");
    s.write(1, a, PG);
    s.write(2, a, PG);
    assert_eq!(s.pfn(2, a), Some(old), "reused");
}

/// `exec_mmap()` tears the old image down before the trace names the program: `exec` without a name keeps the
/// comm, and `rename` (`__set_task_comm()`) sets it, cut to 15 characters.
#[test]
fn an_exec_without_a_name_keeps_the_comm_until_renamed() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, PG);
    s.write(1, a, PG);
    s.ev(1, Op::Exec { filename: String::new() });
    assert_eq!(s.rss(1), (0, 0, 0, 0));
    let comm = s.m.task(1).expect("task").comm.clone();
    s.ev(1, Op::Rename { comm: "a-very-long-program-name".into() });
    assert_ne!(comm, "a-very-long-pro");
    assert_eq!(s.m.task(1).expect("task").comm, "a-very-long-pro");
}
