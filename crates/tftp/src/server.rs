//! The listening side: judges the first datagram from a client, enforces
//! limits, and keeps a duplicate RRQ from starting a second transfer.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

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
#[derive(Debug)]
pub enum Incoming {
    /// A read request to resolve. `peer` holds a [`Slot`] until it is
    /// dropped: keep it for as long as the transfer runs, so a driver cannot
    /// leak a slot by forgetting to give it back.
    Accept(Request, Slot),
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
    live: Arc<Mutex<Live>>,
}

#[derive(Debug, Default)]
struct Live {
    active: HashSet<SocketAddr>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Live {
    fn release(&mut self, peer: SocketAddr) {
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

/// One live transfer's place in the limits; dropping it frees the place.
#[derive(Debug)]
#[must_use = "dropping the slot ends the transfer's claim at once"]
pub struct Slot {
    live: Arc<Mutex<Live>>,
    peer: SocketAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.live).release(self.peer);
    }
}

/// The bookkeeping stays consistent between calls, so a panic elsewhere
/// while it was held does not make it unusable.
fn lock(live: &Mutex<Live>) -> MutexGuard<'_, Live> {
    live.lock().unwrap_or_else(|p| p.into_inner())
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
        lock(&self.live).active.len()
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
        let mut live = lock(&self.live);
        if live.active.contains(&peer) {
            return Incoming::Ignore("duplicate request while its transfer runs");
        }
        let request = match Request::from_raw(&raw) {
            Ok(r) => r,
            Err(e) => return reject(&e),
        };
        if live.active.len() >= self.limits.max_transfers {
            return busy(format!(
                "server busy: {} transfers in progress, retry later",
                live.active.len()
            ));
        }
        let from_ip = live.per_ip.get(&peer.ip()).copied().unwrap_or(0);
        if from_ip >= self.limits.max_per_client {
            return busy(format!(
                "too many transfers from {}: {} in progress, finish those first",
                peer.ip(),
                from_ip
            ));
        }
        live.active.insert(peer);
        *live.per_ip.entry(peer.ip()).or_insert(0) += 1;
        drop(live);
        Incoming::Accept(
            request,
            Slot {
                live: self.live.clone(),
                peer,
            },
        )
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
        let Incoming::Accept(_, first) = s.handle_request(peer(1000), RRQ) else {
            panic!("refused")
        };
        assert!(matches!(
            s.handle_request(peer(1000), RRQ),
            Incoming::Ignore("duplicate request while its transfer runs")
        ));
        let Incoming::Accept(_, _second) = s.handle_request(peer(1001), RRQ) else {
            panic!("refused")
        };
        drop(first);
        assert!(matches!(
            s.handle_request(peer(1000), RRQ),
            Incoming::Accept(..)
        ));
    }

    #[test]
    fn limits_give_a_clear_error() {
        let mut s = Server::new(Limits {
            max_transfers: 3,
            max_per_client: 2,
        });
        let Incoming::Accept(_, one) = s.handle_request(peer(1), RRQ) else {
            panic!("refused")
        };
        let Incoming::Accept(_, _two) = s.handle_request(peer(2), RRQ) else {
            panic!("refused")
        };
        match s.handle_request(peer(3), RRQ) {
            Incoming::Reject { reason, .. } => assert!(
                reason.contains("too many transfers from 127.0.0.1"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        let other = SocketAddr::from(([127, 0, 0, 2], 1));
        let Incoming::Accept(_, _other) = s.handle_request(other, RRQ) else {
            panic!("refused")
        };
        let third = SocketAddr::from(([127, 0, 0, 3], 1));
        match s.handle_request(third, RRQ) {
            Incoming::Reject { reason, code, .. } => {
                assert_eq!(code, ErrorCode::NotDefined);
                assert!(reason.contains("server busy"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        drop(one);
        let Incoming::Accept(_, _three) = s.handle_request(peer(3), RRQ) else {
            panic!("refused")
        };
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
