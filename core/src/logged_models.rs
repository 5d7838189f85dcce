//! Logged models, in MLflow 3's model: a model logged from a run (`mlflow.<flavor>.log_model`)
//! is an entity of its experiment with an id (`m-<32 hex>`), its own artifacts
//! (`mlflow-artifacts:/<experiment>/models/<id>/artifacts`), params, tags and metrics, and a
//! status that turns READY once its files are uploaded. Runs record the models they output and
//! take as input. Every function authorises the caller against the experiment's project.

use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::projects::{self, Access};
use crate::search_filter::{self, Attribute, Target};
use crate::tracking::{self, check_key, check_params, check_tags, now_ms, pairs_of, upsert_pairs, Metric};
use crate::{audit, Actor, Error, Result};

pub const STATUSES: [&str; 3] = ["LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"];

/// A metric logged for a model, with the run that logged it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelMetric {
    pub metric: Metric,
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoggedModel {
    pub model_id: String,
    pub experiment_id: i64,
    pub name: String,
    pub model_type: String,
    pub source_run_id: Option<String>,
    pub status: String,
    pub status_message: String,
    pub creator_id: Option<i64>,
    pub creation_time: i64,
    pub last_updated_time: i64,
    pub lifecycle_stage: String,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub metrics: Vec<ModelMetric>,
    /// Registered model versions made from it: (registered model name, version).
    pub registrations: Vec<(String, i32)>,
}

/// Where a logged model's files are, for the MLflow client.
pub fn artifact_uri(experiment_id: i64, model_id: &str) -> String {
    format!("mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts")
}

impl LoggedModel {
    pub fn artifact_uri(&self) -> String {
        artifact_uri(self.experiment_id, &self.model_id)
    }
}

/// A logged model's row, after checking the caller's access.
pub struct ModelRef {
    pub id: i64,
    pub project_id: i64,
    pub experiment_id: i64,
    pub lifecycle_stage: String,
    /// The run that logged it: row id and run id.
    pub source_run: Option<(i64, String)>,
}

fn missing(model_id: &str) -> Error {
    Error::not_found(format!("Logged model with ID '{model_id}' not found."))
}

/// A logged model by its id (`m-…`), if the caller may do `access` in its project.
pub async fn model_ref(db: &PgPool, actor: &Actor, model_id: &str, access: Access) -> Result<ModelRef> {
    type Row = (i64, i64, i64, String, String, Option<i64>, Option<String>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT m.id, p.id, m.experiment_id, p.slug, m.lifecycle_stage, r.id, r.run_uuid FROM logged_models m
           JOIN experiments e ON e.id = m.experiment_id JOIN projects p ON p.id = e.project_id
           LEFT JOIN runs r ON r.id = m.source_run_id WHERE m.model_uuid = $1",
    )
    .bind(model_id)
    .fetch_optional(db)
    .await?;
    let (id, project_id, experiment_id, slug, lifecycle_stage, run_id, run_uuid) = row.ok_or_else(|| missing(model_id))?;
    projects::authorize(db, actor, &slug, access).await.map_err(|e| match e {
        Error::NotFound(_) => missing(model_id),
        other => other,
    })?;
    Ok(ModelRef { id, project_id, experiment_id, lifecycle_stage, source_run: run_id.zip(run_uuid) })
}

/// An active logged model (deleted ones are not found, as in MLflow).
async fn active_ref(db: &PgPool, actor: &Actor, model_id: &str, access: Access) -> Result<ModelRef> {
    let m = model_ref(db, actor, model_id, access).await?;
    if m.lifecycle_stage != "active" {
        return Err(missing(model_id));
    }
    Ok(m)
}

/// What a new logged model is made of.
#[derive(Debug, Default)]
pub struct NewModel<'a> {
    pub name: Option<&'a str>,
    pub model_type: Option<&'a str>,
    pub source_run_id: Option<&'a str>,
    pub params: &'a [(String, String)],
    pub tags: &'a [(String, String)],
}

/// Creates a logged model in an experiment (editors), PENDING until finalized.
pub async fn create(db: &PgPool, actor: &Actor, experiment_id: &str, new: NewModel<'_>) -> Result<LoggedModel> {
    let e = tracking::experiment(db, actor, experiment_id, Access::Write).await?;
    if e.lifecycle_stage != "active" {
        return Err(Error::bad_request(format!("The experiment {experiment_id} must be in the 'active' state.")));
    }
    let uuid = format!("m-{}", uuid::Uuid::new_v4().simple());
    let name = match new.name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => {
            check_key("model", n)?;
            n.to_string()
        }
        None => format!("model-{}", &uuid[2..10]),
    };
    if let Some(t) = new.model_type {
        if t.len() > tracking::MAX_KEY_LENGTH {
            return Err(Error::bad_request(format!("model_type is longer than {} characters", tracking::MAX_KEY_LENGTH)));
        }
    }
    check_params(new.params)?;
    check_tags(new.tags)?;
    let run = match new.source_run_id.filter(|r| !r.is_empty()) {
        Some(run_id) => {
            let r = tracking::run_ref(db, actor, run_id, Access::Write).await?;
            if r.experiment_id != e.id {
                return Err(Error::bad_request(format!(
                    "source_run_id '{run_id}' belongs to experiment {}, not {}",
                    r.experiment_id, e.id
                )));
            }
            Some(r.id)
        }
        None => None,
    };
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO logged_models (model_uuid, experiment_id, name, model_type, source_run_id, created_by, creation_time, last_updated_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(&uuid)
    .bind(e.id)
    .bind(&name)
    .bind(new.model_type.unwrap_or(""))
    .bind(run)
    .bind(actor.user_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    upsert_pairs(&mut tx, "logged_model_params", "model_id", id, new.params, true).await?;
    upsert_pairs(&mut tx, "logged_model_tags", "model_id", id, new.tags, true).await?;
    audit::record(&mut tx, actor, Some(e.project_id), "logged_model.create", "logged_model", &uuid, serde_json::json!({ "name": name })).await?;
    tx.commit().await?;
    load(db, &[id]).await?.pop().ok_or_else(|| missing(&uuid))
}

pub async fn get(db: &PgPool, actor: &Actor, model_id: &str) -> Result<LoggedModel> {
    let m = active_ref(db, actor, model_id, Access::Read).await?;
    load(db, &[m.id]).await?.pop().ok_or_else(|| missing(model_id))
}

/// Sets the status: READY once the files are uploaded, or UPLOAD_FAILED (editors).
pub async fn finalize(db: &PgPool, actor: &Actor, model_id: &str, status: &str) -> Result<LoggedModel> {
    if !["LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"].contains(&status) {
        return Err(Error::bad_request(format!(
            "Invalid status '{status}': a logged model is finalized as LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED"
        )));
    }
    let m = active_ref(db, actor, model_id, Access::Write).await?;
    sqlx::query("UPDATE logged_models SET status = $2, last_updated_time = $3 WHERE id = $1")
        .bind(m.id)
        .bind(status)
        .bind(now_ms())
        .execute(db)
        .await?;
    load(db, &[m.id]).await?.pop().ok_or_else(|| missing(model_id))
}

/// Soft-deletes a logged model (editors); its files stay until the experiment goes.
pub async fn delete(db: &PgPool, actor: &Actor, model_id: &str) -> Result<()> {
    let m = active_ref(db, actor, model_id, Access::Write).await?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_time = $2 WHERE id = $1")
        .bind(m.id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    audit::record(&mut tx, actor, Some(m.project_id), "logged_model.delete", "logged_model", model_id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_tags(db: &PgPool, actor: &Actor, model_id: &str, tags: &[(String, String)]) -> Result<LoggedModel> {
    check_tags(tags)?;
    let m = active_ref(db, actor, model_id, Access::Write).await?;
    let mut tx = db.begin().await?;
    upsert_pairs(&mut tx, "logged_model_tags", "model_id", m.id, tags, true).await?;
    sqlx::query("UPDATE logged_models SET last_updated_time = $2 WHERE id = $1").bind(m.id).bind(now_ms()).execute(&mut *tx).await?;
    tx.commit().await?;
    load(db, &[m.id]).await?.pop().ok_or_else(|| missing(model_id))
}

pub async fn delete_tag(db: &PgPool, actor: &Actor, model_id: &str, key: &str) -> Result<()> {
    let m = active_ref(db, actor, model_id, Access::Write).await?;
    let gone = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2").bind(m.id).bind(key).execute(db).await?;
    if gone.rows_affected() == 0 {
        return Err(Error::not_found(format!("No tag with key '{key}' on logged model {model_id}")));
    }
    Ok(())
}

pub async fn log_params(db: &PgPool, actor: &Actor, model_id: &str, params: &[(String, String)]) -> Result<()> {
    check_params(params)?;
    let m = active_ref(db, actor, model_id, Access::Write).await?;
    let mut tx = db.begin().await?;
    upsert_pairs(&mut tx, "logged_model_params", "model_id", m.id, params, true).await?;
    tx.commit().await?;
    Ok(())
}

/// Metrics a run logs for one of its models (log-batch entries with a `model_id`): kept for the
/// model, and in the run's history unless the run already holds that exact value.
pub async fn log_metrics(db: &PgPool, actor: &Actor, run_id: &str, model_id: &str, metrics: &[Metric]) -> Result<()> {
    for m in metrics {
        check_key("metric", &m.key)?;
    }
    let run = tracking::run_ref(db, actor, run_id, Access::Write).await?;
    tracking::check_active(&run, run_id)?;
    let model = active_ref(db, actor, model_id, Access::Write).await?;
    let (keys, values, times, steps) = crate::metric_store::columns(metrics);
    // The run's values folded, to tell which of these its history already holds.
    run.fold_metrics(db).await?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO logged_model_metrics (model_id, run_id, key, value, timestamp, step)
         SELECT $1, $2, k, v, t, s FROM UNNEST($3::text[], $4::float8[], $5::int8[], $6::int8[]) AS u(k, v, t, s)",
    )
    .bind(model.id)
    .bind(run.id)
    .bind(&keys)
    .bind(&values)
    .bind(&times)
    .bind(&steps)
    .execute(&mut *tx)
    .await?;
    // PostgreSQL compares NaN equal to NaN, so a NaN logged before counts as held.
    let fresh: Vec<(String, f64, i64, i64)> = sqlx::query_as(
        "SELECT k, v, t, s FROM UNNEST($2::text[], $3::float8[], $4::int8[], $5::int8[]) AS u(k, v, t, s)
          WHERE NOT EXISTS (SELECT 1 FROM run_metric_chunks c, unnest(c.vals, c.timestamps, c.steps) AS m(v, t, s)
                             WHERE c.run_id = $1 AND c.key = u.k AND (u.s, u.t) BETWEEN (c.first_step, c.first_timestamp) AND (c.last_step, c.last_timestamp)
                               AND m.s = u.s AND m.t = u.t AND m.v = u.v)",
    )
    .bind(run.id)
    .bind(&keys)
    .bind(&values)
    .bind(&times)
    .bind(&steps)
    .fetch_all(&mut *tx)
    .await?;
    let fresh: Vec<Metric> = fresh.into_iter().map(|(key, value, timestamp, step)| Metric { key, value, timestamp, step }).collect();
    crate::metric_store::append(&mut tx, run.id, &fresh).await?;
    tx.commit().await?;
    Ok(())
}

/// Records models a run produced (MLflow's log-outputs), with the step they were logged at.
pub async fn log_outputs(db: &PgPool, actor: &Actor, run_id: &str, outputs: &[(String, i64)]) -> Result<()> {
    let run = tracking::run_ref(db, actor, run_id, Access::Write).await?;
    tracking::check_active(&run, run_id)?;
    let mut tx = db.begin().await?;
    for (model_id, step) in outputs {
        let m = active_ref(db, actor, model_id, Access::Read).await?;
        sqlx::query("INSERT INTO run_model_outputs (run_id, model_id, step) VALUES ($1, $2, $3) ON CONFLICT (run_id, model_id) DO UPDATE SET step = EXCLUDED.step")
            .bind(run.id)
            .bind(m.id)
            .bind(step)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A dataset a run used, as MLflow's log-inputs describes it.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetInput {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    pub schema: String,
    pub profile: String,
    pub tags: Vec<(String, String)>,
    /// The dataset version of the run's project it names, as (dataset name, version), when it
    /// names one.
    pub dataset_version: Option<(String, i32)>,
}

/// Records datasets and models a run used (MLflow's log-inputs).
pub async fn log_inputs(db: &PgPool, actor: &Actor, run_id: &str, datasets: &[DatasetInput], models: &[String]) -> Result<()> {
    for d in datasets {
        if d.name.is_empty() || d.name.len() > 500 || d.digest.is_empty() || d.digest.len() > 36 {
            return Err(Error::bad_request(format!(
                "a dataset input needs a name (at most 500 characters) and a digest (at most 36); got name '{}' and digest '{}'",
                d.name, d.digest
            )));
        }
        if d.source.len() > 65_535 || d.schema.len() > 1_048_575 || d.profile.len() > 16_384 {
            return Err(Error::bad_request(format!("dataset input '{}' has a source, schema or profile over MLflow's limits", d.name)));
        }
        check_tags(&d.tags)?;
    }
    let run = tracking::run_ref(db, actor, run_id, Access::Write).await?;
    tracking::check_active(&run, run_id)?;
    let mut tx = db.begin().await?;
    for d in datasets {
        let version = trellis_dataset_version(&mut tx, run.project_id, &d.source).await?;
        let tags = serde_json::Value::Array(d.tags.iter().map(|(k, v)| serde_json::json!({ "key": k, "value": v })).collect());
        sqlx::query(
            "INSERT INTO run_dataset_inputs (run_id, name, digest, source_type, source, schema, profile, tags, dataset_version_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (run_id, name, digest) DO UPDATE SET tags = EXCLUDED.tags",
        )
        .bind(run.id)
        .bind(&d.name)
        .bind(&d.digest)
        .bind(&d.source_type)
        .bind(&d.source)
        .bind(&d.schema)
        .bind(&d.profile)
        .bind(tags)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    }
    for model_id in models {
        let m = active_ref(db, actor, model_id, Access::Read).await?;
        sqlx::query("INSERT INTO run_model_inputs (run_id, model_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(run.id)
            .bind(m.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The Trellis dataset version an MLflow dataset source names: a source (or a JSON source's
/// `uri`/`url`) containing `/projects/<project>/datasets/<dataset>/versions/<n>` of the run's
/// own project.
async fn trellis_dataset_version(tx: &mut sqlx::PgConnection, project_id: i64, source: &str) -> Result<Option<i64>> {
    let text = serde_json::from_str::<serde_json::Value>(source)
        .ok()
        .and_then(|v| v.get("uri").or_else(|| v.get("url")).and_then(|u| u.as_str()).map(str::to_string))
        .unwrap_or_else(|| source.to_string());
    let Some((_, rest)) = text.split_once("/projects/") else { return Ok(None) };
    let parts: Vec<&str> = rest.split(['/', '?', '#']).collect();
    let (slug, dataset, n) = match parts.as_slice() {
        [slug, "datasets", dataset, "versions", n, ..] => (*slug, *dataset, n.trim_start_matches('v')),
        _ => return Ok(None),
    };
    let Ok(n) = n.parse::<i32>() else { return Ok(None) };
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT v.id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id JOIN projects p ON p.id = d.project_id
          WHERE p.id = $1 AND p.slug = $2 AND d.name = $3 AND v.version = $4",
    )
    .bind(project_id)
    .bind(slug)
    .bind(dataset)
    .bind(n)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(id)
}

/// A run's inputs and outputs, for the run page and the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunLinks {
    pub datasets: Vec<DatasetInput>,
    pub model_inputs: Vec<String>,
    /// (model id, step)
    pub model_outputs: Vec<(String, i64)>,
}

type ModelRow = (i64, String, i64, String, String, Option<String>, String, String, Option<i64>, i64, i64, String);

/// Logged models with params, tags, metrics and registrations, in the order of `ids`.
pub(crate) async fn load(db: &PgPool, ids: &[i64]) -> Result<Vec<LoggedModel>> {
    let rows: Vec<ModelRow> = sqlx::query_as(
        "SELECT m.id, m.model_uuid, m.experiment_id, m.name, m.model_type, r.run_uuid, m.status, m.status_message, m.created_by,
                m.creation_time, m.last_updated_time, m.lifecycle_stage
           FROM logged_models m LEFT JOIN runs r ON r.id = m.source_run_id WHERE m.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut params = pairs_of(db, "logged_model_params", "model_id", ids).await?;
    let mut tags = pairs_of(db, "logged_model_tags", "model_id", ids).await?;
    let metrics: Vec<(i64, String, f64, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT x.model_id, x.key, x.value, x.timestamp, x.step, r.run_uuid FROM logged_model_metrics x LEFT JOIN runs r ON r.id = x.run_id
          WHERE x.model_id = ANY($1) ORDER BY x.key, x.step, x.timestamp",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let registrations: Vec<(i64, String, i32)> = sqlx::query_as(
        "SELECT v.logged_model_id, rm.name, v.version FROM model_versions v JOIN registered_models rm ON rm.id = v.model_id
          WHERE v.logged_model_id = ANY($1) ORDER BY rm.name, v.version",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let mut by_id: std::collections::HashMap<i64, LoggedModel> = rows
        .into_iter()
        .map(|(id, model_id, experiment_id, name, model_type, source_run_id, status, status_message, creator_id, creation_time, last_updated_time, lifecycle_stage)| {
            (
                id,
                LoggedModel {
                    model_id,
                    experiment_id,
                    name,
                    model_type,
                    source_run_id,
                    status,
                    status_message,
                    creator_id,
                    creation_time,
                    last_updated_time,
                    lifecycle_stage,
                    params: params.remove(&id).unwrap_or_default(),
                    tags: tags.remove(&id).unwrap_or_default(),
                    metrics: Vec::new(),
                    registrations: Vec::new(),
                },
            )
        })
        .collect();
    for (id, key, value, timestamp, step, run_id) in metrics {
        if let Some(m) = by_id.get_mut(&id) {
            m.metrics.push(ModelMetric { metric: Metric { key, value, timestamp, step }, run_id });
        }
    }
    for (id, name, version) in registrations {
        if let Some(m) = by_id.get_mut(&id) {
            m.registrations.push((name, version));
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Logged models (the table is `m`).
pub const LOGGED_MODELS: Target = Target {
    id: "m.id",
    metrics: Some(("logged_model_metrics", "model_id")),
    params: Some(("logged_model_params", "model_id")),
    tags: Some(("logged_model_tags", "model_id")),
    derived_tags: &[],
    attributes: &[
        Attribute { name: "name", sql: "m.name", numeric: false, in_list: true },
        Attribute { name: "model_id", sql: "m.model_uuid", numeric: false, in_list: true },
        Attribute { name: "model_type", sql: "m.model_type", numeric: false, in_list: false },
        Attribute { name: "status", sql: "m.status", numeric: false, in_list: true },
        Attribute { name: "source_run_id", sql: "(SELECT run_uuid FROM runs WHERE id = m.source_run_id)", numeric: false, in_list: true },
        Attribute { name: "creation_timestamp", sql: "m.creation_time", numeric: true, in_list: false },
        Attribute { name: "last_updated_timestamp", sql: "m.last_updated_time", numeric: true, in_list: false },
    ],
    synonyms: &[("creation_time", "creation_timestamp"), ("last_updated_time", "last_updated_timestamp"), ("run_id", "source_run_id")],
    default_order: "m.creation_time DESC, m.id DESC",
    missing_tag_is_not_equal: false,
    unique_keys: false,
    metrics_scope: None,
};

/// Active logged models of the given experiments matching a filter (MLflow's grammar over
/// `name`, `model_id`, `status`, `model_type`, `source_run_id`, times, `metrics.`, `params.`,
/// `tags.`), in `order_by` order then newest first; paged by offset.
pub async fn search(
    db: &PgPool,
    actor: &Actor,
    experiment_ids: &[String],
    filter: &str,
    order_by: &[String],
    max_results: i64,
    offset: i64,
) -> Result<Vec<LoggedModel>> {
    let clauses = search_filter::parse_filter_for(&LOGGED_MODELS, filter)?;
    let orders = search_filter::parse_order_for(&LOGGED_MODELS, order_by)?;
    if experiment_ids.is_empty() {
        return Err(Error::bad_request("experiment_ids must name at least one experiment"));
    }
    let mut ids = Vec::new();
    for e in experiment_ids {
        ids.push(tracking::experiment(db, actor, e, Access::Read).await?.id);
    }
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT m.id FROM logged_models m WHERE m.lifecycle_stage = 'active' AND m.experiment_id = ANY(");
    q.push_bind(ids).push(")");
    search_filter::push_where(&mut q, &LOGGED_MODELS, &clauses);
    search_filter::push_order(&mut q, &LOGGED_MODELS, &orders, &clauses);
    q.push(" LIMIT ").push_bind(max_results).push(" OFFSET ").push_bind(offset);
    let found: Vec<i64> = q.build_query_scalar().fetch_all(db).await?;
    load(db, &found).await
}

/// The logged models of a run (those it is the source of), for the run page.
pub async fn of_run(db: &PgPool, actor: &Actor, run_id: &str) -> Result<Vec<LoggedModel>> {
    let r = tracking::run_ref(db, actor, run_id, Access::Read).await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM logged_models WHERE lifecycle_stage = 'active' AND (source_run_id = $1 OR id IN (SELECT model_id FROM run_model_outputs WHERE run_id = $1)) ORDER BY id",
    )
    .bind(r.id)
    .fetch_all(db)
    .await?;
    load(db, &ids).await
}
