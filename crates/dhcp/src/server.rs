//! The DHCPv4 server state machine: one `decide` per datagram.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};

use crate::config::{Mac, OptionSet, ServerConfig, Subnet};
use crate::contract::{
    ClientState, Decision, Destination, Event, EventKind, Ingress, Lease, LeaseOp, Reason, Reply,
    RestoreReport,
};
use crate::ratelimit::{RateLimiter, Verdict};
use crate::wire::options::{self, Inputs, ReplyKind};
use crate::wire::{self, mac_of};

/// RFC 2131 §4.2: a client is known by its client identifier (61) when it
/// sends one, by chaddr otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ClientKey {
    Id(Vec<u8>),
    Mac(Mac),
}

impl ClientKey {
    fn hash_bytes(&self) -> &[u8] {
        match self {
            ClientKey::Id(id) => id,
            ClientKey::Mac(m) => &m.0,
        }
    }
}

#[derive(Debug, Clone)]
struct Binding {
    key: ClientKey,
    mac: Mac,
    client_id: Option<Vec<u8>>,
    subnet: usize,
    /// Some while (or after) the address was acknowledged.
    bound_until: Option<Instant>,
    /// Some while an offer is outstanding.
    offered_until: Option<Instant>,
    model: Option<String>,
    hostname: Option<String>,
}

impl Binding {
    fn active(&self, now: Instant) -> bool {
        self.bound_until.is_some_and(|t| t > now) || self.offered_until.is_some_and(|t| t > now)
    }
}

/// What the request says about its sender, read once.
struct Req<'a> {
    msg: &'a Message,
    mtype: MessageType,
    mac: Mac,
    key: ClientKey,
    client_id: Option<Vec<u8>>,
    model: Option<String>,
    hostname: Option<String>,
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
    leases: HashMap<Ipv4Addr, Binding>,
    clients: HashMap<ClientKey, Ipv4Addr>,
    quarantine: HashMap<Ipv4Addr, Instant>,
    /// Outstanding offers: address → (deadline, subnet index).
    offers: HashMap<Ipv4Addr, (Instant, usize)>,
    offers_per_subnet: Vec<usize>,
    limiter: RateLimiter,
}

fn add(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

/// FNV-1a: a stable hash, so a client gets the same pool address across
/// restarts (std's HashMap hasher is randomly seeded).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Server {
    pub fn new(config: ServerConfig) -> Self {
        let n = config.subnets.len();
        let limiter = RateLimiter::new(&config.limits);
        Server {
            config,
            leases: HashMap::new(),
            clients: HashMap::new(),
            quarantine: HashMap::new(),
            offers: HashMap::new(),
            offers_per_subnet: vec![0; n],
            limiter,
        }
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
            let rejected = &mut report.rejected;
            let Some(sn) = self.subnet_containing(lease.ip) else {
                rejected.push(lease);
                continue;
            };
            if let Some(b) = self.leases.get(&lease.ip) {
                // Two leases on one address: the later expiry wins.
                if b.bound_until.is_some_and(|t| t >= lease.expires) {
                    rejected.push(lease);
                    continue;
                }
                if let Some(old) = self.lease_record(lease.ip) {
                    rejected.push(old);
                }
                self.forget(lease.ip);
            }
            let key = match &lease.client_id {
                Some(id) if !id.is_empty() => ClientKey::Id(id.clone()),
                _ => ClientKey::Mac(lease.mac),
            };
            if let Some(old) = self.clients.get(&key) {
                // One client, two addresses: keep the later expiry.
                let keep_old = self
                    .leases
                    .get(old)
                    .and_then(|b| b.bound_until)
                    .is_some_and(|t| t >= lease.expires);
                if keep_old {
                    rejected.push(lease);
                    continue;
                }
                let old = *old;
                if let Some(rec) = self.lease_record(old) {
                    rejected.push(rec);
                }
                self.forget(old);
            }
            self.clients.insert(key.clone(), lease.ip);
            self.leases.insert(
                lease.ip,
                Binding {
                    key,
                    mac: lease.mac,
                    client_id: lease.client_id,
                    subnet: sn,
                    bound_until: Some(lease.expires),
                    offered_until: None,
                    model: lease.model,
                    hostname: lease.hostname,
                },
            );
        }
        report.active = self
            .leases
            .values()
            .filter(|b| b.bound_until.is_some_and(|t| t > now))
            .count();
        report.expired = self.leases.len().saturating_sub(report.active);
        report
    }

    /// Restores a quarantine from the store at start-up.
    pub fn restore_quarantine(&mut self, ip: Ipv4Addr, until: Instant) {
        self.quarantine.insert(ip, until);
    }

    /// The conflict probe found `ip` in use: keep it out of the pool for the
    /// quarantine time and withdraw the offer that named it.
    pub fn report_conflict(&mut self, ip: Ipv4Addr, now: Instant) -> Decision {
        let until = add(now, self.config.limits.quarantine);
        let mut mac = None;
        if let Some(b) = self.leases.get(&ip) {
            mac = Some(b.mac);
            if b.bound_until.is_none_or(|t| t <= now) {
                self.forget(ip);
            }
        }
        self.remove_offer(ip);
        self.quarantine.insert(ip, until);
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

    fn lease_record(&self, ip: Ipv4Addr) -> Option<Lease> {
        let b = self.leases.get(&ip)?;
        Some(Lease {
            mac: b.mac,
            client_id: b.client_id.clone(),
            ip,
            expires: b.bound_until?,
            model: b.model.clone(),
            hostname: b.hostname.clone(),
        })
    }

    /// The current lease on `ip`, if it is bound and not expired.
    pub fn lease(&self, ip: Ipv4Addr, now: Instant) -> Option<Lease> {
        let b = self.leases.get(&ip)?;
        let expires = b.bound_until.filter(|t| *t > now)?;
        Some(Lease {
            mac: b.mac,
            client_id: b.client_id.clone(),
            ip,
            expires,
            model: b.model.clone(),
            hostname: b.hostname.clone(),
        })
    }

    /// Number of outstanding offers (expired ones may still be counted
    /// until the next purge).
    pub fn outstanding_offers(&self) -> usize {
        self.offers.len()
    }

    /// Decides what to do with one request. See the type's doc for what
    /// the driver does with the result.
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
        let key = match &client_id {
            Some(id) => ClientKey::Id(id.clone()),
            None => ClientKey::Mac(mac),
        };
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
            mac,
            key,
            client_id,
            model,
            hostname,
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

    fn event(&self, kind: EventKind, ingress: &Ingress, req: &Req<'_>) -> Event {
        Event {
            kind,
            request: Some(req.mtype),
            state: None,
            mac: Some(req.mac),
            ip: None,
            model: req.model.clone(),
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

    /// May `ip` be leased to this client now? Reservations, quarantine,
    /// other clients' live bindings and the server's own addresses say no.
    fn usable(
        &self,
        sn: usize,
        ip: Ipv4Addr,
        req: &Req<'_>,
        ingress: &Ingress,
        now: Instant,
    ) -> Result<(), Reason> {
        let Some(subnet) = self.subnet(sn) else {
            return Err(Reason::WrongSubnet(ip));
        };
        if !subnet.contains(ip) {
            return Err(Reason::WrongSubnet(ip));
        }
        let v = u32::from(ip);
        if v == subnet.network
            || v == subnet.broadcast()
            || ip == ingress.local_addr
            || Some(ip) == subnet.server_addr
        {
            return Err(Reason::NotLeasable(ip));
        }
        match subnet.by_ip.get(&ip) {
            Some(owner) if *owner != req.mac => return Err(Reason::HeldByOther(ip)),
            Some(_) => {}
            None if !subnet.in_pool(ip) => return Err(Reason::NotLeasable(ip)),
            None => {}
        }
        if self.quarantine.get(&ip).is_some_and(|t| *t > now) {
            return Err(Reason::NotLeasable(ip));
        }
        match self.leases.get(&ip) {
            Some(b) if b.key != req.key && b.active(now) => Err(Reason::HeldByOther(ip)),
            _ => Ok(()),
        }
    }

    /// Reservation, then the client's current or last address, then the
    /// address it asks for, then a stable hash of its identity probed
    /// forward through the pool. Reservation first: an operator who adds
    /// one expects it on the phone's next DISCOVER.
    fn choose(
        &self,
        sn: usize,
        req: &Req<'_>,
        ingress: &Ingress,
        now: Instant,
    ) -> Option<Ipv4Addr> {
        let subnet = self.subnet(sn)?;
        let ok = |ip: Ipv4Addr| self.usable(sn, ip, req, ingress, now).is_ok();
        if let Some(ip) = subnet.by_mac.get(&req.mac).copied().filter(|ip| ok(*ip)) {
            return Some(ip);
        }
        if let Some(ip) = self.clients.get(&req.key).copied() {
            if self.leases.get(&ip).is_some_and(|b| b.subnet == sn) && ok(ip) {
                return Some(ip);
            }
        }
        if let Some(ip) = req.requested.filter(|ip| ok(*ip)) {
            return Some(ip);
        }
        let size = subnet.pool_size;
        if size == 0 {
            return None;
        }
        let start = fnv1a(req.key.hash_bytes()) % size;
        (0..size)
            .filter_map(|i| subnet.pool_addr(start.wrapping_add(i) % size))
            .find(|ip| ok(*ip))
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
            model: self.model_options(req.model.as_ref()),
            server_id: ingress.local_addr,
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

    /// Removes the binding on `ip` (and its offer) entirely.
    fn forget(&mut self, ip: Ipv4Addr) {
        if let Some(b) = self.leases.remove(&ip) {
            if self.clients.get(&b.key) == Some(&ip) {
                self.clients.remove(&b.key);
            }
        }
        self.remove_offer(ip);
    }

    fn remove_offer(&mut self, ip: Ipv4Addr) {
        if let Some((_, sn)) = self.offers.remove(&ip) {
            if let Some(c) = self.offers_per_subnet.get_mut(sn) {
                *c = c.saturating_sub(1);
            }
        }
    }

    /// Drops expired offers, and the bindings that were only offers.
    fn purge_offers(&mut self, now: Instant) {
        let expired: Vec<Ipv4Addr> = self
            .offers
            .iter()
            .filter(|(_, (t, _))| *t <= now)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in expired {
            self.remove_offer(ip);
            let only_offer = self
                .leases
                .get(&ip)
                .is_some_and(|b| b.bound_until.is_none() && !b.active(now));
            if only_offer {
                self.forget(ip);
            }
        }
    }

    fn offer_allowed(&mut self, sn: usize, now: Instant) -> bool {
        let limits = &self.config.limits;
        let share = u64::from(limits.max_offer_share_percent);
        let per_subnet = self
            .subnet(sn)
            .map(|s| {
                let leasable = s.pool_size.saturating_add(s.by_mac.len() as u64);
                usize::try_from(leasable.saturating_mul(share) / 100).unwrap_or(usize::MAX)
            })
            .unwrap_or(0)
            .max(1);
        let max = limits.max_offers;
        let over = |s: &Self| {
            s.offers.len() >= max || s.offers_per_subnet.get(sn).copied().unwrap_or(0) >= per_subnet
        };
        if over(self) {
            self.purge_offers(now);
        }
        !over(self)
    }

    fn is_bound(&self, ip: Ipv4Addr) -> bool {
        self.leases
            .get(&ip)
            .is_some_and(|b| b.bound_until.is_some())
    }

    /// Points this client at `ip`, taking the address over from an expired
    /// holder and dropping the client's other offer-only binding.
    fn claim(&mut self, sn: usize, ip: Ipv4Addr, req: &Req<'_>) -> &mut Binding {
        if self.leases.get(&ip).is_some_and(|b| b.key != req.key) {
            self.forget(ip);
        }
        match self.clients.get(&req.key).copied() {
            // A client still bound elsewhere keeps pointing there until an
            // ACK moves it (and `ack` releases the old lease).
            Some(old) if old != ip && self.is_bound(old) => {}
            Some(old) if old != ip => {
                // An offer-only binding is simply replaced.
                self.forget(old);
                self.clients.insert(req.key.clone(), ip);
            }
            _ => {
                self.clients.insert(req.key.clone(), ip);
            }
        }
        let b = self.leases.entry(ip).or_insert_with(|| Binding {
            key: req.key.clone(),
            mac: req.mac,
            client_id: req.client_id.clone(),
            subnet: sn,
            bound_until: None,
            offered_until: None,
            model: None,
            hostname: None,
        });
        b.mac = req.mac;
        b.client_id.clone_from(&req.client_id);
        b.subnet = sn;
        if req.model.is_some() {
            b.model.clone_from(&req.model);
        }
        if req.hostname.is_some() {
            b.hostname.clone_from(&req.hostname);
        }
        b
    }

    fn discover(&mut self, now: Instant, ingress: &Ingress, req: &Req<'_>, d: &mut Decision) {
        let sn = match self.select_subnet(ingress, req, false) {
            Ok(sn) => sn,
            Err(r) => return self.dropped(d, ingress, req, None, None, r),
        };
        let Some(ip) = self.choose(sn, req, ingress, now) else {
            let name = self.subnet(sn).map(ToString::to_string).unwrap_or_default();
            return self.dropped(d, ingress, req, None, None, Reason::PoolExhausted(name));
        };
        let ours = self.leases.get(&ip).filter(|b| b.key == req.key);
        let fresh = !ours.is_some_and(|b| b.active(now));
        let was_bound = ours.is_some_and(|b| b.bound_until.is_some());
        if fresh && !self.offer_allowed(sn, now) {
            return self.dropped(d, ingress, req, None, Some(ip), Reason::OfferCap);
        }
        let deadline = add(now, self.config.limits.offer_hold);
        self.claim(sn, ip, req).offered_until = Some(deadline);
        if !self.offers.contains_key(&ip) {
            if let Some(c) = self.offers_per_subnet.get_mut(sn) {
                *c = c.saturating_add(1);
            }
        }
        self.offers.insert(ip, (deadline, sn));
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
                    if let Some(ip) = self.clients.get(&req.key).copied() {
                        if self
                            .leases
                            .get(&ip)
                            .is_some_and(|b| b.bound_until.is_none())
                        {
                            self.forget(ip);
                            e.ip = Some(ip);
                        }
                    }
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
                let known_here = self.leases.get(&ip).is_some_and(|b| b.key == req.key);
                let reserved_here = self
                    .subnet(sn)
                    .is_some_and(|s| s.by_mac.get(&req.mac) == Some(&ip));
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
                    _ => match self.clients.get(&req.key).copied() {
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
                let known_here = self.leases.get(&ip).is_some_and(|b| b.key == req.key);
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
        // The client may have held another address (e.g. a different subnet):
        // release it so the store never shows one client on two addresses.
        if let Some(old) = self.clients.get(&req.key).copied() {
            if old != ip {
                if let Some(b) = self.leases.get(&old) {
                    if b.bound_until.is_some() {
                        d.lease_ops.push(LeaseOp::Release {
                            mac: b.mac,
                            client_id: b.client_id.clone(),
                            ip: old,
                        });
                    }
                }
                self.forget(old);
            }
        }
        self.remove_offer(ip);
        let b = self.claim(sn, ip, req);
        b.bound_until = Some(expires);
        b.offered_until = None;
        let lease = Lease {
            mac: b.mac,
            client_id: b.client_id.clone(),
            ip,
            expires,
            model: b.model.clone(),
            hostname: b.hostname.clone(),
        };
        d.lease_ops.push(LeaseOp::Upsert(lease));
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
            .leases
            .get(&ip)
            .is_some_and(|b| b.key == req.key && b.active(now));
        if !held {
            return self.dropped(d, ingress, req, None, Some(ip), Reason::NotHeld(ip));
        }
        self.forget(ip);
        let until = add(now, self.config.limits.quarantine);
        self.quarantine.insert(ip, until);
        d.lease_ops.push(LeaseOp::Quarantine {
            ip,
            until,
            mac: Some(req.mac),
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
            .leases
            .get(&ip)
            .is_some_and(|b| b.key == req.key && b.bound_until.is_some_and(|t| t > now));
        if !held {
            return self.dropped(d, ingress, req, None, Some(ip), Reason::NotHeld(ip));
        }
        // RFC 2131 §3.1: "The server SHOULD retain a record of the client's
        // initialization parameters for possible reuse": the binding stays,
        // expired, so the client gets the same address back.
        if let Some(b) = self.leases.get_mut(&ip) {
            b.bound_until = Some(now);
            b.offered_until = None;
        }
        self.remove_offer(ip);
        d.lease_ops.push(LeaseOp::Release {
            mac: req.mac,
            client_id: req.client_id.clone(),
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
