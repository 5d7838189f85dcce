//! Job kinds built into the foundation.

use serde_json::json;

use crate::worker::JobContext;

/// Instance housekeeping: old sign-in attempts, expired invitations, finished jobs' old logs.
pub const CLEANUP_KIND: &str = "maintenance.cleanup";

pub async fn cleanup(ctx: JobContext) -> anyhow::Result<Option<serde_json::Value>> {
    let db = &ctx.db;
    ctx.progress(0.0, "sign-in attempts").await?;
    let attempts = sqlx::query("DELETE FROM login_attempts WHERE at < now() - interval '1 day'")
        .execute(db)
        .await?
        .rows_affected();
    ctx.log(&format!("removed {attempts} sign-in attempts older than a day")).await?;
    ctx.progress(0.5, "invitations").await?;
    let invites = sqlx::query(
        "DELETE FROM invites WHERE accepted_at IS NULL AND expires_at < now() - interval '30 days'",
    )
    .execute(db)
    .await?
    .rows_affected();
    ctx.log(&format!("removed {invites} invitations expired for over 30 days")).await?;
    ctx.progress(1.0, "done").await?;
    Ok(Some(json!({ "login_attempts_removed": attempts, "invites_removed": invites })))
}
