//! Deterministic train / validation / test assignment of rows.

/// The split names, in order.
pub const SPLITS: [&str; 3] = ["train", "validation", "test"];

/// SplitMix64: a fast, well-mixed 64-bit hash of (seed, row).
fn mix(seed: u64, row: u64) -> u64 {
    let mut z = seed ^ row.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The split (index into [`SPLITS`]) of row `row` for the given fractions (summing to 1) and seed.
/// The same (seed, row, fractions) always gives the same split.
pub fn assign(seed: u64, row: u64, fractions: [f64; 3]) -> usize {
    let u = (mix(seed, row) >> 11) as f64 / (1u64 << 53) as f64;
    if u < fractions[0] {
        0
    } else if u < fractions[0] + fractions[1] {
        1
    } else {
        2
    }
}

/// Reads a predefined split label (`train`/`training`, `validation`/`validate`/`valid`/`val`,
/// `test`/`testing`; any case).
pub fn parse_label(s: &str) -> Option<usize> {
    match s.trim().to_ascii_lowercase().as_str() {
        "train" | "training" => Some(0),
        "validation" | "validate" | "valid" | "val" => Some(1),
        "test" | "testing" => Some(2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_close_to_the_fractions() {
        let f = [0.8, 0.1, 0.1];
        let mut counts = [0usize; 3];
        for row in 0..100_000 {
            let s = assign(42, row, f);
            assert_eq!(s, assign(42, row, f));
            counts[s] += 1;
        }
        assert!((counts[0] as f64 / 100_000.0 - 0.8).abs() < 0.01, "{counts:?}");
        assert!((counts[1] as f64 / 100_000.0 - 0.1).abs() < 0.01, "{counts:?}");
        let other: usize = (0..1000).filter(|&r| assign(7, r, f) != assign(42, r, f)).count();
        assert!(other > 100, "another seed gives another split");
        assert_eq!(parse_label(" Validate "), Some(1));
        assert_eq!(parse_label("holdout"), None);
    }
}
