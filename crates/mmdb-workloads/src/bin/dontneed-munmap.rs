//! dontneed-munmap: memory leaving a process by MADV_DONTNEED, munmap and exit.
//!
//! The parent writes 32 pages of a private anonymous region, zaps pages 0-15 with MADV_DONTNEED, reads 0-7
//! (zero page) and writes 8-15 (new pages, often the pfns just freed: per-CPU page lists are LIFO), then unmaps
//! the region. A child then maps and writes 16 pages of its own and exits without unmapping them.
//! Since 6.14, none of these drains the per-CPU batches: a page zapped while still in a batch stays allocated
//! (refcount 1, mapcount 0) until a drain (real-traces.md trap 5).
//!
//! Checkpoints:
//! 1. 32 present pages.
//! 2. after MADV_DONTNEED of 0-15: 16 present pages (16-31); RssAnon -64 kB.
//! 3. after reading 0-7 and writing 8-15: 0-7 map the zero page, 8-15 are new anonymous pages.
//! 4. after munmap: the region's VMA is gone, RssAnon back to the runtime's own.
//! 5. parent (waiting) and child with its 16 written pages.
//! 6. parent only, after the child's exit tore down its memory.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, exit_now, fork, say, set_name, wait_child, Advice, Forked, Region};

fn main() {
    set_name("dontneed-munmap");
    let r = Region::anon(32);
    say!("region {:#x} (32 pages): write all", r.addr());
    r.write_pages(0..32, 0x31);
    ckpt("1: 32 pages written");

    r.madvise(0, 16, Advice::DontNeed);
    ckpt("2: MADV_DONTNEED of pages 0-15");

    r.read_pages(0..8);
    r.write_pages(8..16, 0x32);
    ckpt("3: read 0-7 (zero page), wrote 8-15 (new pages)");

    r.unmap();
    ckpt("4: munmap of the region");

    match fork() {
        Forked::Child => {
            let c = Region::anon(16);
            say!("child region {:#x} (16 pages): write all, then exit without munmap", c.addr());
            c.write_pages(0..16, 0x33);
            ckpt("5: child wrote 16 pages");
            exit_now(0);
        }
        Forked::Parent(child) => {
            wait_child(child);
            ckpt("6: child exited");
        }
    }
}
