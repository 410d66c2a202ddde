//! Process lifecycle: spawn, fork (`dup_mmap` → `copy_page_range` → `copy_present_ptes`), exec, exit
//! (`exit_mmap`) (kernel-semantics §4.1, §4.3, §4.4).

use crate::consts::*;
use crate::event::Pid;
use crate::flags::VmFlags;
use crate::folio::MmId;
use crate::memory::ZapKind;
use crate::mm::{pmd_index, MmStruct, Pmd, Pte, Task, MM_SWAPENTS};
use crate::model::Model;
use crate::report::Severity;

impl Model {
    /// `mm_alloc()`: an empty mm with the next `mm_id`, one user, the default break and mmap base.
    pub(crate) fn new_mm(&mut self, owner: Pid, memcg: u32) -> MmId {
        let id = self.next_mm_id;
        self.next_mm_id += 1;
        let mm = MmStruct {
            id,
            users: 1,
            owner,
            start_brk: START_BRK,
            brk: START_BRK,
            memcg,
            mmap_base: MMAP_BASE,
            ..Default::default()
        };
        self.mms.insert(id, mm);
        id
    }

    /// A process the model did not see being born: a task with a fresh, empty mm in the root memcg.
    pub(crate) fn spawn(&mut self, pid: Pid, comm: &str) -> Option<i64> {
        if self.tasks.contains_key(&pid) {
            self.diag(Severity::Warning, "pid-exists", format!("spawn of pid {pid}, which already exists"));
            return Some(-EEXIST);
        }
        let mm = self.new_mm(pid, 0);
        self.tasks.insert(pid, Task { pid, tgid: pid, comm: comm.to_string(), mm: Some(mm) });
        Some(0)
    }

    /// `kernel_clone()`: a thread shares the mm (`CLONE_VM`); a process gets a copy made by `dup_mmap()`.
    ///
    /// With `vm` (`CLONE_VM`) the child shares the parent's mm: in the parent's thread group with `thread`
    /// (`CLONE_THREAD`), in a group of its own without (`vfork()`).
    pub(crate) fn fork(&mut self, parent: Pid, child: Pid, thread: bool, vm: bool, comm: &str) -> Option<i64> {
        if self.tasks.contains_key(&child) {
            self.diag(Severity::Warning, "pid-exists", format!("fork of pid {child}, which already exists"));
            return Some(-EEXIST);
        }
        let p = self.tasks[&parent].clone();
        let comm = if comm.is_empty() || comm == "<...>" { p.comm.clone() } else { comm.to_string() };
        let Some(pmm) = p.mm else {
            self.diag(Severity::Warning, "no-mm", format!("fork by pid {parent}, which has no mm"));
            return Some(-EINVAL);
        };
        if vm {
            self.mm_mut(pmm).users += 1;
            let tgid = if thread { p.tgid } else { child };
            self.tasks.insert(child, Task { pid: child, tgid, comm, mm: Some(pmm) });
            return Some(child as i64);
        }
        let memcg = self.mm(pmm).memcg;
        let cmm = self.new_mm(child, memcg);
        self.tasks.insert(child, Task { pid: child, tgid: child, comm, mm: Some(cmm) });
        self.dup_mmap(pmm, cmm);
        Some(child as i64)
    }

    /// `dup_mmap()` (6.12:kernel/fork.c:641): copies VMAs (dropping `VM_DONTCOPY`, clearing `VM_LOCKED`),
    /// gives each child VMA a new anon_vma, and copies page tables only where `vma_needs_copy()`.
    fn dup_mmap(&mut self, pmm: MmId, cmm: MmId) {
        let (brk, start_brk, base) = {
            let p = self.mm(pmm);
            (p.brk, p.start_brk, p.mmap_base)
        };
        {
            let c = self.mm_mut(cmm);
            c.brk = brk;
            c.start_brk = start_brk;
            c.mmap_base = base;
        }
        let vmas: Vec<_> = self.mm(pmm).vmas.values().cloned().collect();
        for vma in vmas {
            if vma.flags.contains(VmFlags::VM_DONTCOPY) {
                continue;
            }
            let mut child_vma = vma.clone();
            child_vma.flags.remove(VmFlags::VM_LOCKED);
            if vma.anon_vma.is_some() {
                self.next_anon_vma += 1;
                child_vma.anon_vma = Some(self.next_anon_vma - 1);
            }
            self.mm_mut(cmm).vmas.insert(child_vma.start, child_vma.clone());
            if vma.anon_vma.is_none() {
                continue;
            }
            self.copy_page_range(pmm, cmm, &vma);
        }
    }

    /// `copy_page_range()` → `copy_pte_range()`/`copy_huge_pmd()` for one VMA.
    fn copy_page_range(&mut self, pmm: MmId, cmm: MmId, vma: &crate::mm::Vma) {
        let cow = vma.is_cow_mapping();
        let shared = vma.flags.contains(VmFlags::VM_SHARED);
        for (haddr, h) in self.mm(pmm).huge_pmds_in(vma.start, vma.end) {
            self.ctx_addr = Some(haddr);
            let mut ch = h;
            if h.huge_zero {
                self.mm_mut(cmm).huge_zero_ref = true;
            } else {
                // copy_huge_pmd(): folio_get, folio_try_dup_anon_rmap_pmd (clears PageAnonExclusive),
                // write-protect both, child PMD old, MM_ANONPAGES += 512 in the child.
                self.lazyfree_rss_fork(pmm, cmm, h.pfn, h.dirty);
                self.folio_ref_add_mapping(h.pfn, 1);
                self.set_page_anon_exclusive(h.pfn, 0, false);
                self.folio_add_rmap_pmd(h.pfn, cmm, haddr);
                if let Some(Pmd::Huge(ph)) = self.mm_mut(pmm).pmds.get_mut(&pmd_index(haddr).0) {
                    ph.write = false;
                }
                ch.write = false;
                self.add_mm_counter(cmm, crate::mm::MM_ANONPAGES, HPAGE_PMD_NR as i64);
            }
            ch.young = false;
            self.mm_mut(cmm).pmds.insert(pmd_index(haddr).0, Pmd::Huge(ch));
        }
        for (addr, pte) in self.mm(pmm).populated_ptes(vma.start, vma.end) {
            self.ctx_addr = Some(addr);
            let child_pte = match pte {
                Pte::None => continue,
                Pte::Present(mut p) => {
                    if !p.special {
                        let Some(head) = self.folio_head(p.pfn) else {
                            self.diag(
                                Severity::Warning,
                                "pte-no-folio",
                                format!("fork: PTE at {addr:#x} maps unallocated pfn {:#x}", p.pfn),
                            );
                            continue;
                        };
                        let idx = (p.pfn - head) as usize;
                        // copy_present_ptes(): folio_get + folio_try_dup_anon_rmap_pte / folio_dup_file_rmap_pte.
                        self.folio_ref_add_mapping(head, 1);
                        if self.folios[&head].is_anon() {
                            self.set_page_anon_exclusive(head, idx, false);
                            self.lazyfree_rss_fork(pmm, cmm, head, p.dirty);
                        }
                        self.folio_add_rmap_pte(head, idx, cmm, addr, false);
                        let c = self.mm_counter(head);
                        self.add_mm_counter(cmm, c, 1);
                    }
                    if cow && p.write {
                        if let Some(Pte::Present(pp)) = self.mm_mut(pmm).pte_mut(addr) {
                            pp.write = false;
                        }
                        p.write = false;
                    }
                    if shared {
                        p.dirty = false;
                    }
                    p.young = false;
                    Pte::Present(p)
                }
                Pte::Swap { entry, .. } => {
                    // copy_nonpresent_pte(): swap_duplicate, the parent loses swp_exclusive.
                    if let Some(s) = self.swap.as_mut() {
                        s.swap_duplicate(entry);
                    }
                    if let Some(Pte::Swap { exclusive, .. }) = self.mm_mut(pmm).pte_mut(addr) {
                        *exclusive = false;
                    }
                    self.add_mm_counter(cmm, MM_SWAPENTS, 1);
                    Pte::Swap { entry, exclusive: false }
                }
                Pte::Vrange => {
                    // vrange-v7's `copy_one_pte()` did not know its own purge mark (seed 002: "I should have
                    // handled it in copy_one_pte. I guess the bug might cause OOM kill for parent by wrong rss
                    // count"). Not present and not `pte_file()`, the mark reads as swap entry 0 (type 0, offset
                    // 0): `swap_duplicate()` fails quietly and the child counts an MM_SWAPENTS it will never
                    // give back (zap skips the mark), then gets the mark. The fix, in the series' June 2013
                    // repost ("vrange: Send SIGBUS when user try to access purged page"), tests `!pte_vrange()`
                    // first; with it only the mark is copied.
                    self.add_mm_counter(cmm, MM_SWAPENTS, 1);
                    Pte::Vrange
                }
            };
            if let Some(slot) = self.mm_mut(cmm).pte_alloc(addr) {
                *slot = child_pte;
            }
        }
    }

    /// `execve()`: the other threads of the group exit (`de_thread`), the task gets a fresh mm, and the old
    /// one is released (`exec_mmap` → `mmput` → `exit_mmap` when it was the last user).
    pub(crate) fn exec(&mut self, pid: Pid, filename: &str) -> Option<i64> {
        let t = self.tasks[&pid].clone();
        let others: Vec<Pid> =
            self.tasks.values().filter(|o| o.tgid == t.tgid && o.pid != pid).map(|o| o.pid).collect();
        for o in others {
            self.do_exit(o);
        }
        let memcg = t.mm.map(|m| self.mm(m).memcg).unwrap_or(0);
        let new = self.new_mm(pid, memcg);
        let task = self.tasks.get_mut(&pid).expect("exec of a vanished task");
        task.mm = Some(new);
        task.tgid = pid;
        if !filename.is_empty() {
            self.set_task_comm(pid, filename.rsplit('/').next().unwrap_or(filename));
        }
        if let Some(old) = t.mm {
            self.mmput(old);
        }
        Some(0)
    }

    /// `__set_task_comm()`: the name, cut to `TASK_COMM_LEN - 1` (15) bytes' worth of characters.
    pub(crate) fn set_task_comm(&mut self, pid: Pid, comm: &str) {
        if let Some(task) = self.tasks.get_mut(&pid) {
            task.comm = comm.chars().take(15).collect();
        }
    }

    /// `do_exit()`: `exit_mm()` → `mmput()`; the task is reaped.
    pub(crate) fn do_exit(&mut self, pid: Pid) {
        let Some(t) = self.tasks.remove(&pid) else {
            return;
        };
        if let Some(mm) = t.mm {
            self.mmput(mm);
        }
    }

    /// `mmput()`: drops a user; the last one runs `exit_mmap()`.
    pub(crate) fn mmput(&mut self, mm: MmId) {
        let m = self.mm_mut(mm);
        m.users -= 1;
        if m.users == 0 {
            self.exit_mmap(mm);
        }
    }

    /// `exit_mmap()` (6.12:mm/mmap.c:1916): zaps every VMA (no `lru_add_drain` on 6.18), frees the page tables
    /// and the VMAs (the last `fput()` of an unlinked shmem object truncates it), drops the huge zero folio
    /// reference, and frees the mm, after `check_mm()`: a counter that is not back to zero is a kernel bug
    /// ("BUG: Bad rss-counter state").
    fn exit_mmap(&mut self, mm: MmId) {
        let vmas: Vec<_> = self.mm(mm).vmas.values().cloned().collect();
        for vma in &vmas {
            self.zap_page_range(mm, vma, vma.start, vma.end, ZapKind::Exit);
        }
        let rss = self.mm(mm).rss;
        for (name, val) in crate::mm::RSS_COUNTER_NAMES.iter().zip(rss).filter(|(_, v)| *v != 0) {
            let message = format!("BUG: Bad rss-counter state mm:{mm} type:{name} val:{val}");
            self.diag(Severity::Warning, "bad-rss-counter", message);
        }
        self.mms.remove(&mm);
        self.release_unlinked_files(vmas.iter().filter_map(|v| v.file).collect());
    }
}
