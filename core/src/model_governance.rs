//! Governance of a project's registered models: each version's review (pending → approved or
//! rejected by a project admin, with a comment), the option that only approved versions may be
//! deployed, and the model card (markdown written by editors).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};

use crate::projects::{self, Access};
use crate::{audit, Actor, Error, Result};

pub const MAX_CARD_LENGTH: usize = 100_000;
pub const MAX_COMMENT_LENGTH: usize = 10_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionReview {
    pub version: i32,
    /// `pending`, `approved` or `rejected`.
    pub approval: String,
    pub comment: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// `<project>/<endpoint>` of the endpoints serving the version (directly or by an alias).
    pub endpoints: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Governance {
    pub require_approval: bool,
    pub card: String,
    pub versions: Vec<VersionReview>,
}

async fn model_id(db: &PgPool, actor: &Actor, slug: &str, model: &str, access: Access) -> Result<(i64, i64)> {
    let (project, _) = projects::authorize(db, actor, slug, access).await?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM registered_models WHERE project_id = $1 AND name = $2")
        .bind(project.id)
        .bind(model)
        .fetch_optional(db)
        .await?;
    Ok((project.id, id.ok_or_else(|| Error::not_found(format!("project '{slug}' has no registered model '{model}'")))?))
}

/// A model's card, review states and serving endpoints (readers).
pub async fn governance(db: &PgPool, actor: &Actor, slug: &str, model: &str) -> Result<Governance> {
    let (_, id) = model_id(db, actor, slug, model, Access::Read).await?;
    let (require_approval, card): (bool, String) = sqlx::query_as("SELECT require_approval, card FROM registered_models WHERE id = $1").bind(id).fetch_one(db).await?;
    let rows: Vec<(i32, String, String, Option<String>, Option<DateTime<Utc>>, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT v.version, v.approval, v.approval_comment, u.email, v.reviewed_at,
                (SELECT array_agg(DISTINCT p.slug || '/' || e.name) FROM deployed_models d
                   JOIN endpoints e ON e.id = d.endpoint_id JOIN projects p ON p.id = e.project_id
                   LEFT JOIN registered_model_aliases a ON d.alias IS NOT NULL AND a.model_id = d.model_id AND a.alias = d.alias
                  WHERE COALESCE(d.version_id, a.version_id) = v.id)
           FROM model_versions v LEFT JOIN users u ON u.id = v.reviewed_by
          WHERE v.model_id = $1 ORDER BY v.version DESC",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(Governance {
        require_approval,
        card,
        versions: rows
            .into_iter()
            .map(|(version, approval, comment, reviewed_by, reviewed_at, endpoints)| VersionReview {
                version,
                approval,
                comment,
                reviewed_by,
                reviewed_at,
                endpoints: endpoints.unwrap_or_default(),
            })
            .collect(),
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// `approved` or `rejected`.
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

/// Approves or rejects a version (project admins).
pub async fn review(db: &PgPool, actor: &Actor, slug: &str, model: &str, version: i32, r: Review) -> Result<Governance> {
    let (project_id, id) = model_id(db, actor, slug, model, Access::Manage).await?;
    if !matches!(r.decision.as_str(), "approved" | "rejected") {
        return Err(Error::bad_request(format!("decision must be 'approved' or 'rejected', got '{}'", r.decision)));
    }
    if r.comment.len() > MAX_COMMENT_LENGTH {
        return Err(Error::bad_request(format!("comment is longer than {MAX_COMMENT_LENGTH} bytes")));
    }
    let mut tx = db.begin().await?;
    let done = sqlx::query("UPDATE model_versions SET approval = $3, approval_comment = $4, reviewed_by = $5, reviewed_at = now() WHERE model_id = $1 AND version = $2")
        .bind(id)
        .bind(version)
        .bind(&r.decision)
        .bind(&r.comment)
        .bind(actor.user_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(format!("model '{model}' has no version {version}")));
    }
    audit::record(&mut tx, actor, Some(project_id), "model_version.review", "registered_model", model, json!({ "version": version, "decision": r.decision, "comment": r.comment })).await?;
    tx.commit().await?;
    governance(db, actor, slug, model).await
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Only approved versions may be deployed (project admins change it).
    pub require_approval: Option<bool>,
    /// The model card, markdown (editors).
    pub card: Option<String>,
}

/// Changes the card (editors) or the approval requirement (project admins).
pub async fn update(db: &PgPool, actor: &Actor, slug: &str, model: &str, s: ModelSettings) -> Result<Governance> {
    let access = if s.require_approval.is_some() { Access::Manage } else { Access::Write };
    let (project_id, id) = model_id(db, actor, slug, model, access).await?;
    if s.card.as_ref().is_some_and(|c| c.len() > MAX_CARD_LENGTH) {
        return Err(Error::bad_request(format!("card is longer than {MAX_CARD_LENGTH} bytes")));
    }
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE registered_models SET require_approval = COALESCE($2, require_approval), card = COALESCE($3, card) WHERE id = $1")
        .bind(id)
        .bind(s.require_approval)
        .bind(&s.card)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, Some(project_id), "registered_model.update", "registered_model", model, json!({ "require_approval": s.require_approval, "card_changed": s.card.is_some() })).await?;
    tx.commit().await?;
    governance(db, actor, slug, model).await
}

/// Refuses a version that may not be served: its model requires approval and it is not approved.
pub(crate) async fn check_deployable(conn: &mut PgConnection, version_id: i64) -> Result<()> {
    let (required, approval, model, version): (bool, String, String, i32) = sqlx::query_as(
        "SELECT m.require_approval, v.approval, m.name, v.version FROM model_versions v JOIN registered_models m ON m.id = v.model_id WHERE v.id = $1",
    )
    .bind(version_id)
    .fetch_one(conn)
    .await?;
    if required && approval != "approved" {
        return Err(Error::bad_request(format!(
            "version {version} of model '{model}' is {approval}: only approved versions of this model can be deployed"
        )));
    }
    Ok(())
}
