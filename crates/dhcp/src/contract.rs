//! What a driver exchanges with the core, and what it must do with it.
//!
//! The driver owns the sockets, the clock, the store and the network probe;
//! [`Server`] owns every decision. Per datagram, in this order:
//!
//! 1. Decode it with [`decode`](crate::decode), never with dhcproto's
//!    `Message::decode`, whose debug assertions a hostile packet trips. A
//!    datagram that does not decode is dropped without an event.
//! 2. Fill an [`Ingress`] from the socket (IP_PKTINFO), not from the packet,
//!    and call [`Server::decide`] with `now`. Decide one message at a time:
//!    calls mutate the core, so a multi-threaded driver holds one lock
//!    around each call and keeps the slow steps below outside it.
//! 3. If [`Decision::probe`] names an address, check it (ping or ARP, with
//!    a short budget) before anything leaves. If it answers, throw the
//!    decision away, call [`Server::report_conflict`], make that decision's
//!    quarantine durable and report its event, then `decide` the same
//!    message again with the same `Ingress`; bound the retries (phoneboot
//!    stops after three).
//! 4. Commit [`Decision::lease_ops`] durably (fsync), in order, and wait.
//!    Only then send the reply: a client must never hold an address the
//!    store does not know. If the commit fails, send nothing.
//! 5. Send [`Reply::encode`]'s bytes to [`Reply::destination`], choosing the
//!    source address yourself (see [`Destination`] for RFC 2131 §4.1).
//! 6. Forward [`Decision::events`] to the log and the dashboard.
//!
//! At start-up, before the first `decide`, hand the stored leases to
//! [`Server::restore`] and each stored quarantine to
//! [`Server::restore_quarantine`]. Leases and quarantines carry `Instant`s
//! on the clock of `now`; the driver converts them to and from wall time.
//! Nothing else needs a timer: expiry is judged against `now` on every call.
//!
//! [`Server`]: crate::Server
//! [`Server::decide`]: crate::Server::decide
//! [`Server::report_conflict`]: crate::Server::report_conflict
//! [`Server::restore`]: crate::Server::restore
//! [`Server::restore_quarantine`]: crate::Server::restore_quarantine

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use dhcproto::v4::{Message, MessageType};

use crate::config::Mac;
use crate::wire::mac_of;

/// Port DHCP servers and relay agents listen on.
pub const SERVER_PORT: u16 = 67;
/// Port DHCP clients listen on.
pub const CLIENT_PORT: u16 = 68;

/// Where a datagram came in: what the driver learns from the socket
/// (IP_PKTINFO), not from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingress {
    /// The server's own address on the receiving interface. It is the
    /// server identifier (54), the default TFTP server (150/66), and picks
    /// the subnet when the request was not relayed.
    pub local_addr: Ipv4Addr,
    /// Interface index, carried into events.
    pub ifindex: u32,
    /// The datagram's source address and port.
    pub source: SocketAddrV4,
    /// The datagram was addressed to a broadcast address, or came through
    /// a relay (which forwards only broadcasts). Tells REBINDING from
    /// RENEWING: a rebinding client is answered by the server whose share
    /// it falls in, a renewal unicast to this server always (RFC 3074).
    pub broadcast: bool,
}

/// Where the driver sends a reply: RFC 2131 §4.1 as a value. The driver
/// chooses the source address (pktinfo), sends broadcasts, and for
/// [`Destination::Chaddr`] installs an ARP entry (or sends at layer 2)
/// because the client cannot answer ARP before it has its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// "If the 'giaddr' field in a DHCP message from a client is non-zero,
    /// the server sends any return messages to the 'DHCP server' port on the
    /// BOOTP relay agent whose address appears in 'giaddr'."
    Relay(Ipv4Addr),
    /// "If the 'giaddr' field is zero and the 'ciaddr' field is nonzero,
    /// then the server unicasts DHCPOFFER and DHCPACK messages to the address
    /// in 'ciaddr'."
    Ciaddr(Ipv4Addr),
    /// "If 'giaddr' is zero and 'ciaddr' is zero, and the broadcast bit is
    /// set, then the server broadcasts DHCPOFFER and DHCPACK messages to
    /// 0xffffffff." Also: "In all cases, when 'giaddr' is zero, the server
    /// broadcasts any DHCPNAK messages to 0xffffffff."
    Broadcast,
    /// "If the broadcast bit is not set and 'giaddr' is zero and 'ciaddr' is
    /// zero, then the server unicasts DHCPOFFER and DHCPACK messages to the
    /// client's hardware address and 'yiaddr' address."
    Chaddr { yiaddr: Ipv4Addr, chaddr: Mac },
}

impl Destination {
    /// RFC 2131 §4.1 for a reply of type `reply_type` to `req`.
    pub fn for_reply(req: &Message, reply_type: MessageType, yiaddr: Ipv4Addr) -> Destination {
        let giaddr = req.giaddr();
        if !giaddr.is_unspecified() {
            return Destination::Relay(giaddr);
        }
        if reply_type == MessageType::Nak {
            return Destination::Broadcast;
        }
        let ciaddr = req.ciaddr();
        if !ciaddr.is_unspecified() {
            return Destination::Ciaddr(ciaddr);
        }
        if req.flags().broadcast() || yiaddr.is_unspecified() {
            return Destination::Broadcast;
        }
        match mac_of(req) {
            Some(chaddr) => Destination::Chaddr { yiaddr, chaddr },
            None => Destination::Broadcast,
        }
    }

    /// The IP address and UDP port to send to.
    pub fn socket_addr(&self) -> SocketAddrV4 {
        match *self {
            Destination::Relay(ip) => SocketAddrV4::new(ip, SERVER_PORT),
            Destination::Ciaddr(ip) => SocketAddrV4::new(ip, CLIENT_PORT),
            Destination::Broadcast => SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
            Destination::Chaddr { yiaddr, .. } => SocketAddrV4::new(yiaddr, CLIENT_PORT),
        }
    }
}

/// A reply ready to send. Encode it with [`Reply::encode`], which writes the
/// options in the order the server chose (dhcproto's own encoder writes them
/// in hash order, which would break RFC 2132 §3.3 "mask before router").
/// A driver may add options to `message`; they go out after the chosen ones.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Reply {
    pub message: Message,
    pub destination: Destination,
    /// Option codes in wire order, as `wire` writes them.
    pub(crate) order: Vec<u8>,
}
impl Reply {
    /// Option codes in wire order.
    pub fn option_codes(&self) -> &[u8] {
        &self.order
    }
}

/// A lease as the store keeps it. `expires` is an `Instant` on the same
/// clock as the `now` given to `decide`; the driver converts it to wall
/// time when it writes (`SystemTime::now() + (expires - Instant::now())`)
/// and back when it calls [`Server::restore`](crate::Server::restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub mac: Mac,
    pub client_id: Option<Vec<u8>>,
    pub ip: Ipv4Addr,
    pub expires: Instant,
    pub model: Option<String>,
    pub hostname: Option<String>,
}

/// A change the driver must make durable *before* it sends the reply of the
/// same [`Decision`]. Each op is a complete record; applying them in order
/// is enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOp {
    /// Insert or replace: afterwards `lease.ip` belongs to this client only
    /// (replace any lease on the same IP) and this client holds only this
    /// IP (replace any lease with the same MAC/client id).
    Upsert(Lease),
    /// The client gave the address back; forget the lease on `ip`.
    Release {
        mac: Mac,
        client_id: Option<Vec<u8>>,
        ip: Ipv4Addr,
    },
    /// Nobody may hold `ip` until `until`: a client declined it
    /// (DHCPDECLINE) or the conflict probe found it in use. Forget any
    /// lease on `ip`.
    Quarantine {
        ip: Ipv4Addr,
        until: Instant,
        /// The client that declined it, if any.
        mac: Option<Mac>,
    },
}

/// What [`Server::restore`](crate::Server::restore) did with the leases it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Leases restored and still running.
    pub active: usize,
    /// Leases restored as expired: a memory of who had which address.
    pub expired: usize,
    /// Leases outside every subnet, or on an address or for a client already
    /// restored with a later expiry.
    pub rejected: Vec<Lease>,
}

/// RFC 2131 §4.3.2: the client state a DHCPREQUEST reveals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Answering our OFFER (server identifier present).
    Selecting,
    /// Rebooting with a remembered address (option 50, no ciaddr).
    InitReboot,
    /// T1 expired: unicast renewal with ciaddr.
    Renewing,
    /// T2 expired: broadcast renewal with ciaddr.
    Rebinding,
}

/// What happened in one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Offer,
    Ack,
    Nak,
    /// DHCPACK to a DHCPINFORM (no lease).
    InformAck,
    Released,
    Declined,
    /// The client chose another server; our offer is withdrawn.
    OfferWithdrawn,
    /// The conflict probe found the address in use.
    Conflict,
    /// Another DHCP server's reply was seen on the segment.
    ForeignServer,
    /// No reply; `reason` says why.
    Dropped,
}

/// Why a message was dropped or NAKed (or a noteworthy detail of an ACK).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    #[error("op is not BOOTREQUEST")]
    NotBootRequest,
    #[error("hardware type {htype} length {hlen} is not Ethernet (1, 6)")]
    BadHardware { htype: u8, hlen: u8 },
    #[error("no DHCP message type (option 53): BOOTP is not served")]
    NoMessageType,
    #[error("message type {0} is not handled by a server")]
    UnsupportedMessageType(u8),
    #[error("client exceeded its rate limit")]
    RateLimited,
    #[error("too many clients tracked by the rate limiter")]
    TooManyClients,
    #[error("too many outstanding offers")]
    OfferCap,
    #[error("no free address in subnet {0}")]
    PoolExhausted(String),
    #[error("relay address {0} is in no configured subnet")]
    NoSubnetForRelay(Ipv4Addr),
    #[error("interface address {0} is in no configured subnet")]
    NoSubnetForInterface(Ipv4Addr),
    #[error("client address {0} is in no configured subnet")]
    NoSubnetForClient(Ipv4Addr),
    #[error("client selected server {0}")]
    OtherServer(Ipv4Addr),
    #[error("address {0} is not on the client's subnet")]
    WrongSubnet(Ipv4Addr),
    #[error("address {0} is held by another client")]
    HeldByOther(Ipv4Addr),
    #[error("address {0} is not leasable here (outside the pool, excluded or quarantined)")]
    NotLeasable(Ipv4Addr),
    #[error("client holds {held}, not {asked}")]
    OtherAddress { asked: Ipv4Addr, held: Ipv4Addr },
    #[error("no record of this client for {0}: staying silent (RFC 2131 §4.3.2)")]
    NoRecord(Ipv4Addr),
    #[error("request names no address (neither option 50 nor ciaddr)")]
    NoAddress,
    #[error("address {0} is not leased to this client")]
    NotHeld(Ipv4Addr),
    #[error("lease for {0} adopted: unknown to us, free in the pool")]
    Adopted(Ipv4Addr),
}

/// One exchange, for logs, the store and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The request's message type, when it had one.
    pub request: Option<MessageType>,
    pub state: Option<ClientState>,
    pub mac: Option<Mac>,
    /// The address offered, acknowledged, declined, released or refused.
    pub ip: Option<Ipv4Addr>,
    pub model: Option<String>,
    /// The relay (giaddr) the request came through.
    pub relay: Option<Ipv4Addr>,
    pub ifindex: u32,
    /// Option codes sent, in wire order.
    pub options: Vec<u8>,
    /// Options left out to respect the client's maximum message size.
    pub dropped_options: Vec<u8>,
    pub reason: Option<Reason>,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if let Some(m) = self.mac {
            write!(f, " mac={m}")?;
        }
        if let Some(ip) = self.ip {
            write!(f, " ip={ip}")?;
        }
        if let Some(model) = &self.model {
            write!(f, " model={model}")?;
        }
        if let Some(r) = &self.reason {
            write!(f, " reason=\"{r}\"")?;
        }
        Ok(())
    }
}

/// Everything `decide` wants done; the module doc gives the order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Decision {
    pub reply: Option<Reply>,
    /// Commit these durably before sending `reply`.
    pub lease_ops: Vec<LeaseOp>,
    pub events: Vec<Event>,
    /// Probe this address (ARP or ping, short budget) before the OFFER
    /// leaves. If it answers, drop the reply, call
    /// [`Server::report_conflict`](crate::Server::report_conflict) and
    /// `decide` the same message again.
    pub probe: Option<Ipv4Addr>,
}
