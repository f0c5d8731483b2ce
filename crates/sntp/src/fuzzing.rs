//! Entry points for fuzzers: arbitrary bytes in, no panic out.

use std::time::Duration;

use crate::{reply, ClockStatus, Header, NtpTimestamp, Policy, Request};

/// Parses `data` as a header (parse → emit → parse must round-trip) and,
/// when it is a client request, builds both kinds of reply and checks the
/// fields RFC 4330 fixes. Returns whether a reply was built.
pub fn packet(data: &[u8]) -> bool {
    if let Ok(h) = Header::parse(data) {
        let again = Header::parse(&h.emit());
        assert_eq!(again, Ok(h), "parse → emit → parse changed the header");
    }
    let Ok(request) = Request::parse(data) else {
        return false;
    };
    let now = NtpTimestamp::from_unix(Duration::from_secs(1_700_000_000));
    for host_is_reference in [false, true] {
        let r = reply(
            &request,
            now,
            now,
            &ClockStatus::unsynchronised(),
            &Policy { host_is_reference },
        );
        assert_eq!(r.mode, 4);
        assert_eq!(r.version, request.version);
        assert_eq!(r.originate, request.transmit);
        assert_eq!(Header::parse(&r.emit()), Ok(r));
    }
    true
}

#[cfg(test)]
mod tests {
    /// Seeded smoke run of the fuzz entry: random and mutated requests.
    #[test]
    fn packet_entry_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut answered = 0;
        for i in 0..20_000u32 {
            let len = (next() % 80) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 && data.len() >= 48 {
                // Half of them look like client requests of some version.
                data[0] = (data[0] & 0xf8) | 3;
            }
            if super::packet(&data) {
                answered += 1;
            }
        }
        assert!(
            answered > 1000,
            "too few inputs reached reply(): {answered}"
        );
    }
}
