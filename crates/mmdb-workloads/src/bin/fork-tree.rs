//! fork-tree: a tree of seven processes sharing one MAP_SHARED region and COW-copying a private one.
//!
//! The root writes 16 pages of a private region and maps 8 shared pages. It forks two children, each of which
//! forks two grandchildren. Process k of the tree (root 0, children 1-2, grandchildren 3-6) writes shared page k
//! and private page k: a COW copy, in the root too, whose pages are shared with its children by then. Every
//! process then stops at the same checkpoint. The grandchildren exit, the children wait for them and stop again,
//! then exit.
//!
//! Checkpoints:
//! 1. seven processes: each maps only the one shared page it wrote (MAP_SHARED pages are not copied at fork, each
//!    process maps the pages it touches, real-traces.md trap 9; `file=1` in pagemap, RssShmem 4 kB); in the
//!    private region process k has its own copy of page k (mapcount 1), the originals of the six other written
//!    pages have mapcount 6, pages 7-15 mapcount 7.
//! 2. root and its two children after the grandchildren exited: the grandchildren's copies are freed, the
//!    mapcounts of the shared private pages drop to 3, and to 2 for the originals of pages 0-2 (each process
//!    maps its own copy of one of them).
//! 3. root alone after the children exited: all its pages have mapcount 1 again.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, exit_now, fork, say, set_name, wait_child, Forked, Pipe, Region};

/// Writes this process's pages, reports to the root, and stops at checkpoint 1.
fn touch(k: usize, shared: &Region, private: &Region, ready: &Pipe) {
    shared.write(k, k as u8);
    private.write(k, 0x80 | k as u8);
    ready.put();
}

fn main() {
    set_name("fork-tree");
    let private = Region::anon(16);
    private.write_pages(0..16, 0x70);
    let shared = Region::shared_anon(8);
    say!("private {:#x} (16 pages, written), shared {:#x} (8 pages)", private.addr(), shared.addr());
    let ready = Pipe::new();

    let mut children = Vec::new();
    for c in 0..2 {
        match fork() {
            Forked::Child => {
                let k = 1 + c;
                let mut grandchildren = Vec::new();
                for g in 0..2 {
                    match fork() {
                        Forked::Child => {
                            let k = 3 + 2 * c + g;
                            touch(k, &shared, &private, &ready);
                            ckpt(&format!("1: grandchild {k} wrote its pages"));
                            exit_now(0);
                        }
                        Forked::Parent(pid) => grandchildren.push(pid),
                    }
                }
                touch(k, &shared, &private, &ready);
                ckpt(&format!("1: child {k} wrote its pages"));
                for pid in grandchildren {
                    wait_child(pid);
                }
                ready.put();
                ckpt(&format!("2: child {k}, its grandchildren exited"));
                exit_now(0);
            }
            Forked::Parent(pid) => children.push(pid),
        }
    }
    touch(0, &shared, &private, &ready);
    ready.get(7);
    ckpt("1: root, the whole tree wrote its pages");
    ready.get(2);
    ckpt("2: root, the grandchildren exited");
    for pid in children {
        wait_child(pid);
    }
    ckpt("3: root alone");
}
