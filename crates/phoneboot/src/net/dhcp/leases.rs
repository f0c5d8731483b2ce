//! Glue between the DHCP core's lease operations (monotonic `Instant`s) and
//! the store's records (wall-clock milliseconds).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use store::{LeaseChange, LeaseRecord, LeaseStore, PgStore, QuarantineRecord, SqliteStore};

use crate::clock::WallClock;
use crate::config::StoreLocation;
use crate::net::dhcp::{Commit, CommitDone, CommitError};

/// The lease store every server command uses.
pub type AnyStore = Box<dyn LeaseStore>;

/// This server's name in a shared store's rows: its host name.
pub fn server_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "phoneboot".to_owned())
}

/// This server's name among those sharing a store, and in the rows it
/// writes there: `[ha] name`, else host name and the address phones reach.
pub fn member_name(configured: Option<&str>, addr: Option<std::net::IpAddr>) -> String {
    match configured {
        Some(n) => n.to_owned(),
        None => format!(
            "{}/{}",
            server_name(),
            addr.map_or_else(|| "-".to_owned(), |a| a.to_string())
        ),
    }
}

/// Opens the store for writing (creating the SQLite file, or an empty
/// PostgreSQL schema). `me` names this server in a shared store's rows,
/// which is what tells its leases from its peers' in a claim.
pub fn open(location: &StoreLocation, data_dir: &Path, me: &str) -> anyhow::Result<AnyStore> {
    Ok(match location {
        StoreLocation::Sqlite => Box::new(SqliteStore::open(db_path(data_dir))?),
        StoreLocation::Postgres(url) => Box::new(PgStore::open(url, me)?),
    })
}

/// The lease database inside the data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("leases.sqlite")
}

pub fn to_change(clock: &WallClock, op: dhcp::LeaseOp) -> LeaseChange {
    match op {
        dhcp::LeaseOp::Upsert(l) => LeaseChange::Upsert(LeaseRecord {
            mac: l.mac.0,
            client_id: l.client_id,
            ip: l.ip,
            expires_unix_ms: clock.to_unix_ms(l.expires),
            model: l.model,
            hostname: l.hostname,
        }),
        dhcp::LeaseOp::Release { ip, .. } => LeaseChange::Release { ip },
        dhcp::LeaseOp::Quarantine { ip, until, mac } => LeaseChange::Quarantine(QuarantineRecord {
            ip,
            until_unix_ms: clock.to_unix_ms(until),
            mac: mac.map(|m| m.0),
        }),
    }
}

/// A stored lease as the DHCP core holds it.
pub fn to_core_lease(clock: &WallClock, r: LeaseRecord) -> dhcp::Lease {
    dhcp::Lease {
        mac: dhcp::Mac(r.mac),
        client_id: r.client_id,
        ip: r.ip,
        expires: clock.to_instant(r.expires_unix_ms),
        model: r.model,
        hostname: r.hostname,
    }
}

/// How the DHCP loop makes lease changes durable before it replies.
pub enum LeaseSink {
    /// The loop commits each batch itself (SQLite, a local file). At a
    /// thousand leases a second a group holds a lease or two, and handing
    /// each to a commit thread and back cost two thread wake-ups per lease,
    /// more CPU than the commit (issue #15). A stuck disk stops the loop,
    /// as it would stop every ACK anyway.
    Inline(InlineStore),
    /// A commit thread groups the loop's submissions (PostgreSQL: a network
    /// round trip, and a server that hangs must not stop the OFFERs).
    Thread(Commit),
}

/// A store the DHCP loop commits to on its own thread.
pub struct InlineStore {
    store: AnyStore,
    clock: WallClock,
    changes: Vec<LeaseChange>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl InlineStore {
    /// Commits every submission as one group ([`store::apply_group`]: one
    /// transaction, one fsync); one result per submission, in order.
    pub fn commit(&mut self, submissions: Vec<Vec<dhcp::LeaseOp>>) -> Vec<Result<(), CommitError>> {
        self.changes.clear();
        self.ranges.clear();
        for ops in submissions {
            let start = self.changes.len();
            self.changes
                .extend(ops.into_iter().map(|op| to_change(&self.clock, op)));
            self.ranges.push(start..self.changes.len());
        }
        store::apply_group(&mut self.store, &self.changes, &self.ranges)
            .into_iter()
            .map(|r| r.map_err(commit_error))
            .collect()
    }
}

fn commit_error(e: store::StoreError) -> CommitError {
    match e {
        store::StoreError::Claimed { ip } => CommitError::Claimed(ip),
        e => CommitError::Failed(e.to_string()),
    }
}

/// Opens the store, loads what it holds into `server`, and returns how the
/// DHCP loop commits: inline for SQLite, through a commit thread (returned
/// too, to be shut down after the loop) for PostgreSQL.
pub fn open_for_serving(
    location: &StoreLocation,
    data_dir: &Path,
    me: &str,
    server: &mut dhcp::Server,
) -> anyhow::Result<(LeaseSink, Option<store::Committer<AnyStore>>)> {
    let mut db = open(location, data_dir, me)?;
    let path = location.describe(data_dir);
    let clock = WallClock::now();
    let snapshot = db.load().context("loading leases")?;
    let now = Instant::now();
    let leases = snapshot
        .leases
        .into_iter()
        .map(|r| to_core_lease(&clock, r));
    let report = server.restore(leases, now);
    for q in snapshot.quarantines {
        server.restore_quarantine(q.ip, clock.to_instant(q.until_unix_ms));
    }
    tracing::info!("leases restored from {path}: {report:?}");
    if matches!(location, StoreLocation::Sqlite) {
        let inline = InlineStore {
            store: db,
            clock,
            changes: Vec::new(),
            ranges: Vec::new(),
        };
        return Ok((LeaseSink::Inline(inline), None));
    }
    let committer = store::Committer::spawn(db, store::CommitterConfig::default())?;
    let handle = committer.handle();
    let commit: Commit = Arc::new(move |ops: Vec<dhcp::LeaseOp>, done: CommitDone| {
        let changes = ops.into_iter().map(|op| to_change(&clock, op)).collect();
        let mut done = OnceDone(Some(done));
        let store_done: store::Done = Box::new(move |r| {
            done.call(r.map_err(commit_error));
        });
        // A refused submission drops `store_done` uncalled: `OnceDone`
        // reports the failure then.
        if let Err(e) = handle.submit(changes, store_done) {
            tracing::debug!("dhcp: lease store refused a write: {e}");
        }
    });
    Ok((LeaseSink::Thread(commit), Some(committer)))
}

/// A commit callback that runs exactly once: dropped uncalled (the store
/// refused the submission: queue full or stopped), it reports a failure.
struct OnceDone(Option<CommitDone>);

impl OnceDone {
    fn call(&mut self, r: Result<(), CommitError>) {
        if let Some(done) = self.0.take() {
            done(r);
        }
    }
}

impl Drop for OnceDone {
    fn drop(&mut self) {
        self.call(Err(CommitError::Failed(
            "the lease store refused the write (queue full or stopped)".into(),
        )));
    }
}

/// Every lease in the store, for `phoneboot leases` and the API, with the
/// server that wrote it when several share the store.
pub fn list(
    location: &StoreLocation,
    data_dir: &Path,
) -> anyhow::Result<Vec<(LeaseRecord, Option<String>)>> {
    match location {
        StoreLocation::Sqlite => {
            if !db_path(data_dir).exists() {
                return Ok(Vec::new());
            }
            let mut db = SqliteStore::open_read_only(db_path(data_dir))?;
            Ok(db.list_leases()?.into_iter().map(|l| (l, None)).collect())
        }
        StoreLocation::Postgres(url) => {
            let mut db = PgStore::connect_only(url, &server_name())?;
            Ok(db
                .list_leases_by_server()?
                .into_iter()
                .map(|(l, s)| (l, Some(s)))
                .collect())
        }
    }
}
