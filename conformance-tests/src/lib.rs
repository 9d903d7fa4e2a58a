//! Holds nothing: the conformance tests live in `tests/api.rs` and its modules under `tests/api/`.
