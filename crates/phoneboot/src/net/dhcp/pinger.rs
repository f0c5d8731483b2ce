//! The conflict check's ICMP echo: one raw socket shared by every probe.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::oneshot;

/// ICMP echo for the conflict check, over one raw socket shared by all
/// probes.
pub struct Pinger {
    socket: UdpSocket,
    waiting: Mutex<HashMap<(Ipv4Addr, u16), oneshot::Sender<()>>>,
    seq: std::sync::atomic::AtomicU16,
    id: u16,
}

impl Pinger {
    /// Opens the raw socket and starts the one task that reads every reply
    /// (issue #15: one reader, not one per waiting probe).
    pub fn start() -> std::io::Result<Arc<Pinger>> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
        socket.set_nonblocking(true)?;
        // A raw socket reads and writes datagrams; tokio's UDP wrapper only
        // needs a non-blocking datagram descriptor.
        let socket = UdpSocket::from_std(std::net::UdpSocket::from(std::os::fd::OwnedFd::from(
            socket,
        )))?;
        let pinger = Arc::new(Pinger {
            socket,
            waiting: Mutex::new(HashMap::new()),
            seq: std::sync::atomic::AtomicU16::new(1),
            id: (std::process::id() & 0xffff) as u16,
        });
        let reader = Arc::downgrade(&pinger);
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Some(p) = reader.upgrade() else { break };
                match p.socket.recv_from(&mut buf).await {
                    Ok((n, SocketAddr::V4(from))) => p.dispatch(*from.ip(), &buf[..n]),
                    Ok(_) => {}
                    Err(e) => tracing::debug!("conflict check: icmp recv: {e}"),
                }
            }
        });
        Ok(pinger)
    }

    /// True when `ip` answers an echo request within `budget`.
    pub async fn ping(&self, ip: Ipv4Addr, budget: Duration) -> bool {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert((ip, seq), tx);
        }
        let packet = echo_request(self.id, seq);
        if self.socket.send_to(&packet, (ip, 0)).await.is_err() {
            self.forget(ip, seq);
            return false;
        }
        let answered = matches!(tokio::time::timeout(budget, rx).await, Ok(Ok(())));
        self.forget(ip, seq);
        answered
    }

    fn forget(&self, ip: Ipv4Addr, seq: u16) {
        if let Ok(mut w) = self.waiting.lock() {
            w.remove(&(ip, seq));
        }
    }

    /// Hands a reply to the probe waiting for it.
    fn dispatch(&self, from: Ipv4Addr, packet: &[u8]) {
        // Raw ICMP sockets deliver the IP header first.
        let ihl = packet
            .first()
            .map(|b| usize::from(b & 0x0f) * 4)
            .unwrap_or(0);
        let Some(icmp) = packet.get(ihl..) else {
            return;
        };
        if icmp.len() < 8 || icmp[0] != 0 {
            return;
        }
        let id = u16::from_be_bytes([icmp[4], icmp[5]]);
        let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
        if id != self.id {
            return;
        }
        if let Ok(mut w) = self.waiting.lock() {
            if let Some(tx) = w.remove(&(from, seq)) {
                let _ = tx.send(());
            }
        }
    }
}

fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"phoneboot-probe");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_checksum_verifies_to_zero() {
        let p = echo_request(0x1234, 7);
        assert_eq!(checksum(&p), 0);
    }
}
