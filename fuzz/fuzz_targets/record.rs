//! Fuzz target `record`: runs `rigel_fuzz::record` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::record(data));
