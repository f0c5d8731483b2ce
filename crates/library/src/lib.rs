//! phoneboot's firmware library: import Cisco bundles safely, know every
//! load, and never serve half of one.
//!
//! [`Library::import`] takes what operators download from Cisco (`.zip`,
//! `.tar`, `.tar.gz`/`.tgz`, `.cop`, `.cop.sgn`, an unpacked folder, or an old
//! 79x0 `.bin` that is a load by itself), finds every load inside by its
//! `.loads` file, checks that each file it lists is there and non-empty, and
//! stores the files once each by content. [`Library::lookup`] then finds a
//! file by the flat name a phone asks for, in any letter case, and only from
//! complete loads; [`Library::term_default`] picks the `termNN.default.loads`
//! of the protocol a factory-reset phone should come back in.
//!
//! What it keeps true:
//! - **All or nothing.** An import unpacks into a staging folder inside the
//!   library, moves new blobs into place and then replaces the index with one
//!   rename. Any error before that rename undoes the moves: the library is
//!   byte for byte as it was.
//! - **Hostile bundles change nothing.** `..`, absolute paths, links, devices,
//!   names over 255 bytes, case-only duplicates, size and ratio bombs are
//!   refused with the archive and entry named, before a byte reaches the
//!   library; limits apply to bytes actually read ([`Limits`]).
//! - **Idempotent.** Importing the same bundle again reports every load
//!   [`LoadStatus::Unchanged`] and writes nothing.
//!
//! It never opens a socket, never knows about the TFTP root, and never
//! modifies a firmware file (phones check Cisco's signatures).
//!
//! # On disk
//!
//! ```text
//! <data dir>/firmware/            the folder given to Library::open
//!   index                         the index (see below), replaced atomically
//!   blobs/sha256/ab/ab12…ef       each distinct file once, named by its SHA-256
//!   .staging-<pid>-<n>/           an import in progress (removed when it ends, or by
//!                                 the next import if its process was killed)
//! ```
//!
//! The index lists each load (complete or not) with its files in `.loads`
//! order (name, role, size, SHA-256) and the files it lacks, then each
//! `termNN.default.loads` per protocol. Its format is private to one module
//! so a database table can replace it.
//!
//! One process writes a library at a time (there is no lock yet); readers
//! that opened it earlier keep their snapshot until [`Library::reload`].
//! A blob that is removed while being served stays readable through the
//! open file on Unix.
//!
//! # Example
//!
//! ```
//! use library::{fixtures::Bundle, Format, ImportOptions, Library, LoadStatus};
//!
//! let dir = library::fixtures::TempDir::new("doc")?;
//! let bundle = Bundle::new("SIP41.9-4-2SR3-1S")?.write(dir.path(), Format::Zip)?;
//! assert!(bundle.ends_with("cmterm-7941_7961-sip.9-4-2SR3-1.zip"));
//!
//! let mut lib = Library::open(dir.path().join("firmware"))?;
//! let report = lib.import(&bundle, &ImportOptions::default())?;
//! assert_eq!(report.loads[0].status, LoadStatus::Added);
//!
//! // Phones ask by flat name, in whatever case.
//! let file = lib.lookup("JAR41SIP.9-4-2ES26.SBN").expect("served");
//! assert_eq!(std::fs::read(&file.path)?.len() as u64, file.size);
//!
//! // Again: nothing changes.
//! assert!(!lib.import(&bundle, &ImportOptions::default())?.changed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Archive data is hostile: no panicking shortcuts outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod error;
mod extract;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod folder;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod import;
mod index;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cisco::{Family, LoadName, Model, Protocol, TermFile, Version};
use sha2::{Digest, Sha256};

pub use error::{ImportError, LibraryError, Refusal};
pub use extract::{Format, Limits};
pub use import::{LoadOutcome, LoadStatus, TermOutcome, TermStatus};
pub use index::Role as FileRole;

use index::{Index, LoadEntry};

/// Told about each entry as an import unpacks it, so a terminal can show a
/// bar and a log can show lines.
///
/// `bytes_done` and `bytes_total` count the bundle's own bytes (compressed),
/// so they measure how far the import has read; `bytes_total` is 0 when it is
/// not known (folders). It may be called several times for one large entry.
pub trait Progress {
    /// An entry is being unpacked.
    fn on_entry(&mut self, name: &str, bytes_done: u64, bytes_total: u64);
}

impl<F: FnMut(&str, u64, u64)> Progress for F {
    fn on_entry(&mut self, name: &str, bytes_done: u64, bytes_total: u64) {
        self(name, bytes_done, bytes_total);
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn on_entry(&mut self, _: &str, _: u64, _: u64) {}
}

/// How to import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Store loads that lack files instead of refusing the bundle. They are
    /// marked incomplete and never served.
    pub allow_incomplete: bool,
    /// Size, ratio and entry limits.
    pub limits: Limits,
    /// The packaging, when the name does not tell ([`Format::detect`] otherwise).
    pub format: Option<Format>,
}

impl ImportOptions {
    /// Set [`ImportOptions::allow_incomplete`].
    #[must_use]
    pub fn allow_incomplete(mut self, yes: bool) -> Self {
        self.allow_incomplete = yes;
        self
    }
    /// Set [`ImportOptions::limits`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Set [`ImportOptions::format`].
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// The bundle.
    pub archive: PathBuf,
    /// Its packaging.
    pub format: Format,
    /// Every load found, in bundle order.
    pub loads: Vec<LoadOutcome>,
    /// Every `termNN.default.loads` found.
    pub terms: Vec<TermOutcome>,
    /// Entries that belong to no load (release notes, `OS79XX.TXT`, …).
    pub ignored: Vec<String>,
    /// Files stored that the library did not hold yet.
    pub blobs_added: usize,
    /// Their bytes.
    pub bytes_added: u64,
}

impl ImportReport {
    /// Whether the library changed (false for a bundle imported before).
    pub fn changed(&self) -> bool {
        self.loads.iter().any(|l| l.status != LoadStatus::Unchanged)
            || self
                .terms
                .iter()
                .any(|t| matches!(t.status, TermStatus::Added | TermStatus::Replaced))
    }
}

/// A load, as `phoneboot firmware list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadInfo {
    /// The load name.
    pub name: LoadName,
    /// Its hardware family.
    pub family: Family,
    /// SIP, SCCP, … (`None` for loads whose name states none).
    pub protocol: Option<Protocol>,
    /// Its version.
    pub version: Version,
    /// The models that run it.
    pub models: Vec<Model>,
    /// Files stored, the `.loads` included.
    pub files: usize,
    /// Their total size.
    pub size: u64,
    /// Whether every listed file is present; only complete loads are served.
    pub complete: bool,
    /// Files it lacks.
    pub missing: Vec<String>,
}

impl LoadInfo {
    /// Whether phones may be offered this load.
    pub fn is_servable(&self) -> bool {
        self.complete
    }
}

/// One stored file of a load.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileInfo {
    /// The flat name phones ask for.
    pub name: String,
    /// What it is to the load.
    pub role: FileRole,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of its content.
    pub sha256: [u8; 32],
    /// Where its bytes are.
    pub path: PathBuf,
}

/// A load with its files, as `phoneboot firmware show` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadDetail {
    /// The summary.
    pub info: LoadInfo,
    /// The `.loads` first, then the files it lists in order, then extras.
    pub files: Vec<FileInfo>,
}

/// A servable file, found by [`Library::lookup`] or [`Library::term_default`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileRef {
    /// Where its bytes are (read-only; never modify).
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: [u8; 32],
    /// The load it was stored with (for term files, the load it lists, if known).
    pub load: String,
}

/// A blob that [`Library::verify`] found damaged or missing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlobProblem {
    /// The blob's path.
    pub path: PathBuf,
    /// The hash it should have.
    pub sha256: [u8; 32],
    /// The files stored in it, as `LOAD/FILE`.
    pub used_by: Vec<String>,
}

/// The result of [`Library::verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Blobs re-hashed.
    pub checked: usize,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Blobs whose content no longer matches their hash or size.
    pub damaged: Vec<BlobProblem>,
    /// Blobs that are gone.
    pub missing: Vec<BlobProblem>,
    /// Files under `blobs/` that nothing refers to (left by an interrupted
    /// import; the next `remove` deletes them).
    pub unreferenced: Vec<PathBuf>,
}

impl VerifyReport {
    /// Whether every blob is intact.
    pub fn is_ok(&self) -> bool {
        self.damaged.is_empty() && self.missing.is_empty()
    }
}

/// The result of [`Library::remove`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoveReport {
    /// The load removed.
    pub load: String,
    /// Blobs deleted because nothing else used them.
    pub blobs_deleted: usize,
    /// Their bytes.
    pub bytes_freed: u64,
}

/// The firmware library in one folder. See the crate docs for the layout.
#[derive(Debug)]
pub struct Library {
    root: PathBuf,
    index: Index,
    /// Lower-case flat name → file, for complete loads only.
    serve: HashMap<String, FileRef>,
    /// (canonical term file, protocol) → file, for servable term files only.
    terms: HashMap<(String, Protocol), FileRef>,
}

impl Library {
    /// Open (creating it if needed) the library in `dir`, a folder under the
    /// data directory, never the TFTP root.
    pub fn open(dir: impl AsRef<Path>) -> Result<Library, LibraryError> {
        let root = dir.as_ref().to_owned();
        fs::create_dir_all(&root).map_err(|e| LibraryError::io("create", &root, e))?;
        let index = Index::read(&root)?;
        let index_path = root.join(index::INDEX_FILE);
        for (n, l) in index.loads.iter().enumerate() {
            LoadName::parse(&l.name).map_err(|e| LibraryError::CorruptIndex {
                path: index_path.clone(),
                line: n,
                reason: format!("load {:?}: {e}", l.name),
            })?;
        }
        let mut lib = Library {
            root,
            index,
            serve: HashMap::new(),
            terms: HashMap::new(),
        };
        lib.rebuild();
        Ok(lib)
    }

    /// The library folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, sha: &[u8; 32]) -> PathBuf {
        blob_path(&self.root, sha)
    }

    fn rebuild(&mut self) {
        let mut serve = HashMap::new();
        for l in self.index.loads.iter().filter(|l| l.complete) {
            for f in &l.files {
                serve
                    .entry(f.name.to_ascii_lowercase())
                    .or_insert_with(|| FileRef {
                        path: self.blob_path(&f.sha256),
                        size: f.size,
                        sha256: f.sha256,
                        load: l.name.clone(),
                    });
            }
        }
        let mut terms = HashMap::new();
        for t in &self.index.terms {
            if t.lists
                .iter()
                .all(|f| serve.contains_key(&f.to_ascii_lowercase()))
            {
                terms.insert(
                    (t.file.clone(), t.protocol),
                    FileRef {
                        path: self.blob_path(&t.sha256),
                        size: t.size,
                        sha256: t.sha256,
                        load: t.load.clone().unwrap_or_default(),
                    },
                );
            }
        }
        self.serve = serve;
        self.terms = terms;
    }

    /// Import a bundle. See [`Library::import_with_progress`].
    pub fn import(
        &mut self,
        path: impl AsRef<Path>,
        options: &ImportOptions,
    ) -> Result<ImportReport, ImportError> {
        self.import_with_progress(path, options, &mut NoProgress)
    }

    /// Import a bundle, telling `progress` about each entry. All or nothing:
    /// on error the library is exactly as it was.
    pub fn import_with_progress(
        &mut self,
        path: impl AsRef<Path>,
        options: &ImportOptions,
        progress: &mut dyn Progress,
    ) -> Result<ImportReport, ImportError> {
        let archive = path.as_ref();
        let format = match options.format {
            Some(f) => f,
            None => {
                if let Err(e) = fs::metadata(archive) {
                    return Err(ImportError::Read {
                        archive: archive.to_owned(),
                        source: e,
                    });
                }
                Format::detect(archive).ok_or_else(|| ImportError::UnknownFormat {
                    archive: archive.to_owned(),
                })?
            }
        };
        if format == Format::Folder {
            self.check_no_overlap(archive)?;
        }
        let stage = Stage::new(&self.root).map_err(|source| ImportError::Library {
            archive: archive.to_owned(),
            source,
        })?;
        let staged = {
            let mut x = extract::Extractor::new(archive, &stage.path, options.limits, progress);
            x.run(format)?;
            std::mem::take(&mut x.staged)
        };
        let plan = import::analyse(archive, &staged, options.allow_incomplete)?;
        let rec = import::reconcile(archive, &self.index, &plan)?;
        let mut report = ImportReport {
            archive: archive.to_owned(),
            format,
            loads: rec.loads,
            terms: rec.terms,
            ignored: plan.ignored.clone(),
            blobs_added: 0,
            bytes_added: 0,
        };
        if !report.changed() {
            return Ok(report);
        }
        let mut needed: Vec<([u8; 32], PathBuf, u64)> = Vec::new();
        let mut seen = HashSet::new();
        let files = rec
            .index
            .loads
            .iter()
            .flat_map(|l| l.files.iter().map(|f| (f.sha256, f.size)))
            .chain(rec.index.terms.iter().map(|t| (t.sha256, t.size)));
        for (sha, size) in files {
            if !seen.insert(sha) || self.blob_path(&sha).exists() {
                continue;
            }
            if let Some(staged) = plan.blobs.get(&sha) {
                needed.push((sha, staged.clone(), size));
            }
        }
        self.commit(&rec.index, &needed)
            .map_err(|source| ImportError::Library {
                archive: archive.to_owned(),
                source,
            })?;
        report.blobs_added = needed.len();
        report.bytes_added = needed.iter().map(|n| n.2).sum();
        self.index = rec.index;
        self.rebuild();
        drop(stage);
        Ok(report)
    }

    /// A folder that holds the library, or lies inside it, would import the
    /// library's own files (and the staging folder as it fills).
    fn check_no_overlap(&self, folder: &Path) -> Result<(), ImportError> {
        let (Ok(a), Ok(b)) = (fs::canonicalize(folder), fs::canonicalize(&self.root)) else {
            return Ok(());
        };
        if a.starts_with(&b) || b.starts_with(&a) {
            return Err(ImportError::Overlap {
                archive: folder.to_owned(),
                library: self.root.clone(),
            });
        }
        Ok(())
    }

    /// Read the index again, to see what another process imported or
    /// removed since this one opened the library.
    pub fn reload(&mut self) -> Result<(), LibraryError> {
        let fresh = Library::open(&self.root)?;
        *self = fresh;
        Ok(())
    }

    /// Move new blobs into place, then replace the index; undo the moves if
    /// anything fails before the index is replaced.
    fn commit(
        &self,
        index: &Index,
        needed: &[([u8; 32], PathBuf, u64)],
    ) -> Result<(), LibraryError> {
        let mut moved: Vec<PathBuf> = Vec::new();
        let mut created: Vec<PathBuf> = Vec::new();
        let result = (|| {
            let mut dirs: Vec<PathBuf> = Vec::new();
            for (sha, staged, _) in needed {
                let dest = self.blob_path(sha);
                let Some(parent) = dest.parent().map(Path::to_path_buf) else {
                    continue;
                };
                for dir in [
                    self.root.join("blobs"),
                    self.root.join("blobs/sha256"),
                    parent.clone(),
                ] {
                    match fs::create_dir(&dir) {
                        Ok(()) => created.push(dir),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(LibraryError::io("create", dir, e)),
                    }
                }
                fs::File::open(staged)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| LibraryError::io("fsync", staged, e))?;
                fs::rename(staged, &dest)
                    .map_err(|e| LibraryError::io("move into place", &dest, e))?;
                moved.push(dest);
                if !dirs.contains(&parent) {
                    dirs.push(parent);
                }
            }
            for d in dirs.iter().chain(created.iter()) {
                index::sync_dir(d)?;
            }
            index.write(&self.root)
        })();
        if result.is_err() {
            for m in &moved {
                let _ = fs::remove_file(m);
            }
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
        result
    }

    /// Every load, sorted by family, protocol and version.
    pub fn loads(&self) -> Vec<LoadInfo> {
        let mut out: Vec<LoadInfo> = self.index.loads.iter().filter_map(info).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// One load's files, in order (name any case).
    pub fn show(&self, load: &str) -> Result<LoadDetail, LibraryError> {
        let entry = self.find(load)?;
        let info = info(entry).ok_or_else(|| LibraryError::UnknownLoad {
            load: load.to_owned(),
        })?;
        let files = entry
            .files
            .iter()
            .map(|f| FileInfo {
                name: f.name.clone(),
                role: f.role,
                size: f.size,
                sha256: f.sha256,
                path: self.blob_path(&f.sha256),
            })
            .collect();
        Ok(LoadDetail { info, files })
    }

    fn find(&self, load: &str) -> Result<&LoadEntry, LibraryError> {
        self.index
            .loads
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(load))
            .ok_or_else(|| LibraryError::UnknownLoad {
                load: load.to_owned(),
            })
    }

    /// The file a phone asks for by flat name (`SIP41.9-4-2SR3-1S.loads`,
    /// `jar41sip.9-4-2ES26.sbn`, `P003-8-12-00.sbn`), any letter case, from
    /// complete loads only. `term*.default.loads` is not found here: it
    /// depends on the phone, see [`Library::term_default`].
    pub fn lookup(&self, flat_name: &str) -> Option<&FileRef> {
        if flat_name.len() > 255 {
            return None;
        }
        self.serve.get(&flat_name.to_ascii_lowercase())
    }

    /// The `termNN.default.loads` (`term_file` in any case, `.loads` optional)
    /// that lists `protocol` images, if the library holds one whose images
    /// are all servable.
    pub fn term_default(&self, term_file: &str, protocol: Protocol) -> Option<&FileRef> {
        let t = TermFile::parse(term_file)?;
        self.terms.get(&(t.file_name(), protocol))
    }

    /// [`Library::term_default`] for the file `model` asks for.
    pub fn term_default_for(&self, model: Model, protocol: Protocol) -> Option<&FileRef> {
        self.term_default(model.term_file()?, protocol)
    }

    /// The recovery files held, with the protocol each lists.
    pub fn term_files(&self) -> Vec<(String, Protocol, Option<String>)> {
        self.index
            .terms
            .iter()
            .map(|t| (t.file.clone(), t.protocol, t.load.clone()))
            .collect()
    }

    /// Re-hash every blob the index refers to.
    pub fn verify(&self) -> Result<VerifyReport, LibraryError> {
        let mut users: HashMap<[u8; 32], (u64, Vec<String>)> = HashMap::new();
        for l in &self.index.loads {
            for f in &l.files {
                users
                    .entry(f.sha256)
                    .or_insert_with(|| (f.size, Vec::new()))
                    .1
                    .push(format!("{}/{}", l.name, f.name));
            }
        }
        for t in &self.index.terms {
            users
                .entry(t.sha256)
                .or_insert_with(|| (t.size, Vec::new()))
                .1
                .push(format!("{} ({})", t.file, t.protocol));
        }
        let mut report = VerifyReport::default();
        let mut shas: Vec<_> = users.into_iter().collect();
        shas.sort_by_key(|s| s.0);
        for (sha, (size, used_by)) in shas {
            let path = self.blob_path(&sha);
            let problem = || BlobProblem {
                path: path.clone(),
                sha256: sha,
                used_by: used_by.clone(),
            };
            match hash_file(&path) {
                Ok((got, len)) => {
                    report.checked = report.checked.saturating_add(1);
                    report.bytes = report.bytes.saturating_add(len);
                    if got != sha || len != size {
                        report.damaged.push(problem());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => report.missing.push(problem()),
                Err(e) => return Err(LibraryError::io("read", path, e)),
            }
        }
        report.unreferenced = self.unreferenced_blobs()?;
        Ok(report)
    }

    fn referenced(&self) -> HashSet<PathBuf> {
        self.index
            .loads
            .iter()
            .flat_map(|l| l.files.iter().map(|f| f.sha256))
            .chain(self.index.terms.iter().map(|t| t.sha256))
            .map(|s| self.blob_path(&s))
            .collect()
    }

    fn unreferenced_blobs(&self) -> Result<Vec<PathBuf>, LibraryError> {
        let referenced = self.referenced();
        let top = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        let fans = match fs::read_dir(&top) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(LibraryError::io("read", top, e)),
        };
        for fan in fans {
            let fan = fan.map_err(|e| LibraryError::io("read", &top, e))?.path();
            let Ok(blobs) = fs::read_dir(&fan) else {
                continue;
            };
            for b in blobs.flatten() {
                let p = b.path();
                if !referenced.contains(&p) {
                    out.push(p);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove a load (name any case) and every blob nothing else uses.
    /// `still_needed` is asked first and may refuse with a reason (the
    /// desired state, once it exists); pass `|_| None` to skip the check.
    pub fn remove(
        &mut self,
        load: &str,
        still_needed: impl FnOnce(&LoadInfo) -> Option<String>,
    ) -> Result<RemoveReport, LibraryError> {
        let entry = self.find(load)?;
        let name = entry.name.clone();
        if let Some(why) = info(entry).and_then(|i| still_needed(&i)) {
            return Err(LibraryError::StillNeeded { load: name, why });
        }
        let mut index = self.index.clone();
        index.loads.retain(|l| l.name != name);
        index.terms.retain(|t| {
            !t.load
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(&name))
        });
        index.write(&self.root)?;
        self.index = index;
        self.rebuild();
        let mut report = RemoveReport {
            load: name,
            blobs_deleted: 0,
            bytes_freed: 0,
        };
        for p in self.unreferenced_blobs()? {
            let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            match fs::remove_file(&p) {
                Ok(()) => {
                    report.blobs_deleted = report.blobs_deleted.saturating_add(1);
                    report.bytes_freed = report.bytes_freed.saturating_add(len);
                    if let Some(parent) = p.parent() {
                        // Only succeeds once the fan-out folder is empty.
                        let _ = fs::remove_dir(parent);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LibraryError::io("delete", p, e)),
            }
        }
        Ok(report)
    }
}

fn info(l: &LoadEntry) -> Option<LoadInfo> {
    let name = LoadName::parse(&l.name).ok()?;
    Some(LoadInfo {
        family: name.family(),
        protocol: name.protocol(),
        version: name.version(),
        models: name.image_set().models().collect(),
        files: l.files.len(),
        size: l.files.iter().map(|f| f.size).sum(),
        complete: l.complete,
        missing: l.missing.clone(),
        name,
    })
}

fn blob_path(root: &Path, sha: &[u8; 32]) -> PathBuf {
    let hex = hex::encode(sha);
    let fan = hex.get(..2).unwrap_or("00");
    root.join("blobs").join("sha256").join(fan).join(&hex)
}

fn hash_file(path: &Path) -> io::Result<([u8; 32], u64)> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut len: u64 = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or(&[]));
        len = len.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    Ok((h.finalize().into(), len))
}

/// The staging folder of one import, removed when dropped.
struct Stage {
    path: PathBuf,
}

impl Stage {
    fn new(root: &Path) -> Result<Stage, LibraryError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        sweep_dead_stages(root);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = root.join(format!(".staging-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Stage { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(LibraryError::io("create", path, e)),
            }
        }
    }
}

/// Remove staging folders left by importers that died (killed mid-import).
/// Only where `/proc` tells which processes live, and never one of a live
/// process: another importer may be using it.
fn sweep_dead_stages(root: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".staging-")) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
