//! Entry points for fuzzers (cargo-fuzz targets in `fuzz/`, and the seeded
//! test in `tests/fuzz_smoke.rs`). Each must never panic on any input.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Incoming, Limits, Policy, Repr, Server, Transfer};

/// Parse → emit → parse must agree for every packet that parses.
pub fn packet(data: &[u8]) {
    if let Ok(repr) = Repr::parse(data) {
        let mut out = Vec::new();
        repr.emit(&mut out);
        let again = Repr::parse(&out).expect("emitted packet must parse");
        assert_eq!(repr, again, "parse/emit/parse changed the packet");
    }
}

/// Feeds arbitrary datagrams to a server and a transfer. The first datagram
/// is tried as a request; the rest go to a transfer of a fixed file, with
/// time advancing from `start` by amounts taken from the input.
pub fn transfer(start: Instant, data: &[u8]) {
    let peer = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut server = Server::new(Limits::default());
    let mut chunks = data.split(|&b| b == 0xff);
    let first = chunks.next().unwrap_or_default();
    let _ = server.handle_request(peer, first);
    let request = match server.handle_request(
        SocketAddr::from(([127, 0, 0, 1], 10)),
        b"\x00\x01f\x00octet\x00blksize\x0016\x00windowsize\x004\x00tsize\x000\x00",
    ) {
        Incoming::Accept(r, _slot) => r,
        other => panic!("fixed request refused: {other:?}"),
    };
    let content = Bytes::from((0..200u8).collect::<Vec<u8>>());
    let mut now = start;
    let mut t = Transfer::new(now, &request, content, &Policy::default());
    let mut out = Vec::new();
    for chunk in chunks {
        while t.poll_transmit(&mut out) {
            assert!(Repr::parse(&out).is_ok(), "transfer emitted a bad packet");
        }
        let step = chunk.first().copied().unwrap_or(0);
        now += Duration::from_millis(u64::from(step) * 8);
        t.handle_timeout(now);
        t.handle_datagram(now, chunk);
        while t.poll_event().is_some() {}
    }
}
