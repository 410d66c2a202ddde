//! The invariant checker: mapcounts against the rmap and a page-table walk, RSS against a walk, refcount
//! against its parts, free pages unmapped and on no list, LRU membership against flags.

use crate::consts::*;
use crate::event::Pfn;
use crate::folio::FolioMapping;
use crate::mm::{Pmd, Pte};
use crate::model::Model;
use crate::report::Violation;
use rustc_hash::FxHashMap;

impl Model {
    /// Runs every invariant check; each violation names the invariant and is tied to the last applied event.
    pub fn check(&self) -> Vec<Violation> {
        let event = self.events.saturating_sub(1);
        let mut out = Vec::new();
        let mut bad =
            |invariant: &str, message: String| out.push(Violation { event, invariant: invariant.to_string(), message });

        // Page-table walk: PTE mappings per pfn, PMD mappings per head, RSS per mm.
        let mut pte_maps: FxHashMap<Pfn, i32> = FxHashMap::default();
        let mut pmd_maps: FxHashMap<Pfn, i32> = FxHashMap::default();
        for (id, mm) in &self.mms {
            let mut rss = [0i64; 4];
            for (&pmd, slot) in &mm.pmds {
                let base = pmd << (PAGE_SHIFT + HPAGE_PMD_ORDER);
                match slot {
                    Pmd::Huge(h) => {
                        if h.huge_zero {
                            continue;
                        }
                        *pmd_maps.entry(h.pfn).or_default() += 1;
                        match self.folios.get(&h.pfn) {
                            Some(f) => rss[Self::counter_for(f.mapping)] += f.nr_pages() as i64,
                            None => bad("free-page", format!("mm {id} PMD {base:#x} maps freed pfn {:#x}", h.pfn)),
                        }
                        if !mm.vma_lookup(base).is_some_and(|v| v.start <= base && v.end >= base + HPAGE_PMD_SIZE) {
                            bad("vma", format!("mm {id}: huge PMD at {base:#x} is not inside one VMA"));
                        }
                    }
                    Pmd::Table(t) => {
                        for (i, pte) in t.iter().enumerate() {
                            let addr = base + ((i as u64) << PAGE_SHIFT);
                            if *pte != Pte::None && mm.vma_lookup(addr).is_none() {
                                bad("vma", format!("mm {id}: PTE at {addr:#x} outside any VMA"));
                            }
                            match pte {
                                Pte::Present(p) if p.special => {
                                    if p.pfn != ZERO_PFN {
                                        bad(
                                            "pte",
                                            format!(
                                                "mm {id}: special PTE at {addr:#x} maps {:#x}, not the zero page",
                                                p.pfn
                                            ),
                                        );
                                    }
                                }
                                Pte::Present(p) => {
                                    *pte_maps.entry(p.pfn).or_default() += 1;
                                    match self.folio(p.pfn) {
                                        Some(f) => {
                                            rss[Self::counter_for(f.mapping)] += 1;
                                            if !f.rmap.iter().any(|r| {
                                                r.mm == *id
                                                    && r.addr == addr
                                                    && !r.pmd
                                                    && f.pfn + r.page as u64 == p.pfn
                                            }) {
                                                bad(
                                                    "mapcount-rmap",
                                                    format!(
                                                        "mm {id} PTE {addr:#x} → pfn {:#x} has no rmap entry",
                                                        p.pfn
                                                    ),
                                                );
                                            }
                                        }
                                        None => bad(
                                            "free-page",
                                            format!("mm {id} PTE {addr:#x} maps freed pfn {:#x}", p.pfn),
                                        ),
                                    }
                                }
                                Pte::Swap { entry, .. } => {
                                    rss[crate::mm::MM_SWAPENTS] += 1;
                                    if self.swap.as_ref().is_none_or(|s| s.count(*entry) == 0) {
                                        bad(
                                            "swap",
                                            format!("mm {id} swap PTE {addr:#x} → entry {entry:#x} with swap count 0"),
                                        );
                                    }
                                }
                                // A purged page's mark is neither a page nor a swap entry.
                                Pte::None | Pte::Vrange => {}
                            }
                        }
                    }
                }
            }
            if rss != mm.rss {
                bad(
                    "rss-walk",
                    format!(
                        "mm {id}: rss_stat {:?} but the page tables hold {:?} (file, anon, swapents, shmem)",
                        mm.rss, rss
                    ),
                );
            }
        }

        // Batch references per folio.
        let mut batch_refs: FxHashMap<Pfn, i32> = FxHashMap::default();
        for c in &self.cpus {
            for (kind, b) in c.all() {
                if b.len() >= FOLIO_BATCH_SIZE {
                    bad(
                        "lru",
                        format!("a {} batch holds {} folios (max {})", kind.name(), b.len(), FOLIO_BATCH_SIZE - 1),
                    );
                }
                for p in b {
                    *batch_refs.entry(*p).or_default() += 1;
                    if !self.folios.contains_key(p) {
                        bad("free-page", format!("freed pfn {p:#x} is in a {} batch", kind.name()));
                    }
                }
            }
        }

        let mut lru_pages: FxHashMap<(u32, usize), u64> = FxHashMap::default();
        for f in self.folios.values() {
            let pfn = f.pfn;
            if Some(pfn) == self.huge_zero {
                continue;
            }
            for (i, page) in f.pages.iter().enumerate() {
                let p = pfn + i as u64;
                let by_rmap = f.rmap.iter().filter(|r| !r.pmd && r.page as usize == i).count() as i32;
                let by_walk = pte_maps.get(&p).copied().unwrap_or(0);
                if page.mapcount + 1 != by_rmap || page.mapcount + 1 != by_walk {
                    bad(
                        "mapcount-rmap",
                        format!(
                            "pfn {p:#x}: _mapcount {} but {by_rmap} rmap entries and {by_walk} PTEs",
                            page.mapcount
                        ),
                    );
                }
                if page.anon_exclusive && !f.is_anon() {
                    bad("flags", format!("pfn {p:#x}: PG_anon_exclusive on a non-anon page"));
                }
            }
            if f.is_large() {
                let pmds = f.rmap.iter().filter(|r| r.pmd).count() as i32;
                let walk = pmd_maps.get(&pfn).copied().unwrap_or(0);
                if f.entire_mapcount + 1 != pmds || pmds != walk {
                    bad(
                        "mapcount-rmap",
                        format!(
                            "folio {pfn:#x}: _entire_mapcount {} but {pmds} PMD rmaps and {walk} PMDs",
                            f.entire_mapcount
                        ),
                    );
                }
                if f.large_mapcount + 1 != f.rmap.len() as i32 {
                    bad(
                        "mapcount-rmap",
                        format!("folio {pfn:#x}: _large_mapcount {} but {} mappings", f.large_mapcount, f.rmap.len()),
                    );
                }
                let slots: i32 = f.mm_id_mapcount.iter().map(|m| m + 1).sum();
                if slots > f.large_mapcount + 1 {
                    bad(
                        "mapcount-rmap",
                        format!("folio {pfn:#x}: mm_id slots count {slots} mappings of {}", f.large_mapcount + 1),
                    );
                }
                let mapped_pages = f.pages.iter().filter(|p| p.mapcount >= 0).count() as i32;
                if mapped_pages != f.nr_pages_mapped {
                    bad(
                        "mapcount-rmap",
                        format!(
                            "folio {pfn:#x}: _nr_pages_mapped {} but {mapped_pages} pages are PTE-mapped",
                            f.nr_pages_mapped
                        ),
                    );
                }
            }
            let batch = batch_refs.get(&pfn).copied().unwrap_or(0);
            if f.refs.batch != batch {
                bad(
                    "refcount",
                    format!("folio {pfn:#x}: {} batch references recorded, {batch} batch slots hold it", f.refs.batch),
                );
            }
            if f.refs.mappings != f.rmap.len() as i32 {
                bad(
                    "refcount",
                    format!("folio {pfn:#x}: {} mapping references for {} mappings", f.refs.mappings, f.rmap.len()),
                );
            }
            if f.refcount != f.refs.total() || f.refcount < f.mapcount() + batch {
                bad(
                    "refcount",
                    format!(
                        "folio {pfn:#x}: _refcount {} but parts {:?} (mapcount {}, batch {batch})",
                        f.refcount,
                        f.refs,
                        f.mapcount()
                    ),
                );
            }
            if f.refcount <= 0 {
                bad("refcount", format!("folio {pfn:#x} is allocated with refcount {}", f.refcount));
            }
            match (f.lru, f.flags.test_lru()) {
                (Some(l), true) => {
                    if l != f.lru_list() {
                        bad(
                            "lru",
                            format!("folio {pfn:#x} is on {} but its flags select {}", l.name(), f.lru_list().name()),
                        );
                    }
                    *lru_pages.entry((f.memcg, l as usize)).or_default() += f.nr_pages();
                }
                (None, false) => {}
                _ => bad("lru", format!("folio {pfn:#x}: PG_lru {} but list {:?}", f.flags.test_lru(), f.lru)),
            }
            // A folio truncated out of its file (its page cache reference dropped, another one left, such as a
            // per-CPU batch's) keeps its former identity until it is freed, as the kernel's keeps its flags.
            if let (FolioMapping::File { file, index } | FolioMapping::Shmem { file, index }, true) =
                (f.mapping, f.refs.pagecache > 0)
            {
                if self.files.get(file as usize).and_then(|o| o.pages.get(&index)) != Some(&pfn) {
                    bad("pagecache", format!("folio {pfn:#x} is not in its file's page cache"));
                }
            }
        }
        for (id, lv) in &self.lruvecs {
            for (i, l) in lv.lists.iter().enumerate() {
                let counted = lru_pages.get(&(*id, i)).copied().unwrap_or(0);
                if l.nr_pages != counted {
                    bad("lru", format!("memcg {id} list {i}: nr_pages {} but {counted} pages are on it", l.nr_pages));
                }
                let walked: u64 = self
                    .lru_from_tail(*id, crate::folio::LruList::ALL[i])
                    .iter()
                    .map(|p| self.folios.get(p).map(|f| f.nr_pages()).unwrap_or(0))
                    .sum();
                if walked != counted {
                    bad("lru", format!("memcg {id} list {i}: the list links reach {walked} pages, {counted} expected"));
                }
            }
        }
        for (id, m) in &self.memcgs {
            if *id == 0 {
                continue;
            }
            let charged: u64 = self.folios.values().filter(|f| f.memcg == *id).map(|f| f.nr_pages()).sum::<u64>()
                + self.kpages.values().filter(|k| k.memcg == Some(*id)).map(|k| 1u64 << k.order).sum::<u64>()
                + m.kmem_leaked;
            if charged != m.usage {
                bad("memcg", format!("memcg {id}: usage {} pages but {charged} pages are charged to it", m.usage));
            }
        }
        // Kernel pages: the era's overloaded `_mapcount` (kmem.rs). These are the kernel's findings, not the
        // model's inconsistencies: a value set over another user's, a free that read a type as a mapcount, and,
        // before 4.18, a type `/proc/kpagecount` reads as a mapcount (it had no `page_has_type()` test then).
        let era = self.cfg.profile.kmem_era();
        for k in self.kpages.values() {
            if era != crate::profile::KmemEra::MemcgData && k.mapcount_raw < -1 {
                let msg = format!(
                    "pfn {:#x}: page_mapcount() reads {} ({}) as a mapcount: kpagecount would report it mapped",
                    k.pfn,
                    k.page_mapcount(era),
                    k.mapcount_meaning().unwrap_or("a type")
                );
                bad("mapcount-read", msg);
            }
            if k.kind == crate::kmem::KernelPageKind::Bad {
                bad(
                    "bad-page-state",
                    format!("pfn {:#x}: freed with a foreign _mapcount ({}); leaked", k.pfn, k.clobbered.join(", ")),
                );
            } else if !k.clobbered.is_empty() {
                bad(
                    "mapcount-overload",
                    format!("pfn {:#x}: _mapcount set by two users: {}", k.pfn, k.clobbered.join(", ")),
                );
            }
        }
        out
    }
}
