//! Kernel constants with their kernel spelling: page geometry, PROT_*, MAP_*, MADV_*, MREMAP_*, errno.

/// `PAGE_SHIFT` on x86-64 with 4 KiB pages.
pub const PAGE_SHIFT: u32 = 12;
/// `PAGE_SIZE`: 4096 bytes.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// `CONFIG_NR_CPUS` at its largest on x86-64 (`MAXSMP`): an event on a CPU numbered this or higher is refused.
pub const NR_CPUS: u32 = 8192;
/// The largest order the buddy allocator hands out (`MAX_PAGE_ORDER`, x86-64).
pub const MAX_PAGE_ORDER: u32 = 10;
/// `HPAGE_PMD_ORDER`: a PMD maps an order-9 folio (2 MiB).
pub const HPAGE_PMD_ORDER: u32 = 9;
/// `HPAGE_PMD_NR`: pages in a PMD-sized folio.
pub const HPAGE_PMD_NR: u64 = 1 << HPAGE_PMD_ORDER;
/// `HPAGE_PMD_SIZE`: bytes mapped by one PMD.
pub const HPAGE_PMD_SIZE: u64 = PAGE_SIZE * HPAGE_PMD_NR;
/// `PTRS_PER_PTE`: entries in one PTE table.
pub const PTRS_PER_PTE: usize = 512;
/// `PAGEVEC_SIZE`/`folio_batch` capacity: the per-CPU LRU batches hold 31 folios.
pub const FOLIO_BATCH_SIZE: usize = 31;
/// `SWAP_CLUSTER_MAX`: reclaim works in batches of 32.
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// `MAX_RECLAIM_RETRIES` in `try_charge_memcg`.
pub const MAX_RECLAIM_RETRIES: u32 = 16;

/// `TASK_SIZE` for 47-bit user address spaces.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// Where top-down `get_unmapped_area` starts when no hint is given (`mm->mmap_base`).
pub const MMAP_BASE: u64 = 0x7f00_0000_0000;
/// Where a fresh mm puts `start_brk` (the model has no ELF loader).
pub const START_BRK: u64 = 0x5555_5555_9000;
/// The pfn of the shared zero page (`zero_pfn`); a model constant.
pub const ZERO_PFN: u64 = 0x2a00;
/// One past the highest pfn x86-64 can address (52-bit physical addresses).
pub const MAX_PFN: u64 = 1 << (52 - PAGE_SHIFT);
/// Where the model's own pfns start when pfns come from a real trace (beyond any real machine's memory).
pub const SYNTHETIC_PFN_BASE: u64 = 1 << 36;
/// The first pfn the model's page allocator hands out.
pub const FIRST_PFN: u64 = 0x10_0000;

pub const PROT_NONE: u64 = 0x0;
pub const PROT_READ: u64 = 0x1;
pub const PROT_WRITE: u64 = 0x2;
pub const PROT_EXEC: u64 = 0x4;

pub const MAP_SHARED: u64 = 0x01;
pub const MAP_PRIVATE: u64 = 0x02;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_ANONYMOUS: u64 = 0x20;
pub const MAP_POPULATE: u64 = 0x8000;
pub const MAP_LOCKED: u64 = 0x2000;
pub const MAP_NORESERVE: u64 = 0x4000;
pub const MAP_FIXED_NOREPLACE: u64 = 0x100000;

pub const MADV_NORMAL: i64 = 0;
pub const MADV_WILLNEED: i64 = 3;
pub const MADV_DONTNEED: i64 = 4;
pub const MADV_FREE: i64 = 8;
pub const MADV_DONTFORK: i64 = 10;
pub const MADV_DOFORK: i64 = 11;
pub const MADV_HUGEPAGE: i64 = 14;
pub const MADV_NOHUGEPAGE: i64 = 15;
pub const MADV_COLD: i64 = 20;
pub const MADV_PAGEOUT: i64 = 21;
pub const MADV_DONTNEED_LOCKED: i64 = 24;

pub const MREMAP_MAYMOVE: u64 = 1;
pub const MREMAP_FIXED: u64 = 2;
pub const MREMAP_DONTUNMAP: u64 = 4;

pub const ENOMEM: i64 = 12;
pub const EFAULT: i64 = 14;
pub const EINVAL: i64 = 22;
pub const EAGAIN: i64 = 11;
pub const EEXIST: i64 = 17;
pub const ESRCH: i64 = 3;
pub const ENOSYS: i64 = 38;

/// The symbolic name of an errno value (`EINVAL`), or the number.
pub fn errno_name(errno: i64) -> String {
    match errno {
        ENOMEM => "ENOMEM".into(),
        EFAULT => "EFAULT".into(),
        EINVAL => "EINVAL".into(),
        EAGAIN => "EAGAIN".into(),
        EEXIST => "EEXIST".into(),
        ESRCH => "ESRCH".into(),
        ENOSYS => "ENOSYS".into(),
        16 => "EBUSY".into(),
        n => n.to_string(),
    }
}

/// Rounds `x` up to a page boundary (`PAGE_ALIGN`).
pub const fn page_align(x: u64) -> u64 {
    x.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Names a `MADV_*` value with its kernel spelling.
pub fn madv_name(advice: i64) -> Option<&'static str> {
    MADV_NAMES.iter().find(|(_, v)| *v == advice).map(|(n, _)| *n)
}

/// Every `MADV_*` the model knows, with its value.
pub const MADV_NAMES: &[(&str, i64)] = &[
    ("MADV_NORMAL", MADV_NORMAL),
    ("MADV_WILLNEED", MADV_WILLNEED),
    ("MADV_DONTNEED", MADV_DONTNEED),
    ("MADV_FREE", MADV_FREE),
    ("MADV_DONTFORK", MADV_DONTFORK),
    ("MADV_DOFORK", MADV_DOFORK),
    ("MADV_HUGEPAGE", MADV_HUGEPAGE),
    ("MADV_NOHUGEPAGE", MADV_NOHUGEPAGE),
    ("MADV_COLD", MADV_COLD),
    ("MADV_PAGEOUT", MADV_PAGEOUT),
    ("MADV_DONTNEED_LOCKED", MADV_DONTNEED_LOCKED),
];

/// Every `PROT_*` bit with its name, for printing and parsing `a|b` lists.
pub const PROT_NAMES: &[(&str, u64)] =
    &[("PROT_READ", PROT_READ), ("PROT_WRITE", PROT_WRITE), ("PROT_EXEC", PROT_EXEC)];

/// Every `MAP_*` bit with its name.
pub const MAP_NAMES: &[(&str, u64)] = &[
    ("MAP_SHARED", MAP_SHARED),
    ("MAP_PRIVATE", MAP_PRIVATE),
    ("MAP_FIXED", MAP_FIXED),
    ("MAP_ANONYMOUS", MAP_ANONYMOUS),
    ("MAP_LOCKED", MAP_LOCKED),
    ("MAP_POPULATE", MAP_POPULATE),
    ("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE),
];

/// Every `MREMAP_*` bit with its name.
pub const MREMAP_NAMES: &[(&str, u64)] =
    &[("MREMAP_MAYMOVE", MREMAP_MAYMOVE), ("MREMAP_FIXED", MREMAP_FIXED), ("MREMAP_DONTUNMAP", MREMAP_DONTUNMAP)];

/// Formats a bit set as `A|B` using `names`, with any unknown bits in hex; `zero` when empty.
pub fn format_bits(value: u64, names: &[(&str, u64)], zero: &str) -> String {
    if value == 0 {
        return zero.to_string();
    }
    let mut out = Vec::new();
    let mut rest = value;
    for (name, bit) in names {
        if *bit != 0 && value & bit == *bit {
            out.push((*name).to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out.join("|")
}

/// Parses `A|B|0x10` against `names`; `None` names the first unknown part.
pub fn parse_bits(text: &str, names: &[(&str, u64)], zero: &str) -> Result<u64, String> {
    if text == zero || text == "0" {
        return Ok(0);
    }
    let mut v = 0;
    for part in text.split('|') {
        if let Some((_, bit)) = names.iter().find(|(n, _)| *n == part) {
            v |= bit;
        } else if let Some(hex) = part.strip_prefix("0x") {
            v |= u64::from_str_radix(hex, 16).map_err(|_| part.to_string())?;
        } else {
            return Err(part.to_string());
        }
    }
    Ok(v)
}
