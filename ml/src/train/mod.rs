//! Built-in tabular training: columns in, a fitted [`Model`] out.
//!
//! Preprocessing is learned on the training split only and kept inside the model; the
//! estimators come from well-kept crates where they fit (forust-ml for gradient boosting,
//! linfa for linear and logistic regression) and from [`forest`] for random forests (no crate
//! gives class probabilities, impurity importances and tree access together). The same data,
//! parameters and seed always give the same model.

pub mod boosting;
pub mod columns;
pub mod forest;
pub mod linear;
pub mod params;
pub mod prep;
pub mod search;

use serde::{Deserialize, Serialize};

use crate::evaluate::{self, Report};
pub use params::{ParamSpec, Params};
pub use prep::{Encoding, FeatureSpec, Preprocessor};

/// A code meaning "missing" in a categorical column.
pub const MISSING: u32 = u32::MAX;

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Binary,
    Multiclass,
    Regression,
}

impl Task {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "binary" => Some(Task::Binary),
            "multiclass" => Some(Task::Multiclass),
            "regression" => Some(Task::Regression),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
        }
    }
    pub fn is_classification(self) -> bool {
        self != Task::Regression
    }
}

/// Which estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    Linear,
    RandomForest,
    GradientBoosting,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::Linear, Algorithm::RandomForest, Algorithm::GradientBoosting];
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "linear" => Some(Algorithm::Linear),
            "random_forest" => Some(Algorithm::RandomForest),
            "gradient_boosting" => Some(Algorithm::GradientBoosting),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Linear => "linear",
            Algorithm::RandomForest => "random_forest",
            Algorithm::GradientBoosting => "gradient_boosting",
        }
    }
}

/// One column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Numbers, `NaN` where missing (booleans as 0/1, timestamps as seconds).
    Numbers(Vec<f64>),
    /// Codes into `levels`, [`MISSING`] where missing.
    Categories { codes: Vec<u32>, levels: Vec<String> },
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Numbers(v) => v.len(),
            Values::Categories { codes, .. } => codes.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
}

/// The target column.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Class codes into `labels` (every code valid).
    Classes { codes: Vec<u32>, labels: Vec<String> },
    Numbers(Vec<f64>),
}

impl Target {
    pub fn len(&self) -> usize {
        match self {
            Target::Classes { codes, .. } => codes.len(),
            Target::Numbers(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rows with their split: 0 train, 1 validation, 2 test.
#[derive(Debug, Clone)]
pub struct TrainingData {
    pub features: Vec<Column>,
    pub target: Target,
    pub split: Vec<u8>,
}

/// Why training could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    #[error("{0}")]
    Data(String),
    #[error("parameter '{name}': {problem}")]
    Param { name: String, problem: String },
    #[error("the estimator failed: {0}")]
    Estimator(String),
}

/// Values in series while training (one entry per iteration or tree).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// `(step, train loss, validation loss)`.
    pub loss: Vec<(u64, f64, Option<f64>)>,
    /// Name of the loss (`log_loss` or `rmse`).
    pub loss_name: String,
}

/// A fitted estimator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    Linear(linear::LinearModel),
    RandomForest(forest::Forest),
    GradientBoosting(boosting::Boosted),
}

/// A trained model: preprocessing, estimator and what it outputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub task: Task,
    pub algorithm: Algorithm,
    pub target: String,
    pub preprocessor: Preprocessor,
    /// Output class labels (classification), in output order.
    pub classes: Vec<String>,
    pub params: Params,
    pub estimator: Estimator,
}

/// Model outputs for a batch of rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictions {
    /// Per row, one probability per class (rows × classes, row-major).
    Probabilities { classes: usize, values: Vec<f64> },
    Values(Vec<f64>),
}

impl Predictions {
    pub fn rows(&self) -> usize {
        match self {
            Predictions::Probabilities { classes, values } => values.len() / (*classes).max(1),
            Predictions::Values(v) => v.len(),
        }
    }
}

impl Model {
    /// Predicts rows given as columns named like the training features (other columns ignored).
    pub fn predict(&self, columns: &[Column]) -> Result<Predictions, TrainError> {
        let rows = columns.first().map(|c| c.values.len()).unwrap_or(0);
        let x = self.preprocessor.encode(columns, rows, self.encoding())?;
        Ok(self.predict_encoded(&x))
    }

    fn encoding(&self) -> Encoding {
        encoding_for(self.algorithm)
    }

    pub(crate) fn predict_encoded(&self, x: &prep::Matrix) -> Predictions {
        match &self.estimator {
            Estimator::Linear(m) => m.predict(x),
            Estimator::RandomForest(f) => f.predict(x),
            Estimator::GradientBoosting(b) => b.predict(x),
        }
    }

    /// Feature importance per input feature (summed over its encoded columns), normalised to sum 1.
    pub fn feature_importance(&self) -> Vec<(String, f64)> {
        let per_column = match &self.estimator {
            Estimator::Linear(m) => m.importance(),
            Estimator::RandomForest(f) => f.importance(),
            Estimator::GradientBoosting(b) => b.importance(),
        };
        let mut out: Vec<(String, f64)> = self.preprocessor.features.iter().map(|f| (f.name().to_string(), 0.0)).collect();
        for (col, v) in per_column.into_iter().enumerate() {
            if let Some(&f) = self.preprocessor.column_feature(self.encoding()).get(col) {
                out[f].1 += v;
            }
        }
        let total: f64 = out.iter().map(|(_, v)| v).sum();
        if total > 0.0 {
            for o in &mut out {
                o.1 /= total;
            }
        }
        out
    }
}

pub(crate) fn encoding_for(algorithm: Algorithm) -> Encoding {
    match algorithm {
        Algorithm::Linear => Encoding::Linear,
        Algorithm::RandomForest => Encoding::Trees { impute: true },
        Algorithm::GradientBoosting => Encoding::Trees { impute: false },
    }
}

/// What training returns: the model, its curves, and evaluation per split.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub model: Model,
    pub curves: Curves,
    /// Evaluation on (split name, report) for validation and test, when they have rows.
    pub reports: Vec<(String, Report)>,
    pub rows: [usize; 3],
}

/// Rows of a split.
fn rows_of(split: &[u8], which: u8) -> Vec<usize> {
    split.iter().enumerate().filter(|(_, s)| **s == which).map(|(i, _)| i).collect()
}

/// Trains a model on the train rows, early-stops / reports on validation, evaluates on
/// validation and test. `progress(fraction, message)` is called as work goes on.
pub fn train(
    data: &TrainingData,
    target_name: &str,
    task: Task,
    algorithm: Algorithm,
    params: &Params,
    seed: u64,
    progress: &(dyn Fn(f64, &str) + Sync),
) -> Result<Outcome, TrainError> {
    let n = data.target.len();
    if data.split.len() != n || data.features.iter().any(|c| c.values.len() != n) {
        return Err(TrainError::Data("columns, target and split differ in length".into()));
    }
    if data.features.is_empty() {
        return Err(TrainError::Data("no feature columns".into()));
    }
    let train_rows = rows_of(&data.split, 0);
    let valid_rows = rows_of(&data.split, 1);
    let test_rows = rows_of(&data.split, 2);
    if train_rows.len() < 2 {
        return Err(TrainError::Data(format!("the training split has {} rows; at least 2 are needed", train_rows.len())));
    }
    let classes: Vec<String> = match (&data.target, task) {
        (Target::Classes { labels, codes }, Task::Binary | Task::Multiclass) => {
            let mut seen = vec![false; labels.len()];
            for &r in &train_rows {
                seen[codes[r] as usize] = true;
            }
            let present = seen.iter().filter(|s| **s).count();
            if present < 2 {
                return Err(TrainError::Data("the target has a single class in the training split".into()));
            }
            if task == Task::Binary && labels.len() != 2 {
                return Err(TrainError::Data(format!("a binary task needs 2 classes; the target has {}", labels.len())));
            }
            labels.clone()
        }
        (Target::Numbers(y), Task::Regression) => {
            let first = y[train_rows[0]];
            if train_rows.iter().all(|&r| y[r] == first) {
                return Err(TrainError::Data("the target is constant in the training split".into()));
            }
            Vec::new()
        }
        _ => return Err(TrainError::Data("the target's type does not fit the task".into())),
    };
    progress(0.02, "learning preprocessing on the training split");
    let preprocessor = Preprocessor::learn(&data.features, &train_rows);
    let encoding = encoding_for(algorithm);
    let x_all = preprocessor.encode(&data.features, n, encoding)?;
    let x_train = x_all.take_rows(&train_rows);
    let x_valid = x_all.take_rows(&valid_rows);
    let all_labels = match &data.target {
        Target::Classes { codes, .. } => prep::Labels::Classes(codes.iter().map(|&c| c as usize).collect(), classes.len()),
        Target::Numbers(y) => prep::Labels::Numbers(y.clone()),
    };
    let targets = |rows: &[usize]| all_labels.take(rows);
    let y_train = targets(&train_rows);
    let y_valid = targets(&valid_rows);
    progress(0.05, &format!("training {} on {} rows × {} columns", algorithm.as_str(), x_train.rows, x_train.cols));
    let fit_progress = |f: f64, m: &str| progress(0.05 + 0.85 * f, m);
    let (estimator, curves) = match algorithm {
        Algorithm::Linear => {
            let (m, c) = linear::fit(&x_train, &y_train, &x_valid, &y_valid, task, params)?;
            (Estimator::Linear(m), c)
        }
        Algorithm::RandomForest => {
            let (m, c) = forest::fit(&x_train, &y_train, &x_valid, &y_valid, task, params, seed, &fit_progress)?;
            (Estimator::RandomForest(m), c)
        }
        Algorithm::GradientBoosting => {
            let (m, c) = boosting::fit(&x_train, &y_train, &x_valid, &y_valid, task, params, seed, &fit_progress)?;
            (Estimator::GradientBoosting(m), c)
        }
    };
    let model = Model {
        task,
        algorithm,
        target: target_name.to_string(),
        preprocessor,
        classes: classes.clone(),
        params: params.clone(),
        estimator,
    };
    progress(0.92, "evaluating");
    let mut reports = Vec::new();
    for (name, rows) in [("validation", &valid_rows), ("test", &test_rows)] {
        if rows.is_empty() {
            continue;
        }
        let x = x_all.take_rows(rows);
        let p = model.predict_encoded(&x);
        let report = match (&p, targets(rows)) {
            (Predictions::Probabilities { values, classes: k }, prep::Labels::Classes(y, _)) => {
                Report::Classification(evaluate::classification(&y, values, *k))
            }
            (Predictions::Values(v), prep::Labels::Numbers(y)) => Report::Regression(evaluate::regression(&y, v)),
            _ => return Err(TrainError::Estimator("predictions do not fit the task".into())),
        };
        reports.push((name.to_string(), report));
    }
    progress(1.0, "trained");
    Ok(Outcome { model, curves, reports, rows: [train_rows.len(), valid_rows.len(), test_rows.len()] })
}

#[cfg(test)]
mod tests;
