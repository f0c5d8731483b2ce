//! Scratch directories and lease builders shared by the store's tests.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use store::{LeaseRecord, QuarantineRecord};

/// A directory under the system temp dir, removed on drop. The name holds
/// the test name and the process id, so parallel tests and runs never meet.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("phoneboot-store-{test}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("leases.db")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lease number `i`: a distinct MAC and address (10.0.0.0 + i) per `i`.
pub fn lease(i: u32) -> LeaseRecord {
    let b = i.to_be_bytes();
    LeaseRecord {
        mac: [0x02, 0x00, b[0], b[1], b[2], b[3]],
        client_id: None,
        ip: ip(i),
        expires_unix_ms: 1_700_000_000_000 + i64::from(i),
        model: Some("CP-7960G".into()),
        hostname: Some(format!("SEP02{i:010X}")),
    }
}

pub fn ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)).wrapping_add(i))
}

pub fn mac(i: u32) -> [u8; 6] {
    lease(i).mac
}

pub fn quarantine(i: u32, until_unix_ms: i64) -> QuarantineRecord {
    QuarantineRecord {
        ip: ip(i),
        until_unix_ms,
        mac: Some(mac(i)),
    }
}
