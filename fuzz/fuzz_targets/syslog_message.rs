#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    syslog_msg::fuzzing::message(data);
});
