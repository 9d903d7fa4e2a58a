//! Fuzz target `order_by`: runs `rigel_fuzz::order_by` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rigel_fuzz::order_by(data));
