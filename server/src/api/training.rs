//! Built-in training: submit a job that trains a model into a run.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use trellis_core::custom_training::{self, CustomJobSpec};
use trellis_core::training::{self, AlgorithmInfo, Submitted, TrainingRequest};
use trellis_core::tuning::{self, AutoMlRequest, SearchCancelled, TuningRequest, TuningSubmitted};

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
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

/// `POST /v1/projects/{project}/tuning-jobs/{run_id}:cancel` (editors): cancels a search (a
/// tuning or best-model job, named by its parent run). Queued trials are cancelled, running ones
/// asked to stop, and the parent run ends KILLED with the best trial so far.
#[utoipa::path(post, path = "/v1/projects/{project}/tuning-jobs/{run_id}:cancel", tag = "training",
    params(("project" = String, Path, description = "project slug"), ("run_id" = String, Path, description = "the search's parent run")),
    responses((status = 200, body = SearchCancelled), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn search_action(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, raw)): ApiPath<(String, String)>,
) -> ApiResult<Json<SearchCancelled>> {
    match raw.split_once(':') {
        Some((run_id, "cancel")) => Ok(Json(tuning::cancel(&s.core, &actor, &project, run_id).await?)),
        _ => Err(ApiError::not_found(format!("no API route POST /v1/projects/{project}/tuning-jobs/{raw}; searches have the action :cancel"))),
    }
}

/// Starts the "best model" preset (editors): every algorithm (or the chosen ones) with its
/// defaults, then random draws from each one's default search space, in turn, as child runs,
/// until `max_trials` or `time_budget_seconds` run out. The parent run ends with the best
/// trial's metric (`best_<metric>`) and tags (`trellis.best_run_id`, `trellis.best_algorithm`).
#[utoipa::path(post, path = "/v1/projects/{project}/automl-jobs", tag = "training",
    params(("project" = String, Path, description = "project slug")),
    request_body = AutoMlRequest,
    responses((status = 201, body = TuningSubmitted), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn automl(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    ApiJson(req): ApiJson<AutoMlRequest>,
) -> ApiResult<(StatusCode, Json<TuningSubmitted>)> {
    Ok((StatusCode::CREATED, Json(tuning::submit_automl(&s.core, &actor, &project, req).await?)))
}

/// The form of a custom job: a JSON `spec` part and a `code` file part.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CustomJobForm {
    /// A `CustomJobSpec` as JSON text.
    spec: String,
    /// `train.py`, or a `.zip`, `.tar` or `.tar.gz` archive of the code.
    #[schema(format = Binary, value_type = String)]
    code: Vec<u8>,
}

/// Starts a custom training job (editors only: it runs the uploaded code on a worker).
/// `multipart/form-data` with a `spec` part (JSON: `experiment`, `command`, optional `dataset`
/// and `version`, `run_name`, `timeout_seconds`, `env`) and a `code` part (one file, or a zip or
/// tar archive). Everything is checked before anything is stored: the spec, the dataset version,
/// and every entry of the archive.
#[utoipa::path(post, path = "/v1/projects/{project}/custom-jobs", tag = "training",
    params(("project" = String, Path, description = "project slug")),
    request_body(content = CustomJobForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Submitted), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub async fn submit_custom(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Submitted>)> {
    // Refuse before reading a byte of code the caller may not run.
    custom_training::authorize(&s.core.db, &actor, &project).await?;
    let mut form = form.map_err(|e| ApiError::bad_request(format!("a multipart/form-data body with 'spec' and 'code' parts is needed: {}", e.body_text())))?;
    let mut spec: Option<Result<CustomJobSpec, String>> = None;
    let mut code: Option<(String, trellis_core::storage::Received)> = None;
    let outcome: Result<(), ApiError> = async {
        while let Some(field) = form.next_field().await.map_err(|e| ApiError::bad_request(format!("the multipart body cannot be read: {e}")))? {
            match field.name() {
                Some("spec") => {
                    let text = field.text().await.map_err(|e| ApiError::bad_request(format!("spec: {e}")))?;
                    if text.len() > 256 * 1024 {
                        return Err(ApiError::bad_request("spec: at most 256 KiB of JSON"));
                    }
                    spec = Some(serde_json::from_str(&text).map_err(|e| format!("spec: {e}")));
                }
                Some("code") => {
                    if code.is_some() {
                        return Err(ApiError::bad_request("code: give one file (an archive for several)"));
                    }
                    let filename = field.file_name().unwrap_or_default().to_string();
                    let received = s.core.blobs.receive(field, trellis_core::code_archive::MAX_CODE_BYTES).await?;
                    code = Some((filename, received));
                }
                other => {
                    return Err(ApiError::bad_request(format!("unknown form part '{}'; the parts are 'spec' and 'code'", other.unwrap_or(""))));
                }
            }
        }
        Ok(())
    }
    .await;
    let (spec, code) = match (outcome, spec, code) {
        (Ok(()), Some(Ok(spec)), Some(code)) => (spec, code),
        (outcome, spec, code) => {
            if let Some((_, received)) = code {
                received.discard().await;
            }
            outcome?;
            return Err(match spec {
                Some(Err(e)) => ApiError::bad_request(e),
                None => ApiError::bad_request("spec: the form has no 'spec' part (JSON with at least experiment and command)"),
                Some(Ok(_)) => ApiError::bad_request("code: the form has no 'code' file part"),
            });
        }
    };
    let (filename, received) = code;
    Ok((StatusCode::CREATED, Json(custom_training::submit(&s.core, &actor, &project, spec, &filename, received).await?)))
}
