//! Server functions: authorise through `core` with the caller's actor, map errors. Thin.

pub mod admin;
pub mod audit;
pub mod jobs;
pub mod projects;
pub mod session;
pub mod tokens;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use http::StatusCode;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;
    use tower_sessions::Session;
    use trellis_core::error::ErrorKind;
    use trellis_core::{Actor, Core};

    use crate::model::*;

    pub fn core() -> Result<Core, AppError> {
        use_context::<Core>().ok_or(AppError::Internal)
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>().await.map_err(|e| {
            tracing::error!(error = %e, "no session layer");
            AppError::Internal
        })
    }

    pub async fn client_ip() -> Option<String> {
        leptos_axum::extract::<ConnectInfo<SocketAddr>>().await.ok().map(|ci| ci.0.ip().to_string())
    }

    fn set_status(status: StatusCode) {
        if let Some(res) = use_context::<ResponseOptions>() {
            res.set_status(status);
        }
    }

    /// Maps a domain error to the shared error type and sets the response status.
    pub fn fail(e: trellis_core::Error) -> AppError {
        let (status, err) = match e.kind() {
            ErrorKind::BadRequest => (StatusCode::BAD_REQUEST, AppError::BadRequest(e.to_string())),
            ErrorKind::Unauthenticated => match e {
                trellis_core::Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, AppError::InvalidCredentials),
                _ => (StatusCode::UNAUTHORIZED, AppError::Unauthenticated),
            },
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, AppError::Forbidden(e.to_string())),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, AppError::NotFound(e.to_string())),
            ErrorKind::Conflict => (StatusCode::CONFLICT, AppError::Conflict(e.to_string())),
            ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, AppError::RateLimited(e.to_string())),
            ErrorKind::Internal => {
                tracing::error!(error = ?e, "internal error in a server function");
                (StatusCode::INTERNAL_SERVER_ERROR, AppError::Internal)
            }
        };
        set_status(status);
        err
    }

    /// The signed-in caller, or `Unauthenticated` (401).
    pub async fn actor() -> Result<Actor, AppError> {
        let session = session().await?;
        let user_id: Option<i64> = session.get(crate::SESSION_USER_KEY).await.map_err(|e| {
            tracing::error!(error = %e, "reading session");
            AppError::Internal
        })?;
        let Some(user_id) = user_id else {
            set_status(StatusCode::UNAUTHORIZED);
            return Err(AppError::Unauthenticated);
        };
        trellis_core::auth::session_actor(&core()?.db, user_id, client_ip().await)
            .await
            .map_err(fail)
    }

    pub fn project_summary(v: trellis_core::projects::ProjectView) -> ProjectSummary {
        ProjectSummary {
            slug: v.project.slug,
            name: v.project.name,
            description: v.project.description,
            role: v.role.to_string(),
            member_count: v.member_count,
            created_at: v.project.created_at,
        }
    }

    pub fn token_row(t: trellis_core::tokens::ApiToken) -> TokenRow {
        TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            project_slug: t.project_slug,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }

    pub fn job_row(j: trellis_core::jobs::Job) -> JobRow {
        JobRow {
            id: j.id,
            project_slug: j.project_slug,
            kind: j.kind,
            state: j.state,
            progress: j.progress,
            progress_message: j.progress_message,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            cancel_requested: j.cancel_requested,
            error: j.error,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }

    pub fn user_row(u: trellis_core::auth::User) -> UserRow {
        UserRow {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            is_instance_admin: u.is_instance_admin,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }

    pub fn invite_row(i: trellis_core::auth::Invite) -> InviteRow {
        InviteRow { id: i.id, email: i.email, make_admin: i.make_admin, expires_at: i.expires_at, accepted_at: i.accepted_at }
    }
}
