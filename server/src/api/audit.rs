use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use trellis_core::audit::{self, AuditEntry, AuditFilter};

use crate::auth::ApiActor;
use crate::error::{ApiPath, ApiQuery, ApiResult};
use crate::startup::AppState;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Action prefix, e.g. `member.` or `project.create`.
    pub action: Option<String>,
    /// Part of the actor's e-mail.
    pub user: Option<String>,
    /// RFC 3339 time, inclusive.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339 time, exclusive.
    pub until: Option<DateTime<Utc>>,
    /// Paging: only entries with a smaller id.
    pub before: Option<i64>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

impl AuditQuery {
    fn into_filter(self, project: Option<String>) -> AuditFilter {
        AuditFilter {
            project,
            action: self.action,
            user: self.user,
            since: self.since,
            until: self.until,
            before_id: self.before,
            limit: self.limit,
        }
    }
}

/// A project's audit log (project admins).
#[utoipa::path(get, path = "/v1/projects/{project}/audit", tag = "audit",
    params(("project" = String, Path, description = "project slug"), AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn project(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(audit::list(&s.core.db, &actor, &q.into_filter(Some(slug))).await?))
}

/// The whole instance's audit log (instance admins).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn instance(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(audit::list(&s.core.db, &actor, &q.into_filter(None)).await?))
}
