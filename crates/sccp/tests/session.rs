//! Session flows as a driver sees them, with injected time.

// Tests need one real Instant as the origin; time then only moves virtually.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use sccp::protocol::SENDABLE;
use sccp::wire::{Alarm, Register, RegisterAck};
use sccp::{
    CloseReason, Config, DeviceType, Event, Frame, FrameError, Message, MessageId, ProtocolVersion,
    ResetType, Session, State,
};

fn register(protocol_version: u8, load: Option<&str>) -> Register {
    Register {
        device_name: "SEP001E4A000001".into(),
        instance: 1,
        station_ip: "192.168.9.36".parse().unwrap(),
        device_type: DeviceType::CP7941,
        max_streams: 3,
        protocol_version,
        load_info: load.map(str::to_owned),
        ..Register::default()
    }
}

fn bytes(message: Message) -> Vec<u8> {
    Frame::new(0, message).to_bytes().unwrap()
}

fn sent(s: &mut Session) -> Vec<Frame> {
    let mut out = Vec::new();
    if !s.poll_transmit(&mut out) {
        return Vec::new();
    }
    let mut decoder = sccp::Decoder::new();
    let mut rest = out.as_slice();
    let mut frames = Vec::new();
    while let Some(f) = decoder.decode(&mut rest).unwrap() {
        frames.push(f);
    }
    assert!(
        rest.is_empty() && decoder.buffered() == 0,
        "partial frame sent"
    );
    frames
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn registered(now: Instant, phone_version: u8) -> Session {
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(
        now,
        &bytes(Message::Register(register(phone_version, None))),
    );
    s.accept(now).unwrap();
    sent(&mut s);
    events(&mut s);
    s
}

#[test]
fn register_then_accept_sends_ack_and_capabilities_req() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(
        now,
        &bytes(Message::Register(register(17, Some("SCCP41.8-5-3S")))),
    );
    assert!(
        sent(&mut s).is_empty(),
        "nothing goes out before the driver decides"
    );
    assert_eq!(s.state(), State::AwaitingDecision);
    assert_eq!(
        events(&mut s),
        [Event::RegisterRequest {
            device_name: "SEP001E4A000001".into(),
            mac: Some([0x00, 0x1e, 0x4a, 0, 0, 1]),
            device_type: DeviceType::CP7941,
            protocol_version: 17,
            load: Some("SCCP41.8-5-3S".into()),
            station_ip: "192.168.9.36".parse().unwrap(),
        }]
    );
    s.accept(now).unwrap();
    assert_eq!(
        sent(&mut s),
        [
            Frame::new(
                0,
                Message::RegisterAck(RegisterAck::new(30, "M/D/Y", 30, ProtocolVersion::V17))
            ),
            Frame::new(17, Message::CapabilitiesReq),
        ]
    );
    assert_eq!(
        events(&mut s),
        [Event::Registered {
            device_name: "SEP001E4A000001".into(),
            mac: Some([0x00, 0x1e, 0x4a, 0, 0, 1]),
            device_type: DeviceType::CP7941,
            protocol: ProtocolVersion::V17,
            load: Some("SCCP41.8-5-3S".into()),
        }]
    );
    assert_eq!(s.state(), State::Registered);
    assert_eq!(s.device_name(), Some("SEP001E4A000001"));
}

#[test]
fn old_phone_gets_a_lower_version_and_zero_headers() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(now, &bytes(Message::Register(register(6, None))));
    s.accept(now).unwrap();
    let frames = sent(&mut s);
    let Message::RegisterAck(ack) = &frames[0].message else {
        panic!("{frames:?}")
    };
    assert_eq!(ack.protocol_version, 5);
    assert_eq!(ack.features, [0x20, 0xf1, 0xfe]);
    assert_eq!(frames[1], Frame::new(0, Message::CapabilitiesReq));
    assert_eq!(s.negotiated(), Some(ProtocolVersion::V5));
}

#[test]
fn reject_sends_the_text_and_closes() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(now, &bytes(Message::Register(register(11, None))));
    events(&mut s);
    s.reject(now, "not the lease holder").unwrap();
    assert_eq!(
        sent(&mut s),
        [Frame::new(
            0,
            Message::RegisterReject {
                text: "not the lease holder".into()
            }
        )]
    );
    assert_eq!(
        events(&mut s),
        [Event::Closed {
            why: CloseReason::Rejected
        }]
    );
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
    s.handle_input(now, &bytes(Message::KeepAlive));
    assert!(sent(&mut s).is_empty());
    assert!(events(&mut s).is_empty());
    assert_eq!(s.accept(now), Err(sccp::CommandError::Closed));
}

#[test]
fn keepalive_is_answered_before_and_after_registration() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(now, &bytes(Message::KeepAlive));
    assert_eq!(sent(&mut s), [Frame::new(0, Message::KeepAliveAck)]);
    let mut s = registered(now, 17);
    s.handle_input(now, &bytes(Message::KeepAlive));
    // KeepAliveAck's header version is 0 even at version 17.
    assert_eq!(sent(&mut s), [Frame::new(0, Message::KeepAliveAck)]);
    assert_eq!(s.stats().keepalives, 1);
}

#[test]
fn alarm_reports_the_load() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    let alarm = Alarm {
        severity: 2,
        text: "Name=SEP3037A617E137Load= SCCP11.8-4-2S Last=TCP-timeout".into(),
        ..Alarm::default()
    };
    s.handle_input(now, &bytes(Message::Alarm(alarm)));
    assert_eq!(
        events(&mut s),
        [Event::Alarm {
            severity: 2,
            text: "Name=SEP3037A617E137Load= SCCP11.8-4-2S Last=TCP-timeout".into(),
            load: Some("SCCP11.8-4-2S".into()),
        }]
    );
    assert!(sent(&mut s).is_empty());
}

#[test]
fn reset_only_when_registered() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    assert_eq!(
        s.reset(now, ResetType::Reset),
        Err(sccp::CommandError::NotRegistered {
            state: State::AwaitingRegister
        })
    );
    s.handle_input(now, &bytes(Message::Register(register(17, None))));
    assert_eq!(
        s.reset(now, ResetType::Reset),
        Err(sccp::CommandError::NotRegistered {
            state: State::AwaitingDecision
        })
    );
    assert!(sent(&mut s).is_empty());
    s.accept(now).unwrap();
    sent(&mut s);
    s.reset(now, ResetType::Reset).unwrap();
    assert_eq!(
        sent(&mut s),
        [Frame::new(17, Message::Reset(ResetType::Reset))]
    );
    let raw = Frame::new(17, Message::Reset(ResetType::Reset))
        .to_bytes()
        .unwrap();
    assert_eq!(raw, [8, 0, 0, 0, 17, 0, 0, 0, 0x9f, 0, 0, 0, 1, 0, 0, 0]);
    s.handle_eof(now);
    assert_eq!(
        s.reset(now, ResetType::Restart),
        Err(sccp::CommandError::Closed)
    );
    assert_eq!(s.stats().resets, 1);
}

#[test]
fn accept_and_reject_need_a_pending_register() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    assert!(matches!(
        s.accept(now),
        Err(sccp::CommandError::NotAwaitingDecision { .. })
    ));
    assert!(s.reject(now, "x").is_err());
    let mut s = registered(now, 11);
    assert!(s.accept(now).is_err());
    assert!(s.reject(now, "x").is_err());
    assert!(sent(&mut s).is_empty());
}

#[test]
fn idle_timeout_closes_and_input_pushes_it_back() {
    let start = Instant::now();
    let mut s = Session::new(start, Config::default()).unwrap();
    assert_eq!(s.poll_timeout(), Some(start + Duration::from_secs(90)));
    s.handle_timeout(start + Duration::from_secs(89));
    assert!(!s.is_closed());
    s.handle_input(start + Duration::from_secs(60), &bytes(Message::KeepAlive));
    assert_eq!(s.poll_timeout(), Some(start + Duration::from_secs(150)));
    s.handle_timeout(start + Duration::from_secs(149));
    assert!(!s.is_closed());
    s.handle_timeout(start + Duration::from_secs(150));
    assert!(s.is_closed());
    let evs = events(&mut s);
    assert_eq!(
        evs.last(),
        Some(&Event::Closed {
            why: CloseReason::IdleTimeout
        })
    );
    s.handle_timeout(start + Duration::from_secs(500));
    assert!(events(&mut s).is_empty(), "a second timeout does nothing");
}

#[test]
fn huge_length_closes_without_waiting_for_the_body() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(now, &[0, 0, 0, 0x80, 0, 0, 0, 0]);
    assert_eq!(
        events(&mut s),
        [Event::Closed {
            why: CloseReason::BadFrame(FrameError::LengthTooLarge(1 << 31))
        }]
    );
    assert!(sent(&mut s).is_empty());
}

#[test]
fn garbage_closes() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(now, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let evs = events(&mut s);
    assert!(
        matches!(
            evs.as_slice(),
            [Event::Closed {
                why: CloseReason::BadFrame(_)
            }]
        ),
        "{evs:?}"
    );
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(now, &[0; 8]);
    assert_eq!(
        s.close_reason(),
        Some(CloseReason::BadFrame(FrameError::LengthTooSmall(0)))
    );
}

/// A phone's registration, frame by frame or byte by byte, gives the same
/// events and output; the driver decides as soon as it is asked.
#[test]
fn byte_by_byte_equals_whole() {
    let now = Instant::now();
    let frames = [
        bytes(Message::KeepAlive),
        bytes(Message::Register(register(17, Some("SCCP41.8-5-3S")))),
        bytes(Message::Alarm(Alarm {
            text: "Load= SCCP41.8-5-3S".into(),
            ..Alarm::default()
        })),
        bytes(Message::Unknown {
            id: MessageId::TimeDateReq,
            body: vec![],
        }),
        bytes(Message::KeepAlive),
    ];
    let run = |chunk: usize| {
        let mut s = Session::new(now, Config::default()).unwrap();
        let mut log = Vec::new();
        let mut out = Vec::new();
        for piece in frames.iter().flat_map(|f| f.chunks(chunk)) {
            s.handle_input(now, piece);
            for e in events(&mut s) {
                if matches!(e, Event::RegisterRequest { .. }) {
                    s.accept(now).unwrap();
                }
                log.push(e);
            }
            log.extend(events(&mut s));
            out.extend(sent(&mut s));
        }
        (log, out, s.stats().clone())
    };
    let whole = run(usize::MAX);
    assert_eq!(whole.0.len(), 3, "{:?}", whole.0);
    assert_eq!(whole.1.len(), 4, "{:?}", whole.1);
    assert_eq!(whole.2.ignored, 1);
    assert_eq!(run(1), whole);
    assert_eq!(run(5), whole);

    // All of it in one read: the same frames arrive, several per chunk.
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_input(now, &frames.concat());
    assert_eq!(s.stats().frames_in, 5);
    assert_eq!(sent(&mut s).len(), 2, "two KeepAliveAcks");
    assert_eq!(events(&mut s).len(), 2, "RegisterRequest and Alarm");
}

#[test]
fn unregister_is_acknowledged_and_closes() {
    let now = Instant::now();
    let mut s = registered(now, 17);
    s.handle_input(now, &bytes(Message::Unregister));
    assert_eq!(
        sent(&mut s),
        [Frame::new(0, Message::UnregisterAck { status: 0 })]
    );
    assert_eq!(
        events(&mut s),
        [Event::Closed {
            why: CloseReason::Unregistered
        }]
    );
}

#[test]
fn unknown_ids_are_counted_and_too_many_close() {
    let now = Instant::now();
    let config = Config {
        max_unknown: 3,
        ..Config::default()
    };
    let mut s = Session::new(now, config).unwrap();
    // Registration chatter with a name is ignored, however much of it.
    for id in [
        MessageId::TimeDateReq,
        MessageId::ButtonTemplateReq,
        MessageId::VersionReq,
    ] {
        for _ in 0..20 {
            s.handle_input(now, &bytes(Message::Unknown { id, body: vec![] }));
        }
    }
    assert!(!s.is_closed());
    assert_eq!(s.stats().ignored, 60);
    let unknown = bytes(Message::Unknown {
        id: MessageId::Unknown(0x7777),
        body: vec![1, 2, 3, 4],
    });
    for _ in 0..3 {
        s.handle_input(now, &unknown);
    }
    // A phone sending a server message counts as unknown too.
    assert!(!s.is_closed());
    s.handle_input(now, &bytes(Message::CapabilitiesReq));
    assert_eq!(
        s.close_reason(),
        Some(CloseReason::TooManyUnknown { count: 4 })
    );
}

#[test]
fn a_second_register_is_ignored() {
    let now = Instant::now();
    let mut s = registered(now, 17);
    let mut other = register(17, None);
    other.device_name = "SEP001E4A000002".into();
    s.handle_input(now, &bytes(Message::Register(other)));
    assert!(events(&mut s).is_empty());
    assert!(sent(&mut s).is_empty());
    assert_eq!(s.stats().repeated_registers, 1);
    assert_eq!(s.device_name(), Some("SEP001E4A000001"));
}

#[test]
fn eof_and_close_now() {
    let now = Instant::now();
    let mut s = Session::new(now, Config::default()).unwrap();
    s.handle_eof(now);
    assert_eq!(s.close_reason(), Some(CloseReason::PeerClosed));
    let mut s = Session::new(now, Config::default()).unwrap();
    s.close_now(now);
    s.handle_eof(now);
    assert_eq!(s.close_reason(), Some(CloseReason::Aborted));
    assert_eq!(events(&mut s).len(), 1);
}

#[test]
fn config_is_checked() {
    let now = Instant::now();
    let bad = [
        Config {
            keepalive: Duration::from_millis(1500),
            ..Config::default()
        },
        Config {
            keepalive: Duration::ZERO,
            ..Config::default()
        },
        Config {
            idle_timeout: Duration::from_secs(30),
            ..Config::default()
        },
        Config {
            date_template: "M/D/YYY".into(),
            ..Config::default()
        },
        Config {
            date_template: String::new(),
            ..Config::default()
        },
    ];
    for config in bad {
        let err = Session::new(now, config.clone()).unwrap_err();
        assert!(!err.to_string().is_empty());
        assert_eq!(config.validate(), Err(err));
    }
    assert_eq!(Config::default().validate(), Ok(()));
}

/// For every version a phone may claim and every ceiling we may set, the
/// session sends only ids the agreed version knows, with the right header.
#[test]
fn never_sends_an_id_the_negotiated_version_lacks() {
    let now = Instant::now();
    for ours in ProtocolVersion::IMPLEMENTED {
        for phone in 0..=255u8 {
            let config = Config {
                our_max_version: ours,
                ..Config::default()
            };
            let mut s = Session::new(now, config).unwrap();
            let mut frames = Vec::new();
            s.handle_input(now, &bytes(Message::KeepAlive));
            frames.extend(sent(&mut s).into_iter().map(|f| (None, f)));
            s.handle_input(now, &bytes(Message::Register(register(phone, None))));
            s.accept(now).unwrap();
            let v = s.negotiated().unwrap();
            assert_eq!(v, ProtocolVersion::negotiate(phone, ours));
            s.handle_input(now, &bytes(Message::KeepAlive));
            for kind in [ResetType::Reset, ResetType::Restart, ResetType::ApplyConfig] {
                s.reset(now, kind).unwrap();
            }
            s.handle_input(now, &bytes(Message::Unregister));
            frames.extend(sent(&mut s).into_iter().map(|f| (Some(v), f)));
            assert_eq!(frames.len(), 8);
            for (version, f) in frames {
                let id = f.message.id();
                assert!(SENDABLE.contains(&id));
                let floor = version.unwrap_or(ProtocolVersion::LOWEST);
                assert!(floor.knows(id), "{id:?} at {floor}");
                assert_eq!(f.version, version.map_or(0, |v| v.header_version(id)));
            }
            assert_eq!(s.stats().suppressed, 0);
        }
    }
}
