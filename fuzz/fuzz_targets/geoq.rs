//! Fuzz target `geoq`: runs `rigel_fuzz::geoq` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::geoq(data));
