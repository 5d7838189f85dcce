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

/// Adds a feature to a path of `len` elements (the slice has room for one more); returns the new
/// length.
fn extend(path: &mut [PathElement], len: usize, zero: f64, one: f64, feature: i64) -> usize {
    let depth = len;
    path[depth] = PathElement { feature, zero, one, weight: if depth == 0 { 1.0 } else { 0.0 } };
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / (depth + 1) as f64;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / (depth + 1) as f64;
    }
    len + 1
}

/// Removes element `index` from a path of `len` elements; returns the new length.
fn unwind(path: &mut [PathElement], len: usize, index: usize) -> usize {
    let depth = len - 1;
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
    depth
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

/// What TreeSHAP needs of a tree: for each node, whether it is a leaf and its value, its training
/// cover, its split feature, and its children in the order "the one the row takes first".
trait ShapTree {
    fn is_leaf(&self, node: usize) -> bool;
    fn value(&self, node: usize) -> f64;
    fn cover(&self, node: usize) -> f64;
    fn feature(&self, node: usize) -> usize;
    /// The children of a split node, the one row `x` goes to first; the count used.
    fn children(&self, node: usize, x: &[f64]) -> ([usize; 3], usize);
}

/// A forest's tree, for one output (class).
struct ForestTree<'a>(&'a Tree, usize);

impl ShapTree for ForestTree<'_> {
    fn is_leaf(&self, node: usize) -> bool {
        self.0.nodes[node].is_leaf()
    }
    fn value(&self, node: usize) -> f64 {
        self.0.nodes[node].value.get(self.1).copied().unwrap_or(0.0)
    }
    fn cover(&self, node: usize) -> f64 {
        self.0.nodes[node].cover
    }
    fn feature(&self, node: usize) -> usize {
        self.0.nodes[node].feature as usize
    }
    fn children(&self, node: usize, x: &[f64]) -> ([usize; 3], usize) {
        let nodes = &self.0.nodes;
        let n = &nodes[node];
        let v = x[n.feature as usize];
        let goes_left = v <= n.threshold || v.is_nan() && nodes[n.left as usize].cover >= nodes[n.right as usize].cover;
        if goes_left {
            ([n.left as usize, n.right as usize, 0], 2)
        } else {
            ([n.right as usize, n.left as usize, 0], 2)
        }
    }
}

/// A boosted tree of forust, with its own missing-value branches.
struct BoostedTree<'a> {
    tree: &'a forust_ml::tree::Tree,
    missing: f64,
}

impl ShapTree for BoostedTree<'_> {
    fn is_leaf(&self, node: usize) -> bool {
        self.tree.nodes[node].is_leaf
    }
    fn value(&self, node: usize) -> f64 {
        self.tree.nodes[node].weight_value as f64
    }
    fn cover(&self, node: usize) -> f64 {
        self.tree.nodes[node].hessian_sum as f64
    }
    fn feature(&self, node: usize) -> usize {
        self.tree.nodes[node].split_feature
    }
    fn children(&self, node: usize, x: &[f64]) -> ([usize; 3], usize) {
        let n = &self.tree.nodes[node];
        let taken = n.get_child_idx(&x[n.split_feature], &self.missing);
        let all = [n.left_child, n.right_child, n.missing_node];
        let count = if n.has_missing_branch() { 3 } else { 2 };
        let mut out = [taken, 0, 0];
        let mut k = 1;
        for &c in &all[..count] {
            if c != taken {
                out[k] = c;
                k += 1;
            }
        }
        (out, k)
    }
}

/// TreeSHAP's walk of one tree for one row. The path of each level of the recursion lives in its
/// own segment of one buffer (level `k` at offset `k(k+1)/2`, room for `k + 1` elements), so the
/// walk allocates nothing per node.
struct ShapWalk<'a, T: ShapTree> {
    tree: &'a T,
    x: &'a [f64],
    phi: &'a mut [f64],
    paths: Vec<PathElement>,
}

impl<T: ShapTree> ShapWalk<'_, T> {
    fn recurse(&mut self, node: usize, level: usize, parent_len: usize, zero: f64, one: f64, feature: i64) {
        let start = level * (level + 1) / 2;
        let end = start + level + 1;
        if self.paths.len() < end {
            self.paths.resize(end, PathElement { feature: 0, zero: 0.0, one: 0.0, weight: 0.0 });
        }
        if level > 0 {
            let parent = (level - 1) * level / 2;
            self.paths.copy_within(parent..parent + parent_len, start);
        }
        let mut len = extend(&mut self.paths[start..end], parent_len, zero, one, feature);
        let tree = self.tree;
        if tree.is_leaf(node) {
            let value = tree.value(node);
            let path = &self.paths[start..start + len];
            for i in 1..len {
                let w = unwound_sum(path, i);
                let el = path[i];
                self.phi[el.feature as usize] += w * (el.one - el.zero) * value;
            }
            return;
        }
        let split = tree.feature(node);
        let (children, count) = tree.children(node, self.x);
        let cover = tree.cover(node).max(f64::MIN_POSITIVE);
        let (mut in_zero, mut in_one) = (1.0, 1.0);
        if let Some(k) = self.paths[start..start + len].iter().position(|p| p.feature == split as i64) {
            in_zero = self.paths[start + k].zero;
            in_one = self.paths[start + k].one;
            len = unwind(&mut self.paths[start..end], len, k);
        }
        for (i, &child) in children[..count].iter().enumerate() {
            let zero = tree.cover(child) / cover * in_zero;
            self.recurse(child, level + 1, len, zero, if i == 0 { in_one } else { 0.0 }, split as i64);
        }
    }
}

/// Adds one tree's TreeSHAP attributions of row `x` into `phi`, with a path buffer kept between
/// trees.
fn shap_walk<T: ShapTree>(tree: &T, x: &[f64], phi: &mut [f64], paths: &mut Vec<PathElement>) {
    let mut walk = ShapWalk { tree, x, phi, paths: std::mem::take(paths) };
    walk.recurse(0, 0, 0, 1.0, 1.0, -1);
    *paths = walk.paths;
}

/// The expected output of a tree: its leaves weighted by training cover.
fn expected_value(tree: &Tree, output: usize) -> f64 {
    let root = tree.nodes[0].cover.max(f64::MIN_POSITIVE);
    tree.nodes.iter().filter(|n| n.is_leaf()).map(|n| n.cover / root * n.value.get(output).copied().unwrap_or(0.0)).sum()
}

/// Exact TreeSHAP of one tree at an encoded row: (expected value, attribution per column).
pub fn tree_shap_one(tree: &Tree, x: &[f64], output: usize) -> (f64, Vec<f64>) {
    let mut phi = vec![0.0; x.len()];
    let mut paths = Vec::new();
    let expected = tree_shap_into(tree, x, output, &mut phi, &mut paths);
    (expected, phi)
}

/// [`tree_shap_one`] adding into `phi`, with a path buffer the caller keeps between trees;
/// returns the tree's expected value.
fn tree_shap_into(tree: &Tree, x: &[f64], output: usize, phi: &mut [f64], paths: &mut Vec<PathElement>) -> f64 {
    shap_walk(&ForestTree(tree, output), x, phi, paths);
    expected_value(tree, output)
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
            let mut paths = Vec::new();
            for t in &forest.trees {
                expected += tree_shap_into(t, &row.data, output, &mut phi, &mut paths);
            }
            expected /= n;
            phi.iter_mut().for_each(|a| *a /= n);
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
            let trees = &booster.trees[..booster.prediction_iteration.unwrap_or(booster.trees.len()).min(booster.trees.len())];
            let mut phi = vec![0.0; row.cols];
            let mut paths = Vec::new();
            let mut bias = booster.base_score;
            for tree in trees {
                shap_walk(&BoostedTree { tree, missing: booster.missing }, &row.data, &mut phi, &mut paths);
                bias += tree.get_average_leaf_weights(0);
            }
            phi.iter_mut().for_each(|v| *v *= sign);
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
