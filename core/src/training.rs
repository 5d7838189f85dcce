//! Built-in training jobs: a request is checked whole at submission (dataset version, target,
//! task, features, split sizes, hyperparameters), then a run and a `training.builtin` job are
//! written in one transaction. The job reads the version, trains with `trellis_ml::train`, and
//! logs everything into the run: params, loss curves as metric history, evaluation metrics, the
//! model with its signature and training baseline, and evaluation details as artifacts.

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use trellis_ml::profile::{ColumnProfile, ColumnType};
use trellis_ml::train::columns::ColumnBuilder;
use trellis_ml::train::{Algorithm, Params, Target, Task, TrainingData};

use crate::actor::Actor;
use crate::datasets::{self, Format};
use crate::projects::Access;
use crate::tracking::{self, Metric};
use crate::worker::{JobContext, Permanent};
use crate::{audit, Core, Error, Result};

pub const TRAIN_KIND: &str = "training.builtin";
/// Most classes a classification target may have.
pub const MAX_CLASSES: u64 = 100;
/// Fewest training rows a job accepts.
pub const MIN_TRAIN_ROWS: u64 = 5;
/// The split used when a version has none saved.
pub const DEFAULT_FRACTIONS: [f64; 3] = [0.8, 0.1, 0.1];

/// `POST /v1/projects/{project}/training-jobs`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingRequest {
    /// Experiment name in the project; created when missing.
    pub experiment: String,
    pub dataset: String,
    pub version: i32,
    /// The column to predict.
    pub target: String,
    /// `binary`, `multiclass` or `regression`.
    pub task: String,
    /// `linear`, `random_forest` or `gradient_boosting`.
    pub algorithm: String,
    /// Hyperparameters (see `GET /v1/training/algorithms`); defaults fill the rest.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, Value>,
    /// Feature columns; default: every column but the target (and a split column).
    #[serde(default)]
    pub features: Option<Vec<String>>,
    /// Seed for everything random in training (default 0).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The run's name (default: `<algorithm>-<dataset>-v<version>`).
    #[serde(default)]
    pub run_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Submitted {
    pub job_id: i64,
    pub run_id: String,
    pub experiment_id: String,
}

/// What the job needs, fixed at submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Payload {
    run_id: i64,
    run_uuid: String,
    version_id: i64,
    pub(crate) target: String,
    pub(crate) task: Task,
    pub(crate) algorithm: Algorithm,
    pub(crate) params: Params,
    /// (name, type) of each feature.
    features: Vec<(String, ColumnType)>,
    target_type: ColumnType,
    pub(crate) seed: u64,
    split: SplitRule,
    /// Set when the run is a trial of a hyperparameter search.
    #[serde(default)]
    trial: Option<TrialRef>,
}

/// A trial's place in its search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrialRef {
    pub tuning_id: i64,
    pub index: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub(crate) enum SplitRule {
    Random { fractions: [f64; 3], seed: u64 },
    Column { column: String },
}

impl SplitRule {
    /// The part (0 train, 1 validation, 2 test) of the data row numbered `row` (from 0);
    /// `label` gives the row's split-column cell.
    pub(crate) fn part(&self, row: u64, label: impl FnOnce() -> String) -> anyhow::Result<usize> {
        match self {
            SplitRule::Random { fractions, seed } => Ok(trellis_ml::split::assign(*seed, row, *fractions)),
            SplitRule::Column { column } => {
                let text = label();
                trellis_ml::split::parse_label(&text)
                    .ok_or_else(|| Permanent(format!("row {}, column '{column}': '{text}' is not train, validation or test", row + 1)).into())
            }
        }
    }

    /// The split column, for a column split.
    pub(crate) fn column(&self) -> Option<&str> {
        match self {
            SplitRule::Column { column } => Some(column),
            SplitRule::Random { .. } => None,
        }
    }
}

/// An algorithm's hyperparameters, for forms and documentation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlgorithmInfo {
    pub name: &'static str,
    #[schema(value_type = Vec<Object>)]
    pub params: Vec<trellis_ml::train::ParamSpec>,
}

pub fn algorithms() -> Vec<AlgorithmInfo> {
    Algorithm::ALL.iter().map(|a| AlgorithmInfo { name: a.as_str(), params: trellis_ml::train::params::specs(*a).to_vec() }).collect()
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg)
}

/// The version row a request names, with its profile.
struct VersionRow {
    id: i64,
    status: String,
    row_count: Option<i64>,
    statistics: Option<Value>,
}

/// A request checked whole, ready to become runs and jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Prepared {
    pub project_id: i64,
    pub project_slug: String,
    pub experiment: String,
    /// `dataset@vN`.
    pub label: String,
    pub dataset: String,
    pub version: i32,
    pub run_name: String,
    pub feature_names: Vec<String>,
    /// The job's payload, without its run.
    pub(crate) template: Payload,
}

/// Checks a request against the dataset version's profile (editors of the project).
pub(crate) async fn prepare(core: &Core, actor: &Actor, project: &str, req: &TrainingRequest) -> Result<Prepared> {
    let (project, ds) = datasets::authorize(&core.db, actor, project, &req.dataset, Access::Write).await?;
    let task = Task::parse(&req.task).ok_or_else(|| bad(format!("task: '{}' is not one of binary, multiclass, regression", req.task)))?;
    let algorithm = Algorithm::parse(&req.algorithm)
        .ok_or_else(|| bad(format!("algorithm: '{}' is not one of linear, random_forest, gradient_boosting", req.algorithm)))?;
    let params = Params::resolve(algorithm, &req.params).map_err(|e| bad(format!("params: {e}")))?;
    let experiment = req.experiment.trim();
    if experiment.is_empty() || experiment.len() > 500 {
        return Err(bad("experiment: a name of 1–500 characters is needed"));
    }
    let row: Option<(i64, String, Option<i64>, Option<Value>)> =
        sqlx::query_as("SELECT id, status, row_count, statistics FROM dataset_versions WHERE dataset_id = $1 AND version = $2")
            .bind(ds.id)
            .bind(req.version)
            .fetch_optional(&core.db)
            .await?;
    let Some((id, status, row_count, statistics)) = row else {
        return Err(Error::not_found(format!("dataset '{}' has no version {}", ds.name, req.version)));
    };
    let v = VersionRow { id, status, row_count, statistics };
    let label = format!("{}@v{}", ds.name, req.version);
    match v.status.as_str() {
        "ready" => {}
        "profiling" => return Err(bad(format!("{label} is still being profiled; train once its profile is ready"))),
        _ => return Err(bad(format!("{label} failed profiling and cannot be used for training"))),
    }
    let columns: Vec<ColumnProfile> = serde_json::from_value(v.statistics.clone().unwrap_or(Value::Null))
        .map_err(|e| anyhow::anyhow!("stored statistics of {label} do not parse: {e}"))?;
    let find = |name: &str| columns.iter().find(|c| c.name == name);
    let names = || columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let target = find(&req.target).ok_or_else(|| bad(format!("target: '{}' is not a column of {label} (columns: {})", req.target, names())))?;
    check_target(target, task)?;
    let (split, counts) = saved_split(&core.db, v.id, v.row_count).await?;
    // Rows without a target are left out; the split's counts include them, so this check is
    // on the rows that have one where the profile can tell.
    let usable = |n: u64| if target.count + target.missing > 0 { n * target.count / (target.count + target.missing) } else { n };
    if usable(counts[0]) < MIN_TRAIN_ROWS || counts[1] == 0 || counts[2] == 0 {
        return Err(bad(format!(
            "{label} has too few rows for training: its split gives train={}, validation={}, test={}; at least {MIN_TRAIN_ROWS} training rows with a target and 1 validation and 1 test row are needed",
            counts[0], counts[1], counts[2]
        )));
    }
    let split_column = split.column();
    let feature_names: Vec<String> = match &req.features {
        Some(list) => {
            if list.is_empty() {
                return Err(bad("features: give at least one column, or leave features out to use them all"));
            }
            let mut seen = std::collections::HashSet::new();
            for f in list {
                if find(f).is_none() {
                    return Err(bad(format!("features: '{f}' is not a column of {label} (columns: {})", names())));
                }
                if *f == req.target {
                    return Err(bad(format!("features: '{f}' is the target")));
                }
                if Some(f.as_str()) == split_column {
                    return Err(bad(format!("features: '{f}' is the column that splits the rows")));
                }
                if !seen.insert(f.as_str()) {
                    return Err(bad(format!("features: '{f}' is listed twice")));
                }
            }
            list.clone()
        }
        None => columns.iter().map(|c| c.name.clone()).filter(|n| *n != req.target && Some(n.as_str()) != split_column).collect(),
    };
    if feature_names.is_empty() {
        return Err(bad(format!("{label} has no columns besides the target to learn from")));
    }
    let features: Vec<(String, ColumnType)> = feature_names.iter().map(|n| (n.clone(), find(n).expect("checked").column_type)).collect();
    let seed = req.seed.unwrap_or(0);
    let run_name = req.run_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("{}-{}-v{}", algorithm.as_str(), ds.name, req.version));
    if run_name.len() > 250 {
        return Err(bad("run_name: at most 250 characters"));
    }

    Ok(Prepared {
        project_id: project.id,
        project_slug: project.slug.clone(),
        experiment: experiment.to_string(),
        label,
        dataset: ds.name.clone(),
        version: req.version,
        run_name,
        feature_names,
        template: Payload {
            run_id: 0,
            run_uuid: String::new(),
            version_id: v.id,
            target: req.target.clone(),
            task,
            algorithm,
            params,
            features,
            target_type: target.column_type,
            seed,
            split,
            trial: None,
        },
    })
}

/// The experiment named in the project, created when missing (and audited).
pub(crate) async fn experiment_for(tx: &mut sqlx::PgConnection, actor: &Actor, project_id: i64, name: &str) -> Result<i64> {
    let existing: Option<(i64, String)> = sqlx::query_as("SELECT id, lifecycle_stage FROM experiments WHERE project_id = $1 AND name = $2")
        .bind(project_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
    match existing {
        Some((_, stage)) if stage != "active" => Err(bad(format!("experiment: '{name}' is deleted; restore it or choose another name"))),
        Some((id, _)) => Ok(id),
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO experiments (project_id, name, created_by, creation_time, last_update_time) VALUES ($1, $2, $3, $4, $4) RETURNING id",
            )
            .bind(project_id)
            .bind(name)
            .bind(actor.user_id)
            .bind(tracking::now_ms())
            .fetch_one(&mut *tx)
            .await?;
            audit::record(tx, actor, Some(project_id), "experiment.create", "experiment", name, json!({ "id": id })).await?;
            Ok(id)
        }
    }
}

/// A version's saved split, or 80/10/10 by row with seed 0; with its rows per part.
pub(crate) async fn saved_split(db: &PgPool, version_id: i64, row_count: Option<i64>) -> Result<(SplitRule, [u64; 3])> {
    let split_row: Option<(String, Option<i64>, Option<Value>, Option<String>, Value)> = sqlx::query_as(
        "SELECT method, seed, fractions, split_column, counts FROM dataset_splits WHERE version_id = $1",
    )
    .bind(version_id)
    .fetch_optional(db)
    .await?;
    Ok(match split_row {
        Some((method, seed, fractions, column, counts)) => {
            let counts = ["train", "validation", "test"].map(|k| counts.get(k).and_then(Value::as_u64).unwrap_or(0));
            if method == "column" {
                (SplitRule::Column { column: column.unwrap_or_default() }, counts)
            } else {
                let f = fractions.unwrap_or(Value::Null);
                let fractions = ["train", "validation", "test"].map(|k| f.get(k).and_then(Value::as_f64).unwrap_or(0.0));
                (SplitRule::Random { fractions, seed: seed.unwrap_or(0) as u64 }, counts)
            }
        }
        None => {
            let rows = row_count.unwrap_or(0).max(0) as u64;
            let mut counts = [0u64; 3];
            for r in 0..rows {
                counts[trellis_ml::split::assign(0, r, DEFAULT_FRACTIONS)] += 1;
            }
            (SplitRule::Random { fractions: DEFAULT_FRACTIONS, seed: 0 }, counts)
        }
    })
}

/// Writes a SCHEDULED run started by a job; returns (run id, run uuid).
pub(crate) async fn insert_scheduled_run(tx: &mut sqlx::PgConnection, experiment_id: i64, name: &str, user_id: Option<i64>, user_name: &str) -> Result<(i64, String)> {
    let run_uuid = uuid::Uuid::new_v4().simple().to_string();
    let run_id: i64 = sqlx::query_scalar(
        "INSERT INTO runs (run_uuid, experiment_id, name, user_id, user_name, status, start_time) VALUES ($1, $2, $3, $4, $5, 'SCHEDULED', $6) RETURNING id",
    )
    .bind(&run_uuid)
    .bind(experiment_id)
    .bind(name)
    .bind(user_id)
    .bind(user_name)
    .bind(tracking::now_ms())
    .fetch_one(&mut *tx)
    .await?;
    Ok((run_id, run_uuid))
}

/// Records a dataset version as an input of a run (MLflow's `log_inputs`, context `training`).
pub(crate) async fn link_dataset_version(tx: &mut sqlx::PgConnection, run_id: i64, project_slug: &str, dataset: &str, version: i32, version_id: i64) -> Result<()> {
    let label = format!("{dataset}@v{version}");
    let source = json!({ "uri": format!("/projects/{project_slug}/datasets/{dataset}/versions/{version}") }).to_string();
    let digest: Option<String> = sqlx::query_scalar("SELECT left(sha256, 8) FROM dataset_versions WHERE id = $1").bind(version_id).fetch_one(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO run_dataset_inputs (run_id, name, digest, source_type, source, tags, dataset_version_id)
         VALUES ($1, $2, $3, 'trellis', $4, $5, $6)",
    )
    .bind(run_id)
    .bind(&label)
    .bind(digest.unwrap_or_default())
    .bind(&source)
    .bind(json!([{ "key": "mlflow.data.context", "value": "training" }]))
    .bind(version_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A new run of a prepared request, with its own parameters.
pub(crate) struct NewRun<'a> {
    pub experiment_id: i64,
    pub name: &'a str,
    pub user_id: Option<i64>,
    pub user_name: &'a str,
    pub params: Params,
    /// Tags besides the usual ones (a parent run, a trial number).
    pub tags: Vec<(String, String)>,
    pub trial: Option<TrialRef>,
}

/// Writes a SCHEDULED run (params, tags, dataset input) and its training job; returns
/// (run id, run uuid, job id).
pub(crate) async fn create_training_run(tx: &mut sqlx::PgConnection, p: &Prepared, run: NewRun<'_>) -> Result<(i64, String, i64)> {
    let (run_id, run_uuid) = insert_scheduled_run(&mut *tx, run.experiment_id, run.name, run.user_id, run.user_name).await?;
    let t = &p.template;
    let mut run_params: Vec<(String, String)> = run.params.0.iter().map(|(k, v)| (k.clone(), trellis_ml::train::prep::format_number(*v))).collect();
    run_params.extend([
        ("algorithm".to_string(), t.algorithm.as_str().to_string()),
        ("task".to_string(), t.task.as_str().to_string()),
        ("target".to_string(), t.target.clone()),
        ("dataset".to_string(), p.label.clone()),
        ("seed".to_string(), t.seed.to_string()),
        ("features".to_string(), truncate(&p.feature_names.join(","), 6000)),
        ("split".to_string(), match &t.split {
            SplitRule::Random { fractions, seed } => format!("random {}/{}/{} seed {seed}", fractions[0], fractions[1], fractions[2]),
            SplitRule::Column { column } => format!("column {column}"),
        }),
    ]);
    let mut tags = vec![
        ("mlflow.user".to_string(), run.user_name.to_string()),
        ("mlflow.source.type".to_string(), "JOB".to_string()),
        ("mlflow.source.name".to_string(), format!("trellis:{TRAIN_KIND}")),
        ("trellis.algorithm".to_string(), t.algorithm.as_str().to_string()),
    ];
    tags.extend(run.tags);
    tracking::upsert_pairs(&mut *tx, "run_params", "run_id", run_id, &run_params, false).await?;
    tracking::set_run_tags(&mut *tx, run_id, &tags).await?;
    link_dataset_version(&mut *tx, run_id, &p.project_slug, &p.dataset, p.version, t.version_id).await?;
    let payload = Payload { run_id, run_uuid: run_uuid.clone(), params: run.params, trial: run.trial, ..t.clone() };
    let job_id: i64 = sqlx::query_scalar("INSERT INTO jobs (project_id, kind, payload, max_attempts, created_by) VALUES ($1, $2, $3, 1, $4) RETURNING id")
        .bind(p.project_id)
        .bind(TRAIN_KIND)
        .bind(serde_json::to_value(&payload).map_err(anyhow::Error::from)?)
        .bind(run.user_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO run_tags (run_id, key, value) VALUES ($1, 'trellis.job_id', $2)")
        .bind(run_id)
        .bind(job_id.to_string())
        .execute(&mut *tx)
        .await?;
    Ok((run_id, run_uuid, job_id))
}

/// Checks a request and starts its job (editors). Everything a job would otherwise discover
/// late — a missing or unsuitable target, too few rows, bad parameters — is a 400 here.
pub async fn submit(core: &Core, actor: &Actor, project: &str, req: TrainingRequest) -> Result<Submitted> {
    let p = prepare(core, actor, project, &req).await?;
    let mut tx = core.db.begin().await?;
    let experiment_id = experiment_for(&mut tx, actor, p.project_id, &p.experiment).await?;
    let (_, run_uuid, job_id) = create_training_run(
        &mut tx,
        &p,
        NewRun {
            experiment_id,
            name: &p.run_name,
            user_id: actor.user_id,
            user_name: &actor.email,
            params: p.template.params.clone(),
            tags: Vec::new(),
            trial: None,
        },
    )
    .await?;
    let t = &p.template;
    audit::record(
        &mut tx,
        actor,
        Some(p.project_id),
        "training.submit",
        "run",
        &run_uuid,
        json!({ "job_id": job_id, "dataset": p.label, "algorithm": t.algorithm.as_str(), "task": t.task.as_str(), "target": t.target }),
    )
    .await?;
    tx.commit().await?;
    Ok(Submitted { job_id, run_id: run_uuid, experiment_id: experiment_id.to_string() })
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A target fits a task: numbers for regression, a few classes for classification, never constant.
fn check_target(t: &ColumnProfile, task: Task) -> Result<()> {
    let name = &t.name;
    if t.count == 0 {
        return Err(bad(format!("target: '{name}' has no values")));
    }
    if t.distinct <= 1 {
        return Err(bad(format!("target: '{name}' is constant (one distinct value); there is nothing to learn")));
    }
    match task {
        Task::Regression => {
            if !t.column_type.is_numeric() {
                return Err(bad(format!("target: '{name}' is a {} column; regression needs a numeric target", t.column_type.as_str())));
            }
        }
        Task::Binary => {
            if t.distinct != 2 {
                return Err(bad(format!("target: '{name}' has {} distinct values; a binary task needs exactly 2 (use multiclass)", t.distinct)));
            }
        }
        Task::Multiclass => {
            if t.distinct > MAX_CLASSES {
                return Err(bad(format!("target: '{name}' has {} distinct values; classification allows at most {MAX_CLASSES} classes (use regression for numbers)", t.distinct)));
            }
        }
    }
    Ok(())
}

/// Marks a run finished, failed or killed.
async fn end_run(db: &PgPool, run_id: i64, status: &str) -> Result<()> {
    sqlx::query("UPDATE runs SET status = $2, end_time = $3 WHERE id = $1")
        .bind(run_id)
        .bind(status)
        .bind(tracking::now_ms())
        .execute(db)
        .await?;
    Ok(())
}

/// The `training.builtin` job.
pub async fn training_job(ctx: JobContext, core: Core) -> anyhow::Result<Option<Value>> {
    let payload: Payload = ctx.payload()?;
    let result = run_training(&ctx, &core, &payload).await;
    match &result {
        Ok(_) => end_run(&core.db, payload.run_id, "FINISHED").await?,
        Err(_) if ctx.cancelled().is_cancelled() => end_run(&core.db, payload.run_id, "KILLED").await?,
        Err(e) => {
            let _ = ctx.log_stream("error", &format!("training failed: {e:#}")).await;
            end_run(&core.db, payload.run_id, "FAILED").await?;
        }
    }
    // A trial, finished either way, lets its search go on.
    if let Some(trial) = &payload.trial {
        crate::tuning::trial_finished(&core.db, trial, payload.run_id).await?;
    }
    result
}

async fn run_training(ctx: &JobContext, core: &Core, p: &Payload) -> anyhow::Result<Option<Value>> {
    let row: Option<(String, Option<String>, String, i64, Option<i64>, Option<Value>)> =
        sqlx::query_as("SELECT sha256, compression, format, size, row_count, statistics FROM dataset_versions WHERE id = $1")
            .bind(p.version_id)
            .fetch_optional(&core.db)
            .await?;
    let Some((sha256, compression, format, size, row_count, statistics)) = row else {
        return Err(Permanent("the dataset version was deleted before training started".into()).into());
    };
    // A job run again (its worker stopped half-way) starts the run's values afresh.
    let mut tx = core.db.begin().await?;
    sqlx::query("UPDATE runs SET status = 'RUNNING', end_time = NULL WHERE id = $1").bind(p.run_id).execute(&mut *tx).await?;
    crate::metric_store::clear(&mut tx, p.run_id).await?;
    tx.commit().await?;
    let total_rows = row_count.unwrap_or(0).max(1) as f64;
    ctx.log(&format!(
        "training {} ({}) on {} features to predict '{}', seed {}",
        p.algorithm.as_str(),
        p.task.as_str(),
        p.features.len(),
        p.target,
        p.seed
    ))
    .await?;
    ctx.progress(0.0, "reading the dataset").await?;

    // Progress from the blocking threads arrives through a channel.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(f64, String)>(64);
    let runtime = tokio::runtime::Handle::current();
    let blobs = core.blobs.clone();
    let p2 = p.clone();
    let read_tx = tx.clone();
    let work = tokio::task::spawn_blocking(move || -> anyhow::Result<(TrainingData, u64)> {
        let report = |rows: u64| {
            if rows % 50_000 == 0 {
                let _ = read_tx.blocking_send((0.3 * rows as f64 / total_rows, format!("read {rows} rows")));
            }
        };
        match Format::parse(&format) {
            Format::Parquet => read_parquet(&runtime, blobs.ranged(&sha256, size as u64), &p2, report),
            Format::Csv => {
                let raw = runtime.block_on(blobs.reader(&sha256))?;
                read_csv(raw, compression.is_some(), &p2, report)
            }
        }
    });
    drop(tx);
    // Forward progress while reading.
    let forward = async {
        while let Some((f, m)) = rx.recv().await {
            let _ = ctx.progress(f, &m).await;
        }
    };
    let (read, _) = tokio::join!(work, forward);
    let (data, dropped) = read??;
    if ctx.cancelled().is_cancelled() {
        anyhow::bail!("cancelled");
    }
    ctx.log(&format!(
        "read {} rows ({} without a target left out)",
        data.target.len(),
        dropped
    ))
    .await?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<(f64, String)>(64);
    let p2 = p.clone();
    let work = tokio::task::spawn_blocking(move || {
        let progress = move |f: f64, m: &str| {
            let _ = tx.try_send((0.3 + 0.6 * f, m.to_string()));
        };
        trellis_ml::train::train(&data, &p2.target, p2.task, p2.algorithm, &p2.params, p2.seed, &progress)
    });
    let forward = async {
        while let Some((f, m)) = rx.recv().await {
            let _ = ctx.progress(f, &m).await;
            let _ = ctx.log(&m).await;
        }
    };
    let (trained, _) = tokio::join!(work, forward);
    let outcome = trained?.map_err(|e| Permanent(e.to_string()))?;
    ctx.log(&format!("trained on {} rows; validating on {}, testing on {}", outcome.rows[0], outcome.rows[1], outcome.rows[2])).await?;
    ctx.progress(0.92, "logging metrics and the model").await?;

    // Metrics: loss per iteration (`curve_…`, one step per iteration or tree), then the final
    // model's evaluation per split (`validation_…`, `test_…`).
    let now = tracking::now_ms();
    let mut metrics: Vec<Metric> = Vec::new();
    let loss = &outcome.curves.loss_name;
    for (step, train, valid) in &outcome.curves.loss {
        metrics.push(Metric { key: format!("curve_train_{loss}"), value: *train, timestamp: now, step: *step as i64 });
        if let Some(v) = valid {
            metrics.push(Metric { key: format!("curve_validation_{loss}"), value: *v, timestamp: now, step: *step as i64 });
        }
    }
    let mut summary = serde_json::Map::new();
    for (split, report) in &outcome.reports {
        for (name, value) in report.metrics() {
            if value.is_finite() {
                metrics.push(Metric { key: format!("{split}_{name}"), value, timestamp: now, step: 0 });
                summary.insert(format!("{split}_{name}"), json!(value));
            }
        }
    }
    if let trellis_ml::train::Estimator::GradientBoosting(b) = &outcome.model.estimator {
        let trees = b.trees();
        metrics.push(Metric { key: "trees".into(), value: trees.iter().sum::<usize>() as f64, timestamp: now, step: 0 });
    }
    let mut conn = core.db.acquire().await?;
    for chunk in metrics.chunks(5_000) {
        crate::metric_store::append(&mut *conn, p.run_id, chunk).await?;
    }
    drop(conn);
    core.metrics.wrote(&core.db, p.run_id, metrics.len());

    // Artifacts: the model, its signature and baseline, evaluation details, importances.
    let importance = outcome.model.feature_importance();
    let stats: Vec<ColumnProfile> = statistics.and_then(|s| serde_json::from_value(s).ok()).unwrap_or_default();
    let baseline: Vec<&ColumnProfile> = p.features.iter().filter_map(|(n, _)| stats.iter().find(|c| c.name == *n)).collect();
    let signature = signature_of(&outcome.model, p);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("model/model.json", serde_json::to_vec(&outcome.model)?),
        ("model/signature.json", serde_json::to_vec_pretty(&signature)?),
        ("model/baseline.json", serde_json::to_vec_pretty(&json!({ "features": baseline }))?),
        ("feature_importance.json", serde_json::to_vec_pretty(&importance.iter().map(|(n, v)| json!({ "feature": n, "importance": v })).collect::<Vec<_>>())?),
        ("evaluation.json", serde_json::to_vec_pretty(&outcome.reports.iter().map(|(s, r)| json!({ "split": s, "report": r })).collect::<Vec<_>>())?),
        ("loss_curve.json", serde_json::to_vec(&outcome.curves)?),
    ];
    for (path, bytes) in files {
        crate::artifacts::put_bytes_for_run(core, p.run_id, path, bytes).await?;
    }
    ctx.progress(1.0, "done").await?;
    ctx.log(&format!("logged {} metric values and the model", metrics.len())).await?;
    Ok(Some(json!({ "run_id": p.run_uuid, "metrics": summary, "rows": outcome.rows })))
}

/// Inputs (names, types, categories) and outputs (classes or a value) of a model.
fn signature_of(model: &trellis_ml::train::Model, p: &Payload) -> Value {
    use trellis_ml::train::FeatureSpec;
    let inputs: Vec<Value> = model
        .preprocessor
        .features
        .iter()
        .zip(&p.features)
        .map(|(f, (_, t))| match f {
            FeatureSpec::Numeric { name, .. } => json!({ "name": name, "type": t.as_str() }),
            FeatureSpec::Categorical { name, categories, .. } => json!({ "name": name, "type": t.as_str(), "categories": categories }),
        })
        .collect();
    let outputs = if model.task.is_classification() {
        json!({ "type": "probabilities", "classes": model.classes })
    } else {
        json!({ "type": "value", "name": p.target })
    };
    json!({ "task": model.task, "algorithm": model.algorithm, "target": p.target, "inputs": inputs, "outputs": outputs })
}

/// Builders for the target and features, and where each sits among the file's columns.
struct Readers {
    target: (usize, ColumnBuilder),
    features: Vec<(usize, ColumnBuilder)>,
    split_column: Option<usize>,
}

fn readers(header: &[String], p: &Payload) -> anyhow::Result<Readers> {
    let at = |name: &str| -> anyhow::Result<usize> {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| Permanent(format!("column '{name}' is not in the file")).into())
    };
    Ok(Readers {
        target: (at(&p.target)?, ColumnBuilder::new(&p.target, p.target_type, p.task.is_classification())),
        features: p.features.iter().map(|(n, t)| Ok((at(n)?, ColumnBuilder::new(n, *t, false)))).collect::<anyhow::Result<_>>()?,
        split_column: p.split.column().map(at).transpose()?,
    })
}

/// Adds one row; returns its split, or an error for a bad split label.
fn push_row(r: &mut Readers, cell: impl Fn(usize) -> String, row: u64, split: &SplitRule, keep: &mut Vec<bool>, splits: &mut Vec<u8>) -> anyhow::Result<()> {
    let s = split.part(row, || r.split_column.map(&cell).unwrap_or_default())? as u8;
    let t = cell(r.target.0);
    keep.push(!ColumnBuilder::missing(&t));
    r.target.1.push(&t);
    for (c, b) in &mut r.features {
        b.push(&cell(*c));
    }
    splits.push(s);
    Ok(())
}

fn finish(mut r: Readers, keep: Vec<bool>, mut splits: Vec<u8>) -> (TrainingData, u64) {
    let dropped = keep.iter().filter(|k| !**k).count() as u64;
    if dropped > 0 {
        r.target.1.retain(&keep);
        for (_, b) in &mut r.features {
            b.retain(&keep);
        }
        let mut i = 0;
        splits.retain(|_| (keep[i], i += 1).0);
    }
    let target = match r.target.1.finish_sorted().values {
        trellis_ml::train::Values::Categories { codes, levels } => Target::Classes { codes, labels: levels },
        trellis_ml::train::Values::Numbers(v) => Target::Numbers(v),
    };
    let features = r.features.into_iter().map(|(_, b)| b.finish()).collect();
    (TrainingData { features, target, split: splits }, dropped)
}

fn read_csv(raw: Box<dyn Read + Send>, gzip: bool, p: &Payload, report: impl Fn(u64)) -> anyhow::Result<(TrainingData, u64)> {
    let mut rdr = datasets::csv_from(raw, gzip);
    let header: Vec<String> = rdr.headers()?.iter().map(str::to_string).collect();
    let mut r = readers(&header, p)?;
    let (mut keep, mut splits) = (Vec::new(), Vec::new());
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    while rdr.read_record(&mut record)? {
        push_row(&mut r, |c| record[c].to_string(), row, &p.split, &mut keep, &mut splits)?;
        row += 1;
        report(row);
    }
    Ok(finish(r, keep, splits))
}

fn read_parquet(runtime: &tokio::runtime::Handle, file: crate::storage::RangedBlob, p: &Payload, report: impl Fn(u64)) -> anyhow::Result<(TrainingData, u64)> {
    let mut r: Option<Readers> = None;
    let (mut keep, mut splits) = (Vec::new(), Vec::new());
    let mut row = 0u64;
    crate::parquet_files::for_each_row(runtime, file, |header, cells| {
        if r.is_none() {
            r = Some(readers(header, p)?);
        }
        push_row(r.as_mut().expect("set above"), |c| cells[c].clone(), row, &p.split, &mut keep, &mut splits)?;
        row += 1;
        report(row);
        Ok(())
    })?;
    let r = r.ok_or_else(|| Permanent("the file has no rows".into()))?;
    Ok(finish(r, keep, splits))
}

/// What a training job left in its run, for the run page.
#[derive(Debug, Clone)]
pub struct RunEvaluation {
    /// (split, report) for validation and test.
    pub reports: Vec<(String, trellis_ml::evaluate::Report)>,
    /// (feature, importance), most important first.
    pub importance: Vec<(String, f64)>,
    /// Class labels in output order (empty for regression).
    pub classes: Vec<String>,
}

async fn artifact_json(core: &Core, actor: &Actor, experiment_id: &str, run_id: &str, path: &str) -> Result<Option<Value>> {
    let at = crate::artifacts::ArtifactPath {
        experiment_id: experiment_id.to_string(),
        owner: crate::artifacts::Owner::Run(run_id.to_string()),
        path: path.to_string(),
    };
    let (sha256, size) = match crate::artifacts::get(core, actor, &at).await {
        Ok(found) => found,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = size.max(0) as u64;
    Ok(serde_json::from_slice(&core.blobs.head(&sha256, size, size).await?).ok())
}

/// The evaluation a training job wrote into a run (readers of the run), if it wrote one.
pub async fn run_evaluation(core: &Core, actor: &Actor, run_id: &str) -> Result<Option<RunEvaluation>> {
    let r = tracking::run_ref(&core.db, actor, run_id, Access::Read).await?;
    let experiment = r.experiment_id.to_string();
    let Some(evaluation) = artifact_json(core, actor, &experiment, run_id, "evaluation.json").await? else {
        return Ok(None);
    };
    let reports = evaluation
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e.get("split")?.as_str()?.to_string(), serde_json::from_value(e.get("report")?.clone()).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut importance: Vec<(String, f64)> = artifact_json(core, actor, &experiment, run_id, "feature_importance.json")
        .await?
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| Some((e.get("feature")?.as_str()?.to_string(), e.get("importance")?.as_f64()?)))
        .collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    let classes = artifact_json(core, actor, &experiment, run_id, "model/signature.json")
        .await?
        .and_then(|s| s.pointer("/outputs/classes").and_then(|c| serde_json::from_value(c.clone()).ok()))
        .unwrap_or_default();
    Ok(Some(RunEvaluation { reports, importance, classes }))
}

/// A profiled dataset version that training can use, with its columns.
#[derive(Debug, Clone, Serialize)]
pub struct Trainable {
    pub dataset: String,
    pub version: i32,
    pub rows: i64,
    /// (name, type, distinct values) per column.
    pub columns: Vec<(String, ColumnType, u64)>,
}

/// The project's profiled versions (the newest five of each dataset), for a training form (readers).
pub async fn trainable(db: &PgPool, actor: &Actor, project: &str) -> Result<Vec<Trainable>> {
    let (p, _) = crate::projects::authorize(db, actor, project, Access::Read).await?;
    let rows: Vec<(String, i32, Option<i64>, Option<Value>)> = sqlx::query_as(
        "SELECT name, version, row_count, statistics FROM (
            SELECT d.name, v.version, v.row_count, v.statistics,
                   row_number() OVER (PARTITION BY d.id ORDER BY v.version DESC) AS newest
              FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
             WHERE d.project_id = $1 AND d.archived_at IS NULL AND v.status = 'ready') t
          WHERE newest <= 5 ORDER BY name, version DESC",
    )
    .bind(p.id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(dataset, version, rows, stats)| {
            let cols: Vec<ColumnProfile> = stats.and_then(|s| serde_json::from_value(s).ok()).unwrap_or_default();
            Trainable { dataset, version, rows: rows.unwrap_or(0), columns: cols.into_iter().map(|c| (c.name, c.column_type, c.distinct)).collect() }
        })
        .collect())
}
