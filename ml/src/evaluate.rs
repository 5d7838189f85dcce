//! Evaluation metrics, defined as scikit-learn defines them: accuracy, precision, recall and F1
//! (of class 1 for two classes, macro-averaged for more), ROC AUC (one-vs-rest macro for more
//! than two classes), log loss, confusion matrix, ROC and precision–recall curves; RMSE, MAE, R²
//! and residuals for regression.

use serde::{Deserialize, Serialize};

/// Points kept per curve.
pub const CURVE_POINTS: usize = 500;
/// Residual points kept.
pub const RESIDUAL_POINTS: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    pub rows: usize,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// None when the rows hold a single class.
    pub roc_auc: Option<f64>,
    pub log_loss: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// `(false positive rate, true positive rate)`, two classes only.
    pub roc: Vec<(f64, f64)>,
    /// `(recall, precision)`, two classes only.
    pub pr: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    pub rows: usize,
    pub rmse: f64,
    pub mae: f64,
    pub r2: f64,
    /// `(predicted, actual − predicted)` for up to [`RESIDUAL_POINTS`] rows.
    pub residuals: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    Classification(ClassificationReport),
    Regression(RegressionReport),
}

impl Report {
    /// The single-number metrics, by name.
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        match self {
            Report::Classification(c) => {
                let mut m = vec![("accuracy", c.accuracy), ("precision", c.precision), ("recall", c.recall), ("f1", c.f1), ("log_loss", c.log_loss)];
                if let Some(a) = c.roc_auc {
                    m.push(("roc_auc", a));
                }
                m
            }
            Report::Regression(r) => vec![("rmse", r.rmse), ("mae", r.mae), ("r2", r.r2)],
        }
    }
}

/// Mean negative log probability of the true class (probabilities clipped to [ε, 1 − ε] and
/// rows renormalised).
pub fn log_loss(y: &[usize], probabilities: &[f64], classes: usize) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    let eps = f64::EPSILON;
    let mut total = 0.0;
    for (r, &t) in y.iter().enumerate() {
        let row = &probabilities[r * classes..(r + 1) * classes];
        let clipped: Vec<f64> = row.iter().map(|p| p.clamp(eps, 1.0 - eps)).collect();
        let sum: f64 = clipped.iter().sum();
        total -= (clipped[t] / sum).ln();
    }
    total / y.len() as f64
}

pub fn rmse(y: &[f64], predicted: &[f64]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    (y.iter().zip(predicted).map(|(a, p)| (a - p).powi(2)).sum::<f64>() / y.len() as f64).sqrt()
}

/// Area under the ROC curve of scores for a yes/no label (ties count half), or None when all
/// labels are equal.
pub fn roc_auc(positive: &[bool], scores: &[f64]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann–Whitney U with average ranks for ties.
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if positive[k] {
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    let p = positive.iter().filter(|v| **v).count() as f64;
    let n = positive.len() as f64 - p;
    if p == 0.0 || n == 0.0 {
        return None;
    }
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Keeps at most `n` points, evenly spread, always with the first and last.
fn thin<T: Copy>(points: Vec<T>, n: usize) -> Vec<T> {
    if points.len() <= n {
        return points;
    }
    let last = points.len() - 1;
    (0..n).map(|i| points[i * last / (n - 1)]).collect()
}

/// ROC and precision–recall points over the distinct scores, highest first.
fn curves(positive: &[bool], scores: &[f64]) -> (Vec<(f64, f64)>, Vec<(f64, f64)>) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let p = positive.iter().filter(|v| **v).count() as f64;
    let n = positive.len() as f64 - p;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut roc = vec![(0.0, 0.0)];
    let mut pr = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if positive[order[i]] { tp += 1.0 } else { fp += 1.0 }
            i += 1;
        }
        roc.push((if n > 0.0 { fp / n } else { 0.0 }, if p > 0.0 { tp / p } else { 0.0 }));
        pr.push((if p > 0.0 { tp / p } else { 0.0 }, tp / (tp + fp)));
    }
    (thin(roc, CURVE_POINTS), thin(pr, CURVE_POINTS))
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Classification metrics of row-major probabilities (`classes` per row) against true classes.
pub fn classification(y: &[usize], probabilities: &[f64], classes: usize) -> ClassificationReport {
    let rows = y.len();
    let predicted: Vec<usize> = (0..rows)
        .map(|r| {
            let row = &probabilities[r * classes..(r + 1) * classes];
            (0..classes).fold(0, |best, k| if row[k] > row[best] { k } else { best })
        })
        .collect();
    let mut confusion = vec![vec![0u64; classes]; classes];
    for (t, p) in y.iter().zip(&predicted) {
        confusion[*t][*p] += 1;
    }
    let correct: u64 = (0..classes).map(|k| confusion[k][k]).sum();
    let per_class = |k: usize| -> (f64, f64, f64) {
        let tp = confusion[k][k] as f64;
        let predicted_k: f64 = (0..classes).map(|t| confusion[t][k] as f64).sum();
        let actual_k: f64 = confusion[k].iter().sum::<u64>() as f64;
        let precision = ratio(tp, predicted_k);
        let recall = ratio(tp, actual_k);
        (precision, recall, ratio(2.0 * tp, predicted_k + actual_k))
    };
    let (precision, recall, f1) = if classes == 2 {
        per_class(1)
    } else {
        let all: Vec<(f64, f64, f64)> = (0..classes).map(per_class).collect();
        let m = classes as f64;
        (all.iter().map(|v| v.0).sum::<f64>() / m, all.iter().map(|v| v.1).sum::<f64>() / m, all.iter().map(|v| v.2).sum::<f64>() / m)
    };
    let score_of = |k: usize| -> Vec<f64> { (0..rows).map(|r| probabilities[r * classes + k]).collect() };
    let (roc_auc, roc, pr) = if classes == 2 {
        let positive: Vec<bool> = y.iter().map(|&t| t == 1).collect();
        let scores = score_of(1);
        let (roc, pr) = curves(&positive, &scores);
        (roc_auc(&positive, &scores), roc, pr)
    } else {
        let aucs: Vec<f64> = (0..classes).filter_map(|k| roc_auc(&y.iter().map(|&t| t == k).collect::<Vec<_>>(), &score_of(k))).collect();
        let auc = (aucs.len() == classes).then(|| aucs.iter().sum::<f64>() / classes as f64);
        (auc, Vec::new(), Vec::new())
    };
    ClassificationReport {
        rows,
        accuracy: ratio(correct as f64, rows as f64),
        precision,
        recall,
        f1,
        roc_auc,
        log_loss: log_loss(y, probabilities, classes),
        confusion,
        roc,
        pr,
    }
}

/// Regression metrics of predictions against actual values.
pub fn regression(y: &[f64], predicted: &[f64]) -> RegressionReport {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let ss_res: f64 = y.iter().zip(predicted).map(|(a, p)| (a - p).powi(2)).sum();
    let ss_tot: f64 = y.iter().map(|a| (a - mean).powi(2)).sum();
    let r2 = if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else if ss_res == 0.0 { 1.0 } else { 0.0 };
    let residuals: Vec<(f64, f64)> = y.iter().zip(predicted).map(|(a, p)| (*p, a - p)).collect();
    RegressionReport {
        rows: y.len(),
        rmse: (ss_res / n).sqrt(),
        mae: y.iter().zip(predicted).map(|(a, p)| (a - p).abs()).sum::<f64>() / n,
        r2,
        residuals: thin(residuals, RESIDUAL_POINTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from scikit-learn 1.9 (accuracy_score, precision/recall/f1_score with
    // average='binary' or 'macro', roc_auc_score (multi_class='ovr'), log_loss,
    // confusion_matrix, roc_curve(drop_intermediate=False), root_mean_squared_error,
    // mean_absolute_error, r2_score) on the same numbers.
    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn binary_metrics_equal_scikit_learns() {
        let y = [0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1];
        let p1 = [0.1, 0.8, 0.6, 0.4, 0.9, 0.2, 0.6, 0.3, 0.6, 0.05, 0.99, 0.7];
        let probabilities: Vec<f64> = p1.iter().flat_map(|p| [1.0 - p, *p]).collect();
        let r = classification(&y, &probabilities, 2);
        close(r.accuracy, 0.8333333333333334);
        close(r.precision, 0.8571428571428571);
        close(r.recall, 0.8571428571428571);
        close(r.f1, 0.8571428571428571);
        close(r.roc_auc.unwrap(), 0.9142857142857143);
        close(r.log_loss, 0.39398059296849325);
        assert_eq!(r.confusion, vec![vec![4, 1], vec![1, 6]]);
        let want = [(0.0, 0.0), (0.0, 1.0 / 7.0), (0.0, 2.0 / 7.0), (0.0, 3.0 / 7.0), (0.0, 4.0 / 7.0), (0.2, 6.0 / 7.0), (0.4, 6.0 / 7.0), (0.4, 1.0), (0.6, 1.0), (0.8, 1.0), (1.0, 1.0)];
        assert_eq!(r.roc.len(), want.len());
        for (got, want) in r.roc.iter().zip(want) {
            close(got.0, want.0);
            close(got.1, want.1);
        }
        assert_eq!(r.pr.last().map(|p| p.0), Some(1.0));
        close(r.pr[0].1, 1.0);
    }

    #[test]
    fn multiclass_metrics_equal_scikit_learns_macro_averages() {
        let y = [0, 1, 2, 2, 1, 0, 2, 1, 0, 2];
        let p = [
            [0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1],
            [0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1], [0.3, 0.4, 0.3], [0.25, 0.25, 0.5],
        ];
        let flat: Vec<f64> = p.iter().flatten().copied().collect();
        let r = classification(&y, &flat, 3);
        close(r.accuracy, 0.8);
        close(r.precision, 0.7777777777777777);
        close(r.recall, 0.7777777777777777);
        close(r.f1, 0.7777777777777777);
        close(r.roc_auc.unwrap(), 0.9682539682539683);
        close(r.log_loss, 0.6535143995745051);
        assert_eq!(r.confusion, vec![vec![2, 1, 0], vec![1, 2, 0], vec![0, 0, 4]]);
        assert!(r.roc.is_empty());
    }

    #[test]
    fn regression_metrics_equal_scikit_learns() {
        let r = regression(&[3.0, -0.5, 2.0, 7.0, 4.2], &[2.5, 0.0, 2.0, 8.0, 3.9]);
        close(r.rmse, 0.5639148871948674);
        close(r.mae, 0.4600000000000001);
        close(r.r2, 0.9480256276150627);
        assert_eq!(r.residuals[3], (8.0, -1.0));
    }

    #[test]
    fn auc_is_undefined_for_one_class_and_half_for_ties() {
        assert_eq!(roc_auc(&[true, true], &[0.2, 0.3]), None);
        assert_eq!(roc_auc(&[true, false, true, false], &[0.5; 4]), Some(0.5));
    }
}
