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

/// Reads `path` (`-` is standard input) whole and decompresses it if it is compressed. `display` names it in
/// errors. For input too large to hold, [`open_text`] reads it as a stream.
pub fn read_trace(path: &Path, display: &str) -> anyhow::Result<Vec<u8>> {
    let mut text = open_text(path, display)?;
    let mut out = Vec::new();
    text.read_to_end(&mut out).map_err(|e| text.error(e))?;
    Ok(out)
}

/// Opens `path` (`-` is standard input) as a stream of checked text, decompressed when it is compressed.
///
/// Input that is not text fails early, before the rest is read: a file whose first bytes are a program, a
/// `perf.data` or `trace.dat` recording, or binary data ([`mmdb_trace::binary_kind`]), and a file with a whole
/// aligned 64 KiB block of NUL bytes (a sparse or preallocated file). So a 10 GB sparse file is refused after its
/// first 64 KiB; a shorter run of NUL bytes is left to the parser, which reports the lines it damaged.
pub fn open_text(path: &Path, display: &str) -> anyhow::Result<TextReader> {
    let reader: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("cannot read {display}"))?)
    };
    let mut reader = io::BufReader::with_capacity(BLOCK, reader);
    let magic = io::BufRead::fill_buf(&mut reader).with_context(|| format!("cannot read {display}"))?;
    let compression = compression(magic);
    let inner: Box<dyn Read + Send> = match compression {
        None => Box::new(reader),
        Some(Compression::Gzip) => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Some(Compression::Zstd) => Box::new(
            ruzstd::decoding::StreamingDecoder::new(reader)
                .map_err(|e| anyhow::anyhow!("cannot decompress {display}: not a valid zstd stream: {e}"))?,
        ),
        Some(Compression::Xz) => Box::new(XzReader::spawn(reader)?),
    };
    Ok(TextReader {
        inner,
        display: display.to_string(),
        compression,
        block: Vec::with_capacity(BLOCK),
        pos: 0,
        offset: 0,
        eof: false,
    })
}

/// What the input holds is not text: the reason, carried inside an [`io::Error`].
#[derive(Debug)]
struct NotText(String);

impl std::fmt::Display for NotText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotText {}

/// Decompressed, checked trace text, read in order (see [`open_text`]).
///
/// Reads the underlying stream one 64 KiB block at a time and checks each block before any of it is handed out:
/// the first must not look binary, no later whole block may be all NUL bytes.
pub struct TextReader {
    inner: Box<dyn Read + Send>,
    display: String,
    compression: Option<Compression>,
    block: Vec<u8>,
    pos: usize,
    /// How many bytes came before `block`.
    offset: u64,
    eof: bool,
}

impl std::fmt::Debug for TextReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextReader").field("display", &self.display).field("offset", &self.offset).finish()
    }
}

impl TextReader {
    /// The error to report for `e`, an error of this reader: a refusal as it is, a damaged compressed stream or a
    /// read that failed with what was being read.
    pub fn error(&self, e: io::Error) -> anyhow::Error {
        let display = &self.display;
        if e.get_ref().is_some_and(|inner| inner.is::<NotText>()) {
            return anyhow::anyhow!("{e}");
        }
        match self.compression {
            None => anyhow::Error::from(e).context(format!("cannot read {display}")),
            Some(kind) => {
                let what = match kind {
                    Compression::Xz => "xz",
                    Compression::Gzip => "gzip",
                    Compression::Zstd => "zstd",
                };
                anyhow::Error::from(e).context(format!("cannot decompress {display}: not a valid {what} stream"))
            }
        }
    }

    /// Tells whether the input was not compressed (so its size on disk is the size of the text).
    pub fn is_plain(&self) -> bool {
        self.compression.is_none()
    }

    /// Reads and checks the next block; false at the end of the input.
    fn next_block(&mut self) -> io::Result<bool> {
        self.offset += self.block.len() as u64;
        self.pos = 0;
        if self.eof {
            self.block.clear();
            return Ok(false);
        }
        // Zeroes only what a short read left unused (the reads overwrite the rest), not the whole block each time.
        self.block.resize(BLOCK, 0);
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut self.block[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.block.truncate(filled);
        self.check()?;
        Ok(filled > 0)
    }

    fn check(&self) -> io::Result<()> {
        let block = &self.block;
        let refuse = |message: String| io::Error::new(io::ErrorKind::InvalidData, NotText(message));
        if self.offset == 0 {
            if let Some(what) = mmdb_trace::binary_kind(block) {
                return Err(refuse(format!("{} is {what}, not a trace", self.display)));
            }
        } else if block.len() == BLOCK && block.iter().all(|&b| b == 0) {
            return Err(refuse(format!(
                "{} is not a trace: at byte {} it holds {} KiB of NUL bytes in a row (a sparse or preallocated \
                 file, or one damaged by a crash? `tr -d '\\0'` removes them)",
                self.display,
                self.offset,
                BLOCK / 1024
            )));
        }
        Ok(())
    }

    /// The next piece of the text: whole lines of about `size` bytes (more when a line is longer), ending with
    /// a line break except at the end of the input; `None` at the end.
    pub fn read_piece(&mut self, size: usize) -> io::Result<Option<Vec<u8>>> {
        let mut piece = Vec::with_capacity(size + BLOCK);
        Ok(self.read_piece_into(&mut piece, size)?.then_some(piece))
    }

    /// Like [`TextReader::read_piece`], into `piece` (cleared first, so that its memory is reused); false at the end.
    pub fn read_piece_into(&mut self, piece: &mut Vec<u8>, size: usize) -> io::Result<bool> {
        piece.clear();
        loop {
            if self.pos == self.block.len() && !self.next_block()? {
                return Ok(!piece.is_empty());
            }
            let rest = &self.block[self.pos..];
            if piece.len() + rest.len() < size {
                piece.extend_from_slice(rest);
                self.pos = self.block.len();
                continue;
            }
            // Enough: end the piece at the first line break from here on.
            let want = size.saturating_sub(piece.len());
            match memchr::memchr(b'\n', &rest[want.min(rest.len())..]) {
                Some(k) => {
                    let end = want.min(rest.len()) + k + 1;
                    piece.extend_from_slice(&rest[..end]);
                    self.pos += end;
                    return Ok(true);
                }
                None => {
                    piece.extend_from_slice(rest);
                    self.pos = self.block.len();
                }
            }
        }
    }
}

impl Read for TextReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.block.len() && !self.next_block()? {
            return Ok(0);
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// xz decompression as a [`Read`]: lzma-rs decompresses into a writer, so it runs on its own thread and writes
/// into a pipe; a decompression error is reported when the pipe ends.
struct XzReader {
    pipe: io::PipeReader,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl XzReader {
    fn spawn(mut reader: impl io::BufRead + Send + 'static) -> anyhow::Result<XzReader> {
        let (pipe, mut writer) = io::pipe().context("cannot create a pipe for xz decompression")?;
        let thread = std::thread::Builder::new()
            .name("xz".to_string())
            .spawn(move || lzma_rs::xz_decompress(&mut reader, &mut writer).map_err(|e| format!("{e:?}")))
            .context("cannot start the xz decompression thread")?;
        Ok(XzReader { pipe, thread: Some(thread) })
    }
}

impl Read for XzReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.pipe.read(buf)?;
        if n == 0 {
            if let Some(thread) = self.thread.take() {
                match thread.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                    Err(_) => return Err(io::Error::other("the xz decompression thread panicked")),
                }
            }
        }
        Ok(n)
    }
}

/// Decompresses `raw` when its magic bytes say it is compressed; returns it unchanged otherwise.
#[cfg(test)]
pub fn decompress(raw: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("mmdb-input-test-{}-{:p}", std::process::id(), &raw));
    std::fs::write(&dir, &raw)?;
    let out = read_trace(&dir, "the input");
    let _ = std::fs::remove_file(&dir);
    out
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
