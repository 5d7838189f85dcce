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
    let uri_example = match m.aliases.first() {
        Some((alias, _)) => format!("models:/{}@{alias}", m.name),
        None => format!("models:/{}/{}", m.name, versions.first().map(|v| v.version).unwrap_or(1)),
    };
    Ok(RegisteredModelPage {
        uri_example,
        name: m.name,
        description: m.description,
        tags: m.tags,
        aliases: m.aliases,
        versions: versions
            .into_iter()
            .map(|v| ModelVersionRow {
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
            })
            .collect(),
    })
}
