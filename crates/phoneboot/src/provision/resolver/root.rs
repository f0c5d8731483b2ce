//! The TFTP root as a source, and the content cache every source shares.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::provision::served::{ResolveError, Resolved};

/// File contents shared by every transfer, keyed by real path and
/// revalidated by size and mtime. Root files and library blobs both live
/// here (their paths never collide).
///
/// The cache keeps at most its capacity in bytes for later requests, least
/// recently used out first ([tftp] cache_bytes). Besides that, a file that
/// any transfer still holds is shared through a weak reference however large
/// it is: 200 phones fetching one load hold one copy, even of a file larger
/// than the cache.
#[derive(Debug)]
pub struct FileCache {
    capacity: u64,
    state: Mutex<CacheState>,
}

impl Default for FileCache {
    fn default() -> Self {
        FileCache::new(FileCache::DEFAULT_BYTES)
    }
}

#[derive(Debug, Default)]
struct CacheState {
    files: HashMap<PathBuf, CachedFile>,
    /// Bytes held by `CachedFile::kept`; never above the capacity.
    kept_bytes: u64,
    /// Ticks once per lookup, for least-recently-used order.
    tick: u64,
}

#[derive(Debug)]
struct CachedFile {
    len: u64,
    modified: Option<SystemTime>,
    /// The SHA-256 checked when the contents were read, if one was expected.
    sha256: Option<[u8; 32]>,
    /// The contents while anyone holds them.
    shared: Weak<Contents>,
    /// The reference that keeps the contents for later requests, when they
    /// fit in the capacity.
    kept: Option<Bytes>,
    last_used: u64,
}

/// One file's bytes; `Bytes` handed out point into it.
#[derive(Debug)]
struct Contents(Box<[u8]>);

/// The owner behind a handed-out `Bytes`.
struct Owner(Arc<Contents>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.0 .0
    }
}

impl FileCache {
    /// Room for a few firmware loads (a 79xx load is 5–15 MB of files).
    pub const DEFAULT_BYTES: u64 = 64 * 1024 * 1024;

    /// A cache that keeps at most `capacity` bytes of contents between
    /// requests (0: share files only while they are being served).
    pub fn new(capacity: u64) -> FileCache {
        FileCache {
            capacity,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// Bytes of contents kept for later requests now.
    pub fn kept_bytes(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.kept_bytes)
    }

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
        if let Ok(mut state) = self.state.lock() {
            state.tick += 1;
            let tick = state.tick;
            if let Some(c) = state.files.get_mut(real) {
                if c.len == meta.len()
                    && c.modified == modified
                    && (expect.is_none() || c.sha256 == expect)
                {
                    c.last_used = tick;
                    if let Some(kept) = &c.kept {
                        return Ok(kept.clone());
                    }
                    if let Some(contents) = c.shared.upgrade() {
                        let content = Bytes::from_owner(Owner(contents));
                        let len = c.len;
                        state.keep(real, &content, len, self.capacity);
                        return Ok(content);
                    }
                }
            }
        }
        let contents = Arc::new(Contents(fs::read(real)?.into_boxed_slice()));
        if let Some(want) = expect {
            let got: [u8; 32] = Sha256::digest(&contents.0).into();
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
        let shared = Arc::downgrade(&contents);
        let content = Bytes::from_owner(Owner(contents));
        if let Ok(mut state) = self.state.lock() {
            state.tick += 1;
            let tick = state.tick;
            if let Some(old) = state.files.remove(real) {
                state.kept_bytes -= old.kept.map_or(0, |k| k.len() as u64);
            }
            // Entries nobody holds any more are only bookkeeping.
            state
                .files
                .retain(|_, c| c.kept.is_some() || c.shared.strong_count() > 0);
            state.files.insert(
                real.to_owned(),
                CachedFile {
                    len: content.len() as u64,
                    modified,
                    sha256: expect,
                    shared,
                    kept: None,
                    last_used: tick,
                },
            );
            state.keep(real, &content, content.len() as u64, self.capacity);
        }
        Ok(content)
    }
}

impl CacheState {
    /// Keeps `content` (the entry of `real`) for later requests when it fits,
    /// dropping the least recently used kept files to make room.
    fn keep(&mut self, real: &Path, content: &Bytes, len: u64, capacity: u64) {
        if len > capacity {
            return;
        }
        while self.kept_bytes + len > capacity {
            let oldest = self
                .files
                .iter()
                .filter(|(_, c)| c.kept.is_some())
                .min_by_key(|(_, c)| c.last_used)
                .map(|(p, _)| p.clone());
            let Some(victim) = oldest.and_then(|p| self.files.get_mut(&p)) else {
                return;
            };
            self.kept_bytes -= victim.kept.take().map_or(0, |k| k.len() as u64);
        }
        if let Some(c) = self.files.get_mut(real) {
            if c.kept.is_none() {
                c.kept = Some(content.clone());
                self.kept_bytes += len;
            }
        }
    }
}

/// The TFTP root as a source, with the shared content cache.
#[derive(Debug)]
pub struct RootSource {
    root: PathBuf,
    pub(super) cache: FileCache,
}

impl RootSource {
    /// `root` must exist; it is canonicalised once here. The cache keeps
    /// [`FileCache::DEFAULT_BYTES`].
    pub fn new(root: &Path) -> io::Result<RootSource> {
        RootSource::with_cache(root, FileCache::default())
    }

    /// As [`RootSource::new`], with a cache of the configured size.
    pub fn with_cache(root: &Path, cache: FileCache) -> io::Result<RootSource> {
        Ok(RootSource {
            root: root.canonicalize()?,
            cache,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pb-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn read(cache: &FileCache, path: &Path) -> Bytes {
        cache
            .read(path, &fs::metadata(path).unwrap(), None)
            .unwrap()
    }

    #[test]
    fn keeps_at_most_its_capacity_least_recently_used_out_first() {
        let d = scratch("lru");
        let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
        for p in [&a, &b, &c] {
            fs::write(p, vec![7u8; 400]).unwrap();
        }
        let cache = FileCache::new(1000);
        drop(read(&cache, &a));
        drop(read(&cache, &b));
        assert_eq!(cache.kept_bytes(), 800);
        drop(read(&cache, &a)); // a is now the most recently used
        drop(read(&cache, &c)); // b goes
        assert_eq!(cache.kept_bytes(), 800);
        let state = cache.state.lock().unwrap();
        assert!(state.files[&a].kept.is_some());
        assert!(!state.files.contains_key(&b) || state.files[&b].kept.is_none());
        assert!(state.files[&c].kept.is_some());
        drop(state);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_in_use_is_shared_even_when_nothing_is_kept() {
        let d = scratch("weak");
        let a = d.join("a");
        fs::write(&a, vec![1u8; 5000]).unwrap();
        let cache = FileCache::new(0);
        let first = read(&cache, &a);
        let second = read(&cache, &a);
        assert_eq!(first.as_ptr(), second.as_ptr(), "one copy for both");
        assert_eq!(cache.kept_bytes(), 0);
        drop((first, second));
        // Nobody holds it: the next request reads it again, and the dead
        // entry is gone once something new is cached.
        let third = read(&cache, &a);
        assert_eq!(third.len(), 5000);
        assert_eq!(cache.state.lock().unwrap().files.len(), 1);
        fs::remove_dir_all(&d).unwrap();
    }
}
