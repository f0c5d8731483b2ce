//! tftp-load: a TFTP download load generator for benchmarks.
//!
//! It runs `concurrency` workers; each downloads the same file over and over
//! (a fresh socket, so a fresh TID, per transfer) until the transfer count or
//! the duration is reached. The hot path costs one `recv` per DATA block and
//! one `send` per ACK, on a connected socket, and one timer per transfer that
//! is re-armed lazily (only when it fires), so the client stays cheap next to
//! the server it measures.
//!
//! Every transfer's size is checked (against the expected size and the
//! server's `tsize`); the first transfer is also hashed with SHA-256 and
//! compared with the expected digest.
//!
//! Receiving follows RFC 7440: ACK after `windowsize` in-order blocks or the
//! last block; on an out-of-order or duplicate block, ACK the last in-order
//! block once (so the server restarts the window from the gap); on a timeout,
//! resend the last ACK (or the RRQ).

use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tftp::wire::{RawRequest, Repr, RequestKind};
use tokio::net::UdpSocket;

/// What the downloaded file must look like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// Every transfer must deliver exactly this many bytes.
    pub size: Option<u64>,
    /// The first transfer's SHA-256.
    pub sha256: Option<[u8; 32]>,
}

impl Expect {
    /// The size and digest of a local copy of the served file.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Expect> {
        let data = std::fs::read(path)?;
        Ok(Expect {
            size: Some(data.len() as u64),
            sha256: Some(Sha256::digest(&data).into()),
        })
    }
}

/// One load run.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: SocketAddr,
    pub file: String,
    /// `blksize` option to request; `None` sends none (512-byte blocks).
    pub blksize: Option<u16>,
    /// `windowsize` option to request (RFC 7440); `None` sends none.
    pub windowsize: Option<u16>,
    /// Ask for `tsize` and check it against the bytes received.
    pub tsize: bool,
    /// Transfers in flight at once.
    pub concurrency: usize,
    /// Stop after this many transfers in total.
    pub transfers: Option<u64>,
    /// Stop starting transfers after this long (running ones finish).
    pub duration: Option<Duration>,
    /// Bytes received before this point are left out of the steady rate.
    pub warmup: Duration,
    /// Retransmission timeout (RRQ or last ACK resent).
    pub timeout: Duration,
    /// Consecutive timeouts before a transfer counts as failed.
    pub retries: u32,
    pub expect: Expect,
    /// Local address the client sockets bind to.
    pub bind: IpAddr,
    /// OS threads running workers (1: a single-threaded event loop).
    pub threads: usize,
    /// Free text copied into the report.
    pub label: Option<String>,
}

impl Config {
    /// A config with the defaults of the command line.
    pub fn new(server: SocketAddr, file: impl Into<String>) -> Config {
        Config {
            server,
            file: file.into(),
            blksize: None,
            windowsize: None,
            tsize: false,
            concurrency: 1,
            transfers: None,
            duration: None,
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            retries: 5,
            expect: Expect::default(),
            bind: match server {
                SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
                SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
            },
            threads: 1,
            label: None,
        }
    }
}

/// The result of a run; [`Report::to_json`] is the machine-readable line.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub transfers_ok: u64,
    pub transfers_failed: u64,
    /// In-order payload bytes received by all transfers (failed ones too).
    pub bytes: u64,
    /// From the first RRQ to the end of the last transfer.
    pub wall: Duration,
    /// Bytes received between the end of the warm-up and the end of the
    /// duration (duration mode), or over the whole run.
    pub steady_bytes: u64,
    pub steady: Duration,
    /// Client timeouts, each followed by a resent RRQ or ACK.
    pub timeouts: u64,
    /// DATA blocks received out of order or twice: the server's retransmits
    /// as the client saw them.
    pub dup_data: u64,
    /// What the first completed transfer negotiated (blksize, windowsize).
    pub negotiated: Option<(u16, u16)>,
    /// `Some(true/false)` once the first transfer was hashed.
    pub sha256_ok: Option<bool>,
    pub sha256: Option<String>,
    /// Per-transfer duration of successful transfers, sorted (ms).
    pub latencies_ms: Vec<f64>,
    pub first_error: Option<String>,
}

impl Report {
    pub fn mb_per_s(&self) -> f64 {
        rate(self.bytes, self.wall)
    }

    pub fn steady_mb_per_s(&self) -> f64 {
        rate(self.steady_bytes, self.steady)
    }

    /// True when every transfer succeeded and the digest (if checked) matched.
    pub fn ok(&self) -> bool {
        self.transfers_failed == 0 && self.transfers_ok > 0 && self.sha256_ok != Some(false)
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.latencies_ms.len();
        if n == 0 {
            return None;
        }
        let i = ((n - 1) as f64 * p).round() as usize;
        self.latencies_ms.get(i).copied()
    }

    /// One JSON object (MB = 10^6 bytes).
    pub fn to_json(&self, cfg: &Config) -> serde_json::Value {
        let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
        serde_json::json!({
            "label": cfg.label,
            "server": cfg.server.to_string(),
            "file": cfg.file,
            "blksize": cfg.blksize,
            "windowsize": cfg.windowsize,
            "negotiated_blksize": self.negotiated.map(|n| n.0),
            "negotiated_windowsize": self.negotiated.map(|n| n.1),
            "concurrency": cfg.concurrency,
            "transfers_ok": self.transfers_ok,
            "transfers_failed": self.transfers_failed,
            "bytes": self.bytes,
            "wall_s": r3(self.wall.as_secs_f64()),
            "mb_s": r3(self.mb_per_s()),
            "steady_bytes": self.steady_bytes,
            "steady_s": r3(self.steady.as_secs_f64()),
            "steady_mb_s": r3(self.steady_mb_per_s()),
            "timeouts": self.timeouts,
            "dup_data": self.dup_data,
            "sha256_ok": self.sha256_ok,
            "sha256": self.sha256,
            "latency_p50_ms": self.percentile(0.5).map(r3),
            "latency_p99_ms": self.percentile(0.99).map(r3),
            "latency_max_ms": self.latencies_ms.last().copied().map(r3),
            "first_error": self.first_error,
        })
    }
}

fn rate(bytes: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        bytes as f64 / s / 1e6
    } else {
        0.0
    }
}

/// Counters every worker adds to.
#[derive(Default)]
struct Shared {
    next_index: AtomicU64,
    stop: AtomicBool,
    bytes: AtomicU64,
}

/// Per-worker tallies, merged at the end.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    timeouts: u64,
    dup_data: u64,
    negotiated: Option<(u16, u16)>,
    sha256: Option<[u8; 32]>,
    latencies_ms: Vec<f64>,
    first_error: Option<String>,
}

/// Runs the load on its own tokio runtime (current-thread when
/// `cfg.threads == 1`).
pub fn run(cfg: &Config) -> anyhow::Result<Report> {
    let rt = if cfg.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads)
            .enable_all()
            .build()?
    };
    Ok(rt.block_on(run_async(cfg.clone())))
}

/// Runs the load on the caller's runtime.
pub async fn run_async(cfg: Config) -> Report {
    let cfg = Arc::new(cfg);
    let shared = Arc::new(Shared::default());
    let started = Instant::now();
    let steady = Arc::new(Mutex::new(None::<(Instant, u64, Instant, u64)>));

    // The clock: snapshots the byte counter after the warm-up and at the end
    // of the duration, then tells workers to stop starting transfers.
    let clock = cfg.duration.map(|d| {
        let (shared, steady) = (shared.clone(), steady.clone());
        let warmup = cfg.warmup.min(d);
        tokio::spawn(async move {
            tokio::time::sleep_until((started + warmup).into()).await;
            let (t0, b0) = (Instant::now(), shared.bytes.load(Ordering::Relaxed));
            tokio::time::sleep_until((started + d).into()).await;
            let (t1, b1) = (Instant::now(), shared.bytes.load(Ordering::Relaxed));
            shared.stop.store(true, Ordering::Relaxed);
            *steady.lock().unwrap_or_else(|e| e.into_inner()) = Some((t0, b0, t1, b1));
        })
    });

    let workers: Vec<_> = (0..cfg.concurrency.max(1))
        .map(|_| tokio::spawn(worker(cfg.clone(), shared.clone())))
        .collect();
    let mut report = Report::default();
    let mut sha = None;
    for w in workers {
        let t = match w.await {
            Ok(t) => t,
            Err(e) => Tally {
                failed: 1,
                first_error: Some(format!("worker panicked: {e}")),
                ..Tally::default()
            },
        };
        report.transfers_ok += t.ok;
        report.transfers_failed += t.failed;
        report.timeouts += t.timeouts;
        report.dup_data += t.dup_data;
        report.negotiated = report.negotiated.or(t.negotiated);
        report.latencies_ms.extend(t.latencies_ms);
        if report.first_error.is_none() {
            report.first_error = t.first_error;
        }
        sha = sha.or(t.sha256);
    }
    let end = Instant::now();
    if let Some(c) = clock {
        c.abort();
    }
    report.wall = end - started;
    report.bytes = shared.bytes.load(Ordering::Relaxed);
    match *steady.lock().unwrap_or_else(|e| e.into_inner()) {
        Some((t0, b0, t1, b1)) if t1 > t0 => {
            report.steady = t1 - t0;
            report.steady_bytes = b1 - b0;
        }
        _ => {
            report.steady = report.wall;
            report.steady_bytes = report.bytes;
        }
    }
    report.latencies_ms.sort_by(f64::total_cmp);
    if let Some(got) = sha {
        report.sha256 = Some(hex::encode(got));
        report.sha256_ok = cfg.expect.sha256.map(|want| want == got);
    }
    report
}

async fn worker(cfg: Arc<Config>, shared: Arc<Shared>) -> Tally {
    let mut tally = Tally::default();
    let mut buf = vec![0u8; usize::from(cfg.blksize.unwrap_or(512).max(512)) + 4];
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let index = shared.next_index.fetch_add(1, Ordering::Relaxed);
        if cfg.transfers.is_some_and(|n| index >= n) {
            break;
        }
        // Without a count or a duration, each worker does one transfer.
        if cfg.transfers.is_none() && cfg.duration.is_none() && index >= cfg.concurrency as u64 {
            break;
        }
        let t0 = Instant::now();
        let mut dl = Download::new(index == 0);
        let result = dl.fetch(&cfg, &shared, &mut buf).await;
        dl.complete = result.is_ok();
        match result {
            Ok(()) => {
                tally.ok += 1;
                tally.latencies_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                tally.negotiated = tally.negotiated.or(Some((dl.blksize, dl.window)));
            }
            Err(e) => {
                tally.failed += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some(format!("transfer {index}: {e}"));
                }
            }
        }
        tally.timeouts += dl.timeouts;
        tally.dup_data += dl.dup_data;
        if let (Some(h), true) = (dl.hasher.take(), dl.complete) {
            tally.sha256 = Some(h.finalize().into());
        }
    }
    tally
}

/// One download's receive state.
struct Download {
    blksize: u16,
    window: u16,
    /// The next in-order block, counted from 1 without wrapping.
    next: u64,
    in_window: u16,
    /// An ACK for the last in-order block was already sent for the current
    /// gap; cleared when the gap closes.
    nak_sent: bool,
    received: u64,
    tsize: Option<u64>,
    hasher: Option<Sha256>,
    timeouts: u64,
    dup_data: u64,
    /// The whole file arrived and passed the size checks.
    complete: bool,
}

fn ack(block: u16) -> [u8; 4] {
    let b = block.to_be_bytes();
    [0, 4, b[0], b[1]]
}

impl Download {
    fn new(hash: bool) -> Download {
        Download {
            blksize: 512,
            window: 1,
            next: 1,
            in_window: 0,
            nak_sent: false,
            received: 0,
            tsize: None,
            hasher: hash.then(Sha256::new),
            timeouts: 0,
            dup_data: 0,
            complete: false,
        }
    }

    fn rrq(cfg: &Config) -> Vec<u8> {
        let (b, w) = (
            cfg.blksize.map(|b| b.to_string()),
            cfg.windowsize.map(|w| w.to_string()),
        );
        let mut options = Vec::new();
        if let Some(b) = &b {
            options.push(("blksize", b.as_str()));
        }
        if cfg.tsize {
            options.push(("tsize", "0"));
        }
        if let Some(w) = &w {
            options.push(("windowsize", w.as_str()));
        }
        let mut out = Vec::with_capacity(64 + cfg.file.len());
        Repr::Request(RawRequest {
            kind: RequestKind::Read,
            filename: &cfg.file,
            mode: "octet",
            options,
        })
        .emit(&mut out);
        out
    }

    async fn fetch(&mut self, cfg: &Config, shared: &Shared, buf: &mut [u8]) -> Result<(), String> {
        let sock = UdpSocket::bind(SocketAddr::new(cfg.bind, 0))
            .await
            .map_err(|e| format!("bind: {e}"))?;
        let rrq = Self::rrq(cfg);

        // Phase 1: the RRQ, until the first answer names the server's TID.
        let mut tries = 0;
        let done = loop {
            sock.send_to(&rrq, cfg.server)
                .await
                .map_err(|e| format!("send RRQ: {e}"))?;
            let got = tokio::time::timeout(cfg.timeout, async {
                loop {
                    match sock.recv_from(buf).await {
                        // Only the server's address may answer.
                        Ok((n, from)) if from.ip() == cfg.server.ip() => return Ok((n, from)),
                        Ok(_) => continue,
                        Err(e) => return Err(e),
                    }
                }
            })
            .await;
            let (n, from) = match got {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => return Err(format!("recv: {e}")),
                Err(_) => {
                    self.timeouts += 1;
                    tries += 1;
                    if tries > cfg.retries {
                        return Err(format!("no answer to the RRQ after {tries} tries"));
                    }
                    continue;
                }
            };
            match Repr::parse(&buf[..n]) {
                Ok(Repr::Oack { options }) => {
                    self.take_oack(&options)?;
                    sock.connect(from)
                        .await
                        .map_err(|e| format!("connect: {e}"))?;
                    self.send(&sock, ack(0)).await?;
                    break false;
                }
                Ok(Repr::Data { block: 1, data }) => {
                    // Options refused or none asked: RFC 1350 defaults.
                    sock.connect(from)
                        .await
                        .map_err(|e| format!("connect: {e}"))?;
                    let len = data.len();
                    break self.on_data(&sock, shared, 1, len, buf).await?;
                }
                Ok(Repr::Error { code, message }) => {
                    return Err(format!("server error {}: {message}", u16::from(code)))
                }
                Ok(other) => return Err(format!("unexpected first answer: {other:?}")),
                Err(e) => return Err(format!("unparsable first answer: {e}")),
            }
        };
        if !done {
            self.receive(cfg, shared, &sock, buf).await?;
        }

        if let Some(want) = cfg.expect.size {
            if self.received != want {
                return Err(format!("received {} bytes, expected {want}", self.received));
            }
        }
        if let Some(t) = self.tsize {
            if self.received != t {
                return Err(format!("received {} bytes, tsize said {t}", self.received));
            }
        }
        Ok(())
    }

    fn take_oack(&mut self, options: &[(&str, &str)]) -> Result<(), String> {
        for (k, v) in options {
            let bad = || format!("bad OACK value {k}={v}");
            match k.to_ascii_lowercase().as_str() {
                "blksize" => self.blksize = v.parse().map_err(|_| bad())?,
                "windowsize" => self.window = v.parse().map_err(|_| bad())?,
                "tsize" => self.tsize = Some(v.parse().map_err(|_| bad())?),
                _ => {}
            }
        }
        if self.blksize < 8 || self.window == 0 {
            return Err(format!(
                "OACK granted blksize {} windowsize {}",
                self.blksize, self.window
            ));
        }
        Ok(())
    }

    async fn send(&self, sock: &UdpSocket, pkt: [u8; 4]) -> Result<(), String> {
        match sock.send(&pkt).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Err("server's transfer port is closed".into())
            }
            // Anything else is a lost packet; the timers deal with it.
            Err(_) => Ok(()),
        }
    }

    /// Handles DATA `block` whose payload is `buf[4..4 + len]`. Returns true
    /// when the transfer is complete (final ACK sent).
    async fn on_data(
        &mut self,
        sock: &UdpSocket,
        shared: &Shared,
        block: u16,
        len: usize,
        buf: &[u8],
    ) -> Result<bool, String> {
        if block != self.next as u16 {
            self.dup_data += 1;
            if !self.nak_sent {
                self.nak_sent = true;
                self.in_window = 0;
                self.send(sock, ack((self.next - 1) as u16)).await?;
            }
            return Ok(false);
        }
        if len > usize::from(self.blksize) {
            return Err(format!(
                "block {} has {len} bytes, more than blksize {}",
                self.next, self.blksize
            ));
        }
        self.next += 1;
        self.nak_sent = false;
        self.received += len as u64;
        shared.bytes.fetch_add(len as u64, Ordering::Relaxed);
        if let Some(h) = &mut self.hasher {
            h.update(&buf[4..4 + len]);
        }
        if len < usize::from(self.blksize) {
            self.send(sock, ack(block)).await?;
            return Ok(true);
        }
        self.in_window += 1;
        if self.in_window >= self.window {
            self.in_window = 0;
            self.send(sock, ack(block)).await?;
        }
        Ok(false)
    }

    /// Phase 2: DATA blocks on the connected socket until the short one.
    async fn receive(
        &mut self,
        cfg: &Config,
        shared: &Shared,
        sock: &UdpSocket,
        buf: &mut [u8],
    ) -> Result<(), String> {
        let mut last_progress = Instant::now();
        let mut last_resend = last_progress;
        let mut tries = 0;
        // One timer per transfer, re-armed only when it fires: progress just
        // records the time, so the hot path never touches the timer wheel.
        let mut sleep = pin!(tokio::time::sleep(cfg.timeout));
        loop {
            tokio::select! {
                biased;
                r = sock.recv(buf) => {
                    let n = match r {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            return Err("server's transfer port is closed".into())
                        }
                        Err(e) => return Err(format!("recv: {e}")),
                    };
                    let prev = self.next;
                    match Repr::parse(&buf[..n]) {
                        Ok(Repr::Data { block, data }) => {
                            let len = data.len();
                            if self.on_data(sock, shared, block, len, buf).await? {
                                return Ok(());
                            }
                        }
                        Ok(Repr::Error { code, message }) => {
                            return Err(format!(
                                "server error {} after {} bytes: {message}",
                                u16::from(code),
                                self.received
                            ))
                        }
                        // A retransmitted OACK: our ACK 0 was lost.
                        Ok(Repr::Oack { .. }) if self.next == 1 => {
                            self.dup_data += 1;
                            self.send(sock, ack(0)).await?;
                        }
                        _ => {}
                    }
                    if self.next != prev {
                        last_progress = Instant::now();
                        tries = 0;
                    }
                }
                () = &mut sleep => {
                    let now = Instant::now();
                    let due = last_progress.max(last_resend) + cfg.timeout;
                    if now < due {
                        sleep.as_mut().reset(due.into());
                        continue;
                    }
                    self.timeouts += 1;
                    tries += 1;
                    if tries > cfg.retries {
                        return Err(format!(
                            "timed out after {} bytes ({tries} timeouts without progress)",
                            self.received
                        ));
                    }
                    self.in_window = 0;
                    self.nak_sent = false;
                    self.send(sock, ack((self.next - 1) as u16)).await?;
                    last_resend = now;
                    sleep.as_mut().reset((now + cfg.timeout).into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrq_carries_the_requested_options_in_order() {
        let mut cfg = Config::new("127.0.0.1:69".parse().unwrap(), "SEPAABBCC.cnf.xml");
        assert_eq!(
            Download::rrq(&cfg),
            b"\x00\x01SEPAABBCC.cnf.xml\x00octet\x00"
        );
        cfg.blksize = Some(1428);
        cfg.windowsize = Some(16);
        cfg.tsize = true;
        assert_eq!(
            Download::rrq(&cfg),
            b"\x00\x01SEPAABBCC.cnf.xml\x00octet\x00blksize\x001428\x00tsize\x000\x00windowsize\x0016\x00"
        );
    }

    #[test]
    fn oack_sets_what_was_granted_and_rejects_nonsense() {
        let mut d = Download::new(false);
        d.take_oack(&[("BLKSIZE", "1024"), ("tsize", "99"), ("windowsize", "8")])
            .unwrap();
        assert_eq!((d.blksize, d.window, d.tsize), (1024, 8, Some(99)));
        // Options the server leaves out keep RFC 1350 values.
        let mut d = Download::new(false);
        d.take_oack(&[("tsize", "5")]).unwrap();
        assert_eq!((d.blksize, d.window), (512, 1));
        assert!(Download::new(false).take_oack(&[("blksize", "x")]).is_err());
        assert!(Download::new(false)
            .take_oack(&[("windowsize", "0")])
            .is_err());
        assert_eq!(ack(0x1234), [0, 4, 0x12, 0x34]);
    }

    #[test]
    fn report_percentiles_and_rates() {
        let r = Report {
            bytes: 3_000_000,
            wall: Duration::from_secs(2),
            transfers_ok: 3,
            latencies_ms: vec![1.0, 2.0, 10.0],
            ..Report::default()
        };
        assert_eq!(r.mb_per_s(), 1.5);
        assert_eq!(r.percentile(0.5), Some(2.0));
        assert_eq!(r.percentile(0.99), Some(10.0));
        assert!(r.ok());
        let j = r.to_json(&Config::new("127.0.0.1:69".parse().unwrap(), "f"));
        assert_eq!(j["mb_s"], 1.5);
        assert_eq!(j["latency_max_ms"], 10.0);
        assert!(j["sha256_ok"].is_null());
    }
}
