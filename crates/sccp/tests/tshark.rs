//! Wireshark's skinny dissector judges our bytes: the server side from real
//! sessions and the phone side from the wire types, wrapped in dummy TCP
//! headers by text2pcap. Fails, never skips, when tshark is missing.

// Tests need one real Instant as the origin; time then only moves virtually.
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sccp::wire::{Alarm, CapabilitiesRes, Capability, Register};
use sccp::{Config, DeviceType, Event, Frame, Message, MessageId, ResetType, Session};

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("sccp-tshark-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// text2pcap's input: each packet as offset-prefixed hex lines from 0000.
fn hexdump(packets: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for packet in packets {
        for (i, line) in packet.chunks(16).enumerate() {
            write!(out, "{:04x} ", i * 16).unwrap();
            for b in line {
                write!(out, " {b:02x}").unwrap();
            }
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

fn run(cmd: &mut Command) -> String {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {program}: {e}; install it (Debian: apt-get install tshark) to run this test")
    });
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// What tshark made of one direction's packets.
struct Dissected {
    verbose: String,
    /// One row per packet: tab-separated `fields`.
    rows: Vec<Vec<String>>,
}

fn dissect(dir: &Path, name: &str, ports: &str, packets: &[Vec<u8>], fields: &[&str]) -> Dissected {
    let txt = dir.join(format!("{name}.txt"));
    let pcap = dir.join(format!("{name}.pcapng"));
    std::fs::write(&txt, hexdump(packets)).unwrap();
    run(Command::new("text2pcap")
        .arg("-q")
        .arg("-T")
        .arg(ports)
        .arg(&txt)
        .arg(&pcap));
    let base = |cmd: &mut Command| {
        cmd.arg("-r")
            .arg(&pcap)
            .args(["-d", "tcp.port==2000,skinny"])
            // Dummy TCP headers carry no ACKs; keep TCP's own analysis quiet
            // so any expert item left is the dissector's verdict on SCCP.
            .args(["-o", "tcp.analyze_sequence_numbers:FALSE"]);
    };
    let mut verbose = Command::new("tshark");
    base(&mut verbose);
    let verbose = run(verbose.arg("-V"));
    let mut table = Command::new("tshark");
    base(&mut table);
    table.args([
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in ["_ws.expert.message", "_ws.malformed"].iter().chain(fields) {
        table.args(["-e", f]);
    }
    let rows: Vec<Vec<String>> = run(&mut table)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    assert_eq!(
        rows.len(),
        packets.len(),
        "tshark saw a different number of packets"
    );
    for (i, row) in rows.iter().enumerate() {
        assert!(
            row[0].is_empty() && row[1].is_empty(),
            "{name} packet {}: expert info {:?}, malformed {:?}\n{verbose}",
            i + 1,
            row[0],
            row[1]
        );
    }
    for bad in ["Malformed", "Expert Info", "Unknown Message", "Undecoded"] {
        assert!(
            !verbose.contains(bad),
            "{name}: tshark reports {bad:?}:\n{verbose}"
        );
    }
    Dissected {
        verbose,
        rows: rows.into_iter().map(|r| r[2..].to_vec()).collect(),
    }
}

/// The `Message ID: Name (n)` lines of tshark's verbose output, in order.
fn message_names(verbose: &str) -> Vec<String> {
    verbose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Message ID: "))
        .map(|rest| rest.split(" (").next().unwrap_or_default().to_owned())
        .collect()
}

fn drain(s: &mut Session, packets: &mut Vec<Vec<u8>>) {
    let mut out = Vec::new();
    if s.poll_transmit(&mut out) {
        packets.push(out);
    }
}

/// A phone speaking `version` registers, keeps alive, is reset and
/// unregisters; one packet per drain, as a driver would write them.
fn server_packets(version: u8) -> Vec<Vec<u8>> {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    let mut packets = Vec::new();
    let phone = |m: Message| Frame::new(0, m).to_bytes().unwrap();
    s.handle_input(now, &phone(Message::KeepAlive));
    drain(&mut s, &mut packets);
    let register = Register {
        device_name: "SEP001E4A000001".into(),
        device_type: DeviceType::CP7941,
        protocol_version: version,
        ..Register::default()
    };
    s.handle_input(now, &phone(Message::Register(register)));
    assert!(matches!(
        s.poll_event(),
        Some(Event::RegisterRequest { .. })
    ));
    s.accept(now).unwrap();
    drain(&mut s, &mut packets);
    s.handle_input(now, &phone(Message::KeepAlive));
    drain(&mut s, &mut packets);
    s.reset(now, ResetType::Reset).unwrap();
    drain(&mut s, &mut packets);
    s.handle_input(now, &phone(Message::Unregister));
    drain(&mut s, &mut packets);
    assert_eq!(packets.len(), 5);
    packets
}

#[test]
fn tshark_accepts_server_messages() {
    let scratch = Scratch::new("server");
    let fields = [
        "skinny.messageId",
        "skinny.hdr_version",
        "skinny.maxProtocolVer",
        "skinny.keepAliveInterval",
        "skinny.dateTemplate",
        "skinny.resetType",
    ];
    for (version, agreed, header) in [
        (17u8, "17", "0x00000011"),
        (11, "11", "0x0000000b"),
        (6, "5", "0x00000000"),
    ] {
        let packets = server_packets(version);
        let d = dissect(
            &scratch.0,
            &format!("server-v{version}"),
            "2000,50000",
            &packets,
            &fields,
        );
        assert_eq!(
            message_names(&d.verbose),
            [
                "KeepAliveAck",
                "RegisterAck",
                "CapabilitiesReq",
                "KeepAliveAck",
                "Reset",
                "UnregisterAck"
            ],
            "v{version}:\n{}",
            d.verbose
        );
        let row = |i: usize| d.rows[i].iter().map(String::as_str).collect::<Vec<_>>();
        // RegisterAck and CapabilitiesReq share a packet: one value each.
        assert_eq!(row(1)[0], "129,155");
        assert_eq!(row(1)[1], format!("0x00000000,{header}"));
        assert_eq!(row(1)[2], agreed);
        assert_eq!(row(1)[3], "30");
        assert_eq!(row(1)[4], "M/D/Y");
        assert_eq!(row(3)[..2], ["159", header]);
        assert_eq!(
            row(3)[5],
            "0x00000001",
            "Reset must be a full reset (type 1)"
        );
        assert!(
            d.verbose.contains("resetType: RESET (0x00000001)"),
            "{}",
            d.verbose
        );
        assert_eq!(row(4)[..2], ["280", "0x00000000"]);
    }
}

#[test]
fn tshark_accepts_register_reject() {
    let scratch = Scratch::new("reject");
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    let register = Register {
        device_name: "SEP001E4A000009".into(),
        protocol_version: 11,
        ..Register::default()
    };
    s.handle_input(
        now,
        &Frame::new(0, Message::Register(register))
            .to_bytes()
            .unwrap(),
    );
    s.reject(now, "not the DHCP lease holder").unwrap();
    let mut packets = Vec::new();
    drain(&mut s, &mut packets);
    let d = dissect(
        &scratch.0,
        "reject",
        "2000,50000",
        &packets,
        &["skinny.messageId", "skinny.text"],
    );
    assert_eq!(message_names(&d.verbose), ["RegisterReject"]);
    assert_eq!(d.rows[0], ["157", "not the DHCP lease holder"]);
}

#[test]
fn tshark_accepts_phone_messages() {
    let scratch = Scratch::new("phone");
    let long = Register {
        device_name: "SEP001F9E266369".into(),
        instance: 1,
        station_ip: "192.168.9.36".parse().unwrap(),
        device_type: DeviceType::CP7941,
        max_streams: 5,
        protocol_version: 17,
        features: [0x00, 0x72, 0x85],
        max_conferences: 1,
        max_lines: 2,
        load_info: Some("SCCP41.8-5-3S".into()),
        ..Register::default()
    };
    let short = Register {
        device_name: "SEP001E4A000001".into(),
        instance: 1,
        station_ip: "192.168.9.37".parse().unwrap(),
        device_type: DeviceType::CP7960,
        max_streams: 3,
        protocol_version: 11,
        features: [0x00, 0x60, 0x85],
        max_conferences: 1,
        mac_field: *b"001E4A000001",
        ..Register::default()
    };
    let frames = [
        Frame::new(0x11, Message::Register(long)),
        Frame::new(0, Message::Register(short)),
        Frame::new(0, Message::KeepAlive),
        Frame::new(
            0,
            Message::Alarm(Alarm {
                severity: 2,
                text: "Name=SEP001F9E266369 Load= SCCP41.8-5-3S Last=TCP-timeout".into(),
                parm1: 0,
                parm2: 0,
            }),
        ),
        Frame::new(
            0,
            Message::CapabilitiesRes(CapabilitiesRes::new(vec![
                Capability {
                    payload: 4,
                    max_frames_per_packet: 40,
                    params: [0; 8],
                },
                Capability {
                    payload: 11,
                    max_frames_per_packet: 60,
                    params: [0; 8],
                },
            ])),
        ),
        Frame::new(
            0,
            Message::Unknown {
                id: MessageId::TimeDateReq,
                body: vec![],
            },
        ),
        Frame::new(0, Message::Unregister),
    ];
    let packets: Vec<Vec<u8>> = frames.iter().map(|f| f.to_bytes().unwrap()).collect();
    let d = dissect(
        &scratch.0,
        "phone",
        "50000,2000",
        &packets,
        &[
            "skinny.messageId",
            "skinny.DeviceName",
            "skinny.deviceType",
            "skinny.protocolVer",
            "skinny.firmwareLoadName",
            "skinny.alarmSeverity",
        ],
    );
    assert_eq!(
        message_names(&d.verbose),
        [
            "RegisterReq",
            "RegisterReq",
            "KeepAliveReq",
            "Alarm",
            "CapabilitiesRes",
            "TimeDateReq",
            "UnregisterReq"
        ],
        "{}",
        d.verbose
    );
    let row = |i: usize| d.rows[i].iter().map(String::as_str).collect::<Vec<_>>();
    assert_eq!(
        row(0)[..5],
        ["1", "SEP001F9E266369", "0x00000073", "17", "SCCP41.8-5-3S"]
    );
    // The short form has no load name, and tshark finds none.
    assert_eq!(
        row(1)[..5],
        ["1", "SEP001E4A000001", "0x00000007", "11", ""]
    );
    assert_eq!(row(3)[5], "0x00000002");
    assert!(d.verbose.contains("Load= SCCP41.8-5-3S"));
}
