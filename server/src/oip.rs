//! The Open Inference Protocol (KServe v2 / Triton, HTTP+JSON) at `/v2`: health, server and model
//! metadata, readiness and inference. A model's name is its endpoint's `<project>.<endpoint>`.
//! Errors are `{"error": "<message>"}`, as the protocol has them.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use trellis_core::serving::oip;

use crate::auth::ApiActor;
use crate::error::ApiError;
use crate::startup::AppState;

pub struct OipError(ApiError);

impl From<ApiError> for OipError {
    fn from(e: ApiError) -> Self {
        OipError(e)
    }
}

impl From<trellis_core::Error> for OipError {
    fn from(e: trellis_core::Error) -> Self {
        OipError(e.into())
    }
}

impl IntoResponse for OipError {
    fn into_response(self) -> Response {
        (self.0.status, Json(json!({ "error": self.0.message }))).into_response()
    }
}

type OipResult<T> = Result<T, OipError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route(
            "/v2/models/{name}/infer",
            post(infer).layer(axum::extract::DefaultBodyLimit::max(crate::api::PREDICT_BODY_BYTES)),
        )
        .route("/v2/{*rest}", get(unknown).post(unknown))
}

async fn unknown(uri: axum::http::Uri) -> OipError {
    OipError(ApiError::not_found(format!("no route {}", uri.path())))
}

async fn server_metadata() -> Json<serde_json::Value> {
    Json(json!({ "name": "trellis", "version": env!("CARGO_PKG_VERSION"), "extensions": [] }))
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "live": true }))
}

async fn ready(State(s): State<AppState>) -> Response {
    let ok = matches!(trellis_core::db::is_ready(&s.core.db).await, Ok(true));
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ok }))).into_response()
}

async fn model_metadata(State(s): State<AppState>, actor: Result<ApiActor, ApiError>, Path(name): Path<String>) -> OipResult<Json<oip::ModelMetadata>> {
    let ApiActor(actor) = actor?;
    Ok(Json(oip::metadata(&s.core, &actor, &name).await?))
}

async fn model_ready(State(s): State<AppState>, actor: Result<ApiActor, ApiError>, Path(name): Path<String>) -> OipResult<Response> {
    let ApiActor(actor) = actor?;
    let ready = oip::ready(&s.core, &actor, &name).await?;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, Json(json!({ "name": name, "ready": ready }))).into_response())
}

/// The body is JSON whatever its content type (clients differ), or a JSON header followed by
/// binary tensor data when `Inference-Header-Content-Length` says so. Outputs asked for as
/// binary data come back the same way.
async fn infer(
    State(s): State<AppState>,
    actor: Result<ApiActor, ApiError>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> OipResult<Response> {
    let ApiActor(actor) = actor?;
    let body = body.map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
    let header_length = match headers.get("inference-header-content-length") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<usize>().ok())
                .ok_or_else(|| ApiError::bad_request("Inference-Header-Content-Length must be a number of bytes"))?,
        ),
    };
    let req = oip::parse_request(&body, header_length)?;
    let binary = oip::BinaryOutputs::of(&req);
    let answer = oip::infer(&s.core, &actor, &name, req).await?;
    let (body, header_length) = oip::encode_response(&answer, &binary)?;
    let mut response = Response::new(axum::body::Body::from(body));
    let headers = response.headers_mut();
    match header_length {
        Some(n) => {
            headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/octet-stream"));
            headers.insert("inference-header-content-length", axum::http::HeaderValue::from(n));
        }
        None => {
            headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
        }
    }
    Ok(response)
}
