//! tftp-load against an in-process server built on the `tftp` crate's
//! sans-IO core (the one phoneboot drives), with injected packet loss.

// Tests drive a real clock.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tftp_load::{Config, Expect};
use tokio::net::UdpSocket;

/// Decides, per transfer, whether the n-th packet the server sends (0-based,
/// retransmissions counted) is dropped.
type DropFn = fn(u64, &[u8]) -> bool;

fn keep_all(_: u64, _: &[u8]) -> bool {
    false
}

async fn mock_server(files: HashMap<String, Bytes>, drop: DropFn) -> SocketAddr {
    let listen = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = listen.local_addr().unwrap();
    let files = Arc::new(files);
    let policy = Arc::new(tftp::Policy {
        initial_rto: Duration::from_millis(100),
        ..tftp::Policy::default()
    });
    tokio::spawn(async move {
        let mut server = tftp::Server::new(tftp::Limits {
            max_transfers: 1000,
            max_per_client: 1000,
        });
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, peer) = listen.recv_from(&mut buf).await.unwrap();
            let tftp::Incoming::Accept(req, slot) = server.handle_request(peer, &buf[..n]) else {
                continue;
            };
            let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            sock.connect(peer).await.unwrap();
            let Some(content) = files.get(&req.path).cloned() else {
                let pkt = tftp::wire::error_packet(tftp::ErrorCode::FileNotFound, "no such file");
                sock.send(&pkt).await.unwrap();
                continue;
            };
            let policy = policy.clone();
            tokio::spawn(async move {
                let mut t = tftp::Transfer::new(Instant::now(), &req, content, &policy);
                let (mut out, mut inbound, mut sent) = (Vec::new(), vec![0u8; 2048], 0u64);
                loop {
                    while t.poll_transmit(&mut out) {
                        if !drop(sent, &out) {
                            let _ = sock.send(&out).await;
                        }
                        sent += 1;
                    }
                    if t.is_finished() {
                        break;
                    }
                    let deadline = t.poll_timeout().unwrap();
                    tokio::select! {
                        r = sock.recv(&mut inbound) => {
                            if let Ok(n) = r { t.handle_datagram(Instant::now(), &inbound[..n]) }
                        }
                        _ = tokio::time::sleep_until(deadline.into()) => t.handle_timeout(Instant::now()),
                    }
                }
                std::mem::drop(slot);
            });
        }
    });
    addr
}

fn random_bytes(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

fn expect(data: &[u8]) -> Expect {
    Expect {
        size: Some(data.len() as u64),
        sha256: Some(Sha256::digest(data).into()),
    }
}

fn config(server: SocketAddr, file: &str, data: &[u8]) -> Config {
    let mut cfg = Config::new(server, file);
    cfg.bind = "127.0.0.1".parse().unwrap();
    cfg.timeout = Duration::from_millis(200);
    cfg.expect = expect(data);
    cfg
}

#[tokio::test]
async fn lockstep_without_options_and_exact_multiple_of_the_block() {
    let small = random_bytes(3000, 1);
    let exact = random_bytes(512 * 4, 2);
    let files = HashMap::from([
        ("small.bin".to_owned(), small.clone()),
        ("exact.bin".to_owned(), exact.clone()),
    ]);
    let addr = mock_server(files, keep_all).await;
    for (name, data) in [("small.bin", &small), ("exact.bin", &exact)] {
        let cfg = config(addr, name, data);
        let r = tftp_load::run_async(cfg).await;
        assert!(r.ok(), "{name}: {r:?}");
        assert_eq!(r.bytes, data.len() as u64);
        assert_eq!(r.negotiated, Some((512, 1)));
        assert_eq!(r.sha256_ok, Some(true));
        assert_eq!((r.timeouts, r.dup_data), (0, 0));
    }
}

#[tokio::test]
async fn windowed_concurrent_with_tsize_and_block_number_rollover() {
    // blksize 8: 70,000 blocks, so block numbers wrap past 65535.
    let big = random_bytes(8 * 70_000 + 3, 3);
    let mid = random_bytes(200_000, 4);
    let files = HashMap::from([
        ("big.bin".to_owned(), big.clone()),
        ("mid.bin".to_owned(), mid.clone()),
    ]);
    let addr = mock_server(files, keep_all).await;

    let mut cfg = config(addr, "big.bin", &big);
    cfg.blksize = Some(8);
    cfg.windowsize = Some(64);
    cfg.tsize = true;
    let r = tftp_load::run_async(cfg).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.negotiated, Some((8, 64)));
    assert_eq!(r.sha256_ok, Some(true));

    let mut cfg = config(addr, "mid.bin", &mid);
    cfg.blksize = Some(1428);
    cfg.windowsize = Some(16);
    cfg.concurrency = 20;
    cfg.transfers = Some(60);
    let r = tftp_load::run_async(cfg).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.transfers_ok, 60);
    assert_eq!(r.bytes, 60 * mid.len() as u64);
    assert_eq!(r.latencies_ms.len(), 60);
}

/// Drops the first send of DATA block 5 and of the OACK: the client must
/// notice the gap, re-ACK block 4 once, and time out waiting for the OACK.
fn lose_oack_and_block_5(n: u64, pkt: &[u8]) -> bool {
    let first_oack = n == 0 && pkt.starts_with(&[0, 6]);
    let block_5 = pkt.starts_with(&[0, 3, 0, 5]) && n < 8;
    first_oack || block_5
}

#[tokio::test]
async fn loss_in_a_window_is_recovered() {
    let data = random_bytes(50_000, 5);
    let addr = mock_server(
        HashMap::from([("f.bin".to_owned(), data.clone())]),
        lose_oack_and_block_5,
    )
    .await;
    let mut cfg = config(addr, "f.bin", &data);
    cfg.blksize = Some(1024);
    cfg.windowsize = Some(8);
    let r = tftp_load::run_async(cfg).await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.sha256_ok, Some(true));
    // Blocks 6, 7, 8 of the first window arrive after the gap.
    assert!(r.dup_data >= 1, "{r:?}");
    // The lost OACK cost a timeout somewhere (ours or the server's).
    assert_eq!(r.bytes, data.len() as u64);
}

#[tokio::test]
async fn errors_and_wrong_digest_are_reported() {
    let data = random_bytes(5000, 6);
    let addr = mock_server(
        HashMap::from([("f.bin".to_owned(), data.clone())]),
        keep_all,
    )
    .await;

    let r = tftp_load::run_async(config(addr, "missing.bin", &data)).await;
    assert_eq!((r.transfers_ok, r.transfers_failed), (0, 1));
    assert!(!r.ok());
    let e = r.first_error.unwrap();
    assert!(
        e.contains("server error 1") && e.contains("no such file"),
        "{e}"
    );

    let mut cfg = config(addr, "f.bin", &data);
    cfg.expect.sha256 = Some([0; 32]);
    let r = tftp_load::run_async(cfg).await;
    assert_eq!(r.transfers_ok, 1);
    assert_eq!(r.sha256_ok, Some(false));
    assert!(!r.ok());

    let mut cfg = config(addr, "f.bin", &data);
    cfg.expect.size = Some(4999);
    let r = tftp_load::run_async(cfg).await;
    assert_eq!(r.transfers_failed, 1);
    assert!(r.first_error.unwrap().contains("expected 4999"));
}

#[tokio::test]
async fn duration_mode_stops_starting_transfers() {
    let data = random_bytes(100_000, 7);
    let addr = mock_server(
        HashMap::from([("f.bin".to_owned(), data.clone())]),
        keep_all,
    )
    .await;
    let mut cfg = config(addr, "f.bin", &data);
    cfg.blksize = Some(1428);
    cfg.concurrency = 4;
    cfg.duration = Some(Duration::from_millis(600));
    cfg.warmup = Duration::from_millis(200);
    let r = tftp_load::run_async(cfg).await;
    assert!(r.ok(), "{r:?}");
    assert!(r.transfers_ok >= 4, "{r:?}");
    assert!(r.steady_bytes > 0 && r.steady_bytes < r.bytes, "{r:?}");
    let s = r.steady.as_secs_f64();
    assert!((0.3..0.5).contains(&s), "steady window {s}");
    let json = r.to_json(&Config::new(addr, "f.bin"));
    assert_eq!(json["transfers_ok"], r.transfers_ok);
}
