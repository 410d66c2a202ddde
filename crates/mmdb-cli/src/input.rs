//! Reading trace input: a file or standard input, decompressed transparently when it is xz, gzip or zstd.

use anyhow::Context as _;
use std::io::{self, Read};
use std::path::Path;

/// The compression formats mmdb recognises by their magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Xz,
    Gzip,
    Zstd,
}

/// Recognises a compressed stream by its first bytes.
pub fn compression(bytes: &[u8]) -> Option<Compression> {
    if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Compression::Xz)
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else {
        None
    }
}

/// Reads `path` (`-` is standard input) and decompresses it if it is compressed. `display` names it in errors.
pub fn read_trace(path: &Path, display: &str) -> anyhow::Result<Vec<u8>> {
    let raw = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        io::stdin().lock().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    };
    let raw = raw.with_context(|| format!("cannot read {display}"))?;
    decompress(raw).with_context(|| format!("cannot decompress {display}"))
}

/// Decompresses `raw` when its magic bytes say it is compressed; returns it unchanged otherwise.
pub fn decompress(raw: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let Some(kind) = compression(&raw) else { return Ok(raw) };
    let mut out = Vec::with_capacity(raw.len() * 8);
    match kind {
        Compression::Xz => {
            lzma_rs::xz_decompress(&mut io::BufReader::new(&raw[..]), &mut out)
                .map_err(|e| anyhow::anyhow!("not a valid xz stream: {e:?}"))?;
        }
        Compression::Gzip => {
            flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).context("not a valid gzip stream")?;
        }
        Compression::Zstd => {
            let mut dec = ruzstd::decoding::StreamingDecoder::new(&raw[..])
                .map_err(|e| anyhow::anyhow!("not a valid zstd stream: {e}"))?;
            dec.read_to_end(&mut out).context("not a valid zstd stream")?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(decompress(b"# mmdb events v1\n".to_vec()).unwrap(), b"# mmdb events v1\n");
    }

    #[test]
    fn gzip_and_xz_round_trip() {
        let text = b"basic-1 [000] 1.000000: exit:\n".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        assert_eq!(decompress(gz.finish().unwrap()).unwrap(), text);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &text[..], &mut xz).unwrap();
        assert_eq!(compression(&xz), Some(Compression::Xz));
        assert_eq!(decompress(xz).unwrap(), text);
    }

    #[test]
    fn a_damaged_stream_is_an_error_not_a_panic() {
        let mut bad = vec![0xfd, b'7', b'z', b'X', b'Z', 0x00];
        bad.extend_from_slice(b"garbage");
        assert!(decompress(bad).is_err());
        assert!(decompress(vec![0x1f, 0x8b, 1, 2, 3]).is_err());
        assert!(decompress(vec![0x28, 0xb5, 0x2f, 0xfd, 9, 9]).is_err());
    }
}
