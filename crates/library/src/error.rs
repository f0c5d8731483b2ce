//! Errors, one enum per operation: opening and querying the library
//! ([`LibraryError`]) and importing a bundle ([`ImportError`]).
//!
//! Messages are lowercase, name the archive and the entry, and say what to do.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Opening, verifying or changing the library failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryError {
    /// A file-system operation on the library folder failed.
    #[error("firmware library: cannot {action} {path:?}: {source} (check the permissions and free space of the data directory)")]
    Io {
        /// What was being done ("read", "create", "rename", …).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The index file does not parse.
    #[error(
        "firmware library index {path:?} is damaged at line {line}: {reason}; \
         restore it from a backup, or move the library folder away and import the bundles again"
    )]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// No load of that name is in the library.
    #[error("load {load:?} is not in the firmware library (see `phoneboot firmware list`)")]
    UnknownLoad {
        /// The name asked for.
        load: String,
    },
    /// The caller's check refused the removal.
    #[error("load {load:?} is still needed: {why}; change the desired state first")]
    StillNeeded {
        /// The load.
        load: String,
        /// Why, as the caller put it.
        why: String,
    },
}

impl LibraryError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LibraryError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Why an archive entry was refused before anything was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A `..` component: it would climb out of the extraction folder.
    ParentDir,
    /// An absolute path or a drive letter.
    Absolute,
    /// A symbolic link (to `target`).
    Symlink {
        /// Where it points, lossily decoded.
        target: String,
    },
    /// A hard link (to `target`).
    HardLink {
        /// What it links to, lossily decoded.
        target: String,
    },
    /// A device node, FIFO, socket or another entry type that is not a plain file.
    Special {
        /// What it is ("character device", "fifo", …).
        kind: String,
    },
    /// A path component longer than 255 bytes, or a path longer than 1024.
    NameTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A name that is not UTF-8 or holds control characters.
    BadName,
    /// A second entry whose name equals an earlier one, ignoring letter case.
    Duplicate {
        /// The earlier entry.
        first: String,
    },
    /// One entry larger than the per-file limit.
    FileTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The archive unpacks to more than the total limit.
    TotalTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The archive unpacks to far more than its own size.
    Ratio {
        /// The archive's size in bytes.
        archive_bytes: u64,
        /// Bytes unpacked when it was stopped.
        unpacked: u64,
        /// The ratio limit.
        max_ratio: u64,
    },
    /// More entries than the limit.
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
    /// The entry is encrypted.
    Encrypted,
    /// Folders nested deeper than the limit.
    TooDeep,
    /// Tar headers (GNU long names, pax records) larger than any real bundle's.
    HeaderTooLarge,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ParentDir => f.write_str("its path climbs out with '..'"),
            Refusal::Absolute => f.write_str("its path is absolute"),
            Refusal::Symlink { target } => write!(f, "it is a symbolic link (to {target:?})"),
            Refusal::HardLink { target } => write!(f, "it is a hard link (to {target:?})"),
            Refusal::Special { kind } => write!(f, "it is a {kind}, not a plain file"),
            Refusal::NameTooLong { len } => {
                write!(
                    f,
                    "its name is {len} bytes long (the limit is 255 per name, 1024 per path)"
                )
            }
            Refusal::BadName => f.write_str("its name is not UTF-8 or holds control characters"),
            Refusal::Duplicate { first } => {
                write!(
                    f,
                    "its name repeats {first:?} (letter case aside), so one would hide the other"
                )
            }
            Refusal::FileTooLarge { limit } => {
                write!(
                    f,
                    "it unpacks to more than the per-file limit of {limit} bytes"
                )
            }
            Refusal::TotalTooLarge { limit } => {
                write!(
                    f,
                    "the archive unpacks to more than the total limit of {limit} bytes"
                )
            }
            Refusal::Ratio {
                archive_bytes,
                unpacked,
                max_ratio,
            } => write!(
                f,
                "the {archive_bytes}-byte archive had already unpacked to {unpacked} bytes, \
                 more than {max_ratio} times its size (a compression bomb)"
            ),
            Refusal::TooManyEntries { limit } => {
                write!(f, "the archive has more than {limit} entries")
            }
            Refusal::Encrypted => f.write_str("it is encrypted"),
            Refusal::TooDeep => f.write_str("it is nested too deep"),
            Refusal::HeaderTooLarge => {
                f.write_str("its tar headers (long name or pax records) exceed 1 MiB")
            }
        }
    }
}

/// Importing a bundle failed. The library is exactly as it was before.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The bundle itself could not be read.
    #[error("cannot read {archive:?}: {source}")]
    Read {
        /// The bundle.
        archive: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The kind of bundle is not known.
    #[error(
        "{archive:?} is not a bundle phoneboot knows: give a .zip, .tar, .tar.gz/.tgz, .cop, \
         .cop.sgn, a folder or an old 79x0 .bin load"
    )]
    UnknownFormat {
        /// The bundle.
        archive: PathBuf,
    },
    /// An entry is unsafe to unpack; nothing was stored.
    #[error("refused {archive:?}: entry {entry:?}: {reason}; nothing was imported (get the bundle from Cisco again; if it is genuine, report it)")]
    Refused {
        /// The bundle.
        archive: PathBuf,
        /// The entry as named in the archive (lossily decoded, shortened).
        entry: String,
        /// Why.
        reason: Refusal,
    },
    /// The archive is damaged (bad checksum, truncated, not the format its name says).
    #[error("{archive:?} is damaged{}: {detail}; nothing was imported (download the bundle again)", entry_suffix(.entry))]
    Corrupt {
        /// The bundle.
        archive: PathBuf,
        /// The entry being read, when known.
        entry: Option<String>,
        /// What the reader said.
        detail: String,
    },
    /// A `.loads` file in the bundle does not parse.
    #[error("{archive:?}: {entry:?} is not a readable .loads file: {source}")]
    BadLoads {
        /// The bundle.
        archive: PathBuf,
        /// The `.loads` entry.
        entry: String,
        /// The parser's error.
        source: cisco::LoadsError,
    },
    /// Loads in the bundle lack files.
    #[error(
        "{archive:?} holds incomplete loads, and phones that fetch an incomplete load can end up \
         unbootable: {}; get the complete bundle, or import with --allow-incomplete to store \
         it without ever serving it",
        missing_list(.missing)
    )]
    Incomplete {
        /// The bundle.
        archive: PathBuf,
        /// Each incomplete load with the files it lacks (or has empty).
        missing: Vec<(String, Vec<String>)>,
    },
    /// Nothing in the bundle is a load.
    #[error(
        "{archive:?} holds no firmware load: no <load>.loads file and no old single-image load \
         (such as P00303010102.bin); is this a Cisco phone firmware bundle?"
    )]
    NoLoads {
        /// The bundle.
        archive: PathBuf,
    },
    /// The bundle disagrees with what the library already holds.
    #[error("{archive:?}: {what}; nothing was imported")]
    Conflict {
        /// The bundle.
        archive: PathBuf,
        /// What clashes, and what to do about it.
        what: String,
    },
    /// The folder to import holds the library or lies inside it.
    #[error("{archive:?} overlaps the firmware library {library:?}; import a folder outside the library")]
    Overlap {
        /// The folder.
        archive: PathBuf,
        /// The library folder.
        library: PathBuf,
    },
    /// Storing the result failed (rolled back).
    #[error("importing {archive:?}: {source}")]
    Library {
        /// The bundle.
        archive: PathBuf,
        /// The storage error.
        source: LibraryError,
    },
}

fn entry_suffix(entry: &Option<String>) -> String {
    match entry {
        Some(e) => format!(" at entry {e:?}"),
        None => String::new(),
    }
}

fn missing_list(missing: &[(String, Vec<String>)]) -> String {
    missing
        .iter()
        .map(|(load, files)| format!("{load} lacks {}", files.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}
