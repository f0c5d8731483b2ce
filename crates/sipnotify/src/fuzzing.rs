//! Entry points for fuzzers (`fuzz/fuzz_targets/sip_message.rs`) and the
//! seeded smoke test below. They assert the crate's promises, so a panic
//! here is a bug found.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{ParseError, WriteError, MAX_DATAGRAM};
use crate::{Action, Event, Kind, Message, Notify, NotifyRequest, Retransmit};

/// Parse → write → parse must agree for every datagram that parses, and a
/// response built from a parsed request must write and parse too.
pub fn message(data: &[u8]) {
    let Ok(m) = Message::parse(data) else {
        return;
    };
    round_trip(&m);
    if m.method().is_some() {
        let mut request = m.clone();
        let source = SocketAddr::from(([192, 0, 2, 7], 5060));
        let _ = request.response_destination(source);
        request.add_received(source);
        let _ = request.response_destination(source);
        let response = request.response(200, "OK", "fz");
        round_trip(&response);
        let _ = (
            m.request_uri_user(),
            m.to_user(),
            m.to_tag(),
            m.from_tag(),
            m.event(),
        );
    }
}

/// Writes `m`, which must succeed unless adding ";tag=" or ": " pushed a
/// line or the datagram over its limit, and must parse back unchanged.
fn round_trip(m: &Message) {
    let out = match m.to_bytes() {
        Ok(out) => out,
        Err(WriteError::Refused(ParseError::TooLarge(_) | ParseError::LineTooLong { .. })) => {
            return
        }
        Err(e) => panic!("a parsed message must write: {e}\n{m:?}"),
    };
    assert!(out.len() <= MAX_DATAGRAM);
    let again = Message::parse(&out).expect("a written message must parse");
    assert_eq!(m, &again, "parse/write/parse changed the message");
    assert_eq!(
        again.to_bytes().expect("rewrite"),
        out,
        "writing is not stable"
    );
}

/// Drives one NOTIFY with arbitrary datagrams and time steps taken from
/// `data` (chunks split at 0xff), then lets it time out. Checks: sends stay
/// within `max_tries` and Timer F, every send repeats the request, exactly
/// one event comes out, and nothing happens after it.
pub fn notify(start: Instant, data: &[u8]) -> Event {
    let first = data.first().copied().unwrap_or(0);
    let kind = match first % 3 {
        0 => Kind::CheckSync,
        1 => Kind::ServiceControl {
            action: Action::Reset,
            register_call_id: Some("a1b2@10.0.0.5".into()),
        },
        _ => Kind::ServiceControl {
            action: Action::Restart,
            register_call_id: None,
        },
    };
    let retransmit = Retransmit {
        max_tries: u32::from(first / 3 % 12) + 1,
        ..Retransmit::default()
    };
    let request = NotifyRequest {
        kind,
        phone: SocketAddr::from(([10, 0, 0, 5], 5060)),
        local: SocketAddr::from(([10, 0, 0, 1], 5060)),
        line_user: "1001".into(),
        call_id: "fuzz@10.0.0.1".into(),
        from_tag: "ft".into(),
        branch: "z9hG4bKfuzz".into(),
        cseq: 7,
    };
    let mut n = Notify::new(start, request, retransmit).expect("fixed request is valid");
    let sent = n.request().to_bytes().expect("request writes");
    let parsed = Message::parse(&sent).expect("request parses");
    let ok = parsed.response(200, "OK", "pt").to_bytes().expect("reply");
    // The reply without its status line, to put any status in front.
    let ok_tail = &ok[ok.iter().position(|&b| b == b'\r').expect("CRLF")..];
    let limit = start + retransmit.t1 * 64;

    let mut now = start;
    let mut events = 0u32;
    let mut last = None;
    let mut out = Vec::new();
    let mut drain = |n: &mut Notify, now: Instant, events: &mut u32| {
        while n.poll_transmit(&mut out) {
            assert_eq!(out, sent, "a retransmission differs from the request");
            assert!(now <= limit, "sent after Timer F");
        }
        assert!(n.stats().tries <= retransmit.max_tries, "too many tries");
        if let Some(t) = n.poll_timeout() {
            assert!(t <= limit, "a timer past Timer F");
        }
        while let Some(e) = n.poll_event() {
            *events += 1;
            assert_eq!(*events, 1, "more than one event");
            let tries = match e {
                Event::Answered { tries, status, .. } => {
                    assert!((200..=699).contains(&status));
                    tries
                }
                Event::NoAnswer { tries } => tries,
            };
            assert_eq!(tries, n.stats().tries);
            assert!(n.is_finished());
            last = Some(e);
        }
        if n.is_finished() {
            assert!(n.poll_timeout().is_none());
            assert!(!n.poll_transmit(&mut Vec::new()));
        }
    };
    drain(&mut n, now, &mut events);
    for chunk in data.get(1..).unwrap_or_default().split(|&b| b == 0xff) {
        let step = chunk.first().copied().unwrap_or(0);
        now += Duration::from_millis(u64::from(step) * 40);
        n.handle_timeout(now);
        drain(&mut n, now, &mut events);
        let op = chunk.get(1).copied().unwrap_or(0);
        let payload = chunk.get(2..).unwrap_or_default();
        match op % 5 {
            0 | 1 => {
                let status = 100
                    + u16::from_be_bytes([
                        payload.first().copied().unwrap_or(0),
                        payload.get(1).copied().unwrap_or(0),
                    ]) % 600;
                let reply = [format!("SIP/2.0 {status} Fuzz").as_bytes(), ok_tail].concat();
                n.handle_datagram(now, &reply);
            }
            2 => {
                let mut reply = ok.clone();
                for (i, b) in payload.iter().enumerate() {
                    let at = (usize::from(*b) * 7 + i) % reply.len();
                    reply[at] ^= b | 1;
                }
                n.handle_datagram(now, &reply);
            }
            3 => n.handle_datagram(now, payload),
            _ if step == 0xfe => n.handle_transport_error(now),
            _ => {}
        }
        drain(&mut n, now, &mut events);
    }
    // Let it run out: it must end by Timer F at the latest.
    for _ in 0..=retransmit.max_tries + 2 {
        let Some(t) = n.poll_timeout() else { break };
        now = now.max(t);
        n.handle_timeout(now);
        drain(&mut n, now, &mut events);
    }
    assert!(n.is_finished(), "still running after every timer fired");
    assert_eq!(events, 1, "no final event");
    last.expect("one event")
}

#[cfg(test)]
// A base instant only; the code under test never reads the clock.
#[allow(clippy::disallowed_methods)]
mod tests {
    use std::time::Instant;

    use crate::{Kind, Notify, NotifyRequest, Retransmit};

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn mutate(rng: &mut XorShift, seed: &[u8]) -> Vec<u8> {
        let mut data = seed.to_vec();
        for _ in 0..(rng.next() % 8) {
            let pos = (rng.next() as usize) % (data.len() + 1);
            match rng.next() % 4 {
                0 => data.insert(pos, rng.next() as u8),
                1 if pos < data.len() => {
                    data.remove(pos);
                }
                2 => {
                    // Splice in SIP punctuation, where the parser's rules live.
                    let bits: [&[u8]; 8] = [
                        b"\r\n",
                        b"\r\n ",
                        b":",
                        b";",
                        b",",
                        b"\r\n\r\n",
                        b"<",
                        b"l: 9",
                    ];
                    let bit = bits[(rng.next() as usize) % bits.len()];
                    data.splice(pos..pos, bit.iter().copied());
                }
                _ if pos < data.len() => data[pos] = rng.next() as u8,
                _ => {}
            }
        }
        data
    }

    fn seeds() -> Vec<Vec<u8>> {
        let mut seeds: Vec<Vec<u8>> = vec![
            b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport=5060;received=10.0.0.1\r\nf: <sip:phoneboot@10.0.0.1>;tag=f\r\nt: <sip:1001@10.0.0.5>;tag=t\r\ni: c@h\r\nCSeq: 1 NOTIFY\r\nl: 0\r\n\r\n".to_vec(),
            b"REGISTER sip:10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr, SIP/2.0/UDP p:5070\r\nFrom: \"L1\" <sip:1001@10.0.0.1>;tag=a\r\nTo: <sip:1001@10.0.0.1>\r\nCall-ID: 0011-22@10.0.0.5\r\nCSeq: 101 REGISTER\r\nContact: <sip:1001@10.0.0.5:5060>;+sip.instance=\"<urn:uuid:1>\"\r\nSubject: folded\r\n  line\r\nContent-Length: 4\r\n\r\nbody+extra".to_vec(),
        ];
        for kind in [
            Kind::CheckSync,
            Kind::ServiceControl {
                action: crate::Action::Reset,
                register_call_id: Some("x@y".into()),
            },
        ] {
            let n = Notify::new(
                Instant::now(),
                NotifyRequest {
                    kind,
                    phone: "10.0.0.5:5060".parse().unwrap(),
                    local: "10.0.0.1:5060".parse().unwrap(),
                    line_user: "1001".into(),
                    call_id: "c@h".into(),
                    from_tag: "f".into(),
                    branch: "z9hG4bKs".into(),
                    cseq: 1,
                },
                Retransmit::default(),
            )
            .unwrap();
            seeds.push(n.request().to_bytes().unwrap());
        }
        seeds
    }

    #[test]
    fn message_entry_never_panics() {
        let seeds = seeds();
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut parsed = 0;
        for i in 0..20_000usize {
            let data = if i % 9 == 0 {
                (0..(rng.next() % 200)).map(|_| rng.next() as u8).collect()
            } else {
                mutate(&mut rng, &seeds[i % seeds.len()])
            };
            if crate::Message::parse(&data).is_ok() {
                parsed += 1;
            }
            super::message(&data);
        }
        assert!(parsed > 2_000, "mutations rarely parse: {parsed}");
    }

    #[test]
    fn notify_entry_never_panics() {
        let start = Instant::now();
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let (mut answered, mut silent) = (0, 0);
        for _ in 0..20_000 {
            let data: Vec<u8> = (0..(rng.next() % 64))
                .map(|_| match rng.next() % 5 {
                    0 => 0xff,
                    _ => rng.next() as u8,
                })
                .collect();
            match super::notify(start, &data) {
                crate::Event::Answered { .. } => answered += 1,
                crate::Event::NoAnswer { .. } => silent += 1,
            }
        }
        assert!(
            answered > 2_000 && silent > 2_000,
            "answered {answered}, silent {silent}"
        );
    }
}
