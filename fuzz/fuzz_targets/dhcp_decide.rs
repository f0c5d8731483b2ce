#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dhcp::fuzzing::decide_datagram(data);
});
