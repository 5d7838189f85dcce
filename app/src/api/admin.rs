//! Instance administration: users and invitations.

use leptos::prelude::*;

use crate::model::*;

#[server]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    use super::ssr::*;
    let actor = actor().await?;
    let users = trellis_core::auth::list_users(&core()?.db, &actor).await.map_err(fail)?;
    Ok(users.into_iter().map(user_row).collect())
}

#[server]
pub async fn create_user(email: String, display_name: String, password: String, admin: Option<String>) -> Result<(), AppError> {
    use super::ssr::*;
    let actor = actor().await?;
    trellis_core::auth::create_user(&core()?.db, &actor, &email, &display_name, &password, admin.is_some())
        .await
        .map(|_| ())
        .map_err(fail)
}

#[server]
pub async fn list_invites() -> Result<Vec<InviteRow>, AppError> {
    use super::ssr::*;
    let actor = actor().await?;
    let invites = trellis_core::auth::list_invites(&core()?.db, &actor).await.map_err(fail)?;
    Ok(invites.into_iter().map(invite_row).collect())
}

#[server]
pub async fn create_invite(email: String, admin: Option<String>) -> Result<NewInvite, AppError> {
    use super::ssr::*;
    let actor = actor().await?;
    let (invite, secret) = trellis_core::auth::create_invite(&core()?.db, &actor, &email, admin.is_some())
        .await
        .map_err(fail)?;
    Ok(NewInvite { invite: invite_row(invite), path: format!("/invite/{secret}") })
}
