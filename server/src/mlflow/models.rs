//! MLflow 3 logged models (`/api/2.0/mlflow/logged-models…`), a run's inputs and outputs
//! (`runs/log-inputs`, `runs/outputs`) and MLflow 2's model history (`runs/log-model`).

use axum::extract::{Path, State};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use trellis_core::logged_models::{self, DatasetInput, LoggedModel, NewModel};
use trellis_core::tracking;

use super::{files_json, int64, kv_json, max_results, metric_json, page, paged, pairs, required, KeyValue, MlActor, MlJson, MlQuery, MlResult, MlflowError};
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    let p = |path: &str| format!("/api/2.0/mlflow/{path}");
    Router::new()
        .route(&p("logged-models"), post(create))
        .route(&p("logged-models/search"), post(search))
        .route(&p("logged-models/{model_id}"), get(get_model).patch(finalize).delete(delete_model))
        .route(&p("logged-models/{model_id}/tags"), patch(set_tags))
        .route(&p("logged-models/{model_id}/tags/{key}"), delete(delete_tag))
        .route(&p("logged-models/{model_id}/params"), post(log_params))
        .route(&p("logged-models/{model_id}/artifacts/directories"), get(list_artifacts))
        .route(&p("runs/log-inputs"), post(log_inputs))
        .route(&p("runs/outputs"), post(log_outputs))
        .route(&p("runs/log-model"), post(log_model_history))
}

pub(super) fn model_json(m: &LoggedModel) -> Value {
    json!({
        "info": {
            "model_id": m.model_id,
            "experiment_id": m.experiment_id.to_string(),
            "name": m.name,
            "creation_timestamp_ms": m.creation_time,
            "last_updated_timestamp_ms": m.last_updated_time,
            "artifact_uri": m.artifact_uri(),
            "status": m.status,
            "creator_id": m.creator_id.unwrap_or(0),
            "model_type": m.model_type,
            "source_run_id": m.source_run_id.clone().unwrap_or_default(),
            "status_message": m.status_message,
            "tags": kv_json(&m.tags),
            "registrations": m.registrations.iter().map(|(name, version)| json!({ "name": name, "version": version.to_string() })).collect::<Vec<_>>(),
        },
        "data": {
            "params": kv_json(&m.params),
            "metrics": m.metrics.iter().map(|x| {
                let mut v = metric_json(&x.metric);
                v["model_id"] = json!(m.model_id);
                if let Some(r) = &x.run_id { v["run_id"] = json!(r); }
                v
            }).collect::<Vec<_>>(),
        },
    })
}

#[derive(Deserialize)]
struct Create {
    experiment_id: Option<String>,
    name: Option<String>,
    model_type: Option<String>,
    source_run_id: Option<String>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn create(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Create>) -> MlResult<Json<Value>> {
    let experiment = required(b.experiment_id, "experiment_id")?;
    let (params, tags) = (pairs(b.params), pairs(b.tags));
    let new = NewModel {
        name: b.name.as_deref(),
        model_type: b.model_type.as_deref(),
        source_run_id: b.source_run_id.as_deref(),
        params: &params,
        tags: &tags,
    };
    let m = logged_models::create(&s.core.db, &a, &experiment, new).await?;
    Ok(Json(json!({ "model": model_json(&m) })))
}

async fn get_model(State(s): State<AppState>, MlActor(a): MlActor, Path(id): Path<String>) -> MlResult<Json<Value>> {
    let m = logged_models::get(&s.core.db, &a, &id).await?;
    Ok(Json(json!({ "model": model_json(&m) })))
}

#[derive(Deserialize)]
struct Finalize {
    status: Option<Value>,
}

/// The status as an enum name or its protobuf number.
fn status_name(v: Option<Value>) -> MlResult<String> {
    match v {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(k @ 1..=3) => Ok(logged_models::STATUSES[k as usize - 1].to_string()),
            _ => Err(MlflowError::invalid(format!("Invalid status {n}"))),
        },
        _ => Err(MlflowError::invalid("Missing value for required parameter 'status'.")),
    }
}

async fn finalize(State(s): State<AppState>, MlActor(a): MlActor, Path(id): Path<String>, MlJson(b): MlJson<Finalize>) -> MlResult<Json<Value>> {
    let m = logged_models::finalize(&s.core.db, &a, &id, &status_name(b.status)?).await?;
    Ok(Json(json!({ "model": model_json(&m) })))
}

async fn delete_model(State(s): State<AppState>, MlActor(a): MlActor, Path(id): Path<String>) -> MlResult<Json<Value>> {
    logged_models::delete(&s.core.db, &a, &id).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn set_tags(State(s): State<AppState>, MlActor(a): MlActor, Path(id): Path<String>, MlJson(b): MlJson<Tags>) -> MlResult<Json<Value>> {
    let m = logged_models::set_tags(&s.core.db, &a, &id, &pairs(b.tags)).await?;
    Ok(Json(json!({ "model": model_json(&m) })))
}

async fn delete_tag(State(s): State<AppState>, MlActor(a): MlActor, Path((id, key)): Path<(String, String)>) -> MlResult<Json<Value>> {
    logged_models::delete_tag(&s.core.db, &a, &id, &key).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    params: Vec<KeyValue>,
}

async fn log_params(State(s): State<AppState>, MlActor(a): MlActor, Path(id): Path<String>, MlJson(b): MlJson<Params>) -> MlResult<Json<Value>> {
    logged_models::log_params(&s.core.db, &a, &id, &pairs(b.params)).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct OrderBy {
    field_name: Option<String>,
    #[serde(default = "yes")]
    ascending: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<OrderBy>,
    page_token: Option<String>,
}

async fn search(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Search>) -> MlResult<Json<Value>> {
    let limit = max_results(b.max_results, 100)?;
    let offset = page(b.page_token.as_deref())?;
    let order: Vec<String> = b
        .order_by
        .into_iter()
        .map(|o| {
            let field = required(o.field_name, "order_by.field_name")?;
            Ok(format!("{field} {}", if o.ascending { "ASC" } else { "DESC" }))
        })
        .collect::<MlResult<_>>()?;
    let found = logged_models::search(&s.core.db, &a, &b.experiment_ids, b.filter.as_deref().unwrap_or(""), &order, limit, offset).await?;
    Ok(Json(paged(json!({ "models": found.iter().map(model_json).collect::<Vec<_>>() }), offset, limit, found.len())))
}

#[derive(Deserialize)]
struct ListQuery {
    artifact_directory_path: Option<String>,
}

/// The files of a logged model, listed the way the artifacts API lists them.
async fn list_artifacts(State(s): State<AppState>, MlActor(a): MlActor, Path(id): Path<String>, MlQuery(q): MlQuery<ListQuery>) -> MlResult<Json<Value>> {
    let m = logged_models::get(&s.core.db, &a, &id).await?;
    let dir = q.artifact_directory_path.unwrap_or_default();
    let full = format!("{}/models/{}/artifacts/{}", m.experiment_id, m.model_id, dir.trim_start_matches('/'));
    let at = trellis_core::artifacts::ArtifactPath::parse(&full)?;
    let entries = trellis_core::artifacts::list(&s.core, &a, &at).await?;
    let prefix = if at.path.is_empty() { String::new() } else { format!("{}/", at.path) };
    let files = files_json(&entries, &prefix);
    Ok(Json(json!({ "root_uri": m.artifact_uri(), "files": files })))
}

#[derive(Deserialize)]
struct DatasetIn {
    name: Option<String>,
    digest: Option<String>,
    source_type: Option<String>,
    source: Option<String>,
    schema: Option<String>,
    profile: Option<String>,
}

#[derive(Deserialize)]
struct DatasetInputIn {
    #[serde(default)]
    tags: Vec<KeyValue>,
    dataset: Option<DatasetIn>,
}

#[derive(Deserialize)]
struct ModelRefIn {
    model_id: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    step: Option<i64>,
}

#[derive(Deserialize)]
struct LogInputs {
    run_id: Option<String>,
    #[serde(default)]
    datasets: Vec<DatasetInputIn>,
    #[serde(default)]
    models: Vec<ModelRefIn>,
}

async fn log_inputs(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<LogInputs>) -> MlResult<Json<Value>> {
    let run = required(b.run_id, "run_id")?;
    let datasets = b
        .datasets
        .into_iter()
        .map(|d| {
            let ds = d.dataset.ok_or_else(|| MlflowError::invalid("a dataset input needs a 'dataset'"))?;
            Ok(DatasetInput {
                name: required(ds.name, "dataset.name")?,
                digest: required(ds.digest, "dataset.digest")?,
                source_type: ds.source_type.unwrap_or_default(),
                source: ds.source.unwrap_or_default(),
                schema: ds.schema.unwrap_or_default(),
                profile: ds.profile.unwrap_or_default(),
                tags: pairs(d.tags),
                dataset_version: None,
            })
        })
        .collect::<MlResult<Vec<_>>>()?;
    let models = b.models.into_iter().map(|m| required(m.model_id, "models.model_id")).collect::<MlResult<Vec<_>>>()?;
    logged_models::log_inputs(&s.core.db, &a, &run, &datasets, &models).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogOutputs {
    run_id: Option<String>,
    #[serde(default)]
    models: Vec<ModelRefIn>,
}

async fn log_outputs(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<LogOutputs>) -> MlResult<Json<Value>> {
    let run = required(b.run_id, "run_id")?;
    let outputs = b
        .models
        .into_iter()
        .map(|m| Ok((required(m.model_id, "models.model_id")?, m.step.unwrap_or(0))))
        .collect::<MlResult<Vec<_>>>()?;
    logged_models::log_outputs(&s.core.db, &a, &run, &outputs).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogModel {
    run_id: Option<String>,
    model_json: Option<String>,
}

/// MLflow 2's record of a model logged to a run: appended to the run's
/// `mlflow.log-model.history` tag, as MLflow's server does.
async fn log_model_history(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<LogModel>) -> MlResult<Json<Value>> {
    let run_id = required(b.run_id, "run_id")?;
    let text = required(b.model_json, "model_json")?;
    let model: Value = serde_json::from_str(&text).map_err(|e| MlflowError::invalid(format!("model_json is not valid JSON: {e}")))?;
    if !model.get("artifact_path").is_some_and(Value::is_string) || !model.get("flavors").is_some_and(Value::is_object) {
        return Err(MlflowError::invalid("model_json must be an object with 'artifact_path' and 'flavors'"));
    }
    let run = tracking::get_run(&s.core.db, &a, &run_id).await?;
    let key = "mlflow.log-model.history";
    let mut history: Vec<Value> = run.tags.iter().find(|(k, _)| k == key).and_then(|(_, v)| serde_json::from_str(v).ok()).unwrap_or_default();
    history.push(model);
    let tag = (key.to_string(), Value::Array(history).to_string());
    tracking::log_batch(&s.core, &a, &run_id, &[], &[], &[tag]).await?;
    Ok(Json(json!({})))
}
