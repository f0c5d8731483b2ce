//! `phoneboot firmware …`: the firmware library from the command line.
//!
//! The library itself (safe import, content-addressed storage, lookup) is
//! the `library` crate; this module opens it at `<data dir>/firmware`,
//! shows progress, and prints what a network engineer needs to read.
//!
//! Exit codes follow `main.rs`: 0 done, 1 the library said no (an import
//! refused, an unknown load, damage found by `verify`), 2 an error (config,
//! I/O).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use library::{
    FileRole, Format, ImportError, ImportOptions, ImportReport, Library, LibraryError, LoadStatus,
    TermStatus,
};

use crate::cli::{Common, FirmwareCommand};
use crate::config::Config;

/// The library's folder under the data directory.
pub const LIBRARY_DIR: &str = "firmware";

/// Exit code for "refused" (as opposed to 2, "could not do it").
const REFUSED: u8 = 1;

/// The library folder for these options: `--data-dir`, else the config's.
pub fn library_dir(common: &Common) -> anyhow::Result<PathBuf> {
    let cfg = match &common.config {
        Some(p) => Config::load(p)?,
        None => Config::defaults(),
    };
    let data_dir = common.data_dir.clone().unwrap_or(cfg.data_dir);
    Ok(data_dir.join(LIBRARY_DIR))
}

/// Runs one `firmware` subcommand.
pub fn run(cmd: FirmwareCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FirmwareCommand::Import {
            common,
            paths,
            allow_incomplete,
        } => import(&library_dir(&common)?, &paths, allow_incomplete),
        FirmwareCommand::List { common } => {
            let root = super::load_config(&common)?.root;
            list(&library_dir(&common)?, &root)
        }
        FirmwareCommand::Show { common, load } => show(&library_dir(&common)?, &load),
        FirmwareCommand::Verify { common } => verify(&library_dir(&common)?),
        FirmwareCommand::Remove { common, load } => remove(&library_dir(&common)?, &load),
    }
}

fn open(dir: &Path) -> anyhow::Result<Library> {
    Library::open(dir)
        .with_context(|| format!("cannot open the firmware library {}", dir.display()))
}

/// The library if it exists; reading commands never create it.
fn open_existing(dir: &Path) -> anyhow::Result<Option<Library>> {
    if !dir.exists() {
        return Ok(None);
    }
    open(dir).map(Some)
}

fn empty_hint(dir: &Path) -> String {
    format!(
        "the firmware library {} is empty; add Cisco bundles with `phoneboot firmware import PATH…`",
        dir.display()
    )
}

/// 1 for refusals (the bundle is the problem), 2 for errors (the machine is).
fn import_code(e: &ImportError) -> u8 {
    match e {
        ImportError::Read { .. } | ImportError::Library { .. } => 2,
        _ => REFUSED,
    }
}

fn library_code(e: &LibraryError) -> u8 {
    match e {
        LibraryError::UnknownLoad { .. } | LibraryError::StillNeeded { .. } => REFUSED,
        _ => 2,
    }
}

fn import(dir: &Path, paths: &[PathBuf], allow_incomplete: bool) -> anyhow::Result<ExitCode> {
    let mut lib = open(dir)?;
    let options = ImportOptions::default().allow_incomplete(allow_incomplete);
    let mut worst = 0u8;
    for path in paths {
        let mut progress = Progress::new(path);
        let result = lib.import_with_progress(path, &options, &mut progress);
        progress.finish();
        match result {
            Ok(report) => print!("{}", describe_import(&report)),
            Err(e) => {
                eprintln!("phoneboot: {}", describe_import_error(&e));
                worst = worst.max(import_code(&e));
            }
        }
    }
    if worst != 0 && paths.len() > 1 {
        eprintln!(
            "phoneboot: not every bundle was imported (see above); the others are in the library"
        );
    }
    Ok(ExitCode::from(worst))
}

/// Import progress: a bar on a terminal, one line per entry otherwise (logs,
/// CI, pipes).
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { last: String },
}

impl Progress {
    fn new(path: &Path) -> Progress {
        if std::io::stderr().is_terminal() {
            // The bundle's own size: progress counts bytes read from it.
            let len = std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map_or(0, |m| m.len());
            let bar = indicatif::ProgressBar::new(len);
            let style = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:25}] {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("importing {}", file_name(path)));
            Progress::Bar(bar)
        } else {
            eprintln!("importing {}", path.display());
            Progress::Lines {
                last: String::new(),
            }
        }
    }

    fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl library::Progress for Progress {
    fn on_entry(&mut self, name: &str, bytes_done: u64, bytes_total: u64) {
        match self {
            Progress::Bar(bar) => {
                if bytes_total > 0 {
                    bar.set_length(bytes_total);
                    bar.set_position(bytes_done);
                } else {
                    bar.set_length(bytes_done.max(1));
                    bar.set_position(bytes_done);
                }
                // The entry's own name, short enough to keep the bar on one line.
                let base = name.rsplit('/').next().unwrap_or(name);
                let short: String = base.chars().take(32).collect();
                bar.set_message(short);
            }
            Progress::Lines { last } => {
                if name != last {
                    eprintln!("  unpacking {name}");
                    name.clone_into(last);
                }
            }
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Zip => "zip",
        Format::Tar => "tar",
        Format::TarGz => "tar.gz",
        Format::Cop => "cop",
        Format::CopSgn => "cop.sgn",
        Format::Folder => "folder",
        Format::Image => "single image",
        _ => "bundle",
    }
}

/// What an import did, one line per load and term file.
pub fn describe_import(r: &ImportReport) -> String {
    let mut out = format!(
        "imported {} ({}):\n",
        r.archive.display(),
        format_name(r.format)
    );
    for l in &r.loads {
        let status = match l.status {
            LoadStatus::Added => "added",
            LoadStatus::Unchanged => "already in the library, unchanged",
            LoadStatus::Completed => "completed (the library had it incomplete)",
            _ => "stored",
        };
        if l.complete {
            out += &format!("  {}: {status}, complete\n", l.load);
        } else {
            out += &format!(
                "  {}: {status}, INCOMPLETE: lacks {}; kept but never served\n",
                l.load,
                l.missing.join(", ")
            );
        }
    }
    for t in &r.terms {
        let status = match t.status {
            TermStatus::Added => "added",
            TermStatus::Unchanged => "unchanged",
            TermStatus::Replaced => "replaced the one listing an older load",
            TermStatus::KeptNewer => "kept the library's, which lists a newer load",
            _ => "stored",
        };
        out += &format!("  {} ({} recovery file): {status}\n", t.file, t.protocol);
    }
    if !r.ignored.is_empty() {
        out += &format!("  ignored (part of no load): {}\n", r.ignored.join(", "));
    }
    if r.changed() {
        out += &format!(
            "  stored {} new files ({})\n",
            r.blobs_added,
            human(r.bytes_added)
        );
    } else {
        out += "  nothing changed: the library already held all of it\n";
    }
    out
}

/// The library's message, except for incomplete bundles, whose missing
/// files get one line each.
pub fn describe_import_error(e: &ImportError) -> String {
    match e {
        ImportError::Incomplete { archive, missing } => {
            let mut out = format!("refused {}: incomplete loads\n", archive.display());
            for (load, files) in missing {
                let n = files.len();
                out += &format!(
                    "  {load} lacks {n} file{}:\n",
                    if n == 1 { "" } else { "s" }
                );
                for f in files {
                    out += &format!("    {f}\n");
                }
            }
            out += "A phone that fetches an incomplete load can end up unbootable. Nothing was imported.\n\
                    Get the complete bundle from Cisco, or import with --allow-incomplete to keep it anyway \
                    (it will never be served).";
            out
        }
        other => other.to_string(),
    }
}

fn list(dir: &Path, root: &Path) -> anyhow::Result<ExitCode> {
    let lib = open_existing(dir)?;
    let in_library = lib.as_ref().map(Library::loads).unwrap_or_default();
    let in_root = library::folder::scan(root).unwrap_or_default();
    if in_library.is_empty() && in_root.is_empty() {
        println!("{}", empty_hint(dir));
        return Ok(ExitCode::SUCCESS);
    }
    let header = [
        "LOAD", "FAMILY", "PROTOCOL", "VERSION", "MODELS", "FILES", "SIZE", "COMPLETE", "WHERE",
    ];
    let loads: Vec<(library::LoadInfo, &str)> = in_library
        .into_iter()
        .map(|l| (l, "library"))
        .chain(in_root.iter().map(|l| (l.info(), "in the TFTP root")))
        .collect();
    let rows: Vec<[String; 9]> = loads
        .iter()
        .map(|(l, place)| {
            let mut models: Vec<&str> = l.models.iter().map(|m| m.name()).collect();
            models.dedup();
            [
                l.name.to_string(),
                l.family.to_string(),
                l.protocol.map_or("-".into(), |p| p.to_string()),
                l.version.to_string(),
                models.join(","),
                l.files.to_string(),
                human(l.size),
                if l.complete {
                    "yes".into()
                } else {
                    format!("NO, lacks {} (never served)", l.missing.len())
                },
                (*place).to_owned(),
            ]
        })
        .collect();
    print!("{}", table(&header, &rows));
    let complete = loads.iter().filter(|(l, _)| l.complete).count();
    println!(
        "{} loads: {complete} complete, {} incomplete (never served)",
        loads.len(),
        loads.len() - complete
    );
    for l in in_root.iter().filter(|l| !l.load.complete) {
        match &l.problem {
            Some(p) => println!(
                "{} in the TFTP root {}: its .loads is unusable ({p})",
                l.load.name,
                root.display()
            ),
            None => println!(
                "{} in the TFTP root {} lacks {}; unzip its whole bundle there",
                l.load.name,
                root.display(),
                l.load.missing.join(", ")
            ),
        }
    }
    if in_root.iter().any(|l| l.load.complete) {
        println!(
            "loads in the TFTP root are served from there; `phoneboot firmware import {}` copies them into the library",
            root.display()
        );
    }
    let terms = lib.as_ref().map(Library::term_files).unwrap_or_default();
    if !terms.is_empty() {
        let list: Vec<String> = terms
            .iter()
            .map(|(file, p, load)| match load {
                Some(l) => format!("{file} ({p}, lists {l})"),
                None => format!("{file} ({p})"),
            })
            .collect();
        println!("recovery files: {}", list.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(dir: &Path, load: &str) -> anyhow::Result<ExitCode> {
    let Some(lib) = open_existing(dir)? else {
        eprintln!(
            "phoneboot: load {load:?} is not in the firmware library: {}",
            empty_hint(dir)
        );
        return Ok(ExitCode::from(REFUSED));
    };
    let d = match lib.show(load) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("phoneboot: {e}");
            return Ok(ExitCode::from(library_code(&e)));
        }
    };
    let i = &d.info;
    let mut models: Vec<&str> = i.models.iter().map(|m| m.name()).collect();
    models.dedup();
    println!("{}", i.name);
    println!("  family:    {}", i.family);
    println!(
        "  protocol:  {}",
        i.protocol.map_or("-".into(), |p| p.to_string())
    );
    println!("  version:   {}", i.version);
    println!("  models:    {}", models.join(", "));
    if i.complete {
        println!("  complete:  yes (served to phones)");
    } else {
        println!(
            "  complete:  NO, lacks {} (never served)",
            i.missing.join(", ")
        );
    }
    println!("  size:      {} in {} files", human(i.size), i.files);
    println!();
    let header = ["#", "FILE", "ROLE", "BYTES", "SHA-256"];
    let rows: Vec<[String; 5]> = d
        .files
        .iter()
        .enumerate()
        .map(|(n, f)| {
            [
                (n + 1).to_string(),
                f.name.clone(),
                match f.role {
                    FileRole::Loads => "loads",
                    FileRole::Listed => "listed",
                    FileRole::Extra => "extra",
                }
                .to_owned(),
                f.size.to_string(),
                hex::encode(f.sha256),
            ]
        })
        .collect();
    print!("{}", table(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

fn verify(dir: &Path) -> anyhow::Result<ExitCode> {
    let Some(lib) = open_existing(dir)? else {
        println!("nothing to verify: {}", empty_hint(dir));
        return Ok(ExitCode::SUCCESS);
    };
    let r = match lib.verify() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("phoneboot: {e}");
            return Ok(ExitCode::from(library_code(&e)));
        }
    };
    for (what, problems) in [("DAMAGED", &r.damaged), ("MISSING", &r.missing)] {
        for p in problems {
            println!(
                "{what}  {}  used by {}",
                p.path.display(),
                p.used_by.join(", ")
            );
        }
    }
    if !r.unreferenced.is_empty() {
        println!(
            "note: {} stored files belong to no load (left by an interrupted import); \
             the next `phoneboot firmware remove` deletes them",
            r.unreferenced.len()
        );
    }
    if r.is_ok() {
        println!(
            "checked {} files ({}): all intact",
            r.checked,
            human(r.bytes)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut loads: Vec<&str> = r
        .damaged
        .iter()
        .chain(&r.missing)
        .flat_map(|p| &p.used_by)
        .map(|u| u.split_once('/').map_or(u.as_str(), |(l, _)| l))
        .collect();
    loads.sort_unstable();
    loads.dedup();
    println!(
        "checked {} files: {} damaged, {} missing. `phoneboot serve` refuses these files \
         rather than send them to a phone. Affected: {}. For each, run \
         `phoneboot firmware remove LOAD` and import its bundle again.",
        r.checked,
        r.damaged.len(),
        r.missing.len(),
        loads.join(", ")
    );
    Ok(ExitCode::from(REFUSED))
}

fn remove(dir: &Path, load: &str) -> anyhow::Result<ExitCode> {
    let Some(mut lib) = open_existing(dir)? else {
        eprintln!(
            "phoneboot: load {load:?} is not in the firmware library: {}",
            empty_hint(dir)
        );
        return Ok(ExitCode::from(REFUSED));
    };
    // No desired state exists yet, so nothing can still need a load.
    match lib.remove(load, |_| None) {
        Ok(r) => {
            println!(
                "removed {}: deleted {} files no other load uses ({})",
                r.load,
                r.blobs_deleted,
                human(r.bytes_freed)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("phoneboot: {e}");
            Ok(ExitCode::from(library_code(&e)))
        }
    }
}

/// Columns padded to their widest cell, two spaces apart.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (n, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if n + 1 == N {
                l += cell;
            } else {
                l += &format!("{cell:<w$}  ");
            }
        }
        out += l.trim_end();
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// Sizes as people read them: `512 B`, `12.0 KiB`, `3.1 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_ls_h() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1024), "1.0 KiB");
        assert_eq!(human(3 * 1024 * 1024 + 200_000), "3.2 MiB");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["A", "BB", "C"],
            &[
                ["long".into(), "x".into(), "end".into()],
                ["s".into(), "yyy".into(), "".into()],
            ],
        );
        assert_eq!(t, "A     BB   C\nlong  x    end\ns     yyy\n");
    }
}
