//! Fuzz target `context`: runs `rigel_fuzz::context` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::context(data));
