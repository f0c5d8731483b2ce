//! Issue 7: the SNTP server against a real client (ntpsec's ntpdate), the
//! syslog receiver against util-linux `logger` in both RFC formats with the
//! message attributed to the phone that leased the source address, and a
//! flood of garbage that must be counted and must not grow memory. The
//! namespace tests run the server on a veth inside network namespaces they
//! create and remove. Needs root.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn veth_names(tag: &str) -> (String, String) {
    let id = std::process::id() % 10000;
    (format!("v{tag}s{id}"), format!("v{tag}c{id}"))
}

/// `serve --interface` on the server side of a namespace pair, with
/// `config` as the file.
fn serve_on_veth(net: &NetnsPair, scratch: &Scratch, tag: &str, config: &str) -> Server {
    let (server_if, _) = veth_names(tag);
    let cfg = scratch.path().join("phoneboot.toml");
    std::fs::write(
        &cfg,
        format!("[dhcp]\nprobe_wait = \"200ms\"\nconflict_check = false\n{config}"),
    )
    .unwrap();
    let mut cmd = net.in_server(BIN);
    cmd.args(["serve", "--interface", &server_if, "--tftp-listen"])
        .arg(format!("{}:69", net.server_ip))
        .arg("--root")
        .arg(scratch.path().join("root"))
        .arg("--data-dir")
        .arg(scratch.path().join("data"))
        .arg("--config")
        .arg(&cfg);
    let server = Server::spawn(&mut cmd);
    server.wait_for_log("sntp listening on");
    server
}

fn wait_events(
    server: &Server,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(e) = server.events().into_iter().find(|e| pred(e)) {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} event; log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ntpdate_accepts_the_time_when_the_host_is_the_reference() {
    require("ntpdate");
    require("ip");
    let net = NetnsPair::new("ts", 91);
    let scratch = Scratch::new("sntp-ref");
    let _server = serve_on_veth(&net, &scratch, "ts", "[time]\nhost_is_reference = true\n");
    // ntpsec's ntpdate: `-q` queries only, port 123.
    let out = run(net.in_client("ntpdate").args(["-q", &net.server_ip]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // "2026-11-26 05:00:33.868 (+0000) +0.000090 +/- 0.000161 10.231.91.1 s1 no-leap"
    let words: Vec<&str> = text.split_whitespace().collect();
    assert!(words.contains(&"s1"), "not stratum 1: {text}");
    assert!(words.contains(&net.server_ip.as_str()), "{text}");
    let offset: f64 = words
        .iter()
        .find(|w| w.starts_with(['+', '-']) && w.contains('.') && w.len() > 3)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {text:?}"));
    // Same host clock on both sides of the veth.
    assert!(offset.abs() < 0.5, "offset {offset} in {text}");
}

#[test]
fn ntpdate_refuses_an_unsynchronised_host_unless_it_is_the_reference() {
    require("ntpdate");
    require("ip");
    let net = NetnsPair::new("tu", 92);
    let scratch = Scratch::new("sntp-unsync");
    let server = serve_on_veth(&net, &scratch, "tu", "");
    let synced = server.log_text().contains("host clock synchronised=true");
    let out = net
        .in_client("ntpdate")
        .args(["-q", &net.server_ip])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if synced {
        // The kernel says a time daemon disciplines the clock: served as
        // a secondary server, which the client accepts.
        assert!(out.status.success(), "{text}");
        assert!(!text.contains(" s16 "), "{text}");
    } else {
        // leap = alarm, stratum 16: the client must not take our time.
        assert!(
            !out.status.success(),
            "an unsynchronised clock was accepted: {text}"
        );
    }
}

/// A udhcpc hook that configures the leased address (so later traffic
/// comes from it) and records the lease.
fn udhcpc_script(dir: &Path) -> (PathBuf, PathBuf) {
    let env = dir.join("udhcpc.env");
    let script = dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$1\" in bound) ip addr add \"$ip/$mask\" dev \"$interface\"; \
             echo \"event=$1 ip=$ip ntpsrv=$ntpsrv\" >> {} ;; esac\n",
            env.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, env)
}

#[test]
fn logger_messages_land_on_the_leasing_phones_timeline() {
    require("busybox");
    require("logger");
    require("ip");
    let net = NetnsPair::new("tl", 93);
    let (_, client_if) = veth_names("tl");
    run(Command::new("ip").args(["-n", &net.client_ns, "addr", "flush", "dev", &client_if]));
    let scratch = Scratch::new("syslog-lease");
    let server = serve_on_veth(&net, &scratch, "tl", "");
    server.wait_for_log("syslog listening on");

    let (script, env) = udhcpc_script(scratch.path());
    run(net
        .in_client("busybox")
        .args([
            "udhcpc", "-i", &client_if, "-n", "-q", "-f", "-t", "5", "-O", "ntpsrv", "-s",
        ])
        .arg(&script));
    let lease = std::fs::read_to_string(&env).unwrap();
    let ip = lease
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ip="))
        .unwrap()
        .to_owned();
    // Option 42 points at our SNTP server.
    assert!(
        lease.contains(&format!("ntpsrv={}", net.server_ip)),
        "{lease}"
    );
    let ack = wait_events(&server, "dhcp ack", |e| {
        e["type"] == "dhcp" && e["kind"] == "ack"
    });
    let mac = ack["mac"].as_str().unwrap().to_owned();

    for (flag, text) in [
        ("--rfc3164", "hello in rfc3164"),
        ("--rfc5424", "hello in rfc5424"),
    ] {
        run(net.in_client("logger").args([
            "--server",
            &net.server_ip,
            "--port",
            "514",
            "--udp",
            flag,
            "-p",
            "local3.warning",
            "-t",
            "phonetest",
            text,
        ]));
        let e = wait_events(&server, text, |e| {
            e["type"] == "syslog" && e["message"] == text
        });
        assert_eq!(e["mac"], mac.as_str(), "{e}");
        assert_eq!(
            e["source"].as_str().unwrap().split(':').next(),
            Some(ip.as_str()),
            "{e}"
        );
        assert_eq!(e["app"], "phonetest", "{e}");
        assert_eq!(e["facility"], "local3", "{e}");
        assert_eq!(e["severity"], "warning", "{e}");
        assert_eq!(e["format"], &flag[2..], "{e}");
    }
    // A source without a lease is recorded, unattributed.
    run(net.in_server("logger").args([
        "--server",
        &net.server_ip,
        "--port",
        "514",
        "--udp",
        "--rfc5424",
        "from the server itself",
    ]));
    let e = wait_events(&server, "unleased", |e| {
        e["type"] == "syslog" && e["message"] == "from the server itself"
    });
    assert!(e["mac"].is_null(), "{e}");
}

fn listening_port(server: &Server, what: &str) -> u16 {
    server.wait_for_log(&format!("{what} listening on"));
    let log = server.log_text();
    let at = log.find(&format!("{what} listening on ")).unwrap();
    let rest = &log[at + what.len() + 14..];
    let addr: SocketAddr = rest
        .split(|c: char| c.is_whitespace() || c == ';' || c == '"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    addr.port()
}

fn counters(server: &Server, what: &str) -> std::collections::HashMap<String, u64> {
    let needle = format!("{what}: received=");
    server.wait_for_log(&needle);
    let log = server.log_text();
    let line = log.lines().find(|l| l.contains(&needle)).unwrap();
    let at = line.find(&needle).unwrap() + what.len() + 2;
    line[at..]
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

#[test]
fn a_garbage_flood_is_counted_and_does_not_grow_memory() {
    let scratch = Scratch::new("flood");
    let mut server = Server::start(
        &scratch.path().join("root"),
        &scratch.path().join("data"),
        &[
            "--sntp-listen",
            "127.0.0.1:0",
            "--syslog-listen",
            "127.0.0.1:0",
        ],
    );
    let sntp_port = listening_port(&server, "sntp");
    let syslog_port = listening_port(&server, "syslog");
    let baseline = server.rss_kib();

    // 100k random datagrams from 512 loopback source addresses, so both the
    // per-source limiter and the parsers see plenty.
    let sources: Vec<UdpSocket> = (0..512u32)
        .map(|i| UdpSocket::bind((Ipv4Addr::from(0x7f03_0001 + i), 0)).unwrap())
        .collect();
    let sntp_to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, sntp_port);
    let syslog_to = SocketAddrV4::new(Ipv4Addr::LOCALHOST, syslog_port);
    let flood_start = Instant::now();
    for i in 0..100_000usize {
        let len = (i * 7919) % 600;
        let data = random_bytes(len, i as u64 + 1);
        let from = &sources[i % sources.len()];
        let to = if i % 2 == 0 { sntp_to } else { syslog_to };
        let _ = from.send_to(&data, to);
        if i % 2000 == 0 {
            // Let the server keep up rather than measure the kernel's drops.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let flood_secs = flood_start.elapsed().as_secs();
    // A real message and a real query after the flood are still served.
    // Each is sent again until it is: the kernel may still drop one at a
    // socket buffer the flood left full (UDP), which says nothing about
    // the server; a server that stopped serving fails all ten.
    let probe = UdpSocket::bind("127.9.9.9:0").unwrap();
    let logged = (0..10).any(|_| {
        probe
            .send_to(b"<14>1 - - flood-test - - - after the flood", syslog_to)
            .unwrap();
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if server.log_text().contains("after the flood") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    assert!(
        logged,
        "the syslog message after the flood was never logged"
    );
    let mut ask = [0u8; 48];
    ask[0] = 0x23;
    probe
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut reply = [0u8; 128];
    let n = (0..10)
        .find_map(|_| {
            probe.send_to(&ask, sntp_to).unwrap();
            probe.recv_from(&mut reply).ok().map(|(n, _)| n)
        })
        .expect("an SNTP reply after the flood");
    assert_eq!((n, reply[0] & 7), (48, 4), "a mode-4 reply");

    let grown = server.rss_kib().saturating_sub(baseline);
    assert!(
        grown < 16 * 1024,
        "RSS grew by {grown} KiB during the flood"
    );
    // /metrics counts both listeners while they run.
    let (code, _, body) = http_get(server.api_addr(), "GET", "/metrics", "");
    assert_eq!(code, 200);
    let metrics = String::from_utf8(body).unwrap();
    for what in ["sntp", "syslog"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "phoneboot_{what}_datagrams_total{{result=\"malformed\"}} "
                ))
            })
            .unwrap_or_else(|| panic!("no {what} metrics: {metrics}"));
        let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n > 10_000, "{line}");
    }

    assert!(server.terminate().success());
    for what in ["sntp", "syslog"] {
        let c = counters(&server, what);
        eprintln!("{what}: {c:?}; RSS grew {grown} KiB");
        let received = c["received"];
        assert!(received > 10_000, "{what}: {c:?}");
        // Every datagram is accounted for; garbage is counted as malformed.
        // Some random bytes do look like a client request (mode 3, version
        // 1-4) or start with a PRI: those are answered, within each
        // source's rate.
        assert_eq!(
            c["malformed"] + c["rate_limited"] + c["answered"] + c["errors"],
            received,
            "{what}: {c:?}"
        );
        assert!(c["malformed"] > received * 8 / 10, "{what}: {c:?}");
        let per_source = 8 + 20 * (flood_secs + 1);
        assert!(
            // Up to ten probes, and each flood source within its rate.
            c["answered"] <= 10 + sources.len() as u64 * per_source,
            "{what}: {c:?}"
        );
        assert!(c["answered"] >= 1, "{what}: {c:?}");
    }
    let syslog_events = server
        .events()
        .into_iter()
        .filter(|e| e["type"] == "syslog")
        .count();
    assert!(
        syslog_events < 500,
        "{syslog_events} garbage datagrams became events"
    );
}
