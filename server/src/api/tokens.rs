use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use trellis_core::tokens::{self, ApiToken};

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::startup::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Restrict the token to one project (slug).
    pub project: Option<String>,
    /// A predict-only token: the endpoints of `project` it may predict on (and nothing else).
    pub predict_endpoints: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret: shown only in this response.
    pub secret: String,
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(State(s): State<AppState>, ApiActor(actor): ApiActor) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(tokens::list(&s.core.db, &actor).await?))
}

/// Creates a personal token, or with `predict_endpoints` a predict-only token for endpoints of
/// `project` (editors there). Needs a signed-in session: tokens cannot mint tokens.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let (token, secret) = match &body.predict_endpoints {
        Some(endpoints) => {
            let project = body.project.as_deref().ok_or_else(|| ApiError::bad_request("a predict-only token needs 'project'"))?;
            tokens::create_predict_only(&s.core.db, &actor, &body.name, project, endpoints).await?
        }
        None => tokens::create(&s.core.db, &actor, &body.name, body.project.as_deref()).await?,
    };
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

#[utoipa::path(delete, path = "/v1/tokens/{token}", tag = "tokens",
    params(("token" = i64, Path, description = "token id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath(raw): ApiPath<String>) -> ApiResult<StatusCode> {
    let id: i64 = raw.parse().map_err(|_| ApiError::bad_request(format!("token id: '{raw}' is not an integer")))?;
    tokens::revoke(&s.core.db, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
