//! Recognises an archive's compression by its magic bytes (never by its name) and opens the
//! matching decompressor; zstd and gzip both check their own checksums and fail on a stream
//! that ends early.

use std::io::{self, BufReader, Cursor, Read};

use super::{ArchiveError, BUFFER_SIZE};

/// Magic bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// Magic bytes of a gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Where a POSIX/GNU tar header says `ustar`.
const USTAR_OFFSET: usize = 257;
/// Bytes [`detect`] wants to see.
pub(crate) const SNIFF_LEN: usize = USTAR_OFFSET + 5;

/// How an archive is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A zstd stream (`.tar.zst`, what backups write).
    Zstd,
    /// A gzip stream (`.tar.gz`, `tar czf`).
    Gzip,
    /// No compression (`.tar`).
    None,
}

/// The compression of a stream starting with `first_bytes` (give at least 262 bytes when the
/// stream has them, so that a plain tar is recognised).
pub fn detect(first_bytes: &[u8]) -> Result<Compression, ArchiveError> {
    if first_bytes.starts_with(&ZSTD_MAGIC) {
        Ok(Compression::Zstd)
    } else if first_bytes.starts_with(&GZIP_MAGIC) {
        Ok(Compression::Gzip)
    } else if first_bytes.get(USTAR_OFFSET..SNIFF_LEN) == Some(b"ustar") {
        Ok(Compression::None)
    } else {
        let magic = first_bytes.iter().take(8).map(|b| format!("{b:02x}"));
        Err(ArchiveError::UnknownFormat {
            magic: magic.collect::<Vec<_>>().join(" "),
        })
    }
}

/// Reads the first bytes of `input`, detects its compression and returns the decompressed tar
/// stream.
pub(crate) fn open<'a, R: Read + Send + 'a>(
    mut input: R,
) -> Result<(Compression, Box<dyn Read + Send + 'a>), ArchiveError> {
    let mut head = vec![0; SNIFF_LEN];
    let mut filled = 0;
    while filled < head.len() {
        match input.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ArchiveError::from_stream(None, e)),
        }
    }
    head.truncate(filled);
    let compression = detect(&head)?;
    let stream = Cursor::new(head).chain(input);
    let decoded: Box<dyn Read + Send + 'a> = match compression {
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(BUFFER_SIZE, stream))
                .map_err(|e| ArchiveError::from_stream(None, e))?,
        ),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            BUFFER_SIZE,
            stream,
        ))),
        Compression::None => Box::new(stream),
    };
    Ok((compression, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic_bytes() {
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]).ok(),
            Some(Compression::Zstd)
        );
        assert_eq!(detect(&[0x1f, 0x8b, 8]).ok(), Some(Compression::Gzip));
        let mut tar = vec![0; 512];
        tar[..5].copy_from_slice(b"hello");
        tar[USTAR_OFFSET..SNIFF_LEN].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar).ok(), Some(Compression::None));
        for other in [&b""[..], b"PK\x03\x04", b"\x28\xb5\x2f", &tar[..260]] {
            let error = detect(other).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("unknown archive format")),
                "{error:?}"
            );
        }
    }

    #[test]
    fn opens_each_kind_and_refuses_truncation() {
        let payload = vec![7u8; 100_000];
        let zst = zstd::encode_all(&payload[..], 3).unwrap_or_else(|e| panic!("{e}"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &payload).unwrap_or_else(|e| panic!("{e}"));
        let gz = gz.finish().unwrap_or_else(|e| panic!("{e}"));
        for (bytes, kind) in [(&zst, Compression::Zstd), (&gz, Compression::Gzip)] {
            let (found, mut reader) = open(&bytes[..]).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(found, kind);
            let mut out = Vec::new();
            reader
                .read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(out, payload);

            let (_, mut cut) = open(&bytes[..bytes.len() - 3]).unwrap_or_else(|e| panic!("{e}"));
            let error = cut.read_to_end(&mut Vec::new()).err();
            assert_eq!(
                error.map(|e| e.kind()),
                Some(io::ErrorKind::UnexpectedEof),
                "{kind:?}"
            );
        }
    }
}
