//! Several servers on one PostgreSQL store: each beats every second in the
//! store's `phoneboot_server` table, reads who else is live, and answers
//! only its share of the clients (`dhcp::Share`: the live servers sorted by
//! name, each client hashed to one). A peer whose heartbeat is older than
//! `[ha] takeover_after` drops out of the list, so its clients hash to the
//! others (takeover); when it beats again it is back in the list and gets
//! them back. Option 150 lists every live server, ours first.
//!
//! No peer list is configured and nothing but the store is shared: the
//! database's clock times the heartbeats, and addresses are claimed in the
//! store (`store::StoreError::Claimed`), so two servers never lease one
//! address even while their views of who is live differ for a beat.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{Peer, PgStore};

use crate::clock::WallClock;
use crate::net::dhcp::leases::to_core_lease;
use tokio_util::sync::CancellationToken;

/// How often a server beats; `takeover_after` is a few of these.
pub const BEAT: Duration = Duration::from_secs(1);

/// The live servers as last seen, shared with the API and the receive loop.
pub type Peers = Arc<Mutex<Vec<Peer>>>;

/// What one heartbeat brings back: the live servers, the leases the
/// others wrote since the last mark, and the next mark.
type Beat = (Vec<Peer>, Vec<store::LeaseOf>, Option<i64>);

/// Told, each beat, which phones the other live servers leased (MAC,
/// server) and who of them is alive: the engine passes what it sees of
/// those phones to their owners.
pub type Owners = Arc<dyn Fn(Vec<(cisco::Mac, String)>, Vec<String>) + Send + Sync>;

/// One server's part in the group.
#[derive(Debug, Clone)]
pub struct Ha {
    pub name: String,
    pub addr: Ipv4Addr,
    /// The store's URL (with its password: never printed).
    pub url: String,
    pub takeover_after: Duration,
}

impl Ha {
    /// The servers of the store live now, without beating (for the
    /// start-up probe, which must not take peers for rogues).
    pub fn peers_now(&self) -> anyhow::Result<Vec<Peer>> {
        // `open` sets up an empty database, as the first server finds it.
        let mut db = PgStore::open(&self.url, &self.name)?;
        Ok(db.peers(self.takeover_after)?)
    }

    /// One heartbeat on `db` (connecting first if needed): the live
    /// servers, and the leases the others wrote since `since`.
    fn beat(
        &self,
        db: &mut Option<PgStore>,
        since: Option<i64>,
    ) -> Result<Beat, store::StoreError> {
        if db.is_none() {
            *db = Some(PgStore::connect_only(&self.url, &self.name)?);
        }
        let Some(d) = db.as_mut() else {
            return Ok((Vec::new(), Vec::new(), since));
        };
        let live = d.heartbeat(&self.name, self.addr, self.takeover_after)?;
        let (learned, mark) = d.leases_by_others_since(&self.name, since)?;
        Ok((live, learned, mark))
    }

    /// Sets the core's share and option 150 from `live`; `None` when this
    /// server is not among them (its own heartbeat failed).
    pub fn apply(&self, live: &[Peer], core: &mut dhcp::Server) -> Option<dhcp::Share> {
        let index = live.iter().position(|p| p.name == self.name)?;
        let share = dhcp::Share::new(index, live.len())?;
        core.set_share(share);
        core.set_peer_tftp_servers(live.iter().map(|p| p.addr).collect());
        Some(share)
    }

    /// Beats once now, on this thread, and applies what it sees.
    pub fn start(&self, core: &mut dhcp::Server) -> anyhow::Result<Vec<Peer>> {
        let mut db = None;
        let (live, _, _) = self.beat(&mut db, None)?;
        self.apply(&live, core);
        Ok(live)
    }

    /// Beats every [`BEAT`] until shutdown, keeping the core's share and
    /// `peers` current; logs each change of the group.
    pub async fn run(
        self,
        core: Arc<Mutex<dhcp::Server>>,
        peers: Peers,
        owners: Option<Owners>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(BEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut db: Option<PgStore> = None;
        // Empty: the first beat logs the group as it stands.
        let mut last: Vec<String> = Vec::new();
        // The first beat learns every lease the others hold.
        let mut since: Option<i64> = None;
        let mut failing = false;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // A clean stop hands the share over at once.
                    let me = self.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        let mut conn = db;
                        if conn.is_none() {
                            conn = PgStore::connect_only(&me.url, &me.name).ok();
                        }
                        if let Some(c) = conn.as_mut() {
                            if let Err(e) = c.leave(&me.name) {
                                tracing::warn!("ha: {e}");
                            }
                        }
                    })
                    .await;
                    return;
                }
                _ = tick.tick() => {}
            }
            let me = self.clone();
            let mut conn = db.take();
            let mark = since;
            let Ok((result, conn)) = tokio::task::spawn_blocking(move || {
                let r = me.beat(&mut conn, mark);
                (r, conn)
            })
            .await
            else {
                continue;
            };
            db = conn;
            let (live, learned) = match result {
                Ok((live, learned, mark)) => {
                    since = mark;
                    if failing {
                        tracing::info!("ha: heartbeats reach the store again");
                        failing = false;
                    }
                    (live, learned)
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(
                            "ha: cannot beat in the store ({e}); keeping the last share"
                        );
                        failing = true;
                    }
                    continue;
                }
            };
            // What the others leased is taken here too, so this server's
            // allocator does not walk into their addresses, and can renew
            // their clients after a takeover.
            let now = std::time::Instant::now();
            let clock = WallClock::now();
            if let Some(tell) = &owners {
                let others: Vec<String> = live
                    .iter()
                    .filter(|p| p.name != self.name)
                    .map(|p| p.name.clone())
                    .collect();
                let leased = learned
                    .iter()
                    .map(|(l, server)| (cisco::Mac(l.mac), server.clone()))
                    .collect();
                tell(leased, others);
            }
            let share = match core.lock() {
                Ok(mut c) => {
                    if !learned.is_empty() {
                        c.restore(
                            learned.into_iter().map(|(r, _)| to_core_lease(&clock, r)),
                            now,
                        );
                    }
                    self.apply(&live, &mut c)
                }
                Err(_) => return,
            };
            let names: Vec<String> = live.iter().map(|p| p.name.clone()).collect();
            if names != last {
                let list: Vec<String> = live
                    .iter()
                    .map(|p| format!("{} ({})", p.name, p.addr))
                    .collect();
                match share {
                    Some(s) => tracing::info!(
                        "ha: servers sharing the store: {}; this one answers share {} of {}",
                        list.join(", "),
                        s.index() + 1,
                        s.of()
                    ),
                    None => tracing::warn!(
                        "ha: servers sharing the store: {}; this one is not among them yet",
                        list.join(", ")
                    ),
                }
                last = names;
            }
            if let Ok(mut p) = peers.lock() {
                *p = live;
            }
        }
    }
}

/// Whether `ip` is the address of a live peer.
pub fn is_peer(peers: &Peers, ip: Ipv4Addr) -> bool {
    peers
        .lock()
        .map(|p| p.iter().any(|p| p.addr == ip))
        .unwrap_or(false)
}
