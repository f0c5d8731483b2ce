//! Test support: run the real `phoneboot` binary, talk to it with real
//! clients, read its events. Every server listens on loopback (or inside a
//! network namespace the test creates) and is killed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_phoneboot");

/// A scratch folder removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("phoneboot-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails loudly when a peer program is missing: `.ci/run` installs them, and
/// a test that silently skips would hide a broken install step.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{program} is not installed; run `.ci/install-peers` (the test command does)"
    );
}

/// A running `phoneboot serve`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    pub stdout_line: String,
}

impl Server {
    /// Starts `phoneboot serve` on 127.0.0.1, an ephemeral port, with `root`.
    pub fn start(root: &Path, data: &Path, extra: &[&str]) -> Server {
        let mut args = vec![
            "serve".to_owned(),
            "--tftp-listen".into(),
            "127.0.0.1:0".into(),
            "--root".into(),
            root.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::spawn(Command::new(BIN).args(&args))
    }

    /// Spawns a prepared command (e.g. under `ip netns exec`) and waits for
    /// its "listening" line.
    pub fn spawn(cmd: &mut Command) -> Server {
        let mut child = cmd
            .arg("--log-format")
            .arg("json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn phoneboot");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in stdout.lines() {});
        let addr = first
            .split_whitespace()
            .find_map(|w| w.trim_end_matches(',').parse::<SocketAddr>().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "phoneboot did not start: stdout {first:?}, stderr {:?}",
                    lines.lock().unwrap()
                )
            });
        Server {
            child,
            addr,
            lines,
            stdout_line: first,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every event logged so far, as JSON.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
            .filter_map(|e| serde_json::from_str(&e).ok())
            .collect()
    }

    pub fn log_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until `n` transfer events for `file` have arrived. Events are
    /// written after the transfer ends, so this waits on the process, not on
    /// a guess about timing.
    pub fn transfers_for(&self, file: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found: Vec<_> = self
                .events()
                .into_iter()
                .filter(|e| e["type"] == "tftp_transfer" && e["file"] == file)
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {n} transfer events for {file:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log contains `needle`. A refusal is logged after the
    /// client got its error, so a check right after the client returns races.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle:?} never logged:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Sends SIGTERM and waits for the exit, keeping the log readable (for
    /// lines written at shutdown).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().unwrap()
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Random bytes from a seed (xorshift), so files differ but tests repeat.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
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

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

pub fn write_file(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::File::create(path)
        .unwrap()
        .write_all(data)
        .unwrap();
}

/// Runs a command, panicking with its output if it fails.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace pair joined by a veth, removed on drop. Names carry
/// the process id so parallel runs do not collide; leftovers of a crashed
/// run with the same names are removed first.
pub struct NetnsPair {
    pub server_ns: String,
    pub client_ns: String,
    pub server_ip: String,
    pub client_ip: String,
}

impl NetnsPair {
    pub fn new(tag: &str, subnet_octet: u8) -> NetnsPair {
        let id = std::process::id() % 10000;
        let pair = NetnsPair {
            server_ns: format!("pb{tag}s{id}"),
            client_ns: format!("pb{tag}c{id}"),
            server_ip: format!("10.231.{subnet_octet}.1"),
            client_ip: format!("10.231.{subnet_octet}.2"),
        };
        pair.cleanup();
        let veth_s = format!("v{tag}s{id}");
        let veth_c = format!("v{tag}c{id}");
        let sh = |args: &str| {
            run(Command::new("sh").arg("-c").arg(args));
        };
        sh(&format!("ip netns add {}", pair.server_ns));
        sh(&format!("ip netns add {}", pair.client_ns));
        sh(&format!(
            "ip link add {veth_s} netns {} type veth peer name {veth_c} netns {}",
            pair.server_ns, pair.client_ns
        ));
        for (ns, dev, ip) in [
            (&pair.server_ns, &veth_s, &pair.server_ip),
            (&pair.client_ns, &veth_c, &pair.client_ip),
        ] {
            sh(&format!("ip -n {ns} addr add {ip}/24 dev {dev}"));
            sh(&format!("ip -n {ns} link set {dev} up"));
            sh(&format!("ip -n {ns} link set lo up"));
        }
        pair
    }

    pub fn in_server(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.server_ns, program]);
        c
    }

    pub fn in_client(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.client_ns, program]);
        c
    }

    fn cleanup(&self) {
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        self.cleanup();
    }
}
