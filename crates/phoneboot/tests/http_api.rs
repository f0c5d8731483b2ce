//! The operator API, its event stream, `/metrics`, the `status`/`events`
//! CLI, and phone HTTP file serving, against the real binary on loopback.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use library::fixtures::Bundle;
use library::Format;
use serde_json::Value;
use store::LeaseStore;

/// A MAC-bearing name the root serves as-is (SEP….cnf.xml would be generated).
const PHONE: &str = "CTLSEP001122334455.tlv";
const PHONE_MAC: &str = "00:11:22:33:44:55";

fn json_get(addr: SocketAddr, path: &str, headers: &str) -> (u16, Value) {
    let (status, head, body) = http_get(addr, "GET", path, headers);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{path}: not JSON: {head}\n{}",
        String::from_utf8_lossy(&body)
    );
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&body)));
    (status, v)
}

fn ok_json(addr: SocketAddr, path: &str) -> Value {
    let (status, v) = json_get(addr, path, "");
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// `tftp-hpa` fetches `file` into `out`.
fn tftp_get(server: &Server, file: &str, out: &Path) {
    run(Command::new("tftp")
        .args([
            "-m",
            "binary",
            "127.0.0.1",
            &server.port().to_string(),
            "-c",
            "get",
            file,
        ])
        .arg(out));
}

fn root_with_phone_files(scratch: &Scratch) -> std::path::PathBuf {
    let root = scratch.path().join("root");
    write_file(&root.join(PHONE), b"<device/>\n");
    write_file(&root.join("other.txt"), b"other\n");
    write_file(&root.join("big.bin"), &random_bytes(300_000, 9));
    root
}

/// Puts one active and one expired lease in the store before the server
/// starts, as an earlier DHCP run would have left them.
fn seed_leases(data: &Path) {
    std::fs::create_dir_all(data).unwrap();
    let mut db = store::SqliteStore::open(data.join("leases.sqlite")).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let lease = |mac: [u8; 6], ip: [u8; 4], expires| {
        store::LeaseChange::Upsert(store::LeaseRecord {
            mac,
            client_id: None,
            ip: ip.into(),
            expires_unix_ms: expires,
            model: Some("7941".into()),
            hostname: None,
        })
    };
    db.apply(&[
        lease(
            [0, 0x11, 0x22, 0x33, 0x44, 0x55],
            [10, 0, 0, 5],
            now + 3_600_000,
        ),
        lease(
            [0, 0x11, 0x22, 0x33, 0x44, 0x66],
            [10, 0, 0, 6],
            now - 3_600_000,
        ),
    ])
    .unwrap();
}

/// Waits until `path` answers JSON for which `done` holds.
fn wait_json(addr: SocketAddr, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = ok_json(addr, path);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never matched: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_endpoint_answers_with_what_the_server_did() {
    let s = Scratch::new("api-all");
    let root = root_with_phone_files(&s);
    let data = s.path().join("data");
    seed_leases(&data);
    let bundle_dir = s.path().join("bundles");
    std::fs::create_dir_all(&bundle_dir).unwrap();
    let bundle = Bundle::new("SIP41.9-4-2SR3-1S")
        .unwrap()
        .write(&bundle_dir, Format::Zip)
        .unwrap();
    let out = Command::new(BIN)
        .args(["firmware", "import"])
        .arg(&bundle)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let server = Server::start(&root, &data, &[]);
    let api = server.api_addr();
    tftp_get(&server, PHONE, &s.path().join("got"));

    let status = ok_json(api, "/api/status");
    assert_eq!(status["services"]["tftp"], server.addr.to_string());
    assert_eq!(status["services"]["api"], api.to_string());
    assert_eq!(
        status["services"]["phone_http"],
        server.phone_http_addr().to_string()
    );
    assert_eq!(status["services"]["dhcp"], Value::Null);
    assert_eq!(status["counts"]["leases_active"], 1);
    assert_eq!(status["counts"]["firmware_loads_complete"], 1);

    let leases = ok_json(api, "/api/leases")["leases"].clone();
    let mut states: Vec<(String, String)> = leases
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mac"].as_str().unwrap().into(),
                l["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            (PHONE_MAC.to_owned(), "active".to_owned()),
            ("00:11:22:33:44:66".to_owned(), "expired".to_owned())
        ]
    );

    let fw = ok_json(api, "/api/firmware");
    let loads = fw["loads"].as_array().unwrap();
    assert_eq!(loads.len(), 1, "{fw}");
    assert_eq!(loads[0]["name"], "SIP41.9-4-2SR3-1S");
    assert_eq!(loads[0]["complete"], true);

    let t = wait_json(api, "/api/transfers", |v| {
        v["recent"].as_array().is_some_and(|r| !r.is_empty())
    });
    let done = &t["recent"][0];
    assert_eq!(done["file"], PHONE);
    assert_eq!(done["protocol"], "tftp");
    assert_eq!(done["result"], "ok");
    assert_eq!(done["bytes"], 10);
    assert_eq!(t["live"], serde_json::json!([]));

    // The transfer's events, found by the MAC in the file name.
    let ev = wait_json(api, &format!("/api/events?mac={PHONE_MAC}"), |v| {
        v["events"].as_array().is_some_and(|e| e.len() >= 2)
    });
    let types: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["transfer_started", "tftp_transfer"]);
    let started = &ev["events"][0];
    assert_eq!(started["protocol"], "tftp");
    assert_eq!(started["size"], 10);
    assert_eq!(started["mac"], PHONE_MAC);
    // Filters: type, another MAC, time window, limit.
    let only = ok_json(
        api,
        &format!("/api/events?type=tftp_transfer&mac={}", "001122334455"),
    );
    assert_eq!(only["events"].as_array().unwrap().len(), 1);
    let other = ok_json(api, "/api/events?mac=00-11-22-33-44-66");
    assert_eq!(other["events"], serde_json::json!([]));
    let t0 = started["time_unix_ms"].as_i64().unwrap();
    let after = ok_json(api, &format!("/api/events?since={}", t0 + 60_000));
    assert_eq!(after["events"], serde_json::json!([]));
    let before = ok_json(api, &format!("/api/events?until={}", t0 - 60_000));
    assert_eq!(before["events"], serde_json::json!([]));
    let recent = ok_json(api, "/api/events?since=1h&limit=1");
    assert_eq!(recent["events"].as_array().unwrap().len(), 1);
    assert_eq!(recent["events"][0]["type"], "tftp_transfer");
}

/// Every non-comment line is `name{labels} value` with a numeric value.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad metrics line {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels in {line:?}");
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        out.push((series.to_owned(), v));
    }
    out
}

fn metric(text: &str, series: &str) -> f64 {
    parse_metrics(text)
        .into_iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| v)
        .unwrap_or(0.0)
}

#[test]
fn metrics_parse_and_counters_move_after_transfers() {
    let s = Scratch::new("api-metrics");
    let root = root_with_phone_files(&s);
    let server = Server::start(&root, &s.path().join("data"), &[]);
    let api = server.api_addr();
    let scrape = || {
        let (status, head, body) = http_get(api, "GET", "/metrics", "");
        assert_eq!(status, 200);
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        String::from_utf8(body).unwrap()
    };
    let before = scrape();
    assert!(before.contains("# TYPE phoneboot_transfer_duration_seconds histogram"));
    assert!(before.contains("# TYPE phoneboot_dhcp_reply_seconds histogram"));
    assert_eq!(
        metric(&before, "phoneboot_bytes_served_total{protocol=\"tftp\"}"),
        0.0
    );

    tftp_get(&server, "big.bin", &s.path().join("got"));
    let (status, _, _) = http_get(server.phone_http_addr(), "GET", "/missing.bin", "");
    assert_eq!(status, 404);
    server.transfers_for("big.bin", 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let m = scrape();
        if metric(&m, "phoneboot_errors_total{kind=\"http_not_found\"}") >= 1.0
            && metric(&m, "phoneboot_bytes_served_total{protocol=\"tftp\"}") > 0.0
        {
            break m;
        }
        assert!(Instant::now() < deadline, "metrics never moved:\n{m}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        metric(&after, "phoneboot_bytes_served_total{protocol=\"tftp\"}"),
        300_000.0
    );
    assert_eq!(
        metric(
            &after,
            "phoneboot_transfers_total{protocol=\"tftp\",result=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "phoneboot_transfer_duration_seconds_count{protocol=\"tftp\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &after,
            "phoneboot_transfer_duration_seconds_bucket{protocol=\"tftp\",le=\"+Inf\"}"
        ),
        1.0
    );
}

/// Reads SSE blocks from a raw connection on a thread, one `(event, data)`
/// per block.
fn sse(addr: SocketAddr, path: &str, headers: &str) -> mpsc::Receiver<(String, String)> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut event = String::new();
        for line in r.lines().map_while(Result::ok) {
            // Chunked framing lines are hex sizes; SSE lines have a colon.
            if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                if tx.send((event.clone(), v.to_owned())).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn event_stream_delivers_a_tftp_transfer_live() {
    let s = Scratch::new("api-sse");
    let root = root_with_phone_files(&s);
    let server = Server::start(&root, &s.path().join("data"), &[]);
    let rx = sse(
        server.api_addr(),
        "/api/events/stream?type=tftp_transfer",
        "",
    );
    // The subscription is live once the response head arrived (sse() waited).
    tftp_get(&server, "other.txt", &s.path().join("got"));
    let (event, data) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(event, "tftp_transfer");
    let v: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["file"], "other.txt");
    assert_eq!(v["result"], "ok");
    // With backlog, a late reader first gets what it missed.
    let late = sse(
        server.api_addr(),
        "/api/events/stream?backlog=5&type=tftp_transfer",
        "",
    );
    let (_, data) = late.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(data.contains("other.txt"), "{data}");
}

#[test]
fn malformed_requests_get_4xx_json_and_the_server_keeps_going() {
    let s = Scratch::new("api-bad");
    let root = root_with_phone_files(&s);
    let server = Server::start(&root, &s.path().join("data"), &[]);
    let api = server.api_addr();
    for (path, want) in [
        ("/api/events?limit=x", 400),
        ("/api/events?limit=-1", 400),
        ("/api/events?limit=99999999999999999999", 400),
        ("/api/events?mac=zz", 400),
        ("/api/events?since=next%20tuesday", 400),
        ("/api/events?until=%ff", 400),
        ("/api/events?type=Bad!", 400),
        ("/api/events?colour=red", 400),
        ("/api/events/stream?backlog=lots", 400),
        ("/api/status?verbose=1", 400),
        ("/api/events?limit=%zz", 400),
        ("/api/nope", 404),
        ("/api/events/%zz", 404),
        ("/../../etc/passwd", 404),
        // `/` is the dashboard now; unknown assets are still JSON 404s.
        ("/assets/nope.js", 404),
    ] {
        let (status, v) = json_get(api, path, "");
        assert_eq!(status, want, "{path}: {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {v}"
        );
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "BREW"] {
        let (status, head, body) = http_get(api, method, "/api/status", "Content-Length: 0\r\n");
        assert_eq!(status, 405, "{method}: {head}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains(method), "{v}");
    }
    // Headers beyond hyper's limit are refused by the parser itself (431,
    // no JSON body possible at that stage); the server lives on.
    let huge = format!("X-Big: {}\r\n", "a".repeat(1 << 20));
    let mut c = std::net::TcpStream::connect(api).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(c, "GET /api/status HTTP/1.1\r\nHost: t\r\n{huge}\r\n");
    let mut reply = Vec::new();
    let _ = c.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 4"),
        "huge headers: {text}"
    );
    // A large but acceptable header is just a request.
    let big = format!("X-Big: {}\r\n", "a".repeat(16 * 1024));
    assert_eq!(json_get(api, "/api/status", &big).0, 200);
    // Garbage instead of HTTP.
    let (status, _, _) = http_raw(api, b"\x16\x03\x01\x00\xa5garbage\r\n\r\n");
    assert_eq!(status, 400);
    assert_eq!(
        ok_json(api, "/api/status")["services"]["api"],
        api.to_string()
    );
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_token_is_required_when_set_and_secrets_never_show() {
    let s = Scratch::new("api-token");
    let root = root_with_phone_files(&s);
    let cfg = s.path().join("phoneboot.toml");
    std::fs::write(
        &cfg,
        "[http]\ntoken = \"file-token-ABCDEFGH\"\n\n[sip]\nserver = \"10.0.0.2\"\n\n[[phone]]\nmac = \"00:1e:4a:00:00:01\"\nlines = [{ extension = \"101\", password = \"sip-password-QWERTY\" }]\n",
    )
    .unwrap();
    let server = Server::start(
        &root,
        &s.path().join("data"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--http-token",
            "flag-token-12345678",
        ],
    );
    assert!(server.stdout_line.starts_with("phoneboot: TFTP listening"));
    let api = server.api_addr();
    tftp_get(&server, PHONE, &s.path().join("got"));
    for header in [
        "",
        "Authorization: Bearer wrong\r\n",
        "Authorization: Bearer file-token-ABCDEFGH\r\n",
        "Authorization: flag-token-12345678\r\n",
    ] {
        for path in ["/api/status", "/metrics", "/api/nope", "/api/events/stream"] {
            let (status, head, body) = http_get(api, "GET", path, header);
            assert_eq!(status, 401, "{path} with {header:?}");
            assert!(head.contains("www-authenticate: Bearer"), "{head}");
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert!(v["error"].as_str().unwrap().contains("token"), "{v}");
        }
    }
    let auth = "Authorization: Bearer flag-token-12345678\r\n";
    let mut everything = String::new();
    for path in [
        "/api/status",
        "/api/leases",
        "/api/transfers",
        "/api/events?limit=10000",
        "/api/firmware",
        "/metrics",
    ] {
        let (status, _, body) = http_get(api, "GET", path, auth);
        assert_eq!(status, 200, "{path}");
        everything.push_str(&String::from_utf8_lossy(&body));
    }
    assert!(everything.contains(PHONE), "the API shows the transfer");
    everything.push_str(&server.log_text());
    everything.push_str(&server.stdout_line);
    for secret in [
        "sip-password-QWERTY",
        "file-token-ABCDEFGH",
        "flag-token-12345678",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    // The CLI takes the token from --token or the environment.
    let url = format!("http://{api}");
    let out = Command::new(BIN)
        .args(["status", "--server", &url])
        .env_remove("PHONEBOOT_HTTP_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs a token"),
        "{out:?}"
    );
    let out = Command::new(BIN)
        .args(["status", "--server", &url])
        .env("PHONEBOOT_HTTP_TOKEN", "flag-token-12345678")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn an_api_off_loopback_needs_a_token() {
    let s = Scratch::new("api-offlo");
    let out = Command::new(BIN)
        .args([
            "serve",
            "--tftp-listen",
            "127.0.0.1:0",
            "--phone-http-listen",
            "off",
            "--http-listen",
            "0.0.0.0:0",
            "--root",
        ])
        .arg(s.path().join("root"))
        .arg("--data-dir")
        .arg(s.path().join("data"))
        .env_remove("PHONEBOOT_HTTP_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without a token") && err.contains("[http] token"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing may start: {out:?}");
}

/// Inside a network namespace: the API on a non-loopback address with a
/// token answers only with the bearer token, across the veth.
#[test]
fn an_api_off_loopback_with_a_token_checks_it() {
    require("ip");
    let s = Scratch::new("api-netns");
    let root = root_with_phone_files(&s);
    let pair = NetnsPair::new("api", 77);
    let listen = format!("{}:8067", pair.server_ip);
    let mut cmd = pair.in_server(BIN);
    cmd.args([
        "serve",
        "--tftp-listen",
        "127.0.0.1:0",
        "--phone-http-listen",
        "off",
        "--http-listen",
        &listen,
        "--http-token",
        "netns-token-0123456789",
        "--root",
    ])
    .arg(&root)
    .arg("--data-dir")
    .arg(s.path().join("data"));
    let server = Server::spawn(&mut cmd);
    server.api_addr();
    let curl = |auth: &[&str]| {
        let out = pair
            .in_client("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(auth)
            .arg(format!("http://{listen}/api/status"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&[]), "401");
    assert_eq!(curl(&["-H", "Authorization: Bearer nope"]), "401");
    assert_eq!(
        curl(&["-H", "Authorization: Bearer netns-token-0123456789"]),
        "200"
    );
}

#[test]
fn phone_http_serves_the_same_bytes_as_tftp() {
    let s = Scratch::new("phone-http");
    let root = root_with_phone_files(&s);
    let data = s.path().join("data");
    let bundle_dir = s.path().join("bundles");
    std::fs::create_dir_all(&bundle_dir).unwrap();
    let b = Bundle::new("SIP41.9-4-2SR3-1S").unwrap();
    let lib_file = b.listed_files()[0].clone();
    let bundle = b.write(&bundle_dir, Format::Zip).unwrap();
    let out = Command::new(BIN)
        .args(["firmware", "import"])
        .arg(&bundle)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let server = Server::start(&root, &data, &[]);
    let phone = server.phone_http_addr();
    for name in [
        PHONE,
        "big.bin",
        lib_file.as_str(),
        &lib_file.to_uppercase(),
    ] {
        let via_tftp = s.path().join("t");
        let via_http = s.path().join("h");
        tftp_get(&server, name, &via_tftp);
        run(Command::new("curl")
            .args(["-sf", "-o"])
            .arg(&via_http)
            .arg(format!("http://{phone}/{name}")));
        let (t, h) = (
            std::fs::read(&via_tftp).unwrap(),
            std::fs::read(&via_http).unwrap(),
        );
        assert!(!t.is_empty());
        assert_eq!(sha256(&t), sha256(&h), "{name}");
    }
    // HEAD: the size, no body, no transfer.
    let (status, head, body) = http_get(phone, "HEAD", "/big.bin", "");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-length: 300000"),
        "{head}"
    );
    assert!(body.is_empty());
    let (status, head, _) = http_get(phone, "POST", "/big.bin", "Content-Length: 0\r\n");
    assert_eq!(status, 405);
    assert!(
        head.to_ascii_lowercase().contains("allow: get, head"),
        "{head}"
    );
    // The HTTP downloads are events like TFTP's, found by MAC as well.
    let api = server.api_addr();
    let v = wait_json(
        api,
        &format!("/api/events?type=http_transfer&mac={PHONE_MAC}"),
        |v| v["events"].as_array().is_some_and(|e| !e.is_empty()),
    );
    let e = &v["events"][0];
    assert_eq!(
        (
            e["result"].as_str(),
            e["status"].as_u64(),
            e["bytes"].as_u64()
        ),
        (Some("ok"), Some(200), Some(10))
    );
    let t = ok_json(api, "/api/transfers");
    let http_done = t["recent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["protocol"] == "http" && r["result"] == "ok")
        .count();
    assert_eq!(http_done, 4, "{t}");
}

fn percent_encode_all(name: &[u8]) -> String {
    name.iter().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn phone_http_refuses_what_tftp_refuses() {
    let s = Scratch::new("phone-hostile");
    let root = hostile_root(&s);
    let server = Server::start(&root, &s.path().join("data"), &[]);
    let phone = server.phone_http_addr();
    for (name, code) in hostile_names() {
        let want = match code {
            1 => 404,
            2 => 403,
            4 => 400,
            other => panic!("no HTTP status for TFTP error {other}"),
        };
        let path = format!("/{}", percent_encode_all(&name));
        let (status, _, body) = http_get(phone, "GET", &path, "");
        assert_eq!(status, want, "{:?}", String::from_utf8_lossy(&name));
        assert!(!body.windows(SECRET.len()).any(|w| w == SECRET));
        // Unencoded where HTTP allows it: the same answer.
        if name.iter().all(|b| b.is_ascii_graphic()) {
            let raw = format!("/{}", String::from_utf8_lossy(&name));
            let (status, _, body) = http_get(phone, "GET", &raw, "");
            assert_eq!(status, want, "raw {raw:?}");
            assert!(!body.windows(SECRET.len()).any(|w| w == SECRET));
        }
    }
    let (status, _, body) = http_get(phone, "GET", "/ok.txt", "");
    assert_eq!((status, body.as_slice()), (200, &b"fine\n"[..]));
}

#[test]
fn status_and_events_follow_against_a_running_server() {
    let s = Scratch::new("cli-api");
    let root = root_with_phone_files(&s);
    let server = Server::start(&root, &s.path().join("data"), &[]);
    let url = format!("http://{}", server.api_addr());
    let out = Command::new(BIN)
        .args(["status", "--server", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("tftp:        {}", server.addr)),
        "{text}"
    );
    assert!(text.contains("dhcp:        off"), "{text}");
    assert!(
        text.contains("problems:") || text.contains("no problems"),
        "{text}"
    );

    let mut follow = Command::new(BIN)
        .args([
            "events",
            "--follow",
            "--mac",
            "0011.2233.4455",
            "--server",
            &url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = follow.stdout.take().unwrap();
    let _guard = Kill(follow);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The follower may subscribe after these; backlog covers that.
    tftp_get(&server, "other.txt", &s.path().join("a"));
    tftp_get(&server, PHONE, &s.path().join("b"));
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("tftp_transfer") && l.contains(PHONE))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("no tftp_transfer line for {PHONE}; got {seen:?}"),
        }
    }
    assert!(seen.iter().all(|l| l.contains(PHONE_MAC)), "{seen:?}");
    assert!(!seen.iter().any(|l| l.contains("other.txt")), "{seen:?}");

    let out = Command::new(BIN)
        .args(["events", "--server", &url, "--type", "tftp_transfer"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn status_says_when_no_server_runs() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [vec!["status"], vec!["events", "--follow"]] {
        let out = Command::new(BIN)
            .args(&args)
            .args(["--server", &url])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "no phoneboot server is running at {url} (start one with `phoneboot serve`)"
            )),
            "{err}"
        );
    }
}

/// `method path` with a JSON body: `(status, JSON)`.
fn json_send(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, _, bytes) = http_raw(
        addr,
        format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&bytes)));
    (status, v)
}

/// The dashboard's form goes through these: the entry as written without
/// passwords, a 422 naming the key apart from the message, a line sent
/// without a password keeping its own.
#[test]
fn desired_entries_round_trip_without_passwords_and_refusals_name_their_key() {
    let s = Scratch::new("api-desired-entry");
    let data = s.path().join("data");
    let server = Server::start(&s.path().join("root"), &data, &[]);
    let api = server.api_addr();
    let path = "/api/desired/phones/001E4A000801";
    let (status, v) = json_get(api, path, "");
    assert_eq!(status, 404, "{v}");
    assert!(v["error"].as_str().unwrap().contains("PUT"), "{v}");

    let (status, v) = json_send(
        api,
        "PUT",
        path,
        r#"{"model": "7960", "protocol": "sip", "label": "Desk",
            "lines": [{"extension": "301", "password": "first-secret", "display": "Ann"}],
            "speed_dials": [{"number": "200", "label": "Sales"}]}"#,
    );
    assert_eq!(status, 200, "{v}");
    let (status, head, body) = http_get(api, "GET", path, "");
    assert_eq!(status, 200, "{head}");
    assert!(!String::from_utf8_lossy(&body).contains("first-secret"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["source"], "run_time");
    assert_eq!(v["mac"], "00:1e:4a:00:08:01");
    assert_eq!(v["model"], "7960");
    assert_eq!(v["label"], "Desk");
    assert_eq!(v["lines"][0]["extension"], "301");
    assert_eq!(v["lines"][0]["display"], "Ann");
    assert_eq!(v["lines"][0]["password_set"], true);
    assert_eq!(v["speed_dials"][0]["label"], "Sales");
    let desired = ok_json(api, "/api/desired");
    assert!(desired["known_models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "7960" && m["lines"] == 6));

    // The label changes; the line is sent without its password and keeps it.
    let (status, v) = json_send(
        api,
        "PUT",
        path,
        r#"{"model": "7960", "label": "Front desk", "lines": [{"extension": "301"}]}"#,
    );
    assert_eq!(status, 200, "{v}");
    let stored = std::fs::read_to_string(data.join("desired-phones.json")).unwrap();
    assert!(
        stored.contains("first-secret") && stored.contains("Front desk"),
        "{stored}"
    );

    // Refusals: the key apart, the message whole; nothing changes.
    let long = "x".repeat(31);
    for (body, key, words) in [
        (
            format!(
                r#"{{"model": "7960", "lines": [{{"extension": "301", "password": "{long}"}}]}}"#
            ),
            "lines[0].password",
            "31 characters",
        ),
        (
            r#"{"model": "7960", "lines": [{"extension": "301"}, {"extension": "302"}]}"#
                .to_owned(),
            "lines[1].password",
            "is empty",
        ),
        (
            r#"{"model": "7999"}"#.to_owned(),
            "model",
            "not a phone model",
        ),
        (
            r#"{"model": "7940", "speed_dials": [{"number": "1\n2", "label": "x"}]}"#.to_owned(),
            "speed_dials[0].number",
            "control character",
        ),
    ] {
        let (status, v) = json_send(api, "PUT", path, &body);
        assert_eq!(status, 422, "{body}: {v}");
        assert_eq!(v["key"], key, "{v}");
        assert_eq!(v["entry"], "phone 00:1e:4a:00:08:01", "{v}");
        let error = v["error"].as_str().unwrap();
        assert!(
            error.contains(key)
                && error.contains(words)
                && error.contains(v["problem"].as_str().unwrap()),
            "{v}"
        );
        assert!(
            !error.contains("first-secret") && !error.contains(&long),
            "{v}"
        );
    }
    assert_eq!(ok_json(api, path)["label"], "Front desk");

    let (status, v) = json_send(api, "DELETE", path, "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(json_get(api, path, "").0, 404);
}

/// "Retry hop" over the API and the CLI: a phone stopped by a diagnosis
/// is cleared (with a `retry` event), a healthy or unknown one is refused.
#[test]
fn retry_clears_a_diagnosis_over_the_api_and_the_cli() {
    let s = Scratch::new("api-retry");
    let server = Server::start(&s.path().join("root"), &s.path().join("data"), &[]);
    let api = server.api_addr();
    let url = format!("http://{api}");
    let mac = "00:1e:4a:00:08:02";
    // Asking for a signed config: it holds an old trust list.
    tftp_ask(&server, "SEP001E4A000802.cnf.xml.sgn");
    let phone = format!("/api/phones/{mac}");
    wait_json(api, &phone, |v| v["diagnosis"]["code"] == "old_trust_list");

    let (status, v) = json_send(api, "POST", &format!("{phone}/retry"), "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["cleared"]["code"], "old_trust_list");
    let v = ok_json(api, &phone);
    assert!(v["diagnosis"].is_null(), "{v}");
    assert_ne!(v["stage"], "stalled");
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "phone" && e["kind"] == "retry" && e["code"] == "old_trust_list"),
        "{v}"
    );
    // Nothing left to retry: 409; a phone never seen: 404.
    let (status, v) = json_send(api, "POST", &format!("{phone}/retry"), "");
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("nothing to retry"),
        "{v}"
    );
    let (status, _) = json_send(api, "POST", "/api/phones/001E4A0008FF/retry", "");
    assert_eq!(status, 404);

    // The CLI, on the same phone diagnosed again.
    tftp_ask(&server, "SEP001E4A000802.cnf.xml.sgn");
    wait_json(api, &phone, |v| v["diagnosis"]["code"] == "old_trust_list");
    let out = Command::new(BIN)
        .args(["phones", "retry", "001E.4A00.0802", "--server", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(mac) && text.contains("old trust list"),
        "{text}"
    );
    let out = Command::new(BIN)
        .args(["phones", "retry", mac, "--server", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("409") && err.contains("nothing to retry"),
        "{err}"
    );
}
