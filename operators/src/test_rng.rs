//! Seeded numbers for tests: Marsaglia's xorshift64, uniform in [0, 1).

/// A generator from a raw, non-zero state.
pub(crate) fn xorshift(mut s: u64) -> impl FnMut() -> f64 {
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}
