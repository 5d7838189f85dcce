//! The audit log: who did what, to which target, when, and from where.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};

use crate::projects::{self, Access};
use crate::{Actor, Error, Result};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
    pub user_email: String,
    pub token_id: Option<i64>,
    pub project_id: Option<i64>,
    pub project_slug: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[schema(value_type = Object)]
    pub details: Value,
    pub ip: Option<String>,
}

/// The audit table and its written columns, in the order [`record`] binds them (for statements
/// that write a change and its audit row at once).
pub(crate) const INSERT_INTO: &str =
    "INSERT INTO audit_log (user_id, user_email, token_id, project_id, action, target_type, target_id, details, ip)";

/// Writes one audit row, inside the caller's transaction so the row and the change land together.
pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    project_id: Option<i64>,
    action: &str,
    target_type: &str,
    target_id: impl ToString,
    details: Value,
) -> Result<()> {
    sqlx::query(&format!("{INSERT_INTO} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
    .bind(actor.user_id)
    .bind(&actor.email)
    .bind(actor.token.map(|t| t.token_id))
    .bind(project_id)
    .bind(action)
    .bind(target_type)
    .bind(target_id.to_string())
    .bind(details)
    .bind(&actor.ip)
    .execute(conn)
    .await?;
    Ok(())
}

/// Filters for browsing the log. All optional; newest first; keyset paging by `before_id`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Restrict to one project (required for project admins; instance admins may omit it).
    pub project: Option<String>,
    /// Action prefix, e.g. `project.` or `member.add`.
    pub action: Option<String>,
    /// Who did it (e-mail, case-insensitive substring).
    pub user: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

pub const MAX_PAGE: i64 = 500;

/// Project admins read their project's log; instance admins read everything.
pub async fn list(db: &PgPool, actor: &Actor, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let project_id = match &filter.project {
        Some(slug) => Some(projects::authorize(db, actor, slug, Access::Manage).await?.0.id),
        None => {
            actor.require_instance_admin()?;
            None
        }
    };
    let limit = filter.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::bad_request(format!("limit: must be between 1 and {MAX_PAGE}")));
    }
    let rows = sqlx::query_as::<_, AuditEntry>(
        "SELECT a.id, a.at, a.user_id, a.user_email, a.token_id, a.project_id, p.slug AS project_slug,
                a.action, a.target_type, a.target_id, a.details, a.ip
           FROM audit_log a LEFT JOIN projects p ON p.id = a.project_id
          WHERE ($1::bigint IS NULL OR a.project_id = $1)
            AND ($2::text IS NULL OR a.action LIKE replace(replace($2, '%', '\\%'), '_', '\\_') || '%')
            AND ($3::text IS NULL OR a.user_email ILIKE '%' || replace(replace($3, '%', '\\%'), '_', '\\_') || '%')
            AND ($4::timestamptz IS NULL OR a.at >= $4)
            AND ($5::timestamptz IS NULL OR a.at < $5)
            AND ($6::bigint IS NULL OR a.id < $6)
          ORDER BY a.id DESC
          LIMIT $7",
    )
    .bind(project_id)
    .bind(filter.action.as_deref().filter(|s| !s.is_empty()))
    .bind(filter.user.as_deref().filter(|s| !s.is_empty()))
    .bind(filter.since)
    .bind(filter.until)
    .bind(filter.before_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows)
}
