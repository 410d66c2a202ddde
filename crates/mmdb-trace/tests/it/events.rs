//! Parsing every mm event kind from hand-written lines.

use mmdb_model::consts::*;
use mmdb_model::{Access, Event, FileRef, Op};
use mmdb_trace::{parse_events, Located};

const PREFIX: &str = "             app-100     [000]     0.000100: ";

/// Parses `PREFIX + text` and returns its one op, failing on any error.
fn op(text: &str) -> Op {
    let src = format!("{PREFIX}{text}");
    let parsed = parse_events(&src);
    assert!(parsed.errors.is_empty(), "{src:?}: {:?}", parsed.errors);
    match <[Located<Event>; 1]>::try_from(parsed.events) {
        Ok([ev]) => ev.value.op,
        Err(evs) => panic!("{src:?}: {evs:?}"),
    }
}

#[test]
fn every_event_kind() {
    let rw = PROT_READ | PROT_WRITE;
    let anon = MAP_PRIVATE | MAP_ANONYMOUS;
    let table: Vec<(&str, Op)> = vec![
        ("spawn: comm=app", Op::Spawn { comm: "app".into() }),
        (r#"spawn: comm="Web Content""#, Op::Spawn { comm: "Web Content".into() }),
        ("fork: child=101", Op::Fork { child: 101, thread: false }),
        ("fork: child=101 thread=0", Op::Fork { child: 101, thread: false }),
        ("fork: thread=1 child=0x65", Op::Fork { child: 101, thread: true }),
        ("exec: filename=/bin/true", Op::Exec { filename: "/bin/true".into() }),
        ("rename: comm=tail", Op::Rename { comm: "tail".into() }),
        (r#"exec: filename="/tmp/a \"b\"\\c""#, Op::Exec { filename: "/tmp/a \"b\"\\c".into() }),
        ("exit:", Op::Exit),
        ("exit:   ", Op::Exit),
        (
            "mmap: addr=0x7f0000000000 len=0x40000 prot=PROT_READ|PROT_WRITE flags=MAP_PRIVATE|MAP_ANONYMOUS",
            Op::Mmap { addr: Some(0x7f00_0000_0000), len: 0x40000, prot: rw, flags: anon, file: None },
        ),
        (
            "mmap:   flags=MAP_PRIVATE|MAP_ANONYMOUS   len=256K prot=PROT_NONE",
            Op::Mmap { addr: None, len: 0x40000, prot: 0, flags: anon, file: None },
        ),
        ("mmap: len=2M prot=0 flags=0", Op::Mmap { addr: None, len: 2 << 20, prot: 0, flags: 0, file: None }),
        (
            "mmap: len=4096 prot=PROT_READ flags=MAP_SHARED file=/dev/shm/x offset=64K",
            Op::Mmap {
                addr: None,
                len: 4096,
                prot: PROT_READ,
                flags: MAP_SHARED,
                file: Some(FileRef { name: "/dev/shm/x".into(), offset: 65536 }),
            },
        ),
        (
            "mmap: len=1G prot=PROT_READ|PROT_EXEC flags=MAP_PRIVATE|0x40 file=memfd:x",
            Op::Mmap {
                addr: None,
                len: 1 << 30,
                prot: PROT_READ | PROT_EXEC,
                flags: MAP_PRIVATE | 0x40,
                file: Some(FileRef { name: "memfd:x".into(), offset: 0 }),
            },
        ),
        ("munmap: addr=0x7f0000000000 len=0x1000", Op::Munmap { addr: 0x7f00_0000_0000, len: 0x1000 }),
        ("mprotect: addr=4096 len=8K prot=PROT_READ", Op::Mprotect { addr: 4096, len: 8192, prot: PROT_READ }),
        (
            "mremap: addr=0x1000 old_len=0x1000 new_len=0x2000 flags=0",
            Op::Mremap { addr: 0x1000, old_len: 0x1000, new_len: 0x2000, flags: 0, new_addr: None },
        ),
        (
            "mremap: addr=0x1000 old_len=4K new_len=8K flags=MREMAP_MAYMOVE|MREMAP_FIXED new_addr=0x9000",
            Op::Mremap {
                addr: 0x1000,
                old_len: 4096,
                new_len: 8192,
                flags: MREMAP_MAYMOVE | MREMAP_FIXED,
                new_addr: Some(0x9000),
            },
        ),
        ("brk: brk=0x555555559000", Op::Brk { brk: 0x5555_5555_9000 }),
        (
            "fault: addr=0x7f0000000000 access=write",
            Op::Fault { addr: 0x7f00_0000_0000, access: Access::Write, pfn: None, around: None },
        ),
        ("fault: access=read addr=0x10", Op::Fault { addr: 0x10, access: Access::Read, pfn: None, around: None }),
        (
            "fault: addr=0x10 access=exec pfn=0x19272d",
            Op::Fault { addr: 0x10, access: Access::Exec, pfn: Some(0x19272d), around: None },
        ),
        ("touch: addr=0x7f0000001000 access=write", Op::Touch { addr: 0x7f00_0000_1000, access: Access::Write }),
        (
            "madvise: addr=0x1000 len=0x1000 advice=MADV_FREE",
            Op::Madvise { addr: 0x1000, len: 0x1000, advice: MADV_FREE },
        ),
        ("madvise: addr=0x1000 len=0x1000 advice=99", Op::Madvise { addr: 0x1000, len: 0x1000, advice: 99 }),
        ("madvise: addr=0x1000 len=0x1000 advice=-1", Op::Madvise { addr: 0x1000, len: 0x1000, advice: -1 }),
        ("mlock: addr=0x1000 len=0x1000", Op::Mlock { addr: 0x1000, len: 0x1000 }),
        ("munlock: addr=0x1000 len=0x1000", Op::Munlock { addr: 0x1000, len: 0x1000 }),
        ("lru_add_drain:", Op::LruAddDrain),
        ("lru_add_drain_all:", Op::LruAddDrainAll),
        ("reclaim: nr=32", Op::Reclaim { nr: 32, memcg: None }),
        ("reclaim: nr=32 memcg=1", Op::Reclaim { nr: 32, memcg: Some(1) }),
        ("shrink_folio: pfn=0x100010", Op::ShrinkFolio { pfn: 0x100010 }),
        ("gup: addr=0x7ffc0000f000 access=write", Op::Gup { addr: 0x7ffc0000f000, write: true }),
        ("folio_batch_move: batch=lru_activate", Op::FolioBatchMove { batch: mmdb_model::lru::BatchKind::LruActivate }),
        ("memcg_create: id=1 limit=64M", Op::MemcgCreate { id: 1, limit: 64 << 20 }),
        ("memcg_create: id=2 limit=0", Op::MemcgCreate { id: 2, limit: 0 }),
        ("memcg_attach: id=1", Op::MemcgAttach { id: 1 }),
        ("swapon: size=0x40000000", Op::Swapon { size: 1 << 30 }),
        ("kmem_alloc: order=1 account=1", Op::KmemAlloc { order: 1, account: true }),
        ("kmem_alloc: order=0", Op::KmemAlloc { order: 0, account: false }),
        ("kmem_get: pfn=0x100000", Op::KmemGet { pfn: 0x100000 }),
        ("folio_get: pfn=0x4b5daa", Op::FolioGet { pfn: 0x4b5daa }),
        ("folio_put: pfn=0x4b5daa", Op::FolioPut { pfn: 0x4b5daa }),
        (
            "kmem_free: pfn=0x100000 via=release_pages",
            Op::KmemFree { pfn: 0x100000, via: mmdb_model::kmem::KmemFreeVia::ReleasePages },
        ),
        ("balloon_inflate: account=0", Op::BalloonInflate { account: false }),
        ("balloon_deflate: pfn=0x100001", Op::BalloonDeflate { pfn: 0x100001 }),
        (
            "page_cache: file=\"dev 254:0 ino 0x51207b\" index=5 pages=1 cached=0",
            Op::PageCache {
                file: "dev 254:0 ino 0x51207b".into(),
                index: 5,
                pages: 1,
                cached: false,
                readahead: false,
            },
        ),
        (
            "vrange: addr=0x1000 len=1M mode=volatile behavior=partial",
            Op::Vrange {
                addr: 0x1000,
                len: 1 << 20,
                mode: mmdb_model::vrange::VrangeMode::Volatile,
                behavior: mmdb_model::vrange::VrangeBehavior::Partial,
            },
        ),
        (
            "vrange: addr=0x1000 len=0x1000 mode=novolatile",
            Op::Vrange {
                addr: 0x1000,
                len: 0x1000,
                mode: mmdb_model::vrange::VrangeMode::Novolatile,
                behavior: mmdb_model::vrange::VrangeBehavior::Full,
            },
        ),
    ];
    for (text, expected) in table {
        assert_eq!(op(text), expected, "{text}");
    }
}

#[test]
fn prefix_fields_comments_blanks_and_crlf() {
    let src = "# mmdb events v1\r\n\
               \r\n\
               \x20    Web Content-2801    [007]  1272.594494: exit:\r\n\
               # a comment\n\
               <...>-3 [1] 0.123456789: lru_add_drain:\n";
    let parsed = parse_events(src);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let got: Vec<_> = parsed
        .events
        .iter()
        .map(|e| (e.line, e.value.comm.as_str(), e.value.pid, e.value.cpu, e.value.ts_ns))
        .collect();
    assert_eq!(got, vec![(3, "Web Content", 2801, 7, 1_272_594_494_000), (5, "<...>", 3, 1, 123_456_789)]);
}
