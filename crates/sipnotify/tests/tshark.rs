//! Wireshark's SIP dissector judges what we put on the wire: both NOTIFY
//! kinds and the phone simulator's answers must dissect with no malformed
//! or expert findings, and show the method, Event, Request-URI user and
//! body we meant. A deliberately broken datagram proves the judge looks.
//!
//! Needs `tshark` and `text2pcap` (Debian package `tshark`); the test fails,
//! not skips, without them, so a CI image that lost them is noticed.

// A base instant only; the code under test never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sipnotify::{Action, Kind, Message, Notify, NotifyRequest, Retransmit};

fn notify(kind: Kind, call_id: &str, branch: &str) -> Vec<u8> {
    let request = NotifyRequest {
        kind,
        phone: "10.0.0.5:5060".parse().unwrap(),
        local: "10.0.0.1:5060".parse().unwrap(),
        line_user: "1001".into(),
        call_id: call_id.into(),
        from_tag: "f00d".into(),
        branch: branch.into(),
        cseq: 1300,
    };
    let mut n = Notify::new(Instant::now(), request, Retransmit::default()).unwrap();
    let mut out = Vec::new();
    assert!(n.poll_transmit(&mut out));
    out
}

/// text2pcap's input: each packet as offset-prefixed hex lines from 0.
fn hex_dump(packets: &[&[u8]]) -> String {
    let mut text = String::new();
    for packet in packets {
        for (i, chunk) in packet.chunks(16).enumerate() {
            text.push_str(&format!("{:06x}", i * 16));
            for b in chunk {
                text.push_str(&format!(" {b:02x}"));
            }
            text.push('\n');
        }
    }
    text
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program}: {e}; install Wireshark's command-line tools (apt-get install tshark)")
    });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Splits `tshark -V` output into one text per frame.
fn frames_verbose(pcap: &Path) -> Vec<String> {
    let text = run("tshark", &["-r", pcap.to_str().unwrap(), "-V"]);
    let mut frames: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("Frame ") || frames.is_empty() {
            frames.push(String::new());
        }
        let last = frames.last_mut().unwrap();
        last.push_str(line);
        last.push('\n');
    }
    frames
}

const FIELDS: [&str; 15] = [
    "frame.number",
    "sip.Method",
    "sip.r-uri.user",
    "sip.Event",
    "sip.Status-Code",
    "sip.to.user",
    "sip.to.tag",
    "sip.Via.branch",
    "sip.CSeq",
    "sip.Content-Length",
    "sip.Content-Type",
    "sip.Subscription-State",
    "_ws.expert.severity",
    "_ws.expert.message",
    "_ws.malformed",
];

#[derive(Debug)]
struct Row(Vec<String>);

impl Row {
    fn get(&self, field: &str) -> &str {
        let i = FIELDS.iter().position(|f| *f == field).unwrap();
        &self.0[i]
    }

    fn assert_clean(&self) {
        for f in ["_ws.expert.severity", "_ws.expert.message", "_ws.malformed"] {
            assert_eq!(
                self.get(f),
                "",
                "frame {}: tshark reports {f}: {self:?}",
                self.get("frame.number")
            );
        }
    }
}

#[test]
fn tshark_accepts_our_notifies_and_answers() {
    let check_sync = notify(Kind::CheckSync, "cs1@10.0.0.1", "z9hG4bKcs1");
    let reset = notify(
        Kind::ServiceControl {
            action: Action::Reset,
            register_call_id: Some("00112233-44550002-0e1f2c3d@10.0.0.5".into()),
        },
        "sc1@10.0.0.1",
        "z9hG4bKsc1",
    );
    let restart = notify(
        Kind::ServiceControl {
            action: Action::Restart,
            register_call_id: None,
        },
        "sc2@10.0.0.1",
        "z9hG4bKsc2",
    );
    // The phone simulator's side: parse and answer.
    let parsed = Message::parse(&check_sync).unwrap();
    let ok = parsed.response(200, "OK", "ph1").to_bytes().unwrap();
    let parsed_reset = Message::parse(&reset).unwrap();
    let gone = parsed_reset
        .response(481, "Call/Transaction Does Not Exist", "ph2")
        .to_bytes()
        .unwrap();
    // Control: a header without a colon, which the dissector must flag.
    let broken = String::from_utf8(check_sync.clone())
        .unwrap()
        .replace("User-Agent: phoneboot", "User-Agent phoneboot")
        .into_bytes();

    let dir = std::env::temp_dir().join(format!("sipnotify-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join("packets.txt");
    let pcap = dir.join("packets.pcap");
    std::fs::write(
        &dump,
        hex_dump(&[&check_sync, &reset, &restart, &ok, &gone, &broken]),
    )
    .unwrap();
    run(
        "text2pcap",
        &[
            "-q",
            "-u",
            "5060,5060",
            dump.to_str().unwrap(),
            pcap.to_str().unwrap(),
        ],
    );

    let mut args = vec![
        "-r",
        pcap.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ];
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    let table = run("tshark", &args);
    println!("{table}");
    let rows: Vec<Row> = table
        .lines()
        .map(|l| Row(l.split('\t').map(str::to_owned).collect()))
        .collect();
    assert_eq!(rows.len(), 6, "{table}");
    let frames = frames_verbose(&pcap);
    assert_eq!(frames.len(), 6);

    // 1: check-sync.
    let r = &rows[0];
    r.assert_clean();
    assert_eq!(r.get("sip.Method"), "NOTIFY");
    assert_eq!(r.get("sip.r-uri.user"), "1001");
    assert_eq!(r.get("sip.to.user"), "1001");
    assert_eq!(r.get("sip.Event"), "check-sync");
    assert_eq!(r.get("sip.Subscription-State"), "terminated");
    assert_eq!(r.get("sip.Via.branch"), "z9hG4bKcs1");
    assert_eq!(r.get("sip.CSeq"), "1300 NOTIFY");
    assert_eq!(r.get("sip.Content-Length"), "0");
    assert!(!frames[0].contains("Message Body"), "{}", frames[0]);

    // 2, 3: service-control, body as text/plain lines.
    for (r, frame, action, call_id) in [
        (
            &rows[1],
            &frames[1],
            "reset",
            "00112233-44550002-0e1f2c3d@10.0.0.5",
        ),
        (&rows[2], &frames[2], "restart", ""),
    ] {
        r.assert_clean();
        assert_eq!(r.get("sip.Method"), "NOTIFY");
        assert_eq!(r.get("sip.r-uri.user"), "1001");
        assert_eq!(r.get("sip.Event"), "service-control");
        assert_eq!(r.get("sip.Subscription-State"), "active");
        assert_eq!(r.get("sip.Content-Type"), "text/plain");
        assert!(
            frame.contains("Line-based text data: text/plain (6 lines)"),
            "{frame}"
        );
        let zero = "{00000000-0000-0000-0000-000000000000}";
        for line in [
            format!("action={action}\\r\\n"),
            format!("RegisterCallId={{{call_id}}}\\r\\n"),
            format!("ConfigVersionStamp={zero}\\r\\n"),
            format!("DialplanVersionStamp={zero}\\r\\n"),
            format!("SoftkeyVersionStamp={zero}\\r\\n"),
            format!("FeatureControlVersionStamp={zero}\\r\\n"),
        ] {
            assert!(
                frame.lines().any(|l| l.trim() == line),
                "body line {line:?} missing:\n{frame}"
            );
        }
    }

    // 4, 5: the simulator's answers.
    let r = &rows[3];
    r.assert_clean();
    assert_eq!(r.get("sip.Status-Code"), "200");
    assert_eq!(r.get("sip.CSeq"), "1300 NOTIFY");
    assert_eq!(r.get("sip.Via.branch"), "z9hG4bKcs1");
    assert_eq!(r.get("sip.to.tag"), "ph1");
    let r = &rows[4];
    r.assert_clean();
    assert_eq!(r.get("sip.Status-Code"), "481");
    assert_eq!(r.get("sip.to.tag"), "ph2");

    // 6: the judge is not blind.
    assert_eq!(rows[5].get("_ws.malformed"), "_ws.malformed", "{table}");
    assert!(
        rows[5].get("_ws.expert.message").contains("no colon"),
        "{table}"
    );

    std::fs::remove_dir_all(&dir).unwrap();
}
