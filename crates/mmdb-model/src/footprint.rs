//! An estimate of the heap memory a [`Model`] or a [`PackedModel`] holds, alone or beside an earlier one it shares
//! state with, so that a debugger can bound the memory its time-travel checkpoints take.

use crate::folio::FolioRc;
use std::mem::size_of;
use std::sync::Arc;

use crate::consts::PTRS_PER_PTE;
use crate::folio::{Folio, Page, Rmap};
use crate::mm::{Pmd, Pte, Vma};
use crate::model::{Model, PackedModel};
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

/// Bytes one folio holds of its own (shared between clones until one of them changes it).
fn folio_bytes(f: &Folio) -> usize {
    size_of::<Folio>()
        + f.pages.capacity() * size_of::<Page>()
        + f.rmap.capacity() * size_of::<Rmap>()
        + 3 * MALLOC_OVERHEAD
}

/// Bytes one PTE table holds.
const TABLE_BYTES: usize = PTRS_PER_PTE * size_of::<Pte>() + MALLOC_OVERHEAD;

impl Model {
    /// About how many bytes of heap this model holds: the folios with their pages and reverse maps, the page
    /// tables, the VMAs and the page cache. It counts capacities, not lengths, and is meant to be within tens of
    /// percent; small fixed-size state is left out.
    pub fn footprint(&self) -> usize {
        self.footprint_since(None)
    }

    /// About how many bytes this model holds that `earlier` (a clone this model was made from, and changed
    /// since) does not share with it. Folios and PTE tables are shared copy-on-write between clones, so a clone
    /// costs its tables and maps, plus the folios and PTE tables changed since the clone it came from. With
    /// `None`, everything ([`Model::footprint`]).
    pub fn footprint_since(&self, earlier: Option<&Model>) -> usize {
        let folios: usize = self
            .folios
            .iter()
            .filter(|(pfn, f)| earlier.and_then(|e| e.folios.get(pfn)).is_none_or(|old| !FolioRc::ptr_eq(old, f)))
            .map(|(_, f)| folio_bytes(f))
            .sum();
        folios + self.tables_and_maps_since(earlier)
    }

    /// [`Model::footprint_since`] without the folios themselves: the tables, maps and lists.
    fn tables_and_maps_since(&self, earlier: Option<&Model>) -> usize {
        let mut total = hash_slots::<Pfn, FolioRc<Folio>>(self.folios.capacity());
        total += hash_slots::<Pfn, Pfn>(self.tails.capacity());
        for (id, mm) in &self.mms {
            total += mm.vmas.len() * btree_entry::<u64, Vma>();
            total += mm.pmds.len() * btree_entry::<u64, Pmd>();
            let old_pmds = earlier.and_then(|e| e.mms.get(id)).map(|m| &m.pmds);
            let tables = mm
                .pmds
                .iter()
                .filter(|(idx, p)| match (p, old_pmds.and_then(|o| o.get(idx))) {
                    (Pmd::Table(t), Some(Pmd::Table(old))) => !Arc::ptr_eq(t, old),
                    (Pmd::Table(_), _) => true,
                    _ => false,
                })
                .count();
            total += tables * TABLE_BYTES;
        }
        for f in &self.files {
            total += f.pages.len() * btree_entry::<u64, Pfn>();
        }
        for (list, old) in
            [(&self.free_order0, earlier.map(|e| &e.free_order0)), (&self.free_huge, earlier.map(|e| &e.free_huge))]
        {
            let old = old.map_or(&[][..], |o| o.chunks());
            total += std::mem::size_of_val(list.chunks());
            total += list
                .chunks()
                .iter()
                .enumerate()
                .filter(|(i, c)| old.get(*i).is_none_or(|o| !Arc::ptr_eq(o, c)))
                .map(|(_, c)| c.capacity() * size_of::<Pfn>() + MALLOC_OVERHEAD)
                .sum::<usize>();
        }
        total + self.diagnostics.footprint()
    }
}

impl PackedModel {
    /// About how many bytes this packed model holds that `earlier` (the one packed before it) does not share
    /// with it: its bytes, its folio table's slots (each pointing at one placeholder folio), its maps, and the
    /// chunks of the free lists that changed since `earlier` (chunks are shared). With `None`, everything.
    pub fn footprint_since(&self, earlier: Option<&PackedModel>) -> usize {
        self.data.capacity() + size_of::<Folio>() + self.rest.tables_and_maps_since(earlier.map(|e| &e.rest))
    }
}
