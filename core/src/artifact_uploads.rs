//! Multipart artifact uploads, as MLflow's client does them with
//! `MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`: `create` names the artifact and hands out one URL per
//! part; parts are PUT to those URLs (the upload id, 128 random bits, is the capability: the
//! client sends parts without its credentials); `complete` joins them in order, hashes the
//! whole and stores it like any artifact (checked again against the caller's rights); `abort`
//! drops them. Parts wait in temporary files, removed with the upload.

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::artifacts::{self, ArtifactPath};
use crate::storage::Received;
use crate::{Actor, Core, Error, Result};

pub const MAX_PARTS: i32 = 10_000;

/// Starts an upload of `file_name` into the directory `dir`; returns the upload id.
pub async fn create(core: &Core, actor: &Actor, dir: &ArtifactPath, file_name: &str, num_parts: i64) -> Result<String> {
    let name = file_name.rsplit(['/', '\\']).next().unwrap_or("");
    let name = artifacts::check_relative(name)?;
    if name.is_empty() {
        return Err(Error::bad_request("a multipart upload needs a file name ('path')"));
    }
    if !(1..=MAX_PARTS as i64).contains(&num_parts) {
        return Err(Error::bad_request(format!("num_parts must be 1 to {MAX_PARTS}, got {num_parts}")));
    }
    let mut target = dir.clone();
    target.path = if dir.path.is_empty() { name } else { format!("{}/{name}", dir.path) };
    artifacts::authorize_upload(core, actor, &target).await?;
    let upload_id = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    sqlx::query("INSERT INTO artifact_uploads (upload_id, artifact, num_parts, created_by) VALUES ($1, $2, $3, $4)")
        .bind(&upload_id)
        .bind(target.full())
        .bind(num_parts as i32)
        .bind(actor.user_id)
        .execute(&core.db)
        .await?;
    Ok(upload_id)
}

fn unknown(upload_id: &str) -> Error {
    Error::not_found(format!("No multipart upload with id {upload_id}"))
}

/// Stores one part (received into a temporary file); replaces a part sent before. Returns
/// its ETag (the part's SHA-256).
pub async fn put_part(core: &Core, upload_id: &str, part_number: i64, part: Received) -> Result<String> {
    let result = async {
        let num_parts: Option<i32> = sqlx::query_scalar("SELECT num_parts FROM artifact_uploads WHERE upload_id = $1")
            .bind(upload_id)
            .fetch_optional(&core.db)
            .await?;
        let num_parts = num_parts.ok_or_else(|| unknown(upload_id))?;
        if !(1..=num_parts as i64).contains(&part_number) {
            return Err(Error::bad_request(format!("part_number must be 1 to {num_parts}, got {part_number}")));
        }
        let old: Option<String> = sqlx::query_scalar(
            "INSERT INTO artifact_upload_parts (upload_id, part_number, temp_path, size, sha256) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET temp_path = EXCLUDED.temp_path, size = EXCLUDED.size, sha256 = EXCLUDED.sha256
             RETURNING (SELECT temp_path FROM artifact_upload_parts WHERE upload_id = $1 AND part_number = $2)",
        )
        .bind(upload_id)
        .bind(part_number as i32)
        .bind(part.path.to_string_lossy().to_string())
        .bind(part.size as i64)
        .bind(&part.sha256)
        .fetch_one(&core.db)
        .await?;
        if let Some(old) = old.filter(|o| *o != part.path.to_string_lossy()) {
            let _ = tokio::fs::remove_file(old).await;
        }
        Ok(format!("\"{}\"", part.sha256))
    }
    .await;
    if result.is_err() {
        part.discard().await;
    }
    result
}

async fn remove(core: &Core, upload_id: &str) -> Result<()> {
    let paths: Vec<String> = sqlx::query_scalar("SELECT temp_path FROM artifact_upload_parts WHERE upload_id = $1")
        .bind(upload_id)
        .fetch_all(&core.db)
        .await?;
    sqlx::query("DELETE FROM artifact_uploads WHERE upload_id = $1").bind(upload_id).execute(&core.db).await?;
    for p in paths {
        let _ = tokio::fs::remove_file(p).await;
    }
    Ok(())
}

/// The upload's target, if `expected` (the directory the client names) matches it and the
/// caller may still write there.
async fn target(core: &Core, actor: &Actor, upload_id: &str, expected_dir: &ArtifactPath) -> Result<(ArtifactPath, i32)> {
    let row: Option<(String, i32)> = sqlx::query_as("SELECT artifact, num_parts FROM artifact_uploads WHERE upload_id = $1")
        .bind(upload_id)
        .fetch_optional(&core.db)
        .await?;
    let (artifact, num_parts) = row.ok_or_else(|| unknown(upload_id))?;
    let at = ArtifactPath::parse(&artifact)?;
    let dir_of = |p: &str| p.rsplit_once('/').map_or(String::new(), |(d, _)| d.to_string());
    if at.owner != expected_dir.owner || at.experiment_id != expected_dir.experiment_id || dir_of(&at.path) != expected_dir.path {
        return Err(unknown(upload_id));
    }
    artifacts::authorize_upload(core, actor, &at).await?;
    Ok((at, num_parts))
}

/// Joins the parts in order into the artifact.
pub async fn complete(core: &Core, actor: &Actor, upload_id: &str, dir: &ArtifactPath) -> Result<()> {
    let (at, num_parts) = target(core, actor, upload_id, dir).await?;
    let parts: Vec<(i32, String)> =
        sqlx::query_as("SELECT part_number, temp_path FROM artifact_upload_parts WHERE upload_id = $1 ORDER BY part_number")
            .bind(upload_id)
            .fetch_all(&core.db)
            .await?;
    let missing: Vec<i32> = (1..=num_parts).filter(|n| !parts.iter().any(|p| p.0 == *n)).collect();
    if !missing.is_empty() {
        return Err(Error::bad_request(format!("parts {missing:?} of upload {upload_id} were not received")));
    }
    let joined = core.blobs.temp_path();
    let result = async {
        let mut out = tokio::fs::File::create(&joined).await.map_err(|e| anyhow::Error::new(e).context("joining parts"))?;
        let (mut hasher, mut size, mut buf) = (Sha256::new(), 0u64, vec![0u8; 1 << 16]);
        for (_, path) in &parts {
            let mut f = tokio::fs::File::open(path).await.map_err(|e| anyhow::Error::new(e).context("reading a part"))?;
            loop {
                let n = f.read(&mut buf).await.map_err(|e| anyhow::Error::new(e).context("reading a part"))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
                out.write_all(&buf[..n]).await.map_err(|e| anyhow::Error::new(e).context("joining parts"))?;
            }
        }
        out.flush().await.map_err(|e| anyhow::Error::new(e).context("joining parts"))?;
        Ok::<_, Error>(Received { path: joined.clone(), sha256: hex::encode(hasher.finalize()), size })
    }
    .await;
    let received = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = tokio::fs::remove_file(&joined).await;
            return Err(e);
        }
    };
    artifacts::put(core, actor, &at, received).await?;
    remove(core, upload_id).await
}

/// Drops an upload and its parts.
pub async fn abort(core: &Core, actor: &Actor, upload_id: &str, dir: &ArtifactPath) -> Result<()> {
    target(core, actor, upload_id, dir).await?;
    remove(core, upload_id).await
}
