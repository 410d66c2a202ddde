//! Kernel pages that no process maps: pages allocated for the kernel's own use (kmem) with their memcg charge,
//! balloon pages, and the free pages they become, with the `_mapcount` values each era overloaded to tell them
//! apart (seed 001, kernel-semantics §11.2).
//!
//! How kmem pages are charged and uncharged is the profile's [`KmemEra`]:
//! - before 4.8 (`linux-4.5`): `alloc_kmem_pages()` charges, and only `free_kmem_pages()` uncharges. A page freed
//!   any other way, by `put_page()` when a pipe buffer drops its reference or in a `release_pages()` batch,
//!   leaves its charge behind (the problem of Vladimir Davydov's 2015 series);
//! - the series' RFC (`kmemcg-uncharge`): `alloc_kmem_pages()` sets `_mapcount` to PAGE_KMEM_MAPCOUNT_VALUE and
//!   the generic free path (`free_pages_prepare()`) uncharges a `PageKmem()` page however it is freed;
//! - 4.8 to 4.17 (`linux-4.8`, `linux-4.12`): `__GFP_ACCOUNT` charges and sets PAGE_KMEMCG_MAPCOUNT_VALUE;
//! - 5.11 and later (`linux-6.18`): the mark is `MEMCG_DATA_KMEM` in `memcg_data`, and `_mapcount` (a union with
//!   `page_type` since 4.18) is left alone.
//!
//! Before 4.18 one word held a mapcount or a type, so two users could clobber each other's value, and a type read
//! as a mapcount gives nonsense (the 2016 "Bad page state ... mapcount:-511"). The model records both: a page
//! whose `_mapcount` is set while another user's value is in it, and a free that finds a value it does not own.

use serde::{Deserialize, Serialize};

use crate::consts::*;
use crate::event::{Pfn, Pid};
use crate::model::Model;
use crate::profile::KmemEra;
use crate::report::Severity;
use crate::vmstat::VmEvent;

/// PAGE_BUDDY_MAPCOUNT_VALUE (4.x): a free page in the buddy lists.
pub const PAGE_BUDDY_MAPCOUNT_VALUE: i32 = -128;
/// PAGE_BALLOON_MAPCOUNT_VALUE (4.x): a page the balloon driver took from the guest.
pub const PAGE_BALLOON_MAPCOUNT_VALUE: i32 = -256;
/// PAGE_KMEM_MAPCOUNT_VALUE of the 2015 RFC, and PAGE_KMEMCG_MAPCOUNT_VALUE of 4.8 (both -512).
pub const PAGE_KMEM_MAPCOUNT_VALUE: i32 = -512;
/// `page_type` of a buddy page on 6.18: PGTY_buddy (0xf0) in the top byte.
pub const PGTY_BUDDY: i32 = 0xf000_0000_u32 as i32;
/// `page_type` of an offline (inflated balloon) page on 6.18: PGTY_offline (0xf1) in the top byte.
pub const PGTY_OFFLINE: i32 = 0xf100_0000_u32 as i32;

/// What a kernel page is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelPageKind {
    /// Allocated for the kernel (`alloc_kmem_pages()`, `alloc_pages(GFP_KERNEL_ACCOUNT)`): a pipe buffer, a
    /// kernel stack, a large kmalloc.
    Kmem,
    /// Inflated into a memory balloon (`balloon_page_enqueue()`).
    Balloon,
    /// Free, on a per-CPU list (`free_unref_page()`: no type).
    Pcp,
    /// Free, in the buddy lists (PageBuddy).
    Buddy,
    /// Freed with a `_mapcount` the free path did not expect: `bad_page()` reported it and leaked it.
    Bad,
}

impl KernelPageKind {
    /// The lower-case name reports use.
    pub fn name(self) -> &'static str {
        match self {
            KernelPageKind::Kmem => "kmem",
            KernelPageKind::Balloon => "balloon",
            KernelPageKind::Pcp => "pcp",
            KernelPageKind::Buddy => "buddy",
            KernelPageKind::Bad => "bad",
        }
    }
}

/// How a kmem page is let go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KmemFreeVia {
    /// `free_kmem_pages()` (until 4.7): uncharge, then `__free_pages()`.
    FreeKmemPages,
    /// `__free_pages()` / `free_pages()`.
    FreePages,
    /// `put_page()`: a reference drop, as `anon_pipe_buf_release()` does for a pipe buffer.
    PutPage,
    /// One page of a `release_pages()` batch.
    ReleasePages,
}

impl KmemFreeVia {
    /// Every way, in the order of [`KmemFreeVia::name`]s.
    pub const ALL: [KmemFreeVia; 4] =
        [KmemFreeVia::FreeKmemPages, KmemFreeVia::FreePages, KmemFreeVia::PutPage, KmemFreeVia::ReleasePages];
    /// The kernel function's name, as the mm event format writes it.
    pub fn name(self) -> &'static str {
        match self {
            KmemFreeVia::FreeKmemPages => "free_kmem_pages",
            KmemFreeVia::FreePages => "free_pages",
            KmemFreeVia::PutPage => "put_page",
            KmemFreeVia::ReleasePages => "release_pages",
        }
    }
    /// The way called `name`.
    pub fn from_name(name: &str) -> Option<KmemFreeVia> {
        KmemFreeVia::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// One kernel page (the head of a block of `2^order`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelPage {
    pub pfn: Pfn,
    pub order: u32,
    pub kind: KernelPageKind,
    /// `_refcount`.
    pub refcount: i32,
    /// The `_mapcount` word (the `page_type` union since 4.18), as the profile's era stores it; -1 is "nothing".
    pub mapcount_raw: i32,
    /// The memcg the page is charged to (`page->mem_cgroup`, `memcg_data`), if any.
    pub memcg: Option<u32>,
    /// `MEMCG_DATA_KMEM` in `memcg_data` (5.11 and later).
    pub memcg_data_kmem: bool,
    /// Who set `_mapcount`, in order, while it held another user's value (empty when it never happened).
    pub clobbered: Vec<String>,
}

impl KernelPage {
    /// `page_mapcount()` as the era computes it: `_mapcount + 1`, which before 4.18 reads a type value as a
    /// (negative) mapcount; from 4.18 `page_mapcount_is_type()` makes a typed page read 0.
    pub fn page_mapcount(&self, era: KmemEra) -> i32 {
        if era == KmemEra::MemcgData && self.mapcount_raw < -1 {
            return 0;
        }
        self.mapcount_raw.wrapping_add(1)
    }

    /// The name of the overloaded value in `_mapcount`, if it holds one.
    pub fn mapcount_meaning(&self) -> Option<&'static str> {
        match self.mapcount_raw {
            PAGE_BUDDY_MAPCOUNT_VALUE => Some("PAGE_BUDDY_MAPCOUNT_VALUE"),
            PAGE_BALLOON_MAPCOUNT_VALUE => Some("PAGE_BALLOON_MAPCOUNT_VALUE"),
            PAGE_KMEM_MAPCOUNT_VALUE => Some("PAGE_KMEM(CG)_MAPCOUNT_VALUE"),
            PGTY_BUDDY => Some("PGTY_buddy"),
            PGTY_OFFLINE => Some("PGTY_offline"),
            _ => None,
        }
    }
}

impl KmemEra {
    /// The value `_mapcount` holds for a kmem page charged in this era.
    fn kmem_value(self) -> Option<i32> {
        match self {
            KmemEra::PageKmem | KmemEra::Kmemcg => Some(PAGE_KMEM_MAPCOUNT_VALUE),
            KmemEra::Helpers | KmemEra::MemcgData => None,
        }
    }
    fn buddy_value(self) -> i32 {
        if self == KmemEra::MemcgData {
            PGTY_BUDDY
        } else {
            PAGE_BUDDY_MAPCOUNT_VALUE
        }
    }
    fn balloon_value(self) -> i32 {
        if self == KmemEra::MemcgData {
            PGTY_OFFLINE
        } else {
            PAGE_BALLOON_MAPCOUNT_VALUE
        }
    }
}

impl Model {
    /// The kernel page at `pfn` (the head of its block), if the model holds one.
    pub fn kernel_page(&self, pfn: Pfn) -> Option<&KernelPage> {
        self.kpages.range(..=pfn).next_back().map(|(_, k)| k).filter(|k| pfn < k.pfn + (1u64 << k.order))
    }

    /// Every kernel page, by pfn.
    pub fn kernel_pages(&self) -> impl Iterator<Item = &KernelPage> {
        self.kpages.values()
    }

    /// True when a live (not free) kernel page holds `pfn`: the allocator must not hand it out.
    pub(crate) fn kpage_busy(&self, pfn: Pfn) -> bool {
        !self.kpages.is_empty()
            && self.kernel_page(pfn).is_some_and(|k| !matches!(k.kind, KernelPageKind::Pcp | KernelPageKind::Buddy))
    }

    /// A user folio took `[pfn, pfn + nr)`: the free kernel pages there are gone.
    pub(crate) fn kpages_reused(&mut self, pfn: Pfn, nr: u64) {
        if self.kpages.is_empty() {
            return;
        }
        let gone: Vec<Pfn> =
            self.kpages.range(..pfn + nr).filter(|(_, k)| k.pfn + (1u64 << k.order) > pfn).map(|(p, _)| *p).collect();
        for p in gone {
            self.kpages.remove(&p);
        }
    }

    /// Allocates a kernel block for `pid` (`__alloc_pages` with GFP_KERNEL, plus `__GFP_ACCOUNT` or
    /// `alloc_kmem_pages()` when `account`), charging the task's memcg as the era does. Returns the pfn, or
    /// -ENOMEM when the memcg cannot take the charge.
    pub(crate) fn kmem_alloc(&mut self, pid: Pid, order: u32, account: bool) -> i64 {
        if order > MAX_PAGE_ORDER {
            return -EINVAL;
        }
        let era = self.cfg.profile.kmem_era();
        let memcg = self.task_mm(pid).map_or(0, |mm| self.mm(mm).memcg);
        let nr = 1u64 << order;
        let charge = account && memcg != 0;
        if charge && !self.mem_cgroup_charge(memcg, nr) {
            return -ENOMEM;
        }
        if charge {
            if let Some(m) = self.memcgs.get_mut(&memcg) {
                m.kmem += nr;
            }
        }
        let pfn = self.kernel_pick_pfn(order);
        // The RFC marked every alloc_kmem_pages() page; 4.8 only a page memcg_kmem_charge() charged.
        let mark = match era {
            KmemEra::PageKmem => account,
            KmemEra::Kmemcg => charge,
            KmemEra::Helpers | KmemEra::MemcgData => false,
        };
        let page = KernelPage {
            pfn,
            order,
            kind: KernelPageKind::Kmem,
            refcount: 1,
            mapcount_raw: if mark { era.kmem_value().unwrap_or(-1) } else { -1 },
            memcg: charge.then_some(memcg),
            memcg_data_kmem: charge && era == KmemEra::MemcgData,
            clobbered: Vec::new(),
        };
        self.kpages.insert(pfn, page);
        self.count(VmEvent::PGALLOC, nr);
        self.allocated.push((pfn, order));
        pfn as i64
    }

    /// `balloon_page_alloc()` + `balloon_page_enqueue()`: one page taken from the guest, marked as a balloon page
    /// (`__SetPageBalloon()` before 6.x, `__SetPageOffline()` on 6.18). `account` allocates it as kmem first, as
    /// a driver charging its balloon pages would: before 4.18 both marks want the same word.
    pub(crate) fn balloon_inflate(&mut self, pid: Pid, account: bool) -> i64 {
        let pfn = self.kmem_alloc(pid, 0, account);
        if pfn < 0 {
            return pfn;
        }
        let era = self.cfg.profile.kmem_era();
        let k = self.kpages.get_mut(&(pfn as Pfn)).expect("just allocated");
        k.kind = KernelPageKind::Balloon;
        if k.mapcount_raw != -1 {
            k.clobbered.push(format!("balloon over {}", k.mapcount_meaning().unwrap_or("another value")));
            let msg = format!(
                "pfn {pfn:#x}: __SetPageBalloon() sets _mapcount to {} over {} (the kmem mark is lost; the kernel's \
                 VM_BUG_ON_PAGE would fire)",
                era.balloon_value(),
                k.mapcount_raw
            );
            self.diag(Severity::Warning, "mapcount-overload", msg);
        }
        let k = self.kpages.get_mut(&(pfn as Pfn)).expect("just allocated");
        k.mapcount_raw = era.balloon_value();
        pfn
    }

    /// `balloon_page_dequeue()` + `balloon_page_free()`: the balloon gives the page back (`__ClearPageBalloon()`,
    /// `put_page()`).
    pub(crate) fn balloon_deflate(&mut self, pfn: Pfn) -> i64 {
        match self.kpages.get_mut(&pfn) {
            Some(k) if k.kind == KernelPageKind::Balloon => {
                k.kind = KernelPageKind::Kmem;
                k.mapcount_raw = -1;
            }
            _ => {
                self.diag(
                    Severity::Warning,
                    "kmem-unknown",
                    format!("balloon_deflate: pfn {pfn:#x} is no balloon page"),
                );
                return -EINVAL;
            }
        }
        self.kmem_put(pfn, KmemFreeVia::PutPage)
    }

    /// `get_page()` on a kmem page: another reference (a pipe buffer `tee()`d into a second pipe).
    pub(crate) fn kmem_get(&mut self, pfn: Pfn) -> i64 {
        match self.kpages.get_mut(&pfn) {
            Some(k) if matches!(k.kind, KernelPageKind::Kmem | KernelPageKind::Balloon) => {
                k.refcount += 1;
                0
            }
            _ => {
                self.diag(Severity::Warning, "kmem-unknown", format!("kmem_get: pfn {pfn:#x} is no live kernel page"));
                -EINVAL
            }
        }
    }

    /// Lets a kmem page go `via` one of the kernel's ways: drops a reference, and frees the block at zero
    /// (`free_pages_prepare()` → `free_one_page()` / the per-CPU lists). Returns 1 when the block was freed, 0
    /// when references remain.
    pub(crate) fn kmem_put(&mut self, pfn: Pfn, via: KmemFreeVia) -> i64 {
        let era = self.cfg.profile.kmem_era();
        let Some(k) =
            self.kpages.get(&pfn).filter(|k| matches!(k.kind, KernelPageKind::Kmem | KernelPageKind::Balloon))
        else {
            let what = self.kpages.get(&pfn).map_or("no kernel page", |_| "already free");
            self.diag(Severity::Warning, "kmem-unknown", format!("{}: pfn {pfn:#x} is {what}", via.name()));
            return -EINVAL;
        };
        let nr = 1u64 << k.order;
        // free_kmem_pages() (until 4.7) uncharged first, whatever the refcount.
        if era == KmemEra::Helpers && via == KmemFreeVia::FreeKmemPages {
            self.kmem_uncharge(pfn, nr);
        }
        let k = self.kpages.get_mut(&pfn).expect("checked above");
        k.refcount -= 1;
        if k.refcount > 0 {
            return 0;
        }
        // free_pages_prepare(): the era's uncharge, then free_pages_check() wants _mapcount == -1.
        let own = match era {
            KmemEra::PageKmem | KmemEra::Kmemcg => k.mapcount_raw == PAGE_KMEM_MAPCOUNT_VALUE,
            KmemEra::MemcgData => k.memcg_data_kmem,
            KmemEra::Helpers => false,
        };
        if own {
            if era != KmemEra::MemcgData {
                k.mapcount_raw = -1;
            }
            k.memcg_data_kmem = false;
            self.kmem_uncharge(pfn, nr);
        }
        let k = self.kpages.get_mut(&pfn).expect("checked above");
        if let Some(id) = k.memcg {
            let msg = format!(
                "{}: pfn {pfn:#x} is freed still charged to memcg {id} ({nr} page{} the memcg never gets back): {}",
                via.name(),
                if nr == 1 { "" } else { "s" },
                match era {
                    KmemEra::Helpers => "only free_kmem_pages() uncharges before 4.8",
                    _ => "its kmem mark was lost",
                }
            );
            k.memcg = None;
            if let Some(m) = self.memcgs.get_mut(&id) {
                m.kmem_leaked += nr;
            }
            self.diag(Severity::Warning, "kmem-charge-leak", msg);
        }
        let k = self.kpages.get_mut(&pfn).expect("checked above");
        if k.mapcount_raw != -1 && era != KmemEra::MemcgData {
            // bad_page(): "Bad page state ... mapcount:N", the page is leaked.
            let msg = format!(
                "{}: Bad page state in pfn {pfn:#x}: nonzero mapcount (mapcount:{}), _mapcount holds {}; the page \
                 is leaked",
                via.name(),
                k.mapcount_raw.wrapping_add(1),
                k.mapcount_meaning().unwrap_or("an unknown value")
            );
            k.clobbered.push(format!("read as mapcount {} by free_pages_check", k.mapcount_raw.wrapping_add(1)));
            k.kind = KernelPageKind::Bad;
            k.mapcount_raw = -1;
            self.diag(Severity::Warning, "bad-page-state", msg);
            return 1;
        }
        // 6.18's per-CPU lists take orders up to PAGE_ALLOC_COSTLY_ORDER and the THP order; 4.x's only order 0.
        let pcp = match era {
            KmemEra::MemcgData => k.order <= 3 || k.order == HPAGE_PMD_ORDER,
            _ => k.order == 0,
        };
        k.kind = if pcp { KernelPageKind::Pcp } else { KernelPageKind::Buddy };
        k.mapcount_raw = if pcp { -1 } else { era.buddy_value() };
        let order = k.order;
        if order == 0 {
            self.free_order0.push(pfn);
        }
        self.count(VmEvent::PGFREE, nr);
        self.freed.push((pfn, order));
        1
    }

    /// `memcg_kmem_uncharge()`: the page's charge goes back to its memcg.
    fn kmem_uncharge(&mut self, pfn: Pfn, nr: u64) {
        let Some(id) = self.kpages.get_mut(&pfn).and_then(|k| k.memcg.take()) else { return };
        self.memcg_uncharge(id, nr);
        if let Some(m) = self.memcgs.get_mut(&id) {
            m.kmem = m.kmem.saturating_sub(nr);
        }
    }
}
