//! `:explain`: feature attributions for predictions, in Vertex AI's shape. Each deployed model
//! has its method (sampled Shapley, integrated gradients or TreeSHAP) and a baseline — the
//! training baseline (medians and modes) unless the deployment gives one.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use trellis_ml::explain::{self, FeatureValue, Method};
use trellis_ml::train::{Algorithm, Column, Estimator, Values};

use super::input::{self, FeatureKind};
use super::model::{LoadedModel, Output, Predictor};
use super::{authorize_predict, route, PredictRequest};
use crate::{Actor, Core, Error, Result};

/// Most instances explained in one request.
pub const MAX_EXPLAIN_INSTANCES: usize = 100;

/// How a deployment explains (given at deploy time; every field optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplanationSpec {
    /// `sampled_shapley` (any model; the default), `integrated_gradients` (linear models with
    /// numeric features) or `tree_shap` (random forests and gradient-boosted trees).
    pub method: Option<String>,
    /// Sampled Shapley's feature orders, 1 to 50 (default 10).
    pub path_count: Option<usize>,
    /// Integrated gradients' quadrature points, 1 to 100 (default 50).
    pub step_count: Option<usize>,
    /// The instance attributions are measured from, `{feature: value}`; default: the training
    /// baseline (each number's median, each category's most frequent value).
    #[schema(value_type = Option<Object>)]
    pub baseline: Option<Map<String, Value>>,
}

/// A deployment's explanation settings, checked against its model.
#[derive(Debug, Clone, PartialEq)]
pub struct Explainer {
    pub method: Method,
    pub baseline: Vec<FeatureValue>,
}

impl Explainer {
    pub fn method_name(&self) -> &'static str {
        match self.method {
            Method::SampledShapley { .. } => "sampled_shapley",
            Method::IntegratedGradients { .. } => "integrated_gradients",
            Method::TreeShap => "tree_shap",
        }
    }
}

/// The feature values of one row of columns.
pub(crate) fn row_values(columns: &[Column], row: usize) -> Vec<FeatureValue> {
    columns
        .iter()
        .map(|c| match &c.values {
            Values::Numbers(v) => FeatureValue::Number(v[row]),
            Values::Categories { codes, levels } => {
                FeatureValue::Category(levels.get(codes[row] as usize).cloned().filter(|_| codes[row] != trellis_ml::train::MISSING))
            }
        })
        .collect()
}

/// The method when a spec names none, and each method's default count.
pub const DEFAULT_METHOD: &str = "sampled_shapley";
pub const DEFAULT_PATH_COUNT: usize = 10;
pub const DEFAULT_STEP_COUNT: usize = 50;

impl ExplanationSpec {
    /// The method this spec explains with.
    pub fn method_name(&self) -> &str {
        self.method.as_deref().unwrap_or(DEFAULT_METHOD)
    }

    /// The paths (sampled Shapley) or steps (integrated gradients) it uses, defaults included;
    /// `None` for methods without one.
    pub fn count(&self) -> Option<usize> {
        match self.method_name() {
            "sampled_shapley" => Some(self.path_count.unwrap_or(DEFAULT_PATH_COUNT)),
            "integrated_gradients" => Some(self.step_count.unwrap_or(DEFAULT_STEP_COUNT)),
            _ => None,
        }
    }
}

/// How a model is explained when nobody chose for it (batch predictions, global importance):
/// TreeSHAP, exact, for built-in tree models; sampled Shapley otherwise. With its name.
pub fn default_method(model: &LoadedModel) -> (Method, &'static str) {
    match &model.predictor {
        Predictor::Builtin(m) if matches!(m.estimator, Estimator::RandomForest(_) | Estimator::GradientBoosting(_)) => (Method::TreeShap, "tree_shap"),
        _ => (Method::SampledShapley { path_count: DEFAULT_PATH_COUNT }, DEFAULT_METHOD),
    }
}

/// Checks a spec against the model it explains and resolves it.
pub fn resolve(spec: &ExplanationSpec, model: &LoadedModel) -> Result<Explainer> {
    let builtin = match &model.predictor {
        Predictor::Builtin(m) => Some(m.as_ref()),
        Predictor::Onnx(_) => None,
    };
    let method = match spec.method_name() {
        "sampled_shapley" => {
            let paths = spec.path_count.unwrap_or(DEFAULT_PATH_COUNT);
            if !(1..=50).contains(&paths) {
                return Err(Error::bad_request(format!("explanation: path_count must be between 1 and 50, got {paths}")));
            }
            Method::SampledShapley { path_count: paths }
        }
        "integrated_gradients" => {
            let steps = spec.step_count.unwrap_or(DEFAULT_STEP_COUNT);
            if !(1..=100).contains(&steps) {
                return Err(Error::bad_request(format!("explanation: step_count must be between 1 and 100, got {steps}")));
            }
            if builtin.map(|m| m.algorithm) != Some(Algorithm::Linear) {
                return Err(Error::bad_request("explanation: integrated gradients need a differentiable model (a linear one); use sampled_shapley or tree_shap"));
            }
            if let Some(f) = model.features.iter().find(|f| f.kind == FeatureKind::Text) {
                return Err(Error::bad_request(format!("explanation: integrated gradients need numeric features; '{}' is categorical", f.name)));
            }
            Method::IntegratedGradients { step_count: steps }
        }
        "tree_shap" => {
            if !builtin.is_some_and(|m| matches!(m.estimator, Estimator::RandomForest(_) | Estimator::GradientBoosting(_))) {
                return Err(Error::bad_request("explanation: TreeSHAP explains tree models (random forests, gradient-boosted trees); use sampled_shapley"));
            }
            Method::TreeShap
        }
        other => {
            return Err(Error::bad_request(format!(
                "explanation: unknown method '{other}' (sampled_shapley, integrated_gradients or tree_shap)"
            )))
        }
    };
    if spec.path_count.is_some() && !matches!(method, Method::SampledShapley { .. }) {
        return Err(Error::bad_request("explanation: path_count is for sampled_shapley"));
    }
    if spec.step_count.is_some() && !matches!(method, Method::IntegratedGradients { .. }) {
        return Err(Error::bad_request("explanation: step_count is for integrated_gradients"));
    }
    let baseline = match &spec.baseline {
        None => model.baseline.clone(),
        Some(given) => {
            let columns = input::columns_from_instances(&model.features, &[Value::Object(given.clone())])
                .map_err(|e| Error::bad_request(format!("explanation baseline: {}", e.public_message().replace("instance 0, ", "").replace("instance 0: ", ""))))?;
            row_values(&columns, 0)
        }
    };
    if matches!(method, Method::IntegratedGradients { .. }) {
        if let Some((f, _)) = model.features.iter().zip(&baseline).find(|(_, v)| !matches!(v, FeatureValue::Number(x) if x.is_finite())) {
            return Err(Error::bad_request(format!("explanation baseline: integrated gradients need a number for '{}'", f.name)));
        }
    }
    Ok(Explainer { method, baseline })
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attribution {
    pub baseline_output_value: f64,
    pub instance_output_value: f64,
    #[schema(value_type = Object)]
    pub feature_attributions: Map<String, Value>,
    pub output_index: Vec<usize>,
    pub output_display_name: String,
    pub approximation_error: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstanceExplanation {
    pub attributions: Vec<Attribution>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExplainResponse {
    pub explanations: Vec<InstanceExplanation>,
    #[schema(value_type = Vec<Object>)]
    pub predictions: Vec<Value>,
    pub deployed_model_id: String,
    pub model_version: String,
    /// The method that attributed (`sampled_shapley`, `integrated_gradients`, `tree_shap`).
    pub method: String,
}

/// `:explain` (editors): predictions with each instance's attributions for its predicted class
/// (or its value).
pub async fn explain(core: &Core, actor: &Actor, slug: &str, name: &str, req: PredictRequest) -> Result<ExplainResponse> {
    let started = std::time::Instant::now();
    authorize_predict(core, actor, slug, name).await?;
    if req.instances.len() > MAX_EXPLAIN_INSTANCES {
        return Err(Error::bad_request(format!("{} instances to explain; at most {MAX_EXPLAIN_INSTANCES} per request", req.instances.len())));
    }
    let route = route(core, slug, name).await?;
    let target = route.pick()?;
    let answer = explain_with(target, &req).await;
    let request = || json!({ "instances": req.instances, "explain": true });
    match &answer {
        Ok(a) => route.record(core, target, started, true, || (request(), json!({ "predictions": a.predictions, "explanations": a.explanations }))),
        Err(e) => route.record(core, target, started, false, || (request(), json!({ "error": e.public_message() }))),
    }
    answer
}

async fn explain_with(target: &super::RouteTarget, req: &PredictRequest) -> Result<ExplainResponse> {
    let model = target.model.clone();
    let explainer = target.explainer.clone();
    let columns = input::columns_from_instances(&model.features, &req.instances)?;
    let predictions = model.predict(&columns)?;
    let shown = model.vertex_predictions(&predictions);
    let rows = req.instances.len();
    let work = {
        let model = model.clone();
        let predictions = predictions.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<InstanceExplanation>> {
            let names: Vec<String> = model.features.iter().map(|f| f.name.clone()).collect();
            let boosted = matches!(&model.predictor, Predictor::Builtin(m) if matches!(m.estimator, Estimator::GradientBoosting(_)));
            (0..rows)
                .map(|r| {
                    let (output, display) = match (&predictions, &model.output) {
                        (trellis_ml::train::Predictions::Probabilities { classes: k, values }, Output::Classes { classes }) => {
                            let row = &values[r * k..(r + 1) * k];
                            let best = super::model::most_likely(row);
                            let mut shown = classes.get(best).cloned().unwrap_or_default();
                            if explainer.method == Method::TreeShap && boosted {
                                shown = format!("{shown} (log-odds)");
                            }
                            (best, shown)
                        }
                        (_, Output::Value { name }) => (0, name.clone()),
                        _ => (0, String::new()),
                    };
                    let x = row_values(&columns, r);
                    let e = attribute(&model, &x, &explainer.baseline, output, explainer.method, r as u64)?;
                    let feature_attributions: Map<String, Value> = names.iter().cloned().zip(e.attributions.iter().map(|a| json!(a))).collect();
                    Ok(InstanceExplanation {
                        attributions: vec![Attribution {
                            baseline_output_value: e.baseline_output,
                            instance_output_value: e.instance_output,
                            feature_attributions,
                            output_index: vec![output],
                            output_display_name: display,
                            approximation_error: e.approximation_error,
                        }],
                    })
                })
                .collect()
        })
    };
    let explanations = work.await.map_err(|e| Error::Internal(anyhow::anyhow!("explaining failed: {e}")))??;
    Ok(ExplainResponse {
        explanations,
        predictions: shown,
        deployed_model_id: target.deployed_model_id.to_string(),
        model_version: target.model_version.clone(),
        method: target.explainer.method_name().to_string(),
    })
}

/// Attributes output `output` of a model at `x`: built-in models by any method, ONNX models by
/// sampled Shapley (their predictions are all Trellis can see of them).
pub fn attribute(model: &LoadedModel, x: &[FeatureValue], baseline: &[FeatureValue], output: usize, method: Method, seed: u64) -> Result<explain::Explanation> {
    match &model.predictor {
        Predictor::Builtin(m) => explain::explain(m, x, baseline, output, method, seed).map_err(|e| Error::bad_request(e.to_string())),
        Predictor::Onnx(_) => match method {
            Method::SampledShapley { path_count } => {
                let names: Vec<String> = model.features.iter().map(|f| f.name.clone()).collect();
                explain::sampled_shapley(&names, x, baseline, path_count, seed, |cols| {
                    model
                        .predict(cols)
                        .map(|p| explain::output_of(&p, output))
                        .map_err(|e| trellis_ml::train::TrainError::Estimator(e.public_message()))
                })
                .map_err(|e| Error::bad_request(e.to_string()))
            }
            _ => Err(Error::bad_request("ONNX models are explained by sampled Shapley")),
        },
    }
}
