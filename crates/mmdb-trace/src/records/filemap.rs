//! `filemap` events: page-cache faults, fault-around, and page-cache insertion and removal.
//!
//! ```text
//! mm_filemap_map_pages:  print fmt: "dev=%d:%d ino=%lx ofs=%lld-%lld", MAJOR, MINOR, REC->i_ino,
//!                          ((loff_t)REC->index) << 12, ((((loff_t)REC->last_index + 1) << 12) - 1)
//!     dev=254:0 ino=491a ofs=3346432-3411967
//! mm_filemap_fault:      print fmt: "dev=%d:%d ino=%lx ofs=%lld", MAJOR, MINOR, REC->i_ino, REC->index << 12
//! mm_filemap_add_to_page_cache, mm_filemap_delete_from_page_cache:
//!                        print fmt: "dev %d:%d ino %lx pfn=0x%lx ofs=%lu order=%u", ..., REC->index << 12, ...
//!     dev 254:0 ino 51207b pfn=0x16a2ed ofs=0 order=0
//! ```
//!
//! Offsets are printed in bytes; the records hold the kernel's page indices (`ofs >> PAGE_SHIFT`). The page-cache
//! events print `dev` and `ino` without `=`.

use mmdb_model::consts::PAGE_SHIFT;

use crate::diag::LineError;
use crate::fields::{parse_dec, Kv, Value};

use super::Record;

/// A device number (`dev_t`), printed `major:minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dev {
    /// `MAJOR(dev)`.
    pub major: u32,
    /// `MINOR(dev)`.
    pub minor: u32,
}

/// `filemap:mm_filemap_map_pages`: one `filemap_map_pages()` (fault-around) call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmFilemapMapPages {
    /// The inode number.
    pub i_ino: u64,
    /// The device of the inode's superblock.
    pub s_dev: Dev,
    /// The first page index tried.
    pub index: u64,
    /// The last page index tried.
    pub last_index: u64,
}

/// `filemap:mm_filemap_fault`: `filemap_fault()` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmFilemapFault {
    /// The inode number.
    pub i_ino: u64,
    /// The device of the inode's superblock.
    pub s_dev: Dev,
    /// The faulting page index.
    pub index: u64,
}

/// `filemap:mm_filemap_add_to_page_cache` and `mm_filemap_delete_from_page_cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmFilemapPageCache {
    /// The folio's first pfn.
    pub pfn: u64,
    /// The inode number.
    pub i_ino: u64,
    /// The folio's first page index.
    pub index: u64,
    /// The device of the inode's superblock.
    pub s_dev: Dev,
    /// The folio's order.
    pub order: u32,
}

impl MmFilemapPageCache {
    /// One past the folio's last page index (`index + 2^order`), or `None` for an order or index no folio can
    /// have (damaged input).
    pub fn end(&self) -> Option<u64> {
        1u64.checked_shl(self.order).and_then(|n| self.index.checked_add(n))
    }
}

fn dev(value: &Value<'_>) -> Result<Dev, LineError> {
    value
        .text
        .split_once(':')
        .and_then(|(major, minor)| Some(Dev { major: major.parse().ok()?, minor: minor.parse().ok()? }))
        .ok_or_else(|| value.error("a device `<major>:<minor>`"))
}

fn page_index(value: &Value<'_>) -> Result<u64, LineError> {
    Ok(value.u64()? >> PAGE_SHIFT)
}

pub(super) fn mm_filemap_map_pages(kv: &Kv<'_>) -> Result<Record, LineError> {
    let ofs = kv.req("ofs")?;
    let (index, last_index) = ofs
        .text
        .split_once('-')
        .and_then(|(first, last)| {
            let last_byte = parse_dec(last)?;
            let (index, last_index) =
                (parse_dec(first)? >> PAGE_SHIFT, (last_byte.checked_add(1)? >> PAGE_SHIFT).checked_sub(1)?);
            (last_index >= index).then_some((index, last_index))
        })
        .ok_or_else(|| ofs.error("a byte range `<first>-<last>` (first <= last)"))?;
    Ok(Record::MmFilemapMapPages(MmFilemapMapPages {
        i_ino: kv.req("ino")?.hex()?,
        s_dev: dev(&kv.req("dev")?)?,
        index,
        last_index,
    }))
}

pub(super) fn mm_filemap_fault(kv: &Kv<'_>) -> Result<Record, LineError> {
    Ok(Record::MmFilemapFault(MmFilemapFault {
        i_ino: kv.req("ino")?.hex()?,
        s_dev: dev(&kv.req("dev")?)?,
        index: page_index(&kv.req("ofs")?)?,
    }))
}

/// Reads `dev <major>:<minor> ino <hex>` from the words before the first pair (or `dev=`/`ino=` pairs).
fn dev_ino(kv: &Kv<'_>) -> Result<(Dev, u64), LineError> {
    if let (Some(d), Some(i)) = (kv.get("dev"), kv.get("ino")) {
        return Ok((dev(&d)?, i.hex()?));
    }
    let (lead, offset) = kv.lead();
    let at = |word: &str| offset + (word.as_ptr() as usize - lead.as_ptr() as usize);
    let mut words = lead.split([' ', '\t']).filter(|w| !w.is_empty());
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("dev"), Some(d), Some("ino"), Some(i)) => {
            let d = dev(&Value { text: d, offset: at(d), key: "dev" })?;
            Ok((d, Value { text: i, offset: at(i), key: "ino" }.hex()?))
        }
        _ => Err(LineError::new(offset, lead.len(), "`dev <major>:<minor> ino <hex>` before the fields")),
    }
}

fn page_cache(kv: &Kv<'_>) -> Result<MmFilemapPageCache, LineError> {
    let (s_dev, i_ino) = dev_ino(kv)?;
    Ok(MmFilemapPageCache {
        pfn: kv.req("pfn")?.hex()?,
        i_ino,
        index: page_index(&kv.req("ofs")?)?,
        s_dev,
        order: kv.req("order")?.order()?,
    })
}

pub(super) fn mm_filemap_add_to_page_cache(kv: &Kv<'_>) -> Result<Record, LineError> {
    page_cache(kv).map(Record::MmFilemapAddToPageCache)
}

pub(super) fn mm_filemap_delete_from_page_cache(kv: &Kv<'_>) -> Result<Record, LineError> {
    page_cache(kv).map(Record::MmFilemapDeleteFromPageCache)
}
