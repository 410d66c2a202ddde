//! A swap device (mm/swapfile.c, mm/swap_state.c): slots with swap counts, the swap cache, and the folio
//! side of it (`add_to_swap`, `folio_free_swap`, `free_swap_and_cache`).

use crate::consts::*;
use crate::event::Pfn;
use crate::model::Model;
use rustc_hash::FxHashMap;

/// `struct swap_info_struct` with its `swap_map` and the swap cache of its entries.
#[derive(Clone, Debug, Default)]
pub struct SwapDevice {
    /// Swap count per slot (slot 0 is the header and never used).
    pub map: Vec<u32>,
    /// `SWAP_HAS_CACHE` per slot.
    pub has_cache: Vec<bool>,
    /// The swap cache: entry → folio.
    pub cache: FxHashMap<u64, Pfn>,
    /// Slots in use (count > 0 or cached).
    pub used: u64,
    /// What pageout wrote to each slot (`Page::content`); slots never written, or written as 0, are absent.
    pub data: FxHashMap<u64, u64>,
    cursor: usize,
}

impl SwapDevice {
    /// Usable slots.
    pub fn total(&self) -> u64 {
        self.map.len().saturating_sub(1) as u64
    }
    /// `swp_swapcount()`.
    pub fn count(&self, entry: u64) -> u32 {
        self.map.get(entry as usize).copied().unwrap_or(0)
    }
    fn alloc(&mut self) -> Option<u64> {
        let n = self.map.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            if i != 0 && self.map[i] == 0 && !self.has_cache[i] {
                self.cursor = i + 1;
                self.has_cache[i] = true;
                self.used += 1;
                return Some(i as u64);
            }
        }
        None
    }
    fn maybe_release(&mut self, entry: u64) {
        let i = entry as usize;
        if i < self.map.len() && self.map[i] == 0 && !self.has_cache[i] {
            self.used -= 1;
            self.data.remove(&entry);
        }
    }
    /// `swap_read_folio()`: the content the slot holds.
    pub fn read(&self, entry: u64) -> u64 {
        self.data.get(&entry).copied().unwrap_or(0)
    }
    /// `swap_writepage()`: the slot now holds `content`.
    pub(crate) fn write(&mut self, entry: u64, content: u64) {
        if content == 0 {
            self.data.remove(&entry);
        } else {
            self.data.insert(entry, content);
        }
    }
    /// `swap_duplicate()`.
    pub fn swap_duplicate(&mut self, entry: u64) {
        if let Some(c) = self.map.get_mut(entry as usize) {
            *c += 1;
        }
    }
    /// `swap_free()`: drop one swap-PTE reference.
    pub fn swap_free(&mut self, entry: u64) {
        if let Some(c) = self.map.get_mut(entry as usize) {
            if *c > 0 {
                *c -= 1;
                self.maybe_release(entry);
            }
        }
    }
}

impl Model {
    /// `swapon()`: a device of `size` bytes (the first page is the header).
    pub(crate) fn swapon(&mut self, size: u64) -> i64 {
        if self.swap.is_some() {
            return -16; // -EBUSY
        }
        let slots = (size / PAGE_SIZE) as usize;
        if slots < 2 {
            return -EINVAL;
        }
        self.swap = Some(SwapDevice { map: vec![0; slots], has_cache: vec![false; slots], ..Default::default() });
        0
    }

    /// `folio_alloc_swap()` + `add_to_swap_cache()`: a slot for the folio, `PG_swapcache`, +nr references.
    pub(crate) fn add_to_swap(&mut self, head: Pfn) -> bool {
        let Some(entry) = self.swap.as_mut().and_then(|s| s.alloc()) else {
            return false;
        };
        self.add_to_swap_cache(head, entry);
        true
    }

    pub(crate) fn add_to_swap_cache(&mut self, head: Pfn, entry: u64) {
        if let Some(s) = self.swap.as_mut() {
            s.has_cache[entry as usize] = true;
            s.cache.insert(entry, head);
        }
        let f = self.folio_mut(head);
        let nr = f.nr_pages() as i32;
        f.flags.set_swapcache();
        f.swap = Some(entry);
        f.refcount += nr;
        f.refs.swapcache += nr;
    }

    /// `delete_from_swap_cache()`: clears `PG_swapcache`, drops the cache references (may free the folio).
    pub(crate) fn delete_from_swap_cache(&mut self, head: Pfn) {
        let f = self.folio_mut(head);
        let Some(entry) = f.swap.take() else { return };
        let nr = f.nr_pages() as i32;
        f.flags.clear_swapcache();
        f.refs.swapcache -= nr;
        if let Some(s) = self.swap.as_mut() {
            s.cache.remove(&entry);
            s.has_cache[entry as usize] = false;
            s.maybe_release(entry);
        }
        self.folio_put_refs(head, nr);
    }

    /// `folio_free_swap()`: frees the swap slot of a swap-cache folio that no swap PTE refers to any more.
    pub(crate) fn folio_free_swap(&mut self, head: Pfn) -> bool {
        let Some(entry) = self.folios.get(&head).and_then(|f| f.swap) else {
            return false;
        };
        if self.swap.as_ref().is_some_and(|s| s.count(entry) > 0) {
            return false;
        }
        // The swap copy is gone, so the folio is the only copy of the data: folio_set_dirty().
        self.folio_mut(head).flags.set_dirty();
        self.delete_from_swap_cache(head);
        true
    }

    /// `free_swap_and_cache_nr()`: a swap PTE is dropped; when no reference is left, an unmapped swap-cache
    /// folio is released too.
    pub(crate) fn free_swap_and_cache(&mut self, entry: u64) {
        let Some(s) = self.swap.as_mut() else { return };
        s.swap_free(entry);
        if s.count(entry) == 0 {
            if let Some(&head) = s.cache.get(&entry) {
                if self.folios.get(&head).is_some_and(|f| !f.mapped()) {
                    self.delete_from_swap_cache(head);
                }
            }
        }
    }
}
