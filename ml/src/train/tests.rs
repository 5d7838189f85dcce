use std::collections::BTreeMap;

use super::*;
use crate::evaluate::Report;

/// A deterministic stream of numbers in [0, 1).
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Rows with two informative numbers, a noise number with gaps, and a colour that shifts the
/// outcome. `task` decides the target: a class by thresholds, or the score itself.
fn synthetic(rows: usize, task: Task, seed: u64) -> TrainingData {
    let mut s = Stream(seed);
    let colours = ["red", "green", "blue"];
    let (mut a, mut b, mut noise, mut colour, mut score, mut split) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in 0..rows {
        let (x1, x2) = (s.next() * 4.0 - 2.0, s.next() * 4.0 - 2.0);
        let c = (s.next() * 3.0) as u32;
        let n = if r % 7 == 0 { f64::NAN } else { s.next() };
        a.push(x1);
        b.push(x2);
        noise.push(n);
        colour.push(if r % 11 == 0 { MISSING } else { c });
        score.push(x1 + 0.5 * x2 + [0.0, 0.8, -0.8][c as usize] + (s.next() - 0.5) * 0.3);
        split.push(crate::split::assign(seed, r as u64, [0.7, 0.15, 0.15]) as u8);
    }
    let target = match task {
        Task::Regression => Target::Numbers(score),
        Task::Binary => Target::Classes { codes: score.iter().map(|&v| (v > 0.0) as u32).collect(), labels: vec!["no".into(), "yes".into()] },
        Task::Multiclass => Target::Classes {
            codes: score.iter().map(|&v| if v < -0.7 { 0 } else if v < 0.7 { 1 } else { 2 }).collect(),
            labels: vec!["low".into(), "mid".into(), "high".into()],
        },
    };
    TrainingData {
        features: vec![
            Column { name: "a".into(), values: Values::Numbers(a) },
            Column { name: "b".into(), values: Values::Numbers(b) },
            Column { name: "noise".into(), values: Values::Numbers(noise) },
            Column { name: "colour".into(), values: Values::Categories { codes: colour, levels: colours.iter().map(|c| c.to_string()).collect() } },
        ],
        target,
        split,
    }
}

fn defaults(algorithm: Algorithm) -> Params {
    Params::resolve(algorithm, &BTreeMap::new()).unwrap()
}

fn quiet(_: f64, _: &str) {}

fn test_report(o: &Outcome) -> &Report {
    &o.reports.iter().find(|(n, _)| n == "test").expect("a test report").1
}

#[test]
fn every_algorithm_learns_every_task() {
    for task in [Task::Binary, Task::Multiclass, Task::Regression] {
        let data = synthetic(3_000, task, 7);
        for algorithm in Algorithm::ALL {
            let o = train(&data, "target", task, algorithm, &defaults(algorithm), 1, &quiet).unwrap();
            assert_eq!(o.rows.iter().sum::<usize>(), 3_000);
            match test_report(&o) {
                Report::Classification(c) => {
                    let auc = c.roc_auc.unwrap();
                    assert!(auc > 0.9, "{task:?} {algorithm:?}: test AUC {auc}");
                    assert!(c.accuracy > 0.75, "{task:?} {algorithm:?}: accuracy {}", c.accuracy);
                    let total: u64 = c.confusion.iter().flatten().sum();
                    assert_eq!(total as usize, o.rows[2]);
                }
                Report::Regression(r) => assert!(r.r2 > 0.85, "{algorithm:?}: R² {}", r.r2),
            }
            assert!(!o.curves.loss.is_empty());
            assert!(o.curves.loss.iter().all(|(_, t, v)| t.is_finite() && v.is_some_and(f64::is_finite)));
            // The informative features matter more than the noise.
            let imp: BTreeMap<String, f64> = o.model.feature_importance().into_iter().collect();
            assert!(imp["a"] > imp["noise"], "{task:?} {algorithm:?}: {imp:?}");
            assert!((imp.values().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_model_and_another_seed_another_forest() {
    let data = synthetic(1_500, Task::Binary, 3);
    for algorithm in Algorithm::ALL {
        let mut p = BTreeMap::new();
        if algorithm == Algorithm::GradientBoosting {
            p.insert("subsample".to_string(), serde_json::json!(0.7));
        }
        let params = Params::resolve(algorithm, &p).unwrap();
        let one = train(&data, "y", Task::Binary, algorithm, &params, 11, &quiet).unwrap();
        let two = train(&data, "y", Task::Binary, algorithm, &params, 11, &quiet).unwrap();
        assert_eq!(serde_json::to_string(&one.model).unwrap(), serde_json::to_string(&two.model).unwrap(), "{algorithm:?}");
        assert_eq!(one.reports, two.reports);
    }
    let params = defaults(Algorithm::RandomForest);
    let one = train(&data, "y", Task::Binary, Algorithm::RandomForest, &params, 11, &quiet).unwrap();
    let other = train(&data, "y", Task::Binary, Algorithm::RandomForest, &params, 12, &quiet).unwrap();
    assert_ne!(serde_json::to_string(&one.model).unwrap(), serde_json::to_string(&other.model).unwrap());
}

#[test]
fn a_stored_model_predicts_as_before_and_copes_with_unseen_and_missing_values() {
    let data = synthetic(2_000, Task::Multiclass, 5);
    for algorithm in Algorithm::ALL {
        let o = train(&data, "y", Task::Multiclass, algorithm, &defaults(algorithm), 2, &quiet).unwrap();
        let stored: Model = serde_json::from_str(&serde_json::to_string(&o.model).unwrap()).unwrap();
        let rows = vec![
            Column { name: "colour".into(), values: Values::Categories { codes: vec![0, 1, MISSING], levels: vec!["purple".into(), "red".into()] } },
            Column { name: "a".into(), values: Values::Numbers(vec![1.5, f64::NAN, -2.0]) },
            Column { name: "b".into(), values: Values::Numbers(vec![0.0, 0.3, f64::NAN]) },
            Column { name: "noise".into(), values: Values::Numbers(vec![0.5, 0.5, 0.5]) },
            Column { name: "extra".into(), values: Values::Numbers(vec![9.0, 9.0, 9.0]) },
        ];
        let before = o.model.predict(&rows).unwrap();
        assert_eq!(stored.predict(&rows).unwrap(), before, "{algorithm:?}");
        let Predictions::Probabilities { classes: 3, values } = before else { panic!("{before:?}") };
        for r in values.chunks(3) {
            assert!(r.iter().all(|p| (0.0..=1.0).contains(p)), "{algorithm:?}: {r:?}");
            assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        // Row 0 (a = 1.5) leans to "high", row 2 (a = -2) to "low".
        assert!(values[2] > values[0], "{algorithm:?}: {values:?}");
        assert!(values[6] > values[8], "{algorithm:?}: {values:?}");
        let missing = stored.predict(&rows[1..]).unwrap_err();
        assert_eq!(missing, TrainError::Data("feature 'colour' is missing".into()));
    }
}

#[test]
fn boosting_stops_early_when_validation_loss_stops_improving() {
    let data = synthetic(2_000, Task::Binary, 9);
    let mut p = BTreeMap::new();
    p.insert("n_estimators".to_string(), serde_json::json!(2_000));
    p.insert("learning_rate".to_string(), serde_json::json!(0.5));
    p.insert("early_stopping_rounds".to_string(), serde_json::json!(5));
    let params = Params::resolve(Algorithm::GradientBoosting, &p).unwrap();
    let o = train(&data, "y", Task::Binary, Algorithm::GradientBoosting, &params, 1, &quiet).unwrap();
    let Estimator::GradientBoosting(b) = &o.model.estimator else { unreachable!() };
    let kept = b.trees()[0];
    assert!(kept < 200, "kept {kept} trees");
    assert!(o.curves.loss.len() < 2_000 && o.curves.loss.len() >= kept);
    // The kept iteration is the one with the least validation loss.
    let best = o.curves.loss.iter().min_by(|x, y| x.2.unwrap().total_cmp(&y.2.unwrap())).unwrap().0;
    assert_eq!(best as usize, kept);
}

#[test]
fn linear_models_log_the_loss_along_their_iterations() {
    for task in [Task::Binary, Task::Multiclass, Task::Regression] {
        let data = synthetic(2_000, task, 4);
        let o = train(&data, "target", task, Algorithm::Linear, &defaults(Algorithm::Linear), 1, &quiet).unwrap();
        let steps: Vec<u64> = o.curves.loss.iter().map(|(s, _, _)| *s).collect();
        assert!(steps.len() >= 2, "{task:?}: {steps:?}");
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{task:?}: {steps:?}");
        assert!(steps[..steps.len() - 1].iter().all(|s| s.is_power_of_two()), "{task:?}: {steps:?}");
        assert_eq!(steps[0], 1);
        // The optimiser improves the training loss.
        let (first, last) = (o.curves.loss[0].1, o.curves.loss.last().unwrap().1);
        if task == Task::Regression {
            assert!(last <= first, "{task:?}: {first} → {last}");
        } else {
            assert!(steps.len() >= 4 && last < first, "{task:?}: {steps:?}, {first} → {last}");
        }
        let x = o.curves.loss.last().unwrap();
        assert!(x.2.is_some_and(f64::is_finite));
        // A fit allowed one iteration stops where the curve's first point is.
        let mut one = defaults(Algorithm::Linear);
        one.0.insert("max_iterations".to_string(), 1.0);
        let short = train(&data, "target", task, Algorithm::Linear, &one, 1, &quiet).unwrap();
        assert_eq!(short.curves.loss, vec![o.curves.loss[0]], "{task:?}");
    }
}

#[test]
fn parameters_are_checked_and_named() {
    let bad = |algorithm: Algorithm, name: &str, value: serde_json::Value| {
        let mut p = BTreeMap::new();
        p.insert(name.to_string(), value);
        Params::resolve(algorithm, &p).unwrap_err().to_string()
    };
    assert_eq!(bad(Algorithm::GradientBoosting, "learning_rate", serde_json::json!(0)), "parameter 'learning_rate': 0 is outside (0, 1]");
    assert_eq!(bad(Algorithm::RandomForest, "n_estimators", serde_json::json!(2.5)), "parameter 'n_estimators': must be a whole number, not 2.5");
    assert_eq!(bad(Algorithm::Linear, "alpha", serde_json::json!("lots")), "parameter 'alpha': 'lots' is not a number");
    assert!(bad(Algorithm::Linear, "depth", serde_json::json!(3)).starts_with("parameter 'depth': not a parameter of linear (it takes alpha, max_iterations)"));
    let p = Params::resolve(Algorithm::RandomForest, &BTreeMap::from([("max_depth".to_string(), serde_json::json!("8"))])).unwrap();
    assert_eq!(p.get("max_depth"), 8.0);
    assert_eq!(p.get("n_estimators"), 100.0);
}

#[test]
fn bad_targets_are_refused() {
    let mut data = synthetic(200, Task::Regression, 1);
    data.target = Target::Numbers(vec![4.0; 200]);
    let e = train(&data, "y", Task::Regression, Algorithm::Linear, &defaults(Algorithm::Linear), 0, &quiet).unwrap_err();
    assert_eq!(e, TrainError::Data("the target is constant in the training split".into()));
    let three = synthetic(200, Task::Multiclass, 1);
    let e = train(&three, "y", Task::Binary, Algorithm::Linear, &defaults(Algorithm::Linear), 0, &quiet).unwrap_err();
    assert_eq!(e, TrainError::Data("a binary task needs 2 classes; the target has 3".into()));
    let mut few = synthetic(10, Task::Binary, 1);
    few.split = vec![1; 10];
    let e = train(&few, "y", Task::Binary, Algorithm::Linear, &defaults(Algorithm::Linear), 0, &quiet).unwrap_err();
    assert!(e.to_string().contains("the training split has 0 rows"), "{e}");
}
