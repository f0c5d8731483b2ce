/*!
From unpacked entries to index entries: find the loads, check them, and
reconcile them with what the library already holds.

Nothing here writes: [`analyse`] reads the staged files, [`reconcile`] works
on a copy of the index. The caller commits the result, or drops it.
*/

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use cisco::{classify, FirmwareFile, LoadName, LoadsFile, Protocol};

use crate::error::{ImportError, Refusal};
use crate::extract::Staged;
use crate::index::{FileEntry, Index, LoadEntry, Role, TermEntry};

/// The largest `.loads` file read (real ones are under 1 KiB).
const MAX_LOADS_BYTES: u64 = 1 << 20;

/// What one load in the bundle did to the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadStatus {
    /// New in the library.
    Added,
    /// Already there with the same files: nothing changed.
    Unchanged,
    /// Replaced an incomplete copy of the same load.
    Completed,
}

/// One load found in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOutcome {
    /// The load name (`SIP41.9-4-2SR3-1S`).
    pub load: String,
    /// What happened to it.
    pub status: LoadStatus,
    /// Whether every file it lists is present and non-empty.
    pub complete: bool,
    /// The files it lacks (empty when complete).
    pub missing: Vec<String>,
}

/// What one `termNN.default.loads` in the bundle did to the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TermStatus {
    /// The first for its name and protocol.
    Added,
    /// The same file was already there.
    Unchanged,
    /// Replaced one that lists an older (or unknown) load.
    Replaced,
    /// The library keeps the one it had, which lists a newer load.
    KeptNewer,
}

/// One recovery file found in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermOutcome {
    /// `term61.default.loads`.
    pub file: String,
    /// The protocol of the images it lists.
    pub protocol: Protocol,
    /// What happened to it.
    pub status: TermStatus,
}

/// The result of [`analyse`]: what the bundle offers.
#[derive(Debug)]
pub(crate) struct Plan {
    pub loads: Vec<LoadEntry>,
    pub terms: Vec<TermEntry>,
    pub ignored: Vec<String>,
    /// Where the bytes of each hash are staged.
    pub blobs: HashMap<[u8; 32], PathBuf>,
}

pub(crate) fn analyse(
    archive: &Path,
    staged: &[Staged],
    allow_incomplete: bool,
) -> Result<Plan, ImportError> {
    // Phones ask by flat name, so two different files with one name
    // (letter case aside) in different folders make the bundle ambiguous.
    let mut by_base: HashMap<String, &Staged> = HashMap::new();
    for s in staged {
        let key = s.base.to_ascii_lowercase();
        match by_base.get(&key) {
            Some(first) if first.sha256 != s.sha256 => {
                return Err(ImportError::Refused {
                    archive: archive.to_owned(),
                    entry: s.entry.clone(),
                    reason: Refusal::Duplicate {
                        first: first.entry.clone(),
                    },
                })
            }
            Some(_) => {}
            None => {
                by_base.insert(key, s);
            }
        }
    }
    let mut used: Vec<&str> = Vec::new();
    let mut blobs = HashMap::new();
    let mut loads: Vec<LoadEntry> = Vec::new();
    let mut terms_raw: Vec<(&Staged, cisco::TermFile, LoadsFile)> = Vec::new();
    let mut ignored = Vec::new();
    let file_entry = |name: &str, role: Role, s: &Staged| FileEntry {
        name: name.to_owned(),
        role,
        sha256: s.sha256,
        size: s.size,
    };

    for s in staged {
        match classify(&s.base) {
            Some(FirmwareFile::Loads(name)) => {
                if loads
                    .iter()
                    .any(|l| l.name.eq_ignore_ascii_case(name.as_str()))
                {
                    continue;
                }
                let parsed = read_loads(archive, s)?;
                let mut entry = LoadEntry {
                    name: name.as_str().to_owned(),
                    complete: true,
                    files: vec![file_entry(&s.base, Role::Loads, s)],
                    missing: Vec::new(),
                };
                used.push(&s.entry);
                blobs.insert(s.sha256, s.path.clone());
                for listed in parsed.files() {
                    match by_base.get(&listed.to_ascii_lowercase()) {
                        Some(f) if f.size > 0 => {
                            entry.files.push(file_entry(listed, Role::Listed, f));
                            used.push(&f.entry);
                            blobs.insert(f.sha256, f.path.clone());
                        }
                        _ => entry.missing.push(listed.clone()),
                    }
                }
                // The unsigned `.bin` twin of a 79x0 `.sbn`, for phones below 5.0.
                for listed in parsed.files() {
                    let lower = listed.to_ascii_lowercase();
                    let Some(stem) = lower.strip_suffix(".sbn") else {
                        continue;
                    };
                    let twin = format!("{stem}.bin");
                    if parsed.files().iter().any(|f| f.eq_ignore_ascii_case(&twin)) {
                        continue;
                    }
                    if let Some(f) = by_base.get(&twin).filter(|f| f.size > 0) {
                        entry.files.push(file_entry(&f.base, Role::Extra, f));
                        used.push(&f.entry);
                        blobs.insert(f.sha256, f.path.clone());
                    }
                }
                entry.complete = entry.missing.is_empty();
                loads.push(entry);
            }
            Some(FirmwareFile::Image { load, .. })
                if is_single_image(&load)
                    && s.base.eq_ignore_ascii_case(&load.requested_file()) =>
            {
                if loads
                    .iter()
                    .any(|l| l.name.eq_ignore_ascii_case(load.as_str()))
                {
                    continue;
                }
                let mut entry = LoadEntry {
                    name: load.as_str().to_owned(),
                    complete: s.size > 0,
                    files: Vec::new(),
                    missing: Vec::new(),
                };
                if s.size > 0 {
                    entry.files.push(file_entry(&s.base, Role::Listed, s));
                    blobs.insert(s.sha256, s.path.clone());
                } else {
                    entry.missing.push(s.base.clone());
                }
                used.push(&s.entry);
                loads.push(entry);
            }
            Some(FirmwareFile::TermDefault(t)) => {
                let parsed = read_loads(archive, s)?;
                terms_raw.push((s, t, parsed));
            }
            _ => {}
        }
    }

    let mut terms = Vec::new();
    for (s, t, parsed) in terms_raw {
        let protocol = parsed.files().iter().find_map(|f| match classify(f)? {
            FirmwareFile::Component(c) => c.protocol(),
            FirmwareFile::Image { load, .. } => load.protocol(),
            _ => None,
        });
        let Some(protocol) = protocol else {
            ignored.push(format!("{} (lists no SIP or SCCP image)", s.entry));
            continue;
        };
        let listed: Vec<String> = parsed.files().to_vec();
        let load = loads
            .iter()
            .find(|l| {
                let names: Vec<&str> = l
                    .files
                    .iter()
                    .filter(|f| f.role == Role::Listed)
                    .map(|f| f.name.as_str())
                    .chain(l.missing.iter().map(String::as_str))
                    .collect();
                names.len() == listed.len()
                    && names
                        .iter()
                        .zip(&listed)
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
            })
            .map(|l| l.name.clone());
        if s.size == 0 {
            ignored.push(format!("{} (empty)", s.entry));
            continue;
        }
        used.push(&s.entry);
        blobs.insert(s.sha256, s.path.clone());
        terms.push(TermEntry {
            file: t.file_name(),
            protocol,
            sha256: s.sha256,
            size: s.size,
            load,
            lists: listed,
        });
    }

    if loads.is_empty() {
        return Err(ImportError::NoLoads {
            archive: archive.to_owned(),
        });
    }
    if !allow_incomplete {
        let missing: Vec<(String, Vec<String>)> = loads
            .iter()
            .filter(|l| !l.complete)
            .map(|l| {
                let files = l
                    .missing
                    .iter()
                    .map(|m| match by_base.get(&m.to_ascii_lowercase()) {
                        Some(_) => format!("{m} (empty)"),
                        None => m.clone(),
                    })
                    .collect();
                (l.name.clone(), files)
            })
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::Incomplete {
                archive: archive.to_owned(),
                missing,
            });
        }
    }
    ignored.extend(
        staged
            .iter()
            .filter(|s| !used.contains(&s.entry.as_str()))
            .map(|s| s.entry.clone()),
    );
    Ok(Plan {
        loads,
        terms,
        ignored,
        blobs,
    })
}

/// Loads that are one file with no `.loads`: 79x0 before 5.0 (`.bin`) and
/// 7912/7905 (`.sbin`).
fn is_single_image(load: &LoadName) -> bool {
    load.kind() == cisco::LoadKind::Application && !load.has_loads_file()
}

fn read_loads(archive: &Path, s: &Staged) -> Result<LoadsFile, ImportError> {
    let mut bytes = Vec::new();
    fs::File::open(&s.path)
        .and_then(|f| f.take(MAX_LOADS_BYTES).read_to_end(&mut bytes))
        .map_err(|e| ImportError::Read {
            archive: archive.to_owned(),
            source: e,
        })?;
    if s.size > MAX_LOADS_BYTES {
        return Err(ImportError::Corrupt {
            archive: archive.to_owned(),
            entry: Some(s.entry.clone()),
            detail: format!("{} bytes is far too large for a .loads file", s.size),
        });
    }
    LoadsFile::parse(&bytes).map_err(|source| ImportError::BadLoads {
        archive: archive.to_owned(),
        entry: s.entry.clone(),
        source,
    })
}

/// The index after the bundle, and what happened to each load and term file.
pub(crate) struct Reconciled {
    pub index: Index,
    pub loads: Vec<LoadOutcome>,
    pub terms: Vec<TermOutcome>,
}

pub(crate) fn reconcile(
    archive: &Path,
    old: &Index,
    plan: &Plan,
) -> Result<Reconciled, ImportError> {
    let conflict = |what: String| ImportError::Conflict {
        archive: archive.to_owned(),
        what,
    };
    let mut index = old.clone();
    let mut outcomes = Vec::new();
    for load in &plan.loads {
        let existing = index
            .loads
            .iter()
            .position(|l| l.name.eq_ignore_ascii_case(&load.name));
        let status = match existing.and_then(|i| index.loads.get(i).map(|l| (i, l))) {
            None => {
                index.loads.push(load.clone());
                LoadStatus::Added
            }
            Some((_, have)) if same_load(have, load) => LoadStatus::Unchanged,
            Some((_, have)) if have.complete && subset(load, have) => LoadStatus::Unchanged,
            Some((i, have)) if !have.complete && subset(have, load) => {
                if let Some(slot) = index.loads.get_mut(i) {
                    *slot = load.clone();
                }
                LoadStatus::Completed
            }
            Some((_, have)) => {
                let differs =
                    load.files
                        .iter()
                        .find(|f| {
                            !have.files.iter().any(|h| {
                                h.name.eq_ignore_ascii_case(&f.name) && h.sha256 == f.sha256
                            })
                        })
                        .map_or_else(|| "its file list".to_owned(), |f| f.name.clone());
                return Err(conflict(format!(
                    "load {} is already in the library with different contents ({differs} differs); \
                     if this bundle is the right one, remove the old load first \
                     (phoneboot firmware remove {})",
                    load.name, have.name
                )));
            }
        };
        outcomes.push(LoadOutcome {
            load: load.name.clone(),
            status,
            complete: load.complete,
            missing: load.missing.clone(),
        });
    }

    // One flat name, one content: phones ask by name alone.
    let mut names: HashMap<String, (&[u8; 32], &str)> = HashMap::new();
    for l in &index.loads {
        for f in &l.files {
            let key = f.name.to_ascii_lowercase();
            match names.get(&key) {
                Some((sha, other)) if **sha != f.sha256 => {
                    return Err(conflict(format!(
                    "file {} of load {} differs from the file of the same name in load {other}; \
                         phones fetch files by name alone, so the library can hold only one: \
                         remove {other} first if this bundle is the right one",
                    f.name, l.name
                )))
                }
                Some(_) => {}
                None => {
                    names.insert(key, (&f.sha256, &l.name));
                }
            }
        }
    }

    let mut terms = Vec::new();
    for t in &plan.terms {
        let slot = index
            .terms
            .iter()
            .position(|h| h.file == t.file && h.protocol == t.protocol);
        let status = match slot.and_then(|i| index.terms.get_mut(i)) {
            None => {
                index.terms.push(t.clone());
                TermStatus::Added
            }
            Some(have) if have.sha256 == t.sha256 => TermStatus::Unchanged,
            Some(have) => {
                let version = |l: &Option<String>| {
                    l.as_deref()
                        .and_then(|n| LoadName::parse(n).ok())
                        .map(|n| n.version())
                };
                if version(&t.load) >= version(&have.load) {
                    *have = t.clone();
                    TermStatus::Replaced
                } else {
                    TermStatus::KeptNewer
                }
            }
        };
        terms.push(TermOutcome {
            file: t.file.clone(),
            protocol: t.protocol,
            status,
        });
    }
    Ok(Reconciled {
        index,
        loads: outcomes,
        terms,
    })
}

fn same_load(a: &LoadEntry, b: &LoadEntry) -> bool {
    a.complete == b.complete
        && a.files.len() == b.files.len()
        && a.missing.len() == b.missing.len()
        && subset(a, b)
        && a.missing
            .iter()
            .all(|m| b.missing.iter().any(|n| n.eq_ignore_ascii_case(m)))
}

/// Every file of `small` is in `big` with the same content.
fn subset(small: &LoadEntry, big: &LoadEntry) -> bool {
    small.files.iter().all(|f| {
        big.files.iter().any(|g| {
            g.name.eq_ignore_ascii_case(&f.name) && g.sha256 == f.sha256 && g.role == f.role
        })
    })
}
