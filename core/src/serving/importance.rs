//! Global feature importance of a model version: the mean absolute attribution of each feature
//! over a sample of rows of the data it was trained on (or of its baseline dataset, for an
//! uploaded model), each row explained for its predicted class (or its value) — TreeSHAP for
//! built-in tree models, sampled Shapley (10 paths) otherwise.

use serde::Serialize;
use trellis_ml::train::Predictions;

use super::model::LoadedModel;
use crate::projects::{self, Access};
use crate::{Actor, Core, Error, Result};

/// Rows read from the start of the dataset version, and rows explained among them (evenly spaced).
const READ_ROWS: usize = crate::datasets::MAX_PREVIEW_ROWS;
pub const SAMPLE_ROWS: usize = 100;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GlobalImportance {
    /// `tree_shap` or `sampled_shapley`.
    pub method: String,
    /// The dataset version the sample came from (`name@vN`).
    pub dataset: String,
    /// Rows explained.
    pub rows: usize,
    /// Each feature's mean |attribution|, largest first.
    pub features: Vec<FeatureImportance>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeatureImportance {
    pub feature: String,
    pub importance: f64,
}

/// The version's global importance (readers), or `None` when Trellis does not know which data
/// it was trained on. Computed once per version and process, then kept.
pub async fn global_importance(core: &Core, actor: &Actor, slug: &str, model: &str, version: i32) -> Result<Option<GlobalImportance>> {
    let (project, _) = projects::authorize(&core.db, actor, slug, Access::Read).await?;
    let (_, version_id, _) = super::resolve_version(&core.db, project.id, slug, model.trim(), Some(version), None)
        .await
        .map_err(|e| match e {
            Error::BadRequest(m) => Error::not_found(m),
            other => other,
        })?;
    if let Some(known) = core.serving.importance.lock().unwrap_or_else(|e| e.into_inner()).get(&version_id) {
        return Ok(known.clone());
    }
    let found = compute_for(core, actor, slug, version_id).await?;
    let mut known = core.serving.importance.lock().unwrap_or_else(|e| e.into_inner());
    if known.len() >= MAX_KEPT {
        known.clear();
    }
    known.insert(version_id, found.clone());
    Ok(found)
}

/// Versions whose importance is kept; past this the cache starts again.
const MAX_KEPT: usize = 256;

async fn compute_for(core: &Core, actor: &Actor, slug: &str, version_id: i64) -> Result<Option<GlobalImportance>> {
    let Some((dataset, number)) = super::training_data(core, version_id).await? else { return Ok(None) };
    let loaded = core.serving.model(core, version_id).await?;
    let preview = match crate::datasets::preview(core, actor, slug, &dataset, number, 0, READ_ROWS).await {
        Ok(p) => p,
        // The dataset version is gone: nothing to sample.
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let at: Vec<usize> = match loaded.features.iter().map(|f| preview.columns.iter().position(|c| c.trim() == f.name)).collect::<Option<Vec<_>>>() {
        Some(at) => at,
        None => return Ok(None),
    };
    let rows = preview.rows;
    let step = (rows.len() / SAMPLE_ROWS).max(1);
    let sample: Vec<Vec<String>> = rows.into_iter().step_by(step).take(SAMPLE_ROWS).collect();
    if sample.is_empty() {
        return Ok(None);
    }
    let label = format!("{dataset}@v{number}");
    tokio::task::spawn_blocking(move || compute(&loaded, &at, &sample).map(|(method, features)| Some(GlobalImportance { method, dataset: label, rows: sample.len(), features })))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("computing importance: {e}")))?
}

fn compute(model: &LoadedModel, at: &[usize], sample: &[Vec<String>]) -> Result<(String, Vec<FeatureImportance>)> {
    let columns = super::input::text_columns(&model.features, at, sample, super::input::RowNames::Instances)?;
    let predictions = model.predict(&columns)?;
    let (method, name) = super::explain::default_method(model);
    let mut totals = vec![0.0; model.features.len()];
    for r in 0..sample.len() {
        let output = match &predictions {
            Predictions::Probabilities { classes: k, values } => super::model::most_likely(&values[r * k..(r + 1) * k]),
            _ => 0,
        };
        let x = super::explain::row_values(&columns, r);
        let e = super::explain::attribute(model, &x, &model.baseline, output, method, r as u64)?;
        for (t, a) in totals.iter_mut().zip(&e.attributions) {
            *t += a.abs();
        }
    }
    let n = sample.len() as f64;
    let mut features: Vec<FeatureImportance> =
        model.features.iter().zip(totals).map(|(f, t)| FeatureImportance { feature: f.name.clone(), importance: t / n }).collect();
    features.sort_by(|a, b| b.importance.total_cmp(&a.importance));
    Ok((name.to_string(), features))
}
