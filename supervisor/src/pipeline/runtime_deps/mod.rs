//! Runtimes on the workspace volume, under `~/.openclaw/.local` (binaries in `bin/`, which the
//! gateway gets on its `PATH`): pnpm (step `pnpm`) and uv with Python 3.12 (step `python`).
//! Every download source can be a mirror; see [`crate::pipeline::PipelineEnv`].

mod pnpm;
mod pypi;
mod python;

use std::{
    fs, io,
    io::Read,
    path::{Path, PathBuf},
};

pub use pnpm::PnpmStep;
use pypi::{parse_page, pick_uv_wheel};
pub use python::PythonStep;

use super::fsutil;

/// Points `link` at `target` (relative targets are relative to the link's directory),
/// replacing whatever was there.
pub fn link(target: &Path, link: &Path) -> io::Result<()> {
    if let Some(dir) = link.parent() {
        fs::create_dir_all(dir)?;
    }
    let temp = fsutil::sibling(link, "link");
    std::os::unix::fs::symlink(target, &temp)?;
    fs::rename(&temp, link).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// Which uv binaries an archive holds, by name (`uv`, `uvx`), with their bytes.
pub type Binaries = Vec<(String, Vec<u8>)>;

fn wanted(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    // A wheel keeps them in `uv-<ver>.data/scripts/`; astral's tarballs in `uv-<target>/`.
    let in_place = path.contains(".data/scripts/") || !path.contains(".dist-info/");
    (matches!(name, "uv" | "uvx") && in_place).then(|| name.to_owned())
}

/// Reads `uv` and `uvx` out of a wheel, a zip or a `.tar.gz`.
pub fn uv_binaries(archive: &[u8]) -> io::Result<Binaries> {
    let mut found = Vec::new();
    if archive.starts_with(b"PK") {
        let mut zip = zip::ZipArchive::new(io::Cursor::new(archive)).map_err(io::Error::other)?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(io::Error::other)?;
            let name = entry.name().map_err(io::Error::other)?.into_owned();
            if let Some(bin) = wanted(&name).filter(|_| entry.is_file()) {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                found.push((bin, bytes));
            }
        }
    } else {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
        for entry in tar.entries()? {
            let mut entry = entry?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path()?.to_string_lossy().into_owned();
            if let Some(bin) = wanted(&name) {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes)?;
                found.push((bin, bytes));
            }
        }
    }
    if !found.iter().any(|(n, _)| n == "uv") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no uv binary in the archive",
        ));
    }
    Ok(found)
}

/// Writes the binaries into `bin`, executable.
pub fn install_binaries(binaries: &Binaries, bin: &Path) -> io::Result<Vec<PathBuf>> {
    binaries
        .iter()
        .map(|(name, bytes)| {
            let path = bin.join(name);
            fsutil::write_atomic(&path, bytes, 0o755)?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn finds_uv_in_a_wheel_and_in_a_tarball() -> io::Result<()> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for name in [
            "uv-0.9.5.data/scripts/uv",
            "uv-0.9.5.data/scripts/uvx",
            "uv-0.9.5.dist-info/uv",
            "uv/__init__.py",
        ] {
            w.start_file(name, zip::write::SimpleFileOptions::default())
                .map_err(io::Error::other)?;
            w.write_all(name.as_bytes())?;
        }
        let wheel = w.finish().map_err(io::Error::other)?.into_inner();
        let found = uv_binaries(&wheel)?;
        assert_eq!(
            found.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["uv", "uvx"]
        );

        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, "uv-x86_64-unknown-linux-gnu/uv", &b"ELF!"[..])?;
        let gz = tar.into_inner()?.finish()?;
        assert_eq!(uv_binaries(&gz)?, vec![("uv".to_owned(), b"ELF!".to_vec())]);
        assert!(uv_binaries(b"PK\x03\x04junk").is_err());
        Ok(())
    }
}
