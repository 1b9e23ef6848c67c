//! Helpers of the library's unit tests.

/// A seeded xorshift64 in [0, 1): reproducible random inputs for tests
/// checked against an oracle (`seed` must not be 0).
pub fn xorshift(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}
