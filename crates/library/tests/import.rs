//! Importing every packaging, refusing what must be refused, and serving
//! only what is complete.

use std::fs;
use std::path::Path;

use cisco::{ImageSet, LoadName, LoadsFile, Model, Protocol};
use library::fixtures::{self, hostile, snapshot, Bundle, TempDir};
use library::{
    FileRole, Format, ImportError, ImportOptions, Library, LibraryError, Limits, LoadStatus,
    Refusal, TermStatus,
};

type R = Result<(), Box<dyn std::error::Error>>;

fn opts() -> ImportOptions {
    ImportOptions::default()
}

fn assert_serves(lib: &Library, bundle: &Bundle) {
    for (name, bytes) in bundle.files() {
        let listed = bundle.listed_files().iter().any(|f| f == &name)
            || name.eq_ignore_ascii_case(&bundle.load().requested_file());
        if !listed {
            continue;
        }
        for asked in [
            name.clone(),
            name.to_ascii_uppercase(),
            name.to_ascii_lowercase(),
        ] {
            let f = lib
                .lookup(&asked)
                .unwrap_or_else(|| panic!("{} does not serve {asked}", bundle.load()));
            assert_eq!(f.size, bytes.len() as u64, "{asked}");
            assert_eq!(fs::read(&f.path).expect("blob"), bytes, "{asked}");
        }
    }
}

#[test]
fn every_packaging_of_every_family_imports() -> R {
    let dir = TempDir::new("every")?;
    let mut shared = Library::open(dir.path().join("shared"))?;
    let mut n = 0;
    for set in ImageSet::ALL {
        for p in Protocol::ALL {
            let Some(load) = LoadName::newest_known(set, p) else {
                continue;
            };
            let bundle = Bundle::new(load.as_str())?;
            let formats: &[Format] = if load.has_loads_file() {
                &[
                    Format::Zip,
                    Format::Tar,
                    Format::TarGz,
                    Format::Cop,
                    Format::CopSgn,
                    Format::Folder,
                ]
            } else {
                &[Format::Image, Format::Zip]
            };
            let format = formats[n % formats.len()];
            n += 1;
            let sub = dir.path().join(format!("b{n}"));
            fs::create_dir(&sub)?;
            let path = bundle.write(&sub, format)?;
            assert_eq!(Format::detect(&path), Some(format), "{}", path.display());

            let mut lib = Library::open(sub.join("lib"))?;
            let report = lib.import(&path, &opts())?;
            assert_eq!(report.format, format);
            assert_eq!(report.loads.len(), 1, "{load}: {report:?}");
            assert_eq!(report.loads[0].status, LoadStatus::Added);
            assert!(report.loads[0].complete);
            let info = &lib.loads()[0];
            assert_eq!(info.name, load);
            assert_eq!(
                (info.family, info.protocol, info.version),
                (load.family(), load.protocol(), load.version())
            );
            assert!(info.models.iter().all(|m| load.fits(*m)) && !info.models.is_empty());
            assert!(info.is_servable());
            let expected_files = if load.has_loads_file() {
                bundle.listed_files().len() + 1
            } else {
                1
            };
            assert!(info.files >= expected_files, "{load}: {info:?}");
            assert_serves(&lib, &bundle);

            // The same bundle into a library that already holds the others.
            shared.import(&path, &opts())?;
        }
    }
    assert!(n >= 15, "{n}");
    assert_eq!(shared.loads().len(), n);
    assert!(shared.verify()?.is_ok());
    Ok(())
}

#[test]
fn cisco_names_and_79x0_details() -> R {
    let dir = TempDir::new("names")?;
    let b = Bundle::new("SIP41.9-4-2SR3-1S")?;
    assert_eq!(
        b.file_name(Format::Zip),
        "cmterm-7941_7961-sip.9-4-2SR3-1.zip"
    );
    assert_eq!(
        Bundle::new("SIP11.8-5-4S")?.file_name(Format::Zip),
        "cmterm-7911_7906-sip.8-5-4.zip"
    );
    let p0 = Bundle::new("P0S3-8-12-00")?;
    assert_eq!(p0.file_name(Format::Zip), "P0S3-8-12-00.zip");

    let mut lib = Library::open(dir.path().join("lib"))?;
    let report = lib.import(p0.write(dir.path(), Format::Zip)?, &opts())?;
    // The release notes and OS79XX.TXT belong to no load.
    assert!(
        report.ignored.iter().any(|i| i == "OS79XX.TXT"),
        "{report:?}"
    );
    let show = lib.show("p0s3-8-12-00")?;
    let names: Vec<_> = show
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.role))
        .collect();
    assert_eq!(
        names,
        [
            ("P0S3-8-12-00.loads", FileRole::Loads),
            ("P003-8-12-00.sbn", FileRole::Listed),
            ("P0S3-8-12-00.sb2", FileRole::Listed),
            ("P003-8-12-00.bin", FileRole::Extra),
        ]
    );
    for f in &show.files {
        let bytes = fs::read(&f.path)?;
        assert_eq!(bytes.len() as u64, f.size);
        assert_eq!(<[u8; 32]>::from(sha2::Sha256::digest(&bytes)), f.sha256);
    }
    // The unsigned twin is served for phones below 5.0.
    assert!(lib.lookup("p003-8-12-00.BIN").is_some());
    assert!(lib.lookup("P003-8-12-00.sbn").is_some());
    assert!(lib.lookup("OS79XX.TXT").is_none());

    // An old load is one unsigned .bin.
    let old = Bundle::new("P00303010102")?.write(dir.path(), Format::Image)?;
    assert!(old.ends_with("P00303010102.bin"));
    let r = lib.import(&old, &opts())?;
    assert_eq!(r.loads[0].load, "P00303010102");
    assert_eq!(lib.loads().len(), 2);
    assert!(lib.lookup("p00303010102.bin").is_some());
    Ok(())
}

use sha2::Digest;

#[test]
fn incomplete_loads_are_refused_with_what_they_lack() -> R {
    let dir = TempDir::new("incomplete")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    lib.import(
        Bundle::new("P0S3-8-12-00")?.write(dir.path(), Format::Zip)?,
        &opts(),
    )?;
    let before = snapshot(dir.path());
    let bundle = Bundle::new("SIP41.9-4-2SR3-1S")?
        .without("dsp41.9-4-2ES26.sbn")
        .empty("cnu41.9-4-2ES26.sbn");
    let path = bundle.write(dir.path(), Format::Zip)?;
    let before_with_bundle = snapshot(dir.path());
    assert_ne!(before, before_with_bundle);
    let err = lib.import(&path, &opts()).unwrap_err();
    let msg = err.to_string();
    match &err {
        ImportError::Incomplete { missing, .. } => {
            assert_eq!(missing.len(), 1);
            assert_eq!(missing[0].0, "SIP41.9-4-2SR3-1S");
            assert_eq!(
                missing[0].1,
                ["cnu41.9-4-2ES26.sbn (empty)", "dsp41.9-4-2ES26.sbn"]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        msg.contains("--allow-incomplete") && msg.contains("dsp41.9-4-2ES26.sbn"),
        "{msg}"
    );
    assert_eq!(snapshot(dir.path()), before_with_bundle);

    // Allowed: stored, marked, never served.
    let r = lib.import(&path, &opts().allow_incomplete(true))?;
    assert!(!r.loads[0].complete);
    assert_eq!(
        r.loads[0].missing,
        ["cnu41.9-4-2ES26.sbn", "dsp41.9-4-2ES26.sbn"]
    );
    let info = lib
        .loads()
        .into_iter()
        .find(|l| l.name.as_str() == "SIP41.9-4-2SR3-1S")
        .expect("listed");
    assert!(!info.complete && !info.is_servable());
    assert!(lib.lookup("SIP41.9-4-2SR3-1S.loads").is_none());
    assert!(lib.lookup("jar41sip.9-4-2ES26.sbn").is_none());
    assert!(lib
        .term_default("term41.default.loads", Protocol::Sip)
        .is_none());
    // Survives a reopen.
    let lib2 = Library::open(lib.root())?;
    assert!(lib2.lookup("SIP41.9-4-2SR3-1S.loads").is_none());
    assert_eq!(lib2.loads(), lib.loads());

    // The complete bundle completes it.
    let full = Bundle::new("SIP41.9-4-2SR3-1S")?.write(dir.path(), Format::TarGz)?;
    let r = lib.import(&full, &opts())?;
    assert_eq!(r.loads[0].status, LoadStatus::Completed);
    assert_serves(&lib, &Bundle::new("SIP41.9-4-2SR3-1S")?);
    assert!(lib
        .term_default("term41.default.loads", Protocol::Sip)
        .is_some());
    Ok(())
}

#[test]
fn importing_twice_changes_nothing() -> R {
    let dir = TempDir::new("twice")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    let path = Bundle::new("SCCP45.9-4-2SR4-3S")?.write(dir.path(), Format::Cop)?;
    let first = lib.import(&path, &opts())?;
    assert!(first.changed());
    assert_eq!(
        first.blobs_added,
        1 + 2 + 5,
        "loads, term45/term65, five images"
    );
    let before = snapshot(dir.path());
    let again = lib.import(&path, &opts())?;
    assert!(!again.changed(), "{again:?}");
    assert!(again
        .loads
        .iter()
        .all(|l| l.status == LoadStatus::Unchanged));
    assert!(again
        .terms
        .iter()
        .all(|t| t.status == TermStatus::Unchanged));
    assert_eq!((again.blobs_added, again.bytes_added), (0, 0));
    assert_eq!(snapshot(dir.path()), before);
    // Same content in another packaging is the same import.
    let folder = Bundle::new("SCCP45.9-4-2SR4-3S")?.write(&dir.path().join("x"), Format::Folder)?;
    let before = snapshot(lib.root());
    assert!(!lib.import(&folder, &opts())?.changed());
    assert_eq!(snapshot(lib.root()), before);
    Ok(())
}

fn blob_count(lib: &Library) -> usize {
    snapshot(&lib.root().join("blobs"))
        .values()
        .filter(|v| *v != "dir")
        .count()
}

#[test]
fn identical_files_are_stored_once_and_remove_keeps_shared_ones() -> R {
    let dir = TempDir::new("dedup")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    let sip = lib.import(
        Bundle::new("SIP41.9-4-2SR3-1S")?.write(dir.path(), Format::Zip)?,
        &opts(),
    )?;
    let sccp = lib.import(
        Bundle::new("SCCP41.9-4-2SR3-1S")?.write(dir.path(), Format::Zip)?,
        &opts(),
    )?;
    // cnu, apps and dsp are the same files in both.
    assert_eq!(sip.blobs_added, 1 + 2 + 5);
    assert_eq!(sccp.blobs_added, 1 + 2 + 2, "{sccp:?}");
    assert_eq!(blob_count(&lib), 8 + 5);

    // term41 exists per protocol.
    let first = |f: &library::FileRef| {
        LoadsFile::parse(&fs::read(&f.path).expect("term"))
            .expect("parses")
            .files()[0]
            .clone()
    };
    let t_sip = lib
        .term_default("TERM41.DEFAULT.LOADS", Protocol::Sip)
        .expect("sip term");
    let t_sccp = lib
        .term_default_for(Model::Cp7961, Protocol::Sccp)
        .expect("sccp term");
    assert_eq!(first(t_sip), "jar41sip.9-4-2ES26.sbn");
    assert_eq!(first(t_sccp), "jar41sccp.9-4-2ES26.sbn");
    assert_eq!(t_sip.load, "SIP41.9-4-2SR3-1S");
    assert!(lib
        .term_default("term42.default.loads", Protocol::Sip)
        .is_none());

    // A refusal from the caller changes nothing.
    let before = snapshot(lib.root());
    let err = lib
        .remove("sip41.9-4-2sr3-1s", |i| {
            Some(format!("group lobby runs {}", i.name))
        })
        .unwrap_err();
    assert!(matches!(err, LibraryError::StillNeeded { .. }), "{err}");
    assert!(err.to_string().contains("lobby"), "{err}");
    assert_eq!(snapshot(lib.root()), before);

    let r = lib.remove("sip41.9-4-2sr3-1s", |_| None)?;
    assert_eq!(r.load, "SIP41.9-4-2SR3-1S");
    assert_eq!(
        r.blobs_deleted,
        1 + 2 + 2,
        "its .loads, its term files, jar and cvm"
    );
    assert_eq!(blob_count(&lib), 8);
    assert!(lib.lookup("jar41sip.9-4-2ES26.sbn").is_none());
    assert!(lib.lookup("SIP41.9-4-2SR3-1S.loads").is_none());
    assert!(lib.lookup("cnu41.9-4-2ES26.sbn").is_some());
    assert!(lib
        .term_default("term41.default.loads", Protocol::Sip)
        .is_none());
    assert!(lib
        .term_default("term41.default.loads", Protocol::Sccp)
        .is_some());
    assert!(lib.verify()?.is_ok());
    assert!(matches!(
        lib.remove("SIP41.9-4-2SR3-1S", |_| None),
        Err(LibraryError::UnknownLoad { .. })
    ));
    assert!(matches!(
        lib.show("SIP41.9-4-2SR3-1S"),
        Err(LibraryError::UnknownLoad { .. })
    ));
    Ok(())
}

#[test]
fn verify_finds_a_flipped_byte_and_a_missing_blob() -> R {
    let dir = TempDir::new("verify")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    lib.import(
        Bundle::new("SIP42.9-4-2SR3-1S")?.write(dir.path(), Format::Zip)?,
        &opts(),
    )?;
    let clean = lib.verify()?;
    assert!(
        clean.is_ok() && clean.checked == 8 && clean.unreferenced.is_empty(),
        "{clean:?}"
    );

    let jar = lib.lookup("jar42sip.9-4-2ES26.sbn").expect("jar").clone();
    let mut bytes = fs::read(&jar.path)?;
    bytes[100] ^= 0x01;
    fs::write(&jar.path, &bytes)?;
    let dsp = lib.lookup("dsp42.9-4-2ES26.sbn").expect("dsp").clone();
    fs::remove_file(&dsp.path)?;
    let report = lib.verify()?;
    assert!(!report.is_ok());
    assert_eq!(report.damaged.len(), 1);
    assert_eq!(report.damaged[0].path, jar.path);
    assert_eq!(
        report.damaged[0].used_by,
        ["SIP42.9-4-2SR3-1S/jar42sip.9-4-2ES26.sbn"]
    );
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].path, dsp.path);
    Ok(())
}

fn hostile_case(
    lib: &mut Library,
    sandbox: &Path,
    h: &hostile::Hostile,
    options: &ImportOptions,
) -> ImportError {
    let before = snapshot(sandbox);
    let err = lib.import(&h.path, options).expect_err(h.what);
    let msg = err.to_string();
    assert!(msg.contains(&h.entry), "{}: {msg}", h.what);
    assert!(
        msg.contains(&h.path.display().to_string()),
        "{}: {msg}",
        h.what
    );
    assert_eq!(
        snapshot(sandbox),
        before,
        "{}: something was written",
        h.what
    );
    err
}

#[test]
fn hostile_archives_are_refused_and_change_nothing() -> R {
    let dir = TempDir::new("hostile")?;
    let sandbox = dir.path();
    let mut lib = Library::open(sandbox.join("lib"))?;
    lib.import(
        Bundle::new("P0S3-8-12-00")?.write(sandbox, Format::TarGz)?,
        &opts(),
    )?;
    for h in hostile::all(sandbox)? {
        let err = hostile_case(&mut lib, sandbox, &h, &opts());
        let reason = match &err {
            ImportError::Refused { reason, .. } => reason.clone(),
            other => panic!("{}: {other:?}", h.what),
        };
        let expected = match h.what {
            "parent-dir traversal" | "parent-dir traversal in a zip" => {
                matches!(reason, Refusal::ParentDir)
            }
            "absolute path" => matches!(reason, Refusal::Absolute),
            "symlink" | "symlink in a zip" => matches!(reason, Refusal::Symlink { .. }),
            "hard link" => matches!(reason, Refusal::HardLink { .. }),
            "character device" | "fifo" => matches!(reason, Refusal::Special { .. }),
            "name over 255 bytes" => matches!(reason, Refusal::NameTooLong { len: 300 }),
            "duplicate name differing in case" => matches!(reason, Refusal::Duplicate { .. }),
            "compression bomb" | "zip compression bomb" => matches!(reason, Refusal::Ratio { .. }),
            "huge tar header" => matches!(reason, Refusal::HeaderTooLarge),
            other => panic!("untested {other}"),
        };
        assert!(expected, "{}: {reason:?}", h.what);
    }
    // Nothing escaped, anywhere above either.
    assert!(!sandbox.join("escaped.sbn").exists());
    assert!(!sandbox.parent().expect("tmp").join("escaped.sbn").exists());
    assert!(!sandbox.join("absolute-escaped.sbn").exists());

    // Size bombs, with limits below them (the ratio check is off).
    let bomb = hostile::bomb(sandbox, 3 << 20)?;
    let no_ratio = Limits::default().max_ratio(u64::MAX, 0);
    let err = hostile_case(
        &mut lib,
        sandbox,
        &bomb,
        &opts().limits(no_ratio.max_file_bytes(1 << 20)),
    );
    assert!(
        matches!(
            err,
            ImportError::Refused {
                reason: Refusal::FileTooLarge { limit: 1048576 },
                ..
            }
        ),
        "{err}"
    );
    let err = hostile_case(
        &mut lib,
        sandbox,
        &bomb,
        &opts().limits(no_ratio.max_total_bytes(2 << 20)),
    );
    assert!(
        matches!(
            err,
            ImportError::Refused {
                reason: Refusal::TotalTooLarge { .. },
                ..
            }
        ),
        "{err}"
    );
    let before = snapshot(sandbox);
    let err = lib
        .import(&bomb.path, &opts().limits(Limits::default().max_entries(3)))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Refused {
                reason: Refusal::TooManyEntries { limit: 3 },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(snapshot(sandbox), before);
    assert!(lib.verify()?.is_ok());
    assert_eq!(lib.loads().len(), 1);
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_folder_with_a_symlink_is_refused() -> R {
    let dir = TempDir::new("folderlink")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    let folder = Bundle::new("SIP45.9-4-2SR3-1S")?.write(dir.path(), Format::Folder)?;
    std::os::unix::fs::symlink("/etc/passwd", folder.join("passwd.sbn"))?;
    let h = hostile::Hostile {
        path: folder,
        entry: "passwd.sbn".into(),
        what: "symlink in a folder",
    };
    let err = hostile_case(&mut lib, dir.path(), &h, &opts());
    assert!(
        matches!(
            err,
            ImportError::Refused {
                reason: Refusal::Symlink { .. },
                ..
            }
        ),
        "{err}"
    );
    Ok(())
}

#[test]
fn damage_mid_import_leaves_the_library_unchanged() -> R {
    let dir = TempDir::new("damage")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    lib.import(
        Bundle::new("SIP70.9-4-2SR3-1S")?.write(dir.path(), Format::Zip)?,
        &opts(),
    )?;
    let bundle = Bundle::new("SCCP70.9-4-2SR3-1S")?;

    // A gzip whose CRC (the 8-byte trailer) is wrong: every entry unpacks, then it fails.
    let tgz = bundle.write(dir.path(), Format::TarGz)?;
    let mut bytes = fs::read(&tgz)?;
    let at = bytes.len() - 8;
    bytes[at] ^= 0xff;
    fs::write(&tgz, &bytes)?;
    let before = snapshot(dir.path());
    let err = lib.import(&tgz, &opts()).unwrap_err();
    assert!(matches!(err, ImportError::Corrupt { .. }), "{err}");
    assert_eq!(snapshot(dir.path()), before);

    // Truncated in the middle.
    let cop = bundle.write(dir.path(), Format::CopSgn)?;
    let bytes = fs::read(&cop)?;
    fs::write(&cop, &bytes[..bytes.len() / 2])?;
    let zip = bundle.write(dir.path(), Format::Zip)?;
    let bytes = fs::read(&zip)?;
    fs::write(&zip, &bytes[..bytes.len() - 30])?;
    let before = snapshot(dir.path());
    for path in [&cop, &zip] {
        let err = lib.import(path, &opts()).unwrap_err();
        assert!(matches!(err, ImportError::Corrupt { .. }), "{err}");
        assert_eq!(snapshot(dir.path()), before);
    }
    assert_eq!(lib.loads().len(), 1);
    Ok(())
}

#[test]
fn conflicts_with_what_the_library_holds_are_refused() -> R {
    let dir = TempDir::new("conflict")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    lib.import(
        Bundle::new("SIP41.9-4-2SR3-1S")?.write(dir.path(), Format::Zip)?,
        &opts(),
    )?;
    let before = snapshot(lib.root());
    // Same load, different image.
    let other = dir.path().join("other");
    fs::create_dir(&other)?;
    let forged =
        Bundle::new("SIP41.9-4-2SR3-1S")?.with_file("jar41sip.9-4-2ES26.sbn", b"not the same");
    let err = lib
        .import(forged.write(&other, Format::Zip)?, &opts())
        .unwrap_err();
    assert!(matches!(err, ImportError::Conflict { .. }), "{err}");
    assert!(
        err.to_string().contains("jar41sip.9-4-2ES26.sbn")
            && err.to_string().contains("firmware remove"),
        "{err}"
    );
    // Another load sharing a file name with different content.
    let clash =
        Bundle::new("SCCP41.9-4-2SR3-1S")?.with_file("cnu41.9-4-2ES26.sbn", b"different cnu");
    let err = lib
        .import(clash.write(&other, Format::Zip)?, &opts())
        .unwrap_err();
    assert!(err.to_string().contains("cnu41.9-4-2ES26.sbn"), "{err}");
    assert_eq!(snapshot(lib.root()), before);
    Ok(())
}

#[test]
fn odd_inputs_get_clear_errors() -> R {
    let dir = TempDir::new("odd")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    let notes = dir.path().join("notes.zip");
    fixtures::write_zip(&notes, &[("readme.txt".into(), b"hello".to_vec())])?;
    assert!(matches!(
        lib.import(&notes, &opts()),
        Err(ImportError::NoLoads { .. })
    ));
    let unknown = dir.path().join("firmware.rar");
    fs::write(&unknown, b"Rar!\x1a\x07")?;
    assert!(matches!(
        lib.import(&unknown, &opts()),
        Err(ImportError::UnknownFormat { .. })
    ));
    assert!(matches!(
        lib.import(dir.path().join("absent.zip"), &opts()),
        Err(ImportError::Read { .. })
    ));
    let bad = dir.path().join("bad.zip");
    fixtures::write_zip(
        &bad,
        &[(
            "SIP41.9-4-2SR3-1S.loads".into(),
            Vec::from(&b"\x01\x00\x02\x01\x01\x02\x00\x02\xff\xff"[..]),
        )],
    )?;
    let err = lib.import(&bad, &opts()).unwrap_err();
    assert!(matches!(err, ImportError::BadLoads { .. }), "{err}");
    assert!(err.to_string().contains("SIP41.9-4-2SR3-1S.loads"), "{err}");
    assert!(
        snapshot(lib.root()).is_empty(),
        "{:?}",
        snapshot(lib.root())
    );
    assert!(matches!(
        lib.import(dir.path(), &opts()),
        Err(ImportError::Overlap { .. })
    ));
    let root = lib.root().to_path_buf();
    assert!(matches!(
        lib.import(&root, &opts()),
        Err(ImportError::Overlap { .. })
    ));
    // A staging folder left by a killed importer is swept by the next import.
    let dead = lib.root().join(".staging-4000000-0");
    fs::create_dir_all(dead.join("x"))?;

    // A .cop.sgn whose header has no length record: found by the gzip magic.
    let b = Bundle::new("SIP11.9-4-2SR1-1S")?;
    let good = b.write(dir.path(), Format::CopSgn)?;
    let bytes = fs::read(&good)?;
    let gz = bytes
        .windows(3)
        .position(|w| w == [0x1f, 0x8b, 0x08])
        .expect("gzip");
    let mut odd = b"not a TLV header at all".to_vec();
    odd.extend_from_slice(&bytes[gz..]);
    let odd_path = dir.path().join("odd.cop.sgn");
    fs::write(&odd_path, odd)?;
    lib.import(&odd_path, &opts())?;
    assert_serves(&lib, &b);
    assert!(!dead.exists());
    // Another handle sees the import after a reload.
    let mut other = Library::open(dir.path().join("lib"))?;
    assert_eq!(other.loads().len(), 1);
    lib.import(
        Bundle::new("P00303010102")?.write(dir.path(), Format::Image)?,
        &opts(),
    )?;
    other.reload()?;
    assert_eq!(other.loads().len(), 2);
    Ok(())
}

#[test]
fn progress_sees_every_entry() -> R {
    let dir = TempDir::new("progress")?;
    let mut lib = Library::open(dir.path().join("lib"))?;
    let path = Bundle::new("SIP75.9-4-2SR3-1S")?
        .image_size(3 << 20)
        .write(dir.path(), Format::TarGz)?;
    let mut seen: Vec<(String, u64, u64)> = Vec::new();
    let mut cb = |name: &str, done: u64, total: u64| seen.push((name.to_owned(), done, total));
    lib.import_with_progress(&path, &opts(), &mut cb)?;
    let total = fs::metadata(&path)?.len();
    assert!(seen.iter().all(|(_, d, t)| *t == total && d <= t));
    assert!(seen.iter().any(|(n, _, _)| n == "jar75sip.9-4-2ES26.sbn"));
    // Large entries report more than once.
    assert!(
        seen.iter()
            .filter(|(n, _, _)| n == "apps75.9-4-2ES26.sbn")
            .count()
            >= 3,
        "{seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1), "monotonic");
    Ok(())
}
