//! What servers sharing a PostgreSQL store pass each other beyond leases:
//! run-time edits of the desired state. A `PUT`/`DELETE
//! /api/desired/phones/{mac}` on one server is written to the store
//! (`phoneboot_desired_phone`, with a revision from a sequence); every
//! server polls for newer revisions every [`POLL`] and applies them to its
//! engine as if they had been made there, so an edit is in force on all of
//! them within a second. Polling, not LISTEN/NOTIFY: the blocking client
//! keeps no connection waiting on the async runtime, and a lost
//! notification cannot leave a server behind.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cisco::Mac;
use store::PgStore;
use tokio_util::sync::CancellationToken;

use crate::provision::desired::file;
use crate::provision::engine::Engine;

/// How often a server looks for the others' edits.
pub const POLL: Duration = Duration::from_millis(300);

/// One server's link to the shared desired-state edits.
pub struct DesiredSync {
    url: String,
    me: String,
    conn: Mutex<Option<PgStore>>,
    /// The newest revision applied.
    mark: AtomicI64,
}

impl std::fmt::Debug for DesiredSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesiredSync")
            .field("url", &store::redact(&self.url))
            .field("me", &self.me)
            .finish()
    }
}

impl DesiredSync {
    pub fn new(url: &str, me: &str) -> DesiredSync {
        DesiredSync {
            url: url.to_owned(),
            me: me.to_owned(),
            conn: Mutex::new(None),
            mark: AtomicI64::new(0),
        }
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
        match f(db) {
            Ok(t) => Ok(t),
            Err(e) => {
                *conn = None;
                Err(e.into())
            }
        }
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
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let me = self.clone();
            let e = engine.clone();
            match tokio::task::spawn_blocking(move || me.pull(&e)).await {
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
