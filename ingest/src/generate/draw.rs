//! Keyed random draws: a hash of (seed, stream, a, b) stands in for a random
//! generator's state, so any series' parameters or any day's noise can be drawn
//! directly, in any order, on any thread.

/// Which independent random stream a hash feeds.
#[derive(Clone, Copy)]
pub(super) enum Stream {
    Series = 1,
    Item,
    Promo,
    Price,
    Noise,
}

/// A 64-bit hash of (seed, stream, a, b) built from SplitMix64's finalizer.
pub(super) fn mix(seed: u64, stream: Stream, a: u32, b: u32) -> u64 {
    let stream = (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let key = (u64::from(a) << 32) | u64::from(b);
    splitmix(splitmix(splitmix(seed) ^ stream) ^ key)
}

pub(super) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash as a uniform number in [0, 1).
pub(super) fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
}

/// The point a fraction `u` of the way from `low` to `high`.
pub(super) fn within((low, high): (f64, f64), u: f64) -> f64 {
    low + (high - low) * u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_streams_and_keys_each_change_the_draw() {
        let base = mix(1, Stream::Promo, 2, 3);
        assert_eq!(base, mix(1, Stream::Promo, 2, 3));
        for other in [
            mix(2, Stream::Promo, 2, 3),
            mix(1, Stream::Price, 2, 3),
            mix(1, Stream::Promo, 3, 2),
            mix(1, Stream::Promo, 2, 4),
        ] {
            assert_ne!(base, other);
        }
        assert!((0.0..1.0).contains(&unit(u64::MAX)));
        assert_eq!(within((1.2, 1.6), 0.5), 1.4);
    }
}
