//! Page flags (`enum pageflags`, 6.18 numbering) and VMA flags (`VM_*`), generated from one list each.

use serde::{Deserialize, Serialize};

macro_rules! page_flags {
    ($( $(#[$doc:meta])* $name:ident = $bit:expr, $str:literal, $test:ident, $set:ident, $clear:ident; )*) => {
        /// One `PG_*` bit of a folio or page; the discriminant is the 6.18 bit number.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[allow(non_camel_case_types)]
        pub enum PageFlag { $( $(#[$doc])* $name = $bit, )* }

        impl PageFlag {
            /// Every flag the model tracks, in bit order.
            pub const ALL: &'static [PageFlag] = &[ $( PageFlag::$name, )* ];
            /// The kernel name, `PG_lru` and so on.
            pub fn name(self) -> &'static str { match self { $( PageFlag::$name => $str, )* } }
            /// Looks a flag up by its kernel name (with or without the `PG_` prefix).
            pub fn from_name(s: &str) -> Option<PageFlag> {
                let s = s.strip_prefix("PG_").unwrap_or(s);
                match s { $( _ if &$str[3..] == s => Some(PageFlag::$name), )* _ => None }
            }
        }

        impl PageFlags {
            $(
                #[doc = concat!("Tests `", $str, "` (`folio_test_*`).")]
                #[inline] pub fn $test(self) -> bool { self.0 & (1 << $bit) != 0 }
                #[doc = concat!("Sets `", $str, "`.")]
                #[inline] pub fn $set(&mut self) { self.0 |= 1 << $bit; }
                #[doc = concat!("Clears `", $str, "`.")]
                #[inline] pub fn $clear(&mut self) { self.0 &= !(1 << $bit); }
            )*
        }
    };
}

page_flags! {
    locked = 0, "PG_locked", test_locked, set_locked, clear_locked;
    referenced = 2, "PG_referenced", test_referenced, set_referenced, clear_referenced;
    uptodate = 3, "PG_uptodate", test_uptodate, set_uptodate, clear_uptodate;
    dirty = 4, "PG_dirty", test_dirty, set_dirty, clear_dirty;
    lru = 5, "PG_lru", test_lru, set_lru, clear_lru;
    head = 6, "PG_head", test_head, set_head, clear_head;
    active = 8, "PG_active", test_active, set_active, clear_active;
    workingset = 9, "PG_workingset", test_workingset, set_workingset, clear_workingset;
    /// `PG_owner_priv_1`, which is `PG_swapcache` on swap-backed folios.
    swapcache = 10, "PG_swapcache", test_swapcache, set_swapcache, clear_swapcache;
    /// `PG_owner_2`: `PG_anon_exclusive` on anonymous pages. Kept per page in [`crate::Page`]; on the folio it
    /// records the head page's bit as kpageflags reports it.
    anon_exclusive = 11, "PG_anon_exclusive", test_anon_exclusive, set_anon_exclusive, clear_anon_exclusive;
    reserved = 13, "PG_reserved", test_reserved, set_reserved, clear_reserved;
    /// `PG_reclaim`, which is also `PG_partially_mapped` on page[1] of a large folio; the model keeps the latter.
    partially_mapped = 16, "PG_partially_mapped", test_partially_mapped, set_partially_mapped, clear_partially_mapped;
    swapbacked = 17, "PG_swapbacked", test_swapbacked, set_swapbacked, clear_swapbacked;
    unevictable = 18, "PG_unevictable", test_unevictable, set_unevictable, clear_unevictable;
    mlocked = 20, "PG_mlocked", test_mlocked, set_mlocked, clear_mlocked;
    young = 21, "PG_young", test_young, set_young, clear_young;
}

/// The `flags` word of a folio: a set of [`PageFlag`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PageFlags(pub u32);

impl PageFlags {
    /// Tests `PG_mappedtodisk`: `PG_owner_2` on a page-cache folio (every block of it is on disk), the bit
    /// `PG_anon_exclusive` is on an anonymous one.
    #[inline]
    pub fn test_mappedtodisk(self) -> bool {
        self.test_anon_exclusive()
    }
    /// Sets `PG_mappedtodisk` (see [`PageFlags::test_mappedtodisk`]).
    #[inline]
    pub fn set_mappedtodisk(&mut self) {
        self.set_anon_exclusive();
    }
    /// The names of the set flags of a folio, anonymous (`anon`) or not: bit 11 is `PG_anon_exclusive` on an
    /// anonymous folio and `PG_mappedtodisk` on any other.
    pub fn folio_names(self, anon: bool) -> Vec<&'static str> {
        let mut names = self.names();
        if !anon {
            for n in &mut names {
                if *n == PageFlag::anon_exclusive.name() {
                    *n = "PG_mappedtodisk";
                }
            }
        }
        names
    }
    /// The names of the set flags, in bit order (`PG_uptodate`, `PG_lru`, …).
    pub fn names(self) -> Vec<&'static str> {
        PageFlag::ALL.iter().filter(|f| self.0 & (1 << **f as u32) != 0).map(|f| f.name()).collect()
    }
    /// Tests one flag given as a value.
    pub fn test(self, f: PageFlag) -> bool {
        self.0 & (1 << f as u32) != 0
    }
}

macro_rules! vm_flags {
    ($( $name:ident = $bit:expr, $str:literal; )*) => {
        /// `vm_flags_t`: the `VM_*` bits of a `vm_area_struct`, with the kernel's bit values.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub struct VmFlags(pub u64);
        impl VmFlags {
            $( #[doc = concat!("`", $str, "`")] pub const $name: VmFlags = VmFlags($bit); )*
            /// Every flag with its kernel name, in bit order.
            pub const ALL: &'static [(&'static str, VmFlags)] = &[ $( ($str, VmFlags::$name), )* ];
        }
    };
}

vm_flags! {
    VM_READ = 0x1, "VM_READ";
    VM_WRITE = 0x2, "VM_WRITE";
    VM_EXEC = 0x4, "VM_EXEC";
    VM_SHARED = 0x8, "VM_SHARED";
    VM_MAYREAD = 0x10, "VM_MAYREAD";
    VM_MAYWRITE = 0x20, "VM_MAYWRITE";
    VM_MAYEXEC = 0x40, "VM_MAYEXEC";
    VM_MAYSHARE = 0x80, "VM_MAYSHARE";
    VM_GROWSDOWN = 0x100, "VM_GROWSDOWN";
    VM_PFNMAP = 0x400, "VM_PFNMAP";
    VM_LOCKED = 0x2000, "VM_LOCKED";
    VM_DONTCOPY = 0x20000, "VM_DONTCOPY";
    VM_ACCOUNT = 0x100000, "VM_ACCOUNT";
    VM_NORESERVE = 0x200000, "VM_NORESERVE";
    VM_HUGEPAGE = 0x20000000, "VM_HUGEPAGE";
    VM_NOHUGEPAGE = 0x40000000, "VM_NOHUGEPAGE";
}

impl VmFlags {
    /// True when every bit of `other` is set.
    #[inline]
    pub fn contains(self, other: VmFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Sets the bits of `other`.
    #[inline]
    pub fn insert(&mut self, other: VmFlags) {
        self.0 |= other.0;
    }
    /// Clears the bits of `other`.
    #[inline]
    pub fn remove(&mut self, other: VmFlags) {
        self.0 &= !other.0;
    }
    /// The names of the set flags.
    pub fn names(self) -> Vec<&'static str> {
        VmFlags::ALL.iter().filter(|(_, f)| self.contains(*f)).map(|(n, _)| *n).collect()
    }
    /// The `/proc/PID/maps` permission string, `rw-p` and so on.
    pub fn perms(self) -> String {
        let c = |f, ch| if self.contains(f) { ch } else { '-' };
        [
            c(VmFlags::VM_READ, 'r'),
            c(VmFlags::VM_WRITE, 'w'),
            c(VmFlags::VM_EXEC, 'x'),
            if self.contains(VmFlags::VM_SHARED) || self.contains(VmFlags::VM_MAYSHARE) { 's' } else { 'p' },
        ]
        .iter()
        .collect()
    }
}

impl std::ops::BitOr for VmFlags {
    type Output = VmFlags;
    fn bitor(self, rhs: VmFlags) -> VmFlags {
        VmFlags(self.0 | rhs.0)
    }
}
