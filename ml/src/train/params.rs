//! Hyperparameters: each algorithm's names, defaults and allowed ranges, checked before training.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Algorithm, TrainError};

/// One hyperparameter of an algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    /// Whether `min` itself is allowed.
    pub min_inclusive: bool,
    pub integer: bool,
    pub help: &'static str,
}

const fn spec(name: &'static str, default: f64, min: f64, max: f64, min_inclusive: bool, integer: bool, help: &'static str) -> ParamSpec {
    ParamSpec { name, default, min, max, min_inclusive, integer, help }
}

const LINEAR: &[ParamSpec] = &[
    spec("alpha", 1.0, 0.0, 1e6, true, false, "L2 penalty (sum-of-losses scale, as scikit-learn's Ridge alpha and 1/C)"),
    spec("max_iterations", 200.0, 1.0, 10_000.0, true, true, "optimiser iterations (logistic regression) or coordinate-descent sweeps (ridge)"),
];

const RANDOM_FOREST: &[ParamSpec] = &[
    spec("n_estimators", 100.0, 1.0, 2_000.0, true, true, "number of trees"),
    spec("max_depth", 16.0, 1.0, 64.0, true, true, "deepest level of a tree"),
    spec("min_samples_leaf", 1.0, 1.0, 1e6, true, true, "fewest rows a leaf may hold"),
    spec("max_features", 0.0, 0.0, 1.0, true, false, "fraction of columns tried per split (0: the square root of the count for classification, a third for regression)"),
    spec("bootstrap_fraction", 1.0, 0.0, 1.0, false, false, "rows drawn with replacement per tree, as a fraction of the training rows"),
    spec("max_bins", 255.0, 2.0, 255.0, true, true, "bins per numeric column for split finding"),
];

const GRADIENT_BOOSTING: &[ParamSpec] = &[
    spec("n_estimators", 200.0, 1.0, 10_000.0, true, true, "boosting iterations (trees per class)"),
    spec("learning_rate", 0.1, 0.0, 1.0, false, false, "shrinkage applied to each tree"),
    spec("max_depth", 6.0, 1.0, 32.0, true, true, "deepest level of a tree"),
    spec("l2", 1.0, 0.0, 1e6, true, false, "L2 penalty on leaf weights"),
    spec("min_leaf_weight", 1.0, 0.0, 1e6, true, false, "smallest hessian sum a leaf may hold"),
    spec("subsample", 1.0, 0.0, 1.0, false, false, "fraction of rows sampled per tree"),
    spec("colsample_bytree", 1.0, 0.0, 1.0, false, false, "fraction of columns sampled per tree"),
    spec("early_stopping_rounds", 20.0, 0.0, 1_000.0, true, true, "stop when the validation loss has not improved for this many iterations (0: never)"),
    spec("max_bins", 256.0, 2.0, 65_535.0, true, true, "bins per column for split finding"),
];

/// The hyperparameters an algorithm takes.
pub fn specs(algorithm: Algorithm) -> &'static [ParamSpec] {
    match algorithm {
        Algorithm::Linear => LINEAR,
        Algorithm::RandomForest => RANDOM_FOREST,
        Algorithm::GradientBoosting => GRADIENT_BOOSTING,
    }
}

/// Resolved hyperparameters: every one the algorithm takes, defaults filled in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Params(pub BTreeMap<String, f64>);

impl Params {
    /// Checks given values (numbers, or numeric strings) against the algorithm's specs and fills
    /// in defaults. Unknown names, non-numbers, fractions for integers and values out of range are
    /// errors naming the parameter.
    pub fn resolve(algorithm: Algorithm, given: &BTreeMap<String, serde_json::Value>) -> Result<Self, TrainError> {
        let specs = specs(algorithm);
        let err = |name: &str, problem: String| TrainError::Param { name: name.to_string(), problem };
        for name in given.keys() {
            if !specs.iter().any(|s| s.name == name) {
                let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                return Err(err(name, format!("not a parameter of {} (it takes {})", algorithm.as_str(), known.join(", "))));
            }
        }
        let mut out = BTreeMap::new();
        for s in specs {
            let v = match given.get(s.name) {
                None | Some(serde_json::Value::Null) => s.default,
                Some(serde_json::Value::Number(n)) => n.as_f64().ok_or_else(|| err(s.name, "must be a number".into()))?,
                Some(serde_json::Value::String(t)) => t.trim().parse::<f64>().map_err(|_| err(s.name, format!("'{t}' is not a number")))?,
                Some(other) => return Err(err(s.name, format!("must be a number, not {other}"))),
            };
            if !v.is_finite() {
                return Err(err(s.name, "must be a finite number".into()));
            }
            if s.integer && v.fract() != 0.0 {
                return Err(err(s.name, format!("must be a whole number, not {v}")));
            }
            let low_ok = if s.min_inclusive { v >= s.min } else { v > s.min };
            if !low_ok || v > s.max {
                let open = if s.min_inclusive { "[" } else { "(" };
                return Err(err(s.name, format!("{v} is outside {open}{}, {}]", s.min, s.max)));
            }
            out.insert(s.name.to_string(), v);
        }
        Ok(Params(out))
    }

    /// A resolved value (panics on a name the algorithm does not take: a programming error).
    pub fn get(&self, name: &str) -> f64 {
        *self.0.get(name).unwrap_or_else(|| panic!("parameter {name} was not resolved"))
    }

    pub fn usize(&self, name: &str) -> usize {
        self.get(name) as usize
    }
}
