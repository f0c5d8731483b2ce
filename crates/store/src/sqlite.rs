/*!
The embedded SQLite store, phoneboot's default.

Durability comes from two settings, made on every open: the write-ahead log
(`journal_mode=WAL`, persistent in the file) and `synchronous=FULL`, under
which SQLite fsyncs the log before a commit returns. A crash (`kill -9`,
power loss) loses at most transactions whose commit had not returned; the
next open replays the log.

The file is marked as phoneboot's with `PRAGMA application_id` and carries
its schema version in `PRAGMA user_version`; [`MIGRATIONS`] lists the steps
from an empty file to the current version. A file that is not SQLite, is
another program's database, or is newer than this build is refused before
anything is written to it.
*/

use std::fs;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior};

use crate::{LeaseChange, LeaseRecord, LeaseStore, QuarantineRecord, Snapshot, StoreError};

/// `PRAGMA application_id` of a phoneboot database: "PBOT".
pub const APPLICATION_ID: i32 = 0x5042_4F54;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Schema steps: `MIGRATIONS[n]` takes a database from version `n` to
/// `n + 1`. Append only; never edit a step that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: leases and quarantines. `ip` is the address as an integer (the
    // rowid, so lookups by address are the table's own b-tree).
    // `client_key` is the lease's owner (see `client_key_bytes`); its
    // UNIQUE constraint is what keeps one lease per client, and
    // `INSERT OR REPLACE` relies on it.
    "CREATE TABLE lease (
        ip INTEGER PRIMARY KEY CHECK (ip BETWEEN 0 AND 4294967295),
        client_key BLOB NOT NULL UNIQUE,
        mac BLOB NOT NULL CHECK (length(mac) = 6),
        client_id BLOB,
        expires_unix_ms INTEGER NOT NULL,
        model TEXT,
        hostname TEXT
    );
    CREATE TABLE quarantine (
        ip INTEGER PRIMARY KEY CHECK (ip BETWEEN 0 AND 4294967295),
        until_unix_ms INTEGER NOT NULL,
        mac BLOB CHECK (mac IS NULL OR length(mac) = 6)
    );",
];

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

const UPSERT_LEASE: &str = "INSERT OR REPLACE INTO lease
    (ip, client_key, mac, client_id, expires_unix_ms, model, hostname)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const DELETE_LEASE: &str = "DELETE FROM lease WHERE ip = ?1";
const DELETE_QUARANTINE: &str = "DELETE FROM quarantine WHERE ip = ?1";
const UPSERT_QUARANTINE: &str =
    "INSERT OR REPLACE INTO quarantine (ip, until_unix_ms, mac) VALUES (?1, ?2, ?3)";
const BEGIN: &str = "BEGIN IMMEDIATE";
const COMMIT: &str = "COMMIT";
const SELECT_LEASES: &str = "SELECT ip, mac, client_id, expires_unix_ms, model, hostname
    FROM lease ORDER BY ip";
const SELECT_QUARANTINES: &str = "SELECT ip, until_unix_ms, mac FROM quarantine ORDER BY ip";

/// A lease store in one SQLite file. See the module doc for durability.
///
/// Not `Sync`: one thread writes (usually a [`Committer`](crate::Committer)).
/// Other processes, such as `phoneboot leases`, may read the same file at
/// the same time ([`SqliteStore::open_read_only`]).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the database at `path` for reading and writing, creating the
    /// file, its parent directories and the schema if needed, and upgrading
    /// an older schema.
    ///
    /// Fails without writing anything if the file exists but is not a
    /// phoneboot database, or has a newer schema than this build.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let existed = check_header(&path)?;
        if !existed {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(|e| StoreError::Create {
                    path: path.clone(),
                    source: Arc::new(e),
                })?;
            }
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::sqlite("cannot open the database file"))?;
        let mut store = SqliteStore { conn, path };
        store.configure()?;
        // Refuse a foreign or newer file before the first write to it.
        match store.identify()? {
            Kind::Empty => {}
            Kind::Phoneboot(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::TooNew {
                    path: store.path.clone(),
                    found: v,
                    supported: SCHEMA_VERSION,
                })
            }
            Kind::Phoneboot(_) => {}
        }
        // Persistent in the file; must run outside a transaction.
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(StoreError::sqlite("cannot switch to write-ahead logging"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Sqlite {
                context: "cannot switch to write-ahead logging",
                source: Arc::new(rusqlite::Error::InvalidQuery),
            });
        }
        store.migrate()?;
        if !existed {
            // The new file's directory entry must be durable too.
            sync_parent_dir(&store.path)?;
        }
        Ok(store)
    }

    /// Opens an existing database for reading only (for `phoneboot leases`
    /// while the server runs). Never creates or upgrades anything.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if !check_header(&path)? {
            return Err(StoreError::Missing { path });
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(StoreError::sqlite("cannot open the database file"))?;
        let store = SqliteStore { conn, path };
        store.configure()?;
        match store.identify()? {
            Kind::Phoneboot(v) if v == SCHEMA_VERSION => Ok(store),
            Kind::Phoneboot(v) if v > SCHEMA_VERSION => Err(StoreError::TooNew {
                path: store.path.clone(),
                found: v,
                supported: SCHEMA_VERSION,
            }),
            Kind::Phoneboot(v) => Err(StoreError::TooOld {
                path: store.path.clone(),
                found: v,
                supported: SCHEMA_VERSION,
            }),
            Kind::Empty => Err(StoreError::TooOld {
                path: store.path.clone(),
                found: 0,
                supported: SCHEMA_VERSION,
            }),
        }
    }

    /// The file this store was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs SQLite's `integrity_check` and returns an error naming the
    /// first problem it reports.
    pub fn check_integrity(&mut self) -> Result<(), StoreError> {
        let first: Option<String> = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .optional()
            .map_err(StoreError::sqlite("cannot run the integrity check"))?;
        match first.as_deref() {
            Some("ok") => Ok(()),
            other => Err(StoreError::Corrupt {
                table: "database",
                what: format!("integrity check: {}", other.unwrap_or("no answer")),
            }),
        }
    }

    fn configure(&self) -> Result<(), StoreError> {
        // A reader (`phoneboot leases`) may briefly hold a lock.
        self.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(StoreError::sqlite("cannot set the busy timeout"))?;
        // FULL: in WAL mode the log is fsynced at every commit, so a commit
        // that returned is durable (NORMAL would only sync at checkpoints).
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(StoreError::sqlite("cannot set synchronous=FULL"))?;
        self.conn.set_prepared_statement_cache_capacity(16);
        Ok(())
    }

    /// What the open file is. The first read of a file that has an SQLite
    /// header but is damaged fails here, before any write.
    fn identify(&self) -> Result<Kind, StoreError> {
        let read = |sql: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase {
                        path: self.path.clone(),
                    },
                    _ => StoreError::sqlite("cannot read the database header")(e),
                })
        };
        let app = read("PRAGMA application_id")?;
        let version = read("PRAGMA user_version")?;
        let objects = read("SELECT count(*) FROM sqlite_master")?;
        if app == i64::from(APPLICATION_ID) {
            Ok(Kind::Phoneboot(version))
        } else if app == 0 && version == 0 && objects == 0 {
            Ok(Kind::Empty)
        } else {
            Err(StoreError::Foreign {
                path: self.path.clone(),
                application_id: i32::try_from(app).unwrap_or(0),
            })
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let ctx = "cannot create or upgrade the schema";
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite(ctx))?;
        // Read again under the write lock: another process may have
        // created the schema since `identify`.
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(StoreError::sqlite(ctx))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let start = usize::try_from(version).unwrap_or(0);
        if start >= MIGRATIONS.len() {
            return Ok(());
        }
        for step in MIGRATIONS.iter().skip(start) {
            tx.execute_batch(step).map_err(StoreError::sqlite(ctx))?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(StoreError::sqlite(ctx))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(StoreError::sqlite(ctx))?;
        tx.commit().map_err(StoreError::sqlite(ctx))
    }

    fn run_cached(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(drop)
    }

    /// The statements of one group, inside the open transaction.
    fn write(&self, changes: &[LeaseChange]) -> rusqlite::Result<()> {
        let conn = &self.conn;
        for change in changes {
            match change {
                LeaseChange::Upsert(lease) => {
                    let ip = ip_key(lease.ip);
                    conn.prepare_cached(UPSERT_LEASE)?.execute(params![
                        ip,
                        client_key_bytes(lease),
                        &lease.mac[..],
                        lease.client_id.as_deref(),
                        lease.expires_unix_ms,
                        lease.model.as_deref(),
                        lease.hostname.as_deref(),
                    ])?;
                    conn.prepare_cached(DELETE_QUARANTINE)?.execute([ip])?;
                }
                LeaseChange::Release { ip } => {
                    conn.prepare_cached(DELETE_LEASE)?.execute([ip_key(*ip)])?;
                }
                LeaseChange::Quarantine(q) => {
                    let ip = ip_key(q.ip);
                    conn.prepare_cached(DELETE_LEASE)?.execute([ip])?;
                    conn.prepare_cached(UPSERT_QUARANTINE)?.execute(params![
                        ip,
                        q.until_unix_ms,
                        q.mac.as_ref().map(|m| &m[..])
                    ])?;
                }
            }
        }
        Ok(())
    }
}

enum Kind {
    /// A new or empty SQLite file: ours to set up.
    Empty,
    /// A phoneboot database with this schema version.
    Phoneboot(i64),
}

/// Whether a file is at `path`. A file that exists, is not empty and does
/// not start with SQLite's magic string is refused before SQLite opens it,
/// so it cannot be turned into a database.
fn check_header(path: &Path) -> Result<bool, StoreError> {
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(StoreError::Create {
                path: path.to_path_buf(),
                source: Arc::new(e),
            })
        }
    };
    let mut head = Vec::with_capacity(SQLITE_MAGIC.len());
    let read = file
        .by_ref()
        .take(SQLITE_MAGIC.len() as u64)
        .read_to_end(&mut head);
    match read {
        Ok(0) => Ok(true), // empty file: SQLite treats it as a new database
        Ok(_) if head == SQLITE_MAGIC => Ok(true),
        Ok(_) => Err(StoreError::NotADatabase {
            path: path.to_path_buf(),
        }),
        // e.g. the path is a directory
        Err(_) => Err(StoreError::NotADatabase {
            path: path.to_path_buf(),
        }),
    }
}

fn sync_parent_dir(path: &Path) -> Result<(), StoreError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::Create {
            path: path.to_path_buf(),
            source: Arc::new(e),
        })
}

/// `client_key` column: a tag byte keeps a client id from ever equalling
/// a MAC.
fn client_key_bytes(lease: &LeaseRecord) -> Vec<u8> {
    match lease.client_key() {
        crate::ClientKey::Id(id) => {
            let mut k = Vec::with_capacity(id.len() + 1);
            k.push(1);
            k.extend_from_slice(id);
            k
        }
        crate::ClientKey::Mac(mac) => {
            let mut k = Vec::with_capacity(7);
            k.push(0);
            k.extend_from_slice(&mac);
            k
        }
    }
}

fn ip_key(ip: Ipv4Addr) -> i64 {
    i64::from(u32::from(ip))
}

/// Reads an `ip` column back; anything but a u32 is reported, not unwrapped.
fn ip_from(table: &'static str, raw: i64) -> Result<Ipv4Addr, StoreError> {
    u32::try_from(raw)
        .map(Ipv4Addr::from)
        .map_err(|_| StoreError::Corrupt {
            table,
            what: format!("ip {raw} is not an IPv4 address"),
        })
}

fn mac_from(table: &'static str, ip: Ipv4Addr, raw: Vec<u8>) -> Result<[u8; 6], StoreError> {
    <[u8; 6]>::try_from(raw.as_slice()).map_err(|_| StoreError::Corrupt {
        table,
        what: format!("mac of {ip} has {} bytes, not 6", raw.len()),
    })
}

type RawLease = (
    i64,
    Vec<u8>,
    Option<Vec<u8>>,
    i64,
    Option<String>,
    Option<String>,
);

fn raw_lease(r: &Row<'_>) -> rusqlite::Result<RawLease> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn lease_from(raw: RawLease) -> Result<LeaseRecord, StoreError> {
    let (ip, mac, client_id, expires_unix_ms, model, hostname) = raw;
    let ip = ip_from("lease", ip)?;
    Ok(LeaseRecord {
        mac: mac_from("lease", ip, mac)?,
        client_id,
        ip,
        expires_unix_ms,
        model,
        hostname,
    })
}

impl LeaseStore for SqliteStore {
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let ctx = "cannot commit lease changes";
        // IMMEDIATE: take the write lock up front rather than fail to
        // upgrade a read lock halfway through. BEGIN and COMMIT are cached
        // statements: rusqlite's `Transaction` parses them again for every
        // group, a visible cost when groups hold a lease or two (issue #15).
        self.run_cached(BEGIN).map_err(StoreError::sqlite(ctx))?;
        // With synchronous=FULL, COMMIT returns after the WAL is fsynced.
        match self.write(changes).and_then(|()| self.run_cached(COMMIT)) {
            Ok(()) => Ok(()),
            Err(e) => {
                // A failed statement or COMMIT leaves the transaction open
                // (unless SQLite already rolled it back).
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                Err(StoreError::sqlite(ctx)(e))
            }
        }
    }

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let ctx = "cannot read quarantines";
        let leases = self.list_leases()?;
        let mut stmt = self
            .conn
            .prepare_cached(SELECT_QUARANTINES)
            .map_err(StoreError::sqlite(ctx))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<Vec<u8>>>(2)?,
                ))
            })
            .map_err(StoreError::sqlite(ctx))?;
        let mut quarantines = Vec::new();
        for row in rows {
            let (ip, until_unix_ms, mac) = row.map_err(StoreError::sqlite(ctx))?;
            let ip = ip_from("quarantine", ip)?;
            let mac = mac.map(|m| mac_from("quarantine", ip, m)).transpose()?;
            quarantines.push(QuarantineRecord {
                ip,
                until_unix_ms,
                mac,
            });
        }
        Ok(Snapshot {
            leases,
            quarantines,
        })
    }

    fn list_leases(&mut self) -> Result<Vec<LeaseRecord>, StoreError> {
        let ctx = "cannot read leases";
        let mut stmt = self
            .conn
            .prepare_cached(SELECT_LEASES)
            .map_err(StoreError::sqlite(ctx))?;
        let rows = stmt
            .query_map([], raw_lease)
            .map_err(StoreError::sqlite(ctx))?;
        let mut leases = Vec::new();
        for row in rows {
            leases.push(lease_from(row.map_err(StoreError::sqlite(ctx))?)?);
        }
        Ok(leases)
    }
}
