/*!
Group commit: many requests, one transaction, one fsync.

An fsync costs milliseconds whatever it carries, so committing each DHCP
request on its own caps the server at a few hundred leases per second. The
[`Committer`] owns the store on its own thread; requests queue their changes
with a completion callback, and each time the thread wakes it takes
everything queued (up to [`CommitterConfig::max_batch_changes`]) into one
[`LeaseStore::apply`]. While that fsync runs, the next group queues up, so
the group grows with the load and throughput follows.

It is runtime-agnostic: `done` is a plain callback, run on the commit
thread. An async driver sends the result through a oneshot channel from it.
*/

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crate::{LeaseChange, LeaseStore, StoreError};

/// Called exactly once, on the commit thread, with the outcome of a
/// submission accepted by [`CommitHandle::submit`]. `Ok` means durable.
/// Keep it short (send on a channel, wake a task): the next group waits
/// for it.
pub type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// Limits of a [`Committer`]; plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitterConfig {
    /// Submissions that may wait for the commit thread. When full,
    /// [`CommitHandle::submit`] fails with [`StoreError::QueueFull`] and
    /// [`CommitHandle::submit_blocking`] waits.
    pub queue_capacity: usize,
    /// A group stops taking submissions once it holds this many changes, to
    /// bound one transaction's size and latency. A single larger
    /// submission is still committed whole.
    pub max_batch_changes: usize,
}

impl Default for CommitterConfig {
    fn default() -> Self {
        CommitterConfig {
            queue_capacity: 4096,
            max_batch_changes: 8192,
        }
    }
}

/// Counters since the committer started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Transactions run against the store (each one fsync), failed ones
    /// included.
    pub transactions: u64,
    /// Of those, the ones that failed.
    pub failed_transactions: u64,
    /// Submissions whose `done` has been called.
    pub submissions: u64,
    /// Changes committed successfully.
    pub changes: u64,
}

#[derive(Default)]
struct Counters {
    transactions: AtomicU64,
    failed_transactions: AtomicU64,
    submissions: AtomicU64,
    changes: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> CommitStats {
        CommitStats {
            transactions: self.transactions.load(Ordering::Relaxed),
            failed_transactions: self.failed_transactions.load(Ordering::Relaxed),
            submissions: self.submissions.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
        }
    }
}

/// Changes plus their callback. Dropped without being finished (the thread
/// stopped with it still queued, or panicked), it reports
/// [`StoreError::Closed`], so `done` runs exactly once in every case.
struct Submission {
    changes: Vec<LeaseChange>,
    done: Option<Done>,
}

impl Submission {
    fn finish(mut self, result: Result<(), StoreError>) {
        if let Some(done) = self.done.take() {
            // A panicking callback must not take the commit thread (and
            // every later request) down with it.
            let _ = catch_unwind(AssertUnwindSafe(move || done(result)));
        }
    }

    /// Takes the callback back uncalled: the submission was refused.
    fn disarm(mut self) {
        self.done = None;
    }
}

impl Drop for Submission {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || done(Err(StoreError::Closed))));
        }
    }
}

enum Msg {
    Submit(Submission),
    Stop,
}

/// Owns a [`LeaseStore`] on a dedicated thread and commits what many
/// requests submit in groups: one transaction and one fsync per group.
///
/// # What the DHCP driver must do
///
/// For each `dhcp::Decision` with lease ops: convert the ops to
/// [`LeaseChange`]s (Instant → Unix ms), [`submit`](CommitHandle::submit)
/// them with a `done` that hands the result back to the request, and
/// **send the reply only when `done` reports `Ok`**. On `Err` (or when
/// `submit` itself refuses with [`StoreError::QueueFull`]), send nothing:
/// the client retries, and the lease is not promised to anyone. Replies
/// without lease ops (OFFER, NAK) need no commit. At start-up, before
/// serving, load the leases with [`LeaseStore::load`] and restore them.
///
/// Dropping the committer (or [`shutdown`](Committer::shutdown)) commits
/// what was queued before it and stops the thread; submissions after that
/// fail with [`StoreError::Closed`].
pub struct Committer<S: LeaseStore + 'static> {
    handle: CommitHandle,
    thread: Option<JoinHandle<S>>,
}

/// A cloneable, thread-safe way to submit to a [`Committer`].
#[derive(Clone)]
pub struct CommitHandle {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    capacity: usize,
}

impl<S: LeaseStore + 'static> Committer<S> {
    /// Moves `store` onto a new thread named `lease-commit`.
    pub fn spawn(store: S, config: CommitterConfig) -> Result<Committer<S>, StoreError> {
        let capacity = config.queue_capacity.max(1);
        let (tx, rx) = mpsc::sync_channel(capacity);
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        let max_changes = config.max_batch_changes.max(1);
        let thread = thread::Builder::new()
            .name("lease-commit".into())
            .spawn(move || run(store, &rx, max_changes, &c))
            .map_err(|e| StoreError::Spawn(Arc::new(e)))?;
        Ok(Committer {
            handle: CommitHandle {
                tx,
                counters,
                capacity,
            },
            thread: Some(thread),
        })
    }

    /// A handle for other threads or tasks.
    pub fn handle(&self) -> CommitHandle {
        self.handle.clone()
    }

    /// See [`CommitHandle::submit`].
    pub fn submit(&self, changes: Vec<LeaseChange>, done: Done) -> Result<(), StoreError> {
        self.handle.submit(changes, done)
    }

    /// See [`CommitHandle::submit_blocking`].
    pub fn submit_blocking(&self, changes: Vec<LeaseChange>, done: Done) -> Result<(), StoreError> {
        self.handle.submit_blocking(changes, done)
    }

    /// See [`CommitHandle::commit`].
    pub fn commit(&self, changes: Vec<LeaseChange>) -> Result<(), StoreError> {
        self.handle.commit(changes)
    }

    /// See [`CommitHandle::stats`].
    pub fn stats(&self) -> CommitStats {
        self.handle.stats()
    }

    /// Commits everything submitted before this call, stops the thread and
    /// returns the store. [`StoreError::Closed`] if the thread had died.
    pub fn shutdown(mut self) -> Result<S, StoreError> {
        self.stop().ok_or(StoreError::Closed)
    }

    fn stop(&mut self) -> Option<S> {
        let thread = self.thread.take()?;
        // Blocks while the queue is full; fails only if the thread is gone.
        let _ = self.handle.tx.send(Msg::Stop);
        thread.join().ok()
    }
}

impl<S: LeaseStore + 'static> Drop for Committer<S> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl CommitHandle {
    /// Queues `changes` for the next group without waiting. On `Ok`, `done`
    /// will be called exactly once with the commit's outcome. On `Err`
    /// ([`StoreError::QueueFull`]: the disk is behind; [`StoreError::Closed`]),
    /// nothing was queued and `done` is dropped uncalled.
    pub fn submit(&self, changes: Vec<LeaseChange>, done: Done) -> Result<(), StoreError> {
        let msg = Msg::Submit(Submission {
            changes,
            done: Some(done),
        });
        match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(m)) => {
                disarm(m);
                Err(StoreError::QueueFull {
                    capacity: self.capacity,
                })
            }
            Err(TrySendError::Disconnected(m)) => {
                disarm(m);
                Err(StoreError::Closed)
            }
        }
    }

    /// Like [`submit`](Self::submit), but waits for room in the queue
    /// (backpressure) instead of failing when it is full. Blocks the
    /// calling thread: not for an async task.
    pub fn submit_blocking(&self, changes: Vec<LeaseChange>, done: Done) -> Result<(), StoreError> {
        let msg = Msg::Submit(Submission {
            changes,
            done: Some(done),
        });
        self.tx.send(msg).map_err(|mpsc::SendError(m)| {
            disarm(m);
            StoreError::Closed
        })
    }

    /// Submits and waits until the changes are durable (or failed). For
    /// callers with no other work, such as the CLI and tests.
    pub fn commit(&self, changes: Vec<LeaseChange>) -> Result<(), StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit_blocking(
            changes,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Counters since the committer started.
    pub fn stats(&self) -> CommitStats {
        self.counters.snapshot()
    }
}

fn disarm(msg: Msg) {
    if let Msg::Submit(s) = msg {
        s.disarm();
    }
}

/// The commit thread: wait for one submission, take whatever else is queued
/// (up to `max_changes`), commit it as one group, report, repeat.
fn run<S: LeaseStore>(
    mut store: S,
    rx: &Receiver<Msg>,
    max_changes: usize,
    counters: &Counters,
) -> S {
    let mut group: Vec<(Submission, std::ops::Range<usize>)> = Vec::new();
    let mut flat: Vec<LeaseChange> = Vec::new();
    let mut stopping = false;
    while !stopping {
        let Ok(first) = rx.recv() else { break };
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Stop => stopping = true,
                Msg::Submit(mut s) => {
                    let start = flat.len();
                    flat.append(&mut s.changes);
                    group.push((s, start..flat.len()));
                }
            }
            if !stopping && flat.len() < max_changes {
                next = rx.try_recv().ok();
            }
        }
        commit_group(&mut store, &mut group, &mut flat, counters);
    }
    // Returning drops `rx`: submissions queued after Stop are dropped and
    // report `Closed`.
    store
}

fn commit_group<S: LeaseStore>(
    store: &mut S,
    group: &mut Vec<(Submission, std::ops::Range<usize>)>,
    flat: &mut Vec<LeaseChange>,
    counters: &Counters,
) {
    let result = run_txn(store, flat, counters);
    if result.is_ok() || group.len() == 1 {
        for (s, _) in group.drain(..) {
            counters.submissions.fetch_add(1, Ordering::Relaxed);
            s.finish(result.clone());
        }
    } else {
        // The group rolled back as a whole. Retry each submission alone, in
        // order, so one bad submission fails only its own request.
        for (s, range) in group.drain(..) {
            let r = run_txn(store, flat.get(range).unwrap_or_default(), counters);
            counters.submissions.fetch_add(1, Ordering::Relaxed);
            s.finish(r);
        }
    }
    flat.clear();
}

/// One group commit on the caller's thread, for a caller that owns the
/// store and batches its own submissions (the DHCP loop on SQLite commits
/// between batches of datagrams: no thread hand-off per lease). The same
/// rule as the [`Committer`]'s groups: every submission in one transaction
/// (one fsync); if it fails and there are several, each again alone, in
/// order, so a bad submission fails only itself. `submissions` are ranges of
/// `changes`; one result per submission, in their order.
pub fn apply_group<S: LeaseStore + ?Sized>(
    store: &mut S,
    changes: &[LeaseChange],
    submissions: &[std::ops::Range<usize>],
) -> Vec<Result<(), StoreError>> {
    let all = if changes.is_empty() {
        Ok(())
    } else {
        store.apply(changes)
    };
    if all.is_ok() || submissions.len() <= 1 {
        return vec![all; submissions.len()];
    }
    submissions
        .iter()
        .map(|range| match changes.get(range.clone()) {
            Some([]) | None => Ok(()),
            Some(part) => store.apply(part),
        })
        .collect()
}

fn run_txn<S: LeaseStore>(
    store: &mut S,
    changes: &[LeaseChange],
    counters: &Counters,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    counters.transactions.fetch_add(1, Ordering::Relaxed);
    let r = store.apply(changes);
    match &r {
        Ok(()) => counters
            .changes
            .fetch_add(changes.len() as u64, Ordering::Relaxed),
        Err(_) => counters.failed_transactions.fetch_add(1, Ordering::Relaxed),
    };
    r
}
