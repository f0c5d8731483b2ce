//! Entry points for fuzzers: each runs a parser on arbitrary bytes and checks
//! invariants, panicking only when an invariant breaks (which is a bug).
//!
//! cargo-fuzz targets call these; the unit test below runs them over seeded
//! random and mutated inputs so the invariants are exercised on every test run.
#![allow(clippy::panic, clippy::expect_used)]

use crate::files::{classify, FirmwareFile, TermFile};
use crate::load_name::{LoadName, Version};
use crate::loads::{check_file_name, Boundary, LoadsFile};
use crate::model::Model;
use crate::synth;

/// `.loads` parser: never panics; every accepted name is safe; the canonical
/// text of a parsed file parses to the same lists, with or without a header.
pub fn loads(data: &[u8]) {
    let Ok(parsed) = LoadsFile::parse(data) else {
        return;
    };
    assert!(!parsed.files().is_empty());
    for name in parsed.files() {
        assert_eq!(
            check_file_name(name.as_bytes()),
            Ok(()),
            "accepted {name:?}"
        );
    }
    if let Some(h) = parsed.header() {
        assert!(h.length() <= data.len());
    }
    let text = parsed.to_text();
    let plain = LoadsFile::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("canonical text {text:?} does not parse: {e}"));
    assert_same(&parsed, &plain);
    assert!(plain.header().is_none());
    let mut signed = synth::signed_header("fuzz.loads");
    signed.extend_from_slice(text.as_bytes());
    let signed = LoadsFile::parse(&signed).expect("signed canonical text parses");
    assert_same(&parsed, &signed);
    assert_eq!(
        signed.header().map(|h| h.boundary()),
        Some(Boundary::LengthTag)
    );
}

fn assert_same(a: &LoadsFile, b: &LoadsFile) {
    assert_eq!(a.files(), b.files());
    assert_eq!(a.comments(), b.comments());
    assert_eq!(a.hardware_comp(), b.hardware_comp());
    assert_eq!(a.properties(), b.properties());
}

/// Load-name parser (and the other name parsers): never panics; display gives
/// the input back; parsing is case-insensitive; the file a phone would request
/// classifies back to the same load; synth's `.loads` for it parses back.
pub fn load_name(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = classify(s);
    let _ = Model::from_name(s);
    if let Some(t) = TermFile::parse(s) {
        assert!(!t.models().is_empty());
        assert_eq!(TermFile::parse(&t.file_name()), Some(t));
    }
    if let Ok(v) = s.parse::<Version>() {
        assert_eq!(v.to_string().parse::<Version>(), Ok(v));
    }
    let Ok(load) = LoadName::parse(s) else {
        return;
    };
    assert_eq!(load.to_string(), s);
    let again = LoadName::parse(&load.to_string()).expect("display parses");
    assert_eq!(again, load);
    assert_eq!(again.version(), load.version());
    assert_eq!(again.cmp(&load), std::cmp::Ordering::Equal);
    let lower = LoadName::parse(&s.to_ascii_lowercase()).expect("lower case parses");
    assert_eq!(
        (lower.version(), lower.image_set(), lower.protocol()),
        (load.version(), load.image_set(), load.protocol())
    );
    if load.version().build() == 0 {
        assert_eq!(
            load.version().to_string().parse::<Version>(),
            Ok(load.version())
        );
    }
    match classify(&load.requested_file()) {
        Some(FirmwareFile::Loads(l)) | Some(FirmwareFile::Image { load: l, .. }) => {
            assert_eq!(l, load)
        }
        other => panic!("{} classified as {other:?}", load.requested_file()),
    }
    if let Ok(builder) = synth::LoadsBuilder::for_load(&load) {
        let f = LoadsFile::parse(&builder.build()).expect("synth .loads parses");
        assert_eq!(f.files(), synth::load_files(&load));
        for name in f.files() {
            assert!(
                classify(name).is_some(),
                "synth file {name:?} is not recognised"
            );
        }
    }
}

/// DHCP option 60 matcher: never panics; a match contains `PHONE` and the
/// model's number, and the model's own vendor class matches it back.
pub fn vendor_class(data: &[u8]) {
    let Some(model) = Model::from_vendor_class(data) else {
        return;
    };
    let upper = data.to_ascii_uppercase();
    assert!(upper.windows(5).any(|w| w == b"PHONE"));
    let digits = model.number().to_string();
    assert!(upper.windows(4).any(|w| w == digits.as_bytes()));
    assert_eq!(Model::from_vendor_class(model.vendor_class()), Some(model));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ImageSet, Protocol};
    use crate::rng::XorShift64;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// Set `CISCO_FUZZ_SEED` to rerun one failing seed.
    fn seeds(base: u64, count: u64) -> Vec<u64> {
        match std::env::var("CISCO_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
        {
            Some(seed) => vec![seed],
            None => (0..count).map(|i| base.wrapping_add(i)).collect(),
        }
    }

    fn mutate(rng: &mut XorShift64, input: &[u8]) -> Vec<u8> {
        let mut v = input.to_vec();
        const INTERESTING: [u8; 12] = [0, 1, 2, 13, 10, b'/', b'.', b'#', b'=', b' ', 0xff, 0x80];
        for _ in 0..=rng.below(4) {
            let len = v.len() as u64;
            let at = rng.below(len + 1) as usize;
            match rng.below(9) {
                // Kinds of change that often keep a name valid: digits and letter case.
                7 if at < v.len() && v[at].is_ascii_digit() => v[at] = b'0' + rng.below(10) as u8,
                8 if at < v.len() => v[at] ^= 0x20 * u8::from(v[at].is_ascii_alphabetic()),
                0 if !v.is_empty() => {
                    let i = rng.below(len) as usize;
                    v[i] ^= 1 << rng.below(8);
                }
                1 => v.insert(at, INTERESTING[rng.below(12) as usize]),
                2 if at < v.len() => {
                    v.remove(at);
                }
                3 => v.truncate(at),
                4 if at < v.len() => v[at] = INTERESTING[rng.below(12) as usize],
                5 => {
                    let start = rng.below(len + 1) as usize;
                    let end = (start + rng.below(16) as usize).min(v.len());
                    let chunk = v[start..end].to_vec();
                    v.splice(at..at, chunk);
                }
                _ => v.insert(at, rng.next_u64() as u8),
            }
        }
        v
    }

    fn random(rng: &mut XorShift64) -> Vec<u8> {
        let mut v = vec![0u8; rng.below(600) as usize];
        rng.fill(&mut v);
        if rng.below(2) == 0 {
            for b in &mut v {
                *b = b" #=./\r\nabcSIP0123456789-_"[(*b as usize) % 25];
            }
        }
        v
    }

    /// Runs `target` on 3000 seeded inputs; `accepts` counts how many took the
    /// long path, so a corpus that only exercises rejection fails the test.
    fn run(
        name: &str,
        corpus: &[Vec<u8>],
        target: fn(&[u8]),
        accepts: fn(&[u8]) -> bool,
        min_percent: usize,
        base: u64,
    ) {
        let mut accepted = 0usize;
        let mut total = 0usize;
        for seed in seeds(base, 3000) {
            let mut rng = XorShift64::new(seed);
            let input = if corpus.is_empty() || rng.below(4) == 0 {
                random(&mut rng)
            } else {
                let pick = &corpus[rng.below(corpus.len() as u64) as usize];
                mutate(&mut rng, pick)
            };
            if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
                panic!("fuzzing::{name} failed for seed {seed} (rerun with CISCO_FUZZ_SEED={seed}); input {input:02x?}");
            }
            accepted += usize::from(accepts(&input));
            total += 1;
        }
        if total > 1 {
            assert!(
                accepted * 100 >= total * min_percent,
                "fuzzing::{name}: only {accepted} of {total} inputs parsed"
            );
        }
    }

    fn loads_corpus() -> Vec<Vec<u8>> {
        let mut corpus = Vec::new();
        for set in ImageSet::ALL {
            for p in Protocol::ALL {
                let Some(load) = synth::newest_known_load(set, p) else {
                    continue;
                };
                if let Ok(b) = synth::LoadsBuilder::for_load(&load) {
                    corpus.push(b.build());
                    corpus.push(b.clone().unsigned().lf().build());
                }
            }
        }
        corpus
    }

    #[test]
    fn loads_target() {
        let corpus = loads_corpus();
        let parsed = corpus
            .iter()
            .filter(|c| LoadsFile::parse(c).is_ok())
            .count();
        assert_eq!(parsed, corpus.len(), "the seed corpus must be valid");
        run(
            "loads",
            &corpus,
            loads,
            |d| LoadsFile::parse(d).is_ok(),
            10,
            0x10ad5,
        );
    }

    #[test]
    fn load_name_target() {
        let names = [
            "P00308000900",
            "P0030801SR02",
            "P00303010102",
            "P00305000500",
            "P0S3-8-12-00",
            "P0S3-08-12-00",
            "P003-8-12-00",
            "SIP41.9-4-2SR3-1S",
            "SCCP45.9-4-2SR4-3S",
            "SIP11.8-5-4S",
            "TERM41.7-0-3-0S",
            "SIP70.9-4-2SR3-1S",
            "SCCP75.9-4-2SR4-3S",
            "SCCP11.9-4-2-1S",
            "CP7912080004SCCP080108A",
            "term61.default.loads",
            "jar41sip.9-4-2ES26.sbn",
            "9.4(2)SR3",
            "CP-7961G-GE",
        ];
        let corpus: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        run(
            "load_name",
            &corpus,
            load_name,
            |d| std::str::from_utf8(d).is_ok_and(|s| LoadName::parse(s).is_ok()),
            3,
            0x10ad_0a3e,
        );
    }

    #[test]
    fn vendor_class_target() {
        let corpus: Vec<Vec<u8>> = Model::ALL
            .iter()
            .map(|m| m.vendor_class().to_vec())
            .collect();
        run(
            "vendor_class",
            &corpus,
            vendor_class,
            |d| Model::from_vendor_class(d).is_some(),
            10,
            0xdc_9060,
        );
    }

    #[test]
    fn targets_reject_nothing_valid() {
        // The invariants are real: valid inputs take the long path through each target.
        for c in loads_corpus() {
            loads(&c);
        }
        load_name(b"SIP41.9-4-2SR3-1S");
        vendor_class(b"Cisco Systems, Inc. IP Phone CP-7960G\0");
    }
}
