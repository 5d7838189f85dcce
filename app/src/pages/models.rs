//! The model registry of a project: registered models, and a model's versions with their
//! aliases, stages and the runs they came from.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::models::{get_registered_model_page, list_registered_models};
use crate::components::widgets::{ErrorBox, Loading, StateBadge};
use crate::model::fmt_time;
use crate::pages::project::use_project;

#[component]
pub fn Models() -> impl IntoView {
    let ctx = use_project();
    let list = Resource::new(move || ctx.slug.get(), list_registered_models);
    view! {
        <Title text="Models · Trellis"/>
        <h2>"Models"</h2>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let rows = match list.await { Ok(r) => r, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                if rows.is_empty() {
                    return view! {
                        <p class="empty">"No registered models yet. Register one from a run with the MLflow client:"</p>
                        <pre class="code">"mlflow.sklearn.log_model(model, name=\"model\", registered_model_name=\"churn\")"</pre>
                    }.into_any();
                }
                view! {
                    <table class="table" aria-label="Registered models">
                        <thead><tr><th>"Name"</th><th>"Latest version"</th><th>"Aliases"</th><th>"Description"</th><th>"Updated"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|m| view! {
                                <tr>
                                    <td><a href=format!("/p/{slug}/models/{}", m.name)>{m.name.clone()}</a></td>
                                    <td>{m.latest_version.map(|v| format!("v{v}")).unwrap_or_else(|| "—".into())}</td>
                                    <td>{m.aliases.iter().map(|(a, v)| view! { <span class="chip">{format!("@{a} → v{v}")}</span> }).collect_view()}</td>
                                    <td>{m.description.clone()}</td>
                                    <td>{fmt_time(&m.updated)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn ModelDetail() -> impl IntoView {
    let ctx = use_project();
    let params = use_params_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let page = Resource::new(move || (ctx.slug.get(), name.get()), |(s, n)| get_registered_model_page(s, n));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let m = match page.await { Ok(m) => m, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                view! {
                    <Title text=format!("{} · Models · Trellis", m.name)/>
                    <p><a href=format!("/p/{slug}/models")>"← Models"</a></p>
                    <h2>"Model "<code>{m.name.clone()}</code></h2>
                    {(!m.description.is_empty()).then(|| view! { <p>{m.description.clone()}</p> })}
                    <p class="muted">"Load it with the MLflow client: "<code>{format!("mlflow.pyfunc.load_model(\"{}\")", m.uri_example)}</code></p>
                    {(!m.aliases.is_empty()).then(|| view! {
                        <p aria-label="Aliases">{m.aliases.iter().map(|(a, v)| view! { <span class="chip">{format!("@{a} → v{v}")}</span> }).collect_view()}</p>
                    })}
                    {(!m.tags.is_empty()).then(|| view! {
                        <table class="table compact" aria-label="Model tags">
                            <thead><tr><th>"Tag"</th><th>"Value"</th></tr></thead>
                            <tbody>{m.tags.iter().map(|(k, v)| view! { <tr><td>{k.clone()}</td><td>{v.clone()}</td></tr> }).collect_view()}</tbody>
                        </table>
                    })}
                    <h3>"Versions"</h3>
                    <table class="table" aria-label="Versions">
                        <thead><tr><th>"Version"</th><th>"Aliases"</th><th>"Stage"</th><th>"Status"</th><th>"From run"</th><th>"Logged model"</th><th>"Registered"</th><th>"Tags"</th></tr></thead>
                        <tbody>
                            {m.versions.iter().map(|v| view! {
                                <tr>
                                    <td>{format!("v{}", v.version)}</td>
                                    <td>{v.aliases.iter().map(|a| view! { <span class="chip">{format!("@{a}")}</span> }).collect_view()}</td>
                                    <td>{v.stage.clone()}</td>
                                    <td><StateBadge state=v.status.to_lowercase()/></td>
                                    <td>{v.run_id.clone().map(|r| view! { <a href=format!("/p/{slug}/runs/{r}")>{r[..8.min(r.len())].to_string()}</a> })}</td>
                                    <td><code>{v.logged_model_id.clone().unwrap_or_else(|| v.source.clone())}</code></td>
                                    <td>{format!("{} · {}", fmt_time(&v.created), v.user)}</td>
                                    <td>{v.tags.iter().map(|(k, val)| view! { <span class="chip">{format!("{k}={val}")}</span> }).collect_view()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </Suspense>
    }
}
