//! Batch predictions: a dataset version or an uploaded file through a registered model version
//! into a CSV or Parquet file, made by a job.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use trellis_core::batch_prediction::{self, BatchRequest, BatchView, FileBatchRequest};

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiPath, ApiResult};
use crate::startup::AppState;

fn batch_id(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| ApiError::bad_request(format!("batch prediction id: '{raw}' is not an integer")))
}

/// Starts a batch prediction (editors), over a dataset version (a JSON body) or over an
/// uploaded CSV or Parquet file (the file as the body — `Content-Type: text/csv` or
/// `application/vnd.apache.parquet`, gzip by `Content-Encoding` or its magic bytes — with the
/// settings in the query string). Follow it here or at `/v1/jobs/{job_id}`; download the output
/// when it has succeeded.
#[utoipa::path(post, path = "/v1/projects/{project}/batch-predictions", tag = "batch predictions",
    params(("project" = String, Path, description = "project slug"), FileBatchRequest),
    request_body(content((BatchRequest = "application/json"), (String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"))),
    responses((status = 201, body = BatchView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<BatchView>)> {
    let header = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_string);
    let content_type = header(CONTENT_TYPE);
    if content_type.as_deref().is_some_and(|t| t.starts_with("application/json")) {
        let bytes = axum::body::to_bytes(body, JSON_BODY_BYTES)
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("a JSON body may have at most {JSON_BODY_BYTES} bytes")))?;
        let Json(req) = Json::<BatchRequest>::from_bytes(&bytes)?;
        return Ok((StatusCode::CREATED, Json(batch_prediction::submit(&s.core, &actor, &project, req).await?)));
    }
    let Query(req) = Query::<FileBatchRequest>::try_from_uri(&uri)?;
    // Refuse before reading a byte of a body the caller may not upload.
    batch_prediction::authorize_submit(&s.core, &actor, &project).await?;
    let received = s.core.blobs.receive(body.into_data_stream(), s.max_upload_bytes).await?;
    let view = batch_prediction::submit_file(&s.core, &actor, &project, req, content_type.as_deref(), header(CONTENT_ENCODING).as_deref(), received).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Largest JSON body of a batch request.
const JSON_BODY_BYTES: usize = 64 << 10;

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
