//! The audit log.

use leptos::prelude::*;

use crate::model::*;

pub const AUDIT_PAGE: i64 = 50;

#[server]
pub async fn list_audit(query: AuditQuery) -> Result<Vec<AuditRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    use chrono::{NaiveDate, TimeZone, Utc};
    let actor = cx.actor().await?;
    let day = |field: &str, s: &Option<String>, add_days: i64| -> Result<Option<chrono::DateTime<Utc>>, AppError> {
        match s.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => {
                let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                    cx.fail(trellis_core::Error::bad_request(format!("{field}: '{s}' is not a date (YYYY-MM-DD)")))
                })?;
                let d = d + chrono::Duration::days(add_days);
                Ok(Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap())))
            }
        }
    };
    let filter = trellis_core::audit::AuditFilter {
        project: query.project.clone().filter(|p| !p.is_empty()),
        action: query.action.clone(),
        user: query.user.clone(),
        since: day("since", &query.since, 0)?,
        until: day("until", &query.until, 1)?,
        before_id: query.before,
        limit: Some(AUDIT_PAGE),
    };
    let rows = trellis_core::audit::list(cx.db(), &actor, &filter).await.map_err(|e| cx.fail(e))?;
    Ok(rows
        .into_iter()
        .map(|a| AuditRow {
            id: a.id,
            at: a.at,
            user_email: a.user_email,
            project_slug: a.project_slug,
            action: a.action,
            target_type: a.target_type,
            target_id: a.target_id,
            details: if a.details.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { a.details.to_string() },
            ip: a.ip,
        })
        .collect())
}
