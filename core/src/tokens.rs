//! Personal API tokens: shown once, stored as SHA-256 hashes, optionally scoped to one project.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{FromRow, PgPool};

use crate::access_cache::{self, TokenEntry};
use crate::actor::TokenGrant;
use crate::audit;
use crate::projects::{self, Access};
use crate::types::parse_name;
use crate::{Actor, Core, Error, Result};

pub const TOKEN_PREFIX: &str = "trl_";

/// A random secret: `prefix` + 64 hex characters (256 bits).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it in a list.
    pub prefix: String,
    pub project_slug: Option<String>,
    /// For a predict-only token: the endpoints it may predict on.
    pub predict_endpoints: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const TOKEN_SELECT: &str = "SELECT t.id, t.name, t.prefix, p.slug AS project_slug,
        (SELECT array_agg(e.name ORDER BY e.name) FROM endpoints e WHERE e.id = ANY(t.predict_endpoints)) AS predict_endpoints,
        t.created_at, t.last_used_at, t.revoked_at
   FROM api_tokens t LEFT JOIN projects p ON p.id = t.project_id";

/// Creates a token for the caller; returns it with the secret (the only time it is shown).
/// A token for a project needs read access to it; a token cannot mint tokens.
pub async fn create(db: &PgPool, actor: &Actor, name: &str, project: Option<&str>) -> Result<(ApiToken, String)> {
    let user_id = actor.require_user()?;
    if actor.token.is_some() {
        return Err(Error::forbidden("API tokens cannot create other tokens; sign in to the web UI"));
    }
    let name = parse_name("name", name, 100)?;
    let project_id = match project.filter(|p| !p.trim().is_empty()) {
        Some(slug) => Some(projects::authorize(db, actor, slug.trim(), Access::Read).await?.0.id),
        None => None,
    };
    let secret = new_secret(TOKEN_PREFIX);
    let prefix = secret[..TOKEN_PREFIX.len() + 8].to_string();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, project_id, name, prefix, token_hash) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(project_id)
    .bind(&name)
    .bind(&prefix)
    .bind(hash_secret(&secret))
    .fetch_one(&mut *tx)
    .await?;
    audit::record(&mut tx, actor, project_id, "token.create", "token", id, json!({ "name": name })).await?;
    let token = sqlx::query_as::<_, ApiToken>(&format!("{TOKEN_SELECT} WHERE t.id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((token, secret))
}

/// Creates a predict-only token for endpoints of one project (editors there): it may call
/// `:predict`, `:explain` and the Open Inference Protocol on those endpoints and nothing else.
pub async fn create_predict_only(db: &PgPool, actor: &Actor, name: &str, project: &str, endpoints: &[String]) -> Result<(ApiToken, String)> {
    let user_id = actor.require_user()?;
    if actor.token.is_some() {
        return Err(Error::forbidden("API tokens cannot create other tokens; sign in to the web UI"));
    }
    let name = parse_name("name", name, 100)?;
    if endpoints.is_empty() {
        return Err(Error::bad_request("predict_endpoints: name at least one endpoint"));
    }
    let (p, _) = projects::authorize(db, actor, project.trim(), Access::Write).await?;
    let mut ids = Vec::with_capacity(endpoints.len());
    for e in endpoints {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM endpoints WHERE project_id = $1 AND name = $2")
            .bind(p.id)
            .bind(e.trim())
            .fetch_optional(db)
            .await?;
        ids.push(id.ok_or_else(|| Error::bad_request(format!("predict_endpoints: project '{}' has no endpoint '{}'", p.slug, e.trim())))?);
    }
    ids.sort_unstable();
    ids.dedup();
    let secret = new_secret(TOKEN_PREFIX);
    let prefix = secret[..TOKEN_PREFIX.len() + 8].to_string();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, project_id, name, prefix, token_hash, predict_endpoints) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(p.id)
    .bind(&name)
    .bind(&prefix)
    .bind(hash_secret(&secret))
    .bind(&ids)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(&mut tx, actor, Some(p.id), "token.create", "token", id, json!({ "name": name, "predict_endpoints": endpoints })).await?;
    let token = sqlx::query_as::<_, ApiToken>(&format!("{TOKEN_SELECT} WHERE t.id = $1")).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok((token, secret))
}

/// Whether a predict-only token may predict on endpoint `endpoint_id`: it lists the endpoint
/// and its user may still predict in the endpoint's project.
pub(crate) async fn may_predict_on(db: &PgPool, token_id: i64, endpoint_id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM api_tokens t JOIN endpoints e ON e.id = $2 AND e.id = ANY(t.predict_endpoints)
                          JOIN project_members m ON m.project_id = e.project_id AND m.user_id = t.user_id AND m.role IN ('editor', 'admin')
                         WHERE t.id = $1)",
    )
    .bind(token_id)
    .bind(endpoint_id)
    .fetch_one(db)
    .await?)
}

/// The caller's own tokens, newest first.
pub async fn list(db: &PgPool, actor: &Actor) -> Result<Vec<ApiToken>> {
    let user_id = actor.require_user()?;
    actor.require_full_token()?;
    Ok(sqlx::query_as::<_, ApiToken>(&format!("{TOKEN_SELECT} WHERE t.user_id = $1 AND t.job_id IS NULL ORDER BY t.id DESC"))
        .bind(user_id)
        .fetch_all(db)
        .await?)
}

/// Issues a token for a job's process, acting as `user_id` in `project_id` until `expires_in`
/// seconds pass or [`revoke_for_job`] runs. Returns (token id, secret).
pub(crate) async fn issue_for_job(db: &PgPool, job_id: i64, user_id: i64, project_id: i64, expires_in: u64) -> Result<(i64, String)> {
    let secret = new_secret(TOKEN_PREFIX);
    let prefix = secret[..TOKEN_PREFIX.len() + 8].to_string();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, project_id, name, prefix, token_hash, expires_at, job_id)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6), $7) RETURNING id",
    )
    .bind(user_id)
    .bind(project_id)
    .bind(format!("job {job_id}"))
    .bind(&prefix)
    .bind(hash_secret(&secret))
    .bind(expires_in as f64)
    .bind(job_id)
    .fetch_one(db)
    .await?;
    Ok((id, secret))
}

/// Revokes every token issued for a job.
pub(crate) async fn revoke_for_job(db: &PgPool, job_id: i64) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE job_id = $1 AND revoked_at IS NULL")
        .bind(job_id)
        .execute(db)
        .await?;
    access_cache::access_changed();
    Ok(())
}

/// Revokes one of the caller's tokens (instance admins may revoke anyone's).
pub async fn revoke(db: &PgPool, actor: &Actor, token_id: i64) -> Result<()> {
    let user_id = actor.require_user()?;
    actor.require_full_token()?;
    let mut tx = db.begin().await?;
    let owner: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT user_id, project_id FROM api_tokens WHERE id = $1 AND revoked_at IS NULL FOR UPDATE")
            .bind(token_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((owner, project_id)) = owner.filter(|(o, _)| *o == user_id || actor.has_instance_rights()) else {
        return Err(Error::not_found(format!("token {token_id} not found")));
    };
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1")
        .bind(token_id)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, project_id, "token.revoke", "token", token_id, json!({ "owner_user_id": owner })).await?;
    tx.commit().await?;
    access_cache::access_changed();
    Ok(())
}

/// Resolves a bearer token to the actor it acts as. Unknown, revoked or expired tokens and
/// disabled users all give `Unauthenticated`.
pub async fn authenticate(db: &PgPool, secret: &str, ip: Option<String>) -> Result<Actor> {
    Ok(lookup(db, &checked_hash(secret)?).await?.actor.with_ip(ip))
}

/// [`authenticate`] through the process's [`AccessCache`](crate::access_cache::AccessCache):
/// a token seen in the last minute is not read again (revoking it clears the cache).
pub async fn authenticate_cached(core: &Core, secret: &str, ip: Option<String>) -> Result<Actor> {
    let hash = checked_hash(secret)?;
    if let Some(actor) = core.access.token(&hash) {
        return Ok(actor.with_ip(ip));
    }
    let epoch = access_cache::epoch();
    let entry = lookup(&core.db, &hash).await?;
    let actor = entry.actor.clone();
    core.access.remember_token(epoch, hash, entry);
    Ok(actor.with_ip(ip))
}

fn checked_hash(secret: &str) -> Result<Vec<u8>> {
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 200 {
        return Err(Error::Unauthenticated);
    }
    Ok(hash_secret(secret))
}

async fn lookup(db: &PgPool, hash: &[u8]) -> Result<TokenEntry> {
    #[derive(FromRow)]
    struct Row {
        id: i64,
        project_id: Option<i64>,
        predict_only: bool,
        user_id: i64,
        email: String,
        is_instance_admin: bool,
        expires_at: Option<DateTime<Utc>>,
        recently_used: bool,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT t.id, t.project_id, t.predict_endpoints IS NOT NULL AS predict_only, u.id AS user_id, u.email, u.is_instance_admin,
                t.expires_at, coalesce(t.last_used_at > now() - interval '1 minute', false) AS recently_used
           FROM api_tokens t JOIN users u ON u.id = t.user_id
          WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled
            AND (t.expires_at IS NULL OR t.expires_at > now())",
    )
    .bind(hash)
    .fetch_optional(db)
    .await?
    .ok_or(Error::Unauthenticated)?;
    if !row.recently_used {
        // Last-used time at minute resolution: one write per token per minute at most.
        sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1")
            .bind(row.id)
            .execute(db)
            .await?;
    }
    Ok(TokenEntry {
        actor: Actor {
            user_id: Some(row.user_id),
            email: row.email,
            is_instance_admin: row.is_instance_admin,
            token: Some(TokenGrant { token_id: row.id, project_id: row.project_id, predict_only: row.predict_only }),
            ip: None,
        },
        expires_at: row.expires_at,
    })
}
