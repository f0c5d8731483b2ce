/*!
The PostgreSQL store: several phoneboot servers on one database.

It speaks through the `postgres` crate, the blocking face of
`tokio-postgres`: the store lives on the [`Committer`](crate::Committer)'s
own thread, so a blocking client keeps the [`LeaseStore`] trait as it is and
puts no database work on the async runtime.

**One round trip per group.** [`LeaseStore::apply`] sends the whole group as
arrays to one server-side function, `phoneboot_apply`, in one statement.
PostgreSQL runs a lone statement in its own transaction, so the group is
atomic; with `synchronous_commit` on (the default, and checked at connect)
the reply comes after the commit is in the WAL on disk: durable before
acknowledged, as with SQLite.

**Migrations.** `phoneboot_schema` holds the version; [`MIGRATIONS`] lists
the steps. An empty database is set up on first connect; an older schema is
upgraded only on request ([`PgStore::migrate`], `phoneboot store migrate`),
so a server of an older build sharing the database is never surprised; a
newer one is refused. Steps run under an advisory lock, so two servers
starting together do not race.

**Connection loss.** A failed statement drops the connection; the next
`apply` reconnects, at most once per back-off interval (doubling from
250 ms to 5 s), and fails fast in between. Nothing is acknowledged while the
database is away.

**Credentials** never leave this module: errors and [`PgStore::describe`]
show the URL with its password replaced ([`redact`]).
*/

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::{LeaseChange, LeaseRecord, LeaseStore, QuarantineRecord, Snapshot, StoreError};

/// The schema version this build writes.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `MIGRATIONS[n]` takes the database from version `n` to `n + 1`. Append
/// only; never edit a step that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: leases, quarantines, and the one function a group commit calls.
    // `ip` is the primary key and `client_key` (the client id, or the MAC
    // with a 0xff prefix so the two never collide) is unique: one address,
    // one client; one client, one address. `server` says who wrote it.
    r#"
    CREATE TABLE phoneboot_lease (
        ip inet PRIMARY KEY,
        client_key bytea NOT NULL UNIQUE,
        mac bytea NOT NULL CHECK (octet_length(mac) = 6),
        client_id bytea,
        expires_unix_ms bigint NOT NULL,
        model text,
        hostname text,
        server text NOT NULL DEFAULT '',
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE phoneboot_quarantine (
        ip inet PRIMARY KEY,
        until_unix_ms bigint NOT NULL,
        mac bytea CHECK (mac IS NULL OR octet_length(mac) = 6),
        server text NOT NULL DEFAULT ''
    );
    CREATE SEQUENCE phoneboot_desired_revision;
    CREATE TABLE phoneboot_desired_phone (
        mac text PRIMARY KEY,
        entry text,
        revision bigint NOT NULL,
        server text NOT NULL DEFAULT '',
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE phoneboot_phone (
        mac text PRIMARY KEY,
        server text NOT NULL,
        view text NOT NULL,
        record text NOT NULL DEFAULT '',
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE phoneboot_observation (
        id bigserial PRIMARY KEY,
        owner text NOT NULL,
        ip inet NOT NULL,
        kind "char" NOT NULL,
        name text NOT NULL,
        ok boolean NOT NULL DEFAULT true,
        bytes bigint NOT NULL DEFAULT 0,
        created timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX phoneboot_observation_owner ON phoneboot_observation (owner, id);
    CREATE TABLE phoneboot_server (
        name text PRIMARY KEY,
        addr inet NOT NULL,
        heartbeat_at timestamptz NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE FUNCTION phoneboot_apply(
        kinds "char"[], ips inet[], client_keys bytea[], macs bytea[], client_ids bytea[],
        times bigint[], models text[], hostnames text[], who text
    ) RETURNS integer LANGUAGE plpgsql AS $fn$
    DECLARE
        i integer;
        now_ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    BEGIN
        FOR i IN 1 .. coalesce(array_length(kinds, 1), 0) LOOP
            IF kinds[i] = 'u' THEN
                -- The claim: an address another server leased to another
                -- client, and not expired, is not ours to give.
                PERFORM 1 FROM phoneboot_lease
                    WHERE ip = ips[i] AND client_key <> client_keys[i]
                      AND server <> who AND expires_unix_ms > now_ms
                    FOR UPDATE;
                IF FOUND THEN
                    RAISE EXCEPTION USING ERRCODE = 'PB409', MESSAGE = host(ips[i]);
                END IF;
                DELETE FROM phoneboot_lease
                    WHERE (ip = ips[i] OR client_key = client_keys[i]);
                DELETE FROM phoneboot_quarantine WHERE ip = ips[i];
                INSERT INTO phoneboot_lease
                    (ip, client_key, mac, client_id, expires_unix_ms, model, hostname, server)
                    VALUES (ips[i], client_keys[i], macs[i], client_ids[i], times[i],
                            models[i], hostnames[i], who);
            ELSIF kinds[i] = 'r' THEN
                -- Only what this server wrote, or what has run out.
                DELETE FROM phoneboot_lease
                    WHERE ip = ips[i] AND (server = who OR expires_unix_ms <= now_ms);
            ELSIF kinds[i] = 'q' THEN
                DELETE FROM phoneboot_lease
                    WHERE ip = ips[i] AND (server = who OR expires_unix_ms <= now_ms);
                INSERT INTO phoneboot_quarantine (ip, until_unix_ms, mac, server)
                    VALUES (ips[i], times[i], macs[i], who)
                    ON CONFLICT (ip) DO UPDATE
                    SET until_unix_ms = EXCLUDED.until_unix_ms, mac = EXCLUDED.mac,
                        server = EXCLUDED.server;
            ELSE
                RAISE EXCEPTION 'phoneboot_apply: unknown change kind %', kinds[i];
            END IF;
        END LOOP;
        RETURN coalesce(array_length(kinds, 1), 0);
    END
    $fn$;
    "#,
];

/// Any single statement's limit, so a dead server cannot hang the commit
/// thread forever.
const STATEMENT_TIMEOUT_MS: u32 = 10_000;
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// `url` with the password, if any, replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // key=value form: hide `password=…`.
        return url
            .split_whitespace()
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    // A password may also come as a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!(
        "{scheme}://{}",
        star_userinfo(&format!("{authority}{tail}"))
    )
}

/// Stars out any `:secret@` still left after the scheme, e.g. in the path
/// after a slash too many (`postgresql:///user:secret@host/db`) or with an
/// unencoded `/` in the password: the client takes those for a database
/// name or a port, and its errors would repeat them. A `/` does not end
/// the secret: showing too little of a garbled URL is the safe side.
fn star_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('@') {
        let head = &rest[..at];
        match head.rfind(':') {
            Some(c) if c + 1 < head.len() => {
                out.push_str(&head[..=c]);
                out.push_str("***@");
            }
            _ => {
                out.push_str(head);
                out.push('@');
            }
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

/// Whether `url` names a PostgreSQL database (rather than an SQLite path).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgresql://") || url.starts_with("postgres://")
}

/// Where the schema stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The database's version (0: empty).
    pub found: i64,
    /// This build's.
    pub supported: i64,
}

impl SchemaStatus {
    /// Steps `migrate` would run.
    pub fn pending(&self) -> i64 {
        (self.supported - self.found).max(0)
    }
}

/// A lease and the server that wrote it.
pub type LeaseOf = (LeaseRecord, String);

/// What one server saw of a phone another owns, for the owner's engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The server that owns the phone.
    pub owner: String,
    /// The phone's address.
    pub ip: IpAddr,
    /// `b'r'`: a request began; `b'd'`: a transfer ended.
    pub kind: u8,
    /// The file.
    pub name: String,
    /// For `d`: whether it was delivered.
    pub ok: bool,
    /// For `d`: bytes sent.
    pub bytes: u64,
}

/// One server's description of a phone, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRow {
    pub mac: String,
    /// Who wrote it (ignored when writing: it is this store's server).
    pub server: String,
    /// The API's view of the phone (JSON).
    pub view: String,
    /// What that server believes about it (JSON), for the others to learn.
    pub record: String,
}

/// One server sharing the store, as its heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its name (unique per server).
    pub name: String,
    /// The address phones reach it at.
    pub addr: Ipv4Addr,
    /// How old its last heartbeat is, by the database's clock.
    pub age_ms: i64,
}

/// Leases in a PostgreSQL database; see the module doc.
pub struct PgStore {
    url: String,
    /// This server's name in the `server` columns.
    server: String,
    client: Option<Client>,
    next_attempt: Option<Instant>,
    backoff: Duration,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &redact(&self.url))
            .field("server", &self.server)
            .field("connected", &self.client.is_some())
            .finish()
    }
}

impl PgStore {
    /// Connects, sets up an empty database, and checks the schema: an
    /// older one must be migrated first, a newer one is refused. `server`
    /// names this phoneboot in the rows it writes.
    pub fn open(url: &str, server: &str) -> Result<PgStore, StoreError> {
        let mut store = PgStore::connect_only(url, server)?;
        let status = store.status()?;
        if status.found == 0 {
            store.migrate()?;
        } else if status.found < status.supported {
            return Err(StoreError::PgTooOld {
                url: redact(url),
                found: status.found,
                supported: status.supported,
            });
        }
        Ok(store)
    }

    /// Connects without touching the schema (for `store status|migrate`).
    pub fn connect_only(url: &str, server: &str) -> Result<PgStore, StoreError> {
        let mut store = PgStore {
            url: url.to_owned(),
            server: server.to_owned(),
            client: None,
            next_attempt: None,
            backoff: BACKOFF_MIN,
        };
        store.reconnect()?;
        Ok(store)
    }

    /// The URL without its password, for logs and the API.
    pub fn describe(&self) -> String {
        redact(&self.url)
    }

    /// The schema version found and supported. A newer one is an error.
    pub fn status(&mut self) -> Result<SchemaStatus, StoreError> {
        let url = redact(&self.url);
        let client = self.client()?;
        let exists: bool = client
            .query_one("SELECT to_regclass('phoneboot_schema') IS NOT NULL", &[])
            .map_err(pg("cannot read the schema version", &url))?
            .get(0);
        let found = if exists {
            client
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM phoneboot_schema",
                    &[],
                )
                .map_err(pg("cannot read the schema version", &url))?
                .get::<_, i64>(0)
        } else {
            0
        };
        if found > PG_SCHEMA_VERSION {
            return Err(StoreError::PgTooNew {
                url,
                found,
                supported: PG_SCHEMA_VERSION,
            });
        }
        Ok(SchemaStatus {
            found,
            supported: PG_SCHEMA_VERSION,
        })
    }

    /// Runs the missing steps, each in its own transaction, under an
    /// advisory lock. Returns the versions applied.
    pub fn migrate(&mut self) -> Result<Vec<i64>, StoreError> {
        let url = redact(&self.url);
        let client = self.client()?;
        let mut tx = client
            .transaction()
            .map_err(pg("cannot begin the migration", &url))?;
        // "PBOT": one lock for every phoneboot migrating this database.
        tx.execute("SELECT pg_advisory_xact_lock(1346522964)", &[])
            .map_err(pg("cannot lock for the migration", &url))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS phoneboot_schema (
                version bigint PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .map_err(pg("cannot create the schema table", &url))?;
        let found: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM phoneboot_schema",
                &[],
            )
            .map_err(pg("cannot read the schema version", &url))?
            .get(0);
        if found > PG_SCHEMA_VERSION {
            return Err(StoreError::PgTooNew {
                url,
                found,
                supported: PG_SCHEMA_VERSION,
            });
        }
        let mut applied = Vec::new();
        for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = i as i64 + 1;
            tx.batch_execute(step)
                .map_err(pg("a schema migration step failed", &url))?;
            tx.execute(
                "INSERT INTO phoneboot_schema (version) VALUES ($1)",
                &[&version],
            )
            .map_err(pg("cannot record the schema version", &url))?;
            applied.push(version);
        }
        tx.commit()
            .map_err(pg("cannot commit the migration", &url))?;
        Ok(applied)
    }

    /// Says this server (`name`, reached at `addr`) is alive, and returns
    /// every server of the store whose heartbeat is younger than
    /// `dead_after`, this one included, sorted by name. The database's
    /// clock times every heartbeat, so servers' clocks need not agree.
    pub fn heartbeat(
        &mut self,
        name: &str,
        addr: Ipv4Addr,
        dead_after: Duration,
    ) -> Result<Vec<Peer>, StoreError> {
        let addr = IpAddr::V4(addr);
        let result = self.client()?.execute(
            "INSERT INTO phoneboot_server (name, addr, heartbeat_at) VALUES ($1, $2, now())
             ON CONFLICT (name) DO UPDATE SET addr = EXCLUDED.addr, heartbeat_at = now()",
            &[&name, &addr],
        );
        if let Err(e) = result {
            return Err(self.failed(e, "cannot write the heartbeat"));
        }
        self.peers(dead_after)
    }

    /// Leases other servers wrote since `since` (microseconds since the
    /// epoch by the database's clock, `None`: all), and the mark to pass
    /// next time. Rows committed late within a few seconds are seen again
    /// rather than missed: learning a lease twice changes nothing.
    pub fn leases_by_others_since(
        &mut self,
        me: &str,
        since: Option<i64>,
    ) -> Result<(Vec<LeaseOf>, Option<i64>), StoreError> {
        let rows = match self.client()?.query(
            "SELECT ip, mac, client_id, expires_unix_ms, model, hostname,
                    (extract(epoch FROM updated_at) * 1000000)::bigint, server
             FROM phoneboot_lease
             WHERE server <> $1
               AND ($2::bigint IS NULL OR updated_at > to_timestamp($2::bigint / 1000000.0) - interval '5 seconds')
             ORDER BY updated_at",
            &[&me, &since],
        ) {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e, "cannot read the other servers' leases")),
        };
        let mut mark = since;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push((lease_of(row)?, row.get(7)));
            let at: i64 = row.get(6);
            mark = Some(mark.map_or(at, |m| m.max(at)));
        }
        Ok((out, mark))
    }

    /// Records a run-time edit of one phone's desired entry (`entry`: its
    /// JSON, `None`: the edit was dropped) for every server of the store.
    pub fn put_desired(&mut self, mac: &str, entry: Option<&str>) -> Result<i64, StoreError> {
        let server = self.server.clone();
        let result = self.client()?.query_one(
            "INSERT INTO phoneboot_desired_phone (mac, entry, revision, server)
             VALUES ($1, $2, nextval('phoneboot_desired_revision'), $3)
             ON CONFLICT (mac) DO UPDATE SET entry = EXCLUDED.entry,
                 revision = EXCLUDED.revision, server = EXCLUDED.server, updated_at = now()
             RETURNING revision",
            &[&mac, &entry, &server],
        );
        match result {
            Ok(row) => Ok(row.get(0)),
            Err(e) => Err(self.failed(e, "cannot record the desired-state edit")),
        }
    }

    /// Run-time edits since revision `after` (0: all): (MAC, entry JSON or
    /// `None` when dropped, revision), oldest first. Edits committed out of
    /// revision order within the last 1000 are read again rather than
    /// missed; applying one twice changes nothing.
    pub fn desired_since(
        &mut self,
        after: i64,
    ) -> Result<Vec<(String, Option<String>, i64)>, StoreError> {
        let rows = match self.client()?.query(
            "SELECT mac, entry, revision FROM phoneboot_desired_phone
             WHERE revision > $1::bigint - 1000 ORDER BY revision",
            &[&after],
        ) {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e, "cannot read desired-state edits")),
        };
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// This server's view of these phones (MAC, JSON view, JSON record of
    /// what it believes), for the others to show and learn from: one
    /// statement, whatever the count.
    pub fn put_phones(&mut self, phones: &[PhoneRow]) -> Result<(), StoreError> {
        if phones.is_empty() {
            return Ok(());
        }
        let macs: Vec<&str> = phones.iter().map(|p| p.mac.as_str()).collect();
        let views: Vec<&str> = phones.iter().map(|p| p.view.as_str()).collect();
        let records: Vec<&str> = phones.iter().map(|p| p.record.as_str()).collect();
        let server = self.server.clone();
        let result = self.client()?.execute(
            "INSERT INTO phoneboot_phone (mac, server, view, record)
             SELECT m, $4, v, r FROM unnest($1::text[], $2::text[], $3::text[]) AS t(m, v, r)
             ON CONFLICT (mac) DO UPDATE SET server = EXCLUDED.server, view = EXCLUDED.view,
                 record = EXCLUDED.record, updated_at = now()",
            &[&macs, &views, &records, &server],
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(e, "cannot record the phones' state")),
        }
    }

    /// The phones other servers described since `since` (microseconds by
    /// the database's clock; `None`: all): (MAC, server, JSON view), and the
    /// mark for next time. Rows committed late within a few seconds are
    /// read again rather than missed.
    pub fn phones_of_others(
        &mut self,
        since: Option<i64>,
    ) -> Result<(Vec<PhoneRow>, Option<i64>), StoreError> {
        let server = self.server.clone();
        let rows = match self.client()?.query(
            "SELECT mac, server, view, record, (extract(epoch FROM updated_at) * 1000000)::bigint
             FROM phoneboot_phone
             WHERE server <> $1
               AND ($2::bigint IS NULL OR updated_at > to_timestamp($2::bigint / 1000000.0) - interval '5 seconds')
             ORDER BY updated_at",
            &[&server, &since],
        ) {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e, "cannot read the phones' state")),
        };
        let mut mark = since;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(PhoneRow {
                mac: r.get(0),
                server: r.get(1),
                view: r.get(2),
                record: r.get(3),
            });
            let at: i64 = r.get(4);
            mark = Some(mark.map_or(at, |m| m.max(at)));
        }
        Ok((out, mark))
    }

    /// Passes what this server saw of phones others own to their owners:
    /// one statement for the lot.
    pub fn put_observations(&mut self, obs: &[Observation]) -> Result<(), StoreError> {
        if obs.is_empty() {
            return Ok(());
        }
        let owners: Vec<&str> = obs.iter().map(|o| o.owner.as_str()).collect();
        let ips: Vec<IpAddr> = obs.iter().map(|o| o.ip).collect();
        let kinds: Vec<i8> = obs.iter().map(|o| o.kind as i8).collect();
        let names: Vec<&str> = obs.iter().map(|o| o.name.as_str()).collect();
        let oks: Vec<bool> = obs.iter().map(|o| o.ok).collect();
        let bytes: Vec<i64> = obs
            .iter()
            .map(|o| i64::try_from(o.bytes).unwrap_or(i64::MAX))
            .collect();
        let result = self.client()?.execute(
            "INSERT INTO phoneboot_observation (owner, ip, kind, name, ok, bytes)
             SELECT * FROM unnest($1::text[], $2::inet[], $3::\"char\"[], $4::text[], $5::bool[], $6::bigint[])",
            &[&owners, &ips, &kinds, &names, &oks, &bytes],
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(e, "cannot pass observations on")),
        }
    }

    /// Takes (reads and removes, in one statement) what other servers saw
    /// of the phones `owner` owns, oldest first.
    pub fn take_observations(&mut self, owner: &str) -> Result<Vec<Observation>, StoreError> {
        let rows = match self.client()?.query(
            "WITH taken AS (DELETE FROM phoneboot_observation WHERE owner = $1
                            RETURNING id, ip, kind, name, ok, bytes)
             SELECT ip, kind, name, ok, bytes FROM taken ORDER BY id",
            &[&owner],
        ) {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e, "cannot take observations")),
        };
        Ok(rows
            .iter()
            .map(|r| {
                let kind: i8 = r.get(1);
                let bytes: i64 = r.get(4);
                Observation {
                    owner: owner.to_owned(),
                    ip: r.get(0),
                    kind: kind as u8,
                    name: r.get(2),
                    ok: r.get(3),
                    bytes: u64::try_from(bytes).unwrap_or(0),
                }
            })
            .collect())
    }

    /// Every lease with the name of the server that wrote it last.
    pub fn list_leases_by_server(&mut self) -> Result<Vec<(LeaseRecord, String)>, StoreError> {
        let rows = match self.client()?.query(
            "SELECT ip, mac, client_id, expires_unix_ms, model, hostname, server
             FROM phoneboot_lease ORDER BY ip",
            &[],
        ) {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e, "cannot read leases")),
        };
        rows.iter()
            .map(|row| Ok((lease_of(row)?, row.get(6))))
            .collect()
    }

    /// This server stops: its row goes, so its peers take its share at
    /// their next heartbeat instead of waiting for it to go stale.
    pub fn leave(&mut self, name: &str) -> Result<(), StoreError> {
        let result = self
            .client()?
            .execute("DELETE FROM phoneboot_server WHERE name = $1", &[&name]);
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(e, "cannot remove the heartbeat")),
        }
    }

    /// Servers whose heartbeat is younger than `dead_after`, by name.
    pub fn peers(&mut self, dead_after: Duration) -> Result<Vec<Peer>, StoreError> {
        let secs = dead_after.as_secs_f64();
        let rows = match self.client()?.query(
            "SELECT name, addr, (extract(epoch FROM now() - heartbeat_at) * 1000)::bigint
             FROM phoneboot_server
             WHERE heartbeat_at > now() - make_interval(secs => $1)
             ORDER BY name",
            &[&secs],
        ) {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e, "cannot read the other servers")),
        };
        rows.iter()
            .map(|row| {
                Ok(Peer {
                    name: row.get(0),
                    addr: v4(row.get(1), "server")?,
                    age_ms: row.get(2),
                })
            })
            .collect()
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.is_none() {
            self.reconnect()?;
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::PgUnavailable {
                url: redact(&self.url),
                detail: "not connected".into(),
            })
    }

    /// One connection attempt, unless the back-off says to wait.
    fn reconnect(&mut self) -> Result<(), StoreError> {
        let url = redact(&self.url);
        if let Some(at) = self.next_attempt {
            #[allow(clippy::disallowed_methods)] // back-off between reconnects
            let now = Instant::now();
            if now < at {
                return Err(StoreError::PgUnavailable {
                    url,
                    detail: format!(
                        "reconnecting; next attempt in {} ms",
                        at.saturating_duration_since(now).as_millis()
                    ),
                });
            }
        }
        let options =
            format!("-c statement_timeout={STATEMENT_TIMEOUT_MS} -c synchronous_commit=on");
        let attempt = self
            .url
            .parse::<postgres::Config>()
            .map_err(|e| StoreError::PgUnavailable {
                url: url.clone(),
                detail: format!("not a PostgreSQL URL: {e}"),
            })
            .and_then(|mut cfg| {
                cfg.options(&options)
                    .application_name("phoneboot")
                    .connect_timeout(Duration::from_secs(5));
                cfg.connect(NoTls).map_err(|e| StoreError::PgUnavailable {
                    url: url.clone(),
                    detail: first_line(&e),
                })
            });
        match attempt {
            Ok(client) => {
                self.client = Some(client);
                self.next_attempt = None;
                self.backoff = BACKOFF_MIN;
                Ok(())
            }
            Err(e) => {
                #[allow(clippy::disallowed_methods)] // back-off between reconnects
                let now = Instant::now();
                self.next_attempt = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                Err(e)
            }
        }
    }

    /// After a failed statement the connection may be gone: drop it so
    /// the next call reconnects.
    fn failed(&mut self, e: postgres::Error, context: &'static str) -> StoreError {
        if self.client.as_ref().is_none_or(Client::is_closed) || e.as_db_error().is_none() {
            self.client = None;
        }
        pg(context, &redact(&self.url))(e)
    }
}

fn first_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    // The postgres crate adds its source after a colon; keep it short.
    text.lines().next().unwrap_or_default().to_owned()
}

fn pg(context: &'static str, url: &str) -> impl FnOnce(postgres::Error) -> StoreError {
    let url = url.to_owned();
    move |e| {
        let detail = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => {
                let mut text = e.to_string();
                if let Some(src) = std::error::Error::source(&e) {
                    text = format!("{text}: {src}");
                }
                text
            }
        };
        StoreError::Postgres {
            context,
            url,
            detail: Arc::from(detail),
        }
    }
}

fn lease_of(row: &postgres::Row) -> Result<LeaseRecord, StoreError> {
    let mac: Vec<u8> = row.get(1);
    Ok(LeaseRecord {
        ip: v4(row.get(0), "lease")?,
        mac: mac6(&mac, "lease")?,
        client_id: row.get(2),
        expires_unix_ms: row.get(3),
        model: row.get(4),
        hostname: row.get(5),
    })
}

fn client_key(r: &LeaseRecord) -> Vec<u8> {
    match &r.client_id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => {
            let mut k = vec![0xff];
            k.extend_from_slice(&r.mac);
            k
        }
    }
}

fn v4(ip: IpAddr, table: &'static str) -> Result<Ipv4Addr, StoreError> {
    match ip {
        IpAddr::V4(v) => Ok(v),
        IpAddr::V6(v) => Err(StoreError::Corrupt {
            table,
            what: format!("IPv6 address {v}"),
        }),
    }
}

fn mac6(bytes: &[u8], table: &'static str) -> Result<[u8; 6], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        table,
        what: format!("a MAC of {} bytes", bytes.len()),
    })
}

impl LeaseStore for PgStore {
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let n = changes.len();
        let mut kinds: Vec<i8> = Vec::with_capacity(n);
        let mut ips: Vec<IpAddr> = Vec::with_capacity(n);
        let mut keys: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
        let mut macs: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
        let mut ids: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
        let mut times: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut models: Vec<Option<String>> = Vec::with_capacity(n);
        let mut hostnames: Vec<Option<String>> = Vec::with_capacity(n);
        for c in changes {
            match c {
                LeaseChange::Upsert(r) => {
                    kinds.push(b'u' as i8);
                    ips.push(IpAddr::V4(r.ip));
                    keys.push(Some(client_key(r)));
                    macs.push(Some(r.mac.to_vec()));
                    ids.push(r.client_id.clone());
                    times.push(Some(r.expires_unix_ms));
                    models.push(r.model.clone());
                    hostnames.push(r.hostname.clone());
                }
                LeaseChange::Release { ip } => {
                    kinds.push(b'r' as i8);
                    ips.push(IpAddr::V4(*ip));
                    keys.push(None);
                    macs.push(None);
                    ids.push(None);
                    times.push(None);
                    models.push(None);
                    hostnames.push(None);
                }
                LeaseChange::Quarantine(q) => {
                    kinds.push(b'q' as i8);
                    ips.push(IpAddr::V4(q.ip));
                    keys.push(None);
                    macs.push(q.mac.map(|m| m.to_vec()));
                    ids.push(None);
                    times.push(Some(q.until_unix_ms));
                    models.push(None);
                    hostnames.push(None);
                }
            }
        }
        let server = self.server.clone();
        let result = self.client()?.query_one(
            "SELECT phoneboot_apply($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &kinds, &ips, &keys, &macs, &ids, &times, &models, &hostnames, &server,
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let claimed = e
                    .as_db_error()
                    .filter(|db| db.code().code() == "PB409")
                    .and_then(|db| db.message().parse::<Ipv4Addr>().ok());
                match claimed {
                    Some(ip) => Err(StoreError::Claimed { ip }),
                    None => Err(self.failed(e, "cannot commit leases")),
                }
            }
        }
    }

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let leases = self.list_leases()?;
        let rows = match self.client()?.query(
            "SELECT ip, until_unix_ms, mac FROM phoneboot_quarantine ORDER BY ip",
            &[],
        ) {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e, "cannot read quarantines")),
        };
        let mut quarantines = Vec::with_capacity(rows.len());
        for row in rows {
            let mac: Option<Vec<u8>> = row.get(2);
            quarantines.push(QuarantineRecord {
                ip: v4(row.get(0), "quarantine")?,
                until_unix_ms: row.get(1),
                mac: mac.map(|m| mac6(&m, "quarantine")).transpose()?,
            });
        }
        Ok(Snapshot {
            leases,
            quarantines,
        })
    }

    fn list_leases(&mut self) -> Result<Vec<LeaseRecord>, StoreError> {
        let rows = match self.client()?.query(
            "SELECT ip, mac, client_id, expires_unix_ms, model, hostname
             FROM phoneboot_lease ORDER BY ip",
            &[],
        ) {
            Ok(r) => r,
            Err(e) => return Err(self.failed(e, "cannot read leases")),
        };
        rows.iter().map(lease_of).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, want) in [
            (
                "postgresql://pb:s3cret@db.example:5432/phoneboot",
                "postgresql://pb:***@db.example:5432/phoneboot",
            ),
            (
                "postgres://pb@db/phoneboot?sslmode=disable&password=s3cret",
                "postgres://pb@db/phoneboot?sslmode=disable&password=***",
            ),
            ("postgresql://db/phoneboot", "postgresql://db/phoneboot"),
            ("postgresql://pb:p%40ss:word@db", "postgresql://pb:***@db"),
            (
                "postgresql:///pb:s3cret@db.example:5432/phoneboot",
                "postgresql:///pb:***@db.example:5432/phoneboot",
            ),
            ("postgresql://pb:s3cret/x@db/p", "postgresql://pb:***@db/p"),
            ("postgresql://pb@db/p", "postgresql://pb@db/p"),
            (
                "host=db user=pb password=s3cret dbname=x",
                "host=db user=pb password=*** dbname=x",
            ),
        ] {
            let got = redact(url);
            assert_eq!(got, want);
            assert!(!got.contains("s3cret") && !got.contains("p%40ss"), "{got}");
        }
        assert!(is_postgres_url("postgresql://x"));
        assert!(!is_postgres_url("/var/lib/phoneboot/leases.sqlite"));
    }

    #[test]
    fn an_unreachable_server_is_named_without_its_password() {
        // Port 1 on loopback: refused at once.
        let err = PgStore::open("postgresql://pb:s3cret@127.0.0.1:1/phoneboot", "test")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("postgresql://pb:***@127.0.0.1:1/phoneboot"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("check"), "says what to do: {err}");
    }
}
