//! `oom` events: the OOM killer's victim.
//!
//! ```text
//! mark_victim:  print fmt: "pid=%d comm=%s total-vm=%lukB anon-rss=%lukB file-rss:%lukB shmem-rss:%lukB
//!                 uid=%u pgtables=%lukB oom_score_adj=%hd"
//! ```
//!
//! Keys contain dashes and two of them end in `:` instead of `=`. Kernels before 6.2 print only `pid=`, so every
//! other field is optional.

use crate::diag::LineError;
use crate::fields::Kv;

use super::Record;

/// `oom:mark_victim`: the OOM killer chose a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkVictim {
    /// The victim's pid.
    pub pid: u32,
    /// The victim's comm.
    pub comm: Option<String>,
    /// Its mm's `total_vm`, in kB (printed `total-vm=`).
    pub total_vm: Option<u64>,
    /// Its anon RSS in kB (printed `anon-rss=`).
    pub anon_rss: Option<u64>,
    /// Its file RSS in kB (printed `file-rss:`).
    pub file_rss: Option<u64>,
    /// Its shmem RSS in kB (printed `shmem-rss:`).
    pub shmem_rss: Option<u64>,
    /// Its uid.
    pub uid: Option<u32>,
    /// Its page tables in kB.
    pub pgtables: Option<u64>,
    /// Its `oom_score_adj`.
    pub oom_score_adj: Option<i16>,
}

pub(super) fn mark_victim(kv: &Kv<'_>) -> Result<Record, LineError> {
    let kb = |key| kv.get(key).map(|v| v.u64_with("kB")).transpose();
    let oom_score_adj = match kv.get("oom_score_adj") {
        Some(v) => Some(v.text.parse().map_err(|_| v.error("a 16-bit integer"))?),
        None => None,
    };
    Ok(Record::MarkVictim(Box::new(MarkVictim {
        pid: kv.req("pid")?.u32()?,
        comm: kv.get("comm").map(|v| v.string()),
        total_vm: kb("total-vm")?,
        anon_rss: kb("anon-rss")?,
        file_rss: kb("file-rss")?,
        shmem_rss: kb("shmem-rss")?,
        uid: kv.get("uid").map(|v| v.u32()).transpose()?,
        pgtables: kb("pgtables")?,
        oom_score_adj,
    })))
}
