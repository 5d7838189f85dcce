//! One-pass, mergeable count / mean / variance / min / max (shifted sums; Chan et al. for merging).

/// Running summary of a numeric series. Missing values (NaN) are counted separately and do not
/// contribute to the moments. Values are summed as differences from the first one (the shifted-
/// data algorithm: no division per value, and no cancellation while the mean stays within a few
/// standard deviations of that first value); partial summaries merge by Chan et al.'s formula.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    count: u64,
    missing: u64,
    shift: f64,
    /// Σ(x − shift) and Σ(x − shift)².
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Self { count: 0, missing: 0, shift: 0.0, sum: 0.0, sum_sq: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Moments {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value; NaN counts as missing.
    #[inline]
    pub fn push(&mut self, x: f64) {
        if x.is_nan() {
            self.missing += 1;
            return;
        }
        if self.count == 0 {
            self.shift = x;
        }
        self.count += 1;
        let d = x - self.shift;
        self.sum += d;
        self.sum_sq += d * d;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// The mean and the sum of squared deviations from it.
    fn mean_m2(&self) -> (f64, f64) {
        let n = self.count as f64;
        let mean_d = self.sum / n;
        (self.shift + mean_d, (self.sum_sq - self.sum * mean_d).max(0.0))
    }

    /// Combines two partial summaries as if all values had been pushed into one.
    pub fn merge(&mut self, other: &Moments) {
        self.missing += other.missing;
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            let missing = self.missing;
            *self = *other;
            self.missing = missing;
            return;
        }
        let ((ma, m2a), (mb, m2b)) = (self.mean_m2(), other.mean_m2());
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = mb - ma;
        let mean = ma + delta * nb / n;
        // The merged summary, shifted by its own mean.
        self.shift = mean;
        self.sum = 0.0;
        self.sum_sq = m2a + m2b + delta * delta * na * nb / n;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn missing(&self) -> u64 {
        self.missing
    }
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.mean_m2().0)
    }
    /// Sample standard deviation (n − 1 denominator, as pandas' `describe()`).
    pub fn std(&self) -> Option<f64> {
        (self.count > 1).then(|| (self.mean_m2().1 / (self.count - 1) as f64).sqrt())
    }
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }
}

impl FromIterator<f64> for Moments {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut m = Moments::new();
        iter.into_iter().for_each(|x| m.push(x));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values computed with numpy: x = [2, 4, 4, 4, 5, 5, 7, 9];
    // x.mean() = 5.0, x.std(ddof=1) = 2.138089935299395.
    #[test]
    fn matches_numpy_on_a_small_series() {
        let m: Moments = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].into_iter().collect();
        assert_eq!(m.count(), 8);
        assert_eq!(m.mean(), Some(5.0));
        assert!((m.std().unwrap() - 2.138089935299395).abs() < 1e-12);
        assert_eq!(m.min(), Some(2.0));
        assert_eq!(m.max(), Some(9.0));
    }

    #[test]
    fn nan_is_missing() {
        let m: Moments = [1.0, f64::NAN, 3.0].into_iter().collect();
        assert_eq!(m.count(), 2);
        assert_eq!(m.missing(), 1);
        assert_eq!(m.mean(), Some(2.0));
    }

    #[test]
    fn empty_has_no_statistics() {
        let m = Moments::new();
        assert_eq!(m.mean(), None);
        assert_eq!(m.std(), None);
        assert_eq!(m.min(), None);
    }

    #[test]
    fn large_offsets_keep_their_precision() {
        // Timestamps in microseconds: a large mean, a small spread (numpy: std(ddof=1) = 1.2909944487358056).
        let base = 1.7e15;
        let m: Moments = [base + 1.0, base + 2.0, base + 3.0, base + 4.0].into_iter().collect();
        assert_eq!(m.mean(), Some(base + 2.5));
        assert!((m.std().unwrap() - 1.2909944487358056).abs() < 1e-12);
    }

    #[test]
    fn merging_halves_equals_one_pass() {
        let xs: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1013) as f64 / 3.0 - 50.0).collect();
        let whole: Moments = xs.iter().copied().collect();
        for split in [0, 1, 333, 999, 1000] {
            let mut a: Moments = xs[..split].iter().copied().collect();
            let b: Moments = xs[split..].iter().copied().collect();
            a.merge(&b);
            assert_eq!(a.count(), whole.count());
            assert!((a.mean().unwrap() - whole.mean().unwrap()).abs() < 1e-9);
            assert!((a.std().unwrap() - whole.std().unwrap()).abs() < 1e-9);
            assert_eq!(a.min(), whole.min());
            assert_eq!(a.max(), whole.max());
        }
    }
}
