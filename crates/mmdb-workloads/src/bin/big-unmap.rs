//! big-unmap: MADV_DONTNEED and munmap of a region larger than one mmu_gather holds.
//!
//! An unmap gathers the pages it zaps and frees them at the TLB flush; a gather holds 9678 base pages (7 on the
//! stack, then 19 allocated batches of 509). `zap_pte_range()` writes its `rss_stat`s once per page table, and
//! once more where the gather filled up inside a table: it stops there, flushes (9678 `mm_page_free`s), and goes
//! on. This region of 10000 pages (39 MiB, not a multiple of 2 MiB, so not PMD-aligned) with MADV_NOHUGEPAGE
//! (base pages even with THP "always") makes both a MADV_DONTNEED and a munmap take that step.
//!
//! Checkpoints:
//! 1. 10000 written pages; RssAnon about 40 MB.
//! 2. after MADV_DONTNEED of the whole region: no page present, RssAnon back to the runtime's own.
//! 3. after writing the 10000 pages again.
//! 4. after munmap: the region's VMA is gone.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, say, set_name, Advice, Region};

/// More than one mmu_gather holds (9678), less than two.
const PAGES: usize = 10_000;

fn main() {
    set_name("big-unmap");
    let r = Region::anon(PAGES);
    r.madvise(0, PAGES, Advice::NoHugePage);
    say!("region {:#x} ({PAGES} pages, MADV_NOHUGEPAGE): write all", r.addr());
    r.write_pages(0..PAGES, 0x41);
    ckpt("1: 10000 pages written");

    r.madvise(0, PAGES, Advice::DontNeed);
    ckpt("2: MADV_DONTNEED of the whole region");

    r.write_pages(0..PAGES, 0x42);
    ckpt("3: 10000 pages written again");

    r.unmap();
    ckpt("4: munmap of the region");
}
