//! `struct mm_struct`, `struct vm_area_struct`, page tables (PTE tables and PMDs) and tasks.

use crate::consts::*;
use crate::event::{Pfn, Pid};
use crate::flags::VmFlags;
use crate::folio::{FileId, MmId, SwapEntry};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A page table entry (`pte_t`), in the states the model distinguishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pte {
    /// `pte_none()`.
    #[default]
    None,
    /// A present PTE.
    Present(PresentPte),
    /// A swap entry; `exclusive` is the `pte_swp_exclusive` bit.
    Swap { entry: SwapEntry, exclusive: bool },
    /// `pte_vrange()`: the mark `try_to_discard_one()` leaves where it purged a page of a volatile range (profile
    /// `vrange-v7`; `pte_mkvrange()`: not present, `_PAGE_PSE` set). A fault on it raises SIGBUS while the
    /// range is volatile and purged, and maps a zero-filled page once it is not (`handle_pte_fault()`).
    Vrange,
}

/// The bits of a present PTE: `_PAGE_RW`, `_PAGE_DIRTY`, `_PAGE_ACCESSED`, `_PAGE_SPECIAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentPte {
    pub pfn: Pfn,
    pub write: bool,
    pub dirty: bool,
    pub young: bool,
    /// `pte_special()`: the shared zero page.
    pub special: bool,
}

/// A PMD entry that maps a whole 2 MiB folio (`pmd_trans_huge`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HugePmd {
    pub pfn: Pfn,
    pub write: bool,
    pub dirty: bool,
    pub young: bool,
    /// Maps the huge zero folio.
    pub huge_zero: bool,
}

/// What a PMD slot holds: a PTE table, or a huge mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pmd {
    /// A PTE table of 512 entries, shared copy-on-write between clones of the model (time-travel checkpoints):
    /// writers go through `Arc::make_mut`.
    Table(std::sync::Arc<[Pte; PTRS_PER_PTE]>),
    /// A PMD-mapped THP or the huge zero folio.
    Huge(HugePmd),
}

/// Splits a virtual address into (PMD index, PTE index).
#[inline]
pub fn pmd_index(addr: u64) -> (u64, usize) {
    (addr >> (PAGE_SHIFT + HPAGE_PMD_ORDER), ((addr >> PAGE_SHIFT) as usize) & (PTRS_PER_PTE - 1))
}

/// `struct vm_area_struct`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub flags: VmFlags,
    /// `vm_pgoff`: for file mappings, the file page index at `start`.
    pub pgoff: u64,
    /// The backing file or shmem object.
    pub file: Option<FileId>,
    /// `vma->anon_vma` (an id; `None` until the first anonymous fault or fork).
    pub anon_vma: Option<u32>,
    /// `[heap]`, `[stack]` or `None`.
    pub special_name: Option<String>,
}

impl Vma {
    /// `vma_is_anonymous()`: no `vm_ops`, i.e. not file- or shmem-backed.
    pub fn is_anonymous(&self) -> bool {
        self.file.is_none()
    }
    /// `is_cow_mapping()`: private and may be written.
    pub fn is_cow_mapping(&self) -> bool {
        !self.flags.contains(VmFlags::VM_SHARED) && self.flags.contains(VmFlags::VM_MAYWRITE)
    }
    /// The file page index of `addr` (`linear_page_index`).
    pub fn linear_page_index(&self, addr: u64) -> u64 {
        self.pgoff + ((addr - self.start) >> PAGE_SHIFT)
    }
}

/// `struct mm_struct`.
#[derive(Clone, Debug, Default)]
pub struct MmStruct {
    /// `mm->mm_id`.
    pub id: MmId,
    /// `mm_users`: tasks using this mm.
    pub users: u32,
    /// The task that owns the mm (`mm->owner`), for reports.
    pub owner: Pid,
    /// The VMAs, keyed by start address (the maple tree).
    pub vmas: BTreeMap<u64, Vma>,
    /// The page tables, keyed by PMD index.
    pub pmds: BTreeMap<u64, Pmd>,
    /// `mm->rss_stat[]`: MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES.
    pub rss: [i64; 4],
    /// `MM_LAZYFREEPAGES` of the never-merged patch (profiles `lazyfree-rss*`), in pages.
    pub lazyfree_rss: i64,
    /// The volatile ranges of `vrange()` (profile `vrange-v7`), by start address.
    pub vranges: BTreeMap<u64, crate::vrange::VolatileRange>,
    pub start_brk: u64,
    pub brk: u64,
    /// The memcg charged for this mm's pages.
    pub memcg: u32,
    /// `mm->mmap_base`: top-down placement starts below it.
    pub mmap_base: u64,
    /// Holds a reference on the huge zero folio (`MMF_HUGE_ZERO_FOLIO`).
    pub huge_zero_ref: bool,
}

/// Indices into [`MmStruct::rss`] (`enum { MM_FILEPAGES, ... }`).
pub const MM_FILEPAGES: usize = 0;
pub const MM_ANONPAGES: usize = 1;
pub const MM_SWAPENTS: usize = 2;
pub const MM_SHMEMPAGES: usize = 3;
/// `resident_page_types[]`: the counters' names, as `check_mm()` prints them.
pub const RSS_COUNTER_NAMES: [&str; 4] = ["MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES"];

impl MmStruct {
    /// `find_vma()` restricted to a VMA that contains `addr` (`vma_lookup`).
    pub fn vma_lookup(&self, addr: u64) -> Option<&Vma> {
        self.vmas.range(..=addr).next_back().map(|(_, v)| v).filter(|v| addr < v.end)
    }
    /// The PTE at `addr`, if a PTE table covers it.
    pub fn pte(&self, addr: u64) -> Option<Pte> {
        let (pmd, idx) = pmd_index(addr);
        match self.pmds.get(&pmd) {
            Some(Pmd::Table(t)) => Some(t[idx]),
            _ => None,
        }
    }
    /// A mutable PTE at `addr`, allocating the PTE table (`pte_alloc`) if the PMD is none.
    /// Returns `None` when the PMD maps a huge page.
    pub fn pte_alloc(&mut self, addr: u64) -> Option<&mut Pte> {
        let (pmd, idx) = pmd_index(addr);
        match self.pmds.entry(pmd).or_insert_with(|| Pmd::Table(std::sync::Arc::new([Pte::None; PTRS_PER_PTE]))) {
            Pmd::Table(t) => Some(&mut std::sync::Arc::make_mut(t)[idx]),
            Pmd::Huge(_) => None,
        }
    }
    /// The mutable PTE at `addr` if its table exists.
    pub fn pte_mut(&mut self, addr: u64) -> Option<&mut Pte> {
        let (pmd, idx) = pmd_index(addr);
        match self.pmds.get_mut(&pmd) {
            Some(Pmd::Table(t)) => Some(&mut std::sync::Arc::make_mut(t)[idx]),
            _ => None,
        }
    }
    /// The huge PMD covering `addr`, if any.
    pub fn huge_pmd(&self, addr: u64) -> Option<HugePmd> {
        match self.pmds.get(&pmd_index(addr).0) {
            Some(Pmd::Huge(h)) => Some(*h),
            _ => None,
        }
    }
    /// Addresses in `[start, end)` whose PTE is not none, in order (skips huge PMDs).
    pub fn populated_ptes(&self, start: u64, end: u64) -> Vec<(u64, Pte)> {
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        let (first, _) = pmd_index(start);
        let (last, _) = pmd_index(end - 1);
        for (&pmd, slot) in self.pmds.range(first..=last) {
            if let Pmd::Table(t) = slot {
                let base = pmd << (PAGE_SHIFT + HPAGE_PMD_ORDER);
                let lo = if pmd == first { pmd_index(start).1 } else { 0 };
                let hi = if pmd == last { pmd_index(end - 1).1 } else { PTRS_PER_PTE - 1 };
                for (i, pte) in t.iter().enumerate().take(hi + 1).skip(lo) {
                    if *pte != Pte::None {
                        out.push((base + ((i as u64) << PAGE_SHIFT), *pte));
                    }
                }
            }
        }
        out
    }
    /// PMD start addresses in `[start, end)`'s PMD range that hold huge mappings.
    pub fn huge_pmds_in(&self, start: u64, end: u64) -> Vec<(u64, HugePmd)> {
        if start >= end {
            return Vec::new();
        }
        let (first, _) = pmd_index(start);
        let (last, _) = pmd_index(end - 1);
        self.pmds
            .range(first..=last)
            .filter_map(|(&pmd, slot)| match slot {
                Pmd::Huge(h) => Some((pmd << (PAGE_SHIFT + HPAGE_PMD_ORDER), *h)),
                _ => None,
            })
            .collect()
    }
}

/// A task (`struct task_struct`): a process or a thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub pid: Pid,
    /// The thread-group id (the process's pid).
    pub tgid: Pid,
    pub comm: String,
    /// The mm it runs in; `None` once it has exited its mm.
    pub mm: Option<MmId>,
}

/// Appends a PTE table to a checkpoint's bytes (`Model::pack`): its entries that are not none, each after the
/// number of none entries before it, in a few bytes each.
pub(crate) fn pack_table(table: &[Pte; PTRS_PER_PTE], out: &mut Vec<u8>) {
    use crate::folio::varint::put;
    put(out, table.iter().filter(|p| **p != Pte::None).count() as u64);
    let mut gap = 0u64;
    for pte in table {
        let (tag, value) = match *pte {
            Pte::None => {
                gap += 1;
                continue;
            }
            Pte::Present(p) => (
                1 | u64::from(p.write) << 2
                    | u64::from(p.dirty) << 3
                    | u64::from(p.young) << 4
                    | u64::from(p.special) << 5,
                p.pfn,
            ),
            Pte::Swap { entry, exclusive } => (2 | u64::from(exclusive) << 2, entry),
            Pte::Vrange => (3, 0),
        };
        put(out, gap);
        put(out, tag);
        put(out, value);
        gap = 0;
    }
}

/// Reads back a PTE table [`pack_table`] wrote.
pub(crate) fn unpack_table(input: &mut &[u8]) -> std::sync::Arc<[Pte; PTRS_PER_PTE]> {
    use crate::folio::varint::get;
    let mut table = std::sync::Arc::new([Pte::None; PTRS_PER_PTE]);
    let t = std::sync::Arc::get_mut(&mut table).expect("a new table is not shared");
    let mut i = 0usize;
    for _ in 0..get(input) {
        i += get(input) as usize;
        let tag = get(input);
        let value = get(input);
        t[i] = if tag & 3 == 1 {
            Pte::Present(PresentPte {
                pfn: value,
                write: tag & 1 << 2 != 0,
                dirty: tag & 1 << 3 != 0,
                young: tag & 1 << 4 != 0,
                special: tag & 1 << 5 != 0,
            })
        } else if tag & 3 == 3 {
            Pte::Vrange
        } else {
            Pte::Swap { entry: value, exclusive: tag & 1 << 2 != 0 }
        };
        i += 1;
    }
    table
}
