//! Server functions: authorise through `core` with the caller's actor, map errors. Thin.

pub mod admin;
pub mod audit;
pub mod batch;
pub mod datasets;
pub mod endpoints;
pub mod experiments;
pub mod jobs;
pub mod models;
pub mod projects;
pub mod session;
pub mod tokens;
pub mod training;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use http::request::Parts;
    use http::StatusCode;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;
    use tower_sessions::Session;
    use trellis_core::error::ErrorKind;
    use trellis_core::{Actor, Core};

    use crate::model::*;

    /// What a server function needs from its request, taken from the reactive context once, at
    /// its start (context lookups after an `.await` are not reliable).
    pub struct Ctx {
        pub core: Core,
        parts: Parts,
        response: Option<ResponseOptions>,
    }

    /// A time in MLflow's milliseconds since the epoch.
    pub fn time_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    impl Ctx {
        pub fn get() -> Result<Ctx, AppError> {
            let Some(parts) = use_context::<Parts>() else {
                tracing::error!("server function ran without its request");
                return Err(AppError::Internal);
            };
            let core = use_context::<Core>().or_else(|| parts.extensions.get::<Core>().cloned());
            let Some(core) = core else {
                tracing::error!("server function ran without the Core context");
                return Err(AppError::Internal);
            };
            Ok(Ctx { core, parts, response: use_context::<ResponseOptions>() })
        }

        pub fn db(&self) -> &trellis_core::db::PgPool {
            &self.core.db
        }

        pub fn session(&self) -> Result<Session, AppError> {
            self.parts.extensions.get::<Session>().cloned().ok_or_else(|| {
                tracing::error!("no session layer");
                AppError::Internal
            })
        }

        pub fn ip(&self) -> Option<String> {
            self.parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ci| ci.0.ip().to_string())
        }

        pub fn set_status(&self, status: StatusCode) {
            if let Some(res) = &self.response {
                res.set_status(status);
            }
        }

        /// Maps a domain error to the shared error type and sets the response status.
        pub fn fail(&self, e: trellis_core::Error) -> AppError {
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
                ErrorKind::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, AppError::BadRequest(e.to_string())),
                ErrorKind::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, AppError::BadRequest(e.to_string())),
                ErrorKind::Internal => {
                    tracing::error!(error = ?e, "internal error in a server function");
                    (StatusCode::INTERNAL_SERVER_ERROR, AppError::Internal)
                }
            };
            self.set_status(status);
            err
        }

        /// The signed-in caller, or `Unauthenticated` (401).
        pub async fn actor(&self) -> Result<Actor, AppError> {
            let user_id: Option<i64> = self.session()?.get(crate::SESSION_USER_KEY).await.map_err(|e| {
                tracing::error!(error = %e, "reading session");
                AppError::Internal
            })?;
            let Some(user_id) = user_id else {
                self.set_status(StatusCode::UNAUTHORIZED);
                return Err(AppError::Unauthenticated);
            };
            trellis_core::auth::session_actor(self.db(), user_id, self.ip()).await.map_err(|e| self.fail(e))
        }
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

    /// A registered model's version as a form names it: `3` for version 3, `@champion` for
    /// an alias. Returns (version, alias).
    pub fn parse_model_target(target: &str) -> Result<(Option<i32>, Option<String>), AppError> {
        let target = target.trim();
        Ok(match target.strip_prefix('@') {
            Some(a) => (None, Some(a.to_string())),
            None => (Some(target.parse::<i32>().map_err(|_| AppError::BadRequest("choose a version or an alias".into()))?), None),
        })
    }

    /// The project's profiled dataset versions with their columns, for training and batch forms.
    pub async fn trainable_versions(cx: &Ctx, actor: &Actor, slug: &str) -> Result<Vec<TrainableVersion>, AppError> {
        let versions = trellis_core::training::trainable(cx.db(), actor, slug).await.map_err(|e| cx.fail(e))?;
        Ok(versions
            .into_iter()
            .map(|v| TrainableVersion {
                dataset: v.dataset,
                version: v.version,
                rows: v.rows,
                columns: v.columns.into_iter().map(|(n, t, d)| TrainableColumn { name: n, column_type: t.as_str().to_string(), distinct: d }).collect(),
            })
            .collect())
    }

    /// The project's registered models with their versions and aliases, for deploy and batch forms.
    pub async fn model_choices(cx: &Ctx, actor: &Actor, slug: &str) -> Result<Vec<DeployChoice>, AppError> {
        let mut choices = Vec::new();
        for m in trellis_core::registry::project_models(cx.db(), actor, slug).await.map_err(|e| cx.fail(e))? {
            let (_, versions) = trellis_core::registry::model_versions(cx.db(), actor, slug, &m.name).await.map_err(|e| cx.fail(e))?;
            choices.push(DeployChoice {
                model: m.name,
                versions: versions.iter().map(|v| v.version).collect(),
                aliases: m.aliases.iter().map(|(a, _)| a.clone()).collect(),
            });
        }
        Ok(choices)
    }

    pub fn token_row(t: trellis_core::tokens::ApiToken) -> TokenRow {
        TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            project_slug: t.project_slug,
            predict_endpoints: t.predict_endpoints,
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
