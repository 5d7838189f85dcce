use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use trellis_core::datasets::{self, Dataset, DatasetVersion, NewVersion, Preview, Split, SplitSpec, Validation, VersionDetail};

use crate::auth::ApiActor;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::startup::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataset {
    /// 2–48 characters of a-z, 0-9 and '-'; used in URLs.
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DatasetWithVersions {
    #[serde(flatten)]
    pub dataset: Dataset,
    pub versions: Vec<DatasetVersion>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The original file name, kept for downloads.
    pub filename: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// Rows to skip (default 0).
    pub offset: Option<u64>,
    /// Rows to return, 1–500 (default 50).
    pub limit: Option<usize>,
}

fn parse_version(raw: &str) -> Result<i32, ApiError> {
    raw.trim_start_matches('v')
        .parse::<i32>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| ApiError::bad_request(format!("version: '{raw}' is not a version number (1, 2, …)")))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Include archived datasets (default false).
    #[serde(default)]
    pub archived: bool,
}

#[utoipa::path(get, path = "/v1/projects/{project}/datasets", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ListQuery),
    responses((status = 200, body = Vec<Dataset>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Dataset>>> {
    Ok(Json(datasets::list(&s.core.db, &actor, &project, q.archived).await?))
}

/// `POST …/datasets/{dataset}:archive` and `…:unarchive` (editors). An archived dataset keeps its
/// versions and stays readable, but is hidden from lists and refuses uploads.
#[utoipa::path(post, path = "/v1/projects/{project}/datasets/{dataset}:archive", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name; also `…:unarchive`")),
    responses((status = 200, body = Dataset), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn action(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, raw)): ApiPath<(String, String)>,
) -> ApiResult<Json<Dataset>> {
    let Some((dataset, verb)) = raw.split_once(':') else {
        return Err(ApiError::not_found(format!("no API route POST /v1/projects/{project}/datasets/{raw}; did you mean …/versions?")));
    };
    let archived = match verb {
        "archive" => true,
        "unarchive" => false,
        other => return Err(ApiError::not_found(format!("datasets have no action ':{other}' (known: :archive, :unarchive)"))),
    };
    Ok(Json(datasets::set_archived(&s.core.db, &actor, &project, dataset, archived).await?))
}

/// Creates a dataset (editors).
#[utoipa::path(post, path = "/v1/projects/{project}/datasets", tag = "datasets", request_body = CreateDataset,
    params(("project" = String, Path, description = "project slug")),
    responses((status = 201, body = Dataset), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<CreateDataset>,
) -> ApiResult<(StatusCode, Json<Dataset>)> {
    let d = datasets::create(&s.core.db, &actor, &project, &body.name, &body.description).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

#[utoipa::path(get, path = "/v1/projects/{project}/datasets/{dataset}", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name")),
    responses((status = 200, body = DatasetWithVersions), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset)): ApiPath<(String, String)>,
) -> ApiResult<Json<DatasetWithVersions>> {
    let (dataset, versions) = datasets::get(&s.core.db, &actor, &project, &dataset).await?;
    Ok(Json(DatasetWithVersions { dataset, versions }))
}

/// Uploads a new version: the file is the raw request body, CSV (`Content-Type: text/csv`; gzip
/// by `Content-Encoding: gzip` or its magic bytes) or Parquet (`application/vnd.apache.parquet`,
/// or recognised by its magic bytes). Streamed to disk, validated, then stored; its profiling job
/// is queued.
#[utoipa::path(post, path = "/v1/projects/{project}/datasets/{dataset}/versions", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name"), UploadQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = DatasetVersion), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody),
              (status = 415, body = crate::error::ErrorBody)))]
pub async fn upload(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<DatasetVersion>)> {
    // Refuse before reading a byte of a body the caller may not upload.
    datasets::authorize_upload(&s.core.db, &actor, &project, &dataset).await?;
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_encoding = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_string);
    datasets::declared_format(content_type.as_deref())?;
    let received = s.core.blobs.receive(body.into_data_stream(), s.max_upload_bytes).await?;
    let input = NewVersion {
        project: &project,
        dataset: &dataset,
        filename: q.filename.as_deref().unwrap_or(""),
        content_type: content_type.as_deref(),
        content_encoding: content_encoding.as_deref(),
    };
    let v = datasets::add_version(&s.core, &actor, input, received).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// A version's status, schema and statistics.
#[utoipa::path(get, path = "/v1/projects/{project}/datasets/{dataset}/versions/{version}", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name"),
           ("version" = i32, Path, description = "version number")),
    responses((status = 200, body = VersionDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn version(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset, version)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<VersionDetail>> {
    let n = parse_version(&version)?;
    Ok(Json(datasets::version(&s.core.db, &actor, &project, &dataset, n).await?))
}

#[utoipa::path(get, path = "/v1/projects/{project}/datasets/{dataset}/versions/{version}/preview", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name"),
           ("version" = i32, Path, description = "version number"), PreviewQuery),
    responses((status = 200, body = Preview), (status = 404, body = crate::error::ErrorBody)))]
pub async fn preview(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset, version)): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> ApiResult<Json<Preview>> {
    let n = parse_version(&version)?;
    let p = datasets::preview(&s.core, &actor, &project, &dataset, n, q.offset.unwrap_or(0), q.limit.unwrap_or(50)).await?;
    Ok(Json(p))
}

/// The original file, as uploaded.
#[utoipa::path(get, path = "/v1/projects/{project}/datasets/{dataset}/versions/{version}/download", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name"),
           ("version" = i32, Path, description = "version number")),
    responses((status = 200, description = "the file"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn download(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset, version)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    let n = parse_version(&version)?;
    let d = datasets::download(&s.core.db, &actor, &project, &dataset, n).await?;
    let stream = s.core.blobs.stream(&d.sha256).await?;
    let mut res = Body::from_stream(stream).into_response();
    let ctype = match d.format {
        datasets::Format::Parquet => "application/vnd.apache.parquet",
        datasets::Format::Csv if d.gzip => "application/gzip",
        datasets::Format::Csv => "text/csv; charset=utf-8",
    };
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    let safe: String = d.filename.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ').collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        res.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Anomalies of a version against the earlier version it was validated against (like TensorFlow
/// Data Validation): schema changes, missing-rate jumps, new categories, out-of-range values and
/// distribution distances. 409 while the version is still being profiled.
#[utoipa::path(get, path = "/v1/projects/{project}/datasets/{dataset}/versions/{version}/anomalies", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name"),
           ("version" = i32, Path, description = "version number")),
    responses((status = 200, body = Validation), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn anomalies(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset, version)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Validation>> {
    let n = parse_version(&version)?;
    Ok(Json(datasets::anomalies(&s.core.db, &actor, &project, &dataset, n).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// Stored files freed because nothing else refers to them.
    pub blobs_removed: usize,
}

/// Deletes a version (editors); its file is removed when no other version has the same content.
#[utoipa::path(delete, path = "/v1/projects/{project}/datasets/{dataset}/versions/{version}", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name"),
           ("version" = i32, Path, description = "version number")),
    responses((status = 200, body = Deleted), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_version(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset, version)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Deleted>> {
    let n = parse_version(&version)?;
    let blobs_removed = datasets::delete_version(&s.core, &actor, &project, &dataset, n).await?;
    Ok(Json(Deleted { blobs_removed }))
}

/// Deletes a dataset and all its versions (editors).
#[utoipa::path(delete, path = "/v1/projects/{project}/datasets/{dataset}", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name")),
    responses((status = 200, body = Deleted), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset)): ApiPath<(String, String)>,
) -> ApiResult<Json<Deleted>> {
    let blobs_removed = datasets::delete(&s.core, &actor, &project, &dataset).await?;
    Ok(Json(Deleted { blobs_removed }))
}

/// Splits a version into train / validation / test (editors): by fractions with a seed
/// (`{"method": "random", "fractions": {"train": 0.8, "validation": 0.1, "test": 0.1}, "seed": 42}`)
/// or by a column's values (`{"method": "column", "column": "split"}`). Returns the rows per split.
#[utoipa::path(put, path = "/v1/projects/{project}/datasets/{dataset}/versions/{version}/split", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name"),
           ("version" = i32, Path, description = "version number")),
    request_body = SplitSpec,
    responses((status = 200, body = Split), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn set_split(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset, version)): ApiPath<(String, String, String)>,
    ApiJson(spec): ApiJson<SplitSpec>,
) -> ApiResult<Json<Split>> {
    let n = parse_version(&version)?;
    Ok(Json(datasets::set_split(&s.core, &actor, &project, &dataset, n, spec).await?))
}

/// The version's split, if one was made.
#[utoipa::path(get, path = "/v1/projects/{project}/datasets/{dataset}/versions/{version}/split", tag = "datasets",
    params(("project" = String, Path, description = "project slug"), ("dataset" = String, Path, description = "dataset name"),
           ("version" = i32, Path, description = "version number")),
    responses((status = 200, body = Split), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_split(
    State(s): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((project, dataset, version)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Split>> {
    let n = parse_version(&version)?;
    datasets::get_split(&s.core.db, &actor, &project, &dataset, n)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("version {n} of '{dataset}' has no split yet")))
}
