//! Turns a sanitised request path into file contents, from the sources in
//! front of the TFTP root (generated configs and the firmware library join
//! later) and then the root itself.
//!
//! What it keeps true:
//! - nothing outside the root is read: the final path is canonicalised and
//!   must stay under the canonical root, so symlinks cannot lead out;
//! - only regular files are served (no directories, devices or FIFOs);
//! - an exact name wins; otherwise a unique case-insensitive match is served
//!   (phones disagree on MAC case), and an ambiguous one is refused and logged;
//! - contents are read once and shared (`Bytes`) by every transfer of the
//!   same file; a file whose size or mtime changed is read again.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use bytes::Bytes;

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
    #[error("cannot read file: {0}")]
    Io(#[from] io::Error),
}

impl ResolveError {
    pub fn tftp_code(&self) -> tftp::ErrorCode {
        match self {
            ResolveError::NotFound | ResolveError::Ambiguous(_) => tftp::ErrorCode::FileNotFound,
            ResolveError::OutsideRoot | ResolveError::NotAFile => tftp::ErrorCode::AccessViolation,
            ResolveError::Io(_) => tftp::ErrorCode::NotDefined,
        }
    }

    /// The text the client sees: short, and never a server path.
    pub fn client_message(&self) -> &'static str {
        match self {
            ResolveError::NotFound | ResolveError::Ambiguous(_) => "file not found",
            ResolveError::OutsideRoot | ResolveError::NotAFile => "access violation",
            ResolveError::Io(_) => "read error",
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

/// The TFTP root as a source, with its shared content cache.
#[derive(Debug)]
pub struct RootSource {
    root: PathBuf,
    cache: Mutex<HashMap<PathBuf, CachedFile>>,
}

#[derive(Debug, Clone)]
struct CachedFile {
    len: u64,
    modified: Option<SystemTime>,
    content: Bytes,
}

impl RootSource {
    /// `root` must exist; it is canonicalised once here.
    pub fn new(root: &Path) -> io::Result<RootSource> {
        Ok(RootSource {
            root: root.canonicalize()?,
            cache: Mutex::new(HashMap::new()),
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
        let content = self.read_cached(&real, &meta)?;
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

    fn read_cached(&self, real: &Path, meta: &fs::Metadata) -> Result<Bytes, ResolveError> {
        let modified = meta.modified().ok();
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(real) {
                if c.len == meta.len() && c.modified == modified {
                    return Ok(c.content.clone());
                }
            }
        }
        let content = Bytes::from(fs::read(real)?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                real.to_owned(),
                CachedFile {
                    len: content.len() as u64,
                    modified,
                    content: content.clone(),
                },
            );
        }
        Ok(content)
    }
}

/// Every lookup goes through here, so later sources (generated per-phone
/// configs, the firmware library) slot in front of the root in one place.
#[derive(Debug)]
pub struct Resolver {
    root: RootSource,
}

impl Resolver {
    pub fn new(root: RootSource) -> Resolver {
        Resolver { root }
    }

    pub fn root(&self) -> &Path {
        self.root.root()
    }

    pub fn resolve(&self, rel: &str) -> Result<Resolved, ResolveError> {
        self.root.resolve(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
