//! One line per tracepoint, printed as Linux 6.18's `print fmt` prints it, and the typed record it parses into.

use mmdb_trace::records::*;
use mmdb_trace::{parse_ftrace, parse_perf, Record};

const PREFIX: &str = "           basic-3175    [000] .....  1272.594494: ";

/// Parses one ftrace record line (after [`PREFIX`]) that must parse.
fn one(fields: &str) -> Record {
    let line = format!("{PREFIX}{fields}");
    let trace = parse_ftrace(line.as_bytes());
    assert_eq!(trace.errors, vec![], "{line}");
    assert_eq!(trace.lines.len(), 1, "{line}");
    trace.lines[0].record.clone()
}

/// Parses one perf record line (`<system>:<event>: <fields>`) that must parse.
fn perf(body: &str) -> Record {
    let line = format!("           basic  3225/3225  [000]  1277.378548901:  {body}");
    let trace = parse_perf(line.as_bytes());
    assert_eq!(trace.errors, vec![], "{line}");
    assert_eq!(trace.lines.len(), 1, "{line}");
    trace.lines[0].record.clone()
}

/// The message of the one error an ftrace line gives.
fn error(fields: &str) -> String {
    let line = format!("{PREFIX}{fields}");
    let trace = parse_ftrace(line.as_bytes());
    assert_eq!(trace.errors.len(), 1, "{line}: {:?}", trace.lines);
    trace.errors[0].message()
}

const DEV: Dev = Dev { major: 254, minor: 0 };

#[test]
fn kmem() {
    let alloc = one("mm_page_alloc: page=000000002f3692dd pfn=0x18cf66 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP");
    let Record::MmPageAlloc(a) = alloc else { panic!() };
    assert_eq!((a.pfn, a.order, a.migratetype), (Some(0x18cf66), 0, 1));
    assert_eq!(gfp_names(a.gfp_flags), "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP");
    assert_eq!(a.gfp_flags, 0x14_0dca); // bits 1, 3, 6, 7, 8, 10, 11, 18 and 20
                                        // A failed allocation: NULL page and pfn 0 (6.18), or pfn -1 (older kernels), or no pfn at all.
    for failed in [
        "mm_page_alloc: page=0000000000000000 pfn=0x0 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE|__GFP_THISNODE",
        "mm_page_alloc: page=(null) pfn=0x0 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE",
        "mm_page_alloc: page=0000000000000000 pfn=-1 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE",
        "mm_page_alloc: page=0000000000000000 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE",
    ] {
        let Record::MmPageAlloc(a) = one(failed) else { panic!() };
        assert_eq!((a.pfn, a.order), (None, 9), "{failed}");
    }
    let Record::MmPageAlloc(a) = one("mm_page_alloc: page=0x1 pfn=0x1 order=0 migratetype=0 gfp_flags=none") else {
        panic!()
    };
    assert_eq!(a.gfp_flags, 0);
    let Record::MmPageAlloc(a) =
        one("mm_page_alloc: page=0x1 pfn=0x1 order=0 migratetype=0 gfp_flags=GFP_KERNEL|0x2000000")
    else {
        panic!()
    };
    assert_eq!(a.gfp_flags, 0xcc0 | 0x200_0000);
    assert_eq!(
        one("mm_page_free: page=00000000dbe94388 pfn=0x16a2fb order=0"),
        Record::MmPageFree(MmPageFree { pfn: 0x16a2fb, order: 0 })
    );
    assert_eq!(
        one("mm_page_free_batched: page=00000000dbe94388 pfn=0x16a2fb order=0"),
        Record::MmPageFreeBatched(MmPageFreeBatched { pfn: 0x16a2fb })
    );
    assert_eq!(
        one("rss_stat: mm_id=991809678 curr=0 type=MM_ANONPAGES size=4096B"),
        Record::RssStat(RssStat { mm_id: 991_809_678, curr: false, member: RssMember::AnonPages, size: 4096 })
    );
    assert_eq!(
        one("rss_stat: mm_id=1 curr=1 type=MM_SHMEMPAGES size=0B"),
        Record::RssStat(RssStat { mm_id: 1, curr: true, member: RssMember::ShmemPages, size: 0 })
    );
    assert_eq!(
        error("mm_page_alloc: page=0x1 pfn=0x1 order=0 migratetype=0 gfp_flags=GFP_KERNEL|GFP_BOGUS"),
        "expected `GFP_*`/`__GFP_*` names joined by `|` for `gfp_flags`, found `GFP_BOGUS`"
    );
    assert_eq!(
        error("rss_stat: mm_id=1 curr=2 type=MM_ANONPAGES size=4096B"),
        "expected `0` or `1` for `curr`, found `2`"
    );
    assert_eq!(
        error("rss_stat: mm_id=1 curr=1 type=MM_ANONPAGES size=4096"),
        "expected a byte count `<n>B` for `size`, found `4096`"
    );
    assert_eq!(error("rss_stat: curr=1 type=MM_ANONPAGES size=4096B"), "expected a `mm_id=` field, found end of line");
}

#[test]
fn exceptions_and_pagemap() {
    assert_eq!(
        one("page_fault_user: address=0x7f7c23b3852c ip=0x7f7c239576df error_code=0x4"),
        Record::PageFaultUser(PageFaultUser { address: 0x7f7c23b3852c, ip: 0x7f7c239576df, error_code: 4 })
    );
    // A kernel-mode fault on a user address (exec's create_elf_tables): the ip is a kernel symbol.
    assert_eq!(
        one("page_fault_kernel: address=0x7ffc02c60f70 ip=__put_user_8 error_code=0x2"),
        Record::PageFaultKernel(PageFaultKernel { address: 0x7ffc02c60f70, ip: "__put_user_8".into(), error_code: 2 })
    );
    assert_eq!(
        one("mm_lru_insertion: folio=000000000fce29d7 pfn=0x106d6f lru=0 flags=Ma bd "),
        Record::MmLruInsertion(MmLruInsertion { pfn: 0x106d6f, lru: LruList::InactiveAnon, flags: 0x33 })
    );
    assert_eq!(
        one("mm_lru_insertion: folio=0000000054734d28 pfn=0x1d4c47 lru=0 flags= a bd "),
        Record::MmLruInsertion(MmLruInsertion { pfn: 0x1d4c47, lru: LruList::InactiveAnon, flags: 0x32 })
    );
    assert_eq!(
        one("mm_lru_insertion: folio=000000007019f604 pfn=0x16a2ed lru=2 flags= f   B"),
        Record::MmLruInsertion(MmLruInsertion { pfn: 0x16a2ed, lru: LruList::InactiveFile, flags: 0x44 })
    );
    assert_eq!(
        one("mm_lru_insertion: folio=000000007019f604 pfn=0x1 lru=4 flags=MasbdB"),
        Record::MmLruInsertion(MmLruInsertion { pfn: 1, lru: LruList::Unevictable, flags: 0x7b })
    );
    assert_eq!(
        one("mm_lru_activate: folio=000000007019f604 pfn=0x16a2ed"),
        Record::MmLruActivate(MmLruActivate { pfn: 0x16a2ed })
    );
    assert_eq!(
        error("mm_lru_insertion: folio=0 pfn=0x1 lru=0 flags=Mx"),
        "expected the flag letters `M`, `a`, `f`, `s`, `b`, `d`, `B` or blanks for `flags`, found `x`"
    );
    assert_eq!(
        error("mm_lru_insertion: folio=0 pfn=0x1 lru=5 flags=Ma"),
        "expected an LRU list index 0 to 4 for `lru`, found `5`"
    );
}

#[test]
fn filemap() {
    assert_eq!(
        one("mm_filemap_map_pages: dev=254:0 ino=491a ofs=3346432-3411967"),
        Record::MmFilemapMapPages(MmFilemapMapPages { i_ino: 0x491a, s_dev: DEV, index: 817, last_index: 832 })
    );
    assert_eq!(
        one("mm_filemap_fault: dev=254:0 ino=51204e ofs=12288"),
        Record::MmFilemapFault(MmFilemapFault { i_ino: 0x51204e, s_dev: DEV, index: 3 })
    );
    let cache = MmFilemapPageCache { pfn: 0x16a2ed, i_ino: 0x51207b, index: 2, s_dev: DEV, order: 2 };
    assert_eq!(
        one("mm_filemap_add_to_page_cache: dev 254:0 ino 51207b pfn=0x16a2ed ofs=8192 order=2"),
        Record::MmFilemapAddToPageCache(cache)
    );
    assert_eq!(
        one("mm_filemap_delete_from_page_cache: dev 254:0 ino 51207b pfn=0x16a2ed ofs=8192 order=2"),
        Record::MmFilemapDeleteFromPageCache(cache)
    );
    assert_eq!(
        error("mm_filemap_add_to_page_cache: dev 254 ino 51207b pfn=0x16a2ed ofs=8192 order=2"),
        "expected a device `<major>:<minor>` for `dev`, found `254`"
    );
    assert_eq!(
        error("mm_filemap_add_to_page_cache: pfn=0x16a2ed ofs=8192 order=2"),
        "expected `dev <major>:<minor> ino <hex>` before the fields, found `pfn=0x16a2ed`"
    );
}

#[test]
fn sched_and_task() {
    assert_eq!(
        one("sched_process_fork: comm=Web Content pid=2790 child_comm=Web Content child_pid=2801"),
        Record::SchedProcessFork(SchedProcessFork {
            parent_comm: "Web Content".into(),
            parent_pid: 2790,
            child_comm: "Web Content".into(),
            child_pid: 2801
        })
    );
    assert_eq!(
        one("sched_process_exec: filename=/usr/bin/my prog pid=3175 old_pid=3176"),
        Record::SchedProcessExec(SchedProcessExec { filename: "/usr/bin/my prog".into(), pid: 3175, old_pid: 3176 })
    );
    assert_eq!(
        one("sched_process_exit: comm=basic pid=3180 prio=120 group_dead=false"),
        Record::SchedProcessExit(SchedProcessExit {
            comm: "basic".into(),
            pid: 3180,
            prio: 120,
            group_dead: Some(false)
        })
    );
    assert_eq!(
        one("sched_process_exit: comm=basic pid=3180 prio=120"),
        Record::SchedProcessExit(SchedProcessExit { comm: "basic".into(), pid: 3180, prio: 120, group_dead: None })
    );
    assert_eq!(
        one("sched_process_free: comm=basic pid=3180 prio=120"),
        Record::SchedProcessFree(SchedProcessFree { comm: "basic".into(), pid: 3180, prio: 120 })
    );
    assert_eq!(
        one("task_newtask: pid=3180 comm=basic clone_flags=1200011 oom_score_adj=-100"),
        Record::TaskNewtask(TaskNewtask {
            pid: 3180,
            comm: "basic".into(),
            clone_flags: 0x1200011,
            oom_score_adj: Some(-100)
        })
    );
    assert_eq!(
        error("sched_process_exit: comm=basic pid=-1 prio=120"),
        "expected a decimal number below 2^32 for `pid`, found `-1`"
    );
}

#[test]
fn vmscan() {
    assert_eq!(
        one("mm_vmscan_lru_isolate: classzone=3 order=0 nr_requested=32 nr_scanned=32 nr_skipped=0 nr_taken=32 lru=inactive_file"),
        Record::MmVmscanLruIsolate(MmVmscanLruIsolate {
            highest_zoneidx: 3,
            order: 0,
            nr_requested: 32,
            nr_scanned: 32,
            nr_skipped: 0,
            nr_taken: 32,
            lru: LruList::InactiveFile
        })
    );
    assert_eq!(
        one("mm_vmscan_lru_shrink_inactive: nid=0 nr_scanned=32 nr_reclaimed=30 nr_dirty=1 nr_writeback=2 nr_congested=3 nr_immediate=4 nr_activate_anon=5 nr_activate_file=6 nr_ref_keep=7 nr_unmap_fail=8 priority=12 flags=RECLAIM_WB_FILE|RECLAIM_WB_ASYNC"),
        Record::MmVmscanLruShrinkInactive(Box::new(MmVmscanLruShrinkInactive {
            nid: 0,
            nr_scanned: 32,
            nr_reclaimed: 30,
            nr_dirty: 1,
            nr_writeback: 2,
            nr_congested: 3,
            nr_immediate: 4,
            nr_activate0: 5,
            nr_activate1: 6,
            nr_ref_keep: 7,
            nr_unmap_fail: 8,
            priority: 12,
            reclaim_flags: 0xa
        }))
    );
    assert_eq!(
        one("mm_vmscan_lru_shrink_active: nid=0 nr_taken=10 nr_active=4 nr_deactivated=6 nr_referenced=2 priority=12 flags=RECLAIM_WB_NONE"),
        Record::MmVmscanLruShrinkActive(MmVmscanLruShrinkActive {
            nid: 0,
            nr_taken: 10,
            nr_active: 4,
            nr_deactivated: 6,
            nr_referenced: 2,
            priority: 12,
            reclaim_flags: 0
        })
    );
    assert_eq!(
        one("mm_vmscan_reclaim_pages: nid=0 nr_scanned=256 nr_reclaimed=0 nr_dirty=0 nr_writeback=0 nr_congested=0 nr_immediate=0 nr_activate_anon=256 nr_activate_file=0 nr_ref_keep=0 nr_unmap_fail=0"),
        Record::MmVmscanReclaimPages(Box::new(MmVmscanReclaimPages {
            nid: 0,
            nr_scanned: 256,
            nr_reclaimed: 0,
            nr_dirty: 0,
            nr_writeback: 0,
            nr_congested: 0,
            nr_immediate: 0,
            nr_activate0: 256,
            nr_activate1: 0,
            nr_ref_keep: 0,
            nr_unmap_fail: 0
        }))
    );
    assert_eq!(
        one("mm_vmscan_write_folio: page=00000000dbe94388 pfn=0x16a2fb flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC"),
        Record::MmVmscanWriteFolio(MmVmscanWriteFolio { pfn: 0x16a2fb, reclaim_flags: 0x9 })
    );
    let begin = ReclaimBegin { order: 0, gfp_flags: 0xcc0 };
    assert_eq!(
        one("mm_vmscan_direct_reclaim_begin: order=0 gfp_flags=GFP_KERNEL"),
        Record::MmVmscanDirectReclaimBegin(begin)
    );
    assert_eq!(
        one("mm_vmscan_memcg_reclaim_begin: order=0 gfp_flags=GFP_KERNEL"),
        Record::MmVmscanMemcgReclaimBegin(begin)
    );
    let end = ReclaimEnd { nr_reclaimed: 32 };
    assert_eq!(one("mm_vmscan_direct_reclaim_end: nr_reclaimed=32"), Record::MmVmscanDirectReclaimEnd(end));
    assert_eq!(one("mm_vmscan_memcg_reclaim_end: nr_reclaimed=32"), Record::MmVmscanMemcgReclaimEnd(end));
}

#[test]
fn migrate_and_oom() {
    let pte = MigrationPte { addr: 0x7f7c23c00000, pte: 0x80000001a2b3c067, order: 0 };
    assert_eq!(
        one("remove_migration_pte: addr=7f7c23c00000, pte=80000001a2b3c067 order=0"),
        Record::RemoveMigrationPte(pte)
    );
    assert_eq!(one("set_migration_pte: addr=7f7c23c00000, pte=80000001a2b3c067 order=0"), Record::SetMigrationPte(pte));
    assert_eq!(
        one("mark_victim: pid=4242 comm=hog total-vm=2105344kB anon-rss=2097152kB file-rss:1024kB shmem-rss:0kB uid=0 pgtables=4156kB oom_score_adj=0"),
        Record::MarkVictim(Box::new(MarkVictim {
            pid: 4242,
            comm: Some("hog".into()),
            total_vm: Some(2_105_344),
            anon_rss: Some(2_097_152),
            file_rss: Some(1024),
            shmem_rss: Some(0),
            uid: Some(0),
            pgtables: Some(4156),
            oom_score_adj: Some(0)
        }))
    );
    let Record::MarkVictim(v) = one("mark_victim: pid=4242") else { panic!() };
    assert_eq!((v.pid, v.comm, v.total_vm), (4242, None, None));
}

#[test]
fn markers() {
    assert_eq!(
        one("tracing_mark_write: mmdb-checkpoint begin id=1"),
        Record::TracingMarkWrite { buf: "mmdb-checkpoint begin id=1".into() }
    );
}

/// Every syscall in both shapes: ftrace's `sys_<name>(...)`/`sys_<name> -> ret` and perf's `print fmt`.
#[test]
fn syscalls() {
    let cases: &[(&str, &str, SysEnter)] = &[
        (
            "mmap(addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffffffff, off: 0)",
            "mmap: addr: 0x00000000, len: 0x00002000, prot: 0x00000003, flags: 0x00000022, fd: 0xffffffff, off: 0x00000000",
            SysEnter::Mmap { addr: 0, len: 0x2000, prot: 3, flags: 0x22, fd: 0xffff_ffff, off: 0 },
        ),
        (
            "munmap(addr: 0x7fbf6345b000, len: 0x8513)",
            "munmap: addr: 0x7fbf6345b000, len: 0x00008513",
            SysEnter::Munmap { addr: 0x7fbf6345b000, len: 0x8513 },
        ),
        (
            "mprotect(start: 0x7fbf63448000, len: 0x4000, prot: 1)",
            "mprotect: start: 0x7fbf63448000, len: 0x00004000, prot: 0x00000001",
            SysEnter::Mprotect { start: 0x7fbf63448000, len: 0x4000, prot: 1 },
        ),
        (
            "mremap(addr: 0x7f0000000000, old_len: 0x1000, new_len: 0x2000, flags: 1, new_addr: 0)",
            "mremap: addr: 0x7f0000000000, old_len: 0x00001000, new_len: 0x00002000, flags: 0x00000001, new_addr: 0x00000000",
            SysEnter::Mremap { addr: 0x7f0000000000, old_len: 0x1000, new_len: 0x2000, flags: 1, new_addr: 0 },
        ),
        ("brk(brk: 0)", "brk: brk: 0x00000000", SysEnter::Brk { brk: 0 }),
        (
            "madvise(start: 0x7fbf63440000, len_in: 0x10000, behavior: 8)",
            "madvise: start: 0x7fbf63440000, len_in: 0x00010000, behavior: 0x00000008",
            SysEnter::Madvise { start: 0x7fbf63440000, len_in: 0x10000, behavior: 8 },
        ),
        (
            "process_madvise(pidfd: 3, vec: 0x7ffc0000, vlen: 1, behavior: 0x15, flags: 0)",
            "process_madvise: pidfd: 0x00000003, vec: 0x7ffc0000, vlen: 0x00000001, behavior: 0x00000015, flags: 0x00000000",
            SysEnter::ProcessMadvise { pidfd: 3, vec: 0x7ffc0000, vlen: 1, behavior: 0x15, flags: 0 },
        ),
        ("mlock(start: 0x1000, len: 0x2000)", "mlock: start: 0x00001000, len: 0x00002000", SysEnter::Mlock { start: 0x1000, len: 0x2000 }),
        (
            "mlock2(start: 0x1000, len: 0x2000, flags: 1)",
            "mlock2: start: 0x00001000, len: 0x00002000, flags: 0x00000001",
            SysEnter::Mlock2 { start: 0x1000, len: 0x2000, flags: 1 },
        ),
        ("munlock(start: 0x1000, len: 0x2000)", "munlock: start: 0x00001000, len: 0x00002000", SysEnter::Munlock { start: 0x1000, len: 0x2000 }),
        ("mlockall(flags: 3)", "mlockall: flags: 0x00000003", SysEnter::Mlockall { flags: 3 }),
        ("munlockall()", "munlockall: ", SysEnter::Munlockall),
        (
            "clone(clone_flags: 0x1200011, newsp: 0, parent_tidptr: 0, child_tidptr: 0x7fbf63276a10, tls: 0)",
            "clone: clone_flags: 0x01200011, newsp: 0x00000000, parent_tidptr: 0x00000000, child_tidptr: 0x7fbf63276a10, tls: 0x00000000",
            SysEnter::Clone { clone_flags: 0x1200011, newsp: 0, parent_tidptr: 0, child_tidptr: 0x7fbf63276a10, tls: 0 },
        ),
        ("clone3(uargs: 0x7ffc1000, size: 0x58)", "clone3: uargs: 0x7ffc1000, size: 0x00000058", SysEnter::Clone3 { uargs: 0x7ffc1000, size: 0x58 }),
        ("fork()", "fork: ", SysEnter::Fork),
        ("vfork()", "vfork:", SysEnter::Vfork),
        (
            "execve(filename: 0x7f7c2301a030, argv: 0x7f7c2354c9e0, envp: 0x7f7c230ea330)",
            "execve: filename: 0x7f7c2301a030, argv: 0x7f7c2354c9e0, envp: 0x7f7c230ea330",
            SysEnter::Execve { filename: 0x7f7c2301a030, argv: 0x7f7c2354c9e0, envp: 0x7f7c230ea330 },
        ),
        ("exit(error_code: 0)", "exit: error_code: 0x00000000", SysEnter::Exit { error_code: 0 }),
        ("exit_group(error_code: 1)", "exit_group: error_code: 0x00000001", SysEnter::ExitGroup { error_code: 1 }),
    ];
    assert_eq!(cases.len(), Syscall::ALL.len());
    for (ftrace, perf_fields, expected) in cases {
        assert_eq!(one(&format!("sys_{ftrace}")), Record::SysEnter(*expected), "{ftrace}");
        assert_eq!(perf(&format!("syscalls:sys_enter_{perf_fields}")), Record::SysEnter(*expected), "{perf_fields}");
        let syscall = expected.syscall();
        let exit = Record::SysExit(SysExit { syscall, ret: -22 });
        assert_eq!(one(&format!("sys_{} -> 0xffffffffffffffea", syscall.name())), exit);
        assert_eq!(perf(&format!("syscalls:sys_exit_{}: 0xffffffffffffffea", syscall.name())), exit);
    }
    assert_eq!(error("sys_munmap(addr: 0x1000)"), "expected a `len: <value>` argument, found end of line");
    assert_eq!(error("sys_munmap(addr: 0x1000, len: zz)"), "expected a hexadecimal number for `len`, found `zz`");
}
