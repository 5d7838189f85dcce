use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use trellis_core::jobs::{self, Job, JobLogLine};

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::startup::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobListQuery {
    /// queued, running, succeeded, failed or cancelled.
    pub state: Option<String>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Only lines after this id (for tailing).
    pub after: Option<i64>,
    /// 1–10000, default 1000.
    pub limit: Option<i64>,
}

fn parse_job_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request(format!("job id: '{raw}' is not a positive integer")))
}

#[utoipa::path(get, path = "/v1/projects/{project}/jobs", tag = "jobs",
    params(("project" = String, Path, description = "project slug"), JobListQuery),
    responses((status = 200, body = Vec<Job>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<JobListQuery>,
) -> ApiResult<Json<Vec<Job>>> {
    Ok(Json(jobs::list(&s.core.db, &actor, Some(&slug), q.state.as_deref(), q.limit.unwrap_or(100)).await?))
}

/// Instance-level jobs (housekeeping), for instance admins.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(JobListQuery),
    responses((status = 200, body = Vec<Job>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_instance(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(q): ApiQuery<JobListQuery>,
) -> ApiResult<Json<Vec<Job>>> {
    Ok(Json(jobs::list(&s.core.db, &actor, None, q.state.as_deref(), q.limit.unwrap_or(100)).await?))
}

#[utoipa::path(get, path = "/v1/jobs/{job}", tag = "jobs",
    params(("job" = i64, Path, description = "job id")),
    responses((status = 200, body = Job), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath(raw): ApiPath<String>) -> ApiResult<Json<Job>> {
    let id = parse_job_id(&raw)?;
    Ok(Json(jobs::get(&s.core.db, &actor, id).await?))
}

/// `POST /v1/jobs/{job}:cancel`.
#[utoipa::path(post, path = "/v1/jobs/{job}:cancel", tag = "jobs",
    params(("job" = i64, Path, description = "job id")),
    responses((status = 200, body = Job), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn action(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath(raw): ApiPath<String>) -> ApiResult<Json<Job>> {
    let Some((id, verb)) = raw.split_once(':') else {
        return Err(ApiError::not_found(format!("no API route POST /v1/jobs/{raw}; did you mean /v1/jobs/{raw}:cancel?")));
    };
    let id = parse_job_id(id)?;
    match verb {
        "cancel" => Ok(Json(jobs::cancel(&s.core.db, &actor, id).await?)),
        other => Err(ApiError::not_found(format!("jobs have no action ':{other}' (known: :cancel)"))),
    }
}

#[utoipa::path(get, path = "/v1/jobs/{job}/logs", tag = "jobs",
    params(("job" = i64, Path, description = "job id"), LogQuery),
    responses((status = 200, body = Vec<JobLogLine>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn logs(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<Vec<JobLogLine>>> {
    let id = parse_job_id(&raw)?;
    Ok(Json(jobs::logs(&s.core.db, &actor, id, q.after, q.limit.unwrap_or(1000)).await?))
}
