//! Batch predictions: start one (a dataset version or an uploaded file through a model
//! version), follow its progress, download its output.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::batch::{batch_options, list_batches, StartBatch};
use crate::components::widgets::{action_error, ticker, ErrorBox, Loading, ProgressBar, StateBadge};
use crate::model::{fmt_bytes, fmt_time, BatchFormOptions};
use crate::pages::endpoints::ModelTargetFields;
use crate::pages::project::use_project;

#[component]
pub fn BatchPredictions() -> impl IntoView {
    let ctx = use_project();
    let start = ServerAction::<StartBatch>::new();
    let uploaded = RwSignal::new(0u32);
    let active = RwSignal::new(false);
    let tick = ticker(2);
    let live = move || if active.get() { tick.get() } else { 0 };
    let list = Resource::new(move || (ctx.slug.get(), start.version().get(), uploaded.get(), live()), |(s, _, _, _)| list_batches(s));
    let options = Resource::new(move || ctx.slug.get(), batch_options);
    Effect::new(move |_| {
        if let Some(Ok(rows)) = list.get() {
            active.set(rows.iter().any(|b| b.is_active()));
        }
    });
    view! {
        <Title text="Batch predictions · Trellis"/>
        <h2>"Batch predictions"</h2>
        <p class="muted">"Predict every row of a dataset version with a registered model version: the output holds the rows \
            with their predictions (and, if asked, each feature's attribution), as CSV or Parquet."</p>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match options.await {
                    Ok(o) if o.can_write => view! {
                        <BatchForm o=o.clone() action=start/>
                        <BatchUploadForm o=o uploaded=uploaded/>
                    }.into_any(),
                    Ok(_) => ().into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Suspense>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let rows = match list.await { Ok(r) => r, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                if rows.is_empty() {
                    return view! { <p class="empty">"No batch predictions yet."</p> }.into_any();
                }
                view! {
                    <table class="table" aria-label="Batch predictions">
                        <thead><tr><th>"#"</th><th>"Model"</th><th>"Dataset"</th><th>"Output"</th><th>"State"</th><th>"Progress"</th><th>"Rows"</th><th>"Started"</th><th>"File"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|b| {
                                let progress = b.progress;
                                view! {
                                    <tr>
                                        <td>{b.job_id.map(|j| view! { <a href=format!("/p/{slug}/jobs/{j}")>{b.id}</a> }.into_any()).unwrap_or_else(|| b.id.to_string().into_any())}</td>
                                        <td>{b.model.clone()}</td>
                                        <td>{b.dataset.clone()}</td>
                                        <td>{format!("{}{}", b.output_format, if b.explain { " + attributions" } else { "" })}</td>
                                        <td><StateBadge state=b.state.clone()/>{b.error.clone().map(|e| view! { <p class="error">{e}</p> })}</td>
                                        <td><ProgressBar value=Signal::derive(move || progress) label=format!("Progress of batch prediction {}", b.id)/></td>
                                        <td>{b.rows.map(|r| r.to_string()).unwrap_or_default()}</td>
                                        <td>{fmt_time(&b.created)}</td>
                                        <td>{b.output_size.map(|size| view! {
                                            <a href=format!("/v1/projects/{slug}/batch-predictions/{}/output", b.id) download="">{format!("Download ({})", fmt_bytes(size))}</a>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </Transition>
    }
}

#[component]
fn BatchForm(o: BatchFormOptions, action: ServerAction<StartBatch>) -> impl IntoView {
    let ctx = use_project();
    if o.models.is_empty() || o.versions.is_empty() {
        return view! { <p class="empty">"A batch prediction needs a registered model and a profiled dataset version."</p> }.into_any();
    }
    view! {
        <ActionForm action=action attr:class="form" attr:aria-label="New batch prediction">
            <input type="hidden" name="slug" value=ctx.slug.get_untracked()/>
            <ModelTargetFields models=o.models.clone()/>
            <label>"Dataset version"
                <select name="dataset_version">
                    {o.versions.iter().map(|v| view! { <option value=v.key()>{format!("{} v{} ({} rows)", v.dataset, v.version, v.rows)}</option> }).collect_view()}
                </select>
            </label>
            <OutputFields/>
            <button type="submit" disabled=move || action.pending().get()>"Start batch prediction"</button>
            {action_error(action)}
        </ActionForm>
    }
    .into_any()
}

/// A batch over a file from the user's machine: sent to the REST API with a progress bar.
#[component]
fn BatchUploadForm(o: BatchFormOptions, uploaded: RwSignal<u32>) -> impl IntoView {
    let ctx = use_project();
    if o.models.is_empty() {
        return ().into_any();
    }
    let progress = RwSignal::new(0.0);
    let sending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        #[cfg(feature = "hydrate")]
        {
            use crate::model::url_encode as query_value;
            use wasm_bindgen::JsCast;
            let Some(form) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok()) else { return };
            let Ok(data) = web_sys::FormData::new_with_form(&form) else { return };
            let text = |k: &str| data.get(k).as_string().unwrap_or_default();
            let Some(file) = data.get("file").dyn_into::<web_sys::File>().ok().filter(|f| !f.name().is_empty()) else {
                error.set(Some("Choose a CSV or Parquet file first.".into()));
                return;
            };
            let target = text("target");
            let target = match target.strip_prefix('@') {
                Some(alias) => format!("alias={}", query_value(alias)),
                None => format!("version={}", query_value(&target)),
            };
            let mut url = format!(
                "/v1/projects/{}/batch-predictions?model={}&{target}&output_format={}&filename={}",
                ctx.slug.get_untracked(),
                query_value(&text("model")),
                query_value(&text("output_format")),
                query_value(&file.name())
            );
            if !text("explain").is_empty() {
                url.push_str("&explain=true");
            }
            let Ok(xhr) = web_sys::XmlHttpRequest::new() else { return };
            if xhr.open("POST", &url).is_err() {
                return;
            }
            let lower = file.name().to_ascii_lowercase();
            let ctype = if lower.ends_with(".parquet") || lower.ends_with(".pq") { "application/vnd.apache.parquet" } else { "text/csv" };
            let _ = xhr.set_request_header("Content-Type", ctype);
            sending.set(true);
            crate::components::widgets::send_with_progress(xhr, |x| x.send_with_opt_blob(Some(&file)), progress, move |status, body| {
                sending.set(false);
                if (200..300).contains(&status) {
                    uploaded.update(|n| *n += 1);
                } else if status == 0 {
                    error.set(Some("The upload was interrupted (network error).".into()));
                } else {
                    let msg = body["error"]["message"].as_str().unwrap_or("the upload failed").to_string();
                    error.set(Some(format!("Refused: {msg}")));
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, ctx, uploaded);
    };
    view! {
        <form class="form" aria-label="Batch prediction from a file" on:submit=on_submit>
            <h3>"Or predict a file"</h3>
            <p class="muted">"A CSV (optionally gzip-compressed) or Parquet file with the model's feature columns; it is checked whole before the job starts."</p>
            <ModelTargetFields models=o.models.clone()/>
            <label>"Input file"<input type="file" name="file" accept=".csv,.gz,.parquet,.pq,text/csv,application/vnd.apache.parquet"/></label>
            <OutputFields/>
            <button type="submit" disabled=move || sending.get()>"Upload and predict"</button>
            <ProgressBar value=progress label="File upload progress"/>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
    .into_any()
}

/// The output format and attributions fields of both batch forms.
#[component]
fn OutputFields() -> impl IntoView {
    view! {
        <label>"Output format"
            <select name="output_format">
                <option value="csv">"CSV"</option>
                <option value="parquet">"Parquet"</option>
            </select>
        </label>
        <label class="check"><input type="checkbox" name="explain" value="on"/>" Add feature attributions"</label>
    }
}
