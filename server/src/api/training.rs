//! Built-in training: submit a job that trains a model into a run.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use trellis_core::training::{self, AlgorithmInfo, Submitted, TrainingRequest};
use trellis_core::tuning::{self, TuningRequest, TuningSubmitted};

use crate::auth::ApiActor;
use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::startup::AppState;

/// Starts a training job (editors): the request is checked whole first, then a run (status
/// SCHEDULED) and its job are created. Follow the job at `/v1/jobs/{job_id}` and the run through
/// the MLflow API or its page.
#[utoipa::path(post, path = "/v1/projects/{project}/training-jobs", tag = "training",
    params(("project" = String, Path, description = "project slug")),
    request_body = TrainingRequest,
    responses((status = 201, body = Submitted), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn submit(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    ApiJson(req): ApiJson<TrainingRequest>,
) -> ApiResult<(StatusCode, Json<Submitted>)> {
    Ok((StatusCode::CREATED, Json(training::submit(&s.core, &actor, &project, req).await?)))
}

/// The built-in algorithms and their hyperparameters (names, defaults, ranges).
#[utoipa::path(get, path = "/v1/training/algorithms", tag = "training",
    responses((status = 200, body = Vec<AlgorithmInfo>)))]
pub async fn algorithms(ApiActor(_actor): ApiActor) -> Json<Vec<AlgorithmInfo>> {
    Json(training::algorithms())
}

/// Starts a hyperparameter search (editors): a parent run, and a child run and training job per
/// trial, `parallelism` at a time. The parent run ends with the best trial's metric
/// (`best_<metric>`) and tags (`trellis.best_run_id`, `best.<param>`).
#[utoipa::path(post, path = "/v1/projects/{project}/tuning-jobs", tag = "training",
    params(("project" = String, Path, description = "project slug")),
    request_body = TuningRequest,
    responses((status = 201, body = TuningSubmitted), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn tune(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    ApiJson(req): ApiJson<TuningRequest>,
) -> ApiResult<(StatusCode, Json<TuningSubmitted>)> {
    Ok((StatusCode::CREATED, Json(tuning::submit(&s.core, &actor, &project, req).await?)))
}
