//! Fuzz target `q`: runs `rigel_fuzz::q` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::q(data));
