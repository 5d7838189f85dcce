//! The MLflow model registry API (`/api/2.0/mlflow/registered-models/…` and
//! `/api/2.0/mlflow/model-versions/…`), with the field names of MLflow's `model_registry.proto`.

use axum::extract::State;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use trellis_core::registry::{self, ModelVersion, NewVersion, RegisteredModel};
use trellis_core::Actor;

use super::{int64, kv_json, max_results, one_or_many, page, paged, pairs, required, KeyValue, MlActor, MlJson, MlQuery, MlResult};
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    let p = |path: &str| format!("/api/2.0/mlflow/{path}");
    Router::new()
        .route(&p("registered-models/create"), post(create_model))
        .route(&p("registered-models/get"), get(get_model))
        .route(&p("registered-models/rename"), post(rename_model))
        .route(&p("registered-models/update"), axum::routing::patch(update_model))
        .route(&p("registered-models/delete"), delete(delete_model))
        .route(&p("registered-models/search"), get(search_models))
        .route(&p("registered-models/get-latest-versions"), post(latest_versions).get(latest_versions_get))
        .route(&p("registered-models/set-tag"), post(set_model_tag))
        .route(&p("registered-models/delete-tag"), delete(delete_model_tag))
        .route(&p("registered-models/alias"), post(set_alias).delete(delete_alias).get(get_by_alias))
        .route(&p("model-versions/create"), post(create_version))
        .route(&p("model-versions/get"), get(get_version))
        .route(&p("model-versions/update"), axum::routing::patch(update_version))
        .route(&p("model-versions/delete"), delete(delete_version))
        .route(&p("model-versions/search"), get(search_versions))
        .route(&p("model-versions/get-download-uri"), get(download_uri))
        .route(&p("model-versions/set-tag"), post(set_version_tag))
        .route(&p("model-versions/delete-tag"), delete(delete_version_tag))
        .route(&p("model-versions/transition-stage"), post(transition_stage))
}

pub(crate) fn version_json(v: &ModelVersion, a: &Actor) -> Value {
    let mut out = json!({
        "name": v.display_name(a),
        "version": v.version.to_string(),
        "creation_timestamp": v.creation_time,
        "last_updated_timestamp": v.last_updated_time,
        "user_id": v.user_name,
        "current_stage": v.current_stage,
        "description": v.description,
        "source": v.source,
        "run_id": v.run_id.clone().unwrap_or_default(),
        "status": v.status,
        "tags": kv_json(&v.tags),
        "run_link": v.run_link,
        "aliases": v.aliases,
    });
    if !v.status_message.is_empty() {
        out["status_message"] = json!(v.status_message);
    }
    if let Some(m) = &v.logged_model_id {
        out["model_id"] = json!(m);
    }
    out
}

fn model_json(m: &RegisteredModel, a: &Actor) -> Value {
    json!({
        "name": m.display_name(a),
        "creation_timestamp": m.creation_time,
        "last_updated_timestamp": m.last_updated_time,
        "user_id": m.user_name,
        "description": m.description,
        "latest_versions": m.latest_versions.iter().map(|v| version_json(v, a)).collect::<Vec<_>>(),
        "tags": kv_json(&m.tags),
        "aliases": m.aliases.iter().map(|(alias, v)| json!({ "alias": alias, "version": v.to_string() })).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize)]
struct Name {
    name: Option<String>,
}

#[derive(Deserialize)]
struct CreateModel {
    name: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    description: Option<String>,
}

async fn create_model(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<CreateModel>) -> MlResult<Json<Value>> {
    let name = required(b.name, "name")?;
    let m = registry::create_model(&s.core.db, &a, &name, b.description.as_deref().unwrap_or(""), &pairs(b.tags)).await?;
    Ok(Json(json!({ "registered_model": model_json(&m, &a) })))
}

async fn get_model(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<Name>) -> MlResult<Json<Value>> {
    let m = registry::get_model(&s.core.db, &a, &required(q.name, "name")?).await?;
    Ok(Json(json!({ "registered_model": model_json(&m, &a) })))
}

#[derive(Deserialize)]
struct Rename {
    name: Option<String>,
    new_name: Option<String>,
}

async fn rename_model(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Rename>) -> MlResult<Json<Value>> {
    let m = registry::rename_model(&s.core.db, &a, &required(b.name, "name")?, &required(b.new_name, "new_name")?).await?;
    Ok(Json(json!({ "registered_model": model_json(&m, &a) })))
}

#[derive(Deserialize)]
struct Describe {
    name: Option<String>,
    version: Option<String>,
    description: Option<String>,
}

async fn update_model(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Describe>) -> MlResult<Json<Value>> {
    let m = registry::update_model(&s.core.db, &a, &required(b.name, "name")?, b.description.as_deref().unwrap_or("")).await?;
    Ok(Json(json!({ "registered_model": model_json(&m, &a) })))
}

async fn delete_model(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Name>) -> MlResult<Json<Value>> {
    registry::delete_model(&s.core.db, &a, &required(b.name, "name")?).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Search {
    filter: Option<String>,
    #[serde(default, deserialize_with = "int64")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "one_or_many")]
    order_by: Vec<String>,
    page_token: Option<String>,
}

async fn search_models(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<Search>) -> MlResult<Json<Value>> {
    let limit = max_results(q.max_results, 100)?;
    let offset = page(q.page_token.as_deref())?;
    let found = registry::search_models(&s.core.db, &a, None, q.filter.as_deref().unwrap_or(""), &q.order_by, limit, offset).await?;
    Ok(Json(paged(json!({ "registered_models": found.iter().map(|m| model_json(m, &a)).collect::<Vec<_>>() }), offset, limit, found.len())))
}

async fn search_versions(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<Search>) -> MlResult<Json<Value>> {
    let limit = max_results(q.max_results, 10_000)?;
    let offset = page(q.page_token.as_deref())?;
    let found = registry::search_versions(&s.core.db, &a, None, q.filter.as_deref().unwrap_or(""), &q.order_by, limit, offset).await?;
    Ok(Json(paged(json!({ "model_versions": found.iter().map(|v| version_json(v, &a)).collect::<Vec<_>>() }), offset, limit, found.len())))
}

#[derive(Deserialize)]
struct Latest {
    name: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    stages: Vec<String>,
}

async fn latest_versions(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Latest>) -> MlResult<Json<Value>> {
    let found = registry::latest_versions(&s.core.db, &a, &required(b.name, "name")?, &b.stages).await?;
    Ok(Json(json!({ "model_versions": found.iter().map(|v| version_json(v, &a)).collect::<Vec<_>>() })))
}

async fn latest_versions_get(state: State<AppState>, actor: MlActor, MlQuery(q): MlQuery<Latest>) -> MlResult<Json<Value>> {
    latest_versions(state, actor, MlJson(q)).await
}

#[derive(Deserialize)]
struct Tag {
    name: Option<String>,
    version: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

async fn set_model_tag(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Tag>) -> MlResult<Json<Value>> {
    registry::set_model_tag(&s.core.db, &a, &required(b.name, "name")?, &required(b.key, "key")?, b.value.as_deref().unwrap_or("")).await?;
    Ok(Json(json!({})))
}

async fn delete_model_tag(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Tag>) -> MlResult<Json<Value>> {
    registry::delete_model_tag(&s.core.db, &a, &required(b.name, "name")?, &required(b.key, "key")?).await?;
    Ok(Json(json!({})))
}

async fn set_version_tag(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Tag>) -> MlResult<Json<Value>> {
    let (name, version, key) = (required(b.name, "name")?, required(b.version, "version")?, required(b.key, "key")?);
    registry::set_version_tag(&s.core.db, &a, &name, &version, &key, b.value.as_deref().unwrap_or("")).await?;
    Ok(Json(json!({})))
}

async fn delete_version_tag(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Tag>) -> MlResult<Json<Value>> {
    let (name, version, key) = (required(b.name, "name")?, required(b.version, "version")?, required(b.key, "key")?);
    registry::delete_version_tag(&s.core.db, &a, &name, &version, &key).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Alias {
    name: Option<String>,
    alias: Option<String>,
    version: Option<String>,
}

async fn set_alias(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Alias>) -> MlResult<Json<Value>> {
    let (name, alias, version) = (required(b.name, "name")?, required(b.alias, "alias")?, required(b.version, "version")?);
    registry::set_alias(&s.core.db, &a, &name, &alias, &version).await?;
    s.core.serving.invalidate();
    Ok(Json(json!({})))
}

async fn delete_alias(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Alias>) -> MlResult<Json<Value>> {
    registry::delete_alias(&s.core.db, &a, &required(b.name, "name")?, &required(b.alias, "alias")?).await?;
    Ok(Json(json!({})))
}

async fn get_by_alias(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<Alias>) -> MlResult<Json<Value>> {
    let v = registry::version_by_alias(&s.core.db, &a, &required(q.name, "name")?, &required(q.alias, "alias")?).await?;
    Ok(Json(json!({ "model_version": version_json(&v, &a) })))
}

#[derive(Deserialize)]
struct CreateVersion {
    name: Option<String>,
    source: Option<String>,
    run_id: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    run_link: Option<String>,
    description: Option<String>,
    model_id: Option<String>,
}

async fn create_version(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<CreateVersion>) -> MlResult<Json<Value>> {
    let name = required(b.name, "name")?;
    let source = required(b.source, "source")?;
    let tags = pairs(b.tags);
    let new = NewVersion {
        source: &source,
        run_id: b.run_id.as_deref(),
        model_id: b.model_id.as_deref(),
        run_link: b.run_link.as_deref(),
        description: b.description.as_deref(),
        tags: &tags,
    };
    let v = registry::create_version(&s.core.db, &a, &name, new).await?;
    Ok(Json(json!({ "model_version": version_json(&v, &a) })))
}

#[derive(Deserialize)]
struct VersionQuery {
    name: Option<String>,
    version: Option<String>,
}

async fn get_version(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<VersionQuery>) -> MlResult<Json<Value>> {
    let v = registry::get_version(&s.core.db, &a, &required(q.name, "name")?, &required(q.version, "version")?).await?;
    Ok(Json(json!({ "model_version": version_json(&v, &a) })))
}

async fn update_version(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Describe>) -> MlResult<Json<Value>> {
    let (name, version) = (required(b.name, "name")?, required(b.version, "version")?);
    let v = registry::update_version(&s.core.db, &a, &name, &version, b.description.as_deref().unwrap_or("")).await?;
    Ok(Json(json!({ "model_version": version_json(&v, &a) })))
}

async fn delete_version(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<VersionQuery>) -> MlResult<Json<Value>> {
    registry::delete_version(&s.core.db, &a, &required(b.name, "name")?, &required(b.version, "version")?).await?;
    Ok(Json(json!({})))
}

async fn download_uri(State(s): State<AppState>, MlActor(a): MlActor, MlQuery(q): MlQuery<VersionQuery>) -> MlResult<Json<Value>> {
    let uri = registry::download_uri(&s.core.db, &a, &required(q.name, "name")?, &required(q.version, "version")?).await?;
    Ok(Json(json!({ "artifact_uri": uri })))
}

#[derive(Deserialize)]
struct Transition {
    name: Option<String>,
    version: Option<String>,
    stage: Option<String>,
    #[serde(default)]
    archive_existing_versions: bool,
}

async fn transition_stage(State(s): State<AppState>, MlActor(a): MlActor, MlJson(b): MlJson<Transition>) -> MlResult<Json<Value>> {
    let (name, version, stage) = (required(b.name, "name")?, required(b.version, "version")?, required(b.stage, "stage")?);
    let v = registry::transition_stage(&s.core.db, &a, &name, &version, &stage, b.archive_existing_versions).await?;
    Ok(Json(json!({ "model_version": version_json(&v, &a) })))
}
