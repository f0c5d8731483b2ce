//! The syslog receiver: one UDP socket, each datagram parsed by
//! `syslog_msg`, attributed to a phone by its source address (through the
//! DHCP lease that holds it) and emitted as an [`Event::Syslog`].
//!
//! Memory stays bounded: one receive buffer, a bounded per-source table,
//! every field capped by the parser, and events go to the bounded
//! broadcast channel. Datagrams without a valid `<PRI>` are counted as
//! malformed and dropped, so random traffic never reaches the log.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use cisco::{Mac, Model};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventBus, SyslogMessage};
use crate::net::listener::{Counters, SourceLimiter};

/// A phone logs a burst at boot, then little.
const BURST: u32 = 200;
const PER_SECOND: f64 = 20.0;
const MAX_SOURCES: usize = 4096;
/// Larger datagrams are cut here (RFC 5426 §3.2 asks receivers for 480
/// bytes at least and 2048 when they can).
const MAX_DATAGRAM: usize = 8192;

/// The phone holding an address, from the DHCP leases, or `None`.
pub type LeaseLookup = Arc<dyn Fn(Ipv4Addr) -> Option<(Mac, Option<Model>)> + Send + Sync>;

/// A lookup in the running DHCP core's leases.
pub fn lookup_in(core: Arc<std::sync::Mutex<dhcp::Server>>) -> LeaseLookup {
    Arc::new(move |ip| {
        let core = core.lock().ok()?;
        core.lease(ip, Instant::now())
            .map(|l| (Mac(l.mac.0), l.model.as_deref().and_then(Model::from_name)))
    })
}

/// Receives syslog on `socket` until shutdown.
pub async fn serve(
    socket: UdpSocket,
    lookup: Option<LeaseLookup>,
    events: EventBus,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut limiter = SourceLimiter::new(BURST, PER_SECOND, MAX_SOURCES);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from): (usize, SocketAddr) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => { tracing::debug!("syslog recv: {e}"); continue; }
            },
            _ = shutdown.cancelled() => break,
        };
        Counters::bump(&counters.received);
        // Parse first (bounded work per datagram): garbage never takes a
        // slot in the limiter's table.
        let msg = syslog_msg::parse(buf.get(..n).unwrap_or_default());
        if !msg.pri_valid {
            Counters::bump(&counters.malformed);
            continue;
        }
        if !limiter.allow(from.ip(), Instant::now()) {
            Counters::bump(&counters.rate_limited);
            continue;
        }
        let (mac, model) = match (from.ip(), &lookup) {
            (IpAddr::V4(ip), Some(l)) => l(ip).map_or((None, None), |(m, model)| (Some(m), model)),
            _ => (None, None),
        };
        Counters::bump(&counters.answered);
        events.emit(Event::Syslog(SyslogMessage::new(from, mac, model, msg)));
    }
    tracing::info!("syslog: {}", counters.snapshot());
    Ok(())
}
