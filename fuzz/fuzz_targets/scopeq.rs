//! Fuzz target `scopeq`: runs `rigel_fuzz::scopeq` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::scopeq(data));
