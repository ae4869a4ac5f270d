//! Audio on the per-frame path: base64, format math (bytes <-> ms).
//! Pure Rust, no pyo3, so `cargo test` covers it without an interpreter.

pub mod b64;
pub mod convert;
pub mod format;
pub mod g711;
pub mod resample;
