//! The phones' TFTP client: RFC 1350 read requests in octet mode with the
//! `blksize` and `tsize` options (RFC 2347-2349), lock-step ACKs, resends on
//! timeout, and a seeded DATA drop so the server's retransmission is exercised.
//! Packets are built and read with `tftp::wire`, the server's own wire format.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use tftp::wire::{ErrorCode, RawRequest, Repr, RequestKind};
use tokio::net::UdpSocket;

use crate::rng::{self, XorShift64};
use crate::spec::TftpOptions;

/// How one file request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The whole file.
    Data(Vec<u8>),
    /// The server answered "file not found" (TFTP error 1).
    NotFound,
    /// The phone gave up half way on purpose (a reboot fault).
    Aborted,
    /// Anything else: another TFTP error, no answer, a protocol violation.
    Failed(String),
}

/// One request's result and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResult {
    pub outcome: Fetched,
    /// In-order payload bytes received (also for aborted or failed transfers).
    pub bytes: u64,
    /// Client timeouts, each followed by a resend.
    pub timeouts: u32,
    /// DATA packets dropped by the simulated loss.
    pub dropped: u32,
}

impl FetchResult {
    /// A result with no traffic counted, for in-memory fetchers.
    pub fn of(outcome: Fetched) -> FetchResult {
        let bytes = match &outcome {
            Fetched::Data(d) => d.len() as u64,
            _ => 0,
        };
        FetchResult {
            outcome,
            bytes,
            timeouts: 0,
            dropped: 0,
        }
    }
}

/// Where a phone's files come from. The TFTP client is the real one; tests
/// of the boot logic may serve a map instead.
pub trait Fetcher: Send {
    /// Fetches `name`. With `abort_half`, stop once half the file (by
    /// `tsize`, else after the first block) has arrived and return
    /// [`Fetched::Aborted`].
    fn fetch(&mut self, name: &str, abort_half: bool) -> impl Future<Output = FetchResult> + Send;
}

/// A TFTP client bound to one source address (one phone).
#[derive(Debug)]
pub struct TftpClient {
    server: SocketAddr,
    bind: IpAddr,
    opts: TftpOptions,
    loss: f64,
    rng: XorShift64,
}

impl TftpClient {
    /// A client that sends from `bind` (port chosen by the kernel, a new one
    /// per transfer as phones do) and drops received DATA with probability
    /// `loss`, drawn from a generator seeded with `seed`.
    pub fn new(server: SocketAddr, bind: IpAddr, opts: TftpOptions, loss: f64, seed: u64) -> Self {
        TftpClient {
            server,
            bind,
            opts,
            loss,
            rng: XorShift64::new(seed),
        }
    }

    fn rrq(&self, name: &str) -> Vec<u8> {
        let blksize = self.opts.blksize.map(|b| b.to_string());
        let mut options = Vec::new();
        if let Some(b) = &blksize {
            options.push(("blksize", b.as_str()));
        }
        if self.opts.tsize {
            options.push(("tsize", "0"));
        }
        let mut out = Vec::with_capacity(name.len() + 40);
        Repr::Request(RawRequest {
            kind: RequestKind::Read,
            filename: name,
            mode: "octet",
            options,
        })
        .emit(&mut out);
        out
    }

    async fn transfer(&mut self, name: &str, abort_half: bool, r: &mut FetchResult) -> Fetched {
        let sock = match UdpSocket::bind(SocketAddr::new(self.bind, 0)).await {
            Ok(s) => s,
            Err(e) => {
                return Fetched::Failed(format!(
                    "cannot bind {}: {e} (is the source address on this host?)",
                    self.bind
                ))
            }
        };
        let mut last = self.rrq(name);
        let mut peer: Option<SocketAddr> = None;
        let mut blksize: usize = 512;
        let mut tsize: Option<u64> = None;
        let mut data = Vec::new();
        let mut next: u64 = 1;
        let mut tries = 0u32;
        let mut buf = vec![0u8; 65536];
        if let Err(e) = sock.send_to(&last, self.server).await {
            return Fetched::Failed(format!("send to {}: {e}", self.server));
        }
        loop {
            let got = tokio::time::timeout(self.opts.retransmit, sock.recv_from(&mut buf)).await;
            let (n, from) = match got {
                Ok(Ok(x)) => x,
                // ICMP port unreachable and the like: the timer resends.
                Ok(Err(_)) => continue,
                Err(_) => {
                    r.timeouts += 1;
                    tries += 1;
                    if tries > self.opts.retries {
                        return Fetched::Failed(format!(
                            "no answer after {tries} timeouts ({} bytes received)",
                            data.len()
                        ));
                    }
                    let to = peer.unwrap_or(self.server);
                    let _ = sock.send_to(&last, to).await;
                    continue;
                }
            };
            // The first answer names the server's transfer port; later ones
            // must come from it (RFC 1350 §4).
            match peer {
                Some(p) if p != from => {
                    let pkt = tftp::wire::error_packet(ErrorCode::UnknownTransferId, "unknown TID");
                    let _ = sock.send_to(&pkt, from).await;
                    continue;
                }
                None if from.ip() != self.server.ip() => continue,
                _ => {}
            }
            let Some(packet) = buf.get(..n) else { continue };
            match Repr::parse(packet) {
                Ok(Repr::Oack { options }) if peer.is_none() => {
                    peer = Some(from);
                    for (k, v) in options {
                        if k.eq_ignore_ascii_case("blksize") {
                            match v.parse::<usize>() {
                                Ok(b) if (8..=65464).contains(&b) => blksize = b,
                                _ => return Fetched::Failed(format!("OACK granted blksize {v}")),
                            }
                        } else if k.eq_ignore_ascii_case("tsize") {
                            tsize = v.parse().ok();
                        }
                    }
                    last = ack(0);
                    tries = 0;
                    let _ = sock.send_to(&last, from).await;
                }
                // A resent OACK: our ACK 0 was lost.
                Ok(Repr::Oack { .. }) if next == 1 => {
                    let _ = sock.send_to(&last, from).await;
                }
                Ok(Repr::Data {
                    block,
                    data: payload,
                }) => {
                    if self.loss > 0.0 && rng::chance(&mut self.rng, self.loss) {
                        r.dropped += 1;
                        continue;
                    }
                    peer = Some(from);
                    if block != next as u16 {
                        // A duplicate: the server missed our ACK; repeat it.
                        if block == (next.wrapping_sub(1)) as u16 && next > 1 {
                            let _ = sock.send_to(&last, from).await;
                        }
                        continue;
                    }
                    if payload.len() > blksize {
                        return Fetched::Failed(format!(
                            "block {block} carries {} bytes, more than blksize {blksize}",
                            payload.len()
                        ));
                    }
                    data.extend_from_slice(payload);
                    r.bytes = data.len() as u64;
                    let done = payload.len() < blksize;
                    next += 1;
                    tries = 0;
                    if abort_half && !done {
                        let half = tsize.map_or(1, |t| t / 2);
                        if data.len() as u64 >= half {
                            // Power cut: no ERROR, the server times out.
                            return Fetched::Aborted;
                        }
                    }
                    last = ack(block);
                    let _ = sock.send_to(&last, from).await;
                    if done {
                        if let Some(t) = tsize.filter(|t| *t != data.len() as u64) {
                            return Fetched::Failed(format!(
                                "received {} bytes but tsize said {t}",
                                data.len()
                            ));
                        }
                        return Fetched::Data(data);
                    }
                }
                Ok(Repr::Error { code, message }) => {
                    return if code == ErrorCode::FileNotFound {
                        Fetched::NotFound
                    } else {
                        Fetched::Failed(format!("server error {}: {message}", u16::from(code)))
                    };
                }
                _ => {}
            }
        }
    }
}

fn ack(block: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    Repr::Ack { block }.emit(&mut out);
    out
}

impl Fetcher for TftpClient {
    async fn fetch(&mut self, name: &str, abort_half: bool) -> FetchResult {
        let mut r = FetchResult::of(Fetched::NotFound);
        r.outcome = self.transfer(name, abort_half, &mut r).await;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrq_is_octet_with_blksize_and_tsize() {
        let c = TftpClient::new(
            "127.0.0.1:69".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            TftpOptions::default(),
            0.0,
            1,
        );
        assert_eq!(
            c.rrq("SEP001E4A000000.cnf.xml"),
            b"\x00\x01SEP001E4A000000.cnf.xml\x00octet\x00blksize\x001428\x00tsize\x000\x00"
        );
        assert_eq!(ack(0x0102), b"\x00\x04\x01\x02");
    }
}
