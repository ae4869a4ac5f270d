//! Helpers shared by the crate's unit tests.

/// Cases per property test: `default`, or `REALTIME_WS_PROPTEST_CASES` for the
/// long mode (`REALTIME_WS_PROPTEST_CASES=100000 cargo test --profile ci`).
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("REALTIME_WS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
