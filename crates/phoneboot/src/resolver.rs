//! Turns a sanitised request path into file contents, from the sources in
//! order: the firmware library ([`LibrarySource`], flat names only), then the
//! TFTP root ([`RootSource`]). Generated per-phone configs will join in
//! front of the root here.
//!
//! What it keeps true:
//! - nothing outside the root is read: the final path is canonicalised and
//!   must stay under the canonical root, so symlinks cannot lead out;
//! - only regular files are served (no directories, devices or FIFOs);
//! - an exact name wins; otherwise a unique case-insensitive match is served
//!   (phones disagree on MAC case), and an ambiguous one is refused and logged;
//! - contents are read once and shared (`Bytes`) by every transfer of the
//!   same file; a file whose size or mtime changed is read again;
//! - only files of complete library loads are served from the library, and
//!   each library file's SHA-256 is checked when it is read into the cache,
//!   so a damaged blob is refused rather than sent to a phone;
//! - for a flat name both the library and the root hold, the library wins: a
//!   half-copied root file must not shadow a verified load. Such names are
//!   logged when the library is opened and each time it is reloaded.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use cisco::Protocol;
use library::Library;
use sha2::{Digest, Sha256};

/// Why a path could not be served. Each maps to a TFTP error for the client
/// and a log line for the operator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    #[error("file not found")]
    NotFound,
    #[error("names {0:?} differ only in case; rename one so the phone's request is unambiguous")]
    Ambiguous(Vec<String>),
    #[error("path leads outside the TFTP root (symlink?)")]
    OutsideRoot,
    #[error("not a regular file")]
    NotAFile,
    #[error("firmware library file {path:?} is damaged ({problem}); run `phoneboot firmware verify`, then remove the load and import its bundle again")]
    Damaged { path: PathBuf, problem: String },
    #[error("per-MAC config with SIP passwords asked for by an address that does not hold that MAC's lease")]
    NotLeaseHolder,
    #[error("cannot read file: {0}")]
    Io(#[from] io::Error),
}

impl ResolveError {
    pub fn tftp_code(&self) -> tftp::ErrorCode {
        match self {
            ResolveError::NotFound | ResolveError::Ambiguous(_) | ResolveError::NotLeaseHolder => {
                tftp::ErrorCode::FileNotFound
            }
            ResolveError::OutsideRoot | ResolveError::NotAFile => tftp::ErrorCode::AccessViolation,
            ResolveError::Io(_) | ResolveError::Damaged { .. } => tftp::ErrorCode::NotDefined,
        }
    }

    /// The text the client sees: short, and never a server path.
    pub fn client_message(&self) -> &'static str {
        match self {
            // Someone probing for passwords learns nothing, not even that
            // the file exists.
            ResolveError::NotFound | ResolveError::Ambiguous(_) | ResolveError::NotLeaseHolder => {
                "file not found"
            }
            ResolveError::OutsideRoot | ResolveError::NotAFile => "access violation",
            ResolveError::Io(_) | ResolveError::Damaged { .. } => "read error",
        }
    }
}

/// A resolved file.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub content: Bytes,
    /// Where it came from, for the transfer's log line.
    pub source: String,
}

/// File contents shared by every transfer, keyed by real path and
/// revalidated by size and mtime. Root files and library blobs both live
/// here (their paths never collide).
#[derive(Debug, Default)]
pub struct FileCache {
    files: Mutex<HashMap<PathBuf, CachedFile>>,
}

#[derive(Debug, Clone)]
struct CachedFile {
    len: u64,
    modified: Option<SystemTime>,
    /// The SHA-256 checked when the contents were read, if one was expected.
    sha256: Option<[u8; 32]>,
    content: Bytes,
}

impl FileCache {
    /// The contents of `real` (whose metadata is `meta`), from the cache when
    /// size and mtime still match. With `expect`, contents read from disk
    /// must hash to it (and a cached copy must have been checked against it).
    fn read(
        &self,
        real: &Path,
        meta: &fs::Metadata,
        expect: Option<[u8; 32]>,
    ) -> Result<Bytes, ResolveError> {
        let modified = meta.modified().ok();
        if let Ok(cache) = self.files.lock() {
            if let Some(c) = cache.get(real) {
                if c.len == meta.len()
                    && c.modified == modified
                    && (expect.is_none() || c.sha256 == expect)
                {
                    return Ok(c.content.clone());
                }
            }
        }
        let content = Bytes::from(fs::read(real)?);
        if let Some(want) = expect {
            let got: [u8; 32] = Sha256::digest(&content).into();
            if got != want {
                return Err(ResolveError::Damaged {
                    path: real.to_owned(),
                    problem: format!(
                        "its SHA-256 is {}, the library recorded {}",
                        hex::encode(got),
                        hex::encode(want)
                    ),
                });
            }
        }
        if let Ok(mut cache) = self.files.lock() {
            cache.insert(
                real.to_owned(),
                CachedFile {
                    len: content.len() as u64,
                    modified,
                    sha256: expect,
                    content: content.clone(),
                },
            );
        }
        Ok(content)
    }
}

/// The TFTP root as a source, with the shared content cache.
#[derive(Debug)]
pub struct RootSource {
    root: PathBuf,
    cache: FileCache,
}

impl RootSource {
    /// `root` must exist; it is canonicalised once here.
    pub fn new(root: &Path) -> io::Result<RootSource> {
        Ok(RootSource {
            root: root.canonicalize()?,
            cache: FileCache::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads `rel` (already sanitised: relative, `/`-separated, no `..`).
    pub fn resolve(&self, rel: &str) -> Result<Resolved, ResolveError> {
        let found = self.find(rel)?;
        let real = found.canonicalize()?;
        if !real.starts_with(&self.root) {
            return Err(ResolveError::OutsideRoot);
        }
        let meta = fs::metadata(&real)?;
        if !meta.is_file() {
            return Err(ResolveError::NotAFile);
        }
        let content = self.cache.read(&real, &meta, None)?;
        let source = real
            .strip_prefix(&self.root)
            .map(|p| format!("root:{}", p.display()))
            .unwrap_or_else(|_| "root".to_owned());
        Ok(Resolved { content, source })
    }

    /// Exact match first, then a unique case-insensitive match per component.
    fn find(&self, rel: &str) -> Result<PathBuf, ResolveError> {
        let exact = self.root.join(rel);
        if fs::symlink_metadata(&exact).is_ok() {
            return Ok(exact);
        }
        let mut dir = self.root.clone();
        for part in rel.split('/') {
            let candidate = dir.join(part);
            if fs::symlink_metadata(&candidate).is_ok() {
                dir = candidate;
                continue;
            }
            let wanted = part.to_lowercase();
            let mut matches = Vec::new();
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(ResolveError::NotFound)
                }
                Err(e) if e.raw_os_error() == Some(20) => return Err(ResolveError::NotFound), // ENOTDIR
                Err(e) => return Err(e.into()),
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if let Some(name) = name.to_str() {
                    if name.to_lowercase() == wanted {
                        matches.push(name.to_owned());
                    }
                }
            }
            match matches.len() {
                0 => return Err(ResolveError::NotFound),
                1 => dir = dir.join(&matches[0]),
                _ => {
                    matches.sort();
                    return Err(ResolveError::Ambiguous(matches));
                }
            }
        }
        Ok(dir)
    }

    /// Names of regular files at the top of the root (for shadow warnings).
    fn top_level_files(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        out.sort();
        out
    }
}

/// What identifies one version of the library's index file: it is replaced
/// by a rename, so a new inode (or size, or mtime) means another process
/// imported or removed something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl IndexStamp {
    /// `None` when there is no index yet (an empty library).
    fn read(dir: &Path) -> Option<IndexStamp> {
        let m = fs::metadata(dir.join(LibrarySource::INDEX_FILE)).ok()?;
        Some(IndexStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        })
    }
}

#[derive(Debug)]
struct LibState {
    lib: Library,
    stamp: Option<IndexStamp>,
}

/// The firmware library as a source: flat names of files of complete loads
/// (any letter case), and `termNN.default.loads` for the default protocol.
///
/// A `firmware import` or `remove` run while serving is seen on the next
/// request: each lookup stats the index file (one `stat`, no read) and
/// reloads the library when it was replaced. A reload that fails (damaged
/// index) keeps the previous snapshot and logs why.
#[derive(Debug)]
pub struct LibrarySource {
    dir: PathBuf,
    protocol: Protocol,
    state: RwLock<LibState>,
}

/// What [`LibrarySource::summary`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibrarySummary {
    pub complete: usize,
    pub incomplete: usize,
    /// The term files served for the default protocol.
    pub terms: Vec<String>,
}

impl LibrarySource {
    /// The index file inside the library folder (see the `library` crate's
    /// docs: replaced atomically by each import and removal).
    const INDEX_FILE: &'static str = "index";

    /// Opens the library in `dir`; `protocol` picks the term files served.
    pub fn open(dir: &Path, protocol: Protocol) -> Result<LibrarySource, library::LibraryError> {
        // Stamp first: a change between the two reloads once more, harmlessly.
        let stamp = IndexStamp::read(dir);
        let lib = Library::open(dir)?;
        Ok(LibrarySource {
            dir: dir.to_owned(),
            protocol,
            state: RwLock::new(LibState { lib, stamp }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Every load as the library holds it now (re-read if it changed).
    pub fn loads(&self) -> Vec<library::LoadInfo> {
        self.refresh();
        self.state.read().map(|s| s.lib.loads()).unwrap_or_default()
    }

    /// Loads and term files as served now.
    pub fn summary(&self) -> LibrarySummary {
        let Ok(state) = self.state.read() else {
            return LibrarySummary::default();
        };
        let loads = state.lib.loads();
        let complete = loads.iter().filter(|l| l.complete).count();
        let mut terms: Vec<String> = state
            .lib
            .term_files()
            .into_iter()
            .filter(|(file, p, _)| {
                *p == self.protocol && state.lib.term_default(file, *p).is_some()
            })
            .map(|(file, _, _)| file)
            .collect();
        terms.sort();
        terms.dedup();
        LibrarySummary {
            complete,
            incomplete: loads.len() - complete,
            terms,
        }
    }

    /// What the provisioning engine plans with.
    pub fn catalog(&self) -> Vec<cisco::AvailableLoad> {
        match self.state.read() {
            Ok(state) => crate::engine::catalog(&state.lib),
            Err(_) => Vec::new(),
        }
    }

    /// Reloads the library if its index was replaced; true if it was.
    fn refresh(&self) -> bool {
        let now = IndexStamp::read(&self.dir);
        match self.state.read() {
            Ok(s) if s.stamp == now => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
        let Ok(mut state) = self.state.write() else {
            return false;
        };
        if state.stamp == now {
            return false; // another request reloaded it first
        }
        state.stamp = now;
        match Library::open(&self.dir) {
            Ok(lib) => {
                state.lib = lib;
                let loads = state.lib.loads();
                tracing::info!(
                    "firmware library {} changed on disk: reloaded ({} complete loads, {} incomplete)",
                    self.dir.display(),
                    loads.iter().filter(|l| l.complete).count(),
                    loads.iter().filter(|l| !l.complete).count()
                );
                true
            }
            Err(e) => {
                tracing::warn!("{e}; still serving the firmware library as it was before");
                false
            }
        }
    }

    /// The library file for a flat name, `None` when the library has none
    /// (the root is asked next).
    fn resolve(
        &self,
        rel: &str,
        protocol: Protocol,
        cache: &FileCache,
    ) -> Option<Result<Resolved, ResolveError>> {
        if rel.contains('/') {
            return None;
        }
        let found = {
            let state = self.state.read().ok()?;
            if cisco::TermFile::parse(rel).is_some() {
                state.lib.term_default(rel, protocol).map(|f| {
                    let lists = if f.load.is_empty() { "?" } else { &f.load };
                    (f.clone(), format!("library:{protocol} term ({lists})"))
                })
            } else {
                state
                    .lib
                    .lookup(rel)
                    .map(|f| (f.clone(), format!("library:{}", f.load)))
            }
        };
        let (file, source) = found?;
        Some(read_blob(&file, cache).map(|content| Resolved { content, source }))
    }

    /// Flat names in `files` (the root's) that the library serves instead,
    /// with the load each comes from.
    fn shadowed(&self, files: &[String]) -> Vec<(String, String)> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        files
            .iter()
            .filter_map(|name| {
                if cisco::TermFile::parse(name).is_some() {
                    state
                        .lib
                        .term_default(name, self.protocol)
                        .map(|_| (name.clone(), format!("{} term file", self.protocol)))
                } else {
                    state
                        .lib
                        .lookup(name)
                        .map(|f| (name.clone(), f.load.clone()))
                }
            })
            .collect()
    }
}

fn read_blob(file: &library::FileRef, cache: &FileCache) -> Result<Bytes, ResolveError> {
    let meta = match fs::metadata(&file.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ResolveError::Damaged {
                path: file.path.clone(),
                problem: "it is missing".into(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    if !meta.is_file() || meta.len() != file.size {
        return Err(ResolveError::Damaged {
            path: file.path.clone(),
            problem: format!("{} bytes, the library recorded {}", meta.len(), file.size),
        });
    }
    cache.read(&file.path, &meta, Some(file.sha256))
}

/// Every lookup goes through here: the firmware library (if any) first for
/// flat names, then the root. Generated per-phone configs slot in here too.
#[derive(Debug)]
pub struct Resolver {
    root: RootSource,
    library: Option<LibrarySource>,
    engine: Option<std::sync::Arc<crate::engine::Engine>>,
}

impl Resolver {
    pub fn new(root: RootSource) -> Resolver {
        Resolver {
            root,
            library: None,
            engine: None,
        }
    }

    /// Serve the firmware library in front of the root. Logs root files it
    /// shadows.
    pub fn with_library(mut self, library: LibrarySource) -> Resolver {
        self.library = Some(library);
        self.warn_shadowed();
        self
    }

    /// Generated configs in front of everything, and per-phone term files.
    pub fn with_engine(mut self, engine: std::sync::Arc<crate::engine::Engine>) -> Resolver {
        if let Some(lib) = &self.library {
            engine.set_catalog(lib.catalog());
        }
        for name in self.root.top_level_files() {
            if cisco::GeneratedFile::parse(&name).is_some() {
                tracing::warn!(
                    "{name} in the TFTP root {} is not served: phoneboot generates it from the desired state \
                     (remove the root copy to silence this)",
                    self.root.root().display()
                );
            }
        }
        self.engine = Some(engine);
        self
    }

    pub fn engine(&self) -> Option<&std::sync::Arc<crate::engine::Engine>> {
        self.engine.as_ref()
    }

    pub fn root(&self) -> &Path {
        self.root.root()
    }

    pub fn library(&self) -> Option<&LibrarySource> {
        self.library.as_ref()
    }

    /// What `client` gets for `rel`: a generated config, a library file (term
    /// files for the protocol this client should recover into), or a root
    /// file. The engine hears of every request first.
    pub fn resolve(&self, client: IpAddr, rel: &str) -> Result<Resolved, ResolveError> {
        if let Some(lib) = &self.library {
            if lib.refresh() {
                self.warn_shadowed();
                if let Some(engine) = &self.engine {
                    engine.set_catalog(lib.catalog());
                }
            }
        }
        if let Some(engine) = &self.engine {
            engine.observe_request(client, rel);
            if let Some(generated) = engine.render(client, rel) {
                return generated;
            }
        }
        if let Some(lib) = &self.library {
            let protocol = match &self.engine {
                Some(e) if cisco::TermFile::parse(rel).is_some() => e.protocol_for(client),
                _ => lib.protocol,
            };
            if let Some(found) = lib.resolve(rel, protocol, &self.root.cache) {
                return found;
            }
        }
        self.root.resolve(rel)
    }

    fn warn_shadowed(&self) {
        let Some(lib) = &self.library else { return };
        for (name, load) in lib.shadowed(&self.root.top_level_files()) {
            tracing::warn!(
                "{name} in the TFTP root {} is not served: the firmware library serves {name} of {load} instead \
                 (remove the root copy to silence this)",
                self.root.root().display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("phoneboot-resolver-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("root/Desktops/320x212x16")).unwrap();
        d
    }

    #[test]
    fn exact_then_case_insensitive_then_ambiguous() {
        let d = scratch("case");
        let root = d.join("root");
        fs::write(root.join("SEP001122334455.cnf.xml"), b"upper").unwrap();
        fs::write(root.join("Desktops/320x212x16/List.xml"), b"list").unwrap();
        fs::write(root.join("ring.raw"), b"a").unwrap();
        fs::write(root.join("RING.RAW"), b"b").unwrap();
        let r = RootSource::new(&root).unwrap();
        assert_eq!(
            &r.resolve("SEP001122334455.cnf.xml").unwrap().content[..],
            b"upper"
        );
        assert_eq!(
            &r.resolve("sep001122334455.CNF.xml").unwrap().content[..],
            b"upper"
        );
        assert_eq!(
            &r.resolve("desktops/320X212X16/list.XML").unwrap().content[..],
            b"list"
        );
        assert_eq!(
            &r.resolve("ring.raw").unwrap().content[..],
            b"a",
            "exact match wins"
        );
        assert!(matches!(r.resolve("Ring.Raw"), Err(ResolveError::Ambiguous(v)) if v.len() == 2));
        assert!(matches!(r.resolve("missing"), Err(ResolveError::NotFound)));
        assert!(matches!(
            r.resolve("ring.raw/x"),
            Err(ResolveError::NotFound | ResolveError::Io(_))
        ));
        assert!(matches!(r.resolve("Desktops"), Err(ResolveError::NotAFile)));
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let d = scratch("symlink");
        let root = d.join("root");
        fs::write(d.join("secret"), b"secret").unwrap();
        fs::write(root.join("inside"), b"ok").unwrap();
        std::os::unix::fs::symlink(d.join("secret"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink("inside", root.join("alias")).unwrap();
        std::os::unix::fs::symlink(&d, root.join("up")).unwrap();
        let r = RootSource::new(&root).unwrap();
        assert!(matches!(
            r.resolve("escape"),
            Err(ResolveError::OutsideRoot)
        ));
        assert!(matches!(
            r.resolve("ESCAPE"),
            Err(ResolveError::OutsideRoot)
        ));
        assert!(matches!(
            r.resolve("up/secret"),
            Err(ResolveError::OutsideRoot)
        ));
        assert_eq!(&r.resolve("alias").unwrap().content[..], b"ok");
        fs::remove_dir_all(d).unwrap();
    }

    /// A library with the complete SIP41 load and an incomplete SIP42 one.
    fn library(d: &Path) -> (PathBuf, library::fixtures::Bundle) {
        use library::{fixtures::Bundle, Format, ImportOptions};
        let dir = d.join("firmware");
        let mut lib = Library::open(&dir).unwrap();
        let sip41 = Bundle::new("SIP41.9-4-2SR3-1S").unwrap();
        let zip = sip41.write(d, Format::Zip).unwrap();
        lib.import(&zip, &ImportOptions::default()).unwrap();
        let sip42 = Bundle::new("SIP42.9-4-2SR3-1S").unwrap();
        let gone = sip42.listed_files()[0].clone();
        let zip = sip42.without(&gone).write(d, Format::Zip).unwrap();
        lib.import(&zip, &ImportOptions::default().allow_incomplete(true))
            .unwrap();
        (dir, sip41)
    }

    fn bytes(b: &library::fixtures::Bundle, name: &str) -> Vec<u8> {
        b.files().into_iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn library_first_for_flat_names_then_the_root() {
        let d = scratch("library");
        let root = d.join("root");
        let (dir, sip41) = library(&d);
        fs::write(root.join("SIP41.9-4-2SR3-1S.loads"), b"half-copied").unwrap();
        fs::write(root.join("XMLDefault.cnf.xml"), b"cfg").unwrap();
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/jar41sip.9-4-2ES26.sbn"), b"root copy").unwrap();
        let r = Resolver::new(RootSource::new(&root).unwrap())
            .with_library(LibrarySource::open(&dir, Protocol::Sip).unwrap());

        let loads = bytes(&sip41, "SIP41.9-4-2SR3-1S.loads");
        for name in ["SIP41.9-4-2SR3-1S.loads", "sip41.9-4-2sr3-1s.LOADS"] {
            let got = r.resolve(LOCAL, name).unwrap();
            assert_eq!(&got.content[..], &loads[..], "{name}: the library wins");
            assert_eq!(got.source, "library:SIP41.9-4-2SR3-1S");
        }
        let a = r.resolve(LOCAL, "JAR41SIP.9-4-2ES26.SBN").unwrap().content;
        let b = r.resolve(LOCAL, "jar41sip.9-4-2ES26.sbn").unwrap().content;
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "library blobs are cached and shared"
        );
        // Sub-paths are the root's; so is whatever the library lacks.
        assert_eq!(
            &r.resolve(LOCAL, "sub/jar41sip.9-4-2ES26.sbn")
                .unwrap()
                .content[..],
            b"root copy"
        );
        assert_eq!(
            &r.resolve(LOCAL, "xmldefault.cnf.xml").unwrap().content[..],
            b"cfg"
        );
        // The incomplete load is never served; nor is its term file.
        assert!(matches!(
            r.resolve(LOCAL, "SIP42.9-4-2SR3-1S.loads"),
            Err(ResolveError::NotFound)
        ));
        assert!(matches!(
            r.resolve(LOCAL, "term42.default.loads"),
            Err(ResolveError::NotFound)
        ));
        // Term files for the configured protocol only.
        let term = r.resolve(LOCAL, "Term41.Default.Loads").unwrap();
        assert_eq!(
            &term.content[..],
            &bytes(&sip41, "term41.default.loads")[..]
        );
        let sccp = Resolver::new(RootSource::new(&root).unwrap())
            .with_library(LibrarySource::open(&dir, Protocol::Sccp).unwrap());
        assert!(matches!(
            sccp.resolve(LOCAL, "term41.default.loads"),
            Err(ResolveError::NotFound)
        ));
        assert_eq!(
            r.library().unwrap().summary(),
            LibrarySummary {
                complete: 1,
                incomplete: 1,
                terms: vec!["term41.default.loads".into(), "term61.default.loads".into()],
            }
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn library_changes_on_disk_are_seen_and_damage_is_refused() {
        use library::{fixtures::Bundle, Format, ImportOptions};
        let d = scratch("libreload");
        let root = d.join("root");
        let (dir, sip41) = library(&d);
        let r = Resolver::new(RootSource::new(&root).unwrap())
            .with_library(LibrarySource::open(&dir, Protocol::Sip).unwrap());
        assert!(matches!(
            r.resolve(LOCAL, "P0S3-8-12-00.sb2"),
            Err(ResolveError::NotFound)
        ));
        // Another process (here, another handle) imports.
        let mut other = Library::open(&dir).unwrap();
        let p0s3 = Bundle::new("P0S3-8-12-00").unwrap();
        other
            .import(
                p0s3.write(&d, Format::Tar).unwrap(),
                &ImportOptions::default(),
            )
            .unwrap();
        assert_eq!(
            &r.resolve(LOCAL, "P0S3-8-12-00.sb2").unwrap().content[..],
            &bytes(&p0s3, "P0S3-8-12-00.sb2")[..]
        );
        other.remove("P0S3-8-12-00", |_| None).unwrap();
        assert!(matches!(
            r.resolve(LOCAL, "P0S3-8-12-00.sb2"),
            Err(ResolveError::NotFound)
        ));

        // A flipped byte (same size) in a blob: refused, never sent.
        let name = "cnu41.9-4-2ES26.sbn";
        let blob = other.lookup(name).unwrap().path.clone();
        let mut data = bytes(&sip41, name);
        data[7] ^= 1;
        fs::write(&blob, &data).unwrap();
        assert!(matches!(
            r.resolve(LOCAL, name),
            Err(ResolveError::Damaged { .. })
        ));
        fs::write(&blob, b"short").unwrap();
        assert!(matches!(
            r.resolve(LOCAL, name),
            Err(ResolveError::Damaged { .. })
        ));
        fs::remove_file(&blob).unwrap();
        let err = r.resolve(LOCAL, name).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert_eq!(err.tftp_code(), tftp::ErrorCode::NotDefined);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn contents_are_shared_and_changes_are_seen() {
        let d = scratch("cache");
        let root = d.join("root");
        fs::write(root.join("f"), b"one").unwrap();
        let r = RootSource::new(&root).unwrap();
        let a = r.resolve("f").unwrap().content;
        let b = r.resolve("f").unwrap().content;
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "second lookup shares the first read"
        );
        fs::write(root.join("f"), b"second").unwrap();
        assert_eq!(&r.resolve("f").unwrap().content[..], b"second");
        fs::remove_dir_all(d).unwrap();
    }
}
