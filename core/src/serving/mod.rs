//! Endpoints and online prediction. An endpoint belongs to a project and holds deployed models —
//! registered model versions, fixed or following an alias — with a traffic split that sums to 100.
//!
//! Every serving process keeps each endpoint's routing table and its models in memory
//! ([`Serving`]); a request reads only memory once both are loaded. A change (deploy, undeploy,
//! split, an alias moving) clears the tables in this process and is announced to the others
//! with `NOTIFY trellis_serving` ([`listen`]). Requests in flight keep the models they started
//! with, so changes never drop a request.

pub mod explain;
pub mod importance;
pub mod input;
pub mod logging;
pub mod model;
pub mod onnx;
pub mod oip;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

pub use model::LoadedModel;

use crate::projects::{self, Access};
use crate::{audit, Actor, Core, Error, Result};

/// The channel that announces serving changes to every serving process.
pub const CHANNEL: &str = "trellis_serving";
pub const MAX_ENDPOINT_NAME: usize = 63;

/// Routing tables and loaded models of this process.
#[derive(Default)]
pub struct Serving {
    routes: RwLock<HashMap<String, Arc<Route>>>,
    models: Mutex<HashMap<i64, Arc<LoadedModel>>>,
    /// Counts and logs what endpoints answer (see [`logging`]).
    pub recorder: logging::Recorder,
    /// Global importance per model version, once computed: a version and the data it was
    /// trained on never change (see [`importance`]).
    pub(crate) importance: Mutex<HashMap<i64, Option<importance::GlobalImportance>>>,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving").finish_non_exhaustive()
    }
}

/// Models kept loaded beyond those deployed; past this the cache starts again.
const MAX_CACHED_MODELS: usize = 64;

impl Serving {
    /// Forgets every routing table; the next request to an endpoint reads it again.
    pub fn invalidate(&self) {
        self.routes.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn cached_route(&self, key: &str) -> Option<Arc<Route>> {
        self.routes.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    pub(crate) async fn model(&self, core: &Core, version_id: i64) -> Result<Arc<LoadedModel>> {
        if let Some(m) = self.models.lock().unwrap_or_else(|e| e.into_inner()).get(&version_id) {
            return Ok(m.clone());
        }
        let loaded = Arc::new(model::load(core, version_id).await?);
        let mut models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        if models.len() >= MAX_CACHED_MODELS {
            models.clear();
        }
        Ok(models.entry(version_id).or_insert(loaded).clone())
    }
}

/// One deployed model in a routing table.
#[derive(Debug)]
pub struct RouteTarget {
    pub deployed_model_id: i64,
    pub model_name: String,
    pub version: i32,
    pub alias: Option<String>,
    pub traffic_percent: i32,
    pub model: Arc<LoadedModel>,
    pub explainer: explain::Explainer,
    /// `<model>/<version>`, as answers and logs name it.
    pub model_version: String,
}

/// An endpoint as a serving process holds it.
#[derive(Debug)]
pub struct Route {
    pub endpoint_id: i64,
    pub project_id: i64,
    pub project_slug: String,
    pub name: String,
    pub log_sample_rate: f64,
    pub targets: Vec<RouteTarget>,
    /// `<project>.<endpoint>`.
    pub oip: String,
}

impl Route {
    /// The name Open Inference Protocol clients use for the endpoint.
    pub fn oip_name(&self) -> String {
        self.oip.clone()
    }

    /// Counts an answer (and logs it, when the endpoint's sampling picks it). `log` gives the
    /// (request, response) to keep and is only called for a sampled request.
    pub fn record(&self, core: &Core, target: &RouteTarget, started: std::time::Instant, ok: bool, log: impl FnOnce() -> (Value, Value)) {
        let sampled = self.log_sample_rate > 0.0 && rand::random::<f64>() < self.log_sample_rate;
        core.serving.recorder.record(logging::Served {
            endpoint_id: self.endpoint_id,
            deployed_model_id: target.deployed_model_id,
            model_version: target.model_version.clone(),
            endpoint: self.oip.clone(),
            at: Utc::now(),
            latency_us: started.elapsed().as_micros() as u64,
            ok,
            log: sampled.then(log),
        });
    }

    /// Picks a deployed model by the traffic split.
    pub fn pick(&self) -> Result<&RouteTarget> {
        let total: i32 = self.targets.iter().map(|t| t.traffic_percent).sum();
        if total <= 0 {
            return Err(Error::conflict(format!(
                "endpoint '{}' has no deployed model that takes traffic: deploy a model version to it",
                self.name
            )));
        }
        let mut draw = (rand::random::<u32>() % total as u32) as i32;
        for t in &self.targets {
            if draw < t.traffic_percent {
                return Ok(t);
            }
            draw -= t.traffic_percent;
        }
        Ok(self.targets.last().expect("a positive total has targets"))
    }
}

/// `<project>.<endpoint>`: unique in the instance, since project slugs hold no dots.
pub fn oip_name(slug: &str, endpoint: &str) -> String {
    format!("{slug}.{endpoint}")
}

fn check_endpoint_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ENDPOINT_NAME
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "invalid endpoint name '{}': use 1 to {MAX_ENDPOINT_NAME} lowercase letters, digits and inner hyphens",
            name.escape_debug()
        )))
    }
}

/// Announces a serving change to every serving process (when the transaction commits).
pub async fn notify(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')").bind(CHANNEL).execute(conn).await?;
    Ok(())
}

/// Clears this process's routing tables whenever another process announces a serving change,
/// and its access cache whenever access may have been taken away (both also when the connection
/// that listens is re-established, since announcements may have been missed).
pub async fn listen(core: Core) {
    let forget_all = || {
        core.serving.invalidate();
        core.access.clear();
    };
    loop {
        match sqlx::postgres::PgListener::connect_with(&core.db).await {
            Ok(mut listener) => {
                if listener.listen_all([CHANNEL, crate::access_cache::CHANNEL]).await.is_ok() {
                    forget_all();
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) if n.channel() == CHANNEL => core.serving.invalidate(),
                            Ok(Some(_)) => core.access.clear(),
                            Ok(None) => forget_all(),
                            Err(e) => {
                                tracing::warn!(error = %e, "serving: listening for changes failed");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "serving: cannot listen for changes"),
        }
        forget_all();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

// ---- endpoints ----

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Lowercase letters, digits and inner hyphens; unique in the project.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Share of requests whose request and response are kept, 0 to 1 (default 0).
    #[serde(default)]
    pub log_sample_rate: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeployedModelView {
    /// The deployed model's id (Vertex's `deployedModelId`).
    pub id: String,
    pub model: String,
    /// The version served now (for an alias, the version it names now).
    pub version: Option<i32>,
    /// The alias followed, if the deployment follows one.
    pub alias: Option<String>,
    pub traffic_percent: i32,
    /// The explanation settings given at deploy time (empty: the defaults).
    #[schema(value_type = Object)]
    pub explanation: Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub name: String,
    /// The instance-wide name for Open Inference Protocol clients (`/v2/models/{name}`).
    pub oip_name: String,
    pub description: String,
    pub log_sample_rate: f64,
    pub created_at: DateTime<Utc>,
    pub deployed_models: Vec<DeployedModelView>,
}

pub async fn create_endpoint(core: &Core, actor: &Actor, slug: &str, new: NewEndpoint) -> Result<EndpointView> {
    let (project, _) = projects::authorize(&core.db, actor, slug, Access::Write).await?;
    let name = new.name.trim();
    check_endpoint_name(name)?;
    if new.description.len() > 10_000 {
        return Err(Error::bad_request("description is longer than 10000 bytes"));
    }
    if !(0.0..=1.0).contains(&new.log_sample_rate) {
        return Err(Error::bad_request(format!("log_sample_rate must be between 0 and 1, got {}", new.log_sample_rate)));
    }
    let mut tx = core.db.begin().await?;
    let created = sqlx::query(
        "INSERT INTO endpoints (project_id, name, description, log_sample_rate, created_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (project_id, name) DO NOTHING",
    )
    .bind(project.id)
    .bind(name)
    .bind(&new.description)
    .bind(new.log_sample_rate)
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await?;
    if created.rows_affected() == 0 {
        return Err(Error::conflict(format!("project '{slug}' already has an endpoint '{name}'")));
    }
    audit::record(&mut tx, actor, Some(project.id), "endpoint.create", "endpoint", name, json!({})).await?;
    tx.commit().await?;
    get_endpoint(core, actor, slug, name).await
}

/// An endpoint's row after checking access.
struct EndpointRef {
    id: i64,
    project_id: i64,
    name: String,
}

async fn endpoint_ref(db: &PgPool, actor: &Actor, slug: &str, name: &str, access: Access) -> Result<EndpointRef> {
    let (project, _) = projects::authorize(db, actor, slug, access).await?;
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM endpoints WHERE project_id = $1 AND name = $2")
        .bind(project.id)
        .bind(name)
        .fetch_optional(db)
        .await?;
    let id = id.ok_or_else(|| Error::not_found(format!("project '{slug}' has no endpoint '{name}'")))?;
    Ok(EndpointRef { id, project_id: project.id, name: name.to_string() })
}

async fn views(db: &PgPool, slug: &str, ids: &[i64]) -> Result<Vec<EndpointView>> {
    let rows: Vec<(i64, String, String, f64, DateTime<Utc>)> =
        sqlx::query_as("SELECT id, name, description, log_sample_rate, created_at FROM endpoints WHERE id = ANY($1) ORDER BY name")
            .bind(ids)
            .fetch_all(db)
            .await?;
    let deployed: Vec<(i64, i64, String, Option<i32>, Option<String>, i32, DateTime<Utc>, Value)> = sqlx::query_as(
        "SELECT d.endpoint_id, d.id, m.name, v.version, d.alias, d.traffic_percent, d.created_at, d.explanation
           FROM deployed_models d JOIN registered_models m ON m.id = d.model_id
           LEFT JOIN registered_model_aliases a ON d.alias IS NOT NULL AND a.model_id = d.model_id AND a.alias = d.alias
           LEFT JOIN model_versions v ON v.id = COALESCE(d.version_id, a.version_id)
          WHERE d.endpoint_id = ANY($1) ORDER BY d.id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, description, log_sample_rate, created_at)| EndpointView {
            oip_name: oip_name(slug, &name),
            deployed_models: deployed
                .iter()
                .filter(|d| d.0 == id)
                .map(|d| DeployedModelView {
                    id: d.1.to_string(),
                    model: d.2.clone(),
                    version: d.3,
                    alias: d.4.clone(),
                    traffic_percent: d.5,
                    explanation: strip_nulls(d.7.clone()),
                    created_at: d.6,
                })
                .collect(),
            name,
            description,
            log_sample_rate,
            created_at,
        })
        .collect())
}

pub async fn get_endpoint(core: &Core, actor: &Actor, slug: &str, name: &str) -> Result<EndpointView> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Read).await?;
    views(&core.db, slug, &[e.id]).await?.pop().ok_or_else(|| Error::not_found("endpoint vanished"))
}

pub async fn list_endpoints(core: &Core, actor: &Actor, slug: &str) -> Result<Vec<EndpointView>> {
    let (project, _) = projects::authorize(&core.db, actor, slug, Access::Read).await?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM endpoints WHERE project_id = $1").bind(project.id).fetch_all(&core.db).await?;
    views(&core.db, slug, &ids).await
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    pub description: Option<String>,
    /// Share of requests whose request and response are kept, 0 to 1.
    pub log_sample_rate: Option<f64>,
}

/// Changes an endpoint's description or logging (editors).
pub async fn update_endpoint(core: &Core, actor: &Actor, slug: &str, name: &str, change: EndpointChange) -> Result<EndpointView> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Write).await?;
    if let Some(r) = change.log_sample_rate {
        if !(0.0..=1.0).contains(&r) {
            return Err(Error::bad_request(format!("log_sample_rate must be between 0 and 1, got {r}")));
        }
    }
    if change.description.as_ref().is_some_and(|d| d.len() > 10_000) {
        return Err(Error::bad_request("description is longer than 10000 bytes"));
    }
    let mut tx = core.db.begin().await?;
    sqlx::query("UPDATE endpoints SET description = COALESCE($2, description), log_sample_rate = COALESCE($3, log_sample_rate) WHERE id = $1")
        .bind(e.id)
        .bind(&change.description)
        .bind(change.log_sample_rate)
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, Some(e.project_id), "endpoint.update", "endpoint", name, json!({ "description": change.description, "log_sample_rate": change.log_sample_rate })).await?;
    notify(&mut tx).await?;
    tx.commit().await?;
    core.serving.invalidate();
    get_endpoint(core, actor, slug, name).await
}

/// Requests, errors and latency of one deployed model over a window.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServedStats {
    pub deployed_model_id: String,
    pub model_version: String,
    pub requests: i64,
    pub errors: i64,
    /// Latency percentiles in µs (upper bounds of the buckets they fall in).
    pub p50_us: Option<f64>,
    pub p95_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// Per minute: (minute, requests, errors, p50 µs, p95 µs).
    #[schema(value_type = Vec<Object>)]
    pub minutes: Vec<(DateTime<Utc>, i64, i64, Option<f64>, Option<f64>)>,
}

/// What the endpoint's deployed models answered in the last `minutes` minutes (readers).
pub async fn endpoint_stats(core: &Core, actor: &Actor, slug: &str, name: &str, minutes: i64) -> Result<Vec<ServedStats>> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Read).await?;
    if !(1..=60 * 24 * 31).contains(&minutes) {
        return Err(Error::bad_request("minutes must be between 1 and 44640"));
    }
    let rows: Vec<(i64, String, DateTime<Utc>, i64, i64, Vec<i64>)> = sqlx::query_as(
        "SELECT deployed_model_id, model_version, minute, requests, errors, latency_buckets FROM prediction_stats
          WHERE endpoint_id = $1 AND minute >= date_trunc('minute', now()) - make_interval(mins => $2::INT)
          ORDER BY deployed_model_id, minute",
    )
    .bind(e.id)
    .bind(minutes as i32)
    .fetch_all(&core.db)
    .await?;
    let mut out: Vec<ServedStats> = Vec::new();
    let mut sums: Vec<Vec<i64>> = Vec::new();
    for (id, version, minute, requests, errors, buckets) in rows {
        if out.last().map(|s| s.deployed_model_id != id.to_string()).unwrap_or(true) {
            out.push(ServedStats { deployed_model_id: id.to_string(), model_version: version, requests: 0, errors: 0, p50_us: None, p95_us: None, p99_us: None, minutes: Vec::new() });
            sums.push(vec![0; buckets.len()]);
        }
        let (s, sum) = (out.last_mut().expect("pushed"), sums.last_mut().expect("pushed"));
        s.requests += requests;
        s.errors += errors;
        for (a, b) in sum.iter_mut().zip(&buckets) {
            *a += b;
        }
        s.minutes.push((minute, requests, errors, logging::percentile(&buckets, 0.5), logging::percentile(&buckets, 0.95)));
    }
    for (s, sum) in out.iter_mut().zip(&sums) {
        s.p50_us = logging::percentile(sum, 0.5);
        s.p95_us = logging::percentile(sum, 0.95);
        s.p99_us = logging::percentile(sum, 0.99);
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PredictionLog {
    pub at: DateTime<Utc>,
    pub deployed_model_id: String,
    pub model_version: String,
    pub latency_us: i64,
    pub ok: bool,
    #[schema(value_type = Object)]
    pub request: Value,
    #[schema(value_type = Object)]
    pub response: Value,
}

/// The newest sampled requests and responses of an endpoint (readers).
pub async fn recent_logs(core: &Core, actor: &Actor, slug: &str, name: &str, limit: i64) -> Result<Vec<PredictionLog>> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Read).await?;
    if !(1..=1000).contains(&limit) {
        return Err(Error::bad_request("limit must be between 1 and 1000"));
    }
    let rows: Vec<(DateTime<Utc>, i64, String, i64, bool, Value, Value)> = sqlx::query_as(
        "SELECT at, deployed_model_id, model_version, latency_us, ok, request, response FROM prediction_logs
          WHERE endpoint_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(e.id)
    .bind(limit)
    .fetch_all(&core.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, id, model_version, latency_us, ok, request, response)| PredictionLog { at, deployed_model_id: id.to_string(), model_version, latency_us, ok, request, response })
        .collect())
}

/// Deletes an endpoint that serves nothing (editors).
pub async fn delete_endpoint(core: &Core, actor: &Actor, slug: &str, name: &str) -> Result<()> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Write).await?;
    let mut tx = core.db.begin().await?;
    sqlx::query("SELECT id FROM endpoints WHERE id = $1 FOR UPDATE").bind(e.id).execute(&mut *tx).await?;
    let deployed: i64 = sqlx::query_scalar("SELECT count(*) FROM deployed_models WHERE endpoint_id = $1").bind(e.id).fetch_one(&mut *tx).await?;
    if deployed > 0 {
        return Err(Error::conflict(format!("endpoint '{name}' still serves {deployed} deployed model(s): undeploy them first")));
    }
    sqlx::query("DELETE FROM endpoints WHERE id = $1").bind(e.id).execute(&mut *tx).await?;
    audit::record(&mut tx, actor, Some(e.project_id), "endpoint.delete", "endpoint", name, json!({})).await?;
    notify(&mut tx).await?;
    tx.commit().await?;
    core.serving.invalidate();
    core.access.clear();
    Ok(())
}

// ---- deployments and traffic ----

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The registered model's name in the project.
    pub model: String,
    /// A version number, or
    pub version: Option<i32>,
    /// an alias to follow: when it moves, the endpoint serves the version it names.
    pub alias: Option<String>,
    /// The new deployment's share, 0 to 100 (default: 100 on an empty endpoint, else 0). The
    /// other deployments keep their proportions in what is left.
    pub traffic_percent: Option<i32>,
    /// How `:explain` attributes this deployment's predictions (default: sampled Shapley, 10
    /// paths, from the training baseline).
    #[serde(default)]
    pub explanation: Option<explain::ExplanationSpec>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UndeployRequest {
    pub deployed_model_id: String,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MutateRequest {
    pub deployed_model_id: String,
    /// The deployment's new explanation settings (replacing the old ones; `{}`: the defaults).
    pub explanation: explain::ExplanationSpec,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrafficRequest {
    /// Every deployed model's id with its share; the shares sum to 100.
    pub traffic_split: HashMap<String, i32>,
}

/// Shares `total` among `weights` in proportion (largest remainders; equal shares when all are 0).
pub fn rescale(weights: &[i32], total: i32) -> Vec<i32> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i64 = weights.iter().map(|w| *w as i64).sum();
    let exact: Vec<f64> = if sum == 0 {
        vec![total as f64 / weights.len() as f64; weights.len()]
    } else {
        weights.iter().map(|w| *w as f64 * total as f64 / sum as f64).collect()
    };
    let mut out: Vec<i32> = exact.iter().map(|x| x.floor() as i32).collect();
    let mut left = total - out.iter().sum::<i32>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for i in order {
        if left <= 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

fn deployed_id(raw: &str) -> Result<i64> {
    raw.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| Error::bad_request(format!("'{raw}' is not a deployed model id")))
}

/// A registered model's version in a project, by number or by alias:
/// (model id, version row id, version number).
pub(crate) async fn resolve_version(db: &PgPool, project_id: i64, slug: &str, model: &str, version: Option<i32>, alias: Option<&str>) -> Result<(i64, i64, i32)> {
    let model_id: Option<i64> = sqlx::query_scalar("SELECT id FROM registered_models WHERE project_id = $1 AND name = $2")
        .bind(project_id)
        .bind(model)
        .fetch_optional(db)
        .await?;
    let model_id = model_id.ok_or_else(|| Error::bad_request(format!("project '{slug}' has no registered model '{model}'")))?;
    let row: (i64, i32) = match (version, alias.map(str::trim)) {
        (Some(v), None) => sqlx::query_as("SELECT id, version FROM model_versions WHERE model_id = $1 AND version = $2")
            .bind(model_id)
            .bind(v)
            .fetch_optional(db)
            .await?
            .ok_or_else(|| Error::bad_request(format!("model '{model}' has no version {v}")))?,
        (None, Some(a)) => sqlx::query_as(
            "SELECT v.id, v.version FROM registered_model_aliases a JOIN model_versions v ON v.id = a.version_id WHERE a.model_id = $1 AND a.alias = $2",
        )
        .bind(model_id)
        .bind(a)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| Error::bad_request(format!("model '{model}' has no alias '{a}'")))?,
        _ => return Err(Error::bad_request("give either 'version' or 'alias' (not both)")),
    };
    Ok((model_id, row.0, row.1))
}

/// Deploys a model version (or an alias of the model) to the endpoint (editors). The version must
/// hold a model Trellis can serve; it is loaded before anything changes.
pub async fn deploy(core: &Core, actor: &Actor, slug: &str, name: &str, req: DeployRequest) -> Result<EndpointView> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Write).await?;
    if let Some(p) = req.traffic_percent {
        if !(0..=100).contains(&p) {
            return Err(Error::bad_request(format!("traffic_percent must be between 0 and 100, got {p}")));
        }
    }
    let model_name = req.model.trim();
    let (model_id, version_id, _) = resolve_version(&core.db, e.project_id, slug, model_name, req.version, req.alias.as_deref()).await?;
    let alias = req.alias.as_deref().map(|a| a.trim().to_string());
    // Load it now: a version Trellis cannot serve is refused before anything changes.
    let loaded = core.serving.model(core, version_id).await?;
    let spec = req.explanation.clone().unwrap_or_default();
    explain::resolve(&spec, &loaded)?;

    let mut tx = core.db.begin().await?;
    sqlx::query("SELECT id FROM endpoints WHERE id = $1 FOR UPDATE").bind(e.id).execute(&mut *tx).await?;
    crate::model_governance::check_deployable(&mut tx, version_id).await?;
    let current: Vec<(i64, i32)> = sqlx::query_as("SELECT id, traffic_percent FROM deployed_models WHERE endpoint_id = $1 ORDER BY id")
        .bind(e.id)
        .fetch_all(&mut *tx)
        .await?;
    let share = req.traffic_percent.unwrap_or(if current.is_empty() { 100 } else { 0 });
    if current.is_empty() && share != 100 {
        return Err(Error::bad_request(format!("the first model deployed to an endpoint takes all its traffic: traffic_percent must be 100, got {share}")));
    }
    let weights: Vec<i32> = current.iter().map(|c| c.1).collect();
    for ((id, _), w) in current.iter().zip(rescale(&weights, 100 - share)) {
        sqlx::query("UPDATE deployed_models SET traffic_percent = $2 WHERE id = $1").bind(id).bind(w).execute(&mut *tx).await?;
    }
    let new_id: i64 = sqlx::query_scalar(
        "INSERT INTO deployed_models (endpoint_id, model_id, version_id, alias, traffic_percent, explanation, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(e.id)
    .bind(model_id)
    .bind(if alias.is_some() { None } else { Some(version_id) })
    .bind(&alias)
    .bind(share)
    .bind(serde_json::to_value(&spec).map_err(anyhow::Error::from)?)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        Some(e.project_id),
        "endpoint.deploy",
        "endpoint",
        &e.name,
        json!({ "deployed_model_id": new_id, "model": model_name, "version": req.version, "alias": alias, "traffic_percent": share }),
    )
    .await?;
    notify(&mut tx).await?;
    tx.commit().await?;
    core.serving.invalidate();
    get_endpoint(core, actor, slug, name).await
}

/// Removes a deployed model (editors); the others share its traffic in their proportions.
pub async fn undeploy(core: &Core, actor: &Actor, slug: &str, name: &str, req: UndeployRequest) -> Result<EndpointView> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Write).await?;
    let id = deployed_id(&req.deployed_model_id)?;
    let mut tx = core.db.begin().await?;
    sqlx::query("SELECT id FROM endpoints WHERE id = $1 FOR UPDATE").bind(e.id).execute(&mut *tx).await?;
    let gone = sqlx::query("DELETE FROM deployed_models WHERE id = $1 AND endpoint_id = $2").bind(id).bind(e.id).execute(&mut *tx).await?;
    if gone.rows_affected() == 0 {
        return Err(Error::not_found(format!("endpoint '{name}' has no deployed model {id}")));
    }
    let rest: Vec<(i64, i32)> = sqlx::query_as("SELECT id, traffic_percent FROM deployed_models WHERE endpoint_id = $1 ORDER BY id")
        .bind(e.id)
        .fetch_all(&mut *tx)
        .await?;
    let weights: Vec<i32> = rest.iter().map(|c| c.1).collect();
    for ((rid, _), w) in rest.iter().zip(rescale(&weights, 100)) {
        sqlx::query("UPDATE deployed_models SET traffic_percent = $2 WHERE id = $1").bind(rid).bind(w).execute(&mut *tx).await?;
    }
    audit::record(&mut tx, actor, Some(e.project_id), "endpoint.undeploy", "endpoint", &e.name, json!({ "deployed_model_id": id })).await?;
    notify(&mut tx).await?;
    tx.commit().await?;
    core.serving.invalidate();
    get_endpoint(core, actor, slug, name).await
}

/// Changes how a deployed model explains (editors), checked against the version it serves now;
/// its traffic and predictions are untouched.
pub async fn mutate_deployed_model(core: &Core, actor: &Actor, slug: &str, name: &str, req: MutateRequest) -> Result<EndpointView> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Write).await?;
    let id = deployed_id(&req.deployed_model_id)?;
    // Checked against the model the routing table serves for it now.
    let route = route(core, slug, name).await?;
    let target = route.targets.iter().find(|t| t.deployed_model_id == id).ok_or_else(|| Error::not_found(format!("endpoint '{name}' has no deployed model {id}")))?;
    explain::resolve(&req.explanation, &target.model)?;
    let mut tx = core.db.begin().await?;
    let changed = sqlx::query("UPDATE deployed_models SET explanation = $3 WHERE id = $1 AND endpoint_id = $2")
        .bind(id)
        .bind(e.id)
        .bind(serde_json::to_value(&req.explanation).map_err(anyhow::Error::from)?)
        .execute(&mut *tx)
        .await?;
    if changed.rows_affected() == 0 {
        return Err(Error::not_found(format!("endpoint '{name}' has no deployed model {id}")));
    }
    audit::record(&mut tx, actor, Some(e.project_id), "endpoint.explanation", "endpoint", &e.name, json!({ "deployed_model_id": id, "explanation": req.explanation })).await?;
    notify(&mut tx).await?;
    tx.commit().await?;
    core.serving.invalidate();
    get_endpoint(core, actor, slug, name).await
}

/// Sets the whole traffic split (editors): every deployed model named once, shares summing to 100.
pub async fn set_traffic(core: &Core, actor: &Actor, slug: &str, name: &str, req: TrafficRequest) -> Result<EndpointView> {
    let e = endpoint_ref(&core.db, actor, slug, name, Access::Write).await?;
    let mut split: HashMap<i64, i32> = HashMap::new();
    for (k, v) in &req.traffic_split {
        if !(0..=100).contains(v) {
            return Err(Error::bad_request(format!("traffic for deployed model {k} must be between 0 and 100, got {v}")));
        }
        split.insert(deployed_id(k)?, *v);
    }
    let sum: i32 = split.values().sum();
    if sum != 100 {
        return Err(Error::bad_request(format!("the traffic split sums to {sum}; it must sum to 100")));
    }
    let mut tx = core.db.begin().await?;
    sqlx::query("SELECT id FROM endpoints WHERE id = $1 FOR UPDATE").bind(e.id).execute(&mut *tx).await?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM deployed_models WHERE endpoint_id = $1 ORDER BY id").bind(e.id).fetch_all(&mut *tx).await?;
    if let Some(unknown) = split.keys().find(|k| !ids.contains(k)) {
        return Err(Error::bad_request(format!("endpoint '{name}' has no deployed model {unknown}")));
    }
    if let Some(missing) = ids.iter().find(|i| !split.contains_key(i)) {
        return Err(Error::bad_request(format!("the traffic split must name every deployed model; {missing} is missing")));
    }
    for (id, w) in &split {
        sqlx::query("UPDATE deployed_models SET traffic_percent = $2 WHERE id = $1").bind(id).bind(w).execute(&mut *tx).await?;
    }
    let details: serde_json::Map<String, Value> = split.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    audit::record(&mut tx, actor, Some(e.project_id), "endpoint.traffic", "endpoint", &e.name, Value::Object(details)).await?;
    notify(&mut tx).await?;
    tx.commit().await?;
    core.serving.invalidate();
    get_endpoint(core, actor, slug, name).await
}

/// The endpoint that serves a model, a version of it or an alias of it, if any (for the registry:
/// what is served cannot be deleted).
pub async fn serving_endpoint(conn: &mut PgConnection, model_id: i64, version_id: Option<i64>, alias: Option<&str>) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT p.slug || '/' || e.name FROM deployed_models d JOIN endpoints e ON e.id = d.endpoint_id JOIN projects p ON p.id = e.project_id
          WHERE d.model_id = $1 AND ($2::BIGINT IS NULL OR d.version_id = $2) AND ($3::TEXT IS NULL OR d.alias = $3)
          LIMIT 1",
    )
    .bind(model_id)
    .bind(version_id)
    .bind(alias)
    .fetch_optional(conn)
    .await?)
}

/// The dataset version a model version was trained on: its run's `dataset` param, or the
/// dataset its baseline came from (`name@vN`).
pub(crate) async fn training_data(core: &Core, version_id: i64) -> Result<Option<(String, i32)>> {
    let label: Option<String> = sqlx::query_scalar(
        "SELECT p.value FROM model_versions v JOIN run_params p ON p.run_id = v.run_id AND p.key = 'dataset' WHERE v.id = $1",
    )
    .bind(version_id)
    .fetch_optional(&core.db)
    .await?;
    let label = match label {
        Some(l) => Some(l),
        None => {
            let location: String = sqlx::query_scalar("SELECT storage_location FROM model_versions WHERE id = $1").bind(version_id).fetch_one(&core.db).await?;
            match model::files_at(&core.db, &location).await {
                Ok(files) => model::read_file(core, &files, "baseline.json")
                    .await?
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| v.get("dataset").and_then(|d| d.as_str()).map(str::to_string)),
                Err(_) => None,
            }
        }
    };
    Ok(label.and_then(|l| {
        let (d, v) = l.rsplit_once("@v")?;
        Some((d.to_string(), v.parse().ok()?))
    }))
}

/// What the endpoint page's "try it" form needs: the features of the model that takes the most
/// traffic, and a row of the dataset version it was trained on (or of its baseline dataset, for
/// an uploaded model; values as text), when known.
#[derive(Debug, Clone, Serialize)]
pub struct TryIt {
    pub features: Vec<input::Feature>,
    pub example: Option<Vec<String>>,
    pub classifier: bool,
}

pub async fn try_it(core: &Core, actor: &Actor, slug: &str, name: &str) -> Result<Option<TryIt>> {
    endpoint_ref(&core.db, actor, slug, name, Access::Read).await?;
    let route = route(core, slug, name).await?;
    let Some(main) = route.targets.iter().max_by_key(|t| (t.traffic_percent, std::cmp::Reverse(t.deployed_model_id))) else {
        return Ok(None);
    };
    let features = main.model.features.clone();
    let mut example = None;
    if let Some((dataset, version)) = training_data(core, main.model.version_id).await? {
        if let Ok(p) = crate::datasets::preview(core, actor, slug, &dataset, version, 0, 1).await {
            if let Some(row) = p.rows.first() {
                example = Some(
                    features
                        .iter()
                        .map(|f| p.columns.iter().position(|c| c.trim() == f.name).and_then(|i| row.get(i).cloned()).unwrap_or_default())
                        .collect(),
                );
            }
        }
    }
    Ok(Some(TryIt { features, example, classifier: main.model.is_classifier() }))
}

// ---- prediction ----

/// The routing table of an endpoint, from memory or read and loaded once.
pub async fn route(core: &Core, slug: &str, name: &str) -> Result<Arc<Route>> {
    let key = oip_name(slug, name);
    if let Some(r) = core.serving.cached_route(&key) {
        return Ok(r);
    }
    let row: Option<(i64, i64, f64)> = sqlx::query_as(
        "SELECT e.id, e.project_id, e.log_sample_rate FROM endpoints e JOIN projects p ON p.id = e.project_id WHERE p.slug = $1 AND e.name = $2",
    )
    .bind(slug)
    .bind(name)
    .fetch_optional(&core.db)
    .await?;
    let (endpoint_id, project_id, log_sample_rate) = row.ok_or_else(|| Error::not_found(format!("project '{slug}' has no endpoint '{name}'")))?;
    let deployed: Vec<(i64, String, i32, i64, Option<String>, i32, Value)> = sqlx::query_as(
        "SELECT d.id, m.name, v.version, v.id, d.alias, d.traffic_percent, d.explanation
           FROM deployed_models d JOIN registered_models m ON m.id = d.model_id
           LEFT JOIN registered_model_aliases a ON d.alias IS NOT NULL AND a.model_id = d.model_id AND a.alias = d.alias
           JOIN model_versions v ON v.id = COALESCE(d.version_id, a.version_id)
          WHERE d.endpoint_id = $1 ORDER BY d.id",
    )
    .bind(endpoint_id)
    .fetch_all(&core.db)
    .await?;
    let mut targets = Vec::with_capacity(deployed.len());
    for (id, model_name, version, version_id, alias, traffic_percent, explanation) in deployed {
        let model = core.serving.model(core, version_id).await?;
        // Checked at deploy time; an alias may since name a version it does not fit, and then
        // the defaults explain.
        let spec: explain::ExplanationSpec = serde_json::from_value(explanation).unwrap_or_default();
        let explainer = match explain::resolve(&spec, &model) {
            Ok(e) => e,
            Err(_) => explain::resolve(&explain::ExplanationSpec::default(), &model)?,
        };
        let model_version = format!("{model_name}/{version}");
        targets.push(RouteTarget { deployed_model_id: id, model_name, version, alias, traffic_percent, model, explainer, model_version });
    }
    let route = Arc::new(Route { endpoint_id, project_id, project_slug: slug.to_string(), name: name.to_string(), log_sample_rate, targets, oip: key.clone() });
    core.serving.routes.write().unwrap_or_else(|e| e.into_inner()).insert(key, route.clone());
    Ok(route)
}

/// Who may predict on an endpoint: the project's editors and admins, and predict-only tokens
/// that name the endpoint (while their user may predict there).
///
/// A granted decision is kept in the process's access cache (see [`crate::access_cache`]).
pub async fn authorize_predict(core: &Core, actor: &Actor, slug: &str, endpoint: &str) -> Result<()> {
    let key = oip_name(slug, endpoint);
    if core.access.may_predict(actor, &key) {
        return Ok(());
    }
    let epoch = crate::access_cache::epoch();
    projects::authorize_any_token(&core.db, actor, slug, Access::Write).await.map_err(|e| match e {
        Error::Forbidden(_) => Error::forbidden(format!("predicting on project '{slug}''s endpoints needs the editor role")),
        other => other,
    })?;
    if let Some(grant) = actor.token.filter(|t| t.predict_only) {
        let id: Option<i64> = sqlx::query_scalar("SELECT e.id FROM endpoints e JOIN projects p ON p.id = e.project_id WHERE p.slug = $1 AND e.name = $2")
            .bind(slug)
            .bind(endpoint)
            .fetch_optional(&core.db)
            .await?;
        let allowed = match id {
            Some(id) => crate::tokens::may_predict_on(&core.db, grant.token_id, id).await?,
            None => false,
        };
        if !allowed {
            return Err(Error::forbidden(format!("this API token may not predict on endpoint '{endpoint}'")));
        }
    }
    core.access.remember_predict(epoch, actor, &key);
    Ok(())
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// Each an object `{feature: value}` or an array of values in the model's feature order.
    #[schema(value_type = Vec<Object>)]
    pub instances: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictResponse {
    /// Per instance: `{"classes", "scores", "label"}` (classifiers) or `{"value"}` (regressors).
    #[schema(value_type = Vec<Object>)]
    pub predictions: Vec<Value>,
    pub deployed_model_id: String,
    /// `<model>/<version>` of the version that answered.
    pub model_version: String,
}

/// `:predict` (editors): one deployed model, picked by the traffic split, answers all instances.
pub async fn predict(core: &Core, actor: &Actor, slug: &str, name: &str, req: PredictRequest) -> Result<PredictResponse> {
    let started = std::time::Instant::now();
    authorize_predict(core, actor, slug, name).await?;
    if let Some(p) = &req.parameters {
        if !p.is_object() && !p.is_null() {
            return Err(Error::bad_request("'parameters' must be an object"));
        }
    }
    let route = route(core, slug, name).await?;
    let target = route.pick()?;
    let answer = input::columns_from_instances(&target.model.features, &req.instances)
        .and_then(|columns| target.model.predict(&columns))
        .map(|predictions| target.model.vertex_predictions(&predictions));
    let request = || json!({ "instances": req.instances });
    match answer {
        Ok(predictions) => {
            route.record(core, target, started, true, || (request(), json!({ "predictions": predictions })));
            Ok(PredictResponse {
                predictions,
                deployed_model_id: target.deployed_model_id.to_string(),
                model_version: target.model_version.clone(),
            })
        }
        Err(e) => {
            route.record(core, target, started, false, || (request(), json!({ "error": e.public_message() })));
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_rescaled_in_proportion() {
        assert_eq!(rescale(&[100], 80), vec![80]);
        assert_eq!(rescale(&[80, 20], 50), vec![40, 10]);
        assert_eq!(rescale(&[50, 50], 100), vec![50, 50]);
        assert_eq!(rescale(&[1, 1, 1], 100), vec![34, 33, 33]);
        assert_eq!(rescale(&[0, 0], 100), vec![50, 50]);
        assert_eq!(rescale(&[30, 0], 0), vec![0, 0]);
        for (w, t) in [(vec![13, 29, 58], 77), (vec![1, 2, 3, 4], 100), (vec![0, 0, 0], 100)] {
            assert_eq!(rescale(&w, t).iter().sum::<i32>(), t);
        }
        assert!(rescale(&[], 100).is_empty());
    }

    #[test]
    fn endpoint_names_are_checked() {
        assert!(check_endpoint_name("churn-prod-2").is_ok());
        for bad in ["", "Churn", "a.b", "-a", "a-", "a b", &"x".repeat(64)] {
            assert!(check_endpoint_name(bad).is_err(), "{bad}");
        }
    }
}
