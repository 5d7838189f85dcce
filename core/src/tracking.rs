//! Experiment tracking, in MLflow's model: experiments belong to projects; runs hold write-once
//! params, metrics (full history, and the latest value per key) and tags. Times are milliseconds
//! since the epoch. Every function authorises the caller against the experiment's project.
//!
//! Experiment names seen through the MLflow API: with a token scoped to a project, the plain
//! name within that project; otherwise `<project-slug>/<name>`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::logged_models::{DatasetInput, RunLinks};
use crate::metric_store::{self, Point};
use crate::projects::{self, Access};
use crate::run_cache::{KeptRun, RunCache};
use crate::{audit, Actor, Error, Result};
use crate::types::Role;

/// MLflow's limits.
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;
pub const MAX_BATCH_ENTITIES: usize = 1000;
pub const MAX_KEY_LENGTH: usize = 250;
pub const MAX_PARAM_VALUE_LENGTH: usize = 6000;
pub const MAX_TAG_VALUE_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_RESULTS: i64 = 50_000;

pub const STATUSES: [&str; 5] = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"];

#[derive(Debug, Clone, Serialize)]
pub struct Experiment {
    pub id: i64,
    pub project_id: i64,
    pub project_slug: String,
    pub name: String,
    pub lifecycle_stage: String,
    pub creation_time: i64,
    pub last_update_time: i64,
    pub tags: Vec<(String, String)>,
}

impl Experiment {
    /// The name as the caller addresses it (see the module documentation).
    pub fn display_name(&self, actor: &Actor) -> String {
        if actor.token_project() == Some(self.project_id) {
            self.name.clone()
        } else {
            format!("{}/{}", self.project_slug, self.name)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub run_uuid: String,
    pub experiment_id: i64,
    pub name: String,
    pub user_name: String,
    pub status: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub lifecycle_stage: String,
    /// Latest value per key.
    pub metrics: Vec<Metric>,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// Datasets and models it used, models it logged.
    pub links: RunLinks,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Splits a name given through the MLflow API into (project slug, experiment name).
async fn resolve_name(db: &PgPool, actor: &Actor, raw: &str) -> Result<(String, String)> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Error::bad_request("experiment name must not be empty"));
    }
    if raw.chars().count() > MAX_EXPERIMENT_NAME_LENGTH {
        return Err(Error::bad_request(format!("experiment name is longer than {MAX_EXPERIMENT_NAME_LENGTH} characters")));
    }
    if let Some(pid) = actor.token_project() {
        let slug: String = sqlx::query_scalar("SELECT slug FROM projects WHERE id = $1").bind(pid).fetch_one(db).await?;
        let name = raw.strip_prefix(&format!("{slug}/")).unwrap_or(raw);
        return Ok((slug, name.to_string()));
    }
    match raw.split_once('/') {
        Some((slug, name)) if !slug.is_empty() && !name.trim().is_empty() => Ok((slug.to_string(), name.trim().to_string())),
        _ => Err(Error::bad_request(format!(
            "experiment name '{raw}' must be '<project>/<name>' (or use a token scoped to a project)"
        ))),
    }
}

const EXPERIMENT_SELECT: &str = "SELECT e.id, e.project_id, p.slug, e.name, e.lifecycle_stage, e.creation_time, e.last_update_time
   FROM experiments e JOIN projects p ON p.id = e.project_id";

type ExperimentRow = (i64, i64, String, String, String, i64, i64);

async fn with_tags(db: &PgPool, rows: Vec<ExperimentRow>) -> Result<Vec<Experiment>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut tags = pairs_of(db, "experiment_tags", "experiment_id", &ids).await?;
    Ok(rows
        .into_iter()
        .map(|(id, project_id, project_slug, name, lifecycle_stage, creation_time, last_update_time)| Experiment {
            id,
            project_id,
            project_slug,
            name,
            lifecycle_stage,
            creation_time,
            last_update_time,
            tags: tags.remove(&id).unwrap_or_default(),
        })
        .collect())
}

fn experiment_missing(id: &str) -> Error {
    Error::not_found(format!("No Experiment with id={id} exists"))
}

/// [`projects::decide`] with the caller's membership role as a query read it (text, or none).
fn decide_as_stored(
    actor: &Actor,
    project_id: i64,
    member: Option<String>,
    access: Access,
    not_found: impl Fn() -> Error,
    slug: &str,
) -> Result<()> {
    let member: Option<Role> = member.map(|r| r.parse()).transpose()?;
    projects::decide(actor, project_id, member, access, not_found, slug).map(|_| ())
}

/// What writing into an experiment needs, looked up with the caller's membership in one query.
struct ExperimentRef {
    id: i64,
    lifecycle_stage: String,
    /// Whether any of its runs has metric values not yet folded (see [`metric_store`]).
    has_pending_metrics: bool,
}

/// An experiment id as MLflow clients send it (a number in a string).
fn experiment_number(id: &str) -> Result<i64> {
    id.trim().parse().map_err(|_| Error::bad_request(format!("experiment_id '{id}' is not a number")))
}

/// An experiment's [`ExperimentRef`], if the caller may do `access` in its project.
async fn experiment_ref(db: &PgPool, actor: &Actor, id: &str, access: Access) -> Result<ExperimentRef> {
    let n = experiment_number(id)?;
    let row: Option<(i64, String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT p.id, p.slug, e.lifecycle_stage, m.role, EXISTS (SELECT 1 FROM run_metric_pending x WHERE x.experiment_id = e.id)
           FROM experiments e JOIN projects p ON p.id = e.project_id
           LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = $2
          WHERE e.id = $1",
    )
    .bind(n)
    .bind(actor.user_id)
    .fetch_optional(db)
    .await?;
    let (project_id, slug, lifecycle_stage, member, has_pending_metrics) = row.ok_or_else(|| experiment_missing(id))?;
    decide_as_stored(actor, project_id, member, access, || experiment_missing(id), &slug)?;
    Ok(ExperimentRef { id: n, lifecycle_stage, has_pending_metrics })
}

/// An experiment by id, if the caller may do `access` in its project.
pub async fn experiment(db: &PgPool, actor: &Actor, id: &str, access: Access) -> Result<Experiment> {
    let n = experiment_number(id)?;
    let row: Option<ExperimentRow> =
        sqlx::query_as(&format!("{EXPERIMENT_SELECT} WHERE e.id = $1")).bind(n).fetch_optional(db).await?;
    let row = row.ok_or_else(|| experiment_missing(id))?;
    projects::authorize(db, actor, &row.2, access).await.map_err(|e| match e {
        Error::NotFound(_) => experiment_missing(id),
        other => other,
    })?;
    Ok(with_tags(db, vec![row]).await?.remove(0))
}

pub async fn experiment_by_name(db: &PgPool, actor: &Actor, raw: &str) -> Result<Experiment> {
    let missing = || Error::not_found(format!("Could not find experiment with name '{raw}'"));
    let (slug, name) = resolve_name(db, actor, raw).await?;
    projects::authorize(db, actor, &slug, Access::Read).await.map_err(|e| match e {
        Error::NotFound(_) => missing(),
        other => other,
    })?;
    let row: Option<ExperimentRow> = sqlx::query_as(&format!("{EXPERIMENT_SELECT} WHERE p.slug = $1 AND e.name = $2"))
        .bind(&slug)
        .bind(&name)
        .fetch_optional(db)
        .await?;
    Ok(with_tags(db, vec![row.ok_or_else(missing)?]).await?.remove(0))
}

pub(crate) fn check_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LENGTH {
        return Err(Error::bad_request(format!("{what} name '{key}' must be 1 to {MAX_KEY_LENGTH} characters")));
    }
    let ok = key.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '/' | ':'));
    if !ok || key.starts_with('/') || key.split('/').any(|p| p == ".." || p == ".") {
        return Err(Error::bad_request(format!(
            "Invalid {what} name: '{key}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/), and may not be a relative path"
        )));
    }
    Ok(())
}

/// Checks tag names and value lengths.
pub(crate) fn check_tags(tags: &[(String, String)]) -> Result<()> {
    check_pairs("tag", "Tag", MAX_TAG_VALUE_LENGTH, tags)
}

/// Checks key names (`what`: `tag`, `param`) and that no value is longer than `limit`.
fn check_pairs(what: &str, label: &str, limit: usize, pairs: &[(String, String)]) -> Result<()> {
    for (k, v) in pairs {
        check_key(what, k)?;
        if v.len() > limit {
            return Err(Error::bad_request(format!(
                "{label} value for key '{k}' had length {}, which exceeded length limit of {limit}",
                v.len()
            )));
        }
    }
    Ok(())
}

/// Writes key/value pairs belonging to one row (`column` = `id`) into a key/value table
/// (`run_params`, `run_tags`, `experiment_tags`, `logged_model_tags`, …) with one statement. A
/// key given twice takes its last value; an existing key keeps its value (`replace` false) or
/// takes the new one.
pub(crate) async fn upsert_pairs(
    tx: &mut sqlx::PgConnection,
    table: &'static str,
    column: &'static str,
    id: i64,
    pairs: &[(String, String)],
    replace: bool,
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let on_conflict = if replace { "DO UPDATE SET value = EXCLUDED.value" } else { "DO NOTHING" };
    let (keys, values): (Vec<&str>, Vec<&str>) = last_per_key(pairs).into_iter().unzip();
    sqlx::query(&format!(
        "INSERT INTO {table} ({column}, key, value) SELECT $1, k, v FROM UNNEST($2::text[], $3::text[]) AS t(k, v)
         ON CONFLICT ({column}, key) {on_conflict}"
    ))
    .bind(id)
    .bind(&keys)
    .bind(&values)
    .execute(tx)
    .await?;
    Ok(())
}

/// The tag MLflow keeps equal to a run's name. It is not stored in `run_tags`: a run has it
/// when `runs.name_tagged` (new runs do; deleting the tag clears it, setting it or renaming the
/// run sets it again), with the run's name as its value.
pub const RUN_NAME_TAG: &str = "mlflow.runName";

/// Checks a run's name as the value of its name tag.
fn check_run_name(name: &str) -> Result<()> {
    check_tags(&[(RUN_NAME_TAG.to_string(), name.to_string())])
}

/// Sets tags of a run, as MLflow does: [`RUN_NAME_TAG`] renames the run (an empty name is
/// ignored), the others are written to `run_tags` (a key given twice takes its last value).
pub(crate) async fn set_run_tags(tx: &mut sqlx::PgConnection, run_id: i64, tags: &[(String, String)]) -> Result<()> {
    let (names, others): (Vec<(String, String)>, Vec<(String, String)>) = tags.iter().cloned().partition(|(k, _)| k == RUN_NAME_TAG);
    if let Some((_, name)) = names.last().filter(|(_, v)| !v.trim().is_empty()) {
        sqlx::query("UPDATE runs SET name = $2, name_tagged = true WHERE id = $1").bind(run_id).bind(name).execute(&mut *tx).await?;
    }
    upsert_pairs(tx, "run_tags", "run_id", run_id, &others, true).await
}

/// The key/value rows of several owners from a key/value table (`run_tags`, `experiment_tags`,
/// …; `column` names the owner), by owner, in key order: what [`upsert_pairs`] writes.
pub(crate) async fn pairs_of(
    db: &PgPool,
    table: &'static str,
    column: &'static str,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<(String, String)>>> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as(&format!("SELECT {column}, key, value FROM {table} WHERE {column} = ANY($1) ORDER BY key"))
            .bind(ids)
            .fetch_all(db)
            .await?;
    let mut by_owner: std::collections::HashMap<i64, Vec<(String, String)>> = std::collections::HashMap::new();
    for (id, k, v) in rows {
        by_owner.entry(id).or_default().push((k, v));
    }
    Ok(by_owner)
}

/// Checks param names and value lengths.
pub(crate) fn check_params(params: &[(String, String)]) -> Result<()> {
    check_pairs("param", "Param", MAX_PARAM_VALUE_LENGTH, params)
}

/// The last value of each key (a batch may set a key twice).
fn last_per_key(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut last: Vec<(&str, &str)> = Vec::new();
    for (k, v) in pairs {
        match last.iter_mut().find(|(lk, _)| *lk == k) {
            Some(slot) => slot.1 = v,
            None => last.push((k, v)),
        }
    }
    last
}

/// Creates an experiment (editors of its project). Returns its id.
pub async fn create_experiment(db: &PgPool, actor: &Actor, raw_name: &str, tags: &[(String, String)]) -> Result<i64> {
    let (slug, name) = resolve_name(db, actor, raw_name).await?;
    let (project, _) = projects::authorize(db, actor, &slug, Access::Write).await?;
    check_tags(tags)?;
    let now = now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO experiments (project_id, name, created_by, creation_time, last_update_time) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(project.id)
    .bind(&name)
    .bind(actor.user_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| crate::error::on_unique(e, || format!("Experiment(name={raw_name}) already exists.")))?;
    upsert_pairs(&mut tx, "experiment_tags", "experiment_id", id, tags, true).await?;
    audit::record(&mut tx, actor, Some(project.id), "experiment.create", "experiment", &name, serde_json::json!({ "id": id })).await?;
    tx.commit().await?;
    Ok(id)
}

const EXPERIMENT_ATTRIBUTES_TAIL: [crate::search_filter::Attribute; 3] = [
    crate::search_filter::Attribute { name: "experiment_id", sql: "e.id::text", numeric: false, in_list: true },
    crate::search_filter::Attribute { name: "creation_time", sql: "e.creation_time", numeric: true, in_list: false },
    crate::search_filter::Attribute { name: "last_update_time", sql: "e.last_update_time", numeric: true, in_list: false },
];

/// Experiments, named as a caller without a project-scoped token sees them (`<project>/<name>`).
pub const EXPERIMENTS: crate::search_filter::Target = crate::search_filter::Target {
    id: "e.id",
    metrics: None,
    params: None,
    tags: Some(("experiment_tags", "experiment_id")),
    derived_tags: &[],
    attributes: &[
        crate::search_filter::Attribute { name: "name", sql: "(p.slug || '/' || e.name)", numeric: false, in_list: true },
        EXPERIMENT_ATTRIBUTES_TAIL[0],
        EXPERIMENT_ATTRIBUTES_TAIL[1],
        EXPERIMENT_ATTRIBUTES_TAIL[2],
    ],
    synonyms: &[("creation_timestamp", "creation_time"), ("last_updated_timestamp", "last_update_time"), ("id", "experiment_id")],
    default_order: "e.creation_time DESC, e.id DESC",
    missing_tag_is_not_equal: false,
    unique_keys: false,
    metrics_scope: None,
};

/// Experiments, named as a caller with a project-scoped token sees them (plain names).
pub const EXPERIMENTS_SCOPED: crate::search_filter::Target = crate::search_filter::Target {
    attributes: &[
        crate::search_filter::Attribute { name: "name", sql: "e.name", numeric: false, in_list: true },
        EXPERIMENT_ATTRIBUTES_TAIL[0],
        EXPERIMENT_ATTRIBUTES_TAIL[1],
        EXPERIMENT_ATTRIBUTES_TAIL[2],
    ],
    ..EXPERIMENTS
};

/// Experiments the caller can read matching MLflow's filter grammar (`name`, `creation_time`,
/// `last_update_time`, `tags.`), in `order_by` order then newest first; by lifecycle stage;
/// paged by offset tokens.
pub async fn search_experiments(
    db: &PgPool,
    actor: &Actor,
    view: ViewType,
    filter: &str,
    order_by: &[String],
    max_results: i64,
    offset: i64,
) -> Result<Vec<Experiment>> {
    let target = if actor.token_project().is_some() { &EXPERIMENTS_SCOPED } else { &EXPERIMENTS };
    let clauses = crate::search_filter::parse_filter_for(target, filter)?;
    let orders = crate::search_filter::parse_order_for(target, order_by)?;
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!("{EXPERIMENT_SELECT} WHERE TRUE"));
    if let Some(pid) = actor.token_project() {
        q.push(" AND e.project_id = ").push_bind(pid);
    }
    if !actor.is_instance_admin {
        q.push(" AND e.project_id IN (SELECT project_id FROM project_members WHERE user_id = ")
            .push_bind(actor.user_id.unwrap_or(-1))
            .push(")");
    }
    view.push_filter(&mut q, "e.lifecycle_stage");
    crate::search_filter::push_where(&mut q, target, &clauses);
    crate::search_filter::push_order(&mut q, target, &orders, &clauses);
    q.push(" LIMIT ").push_bind(max_results).push(" OFFSET ").push_bind(offset);
    let rows: Vec<ExperimentRow> = q.build_query_as().fetch_all(db).await?;
    with_tags(db, rows).await
}

/// Which lifecycle stages a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewType {
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    pub fn parse(s: Option<&str>) -> Result<Self> {
        match s.unwrap_or("ACTIVE_ONLY") {
            "ACTIVE_ONLY" | "1" => Ok(ViewType::ActiveOnly),
            "DELETED_ONLY" | "2" => Ok(ViewType::DeletedOnly),
            "ALL" | "3" => Ok(ViewType::All),
            other => Err(Error::bad_request(format!("view_type '{other}' is not ACTIVE_ONLY, DELETED_ONLY or ALL"))),
        }
    }

    fn push_filter(self, q: &mut QueryBuilder<Postgres>, column: &str) {
        match self {
            ViewType::ActiveOnly => q.push(format!(" AND {column} = 'active'")),
            ViewType::DeletedOnly => q.push(format!(" AND {column} = 'deleted'")),
            ViewType::All => q.push(""),
        };
    }
}

/// Renames, deletes or restores an experiment (editors).
pub async fn update_experiment(db: &PgPool, actor: &Actor, id: &str, new_name: Option<&str>, stage: Option<&str>) -> Result<()> {
    let e = experiment(db, actor, id, Access::Write).await?;
    let mut tx = db.begin().await?;
    if let Some(raw) = new_name {
        let (slug, name) = resolve_name(db, actor, raw).await?;
        if slug != e.project_slug {
            return Err(Error::bad_request("an experiment cannot be moved to another project"));
        }
        sqlx::query("UPDATE experiments SET name = $2, last_update_time = $3 WHERE id = $1")
            .bind(e.id)
            .bind(&name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(|err| crate::error::on_unique(err, || format!("Experiment(name={raw}) already exists.")))?;
        audit::record(&mut tx, actor, Some(e.project_id), "experiment.rename", "experiment", &name, serde_json::json!({ "from": e.name })).await?;
    }
    if let Some(stage) = stage {
        if stage == "active" && e.lifecycle_stage == "active" {
            return Err(Error::bad_request(format!("Cannot restore an active experiment: id={id}")));
        }
        if stage == "deleted" && e.lifecycle_stage == "deleted" {
            return Err(Error::bad_request(format!("Cannot delete an already deleted experiment: id={id}")));
        }
        sqlx::query("UPDATE experiments SET lifecycle_stage = $2, last_update_time = $3 WHERE id = $1")
            .bind(e.id)
            .bind(stage)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        // Runs follow their experiment, as in MLflow.
        sqlx::query("UPDATE runs SET lifecycle_stage = $2, deleted_time = CASE WHEN $2 = 'deleted' THEN $3 ELSE NULL END WHERE experiment_id = $1")
            .bind(e.id)
            .bind(stage)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let action = if stage == "deleted" { "experiment.delete" } else { "experiment.restore" };
        audit::record(&mut tx, actor, Some(e.project_id), action, "experiment", &e.name, serde_json::json!({})).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A run's row with its project, after checking the caller's access.
pub struct RunRef {
    pub id: i64,
    pub project_id: i64,
    pub experiment_id: i64,
    pub lifecycle_stage: String,
    /// Whether it has metric values not yet folded (see [`metric_store`]).
    pub has_pending_metrics: bool,
}

impl RunRef {
    /// Folds its pending metric values, if it has any, before they are read.
    pub async fn fold_metrics(&self, db: &PgPool) -> Result<()> {
        if self.has_pending_metrics {
            metric_store::fold_runs(db, &[self.id]).await?;
        }
        Ok(())
    }
}

fn run_missing(run_id: &str) -> Error {
    Error::not_found(format!("Run with id={run_id} not found"))
}

/// A run by its id, after checking the caller may do `access` in its project.
pub async fn run_ref(db: &PgPool, actor: &Actor, run_id: &str, access: Access) -> Result<RunRef> {
    // The run, its project and the caller's membership there, in one query.
    let row: Option<(i64, i64, i64, String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT r.id, p.id, r.experiment_id, p.slug, r.lifecycle_stage, m.role, EXISTS (SELECT 1 FROM run_metric_pending x WHERE x.run_id = r.id)
           FROM runs r JOIN experiments e ON e.id = r.experiment_id JOIN projects p ON p.id = e.project_id
           LEFT JOIN project_members m ON m.project_id = p.id AND m.user_id = $2
          WHERE r.run_uuid = $1",
    )
    .bind(run_id)
    .bind(actor.user_id)
    .fetch_optional(db)
    .await?;
    let (id, project_id, experiment_id, slug, lifecycle_stage, member, has_pending_metrics) = row.ok_or_else(|| run_missing(run_id))?;
    decide_as_stored(actor, project_id, member, access, || run_missing(run_id), &slug)?;
    Ok(RunRef { id, project_id, experiment_id, lifecycle_stage, has_pending_metrics })
}

pub(crate) fn check_active(r: &RunRef, run_id: &str) -> Result<()> {
    if r.lifecycle_stage != "active" {
        return Err(Error::bad_request(format!(
            "The run {run_id} must be in the 'active' state. Current state is {}.",
            r.lifecycle_stage
        )));
    }
    Ok(())
}

/// Starts a run in an experiment (editors).
pub async fn create_run(
    core: &crate::Core,
    actor: &Actor,
    experiment_id: &str,
    name: Option<&str>,
    start_time: Option<i64>,
    tags: &[(String, String)],
) -> Result<Run> {
    actor.require_full_token()?;
    let n = experiment_number(experiment_id)?;
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    check_tags(tags)?;
    let tags = last_per_key(tags);
    let named = |n: &&str| !n.trim().is_empty();
    let tag_name = tags.iter().find(|(k, _)| *k == RUN_NAME_TAG).map(|(_, v)| *v).filter(named);
    if let (Some(n), Some(t)) = (name.filter(named), tag_name) {
        if n != t {
            return Err(Error::bad_request(format!(
                "Both 'run_name' argument and '{RUN_NAME_TAG}' tag are specified, but with different values (run_name='{n}', {RUN_NAME_TAG}='{t}')."
            )));
        }
    }
    let run_name = name.filter(named).or(tag_name).map_or_else(|| format!("run-{}", &uuid[..8]), str::to_string);
    check_run_name(&run_name)?;
    let user_name = tags.iter().find(|(k, _)| *k == "mlflow.user").map_or_else(|| actor.email.clone(), |(_, v)| v.to_string());
    let start_time = start_time.unwrap_or_else(now_ms);
    // The name tag is the run's name (see `RUN_NAME_TAG`); the others are stored.
    let mut tags: Vec<(String, String)> =
        tags.into_iter().filter(|(k, _)| *k != RUN_NAME_TAG).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tags.sort();
    // The check that the experiment is active and the caller may write to it, the run, its tags
    // and the audit row in one statement, shared with concurrent creations (atomic for each
    // run). When the check fails nothing is written, and the full lookup says why.
    let new_run = crate::run_creation::NewRun { uuid, experiment_id: n, name: run_name, user_name, start_time, tags, actor: actor.clone() };
    let Some(created) = core.run_creator.create(&core.db, new_run).await? else {
        // Missing, closed to the caller, or not active; or its access changed meanwhile.
        let e = experiment_ref(&core.db, actor, experiment_id, Access::Write).await?;
        if e.lifecycle_stage != "active" {
            return Err(Error::bad_request(format!("The experiment {experiment_id} must be in the 'active' state.")));
        }
        return Err(Error::conflict(format!("The experiment {experiment_id} changed while the run was created; try again.")));
    };
    // The new run as stored (no need to read it back): running, active, with its tags.
    let mut tags = created.tags;
    let at = tags.partition_point(|(k, _)| k.as_str() < RUN_NAME_TAG);
    tags.insert(at, (RUN_NAME_TAG.to_string(), created.name.clone()));
    Ok(Run {
        run_uuid: created.uuid,
        experiment_id: n,
        name: created.name,
        user_name: created.user_name,
        status: "RUNNING".into(),
        start_time,
        end_time: None,
        lifecycle_stage: "active".into(),
        links: RunLinks::default(),
        metrics: Vec::new(),
        params: Vec::new(),
        tags,
    })
}

/// A run as it is now (its pending metric values folded first).
async fn load_run(db: &PgPool, id: i64) -> Result<Run> {
    metric_store::fold_runs(db, &[id]).await?;
    load_run_rows(db, &[id]).await?.pop().map(run_of).ok_or_else(|| Error::not_found("run vanished"))
}

/// A run's row with its latest metrics, params and tags as arrays in key order, and its
/// inputs and outputs.
#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    revision: i64,
    run_uuid: String,
    experiment_id: i64,
    name: String,
    user_name: String,
    status: String,
    start_time: i64,
    end_time: Option<i64>,
    lifecycle_stage: String,
    metric_keys: Option<Vec<String>>,
    metric_values: Option<Vec<f64>>,
    metric_times: Option<Vec<i64>>,
    metric_steps: Option<Vec<i64>>,
    param_keys: Option<Vec<String>>,
    param_values: Option<Vec<String>>,
    tag_keys: Option<Vec<String>>,
    tag_values: Option<Vec<String>>,
    dataset_inputs: Option<sqlx::types::Json<Vec<DatasetInputRow>>>,
    model_inputs: Option<Vec<String>>,
    output_models: Option<Vec<String>>,
    output_steps: Option<Vec<i64>>,
}

#[derive(serde::Deserialize)]
struct DatasetInputRow {
    name: String,
    digest: String,
    source_type: String,
    source: String,
    schema: String,
    profile: String,
    tags: serde_json::Value,
    dataset: Option<String>,
    version: Option<i32>,
}

impl From<DatasetInputRow> for DatasetInput {
    fn from(d: DatasetInputRow) -> Self {
        let tags = d
            .tags
            .as_array()
            .map(|a| a.iter().filter_map(|t| Some((t.get("key")?.as_str()?.to_string(), t.get("value")?.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        DatasetInput {
            name: d.name,
            digest: d.digest,
            source_type: d.source_type,
            source: d.source,
            schema: d.schema,
            profile: d.profile,
            tags,
            dataset_version: d.dataset.zip(d.version),
        }
    }
}

/// `SELECT` of everything a run shows, from `p(id, pos)` (pushed by the caller after it) joined
/// to the run; rows come in `pos` order.
const RUN_SELECT: &str = "SELECT r.id, r.revision, r.run_uuid, r.experiment_id, r.name, r.user_name, r.status, r.start_time, r.end_time, r.lifecycle_stage,
        kv.metric_keys, kv.metric_values, kv.metric_times, kv.metric_steps, kv.param_keys, kv.param_values, kv.tag_keys, kv.tag_values,
        di.inputs AS dataset_inputs, mi.ids AS model_inputs, mo.ids AS output_models, mo.steps AS output_steps
   FROM ";
/// Latest metrics, params and tags come from one subquery per run (each part in its primary
/// key's order, so nothing is sorted); the link tables are only read for runs that have links.
const RUN_JOINS: &str = " JOIN runs r ON r.id = p.id
   LEFT JOIN LATERAL (
        SELECT array_agg(key) FILTER (WHERE kind = 0) metric_keys, array_agg(number) FILTER (WHERE kind = 0) metric_values,
               array_agg(timestamp) FILTER (WHERE kind = 0) metric_times, array_agg(step) FILTER (WHERE kind = 0) metric_steps,
               array_agg(key) FILTER (WHERE kind = 1) param_keys, array_agg(text) FILTER (WHERE kind = 1) param_values,
               array_agg(key) FILTER (WHERE kind = 2) tag_keys, array_agg(text) FILTER (WHERE kind = 2) tag_values
          FROM ((SELECT 0 kind, key, NULL::text text, value number, timestamp, step FROM run_latest_metrics WHERE run_id = r.id ORDER BY key)
                UNION ALL (SELECT 1, key, value, NULL, NULL, NULL FROM run_params WHERE run_id = r.id ORDER BY key)
                UNION ALL (SELECT 2, key, value, NULL, NULL, NULL
                             FROM (SELECT key, value FROM run_tags WHERE run_id = r.id
                                   UNION ALL SELECT 'mlflow.runName', r.name WHERE r.name_tagged) t ORDER BY key)) u) kv ON true
   LEFT JOIN LATERAL (SELECT jsonb_agg(jsonb_build_object('name', i.name, 'digest', i.digest, 'source_type', i.source_type,
                                                          'source', i.source, 'schema', i.schema, 'profile', i.profile,
                                                          'tags', i.tags, 'dataset', d.name, 'version', v.version) ORDER BY i.name) inputs
                        FROM run_dataset_inputs i
                        LEFT JOIN dataset_versions v ON v.id = i.dataset_version_id LEFT JOIN datasets d ON d.id = v.dataset_id
                       WHERE i.run_id = r.id AND r.has_links) di ON true
   LEFT JOIN LATERAL (SELECT array_agg(lm.model_uuid ORDER BY lm.id) ids
                        FROM run_model_inputs x JOIN logged_models lm ON lm.id = x.model_id WHERE x.run_id = r.id AND r.has_links) mi ON true
   LEFT JOIN LATERAL (SELECT array_agg(lm.model_uuid ORDER BY lm.id) ids, array_agg(x.step ORDER BY lm.id) steps
                        FROM run_model_outputs x JOIN logged_models lm ON lm.id = x.model_id WHERE x.run_id = r.id AND r.has_links) mo ON true
  ORDER BY p.pos";

fn run_of(r: RunRow) -> Run {
    let zip = |k: Option<Vec<String>>, v: Option<Vec<String>>| -> Vec<(String, String)> {
        k.unwrap_or_default().into_iter().zip(v.unwrap_or_default()).collect()
    };
    let metrics = r
        .metric_keys
        .unwrap_or_default()
        .into_iter()
        .zip(r.metric_values.unwrap_or_default())
        .zip(r.metric_times.unwrap_or_default().into_iter().zip(r.metric_steps.unwrap_or_default()))
        .map(|((key, value), (timestamp, step))| Metric { key, value, timestamp, step })
        .collect();
    Run {
        run_uuid: r.run_uuid,
        experiment_id: r.experiment_id,
        name: r.name,
        user_name: r.user_name,
        status: r.status,
        start_time: r.start_time,
        end_time: r.end_time,
        lifecycle_stage: r.lifecycle_stage,
        metrics,
        params: zip(r.param_keys, r.param_values),
        tags: zip(r.tag_keys, r.tag_values),
        links: RunLinks {
            datasets: r.dataset_inputs.map(|j| j.0.into_iter().map(DatasetInput::from).collect()).unwrap_or_default(),
            model_inputs: r.model_inputs.unwrap_or_default(),
            model_outputs: r.output_models.unwrap_or_default().into_iter().zip(r.output_steps.unwrap_or_default()).collect(),
        },
    }
}

/// The rows of runs by id, in the order of `ids`, with everything they show (one query).
async fn load_run_rows(db: &PgPool, ids: &[i64]) -> Result<Vec<RunRow>> {
    Ok(sqlx::query_as(&format!("{RUN_SELECT}unnest($1::bigint[]) WITH ORDINALITY p(id, pos){RUN_JOINS}")).bind(ids).fetch_all(db).await?)
}

pub async fn get_run(db: &PgPool, actor: &Actor, run_id: &str) -> Result<Run> {
    let r = run_ref(db, actor, run_id, Access::Read).await?;
    r.fold_metrics(db).await?;
    load_run_rows(db, &[r.id]).await?.pop().map(run_of).ok_or_else(|| run_missing(run_id))
}

/// Changes a run's status, end time or name (editors).
pub async fn update_run(
    db: &PgPool,
    actor: &Actor,
    run_id: &str,
    status: Option<&str>,
    end_time: Option<i64>,
    name: Option<&str>,
) -> Result<Run> {
    let r = run_ref(db, actor, run_id, Access::Write).await?;
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(Error::bad_request(format!("status '{s}' is not one of {}", STATUSES.join(", "))));
        }
    }
    let name = name.filter(|n| !n.trim().is_empty());
    if let Some(n) = name {
        check_run_name(n)?;
    }
    // A new name is also the run's name tag again (MLflow sets the tag with the name).
    sqlx::query(
        "UPDATE runs SET status = coalesce($2, status), end_time = coalesce($3, end_time), name = coalesce($4, name),
                name_tagged = name_tagged OR $4 IS NOT NULL
          WHERE id = $1",
    )
    .bind(r.id)
    .bind(status)
    .bind(end_time)
    .bind(name)
    .execute(db)
    .await?;
    load_run(db, r.id).await
}

/// Soft-deletes (`deleted`) or restores (`active`) a run (editors).
pub async fn set_run_stage(db: &PgPool, actor: &Actor, run_id: &str, stage: &str) -> Result<()> {
    let r = run_ref(db, actor, run_id, Access::Write).await?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE runs SET lifecycle_stage = $2, deleted_time = CASE WHEN $2 = 'deleted' THEN $3 ELSE NULL END WHERE id = $1")
        .bind(r.id)
        .bind(stage)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    let action = if stage == "deleted" { "run.delete" } else { "run.restore" };
    audit::record(&mut tx, actor, Some(r.project_id), action, "run", run_id, serde_json::json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs changed by one bulk request, at most.
pub const MAX_BULK_RUNS: usize = 1000;

/// Soft-deletes (`deleted`) or restores (`active`) several runs of one experiment at once
/// (editors): all of them or, if one is not in the experiment, none. Returns how many changed.
pub async fn set_runs_stage(db: &PgPool, actor: &Actor, experiment_id: &str, run_ids: &[String], stage: &str) -> Result<u64> {
    if stage != "active" && stage != "deleted" {
        return Err(Error::bad_request(format!("stage '{stage}' is not 'active' or 'deleted'")));
    }
    let mut ids: Vec<&str> = run_ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(Error::bad_request("no runs selected"));
    }
    if ids.len() > MAX_BULK_RUNS {
        return Err(Error::bad_request(format!("{} runs selected; at most {MAX_BULK_RUNS} at a time", ids.len())));
    }
    let e = experiment(db, actor, experiment_id, Access::Write).await?;
    let mut tx = db.begin().await?;
    let changed: Vec<String> = sqlx::query_scalar(
        "UPDATE runs SET lifecycle_stage = $3, deleted_time = CASE WHEN $3 = 'deleted' THEN $4 ELSE NULL END
          WHERE experiment_id = $1 AND run_uuid = ANY($2) RETURNING run_uuid",
    )
    .bind(e.id)
    .bind(&ids)
    .bind(stage)
    .bind(now_ms())
    .fetch_all(&mut *tx)
    .await?;
    if changed.len() < ids.len() {
        let missing = ids.iter().find(|id| !changed.iter().any(|c| c == *id)).copied().unwrap_or_default();
        return Err(Error::not_found(format!("Run with id={missing} not found in experiment {}", e.id)));
    }
    let action = if stage == "deleted" { "runs.delete" } else { "runs.restore" };
    audit::record(&mut tx, actor, Some(e.project_id), action, "experiment", &e.name, serde_json::json!({ "runs": ids })).await?;
    tx.commit().await?;
    Ok(changed.len() as u64)
}

/// Logs metrics, params and tags to an active run in one transaction (editors), with MLflow's
/// limits. A param already logged with another value is refused (params are write-once).
pub async fn log_batch(
    core: &crate::Core,
    actor: &Actor,
    run_id: &str,
    metrics: &[Metric],
    params: &[(String, String)],
    tags: &[(String, String)],
) -> Result<()> {
    if metrics.len() > MAX_BATCH_METRICS {
        return Err(Error::bad_request(format!(
            "A batch logging request can contain at most {MAX_BATCH_METRICS} metrics. Got {} metrics.",
            metrics.len()
        )));
    }
    if params.len() > MAX_BATCH_PARAMS {
        return Err(Error::bad_request(format!(
            "A batch logging request can contain at most {MAX_BATCH_PARAMS} params. Got {} params.",
            params.len()
        )));
    }
    if tags.len() > MAX_BATCH_TAGS {
        return Err(Error::bad_request(format!(
            "A batch logging request can contain at most {MAX_BATCH_TAGS} tags. Got {} tags.",
            tags.len()
        )));
    }
    let total = metrics.len() + params.len() + tags.len();
    if total > MAX_BATCH_ENTITIES {
        return Err(Error::bad_request(format!(
            "A batch logging request can contain at most {MAX_BATCH_ENTITIES} metrics, params and tags in total. Got {total}."
        )));
    }
    for m in metrics {
        check_key("metric", &m.key)?;
    }
    check_params(params)?;
    check_tags(tags)?;
    let mut seen = std::collections::HashMap::new();
    for (k, v) in params {
        if let Some(prev) = seen.insert(k.as_str(), v.as_str()) {
            if prev != v {
                return Err(Error::bad_request(format!("Duplicate parameter keys have been submitted: '{k}' with different values")));
            }
        }
    }
    if params.is_empty() && !metrics.is_empty() && tags.is_empty() {
        return log_metrics(core, actor, run_id, metrics).await;
    }
    let r = run_ref(&core.db, actor, run_id, Access::Write).await?;
    check_active(&r, run_id)?;
    if metrics.is_empty() && params.is_empty() && tags.is_empty() {
        return Ok(());
    }
    let mut tx = core.db.begin().await?;
    if !params.is_empty() {
        let keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        let existing: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM run_params WHERE run_id = $1 AND key = ANY($2)")
            .bind(r.id)
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await?;
        for (k, old) in &existing {
            let new = &params.iter().find(|(pk, _)| pk == k).expect("key came from params").1;
            if old != new {
                return Err(Error::bad_request(format!(
                    "Changing param values is not allowed. Param with key='{k}' was already logged with value='{old}' for run ID='{run_id}'. Attempted logging new value '{new}'."
                )));
            }
        }
        upsert_pairs(&mut tx, "run_params", "run_id", r.id, params, false).await?;
    }
    set_run_tags(&mut tx, r.id, tags).await?;
    metric_store::append(&mut tx, r.id, metrics).await?;
    tx.commit().await?;
    if !metrics.is_empty() {
        core.metrics.wrote(&core.db, r.id, metrics.len());
    }
    Ok(())
}

/// Metrics alone, combined with other writers' to the run (see [`crate::metric_writer`]). The
/// caller's right to write to the run is taken from [`crate::access_cache`] when it was granted
/// recently (access changes clear it); the write itself checks that the run is still active.
/// When it is not, or the right was not at hand, the run is looked up and checked in full, which
/// gives the reason for a refusal.
async fn log_metrics(core: &crate::Core, actor: &Actor, run_id: &str, metrics: &[Metric]) -> Result<()> {
    if let Some(id) = core.access.writable_run(actor, run_id) {
        if core.metrics.write(&core.db, id, metric_store::pack(metrics)?, metrics.len()).await? {
            return Ok(());
        }
    }
    let epoch = crate::access_cache::epoch();
    let r = run_ref(&core.db, actor, run_id, Access::Write).await?;
    check_active(&r, run_id)?;
    core.access.remember_writable_run(epoch, actor, run_id, r.id);
    if core.metrics.write(&core.db, r.id, metric_store::pack(metrics)?, metrics.len()).await? {
        Ok(())
    } else {
        // Deleted between the check and the write.
        let r = run_ref(&core.db, actor, run_id, Access::Write).await?;
        check_active(&r, run_id)?;
        Err(Error::Conflict(format!("The run {run_id} changed while its metrics were written; try again")))
    }
}

pub async fn delete_tag(db: &PgPool, actor: &Actor, run_id: &str, key: &str) -> Result<()> {
    let r = run_ref(db, actor, run_id, Access::Write).await?;
    check_active(&r, run_id)?;
    let gone = if key == RUN_NAME_TAG {
        // The run keeps its name (as in MLflow); only the tag goes.
        sqlx::query("UPDATE runs SET name_tagged = false WHERE id = $1 AND name_tagged").bind(r.id).execute(db).await?
    } else {
        sqlx::query("DELETE FROM run_tags WHERE run_id = $1 AND key = $2").bind(r.id).bind(key).execute(db).await?
    };
    if gone.rows_affected() == 0 {
        return Err(Error::not_found(format!("No tag with name: {key} in run with id {run_id}")));
    }
    Ok(())
}

/// Where a page of a metric's history starts: after the rows before (step, timestamp, value),
/// skipping `skip` rows equal to it (identical values logged twice). Written into MLflow's
/// `page_token` as `step:timestamp:value bits:skip`, so each page is an index range scan, not an
/// ever longer OFFSET.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryCursor {
    pub step: i64,
    pub timestamp: i64,
    pub value: f64,
    pub skip: i64,
}

impl HistoryCursor {
    pub fn token(&self) -> String {
        format!("{}:{}:{:x}:{}", self.step, self.timestamp, self.value.to_bits(), self.skip)
    }

    pub fn parse(token: &str) -> Result<Self> {
        let bad = || Error::bad_request(format!("Invalid page token '{token}'"));
        let parts: Vec<&str> = token.split(':').collect();
        let [step, timestamp, bits, skip] = parts.as_slice() else { return Err(bad()) };
        Ok(HistoryCursor {
            step: step.parse().map_err(|_| bad())?,
            timestamp: timestamp.parse().map_err(|_| bad())?,
            value: f64::from_bits(u64::from_str_radix(bits, 16).map_err(|_| bad())?),
            skip: skip.parse().ok().filter(|k: &i64| *k >= 0).ok_or_else(bad)?,
        })
    }
}

/// Every value logged for a metric, by step, then time, then value; a page of `max_results`
/// from `after`, and the cursor of the next page when there may be one.
pub async fn metric_history(
    db: &PgPool,
    actor: &Actor,
    run_id: &str,
    key: &str,
    max_results: i64,
    after: Option<HistoryCursor>,
) -> Result<(Vec<Metric>, Option<HistoryCursor>)> {
    let r = run_ref(db, actor, run_id, Access::Read).await?;
    r.fold_metrics(db).await?;
    let from = after.map(|c| Point { step: c.step, timestamp: c.timestamp, value: c.value });
    let skip = after.map_or(0, |c| c.skip) as usize;
    let page = metric_store::history_from(db, r.id, key, from, skip + max_results.max(0) as usize).await?;
    let rows: Vec<(f64, i64, i64)> = page.into_iter().skip(skip).map(|p| (p.value, p.timestamp, p.step)).collect();
    let next = if rows.len() as i64 == max_results {
        let last = *rows.last().expect("a full page");
        // Equal as PostgreSQL orders them: NaN equals NaN, -0 equals 0.
        let eq = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        let same = |row: &&(f64, i64, i64)| row.2 == last.2 && row.1 == last.1 && eq(row.0, last.0);
        let trailing = rows.iter().rev().take_while(same).count() as i64;
        // Rows equal to the last one already returned, counting those skipped on this page.
        let carried = match after {
            Some(c) if c.step == last.2 && c.timestamp == last.1 && eq(c.value, last.0) && trailing == rows.len() as i64 => c.skip,
            _ => 0,
        };
        Some(HistoryCursor { step: last.2, timestamp: last.1, value: last.0, skip: carried + trailing })
    } else {
        None
    };
    Ok((rows.into_iter().map(|(value, timestamp, step)| Metric { key: key.to_string(), value, timestamp, step }).collect(), next))
}

/// Points a metric chart draws at most: beyond this many the history is bucketed.
pub const CHART_POINTS: i64 = 4_000;

/// A metric's history as chart points (x = step, or seconds since its first value), without
/// NaN and infinities. Up to [`CHART_POINTS`] values come as logged; a longer history is cut
/// into buckets along x and each bucket gives its lowest and highest point, so
/// a million-point curve keeps its shape and its spikes in a few thousand points.
pub async fn metric_chart_points(db: &PgPool, actor: &Actor, run_id: &str, key: &str, by_time: bool) -> Result<Vec<(f64, f64)>> {
    let r = run_ref(db, actor, run_id, Access::Read).await?;
    r.fold_metrics(db).await?;
    let mut points = metric_store::all_points(db, r.id, key).await?;
    points.retain(|p| p.value.is_finite());
    Ok(chart_points(points, by_time))
}

/// [`metric_chart_points`] of a history's finite values.
fn chart_points(mut points: Vec<Point>, by_time: bool) -> Vec<(f64, f64)> {
    let t0 = points.iter().map(|p| p.timestamp).min().unwrap_or(0);
    let x = |p: &Point| if by_time { (p.timestamp - t0) as f64 / 1000.0 } else { p.step as f64 };
    if points.len() <= CHART_POINTS as usize {
        points.sort_unstable_by(|a, b| x(a).total_cmp(&x(b)).then(a.step.cmp(&b.step)).then(a.timestamp.cmp(&b.timestamp)));
        return points.iter().map(|p| (x(p), p.value)).collect();
    }
    let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(x(p)), hi.max(x(p))));
    let buckets = (CHART_POINTS / 2) as usize;
    let width = (hi - lo) + (hi - lo).abs() * 1e-9 + 1e-9;
    // Per bucket along x: its lowest point and its highest (the first along x among equals).
    let mut lowest: Vec<Option<(f64, f64)>> = vec![None; buckets];
    let mut highest: Vec<Option<(f64, f64)>> = vec![None; buckets];
    for p in &points {
        let px = x(p);
        let b = (((px - lo) / width * buckets as f64) as usize).min(buckets - 1);
        let better_low = |(bx, bv): (f64, f64)| p.value < bv || (p.value == bv && px < bx);
        let better_high = |(bx, bv): (f64, f64)| p.value > bv || (p.value == bv && px < bx);
        if lowest[b].is_none_or(better_low) {
            lowest[b] = Some((px, p.value));
        }
        if highest[b].is_none_or(better_high) {
            highest[b] = Some((px, p.value));
        }
    }
    let mut out = Vec::with_capacity(buckets * 2);
    for (low, high) in lowest.into_iter().zip(highest) {
        let (Some(low), Some(high)) = (low, high) else { continue };
        if low.0 <= high.0 {
            out.extend([low, high]);
        } else {
            out.extend([high, low]);
        }
    }
    out
}

/// The ids of experiments the caller may read, with their runs' pending metric values folded
/// (searches filter and order by the latest values).
async fn readable_experiments(db: &PgPool, actor: &Actor, experiment_ids: &[String]) -> Result<Vec<i64>> {
    let (mut ids, mut pending) = (Vec::new(), Vec::new());
    for e in experiment_ids {
        let e = experiment_ref(db, actor, e, Access::Read).await?;
        if e.has_pending_metrics {
            pending.push(e.id);
        }
        ids.push(e.id);
    }
    if !pending.is_empty() {
        metric_store::fold_experiments(db, &pending).await?;
    }
    Ok(ids)
}

/// Runs of the given experiments matching MLflow's filter grammar, in `order_by` order (then
/// newest first); paged by offset. The page's ids and revisions come from one statement; runs
/// `cache` holds at those revisions are taken from it, the others read in a second statement
/// (and kept).
#[allow(clippy::too_many_arguments)]
pub async fn search_runs(
    db: &PgPool,
    cache: &RunCache,
    actor: &Actor,
    experiment_ids: &[String],
    filter: &str,
    order_by: &[String],
    view: ViewType,
    max_results: i64,
    offset: i64,
) -> Result<Vec<Arc<KeptRun>>> {
    let clauses = crate::search_filter::parse_filter(filter)?;
    let orders = crate::search_filter::parse_order(order_by)?;
    let ids = readable_experiments(db, actor, experiment_ids).await?;
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT r.id, r.revision FROM runs r");
    crate::search_filter::push_order_joins(&mut q, &crate::search_filter::RUNS, &orders, &clauses);
    q.push(" WHERE ");
    // The experiments, through the ordering metric's values when the filter requires that
    // metric (then its index gives the order; a second condition on the run would only make
    // the planner expect fewer rows), or else through the runs.
    if !crate::search_filter::push_order_scope(&mut q, &crate::search_filter::RUNS, &orders, &clauses, &ids) {
        crate::search_filter::push_one_of(&mut q, "r.experiment_id", &ids);
    }
    view.push_filter(&mut q, "r.lifecycle_stage");
    crate::search_filter::push_where_joined(&mut q, &crate::search_filter::RUNS, &clauses, &orders);
    crate::search_filter::push_order(&mut q, &crate::search_filter::RUNS, &orders, &clauses);
    q.push(" LIMIT ").push_bind(max_results).push(" OFFSET ").push_bind(offset);
    let page: Vec<(i64, i64)> = q.build_query_as().fetch_all(db).await?;
    runs_at_revisions(db, cache, &page).await
}

/// The runs of `page` (ids and the revisions just read), in its order: from `cache` when it
/// holds them at those revisions, else read (one statement for all of those) and kept. A run
/// gone since the page was read is left out.
async fn runs_at_revisions(db: &PgPool, cache: &RunCache, page: &[(i64, i64)]) -> Result<Vec<Arc<KeptRun>>> {
    let mut found: Vec<Option<Arc<KeptRun>>> = page.iter().map(|&(id, revision)| cache.get(id, revision)).collect();
    let missing: Vec<i64> = page.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(&(id, _), _)| id).collect();
    if !missing.is_empty() {
        let mut read = HashMap::with_capacity(missing.len());
        for row in load_run_rows(db, &missing).await? {
            let (id, revision) = (row.id, row.revision);
            let run = Arc::new(KeptRun::new(run_of(row)));
            cache.put(id, revision, run.clone());
            read.insert(id, run);
        }
        for (slot, &(id, _)) in found.iter_mut().zip(page) {
            if slot.is_none() {
                *slot = read.remove(&id);
            }
        }
    }
    Ok(found.into_iter().flatten().collect())
}

/// How many runs of the given experiments match a filter (for paging).
pub async fn count_runs(db: &PgPool, actor: &Actor, experiment_ids: &[String], filter: &str, view: ViewType) -> Result<i64> {
    let clauses = crate::search_filter::parse_filter(filter)?;
    let ids = readable_experiments(db, actor, experiment_ids).await?;
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT count(*) FROM runs r WHERE r.experiment_id = ANY(");
    q.push_bind(&ids).push(")");
    view.push_filter(&mut q, "r.lifecycle_stage");
    crate::search_filter::push_where(&mut q, &crate::search_filter::RUNS, &clauses);
    Ok(q.build_query_scalar().fetch_one(db).await?)
}

/// Every metric and param key logged in an experiment's active runs, sorted (for choosing
/// the columns of its runs table).
pub async fn experiment_keys(db: &PgPool, actor: &Actor, experiment_id: &str) -> Result<(Vec<String>, Vec<String>)> {
    let e = experiment(db, actor, experiment_id, Access::Read).await?;
    metric_store::fold_experiments(db, &[e.id]).await?;
    let metrics: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT m.key FROM run_latest_metrics m JOIN runs r ON r.id = m.run_id
          WHERE r.experiment_id = $1 AND r.lifecycle_stage = 'active' ORDER BY m.key",
    )
    .bind(e.id)
    .fetch_all(db)
    .await?;
    let params: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT p.key FROM run_params p JOIN runs r ON r.id = p.run_id
          WHERE r.experiment_id = $1 AND r.lifecycle_stage = 'active' ORDER BY p.key",
    )
    .bind(e.id)
    .fetch_all(db)
    .await?;
    Ok((metrics, params))
}

/// An experiment in a project's list.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentSummary {
    pub id: i64,
    pub name: String,
    pub runs: i64,
    pub last_run: Option<i64>,
}

/// A project's active experiments, most recently run first (viewers and up).
pub async fn project_experiments(db: &PgPool, actor: &Actor, slug: &str) -> Result<Vec<ExperimentSummary>> {
    let (project, _) = projects::authorize(db, actor, slug, Access::Read).await?;
    let rows: Vec<(i64, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT e.id, e.name, count(r.id) FILTER (WHERE r.lifecycle_stage = 'active'), max(r.start_time)
           FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id
          WHERE e.project_id = $1 AND e.lifecycle_stage = 'active'
          GROUP BY e.id ORDER BY coalesce(max(r.start_time), e.creation_time) DESC",
    )
    .bind(project.id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id, name, runs, last_run)| ExperimentSummary { id, name, runs, last_run }).collect())
}

/// An experiment of the project `slug` (a URL naming another project's experiment finds nothing).
pub async fn experiment_in(db: &PgPool, actor: &Actor, slug: &str, id: &str) -> Result<Experiment> {
    let e = experiment(db, actor, id, Access::Read).await?;
    if e.project_slug != slug {
        return Err(experiment_missing(id));
    }
    Ok(e)
}
