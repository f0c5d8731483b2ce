//! Who holds which address, and which address a client gets.
//!
//! The allocator keeps the bindings (offered or bound, live or expired),
//! the outstanding offers with their per-subnet counts, and the quarantine.
//! It chooses an address for a client (reservation, then its last address,
//! then the one it asks for, then a stable spot in the pool) and says
//! whether an address may be leased. It knows nothing of messages: the
//! server turns its answers into replies, lease ops and events.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use crate::config::{Limits, Mac, Subnet};
use crate::contract::{Lease, LeaseOp, Reason};

/// RFC 2131 §4.2: a client is known by its client identifier (61) when it
/// sends one, by chaddr otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    Id(Vec<u8>),
    Mac(Mac),
}

impl ClientKey {
    pub(crate) fn new(mac: Mac, client_id: Option<&[u8]>) -> Self {
        match client_id {
            Some(id) if !id.is_empty() => ClientKey::Id(id.to_vec()),
            _ => ClientKey::Mac(mac),
        }
    }

    fn hash_bytes(&self) -> &[u8] {
        match self {
            ClientKey::Id(id) => id,
            ClientKey::Mac(m) => &m.0,
        }
    }
}

/// The client asking, as a binding records it.
#[derive(Debug)]
pub(crate) struct Client {
    pub key: ClientKey,
    pub mac: Mac,
    pub client_id: Option<Vec<u8>>,
    pub model: Option<String>,
    pub hostname: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub key: ClientKey,
    pub mac: Mac,
    pub client_id: Option<Vec<u8>>,
    pub subnet: usize,
    /// Some while (or after) the address was acknowledged.
    pub bound_until: Option<Instant>,
    /// Some while an offer is outstanding.
    pub offered_until: Option<Instant>,
    pub model: Option<String>,
    pub hostname: Option<String>,
}

impl Binding {
    pub(crate) fn active(&self, now: Instant) -> bool {
        self.bound_until.is_some_and(|t| t > now) || self.offered_until.is_some_and(|t| t > now)
    }

    fn lease(&self, ip: Ipv4Addr, expires: Instant) -> Lease {
        Lease {
            mac: self.mac,
            client_id: self.client_id.clone(),
            ip,
            expires,
            model: self.model.clone(),
            hostname: self.hostname.clone(),
        }
    }
}

/// Pool ranges and reservations, as the allocator reads them.
impl Subnet {
    pub(crate) fn broadcast(&self) -> u32 {
        self.network | !self.mask
    }

    pub(crate) fn in_pool(&self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        self.ranges.iter().any(|&(a, b)| a <= v && v <= b)
    }

    /// The `index`th pool address (`index < pool_size`).
    pub(crate) fn pool_addr(&self, mut index: u64) -> Option<Ipv4Addr> {
        for &(a, b) in &self.ranges {
            let len = u64::from(b - a) + 1;
            if index < len {
                let off = u32::try_from(index).ok()?;
                return a.checked_add(off).map(Ipv4Addr::from);
            }
            index -= len;
        }
        None
    }

    /// The address reserved for `mac` here, if any.
    pub(crate) fn reserved_for(&self, mac: Mac) -> Option<Ipv4Addr> {
        self.by_mac.get(&mac).copied()
    }
}

/// FNV-1a: a stable hash, so a client gets the same pool address across
/// restarts (std's HashMap hasher is randomly seeded).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[derive(Debug)]
pub(crate) struct Allocator {
    leases: HashMap<Ipv4Addr, Binding>,
    clients: HashMap<ClientKey, Ipv4Addr>,
    quarantine: HashMap<Ipv4Addr, Instant>,
    /// Outstanding offers: address → (deadline, subnet index).
    offers: HashMap<Ipv4Addr, (Instant, usize)>,
    offers_per_subnet: Vec<usize>,
}

impl Allocator {
    pub(crate) fn new(subnets: usize) -> Self {
        Allocator {
            leases: HashMap::new(),
            clients: HashMap::new(),
            quarantine: HashMap::new(),
            offers: HashMap::new(),
            offers_per_subnet: vec![0; subnets],
        }
    }

    /// The binding on `ip`, offered or bound, live or expired.
    pub(crate) fn binding(&self, ip: Ipv4Addr) -> Option<&Binding> {
        self.leases.get(&ip)
    }

    /// The address this client points at.
    pub(crate) fn address_of(&self, key: &ClientKey) -> Option<Ipv4Addr> {
        self.clients.get(key).copied()
    }

    /// The lease on `ip` as the store knows it (bound, expired or not).
    fn lease_record(&self, ip: Ipv4Addr) -> Option<Lease> {
        let b = self.leases.get(&ip)?;
        Some(b.lease(ip, b.bound_until?))
    }

    /// The current lease on `ip`, if it is bound and not expired.
    pub(crate) fn lease(&self, ip: Ipv4Addr, now: Instant) -> Option<Lease> {
        let b = self.leases.get(&ip)?;
        let expires = b.bound_until.filter(|t| *t > now)?;
        Some(b.lease(ip, expires))
    }

    pub(crate) fn outstanding_offers(&self) -> usize {
        self.offers.len()
    }

    /// Takes one stored lease in subnet `sn`. On two leases for one address
    /// or one client, the later expiry wins; the loser goes to `rejected`.
    pub(crate) fn restore(&mut self, sn: usize, lease: Lease, rejected: &mut Vec<Lease>) {
        if let Some(b) = self.leases.get(&lease.ip) {
            if b.bound_until.is_some_and(|t| t >= lease.expires) {
                rejected.push(lease);
                return;
            }
            if let Some(old) = self.lease_record(lease.ip) {
                rejected.push(old);
            }
            self.forget(lease.ip);
        }
        let key = ClientKey::new(lease.mac, lease.client_id.as_deref());
        if let Some(old) = self.clients.get(&key) {
            let keep_old = self
                .leases
                .get(old)
                .and_then(|b| b.bound_until)
                .is_some_and(|t| t >= lease.expires);
            if keep_old {
                rejected.push(lease);
                return;
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

    /// (running, expired) bindings.
    pub(crate) fn counts(&self, now: Instant) -> (usize, usize) {
        let active = self
            .leases
            .values()
            .filter(|b| b.bound_until.is_some_and(|t| t > now))
            .count();
        (active, self.leases.len().saturating_sub(active))
    }

    /// Keeps `ip` out of the pool until `until`.
    pub(crate) fn quarantine(&mut self, ip: Ipv4Addr, until: Instant) {
        self.quarantine.insert(ip, until);
    }

    /// Another server holds `ip`: drop whatever we hold or offered on it,
    /// live or not, and keep it out of our pool until `until`.
    pub(crate) fn taken_elsewhere(&mut self, ip: Ipv4Addr, until: Instant) {
        self.forget(ip);
        self.remove_offer(ip);
        self.quarantine(ip, until);
    }

    /// A client declined `ip`: nobody holds it until `until`.
    pub(crate) fn decline(&mut self, ip: Ipv4Addr, until: Instant) {
        self.forget(ip);
        self.quarantine(ip, until);
    }

    /// The probe found `ip` in use: withdraw its offer, drop a binding that
    /// is not a running lease, quarantine it. Returns who it was offered to.
    pub(crate) fn conflict(&mut self, ip: Ipv4Addr, now: Instant, until: Instant) -> Option<Mac> {
        let mut mac = None;
        if let Some(b) = self.leases.get(&ip) {
            mac = Some(b.mac);
            if b.bound_until.is_none_or(|t| t <= now) {
                self.forget(ip);
            }
        }
        self.remove_offer(ip);
        self.quarantine(ip, until);
        mac
    }

    /// May `ip` be leased to this client now? Reservations, quarantine,
    /// other clients' live bindings and the server's own addresses
    /// (`local` is the address the request came in on) say no.
    pub(crate) fn usable(
        &self,
        subnet: &Subnet,
        ip: Ipv4Addr,
        client: &Client,
        local: Ipv4Addr,
        now: Instant,
    ) -> Result<(), Reason> {
        if !subnet.contains(ip) {
            return Err(Reason::WrongSubnet(ip));
        }
        let v = u32::from(ip);
        if v == subnet.network
            || v == subnet.broadcast()
            || ip == local
            || Some(ip) == subnet.server_addr
        {
            return Err(Reason::NotLeasable(ip));
        }
        match subnet.by_ip.get(&ip) {
            Some(owner) if *owner != client.mac => return Err(Reason::HeldByOther(ip)),
            Some(_) => {}
            None if !subnet.in_pool(ip) => return Err(Reason::NotLeasable(ip)),
            None => {}
        }
        if self.quarantine.get(&ip).is_some_and(|t| *t > now) {
            return Err(Reason::NotLeasable(ip));
        }
        match self.leases.get(&ip) {
            Some(b) if b.key != client.key && b.active(now) => Err(Reason::HeldByOther(ip)),
            _ => Ok(()),
        }
    }

    /// Reservation, then the client's current or last address, then the
    /// address it asks for, then a stable hash of its identity probed
    /// forward through the pool. Reservation first: an operator who adds
    /// one expects it on the phone's next DISCOVER.
    pub(crate) fn choose(
        &self,
        sn: usize,
        subnet: &Subnet,
        client: &Client,
        requested: Option<Ipv4Addr>,
        local: Ipv4Addr,
        now: Instant,
    ) -> Option<Ipv4Addr> {
        let ok = |ip: Ipv4Addr| self.usable(subnet, ip, client, local, now).is_ok();
        if let Some(ip) = subnet.reserved_for(client.mac).filter(|ip| ok(*ip)) {
            return Some(ip);
        }
        if let Some(ip) = self.clients.get(&client.key).copied() {
            if self.leases.get(&ip).is_some_and(|b| b.subnet == sn) && ok(ip) {
                return Some(ip);
            }
        }
        if let Some(ip) = requested.filter(|ip| ok(*ip)) {
            return Some(ip);
        }
        let size = subnet.pool_size;
        if size == 0 {
            return None;
        }
        let start = fnv1a(client.key.hash_bytes()) % size;
        (0..size)
            .filter_map(|i| subnet.pool_addr(start.wrapping_add(i) % size))
            .find(|ip| ok(*ip))
    }

    /// Room for one more offer in subnet `sn`, after dropping expired ones
    /// if needed: a flood of fake MACs may hold only so much of the pool.
    pub(crate) fn offer_allowed(
        &mut self,
        sn: usize,
        subnet: Option<&Subnet>,
        limits: &Limits,
        now: Instant,
    ) -> bool {
        let share = u64::from(limits.max_offer_share_percent);
        let per_subnet = subnet
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

    /// Holds `ip` for this client until `deadline`.
    pub(crate) fn offer(&mut self, sn: usize, ip: Ipv4Addr, client: &Client, deadline: Instant) {
        self.claim(sn, ip, client).offered_until = Some(deadline);
        if !self.offers.contains_key(&ip) {
            if let Some(c) = self.offers_per_subnet.get_mut(sn) {
                *c = c.saturating_add(1);
            }
        }
        self.offers.insert(ip, (deadline, sn));
    }

    /// The client chose another server: forget what we only offered it.
    /// Returns the address withdrawn.
    pub(crate) fn withdraw_offer(&mut self, key: &ClientKey) -> Option<Ipv4Addr> {
        let ip = self.clients.get(key).copied()?;
        let offered_only = self
            .leases
            .get(&ip)
            .is_some_and(|b| b.bound_until.is_none());
        if offered_only {
            self.forget(ip);
        }
        offered_only.then_some(ip)
    }

    /// Binds `ip` to this client until `expires`, pushing the lease ops in
    /// the order the store applies them: the release of the client's other
    /// address first (so the store never shows one client on two), then the
    /// new lease.
    pub(crate) fn bind(
        &mut self,
        sn: usize,
        ip: Ipv4Addr,
        client: &Client,
        expires: Instant,
        ops: &mut Vec<LeaseOp>,
    ) {
        if let Some(old) = self.clients.get(&client.key).copied() {
            if old != ip {
                if let Some(b) = self.leases.get(&old) {
                    if b.bound_until.is_some() {
                        ops.push(LeaseOp::Release {
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
        let b = self.claim(sn, ip, client);
        b.bound_until = Some(expires);
        b.offered_until = None;
        let lease = b.lease(ip, expires);
        ops.push(LeaseOp::Upsert(lease));
    }

    /// The client gave `ip` back. RFC 2131 §3.1: "The server SHOULD retain
    /// a record of the client's initialization parameters for possible
    /// reuse": the binding stays, expired, so the client gets the same
    /// address back.
    pub(crate) fn release(&mut self, ip: Ipv4Addr, now: Instant) {
        if let Some(b) = self.leases.get_mut(&ip) {
            b.bound_until = Some(now);
            b.offered_until = None;
        }
        self.remove_offer(ip);
    }

    fn is_bound(&self, ip: Ipv4Addr) -> bool {
        self.leases
            .get(&ip)
            .is_some_and(|b| b.bound_until.is_some())
    }

    /// Points this client at `ip`, taking the address over from an expired
    /// holder and dropping the client's other offer-only binding.
    fn claim(&mut self, sn: usize, ip: Ipv4Addr, client: &Client) -> &mut Binding {
        if self.leases.get(&ip).is_some_and(|b| b.key != client.key) {
            self.forget(ip);
        }
        match self.clients.get(&client.key).copied() {
            // A client still bound elsewhere keeps pointing there until an
            // ACK moves it (and `bind` releases the old lease).
            Some(old) if old != ip && self.is_bound(old) => {}
            Some(old) if old != ip => {
                // An offer-only binding is simply replaced.
                self.forget(old);
                self.clients.insert(client.key.clone(), ip);
            }
            _ => {
                self.clients.insert(client.key.clone(), ip);
            }
        }
        let b = self.leases.entry(ip).or_insert_with(|| Binding {
            key: client.key.clone(),
            mac: client.mac,
            client_id: client.client_id.clone(),
            subnet: sn,
            bound_until: None,
            offered_until: None,
            model: None,
            hostname: None,
        });
        b.mac = client.mac;
        b.client_id.clone_from(&client.client_id);
        b.subnet = sn;
        if client.model.is_some() {
            b.model.clone_from(&client.model);
        }
        if client.hostname.is_some() {
            b.hostname.clone_from(&client.hostname);
        }
        b
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
}
