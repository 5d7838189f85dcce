//! Batch predictions from the browser: the list, the form's choices, and starting one.

use leptos::prelude::*;

use crate::model::*;

#[server]
pub async fn list_batches(slug: String) -> Result<Vec<BatchRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let list = trellis_core::batch_prediction::list(&cx.core, &actor, &slug).await.map_err(|e| cx.fail(e))?;
    Ok(list
        .into_iter()
        .map(|b| BatchRow {
            id: b.id,
            job_id: b.job_id,
            state: b.state,
            progress: b.progress,
            error: b.error,
            model: b.model,
            dataset: b.dataset,
            output_format: b.output_format,
            explain: b.explain,
            rows: b.rows,
            output_size: b.output_size,
            created: b.created_at,
        })
        .collect())
}

#[server]
pub async fn batch_options(slug: String) -> Result<BatchFormOptions, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let project = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    let models = model_choices(&cx, &actor, &slug).await?;
    let versions = trainable_versions(&cx, &actor, &slug).await?;
    Ok(BatchFormOptions { can_write: project.role >= trellis_core::types::Role::Editor, models, versions })
}

/// Starts a batch prediction: `target` is a version number or `@alias`, `dataset_version` is
/// `dataset@version`; returns its id.
#[server]
pub async fn start_batch(slug: String, model: String, target: String, dataset_version: String, output_format: String, explain: Option<String>) -> Result<i64, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let (version, alias) = parse_model_target(&target)?;
    let (dataset, n) = dataset_version
        .rsplit_once('@')
        .and_then(|(d, v)| Some((d.to_string(), v.parse::<i32>().ok()?)))
        .ok_or_else(|| AppError::BadRequest("choose a dataset version".into()))?;
    let req = trellis_core::batch_prediction::BatchRequest {
        model,
        version,
        alias,
        dataset,
        dataset_version: n,
        output_format: Some(output_format),
        explain: explain.is_some(),
    };
    let b = trellis_core::batch_prediction::submit(&cx.core, &actor, &slug, req).await.map_err(|e| cx.fail(e))?;
    Ok(b.id)
}
