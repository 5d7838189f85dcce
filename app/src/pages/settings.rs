//! Personal settings: API tokens and password.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::projects::list_projects;
use crate::api::session::ChangePassword;
use crate::api::tokens::{list_tokens, CreateToken, RevokeToken};
use crate::components::widgets::{action_error, ErrorBox, Loading};
use crate::model::{fmt_opt_time, fmt_time};

#[component]
pub fn Tokens() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    let projects = Resource::new(|| (), |_| list_projects());
    view! {
        <Title text="API tokens · Trellis"/>
        <h1>"API tokens"</h1>
        <p class="muted">"Scripts, the REST API and the MLflow client act as you with a token: send "<code>"Authorization: Bearer <token>"</code>". A token limited to one project cannot reach any other; a predict-only token can only call the prediction routes of the endpoints it names."</p>
        <section class="card">
            <h2>"New token"</h2>
            <ActionForm action=create attr:class="form inline-grid">
                <label>"Name"<input type="text" name="name" required maxlength="100" placeholder="e.g. training laptop"/></label>
                <label>"Project"
                    <select name="project">
                        <option value="">"All my projects"</option>
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                projects.await.unwrap_or_default().into_iter().map(|p| view! {
                                    <option value=p.slug.clone()>{p.name}</option>
                                }).collect_view()
                            })}
                        </Suspense>
                    </select>
                </label>
                <label>"Predict only on endpoints"
                    <input type="text" name="predict_endpoints" maxlength="1000" placeholder="e.g. churn-prod, churn-canary (needs a project)"/>
                </label>
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create token"</button>
                {action_error(create)}
            </ActionForm>
            {move || create.value().get().and_then(|r| r.ok()).map(|t| view! {
                <div class="secret" role="status">
                    <p><strong>"Copy this token now: it will not be shown again."</strong></p>
                    <input type="text" readonly aria-label="New token" value=t.secret.clone() class="mono"/>
                </div>
            })}
        </section>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let list = match tokens.await { Ok(l) => l, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                if list.is_empty() {
                    return view! { <p class="empty">"You have no tokens."</p> }.into_any();
                }
                view! {
                    <table class="table" aria-label="Your tokens">
                        <thead><tr><th>"Name"</th><th>"Token"</th><th>"Project"</th><th>"Created"</th><th>"Last used"</th><th>"Status"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|t| {
                                let revoked = t.revoked_at.is_some();
                                let name = t.name.clone();
                                view! {
                                    <tr>
                                        <td>{t.name.clone()}</td>
                                        <td><code>{format!("{}…", t.prefix)}</code></td>
                                        <td>{t.project_slug.clone().unwrap_or_else(|| "all".into())}
                                            {t.predict_endpoints.clone().map(|e| format!(" — predicts only on {}", e.join(", ")))}</td>
                                        <td>{fmt_time(&t.created_at)}</td>
                                        <td>{fmt_opt_time(&t.last_used_at)}</td>
                                        <td>{if revoked {
                                            view! { <span class="badge">"revoked"</span> }.into_any()
                                        } else {
                                            view! {
                                                <ActionForm action=revoke attr:class="inline">
                                                    <input type="hidden" name="id" value=t.id.to_string()/>
                                                    <button type="submit" class="danger" aria-label=format!("Revoke token {name}")>"Revoke"</button>
                                                </ActionForm>
                                            }.into_any()
                                        }}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn Password() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    view! {
        <Title text="Password · Trellis"/>
        <h1>"Change password"</h1>
        <section class="card narrow-form">
            <ActionForm action=change attr:class="form">
                <label>"Current password"<input type="password" name="current" required autocomplete="current-password"/></label>
                <label>"New password"<input type="password" name="new" required minlength="8" autocomplete="new-password"/></label>
                <label>"Confirm new password"<input type="password" name="confirm" required minlength="8" autocomplete="new-password"/></label>
                <button type="submit" class="primary" disabled=move || change.pending().get()>"Change password"</button>
                {action_error(change)}
                {move || matches!(change.value().get(), Some(Ok(()))).then(|| view! { <p class="ok" role="status">"Password changed."</p> })}
            </ActionForm>
        </section>
    }
}
