//! `migrate` events: migration entries set and removed (also by folio splits, which use them).
//!
//! ```text
//! set_migration_pte, remove_migration_pte:  print fmt: "addr=%lx, pte=%lx order=%d"
//!     addr=7f7c23c00000, pte=80000001a2b3c067 order=0
//! ```
//!
//! `addr` and `pte` are hex without `0x`, and `addr` is followed by a comma.

use crate::diag::LineError;
use crate::fields::Kv;

use super::Record;

/// `migrate:set_migration_pte` and `migrate:remove_migration_pte`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MigrationPte {
    /// The user virtual address.
    pub addr: u64,
    /// The page-table entry (the migration entry when set, the restored PTE when removed).
    pub pte: u64,
    /// The folio's order.
    pub order: i32,
}

fn migration_pte(kv: &Kv<'_>) -> Result<MigrationPte, LineError> {
    Ok(MigrationPte { addr: kv.req("addr")?.hex()?, pte: kv.req("pte")?.hex()?, order: kv.req("order")?.i32()? })
}

pub(super) fn set_migration_pte(kv: &Kv<'_>) -> Result<Record, LineError> {
    migration_pte(kv).map(Record::SetMigrationPte)
}

pub(super) fn remove_migration_pte(kv: &Kv<'_>) -> Result<Record, LineError> {
    migration_pte(kv).map(Record::RemoveMigrationPte)
}
