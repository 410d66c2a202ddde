//! `exceptions` events: page faults taken from user mode and, on user addresses, from kernel mode.
//!
//! ```text
//! page_fault_user:    print fmt: "address=%ps ip=%ps error_code=0x%lx"
//!     address=0x7f7c23d51c20 ip=0x7f7c238ff04a error_code=0x7
//! page_fault_kernel:  print fmt: "address=%ps ip=%ps error_code=0x%lx"
//!     address=0x7ffc1e2b3ff8 ip=rep_stos_alternative+0x40/0x80 error_code=0x2
//! ```
//!
//! `%ps` of a user address prints it in hex with `0x`; of a kernel text address, as `symbol+off/size`.

use crate::diag::LineError;
use crate::fields::{parse_hex, Exact, Kv};

use super::Record;

/// `exceptions:page_fault_user`: one x86 #PF exception taken from user mode, before it is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFaultUser {
    /// The faulting virtual address (CR2).
    pub address: u64,
    /// The user instruction pointer.
    pub ip: u64,
    /// The x86 error code: bit 0 protection violation, 1 write, 2 user, 4 instruction fetch.
    pub error_code: u64,
}

pub(super) fn page_fault_user(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::PageFaultUser(PageFaultUser {
        address: kv.req("address")?.hex()?,
        ip: kv.req("ip")?.hex()?,
        error_code: kv.req("error_code")?.hex()?,
    }))
}

/// [`page_fault_user`] of a line in the shape 6.18 prints.
pub(super) fn page_fault_user_exact(mut f: Exact<'_>) -> Option<Record> {
    let address = parse_hex(f.next("address=")?.text)?;
    let ip = parse_hex(f.next("ip=")?.text)?;
    let error_code = parse_hex(f.last("error_code=", None)?.text)?;
    Some(Record::PageFaultUser(PageFaultUser { address, ip, error_code }))
}

/// `exceptions:page_fault_kernel`: a #PF taken in kernel mode, as when `copy_to_user` or `clear_user` (exec's
/// `padzero`, `create_elf_tables`, a `read()` into a fresh buffer) touches a user page that is not present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageFaultKernel {
    /// The faulting virtual address (CR2); user faults are those below the kernel's half.
    pub address: u64,
    /// The kernel instruction pointer, as the trace printed it (`symbol+off/size`).
    pub ip: String,
    /// The x86 error code: bit 0 protection violation, 1 write, 2 user (clear here), 4 instruction fetch.
    pub error_code: u64,
}

pub(super) fn page_fault_kernel(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::PageFaultKernel(PageFaultKernel {
        address: kv.req("address")?.hex()?,
        ip: kv.req("ip")?.text.to_string(),
        error_code: kv.req("error_code")?.hex()?,
    }))
}
