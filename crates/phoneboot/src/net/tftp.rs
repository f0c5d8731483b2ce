//! The tokio side of TFTP: one listening socket, and one task with its own
//! socket per transfer (RFC 1350 TIDs) on a transfer thread ([`Shards`]). All protocol decisions are made by
//! the `tftp` crate; this module moves bytes and reads the clock.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::io::unix::AsyncFd;
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
    UdpSocket::from_std(transfer_socket(addr)?)
}

/// A bound, non-blocking UDP socket with large buffers.
fn transfer_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
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
///
/// The listener runs on the caller's runtime (RRQs are rare); transfers run
/// on [`Shards`], one thread each with a current-thread runtime.
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
    let mut shards = Shards::start(cfg.threads).context("starting the TFTP transfer threads")?;
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
                shards.spawn(tracker.track_future(job.run()));
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
    let _ = tokio::task::spawn_blocking(move || shards.stop()).await;
    Ok(())
}

/// The threads that run transfers ([tftp] threads). Each has a
/// current-thread runtime, so a transfer's socket readiness, timer and
/// wake-ups stay on one thread: no work stealing and no cross-thread wake
/// per packet, and one `epoll_wait` serves every transfer of the thread. Each also has one lookup thread for
/// the resolver (its file reads block), so a burst of RRQs queues there
/// instead of starting a thread, and a malloc arena, per request.
struct Shards {
    handles: Vec<tokio::runtime::Handle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: CancellationToken,
    next: usize,
}

impl Shards {
    /// `n` threads (at least one).
    fn start(n: usize) -> std::io::Result<Shards> {
        let n = n.max(1);
        let stop = CancellationToken::new();
        let mut handles = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .max_blocking_threads(1)
                .thread_name("tftp-lookup")
                .build()?;
            handles.push(rt.handle().clone());
            let stop = stop.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("tftp-{i}"))
                    .spawn(move || {
                        rt.block_on(stop.cancelled());
                        // A lookup stuck on a slow disk must not hold up exit.
                        rt.shutdown_timeout(std::time::Duration::from_secs(1));
                    })?,
            );
        }
        Ok(Shards {
            handles,
            threads,
            stop,
            next: 0,
        })
    }

    /// Round-robin: transfers of one file cost about the same.
    fn spawn(&mut self, job: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = &self.handles[self.next % self.handles.len()];
        self.next = self.next.wrapping_add(1);
        handle.spawn(job);
    }

    fn stop(self) {
        self.stop.cancel();
        for t in self.threads {
            let _ = t.join();
        }
    }
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
        let socket = match transfer_socket(SocketAddr::new(bind_ip, 0)) {
            Ok(s) => s,
            Err(e) => {
                record.error = Some(format!("cannot open a transfer socket: {e}"));
                return record;
            }
        };
        if let Err(e) = socket.connect(self.peer) {
            record.error = Some(format!("cannot reach the client: {e}"));
            return record;
        }
        // SAFETY: the AsyncFd owns the std socket, whose descriptor stays
        // open and the same until the AsyncFd drops it.
        let socket = match unsafe { AsyncFd::register(socket) } {
            Ok(s) => s,
            Err(e) => {
                record.error = Some(format!("cannot watch the transfer socket: {e}"));
                return record;
            }
        };
        let resolver = self.resolver.clone();
        let path = self.request.path.clone();
        let peer = self.peer;
        let resolved =
            tokio::task::spawn_blocking(move || resolver.resolve(peer.ip(), &path)).await;
        let resolved = match resolved {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let packet = tftp::wire::error_packet(e.tftp_code(), e.client_message());
                let _ = socket.get_ref().send(&packet);
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

/// Datagrams read per `recvmmsg`. At least two, so a short read tells that
/// the queue is empty; more than a window's worth of ACKs is never queued.
const RECV_SLOTS: usize = 8;
/// A transfer only ever receives ACKs and ERRORs, so a small slot does (a
/// longer datagram is cut and then ignored as malformed). Memory per
/// transfer is what bounds 1000 concurrent phones, not speed.
const RECV_LEN: usize = 1024;

/// The quinn-style loop: drain transmits and events, then wait for
/// datagrams, the deadline, or shutdown.
///
/// Per DATA packet in lock-step this costs one `sendmmsg` and one
/// `recvmmsg`: a short read proves the queue empty, so readiness is cleared
/// without the extra `recv` that would only say `EAGAIN`. A window goes out
/// in one `sendmmsg`, each block a slice of the cached file.
async fn drive(
    t: &mut tftp::Transfer,
    socket: &AsyncFd<std::net::UdpSocket>,
    guard: &TransferGuard,
    shutdown: &CancellationToken,
) -> (Option<tftp::Summary>, Option<&'static str>) {
    let slots = usize::from(t.negotiated().windowsize).clamp(2, RECV_SLOTS);
    let mut batch = Vec::with_capacity(usize::from(t.negotiated().windowsize).min(mmsg::MAX_BATCH));
    // The timer only ever moves earlier. Every ACK pushes the deadline out,
    // and moving a timer per packet is a timer-wheel operation per packet;
    // instead a timer that fires before the real deadline finds
    // `handle_timeout` doing nothing and is set again.
    let mut armed = t.poll_timeout();
    let sleep = tokio::time::sleep_until(to_tokio(armed));
    tokio::pin!(sleep);
    // Made once: each new `cancelled()` future would take the token's lock
    // to register and again to leave, on every turn.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    // UDP GSO until the kernel or the route refuses it.
    let mut gso = true;
    let mut summary = None;
    let mut abort_reason = None;
    loop {
        loop {
            batch.clear();
            while batch.len() < mmsg::MAX_BATCH {
                match t.poll_datagram() {
                    Some(d) => batch.push(d),
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            if send_batch(socket, &batch, &mut gso).await.is_err() {
                INBOUND.with_borrow_mut(|buf| {
                    client_gone(t, socket.get_ref(), &mut buf[..RECV_LEN], guard)
                });
                abort_reason = Some("the client's port is closed (it gave up or exited)");
                break;
            }
        }
        batch.clear();
        while let Some(tftp::Event::Finished(s)) = t.poll_event() {
            summary = Some(s);
        }
        if t.is_finished() {
            return (summary, abort_reason);
        }
        if let Some(deadline) = t.poll_timeout() {
            if armed.is_none_or(|a| deadline < a) {
                armed = Some(deadline);
                sleep.as_mut().reset(to_tokio(armed));
            }
        }
        // Biased, shutdown first: datagrams already queued are read before a
        // timeout that fired in the same turn is believed, so a thread that
        // was off the CPU for longer than the RTO does not retransmit a
        // window whose ACK is waiting.
        tokio::select! {
            biased;
            _ = &mut cancelled => {
                let bye = tftp::wire::error_packet(tftp::ErrorCode::NotDefined, "server shutting down");
                let _ = socket.get_ref().send(&bye);
                abort_reason = Some("server shutting down");
                t.abort(Instant::now());
            }
            r = socket.readable() => {
                let Ok(mut ready) = r else { continue };
                match receive(t, socket.get_ref(), guard, slots) {
                    Received::Drained => ready.clear_ready(),
                    // A stream of datagrams would keep the timer's branch
                    // from its turn; an early call does nothing.
                    Received::Maybe => t.handle_timeout(Instant::now()),
                    Received::ClientGone => {
                        abort_reason = Some("the client's port is closed (it gave up or exited)");
                    }
                }
            },
            _ = &mut sleep, if armed.is_some() => {
                armed = None;
                t.handle_timeout(Instant::now());
            }
        }
    }
}

thread_local! {
    /// Each transfer thread's receive buffer. Datagrams are handled before
    /// the next await, so the thread's transfers share one instead of
    /// holding `RECV_SLOTS × RECV_LEN` bytes each (1000 transfers: 8 MB).
    static INBOUND: RefCell<Vec<u8>> = RefCell::new(vec![0; RECV_SLOTS * RECV_LEN]);
}

/// What one read of the transfer socket found.
enum Received {
    /// The queue is empty: readiness can be cleared.
    Drained,
    /// More may be queued.
    Maybe,
    /// ICMP port unreachable; the transfer has ended.
    ClientGone,
}

/// Reads what is queued (up to `slots` datagrams) and feeds it to `t`.
fn receive(
    t: &mut tftp::Transfer,
    socket: &std::net::UdpSocket,
    guard: &TransferGuard,
    slots: usize,
) -> Received {
    INBOUND.with_borrow_mut(|inbound| {
        let mut lens = [0usize; RECV_SLOTS];
        match mmsg::recv(socket, inbound, RECV_LEN, &mut lens[..slots]) {
            Ok(n) => {
                let now = Instant::now();
                for (i, len) in lens[..n].iter().enumerate() {
                    t.handle_datagram(now, &inbound[i * RECV_LEN..][..*len]);
                }
                guard.progress(t.progress().0);
                if n < slots {
                    Received::Drained
                } else {
                    Received::Maybe
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Received::Drained,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                client_gone(t, socket, &mut inbound[..RECV_LEN], guard);
                Received::ClientGone
            }
            Err(e) => {
                tracing::debug!("tftp recv: {e}");
                Received::Maybe
            }
        }
    })
}

/// Sends the whole batch, waiting while the socket buffer is full. `Err`
/// means the client's port is closed (ICMP port unreachable). Other errors
/// (a local firewall's EPERM, ENOBUFS) lose the one datagram they name; the
/// retransmission timer deals with that like any other loss.
///
/// With `gso`, a run of equal-sized datagrams (a window of full blocks, the
/// last one may be shorter) goes down the stack as one UDP GSO buffer and is
/// cut into datagrams at the last moment (the NIC, or the receiving socket
/// on loopback). Any refusal (a route whose MTU is below a block, a device
/// without checksum offload) turns it off for this transfer.
async fn send_batch(
    socket: &AsyncFd<std::net::UdpSocket>,
    batch: &[tftp::Datagram],
    gso: &mut bool,
) -> Result<(), ()> {
    let mut sent = 0;
    while sent < batch.len() {
        let rest = &batch[sent..];
        let result = if *gso && rest.len() > 1 {
            match mmsg::send_gso(socket.get_ref(), rest) {
                Err(e)
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::WouldBlock
                    ) =>
                {
                    tracing::debug!("tftp: UDP GSO refused ({e}); sending datagrams one by one");
                    *gso = false;
                    continue;
                }
                r => r,
            }
        } else {
            mmsg::send(socket.get_ref(), rest)
        };
        match result {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                match socket.writable().await {
                    // Readiness is only trusted again after the kernel said
                    // so; the next try either sends or clears it.
                    Ok(mut ready) => ready.clear_ready(),
                    Err(_) => return Ok(()),
                }
            }
            Err(e) => {
                tracing::debug!(
                    "tftp send to {:?} failed: {e}",
                    socket.get_ref().peer_addr().ok()
                );
                sent += 1;
            }
        }
    }
    Ok(())
}

/// ICMP port unreachable. Linux reports the error before datagrams already
/// queued, and the client's final ACK may be among them: read those first,
/// then let the transfer decide what the closed port means.
fn client_gone(
    t: &mut tftp::Transfer,
    socket: &std::net::UdpSocket,
    buf: &mut [u8],
    guard: &TransferGuard,
) {
    while !t.is_finished() {
        match socket.recv(buf) {
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

/// `sendmmsg(2)` and `recvmmsg(2)` on a connected, non-blocking UDP socket.
mod mmsg {
    use std::io;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    /// Datagrams per `sendmmsg`; a window larger than this takes more calls.
    pub const MAX_BATCH: usize = 64;

    /// Sends the leading datagrams of `batch` (at most [`MAX_BATCH`]) in one
    /// call, each as two `iovec`s: header and file slice. Returns how many
    /// went out; an error is about the first one.
    pub fn send(socket: &UdpSocket, batch: &[tftp::Datagram]) -> io::Result<usize> {
        if batch.len() == 1 {
            return send_one(socket, &batch[0]).map(|()| 1);
        }
        let n = batch.len().min(MAX_BATCH);
        let mut iov = iovecs(&batch[..n]);
        // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
        let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
        for (m, pair) in msgs[..n].iter_mut().zip(iov.chunks_exact_mut(2)) {
            m.msg_hdr.msg_iov = pair.as_mut_ptr();
            m.msg_hdr.msg_iovlen = 2;
        }
        // SAFETY: `msgs[..n]` point into `iov`, which points into `batch`;
        // both outlive the call, and the kernel only reads them. The socket
        // is connected, so no address is given.
        let r = unsafe { libc::sendmmsg(socket.as_raw_fd(), msgs.as_mut_ptr(), n as u32, 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// Lock-step's one datagram per turn: `sendmsg` with two `iovec`s,
    /// without zeroing a batch's worth of headers.
    fn send_one(socket: &UdpSocket, d: &tftp::Datagram) -> io::Result<()> {
        let mut iov = [iovec(d.header()), iovec(d.payload())];
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = 2;
        // SAFETY: `msg` points into `iov`, which points into `d`; both
        // outlive the call, and the kernel only reads them.
        let r = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// `UDP_SEGMENT` from linux/udp.h (Linux 4.18).
    const UDP_SEGMENT: libc::c_int = 103;
    /// The kernel cuts one GSO buffer into at most 64 datagrams.
    const GSO_MAX_SEGMENTS: usize = 64;
    /// One GSO buffer is one IP packet before it is cut: under 64 KiB.
    const GSO_MAX_BYTES: usize = 65_000;

    /// Sends the longest leading run of `batch` that one GSO buffer can
    /// carry (every datagram as long as the first, the last one may be
    /// shorter) with one `sendmsg`. Returns how many datagrams went out.
    pub fn send_gso(socket: &UdpSocket, batch: &[tftp::Datagram]) -> io::Result<usize> {
        let size = batch[0].len();
        let mut n = 0;
        let mut bytes = 0;
        for d in batch.iter().take(GSO_MAX_SEGMENTS.min(MAX_BATCH)) {
            if d.len() > size || bytes + d.len() > GSO_MAX_BYTES {
                break;
            }
            n += 1;
            bytes += d.len();
            if d.len() < size {
                break;
            }
        }
        if n < 2 {
            return send(socket, &batch[..1]);
        }
        let mut iov = iovecs(&batch[..n]);
        // u64s for the alignment a cmsghdr needs; 32 bytes hold one u16.
        let mut control = [0u64; 4];
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = 2 * n;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        // SAFETY: CMSG_SPACE is arithmetic; CMSG_FIRSTHDR and CMSG_DATA
        // point into `control`, which has room for one header and a u16.
        unsafe {
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_UDP;
            (*cmsg).cmsg_type = UDP_SEGMENT;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut u16, size as u16);
        }
        // SAFETY: `msg` points into `iov` and `control`, `iov` into `batch`;
        // all outlive the call, and the kernel only reads them.
        let r = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n)
        }
    }

    /// Two `iovec`s per datagram (header, payload) for the first
    /// [`MAX_BATCH`] of `batch`; the rest of the array is empty.
    fn iovecs(batch: &[tftp::Datagram]) -> [libc::iovec; 2 * MAX_BATCH] {
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut iov = [empty; 2 * MAX_BATCH];
        for (pair, d) in iov.chunks_exact_mut(2).zip(batch) {
            pair[0] = iovec(d.header());
            pair[1] = iovec(d.payload());
        }
        iov
    }

    fn iovec(bytes: &[u8]) -> libc::iovec {
        libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        }
    }

    /// Reads up to `lens.len()` datagrams into consecutive `slot`-byte
    /// pieces of `buf` without waiting, storing each one's length (cut at
    /// `slot`). Returns how many were read; fewer than `lens.len()` means the
    /// queue was empty.
    pub fn recv(
        socket: &UdpSocket,
        buf: &mut [u8],
        slot: usize,
        lens: &mut [usize],
    ) -> io::Result<usize> {
        let n = lens.len().min(buf.len() / slot).min(super::RECV_SLOTS);
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut iov = [empty; super::RECV_SLOTS];
        for (v, chunk) in iov.iter_mut().zip(buf.chunks_exact_mut(slot)).take(n) {
            v.iov_base = chunk.as_mut_ptr() as *mut libc::c_void;
            v.iov_len = slot;
        }
        // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
        let mut msgs: [libc::mmsghdr; super::RECV_SLOTS] = unsafe { std::mem::zeroed() };
        for (m, v) in msgs.iter_mut().zip(iov.iter_mut()).take(n) {
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: each of `msgs[..n]` names one `slot`-byte piece of `buf`,
        // which is borrowed mutably for the call; no address or control
        // buffer is asked for.
        let r = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let r = r as usize;
        for (len, m) in lens.iter_mut().zip(&msgs[..r]) {
            *len = (m.msg_len as usize).min(slot);
        }
        Ok(r)
    }
}

/// A far-future instant stands in for "no deadline"; the select guard keeps
/// it from ever firing.
fn to_tokio(deadline: Option<Instant>) -> tokio::time::Instant {
    match deadline {
        Some(d) => tokio::time::Instant::from_std(d),
        None => tokio::time::Instant::now() + std::time::Duration::from_secs(86_400),
    }
}
