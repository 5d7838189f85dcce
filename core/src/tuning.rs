//! Hyperparameter tuning: a search over a space of one algorithm's parameters, as a parent run
//! with one child run (and `training.builtin` job) per trial. Only `parallelism` trials are
//! queued at a time, so that many run at once on however many workers there are; each trial
//! that ends (succeeded or failed) queues the next, and the last picks the best trial by the
//! chosen metric and ends the parent run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use trellis_ml::train::search::{self, Method, Range};
use trellis_ml::train::{Params, Task};

use crate::actor::Actor;
use crate::training::{self, NewRun, Prepared, TrainingRequest, TrialRef};
use crate::{audit, tracking, Core, Error, Result};

/// Trials queued at once unless asked otherwise.
pub const DEFAULT_PARALLELISM: usize = 2;
/// Trials unless asked otherwise.
pub const DEFAULT_TRIALS: usize = 10;

/// `POST /v1/projects/{project}/tuning-jobs`: a training request, a search space and a budget.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TuningRequest {
    pub experiment: String,
    pub dataset: String,
    pub version: i32,
    pub target: String,
    /// `binary`, `multiclass` or `regression`.
    pub task: String,
    /// `linear`, `random_forest` or `gradient_boosting`.
    pub algorithm: String,
    /// Parameters every trial shares (not searched).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, Value>,
    /// Per parameter: `{"uniform": [low, high]}`, `{"log_uniform": [low, high]}`,
    /// `{"int": [low, high]}` or `{"choice": [v, …]}`.
    #[schema(value_type = Object)]
    pub search_space: BTreeMap<String, Value>,
    /// `random` (default) or `grid` (choices and int ranges only).
    #[serde(default)]
    pub method: Option<String>,
    /// Trials to run, 1–1000 (default 10; a grid runs at most its size).
    #[serde(default)]
    pub max_trials: Option<usize>,
    /// Trials run at once, 1–100 (default 2).
    #[serde(default)]
    pub parallelism: Option<usize>,
    /// The metric that picks the best trial: `validation_<metric>` (default `validation_roc_auc`
    /// for binary, `validation_log_loss` for multiclass, `validation_rmse` for regression).
    #[serde(default)]
    pub metric: Option<String>,
    /// `maximize` or `minimize` (default: what suits the metric).
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub run_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TuningSubmitted {
    /// The parent run.
    pub run_id: String,
    pub experiment_id: String,
    pub trials: usize,
    /// Jobs of the trials queued so far.
    pub job_ids: Vec<i64>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg)
}

/// The metric (and whether larger is better) that ranks trials.
fn ranking(task: Task, metric: Option<&str>, direction: Option<&str>) -> Result<(String, bool)> {
    let default = match task {
        Task::Binary => "validation_roc_auc",
        Task::Multiclass => "validation_log_loss",
        Task::Regression => "validation_rmse",
    };
    let metric = metric.map(str::trim).filter(|m| !m.is_empty()).unwrap_or(default).to_string();
    let known: &[&str] = if task.is_classification() { &["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"] } else { &["rmse", "mae", "r2"] };
    let Some(name) = metric.strip_prefix("validation_").filter(|n| known.contains(n)) else {
        return Err(bad(format!(
            "metric: '{metric}' is not a validation metric of a {} task (choose validation_ and one of {})",
            task.as_str(),
            known.join(", ")
        )));
    };
    let natural = !matches!(name, "log_loss" | "rmse" | "mae");
    let maximize = match direction.map(str::trim) {
        None | Some("") => natural,
        Some("maximize") => true,
        Some("minimize") => false,
        Some(other) => return Err(bad(format!("direction: '{other}' is not maximize or minimize"))),
    };
    Ok((metric, maximize))
}

/// Checks a search and starts its first trials (editors).
pub async fn submit(core: &Core, actor: &Actor, project: &str, req: TuningRequest) -> Result<TuningSubmitted> {
    for name in req.search_space.keys() {
        if req.params.contains_key(name) {
            return Err(bad(format!("params: '{name}' is also in the search space; give it in one place")));
        }
    }
    let training_req = TrainingRequest {
        experiment: req.experiment.clone(),
        dataset: req.dataset.clone(),
        version: req.version,
        target: req.target.clone(),
        task: req.task.clone(),
        algorithm: req.algorithm.clone(),
        params: req.params.clone(),
        features: req.features.clone(),
        seed: req.seed,
        run_name: req.run_name.clone(),
    };
    let prepared = training::prepare(core, actor, project, &training_req).await?;
    let t = &prepared.template;
    let space: BTreeMap<String, Range> = req
        .search_space
        .iter()
        .map(|(k, v)| serde_json::from_value(v.clone()).map(|r| (k.clone(), r)).map_err(|e| bad(format!("search_space.{k}: {e}"))))
        .collect::<Result<_>>()?;
    search::check(&space, t.algorithm).map_err(|e| bad(format!("search_space: {e}")))?;
    let method = match req.method.as_deref() {
        None | Some("") => Method::Random,
        Some(m) => Method::parse(m).ok_or_else(|| bad(format!("method: '{m}' is not random or grid")))?,
    };
    let max_trials = req.max_trials.unwrap_or(DEFAULT_TRIALS);
    if !(1..=search::MAX_TRIALS).contains(&max_trials) {
        return Err(bad(format!("max_trials: must be between 1 and {}", search::MAX_TRIALS)));
    }
    let trials = search::trials(&space, method, max_trials, t.seed).map_err(|e| bad(format!("search_space: {e}")))?;
    let parallelism = req.parallelism.unwrap_or(DEFAULT_PARALLELISM);
    if !(1..=100).contains(&parallelism) {
        return Err(bad("parallelism: must be between 1 and 100"));
    }
    let (metric, maximize) = ranking(t.task, req.metric.as_deref(), req.direction.as_deref())?;
    let run_name = req
        .run_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("tune-{}-{}-v{}", t.algorithm.as_str(), prepared.dataset, prepared.version));

    let mut tx = core.db.begin().await?;
    let experiment_id = training::experiment_for(&mut tx, actor, prepared.project_id, &prepared.experiment).await?;
    let parent_uuid = uuid::Uuid::new_v4().simple().to_string();
    let parent_id: i64 = sqlx::query_scalar(
        "INSERT INTO runs (run_uuid, experiment_id, name, user_id, user_name, status, start_time) VALUES ($1, $2, $3, $4, $5, 'RUNNING', $6) RETURNING id",
    )
    .bind(&parent_uuid)
    .bind(experiment_id)
    .bind(&run_name)
    .bind(actor.user_id)
    .bind(&actor.email)
    .bind(tracking::now_ms())
    .fetch_one(&mut *tx)
    .await?;
    let mut params: Vec<(String, String)> = t
        .params
        .0
        .iter()
        .filter(|(k, _)| !space.contains_key(*k))
        .map(|(k, v)| (k.clone(), trellis_ml::train::prep::format_number(*v)))
        .collect();
    params.extend([
        ("algorithm".to_string(), t.algorithm.as_str().to_string()),
        ("task".to_string(), t.task.as_str().to_string()),
        ("target".to_string(), t.target.clone()),
        ("dataset".to_string(), prepared.label.clone()),
        ("seed".to_string(), t.seed.to_string()),
        ("search_space".to_string(), serde_json::to_string(&space).map_err(anyhow::Error::from)?),
        ("method".to_string(), if method == Method::Grid { "grid" } else { "random" }.to_string()),
        ("max_trials".to_string(), trials.len().to_string()),
        ("parallelism".to_string(), parallelism.to_string()),
        ("metric".to_string(), metric.clone()),
        ("direction".to_string(), if maximize { "maximize" } else { "minimize" }.to_string()),
    ]);
    let tags = vec![
        ("mlflow.runName".to_string(), run_name.clone()),
        ("mlflow.user".to_string(), actor.email.clone()),
        ("mlflow.source.type".to_string(), "JOB".to_string()),
        ("mlflow.source.name".to_string(), "trellis:training.tune".to_string()),
        ("trellis.tuning".to_string(), "true".to_string()),
        ("trellis.algorithm".to_string(), t.algorithm.as_str().to_string()),
    ];
    tracking::upsert_pairs(&mut tx, "run_params", "run_id", parent_id, &params, false).await?;
    tracking::upsert_pairs(&mut tx, "run_tags", "run_id", parent_id, &tags, true).await?;
    let tuning_id: i64 = sqlx::query_scalar(
        "INSERT INTO tunings (parent_run_id, request, trials, parallelism, metric, maximize, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(parent_id)
    .bind(serde_json::to_value(&prepared).map_err(anyhow::Error::from)?)
    .bind(serde_json::to_value(&trials).map_err(anyhow::Error::from)?)
    .bind(parallelism as i32)
    .bind(&metric)
    .bind(maximize)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    let first = parallelism.min(trials.len());
    let mut job_ids = Vec::with_capacity(first);
    for index in 0..first {
        let trial = Trial { prepared: &prepared, tuning_id, index, values: &trials[index], experiment_id, parent: &parent_uuid, user_id: actor.user_id, user_name: &actor.email };
        job_ids.push(start_trial(&mut tx, trial).await?);
    }
    sqlx::query("UPDATE tunings SET started = $2 WHERE id = $1").bind(tuning_id).bind(first as i32).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        Some(prepared.project_id),
        "tuning.submit",
        "run",
        &parent_uuid,
        json!({ "dataset": prepared.label, "algorithm": t.algorithm.as_str(), "trials": trials.len(), "parallelism": parallelism, "metric": metric }),
    )
    .await?;
    tx.commit().await?;
    Ok(TuningSubmitted { run_id: parent_uuid, experiment_id: experiment_id.to_string(), trials: trials.len(), job_ids })
}

struct Trial<'a> {
    prepared: &'a Prepared,
    tuning_id: i64,
    index: usize,
    values: &'a BTreeMap<String, f64>,
    experiment_id: i64,
    parent: &'a str,
    user_id: Option<i64>,
    user_name: &'a str,
}

/// Queues one trial: its child run and training job. Returns the job id.
async fn start_trial(tx: &mut sqlx::PgConnection, t: Trial<'_>) -> Result<i64> {
    let mut params: Params = t.prepared.template.params.clone();
    for (k, v) in t.values {
        params.0.insert(k.clone(), *v);
    }
    let name = format!("trial-{}", t.index + 1);
    let (_, _, job_id) = training::create_training_run(
        tx,
        t.prepared,
        NewRun {
            experiment_id: t.experiment_id,
            name: &name,
            user_id: t.user_id,
            user_name: t.user_name,
            params,
            tags: vec![("mlflow.parentRunId".to_string(), t.parent.to_string()), ("trellis.trial".to_string(), (t.index + 1).to_string())],
            trial: Some(TrialRef { tuning_id: t.tuning_id, index: t.index }),
        },
    )
    .await?;
    Ok(job_id)
}

#[derive(sqlx::FromRow)]
struct TuningRow {
    parent_run_id: i64,
    request: Value,
    trials: Value,
    metric: String,
    maximize: bool,
    started: i32,
    finished: i32,
    best_run_id: Option<i64>,
    best_value: Option<f64>,
}

/// Records that a trial ended: keeps the best so far, queues the next trial, and when the last
/// one has ended, writes the best trial into the parent run and ends it.
pub(crate) async fn trial_finished(db: &PgPool, trial: &TrialRef, run_id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    let Some(row) = sqlx::query_as::<_, TuningRow>(
        "SELECT parent_run_id, request, trials, metric, maximize, started, finished, best_run_id, best_value FROM tunings WHERE id = $1 FOR UPDATE",
    )
    .bind(trial.tuning_id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(()); // the search was deleted with its parent run
    };
    let trials: Vec<BTreeMap<String, f64>> = serde_json::from_value(row.trials).map_err(anyhow::Error::from)?;
    let value: Option<f64> = sqlx::query_scalar("SELECT value FROM run_latest_metrics WHERE run_id = $1 AND key = $2")
        .bind(run_id)
        .bind(&row.metric)
        .fetch_optional(&mut *tx)
        .await?
        .filter(|v: &f64| v.is_finite());
    let (mut best_run_id, mut best_value) = (row.best_run_id, row.best_value);
    if let Some(v) = value {
        let better = match best_value {
            None => true,
            Some(b) => if row.maximize { v > b } else { v < b },
        };
        if better {
            best_run_id = Some(run_id);
            best_value = Some(v);
        }
    }
    let finished = row.finished + 1;
    let mut started = row.started;
    let parent: (String, i64, String, Option<i64>) =
        sqlx::query_as("SELECT run_uuid, experiment_id, user_name, user_id FROM runs WHERE id = $1").bind(row.parent_run_id).fetch_one(&mut *tx).await?;
    if (started as usize) < trials.len() {
        let prepared: Prepared = serde_json::from_value(row.request).map_err(anyhow::Error::from)?;
        let index = started as usize;
        let next = Trial {
            prepared: &prepared,
            tuning_id: trial.tuning_id,
            index,
            values: &trials[index],
            experiment_id: parent.1,
            parent: &parent.0,
            user_id: parent.3,
            user_name: &parent.2,
        };
        start_trial(&mut tx, next).await?;
        started += 1;
    }
    sqlx::query("UPDATE tunings SET started = $2, finished = $3, best_run_id = $4, best_value = $5 WHERE id = $1")
        .bind(trial.tuning_id)
        .bind(started)
        .bind(finished)
        .bind(best_run_id)
        .bind(best_value)
        .execute(&mut *tx)
        .await?;
    if finished as usize >= trials.len() {
        let now = tracking::now_ms();
        let status = if best_run_id.is_some() { "FINISHED" } else { "FAILED" };
        sqlx::query("UPDATE runs SET status = $2, end_time = $3 WHERE id = $1").bind(row.parent_run_id).bind(status).bind(now).execute(&mut *tx).await?;
        if let (Some(best), Some(v)) = (best_run_id, best_value) {
            let (best_uuid, best_name): (String, String) = sqlx::query_as("SELECT run_uuid, name FROM runs WHERE id = $1").bind(best).fetch_one(&mut *tx).await?;
            let best_params: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM run_params WHERE run_id = $1").bind(best).fetch_all(&mut *tx).await?;
            let searched: Vec<&String> = trials.first().map(|t| t.keys().collect()).unwrap_or_default();
            let mut tags = vec![("trellis.best_run_id".to_string(), best_uuid), ("trellis.best_trial".to_string(), best_name)];
            tags.extend(best_params.into_iter().filter(|(k, _)| searched.contains(&k)).map(|(k, v)| (format!("best.{k}"), v)));
            tracking::upsert_pairs(&mut tx, "run_tags", "run_id", row.parent_run_id, &tags, true).await?;
            let metric = tracking::Metric { key: format!("best_{}", row.metric), value: v, timestamp: now, step: 0 };
            tracking::insert_metrics(&mut tx, row.parent_run_id, &[metric]).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
