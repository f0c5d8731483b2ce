//! Everything that happens is an [`Event`]: logged as one line, handed to
//! the synchronous observer (the provisioning engine), and broadcast to the
//! API's event log, SSE and metrics, so drivers need not know who follows.
//! Records carry types (MACs, models, results); they become words only when
//! serialised or logged.

use std::net::SocketAddr;
use std::sync::Arc;

use cisco::{Mac, Model};
use serde::{Serialize, Serializer};
use tokio::sync::broadcast;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    TftpTransfer(TftpTransfer),
    TftpRefused(TftpRefused),
    Dhcp(DhcpExchange),
    Syslog(SyslogMessage),
    /// The provisioning engine: a phone changed stage, took a hop, or needs
    /// the operator.
    Phone(PhoneEvent),
    /// A TFTP or HTTP download was accepted (the file was found).
    TransferStarted(TransferStarted),
    /// One finished phone HTTP request, whatever its result.
    HttpTransfer(HttpTransfer),
    SccpRegister(SccpRegister),
    SccpSession(SccpSession),
    SccpReset(SccpReset),
    SipNotify(SipNotify),
}

/// A phone asked to register over SCCP: accepted, or refused and why.
#[derive(Debug, Clone, Serialize)]
pub struct SccpRegister {
    pub peer: SocketAddr,
    /// The device name it gave (`SEP001E4A123456`).
    pub device_name: String,
    #[serde(serialize_with = "display_opt")]
    pub mac: Option<Mac>,
    /// The device type code, and the model it names.
    pub device_type: u32,
    #[serde(serialize_with = "model_opt")]
    pub model: Option<Model>,
    /// The protocol version the phone offered, and the one agreed.
    pub offered_version: u8,
    pub protocol_version: Option<u8>,
    /// `loadInfo` (long Register form only).
    #[serde(serialize_with = "display_opt")]
    pub load: Option<cisco::LoadName>,
    pub accepted: bool,
    /// Why it was refused (what the RegisterReject said, and more).
    pub reason: Option<String>,
}

/// Something else on a registered SCCP session: an Alarm, or its end.
#[derive(Debug, Clone, Serialize)]
pub struct SccpSession {
    pub peer: SocketAddr,
    #[serde(serialize_with = "display_opt")]
    pub mac: Option<Mac>,
    pub kind: SccpSessionKind,
    /// The load an Alarm's `Load=` names.
    #[serde(serialize_with = "display_opt")]
    pub load: Option<cisco::LoadName>,
    /// The Alarm text, or why the session closed.
    pub message: String,
}

/// A Reset phoneboot sent, or could not send.
#[derive(Debug, Clone, Serialize)]
pub struct SccpReset {
    #[serde(serialize_with = "display")]
    pub mac: Mac,
    pub peer: Option<SocketAddr>,
    /// `reset` (type 1) or `restart` (type 2).
    pub reset_type: &'static str,
    pub result: ResetResult,
    /// Why it was sent.
    pub cause: String,
}

/// What an [`SccpSession`] event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SccpSessionKind {
    Alarm,
    Closed,
}

impl std::fmt::Display for SccpSessionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SccpSessionKind::Alarm => "alarm",
            SccpSessionKind::Closed => "closed",
        })
    }
}

/// What became of a Reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetResult {
    Sent,
    /// The phone is not registered with phoneboot.
    NoSession,
    /// The SCCP listener is off.
    Off,
}

impl ResetResult {
    pub fn word(self) -> &'static str {
        match self {
            ResetResult::Sent => "sent",
            ResetResult::NoSession => "no_session",
            ResetResult::Off => "off",
        }
    }
}

/// How a phone answered a NOTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyAnswer {
    Ok,
    NotFound,
    NoTransaction,
    Other,
    NoAnswer,
    /// Not sent (queue full, sender off, invalid request).
    Error,
}

impl NotifyAnswer {
    pub fn word(self) -> &'static str {
        match self {
            NotifyAnswer::Ok => "ok",
            NotifyAnswer::NotFound => "not_found",
            NotifyAnswer::NoTransaction => "no_transaction",
            NotifyAnswer::Other => "other",
            NotifyAnswer::NoAnswer => "no_answer",
            NotifyAnswer::Error => "error",
        }
    }
}

/// A NOTIFY phoneboot sent to a SIP phone, and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct SipNotify {
    #[serde(serialize_with = "display")]
    pub mac: Mac,
    pub phone: SocketAddr,
    /// `check-sync` or `service-control`.
    pub event: &'static str,
    /// The Request-URI user (the phone's line-1 name).
    pub user: String,
    /// `200`, `404`, `481`, another code, or none.
    pub status: Option<u16>,
    pub answer: NotifyAnswer,
    pub tries: u32,
    pub cause: String,
}

/// A download the server accepted; its end is a `TftpTransfer` or
/// `HttpTransfer` with the same client and file.
#[derive(Debug, Clone, Serialize)]
pub struct TransferStarted {
    pub client: SocketAddr,
    /// The name as the client asked for it.
    pub file: String,
    pub protocol: FileProtocol,
    pub size: u64,
    pub source: String,
}

/// One finished phone HTTP request (GET), like `TftpTransfer` for TFTP.
#[derive(Debug, Clone, Serialize)]
pub struct HttpTransfer {
    pub client: SocketAddr,
    /// The name as the client asked for it (URL path, decoded).
    pub file: String,
    pub source: Option<String>,
    pub status: u16,
    pub size: u64,
    pub bytes: u64,
    pub duration_ms: f64,
    pub result: TransferResult,
    pub error: Option<String>,
}

/// How a download ended, for TFTP and phone HTTP alike. A word only when
/// serialised or logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferResult {
    Ok,
    /// TFTP: every block sent, the last ACK never came (the phone has it).
    FinalAckLost,
    ClientError,
    Timeout,
    Aborted,
    NotFound,
    /// Several root names differ only in case.
    Ambiguous,
    /// A per-MAC file with SIP passwords, asked for by another address.
    NotLeaseHolder,
    /// Outside the root, or not a regular file.
    Refused,
    /// A library blob failed its checksum.
    Damaged,
    BadRequest,
    Error,
}

impl TransferResult {
    pub fn word(self) -> &'static str {
        match self {
            TransferResult::Ok => "ok",
            TransferResult::FinalAckLost => "final_ack_lost",
            TransferResult::ClientError => "client_error",
            TransferResult::Timeout => "timeout",
            TransferResult::Aborted => "aborted",
            TransferResult::NotFound => "not_found",
            TransferResult::Ambiguous => "ambiguous",
            TransferResult::NotLeaseHolder => "not_lease_holder",
            TransferResult::Refused => "refused",
            TransferResult::Damaged => "damaged",
            TransferResult::BadRequest => "bad_request",
            TransferResult::Error => "error",
        }
    }

    /// True when the client (very likely) has the whole file.
    pub fn delivered(self) -> bool {
        matches!(self, TransferResult::Ok | TransferResult::FinalAckLost)
    }
}

impl std::fmt::Display for TransferResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// The protocol a file went out over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileProtocol {
    Tftp,
    Http,
}

impl FileProtocol {
    pub fn word(self) -> &'static str {
        match self {
            FileProtocol::Tftp => "tftp",
            FileProtocol::Http => "http",
        }
    }
}

impl std::fmt::Display for FileProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

fn display<S: Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn display_opt<S: Serializer, T: std::fmt::Display>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn model_opt<S: Serializer>(v: &Option<Model>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(m) => s.serialize_str(m.name()),
        None => s.serialize_none(),
    }
}

/// The end of a download over either protocol, as consumers that do not
/// care about the protocol see it (see [`Event::finished_transfer`]).
#[derive(Debug, Clone, Copy)]
pub struct FinishedTransfer<'a> {
    pub protocol: FileProtocol,
    pub client: SocketAddr,
    pub file: &'a str,
    pub result: TransferResult,
    pub delivered: bool,
    pub size: u64,
    pub bytes: u64,
    pub duration_ms: f64,
}

impl Event {
    /// The event's `type` as serialised (`tftp_transfer`, `dhcp`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::TftpTransfer(_) => "tftp_transfer",
            Event::TftpRefused(_) => "tftp_refused",
            Event::Dhcp(_) => "dhcp",
            Event::TransferStarted(_) => "transfer_started",
            Event::HttpTransfer(_) => "http_transfer",
            Event::Syslog(_) => "syslog",
            Event::Phone(_) => "phone",
            Event::SccpRegister(_) => "sccp_register",
            Event::SccpSession(_) => "sccp_session",
            Event::SccpReset(_) => "sccp_reset",
            Event::SipNotify(_) => "sip_notify",
        }
    }

    /// A finished TFTP or HTTP download, so followers of phones (the
    /// provisioning engine, metrics) need not match both variants.
    pub fn finished_transfer(&self) -> Option<FinishedTransfer<'_>> {
        match self {
            Event::TftpTransfer(t) => Some(FinishedTransfer {
                protocol: FileProtocol::Tftp,
                client: t.client,
                file: &t.file,
                result: t.result,
                delivered: t.result.delivered(),
                size: t.size,
                bytes: t.bytes,
                duration_ms: t.duration_ms,
            }),
            Event::HttpTransfer(h) => Some(FinishedTransfer {
                protocol: FileProtocol::Http,
                client: h.client,
                file: &h.file,
                result: h.result,
                delivered: h.result.delivered(),
                size: h.size,
                bytes: h.bytes,
                duration_ms: h.duration_ms,
            }),
            _ => None,
        }
    }
}

/// A syslog message a device sent us, attributed to a phone when its source
/// address holds a DHCP lease.
#[derive(Debug, Clone, Serialize)]
pub struct SyslogMessage {
    pub source: SocketAddr,
    /// The MAC of the phone leasing the source address, if any.
    #[serde(serialize_with = "display_opt")]
    pub mac: Option<Mac>,
    #[serde(serialize_with = "model_opt")]
    pub model: Option<Model>,
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
        mac: Option<Mac>,
        model: Option<Model>,
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
    #[serde(serialize_with = "dhcp_kind")]
    pub kind: dhcp::EventKind,
    /// The request's message type.
    pub request: Option<String>,
    /// The RFC 2131 client state the request implied.
    pub state: Option<String>,
    #[serde(serialize_with = "display_opt")]
    pub mac: Option<Mac>,
    pub ip: Option<std::net::Ipv4Addr>,
    #[serde(serialize_with = "model_opt")]
    pub model: Option<Model>,
    pub relay: Option<std::net::Ipv4Addr>,
    /// Option codes sent, in wire order.
    pub options: Vec<u8>,
    pub dropped_options: Vec<u8>,
    pub reason: Option<String>,
    /// Where the reply went, when one was sent.
    pub sent_to: Option<std::net::SocketAddrV4>,
    /// Milliseconds from the decision to the reply leaving (lease commit
    /// and conflict ping included), when one was sent.
    pub reply_ms: Option<f64>,
}

impl DhcpExchange {
    pub fn from_core(e: &dhcp::Event, sent_to: Option<std::net::SocketAddrV4>) -> DhcpExchange {
        DhcpExchange {
            kind: e.kind,
            request: e.request.map(|r| format!("{r:?}").to_lowercase()),
            state: e.state.map(|s| snake(&format!("{s:?}"))),
            mac: e.mac.map(|m| Mac(m.0)),
            ip: e.ip,
            model: e.model.as_deref().and_then(Model::from_name),
            relay: e.relay,
            options: e.options.clone(),
            dropped_options: e.dropped_options.clone(),
            reason: e.reason.as_ref().map(|r| r.to_string()),
            sent_to,
            reply_ms: None,
        }
    }
}

/// The DHCP event kind as its word (`ack`, `foreign_server`, …).
pub fn dhcp_kind_word(kind: &dhcp::EventKind) -> String {
    snake(&format!("{kind:?}"))
}

fn dhcp_kind<S: Serializer>(k: &dhcp::EventKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&dhcp_kind_word(k))
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
    pub result: TransferResult,
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

/// Something the provisioning engine concluded about one phone.
#[derive(Debug, Clone, Serialize)]
pub struct PhoneEvent {
    #[serde(serialize_with = "display")]
    pub mac: Mac,
    pub ip: Option<std::net::IpAddr>,
    /// `stage`, `hop_done`, `hop_retry`, `belief`, `diagnosis`, `retry`
    /// (the operator's "Retry hop"; `code` names the diagnosis cleared).
    pub kind: &'static str,
    /// The stage as a word (`downloading`, `done`, …) for `stage` events.
    pub stage: Option<&'static str>,
    /// The load a hop, retry or belief is about.
    pub load: Option<String>,
    /// One readable sentence.
    pub message: String,
    /// What the operator should do, for diagnoses.
    pub fix: Option<String>,
    /// A short code for diagnoses (`missing_load`, `term_loop`, …).
    pub code: Option<&'static str>,
}

/// Called synchronously for every event before it is broadcast, so a
/// follower that must not lag (the provisioning engine: a phone's next
/// request depends on the transfer it just finished) sees events in order.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// Called synchronously for every event after the observer and the log
/// line, with the shared record the subscribers get (the API's event log).
pub type Recorder = Arc<dyn Fn(&Arc<Event>) + Send + Sync>;

/// Cheap to clone; every driver holds one.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    observer: Arc<std::sync::OnceLock<Observer>>,
    recorder: Arc<std::sync::OnceLock<Recorder>>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.tx.receiver_count())
            .finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        let (tx, _) = broadcast::channel(4096);
        EventBus {
            tx,
            observer: Arc::new(std::sync::OnceLock::new()),
            recorder: Arc::new(std::sync::OnceLock::new()),
        }
    }

    /// Sets the synchronous recorder (once; later calls are ignored). A
    /// recorder costs the emitter a call; a subscribed task costs a thread
    /// wake-up per event, which at thousands of DHCP exchanges a second was
    /// a visible share of the CPU per lease (issue #15).
    pub fn record(&self, recorder: Recorder) {
        let _ = self.recorder.set(recorder);
    }

    /// Sets the synchronous observer (once; later calls are ignored).
    pub fn observe(&self, observer: Observer) {
        let _ = self.observer.set(observer);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Logs the event as one line and hands it to every subscriber. The
    /// line is only formatted when its level is logged (issue #15: at
    /// `RUST_LOG=warn` a DHCP storm formats nothing).
    pub fn emit(&self, event: Event) {
        let warn = is_warning(&event);
        let logged = if warn {
            tracing::enabled!(tracing::Level::WARN)
        } else {
            tracing::enabled!(tracing::Level::INFO)
        };
        let line = logged.then(|| event_line(&event));
        if let Some(observer) = self.observer.get() {
            observer(&event);
        }
        if let Some(line) = line {
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
        }
        let event = Arc::new(event);
        if let Some(recorder) = self.recorder.get() {
            recorder(&event);
        }
        // No subscriber (the usual case): skip the channel's lock.
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(event);
        }
    }
}

/// Whether the event is logged as a warning.
fn is_warning(event: &Event) -> bool {
    match event {
        Event::TftpTransfer(t) => !t.result.delivered(),
        Event::TftpRefused(_) => true,
        Event::TransferStarted(_) => false,
        Event::HttpTransfer(h) => !h.result.delivered(),
        Event::Dhcp(d) => matches!(
            d.kind,
            dhcp::EventKind::Nak
                | dhcp::EventKind::Conflict
                | dhcp::EventKind::ForeignServer
                | dhcp::EventKind::Declined
        ),
        Event::Syslog(m) => matches!(m.severity, "emerg" | "alert" | "crit" | "err"),
        Event::Phone(p) => p.kind == "diagnosis",
        Event::SccpRegister(r) => !r.accepted,
        Event::SccpSession(_) => false,
        Event::SccpReset(r) => r.result != ResetResult::Sent,
        Event::SipNotify(n) => n.answer != NotifyAnswer::Ok,
    }
}

/// The event as one log line.
fn event_line(event: &Event) -> String {
    match event {
        Event::TftpTransfer(t) => transfer_line(t),
        Event::TftpRefused(r) => {
            format!("tftp {} refused: {} (error {})", r.client, r.reason, r.code)
        }
        Event::TransferStarted(t) => format!(
            "{} {} {:?}: started, {} bytes from {}",
            t.protocol, t.client, t.file, t.size, t.source
        ),
        Event::HttpTransfer(h) => http_line(h),
        Event::Dhcp(d) => dhcp_line(d),
        Event::Syslog(m) => syslog_line(m),
        Event::Phone(p) => format!(
            "phone {}{}: {}",
            p.mac,
            p.ip.map(|ip| format!(" ({ip})")).unwrap_or_default(),
            p.message
        ),
        Event::SccpRegister(r) => sccp_register_line(r),
        Event::SccpSession(s) => format!(
            "sccp {} {}{}: {}",
            s.peer,
            s.kind,
            s.mac.map(|m| format!(" mac={m}")).unwrap_or_default(),
            clean(&s.message)
        ),
        Event::SccpReset(r) => format!(
            "sccp reset ({}) to {}{}: {} ({})",
            r.reset_type,
            r.mac,
            r.peer.map(|p| format!(" at {p}")).unwrap_or_default(),
            r.result.word(),
            r.cause
        ),
        Event::SipNotify(n) => format!(
            "sip notify {} to {} (sip:{}@, {}): {}{} after {} tr{} ({})",
            n.event,
            n.mac,
            clean(&n.user),
            n.phone,
            n.answer.word(),
            n.status.map(|s| format!(" {s}")).unwrap_or_default(),
            n.tries,
            if n.tries == 1 { "y" } else { "ies" },
            n.cause
        ),
    }
}

/// Phone-supplied text on one log line.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn sccp_register_line(r: &SccpRegister) -> String {
    let mut line = format!(
        "sccp register {} from {}: {}",
        clean(&r.device_name),
        r.peer,
        if r.accepted { "accepted" } else { "refused" }
    );
    if let Some(m) = r.model {
        line.push_str(&format!(" model={}", m.name()));
    } else {
        line.push_str(&format!(" device_type={}", r.device_type));
    }
    match r.protocol_version {
        Some(v) => line.push_str(&format!(" version={v} (offered {})", r.offered_version)),
        None => line.push_str(&format!(" offered_version={}", r.offered_version)),
    }
    if let Some(l) = &r.load {
        line.push_str(&format!(" load={l}"));
    }
    if let Some(why) = &r.reason {
        line.push_str(&format!(": {}", clean(why)));
    }
    line
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

/// Written into one buffer: this line goes out for every DHCP exchange at
/// INFO, and building it from a `format!` per field was a visible share of
/// the CPU per lease (issue #15).
fn dhcp_line(d: &DhcpExchange) -> String {
    use std::fmt::Write as _;
    let mut line = String::with_capacity(128);
    let _ = write!(line, "dhcp {}", dhcp_kind_word(&d.kind));
    if let Some(r) = &d.request {
        let _ = write!(line, " to {r}");
    }
    if let Some(m) = d.mac {
        let _ = write!(line, " mac={m}");
    }
    if let Some(i) = d.ip {
        let _ = write!(line, " ip={i}");
    }
    if let Some(m) = d.model {
        let _ = write!(line, " model={}", m.name());
    }
    if let Some(i) = d.relay {
        let _ = write!(line, " relay={i}");
    }
    if let Some(r) = &d.reason {
        let _ = write!(line, " reason={r}");
    }
    for (i, code) in d.options.iter().enumerate() {
        line.push_str(if i == 0 { " options=" } else { "," });
        let _ = write!(line, "{code}");
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

fn http_line(h: &HttpTransfer) -> String {
    let mut line = format!(
        "http {} {:?} {} ({}): {}/{} bytes in {:.1} ms",
        h.client, h.file, h.result, h.status, h.bytes, h.size, h.duration_ms
    );
    if let Some(e) = &h.error {
        line.push_str(&format!(", error: {e}"));
    }
    line
}
