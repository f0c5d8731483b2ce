//! `Committer`: grouping, exactly-once callbacks, backpressure, failure
//! isolation and shutdown. A gated in-memory store makes grouping
//! deterministic; the SQLite runs show the same on a real disk.

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use common::{ip, lease, Scratch};
use store::{
    Committer, CommitterConfig, Done, LeaseChange, LeaseRecord, LeaseStore, Snapshot, SqliteStore,
    StoreError,
};

/// An in-memory store that records each transaction. `gate`, when set, is
/// waited on at the start of every apply, so a test can hold the commit
/// thread while it queues submissions. A Release of 0.0.0.0 fails the
/// whole transaction.
#[derive(Default)]
struct MockStore {
    txns: Arc<Mutex<Vec<Vec<LeaseChange>>>>,
    gate: Option<mpsc::Receiver<()>>,
}

const POISON: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

impl LeaseStore for MockStore {
    fn apply(&mut self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        if let Some(gate) = &self.gate {
            let _ = gate.recv();
        }
        if changes
            .iter()
            .any(|c| matches!(c, LeaseChange::Release { ip } if *ip == POISON))
        {
            return Err(StoreError::Corrupt {
                table: "lease",
                what: "poison".into(),
            });
        }
        self.txns.lock().unwrap().push(changes.to_vec());
        Ok(())
    }
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot::default())
    }
    fn list_leases(&mut self) -> Result<Vec<LeaseRecord>, StoreError> {
        Ok(Vec::new())
    }
}

/// A `done` that records its result in slot `i` and counts its calls.
fn recorder(i: usize, calls: &Arc<Vec<AtomicUsize>>, results: &Results) -> Done {
    let calls = Arc::clone(calls);
    let results = Arc::clone(results);
    Box::new(move |r| {
        calls[i].fetch_add(1, Ordering::SeqCst);
        results.lock().unwrap()[i] = Some(r);
    })
}

type Results = Arc<Mutex<Vec<Option<Result<(), StoreError>>>>>;

fn slots(n: usize) -> (Arc<Vec<AtomicUsize>>, Results) {
    (
        Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect()),
        Arc::new(Mutex::new(vec![None; n])),
    )
}

#[test]
fn queued_submissions_share_one_transaction() {
    let (open, gate) = mpsc::channel();
    let txns = Arc::new(Mutex::new(Vec::new()));
    let store = MockStore {
        txns: Arc::clone(&txns),
        gate: Some(gate),
    };
    let c = Committer::spawn(store, CommitterConfig::default()).unwrap();
    let n = 200;
    let (calls, results) = slots(n);
    // The first submission starts a transaction that waits on the gate;
    // the other 199 queue behind it and must all go into the second.
    c.submit(
        vec![LeaseChange::Upsert(lease(0))],
        recorder(0, &calls, &results),
    )
    .unwrap();
    while c.stats().transactions == 0 {
        thread::yield_now();
    }
    for i in 1..n {
        c.submit(
            vec![LeaseChange::Upsert(lease(i as u32))],
            recorder(i, &calls, &results),
        )
        .unwrap();
    }
    open.send(()).unwrap();
    open.send(()).unwrap();
    let stats = c.stats();
    drop(c); // joins: every callback has run
    assert!(calls.iter().all(|c| c.load(Ordering::SeqCst) == 1));
    assert!(results
        .lock()
        .unwrap()
        .iter()
        .all(|r| matches!(r, Some(Ok(())))));
    let txns = txns.lock().unwrap();
    assert_eq!(txns.len(), 2, "one held transaction, then one group");
    assert_eq!(txns[1].len(), n - 1);
    // In submission order.
    assert_eq!(txns[1].first(), Some(&LeaseChange::Upsert(lease(1))));
    assert!(stats.transactions <= 2);
}

#[test]
fn groups_are_capped_by_max_batch_changes() {
    let (open, gate) = mpsc::channel();
    let txns = Arc::new(Mutex::new(Vec::new()));
    let store = MockStore {
        txns: Arc::clone(&txns),
        gate: Some(gate),
    };
    let config = CommitterConfig {
        queue_capacity: 1000,
        max_batch_changes: 10,
    };
    let c = Committer::spawn(store, config).unwrap();
    c.submit(vec![LeaseChange::Upsert(lease(0))], Box::new(|_| {}))
        .unwrap();
    while c.stats().transactions == 0 {
        thread::yield_now();
    }
    for i in 1..=30 {
        c.submit(
            vec![
                LeaseChange::Upsert(lease(i)),
                LeaseChange::Release { ip: ip(i) },
                LeaseChange::Upsert(lease(i)),
            ],
            Box::new(|_| {}),
        )
        .unwrap();
    }
    for _ in 0..10 {
        let _ = open.send(());
    }
    drop(c);
    let sizes: Vec<usize> = txns.lock().unwrap().iter().map(Vec::len).collect();
    // Whole submissions only: a group closes at the first one that
    // reaches 10 changes (4 × 3 = 12).
    assert_eq!(sizes, vec![1, 12, 12, 12, 12, 12, 12, 12, 6]);
}

#[test]
fn full_queue_refuses_without_calling_done() {
    let (open, gate) = mpsc::channel();
    let store = MockStore {
        txns: Arc::default(),
        gate: Some(gate),
    };
    let config = CommitterConfig {
        queue_capacity: 4,
        max_batch_changes: 8192,
    };
    let c = Committer::spawn(store, config).unwrap();
    let n = 10;
    let (calls, results) = slots(n);
    c.submit(
        vec![LeaseChange::Upsert(lease(0))],
        recorder(0, &calls, &results),
    )
    .unwrap();
    while c.stats().transactions == 0 {
        thread::yield_now();
    }
    let mut accepted = vec![0];
    let mut refused = Vec::new();
    for i in 1..n {
        match c.submit(
            vec![LeaseChange::Upsert(lease(i as u32))],
            recorder(i, &calls, &results),
        ) {
            Ok(()) => accepted.push(i),
            Err(e) => {
                assert!(matches!(e, StoreError::QueueFull { capacity: 4 }), "{e}");
                assert!(e.to_string().contains("drop this request"), "{e}");
                refused.push(i);
            }
        }
    }
    assert_eq!(accepted, vec![0, 1, 2, 3, 4]);
    for _ in 0..n {
        let _ = open.send(());
    }
    drop(c);
    for i in accepted {
        assert_eq!(calls[i].load(Ordering::SeqCst), 1, "accepted {i}");
    }
    for i in refused {
        assert_eq!(calls[i].load(Ordering::SeqCst), 0, "refused {i}");
    }
}

#[test]
fn submit_blocking_waits_for_room() {
    let (open, gate) = mpsc::channel();
    let store = MockStore {
        txns: Arc::default(),
        gate: Some(gate),
    };
    let config = CommitterConfig {
        queue_capacity: 2,
        max_batch_changes: 8192,
    };
    let c = Committer::spawn(store, config).unwrap();
    let h = c.handle();
    let done = Arc::new(AtomicUsize::new(0));
    let producer = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            for i in 0..50 {
                let done = Arc::clone(&done);
                h.submit_blocking(
                    vec![LeaseChange::Upsert(lease(i))],
                    Box::new(move |r| {
                        assert!(r.is_ok());
                        done.fetch_add(1, Ordering::SeqCst);
                    }),
                )
                .unwrap();
            }
        })
    };
    for _ in 0..50 {
        let _ = open.send(());
    }
    producer.join().unwrap();
    drop(open); // later applies pass the gate at once
    drop(c);
    assert_eq!(done.load(Ordering::SeqCst), 50);
}

#[test]
fn a_failing_submission_fails_alone() {
    let txns = Arc::new(Mutex::new(Vec::new()));
    let (open, gate) = mpsc::channel();
    let store = MockStore {
        txns: Arc::clone(&txns),
        gate: Some(gate),
    };
    let c = Committer::spawn(store, CommitterConfig::default()).unwrap();
    let n = 5;
    let (calls, results) = slots(n);
    c.submit(vec![], recorder(0, &calls, &results)).unwrap();
    c.submit(
        vec![LeaseChange::Upsert(lease(1))],
        recorder(1, &calls, &results),
    )
    .unwrap();
    c.submit(
        vec![
            LeaseChange::Upsert(lease(2)),
            LeaseChange::Release { ip: POISON },
        ],
        recorder(2, &calls, &results),
    )
    .unwrap();
    c.submit(
        vec![LeaseChange::Upsert(lease(3))],
        recorder(3, &calls, &results),
    )
    .unwrap();
    c.submit(vec![], recorder(4, &calls, &results)).unwrap();
    // Submission 1 held the thread until now, so 2 shares a group with 3
    // and 4 (or with 1): the group fails and is retried one by one.
    drop(open);
    drop(c);
    let results = results.lock().unwrap();
    assert!(matches!(results[0], Some(Ok(()))));
    assert!(matches!(results[1], Some(Ok(()))));
    assert!(matches!(results[2], Some(Err(StoreError::Corrupt { .. }))));
    assert!(matches!(results[3], Some(Ok(()))));
    assert!(matches!(results[4], Some(Ok(()))));
    assert!(calls.iter().all(|c| c.load(Ordering::SeqCst) == 1));
    // Nothing of submission 2 was stored; 1 and 3 were, in order.
    let stored: Vec<LeaseChange> = txns.lock().unwrap().concat();
    assert_eq!(
        stored,
        vec![LeaseChange::Upsert(lease(1)), LeaseChange::Upsert(lease(3))]
    );
}

#[test]
fn panicking_done_does_not_stop_the_committer() {
    let c = Committer::spawn(MockStore::default(), CommitterConfig::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    c.submit(
        vec![LeaseChange::Upsert(lease(1))],
        Box::new(|_| panic!("a request handler bug")),
    )
    .unwrap();
    c.submit(
        vec![LeaseChange::Upsert(lease(2))],
        Box::new(move |r| tx.send(r).unwrap()),
    )
    .unwrap();
    assert!(rx.recv().unwrap().is_ok());
    assert!(c.commit(vec![LeaseChange::Upsert(lease(3))]).is_ok());
}

#[test]
fn shutdown_commits_what_was_queued_and_later_submits_are_refused() {
    let dir = Scratch::new("shutdown");
    let c = Committer::spawn(
        SqliteStore::open(dir.db()).unwrap(),
        CommitterConfig::default(),
    )
    .unwrap();
    let h = c.handle();
    let acked = Arc::new(AtomicUsize::new(0));
    for i in 0..100 {
        let acked = Arc::clone(&acked);
        h.submit(
            vec![LeaseChange::Upsert(lease(i))],
            Box::new(move |r| {
                r.unwrap();
                acked.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    }
    let mut store = c.shutdown().unwrap();
    assert_eq!(acked.load(Ordering::SeqCst), 100);
    assert_eq!(store.list_leases().unwrap().len(), 100);
    let called = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&called);
    let err = h
        .submit(
            vec![LeaseChange::Upsert(lease(100))],
            Box::new(move |_| {
                c2.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Closed), "{err}");
    assert!(matches!(
        h.commit(vec![LeaseChange::Upsert(lease(100))]),
        Err(StoreError::Closed)
    ));
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

/// Real SQLite, real fsync: 32 threads, each waiting for its commit before
/// the next, as DHCP requests do. Fewer transactions than submissions,
/// every callback once, every lease on disk after reopening.
#[test]
fn many_submitters_on_sqlite_are_grouped_and_durable() {
    let dir = Scratch::new("many_sqlite");
    let c = Committer::spawn(
        SqliteStore::open(dir.db()).unwrap(),
        CommitterConfig::default(),
    )
    .unwrap();
    let threads = 32u32;
    let per_thread = 25u32;
    let n = (threads * per_thread) as usize;
    let (calls, results) = slots(n);
    let start = Arc::new(Barrier::new(threads as usize));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let h = c.handle();
            let (calls, results, start) =
                (Arc::clone(&calls), Arc::clone(&results), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for k in 0..per_thread {
                    let i = t * per_thread + k;
                    let (tx, rx) = mpsc::sync_channel(1);
                    let rec = recorder(i as usize, &calls, &results);
                    h.submit_blocking(
                        vec![LeaseChange::Upsert(lease(i))],
                        Box::new(move |r| {
                            let ok = r.is_ok();
                            rec(r);
                            tx.send(ok).unwrap();
                        }),
                    )
                    .unwrap();
                    assert!(rx.recv().unwrap());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let stats = c.stats();
    drop(c);
    assert!(calls.iter().all(|c| c.load(Ordering::SeqCst) == 1));
    assert_eq!(stats.submissions, n as u64);
    assert_eq!(stats.changes, n as u64);
    assert_eq!(stats.failed_transactions, 0);
    assert!(
        stats.transactions < stats.submissions,
        "grouping: {} transactions for {} submissions",
        stats.transactions,
        stats.submissions
    );
    let mut s = SqliteStore::open(dir.db()).unwrap();
    let leases = s.list_leases().unwrap();
    let want: Vec<LeaseRecord> = (0..n as u32).map(lease).collect();
    assert_eq!(leases, want);
}

/// `apply_group` (a caller's own group, no thread): one transaction when
/// every submission is good; a bad one fails alone, the others still land,
/// in order.
#[test]
fn apply_group_commits_once_and_isolates_a_failure() {
    let txns = Arc::new(Mutex::new(Vec::new()));
    let mut store = MockStore {
        txns: Arc::clone(&txns),
        gate: None,
    };
    let good = vec![LeaseChange::Upsert(lease(1)), LeaseChange::Upsert(lease(2))];
    let results = store::apply_group(&mut store, &good, &[0..1, 1..1, 1..2]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        txns.lock().unwrap().len(),
        1,
        "one transaction for the group"
    );

    txns.lock().unwrap().clear();
    let mixed = vec![
        LeaseChange::Upsert(lease(3)),
        LeaseChange::Upsert(lease(4)),
        LeaseChange::Release { ip: POISON },
        LeaseChange::Upsert(lease(5)),
    ];
    let results = store::apply_group(&mut store, &mixed, &[0..1, 1..3, 3..4]);
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(StoreError::Corrupt { .. })));
    assert!(results[2].is_ok());
    let stored: Vec<LeaseChange> = txns.lock().unwrap().concat();
    assert_eq!(
        stored,
        vec![LeaseChange::Upsert(lease(3)), LeaseChange::Upsert(lease(5))]
    );
}
