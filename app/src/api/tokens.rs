//! Personal API tokens.

use leptos::prelude::*;

use crate::model::*;

#[server]
pub async fn list_tokens() -> Result<Vec<TokenRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let list = trellis_core::tokens::list(cx.db(), &actor).await.map_err(|e| cx.fail(e))?;
    Ok(list.into_iter().map(token_row).collect())
}

/// Creates a token; the secret is in the answer and nowhere else.
#[server]
pub async fn create_token(name: String, project: Option<String>, predict_endpoints: Option<String>) -> Result<NewToken, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let project = project.filter(|p| !p.is_empty());
    let endpoints: Vec<String> = predict_endpoints.unwrap_or_default().split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
    let (token, secret) = if endpoints.is_empty() {
        trellis_core::tokens::create(cx.db(), &actor, &name, project.as_deref()).await
    } else {
        let project = project.ok_or_else(|| AppError::BadRequest("a predict-only token needs a project".into()))?;
        trellis_core::tokens::create_predict_only(cx.db(), &actor, &name, &project, &endpoints).await
    }
    .map_err(|e| cx.fail(e))?;
    Ok(NewToken { token: token_row(token), secret })
}

#[server]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::tokens::revoke(cx.db(), &actor, id).await.map_err(|e| cx.fail(e))
}
