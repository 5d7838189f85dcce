//! Feature attributions, in the shape Vertex AI explains predictions: a baseline output, the
//! instance's output, one attribution per input feature and an approximation error.
//!
//! - Sampled Shapley (any model): features switch from the baseline to the instance in random
//!   orders; each feature gets the mean change it causes. Every order's changes sum to
//!   f(x) − f(baseline), so the attributions do too, exactly.
//! - Integrated gradients (differentiable models, numeric inputs): the gradient integrated along
//!   the straight path from the baseline, by Gauss–Legendre quadrature.
//! - TreeSHAP (built-in tree models): exact Shapley values of the trees' conditional
//!   expectations (Lundberg et al.'s polynomial-time algorithm); the baseline output is the
//!   trees' expected value.

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::train::forest::Tree;
use crate::train::{Column, Estimator, FeatureSpec, Model, Predictions, TrainError, Values, MISSING};

/// One input feature's value.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue {
    /// A number (`NaN` when missing).
    Number(f64),
    /// A category (`None` when missing).
    Category(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub baseline_output: f64,
    pub instance_output: f64,
    /// One per input feature, in the model's feature order.
    pub attributions: Vec<f64>,
    pub approximation_error: f64,
}

/// How to attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    SampledShapley { path_count: usize },
    IntegratedGradients { step_count: usize },
    TreeShap,
}

/// Rows of feature values as columns (one per feature, named).
pub fn columns_of(names: &[String], rows: &[Vec<FeatureValue>]) -> Vec<Column> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let numeric = rows.first().is_some_and(|r| matches!(r[j], FeatureValue::Number(_)));
            let values = if numeric {
                Values::Numbers(rows.iter().map(|r| if let FeatureValue::Number(x) = r[j] { x } else { f64::NAN }).collect())
            } else {
                let mut levels: Vec<String> = Vec::new();
                let codes = rows
                    .iter()
                    .map(|r| match &r[j] {
                        FeatureValue::Category(Some(s)) => match levels.iter().position(|l| l == s) {
                            Some(i) => i as u32,
                            None => {
                                levels.push(s.clone());
                                (levels.len() - 1) as u32
                            }
                        },
                        _ => MISSING,
                    })
                    .collect();
                Values::Categories { codes, levels }
            };
            Column { name: name.clone(), values }
        })
        .collect()
}

/// The training baseline of a model: each numeric feature's median, each categorical
/// feature's most frequent category.
pub fn training_baseline(model: &Model) -> Vec<FeatureValue> {
    model
        .preprocessor
        .features
        .iter()
        .map(|f| match f {
            FeatureSpec::Numeric { median, .. } => FeatureValue::Number(*median),
            FeatureSpec::Categorical { categories, mode, .. } => FeatureValue::Category(categories.get(*mode).cloned()),
        })
        .collect()
}

/// Output `output` of each row (a class's probability, or the value).
pub fn output_of(p: &Predictions, output: usize) -> Vec<f64> {
    match p {
        Predictions::Probabilities { classes, values } => values.chunks(*classes).map(|row| row.get(output).copied().unwrap_or(f64::NAN)).collect(),
        Predictions::Values(v) => v.clone(),
    }
}

/// Explains output `output` (a class index, or 0 for a regressor) of `model` at `x`.
pub fn explain(model: &Model, x: &[FeatureValue], baseline: &[FeatureValue], output: usize, method: Method, seed: u64) -> Result<Explanation, TrainError> {
    let names: Vec<String> = model.preprocessor.features.iter().map(|f| f.name().to_string()).collect();
    if x.len() != names.len() || baseline.len() != names.len() {
        return Err(TrainError::Data(format!("an explanation needs {} feature values", names.len())));
    }
    let f = |cols: &[Column]| -> Result<Vec<f64>, TrainError> { Ok(output_of(&model.predict(cols)?, output)) };
    match method {
        Method::SampledShapley { path_count } => sampled_shapley(&names, x, baseline, path_count, seed, f),
        Method::IntegratedGradients { step_count } => {
            let numbers = |v: &[FeatureValue]| -> Result<Vec<f64>, TrainError> {
                v.iter()
                    .zip(&names)
                    .map(|(v, n)| match v {
                        FeatureValue::Number(x) if x.is_finite() => Ok(*x),
                        _ => Err(TrainError::Data(format!("integrated gradients need a number for every feature; '{n}' has none"))),
                    })
                    .collect()
            };
            integrated_gradients(&names, &numbers(x)?, &numbers(baseline)?, step_count, f)
        }
        Method::TreeShap => tree_shap(model, &names, x, output),
    }
}

/// Sampled Shapley: `path_count` random feature orders (seeded).
pub fn sampled_shapley<F>(names: &[String], x: &[FeatureValue], b: &[FeatureValue], path_count: usize, seed: u64, f: F) -> Result<Explanation, TrainError>
where
    F: Fn(&[Column]) -> Result<Vec<f64>, TrainError>,
{
    let d = names.len();
    let paths = path_count.max(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut orders = Vec::with_capacity(paths);
    // Rows: the baseline, then along each order one more feature switched to the instance.
    let mut rows: Vec<Vec<FeatureValue>> = vec![b.to_vec()];
    for _ in 0..paths {
        let mut order: Vec<usize> = (0..d).collect();
        order.shuffle(&mut rng);
        let mut row = b.to_vec();
        for &j in &order {
            row[j] = x[j].clone();
            rows.push(row.clone());
        }
        orders.push(order);
    }
    let out = f(&columns_of(names, &rows))?;
    let base = out[0];
    let mut per_path = vec![vec![0.0; d]; paths];
    for (p, order) in orders.iter().enumerate() {
        let mut previous = base;
        for (k, &j) in order.iter().enumerate() {
            let now = out[1 + p * d + k];
            per_path[p][j] = now - previous;
            previous = now;
        }
    }
    let instance = if d == 0 { base } else { out[paths * d] };
    let attributions: Vec<f64> = (0..d).map(|j| per_path.iter().map(|p| p[j]).sum::<f64>() / paths as f64).collect();
    // The error: the mean standard error of the attributions over the orders, relative to the
    // change being explained (0 when every order agrees).
    let spread: f64 = if paths > 1 {
        (0..d)
            .map(|j| {
                let m = attributions[j];
                let var = per_path.iter().map(|p| (p[j] - m).powi(2)).sum::<f64>() / (paths - 1) as f64;
                (var / paths as f64).sqrt()
            })
            .sum::<f64>()
            / d.max(1) as f64
    } else {
        0.0
    };
    let delta = (instance - base).abs();
    Ok(Explanation {
        baseline_output: base,
        instance_output: instance,
        attributions,
        approximation_error: if delta > 0.0 { spread / delta } else { spread },
    })
}

/// Nodes and weights of `n`-point Gauss–Legendre quadrature on [0, 1].
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let n = n.max(1);
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        // Newton's method on P_n from the usual first guess.
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, z);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * z * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let pn = if n == 1 { z } else { p1 };
            let pn1 = if n == 1 { 1.0 } else { p0 };
            dp = n as f64 * (z * pn - pn1) / (z * z - 1.0);
            let step = pn / dp;
            z -= step;
            if step.abs() < 1e-15 {
                break;
            }
        }
        if n == 1 {
            z = 0.0;
            dp = 1.0;
        }
        let w = 2.0 / ((1.0 - z * z) * dp * dp);
        // Map [-1, 1] to [0, 1].
        nodes[i] = (1.0 - z) / 2.0;
        nodes[n - 1 - i] = (1.0 + z) / 2.0;
        weights[i] = w / 2.0;
        weights[n - 1 - i] = w / 2.0;
    }
    (nodes, weights)
}

/// Integrated gradients for numeric inputs; gradients by central differences.
pub fn integrated_gradients<F>(names: &[String], x: &[f64], b: &[f64], step_count: usize, f: F) -> Result<Explanation, TrainError>
where
    F: Fn(&[Column]) -> Result<Vec<f64>, TrainError>,
{
    let d = names.len();
    let (nodes, weights) = gauss_legendre(step_count);
    let to_cols = |rows: &[Vec<f64>]| -> Vec<Column> {
        (0..d).map(|j| Column { name: names[j].clone(), values: Values::Numbers(rows.iter().map(|r| r[j]).collect()) }).collect()
    };
    // Rows: x, b, then for each node and feature the point moved by ±h along that feature.
    let mut rows = vec![x.to_vec(), b.to_vec()];
    let hs: Vec<f64> = (0..d).map(|j| 1e-5 * x[j].abs().max(b[j].abs()).max(1.0)).collect();
    for &a in &nodes {
        let point: Vec<f64> = (0..d).map(|j| b[j] + a * (x[j] - b[j])).collect();
        for j in 0..d {
            let mut up = point.clone();
            up[j] += hs[j];
            let mut down = point.clone();
            down[j] -= hs[j];
            rows.push(up);
            rows.push(down);
        }
    }
    let out = f(&to_cols(&rows))?;
    let (instance, base) = (out[0], out[1]);
    let mut attributions = vec![0.0; d];
    for (k, w) in weights.iter().enumerate() {
        for j in 0..d {
            let at = 2 + k * 2 * d + 2 * j;
            let grad = (out[at] - out[at + 1]) / (2.0 * hs[j]);
            attributions[j] += w * grad * (x[j] - b[j]);
        }
    }
    let delta = instance - base;
    let gap = (attributions.iter().sum::<f64>() - delta).abs();
    Ok(Explanation {
        baseline_output: base,
        instance_output: instance,
        attributions,
        approximation_error: if delta.abs() > 0.0 { gap / delta.abs() } else { gap },
    })
}

/// One element of TreeSHAP's path of unique features.
#[derive(Clone, Copy, Debug)]
struct PathElement {
    feature: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

fn extend(path: &mut Vec<PathElement>, zero: f64, one: f64, feature: i64) {
    let depth = path.len();
    path.push(PathElement { feature, zero, one, weight: if depth == 0 { 1.0 } else { 0.0 } });
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (depth + 1) as f64;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / (depth + 1) as f64;
    }
}

fn unwind(path: &mut Vec<PathElement>, index: usize) {
    let depth = path.len() - 1;
    let (one, zero) = (path[index].one, path[index].zero);
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * (depth + 1) as f64 / ((i + 1) as f64 * one);
            next = tmp - path[i].weight * zero * (depth - i) as f64 / (depth + 1) as f64;
        } else {
            path[i].weight = path[i].weight * (depth + 1) as f64 / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
    path.pop();
}

fn unwound_sum(path: &[PathElement], index: usize) -> f64 {
    let depth = path.len() - 1;
    let (one, zero) = (path[index].one, path[index].zero);
    let mut total = 0.0;
    if one != 0.0 {
        let mut next = path[depth].weight;
        for i in (0..depth).rev() {
            let tmp = next / ((i + 1) as f64 * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (depth - i) as f64;
        }
    } else {
        for i in (0..depth).rev() {
            total += path[i].weight / (zero * (depth - i) as f64);
        }
    }
    total * (depth + 1) as f64
}

#[allow(clippy::too_many_arguments)]
fn shap_recurse(tree: &Tree, x: &[f64], output: usize, phi: &mut [f64], node: usize, parent: &[PathElement], zero: f64, one: f64, feature: i64) {
    let mut path = parent.to_vec();
    extend(&mut path, zero, one, feature);
    let n = &tree.nodes[node];
    if n.is_leaf() {
        let value = n.value.get(output).copied().unwrap_or(0.0);
        for i in 1..path.len() {
            let w = unwound_sum(&path, i);
            let el = path[i];
            phi[el.feature as usize] += w * (el.one - el.zero) * value;
        }
        return;
    }
    let goes_left = x[n.feature as usize] <= n.threshold || x[n.feature as usize].is_nan() && tree.nodes[n.left as usize].cover >= tree.nodes[n.right as usize].cover;
    let (hot, cold) = if goes_left { (n.left as usize, n.right as usize) } else { (n.right as usize, n.left as usize) };
    let cover = n.cover.max(f64::MIN_POSITIVE);
    let (hot_zero, cold_zero) = (tree.nodes[hot].cover / cover, tree.nodes[cold].cover / cover);
    let (mut in_zero, mut in_one) = (1.0, 1.0);
    if let Some(k) = path.iter().position(|p| p.feature == n.feature as i64) {
        in_zero = path[k].zero;
        in_one = path[k].one;
        unwind(&mut path, k);
    }
    shap_recurse(tree, x, output, phi, hot, &path, hot_zero * in_zero, in_one, n.feature as i64);
    shap_recurse(tree, x, output, phi, cold, &path, cold_zero * in_zero, 0.0, n.feature as i64);
}

/// The expected output of a tree: its leaves weighted by training cover.
fn expected_value(tree: &Tree, output: usize) -> f64 {
    let root = tree.nodes[0].cover.max(f64::MIN_POSITIVE);
    tree.nodes.iter().filter(|n| n.is_leaf()).map(|n| n.cover / root * n.value.get(output).copied().unwrap_or(0.0)).sum()
}

/// Exact TreeSHAP of one tree at an encoded row: (expected value, attribution per column).
pub fn tree_shap_one(tree: &Tree, x: &[f64], output: usize) -> (f64, Vec<f64>) {
    let mut phi = vec![0.0; x.len()];
    shap_recurse(tree, x, output, &mut phi, 0, &[], 1.0, 1.0, -1);
    (expected_value(tree, output), phi)
}

fn tree_shap(model: &Model, names: &[String], x: &[FeatureValue], output: usize) -> Result<Explanation, TrainError> {
    let cols = columns_of(names, &[x.to_vec()]);
    let encoding = crate::train::encoding_for(model.algorithm);
    let row = model.preprocessor.encode(&cols, 1, encoding)?;
    let to_feature = model.preprocessor.column_feature(encoding);
    let per_column: (f64, f64, Vec<f64>) = match &model.estimator {
        Estimator::RandomForest(forest) => {
            let n = forest.trees.len().max(1) as f64;
            let mut phi = vec![0.0; row.cols];
            let mut expected = 0.0;
            for t in &forest.trees {
                let (e, p) = tree_shap_one(t, &row.data, output);
                expected += e / n;
                phi.iter_mut().zip(p).for_each(|(a, b)| *a += b / n);
            }
            let instance = output_of(&model.predict_encoded(&row), output)[0];
            (expected, instance, phi)
        }
        Estimator::GradientBoosting(b) => {
            // In the boosters' raw output (log-odds for classes): one booster for two classes
            // (class 1's log-odds; class 0 is its negative), one per class otherwise.
            let (booster, sign) = match b.classes {
                0 => (&b.boosters[0], 1.0),
                2 => (&b.boosters[0], if output == 0 { -1.0 } else { 1.0 }),
                _ => (b.boosters.get(output).ok_or_else(|| TrainError::Data(format!("no output {output}")))?, 1.0),
            };
            let m = forust_ml::Matrix::new(&row.data, 1, row.cols);
            let c = booster.predict_contributions(&m, forust_ml::gradientbooster::ContributionsMethod::Shapley, false);
            let bias = c[row.cols];
            let phi: Vec<f64> = c[..row.cols].iter().map(|v| sign * v).collect();
            let instance = sign * booster.predict(&m, false)[0];
            (sign * bias, instance, phi)
        }
        Estimator::Linear(_) => return Err(TrainError::Data("TreeSHAP explains tree models; this model is linear".into())),
    };
    let (expected, instance, phi) = per_column;
    let mut attributions = vec![0.0; names.len()];
    for (c, v) in phi.into_iter().enumerate() {
        if let Some(&f) = to_feature.get(c) {
            attributions[f] += v;
        }
    }
    let gap = (attributions.iter().sum::<f64>() - (instance - expected)).abs();
    let delta = (instance - expected).abs();
    Ok(Explanation {
        baseline_output: expected,
        instance_output: instance,
        attributions,
        approximation_error: if delta > 0.0 { gap / delta } else { gap },
    })
}

#[cfg(test)]
mod tests;
