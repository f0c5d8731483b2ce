/*!
The index: which loads the library holds and which blob holds each file.

This module is the only code that knows how the index is stored, so a SQLite
table can replace the text file later without touching the importer or the
queries. Today it is a tab-separated text file, `index`, replaced atomically
(write `index.tmp`, fsync, rename over `index`, fsync the folder), so a reader
sees the old index or the new one, never half of either.

```text
phoneboot-library-index 1
load    complete|incomplete    NAME
file    loads|listed|extra     SHA256    SIZE    NAME
missing NAME
term    PROTOCOL    SHA256    SIZE    LOAD-or-empty    NAME
lists   NAME
```

`file`/`missing` lines belong to the `load` above them, `lists` lines to the
`term` above them. Names never hold tabs or control characters (the importer
refuses them), so the last field can be taken as is.
*/

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use cisco::Protocol;

use crate::error::LibraryError;

const MAGIC: &str = "phoneboot-library-index 1";
pub(crate) const INDEX_FILE: &str = "index";
const INDEX_TMP: &str = "index.tmp";

/// What a file is to its load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The load's own `.loads` file.
    Loads,
    /// A file the `.loads` lists (or the single image of an old load).
    Listed,
    /// Shipped beside the listed files and served with them, not required
    /// (the unsigned `.bin` twin of a 79x0 `.sbn`, for phones below 5.0).
    Extra,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Loads => "loads",
            Role::Listed => "listed",
            Role::Extra => "extra",
        }
    }
    fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "loads" => Role::Loads,
            "listed" => Role::Listed,
            "extra" => Role::Extra,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileEntry {
    pub name: String,
    pub role: Role,
    pub sha256: [u8; 32],
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadEntry {
    pub name: String,
    pub complete: bool,
    pub files: Vec<FileEntry>,
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TermEntry {
    /// Canonical lower-case name, `term61.default.loads`.
    pub file: String,
    pub protocol: Protocol,
    pub sha256: [u8; 32],
    pub size: u64,
    /// The load in the same bundle whose files it lists, if any.
    pub load: Option<String>,
    /// The files it lists, in order.
    pub lists: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Index {
    pub loads: Vec<LoadEntry>,
    pub terms: Vec<TermEntry>,
}

impl Index {
    /// Read the index in `root`; a missing file is an empty library.
    pub(crate) fn read(root: &Path) -> Result<Index, LibraryError> {
        let path = root.join(INDEX_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(e) => return Err(LibraryError::io("read", path, e)),
        };
        parse(&text).map_err(|(line, reason)| LibraryError::CorruptIndex { path, line, reason })
    }

    /// Replace the index in `root` atomically.
    pub(crate) fn write(&self, root: &Path) -> Result<(), LibraryError> {
        let tmp = root.join(INDEX_TMP);
        let path = root.join(INDEX_FILE);
        let text = self.render();
        let result = (|| {
            let mut f = fs::File::create(&tmp).map_err(|e| LibraryError::io("create", &tmp, e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| LibraryError::io("write", &tmp, e))?;
            f.sync_all()
                .map_err(|e| LibraryError::io("fsync", &tmp, e))?;
            fs::rename(&tmp, &path).map_err(|e| LibraryError::io("rename into place", &path, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        // The new index is in place: from here on the import has happened,
        // so a failing folder fsync must not make the caller undo it.
        let _ = sync_dir(root);
        Ok(())
    }

    fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(MAGIC);
        s.push('\n');
        for l in &self.loads {
            let state = if l.complete { "complete" } else { "incomplete" };
            s.push_str(&format!("load\t{state}\t{}\n", l.name));
            for f in &l.files {
                s.push_str(&format!(
                    "file\t{}\t{}\t{}\t{}\n",
                    f.role.as_str(),
                    hex::encode(f.sha256),
                    f.size,
                    f.name
                ));
            }
            for m in &l.missing {
                s.push_str(&format!("missing\t{m}\n"));
            }
        }
        for t in &self.terms {
            s.push_str(&format!(
                "term\t{}\t{}\t{}\t{}\t{}\n",
                t.protocol.as_str(),
                hex::encode(t.sha256),
                t.size,
                t.load.as_deref().unwrap_or(""),
                t.file
            ));
            for f in &t.lists {
                s.push_str(&format!("lists\t{f}\n"));
            }
        }
        s
    }
}

/// fsync a folder so a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LibraryError> {
    let f = fs::File::open(dir).map_err(|e| LibraryError::io("open", dir, e))?;
    f.sync_all()
        .map_err(|e| LibraryError::io("fsync", PathBuf::from(dir), e))
}

fn parse(text: &str) -> Result<Index, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i.saturating_add(1), l));
    match lines.next() {
        Some((_, MAGIC)) => {}
        Some((n, other)) => {
            return Err((
                n,
                format!(
                    "expected {MAGIC:?}, found {:?}",
                    other.chars().take(40).collect::<String>()
                ),
            ))
        }
        None => return Err((1, "the file is empty".into())),
    }
    let mut index = Index::default();
    for (n, line) in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = |what: &str| {
            (
                n,
                format!("{what}: {:?}", line.chars().take(80).collect::<String>()),
            )
        };
        match fields.as_slice() {
            ["load", state, name] => {
                let complete = match *state {
                    "complete" => true,
                    "incomplete" => false,
                    _ => return Err(bad("unknown load state")),
                };
                index.loads.push(LoadEntry {
                    name: check_name(name).ok_or_else(|| bad("bad name"))?,
                    complete,
                    files: Vec::new(),
                    missing: Vec::new(),
                });
            }
            ["file", role, sha, size, name] => {
                let entry = FileEntry {
                    name: check_name(name).ok_or_else(|| bad("bad name"))?,
                    role: Role::parse(role).ok_or_else(|| bad("unknown role"))?,
                    sha256: parse_sha(sha).ok_or_else(|| bad("bad sha256"))?,
                    size: size.parse().map_err(|_| bad("bad size"))?,
                };
                index
                    .loads
                    .last_mut()
                    .ok_or_else(|| bad("file line before any load line"))?
                    .files
                    .push(entry);
            }
            ["missing", name] => {
                let name = check_name(name).ok_or_else(|| bad("bad name"))?;
                index
                    .loads
                    .last_mut()
                    .ok_or_else(|| bad("missing line before any load line"))?
                    .missing
                    .push(name);
            }
            ["term", proto, sha, size, load, file] => {
                index.terms.push(TermEntry {
                    file: check_name(file).ok_or_else(|| bad("bad name"))?,
                    protocol: proto.parse().map_err(|_| bad("unknown protocol"))?,
                    sha256: parse_sha(sha).ok_or_else(|| bad("bad sha256"))?,
                    size: size.parse().map_err(|_| bad("bad size"))?,
                    load: if load.is_empty() {
                        None
                    } else {
                        Some(check_name(load).ok_or_else(|| bad("bad name"))?)
                    },
                    lists: Vec::new(),
                });
            }
            ["lists", name] => {
                let name = check_name(name).ok_or_else(|| bad("bad name"))?;
                index
                    .terms
                    .last_mut()
                    .ok_or_else(|| bad("lists line before any term line"))?
                    .lists
                    .push(name);
            }
            [""] => {}
            _ => return Err(bad("unknown line")),
        }
    }
    Ok(index)
}

fn check_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.chars().any(char::is_control)
        && !name.contains(['/', '\\']);
    ok.then(|| name.to_owned())
}

pub(crate) fn parse_sha(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let index = Index {
            loads: vec![LoadEntry {
                name: "SIP41.9-4-2SR3-1S".into(),
                complete: false,
                files: vec![FileEntry {
                    name: "SIP41.9-4-2SR3-1S.loads".into(),
                    role: Role::Loads,
                    sha256: [7; 32],
                    size: 660,
                }],
                missing: vec!["dsp41.9-4-2ES26.sbn".into()],
            }],
            terms: vec![TermEntry {
                file: "term41.default.loads".into(),
                protocol: Protocol::Sip,
                sha256: [9; 32],
                size: 600,
                load: None,
                lists: vec!["jar41sip.9-4-2ES26.sbn".into()],
            }],
        };
        assert_eq!(parse(&index.render()), Ok(index));
    }

    #[test]
    fn damage_is_reported_with_its_line() {
        assert_eq!(parse("").unwrap_err().0, 1);
        assert_eq!(parse("nonsense\n").unwrap_err().0, 1);
        let text = format!("{MAGIC}\nload\tcomplete\tX\nfile\tloads\tzz\t1\tX.loads\n");
        let (line, reason) = parse(&text).unwrap_err();
        assert_eq!(line, 3);
        assert!(reason.contains("sha256"), "{reason}");
        assert_eq!(parse(&format!("{MAGIC}\nmissing\tx\n")).unwrap_err().0, 2);
        assert_eq!(
            parse(&format!("{MAGIC}\nload\tcomplete\t../x\n"))
                .unwrap_err()
                .0,
            2
        );
    }
}
