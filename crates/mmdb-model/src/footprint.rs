//! An estimate of the heap memory a [`Model`] holds, so that a debugger can bound the memory its time-travel
//! checkpoints (model clones) take.

use std::mem::size_of;

use crate::consts::PTRS_PER_PTE;
use crate::folio::{Folio, Page, Rmap};
use crate::mm::{Pmd, Pte, Vma};
use crate::model::Model;
use crate::Pfn;

/// What the allocator adds to each allocation (glibc's chunk header and rounding).
const MALLOC_OVERHEAD: usize = 16;

/// Bytes a `BTreeMap` entry costs beyond its key and value: node slack and links, about half again.
fn btree_entry<K, V>() -> usize {
    (size_of::<K>() + size_of::<V>()) * 3 / 2
}

/// Bytes a hash map with `cap` slots of `(K, V)` takes (one control byte per slot).
fn hash_slots<K, V>(cap: usize) -> usize {
    cap * (size_of::<K>() + size_of::<V>() + 1)
}

impl Model {
    /// About how many bytes of heap this model holds, and therefore what a clone of it costs: the folios with
    /// their pages and reverse maps, the page tables, the VMAs and the page cache. It counts capacities, not
    /// lengths, and is meant to be within tens of percent; small fixed-size state is left out.
    pub fn footprint(&self) -> usize {
        let folios: usize = self
            .folios
            .values()
            .map(|f| {
                f.pages.capacity() * size_of::<Page>() + f.rmap.capacity() * size_of::<Rmap>() + 2 * MALLOC_OVERHEAD
            })
            .sum();
        let mut total = hash_slots::<Pfn, Folio>(self.folios.capacity()) + folios;
        total += hash_slots::<Pfn, Pfn>(self.tails.capacity());
        for mm in self.mms.values() {
            total += mm.vmas.len() * btree_entry::<u64, Vma>();
            total += mm.pmds.len() * btree_entry::<u64, Pmd>();
            let tables = mm.pmds.values().filter(|p| matches!(p, Pmd::Table(_))).count();
            total += tables * (PTRS_PER_PTE * size_of::<Pte>() + MALLOC_OVERHEAD);
        }
        for f in &self.files {
            total += f.pages.len() * btree_entry::<u64, Pfn>();
        }
        total + self.diagnostics.capacity() * 64
    }
}
