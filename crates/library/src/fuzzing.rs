/*!
Entry points for fuzz targets: whatever the bytes, importing them must not
panic, and a failed import must leave the library exactly as it was.
*/

use std::fs;

use crate::fixtures::{snapshot, Bundle, TempDir};
use crate::{Format, ImportOptions, Library, Limits};

/// Write `data` to a file and import it as each archive type (zip, tar,
/// tar.gz, cop, cop.sgn, single image) into a temporary library that already
/// holds one load (a one-file load, to keep fsyncs few). Panics only when an invariant breaks: the library changed
/// although the import failed.
pub fn archive(data: &[u8]) {
    let Ok(dir) = TempDir::new("fuzz") else {
        return;
    };
    let lib_dir = dir.path().join("lib");
    let Ok(mut lib) = Library::open(&lib_dir) else {
        return;
    };
    // Small limits keep a fuzzer fast; the checks are the same.
    let limits = Limits::default()
        .max_total_bytes(8 << 20)
        .max_file_bytes(4 << 20)
        .max_entries(1000);
    let seed = Bundle::new("P00303010102")
        .map(|b| b.image_size(256))
        .and_then(|b| b.write(dir.path(), Format::Image));
    if let Ok(seed) = seed {
        let _ = lib.import(&seed, &ImportOptions::default());
    }
    for (format, name) in [
        (Format::Zip, "input.zip"),
        (Format::Tar, "input.tar"),
        (Format::TarGz, "input.tar.gz"),
        (Format::Cop, "input.cop"),
        (Format::CopSgn, "input.cop.sgn"),
        (Format::Image, "P00303010200.bin"),
    ] {
        let path = dir.path().join(name);
        if fs::write(&path, data).is_err() {
            return;
        }
        let before = snapshot(&lib_dir);
        let options = ImportOptions::default().format(format).limits(limits);
        if let Err(e) = lib.import(&path, &options) {
            let after = snapshot(&lib_dir);
            assert!(
                before == after,
                "failed {format:?} import changed the library: {e}\nbefore: {before:?}\nafter: {after:?}"
            );
        }
        let _ = lib.verify();
    }
}
