//! Preprocessing learned on the training split and kept in the model: imputation (medians and
//! modes), scaling for linear models, categorical encoding (one-hot for linear models, codes for
//! trees), and a fixed answer for categories never seen in training.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Column, TrainError, Values, MISSING};

/// Categories kept per feature (the most frequent); the rest count as unseen.
pub const MAX_CATEGORIES: usize = 100;

/// How features become model columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Numbers standardised (missing → median), categories one-hot (missing → the mode,
    /// unseen → all zeros).
    Linear,
    /// One column per feature: numbers as they are, categories as their code (unseen → one
    /// past the last code). Missing values are imputed (median / mode) when `impute`, else NaN.
    Trees { impute: bool },
}

/// What was learned about one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeatureSpec {
    Numeric { name: String, median: f64, mean: f64, std: f64 },
    Categorical { name: String, categories: Vec<String>, mode: usize },
}

impl FeatureSpec {
    pub fn name(&self) -> &str {
        match self {
            FeatureSpec::Numeric { name, .. } | FeatureSpec::Categorical { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub features: Vec<FeatureSpec>,
}

/// A dense column-major matrix of model inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn col(&self, j: usize) -> &[f64] {
        &self.data[j * self.rows..(j + 1) * self.rows]
    }
    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.data[c * self.rows + r]
    }
    pub fn take_rows(&self, rows: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(rows.len() * self.cols);
        for j in 0..self.cols {
            let c = self.col(j);
            data.extend(rows.iter().map(|&r| c[r]));
        }
        Matrix { rows: rows.len(), cols: self.cols, data }
    }
}

/// Up to `n` of `rows` row numbers, spread evenly (all of them when there are few).
pub fn spread(rows: usize, n: usize) -> Vec<usize> {
    if rows <= n { (0..rows).collect() } else { (0..n).map(|i| i * rows / n).collect() }
}

/// Training targets for the rows of a matrix.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// Class indices and the number of classes.
    Classes(Vec<usize>, usize),
    Numbers(Vec<f64>),
}

impl Labels {
    pub fn len(&self) -> usize {
        match self {
            Labels::Classes(c, _) => c.len(),
            Labels::Numbers(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels of some rows.
    pub fn take(&self, rows: &[usize]) -> Labels {
        match self {
            Labels::Classes(c, k) => Labels::Classes(rows.iter().map(|&r| c[r]).collect(), *k),
            Labels::Numbers(v) => Labels::Numbers(rows.iter().map(|&r| v[r]).collect()),
        }
    }
}

fn median_of(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Preprocessor {
    /// Learns medians, means, deviations and kept categories from the given (training) rows.
    pub fn learn(columns: &[Column], rows: &[usize]) -> Self {
        let features = columns
            .iter()
            .map(|c| match &c.values {
                Values::Numbers(v) => {
                    let present: Vec<f64> = rows.iter().map(|&r| v[r]).filter(|x| !x.is_nan()).collect();
                    let n = present.len() as f64;
                    let mean = if present.is_empty() { 0.0 } else { present.iter().sum::<f64>() / n };
                    let var = if present.is_empty() { 0.0 } else { present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n };
                    FeatureSpec::Numeric { name: c.name.clone(), median: median_of(present), mean, std: var.sqrt() }
                }
                Values::Categories { codes, levels } => {
                    let mut counts = vec![0u64; levels.len()];
                    for &r in rows {
                        if codes[r] != MISSING {
                            counts[codes[r] as usize] += 1;
                        }
                    }
                    let mut order: Vec<usize> = (0..levels.len()).filter(|&i| counts[i] > 0).collect();
                    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then_with(|| levels[a].cmp(&levels[b])));
                    order.truncate(MAX_CATEGORIES);
                    let categories: Vec<String> = order.iter().map(|&i| levels[i].clone()).collect();
                    FeatureSpec::Categorical { name: c.name.clone(), categories, mode: 0 }
                }
            })
            .collect();
        Preprocessor { features }
    }

    /// The feature each encoded column comes from.
    pub fn column_feature(&self, encoding: Encoding) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            let width = match (f, encoding) {
                (FeatureSpec::Categorical { categories, .. }, Encoding::Linear) => categories.len(),
                _ => 1,
            };
            out.extend(std::iter::repeat_n(i, width));
        }
        out
    }

    /// Names of the encoded columns (`feature` or `feature=category`).
    pub fn column_names(&self, encoding: Encoding) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.features {
            match (f, encoding) {
                (FeatureSpec::Categorical { name, categories, .. }, Encoding::Linear) => {
                    out.extend(categories.iter().map(|c| format!("{name}={c}")))
                }
                _ => out.push(f.name().to_string()),
            }
        }
        out
    }

    /// Encodes `rows` rows of the named columns into model inputs.
    pub fn encode(&self, columns: &[Column], rows: usize, encoding: Encoding) -> Result<Matrix, TrainError> {
        let by_name: HashMap<&str, &Column> = columns.iter().map(|c| (c.name.as_str(), c)).collect();
        let width = self.column_feature(encoding).len();
        let mut data = Vec::with_capacity(rows * width);
        for f in &self.features {
            let Some(column) = by_name.get(f.name()) else {
                return Err(TrainError::Data(format!("feature '{}' is missing", f.name())));
            };
            if column.values.len() != rows {
                return Err(TrainError::Data(format!("feature '{}' has {} values for {rows} rows", f.name(), column.values.len())));
            }
            match f {
                FeatureSpec::Numeric { name, median, mean, std } => {
                    let numbers: Vec<f64> = match &column.values {
                        Values::Numbers(v) => v.clone(),
                        Values::Categories { codes, levels } => codes
                            .iter()
                            .map(|&c| if c == MISSING { f64::NAN } else { levels[c as usize].trim().parse().unwrap_or(f64::NAN) })
                            .collect(),
                    };
                    if let Some(bad) = numbers.iter().position(|x| x.is_infinite()) {
                        return Err(TrainError::Data(format!("row {bad}, feature '{name}': infinite values cannot be used")));
                    }
                    match encoding {
                        Encoding::Linear => {
                            let scale = if *std > 0.0 { *std } else { 1.0 };
                            data.extend(numbers.iter().map(|&x| (if x.is_nan() { *median } else { x } - mean) / scale));
                        }
                        Encoding::Trees { impute } => {
                            data.extend(numbers.iter().map(|&x| if x.is_nan() && impute { *median } else { x }));
                        }
                    }
                }
                FeatureSpec::Categorical { categories, mode, .. } => {
                    let index: HashMap<&str, usize> = categories.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
                    // Per row: Some(category index), Some(len) for unseen, None for missing.
                    let codes: Vec<Option<usize>> = match &column.values {
                        Values::Categories { codes, levels } => {
                            let map: Vec<usize> = levels.iter().map(|l| index.get(l.as_str()).copied().unwrap_or(categories.len())).collect();
                            codes.iter().map(|&c| if c == MISSING { None } else { Some(map[c as usize]) }).collect()
                        }
                        Values::Numbers(v) => v
                            .iter()
                            .map(|x| if x.is_nan() { None } else { Some(index.get(format_number(*x).as_str()).copied().unwrap_or(categories.len())) })
                            .collect(),
                    };
                    let fallback = if categories.is_empty() { None } else { Some(*mode) };
                    match encoding {
                        Encoding::Linear => {
                            for k in 0..categories.len() {
                                data.extend(codes.iter().map(|c| if c.or(fallback) == Some(k) { 1.0 } else { 0.0 }));
                            }
                        }
                        Encoding::Trees { impute } => {
                            data.extend(codes.iter().map(|c| match c {
                                Some(i) => *i as f64,
                                None if impute => fallback.unwrap_or(categories.len()) as f64,
                                None => f64::NAN,
                            }));
                        }
                    }
                }
            }
        }
        Ok(Matrix { rows, cols: width, data })
    }
}

/// A number as text the way a CSV cell would usually hold it (`3`, `2.5`).
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}
