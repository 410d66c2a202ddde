//! pagecache-holes: fault-around over a file mapping maps only the pages that are in the page cache.
//!
//! A 64-page file is created in the temporary directory (one page per `write()`, so each page is a folio of its
//! own) and written back with `fsync`; `posix_fadvise(POSIX_FADV_DONTNEED)` then drops pages 5 and 40 from the page
//! cache (they are clean and unmapped). The file is mapped `PROT_READ`, `MAP_PRIVATE`:
//! - reading page 0 faults once; `do_fault_around()` → `filemap_map_pages()` maps the cached pages of its 16-page
//!   window (0-4 and 6-15) and skips page 5, which `mm_filemap_map_pages` does not show (it reports the window);
//! - reading page 5 is a real page-cache miss: `filemap_fault()` reads it in (read-around, which on the recording
//!   machine brought page 40 in as well) and the retried fault maps it;
//! - reading page 33 maps its window 32-47 (page 40 included, if read-around brought it in).
//!
//! Checkpoints (RssFile of the process, beside the binary's and libc's pages):
//! 1. the file is written and has its two holes; nothing of it is mapped.
//! 2. after reading page 0: 15 of the file's pages mapped (+60 kB RssFile).
//! 3. after reading pages 5 and 33: 32 mapped (+128 kB) when read-around brought page 40 in, else 31.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, say, set_name, ScratchFile};

fn main() {
    set_name("pagecache-holes");
    let file = ScratchFile::create("mmdb-pagecache-holes", 64);
    file.drop_cached(5, 1);
    file.drop_cached(40, 1);
    say!("{} (64 pages): pages 5 and 40 dropped from the page cache", file.path().display());
    ckpt("1: file written, pages 5 and 40 not cached");

    let r = file.map_readonly();
    say!("mapped at {:#x}: read page 0", r.addr());
    r.read_pages(0..1);
    ckpt("2: page 0 read: fault-around mapped 0-4 and 6-15");

    r.read_pages(5..6);
    r.read_pages(33..34);
    ckpt("3: page 5 read in, page 33 read: its window 32-47 mapped too");
}
