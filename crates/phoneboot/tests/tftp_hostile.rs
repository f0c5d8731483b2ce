//! Hostile and odd requests against the real binary over loopback UDP: every
//! refusal carries the right TFTP error, nothing outside the root is read,
//! nothing is written, and the server keeps serving.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;

struct Env {
    scratch: Scratch,
    server: Server,
}

fn env(name: &str, extra: &[&str]) -> Env {
    let scratch = Scratch::new(name);
    let root = hostile_root(&scratch);
    let server = Server::start(&root, &scratch.path().join("data"), extra);
    Env { scratch, server }
}

fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Bounds a wait for a reply that must come; not a timing assertion.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn rrq(name: &[u8], mode: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut v = vec![0, 1];
    v.extend_from_slice(name);
    v.push(0);
    v.extend_from_slice(mode.as_bytes());
    v.push(0);
    for (k, val) in options {
        v.extend_from_slice(k.as_bytes());
        v.push(0);
        v.extend_from_slice(val.as_bytes());
        v.push(0);
    }
    v
}

fn exchange(server: &Server, packet: &[u8]) -> Vec<u8> {
    let c = client();
    c.send_to(packet, server.addr).unwrap();
    let mut buf = [0u8; 70000];
    let (n, _) = c
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no reply to {packet:?}: {e}\n{}", server.log_text()));
    buf[..n].to_vec()
}

fn error_code(reply: &[u8]) -> Option<u16> {
    (reply.len() >= 4 && reply[..2] == [0, 5]).then(|| u16::from_be_bytes([reply[2], reply[3]]))
}

#[test]
fn traversal_device_and_odd_names_get_the_right_error() {
    let e = env("names", &[]);
    for (name, code) in hostile_names() {
        let name = &name[..];
        let reply = exchange(&e.server, &rrq(name, "octet", &[]));
        assert_eq!(
            error_code(&reply),
            Some(code),
            "{:?}: reply {:?}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(&reply)
        );
        assert!(!reply.windows(SECRET.len()).any(|w| w == SECRET));
    }
    // Still serving after all of that.
    let reply = exchange(&e.server, &rrq(b"ok.txt", "octet", &[]));
    assert_eq!(reply, b"\x00\x03\x00\x01fine\n");
}

#[test]
fn write_requests_and_malformed_packets_are_refused() {
    let e = env("wrq", &[]);
    let root = e.scratch.path().join("root");
    let mut wrq = rrq(b"new.bin", "octet", &[]);
    wrq[1] = 2;
    assert_eq!(error_code(&exchange(&e.server, &wrq)), Some(2));
    let mut wrq_over = rrq(b"ok.txt", "octet", &[]);
    wrq_over[1] = 2;
    assert_eq!(error_code(&exchange(&e.server, &wrq_over)), Some(2));
    assert!(!root.join("new.bin").exists(), "a WRQ created a file");
    assert_eq!(std::fs::read(root.join("ok.txt")).unwrap(), b"fine\n");

    for bad in [
        &b"\x00"[..],
        b"\x00\x00\x00\x00",
        b"\x00\x63abc",
        b"\x00\x03\x00\x01data",
        b"\x00\x04\x00\x01",
        b"\x00\x06blksize\x00512\x00",
        b"\x00\x01",
        b"\x00\x01\x00octet\x00",
        b"\x00\x01file-without-mode",
        &rrq(b"ok.txt", "mail", &[]),
    ] {
        assert_eq!(error_code(&exchange(&e.server, bad)), Some(4), "{bad:?}");
    }
}

#[test]
fn error_packets_on_the_listening_port_get_no_answer() {
    let e = env("errpkt", &[]);
    let c = client();
    c.send_to(b"\x00\x05\x00\x00bye\x00", e.server.addr)
        .unwrap();
    c.send_to(&rrq(b"ok.txt", "octet", &[]), e.server.addr)
        .unwrap();
    let mut buf = [0u8; 600];
    let (n, _) = c.recv_from(&mut buf).unwrap();
    // Loopback keeps order: the first reply is the DATA, so the ERROR got none.
    assert_eq!(&buf[..n], b"\x00\x03\x00\x01fine\n");
}

#[test]
fn absurd_options_fall_back_or_are_clamped() {
    let e = env("options", &[]);
    // blksize 1 and 70000 are outside RFC 2348's range: ignored, plain 512-byte DATA.
    for bad in ["1", "70000", "-3", "lots"] {
        let reply = exchange(&e.server, &rrq(b"big.bin", "octet", &[("blksize", bad)]));
        assert_eq!(&reply[..4], b"\x00\x03\x00\x01", "blksize {bad}");
        assert_eq!(reply.len(), 516);
    }
    let reply = exchange(
        &e.server,
        &rrq(
            b"big.bin",
            "octet",
            &[
                ("windowsize", "65535"),
                ("tsize", "99999999999999"),
                ("blksize", "65464"),
            ],
        ),
    );
    assert_eq!(&reply[..2], b"\x00\x06");
    let text = String::from_utf8_lossy(&reply[2..]).replace('\0', " ");
    assert_eq!(
        text.trim(),
        format!("blksize 1468 tsize {} windowsize 64", 512 * 200)
    );
}

#[test]
fn duplicate_rrq_from_one_port_starts_one_transfer() {
    let e = env("dup", &[]);
    let c = client();
    let req = rrq(b"ok.txt", "octet", &[]);
    c.send_to(&req, e.server.addr).unwrap();
    c.send_to(&req, e.server.addr).unwrap();
    let mut buf = [0u8; 600];
    let (n, from) = c.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\x00\x03\x00\x01fine\n");
    assert_ne!(
        from.port(),
        e.server.port(),
        "the transfer answers from its own port"
    );
    c.send_to(b"\x00\x04\x00\x01", from).unwrap();
    e.server.transfers_for("ok.txt", 1);
    // A second transfer would have sent its own DATA 1 from another port.
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let second = c.recv_from(&mut buf);
    assert!(
        second.is_err(),
        "a second transfer answered: {:?}",
        second.map(|(n, a)| (buf[..n].to_vec(), a))
    );
    assert_eq!(
        e.server
            .events()
            .iter()
            .filter(|ev| ev["type"] == "tftp_transfer")
            .count(),
        1
    );
}

#[test]
fn per_client_limit_gives_a_clear_error() {
    let scratch = Scratch::new("limits-cfg");
    let cfg = scratch.path().join("phoneboot.toml");
    std::fs::write(&cfg, "[tftp]\nmax_per_client = 1\n").unwrap();
    let e = env("limits", &["--config", cfg.to_str().unwrap()]);
    let first = client();
    first
        .send_to(&rrq(b"big.bin", "octet", &[]), e.server.addr)
        .unwrap();
    let mut buf = [0u8; 600];
    first.recv_from(&mut buf).unwrap(); // DATA 1, deliberately not acknowledged
    let reply = exchange(&e.server, &rrq(b"ok.txt", "octet", &[]));
    assert_eq!(error_code(&reply), Some(0));
    let text = String::from_utf8_lossy(&reply[4..]);
    assert!(text.contains("too many transfers from 127.0.0.1"), "{text}");
}

#[test]
fn client_error_ends_a_tsize_probe_at_once() {
    let e = env("probe", &[]);
    let c = client();
    c.send_to(&rrq(b"big.bin", "octet", &[("tsize", "0")]), e.server.addr)
        .unwrap();
    let mut buf = [0u8; 600];
    let (n, from) = c.recv_from(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        format!("\x00\x06tsize\x00{}\x00", 512 * 200).as_bytes()
    );
    c.send_to(b"\x00\x05\x00\x08probe only\x00", from).unwrap();
    let ev = &e.server.transfers_for("big.bin", 1)[0];
    assert_eq!(ev["result"], "client_error");
    assert_eq!(ev["data_packets"], 0);
    assert!(
        ev["duration_ms"].as_f64().unwrap() < 1000.0,
        "ended at once, not by timeout: {ev}"
    );
}

#[test]
fn netascii_mode_with_tftp_hpa() {
    require("tftp");
    let e = env("netascii", &[]);
    let out = e.scratch.path().join("ok.out");
    run(std::process::Command::new("tftp")
        .args([
            "-m",
            "netascii",
            "127.0.0.1",
            &e.server.port().to_string(),
            "-c",
            "get",
            "ok.txt",
        ])
        .arg(&out));
    assert_eq!(std::fs::read(&out).unwrap(), b"fine\n");
    let ev = &e.server.transfers_for("ok.txt", 1)[0];
    assert_eq!(ev["mode"], "netascii");
    assert_eq!(ev["size"], 6, "LF became CR LF on the wire");
}
