//! The tokio side of TFTP: one listening socket, and one task with its own
//! socket per transfer (RFC 1350 TIDs). All protocol decisions are made by
//! the `tftp` crate; this module moves bytes and reads the clock.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::TftpConfig;
use crate::events::{Event, EventBus, FileProtocol, TftpRefused, TftpTransfer, TransferResult};
use crate::net::transfers::{TransferGuard, TransferRegistry};
use crate::provision::resolver::Resolver;

/// Large enough for a window of large blocks, so a burst is not dropped by
/// the kernel (the peers' reference notes 10–20 s stalls from exactly that).
const SOCKET_BUFFER: usize = 1 << 20;
/// How long shutdown waits for running transfers to say goodbye.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Binds the TFTP listening socket, with an error that says what to do.
pub fn bind(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = udp_socket(addr).map_err(|e| bind_error(addr, e))?;
    Ok(socket)
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!(
            "ports below 1024 need root or CAP_NET_BIND_SERVICE: run it with sudo, or \
             `sudo setcap cap_net_bind_service=+ep $(command -v phoneboot)`, or pick a \
             high port for testing with --tftp-listen {}:6969",
            addr.ip()
        ),
        std::io::ErrorKind::AddrInUse => format!(
            "another program already serves this port (often tftpd-hpa, atftpd, dnsmasq or \
             another phoneboot): find it with `ss -ulpn 'sport = :{}'`, stop it, or choose \
             another --tftp-listen",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            "that address is not on any interface of this machine: check `ip addr`".to_owned()
        }
        _ => "check the address and try again".to_owned(),
    };
    anyhow::anyhow!("cannot bind the TFTP port {addr}: {e}; {hint}")
}

/// Serves TFTP on `socket` until `shutdown` is cancelled, then gives running
/// transfers a short grace period.
pub async fn serve(
    cfg: TftpConfig,
    socket: UdpSocket,
    resolver: Arc<Resolver>,
    events: EventBus,
    transfers: TransferRegistry,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let local = socket
        .local_addr()
        .context("reading the TFTP socket's address")?;
    let mut server = tftp::Server::new(cfg.limits);
    let policy = Arc::new(cfg.policy);
    let tracker = TaskTracker::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, peer) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors from earlier sends surface here; they are not fatal.
                Err(e) => { tracing::debug!("tftp listener: {e}"); continue; }
            },
            _ = shutdown.cancelled() => break,
        };
        let verdict = server.handle_request(peer, &buf[..n]);
        match verdict {
            tftp::Incoming::Accept(request, slot) => {
                let job = Job {
                    slot,
                    peer,
                    local_ip: local.ip(),
                    request,
                    policy: policy.clone(),
                    resolver: resolver.clone(),
                    events: events.clone(),
                    transfers: transfers.clone(),
                    shutdown: shutdown.clone(),
                };
                tracker.spawn(job.run());
            }
            tftp::Incoming::Reject {
                packet,
                code,
                reason,
            } => {
                let _ = socket.send_to(&packet, peer).await;
                events.emit(Event::TftpRefused(TftpRefused {
                    client: peer,
                    code: code.into(),
                    reason,
                }));
            }
            tftp::Incoming::Ignore(why) => tracing::debug!("tftp {peer}: ignored: {why}"),
        }
    }
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("tftp: transfers still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    Ok(())
}

/// One accepted request, from lookup to its event.
struct Job {
    /// This client's place in the limits, freed when the job ends however
    /// it ends.
    slot: tftp::Slot,
    peer: SocketAddr,
    local_ip: IpAddr,
    request: tftp::Request,
    policy: Arc<tftp::Policy>,
    resolver: Arc<Resolver>,
    events: EventBus,
    transfers: TransferRegistry,
    shutdown: CancellationToken,
}

impl Job {
    async fn run(self) {
        let started = Instant::now();
        let record = self.transfer(started).await;
        drop(self.slot);
        self.events.emit(Event::TftpTransfer(record));
    }

    fn base_record(&self, started: Instant) -> TftpTransfer {
        TftpTransfer {
            client: self.peer,
            file: self.request.original_name.clone(),
            source: None,
            mode: match self.request.mode {
                tftp::Mode::Octet => "octet",
                tftp::Mode::Netascii => "netascii",
            },
            blksize: 512,
            windowsize: 1,
            tsize: None,
            timeout: None,
            ignored_options: self
                .request
                .options
                .ignored
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            size: 0,
            bytes: 0,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            result: TransferResult::Error,
            error: None,
            data_packets: 0,
            retransmitted: 0,
            ignored_acks: 0,
        }
    }

    async fn transfer(&self, started: Instant) -> TftpTransfer {
        let mut record = self.base_record(started);
        // The reply comes from a new port (the transfer ID), on the address
        // family of the client.
        let bind_ip = match (self.local_ip, self.peer) {
            (ip, _) if !ip.is_unspecified() => ip,
            (_, SocketAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (_, SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let socket = match udp_socket(SocketAddr::new(bind_ip, 0)) {
            Ok(s) => s,
            Err(e) => {
                record.error = Some(format!("cannot open a transfer socket: {e}"));
                return record;
            }
        };
        if let Err(e) = socket.connect(self.peer).await {
            record.error = Some(format!("cannot reach the client: {e}"));
            return record;
        }
        let resolver = self.resolver.clone();
        let path = self.request.path.clone();
        let peer = self.peer;
        let resolved =
            tokio::task::spawn_blocking(move || resolver.resolve(peer.ip(), &path)).await;
        let resolved = match resolved {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let packet = tftp::wire::error_packet(e.tftp_code(), e.client_message());
                let _ = socket.send(&packet).await;
                record.result = e.result();
                record.error = Some(e.to_string());
                record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
                return record;
            }
            Err(e) => {
                record.error = Some(format!("lookup task failed: {e}"));
                return record;
            }
        };
        let guard = self.transfers.start(
            self.peer,
            &self.request.original_name,
            FileProtocol::Tftp,
            resolved.content.len() as u64,
            &resolved.source,
        );
        record.source = Some(resolved.source);
        let mut t = tftp::Transfer::new(
            Instant::now(),
            &self.request,
            resolved.content,
            &self.policy,
        );
        let (summary, abort_reason) = drive(&mut t, &socket, &guard, &self.shutdown).await;
        record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let Some(s) = summary else {
            record.error = Some("transfer ended without a summary".into());
            return record;
        };
        let n = &s.negotiated;
        record.blksize = n.blksize;
        record.windowsize = n.windowsize;
        record.tsize = n.tsize;
        record.timeout = n.timeout;
        record.size = s.size;
        record.bytes = s.bytes_acked;
        record.data_packets = s.stats.data_packets;
        record.retransmitted = s.stats.retransmitted;
        record.ignored_acks = s.stats.ignored_acks;
        let (result, error) = match &s.outcome {
            tftp::Outcome::Completed => (TransferResult::Ok, None),
            tftp::Outcome::FinalAckLost => (TransferResult::FinalAckLost, None),
            tftp::Outcome::ClientError { code, message } => (
                TransferResult::ClientError,
                Some(format!("client sent error {}: {message}", u16::from(*code))),
            ),
            tftp::Outcome::TimedOut => (
                TransferResult::Timeout,
                Some("client stopped answering".into()),
            ),
            tftp::Outcome::Aborted => (
                TransferResult::Aborted,
                Some(abort_reason.unwrap_or("aborted").to_owned()),
            ),
        };
        record.result = result;
        record.error = error;
        guard.finish(result, record.bytes);
        record
    }
}

/// The quinn-style loop: drain transmits and events, then wait for a
/// datagram, the deadline, or shutdown.
async fn drive(
    t: &mut tftp::Transfer,
    socket: &UdpSocket,
    guard: &TransferGuard,
    shutdown: &CancellationToken,
) -> (Option<tftp::Summary>, Option<&'static str>) {
    // A transfer only ever receives ACKs and ERRORs, so a small buffer does
    // (a longer datagram is cut and then ignored as malformed). Memory per
    // transfer is what bounds 200 concurrent phones, not speed.
    let mut out =
        Vec::with_capacity(usize::from(t.negotiated().blksize) + tftp::wire::DATA_HEADER_LEN);
    let mut inbound = vec![0u8; 1024];
    // One timer, moved only when the deadline changes.
    let mut armed = t.poll_timeout();
    let sleep = tokio::time::sleep_until(to_tokio(armed));
    tokio::pin!(sleep);
    let mut summary = None;
    let mut abort_reason = None;
    loop {
        while t.poll_transmit(&mut out) {
            match socket.send(&out).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    client_gone(t, socket, &mut inbound, guard);
                    abort_reason = Some("the client's port is closed (it gave up or exited)");
                    break;
                }
                // A local firewall (EPERM) or a full queue (ENOBUFS) loses
                // this packet; the retransmission timer deals with it like
                // any other loss.
                Err(e) => tracing::debug!("tftp send to {:?} failed: {e}", socket.peer_addr().ok()),
            }
        }
        while let Some(tftp::Event::Finished(s)) = t.poll_event() {
            summary = Some(s);
        }
        if t.is_finished() {
            return (summary, abort_reason);
        }
        let deadline = t.poll_timeout();
        if deadline != armed {
            armed = deadline;
            sleep.as_mut().reset(to_tokio(armed));
        }
        tokio::select! {
            r = socket.recv(&mut inbound) => match r {
                Ok(n) => {
                    t.handle_datagram(Instant::now(), &inbound[..n]);
                    guard.progress(t.progress().0);
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    client_gone(t, socket, &mut inbound, guard);
                    abort_reason = Some("the client's port is closed (it gave up or exited)");
                }
                Err(e) => tracing::debug!("tftp recv: {e}"),
            },
            _ = &mut sleep, if armed.is_some() => t.handle_timeout(Instant::now()),
            _ = shutdown.cancelled() => {
                let bye = tftp::wire::error_packet(tftp::ErrorCode::NotDefined, "server shutting down");
                let _ = socket.send(&bye).await;
                abort_reason = Some("server shutting down");
                t.abort(Instant::now());
            }
        }
    }
}

/// ICMP port unreachable. Linux reports the error before datagrams already
/// queued, and the client's final ACK may be among them: read those first,
/// then let the transfer decide what the closed port means.
fn client_gone(t: &mut tftp::Transfer, socket: &UdpSocket, buf: &mut [u8], guard: &TransferGuard) {
    while !t.is_finished() {
        match socket.try_recv(buf) {
            Ok(n) => {
                t.handle_datagram(Instant::now(), &buf[..n]);
                guard.progress(t.progress().0);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // A second error: nothing more is queued that could change the end.
            Err(_) => break,
        }
    }
    t.handle_unreachable(Instant::now());
}

/// A far-future instant stands in for "no deadline"; the select guard keeps
/// it from ever firing.
fn to_tokio(deadline: Option<Instant>) -> tokio::time::Instant {
    match deadline {
        Some(d) => tokio::time::Instant::from_std(d),
        None => tokio::time::Instant::now() + std::time::Duration::from_secs(86_400),
    }
}
