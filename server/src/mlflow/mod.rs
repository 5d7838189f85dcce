//! The MLflow tracking REST API (`/api/2.0/mlflow/…`), so the official `mlflow` client works
//! against Trellis: field names, defaults and error codes as in MLflow's `service.proto`. Every
//! handler authorises through `core::tracking`. Callers authenticate with a Trellis API token
//! (`MLFLOW_TRACKING_TOKEN`, sent as Bearer) or with email and password
//! (`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`, sent as Basic). Artifacts are
//! proxied (`/api/2.0/mlflow-artifacts/artifacts/…`): a run's `artifact_uri` is
//! `mlflow-artifacts:/<experiment>/<run>/artifacts`, a logged model's
//! `mlflow-artifacts:/<experiment>/models/<model id>/artifacts`. Logged models and run inputs
//! and outputs are in `models`, the model registry in `registry`.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use trellis_core::artifacts::{self, ArtifactPath};
use trellis_core::error::ErrorKind;
use trellis_core::logged_models;
use trellis_core::tracking::{self, Experiment, Metric, ViewType};
use trellis_core::Actor;

use crate::auth::{client_ip, ApiActor};
use crate::startup::AppState;

mod models;
pub(crate) mod registry;
mod run_json;

use run_json::{runs_page, RunInfoJson, RunJson};

/// An MLflow error: `{"error_code", "message"}` with MLflow's code and HTTP status.
#[derive(Debug)]
pub struct MlflowError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl MlflowError {
    fn invalid(message: impl Into<String>) -> Self {
        MlflowError { status: StatusCode::BAD_REQUEST, code: "INVALID_PARAMETER_VALUE", message: message.into() }
    }
}

impl From<trellis_core::Error> for MlflowError {
    fn from(e: trellis_core::Error) -> Self {
        let (status, code) = match e.kind() {
            ErrorKind::BadRequest | ErrorKind::PayloadTooLarge | ErrorKind::UnsupportedMediaType => {
                (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE")
            }
            ErrorKind::Conflict => (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            ErrorKind::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "REQUEST_LIMIT_EXCEEDED"),
            ErrorKind::Internal => {
                tracing::error!(error = ?e, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR")
            }
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR { "internal error".to_string() } else { e.to_string() };
        MlflowError { status, code, message }
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error_code": self.code, "message": self.message }))).into_response()
    }
}

type MlResult<T> = Result<T, MlflowError>;

/// The caller: Bearer token, Basic email/password, or the browser session.
pub struct MlActor(pub Actor);

impl FromRequestParts<AppState> for MlActor {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let basic = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
            v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")).map(|b| b.trim().to_string())
        });
        if let Some(encoded) = basic {
            let unauth = |m: &str| MlflowError { status: StatusCode::UNAUTHORIZED, code: "UNAUTHENTICATED", message: m.to_string() };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| unauth("the Basic credentials are not valid base64 text"))?;
            let (email, password) = decoded.split_once(':').ok_or_else(|| unauth("Basic credentials must be 'email:password'"))?;
            let ip = client_ip(parts);
            let user = trellis_core::auth::sign_in(&state.core.db, email, password, ip.as_deref().unwrap_or("")).await?;
            let actor = trellis_core::auth::session_actor(&state.core.db, user.id, ip).await?;
            return Ok(MlActor(actor));
        }
        match ApiActor::from_request_parts(parts, state).await {
            Ok(ApiActor(a)) => Ok(MlActor(a)),
            Err(e) if e.status == StatusCode::FORBIDDEN => Err(MlflowError { status: e.status, code: "PERMISSION_DENIED", message: e.message }),
            Err(e) => Err(MlflowError { status: e.status, code: "UNAUTHENTICATED", message: e.message }),
        }
    }
}

/// A JSON body; a malformed one is MLflow's `MALFORMED_REQUEST` / `INVALID_PARAMETER_VALUE`.
pub struct MlJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for MlJson<T> {
    type Rejection = MlflowError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| MlflowError::invalid(format!("the request body could not be read: {e}")))?;
        let body: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        serde_json::from_slice(body).map(MlJson).map_err(|e| MlflowError {
            status: StatusCode::BAD_REQUEST,
            code: "MALFORMED_REQUEST",
            message: format!("the request body is not valid: {e}"),
        })
    }
}

/// Query parameters of a GET endpoint, read as MLflow's clients send them: a repeated key
/// (`order_by=a&order_by=b`) is a list, every value is text (numbers are parsed by the field).
pub struct MlQuery<T>(pub T);

/// The query string as a JSON object: one key once is a string, a repeated key an array.
fn query_json(query: &str) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let (k, v) = (k.into_owned(), Value::String(v.into_owned()));
        match map.get_mut(&k) {
            Some(Value::Array(items)) => items.push(v),
            Some(first) => {
                let first = first.take();
                map.insert(k, Value::Array(vec![first, v]));
            }
            None => {
                map.insert(k, v);
            }
        }
    }
    Value::Object(map)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for MlQuery<T> {
    type Rejection = MlflowError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let json = query_json(parts.uri.query().unwrap_or(""));
        serde_json::from_value(json).map(MlQuery).map_err(|e| MlflowError::invalid(format!("Invalid query parameters: {e}")))
    }
}

/// A repeated field: a list, or one value (a query string's single occurrence).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(serde::de::Error::custom(format!("expected text, found {other}"))),
            })
            .collect(),
        Some(other) => Err(serde::de::Error::custom(format!("expected a list of text, found {other}"))),
    }
}

/// An int64 field: protobuf JSON may send it as a number or as a string.
fn int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| serde::de::Error::custom("expected an integer")),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| serde::de::Error::custom(format!("'{s}' is not an integer"))),
        Some(other) => Err(serde::de::Error::custom(format!("expected an integer, found {other}"))),
    }
}

/// A double field: a number, or "NaN" / "Infinity" / "-Infinity" as protobuf JSON writes them.
fn double<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64().ok_or_else(|| serde::de::Error::custom("expected a number")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(|_| serde::de::Error::custom(format!("'{other}' is not a number"))),
        },
        other => Err(serde::de::Error::custom(format!("expected a number, found {other}"))),
    }
}

fn kv_json(pairs: &[(String, String)]) -> Value {
    json!(run_json::KeyValues(pairs))
}

fn experiment_json(e: &Experiment, actor: &Actor) -> Value {
    json!({
        "experiment_id": e.id.to_string(),
        "name": e.display_name(actor),
        "artifact_location": format!("mlflow-artifacts:/{}", e.id),
        "lifecycle_stage": e.lifecycle_stage,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
        "tags": kv_json(&e.tags),
    })
}

fn metric_json(m: &Metric) -> Value {
    json!(run_json::MetricJson::from(m))
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: String,
}

fn pairs(v: Vec<KeyValue>) -> Vec<(String, String)> {
    v.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

fn page(token: Option<&str>) -> MlResult<i64> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(t) => t.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| MlflowError::invalid(format!("Invalid page token '{t}'"))),
    }
}

fn max_results(n: Option<i64>, default: i64) -> MlResult<i64> {
    let n = n.unwrap_or(default);
    if !(1..=tracking::MAX_RESULTS).contains(&n) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied. It must be at most {} and at least 1.",
            tracking::MAX_RESULTS
        )));
    }
    Ok(n)
}

/// A page of a search answer, with MLflow's `next_page_token` when the page is full.
fn paged(mut out: Value, offset: i64, limit: i64, got: usize) -> Value {
    if got as i64 == limit {
        out["next_page_token"] = json!((offset + limit).to_string());
    }
    out
}

/// Artifact directory entries as MLflow lists them, paths prefixed with `prefix`.
fn files_json(entries: &[artifacts::Entry], prefix: &str) -> Vec<Value> {
    entries
        .iter()
        .map(|e| {
            let mut f = json!({ "path": format!("{prefix}{}", e.path), "is_dir": e.is_dir });
            if let Some(n) = e.file_size {
                f["file_size"] = json!(n);
            }
            f
        })
        .collect()
}

// ---- experiments ----

#[derive(Deserialize)]
struct CreateExperiment {
    name: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn create_experiment(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<CreateExperiment>) -> MlResult<Json<Value>> {
    let name = b.name.ok_or_else(|| MlflowError::invalid("Missing value for required parameter 'name'."))?;
    let id = tracking::create_experiment(&s.core.db, &a, &name, &pairs(b.tags)).await?;
    Ok(Json(json!({ "experiment_id": id.to_string() })))
}

#[derive(Deserialize)]
struct ExperimentId {
    experiment_id: Option<String>,
}

fn required(v: Option<String>, name: &str) -> MlResult<String> {
    v.filter(|s| !s.is_empty()).ok_or_else(|| MlflowError::invalid(format!("Missing value for required parameter '{name}'.")))
}

async fn get_experiment(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<ExperimentId>) -> MlResult<Json<Value>> {
    let id = required(q.experiment_id, "experiment_id")?;
    let e = tracking::experiment(&s.core.db, &a, &id, trellis_core::projects::Access::Read).await?;
    Ok(Json(json!({ "experiment": experiment_json(&e, &a) })))
}

#[derive(Deserialize)]
struct ExperimentName {
    experiment_name: Option<String>,
}

async fn get_experiment_by_name(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<ExperimentName>) -> MlResult<Json<Value>> {
    let name = required(q.experiment_name, "experiment_name")?;
    let e = tracking::experiment_by_name(&s.core.db, &a, &name).await?;
    Ok(Json(json!({ "experiment": experiment_json(&e, &a) })))
}

#[derive(Deserialize)]
struct SearchExperiments {
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    page_token: Option<String>,
    filter: Option<String>,
    view_type: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    order_by: Vec<String>,
}

async fn search_experiments(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<SearchExperiments>) -> MlResult<Json<Value>> {
    let limit = max_results(b.max_results, 1000)?;
    let offset = page(b.page_token.as_deref())?;
    let view = ViewType::parse(b.view_type.as_deref())?;
    let filter = b.filter.unwrap_or_default();
    let found = tracking::search_experiments(&s.core.db, &a, view, &filter, &b.order_by, limit, offset).await?;
    Ok(Json(paged(json!({ "experiments": found.iter().map(|e| experiment_json(e, &a)).collect::<Vec<_>>() }), offset, limit, found.len())))
}

#[derive(Deserialize)]
struct UpdateExperiment {
    experiment_id: Option<String>,
    new_name: Option<String>,
}

async fn update_experiment(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<UpdateExperiment>) -> MlResult<Json<Value>> {
    let id = required(b.experiment_id, "experiment_id")?;
    let name = required(b.new_name, "new_name")?;
    tracking::update_experiment(&s.core.db, &a, &id, Some(&name), None).await?;
    Ok(Json(json!({})))
}

async fn delete_experiment(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<ExperimentId>) -> MlResult<Json<Value>> {
    let id = required(b.experiment_id, "experiment_id")?;
    tracking::update_experiment(&s.core.db, &a, &id, None, Some("deleted")).await?;
    Ok(Json(json!({})))
}

async fn restore_experiment(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<ExperimentId>) -> MlResult<Json<Value>> {
    let id = required(b.experiment_id, "experiment_id")?;
    tracking::update_experiment(&s.core.db, &a, &id, None, Some("active")).await?;
    Ok(Json(json!({})))
}

// ---- runs ----

#[derive(Deserialize)]
struct CreateRun {
    experiment_id: Option<String>,
    run_name: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    start_time: Option<i64>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn create_run(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<CreateRun>) -> MlResult<Json<Value>> {
    let id = required(b.experiment_id, "experiment_id")?;
    let run = tracking::create_run(&s.core, &a, &id, b.run_name.as_deref(), b.start_time, &pairs(b.tags)).await?;
    Ok(Json(json!({ "run": RunJson(&run) })))
}

#[derive(Deserialize)]
struct RunId {
    run_id: Option<String>,
    run_uuid: Option<String>,
}

impl RunId {
    fn get(self) -> MlResult<String> {
        required(self.run_id.filter(|s| !s.is_empty()).or(self.run_uuid), "run_id")
    }
}

async fn get_run(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<RunId>) -> MlResult<Json<Value>> {
    let run = tracking::get_run(&s.core.db, &a, &q.get()?).await?;
    Ok(Json(json!({ "run": RunJson(&run) })))
}

#[derive(Deserialize)]
struct UpdateRun {
    run_id: Option<String>,
    run_uuid: Option<String>,
    status: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    end_time: Option<i64>,
    run_name: Option<String>,
}

async fn update_run(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<UpdateRun>) -> MlResult<Json<Value>> {
    let id = RunId { run_id: b.run_id, run_uuid: b.run_uuid }.get()?;
    let run = tracking::update_run(&s.core.db, &a, &id, b.status.as_deref(), b.end_time, b.run_name.as_deref()).await?;
    Ok(Json(json!({ "run_info": RunInfoJson::from(&run) })))
}

async fn delete_run(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<RunId>) -> MlResult<Json<Value>> {
    tracking::set_run_stage(&s.core.db, &a, &b.get()?, "deleted").await?;
    Ok(Json(json!({})))
}

async fn restore_run(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<RunId>) -> MlResult<Json<Value>> {
    tracking::set_run_stage(&s.core.db, &a, &b.get()?, "active").await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct MetricIn {
    /// Set when the metric is logged for one of the run's models.
    model_id: Option<String>,
    key: Option<String>,
    #[serde(deserialize_with = "double")]
    value: f64,
    #[serde(default, deserialize_with = "int64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "int64")]
    step: Option<i64>,
}

impl MetricIn {
    fn into_metric(self) -> MlResult<Metric> {
        Ok(Metric {
            key: required(self.key, "key")?,
            value: self.value,
            timestamp: self.timestamp.ok_or_else(|| MlflowError::invalid("Missing value for required parameter 'timestamp'."))?,
            step: self.step.unwrap_or(0),
        })
    }
}

#[derive(Deserialize)]
struct LogMetric {
    run_id: Option<String>,
    run_uuid: Option<String>,
    #[serde(flatten)]
    metric: MetricIn,
}

async fn log_metric(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<LogMetric>) -> MlResult<Json<Value>> {
    let id = RunId { run_id: b.run_id, run_uuid: b.run_uuid }.get()?;
    tracking::log_batch(&s.core, &a, &id, &[b.metric.into_metric()?], &[], &[]).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogKeyValue {
    run_id: Option<String>,
    run_uuid: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

async fn log_param(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<LogKeyValue>) -> MlResult<Json<Value>> {
    let id = RunId { run_id: b.run_id, run_uuid: b.run_uuid }.get()?;
    let kv = (required(b.key, "key")?, b.value.unwrap_or_default());
    tracking::log_batch(&s.core, &a, &id, &[], &[kv], &[]).await?;
    Ok(Json(json!({})))
}

async fn set_tag(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<LogKeyValue>) -> MlResult<Json<Value>> {
    let id = RunId { run_id: b.run_id, run_uuid: b.run_uuid }.get()?;
    let kv = (required(b.key, "key")?, b.value.unwrap_or_default());
    tracking::log_batch(&s.core, &a, &id, &[], &[], &[kv]).await?;
    Ok(Json(json!({})))
}

async fn delete_tag(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<LogKeyValue>) -> MlResult<Json<Value>> {
    let id = RunId { run_id: b.run_id, run_uuid: None }.get()?;
    tracking::delete_tag(&s.core.db, &a, &id, &required(b.key, "key")?).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogBatch {
    run_id: Option<String>,
    #[serde(default)]
    metrics: Vec<MetricIn>,
    #[serde(default)]
    params: Vec<KeyValue>,
    #[serde(default)]
    tags: Vec<KeyValue>,
}

async fn log_batch(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<LogBatch>) -> MlResult<Json<Value>> {
    let id = required(b.run_id, "run_id")?;
    let (for_models, plain): (Vec<MetricIn>, Vec<MetricIn>) = b.metrics.into_iter().partition(|m| m.model_id.as_deref().is_some_and(|m| !m.is_empty()));
    let mut by_model: Vec<(String, Vec<Metric>)> = Vec::new();
    for m in for_models {
        let model = m.model_id.clone().unwrap_or_default();
        let metric = m.into_metric()?;
        match by_model.iter_mut().find(|(id, _)| *id == model) {
            Some((_, list)) => list.push(metric),
            None => by_model.push((model, vec![metric])),
        }
    }
    let metrics = plain.into_iter().map(MetricIn::into_metric).collect::<MlResult<Vec<_>>>()?;
    if by_model.iter().map(|(_, l)| l.len()).sum::<usize>() + metrics.len() > tracking::MAX_BATCH_METRICS {
        return Err(MlflowError::invalid(format!("A batch logging request can contain at most {} metrics.", tracking::MAX_BATCH_METRICS)));
    }
    tracking::log_batch(&s.core, &a, &id, &metrics, &pairs(b.params), &pairs(b.tags)).await?;
    for (model, list) in by_model {
        logged_models::log_metrics(&s.core.db, &a, &id, &model, &list).await?;
    }
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct MetricHistory {
    run_id: Option<String>,
    run_uuid: Option<String>,
    metric_key: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    page_token: Option<String>,
}

/// The history is written straight into the response text: pages of tens of thousands of
/// values are the common case.
async fn metric_history(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<MetricHistory>) -> MlResult<Response> {
    use std::fmt::Write;
    let id = RunId { run_id: q.run_id, run_uuid: q.run_uuid }.get()?;
    let key = required(q.metric_key, "metric_key")?;
    let limit = max_results(q.max_results, tracking::MAX_RESULTS)?;
    let after = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(tracking::HistoryCursor::parse(t)?),
        None => None,
    };
    let (found, next) = tracking::metric_history(&s.core.db, &a, &id, &key, limit, after).await?;
    let key_json = serde_json::to_string(&key).unwrap_or_default();
    let mut out = String::with_capacity(32 + found.len() * (key_json.len() + 64));
    // Numbers formatted into reused buffers, as serde_json formats them (no formatter machinery,
    // no string per value: pages hold tens of thousands).
    let (mut float, mut int) = (zmij::Buffer::new(), itoa::Buffer::new());
    out.push_str("{\"metrics\":[");
    for (i, m) in found.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        out.push_str(&key_json);
        out.push_str(",\"value\":");
        out.push_str(match m.value {
            v if v.is_nan() => "\"NaN\"",
            v if v == f64::INFINITY => "\"Infinity\"",
            v if v == f64::NEG_INFINITY => "\"-Infinity\"",
            v => float.format_finite(v),
        });
        out.push_str(",\"timestamp\":");
        out.push_str(int.format(m.timestamp));
        out.push_str(",\"step\":");
        out.push_str(int.format(m.step));
        out.push('}');
    }
    out.push(']');
    if let Some(c) = next {
        let _ = write!(out, ",\"next_page_token\":\"{}\"", c.token());
    }
    out.push('}');
    Ok(([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], out).into_response())
}

#[derive(Deserialize)]
struct SearchRuns {
    #[serde(default)]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    run_view_type: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<String>,
    page_token: Option<String>,
}

async fn search_runs(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<SearchRuns>) -> MlResult<Response> {
    let limit = max_results(b.max_results, 1000)?;
    let offset = page(b.page_token.as_deref())?;
    let view = ViewType::parse(b.run_view_type.as_deref())?;
    let filter = b.filter.unwrap_or_default();
    let runs = tracking::search_runs(&s.core.db, &s.core.runs, &a, &b.experiment_ids, &filter, &b.order_by, view, limit, offset).await?;
    let next_page_token = (runs.len() as i64 == limit).then(|| (offset + limit).to_string());
    let body = runs_page(&runs, next_page_token.as_deref());
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub fn router() -> Router<AppState> {
    let p = |path: &str| format!("/api/2.0/mlflow/{path}");
    Router::new()
        .route(&p("experiments/create"), post(create_experiment))
        .route(&p("experiments/get"), get(get_experiment))
        .route(&p("experiments/get-by-name"), get(get_experiment_by_name))
        .route(&p("experiments/search"), post(search_experiments).get(search_experiments_get))
        .route(&p("experiments/update"), post(update_experiment))
        .route(&p("experiments/delete"), post(delete_experiment))
        .route(&p("experiments/restore"), post(restore_experiment))
        .route(&p("runs/create"), post(create_run))
        .route(&p("runs/get"), get(get_run))
        .route(&p("runs/update"), post(update_run))
        .route(&p("runs/delete"), post(delete_run))
        .route(&p("runs/restore"), post(restore_run))
        .route(&p("runs/search"), post(search_runs))
        .route(&p("runs/log-metric"), post(log_metric))
        .route(&p("runs/log-parameter"), post(log_param))
        .route(&p("runs/set-tag"), post(set_tag))
        .route(&p("runs/delete-tag"), post(delete_tag))
        .route(&p("runs/log-batch"), post(log_batch))
        .route(&p("metrics/get-history"), get(metric_history))
        .merge(models::router())
        .merge(registry::router())
        .route("/api/2.0/mlflow/{*rest}", axum::routing::any(unknown_endpoint))
        .route("/api/2.0/mlflow-artifacts/mpu/create/{*path}", post(multipart_create))
        .route("/api/2.0/mlflow-artifacts/mpu/complete/{*path}", post(multipart_complete))
        .route("/api/2.0/mlflow-artifacts/mpu/abort/{*path}", post(multipart_abort))
        .route("/api/2.0/mlflow-artifacts/mpu/part/{upload_id}/{part}", axum::routing::put(multipart_part))
        .route("/api/2.0/mlflow-artifacts/artifacts", get(list_artifacts))
        .route(
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            get(download_artifact).put(upload_artifact).delete(delete_artifact),
        )
}

// ---- multipart artifact uploads (`MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`) ----

#[derive(Deserialize)]
struct MultipartCreate {
    path: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    num_parts: Option<i64>,
}

/// This server's address as the client reached it, for the part URLs.
fn base_url(headers: &axum::http::HeaderMap) -> String {
    let host = headers.get("x-forwarded-host").or_else(|| headers.get(axum::http::header::HOST)).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).filter(|p| *p == "https").unwrap_or("http");
    format!("{scheme}://{host}")
}

async fn multipart_create(
    State(s): State<AppState>,
    MlActor(a): MlActor,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
    MlJson(b): MlJson<MultipartCreate>,
) -> MlResult<Json<Value>> {
    let dir = ArtifactPath::parse(&path)?;
    let num_parts = b.num_parts.unwrap_or(1);
    let id = trellis_core::artifact_uploads::create(&s.core, &a, &dir, &required(b.path, "path")?, num_parts).await?;
    let base = base_url(&headers);
    let credentials: Vec<Value> = (1..=num_parts)
        .map(|n| json!({ "url": format!("{base}/api/2.0/mlflow-artifacts/mpu/part/{id}/{n}"), "part_number": n, "headers": {} }))
        .collect();
    Ok(Json(json!({ "upload_id": id, "credentials": credentials })))
}

/// One part, sent without credentials to the URL `create` handed out.
async fn multipart_part(State(s): State<AppState>, Path((upload_id, part)): Path<(String, i64)>, body: Body) -> MlResult<Response> {
    if upload_id.len() != 64 || !upload_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(trellis_core::Error::not_found(format!("No multipart upload with id {upload_id}")).into());
    }
    let received = s.core.blobs.receive(body.into_data_stream(), s.max_upload_bytes).await?;
    let etag = trellis_core::artifact_uploads::put_part(&s.core, &upload_id, part, received).await?;
    let mut res = Json(json!({})).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(res)
}

#[derive(Deserialize)]
struct MultipartFinish {
    upload_id: Option<String>,
}

async fn multipart_complete(State(s): State<AppState>, MlActor(a): MlActor, Path(path): Path<String>, MlJson(b): MlJson<MultipartFinish>) -> MlResult<Json<Value>> {
    let dir = ArtifactPath::parse(&path)?;
    trellis_core::artifact_uploads::complete(&s.core, &a, &required(b.upload_id, "upload_id")?, &dir).await?;
    Ok(Json(json!({})))
}

async fn multipart_abort(State(s): State<AppState>, MlActor(a): MlActor, Path(path): Path<String>, MlJson(b): MlJson<MultipartFinish>) -> MlResult<Json<Value>> {
    let dir = ArtifactPath::parse(&path)?;
    trellis_core::artifact_uploads::abort(&s.core, &a, &required(b.upload_id, "upload_id")?, &dir).await?;
    Ok(Json(json!({})))
}

async fn unknown_endpoint() -> MlflowError {
    MlflowError { status: StatusCode::NOT_FOUND, code: "ENDPOINT_NOT_FOUND", message: "this MLflow endpoint is not served by Trellis".into() }
}

// ---- proxied artifacts ----

#[derive(Deserialize)]
struct ListArtifacts {
    path: Option<String>,
}

async fn list_artifacts(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<ListArtifacts>) -> MlResult<Json<Value>> {
    let at = ArtifactPath::parse(&required(q.path, "path")?)?;
    let files = files_json(&artifacts::list(&s.core, &a, &at).await?, "");
    Ok(Json(json!({ "files": files })))
}

async fn download_artifact(State(s): State<AppState>, MlActor(a): MlActor, Path(path): Path<String>) -> MlResult<Response> {
    let at = ArtifactPath::parse(&path)?;
    let (sha256, size) = artifacts::get(&s.core, &a, &at).await?;
    let stream = s.core.blobs.stream(&sha256).await?;
    let mut res = Body::from_stream(stream).into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(artifacts::content_type(&at.path)));
    res.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    res.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(size.max(0) as u64));
    Ok(res)
}

async fn upload_artifact(State(s): State<AppState>, MlActor(a): MlActor, Path(path): Path<String>, body: Body) -> MlResult<Json<Value>> {
    let at = ArtifactPath::parse(&path)?;
    // Refuse before reading a byte of a body the caller may not upload.
    artifacts::authorize_upload(&s.core, &a, &at).await?;
    let received = s.core.blobs.receive(body.into_data_stream(), s.max_upload_bytes).await?;
    artifacts::put(&s.core, &a, &at, received).await?;
    Ok(Json(json!({})))
}

async fn delete_artifact(State(s): State<AppState>, MlActor(a): MlActor, Path(path): Path<String>) -> MlResult<Json<Value>> {
    let at = ArtifactPath::parse(&path)?;
    artifacts::delete(&s.core, &a, &at).await?;
    Ok(Json(json!({})))
}

async fn search_experiments_get(state: State<AppState>, actor: MlActor, MlQuery(q): MlQuery<SearchExperiments>) -> MlResult<Json<Value>> {
    search_experiments(state, actor, MlJson(q)).await
}
