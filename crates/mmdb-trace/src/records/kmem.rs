//! `kmem` events: page allocation and freeing, and the RSS counters.
//!
//! ```text
//! mm_page_alloc:         print fmt: "page=%p pfn=0x%lx order=%d migratetype=%d gfp_flags=%s"
//!     page=0000000054734d28 pfn=0x1d4c47 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP
//! mm_page_free:          print fmt: "page=%p pfn=0x%lx order=%d"
//! mm_page_free_batched:  print fmt: "page=%p pfn=0x%lx order=0"
//! rss_stat:              print fmt: "mm_id=%u curr=%d type=%s size=%ldB"
//!     mm_id=3932844115 curr=1 type=MM_FILEPAGES size=3489792B
//! ```
//!
//! A failed allocation prints a NULL `page` and `pfn=0x0` (the kernel tests `pfn != -1UL`); perf prints `page`
//! as a number (`page=0x104c48`). `gfp_flags` is `__print_flags` output: the table of [`GFP_NAMES`] applied
//! greedily, any leftover bits in hex, `none` for 0. `rss_stat` prints its `member` field as `type=`.

use crate::diag::LineError;
use crate::fields::{parse_hex, Exact, Kv, Value};

use super::Record;

/// `kmem:mm_page_alloc`: the end of one `__alloc_pages` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmPageAlloc {
    /// The first pfn of the allocated block; `None` when the allocation failed.
    pub pfn: Option<u64>,
    /// The allocation order (the block is `1 << order` pages).
    pub order: u32,
    /// The effective GFP mask, as bits of [`GFP_NAMES`].
    pub gfp_flags: u64,
    /// 0 `MIGRATE_UNMOVABLE`, 1 `MIGRATE_MOVABLE`, 2 `MIGRATE_RECLAIMABLE`, ...
    pub migratetype: i32,
}

/// `kmem:mm_page_free`: every freed page or folio, batched or not (`free_pages_prepare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmPageFree {
    /// The first pfn of the freed block.
    pub pfn: u64,
    /// The order of the freed block.
    pub order: u32,
}

/// `kmem:mm_page_free_batched`: a folio freed through `free_unref_folios`, after its [`MmPageFree`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmPageFreeBatched {
    /// The pfn (printed with `order=0` whatever the folio's order).
    pub pfn: u64,
}

/// The RSS counter an `rss_stat` event reports (`enum` in `include/linux/mm_types_task.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RssMember {
    /// `MM_FILEPAGES` (0).
    FilePages,
    /// `MM_ANONPAGES` (1).
    AnonPages,
    /// `MM_SWAPENTS` (2).
    SwapEnts,
    /// `MM_SHMEMPAGES` (3).
    ShmemPages,
}

impl RssMember {
    /// Every member, in index order.
    pub const ALL: [RssMember; 4] =
        [RssMember::FilePages, RssMember::AnonPages, RssMember::SwapEnts, RssMember::ShmemPages];

    /// The kernel's name: `MM_FILEPAGES`, ...
    pub fn name(self) -> &'static str {
        match self {
            RssMember::FilePages => "MM_FILEPAGES",
            RssMember::AnonPages => "MM_ANONPAGES",
            RssMember::SwapEnts => "MM_SWAPENTS",
            RssMember::ShmemPages => "MM_SHMEMPAGES",
        }
    }

    /// The kernel's index (the `member` field).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The member named `name` (`MM_ANONPAGES`) or with index `name` (`1`).
    pub fn parse(name: &str) -> Option<RssMember> {
        // A name is never also a number: by name first, then by index.
        let by_name = Self::ALL.into_iter().find(|m| crate::fields::same(m.name(), name));
        by_name.or_else(|| Self::ALL.into_iter().find(|m| name.parse() == Ok(m.index())))
    }
}

/// `kmem:rss_stat`: an RSS counter of one mm changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssStat {
    /// A hash of the `mm_struct` pointer (not a pid).
    pub mm_id: u32,
    /// True when the event fires in the mm's own task (`current->mm == mm`).
    pub curr: bool,
    /// Which counter (printed as `type=`).
    pub member: RssMember,
    /// The counter's new value in bytes.
    pub size: i64,
}

const GFP_DMA: u64 = 1 << 0;
const GFP_HIGHMEM: u64 = 1 << 1;
const GFP_DMA32: u64 = 1 << 2;
const GFP_MOVABLE: u64 = 1 << 3;
const GFP_RECLAIMABLE: u64 = 1 << 4;
const GFP_HIGH: u64 = 1 << 5;
const GFP_IO: u64 = 1 << 6;
const GFP_FS: u64 = 1 << 7;
const GFP_ZERO: u64 = 1 << 8;
const GFP_DIRECT_RECLAIM: u64 = 1 << 10;
const GFP_KSWAPD_RECLAIM: u64 = 1 << 11;
const GFP_WRITE: u64 = 1 << 12;
const GFP_NOWARN: u64 = 1 << 13;
const GFP_RETRY_MAYFAIL: u64 = 1 << 14;
const GFP_NOFAIL: u64 = 1 << 15;
const GFP_NORETRY: u64 = 1 << 16;
const GFP_MEMALLOC: u64 = 1 << 17;
const GFP_COMP: u64 = 1 << 18;
const GFP_NOMEMALLOC: u64 = 1 << 19;
const GFP_HARDWALL: u64 = 1 << 20;
const GFP_THISNODE: u64 = 1 << 21;
const GFP_ACCOUNT: u64 = 1 << 22;
const GFP_ZEROTAGS: u64 = 1 << 23;
const GFP_NO_OBJ_EXT: u64 = 1 << 24;
const GFP_RECLAIM: u64 = GFP_DIRECT_RECLAIM | GFP_KSWAPD_RECLAIM;
const GFP_KERNEL: u64 = GFP_RECLAIM | GFP_IO | GFP_FS;
const GFP_USER: u64 = GFP_KERNEL | GFP_HARDWALL;
const GFP_HIGHUSER: u64 = GFP_USER | GFP_HIGHMEM;
const GFP_HIGHUSER_MOVABLE: u64 = GFP_HIGHUSER | GFP_MOVABLE;
const GFP_TRANSHUGE_LIGHT: u64 = (GFP_HIGHUSER_MOVABLE | GFP_COMP | GFP_NOMEMALLOC | GFP_NOWARN) & !GFP_RECLAIM;

/// The GFP names of 6.18's `show_gfp_flags` with their bits, in the order `__print_flags` tries them.
pub const GFP_NAMES: &[(&str, u64)] = &[
    ("GFP_TRANSHUGE", GFP_TRANSHUGE_LIGHT | GFP_DIRECT_RECLAIM),
    ("GFP_TRANSHUGE_LIGHT", GFP_TRANSHUGE_LIGHT),
    ("GFP_HIGHUSER_MOVABLE", GFP_HIGHUSER_MOVABLE),
    ("GFP_HIGHUSER", GFP_HIGHUSER),
    ("GFP_USER", GFP_USER),
    ("GFP_KERNEL_ACCOUNT", GFP_KERNEL | GFP_ACCOUNT),
    ("GFP_KERNEL", GFP_KERNEL),
    ("GFP_NOFS", GFP_RECLAIM | GFP_IO),
    ("GFP_ATOMIC", GFP_HIGH | GFP_KSWAPD_RECLAIM),
    ("GFP_NOIO", GFP_RECLAIM),
    ("GFP_NOWAIT", GFP_KSWAPD_RECLAIM | GFP_NOWARN),
    ("GFP_DMA", GFP_DMA),
    ("GFP_DMA32", GFP_DMA32),
    ("__GFP_RECLAIM", GFP_RECLAIM),
    ("__GFP_DMA", GFP_DMA),
    ("__GFP_HIGHMEM", GFP_HIGHMEM),
    ("__GFP_DMA32", GFP_DMA32),
    ("__GFP_MOVABLE", GFP_MOVABLE),
    ("__GFP_RECLAIMABLE", GFP_RECLAIMABLE),
    ("__GFP_HIGH", GFP_HIGH),
    ("__GFP_IO", GFP_IO),
    ("__GFP_FS", GFP_FS),
    ("__GFP_ZERO", GFP_ZERO),
    ("__GFP_DIRECT_RECLAIM", GFP_DIRECT_RECLAIM),
    ("__GFP_KSWAPD_RECLAIM", GFP_KSWAPD_RECLAIM),
    ("__GFP_WRITE", GFP_WRITE),
    ("__GFP_NOWARN", GFP_NOWARN),
    ("__GFP_RETRY_MAYFAIL", GFP_RETRY_MAYFAIL),
    ("__GFP_NOFAIL", GFP_NOFAIL),
    ("__GFP_NORETRY", GFP_NORETRY),
    ("__GFP_MEMALLOC", GFP_MEMALLOC),
    ("__GFP_COMP", GFP_COMP),
    ("__GFP_NOMEMALLOC", GFP_NOMEMALLOC),
    ("__GFP_HARDWALL", GFP_HARDWALL),
    ("__GFP_THISNODE", GFP_THISNODE),
    ("__GFP_ACCOUNT", GFP_ACCOUNT),
    ("__GFP_ZEROTAGS", GFP_ZEROTAGS),
    ("__GFP_NO_OBJ_EXT", GFP_NO_OBJ_EXT),
];

/// Prints a GFP mask the way the tracepoint does (`GFP_HIGHUSER_MOVABLE|__GFP_ZERO`, `none` for 0).
pub fn gfp_names(gfp_flags: u64) -> String {
    print_flags(gfp_flags, GFP_NAMES, "none")
}

/// Prints `flags` like the kernel's `__print_flags`: names tried in table order, leftover bits in hex.
pub(crate) fn print_flags(mut flags: u64, names: &[(&str, u64)], zero: &str) -> String {
    if flags == 0 {
        return zero.to_string();
    }
    let mut out = String::new();
    for &(name, mask) in names {
        if mask != 0 && flags & mask == mask {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            flags &= !mask;
        }
    }
    if flags != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(&format!("0x{flags:x}"));
    }
    out
}

/// Reads `__print_flags` output back: `|`-joined names of `names`, hex leftovers, or `zero` for 0.
pub(crate) fn parse_flags(value: &Value<'_>, names: &[(&str, u64)], zero: &str, what: &str) -> Result<u64, LineError> {
    if value.text == zero {
        return Ok(0);
    }
    // A trace repeats a few masks over and over (`GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP` on every user
    // page): the last one read on this thread, with its table, is remembered.
    thread_local! {
        static LAST: std::cell::RefCell<(usize, String, u64)> = const { std::cell::RefCell::new((0, String::new(), 0)) };
    }
    let table = names.as_ptr() as usize;
    let remembered = LAST.with_borrow(|(t, text, bits)| (*t == table && *text == value.text).then_some(*bits));
    if let Some(bits) = remembered {
        return Ok(bits);
    }
    let bits = read_flags(value, names, what)?;
    LAST.with_borrow_mut(|last| {
        last.0 = table;
        last.1.clear();
        last.1.push_str(value.text);
        last.2 = bits;
    });
    Ok(bits)
}

/// [`parse_flags`] of a mask that is not the zero name.
fn read_flags(value: &Value<'_>, names: &[(&str, u64)], what: &str) -> Result<u64, LineError> {
    let mut bits = 0;
    let mut offset = value.offset;
    for part in value.text.split('|') {
        let bit = names
            .iter()
            .find(|(name, _)| crate::fields::same(name, part))
            .map(|&(_, mask)| mask)
            .or_else(|| part.strip_prefix("0x").and_then(|_| parse_hex(part)));
        match bit {
            Some(bit) => bits |= bit,
            None => {
                let expected = format!("{what} names joined by `|` for `{}`", value.key);
                return Err(LineError::new(offset, part.len(), expected));
            }
        }
        offset += part.len() + 1;
    }
    Ok(bits)
}

/// `s.parse::<i64>()`, sooner for the usual plain digits.
fn parse_i64(s: &str) -> Option<i64> {
    match crate::fields::parse_dec(s) {
        // At most 18 digits always fit; more may not, and the general parser says.
        Some(v) if s.len() <= 18 => i64::try_from(v).ok(),
        _ => s.parse().ok(),
    }
}

/// Tells whether a printed pointer is NULL: `(null)`, `(nil)` or all zeros (`0000000000000000`, `0x0`).
fn is_null_pointer(text: &str) -> bool {
    // `parse_hex(text) == Some(0)`, without reading a whole pointer that is not NULL: 1 to 16 hex digits, all 0.
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    matches!(text, "(null)" | "(nil)")
        || (!digits.is_empty() && digits.len() <= 16 && digits.bytes().all(|c| c == b'0'))
}

pub(super) fn mm_page_alloc(kv: &Kv<'_>) -> Result<Record, LineError> {
    let page_is_null = kv.get("page").is_some_and(|p| is_null_pointer(p.text));
    let pfn = match kv.get("pfn") {
        None => None,
        Some(v) if v.text == "-1" => None,
        Some(v) => Some(v.hex()?).filter(|&pfn| pfn != u64::MAX && !page_is_null),
    };
    Ok(Record::MmPageAlloc(MmPageAlloc {
        pfn,
        order: kv.req("order")?.order()?,
        gfp_flags: parse_flags(&kv.req("gfp_flags")?, GFP_NAMES, "none", "`GFP_*`/`__GFP_*`")?,
        migratetype: kv.req("migratetype")?.i32()?,
    }))
}

pub(super) fn mm_page_free(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::MmPageFree(MmPageFree { pfn: kv.req("pfn")?.hex()?, order: kv.req("order")?.order()? }))
}

pub(super) fn mm_page_free_batched(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::MmPageFreeBatched(MmPageFreeBatched { pfn: kv.req("pfn")?.hex()? }))
}

/// [`mm_page_alloc`] of a line in the shape 6.18 prints.
pub(super) fn mm_page_alloc_exact(mut f: Exact<'_>) -> Option<Record> {
    let page_is_null = is_null_pointer(f.next("page=")?.text);
    let pfn = match f.next("pfn=")?.text {
        "-1" => None,
        text => Some(parse_hex(text)?).filter(|&pfn| pfn != u64::MAX && !page_is_null),
    };
    let order = f.next("order=")?.order().ok()?;
    let migratetype = f.next("migratetype=")?.i32().ok()?;
    let gfp_flags = parse_flags(&f.last("gfp_flags=", None)?, GFP_NAMES, "none", "`GFP_*`/`__GFP_*`").ok()?;
    Some(Record::MmPageAlloc(MmPageAlloc { pfn, order, gfp_flags, migratetype }))
}

/// [`mm_page_free`] of a line in the shape 6.18 prints.
pub(super) fn mm_page_free_exact(mut f: Exact<'_>) -> Option<Record> {
    f.next("page=")?;
    let pfn = parse_hex(f.next("pfn=")?.text)?;
    let order = f.last("order=", None)?.order().ok()?;
    Some(Record::MmPageFree(MmPageFree { pfn, order }))
}

/// [`mm_page_free_batched`] of a line in the shape 6.18 prints.
pub(super) fn mm_page_free_batched_exact(mut f: Exact<'_>) -> Option<Record> {
    f.next("page=")?;
    let pfn = parse_hex(f.next("pfn=")?.text)?;
    f.last("order=", None)?;
    Some(Record::MmPageFreeBatched(MmPageFreeBatched { pfn }))
}

/// [`rss_stat`] of a line in the shape 6.18 prints.
pub(super) fn rss_stat_exact(mut f: Exact<'_>) -> Option<Record> {
    let mm_id = f.next("mm_id=")?.u32().ok()?;
    let curr = match f.next("curr=")?.text {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let member = RssMember::parse(f.next("type=")?.text)?;
    let size = f.last("size=", None)?.text.strip_suffix('B').and_then(parse_i64)?;
    Some(Record::RssStat(RssStat { mm_id, curr, member, size }))
}

pub(super) fn rss_stat(kv: &Kv<'_>) -> Result<Record, LineError> {
    let curr = kv.req("curr")?;
    let curr = match curr.text {
        "0" => false,
        "1" => true,
        _ => return Err(curr.error("`0` or `1`")),
    };
    let member = kv.req_any(&["type", "member"])?;
    let member = RssMember::parse(member.text)
        .ok_or_else(|| member.error("`MM_FILEPAGES`, `MM_ANONPAGES`, `MM_SWAPENTS` or `MM_SHMEMPAGES`"))?;
    let size = kv.req("size")?;
    let size = size.text.strip_suffix('B').and_then(parse_i64).ok_or_else(|| size.error("a byte count `<n>B`"))?;
    Ok(Record::RssStat(RssStat { mm_id: kv.req("mm_id")?.u32()?, curr, member, size }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gfp_names_print_like_the_kernel() {
        assert_eq!(gfp_names(GFP_HIGHUSER_MOVABLE | GFP_ZERO | GFP_COMP), "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP");
        assert_eq!(
            gfp_names(GFP_KERNEL | GFP_ACCOUNT | GFP_ZERO | GFP_COMP),
            "GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP"
        );
        assert_eq!(gfp_names(GFP_KSWAPD_RECLAIM | GFP_NOWARN), "GFP_NOWAIT");
        assert_eq!(gfp_names(0), "none");
        assert_eq!(gfp_names(1 << 9), "0x200");
    }

    #[test]
    fn members_and_sizes_parse_like_the_std_parsers() {
        for name in ["MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES", "0", "1", "3", "+2", "4", "01", ""]
        {
            let slow = RssMember::ALL.into_iter().find(|m| m.name() == name || name.parse() == Ok(m.index()));
            assert_eq!(RssMember::parse(name), slow, "{name}");
        }
        for s in [
            "0",
            "4096",
            "+4096",
            "-4096",
            "123456789012345678",
            "9223372036854775807",
            "9223372036854775808",
            "",
            "1a",
        ] {
            assert_eq!(parse_i64(s), s.parse().ok(), "{s}");
        }
    }

    #[test]
    fn null_pointers() {
        for null in ["(null)", "(nil)", "0000000000000000", "0x0", "0X00", "0"] {
            assert!(is_null_pointer(null), "{null}");
        }
        for not in ["", "0x", "00000000000000000", "0000000054734d28", "x0", "(none)"] {
            assert!(!is_null_pointer(not), "{not}");
        }
    }
}
