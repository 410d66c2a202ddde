//! Lruvecs (the five LRU lists per memcg) and the per-CPU folio batches in front of them (mm/swap.c, mm/mlock.c).

use crate::folio::FolioRc;
use serde::{Deserialize, Serialize};

use crate::consts::FOLIO_BATCH_SIZE;
use crate::event::Pfn;
use crate::folio::LruList;
use crate::model::Model;
use crate::vmstat::VmEvent;

/// One LRU list: a doubly linked list through the folios (head = most recently added).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListHead {
    pub head: Option<Pfn>,
    pub tail: Option<Pfn>,
    /// Pages (not folios) on the list, like `lruvec->lru_zone_size`.
    pub nr_pages: u64,
}

/// `struct lruvec`: the LRU lists of one memcg on the one node the model has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lruvec {
    pub lists: [ListHead; 5],
}

/// Which per-CPU batch (`struct cpu_fbatches`, plus the mlock batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchKind {
    LruAdd,
    LruDeactivate,
    LruLazyfree,
    LruActivate,
    Mlock,
}

impl BatchKind {
    /// The kernel's field name (`lru_add`, `lru_lazyfree`, …).
    pub fn name(self) -> &'static str {
        match self {
            BatchKind::LruAdd => "lru_add",
            BatchKind::LruDeactivate => "lru_deactivate",
            BatchKind::LruLazyfree => "lru_lazyfree",
            BatchKind::LruActivate => "lru_activate",
            BatchKind::Mlock => "mlock",
        }
    }

    /// Every batch kind, in the order `lru_add_drain_cpu()` drains them.
    pub const ALL: [BatchKind; 5] =
        [BatchKind::LruAdd, BatchKind::LruDeactivate, BatchKind::LruLazyfree, BatchKind::LruActivate, BatchKind::Mlock];

    /// The kind named `name` (as [`BatchKind::name`] writes it).
    pub fn from_name(name: &str) -> Option<BatchKind> {
        BatchKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The per-CPU folio batches of one CPU; each holds up to 31 folios and a reference on each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuBatches {
    pub lru_add: Vec<Pfn>,
    pub lru_deactivate: Vec<Pfn>,
    pub lru_lazyfree: Vec<Pfn>,
    pub lru_activate: Vec<Pfn>,
    pub mlock: Vec<Pfn>,
}

impl CpuBatches {
    fn batch(&mut self, kind: BatchKind) -> &mut Vec<Pfn> {
        match kind {
            BatchKind::LruAdd => &mut self.lru_add,
            BatchKind::LruDeactivate => &mut self.lru_deactivate,
            BatchKind::LruLazyfree => &mut self.lru_lazyfree,
            BatchKind::LruActivate => &mut self.lru_activate,
            BatchKind::Mlock => &mut self.mlock,
        }
    }
    /// Every batch with its kind, in drain order.
    pub fn all(&self) -> [(BatchKind, &Vec<Pfn>); 5] {
        [
            (BatchKind::LruAdd, &self.lru_add),
            (BatchKind::LruDeactivate, &self.lru_deactivate),
            (BatchKind::LruLazyfree, &self.lru_lazyfree),
            (BatchKind::LruActivate, &self.lru_activate),
            (BatchKind::Mlock, &self.mlock),
        ]
    }
}

impl Model {
    /// `lruvec_add_folio()`: puts the folio at the head of the list its flags select and sets `PG_lru`.
    pub(crate) fn lruvec_add_folio(&mut self, head: Pfn) {
        self.lruvec_add_folio_at(head, false);
    }

    /// `lruvec_add_folio()`/`lruvec_add_folio_tail()`: links the folio into its list and sets `PG_lru`.
    fn lruvec_add_folio_at(&mut self, head: Pfn, tail: bool) {
        let f = self.folio_mut(head);
        let list = f.lru_list();
        let memcg = f.memcg;
        let nr = f.nr_pages();
        f.lru = Some(list);
        f.flags.set_lru();
        let lv = self.lruvecs.entry(memcg).or_default();
        let l = &mut lv.lists[list as usize];
        l.nr_pages += nr;
        let (old_head, old_tail) = (l.head, l.tail);
        if tail {
            l.tail = Some(head);
            if old_tail.is_none() {
                l.head = Some(head);
            }
        } else {
            l.head = Some(head);
            if old_head.is_none() {
                l.tail = Some(head);
            }
        }
        let f = FolioRc::make_mut(self.folios.get_mut(&head).expect("folio vanished"));
        if tail {
            f.lru_prev = old_tail;
            f.lru_next = None;
            if let Some(t) = old_tail {
                FolioRc::make_mut(self.folios.get_mut(&t).expect("lru link to a freed folio: model bug")).lru_next =
                    Some(head);
            }
        } else {
            f.lru_next = old_head;
            f.lru_prev = None;
            if let Some(h) = old_head {
                FolioRc::make_mut(self.folios.get_mut(&h).expect("lru link to a freed folio: model bug")).lru_prev =
                    Some(head);
            }
        }
    }

    /// `lruvec_del_folio()` + `folio_clear_lru()`.
    pub(crate) fn lruvec_del_folio(&mut self, head: Pfn) {
        let f = self.folio_mut(head);
        let Some(list) = f.lru.take() else { return };
        f.flags.clear_lru();
        let (prev, next, memcg, nr) = (f.lru_prev.take(), f.lru_next.take(), f.memcg, f.nr_pages());
        match prev {
            Some(p) => FolioRc::make_mut(self.folios.get_mut(&p).expect("lru link: model bug")).lru_next = next,
            None => self.lruvecs.entry(memcg).or_default().lists[list as usize].head = next,
        }
        match next {
            Some(n) => FolioRc::make_mut(self.folios.get_mut(&n).expect("lru link: model bug")).lru_prev = prev,
            None => self.lruvecs.entry(memcg).or_default().lists[list as usize].tail = prev,
        }
        self.lruvecs.entry(memcg).or_default().lists[list as usize].nr_pages -= nr;
    }

    /// The folios on one list of one memcg, from tail (oldest, scanned first by reclaim) to head.
    pub(crate) fn lru_from_tail(&self, memcg: u32, list: LruList) -> Vec<Pfn> {
        self.lru_tail(memcg, list, usize::MAX)
    }

    /// At most `n` folios from the tail of one list, oldest first: what `isolate_lru_folios` scans.
    pub(crate) fn lru_tail(&self, memcg: u32, list: LruList, n: usize) -> Vec<Pfn> {
        let mut out = Vec::new();
        let mut cur = self.lruvecs.get(&memcg).and_then(|lv| lv.lists[list as usize].tail);
        while let Some(p) = cur.filter(|_| out.len() < n) {
            out.push(p);
            cur = self.folios.get(&p).and_then(|f| f.lru_prev);
        }
        out
    }

    /// `__folio_batch_add_and_move()`: takes a reference, queues the folio on this CPU's batch, and moves the
    /// whole batch when it is full or the folio is large.
    fn batch_add(&mut self, head: Pfn, kind: BatchKind) {
        let f = self.folio_mut(head);
        f.refcount += 1;
        f.refs.batch += 1;
        let large = f.is_large();
        let cpu = self.cur_cpu;
        let b = self.cpus[cpu].batch(kind);
        b.push(head);
        if b.len() >= FOLIO_BATCH_SIZE || large {
            self.batch_move(cpu, kind);
        }
    }

    /// `folio_batch_move_lru()`: applies the batch's move to each folio, then drops the batch references
    /// (`folios_put`), which frees folios nobody else holds.
    /// `folio_batch_move_lru()` of one batch of one CPU alone, as `folio_batch_add_and_move()` does when the batch
    /// is full ([`crate::Op::FolioBatchMove`]); the CPU's other batches stay.
    pub(crate) fn folio_batch_move(&mut self, cpu: usize, kind: BatchKind) {
        if cpu < self.cpus.len() && !self.cpus[cpu].batch(kind).is_empty() {
            self.batch_move(cpu, kind);
        }
    }

    fn batch_move(&mut self, cpu: usize, kind: BatchKind) {
        let mut folios = std::mem::take(self.cpus[cpu].batch(kind));
        for &head in &folios {
            match kind {
                BatchKind::LruAdd => self.lru_add(head),
                BatchKind::Mlock => self.mlock_move(head),
                _ => {
                    // Other moves need the folio on the LRU: folio_test_clear_lru() or skip.
                    if !self.folios[&head].flags.test_lru() {
                        continue;
                    }
                    match kind {
                        BatchKind::LruDeactivate => self.lru_deactivate(head),
                        BatchKind::LruLazyfree => self.lru_lazyfree(head),
                        BatchKind::LruActivate => self.lru_activate(head),
                        _ => unreachable!(),
                    }
                }
            }
        }
        for &head in &folios {
            self.folio_mut(head).refs.batch -= 1;
            self.folio_put_refs(head, 1);
        }
        // The emptied batch keeps its room for the next folios, unless the moves queued new ones on it.
        let batch = self.cpus[cpu].batch(kind);
        if batch.is_empty() {
            folios.clear();
            *batch = folios;
        }
    }

    /// `lru_add()` (6.12:mm/swap.c:149): puts a folio from the lru_add batch on its LRU list, culling mlocked
    /// folios to the unevictable list. This is where `pagemap:mm_lru_insertion` fires.
    fn lru_add(&mut self, head: Pfn) {
        let f = self.folio_mut(head);
        let nr = f.nr_pages();
        let was_unevictable = f.flags.test_unevictable();
        f.flags.clear_unevictable();
        if !f.flags.test_mlocked() {
            if was_unevictable {
                self.count(VmEvent::UNEVICTABLE_PGRESCUED, nr);
            }
        } else {
            let f = self.folio_mut(head);
            f.flags.clear_active();
            f.flags.set_unevictable();
            if !was_unevictable {
                self.count(VmEvent::UNEVICTABLE_PGCULLED, nr);
            }
        }
        self.lruvec_add_folio(head);
    }

    /// `lru_lazyfree()` (6.12:mm/swap.c:614): moves a lazyfree folio to the inactive file list, clearing
    /// `PG_active`, `PG_referenced` and `PG_swapbacked`; counts PGLAZYFREE.
    fn lru_lazyfree(&mut self, head: Pfn) {
        let f = &self.folios[&head];
        if !f.is_anon() || !f.flags.test_swapbacked() || f.flags.test_swapcache() || f.flags.test_unevictable() {
            return;
        }
        self.lruvec_move(
            head,
            |f| {
                f.clear_active();
                f.clear_referenced();
                f.clear_swapbacked();
            },
            Some(VmEvent::PGLAZYFREE),
        );
    }

    /// `lru_deactivate()`: active → inactive head, PGDEACTIVATE.
    fn lru_deactivate(&mut self, head: Pfn) {
        let f = &self.folios[&head];
        if f.flags.test_unevictable() || !f.flags.test_active() {
            return;
        }
        self.lruvec_move(
            head,
            |f| {
                f.clear_active();
                f.clear_referenced();
            },
            Some(VmEvent::PGDEACTIVATE),
        );
    }

    /// `lru_activate()`: inactive → active, PGACTIVATE (`pagemap:mm_lru_activate`).
    fn lru_activate(&mut self, head: Pfn) {
        let f = &self.folios[&head];
        if f.flags.test_unevictable() || f.flags.test_active() {
            return;
        }
        self.lruvec_move(head, |f| f.set_active(), Some(VmEvent::PGACTIVATE));
    }

    /// Moves a folio between lists of its lruvec: off its list, `change` its flags, onto the head of the list
    /// they now select (the shape of every `lru_*` move function), counting `event` by pages.
    fn lruvec_move(&mut self, head: Pfn, change: impl FnOnce(&mut crate::flags::PageFlags), event: Option<VmEvent>) {
        self.lruvec_del_folio(head);
        let f = self.folio_mut(head);
        change(&mut f.flags);
        let nr = f.nr_pages();
        self.lruvec_add_folio(head);
        if let Some(e) = event {
            self.count(e, nr);
        }
    }

    /// `mlock_folio_batch()` for one folio: a new folio goes through `__mlock_new_folio`, an existing one
    /// through `__mlock_folio` (mm/mlock.c): onto the unevictable list (UNEVICTABLE_PGCULLED), with no
    /// `mm_lru_insertion` event. A folio off the LRU is left for `lru_add()` or putback to cull.
    fn mlock_move(&mut self, head: Pfn) {
        let f = &self.folios[&head];
        let nr = f.nr_pages();
        let on_lru = f.lru.is_some();
        let evictable = !f.flags.test_mlocked();
        let fresh = !on_lru && f.refs.isolated == 0 && !self.in_lru_add_batch(head);
        if fresh {
            if !evictable {
                self.folio_mut(head).flags.set_unevictable();
                self.count(VmEvent::UNEVICTABLE_PGCULLED, nr);
            }
            self.lruvec_add_folio(head);
            return;
        }
        if !on_lru {
            return;
        }
        if evictable {
            if f.flags.test_unevictable() {
                self.lruvec_move(head, |f| f.clear_unevictable(), Some(VmEvent::UNEVICTABLE_PGRESCUED));
            }
            return;
        }
        if f.flags.test_unevictable() {
            return;
        }
        let cull = |f: &mut crate::flags::PageFlags| {
            f.clear_active();
            f.set_unevictable();
        };
        self.lruvec_move(head, cull, Some(VmEvent::UNEVICTABLE_PGCULLED));
    }

    /// Whether some CPU's lru_add batch holds the folio (it is then off the LRU with `PG_lru` clear).
    fn in_lru_add_batch(&self, head: Pfn) -> bool {
        self.cpus.iter().any(|c| c.lru_add.contains(&head))
    }

    /// `folio_add_lru()`: queue a folio on this CPU's lru_add batch.
    pub(crate) fn folio_add_lru(&mut self, head: Pfn) {
        self.batch_add(head, BatchKind::LruAdd);
    }

    /// `folio_add_lru_vma()` (6.12:mm/swap.c:526): mlocked VMAs go through `mlock_new_folio`.
    pub(crate) fn folio_add_lru_vma(&mut self, head: Pfn, vm_locked: bool) {
        if vm_locked {
            self.mlock_new_folio(head);
        } else {
            self.folio_add_lru(head);
        }
    }

    /// `mlock_new_folio()` (7.2:mm/mlock.c:267): `PG_mlocked`, UNEVICTABLE_PGMLOCKED, then the mlock batch.
    pub(crate) fn mlock_new_folio(&mut self, head: Pfn) {
        let f = self.folio_mut(head);
        f.flags.set_mlocked();
        let nr = f.nr_pages();
        self.count(VmEvent::UNEVICTABLE_PGMLOCKED, nr);
        self.batch_add(head, BatchKind::Mlock);
    }

    /// `mlock_folio()`: mlock an already-mapped folio.
    pub(crate) fn mlock_folio(&mut self, head: Pfn) {
        let f = self.folio_mut(head);
        if !f.flags.test_mlocked() {
            f.flags.set_mlocked();
            let nr = f.nr_pages();
            self.count(VmEvent::UNEVICTABLE_PGMLOCKED, nr);
        }
        self.batch_add(head, BatchKind::Mlock);
    }

    /// `munlock_folio()` (the model moves it at once rather than through the mlock batch).
    pub(crate) fn munlock_folio(&mut self, head: Pfn) {
        let f = self.folio_mut(head);
        if !f.flags.test_mlocked() {
            return;
        }
        f.flags.clear_mlocked();
        let nr = f.nr_pages();
        self.count(VmEvent::UNEVICTABLE_PGMUNLOCKED, nr);
        if self.folios[&head].lru == Some(LruList::Unevictable) {
            self.lruvec_move(head, |f| f.clear_unevictable(), Some(VmEvent::UNEVICTABLE_PGRESCUED));
        }
    }

    /// `folio_mark_lazyfree()` (6.12:mm/swap.c:719): only anon, swap-backed folios on the LRU that are not in
    /// the swap cache and not unevictable go to the lazyfree batch; others are silently left alone.
    pub(crate) fn folio_mark_lazyfree(&mut self, head: Pfn) {
        let f = &self.folios[&head];
        if f.is_anon()
            && f.flags.test_swapbacked()
            && f.flags.test_lru()
            && !f.flags.test_swapcache()
            && !f.flags.test_unevictable()
        {
            self.batch_add(head, BatchKind::LruLazyfree);
        }
    }

    /// `folio_mark_accessed()` (mm/swap.c): the first access sets `PG_referenced`; a second one activates an
    /// inactive evictable folio (through the activate batch when it is on the LRU, at once when it still sits in
    /// a batch, like `__lru_cache_activate_folio`) and clears `PG_referenced`.
    pub(crate) fn folio_mark_accessed(&mut self, head: Pfn) {
        let f = self.folio_mut(head);
        if !f.flags.test_referenced() {
            f.flags.set_referenced();
        } else if !f.flags.test_unevictable() && !f.flags.test_active() {
            if f.flags.test_lru() {
                self.batch_add(head, BatchKind::LruActivate);
            } else {
                f.flags.set_active();
            }
            self.folio_mut(head).flags.clear_referenced();
        }
    }

    /// `folio_deactivate()`: active folios on the LRU go to the deactivate batch.
    pub(crate) fn folio_deactivate(&mut self, head: Pfn) {
        let f = &self.folios[&head];
        if f.flags.test_lru() && !f.flags.test_unevictable() && f.flags.test_active() {
            self.batch_add(head, BatchKind::LruDeactivate);
        }
    }

    /// `lru_add_drain_cpu()` (6.12:mm/swap.c:642) + `mlock_drain_local()`: drains one CPU's batches in kernel
    /// order.
    pub(crate) fn lru_add_drain_cpu(&mut self, cpu: usize) {
        if cpu >= self.cpus.len() {
            return;
        }
        for kind in [
            BatchKind::LruAdd,
            BatchKind::LruDeactivate,
            BatchKind::LruLazyfree,
            BatchKind::LruActivate,
            BatchKind::Mlock,
        ] {
            if !self.cpus[cpu].batch(kind).is_empty() {
                self.batch_move(cpu, kind);
            }
        }
    }

    /// `lru_add_drain()`: the current CPU.
    pub(crate) fn lru_add_drain(&mut self) {
        self.lru_add_drain_cpu(self.cur_cpu);
    }

    /// `lru_add_drain_all()`.
    pub(crate) fn lru_add_drain_all(&mut self) {
        for cpu in 0..self.cpus.len() {
            self.lru_add_drain_cpu(cpu);
        }
    }

    /// `folio_isolate_lru()`: off the LRU with an extra reference. False when not on the LRU.
    pub(crate) fn folio_isolate_lru(&mut self, head: Pfn) -> bool {
        if !self.folios[&head].flags.test_lru() {
            return false;
        }
        self.lruvec_del_folio(head);
        let f = self.folio_mut(head);
        f.refcount += 1;
        f.refs.isolated += 1;
        true
    }

    /// `folio_putback_lru()`: back through the lru_add batch, then drop the isolation reference.
    pub(crate) fn folio_putback_lru(&mut self, head: Pfn) {
        self.folio_add_lru(head);
        self.folio_mut(head).refs.isolated -= 1;
        self.folio_put_refs(head, 1);
    }

    /// The per-CPU batches (for reports and the REPL).
    pub fn cpu_batches(&self) -> &[CpuBatches] {
        &self.cpus
    }

    /// Where a folio sits in the batches: (cpu, batch) pairs.
    pub fn folio_batches(&self, head: Pfn) -> Vec<(usize, BatchKind)> {
        let mut out = Vec::new();
        for (cpu, c) in self.cpus.iter().enumerate() {
            for (kind, b) in c.all() {
                for p in b {
                    if *p == head {
                        out.push((cpu, kind));
                    }
                }
            }
        }
        out
    }
}
