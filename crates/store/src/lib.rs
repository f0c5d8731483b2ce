//! Durable storage for phoneboot's DHCP leases.
//!
//! What it does: keeps leases and quarantined addresses in an embedded
//! SQLite database ([`SqliteStore`]) or in PostgreSQL ([`PgStore`], for
//! several servers sharing one fleet), behind the [`LeaseStore`] trait,
//! and batches the commits of many concurrent requests into one
//! transaction and one fsync ([`Committer`]).
//!
//! What it never does: know DHCP. Records hold wall-clock times (Unix
//! milliseconds), not `Instant`s; the binary converts `dhcp::LeaseOp` into
//! [`LeaseChange`] and back. It never reads the clock either: an expired
//! lease is kept until the caller replaces or releases it.
//!
//! The one rule this crate exists for (DESIGN.md, "durable before
//! acknowledged"): when [`LeaseStore::apply`] returns `Ok`, or a
//! [`Committer`] calls a submission's `done` with `Ok`, the changes are on
//! disk and survive `kill -9` and power loss. Only then may the DHCP driver
//! send the ACK.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use store::{Committer, CommitterConfig, LeaseChange, LeaseRecord, LeaseStore, SqliteStore};
//!
//! # let dir = std::env::temp_dir().join(format!("store-doc-{}", std::process::id()));
//! let path = dir.join("leases.db");
//! let committer = Committer::spawn(SqliteStore::open(&path)?, CommitterConfig::default())?;
//! let lease = LeaseRecord {
//!     mac: [0x00, 0x1b, 0x54, 0x01, 0x02, 0x03],
//!     client_id: None,
//!     ip: Ipv4Addr::new(192, 168, 1, 10),
//!     expires_unix_ms: 1_700_000_000_000,
//!     model: Some("CP-7960G".into()),
//!     hostname: None,
//! };
//! // From a DHCP request handler: send the ACK from inside `done`, on Ok only.
//! committer.submit(
//!     vec![LeaseChange::Upsert(lease.clone())],
//!     Box::new(|result| assert!(result.is_ok())),
//! )?;
//! // `shutdown` commits what is queued and hands the store back.
//! let mut store = committer.shutdown()?;
//! assert_eq!(store.list_leases()?, vec![lease]);
//! # drop(store);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod commit;
mod postgres;
mod sqlite;
#[cfg(any(test, feature = "pg-fixture"))]
pub mod testing;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

pub use commit::{apply_group, CommitHandle, CommitStats, Committer, CommitterConfig, Done};
pub use postgres::{
    is_postgres_url, redact, LeaseOf, Observation, Peer, PgStore, PhoneRow, SchemaStatus,
    PG_SCHEMA_VERSION,
};
pub use sqlite::{SqliteStore, APPLICATION_ID, SCHEMA_VERSION};

/// A MAC address as the store keeps it.
pub type MacBytes = [u8; 6];

/// One lease, with wall-clock expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub mac: MacBytes,
    /// DHCP option 61, as the client sent it. When present and non-empty it
    /// identifies the client instead of `mac` (RFC 2131 §4.2).
    pub client_id: Option<Vec<u8>>,
    pub ip: Ipv4Addr,
    /// Expiry in milliseconds since the Unix epoch.
    pub expires_unix_ms: i64,
    /// The phone model seen in option 60, if any.
    pub model: Option<String>,
    pub hostname: Option<String>,
}

impl LeaseRecord {
    /// The identity a lease belongs to: the client id when present and
    /// non-empty, the MAC otherwise (RFC 2131 §4.2; the same rule as the
    /// dhcp crate's allocator). One client holds at most one lease.
    pub fn client_key(&self) -> ClientKey<'_> {
        match &self.client_id {
            Some(id) if !id.is_empty() => ClientKey::Id(id),
            _ => ClientKey::Mac(self.mac),
        }
    }
}

/// Who a lease belongs to; see [`LeaseRecord::client_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey<'a> {
    Id(&'a [u8]),
    Mac(MacBytes),
}

/// An address nobody may hold until `until_unix_ms`: a client declined it
/// (DHCPDECLINE) or the conflict probe found it in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRecord {
    pub ip: Ipv4Addr,
    /// End of the quarantine in milliseconds since the Unix epoch.
    pub until_unix_ms: i64,
    /// The client that declined it, if any.
    pub mac: Option<MacBytes>,
}

/// A change to make durable; mirrors `dhcp::LeaseOp` with wall-clock times.
/// Applying a list of changes in order gives the state the DHCP core holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseChange {
    /// Insert or replace. Afterwards `ip` belongs to this lease only (any
    /// lease on the same IP is removed), this client holds only this lease
    /// (any lease with the same [`client key`](LeaseRecord::client_key) is
    /// removed), and `ip` is no longer quarantined.
    Upsert(LeaseRecord),
    /// Forget the lease on `ip`, if any.
    Release { ip: Ipv4Addr },
    /// Record the quarantine (replacing an earlier one on the same IP) and
    /// forget any lease on that IP.
    Quarantine(QuarantineRecord),
}

/// Everything a store holds, for the DHCP core's start-up restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Ordered by IP.
    pub leases: Vec<LeaseRecord>,
    /// Ordered by IP.
    pub quarantines: Vec<QuarantineRecord>,
}

/// Persistence for leases. Implementations must make [`apply`] atomic (all
/// of the changes or none) and durable (on stable storage when it returns
/// `Ok`).
///
/// [`apply`]: LeaseStore::apply
pub trait LeaseStore: Send {
    /// Applies `changes` in order, in one atomic and durable transaction.
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError>;

    /// Loads every lease (expired ones too) and quarantine, for start-up.
    fn load(&mut self) -> Result<Snapshot, StoreError>;

    /// Every lease ordered by IP, for `phoneboot leases` (MAC, IP, model,
    /// expiry).
    fn list_leases(&mut self) -> Result<Vec<LeaseRecord>, StoreError>;
}

impl<S: LeaseStore + ?Sized> LeaseStore for Box<S> {
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        (**self).apply(changes)
    }
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        (**self).load()
    }
    fn list_leases(&mut self) -> Result<Vec<LeaseRecord>, StoreError> {
        (**self).list_leases()
    }
}

/// Why the store could not open, read or commit.
///
/// Cloneable so that one failed group commit can be reported to every
/// request in the group.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open or create the lease database at {path}: {source} (check the permissions of the file and its directory, or choose another path)")]
    Create {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error("lease database {path} does not exist (run `phoneboot serve` once to create it, or check the path)")]
    Missing { path: PathBuf },
    #[error("{path} is not a phoneboot lease database (it is not an SQLite file); it was left untouched: move it away or choose another path")]
    NotADatabase { path: PathBuf },
    #[error("{path} is an SQLite database of another program (application id {application_id:#010x}); it was left untouched: choose another path")]
    Foreign { path: PathBuf, application_id: i32 },
    #[error("lease database {path} has schema version {found}, newer than this phoneboot understands ({supported}); run a newer phoneboot, or restore a backup")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("lease database {path} has schema version {found}, older than this phoneboot's ({supported}); open it read-write once (e.g. `phoneboot serve`) to upgrade it")]
    TooOld {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("lease database: {context}: {source}")]
    Sqlite {
        context: &'static str,
        source: Arc<rusqlite::Error>,
    },
    #[error("lease database holds an invalid {table} record ({what}); restore a backup or delete the record")]
    Corrupt { table: &'static str, what: String },
    #[error("lease commit queue is full ({capacity} submissions waiting): the disk is not keeping up; drop this request and let the client retry")]
    QueueFull { capacity: usize },
    #[error("the lease committer has stopped; nothing was committed")]
    Closed,
    #[error("cannot start the lease commit thread: {0}")]
    Spawn(Arc<std::io::Error>),
    #[error("cannot reach the PostgreSQL lease store at {url}: {detail}; check that the server runs and accepts connections from here, and the user, password and database in the URL")]
    PgUnavailable { url: String, detail: String },
    #[error("{ip} is leased by another server sharing the store; offer another address")]
    Claimed { ip: Ipv4Addr },
    #[error("PostgreSQL lease store {url}: {context}: {detail}")]
    Postgres {
        context: &'static str,
        url: String,
        detail: Arc<str>,
    },
    #[error("PostgreSQL lease store {url} has schema version {found}, older than this phoneboot's ({supported}); run `phoneboot store migrate` once every server sharing it runs this version")]
    PgTooOld {
        url: String,
        found: i64,
        supported: i64,
    },
    #[error("PostgreSQL lease store {url} has schema version {found}, newer than this phoneboot understands ({supported}); run the newer phoneboot here too")]
    PgTooNew {
        url: String,
        found: i64,
        supported: i64,
    },
}

impl StoreError {
    pub(crate) fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |e| StoreError::Sqlite {
            context,
            source: Arc::new(e),
        }
    }
}
