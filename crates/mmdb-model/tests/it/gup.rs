//! GUP with FOLL_TOUCH and one-batch moves: what exec's copy_strings() does to the new stack's top page, and what
//! a full per-CPU batch does on its own (kernel-semantics §4).

use crate::sim::*;
use mmdb_model::lru::BatchKind;
use mmdb_model::*;

/// copy_strings() reaches the stack's top page three times (file name, environment, arguments): the first GUP
/// faults it in and marks it referenced, the second activates it while it still sits in this CPU's lru_add batch
/// (`__lru_cache_activate_folio`, clearing PG_referenced), the third marks it referenced again.
#[test]
fn gup_faults_in_then_marks_accessed_and_activates_in_the_batch() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    assert_eq!(s.ev(1, Op::Gup { addr: a, write: true }), Some(0));
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [referenced anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    s.ev(1, Op::Gup { addr: a, write: true });
    assert_eq!(s.page(1, a), "WDA map=1 ref=2 [active anon_exclusive swapbacked] lru=- batch=cpu0:lru_add");
    s.ev(1, Op::Gup { addr: a, write: true });
    s.drain();
    // The third touch sets PG_referenced again: folio_mark_accessed() tests it first, active or not.
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [referenced lru active anon_exclusive swapbacked] lru=active_anon");
    // Outside any VMA there is nothing to reach.
    assert_eq!(s.ev(1, Op::Gup { addr: 0x1000, write: false }), Some(-EFAULT));
}

/// Once the batch has moved, the second touch goes through the lru_activate batch: the folio stays inactive
/// (and unreferenced) until that batch moves too; moving the lru_add batch alone does not move it.
#[test]
fn a_full_batch_moves_alone() {
    let mut s = Sim::new();
    s.spawn(1);
    let a = s.mmap(1, 4 * PG);
    s.ev(1, Op::Gup { addr: a, write: true });
    s.ev(0, Op::FolioBatchMove { batch: BatchKind::LruAdd });
    s.ev(1, Op::Gup { addr: a, write: true });
    assert_eq!(
        s.page(1, a),
        "WDA map=1 ref=2 [lru anon_exclusive swapbacked] lru=inactive_anon batch=cpu0:lru_activate"
    );
    s.ev(0, Op::FolioBatchMove { batch: BatchKind::LruAdd });
    assert!(s.page(1, a).contains("batch=cpu0:lru_activate"), "{}", s.page(1, a));
    s.ev(0, Op::FolioBatchMove { batch: BatchKind::LruActivate });
    assert_eq!(s.page(1, a), "WDA map=1 ref=1 [lru active anon_exclusive swapbacked] lru=active_anon");
}
