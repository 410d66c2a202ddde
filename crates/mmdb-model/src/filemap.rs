//! The page cache of regular files as far as a trace shows it (mm/filemap.c): which page indexes are known not to
//! be cached, so that fault-around (`filemap_map_pages()`) maps only the pages the kernel's would.
//!
//! The model holds a folio for every file page it has seen mapped; of the others it knows only what the trace
//! said: `mmdb record`'s `mmdb-pagecache` input markers (what `mincore()` showed at the exec stop or a checkpoint),
//! `mm_filemap_add_to_page_cache` (`__filemap_add_folio()`) and `mm_filemap_delete_from_page_cache`
//! (`__filemap_remove_folio()`), lowered to [`crate::Op::PageCache`]. A page the trace said nothing about is taken
//! to be cached, as binaries and libraries usually are.
//!
//! A cached page may also carry `PG_readahead`, the mark readahead leaves on the page whose access should start
//! the next asynchronous readahead. `next_uptodate_folio()` (6.12 mm/filemap.c) skips a folio with the mark, so
//! fault-around never maps it; the fault on the page itself does (`filemap_fault()` finds it cached): it clears
//! the mark and starts the next readahead (`do_async_mmap_readahead()` → `page_cache_async_ra()`), which drops
//! the mmap lock, so the fault is retried and its fault-around maps the window again, the folio included. `mincore()` cannot tell such a page from
//! another: `mmdb record` finds the marks with fault-around itself (`readahead=` of `mmdb-pagecache`); the
//! lowering adds the mark asynchronous readahead puts on the first folio it reads during the trace. The mark
//! that synchronous read-around sets (`ra_pages` * 3/4 into its window, `ra_pages` being the device's
//! `read_ahead_kb`, which the trace does not give) is not modelled.

use std::collections::BTreeMap;

use crate::event::Pfn;
use crate::folio::FileId;
use crate::model::Model;

/// A set of page indexes, kept as disjoint, non-adjacent half-open ranges `start..end`: its size follows the
/// number of holes, not the number of pages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRanges(BTreeMap<u64, u64>);

/// Takes the entries of page indexes `start..end` out of a map keyed by page index (what the trace knew of pages
/// that have since left or entered the page cache).
pub fn remove_pages<V>(map: &mut BTreeMap<u64, V>, start: u64, end: u64) {
    if start >= end {
        return;
    }
    let mut tail = map.split_off(&start);
    let mut after = tail.split_off(&end);
    map.append(&mut after);
}

impl PageRanges {
    /// Whether `index` is in the set.
    pub fn contains(&self, index: u64) -> bool {
        self.0.range(..=index).next_back().is_some_and(|(_, &end)| index < end)
    }

    /// The range `start..end` of the set that holds `index`, if any.
    pub fn range_containing(&self, index: u64) -> Option<(u64, u64)> {
        self.0.range(..=index).next_back().filter(|(_, &end)| index < end).map(|(&s, &e)| (s, e))
    }

    /// Adds `start..end`.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // The ranges that overlap or touch `start..end`: those starting at or before `end` and ending at or after
        // `start` (sorted and disjoint, so they are the last ones of `..=end`).
        let touching: Vec<(u64, u64)> =
            self.0.range(..=end).rev().take_while(|(_, &e)| e >= start).map(|(&s, &e)| (s, e)).collect();
        let (mut lo, mut hi) = (start, end);
        for (s, e) in touching {
            self.0.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.0.insert(lo, hi);
    }

    /// Removes `start..end`.
    pub fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let overlapping: Vec<(u64, u64)> =
            self.0.range(..end).rev().take_while(|(_, &e)| e > start).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in overlapping {
            self.0.remove(&s);
            if s < start {
                self.0.insert(s, start);
            }
            if e > end {
                self.0.insert(end, e);
            }
        }
    }

    /// The ranges `(start, end)`, half-open, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&s, &e)| (s, e))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many ranges the set holds.
    pub fn ranges(&self) -> usize {
        self.0.len()
    }
}

impl Model {
    /// [`crate::Op::PageCache`]: what the trace says about the page cache of the regular file `name`: page indexes
    /// `index..index + pages` are cached (`__filemap_add_folio()`, or cached when `mincore()` looked) or not
    /// (`__filemap_remove_folio()` took them out, or they were not cached when it looked).
    ///
    /// Not cached: a folio the model holds there unmapped leaves the page cache as `__filemap_remove_folio()` and
    /// `filemap_free_folio()` take it out (the page cache's reference is dropped, and the folio is freed unless
    /// something else, a per-CPU batch, still holds it). A mapped one stays: the kernel removes a page-cache folio
    /// only once it is unmapped (truncation unmaps first, invalidation skips mapped folios), so the model's folio
    /// is its own account of the page. Shmem objects are left alone: their pages exist only once written, and the
    /// model has them all.
    ///
    /// `readahead` (with `cached`): the pages carry `PG_readahead`; a page added or measured without it does not.
    pub(crate) fn page_cache_state(&mut self, name: &str, index: u64, pages: u64, cached: bool, readahead: bool) {
        let end = index.saturating_add(pages);
        let id = self.file_id(name, false);
        let f = &mut self.files[id as usize];
        if f.shmem {
            return;
        }
        if cached && readahead {
            f.readahead.insert(index, end);
        } else {
            f.readahead.remove(index, end);
        }
        if !cached {
            // A page that leaves the page cache takes its frame along; the next one is another allocation.
            remove_pages(&mut f.frames, index, end);
        }
        if cached {
            f.uncached.remove(index, end);
            return;
        }
        f.uncached.insert(index, end);
        let held: Vec<(u64, Pfn)> = f.pages.range(index..end).map(|(&i, &p)| (i, p)).collect();
        for (i, head) in held {
            if self.folios.get(&head).is_none_or(|f| f.mapped()) {
                continue;
            }
            self.files[id as usize].pages.remove(&i);
            self.folio_mut(head).refs.pagecache -= 1;
            self.folio_put_refs(head, 1);
        }
    }

    /// [`crate::Op::PageCacheFrame`]: page `index` of the regular file `name`, cached before the trace, is held by
    /// page frame `pfn` with kpageflags `kflags`. Kept until the model first takes the page
    /// ([`Model::take_page_cache_frame`]); a page the model already holds is its own account, and is left alone.
    pub(crate) fn page_cache_frame(&mut self, name: &str, index: u64, pfn: Pfn, kflags: u64) {
        let id = self.file_id(name, false);
        let f = &mut self.files[id as usize];
        if f.shmem || f.pages.contains_key(&index) {
            return;
        }
        f.frames.insert(index, (pfn, kflags));
    }

    /// The frame [`crate::Op::PageCacheFrame`] gave for page `index` of `file`, taken as the model creates the
    /// folio of a page cached before the trace (`filemap_get_folio()` finding it in the xarray); `None` when the
    /// trace gave none.
    pub(crate) fn take_page_cache_frame(&mut self, file: FileId, index: u64) -> Option<(Pfn, u64)> {
        self.files[file as usize].frames.remove(&index)
    }

    /// The flags a page-cache folio from before the trace takes from its kpageflags (`kflags`): the LRU list it is
    /// on (`PG_active`), `PG_referenced`, `PG_dirty`, and `PG_mappedtodisk` (`KPF_MAPPEDTODISK`: set by the file
    /// system's read when every block of the folio is on disk, `ext4_mpage_readpages()`). The others are the
    /// model's own (`PG_lru`, `PG_uptodate`) or follow from its mappings (`KPF_MMAP`).
    pub(crate) fn apply_pre_trace_kflags(&mut self, head: Pfn, kflags: u64) {
        use crate::proc::kpf;
        let bit = |b: u32| kflags >> b & 1 == 1;
        let f = self.folio_mut(head);
        if bit(kpf::ACTIVE) {
            f.flags.set_active();
        }
        if bit(kpf::REFERENCED) {
            f.flags.set_referenced();
        }
        if bit(kpf::DIRTY) {
            f.flags.set_dirty();
        }
        if bit(kpf::OWNER_2) {
            f.flags.set_mappedtodisk();
        }
    }

    /// Whether the model holds a folio of the file `name` at a page index in `start..end`.
    pub fn page_cache_holds(&self, name: &str, start: u64, end: u64) -> bool {
        self.files.iter().find(|f| f.name == name).is_some_and(|f| f.pages.range(start..end).next().is_some())
    }

    /// Whether page `index` of regular file `file` is in the page cache, as `next_uptodate_folio()` (6.12
    /// mm/filemap.c) finds it in the mapping's xarray: a folio the model holds is; a page the trace showed
    /// not cached ([`crate::Op::PageCache`]) is not; any other page is taken to be (cached before the trace).
    pub(crate) fn page_cached(&self, file: FileId, index: u64) -> bool {
        let f = &self.files[file as usize];
        f.pages.contains_key(&index) || !f.uncached.contains(index)
    }

    /// Whether fault-around maps page `index` of regular file `file`: cached, and without `PG_readahead`
    /// (`next_uptodate_folio()` skips a folio carrying it).
    pub(crate) fn page_mappable_around(&self, file: FileId, index: u64) -> bool {
        self.page_cached(file, index) && !self.files[file as usize].readahead.contains(index)
    }

    /// A fault on page `index` of `file` itself (`filemap_fault()`): `do_async_mmap_readahead()` finds
    /// `PG_readahead` and clears it as it starts the next readahead (`page_cache_async_ra()`), whose page-cache
    /// additions the trace shows. The mark is a folio flag: the whole marked run around `index` loses it (the
    /// recorder sees a large folio's mark as a run of pages; readahead marks one folio per window, so two runs do
    /// not touch).
    ///
    /// Returns whether the page carried the mark: `do_async_mmap_readahead()` then dropped the mmap lock for the
    /// I/O, and the fault is retried (`VM_FAULT_RETRY`).
    pub(crate) fn filemap_fault_readahead(&mut self, file: FileId, index: u64) -> bool {
        let f = &mut self.files[file as usize];
        let Some((start, end)) = f.readahead.range_containing(index) else { return false };
        f.readahead.remove(start, end);
        true
    }

    /// The page indexes of the file `name` known to carry `PG_readahead`, as half-open ranges.
    pub fn page_cache_readahead(&self, name: &str) -> Vec<(u64, u64)> {
        self.files.iter().find(|f| f.name == name).map(|f| f.readahead.iter().collect()).unwrap_or_default()
    }

    /// The name of file (or shmem object) `file`, the one [`crate::FileRef`] gave it.
    pub fn file_name(&self, file: FileId) -> Option<&str> {
        self.files.get(file as usize).map(|f| f.name.as_str())
    }

    /// Whether file `file` is a shmem object (whose pages exist only once written) rather than a regular file.
    pub fn file_is_shmem(&self, file: FileId) -> bool {
        self.files.get(file as usize).is_some_and(|f| f.shmem)
    }

    /// The page indexes of the file `name` known not to be in the page cache (empty for a file the model does not
    /// know), as half-open ranges.
    pub fn page_cache_holes(&self, name: &str) -> Vec<(u64, u64)> {
        self.files.iter().find(|f| f.name == name).map(|f| f.uncached.iter().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::PageRanges;

    #[test]
    fn page_ranges_merge_and_split() {
        let mut r = PageRanges::default();
        r.insert(5, 6);
        r.insert(7, 9);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(5, 6), (7, 9)]);
        r.insert(6, 7);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(5, 9)]);
        r.insert(0, 2);
        r.insert(1, 5);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(0, 9)]);
        r.remove(3, 4);
        assert_eq!(r.iter().collect::<Vec<_>>(), [(0, 3), (4, 9)]);
        assert!(r.contains(2) && !r.contains(3) && r.contains(4) && r.contains(8) && !r.contains(9));
        assert_eq!((r.range_containing(5), r.range_containing(3), r.range_containing(9)), (Some((4, 9)), None, None));
        r.remove(0, 100);
        assert!(r.is_empty());
        r.insert(u64::MAX - 1, u64::MAX);
        r.insert(3, 3);
        assert_eq!((r.ranges(), r.contains(u64::MAX - 1), r.contains(u64::MAX)), (1, true, false));
    }
}
