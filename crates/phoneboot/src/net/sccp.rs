//! The SCCP listener: phoneboot as the call manager of the SCCP loads a
//! phone walks through. A phone registers, says what it runs (or, from a
//! 79x0, only that it booted), and is reset into its next hop when the
//! engine asks. Protocol decisions are `::sccp::Session`'s; this driver owns
//! the sockets, the clock, who may register, and the limits.
//!
//! A phone may register only from an address that holds a lease from
//! phoneboot, or that lies in a served subnet or `[sccp] allow`; its
//! device name must be `SEP<MAC>` of the phone phoneboot knows at that
//! address. Anything else gets RegisterReject and an `sccp_register` event
//! saying why. Sessions are limited in number (in all and per address),
//! in bytes (before registering, and per minute after) and in idle time.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cisco::{LoadName, Mac, Model};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::{
    Event, EventBus, ResetResult, SccpRegister, SccpReset, SccpSession, SccpSessionKind,
};
use crate::provision::ControlError;

/// What phoneboot knows about an address that wants to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// It holds phoneboot's lease for this MAC.
    Lease(Mac),
    /// In a served subnet or `[sccp] allow`, and phoneboot has seen this
    /// MAC there (it asked for its `SEP<MAC>` files).
    Known(Mac),
    /// In a served subnet or `[sccp] allow`; no phone known there yet.
    Allowed,
    /// Not ours: why.
    Refused(String),
}

/// Decides who may register; `serve` builds it from the DHCP leases, the
/// served subnets, `[sccp] allow` and the phones the engine knows.
pub type Admit = Arc<dyn Fn(IpAddr) -> Admission + Send + Sync>;

/// The listener's limits and session settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session: ::sccp::Config,
    pub max_sessions: usize,
    pub max_per_address: usize,
    /// Bytes a connection may send before it registers.
    pub max_bytes_unregistered: u64,
    /// Bytes a registered phone may send per minute (keepalives are 12).
    pub max_bytes_per_minute: u64,
    /// How long a Reset waits for the phone to finish registering (its
    /// CapabilitiesRes) before it is sent anyway.
    pub reset_grace: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            session: ::sccp::Config::default(),
            max_sessions: 4096,
            max_per_address: 4,
            max_bytes_unregistered: 8 * 1024,
            max_bytes_per_minute: 64 * 1024,
            reset_grace: Duration::from_secs(3),
        }
    }
}

#[derive(Debug)]
struct Handle {
    id: u64,
    peer: SocketAddr,
    tx: mpsc::Sender<String>,
}

/// The live sessions, by MAC, and the limits; shared by every session task.
pub struct SccpServer {
    settings: Settings,
    admit: Admit,
    events: EventBus,
    sessions: Mutex<HashMap<Mac, Handle>>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    next_id: AtomicU64,
}

impl std::fmt::Debug for SccpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SccpServer")
            .field("open", &self.open.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SccpServer {
    pub fn new(settings: Settings, admit: Admit, events: EventBus) -> Arc<SccpServer> {
        Arc::new(SccpServer {
            settings,
            admit,
            events,
            sessions: Mutex::new(HashMap::new()),
            per_address: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
        })
    }

    /// Queues a Reset type 1 for the phone's session.
    pub fn reset(&self, mac: Mac, cause: &str) -> Result<(), ControlError> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let handle = sessions.get(&mac).ok_or(ControlError::NoSession(mac))?;
        handle
            .tx
            .try_send(cause.to_owned())
            .map_err(|_| ControlError::Busy)
    }

    /// Takes a place for a new connection from `ip`, or says why not.
    fn admit_connection(self: &Arc<Self>, ip: IpAddr) -> Option<Place> {
        let mut per = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let from_ip = per.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.settings.max_per_address
            || self.open.load(Ordering::Relaxed) >= self.settings.max_sessions
        {
            return None;
        }
        per.insert(ip, from_ip + 1);
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Place {
            server: self.clone(),
            ip,
        })
    }
}

/// A connection's place in the limits; dropping it frees the place.
struct Place {
    server: Arc<SccpServer>,
    ip: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut per = self
            .server
            .per_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per.remove(&self.ip);
            }
        }
        self.server.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections until shutdown, then closes every session.
pub async fn serve(
    listener: TcpListener,
    server: Arc<SccpServer>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        // Reap finished sessions so the set stays small.
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!("sccp accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(place) = server.admit_connection(peer.ip()) else {
            tracing::debug!("sccp {peer}: over the session limits, connection closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(run_session(
            stream,
            peer,
            server.clone(),
            place,
            shutdown.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Per-session state the driver keeps beside `::sccp::Session`.
struct Conn {
    peer: SocketAddr,
    id: u64,
    mac: Option<Mac>,
    /// The highest protocol version the phone offered.
    offered: u8,
    registered_at: Option<Instant>,
    /// Resets asked for and not yet sent: the cause of the first.
    reset: Option<String>,
    budget: Budget,
}

async fn run_session(
    mut stream: TcpStream,
    peer: SocketAddr,
    server: Arc<SccpServer>,
    _place: Place,
    shutdown: CancellationToken,
) {
    let id = server.next_id.fetch_add(1, Ordering::Relaxed);
    let start = Instant::now();
    let Ok(mut session) = ::sccp::Session::new(start, server.settings.session.clone()) else {
        return;
    };
    let (tx, mut rx) = mpsc::channel::<String>(4);
    let mut tx = Some(tx);
    let mut conn = Conn {
        peer,
        id,
        mac: None,
        offered: 0,
        registered_at: None,
        reset: None,
        budget: Budget::new(start),
    };
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::new();
    let mut why = None;
    loop {
        let now = Instant::now();
        while let Some(ev) = session.poll_event() {
            match on_event(&server, &mut session, &mut conn, &mut tx, now, ev) {
                Some(reason) => why = Some(reason),
                None => continue,
            }
        }
        let grace = server.settings.reset_grace;
        if reset_at(&conn, &session, grace).is_some_and(|at| at <= now) {
            let cause = conn.reset.take().unwrap_or_default();
            let ok = session.reset(now, ::sccp::ResetType::Reset).is_ok();
            if let Some(mac) = conn.mac {
                server.events.emit(Event::SccpReset(SccpReset {
                    mac,
                    peer: Some(peer),
                    reset_type: "reset",
                    result: if ok {
                        ResetResult::Sent
                    } else {
                        ResetResult::NoSession
                    },
                    cause,
                }));
            }
        }
        if session.poll_transmit(&mut out) {
            let write = tokio::time::timeout(Duration::from_secs(10), stream.write_all(&out));
            if !matches!(write.await, Ok(Ok(()))) {
                session.close_now(now);
                why.get_or_insert_with(|| "the phone stopped reading".to_owned());
            }
        }
        if session.is_closed() {
            if why.is_none() {
                why = session.close_reason().map(|r| r.to_string());
            }
            break;
        }
        let idle = session.poll_timeout();
        let wake = [idle, reset_at(&conn, &session, grace)]
            .into_iter()
            .flatten()
            .min();
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => {
                session.close_now(Instant::now());
                why = Some("phoneboot is shutting down".to_owned());
            }
            r = stream.read(&mut buf) => {
                let now = Instant::now();
                match r {
                    Ok(0) | Err(_) => session.handle_eof(now),
                    Ok(n) => {
                        let limit = if conn.registered_at.is_some() {
                            server.settings.max_bytes_per_minute
                        } else {
                            server.settings.max_bytes_unregistered
                        };
                        if conn.budget.take(now, n as u64, limit) {
                            session.handle_input(now, &buf[..n]);
                        } else {
                            session.close_now(now);
                            why = Some(format!(
                                "sent more than {limit} bytes {}",
                                if conn.registered_at.is_some() { "in a minute" } else { "without registering" }
                            ));
                        }
                    }
                }
            }
            cause = rx.recv() => {
                if let Some(cause) = cause {
                    conn.reset.get_or_insert(cause);
                }
            }
            _ = sleep => session.handle_timeout(Instant::now()),
        }
    }
    // Remove this session (not a newer one of the same phone) from the map.
    if let Some(mac) = conn.mac {
        {
            let mut sessions = server.sessions.lock().unwrap_or_else(|p| p.into_inner());
            if sessions.get(&mac).is_some_and(|h| h.id == id) {
                sessions.remove(&mac);
            }
        }
        if conn.registered_at.is_some() {
            server.events.emit(Event::SccpSession(SccpSession {
                peer,
                mac: Some(mac),
                kind: SccpSessionKind::Closed,
                load: None,
                message: why.unwrap_or_else(|| "closed".to_owned()),
            }));
        }
    } else if let Some(w) = why {
        tracing::debug!("sccp {peer}: closed before registering: {w}");
    }
    let _ = stream.shutdown().await;
}

/// When a queued Reset may go: as soon as the phone has answered after
/// registering (CapabilitiesRes or a KeepAlive), else `grace` after it
/// registered. `None` with nothing queued.
fn reset_at(conn: &Conn, session: &::sccp::Session, grace: Duration) -> Option<Instant> {
    conn.reset.as_ref()?;
    let at = conn.registered_at?;
    let answered = session.stats().capabilities > 0 || session.stats().keepalives > 0;
    Some(if answered { at } else { at + grace })
}

/// Acts on one session event. Returns a reason when the session ends.
fn on_event(
    server: &Arc<SccpServer>,
    session: &mut ::sccp::Session,
    conn: &mut Conn,
    tx: &mut Option<mpsc::Sender<String>>,
    now: Instant,
    ev: ::sccp::Event,
) -> Option<String> {
    match ev {
        ::sccp::Event::RegisterRequest {
            device_name,
            mac,
            device_type,
            protocol_version,
            load,
            station_ip: _,
        } => {
            let mac = mac.map(Mac);
            conn.offered = protocol_version;
            let verdict = judge(&server.admit, conn.peer.ip(), &device_name, mac);
            let model = device_type.model_name().and_then(Model::from_name);
            let load = load.as_deref().and_then(|l| LoadName::parse(l).ok());
            match verdict {
                Ok(()) => {
                    let _ = session.accept(now);
                    // `Registered` follows: the event is emitted there.
                    None
                }
                Err((text, reason)) => {
                    let _ = session.reject(now, text);
                    server.events.emit(Event::SccpRegister(SccpRegister {
                        peer: conn.peer,
                        device_name,
                        mac,
                        device_type: device_type.0,
                        model,
                        offered_version: protocol_version,
                        protocol_version: None,
                        load,
                        accepted: false,
                        reason: Some(reason.clone()),
                    }));
                    Some(format!("registration refused: {reason}"))
                }
            }
        }
        ::sccp::Event::Registered {
            device_name,
            mac,
            device_type,
            protocol,
            load,
        } => {
            let mac = mac.map(Mac)?;
            conn.mac = Some(mac);
            conn.registered_at = Some(now);
            if let Some(tx) = tx.take() {
                let old = server
                    .sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        mac,
                        Handle {
                            id: conn.id,
                            peer: conn.peer,
                            tx,
                        },
                    );
                if let Some(old) = old {
                    tracing::debug!(
                        "sccp {mac}: a new session from {} replaces the one from {}",
                        conn.peer,
                        old.peer
                    );
                }
            }
            let offered = conn.offered;
            server.events.emit(Event::SccpRegister(SccpRegister {
                peer: conn.peer,
                device_name,
                mac: Some(mac),
                device_type: device_type.0,
                model: device_type.model_name().and_then(Model::from_name),
                offered_version: offered,
                protocol_version: Some(protocol.get()),
                load: load.as_deref().and_then(|l| LoadName::parse(l).ok()),
                accepted: true,
                reason: None,
            }));
            None
        }
        ::sccp::Event::Alarm { text, load, .. } => {
            server.events.emit(Event::SccpSession(SccpSession {
                peer: conn.peer,
                mac: conn.mac,
                kind: SccpSessionKind::Alarm,
                load: load.as_deref().and_then(|l| LoadName::parse(l).ok()),
                message: text,
            }));
            None
        }
        ::sccp::Event::Closed { why } => Some(why.to_string()),
    }
}

/// May `device_name` register from `ip`? Err holds the RegisterReject
/// text (short, shown on the phone) and the reason for the log.
fn judge(
    admit: &Admit,
    ip: IpAddr,
    device_name: &str,
    mac: Option<Mac>,
) -> Result<(), (&'static str, String)> {
    let Some(mac) = mac else {
        return Err((
            "Device name not SEP<MAC>",
            format!("device name {device_name:?} is not SEP followed by 12 hex digits"),
        ));
    };
    match admit(ip) {
        Admission::Lease(holder) if holder != mac => Err((
            "MAC does not match lease",
            format!("{ip} holds the lease of {holder}, not of {mac}"),
        )),
        Admission::Known(holder) if holder != mac => Err((
            "MAC does not match address",
            format!("phoneboot knows {holder} at {ip}, not {mac}"),
        )),
        Admission::Refused(why) => Err(("No lease from this server", why)),
        _ => Ok(()),
    }
}

/// Bytes per window: before registering, a total; after, per minute.
struct Budget {
    window_start: Instant,
    used: u64,
}

impl Budget {
    fn new(now: Instant) -> Budget {
        Budget {
            window_start: now,
            used: 0,
        }
    }

    /// Counts `n` bytes; false when that passes `limit`.
    fn take(&mut self, now: Instant, n: u64, limit: u64) -> bool {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(60) {
            self.window_start = now;
            self.used = 0;
        }
        self.used = self.used.saturating_add(n);
        self.used <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> Mac {
        Mac([0, 0x1e, 0x4a, 0, 0, last])
    }

    #[test]
    fn who_may_register() {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        let lease: Admit = Arc::new(|_| Admission::Lease(Mac([0, 0x1e, 0x4a, 0, 0, 1])));
        assert!(judge(&lease, ip, "SEP001E4A000001", Some(mac(1))).is_ok());
        let (text, why) = judge(&lease, ip, "SEP001E4A000002", Some(mac(2))).unwrap_err();
        assert!(text.len() < 32, "{text}");
        assert!(
            why.contains("holds the lease of 00:1e:4a:00:00:01"),
            "{why}"
        );
        assert!(judge(&lease, ip, "CIPCphone", None).is_err());
        let refused: Admit = Arc::new(|ip| Admission::Refused(format!("{ip} is not ours")));
        assert!(judge(&refused, ip, "SEP001E4A000001", Some(mac(1))).is_err());
        let allowed: Admit = Arc::new(|_| Admission::Allowed);
        assert!(judge(&allowed, ip, "SEP001E4A000009", Some(mac(9))).is_ok());
    }

    #[test]
    fn the_byte_budget_resets_each_minute() {
        let t0 = Instant::now();
        let mut b = Budget::new(t0);
        assert!(b.take(t0, 1000, 1500));
        assert!(!b.take(t0, 1000, 1500));
        assert!(b.take(t0 + Duration::from_secs(61), 1000, 1500));
    }
}
