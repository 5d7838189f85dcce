//! The job queue: long work as rows in `jobs`, claimed by workers with `FOR UPDATE SKIP LOCKED`
//! under a lease they renew. A job whose lease lapses is claimed again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{FromRow, PgPool};

use crate::audit;
use crate::projects::{self, Access};
use crate::types::parse_name;
use crate::{Actor, Error, Result};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub project_slug: Option<String>,
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// 0 to 1.
    pub progress: f64,
    pub progress_message: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub cancel_requested: bool,
    pub error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub run_after: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const JOB_SELECT: &str = "SELECT j.id, p.slug AS project_slug, j.kind, j.state, j.progress, j.progress_message,
        j.attempts, j.max_attempts, j.cancel_requested, j.error, j.result, j.created_at, j.run_after,
        j.started_at, j.finished_at, j.updated_at
   FROM jobs j LEFT JOIN projects p ON p.id = j.project_id";

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct JobLogLine {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `info`, `stdout`, `stderr` or `error`.
    pub stream: String,
    pub line: String,
}

pub const STATES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

/// Puts a job on the queue. Project jobs need write access; instance jobs need instance rights.
/// Other modules call this after validating their payload.
pub async fn submit(db: &PgPool, actor: &Actor, project: Option<&str>, kind: &str, payload: Value, max_attempts: i32) -> Result<Job> {
    let kind = parse_name("kind", kind, 100)?;
    if !(1..=20).contains(&max_attempts) {
        return Err(Error::bad_request("max_attempts: must be between 1 and 20"));
    }
    let project_id = match project {
        Some(slug) => Some(projects::authorize(db, actor, slug, Access::Write).await?.0.id),
        None => {
            actor.require_instance_admin()?;
            None
        }
    };
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (project_id, kind, payload, max_attempts, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(project_id)
    .bind(&kind)
    .bind(&payload)
    .bind(max_attempts)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(&mut tx, actor, project_id, "job.submit", "job", id, json!({ "kind": kind })).await?;
    tx.commit().await?;
    fetch(db, id).await
}

async fn fetch(db: &PgPool, id: i64) -> Result<Job> {
    sqlx::query_as::<_, Job>(&format!("{JOB_SELECT} WHERE j.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("job {id} not found")))
}

/// Loads a job and checks the caller may act on it.
async fn authorize(db: &PgPool, actor: &Actor, id: i64, access: Access) -> Result<Job> {
    let job = fetch(db, id).await?;
    match &job.project_slug {
        Some(slug) => {
            projects::authorize(db, actor, slug, access).await.map_err(|e| match e {
                Error::NotFound(_) => Error::not_found(format!("job {id} not found")),
                other => other,
            })?;
        }
        None => {
            if !actor.has_instance_rights() {
                return Err(Error::not_found(format!("job {id} not found")));
            }
        }
    }
    Ok(job)
}

pub async fn get(db: &PgPool, actor: &Actor, id: i64) -> Result<Job> {
    authorize(db, actor, id, Access::Read).await
}

/// Log lines after `after_id` (for live tailing), oldest first.
pub async fn logs(db: &PgPool, actor: &Actor, id: i64, after_id: Option<i64>, limit: i64) -> Result<Vec<JobLogLine>> {
    authorize(db, actor, id, Access::Read).await?;
    if !(1..=10_000).contains(&limit) {
        return Err(Error::bad_request("limit: must be between 1 and 10000"));
    }
    Ok(sqlx::query_as::<_, JobLogLine>(
        "SELECT id, at, stream, line FROM job_logs WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(id)
    .bind(after_id.unwrap_or(0))
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Cancels a job: a queued job ends at once; a running job is asked to stop and its worker ends it.
pub async fn cancel(db: &PgPool, actor: &Actor, id: i64) -> Result<Job> {
    let job = authorize(db, actor, id, Access::Write).await?;
    let project_id: Option<i64> = sqlx::query_scalar("SELECT project_id FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await?;
    let mut tx = db.begin().await?;
    let state: String = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    match state.as_str() {
        "queued" => {
            sqlx::query(
                "UPDATE jobs SET state = 'cancelled', cancel_requested = TRUE, finished_at = now(), updated_at = now() WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        "running" => {
            sqlx::query("UPDATE jobs SET cancel_requested = TRUE, updated_at = now() WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        other => {
            return Err(Error::conflict(format!("job {id} has already ended ({other})")));
        }
    }
    audit::record(&mut tx, actor, project_id, "job.cancel", "job", id, json!({ "kind": job.kind, "state": state })).await?;
    tx.commit().await?;
    fetch(db, id).await
}

/// Jobs of a project (or instance jobs, for instance admins when `project` is `None`), newest first.
pub async fn list(db: &PgPool, actor: &Actor, project: Option<&str>, state: Option<&str>, limit: i64) -> Result<Vec<Job>> {
    let project_id = match project {
        Some(slug) => Some(projects::authorize(db, actor, slug, Access::Read).await?.0.id),
        None => {
            actor.require_instance_admin()?;
            None
        }
    };
    if let Some(s) = state {
        if !STATES.contains(&s) {
            return Err(Error::bad_request(format!("state: '{s}' is not one of {}", STATES.join(", "))));
        }
    }
    if !(1..=500).contains(&limit) {
        return Err(Error::bad_request("limit: must be between 1 and 500"));
    }
    Ok(sqlx::query_as::<_, Job>(&format!(
        "{JOB_SELECT} WHERE (($1::bigint IS NULL AND j.project_id IS NULL) OR j.project_id = $1)
           AND ($2::text IS NULL OR j.state = $2) ORDER BY j.id DESC LIMIT $3"
    ))
    .bind(project_id)
    .bind(state)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Number of jobs per state, for `/metrics`.
pub async fn counts_by_state(db: &PgPool) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as("SELECT state, count(*) FROM jobs GROUP BY state").fetch_all(db).await?)
}

// ---- The worker's side -------------------------------------------------------------------

/// A job as a worker holds it.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub project_id: Option<i64>,
    pub kind: String,
    pub payload: Value,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Claims the oldest runnable job: queued and due, or running with a lapsed lease.
pub async fn claim(db: &PgPool, worker: &str, lease: Duration) -> Result<Option<ClaimedJob>> {
    Ok(sqlx::query_as::<_, ClaimedJob>(
        "UPDATE jobs SET state = 'running', lease_owner = $1,
                lease_expires_at = now() + make_interval(secs => $2),
                attempts = attempts + 1, started_at = coalesce(started_at, now()), updated_at = now()
          WHERE id = (
                SELECT id FROM jobs
                 WHERE (state = 'queued' AND run_after <= now())
                    OR (state = 'running' AND lease_expires_at < now())
                 ORDER BY run_after, id
                 FOR UPDATE SKIP LOCKED
                 LIMIT 1)
          RETURNING id, project_id, kind, payload, attempts, max_attempts",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_optional(db)
    .await?)
}

pub enum Heartbeat {
    /// The lease is renewed; `cancel_requested` tells whether someone asked the job to stop.
    Renewed { cancel_requested: bool },
    /// Another worker holds the job now (our lease lapsed): stop without writing.
    Lost,
}

pub async fn heartbeat(db: &PgPool, id: i64, worker: &str, lease: Duration) -> Result<Heartbeat> {
    let row: Option<bool> = sqlx::query_scalar(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
          WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING cancel_requested",
    )
    .bind(id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(cancel_requested) => Heartbeat::Renewed { cancel_requested },
        None => Heartbeat::Lost,
    })
}

pub async fn set_progress(db: &PgPool, id: i64, worker: &str, progress: f64, message: &str) -> Result<()> {
    let progress = if progress.is_finite() { progress.clamp(0.0, 1.0) } else { 0.0 };
    sqlx::query(
        "UPDATE jobs SET progress = $3, progress_message = $4, updated_at = now()
          WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(worker)
    .bind(progress)
    .bind(message)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn append_log(db: &PgPool, id: i64, stream: &str, line: &str) -> Result<()> {
    sqlx::query("INSERT INTO job_logs (job_id, stream, line) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(stream)
        .bind(line)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn succeed(db: &PgPool, id: i64, worker: &str, result: Option<Value>) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'succeeded', progress = 1, result = $3, error = NULL, finished_at = now(),
                updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
          WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(worker)
    .bind(result)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failure: retried later with exponential backoff while attempts remain, else failed.
/// Returns true when the job will be retried.
pub async fn fail(db: &PgPool, id: i64, worker: &str, error: &str, retryable: bool) -> Result<bool> {
    let retried: Option<bool> = sqlx::query_scalar(
        "UPDATE jobs SET
                state = CASE WHEN $4 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                run_after = CASE WHEN $4 AND attempts < max_attempts
                                 THEN now() + make_interval(secs => least(300, power(2, attempts)))
                                 ELSE run_after END,
                finished_at = CASE WHEN $4 AND attempts < max_attempts THEN NULL ELSE now() END,
                error = $3, updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
          WHERE id = $1 AND lease_owner = $2 AND state = 'running'
          RETURNING state = 'queued'",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(retryable)
    .fetch_optional(db)
    .await?;
    Ok(retried.unwrap_or(false))
}

pub async fn mark_cancelled(db: &PgPool, id: i64, worker: &str) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'cancelled', finished_at = now(), updated_at = now(),
                lease_owner = NULL, lease_expires_at = NULL
          WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(worker)
    .execute(db)
    .await?;
    Ok(())
}

/// Gives a job back to the queue at shutdown, without counting the attempt.
pub async fn release(db: &PgPool, id: i64, worker: &str) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'queued', attempts = greatest(0, attempts - 1), run_after = now(),
                lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(worker)
    .execute(db)
    .await?;
    Ok(())
}

/// Enqueues an instance job of `kind` unless one is already queued or running (no audit row:
/// the system schedules these itself).
pub async fn enqueue_system(db: &PgPool, kind: &str) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "INSERT INTO jobs (kind, max_attempts)
         SELECT $1, 1 WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND state IN ('queued', 'running'))
         RETURNING id",
    )
    .bind(kind)
    .fetch_optional(db)
    .await?)
}
