//! Runs the fuzz entry points over seeded pseudo-random and mutated valid
//! inputs, so every `cargo test` does a little fuzzing. Long runs use
//! cargo-fuzz (see the README).

// Tests need one real Instant as the origin; time then only moves virtually.
#![allow(clippy::disallowed_methods)]

use tftp::fuzzing;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const SEEDS: &[&[u8]] = &[
    b"\x00\x01SEP001122334455.cnf.xml\x00octet\x00blksize\x001428\x00tsize\x000\x00",
    b"\x00\x01a\x00netascii\x00windowsize\x0016\x00timeout\x005\x00",
    b"\x00\x02x\x00octet\x00",
    b"\x00\x03\x00\x01data",
    b"\x00\x04\x00\x00\xff\x00\x04\x00\x01\xff\x00\x04\x00\x02",
    b"\x00\x05\x00\x08no\x00",
    b"\x00\x06blksize\x00512\x00",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..(rng.next() % 4 + 1) {
        let r = rng.next();
        match r % 4 {
            0 if !v.is_empty() => {
                let i = (r >> 8) as usize % v.len();
                v[i] = (r >> 32) as u8;
            }
            1 => v.push((r >> 8) as u8),
            2 if !v.is_empty() => {
                let i = (r >> 8) as usize % v.len();
                v.truncate(i);
            }
            _ => {
                let i = if v.is_empty() {
                    0
                } else {
                    (r >> 8) as usize % v.len()
                };
                v.insert(i, 0);
            }
        }
    }
    v
}

#[test]
fn packet_and_transfer_survive_random_input() {
    let seed = 0x5eed_7f7f_u64;
    let start = std::time::Instant::now();
    let mut rng = Rng(seed);
    for i in 0..20_000 {
        let input = if i % 2 == 0 {
            let base = SEEDS[(rng.next() as usize) % SEEDS.len()];
            mutate(&mut rng, base)
        } else {
            let len = (rng.next() % 64) as usize;
            (0..len).map(|_| rng.next() as u8).collect()
        };
        let result = std::panic::catch_unwind(|| {
            fuzzing::packet(&input);
            fuzzing::transfer(start, &input);
        });
        assert!(
            result.is_ok(),
            "seed {seed:#x} iteration {i}: input {input:?}"
        );
    }
}
