#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tftp::fuzzing::packet(data);
});
