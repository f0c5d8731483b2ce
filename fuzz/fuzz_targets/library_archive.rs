#![no_main]

// Whatever the bytes, importing them as each bundle type must not panic, and
// a failed import must leave the library exactly as it was.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    library::fuzzing::archive(data);
});
