//! A model version from an uploaded ONNX file (Vertex's "upload a model", MLflow 3's logged model
//! without a run).
//!
//! The file is checked before anything is written: it must be an ONNX graph ONNX Runtime loads,
//! with inputs and outputs Trellis can serve (see [`crate::serving::onnx`]); a `[rows, n]` input
//! needs `n` feature names. Then, in one transaction: a logged model (type `onnx`, ready) in the
//! project's `uploaded-models` experiment holding `model.onnx`, `signature.json` and, when a
//! dataset version is named, `baseline.json` (its column statistics, for explanations); the
//! registered model when it is new; and its next version, tagged `trellis.feature_names`.

use serde_json::{json, Value};
use sha2::Digest;

use crate::projects::{self, Access};
use crate::registry::{self, ModelRef, ModelVersion, NewVersion, Source};
use crate::storage::Received;
use crate::tracking::now_ms;
use crate::{audit, Actor, Core, Error, Result};

/// The experiment that holds uploaded models' files.
pub const UPLOADS_EXPERIMENT: &str = "uploaded-models";
/// Feature names per model at most.
const MAX_FEATURES: usize = 10_000;
/// The largest ONNX file (protocol buffers' own limit).
pub const MAX_ONNX_BYTES: u64 = 2 << 30;

/// What comes with an uploaded file.
#[derive(Debug, Default, Clone)]
pub struct OnnxUpload {
    /// Names for the columns of a `[rows, n]` input, in order.
    pub feature_names: Option<Vec<String>>,
    pub description: String,
    /// A dataset version (name, number) of the project whose column statistics are the
    /// model's training baseline.
    pub baseline: Option<(String, i32)>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(msg.into())
}

/// Parses a comma-separated list of feature names: each non-empty, none twice.
pub fn parse_feature_names(list: &str) -> Result<Vec<String>> {
    let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).collect();
    if names.len() > MAX_FEATURES {
        return Err(bad(format!("feature_names: at most {MAX_FEATURES} names")));
    }
    if let Some(i) = names.iter().position(|n| n.is_empty()) {
        return Err(bad(format!("feature_names: name {} is empty", i + 1)));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(bad(format!("feature_names: '{dup}' is named twice")));
    }
    Ok(names)
}

/// The stored description of an ONNX file's interface (`signature.json`).
pub fn signature_json(signature: &trellis_ml::onnx::OnnxSignature, source: &str) -> Value {
    json!({
        "format": "onnx",
        "source": source,
        "producer": signature.producer,
        "ir_version": signature.ir_version,
        "opsets": signature.opsets.iter().map(|(d, v)| json!({ "domain": d, "version": v })).collect::<Vec<_>>(),
        "inputs": signature.inputs,
        "outputs": signature.outputs,
    })
}

/// Checks the caller may upload a version of model `name` (done before receiving the file).
pub async fn authorize(core: &Core, actor: &Actor, slug: &str, name: &str) -> Result<()> {
    registry::check_name(name.trim())?;
    projects::authorize(&core.db, actor, slug, Access::Write).await.map(|_| ())
}

/// Registers a received `.onnx` file (named `file_name` by the uploader) as the next version of
/// the project's model `name`, creating the model when it is new (editors).
pub async fn register_onnx(core: &Core, actor: &Actor, slug: &str, name: &str, file_name: &str, file: Received, upload: OnnxUpload) -> Result<ModelVersion> {
    let result = register_received(core, actor, slug, name, file_name, &file, upload).await;
    file.discard().await;
    result
}

async fn register_received(core: &Core, actor: &Actor, slug: &str, name: &str, file_name: &str, file: &Received, upload: OnnxUpload) -> Result<ModelVersion> {
    let bytes = tokio::fs::read(&file.path).await.map_err(|e| Error::Internal(anyhow::anyhow!("reading the received file: {e}")))?;
    let name = name.trim();
    registry::check_name(name)?;
    registry::check_description(&upload.description)?;
    let (project, _) = projects::authorize(&core.db, actor, slug, Access::Write).await?;
    if bytes.is_empty() {
        return Err(bad("the request body is empty: send the .onnx file as the body"));
    }
    let signature = trellis_ml::onnx::OnnxSignature::read(&bytes).map_err(|e| bad(format!("the file is not an ONNX model: {e}")))?;
    let baseline = match &upload.baseline {
        Some((dataset, version)) => Some(baseline_of(core, project.id, slug, dataset, *version).await?),
        None => None,
    };
    // Loaded once by ONNX Runtime, as serving will: what cannot be served is refused now.
    let names = upload.feature_names.clone();
    let loaded = tokio::task::spawn_blocking(move || crate::serving::onnx::load(&bytes, names).map(|(features, _, _)| features))
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("checking the ONNX model: {e}")))?;
    let features = loaded?;
    if let Some(names) = &upload.feature_names {
        if features.iter().map(|f| &f.name).ne(names.iter()) {
            return Err(bad(format!(
                "feature_names: the model's inputs are named by the graph ({}); feature names are for a single [rows, n] input",
                features.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
    }

    // Files first (content-addressed, so a retry stores nothing twice), then every row at once.
    // The model is the received file itself, already hashed on arrival.
    core.blobs.put_file(&file.sha256, &file.path).await?;
    let mut stored = vec![("model.onnx", file.sha256.clone(), file.size as i64)];
    let mut made = vec![("signature.json", serde_json::to_vec_pretty(&signature_json(&signature, file_name)).map_err(anyhow::Error::from)?)];
    if let Some(b) = baseline {
        made.push(("baseline.json", serde_json::to_vec_pretty(&b).map_err(anyhow::Error::from)?));
    }
    for (path, bytes) in made {
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let size = bytes.len() as i64;
        core.blobs.put_bytes(&sha256, bytes).await?;
        stored.push((path, sha256, size));
    }
    let written = write_rows(core, actor, project.id, slug, name, &upload, &features, &stored).await;
    match written {
        Ok(id) => registry::load_versions(&core.db, &[id]).await?.pop().ok_or_else(|| Error::not_found("model version vanished")),
        Err(e) => {
            // Nothing refers to the new blobs: free them (shared ones stay).
            let _ = crate::datasets::collect_garbage(core, stored.into_iter().map(|(_, sha, _)| sha).collect()).await;
            Err(e)
        }
    }
}

/// The column statistics of a ready dataset version, as `baseline.json` holds them.
async fn baseline_of(core: &Core, project_id: i64, slug: &str, dataset: &str, version: i32) -> Result<Value> {
    let row: Option<(String, Option<Value>)> = sqlx::query_as(
        "SELECT v.status, v.statistics FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
          WHERE d.project_id = $1 AND d.name = $2 AND v.version = $3",
    )
    .bind(project_id)
    .bind(dataset.trim())
    .bind(version)
    .fetch_optional(&core.db)
    .await?;
    let (status, stats) = row.ok_or_else(|| bad(format!("baseline: project '{slug}' has no dataset '{}' version {version}", dataset.trim())))?;
    match stats {
        Some(stats) if status == "ready" => Ok(json!({ "dataset": format!("{}@v{version}", dataset.trim()), "features": stats })),
        _ => Err(bad(format!("baseline: dataset '{}' version {version} is {status}; it must be profiled first", dataset.trim()))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_rows(
    core: &Core,
    actor: &Actor,
    project_id: i64,
    slug: &str,
    name: &str,
    upload: &OnnxUpload,
    features: &[crate::serving::input::Feature],
    stored: &[(&str, String, i64)],
) -> Result<i64> {
    let now = now_ms();
    let mut tx = core.db.begin().await?;
    sqlx::query(
        "INSERT INTO experiments (project_id, name, created_by, creation_time, last_update_time) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (project_id, name) DO NOTHING",
    )
    .bind(project_id)
    .bind(UPLOADS_EXPERIMENT)
    .bind(actor.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let experiment_id: i64 = sqlx::query_scalar("SELECT id FROM experiments WHERE project_id = $1 AND name = $2")
        .bind(project_id)
        .bind(UPLOADS_EXPERIMENT)
        .fetch_one(&mut *tx)
        .await?;
    let uuid = format!("m-{}", uuid::Uuid::new_v4().simple());
    let logged_model_id: i64 = sqlx::query_scalar(
        "INSERT INTO logged_models (model_uuid, experiment_id, name, model_type, status, created_by, creation_time, last_updated_time)
         VALUES ($1, $2, $3, 'onnx', 'LOGGED_MODEL_READY', $4, $5, $5) RETURNING id",
    )
    .bind(&uuid)
    .bind(experiment_id)
    .bind(name)
    .bind(actor.user_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    for (path, sha256, size) in stored {
        crate::artifacts::record_for_new_logged_model(&mut tx, logged_model_id, path, sha256, *size).await?;
    }
    let model_id: i64 = match sqlx::query_scalar::<_, i64>(
        "INSERT INTO registered_models (project_id, name, description, created_by, creation_time, last_updated_time)
         VALUES ($1, $2, '', $3, $4, $4) ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
    )
    .bind(project_id)
    .bind(name)
    .bind(actor.user_id)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?
    {
        Some(id) => {
            audit::record(&mut tx, actor, Some(project_id), "registered_model.create", "registered_model", name, json!({})).await?;
            id
        }
        None => sqlx::query_scalar("SELECT id FROM registered_models WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .fetch_one(&mut *tx)
            .await?,
    };
    let source = format!("models:/{uuid}");
    let tags = vec![("trellis.feature_names".to_string(), features.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(","))];
    let new = NewVersion { source: &source, model_id: Some(&uuid), description: Some(&upload.description), tags: &tags, ..Default::default() };
    let src = Source {
        storage_location: crate::logged_models::artifact_uri(experiment_id, &uuid),
        run_id: None,
        run_uuid: String::new(),
        logged_model_id: Some(logged_model_id),
        logged_model_uuid: uuid.clone(),
    };
    let m = ModelRef { id: model_id, project_id, name: name.to_string() };
    let id = registry::insert_version(&mut tx, actor, &m, &new, &src).await?;
    audit::record(&mut tx, actor, Some(project_id), "model_version.upload", "registered_model", name, json!({ "logged_model": uuid, "project": slug })).await?;
    tx.commit().await?;
    Ok(id)
}
