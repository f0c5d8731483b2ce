//! tftp-load against the real `phoneboot serve` on 127.0.0.1 (an ephemeral
//! port), in-process and through the `tftp-load` binary.
//!
//! The phoneboot binary is the workspace's own build (`cargo test
//! --workspace` builds it next to this test) or `$PHONEBOOT_BIN`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sha2::{Digest, Sha256};
use tftp_load::{Config, Expect};

fn phoneboot_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PHONEBOOT_BIN") {
        return p.into();
    }
    // target/<profile>/deps/<this test> -> target/<profile>/phoneboot
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("phoneboot"))
        .unwrap();
    assert!(
        bin.is_file(),
        "{} not found: run `cargo build -p phoneboot` first (cargo test --workspace does), \
         or set PHONEBOOT_BIN",
        bin.display()
    );
    bin
}

struct Phoneboot {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Phoneboot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(name: &str, files: &[(&str, &[u8])]) -> Phoneboot {
    let dir = std::env::temp_dir().join(format!("tftp-load-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    for (f, data) in files {
        std::fs::write(root.join(f), data).unwrap();
    }
    let config = dir.join("phoneboot.toml");
    std::fs::write(
        &config,
        "[tftp]\nmax_per_client = 1000\nmax_transfers = 1000\n",
    )
    .unwrap();
    let mut child = Command::new(phoneboot_bin())
        .arg("serve")
        .arg("--tftp-listen=127.0.0.1:0")
        .args(["--http-listen", "127.0.0.1:0", "--phone-http-listen", "off"])
        .arg("--root")
        .arg(&root)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn phoneboot");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    std::thread::spawn(move || for _ in out.lines() {});
    // "phoneboot: TFTP listening on 127.0.0.1:PORT, serving ..."
    let addr = first
        .split_whitespace()
        .find_map(|w| w.trim_end_matches(',').parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        panic!("phoneboot did not start: {first:?}");
    };
    Phoneboot { child, addr, dir }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn fifty_concurrent_windowed_downloads_from_phoneboot() {
    let data = random_bytes(300_000);
    let server = start("inproc", &[("fw.bin", &data)]);
    let mut cfg = Config::new(server.addr, "fw.bin");
    cfg.bind = "127.0.0.1".parse().unwrap();
    cfg.blksize = Some(1428);
    cfg.windowsize = Some(16);
    cfg.tsize = true;
    cfg.concurrency = 50;
    cfg.transfers = Some(100);
    cfg.expect = Expect {
        size: Some(data.len() as u64),
        sha256: Some(Sha256::digest(&data).into()),
    };
    let r = tftp_load::run(&cfg).unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.transfers_ok, 100);
    assert_eq!(r.bytes, 100 * data.len() as u64);
    assert_eq!(r.negotiated, Some((1428, 16)));
    assert_eq!(r.sha256_ok, Some(true));
}

#[test]
fn binary_prints_one_json_line_and_fails_on_a_missing_file() {
    let data = random_bytes(70_000);
    let server = start("bin", &[("a.bin", &data)]);
    let dir = server.dir.join("root");
    let load = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tftp-load"))
            .arg(server.addr.to_string())
            .args(args)
            .output()
            .unwrap()
    };
    let expect = format!("--expect-file={}", dir.join("a.bin").display());
    let out = load(&["a.bin", "-c", "4", "-n", "8", "--blksize", "512", &expect]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["transfers_ok"], 8);
    assert_eq!(j["transfers_failed"], 0);
    assert_eq!(j["bytes"], 8 * data.len() as u64);
    assert_eq!(j["sha256_ok"], true);
    assert_eq!(j["negotiated_blksize"], 512);

    let out = load(&["nope.bin", "--timeout-ms", "200"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["transfers_failed"], 1);
    assert!(j["first_error"]
        .as_str()
        .unwrap()
        .contains("server error 1"));
}
