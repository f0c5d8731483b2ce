#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cisco::fuzzing::generated_file_name(data);
});
