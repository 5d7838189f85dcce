//! Managed datasets: immutable, content-addressed versions of uploaded files, validated on
//! upload and profiled by a job (schema and per-column statistics, kept as baselines).

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{FromRow, PgPool};
use trellis_ml::profile::{ColumnProfile, DEFAULT_VALUE_BUDGET, Profile, Profiler, ValueBudget};
use trellis_ml::validate::{self, Comparison};

use crate::error::on_unique;
use crate::projects::{self, Access, Project};
use crate::storage::{Blobs, Received};
use crate::types::{parse_text, Slug};
use crate::worker::{JobContext, Permanent};
use crate::{audit, Actor, Core, Error, Result};

pub const PROFILE_KIND: &str = "dataset.profile";
/// Rows a preview page may hold.
pub const MAX_PREVIEW_ROWS: usize = 500;

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Dataset {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub version_count: i64,
    pub latest_version: Option<i32>,
    pub latest_status: Option<String>,
    /// Set while the dataset is archived: kept and readable, but hidden from lists and closed to uploads.
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct DatasetVersion {
    pub version: i32,
    pub sha256: String,
    pub size: i64,
    pub format: String,
    pub compression: Option<String>,
    pub filename: String,
    pub row_count: Option<i64>,
    pub column_count: Option<i32>,
    /// `profiling`, `ready` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub profile_job_id: Option<i64>,
    pub uploaded_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A version with its schema and statistics (once profiled).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionDetail {
    #[serde(flatten)]
    pub version: DatasetVersion,
    /// `[{"name", "type"}]` in column order.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// Per-column statistics: counts, missing, distinct, min/max/mean/std, quantiles, histogram, top values.
    #[schema(value_type = Option<Object>)]
    pub statistics: Option<Value>,
}

const VERSION_SELECT: &str = "SELECT v.version, v.sha256, v.size, v.format, v.compression, v.filename, v.row_count,
        v.column_count, v.status, v.error, v.profile_job_id, u.email AS uploaded_by, v.created_at
   FROM dataset_versions v LEFT JOIN users u ON u.id = v.uploaded_by";

pub async fn create(db: &PgPool, actor: &Actor, project: &str, name: &str, description: &str) -> Result<Dataset> {
    let (project, _) = projects::authorize(db, actor, project, Access::Write).await?;
    let name = Slug::parse(name).map_err(|_| {
        Error::bad_request(format!("name: '{}' must be 2-48 characters of a-z, 0-9 and '-', starting with a letter", name.trim()))
    })?;
    let description = parse_text("description", description, 5000)?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO datasets (project_id, name, description, created_by) VALUES ($1, $2, $3, $4)",
    )
    .bind(project.id)
    .bind(name.as_str())
    .bind(&description)
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| on_unique(e, || format!("name: a dataset '{name}' already exists in this project")))?;
    audit::record(&mut tx, actor, Some(project.id), "dataset.create", "dataset", name.as_str(), json!({})).await?;
    tx.commit().await?;
    find(db, project.id, name.as_str()).await?.ok_or_else(|| Error::not_found("dataset vanished"))
}

const DATASET_SELECT: &str = "SELECT d.id, d.name, d.description, d.created_at, d.archived_at,
        (SELECT count(*) FROM dataset_versions v WHERE v.dataset_id = d.id) AS version_count,
        (SELECT max(v.version) FROM dataset_versions v WHERE v.dataset_id = d.id) AS latest_version,
        (SELECT v.status FROM dataset_versions v WHERE v.dataset_id = d.id ORDER BY v.version DESC LIMIT 1) AS latest_status
   FROM datasets d";

async fn find(db: &PgPool, project_id: i64, name: &str) -> Result<Option<Dataset>> {
    Ok(sqlx::query_as::<_, Dataset>(&format!("{DATASET_SELECT} WHERE d.project_id = $1 AND d.name = $2"))
        .bind(project_id)
        .bind(name)
        .fetch_optional(db)
        .await?)
}

/// The project's datasets; archived ones only when `include_archived`.
pub async fn list(db: &PgPool, actor: &Actor, project: &str, include_archived: bool) -> Result<Vec<Dataset>> {
    let (project, _) = projects::authorize(db, actor, project, Access::Read).await?;
    Ok(sqlx::query_as::<_, Dataset>(&format!(
        "{DATASET_SELECT} WHERE d.project_id = $1 AND ($2 OR d.archived_at IS NULL) ORDER BY d.name"
    ))
        .bind(project.id)
        .bind(include_archived)
        .fetch_all(db)
        .await?)
}

/// Resolves a dataset and checks access; `NotFound` names it.
pub async fn authorize(db: &PgPool, actor: &Actor, project: &str, dataset: &str, access: Access) -> Result<(Project, Dataset)> {
    let (project, _) = projects::authorize(db, actor, project, access).await?;
    let ds = find(db, project.id, dataset)
        .await?
        .ok_or_else(|| Error::not_found(format!("dataset '{dataset}' not found in '{}'", project.slug)))?;
    Ok((project, ds))
}

pub async fn get(db: &PgPool, actor: &Actor, project: &str, dataset: &str) -> Result<(Dataset, Vec<DatasetVersion>)> {
    let (_, ds) = authorize(db, actor, project, dataset, Access::Read).await?;
    let versions = sqlx::query_as::<_, DatasetVersion>(&format!("{VERSION_SELECT} WHERE v.dataset_id = $1 ORDER BY v.version DESC"))
        .bind(ds.id)
        .fetch_all(db)
        .await?;
    Ok((ds, versions))
}

pub async fn version(db: &PgPool, actor: &Actor, project: &str, dataset: &str, n: i32) -> Result<VersionDetail> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        version: DatasetVersion,
        schema: Option<Value>,
        statistics: Option<Value>,
    }
    let (_, ds) = authorize(db, actor, project, dataset, Access::Read).await?;
    let row = sqlx::query_as::<_, Row>(&format!(
        "{} WHERE v.dataset_id = $1 AND v.version = $2",
        VERSION_SELECT.replacen(" FROM", ", v.schema, v.statistics FROM", 1)
    ))
    .bind(ds.id)
    .bind(n)
    .fetch_optional(db)
    .await?
    .ok_or_else(|| Error::not_found(format!("dataset '{dataset}' has no version {n}")))?;
    Ok(VersionDetail { version: row.version, schema: row.schema, statistics: row.statistics })
}

/// The file formats a version can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "parquet" { Format::Parquet } else { Format::Csv }
    }
}

/// The first bytes of every Parquet file.
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// The format a request's content type declares (`None`: say nothing, the bytes decide);
/// refuses content types that are not a dataset format. Checked before the body is read.
pub fn declared_format(content_type: Option<&str>) -> Result<Option<Format>> {
    let ct = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match ct.as_deref() {
        Some("text/csv") | Some("application/csv") | Some("application/gzip") | Some("application/x-gzip") => Ok(Some(Format::Csv)),
        Some("application/vnd.apache.parquet") | Some("application/x-parquet") => Ok(Some(Format::Parquet)),
        None | Some("application/octet-stream") => Ok(None),
        Some(other) => Err(Error::UnsupportedMediaType(format!(
            "Content-Type '{other}' is not a dataset format; send text/csv (gzip allowed) or application/vnd.apache.parquet"
        ))),
    }
}

/// Decides the format from the request's content type and the file's first bytes.
pub fn detect_format(content_type: Option<&str>, content_encoding: Option<&str>, head: &[u8]) -> Result<(Format, bool)> {
    let gzip = head.starts_with(&[0x1f, 0x8b]) || content_encoding.is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let looks_parquet = head.starts_with(PARQUET_MAGIC);
    match declared_format(content_type)? {
        Some(Format::Parquet) if !looks_parquet => {
            Err(Error::bad_request("the file is not a Parquet file: it does not start with the bytes PAR1"))
        }
        Some(Format::Parquet) => Ok((Format::Parquet, false)),
        _ if looks_parquet => Ok((Format::Parquet, false)),
        _ => Ok((Format::Csv, gzip)),
    }
}

/// A strict CSV reader (header line, equal widths) over raw bytes, gunzipping when asked.
pub(crate) fn csv_from(raw: Box<dyn Read + Send>, gzip: bool) -> csv::Reader<Box<dyn Read + Send>> {
    csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(csv_text(raw, gzip))
}

fn csv_reader(path: &Path, gzip: bool) -> std::io::Result<csv::Reader<Box<dyn Read + Send>>> {
    Ok(csv_from(Box::new(std::fs::File::open(path)?), gzip))
}

fn describe_csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            let line = pos.as_ref().map(|p| p.line()).unwrap_or(0);
            format!("line {line}: expected {expected_len} fields (as in the header), found {len}")
        }
        csv::ErrorKind::Utf8 { pos, err } => {
            let line = pos.as_ref().map(|p| p.line()).unwrap_or(0);
            format!("line {line}, column {}: invalid UTF-8", err.field() + 1)
        }
        csv::ErrorKind::Io(io) => format!("the file could not be read: {io}"),
        _ => e.to_string(),
    }
}

/// Reads the whole CSV once: header checks, consistent widths, UTF-8. Returns (columns, rows).
pub fn validate_csv(path: &Path, gzip: bool) -> Result<(Vec<String>, u64)> {
    let mut rdr = csv_reader(path, gzip).map_err(|e| Error::bad_request(format!("the file could not be read: {e}")))?;
    let header = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(Error::bad_request(describe_csv_error(&e))),
    };
    if header.is_empty() || (header.len() == 1 && header[0].trim().is_empty()) {
        return Err(Error::bad_request("the file is empty: expected a header line and rows"));
    }
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let mut seen = std::collections::HashSet::new();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() {
            return Err(Error::bad_request(format!("line 1, column {}: the column has no name", i + 1)));
        }
        if !seen.insert(n.as_str()) {
            return Err(Error::bad_request(format!("line 1, column {}: duplicate column name '{n}'", i + 1)));
        }
    }
    let mut rows = 0u64;
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => rows += 1,
            Ok(false) => break,
            Err(e) => return Err(Error::bad_request(describe_csv_error(&e))),
        }
    }
    if rows == 0 {
        return Err(Error::bad_request("the file has a header line but no rows"));
    }
    Ok((names, rows))
}

/// Checks the caller may upload to the dataset (done before receiving the body).
pub async fn authorize_upload(db: &PgPool, actor: &Actor, project: &str, dataset: &str) -> Result<()> {
    let (_, ds) = authorize(db, actor, project, dataset, Access::Write).await?;
    if ds.archived_at.is_some() {
        return Err(Error::conflict(format!("dataset '{dataset}' is archived; unarchive it to upload")));
    }
    Ok(())
}

/// Archives or unarchives a dataset (editors).
pub async fn set_archived(db: &PgPool, actor: &Actor, project: &str, dataset: &str, archived: bool) -> Result<Dataset> {
    let (project, ds) = authorize(db, actor, project, dataset, Access::Write).await?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE datasets SET archived_at = CASE WHEN $2 THEN coalesce(archived_at, now()) ELSE NULL END WHERE id = $1")
        .bind(ds.id)
        .bind(archived)
        .execute(&mut *tx)
        .await?;
    let action = if archived { "dataset.archive" } else { "dataset.unarchive" };
    audit::record(&mut tx, actor, Some(project.id), action, "dataset", &ds.name, json!({})).await?;
    tx.commit().await?;
    find(db, project.id, dataset).await?.ok_or_else(|| Error::not_found("dataset vanished"))
}

pub struct NewVersion<'a> {
    pub project: &'a str,
    pub dataset: &'a str,
    pub filename: &'a str,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
}

/// An uploaded file's name as kept: at most 255 characters, without control characters or
/// path separators.
pub(crate) fn clean_filename(raw: &str) -> Result<String> {
    Ok(parse_text("filename", raw, 255)?.chars().filter(|c| !c.is_control() && *c != '/' && *c != '\\').collect())
}

/// A received table file that reads whole: its format, whether it is gzip-compressed, its
/// columns and its rows.
pub(crate) struct CheckedFile {
    pub format: Format,
    pub gzip: bool,
    pub columns: Vec<String>,
    pub rows: u64,
}

/// Checks a received CSV (optionally gzip-compressed) or Parquet file from end to end: ragged
/// rows, broken quoting, invalid UTF-8, duplicate or missing header names, corrupt pages.
pub(crate) async fn check_file(file: &Received, content_type: Option<&str>, content_encoding: Option<&str>) -> Result<CheckedFile> {
    let mut head = [0u8; 4];
    let n = std::fs::File::open(&file.path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    if file.size == 0 || n == 0 {
        return Err(Error::bad_request("the file is empty: expected a header line and rows"));
    }
    let (format, gzip) = detect_format(content_type, content_encoding, &head[..n])?;
    let path = file.path.clone();
    let (columns, rows) = tokio::task::spawn_blocking(move || match format {
        Format::Csv => validate_csv(&path, gzip),
        Format::Parquet => crate::parquet_files::validate(&path),
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))??;
    Ok(CheckedFile { format, gzip, columns, rows })
}

/// Validates a received file and records it as the next version; queues its profiling.
/// On any error the temporary file is removed and nothing is recorded.
pub async fn add_version(core: &Core, actor: &Actor, input: NewVersion<'_>, file: Received) -> Result<DatasetVersion> {
    let result = add_version_inner(core, actor, &input, &file).await;
    file.discard().await;
    result
}

async fn add_version_inner(core: &Core, actor: &Actor, input: &NewVersion<'_>, file: &Received) -> Result<DatasetVersion> {
    let db = &core.db;
    let (project, ds) = authorize(db, actor, input.project, input.dataset, Access::Write).await?;
    if ds.archived_at.is_some() {
        return Err(Error::conflict(format!("dataset '{}' is archived; unarchive it to upload", ds.name)));
    }
    let filename = clean_filename(input.filename)?;
    let CheckedFile { format, gzip, columns, rows } = check_file(file, input.content_type, input.content_encoding).await?;

    core.blobs.put_file(&file.sha256, &file.path).await?;
    let recorded: Result<DatasetVersion> = async {
        let mut tx = db.begin().await?;
        sqlx::query("INSERT INTO blobs (sha256, size) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING")
            .bind(&file.sha256)
            .bind(file.size as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT id FROM datasets WHERE id = $1 FOR UPDATE").bind(ds.id).execute(&mut *tx).await?;
        let version: i32 = sqlx::query_scalar("SELECT coalesce(max(version), 0) + 1 FROM dataset_versions WHERE dataset_id = $1")
            .bind(ds.id)
            .fetch_one(&mut *tx)
            .await?;
        let version_id: i64 = sqlx::query_scalar(
            "INSERT INTO dataset_versions (dataset_id, version, sha256, size, format, compression, filename, row_count, column_count, uploaded_by)
             VALUES ($1, $2, $3, $4, $10, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(ds.id)
        .bind(version)
        .bind(&file.sha256)
        .bind(file.size as i64)
        .bind(gzip.then_some("gzip"))
        .bind(&filename)
        .bind(rows as i64)
        .bind(columns.len() as i32)
        .bind(actor.user_id)
        .bind(format.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let job_id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (project_id, kind, payload, max_attempts, created_by) VALUES ($1, $2, $3, 3, $4) RETURNING id",
        )
        .bind(project.id)
        .bind(PROFILE_KIND)
        .bind(json!({ "version_id": version_id }))
        .bind(actor.user_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE dataset_versions SET profile_job_id = $2 WHERE id = $1")
            .bind(version_id)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        audit::record(&mut tx, actor, Some(project.id), "dataset.upload", "dataset", format!("{}@v{version}", ds.name),
            json!({ "sha256": file.sha256, "size": file.size, "rows": rows, "columns": columns.len() })).await?;
        let v = sqlx::query_as::<_, DatasetVersion>(&format!("{VERSION_SELECT} WHERE v.id = $1"))
            .bind(version_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(v)
    }
    .await;
    if recorded.is_err() {
        // Do not leave a blob nothing refers to.
        let referenced: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM dataset_versions WHERE sha256 = $1)")
            .bind(&file.sha256)
            .fetch_one(db)
            .await
            .unwrap_or(true);
        if !referenced {
            let _ = core.blobs.delete(&file.sha256).await;
        }
    }
    recorded
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    pub columns: Vec<String>,
    pub offset: u64,
    pub rows: Vec<Vec<String>>,
    pub total_rows: Option<i64>,
}

/// A page of rows of a version's file.
pub async fn preview(core: &Core, actor: &Actor, project: &str, dataset: &str, n: i32, offset: u64, limit: usize) -> Result<Preview> {
    if !(1..=MAX_PREVIEW_ROWS).contains(&limit) {
        return Err(Error::bad_request(format!("limit: must be between 1 and {MAX_PREVIEW_ROWS}")));
    }
    let detail = version(&core.db, actor, project, dataset, n).await?;
    preview_of(core, &detail.version, offset, limit).await
}

/// A page of rows of a version the caller has already been authorised to read. Reads only as
/// far into the stored file as the page needs.
pub async fn preview_of(core: &Core, version: &DatasetVersion, offset: u64, limit: usize) -> Result<Preview> {
    if Format::parse(&version.format) == Format::Parquet {
        let file = core.blobs.ranged(&version.sha256, version.size as u64);
        let (columns, rows) = crate::parquet_files::preview(file, offset, limit).await?;
        return Ok(Preview { columns, offset, rows, total_rows: version.row_count });
    }
    let gzip = version.compression.is_some();
    let raw = core.blobs.reader(&version.sha256).await?;
    let out = tokio::task::spawn_blocking(move || -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let mut rdr = csv_from(raw, gzip);
        let columns = rdr.headers().map_err(|e| anyhow::anyhow!(e))?.iter().map(String::from).collect();
        let rows = rdr
            .records()
            .skip(offset as usize)
            .take(limit)
            .map(|r| r.map(|r| r.iter().map(String::from).collect()))
            .collect::<std::result::Result<Vec<Vec<String>>, _>>()
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok((columns, rows))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    let (columns, rows) = out?;
    Ok(Preview { columns, offset, rows, total_rows: version.row_count })
}

/// The original file, to send back as it was uploaded.
pub struct Download {
    pub sha256: String,
    pub filename: String,
    pub gzip: bool,
    pub format: Format,
}

pub async fn download(db: &PgPool, actor: &Actor, project: &str, dataset: &str, n: i32) -> Result<Download> {
    let d = version(db, actor, project, dataset, n).await?;
    let format = Format::parse(&d.version.format);
    let filename =
        if d.version.filename.is_empty() { format!("{dataset}-v{n}.{}", format.as_str()) } else { d.version.filename.clone() };
    Ok(Download { sha256: d.version.sha256, filename, gzip: d.version.compression.is_some(), format })
}

/// Bytes per piece of a CSV file handed to a profiling thread.
const CSV_PIECE_BYTES: usize = 4 << 20;

/// Where `buf` (which starts at a record boundary and holds `quotes` quote characters) can be
/// cut so that both sides hold whole records: after the last line break that is outside quotes
/// (an even number of `"` before it; RFC 4180 escapes a quote by doubling it, so parity tells).
fn record_boundary(buf: &[u8], quotes: usize) -> Option<usize> {
    let mut end = buf.len();
    let mut quotes_before_end = quotes;
    while let Some(nl) = memchr::memrchr(b'\n', &buf[..end]) {
        quotes_before_end -= memchr::memchr_iter(b'"', &buf[nl..end]).count();
        if quotes_before_end % 2 == 0 {
            return Some(nl + 1);
        }
        end = nl;
    }
    None
}

/// Reads `text` in pieces of whole records, read here and parsed by the threads.
struct Pieces {
    text: Box<dyn Read + Send>,
    carry: Vec<u8>,
    done: bool,
    piece_bytes: usize,
    /// Whether the piece last returned may hold a quote (false: it holds none).
    quoted: bool,
}

impl Pieces {
    /// The next piece (reusing `buf`), or `None` at the end.
    fn next(&mut self, mut buf: Vec<u8>) -> std::io::Result<Option<Vec<u8>>> {
        buf.clear();
        buf.append(&mut self.carry);
        loop {
            if self.done {
                return Ok((!buf.is_empty()).then_some(buf));
            }
            // Read into the buffer's spare room, which is not zeroed first.
            buf.reserve(self.piece_bytes);
            let wanted = self.piece_bytes as u64;
            if (&mut self.text).take(wanted).read_to_end(&mut buf)? < self.piece_bytes {
                self.done = true;
            }
            if self.done {
                self.quoted = true;
                return Ok((!buf.is_empty()).then_some(buf));
            }
            let quotes = memchr::memchr_iter(b'"', &buf).count();
            if let Some(cut) = record_boundary(&buf, quotes) {
                self.quoted = quotes > 0;
                self.carry.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
                return Ok(Some(buf));
            }
            // No complete record yet (a very long one): read more.
        }
    }
}

/// The decoded text of a stored CSV file (gunzipped when asked).
fn csv_text(raw: Box<dyn Read + Send>, gzip: bool) -> Box<dyn Read + Send> {
    let buffered = std::io::BufReader::with_capacity(1 << 20, raw);
    if gzip { Box::new(flate2::read::MultiGzDecoder::new(buffered)) } else { Box::new(buffered) }
}

/// Reads the header line of `text`; returns the column names and the data after it.
fn csv_header(text: Box<dyn Read + Send>) -> anyhow::Result<(Vec<String>, Pieces)> {
    csv_header_in_pieces(text, CSV_PIECE_BYTES)
}

fn csv_header_in_pieces(text: Box<dyn Read + Send>, piece_bytes: usize) -> anyhow::Result<(Vec<String>, Pieces)> {
    let mut pieces = Pieces { text, carry: Vec::new(), done: false, piece_bytes, quoted: true };
    let first = pieces.next(Vec::new())?.unwrap_or_default();
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_reader(&first[..]);
    let names = rdr.headers().map_err(|e| anyhow::anyhow!(describe_csv_error(&e)))?.iter().map(|h| h.trim().to_string()).collect();
    let data_start = rdr.position().byte() as usize;
    let mut rest = first[data_start.min(first.len())..].to_vec();
    rest.append(&mut pieces.carry);
    pieces.carry = rest;
    Ok((names, pieces))
}

/// Records handed over at a time: cells of one column are then profiled together, so that each
/// column's counting state stays in the cache while it is used.
const BATCH_ROWS: usize = 512;

/// Splits a piece of whole records that holds no quote character: every `,` ends a cell and
/// every line break a record (a `\r` before it is dropped; empty lines are skipped, as the CSV
/// reader does). Sixty-four bytes at a time, one vectorised compare finds the separators
/// ([`separator_mask`]), then the cells between them are taken. `batch` gets the cells of up
/// to [`BATCH_ROWS`] records at a time, record after record. Returns the records seen.
fn split_unquoted(piece: &[u8], width: usize, mut batch: impl FnMut(&[&str])) -> anyhow::Result<u64> {
    let text = std::str::from_utf8(piece).map_err(|e| anyhow::anyhow!("invalid UTF-8 in the file ({e})"))?;
    let bytes = text.as_bytes();
    let mut cells: Vec<&str> = Vec::with_capacity(width * BATCH_ROWS + 1);
    let mut record_start = 0;
    let mut rows = 0;
    let mut start = 0;
    // Ends the record whose last cell was just pushed.
    let mut end_record = |cells: &mut Vec<&str>, record_start: &mut usize| -> anyhow::Result<()> {
        let n = cells.len() - *record_start;
        if n == 1 && cells[*record_start].is_empty() {
            cells.pop(); // an empty line
            return Ok(());
        }
        if n != width {
            anyhow::bail!("a record has {n} fields where the header has {width}");
        }
        rows += 1;
        if cells.len() >= width * BATCH_ROWS {
            batch(cells);
            cells.clear();
        }
        *record_start = cells.len();
        Ok(())
    };
    let mut blocks = bytes.chunks_exact(64);
    let mut last = [0u8; 64];
    last[..blocks.remainder().len()].copy_from_slice(blocks.remainder());
    let mut offset = 0;
    // The last block is padded with zeros, which are not separators.
    for block in (&mut blocks).map(|b| b.try_into().expect("64 bytes")).chain(std::iter::once(&last)) {
        let mut found = separator_mask(block);
        while found != 0 {
            let at = offset + found.trailing_zeros() as usize;
            found &= found - 1;
            // SAFETY: `at` is the position of a separator in `bytes` (found above), and `start` is
            // 0 or one past an earlier separator: both within the text and, the separators being
            // ASCII, on character boundaries of the (checked) UTF-8 text.
            let (cell, separator) = unsafe { (text.get_unchecked(start..at), *bytes.get_unchecked(at)) };
            start = at + 1;
            if separator == b',' {
                cells.push(cell);
            } else {
                cells.push(cell.strip_suffix('\r').unwrap_or(cell));
                end_record(&mut cells, &mut record_start)?;
            }
        }
        offset += 64;
    }
    if start < bytes.len() || cells.len() > record_start {
        let cell = &text[start..];
        cells.push(cell.strip_suffix('\r').unwrap_or(cell));
        end_record(&mut cells, &mut record_start)?;
    }
    if !cells.is_empty() {
        batch(&cells);
    }
    Ok(rows)
}

/// Bit `i` set where byte `i` of `block` is a `,` or a line break: sixteen bytes compared at
/// once (SSE2, which every x86-64 processor has).
#[cfg(target_arch = "x86_64")]
fn separator_mask(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    // SAFETY: SSE2 is part of every x86-64 processor (and enabled for this target); each load
    // reads the sixteen bytes of its own chunk, and needs no alignment.
    unsafe {
        let (comma, newline) = (_mm_set1_epi8(b',' as i8), _mm_set1_epi8(b'\n' as i8));
        let mut mask = 0;
        for (i, sixteen) in block.chunks_exact(16).enumerate() {
            let v = _mm_loadu_si128(sixteen.as_ptr().cast::<__m128i>());
            let found = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, newline)));
            mask |= (found as u16 as u64) << (16 * i);
        }
        mask
    }
}

/// Bit `i` set where byte `i` of `block` is a `,` or a line break.
#[cfg(not(target_arch = "x86_64"))]
fn separator_mask(block: &[u8; 64]) -> u64 {
    block.iter().enumerate().fold(0, |mask, (i, &b)| mask | (((b == b',') | (b == b'\n')) as u64) << i)
}

/// Splits a piece of whole records with quoted cells, by the CSV reader; `batch` gets one
/// record's cells at a time. Returns the records seen.
fn split_quoted(piece: &[u8], width: usize, mut record: impl FnMut(&[&str])) -> anyhow::Result<u64> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(piece);
    let mut bytes = csv::ByteRecord::new();
    let mut rows = 0;
    while rdr.read_byte_record(&mut bytes).map_err(|e| anyhow::anyhow!(describe_csv_error(&e)))? {
        // Checked once as a whole; the buffer is reused for the next record.
        let text = csv::StringRecord::from_byte_record(std::mem::take(&mut bytes))
            .map_err(|e| anyhow::anyhow!("invalid UTF-8 in the file ({e})"))?;
        let cells: Vec<&str> = text.iter().collect();
        if cells.len() != width {
            anyhow::bail!("a record has {} fields where the header has {width}", cells.len());
        }
        record(&cells);
        drop(cells);
        bytes = text.into_byte_record();
        rows += 1;
    }
    Ok(rows)
}

/// One pass over a CSV file's records: this thread reads pieces of whole records, the machine's
/// cores parse and profile them (`feed` into each thread's own state, the cells of a batch of
/// whole records at a time, record after record); returns the states in thread order. `progress(rows)` is called after each piece with the
/// rows parsed so far.
fn csv_pass<T: Send>(
    pieces: &mut Pieces,
    width: usize,
    threads: usize,
    make: impl Fn() -> T + Sync,
    feed: impl Fn(&mut T, &[&str]) + Sync,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Vec<T>> {
    let rows = std::sync::atomic::AtomicU64::new(0);
    // Set by a thread that failed: reading stops, and its error is reported.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let threads = threads.max(1);
    std::thread::scope(|scope| {
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        // One queue that every thread takes from: a piece goes to whichever thread is free, so
        // one slow piece does not hold up the others (a queue per thread, filled in turn, did).
        // Each piece with whether it may hold a quote.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, bool)>(threads);
        // Shared by the threads and dropped with the last: sending fails once none is left.
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let mut workers = Vec::new();
        for _ in 0..threads {
            let (back, rx) = (back_tx.clone(), rx.clone());
            let (make, feed, rows, failed) = (&make, &feed, &rows, &failed);
            workers.push(scope.spawn(move || -> anyhow::Result<T> {
                let mut state = make();
                // The lock is held while waiting for the next piece, not while parsing it.
                let next = || rx.lock().ok()?.recv().ok();
                while let Some((piece, quoted)) = next() {
                    let n = if !quoted || memchr::memchr(b'"', &piece).is_none() {
                        split_unquoted(&piece, width, |cells| feed(&mut state, cells))
                    } else {
                        split_quoted(&piece, width, |cells| feed(&mut state, cells))
                    };
                    let n = n.inspect_err(|_| failed.store(true, std::sync::atomic::Ordering::Relaxed))?;
                    rows.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    let _ = back.send(piece);
                }
                Ok(state)
            }));
        }
        drop((back_tx, rx));
        let mut failure = None;
        loop {
            let buf = back_rx.try_recv().unwrap_or_default();
            match pieces.next(buf) {
                Ok(Some(piece)) => {
                    if failed.load(std::sync::atomic::Ordering::Relaxed) || tx.send((piece, pieces.quoted)).is_err() {
                        break; // a thread failed; its error is reported below
                    }
                    progress(rows.load(std::sync::atomic::Ordering::Relaxed));
                }
                Ok(None) => break,
                Err(e) => {
                    failure = Some(anyhow::anyhow!("the file could not be read: {e}"));
                    break;
                }
            }
        }
        drop(tx);
        let mut states = Vec::new();
        for w in workers {
            states.push(w.join().map_err(|_| anyhow::anyhow!("a profiling thread panicked"))??);
        }
        progress(rows.load(std::sync::atomic::Ordering::Relaxed));
        match failure {
            Some(e) => Err(e),
            None => Ok(states),
        }
    })
}

/// Profiles a CSV file in one streaming pass (a second for histograms only when its numbers
/// outgrow the value budget), read on the calling thread in pieces of whole records that the
/// machine's cores parse and profile (partial results merged); `progress(rows, pass)` is called
/// about every 50,000 rows. With a `reference` (an earlier version's columns), numeric columns are also
/// counted on its bins. `open` gives the raw file (called once per pass).
pub fn profile_file(
    open: impl Fn() -> anyhow::Result<Box<dyn Read + Send>>,
    gzip: bool,
    reference: Option<&[ColumnProfile]>,
    mut progress: impl FnMut(u64, u8),
) -> anyhow::Result<Profile> {
    const EVERY: u64 = 50_000;
    let threads = crate::parquet_files::profile_threads();
    let (names, mut pieces) = csv_header(csv_text(open()?, gzip))?;
    let mut reported = 0u64;
    let budget = ValueBudget::new(DEFAULT_VALUE_BUDGET);
    let parts = csv_pass(
        &mut pieces,
        names.len(),
        threads,
        || Profiler::new(names.clone()).with_budget(&budget),
        |p, cells| p.push_rows(cells),
        |rows| {
            if rows >= reported + EVERY {
                reported = rows;
                progress(rows, 1);
            }
        },
    )?;
    let mut pass = Profiler::finish_parts(parts);
    for c in reference.unwrap_or(&[]) {
        if let Some(h) = &c.histogram {
            pass.add_reference(&c.name, &h.edges);
        }
    }
    if pass.needed() {
        let (_, mut pieces) = csv_header(csv_text(open()?, gzip))?;
        let template = pass.empty_copy();
        let mut reported = 0u64;
        let counted = csv_pass(
            &mut pieces,
            names.len(),
            threads,
            || template.empty_copy(),
            |h, cells| h.push_rows(cells),
            |rows| {
                if rows >= reported + EVERY {
                    reported = rows;
                    progress(rows, 2);
                }
            },
        )?;
        counted.into_iter().for_each(|c| pass.merge_counts(c));
    }
    Ok(pass.finish())
}

#[derive(Deserialize)]
struct ProfilePayload {
    version_id: i64,
}

/// The `dataset.profile` job: one pass over the file (two when its numbers outgrow the value
/// budget), progress by rows, results stored.
pub async fn profile_job(ctx: JobContext, blobs: Blobs) -> anyhow::Result<Option<Value>> {
    let payload: ProfilePayload = ctx.payload()?;
    let row: Option<(String, Option<String>, Option<i64>, i64, i32, String, i64, Option<i32>)> = sqlx::query_as(
        "SELECT sha256, compression, row_count, dataset_id, version, format, size, column_count FROM dataset_versions WHERE id = $1",
    )
            .bind(payload.version_id)
            .fetch_optional(&ctx.db)
            .await?;
    let Some((sha256, compression, row_count, dataset_id, number, format, size, column_count)) = row else {
        return Err(Permanent(format!("dataset version {} no longer exists", payload.version_id)).into());
    };
    // The version to validate against: the newest earlier one that is profiled.
    let baseline: Option<(i32, Value)> = sqlx::query_as(
        "SELECT version, statistics FROM dataset_versions
          WHERE dataset_id = $1 AND version < $2 AND status = 'ready' AND statistics IS NOT NULL
          ORDER BY version DESC LIMIT 1",
    )
    .bind(dataset_id)
    .bind(number)
    .fetch_optional(&ctx.db)
    .await?;
    let baseline: Option<(i32, Vec<ColumnProfile>)> =
        baseline.and_then(|(v, stats)| serde_json::from_value(stats).ok().map(|cols| (v, cols)));
    if let Some((v, _)) = &baseline {
        ctx.log(&format!("validating against version {v}")).await?;
    }
    ctx.log(&format!("profiling {sha256} ({} rows)", row_count.unwrap_or(0))).await?;
    let gzip = compression.is_some();
    let total = row_count.unwrap_or(0).max(1) as f64;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(f64, String)>(16);
    let reference = baseline.as_ref().map(|(_, cols)| cols.clone());
    let baseline_version = baseline.as_ref().map(|(v, _)| *v);
    let runtime = tokio::runtime::Handle::current();
    // A file whose cells all fit the value budget is profiled in one pass; a larger one may
    // need a second pass for histograms, so its first pass counts as half the work.
    let cells = row_count.unwrap_or(0).max(0) as u64 * column_count.unwrap_or(0).max(0) as u64;
    let one_pass = cells <= DEFAULT_VALUE_BUDGET as u64;
    let report = move |rows: u64, pass: u8| {
        let fraction = match (pass, one_pass) {
            (1, true) => rows as f64 / total,
            (1, false) => 0.5 * rows as f64 / total,
            _ => 0.5 + 0.5 * rows as f64 / total,
        };
        let what = if pass == 1 { "pass 1" } else { "pass 2 (histograms)" };
        let _ = tx.blocking_send((fraction.min(1.0), format!("{what}: {rows} rows")));
    };
    let work = tokio::task::spawn_blocking(move || match Format::parse(&format) {
        Format::Parquet => {
            let file = blobs.ranged(&sha256, size as u64);
            crate::parquet_files::profile(&runtime, file, reference.as_deref(), report)
        }
        Format::Csv => {
            // Each pass streams the stored file afresh.
            let open = move || -> anyhow::Result<Box<dyn Read + Send>> { Ok(runtime.block_on(blobs.reader(&sha256))?) };
            profile_file(open, gzip, reference.as_deref(), report)
        }
    });
    while let Some((fraction, message)) = rx.recv().await {
        ctx.progress(fraction, &message).await?;
    }
    let profile = match work.await? {
        Ok(p) => p,
        Err(e) => {
            let msg = format!("profiling failed: {e:#}");
            sqlx::query("UPDATE dataset_versions SET status = 'failed', error = $2 WHERE id = $1")
                .bind(payload.version_id)
                .bind(&msg)
                .execute(&ctx.db)
                .await?;
            return Err(Permanent(msg).into());
        }
    };
    let schema: Vec<Value> = profile.columns.iter().map(|c| json!({ "name": c.name, "type": c.column_type })).collect();
    sqlx::query(
        "UPDATE dataset_versions SET status = 'ready', error = NULL, schema = $2, statistics = $3, row_count = $4,
                column_count = $5, baseline_version = $6
          WHERE id = $1",
    )
    .bind(payload.version_id)
    .bind(Value::Array(schema))
    .bind(serde_json::to_value(&profile.columns)?)
    .bind(profile.rows as i64)
    .bind(profile.columns.len() as i32)
    .bind(baseline_version)
    .execute(&ctx.db)
    .await?;
    ctx.log(&format!("profiled {} rows × {} columns", profile.rows, profile.columns.len())).await?;
    ctx.progress(1.0, "done").await?;
    Ok(Some(json!({ "rows": profile.rows, "columns": profile.columns.len() })))
}

/// A version's validation against the earlier version it was profiled against.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Validation {
    /// The earlier version compared with; `null` for a first version (nothing to compare).
    pub compared_to: Option<i32>,
    /// Each with `column`, `kind`, `severity` (error, warning, info) and `message`.
    #[schema(value_type = Vec<Object>)]
    pub anomalies: Vec<validate::Anomaly>,
    /// Per column: `jensen_shannon` (numbers) or `l_infinity` (categories).
    #[schema(value_type = Vec<Object>)]
    pub distances: Vec<validate::ColumnDistance>,
}

/// Anomalies of version `n` against its baseline; `Conflict` while it is still being profiled.
pub async fn anomalies(db: &PgPool, actor: &Actor, project: &str, dataset: &str, n: i32) -> Result<Validation> {
    let (_, ds) = authorize(db, actor, project, dataset, Access::Read).await?;
    let row: Option<(String, Option<Value>, Option<i32>)> = sqlx::query_as(
        "SELECT status, statistics, baseline_version FROM dataset_versions WHERE dataset_id = $1 AND version = $2",
    )
    .bind(ds.id)
    .bind(n)
    .fetch_optional(db)
    .await?;
    let Some((status, stats, baseline)) = row else {
        return Err(Error::not_found(format!("dataset '{dataset}' has no version {n}")));
    };
    if status != "ready" {
        return Err(Error::conflict(format!("version {n} is {status}; anomalies are known once it is profiled")));
    }
    let parse = |v: Value| -> Result<Vec<ColumnProfile>> {
        serde_json::from_value(v).map_err(|e| anyhow::anyhow!("stored statistics do not parse: {e}").into())
    };
    let current = parse(stats.unwrap_or(Value::Array(vec![])))?;
    let Some(b) = baseline else {
        return Ok(Validation { compared_to: None, anomalies: vec![], distances: vec![] });
    };
    let prev: Option<Value> =
        sqlx::query_scalar("SELECT statistics FROM dataset_versions WHERE dataset_id = $1 AND version = $2")
            .bind(ds.id)
            .bind(b)
            .fetch_optional(db)
            .await?
            .flatten();
    let Some(prev) = prev else {
        // The baseline version was deleted since.
        return Ok(Validation { compared_to: None, anomalies: vec![], distances: vec![] });
    };
    let previous = parse(prev)?;
    let Comparison { anomalies, distances } = validate::compare(&previous, &current);
    Ok(Validation { compared_to: Some(b), anomalies, distances })
}

/// Deletes blobs that nothing (dataset version, run artifact) refers to any more (after the rows are gone).
pub(crate) async fn collect_garbage(core: &Core, candidates: Vec<String>) -> Result<usize> {
    let mut removed = 0;
    for sha in candidates {
        let gone: Option<String> = sqlx::query_scalar(
            "DELETE FROM blobs b WHERE b.sha256 = $1
               AND NOT EXISTS (SELECT 1 FROM dataset_versions v WHERE v.sha256 = b.sha256)
               AND NOT EXISTS (SELECT 1 FROM run_artifacts a WHERE a.sha256 = b.sha256)
               AND NOT EXISTS (SELECT 1 FROM logged_model_artifacts a WHERE a.sha256 = b.sha256)
               AND NOT EXISTS (SELECT 1 FROM batch_predictions p WHERE p.output_sha256 = b.sha256 OR p.input_sha256 = b.sha256)
             RETURNING b.sha256",
        )
        .bind(&sha)
        .fetch_optional(&core.db)
        .await?;
        if gone.is_some() {
            if let Err(e) = core.blobs.delete(&sha).await {
                tracing::error!(sha256 = %sha, error = %e, "deleting an unreferenced blob");
            }
            removed += 1;
        }
    }
    Ok(removed)
}

/// Deletes one version (editors). Its file is removed from storage when no other version holds
/// the same content. Returns the number of blobs freed.
pub async fn delete_version(core: &Core, actor: &Actor, project: &str, dataset: &str, n: i32) -> Result<usize> {
    let (project, ds) = authorize(&core.db, actor, project, dataset, Access::Write).await?;
    let mut tx = core.db.begin().await?;
    let sha: Option<String> =
        sqlx::query_scalar("DELETE FROM dataset_versions WHERE dataset_id = $1 AND version = $2 RETURNING sha256")
            .bind(ds.id)
            .bind(n)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(sha) = sha else {
        return Err(Error::not_found(format!("dataset '{dataset}' has no version {n}")));
    };
    audit::record(&mut tx, actor, Some(project.id), "dataset.delete_version", "dataset", format!("{}@v{n}", ds.name), json!({ "sha256": sha })).await?;
    tx.commit().await?;
    collect_garbage(core, vec![sha]).await
}

/// Deletes a dataset with all its versions (editors); unreferenced files are removed.
pub async fn delete(core: &Core, actor: &Actor, project: &str, dataset: &str) -> Result<usize> {
    let (project, ds) = authorize(&core.db, actor, project, dataset, Access::Write).await?;
    let mut tx = core.db.begin().await?;
    let shas: Vec<String> = sqlx::query_scalar("SELECT DISTINCT sha256 FROM dataset_versions WHERE dataset_id = $1")
        .bind(ds.id)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM datasets WHERE id = $1").bind(ds.id).execute(&mut *tx).await?;
    audit::record(&mut tx, actor, Some(project.id), "dataset.delete", "dataset", &ds.name, json!({ "versions": ds.version_count })).await?;
    tx.commit().await?;
    collect_garbage(core, shas).await
}

/// How to split a version.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum SplitSpec {
    /// Each row goes to train/validation/test with the given fractions, by a seeded hash of its
    /// row number (deterministic).
    Random {
        /// `{"train": 0.8, "validation": 0.1, "test": 0.1}`; each 0–1, summing to 1.
        fractions: std::collections::BTreeMap<String, f64>,
        #[serde(default)]
        seed: u64,
    },
    /// A column's values say the split: train, validation or test (any case).
    Column { column: String },
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Split {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub spec: Value,
    /// Rows per split: `{"train": n, "validation": n, "test": n}`.
    #[schema(value_type = Object)]
    pub counts: Value,
    pub created_at: DateTime<Utc>,
}

fn split_fractions(spec: &std::collections::BTreeMap<String, f64>) -> Result<[f64; 3]> {
    let mut f = [0.0; 3];
    for (k, v) in spec {
        let Some(i) = trellis_ml::split::SPLITS.iter().position(|s| s == k) else {
            return Err(Error::bad_request(format!("fractions: '{k}' is not one of train, validation, test")));
        };
        if !v.is_finite() || !(0.0..=1.0).contains(v) {
            return Err(Error::bad_request(format!("fractions.{k}: must be between 0 and 1")));
        }
        f[i] = *v;
    }
    let sum: f64 = f.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(Error::bad_request(format!("fractions: must sum to 1 (they sum to {sum})")));
    }
    if f[0] == 0.0 {
        return Err(Error::bad_request("fractions.train: the training split cannot be empty"));
    }
    Ok(f)
}

/// Splits a version (editors): counts rows per split and saves the rule with the version.
pub async fn set_split(core: &Core, actor: &Actor, project: &str, dataset: &str, n: i32, spec: SplitSpec) -> Result<Split> {
    let (project, ds) = authorize(&core.db, actor, project, dataset, Access::Write).await?;
    let row: Option<(i64, String, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT id, sha256, compression, format, size FROM dataset_versions WHERE dataset_id = $1 AND version = $2",
    )
            .bind(ds.id)
            .bind(n)
            .fetch_optional(&core.db)
            .await?;
    let Some((version_id, sha256, compression, format, size)) = row else {
        return Err(Error::not_found(format!("dataset '{dataset}' has no version {n}")));
    };
    let fractions = match &spec {
        SplitSpec::Random { fractions, .. } => Some(split_fractions(fractions)?),
        SplitSpec::Column { .. } => None,
    };
    let counted = if Format::parse(&format) == Format::Parquet {
        count_parquet_split(core, &sha256, size as u64, &spec, fractions).await
    } else {
        count_csv_split(core, &sha256, compression.is_some(), &spec, fractions).await
    };
    let counts = counted?;
    if counts[0] == 0 {
        return Err(Error::bad_request("the training split would be empty"));
    }
    let counts_json = json!({ "train": counts[0], "validation": counts[1], "test": counts[2] });
    let (method, seed, fr, column) = match &spec {
        SplitSpec::Random { fractions, seed } => ("random", Some(*seed as i64), Some(json!(fractions)), None),
        SplitSpec::Column { column } => ("column", None, None, Some(column.clone())),
    };
    let mut tx = core.db.begin().await?;
    sqlx::query(
        "INSERT INTO dataset_splits (version_id, method, seed, fractions, split_column, counts, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (version_id) DO UPDATE SET method = EXCLUDED.method, seed = EXCLUDED.seed, fractions = EXCLUDED.fractions,
             split_column = EXCLUDED.split_column, counts = EXCLUDED.counts, created_by = EXCLUDED.created_by, created_at = now()",
    )
    .bind(version_id)
    .bind(method)
    .bind(seed)
    .bind(&fr)
    .bind(&column)
    .bind(&counts_json)
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, actor, Some(project.id), "dataset.split", "dataset", format!("{}@v{n}", ds.name), json!({ "spec": spec, "counts": counts_json })).await?;
    tx.commit().await?;
    get_split(&core.db, actor, &project.slug, dataset, n).await?.ok_or_else(|| Error::not_found("split vanished"))
}

pub async fn get_split(db: &PgPool, actor: &Actor, project: &str, dataset: &str, n: i32) -> Result<Option<Split>> {
    let (_, ds) = authorize(db, actor, project, dataset, Access::Read).await?;
    let row: Option<(String, Option<i64>, Option<Value>, Option<String>, Value, DateTime<Utc>)> = sqlx::query_as(
        "SELECT s.method, s.seed, s.fractions, s.split_column, s.counts, s.created_at
           FROM dataset_splits s JOIN dataset_versions v ON v.id = s.version_id
          WHERE v.dataset_id = $1 AND v.version = $2",
    )
    .bind(ds.id)
    .bind(n)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(method, seed, fractions, column, counts, created_at)| {
        let spec = if method == "random" {
            json!({ "method": method, "seed": seed, "fractions": fractions })
        } else {
            json!({ "method": method, "column": column })
        };
        Split { spec, counts, created_at }
    }))
}

/// Rows per split of a CSV version, reading it through once.
async fn count_csv_split(core: &Core, sha256: &str, gzip: bool, spec: &SplitSpec, fractions: Option<[f64; 3]>) -> Result<[u64; 3]> {
    let raw = core.blobs.reader(sha256).await?;
    let spec2 = spec.clone();
    tokio::task::spawn_blocking(move || -> Result<[u64; 3]> {
        let mut rdr = csv_from(raw, gzip);
        let header = rdr.headers().map_err(|e| anyhow::anyhow!(e))?.clone();
        let col = match &spec2 {
            SplitSpec::Column { column } => Some(header.iter().position(|h| h.trim() == column).ok_or_else(|| {
                Error::bad_request(format!("column: '{column}' is not a column of this version"))
            })?),
            SplitSpec::Random { .. } => None,
        };
        let mut counts = [0u64; 3];
        let mut record = csv::StringRecord::new();
        let mut row = 0u64;
        while rdr.read_record(&mut record).map_err(|e| anyhow::anyhow!(e))? {
            let s = match (&spec2, col) {
                (SplitSpec::Random { seed, .. }, _) => trellis_ml::split::assign(*seed, row, fractions.unwrap()),
                (SplitSpec::Column { column }, Some(c)) => trellis_ml::split::parse_label(&record[c]).ok_or_else(|| {
                    Error::bad_request(format!(
                        "line {}, column '{column}': '{}' is not train, validation or test",
                        row + 2,
                        &record[c]
                    ))
                })?,
                _ => unreachable!(),
            };
            counts[s] += 1;
            row += 1;
        }
        Ok(counts)
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?
}


/// Rows per split of a Parquet version: the row count for a random split, one column's values
/// for a split by column.
async fn count_parquet_split(core: &Core, sha256: &str, size: u64, spec: &SplitSpec, fractions: Option<[f64; 3]>) -> Result<[u64; 3]> {
    let file = core.blobs.ranged(sha256, size);
    match spec {
        SplitSpec::Random { seed, .. } => {
            let rows = crate::parquet_files::row_count(file).await?;
            let fractions = fractions.expect("random splits have fractions");
            let mut counts = [0u64; 3];
            for row in 0..rows {
                counts[trellis_ml::split::assign(*seed, row, fractions)] += 1;
            }
            Ok(counts)
        }
        SplitSpec::Column { column } => {
            let column = column.clone();
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || -> Result<[u64; 3]> {
                let mut counts = [0u64; 3];
                crate::parquet_files::for_each_text(&runtime, file, &column, |row, text| {
                    let s = trellis_ml::split::parse_label(text).ok_or_else(|| {
                        Error::bad_request(format!("row {}, column '{column}': '{text}' is not train, validation or test", row + 1))
                    })?;
                    counts[s] += 1;
                    Ok(())
                })?;
                Ok(counts)
            })
            .await
            .map_err(|e| anyhow::anyhow!(e))?
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_cut_outside_quotes() {
        let cut = |buf: &[u8]| record_boundary(buf, memchr::memchr_iter(b'"', buf).count());
        assert_eq!(cut(b"a,b\n1,2\n3,"), Some(8));
        // The last line break is inside a quoted field: cut before that record.
        assert_eq!(cut(b"a,b\n1,\"x\ny"), Some(4));
        // Doubled quotes are an escaped quote, still inside the field.
        assert_eq!(cut(b"1,\"say \"\"hi\"\"\n\""), None);
        assert_eq!(cut(b"no break"), None);
    }

    #[test]
    fn separators_are_found_where_a_plain_search_finds_them() {
        // Separators among bytes one bit or one step away from them.
        let alphabet = b"a,\n,b-+\x0b\x09\xff\x00\xac\x8a\x2e";
        let text: Vec<u8> = (0..1024usize).map(|i| alphabet[(i * i + 3 * i + i / 7) % alphabet.len()]).collect();
        for block in text.chunks_exact(64) {
            let mask = separator_mask(block.try_into().unwrap());
            let found: Vec<usize> = (0..64).filter(|i| mask >> i & 1 == 1).collect();
            let want: Vec<usize> = memchr::memchr2_iter(b',', b'\n', block).collect();
            assert_eq!(found, want);
        }
    }

    #[test]
    fn unquoted_pieces_split_as_the_csv_reader_splits_them() {
        // A short piece, and one of many blocks whose cells and line ends cross block edges.
        let long: String = (0..2000usize)
            .map(|i| format!("{},{},é{}{}", "7".repeat(i % 13), "x".repeat(i * 7 % 61), i, ["\n", "\r\n", "\n\n", "\r\n\r\n"][i % 4]))
            .collect();
        for (piece, records) in [("1,a,\r\n\n2,,x\n\r\n3,b,y", 3), (long.as_str(), 2000)] {
            let mut seen: Vec<Vec<String>> = Vec::new();
            let rows = split_unquoted(piece.as_bytes(), 3, |cells| seen.extend(cells.chunks(3).map(|r| r.iter().map(|s| s.to_string()).collect()))).unwrap();
            let mut want: Vec<Vec<String>> = Vec::new();
            let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(piece.as_bytes());
            for r in rdr.records() {
                want.push(r.unwrap().iter().map(String::from).collect());
            }
            assert_eq!(rows, records);
            assert_eq!(seen, want);
        }
        let err = split_unquoted(b"1,2,3\n4,5\n", 3, |_| {}).unwrap_err();
        assert_eq!(err.to_string(), "a record has 2 fields where the header has 3");
        assert!(split_unquoted(b"1,\xff,3\n", 3, |_| {}).unwrap_err().to_string().contains("invalid UTF-8"));
    }

    #[test]
    fn pieces_hold_whole_records_and_keep_every_row() {
        let mut text = String::from("name,note,n\n");
        for i in 0..500 {
            text.push_str(&format!("r{i},\"line one\nline \"\"two\"\", {i}\",{i}\n"));
        }
        for size in [7, 64, 1000, 1 << 20] {
            let (names, mut pieces) = csv_header_in_pieces(Box::new(std::io::Cursor::new(text.clone().into_bytes())), size).unwrap();
            assert_eq!(names, vec!["name", "note", "n"]);
            let states = csv_pass(&mut pieces, 3, 3, || (0u64, 0u64), |s, cells| {
                assert_eq!(cells.len() % 3, 0, "whole records");
                for r in cells.chunks(3) {
                    s.0 += 1;
                    s.1 += r[2].parse::<u64>().unwrap();
                }
            }, |_| {})
            .unwrap();
            let (rows, sum) = states.iter().fold((0, 0), |a, s| (a.0 + s.0, a.1 + s.1));
            assert_eq!((rows, sum), (500, (0..500).sum::<u64>()), "pieces of {size} bytes");
        }
    }

    #[test]
    fn a_bad_record_fails_the_pass_however_many_threads_fail() {
        // One ragged record among many, and then every record ragged: each thread that meets one
        // fails, and the pass ends with the error instead of waiting for them.
        let good = (0..2_000).map(|i| format!("{i},{i}\n")).collect::<String>();
        for (bad, threads) in [(format!("{good}1,2,3\n{good}"), 2), ("1,2,3\n".repeat(5_000), 2), ("1,2,3\n".repeat(5_000), 1)] {
            let (_, mut pieces) = csv_header_in_pieces(Box::new(std::io::Cursor::new(format!("a,b\n{bad}").into_bytes())), 256).unwrap();
            let result = csv_pass(&mut pieces, 2, threads, || 0u64, |n, cells| *n += cells.len() as u64, |_| {});
            let e = result.err().expect("a ragged record fails the pass");
            assert!(e.to_string().contains("3 fields where the header has 2"), "{e}");
        }
    }
}
