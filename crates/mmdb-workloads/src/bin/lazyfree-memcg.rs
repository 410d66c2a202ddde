//! lazyfree-memcg: memcg reclaim discards lazyfree pages. Record it with `mmdb record --memcg-limit 8M`.
//!
//! 4 MiB of a private anonymous region are written and MADV_FREE'd; then a second region of 6 MiB is written.
//! With the memory cgroup limited to 8 MiB (and no swap), the charge of the new pages pushes the cgroup over its
//! limit and memcg reclaim (`mm_vmscan_memcg_reclaim_begin`) scans the file LRU, where the lazyfree pages sit as
//! clean, not swap-backed folios: it discards them (freed without I/O). The written pages of the second region
//! cannot be reclaimed (no swap).
//!
//! Checkpoints:
//! 1. 1024 lazyfree pages present (LazyFree up to 4096 kB; pages still in a per-CPU batch are not counted).
//! 2. after writing the 6 MiB region: the second region is fully present; most of the lazyfree pages are no longer
//!    present (discarded by reclaim), RssAnon dropped accordingly. Without the memcg limit nothing is discarded.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, say, set_name, Advice, Region, MB, PG};

fn main() {
    set_name("lazyfree-memcg");
    let a = Region::anon(4 * MB / PG);
    say!("region A {:#x} (4 MiB): write all, then MADV_FREE", a.addr());
    a.write_pages(0..a.pages(), 0x51);
    a.madvise(0, a.pages(), Advice::Free);
    say!("{} of {} pages of A resident after MADV_FREE (mincore)", a.resident_pages(), a.pages());
    ckpt("1: 4 MiB lazyfree");

    let b = Region::anon(6 * MB / PG);
    say!("region B {:#x} (6 MiB): write all (memcg pressure)", b.addr());
    b.write_pages(0..b.pages(), 0x52);
    say!("{} of {} lazyfree pages of A are still resident (mincore)", a.resident_pages(), a.pages());
    ckpt("2: 6 MiB written under the memcg limit (lazyfree pages discarded)");
}
