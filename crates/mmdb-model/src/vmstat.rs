//! vm event counters (`enum vm_event_item`), named as `/proc/vmstat` names them.

macro_rules! vm_events {
    ($( $name:ident = $str:literal, )*) => {
        /// One `/proc/vmstat` event counter.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum VmEvent { $( $name, )* }
        impl VmEvent {
            /// Every counter, in declaration order.
            pub const ALL: &'static [VmEvent] = &[ $( VmEvent::$name, )* ];
            /// The `/proc/vmstat` name.
            pub fn name(self) -> &'static str { match self { $( VmEvent::$name => $str, )* } }
            /// Looks a counter up by its `/proc/vmstat` name or its upper-case kernel name.
            pub fn from_name(s: &str) -> Option<VmEvent> {
                let lower = s.to_ascii_lowercase();
                VmEvent::ALL.iter().copied().find(|e| e.name() == lower)
            }
        }
    };
}

vm_events! {
    PGFAULT = "pgfault",
    PGMAJFAULT = "pgmajfault",
    PGALLOC = "pgalloc_normal",
    PGFREE = "pgfree",
    PGACTIVATE = "pgactivate",
    PGDEACTIVATE = "pgdeactivate",
    PGLAZYFREE = "pglazyfree",
    PGLAZYFREED = "pglazyfreed",
    PGREUSE = "pgreuse",
    PGREFILL = "pgrefill",
    PGSCAN_ANON = "pgscan_anon",
    PGSCAN_FILE = "pgscan_file",
    PGSTEAL_ANON = "pgsteal_anon",
    PGSTEAL_FILE = "pgsteal_file",
    PSWPIN = "pswpin",
    PSWPOUT = "pswpout",
    THP_FAULT_ALLOC = "thp_fault_alloc",
    THP_FAULT_FALLBACK = "thp_fault_fallback",
    THP_FAULT_FALLBACK_CHARGE = "thp_fault_fallback_charge",
    THP_SPLIT_PAGE = "thp_split_page",
    THP_SPLIT_PMD = "thp_split_pmd",
    THP_DEFERRED_SPLIT_PAGE = "thp_deferred_split_page",
    THP_ZERO_PAGE_ALLOC = "thp_zero_page_alloc",
    UNEVICTABLE_PGMLOCKED = "unevictable_pgs_mlocked",
    UNEVICTABLE_PGMUNLOCKED = "unevictable_pgs_munlocked",
    UNEVICTABLE_PGCULLED = "unevictable_pgs_culled",
    UNEVICTABLE_PGRESCUED = "unevictable_pgs_rescued",
    OOM_KILL = "oom_kill",
}

/// The counters, indexed by [`VmEvent`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmStat(pub [u64; VmEvent::ALL.len()]);

impl VmStat {
    /// `count_vm_events(item, n)`.
    #[inline]
    pub fn count(&mut self, e: VmEvent, n: u64) {
        self.0[e as usize] += n;
    }
    /// The counter's value.
    #[inline]
    pub fn get(&self, e: VmEvent) -> u64 {
        self.0[e as usize]
    }
}
