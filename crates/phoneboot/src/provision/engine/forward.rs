//! Phones another server of a shared store owns: the one holding the
//! phone's lease walks it. What this server sees of such a phone (a
//! request, a finished transfer: a phone may fetch its config from one
//! server and its firmware from another, as option 150 allows) is queued
//! here for the store, and what the others saw of this server's phones
//! comes back through [`Engine::apply_seen`], so the owner's hop checks see
//! every file the phone fetched, wherever it fetched it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Instant;

use cisco::Mac;

use super::Engine;

/// What was seen of a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeenKind {
    /// A request for the file began.
    Request,
    /// Its transfer ended: delivered or not, with the bytes sent.
    Done { ok: bool, bytes: u64 },
}

/// One observation to pass to the phone's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub owner: String,
    pub ip: IpAddr,
    pub name: String,
    pub kind: SeenKind,
}

#[derive(Debug, Default)]
pub(super) struct Forward {
    enabled: bool,
    /// Who holds each phone's lease, among the other servers.
    owners: HashMap<Mac, String>,
    /// The other servers alive now: a dead owner's phones are ours.
    live: HashSet<String>,
    queue: Vec<Seen>,
}

impl Forward {
    fn owner_of(&self, mac: Mac) -> Option<&String> {
        if !self.enabled {
            return None;
        }
        self.owners.get(&mac).filter(|s| self.live.contains(*s))
    }
}

impl Engine {
    fn forward(&self) -> std::sync::MutexGuard<'_, Forward> {
        self.forward.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start passing observations of other servers' phones on.
    pub fn enable_forwarding(&self) {
        self.forward().enabled = true;
    }

    /// Leases the other servers wrote (MAC, server), and who of them is
    /// alive now.
    pub fn learn_owners(&self, owners: impl IntoIterator<Item = (Mac, String)>, live: Vec<String>) {
        let mut f = self.forward();
        f.owners.extend(owners);
        f.live = live.into_iter().collect();
    }

    /// This server leased to `mac`: it owns the phone now.
    pub(super) fn owns(&self, mac: Mac) {
        self.forward().owners.remove(&mac);
    }

    /// Queues what was seen of `mac` when another live server owns it.
    pub(super) fn seen(&self, mac: Option<Mac>, ip: IpAddr, name: &str, kind: SeenKind) {
        let Some(mac) = mac else { return };
        let mut f = self.forward();
        if let Some(owner) = f.owner_of(mac).cloned() {
            f.queue.push(Seen {
                owner,
                ip,
                name: name.to_owned(),
                kind,
            });
        }
    }

    /// Another live server holds this phone's lease: it walks the phone.
    pub fn owned_elsewhere(&self, mac: Mac) -> bool {
        self.forward().owner_of(mac).is_some()
    }

    /// What to pass on now.
    pub fn take_forwarded(&self) -> Vec<Seen> {
        std::mem::take(&mut self.forward().queue)
    }

    /// What other servers saw of this server's phones, oldest first.
    pub fn apply_seen(&self, seen: Vec<Seen>) {
        if seen.is_empty() {
            return;
        }
        let mut fleet = self.fleet();
        for s in seen {
            let now = Instant::now();
            let _ = match s.kind {
                SeenKind::Request => fleet.on_request(now, s.ip, &s.name),
                SeenKind::Done { ok, bytes } => {
                    fleet.on_transfer_done(now, s.ip, &s.name, ok, bytes)
                }
            };
        }
        self.drain(fleet);
    }
}
