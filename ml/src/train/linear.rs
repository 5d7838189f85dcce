//! Linear models with an L2 penalty: ridge regression (linfa-elasticnet with no L1 part) and
//! binary or multinomial logistic regression (linfa-logistic). The fitted coefficients are kept
//! here, so a stored model does not depend on the crates' own formats. The loss curve comes from
//! the same optimiser stopped after 1, 2, 4, … iterations.

use linfa::prelude::*;
use linfa_elasticnet::ElasticNet;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, ShapeBuilder};
use serde::{Deserialize, Serialize};

use super::prep::{Labels, Matrix};
use super::{Curves, Params, Predictions, Task, TrainError};
use crate::evaluate;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    Identity,
    /// One output: the probability of class 1.
    Logistic,
    /// One output per class.
    Softmax,
}

/// `outputs` rows of coefficients (one per encoded column) and intercepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub link: Link,
    pub coefficients: Vec<Vec<f64>>,
    pub intercepts: Vec<f64>,
}

fn to_array(x: &Matrix) -> Array2<f64> {
    Array2::from_shape_vec((x.rows, x.cols).f(), x.data.clone()).expect("matrix shape")
}

fn estimator_error(e: impl std::fmt::Display) -> TrainError {
    TrainError::Estimator(e.to_string())
}

pub fn fit(x: &Matrix, y: &Labels, x_valid: &Matrix, y_valid: &Labels, task: Task, params: &Params) -> Result<(LinearModel, Curves), TrainError> {
    let alpha = params.get("alpha");
    let iterations = params.usize("max_iterations").max(1);
    let features = to_array(x);
    let model = fit_iterations(&features, x.rows, y, task, alpha, iterations)?;
    // The loss curve: the optimiser stopped after 1, 2, 4, … iterations. It starts from the same
    // point every time and is deterministic, so each of these is the full fit's iterate at that
    // step; doubling keeps the extra work under two more fits. It ends where the fit converged
    // (a stopped fit equal to the final model) or at the last iteration.
    let losses = |m: &LinearModel| (loss_of(&m.predict(x), y), (!y_valid.is_empty()).then(|| loss_of(&m.predict(x_valid), y_valid)));
    let mut loss = Vec::new();
    let mut step = 1;
    while step < iterations {
        let stopped = fit_iterations(&features, x.rows, y, task, alpha, step)?;
        let (train, valid) = losses(&stopped);
        loss.push((step as u64, train, valid));
        if stopped == model {
            break;
        }
        step *= 2;
    }
    if step >= iterations {
        let (train, valid) = losses(&model);
        loss.push((iterations as u64, train, valid));
    }
    Ok((model, Curves { loss_name: loss_name(task).into(), loss }))
}

/// The model after at most `iterations` optimiser iterations.
fn fit_iterations(features: &Array2<f64>, rows: usize, y: &Labels, task: Task, alpha: f64, iterations: usize) -> Result<LinearModel, TrainError> {
    let cols = features.ncols();
    let features = features.clone();
    Ok(match (task, y) {
        (Task::Regression, Labels::Numbers(t)) => {
            // ElasticNet minimises 1/(2n)·|y − Xw|² + penalty/2·|w|² (no L1 part): penalty = alpha/n
            // gives the same minimiser as |y − Xw|² + alpha·|w|².
            let data = Dataset::new(features, Array1::from(t.clone()));
            let fitted = ElasticNet::params()
                .l1_ratio(0.0)
                .penalty(alpha / rows as f64)
                .max_iterations(iterations as u32)
                .tolerance(1e-8)
                .fit(&data)
                .map_err(estimator_error)?;
            LinearModel { link: Link::Identity, coefficients: vec![fitted.hyperplane().to_vec()], intercepts: vec![fitted.intercept()] }
        }
        (Task::Binary, Labels::Classes(c, _)) => {
            let data = Dataset::new(features, Array1::from(c.clone()));
            let fitted = LogisticRegression::default()
                .alpha(alpha)
                .max_iterations(iterations as u64)
                .fit(&data)
                .map_err(estimator_error)?;
            // linfa's probability is of its "positive" class (the more frequent one): turn it
            // into the probability of class 1.
            let sign = if fitted.labels().pos.class == 1 { 1.0 } else { -1.0 };
            LinearModel {
                link: Link::Logistic,
                coefficients: vec![fitted.params().iter().map(|w| w * sign).collect()],
                intercepts: vec![fitted.intercept() * sign],
            }
        }
        (Task::Multiclass, Labels::Classes(c, k)) => {
            let data = Dataset::new(features, Array1::from(c.clone()));
            let fitted = MultiLogisticRegression::default()
                .alpha(alpha)
                .max_iterations(iterations as u64)
                .fit(&data)
                .map_err(estimator_error)?;
            // Classes absent from training get no column from linfa: give them a very low score.
            let mut coefficients = vec![vec![0.0; cols]; *k];
            let mut intercepts = vec![-1e3; *k];
            for (j, &class) in fitted.classes().iter().enumerate() {
                coefficients[class] = fitted.params().column(j).to_vec();
                intercepts[class] = fitted.intercept()[j];
            }
            LinearModel { link: Link::Softmax, coefficients, intercepts }
        }
        _ => return Err(TrainError::Data("the target's type does not fit the task".into())),
    })
}

pub(crate) fn loss_name(task: Task) -> &'static str {
    if task == Task::Regression { "rmse" } else { "log_loss" }
}

/// Log loss (classification) or RMSE (regression) of predictions.
pub(crate) fn loss_of(p: &Predictions, y: &Labels) -> f64 {
    match (p, y) {
        (Predictions::Probabilities { classes, values }, Labels::Classes(c, _)) => evaluate::log_loss(c, values, *classes),
        (Predictions::Values(v), Labels::Numbers(t)) => evaluate::rmse(t, v),
        _ => f64::NAN,
    }
}

impl LinearModel {
    fn scores(&self, x: &Matrix) -> Vec<Vec<f64>> {
        self.coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| {
                let mut s = vec![*b; x.rows];
                for (j, wj) in w.iter().enumerate() {
                    if *wj != 0.0 {
                        for (si, xi) in s.iter_mut().zip(x.col(j)) {
                            *si += wj * xi;
                        }
                    }
                }
                s
            })
            .collect()
    }

    pub fn predict(&self, x: &Matrix) -> Predictions {
        let scores = self.scores(x);
        match self.link {
            Link::Identity => Predictions::Values(scores.into_iter().next().unwrap_or_default()),
            Link::Logistic => {
                let values = scores[0].iter().flat_map(|z| {
                    let p = 1.0 / (1.0 + (-z).exp());
                    [1.0 - p, p]
                });
                Predictions::Probabilities { classes: 2, values: values.collect() }
            }
            Link::Softmax => {
                let k = scores.len();
                let mut values = Vec::with_capacity(x.rows * k);
                for r in 0..x.rows {
                    let m = scores.iter().map(|s| s[r]).fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|s| (s[r] - m).exp()).collect();
                    let total: f64 = e.iter().sum();
                    values.extend(e.iter().map(|v| v / total));
                }
                Predictions::Probabilities { classes: k, values }
            }
        }
    }

    /// |coefficient| per encoded column (inputs are standardised, so they compare), summed over outputs.
    pub fn importance(&self) -> Vec<f64> {
        let cols = self.coefficients.first().map(|w| w.len()).unwrap_or(0);
        (0..cols).map(|j| self.coefficients.iter().map(|w| w[j].abs()).sum()).collect()
    }
}
