//! Endpoints: create them, deploy registered model versions with a traffic split, and predict
//! with Vertex AI's JSON (`{"instances": [...]}`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde::Deserialize;
use trellis_core::serving::{self, DeployRequest, EndpointChange, EndpointView, NewEndpoint, PredictRequest, PredictResponse, PredictionLog, ServedStats, TrafficRequest, UndeployRequest};

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::startup::AppState;

/// The project's endpoints with their deployed models.
#[utoipa::path(get, path = "/v1/projects/{project}/endpoints", tag = "endpoints",
    params(("project" = String, Path, description = "project slug")),
    responses((status = 200, body = Vec<EndpointView>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath(project): ApiPath<String>) -> ApiResult<Json<Vec<EndpointView>>> {
    Ok(Json(serving::list_endpoints(&s.core, &actor, &project).await?))
}

/// Creates an endpoint (editors). Its Open Inference Protocol name is `<project>.<name>`.
#[utoipa::path(post, path = "/v1/projects/{project}/endpoints", tag = "endpoints",
    params(("project" = String, Path, description = "project slug")),
    request_body = NewEndpoint,
    responses((status = 201, body = EndpointView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    ApiJson(req): ApiJson<NewEndpoint>,
) -> ApiResult<(StatusCode, Json<EndpointView>)> {
    Ok((StatusCode::CREATED, Json(serving::create_endpoint(&s.core, &actor, &project, req).await?)))
}

/// An endpoint with its deployed models and their traffic.
#[utoipa::path(get, path = "/v1/projects/{project}/endpoints/{endpoint}", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    responses((status = 200, body = EndpointView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath((project, endpoint)): ApiPath<(String, String)>) -> ApiResult<Json<EndpointView>> {
    Ok(Json(serving::get_endpoint(&s.core, &actor, &project, &endpoint).await?))
}

/// Deletes an endpoint that has no deployed models (editors).
#[utoipa::path(delete, path = "/v1/projects/{project}/endpoints/{endpoint}", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn delete(State(s): State<AppState>, ApiActor(actor): ApiActor, ApiPath((project, endpoint)): ApiPath<(String, String)>) -> ApiResult<StatusCode> {
    serving::delete_endpoint(&s.core, &actor, &project, &endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes an endpoint's description or request logging (editors).
#[utoipa::path(patch, path = "/v1/projects/{project}/endpoints/{endpoint}", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    request_body = EndpointChange,
    responses((status = 200, body = EndpointView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, endpoint)): ApiPath<(String, String)>,
    ApiJson(change): ApiJson<EndpointChange>,
) -> ApiResult<Json<EndpointView>> {
    Ok(Json(serving::update_endpoint(&s.core, &actor, &project, &endpoint, change).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// The window, in minutes back from now (default 60).
    pub minutes: Option<i64>,
}

/// Requests, errors and latency percentiles per deployed model, in total and per minute.
#[utoipa::path(get, path = "/v1/projects/{project}/endpoints/{endpoint}/stats", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name"), StatsQuery),
    responses((status = 200, body = Vec<ServedStats>), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn stats(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, endpoint)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Json<Vec<ServedStats>>> {
    Ok(Json(serving::endpoint_stats(&s.core, &actor, &project, &endpoint, q.minutes.unwrap_or(60)).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// How many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// The newest sampled requests and responses (the endpoint's `log_sample_rate` decides which).
#[utoipa::path(get, path = "/v1/projects/{project}/endpoints/{endpoint}/logs", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name"), LogsQuery),
    responses((status = 200, body = Vec<PredictionLog>), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn logs(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, endpoint)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> ApiResult<Json<Vec<PredictionLog>>> {
    Ok(Json(serving::recent_logs(&s.core, &actor, &project, &endpoint, q.limit.unwrap_or(100)).await?))
}

fn body<T: DeserializeOwned>(v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("Failed to deserialize the JSON body into the target type: {e}")))
}

/// `POST …/endpoints/{endpoint}:predict|:explain|:deploy|:undeploy|:setTraffic|:mutateDeployedModel`: the action is parsed from
/// the segment.
pub async fn action(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, raw)): ApiPath<(String, String)>,
    ApiJson(v): ApiJson<Value>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let (endpoint, action) = raw.split_once(':').unwrap_or((&raw, ""));
    let core = &s.core;
    Ok(match action {
        "predict" => Json(serving::predict(core, &actor, &project, endpoint, body(v)?).await?).into_response(),
        "explain" => Json(serving::explain::explain(core, &actor, &project, endpoint, body(v)?).await?).into_response(),
        "deploy" => Json(serving::deploy(core, &actor, &project, endpoint, body(v)?).await?).into_response(),
        "undeploy" => Json(serving::undeploy(core, &actor, &project, endpoint, body(v)?).await?).into_response(),
        "setTraffic" => Json(serving::set_traffic(core, &actor, &project, endpoint, body(v)?).await?).into_response(),
        "mutateDeployedModel" => Json(serving::mutate_deployed_model(core, &actor, &project, endpoint, body(v)?).await?).into_response(),
        _ => {
            return Err(ApiError::not_found(format!(
                "no API route POST /v1/projects/{project}/endpoints/{raw}; endpoints have the actions :predict, :explain, :deploy, :undeploy, :setTraffic and :mutateDeployedModel"
            )))
        }
    })
}

/// Predicts with the deployed model the traffic split picks (editors and admins). Instances are
/// objects `{feature: value}` or arrays in the model's feature order; at most 5,000 per request.
/// A bad value is a 400 naming the instance and the feature.
#[utoipa::path(post, path = "/v1/projects/{project}/endpoints/{endpoint}:predict", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    request_body = PredictRequest,
    responses((status = 200, body = PredictResponse), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
#[allow(dead_code)]
fn predict() {}

/// Predicts and explains (editors and admins): per instance, the attributions of its predicted
/// class (or value) to each feature, by the deployment's method — sampled Shapley, integrated
/// gradients or TreeSHAP — from its baseline. At most 100 instances per request.
#[utoipa::path(post, path = "/v1/projects/{project}/endpoints/{endpoint}:explain", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    request_body = PredictRequest,
    responses((status = 200, body = trellis_core::serving::explain::ExplainResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
#[allow(dead_code)]
fn explain() {}

/// Deploys a registered model version, or an alias the endpoint then follows (editors). Other
/// deployed models keep their proportions of the traffic that is left.
#[utoipa::path(post, path = "/v1/projects/{project}/endpoints/{endpoint}:deploy", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    request_body = DeployRequest,
    responses((status = 200, body = EndpointView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
#[allow(dead_code)]
fn deploy() {}

/// Removes a deployed model (editors); the others share its traffic in their proportions.
#[utoipa::path(post, path = "/v1/projects/{project}/endpoints/{endpoint}:undeploy", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    request_body = UndeployRequest,
    responses((status = 200, body = EndpointView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
#[allow(dead_code)]
fn undeploy() {}

/// Sets the traffic split (editors): every deployed model's id with its share, summing to 100.
#[utoipa::path(post, path = "/v1/projects/{project}/endpoints/{endpoint}:setTraffic", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    request_body = TrafficRequest,
    responses((status = 200, body = EndpointView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
#[allow(dead_code)]
fn set_traffic() {}

/// Changes a deployed model's explanation settings (editors) without redeploying it: checked
/// against the version it serves; its traffic is untouched.
#[utoipa::path(post, path = "/v1/projects/{project}/endpoints/{endpoint}:mutateDeployedModel", tag = "endpoints",
    params(("project" = String, Path, description = "project slug"), ("endpoint" = String, Path, description = "endpoint name")),
    request_body = trellis_core::serving::MutateRequest,
    responses((status = 200, body = EndpointView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
#[allow(dead_code)]
fn mutate_deployed_model() {}
