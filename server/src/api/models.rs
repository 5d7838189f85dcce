//! Registered models' governance: review states, the approval requirement, the model card. (The
//! registry itself is served by the MLflow API.)

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use trellis_core::model_governance::{self, Governance, ModelSettings, Review};
use trellis_core::model_upload::{self, OnnxUpload};
use trellis_core::registry::ModelVersion;

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::startup::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OnnxUploadQuery {
    /// Names of the columns of a `[rows, n]` input, comma-separated, in order (default `x0 … x{n-1}`).
    pub feature_names: Option<String>,
    pub description: Option<String>,
    /// A dataset of the project whose version `baseline_version` is the model's training baseline.
    pub baseline_dataset: Option<String>,
    pub baseline_version: Option<i32>,
    /// The original file name, kept in the version's signature.
    pub filename: Option<String>,
}

/// Registers an ONNX file, sent as the raw body, as the next version of the project's model
/// (editors; the model is created when new). The graph must load in ONNX Runtime with inputs and
/// outputs Trellis serves; its signature is read from the graph.
#[utoipa::path(post, path = "/v1/projects/{project}/models/{model}/versions", tag = "models",
    params(("project" = String, Path, description = "project slug"), ("model" = String, Path, description = "registered model name"), OnnxUploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "the new version, as the MLflow API shows it"), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub async fn upload_version(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, model)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<OnnxUploadQuery>,
    body: Body,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    // Refuse before reading a byte of a body the caller may not upload.
    model_upload::authorize(&s.core, &actor, &project, &model).await?;
    let feature_names = q.feature_names.as_deref().filter(|n| !n.trim().is_empty()).map(model_upload::parse_feature_names).transpose()?;
    let baseline = match (q.baseline_dataset, q.baseline_version) {
        (Some(d), Some(v)) => Some((d, v)),
        (None, None) => None,
        _ => return Err(ApiError::bad_request("baseline_dataset and baseline_version go together")),
    };
    let received = s.core.blobs.receive(body.into_data_stream(), s.max_upload_bytes.min(model_upload::MAX_ONNX_BYTES)).await?;
    let upload = OnnxUpload { feature_names, description: q.description.unwrap_or_default(), baseline };
    let file_name = q.filename.unwrap_or_else(|| "model.onnx".to_string());
    let v: ModelVersion = model_upload::register_onnx(&s.core, &actor, &project, &model, &file_name, received, upload).await?;
    Ok((StatusCode::CREATED, Json(crate::mlflow::registry::version_json(&v, &actor))))
}

/// A registered model's card, approval requirement, and each version's review and endpoints.
#[utoipa::path(get, path = "/v1/projects/{project}/models/{model}", tag = "models",
    params(("project" = String, Path, description = "project slug"), ("model" = String, Path, description = "registered model name")),
    responses((status = 200, body = Governance), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath((project, model)): ApiPath<(String, String)>) -> ApiResult<Json<Governance>> {
    Ok(Json(model_governance::governance(&s.core.db, &actor, &project, &model).await?))
}

/// Changes the model card (editors) or whether only approved versions may be deployed (project admins).
#[utoipa::path(patch, path = "/v1/projects/{project}/models/{model}", tag = "models",
    params(("project" = String, Path, description = "project slug"), ("model" = String, Path, description = "registered model name")),
    request_body = ModelSettings,
    responses((status = 200, body = Governance), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, model)): ApiPath<(String, String)>,
    ApiJson(settings): ApiJson<ModelSettings>,
) -> ApiResult<Json<Governance>> {
    Ok(Json(model_governance::update(&s.core.db, &actor, &project, &model, settings).await?))
}

/// `POST …/versions/{version}:review` (project admins): approve or reject a version, with a comment.
#[utoipa::path(post, path = "/v1/projects/{project}/models/{model}/versions/{version}:review", tag = "models",
    params(("project" = String, Path, description = "project slug"), ("model" = String, Path, description = "registered model name"),
           ("version" = i32, Path, description = "version number")),
    request_body = Review,
    responses((status = 200, body = Governance), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn version_action(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, model, raw)): ApiPath<(String, String, String)>,
    ApiJson(review): ApiJson<Review>,
) -> ApiResult<Json<Governance>> {
    match raw.split_once(':') {
        Some((v, "review")) => {
            let version: i32 = v.parse().map_err(|_| ApiError::bad_request(format!("version: '{v}' is not a number")))?;
            Ok(Json(model_governance::review(&s.core.db, &actor, &project, &model, version, review).await?))
        }
        _ => Err(ApiError::not_found(format!("no API route POST …/models/{model}/versions/{raw}; versions have the action :review"))),
    }
}

/// A version's global feature importance (readers): each feature's mean |attribution| over a
/// sample of the data it was trained on (TreeSHAP for tree models, sampled Shapley otherwise);
/// `null` when Trellis does not know that data.
#[utoipa::path(get, path = "/v1/projects/{project}/models/{model}/versions/{version}/importance", tag = "models",
    params(("project" = String, Path, description = "project slug"), ("model" = String, Path, description = "registered model name"),
           ("version" = i32, Path, description = "version number")),
    responses((status = 200, body = Option<trellis_core::serving::importance::GlobalImportance>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn importance(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, model, version)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Option<trellis_core::serving::importance::GlobalImportance>>> {
    let version: i32 = version.parse().map_err(|_| ApiError::bad_request(format!("version: '{version}' is not a number")))?;
    Ok(Json(trellis_core::serving::importance::global_importance(&s.core, &actor, &project, &model, version).await?))
}
