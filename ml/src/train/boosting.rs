//! Gradient-boosted trees with forust-ml (XGBoost's histogram algorithm): log loss for two
//! classes, one booster per class (one-vs-rest, probabilities normalised) for more, squared
//! error for numbers. Early stopping watches the validation split; the loss of every iteration
//! on training rows and the validation split is kept as curves.

use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
use forust_ml::sampler::SampleMethod;
use forust_ml::GradientBooster;
use serde::{Deserialize, Serialize};

use super::prep::{spread, Labels, Matrix};
use super::{Curves, Params, Predictions, Task, TrainError};

/// Fitted boosters: one for two classes or a number, one per class otherwise.
#[derive(Serialize, Deserialize)]
pub struct Boosted {
    pub boosters: Vec<GradientBooster>,
    /// Classes (classification) or 0 (regression).
    pub classes: usize,
}

impl Clone for Boosted {
    fn clone(&self) -> Self {
        serde_json::from_value(serde_json::to_value(self).expect("boosters serialise")).expect("boosters deserialise")
    }
}

impl std::fmt::Debug for Boosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trees: Vec<usize> = self.boosters.iter().map(|b| b.trees.len()).collect();
        f.debug_struct("Boosted").field("classes", &self.classes).field("trees", &trees).finish()
    }
}

/// Training rows per histogram bin, at least.
const MIN_ROWS_PER_BIN: usize = 3;

fn fm(m: &Matrix) -> forust_ml::Matrix<'_, f64> {
    forust_ml::Matrix::new(&m.data, m.rows, m.cols)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[allow(clippy::too_many_arguments)]
pub fn fit(
    x: &Matrix,
    y: &Labels,
    x_valid: &Matrix,
    y_valid: &Labels,
    task: Task,
    params: &Params,
    seed: u64,
    progress: &(dyn Fn(f64, &str) + Sync),
) -> Result<(Boosted, Curves), TrainError> {
    let subsample = params.get("subsample");
    let early = params.usize("early_stopping_rounds");
    // At most `max_bins` bins per column, and no more than one per three training rows (as
    // LightGBM's `min_data_in_bin`): on a small table most of 255 bins would be empty, yet
    // every split search walks them all.
    let bins = params.usize("max_bins").min((x.rows / MIN_ROWS_PER_BIN).max(2));
    let base = || -> GradientBooster {
        let b = GradientBooster::default()
            .set_iterations(params.usize("n_estimators"))
            .set_learning_rate(params.get("learning_rate") as f32)
            .set_max_depth(params.usize("max_depth"))
            .set_l2(params.get("l2") as f32)
            .set_min_leaf_weight(params.get("min_leaf_weight") as f32)
            .set_subsample(subsample as f32)
            .set_colsample_bytree(params.get("colsample_bytree"))
            .set_nbins(bins as u16)
            .set_seed(seed)
            .set_parallel(true)
            .set_initialize_base_score(true)
            .set_early_stopping_rounds(if early > 0 && !y_valid.is_empty() { Some(early) } else { None });
        if subsample < 1.0 { b.set_sample_method(SampleMethod::Random) } else { b }
    };
    // Loss on training rows is watched on a sample (it is computed every iteration).
    let sample = spread(x.rows, 10_000);
    let x_sample = x.take_rows(&sample);
    let ones = |n: usize| vec![1.0; n];
    let fit_one = |objective: ObjectiveType, metric: Metric, target: &[f64], target_valid: &[f64]| -> Result<GradientBooster, TrainError> {
        let mut booster = base().set_objective_type(objective).set_evaluation_metric(Some(metric));
        let target_sample: Vec<f64> = sample.iter().map(|&r| target[r]).collect();
        let (w, ws, wv) = (ones(x.rows), ones(sample.len()), ones(x_valid.rows));
        let mut eval = vec![(fm(&x_sample), target_sample.as_slice(), ws.as_slice())];
        if !target_valid.is_empty() {
            eval.push((fm(x_valid), target_valid, wv.as_slice()));
        }
        booster.fit(&fm(x), target, &w, Some(eval)).map_err(|e| TrainError::Estimator(e.to_string()))?;
        Ok(booster)
    };
    let has_valid = !y_valid.is_empty();
    let (boosters, classes, loss_name) = match (task, y, y_valid) {
        (Task::Regression, Labels::Numbers(t), valid) => {
            let tv = match valid {
                Labels::Numbers(v) => v.clone(),
                _ => Vec::new(),
            };
            progress(0.0, "boosting");
            (vec![fit_one(ObjectiveType::SquaredLoss, Metric::RootMeanSquaredError, t, &tv)?], 0, "rmse")
        }
        (Task::Binary | Task::Multiclass, Labels::Classes(c, k), valid) => {
            let cv: &[usize] = match valid {
                Labels::Classes(v, _) => v,
                _ => &[],
            };
            let per_class: Vec<usize> = if *k == 2 { vec![1] } else { (0..*k).collect() };
            let mut boosters = Vec::new();
            for (i, &class) in per_class.iter().enumerate() {
                progress(i as f64 / per_class.len() as f64, &format!("boosting class {} of {}", i + 1, per_class.len()));
                let t: Vec<f64> = c.iter().map(|&v| (v == class) as u8 as f64).collect();
                let tv: Vec<f64> = cv.iter().map(|&v| (v == class) as u8 as f64).collect();
                boosters.push(fit_one(ObjectiveType::LogLoss, Metric::LogLoss, &t, &tv)?);
            }
            (boosters, *k, if *k == 2 { "log_loss" } else { "ovr_log_loss" })
        }
        _ => return Err(TrainError::Data("the target's type does not fit the task".into())),
    };
    // Curves: per iteration, the mean over boosters of their train-sample and validation loss.
    let mut loss = Vec::new();
    let longest = boosters.iter().filter_map(|b| b.evaluation_history.as_ref().map(|h| h.rows)).max().unwrap_or(0);
    for i in 0..longest {
        let (mut tr, mut va, mut n) = (0.0, 0.0, 0.0);
        for b in &boosters {
            if let Some(h) = &b.evaluation_history {
                let row = i.min(h.rows.saturating_sub(1));
                tr += *h.get(row, 0);
                if has_valid {
                    va += *h.get(row, 1);
                }
                n += 1.0;
            }
        }
        loss.push((i as u64 + 1, tr / n, has_valid.then_some(va / n)));
    }
    progress(1.0, "boosted");
    Ok((Boosted { boosters, classes }, Curves { loss, loss_name: loss_name.into() }))
}

impl Boosted {
    pub fn predict(&self, x: &Matrix) -> Predictions {
        let m = forust_ml::Matrix::new(&x.data, x.rows, x.cols);
        let raw: Vec<Vec<f64>> = self.boosters.iter().map(|b| b.predict(&m, true)).collect();
        if self.classes == 0 {
            return Predictions::Values(raw.into_iter().next().unwrap_or_default());
        }
        let values: Vec<f64> = if self.classes == 2 {
            raw[0].iter().flat_map(|z| {
                let p = sigmoid(*z);
                [1.0 - p, p]
            }).collect()
        } else {
            let mut v = Vec::with_capacity(x.rows * self.classes);
            for r in 0..x.rows {
                let p: Vec<f64> = raw.iter().map(|z| sigmoid(z[r])).collect();
                let total: f64 = p.iter().sum::<f64>().max(f64::MIN_POSITIVE);
                v.extend(p.iter().map(|q| q / total));
            }
            v
        };
        Predictions::Probabilities { classes: self.classes, values }
    }

    /// Total gain per encoded column over all boosters.
    pub fn importance(&self) -> Vec<f64> {
        let cols = self.boosters.iter().flat_map(|b| b.calculate_feature_importance(ImportanceMethod::TotalGain, false).into_keys()).max().map(|m| m + 1).unwrap_or(0);
        let mut out = vec![0.0; cols];
        for b in &self.boosters {
            for (c, v) in b.calculate_feature_importance(ImportanceMethod::TotalGain, false) {
                out[c] += v as f64;
            }
        }
        out
    }

    /// Trees kept for prediction (per booster).
    pub fn trees(&self) -> Vec<usize> {
        self.boosters.iter().map(|b| b.prediction_iteration.unwrap_or(b.trees.len())).collect()
    }
}
