//! Files logged to runs and to logged models (MLflow's proxied artifacts). An artifact is
//! addressed as `<experiment id>/<run id>/artifacts/<path>` or
//! `<experiment id>/models/<model id>/artifacts/<path>`; its content is a content-addressed blob,
//! and the path only names it in the `run_artifacts` / `logged_model_artifacts` table (storage
//! keys never come from the path).

use serde::Serialize;

use crate::projects::Access;
use crate::storage::Received;
use crate::{Actor, Core, Error, Result};

/// Longest artifact path accepted.
pub const MAX_PATH_LENGTH: usize = 1024;

/// Whose artifacts: a run's (by run id) or a logged model's (by model id, `m-…`).
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    Run(String),
    LoggedModel(String),
}

impl Owner {
    fn describe(&self) -> String {
        match self {
            Owner::Run(id) => format!("run {id}"),
            Owner::LoggedModel(id) => format!("model {id}"),
        }
    }
}

/// A validated artifact location: the owner and the path inside its artifact root ("" = the root).
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactPath {
    pub experiment_id: String,
    pub owner: Owner,
    pub path: String,
}

/// The table rows of one owner's artifacts.
#[derive(Clone, Copy)]
struct Resolved {
    table: &'static str,
    column: &'static str,
    id: i64,
}

fn percent_decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Checks a relative path inside a run: no absolute paths, `..`, `.`, empty parts, backslashes,
/// NUL bytes, or parts that are traversal once percent-decoded (again).
pub fn check_relative(path: &str) -> Result<String> {
    let bad = |why: &str| Error::bad_request(format!("Invalid artifact path '{}': {why}", path.escape_debug()));
    if path.len() > MAX_PATH_LENGTH {
        return Err(bad("too long"));
    }
    if path.contains('\0') {
        return Err(bad("it contains a NUL byte"));
    }
    if path.contains('\\') {
        return Err(bad("it contains a backslash"));
    }
    if path.starts_with('/') || path.contains(':') {
        return Err(bad("it must be relative"));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for part in trimmed.split('/') {
        let decoded = percent_decoded(&percent_decoded(part));
        if part.is_empty() || part == "." || part == ".." || decoded == "." || decoded == ".." || decoded.contains('/') || decoded.contains('\\') {
            return Err(bad("it must not contain empty, '.' or '..' parts"));
        }
    }
    Ok(trimmed.to_string())
}

impl ArtifactPath {
    /// Parses `<experiment id>/<run id>/artifacts[/<path>]` or
    /// `<experiment id>/models/<model id>/artifacts[/<path>]`.
    pub fn parse(full: &str) -> Result<Self> {
        let full = full.trim_start_matches('/');
        let invalid = || {
            Error::bad_request(format!(
                "Invalid artifact path '{}': expected <experiment id>/<run id>/artifacts/<path> or <experiment id>/models/<model id>/artifacts/<path>",
                full.escape_debug()
            ))
        };
        let hex32 = |s: &str| s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit());
        let (e, rest) = full.split_once('/').ok_or_else(invalid)?;
        if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
        let (owner, rest) = match rest.split_once('/') {
            Some(("models", rest)) => {
                let (m, rest) = rest.split_once('/').unwrap_or((rest, ""));
                if !m.strip_prefix("m-").is_some_and(hex32) {
                    return Err(invalid());
                }
                (Owner::LoggedModel(m.to_string()), rest)
            }
            Some((r, rest)) if hex32(r) => (Owner::Run(r.to_string()), rest),
            _ => return Err(invalid()),
        };
        let (a, path) = rest.split_once('/').unwrap_or((rest, ""));
        if a != "artifacts" {
            return Err(invalid());
        }
        Ok(ArtifactPath { experiment_id: e.to_string(), owner, path: check_relative(path)? })
    }
}

impl ArtifactPath {
    /// The path as [`ArtifactPath::parse`] reads it.
    pub fn full(&self) -> String {
        let root = match &self.owner {
            Owner::Run(id) => format!("{}/{id}/artifacts", self.experiment_id),
            Owner::LoggedModel(id) => format!("{}/models/{id}/artifacts", self.experiment_id),
        };
        if self.path.is_empty() { root } else { format!("{root}/{}", self.path) }
    }
}

/// The owner's row, after checking access and that it belongs to the experiment named.
async fn resolve(core: &Core, actor: &Actor, at: &ArtifactPath, access: Access) -> Result<Resolved> {
    let (experiment_id, resolved) = match &at.owner {
        Owner::Run(run_id) => {
            let run = crate::tracking::run_ref(&core.db, actor, run_id, access).await?;
            (run.experiment_id, Resolved { table: "run_artifacts", column: "run_id", id: run.id })
        }
        Owner::LoggedModel(model_id) => {
            let m = crate::logged_models::model_ref(&core.db, actor, model_id, access).await?;
            (m.experiment_id, Resolved { table: "logged_model_artifacts", column: "model_id", id: m.id })
        }
    };
    if experiment_id.to_string() != at.experiment_id {
        return Err(Error::not_found(format!("No {} in experiment {}", at.owner.describe(), at.experiment_id)));
    }
    Ok(resolved)
}

/// Checks the caller may upload to `at` (done before receiving the body).
pub async fn authorize_upload(core: &Core, actor: &Actor, at: &ArtifactPath) -> Result<()> {
    if at.path.is_empty() {
        return Err(Error::bad_request("an artifact needs a file name"));
    }
    resolve(core, actor, at, Access::Write).await.map(|_| ())
}

/// Stores an uploaded file as the artifact at `at` (replacing one at the same path).
pub async fn put(core: &Core, actor: &Actor, at: &ArtifactPath, file: Received) -> Result<()> {
    let result = put_inner(core, actor, at, &file).await;
    file.discard().await;
    result
}

async fn put_inner(core: &Core, actor: &Actor, at: &ArtifactPath, file: &Received) -> Result<()> {
    if at.path.is_empty() {
        return Err(Error::bad_request("an artifact needs a file name"));
    }
    let owner = resolve(core, actor, at, Access::Write).await?;
    core.blobs.put_file(&file.sha256, &file.path).await?;
    record(core, owner, &at.path, &file.sha256, file.size as i64).await
}

/// Names a stored blob as the owner's artifact at `path` (replacing one there), then frees the
/// replaced blob when nothing else refers to it.
async fn record(core: &Core, owner: Resolved, path: &str, sha256: &str, size: i64) -> Result<()> {
    let mut tx = core.db.begin().await?;
    let replaced = record_row(&mut tx, &owner, path, sha256, size).await?;
    tx.commit().await?;
    if let Some(old) = replaced.filter(|o| o != sha256) {
        crate::datasets::collect_garbage(core, vec![old]).await?;
    }
    Ok(())
}

/// The rows of [`record`], inside the caller's transaction; returns the blob it replaced.
async fn record_row(tx: &mut sqlx::PgConnection, owner: &Resolved, path: &str, sha256: &str, size: i64) -> Result<Option<String>> {
    sqlx::query("INSERT INTO blobs (sha256, size) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING")
        .bind(sha256)
        .bind(size)
        .execute(&mut *tx)
        .await?;
    let Resolved { table, column, id } = *owner;
    let replaced: Option<String> = sqlx::query_scalar(&format!("SELECT sha256 FROM {table} WHERE {column} = $1 AND path = $2"))
        .bind(id)
        .bind(path)
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO {table} ({column}, path, sha256, size) VALUES ($1, $2, $3, $4)
         ON CONFLICT ({column}, path) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, created_at = now()"
    ))
    .bind(id)
    .bind(path)
    .bind(sha256)
    .bind(size)
    .execute(&mut *tx)
    .await?;
    Ok(replaced)
}

/// Names an already stored blob as an artifact of a new run, inside the transaction that
/// creates the run (a custom job's code).
pub(crate) async fn record_for_new_run(tx: &mut sqlx::PgConnection, run_id: i64, path: &str, sha256: &str, size: i64) -> Result<()> {
    let path = check_relative(path)?;
    record_row(tx, &Resolved { table: "run_artifacts", column: "run_id", id: run_id }, &path, sha256, size).await?;
    Ok(())
}

/// Names an already stored blob as a file of a new logged model, inside the transaction that
/// creates it (an uploaded model's files).
pub(crate) async fn record_for_new_logged_model(tx: &mut sqlx::PgConnection, model_id: i64, path: &str, sha256: &str, size: i64) -> Result<()> {
    let path = check_relative(path)?;
    record_row(tx, &Resolved { table: "logged_model_artifacts", column: "model_id", id: model_id }, &path, sha256, size).await?;
    Ok(())
}

/// Stores bytes made by Trellis itself (a training job's model and reports) as an artifact of a
/// run, replacing one at the same path. The caller has already been authorised for the run.
pub(crate) async fn put_bytes_for_run(core: &Core, run_id: i64, path: &str, bytes: Vec<u8>) -> Result<()> {
    use sha2::Digest;
    let path = check_relative(path)?;
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let size = bytes.len() as i64;
    core.blobs.put_bytes(&sha256, bytes).await?;
    record(core, Resolved { table: "run_artifacts", column: "run_id", id: run_id }, &path, &sha256, size).await
}

/// Stores a local file made by a job (a custom job's outputs) as an artifact of a run.
pub(crate) async fn put_file_for_run(core: &Core, run_id: i64, path: &str, file: &std::path::Path) -> Result<()> {
    let path = check_relative(path)?;
    let (sha256, size) = crate::storage::hash_file(file).await?;
    core.blobs.put_file(&sha256, file).await?;
    record(core, Resolved { table: "run_artifacts", column: "run_id", id: run_id }, &path, &sha256, size as i64).await
}

/// The blob (sha256, size) of the artifact at `at`.
pub async fn get(core: &Core, actor: &Actor, at: &ArtifactPath) -> Result<(String, i64)> {
    let Resolved { table, column, id } = resolve(core, actor, at, Access::Read).await?;
    let row: Option<(String, i64)> = sqlx::query_as(&format!("SELECT sha256, size FROM {table} WHERE {column} = $1 AND path = $2"))
        .bind(id)
        .bind(&at.path)
        .fetch_optional(&core.db)
        .await?;
    row.ok_or_else(|| Error::not_found(format!("No artifact at '{}' in {}", at.path, at.owner.describe())))
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    /// The name inside the listed directory.
    pub path: String,
    pub is_dir: bool,
    pub file_size: Option<i64>,
}

/// The direct children of a directory of a run's or model's artifacts (files and subdirectories).
pub async fn list(core: &Core, actor: &Actor, at: &ArtifactPath) -> Result<Vec<Entry>> {
    let Resolved { table, column, id } = resolve(core, actor, at, Access::Read).await?;
    let prefix = if at.path.is_empty() { String::new() } else { format!("{}/", at.path) };
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT path, size FROM {table} WHERE {column} = $1 AND left(path, length($2)) = $2 ORDER BY path"
    ))
    .bind(id)
    .bind(&prefix)
    .fetch_all(&core.db)
    .await?;
    let mut out: Vec<Entry> = Vec::new();
    for (path, size) in rows {
        let rest = &path[prefix.len()..];
        match rest.split_once('/') {
            Some((dir, _)) => {
                if out.last().is_none_or(|e| e.path != dir) {
                    out.push(Entry { path: dir.to_string(), is_dir: true, file_size: None });
                }
            }
            None => out.push(Entry { path: rest.to_string(), is_dir: false, file_size: Some(size) }),
        }
    }
    Ok(out)
}

/// Deletes the artifact at `at`, or everything under it when it is a directory.
pub async fn delete(core: &Core, actor: &Actor, at: &ArtifactPath) -> Result<()> {
    let Resolved { table, column, id } = resolve(core, actor, at, Access::Write).await?;
    let prefix = if at.path.is_empty() { String::new() } else { format!("{}/", at.path) };
    let gone: Vec<String> = sqlx::query_scalar(&format!(
        "DELETE FROM {table} WHERE {column} = $1 AND (path = $2 OR left(path, length($3)) = $3) RETURNING sha256"
    ))
    .bind(id)
    .bind(&at.path)
    .bind(&prefix)
    .fetch_all(&core.db)
    .await?;
    if gone.is_empty() {
        return Err(Error::not_found(format!("No artifact at '{}' in {}", at.path, at.owner.describe())));
    }
    crate::datasets::collect_garbage(core, gone).await?;
    Ok(())
}

/// Bytes of a file shown in a preview at most.
pub const PREVIEW_BYTES: u64 = 64 * 1024;
/// Rows of a CSV file shown in a preview at most.
pub const PREVIEW_ROWS: usize = 50;

/// What a preview of an artifact shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub enum Preview {
    /// UTF-8 text (the first [`PREVIEW_BYTES`]); `truncated` when the file is longer.
    Text { text: String, truncated: bool },
    /// The first rows of a CSV or TSV file: header, then rows.
    Table { header: Vec<String>, rows: Vec<Vec<String>>, truncated: bool },
    /// An image the browser can show (PNG, JPEG, GIF, WebP).
    Image,
    /// Anything else: only its size.
    Binary,
}

/// The content type an artifact is served with: images the browser may show, everything else
/// as a download (never HTML or SVG from this origin).
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// Decides how the head of a file is previewed.
pub fn preview_of(path: &str, head: &[u8], size: u64) -> Preview {
    if content_type(path).starts_with("image/") {
        return Preview::Image;
    }
    let truncated = size > head.len() as u64;
    // Text up to the last whole character of the head; NUL bytes mean binary.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if truncated && e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return Preview::Binary,
    };
    if text.contains('\0') {
        return Preview::Binary;
    }
    let ext = path.rsplit('.').next().map(|e| e.to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("csv" | "tsv")) {
        let delimiter = if ext.as_deref() == Some("tsv") { b'\t' } else { b',' };
        // A cut last line is dropped.
        let whole = if truncated { text.rsplit_once('\n').map_or("", |(a, _)| a) } else { text };
        let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(whole.as_bytes());
        let mut records = reader.records().map_while(|r| r.ok()).map(|r| r.iter().map(str::to_string).collect::<Vec<_>>());
        if let Some(header) = records.next() {
            let rows: Vec<Vec<String>> = records.by_ref().take(PREVIEW_ROWS).collect();
            let more = records.next().is_some() || truncated;
            return Preview::Table { header, rows, truncated: more };
        }
    }
    Preview::Text { text: text.to_string(), truncated }
}

/// A file's preview, after the same checks as a download.
pub async fn preview(core: &Core, actor: &Actor, at: &ArtifactPath) -> Result<(Preview, i64)> {
    let (sha256, size) = get(core, actor, at).await?;
    if content_type(&at.path).starts_with("image/") {
        return Ok((Preview::Image, size));
    }
    let head = core.blobs.head(&sha256, size.max(0) as u64, PREVIEW_BYTES).await?;
    Ok((preview_of(&at.path, &head, size.max(0) as u64), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_by_kind() {
        assert_eq!(preview_of("plot.PNG", b"\x89PNG", 4), Preview::Image);
        assert_eq!(preview_of("notes.txt", b"hello", 5), Preview::Text { text: "hello".into(), truncated: false });
        assert_eq!(preview_of("model.bin", b"ab\0cd", 5), Preview::Binary);
        assert_eq!(preview_of("x.bin", &[0xff, 0xfe], 2), Preview::Binary);
        // A head cut inside a character keeps the whole ones.
        let cut = "é".repeat(3).into_bytes();
        assert_eq!(preview_of("a.txt", &cut[..5], 6), Preview::Text { text: "éé".into(), truncated: true });
        match preview_of("data.csv", b"a,b\n1,\"x,y\"\n2,z\n3,w", 100) {
            Preview::Table { header, rows, truncated } => {
                assert_eq!(header, ["a", "b"]);
                assert_eq!(rows, [vec!["1".to_string(), "x,y".to_string()], vec!["2".to_string(), "z".to_string()]], "the cut last line is dropped");
                assert!(truncated);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(content_type("page.html"), "application/octet-stream");
        assert_eq!(content_type("drawing.svg"), "application/octet-stream");
    }

    #[test]
    fn artifact_paths_are_checked() {
        let ok = ArtifactPath::parse(&format!("3/{}/artifacts/model/model.onnx", "a".repeat(32))).unwrap();
        assert_eq!((ok.experiment_id.as_str(), ok.path.as_str()), ("3", "model/model.onnx"));
        assert_eq!(ArtifactPath::parse(&format!("3/{}/artifacts", "b".repeat(32))).unwrap().path, "");
        let model = ArtifactPath::parse(&format!("3/models/m-{}/artifacts/MLmodel", "d".repeat(32))).unwrap();
        assert_eq!(model.owner, Owner::LoggedModel(format!("m-{}", "d".repeat(32))));
        assert_eq!(model.path, "MLmodel");
        let run = "c".repeat(32);
        for bad in [
            format!("3/{run}/artifacts/../../etc/passwd"),
            format!("3/{run}/artifacts/a/./b"),
            format!("3/{run}/artifacts//etc/passwd"),
            format!("3/{run}/artifacts/%2e%2e/x"),
            format!("3/{run}/artifacts/%252e%252e/x"),
            format!("3/{run}/artifacts/a\0b"),
            format!("3/{run}/artifacts/a\\..\\b"),
            format!("3/{run}/artifacts/C:/x"),
            format!("x/{run}/artifacts/a"),
            "3/short/artifacts/a".to_string(),
            format!("3/{run}/other/a"),
            format!("3/models/{run}/artifacts/a"),
            format!("3/models/m-{run}/other/a"),
            format!("3/models/m-{run}/artifacts/../../x"),
            "3/models".to_string(),
        ] {
            assert!(ArtifactPath::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
