//! Fuzz target `entity`: runs `rigel_fuzz::entity` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::entity(data));
