//! NOTIFY to SIP phones, against a phone played with the sipnotify crate
//! over real UDP on loopback and files fetched with curl: a run-time edit of
//! a 79x0's line sends `check-sync`, the phone's `syncinfo.xml` SYNC then
//! differs from the one in the config it booted with, a retransmission is
//! counted, and tshark's SIP dissector reads the exchange.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use library::fixtures::Bundle;
use library::{Format, ImportOptions, Library};

const MAC: &str = "001E4A000701";
const PHONE_IP: &str = "127.1.4.1";

fn curl_tftp(server: &Server, file: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "--interface", PHONE_IP])
        .arg(format!("tftp://127.0.0.1:{}/{file}", server.port()))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {file}: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn text_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .next_back()
}

#[test]
fn a_line_edit_sends_check_sync_and_the_phone_sees_a_new_sync() {
    require("curl");
    require("tcpdump");
    require("tshark");
    let scratch = Scratch::new("sip-notify");
    let data = scratch.path().join("data");
    let mut lib = Library::open(data.join("firmware")).unwrap();
    let bundle = Bundle::new("P0S3-8-12-00").unwrap().image_size(2000);
    let path = bundle.write(scratch.path(), Format::Zip).unwrap();
    lib.import(&path, &ImportOptions::default()).unwrap();
    drop(lib);
    let phone_sock = UdpSocket::bind(format!("{PHONE_IP}:0")).unwrap();
    phone_sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let phone_port = phone_sock.local_addr().unwrap().port();
    let cfg = scratch.path().join("phoneboot.toml");
    let entry = |display: &str| {
        format!(
            "[[phone]]\nmac = \"{MAC}\"\nmodel = \"7960\"\nprotocol = \"sip\"\n\
             start_load = \"P0S3-8-12-00\"\n\
             lines = [{{ extension = \"701\", display = \"{display}\", password = \"pw-701\" }}]\n"
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "[sip]\nserver = \"127.0.0.1\"\nphone_port = {phone_port}\nnotify_listen = \"127.0.0.1:0\"\n\
             [provision]\nrestrict_per_mac_files = false\nsettle = \"1s\"\n{}",
            entry("Front desk")
        ),
    )
    .unwrap();
    let root = scratch.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let server = Server::start(&root, &data, &["--config", cfg.to_str().unwrap()]);
    let _ = server.api_addr(); // printed once every listener runs

    let pcap = scratch.path().join("sip.pcap");
    let capture = Capture::start(
        Command::new("tcpdump"),
        "lo",
        &format!("udp port {phone_port}"),
        &pcap,
    );

    // The phone boots: its configs in the 79x0 SIP order, then a post-boot file.
    curl_tftp(&server, &format!("SEP{MAC}.cnf.xml"));
    curl_tftp(&server, "SIPDefault.cnf");
    let booted = curl_tftp(&server, &format!("SIP{MAC}.cnf"));
    let booted_sync = text_value(&booted, "sync").expect("SIP<MAC>.cnf has a sync key");
    assert_eq!(
        text_value(&booted, "line1_displayname").as_deref(),
        Some("Front desk")
    );
    curl_tftp(&server, "RINGLIST.DAT");
    let api = server.api_addr();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, body) = http_get(api, "GET", "/api/phones/00:1e:4a:00:07:01", "");
        let view: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if view["reboot_channel"] == "sip_check_sync" {
            break;
        }
        assert!(Instant::now() < deadline, "not reachable by NOTIFY: {view}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The operator renames line 1: the phone is told, without a hand on it.
    let body = r#"{"model": "7960", "protocol": "sip", "start_load": "P0S3-8-12-00",
        "lines": [{"extension": "701", "display": "Reception", "password": "pw-701"}]}"#;
    let req = format!(
        "PUT /api/desired/phones/{MAC} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, resp) = http_raw(api, req.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));

    let mut buf = [0u8; 4096];
    let (n, from) = phone_sock.recv_from(&mut buf).expect("a NOTIFY");
    let first = sipnotify::Message::parse(&buf[..n]).unwrap();
    assert_eq!(first.event(), Some("check-sync"));
    assert_eq!(first.request_uri_user(), Some("701"));
    // Not answered: it comes again, the same transaction.
    let (n, _) = phone_sock.recv_from(&mut buf).expect("a retransmission");
    let again = sipnotify::Message::parse(&buf[..n]).unwrap();
    assert_eq!(again.call_id(), first.call_id());
    let ok = again.response(200, "OK", "ph1").to_bytes().unwrap();
    phone_sock.send_to(&ok, from).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let notify = loop {
        if let Some(e) = server
            .events()
            .into_iter()
            .find(|e| e["type"] == "sip_notify")
        {
            break e;
        }
        assert!(Instant::now() < deadline, "no sip_notify event");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(notify["answer"], "ok", "{notify}");
    assert_eq!(notify["status"], 200);
    assert_eq!(notify["tries"], 2);
    let (_, _, body) = http_get(api, "GET", "/api/phones/00:1e:4a:00:07:01", "");
    let view: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(view["last_notify"]["answer"], "ok", "{view}");

    // What the phone does next: syncinfo.xml's SYNC is not the one it booted with.
    let info = curl_tftp(&server, "syncinfo.xml");
    assert!(info.contains("<IMAGE VERSION=\"*\""), "{info}");
    let sync = info
        .split("SYNC=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a SYNC attribute")
        .to_owned();
    assert_ne!(sync, booted_sync);
    // It reboots and reads the new name, stamped with that SYNC.
    let rebooted = curl_tftp(&server, &format!("SIP{MAC}.cnf"));
    assert_eq!(
        text_value(&rebooted, "line1_displayname").as_deref(),
        Some("Reception")
    );
    assert_eq!(text_value(&rebooted, "sync"), Some(sync));
    // A second identical edit sends nothing new.
    let (status, _, _) = http_raw(api, req.as_bytes());
    assert_eq!(status, 200);
    phone_sock
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    assert!(
        phone_sock.recv_from(&mut buf).is_err(),
        "no NOTIFY for an unchanged config"
    );

    let verbose = capture.dissect(&[format!("udp.port=={phone_port},sip")], None, |v| {
        v.contains("Status-Line: SIP/2.0 200 OK")
    });
    assert!(
        verbose.contains(&format!(
            "Request-Line: NOTIFY sip:701@{PHONE_IP}:{phone_port} SIP/2.0"
        )),
        "{verbose}"
    );
    assert!(verbose.contains("Event: check-sync"), "{verbose}");
    assert!(verbose.contains("Status-Line: SIP/2.0 200 OK"), "{verbose}");
    assert!(!verbose.contains("Malformed"), "{verbose}");
}
