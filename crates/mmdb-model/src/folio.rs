//! `struct page` and `struct folio`: flags, `_mapcount`, `_refcount` with its parts, large-folio mapcounts, rmap.

use crate::event::Pfn;
use crate::flags::PageFlags;
use smallvec::SmallVec;

/// How the model holds each folio: shared between a model and its clones (checkpoints) until one changes it
/// (`make_mut`). Not atomic: a model and its clones stay on one thread.
pub(crate) type FolioRc<T> = std::rc::Rc<T>;
use serde::{Deserialize, Serialize};

/// Identifies a `struct mm_struct` in the model (the index of its slot; also its `mm->mm_id`).
pub type MmId = u32;

/// A file or shmem object whose page cache the model keeps (index into `Model::files`).
pub type FileId = u32;

/// One `struct page` of a folio: the per-page state the kernel keeps even inside large folios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// `page->_mapcount`, stored as the kernel stores it: -1 means not mapped by any PTE.
    pub mapcount: i32,
    /// `PG_anon_exclusive` (per page since 5.19).
    pub anon_exclusive: bool,
    /// What the page holds, reduced to one value a user store sets (`Op::Store`): 0 in a freshly zeroed page.
    /// It moves with the page (fork shares it, mremap moves it), is copied by COW, written to a swap slot or the
    /// file at pageout and read back at swap-in or the next page-cache read, and is lost with a discarded page.
    #[serde(default)]
    pub content: u64,
}

impl Page {
    pub(crate) const UNMAPPED: Page = Page { mapcount: -1, anon_exclusive: false, content: 0 };
}

/// The LRU lists of a lruvec (`enum lru_list`), with the kernel's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LruList {
    InactiveAnon = 0,
    ActiveAnon = 1,
    InactiveFile = 2,
    ActiveFile = 3,
    Unevictable = 4,
}

impl LruList {
    /// All five lists, in `enum lru_list` order.
    pub const ALL: [LruList; 5] =
        [LruList::InactiveAnon, LruList::ActiveAnon, LruList::InactiveFile, LruList::ActiveFile, LruList::Unevictable];
    /// The name `/proc/vmstat` uses (`inactive_anon`, …).
    pub fn name(self) -> &'static str {
        match self {
            LruList::InactiveAnon => "inactive_anon",
            LruList::ActiveAnon => "active_anon",
            LruList::InactiveFile => "inactive_file",
            LruList::ActiveFile => "active_file",
            LruList::Unevictable => "unevictable",
        }
    }
}

/// What a folio's `->mapping` points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FolioMapping {
    /// An anonymous folio (`FOLIO_MAPPING_ANON`).
    Anon,
    /// A page-cache folio of a regular file, at page index `index`.
    File { file: FileId, index: u64 },
    /// A shmem folio (MAP_SHARED|MAP_ANONYMOUS, memfd), at page index `index`.
    Shmem { file: FileId, index: u64 },
}

/// One entry of the reverse map: a page table entry (or PMD) of `mm` at `addr` maps this folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rmap {
    pub mm: MmId,
    /// The virtual address of the mapped page (of the PMD's start for a PMD mapping).
    pub addr: u64,
    /// Index of the mapped page inside the folio (0 for a PMD mapping).
    pub page: u32,
    /// A PMD mapping of the whole folio.
    pub pmd: bool,
}

/// The references that make up `folio->_refcount` (kernel-semantics §2.3). The model keeps them apart so the
/// invariant checker can prove `_refcount` equals their sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefParts {
    /// One per mapping PTE, or per PMD mapping.
    pub mappings: i32,
    /// One per per-CPU folio batch slot holding the folio.
    pub batch: i32,
    /// One while isolated from the LRU (reclaim, MADV_PAGEOUT).
    pub isolated: i32,
    /// `nr_pages` while in the swap cache.
    pub swapcache: i32,
    /// `nr_pages` while in a file's page cache.
    pub pagecache: i32,
    /// Short-lived references held inside one operation (the `folio_get` of `do_wp_page` before a copy).
    pub temp: i32,
}

impl RefParts {
    /// The sum the refcount must equal.
    pub fn total(&self) -> i32 {
        self.mappings + self.batch + self.isolated + self.swapcache + self.pagecache + self.temp
    }
}

/// A swap entry: `swp_entry_t` (type 0, offset).
pub type SwapEntry = u64;

/// `struct folio`: one allocated block of 2^order pages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folio {
    /// The head page's pfn.
    pub pfn: Pfn,
    pub order: u32,
    /// Folio-level `PG_*` flags (the head page's `flags`).
    pub flags: PageFlags,
    /// `folio->_refcount`.
    pub refcount: i32,
    /// What the refcount is made of.
    pub refs: RefParts,
    /// The pages, head first; `pages.len() == 1 << order`.
    pub pages: SmallVec<[Page; 1]>,
    /// `folio->_large_mapcount` (large folios only; -1 = unmapped).
    pub large_mapcount: i32,
    /// `folio->_entire_mapcount`: PMD mappings, -1 = none.
    pub entire_mapcount: i32,
    /// `folio->_nr_pages_mapped` without the ENTIRELY_MAPPED bit: pages mapped by at least one PTE.
    pub nr_pages_mapped: i32,
    /// `folio->_mm_id[2]` (0 = `MM_ID_DUMMY`).
    pub mm_id: [u32; 2],
    /// `folio->_mm_id_mapcount[2]` (-1 = slot unused).
    pub mm_id_mapcount: [i32; 2],
    /// `FOLIO_MM_IDS_SHARED_BIT`.
    pub mm_ids_shared: bool,
    /// `folio->mapping`.
    pub mapping: FolioMapping,
    /// The memcg charged for this folio (`memcg_data`; 0 = root).
    pub memcg: u32,
    /// Which LRU list it is on, if `PG_lru`.
    pub lru: Option<LruList>,
    pub(crate) lru_prev: Option<Pfn>,
    pub(crate) lru_next: Option<Pfn>,
    /// `folio->swap` while in the swap cache.
    pub swap: Option<SwapEntry>,
    /// On the deferred split queue.
    pub deferred_split: bool,
    /// The reverse map: every mapping of the folio. Its length is the folio's number of mappings.
    pub rmap: Vec<Rmap>,
    /// A page-cache folio that was cached before the trace began (replaying a real trace): processes outside the
    /// model may map it too, so its mapcount here is a lower bound and its Pss share an upper bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pre_trace: bool,
    /// `PG_lazyfreeaccounted` (the `PG_mappedtodisk` alias of the never-merged MM_LAZYFREEPAGES patch): the
    /// folio's pages are counted in an mm's RssLazyfree (profile `lazyfree-rss` only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lazyfree_accounted: bool,
}

impl Folio {
    /// A freshly allocated folio (`__alloc_pages`): no flags but `PG_head` for large ones, every page unmapped.
    pub(crate) fn new(pfn: Pfn, order: u32, mapping: FolioMapping, memcg: u32) -> Folio {
        let mut flags = PageFlags::default();
        if order > 0 {
            flags.set_head();
        }
        Folio {
            pfn,
            order,
            flags,
            refcount: 0,
            refs: RefParts::default(),
            pages: smallvec::smallvec![Page::UNMAPPED; 1 << order],
            large_mapcount: -1,
            entire_mapcount: -1,
            nr_pages_mapped: 0,
            mm_id: [0, 0],
            mm_id_mapcount: [-1, -1],
            mm_ids_shared: false,
            mapping,
            memcg,
            lru: None,
            lru_prev: None,
            lru_next: None,
            swap: None,
            deferred_split: false,
            rmap: Vec::new(),
            pre_trace: false,
            lazyfree_accounted: false,
        }
    }

    /// `folio_nr_pages()`.
    #[inline]
    pub fn nr_pages(&self) -> u64 {
        1 << self.order
    }
    /// `folio_test_large()`.
    #[inline]
    pub fn is_large(&self) -> bool {
        self.order > 0
    }
    /// `folio_test_anon()`.
    #[inline]
    pub fn is_anon(&self) -> bool {
        matches!(self.mapping, FolioMapping::Anon)
    }
    /// Lazy-free: anonymous with `PG_swapbacked` clear (7.2's `folio_test_lazyfree`).
    #[inline]
    pub fn is_lazyfree(&self) -> bool {
        self.is_anon() && !self.flags.test_swapbacked()
    }
    /// `folio_is_file_lru()`: `!PG_swapbacked`.
    #[inline]
    pub fn is_file_lru(&self) -> bool {
        !self.flags.test_swapbacked()
    }
    /// `folio_mapcount()`: `_mapcount + 1` for small folios, `_large_mapcount + 1` for large ones.
    #[inline]
    pub fn mapcount(&self) -> i32 {
        if self.is_large() {
            self.large_mapcount + 1
        } else {
            self.pages[0].mapcount + 1
        }
    }
    /// `folio_mapped()`.
    #[inline]
    pub fn mapped(&self) -> bool {
        self.mapcount() > 0
    }
    /// `folio_precise_page_mapcount(folio, page)`: the page's PTE mappings plus the folio's PMD mappings. This is
    /// what `/proc/kpagecount` reports on 6.18 with `CONFIG_PAGE_MAPCOUNT`.
    #[inline]
    pub fn page_mapcount(&self, idx: usize) -> i32 {
        let pte = self.pages[idx].mapcount + 1;
        if self.is_large() {
            pte + self.entire_mapcount + 1
        } else {
            pte
        }
    }
    /// `folio_maybe_mapped_shared()` (7.2:include/linux/mm.h:2890).
    pub fn maybe_mapped_shared(&self) -> bool {
        let mapcount = self.mapcount();
        if !self.is_large() {
            return mapcount > 1;
        }
        if mapcount <= 1 {
            return false;
        }
        self.mm_ids_shared
    }
    /// The lru list the folio belongs on given its flags (`folio_lru_list()`).
    pub fn lru_list(&self) -> LruList {
        if self.flags.test_unevictable() {
            return LruList::Unevictable;
        }
        let base = if self.is_file_lru() { LruList::InactiveFile } else { LruList::InactiveAnon };
        if self.flags.test_active() {
            match base {
                LruList::InactiveFile => LruList::ActiveFile,
                _ => LruList::ActiveAnon,
            }
        } else {
            base
        }
    }
}

/// The byte encoding of time-travel checkpoints (`Model::pack`): LEB128 varints, signed values zigzagged.
pub(crate) mod varint {
    /// Appends `v` as a LEB128 varint.
    #[inline]
    pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Appends a signed value, zigzagged so that small magnitudes take one byte.
    #[inline]
    pub(crate) fn put_i(out: &mut Vec<u8>, v: i64) {
        put(out, ((v << 1) ^ (v >> 63)) as u64);
    }

    /// Reads a varint [`put`] wrote and advances past it.
    #[inline]
    pub(crate) fn get(input: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let (&b, rest) = input.split_first().expect("packed model ends early: model bug");
            *input = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    /// Reads a value [`put_i`] wrote.
    #[inline]
    pub(crate) fn get_i(input: &mut &[u8]) -> i64 {
        let v = get(input);
        (v >> 1) as i64 ^ -((v & 1) as i64)
    }
}

impl Folio {
    /// Appends the folio to a checkpoint's bytes (`Model::pack`): every field, in a few bytes each for a small
    /// folio; a large folio's pages as runs of equal pages and its rmap with each address relative to the one before.
    pub(crate) fn pack(&self, out: &mut Vec<u8>) {
        use varint::{put, put_i};
        // Every field by name, so that a new one cannot be forgotten here.
        let Folio {
            pfn,
            order,
            flags,
            refcount,
            refs,
            pages,
            large_mapcount,
            entire_mapcount,
            nr_pages_mapped,
            mm_id,
            mm_id_mapcount,
            mm_ids_shared,
            mapping,
            memcg,
            lru,
            lru_prev,
            lru_next,
            swap,
            deferred_split,
            rmap,
            pre_trace,
            lazyfree_accounted,
        } = self;
        put(out, *pfn);
        put(out, u64::from(*order));
        put(out, u64::from(flags.0));
        put_i(out, i64::from(*refcount));
        let RefParts { mappings, batch, isolated, swapcache, pagecache, temp } = *refs;
        for part in [mappings, batch, isolated, swapcache, pagecache, temp] {
            put_i(out, i64::from(part));
        }
        for count in [*large_mapcount, *entire_mapcount, *nr_pages_mapped, mm_id_mapcount[0], mm_id_mapcount[1]] {
            put_i(out, i64::from(count));
        }
        put(out, u64::from(mm_id[0]));
        put(out, u64::from(mm_id[1]));
        let bits = u64::from(*mm_ids_shared)
            | u64::from(*deferred_split) << 1
            | u64::from(*pre_trace) << 2
            | u64::from(*lazyfree_accounted) << 3
            | u64::from(lru_prev.is_some()) << 4
            | u64::from(lru_next.is_some()) << 5
            | u64::from(swap.is_some()) << 6;
        put(out, bits);
        match *mapping {
            FolioMapping::Anon => put(out, 0),
            FolioMapping::File { file, index } => {
                put(out, 1);
                put(out, u64::from(file));
                put(out, index);
            }
            FolioMapping::Shmem { file, index } => {
                put(out, 2);
                put(out, u64::from(file));
                put(out, index);
            }
        }
        put(out, u64::from(*memcg));
        put(out, lru.map_or(0, |l| l as u64 + 1));
        // LRU neighbours are usually near in pfn.
        for link in [lru_prev, lru_next].into_iter().flatten() {
            put_i(out, link.wrapping_sub(*pfn) as i64);
        }
        if let Some(entry) = swap {
            put(out, *entry);
        }
        let runs = pages.chunk_by(|a, b| a == b);
        put(out, runs.clone().count() as u64);
        for run in runs {
            let p = run[0];
            put(out, run.len() as u64);
            put_i(out, i64::from(p.mapcount) << 1 | i64::from(p.anon_exclusive));
            put(out, p.content);
        }
        put(out, rmap.len() as u64);
        let mut addr = 0u64;
        for r in rmap {
            put(out, u64::from(r.mm));
            put_i(out, r.addr.wrapping_sub(addr) as i64);
            put(out, u64::from(r.page) << 1 | u64::from(r.pmd));
            addr = r.addr;
        }
    }

    /// Reads back a folio [`Folio::pack`] wrote, equal to the one packed.
    pub(crate) fn unpack(input: &mut &[u8]) -> Folio {
        use varint::{get, get_i};
        let i32_of = |v: i64| v as i32;
        let pfn = get(input);
        let order = get(input) as u32;
        let flags = PageFlags(get(input) as u32);
        let refcount = i32_of(get_i(input));
        let mut parts = [0i32; 6];
        for part in &mut parts {
            *part = i32_of(get_i(input));
        }
        let [mappings, batch, isolated, swapcache, pagecache, temp] = parts;
        let mut counts = [0i32; 5];
        for count in &mut counts {
            *count = i32_of(get_i(input));
        }
        let [large_mapcount, entire_mapcount, nr_pages_mapped, id_count0, id_count1] = counts;
        let mm_id = [get(input) as u32, get(input) as u32];
        let bits = get(input);
        let mapping = match get(input) {
            0 => FolioMapping::Anon,
            1 => FolioMapping::File { file: get(input) as FileId, index: get(input) },
            _ => FolioMapping::Shmem { file: get(input) as FileId, index: get(input) },
        };
        let memcg = get(input) as u32;
        let lru = match get(input) {
            0 => None,
            l => Some(LruList::ALL[l as usize - 1]),
        };
        let lru_prev = (bits & 1 << 4 != 0).then(|| pfn.wrapping_add(get_i(input) as u64));
        let lru_next = (bits & 1 << 5 != 0).then(|| pfn.wrapping_add(get_i(input) as u64));
        let swap = (bits & 1 << 6 != 0).then(|| get(input));
        let runs = get(input);
        let mut pages = SmallVec::with_capacity(1 << order);
        for _ in 0..runs {
            let len = get(input) as usize;
            let v = get_i(input);
            let page = Page { mapcount: i32_of(v >> 1), anon_exclusive: v & 1 != 0, content: get(input) };
            pages.extend(std::iter::repeat_n(page, len));
        }
        let n = get(input) as usize;
        let mut rmap = Vec::with_capacity(n);
        let mut addr = 0u64;
        for _ in 0..n {
            let mm = get(input) as MmId;
            addr = addr.wrapping_add(get_i(input) as u64);
            let v = get(input);
            rmap.push(Rmap { mm, addr, page: (v >> 1) as u32, pmd: v & 1 != 0 });
        }
        Folio {
            pfn,
            order,
            flags,
            refcount,
            refs: RefParts { mappings, batch, isolated, swapcache, pagecache, temp },
            pages,
            large_mapcount,
            entire_mapcount,
            nr_pages_mapped,
            mm_id,
            mm_id_mapcount: [id_count0, id_count1],
            mm_ids_shared: bits & 1 != 0,
            mapping,
            memcg,
            lru,
            lru_prev,
            lru_next,
            swap,
            deferred_split: bits & 1 << 1 != 0,
            rmap,
            pre_trace: bits & 1 << 2 != 0,
            lazyfree_accounted: bits & 1 << 3 != 0,
        }
    }
}
