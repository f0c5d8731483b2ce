//! Everything that happens is an [`Event`]: logged as one line, and
//! broadcast so later parts (store, dashboard, provisioning engine) can
//! follow along without the drivers knowing about them.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    TftpTransfer(TftpTransfer),
    TftpRefused(TftpRefused),
}

/// One finished TFTP transfer, whatever its result.
#[derive(Debug, Clone, Serialize)]
pub struct TftpTransfer {
    pub client: SocketAddr,
    /// The name as the client asked for it.
    pub file: String,
    /// Where the content came from (`root:…`), when it was found.
    pub source: Option<String>,
    pub mode: &'static str,
    pub blksize: u16,
    pub windowsize: u16,
    pub tsize: Option<u64>,
    pub timeout: Option<u8>,
    /// Options the client sent that were not honoured, as `name=value`.
    pub ignored_options: Vec<String>,
    pub size: u64,
    pub bytes: u64,
    pub duration_ms: f64,
    /// `ok`, `final_ack_lost`, `client_error`, `timeout`, `aborted`,
    /// `not_found`, `refused`, `error`.
    pub result: &'static str,
    /// The error sent to the client or received from it.
    pub error: Option<String>,
    pub data_packets: u64,
    pub retransmitted: u64,
    pub ignored_acks: u64,
}

/// A datagram on the listening port that started no transfer.
#[derive(Debug, Clone, Serialize)]
pub struct TftpRefused {
    pub client: SocketAddr,
    pub code: u16,
    pub reason: String,
}

/// Cheap to clone; every driver holds one.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        let (tx, _) = broadcast::channel(4096);
        EventBus { tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Logs the event as one line and hands it to every subscriber.
    pub fn emit(&self, event: Event) {
        let (line, warn) = match &event {
            Event::TftpTransfer(t) => (
                transfer_line(t),
                !matches!(t.result, "ok" | "final_ack_lost"),
            ),
            Event::TftpRefused(r) => (
                format!("tftp {} refused: {} (error {})", r.client, r.reason, r.code),
                true,
            ),
        };
        if crate::logging::json() {
            let record = serde_json::to_string(&event).unwrap_or_default();
            if warn {
                tracing::warn!(event = %record, "{line}");
            } else {
                tracing::info!(event = %record, "{line}");
            }
        } else if warn {
            tracing::warn!("{line}");
        } else {
            tracing::info!("{line}");
        }
        let _ = self.tx.send(Arc::new(event));
    }
}

fn transfer_line(t: &TftpTransfer) -> String {
    let mut line = format!(
        "tftp {} {:?} {}: {}/{} bytes in {:.1} ms, blksize {} window {}, {} DATA ({} resent)",
        t.client,
        t.file,
        t.result,
        t.bytes,
        t.size,
        t.duration_ms,
        t.blksize,
        t.windowsize,
        t.data_packets,
        t.retransmitted
    );
    if let Some(e) = &t.error {
        line.push_str(&format!(", error: {e}"));
    }
    if !t.ignored_options.is_empty() {
        line.push_str(&format!(
            ", ignored options: {}",
            t.ignored_options.join(" ")
        ));
    }
    line
}
