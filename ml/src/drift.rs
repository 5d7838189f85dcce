//! Distribution distances: Jensen–Shannon divergence (log2, in [0, 1]) for binned numbers and
//! L-infinity for categorical frequencies — the measures Vertex AI uses for skew and drift.

/// Normalises counts to probabilities (all zero → all zero).
fn normalise(c: &[f64]) -> Vec<f64> {
    let s: f64 = c.iter().sum();
    if s <= 0.0 { vec![0.0; c.len()] } else { c.iter().map(|x| x / s).collect() }
}

/// Jensen–Shannon divergence with base-2 logarithms between two histograms over the same bins.
pub fn js_divergence(p: &[f64], q: &[f64]) -> f64 {
    assert_eq!(p.len(), q.len(), "histograms over different bins");
    let (p, q) = (normalise(p), normalise(q));
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter().zip(m).filter(|(x, _)| **x > 0.0).map(|(x, y)| x * (x / y).log2()).sum()
    };
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    (0.5 * kl(&p, &m) + 0.5 * kl(&q, &m)).clamp(0.0, 1.0)
}

/// L-infinity distance between two frequency distributions given as (value, probability).
pub fn l_infinity(p: &[(String, f64)], q: &[(String, f64)]) -> f64 {
    let mut d: f64 = 0.0;
    for (v, a) in p {
        let b = q.iter().find(|(w, _)| w == v).map(|x| x.1).unwrap_or(0.0);
        d = d.max((a - b).abs());
    }
    for (v, b) in q {
        if !p.iter().any(|(w, _)| w == v) {
            d = d.max(*b);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_divergence_reference_values() {
        assert_eq!(js_divergence(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), 0.0);
        assert!((js_divergence(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
        // scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2 (scipy 1.x):
        assert!((js_divergence(&[0.5, 0.5], &[0.9, 0.1]) - 0.146_793_102_436_052_15).abs() < 1e-12);
        assert!((js_divergence(&[10.0, 20.0, 30.0, 40.0], &[40.0, 30.0, 20.0, 10.0]) - 0.153_560_655_328_984_52).abs() < 1e-12);
    }

    #[test]
    fn l_infinity_counts_values_missing_on_either_side() {
        let p = vec![("a".to_string(), 0.5), ("b".to_string(), 0.5)];
        let q = vec![("a".to_string(), 0.2), ("c".to_string(), 0.8)];
        assert!((l_infinity(&p, &q) - 0.8).abs() < 1e-12);
        assert_eq!(l_infinity(&p, &p), 0.0);
    }
}
