//! Live and recently finished downloads, over TFTP and phone HTTP, for the
//! operator API and `/metrics`.
//!
//! A driver calls [`TransferRegistry::start`] once the file is found (this
//! emits `Event::TransferStarted`), reports progress on the returned guard,
//! and finishes it with the result. A guard dropped unfinished (a task
//! cancelled, an HTTP client gone) is recorded as `aborted`, so the live list
//! never keeps ghosts. The finished *event* stays each driver's job: its
//! details differ per protocol.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::events::{Event, EventBus, FileProtocol, TransferResult, TransferStarted};

/// How many finished transfers `/api/transfers` remembers.
pub const RECENT: usize = 200;

/// Cheap to clone; shared by the drivers and the API.
#[derive(Debug, Clone)]
pub struct TransferRegistry {
    inner: Arc<Inner>,
    events: EventBus,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: AtomicU64,
    live: Mutex<BTreeMap<u64, Live>>,
    recent: Mutex<VecDeque<TransferView>>,
}

#[derive(Debug)]
struct Live {
    view: TransferView,
    started: Instant,
    bytes: Arc<AtomicU64>,
}

/// One transfer as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TransferView {
    pub id: u64,
    pub client: SocketAddr,
    pub file: String,
    pub protocol: FileProtocol,
    pub source: String,
    pub size: u64,
    /// Bytes delivered so far (acknowledged for TFTP, handed to the socket
    /// for HTTP).
    pub bytes: u64,
    pub started_unix_ms: i64,
    pub duration_ms: f64,
    /// `None` while running.
    pub result: Option<TransferResult>,
}

/// Held by the task serving one transfer.
#[derive(Debug)]
pub struct TransferGuard {
    inner: Arc<Inner>,
    id: u64,
    bytes: Arc<AtomicU64>,
    finished: bool,
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl TransferRegistry {
    pub fn new(events: EventBus) -> TransferRegistry {
        TransferRegistry {
            inner: Arc::default(),
            events,
        }
    }

    /// Records an accepted download and emits `TransferStarted`.
    pub fn start(
        &self,
        client: SocketAddr,
        file: &str,
        protocol: FileProtocol,
        size: u64,
        source: &str,
    ) -> TransferGuard {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = Arc::new(AtomicU64::new(0));
        let view = TransferView {
            id,
            client,
            file: file.to_owned(),
            protocol,
            source: source.to_owned(),
            size,
            bytes: 0,
            started_unix_ms: unix_ms(),
            duration_ms: 0.0,
            result: None,
        };
        if let Ok(mut live) = self.inner.live.lock() {
            live.insert(
                id,
                Live {
                    view,
                    started: Instant::now(),
                    bytes: bytes.clone(),
                },
            );
        }
        self.events.emit(Event::TransferStarted(TransferStarted {
            client,
            file: file.to_owned(),
            protocol,
            size,
            source: source.to_owned(),
        }));
        TransferGuard {
            inner: self.inner.clone(),
            id,
            bytes,
            finished: false,
        }
    }

    /// Running transfers, oldest first.
    pub fn live(&self) -> Vec<TransferView> {
        let Ok(live) = self.inner.live.lock() else {
            return Vec::new();
        };
        live.values()
            .map(|l| TransferView {
                bytes: l.bytes.load(Ordering::Relaxed),
                duration_ms: l.started.elapsed().as_secs_f64() * 1000.0,
                ..l.view.clone()
            })
            .collect()
    }

    /// Running transfers per protocol.
    pub fn live_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::from([("http", 0), ("tftp", 0)]);
        if let Ok(live) = self.inner.live.lock() {
            for l in live.values() {
                *out.entry(l.view.protocol.word()).or_default() += 1;
            }
        }
        out
    }

    /// The last [`RECENT`] finished transfers, newest first.
    pub fn recent(&self) -> Vec<TransferView> {
        self.inner
            .recent
            .lock()
            .map(|r| r.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}

impl TransferGuard {
    /// Bytes delivered so far.
    pub fn progress(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// Moves the transfer to the recent list with its result.
    pub fn finish(mut self, result: TransferResult, bytes: u64) {
        self.progress(bytes);
        self.close(result);
    }

    fn close(&mut self, result: TransferResult) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let Some(l) = self
            .inner
            .live
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&self.id))
        else {
            return;
        };
        let view = TransferView {
            bytes: self.bytes.load(Ordering::Relaxed),
            duration_ms: l.started.elapsed().as_secs_f64() * 1000.0,
            result: Some(result),
            ..l.view
        };
        if let Ok(mut recent) = self.inner.recent.lock() {
            if recent.len() >= RECENT {
                recent.pop_front();
            }
            recent.push_back(view);
        }
    }
}

impl Drop for TransferGuard {
    fn drop(&mut self) {
        self.close(TransferResult::Aborted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_then_recent_and_dropped_guards_are_aborted() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        let reg = TransferRegistry::new(bus);
        let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let a = reg.start(client, "a.bin", FileProtocol::Tftp, 100, "root:a.bin");
        let b = reg.start(client, "b.bin", FileProtocol::Http, 50, "root:b.bin");
        assert!(
            matches!(&*rx.try_recv().unwrap(), Event::TransferStarted(t) if t.file == "a.bin" && t.size == 100)
        );
        a.progress(40);
        let live = reg.live();
        assert_eq!(live.len(), 2);
        assert_eq!((live[0].file.as_str(), live[0].bytes), ("a.bin", 40));
        assert_eq!(reg.live_counts()["http"], 1);
        a.finish(TransferResult::Ok, 100);
        drop(b);
        assert!(reg.live().is_empty());
        let recent = reg.recent();
        assert_eq!(recent[0].file, "b.bin");
        assert_eq!(recent[0].result, Some(TransferResult::Aborted));
        assert_eq!(
            (recent[1].result, recent[1].bytes),
            (Some(TransferResult::Ok), 100)
        );
    }

    #[test]
    fn recent_is_bounded() {
        let reg = TransferRegistry::new(EventBus::new());
        let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        for i in 0..RECENT + 5 {
            reg.start(client, &format!("f{i}"), FileProtocol::Tftp, 1, "root")
                .finish(TransferResult::Ok, 1);
        }
        let recent = reg.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].file, format!("f{}", RECENT + 4));
    }
}
