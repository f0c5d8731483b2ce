#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sipnotify::fuzzing::message(data);
    sipnotify::fuzzing::notify(*START.get_or_init(Instant::now), data);
});
