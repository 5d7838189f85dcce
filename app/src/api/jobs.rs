//! Jobs: list, detail, logs, cancel.

use leptos::prelude::*;

use crate::model::*;

/// Jobs of a project, or instance jobs when `project` is `None` (instance admins).
#[server]
pub async fn list_jobs(project: Option<String>, state: Option<String>) -> Result<Vec<JobRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let state = state.filter(|s| !s.is_empty());
    let jobs = trellis_core::jobs::list(cx.db(), &actor, project.as_deref(), state.as_deref(), 200)
        .await
        .map_err(|e| cx.fail(e))?;
    Ok(jobs.into_iter().map(job_row).collect())
}

#[server]
pub async fn get_job(id: i64) -> Result<JobRow, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::jobs::get(cx.db(), &actor, id).await.map(job_row).map_err(|e| cx.fail(e))
}

#[server]
pub async fn job_logs(id: i64, after: Option<i64>) -> Result<Vec<LogLine>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let lines = trellis_core::jobs::logs(cx.db(), &actor, id, after, 5000).await.map_err(|e| cx.fail(e))?;
    Ok(lines.into_iter().map(|l| LogLine { id: l.id, at: l.at, stream: l.stream, line: l.line }).collect())
}

#[server]
pub async fn cancel_job(id: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::jobs::cancel(cx.db(), &actor, id).await.map(|_| ()).map_err(|e| cx.fail(e))
}
