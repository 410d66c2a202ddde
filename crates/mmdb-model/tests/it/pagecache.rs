//! The page cache a real trace describes (`Op::PageCache`): fault-around maps only the window's cached pages, as
//! `filemap_map_pages()` does, and a page known not to be cached is read in, not found.

use mmdb_model::*;

use crate::sim::{Sim, PG};

const FILE: &str = "dev 254:0 ino 0x51207b";
const BASE: u64 = 0x7f00_0000_0000;

/// A replay of a real trace (`trace_pfns`) with pid 1 mapping 64 pages of `FILE` read-only and private at `BASE`.
fn mapped() -> Sim {
    let mut s = Sim::new();
    s.m = Model::new(Config { trace_pfns: true, ..Config::default() });
    s.spawn(1);
    let file = Some(FileRef { name: FILE.into(), offset: 0 });
    s.ev(1, Op::Mmap { addr: Some(BASE), len: 64 * PG, prot: PROT_READ, flags: MAP_PRIVATE | MAP_FIXED, file });
    s
}

fn hole(s: &mut Sim, index: u64, cached: bool) {
    s.ev(1, Op::PageCache { file: FILE.into(), index, pages: 1, cached, readahead: false });
}

fn read(s: &mut Sim, page: u64, pfn: Option<u64>) -> Outcome {
    let ev = Event {
        comm: "t".into(),
        pid: 1,
        cpu: 0,
        ts_ns: 1,
        op: Op::Fault {
            addr: BASE + page * PG,
            access: Access::Read,
            pfn,
            around: Some((BASE + page / 16 * 16 * PG, 16)),
        },
    };
    let out = s.m.apply(&ev);
    assert!(s.m.check().is_empty(), "{:#?}", s.m.check());
    out
}

/// The recording `traces/real/pagecache-holes.ftrace`, reduced to the model's events: a 64-page file with pages 5
/// and 40 evicted. Without the page cache, fault-around at page 0 maps the whole 16-page window (16 pages, the
/// model's old count); the kernel maps 15, skipping the page it does not have, and so does the model told so.
#[test]
fn fault_around_skips_pages_known_not_to_be_cached() {
    let mut without = mapped();
    read(&mut without, 0, None);
    assert_eq!(without.rss(1).0, 16, "every page of the window taken to be cached");

    let mut s = mapped();
    hole(&mut s, 5, false);
    hole(&mut s, 40, false);
    assert_eq!(s.m.page_cache_holes(FILE), [(5, 6), (40, 41)]);
    let out = read(&mut s, 0, None);
    assert_eq!(s.rss(1).0, 15, "filemap_map_pages() maps the 15 cached pages");
    assert!(out.allocated.is_empty(), "pages cached before the trace are not allocations");
    assert!(s.pfn(1, BASE + 5 * PG).is_none() && s.pfn(1, BASE + 6 * PG).is_some());
    // Reading the hole is a page-cache miss: the kernel's page is read in and mapped.
    let out = read(&mut s, 5, Some(0x123456));
    assert_eq!((s.rss(1).0, s.pfn(1, BASE + 5 * PG)), (16, Some(0x123456)));
    assert_eq!(out.allocated.iter().map(|a| a.0).collect::<Vec<_>>(), [0x123456]);
    // The window of page 40 maps its 15 cached pages.
    read(&mut s, 33, None);
    assert_eq!(s.rss(1).0, 31);
    assert!(s.pfn(1, BASE + 40 * PG).is_none());
}

/// A cached page carrying `PG_readahead` (the recorder's `readahead=`): `next_uptodate_folio()` skips it, so
/// fault-around leaves it unmapped (the perl binary's page 417 after a cold start, traces/real/README.md); a fault
/// on the page itself finds it cached (no allocation) and clears the mark (`do_async_mmap_readahead()`), so the
/// fault's retry, and every fault-around after it, maps it. A page added to the page cache or found uncached loses the mark.
#[test]
fn fault_around_skips_pages_marked_for_readahead() {
    let mut s = mapped();
    s.ev(1, Op::PageCache { file: FILE.into(), index: 417 % 64, pages: 1, cached: true, readahead: true });
    assert_eq!(s.m.page_cache_readahead(FILE), [(33, 34)]);
    read(&mut s, 32, None);
    assert_eq!(s.rss(1).0, 15, "the marked page is skipped");
    assert!(s.pfn(1, BASE + 33 * PG).is_none() && s.m.page_cache_holes(FILE).is_empty());
    let out = read(&mut s, 33, None);
    assert!(out.allocated.is_empty(), "cached: found, not read in");
    assert_eq!((s.rss(1).0, s.m.page_cache_readahead(FILE)), (16, vec![]));
    // The mark is the folio's: a fault on one page of a large folio's marked run clears it for the whole run.
    // Fault-around comes first (do_read_fault()) and skips the run; filemap_fault() clears the mark and starts
    // the next readahead, which drops the mmap lock: the fault is retried, and the retry's fault-around maps the
    // whole window, the run included (real: gcc's cc1 mapping a 4-page folio of libgmp that way).
    s.ev(1, Op::PageCache { file: FILE.into(), index: 16, pages: 8, cached: true, readahead: true });
    read(&mut s, 20, None);
    assert!(s.m.page_cache_readahead(FILE).is_empty());
    assert_eq!(s.rss(1).0, 32, "pages 16-31: the retry maps the run");
    // Marks go with the page: a page added or seen uncached has none.
    for cached in [true, false] {
        s.ev(1, Op::PageCache { file: FILE.into(), index: 50, pages: 2, cached: true, readahead: true });
        s.ev(1, Op::PageCache { file: FILE.into(), index: 51, pages: 1, cached, readahead: false });
        assert_eq!(s.m.page_cache_readahead(FILE), [(50, 51)]);
        s.ev(1, Op::PageCache { file: FILE.into(), index: 50, pages: 1, cached: true, readahead: false });
    }
}

/// A page the trace showed not to be cached, faulted without an allocation in the trace, is still a page-cache
/// miss (an allocation the trace did not show), not a page from before the trace; once the trace shows it added
/// (`mm_filemap_add_to_page_cache`), fault-around maps it like any cached page.
#[test]
fn pages_known_not_cached_are_read_in_and_become_cached() {
    let mut s = mapped();
    hole(&mut s, 0, false);
    hole(&mut s, 3, false);
    let out = read(&mut s, 0, None);
    assert_eq!(out.allocated.len(), 1, "a miss allocates: {out:?}");
    assert_eq!(s.rss(1).0, 15);
    hole(&mut s, 3, true);
    assert_eq!(s.m.page_cache_holes(FILE), [(0, 1)]);
    read(&mut s, 3, None);
    assert_eq!(s.rss(1).0, 16);
}

/// A folio the model holds is in the page cache whatever the trace said later about its index (the kernel removes
/// a page-cache folio only once it is unmapped): another process's fault-around maps it too. Shmem objects are
/// left alone.
#[test]
fn folios_the_model_holds_stay_cached() {
    let mut s = mapped();
    read(&mut s, 0, None);
    hole(&mut s, 3, false);
    s.ev(1, Op::Fork { child: 2, thread: false });
    let ev = Event {
        comm: "t".into(),
        pid: 2,
        cpu: 0,
        ts_ns: 2,
        op: Op::Fault { addr: BASE, access: Access::Read, pfn: None, around: Some((BASE, 16)) },
    };
    s.m.apply(&ev);
    assert_eq!(s.m.rss(2).map(|r| r.file), Some(16));
    let flags = MAP_SHARED | MAP_ANONYMOUS;
    s.ev(1, Op::Mmap { addr: None, len: 4 * PG, prot: PROT_READ | PROT_WRITE, flags, file: None });
    let shmem = "/dev/zero (deleted) #1";
    s.ev(1, Op::PageCache { file: shmem.into(), index: 0, pages: 4, cached: false, readahead: false });
    assert!(s.m.page_cache_holes(shmem).is_empty());
}

/// A deletion from the page cache (`mm_filemap_delete_from_page_cache`: truncation, invalidation, reclaim by another
/// task) of a page whose folio the model holds unmapped takes the folio out of the page cache and frees it, as
/// `__filemap_remove_folio()` and `filemap_free_folio()` do; a mapped one stays, as the kernel unmaps first.
#[test]
fn deleted_pages_leave_the_page_cache_unless_mapped() {
    let mut s = mapped();
    read(&mut s, 0, None);
    let (unmapped, still_mapped) =
        (s.pfn(1, BASE + 3 * PG).expect("mapped"), s.pfn(1, BASE + 10 * PG).expect("mapped"));
    s.ev(1, Op::Munmap { addr: BASE, len: 8 * PG });
    assert!(s.m.folio(unmapped).is_some(), "an unmapped page stays in the page cache");
    for index in [3, 10] {
        let ev = Event {
            comm: "t".into(),
            pid: 1,
            cpu: 0,
            ts_ns: 3,
            op: Op::PageCache { file: FILE.into(), index, pages: 1, cached: false, readahead: false },
        };
        s.m.apply(&ev);
        assert!(s.m.check().is_empty(), "{:#?}", s.m.check());
    }
    assert!(s.m.folio(unmapped).is_none(), "removed from the page cache and freed");
    assert!(s.m.folio(still_mapped).is_some() && s.pfn(1, BASE + 10 * PG) == Some(still_mapped));
    assert_eq!(s.rss(1).0, 8);
}

/// A page cached before the trace whose frame the trace gave (`Op::PageCacheFrame`, the recorder's
/// `mmdb-pagecache-page`: gconv-modules.cache's pages, traces/real/README.md) is held by that frame, with the flags
/// no tracepoint shows: on the active list, `PG_mappedtodisk` (kpageflags bit 34, the bit `PG_anon_exclusive` is on
/// an anonymous page). Pages without a frame get one of the model's own; a page that leaves the page cache before
/// the model takes it loses its frame.
#[test]
fn pages_cached_before_the_trace_take_the_frame_the_trace_gave() {
    let mut s = mapped();
    let frame = |s: &mut Sim, index: u64, pfn: u64| {
        s.ev(1, Op::PageCacheFrame { file: FILE.into(), index, pfn, kflags: 0x4_0000_086c });
    };
    frame(&mut s, 0, 0x179cf2);
    frame(&mut s, 1, 0x494bbf);
    frame(&mut s, 2, 0x12cbcc);
    hole(&mut s, 2, false);
    hole(&mut s, 2, true);
    read(&mut s, 0, None);
    assert_eq!(s.pfn(1, BASE), Some(0x179cf2));
    assert_eq!(s.pfn(1, BASE + PG), Some(0x494bbf));
    assert!(s.pfn(1, BASE + 2 * PG).is_some_and(|p| p != 0x12cbcc), "it left the page cache: another frame");
    let kflags = s.m.kpageflags(0x179cf2);
    for bit in [kpf::ACTIVE, kpf::REFERENCED, kpf::LRU, kpf::MMAP, kpf::OWNER_2] {
        assert_eq!(kflags >> bit & 1, 1, "bit {bit} of {kflags:#x}");
    }
    assert_eq!(kflags >> kpf::ANON & 1, 0);
    let info = s.m.page_info(0x179cf2).expect("the folio");
    assert!(info.flags.contains(&"PG_mappedtodisk") && !info.flags.contains(&"PG_anon_exclusive"), "{info:?}");
    assert_eq!(info.lru, Some("active_file"));
    // Another mapping of the page keeps the flag: it is not the rmap's.
    s.ev(1, Op::Fork { child: 2, thread: false });
    s.ev(2, Op::Munmap { addr: BASE, len: 64 * PG });
    assert_eq!(s.m.kpageflags(0x179cf2) >> kpf::OWNER_2 & 1, 1);
    // A page without a frame: the model's own, and none of those flags.
    assert_eq!(s.m.kpageflags(s.pfn(1, BASE + 3 * PG).expect("mapped")) >> kpf::OWNER_2 & 1, 0);
}

/// `filemap::remove_pages` takes exactly the indexes of its half-open range out.
#[test]
fn remove_pages_takes_a_half_open_range_out() {
    let mut map: std::collections::BTreeMap<u64, u64> = (0..10).map(|i| (i, i * 2)).collect();
    mmdb_model::filemap::remove_pages(&mut map, 3, 6);
    assert_eq!(map.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 6, 7, 8, 9]);
    mmdb_model::filemap::remove_pages(&mut map, 8, 8);
    mmdb_model::filemap::remove_pages(&mut map, 9, u64::MAX);
    assert_eq!(map.keys().copied().collect::<Vec<_>>(), [0, 1, 2, 6, 7, 8]);
}
