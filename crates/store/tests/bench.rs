//! Committer throughput on a real disk. Not part of the normal run:
//!
//! ```text
//! cargo test --release -p store --test bench -- --ignored --nocapture
//! ```
//!
//! Each submitter thread stands for one DHCP request in flight: it submits
//! one lease (a DHCPACK's upsert) and waits for its `done` before the next,
//! so the rate printed is durable, acknowledged leases per second.
//! `STORE_BENCH_DIR` picks the disk (default: the system temp dir).

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::lease;
use store::{Committer, CommitterConfig, LeaseChange, LeaseStore, SqliteStore};

fn run(submitters: u32, per_submitter: u32, renew: bool) {
    let base = std::env::var_os("STORE_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("phoneboot-store-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("leases.db");
    let total = submitters * per_submitter;
    let mut store = SqliteStore::open(&db).unwrap();
    if renew {
        // Renewals: every upsert replaces an existing lease, as in a
        // steady-state fleet (10 000 leases, the issue's RSS target).
        let all: Vec<_> = (0..total.max(10_000))
            .map(|i| LeaseChange::Upsert(lease(i)))
            .collect();
        store.apply(&all).unwrap();
    }
    let c = Committer::spawn(store, CommitterConfig::default()).unwrap();
    let go = Arc::new(Barrier::new(submitters as usize + 1));
    let workers: Vec<_> = (0..submitters)
        .map(|t| {
            let h = c.handle();
            let go = Arc::clone(&go);
            thread::spawn(move || {
                let mut worst = Duration::ZERO;
                go.wait();
                for k in 0..per_submitter {
                    let mut l = lease(t * per_submitter + k);
                    l.expires_unix_ms += 86_400_000;
                    let (tx, rx) = mpsc::sync_channel(1);
                    let sent = Instant::now();
                    h.submit_blocking(
                        vec![LeaseChange::Upsert(l)],
                        Box::new(move |r| {
                            let _ = tx.send(r);
                        }),
                    )
                    .unwrap();
                    rx.recv().unwrap().unwrap();
                    worst = worst.max(sent.elapsed());
                }
                worst
            })
        })
        .collect();
    go.wait();
    let t0 = Instant::now();
    let worst = workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .max()
        .unwrap_or_default();
    let elapsed = t0.elapsed();
    let stats = c.stats();
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
    let rate = f64::from(total) / elapsed.as_secs_f64();
    println!(
        "{submitters:>3} submitters, {kind}: {total} leases in {:.2} s = {rate:>7.0} leases/s durable; \
         {} transactions ({:.1} leases/fsync, {:.2} ms/txn), worst ack latency {:.1} ms",
        elapsed.as_secs_f64(),
        stats.transactions,
        stats.changes as f64 / stats.transactions.max(1) as f64,
        elapsed.as_secs_f64() * 1000.0 / stats.transactions.max(1) as f64,
        worst.as_secs_f64() * 1000.0,
        kind = if renew { "renewals " } else { "new leases" },
    );
}

/// The store alone, no committer and no threads: what one transaction of
/// `batch` upserts costs, i.e. the ceiling the committer works under.
fn raw_apply(batch: u32, batches: u32) {
    let dir = std::env::temp_dir().join(format!("phoneboot-store-raw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = SqliteStore::open(dir.join("leases.db")).unwrap();
    let t0 = Instant::now();
    for b in 0..batches {
        let changes: Vec<_> = (0..batch)
            .map(|k| LeaseChange::Upsert(lease(b * batch + k)))
            .collect();
        store.apply(&changes).unwrap();
    }
    let elapsed = t0.elapsed();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    let total = batch * batches;
    println!(
        "raw apply, {batch} leases/txn: {total} leases in {:.2} s = {:>7.0} leases/s ({:.1} us/lease incl. fsync)",
        elapsed.as_secs_f64(),
        f64::from(total) / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / f64::from(total),
    );
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn committer_throughput() {
    raw_apply(64, 500);
    raw_apply(1024, 50);
    run(1, 300, false);
    run(8, 1_000, false);
    run(64, 500, false);
    run(64, 500, true);
    run(256, 200, false);
}
