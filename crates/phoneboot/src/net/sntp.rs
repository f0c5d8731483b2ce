//! The tokio side of SNTP: one UDP socket, the host clock and the kernel's
//! view of it (`adjtimex`); every decision is the `sntp` crate's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::net::listener::{Counters, SourceLimiter};

/// A phone polls every 64 s or so and retries a few times at boot.
const BURST: u32 = 8;
const PER_SECOND: f64 = 1.0;
const MAX_SOURCES: usize = 4096;

/// The host clock as now, as an NTP timestamp.
fn now_ntp() -> sntp::NtpTimestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    sntp::NtpTimestamp::from_unix(since)
}

/// What the kernel says about the system clock (synchronised, leap second,
/// error bounds), as chronyd/ntpd/timesyncd left it.
pub fn clock_status() -> sntp::ClockStatus {
    // SAFETY: `adjtimex` with `modes = 0` only reads; `tx` is a valid,
    // zeroed `timex` that the kernel fills in.
    let (state, tx) = unsafe {
        let mut tx: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut tx);
        (state, tx)
    };
    if state < 0 {
        return sntp::ClockStatus::unsynchronised();
    }
    let us = |v: libc::c_long| Duration::from_micros(u64::try_from(v).unwrap_or(u64::MAX));
    sntp::ClockStatus {
        synchronised: tx.status & libc::STA_UNSYNC == 0 && state != libc::TIME_ERROR,
        leap: match state {
            libc::TIME_INS => sntp::Leap::Insert,
            libc::TIME_DEL => sntp::Leap::Delete,
            _ => sntp::Leap::None,
        },
        max_error: us(tx.maxerror),
        est_error: us(tx.esterror),
        upstream_stratum: None,
    }
}

/// A one-line description of the host clock for the start-up message.
pub fn describe(status: &sntp::ClockStatus, policy: &sntp::Policy) -> String {
    if policy.host_is_reference {
        "the host clock is the reference (stratum 1, LOCL)".to_owned()
    } else if status.synchronised {
        format!(
            "the host clock is synchronised (max error {:?}); answering as stratum {}",
            status.max_error,
            sntp::ASSUMED_UPSTREAM_STRATUM + 1
        )
    } else {
        "the host clock is NOT synchronised: phones are told so (leap alarm, stratum 16) and will not \
         take the time. Synchronise the host (chrony, systemd-timesyncd), or set [time] \
         host_is_reference = true if this host is the network's clock"
            .to_owned()
    }
}

/// Answers SNTP requests on `socket` until shutdown.
pub async fn serve(
    socket: UdpSocket,
    policy: sntp::Policy,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut limiter = SourceLimiter::new(BURST, PER_SECOND, MAX_SOURCES);
    let mut buf = vec![0u8; 1024];
    loop {
        let (n, from): (usize, SocketAddr) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => { tracing::debug!("sntp recv: {e}"); continue; }
            },
            _ = shutdown.cancelled() => break,
        };
        let received = now_ntp();
        Counters::bump(&counters.received);
        // Parse first: garbage (from spoofable sources) never takes a
        // slot in the limiter's table.
        let request = match sntp::Request::parse(buf.get(..n).unwrap_or_default()) {
            Ok(r) => r,
            Err(e) => {
                Counters::bump(&counters.malformed);
                tracing::trace!("sntp {from}: ignored: {e}");
                continue;
            }
        };
        if !limiter.allow(from.ip(), Instant::now()) {
            Counters::bump(&counters.rate_limited);
            continue;
        }
        let status = clock_status();
        let reply = sntp::reply(&request, received, now_ntp(), &status, &policy);
        match socket.send_to(&reply.emit(), from).await {
            Ok(_) => Counters::bump(&counters.answered),
            Err(e) => {
                Counters::bump(&counters.errors);
                tracing::debug!("sntp: cannot answer {from}: {e}");
            }
        }
    }
    tracing::info!("sntp: {}", counters.snapshot());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_clock_status_is_readable() {
        // Whatever the host's state, the bounds are sane numbers.
        let s = clock_status();
        assert!(s.max_error <= Duration::from_secs(1000), "{s:?}");
        if !s.synchronised {
            let h = sntp::reply(
                &sntp::Request::parse(&[0x23; 48]).unwrap(),
                now_ntp(),
                now_ntp(),
                &s,
                &sntp::Policy::default(),
            );
            assert_eq!(h.leap, sntp::Leap::Alarm);
        }
    }
}
