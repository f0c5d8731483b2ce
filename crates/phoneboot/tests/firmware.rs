//! `phoneboot firmware …` and serving the library, through the real binary:
//! every bundle format, list/show/verify/remove as an operator reads them,
//! hostile and incomplete bundles refused with the library unchanged, and
//! `serve` handing library files to curl and tftp-hpa byte-exact, in any
//! letter case, never from an incomplete load.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use library::fixtures::{hostile, snapshot, Bundle};
use library::Format;

/// Runs the binary with `--data-dir data`; returns (exit code, stdout, stderr).
fn pb(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn import(data: &Path, path: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["firmware", "import", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    pb(data, &args)
}

fn bytes_of(bundle: &Bundle, name: &str) -> Vec<u8> {
    bundle
        .files()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} not in the bundle"))
        .1
}

fn blob_path(data: &Path, bytes: &[u8]) -> PathBuf {
    let hex = sha256(bytes);
    data.join("firmware/blobs/sha256").join(&hex[..2]).join(hex)
}

/// The load shipped in each packaging type, as Cisco ships it.
const FORMATS: [(Format, &str); 7] = [
    (Format::Zip, "SIP41.9-4-2SR3-1S"),
    (Format::Tar, "SCCP41.9-4-2SR3-1S"),
    (Format::TarGz, "P0S3-8-12-00"),
    (Format::Cop, "SIP45.9-4-2SR3-1S"),
    (Format::CopSgn, "SCCP45.9-4-2SR4-3S"),
    (Format::Folder, "SIP70.9-4-2SR3-1S"),
    (Format::Image, "P00303010102"),
];

#[test]
fn import_every_format_then_list_show_verify_remove() {
    let s = Scratch::new("fw-formats");
    let data = s.path().join("data");
    let bundles = s.path().join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    for (format, load) in FORMATS {
        let bundle = Bundle::new(load).unwrap();
        let path = bundle.write(&bundles, format).unwrap();
        let (code, out, err) = import(&data, &path, &[]);
        assert_eq!(code, 0, "{format:?}: {out}{err}");
        assert!(
            out.contains(&format!("{load}: added, complete")),
            "{format:?}: {out}"
        );
        // Not a terminal: plain progress lines, no bar escape codes.
        assert!(err.contains("importing "), "{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
        // Idempotent.
        let (code, out, _) = import(&data, &path, &[]);
        assert_eq!(code, 0);
        assert!(out.contains("already in the library, unchanged"), "{out}");
        assert!(out.contains("nothing changed"), "{out}");
    }

    let (code, out, err) = pb(&data, &["firmware", "list"]);
    assert_eq!(code, 0, "{err}");
    let header = out.lines().next().unwrap();
    for col in [
        "LOAD", "FAMILY", "PROTOCOL", "VERSION", "MODELS", "FILES", "SIZE", "COMPLETE",
    ] {
        assert!(header.contains(col), "{header}");
    }
    for (_, load) in FORMATS {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{load} ")))
            .unwrap_or_else(|| panic!("{load} not listed:\n{out}"));
        assert!(line.trim_end().ends_with("yes       library"), "{line}");
    }
    let sip41 = out
        .lines()
        .find(|l| l.starts_with("SIP41."))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(&sip41[1..4], ["79x1", "SIP", "9.4(2)SR3"], "{sip41:?}");
    assert!(sip41[4].contains("7941") && sip41[4].contains("7961"));
    assert!(out.contains("7 loads: 7 complete, 0 incomplete"), "{out}");
    assert!(out.contains("term41.default.loads (SIP"), "{out}");

    // show: files in .loads order, exact sizes and hashes.
    let bundle = Bundle::new("SIP41.9-4-2SR3-1S").unwrap();
    let (code, out, err) = pb(&data, &["firmware", "show", "sip41.9-4-2sr3-1s"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("SIP41.9-4-2SR3-1S\n"), "{out}");
    assert!(out.contains("complete:  yes"), "{out}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip_while(|l| !l.starts_with("# "))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let mut want = vec!["SIP41.9-4-2SR3-1S.loads".to_owned()];
    want.extend(bundle.listed_files());
    let names: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(names, want, "{out}");
    for r in &rows {
        let bytes = bytes_of(&bundle, r[1]);
        assert_eq!(r[3], bytes.len().to_string(), "{r:?}");
        assert_eq!(r[4], sha256(&bytes), "{r:?}");
    }
    let (code, _, err) = pb(&data, &["firmware", "show", "SIP99.1-0-0S"]);
    assert_eq!(code, 1);
    assert!(err.contains("not in the firmware library"), "{err}");

    // verify: intact, then a flipped byte.
    let (code, out, err) = pb(&data, &["firmware", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("all intact"), "{out}");
    let jar = &bundle.listed_files()[0];
    let blob = blob_path(&data, &bytes_of(&bundle, jar));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    let (code, out, _) = pb(&data, &["firmware", "verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("DAMAGED"), "{out}");
    assert!(
        out.contains(&format!("SIP41.9-4-2SR3-1S/{jar}")),
        "damage names load and file: {out}"
    );
    assert!(out.contains("phoneboot firmware remove"), "{out}");

    // remove, then import again: whole again.
    let (code, out, err) = pb(&data, &["firmware", "remove", "SIP41.9-4-2SR3-1S"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("removed SIP41.9-4-2SR3-1S"), "{out}");
    assert!(!blob.exists(), "the damaged blob only SIP41 used is gone");
    let (_, out, _) = pb(&data, &["firmware", "list"]);
    assert!(!out.contains("SIP41."), "{out}");
    let (code, _, err) = pb(&data, &["firmware", "remove", "SIP41.9-4-2SR3-1S"]);
    assert_eq!(code, 1, "{err}");
    let zip = bundle.write(&bundles, Format::Zip).unwrap();
    assert_eq!(import(&data, &zip, &[]).0, 0);
    let (code, out, _) = pb(&data, &["firmware", "verify"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn several_bundles_in_one_command_and_an_empty_library() {
    let s = Scratch::new("fw-several");
    let data = s.path().join("data");
    let (code, out, _) = pb(&data, &["firmware", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("is empty") && out.contains("firmware import"),
        "{out}"
    );
    assert!(!data.exists(), "reading commands create nothing");
    let (code, out, _) = pb(&data, &["firmware", "verify"]);
    assert_eq!(code, 0, "{out}");

    let a = Bundle::new("SIP42.9-4-2SR3-1S")
        .unwrap()
        .write(s.path(), Format::Zip)
        .unwrap();
    let bad = s.path().join("notes.txt");
    std::fs::write(&bad, b"hello").unwrap();
    let b = Bundle::new("SCCP42.9-4-2SR3-1S")
        .unwrap()
        .write(s.path(), Format::TarGz)
        .unwrap();
    let out = Command::new(BIN)
        .args(["firmware", "import"])
        .args([&a, &bad, &b])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("notes.txt"), "{stderr}");
    assert!(stdout.contains("SIP42.9-4-2SR3-1S: added"), "{stdout}");
    assert!(stdout.contains("SCCP42.9-4-2SR3-1S: added"), "{stdout}");
}

#[test]
fn hostile_archives_are_refused_naming_the_entry() {
    let s = Scratch::new("fw-hostile");
    let data = s.path().join("data");
    let sandbox = s.path().join("sandbox");
    std::fs::create_dir_all(&sandbox).unwrap();
    let good = Bundle::new("P0S3-8-12-00")
        .unwrap()
        .write(&sandbox, Format::TarGz)
        .unwrap();
    assert_eq!(import(&data, &good, &[]).0, 0);
    let before = snapshot(&data);
    for h in hostile::all(&sandbox).unwrap() {
        let (code, out, err) = import(&data, &h.path, &[]);
        assert_eq!(code, 1, "{}: {out}{err}", h.what);
        assert!(err.contains("refused"), "{}: {err}", h.what);
        if h.entry != "the header after" {
            assert!(err.contains(&h.entry), "{}: {err}", h.what);
        }
        assert!(err.contains("nothing was imported"), "{}: {err}", h.what);
        assert_eq!(snapshot(&data), before, "{} changed the library", h.what);
    }
    assert!(!sandbox.join("escaped.sbn").exists());
    assert!(!s.path().join("escaped.sbn").exists());
    assert!(!sandbox.join("absolute-escaped.sbn").exists());
}

/// The SIP42 bundle without its DSP image.
fn incomplete(dir: &Path) -> (Bundle, String, PathBuf) {
    let full = Bundle::new("SIP42.9-4-2SR3-1S").unwrap();
    let missing = full
        .listed_files()
        .into_iter()
        .find(|f| f.starts_with("dsp"))
        .unwrap();
    let b = full.without(&missing);
    let path = b.write(dir, Format::Zip).unwrap();
    (b, missing, path)
}

#[test]
fn incomplete_bundles_are_refused_unless_allowed() {
    let s = Scratch::new("fw-incomplete");
    let data = s.path().join("data");
    let (_, missing, path) = incomplete(s.path());
    let good = Bundle::new("P0S3-8-12-00")
        .unwrap()
        .write(s.path(), Format::Zip)
        .unwrap();
    assert_eq!(import(&data, &good, &[]).0, 0);
    let before = snapshot(&data);
    let (code, out, err) = import(&data, &path, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("SIP42.9-4-2SR3-1S lacks 1 file:"), "{err}");
    assert!(err.contains(&format!("    {missing}\n")), "{err}");
    assert!(
        err.contains("import with --allow-incomplete to keep it anyway (it will never be served)"),
        "{err}"
    );
    assert_eq!(snapshot(&data), before);

    let (code, out, err) = import(&data, &path, &["--allow-incomplete"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("INCOMPLETE") && out.contains(&missing),
        "{out}"
    );
    let (_, out, _) = pb(&data, &["firmware", "list"]);
    let line = out.lines().find(|l| l.starts_with("SIP42.")).unwrap();
    assert!(line.contains("NO, lacks 1 (never served)"), "{line}");
    let (_, out, _) = pb(&data, &["firmware", "show", "SIP42.9-4-2SR3-1S"]);
    assert!(
        out.contains(&format!("complete:  NO, lacks {missing}")),
        "{out}"
    );
}

fn curl_get(port: u16, name: &str, out: &Path) -> bool {
    let _ = std::fs::remove_file(out);
    Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(out)
        .arg(format!("tftp://127.0.0.1:{port}/{name}"))
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn hpa_get(port: u16, name: &str, out: &Path) -> bool {
    let _ = std::fs::remove_file(out);
    let o = Command::new("tftp")
        .args([
            "-m",
            "binary",
            "127.0.0.1",
            &port.to_string(),
            "-c",
            "get",
            name,
        ])
        .arg(out)
        .output()
        .unwrap();
    // tftp-hpa exits 0 even on a TFTP error; it says so on stdout/stderr.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.status.success() && !said.contains("Error") && out.exists()
}

#[test]
fn serve_hands_library_files_to_curl_and_tftp_hpa() {
    require("curl");
    require("tftp");
    let s = Scratch::new("fw-serve");
    let data = s.path().join("data");
    let root = s.path().join("root");
    let got = s.path().join("got");
    let sip41 = Bundle::new("SIP41.9-4-2SR3-1S").unwrap();
    let sccp41 = Bundle::new("SCCP41.9-4-2SR3-1S").unwrap();
    assert_eq!(
        import(&data, &sip41.write(s.path(), Format::Zip).unwrap(), &[]).0,
        0
    );
    assert_eq!(
        import(&data, &sccp41.write(s.path(), Format::CopSgn).unwrap(), &[]).0,
        0
    );
    let (_, _, inc_path) = incomplete(s.path());
    assert_eq!(import(&data, &inc_path, &["--allow-incomplete"]).0, 0);
    // With root_files = "generated" a half-copied root file with a library
    // file's name must not win.
    write_file(&root.join("sip41.9-4-2sr3-1s.LOADS"), b"half a file");
    write_file(&root.join("Chirp1.raw"), b"ring\n");
    let cfg = s.path().join("phoneboot.toml");
    std::fs::write(&cfg, "[provision]\nroot_files = \"generated\"\n").unwrap();

    let server = Server::start(&root, &data, &["--config", cfg.to_str().unwrap()]);
    let port = server.port();
    let loads = bytes_of(&sip41, "SIP41.9-4-2SR3-1S.loads");
    for name in [
        "SIP41.9-4-2SR3-1S.loads",
        "sip41.9-4-2sr3-1s.loads",
        "Sip41.9-4-2SR3-1S.LOADS",
    ] {
        assert!(curl_get(port, name, &got), "curl {name}");
        assert_eq!(std::fs::read(&got).unwrap(), loads, "curl {name}");
    }
    for file in sip41.listed_files() {
        let want = bytes_of(&sip41, &file);
        assert!(curl_get(port, &file, &got), "curl {file}");
        assert_eq!(sha256(&std::fs::read(&got).unwrap()), sha256(&want));
        let upper = file.to_uppercase();
        assert!(hpa_get(port, &upper, &got), "tftp-hpa {upper}");
        assert_eq!(sha256(&std::fs::read(&got).unwrap()), sha256(&want));
    }
    // The root still serves what the library does not hold.
    assert!(curl_get(port, "chirp1.RAW", &got));
    // term41.default.loads: the SIP one (the default protocol).
    assert!(curl_get(port, "TERM41.default.loads", &got));
    assert_eq!(
        std::fs::read(&got).unwrap(),
        bytes_of(&sip41, "term41.default.loads")
    );
    // The incomplete load: neither its files nor its term file.
    let inc = Bundle::new("SIP42.9-4-2SR3-1S").unwrap();
    for (name, _) in inc.files() {
        if name.ends_with(".txt") {
            continue;
        }
        assert!(
            !curl_get(port, &name, &got),
            "{name} of an incomplete load was served"
        );
    }
    let evs = server.transfers_for("SIP41.9-4-2SR3-1S.loads", 1);
    assert_eq!(evs[0]["source"], "library:SIP41.9-4-2SR3-1S", "{evs:?}");
    let log = server.log_text();
    assert!(
        log.contains("sip41.9-4-2sr3-1s.LOADS: not served: the firmware library serves"),
        "shadowed root file not logged:\n{log}"
    );

    // A concurrent import is seen without a restart.
    let p0s3 = Bundle::new("P0S3-8-12-00").unwrap();
    let sb2 = "P0S3-8-12-00.sb2";
    assert!(!curl_get(port, sb2, &got));
    assert_eq!(
        import(&data, &p0s3.write(s.path(), Format::Tar).unwrap(), &[]).0,
        0
    );
    assert!(curl_get(port, sb2, &got), "import during serve not seen");
    assert_eq!(std::fs::read(&got).unwrap(), bytes_of(&p0s3, sb2));

    // A damaged blob is refused, never sent.
    let jar = sip41.listed_files()[0].clone();
    let blob = blob_path(&data, &bytes_of(&sip41, &jar));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 0x80;
    std::fs::write(&blob, &bytes).unwrap();
    assert!(!curl_get(port, &jar, &got), "damaged {jar} was served");
    server.wait_for_log("is damaged");
    assert!(server.stop().success());

    // By default the operator's root file is served as it is, and start-up
    // says it takes the library's place.
    let server = Server::start(&root, &data, &[]);
    assert!(curl_get(server.port(), "SIP41.9-4-2SR3-1S.loads", &got));
    assert_eq!(std::fs::read(&got).unwrap(), b"half a file");
    let out = server.stdout_lines().join("\n");
    assert!(
        out.contains("sip41.9-4-2sr3-1s.LOADS: from the root, served in place of the library's copy (SIP41.9-4-2SR3-1S)"),
        "{out}"
    );
}

#[test]
fn the_configured_protocol_picks_the_term_file() {
    require("curl");
    let s = Scratch::new("fw-term");
    let data = s.path().join("data");
    let sip = Bundle::new("SIP45.9-4-2SR3-1S").unwrap();
    let sccp = Bundle::new("SCCP45.9-4-2SR4-3S").unwrap();
    for b in [&sip, &sccp] {
        assert_eq!(
            import(&data, &b.write(s.path(), Format::Zip).unwrap(), &[]).0,
            0
        );
    }
    let cfg = s.path().join("phoneboot.toml");
    std::fs::write(&cfg, "[defaults]\nprotocol = \"sccp\"\n").unwrap();
    let server = Server::start(
        &s.path().join("root"),
        &data,
        &["--config", cfg.to_str().unwrap()],
    );
    let got = s.path().join("got");
    assert!(curl_get(server.port(), "term45.default.loads", &got));
    assert_eq!(
        std::fs::read(&got).unwrap(),
        bytes_of(&sccp, "term45.default.loads")
    );
    assert_ne!(
        bytes_of(&sip, "term45.default.loads"),
        bytes_of(&sccp, "term45.default.loads")
    );
}

#[test]
fn firmware_in_the_tftp_root_is_listed_and_imported_on_request() {
    let s = Scratch::new("fw-root");
    let data = s.path().join("data");
    let root = s.path().join("tftpboot");
    std::fs::create_dir_all(&root).unwrap();
    let whole = Bundle::new("SIP41.9-4-2SR3-1S").unwrap();
    let half = Bundle::new("P0S3-8-12-00").unwrap();
    for b in [&whole, &half] {
        for (name, bytes) in b.files() {
            std::fs::write(root.join(name), bytes).unwrap();
        }
    }
    let lost = half.listed_files()[1].clone();
    std::fs::remove_file(root.join(&lost)).unwrap();
    std::fs::write(root.join("XMLDefault.cnf.xml"), "<Default/>").unwrap();
    std::fs::write(root.join("P00303010102.bin"), b"old image").unwrap();
    let root_arg = root.to_str().unwrap();

    let (code, out, err) = pb(&data, &["firmware", "list", "--root", root_arg]);
    assert_eq!(code, 0, "{out}{err}");
    let line = |load: &str| {
        out.lines()
            .find(|l| l.starts_with(load))
            .unwrap_or_else(|| panic!("{load} not listed: {out}"))
            .to_owned()
    };
    assert!(line("SIP41.9-4-2SR3-1S").contains("yes"), "{out}");
    assert!(
        line("SIP41.9-4-2SR3-1S").ends_with("in the TFTP root"),
        "{out}"
    );
    assert!(line("P0S3-8-12-00").contains("NO, lacks 1"), "{out}");
    assert!(line("P00303010102").contains("yes"), "{out}");
    assert!(
        out.contains(&format!(
            "P0S3-8-12-00 in the TFTP root {root_arg} lacks {lost}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("phoneboot firmware import {root_arg}")),
        "{out}"
    );

    // The whole root, incomplete load and configs included: the complete
    // loads go in, the half one only when allowed.
    let (code, out, err) = import(&data, &root, &[]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains(&lost), "{err}");
    let (code, out, err) = import(&data, &root, &["--allow-incomplete"]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = pb(&data, &["firmware", "list", "--root", root_arg]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("SIP41.9-4-2SR3-1S") && l.contains("library")),
        "{out}"
    );
    // The root is untouched.
    assert_eq!(
        std::fs::read(root.join("XMLDefault.cnf.xml")).unwrap(),
        b"<Default/>"
    );
}
