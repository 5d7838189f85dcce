//! The native REST API under `/v1`: one module per area, each handler authorises through `core`.

pub mod audit;
pub mod batch;
pub mod datasets;
pub mod endpoints;
pub mod jobs;
pub mod members;
pub mod models;
pub mod projects;
pub mod tokens;
pub mod training;
pub mod users;

use axum::routing::{delete, get};
use axum::Router;

use crate::error::ApiError;
use crate::startup::AppState;

/// Largest prediction request body.
pub const PREDICT_BODY_BYTES: usize = 16 << 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(users::me))
        .route("/v1/users", get(users::list).post(users::create))
        .route("/v1/invites", get(users::list_invites).post(users::invite))
        .route("/v1/projects", get(projects::list).post(projects::create))
        .route("/v1/projects/{project}", get(projects::get).patch(projects::update))
        .route(
            "/v1/projects/{project}/members",
            get(members::list).post(members::add).delete(members::remove),
        )
        .route("/v1/projects/{project}/jobs", get(jobs::list))
        .route("/v1/projects/{project}/datasets", get(datasets::list).post(datasets::create))
        // `POST …/datasets/{dataset}:archive` / `:unarchive`: the action is parsed from the segment.
        .route("/v1/projects/{project}/datasets/{dataset}", get(datasets::get).delete(datasets::delete).post(datasets::action))
        .route("/v1/projects/{project}/datasets/{dataset}/versions", axum::routing::post(datasets::upload))
        .route("/v1/projects/{project}/datasets/{dataset}/versions/{version}", get(datasets::version).delete(datasets::delete_version))
        .route("/v1/projects/{project}/datasets/{dataset}/versions/{version}/preview", get(datasets::preview))
        .route("/v1/projects/{project}/datasets/{dataset}/versions/{version}/download", get(datasets::download))
        .route("/v1/projects/{project}/datasets/{dataset}/versions/{version}/anomalies", get(datasets::anomalies))
        .route("/v1/projects/{project}/datasets/{dataset}/versions/{version}/split", get(datasets::get_split).put(datasets::set_split))
        .route("/v1/projects/{project}/training-jobs", axum::routing::post(training::submit))
        .route("/v1/projects/{project}/tuning-jobs", axum::routing::post(training::tune))
        .route("/v1/projects/{project}/automl-jobs", axum::routing::post(training::automl))
        // `POST …/tuning-jobs/{run_id}:cancel`: the action is parsed from the segment.
        .route("/v1/projects/{project}/tuning-jobs/{run_id}", axum::routing::post(training::search_action))
        .route(
            "/v1/projects/{project}/custom-jobs",
            axum::routing::post(training::submit_custom)
                .layer(axum::extract::DefaultBodyLimit::max(trellis_core::code_archive::MAX_CODE_BYTES as usize + (1 << 20))),
        )
        .route("/v1/projects/{project}/endpoints", get(endpoints::list).post(endpoints::create))
        // `POST …/endpoints/{endpoint}:predict` (and `:deploy`, `:undeploy`, `:setTraffic`): the action is parsed from the segment.
        .route(
            "/v1/projects/{project}/endpoints/{endpoint}",
            get(endpoints::get)
                .patch(endpoints::update)
                .delete(endpoints::delete)
                .post(endpoints::action)
                .layer(axum::extract::DefaultBodyLimit::max(PREDICT_BODY_BYTES)),
        )
        .route("/v1/projects/{project}/endpoints/{endpoint}/stats", get(endpoints::stats))
        .route("/v1/projects/{project}/endpoints/{endpoint}/logs", get(endpoints::logs))
        .route("/v1/projects/{project}/batch-predictions", get(batch::list).post(batch::create))
        .route("/v1/projects/{project}/batch-predictions/{batch}", get(batch::get))
        .route("/v1/projects/{project}/batch-predictions/{batch}/output", get(batch::output))
        .route("/v1/projects/{project}/models/{model}", get(models::get).patch(models::update))
        // `POST …/versions/{version}:review`: the action is parsed from the segment.
        .route("/v1/projects/{project}/models/{model}/versions", axum::routing::post(models::upload_version))
        .route("/v1/projects/{project}/models/{model}/versions/{version}", axum::routing::post(models::version_action))
        .route("/v1/projects/{project}/models/{model}/versions/{version}/importance", get(models::importance))
        .route("/v1/training/algorithms", get(training::algorithms))
        .route("/v1/projects/{project}/audit", get(audit::project))
        .route("/v1/audit", get(audit::instance))
        .route("/v1/jobs", get(jobs::list_instance))
        // `POST /v1/jobs/{id}:cancel`: the action is parsed from the last segment.
        .route("/v1/jobs/{job}", get(jobs::get).post(jobs::action))
        .route("/v1/jobs/{job}/logs", get(jobs::logs))
        .route("/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/v1/tokens/{token}", delete(tokens::revoke))
        .route("/v1/openapi.json", get(crate::openapi::document))
        .route("/v1", get(unknown_route))
        .route("/v1/{*rest}", get(unknown_route).post(unknown_route).put(unknown_route).patch(unknown_route).delete(unknown_route))
        .route_layer(axum::middleware::from_fn(no_store))
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no API route {}", uri.path()))
}

/// API responses carry per-user data: never cache them.
async fn no_store(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}
