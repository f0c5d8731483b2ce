//! Entry points for fuzzers: arbitrary bytes in, no panic out.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Classifier, Limits, Mac, Reservation, ServerConfig, Subnet, SubnetConfig};
use crate::contract::Ingress;
use crate::server::Server;

/// A stand-in for the Cisco catalog's option 60 classifier: the digits
/// after `CP-` (`… IP Phone CP-7960G\0` → `7960`). Enough to exercise the
/// per-model path; the real one lives in the `cisco` crate.
pub fn classifier() -> Classifier {
    Arc::new(|vci: &[u8]| {
        let text = std::str::from_utf8(vci).ok()?;
        let (_, rest) = text.split_once("CP-")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty()).then_some(digits)
    })
}

/// A small fixed server: 10.0.0.0/24 served from 10.0.0.1, pool
/// 10.0.0.100-10.0.0.110, one reservation, and a relayed 10.1.0.0/24.
pub fn small_server() -> Server {
    let mut a = SubnetConfig::new(Ipv4Addr::new(10, 0, 0, 0), 24);
    a.server_addr = Some(Ipv4Addr::new(10, 0, 0, 1));
    a.pool = vec![(Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 110))];
    a.routers = vec![Ipv4Addr::new(10, 0, 0, 1)];
    a.dns = vec![Ipv4Addr::new(10, 0, 0, 53)];
    a.tftp_servers = vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];
    a.reservations = vec![Reservation {
        mac: Mac([0, 0x1b, 0x54, 0, 0, 1]),
        ip: Ipv4Addr::new(10, 0, 0, 50),
    }];
    let mut b = SubnetConfig::new(Ipv4Addr::new(10, 1, 0, 0), 24);
    b.pool = vec![(Ipv4Addr::new(10, 1, 0, 10), Ipv4Addr::new(10, 1, 0, 20))];
    let subnets = [a, b]
        .into_iter()
        .map(Subnet::try_from)
        .collect::<Result<Vec<_>, _>>();
    // Generous rate limits, so fuzzed messages reach the state machine
    // rather than the limiter.
    let limits = Limits {
        rate_burst: 100,
        rate_per_minute: 6000,
        ..Limits::default()
    };
    match subnets
        .and_then(ServerConfig::new)
        .and_then(|c| c.with_limits(limits))
        .map(|c| c.with_classifier(classifier()))
    {
        Ok(cfg) => Server::new(cfg),
        // The fixed config above is valid; this arm only exists so the
        // fuzzing code holds no `unwrap`.
        Err(e) => unreachable!("fuzzing config is invalid: {e}"),
    }
}

/// Parses `data` with [`crate::decode`] and feeds it to `server` twice (so the
/// second pass meets the state the first one left), encoding every reply.
/// Returns how many replies were produced, or `None` when `data` did not
/// decode.
pub fn decide_datagram_with(server: &mut Server, now: Instant, data: &[u8]) -> Option<usize> {
    let msg = crate::wire::decode(data).ok()?;
    let mut replies = 0usize;
    let ingress = Ingress {
        local_addr: Ipv4Addr::new(10, 0, 0, 1),
        ifindex: 1,
        source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
        broadcast: data.first().is_some_and(|b| b & 1 == 1),
    };
    for step in 0..2u64 {
        let at = now.checked_add(Duration::from_secs(step)).unwrap_or(now);
        let d = server.decide(at, &ingress, &msg);
        if let Some(reply) = &d.reply {
            replies = replies.saturating_add(1);
            let _ = reply.encode();
            let _ = reply.destination.socket_addr();
        }
        if let Some(ip) = d.probe {
            let _ = server.report_conflict(ip, at);
        }
        for e in &d.events {
            let _ = e.to_string();
        }
    }
    Some(replies)
}

/// The fuzz target: arbitrary bytes to a fresh [`small_server`]. Must never
/// panic.
pub fn decide_datagram(data: &[u8]) {
    // The fuzzer's only clock read; the core itself never reads one.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut server = small_server();
    let _ = decide_datagram_with(&mut server, now, data);
}
