//! Load balancing between servers that share one lease store, in the
//! manner of RFC 3074: every client hashes to a bucket, and each bucket
//! belongs to exactly one of the live servers, so exactly one answers it.
//! The servers agree on who is live (the binary learns it from the store's
//! heartbeat rows) and on their order; nothing else is exchanged.
//!
//! The hash is FNV-1a over the client identifier (option 61) when the
//! client sends one, else over the hardware address, so a client keeps its
//! server across requests. It is not RFC 3074's Pearson hash: phoneboot
//! balances only with itself.

use crate::config::Mac;

/// Which part of the clients this server answers: bucket `index` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    index: usize,
    of: usize,
}

impl Default for Share {
    fn default() -> Self {
        Share::ALL
    }
}

impl Share {
    /// Every client: a server alone.
    pub const ALL: Share = Share { index: 0, of: 1 };

    /// Part `index` of `of` (`None` unless `index < of`).
    pub fn new(index: usize, of: usize) -> Option<Share> {
        (index < of).then_some(Share { index, of })
    }

    /// This server's position among the live servers.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many servers share the clients.
    pub fn of(&self) -> usize {
        self.of
    }

    /// Whether the client with this address and identifier is ours.
    pub fn owns(&self, mac: Mac, client_id: Option<&[u8]>) -> bool {
        if self.of <= 1 {
            return true;
        }
        let b = usize::try_from(bucket(mac, client_id)).unwrap_or(usize::MAX);
        b % self.of == self.index
    }
}

/// The client's bucket: FNV-1a (32 bit) of its identifier or address.
pub fn bucket(mac: Mac, client_id: Option<&[u8]>) -> u32 {
    let bytes: &[u8] = match client_id {
        Some(id) if !id.is_empty() => id,
        _ => &mac.0,
    };
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_has_exactly_one_server_and_the_split_is_even() {
        for of in 1..=4 {
            let shares: Vec<Share> = (0..of).map(|i| Share::new(i, of).unwrap()).collect();
            let mut counts = vec![0usize; of];
            for n in 0..4000u32 {
                let b = n.to_be_bytes();
                let mac = Mac([0x00, 0x1e, 0x4a, b[1], b[2], b[3]]);
                let owners: Vec<usize> = shares
                    .iter()
                    .filter(|s| s.owns(mac, None))
                    .map(Share::index)
                    .collect();
                assert_eq!(owners.len(), 1, "{mac} in {of}: {owners:?}");
                counts[owners[0]] += 1;
            }
            for c in &counts {
                assert!(*c > 4000 / of * 8 / 10, "uneven split {counts:?}");
            }
        }
        assert_eq!(Share::new(2, 2), None);
    }

    #[test]
    fn the_client_identifier_decides_when_present() {
        let a = Mac([0, 1, 2, 3, 4, 5]);
        let b = Mac([9, 9, 9, 9, 9, 9]);
        assert_eq!(bucket(a, Some(b"\x01phone")), bucket(b, Some(b"\x01phone")));
        assert_eq!(bucket(a, Some(b"")), bucket(a, None), "empty id: the MAC");
        assert_ne!(bucket(a, None), bucket(b, None));
    }
}
