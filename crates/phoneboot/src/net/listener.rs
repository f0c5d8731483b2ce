//! What the small UDP listeners (SNTP, syslog) share: a socket bound like
//! the DHCP one, counters a `/metrics` endpoint can read, and a per-source
//! token bucket with a bounded table.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::net::UdpSocket;

/// Counters of one listener; shared as `Arc<Counters>`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams read from the socket.
    pub received: AtomicU64,
    /// Replies sent (SNTP) or messages recorded as events (syslog).
    pub answered: AtomicU64,
    /// Datagrams that were not a request / message, ignored.
    pub malformed: AtomicU64,
    /// Datagrams dropped because their source exceeded its rate.
    pub rate_limited: AtomicU64,
    /// Send failures.
    pub errors: AtomicU64,
}

/// A copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    pub received: u64,
    pub answered: u64,
    pub malformed: u64,
    pub rate_limited: u64,
    pub errors: u64,
}

impl Counters {
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            received: get(&self.received),
            answered: get(&self.answered),
            malformed: get(&self.malformed),
            rate_limited: get(&self.rate_limited),
            errors: get(&self.errors),
        }
    }

    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl std::fmt::Display for CounterSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "received={} answered={} malformed={} rate_limited={} errors={}",
            self.received, self.answered, self.malformed, self.rate_limited, self.errors
        )
    }
}

/// Token bucket per source address. A phone sends a few SNTP queries a
/// minute and a burst of syslog at boot; a source sending far more is
/// broken or hostile and is served no faster than the refill rate. The
/// table holds at most `max_sources`; when it is full of active sources a
/// new one is refused (counted as rate limited) rather than growing memory.
#[derive(Debug)]
pub struct SourceLimiter {
    burst: f64,
    per_sec: f64,
    max_sources: usize,
    buckets: HashMap<IpAddr, (f64, Instant)>,
    last_sweep: Option<Instant>,
}

impl SourceLimiter {
    pub fn new(burst: u32, per_sec: f64, max_sources: usize) -> SourceLimiter {
        SourceLimiter {
            burst: f64::from(burst.max(1)),
            per_sec: per_sec.max(0.001),
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
            last_sweep: None,
        }
    }

    /// True when `source` may be served now (and takes a token).
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        let (burst, per_sec) = (self.burst, self.per_sec);
        let refill = |tokens: f64, last: Instant| {
            (tokens + now.saturating_duration_since(last).as_secs_f64() * per_sec).min(burst)
        };
        if let Some((tokens, last)) = self.buckets.get_mut(&source) {
            let t = refill(*tokens, *last);
            *last = now.max(*last);
            if t >= 1.0 {
                *tokens = t - 1.0;
                return true;
            }
            *tokens = t;
            return false;
        }
        if self.buckets.len() >= self.max_sources {
            // Sweep at most once a second, so a flood of new sources costs
            // a lookup each, not a table scan each.
            let due = self
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
            if due {
                self.last_sweep = Some(now);
                // A full bucket says nothing a fresh one would not: forget it.
                self.buckets
                    .retain(|_, (tokens, last)| refill(*tokens, *last) < burst);
            }
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        self.buckets.insert(source, (burst - 1.0, now));
        true
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// A UDP socket on `listen`; with `interface`, it only sees and sends on
/// that interface (SO_BINDTODEVICE), like the DHCP sockets. `what` names
/// the service in errors.
pub fn bind_udp(
    listen: SocketAddr,
    interface: Option<&str>,
    what: &str,
) -> anyhow::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    if let Some(iface) = interface {
        socket
            .bind_device(Some(iface.as_bytes()))
            .with_context(|| {
                format!("cannot bind {what} to interface {iface} (needs root or CAP_NET_RAW)")
            })?;
    }
    // Room for a burst of phones booting together; the kernel drops beyond it.
    let _ = socket.set_recv_buffer_size(1 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&listen.into()).map_err(|e| {
        let port = listen.port();
        let hint = match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                format!("ports below 1024 need root or CAP_NET_BIND_SERVICE; or choose another port for {what}")
            }
            std::io::ErrorKind::AddrInUse => format!(
                "another program holds UDP port {port}: find it with `ss -ulpn 'sport = :{port}'` and stop it, \
                 or turn {what} off in the config"
            ),
            _ => "check the address".to_owned(),
        };
        anyhow::anyhow!("cannot listen for {what} on {listen}: {e}; {hint}")
    })?;
    Ok(UdpSocket::from_std(socket.into())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(3, 1.0, 10);
        assert!((0..3).all(|_| l.allow(ip(1), t0)));
        assert!(!l.allow(ip(1), t0));
        assert!(l.allow(ip(2), t0), "other sources are not affected");
        assert!(!l.allow(ip(1), t0 + Duration::from_millis(500)));
        assert!(l.allow(ip(1), t0 + Duration::from_millis(1600)));
    }

    #[test]
    fn table_stays_bounded_and_forgets_idle_sources() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(2, 1.0, 100);
        for n in 0..10_000 {
            l.allow(ip(n), t0);
        }
        assert_eq!(l.tracked(), 100);
        assert!(!l.allow(ip(50_000), t0), "full of active sources");
        // Two seconds later every bucket is full again: swept on demand.
        assert!(l.allow(ip(50_000), t0 + Duration::from_secs(2)));
        assert_eq!(l.tracked(), 1);
    }
}
