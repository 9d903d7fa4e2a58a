//! Fuzz target `log`: runs `rigel_fuzz::log` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::log(data));
