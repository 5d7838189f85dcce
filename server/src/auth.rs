//! Who is calling a REST route: `Authorization: Bearer <token>` or the signed-in session.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tower_sessions::Session;
use trellis_core::{auth, tokens, Actor};

use crate::error::ApiError;
use crate::startup::AppState;

/// The authenticated caller of a REST route. Missing or bad credentials → 401.
pub struct ApiActor(pub Actor);

/// The routes a predict-only token may call (core checks the endpoint too).
fn is_prediction_path(path: &str) -> bool {
    path.starts_with("/v2/models/") || (path.starts_with("/v1/projects/") && (path.ends_with(":predict") || path.ends_with(":explain")))
}

pub fn client_ip(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip().to_string())
}

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts);
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| ApiError::unauthenticated("Authorization header is not valid text"))?;
            let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else {
                return Err(ApiError::unauthenticated("Authorization must be 'Bearer <token>'"));
            };
            let actor = tokens::authenticate_cached(&state.core, token.trim(), ip)
                .await
                .map_err(|e| match e {
                    trellis_core::Error::Unauthenticated => {
                        ApiError::unauthenticated("the API token is invalid, revoked or expired")
                    }
                    other => other.into(),
                })?;
            if actor.is_predict_only() && !is_prediction_path(parts.uri.path()) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "this API token may only make predictions (:predict, :explain, /v2/models/…/infer) on the endpoints it names",
                ));
            }
            return Ok(ApiActor(actor));
        }
        let session = parts.extensions.get::<Session>().cloned();
        if let Some(session) = session {
            let user_id: Option<i64> = session
                .get(trellis_app::SESSION_USER_KEY)
                .await
                .map_err(|e| ApiError::from(trellis_core::Error::Internal(anyhow::anyhow!(e))))?;
            if let Some(user_id) = user_id {
                let actor = auth::session_actor(&state.core.db, user_id, ip).await.map_err(|_| {
                    ApiError::unauthenticated("your session has ended; sign in again")
                })?;
                return Ok(ApiActor(actor));
            }
        }
        Err(ApiError::unauthenticated(
            "authentication required: send 'Authorization: Bearer <token>' or sign in",
        ))
    }
}
