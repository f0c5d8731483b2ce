/*!
Synthetic bundles on disk, shaped like Cisco's, and hostile archives.

Real firmware cannot ship with phoneboot, so tests (here, the CLI's, the
phone simulator's) build bundles with real file names and real `.loads`
structure from [`cisco::synth`], and small made-up contents. Everything is
deterministic: a file's bytes depend only on its name and size, so the same
component in two bundles is the same blob, as with Cisco's.

```
use library::{fixtures::{Bundle, TempDir}, Format};
let dir = TempDir::new("fixtures-doc")?;
let zip = Bundle::new("SIP41.9-4-2SR3-1S")?.write(dir.path(), Format::Zip)?;
assert!(zip.ends_with("cmterm-7941_7961-sip.9-4-2SR3-1.zip"));
# Ok::<(), std::io::Error>(())
```
*/

// Test support: builds trusted inputs, never parses hostile ones.
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cisco::synth::{self, LoadsBuilder};
use cisco::{LoadName, Protocol};
use sha2::{Digest, Sha256};

use crate::Format;

/// Default size of a synthetic image (real ones are 130 KB to 3 MB; small
/// keeps tests fast, see [`Bundle::image_size`]).
pub const DEFAULT_IMAGE_SIZE: usize = 2048;

/// A temporary folder, removed when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new empty folder under the system's temporary folder.
    pub fn new(label: &str) -> io::Result<TempDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("phoneboot-{label}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// A synthetic Cisco bundle for one load.
#[derive(Debug, Clone)]
pub struct Bundle {
    load: LoadName,
    image_size: usize,
    omit: Vec<String>,
    empty: Vec<String>,
    extra: Vec<(String, Vec<u8>)>,
}

impl Bundle {
    /// The bundle Cisco ships for `load` (`SIP41.9-4-2SR3-1S`, `P0S3-8-12-00`,
    /// `P00303010102`, …).
    pub fn new(load: &str) -> io::Result<Bundle> {
        let load = LoadName::parse(load).map_err(|e| invalid(e.to_string()))?;
        Ok(Bundle {
            load,
            image_size: DEFAULT_IMAGE_SIZE,
            omit: Vec::new(),
            empty: Vec::new(),
            extra: Vec::new(),
        })
    }

    /// Make each image `n` bytes (use [`synth::typical_size`] for real sizes).
    #[must_use]
    pub fn image_size(mut self, n: usize) -> Self {
        self.image_size = n;
        self
    }

    /// Leave `file` out, as a careless unzip would.
    #[must_use]
    pub fn without(mut self, file: &str) -> Self {
        self.omit.push(file.to_owned());
        self
    }

    /// Ship `file` with zero bytes, as a failed download would.
    #[must_use]
    pub fn empty(mut self, file: &str) -> Self {
        self.empty.push(file.to_owned());
        self
    }

    /// Add (or replace) a file.
    #[must_use]
    pub fn with_file(mut self, name: &str, bytes: &[u8]) -> Self {
        self.extra.push((name.to_owned(), bytes.to_vec()));
        self
    }

    /// The load.
    pub fn load(&self) -> &LoadName {
        &self.load
    }

    /// The name Cisco gives the download, without extension
    /// (`cmterm-7941_7961-sip.9-4-2SR3-1`, `P0S3-8-12-00`).
    pub fn bundle_name(&self) -> String {
        let l = &self.load;
        if l.family().is_java() {
            let mut numbers: Vec<u16> = l.image_set().models().map(|m| m.number()).collect();
            numbers.dedup();
            let models: Vec<String> = numbers.iter().map(u16::to_string).collect();
            let proto = l
                .protocol()
                .unwrap_or(Protocol::Sccp)
                .as_str()
                .to_ascii_lowercase();
            let raw = l.as_str();
            let ver = raw.split_once('.').map_or(raw, |(_, v)| v);
            let ver = ver.strip_suffix(['S', 's']).unwrap_or(ver);
            format!("cmterm-{}-{proto}.{ver}", models.join("_"))
        } else {
            l.as_str().to_owned()
        }
    }

    /// The listed files of the load, in `.loads` order.
    pub fn listed_files(&self) -> Vec<String> {
        synth::load_files(&self.load)
    }

    /// Every file of the bundle with its bytes, in bundle order.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let l = &self.load;
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        if let Ok(b) = LoadsBuilder::for_load(l) {
            out.push((b.file_name().to_owned(), b.build()));
            let mut terms: Vec<String> = Vec::new();
            for m in l.image_set().models() {
                if let Ok(t) = LoadsBuilder::term_default(m, l) {
                    if !terms.contains(&t.file_name().to_owned()) {
                        terms.push(t.file_name().to_owned());
                        out.push((t.file_name().to_owned(), t.build()));
                    }
                }
            }
            for f in b.files() {
                out.push((f.clone(), synth::image(f, self.image_size)));
                // 79x0 bundles ship the unsigned twin of the loader for phones below 5.0.
                if let Some(stem) = f.strip_suffix(".sbn").filter(|_| !l.family().is_java()) {
                    let twin = format!("{stem}.bin");
                    out.push((twin.clone(), synth::image(&twin, self.image_size)));
                }
            }
            if !l.family().is_java() && l.protocol() == Some(Protocol::Sip) {
                out.push(("OS79XX.TXT".into(), b"P0S3-8-12-00\r\n".to_vec()));
            }
            out.push((
                format!("{}-readme.txt", self.bundle_name()),
                format!("Release notes for {l} (synthetic).\n").into_bytes(),
            ));
        } else {
            let f = l.requested_file();
            out.push((f.clone(), synth::image(&f, self.image_size)));
        }
        out.retain(|(n, _)| !self.omit.iter().any(|o| o.eq_ignore_ascii_case(n)));
        for (n, bytes) in &mut out {
            if self.empty.iter().any(|e| e.eq_ignore_ascii_case(n)) {
                bytes.clear();
            }
        }
        for (name, bytes) in &self.extra {
            out.retain(|(n, _)| n != name);
            out.push((name.clone(), bytes.clone()));
        }
        out
    }

    /// The file name for `format` (`….zip`, `….cop.sgn`, the folder, or the `.bin`).
    pub fn file_name(&self, format: Format) -> String {
        let base = self.bundle_name();
        match format {
            Format::Zip => format!("{base}.zip"),
            Format::Tar => format!("{base}.tar"),
            Format::TarGz => format!("{base}.tar.gz"),
            Format::Cop => format!("{base}.cop"),
            Format::CopSgn => format!("{base}.cop.sgn"),
            Format::Folder => base,
            Format::Image => self.load.requested_file(),
        }
    }

    /// Write the bundle into `dir` as `format`; returns its path. `.cop` and
    /// `.cop.sgn` keep their files under `usr/local/cm/tftp/`, as CUCM
    /// packages do; the others are flat.
    pub fn write(&self, dir: &Path, format: Format) -> io::Result<PathBuf> {
        let path = dir.join(self.file_name(format));
        let files = self.files();
        match format {
            Format::Zip => write_zip(&path, &files)?,
            Format::Tar => write_tar(&path, &files)?,
            Format::TarGz => write_tar_gz(&path, &files)?,
            Format::Cop => write_tar_gz(&path, &prefixed(&files))?,
            Format::CopSgn => write_cop_sgn(&path, &prefixed(&files))?,
            Format::Folder => write_folder(&path, &files)?,
            Format::Image => match files.as_slice() {
                [(_, bytes)] => fs::write(&path, bytes)?,
                _ => {
                    return Err(invalid(format!(
                        "load {} is not a single image; pick another format",
                        self.load
                    )))
                }
            },
        }
        Ok(path)
    }
}

fn prefixed(files: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(n, b)| (format!("usr/local/cm/tftp/{n}"), b.clone()))
        .collect()
}

/// A `.zip` (deflated) with these entries.
pub fn write_zip(path: &Path, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut zip = zip::ZipWriter::new(fs::File::create(path)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options)
            .map_err(io::Error::other)?;
        zip.write_all(bytes)?;
    }
    zip.finish().map_err(io::Error::other)?;
    Ok(())
}

fn tar_bytes(files: &[(String, Vec<u8>)]) -> io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_262_304_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, bytes.as_slice())?;
    }
    b.into_inner()
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes)?;
    e.finish()
}

/// A plain `.tar`.
pub fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    fs::write(path, tar_bytes(files)?)
}

/// A `.tar.gz` (also what a `.cop` is).
pub fn write_tar_gz(path: &Path, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    fs::write(path, gzip(&tar_bytes(files)?)?)
}

/// A `.cop.sgn`: a synthetic signed header (Cisco's TLV layout, fake
/// signature) for the file's name, then the `.tar.gz`.
pub fn write_cop_sgn(path: &Path, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = synth::signed_header(&name);
    out.extend_from_slice(&gzip(&tar_bytes(files)?)?);
    fs::write(path, out)
}

/// An unpacked folder.
pub fn write_folder(dir: &Path, files: &[(String, Vec<u8>)]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for (name, bytes) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(p, bytes)?;
    }
    Ok(())
}

/// Every file and folder under `dir` (symlinks not followed) with a hash of
/// each file's bytes: compare two to prove nothing changed.
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Ok(meta) = fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                out.insert(rel, "dir".into());
                walk(root, &p, out);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&p).unwrap_or_default();
                out.insert(rel, format!("link {}", target.display()));
            } else {
                let mut h = Sha256::new();
                if let Ok(mut f) = fs::File::open(&p) {
                    let mut buf = Vec::new();
                    let _ = f.read_to_end(&mut buf);
                    h.update(&buf);
                }
                out.insert(rel, hex::encode(h.finalize()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Archives built to attack an importer. Each holds a complete, valid load
/// before the hostile entry, so a refusal must come from the entry itself
/// and must undo the work already done.
pub mod hostile {
    use super::*;

    /// A hostile archive and the entry that must be named in the refusal.
    #[derive(Debug, Clone)]
    pub struct Hostile {
        /// The archive.
        pub path: PathBuf,
        /// The hostile entry's name, as the archive holds it.
        pub entry: String,
        /// What it is, for test messages.
        pub what: &'static str,
    }

    fn good() -> Vec<(String, Vec<u8>)> {
        Bundle::new("SIP41.9-4-2SR3-1S")
            .map(|b| b.image_size(512).files())
            .unwrap_or_default()
    }

    /// A tar header with any name and type, bypassing the builder's checks.
    fn raw_header(name: &[u8], kind: tar::EntryType, size: u64, link: &[u8]) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            let n = name.len().min(old.name.len());
            old.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(old.linkname.len());
            old.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(1_262_304_000);
        h.set_entry_type(kind);
        h.set_cksum();
        h
    }

    fn tar_with(
        path: &Path,
        gz: bool,
        push: impl FnOnce(&mut tar::Builder<Vec<u8>>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, bytes) in good() {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, &name, bytes.as_slice())?;
        }
        push(&mut b)?;
        let bytes = b.into_inner()?;
        fs::write(path, if gz { gzip(&bytes)? } else { bytes })
    }

    fn raw_entry(
        dir: &Path,
        file: &str,
        what: &'static str,
        name: &str,
        kind: tar::EntryType,
        data: &[u8],
        link: &[u8],
    ) -> io::Result<Hostile> {
        let path = dir.join(file);
        tar_with(&path, true, |b| {
            let h = raw_header(name.as_bytes(), kind, data.len() as u64, link);
            b.append(&h, data)
        })?;
        Ok(Hostile {
            path,
            entry: name.to_owned(),
            what,
        })
    }

    /// `../../<dir name>-escaped.sbn`: climbs out of any extraction folder.
    pub fn traversal(dir: &Path) -> io::Result<Hostile> {
        raw_entry(
            dir,
            "traversal.tar.gz",
            "parent-dir traversal",
            "../../escaped.sbn",
            tar::EntryType::Regular,
            b"pwned",
            b"",
        )
    }

    /// The same, in a zip.
    pub fn traversal_zip(dir: &Path) -> io::Result<Hostile> {
        let path = dir.join("traversal.zip");
        let mut files = good();
        files.push(("../escaped.sbn".into(), b"pwned".to_vec()));
        write_zip(&path, &files)?;
        Ok(Hostile {
            path,
            entry: "../escaped.sbn".into(),
            what: "parent-dir traversal in a zip",
        })
    }

    /// An absolute path pointing into `dir`.
    pub fn absolute(dir: &Path) -> io::Result<Hostile> {
        let target = dir.join("absolute-escaped.sbn");
        let name = target.to_string_lossy().into_owned();
        raw_entry(
            dir,
            "absolute.tar.gz",
            "absolute path",
            &name,
            tar::EntryType::Regular,
            b"pwned",
            b"",
        )
    }

    /// A symlink to `/etc/passwd`.
    pub fn symlink(dir: &Path) -> io::Result<Hostile> {
        raw_entry(
            dir,
            "symlink.tar.gz",
            "symlink",
            "link.sbn",
            tar::EntryType::Symlink,
            b"",
            b"/etc/passwd",
        )
    }

    /// A symlink in a zip.
    pub fn symlink_zip(dir: &Path) -> io::Result<Hostile> {
        let path = dir.join("symlink.zip");
        let mut zip = zip::ZipWriter::new(fs::File::create(&path)?);
        let options = zip::write::SimpleFileOptions::default();
        for (name, bytes) in good() {
            zip.start_file(name.as_str(), options)
                .map_err(io::Error::other)?;
            zip.write_all(&bytes)?;
        }
        zip.add_symlink("link.sbn", "/etc/passwd", options)
            .map_err(io::Error::other)?;
        zip.finish().map_err(io::Error::other)?;
        Ok(Hostile {
            path,
            entry: "link.sbn".into(),
            what: "symlink in a zip",
        })
    }

    /// A hard link to `/etc/shadow`.
    pub fn hardlink(dir: &Path) -> io::Result<Hostile> {
        raw_entry(
            dir,
            "hardlink.tar.gz",
            "hard link",
            "hard.sbn",
            tar::EntryType::Link,
            b"",
            b"/etc/shadow",
        )
    }

    /// A character device.
    pub fn device(dir: &Path) -> io::Result<Hostile> {
        raw_entry(
            dir,
            "device.tar.gz",
            "character device",
            "null.sbn",
            tar::EntryType::Char,
            b"",
            b"",
        )
    }

    /// A FIFO.
    pub fn fifo(dir: &Path) -> io::Result<Hostile> {
        raw_entry(
            dir,
            "fifo.tar.gz",
            "fifo",
            "pipe.sbn",
            tar::EntryType::Fifo,
            b"",
            b"",
        )
    }

    /// A 300-byte file name (GNU long-name entry).
    pub fn long_name(dir: &Path) -> io::Result<Hostile> {
        let path = dir.join("longname.tar.gz");
        let name = format!("{}.sbn", "a".repeat(296));
        tar_with(&path, true, |b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_mode(0o644);
            b.append_data(&mut h, &name, &b"pwned"[..])
        })?;
        Ok(Hostile {
            path,
            entry: name.get(..200).unwrap_or_default().to_owned(),
            what: "name over 255 bytes",
        })
    }

    /// `files` plus a second `.loads` whose name differs only in case.
    pub fn case_duplicates(dir: &Path) -> io::Result<Hostile> {
        let path = dir.join("casedup.tar.gz");
        let name = "sip41.9-4-2sr3-1s.LOADS";
        tar_with(&path, true, |b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(5);
            h.set_mode(0o644);
            b.append_data(&mut h, name, &b"other"[..])
        })?;
        Ok(Hostile {
            path,
            entry: name.into(),
            what: "duplicate name differing in case",
        })
    }

    /// One entry of `bytes` zeros, gzipped: refused by the per-file or total
    /// limit (set limits below `bytes`) or, if large enough, by the ratio.
    pub fn bomb(dir: &Path, bytes: u64) -> io::Result<Hostile> {
        let path = dir.join("bomb.tar.gz");
        let name = "jar41sip.9-4-2ES27.sbn";
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            fs::File::create(&path)?,
            flate2::Compression::default(),
        ));
        for (n, data) in good() {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, &n, data.as_slice())?;
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes);
        h.set_mode(0o644);
        b.append_data(&mut h, name, io::repeat(0).take(bytes))?;
        b.into_inner()?.finish()?;
        Ok(Hostile {
            path,
            entry: name.into(),
            what: "compression bomb",
        })
    }

    /// A zip whose one large entry of zeros deflates ~1000:1.
    pub fn bomb_zip(dir: &Path, bytes: u64) -> io::Result<Hostile> {
        let path = dir.join("bomb.zip");
        let name = "jar41sip.9-4-2ES27.sbn";
        let mut zip = zip::ZipWriter::new(fs::File::create(&path)?);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(bytes >= u32::MAX as u64);
        zip.start_file(name, options).map_err(io::Error::other)?;
        io::copy(&mut io::repeat(0).take(bytes), &mut zip)?;
        zip.finish().map_err(io::Error::other)?;
        Ok(Hostile {
            path,
            entry: name.into(),
            what: "zip compression bomb",
        })
    }

    /// A GNU long-name header of 4 MiB: a tar reader that keeps names in
    /// memory would take all of it.
    pub fn huge_header(dir: &Path) -> io::Result<Hostile> {
        let path = dir.join("hugeheader.tar.gz");
        tar_with(&path, true, |b| {
            let data = vec![b'a'; 4 << 20];
            let h = raw_header(
                b"././@LongLink",
                tar::EntryType::GNULongName,
                data.len() as u64,
                b"",
            );
            b.append(&h, data.as_slice())?;
            let h = raw_header(b"short.sbn", tar::EntryType::Regular, 5, b"");
            b.append(&h, &b"pwned"[..])
        })?;
        Ok(Hostile {
            path,
            entry: "the header after".into(),
            what: "huge tar header",
        })
    }

    /// Every hostile archive that needs no special limits.
    pub fn all(dir: &Path) -> io::Result<Vec<Hostile>> {
        Ok(vec![
            traversal(dir)?,
            traversal_zip(dir)?,
            absolute(dir)?,
            symlink(dir)?,
            symlink_zip(dir)?,
            hardlink(dir)?,
            device(dir)?,
            fifo(dir)?,
            long_name(dir)?,
            case_duplicates(dir)?,
            huge_header(dir)?,
            bomb(dir, 40 << 20)?,
            bomb_zip(dir, 40 << 20)?,
        ])
    }
}
