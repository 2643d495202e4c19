//! Pass-through readers and writers that count bytes and compute their sha256 on the way, so a
//! stream is checksummed without being read twice.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Lower-case hex of a finished sha256.
pub(crate) fn hex(hasher: Sha256) -> String {
    hex::encode(hasher.finalize())
}

/// A writer that hashes and counts everything written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes written so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// Hex sha256 of what was written so far.
    pub fn sha256_hex(&self) -> String {
        hex(self.hasher.clone())
    }

    /// The inner writer, the hex sha256 and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex(self.hasher), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// Hex sha256 of what was read so far.
    pub fn sha256_hex(&self) -> String {
        hex(self.hasher.clone())
    }

    /// The inner reader, the hex sha256 and the byte count.
    pub fn finish(self) -> (R, String, u64) {
        (self.inner, hex(self.hasher), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn both_sides_hash_what_passes() {
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(b"abc").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(writer.byte_count(), 3);
        assert_eq!(writer.sha256_hex(), ABC);
        let (out, digest, bytes) = writer.finish();
        assert_eq!(
            (out.as_slice(), digest.as_str(), bytes),
            (&b"abc"[..], ABC, 3)
        );

        let mut reader = HashingReader::new(&b"abc"[..]);
        let mut read = Vec::new();
        reader
            .read_to_end(&mut read)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (reader.sha256_hex(), reader.byte_count()),
            (ABC.to_owned(), 3)
        );
    }
}
