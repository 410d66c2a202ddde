//! `exceptions` events: user page faults.
//!
//! ```text
//! page_fault_user:  print fmt: "address=%ps ip=%ps error_code=0x%lx"
//!     address=0x7f7c23d51c20 ip=0x7f7c238ff04a error_code=0x7
//! ```
//!
//! `%ps` of a user address prints it in hex with `0x`.

use crate::diag::LineError;
use crate::fields::Kv;

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
