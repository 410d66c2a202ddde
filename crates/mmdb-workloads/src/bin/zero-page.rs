//! zero-page: read faults map the shared zero page; writes replace it.
//!
//! One private anonymous region of 32 pages:
//! - pages 0-15 are read: each PTE maps the 4 KiB zero page, which is not counted in Rss;
//! - pages 8-15 are then written: the write fault on a zero-page PTE allocates a new zeroed anonymous page;
//! - pages 16-23 are written without a read first: a write fault on an empty PTE allocates directly;
//! - pages 0-7 are zapped with MADV_DONTNEED and read again: they map the zero page again.
//!
//! Checkpoints (`mmdb-page` lines of the region):
//! 1. pages 0-15 present with the zero page's pfn, `mapcount=0`, kflags `ZERO_PAGE|RESERVED` (bits 24, 32);
//!    RssAnon does not include them.
//! 2. pages 0-7 still the zero page; pages 8-23 are 16 new anonymous pages (`excl=1`, mapcount 1): RssAnon +64 kB.
//! 3. after MADV_DONTNEED of pages 0-7 and reading them again: the same as 2 (zero page again, no Rss change).
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, say, set_name, Advice, Region};

fn main() {
    set_name("zero-page");
    let r = Region::anon(32);
    say!("region {:#x} (32 pages): read 0-15", r.addr());
    r.read_pages(0..16);
    ckpt("1: pages 0-15 read (zero page)");

    r.write_pages(8..16, 0x11);
    r.write_pages(16..24, 0x22);
    ckpt("2: pages 8-15 written after a read (zero page replaced), 16-23 written fresh");

    r.madvise(0, 8, Advice::DontNeed);
    r.read_pages(0..8);
    ckpt("3: pages 0-7 zapped with MADV_DONTNEED and read again (zero page again)");
}
