//! The firmware library as a source, and the catalog the planner gets from
//! it.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use bytes::Bytes;
use cisco::{AvailableLoad, Protocol};
use library::Library;

use super::root::FileCache;
use crate::provision::served::{ResolveError, Resolved};

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
    pub(super) protocol: Protocol,
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
            Ok(state) => catalog(&state.lib),
            Err(_) => Vec::new(),
        }
    }

    /// Reloads the library if its index was replaced; true if it was.
    pub(super) fn refresh(&self) -> bool {
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
    pub(super) fn resolve(
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
    pub fn shadowed(&self, files: &[String]) -> Vec<(String, String)> {
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

/// The catalog the fleet plans with, from the firmware library.
pub fn catalog(lib: &library::Library) -> Vec<AvailableLoad> {
    lib.loads()
        .into_iter()
        .filter_map(|info| {
            let detail = lib.show(info.name.as_str()).ok()?;
            let files: Vec<String> = detail
                .files
                .iter()
                .filter(|f| f.role != library::FileRole::Extra)
                .map(|f| f.name.clone())
                .collect();
            let bytes = detail
                .files
                .iter()
                .filter(|f| f.role != library::FileRole::Extra)
                .map(|f| f.size)
                .sum();
            Some(AvailableLoad {
                name: info.name,
                complete: info.complete,
                missing: info.missing,
                files,
                bytes,
            })
        })
        .collect()
}
