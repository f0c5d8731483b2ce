//! `kill -9` in the middle of a stream of commits loses no acknowledged
//! lease and leaves a consistent database.
//!
//! The test binary runs itself as the child (the `crash_child` test, which
//! does nothing unless `STORE_CRASH_CHILD_DB` is set). The child commits
//! leases from many threads through a `Committer` and prints `ACK <n>` for
//! each lease whose `done` reported `Ok`, before that thread submits its
//! next one: the DHCP driver's order (durable, then ACK). The parent reads
//! the ACKs, kills the child with SIGKILL while it is still committing,
//! reopens the database and checks that every acknowledged lease is there.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use common::{lease, Scratch};
use store::{Committer, CommitterConfig, LeaseChange, LeaseRecord, LeaseStore, SqliteStore};

const CHILD_DB: &str = "STORE_CRASH_CHILD_DB";
const CHILD_START: &str = "STORE_CRASH_CHILD_START";

/// The child's body; a no-op in a normal test run.
#[test]
fn crash_child() {
    let Ok(db) = std::env::var(CHILD_DB) else {
        return;
    };
    let start: u32 = std::env::var(CHILD_START)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let store = SqliteStore::open(&db).expect("child: open store");
    let committer = Committer::spawn(store, CommitterConfig::default()).expect("child: spawn");
    let next = Arc::new(AtomicU32::new(start));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let h = committer.handle();
            let next = Arc::clone(&next);
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let mut changes = vec![LeaseChange::Upsert(lease(i))];
                // Churn on earlier addresses: renew one (a new expiry),
                // release another. Neither is ever acknowledged in the
                // output, so the check below covers them only as
                // "consistent".
                if i.is_multiple_of(3) && i > start + 64 {
                    let mut renewed = lease(i - 64);
                    renewed.expires_unix_ms += 1;
                    changes.push(LeaseChange::Upsert(renewed));
                }
                let (tx, rx) = mpsc::sync_channel(1);
                h.submit_blocking(
                    changes,
                    Box::new(move |r| {
                        if r.is_ok() {
                            // One write of a whole line: atomic on a pipe.
                            let line = format!("ACK {i}\n");
                            let mut out = std::io::stdout().lock();
                            let _ = out.write_all(line.as_bytes());
                            let _ = out.flush();
                        }
                        let _ = tx.send(r.is_ok());
                    }),
                )
                .expect("child: submit");
                if !rx.recv().unwrap_or(false) {
                    return;
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}

/// Runs one child on `db` starting at lease `start`, kills it after
/// `kill_after` ACKs, and returns every lease number it acknowledged.
fn run_and_kill(db: &std::path::Path, start: u32, kill_after: usize) -> Vec<u32> {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, db)
        .env(CHILD_START, start.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let mut out = BufReader::new(child.stdout.take().expect("child stdout"));
    let mut acked = Vec::new();
    let mut killed = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = out.read_until(b'\n', &mut line).expect("read child stdout");
        if n == 0 {
            break;
        }
        // A line cut by the kill (no newline) was never fully reported.
        if line.last() != Some(&b'\n') {
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(i) = text.trim().strip_prefix("ACK ") {
            acked.push(i.parse::<u32>().expect("ACK number"));
        }
        if !killed && acked.len() >= kill_after {
            // SIGKILL on Unix: no destructor, no flush, no checkpoint.
            child.kill().expect("kill child");
            killed = true;
        }
    }
    let status = child.wait().expect("wait child");
    assert!(
        killed,
        "child ended by itself ({status}) before {kill_after} ACKs"
    );
    assert!(!status.success(), "child was killed: {status}");
    acked
}

#[test]
fn kill_9_loses_no_acknowledged_lease() {
    let dir = Scratch::new("crash");
    let db = dir.db();
    let mut all_acked: Vec<u32> = Vec::new();
    // Three rounds on the same file: each reopen replays the log of a
    // killed writer.
    for (round, start) in [0u32, 1_000_000, 2_000_000].into_iter().enumerate() {
        let acked = run_and_kill(&db, start, 400 + 150 * round);
        all_acked.extend(&acked);

        let mut s = SqliteStore::open(&db).expect("reopen after kill -9");
        s.check_integrity().expect("integrity after kill -9");
        let leases = s.list_leases().expect("read leases after kill -9");
        let by_ip: std::collections::HashMap<_, _> = leases.iter().map(|l| (l.ip, l)).collect();
        for &i in &all_acked {
            let want = lease(i);
            let got = by_ip
                .get(&want.ip)
                .unwrap_or_else(|| panic!("round {round}: acknowledged lease {i} is missing"));
            // Same lease; its expiry may be a later renewal.
            assert_eq!((got.mac, got.ip), (want.mac, want.ip), "lease {i}");
            assert!(got.expires_unix_ms >= want.expires_unix_ms, "lease {i}");
        }
        assert_consistent(&leases);
        drop(s);
        eprintln!(
            "round {round}: {} acknowledged, {} leases on disk",
            acked.len(),
            leases.len()
        );
    }
}

/// Every lease is one the child could have written, and no address or
/// client appears twice.
fn assert_consistent(leases: &[LeaseRecord]) {
    let mut ips = std::collections::HashSet::new();
    let mut macs = std::collections::HashSet::new();
    for l in leases {
        assert!(ips.insert(l.ip), "{} held twice", l.ip);
        assert!(macs.insert(l.mac), "{:02x?} holds two leases", l.mac);
        let i = u32::from(l.ip).wrapping_sub(u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)));
        let want = lease(i);
        assert_eq!(l.mac, want.mac, "lease on {} has a foreign MAC", l.ip);
        assert!(
            l.expires_unix_ms == want.expires_unix_ms
                || l.expires_unix_ms == want.expires_unix_ms + 1,
            "lease on {} has an expiry nobody wrote",
            l.ip
        );
        assert_eq!(l.model, want.model);
        assert_eq!(l.hostname, want.hostname);
    }
}
