//! thp-fork: transparent huge pages on an MADV_HUGEPAGE region, shared by fork, then partly freed.
//!
//! THP is `enabled=madvise` on these machines. A 4 MiB region aligned to 2 MiB gets MADV_HUGEPAGE and one write
//! per 4 KiB page: two PMD-mapped THPs (if the allocator finds free 2 MiB blocks; otherwise 4 KiB pages).
//! A second 2 MiB region with MADV_HUGEPAGE is only read: it maps the huge zero page (`use_zero_page=1`).
//! After fork the child writes one page of the first THP: the PMD is shared, so the kernel splits the child's PMD
//! and copies just that 4 KiB page. Then the parent MADV_FREEs the second half of THP 1 (the folio is split, the
//! freed half lazyfree) and MADV_DONTNEEDs the first 64 pages of THP 2 (the PMD is split and the folio stays
//! partially mapped until the deferred split).
//!
//! Checkpoints:
//! 1. parent: AnonHugePages 4096 kB; the 1024 pages of the region have consecutive pfns per 2 MiB with kflags
//!    `THP|COMPOUND_HEAD/TAIL`; the read-only region shows the huge zero page (512 pfns, `file=1`, mapcount 0).
//! 2. parent and child right after fork: the same pfns in both, PMD-mapped, mapcount 2.
//! 3. child wrote page 0 of THP 1: the child's page 0 is a new 4 KiB page, its other pages of THP 1 are
//!    PTE-mapped but still the shared THP (child AnonHugePages 2048 kB); in the parent, still PMD-mapped, page 0
//!    has mapcount 1 and the rest mapcount 2 (pagemap's `excl` of a PMD mapping comes from its first page).
//! 4. child exited: the parent's THPs are mapped once again (mapcount 1).
//! 5. parent after MADV_FREE of pages 256-511 (second half of THP 1) and MADV_DONTNEED of pages 512-575 (first
//!    64 pages of THP 2): THP 1 is split into 512 small pages, 256 of them lazyfree (not `SWAPBACKED`, minus the
//!    ones still in the per-CPU batch); THP 2 is PTE-mapped with 448 pages left; AnonHugePages 0.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, exit_now, fork, say, set_name, wait_child, Advice, Forked, Pipe, Region, HPAGE, PG};

fn main() {
    set_name("thp-fork");
    let r = Region::anon_aligned(2 * HPAGE, HPAGE);
    r.madvise(0, r.pages(), Advice::HugePage);
    say!("THP region {:#x} (2 x 2 MiB, MADV_HUGEPAGE): write every page", r.addr());
    r.write_pages(0..r.pages(), 0x44);
    let z = Region::anon_aligned(HPAGE, HPAGE);
    z.madvise(0, z.pages(), Advice::HugePage);
    say!("read-only region {:#x} (2 MiB, MADV_HUGEPAGE): read every page", z.addr());
    z.read_pages(0..z.pages());
    ckpt("1: two THPs written, one huge zero page read");

    let wrote = Pipe::new();
    match fork() {
        Forked::Child => {
            ckpt("2: child right after fork");
            r.write(0, 0x45);
            wrote.put();
            ckpt("3: child wrote page 0 of THP 1 (PMD split, one 4 KiB copy)");
            exit_now(0);
        }
        Forked::Parent(child) => {
            ckpt("2: parent right after fork");
            wrote.get(1);
            ckpt("3: parent, child has written page 0");
            wait_child(child);
            ckpt("4: child exited");
            let half = HPAGE / PG / 2;
            r.madvise(half, half, Advice::Free);
            r.madvise(2 * half, 64, Advice::DontNeed);
            ckpt("5: MADV_FREE of THP 1's second half, MADV_DONTNEED of THP 2's first 64 pages");
        }
    }
}
