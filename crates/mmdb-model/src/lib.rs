//! mmdb-model: a pure, deterministic model of the Linux 6.18 memory manager for anonymous memory.
//!
//! State is named as the kernel names it (`mm_struct`, `vm_area_struct`, folios with `_mapcount` and
//! `_refcount`, PTEs, the reverse map, lruvecs and per-CPU folio batches). It changes only through
//! [`Model::apply`], one [`Event`] at a time; each operation's doc comment names the kernel function it mirrors
//! and the section of `kernel-semantics.md` it follows.
//!
//! Architecture invariant: this crate does no I/O, reads no clock and uses no randomness. Time comes only from
//! event timestamps, and every map iterated for output is ordered.

pub mod consts;
pub mod event;
pub mod filemap;
pub mod flags;
pub mod folio;
pub mod history;
pub mod kmem;
pub mod lru;
pub mod mm;
pub mod profile;
pub mod report;
pub mod tlb;
pub mod vmstat;
pub mod vrange;

mod check;
mod footprint;
mod fork;
mod gup;
mod huge_memory;
mod lazyfree_rss;
mod madvise;
mod memcg;
mod memory;
mod mmap;
mod model;
mod proc;
mod rmap;
mod swap;
mod vmscan;

pub use consts::*;
pub use event::{Access, Event, FileRef, Op, Pfn, Pid};
pub use flags::{PageFlag, PageFlags, VmFlags};
pub use folio::{Folio, FolioMapping, LruList, MmId, Page, Rmap};
pub use history::{Field, HistoryEntry, PageLog};
pub use memcg::Memcg;
pub use model::{Config, Model, Outcome, PackedModel, ThpMode, DEFAULT_TOTALRAM_PAGES};
pub use proc::{kpf, PageInfo, PagemapEntry};
pub use profile::Profile;
pub use report::*;
pub use swap::SwapDevice;
pub use vmstat::VmEvent;
