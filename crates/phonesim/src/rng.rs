//! xorshift64: the seeded generator behind the simulated loss, so a failing
//! run can be repeated with its `--seed`.

pub(crate) use cisco::synth::XorShift64;

/// True with probability `p`.
pub(crate) fn chance(rng: &mut XorShift64, p: f64) -> bool {
    // 53 random bits as a uniform value in [0, 1).
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
}

/// A per-phone seed: the run's seed mixed with the phone's index.
pub(crate) fn phone_seed(seed: u64, index: usize) -> u64 {
    seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_follows_p() {
        let mut r = XorShift64::new(7);
        let hits = (0..10_000).filter(|_| chance(&mut r, 0.1)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| chance(&mut r, 0.0)));
        assert!((0..1000).all(|_| chance(&mut r, 1.0)));
        assert_ne!(phone_seed(1, 0), phone_seed(1, 1));
    }
}
