//! phoneboot as an SCCP call manager, against phones played with the sccp
//! crate's wire types over real TCP on loopback: who may register, what a
//! registered phone shows in the API, the operator's Reset, hostile bytes,
//! and tshark's Skinny dissector judging a captured session.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use sccp::wire::{CapabilitiesRes, Capability};
use sccp::{DeviceType, Frame, Message, ResetType};

const CONFIG: &str = "[sccp]\nallow = [\"127.1.3.0/24\"]\nkeepalive = \"1s\"\n\
                      [provision]\nrestrict_per_mac_files = false\n";

struct Bench {
    scratch: Scratch,
    server: Server,
    sccp: SocketAddr,
}

impl Bench {
    fn new(name: &str) -> Bench {
        let scratch = Scratch::new(&format!("sccp-{name}"));
        let cfg = scratch.path().join("phoneboot.toml");
        std::fs::write(&cfg, CONFIG).unwrap();
        let root = scratch.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        let server = Server::start(
            &root,
            &scratch.path().join("data"),
            &[
                "--config",
                cfg.to_str().unwrap(),
                "--sccp-listen",
                "127.0.0.1:0",
            ],
        );
        let sccp = server.stdout_addr("phoneboot: SCCP call manager on ");
        Bench {
            scratch,
            server,
            sccp,
        }
    }

    fn api(&self, method: &str, path: &str) -> (u16, serde_json::Value) {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let (status, _, body) = http_raw(self.server.api_addr(), req.as_bytes());
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    fn events_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.server
            .events()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .collect()
    }

    /// Waits for an event of `kind` matching `pred`.
    fn wait_event(
        &self,
        kind: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.events_of(kind).into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} event as expected: {:?}",
                self.events_of(kind)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_registered_phone_shows_in_the_api_and_takes_the_operators_reset() {
    let b = Bench::new("register");
    let mut phone = SccpPhone::connect("127.1.3.1", b.sccp);
    phone.register("SEP001E4A000301", DeviceType::CP7960, 11, None);
    let Some(Message::RegisterAck(ack)) = phone.recv() else {
        panic!("no RegisterAck")
    };
    assert_eq!(ack.protocol_version, 11);
    assert_eq!(ack.keepalive_secs, 1);
    assert!(matches!(phone.recv(), Some(Message::CapabilitiesReq)));
    phone.send(Message::CapabilitiesRes(CapabilitiesRes::default()));
    let reg = b.wait_event("sccp_register", |e| e["accepted"] == true);
    assert_eq!(reg["mac"], "00:1e:4a:00:03:01");
    assert_eq!(reg["model"], "7960");
    assert_eq!(reg["protocol_version"], 11);

    let (status, view) = b.api("GET", "/api/phones/00:1e:4a:00:03:01");
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["sccp"]["protocol_version"], 11, "{view}");
    assert_eq!(view["sccp"]["device_name"], "SEP001E4A000301");
    assert_eq!(view["reboot_channel"], "sccp_reset");

    // Keepalives are answered while it sits there.
    phone.send(Message::KeepAlive);
    assert!(matches!(phone.recv(), Some(Message::KeepAliveAck)));

    let (status, answer) = b.api("POST", "/api/phones/00:1e:4a:00:03:01/reboot");
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["channel"], "sccp_reset");
    assert!(matches!(
        phone.recv(),
        Some(Message::Reset(ResetType::Reset))
    ));
    let reset = b.wait_event("sccp_reset", |e| e["result"] == "sent");
    assert_eq!(reset["mac"], "00:1e:4a:00:03:01");
    // The phone goes away; its session is gone from the API.
    drop(phone);
    b.wait_event("sccp_session", |e| e["kind"] == "closed");
    let (_, view) = b.api("GET", "/api/phones/00:1e:4a:00:03:01");
    assert!(view["sccp"].is_null(), "{view}");
    let (status, answer) = b.api("POST", "/api/phones/00:1e:4a:00:03:01/reboot");
    assert_eq!(status, 409, "{answer}");
    let (status, _) = b.api("POST", "/api/phones/00:1e:4a:00:09:99/reboot");
    assert_eq!(status, 404);

    let metrics = http_get(b.server.api_addr(), "GET", "/metrics", "").2;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains(
            "phoneboot_phone_control_total{event=\"sccp_register\",result=\"accepted\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("phoneboot_phone_control_total{event=\"sccp_reset\",result=\"sent\"} 1")
    );
}

#[test]
fn only_lease_holders_and_allowed_networks_may_register_under_their_own_name() {
    require("curl");
    let b = Bench::new("admission");
    // Outside [sccp] allow and without a lease.
    let mut stranger = SccpPhone::connect("127.2.0.1", b.sccp);
    stranger.register("SEP001E4A000401", DeviceType::CP7960, 11, None);
    assert!(matches!(
        stranger.recv(),
        Some(Message::RegisterReject { .. })
    ));
    assert!(stranger.recv().is_none(), "closed after the reject");
    let e = b.wait_event("sccp_register", |e| e["mac"] == "00:1e:4a:00:04:01");
    assert_eq!(e["accepted"], false);
    assert!(e["reason"].as_str().unwrap().contains("no lease"), "{e}");

    // 127.1.3.2 asked for SEP001E4A000402's config: it is that phone.
    // Not found (no model known yet), but the request ties the MAC to the address.
    Command::new("curl")
        .args(["-s", "--interface", "127.1.3.2", "-o", "/dev/null"])
        .arg(format!(
            "tftp://127.0.0.1:{}/SEP001E4A000402.cnf.xml",
            b.server.port()
        ))
        .status()
        .unwrap();
    b.wait_event("tftp_transfer", |e| {
        e["file"].as_str().is_some_and(|f| f.contains("000402"))
    });
    let mut impostor = SccpPhone::connect("127.1.3.2", b.sccp);
    impostor.register("SEP001E4A000499", DeviceType::CP7960, 11, None);
    assert!(matches!(
        impostor.recv(),
        Some(Message::RegisterReject { .. })
    ));
    let e = b.wait_event("sccp_register", |e| e["mac"] == "00:1e:4a:00:04:99");
    assert!(
        e["reason"].as_str().unwrap().contains("00:1e:4a:00:04:02"),
        "{e}"
    );
    let mut real = SccpPhone::connect("127.1.3.2", b.sccp);
    real.register(
        "SEP001E4A000402",
        DeviceType::CP7941,
        17,
        Some("SCCP41.8-5-2S"),
    );
    assert!(matches!(real.recv(), Some(Message::RegisterAck(_))));
    let e = b.wait_event("sccp_register", |e| e["mac"] == "00:1e:4a:00:04:02");
    assert_eq!(e["load"], "SCCP41.8-5-2S");
    // The load it reported is what it runs, with that evidence.
    let (_, view) = b.api("GET", "/api/phones/00:1e:4a:00:04:02");
    assert_eq!(view["current_load"], "SCCP41.8-5-2S", "{view}");
    assert!(
        view["evidence"].as_str().unwrap().contains("SCCP Register"),
        "{view}"
    );

    // A name that is not SEP<MAC>.
    let mut odd = SccpPhone::connect("127.1.3.3", b.sccp);
    odd.register("CIPCdesk", DeviceType(30016), 11, None);
    assert!(matches!(odd.recv(), Some(Message::RegisterReject { .. })));
}

#[test]
fn hostile_bytes_end_only_their_own_session() {
    let b = Bench::new("hostile");
    let mut good = SccpPhone::connect("127.1.3.10", b.sccp);
    good.register("SEP001E4A000510", DeviceType::CP7940, 11, None);
    assert!(matches!(good.recv(), Some(Message::RegisterAck(_))));
    assert!(matches!(good.recv(), Some(Message::CapabilitiesReq)));

    // Garbage: a length below the message id.
    let mut junk = SccpPhone::connect("127.1.3.11", b.sccp);
    junk.stream
        .write_all(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap();
    assert!(junk.recv().is_none());
    // A length of 2^31: refused from the header, nothing buffered.
    let mut huge = SccpPhone::connect("127.1.3.12", b.sccp);
    let mut header = (1u32 << 31).to_le_bytes().to_vec();
    header.extend([0u8; 8]);
    huge.stream.write_all(&header).unwrap();
    let started = Instant::now();
    assert!(huge.recv().is_none());
    assert!(started.elapsed() < Duration::from_secs(2));
    // Too much before registering.
    let mut flood = SccpPhone::connect("127.1.3.13", b.sccp);
    let keepalive = Frame::new(0, Message::KeepAlive).to_bytes().unwrap();
    let mut sent = 0;
    while sent < 64 * 1024 {
        if flood.stream.write_all(&keepalive).is_err() {
            break;
        }
        sent += keepalive.len();
    }
    while flood.recv().is_some() {}
    // The registered phone never noticed.
    good.send(Message::KeepAlive);
    assert!(matches!(good.recv(), Some(Message::KeepAliveAck)));
    // Silent: closed after the idle timeout (3 keepalive intervals).
    let mut silent = SccpPhone::connect("127.1.3.14", b.sccp);
    let started = Instant::now();
    assert!(silent.recv().is_none());
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let log = b.server.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn tshark_reads_a_captured_session_as_skinny() {
    require("tcpdump");
    require("tshark");
    let b = Bench::new("tshark");
    let pcap = b.scratch.path().join("sccp.pcap");
    let capture = Capture::start(
        Command::new("tcpdump"),
        "lo",
        &format!("tcp port {}", b.sccp.port()),
        &pcap,
    );
    let mut phone = SccpPhone::connect("127.1.3.20", b.sccp);
    phone.register(
        "SEP001E4A000620",
        DeviceType::CP7941,
        17,
        Some("SCCP41.8-5-2S"),
    );
    assert!(matches!(phone.recv(), Some(Message::RegisterAck(_))));
    assert!(matches!(phone.recv(), Some(Message::CapabilitiesReq)));
    // G.711 µ-law, as a phone offers it.
    phone.send(Message::CapabilitiesRes(CapabilitiesRes::new(vec![
        Capability {
            payload: 4,
            max_frames_per_packet: 40,
            params: [0; 8],
        },
    ])));
    phone.send(Message::KeepAlive);
    assert!(matches!(phone.recv(), Some(Message::KeepAliveAck)));
    let (status, _) = b.api("POST", "/api/phones/00:1e:4a:00:06:20/reboot");
    assert_eq!(status, 202);
    assert!(matches!(
        phone.recv(),
        Some(Message::Reset(ResetType::Reset))
    ));
    drop(phone);
    let verbose = capture.dissect(
        &[format!("tcp.port=={},skinny", b.sccp.port())],
        None,
        |v| skinny_message_names(v).contains(&"Reset"),
    );
    let names = skinny_message_names(&verbose);
    for want in [
        "RegisterReq",
        "RegisterAck",
        "CapabilitiesReq",
        "CapabilitiesRes",
        "KeepAliveReq",
        "KeepAliveAck",
        "Reset",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    for bad in ["Malformed", "Unknown Message"] {
        assert!(!verbose.contains(bad), "tshark reports {bad}:\n{verbose}");
    }
    assert!(verbose.contains("SCCP41.8-5-2S"), "loadInfo not dissected");
}
