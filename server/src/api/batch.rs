//! Batch predictions: a dataset version through a registered model version into a CSV or
//! Parquet file, made by a job.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trellis_core::batch_prediction::{self, BatchRequest, BatchView};

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::startup::AppState;

fn batch_id(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| ApiError::bad_request(format!("batch prediction id: '{raw}' is not an integer")))
}

/// Starts a batch prediction (editors). Follow it here or at `/v1/jobs/{job_id}`; download the
/// output when it has succeeded.
#[utoipa::path(post, path = "/v1/projects/{project}/batch-predictions", tag = "batch predictions",
    params(("project" = String, Path, description = "project slug")),
    request_body = BatchRequest,
    responses((status = 201, body = BatchView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    Ok((StatusCode::CREATED, Json(batch_prediction::submit(&s.core, &actor, &project, req).await?)))
}

/// The project's batch predictions, newest first.
#[utoipa::path(get, path = "/v1/projects/{project}/batch-predictions", tag = "batch predictions",
    params(("project" = String, Path, description = "project slug")),
    responses((status = 200, body = Vec<BatchView>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath(project): ApiPath<String>) -> ApiResult<Json<Vec<BatchView>>> {
    Ok(Json(batch_prediction::list(&s.core, &actor, &project).await?))
}

#[utoipa::path(get, path = "/v1/projects/{project}/batch-predictions/{batch}", tag = "batch predictions",
    params(("project" = String, Path, description = "project slug"), ("batch" = i64, Path, description = "batch prediction id")),
    responses((status = 200, body = BatchView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath((project, raw)): ApiPath<(String, String)>) -> ApiResult<Json<BatchView>> {
    Ok(Json(batch_prediction::get(&s.core, &actor, &project, batch_id(&raw)?).await?))
}

/// The output file (409 until the job has finished).
#[utoipa::path(get, path = "/v1/projects/{project}/batch-predictions/{batch}/output", tag = "batch predictions",
    params(("project" = String, Path, description = "project slug"), ("batch" = i64, Path, description = "batch prediction id")),
    responses((status = 200, description = "the CSV or Parquet file"), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn output(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath((project, raw)): ApiPath<(String, String)>) -> ApiResult<Response> {
    let (sha, _, filename, ctype) = batch_prediction::output(&s.core, &actor, &project, batch_id(&raw)?).await?;
    let stream = s.core.blobs.stream(&sha).await?;
    let mut res = Body::from_stream(stream).into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        res.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
