//! Bridges between the synchronous archive code (on a blocking thread) and the asynchronous S3
//! client: a [`Write`] that hands fixed-size chunks to a bounded channel, and a [`Read`] that
//! takes chunks from one. The channel's capacity bounds the memory in flight. The writing end
//! counts and hashes what passes, so an archive's size and sha256 come from the stream itself
//! (the extraction checks a downloaded archive's own).

use std::io::{self, Read, Write};

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

/// Size of the chunks handed to the uploader (1 MiB).
pub const CHUNK_SIZE: usize = 1 << 20;

/// Chunks that may wait in a channel (so at most this many MiB are in flight between threads).
pub const CHANNEL_CHUNKS: usize = 2;

/// Size and `sha256:<hex>` of the bytes that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigest {
    /// Bytes.
    pub size: u64,
    /// `sha256:<hex>`.
    pub checksum: String,
}

fn digest(hasher: Sha256, size: u64) -> StreamDigest {
    StreamDigest {
        size,
        checksum: format!("sha256:{}", hex::encode(hasher.finalize())),
    }
}

/// The writing end: buffers up to [`CHUNK_SIZE`] and sends full chunks, blocking while the
/// channel is full. Fails with `BrokenPipe` once the receiving side is gone (upload failed).
#[derive(Debug)]
pub struct ChunkSender {
    sender: mpsc::Sender<Bytes>,
    buffer: BytesMut,
    hasher: Sha256,
    size: u64,
}

impl ChunkSender {
    /// A writer into `sender`. Call it from a blocking thread only.
    pub fn new(sender: mpsc::Sender<Bytes>) -> ChunkSender {
        ChunkSender {
            sender,
            buffer: BytesMut::with_capacity(CHUNK_SIZE),
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = self.buffer.split().freeze();
        self.buffer.reserve(CHUNK_SIZE);
        self.sender
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }

    /// Sends what is buffered and closes the channel; returns the size and checksum of all
    /// bytes written.
    pub fn finish(mut self) -> io::Result<StreamDigest> {
        self.send()?;
        Ok(digest(self.hasher, self.size))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK_SIZE - self.buffer.len();
        let taken = &data[..data.len().min(room)];
        self.buffer.extend_from_slice(taken);
        self.hasher.update(taken);
        self.size += taken.len() as u64;
        if self.buffer.len() >= CHUNK_SIZE {
            self.send()?;
        }
        Ok(taken.len())
    }

    /// Does not send a partial chunk: parts stay large; [`ChunkSender::finish`] sends the rest.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the downloading side sends.
#[derive(Debug)]
pub enum Piece {
    /// The next bytes of the object.
    Chunk(Bytes),
    /// The object ended here, complete.
    End,
    /// The download failed; the reader fails with this message.
    Failed(String),
}

/// The reading end: blocks for the next chunk. A channel closed without [`Piece::End`] reads
/// as a truncated stream, never as a clean end.
#[derive(Debug)]
pub struct ChunkReceiver {
    receiver: mpsc::Receiver<Piece>,
    current: Bytes,
    ended: bool,
}

impl ChunkReceiver {
    /// A reader of `receiver`. Call it from a blocking thread only.
    pub fn new(receiver: mpsc::Receiver<Piece>) -> ChunkReceiver {
        ChunkReceiver {
            receiver,
            current: Bytes::new(),
            ended: false,
        }
    }
}

impl Read for ChunkReceiver {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended || out.is_empty() {
                return Ok(0);
            }
            match self.receiver.blocking_recv() {
                Some(Piece::Chunk(bytes)) => self.current = bytes,
                Some(Piece::End) => self.ended = true,
                Some(Piece::Failed(message)) => return Err(io::Error::other(message)),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the download stopped before the end of the object",
                    ));
                }
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_full_chunks_and_digests_the_stream() -> io::Result<()> {
        let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
        let writer = std::thread::spawn(move || -> io::Result<StreamDigest> {
            let mut w = ChunkSender::new(tx);
            for _ in 0..5 {
                w.write_all(&[7u8; 700_000])?;
            }
            w.finish()
        });
        let mut sizes = Vec::new();
        while let Some(chunk) = rx.blocking_recv() {
            sizes.push(chunk.len());
        }
        let digest = writer.join().map_err(|_| io::Error::other("panicked"))??;
        assert_eq!(
            sizes,
            [
                CHUNK_SIZE,
                CHUNK_SIZE,
                CHUNK_SIZE,
                3_500_000 - 3 * CHUNK_SIZE
            ]
        );
        assert_eq!(digest.size, 3_500_000);
        let expected = hex::encode(Sha256::digest(vec![7u8; 3_500_000]));
        assert_eq!(digest.checksum, format!("sha256:{expected}"));
        Ok(())
    }

    #[test]
    fn a_vanished_upload_breaks_the_pipe() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut w = ChunkSender::new(tx);
        let error = w.write_all(&vec![0u8; 2 * CHUNK_SIZE]).err();
        assert_eq!(error.map(|e| e.kind()), Some(io::ErrorKind::BrokenPipe));
    }

    #[test]
    fn reads_until_the_end_marker_and_refuses_a_silent_close() -> io::Result<()> {
        let (tx, rx) = mpsc::channel(4);
        tx.blocking_send(Piece::Chunk(Bytes::from_static(b"hello ")))
            .map_err(io::Error::other)?;
        tx.blocking_send(Piece::Chunk(Bytes::from_static(b"world")))
            .map_err(io::Error::other)?;
        tx.blocking_send(Piece::End).map_err(io::Error::other)?;
        let mut reader = ChunkReceiver::new(rx);
        let mut text = String::new();
        reader.read_to_string(&mut text)?;
        assert_eq!(text, "hello world");

        let (tx, rx) = mpsc::channel(4);
        tx.blocking_send(Piece::Chunk(Bytes::from_static(b"half")))
            .map_err(io::Error::other)?;
        drop(tx);
        let error = ChunkReceiver::new(rx).read_to_end(&mut Vec::new()).err();
        assert_eq!(error.map(|e| e.kind()), Some(io::ErrorKind::UnexpectedEof));
        Ok(())
    }
}
