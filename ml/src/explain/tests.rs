use std::collections::BTreeMap;

use super::*;
use crate::train::{self, Algorithm, Params, Target, Task, TrainingData};

/// Rows with three numbers and a colour; the target is a class by a threshold on a score.
fn data(rows: usize, task: Task) -> TrainingData {
    let mut state = 7u64;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut a, mut b, mut c, mut colour, mut score) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rows {
        let (x, y, z) = (next() * 4.0 - 2.0, next() * 4.0 - 2.0, next());
        let k = (next() * 3.0) as u32;
        a.push(x);
        b.push(y);
        c.push(z);
        colour.push(k);
        score.push(x + 0.5 * y - z + [0.0, 0.8, -0.8][k as usize] + (next() - 0.5) * 0.3);
    }
    let target = match task {
        Task::Regression => Target::Numbers(score),
        _ => Target::Classes { codes: score.iter().map(|&v| (v > 0.0) as u32).collect(), labels: vec!["no".into(), "yes".into()] },
    };
    TrainingData {
        features: vec![
            Column { name: "a".into(), values: Values::Numbers(a) },
            Column { name: "b".into(), values: Values::Numbers(b) },
            Column { name: "c".into(), values: Values::Numbers(c) },
            Column { name: "colour".into(), values: Values::Categories { codes: colour, levels: vec!["red".into(), "green".into(), "blue".into()] } },
        ],
        target,
        split: (0..rows).map(|r| if r % 5 == 0 { 1 } else { 0 }).collect(),
    }
}

fn fit(algorithm: Algorithm, task: Task, params: &[(&str, f64)]) -> Model {
    let given: BTreeMap<String, serde_json::Value> = params.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect();
    let p = Params::resolve(algorithm, &given).unwrap();
    train::train(&data(400, task), "y", task, algorithm, &p, 3, &|_, _| {}).unwrap().model
}

fn instance(a: f64, b: f64, c: f64, colour: &str) -> Vec<FeatureValue> {
    vec![FeatureValue::Number(a), FeatureValue::Number(b), FeatureValue::Number(c), FeatureValue::Category(Some(colour.into()))]
}

#[test]
fn gauss_legendre_integrates_polynomials_exactly() {
    let (x, w) = gauss_legendre(1);
    assert_eq!((x[0], w[0]), (0.5, 1.0));
    for n in [2, 5, 10, 50, 100] {
        let (x, w) = gauss_legendre(n);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{n}");
        assert!(x.windows(2).all(|p| p[0] < p[1]) && x[0] > 0.0 && x[n - 1] < 1.0);
        // Exact for degree 2n − 1: ∫₀¹ t^(2n−1) dt = 1 / 2n.
        let degree = (2 * n - 1) as i32;
        let integral: f64 = x.iter().zip(&w).map(|(t, w)| w * t.powi(degree)).sum();
        assert!((integral - 1.0 / (2 * n) as f64).abs() < 1e-10, "{n}: {integral}");
    }
}

#[test]
fn sampled_shapley_attributions_sum_to_the_change_in_output() {
    for algorithm in [Algorithm::RandomForest, Algorithm::GradientBoosting, Algorithm::Linear] {
        let model = fit(algorithm, Task::Binary, &[]);
        let baseline = training_baseline(&model);
        for (i, x) in [instance(1.5, -0.3, 0.2, "green"), instance(-1.0, 1.9, 0.9, "blue"), instance(0.1, 0.1, 0.5, "purple")].iter().enumerate() {
            for paths in [1, 10, 50] {
                let e = explain(&model, x, &baseline, 1, Method::SampledShapley { path_count: paths }, i as u64).unwrap();
                let sum: f64 = e.attributions.iter().sum();
                assert!((sum - (e.instance_output - e.baseline_output)).abs() < 1e-12, "{algorithm:?} {i} {paths}: {sum} vs {e:?}");
                let p = model.predict(&columns_of(&["a", "b", "c", "colour"].map(String::from), &[x.clone()])).unwrap();
                assert!((e.instance_output - output_of(&p, 1)[0]).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn sampled_shapley_is_exact_for_an_additive_function() {
    let names: Vec<String> = ["p", "q", "r"].map(String::from).to_vec();
    let f = |cols: &[Column]| -> Result<Vec<f64>, TrainError> {
        let get = |j: usize| match &cols[j].values {
            Values::Numbers(v) => v.clone(),
            _ => unreachable!(),
        };
        let (p, q, r) = (get(0), get(1), get(2));
        Ok((0..p.len()).map(|i| p[i] * p[i] + 3.0 * q[i] - r[i].sin()).collect())
    };
    let x = [2.0, 1.0, 0.5].map(FeatureValue::Number).to_vec();
    let b = [0.0, 0.0, 0.0].map(FeatureValue::Number).to_vec();
    let e = sampled_shapley(&names, &x, &b, 7, 1, f).unwrap();
    let expected = [4.0, 3.0, -(0.5f64.sin())];
    for (a, want) in e.attributions.iter().zip(expected) {
        assert!((a - want).abs() < 1e-12, "{a} vs {want}");
    }
    assert!(e.approximation_error < 1e-12, "every order agrees");
}

/// v(S): the tree's expectation with the features in S fixed to x (others follow the training
/// cover), averaged over the trees.
fn conditional(model: &Model, x: &[f64], set: &[bool], output: usize) -> f64 {
    fn walk(t: &Tree, node: usize, x: &[f64], set: &[bool], output: usize) -> f64 {
        let n = &t.nodes[node];
        if n.is_leaf() {
            return n.value[output];
        }
        let f = n.feature as usize;
        if set[f] {
            let next = if x[f] <= n.threshold { n.left } else { n.right };
            return walk(t, next as usize, x, set, output);
        }
        let (l, r) = (&t.nodes[n.left as usize], &t.nodes[n.right as usize]);
        (l.cover * walk(t, n.left as usize, x, set, output) + r.cover * walk(t, n.right as usize, x, set, output)) / n.cover
    }
    let Estimator::RandomForest(forest) = &model.estimator else { panic!("a forest") };
    forest.trees.iter().map(|t| walk(t, 0, x, set, output)).sum::<f64>() / forest.trees.len() as f64
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|k| k as f64).product()
}

#[test]
fn tree_shap_equals_shapley_values_by_enumeration() {
    let model = fit(Algorithm::RandomForest, Task::Binary, &[("n_estimators", 5.0), ("max_depth", 5.0)]);
    let names: Vec<String> = ["a", "b", "c", "colour"].map(String::from).to_vec();
    for x in [instance(1.5, -0.3, 0.2, "green"), instance(-1.0, 1.9, 0.9, "blue"), instance(0.0, 0.0, 0.5, "red")] {
        let e = explain(&model, &x, &training_baseline(&model), 1, Method::TreeShap, 0).unwrap();
        let encoded = model.preprocessor.encode(&columns_of(&names, &[x.clone()]), 1, crate::train::encoding_for(Algorithm::RandomForest)).unwrap();
        let d = names.len();
        for j in 0..d {
            let mut phi = 0.0;
            for mask in 0u32..(1 << d) {
                if mask & (1 << j) != 0 {
                    continue;
                }
                let set: Vec<bool> = (0..d).map(|k| mask & (1 << k) != 0).collect();
                let mut with = set.clone();
                with[j] = true;
                let s = set.iter().filter(|b| **b).count();
                let weight = factorial(s) * factorial(d - s - 1) / factorial(d);
                phi += weight * (conditional(&model, &encoded.data, &with, 1) - conditional(&model, &encoded.data, &set, 1));
            }
            assert!((e.attributions[j] - phi).abs() < 1e-10, "feature {j}: {} vs {phi}", e.attributions[j]);
        }
        assert!((e.baseline_output - conditional(&model, &encoded.data, &[false; 4], 1)).abs() < 1e-10);
        assert!(e.approximation_error < 1e-9, "{e:?}");
    }
}

#[test]
fn tree_shap_of_boosted_trees_sums_to_the_log_odds() {
    let model = fit(Algorithm::GradientBoosting, Task::Binary, &[("n_estimators", 40.0)]);
    let x = instance(0.7, -1.2, 0.4, "blue");
    let e = explain(&model, &x, &training_baseline(&model), 1, Method::TreeShap, 0).unwrap();
    let p = output_of(&model.predict(&columns_of(&["a", "b", "c", "colour"].map(String::from), &[x.clone()])).unwrap(), 1)[0];
    assert!((1.0 / (1.0 + (-e.instance_output).exp()) - p).abs() < 1e-12, "the margin is the model's: {e:?} vs p = {p}");
    // The boosters keep their leaves in single precision.
    assert!(e.approximation_error < 1e-5, "{e:?}");
    let other = explain(&model, &x, &training_baseline(&model), 0, Method::TreeShap, 0).unwrap();
    assert!((other.instance_output + e.instance_output).abs() < 1e-12, "class 0 is the other side");
    let linear = fit(Algorithm::Linear, Task::Binary, &[]);
    assert!(explain(&linear, &x, &training_baseline(&linear), 1, Method::TreeShap, 0).is_err());
}

/// v(S) of boosted trees in log-odds: the base score plus each tree's expectation with the
/// features in S fixed to x (missing values down the missing branch), the others following the
/// training hessians.
fn boosted_conditional(booster: &forust_ml::GradientBooster, x: &[f64], set: &[bool]) -> f64 {
    fn walk(t: &forust_ml::tree::Tree, node: usize, x: &[f64], set: &[bool]) -> f64 {
        let n = &t.nodes[node];
        if n.is_leaf {
            return n.weight_value as f64;
        }
        let f = n.split_feature;
        if set[f] {
            let next = if x[f].is_nan() { n.missing_node } else if x[f] < n.split_value { n.left_child } else { n.right_child };
            return walk(t, next, x, set);
        }
        let mut children = vec![n.left_child, n.right_child];
        if n.missing_node != n.left_child && n.missing_node != n.right_child {
            children.push(n.missing_node);
        }
        children.iter().map(|&c| t.nodes[c].hessian_sum as f64 * walk(t, c, x, set)).sum::<f64>() / n.hessian_sum as f64
    }
    booster.base_score + booster.trees.iter().map(|t| walk(t, 0, x, set)).sum::<f64>()
}

#[test]
fn tree_shap_of_boosted_trees_equals_shapley_values_by_enumeration() {
    let model = fit(Algorithm::GradientBoosting, Task::Binary, &[("n_estimators", 12.0), ("max_depth", 4.0)]);
    let Estimator::GradientBoosting(b) = &model.estimator else { panic!("boosted trees") };
    let booster = &b.boosters[0];
    let names: Vec<String> = ["a", "b", "c", "colour"].map(String::from).to_vec();
    for x in [instance(1.5, -0.3, 0.2, "green"), instance(-1.0, f64::NAN, 0.9, "blue"), instance(0.0, 0.0, 0.5, "red")] {
        let e = explain(&model, &x, &training_baseline(&model), 1, Method::TreeShap, 0).unwrap();
        let encoded = model.preprocessor.encode(&columns_of(&names, &[x.clone()]), 1, crate::train::encoding_for(Algorithm::GradientBoosting)).unwrap();
        let d = encoded.cols;
        assert_eq!(d, names.len(), "one column per feature");
        for j in 0..d {
            let mut phi = 0.0;
            for mask in 0u32..(1 << d) {
                if mask & (1 << j) != 0 {
                    continue;
                }
                let set: Vec<bool> = (0..d).map(|k| mask & (1 << k) != 0).collect();
                let mut with = set.clone();
                with[j] = true;
                let s = set.iter().filter(|b| **b).count();
                let weight = factorial(s) * factorial(d - s - 1) / factorial(d);
                phi += weight * (boosted_conditional(booster, &encoded.data, &with) - boosted_conditional(booster, &encoded.data, &set));
            }
            assert!((e.attributions[j] - phi).abs() < 1e-9, "feature {j}: {} vs {phi}", e.attributions[j]);
        }
        assert!((e.baseline_output - boosted_conditional(booster, &encoded.data, &[false; 4])).abs() < 1e-6);
        // forust's own (single-precision) contributions agree.
        let m = forust_ml::Matrix::new(&encoded.data, 1, d);
        let theirs = booster.predict_contributions(&m, forust_ml::gradientbooster::ContributionsMethod::Shapley, false);
        for j in 0..d {
            assert!((e.attributions[j] - theirs[j]).abs() < 1e-4, "feature {j}: {} vs forust {}", e.attributions[j], theirs[j]);
        }
    }
}

#[test]
fn integrated_gradients_converge_as_steps_grow() {
    let model = fit(Algorithm::Linear, Task::Regression, &[]);
    let numeric = |v: [f64; 3]| v.iter().map(|x| FeatureValue::Number(*x)).collect::<Vec<_>>();
    // Numbers only: a linear model over a, b, c.
    let data3 = {
        let mut d = data(400, Task::Binary);
        d.features.truncate(3);
        d
    };
    let p = Params::resolve(Algorithm::Linear, &BTreeMap::new()).unwrap();
    let logistic = train::train(&data3, "y", Task::Binary, Algorithm::Linear, &p, 3, &|_, _| {}).unwrap().model;
    let x = numeric([1.8, -1.5, 0.1]);
    let b = training_baseline(&logistic);
    let errors: Vec<f64> = [1, 2, 4, 8, 50]
        .iter()
        .map(|&n| explain(&logistic, &x, &b, 1, Method::IntegratedGradients { step_count: n }, 0).unwrap().approximation_error)
        .collect();
    assert!(errors[0] > errors[2] && errors[2] > errors[4], "{errors:?}");
    assert!(errors[4] < 1e-6, "{errors:?}");
    // Categorical inputs are not differentiable.
    assert!(explain(&model, &instance(1.0, 1.0, 1.0, "red"), &training_baseline(&model), 0, Method::IntegratedGradients { step_count: 10 }, 0).is_err());
}
