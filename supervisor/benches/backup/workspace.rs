//! A generated workspace that looks like an agent's: many small text-like files (sources,
//! JSON, notes), some medium ones (half text, half binary), a few large ones (a log, model-like
//! and media-like blobs), plus symlinks and executables. About 55% of the bytes compress
//! (text-like, ~3-4x with zstd -3), the rest is random. Deterministic: the same size gives the
//! same tree.

use std::{
    fs::{self, File},
    io::{self, BufWriter, Write},
    os::unix::fs::{PermissionsExt, symlink},
    path::Path,
};

/// Share of the bytes in small (1-16 KiB), medium (64 KiB - 4 MiB) and large files.
const SMALL_SHARE: f64 = 0.12;
const MEDIUM_SHARE: f64 = 0.28;
/// Large files: 64 to 256 MiB (smaller when the workspace is).
const LARGE_MIN: u64 = 64 << 20;
const LARGE_MAX: u64 = 256 << 20;
/// Files per directory of small files.
const PER_DIR: usize = 100;

/// What was generated.
#[derive(Debug, Default, Clone, Copy)]
pub struct Generated {
    /// Regular files.
    pub files: u64,
    /// Bytes in regular files.
    pub bytes: u64,
}

/// Fills `root` (created) with about `total` bytes.
pub fn generate(root: &Path, total: u64) -> io::Result<Generated> {
    let mut random = Random(total ^ 0x5EED);
    let mut out = Generated::default();
    fs::create_dir_all(root)?;

    // Small text-like files in nested package-like directories.
    let small_budget = (total as f64 * SMALL_SHARE) as u64;
    let mut written = 0;
    let mut index = 0usize;
    while written < small_budget {
        let dir = root.join(format!(
            "node_modules/pkg-{:04}/lib/{}",
            index / (PER_DIR * 4),
            (index / PER_DIR) % 4
        ));
        if index.is_multiple_of(PER_DIR) {
            fs::create_dir_all(&dir)?;
        }
        let size = 1024 + random.below(15 * 1024);
        let ext = ["js", "json", "md", "ts"][index % 4];
        write_file(
            &dir.join(format!("file-{index}.{ext}")),
            size,
            Content::Text,
            &mut random,
        )?;
        if index.is_multiple_of(500) {
            fs::set_permissions(
                dir.join(format!("file-{index}.{ext}")),
                fs::Permissions::from_mode(0o755),
            )?;
        }
        written += size;
        index += 1;
        out.files += 1;
    }
    out.bytes += written;

    // Medium files: notes, transcripts and JSON state (text), images and archives (random).
    let medium_budget = (total as f64 * MEDIUM_SHARE) as u64;
    fs::create_dir_all(root.join("memory"))?;
    fs::create_dir_all(root.join("media"))?;
    let mut written = 0;
    let mut index = 0;
    while written < medium_budget {
        let size = (64 << 10) + random.below((4 << 20) - (64 << 10));
        let path = if index % 2 == 0 {
            root.join(format!("memory/session-{index}.jsonl"))
        } else {
            root.join(format!("media/upload-{index}.bin"))
        };
        let content = if index % 2 == 0 {
            Content::Text
        } else {
            Content::Random
        };
        write_file(&path, size, content, &mut random)?;
        written += size;
        index += 1;
        out.files += 1;
    }
    out.bytes += written;

    // Large files, alternately a log (text) and a model-like blob (random), for the rest.
    fs::create_dir_all(root.join("models"))?;
    fs::create_dir_all(root.join("logs"))?;
    let mut left = total.saturating_sub(out.bytes);
    let mut index = 0;
    while left > 0 {
        let size = (LARGE_MIN + random.below(LARGE_MAX - LARGE_MIN)).min(left);
        let (path, content) = if index % 2 == 0 {
            (
                root.join(format!("logs/gateway-{index}.log")),
                Content::Text,
            )
        } else {
            (
                root.join(format!("models/weights-{index}.gguf")),
                Content::Random,
            )
        };
        write_file(&path, size, content, &mut random)?;
        left -= size;
        index += 1;
        out.files += 1;
        out.bytes += size;
    }

    symlink("memory", root.join("memory-link"))?;
    symlink(
        "node_modules/pkg-0000/lib/0/file-0.js",
        root.join("entry.js"),
    )?;
    fs::create_dir_all(root.join("empty/dir"))?;
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
enum Content {
    Text,
    Random,
}

fn write_file(path: &Path, size: u64, content: Content, random: &mut Random) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut buffer = Vec::with_capacity(64 << 10);
    let mut left = size;
    while left > 0 {
        buffer.clear();
        match content {
            Content::Text => text(&mut buffer, 64 << 10, random),
            Content::Random => bytes(&mut buffer, 64 << 10, random),
        }
        let take = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        out.write_all(&buffer[..take])?;
        left -= take as u64;
    }
    out.flush()
}

const WORDS: [&str; 64] = [
    "agent",
    "session",
    "message",
    "tool",
    "call",
    "result",
    "user",
    "assistant",
    "model",
    "token",
    "context",
    "memory",
    "skill",
    "channel",
    "gateway",
    "error",
    "retry",
    "request",
    "response",
    "config",
    "workspace",
    "file",
    "path",
    "value",
    "true",
    "false",
    "null",
    "function",
    "return",
    "const",
    "import",
    "export",
    "async",
    "await",
    "string",
    "number",
    "status",
    "ready",
    "running",
    "pending",
    "failed",
    "done",
    "time",
    "date",
    "id",
    "name",
    "type",
    "data",
    "list",
    "item",
    "index",
    "count",
    "size",
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "is",
    "for",
    "with",
    "on",
    "by",
];

/// About `len` bytes of log-like lines: a counter, a level and random words.
fn text(buffer: &mut Vec<u8>, len: usize, random: &mut Random) {
    while buffer.len() < len {
        let word = random.next();
        buffer.extend_from_slice(format!("{:08} ", word % 100_000_000).as_bytes());
        buffer
            .extend_from_slice(["INFO ", "DEBUG ", "WARN "][(word >> 40) as usize % 3].as_bytes());
        for shift in 0..8 {
            let pick = random.next() >> (shift * 6);
            buffer.extend_from_slice(WORDS[(pick & 63) as usize].as_bytes());
            buffer.push(b' ');
        }
        buffer.push(b'\n');
    }
}

fn bytes(buffer: &mut Vec<u8>, len: usize, random: &mut Random) {
    while buffer.len() < len {
        buffer.extend_from_slice(&random.next().to_le_bytes());
    }
}

/// splitmix64.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}
