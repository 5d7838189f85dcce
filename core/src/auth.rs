//! Users, passwords (argon2id), sign-in with rate limits, first-admin setup and invitations.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{FromRow, PgPool};

use crate::audit;
use crate::error::on_unique;
use crate::tokens::{hash_secret, new_secret};
use crate::types::{parse_text, Email, Password};
use crate::{Actor, Error, Result};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub is_instance_admin: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "id, email, display_name, is_instance_admin, disabled, created_at";

/// Sign-in limits: failures in the window before further attempts are refused.
pub const FAILURE_WINDOW_MINUTES: i64 = 15;
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// How long an invitation link stays valid.
pub const INVITE_DAYS: i64 = 7;

pub async fn hash_password(password: &Password) -> Result<String> {
    let pw = password.expose().to_string();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(pw.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?
    .map_err(Error::from)
}

async fn verify_password(password: &str, hash: &str) -> Result<bool> {
    let pw = password.to_string();
    let hash = hash.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(pw.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    Ok(ok)
}

/// A hash of a random password, verified against when the account does not exist so that an
/// unknown e-mail takes as long as a wrong password.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn dummy_hash() -> String {
    if let Some(h) = DUMMY_HASH.get() {
        return h.clone();
    }
    let h = hash_password(&Password::parse("not-a-real-password-0000").unwrap()).await.unwrap_or_default();
    DUMMY_HASH.get_or_init(|| h).clone()
}

pub async fn user_id_by_email(db: &PgPool, email: &Email) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = $1")
        .bind(email.as_str())
        .fetch_optional(db)
        .await?)
}

pub async fn user_by_id(db: &PgPool, id: i64) -> Result<Option<User>> {
    Ok(sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?)
}

/// True until the first user exists: the UI then shows the setup page.
pub async fn needs_setup(db: &PgPool) -> Result<bool> {
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)").fetch_one(db).await?;
    Ok(!any)
}

/// Creates the first instance administrator. Refused once any user exists (race-safe).
pub async fn setup_first_admin(db: &PgPool, email: &str, display_name: &str, password: &str, ip: Option<String>) -> Result<User> {
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    let display_name = parse_text("display_name", display_name, 100)?;
    let hash = hash_password(&password).await?;
    let mut tx = db.begin().await?;
    sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)").fetch_one(&mut *tx).await?;
    if any {
        return Err(Error::conflict("setup is already complete; sign in instead"));
    }
    let user = sqlx::query_as::<_, User>(&format!(
        "INSERT INTO users (email, display_name, password_hash, is_instance_admin) VALUES ($1, $2, $3, TRUE)
         RETURNING {USER_COLUMNS}"
    ))
    .bind(email.as_str())
    .bind(&display_name)
    .bind(&hash)
    .fetch_one(&mut *tx)
    .await?;
    let actor = actor_for(&user, ip);
    audit::record(&mut tx, &actor, None, "instance.setup", "user", user.email.as_str(), json!({})).await?;
    tx.commit().await?;
    Ok(user)
}

/// Checks credentials. Unknown e-mail and wrong password give the same error; too many recent
/// failures for the account or the address give `RateLimited` without checking the password.
pub async fn sign_in(db: &PgPool, email: &str, password: &str, ip: &str) -> Result<User> {
    let email_key = email.trim().to_lowercase();
    let since = Utc::now() - Duration::minutes(FAILURE_WINDOW_MINUTES);
    let (by_account, by_address): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE lower(email) = $1), count(*) FILTER (WHERE ip = $2)
           FROM login_attempts WHERE NOT succeeded AND at >= $3 AND (lower(email) = $1 OR ip = $2)",
    )
    .bind(&email_key)
    .bind(ip)
    .bind(since)
    .fetch_one(db)
    .await?;
    if by_account >= MAX_FAILURES_PER_ACCOUNT || by_address >= MAX_FAILURES_PER_ADDRESS {
        return Err(Error::RateLimited(format!(
            "too many failed sign-in attempts; try again in {FAILURE_WINDOW_MINUTES} minutes"
        )));
    }
    #[derive(FromRow)]
    struct Row {
        id: i64,
        password_hash: String,
        disabled: bool,
    }
    let row = sqlx::query_as::<_, Row>("SELECT id, password_hash, disabled FROM users WHERE lower(email) = $1")
        .bind(&email_key)
        .fetch_optional(db)
        .await?;
    let ok = match &row {
        Some(r) => verify_password(password, &r.password_hash).await? && !r.disabled,
        None => {
            let _ = verify_password(password, &dummy_hash().await).await?;
            false
        }
    };
    sqlx::query("INSERT INTO login_attempts (email, ip, succeeded) VALUES ($1, $2, $3)")
        .bind(&email_key)
        .bind(ip)
        .bind(ok)
        .execute(db)
        .await?;
    match (ok, row) {
        (true, Some(r)) => {
            let user = user_by_id(db, r.id).await?.ok_or(Error::InvalidCredentials)?;
            let mut conn = db.acquire().await?;
            audit::record(&mut conn, &actor_for(&user, Some(ip.to_string())), None, "user.sign_in", "user", &user.email, json!({})).await?;
            Ok(user)
        }
        _ => Err(Error::InvalidCredentials),
    }
}

/// The actor for a signed-in session; `Unauthenticated` if the user is gone or disabled.
pub async fn session_actor(db: &PgPool, user_id: i64, ip: Option<String>) -> Result<Actor> {
    match user_by_id(db, user_id).await? {
        Some(u) if !u.disabled => Ok(actor_for(&u, ip)),
        _ => Err(Error::Unauthenticated),
    }
}

pub(crate) fn actor_for(user: &User, ip: Option<String>) -> Actor {
    Actor {
        user_id: Some(user.id),
        email: user.email.clone(),
        is_instance_admin: user.is_instance_admin,
        token: None,
        ip,
    }
}

pub async fn change_password(db: &PgPool, actor: &Actor, current: &str, new: &str) -> Result<()> {
    let user_id = actor.require_user()?;
    if actor.token.is_some() {
        return Err(Error::forbidden("passwords cannot be changed with an API token"));
    }
    let new = Password::parse(new)?;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(db)
        .await?;
    if !verify_password(current, &hash).await? {
        return Err(Error::bad_request("current_password: does not match"));
    }
    let new_hash = hash_password(&new).await?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(user_id)
        .bind(new_hash)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, None, "user.change_password", "user", &actor.email, json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Instance administrators (and the operator) create accounts directly.
pub async fn create_user(db: &PgPool, actor: &Actor, email: &str, display_name: &str, password: &str, is_admin: bool) -> Result<User> {
    actor.require_instance_admin()?;
    let email = Email::parse(email)?;
    let password = Password::parse(password)?;
    let display_name = parse_text("display_name", display_name, 100)?;
    let hash = hash_password(&password).await?;
    let mut tx = db.begin().await?;
    let user = sqlx::query_as::<_, User>(&format!(
        "INSERT INTO users (email, display_name, password_hash, is_instance_admin) VALUES ($1, $2, $3, $4)
         RETURNING {USER_COLUMNS}"
    ))
    .bind(email.as_str())
    .bind(&display_name)
    .bind(&hash)
    .bind(is_admin)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| on_unique(e, || format!("email: a user '{email}' already exists")))?;
    audit::record(&mut tx, actor, None, "user.create", "user", &user.email, json!({ "instance_admin": is_admin })).await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn list_users(db: &PgPool, actor: &Actor) -> Result<Vec<User>> {
    actor.require_instance_admin()?;
    Ok(sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
        .fetch_all(db)
        .await?)
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Invite {
    pub id: i64,
    pub email: String,
    pub make_admin: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

/// Creates a one-time invitation; returns it with the secret to put in the link (shown once).
pub async fn create_invite(db: &PgPool, actor: &Actor, email: &str, make_admin: bool) -> Result<(Invite, String)> {
    actor.require_instance_admin()?;
    let email = Email::parse(email)?;
    if user_id_by_email(db, &email).await?.is_some() {
        return Err(Error::conflict(format!("email: a user '{email}' already exists")));
    }
    let secret = new_secret("inv_");
    let mut tx = db.begin().await?;
    let invite = sqlx::query_as::<_, Invite>(
        "INSERT INTO invites (email, token_hash, make_admin, created_by, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(days => $5::int))
         RETURNING id, email, make_admin, created_at, expires_at, accepted_at",
    )
    .bind(email.as_str())
    .bind(hash_secret(&secret))
    .bind(make_admin)
    .bind(actor.user_id)
    .bind(INVITE_DAYS as i32)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(&mut tx, actor, None, "user.invite", "user", email.as_str(), json!({ "instance_admin": make_admin })).await?;
    tx.commit().await?;
    Ok((invite, secret))
}

pub async fn list_invites(db: &PgPool, actor: &Actor) -> Result<Vec<Invite>> {
    actor.require_instance_admin()?;
    Ok(sqlx::query_as::<_, Invite>(
        "SELECT id, email, make_admin, created_at, expires_at, accepted_at FROM invites ORDER BY id DESC LIMIT 200",
    )
    .fetch_all(db)
    .await?)
}

/// The invitation behind a link, if it is still open.
pub async fn open_invite(db: &PgPool, secret: &str) -> Result<Invite> {
    sqlx::query_as::<_, Invite>(
        "SELECT id, email, make_admin, created_at, expires_at, accepted_at FROM invites
          WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > now()",
    )
    .bind(hash_secret(secret))
    .fetch_optional(db)
    .await?
    .ok_or_else(|| Error::not_found("this invitation link is invalid, used or expired"))
}

/// Accepts an invitation: creates the account. The link works once.
pub async fn accept_invite(db: &PgPool, secret: &str, display_name: &str, password: &str, ip: Option<String>) -> Result<User> {
    let password = Password::parse(password)?;
    let display_name = parse_text("display_name", display_name, 100)?;
    let hash = hash_password(&password).await?;
    let mut tx = db.begin().await?;
    let invite: Option<(i64, String, bool)> = sqlx::query_as(
        "SELECT id, email, make_admin FROM invites
          WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > now() FOR UPDATE",
    )
    .bind(hash_secret(secret))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((invite_id, email, make_admin)) = invite else {
        return Err(Error::not_found("this invitation link is invalid, used or expired"));
    };
    let user = sqlx::query_as::<_, User>(&format!(
        "INSERT INTO users (email, display_name, password_hash, is_instance_admin) VALUES ($1, $2, $3, $4)
         RETURNING {USER_COLUMNS}"
    ))
    .bind(&email)
    .bind(&display_name)
    .bind(&hash)
    .bind(make_admin)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| on_unique(e, || format!("email: a user '{email}' already exists")))?;
    sqlx::query("UPDATE invites SET accepted_at = now(), accepted_user = $2 WHERE id = $1")
        .bind(invite_id)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, &actor_for(&user, ip), None, "user.accept_invite", "user", &email, json!({ "invite_id": invite_id })).await?;
    tx.commit().await?;
    Ok(user)
}

/// Records a sign-out in the audit log.
pub async fn record_sign_out(db: &PgPool, actor: &Actor) -> Result<()> {
    let mut conn = db.acquire().await?;
    audit::record(&mut conn, actor, None, "user.sign_out", "user", &actor.email, json!({})).await
}
