#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cisco::fuzzing::operator_config(data);
});
