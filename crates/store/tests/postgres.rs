//! `PgStore` against a real PostgreSQL that the test starts itself (initdb
//! and pg_ctl in a scratch folder, as `nobody` when run as root): the same
//! change semantics as SQLite, durability across a crash of the server,
//! reconnecting after it, schema versions, and never a password in an error.

mod common;

use common::{ip, lease, quarantine, Scratch};
use store::testing::{TempPostgres, PASSWORD};
use store::{
    Committer, CommitterConfig, LeaseChange, LeaseRecord, LeaseStore, PgStore, SqliteStore,
    StoreError, PG_SCHEMA_VERSION,
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

fn in_an_hour() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    now.as_millis() as i64 + 3_600_000
}

#[test]
fn an_address_another_server_leased_is_not_given_twice() {
    let pg = TempPostgres::start("store-claim").unwrap();
    let mut a = PgStore::open(&pg.url(), "server-a").unwrap();
    let mut b = PgStore::open(&pg.url(), "server-b").unwrap();
    let mut held = lease(1);
    held.expires_unix_ms = in_an_hour();
    a.apply(&[LeaseChange::Upsert(held.clone())]).unwrap();
    // Server b, not knowing, gives the same address to another client.
    let mut other = lease(2);
    other.ip = ip(1);
    other.expires_unix_ms = in_an_hour();
    let err = b.apply(&[LeaseChange::Upsert(other.clone())]).unwrap_err();
    assert!(
        matches!(err, StoreError::Claimed { ip: i } if i == ip(1)),
        "{err}"
    );
    // Nor may it release or quarantine it away.
    b.apply(&[LeaseChange::Release { ip: ip(1) }]).unwrap();
    b.apply(&[LeaseChange::Quarantine(quarantine(1, in_an_hour()))])
        .unwrap();
    assert!(a.list_leases().unwrap().contains(&held));
    // The same client, renewing through b after a takeover, is fine.
    let mut renewed = held.clone();
    renewed.expires_unix_ms += 60_000;
    b.apply(&[LeaseChange::Upsert(renewed.clone())]).unwrap();
    assert_eq!(a.list_leases().unwrap(), vec![renewed]);
    // An expired lease of another server's may be given again.
    let mut old = lease(3);
    a.apply(&[LeaseChange::Upsert(old.clone())]).unwrap();
    old = LeaseRecord {
        mac: lease(4).mac,
        ..old
    };
    b.apply(&[LeaseChange::Upsert(old.clone())]).unwrap();
    assert!(a.list_leases().unwrap().contains(&old));

    // Through the committer, a claim fails only its own submission.
    let mut held = lease(5);
    held.expires_unix_ms = in_an_hour();
    a.apply(&[LeaseChange::Upsert(held)]).unwrap();
    other.ip = ip(5);
    let committer = Committer::spawn(b, CommitterConfig::default()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    let mut free = lease(7);
    free.expires_unix_ms = in_an_hour();
    committer
        .submit(
            vec![LeaseChange::Upsert(other)],
            Box::new(move |r| tx.send(("claimed", r)).unwrap()),
        )
        .unwrap();
    committer
        .submit(
            vec![LeaseChange::Upsert(free.clone())],
            Box::new(move |r| tx2.send(("free", r)).unwrap()),
        )
        .unwrap();
    let mut results: Vec<_> = rx.iter().take(2).collect();
    results.sort_by_key(|(k, _)| *k);
    assert!(
        matches!(results[0], ("claimed", Err(StoreError::Claimed { .. }))),
        "{results:?}"
    );
    assert!(matches!(results[1], ("free", Ok(()))), "{results:?}");
    drop(committer);
    assert!(a.list_leases().unwrap().contains(&free));
}

#[test]
fn servers_of_one_store_see_each_other_by_heartbeat() {
    use std::time::Duration;
    let pg = TempPostgres::start("store-beat").unwrap();
    let mut a = PgStore::open(&pg.url(), "a").unwrap();
    let mut b = PgStore::open(&pg.url(), "b").unwrap();
    let long = Duration::from_secs(10);
    let addr_a = std::net::Ipv4Addr::new(10, 0, 0, 1);
    let addr_b = std::net::Ipv4Addr::new(10, 0, 0, 2);
    assert_eq!(a.heartbeat("a", addr_a, long).unwrap().len(), 1);
    let seen = b.heartbeat("b", addr_b, long).unwrap();
    let names: Vec<&str> = seen.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(seen[1].addr, addr_b);
    // b stops beating: after the deadline a sees only itself.
    std::thread::sleep(Duration::from_millis(400));
    let seen = a
        .heartbeat("a", addr_a, Duration::from_millis(300))
        .unwrap();
    let names: Vec<&str> = seen.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a"]);
    // And it comes back.
    b.heartbeat("b", addr_b, long).unwrap();
    assert_eq!(a.peers(long).unwrap().len(), 2);
}

#[test]
fn desired_state_edits_reach_every_server_of_the_store() {
    let pg = TempPostgres::start("store-desired").unwrap();
    let mut a = PgStore::open(&pg.url(), "a").unwrap();
    let mut b = PgStore::open(&pg.url(), "b").unwrap();
    assert!(b.desired_since(0).unwrap().is_empty());
    let r1 = a
        .put_desired("00:1e:4a:00:00:01", Some(r#"{"model":"7960"}"#))
        .unwrap();
    let r2 = a.put_desired("00:1e:4a:00:00:02", None).unwrap();
    assert!(r2 > r1);
    let seen = b.desired_since(0).unwrap();
    assert_eq!(
        seen,
        vec![
            (
                "00:1e:4a:00:00:01".to_owned(),
                Some(r#"{"model":"7960"}"#.to_owned()),
                r1
            ),
            ("00:1e:4a:00:00:02".to_owned(), None, r2),
        ]
    );
    // A later edit of the same phone replaces the first, with a newer revision.
    let r3 = b
        .put_desired("00:1e:4a:00:00:01", Some(r#"{"model":"7941"}"#))
        .unwrap();
    let seen = a.desired_since(r2).unwrap();
    assert!(seen.iter().any(|(m, e, r)| m == "00:1e:4a:00:00:01"
        && e.as_deref() == Some(r#"{"model":"7941"}"#)
        && *r == r3));
}

#[test]
fn each_server_sees_the_phones_the_others_saw() {
    use store::PhoneRow;
    let row = |mac: &str, view: &str| PhoneRow {
        mac: mac.into(),
        server: String::new(),
        view: view.into(),
        record: format!("{{\"mac\":\"{mac}\"}}"),
    };
    let pg = TempPostgres::start("store-phones").unwrap();
    let mut a = PgStore::open(&pg.url(), "a").unwrap();
    let mut b = PgStore::open(&pg.url(), "b").unwrap();
    a.put_phones(&[
        row("00:1e:4a:00:00:01", r#"{"stage":"done"}"#),
        row("00:1e:4a:00:00:02", r#"{"stage":"downloading"}"#),
    ])
    .unwrap();
    let (mine, _) = a.phones_of_others(None).unwrap();
    assert!(mine.is_empty(), "its own are not others'");
    let (seen, mark) = b.phones_of_others(None).unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].server, "a");
    assert_eq!(seen[0].record, r#"{"mac":"00:1e:4a:00:00:01"}"#);
    assert!(mark.is_some());
    // The phone moved to b: b's view replaces a's.
    b.put_phones(&[row("00:1e:4a:00:00:02", r#"{"stage":"done"}"#)])
        .unwrap();
    let (seen, _) = a.phones_of_others(None).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].server.as_str(), seen[0].view.as_str()),
        ("b", r#"{"stage":"done"}"#)
    );
    // From its mark on, b sees only a's rows, never its own.
    let (again, _) = b.phones_of_others(mark).unwrap();
    assert!(again.iter().all(|r| r.server == "a"));
}

#[test]
fn observations_reach_the_owner_once() {
    use store::Observation;
    let pg = TempPostgres::start("store-obs").unwrap();
    let mut a = PgStore::open(&pg.url(), "a").unwrap();
    let mut b = PgStore::open(&pg.url(), "b").unwrap();
    let ob = |owner: &str, name: &str, kind: u8| Observation {
        owner: owner.into(),
        ip: std::net::IpAddr::V4(ip(5)),
        kind,
        name: name.into(),
        ok: true,
        bytes: 1234,
    };
    b.put_observations(&[
        ob("a", "SEP001E4A000005.cnf.xml", b'r'),
        ob("a", "SEP001E4A000005.cnf.xml", b'd'),
        ob("c", "RINGLIST.DAT", b'r'),
    ])
    .unwrap();
    let got = a.take_observations("a").unwrap();
    assert_eq!(
        got,
        vec![
            ob("a", "SEP001E4A000005.cnf.xml", b'r'),
            ob("a", "SEP001E4A000005.cnf.xml", b'd')
        ]
    );
    assert!(a.take_observations("a").unwrap().is_empty(), "taken once");
    assert_eq!(b.take_observations("c").unwrap().len(), 1);
}
