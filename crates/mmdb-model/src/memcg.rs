//! Memory cgroups (mm/memcontrol.c, v1 semantics): charging at allocation, reclaim inside the limit, and the
//! memcg OOM killer (kernel-semantics §11.1).

use crate::consts::*;
use crate::event::Pid;
use crate::model::Model;
use crate::report::Severity;
use crate::vmstat::VmEvent;

/// One memory cgroup: its limit and `page_counter` usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memcg {
    pub id: u32,
    /// `memory.limit_in_bytes` in pages; 0 = unlimited.
    pub limit: u64,
    pub usage: u64,
    pub max_usage: u64,
    pub reclaims: u64,
    pub oom_kills: u64,
    /// Kernel pages charged (`memory.kmem.usage_in_bytes`, in pages), included in `usage`.
    pub kmem: u64,
    /// Of `kmem`, the pages freed without being uncharged: a charge nothing will ever give back.
    pub kmem_leaked: u64,
}

impl Memcg {
    /// A memcg with `limit` pages (0 = unlimited) and nothing charged.
    pub(crate) fn new(id: u32, limit: u64) -> Memcg {
        Memcg { id, limit, ..Default::default() }
    }
}

impl Model {
    /// `mem_cgroup_css_alloc()` plus a write to `memory.limit_in_bytes`: a new memcg with its own lruvec.
    pub(crate) fn memcg_create(&mut self, id: u32, limit: u64) -> i64 {
        if id == 0 {
            return -EINVAL;
        }
        if self.memcgs.contains_key(&id) {
            return -EEXIST;
        }
        self.memcgs.insert(id, Memcg::new(id, limit / PAGE_SIZE));
        self.lruvecs.entry(id).or_default();
        0
    }

    /// Moves the task's mm to memcg `id` (v1 without `move_charge_at_immigrate`: existing pages stay charged
    /// where they are).
    pub(crate) fn memcg_attach(&mut self, pid: Pid, id: u32) -> i64 {
        if !self.memcgs.contains_key(&id) {
            return -EINVAL;
        }
        let Some(mm) = self.task_mm(pid) else {
            return -EINVAL;
        };
        self.mm_mut(mm).memcg = id;
        0
    }

    /// `mem_cgroup_charge()` → `try_charge_memcg()`: charge `nr` pages, reclaiming inside the memcg up to
    /// `MAX_RECLAIM_RETRIES` times; when nothing more can be reclaimed the memcg OOM killer picks a victim
    /// and the charge fails.
    pub(crate) fn mem_cgroup_charge(&mut self, id: u32, nr: u64) -> bool {
        let mut retries = 0;
        loop {
            let Some(m) = self.memcgs.get_mut(&id) else {
                return true;
            };
            if m.limit == 0 || m.usage + nr <= m.limit {
                m.usage += nr;
                m.max_usage = m.max_usage.max(m.usage);
                return true;
            }
            m.reclaims += 1;
            let reclaimed = self.try_to_free_pages(nr.max(SWAP_CLUSTER_MAX), Some(id));
            if reclaimed == 0 {
                retries += 1;
                if retries >= MAX_RECLAIM_RETRIES || self.memcg_reclaimable(id) == 0 {
                    // mem_cgroup_oom(): costly orders (THP) fail without invoking the OOM killer.
                    if nr <= 8 {
                        self.out_of_memory(Some(id));
                    }
                    return false;
                }
            }
        }
    }

    /// Pages on the memcg's LRU lists: what reclaim inside it could still look at.
    fn memcg_reclaimable(&self, id: u32) -> u64 {
        self.lruvecs.get(&id).map(|lv| lv.lists.iter().map(|l| l.nr_pages).sum()).unwrap_or(0)
    }

    /// `uncharge_batch()`.
    pub(crate) fn memcg_uncharge(&mut self, id: u32, nr: u64) {
        if let Some(m) = self.memcgs.get_mut(&id) {
            m.usage = m.usage.saturating_sub(nr);
        }
    }

    /// Pages in folios the model holds (each head and each tail).
    fn nr_pages_held(&self) -> u64 {
        (self.folios.len() + self.tails.len()) as u64
    }

    /// `__alloc_pages_slowpath()` for `nr` pages the model allocates on its own (not pfns a trace shows being
    /// allocated, which are facts): when the machine's memory ([`crate::Config::totalram_pages`]) is full,
    /// reclaim globally up to `MAX_RECLAIM_RETRIES` times, then `out_of_memory()` kills the task with the highest
    /// badness and the allocation fails. This also bounds the model's own memory, whatever a script or a damaged
    /// trace asks for (a `MAP_POPULATE` of a terabyte).
    pub(crate) fn alloc_pages_within_ram(&mut self, nr: u64) -> bool {
        let ram = self.cfg.totalram_pages;
        for _ in 0..MAX_RECLAIM_RETRIES {
            if self.nr_pages_held() + nr <= ram {
                return true;
            }
            if self.try_to_free_pages(nr.max(SWAP_CLUSTER_MAX), None) == 0 {
                break;
            }
        }
        if self.nr_pages_held() + nr <= ram {
            return true;
        }
        // As in the memcg: costly orders (THP) fail without invoking the OOM killer.
        if nr <= 8 {
            self.out_of_memory(None);
        }
        false
    }

    /// `mem_cgroup_out_of_memory()` (in memcg `id`) or `out_of_memory()` (the whole machine, `None`) →
    /// `oom_kill_process()`: the task with the highest badness (RSS + swap entries; the last one wins a tie, as in
    /// `oom_evaluate_task`) is killed with its thread group.
    fn out_of_memory(&mut self, memcg: Option<u32>) {
        let mut victim: Option<(i64, Pid)> = None;
        for t in self.tasks.values() {
            let Some(mm) = t.mm else { continue };
            let m = self.mm(mm);
            if memcg.is_some_and(|id| m.memcg != id) || t.pid != t.tgid {
                continue;
            }
            let points = m.rss.iter().sum::<i64>();
            if victim.is_none_or(|(p, _)| points >= p) {
                victim = Some((points, t.pid));
            }
        }
        let scope = memcg.map_or("the machine".to_string(), |id| format!("memcg {id}"));
        let Some((points, tgid)) = victim else {
            self.diag(Severity::Info, "memcg-oom", format!("{scope} is out of memory and has no task to kill"));
            return;
        };
        self.count(VmEvent::OOM_KILL, 1);
        if let Some(m) = memcg.and_then(|id| self.memcgs.get_mut(&id)) {
            m.oom_kills += 1;
        }
        self.diag(Severity::Info, "oom-kill", format!("{scope} out of memory: killed pid {tgid} ({points} pages)"));
        let group: Vec<Pid> = self.tasks.values().filter(|t| t.tgid == tgid).map(|t| t.pid).collect();
        for p in group {
            self.do_exit(p);
        }
    }
}
