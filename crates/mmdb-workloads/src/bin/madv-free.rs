//! madv-free: MADV_FREE makes pages lazily freeable; a write makes them dirty (kept) again.
//!
//! 64 pages of a private anonymous region are written, then all are MADV_FREE'd. Pages 0-7 are written again
//! and pages 8-15 only read; then pages 0-31 are MADV_FREE'd a second time and pages 48-55 written.
//! No memory pressure: nothing is discarded, the pages stay present.
//!
//! Checkpoints:
//! 1. 64 present anonymous pages; LazyFree 0.
//! 2. after MADV_FREE of all 64: the pages are still present but clean and not `SWAPBACKED` once the lazyfree
//!    per-CPU batch drained; smaps LazyFree shows the drained ones (up to 256 kB; pages still queued in the
//!    batch are not counted yet, real-traces.md trap 4).
//! 3. after re-writing 0-7 (dirty PTEs: no longer lazyfree in smaps) and reading 8-15 (no change): LazyFree drops
//!    by 32 kB at most.
//! 4. after MADV_FREE of 0-31 again and writing 48-55: 0-7 are lazyfree again, 48-55 dirty.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, say, set_name, Advice, Region};

fn main() {
    set_name("madv-free");
    let r = Region::anon(64);
    say!("region {:#x} (64 pages): write all", r.addr());
    r.write_pages(0..64, 0x21);
    ckpt("1: 64 pages written");

    r.madvise(0, 64, Advice::Free);
    ckpt("2: MADV_FREE of pages 0-63");

    r.write_pages(0..8, 0x42);
    r.read_pages(8..16);
    ckpt("3: re-wrote 0-7, read 8-15");

    r.madvise(0, 32, Advice::Free);
    r.write_pages(48..56, 0x43);
    ckpt("4: MADV_FREE of 0-31 again, wrote 48-55");
}
