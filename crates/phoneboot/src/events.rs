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
    Dhcp(DhcpExchange),
    Syslog(SyslogMessage),
}

/// A syslog message a device sent us, attributed to a phone when its source
/// address holds a DHCP lease.
#[derive(Debug, Clone, Serialize)]
pub struct SyslogMessage {
    pub source: SocketAddr,
    /// The MAC of the phone leasing the source address, if any.
    pub mac: Option<String>,
    pub model: Option<String>,
    /// `emerg` … `debug`.
    pub severity: &'static str,
    /// `kern`, `user`, … `local7`.
    pub facility: &'static str,
    /// `rfc5424`, `rfc3164` or `other`.
    pub format: &'static str,
    /// The timestamp as the sender wrote it.
    pub timestamp: Option<String>,
    pub hostname: Option<String>,
    pub app: Option<String>,
    pub proc_id: Option<String>,
    pub msg_id: Option<String>,
    pub structured_data: Option<String>,
    pub message: String,
    pub truncated: bool,
}

impl SyslogMessage {
    pub fn new(
        source: SocketAddr,
        mac: Option<String>,
        model: Option<String>,
        m: syslog_msg::Message,
    ) -> SyslogMessage {
        SyslogMessage {
            source,
            mac,
            model,
            severity: m.severity.name(),
            facility: syslog_msg::facility_name(m.facility),
            format: match m.format {
                syslog_msg::Format::Rfc5424 => "rfc5424",
                syslog_msg::Format::Rfc3164 => "rfc3164",
                syslog_msg::Format::Other => "other",
            },
            timestamp: m.timestamp,
            hostname: m.hostname,
            app: m.app_name,
            proc_id: m.proc_id,
            msg_id: m.msg_id,
            structured_data: m.structured_data,
            message: m.text,
            truncated: m.truncated,
        }
    }
}

/// One DHCP decision: an offer, ack, nak, release, drop, foreign server …
#[derive(Debug, Clone, Serialize)]
pub struct DhcpExchange {
    /// offer, ack, nak, inform_ack, released, declined, offer_withdrawn,
    /// conflict, foreign_server, dropped.
    pub kind: String,
    /// The request's message type.
    pub request: Option<String>,
    /// The RFC 2131 client state the request implied.
    pub state: Option<String>,
    pub mac: Option<String>,
    pub ip: Option<std::net::Ipv4Addr>,
    pub model: Option<String>,
    pub relay: Option<std::net::Ipv4Addr>,
    /// Option codes sent, in wire order.
    pub options: Vec<u8>,
    pub dropped_options: Vec<u8>,
    pub reason: Option<String>,
    /// Where the reply went, when one was sent.
    pub sent_to: Option<std::net::SocketAddrV4>,
}

impl DhcpExchange {
    pub fn from_core(e: &dhcp::Event, sent_to: Option<std::net::SocketAddrV4>) -> DhcpExchange {
        DhcpExchange {
            kind: snake(&format!("{:?}", e.kind)),
            request: e.request.map(|r| format!("{r:?}").to_lowercase()),
            state: e.state.map(|s| snake(&format!("{s:?}"))),
            mac: e.mac.map(|m| m.to_string()),
            ip: e.ip,
            model: e.model.clone(),
            relay: e.relay,
            options: e.options.clone(),
            dropped_options: e.dropped_options.clone(),
            reason: e.reason.as_ref().map(|r| r.to_string()),
            sent_to,
        }
    }
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
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
            Event::Dhcp(d) => (
                dhcp_line(d),
                matches!(
                    d.kind.as_str(),
                    "nak" | "conflict" | "foreign_server" | "declined"
                ),
            ),
            Event::Syslog(m) => (
                syslog_line(m),
                matches!(m.severity, "emerg" | "alert" | "crit" | "err"),
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

fn syslog_line(m: &SyslogMessage) -> String {
    let mut line = format!("syslog {}", m.source.ip());
    if let Some(mac) = &m.mac {
        line.push_str(&format!(" mac={mac}"));
    }
    line.push_str(&format!(" {}.{}", m.facility, m.severity));
    if let Some(app) = &m.app {
        line.push_str(&format!(" {app}"));
        if let Some(pid) = &m.proc_id {
            line.push_str(&format!("[{pid}]"));
        }
        line.push(':');
    }
    // One line per event, whatever the phone sent.
    line.push(' ');
    line.extend(
        m.message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c }),
    );
    line
}

fn dhcp_line(d: &DhcpExchange) -> String {
    let mut line = format!("dhcp {}", d.kind);
    if let Some(r) = &d.request {
        line.push_str(&format!(" to {r}"));
    }
    for (label, value) in [
        ("mac", d.mac.clone()),
        ("ip", d.ip.map(|i| i.to_string())),
        ("model", d.model.clone()),
        ("relay", d.relay.map(|i| i.to_string())),
        ("reason", d.reason.clone()),
    ] {
        if let Some(v) = value {
            line.push_str(&format!(" {label}={v}"));
        }
    }
    if !d.options.is_empty() {
        let codes: Vec<String> = d.options.iter().map(u8::to_string).collect();
        line.push_str(&format!(" options={}", codes.join(",")));
    }
    line
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
