//! Hyperparameter search spaces: ranges (uniform, log-uniform, integer) and choices, checked
//! against an algorithm's parameters, turned into the list of trials to run (a grid, or random
//! draws from a seeded generator, so the same request gives the same trials).

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::params::specs;
use super::{Algorithm, TrainError};

/// Where one hyperparameter's values come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Range {
    /// `[low, high]`, drawn evenly.
    Uniform([f64; 2]),
    /// `[low, high]` with low > 0, drawn evenly in log space.
    LogUniform([f64; 2]),
    /// Whole numbers in `[low, high]`.
    Int([f64; 2]),
    /// One of these values.
    Choice(Vec<f64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Random,
    Grid,
}

impl Method {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "random" => Some(Method::Random),
            "grid" => Some(Method::Grid),
            _ => None,
        }
    }
}

/// Most trials one search may hold.
pub const MAX_TRIALS: usize = 1_000;

fn err(name: &str, problem: impl Into<String>) -> TrainError {
    TrainError::Param { name: name.to_string(), problem: problem.into() }
}

/// Checks every range against the algorithm's parameter specs.
pub fn check(space: &BTreeMap<String, Range>, algorithm: Algorithm) -> Result<(), TrainError> {
    if space.is_empty() {
        return Err(TrainError::Data("the search space is empty: give at least one parameter to search".into()));
    }
    for (name, range) in space {
        let Some(spec) = specs(algorithm).iter().find(|s| s.name == name) else {
            let known: Vec<&str> = specs(algorithm).iter().map(|s| s.name).collect();
            return Err(err(name, format!("not a parameter of {} (it takes {})", algorithm.as_str(), known.join(", "))));
        };
        let allowed = |v: f64| -> Result<(), TrainError> {
            let low_ok = if spec.min_inclusive { v >= spec.min } else { v > spec.min };
            if !v.is_finite() || !low_ok || v > spec.max {
                let open = if spec.min_inclusive { "[" } else { "(" };
                return Err(err(name, format!("{v} is outside {open}{}, {}]", spec.min, spec.max)));
            }
            if spec.integer && v.fract() != 0.0 {
                return Err(err(name, format!("must be a whole number, not {v}")));
            }
            Ok(())
        };
        match range {
            Range::Uniform([lo, hi]) | Range::LogUniform([lo, hi]) | Range::Int([lo, hi]) => {
                allowed(*lo)?;
                allowed(*hi)?;
                if lo >= hi {
                    return Err(err(name, format!("the range [{lo}, {hi}] is empty: low must be below high")));
                }
                if matches!(range, Range::LogUniform(_)) && *lo <= 0.0 {
                    return Err(err(name, "a log-uniform range needs low > 0"));
                }
                if matches!(range, Range::Int(_)) && (lo.fract() != 0.0 || hi.fract() != 0.0) {
                    return Err(err(name, "an int range needs whole-number bounds"));
                }
                if spec.integer && !matches!(range, Range::Int(_)) {
                    return Err(err(name, "takes whole numbers: use an int range or a choice"));
                }
            }
            Range::Choice(values) => {
                if values.is_empty() {
                    return Err(err(name, "a choice needs at least one value"));
                }
                for v in values {
                    allowed(*v)?;
                }
            }
        }
    }
    Ok(())
}

/// The trials' parameter values: every grid point (choices and int ranges only; at most
/// `max_trials`), or `max_trials` random draws.
pub fn trials(space: &BTreeMap<String, Range>, method: Method, max_trials: usize, seed: u64) -> Result<Vec<BTreeMap<String, f64>>, TrainError> {
    if max_trials == 0 || max_trials > MAX_TRIALS {
        return Err(TrainError::Data(format!("max_trials must be between 1 and {MAX_TRIALS}")));
    }
    match method {
        Method::Grid => {
            let mut axes: Vec<(String, Vec<f64>)> = Vec::new();
            for (name, range) in space {
                let values = match range {
                    Range::Choice(v) => v.clone(),
                    Range::Int([lo, hi]) => {
                        if hi - lo >= MAX_TRIALS as f64 {
                            return Err(err(name, format!("an int range of more than {MAX_TRIALS} values cannot be a grid axis")));
                        }
                        (*lo as i64..=*hi as i64).map(|v| v as f64).collect()
                    }
                    _ => return Err(err(name, "a grid search takes choices and int ranges only")),
                };
                axes.push((name.clone(), values));
            }
            let mut out: Vec<BTreeMap<String, f64>> = vec![BTreeMap::new()];
            for (name, values) in &axes {
                let mut next = Vec::with_capacity(out.len() * values.len());
                'outer: for base in &out {
                    for v in values {
                        let mut t = base.clone();
                        t.insert(name.clone(), *v);
                        next.push(t);
                        if next.len() >= max_trials * values.len() {
                            break 'outer;
                        }
                    }
                }
                out = next;
            }
            out.truncate(max_trials);
            Ok(out)
        }
        Method::Random => {
            let mut rng = StdRng::seed_from_u64(seed ^ 0x7E57_7A11);
            Ok((0..max_trials)
                .map(|_| {
                    space
                        .iter()
                        .map(|(name, range)| {
                            let v = match range {
                                Range::Uniform([lo, hi]) => rng.gen_range(*lo..=*hi),
                                Range::LogUniform([lo, hi]) => rng.gen_range(lo.ln()..=hi.ln()).exp().clamp(*lo, *hi),
                                Range::Int([lo, hi]) => rng.gen_range(*lo as i64..=*hi as i64) as f64,
                                Range::Choice(values) => values[rng.gen_range(0..values.len())],
                            };
                            (name.clone(), v)
                        })
                        .collect()
                })
                .collect())
        }
    }
}

/// The space an algorithm is searched over by the "best model" preset.
pub fn default_space(algorithm: Algorithm) -> BTreeMap<String, Range> {
    let pairs: Vec<(&str, Range)> = match algorithm {
        Algorithm::Linear => vec![("alpha", Range::LogUniform([1e-3, 100.0]))],
        Algorithm::RandomForest => vec![
            ("n_estimators", Range::Int([50.0, 300.0])),
            ("max_depth", Range::Int([4.0, 24.0])),
            ("min_samples_leaf", Range::Int([1.0, 20.0])),
            ("max_features", Range::Uniform([0.1, 1.0])),
        ],
        Algorithm::GradientBoosting => vec![
            ("learning_rate", Range::LogUniform([0.01, 0.3])),
            ("max_depth", Range::Int([2.0, 10.0])),
            ("subsample", Range::Uniform([0.5, 1.0])),
            ("colsample_bytree", Range::Uniform([0.5, 1.0])),
            ("l2", Range::LogUniform([0.01, 10.0])),
            ("n_estimators", Range::Choice(vec![1000.0])),
        ],
    };
    pairs.into_iter().map(|(k, r)| (k.to_string(), r)).collect()
}

/// Trials over several algorithms, taken in turn: first each algorithm with its defaults, then
/// random draws from each one's [`default_space`]. At most `max_trials`.
pub fn portfolio(algorithms: &[Algorithm], max_trials: usize, seed: u64) -> Result<Vec<(Algorithm, BTreeMap<String, f64>)>, TrainError> {
    if algorithms.is_empty() {
        return Err(TrainError::Data("choose at least one algorithm".into()));
    }
    if max_trials == 0 || max_trials > MAX_TRIALS {
        return Err(TrainError::Data(format!("max_trials must be between 1 and {MAX_TRIALS}")));
    }
    let rounds = max_trials.div_ceil(algorithms.len());
    let draws: Vec<Vec<BTreeMap<String, f64>>> = algorithms
        .iter()
        .enumerate()
        .map(|(i, a)| trials(&default_space(*a), Method::Random, rounds.max(1), seed.wrapping_add(i as u64)))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(max_trials);
    'rounds: for round in 0..rounds {
        for (i, a) in algorithms.iter().enumerate() {
            if out.len() == max_trials {
                break 'rounds;
            }
            out.push((*a, if round == 0 { BTreeMap::new() } else { draws[i][round - 1].clone() }));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(json: serde_json::Value) -> BTreeMap<String, Range> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn grids_cover_every_combination_and_random_draws_stay_in_range() {
        let s = space(serde_json::json!({ "max_depth": { "int": [3, 5] }, "learning_rate": { "choice": [0.1, 0.3] } }));
        check(&s, Algorithm::GradientBoosting).unwrap();
        let grid = trials(&s, Method::Grid, 100, 0).unwrap();
        assert_eq!(grid.len(), 6);
        let mut seen: Vec<(f64, f64)> = grid.iter().map(|t| (t["learning_rate"], t["max_depth"])).collect();
        seen.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(seen, vec![(0.1, 3.0), (0.1, 4.0), (0.1, 5.0), (0.3, 3.0), (0.3, 4.0), (0.3, 5.0)]);
        assert_eq!(trials(&s, Method::Grid, 4, 0).unwrap().len(), 4);

        let r = space(serde_json::json!({ "learning_rate": { "log_uniform": [0.01, 0.5] }, "subsample": { "uniform": [0.5, 1.0] }, "max_depth": { "int": [2, 8] } }));
        check(&r, Algorithm::GradientBoosting).unwrap();
        let drawn = trials(&r, Method::Random, 200, 9).unwrap();
        assert_eq!(drawn, trials(&r, Method::Random, 200, 9).unwrap(), "the same seed draws the same trials");
        assert_ne!(drawn, trials(&r, Method::Random, 200, 10).unwrap());
        for t in &drawn {
            assert!((0.01..=0.5).contains(&t["learning_rate"]));
            assert!((0.5..=1.0).contains(&t["subsample"]));
            assert!((2.0..=8.0).contains(&t["max_depth"]) && t["max_depth"].fract() == 0.0);
        }
        // Log-uniform draws are spread over orders of magnitude.
        assert!(drawn.iter().filter(|t| t["learning_rate"] < 0.05).count() > 50);
        assert!(trials(&r, Method::Grid, 10, 0).unwrap_err().to_string().contains("a grid search takes choices and int ranges only"));
    }

    #[test]
    fn bad_spaces_are_named() {
        let e = |json: serde_json::Value, algorithm: Algorithm| check(&space(json), algorithm).unwrap_err().to_string();
        assert_eq!(check(&BTreeMap::new(), Algorithm::Linear).unwrap_err().to_string(), "the search space is empty: give at least one parameter to search");
        assert_eq!(e(serde_json::json!({ "learning_rate": { "uniform": [0.5, 0.1] } }), Algorithm::GradientBoosting), "parameter 'learning_rate': the range [0.5, 0.1] is empty: low must be below high");
        assert_eq!(e(serde_json::json!({ "learning_rate": { "uniform": [0.1, 3.0] } }), Algorithm::GradientBoosting), "parameter 'learning_rate': 3 is outside (0, 1]");
        assert_eq!(e(serde_json::json!({ "alpha": { "log_uniform": [0.0, 1.0] } }), Algorithm::Linear), "parameter 'alpha': a log-uniform range needs low > 0");
        assert_eq!(e(serde_json::json!({ "max_depth": { "uniform": [2.0, 6.0] } }), Algorithm::RandomForest), "parameter 'max_depth': takes whole numbers: use an int range or a choice");
        assert_eq!(e(serde_json::json!({ "n_estimators": { "choice": [] } }), Algorithm::RandomForest), "parameter 'n_estimators': a choice needs at least one value");
        assert!(e(serde_json::json!({ "depth": { "choice": [1.0] } }), Algorithm::RandomForest).starts_with("parameter 'depth': not a parameter of random_forest"));
        assert!(serde_json::from_value::<BTreeMap<String, Range>>(serde_json::json!({ "alpha": { "normal": [0, 1] } })).is_err());
    }

    #[test]
    fn a_portfolio_starts_with_defaults_and_takes_algorithms_in_turn() {
        for a in Algorithm::ALL {
            check(&default_space(a), a).unwrap();
        }
        let all = Algorithm::ALL;
        let p = portfolio(&all, 8, 3).unwrap();
        assert_eq!(p.len(), 8);
        let order: Vec<Algorithm> = p.iter().map(|(a, _)| *a).collect();
        assert_eq!(&order[..3], &all[..]);
        assert_eq!(&order[3..6], &all[..]);
        assert!(p[..3].iter().all(|(_, v)| v.is_empty()), "defaults first");
        assert!(p[3..].iter().all(|(a, v)| v.keys().cloned().collect::<Vec<_>>() == default_space(*a).keys().cloned().collect::<Vec<_>>()));
        assert_eq!(p, portfolio(&all, 8, 3).unwrap());
        assert_eq!(portfolio(&[Algorithm::Linear], 1, 0).unwrap(), vec![(Algorithm::Linear, BTreeMap::new())]);
        assert!(portfolio(&[], 3, 0).is_err());
    }
}
