use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use trellis_core::auth::{self, Invite, User};

use crate::auth::ApiActor;
use crate::error::{ApiJson, ApiResult};
use crate::startup::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user_id: Option<i64>,
    pub email: String,
    pub is_instance_admin: bool,
    /// Set when the request used an API token.
    pub token_id: Option<i64>,
    /// The project a token is restricted to.
    pub token_project_id: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub instance_admin: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    pub email: String,
    #[serde(default)]
    pub instance_admin: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedInvite {
    #[serde(flatten)]
    pub invite: Invite,
    /// The one-time link path: `/invite/<secret>`.
    pub path: String,
}

#[utoipa::path(get, path = "/v1/me", tag = "users",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(ApiActor(actor): ApiActor) -> Json<Me> {
    Json(Me {
        user_id: actor.user_id,
        email: actor.email.clone(),
        is_instance_admin: actor.is_instance_admin,
        token_id: actor.token.map(|t| t.token_id),
        token_project_id: actor.token_project(),
    })
}

#[utoipa::path(get, path = "/v1/users", tag = "users",
    responses((status = 200, body = Vec<User>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(auth::list_users(&s.core.db, &actor).await?))
}

/// Instance admins create accounts.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let user = auth::create_user(&s.core.db, &actor, &body.email, &body.display_name, &body.password, body.instance_admin).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[utoipa::path(get, path = "/v1/invites", tag = "users",
    responses((status = 200, body = Vec<Invite>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_invites(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult<Json<Vec<Invite>>> {
    Ok(Json(auth::list_invites(&s.core.db, &actor).await?))
}

/// Instance admins invite someone: the response holds the one-time link (valid 7 days).
#[utoipa::path(post, path = "/v1/invites", tag = "users", request_body = CreateInvite,
    responses((status = 201, body = CreatedInvite), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn invite(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<CreateInvite>,
) -> ApiResult<(StatusCode, Json<CreatedInvite>)> {
    let (invite, secret) = auth::create_invite(&s.core.db, &actor, &body.email, body.instance_admin).await?;
    Ok((StatusCode::CREATED, Json(CreatedInvite { invite, path: format!("/invite/{secret}") })))
}
