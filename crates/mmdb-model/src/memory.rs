//! Page faults and zapping (mm/memory.c): `handle_mm_fault`, `do_anonymous_page`, `do_wp_page`,
//! `wp_page_copy`, file faults, `do_swap_page`, `zap_pte_range` (kernel-semantics §3, §4.2, §7).

use crate::consts::*;
use crate::event::{Access, Pfn, Pid};
use crate::flags::VmFlags;
use crate::folio::{FolioMapping, MmId};
use crate::mm::{PresentPte, Pte, Vma, MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS};
use crate::model::Model;
use crate::report::Severity;
use crate::vmstat::VmEvent;

/// Why a fault did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultError {
    /// `VM_FAULT_OOM`: the memcg could not be charged.
    Oom,
}

/// Which caller is zapping: it decides nothing about draining on 6.18, but names the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ZapKind {
    Munmap,
    Exit,
    Dontneed,
}

impl Model {
    /// A user page fault (`exc_page_fault` → `do_user_addr_fault`): the VMA and access checks that end in
    /// SIGSEGV without calling `handle_mm_fault`, then `handle_mm_fault` and `mm_account_fault` (PGFAULT).
    pub(crate) fn user_fault(&mut self, pid: Pid, addr: u64, access: Access, want: Option<Pfn>) {
        let Some(mm) = self.task_mm(pid) else {
            self.diag(Severity::Warning, "no-mm", format!("fault by pid {pid}, which has no mm"));
            return;
        };
        self.ctx_addr = Some(addr);
        let Some(vma) = self.mm(mm).vma_lookup(addr).cloned() else {
            self.diag(Severity::Warning, "segv", format!("fault at {addr:#x} by pid {pid} outside any VMA (SIGSEGV)"));
            return;
        };
        let allowed = match access {
            Access::Write => vma.flags.contains(VmFlags::VM_WRITE),
            Access::Exec => vma.flags.contains(VmFlags::VM_EXEC),
            Access::Read => vma.flags.0 & (VmFlags::VM_READ.0 | VmFlags::VM_WRITE.0 | VmFlags::VM_EXEC.0) != 0,
        };
        if !allowed {
            self.diag(
                Severity::Warning,
                "segv",
                format!(
                    "{} fault at {addr:#x} by pid {pid} in a {} VMA (SIGSEGV, access error)",
                    access.name(),
                    vma.flags.perms()
                ),
            );
            return;
        }
        self.count(VmEvent::PGFAULT, 1);
        if let Err(FaultError::Oom) =
            self.handle_mm_fault(mm, &vma, addr & !(PAGE_SIZE - 1), access == Access::Write, want)
        {
            self.diag(Severity::Info, "fault-oom", format!("fault at {addr:#x} by pid {pid} failed: VM_FAULT_OOM"));
        }
    }

    /// A user access: the hardware page walk sets Accessed (and Dirty on a store) when the PTE or PMD allows
    /// the access and the VMA does too; anything else raises a page fault (`user_fault`).
    pub(crate) fn user_touch(&mut self, pid: Pid, addr: u64, access: Access) {
        let Some(mm) = self.task_mm(pid) else {
            return self.user_fault(pid, addr, access, None);
        };
        let write = access == Access::Write;
        let vma_ok = self.mm(mm).vma_lookup(addr).is_some_and(|v| match access {
            Access::Write => v.flags.contains(VmFlags::VM_WRITE),
            Access::Exec => v.flags.contains(VmFlags::VM_EXEC),
            Access::Read => v.flags.contains(VmFlags::VM_READ),
        });
        if vma_ok {
            let m = self.mm_mut(mm);
            if let Some(crate::mm::Pmd::Huge(h)) = m.pmds.get_mut(&crate::mm::pmd_index(addr).0) {
                if !write || h.write {
                    h.young = true;
                    h.dirty |= write;
                    return;
                }
            } else if let Some(Pte::Present(p)) = m.pte_mut(addr) {
                if !write || p.write {
                    p.young = true;
                    p.dirty |= write;
                    return;
                }
            }
        }
        self.user_fault(pid, addr, access, None)
    }

    /// A user store of `value` at `addr` (`Op::Store`): the write access of [`Model::user_touch`], then the value
    /// lands in the page the PTE (or PMD) now maps writable. When the access did not end writable (SIGSEGV,
    /// `VM_FAULT_OOM`) nothing is stored; the fault path already reported why.
    pub(crate) fn user_store(&mut self, pid: Pid, addr: u64, value: u64) {
        self.user_touch(pid, addr, Access::Write);
        let Some(Pte::Present(p)) = self.lookup(pid, addr) else { return };
        if !p.write || p.special {
            return;
        }
        let Some(head) = self.folio_head(p.pfn) else { return };
        self.folio_mut(head).pages[(p.pfn - head) as usize].content = value;
    }

    /// `handle_mm_fault()` → `__handle_mm_fault()`: PMD-level THP handling, then `handle_pte_fault()`.
    pub(crate) fn handle_mm_fault(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        write: bool,
        want: Option<Pfn>,
    ) -> Result<(), FaultError> {
        let haddr = addr & !(HPAGE_PMD_SIZE - 1);
        let pmd_none = !self.mm(mm).pmds.contains_key(&crate::mm::pmd_index(addr).0);
        if pmd_none
            && self.thp_vma_allowable(vma)
            && haddr >= vma.start
            && haddr + HPAGE_PMD_SIZE <= vma.end
            && self.do_huge_pmd_anonymous_page(mm, vma, haddr, write, want)?
        {
            return Ok(());
        }
        if let Some(h) = self.mm(mm).huge_pmd(addr) {
            if write && !h.write {
                if h.huge_zero {
                    if self.do_huge_zero_wp_pmd(mm, vma, haddr, want)? {
                        return Ok(());
                    }
                } else if self.do_huge_pmd_wp_page(mm, haddr) {
                    return Ok(());
                }
                // The PMD was split: retry at PTE level.
            } else {
                self.huge_pmd_set_accessed(mm, haddr, write);
                return Ok(());
            }
        }
        self.handle_pte_fault(mm, vma, addr, write, want)
    }

    /// `handle_pte_fault()` (6.12:mm/memory.c:5756).
    fn handle_pte_fault(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        write: bool,
        want: Option<Pfn>,
    ) -> Result<(), FaultError> {
        match self.mm(mm).pte(addr).unwrap_or(Pte::None) {
            Pte::None => {
                if vma.is_anonymous() {
                    self.do_anonymous_page(mm, vma, addr, write, want)
                } else {
                    self.do_fault(mm, vma, addr, write, want)
                }
            }
            Pte::Swap { entry, exclusive } => self.do_swap_page(mm, vma, addr, entry, exclusive, write, want),
            Pte::Vrange => {
                // vrange-v7's `handle_pte_fault()`: a purged page of a range still volatile and purged is
                // VM_FAULT_SIGBUS (`is_purged_vrange()`); otherwise the mark is cleared and the fault goes on as
                // `do_anonymous_page()`, which maps a zero-filled page.
                if self.vrange_addr_purged(mm, addr) {
                    self.diag(
                        Severity::Warning,
                        "sigbus",
                        format!("fault at {addr:#x} on a purged page of a volatile range (SIGBUS)"),
                    );
                    return Ok(());
                }
                if let Some(s) = self.mm_mut(mm).pte_mut(addr) {
                    *s = Pte::None;
                }
                self.do_anonymous_page(mm, vma, addr, write, want)
            }
            Pte::Present(p) => {
                if write && !p.write {
                    self.do_wp_page(mm, vma, addr, p, want)
                } else {
                    // Spurious fault: pte_mkyoung (+ pte_mkdirty for a write), no folio change.
                    if let Some(Pte::Present(p)) = self.mm_mut(mm).pte_mut(addr) {
                        p.young = true;
                        if write {
                            p.dirty = true;
                        }
                    }
                    Ok(())
                }
            }
        }
    }

    /// `vmf_anon_prepare()` → `__anon_vma_prepare()`: give the VMA an anon_vma, reusing a mergeable
    /// neighbour's (`find_mergeable_anon_vma`) when there is one.
    pub(crate) fn anon_vma_prepare(&mut self, mm: MmId, vma_start: u64) {
        let m = self.mm(mm);
        let Some(vma) = m.vmas.get(&vma_start) else {
            return;
        };
        if vma.anon_vma.is_some() {
            return;
        }
        let prev = m.vmas.range(..vma.start).next_back().map(|(_, v)| v).filter(|p| p.end == vma.start);
        let next = m.vmas.get(&vma.end);
        let mergeable =
            |o: &Vma| o.anon_vma.is_some() && o.flags == vma.flags && o.file.is_none() && vma.file.is_none();
        let reuse = prev.filter(|p| mergeable(p)).or(next.filter(|n| mergeable(n))).and_then(|v| v.anon_vma);
        let id = match reuse {
            Some(id) => id,
            None => {
                self.next_anon_vma += 1;
                self.next_anon_vma - 1
            }
        };
        if let Some(v) = self.mm_mut(mm).vmas.get_mut(&vma_start) {
            v.anon_vma = Some(id);
        }
    }

    /// `do_anonymous_page()` (6.12:mm/memory.c:4736): a read maps the shared zero page; a write allocates a
    /// zeroed order-0 folio, charges it, counts MM_ANONPAGES, adds an exclusive anon rmap and queues the
    /// folio on the lru_add batch (refcount 2, no `PG_lru` until the drain).
    fn do_anonymous_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        write: bool,
        want: Option<Pfn>,
    ) -> Result<(), FaultError> {
        if !write {
            let pte = PresentPte { pfn: ZERO_PFN, write: false, dirty: false, young: true, special: true };
            *self.mm_mut(mm).pte_alloc(addr).expect("PMD is not huge here") = Pte::Present(pte);
            return Ok(());
        }
        self.anon_vma_prepare(mm, vma.start);
        let head = self.alloc_charged(0, want, FolioMapping::Anon, mm)?;
        self.folio_mut(head).flags.set_uptodate();
        self.add_mm_counter(mm, MM_ANONPAGES, 1);
        self.folio_add_new_anon_rmap(head, mm, addr, true, false);
        self.folio_ref_add_mapping(head, 1);
        self.folio_add_lru_vma(head, vma.flags.contains(VmFlags::VM_LOCKED));
        let w = vma.flags.contains(VmFlags::VM_WRITE);
        let pte = PresentPte { pfn: head, write: w, dirty: w, young: true, special: false };
        *self.mm_mut(mm).pte_alloc(addr).expect("PMD is not huge here") = Pte::Present(pte);
        Ok(())
    }

    /// Allocates a folio for `mm` and charges its memcg (`folio_prealloc`/`mem_cgroup_charge`); on charge
    /// failure the folio is freed again and the fault fails with `VM_FAULT_OOM`.
    pub(crate) fn alloc_charged(
        &mut self,
        order: u32,
        want: Option<Pfn>,
        mapping: FolioMapping,
        mm: MmId,
    ) -> Result<Pfn, FaultError> {
        let memcg = self.mm(mm).memcg;
        if want.is_none() && !self.alloc_pages_within_ram(1 << order) {
            return Err(FaultError::Oom);
        }
        let head = self.alloc_folio(order, want, mapping, memcg);
        if !self.mem_cgroup_charge(memcg, 1 << order) {
            // Not charged: free without uncharging.
            self.folio_mut(head).memcg = u32::MAX;
            self.free_folio(head);
            return Err(FaultError::Oom);
        }
        Ok(head)
    }

    /// `do_fault()`: a file or shmem page. A read (or a shared write) maps the page-cache folio; a private
    /// write copies it into a new anonymous folio (`do_cow_fault`).
    fn do_fault(&mut self, mm: MmId, vma: &Vma, addr: u64, write: bool, want: Option<Pfn>) -> Result<(), FaultError> {
        let Some(file) = vma.file else { return Ok(()) };
        let index = vma.linear_page_index(addr);
        let shared = vma.flags.contains(VmFlags::VM_SHARED);
        if write && !shared {
            // do_cow_fault: the page-cache folio is read (created if missing) but only the copy is mapped;
            // copy_mc_user_highpage() copies its data.
            let _ = self.filemap_fault_readahead(file, index);
            let cached = self.filemap_get_folio(file, index, None, mm)?;
            let content = self.folios[&cached].pages[0].content;
            self.anon_vma_prepare(mm, vma.start);
            let head = self.alloc_charged(0, want, FolioMapping::Anon, mm)?;
            let f = self.folio_mut(head);
            f.flags.set_uptodate();
            f.pages[0].content = content;
            self.add_mm_counter(mm, MM_ANONPAGES, 1);
            self.folio_add_new_anon_rmap(head, mm, addr, true, false);
            self.folio_ref_add_mapping(head, 1);
            self.folio_add_lru_vma(head, vma.flags.contains(VmFlags::VM_LOCKED));
            let pte = PresentPte { pfn: head, write: true, dirty: true, young: true, special: false };
            *self.mm_mut(mm).pte_alloc(addr).expect("PMD is not huge here") = Pte::Present(pte);
            return Ok(());
        }
        if !write {
            self.do_fault_around(mm, vma, addr, file)?;
        }
        // __do_fault() → filemap_fault(), after fault-around (which skipped the page if it carried the mark).
        let retry = self.filemap_fault_readahead(file, index);
        if retry && !write {
            // The retry (`FAULT_FLAG_TRIED`) runs fault-around again: the folio has lost its mark, and is mapped
            // with the rest of the window; the pages the readahead adds are still under I/O (the lowering gives
            // them to the model after the fault).
            self.do_fault_around(mm, vma, addr, file)?;
        }
        self.map_file_page(mm, vma, addr, file, index, want, write)
    }

    /// `do_fault_around()` (6.12:mm/memory.c:5255) → `filemap_map_pages()`: a read fault maps, besides the
    /// faulting page, every page-cache page of the `fault_around_pages` (16) aligned window around it, clipped to
    /// the VMA and the PTE table, whose PTE is none. `next_uptodate_folio()` (6.12 mm/filemap.c) walks only the
    /// folios present in the file's xarray, so a page not in the page cache is skipped without a word (the
    /// tracepoint reports the window, and `add_mm_counter()` counts only what was mapped): a regular file's page
    /// is mapped when the model holds its folio or the trace did not show it uncached ([`Model::page_cached`],
    /// [`Op::PageCache`]; binaries and libraries are usually cached); shmem pages exist only once written.
    ///
    /// When the trace gave the kernel's window ([`Op::Fault`]'s `around`), that window is scanned instead, still
    /// clipped to the VMA and the PTE table: it also knows the file's end.
    fn do_fault_around(&mut self, mm: MmId, vma: &Vma, addr: u64, file: u32) -> Result<(), FaultError> {
        const FAULT_AROUND_PAGES: u64 = 16;
        let pte_off = (addr >> PAGE_SHIFT) & (PTRS_PER_PTE as u64 - 1);
        let vma_off = (addr - vma.start) >> PAGE_SHIFT;
        let vma_pages = (vma.end - vma.start) >> PAGE_SHIFT;
        let mut from = (pte_off & !(FAULT_AROUND_PAGES - 1)).max(pte_off - pte_off.min(vma_off));
        let mut to = (from + FAULT_AROUND_PAGES).min(PTRS_PER_PTE as u64).min(pte_off + vma_pages - vma_off) - 1;
        let table = addr & !(HPAGE_PMD_SIZE - 1);
        if let Some((first, pages)) = self.fault_around {
            let lo = first.max(vma.start).max(table);
            let hi = first.saturating_add(pages.saturating_mul(PAGE_SIZE)).min(vma.end).min(table + HPAGE_PMD_SIZE);
            if hi <= lo {
                return Ok(());
            }
            from = (lo - table) >> PAGE_SHIFT;
            to = ((hi - table) >> PAGE_SHIFT) - 1;
        }
        let shmem = self.files[file as usize].shmem;
        for i in from..=to {
            let a = table + (i << PAGE_SHIFT);
            if a == addr & !(PAGE_SIZE - 1) || !matches!(self.mm(mm).pte(a), None | Some(Pte::None)) {
                continue;
            }
            let index = vma.linear_page_index(a);
            if shmem && !self.files[file as usize].pages.contains_key(&index) {
                continue;
            }
            if !shmem && !self.page_mappable_around(file, index) {
                continue;
            }
            self.map_file_page(mm, vma, a, file, index, None, false)?;
        }
        Ok(())
    }

    /// `finish_fault()`/`set_pte_range()` for a page-cache page: MM_FILEPAGES (or MM_SHMEMPAGES), a file rmap,
    /// `mlock_vma_folio()` in a locked VMA; writable and dirty only for a write to a shared mapping.
    #[allow(clippy::too_many_arguments)]
    fn map_file_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        file: u32,
        index: u64,
        want: Option<Pfn>,
        write: bool,
    ) -> Result<(), FaultError> {
        let shared = vma.flags.contains(VmFlags::VM_SHARED);
        let head = self.filemap_get_folio(file, index, want, mm)?;
        let counter = self.mm_counter(head);
        self.add_mm_counter(mm, counter, 1);
        self.folio_add_rmap_pte(head, 0, mm, addr, false);
        self.folio_ref_add_mapping(head, 1);
        if vma.flags.contains(VmFlags::VM_LOCKED) {
            self.mlock_folio(head);
        }
        let w = write && shared;
        if w {
            self.folio_mut(head).flags.set_dirty();
        }
        let pte = PresentPte { pfn: head, write: w, dirty: w, young: true, special: false };
        *self.mm_mut(mm).pte_alloc(addr).expect("PMD is not huge here") = Pte::Present(pte);
        Ok(())
    }

    /// `filemap_get_folio()` + `filemap_add_folio()` on a miss: the page-cache folio at `index`.
    fn filemap_get_folio(&mut self, file: u32, index: u64, want: Option<Pfn>, mm: MmId) -> Result<Pfn, FaultError> {
        if let Some(&pfn) = self.files[file as usize].pages.get(&index) {
            return Ok(pfn);
        }
        let shmem = self.files[file as usize].shmem;
        let mapping = if shmem { FolioMapping::Shmem { file, index } } else { FolioMapping::File { file, index } };
        let head = if self.cfg.trace_pfns && want.is_none() && !shmem && self.page_cached(file, index) {
            // Replaying a real trace, a file page the model has not seen and the trace did not show being allocated
            // was in the page cache before the trace began (libraries and binaries usually are): not an allocation
            // of this event, and charged to the root memcg rather than to whoever faulted it now. Without a trace
            // the page-cache miss is an allocation charged to the faulting mm's memcg, as in the kernel; so is a
            // page the trace showed not to be cached ([`Op::PageCache`]), whose allocation the trace then missed.
            // Its page frame and flags are the trace's when it gave them ([`Op::PageCacheFrame`]).
            if !self.alloc_pages_within_ram(1) {
                return Err(FaultError::Oom);
            }
            let frame = self.take_page_cache_frame(file, index);
            let head = self.alloc_folio(0, frame.map(|f| f.0), mapping, 0);
            self.mem_cgroup_charge(0, 1);
            self.allocated.retain(|a| a.0 != head);
            self.folio_mut(head).pre_trace = true;
            if let Some((_, kflags)) = frame {
                self.apply_pre_trace_kflags(head, kflags);
            }
            head
        } else {
            self.alloc_charged(0, want, mapping, mm)?
        };
        // The read from the file brings back what writeback last wrote there.
        let content = self.files[file as usize].data.get(&index).copied().unwrap_or(0);
        let f = self.folio_mut(head);
        f.flags.set_uptodate();
        f.pages[0].content = content;
        if shmem {
            f.flags.set_swapbacked();
        }
        f.refcount += 1;
        f.refs.pagecache += 1;
        let pre_trace = f.pre_trace;
        self.files[file as usize].pages.insert(index, head);
        if pre_trace {
            // Cached long before the trace: on its LRU list already, not in a per-CPU batch (where it would take
            // a slot the kernel's batch never gave it).
            self.lruvec_add_folio(head);
        } else {
            self.folio_add_lru(head);
        }
        Ok(head)
    }

    /// `do_wp_page()` (6.12:3656): a write to a present, write-protected PTE. Shared mappings are made
    /// writable; a private anon page is reused when `PG_anon_exclusive` or `wp_can_reuse_anon_folio()` says
    /// so (PGREUSE), otherwise copied by `wp_page_copy()`.
    fn do_wp_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        p: PresentPte,
        want: Option<Pfn>,
    ) -> Result<(), FaultError> {
        if p.special {
            return self.wp_page_copy(mm, vma, addr, None, want);
        }
        let Some(head) = self.folio_head(p.pfn) else {
            self.diag(
                Severity::Warning,
                "pte-no-folio",
                format!("PTE at {addr:#x} maps pfn {:#x}, which is not allocated", p.pfn),
            );
            return Ok(());
        };
        let idx = (p.pfn - head) as usize;
        if vma.flags.0 & (VmFlags::VM_SHARED.0 | VmFlags::VM_MAYSHARE.0) != 0 {
            // wp_page_shared(): make it writable and dirty.
            self.folio_mut(head).flags.set_dirty();
            self.set_pte_write_dirty(mm, addr);
            return Ok(());
        }
        if !self.folios[&head].is_anon() {
            return self.wp_page_copy(mm, vma, addr, Some((head, idx)), want);
        }
        if self.folios[&head].pages[idx].anon_exclusive || self.wp_can_reuse_anon_folio(head, mm) {
            self.set_page_anon_exclusive(head, idx, true);
            // wp_page_reuse(): maybe_mkwrite(pte_mkdirty(pte_mkyoung())), PGREUSE.
            self.set_pte_write_dirty(mm, addr);
            self.count(VmEvent::PGREUSE, 1);
            return Ok(());
        }
        self.wp_page_copy(mm, vma, addr, Some((head, idx)), want)
    }

    /// `maybe_mkwrite(pte_mkdirty(pte_mkyoung(pte)))` as `wp_page_reuse()` and `wp_page_shared()` apply it.
    fn set_pte_write_dirty(&mut self, mm: MmId, addr: u64) {
        if let Some(Pte::Present(p)) = self.mm_mut(mm).pte_mut(addr) {
            p.write = true;
            p.dirty = true;
            p.young = true;
        }
    }

    /// `wp_can_reuse_anon_folio()` (6.12:3586) for small folios, `__wp_can_reuse_large_anon_folio()` (7.2:4109)
    /// for large ones. Reuse needs refcount exactly 1: no other mapping, no batch reference, no swap cache.
    fn wp_can_reuse_anon_folio(&mut self, head: Pfn, mm: MmId) -> bool {
        if self.folios[&head].is_large() && !self.cfg.profile.large_folio_cow_reuse() {
            return false; // 6.5-6.14: "let's just consistently not reuse subpages"
        }
        if self.folios[&head].is_large() {
            let f = &self.folios[&head];
            if f.large_mapcount < 1 || f.mm_ids_shared {
                return false;
            }
            if f.flags.test_swapcache() {
                self.folio_free_swap(head);
            }
            let f = &self.folios[&head];
            return f.large_mapcount + 1 == f.refcount
                && f.entire_mapcount < 0
                && (f.mm_id[0] == mm || f.mm_id[1] == mm);
        }
        if self.folios[&head].refcount > 3 {
            return false;
        }
        if !self.folios[&head].flags.test_lru() {
            self.lru_add_drain();
        }
        let Some(f) = self.folios.get(&head) else {
            return false;
        };
        if f.refcount > 1 + f.flags.test_swapcache() as i32 {
            return false;
        }
        if f.flags.test_swapcache() {
            self.folio_free_swap(head);
        }
        self.folios.get(&head).is_some_and(|f| f.refcount == 1)
    }

    /// `wp_page_copy()` (6.12:3332): a new anonymous folio (a copy of the old page, zeroed for the zero page),
    /// exclusive to this mm, replaces the old mapping; the old folio loses a mapping and a reference and may be
    /// freed.
    fn wp_page_copy(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        old: Option<(Pfn, usize)>,
        want: Option<Pfn>,
    ) -> Result<(), FaultError> {
        self.anon_vma_prepare(mm, vma.start);
        // do_wp_page() holds a reference on the old folio across the allocation (which may reclaim).
        if let Some((head, _)) = old {
            let f = self.folio_mut(head);
            f.refcount += 1;
            f.refs.temp += 1;
        }
        let orig = self.mm(mm).pte(addr);
        let alloc = self.alloc_charged(0, want, FolioMapping::Anon, mm);
        if let Some((head, _)) = old {
            self.folio_mut(head).refs.temp -= 1;
            self.folio_put_refs(head, 1);
        }
        let new = alloc?;
        if !self.mms.contains_key(&mm)
            || self.mm(mm).pte(addr) != orig
            || old.is_some_and(|(h, _)| !self.folios.contains_key(&h))
        {
            // !pte_same(): reclaim changed the PTE while we allocated; the fault is retried by the next event.
            self.free_folio(new);
            return Ok(());
        }
        // __wp_page_copy_user() copies the old page; the zero page's copy is a zeroed page.
        let content = old.map_or(0, |(head, idx)| self.folios[&head].pages[idx].content);
        let f = self.folio_mut(new);
        f.flags.set_uptodate();
        f.pages[0].content = content;
        match old {
            None => self.add_mm_counter(mm, MM_ANONPAGES, 1),
            Some((head, _)) if !self.folios[&head].is_anon() => {
                let c = self.mm_counter(head);
                self.add_mm_counter(mm, c, -1);
                self.add_mm_counter(mm, MM_ANONPAGES, 1);
            }
            Some(_) => {}
        }
        let w = vma.flags.contains(VmFlags::VM_WRITE);
        self.folio_add_new_anon_rmap(new, mm, addr, true, false);
        self.folio_ref_add_mapping(new, 1);
        self.folio_add_lru_vma(new, vma.flags.contains(VmFlags::VM_LOCKED));
        *self.mm_mut(mm).pte_alloc(addr).expect("PMD is not huge here") =
            Pte::Present(PresentPte { pfn: new, write: w, dirty: w, young: true, special: false });
        if let Some((head, idx)) = old {
            self.folio_remove_rmap_pte(head, idx, mm, addr);
            self.folio_put_mapping(head, 1);
            // free_swap_cache(): drop the swap cache of a folio nobody maps any more.
            if self.folios.get(&head).is_some_and(|f| f.flags.test_swapcache() && !f.mapped()) {
                self.folio_free_swap(head);
            }
        }
        Ok(())
    }

    /// `do_swap_page()` (6.12:4201; kernel-semantics §7): swap-in from the swap cache or, for a swap entry
    /// with count 1, straight into a fresh folio that bypasses the swap cache (the `SWP_SYNCHRONOUS_IO` path,
    /// "certainly exclusive"). PGMAJFAULT on a cache miss. The fault holds a reference (the lookup's or the
    /// allocation's) that becomes the mapping's.
    #[allow(clippy::too_many_arguments)]
    fn do_swap_page(
        &mut self,
        mm: MmId,
        vma: &Vma,
        addr: u64,
        entry: u64,
        swp_exclusive: bool,
        write: bool,
        want: Option<Pfn>,
    ) -> Result<(), FaultError> {
        let cached = self.swap.as_ref().and_then(|s| s.cache.get(&entry).copied());
        let (head, new_folio, bypass) = match cached {
            Some(h) => {
                self.folio_get_temp(h); // swap_cache_get_folio()'s reference
                (h, false, false)
            }
            None => {
                let bypass = self.swap.as_ref().map(|s| s.count(entry)).unwrap_or(0) == 1;
                let h = self.alloc_charged(0, want, FolioMapping::Anon, mm)?;
                // The allocation's reference, held before the folio is exposed to a batch that may drain.
                self.folio_get_temp(h);
                // swap_read_folio(): the data comes back from the slot.
                let content = self.swap.as_ref().map_or(0, |s| s.read(entry));
                let f = self.folio_mut(h);
                f.flags.set_uptodate();
                f.flags.set_swapbacked();
                f.pages[0].content = content;
                if !bypass {
                    self.add_to_swap_cache(h, entry);
                }
                self.folio_add_lru(h);
                self.count(VmEvent::PGMAJFAULT, 1);
                self.count(VmEvent::PSWPIN, 1);
                (h, true, bypass)
            }
        };
        let exclusive = bypass || swp_exclusive;
        if let Some(s) = self.swap.as_mut() {
            s.swap_free(entry);
        }
        // should_try_to_free_swap()
        let f = &self.folios[&head];
        if f.flags.test_swapcache() {
            let swap_full = self.swap.as_ref().is_some_and(|s| s.used * 2 > s.total());
            let locked = vma.flags.contains(VmFlags::VM_LOCKED) || f.flags.test_mlocked();
            if swap_full || locked || (write && f.refcount == 1 + f.nr_pages() as i32) {
                self.folio_free_swap(head);
            }
        }
        self.add_mm_counter(mm, MM_ANONPAGES, 1);
        self.add_mm_counter(mm, MM_SWAPENTS, -1);
        let exclusive = exclusive || self.folios[&head].refcount == 1;
        let w = exclusive && vma.flags.contains(VmFlags::VM_WRITE);
        // The fault's reference becomes the mapping's.
        let f = self.folio_mut(head);
        f.refs.temp -= 1;
        f.refs.mappings += 1;
        if new_folio {
            self.folio_add_new_anon_rmap(head, mm, addr, exclusive, false);
        } else {
            self.folio_add_rmap_pte(head, 0, mm, addr, exclusive);
        }
        let pte = PresentPte { pfn: head, write: w, dirty: w && write, young: true, special: false };
        *self.mm_mut(mm).pte_alloc(addr).expect("PMD is not huge here") = Pte::Present(pte);
        if write && !w {
            return self.do_wp_page(mm, vma, addr, pte, None);
        }
        Ok(())
    }

    /// `unmap_page_range()` → `zap_pmd_range()`/`zap_pte_range()` (6.12:1582; kernel-semantics §4.2) over
    /// `[start, end)` of one VMA: whole PMD THPs go to `zap_huge_pmd`, partial ones are split first; anon PTE
    /// dirtiness is dropped; rmaps are removed at once, references at the TLB flush. No `lru_add_drain` on
    /// 6.18, so folios still in a batch survive with refcount 1.
    pub(crate) fn zap_page_range(&mut self, mm: MmId, vma: &Vma, start: u64, end: u64, _kind: ZapKind) {
        let locked = vma.flags.contains(VmFlags::VM_LOCKED);
        let mut to_put: Vec<Pfn> = Vec::new();
        for (haddr, h) in self.mm(mm).huge_pmds_in(start, end) {
            if haddr >= start && haddr + HPAGE_PMD_SIZE <= end {
                self.ctx_addr = Some(haddr);
                self.mm_mut(mm).pmds.remove(&crate::mm::pmd_index(haddr).0);
                if !h.huge_zero {
                    self.add_mm_counter(mm, MM_ANONPAGES, -(HPAGE_PMD_NR as i64));
                    self.lazyfree_rss_uncharge(mm, h.pfn);
                    self.folio_remove_rmap_pmd(h.pfn, mm, haddr);
                    if locked && !self.folios[&h.pfn].mapped() {
                        self.munlock_folio(h.pfn);
                    }
                    to_put.push(h.pfn);
                }
            } else {
                self.split_huge_pmd(mm, haddr);
            }
        }
        // zap_present_folio_ptes(): consecutive PTEs mapping consecutive pages of one folio, inside one PTE
        // table (folio_pte_batch), lose their rmap in one folio_remove_rmap_ptes() call.
        let mut run: Option<(Pfn, usize, usize, u64)> = None;
        for (addr, pte) in self.mm(mm).populated_ptes(start, end) {
            self.ctx_addr = Some(addr);
            if let Some(slot) = self.mm_mut(mm).pte_mut(addr) {
                *slot = Pte::None;
            }
            let (head, idx) = match pte {
                Pte::Present(p) if !p.special => match self.folio_head(p.pfn) {
                    Some(head) => (head, (p.pfn - head) as usize),
                    None => {
                        self.diag(
                            Severity::Warning,
                            "pte-no-folio",
                            format!("zap of {addr:#x}: pfn {:#x} is not allocated", p.pfn),
                        );
                        continue;
                    }
                },
                _ => {
                    self.zap_rmap_run(run.take(), mm, locked);
                    if let Pte::Swap { entry, .. } = pte {
                        self.add_mm_counter(mm, MM_SWAPENTS, -1);
                        self.free_swap_and_cache(entry);
                    }
                    continue;
                }
            };
            let counter = self.mm_counter(head);
            self.add_mm_counter(mm, counter, -1);
            self.lazyfree_rss_uncharge(mm, head);
            if let Pte::Present(p) = pte {
                if !self.folios[&head].is_anon() && p.dirty {
                    self.folio_mut(head).flags.set_dirty();
                }
            }
            match &mut run {
                Some((h, i, n, a))
                    if *h == head
                        && *i + *n == idx
                        && *a + ((*n as u64) << PAGE_SHIFT) == addr
                        && crate::mm::pmd_index(*a).0 == crate::mm::pmd_index(addr).0 =>
                {
                    *n += 1
                }
                _ => {
                    self.zap_rmap_run(run.take(), mm, locked);
                    run = Some((head, idx, 1, addr));
                }
            }
            to_put.push(head);
        }
        self.zap_rmap_run(run.take(), mm, locked);
        // tlb_finish_mmu() → free_pages_and_swap_cache(): free_swap_cache() drops the swap cache of folios
        // nobody maps any more, then the mmu_gather drops the page references.
        for head in to_put {
            if self.folios.get(&head).is_some_and(|f| f.flags.test_swapcache() && !f.mapped()) {
                self.folio_free_swap(head);
            }
            self.folio_put_mapping(head, 1);
        }
        self.free_empty_pte_tables(mm, start, end);
    }

    /// Ends one `folio_pte_batch()` run of the zap: `folio_remove_rmap_ptes()`, then `munlock_vma_folio()` for a
    /// locked VMA whose folio is no longer mapped.
    fn zap_rmap_run(&mut self, run: Option<(Pfn, usize, usize, u64)>, mm: MmId, locked: bool) {
        let Some((head, idx, nr, addr)) = run else { return };
        self.folio_remove_rmap_ptes(head, idx, nr, mm, addr);
        if locked && !self.folios[&head].mapped() {
            self.munlock_folio(head);
        }
    }

    /// Drops PTE tables that hold no entry any more (`free_pgtables`, PT reclaim), so the PMD is none again.
    pub(crate) fn free_empty_pte_tables(&mut self, mm: MmId, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (first, _) = crate::mm::pmd_index(start);
        let (last, _) = crate::mm::pmd_index(end - 1);
        let m = self.mm_mut(mm);
        let empty: Vec<u64> = m
            .pmds
            .range(first..=last)
            .filter(|(_, s)| matches!(s, crate::mm::Pmd::Table(t) if t.iter().all(|p| *p == Pte::None)))
            .map(|(k, _)| *k)
            .collect();
        for k in empty {
            m.pmds.remove(&k);
        }
    }

    /// RSS counter member for a folio mapping kind (used by reports and checks).
    pub(crate) fn counter_for(mapping: FolioMapping) -> usize {
        match mapping {
            FolioMapping::Anon => MM_ANONPAGES,
            FolioMapping::File { .. } => MM_FILEPAGES,
            FolioMapping::Shmem { .. } => MM_SHMEMPAGES,
        }
    }
}
