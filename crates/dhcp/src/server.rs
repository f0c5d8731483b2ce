//! The DHCPv4 server state machine: one `decide` per datagram.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};

use crate::allocator::{Allocator, Client, ClientKey};
use crate::config::{Mac, OptionSet, ServerConfig, Subnet};
use crate::contract::{
    ClientState, Decision, Destination, Event, EventKind, Ingress, Lease, LeaseOp, Reason, Reply,
    RestoreReport,
};
use crate::ratelimit::{RateLimiter, Verdict};
use crate::share::Share;
use crate::wire::options::{self, Inputs, ReplyKind};
use crate::wire::{self, mac_of};

/// What the request says about its sender, read once.
struct Req<'a> {
    msg: &'a Message,
    mtype: MessageType,
    client: Client,
    requested: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
    relay: Option<Ipv4Addr>,
}

/// The DHCPv4 server core. Does no I/O and never reads the clock.
///
/// What a driver does with each [`Decision`], in which order, is in the
/// [`contract`](crate::contract) module.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    alloc: Allocator,
    limiter: RateLimiter,
    /// The clients this server answers when several share the store.
    share: Share,
    /// The other live servers, after our own address in the default
    /// option 150.
    peer_tftp: Vec<Ipv4Addr>,
}

fn add(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

impl Server {
    pub fn new(config: ServerConfig) -> Self {
        let n = config.subnets.len();
        let limiter = RateLimiter::new(&config.limits);
        Server {
            config,
            alloc: Allocator::new(n),
            limiter,
            share: Share::ALL,
            peer_tftp: Vec::new(),
        }
    }

    /// Which clients to answer from now on (several servers on one store).
    pub fn set_share(&mut self, share: Share) {
        self.share = share;
    }

    /// The share in force.
    pub fn share(&self) -> Share {
        self.share
    }

    /// The other live servers' addresses: a subnet without a configured
    /// option 150 lists our own address, then these.
    pub fn set_peer_tftp_servers(&mut self, others: Vec<Ipv4Addr>) {
        self.peer_tftp = others;
    }

    /// The shared store says another server leased `ip` to another client:
    /// withdraw our offer or binding on it and keep it out of our pool for
    /// the quarantine time. Nothing is written (the lease is theirs); the
    /// driver decides the request again, which now gets another address
    /// (DISCOVER) or a NAK (REQUEST).
    pub fn taken_elsewhere(&mut self, ip: Ipv4Addr, now: Instant) {
        let until = add(now, self.config.limits.quarantine);
        self.alloc.taken_elsewhere(ip, until);
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Loads leases from the store at start-up. Leases outside every subnet,
    /// or on an address already restored, are returned unchanged so the
    /// driver can log them. Expired leases are kept as a memory of who had
    /// which address, so returning clients get the same one.
    pub fn restore(
        &mut self,
        leases: impl IntoIterator<Item = Lease>,
        now: Instant,
    ) -> RestoreReport {
        let mut report = RestoreReport::default();
        for lease in leases {
            match self.subnet_containing(lease.ip) {
                Some(sn) => self.alloc.restore(sn, lease, &mut report.rejected),
                None => report.rejected.push(lease),
            }
        }
        (report.active, report.expired) = self.alloc.counts(now);
        report
    }

    /// Restores a quarantine from the store at start-up.
    pub fn restore_quarantine(&mut self, ip: Ipv4Addr, until: Instant) {
        self.alloc.quarantine(ip, until);
    }

    /// The conflict probe found `ip` in use: keep it out of the pool for the
    /// quarantine time and withdraw the offer that named it.
    pub fn report_conflict(&mut self, ip: Ipv4Addr, now: Instant) -> Decision {
        let until = add(now, self.config.limits.quarantine);
        let mac = self.alloc.conflict(ip, now, until);
        Decision {
            reply: None,
            lease_ops: vec![LeaseOp::Quarantine {
                ip,
                until,
                mac: None,
            }],
            events: vec![Event {
                kind: EventKind::Conflict,
                request: None,
                state: None,
                mac,
                ip: Some(ip),
                model: None,
                relay: None,
                ifindex: 0,
                options: Vec::new(),
                dropped_options: Vec::new(),
                reason: None,
            }],
            probe: None,
        }
    }

    /// The current lease on `ip`, if it is bound and not expired.
    pub fn lease(&self, ip: Ipv4Addr, now: Instant) -> Option<Lease> {
        self.alloc.lease(ip, now)
    }

    /// Number of outstanding offers (expired ones may still be counted
    /// until the next purge).
    pub fn outstanding_offers(&self) -> usize {
        self.alloc.outstanding_offers()
    }

    /// Decides what to do with one request. The
    /// [`contract`](crate::contract) module says what the driver does with
    /// the result.
    pub fn decide(&mut self, now: Instant, ingress: &Ingress, msg: &Message) -> Decision {
        let mut d = Decision::default();
        let drop = |d: &mut Decision, kind_req: Option<MessageType>, mac: Option<Mac>, reason| {
            d.events.push(Event {
                kind: EventKind::Dropped,
                request: kind_req,
                state: None,
                mac,
                ip: None,
                model: None,
                relay: None,
                ifindex: ingress.ifindex,
                options: Vec::new(),
                dropped_options: Vec::new(),
                reason: Some(reason),
            });
        };
        let mtype = msg.opts().msg_type();
        if msg.opcode() != Opcode::BootRequest {
            // Another server's OFFER/ACK/NAK on our segment is worth a warning.
            if matches!(
                mtype,
                Some(MessageType::Offer | MessageType::Ack | MessageType::Nak)
            ) {
                let server = match msg.opts().get(OptionCode::ServerIdentifier) {
                    Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
                    _ => Some(*ingress.source.ip()),
                };
                d.events.push(Event {
                    kind: EventKind::ForeignServer,
                    request: mtype,
                    state: None,
                    mac: mac_of(msg),
                    ip: server,
                    model: None,
                    relay: None,
                    ifindex: ingress.ifindex,
                    options: Vec::new(),
                    dropped_options: Vec::new(),
                    reason: Some(Reason::NotBootRequest),
                });
            } else {
                drop(&mut d, mtype, None, Reason::NotBootRequest);
            }
            return d;
        }
        let Some(mac) = mac_of(msg) else {
            let reason = Reason::BadHardware {
                htype: u8::from(msg.htype()),
                hlen: msg.hlen(),
            };
            drop(&mut d, mtype, None, reason);
            return d;
        };
        let Some(mtype) = mtype else {
            drop(&mut d, None, Some(mac), Reason::NoMessageType);
            return d;
        };
        if !matches!(
            mtype,
            MessageType::Discover
                | MessageType::Request
                | MessageType::Decline
                | MessageType::Release
                | MessageType::Inform
        ) {
            drop(
                &mut d,
                Some(mtype),
                Some(mac),
                Reason::UnsupportedMessageType(u8::from(mtype)),
            );
            return d;
        }
        if !self.answers(ingress, msg, mtype, mac) {
            // Another live server's client: it answers, we stay silent.
            return d;
        }
        match self.limiter.check(mac, now) {
            Verdict::Allow => {}
            Verdict::Limited => {
                drop(&mut d, Some(mtype), Some(mac), Reason::RateLimited);
                return d;
            }
            Verdict::TableFull => {
                drop(&mut d, Some(mtype), Some(mac), Reason::TooManyClients);
                return d;
            }
        }

        let opts = msg.opts();
        let client_id = match opts.get(OptionCode::ClientIdentifier) {
            Some(DhcpOption::ClientIdentifier(id)) if !id.is_empty() => Some(id.clone()),
            _ => None,
        };
        let key = ClientKey::new(mac, client_id.as_deref());
        let model = match opts.get(OptionCode::ClassIdentifier) {
            Some(DhcpOption::ClassIdentifier(vci)) => (self.config.classifier)(vci),
            _ => None,
        };
        let hostname = match opts.get(OptionCode::Hostname) {
            Some(DhcpOption::Hostname(h)) => Some(h.clone()),
            _ => None,
        };
        let requested = match opts.get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(ip)) => Some(*ip),
            _ => None,
        };
        let server_id = match opts.get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        };
        let relay = Some(msg.giaddr()).filter(|g| !g.is_unspecified());
        let req = Req {
            msg,
            mtype,
            client: Client {
                key,
                mac,
                client_id,
                model,
                hostname,
            },
            requested,
            server_id,
            relay,
        };
        match mtype {
            MessageType::Discover => self.discover(now, ingress, &req, &mut d),
            MessageType::Request => self.request(now, ingress, &req, &mut d),
            MessageType::Decline => self.decline(now, ingress, &req, &mut d),
            MessageType::Release => self.release(now, ingress, &req, &mut d),
            _ => self.inform(ingress, &req, &mut d),
        }
        d
    }

    /// Whether this request is ours under the share: the client hashes to
    /// us, or it talks to us by name (a REQUEST or RELEASE naming our server
    /// identifier, or a renewal unicast to us).
    fn answers(&self, ingress: &Ingress, msg: &Message, mtype: MessageType, mac: Mac) -> bool {
        if self.share.of() <= 1 {
            return true;
        }
        let opts = msg.opts();
        let named_us = matches!(
            opts.get(OptionCode::ServerIdentifier),
            Some(DhcpOption::ServerIdentifier(ip)) if *ip == ingress.local_addr
        );
        let renewing =
            mtype == MessageType::Request && !ingress.broadcast && !msg.ciaddr().is_unspecified();
        if named_us || renewing {
            return true;
        }
        let client_id = match opts.get(OptionCode::ClientIdentifier) {
            Some(DhcpOption::ClientIdentifier(id)) => Some(id.as_slice()),
            _ => None,
        };
        self.share.owns(mac, client_id)
    }

    fn event(&self, kind: EventKind, ingress: &Ingress, req: &Req<'_>) -> Event {
        Event {
            kind,
            request: Some(req.mtype),
            state: None,
            mac: Some(req.client.mac),
            ip: None,
            model: req.client.model.clone(),
            relay: req.relay,
            ifindex: ingress.ifindex,
            options: Vec::new(),
            dropped_options: Vec::new(),
            reason: None,
        }
    }

    fn dropped(
        &self,
        d: &mut Decision,
        ingress: &Ingress,
        req: &Req<'_>,
        state: Option<ClientState>,
        ip: Option<Ipv4Addr>,
        reason: Reason,
    ) {
        let mut e = self.event(EventKind::Dropped, ingress, req);
        e.state = state;
        e.ip = ip;
        e.reason = Some(reason);
        d.events.push(e);
    }

    fn subnet_containing(&self, ip: Ipv4Addr) -> Option<usize> {
        self.config.subnets.iter().position(|s| s.contains(ip))
    }

    /// RFC 2131 §4.3.1: the subnet comes from giaddr when relayed, else from
    /// ciaddr for a client that already has an address (a renewing client
    /// unicasts straight to us, even from a relayed subnet), else from the
    /// interface the request arrived on.
    fn select_subnet(
        &self,
        ingress: &Ingress,
        req: &Req<'_>,
        use_ciaddr: bool,
    ) -> Result<usize, Reason> {
        if let Some(g) = req.relay {
            return self.subnet_containing(g).ok_or(Reason::NoSubnetForRelay(g));
        }
        let ci = req.msg.ciaddr();
        if use_ciaddr && !ci.is_unspecified() {
            return self
                .subnet_containing(ci)
                .ok_or(Reason::NoSubnetForClient(ci));
        }
        self.subnet_containing(ingress.local_addr)
            .ok_or(Reason::NoSubnetForInterface(ingress.local_addr))
    }

    fn subnet(&self, sn: usize) -> Option<&Subnet> {
        self.config.subnets.get(sn)
    }

    /// We have a binding of this client on `ip`, live or not.
    fn known_here(&self, ip: Ipv4Addr, req: &Req<'_>) -> bool {
        self.alloc
            .binding(ip)
            .is_some_and(|b| b.key == req.client.key)
    }

    fn usable(
        &self,
        sn: usize,
        ip: Ipv4Addr,
        req: &Req<'_>,
        ingress: &Ingress,
        now: Instant,
    ) -> Result<(), Reason> {
        let subnet = self.subnet(sn).ok_or(Reason::WrongSubnet(ip))?;
        self.alloc
            .usable(subnet, ip, &req.client, ingress.local_addr, now)
    }

    fn model_options(&self, model: Option<&String>) -> Option<&OptionSet> {
        self.config.model_options.get(model?)
    }

    fn reply(
        &self,
        kind: ReplyKind,
        sn: usize,
        ingress: &Ingress,
        req: &Req<'_>,
        yiaddr: Ipv4Addr,
        nak_text: Option<&str>,
    ) -> Option<(Reply, Vec<u8>)> {
        let subnet = self.subnet(sn)?;
        let built = options::build(&Inputs {
            kind,
            subnet,
            model: self.model_options(req.client.model.as_ref()),
            server_id: ingress.local_addr,
            peer_tftp: &self.peer_tftp,
            req: req.msg,
            nak_text,
        });
        let message = wire::reply_message(req.msg, kind, yiaddr, built.next_server, built.opts);
        let destination = Destination::for_reply(req.msg, kind.message_type(), yiaddr);
        Some((
            Reply {
                message,
                destination,
                order: built.order,
            },
            built.dropped,
        ))
    }

    fn send(&self, d: &mut Decision, mut e: Event, reply: Option<(Reply, Vec<u8>)>) {
        if let Some((r, dropped)) = reply {
            e.options = r.order.clone();
            e.dropped_options = dropped;
            d.reply = Some(r);
        }
        d.events.push(e);
    }

    #[allow(clippy::too_many_arguments)]
    fn nak(
        &self,
        d: &mut Decision,
        sn: usize,
        ingress: &Ingress,
        req: &Req<'_>,
        state: ClientState,
        ip: Option<Ipv4Addr>,
        reason: Reason,
    ) {
        let text = reason.to_string();
        let reply = self.reply(
            ReplyKind::Nak,
            sn,
            ingress,
            req,
            Ipv4Addr::UNSPECIFIED,
            Some(&text),
        );
        let mut e = self.event(EventKind::Nak, ingress, req);
        e.state = Some(state);
        e.ip = ip;
        e.reason = Some(reason);
        self.send(d, e, reply);
    }

    fn discover(&mut self, now: Instant, ingress: &Ingress, req: &Req<'_>, d: &mut Decision) {
        let sn = match self.select_subnet(ingress, req, false) {
            Ok(sn) => sn,
            Err(r) => return self.dropped(d, ingress, req, None, None, r),
        };
        let chosen = self.subnet(sn).and_then(|subnet| {
            let local = ingress.local_addr;
            self.alloc
                .choose(sn, subnet, &req.client, req.requested, local, now)
        });
        let Some(ip) = chosen else {
            let name = self.subnet(sn).map(ToString::to_string).unwrap_or_default();
            return self.dropped(d, ingress, req, None, None, Reason::PoolExhausted(name));
        };
        let ours = self.alloc.binding(ip).filter(|b| b.key == req.client.key);
        let fresh = !ours.is_some_and(|b| b.active(now));
        let was_bound = ours.is_some_and(|b| b.bound_until.is_some());
        let (subnet, limits) = (self.config.subnets.get(sn), &self.config.limits);
        if fresh && !self.alloc.offer_allowed(sn, subnet, limits, now) {
            return self.dropped(d, ingress, req, None, Some(ip), Reason::OfferCap);
        }
        let deadline = add(now, self.config.limits.offer_hold);
        self.alloc.offer(sn, ip, &req.client, deadline);
        let reply = self.reply(ReplyKind::Offer, sn, ingress, req, ip, None);
        let mut e = self.event(EventKind::Offer, ingress, req);
        e.ip = Some(ip);
        // An address this client never held may be in use by a host we
        // don't know: the driver checks before the OFFER leaves.
        if !was_bound {
            d.probe = Some(ip);
        }
        self.send(d, e, reply);
    }

    fn request(&mut self, now: Instant, ingress: &Ingress, req: &Req<'_>, d: &mut Decision) {
        let ciaddr = req.msg.ciaddr();
        // RFC 2131 §4.3.2 tells the states apart by server identifier,
        // requested address and ciaddr.
        let state = if req.server_id.is_some() {
            ClientState::Selecting
        } else if !ciaddr.is_unspecified() {
            if ingress.broadcast {
                ClientState::Rebinding
            } else {
                ClientState::Renewing
            }
        } else if req.requested.is_some() {
            ClientState::InitReboot
        } else {
            return self.dropped(d, ingress, req, None, None, Reason::NoAddress);
        };
        let sn = match self.select_subnet(ingress, req, state != ClientState::Selecting) {
            Ok(sn) => sn,
            Err(r) => return self.dropped(d, ingress, req, Some(state), None, r),
        };
        match state {
            ClientState::Selecting => {
                // "If the DHCPREQUEST message contains a 'server identifier'
                // option, the message is in response to a DHCPOFFER message.
                // Otherwise, the message is a request to verify or extend an
                // existing lease." A different identifier means the client
                // chose another server: withdraw our offer, say nothing.
                let sid = req.server_id.unwrap_or(Ipv4Addr::UNSPECIFIED);
                let ours = sid == ingress.local_addr
                    || self.subnet(sn).is_some_and(|s| s.server_addr == Some(sid));
                if !ours {
                    let mut e = self.event(EventKind::OfferWithdrawn, ingress, req);
                    e.state = Some(state);
                    e.reason = Some(Reason::OtherServer(sid));
                    e.ip = self.alloc.withdraw_offer(&req.client.key);
                    d.events.push(e);
                    return;
                }
                let asked = req
                    .requested
                    .or(Some(ciaddr).filter(|c| !c.is_unspecified()));
                let Some(ip) = asked else {
                    return self.nak(d, sn, ingress, req, state, None, Reason::NoAddress);
                };
                match self.usable(sn, ip, req, ingress, now) {
                    Ok(()) => self.ack(now, sn, ip, ingress, req, state, None, d),
                    Err(r) => self.nak(d, sn, ingress, req, state, Some(ip), r),
                }
            }
            ClientState::InitReboot => {
                let ip = req.requested.unwrap_or(Ipv4Addr::UNSPECIFIED);
                // "If the DHCP server detects that the client is on the wrong
                // net ... then the server SHOULD send a DHCPNAK message to the
                // client. If the network is correct, then the DHCP server
                // should check if the client's notion of its IP address is
                // correct. If not, then the server SHOULD send a DHCPNAK
                // message to the client. If the DHCP server has no record of
                // this client, then it MUST remain silent".
                let known_here = self.known_here(ip, req);
                let reserved_here = self
                    .subnet(sn)
                    .is_some_and(|s| s.reserved_for(req.client.mac) == Some(ip));
                match self.usable(sn, ip, req, ingress, now) {
                    Err(r @ (Reason::WrongSubnet(_) | Reason::HeldByOther(_))) => {
                        self.nak(d, sn, ingress, req, state, Some(ip), r)
                    }
                    Err(r) if known_here || reserved_here => {
                        self.nak(d, sn, ingress, req, state, Some(ip), r)
                    }
                    Ok(()) if known_here || reserved_here => {
                        self.ack(now, sn, ip, ingress, req, state, None, d)
                    }
                    _ => match self.alloc.address_of(&req.client.key) {
                        Some(held) => self.nak(
                            d,
                            sn,
                            ingress,
                            req,
                            state,
                            Some(ip),
                            Reason::OtherAddress { asked: ip, held },
                        ),
                        None => self.dropped(
                            d,
                            ingress,
                            req,
                            Some(state),
                            Some(ip),
                            Reason::NoRecord(ip),
                        ),
                    },
                }
            }
            ClientState::Renewing | ClientState::Rebinding => {
                let ip = ciaddr;
                let known_here = self.known_here(ip, req);
                match self.usable(sn, ip, req, ingress, now) {
                    Ok(()) => {
                        // A lease we never heard of on a free pool address:
                        // adopt it, so clients survive a lost lease database.
                        let note = (!known_here).then_some(Reason::Adopted(ip));
                        self.ack(now, sn, ip, ingress, req, state, note, d)
                    }
                    Err(r) => self.nak(d, sn, ingress, req, state, Some(ip), r),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ack(
        &mut self,
        now: Instant,
        sn: usize,
        ip: Ipv4Addr,
        ingress: &Ingress,
        req: &Req<'_>,
        state: ClientState,
        note: Option<Reason>,
        d: &mut Decision,
    ) {
        let lease_time = self.subnet(sn).map_or(Duration::ZERO, Subnet::lease_time);
        let expires = add(now, lease_time);
        self.alloc
            .bind(sn, ip, &req.client, expires, &mut d.lease_ops);
        let reply = self.reply(ReplyKind::Ack, sn, ingress, req, ip, None);
        let mut e = self.event(EventKind::Ack, ingress, req);
        e.state = Some(state);
        e.ip = Some(ip);
        e.reason = note;
        self.send(d, e, reply);
    }

    /// The client's server identifier, when present, must be ours.
    fn for_us(&self, ingress: &Ingress, req: &Req<'_>) -> Result<(), Reason> {
        match req.server_id {
            Some(sid)
                if sid != ingress.local_addr
                    && !self
                        .config
                        .subnets
                        .iter()
                        .any(|s| s.server_addr == Some(sid)) =>
            {
                Err(Reason::OtherServer(sid))
            }
            _ => Ok(()),
        }
    }

    fn decline(&mut self, now: Instant, ingress: &Ingress, req: &Req<'_>, d: &mut Decision) {
        if let Err(r) = self.for_us(ingress, req) {
            return self.dropped(d, ingress, req, None, None, r);
        }
        let Some(ip) = req.requested else {
            return self.dropped(d, ingress, req, None, None, Reason::NoAddress);
        };
        // Only the client the address was given to may decline it, or any
        // host could empty the pool by declining every address.
        let held = self
            .alloc
            .binding(ip)
            .is_some_and(|b| b.key == req.client.key && b.active(now));
        if !held {
            return self.dropped(d, ingress, req, None, Some(ip), Reason::NotHeld(ip));
        }
        let until = add(now, self.config.limits.quarantine);
        self.alloc.decline(ip, until);
        d.lease_ops.push(LeaseOp::Quarantine {
            ip,
            until,
            mac: Some(req.client.mac),
        });
        let mut e = self.event(EventKind::Declined, ingress, req);
        e.ip = Some(ip);
        d.events.push(e);
    }

    fn release(&mut self, now: Instant, ingress: &Ingress, req: &Req<'_>, d: &mut Decision) {
        if let Err(r) = self.for_us(ingress, req) {
            return self.dropped(d, ingress, req, None, None, r);
        }
        let ip = req.msg.ciaddr();
        let held = self
            .alloc
            .binding(ip)
            .is_some_and(|b| b.key == req.client.key && b.bound_until.is_some_and(|t| t > now));
        if !held {
            return self.dropped(d, ingress, req, None, Some(ip), Reason::NotHeld(ip));
        }
        self.alloc.release(ip, now);
        d.lease_ops.push(LeaseOp::Release {
            mac: req.client.mac,
            client_id: req.client.client_id.clone(),
            ip,
        });
        let mut e = self.event(EventKind::Released, ingress, req);
        e.ip = Some(ip);
        d.events.push(e);
    }

    /// RFC 2131 §4.3.5: configuration only. "The server responds to a
    /// DHCPINFORM message by sending a DHCPACK message directly to the
    /// address given in the 'ciaddr' field ... The server MUST NOT send a
    /// lease expiration time to the client and SHOULD NOT fill in 'yiaddr'."
    fn inform(&mut self, ingress: &Ingress, req: &Req<'_>, d: &mut Decision) {
        let sn = match self.select_subnet(ingress, req, true) {
            Ok(sn) => sn,
            Err(r) => return self.dropped(d, ingress, req, None, None, r),
        };
        let reply = self.reply(
            ReplyKind::InformAck,
            sn,
            ingress,
            req,
            Ipv4Addr::UNSPECIFIED,
            None,
        );
        let mut e = self.event(EventKind::InformAck, ingress, req);
        e.ip = Some(req.msg.ciaddr()).filter(|c| !c.is_unspecified());
        self.send(d, e, reply);
    }
}
