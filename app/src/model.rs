//! Data that crosses the wire between the server functions and the browser, and the typed
//! error both sides share.

use chrono::{DateTime, Utc};
use leptos::prelude::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("please sign in")]
    Unauthenticated,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("something went wrong on the server; the error was logged")]
    Internal,
    #[error("could not reach the server: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

impl From<ServerFnErrorErr> for AppError {
    fn from(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub is_instance_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub slug: String,
    pub name: String,
    pub description: String,
    /// The caller's role: admin, editor or viewer.
    pub role: String,
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
}

impl ProjectSummary {
    pub fn can_write(&self) -> bool {
        self.role == "admin" || self.role == "editor"
    }
    pub fn can_manage(&self) -> bool {
        self.role == "admin"
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRow {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub added_at: DateTime<Utc>,
}

/// A project's members, with whether the caller may manage them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembersPage {
    pub slug: String,
    pub can_manage: bool,
    pub members: Vec<MemberRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub project_slug: Option<String>,
    /// A predict-only token's endpoints.
    pub predict_endpoints: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: TokenRow,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub is_instance_admin: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteRow {
    pub id: i64,
    pub email: String,
    pub make_admin: bool,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInvite {
    pub invite: InviteRow,
    /// Path of the one-time link, `/invite/<secret>`.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: i64,
    pub project_slug: Option<String>,
    pub kind: String,
    pub state: String,
    pub progress: f64,
    pub progress_message: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub cancel_requested: bool,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl JobRow {
    pub fn is_active(&self) -> bool {
        self.state == "queued" || self.state == "running"
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub stream: String,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_email: String,
    pub project_slug: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: String,
    pub ip: Option<String>,
}

/// Audit log filters, as they appear in the page's query string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub project: Option<String>,
    pub action: Option<String>,
    pub user: Option<String>,
    /// `YYYY-MM-DD` (UTC), inclusive.
    pub since: Option<String>,
    /// `YYYY-MM-DD` (UTC), inclusive.
    pub until: Option<String>,
    pub before: Option<i64>,
}

pub fn fmt_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn fmt_opt_time(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(fmt_time).unwrap_or_else(|| "—".to_string())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRow {
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub version_count: i64,
    pub latest_version: Option<i32>,
    pub latest_status: Option<String>,
    /// Archived: kept and readable, hidden from the default list, closed to uploads.
    pub archived: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetList {
    pub can_write: bool,
    pub datasets: Vec<DatasetRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    pub version: i32,
    pub sha256: String,
    pub size: i64,
    /// `csv` or `parquet`.
    pub format: String,
    pub filename: String,
    pub compression: Option<String>,
    pub row_count: Option<i64>,
    pub column_count: Option<i32>,
    pub status: String,
    pub error: Option<String>,
    pub profile_job_id: Option<i64>,
    pub uploaded_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetPage {
    pub can_write: bool,
    pub dataset: DatasetRow,
    pub versions: Vec<VersionRow>,
}

/// One column of a profiled version, with its chart drawn on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnRow {
    pub name: String,
    pub column_type: String,
    pub count: u64,
    pub missing: u64,
    pub distinct: u64,
    pub distinct_exact: bool,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub median: Option<f64>,
    /// SVG markup: a histogram (numbers) or the most frequent values (others).
    pub chart_svg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionProfile {
    pub version: VersionRow,
    /// Progress of the profiling job while it runs.
    pub job_progress: Option<(f64, String)>,
    pub columns: Vec<ColumnRow>,
    pub preview_columns: Vec<String>,
    pub preview_rows: Vec<Vec<String>>,
    pub validation: Option<ValidationView>,
    pub can_write: bool,
    pub split: Option<SplitView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitView {
    /// How it was made, e.g. "random, seed 42" or "by column split".
    pub description: String,
    /// Rows in train, validation, test.
    pub counts: [u64; 3],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRow {
    pub column: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationView {
    pub compared_to: Option<i32>,
    pub anomalies: Vec<AnomalyRow>,
    /// (column, measure, value)
    pub distances: Vec<(String, String, f64)>,
}

pub fn fmt_bytes(n: i64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.1} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

pub fn fmt_num(x: Option<f64>) -> String {
    match x {
        None => "—".to_string(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.4}"),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewPage {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub offset: u64,
    pub total: Option<i64>,
}

/// One column's statistics in two versions, side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    pub column: String,
    /// Per version (a, b): `None` when the column is absent there.
    pub column_type: (Option<String>, Option<String>),
    pub missing_pct: (Option<f64>, Option<f64>),
    pub distinct: (Option<u64>, Option<u64>),
    pub mean: (Option<f64>, Option<f64>),
    pub std: (Option<f64>, Option<f64>),
    pub min: (Option<String>, Option<String>),
    pub max: (Option<String>, Option<String>),
}

/// An experiment in the project's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentRow {
    pub id: i64,
    pub name: String,
    pub runs: i64,
    pub last_run: Option<DateTime<Utc>>,
}

/// One run in an experiment's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub run_id: String,
    pub name: String,
    pub status: String,
    pub user: String,
    pub start: DateTime<Utc>,
    /// Values for the page's metric columns, in order (`None`: not logged).
    pub metrics: Vec<Option<f64>>,
    pub params: Vec<Option<String>>,
    /// Deleted (shown when the page lists deleted runs).
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentPage {
    pub id: i64,
    pub name: String,
    /// The metric and param columns shown.
    pub metric_keys: Vec<String>,
    pub param_keys: Vec<String>,
    /// Every metric and param key of the experiment (to choose columns from).
    pub all_metric_keys: Vec<String>,
    pub all_param_keys: Vec<String>,
    pub runs: Vec<RunRow>,
    /// Runs matching the filter, over all pages.
    pub total: i64,
    pub per_page: i64,
    pub best: Option<BestRun>,
    /// The filter's error, shown above the table (the grammar is MLflow's).
    pub filter_error: Option<String>,
    /// The caller may delete and restore runs.
    pub can_write: bool,
    /// The runs chart asked for: every matching run (up to a limit) as a point of a metric
    /// against a param or another metric (SVG), and how many runs it drew.
    pub chart: Option<RunsChart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunsChart {
    pub x: String,
    pub y: String,
    pub svg: String,
    pub drawn: usize,
    /// Runs matching that were left out (over the limit) or lack a value.
    pub left_out: i64,
}

/// A run's page: its facts, params, tags and a chart per metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    pub run_id: String,
    pub name: String,
    pub experiment_id: i64,
    pub experiment_name: String,
    pub status: String,
    pub user: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// (metric key, latest value, SVG of its history by step).
    pub charts: Vec<(String, f64, String)>,
    /// The run's note (MLflow's `mlflow.note.content` tag): the markdown, and it as HTML
    /// (raw HTML in it escaped, only http(s), mailto and relative links kept).
    pub note: Option<String>,
    pub note_html: Option<String>,
    pub can_write: bool,
    /// (run id, name) of the parent run, for runs started nested (tuning trials).
    pub parent: Option<(String, String)>,
    pub children: Vec<(String, String)>,
    pub datasets: Vec<RunDatasetInput>,
    pub models: Vec<RunLoggedModel>,
    /// The training job that fills the run, when Trellis trains it.
    pub job: Option<RunJob>,
    /// What a training job evaluated, once it has.
    pub evaluation: Option<RunEvaluationView>,
    /// A hyperparameter search's trials, when the run is one.
    pub trials: Option<TrialsView>,
    /// Whether the run holds a model Trellis can serve (`model/model.json` or `model/model.onnx`).
    pub has_model: bool,
    /// The project's registered models, to register the run's model as a new version of one.
    pub registered_models: Vec<String>,
}

/// A search's trials: one row per child run, and each searched parameter drawn against the metric.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrialsView {
    pub metric: String,
    pub maximize: bool,
    pub params: Vec<String>,
    /// (run id, name, status, searched parameter values, metric value).
    pub rows: Vec<(String, String, String, Vec<String>, Option<f64>)>,
    pub best_run: Option<String>,
    /// (parameter, SVG of it against the metric).
    pub charts: Vec<(String, String)>,
}

/// The job behind a run trained by Trellis.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunJob {
    pub id: i64,
    pub state: String,
    pub progress: f64,
    pub message: String,
    pub error: Option<String>,
}

/// One split's evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitEvaluation {
    pub split: String,
    pub rows: usize,
    pub metrics: Vec<(String, f64)>,
    /// `confusion[true][predicted]` (classification).
    pub confusion: Vec<Vec<u64>>,
}

/// A trained run's evaluation, drawn: loss curves, ROC and precision–recall curves, residuals,
/// feature importance.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunEvaluationView {
    pub splits: Vec<SplitEvaluation>,
    pub classes: Vec<String>,
    pub loss_svg: Option<String>,
    pub roc_svg: Option<String>,
    pub pr_svg: Option<String>,
    pub residuals_svg: Option<String>,
    pub importance_svg: Option<String>,
    pub importance: Vec<(String, f64)>,
}

/// One directory of a run's artifacts, and a previewed file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArtifactView {
    /// The directory listed ("" = the root).
    pub dir: String,
    /// (full path, name, is a directory, size)
    pub entries: Vec<(String, String, bool, Option<i64>)>,
    /// Where files are downloaded from: this, `/`, the file's path.
    pub download_base: String,
    pub preview: Option<ArtifactPreview>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArtifactPreview {
    pub path: String,
    pub size: i64,
    pub kind: PreviewKind,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum PreviewKind {
    Text { text: String, truncated: bool },
    Table { header: Vec<String>, rows: Vec<Vec<String>>, truncated: bool },
    Image,
    Binary,
}

/// A dataset a run used; `dataset_version` is (dataset name, version) when it is one of the
/// project's dataset versions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunDatasetInput {
    pub name: String,
    pub digest: String,
    pub source: String,
    pub context: Option<String>,
    pub dataset_version: Option<(String, i32)>,
}

/// A model a run logged, with the registered versions made from it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunLoggedModel {
    pub model_id: String,
    pub name: String,
    pub status: String,
    /// (registered model name, version)
    pub registrations: Vec<(String, i32)>,
}

/// Runs side by side: a chart per metric with one curve per run, and their params and latest
/// metrics in one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunComparison {
    pub runs: Vec<(String, String)>,
    /// (metric key, SVG with one curve per run that logged it).
    pub charts: Vec<(String, String)>,
    /// (row label, one value per run; `None`: not logged), params then metrics.
    pub rows: Vec<(String, Vec<Option<String>>)>,
    /// Params whose values are numbers in every run that has them, and the metric keys: the
    /// choices for the scatter.
    pub numeric_params: Vec<String>,
    pub metrics: Vec<String>,
    /// (param, metric, SVG): one dot per run.
    pub scatter: Option<(String, String, String)>,
}

/// A registered model in a project's list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegisteredModelRow {
    pub name: String,
    pub description: String,
    pub latest_version: Option<i32>,
    /// (alias, version)
    pub aliases: Vec<(String, i32)>,
    pub updated: DateTime<Utc>,
}

/// One version of a registered model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelVersionRow {
    pub version: i32,
    pub stage: String,
    pub status: String,
    pub aliases: Vec<String>,
    pub description: String,
    pub source: String,
    pub run_id: Option<String>,
    pub logged_model_id: Option<String>,
    pub created: DateTime<Utc>,
    pub user: String,
    pub tags: Vec<(String, String)>,
    /// `pending`, `approved` or `rejected`, with the reviewer's comment and name.
    pub approval: String,
    pub approval_comment: String,
    pub reviewed_by: Option<String>,
    /// `<project>/<endpoint>` serving the version.
    pub endpoints: Vec<String>,
    /// The dataset version its run trained on (`name@vN`), when known.
    pub dataset: Option<String>,
    /// Its run's evaluation metrics (`test_…`, `validation_…`).
    pub metrics: Vec<(String, f64)>,
}

/// A registered model's page: its facts, tags, aliases and versions (newest first).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegisteredModelPage {
    pub name: String,
    pub description: String,
    pub tags: Vec<(String, String)>,
    pub aliases: Vec<(String, i32)>,
    pub versions: Vec<ModelVersionRow>,
    /// How the MLflow client names it with a token scoped to this project.
    pub uri_example: String,
    pub card: String,
    pub card_html: String,
    pub require_approval: bool,
    pub can_write: bool,
    pub can_manage: bool,
    /// The newest version's global feature importance, drawn (SVG), and what it shows.
    pub importance_svg: Option<String>,
    pub importance_title: Option<String>,
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The runs of an experiment page being looked at: its query string's parts.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RunsQuery {
    pub filter: String,
    pub order: String,
    /// Zero-based page of `RUNS_PER_PAGE` runs.
    pub page: i64,
    /// Chosen columns (`metrics.loss`, `params.model`); empty: the first few of each kind.
    pub columns: Vec<String>,
    /// The metric that picks the best run, and whether lower is better.
    pub best: String,
    pub lower_is_better: bool,
    /// Which runs: `""` active ones, `deleted`, or `all`.
    pub lifecycle: String,
    /// The runs chart: its horizontal axis (`metrics.k` or `params.k`) and vertical metric.
    pub chart_x: String,
    pub chart_y: String,
}

impl RunsQuery {
    /// This query as a query string, with `change` applied.
    pub fn href(&self, change: impl FnOnce(&mut RunsQuery)) -> String {
        let mut q = self.clone();
        change(&mut q);
        let parts: Vec<String> = q.pairs().into_iter().map(|(k, v)| format!("{k}={}", url_encode(&v))).collect();
        if parts.is_empty() { "?".into() } else { format!("?{}", parts.join("&")) }
    }

    /// The query string's parts, as (name, value) pairs; empty ones are left out.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut parts: Vec<(&'static str, String)> = [
            ("filter", &self.filter),
            ("order", &self.order),
            ("best", &self.best),
            ("lifecycle", &self.lifecycle),
            ("cx", &self.chart_x),
            ("cy", &self.chart_y),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect();
        if !self.best.is_empty() {
            parts.push(("goal", if self.lower_is_better { "min" } else { "max" }.into()));
        }
        parts.extend(self.columns.iter().map(|c| ("col", c.clone())));
        if self.page > 0 {
            parts.push(("page", self.page.to_string()));
        }
        parts
    }
}

/// The best run of an experiment by one metric.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BestRun {
    pub run_id: String,
    pub name: String,
    pub metric: String,
    pub value: f64,
}

/// How metric charts are drawn: by step or by time since the run's first value, and how much
/// they are smoothed (0: not at all; TensorBoard's exponential moving average weight).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ChartOptions {
    pub by_time: bool,
    pub smoothing: f64,
    /// The compare view's scatter: a param against a metric.
    pub scatter_param: String,
    pub scatter_metric: String,
}

impl ChartOptions {
    /// Parses the `x` and `smooth` query values (bad values fall back to the defaults).
    pub fn from_query(x: Option<String>, smooth: Option<String>) -> Self {
        let smoothing = smooth.and_then(|s| s.parse::<f64>().ok()).filter(|s| s.is_finite()).unwrap_or(0.0).clamp(0.0, 0.99);
        ChartOptions { by_time: x.as_deref() == Some("time"), smoothing, ..Default::default() }
    }
}

/// What the training form offers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainingOptions {
    pub can_write: bool,
    pub versions: Vec<TrainableVersion>,
    pub algorithms: Vec<AlgorithmForm>,
    pub experiments: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainableVersion {
    pub dataset: String,
    pub version: i32,
    pub rows: i64,
    pub columns: Vec<TrainableColumn>,
}

impl TrainableVersion {
    /// `dataset@version`, the form's value for it.
    pub fn key(&self) -> String {
        format!("{}@{}", self.dataset, self.version)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainableColumn {
    pub name: String,
    pub column_type: String,
    pub distinct: u64,
}

impl TrainableColumn {
    /// The task that usually fits this column as a target.
    pub fn suggested_task(&self) -> &'static str {
        let numeric = self.column_type == "integer" || self.column_type == "float";
        if self.distinct == 2 {
            "binary"
        } else if numeric && self.distinct > 20 {
            "regression"
        } else {
            "multiclass"
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AlgorithmForm {
    pub name: String,
    pub params: Vec<ParamField>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ParamField {
    pub name: String,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub integer: bool,
    pub help: String,
}

/// The training form as submitted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TrainingForm {
    pub experiment: String,
    /// `dataset@version`.
    pub dataset_version: String,
    pub target: String,
    pub task: String,
    pub algorithm: String,
    /// Hyperparameters as typed (empty ones take their defaults).
    pub params: std::collections::BTreeMap<String, String>,
    /// Feature columns (empty: every column but the target).
    pub features: Vec<String>,
    pub seed: String,
    pub run_name: String,
    /// For the "best model" preset (`algorithm` = `best`): minutes before no new trial starts.
    #[serde(default)]
    pub time_budget_minutes: String,
    /// Search hyperparameters (a tuning job) instead of training once.
    #[serde(default)]
    pub tune: bool,
    /// Per hyperparameter searched: how, and its bounds or values as typed.
    #[serde(default)]
    pub space: std::collections::BTreeMap<String, SearchField>,
    /// `random` or `grid`.
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub max_trials: String,
    #[serde(default)]
    pub parallelism: String,
}

/// How one hyperparameter is searched, as typed in the training form.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SearchField {
    /// `fixed` (not searched), `uniform`, `log_uniform`, `int` or `choice`.
    pub kind: String,
    pub low: String,
    pub high: String,
    /// For `choice`: comma-separated values.
    pub choices: String,
}

/// An endpoint in a project's list and at the top of its page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRow {
    pub name: String,
    /// The name Open Inference Protocol clients use (`<project>.<endpoint>`).
    pub oip_name: String,
    pub description: String,
    pub created: DateTime<Utc>,
    pub deployed: Vec<DeployedRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedRow {
    pub id: String,
    pub model: String,
    /// The version served now.
    pub version: Option<i32>,
    /// The alias followed, if any.
    pub alias: Option<String>,
    pub traffic: i32,
    /// The explanation method (`sampled_shapley`, `integrated_gradients`, `tree_shap`).
    pub explanation_method: String,
    /// Its paths (sampled Shapley) or steps (integrated gradients), when set.
    pub explanation_setting: Option<usize>,
}

impl DeployedRow {
    /// `churn v3` or `churn @champion (v3)`.
    pub fn describe(&self) -> String {
        let v = self.version.map(|v| format!("v{v}")).unwrap_or_else(|| "?".into());
        match &self.alias {
            Some(a) => format!("{} @{a} ({v})", self.model),
            None => format!("{} {v}", self.model),
        }
    }
}

/// A registered model as a deploy form offers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployChoice {
    pub model: String,
    pub versions: Vec<i32>,
    pub aliases: Vec<String>,
}

/// One input of the "try it" form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TryItField {
    pub name: String,
    /// `number`, `boolean`, `timestamp` or `text`.
    pub kind: String,
    pub categories: Vec<String>,
    /// The value from a row of the training data, when known.
    pub example: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointPage {
    pub endpoint: EndpointRow,
    pub can_write: bool,
    pub models: Vec<DeployChoice>,
    pub fields: Vec<TryItField>,
    pub log_sample_rate: f64,
    /// The last hour per deployed model, and it drawn per minute (SVG).
    pub served: Vec<ServedRow>,
    pub requests_svg: String,
    pub latency_svg: String,
    /// The newest sampled requests.
    pub logs: Vec<LogRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedRow {
    pub deployed_model_id: String,
    pub model_version: String,
    pub requests: i64,
    pub errors: i64,
    pub p50: String,
    pub p95: String,
    pub p99: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    pub at: DateTime<Utc>,
    pub model_version: String,
    pub latency: String,
    pub ok: bool,
    pub request: String,
    pub response: String,
}

/// A latency in µs, readable.
pub fn fmt_latency_us(us: Option<f64>) -> String {
    match us {
        None => "—".into(),
        Some(x) if !x.is_finite() => "> 1 s".into(),
        Some(x) if x < 1000.0 => format!("≤ {x:.0} µs"),
        Some(x) => format!("≤ {:.0} ms", x / 1000.0),
    }
}

/// A prediction made from the "try it" form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TryItAnswer {
    pub model_version: String,
    pub deployed_model_id: String,
    /// The predicted class (classifiers) or value (regressors), as text.
    pub answer: String,
    /// Class → probability (classifiers).
    pub scores: Vec<(String, f64)>,
    /// The scores drawn as bars (SVG), for classifiers.
    pub scores_svg: Option<String>,
    /// The request's JSON body, for the curl and Python snippets.
    pub request_json: String,
    /// Feature → attribution of the explained output, and them drawn (SVG).
    pub attributions: Vec<(String, f64)>,
    pub attributions_svg: Option<String>,
    /// What was explained (the predicted class, or the target), the method, and the outputs at
    /// the baseline and the instance.
    pub explained: String,
    pub method: String,
    pub baseline_output: f64,
    pub instance_output: f64,
}

/// A batch prediction in the project's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    pub id: i64,
    pub job_id: Option<i64>,
    pub state: String,
    pub progress: f64,
    pub error: Option<String>,
    pub model: String,
    pub dataset: String,
    pub output_format: String,
    pub explain: bool,
    pub rows: Option<i64>,
    pub output_size: Option<i64>,
    pub created: DateTime<Utc>,
}

impl BatchRow {
    pub fn is_active(&self) -> bool {
        self.state == "queued" || self.state == "running"
    }
}

/// What the batch prediction form offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchFormOptions {
    pub can_write: bool,
    pub models: Vec<DeployChoice>,
    pub versions: Vec<TrainableVersion>,
}
