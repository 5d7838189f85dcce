//! One-pass, mergeable count / mean / variance / min / max (Welford, Chan et al. for merging).

/// Running summary of a numeric series. Missing values (NaN) are counted separately and do not
/// contribute to the moments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    count: u64,
    missing: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Self { count: 0, missing: 0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl Moments {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value; NaN counts as missing.
    pub fn push(&mut self, x: f64) {
        if x.is_nan() {
            self.missing += 1;
            return;
        }
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
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
        let n = (self.count + other.count) as f64;
        let delta = other.mean - self.mean;
        self.mean += delta * other.count as f64 / n;
        self.m2 += other.m2 + delta * delta * self.count as f64 * other.count as f64 / n;
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
        (self.count > 0).then_some(self.mean)
    }
    /// Sample standard deviation (n − 1 denominator, as pandas' `describe()`).
    pub fn std(&self) -> Option<f64> {
        (self.count > 1).then(|| (self.m2 / (self.count - 1) as f64).sqrt())
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
