//! What each file in the TFTP root means for the phones: which root files
//! take the place of generated configs or library files, what the
//! operator's configs name, and which of them phones will refuse.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::Path;

use cisco::operator::{check_xml, is_xml, names_a_load, told_load};
use cisco::{LoadName, Model, RequestedFile};
use serde::Serialize;

use crate::provision::served::RootFiles;

/// The largest root config read for a note (real ones are a few KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// One root file that changes what phones get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootNote {
    /// Its name in the root.
    pub file: String,
    /// What it means.
    pub meaning: String,
    /// Why phones will refuse it, and the fix, if they will.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl fmt::Display for RootNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.meaning)?;
        if let Some(p) = &self.problem {
            write!(f, "; {p}")?;
        }
        Ok(())
    }
}

/// Root names the firmware library also serves, with the load of each.
pub type LibraryShadows<'a> = &'a dyn Fn(&[String]) -> Vec<(String, String)>;

/// Notes for the top of `root`. `generates` says which names phoneboot
/// renders; `shadowed` maps root names to the library load that serves the
/// same name.
pub fn root_notes(
    root: &Path,
    mode: RootFiles,
    generates: &dyn Fn(&str) -> bool,
    shadowed: LibraryShadows<'_>,
) -> Vec<RootNote> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| fs::metadata(e.path()).is_ok_and(|m| m.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    let library: Vec<(String, String)> = shadowed(&names);
    let mut notes = Vec::new();
    for name in &names {
        let file = RequestedFile::parse(name);
        // Only configs are read (once); firmware and the rest never are.
        let content = (names_a_load(&file) || is_xml(&file))
            .then(|| read(root, name))
            .flatten();
        let from_library = library.iter().find(|(n, _)| n == name).map(|(_, l)| l);
        let meaning = match (mode, from_library) {
            (RootFiles::Generated, Some(load)) => format!(
                "not served: the firmware library serves its {name} of {load} instead \
                 (remove the root copy, or set [provision] root_files = \"serve\")"
            ),
            (RootFiles::Generated, None) if generates(name) => format!(
                "not served: phoneboot generates {name} from the desired state \
                 (remove the root copy, or set [provision] root_files = \"serve\")"
            ),
            (RootFiles::Generated, None) => continue,
            (RootFiles::Serve, Some(load)) => {
                format!("from the root, served in place of the library's copy ({load})")
            }
            (RootFiles::Serve, None) => match serve_meaning(content.as_deref(), &file) {
                Some(m) => m,
                None if generates(name) => {
                    "from the root, served in place of the generated one".to_owned()
                }
                None => continue,
            },
        };
        let problem = if mode == RootFiles::Serve && is_xml(&file) {
            content.as_deref().and_then(|c| check_xml(c).err()).map(|p| {
                format!(
                    "not valid XML ({p}): it is served as it is, but phones will refuse it; fix the file"
                )
            })
        } else {
            None
        };
        notes.push(RootNote {
            file: name.clone(),
            meaning,
            problem,
        });
    }
    notes
}

/// What an operator's config means when it is served as it is.
fn serve_meaning(content: Option<&[u8]>, file: &RequestedFile) -> Option<String> {
    let content = content.unwrap_or_default();
    let watched = "the engine watches them";
    Some(match file {
        RequestedFile::XmlDefault => format!(
            "from the root: phones without their own SEP file follow it{}; {watched}",
            per_model(file, content)
        ),
        RequestedFile::SipDefaultCnf => format!(
            "from the root: 79x0 SIP phones without their own SIP<MAC>.cnf follow it{}; {watched}",
            per_model(file, content)
        ),
        RequestedFile::SepCnfXml(mac) | RequestedFile::SipMacCnf(mac) => {
            let load = told_load(file, content, None)
                .map(|l| format!(" (it names {l})"))
                .unwrap_or_default();
            format!("from the root: phone {mac} follows it instead of a generated config{load}; the engine watches it")
        }
        RequestedFile::Os79xxTxt => {
            let load = told_load(file, content, None)
                .map(|l| format!(" (it names {l})"))
                .unwrap_or_default();
            format!("from the root, served in place of the generated one{load}")
        }
        _ => return None,
    })
}

/// ` (it names A for 7940, 7960; B for 7941)`, or nothing.
fn per_model(file: &RequestedFile, content: &[u8]) -> String {
    let mut by_load: Vec<(LoadName, Vec<&str>)> = Vec::new();
    for model in Model::ALL {
        if let Some(load) = told_load(file, content, Some(model)) {
            match by_load.iter_mut().find(|(l, _)| *l == load) {
                Some((_, models)) => models.push(model.name()),
                None => by_load.push((load, vec![model.name()])),
            }
        }
    }
    if by_load.is_empty() {
        return " (it names no load)".to_owned();
    }
    let parts: Vec<String> = by_load
        .iter()
        .map(|(l, models)| format!("{l} for {}", models.join(", ")))
        .collect();
    format!(" (it names {})", parts.join("; "))
}

fn read(root: &Path, name: &str) -> Option<Vec<u8>> {
    let mut content = Vec::new();
    fs::File::open(root.join(name))
        .and_then(|f| f.take(MAX_CONFIG_BYTES).read_to_end(&mut content))
        .ok()?;
    Some(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_files_are_explained() {
        let d = std::env::temp_dir().join(format!("phoneboot-notes-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::write(
            d.join("XMLDefault.cnf.xml"),
            "<Default><loadInformation8 model=\"IP Phone 7940\">P00305000500</loadInformation8>\
             <loadInformation7 model=\"IP Phone 7960\">P00305000500</loadInformation7></Default>",
        )
        .unwrap();
        fs::write(
            d.join("SEP001E4A000001.cnf.xml"),
            "<device>\n<loadInformation>SIP41.9-4-2SR3-1S</loadInformation>\n</devic>",
        )
        .unwrap();
        fs::write(d.join("P00305000500.sb2"), b"image").unwrap();
        fs::write(d.join("notes.txt"), b"mine").unwrap();
        let generates = |n: &str| cisco::GeneratedFile::parse(n).is_some();
        let library = |names: &[String]| {
            names
                .iter()
                .filter(|n| n.ends_with(".sb2"))
                .map(|n| (n.clone(), "P00305000500".to_owned()))
                .collect::<Vec<_>>()
        };
        let notes = root_notes(&d, RootFiles::Serve, &generates, &library);
        let text: Vec<String> = notes.iter().map(ToString::to_string).collect();
        assert_eq!(notes.len(), 3, "{text:#?}");
        assert!(
            text.iter().any(|t| t.starts_with(
                "XMLDefault.cnf.xml: from the root: phones without their own SEP file follow it \
                 (it names P00305000500 for 7940, 7960); the engine watches them"
            )),
            "{text:#?}"
        );
        let sep = notes
            .iter()
            .find(|n| n.file == "SEP001E4A000001.cnf.xml")
            .unwrap();
        assert!(sep.meaning.contains("phone 00:1e:4a:00:00:01"), "{sep:?}");
        let problem = sep.problem.as_deref().unwrap();
        assert!(problem.contains("line 3"), "{problem}");
        assert!(problem.contains("phones will refuse it"), "{problem}");
        assert!(text.iter().any(|t| t.contains("library's copy")));

        let notes = root_notes(&d, RootFiles::Generated, &generates, &library);
        assert_eq!(notes.len(), 3);
        assert!(notes.iter().all(|n| n.meaning.starts_with("not served")));
        assert!(notes.iter().all(|n| n.problem.is_none()));
        fs::remove_dir_all(d).unwrap();
    }
}
