use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use trellis_core::projects::{self, Member};
use trellis_core::types::Role;

use crate::auth::ApiActor;
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::startup::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    pub email: String,
    pub role: Role,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct MemberQuery {
    /// The member to remove.
    pub email: String,
}

#[utoipa::path(get, path = "/v1/projects/{project}/members", tag = "members",
    params(("project" = String, Path, description = "project slug")),
    responses((status = 200, body = Vec<Member>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath(slug): ApiPath<String>) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(projects::members(&s.core.db, &actor, &slug).await?))
}

/// Adds a member or changes a member's role (project admins).
#[utoipa::path(post, path = "/v1/projects/{project}/members", tag = "members", request_body = SetMember,
    params(("project" = String, Path, description = "project slug")),
    responses((status = 200, body = Member), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn add(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<SetMember>,
) -> ApiResult<Json<Member>> {
    Ok(Json(projects::set_member(&s.core.db, &actor, &slug, &body.email, body.role).await?))
}

/// Removes a member (project admins); the last admin cannot be removed.
#[utoipa::path(delete, path = "/v1/projects/{project}/members", tag = "members",
    params(("project" = String, Path, description = "project slug"), MemberQuery),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn remove(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<MemberQuery>,
) -> ApiResult<StatusCode> {
    projects::remove_member(&s.core.db, &actor, &slug, &q.email).await?;
    Ok(StatusCode::NO_CONTENT)
}
