//! Laying the blobs out: an OCI layout directory, or one canonical tar of it
//! (`oci-archive`), or that tar plus docker's files (`docker-archive`).
//!
//! Outputs appear atomically: a file is written under a temporary name in the same
//! directory and renamed; a directory is built beside its destination and swapped in. A
//! killed build leaves the previous output. Like `cp`, `tar` or `podman save`, nothing is
//! fsynced: durability across a power cut is left to the file system (ext4 and XFS write
//! a file's data before a rename that replaces another file commits).

use super::blobs::{set_readable, with_path};
use super::{copy, directory, docker, Assembled, BlobStore, ImageError, ImageName};
use crate::digest::Sha256Digest;
use crate::entry::{Content, Entry, ImagePath, Kind};
use crate::epoch::Epoch;
use crate::layer::{archived_size, write_entries, TarWriter};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The `oci-layout` file's content.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The output formats of `compose build`: the one enum the command line, the build and
/// the writers share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An OCI image layout directory.
    Oci,
    /// The OCI layout as one tar.
    OciArchive,
    /// The OCI layout plus `manifest.json` and `repositories`, as one tar.
    DockerArchive,
    /// The merged filesystem as one tar, no image.
    Rootfs,
}

impl OutputFormat {
    /// `out` for a layout directory, `out.tar` for the tar formats.
    pub fn default_output(&self) -> PathBuf {
        match self {
            OutputFormat::Oci => PathBuf::from("out"),
            _ => PathBuf::from("out.tar"),
        }
    }

    /// The name the command line and `--metadata-file` use.
    pub fn name(&self) -> &'static str {
        match self {
            OutputFormat::Oci => "oci",
            OutputFormat::OciArchive => "oci-archive",
            OutputFormat::DockerArchive => "docker-archive",
            OutputFormat::Rootfs => "rootfs",
        }
    }

    /// True for a tar of an image (oci-archive, docker-archive).
    pub fn is_image_archive(&self) -> bool {
        matches!(self, OutputFormat::OciArchive | OutputFormat::DockerArchive)
    }
}

/// Whether the file at a path is known to hold exactly the blob with a digest (checked
/// by the caller, such as by a digest remembered with the file's identity); an OCI
/// layout being rewritten leaves such blobs where they are.
pub type KnownBlob<'a> = &'a dyn Fn(&Path, &Sha256Digest) -> bool;

/// Write the output atomically to `out`, or to stdout for the archive formats when `out`
/// is `-`. An existing OCI layout at `out` keeps the blobs `known` says it holds. A full
/// disk is named with the room the output needs.
pub fn write_output(
    store: &BlobStore,
    a: &Assembled,
    format: OutputFormat,
    names: &[ImageName],
    epoch: Epoch,
    out: &Path,
    known: KnownBlob,
) -> Result<(), ImageError> {
    let size: u64 = a.blobs.iter().map(|(_, n)| n).sum::<u64>() + a.index_json.len() as u64;
    write_any(store, a, format, names, epoch, out, known).map_err(|e| e.needing(size))
}

fn write_any(
    store: &BlobStore,
    a: &Assembled,
    format: OutputFormat,
    names: &[ImageName],
    epoch: Epoch,
    out: &Path,
    known: KnownBlob,
) -> Result<(), ImageError> {
    let to_stdout = out.as_os_str() == "-";
    check_output_path(format, out)?;
    match format {
        OutputFormat::Oci if to_stdout => Err(ImageError::DirectoryToStdout),
        OutputFormat::Oci => directory::write_dir(store, a, out, known),
        OutputFormat::OciArchive | OutputFormat::DockerArchive if to_stdout => {
            let _ = write_archive_to(store, a, format, names, epoch, io::stdout().lock())?;
            Ok(())
        }
        OutputFormat::OciArchive | OutputFormat::DockerArchive => {
            let files = archive_files(a, format, names)?;
            write_archive_file(store, a, &files, epoch, out)
        }
        OutputFormat::Rootfs => Err(ImageError::NotAnImageFormat(format.name())),
    }
}

/// A digest of everything an archive's bytes depend on: this writer (the crate version
/// and [`crate::compat::COMPAT_LEVEL`]), the format, the epoch, and each member's name, size and
/// content digest. Equal recipes mean byte-identical archives, so a build may leave alone
/// an output it knows to hold this recipe ([`crate::store::Cache::output_unchanged`])
/// instead of reading it back to compare. `None` for `Oci`, a directory, and `Rootfs`.
pub fn archive_recipe(
    a: &Assembled,
    format: OutputFormat,
    names: &[ImageName],
    epoch: Epoch,
) -> Result<Option<Sha256Digest>, ImageError> {
    if !format.is_image_archive() {
        return Ok(None);
    }
    let mut members: Vec<(String, u64, Sha256Digest)> = a
        .blobs
        .iter()
        .map(|(d, size)| (format!("blobs/sha256/{}", d.hex()), *size, *d))
        .collect();
    for (file, bytes) in archive_files(a, format, names)? {
        members.push((
            file.to_string(),
            bytes.len() as u64,
            Sha256Digest::of(&bytes),
        ));
    }
    members.sort();
    let mut text = format!(
        "scratch-compose archive recipe 1\nversion {}\ncompat_level {}\nformat {format:?}\nepoch {}\n",
        env!("CARGO_PKG_VERSION"),
        crate::compat::COMPAT_LEVEL,
        epoch.0
    );
    for (path, size, digest) in members {
        // Member names are ours (no newline or space can occur in them).
        text.push_str(&format!("{path} {size} {}\n", digest.hex()));
    }
    Ok(Some(Sha256Digest::of(text.as_bytes())))
}

/// Write an archive format (`OciArchive` or `DockerArchive`) to any writer, such as a
/// pipe; the writer is returned after the last block. `Oci` is refused: it is a directory.
pub fn write_archive_to<W: Write>(
    store: &BlobStore,
    a: &Assembled,
    format: OutputFormat,
    names: &[ImageName],
    epoch: Epoch,
    w: W,
) -> Result<W, ImageError> {
    match format {
        OutputFormat::Oci => return Err(ImageError::DirectoryToStdout),
        OutputFormat::Rootfs => return Err(ImageError::NotAnImageFormat(format.name())),
        OutputFormat::OciArchive | OutputFormat::DockerArchive => {}
    }
    let files = archive_files(a, format, names)?;
    let entries =
        archive_entries(store, a, &files).map_err(|e| ImageError::io("<archive stream>", e))?;
    write_archive(&entries, epoch, w, None).map_err(|e| ImageError::io("<archive stream>", e))
}

/// The small files besides the blobs, by name.
fn archive_files(
    a: &Assembled,
    format: OutputFormat,
    names: &[ImageName],
) -> Result<Vec<(&'static str, Vec<u8>)>, ImageError> {
    let mut files = vec![
        ("index.json", a.index_json.clone()),
        ("oci-layout", OCI_LAYOUT.to_vec()),
    ];
    if format == OutputFormat::DockerArchive {
        let [img] = a.images.as_slice() else {
            return Err(ImageError::DockerArchiveMultiPlatform(
                a.images.iter().map(|i| i.platform.to_string()).collect(),
            ));
        };
        if img.layers.iter().any(|l| l.media_type.ends_with("+zstd")) {
            return Err(ImageError::DockerArchiveZstd);
        }
        files.push(("manifest.json", docker::manifest_json(img, names)?));
        files.push(("repositories", docker::repositories_json(img, names)?));
    }
    Ok(files)
}

/// The archive's entries, sorted by path: `blobs/`, `blobs/sha256/`, the blobs, then the
/// small files. Blobs are streamed from the store; their sizes are checked on the way.
fn archive_entries(
    store: &BlobStore,
    a: &Assembled,
    files: &[(&'static str, Vec<u8>)],
) -> io::Result<Vec<Entry>> {
    let path = |s: &str| {
        ImagePath::parse_str(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    };
    let mut entries = vec![
        Entry::dir(path("blobs")?),
        Entry::dir(path("blobs/sha256")?),
    ];
    for (d, size) in &a.blobs {
        let blob = store.path(d);
        let len = fs::metadata(&blob).map_err(|e| with_path(&blob, e))?.len();
        if len != *size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: blob is {len} bytes, expected {size} (was it changed?)",
                    blob.display()
                ),
            ));
        }
        let name = format!("blobs/sha256/{}", d.hex());
        let content = Content::whole_file(blob, len);
        entries.push(Entry::new(path(&name)?, Kind::File(content), 0o644));
    }
    for (name, bytes) in files {
        let content = Content::Inline(Arc::from(&bytes[..]));
        entries.push(Entry::new(path(name)?, Kind::File(content), 0o644));
    }
    entries.sort_by(|x, y| x.path.cmp(&y.path));
    Ok(entries)
}

/// How a blob's bytes go straight into an archive file ([`copy::copy_blob`]): from the
/// blob file, at an offset, so many bytes.
type DirectCopy<W> = fn(&fs::File, u64, &mut W, u64) -> io::Result<u64>;

/// Write the archive through the canonical tar writer (ustar, 0:0, epoch mtimes). With
/// `direct`, the blobs' bytes go from their files to `w` without passing through the
/// writer's buffer (the bytes are the same).
fn write_archive<W: Write>(
    entries: &[Entry],
    epoch: Epoch,
    w: W,
    direct: Option<DirectCopy<W>>,
) -> io::Result<W> {
    let mut t = TarWriter::new(w, epoch);
    for e in entries {
        match (&e.kind, direct) {
            (Kind::File(Content::Range { file, offset, len }), Some(copy)) => {
                let src = fs::File::open(file.as_path()).map_err(|err| with_path(file, err))?;
                t.append_direct(e, |w| copy(&src, *offset, w, *len))?;
            }
            _ => t.append(e)?,
        }
    }
    let mut w = t.finish()?;
    w.flush()?;
    Ok(w)
}

/// Write an archive file atomically. An existing file that may already hold these very
/// bytes ([`may_hold`]) is compared as the archive is produced and left alone when equal;
/// otherwise the new file is written with each blob copied by the kernel.
fn write_archive_file(
    store: &BlobStore,
    a: &Assembled,
    files: &[(&'static str, Vec<u8>)],
    epoch: Epoch,
    out: &Path,
) -> Result<(), ImageError> {
    let entries = archive_entries(store, a, files).map_err(|e| ImageError::io(out, e))?;
    let old = fs::File::open(out)
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()));
    let old = match old {
        Some(f) if may_hold(&f, &entries, epoch).map_err(|e| ImageError::io(out, e))? => Some(f),
        _ => None,
    };
    write_file_atomically(out, |file| match old {
        Some(old) => {
            let w = BufWriter::with_capacity(1 << 16, Unchanged::new(file, Some(old)));
            let w = write_archive(&entries, epoch, w, None)?;
            w.into_inner().map_err(|e| e.into_error())?.finish()
        }
        None => {
            write_archive(&entries, epoch, file, Some(copy::copy_blob))?;
            Ok(false)
        }
    })
}

/// Whether `old` may hold exactly the archive of `entries`: it has the archive's size and
/// ends with its last members, the small files after the blobs, whose `index.json` names
/// the image and through it, by digest, every blob. Only then is comparing every byte
/// worth it; an image that changed is written without reading the old file.
fn may_hold(old: &fs::File, entries: &[Entry], epoch: Epoch) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let blobs_end = entries
        .iter()
        .rposition(|e| matches!(e.kind, Kind::File(Content::Range { .. })))
        .map_or(0, |i| i + 1);
    let (head, tail) = entries.split_at(blobs_end);
    let mut tail_bytes = Vec::new();
    write_entries(tail, epoch, &mut tail_bytes)?;
    let mut size = tail_bytes.len() as u64;
    for e in head {
        size += archived_size(e, epoch)?;
    }
    if old.metadata()?.len() != size {
        return Ok(false);
    }
    let mut found = vec![0u8; tail_bytes.len()];
    old.read_exact_at(&mut found, size - tail_bytes.len() as u64)?;
    Ok(found == tail_bytes)
}

/// Refuse an output path that cannot take the format, best before anything is built: an
/// existing directory for a format other than `oci`, which write one tar file. `-` is
/// stdout.
pub fn check_output_path(format: OutputFormat, out: &Path) -> Result<(), ImageError> {
    if format != OutputFormat::Oci && out.as_os_str() != "-" && out.is_dir() {
        return Err(ImageError::ArchiveOverDirectory {
            path: out.to_path_buf(),
            format: format.name(),
        });
    }
    Ok(())
}

/// The directory a new output is created in (`.` for a bare relative name), created with
/// its missing parents, as `-o new/dir/image.tar` asks.
pub fn output_parent(out: &Path) -> Result<PathBuf, ImageError> {
    let dir = parent_dir(out);
    fs::create_dir_all(&dir).map_err(|e| ImageError::io(&dir, e))?;
    Ok(dir)
}

/// The directory a new output is created in (`.` for a bare relative name).
pub(super) fn parent_dir(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub(super) fn temp_prefix(out: &Path) -> String {
    let base = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    format!(".{base}.tmp-")
}

/// Write a file under a temporary name beside `out`, then rename it over `out`, unless
/// `fill` (given the temporary file) says `out` already holds exactly its bytes: then it is
/// left as it is (a rebuild with nothing changed replaces nothing).
fn write_file_atomically(
    out: &Path,
    fill: impl FnOnce(fs::File) -> io::Result<bool>,
) -> Result<(), ImageError> {
    let dir = output_parent(out)?;
    crate::cleanup::remove_dead(&dir, &temp_prefix(out));
    let tmp = tempfile::Builder::new()
        .prefix(&crate::cleanup::temp_prefix(&dir, &temp_prefix(out)))
        .tempfile_in(&dir)
        .map_err(|e| ImageError::io(&dir, e))?;
    let file = tmp.reopen().map_err(|e| ImageError::io(tmp.path(), e))?;
    let same = fill(file).map_err(|e| ImageError::io(out, e))?;
    if same {
        return Ok(());
    }
    set_readable(tmp.path()).map_err(|e| ImageError::io(out, e))?;
    tmp.persist(out).map_err(|e| ImageError::io(out, e.error))?;
    Ok(())
}

/// A file writer that first only compares what it is given with an existing file: while
/// the bytes agree nothing is written; at the first difference the agreeing prefix is
/// copied from the old file and writing goes on from there. [`Unchanged::finish`] tells
/// whether the new file would be byte for byte the old one (then nothing was written).
struct Unchanged {
    file: fs::File,
    /// The old file, while everything so far agrees with it.
    old: Option<fs::File>,
    /// How many bytes have agreed so far.
    same: u64,
    scratch: Vec<u8>,
}

impl Unchanged {
    fn new(file: fs::File, old: Option<fs::File>) -> Unchanged {
        Unchanged {
            file,
            old,
            same: 0,
            scratch: Vec::new(),
        }
    }

    /// Stop comparing: write the prefix that agreed (read again from the old file).
    fn diverge(&mut self) -> io::Result<()> {
        use std::io::{Read, Seek};
        let Some(mut old) = self.old.take() else {
            return Ok(());
        };
        old.rewind()?;
        let copied = io::copy(&mut (&mut old).take(self.same), &mut self.file)?;
        if copied != self.same {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the previous output shrank while it was compared",
            ));
        }
        Ok(())
    }

    /// True when everything given equals the whole old file; false once the new file is
    /// complete.
    fn finish(mut self) -> io::Result<bool> {
        use std::io::Read;
        if let Some(old) = self.old.as_mut() {
            if matches!(old.read(&mut [0u8; 1]), Ok(0)) {
                return Ok(true);
            }
            self.diverge()?;
        }
        self.file.flush()?;
        Ok(false)
    }
}

impl Write for Unchanged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use std::io::Read;
        if let Some(old) = self.old.as_mut() {
            self.scratch.resize(buf.len(), 0);
            if old.read_exact(&mut self.scratch).is_ok() && self.scratch[..] == buf[..] {
                self.same += buf.len() as u64;
                return Ok(buf.len());
            }
            self.diverge()?;
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blobs on disk (one of them longer than a buffer, one not a whole number of blocks)
    /// and small inline files after them, as an archive holds them.
    fn entries(dir: &Path) -> Vec<Entry> {
        let path = |s: &str| ImagePath::parse_str(s).unwrap();
        let mut entries = vec![Entry::dir(path("blobs")), Entry::dir(path("blobs/sha256"))];
        for (name, len) in [("aa", 700_001usize), ("bb", 513), ("cc", 0)] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let p = dir.join(name);
            fs::write(&p, &bytes).unwrap();
            let content = Content::whole_file(&p, len as u64);
            entries.push(Entry::new(
                path(&format!("blobs/sha256/{name}")),
                Kind::File(content),
                0o644,
            ));
        }
        for (name, text) in [("index.json", "{}"), ("oci-layout", "x")] {
            let content = Content::Inline(Arc::from(text.as_bytes()));
            entries.push(Entry::new(path(name), Kind::File(content), 0o644));
        }
        entries
    }

    #[test]
    fn blobs_copied_by_the_kernel_give_the_bytes_of_the_buffered_writer() {
        let dir = tempfile::tempdir().unwrap();
        let entries = entries(dir.path());
        let epoch = Epoch(1_700_000_000);
        let buffered = write_archive(&entries, epoch, Vec::new(), None).unwrap();
        let out = dir.path().join("out.tar");
        let file = fs::File::create(&out).unwrap();
        write_archive(&entries, epoch, file, Some(copy::copy_blob)).unwrap();
        let direct = fs::read(&out).unwrap();
        assert_eq!(direct.len(), buffered.len());
        assert!(direct == buffered, "the same bytes either way");
    }

    #[test]
    fn only_a_file_of_the_archives_size_and_tail_is_compared() {
        let dir = tempfile::tempdir().unwrap();
        let entries = entries(dir.path());
        let epoch = Epoch(1_700_000_000);
        let good = write_archive(&entries, epoch, Vec::new(), None).unwrap();
        let p = dir.path().join("old.tar");
        let check = |bytes: &[u8]| {
            fs::write(&p, bytes).unwrap();
            may_hold(&fs::File::open(&p).unwrap(), &entries, epoch).unwrap()
        };
        assert!(check(&good));
        // Damage inside a blob keeps size and tail: worth comparing (which finds it).
        let mut inside = good.clone();
        inside[2048] ^= 1;
        assert!(check(&inside));
        // Another index.json, or another size: another image, not read.
        let at = good.windows(2).rposition(|w| w == b"{}").unwrap();
        let mut other_index = good.clone();
        other_index[at] = b'[';
        assert!(!check(&other_index));
        assert!(!check(&good[..good.len() - 512]));
        assert!(!check(&[&good[..], &[0u8; 512]].concat()));
    }
}
