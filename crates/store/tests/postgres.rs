//! `PgStore` against a real PostgreSQL that the test starts itself (initdb
//! and pg_ctl in a scratch folder, as `nobody` when run as root): the same
//! change semantics as SQLite, durability across a crash of the server,
//! reconnecting after it, schema versions, and never a password in an error.

mod common;

use common::{ip, lease, quarantine, Scratch};
use store::testing::{TempPostgres, PASSWORD};
use store::{
    Committer, CommitterConfig, LeaseChange, LeaseStore, PgStore, SqliteStore, StoreError,
    PG_SCHEMA_VERSION,
};

/// A seeded stream of changes that exercises every rule: same IP, same
/// client (MAC or client id), release, quarantine over a lease.
fn changes(seed: u64, n: usize) -> Vec<Vec<LeaseChange>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut groups = Vec::new();
    for _ in 0..n {
        let mut group = Vec::new();
        for _ in 0..(next() % 5 + 1) {
            let who = (next() % 12) as u32;
            let at = (next() % 10) as u32;
            let change = match next() % 6 {
                0 => LeaseChange::Release { ip: ip(at) },
                1 => LeaseChange::Quarantine(quarantine(at, 1_700_000_999_000)),
                2 => {
                    let mut l = lease(who);
                    l.ip = ip(at);
                    l.client_id = Some(format!("id-{}", who % 4).into_bytes());
                    LeaseChange::Upsert(l)
                }
                _ => {
                    let mut l = lease(who);
                    l.ip = ip(at);
                    l.expires_unix_ms += next() as i64 % 1000;
                    LeaseChange::Upsert(l)
                }
            };
            group.push(change);
        }
        groups.push(group);
    }
    groups
}

#[test]
fn the_same_changes_give_the_same_leases_as_sqlite_and_survive_a_crash() {
    let pg = TempPostgres::start("store-same").unwrap();
    let dir = Scratch::new("pg_same");
    let mut lite = SqliteStore::open(dir.db()).unwrap();
    let mut pgs = PgStore::open(&pg.url(), "test-a").unwrap();
    for group in changes(0x5eed, 300) {
        lite.apply(&group).unwrap();
        pgs.apply(&group).unwrap();
    }
    let want = lite.load().unwrap();
    assert!(!want.leases.is_empty() && !want.quarantines.is_empty());
    assert_eq!(pgs.load().unwrap(), want);

    // A crash of the database server: what was acknowledged is there after.
    pg.crash().unwrap();
    let err = pgs.apply(&[LeaseChange::Upsert(lease(40))]).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Postgres { .. } | StoreError::PgUnavailable { .. }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    pg.start_server().unwrap();
    // Reconnects on its own (after its back-off).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        match pgs.load() {
            Ok(snapshot) => {
                assert_eq!(snapshot, want, "nothing acknowledged was lost");
                break;
            }
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}\n{}", pg.log());
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
    pgs.apply(&[LeaseChange::Upsert(lease(40))]).unwrap();
    assert!(pgs.list_leases().unwrap().contains(&lease(40)));
}

#[test]
fn a_group_commit_is_all_or_nothing() {
    let pg = TempPostgres::start("store-atomic").unwrap();
    let mut s = PgStore::open(&pg.url(), "test-a").unwrap();
    s.apply(&[LeaseChange::Upsert(lease(1))]).unwrap();
    // Through the group committer, as the DHCP driver uses it.
    let committer = Committer::spawn(s, CommitterConfig::default()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    committer
        .submit(
            vec![LeaseChange::Upsert(lease(2)), LeaseChange::Upsert(lease(3))],
            Box::new(move |r| tx.send(r.is_ok()).unwrap()),
        )
        .unwrap();
    assert!(rx.recv().unwrap());
    let mut s = committer.shutdown().unwrap();
    assert_eq!(s.list_leases().unwrap().len(), 3);
    // Now a group with a change the database refuses.
    let mut client = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    client
        .batch_execute(
            "ALTER TABLE phoneboot_lease ADD CONSTRAINT no_nine CHECK (host(ip) <> '10.0.0.9')",
        )
        .unwrap();
    let err = s
        .apply(&[LeaseChange::Upsert(lease(5)), LeaseChange::Upsert(lease(9))])
        .unwrap_err();
    assert!(err.to_string().contains("no_nine"), "{err}");
    let ips: Vec<_> = s.list_leases().unwrap().iter().map(|l| l.ip).collect();
    assert_eq!(ips, [ip(1), ip(2), ip(3)], "lease 5 was rolled back with 9");
}

#[test]
fn schema_versions_and_credentials() {
    let pg = TempPostgres::start("store-schema").unwrap();
    let mut s = PgStore::connect_only(&pg.url(), "test").unwrap();
    assert_eq!(s.status().unwrap().found, 0);
    assert_eq!(s.status().unwrap().pending(), PG_SCHEMA_VERSION);
    assert_eq!(
        s.migrate().unwrap(),
        (1..=PG_SCHEMA_VERSION).collect::<Vec<_>>()
    );
    assert!(
        s.migrate().unwrap().is_empty(),
        "migrating twice does nothing"
    );
    assert!(!s.describe().contains(PASSWORD));
    assert!(!format!("{s:?}").contains(PASSWORD));

    // A database written by a newer phoneboot is refused, untouched.
    let mut client = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    client
        .batch_execute("INSERT INTO phoneboot_schema (version) VALUES (99)")
        .unwrap();
    let err = PgStore::open(&pg.url(), "test").unwrap_err();
    assert!(
        matches!(err, StoreError::PgTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains(PASSWORD));

    // A wrong password: named URL, no password, what to check.
    let wrong = pg.url().replace(PASSWORD, "not-the-password");
    let err = PgStore::open(&wrong, "test").unwrap_err().to_string();
    assert!(
        !err.contains("not-the-password") && !err.contains(PASSWORD),
        "{err}"
    );
    assert!(err.contains("password"), "{err}");
}
