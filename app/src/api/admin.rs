//! Instance administration: users and invitations.

use leptos::prelude::*;

use crate::model::*;

#[server]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let users = trellis_core::auth::list_users(cx.db(), &actor).await.map_err(|e| cx.fail(e))?;
    Ok(users.into_iter().map(user_row).collect())
}

#[server]
pub async fn create_user(email: String, display_name: String, password: String, admin: Option<String>) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::auth::create_user(cx.db(), &actor, &email, &display_name, &password, admin.is_some())
        .await
        .map(|_| ())
        .map_err(|e| cx.fail(e))
}

#[server]
pub async fn list_invites() -> Result<Vec<InviteRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let invites = trellis_core::auth::list_invites(cx.db(), &actor).await.map_err(|e| cx.fail(e))?;
    Ok(invites.into_iter().map(invite_row).collect())
}

#[server]
pub async fn create_invite(email: String, admin: Option<String>) -> Result<NewInvite, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let (invite, secret) = trellis_core::auth::create_invite(cx.db(), &actor, &email, admin.is_some())
        .await
        .map_err(|e| cx.fail(e))?;
    Ok(NewInvite { invite: invite_row(invite), path: format!("/invite/{secret}") })
}
