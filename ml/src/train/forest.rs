//! Random forests: bootstrapped CART trees (Gini for classes, squared error for numbers) that
//! try a random subset of columns at each split, over columns binned once at their training
//! quantiles. Leaves hold class proportions or means, so the forest gives probabilities; nodes
//! keep their cover (for TreeSHAP) and splits add to impurity-decrease importances. Each tree
//! draws from its own generator seeded by (seed, tree), so the forest is the same whatever the
//! thread count.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::linear::{loss_name, loss_of};
use super::prep::{spread, Labels, Matrix};
use super::{Curves, Params, Predictions, Task, TrainError};

/// A node: a split (`feature` < u32::MAX) or a leaf (`value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Encoded column tested; `u32::MAX` for a leaf.
    pub feature: u32,
    /// Rows with `x <= threshold` go left.
    pub threshold: f64,
    pub left: u32,
    pub right: u32,
    /// Training weight (bootstrap count) that reached the node.
    pub cover: f64,
    /// Leaf output: class proportions, or the mean.
    pub value: Vec<f64>,
}

impl Node {
    pub fn is_leaf(&self) -> bool {
        self.feature == u32::MAX
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf a row (given by a column accessor) reaches.
    pub fn leaf(&self, x: impl Fn(usize) -> f64) -> &Node {
        let mut i = 0usize;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf() {
                return n;
            }
            i = if x(n.feature as usize) <= n.threshold { n.left as usize } else { n.right as usize };
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    pub trees: Vec<Tree>,
    /// Classes (classification) or 1 (regression).
    pub outputs: usize,
    pub classification: bool,
    /// Impurity decrease per encoded column, normalised to sum 1.
    pub importances: Vec<f64>,
}

impl Forest {
    /// The average of the trees' leaves for each row.
    pub fn predict(&self, x: &Matrix) -> Predictions {
        let k = self.outputs;
        let mut out = vec![0.0; x.rows * k];
        for r in 0..x.rows {
            let acc = &mut out[r * k..(r + 1) * k];
            for t in &self.trees {
                for (a, v) in acc.iter_mut().zip(&t.leaf(|c| x.get(r, c)).value) {
                    *a += v;
                }
            }
            let n = self.trees.len().max(1) as f64;
            acc.iter_mut().for_each(|a| *a /= n);
        }
        if self.classification {
            Predictions::Probabilities { classes: k, values: out }
        } else {
            Predictions::Values(out)
        }
    }

    pub fn importance(&self) -> Vec<f64> {
        self.importances.clone()
    }
}

/// Split points of one column: bin `b` holds values in `(cuts[b-1], cuts[b]]`.
fn cuts_of(values: &[f64], max_bins: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    if v.len() <= 1 {
        return Vec::new();
    }
    if v.len() <= max_bins {
        return v.windows(2).map(|w| w[0] + (w[1] - w[0]) / 2.0).collect();
    }
    // Quantile cuts over the distinct values' positions in the full column.
    let mut all: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    all.sort_by(f64::total_cmp);
    let mut cuts = Vec::with_capacity(max_bins - 1);
    for b in 1..max_bins {
        let q = all[(b * all.len() / max_bins).min(all.len() - 1)];
        if cuts.last().is_none_or(|&l| q > l) && q < *all.last().unwrap() {
            cuts.push(q);
        }
    }
    cuts
}

fn bin_of(cuts: &[f64], x: f64) -> u8 {
    cuts.partition_point(|&c| c < x) as u8
}

struct Binned {
    rows: usize,
    cuts: Vec<Vec<f64>>,
    /// Column-major bins.
    bins: Vec<u8>,
}

impl Binned {
    fn new(x: &Matrix, max_bins: usize) -> Self {
        let cuts: Vec<Vec<f64>> = (0..x.cols).into_par_iter().map(|j| cuts_of(x.col(j), max_bins)).collect();
        let mut bins = Vec::with_capacity(x.rows * x.cols);
        for (j, c) in cuts.iter().enumerate() {
            bins.extend(x.col(j).iter().map(|&v| bin_of(c, v)));
        }
        Binned { rows: x.rows, cuts, bins }
    }
    fn col(&self, j: usize) -> &[u8] {
        &self.bins[j * self.rows..(j + 1) * self.rows]
    }
}

struct Settings {
    max_depth: usize,
    min_leaf: f64,
    mtry: usize,
    draws: usize,
    outputs: usize,
    classification: bool,
}

/// Label of row `r` as (class, number).
struct Targets<'a> {
    classes: Option<&'a [usize]>,
    numbers: Option<&'a [f64]>,
}

fn impurity(stats: &[f64], classification: bool) -> f64 {
    // stats: classification → weights per class; regression → [w, Σwy, Σwy²].
    if classification {
        let w: f64 = stats.iter().sum();
        if w <= 0.0 {
            return 0.0;
        }
        w - stats.iter().map(|c| c * c).sum::<f64>() / w
    } else {
        let w = stats[0];
        if w <= 0.0 {
            return 0.0;
        }
        stats[2] - stats[1] * stats[1] / w
    }
}

fn weight_of(stats: &[f64], classification: bool) -> f64 {
    if classification { stats.iter().sum() } else { stats[0] }
}

fn grow(data: &Binned, y: &Targets, s: &Settings, seed: u64, tree_index: usize, importances: &mut [f64]) -> Tree {
    let mut rng = StdRng::seed_from_u64(seed ^ (tree_index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let n = data.rows;
    let mut weight = vec![0u32; n];
    for _ in 0..s.draws {
        weight[rng.gen_range(0..n)] += 1;
    }
    let mut index: Vec<u32> = (0..n as u32).filter(|&r| weight[r as usize] > 0).collect();
    let width = if s.classification { s.outputs } else { 3 };
    let stats_of = |rows: &[u32]| -> Vec<f64> {
        let mut st = vec![0.0; width];
        for &r in rows {
            let w = weight[r as usize] as f64;
            add(&mut st, y, r as usize, w, s.classification);
        }
        st
    };
    let mut nodes: Vec<Node> = Vec::new();
    // (node index, start, end, depth, stats)
    let root_stats = stats_of(&index);
    nodes.push(leaf_node(&root_stats, s.classification));
    let mut stack = vec![(0usize, 0usize, index.len(), 0usize, root_stats)];
    let cols = data.cuts.len();
    let mut features: Vec<usize> = (0..cols).collect();
    let mut hist = vec![0.0; 256 * width];
    while let Some((node, start, end, depth, stats)) = stack.pop() {
        let total_w = weight_of(&stats, s.classification);
        let parent = impurity(&stats, s.classification);
        if depth >= s.max_depth || total_w < 2.0 * s.min_leaf || parent <= 1e-12 {
            continue;
        }
        // A random subset of columns (partial Fisher–Yates).
        for i in 0..s.mtry.min(cols) {
            let j = rng.gen_range(i..cols);
            features.swap(i, j);
        }
        let mut best: Option<(f64, usize, usize, Vec<f64>)> = None; // (gain, feature, bin, left stats)
        for &f in &features[..s.mtry.min(cols)] {
            let nb = data.cuts[f].len() + 1;
            if nb < 2 {
                continue;
            }
            hist[..nb * width].iter_mut().for_each(|h| *h = 0.0);
            let col = data.col(f);
            for &r in &index[start..end] {
                let b = col[r as usize] as usize;
                add(&mut hist[b * width..(b + 1) * width], y, r as usize, weight[r as usize] as f64, s.classification);
            }
            let mut left = vec![0.0; width];
            for b in 0..nb - 1 {
                for (l, h) in left.iter_mut().zip(&hist[b * width..(b + 1) * width]) {
                    *l += h;
                }
                let lw = weight_of(&left, s.classification);
                let rw = total_w - lw;
                if lw < s.min_leaf || rw < s.min_leaf {
                    continue;
                }
                let right: Vec<f64> = stats.iter().zip(&left).map(|(t, l)| t - l).collect();
                let gain = parent - impurity(&left, s.classification) - impurity(&right, s.classification);
                if gain > 1e-12 && best.as_ref().is_none_or(|(g, ..)| gain > *g) {
                    best = Some((gain, f, b, left.clone()));
                }
            }
        }
        let Some((gain, f, b, left_stats)) = best else { continue };
        importances[f] += gain;
        // Partition rows: bin <= b left.
        let col = data.col(f);
        let slice = &mut index[start..end];
        let mut i = 0;
        for k in 0..slice.len() {
            if col[slice[k] as usize] as usize <= b {
                slice.swap(i, k);
                i += 1;
            }
        }
        let mid = start + i;
        let right_stats: Vec<f64> = stats.iter().zip(&left_stats).map(|(t, l)| t - l).collect();
        let l = nodes.len();
        nodes.push(leaf_node(&left_stats, s.classification));
        nodes.push(leaf_node(&right_stats, s.classification));
        let parent_node = &mut nodes[node];
        parent_node.feature = f as u32;
        parent_node.threshold = data.cuts[f][b];
        parent_node.left = l as u32;
        parent_node.right = l as u32 + 1;
        parent_node.value = Vec::new();
        stack.push((l + 1, mid, end, depth + 1, right_stats));
        stack.push((l, start, mid, depth + 1, left_stats));
    }
    index.clear();
    Tree { nodes }
}

fn add(st: &mut [f64], y: &Targets, r: usize, w: f64, classification: bool) {
    if classification {
        st[y.classes.unwrap()[r]] += w;
    } else {
        let v = y.numbers.unwrap()[r];
        st[0] += w;
        st[1] += w * v;
        st[2] += w * v * v;
    }
}

fn leaf_node(stats: &[f64], classification: bool) -> Node {
    let w = weight_of(stats, classification);
    let value = if classification {
        stats.iter().map(|c| if w > 0.0 { c / w } else { 0.0 }).collect()
    } else {
        vec![if w > 0.0 { stats[1] / w } else { 0.0 }]
    };
    Node { feature: u32::MAX, threshold: 0.0, left: 0, right: 0, cover: w, value }
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
) -> Result<(Forest, Curves), TrainError> {
    let n_trees = params.usize("n_estimators");
    let classification = task.is_classification();
    let (targets, outputs) = match y {
        Labels::Classes(c, k) => (Targets { classes: Some(c), numbers: None }, *k),
        Labels::Numbers(v) => (Targets { classes: None, numbers: Some(v) }, 1),
    };
    if classification != matches!(y, Labels::Classes(..)) {
        return Err(TrainError::Data("the target's type does not fit the task".into()));
    }
    let cols = x.cols;
    let fraction = params.get("max_features");
    let mtry = if fraction > 0.0 {
        ((fraction * cols as f64).ceil() as usize).clamp(1, cols)
    } else if classification {
        ((cols as f64).sqrt().floor() as usize).max(1)
    } else {
        (cols / 3).max(1)
    };
    let settings = Settings {
        max_depth: params.usize("max_depth"),
        min_leaf: params.get("min_samples_leaf"),
        mtry,
        draws: ((params.get("bootstrap_fraction") * x.rows as f64).round() as usize).max(1),
        outputs,
        classification,
    };
    progress(0.0, "binning columns");
    let binned = Binned::new(x, params.usize("max_bins"));
    let done = AtomicUsize::new(0);
    let grown: Vec<(Tree, Vec<f64>)> = (0..n_trees)
        .into_par_iter()
        .map(|t| {
            let mut imp = vec![0.0; cols];
            let tree = grow(&binned, &targets, &settings, seed, t, &mut imp);
            let d = done.fetch_add(1, Ordering::Relaxed) + 1;
            if d % 5 == 0 || d == n_trees {
                progress(d as f64 / n_trees as f64 * 0.9, &format!("tree {d} of {n_trees}"));
            }
            (tree, imp)
        })
        .collect();
    let mut importances = vec![0.0; cols];
    let mut trees = Vec::with_capacity(n_trees);
    for (tree, imp) in grown {
        importances.iter_mut().zip(&imp).for_each(|(a, b)| *a += b);
        trees.push(tree);
    }
    let total: f64 = importances.iter().sum();
    if total > 0.0 {
        importances.iter_mut().for_each(|v| *v /= total);
    }
    let forest = Forest { trees, outputs, classification, importances };
    progress(0.95, "loss per tree");
    let curves = loss_per_tree(&forest, x, y, x_valid, y_valid, task);
    Ok((forest, curves))
}

/// Up to `n` rows spread evenly over a matrix and its labels.
fn sample_rows(x: &Matrix, y: &Labels, n: usize) -> (Matrix, Labels) {
    let rows = spread(x.rows, n);
    (x.take_rows(&rows), y.take(&rows))
}

/// Train and validation loss (each on up to 10,000 rows) of the first t trees, for each t.
fn loss_per_tree(forest: &Forest, x: &Matrix, y: &Labels, x_valid: &Matrix, y_valid: &Labels, task: Task) -> Curves {
    let (xt, yt) = sample_rows(x, y, 10_000);
    let (xv, yv) = sample_rows(x_valid, y_valid, 10_000);
    let k = forest.outputs;
    let mut sum_train = vec![0.0; xt.rows * k];
    let mut sum_valid = vec![0.0; xv.rows * k];
    let as_predictions = |sum: &[f64], t: usize| -> Predictions {
        let values: Vec<f64> = sum.iter().map(|v| v / t as f64).collect();
        if forest.classification { Predictions::Probabilities { classes: k, values } } else { Predictions::Values(values) }
    };
    let add_tree = |tree: &Tree, m: &Matrix, sum: &mut [f64]| {
        for r in 0..m.rows {
            let v = &tree.leaf(|c| m.get(r, c)).value;
            sum[r * k..(r + 1) * k].iter_mut().zip(v).for_each(|(a, b)| *a += b);
        }
    };
    let mut loss = Vec::with_capacity(forest.trees.len());
    for (t, tree) in forest.trees.iter().enumerate() {
        add_tree(tree, &xt, &mut sum_train);
        add_tree(tree, &xv, &mut sum_valid);
        let train = loss_of(&as_predictions(&sum_train, t + 1), &yt);
        let valid = (!yv.is_empty()).then(|| loss_of(&as_predictions(&sum_valid, t + 1), &yv));
        loss.push((t as u64 + 1, train, valid));
    }
    Curves { loss, loss_name: loss_name(task).into() }
}
