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

/// How much is read at a time; also the size of the blocks that are checked for NUL-only content.
const BLOCK: usize = 64 * 1024;

/// Reads `path` (`-` is standard input) and decompresses it if it is compressed. `display` names it in errors.
///
/// Input that is not text fails early, before the rest is read: a file whose first bytes are a program, a
/// `perf.data` or `trace.dat` recording, or binary data ([`mmdb_trace::binary_kind`]), and a file with a whole
/// aligned 64 KiB block of NUL bytes (a sparse or preallocated file). So a 10 GB sparse file is refused after its
/// first 64 KiB; a shorter run of NUL bytes is left to the parser, which reports the lines it damaged.
pub fn read_trace(path: &Path, display: &str) -> anyhow::Result<Vec<u8>> {
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot read {display}"))?)
    };
    let mut reader = io::BufReader::with_capacity(BLOCK, reader);
    let magic = io::BufRead::fill_buf(&mut reader).with_context(|| format!("cannot read {display}"))?;
    match compression(magic) {
        None => read_text(&mut reader, display),
        Some(kind) => decompress_stream(kind, reader, display),
    }
}

/// Why input stopped being accepted as text, as an I/O error that carries the message.
fn not_text(display: &str, what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{display} is not a trace: {what}"))
}

/// Collects text, checking it as it comes: the first block must not look binary, no later block may be all NUL.
#[derive(Debug)]
struct TextSink<'a> {
    display: &'a str,
    out: Vec<u8>,
    /// How many bytes have been checked (a multiple of [`BLOCK`], or all of them at the end).
    checked: usize,
}

impl<'a> TextSink<'a> {
    fn new(display: &'a str) -> Self {
        TextSink { display, out: Vec::new(), checked: 0 }
    }

    fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        while self.out.len() - self.checked >= BLOCK {
            self.check(self.checked + BLOCK)?;
        }
        Ok(())
    }

    /// Checks the bytes from `checked` to `end`.
    fn check(&mut self, end: usize) -> io::Result<()> {
        let block = &self.out[self.checked..end];
        if self.checked == 0 {
            if let Some(what) = mmdb_trace::binary_kind(block) {
                let message = format!("{} is {what}, not a trace", self.display);
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
        } else if block.len() == BLOCK && block.iter().all(|&b| b == 0) {
            let what = format!(
                "at byte {} it holds {} KiB of NUL bytes in a row (a sparse or preallocated file, or one damaged by a \
                 crash? `tr -d '\\0'` removes them)",
                self.checked,
                BLOCK / 1024
            );
            return Err(not_text(self.display, what));
        }
        self.checked = end;
        Ok(())
    }

    fn finish(mut self) -> io::Result<Vec<u8>> {
        if self.checked < self.out.len() {
            self.check(self.out.len())?;
        }
        Ok(self.out)
    }
}

impl io::Write for TextSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads all of `reader` as text (see [`TextSink`]).
fn read_text(reader: &mut dyn Read, display: &str) -> anyhow::Result<Vec<u8>> {
    read_decoded(reader, display).map_err(|e| e.context(format!("cannot read {display}")))
}

/// Decompresses a stream of `kind` into checked text.
fn decompress_stream(kind: Compression, reader: impl io::BufRead, display: &str) -> anyhow::Result<Vec<u8>> {
    let fail = |what: &str| format!("cannot decompress {display}: not a valid {what} stream");
    match kind {
        Compression::Xz => {
            let mut reader = reader;
            let mut sink = TextSink::new(display);
            if let Err(e) = lzma_rs::xz_decompress(&mut reader, &mut sink) {
                // The sink's own refusal comes back wrapped as an I/O error.
                if let lzma_rs::error::Error::IoError(io) = &e {
                    if io.kind() == io::ErrorKind::InvalidData {
                        anyhow::bail!("{io}");
                    }
                }
                anyhow::bail!("{}: {e:?}", fail("xz"));
            }
            sink.finish().map_err(|e| anyhow::anyhow!(e))
        }
        Compression::Gzip => read_decoded(&mut flate2::bufread::MultiGzDecoder::new(reader), display)
            .map_err(|e| e.context(fail("gzip"))),
        Compression::Zstd => {
            let mut dec = ruzstd::decoding::StreamingDecoder::new(reader)
                .map_err(|e| anyhow::anyhow!("{}: {e}", fail("zstd")))?;
            read_decoded(&mut dec, display).map_err(|e| e.context(fail("zstd")))
        }
    }
}

/// Why decoded data could not be read: the stream is damaged, or what it holds is not text.
#[derive(Debug)]
enum DecodeError {
    Stream(io::Error),
    NotText(io::Error),
}

impl DecodeError {
    /// The error to report: a damaged stream under `context`, a refusal as it is.
    fn context(self, context: String) -> anyhow::Error {
        match self {
            DecodeError::Stream(e) => anyhow::Error::from(e).context(context),
            DecodeError::NotText(e) => anyhow::Error::from(e),
        }
    }
}

/// Reads all of `reader` through a [`TextSink`], keeping the reader's errors apart from the check's.
fn read_decoded(reader: &mut dyn Read, display: &str) -> Result<Vec<u8>, DecodeError> {
    let mut sink = TextSink::new(display);
    let mut buf = vec![0u8; BLOCK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecodeError::Stream(e)),
        };
        sink.push(&buf[..n]).map_err(DecodeError::NotText)?;
    }
    sink.finish().map_err(DecodeError::NotText)
}

/// Decompresses `raw` when its magic bytes say it is compressed; returns it unchanged otherwise.
#[cfg(test)]
pub fn decompress(raw: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let Some(kind) = compression(&raw) else { return Ok(raw) };
    decompress_stream(kind, &raw[..], "the input")
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
