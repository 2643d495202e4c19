//! Runtimes on the workspace volume, under `~/.openclaw/.local` (binaries in `bin/`, which the
//! gateway gets on its `PATH`): pnpm (step `pnpm`) and uv with Python 3.12 (step `python`).
//! Every download source can be a mirror; see [`crate::pipeline::PipelineEnv`].

mod pnpm;
mod pypi;
mod python;
pub(crate) mod stream;

use std::{fs, io, io::Read, path::Path};

pub use pnpm::PnpmStep;
use pypi::{parse_page, pick_uv_wheel};
pub use python::PythonStep;
use stream::Staged;

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

fn wanted(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    // A wheel keeps them in `uv-<ver>.data/scripts/`; astral's tarballs in `uv-<target>/`.
    let in_place = path.contains(".data/scripts/") || !path.contains(".dist-info/");
    (matches!(name, "uv" | "uvx") && in_place).then(|| name.to_owned())
}

/// Streams `uv` and `uvx` out of a wheel, a zip or a `.tar.gz` read from `archive` into
/// temporary files in `bin`, reading no further than the last entry.
pub fn stage_uv(archive: &mut dyn Read, bin: &Path) -> io::Result<Staged> {
    let mut magic = [0u8; 2];
    archive.read_exact(&mut magic)?;
    let mut reader = io::Cursor::new(magic).chain(archive);
    let mut staged = Staged::default();
    if &magic == b"PK" {
        while let Some(mut entry) =
            zip::read::read_zipfile_from_stream(&mut reader).map_err(io::Error::other)?
        {
            let name = entry.name().map_err(io::Error::other)?.into_owned();
            if let Some(bin_name) = wanted(&name).filter(|_| entry.is_file()) {
                staged.add(bin, &bin_name, &mut entry)?;
            }
        }
    } else {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(reader));
        for entry in tar.entries()? {
            let mut entry = entry?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path()?.to_string_lossy().into_owned();
            if let Some(bin_name) = wanted(&name) {
                staged.add(bin, &bin_name, &mut entry)?;
            }
        }
    }
    if !staged.names().iter().any(|n| n == "uv") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "no uv binary in the archive",
        ));
    }
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn staged(archive: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
        let dir = tempfile::tempdir()?;
        let staged = stage_uv(&mut &archive[..], dir.path())?;
        let names = staged.names();
        let placed = staged.commit()?;
        names
            .into_iter()
            .zip(placed)
            .map(|(n, p)| Ok((n, std::fs::read(p)?)))
            .collect()
    }

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
        let found = staged(&wheel)?;
        assert_eq!(
            found,
            vec![
                ("uv".to_owned(), b"uv-0.9.5.data/scripts/uv".to_vec()),
                ("uvx".to_owned(), b"uv-0.9.5.data/scripts/uvx".to_vec())
            ]
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
        assert_eq!(staged(&gz)?, vec![("uv".to_owned(), b"ELF!".to_vec())]);
        assert!(staged(b"PK\x03\x04junk").is_err());
        Ok(())
    }

    #[test]
    fn what_is_not_committed_is_removed() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut staged = Staged::default();
        staged.add(dir.path(), "uv", &mut &b"ELF"[..])?;
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        drop(staged);
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            0,
            "no temp file left"
        );
        Ok(())
    }
}
