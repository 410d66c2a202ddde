//! Integration tests for mmdb-model: kernel-exact state after each operation, checked as rendered text.

mod content;
mod fork_cow;
mod gup;
mod madvise;
mod mmap;
mod pagecache;
mod procfs;
mod profiles;
mod props;
mod reclaim;
mod sim;
mod thp;
