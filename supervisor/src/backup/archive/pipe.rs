//! Runs a reader on a thread of its own, handing its bytes over in large chunks, so that
//! decompressing an archive and unpacking it use two cores, as `zstd -d | tar -x` does.

use std::{
    io::{self, Read},
    sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel},
    thread,
};

use super::BUFFER_SIZE;

/// Chunks in flight between the two threads (memory: this many [`BUFFER_SIZE`] buffers, plus
/// one on each side).
const DEPTH: usize = 4;

/// Calls `consume` with a reader over everything `source` yields, `source` being read on a
/// scoped thread of its own. When `consume` returns early, the reading thread stops.
pub(crate) fn pipelined<T>(
    source: impl Read + Send,
    consume: impl FnOnce(&mut dyn Read) -> T,
) -> T {
    thread::scope(|scope| {
        let (chunks, receiver) = sync_channel(DEPTH);
        let (recycle, spares) = channel();
        scope.spawn(move || produce(source, &chunks, &spares));
        let mut reader = ChunkReader {
            chunks: receiver,
            recycle,
            current: Vec::new(),
            pos: 0,
            done: false,
        };
        consume(&mut reader)
    })
}

/// Reads `source` into chunks until its end, an error, or the consumer hanging up.
fn produce(
    mut source: impl Read,
    chunks: &SyncSender<io::Result<Vec<u8>>>,
    spares: &Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = spares.try_recv().unwrap_or_else(|_| vec![0; BUFFER_SIZE]);
        buf.resize(BUFFER_SIZE, 0);
        let mut filled = 0;
        let result = loop {
            match source.read(&mut buf[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let end = filled < buf.len();
        buf.truncate(filled);
        if filled > 0 && chunks.send(Ok(buf)).is_err() {
            return;
        }
        match result {
            Err(e) => {
                let _ = chunks.send(Err(e));
                return;
            }
            Ok(()) if end => return,
            Ok(()) => {}
        }
    }
}

/// The consumer's side: a reader over the chunks received.
struct ChunkReader {
    chunks: Receiver<io::Result<Vec<u8>>>,
    recycle: Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    let spent = std::mem::replace(&mut self.current, chunk);
                    if spent.capacity() > 0 {
                        let _ = self.recycle.send(spent);
                    }
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        let n = (self.current.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields `len` bytes, then fails if asked to.
    struct Source {
        left: usize,
        fail: bool,
    }

    impl Read for Source {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return if self.fail {
                    Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut"))
                } else {
                    Ok(0)
                };
            }
            let n = out.len().min(self.left).min(7000);
            out[..n].fill(1);
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn hands_over_everything_then_the_error() {
        let len = 3 * BUFFER_SIZE + 12345;
        let read = pipelined(
            Source {
                left: len,
                fail: false,
            },
            |r| {
                let mut all = Vec::new();
                r.read_to_end(&mut all).map(|_| all.len())
            },
        );
        assert_eq!(read.ok(), Some(len));
        let failed = pipelined(
            Source {
                left: len,
                fail: true,
            },
            |r| r.read_to_end(&mut Vec::new()),
        );
        assert_eq!(
            failed.err().map(|e| e.kind()),
            Some(io::ErrorKind::UnexpectedEof)
        );
        // A consumer that stops early does not hang the producer.
        let first = pipelined(
            Source {
                left: 64 * BUFFER_SIZE,
                fail: false,
            },
            |r| r.read(&mut [0; 10]).ok(),
        );
        assert_eq!(first, Some(10));
    }
}
