//! Registered models' governance: review states, the approval requirement, the model card. (The
//! registry itself is served by the MLflow API.)

use axum::extract::State;
use axum::Json;
use trellis_core::model_governance::{self, Governance, ModelSettings, Review};

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::startup::AppState;

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
