//! The script API: kernel-named functions over a [`Host`], registered together with their reference entry, so
//! that the book's API page is generated from what the engine really has.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use mmdb_model::consts::*;
use mmdb_model::{Access, FileRef, Op, Pid};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext};

use crate::error::{ErrorKind, Failure};
use crate::host::{Host, TaskView, INIT, KSWAPD};
use crate::inspect;

type Res<T> = Result<T, Box<EvalAltResult>>;
type Shared = Rc<RefCell<Host>>;

/// A process of the scenario, as scripts hold it (`spawn`, `fork`, `process`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: Pid,
}

/// A memory cgroup of the scenario (`memcg_create`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memcg {
    pub id: u32,
}

/// The part of the reference an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Processes,
    Memory,
    Access,
    Kernel,
    Inspection,
    Checks,
}

impl Section {
    /// Every section, in reference order.
    pub const ALL: [Section; 6] =
        [Section::Processes, Section::Memory, Section::Access, Section::Kernel, Section::Inspection, Section::Checks];

    /// The section's heading.
    pub fn title(self) -> &'static str {
        match self {
            Section::Processes => "Processes",
            Section::Memory => "Memory system calls",
            Section::Access => "Loads and stores",
            Section::Kernel => "Kernel activity: batches, reclaim, memcgs, swap",
            Section::Inspection => "Inspection",
            Section::Checks => "Checks",
        }
    }
}

/// One function (or property) of the script API, as the reference lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiDoc {
    pub section: Section,
    /// How it is called: `p.mmap(len, prot, flags) -> addr`.
    pub signature: &'static str,
    /// One or two sentences.
    pub doc: &'static str,
    /// Also available to read-only queries (`eval_query`, the debugger's `rhai EXPR`).
    pub query: bool,
}

/// Which functions an engine gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Everything: scenarios change the model.
    Scenario,
    /// Only what reads the model.
    Query,
}

/// Registers functions and records their reference entries.
struct Registry<'e> {
    engine: &'e mut Engine,
    mode: Mode,
    section: Section,
    docs: Vec<ApiDoc>,
}

impl Registry<'_> {
    /// An entry only scenarios get: it changes the model.
    fn scenario(&mut self, signature: &'static str, doc: &'static str, register: impl FnOnce(&mut Engine)) {
        self.docs.push(ApiDoc { section: self.section, signature, doc, query: false });
        if self.mode == Mode::Scenario {
            register(self.engine);
        }
    }

    /// An entry every engine gets: it only reads.
    fn query(&mut self, signature: &'static str, doc: &'static str, register: impl FnOnce(&mut Engine)) {
        self.docs.push(ApiDoc { section: self.section, signature, doc, query: true });
        register(self.engine);
    }
}

/// Registers the API of `mode` on `engine`, working on `host`; returns the reference entries (of every mode).
pub(crate) fn register(engine: &mut Engine, host: &Shared, mode: Mode) -> Vec<ApiDoc> {
    engine.register_global_module(constants().into());
    engine.register_type_with_name::<Process>("Process").register_type_with_name::<Memcg>("Memcg");
    let mut r = Registry { engine, mode, section: Section::Processes, docs: Vec::new() };
    processes(&mut r, host);
    r.section = Section::Memory;
    memory(&mut r, host);
    r.section = Section::Access;
    access(&mut r, host);
    r.section = Section::Kernel;
    kernel(&mut r, host);
    kmem(&mut r, host);
    r.section = Section::Inspection;
    inspection(&mut r, host);
    r.section = Section::Checks;
    checks(&mut r);
    r.docs
}

/// The constants scripts see: `PAGE_SIZE`, `PROT_*`, `MAP_*`, `MADV_*`, `MREMAP_*`, errno values.
pub fn constant_table() -> Vec<(&'static str, i64)> {
    let mut v: Vec<(&'static str, i64)> = vec![
        ("PAGE_SIZE", PAGE_SIZE as i64),
        ("HPAGE_PMD_SIZE", HPAGE_PMD_SIZE as i64),
        ("HPAGE_PMD_NR", HPAGE_PMD_NR as i64),
        ("ZERO_PFN", ZERO_PFN as i64),
        ("PROT_NONE", PROT_NONE as i64),
    ];
    v.extend(PROT_NAMES.iter().map(|(n, b)| (*n, *b as i64)));
    v.extend(MAP_NAMES.iter().map(|(n, b)| (*n, *b as i64)));
    v.push(("MAP_NORESERVE", MAP_NORESERVE as i64));
    v.extend(MADV_NAMES.iter().copied());
    v.extend(MREMAP_NAMES.iter().map(|(n, b)| (*n, *b as i64)));
    v.extend([
        ("ESRCH", ESRCH),
        ("EAGAIN", EAGAIN),
        ("ENOMEM", ENOMEM),
        ("EFAULT", EFAULT),
        ("EBUSY", 16),
        ("EEXIST", EEXIST),
        ("EINVAL", EINVAL),
        ("ENOSYS", ENOSYS),
        ("VRANGE_VOLATILE", 0),
        ("VRANGE_NOVOLATILE", 1),
        ("VRANGE_FULL", 0),
        ("VRANGE_PARTIAL", 1),
    ]);
    v
}

fn constants() -> Module {
    let mut m = Module::new();
    for (name, value) in constant_table() {
        m.set_var(name, value);
    }
    m
}

/// A non-negative integer argument as `u64`.
fn arg(v: i64, what: &str) -> Res<u64> {
    u64::try_from(v).map_err(|_| Failure::runtime(format!("{what} must not be negative (got {v})")))
}

/// The process `pid`, which must be a task the model knows.
fn live(host: &Host, pid: Pid, what: &str) -> Res<()> {
    if host.model.task(pid).is_some() {
        Ok(())
    } else {
        Err(Failure::runtime(format!("{what}: process {pid} does not exist (it exited or was OOM-killed)")))
    }
}

/// Applies a syscall-like `op` of `p` and returns its value (`-errno` on failure).
fn syscall(host: &Shared, p: &Process, op: Op) -> Res<i64> {
    let mut h = host.borrow_mut();
    let name = op.name();
    live(&h, p.pid, name)?;
    Ok(h.apply(p.pid, op)?.ret.unwrap_or(0))
}

fn processes(r: &mut Registry<'_>, host: &Shared) {
    let h = Rc::clone(host);
    r.scenario(
        "spawn(comm) -> Process",
        "A new process with a fresh, empty mm in the root memcg (pids count up from 100).",
        move |e| {
            e.register_fn("spawn", move |comm: &str| -> Res<Process> {
                let mut h = h.borrow_mut();
                let pid = h.alloc_pid();
                h.tasks.insert(pid, TaskView::default());
                h.apply_as(pid, comm, Op::Spawn { comm: comm.to_string() })?;
                Ok(Process { pid })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "p.fork() -> Process",
        "`fork()`: a child with a copy of the mm (`dup_mmap`: pages shared and write-protected), on the parent's CPU.",
        move |e| {
            e.register_fn("fork", move |p: &mut Process| fork(&h, p, false));
        },
    );
    let h = Rc::clone(host);
    r.scenario("p.thread() -> Process", "`clone(CLONE_VM)`: a thread sharing the mm, on the parent's CPU.", move |e| {
        e.register_fn("thread", move |p: &mut Process| fork(&h, p, true));
    });
    let h = Rc::clone(host);
    r.scenario("p.exec(filename)", "`execve()`: the process gets a fresh mm; the old one is released.", move |e| {
        e.register_fn("exec", move |p: &mut Process, file: &str| -> Res<()> {
            syscall(&h, p, Op::Exec { filename: file.to_string() }).map(drop)
        });
    });
    let h = Rc::clone(host);
    r.scenario("p.exit()", "`do_exit()`: the mm is torn down when its last user exits.", move |e| {
        e.register_fn("exit", move |p: &mut Process| -> Res<()> { syscall(&h, p, Op::Exit).map(drop) });
    });
    let h = Rc::clone(host);
    r.scenario(
        "p.cpu = n",
        "Moves the process to CPU `n` for its next operations: it selects the per-CPU folio batches.",
        move |e| {
            e.register_set("cpu", move |p: &mut Process, cpu: i64| -> Res<()> {
                let cpu = cpu_number(cpu)?;
                h.borrow_mut().tasks.entry(p.pid).or_default().cpu = cpu;
                Ok(())
            });
        },
    );
    let h = Rc::clone(host);
    r.query("p.cpu", "The CPU the process runs on (0 unless moved).", move |e| {
        e.register_get("cpu", move |p: &mut Process| -> i64 {
            h.borrow().tasks.get(&p.pid).map_or(0, |t| t.cpu.into())
        });
    });
    r.query("p.pid", "The process id.", |e| {
        e.register_get("pid", |p: &mut Process| -> i64 { p.pid.into() });
    });
    let h = Rc::clone(host);
    r.query("p.comm", "The command name.", move |e| {
        e.register_get("comm", move |p: &mut Process| -> String {
            h.borrow().model.task(p.pid).map_or_else(String::new, |t| t.comm.clone())
        });
    });
    let h = Rc::clone(host);
    r.query("p.alive", "Whether the process still exists (it has not exited or been OOM-killed).", move |e| {
        e.register_get("alive", move |p: &mut Process| -> bool { h.borrow().model.task(p.pid).is_some() });
    });
    let h = Rc::clone(host);
    r.query("process(pid) -> Process", "The process `pid`, for the methods above.", move |e| {
        e.register_fn("process", move |pid: i64| -> Res<Process> {
            let pid = Pid::try_from(pid).map_err(|_| Failure::runtime(format!("no pid {pid}")))?;
            live(&h.borrow(), pid, "process")?;
            Ok(Process { pid })
        });
    });
    let h = Rc::clone(host);
    r.query(
        "profile() -> string",
        "The kernel profile the script runs under (`--profile`), as `mmdb profiles` names it.",
        move |e| {
            e.register_fn("profile", move || -> String { h.borrow().model.config().profile.name().to_string() });
        },
    );
    let h = Rc::clone(host);
    r.query("ps() -> array", "Every task: `#{pid, tgid, comm, mm}`, by pid.", move |e| {
        e.register_fn("ps", move || -> Array { inspect::ps(&h.borrow().model) });
    });
    let h = Rc::clone(host);
    r.query("print(p)", "A process prints as `process PID (COMM)`.", move |e| {
        let show = move |p: &mut Process| -> String {
            let comm = h.borrow().model.task(p.pid).map_or_else(|| "exited".to_string(), |t| t.comm.clone());
            format!("process {} ({comm})", p.pid)
        };
        e.register_fn("to_string", show.clone()).register_fn("to_debug", show);
    });
}

/// `fork()` or a thread of `p`: the child runs on the parent's CPU.
fn fork(host: &Shared, p: &Process, thread: bool) -> Res<Process> {
    let mut h = host.borrow_mut();
    live(&h, p.pid, "fork")?;
    let child = h.alloc_pid();
    let view = h.tasks.get(&p.pid).copied().unwrap_or_default();
    h.tasks.insert(child, view);
    let ret = h.apply(p.pid, Op::Fork { child, thread })?.ret.unwrap_or(0);
    if ret < 0 {
        return Err(Failure::runtime(format!("fork by pid {} failed: -{}", p.pid, errno_name(-ret))));
    }
    Ok(Process { pid: child })
}

fn memory(r: &mut Registry<'_>, host: &Shared) {
    let h = Rc::clone(host);
    r.scenario(
        "p.mmap(len, prot, flags) -> addr",
        "`mmap()` where the kernel chooses (top-down from `mmap_base`); the address, or a negative errno.",
        move |e| {
            e.register_fn("mmap", move |p: &mut Process, len: i64, prot: i64, flags: i64| -> Res<i64> {
                let (len, prot, flags) = (arg(len, "len")?, arg(prot, "prot")?, arg(flags, "flags")?);
                syscall(&h, p, Op::Mmap { addr: None, len, prot, flags, file: None })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "p.mmap(addr, len, prot, flags) -> addr",
        "`mmap()` with a hint, or at `addr` exactly with `MAP_FIXED`; the address, or a negative errno.",
        move |e| {
            e.register_fn("mmap", move |p: &mut Process, addr: i64, len: i64, prot: i64, flags: i64| -> Res<i64> {
                let (addr, len) = (arg(addr, "addr")?, arg(len, "len")?);
                let (prot, flags) = (arg(prot, "prot")?, arg(flags, "flags")?);
                syscall(&h, p, Op::Mmap { addr: Some(addr), len, prot, flags, file: None })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "p.mmap_file(file, offset, len, prot, flags) -> addr",
        "`mmap()` of the file named `file` from byte `offset`; its page cache is shared by every mapping.",
        move |e| {
            e.register_fn(
                "mmap_file",
                move |p: &mut Process, file: &str, offset: i64, len: i64, prot: i64, flags: i64| -> Res<i64> {
                    let file = Some(FileRef { name: file.to_string(), offset: arg(offset, "offset")? });
                    let (len, prot, flags) = (arg(len, "len")?, arg(prot, "prot")?, arg(flags, "flags")?);
                    syscall(&h, p, Op::Mmap { addr: None, len, prot, flags, file })
                },
            );
        },
    );
    let h = Rc::clone(host);
    r.scenario("p.munmap(addr, len) -> 0 or -errno", "`munmap()`.", move |e| {
        e.register_fn("munmap", move |p: &mut Process, addr: i64, len: i64| -> Res<i64> {
            syscall(&h, p, Op::Munmap { addr: arg(addr, "addr")?, len: arg(len, "len")? })
        });
    });
    let h = Rc::clone(host);
    r.scenario("p.mprotect(addr, len, prot) -> 0 or -errno", "`mprotect()`.", move |e| {
        e.register_fn("mprotect", move |p: &mut Process, addr: i64, len: i64, prot: i64| -> Res<i64> {
            syscall(&h, p, Op::Mprotect { addr: arg(addr, "addr")?, len: arg(len, "len")?, prot: arg(prot, "prot")? })
        });
    });
    let h = Rc::clone(host);
    r.scenario(
        "p.mremap(addr, old_len, new_len, flags) -> addr",
        "`mremap()`; moving keeps the pages (their PTEs move). The new address, or a negative errno.",
        move |e| {
            e.register_fn("mremap", move |p: &mut Process, addr: i64, old: i64, new: i64, flags: i64| -> Res<i64> {
                let (addr, old_len, new_len) = (arg(addr, "addr")?, arg(old, "old_len")?, arg(new, "new_len")?);
                syscall(&h, p, Op::Mremap { addr, old_len, new_len, flags: arg(flags, "flags")?, new_addr: None })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "p.mremap(addr, old_len, new_len, flags, new_addr) -> addr",
        "`mremap()` to `new_addr` (with `MREMAP_MAYMOVE | MREMAP_FIXED`).",
        move |e| {
            e.register_fn(
                "mremap",
                move |p: &mut Process, addr: i64, old: i64, new: i64, flags: i64, to: i64| -> Res<i64> {
                    let (addr, old_len, new_len) = (arg(addr, "addr")?, arg(old, "old_len")?, arg(new, "new_len")?);
                    let (flags, new_addr) = (arg(flags, "flags")?, Some(arg(to, "new_addr")?));
                    syscall(&h, p, Op::Mremap { addr, old_len, new_len, flags, new_addr })
                },
            );
        },
    );
    let h = Rc::clone(host);
    r.scenario("p.brk(addr) -> brk", "`brk()`: the new break, or the old one when it cannot move.", move |e| {
        e.register_fn("brk", move |p: &mut Process, brk: i64| -> Res<i64> {
            syscall(&h, p, Op::Brk { brk: arg(brk, "brk")? })
        });
    });
    let h = Rc::clone(host);
    r.scenario(
        "p.madvise(addr, len, advice) -> 0 or -errno",
        "`madvise()` with a `MADV_*` advice (`MADV_FREE`, `MADV_DONTNEED`, `MADV_COLD`, `MADV_PAGEOUT`, ...).",
        move |e| {
            e.register_fn("madvise", move |p: &mut Process, addr: i64, len: i64, advice: i64| -> Res<i64> {
                syscall(&h, p, Op::Madvise { addr: arg(addr, "addr")?, len: arg(len, "len")?, advice })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario("p.mlock(addr, len) -> 0 or -errno", "`mlock()`: the pages become unevictable.", move |e| {
        e.register_fn("mlock", move |p: &mut Process, addr: i64, len: i64| -> Res<i64> {
            syscall(&h, p, Op::Mlock { addr: arg(addr, "addr")?, len: arg(len, "len")? })
        });
    });
    let h = Rc::clone(host);
    r.scenario("p.munlock(addr, len) -> 0 or -errno", "`munlock()`.", move |e| {
        e.register_fn("munlock", move |p: &mut Process, addr: i64, len: i64| -> Res<i64> {
            syscall(&h, p, Op::Munlock { addr: arg(addr, "addr")?, len: arg(len, "len")? })
        });
    });
    let h = Rc::clone(host);
    r.scenario(
        "p.vrange(addr, len, mode, behavior) -> 0, 1 or -errno",
        "`vrange()` of the 2013 volatile-range RFC (profile `vrange-v7`, -ENOSYS elsewhere): `VRANGE_VOLATILE` or \
         `VRANGE_NOVOLATILE`, `VRANGE_FULL` or `VRANGE_PARTIAL`; NOVOLATILE returns 1 when pages were purged.",
        move |e| {
            e.register_fn(
                "vrange",
                move |p: &mut Process, addr: i64, len: i64, mode: i64, behavior: i64| -> Res<i64> {
                    use mmdb_model::vrange::{VrangeBehavior, VrangeMode};
                    let mode = VrangeMode::from_name(&mode.to_string()).ok_or_else(|| {
                        Failure::runtime(format!(
                            "vrange: mode {mode} is neither VRANGE_VOLATILE nor VRANGE_NOVOLATILE"
                        ))
                    })?;
                    let behavior = VrangeBehavior::from_name(&behavior.to_string()).ok_or_else(|| {
                        Failure::runtime(format!(
                            "vrange: behavior {behavior} is neither VRANGE_FULL nor VRANGE_PARTIAL"
                        ))
                    })?;
                    syscall(&h, p, Op::Vrange { addr: arg(addr, "addr")?, len: arg(len, "len")?, mode, behavior })
                },
            );
        },
    );
}

fn kmem(r: &mut Registry<'_>, host: &Shared) {
    use mmdb_model::kmem::KmemFreeVia;
    let h = Rc::clone(host);
    r.scenario(
        "p.kmem_alloc(order, account) -> pfn",
        "A kernel block of 2^order pages allocated in `p`'s context: `alloc_pages(GFP_KERNEL)`, or with `account` \
         `alloc_kmem_pages()` (before 4.8) / `__GFP_ACCOUNT` (since), charged to `p`'s memcg. The pfn, or -errno.",
        move |e| {
            e.register_fn("kmem_alloc", move |p: &mut Process, order: i64, account: bool| -> Res<i64> {
                let order =
                    u32::try_from(order).map_err(|_| Failure::runtime(format!("kmem_alloc: no order {order}")))?;
                syscall(&h, p, Op::KmemAlloc { order, account })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario("kmem_get(pfn) -> 0 or -errno", "`get_page()`: another reference to a kernel page.", move |e| {
        e.register_fn("kmem_get", move |pfn: i64| -> Res<i64> { kernel_op(&h, Op::KmemGet { pfn: arg(pfn, "pfn")? }) });
    });
    let h = Rc::clone(host);
    r.scenario(
        "kmem_free(pfn, via) -> 1 freed, 0 still referenced, or -errno",
        "Lets a kernel page go `via` `\"free_kmem_pages\"`, `\"free_pages\"`, `\"put_page\"` (a reference drop, as a \
         pipe buffer's release) or `\"release_pages\"` (one page of a batch).",
        move |e| {
            e.register_fn("kmem_free", move |pfn: i64, via: &str| -> Res<i64> {
                let via = KmemFreeVia::from_name(via).ok_or_else(|| {
                    Failure::runtime(format!(
                        "kmem_free: `{via}` is not free_kmem_pages, free_pages, put_page or release_pages"
                    ))
                })?;
                kernel_op(&h, Op::KmemFree { pfn: arg(pfn, "pfn")?, via })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "release_pages(pfns) -> freed",
        "`release_pages()`: drops one reference to each page of the array, freeing those that reach zero.",
        move |e| {
            e.register_fn("release_pages", move |pfns: Array| -> Res<i64> {
                let mut freed = 0;
                for v in pfns {
                    let pfn =
                        v.as_int().map_err(|_| Failure::runtime("release_pages: pfns must be integers".to_string()))?;
                    let op = Op::KmemFree { pfn: arg(pfn, "pfn")?, via: KmemFreeVia::ReleasePages };
                    freed += kernel_op(&h, op)?.max(0);
                }
                Ok(freed)
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "p.balloon_inflate(account) -> pfn",
        "A balloon driver takes one page from the guest in `p`'s context (`balloon_page_enqueue()`); `account` \
         allocates it as kmem first. The pfn, or -errno.",
        move |e| {
            e.register_fn("balloon_inflate", move |p: &mut Process, account: bool| -> Res<i64> {
                syscall(&h, p, Op::BalloonInflate { account })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario("balloon_deflate(pfn) -> 1 or -errno", "The balloon gives a page back and frees it.", move |e| {
        e.register_fn("balloon_deflate", move |pfn: i64| -> Res<i64> {
            kernel_op(&h, Op::BalloonDeflate { pfn: arg(pfn, "pfn")? })
        });
    });
    let h = Rc::clone(host);
    r.query(
        "kpage(pfn) -> map",
        "The kernel page at `pfn`: `#{pfn, order, kind, refcount, raw_mapcount, page_mapcount, mapcount_value, memcg, \
         memcg_data_kmem, clobbered}` (`kind`: kmem, balloon, pcp, buddy, bad), or `()`.",
        move |e| {
            e.register_fn("kpage", move |pfn: i64| -> Dynamic { inspect::kpage(&h.borrow().model, pfn as u64) });
        },
    );
}

/// Touches every page of `[addr, addr + len)` with `access`, one `touch` event per page; returns the page
/// faults taken (the model decides, as the MMU would, which accesses fault).
fn touch_range(host: &Shared, p: &Process, addr: i64, len: i64, access: Access) -> Res<i64> {
    let (addr, len) = (arg(addr, "addr")?, arg(len, "len")?);
    let mut h = host.borrow_mut();
    live(&h, p.pid, "access")?;
    let before = h.model.vm_event(mmdb_model::VmEvent::PGFAULT);
    let end = addr.checked_add(len).ok_or_else(|| Failure::runtime("the range wraps around"))?;
    let mut page = addr & !(PAGE_SIZE - 1);
    // A task killed on the way (the memcg OOM killer) stops accessing.
    while page < end && h.model.task(p.pid).is_some() {
        h.apply(p.pid, Op::Touch { addr: page, access })?;
        page += PAGE_SIZE;
    }
    Ok((h.model.vm_event(mmdb_model::VmEvent::PGFAULT) - before) as i64)
}

fn access(r: &mut Registry<'_>, host: &Shared) {
    let h = Rc::clone(host);
    r.scenario(
        "p.write(addr, len) -> faults",
        "Writes every page of the range (one `touch` each): faults where the PTE does not allow it, as the MMU would. \
         Returns the page faults taken.",
        move |e| {
            e.register_fn("write", move |p: &mut Process, addr: i64, len: i64| {
                touch_range(&h, p, addr, len, Access::Write)
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "p.read(addr, len) -> faults",
        "Reads every page of the range; returns the page faults taken.",
        move |e| {
            e.register_fn("read", move |p: &mut Process, addr: i64, len: i64| {
                touch_range(&h, p, addr, len, Access::Read)
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "p.store(addr, value)",
        "A store of `value` to the page at `addr` (a `store` event: a write access, then the page holds `value`). \
         An error if the store cannot happen (no VMA, not writable, the fault failed).",
        move |e| {
            e.register_fn("store", move |p: &mut Process, addr: i64, value: i64| -> Res<()> {
                let addr = arg(addr, "addr")?;
                let mut h = host_checked(&h, p)?;
                h.apply(p.pid, Op::Store { addr, value: value as u64 })?;
                match h.model.load(p.pid, addr) {
                    Some(v) if v == value as u64 => Ok(()),
                    _ => Err(Failure::runtime(format!(
                        "store at {addr:#x} by pid {} did not happen: the access faulted (see the diagnostics)",
                        p.pid
                    ))),
                }
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "p.load(addr) -> value",
        "A load from the page at `addr` (a read `touch`, faulting where needed), then what the page holds: 0 for \
         the zero page and fresh pages. An error if nothing can be mapped there.",
        move |e| {
            e.register_fn("load", move |p: &mut Process, addr: i64| -> Res<i64> {
                let addr = arg(addr, "addr")?;
                let mut h = host_checked(&h, p)?;
                h.apply(p.pid, Op::Touch { addr, access: Access::Read })?;
                h.model.load(p.pid, addr).map(|v| v as i64).ok_or_else(|| {
                    Failure::runtime(format!(
                        "load at {addr:#x} by pid {} faulted: nothing is mapped (see the diagnostics)",
                        p.pid
                    ))
                })
            });
        },
    );
}

/// The host, borrowed for `p`, which must be alive.
fn host_checked<'a>(host: &'a Shared, p: &Process) -> Res<std::cell::RefMut<'a, Host>> {
    let h = host.borrow_mut();
    live(&h, p.pid, "access")?;
    Ok(h)
}

fn kernel(r: &mut Registry<'_>, host: &Shared) {
    let h = Rc::clone(host);
    r.scenario("lru_add_drain()", "`lru_add_drain_all()`: drains every CPU's folio batches.", move |e| {
        e.register_fn("lru_add_drain", move || -> Res<()> {
            h.borrow_mut().apply_as(INIT.0, INIT.1, Op::LruAddDrainAll).map(drop)
        });
    });
    let h = Rc::clone(host);
    r.scenario("p.lru_add_drain()", "`lru_add_drain()` on the process's CPU only.", move |e| {
        e.register_fn("lru_add_drain", move |p: &mut Process| -> Res<()> { syscall(&h, p, Op::LruAddDrain).map(drop) });
    });
    let h = Rc::clone(host);
    r.scenario(
        "reclaim(nr) -> freed",
        "Global reclaim (kswapd0 on CPU 0) of up to `nr` pages; returns the pages freed. It drains CPU 0's batches \
         first; anon pages are reclaimed only with swap.",
        move |e| {
            e.register_fn("reclaim", move |nr: i64| reclaim(&h, nr, 0, None));
        },
    );
    let h = Rc::clone(host);
    r.scenario("reclaim(nr, cpu) -> freed", "Global reclaim with kswapd0 running on `cpu`.", move |e| {
        e.register_fn("reclaim", move |nr: i64, cpu: i64| reclaim(&h, nr, cpu_number(cpu)?, None));
    });
    let h = Rc::clone(host);
    r.scenario(
        "memcg_create(limit) -> Memcg",
        "A memory cgroup with `memory.limit_in_bytes = limit` (0: unlimited); charges beyond it reclaim inside it, \
         then OOM-kill.",
        move |e| {
            e.register_fn("memcg_create", move |limit: i64| -> Res<Memcg> {
                let limit = arg(limit, "limit")?;
                let mut h = h.borrow_mut();
                let id = h.next_memcg;
                h.next_memcg += 1;
                let ret = h.apply_as(INIT.0, INIT.1, Op::MemcgCreate { id, limit })?.ret.unwrap_or(0);
                if ret < 0 {
                    return Err(Failure::runtime(format!("memcg_create failed: -{}", errno_name(-ret))));
                }
                Ok(Memcg { id })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario(
        "g.attach(p) -> 0 or -errno",
        "Moves `p` (and the mm it owns) into the memcg; pages charged before stay where they are.",
        move |e| {
            e.register_fn("attach", move |g: &mut Memcg, p: Process| -> Res<i64> {
                syscall(&h, &p, Op::MemcgAttach { id: g.id })
            });
        },
    );
    let h = Rc::clone(host);
    r.scenario("g.reclaim(nr) -> freed", "Reclaim inside the memcg (`try_to_free_mem_cgroup_pages`).", move |e| {
        e.register_fn("reclaim", move |g: &mut Memcg, nr: i64| reclaim(&h, nr, 0, Some(g.id)));
    });
    for (name, doc) in [
        ("g.id", "The memcg's id (from 1)."),
        ("g.limit", "Its limit, in pages."),
        ("g.usage", "The pages charged to it."),
        ("g.max_usage", "The most pages ever charged to it."),
        ("g.reclaims", "How many times charging had to reclaim."),
        ("g.oom_kills", "How many tasks its OOM killer killed."),
        ("g.kmem", "The kernel (kmem) pages charged to it, part of `usage`."),
        ("g.kmem_leaked", "Of `kmem`, pages freed without being uncharged: charge the memcg never gets back."),
    ] {
        let h = Rc::clone(host);
        r.query(name, doc, move |e| {
            let field = &name[2..];
            e.register_get(field, move |g: &mut Memcg| -> i64 {
                inspect::memcg(&h.borrow().model, g.id)
                    .and_then(|m| m.get(field).and_then(|v| v.as_int().ok()))
                    .unwrap_or(0)
            });
        });
    }
    r.query("print(g)", "A memcg prints as `memcg ID`.", |e| {
        let show = |g: &mut Memcg| -> String { format!("memcg {}", g.id) };
        e.register_fn("to_string", show).register_fn("to_debug", show);
    });
    let h = Rc::clone(host);
    r.scenario(
        "swapon(size) -> 0 or -errno",
        "A swap device of `size` bytes (the first page is its header); swap I/O completes at once, like zram.",
        move |e| {
            e.register_fn("swapon", move |size: i64| -> Res<i64> {
                let size = arg(size, "size")?;
                kernel_op(&h, Op::Swapon { size })
            });
        },
    );
}

/// An operation no process does (init stands for the kernel); returns its value (`-errno` on failure).
fn kernel_op(host: &Shared, op: Op) -> Res<i64> {
    Ok(host.borrow_mut().apply_as(INIT.0, INIT.1, op)?.ret.unwrap_or(0))
}

/// Registers `p.NAME()` and `NAME(pid)` (documented as "The same, for a pid."): a view of one process's mm, which
/// `view` gives as `None` for a pid without one.
fn mm_view(
    r: &mut Registry<'_>,
    host: &Shared,
    name: &'static str,
    signatures: [&'static str; 2],
    doc: &'static str,
    view: fn(&mmdb_model::Model, Pid) -> Option<Map>,
) {
    let h = Rc::clone(host);
    let get = move |pid: Pid| -> Res<Map> {
        view(&h.borrow().model, pid).ok_or_else(|| Failure::runtime(format!("pid {pid} has no mm")))
    };
    let by_pid = get.clone();
    r.query(signatures[0], doc, move |e| {
        e.register_fn(name, move |p: &mut Process| get(p.pid));
    });
    r.query(signatures[1], "The same, for a pid.", move |e| {
        e.register_fn(name, move |pid: i64| by_pid(pid_of(pid)?));
    });
}

/// `cpu` as a CPU number: below [`mmdb_model::NR_CPUS`].
fn cpu_number(cpu: i64) -> Res<u32> {
    u32::try_from(cpu)
        .ok()
        .filter(|&c| c < mmdb_model::NR_CPUS)
        .ok_or_else(|| Failure::runtime(format!("no CPU {cpu}: CPUs are numbered 0 to {}", mmdb_model::NR_CPUS - 1)))
}

/// Reclaim by kswapd0 on `cpu`, global or inside `memcg`; returns the pages freed.
fn reclaim(host: &Shared, nr: i64, cpu: u32, memcg: Option<u32>) -> Res<i64> {
    let nr = arg(nr, "nr")?;
    let mut h = host.borrow_mut();
    h.tasks.entry(KSWAPD.0).or_default().cpu = cpu;
    Ok(h.apply_as(KSWAPD.0, KSWAPD.1, Op::Reclaim { nr, memcg })?.ret.unwrap_or(0))
}

/// Reads the host for a pid given as a process or a number.
fn pid_of(v: i64) -> Res<Pid> {
    Pid::try_from(v).map_err(|_| Failure::runtime(format!("no pid {v}")))
}

fn inspection(r: &mut Registry<'_>, host: &Shared) {
    let page_doc = "The page `p` maps at `addr`: `#{pid, addr, present, pfn, zero_page, swap, swap_exclusive, \
                    pte_write, pte_dirty, pte_young, head, order, flags, mapcount, raw_mapcount, folio_mapcount, \
                    refcount, anon_exclusive, lazyfree, lru, batches, memcg, content, allocated}`.";
    let h = Rc::clone(host);
    r.query("page(p, addr) -> map", page_doc, move |e| {
        e.register_fn("page", move |p: Process, addr: i64| -> Res<Map> {
            Ok(inspect::page_at(&h.borrow().model, p.pid, arg(addr, "addr")?))
        });
    });
    let h = Rc::clone(host);
    r.query("page(pid, addr) -> map", "The same, for a pid.", move |e| {
        e.register_fn("page", move |pid: i64, addr: i64| -> Res<Map> {
            Ok(inspect::page_at(&h.borrow().model, pid_of(pid)?, arg(addr, "addr")?))
        });
    });
    let h = Rc::clone(host);
    r.query(
        "page(pfn) -> map",
        "The page at `pfn`, with the same keys (`present` and the PTE bits are false: no mapping is looked at). \
         `lru` is a list name, `batch` (in a per-CPU batch), `isolated` or `none`; `mapcount` is what \
         `/proc/kpagecount` shows, `raw_mapcount` the stored `_mapcount`.",
        move |e| {
            e.register_fn("page", move |pfn: i64| -> Res<Map> {
                Ok(inspect::page_pfn(&h.borrow().model, arg(pfn, "pfn")?))
            });
        },
    );
    let h = Rc::clone(host);
    r.query("rmap(f) -> array", "The mappings of page `f`: `#{pid, mm, addr, pmd}`, by mm and address.", move |e| {
        e.register_fn("rmap", move |f: Map| -> Array { inspect::rmap(&h.borrow().model, &f) });
    });
    let h = Rc::clone(host);
    r.query(
        "history(f) -> array",
        "Every change of page `f`: `#{event, op, pid, addr, field, old, new, change}`, events numbered from 1.",
        move |e| {
            e.register_fn("history", move |f: Map| -> Array { inspect::history(&h.borrow().model, &f) });
        },
    );
    mm_view(
        r,
        host,
        "smaps",
        ["p.smaps() -> map", "smaps(pid) -> map"],
        "`/proc/PID/smaps_rollup` in kB: `#{rss_kb, pss_kb, anon_kb, lazyfree_kb, anonhuge_kb, swap_kb, \
         shared_clean_kb, shared_dirty_kb, private_clean_kb, private_dirty_kb, referenced_kb, locked_kb}`.",
        |m, pid| m.smaps_rollup(pid).map(|s| inspect::smaps(&s)),
    );
    mm_view(
        r,
        host,
        "rss",
        ["p.rss() -> map", "rss(pid) -> map"],
        "`mm->rss_stat` in pages: `#{file, anon, swapents, shmem}`.",
        inspect::rss,
    );
    mm_view(
        r,
        host,
        "statm",
        ["p.statm() -> map", "statm(pid) -> map"],
        "`/proc/PID/statm` in pages: `#{size, resident, shared, text, lib, data, dt}`, plus `lazyfree` (the \
         never-merged eighth field) under the `lazyfree-rss` profiles.",
        inspect::statm,
    );
    let h = Rc::clone(host);
    r.query(
        "p.vmas() -> array",
        "The VMAs: `#{start, end, perms, flags}`, as `/proc/PID/maps` lists them.",
        move |e| {
            e.register_fn("vmas", move |p: &mut Process| -> Array { inspect::vmas(&h.borrow().model, p.pid) });
        },
    );
    for (name, signature, doc, f) in MODEL_VIEWS {
        let h = Rc::clone(host);
        r.query(signature, doc, move |e| {
            e.register_fn(name, move || -> Dynamic { f(&h.borrow().model) });
        });
    }
}

/// A view of the whole model: one function without arguments.
type ModelView = (&'static str, &'static str, &'static str, fn(&mmdb_model::Model) -> Dynamic);

/// The views of the whole model, as (name, signature, doc, view).
const MODEL_VIEWS: [ModelView; 5] = [
    (
        "vmstat",
        "vmstat() -> map",
        "Every `/proc/vmstat` counter the model keeps (`pgfault`, `pglazyfreed`, ...).",
        |m| inspect::vmstat(m).into(),
    ),
    (
        "pages",
        "pages() -> map",
        "Page totals and LRU sizes in pages: `#{folios, pages, anon, file, mapped, unmapped, lazyfree, thp, \
         swapcache, in_batch, isolated, inactive_anon, active_anon, inactive_file, active_file, unevictable, \
         zero_page_ptes, huge_zero_pmds}`.",
        |m| inspect::pages(m).into(),
    ),
    ("swap", "swap() -> map", "The swap device, `#{total, used}` in pages, or `()` without one.", inspect::swap),
    (
        "diagnostics",
        "diagnostics() -> array",
        "What the model reported: `#{event, severity, kind, message}` (a failed syscall, a SIGSEGV, an OOM kill).",
        |m| inspect::diagnostics(m).into(),
    ),
    (
        "check",
        "check() -> array",
        "Runs the model's invariant checker: one `invariant: message` string per violation (empty if none).",
        |m| inspect::check(m).into(),
    ),
];

/// An assertion failure at the call.
fn failed(message: String, notes: Vec<String>) -> Box<EvalAltResult> {
    Failure { kind: ErrorKind::Assertion, message, notes }.into_error()
}

/// `a == b` as the script's `==` sees it; values of types without `==` compare by type and printed form.
fn script_eq(ctx: &NativeCallContext<'_>, a: &Dynamic, b: &Dynamic) -> bool {
    match ctx.call_native_fn::<bool>("==", (a.clone(), b.clone())) {
        Ok(eq) => eq,
        Err(_) => a.type_name() == b.type_name() && a.to_string() == b.to_string(),
    }
}

fn assert_eq(ctx: &NativeCallContext<'_>, a: &Dynamic, b: &Dynamic, msg: &str) -> Res<()> {
    if script_eq(ctx, a, b) {
        return Ok(());
    }
    let message =
        if msg.is_empty() { "assertion failed: left == right".to_string() } else { format!("assertion failed: {msg}") };
    let mut left = String::new();
    let _ = write!(left, "left:  {a:?}");
    Err(failed(message, vec![left, format!("right: {b:?}")]))
}

fn checks(r: &mut Registry<'_>) {
    r.query("assert(cond)", "Stops the script with an assertion failure (exit status 1) unless `cond` is true.", |e| {
        e.register_fn("assert", |cond: bool| -> Res<()> {
            if cond {
                Ok(())
            } else {
                Err(failed("assertion failed".into(), Vec::new()))
            }
        });
    });
    r.query("assert(cond, message)", "The same, with a message.", |e| {
        e.register_fn("assert", |cond: bool, msg: &str| -> Res<()> {
            if cond {
                Ok(())
            } else {
                Err(failed(format!("assertion failed: {msg}"), Vec::new()))
            }
        });
    });
    r.query("assert_eq(left, right)", "Stops the script unless `left == right`, showing both.", |e| {
        e.register_fn("assert_eq", |ctx: NativeCallContext, a: Dynamic, b: Dynamic| assert_eq(&ctx, &a, &b, ""));
    });
    r.query("assert_eq(left, right, message)", "The same, with a message.", |e| {
        e.register_fn("assert_eq", |ctx: NativeCallContext, a: Dynamic, b: Dynamic, msg: &str| {
            assert_eq(&ctx, &a, &b, msg)
        });
    });
}

/// The API reference as Markdown: every section with its signatures and docs, then the constants.
pub fn reference_markdown(docs: &[ApiDoc]) -> String {
    let mut out = String::from("# The script API\n\n");
    out.push_str(
        "<!-- Generated from the functions mmdb-script registers (crates/mmdb-script/src/api.rs); a test keeps it \
         current. -->\n\n",
    );
    out.push_str("Every function a script can call, beside Rhai's own language and standard library.\n");
    out.push_str("`p` is a process (`spawn`, `fork`, `process`), `g` a memcg, `f` a page map (`page`).\n");
    out.push_str("Entries marked *(query)* also work in read-only queries, such as the debugger's conditions.\n");
    for section in Section::ALL {
        let _ = write!(out, "\n## {}\n", section.title());
        for d in docs.iter().filter(|d| d.section == section) {
            let tag = if d.query { " *(query)*" } else { "" };
            let _ = write!(out, "\n### `{}`{tag}\n\n{}\n", d.signature, d.doc);
        }
    }
    out.push_str(
        "\n## Constants\n\nKernel constants with their kernel spelling and value:\n\n| Name | Value |\n|---|---|\n",
    );
    for (name, value) in constant_table() {
        let shown = if value >= 4096 || name.starts_with("MAP_") || name.starts_with("PROT_") {
            format!("{value:#x}")
        } else {
            value.to_string()
        };
        let _ = writeln!(out, "| `{name}` | {shown} |");
    }
    out
}
