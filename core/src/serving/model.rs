//! A registered model version loaded for serving: its features, what it outputs, and the
//! predictor. Built-in models are read from `model.json` under the version's storage location.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use trellis_ml::train::{self, FeatureSpec, Predictions, Task};

use super::input::{Feature, FeatureKind};
use crate::{Core, Error, Result};

/// The files of a model version live under its storage location; this is where.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FilesAt {
    Run { run_id: i64, prefix: String },
    LoggedModel { model_id: i64, prefix: String },
}

/// What a model version outputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// Class probabilities, in class order.
    Classes { classes: Vec<String> },
    /// One number (regression), named after the target.
    Value { name: String },
}

#[derive(Debug)]
pub enum Predictor {
    Builtin(Box<train::Model>),
    Onnx(super::onnx::OnnxPredictor),
}

/// The index of the most probable class in one row of class probabilities.
pub fn most_likely(probabilities: &[f64]) -> usize {
    probabilities.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0)
}

/// A model version ready to predict.
#[derive(Debug)]
pub struct LoadedModel {
    pub version_id: i64,
    pub features: Vec<Feature>,
    pub output: Output,
    pub predictor: Predictor,
    /// Where attributions are measured from by default: the training data's medians and most
    /// frequent categories.
    pub baseline: Vec<trellis_ml::explain::FeatureValue>,
}

impl LoadedModel {
    /// Predicts rows given as columns in feature order.
    pub fn predict(&self, columns: &[train::Column]) -> Result<Predictions> {
        match &self.predictor {
            Predictor::Builtin(m) => m.predict(columns).map_err(|e| Error::bad_request(e.to_string())),
            Predictor::Onnx(m) => m.predict(columns),
        }
    }

    /// Vertex-style predictions, one JSON value per row: `{"classes", "scores", "label"}` for
    /// classifiers, `{"value"}` for regressors.
    pub fn vertex_predictions(&self, p: &Predictions) -> Vec<Value> {
        match (p, &self.output) {
            (Predictions::Probabilities { classes: k, values }, Output::Classes { classes }) => values
                .chunks(*k)
                .map(|row| {
                    json!({ "classes": classes, "scores": row, "label": classes.get(most_likely(row)) })
                })
                .collect(),
            (Predictions::Values(v), _) => v.iter().map(|x| json!({ "value": x })).collect(),
            (Predictions::Probabilities { values, classes: k }, Output::Value { .. }) => {
                values.chunks(*k).map(|row| json!({ "scores": row })).collect()
            }
        }
    }

    pub fn is_classifier(&self) -> bool {
        matches!(self.output, Output::Classes { .. })
    }
}

/// Features of a built-in model: names and categories from its preprocessing, types from its
/// signature (`signature.json`), when there is one.
fn builtin_features(model: &train::Model, signature: Option<&Value>) -> Vec<Feature> {
    let type_of = |name: &str| -> Option<FeatureKind> {
        signature?
            .get("inputs")?
            .as_array()?
            .iter()
            .find(|i| i.get("name").and_then(Value::as_str) == Some(name))?
            .get("type")?
            .as_str()
            .map(FeatureKind::from_type_name)
    };
    model
        .preprocessor
        .features
        .iter()
        .map(|f| match f {
            FeatureSpec::Numeric { name, .. } => {
                Feature { name: name.clone(), kind: type_of(name).unwrap_or(FeatureKind::Number), categories: vec![] }
            }
            FeatureSpec::Categorical { name, categories, .. } => {
                Feature { name: name.clone(), kind: type_of(name).unwrap_or(FeatureKind::Text), categories: categories.clone() }
            }
        })
        .collect()
}

/// Where a version's files are, from its storage location.
pub(crate) async fn files_at(db: &PgPool, storage_location: &str) -> Result<FilesAt> {
    let rest = storage_location
        .strip_prefix("mlflow-artifacts:")
        .ok_or_else(|| Error::bad_request(format!("model files at '{storage_location}' are not in Trellis's storage")))?;
    let at = crate::artifacts::ArtifactPath::parse(rest.trim_start_matches('/'))?;
    let prefix = at.path.clone();
    match at.owner {
        crate::artifacts::Owner::Run(uuid) => {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE run_uuid = $1").bind(&uuid).fetch_optional(db).await?;
            Ok(FilesAt::Run { run_id: id.ok_or_else(|| Error::not_found(format!("run {uuid} of the model version is gone")))?, prefix })
        }
        crate::artifacts::Owner::LoggedModel(uuid) => {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM logged_models WHERE model_uuid = $1").bind(&uuid).fetch_optional(db).await?;
            Ok(FilesAt::LoggedModel {
                model_id: id.ok_or_else(|| Error::not_found(format!("logged model {uuid} of the model version is gone")))?,
                prefix,
            })
        }
    }
}

/// The bytes of `name` under the version's files, if it has that file.
pub(crate) async fn read_file(core: &Core, files: &FilesAt, name: &str) -> Result<Option<Vec<u8>>> {
    let (table, column, id, prefix) = match files {
        FilesAt::Run { run_id, prefix } => ("run_artifacts", "run_id", *run_id, prefix),
        FilesAt::LoggedModel { model_id, prefix } => ("logged_model_artifacts", "model_id", *model_id, prefix),
    };
    let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
    let row: Option<(String, i64)> = sqlx::query_as(&format!("SELECT sha256, size FROM {table} WHERE {column} = $1 AND path = $2"))
        .bind(id)
        .bind(&path)
        .fetch_optional(&core.db)
        .await?;
    let Some((sha256, size)) = row else { return Ok(None) };
    let size = size.max(0) as u64;
    Ok(Some(core.blobs.head(&sha256, size, size).await?.to_vec()))
}

/// Loads a model version by its row id.
pub async fn load(core: &Core, version_id: i64) -> Result<LoadedModel> {
    let (name, version, location): (String, i32, String) = sqlx::query_as(
        "SELECT m.name, v.version, v.storage_location FROM model_versions v JOIN registered_models m ON m.id = v.model_id WHERE v.id = $1",
    )
    .bind(version_id)
    .fetch_one(&core.db)
    .await?;
    let files = files_at(&core.db, &location).await?;
    let signature: Option<Value> = read_file(core, &files, "signature.json").await?.and_then(|b| serde_json::from_slice(&b).ok());
    if let Some(bytes) = read_file(core, &files, "model.json").await? {
        let model: train::Model = serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_request(format!("model '{name}' version {version}: model.json is not a Trellis model: {e}")))?;
        let features = builtin_features(&model, signature.as_ref());
        let output = match model.task {
            Task::Regression => Output::Value { name: model.target.clone() },
            _ => Output::Classes { classes: model.classes.clone() },
        };
        let baseline = trellis_ml::explain::training_baseline(&model);
        return Ok(LoadedModel { version_id, features, output, predictor: Predictor::Builtin(Box::new(model)), baseline });
    }
    if let Some(bytes) = read_file(core, &files, "model.onnx").await? {
        let names: Option<String> = sqlx::query_scalar(
            "SELECT value FROM model_version_tags WHERE version_id = $1 AND key = 'trellis.feature_names'
             UNION ALL
             SELECT t.value FROM model_versions v JOIN run_tags t ON t.run_id = v.run_id AND t.key = 'trellis.feature_names' WHERE v.id = $1
             LIMIT 1",
        )
        .bind(version_id)
        .fetch_optional(&core.db)
        .await?;
        let names = names.map(|n| n.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>());
        let stats: Option<Value> = read_file(core, &files, "baseline.json").await?.and_then(|b| serde_json::from_slice(&b).ok());
        let (features, output, predictor) = tokio::task::spawn_blocking(move || super::onnx::load(&bytes, names))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("loading the ONNX model: {e}")))?
            .map_err(|e| match e {
                Error::BadRequest(m) => Error::bad_request(format!("model '{name}' version {version}: {m}")),
                other => other,
            })?;
        let baseline = profile_baseline(&features, stats.as_ref());
        return Ok(LoadedModel { version_id, features, output, predictor: Predictor::Onnx(predictor), baseline });
    }
    Err(Error::bad_request(format!(
        "model '{name}' version {version} has nothing Trellis can serve: its files ({location}) hold neither model.json (a built-in model) nor model.onnx"
    )))
}

/// A baseline from the column statistics stored beside a model (`baseline.json`): each numeric
/// feature's median, each text feature's most frequent value; 0 or missing where unknown.
fn profile_baseline(features: &[Feature], stats: Option<&Value>) -> Vec<trellis_ml::explain::FeatureValue> {
    use trellis_ml::explain::FeatureValue;
    let columns: Vec<trellis_ml::profile::ColumnProfile> =
        stats.and_then(|s| s.get("features")).and_then(|f| serde_json::from_value(f.clone()).ok()).unwrap_or_default();
    features
        .iter()
        .map(|f| {
            let c = columns.iter().find(|c| c.name == f.name);
            match f.kind {
                FeatureKind::Text => FeatureValue::Category(c.and_then(|c| c.top.first().map(|t| t.0.clone()))),
                _ => FeatureValue::Number(c.and_then(|c| c.quantiles.iter().find(|q| q.0 == 0.5).map(|q| q.1).or(c.mean)).unwrap_or(0.0)),
            }
        })
        .collect()
}
