//! The dashboard in a real browser: headless Chromium driven over W3C
//! WebDriver (chromedriver, both from Debian, installed by
//! `scripts/install-peers`), against `phoneboot serve` on loopback while the
//! phone simulator and TFTP clients make traffic. Screenshots go to
//! `target/test-artifacts/dashboard/`.
//!
//! The WebDriver client is a few JSON calls over a plain TCP stream (the
//! crates for it bring large trees). [`wait_phone_row`] and [`phone_row`]
//! read the phones table; a test where the engine provisions phones can wait
//! on them for rows and progress.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// A MAC-bearing name the root serves as-is (SEP….cnf.xml is generated).
const PHONE: &str = "CTLSEP001122334455.tlv";
const SIM_MAC: &str = "00:1e:4a:00:00:01";
const WAIT: Duration = Duration::from_secs(30);

/// `target/test-artifacts/dashboard/`, created.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- a minimal W3C WebDriver client ---------------------------------------

/// One HTTP/1.1 request to chromedriver: `(status, JSON body)`.
fn wd_http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // chromedriver keeps connections open whatever `Connection` says: read
    // by Content-Length (or to the last chunk), not to the end.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let (split, head) = loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "chromedriver closed the connection on {method} {path}"
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (i, String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase());
        }
    };
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body = &buf[split + 4..];
        let complete = match length {
            Some(len) => body.len() >= len,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let n = s.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut payload = buf[split + 4..].to_vec();
    if chunked {
        payload = unchunk(&payload);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let v = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    (status, v)
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c:?}"),
        }
    };
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for quad in clean.chunks(4) {
        let data: Vec<u8> = quad.iter().copied().filter(|&b| b != b'=').collect();
        let mut n = 0u32;
        for (i, &c) in data.iter().enumerate() {
            n |= value(c) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..data.len()]);
    }
    out
}

/// chromedriver, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start(test: &str) -> Driver {
        require("chromedriver");
        require("chromium");
        // A free port: chromedriver has no "port 0, tell me".
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = artifacts().join(format!("{test}-chromedriver.log"));
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let d = Driver { child, port };
        let deadline = Instant::now() + WAIT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let (_, v) = wd_http(port, "GET", "/status", None);
                if v["value"]["ready"] == true {
                    return d;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session; deleted (browser closed) on drop.
struct Browser {
    id: String,
    profile: Scratch,
    driver: Driver,
    /// Prefix of screenshot names.
    test: &'static str,
}

/// The W3C web element identifier key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    fn start(test: &'static str) -> Browser {
        let driver = Driver::start(test);
        let profile = Scratch::new(&format!("chromium-{test}"));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-proxy-server",
                    "--window-size=1400,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let (status, v) = wd_http(driver.port, "POST", "/session", Some(&caps));
        assert_eq!(status, 200, "new WebDriver session: {v}");
        let id = v["value"]["sessionId"].as_str().unwrap().to_owned();
        Browser {
            id,
            profile,
            driver,
            test,
        }
    }

    /// One command on this session; panics with WebDriver's error.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("/session/{}{path}", self.id);
        let (status, v) = wd_http(self.driver.port, method, &url, body.as_ref());
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `js` (a function body; `arguments[i]` are `args`) in the page.
    fn script(&self, js: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": js, "args": args })),
        )
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("find {css}: {v}"))
            .to_owned()
    }

    /// A real click on the element `css` finds.
    fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Types `text` into the element `css` finds, after clearing it.
    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Saves a PNG of the page as `<test>-<name>.png` and returns its path.
    fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64_decode(b64.as_str().unwrap());
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let path = artifacts().join(format!("{}-{name}.png", self.test));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    /// Polls `js` until it returns something truthy (not null, false, 0,
    /// "" or []), at most [`WAIT`]; on timeout saves a screenshot and fails.
    fn wait_for(&self, what: &str, js: &str, args: Value) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.script(js, args.clone());
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("timeout-{}", what.replace(' ', "-")));
                panic!(
                    "timed out waiting for {what} (last {v}); see {}",
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn count(&self, css: &str) -> u64 {
        self.script(
            "return document.querySelectorAll(arguments[0]).length",
            json!([css]),
        )
        .as_u64()
        .unwrap()
    }

    fn text(&self, css: &str) -> String {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("/session/{}", self.id);
        let _ = wd_http(self.driver.port, "DELETE", &url, None);
        let _ = &self.profile;
    }
}

// ---- reading the phones table ----------------------------------------------

/// One phones-table row as the page shows it.
#[derive(Debug, Clone, PartialEq)]
struct PhoneRow {
    mac: String,
    /// The stage badge (`downloading`, `done`, …).
    stage: String,
    /// The row's whole text.
    text: String,
    /// The progress bar's `(value, max)`, while the phone downloads.
    progress: Option<(f64, f64)>,
}

/// A JS function of a MAC returning that row's facts, or null.
const READ_PHONE_ROW: &str = "function (mac) {
  const tr = document.querySelector(`#phones tbody tr[data-mac=\"${mac}\"]`);
  if (!tr) return null;
  const bar = tr.querySelector('progress');
  return { mac: tr.dataset.mac, stage: tr.querySelector('.stage').textContent,
           text: tr.textContent, progress: bar ? [bar.value, bar.max] : null };
}";

fn phone_row_from(v: &Value) -> Option<PhoneRow> {
    if v.is_null() {
        return None;
    }
    Some(PhoneRow {
        mac: v["mac"].as_str().unwrap().to_owned(),
        stage: v["stage"].as_str().unwrap().to_owned(),
        text: v["text"].as_str().unwrap().to_owned(),
        progress: v["progress"]
            .as_array()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())),
    })
}

/// The phones-table row of `mac`, as shown now.
fn phone_row(b: &Browser, mac: &str) -> Option<PhoneRow> {
    phone_row_from(&b.script(
        &format!("return ({READ_PHONE_ROW})(arguments[0])"),
        json!([mac]),
    ))
}

/// Waits (at most [`WAIT`]) until the phones table has a row for `mac` for
/// which `done` holds, e.g. `|r| r.progress.is_some_and(|(v, _)| v > seen)`.
fn wait_phone_row(b: &Browser, mac: &str, done: impl Fn(&PhoneRow) -> bool) -> PhoneRow {
    let deadline = Instant::now() + WAIT;
    loop {
        let row = phone_row(b, mac);
        if let Some(r) = row.as_ref().filter(|r| done(r)) {
            return r.clone();
        }
        if Instant::now() > deadline {
            let shot = b.screenshot(&format!("timeout-phone-{}", mac.replace(':', "")));
            panic!("phone row {mac}: {row:?}; see {}", shot.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- traffic ----------------------------------------------------------------

fn tftp_get(server: &Server, file: &str, out: &Path) {
    run(Command::new("tftp")
        .args(["-m", "binary", "127.0.0.1", &server.port().to_string()])
        .args(["-c", "get", file])
        .arg(out));
}

/// A slow phone: fetches `file` over TFTP (blksize 512, lock-step) waiting
/// `pace` before each ACK, so the transfer stays live long enough to watch.
/// Returns the bytes received.
fn slow_tftp_get(server: SocketAddr, file: &str, pace: Duration) -> u64 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(file.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");
    sock.send_to(&rrq, server).unwrap();
    let mut buf = [0u8; 1024];
    let mut got = 0u64;
    let mut expect = 1u16;
    loop {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..2], &[0, 3], "not DATA: {:?}", &buf[..n]);
        let block = u16::from_be_bytes([buf[2], buf[3]]);
        if block == expect {
            got += (n - 4) as u64;
            expect = expect.wrapping_add(1);
        }
        std::thread::sleep(pace);
        sock.send_to(&[0, 4, buf[2], buf[3]], from).unwrap();
        if block == expect.wrapping_sub(1) && n - 4 < 512 {
            return got;
        }
    }
}

/// An active lease in the store, as an earlier DHCP run leaves it.
fn seed_lease(data: &Path) {
    use store::LeaseStore;
    let mut db = store::SqliteStore::open(data.join("leases.sqlite")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    db.apply(&[store::LeaseChange::Upsert(store::LeaseRecord {
        mac: [0, 0x11, 0x22, 0x33, 0x44, 0x55],
        client_id: None,
        ip: [10, 0, 0, 5].into(),
        expires_unix_ms: now + 3_600_000,
        model: Some("7941".into()),
        hostname: None,
    })])
    .unwrap();
}

fn api_status(api: SocketAddr, path: &str) -> u16 {
    http_get(api, "GET", path, "").0
}

// ---- tests --------------------------------------------------------------------

#[test]
fn the_dashboard_follows_traffic_live() {
    require("tftp");
    let s = Scratch::new("dashboard-live");
    let root = s.path().join("root");
    write_file(&root.join(PHONE), b"<device/>\n");
    write_file(&root.join("big.bin"), &random_bytes(300_000, 3));
    let data = s.path().join("data");
    let bundles = s.path().join("bundles");
    std::fs::create_dir_all(&bundles).unwrap();
    // SIP41 is imported with the CLI; SIP45 (what the simulated 7965s walk
    // to) has images big enough that a download, slowed by loss, is seen
    // in progress.
    let bundle = library::fixtures::Bundle::new("SIP41.9-4-2SR3-1S")
        .unwrap()
        .write(&bundles, library::Format::Zip)
        .unwrap();
    let big = library::fixtures::Bundle::new("SIP45.9-4-2SR3-1S")
        .unwrap()
        .image_size(1_500_000)
        .write(&bundles, library::Format::Zip)
        .unwrap();
    let out = Command::new(BIN)
        .args(["firmware", "import"])
        .arg(&bundle)
        .arg(&big)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    seed_lease(&data);
    let cfg = s.path().join("phoneboot.toml");
    std::fs::write(
        &cfg,
        "[families.79x5]\nstart_load = \"SCCP45.9-3-1SR1-1S\"\n[provision]\nsettle = \"1s\"\n",
    )
    .unwrap();
    let server = Server::start(&root, &data, &["--config", cfg.to_str().unwrap()]);
    let api = server.api_addr();
    let base = format!("http://{api}");

    let b = Browser::start("live");
    b.goto(&format!("{base}/#/events"));
    b.wait_for("the script to run", "return !!window.phoneboot", json!([]));
    b.wait_for(
        "the event stream",
        "return document.querySelector('#live').classList.contains('on')",
        json!([]),
    );

    // The simulator provisions two phones while the page watches.
    let tftp = server.addr.to_string();
    let sim = std::thread::spawn(move || {
        Command::new(BIN)
            .args(["simulate", "--server", &tftp, "--json", "--timeout", "120s"])
            .args([
                "--reboot-delay",
                "0s",
                "--mac-base",
                SIM_MAC,
                "--loss",
                "0.03",
            ])
            .args(["--mix", "7965:SCCP45.9-3-1SR1-1S:2"])
            .args(["--source-net", "127.12.0.0/16"])
            .output()
            .unwrap()
    });
    b.wait_for(
        "a simulated phone's config transfer",
        "return [...document.querySelectorAll('#event-list li[data-type=tftp_transfer]')]
           .some(li => li.dataset.mac === arguments[0] && li.textContent.includes('XMLDefault.cnf.xml'))",
        json!([SIM_MAC]),
    );
    // The phones table: a row appears for the phone, and its download's
    // progress bar moves while the simulator fetches the firmware.
    b.click("a[data-tab=phones]");
    let first = wait_phone_row(&b, SIM_MAC, |r| r.progress.is_some_and(|(v, _)| v > 0.0));
    b.screenshot("phones-downloading");
    let (v1, _) = first.progress.unwrap();
    let moved = wait_phone_row(&b, SIM_MAC, |r| {
        r.stage != "downloading" || r.progress.is_some_and(|(v, _)| v > v1)
    });
    assert!(
        moved.stage != "downloading" || moved.progress.unwrap().0 > v1,
        "{first:?} -> {moved:?}"
    );
    b.click("a[data-tab=events]");
    let sim = sim.join().unwrap();
    assert!(
        sim.status.success(),
        "the simulated phones did not settle: {}",
        String::from_utf8_lossy(&sim.stdout)
    );
    b.wait_for(
        "the firmware downloads",
        "return [...document.querySelectorAll('#event-list li[data-type=tftp_transfer]')]
           .some(li => li.textContent.includes('SIP45.9-4-2SR3-1S.loads') && li.textContent.includes(' ok '))",
        json!([]),
    );
    b.screenshot("events");

    // Pause: events keep arriving but the list does not grow; resume shows them.
    b.click("#ev-pause");
    let shown = b.count("#event-list li");
    tftp_get(&server, PHONE, &s.path().join("got"));
    b.wait_for(
        "the paused page to hold the new transfer",
        "return phoneboot.state.pending.some(e => e.type === 'tftp_transfer' && e.file === arguments[0])",
        json!([PHONE]),
    );
    assert!(
        b.text("#ev-status").contains("paused"),
        "{}",
        b.text("#ev-status")
    );
    assert_eq!(
        b.count("#event-list li"),
        shown,
        "the list grew while paused"
    );
    b.screenshot("events-paused");
    b.click("#ev-pause");
    assert!(
        b.count("#event-list li") > shown,
        "resume did not add the held events"
    );
    let top = b.text("#event-list li[data-type=tftp_transfer]");
    assert!(top.contains(PHONE), "newest transfer first: {top}");

    // Filter by MAC in another notation: only that phone's events remain.
    b.type_into("#ev-mac", "001E4A000002");
    let macs = b.script(
        "return [...document.querySelectorAll('#event-list li')].map(li => li.dataset.mac)",
        json!([]),
    );
    let macs = macs.as_array().unwrap();
    assert!(!macs.is_empty());
    assert!(macs.iter().all(|m| m == "00:1e:4a:00:00:02"), "{macs:?}");
    b.screenshot("events-filtered");

    // Transfers: a slow download's progress bar moves, then it is listed as done.
    b.click("a[data-tab=transfers]");
    let tftp = server.addr;
    let slow =
        std::thread::spawn(move || slow_tftp_get(tftp, "big.bin", Duration::from_millis(10)));
    let read_bar =
        "const bar = document.querySelector('#transfers-live tr[data-file=\"big.bin\"] progress');
                    return bar && bar.value > arguments[0] ? [bar.value, bar.max] : null";
    let first = b.wait_for("big.bin's progress bar", read_bar, json!([0]));
    let (v1, max) = (first[0].as_f64().unwrap(), first[1].as_f64().unwrap());
    assert_eq!(max, 300_000.0);
    assert!(v1 < max, "{first}");
    b.screenshot("transfers-progress");
    let second = b.wait_for("big.bin's progress to move", read_bar, json!([v1]));
    assert!(second[0].as_f64().unwrap() > v1);
    assert_eq!(slow.join().unwrap(), 300_000);
    b.wait_for(
        "big.bin among the finished transfers",
        "const tr = document.querySelector('#transfers-recent tr[data-file=\"big.bin\"]');
         return tr && tr.textContent.includes('ok')",
        json!([]),
    );
    b.screenshot("transfers-done");

    // A phone's page (any MAC notation in the URL): its timeline, live.
    b.goto(&format!("{base}/#/phone/00:1E:4A:00:00:01"));
    b.wait_for(
        "the phone's timeline",
        "return document.querySelectorAll('#phone-timeline li').length > 0",
        json!([]),
    );
    let macs = b.script(
        "return [...document.querySelectorAll('#phone-timeline li')].map(li => li.dataset.mac)",
        json!([]),
    );
    assert!(
        macs.as_array().unwrap().iter().all(|m| m == SIM_MAC),
        "{macs}"
    );
    assert!(b
        .text("#phone-timeline")
        .contains("SEP001E4A000001.cnf.xml"));
    b.screenshot("phone");

    // Phones: rows once the engine serves /api/phones; until then a note.
    b.click("a[data-tab=phones]");
    if api_status(api, "/api/phones") == 404 {
        b.wait_for(
            "the no-engine note",
            "const n = document.querySelector('#phones-note'); return !n.hidden && n.textContent",
            json!([]),
        );
        assert_eq!(b.count("#phones tbody tr"), 0);
    } else {
        let row = wait_phone_row(&b, SIM_MAC, |r| r.stage == "done");
        assert!(row.text.contains("SIP45.9-4-2SR3-1S"), "{row:?}");
    }
    b.screenshot("phones");

    // Firmware with completeness, leases, desired state.
    b.click("a[data-tab=firmware]");
    b.wait_for(
        "the imported load",
        "const tr = document.querySelector('#firmware tr[data-load=\"SIP41.9-4-2SR3-1S\"]');
         return tr && tr.textContent.includes('complete')",
        json!([]),
    );
    b.screenshot("firmware");
    b.click("a[data-tab=leases]");
    b.wait_for(
        "the lease from the store",
        "const tr = document.querySelector('#leases tr[data-mac=\"00:11:22:33:44:55\"]');
         return tr && tr.textContent.includes('10.0.0.5') && tr.textContent.includes('active')",
        json!([]),
    );
    b.screenshot("leases");
    b.click("a[data-tab=desired]");
    let desired = if api_status(api, "/api/desired") == 404 {
        "const n = document.querySelector('#desired-note'); return !n.hidden && n.textContent.includes('/api/desired')"
    } else {
        "return document.querySelector('#desired').textContent.length > 2"
    };
    b.wait_for("the desired state", desired, json!([]));
    b.screenshot("desired");
    assert_eq!(b.script("return phoneboot.errors", json!([])), json!([]));
}

/// The engine's `/api/phones` shape, rendered: progress bars, diagnosis,
/// filter and sort. Rendered and read in one script, so the page's own
/// refresh (which finds no engine yet) cannot interleave.
#[test]
fn a_token_becomes_a_session_cookie_and_the_phones_table_renders_the_engine_shape() {
    let token = "dash-token-0123456789abcdef";
    let s = Scratch::new("dashboard-token");
    let root = s.path().join("root");
    write_file(&root.join(PHONE), b"<device/>\n");
    let server = Server::start(&root, &s.path().join("data"), &["--http-token", token]);
    let api = server.api_addr();
    let base = format!("http://{api}");

    let b = Browser::start("token");
    b.goto(&format!("{base}/"));
    assert!(
        b.text("body").contains("/?token="),
        "no log-in help: {}",
        b.text("body")
    );
    b.goto(&format!("{base}/?token={token}#/events"));
    b.wait_for(
        "the event stream with the cookie",
        "return document.querySelector('#live').classList.contains('on')",
        json!([]),
    );
    let href = b.script("return location.href", json!([]));
    assert_eq!(
        href,
        format!("{base}/#/events"),
        "the token left the address bar"
    );
    assert_eq!(
        b.script("return document.cookie", json!([])),
        "",
        "HttpOnly"
    );
    let html = b.script("return document.documentElement.outerHTML", json!([]));
    assert!(!html.as_str().unwrap().contains(token));
    tftp_get(&server, PHONE, &s.path().join("got"));
    b.wait_for(
        "a transfer through the cookie-authenticated stream",
        "return document.querySelector('#event-list li[data-type=tftp_transfer]')",
        json!([]),
    );
    b.wait_for(
        "the status line",
        "return document.querySelector('#summary').textContent.includes('phoneboot')",
        json!([]),
    );

    b.click("a[data-tab=phones]");
    let phones = json!([
        { "mac": "00:1e:4a:00:00:01", "ip": "10.0.0.5", "model": "7960", "protocol": "SIP",
          "stage": "downloading", "stage_text": "downloading hop 2 of 3 (P00308000900)",
          "current_load": "P00305000500", "next_load": "P00308000900", "target_load": "P0S3-8-12-00",
          "hops_done": 1, "hops_total": 3,
          "progress": { "files_done": 1, "files_total": 3, "bytes_done": 12345, "bytes_total": 99999 },
          "diagnosis": null, "last_seen_unix_ms": 1764133200000u64 },
        { "mac": "00:1e:4a:00:00:02", "ip": "10.0.0.10", "model": "7941", "protocol": "SCCP",
          "stage": "stalled", "stage_text": "waiting for SCCP41.8-5-2S",
          "current_load": null, "next_load": null, "target_load": "SCCP41.9-4-2SR3-1S",
          "hops_done": 0, "hops_total": 2, "progress": null,
          "diagnosis": { "code": "missing_load", "message": "SCCP41.8-5-2S is not in the library",
                         "fix": "import cmterm-7941_7961-sccp.8-5-2.zip" },
          "last_seen_unix_ms": 1764133100000u64 },
        { "mac": "00:1e:4a:00:00:03", "ip": null, "model": null, "protocol": "SIP",
          "stage": "done", "stage_text": "on P0S3-8-12-00", "current_load": "P0S3-8-12-00",
          "next_load": null, "target_load": "P0S3-8-12-00", "hops_done": 3, "hops_total": 3,
          "progress": null, "diagnosis": null, "last_seen_unix_ms": 1764133000000u64 },
    ]);
    let shown = b.script(
        &format!(
            "phoneboot.renderPhones(arguments[0]);
             const read = {READ_PHONE_ROW};
             const order = () => [...document.querySelectorAll('#phones tbody tr')].map(tr => tr.dataset.mac);
             const out = {{ rows: arguments[0].map(p => read(p.mac)), order: order() }};
             document.querySelector('#phones th[data-sort=progress]').click();
             out.byProgress = order();
             document.querySelector('#phones th[data-sort=progress]').click();
             out.byProgressDesc = order();
             const f = document.querySelector('#phone-filter');
             f.value = 'missing_load';
             f.dispatchEvent(new Event('input'));
             out.filtered = order();
             f.value = '001E4A000003';
             f.dispatchEvent(new Event('input'));
             out.byMac = order();
             f.value = '';
             f.dispatchEvent(new Event('input'));
             return out;"
        ),
        json!([phones]),
    );
    let rows: Vec<PhoneRow> = shown["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| phone_row_from(v).expect("a row per phone"))
        .collect();
    assert_eq!(rows[0].stage, "downloading");
    assert_eq!(rows[0].progress, Some((12345.0, 99999.0)));
    assert!(
        rows[0]
            .text
            .contains("P00305000500 → P0S3-8-12-00 (next P00308000900)"),
        "{rows:?}"
    );
    assert!(rows[0].text.contains("hop 1 of 3") && rows[0].text.contains("files 1/3"));
    assert_eq!(rows[1].progress, None);
    assert!(rows[1].text.contains("SCCP41.8-5-2S is not in the library"));
    assert!(rows[1]
        .text
        .contains("Fix: import cmterm-7941_7961-sccp.8-5-2.zip"));
    assert_eq!(rows[2].stage, "done");
    let macs = |k: &str| -> Vec<String> {
        shown[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect()
    };
    let m = |n: u8| format!("00:1e:4a:00:00:0{n}");
    assert_eq!(macs("order"), [m(1), m(2), m(3)]);
    // 0 of 2 hops, 12345/99999 bytes, 3 of 3 hops.
    assert_eq!(macs("byProgress"), [m(2), m(1), m(3)]);
    assert_eq!(macs("byProgressDesc"), [m(3), m(1), m(2)]);
    assert_eq!(macs("filtered"), [m(2)]);
    assert_eq!(macs("byMac"), [m(3)]);
    b.script("phoneboot.renderPhones(arguments[0])", json!([phones]));
    b.screenshot("phones-engine-shape");
    assert_eq!(b.script("return phoneboot.errors", json!([])), json!([]));
}

/// The cookie path without a browser: what `/?token=` answers, which
/// requests the cookie opens, and that header clients see no change.
#[test]
fn the_session_cookie_opens_the_api_and_nothing_else_changes() {
    let token = "cookie-token-0123456789";
    let s = Scratch::new("dashboard-cookie");
    let root = s.path().join("root");
    write_file(&root.join(PHONE), b"<device/>\n");
    let server = Server::start(&root, &s.path().join("data"), &["--http-token", token]);
    let api = server.api_addr();

    // No credentials: the page explains, the API answers JSON as before.
    let (status, head, body) = http_get(api, "GET", "/", "");
    assert_eq!(status, 401);
    let body = String::from_utf8_lossy(&body);
    assert!(head.to_ascii_lowercase().contains("text/html"), "{head}");
    assert!(body.contains("/?token=") && !body.contains(token), "{body}");
    for path in ["/assets/app.js", "/api/status"] {
        let (status, _, body) = http_get(api, "GET", path, "");
        assert_eq!(status, 401, "{path}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("token"), "{v}");
    }

    // A wrong token sets nothing.
    let (status, head, body) = http_get(api, "GET", "/?token=wrong-token", "");
    assert_eq!(status, 401);
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("not this server's token"));
    // Only the page takes ?token=: the API does not.
    let (status, head, _) = http_get(api, "GET", &format!("/api/status?token={token}"), "");
    assert_eq!(status, 401);
    assert!(!head.to_ascii_lowercase().contains("set-cookie"));

    // The right token: a redirect to `/` with the cookie, which is not the token.
    let (status, head, _) = http_get(api, "GET", &format!("/?token={token}"), "");
    assert_eq!(status, 303, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nlocation: /\r\n"), "{head}");
    let set = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l["set-cookie:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(set.contains("Path=/"), "{set}");
    assert!(!head.contains(token), "{head}");
    let pair = set.split(';').next().unwrap().to_owned();
    assert!(pair.starts_with("phoneboot_session="), "{pair}");
    let cookie = format!("Cookie: {pair}\r\n");

    // The cookie opens the page, the assets and every API endpoint.
    for path in [
        "/",
        "/assets/app.js",
        "/assets/app.css",
        "/api/status",
        "/api/events",
        "/metrics",
    ] {
        let (status, head, _) = http_get(api, "GET", path, &cookie);
        assert_eq!(status, 200, "{path} with the cookie: {head}");
    }
    let (status, head, _) = http_get(api, "GET", "/", &cookie);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    // The live stream too (its head arrives before any event).
    let mut sse = TcpStream::connect(api).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        sse,
        "GET /api/events/stream HTTP/1.1\r\nHost: t\r\n{cookie}\r\n"
    )
    .unwrap();
    let mut first = [0u8; 12];
    sse.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // Another value, or the token itself as the cookie, opens nothing.
    for bad in [
        "Cookie: phoneboot_session=00\r\n".to_owned(),
        format!("Cookie: phoneboot_session={token}\r\n"),
        format!("Cookie: other={}\r\n", pair.split('=').nth(1).unwrap()),
    ] {
        assert_eq!(http_get(api, "GET", "/api/status", &bad).0, 401, "{bad}");
    }
    // Header clients are unchanged.
    let bearer = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(http_get(api, "GET", "/api/status", &bearer).0, 200);
    assert_eq!(http_get(api, "GET", "/", &bearer).0, 200);
    assert_eq!(
        http_get(api, "GET", "/api/status", "Authorization: Bearer nope\r\n").0,
        401
    );
}

/// Without a token the page is open and `?token=` only leaves the address bar.
#[test]
fn without_a_token_the_page_is_open() {
    let s = Scratch::new("dashboard-open");
    let server = Server::start(&s.path().join("root"), &s.path().join("data"), &[]);
    let api = server.api_addr();
    let (status, head, body) = http_get(api, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("text/html"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("/assets/app.js"));
    let (status, head, body) = http_get(api, "GET", "/assets/app.js", "");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("text/javascript"),
        "{head}"
    );
    assert!(String::from_utf8_lossy(&body).contains("/api/events/stream"));
    let (status, head, _) = http_get(api, "GET", "/?token=anything", "");
    assert_eq!(status, 303);
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
    assert_eq!(http_get(api, "GET", "/assets/nope.js", "").0, 404);
}

/// The phone page's Reboot button: disabled with the reason for a phone
/// nothing reaches, and an SCCP Reset for one registered with phoneboot.
#[test]
fn the_reboot_button_resets_a_registered_phone() {
    let s = Scratch::new("dashboard-reboot");
    let cfg = s.path().join("phoneboot.toml");
    std::fs::write(&cfg, "[sccp]\nallow = [\"127.13.0.0/16\"]\n").unwrap();
    let server = Server::start(
        &s.path().join("root"),
        &s.path().join("data"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--sccp-listen",
            "127.0.0.1:0",
        ],
    );
    let sccp = server.stdout_addr("phoneboot: SCCP call manager on ");
    let base = format!("http://{}", server.api_addr());
    // One phone seen only over TFTP: known, but nothing reaches it.
    tftp_get(&server, "SEP001E4A000702.cnf.xml", &s.path().join("got"));
    let mut phone = SccpPhone::connect("127.13.0.1", sccp);
    phone.register(
        "SEP001E4A000701",
        sccp::DeviceType::CP7941,
        17,
        Some("SCCP41.8-5-2S"),
    );
    assert!(matches!(phone.recv(), Some(sccp::Message::RegisterAck(_))));
    assert!(matches!(phone.recv(), Some(sccp::Message::CapabilitiesReq)));

    let b = Browser::start("reboot");
    b.goto(&format!("{base}/#/phone/00:1e:4a:00:07:02"));
    let title = b.wait_for(
        "the unreachable phone's disabled button",
        "const r = document.querySelector('#phone-reboot'); return r.disabled && r.title",
        json!([]),
    );
    assert!(title.as_str().unwrap().contains("power-cycle"), "{title}");
    b.screenshot("phone-unreachable");

    b.goto(&format!("{base}/#/phone/00:1e:4a:00:07:01"));
    b.wait_for(
        "the registered phone's session and button",
        "const r = document.querySelector('#phone-reboot');
         return !r.disabled && r.textContent.includes('SCCP Reset')
           && document.querySelector('#phone-facts').textContent.includes('SEP001E4A000701')",
        json!([]),
    );
    b.screenshot("phone-registered");
    b.click("#phone-reboot");
    assert!(matches!(
        phone.recv(),
        Some(sccp::Message::Reset(sccp::ResetType::Reset))
    ));
    b.wait_for(
        "the sent note and the reset in the timeline",
        "return document.querySelector('#phone-reboot-note').textContent.includes('sent')
           && [...document.querySelectorAll('#phone-timeline li[data-type=sccp_reset]')].length > 0",
        json!([]),
    );
    b.screenshot("phone-reset-sent");
    assert_eq!(b.script("return phoneboot.errors", json!([])), json!([]));
}

/// `GET path` as JSON: `(status, body)`.
fn api_json(api: SocketAddr, path: &str) -> (u16, Value) {
    let (status, _, body) = http_get(api, "GET", path, "");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Whether the error `key` names is shown beside its input: in the same
/// table cell or label, with the input marked.
const ERROR_BESIDE: &str = "const key = arguments[0], words = arguments[1];
  const input = document.querySelector(`#desired-form [data-key=\"${key}\"]`);
  const err = document.querySelector(`#desired-form .field-error[data-error-for=\"${key}\"]`);
  if (!input || !err || !err.textContent.includes(words)) return null;
  if (input.parentElement !== err.parentElement || !input.classList.contains('invalid')) return 'not beside';
  const others = [...document.querySelectorAll('#desired-form .field-error')].filter(e => e !== err && e.textContent);
  return others.length ? 'also elsewhere: ' + others.map(e => e.textContent).join('; ') : err.textContent;";

/// The phone page steers: the form fills, saves and shows the change in the
/// API; refused values appear beside their field; the entry is deleted;
/// Retry hop clears a diagnosis.
#[test]
fn the_phone_page_edits_the_desired_state_and_retries_a_hop() {
    let s = Scratch::new("dashboard-steer");
    let data = s.path().join("data");
    import_synthetic(&s, &data, &["P0S3-8-12-00"]);
    let server = Server::start(&s.path().join("root"), &data, &[]);
    let api = server.api_addr();
    let mac = "00:1e:4a:00:09:01";
    let entry = "/api/desired/phones/00:1e:4a:00:09:01";
    // A phone with an old trust list: diagnosed, its walk stopped.
    tftp_ask(&server, "SEP001E4A000901.cnf.xml.sgn");

    let b = Browser::start("steer");
    b.goto(&format!("http://{api}/#/phone/{mac}"));
    b.wait_for(
        "the empty form and the diagnosis",
        "return document.querySelector('#desired-source').textContent.includes('No entry')
           && document.querySelector('#phone-facts').textContent.includes('trust list')
           && !document.querySelector('#phone-retry').disabled",
        json!([]),
    );
    assert!(
        b.script(
            "return document.querySelector('#desired-delete').disabled",
            json!([])
        )
        .as_bool()
        .unwrap(),
        "nothing to delete yet"
    );
    b.screenshot("diagnosed");

    // Retry hop: the diagnosis clears, the retry is in the timeline.
    let (_, v) = api_json(api, &format!("/api/phones/{mac}"));
    assert_eq!(v["diagnosis"]["code"], "old_trust_list", "{v}");
    b.click("#phone-retry");
    b.wait_for(
        "the diagnosis cleared and the retry in the timeline",
        "return document.querySelector('#phone-retry-note').textContent.includes('cleared')
           && !document.querySelector('#phone-facts').textContent.includes('trust list')
           && !document.querySelector('#summary').textContent.includes('trust list')
           && document.querySelector('#phone-retry').disabled
           && [...document.querySelectorAll('#phone-timeline li[data-type=phone]')]
                .some(li => li.textContent.includes('retry'))",
        json!([]),
    );
    let (_, v) = api_json(api, &format!("/api/phones/{mac}"));
    assert!(v["diagnosis"].is_null(), "{v}");
    b.screenshot("retry-cleared");

    // Fill and save: model, protocol, a load the library has for it, label,
    // a line and a speed dial.
    b.type_into("#f-model", "7960");
    b.click("#f-protocol option[value=sip]");
    b.wait_for(
        "the library's 7960 SIP load offered",
        "return document.querySelector('#f-load option[value=\"P0S3-8-12-00\"]')",
        json!([]),
    );
    b.click("#f-load option[value=\"P0S3-8-12-00\"]");
    b.type_into("#f-label", "Front desk");
    b.click("#f-add-line");
    b.type_into("#f-lines [data-key=\"lines[0].extension\"]", "301");
    b.type_into("#f-lines [data-key=\"lines[0].display\"]", "Ann Example");
    b.type_into("#f-lines [data-key=\"lines[0].password\"]", "pw-301-secret");
    b.click("#f-add-dial");
    b.type_into("#f-dials [data-key=\"speed_dials[0].number\"]", "200");
    b.type_into("#f-dials [data-key=\"speed_dials[0].label\"]", "Sales");
    b.screenshot("form-filled");
    b.click("#desired-save");
    b.wait_for(
        "the saved note and the entry set here",
        "return document.querySelector('#desired-note').textContent.includes('Saved')
           && document.querySelector('#desired-source').textContent.includes('set here')",
        json!([]),
    );
    let (status, v) = api_json(api, entry);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "7960");
    assert_eq!(v["protocol"], "sip");
    assert_eq!(v["load"], "P0S3-8-12-00");
    assert_eq!(v["label"], "Front desk");
    assert_eq!(v["lines"][0]["extension"], "301");
    assert_eq!(v["lines"][0]["display"], "Ann Example");
    assert_eq!(v["lines"][0]["password_set"], true);
    assert_eq!(
        v["speed_dials"],
        json!([{"number": "200", "label": "Sales"}])
    );
    // The form shows the stored entry again, the password as "unchanged".
    b.wait_for(
        "the form refilled",
        "const pw = document.querySelector('#f-lines [data-key=\"lines[0].password\"]');
         return pw && pw.value === '' && pw.placeholder === 'unchanged'
           && document.querySelector('#f-load').value === 'P0S3-8-12-00'
           && !document.querySelector('#desired-delete').disabled",
        json!([]),
    );
    b.script(
        "document.querySelector('#phone-steer').scrollIntoView()",
        json!([]),
    );
    b.screenshot("form-saved");

    // A 31-character password: refused, the message beside the password.
    b.type_into("#f-lines [data-key=\"lines[0].password\"]", &"p".repeat(31));
    b.click("#desired-save");
    let shown = b.wait_for(
        "the password error beside its field",
        ERROR_BESIDE,
        json!(["lines[0].password", "31 characters"]),
    );
    assert!(shown.as_str().unwrap().contains("at most 30"), "{shown}");
    assert!(
        !shown.as_str().unwrap().contains("ppp"),
        "the password shown: {shown}"
    );
    b.screenshot("form-error-password");
    // An unknown model: beside the model.
    b.type_into("#f-lines [data-key=\"lines[0].password\"]", "");
    b.type_into("#f-model", "7999");
    b.click("#desired-save");
    let shown = b.wait_for(
        "the model error beside its field",
        ERROR_BESIDE,
        json!(["model", "not a phone model"]),
    );
    assert!(shown.as_str().unwrap().contains("7999"), "{shown}");
    b.screenshot("form-error-model");
    // Neither refusal changed anything.
    let (_, v) = api_json(api, entry);
    assert_eq!(v["model"], "7960", "{v}");

    // Delete: the API has no entry, the form is empty again.
    b.click("#desired-delete");
    b.wait_for(
        "the entry deleted",
        "return document.querySelector('#desired-note').textContent.includes('deleted')
           && document.querySelector('#desired-source').textContent.includes('No entry')
           && document.querySelectorAll('#f-lines tbody tr').length === 0",
        json!([]),
    );
    assert_eq!(api_json(api, entry).0, 404);

    assert_eq!(b.script("return phoneboot.errors", json!([])), json!([]));
}

/// The operator's own files: a per-phone config the phone follows (its
/// source on the phone page), a broken XMLDefault flagged with its line,
/// and firmware lying in the root.
#[test]
fn the_dashboard_shows_the_operators_root_files_and_who_follows_them() {
    let s = Scratch::new("dashboard-root");
    let root = s.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("SEP001E4A000801.cnf.xml"),
        "<device>\n<loadInformation>SCCP41.8-5-2S</loadInformation>\n</device>\n",
    )
    .unwrap();
    std::fs::write(
        root.join("XMLDefault.cnf.xml"),
        "<Default>\n<loadInformation7>P00305000500</loadInformation8>\n</Default>\n",
    )
    .unwrap();
    let bundle = library::fixtures::Bundle::new("SCCP41.8-5-2S").unwrap();
    for (name, bytes) in bundle.files() {
        std::fs::write(root.join(name), bytes).unwrap();
    }
    let server = Server::start(&root, &s.path().join("data"), &[]);
    let base = format!("http://{}", server.api_addr());
    tftp_get(&server, "SEP001E4A000801.cnf.xml", &s.path().join("got"));

    let b = Browser::start("root-files");
    b.goto(&format!("{base}/#/phone/00:1e:4a:00:08:01"));
    let source = b.wait_for(
        "the operator's file as the phone's config source",
        "const e = document.querySelector('#phone-config-source'); return e && e.textContent",
        json!([]),
    );
    let source = source.as_str().unwrap();
    assert!(
        source.contains("SEP001E4A000801.cnf.xml") && source.contains("names SCCP41.8-5-2S"),
        "{source}"
    );
    b.wait_for(
        "the broken XMLDefault in the status line",
        "return document.querySelector('#summary').textContent.includes('XMLDefault.cnf.xml')",
        json!([]),
    );
    let summary = b.text("#summary");
    assert!(summary.contains("line 2, column"), "{summary}");
    b.screenshot("root-phone-source");
    b.goto(&format!("{base}/#/firmware"));
    b.wait_for(
        "the root's load and notes",
        "return [...document.querySelectorAll('#firmware tr')].some(r => r.textContent.includes('in the TFTP root'))
           && document.querySelectorAll('#root-notes li').length >= 2",
        json!([]),
    );
    let notes = b.text("#root-notes");
    assert!(
        notes.contains("phone 00:1e:4a:00:08:01 follows it instead of a generated config"),
        "{notes}"
    );
    assert!(notes.contains("phones will refuse it"), "{notes}");
    b.screenshot("root-firmware-notes");
    assert_eq!(b.script("return phoneboot.errors", json!([])), json!([]));
}
