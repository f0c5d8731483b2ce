//! Entry points for fuzzers: the cargo-fuzz target in `fuzz/` and the
//! seeded smoke test below. Each must never panic on any input; the
//! assertions are the invariants.

use std::time::{Duration, Instant};

use crate::protocol::{ProtocolVersion, SENDABLE};
use crate::wire::{Alarm, Decoder, Frame, Message, MessageId, Register, ResetType};
use crate::{Config, Event, FrameError, Session, State};

/// Tiny xorshift, so chunk splits follow from the input alone.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Decodes `stream` in chunks chosen by `rng`; returns the frames and the
/// error that stopped it, if any.
fn decode_chunked(stream: &[u8], rng: &mut Option<Rng>) -> (Vec<Frame>, Option<FrameError>) {
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let take = match rng {
            Some(r) => (r.below(17) + 1).min(rest.len()),
            None => rest.len(),
        };
        let (mut piece, tail) = rest.split_at(take);
        rest = tail;
        while !piece.is_empty() {
            match decoder.decode(&mut piece) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => {}
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

/// Emit → parse → emit reaches a fixed point after one round.
fn check_round_trip(frame: &Frame) {
    let first = frame.to_bytes().expect("a parsed frame must emit");
    assert_eq!(
        first.len(),
        frame.buffer_len(),
        "buffer_len disagrees with emit"
    );
    assert_eq!(first.len() % 4, 0, "frame not padded to 4 bytes");
    let (again, used) = Frame::parse(&first).expect("an emitted frame must parse");
    assert_eq!(used, first.len());
    let second = again.to_bytes().expect("a re-parsed frame must emit");
    assert_eq!(first, second, "emit/parse/emit changed the bytes");
    assert_eq!(Frame::parse(&second).map(|(f, _)| f), Ok(again));
}

/// The first byte seeds the chunk splits; the rest is a TCP stream. The
/// stream must decode to the same frames and error however it is split,
/// and every frame must survive emit → parse → emit.
pub fn frame(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = decode_chunked(stream, &mut None);
    let split = decode_chunked(stream, &mut Some(Rng::new(u64::from(seed) << 8 | 0x5a)));
    assert_eq!(whole, split, "chunking changed what was decoded");
    for f in &whole.0 {
        check_round_trip(f);
    }
}

/// Frame ids worth sending at a session, named and not.
const IDS: [u32; 16] = [
    0x0000,
    0x0001,
    0x000d,
    0x000e,
    0x000f,
    0x0010,
    0x0020,
    0x0027,
    0x0081,
    0x009b,
    0x009d,
    0x009f,
    0x0100,
    0x0118,
    0x1234,
    0xffff_ffff,
];

struct Script<'a> {
    data: std::slice::Iter<'a, u8>,
}

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        self.data.next().copied().unwrap_or(0)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// What the checker knows of the session between steps.
struct Checker {
    out: Decoder,
    closed_seen: bool,
    register_requests: u32,
}

impl Checker {
    /// Drains the session and checks every invariant. `was_closed`: the
    /// session was closed before the step, so it must not have sent more.
    fn drain(&mut self, s: &mut Session, was_closed: bool) {
        let mut buf = Vec::new();
        if s.poll_transmit(&mut buf) {
            assert!(!was_closed, "a closed session sent bytes");
            let (frames, err) = decode_stream(&mut self.out, &buf);
            assert_eq!(err, None, "the session emitted a bad frame");
            for f in frames {
                let id = f.message.id();
                assert!(
                    SENDABLE.contains(&id),
                    "sent {id:?}, which the core must not send"
                );
                let version = s.negotiated().unwrap_or(ProtocolVersion::LOWEST);
                assert!(
                    version.knows(id),
                    "sent {id:?}, unknown to version {version}"
                );
                let header = s.negotiated().map_or(0, |v| v.header_version(id));
                assert_eq!(f.version, header, "wrong header version on {id:?}");
                if let Message::RegisterAck(ack) = &f.message {
                    let v = s.negotiated().expect("RegisterAck before negotiation");
                    assert_eq!(ack.protocol_version, v.get());
                    assert_eq!(ack.features, v.register_ack_features());
                }
                check_round_trip(&f);
            }
        }
        assert!(
            !s.poll_transmit(&mut buf),
            "poll_transmit must drain everything"
        );
        while let Some(event) = s.poll_event() {
            assert!(!self.closed_seen, "event after Closed: {event:?}");
            match event {
                Event::Closed { why } => {
                    self.closed_seen = true;
                    assert_eq!(s.close_reason(), Some(why));
                }
                Event::RegisterRequest { .. } => self.register_requests += 1,
                Event::Registered { protocol, .. } => {
                    assert_eq!(s.negotiated(), Some(protocol));
                }
                Event::Alarm { .. } => {}
            }
        }
        assert!(
            self.register_requests <= 1,
            "two RegisterRequests on one session"
        );
        assert_eq!(
            s.is_closed(),
            self.closed_seen,
            "closed without a Closed event"
        );
        assert_eq!(s.poll_timeout().is_none(), s.is_closed());
        assert_eq!(
            s.stats().suppressed,
            0,
            "the session tried to send a disallowed message"
        );
    }
}

fn decode_stream(decoder: &mut Decoder, mut bytes: &[u8]) -> (Vec<Frame>, Option<FrameError>) {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        match decoder.decode(&mut bytes) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => {}
            Err(e) => return (frames, Some(e)),
        }
    }
    (frames, None)
}

fn feed(s: &mut Session, now: Instant, bytes: &[u8], rng: &mut Rng) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = (rng.below(9) + 1).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        s.handle_input(now, piece);
        rest = tail;
    }
}

fn frame_bytes(version: u32, message: Message) -> Vec<u8> {
    frame_or_empty(Frame::new(version, message))
}

fn frame_or_empty(f: Frame) -> Vec<u8> {
    f.to_bytes().unwrap_or_default()
}

/// Runs a session from a script: each byte picks a step (bytes from the
/// phone in random splits, well-formed messages, time passing, the driver's
/// commands), and the following bytes parametrise it. After every step the
/// output must decode, name only ids the negotiated version knows, carry
/// the right header version, and the events must end in exactly one Closed.
pub fn session(start: Instant, data: &[u8]) {
    let mut script = Script { data: data.iter() };
    let ours = ProtocolVersion::IMPLEMENTED
        [usize::from(script.byte()) % ProtocolVersion::IMPLEMENTED.len()];
    let config = Config {
        our_max_version: ours,
        max_unknown: u32::from(script.byte() % 8),
        ..Config::default()
    };
    let mut now = start;
    let mut s = Session::new(now, config).expect("fixed config is valid");
    let mut rng = Rng::new(data.len() as u64 ^ 0x9e37_79b9);
    let mut checker = Checker {
        out: Decoder::new(),
        closed_seen: false,
        register_requests: 0,
    };
    while let Some(&op) = script.data.next() {
        let was_closed = s.is_closed();
        let before = s.state();
        match op % 10 {
            0 => {
                let n = usize::from(script.byte() % 48);
                let raw = script.bytes(n);
                feed(&mut s, now, &raw, &mut rng);
            }
            1 => {
                let id = IDS[usize::from(script.byte()) % IDS.len()];
                let n = usize::from(script.byte() % 100);
                let version = u32::from(script.byte());
                let body = script.bytes(n);
                let message = Message::parse(MessageId::from(id), &body);
                feed(&mut s, now, &frame_bytes(version, message), &mut rng);
            }
            2 => {
                let protocol_version = script.byte();
                let shape = script.byte();
                let device_name = match shape % 4 {
                    0 => "SEP001E4A000001".to_owned(),
                    1 => "sep00aabbccddee".to_owned(),
                    2 => String::from_utf8_lossy(&script.bytes(6)).into_owned(),
                    _ => String::new(),
                };
                let load_info = (shape & 4 != 0).then(|| "SCCP41.8-5-3S".to_owned());
                let register = Register {
                    device_name,
                    protocol_version,
                    load_info,
                    ..Register::default()
                };
                feed(
                    &mut s,
                    now,
                    &frame_bytes(0, Message::Register(register)),
                    &mut rng,
                );
            }
            3 => feed(&mut s, now, &frame_bytes(0, Message::KeepAlive), &mut rng),
            4 => {
                let token = String::from_utf8_lossy(&script.bytes(4)).into_owned();
                let alarm = Alarm {
                    severity: 2,
                    text: format!("Name=SEP001E4A000001 Load= {token} Last=x"),
                    ..Alarm::default()
                };
                feed(
                    &mut s,
                    now,
                    &frame_bytes(0, Message::Alarm(alarm)),
                    &mut rng,
                );
            }
            5 => {
                now += Duration::from_secs(u64::from(script.byte()));
                s.handle_timeout(now);
                s.handle_timeout(now);
            }
            6 => {
                let ok = s.accept(now).is_ok();
                assert_eq!(ok, before == State::AwaitingDecision, "accept in {before}");
            }
            7 => {
                let ok = s.reject(now, "not provisioned").is_ok();
                assert_eq!(ok, before == State::AwaitingDecision, "reject in {before}");
            }
            8 => {
                let kind = ResetType::from(u32::from(script.byte() % 5));
                let ok = s.reset(now, kind).is_ok();
                assert_eq!(ok, before == State::Registered, "reset in {before}");
            }
            _ => match script.byte() % 16 {
                0 => s.handle_eof(now),
                1 => s.close_now(now),
                _ => feed(&mut s, now, &frame_bytes(0, Message::Unregister), &mut rng),
            },
        }
        if was_closed {
            assert_eq!(s.state(), State::Closed, "a closed session reopened");
        }
        checker.drain(&mut s, was_closed);
    }
}

#[cfg(test)]
mod tests {
    // One real Instant as the origin; time then only moves virtually.
    #![allow(clippy::disallowed_methods)]

    use super::*;

    fn seed_frames() -> Vec<Vec<u8>> {
        let register = Register {
            device_name: "SEP001E4A000001".into(),
            protocol_version: 17,
            load_info: Some("SCCP41.8-5-3S".into()),
            ..Register::default()
        };
        vec![
            frame_bytes(0, Message::KeepAlive),
            frame_bytes(0x11, Message::Register(register.clone())),
            frame_bytes(
                0,
                Message::Register(Register {
                    load_info: None,
                    ..register
                }),
            ),
            frame_bytes(
                0,
                Message::Alarm(Alarm {
                    text: "Load= P0030801SR02".into(),
                    ..Alarm::default()
                }),
            ),
            frame_bytes(0, Message::Unregister),
            frame_bytes(0, Message::Reset(ResetType::Reset)),
            frame_bytes(0, Message::UnregisterAck { status: 0 }),
            frame_bytes(0, Message::RegisterReject { text: "no".into() }),
            vec![0, 0, 0, 0x80, 0, 0, 0, 0, 1, 0, 0, 0],
        ]
    }

    fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        for _ in 0..rng.below(4) + 1 {
            let r = rng.next();
            match r % 4 {
                0 if !v.is_empty() => {
                    let i = rng.below(v.len());
                    v[i] = (r >> 32) as u8;
                }
                1 => v.push((r >> 8) as u8),
                2 if !v.is_empty() => {
                    let i = rng.below(v.len());
                    v.truncate(i);
                }
                _ => {
                    let i = rng.below(v.len() + 1);
                    v.insert(i, 0);
                }
            }
        }
        v
    }

    fn input(rng: &mut Rng, i: u32, seeds: &[Vec<u8>]) -> Vec<u8> {
        if i.is_multiple_of(2) {
            let mut stream = vec![rng.next() as u8];
            for _ in 0..rng.below(4) + 1 {
                stream.extend_from_slice(&seeds[rng.below(seeds.len())]);
            }
            mutate(rng, &stream)
        } else {
            let len = rng.below(96);
            (0..len).map(|_| rng.next() as u8).collect()
        }
    }

    #[test]
    fn frame_survives_seeded_input() {
        let seed = 0x5cc9_f7a3_u64;
        let seeds = seed_frames();
        let mut rng = Rng::new(seed);
        for i in 0..20_000 {
            let data = input(&mut rng, i, &seeds);
            let r = std::panic::catch_unwind(|| frame(&data));
            assert!(r.is_ok(), "seed {seed:#x} iteration {i}: input {data:?}");
        }
    }

    #[test]
    fn session_survives_seeded_input() {
        let seed = 0x5e55_1017_u64;
        let start = Instant::now();
        let mut rng = Rng::new(seed);
        for i in 0..20_000u32 {
            // Scripts: random bytes, biased half the time towards a
            // register → accept → reset path so later states are reached.
            let mut data: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            if i.is_multiple_of(2) {
                let mut path = vec![
                    rng.next() as u8,
                    7,
                    2,
                    rng.next() as u8,
                    rng.next() as u8,
                    6,
                ];
                path.extend_from_slice(&data);
                data = path;
            }
            let r = std::panic::catch_unwind(|| session(start, &data));
            assert!(r.is_ok(), "seed {seed:#x} iteration {i}: input {data:?}");
        }
    }

    #[test]
    fn empty_inputs_do_nothing() {
        frame(&[]);
        session(Instant::now(), &[]);
    }
}
