/*!
Unpacking bundles into a staging folder, refusing anything unsafe.

Every format ends up in [`Extractor::add_file`], which checks the entry's
name, streams its bytes into `stage/fN` while hashing them, and enforces the
limits on what was actually read, never on sizes the archive declares. The
first unsafe entry stops the whole import: the caller drops the staging
folder, and the library never saw a byte.

Why refuse instead of skipping: a bundle from Cisco has none of these
entries, so one that does was damaged or built to attack; the operator must
hear about it rather than get a quietly partial import.
*/

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::error::{ImportError, LibraryError, Refusal};
use crate::Progress;

/// Limits on what one import may unpack. Enforced on the bytes read, while
/// reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Total bytes unpacked from one bundle (default 2 GiB; the largest real
    /// bundles are about 50 MB).
    pub max_total_bytes: u64,
    /// Bytes in one entry (default 512 MiB; the largest real image is about 3 MB).
    pub max_file_bytes: u64,
    /// Unpacked bytes may be at most this many times the bundle's size
    /// (default 100; firmware images barely compress, so real bundles are near 1).
    pub max_ratio: u64,
    /// Unpacked bytes always allowed before the ratio applies (default 16 MiB),
    /// so small bundles of text files are not mistaken for bombs.
    pub ratio_grace_bytes: u64,
    /// Entries in one bundle, folders included (default 100 000).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 2 << 30,
            max_file_bytes: 512 << 20,
            max_ratio: 100,
            ratio_grace_bytes: 16 << 20,
            max_entries: 100_000,
        }
    }
}

impl Limits {
    /// Set [`Limits::max_total_bytes`].
    #[must_use]
    pub fn max_total_bytes(mut self, n: u64) -> Self {
        self.max_total_bytes = n;
        self
    }
    /// Set [`Limits::max_file_bytes`].
    #[must_use]
    pub fn max_file_bytes(mut self, n: u64) -> Self {
        self.max_file_bytes = n;
        self
    }
    /// Set [`Limits::max_ratio`] and [`Limits::ratio_grace_bytes`].
    #[must_use]
    pub fn max_ratio(mut self, ratio: u64, grace_bytes: u64) -> Self {
        self.max_ratio = ratio;
        self.ratio_grace_bytes = grace_bytes;
        self
    }
    /// Set [`Limits::max_entries`].
    #[must_use]
    pub fn max_entries(mut self, n: u64) -> Self {
        self.max_entries = n;
        self
    }
}

/// How a bundle is packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// `.zip`, as Cisco's `cmterm-…zip` downloads.
    Zip,
    /// Plain `.tar`.
    Tar,
    /// `.tar.gz` or `.tgz`.
    TarGz,
    /// `.cop`: a renamed `.tar.gz`.
    Cop,
    /// `.cop.sgn` (or `.cop.sha512`): a signed header, then a `.tar.gz`.
    CopSgn,
    /// An unpacked folder.
    Folder,
    /// One file that is a load by itself (`P00303010102.bin`, a 7912 `.sbin`).
    Image,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 7] = [
        Format::Zip,
        Format::Tar,
        Format::TarGz,
        Format::Cop,
        Format::CopSgn,
        Format::Folder,
        Format::Image,
    ];

    /// Tell the format from the path's name, or from its first bytes.
    pub fn detect(path: &Path) -> Option<Format> {
        let meta = fs::metadata(path).ok()?;
        if meta.is_dir() {
            return Some(Format::Folder);
        }
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let by_name = [
            (".cop.sgn", Format::CopSgn),
            (".cop.sha512", Format::CopSgn),
            (".cop", Format::Cop),
            (".tar.gz", Format::TarGz),
            (".tgz", Format::TarGz),
            (".tar", Format::Tar),
            (".zip", Format::Zip),
            (".bin", Format::Image),
            (".sbin", Format::Image),
            (".zup", Format::Image),
        ];
        if let Some((_, f)) = by_name.iter().find(|(ext, _)| name.ends_with(ext)) {
            return Some(*f);
        }
        let mut head = [0u8; 262];
        let n = File::open(path)
            .and_then(|mut f| read_up_to(&mut f, &mut head))
            .ok()?;
        let head = head.get(..n)?;
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if head.get(257..262) == Some(b"ustar") {
            Some(Format::Tar)
        } else {
            None
        }
    }

    /// A short lower-case name (`zip`, `cop.sgn`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
            Format::Cop => "cop",
            Format::CopSgn => "cop.sgn",
            Format::Folder => "folder",
            Format::Image => "single image",
        }
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n = n.saturating_add(k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One regular file unpacked into the staging folder.
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    /// Its path inside the bundle, normalised (`/` separators, no `.`).
    pub entry: String,
    /// Its last component.
    pub base: String,
    /// Where its bytes are.
    pub path: PathBuf,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// Counts bytes read from the bundle file, for progress.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(
            self.count
                .get()
                .saturating_add(u64::try_from(n).unwrap_or(u64::MAX)),
        );
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Watches the bytes the tar reader takes between entries: GNU long names
/// and pax records are read into memory by the tar crate, so a bundle could
/// declare a gigabyte-long "name". Between entries (headers, extensions,
/// padding) at most [`MAX_TAR_METADATA`] bytes may pass.
#[derive(Debug, Default)]
struct TarWatch {
    raw: Cell<u64>,
    mark: Cell<u64>,
    streaming: Cell<bool>,
    tripped: Cell<bool>,
}

impl TarWatch {
    fn between_entries(&self) {
        self.streaming.set(false);
        self.mark.set(self.raw.get());
    }
}

struct Watched<R> {
    inner: R,
    watch: Rc<TarWatch>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let w = &self.watch;
        w.raw.set(
            w.raw
                .get()
                .saturating_add(u64::try_from(n).unwrap_or(u64::MAX)),
        );
        if !w.streaming.get() && w.raw.get().saturating_sub(w.mark.get()) > MAX_TAR_METADATA {
            w.tripped.set(true);
            return Err(io::Error::other(
                "tar headers between two entries exceed 1 MiB",
            ));
        }
        Ok(n)
    }
}

/// Most header bytes (long names, pax records, padding) allowed between two tar entries.
const MAX_TAR_METADATA: u64 = 1 << 20;

const MAX_COMPONENT: usize = 255;
const MAX_PATH: usize = 1024;
const MAX_DEPTH: usize = 32;
const PROGRESS_STEP: u64 = 1 << 20;

pub(crate) struct Extractor<'a> {
    archive: &'a Path,
    stage: &'a Path,
    limits: Limits,
    /// The bundle's size, for the ratio check (`None` for folders).
    archive_bytes: Option<u64>,
    total: u64,
    entries: u64,
    seen: HashMap<String, String>,
    pub staged: Vec<Staged>,
    progress: &'a mut dyn Progress,
    read: Rc<Cell<u64>>,
    progress_total: u64,
}

impl<'a> Extractor<'a> {
    pub(crate) fn new(
        archive: &'a Path,
        stage: &'a Path,
        limits: Limits,
        progress: &'a mut dyn Progress,
    ) -> Self {
        Extractor {
            archive,
            stage,
            limits,
            archive_bytes: None,
            total: 0,
            entries: 0,
            seen: HashMap::new(),
            staged: Vec::new(),
            progress,
            read: Rc::new(Cell::new(0)),
            progress_total: 0,
        }
    }

    /// Unpack the bundle in `format`.
    pub(crate) fn run(&mut self, format: Format) -> Result<(), ImportError> {
        match format {
            Format::Folder => self.folder(),
            Format::Image => {
                let (file, _) = self.open_bundle()?;
                let name = self
                    .archive
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.add_file(name.as_bytes(), &mut BufReader::new(file))
            }
            Format::Zip => self.zip(),
            Format::Tar => {
                let (file, _) = self.open_bundle()?;
                let mut rest = self.tar(self.counting(file))?;
                self.drain(&mut rest)
            }
            Format::TarGz | Format::Cop => {
                let (file, _) = self.open_bundle()?;
                let gz = flate2::read::GzDecoder::new(self.counting(file));
                let mut rest = self.tar(gz)?;
                self.drain(&mut rest)
            }
            Format::CopSgn => {
                let (mut file, _) = self.open_bundle()?;
                let offset = self.signed_header_end(&mut file)?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(|e| self.read_error(e))?;
                self.read.set(offset);
                let gz = flate2::read::GzDecoder::new(self.counting(file));
                let mut rest = self.tar(gz)?;
                self.drain(&mut rest)
            }
        }
    }

    fn open_bundle(&mut self) -> Result<(File, u64), ImportError> {
        let file = File::open(self.archive).map_err(|e| self.read_error(e))?;
        let len = file.metadata().map_err(|e| self.read_error(e))?.len();
        self.archive_bytes = Some(len);
        self.progress_total = len;
        Ok((file, len))
    }

    fn counting(&self, file: File) -> Counting<BufReader<File>> {
        Counting {
            inner: BufReader::with_capacity(64 << 10, file),
            count: Rc::clone(&self.read),
        }
    }

    fn read_error(&self, source: io::Error) -> ImportError {
        ImportError::Read {
            archive: self.archive.to_owned(),
            source,
        }
    }

    fn corrupt(&self, entry: Option<&[u8]>, detail: impl std::fmt::Display) -> ImportError {
        ImportError::Corrupt {
            archive: self.archive.to_owned(),
            entry: entry.map(show_name),
            detail: detail.to_string(),
        }
    }

    fn refuse(&self, entry: &[u8], reason: Refusal) -> ImportError {
        ImportError::Refused {
            archive: self.archive.to_owned(),
            entry: show_name(entry),
            reason,
        }
    }

    fn stage_error(&self, action: &'static str, path: &Path, e: io::Error) -> ImportError {
        ImportError::Library {
            archive: self.archive.to_owned(),
            source: LibraryError::io(action, path, e),
        }
    }

    fn count_entry(&mut self, raw: &[u8]) -> Result<(), ImportError> {
        self.entries = self.entries.saturating_add(1);
        if self.entries > self.limits.max_entries {
            return Err(self.refuse(
                raw,
                Refusal::TooManyEntries {
                    limit: self.limits.max_entries,
                },
            ));
        }
        Ok(())
    }

    /// A folder entry: checked, counted, not stored.
    fn add_dir(&mut self, raw: &[u8]) -> Result<(), ImportError> {
        self.count_entry(raw)?;
        check_name(raw).map_err(|r| self.refuse(raw, r))?;
        Ok(())
    }

    /// A regular file: checked, streamed into the stage under the limits, hashed.
    pub(crate) fn add_file(
        &mut self,
        raw: &[u8],
        reader: &mut dyn Read,
    ) -> Result<(), ImportError> {
        self.count_entry(raw)?;
        let Some((entry, base)) = check_name(raw).map_err(|r| self.refuse(raw, r))? else {
            // A name that is only "." or "/" separators: nothing to store.
            return Err(self.refuse(raw, Refusal::BadName));
        };
        let key = entry.to_lowercase();
        if let Some(first) = self.seen.get(&key) {
            return Err(self.refuse(
                raw,
                Refusal::Duplicate {
                    first: first.clone(),
                },
            ));
        }
        self.seen.insert(key, entry.clone());

        let path = self.stage.join(format!("f{}", self.staged.len()));
        let mut out = File::create(&path).map_err(|e| self.stage_error("create", &path, e))?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut next_report: u64 = 0;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            if size >= next_report {
                self.progress.on_entry(
                    &entry,
                    self.read.get().min(self.progress_total),
                    self.progress_total,
                );
                next_report = size.saturating_add(PROGRESS_STEP);
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.corrupt(Some(raw), e)),
            };
            let chunk = buf.get(..n).unwrap_or(&[]);
            let n64 = u64::try_from(n).unwrap_or(u64::MAX);
            size = size.saturating_add(n64);
            self.total = self.total.saturating_add(n64);
            self.check_size(raw, size)?;
            hasher.update(chunk);
            out.write_all(chunk)
                .map_err(|e| self.stage_error("write", &path, e))?;
        }
        self.staged.push(Staged {
            entry,
            base,
            path,
            size,
            sha256: hasher.finalize().into(),
        });
        Ok(())
    }

    fn check_size(&self, raw: &[u8], size: u64) -> Result<(), ImportError> {
        let l = &self.limits;
        if size > l.max_file_bytes {
            return Err(self.refuse(
                raw,
                Refusal::FileTooLarge {
                    limit: l.max_file_bytes,
                },
            ));
        }
        if self.total > l.max_total_bytes {
            return Err(self.refuse(
                raw,
                Refusal::TotalTooLarge {
                    limit: l.max_total_bytes,
                },
            ));
        }
        if let Some(archive_bytes) = self.archive_bytes {
            let allowed = archive_bytes
                .saturating_mul(l.max_ratio)
                .saturating_add(l.ratio_grace_bytes);
            if self.total > allowed {
                return Err(self.refuse(
                    raw,
                    Refusal::Ratio {
                        archive_bytes,
                        unpacked: self.total,
                        max_ratio: l.max_ratio,
                    },
                ));
            }
        }
        Ok(())
    }

    /// Read what follows the tar's end marker, so a gzip stream's checksum
    /// and length are checked (a damaged tail must fail the import), under
    /// the same limits.
    fn drain(&mut self, rest: &mut dyn Read) -> Result<(), ImportError> {
        const AFTER: &[u8] = b"(after the last entry)";
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match rest.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.corrupt(Some(AFTER), e)),
            };
            self.total = self
                .total
                .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
            self.check_size(AFTER, 0)?;
        }
    }

    fn tar<R: Read>(&mut self, reader: R) -> Result<impl Read, ImportError> {
        use tar::EntryType as T;
        let watch = Rc::new(TarWatch::default());
        let mut archive = tar::Archive::new(Watched {
            inner: reader,
            watch: Rc::clone(&watch),
        });
        let entries = archive.entries().map_err(|e| self.corrupt(None, e))?;
        let mut last: Option<Vec<u8>> = None;
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(_) if watch.tripped.get() => {
                    let after = last.as_deref().map(show_name).unwrap_or_default();
                    let name = format!("(the header after {after:?})");
                    return Err(self.refuse(name.as_bytes(), Refusal::HeaderTooLarge));
                }
                Err(e) => return Err(self.corrupt(last.as_deref(), e)),
            };
            let raw = entry.path_bytes().into_owned();
            last = Some(raw.clone());
            let link = || {
                entry
                    .link_name_bytes()
                    .map(|l| show_name(&l))
                    .unwrap_or_default()
            };
            match entry.header().entry_type() {
                T::Regular | T::Continuous => {
                    watch.streaming.set(true);
                    self.add_file(&raw, &mut entry)?;
                }
                T::Directory => self.add_dir(&raw)?,
                T::Symlink => return Err(self.refuse(&raw, Refusal::Symlink { target: link() })),
                T::Link => return Err(self.refuse(&raw, Refusal::HardLink { target: link() })),
                T::XGlobalHeader => {}
                other => {
                    let kind = match other {
                        T::Char => "character device".to_owned(),
                        T::Block => "block device".to_owned(),
                        T::Fifo => "fifo".to_owned(),
                        T::GNUSparse => "sparse file".to_owned(),
                        t => format!("tar entry of type {:?}", t.as_byte() as char),
                    };
                    // The type alone refuses it, whatever its name.
                    return Err(self.refuse(&raw, Refusal::Special { kind }));
                }
            }
            watch.between_entries();
        }
        // What follows the end marker is drained under the size limits.
        watch.streaming.set(true);
        Ok(archive.into_inner())
    }

    fn zip(&mut self) -> Result<(), ImportError> {
        let (file, _) = self.open_bundle()?;
        let mut zip =
            zip::ZipArchive::new(self.counting(file)).map_err(|e| self.corrupt(None, e))?;
        for i in 0..zip.len() {
            let (raw, is_dir, mode, encrypted) = {
                let f = zip.by_index_raw(i).map_err(|e| self.corrupt(None, e))?;
                (
                    f.name_raw().to_vec(),
                    f.is_dir(),
                    f.unix_mode(),
                    f.encrypted(),
                )
            };
            if encrypted {
                return Err(self.refuse(&raw, Refusal::Encrypted));
            }
            const S_IFMT: u32 = 0o170_000;
            match mode.map(|m| m & S_IFMT) {
                Some(0o120_000) => {
                    let mut target = Vec::new();
                    if let Ok(f) = zip.by_index(i) {
                        let _ = f.take(1024).read_to_end(&mut target);
                    }
                    return Err(self.refuse(
                        &raw,
                        Refusal::Symlink {
                            target: show_name(&target),
                        },
                    ));
                }
                Some(t @ (0o020_000 | 0o060_000 | 0o010_000 | 0o140_000)) => {
                    let kind = match t {
                        0o020_000 => "character device",
                        0o060_000 => "block device",
                        0o010_000 => "fifo",
                        _ => "socket",
                    };
                    return Err(self.refuse(&raw, Refusal::Special { kind: kind.into() }));
                }
                _ => {}
            }
            if is_dir {
                self.add_dir(&raw)?;
                continue;
            }
            let mut f = zip.by_index(i).map_err(|e| self.corrupt(Some(&raw), e))?;
            self.add_file(&raw, &mut f)?;
        }
        Ok(())
    }

    /// Where the gzip stream of a `.cop.sgn` starts: after the header whose
    /// length record (tag 2) says so, else at the first `1f 8b 08`.
    fn signed_header_end(&self, file: &mut File) -> Result<u64, ImportError> {
        let mut head = vec![0u8; 1 << 20];
        let n = read_up_to(file, &mut head).map_err(|e| self.read_error(e))?;
        head.truncate(n);
        const GZIP: [u8; 3] = [0x1f, 0x8b, 0x08];
        if let Some(len) = header_length(&head) {
            if head.get(len..len.saturating_add(3)) == Some(&GZIP[..]) {
                return Ok(u64::try_from(len).unwrap_or(u64::MAX));
            }
        }
        head.windows(3)
            .position(|w| w == GZIP)
            .map(|p| u64::try_from(p).unwrap_or(u64::MAX))
            .ok_or_else(|| {
                self.corrupt(
                    None,
                    "no gzip stream after the signed header (a .cop.sgn is a signed header, then a .tar.gz)",
                )
            })
    }

    fn folder(&mut self) -> Result<(), ImportError> {
        let root = self.archive.to_owned();
        self.walk(&root, "", 0)
    }

    fn walk(&mut self, dir: &Path, prefix: &str, depth: usize) -> Result<(), ImportError> {
        if depth > MAX_DEPTH {
            return Err(self.refuse(prefix.as_bytes(), Refusal::TooDeep));
        }
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(|e| self.read_error(e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| self.read_error(e))?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel = format!("{prefix}{}", name.to_string_lossy());
            let raw = rel.as_bytes();
            let meta = fs::symlink_metadata(&path).map_err(|e| self.read_error(e))?;
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = fs::read_link(&path)
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Err(self.refuse(raw, Refusal::Symlink { target }));
            } else if ft.is_dir() {
                self.add_dir(raw)?;
                self.walk(&path, &format!("{rel}/"), depth.saturating_add(1))?;
            } else if ft.is_file() {
                if name.to_str().is_none() {
                    return Err(self.refuse(raw, Refusal::BadName));
                }
                let file = File::open(&path).map_err(|e| self.read_error(e))?;
                self.add_file(raw, &mut BufReader::new(file))?;
            } else {
                return Err(self.refuse(
                    raw,
                    Refusal::Special {
                        kind: "device, fifo or socket".into(),
                    },
                ));
            }
        }
        Ok(())
    }
}

/// The header length from a signed header's tag-2 record: tag 1 (version)
/// comes first, then tag 2 with a 2-byte big-endian length.
pub(crate) fn header_length(head: &[u8]) -> Option<usize> {
    if *head.first()? != 1 {
        return None;
    }
    let v_len = usize::from(u16::from_be_bytes([*head.get(1)?, *head.get(2)?]));
    let at = v_len.checked_add(3)?;
    if *head.get(at)? != 2 {
        return None;
    }
    let len_len = u16::from_be_bytes([
        *head.get(at.checked_add(1)?)?,
        *head.get(at.checked_add(2)?)?,
    ]);
    if len_len != 2 {
        return None;
    }
    let value = at.checked_add(3)?;
    Some(usize::from(u16::from_be_bytes([
        *head.get(value)?,
        *head.get(value.checked_add(1)?)?,
    ])))
}

/// Check an entry name; `Ok(None)` for a name with no components (`./`).
/// Returns the normalised path and its last component.
fn check_name(raw: &[u8]) -> Result<Option<(String, String)>, Refusal> {
    let name = std::str::from_utf8(raw).map_err(|_| Refusal::BadName)?;
    if name.chars().any(char::is_control) {
        return Err(Refusal::BadName);
    }
    if name.starts_with(['/', '\\']) {
        return Err(Refusal::Absolute);
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2
        && bytes.get(1) == Some(&b':')
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
    {
        return Err(Refusal::Absolute);
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(Refusal::ParentDir),
            p if p.len() > MAX_COMPONENT => return Err(Refusal::NameTooLong { len: p.len() }),
            p => parts.push(p),
        }
    }
    if name.len() > MAX_PATH {
        return Err(Refusal::NameTooLong { len: name.len() });
    }
    let Some(base) = parts.last() else {
        return Ok(None);
    };
    Ok(Some((parts.join("/"), (*base).to_owned())))
}

/// An entry name for messages: lossy UTF-8, control characters escaped, at most 300 characters.
pub(crate) fn show_name(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut out: String = s.chars().take(300).flat_map(char::escape_debug).collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let ok = |s: &str| check_name(s.as_bytes()).unwrap().unwrap();
        assert_eq!(
            ok("a/./b//SIP41.loads"),
            ("a/b/SIP41.loads".into(), "SIP41.loads".into())
        );
        assert_eq!(ok("dir\\x.sbn"), ("dir/x.sbn".into(), "x.sbn".into()));
        assert_eq!(check_name(b"./"), Ok(None));
        assert_eq!(check_name(b"a/../b"), Err(Refusal::ParentDir));
        assert_eq!(check_name(b"..\\b"), Err(Refusal::ParentDir));
        assert_eq!(check_name(b"/etc/passwd"), Err(Refusal::Absolute));
        assert_eq!(check_name(b"\\x"), Err(Refusal::Absolute));
        assert_eq!(check_name(b"C:x"), Err(Refusal::Absolute));
        assert_eq!(check_name(b"a\nb"), Err(Refusal::BadName));
        assert_eq!(check_name(b"a\tb"), Err(Refusal::BadName));
        assert_eq!(check_name(&[0xff, 0x41]), Err(Refusal::BadName));
        let long = "x".repeat(256);
        assert_eq!(
            check_name(long.as_bytes()),
            Err(Refusal::NameTooLong { len: 256 })
        );
        let deep = "d/".repeat(600);
        assert_eq!(
            check_name(format!("{deep}f").as_bytes()),
            Err(Refusal::NameTooLong { len: 1201 })
        );
    }

    #[test]
    fn header_length_from_tag_2() {
        let h = cisco::synth::signed_header("x.cop.sgn");
        assert_eq!(header_length(&h), Some(h.len()));
        assert_eq!(header_length(&[1, 0]), None);
        assert_eq!(header_length(&[]), None);
        assert_eq!(header_length(&[1, 0, 0, 2, 0, 3, 0, 0]), None);
    }
}
