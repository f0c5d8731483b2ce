//! The listening side: judges the first datagram from a client, enforces
//! limits, and keeps a duplicate RRQ from starting a second transfer.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use crate::request::Request;
use crate::wire::{self, ErrorCode, Repr};
use crate::RequestError;

/// Limits on concurrent transfers. Plain data with defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Live transfers across all clients.
    pub max_transfers: usize,
    /// Live transfers from one IP address. A phone fetches one file at a
    /// time; a client holding many is misbehaving or hostile.
    pub max_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_transfers: 512,
            max_per_client: 16,
        }
    }
}

/// What to do with a datagram that arrived on the listening port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A read request to resolve. A slot is now held for `peer`: call
    /// [`Server::finished`] when the transfer ends, or if the file cannot be
    /// served.
    Accept(Request),
    /// Answer with this ERROR packet (from the listening port) and forget it.
    Reject {
        packet: Vec<u8>,
        code: ErrorCode,
        reason: String,
    },
    /// Say nothing: an RRQ retransmitted while its transfer runs, or an ERROR
    /// (never answer an error, or two servers can ping-pong).
    Ignore(&'static str),
}

/// Tracks live transfers by client address. No I/O.
#[derive(Debug, Default)]
pub struct Server {
    limits: Limits,
    active: HashSet<SocketAddr>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Server {
    pub fn new(limits: Limits) -> Server {
        Server {
            limits,
            ..Server::default()
        }
    }

    /// Live transfers.
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// Judges one datagram that arrived on the listening port from `peer`.
    pub fn handle_request(&mut self, peer: SocketAddr, datagram: &[u8]) -> Incoming {
        let raw = match Repr::parse(datagram) {
            Ok(Repr::Request(raw)) => raw,
            Ok(Repr::Error { .. }) => {
                return Incoming::Ignore("error packet on the listening port")
            }
            Ok(_) => return reject(&RequestError::NotARequest),
            Err(e) => return reject(&RequestError::Malformed(e)),
        };
        if self.active.contains(&peer) {
            return Incoming::Ignore("duplicate request while its transfer runs");
        }
        let request = match Request::from_raw(&raw) {
            Ok(r) => r,
            Err(e) => return reject(&e),
        };
        if self.active.len() >= self.limits.max_transfers {
            return busy(format!(
                "server busy: {} transfers in progress, retry later",
                self.active.len()
            ));
        }
        let from_ip = self.per_ip.get(&peer.ip()).copied().unwrap_or(0);
        if from_ip >= self.limits.max_per_client {
            return busy(format!(
                "too many transfers from {}: {} in progress, finish those first",
                peer.ip(),
                from_ip
            ));
        }
        self.active.insert(peer);
        *self.per_ip.entry(peer.ip()).or_insert(0) += 1;
        Incoming::Accept(request)
    }

    /// Releases the slot `handle_request` took for `peer`.
    pub fn finished(&mut self, peer: SocketAddr) {
        if !self.active.remove(&peer) {
            return;
        }
        if let Some(n) = self.per_ip.get_mut(&peer.ip()) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&peer.ip());
            }
        }
    }
}

fn reject(err: &RequestError) -> Incoming {
    let reason = err.to_string();
    Incoming::Reject {
        packet: wire::error_packet(err.code(), &reason),
        code: err.code(),
        reason,
    }
}

fn busy(reason: String) -> Incoming {
    Incoming::Reject {
        packet: wire::error_packet(ErrorCode::NotDefined, &reason),
        code: ErrorCode::NotDefined,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    const RRQ: &[u8] = b"\x00\x01file.bin\x00octet\x00";

    #[test]
    fn duplicate_rrq_from_same_port_is_ignored_until_finished() {
        let mut s = Server::new(Limits::default());
        assert!(matches!(
            s.handle_request(peer(1000), RRQ),
            Incoming::Accept(_)
        ));
        assert_eq!(
            s.handle_request(peer(1000), RRQ),
            Incoming::Ignore("duplicate request while its transfer runs")
        );
        assert!(matches!(
            s.handle_request(peer(1001), RRQ),
            Incoming::Accept(_)
        ));
        s.finished(peer(1000));
        assert!(matches!(
            s.handle_request(peer(1000), RRQ),
            Incoming::Accept(_)
        ));
    }

    #[test]
    fn limits_give_a_clear_error() {
        let mut s = Server::new(Limits {
            max_transfers: 3,
            max_per_client: 2,
        });
        assert!(matches!(
            s.handle_request(peer(1), RRQ),
            Incoming::Accept(_)
        ));
        assert!(matches!(
            s.handle_request(peer(2), RRQ),
            Incoming::Accept(_)
        ));
        match s.handle_request(peer(3), RRQ) {
            Incoming::Reject { reason, .. } => assert!(
                reason.contains("too many transfers from 127.0.0.1"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        let other = SocketAddr::from(([127, 0, 0, 2], 1));
        assert!(matches!(s.handle_request(other, RRQ), Incoming::Accept(_)));
        let third = SocketAddr::from(([127, 0, 0, 3], 1));
        match s.handle_request(third, RRQ) {
            Incoming::Reject { reason, code, .. } => {
                assert_eq!(code, ErrorCode::NotDefined);
                assert!(reason.contains("server busy"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        s.finished(peer(1));
        assert!(matches!(
            s.handle_request(peer(3), RRQ),
            Incoming::Accept(_)
        ));
        assert_eq!(s.active(), 3);
    }

    #[test]
    fn wrq_malformed_and_stray_packets() {
        let mut s = Server::new(Limits::default());
        let wrq = b"\x00\x02evil.bin\x00octet\x00";
        assert!(matches!(
            s.handle_request(peer(1), wrq),
            Incoming::Reject {
                code: ErrorCode::AccessViolation,
                ..
            }
        ));
        assert!(matches!(
            s.handle_request(peer(1), b"\x00\x04\x00\x01"),
            Incoming::Reject {
                code: ErrorCode::IllegalOperation,
                ..
            }
        ));
        assert!(matches!(
            s.handle_request(peer(1), b"\x00"),
            Incoming::Reject {
                code: ErrorCode::IllegalOperation,
                ..
            }
        ));
        assert!(matches!(
            s.handle_request(peer(1), b"\x00\x05\x00\x01x\x00"),
            Incoming::Ignore(_)
        ));
        assert!(matches!(
            s.handle_request(peer(1), b"\x00\x01../../etc/passwd\x00octet\x00"),
            Incoming::Reject {
                code: ErrorCode::AccessViolation,
                ..
            }
        ));
        assert_eq!(s.active(), 0, "refusals hold no slot");
    }
}
