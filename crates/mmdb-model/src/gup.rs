//! GUP (mm/gup.c): the kernel reaching a user page on a task's behalf, as exec's `get_arg_page()` does when
//! `copy_strings()` fills the new stack.

use crate::consts::EFAULT;
use crate::event::{Access, Pid};
use crate::mm::Pte;
use crate::model::Model;

impl Model {
    /// `get_user_pages_remote(mm, addr, 1, write ? FOLL_WRITE : 0)` for one page, which adds `FOLL_TOUCH`
    /// (6.12:mm/gup.c:2706). `__get_user_pages()` faults the page in (`faultin_page()` → `handle_mm_fault()`)
    /// when `follow_page_mask()` finds no PTE it may use; then `follow_page_pte()` (6.12:mm/gup.c:932) marks a
    /// page dirty for a write through a clean PTE and calls `mark_page_accessed()`, so a page reached twice is
    /// activated. Returns 0, or `-EFAULT` when no page could be mapped.
    pub(crate) fn gup_one(&mut self, pid: Pid, addr: u64, write: bool) -> i64 {
        let usable = |m: &Model| matches!(m.lookup(pid, addr), Some(Pte::Present(p)) if !write || p.write);
        if !usable(self) {
            self.user_fault(pid, addr, if write { Access::Write } else { Access::Read }, None);
            if !usable(self) {
                return -EFAULT;
            }
        }
        let Some(Pte::Present(p)) = self.lookup(pid, addr) else { return -EFAULT };
        // The zero page and other special PTEs are not folios the LRU knows.
        let Some(head) = self.folio_head(p.pfn).filter(|_| !p.special) else { return 0 };
        if let Some(mm) = self.task_mm(pid) {
            self.lazyfree_rss_uncharge(mm, head);
        }
        if write && !p.dirty && !self.folios[&head].flags.test_dirty() {
            self.folio_mut(head).flags.set_dirty();
        }
        self.folio_mark_accessed(head);
        0
    }
}
