//! The model registry of a project (models registered through the MLflow API): the list of
//! registered models and a model's versions, aliases and tags.

use leptos::prelude::*;

use crate::model::*;

#[server]
pub async fn list_registered_models(slug: String) -> Result<Vec<RegisteredModelRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let models = trellis_core::registry::project_models(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    Ok(models
        .into_iter()
        .map(|m| RegisteredModelRow {
            latest_version: m.latest_versions.iter().map(|v| v.version).max(),
            name: m.name,
            description: m.description,
            aliases: m.aliases,
            updated: time_ms(m.last_updated_time),
        })
        .collect())
}

#[server]
pub async fn get_registered_model_page(slug: String, name: String) -> Result<RegisteredModelPage, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let (m, versions) = trellis_core::registry::model_versions(cx.db(), &actor, &slug, &name).await.map_err(|e| cx.fail(e))?;
    let governance = trellis_core::model_governance::governance(cx.db(), &actor, &slug, &name).await.map_err(|e| cx.fail(e))?;
    let project = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    // Facts from each version's run: its dataset and evaluation metrics.
    let mut facts = std::collections::HashMap::new();
    for v in &versions {
        if let Some(run_id) = &v.run_id {
            if let Ok(run) = trellis_core::tracking::get_run(cx.db(), &actor, run_id).await {
                let dataset = run.params.iter().find(|(k, _)| k == "dataset").map(|(_, v)| v.clone());
                let mut metrics: Vec<(String, f64)> = run
                    .metrics
                    .iter()
                    .filter(|m| m.key.starts_with("test_") || m.key.starts_with("validation_"))
                    .map(|m| (m.key.clone(), m.value))
                    .collect();
                metrics.sort_by(|a, b| a.0.cmp(&b.0));
                metrics.truncate(12);
                facts.insert(v.version, (dataset, metrics));
            }
        }
    }
    // Global feature importance of the newest version whose data is known: mean |attribution|
    // over a sample of it; else the newest training's own importance.
    let mut importance = None;
    for v in &versions {
        if let Ok(Some(g)) = trellis_core::serving::importance::global_importance(&cx.core, &actor, &slug, &name, v.version).await {
            let bars: Vec<(String, f64)> = g.features.iter().take(15).map(|f| (f.feature.clone(), f.importance)).collect();
            let title = format!("Global feature importance of v{}: mean |attribution| ({}) over {} rows of {}", v.version, g.method.replace('_', " "), g.rows, g.dataset);
            importance = Some((title, trellis_core::charts::bars_svg(&bars)));
            break;
        }
    }
    if importance.is_none() {
        for v in &versions {
            if let Some(run_id) = &v.run_id {
                if let Ok(Some(ev)) = trellis_core::training::run_evaluation(&cx.core, &actor, run_id).await {
                    if !ev.importance.is_empty() {
                        importance = Some((format!("Feature importance from training (v{})", v.version), trellis_core::charts::bars_svg(&ev.importance)));
                        break;
                    }
                }
            }
        }
    }
    let uri_example = match m.aliases.first() {
        Some((alias, _)) => format!("models:/{}@{alias}", m.name),
        None => format!("models:/{}/{}", m.name, versions.first().map(|v| v.version).unwrap_or(1)),
    };
    Ok(RegisteredModelPage {
        card_html: super::experiments::markdown_html(&governance.card),
        card: governance.card.clone(),
        require_approval: governance.require_approval,
        can_write: project.role >= trellis_core::types::Role::Editor,
        can_manage: project.role >= trellis_core::types::Role::Admin,
        importance_title: importance.as_ref().map(|i| i.0.clone()),
        importance_svg: importance.map(|i| i.1),
        uri_example,
        name: m.name,
        description: m.description,
        tags: m.tags,
        aliases: m.aliases,
        versions: versions
            .into_iter()
            .map(|v| {
                let review = governance.versions.iter().find(|r| r.version == v.version);
                let (dataset, metrics) = facts.remove(&v.version).unwrap_or_default();
                ModelVersionRow {
                approval: review.map(|r| r.approval.clone()).unwrap_or_else(|| "pending".into()),
                approval_comment: review.map(|r| r.comment.clone()).unwrap_or_default(),
                reviewed_by: review.and_then(|r| r.reviewed_by.clone()),
                endpoints: review.map(|r| r.endpoints.clone()).unwrap_or_default(),
                dataset,
                metrics,
                version: v.version,
                stage: v.current_stage,
                status: v.status,
                aliases: v.aliases,
                description: v.description,
                source: v.source,
                run_id: v.run_id,
                logged_model_id: v.logged_model_id,
                created: time_ms(v.creation_time),
                user: v.user_name,
                tags: v.tags,
            }})
            .collect(),
    })
}

/// Approves or rejects a version (project admins).
#[server]
pub async fn review_version(slug: String, model: String, version: i32, decision: String, comment: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let review = trellis_core::model_governance::Review { decision, comment };
    trellis_core::model_governance::review(cx.db(), &actor, &slug, &model, version, review).await.map_err(|e| cx.fail(e))?;
    Ok(())
}

/// Saves the model card (editors) and, for admins, whether only approved versions deploy.
#[server]
pub async fn save_model_card(slug: String, model: String, card: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let settings = trellis_core::model_governance::ModelSettings { card: Some(card), require_approval: None };
    trellis_core::model_governance::update(cx.db(), &actor, &slug, &model, settings).await.map_err(|e| cx.fail(e))?;
    Ok(())
}

#[server]
pub async fn set_require_approval(slug: String, model: String, require: Option<String>) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let settings = trellis_core::model_governance::ModelSettings { card: None, require_approval: Some(require.is_some()) };
    trellis_core::model_governance::update(cx.db(), &actor, &slug, &model, settings).await.map_err(|e| cx.fail(e))?;
    Ok(())
}
