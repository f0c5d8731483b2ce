//! What servers sharing a PostgreSQL store pass each other beyond leases:
//! run-time edits of the desired state; each server's view and beliefs of
//! the phones it walks (so `/api/phones` on any of them shows the whole
//! fleet, and which server saw each phone); and what a server saw of a
//! phone another one owns (see `provision::engine::forward`). A `PUT`/`DELETE
//! /api/desired/phones/{mac}` on one server is written to the store
//! (`phoneboot_desired_phone`, with a revision from a sequence); every
//! server polls for newer revisions every [`POLL`] and applies them to its
//! engine as if they had been made there, so an edit is in force on all of
//! them within a second. Polling, not LISTEN/NOTIFY: the blocking client
//! keeps no connection waiting on the async runtime, and a lost
//! notification cannot leave a server behind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cisco::Mac;
use store::PgStore;
use tokio_util::sync::CancellationToken;

use crate::provision::desired::file;
use crate::provision::engine::Engine;

/// How often a server looks for the others' edits and observations.
pub const POLL: Duration = Duration::from_millis(300);

/// One server's link to what the servers of its store share.
pub struct StoreSync {
    url: String,
    me: String,
    conn: Mutex<Option<PgStore>>,
    /// The newest revision applied.
    mark: AtomicI64,
    /// Each local phone's last request and stage as last written to the
    /// store.
    pushed: Mutex<HashMap<Mac, (Option<std::time::Instant>, cisco::Stage)>>,
    /// The phones the other servers saw.
    others: Mutex<Others>,
}

/// The phones the other servers saw: MAC → (server, view), and the store's
/// mark of the newest row read.
type Others = (HashMap<String, (String, serde_json::Value)>, Option<i64>);

impl std::fmt::Debug for StoreSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSync")
            .field("url", &store::redact(&self.url))
            .field("me", &self.me)
            .finish()
    }
}

impl StoreSync {
    pub fn new(url: &str, me: &str) -> StoreSync {
        StoreSync {
            url: url.to_owned(),
            me: me.to_owned(),
            conn: Mutex::new(None),
            mark: AtomicI64::new(0),
            pushed: Mutex::new(HashMap::new()),
            others: Mutex::new((HashMap::new(), None)),
        }
    }

    /// This server's name in the store.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The phones the other servers saw last, as they described them.
    pub fn others(&self) -> Vec<(String, String, serde_json::Value)> {
        let Ok(o) = self.others.lock() else {
            return Vec::new();
        };
        let mut list: Vec<_> =
            o.0.iter()
                .map(|(m, (s, v))| (m.clone(), s.clone(), v.clone()))
                .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// Writes the views of local phones that changed since the last write,
    /// and reads the others' (blocking).
    pub fn exchange_phones(&self, engine: &Engine) -> anyhow::Result<()> {
        // Only phones this server saw itself and walks (one it merely
        // learned of, or one another server holds the lease of, stays
        // theirs), and of those only the ones whose last
        // request or stage moved since the last write: the views are made
        // for those alone.
        let changed_views: Vec<cisco::PhoneView> = {
            let pushed = self.pushed.lock().unwrap_or_else(|p| p.into_inner());
            engine
                .phones()
                .into_iter()
                .filter(|v| v.last_seen.is_some() && !engine.owned_elsewhere(v.mac))
                .filter(|v| pushed.get(&v.mac) != Some(&(v.last_seen, v.stage)))
                .collect()
        };
        let records: HashMap<Mac, String> = if changed_views.is_empty() {
            HashMap::new()
        } else {
            engine
                .records()
                .iter()
                .map(|r| (r.mac, crate::provision::engine::record_json(r)))
                .collect()
        };
        let changed: Vec<store::PhoneRow> = changed_views
            .iter()
            .map(|v| store::PhoneRow {
                mac: v.mac.to_string(),
                server: self.me.clone(),
                view: crate::api::phones::phone_json(engine, v).to_string(),
                record: records.get(&v.mac).cloned().unwrap_or_default(),
            })
            .collect();
        self.with_conn(|db| db.put_phones(&changed))?;
        if let Ok(mut pushed) = self.pushed.lock() {
            pushed.extend(
                changed_views
                    .iter()
                    .map(|v| (v.mac, (v.last_seen, v.stage))),
            );
        }
        let since = self.others.lock().ok().and_then(|o| o.1);
        let (rows, mark) = self.with_conn(|db| db.phones_of_others(since))?;
        let mut learned = Vec::new();
        if let Ok(mut o) = self.others.lock() {
            for row in rows {
                if let Some(r) = crate::provision::engine::record_from_json(&row.record) {
                    learned.push((r, row.server.clone()));
                }
                if let Ok(v) = serde_json::from_str(&row.view) {
                    o.0.insert(row.mac, (row.server, v));
                }
            }
            o.1 = mark;
        }
        // What the others believe fills in what this server does not know,
        // so a phone that asks here renders the same next hop.
        let n = engine.learn_from_peers(learned);
        if n > 0 {
            tracing::debug!("{n} phones' beliefs learned from the other servers");
        }
        Ok(())
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut PgStore) -> Result<T, store::StoreError>,
    ) -> anyhow::Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.is_none() {
            *conn = Some(PgStore::connect_only(&self.url, &self.me)?);
        }
        let Some(db) = conn.as_mut() else {
            anyhow::bail!("no connection to the store");
        };
        // A store whose connection broke reconnects by itself, with back-off.
        Ok(f(db)?)
    }

    /// Hands what this server saw of the others' phones to their owners,
    /// and applies what they saw of this server's (blocking).
    pub fn pass_observations(&self, engine: &Engine) -> anyhow::Result<()> {
        use crate::provision::engine::{Seen, SeenKind};
        let out: Vec<store::Observation> = engine
            .take_forwarded()
            .into_iter()
            .map(|s| {
                let (kind, ok, bytes) = match s.kind {
                    SeenKind::Request => (b'r', true, 0),
                    SeenKind::Done { ok, bytes } => (b'd', ok, bytes),
                };
                store::Observation {
                    owner: s.owner,
                    ip: s.ip,
                    kind,
                    name: s.name,
                    ok,
                    bytes,
                }
            })
            .collect();
        self.with_conn(|db| db.put_observations(&out))?;
        let taken = self.with_conn(|db| db.take_observations(&self.me))?;
        let seen = taken
            .into_iter()
            .map(|o| Seen {
                owner: o.owner,
                ip: o.ip,
                name: o.name,
                kind: if o.kind == b'r' {
                    SeenKind::Request
                } else {
                    SeenKind::Done {
                        ok: o.ok,
                        bytes: o.bytes,
                    }
                },
            })
            .collect();
        engine.apply_seen(seen);
        Ok(())
    }

    /// Tells the other servers about an edit made here (blocking).
    pub fn publish(&self, mac: Mac, entry: Option<&file::Phone>) -> anyhow::Result<()> {
        let json = entry.map(serde_json::to_string).transpose()?;
        self.with_conn(|db| db.put_desired(&mac.to_string(), json.as_deref()))?;
        Ok(())
    }

    /// Applies the edits other servers made since the last pull (blocking).
    /// Returns how many changed something here.
    pub fn pull(&self, engine: &Engine) -> anyhow::Result<usize> {
        let after = self.mark.load(Ordering::Relaxed);
        let edits = self.with_conn(|db| db.desired_since(after))?;
        let mut changed = 0;
        for (mac_text, entry, revision) in edits {
            self.mark.fetch_max(revision, Ordering::Relaxed);
            let Ok(mac) = mac_text.parse::<Mac>() else {
                tracing::warn!("shared desired state: {mac_text:?} is not a MAC; ignored");
                continue;
            };
            let entry: Option<file::Phone> = match entry.as_deref().map(serde_json::from_str) {
                None => None,
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => {
                    tracing::warn!(
                        "shared desired state for {mac}: unreadable entry ({e}); ignored"
                    );
                    continue;
                }
            };
            match engine.apply_shared_edit(mac, entry) {
                Ok(true) => {
                    changed += 1;
                    tracing::info!("desired state of {mac} changed on another server of the store: applied here");
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    "desired state of {mac} changed on another server of the store, but it does not fit this server's config: {e}"
                ),
            }
        }
        Ok(changed)
    }

    /// Pulls every [`POLL`] until shutdown.
    pub async fn run(self: Arc<Self>, engine: Arc<Engine>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        let mut n: u32 = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            n = n.wrapping_add(1);
            let me = self.clone();
            let e = engine.clone();
            // Phones every third poll (about a second): views change often.
            let phones = n % 3 == 1;
            let work = move || {
                me.pull(&e)?;
                me.pass_observations(&e)?;
                if phones {
                    me.exchange_phones(&e)?;
                }
                anyhow::Ok(0)
            };
            match tokio::task::spawn_blocking(work).await {
                Ok(Ok(_)) => failing = false,
                Ok(Err(e)) if !failing => {
                    tracing::warn!("shared desired state: {e:#}");
                    failing = true;
                }
                _ => {}
            }
        }
    }
}
