//! `SqliteStore`: change semantics, persistence, and refusing files that are
//! not ours without touching them.

mod common;

use common::{ip, lease, mac, quarantine, Scratch};
use store::{
    LeaseChange, LeaseRecord, LeaseStore, QuarantineRecord, SqliteStore, StoreError,
    APPLICATION_ID, SCHEMA_VERSION,
};

fn upsert(l: &LeaseRecord) -> LeaseChange {
    LeaseChange::Upsert(l.clone())
}

#[test]
fn upsert_then_list() {
    let dir = Scratch::new("upsert_then_list");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![]);
    s.apply(&[upsert(&lease(2)), upsert(&lease(1))]).unwrap();
    // Ordered by IP.
    assert_eq!(s.list_leases().unwrap(), vec![lease(1), lease(2)]);
    // Renewal: same client, same address, new expiry.
    let mut renewed = lease(1);
    renewed.expires_unix_ms += 3_600_000;
    renewed.model = None;
    s.apply(&[upsert(&renewed)]).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![renewed, lease(2)]);
}

#[test]
fn upsert_replaces_the_lease_on_the_same_ip() {
    let dir = Scratch::new("upsert_by_ip");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    s.apply(&[upsert(&lease(1))]).unwrap();
    let mut other = lease(2);
    other.ip = ip(1);
    s.apply(&[upsert(&other)]).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![other]);
}

#[test]
fn upsert_replaces_the_lease_of_the_same_mac() {
    let dir = Scratch::new("upsert_by_mac");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    s.apply(&[upsert(&lease(1)), upsert(&lease(3))]).unwrap();
    let mut moved = lease(1);
    moved.ip = ip(2);
    s.apply(&[upsert(&moved)]).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![moved, lease(3)]);
}

#[test]
fn upsert_replaces_the_lease_of_the_same_client_id() {
    let dir = Scratch::new("upsert_by_client_id");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    let mut a = lease(1);
    a.client_id = Some(b"\x01phone-a".to_vec());
    s.apply(&[upsert(&a), upsert(&lease(3))]).unwrap();
    // Same client id from another MAC (a new NIC, a relay rewriting
    // chaddr) on another address: still one client, one lease.
    let mut b = lease(2);
    b.client_id = a.client_id.clone();
    s.apply(&[upsert(&b)]).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![b, lease(3)]);
}

#[test]
fn client_id_identifies_the_client_not_the_mac() {
    // RFC 2131 §4.2, and the dhcp crate's rule: with a client id, the MAC
    // does not identify the client, so two ids behind one MAC are two
    // clients. An empty id counts as none.
    let dir = Scratch::new("client_key");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    let mut a = lease(1);
    a.client_id = Some(b"one".to_vec());
    let mut b = lease(2);
    b.mac = a.mac;
    b.client_id = Some(b"two".to_vec());
    let mut c = lease(3);
    c.mac = a.mac;
    c.client_id = None;
    s.apply(&[upsert(&a), upsert(&b), upsert(&c)]).unwrap();
    assert_eq!(s.list_leases().unwrap().len(), 3);
    let mut d = lease(4);
    d.mac = a.mac;
    d.client_id = Some(Vec::new());
    s.apply(&[upsert(&d)]).unwrap();
    assert_eq!(
        s.list_leases().unwrap(),
        vec![a, b, d],
        "replaced the MAC-keyed c"
    );
}

#[test]
fn release_forgets_the_lease() {
    let dir = Scratch::new("release");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    s.apply(&[upsert(&lease(1)), upsert(&lease(2))]).unwrap();
    s.apply(&[LeaseChange::Release { ip: ip(1) }]).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![lease(2)]);
    // Releasing an address nobody holds is not an error.
    s.apply(&[LeaseChange::Release { ip: ip(9) }]).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![lease(2)]);
}

#[test]
fn quarantine_clears_the_lease_and_upsert_clears_the_quarantine() {
    let dir = Scratch::new("quarantine");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    s.apply(&[upsert(&lease(1)), upsert(&lease(2))]).unwrap();
    s.apply(&[LeaseChange::Quarantine(quarantine(1, 5_000))])
        .unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.leases, vec![lease(2)]);
    assert_eq!(snap.quarantines, vec![quarantine(1, 5_000)]);
    // A second quarantine on the same address replaces the first.
    let anonymous = QuarantineRecord {
        ip: ip(1),
        until_unix_ms: 9_000,
        mac: None,
    };
    s.apply(&[LeaseChange::Quarantine(anonymous.clone())])
        .unwrap();
    assert_eq!(s.load().unwrap().quarantines, vec![anonymous]);
    // Leasing the address ends its quarantine: one state per address.
    s.apply(&[upsert(&lease(1))]).unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.leases, vec![lease(1), lease(2)]);
    assert_eq!(snap.quarantines, vec![]);
}

#[test]
fn changes_apply_in_order_within_a_batch() {
    let dir = Scratch::new("order");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    s.apply(&[
        upsert(&lease(1)),
        LeaseChange::Release { ip: ip(1) },
        upsert(&lease(2)),
        LeaseChange::Quarantine(quarantine(2, 1)),
        upsert(&lease(3)),
    ])
    .unwrap();
    let snap = s.load().unwrap();
    assert_eq!(snap.leases, vec![lease(3)]);
    assert_eq!(snap.quarantines, vec![quarantine(2, 1)]);
}

#[test]
fn reopen_after_drop_keeps_everything() {
    let dir = Scratch::new("reopen");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    s.apply(&[
        upsert(&lease(1)),
        upsert(&lease(2)),
        LeaseChange::Quarantine(quarantine(7, 42)),
    ])
    .unwrap();
    let before = s.load().unwrap();
    drop(s);
    let mut s = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(s.load().unwrap(), before);
    s.check_integrity().unwrap();
    // Records carry every field through a round trip.
    let mut full = lease(3);
    full.client_id = Some(vec![0, 1, 255]);
    full.hostname = None;
    full.expires_unix_ms = -1;
    s.apply(&[upsert(&full)]).unwrap();
    drop(s);
    let mut s = SqliteStore::open_read_only(dir.db()).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![lease(1), lease(2), full]);
}

#[test]
fn creates_missing_directories() {
    let dir = Scratch::new("mkdir");
    let path = dir.path().join("var/lib/phoneboot/leases.db");
    let mut s = SqliteStore::open(&path).unwrap();
    s.apply(&[upsert(&lease(1))]).unwrap();
    assert!(path.is_file());
    assert_eq!(s.path(), path);
}

#[test]
fn database_is_marked_and_in_wal_mode() {
    let dir = Scratch::new("pragmas");
    drop(SqliteStore::open(dir.db()).unwrap());
    let raw = rusqlite::Connection::open(dir.db()).unwrap();
    let q = |sql: &str| -> i64 { raw.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(q("PRAGMA application_id"), i64::from(APPLICATION_ID));
    assert_eq!(q("PRAGMA user_version"), SCHEMA_VERSION);
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn readers_see_commits_while_the_writer_is_open() {
    let dir = Scratch::new("reader");
    let mut w = SqliteStore::open(dir.db()).unwrap();
    w.apply(&[upsert(&lease(1))]).unwrap();
    let mut r = SqliteStore::open_read_only(dir.db()).unwrap();
    assert_eq!(r.list_leases().unwrap(), vec![lease(1)]);
    w.apply(&[upsert(&lease(2))]).unwrap();
    assert_eq!(r.list_leases().unwrap(), vec![lease(1), lease(2)]);
    // A read-only store refuses to write, with an error rather than a panic.
    let err = r.apply(&[upsert(&lease(3))]).unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
}

#[test]
fn read_only_open_of_a_missing_file_creates_nothing() {
    let dir = Scratch::new("ro_missing");
    let err = SqliteStore::open_read_only(dir.db()).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!dir.db().exists());
}

/// Every file in `dir` with its bytes, to show that a refused open wrote
/// nothing and created nothing (no -wal, no -shm).
fn snapshot_dir(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn garbage_file_is_refused_and_left_untouched() {
    let dir = Scratch::new("garbage");
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(dir.db(), &garbage).unwrap();
    let before = snapshot_dir(dir.path());
    for open in [SqliteStore::open, SqliteStore::open_read_only] {
        let err = open(dir.db()).unwrap_err();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("not a phoneboot lease database"), "{msg}");
        assert!(msg.contains("leases.db"), "names the file: {msg}");
        assert_eq!(snapshot_dir(dir.path()), before);
    }
}

#[test]
fn text_file_shorter_than_a_header_is_refused() {
    let dir = Scratch::new("short");
    std::fs::write(dir.db(), b"leases\n").unwrap();
    let err = SqliteStore::open(dir.db()).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
    assert_eq!(std::fs::read(dir.db()).unwrap(), b"leases\n");
}

#[test]
fn damaged_file_with_an_sqlite_header_is_refused_and_left_untouched() {
    let dir = Scratch::new("damaged");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend((0..8192u32).map(|i| (i * 13 + 1) as u8));
    std::fs::write(dir.db(), &bytes).unwrap();
    let before = snapshot_dir(dir.path());
    let err = SqliteStore::open(dir.db()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotADatabase { .. } | StoreError::Sqlite { .. }
        ),
        "{err}"
    );
    assert_eq!(snapshot_dir(dir.path()), before);
}

#[test]
fn another_programs_database_is_refused_and_left_untouched() {
    let dir = Scratch::new("foreign");
    {
        let raw = rusqlite::Connection::open(dir.db()).unwrap();
        raw.execute_batch("CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x');")
            .unwrap();
    }
    let before = snapshot_dir(dir.path());
    let err = SqliteStore::open(dir.db()).unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("another program"), "{err}");
    assert_eq!(snapshot_dir(dir.path()), before);
}

#[test]
fn empty_file_becomes_a_database() {
    // `touch leases.db` before the first start is harmless.
    let dir = Scratch::new("empty");
    std::fs::write(dir.db(), b"").unwrap();
    let mut s = SqliteStore::open(dir.db()).unwrap();
    s.apply(&[upsert(&lease(1))]).unwrap();
    assert_eq!(s.list_leases().unwrap(), vec![lease(1)]);
}

#[test]
fn newer_schema_is_refused() {
    let dir = Scratch::new("newer");
    drop(SqliteStore::open(dir.db()).unwrap());
    {
        let raw = rusqlite::Connection::open(dir.db()).unwrap();
        raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    for open in [SqliteStore::open, SqliteStore::open_read_only] {
        let err = open(dir.db()).unwrap_err();
        match &err {
            StoreError::TooNew {
                found, supported, ..
            } => {
                assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected TooNew, got {other}"),
        }
        assert!(err.to_string().contains("newer phoneboot"), "{err}");
    }
}

#[test]
fn invalid_records_are_errors_not_panics() {
    let dir = Scratch::new("corrupt");
    let mut s = SqliteStore::open(dir.db()).unwrap();
    s.apply(&[upsert(&lease(1))]).unwrap();
    let raw = rusqlite::Connection::open(dir.db()).unwrap();
    raw.execute_batch("PRAGMA ignore_check_constraints = ON")
        .unwrap();

    raw.execute(
        "INSERT INTO lease (ip, client_key, mac, expires_unix_ms) VALUES (5, x'00', x'0102', 0)",
        [],
    )
    .unwrap();
    let err = s.list_leases().unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { table: "lease", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("2 bytes"), "{err}");
    raw.execute("DELETE FROM lease WHERE ip = 5", []).unwrap();

    raw.execute(
        "INSERT INTO lease (ip, client_key, mac, expires_unix_ms) VALUES (-1, x'01', x'010203040506', 0)",
        [],
    )
    .unwrap();
    let err = s.load().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    raw.execute("DELETE FROM lease WHERE ip = -1", []).unwrap();

    raw.execute(
        "INSERT INTO lease (ip, client_key, mac, expires_unix_ms, model) VALUES (6, x'02', x'010203040506', 'soon', 7)",
        [],
    )
    .unwrap();
    let err = s.list_leases().unwrap_err();
    assert!(matches!(err, StoreError::Sqlite { .. }), "{err}");
    raw.execute("DELETE FROM lease WHERE ip = 6", []).unwrap();

    raw.execute(
        "INSERT INTO quarantine (ip, until_unix_ms, mac) VALUES (7, 0, x'01')",
        [],
    )
    .unwrap();
    let err = s.load().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                table: "quarantine",
                ..
            }
        ),
        "{err}"
    );
    raw.execute("DELETE FROM quarantine WHERE ip = 7", [])
        .unwrap();

    assert_eq!(s.list_leases().unwrap(), vec![lease(1)]);
    assert_eq!(mac(1), lease(1).mac);
}
