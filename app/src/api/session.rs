//! Setup, sign-in, sign-out, password, invitations.

use leptos::prelude::*;

use crate::model::*;

/// True until the first administrator exists.
#[server]
pub async fn needs_setup() -> Result<bool, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    trellis_core::auth::needs_setup(cx.db()).await.map_err(|e| cx.fail(e))
}

/// The signed-in user, or `None`.
#[server]
pub async fn whoami() -> Result<Option<Me>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    match cx.actor().await {
        Ok(a) => {
            let Some(id) = a.user_id else { return Ok(None) };
            let user = trellis_core::auth::user_by_id(cx.db(), id).await.map_err(|e| cx.fail(e))?;
            Ok(user.map(|u| Me {
                user_id: u.id,
                email: u.email,
                display_name: u.display_name,
                is_instance_admin: u.is_instance_admin,
            }))
        }
        Err(AppError::Unauthenticated) => {
            cx.set_status(http::StatusCode::OK);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(feature = "ssr")]
async fn start_session(cx: &super::ssr::Ctx, user_id: i64) -> Result<(), AppError> {
    let session = cx.session()?;
    // A new session id at sign-in: a planted id cannot be reused (session fixation).
    session.cycle_id().await.map_err(|_| AppError::Internal)?;
    session.insert(crate::SESSION_USER_KEY, user_id).await.map_err(|_| AppError::Internal)?;
    Ok(())
}

/// Creates the first instance administrator, signs them in, and optionally the demo project.
#[server]
pub async fn setup(email: String, display_name: String, password: String, confirm: String, demo: Option<String>) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    if password != confirm {
        return Err(cx.fail(trellis_core::Error::bad_request("confirm: the passwords differ")));
    }
    let db = cx.db().clone();
    let user = trellis_core::auth::setup_first_admin(&db, &email, &display_name, &password, cx.ip())
        .await
        .map_err(|e| cx.fail(e))?;
    start_session(&cx, user.id).await?;
    if demo.is_some() {
        let actor = trellis_core::auth::session_actor(&db, user.id, cx.ip()).await.map_err(|e| cx.fail(e))?;
        trellis_core::demo::create(&cx.core, &actor).await.map_err(|e| cx.fail(e))?;
    }
    Ok(())
}

#[server]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let ip = cx.ip().unwrap_or_else(|| "unknown".to_string());
    let user = trellis_core::auth::sign_in(cx.db(), &email, &password, &ip).await.map_err(|e| cx.fail(e))?;
    start_session(&cx, user.id).await
}

#[server]
pub async fn sign_out() -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    if let Ok(actor) = cx.actor().await {
        let _ = trellis_core::auth::record_sign_out(cx.db(), &actor).await;
    }
    cx.session()?.flush().await.map_err(|_| AppError::Internal)?;
    Ok(())
}

#[server]
pub async fn change_password(current: String, new: String, confirm: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    if new != confirm {
        return Err(cx.fail(trellis_core::Error::bad_request("confirm: the new passwords differ")));
    }
    let actor = cx.actor().await?;
    trellis_core::auth::change_password(cx.db(), &actor, &current, &new).await.map_err(|e| cx.fail(e))
}

/// The e-mail an open invitation is for.
#[server]
pub async fn invite_info(secret: String) -> Result<String, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    Ok(trellis_core::auth::open_invite(cx.db(), &secret).await.map_err(|e| cx.fail(e))?.email)
}

#[server]
pub async fn accept_invite(secret: String, display_name: String, password: String, confirm: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    if password != confirm {
        return Err(cx.fail(trellis_core::Error::bad_request("confirm: the passwords differ")));
    }
    let user = trellis_core::auth::accept_invite(cx.db(), &secret, &display_name, &password, cx.ip())
        .await
        .map_err(|e| cx.fail(e))?;
    start_session(&cx, user.id).await
}
