#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

// One target for both entry points: the same bytes as a TCP stream for the
// framer, and as a script of phone input and driver commands for a session.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sccp::fuzzing::frame(data);
    sccp::fuzzing::session(*START.get_or_init(Instant::now), data);
});
