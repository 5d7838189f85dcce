//! Batch prediction: a job that reads a dataset version (CSV or Parquet) in chunks, predicts
//! every row with a registered model version and writes the inputs with the predictions — and,
//! when asked, each row's feature attributions — to a CSV or Parquet file in blob storage.
//! Progress is reported per chunk; the file is recorded only once it is complete.

use std::io::Read;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::datasets::Format;
use crate::projects::{self, Access};
use crate::serving::input::{text_columns, RowNames};
use crate::serving::model::{LoadedModel, Output};
use crate::worker::{JobContext, Permanent};
use crate::storage::Received;
use crate::{audit, Actor, Core, Error, Result};

pub const BATCH_KIND: &str = "prediction.batch";
/// Rows predicted at a time.
const CHUNK: usize = 5_000;
/// Most rows a batch with attributions may have (attributions cost many predictions per row).
pub const MAX_EXPLAINED_ROWS: i64 = 100_000;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// A registered model of the project, and its `version` or an `alias`.
    pub model: String,
    pub version: Option<i32>,
    pub alias: Option<String>,
    /// The dataset and its version number to predict.
    pub dataset: String,
    pub dataset_version: i32,
    /// `csv` (default) or `parquet`.
    pub output_format: Option<String>,
    /// Add each row's feature attributions (`attribution_<feature>`): TreeSHAP for tree models,
    /// sampled Shapley (10 paths) otherwise.
    #[serde(default)]
    pub explain: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    pub id: i64,
    pub job_id: Option<i64>,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled` (the job's state).
    pub state: String,
    pub progress: f64,
    pub error: Option<String>,
    pub model: String,
    pub dataset: String,
    pub output_format: String,
    pub explain: bool,
    pub rows: Option<i64>,
    pub output_size: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    batch_id: i64,
    model_version_id: i64,
    /// The dataset version read, or none for an uploaded file (the batch row holds its blob).
    dataset_version_id: Option<i64>,
    format: String,
    explain: bool,
}

/// Settings of a batch over an uploaded file (the file is the request's body).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FileBatchRequest {
    /// A registered model of the project, and its `version` or an `alias`.
    pub model: String,
    pub version: Option<i32>,
    pub alias: Option<String>,
    /// `csv` (default) or `parquet`.
    pub output_format: Option<String>,
    /// Add each row's feature attributions.
    #[serde(default)]
    pub explain: bool,
    /// The uploaded file's name, shown with the batch.
    pub filename: Option<String>,
}

/// What a batch reads: a dataset version or an uploaded file's blob.
enum Input {
    Dataset { version_id: i64, label: String },
    File { sha256: String, format: &'static str, gzip: bool, size: i64, rows: i64, label: String },
}

fn output_format(raw: Option<&str>) -> Result<String> {
    match raw.unwrap_or("csv") {
        f @ ("csv" | "parquet") => Ok(f.to_string()),
        other => Err(Error::bad_request(format!("output_format must be 'csv' or 'parquet', got '{other}'"))),
    }
}

/// Checks that the input has every feature the model needs and, with attributions, not too
/// many rows.
fn check_input(model: &LoadedModel, what: &str, columns: &[String], rows: i64, explain: bool) -> Result<()> {
    if let Some(f) = model.features.iter().find(|f| !columns.iter().any(|c| c.trim() == f.name)) {
        return Err(Error::bad_request(format!("{what} has no column '{}', which the model needs", f.name)));
    }
    if explain && rows > MAX_EXPLAINED_ROWS {
        return Err(Error::bad_request(format!("attributions are limited to {MAX_EXPLAINED_ROWS} rows; {what} has {rows}")));
    }
    Ok(())
}

/// Starts a batch prediction (editors): everything is checked first — the model version loads,
/// the dataset version is profiled and has the model's features — then the batch row and its
/// job are written together.
pub async fn submit(core: &Core, actor: &Actor, slug: &str, req: BatchRequest) -> Result<BatchView> {
    let (project_id, format, model_label, model) = resolve_model(core, actor, slug, &req.model, req.version, req.alias.as_deref(), req.output_format.as_deref()).await?;
    let row: Option<(i64, String, Option<i64>, Option<Value>)> = sqlx::query_as(
        "SELECT v.id, v.status, v.row_count, v.schema FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
          WHERE d.project_id = $1 AND d.name = $2 AND v.version = $3",
    )
    .bind(project_id)
    .bind(req.dataset.trim())
    .bind(req.dataset_version)
    .fetch_optional(&core.db)
    .await?;
    let (dataset_version_id, status, rows, schema) =
        row.ok_or_else(|| Error::bad_request(format!("project '{slug}' has no dataset '{}' version {}", req.dataset.trim(), req.dataset_version)))?;
    if status != "ready" {
        return Err(Error::bad_request(format!("dataset '{}' version {} is {status}; it must be profiled first", req.dataset.trim(), req.dataset_version)));
    }
    let columns: Vec<String> = schema
        .and_then(|s| s.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    check_input(&model, &format!("dataset '{}' version {}", req.dataset.trim(), req.dataset_version), &columns, rows.unwrap_or(0), req.explain)?;
    let input = Input::Dataset { version_id: dataset_version_id, label: format!("{}@v{}", req.dataset.trim(), req.dataset_version) };
    let id = record(core, actor, project_id, model_label, input, &format, req.explain).await?;
    get(core, actor, slug, id).await
}

/// Checks the caller may start batch predictions in the project (before receiving a file).
pub async fn authorize_submit(core: &Core, actor: &Actor, slug: &str) -> Result<()> {
    projects::authorize(&core.db, actor, slug, Access::Write).await.map(|_| ())
}

/// Starts a batch prediction over an uploaded CSV or Parquet file (editors): the file is checked
/// whole (as a dataset upload is) and must have the model's features; it is kept as a blob.
pub async fn submit_file(
    core: &Core,
    actor: &Actor,
    slug: &str,
    req: FileBatchRequest,
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    file: Received,
) -> Result<BatchView> {
    let result = async {
        let (project, format, model_label, model) = resolve_model(core, actor, slug, &req.model, req.version, req.alias.as_deref(), req.output_format.as_deref()).await?;
        let checked = crate::datasets::check_file(&file, content_type, content_encoding).await?;
        let name = crate::datasets::clean_filename(req.filename.as_deref().unwrap_or("upload"))?;
        check_input(&model, &format!("the file '{name}'"), &checked.columns, checked.rows as i64, req.explain)?;
        core.blobs.put_file(&file.sha256, &file.path).await?;
        let input = Input::File {
            sha256: file.sha256.clone(),
            format: checked.format.as_str(),
            gzip: checked.gzip,
            size: file.size as i64,
            rows: checked.rows as i64,
            label: format!("uploaded {name}"),
        };
        match record(core, actor, project, model_label, input, &format, req.explain).await {
            Ok(id) => get(core, actor, slug, id).await,
            Err(e) => {
                let _ = crate::datasets::collect_garbage(core, vec![file.sha256.clone()]).await;
                Err(e)
            }
        }
    }
    .await;
    file.discard().await;
    result
}

/// The checks both kinds of batch start with: the caller may write in the project, the output
/// format is known, the model version loads. Returns (project id, output format, (version row
/// id, `<model>/<n>`), the model).
async fn resolve_model(
    core: &Core,
    actor: &Actor,
    slug: &str,
    model: &str,
    version: Option<i32>,
    alias: Option<&str>,
    output: Option<&str>,
) -> Result<(i64, String, (i64, String), Arc<LoadedModel>)> {
    let (project, _) = projects::authorize(&core.db, actor, slug, Access::Write).await?;
    let format = output_format(output)?;
    let model_name = model.trim();
    let (_, version_id, number) = crate::serving::resolve_version(&core.db, project.id, slug, model_name, version, alias).await?;
    let loaded = core.serving.model(core, version_id).await?;
    Ok((project.id, format, (version_id, format!("{model_name}/{number}")), loaded))
}

/// Writes a checked batch and its job together; returns the batch's id.
async fn record(core: &Core, actor: &Actor, project_id: i64, (version_id, model_label): (i64, String), input: Input, format: &str, explain: bool) -> Result<i64> {
    let mut tx = core.db.begin().await?;
    let (dataset_version_id, dataset_label, blob) = match input {
        Input::Dataset { version_id, label } => (Some(version_id), label, None),
        Input::File { sha256, format, gzip, size, rows, label } => {
            sqlx::query("INSERT INTO blobs (sha256, size) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING").bind(&sha256).bind(size).execute(&mut *tx).await?;
            (None, label, Some((sha256, format, gzip.then_some("gzip"), size, rows)))
        }
    };
    let batch_id: i64 = sqlx::query_scalar(
        "INSERT INTO batch_predictions (project_id, model_version_id, model_label, dataset_version_id, dataset_label, output_format, explain, created_by,
                                        input_sha256, input_format, input_compression, input_size, input_rows)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(project_id)
    .bind(version_id)
    .bind(&model_label)
    .bind(dataset_version_id)
    .bind(&dataset_label)
    .bind(format)
    .bind(explain)
    .bind(actor.user_id)
    .bind(blob.as_ref().map(|b| b.0.clone()))
    .bind(blob.as_ref().map(|b| b.1))
    .bind(blob.as_ref().and_then(|b| b.2))
    .bind(blob.as_ref().map(|b| b.3))
    .bind(blob.as_ref().map(|b| b.4))
    .fetch_one(&mut *tx)
    .await?;
    let payload = Payload { batch_id, model_version_id: version_id, dataset_version_id, format: format.to_string(), explain };
    let job_id: i64 = sqlx::query_scalar("INSERT INTO jobs (project_id, kind, payload, max_attempts, created_by) VALUES ($1, $2, $3, 3, $4) RETURNING id")
        .bind(project_id)
        .bind(BATCH_KIND)
        .bind(serde_json::to_value(&payload).map_err(anyhow::Error::from)?)
        .bind(actor.user_id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("UPDATE batch_predictions SET job_id = $2 WHERE id = $1").bind(batch_id).bind(job_id).execute(&mut *tx).await?;
    audit::record(&mut tx, actor, Some(project_id), "batch_prediction.create", "batch_prediction", batch_id, json!({ "model": model_label, "dataset": dataset_label, "format": format, "explain": explain })).await?;
    tx.commit().await?;
    Ok(batch_id)
}

const VIEW: &str = "SELECT b.id, b.job_id, COALESCE(j.state, 'failed'), COALESCE(j.progress, 0), j.error, b.model_label, b.dataset_label, b.output_format,
                           b.explain, b.rows, b.output_size, b.created_at
                      FROM batch_predictions b LEFT JOIN jobs j ON j.id = b.job_id";

type ViewRow = (i64, Option<i64>, String, f64, Option<String>, String, String, String, bool, Option<i64>, Option<i64>, DateTime<Utc>);

fn view((id, job_id, state, progress, error, model, dataset, output_format, explain, rows, output_size, created_at): ViewRow) -> BatchView {
    BatchView { id, job_id, state, progress, error, model, dataset, output_format, explain, rows, output_size, created_at }
}

pub async fn get(core: &Core, actor: &Actor, slug: &str, id: i64) -> Result<BatchView> {
    let (project, _) = projects::authorize(&core.db, actor, slug, Access::Read).await?;
    let row: Option<ViewRow> = sqlx::query_as(&format!("{VIEW} WHERE b.project_id = $1 AND b.id = $2")).bind(project.id).bind(id).fetch_optional(&core.db).await?;
    row.map(view).ok_or_else(|| Error::not_found(format!("project '{slug}' has no batch prediction {id}")))
}

pub async fn list(core: &Core, actor: &Actor, slug: &str) -> Result<Vec<BatchView>> {
    let (project, _) = projects::authorize(&core.db, actor, slug, Access::Read).await?;
    let rows: Vec<ViewRow> = sqlx::query_as(&format!("{VIEW} WHERE b.project_id = $1 ORDER BY b.id DESC LIMIT 200")).bind(project.id).fetch_all(&core.db).await?;
    Ok(rows.into_iter().map(view).collect())
}

/// The finished output: (sha256, size, file name, content type), for downloading (readers).
pub async fn output(core: &Core, actor: &Actor, slug: &str, id: i64) -> Result<(String, i64, String, &'static str)> {
    let (project, _) = projects::authorize(&core.db, actor, slug, Access::Read).await?;
    let row: Option<(Option<String>, Option<i64>, String)> =
        sqlx::query_as("SELECT output_sha256, output_size, output_format FROM batch_predictions WHERE project_id = $1 AND id = $2")
            .bind(project.id)
            .bind(id)
            .fetch_optional(&core.db)
            .await?;
    let (sha, size, format) = row.ok_or_else(|| Error::not_found(format!("project '{slug}' has no batch prediction {id}")))?;
    match (sha, size) {
        (Some(sha), Some(size)) => {
            let ctype = if format == "parquet" { "application/vnd.apache.parquet" } else { "text/csv" };
            Ok((sha, size, format!("predictions-{id}.{format}"), ctype))
        }
        _ => Err(Error::conflict(format!("batch prediction {id} has no output yet"))),
    }
}

// ---- the job ----

/// Where the output goes, row by row.
enum Sink {
    Csv(csv::Writer<std::fs::File>),
    Parquet { writer: parquet::arrow::ArrowWriter<std::fs::File>, schema: Arc<Schema>, text_columns: usize },
}

/// Output columns: the file's columns (as text), then the predictions (numbers, but the label).
fn output_header(input: &[String], model: &LoadedModel, explain: bool) -> (Vec<String>, usize) {
    let mut header: Vec<String> = input.to_vec();
    match &model.output {
        Output::Classes { classes } => {
            header.push("predicted_label".into());
            header.extend(classes.iter().map(|c| format!("score_{c}")));
        }
        Output::Value { .. } => header.push("predicted_value".into()),
    }
    let text_columns = input.len() + usize::from(model.is_classifier());
    if explain {
        header.extend(model.features.iter().map(|f| format!("attribution_{}", f.name)));
    }
    (header, text_columns)
}

impl Sink {
    fn new(format: &str, path: &std::path::Path, header: &[String], text_columns: usize) -> anyhow::Result<Sink> {
        let file = std::fs::File::create(path)?;
        if format == "parquet" {
            let fields: Vec<Field> = header
                .iter()
                .enumerate()
                .map(|(i, h)| Field::new(h, if i < text_columns { DataType::Utf8 } else { DataType::Float64 }, true))
                .collect();
            let schema = Arc::new(Schema::new(fields));
            let writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)?;
            Ok(Sink::Parquet { writer, schema, text_columns })
        } else {
            let mut w = csv::Writer::from_writer(file);
            w.write_record(header)?;
            Ok(Sink::Csv(w))
        }
    }

    /// Writes rows: the input cells, then the output text (label) and numbers.
    fn write(&mut self, inputs: &[Vec<String>], labels: &[Option<String>], numbers: &[Vec<f64>]) -> anyhow::Result<()> {
        match self {
            Sink::Csv(w) => {
                for (r, cells) in inputs.iter().enumerate() {
                    let mut record: Vec<String> = cells.clone();
                    if let Some(l) = &labels[r] {
                        record.push(l.clone());
                    }
                    record.extend(numbers[r].iter().map(|x| if x.is_finite() { format!("{x}") } else { String::new() }));
                    w.write_record(&record)?;
                }
            }
            Sink::Parquet { writer, schema, text_columns } => {
                let n_inputs = inputs.first().map(Vec::len).unwrap_or(0);
                let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
                for c in 0..n_inputs {
                    arrays.push(Arc::new(StringArray::from(inputs.iter().map(|row| Some(row[c].as_str())).collect::<Vec<_>>())));
                }
                if *text_columns > n_inputs {
                    arrays.push(Arc::new(StringArray::from(labels.iter().map(|l| l.as_deref()).collect::<Vec<_>>())));
                }
                let width = numbers.first().map(Vec::len).unwrap_or(0);
                for c in 0..width {
                    arrays.push(Arc::new(Float64Array::from(numbers.iter().map(|row| Some(row[c]).filter(|x| x.is_finite())).collect::<Vec<_>>())));
                }
                writer.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Csv(mut w) => w.flush()?,
            Sink::Parquet { writer, .. } => {
                writer.close()?;
            }
        }
        Ok(())
    }
}

/// Predicts one chunk of rows and writes it.
fn predict_chunk(model: &LoadedModel, at: &[usize], first_row: u64, rows: &[Vec<String>], explain: bool, sink: &mut Sink) -> anyhow::Result<()> {
    let names = RowNames::FileRows { first: first_row };
    let columns = text_columns(&model.features, at, rows, names).map_err(|e| Permanent(e.to_string()))?;
    let predictions = model.predict(&columns).map_err(|e| Permanent(e.to_string()))?;
    let (labels, mut numbers, outputs): (Vec<Option<String>>, Vec<Vec<f64>>, Vec<usize>) = match (&predictions, &model.output) {
        (trellis_ml::train::Predictions::Probabilities { classes: k, values }, Output::Classes { classes }) => {
            let mut labels = Vec::with_capacity(rows.len());
            let mut numbers = Vec::with_capacity(rows.len());
            let mut outputs = Vec::with_capacity(rows.len());
            for row in values.chunks(*k) {
                let best = crate::serving::model::most_likely(row);
                labels.push(classes.get(best).cloned());
                numbers.push(row.to_vec());
                outputs.push(best);
            }
            (labels, numbers, outputs)
        }
        (trellis_ml::train::Predictions::Values(v), _) => (vec![None; v.len()], v.iter().map(|x| vec![*x]).collect(), vec![0; v.len()]),
        _ => return Err(Permanent("the model's predictions do not fit its outputs".into()).into()),
    };
    if explain {
        let (method, _) = crate::serving::explain::default_method(model);
        for (r, out) in outputs.iter().enumerate() {
            let x = crate::serving::explain::row_values(&columns, r);
            let e = crate::serving::explain::attribute(model, &x, &model.baseline, *out, method, first_row + r as u64).map_err(|e| Permanent(e.to_string()))?;
            numbers[r].extend(e.attributions);
        }
    }
    sink.write(rows, &labels, &numbers)
}

pub async fn batch_job(ctx: JobContext, core: Core) -> anyhow::Result<Option<Value>> {
    let p: Payload = ctx.payload()?;
    let model = core.serving.model(&core, p.model_version_id).await.map_err(|e| Permanent(format!("the model version cannot be loaded: {e}")))?;
    let row: Option<(String, Option<String>, String, i64, Option<i64>)> = match p.dataset_version_id {
        Some(id) => sqlx::query_as("SELECT sha256, compression, format, size, row_count FROM dataset_versions WHERE id = $1")
            .bind(id)
            .fetch_optional(&core.db)
            .await?,
        None => sqlx::query_as(
            "SELECT input_sha256, input_compression, input_format, input_size, input_rows FROM batch_predictions WHERE id = $1 AND input_sha256 IS NOT NULL",
        )
        .bind(p.batch_id)
        .fetch_optional(&core.db)
        .await?,
    };
    let Some((sha256, compression, format, size, row_count)) = row else {
        return Err(Permanent("the input (dataset version or uploaded file) was deleted".into()).into());
    };
    let total = row_count.unwrap_or(0).max(1) as f64;
    ctx.log(&format!("predicting {} rows with {} features; output {}{}", row_count.unwrap_or(0), model.features.len(), p.format, if p.explain { " with attributions" } else { "" })).await?;
    ctx.progress(0.0, "reading the dataset").await?;
    let dir = tempfile::tempdir()?;
    let out_path = dir.path().join(format!("predictions.{}", p.format));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(f64, String)>(64);
    let runtime = tokio::runtime::Handle::current();
    let blobs = core.blobs.clone();
    let cancel = ctx.cancelled().clone();
    let (path2, payload) = (out_path.clone(), p.clone());
    let model2 = model.clone();
    let work = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let mut state: Option<(Vec<usize>, Sink)> = None;
        let mut chunk: Vec<Vec<String>> = Vec::with_capacity(CHUNK);
        let mut done = 0u64;
        let mut on_row = |header: &[String], cells: Vec<String>| -> anyhow::Result<()> {
            if state.is_none() {
                let at: Vec<usize> = model2
                    .features
                    .iter()
                    .map(|f| header.iter().position(|h| h.trim() == f.name).ok_or_else(|| Permanent(format!("the file has no column '{}', which the model needs", f.name))))
                    .collect::<Result<_, _>>()?;
                let (out_header, text_columns) = output_header(header, &model2, payload.explain);
                state = Some((at, Sink::new(&payload.format, &path2, &out_header, text_columns)?));
            }
            chunk.push(cells);
            if chunk.len() == CHUNK {
                let (at, sink) = state.as_mut().expect("set above");
                predict_chunk(&model2, at, done, &chunk, payload.explain, sink)?;
                done += chunk.len() as u64;
                chunk.clear();
                if cancel.is_cancelled() {
                    anyhow::bail!("cancelled");
                }
                let _ = tx.blocking_send((0.95 * done as f64 / total, format!("predicted {done} rows")));
            }
            Ok(())
        };
        match Format::parse(&format) {
            Format::Parquet => crate::parquet_files::for_each_row(&runtime, blobs.ranged(&sha256, size as u64), |h, cells| on_row(h, cells.to_vec()))?,
            Format::Csv => {
                let raw: Box<dyn Read + Send> = runtime.block_on(blobs.reader(&sha256))?;
                let mut rdr = crate::datasets::csv_from(raw, compression.is_some());
                let header: Vec<String> = rdr.headers()?.iter().map(str::to_string).collect();
                let mut record = csv::StringRecord::new();
                while rdr.read_record(&mut record)? {
                    on_row(&header, record.iter().map(str::to_string).collect())?;
                }
            }
        }
        let (at, mut sink) = state.ok_or_else(|| Permanent("the file has no rows".into()))?;
        if !chunk.is_empty() {
            predict_chunk(&model2, &at, done, &chunk, payload.explain, &mut sink)?;
            done += chunk.len() as u64;
        }
        sink.finish()?;
        Ok(done)
    });
    let forward = async {
        while let Some((f, m)) = rx.recv().await {
            let _ = ctx.progress(f, &m).await;
        }
    };
    let (result, _) = tokio::join!(work, forward);
    let rows = result??;
    ctx.progress(0.97, "storing the output").await?;
    let (sha, bytes) = crate::storage::hash_file(&out_path).await?;
    core.blobs.put_file(&sha, &out_path).await?;
    store_output(&core.db, p.batch_id, &sha, bytes as i64, rows as i64).await?;
    ctx.progress(1.0, "done").await?;
    ctx.log(&format!("wrote {rows} rows ({bytes} bytes)")).await?;
    Ok(Some(json!({ "batch_id": p.batch_id, "rows": rows, "bytes": bytes })))
}

async fn store_output(db: &PgPool, batch_id: i64, sha: &str, size: i64, rows: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO blobs (sha256, size) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING").bind(sha).bind(size).execute(&mut *tx).await?;
    sqlx::query("UPDATE batch_predictions SET output_sha256 = $2, output_size = $3, rows = $4 WHERE id = $1")
        .bind(batch_id)
        .bind(sha)
        .bind(size)
        .bind(rows)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
