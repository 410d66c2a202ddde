//! pagecache-readin: file faults that read their page in, and the fault-around of the retry.
//!
//! A file fault whose page is not cached reads it in: `filemap_fault()` starts a synchronous readahead
//! (`do_sync_mmap_readahead()`, a window of `read_ahead_kb` around the page, here up to the file's end), drops the
//! mmap lock for the I/O and returns `VM_FAULT_RETRY`; the fault runs again and `do_fault_around()` maps the
//! window, now cached. The trace shows the read (`mm_filemap_fault`, then an `mm_filemap_add_to_page_cache` per
//! folio) and the retry's `mm_filemap_map_pages`; the `page_fault_user` is not repeated.
//!
//! A 256-page file is written (clean, fsync) and pages 16-255 are dropped from the page cache, then it is mapped
//! read-only and private:
//! - reading page 0 maps its window 0-15 (cached);
//! - reading page 20 finds nothing cached in its window 16-31: fault-around maps nothing (no
//!   `mm_filemap_map_pages`), the read brings pages 16-255 in, and the retry maps 16-31;
//! - pages 40-43 are dropped again; reading page 40 maps 32-39 and 44-47 by fault-around first, then reads 40-43
//!   in, and the retry maps those 4: two counter steps of one fault, the first short of the pages read since.
//!
//! Checkpoints: 1. the file written, 16 pages cached. 2. after reading pages 0 and 20: 32 pages mapped.
//! 3. after reading page 40: 48 mapped.
#![forbid(unsafe_code)]

use mmdb_workloads::{ckpt, say, set_name, ScratchFile};

fn main() {
    set_name("pagecache-readin");
    let file = ScratchFile::create("mmdb-pagecache-readin", 256);
    file.drop_cached(16, 240);
    say!("{} (256 pages): pages 16-255 dropped from the page cache", file.path().display());
    ckpt("1: file written, pages 0-15 cached");

    let r = file.map_readonly();
    r.read_pages(0..1);
    r.read_pages(20..21);
    ckpt("2: page 0 read (window 0-15), page 20 read in (window 16-31)");

    file.drop_cached(40, 4);
    r.read_pages(40..41);
    ckpt("3: page 40 read: 32-39 and 44-47 mapped, then 40-43 read in and mapped");
}
