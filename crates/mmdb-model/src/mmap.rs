//! Address-space syscalls (mm/mmap.c, mm/vma.c, mm/mprotect.c, mm/mremap.c): mmap, munmap, mprotect, mremap,
//! brk, with VMA split and merge and top-down `get_unmapped_area`.

use crate::consts::*;
use crate::event::{FileRef, Pid};
use crate::flags::VmFlags;
use crate::folio::MmId;
use crate::memory::ZapKind;
use crate::mm::{pmd_index, Pmd, Pte, Vma};
use crate::model::Model;

impl Model {
    /// `calc_vm_prot_bits()` | `calc_vm_flag_bits()` plus the `VM_MAY*` bits `do_mmap` adds, and `VM_ACCOUNT`
    /// for a private writable mapping (`accountable_mapping()`, 6.12:mm/mmap.c): it stays when `mprotect` later
    /// drops the write bit, so an ELF's RELRO range never merges with the read-only segment before it.
    fn vm_flags_for(prot: u64, flags: u64) -> VmFlags {
        let mut f = VmFlags(0);
        if prot & PROT_READ != 0 {
            f.insert(VmFlags::VM_READ);
        }
        if prot & PROT_WRITE != 0 {
            f.insert(VmFlags::VM_WRITE);
        }
        if prot & PROT_EXEC != 0 {
            f.insert(VmFlags::VM_EXEC);
        }
        f.insert(VmFlags::VM_MAYREAD | VmFlags::VM_MAYWRITE | VmFlags::VM_MAYEXEC);
        if flags & MAP_SHARED != 0 {
            f.insert(VmFlags::VM_SHARED | VmFlags::VM_MAYSHARE);
        }
        if flags & MAP_LOCKED != 0 {
            f.insert(VmFlags::VM_LOCKED);
        }
        if flags & MAP_NORESERVE != 0 {
            f.insert(VmFlags::VM_NORESERVE);
        } else if flags & MAP_SHARED == 0 && prot & PROT_WRITE != 0 {
            f.insert(VmFlags::VM_ACCOUNT);
        }
        f
    }

    /// `get_unmapped_area()`: the hint if it is free, else the highest free gap below `mmap_base`
    /// (`vm_unmapped_area` top-down), aligned to 2 MiB for anonymous lengths that are a multiple of it
    /// (`__thp_get_unmapped_area`).
    pub(crate) fn get_unmapped_area(&self, mm: MmId, hint: Option<u64>, len: u64, align: u64) -> Option<u64> {
        let m = self.mm(mm);
        let free = |start: u64| -> bool {
            start.checked_add(len).is_some_and(|end| end <= TASK_SIZE)
                && m.vmas.range(..start.saturating_add(len)).next_back().is_none_or(|(_, v)| v.end <= start)
        };
        if let Some(h) = hint.filter(|h| *h != 0) {
            let h = h & !(PAGE_SIZE - 1);
            if h >= 0x10000 && free(h) {
                return Some(h);
            }
        }
        let mut high = m.mmap_base;
        let mut iter = m.vmas.range(..m.mmap_base).rev().peekable();
        loop {
            let low = iter.peek().map(|(_, v)| v.end).unwrap_or(0x10000);
            if high >= len {
                let cand = (high - len) & !(align - 1);
                if cand >= low && cand >= 0x10000 && free(cand) {
                    return Some(cand);
                }
            }
            match iter.next() {
                Some((_, v)) => high = high.min(v.start),
                None => return None,
            }
        }
    }

    /// `do_mmap()` → `mmap_region()`. MAP_SHARED|MAP_ANONYMOUS creates a shmem object.
    pub(crate) fn do_mmap(
        &mut self,
        pid: Pid,
        addr: Option<u64>,
        len: u64,
        prot: u64,
        flags: u64,
        file: Option<&FileRef>,
    ) -> i64 {
        let Some(mm) = self.task_mm(pid) else {
            return -EINVAL;
        };
        if len == 0 {
            return -EINVAL;
        }
        let len = page_align(len);
        if len == 0 || len > TASK_SIZE {
            return -ENOMEM;
        }
        let map_type = flags & (MAP_SHARED | MAP_PRIVATE);
        if map_type == 0 || map_type == (MAP_SHARED | MAP_PRIVATE) {
            return -EINVAL;
        }
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        if fixed && addr.is_none_or(|a| a % PAGE_SIZE != 0) {
            return -EINVAL;
        }
        let anon = flags & MAP_ANONYMOUS != 0 || file.is_none();
        let mut vm_flags = Self::vm_flags_for(prot, flags);
        let (file_id, pgoff) = match (anon, file) {
            (false, Some(f)) => (Some(self.file_id(&f.name, false)), f.offset >> PAGE_SHIFT),
            _ if flags & MAP_SHARED != 0 => {
                let n = self.files.len();
                let id = self.file_id(&format!("/dev/zero (deleted) #{n}"), true);
                self.files[id as usize].unlinked = true;
                (Some(id), 0)
            }
            _ => (None, 0),
        };
        let start = if fixed {
            let a = addr.unwrap_or(0);
            if a.checked_add(len).is_none_or(|e| e > TASK_SIZE) {
                return -ENOMEM;
            }
            if flags & MAP_FIXED_NOREPLACE != 0 {
                if self.mm(mm).vmas.range(..a + len).next_back().is_some_and(|(_, v)| v.end > a) {
                    return -EEXIST;
                }
            } else {
                self.do_vmi_munmap(mm, a, len);
            }
            a
        } else {
            let align =
                if file_id.is_none() && len.is_multiple_of(HPAGE_PMD_SIZE) { HPAGE_PMD_SIZE } else { PAGE_SIZE };
            match self.get_unmapped_area(mm, addr, len, align) {
                Some(a) => a,
                None => return -ENOMEM,
            }
        };
        if file_id.is_some() && flags & MAP_SHARED == 0 {
            // Private file mappings: VM_MAYWRITE stays, VM_SHARED does not.
            vm_flags.remove(VmFlags::VM_SHARED | VmFlags::VM_MAYSHARE);
        }
        let vma = Vma {
            start,
            end: start + len,
            flags: vm_flags,
            pgoff: if file_id.is_some() { pgoff } else { start >> PAGE_SHIFT },
            file: file_id,
            anon_vma: None,
            special_name: None,
        };
        self.mm_mut(mm).vmas.insert(start, vma);
        self.vma_merge_around(mm, start, start + len);
        if flags & MAP_POPULATE != 0 || vm_flags.contains(VmFlags::VM_LOCKED) {
            self.populate_range(mm, start, start + len);
        }
        start as i64
    }

    /// `__split_vma()`: splits the VMA containing `addr` so that a VMA starts at `addr`. A huge PMD that
    /// straddles the split is split first (`vma_adjust_trans_huge`).
    pub(crate) fn split_vma(&mut self, mm: MmId, addr: u64) {
        let Some(v) = self.mm(mm).vma_lookup(addr).cloned() else {
            return;
        };
        if v.start == addr {
            return;
        }
        if !addr.is_multiple_of(HPAGE_PMD_SIZE) && self.mm(mm).huge_pmd(addr).is_some() {
            self.split_huge_pmd(mm, addr);
        }
        let m = self.mm_mut(mm);
        let mut hi = v.clone();
        hi.start = addr;
        hi.pgoff = v.pgoff + ((addr - v.start) >> PAGE_SHIFT);
        m.vmas.get_mut(&v.start).expect("vma vanished").end = addr;
        m.vmas.insert(addr, hi);
    }

    /// `vma_merge()`: merges VMAs around `[start, end)` with compatible neighbours (same flags, same file at
    /// contiguous offsets, compatible anon_vmas).
    pub(crate) fn vma_merge_around(&mut self, mm: MmId, start: u64, end: u64) {
        let m = self.mm_mut(mm);
        let keys: Vec<u64> = m.vmas.range(..=end).rev().take_while(|(_, v)| v.end >= start).map(|(k, _)| *k).collect();
        let mut keys = keys;
        keys.sort_unstable();
        if let Some(first) = keys.first().copied() {
            if let Some((&p, _)) = m.vmas.range(..first).next_back() {
                keys.insert(0, p);
            }
        }
        let mut i = 0;
        while i + 1 < keys.len() {
            let (a, b) = (keys[i], keys[i + 1]);
            let (Some(va), Some(vb)) = (m.vmas.get(&a).cloned(), m.vmas.get(&b).cloned()) else {
                i += 1;
                continue;
            };
            let compatible = va.end == vb.start
                && va.flags == vb.flags
                && va.file == vb.file
                && va.special_name == vb.special_name
                && va.pgoff + ((va.end - va.start) >> PAGE_SHIFT) == vb.pgoff
                && (va.anon_vma.is_none() || vb.anon_vma.is_none() || va.anon_vma == vb.anon_vma);
            if compatible {
                let merged = m.vmas.get_mut(&a).expect("vma vanished");
                merged.end = vb.end;
                merged.anon_vma = va.anon_vma.or(vb.anon_vma);
                m.vmas.remove(&b);
                keys.remove(i + 1);
            } else {
                i += 1;
            }
        }
    }

    /// `do_vmi_munmap()`: split at both ends, zap and remove every VMA inside `[start, start+len)`.
    pub(crate) fn do_vmi_munmap(&mut self, mm: MmId, start: u64, len: u64) {
        let end = start + len;
        self.split_vma(mm, start);
        self.split_vma(mm, end);
        let inside: Vec<Vma> = self.mm(mm).vmas.range(start..end).map(|(_, v)| v.clone()).collect();
        for v in &inside {
            self.zap_page_range(mm, v, v.start, v.end, ZapKind::Munmap);
            self.mm_mut(mm).vmas.remove(&v.start);
        }
        self.free_empty_pte_tables(mm, start, end);
        self.release_unlinked_files(inside.iter().filter_map(|v| v.file).collect());
    }

    /// The last `fput()` of an unlinked shmem object ([`crate::model::FileObj::unlinked`]): when no VMA of any mm
    /// refers to it any more, `shmem_evict_inode()` truncates it (`shmem_undo_range()` → `filemap_remove_folio()`
    /// drops the page cache's reference, and a folio nobody else holds is freed).
    pub(crate) fn release_unlinked_files(&mut self, mut candidates: Vec<crate::folio::FileId>) {
        candidates.sort_unstable();
        candidates.dedup();
        for file in candidates {
            let f = &self.files[file as usize];
            if !f.unlinked || f.pages.is_empty() {
                continue;
            }
            let mapped = self.mms.values().any(|m| m.vmas.values().any(|v| v.file == Some(file)));
            if mapped {
                continue;
            }
            let pages = std::mem::take(&mut self.files[file as usize].pages);
            self.files[file as usize].data.clear();
            for head in pages.into_values() {
                if !self.folios.contains_key(&head) {
                    continue;
                }
                self.touch(head);
                self.folio_mut(head).refs.pagecache -= 1;
                self.folio_put_refs(head, 1);
            }
        }
    }

    /// `munmap()`.
    pub(crate) fn do_munmap_syscall(&mut self, pid: Pid, addr: u64, len: u64) -> i64 {
        let Some(mm) = self.task_mm(pid) else {
            return -EINVAL;
        };
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
            return -EINVAL;
        }
        let len = page_align(len);
        if len == 0 || addr.checked_add(len).is_none_or(|e| e > TASK_SIZE) {
            return -EINVAL;
        }
        self.ctx_addr = Some(addr);
        self.do_vmi_munmap(mm, addr, len);
        0
    }

    /// Splits VMAs so `[start, end)` is covered by whole VMAs; returns them, or None if a gap exists.
    fn vmas_covering(&mut self, mm: MmId, start: u64, end: u64) -> Option<Vec<Vma>> {
        let mut cur = start;
        for (_, v) in self.mm(mm).vmas.range(..end) {
            if v.end <= cur {
                continue;
            }
            if v.start > cur {
                return None;
            }
            cur = v.end;
        }
        if cur < end {
            return None;
        }
        self.split_vma(mm, start);
        self.split_vma(mm, end);
        Some(self.mm(mm).vmas.range(start..end).map(|(_, v)| v.clone()).collect())
    }

    /// `mprotect()` → `mprotect_fixup()` → `change_protection()`: removing write write-protects every PTE;
    /// adding it makes exclusive anon pages writable again (`can_change_pte_writable`).
    pub(crate) fn do_mprotect(&mut self, pid: Pid, addr: u64, len: u64, prot: u64) -> i64 {
        let Some(mm) = self.task_mm(pid) else {
            return -EINVAL;
        };
        if !addr.is_multiple_of(PAGE_SIZE) || prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
            return -EINVAL;
        }
        let len = page_align(len);
        if len == 0 {
            return 0;
        }
        let end = addr.saturating_add(len);
        self.ctx_addr = Some(addr);
        let Some(vmas) = self.vmas_covering(mm, addr, end) else {
            return -ENOMEM;
        };
        for v in vmas {
            let mut nf = v.flags;
            nf.remove(VmFlags::VM_READ | VmFlags::VM_WRITE | VmFlags::VM_EXEC);
            nf.insert(Self::vm_flags_for(prot, 0) & (VmFlags::VM_READ | VmFlags::VM_WRITE | VmFlags::VM_EXEC));
            // mprotect_fixup(): making a private mapping writable charges it; dropping the write bit does not
            // uncharge it.
            if nf.contains(VmFlags::VM_WRITE) && !nf.contains(VmFlags::VM_SHARED) && !nf.contains(VmFlags::VM_NORESERVE)
            {
                nf.insert(VmFlags::VM_ACCOUNT);
            }
            self.mm_mut(mm).vmas.get_mut(&v.start).expect("vma vanished").flags = nf;
            let private = !nf.contains(VmFlags::VM_SHARED);
            let writable = nf.contains(VmFlags::VM_WRITE);
            for (haddr, _) in self.mm(mm).huge_pmds_in(v.start, v.end) {
                let head_excl = self
                    .mm(mm)
                    .huge_pmd(haddr)
                    .and_then(|h| self.folios.get(&h.pfn))
                    .is_some_and(|f| f.pages[0].anon_exclusive);
                if let Some(Pmd::Huge(h)) = self.mm_mut(mm).pmds.get_mut(&pmd_index(haddr).0) {
                    h.write = writable && !h.huge_zero && (!private || head_excl);
                }
            }
            for (a, pte) in self.mm(mm).populated_ptes(v.start, v.end) {
                let Pte::Present(p) = pte else { continue };
                let can_write = writable
                    && !p.special
                    && if private {
                        self.folio(p.pfn)
                            .is_some_and(|f| f.is_anon() && f.pages[(p.pfn - f.pfn) as usize].anon_exclusive)
                    } else {
                        p.dirty
                    };
                if let Some(Pte::Present(pp)) = self.mm_mut(mm).pte_mut(a) {
                    pp.write = if writable { pp.write || can_write } else { false };
                }
            }
        }
        self.vma_merge_around(mm, addr, end);
        0
    }

    /// `mremap()`: shrink (unmap the tail), grow in place, or move (`move_vma` → `move_page_tables`: PTEs move
    /// with no refcount, mapcount or RSS change; the rmap follows).
    pub(crate) fn do_mremap(
        &mut self,
        pid: Pid,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: Option<u64>,
    ) -> i64 {
        let Some(mm) = self.task_mm(pid) else {
            return -EINVAL;
        };
        if !addr.is_multiple_of(PAGE_SIZE) || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            return -EINVAL;
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return -EINVAL;
        }
        let old_len = page_align(old_len);
        let new_len = page_align(new_len);
        if new_len == 0 || new_len > TASK_SIZE || old_len > TASK_SIZE {
            return -EINVAL;
        }
        self.ctx_addr = Some(addr);
        let Some(vma) = self.mm(mm).vma_lookup(addr).cloned() else {
            return -EFAULT;
        };
        // From here every sum stays below 2 * TASK_SIZE: addr lies inside a VMA.
        if old_len > vma.end - addr {
            return -EFAULT;
        }
        if flags & MREMAP_FIXED != 0 {
            let Some(target) = new_addr.filter(|t| t % PAGE_SIZE == 0 && *t <= TASK_SIZE - new_len) else {
                return -EINVAL;
            };
            if new_len < old_len {
                self.do_vmi_munmap(mm, addr + new_len, old_len - new_len);
            }
            self.do_vmi_munmap(mm, target, new_len);
            return self.move_vma(mm, addr, old_len.min(new_len), target, new_len, flags & MREMAP_DONTUNMAP != 0);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.do_vmi_munmap(mm, addr + new_len, old_len - new_len);
            }
            return addr as i64;
        }
        let grow_end = addr + new_len;
        let room = addr + old_len == vma.end
            && grow_end <= TASK_SIZE
            && self.mm(mm).vmas.range(vma.end..grow_end).next().is_none();
        if room {
            self.mm_mut(mm).vmas.get_mut(&vma.start).expect("vma vanished").end = grow_end;
            self.vma_merge_around(mm, vma.start, grow_end);
            if vma.flags.contains(VmFlags::VM_LOCKED) {
                self.populate_range(mm, addr + old_len, grow_end);
            }
            return addr as i64;
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return -ENOMEM;
        }
        let align =
            if vma.file.is_none() && new_len.is_multiple_of(HPAGE_PMD_SIZE) { HPAGE_PMD_SIZE } else { PAGE_SIZE };
        let Some(target) = self.get_unmapped_area(mm, None, new_len, align) else {
            return -ENOMEM;
        };
        self.move_vma(mm, addr, old_len, target, new_len, flags & MREMAP_DONTUNMAP != 0)
    }

    /// `move_vma()`: a new VMA at `to` with the old one's flags, anon_vma and pgoff; page tables move over.
    fn move_vma(&mut self, mm: MmId, from: u64, old_len: u64, to: u64, new_len: u64, dontunmap: bool) -> i64 {
        self.split_vma(mm, from);
        self.split_vma(mm, from + old_len);
        let Some(old) = self.mm(mm).vma_lookup(from).cloned() else {
            return -EFAULT;
        };
        let mut nv = old.clone();
        nv.start = to;
        nv.end = to + new_len;
        self.mm_mut(mm).vmas.insert(to, nv);
        // Huge PMDs move whole when both ends are PMD aligned (move_huge_pmd); otherwise they are split.
        for (haddr, _) in self.mm(mm).huge_pmds_in(from, from + old_len) {
            let dst = to + (haddr - from);
            if haddr % HPAGE_PMD_SIZE == 0
                && dst.is_multiple_of(HPAGE_PMD_SIZE)
                && haddr + HPAGE_PMD_SIZE <= from + old_len
            {
                if let Some(Pmd::Huge(h)) = self.mm_mut(mm).pmds.remove(&pmd_index(haddr).0) {
                    self.mm_mut(mm).pmds.insert(pmd_index(dst).0, Pmd::Huge(h));
                    if !h.huge_zero {
                        self.rmap_move(h.pfn, mm, haddr, dst);
                    }
                }
            } else {
                self.split_huge_pmd(mm, haddr);
            }
        }
        for (a, pte) in self.mm(mm).populated_ptes(from, from + old_len) {
            let dst = to + (a - from);
            if let Some(s) = self.mm_mut(mm).pte_mut(a) {
                *s = Pte::None;
            }
            if let Some(s) = self.mm_mut(mm).pte_alloc(dst) {
                *s = pte;
            }
            if let Pte::Present(p) = pte {
                if !p.special {
                    if let Some(head) = self.folio_head(p.pfn) {
                        self.rmap_move(head, mm, a, dst);
                    }
                }
            }
        }
        self.free_empty_pte_tables(mm, from, from + old_len);
        if !dontunmap {
            self.mm_mut(mm).vmas.remove(&from);
        }
        self.vma_merge_around(mm, to, to + new_len);
        to as i64
    }

    /// `move_ptes()` keeps the anon rmap valid through `vm_pgoff`; the model stores addresses, so it moves them.
    fn rmap_move(&mut self, head: u64, mm: MmId, from: u64, to: u64) {
        let f = self.folio_mut(head);
        if let Some(r) = f.rmap.iter_mut().find(|r| r.mm == mm && r.addr == from) {
            r.addr = to;
        }
    }

    /// `brk()`: grows or shrinks the `[heap]` VMA; returns the new break, or the old one on failure.
    pub(crate) fn do_brk(&mut self, pid: Pid, brk: u64) -> i64 {
        let Some(mm) = self.task_mm(pid) else {
            return -EINVAL;
        };
        let (start_brk, cur) = (self.mm(mm).start_brk, self.mm(mm).brk);
        if brk < start_brk || brk > TASK_SIZE {
            return cur as i64;
        }
        let newbrk = page_align(brk);
        let oldbrk = page_align(cur);
        if newbrk == oldbrk {
            self.mm_mut(mm).brk = brk;
            return brk as i64;
        }
        if newbrk < oldbrk {
            self.ctx_addr = Some(newbrk);
            self.do_vmi_munmap(mm, newbrk, oldbrk - newbrk);
            self.mm_mut(mm).brk = brk;
            return brk as i64;
        }
        if self.mm(mm).vmas.range(..newbrk).next_back().is_some_and(|(_, v)| v.end > oldbrk) {
            return cur as i64;
        }
        let heap = self
            .mm(mm)
            .vmas
            .range(..oldbrk)
            .next_back()
            .map(|(_, v)| v.clone())
            .filter(|v| v.end == oldbrk && v.special_name.as_deref() == Some("[heap]"));
        match heap {
            Some(h) => self.mm_mut(mm).vmas.get_mut(&h.start).expect("vma vanished").end = newbrk,
            None => {
                let flags = Self::vm_flags_for(PROT_READ | PROT_WRITE, MAP_PRIVATE);
                let v = Vma {
                    start: oldbrk,
                    end: newbrk,
                    flags,
                    pgoff: oldbrk >> PAGE_SHIFT,
                    file: None,
                    anon_vma: None,
                    special_name: Some("[heap]".into()),
                };
                self.mm_mut(mm).vmas.insert(oldbrk, v);
            }
        }
        self.mm_mut(mm).brk = brk;
        brk as i64
    }

    /// `populate_vma_page_range()` via GUP: faults every page of `[start, end)` (a write fault for private
    /// writable mappings), counting PGFAULT but firing no exception tracepoint, then `lru_add_drain()`
    /// (6.12:mm/gup.c:1937).
    pub(crate) fn populate_range(&mut self, mm: MmId, start: u64, end: u64) {
        let mut addr = start;
        while addr < end && self.mms.contains_key(&mm) {
            let Some(vma) = self.mm(mm).vma_lookup(addr).cloned() else {
                addr += PAGE_SIZE;
                continue;
            };
            let write = vma.flags.0 & (VmFlags::VM_WRITE.0 | VmFlags::VM_SHARED.0) == VmFlags::VM_WRITE.0;
            self.ctx_addr = Some(addr);
            let present = match self.mm(mm).huge_pmd(addr) {
                Some(h) => !write || h.write,
                None => matches!(self.mm(mm).pte(addr), Some(Pte::Present(p)) if !write || p.write),
            };
            if !present {
                self.count(crate::vmstat::VmEvent::PGFAULT, 1);
                if self.handle_mm_fault(mm, &vma, addr, write, None).is_err() {
                    break;
                }
            }
            // follow_page_pte() with FOLL_TOUCH: mark_page_accessed() on the page GUP returns.
            let pfn = match self.lookup_mm(mm, addr) {
                Some(Pte::Present(p)) if !p.special => self.folio_head(p.pfn),
                _ => None,
            };
            if let Some(head) = pfn {
                self.folio_mark_accessed(head);
            }
            addr += PAGE_SIZE;
        }
        self.lru_add_drain();
    }
}

impl std::ops::BitAnd for VmFlags {
    type Output = VmFlags;
    fn bitand(self, rhs: VmFlags) -> VmFlags {
        VmFlags(self.0 & rhs.0)
    }
}
