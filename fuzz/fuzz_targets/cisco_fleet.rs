#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cisco::fuzzing::fleet(data);
});
