//! The model registry of a project: registered models, and a model's versions with their
//! aliases, stages and the runs they came from.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::models::{get_registered_model_page, list_registered_models, ReviewVersion, SaveModelCard, SetRequireApproval};
use crate::components::widgets::{action_error, successes, ErrorBox, Loading, ProgressBar, StateBadge};
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
                let editor = matches!(ctx.project.await, Ok(p) if p.role == "editor" || p.role == "admin");
                editor.then(|| view! { <OnnxUpload slug=ctx.slug.get_untracked()/> })
            })}
        </Suspense>
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

/// Registers an uploaded ONNX file as a model version, through the REST API, with a progress bar.
#[component]
fn OnnxUpload(slug: String) -> impl IntoView {
    let file_input = NodeRef::<leptos::html::Input>::new();
    let name = RwSignal::new(String::new());
    let features = RwSignal::new(String::new());
    let progress = RwSignal::new(0.0);
    let uploading = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    #[cfg(not(feature = "hydrate"))]
    let _ = (&slug, file_input, progress);
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        #[cfg(feature = "hydrate")]
        {
            use crate::model::url_encode as query_value;
            let Some(file) = file_input.get().and_then(|i| i.files()).and_then(|f| f.get(0)) else {
                error.set(Some("Choose an .onnx file first.".into()));
                return;
            };
            let model = name.get_untracked().trim().to_string();
            let Ok(xhr) = web_sys::XmlHttpRequest::new() else { return };
            let mut url = format!("/v1/projects/{slug}/models/{}/versions?filename={}", query_value(&model), query_value(&file.name()));
            let names = features.get_untracked();
            if !names.trim().is_empty() {
                url.push_str(&format!("&feature_names={}", query_value(names.trim())));
            }
            if xhr.open("POST", &url).is_err() {
                return;
            }
            let _ = xhr.set_request_header("Content-Type", "application/octet-stream");
            uploading.set(true);
            let target = format!("/p/{slug}/models/{model}");
            crate::components::widgets::send_with_progress(xhr, |x| x.send_with_opt_blob(Some(&file)), progress, move |status, body| {
                uploading.set(false);
                if (200..300).contains(&status) {
                    crate::components::widgets::go_to(&target);
                } else if status == 0 {
                    error.set(Some("The upload was interrupted (network error).".into()));
                } else {
                    let msg = body["error"]["message"].as_str().unwrap_or("the upload failed").to_string();
                    error.set(Some(format!("Upload refused: {msg}")));
                }
            });
        }
    };
    view! {
        <form class="card form" aria-label="Upload an ONNX model" on:submit=start>
            <h3>"Upload an ONNX model"</h3>
            <p class="muted">"The file becomes the next version of the model (created if new). Its inputs and outputs are read from the graph; a single [rows, n] input needs n feature names. Export classifiers without ZipMap."</p>
            <label>"Model name"<input type="text" required prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/></label>
            <label>"Feature names (comma-separated, for a [rows, n] input)"
                <input type="text" placeholder="sepal_length, sepal_width, …" prop:value=move || features.get() on:input=move |ev| features.set(event_target_value(&ev))/>
            </label>
            <label>"ONNX file"<input type="file" accept=".onnx" node_ref=file_input/></label>
            <button type="submit" class="primary" disabled=move || uploading.get()>"Upload model"</button>
            <ProgressBar value=progress label="Model upload progress"/>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}

#[component]
pub fn ModelDetail() -> impl IntoView {
    let ctx = use_project();
    let params = use_params_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let review = ServerAction::<ReviewVersion>::new();
    let save_card = ServerAction::<SaveModelCard>::new();
    let require = ServerAction::<SetRequireApproval>::new();
    let changes = [successes(review), successes(save_card), successes(require)];
    let page = Resource::new(move || (ctx.slug.get(), name.get(), changes.map(|c| c.get())), |(s, n, _)| get_registered_model_page(s, n));
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
                    <ModelCard m=m.clone() save=save_card require=require/>
                    <h3>"Versions"</h3>
                    <p class="muted">"Lineage: the dataset version each was trained on → its run → the version → the endpoints serving it."
                        {m.require_approval.then(|| " Only approved versions can be deployed.")}</p>
                    <table class="table" aria-label="Versions">
                        <thead><tr><th>"Version"</th><th>"Approval"</th><th>"Trained on"</th><th>"Served by"</th><th>"Aliases"</th><th>"Stage"</th><th>"Status"</th><th>"From run"</th><th>"Logged model"</th><th>"Registered"</th><th>"Tags"</th></tr></thead>
                        <tbody>
                            {m.versions.iter().map(|v| view! {
                                <tr>
                                    <td>{format!("v{}", v.version)}</td>
                                    <td>
                                        <StateBadge state=v.approval.clone()/>
                                        {(!v.approval_comment.is_empty()).then(|| view! { <p class="muted">{format!("“{}”", v.approval_comment)}{v.reviewed_by.clone().map(|r| format!(" — {r}"))}</p> })}
                                        {m.can_manage.then(|| view! { <ReviewForm slug=slug.clone() model=m.name.clone() version=v.version action=review/> })}
                                    </td>
                                    <td>{v.dataset.clone().map(|d| {
                                        let name = d.split('@').next().unwrap_or_default().to_string();
                                        view! { <a href=format!("/p/{slug}/datasets/{name}")>{d}</a> }
                                    })}</td>
                                    <td>{v.endpoints.iter().map(|e| {
                                        let endpoint = e.split('/').nth(1).unwrap_or_default().to_string();
                                        view! { <a class="chip" href=format!("/p/{slug}/endpoints/{endpoint}")>{e.clone()}</a> }
                                    }).collect_view()}</td>
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

#[component]
fn ReviewForm(slug: String, model: String, version: i32, action: ServerAction<ReviewVersion>) -> impl IntoView {
    view! {
        <ActionForm action=action attr:class="inline" attr:aria-label=format!("Review v{version}")>
            <input type="hidden" name="slug" value=slug/>
            <input type="hidden" name="model" value=model/>
            <input type="hidden" name="version" value=version.to_string()/>
            <select name="decision" aria-label=format!("Decision on v{version}")>
                <option value="approved">"approve"</option>
                <option value="rejected">"reject"</option>
            </select>
            <input type="text" name="comment" maxlength="10000" placeholder="comment" aria-label=format!("Comment on v{version}")/>
            <button type="submit" class="secondary">"Review"</button>
        </ActionForm>
    }
}

/// The model card: the team's markdown, then what Trellis knows — each version's evaluation and
/// training data, and the newest version's global feature importance.
#[component]
fn ModelCard(m: crate::model::RegisteredModelPage, save: ServerAction<SaveModelCard>, require: ServerAction<SetRequireApproval>) -> impl IntoView {
    let ctx = use_project();
    let (name_for_card, name_for_policy) = (m.name.clone(), m.name.clone());
    let (card_text, require_approval) = (m.card.clone(), m.require_approval);
    let keys: Vec<String> = {
        let mut k: Vec<String> = m.versions.iter().flat_map(|v| v.metrics.iter().map(|(k, _)| k.clone())).collect();
        k.sort();
        k.dedup();
        k.into_iter().filter(|k| k.starts_with("test_")).take(6).collect()
    };
    view! {
        <section class="card" aria-label="Model card">
            <h3>"Model card"</h3>
            {if m.card.trim().is_empty() {
                view! { <p class="empty">"No card yet: describe the intended use, the limitations and how the model was checked."</p> }.into_any()
            } else {
                view! { <div class="note-text" inner_html=m.card_html.clone()></div> }.into_any()
            }}
            {(!keys.is_empty()).then(|| view! {
                <h4>"Evaluation (test split)"</h4>
                <table class="table compact" aria-label="Evaluation by version">
                    <thead><tr><th>"Version"</th><th>"Trained on"</th>{keys.iter().map(|k| view! { <th>{k.trim_start_matches("test_").to_string()}</th> }).collect_view()}</tr></thead>
                    <tbody>{m.versions.iter().map(|v| view! {
                        <tr><td>{format!("v{}", v.version)}</td><td>{v.dataset.clone().unwrap_or_default()}</td>
                            {keys.iter().map(|k| view! { <td>{v.metrics.iter().find(|(key, _)| key == k).map(|(_, x)| format!("{x:.4}")).unwrap_or_default()}</td> }).collect_view()}</tr>
                    }).collect_view()}</tbody>
                </table>
            })}
            {m.importance_svg.clone().map(|svg| view! {
                <h4>{m.importance_title.clone().unwrap_or_default()}</h4>
                <div class="chart" role="img" aria-label="Global feature importance" inner_html=svg></div>
            })}
            {m.can_write.then(|| view! {
                <details>
                    <summary>"Edit the card"</summary>
                    <ActionForm action=save attr:class="form" attr:aria-label="Model card editor">
                        <input type="hidden" name="slug" value=ctx.slug.get_untracked()/>
                        <input type="hidden" name="model" value=name_for_card/>
                        <label>"Model card (markdown)"<textarea name="card" rows="8" maxlength="100000">{card_text}</textarea></label>
                        <button type="submit" disabled=move || save.pending().get()>"Save card"</button>
                        {action_error(save)}
                    </ActionForm>
                </details>
            })}
            {m.can_manage.then(|| view! {
                <ActionForm action=require attr:class="form inline" attr:aria-label="Deployment policy">
                    <input type="hidden" name="slug" value=ctx.slug.get_untracked()/>
                    <input type="hidden" name="model" value=name_for_policy/>
                    <label class="check"><input type="checkbox" name="require" value="on" checked=require_approval/>" Only approved versions can be deployed"</label>
                    <button type="submit" class="secondary">"Save policy"</button>
                    {action_error(require)}
                </ActionForm>
            })}
        </section>
    }
}
