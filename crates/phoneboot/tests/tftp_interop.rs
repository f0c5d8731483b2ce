//! phoneboot's TFTP server against clients nobody here wrote: curl,
//! tftp-hpa, atftp and busybox, on loopback. Contents must be byte-exact.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

struct Fixture {
    _scratch: Scratch,
    out: std::path::PathBuf,
    server: Server,
    files: Vec<(&'static str, String)>,
}

/// A MAC-bearing name served from the root as-is (SEP….cnf.xml is generated).
const SMALL: &str = "CTLSEP00215555AA01.tlv";
const BLOCKS: &str = "blocks512.bin";
const BIG: &str = "P0S3-8-12-00.sb2";
const BIG_LEN: usize = 33 * 1024 * 1024 + 5;

fn fixture(name: &str) -> Fixture {
    let scratch = Scratch::new(name);
    let root = scratch.path().join("root");
    let mut files = Vec::new();
    for (file, len, seed) in [
        (SMALL, 1000usize, 1u64),
        (BLOCKS, 512 * 64, 2),
        (BIG, BIG_LEN, 3),
    ] {
        let data = random_bytes(len, seed);
        write_file(&root.join(file), &data);
        files.push((file, sha256(&data)));
    }
    let out = scratch.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let server = Server::start(&root, &scratch.path().join("data"), &[]);
    Fixture {
        out,
        server,
        files,
        _scratch: scratch,
    }
}

impl Fixture {
    fn check(&self, client: &str, file: &str, fetched: &Path) {
        let want = &self.files.iter().find(|(f, _)| *f == file).unwrap().1;
        let got = sha256(&std::fs::read(fetched).unwrap());
        assert_eq!(&got, want, "{client}: {file} differs");
        std::fs::remove_file(fetched).unwrap();
    }
}

fn curl(f: &Fixture, file: &str, blksize: Option<u32>) -> std::path::PathBuf {
    let out = f.out.join(format!("curl-{file}"));
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "-o"]).arg(&out);
    if let Some(b) = blksize {
        cmd.args(["--tftp-blksize", &b.to_string()]);
    }
    cmd.arg(format!("tftp://127.0.0.1:{}/{file}", f.server.port()));
    run(&mut cmd);
    out
}

#[test]
fn curl_default_1428_and_65464() {
    require("curl");
    let f = fixture("curl");
    for blksize in [None, Some(1428), Some(65464)] {
        for file in [SMALL, BLOCKS, BIG] {
            if file == BIG && blksize == Some(1428) {
                continue; // the big file is for the 512-byte rollover and the clamp
            }
            let path = curl(&f, file, blksize);
            f.check(&format!("curl {blksize:?}"), file, &path);
        }
    }
    let big = f.server.transfers_for(BIG, 2);
    // curl asks for 65464; the MTU clamp grants 1468 and curl follows it.
    assert!(big.iter().any(|e| e["blksize"] == 1468), "{big:?}");
    // Every block once, past the 16-bit rollover; a retransmission under a
    // loaded machine is counted apart.
    assert!(
        big.iter().any(|e| e["blksize"] == 512
            && e["data_packets"].as_u64().unwrap_or(0) - e["retransmitted"].as_u64().unwrap_or(0)
                == (BIG_LEN / 512 + 1) as u64),
        "{big:?}"
    );
    assert!(big.iter().all(|e| e["result"] == "ok"));
}

#[test]
fn tftp_hpa_plain_rfc1350() {
    require("tftp");
    let f = fixture("hpa");
    for file in [SMALL, BLOCKS, BIG] {
        let out = f.out.join(format!("hpa-{file}"));
        run(Command::new("tftp")
            .args([
                "-m",
                "binary",
                "127.0.0.1",
                &f.server.port().to_string(),
                "-c",
                "get",
                file,
            ])
            .arg(&out));
        f.check("tftp-hpa", file, &out);
    }
    let ev = &f.server.transfers_for(BLOCKS, 1)[0];
    // 64 full blocks need a 65th, empty one to end the transfer.
    assert_eq!(ev["data_packets"], 65);
    assert_eq!(ev["blksize"], 512);
}

#[test]
fn atftp_blksize_and_windowsize_16() {
    require("atftp");
    let f = fixture("atftp");
    for (opts, files) in [
        (vec![], vec![SMALL, BLOCKS]),
        (vec!["blksize 1428"], vec![SMALL, BLOCKS]),
        (
            vec!["blksize 1428", "windowsize 16"],
            vec![SMALL, BLOCKS, BIG],
        ),
    ] {
        for file in files {
            let out = f.out.join(format!("atftp-{file}"));
            let mut cmd = Command::new("atftp");
            cmd.args(["--get", "-r", file, "-l"]).arg(&out);
            for o in &opts {
                cmd.args(["--option", o]);
            }
            cmd.args(["127.0.0.1", &f.server.port().to_string()]);
            run(&mut cmd);
            f.check(&format!("atftp {opts:?}"), file, &out);
        }
    }
    let big = &f.server.transfers_for(BIG, 1)[0];
    assert_eq!(big["windowsize"], 16);
    assert_eq!(big["blksize"], 1428);
    assert_eq!(big["result"], "ok");
}

#[test]
fn busybox_tftp() {
    require("busybox");
    let f = fixture("busybox");
    for (blk, files) in [
        (None, vec![SMALL, BLOCKS, BIG]),
        (Some("1428"), vec![SMALL, BLOCKS]),
    ] {
        for file in files {
            let out = f.out.join(format!("bb-{file}"));
            let mut cmd = Command::new("busybox");
            cmd.args(["tftp", "-g", "-r", file, "-l"]).arg(&out);
            if let Some(b) = blk {
                cmd.args(["-b", b]);
            }
            cmd.args(["127.0.0.1", &f.server.port().to_string()]);
            run(&mut cmd);
            f.check(&format!("busybox {blk:?}"), file, &out);
        }
    }
}

#[test]
fn case_insensitive_names_and_subfolders_over_the_wire() {
    require("curl");
    let f = fixture("case");
    let root = f._scratch.path().join("root");
    write_file(&root.join("Desktops/320x212x16/List.xml"), b"<list/>");
    let out = f.out.join("list");
    run(Command::new("curl")
        .args(["-sS", "--fail", "-o"])
        .arg(&out)
        .arg(format!(
            "tftp://127.0.0.1:{}/desktops/320X212X16/LIST.xml",
            f.server.port()
        )));
    assert_eq!(std::fs::read(&out).unwrap(), b"<list/>");
    let lower = curl(&f, &SMALL.to_lowercase(), None);
    f.check("curl lower-case MAC", SMALL, &lower);
}
