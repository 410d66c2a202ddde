//! fork-cow: copy-on-write by parent and child after fork, then reuse once the child is gone.
//!
//! The parent writes all 32 pages of a private anonymous region and forks. The child writes pages 0-7 (it gets
//! copies) and reads 16-23 (they stay shared); the parent writes pages 8-15 (it gets copies). After the child
//! exits, the parent writes pages 0-7 and 24-31 again: it is now their only mapper, so the write fault reuses the
//! page instead of copying, unless the page still sits in a per-CPU LRU batch (whose extra reference makes the
//! reuse check fail, real-traces.md trap 4).
//!
//! Checkpoints:
//! 1. parent only: 32 anonymous pages, `excl=1`, mapcount 1, kflags with `ANON_EXCLUSIVE` (bit 34 on 6.18).
//! 2. parent and child right after fork: the same 32 pfns in both, mapcount 2, `excl=0`; Pss halves.
//! 3. child wrote 0-7 and read 16-23, parent wrote 8-15: 0-7 and 8-15 differ between the two, the other pages
//!    are still shared (mapcount 2).
//! 4. child exited: the parent's pages 0-7 have mapcount 1 again (the child's copies are freed).
//! 5. parent rewrote 0-7 and 24-31: pfns unchanged where the page was reused, new pfns where it was copied.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, exit_now, fork, say, set_name, wait_child, Forked, Pipe, Region};

fn main() {
    set_name("fork-cow");
    let r = Region::anon(32);
    say!("region {:#x} (32 pages): parent writes all", r.addr());
    r.write_pages(0..32, 0x10);
    ckpt("1: parent wrote pages 0-31");

    let child_done = Pipe::new();
    match fork() {
        Forked::Child => {
            ckpt("2: child right after fork");
            r.write_pages(0..8, 0x55);
            r.read_pages(16..24);
            child_done.put();
            ckpt("3: child wrote 0-7 (COW) and read 16-23");
            exit_now(0);
        }
        Forked::Parent(child) => {
            ckpt("2: parent right after fork");
            child_done.get(1);
            r.write_pages(8..16, 0x66);
            ckpt("3: parent wrote 8-15 (COW)");
            wait_child(child);
            ckpt("4: child exited");
            r.write_pages(0..8, 0x77);
            r.write_pages(24..32, 0x77);
            ckpt("5: parent rewrote 0-7 and 24-31 (reuse or copy)");
        }
    }
}
