use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use trellis_core::projects::{self, NewProject, Project, ProjectView};

use crate::auth::ApiActor;
use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::startup::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub name: String,
    /// Defaults to one derived from the name.
    pub slug: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Projects the caller is a member of (all, for instance admins).
#[utoipa::path(get, path = "/v1/projects", tag = "projects",
    responses((status = 200, body = Vec<ProjectView>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult<Json<Vec<ProjectView>>> {
    Ok(Json(projects::list(&s.core.db, &actor).await?))
}

/// Creates a project; the caller becomes its admin.
#[utoipa::path(post, path = "/v1/projects", tag = "projects", request_body = CreateProject,
    responses((status = 201, body = Project), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<CreateProject>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let input = NewProject { name: &body.name, slug: body.slug.as_deref(), description: &body.description };
    let project = projects::create(&s.core.db, &actor, input, None).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

#[utoipa::path(get, path = "/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "project slug")),
    responses((status = 200, body = ProjectView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath(slug): ApiPath<String>) -> ApiResult<Json<ProjectView>> {
    Ok(Json(projects::get(&s.core.db, &actor, &slug).await?))
}

/// Project admins change the name and description.
#[utoipa::path(patch, path = "/v1/projects/{project}", tag = "projects", request_body = UpdateProject,
    params(("project" = String, Path, description = "project slug")),
    responses((status = 200, body = Project), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> ApiResult<Json<Project>> {
    Ok(Json(projects::update(&s.core.db, &actor, &slug, body.name.as_deref(), body.description.as_deref()).await?))
}
