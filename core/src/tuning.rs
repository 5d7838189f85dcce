//! Hyperparameter tuning: a search over a space of one algorithm's parameters — or, for the
//! "best model" preset, over every algorithm's default space — as a parent run with one child
//! run (and `training.builtin` job) per trial. Only `parallelism` trials are
//! queued at a time, so that many run at once on however many workers there are; each trial
//! that ends (succeeded or failed) queues the next, and the last picks the best trial by the
//! chosen metric and ends the parent run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use trellis_ml::train::search::{self, Method, Range};
use trellis_ml::train::{Algorithm, Params, Task};

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

impl TuningRequest {
    /// A search around one training: its params are shared by every trial, those searched
    /// left out; the metric and direction are chosen to suit the task.
    pub fn around(base: TrainingRequest, search_space: BTreeMap<String, Value>, method: Option<String>, max_trials: Option<usize>, parallelism: Option<usize>) -> Self {
        let params = base.params.into_iter().filter(|(k, _)| !search_space.contains_key(k)).collect();
        TuningRequest {
            experiment: base.experiment,
            dataset: base.dataset,
            version: base.version,
            target: base.target,
            task: base.task,
            algorithm: base.algorithm,
            params,
            search_space,
            method,
            max_trials,
            parallelism,
            metric: None,
            direction: None,
            features: base.features,
            seed: base.seed,
            run_name: base.run_name,
        }
    }

    /// The training every trial starts from (its shared params).
    fn training(&self) -> TrainingRequest {
        TrainingRequest {
            experiment: self.experiment.clone(),
            dataset: self.dataset.clone(),
            version: self.version,
            target: self.target.clone(),
            task: self.task.clone(),
            algorithm: self.algorithm.clone(),
            params: self.params.clone(),
            features: self.features.clone(),
            seed: self.seed,
            run_name: self.run_name.clone(),
        }
    }
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
    let prepared = training::prepare(core, actor, project, &req.training()).await?;
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
    let mut shared: Vec<(String, String)> = t
        .params
        .0
        .iter()
        .filter(|(k, _)| !space.contains_key(*k))
        .map(|(k, v)| (k.clone(), trellis_ml::train::prep::format_number(*v)))
        .collect();
    shared.extend([
        ("algorithm".to_string(), t.algorithm.as_str().to_string()),
        ("search_space".to_string(), serde_json::to_string(&space).map_err(anyhow::Error::from)?),
        ("method".to_string(), if method == Method::Grid { "grid" } else { "random" }.to_string()),
    ]);
    let search = Search {
        run_name,
        kind: "tune",
        trials: trials.into_iter().map(|v| (None, v)).collect(),
        parallelism,
        metric,
        maximize,
        deadline_seconds: None,
        params: shared,
        tags: vec![("trellis.algorithm".to_string(), t.algorithm.as_str().to_string())],
    };
    start_search(core, actor, &prepared, search).await
}

/// Default time budget of a "best model" search, in seconds.
pub const DEFAULT_BUDGET_SECONDS: u64 = 900;
/// Default trials of a "best model" search.
pub const DEFAULT_AUTOML_TRIALS: usize = 30;

/// `POST /v1/projects/{project}/automl-jobs`: the "best model" preset — every algorithm (or the
/// chosen ones) with its defaults, then random draws from each one's default search space, taken
/// in turn, until the trials or the time budget run out; the best trial by the metric wins.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoMlRequest {
    pub experiment: String,
    pub dataset: String,
    pub version: i32,
    pub target: String,
    /// `binary`, `multiclass` or `regression`.
    pub task: String,
    /// Seconds after which no new trial starts (default 900; 10 to 604800). Trials already
    /// started finish.
    #[serde(default)]
    pub time_budget_seconds: Option<u64>,
    /// Most trials (default 30).
    #[serde(default)]
    pub max_trials: Option<usize>,
    /// Algorithms to try (default all: `linear`, `random_forest`, `gradient_boosting`).
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    #[serde(default)]
    pub parallelism: Option<usize>,
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub run_name: Option<String>,
}

/// Checks a "best model" search and starts its first trials (editors).
pub async fn submit_automl(core: &Core, actor: &Actor, project: &str, req: AutoMlRequest) -> Result<TuningSubmitted> {
    let algorithms: Vec<Algorithm> = match &req.algorithms {
        None => Algorithm::ALL.to_vec(),
        Some(names) if names.is_empty() => return Err(bad("algorithms: choose at least one")),
        Some(names) => {
            let mut out: Vec<Algorithm> = Vec::new();
            for n in names {
                let a = Algorithm::parse(n.trim()).ok_or_else(|| bad(format!("algorithms: '{n}' is not one of linear, random_forest, gradient_boosting")))?;
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            out
        }
    };
    let budget = req.time_budget_seconds.unwrap_or(DEFAULT_BUDGET_SECONDS);
    if !(10..=604_800).contains(&budget) {
        return Err(bad("time_budget_seconds: must be between 10 and 604800"));
    }
    let max_trials = req.max_trials.unwrap_or(DEFAULT_AUTOML_TRIALS);
    if !(1..=search::MAX_TRIALS).contains(&max_trials) {
        return Err(bad(format!("max_trials: must be between 1 and {}", search::MAX_TRIALS)));
    }
    let parallelism = req.parallelism.unwrap_or(DEFAULT_PARALLELISM);
    if !(1..=100).contains(&parallelism) {
        return Err(bad("parallelism: must be between 1 and 100"));
    }
    let training_req = TrainingRequest {
        experiment: req.experiment.clone(),
        dataset: req.dataset.clone(),
        version: req.version,
        target: req.target.clone(),
        task: req.task.clone(),
        algorithm: algorithms[0].as_str().to_string(),
        params: BTreeMap::new(),
        features: req.features.clone(),
        seed: req.seed,
        run_name: req.run_name.clone(),
    };
    let prepared = training::prepare(core, actor, project, &training_req).await?;
    let t = &prepared.template;
    let (metric, maximize) = ranking(t.task, req.metric.as_deref(), req.direction.as_deref())?;
    let trials = search::portfolio(&algorithms, max_trials, t.seed).map_err(|e| bad(e.to_string()))?;
    let names: Vec<&str> = algorithms.iter().map(|a| a.as_str()).collect();
    let run_name = req.run_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("best-model-{}-v{}", prepared.dataset, prepared.version));
    let search = Search {
        run_name,
        kind: "automl",
        trials: trials.into_iter().map(|(a, v)| (Some(a), v)).collect(),
        parallelism,
        metric,
        maximize,
        deadline_seconds: Some(budget),
        params: vec![("algorithms".to_string(), names.join(",")), ("time_budget_seconds".to_string(), budget.to_string())],
        tags: vec![("trellis.automl".to_string(), "true".to_string())],
    };
    start_search(core, actor, &prepared, search).await
}

/// A search ready to start: its trials (each with its algorithm when they differ) and budget.
struct Search {
    run_name: String,
    /// `tune` or `automl` (the parent run's `mlflow.source.name` and the audit action).
    kind: &'static str,
    trials: Vec<(Option<Algorithm>, BTreeMap<String, f64>)>,
    parallelism: usize,
    metric: String,
    maximize: bool,
    /// No trial is queued after this many seconds.
    deadline_seconds: Option<u64>,
    /// Parameters of the parent run besides the common ones.
    params: Vec<(String, String)>,
    tags: Vec<(String, String)>,
}

/// Writes the parent run, the `tunings` row and the first `parallelism` trials in one transaction.
async fn start_search(core: &Core, actor: &Actor, prepared: &Prepared, search: Search) -> Result<TuningSubmitted> {
    let t = &prepared.template;
    let mut tx = core.db.begin().await?;
    let experiment_id = training::experiment_for(&mut tx, actor, prepared.project_id, &prepared.experiment).await?;
    let parent_uuid = uuid::Uuid::new_v4().simple().to_string();
    let parent_id: i64 = sqlx::query_scalar(
        "INSERT INTO runs (run_uuid, experiment_id, name, user_id, user_name, status, start_time) VALUES ($1, $2, $3, $4, $5, 'RUNNING', $6) RETURNING id",
    )
    .bind(&parent_uuid)
    .bind(experiment_id)
    .bind(&search.run_name)
    .bind(actor.user_id)
    .bind(&actor.email)
    .bind(tracking::now_ms())
    .fetch_one(&mut *tx)
    .await?;
    let mut params = search.params.clone();
    params.extend([
        ("task".to_string(), t.task.as_str().to_string()),
        ("target".to_string(), t.target.clone()),
        ("dataset".to_string(), prepared.label.clone()),
        ("seed".to_string(), t.seed.to_string()),
        ("max_trials".to_string(), search.trials.len().to_string()),
        ("parallelism".to_string(), search.parallelism.to_string()),
        ("metric".to_string(), search.metric.clone()),
        ("direction".to_string(), if search.maximize { "maximize" } else { "minimize" }.to_string()),
    ]);
    let mut tags = vec![
        ("mlflow.user".to_string(), actor.email.clone()),
        ("mlflow.source.type".to_string(), "JOB".to_string()),
        ("mlflow.source.name".to_string(), format!("trellis:training.{}", search.kind)),
        ("trellis.tuning".to_string(), "true".to_string()),
    ];
    tags.extend(search.tags.clone());
    tracking::upsert_pairs(&mut tx, "run_params", "run_id", parent_id, &params, false).await?;
    tracking::set_run_tags(&mut tx, parent_id, &tags).await?;
    let values: Vec<&BTreeMap<String, f64>> = search.trials.iter().map(|(_, v)| v).collect();
    let algorithms: Option<Vec<&str>> =
        search.trials.iter().any(|(a, _)| a.is_some()).then(|| search.trials.iter().map(|(a, _)| a.unwrap_or(t.algorithm).as_str()).collect());
    let tuning_id: i64 = sqlx::query_scalar(
        "INSERT INTO tunings (parent_run_id, request, trials, parallelism, metric, maximize, created_by, algorithms, deadline)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9)) RETURNING id",
    )
    .bind(parent_id)
    .bind(serde_json::to_value(prepared).map_err(anyhow::Error::from)?)
    .bind(serde_json::to_value(&values).map_err(anyhow::Error::from)?)
    .bind(search.parallelism as i32)
    .bind(&search.metric)
    .bind(search.maximize)
    .bind(actor.user_id)
    .bind(algorithms.map(|a| json!(a)))
    .bind(search.deadline_seconds.map(|s| s as f64))
    .fetch_one(&mut *tx)
    .await?;
    let first = search.parallelism.min(search.trials.len());
    let mut job_ids = Vec::with_capacity(first);
    for (index, (algorithm, values)) in search.trials.iter().enumerate().take(first) {
        let trial = Trial {
            prepared,
            algorithm: *algorithm,
            tuning_id,
            index,
            values,
            experiment_id,
            parent: &parent_uuid,
            user_id: actor.user_id,
            user_name: &actor.email,
        };
        job_ids.push(start_trial(&mut tx, trial).await?);
    }
    sqlx::query("UPDATE tunings SET started = $2 WHERE id = $1").bind(tuning_id).bind(first as i32).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        Some(prepared.project_id),
        &format!("{}.submit", if search.kind == "tune" { "tuning" } else { search.kind }),
        "run",
        &parent_uuid,
        json!({
            "dataset": prepared.label,
            "algorithms": search.trials.iter().map(|(a, _)| a.unwrap_or(t.algorithm).as_str()).collect::<std::collections::BTreeSet<_>>(),
            "trials": search.trials.len(),
            "parallelism": search.parallelism,
            "metric": search.metric,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(TuningSubmitted { run_id: parent_uuid, experiment_id: experiment_id.to_string(), trials: search.trials.len(), job_ids })
}

struct Trial<'a> {
    prepared: &'a Prepared,
    /// The trial's algorithm, when the search tries several.
    algorithm: Option<Algorithm>,
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
    // A trial of another algorithm starts from that algorithm's defaults.
    let other: Option<Prepared> = t.algorithm.filter(|a| *a != t.prepared.template.algorithm).map(|a| {
        let mut p = t.prepared.clone();
        p.template.algorithm = a;
        p.template.params = Params::resolve(a, &BTreeMap::new()).expect("defaults are valid");
        p
    });
    let prepared = other.as_ref().unwrap_or(t.prepared);
    let mut params: Params = prepared.template.params.clone();
    for (k, v) in t.values {
        params.0.insert(k.clone(), *v);
    }
    let name = format!("trial-{}", t.index + 1);
    let (_, _, job_id) = training::create_training_run(
        tx,
        prepared,
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
    algorithms: Option<Value>,
    /// The time budget has run out: no more trials are queued.
    out_of_time: bool,
    ended: bool,
}

/// Records that a trial ended: keeps the best so far, queues the next trial, and when the last
/// one has ended, writes the best trial into the parent run and ends it.
pub(crate) async fn trial_finished(db: &PgPool, trial: &TrialRef, run_id: i64) -> Result<()> {
    // The trial's values, folded, so its latest value of the metric is there to compare.
    crate::metric_store::fold_runs(db, &[run_id]).await?;
    let mut tx = db.begin().await?;
    let Some(row) = sqlx::query_as::<_, TuningRow>(
        "SELECT parent_run_id, request, trials, metric, maximize, started, finished, best_run_id, best_value, algorithms,
                coalesce(deadline <= now(), false) AS out_of_time, ended
           FROM tunings WHERE id = $1 FOR UPDATE",
    )
    .bind(trial.tuning_id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(()); // the search was deleted with its parent run
    };
    if row.ended {
        return Ok(()); // cancelled: the search is over
    }
    let trials: Vec<BTreeMap<String, f64>> = serde_json::from_value(row.trials).map_err(anyhow::Error::from)?;
    let algorithms: Option<Vec<String>> = row.algorithms.map(serde_json::from_value).transpose().map_err(anyhow::Error::from)?;
    // A trial's job that runs again (its worker stopped) ends again: count it once.
    let first_end = sqlx::query("INSERT INTO run_tags (run_id, key, value) VALUES ($1, 'trellis.trial_ended', 'true') ON CONFLICT DO NOTHING")
        .bind(run_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
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
    let finished = row.finished + i32::from(first_end);
    let mut started = row.started;
    let parent: (String, i64, String, Option<i64>) =
        sqlx::query_as("SELECT run_uuid, experiment_id, user_name, user_id FROM runs WHERE id = $1").bind(row.parent_run_id).fetch_one(&mut *tx).await?;
    if first_end && (started as usize) < trials.len() && !row.out_of_time {
        let prepared: Prepared = serde_json::from_value(row.request).map_err(anyhow::Error::from)?;
        let index = started as usize;
        let next = Trial {
            prepared: &prepared,
            algorithm: algorithms.as_ref().and_then(|a| a.get(index)).and_then(|a| Algorithm::parse(a)),
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
    // The search ends when every queued trial has ended and no more will be queued.
    let done = finished >= started && ((started as usize) >= trials.len() || row.out_of_time);
    if first_end && done {
        let status = if best_run_id.is_some() { "FINISHED" } else { "FAILED" };
        end_search(&mut tx, trial.tuning_id, row.parent_run_id, &trials, &row.metric, best_run_id.zip(best_value), status).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends a search: the parent run takes `status`, and with a best trial, its metric
/// (`best_<metric>`) and tags (`trellis.best_run_id`, `trellis.best_trial`,
/// `trellis.best_algorithm`, `best.<param>` for the searched parameters).
async fn end_search(
    tx: &mut sqlx::PgConnection,
    tuning_id: i64,
    parent_run_id: i64,
    trials: &[BTreeMap<String, f64>],
    metric: &str,
    best: Option<(i64, f64)>,
    status: &str,
) -> Result<()> {
    let now = tracking::now_ms();
    sqlx::query("UPDATE tunings SET ended = TRUE WHERE id = $1").bind(tuning_id).execute(&mut *tx).await?;
    sqlx::query("UPDATE runs SET status = $2, end_time = $3 WHERE id = $1").bind(parent_run_id).bind(status).bind(now).execute(&mut *tx).await?;
    let Some((best, value)) = best else { return Ok(()) };
    let (best_uuid, best_name): (String, String) = sqlx::query_as("SELECT run_uuid, name FROM runs WHERE id = $1").bind(best).fetch_one(&mut *tx).await?;
    let best_params: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM run_params WHERE run_id = $1").bind(best).fetch_all(&mut *tx).await?;
    let searched: std::collections::BTreeSet<&String> = trials.iter().flat_map(|t| t.keys()).collect();
    let best_algorithm = best_params.iter().find(|(k, _)| k == "algorithm").map(|(_, v)| v.clone()).unwrap_or_default();
    let mut tags = vec![
        ("trellis.best_run_id".to_string(), best_uuid),
        ("trellis.best_trial".to_string(), best_name),
        ("trellis.best_algorithm".to_string(), best_algorithm),
    ];
    tags.extend(best_params.into_iter().filter(|(k, _)| searched.contains(&k)).map(|(k, v)| (format!("best.{k}"), v)));
    tracking::set_run_tags(&mut *tx, parent_run_id, &tags).await?;
    let metric = tracking::Metric { key: format!("best_{metric}"), value, timestamp: now, step: 0 };
    crate::metric_store::append(&mut *tx, parent_run_id, &[metric]).await?;
    Ok(())
}

/// What cancelling a search did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchCancelled {
    /// The parent run, now KILLED.
    pub run_id: String,
    /// Trial jobs cancelled (queued ones at once; running ones are asked to stop).
    pub cancelled_jobs: u64,
    /// The best trial so far, when one had ended.
    pub best_run_id: Option<String>,
}

/// Cancels a whole search (editors), named by its parent run: no new trial starts, queued trials
/// are cancelled, running ones asked to stop, trial runs not yet ended are marked KILLED, and the
/// parent run ends KILLED with the best trial so far.
pub async fn cancel(core: &Core, actor: &Actor, project: &str, run_id: &str) -> Result<SearchCancelled> {
    let (project, _) = crate::projects::authorize(&core.db, actor, project, crate::projects::Access::Write).await?;
    let mut tx = core.db.begin().await?;
    let found: Option<(i64, i64)> = sqlx::query_as(
        "SELECT t.id, r.id FROM tunings t JOIN runs r ON r.id = t.parent_run_id JOIN experiments e ON e.id = r.experiment_id
          WHERE r.run_uuid = $1 AND e.project_id = $2",
    )
    .bind(run_id)
    .bind(project.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((tuning_id, parent_run_id)) = found else {
        return Err(Error::not_found(format!("run {run_id} is not a search in project '{}'", project.slug)));
    };
    let row = sqlx::query_as::<_, TuningRow>(
        "SELECT parent_run_id, request, trials, metric, maximize, started, finished, best_run_id, best_value, algorithms,
                coalesce(deadline <= now(), false) AS out_of_time, ended
           FROM tunings WHERE id = $1 FOR UPDATE",
    )
    .bind(tuning_id)
    .fetch_one(&mut *tx)
    .await?;
    if row.ended {
        return Err(Error::conflict(format!("the search of run {run_id} has already ended")));
    }
    let children: Vec<i64> = sqlx::query_scalar(
        "SELECT p.run_id FROM run_tags p WHERE p.key = 'mlflow.parentRunId' AND p.value = $1",
    )
    .bind(run_id)
    .fetch_all(&mut *tx)
    .await?;
    let cancelled_jobs = sqlx::query(
        "UPDATE jobs SET cancel_requested = TRUE, updated_at = now(),
                state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END
          WHERE state IN ('queued', 'running')
            AND id IN (SELECT value::bigint FROM run_tags WHERE key = 'trellis.job_id' AND run_id = ANY($1))",
    )
    .bind(&children)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("UPDATE runs SET status = 'KILLED', end_time = $2 WHERE id = ANY($1) AND status IN ('SCHEDULED', 'RUNNING')")
        .bind(&children)
        .bind(tracking::now_ms())
        .execute(&mut *tx)
        .await?;
    let trials: Vec<BTreeMap<String, f64>> = serde_json::from_value(row.trials).map_err(anyhow::Error::from)?;
    let best = row.best_run_id.zip(row.best_value);
    end_search(&mut tx, tuning_id, parent_run_id, &trials, &row.metric, best, "KILLED").await?;
    let best_run_id: Option<String> = match best {
        Some((id, _)) => Some(sqlx::query_scalar("SELECT run_uuid FROM runs WHERE id = $1").bind(id).fetch_one(&mut *tx).await?),
        None => None,
    };
    audit::record(&mut tx, actor, Some(project.id), "tuning.cancel", "run", run_id, json!({ "cancelled_jobs": cancelled_jobs })).await?;
    tx.commit().await?;
    Ok(SearchCancelled { run_id: run_id.to_string(), cancelled_jobs, best_run_id })
}
