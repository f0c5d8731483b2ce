//! Seeded mutations of real-shaped bundles through `fuzzing::archive`:
//! never a panic, never a changed library after a failed import.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};

use library::fixtures::{Bundle, TempDir};
use library::{fuzzing, Format};

/// xorshift64, seeded per case so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(base: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = base.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 => {
                // Flip a bit.
                let i = rng.below(data.len());
                if let Some(b) = data.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => data.truncate(rng.below(data.len() + 1)),
            2 => {
                // Overwrite a run with one byte value.
                let at = rng.below(data.len());
                let len = rng.below(64);
                let v = rng.next() as u8;
                for b in data.iter_mut().skip(at).take(len) {
                    *b = v;
                }
            }
            3 => {
                let at = rng.below(data.len() + 1);
                let junk: Vec<u8> = (0..rng.below(32)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, junk);
            }
            _ => {
                // Set a likely length or size field to something huge.
                let at = rng.below(data.len().saturating_sub(4));
                if let Some(w) = data.get_mut(at..at + 4) {
                    w.copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
                }
            }
        }
    }
    data
}

#[test]
fn mutated_bundles_never_panic_or_damage_the_library() {
    let dir = TempDir::new("fuzzseeds").expect("tmp");
    let mut bases = Vec::new();
    for (load, format) in [
        ("SIP41.9-4-2SR3-1S", Format::Zip),
        ("SCCP42.9-4-2SR3-1S", Format::TarGz),
        ("P0S3-8-12-00", Format::Tar),
        ("SIP11.9-4-2SR1-1S", Format::CopSgn),
    ] {
        let path = Bundle::new(load)
            .expect("load")
            .image_size(300)
            .write(dir.path(), format)
            .expect("bundle");
        bases.push(fs::read(path).expect("read"));
    }
    let cases: u64 = std::env::var("PHONEBOOT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    for seed in 1..=cases {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let base = &bases[rng.below(bases.len())];
        let data = mutate(base, &mut rng);
        if catch_unwind(AssertUnwindSafe(|| fuzzing::archive(&data))).is_err() {
            panic!("fuzzing::archive failed for seed {seed} (replay with this seed)");
        }
    }
    // The unmutated bases import, and so does nothing at all.
    for b in &bases {
        fuzzing::archive(b);
    }
    fuzzing::archive(&[]);
}
