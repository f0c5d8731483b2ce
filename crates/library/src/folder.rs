/*!
Firmware lying in a plain folder (the TFTP root people unzip bundles into),
found without importing it: which loads are complete there, which lack
files, and a cheap stamp to tell when the folder changed.

Only the top level counts, because phones ask for flat names. Nothing is
hashed or copied: a `.loads` file is read (at most 1 MiB) and every other
file is only `stat`ed. A load is complete when its `.loads` and every file
it lists are present and non-empty; a pre-5.x single image (`P00303010102.bin`)
is a load of its own.
*/

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Read};
use std::path::Path;
use std::time::UNIX_EPOCH;

use cisco::{classify, AvailableLoad, FirmwareFile, LoadKind, LoadsFile};

/// The largest `.loads` file read (real ones are under 1 KiB).
const MAX_LOADS_BYTES: u64 = 1 << 20;

/// One load found in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderLoad {
    /// What the planner sees: name, files in the order phones fetch them,
    /// completeness, missing files, bytes present.
    pub load: AvailableLoad,
    /// Why the `.loads` file could not be read, if it could not.
    pub problem: Option<String>,
}

impl FolderLoad {
    /// The same summary the library gives of its own loads.
    pub fn info(&self) -> crate::LoadInfo {
        let name = self.load.name.clone();
        crate::LoadInfo {
            family: name.family(),
            protocol: name.protocol(),
            version: name.version(),
            models: name.image_set().models().collect(),
            files: self
                .load
                .files
                .len()
                .saturating_sub(self.load.missing.len()),
            size: self.load.bytes,
            complete: self.load.complete,
            missing: self.load.missing.clone(),
            name,
        }
    }
}

struct Entry {
    name: String,
    size: u64,
}

/// Top-level regular files of `dir`, by lower-case name.
fn entries(dir: &Path) -> io::Result<HashMap<String, Entry>> {
    let mut out = HashMap::new();
    for e in fs::read_dir(dir)?.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        // Follows symlinks, as the server does when it serves them.
        let Ok(meta) = fs::metadata(e.path()) else {
            continue;
        };
        if meta.is_file() {
            let size = meta.len();
            out.insert(name.to_ascii_lowercase(), Entry { name, size });
        }
    }
    Ok(out)
}

/// Every load whose `.loads` (or single image) lies at the top of `dir`,
/// sorted by name.
pub fn scan(dir: &Path) -> io::Result<Vec<FolderLoad>> {
    let files = entries(dir)?;
    let mut loads: Vec<FolderLoad> = Vec::new();
    let mut names: Vec<&Entry> = files.values().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    for f in names {
        let found = match classify(&f.name) {
            Some(FirmwareFile::Loads(load)) => {
                let mut entry = AvailableLoad {
                    name: load,
                    complete: true,
                    missing: Vec::new(),
                    files: vec![f.name.clone()],
                    bytes: f.size,
                };
                let problem = match read_loads(&dir.join(&f.name), f.size) {
                    Ok(parsed) => {
                        for listed in parsed.files() {
                            match files.get(&listed.to_ascii_lowercase()) {
                                Some(e) if e.size > 0 => {
                                    entry.files.push(listed.clone());
                                    entry.bytes = entry.bytes.saturating_add(e.size);
                                }
                                _ => {
                                    entry.files.push(listed.clone());
                                    entry.missing.push(listed.clone());
                                }
                            }
                        }
                        None
                    }
                    Err(why) => {
                        entry.missing.push(f.name.clone());
                        Some(why)
                    }
                };
                entry.complete = entry.missing.is_empty();
                FolderLoad {
                    load: entry,
                    problem,
                }
            }
            Some(FirmwareFile::Image { load, .. })
                if load.kind() == LoadKind::Application
                    && !load.has_loads_file()
                    && f.name.eq_ignore_ascii_case(&load.requested_file()) =>
            {
                let complete = f.size > 0;
                FolderLoad {
                    load: AvailableLoad {
                        name: load,
                        complete,
                        missing: if complete {
                            Vec::new()
                        } else {
                            vec![f.name.clone()]
                        },
                        files: vec![f.name.clone()],
                        bytes: f.size,
                    },
                    problem: None,
                }
            }
            _ => continue,
        };
        if !loads.iter().any(|l| l.load.name == found.load.name) {
            loads.push(found);
        }
    }
    loads.sort_by(|a, b| a.load.name.as_str().cmp(b.load.name.as_str()));
    Ok(loads)
}

fn read_loads(path: &Path, size: u64) -> Result<LoadsFile, String> {
    if size > MAX_LOADS_BYTES {
        return Err(format!("{size} bytes is far too large for a .loads file"));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_LOADS_BYTES).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read it: {e}"))?;
    LoadsFile::parse(&bytes).map_err(|e| format!("not a .loads file: {e}"))
}

/// A value that changes when a top-level file of `dir` is added, removed,
/// renamed, resized or rewritten (name, size and mtime of each), so a
/// caller can poll it cheaply and rescan only on change.
pub fn stamp(dir: &Path) -> io::Result<u64> {
    let mut items: Vec<(String, u64, u128)> = Vec::new();
    for e in fs::read_dir(dir)?.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(meta) = fs::metadata(e.path()) else {
            continue;
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        items.push((name, meta.len(), mtime));
    }
    items.sort();
    let mut h = DefaultHasher::new();
    items.hash(&mut h);
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Bundle;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("library-folder-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn unzip(dir: &Path, bundle: &Bundle) {
        for (name, bytes) in bundle.files() {
            fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn complete_incomplete_and_single_images_are_told_apart() {
        let d = scratch("scan");
        let sip41 = Bundle::new("SIP41.9-4-2SR3-1S").unwrap();
        unzip(&d, &sip41);
        let p0s3 = Bundle::new("P0S3-8-12-00").unwrap();
        unzip(&d, &p0s3);
        let gone = p0s3.listed_files()[1].clone();
        fs::remove_file(d.join(&gone)).unwrap();
        let old = Bundle::new("P00303010102").unwrap();
        unzip(&d, &old);
        fs::write(d.join("XMLDefault.cnf.xml"), b"<Default/>").unwrap();
        fs::write(d.join("P00305000500.loads"), b"garbage").unwrap();
        fs::write(d.join("P00306000200.loads"), vec![0xffu8; 2 << 20]).unwrap();

        let found = scan(&d).unwrap();
        let by = |n: &str| {
            found
                .iter()
                .find(|l| l.load.name.as_str() == n)
                .unwrap_or_else(|| panic!("{n} in {found:?}"))
        };
        let a = by("SIP41.9-4-2SR3-1S");
        assert!(a.load.complete, "{a:?}");
        assert_eq!(a.load.files.len(), 1 + sip41.listed_files().len());
        let total: u64 = sip41
            .files()
            .iter()
            .filter(|(n, _)| a.load.files.contains(n))
            .map(|(_, b)| b.len() as u64)
            .sum();
        assert_eq!(a.load.bytes, total);
        let b = by("P0S3-8-12-00");
        assert!(!b.load.complete);
        assert_eq!(b.load.missing, [gone]);
        let c = by("P00303010102");
        assert!(c.load.complete);
        assert_eq!(c.load.files, ["P00303010102.bin"]);
        let bad = by("P00305000500");
        assert!(!bad.load.complete);
        assert!(!bad.load.missing.is_empty(), "{bad:?}");
        let huge = by("P00306000200");
        assert!(
            huge.problem.as_ref().unwrap().contains("too large"),
            "{huge:?}"
        );
        assert_eq!(found.len(), 5, "configs are not loads: {found:?}");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn the_stamp_moves_with_the_folder() {
        let d = scratch("stamp");
        let s0 = stamp(&d).unwrap();
        assert_eq!(stamp(&d).unwrap(), s0, "stable while nothing changes");
        fs::write(d.join("a.sbn"), b"x").unwrap();
        let s1 = stamp(&d).unwrap();
        assert_ne!(s1, s0);
        fs::write(d.join("a.sbn"), b"xy").unwrap();
        let s2 = stamp(&d).unwrap();
        assert_ne!(s2, s1, "a resized file");
        fs::remove_file(d.join("a.sbn")).unwrap();
        assert_ne!(stamp(&d).unwrap(), s2);
        fs::remove_dir_all(d).unwrap();
    }
}
