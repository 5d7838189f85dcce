//! Projects and their members.

use leptos::prelude::*;

use crate::model::*;

#[server]
pub async fn list_projects() -> Result<Vec<ProjectSummary>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let list = trellis_core::projects::list(cx.db(), &actor).await.map_err(|e| cx.fail(e))?;
    Ok(list.into_iter().map(project_summary).collect())
}

#[server]
pub async fn get_project(slug: String) -> Result<ProjectSummary, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::projects::get(cx.db(), &actor, &slug).await.map(project_summary).map_err(|e| cx.fail(e))
}

#[server]
pub async fn create_project(name: String, slug: Option<String>, description: String) -> Result<String, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let input = trellis_core::projects::NewProject { name: &name, slug: slug.as_deref(), description: &description };
    let project = trellis_core::projects::create(cx.db(), &actor, input, None).await.map_err(|e| cx.fail(e))?;
    Ok(project.slug)
}

#[server]
pub async fn update_project(slug: String, name: String, description: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::projects::update(cx.db(), &actor, &slug, Some(&name), Some(&description))
        .await
        .map(|_| ())
        .map_err(|e| cx.fail(e))
}

#[server]
pub async fn list_members(slug: String) -> Result<MembersPage, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let db = cx.db().clone();
    let project = trellis_core::projects::get(&db, &actor, &slug).await.map_err(|e| cx.fail(e))?;
    let members = trellis_core::projects::members(&db, &actor, &slug).await.map_err(|e| cx.fail(e))?;
    let members = members
        .into_iter()
        .map(|m| MemberRow {
            user_id: m.user_id,
            email: m.email,
            display_name: m.display_name,
            role: m.role.0.to_string(),
            added_at: m.added_at,
        })
        .collect();
    Ok(MembersPage { slug: project.project.slug, can_manage: project.role == trellis_core::types::Role::Admin, members })
}

/// Adds a member or changes a role.
#[server]
pub async fn set_member(slug: String, email: String, role: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let role: trellis_core::types::Role = role.parse().map_err(|e| cx.fail(e))?;
    trellis_core::projects::set_member(cx.db(), &actor, &slug, &email, role).await.map(|_| ()).map_err(|e| cx.fail(e))
}

#[server]
pub async fn remove_member(slug: String, email: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::projects::remove_member(cx.db(), &actor, &slug, &email).await.map_err(|e| cx.fail(e))
}
