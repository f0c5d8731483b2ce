//! The TFTP root as a source, and the content cache every source shares.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::provision::served::{ResolveError, Resolved};

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
    pub(super) fn read(
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
    pub(super) cache: FileCache,
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

    /// Whether `rel` (any letter case) is a regular file in the root.
    pub(super) fn has_file(&self, rel: &str) -> bool {
        self.find(rel)
            .ok()
            .and_then(|p| fs::metadata(p).ok())
            .is_some_and(|m| m.is_file())
    }
}
