//! `phoneboot demo` end to end: the real binary builds its two
//! network namespaces, runs serve and simulated phones in them, proxies the
//! dashboard to a loopback port here, and leaves nothing behind, whether it
//! ends by itself or by SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{require, BIN};

/// A running `phoneboot demo` with its stdout collected; killed on drop so
/// a failed assertion does not leave it running.
struct Demo {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    api: SocketAddr,
}

impl Demo {
    fn start(extra: &[&str]) -> Demo {
        require("ip");
        let api = free_port();
        let mut child = Command::new(BIN)
            .args(["demo", "--http-listen", &api.to_string()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn phoneboot demo");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = stdout.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        Demo {
            child,
            stdout,
            stderr,
            api,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// Polls `/api/phones` through the demo's proxy until it lists phones.
    fn wait_for_phones(&mut self, within: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(phones) = get_json(self.api, "/api/phones")
                .and_then(|v| v.as_array().cloned())
                .filter(|a| !a.is_empty())
            {
                return phones;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the demo ended before the API listed phones\n{}",
                self.output()
            );
            assert!(
                Instant::now() < deadline,
                "no phones on /api/phones within {within:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not end within {within:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fails unless nothing the demo created is left: namespaces, the host
    /// side never having a veth, processes started with its config, files.
    fn assert_cleaned_up(&self) {
        let pid = self.pid();
        let netns = run_ok(Command::new("ip").args(["netns", "list"]));
        for ns in [format!("pbdemo-srv-{pid}"), format!("pbdemo-phones-{pid}")] {
            assert!(
                !netns.split_whitespace().any(|w| w == ns),
                "{ns} left behind: {netns}"
            );
        }
        let links = run_ok(Command::new("ip").args(["-o", "link"]));
        assert!(
            !links.contains(&format!("pbd-s{pid}")) && !links.contains(&format!("pbd-p{pid}")),
            "a demo veth is in the host namespace: {links}"
        );
        let dir = std::env::temp_dir().join(format!("phoneboot-demo-{pid}"));
        assert!(!dir.exists(), "{} left behind", dir.display());
        let marker = dir.join("phoneboot.toml").display().to_string();
        let marker2 = format!("pbd-p{pid}");
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            assert!(
                !cmdline.contains(&marker) && !cmdline.contains(&marker2),
                "a demo process is still running: {cmdline}"
            );
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL, so even a failing test cleans up.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill").arg(self.pid().to_string()).status();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn run_ok(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&common::run(cmd).stdout).into_owned()
}

/// One GET; `None` while the proxy or the API is not there yet.
fn get_json(addr: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if !buf.starts_with(b"HTTP/1.1 200") {
        return None;
    }
    serde_json::from_slice(&buf[split + 4..]).ok()
}

#[test]
fn the_demo_walks_every_phone_to_sip_and_leaves_nothing_behind() {
    let mut demo = Demo::start(&["--phones", "8", "--exit-when-done", "--reboot-delay", "1s"]);
    let phones = demo.wait_for_phones(Duration::from_secs(60));
    assert!(
        phones.iter().all(|p| p["mac"]
            .as_str()
            .is_some_and(|m| m.starts_with("00:1e:4a:"))),
        "{phones:#?}"
    );
    let status = demo.wait_exit(Duration::from_secs(90));
    let out = demo.output();
    assert!(status.success(), "{status}\n{out}");
    assert!(
        out.contains(&format!("dashboard at http://{}/", demo.api)),
        "{out}"
    );
    assert!(
        out.contains("8 of 8 phones settled, 18 hops; every phone reached SIP"),
        "{out}"
    );
    for line in [
        "7940: 2 × P0S3-8-12-00",
        "7960: 2 × P0S3-8-12-00",
        "7941: 2 × SIP41.9-4-2SR3-1S",
        "7965: 2 × SIP45.9-4-2SR3-1S",
    ] {
        assert!(out.contains(line), "{line:?} missing\n{out}");
    }
    assert!(out.contains("cleaned up"), "{out}");
    demo.assert_cleaned_up();
}

#[test]
fn sigterm_mid_walk_stops_everything_and_cleans_up() {
    // Long reboots: the phones are still walking when SIGTERM comes.
    let mut demo = Demo::start(&["--phones", "4", "--reboot-delay", "60s"]);
    demo.wait_for_phones(Duration::from_secs(60));
    let pid = demo.pid();
    let netns = run_ok(Command::new("ip").args(["netns", "list"]));
    assert!(netns.contains(&format!("pbdemo-phones-{pid}")), "{netns}");
    assert!(
        demo.child.try_wait().unwrap().is_none(),
        "the demo ended by itself\n{}",
        demo.output()
    );
    common::run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    let status = demo.wait_exit(Duration::from_secs(30));
    let out = demo.output();
    assert!(status.success(), "{status}\n{out}");
    assert!(
        out.contains("stopping") && out.contains("cleaned up"),
        "{out}"
    );
    assert!(!out.contains("every phone reached SIP"), "{out}");
    demo.assert_cleaned_up();
}
