//! Entry points for fuzzers: arbitrary bytes in, no panic out.

use crate::{parse, Message, MAX_TEXT};

/// Parses `data` and checks the promises the crate doc makes: codes in
/// range, every field capped, and parsing the same bytes twice gives the
/// same message.
pub fn message(data: &[u8]) -> Message {
    let m = parse(data);
    assert!(m.facility <= 23, "facility {}", m.facility);
    assert!(m.text.chars().count() <= MAX_TEXT);
    for (f, max) in [
        (&m.hostname, 255),
        (&m.app_name, 48),
        (&m.proc_id, 128),
        (&m.msg_id, 32),
        (&m.structured_data, 1024),
        (&m.timestamp, 64),
    ] {
        if let Some(v) = f {
            assert!(v.chars().count() <= max, "{v:?} longer than {max}");
        }
    }
    assert_eq!(parse(data), m, "parsing is not deterministic");
    m
}

#[cfg(test)]
mod tests {
    /// Seeded smoke run of the fuzz entry over random bytes and mutations of
    /// real messages.
    #[test]
    fn message_entry_never_panics() {
        let seeds: [&[u8]; 4] = [
            b"<13>1 2026-11-26T05:10:00Z h a 1 m [x@1 k=\"v\\\"]\"] text",
            b"<13>Nov 26 05:10:00 host tag[1]: text",
            b"<190>CFG: text",
            b"no pri at all",
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut structured = 0;
        for i in 0..20_000usize {
            let mut data = seeds[i % seeds.len()].to_vec();
            for _ in 0..(next() % 6) {
                let pos = (next() as usize) % (data.len() + 1);
                match next() % 3 {
                    0 => data.insert(pos, next() as u8),
                    1 if pos < data.len() => {
                        data.remove(pos);
                    }
                    _ if pos < data.len() => data[pos] = next() as u8,
                    _ => {}
                }
            }
            if i % 7 == 0 {
                data = (0..(next() % 300)).map(|_| next() as u8).collect();
            }
            if super::message(&data).structured_data.is_some() {
                structured += 1;
            }
        }
        assert!(
            structured > 100,
            "mutations rarely reach structured data: {structured}"
        );
    }
}
