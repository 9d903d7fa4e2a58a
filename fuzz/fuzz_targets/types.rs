//! Fuzz target `types`: runs `rigel_fuzz::types` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::types(data));
