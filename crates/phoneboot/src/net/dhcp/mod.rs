//! The tokio side of DHCP: sockets bound to one named interface, the
//! start-up check for another DHCP server, the conflict ping, and the order
//! that makes leases durable: decide → commit lease ops → send the reply.
//! Every decision is made by the `dhcp` crate.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use dhcp::dhcproto::v4::{self, DhcpOption, Flags, Message, MessageType, Opcode};
use dhcp::dhcproto::Encodable;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::{DhcpExchange, Event, EventBus};

pub mod ha;
pub mod leases;
mod pinger;
mod pktinfo;

pub use pinger::Pinger;

/// An IPv4 interface as DHCP needs it.
#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Interface {
    /// Reads the interface's first IPv4 address and prefix.
    pub fn lookup(name: &str) -> anyhow::Result<Interface> {
        let index = nix::net::if_::if_nametoindex(name).map_err(|_| {
            anyhow::anyhow!("there is no network interface {name:?}: pick one from `ip -br link`")
        })?;
        let addrs = nix::ifaddrs::getifaddrs().context("cannot list interface addresses")?;
        for ifa in addrs {
            if ifa.interface_name != name {
                continue;
            }
            let (Some(addr), Some(mask)) = (ifa.address, ifa.netmask) else {
                continue;
            };
            let (Some(addr), Some(mask)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) else {
                continue;
            };
            let prefix_len = u32::from(mask.ip()).count_ones() as u8;
            return Ok(Interface {
                name: name.to_owned(),
                index,
                addr: addr.ip(),
                prefix_len,
            });
        }
        anyhow::bail!(
            "interface {name} has no IPv4 address; give it the server's address first \
             (e.g. `ip addr add 192.168.1.1/24 dev {name}`)"
        )
    }

    pub fn network(&self) -> Ipv4Addr {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        Ipv4Addr::from(u32::from(self.addr) & mask)
    }

    /// The subnet's directed broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        let host = u32::MAX
            .checked_shr(u32::from(self.prefix_len))
            .unwrap_or(0);
        Ipv4Addr::from(u32::from(self.network()) | host)
    }
}

/// A UDP socket on 0.0.0.0:`port` that only sees and sends on `iface`.
pub fn bind_on_interface(iface: &str, port: u16) -> anyhow::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket
        .bind_device(Some(iface.as_bytes()))
        .with_context(|| format!("cannot bind to interface {iface} (needs root or CAP_NET_RAW)"))?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    socket.bind(&addr.into()).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied => "DHCP needs root or CAP_NET_BIND_SERVICE".to_owned(),
            std::io::ErrorKind::AddrInUse => format!(
                "another DHCP program (dnsmasq, isc-dhcp-server, kea, dhclient) holds UDP port {port}: \
                 find it with `ss -ulpn 'sport = :{port}'` and stop it"
            ),
            _ => "check the interface".to_owned(),
        };
        anyhow::anyhow!("cannot bind UDP port {port} on {iface}: {e}; {hint}")
    })?;
    Ok(UdpSocket::from_std(socket.into())?)
}

/// Another DHCP server that answered the start-up probe.
#[derive(Debug, Clone)]
pub struct ForeignServer {
    pub ip: Ipv4Addr,
    pub server_id: Option<Ipv4Addr>,
    pub mac: Option<String>,
    pub offered: Ipv4Addr,
}

impl std::fmt::Display for ForeignServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.server_id.unwrap_or(self.ip))?;
        match &self.mac {
            Some(m) => write!(f, " (MAC {m})")?,
            None => write!(f, " (MAC unknown)")?,
        }
        write!(f, " offered {}", self.offered)
    }
}

/// Locally administered, so it never collides with a real phone.
const PROBE_MAC: [u8; 6] = [0x02, 0x70, 0x62, 0x00, 0x00, 0x01];

/// Broadcasts a DISCOVER from a probe MAC on `client_socket` (port 68 on the
/// interface) and collects every OFFER that answers within `wait`.
pub async fn probe_other_servers(
    client_socket: &UdpSocket,
    wait: Duration,
) -> anyhow::Result<Vec<ForeignServer>> {
    let xid = std::process::id() ^ 0x7062_0000;
    let mut msg = Message::default();
    msg.set_opcode(Opcode::BootRequest)
        .set_xid(xid)
        .set_flags(Flags::default().set_broadcast())
        .set_chaddr(&PROBE_MAC);
    msg.opts_mut()
        .insert(DhcpOption::MessageType(MessageType::Discover));
    msg.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
        v4::OptionCode::SubnetMask,
        v4::OptionCode::Router,
    ]));
    let bytes = msg.to_vec().context("encoding the probe DISCOVER")?;
    client_socket
        .send_to(&bytes, (Ipv4Addr::BROADCAST, dhcp::SERVER_PORT))
        .await
        .context("sending the probe DISCOVER")?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 2048];
    loop {
        let r = tokio::time::timeout_at(deadline, client_socket.recv_from(&mut buf)).await;
        let Ok(Ok((n, from))) = r else { break };
        let Ok(reply) = dhcp::decode(&buf[..n]) else {
            continue;
        };
        if reply.xid() != xid || reply.opcode() != Opcode::BootReply {
            continue;
        }
        let server_id = server_id(&reply);
        let ip = match from {
            SocketAddr::V4(a) => *a.ip(),
            SocketAddr::V6(_) => continue,
        };
        found.push(ForeignServer {
            ip,
            server_id,
            mac: None,
            offered: reply.yiaddr(),
        });
    }
    // A broadcast OFFER teaches the kernel no MAC; one datagram to the
    // server makes it resolve the address, then the ARP table has it.
    for server in &mut found {
        let _ = client_socket.send_to(b"", (server.ip, 9)).await;
        for _ in 0..20 {
            server.mac = arp_lookup(server.ip);
            if server.mac.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    Ok(found)
}

/// The MAC the kernel learned for `ip`, if any.
fn arp_lookup(ip: Ipv4Addr) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.first() == Some(&ip.to_string().as_str()))
            .then(|| cols.get(3).map(|m| (*m).to_owned()))
            .flatten()
            .filter(|m| m != "00:00:00:00:00:00")
    })
}

/// Called once, on the store's commit thread, when lease changes are durable
/// (or failed). Keep it short: the next group waits for it.
pub type CommitDone = Box<dyn FnOnce(Result<(), CommitError>) + Send>;

/// Makes lease changes durable and then calls `done`; the reply waits for
/// it. A callback rather than a future, so a whole group's replies wake the
/// serving loop once instead of one task per request (issue #15).
pub type Commit = Arc<dyn Fn(Vec<dhcp::LeaseOp>, CommitDone) + Send + Sync>;

/// Why lease changes were not made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitError {
    /// Another server sharing the store leased this address to another
    /// client: decide again without it.
    Claimed(Ipv4Addr),
    /// The store could not write (down, full, refused): no reply.
    Failed(String),
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitError::Claimed(ip) => write!(f, "{ip} is leased by another server"),
            CommitError::Failed(why) => f.write_str(why),
        }
    }
}

/// What the serving loop needs.
pub struct DhcpService {
    pub iface: Interface,
    /// Shared with the syslog receiver, which looks up leases by address.
    pub server: Arc<Mutex<dhcp::Server>>,
    pub leases: leases::LeaseSink,
    pub events: EventBus,
    /// Ping budget before an OFFER, when conflict checking is on.
    pub conflict_check: Option<Duration>,
    /// Servers sharing the store: their replies are not a rogue's.
    pub peers: Option<ha::Peers>,
}

/// At most this many datagrams join one inline group before it commits:
/// bounds the wait of the first one's reply under a flood.
const MAX_BATCH: usize = 256;

/// Runs [`serve`] on a thread of its own, with a single-threaded runtime,
/// and returns a task that ends with it. On SQLite the loop commits each
/// batch itself, so an fsync blocks that thread (and only it); and every
/// wake-up of the loop is one thread's, with no worker of the shared
/// runtime woken to steal it (issue #15).
pub fn spawn_serving_thread(
    svc: DhcpService,
    server_socket: UdpSocket,
    client_socket: Option<UdpSocket>,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let s67 = server_socket.into_std()?;
    let s68 = client_socket.map(UdpSocket::into_std).transpose()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("dhcp".into())
        .spawn(move || {
            let run = || -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the DHCP thread's runtime")?;
                rt.block_on(async move {
                    let s67 = UdpSocket::from_std(s67)?;
                    let s68 = s68.map(UdpSocket::from_std).transpose()?;
                    serve(svc, s67, s68, shutdown).await
                })
            };
            let _ = tx.send(run());
        })
        .context("cannot start the DHCP thread")?;
    Ok(tokio::spawn(async move {
        rx.await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the DHCP thread ended without a result")))
    }))
}

/// Serves DHCP on `server_socket` (port 67 on the interface) until
/// shutdown. `client_socket` (port 68) is watched for other servers' replies.
///
/// One loop owns every step but the slow ones: it decides, sends replies
/// that need no write, and sends each ACK once its lease is durable. With
/// an inline store it takes every datagram already queued, decides them,
/// commits their leases as one group and then replies; with a commit
/// thread it sends each ACK when the thread reports its group durable.
/// Pings run as tasks and report back to the loop, so every `decide` still
/// happens here, in order.
pub async fn serve(
    svc: DhcpService,
    server_socket: UdpSocket,
    client_socket: Option<UdpSocket>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pinger = match svc.conflict_check {
        Some(budget) => match Pinger::start() {
            Ok(p) => Some((p, budget)),
            Err(e) => {
                tracing::warn!("conflict check disabled: cannot open an ICMP socket ({e}); run as root to enable it");
                None
            }
        },
        None => None,
    };
    let (back_tx, mut back_rx) = mpsc::unbounded_channel();
    let mut lp = Loop {
        core: svc.server.clone(),
        socket: server_socket,
        leases: svc.leases,
        pending: Vec::new(),
        events: svc.events.clone(),
        pinger,
        back: back_tx,
        in_flight: 0,
        iface: svc.iface,
        peers: svc.peers,
    };
    let mut buf = vec![0u8; 4096];
    let mut buf68 = vec![0u8; 4096];
    let fd67 = lp.socket.as_raw_fd();
    if let Err(e) = pktinfo::enable(fd67) {
        tracing::warn!(
            "cannot learn where DHCP requests were sent (IP_PKTINFO: {e}); a rebinding client \
             may be answered by every server sharing the store"
        );
    }
    loop {
        tokio::select! {
            biased;
            Some(b) = back_rx.recv() => {
                lp.came_back(b).await?;
                // A group commit reports many requests at once.
                while let Ok(b) = back_rx.try_recv() {
                    lp.came_back(b).await?;
                }
            }
            r = lp.socket.async_io(Interest::READABLE, || pktinfo::recv(fd67, &mut buf)) => match r {
                Ok((n, from, dst)) => {
                    lp.datagram(&buf[..n], from.into(), dst, false).await?;
                    // Everything already queued joins this group.
                    for _ in 1..MAX_BATCH {
                        match lp.socket.try_io(Interest::READABLE, || pktinfo::recv(fd67, &mut buf)) {
                            Ok((n, from, dst)) => lp.datagram(&buf[..n], from.into(), dst, false).await?,
                            Err(e) => {
                                if e.kind() != std::io::ErrorKind::WouldBlock {
                                    tracing::debug!("dhcp recv: {e}");
                                }
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!("dhcp recv: {e}"),
            },
            r = recv_opt(client_socket.as_ref(), &mut buf68) => match r {
                Ok((n, from)) => lp.datagram(&buf68[..n], from, None, true).await?,
                Err(e) => tracing::debug!("dhcp recv on 68: {e}"),
            },
            _ = shutdown.cancelled() => break,
        }
        lp.flush().await?;
    }
    // Requests waiting for a ping or a commit still get their replies.
    lp.flush().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while lp.in_flight > 0 {
        match tokio::time::timeout_at(deadline, back_rx.recv()).await {
            Ok(Some(b)) => {
                lp.came_back(b).await?;
                lp.flush().await?;
            }
            _ => break,
        }
    }
    Ok(())
}

fn server_id(msg: &Message) -> Option<Ipv4Addr> {
    match msg.opts().get(v4::OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    }
}

async fn recv_opt(
    socket: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// One request after `decide`, until its reply leaves.
struct Job {
    /// When the first decision was made, for the reply latency.
    decided: Instant,
    ingress: dhcp::Ingress,
    msg: Message,
    decision: dhcp::Decision,
    /// Addresses that answered a ping so far (at most 3 are tried).
    probes: u8,
    /// Addresses another server of the store held (at most 3 are tried).
    claims: u8,
}

/// A job coming back to the loop from a ping task or the commit thread.
enum Back {
    Probed(Box<Job>, bool),
    Committed(Box<Job>, Result<(), CommitError>),
}

/// The serving loop's state.
struct Loop {
    core: Arc<Mutex<dhcp::Server>>,
    socket: UdpSocket,
    leases: leases::LeaseSink,
    /// Lease ops waiting for the next inline group, with the job that
    /// replies once they are durable (none for a quarantine after a ping).
    pending: Vec<(Option<Box<Job>>, Vec<dhcp::LeaseOp>)>,
    events: EventBus,
    pinger: Option<(Arc<Pinger>, Duration)>,
    back: mpsc::UnboundedSender<Back>,
    /// Jobs out at a ping or a commit thread.
    in_flight: usize,
    iface: Interface,
    /// Servers sharing the store: their replies are not a rogue's.
    peers: Option<ha::Peers>,
}

impl Loop {
    /// Decides on one datagram from port 67 (or, `foreign`, port 68) and
    /// moves its job on. `dst` is where it was sent, when the kernel said.
    async fn datagram(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        dst: Option<Ipv4Addr>,
        foreign: bool,
    ) -> anyhow::Result<()> {
        let SocketAddr::V4(source) = from else {
            return Ok(());
        };
        let msg = match dhcp::decode(data) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("dhcp {from}: malformed datagram: {e}");
                return Ok(());
            }
        };
        if msg.chaddr().get(..6) == Some(&PROBE_MAC[..]) {
            return Ok(());
        }
        // Port 68 also hears our own broadcast replies, and those of the
        // servers sharing our store: neither is a rogue's.
        if foreign {
            let ours = |ip: Ipv4Addr| {
                ip == self.iface.addr || self.peers.as_ref().is_some_and(|p| ha::is_peer(p, ip))
            };
            if ours(*source.ip()) || server_id(&msg).is_some_and(ours) {
                return Ok(());
            }
        }
        let ingress = dhcp::Ingress {
            local_addr: self.iface.addr,
            ifindex: self.iface.index,
            source,
            broadcast: match dst {
                // A relay forwards only what its clients broadcast.
                Some(d) => {
                    d.is_broadcast()
                        || d == self.iface.broadcast()
                        || source.ip().is_unspecified()
                        || !msg.giaddr().is_unspecified()
                }
                None => source.ip().is_unspecified() || msg.flags().broadcast(),
            },
        };
        let now = Instant::now();
        let decision = self.decide(now, &ingress, &msg)?;
        let job = Job {
            decided: now,
            ingress,
            msg,
            decision,
            probes: 0,
            claims: 0,
        };
        self.advance(Box::new(job)).await;
        Ok(())
    }

    /// Commits the pending inline group (one transaction, one fsync), then
    /// moves its jobs on: replies, or decides again after a claim (which
    /// may queue a new group, committed in the same call).
    async fn flush(&mut self) -> anyhow::Result<()> {
        while !self.pending.is_empty() {
            let leases::LeaseSink::Inline(store) = &mut self.leases else {
                break;
            };
            let (jobs, ops): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.pending).into_iter().unzip();
            let results = store.commit(ops);
            for (job, r) in jobs.into_iter().zip(results) {
                if let Some(job) = job {
                    // `came_back` counts a returning job off.
                    self.in_flight += 1;
                    self.came_back(Back::Committed(job, r)).await?;
                }
            }
        }
        Ok(())
    }

    /// Queues lease ops for durability; the job, if any, comes back as
    /// `Back::Committed`.
    fn commit(&mut self, ops: Vec<dhcp::LeaseOp>, job: Option<Box<Job>>) {
        match &self.leases {
            leases::LeaseSink::Inline(_) => self.pending.push((job, ops)),
            leases::LeaseSink::Thread(commit) => match job {
                Some(job) => {
                    let back = self.back.clone();
                    self.in_flight += 1;
                    commit(
                        ops,
                        Box::new(move |r| {
                            let _ = back.send(Back::Committed(job, r));
                        }),
                    );
                }
                None => commit(ops, Box::new(|_| {})),
            },
        }
    }

    fn decide(
        &self,
        now: Instant,
        ingress: &dhcp::Ingress,
        msg: &Message,
    ) -> anyhow::Result<dhcp::Decision> {
        match self.core.lock() {
            Ok(mut c) => Ok(c.decide(now, ingress, msg)),
            Err(_) => anyhow::bail!("dhcp state poisoned by an earlier panic"),
        }
    }

    /// Moves a job on: ping its address, commit its leases, or reply.
    async fn advance(&mut self, mut job: Box<Job>) {
        // An address that answers a ping is in use by a device we do not
        // know: quarantine it and decide again (at most a few times).
        if let (Some(ip), Some((pinger, budget))) = (job.decision.probe, &self.pinger) {
            if job.probes < 3 {
                let (pinger, budget, back) = (pinger.clone(), *budget, self.back.clone());
                self.in_flight += 1;
                tokio::spawn(async move {
                    let answered = pinger.ping(ip, budget).await;
                    let _ = back.send(Back::Probed(job, answered));
                });
                return;
            }
        }
        // Durable before acknowledged: the reply waits for the commit.
        if !job.decision.lease_ops.is_empty() {
            let ops = std::mem::take(&mut job.decision.lease_ops);
            self.commit(ops, Some(job));
            return;
        }
        self.reply(&job).await;
    }

    async fn came_back(&mut self, back: Back) -> anyhow::Result<()> {
        self.in_flight = self.in_flight.saturating_sub(1);
        match back {
            Back::Probed(mut job, false) => {
                job.decision.probe = None;
                self.advance(job).await;
            }
            Back::Probed(mut job, true) => {
                let Some(ip) = job.decision.probe else {
                    return Ok(());
                };
                let now = Instant::now();
                let (conflict, retry) = match self.core.lock() {
                    Ok(mut core) => {
                        let conflict = core.report_conflict(ip, now);
                        (conflict, core.decide(now, &job.ingress, &job.msg))
                    }
                    Err(_) => anyhow::bail!("dhcp state poisoned by an earlier panic"),
                };
                self.report(&conflict.events, None, job.decided);
                // The quarantine is queued before the retry's leases, and
                // the store commits in order; its outcome changes no reply.
                if !conflict.lease_ops.is_empty() {
                    self.commit(conflict.lease_ops, None);
                }
                job.probes += 1;
                job.decision = retry;
                self.advance(job).await;
            }
            Back::Committed(job, Ok(())) => self.reply(&job).await,
            // Another server sharing the store may hold the address we
            // chose: drop it and decide again (at most a few times).
            Back::Committed(mut job, Err(CommitError::Claimed(ip))) if job.claims < 3 => {
                tracing::info!(
                    "dhcp: {ip} is leased by another server of the store; choosing again"
                );
                let now = Instant::now();
                job.decision = match self.core.lock() {
                    Ok(mut core) => {
                        core.taken_elsewhere(ip, now);
                        core.decide(now, &job.ingress, &job.msg)
                    }
                    Err(_) => anyhow::bail!("dhcp state poisoned by an earlier panic"),
                };
                job.claims += 1;
                job.probes = 3;
                self.advance(job).await;
            }
            Back::Committed(_, Err(e)) => {
                // Durable before acknowledged: without the write, no reply.
                tracing::error!("dhcp: lease not saved, reply withheld: {e}");
            }
        }
        Ok(())
    }

    /// Sends the decision's reply, if any, and reports its events.
    async fn reply(&self, job: &Job) {
        let mut sent_to = None;
        if let Some(reply) = &job.decision.reply {
            match reply.encode() {
                Ok(bytes) => {
                    let dest = send_address(&reply.destination);
                    match self.socket.send_to(&bytes, dest).await {
                        Ok(_) => sent_to = Some(dest),
                        Err(e) => tracing::warn!("dhcp: cannot send reply to {dest}: {e}"),
                    }
                }
                Err(e) => tracing::warn!("dhcp: cannot encode reply: {e}"),
            }
        }
        self.report(&job.decision.events, sent_to, job.decided);
    }

    fn report(&self, events: &[dhcp::Event], sent_to: Option<SocketAddrV4>, decided: Instant) {
        let reply_ms = sent_to.map(|_| decided.elapsed().as_secs_f64() * 1000.0);
        for e in events {
            let mut record = DhcpExchange::from_core(e, sent_to);
            record.reply_ms = reply_ms;
            self.events.emit(Event::Dhcp(record));
        }
    }
}

/// Where a reply really goes. A client without an address cannot answer
/// ARP, so "unicast to yiaddr at chaddr" (RFC 2131 §4.1) is sent as a
/// broadcast on the interface instead, which every client accepts.
fn send_address(dest: &dhcp::Destination) -> SocketAddrV4 {
    match dest {
        dhcp::Destination::Chaddr { .. } | dhcp::Destination::Broadcast => {
            SocketAddrV4::new(Ipv4Addr::BROADCAST, dhcp::CLIENT_PORT)
        }
        other => other.socket_addr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaddr_replies_go_out_as_broadcast() {
        let d = dhcp::Destination::Relay(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(
            send_address(&d),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 67)
        );
    }
}
