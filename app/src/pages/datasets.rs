//! Datasets of a project: list and create; a dataset's versions, upload with progress, schema,
//! statistics with a chart per column, and a preview of the rows.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api::datasets::{
    get_dataset_page as dataset_page, get_version_profile as version_profile, list_datasets, CreateDataset, DeleteVersion,
    SetDatasetArchived,
    CompareVersions as CompareVersionsFn, GetPreview, SplitVersion, PREVIEW_PAGE,
};
use crate::model::PreviewPage;
use crate::components::widgets::{action_error, ticker, ErrorBox, Loading, ProgressBar, StateBadge};
use crate::model::{fmt_bytes, fmt_num, fmt_time, VersionProfile};
use crate::pages::project::use_project;

#[component]
pub fn Datasets() -> impl IntoView {
    let ctx = use_project();
    let create = ServerAction::<CreateDataset>::new();
    let query = use_query_map();
    let archived = Memo::new(move |_| query.read().get("archived").is_some_and(|v| v == "true"));
    let list = Resource::new(move || (ctx.slug.get(), create.version().get(), archived.get()), |(s, _, a)| list_datasets(s, a));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(name)) = create.value().get() {
            navigate(&format!("/p/{}/datasets/{name}", ctx.slug.get_untracked()), Default::default());
        }
    });
    view! {
        <Title text="Datasets · Trellis"/>
        <h2>"Datasets"</h2>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let data = match list.await { Ok(d) => d, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                let showing_archived = archived.get_untracked();
                view! {
                    <p class="muted">
                        {if showing_archived {
                            view! { <a href=format!("/p/{slug}/datasets")>"Hide archived datasets"</a> }.into_any()
                        } else {
                            view! { <a href=format!("/p/{slug}/datasets?archived=true")>"Show archived datasets"</a> }.into_any()
                        }}
                    </p>
                    {if data.datasets.is_empty() {
                        view! { <p class="empty">"No datasets yet. Create one, then upload a CSV or Parquet file as its first version."</p> }.into_any()
                    } else {
                        view! {
                            <table class="table" aria-label="Datasets">
                                <thead><tr><th>"Name"</th><th>"Description"</th><th>"Versions"</th><th>"Latest"</th><th>"Created"</th></tr></thead>
                                <tbody>
                                    {data.datasets.into_iter().map(|d| view! {
                                        <tr>
                                            <td><a href=format!("/p/{slug}/datasets/{}", d.name)>{d.name.clone()}</a>
                                                {d.archived.then(|| view! { " " <span class="badge">"archived"</span> })}</td>
                                            <td>{d.description.clone()}</td>
                                            <td>{d.version_count}</td>
                                            <td>{d.latest_version.map(|v| format!("v{v}")).unwrap_or_else(|| "—".into())}" "
                                                {d.latest_status.clone().map(|s| view! { <StateBadge state=s/> })}</td>
                                            <td>{fmt_time(&d.created_at)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }}
                    {data.can_write.then(|| view! {
                        <section class="card">
                            <h2>"New dataset"</h2>
                            <ActionForm action=create attr:class="form inline-grid">
                                <input type="hidden" name="slug" value=slug.clone()/>
                                <label>"Name"<input type="text" name="name" required pattern="[a-z][a-z0-9\\-]{1,47}" placeholder="e.g. customers"/></label>
                                <label class="wide">"Description"<textarea name="description" rows="2" maxlength="5000"></textarea></label>
                                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create dataset"</button>
                                {action_error(create)}
                            </ActionForm>
                        </section>
                    })}
                }.into_any()
            })}
        </Suspense>
    }
}

/// Upload state, owned by the page so it survives the page's refreshes.
#[derive(Clone, Copy)]
struct UploadState {
    progress: RwSignal<f64>,
    uploading: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    uploaded: RwSignal<Option<i32>>,
}

impl UploadState {
    fn new() -> Self {
        UploadState {
            progress: RwSignal::new(0.0),
            uploading: RwSignal::new(false),
            error: RwSignal::new(None),
            uploaded: RwSignal::new(None),
        }
    }
}

/// The file picker and upload button; the upload goes to the REST API with a progress bar.
#[component]
fn UploadBox(slug: String, name: String, refresh: RwSignal<u32>, state: UploadState) -> impl IntoView {
    let UploadState { progress, uploading, error, uploaded } = state;
    let file_input = NodeRef::<leptos::html::Input>::new();
    let navigate = use_navigate();
    let (slug_c, name_c) = (slug.clone(), name.clone());
    Effect::new(move |_| {
        if let Some(v) = uploaded.get() {
            uploaded.set(None);
            navigate(&format!("/p/{slug_c}/datasets/{name_c}?v={v}"), Default::default());
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (refresh, &slug, &name);
    let start = move || {
        error.set(None);
        #[cfg(feature = "hydrate")]
        {
            let Some(input) = file_input.get() else { return };
            let Some(file) = input.files().and_then(|f| f.get(0)) else {
                error.set(Some("Choose a CSV or Parquet file first.".into()));
                return;
            };
            let Ok(xhr) = web_sys::XmlHttpRequest::new() else { return };
            let fname = file.name();
            let encoded = crate::model::url_encode(&fname);
            let url = format!("/v1/projects/{slug}/datasets/{name}/versions?filename={encoded}");
            if xhr.open("POST", &url).is_err() {
                return;
            }
            let lower = fname.to_ascii_lowercase();
            let ctype = if lower.ends_with(".parquet") || lower.ends_with(".pq") {
                "application/vnd.apache.parquet"
            } else if lower.ends_with(".gz") {
                "application/gzip"
            } else {
                "text/csv"
            };
            let _ = xhr.set_request_header("Content-Type", ctype);
            uploading.set(true);
            crate::components::widgets::send_with_progress(xhr, |x| x.send_with_opt_blob(Some(&file)), progress, move |status, body| {
                uploading.set(false);
                if (200..300).contains(&status) {
                    refresh.update(|r| *r += 1);
                    uploaded.set(body["version"].as_i64().map(|v| v as i32));
                } else if status == 0 {
                    error.set(Some("The upload was interrupted (network error).".into()));
                } else {
                    let msg = body["error"]["message"].as_str().unwrap_or("the upload failed").to_string();
                    error.set(Some(format!("Upload refused: {msg}")));
                }
            });
        }
    };
    let dragging = RwSignal::new(false);
    let start_on_drop = start.clone();
    // A file dropped on the box is put in the file input and uploaded at once.
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        #[cfg(feature = "hydrate")]
        {
            let files = ev.data_transfer().and_then(|d| d.files());
            if let (Some(files), Some(input)) = (files, file_input.get()) {
                if files.length() > 0 && !uploading.get_untracked() {
                    input.set_files(Some(&files));
                    start_on_drop();
                }
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &start_on_drop;
    };
    view! {
        <section class="card">
            <h2>"Upload a new version"</h2>
            <p class="muted">"CSV with a header line (optionally gzip-compressed) or Parquet. Every upload becomes a new, immutable version; its schema and statistics are computed in the background."</p>
            <div class="upload dropzone" class:dragging=move || dragging.get() role="group" aria-label="Drop zone for a new version"
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop>
                <span class="muted">"Drop a file here, or"</span>
                <label>"Dataset file"<input type="file" accept=".csv,.gz,.parquet,.pq,text/csv,application/vnd.apache.parquet" node_ref=file_input/></label>
                <button type="button" class="primary" on:click=move |_| start() disabled=move || uploading.get()>"Upload"</button>
                <ProgressBar value=progress label="Upload progress"/>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}

#[component]
pub fn DatasetDetail() -> impl IntoView {
    let ctx = use_project();
    let params = use_params_map();
    let query = use_query_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let refresh = RwSignal::new(0u32);
    let upload = UploadState::new();
    let delete = ServerAction::<DeleteVersion>::new();
    let archive = ServerAction::<SetDatasetArchived>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            refresh.update(|r| *r += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = archive.value().get() {
            refresh.update(|r| *r += 1);
        }
    });
    let profiling = RwSignal::new(false);
    let tick = ticker(2);
    let live = move || if profiling.get() { tick.get() } else { 0 };
    let page = Resource::new(move || (ctx.slug.get(), name.get(), refresh.get(), live()), |(s, n, _, _)| dataset_page(s, n));
    let selected = Memo::new(move |_| query.read().get("v").and_then(|v| v.parse::<i32>().ok()));
    let profile = Resource::new(
        move || (ctx.slug.get(), name.get(), selected.get(), refresh.get(), live()),
        |(s, n, v, _, _)| version_profile(s, n, v),
    );
    Effect::new(move |_| {
        if let Some(Ok(p)) = page.get() {
            profiling.set(p.versions.iter().any(|v| v.status == "profiling"));
        }
    });
    view! {
        <Title text=move || format!("{} · Datasets · Trellis", name.get())/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let p = match page.await { Ok(p) => p, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                let dname = p.dataset.name.clone();
                let can_write = p.can_write;
                let ready: Vec<i32> = p.versions.iter().filter(|v| v.status == "ready").map(|v| v.version).collect();
                view! {
                    <h2>"Dataset "<code>{dname.clone()}</code>{p.dataset.archived.then(|| view! { " " <span class="badge">"archived"</span> })}</h2>
                    {(!p.dataset.description.is_empty()).then(|| view! { <p>{p.dataset.description.clone()}</p> })}
                    {p.can_write.then(|| {
                        let archived = p.dataset.archived;
                        let (s2, n2) = (slug.clone(), dname.clone());
                        view! {
                            <ActionForm action=archive attr:class="inline">
                                <input type="hidden" name="slug" value=s2/>
                                <input type="hidden" name="name" value=n2/>
                                <input type="hidden" name="archived" value=(!archived).to_string()/>
                                {if archived {
                                    view! { <button type="submit">"Unarchive dataset"</button> }.into_any()
                                } else {
                                    view! { <button type="submit">"Archive dataset"</button> }.into_any()
                                }}
                                {archived.then(|| view! { <span class="muted">" Archived: hidden from the dataset list and closed to uploads."</span> })}
                            </ActionForm>
                            {action_error(archive)}
                        }
                    })}
                    {(p.can_write && !p.dataset.archived).then(|| view! { <UploadBox slug=slug.clone() name=dname.clone() refresh state=upload/> })}
                    <h3>"Versions"</h3>
                    {if p.versions.is_empty() {
                        view! { <p class="empty">"No versions yet."</p> }.into_any()
                    } else {
                        view! {
                            <table class="table" aria-label="Versions">
                                <thead><tr><th>"Version"</th><th>"File"</th><th>"Rows"</th><th>"Columns"</th><th>"Size"</th><th>"Status"</th><th>"Uploaded"</th><th>"By"</th><th>"Download"</th>{can_write.then(|| view! { <th>"Delete"</th> })}</tr></thead>
                                <tbody>
                                    {p.versions.into_iter().map(|v| {
                                        let base = format!("/v1/projects/{slug}/datasets/{dname}/versions/{}", v.version);
                                        view! {
                                            <tr>
                                                <td><a href=format!("?v={}", v.version)>{format!("v{}", v.version)}</a></td>
                                                <td>{v.filename.clone()}" "<span class="muted">{v.format.clone()}{v.compression.clone().map(|c| format!(", {c}"))}</span></td>
                                                <td>{v.row_count.map(|r| r.to_string()).unwrap_or_default()}</td>
                                                <td>{v.column_count.map(|c| c.to_string()).unwrap_or_default()}</td>
                                                <td>{fmt_bytes(v.size)}</td>
                                                <td><StateBadge state=v.status.clone()/></td>
                                                <td>{fmt_time(&v.created_at)}</td>
                                                <td>{v.uploaded_by.clone().unwrap_or_default()}</td>
                                                <td><a href=format!("{base}/download") aria-label=format!("Download version {}", v.version) rel="external">"file"</a></td>
                                                {can_write.then(|| {
                                                    let (s2, n2, num) = (slug.clone(), dname.clone(), v.version);
                                                    view! {
                                                        <td>
                                                            <ActionForm action=delete attr:class="inline">
                                                                <input type="hidden" name="slug" value=s2/>
                                                                <input type="hidden" name="name" value=n2/>
                                                                <input type="hidden" name="version" value=num.to_string()/>
                                                                <button type="submit" class="danger" aria-label=format!("Delete version {num}")>"Delete"</button>
                                                            </ActionForm>
                                                        </td>
                                                    }
                                                })}
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            {action_error(delete)}
                            {(ready.len() >= 2).then(|| view! { <CompareVersions slug=slug.clone() name=dname.clone() versions=ready.clone()/> })}
                        }.into_any()
                    }}
                }.into_any()
            })}
        </Suspense>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match profile.await {
                    Ok(Some(vp)) => profile_view(vp, ctx.slug.get_untracked(), name.get_untracked()).into_any(),
                    Ok(None) => ().into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn split_section(saved: Option<crate::model::SplitView>, version: i32, can_write: bool, slug: String, name: String) -> impl IntoView {
    let action = ServerAction::<SplitVersion>::new();
    let shown = move || action.value().get().and_then(|r| r.ok()).or_else(|| saved.clone());
    view! {
        <h3>"Train / validation / test split"</h3>
        {move || match shown() {
            Some(s) => view! {
                <table class="table compact" aria-label="Split">
                    <thead><tr><th>"Split"</th><th>"Rows"</th></tr></thead>
                    <tbody>
                        <tr><td>"train"</td><td>{s.counts[0]}</td></tr>
                        <tr><td>"validation"</td><td>{s.counts[1]}</td></tr>
                        <tr><td>"test"</td><td>{s.counts[2]}</td></tr>
                    </tbody>
                </table>
                <p class="muted">{format!("Made {}. Training jobs use it.", s.description)}</p>
            }.into_any(),
            None => view! { <p class="muted">"Not split yet."</p> }.into_any(),
        }}
        {can_write.then(|| view! {
            <ActionForm action=action attr:class="form inline-grid split-form">
                <input type="hidden" name="slug" value=slug.clone()/>
                <input type="hidden" name="name" value=name.clone()/>
                <input type="hidden" name="version" value=version.to_string()/>
                <label>"Train %"<input type="number" name="train" min="1" max="100" step="any" value="80"/></label>
                <label>"Validation %"<input type="number" name="validation" min="0" max="99" step="any" value="10"/></label>
                <label>"Test %"<input type="number" name="test" min="0" max="99" step="any" value="10"/></label>
                <label>"Seed"<input type="number" name="seed" min="0" step="1" value="42"/></label>
                <button type="submit" disabled=move || action.pending().get()>"Split"</button>
                {action_error(action)}
            </ActionForm>
        })}
    }
}

fn profile_view(vp: VersionProfile, slug: String, name: String) -> impl IntoView {
    let v = vp.version.version;
    let status = vp.version.status.clone();
    let (pslug, pname) = (slug.clone(), name.clone());
    let split = (status == "ready").then(|| split_section(vp.split.clone(), v, vp.can_write, slug, name));
    view! {
        <h3>{format!("Version {v}: schema and statistics")}</h3>
        {match status.as_str() {
            "profiling" => {
                let (fraction, message) = vp.job_progress.clone().unwrap_or((0.0, "queued".into()));
                view! {
                    <p role="status">"Profiling… "{message}</p>
                    <ProgressBar value=Signal::derive(move || fraction) label="Profiling progress"/>
                }.into_any()
            }
            "failed" => view! { <p class="error" role="alert">{vp.version.error.clone().unwrap_or_else(|| "profiling failed".into())}</p> }.into_any(),
            _ => view! {
                <table class="table" aria-label="Schema">
                    <thead><tr><th>"Column"</th><th>"Type"</th><th>"Count"</th><th>"Missing"</th><th>"Distinct"</th><th>"Mean"</th><th>"Std"</th><th>"Min"</th><th>"Median"</th><th>"Max"</th></tr></thead>
                    <tbody>
                        {vp.columns.iter().map(|c| view! {
                            <tr>
                                <td>{c.name.clone()}</td>
                                <td><code>{c.column_type.clone()}</code></td>
                                <td>{c.count}</td>
                                <td>{c.missing}</td>
                                <td>{if c.distinct_exact { c.distinct.to_string() } else { format!("≈{}", c.distinct) }}</td>
                                <td>{fmt_num(c.mean)}</td>
                                <td>{fmt_num(c.std)}</td>
                                <td>{c.min.clone().unwrap_or_else(|| "—".into())}</td>
                                <td>{fmt_num(c.median)}</td>
                                <td>{c.max.clone().unwrap_or_else(|| "—".into())}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                <div class="charts">
                    {vp.columns.iter().filter(|c| !c.chart_svg.is_empty()).map(|c| {
                        let label = if matches!(c.column_type.as_str(), "integer" | "float") {
                            format!("Histogram of {}", c.name)
                        } else {
                            format!("Most frequent values of {}", c.name)
                        };
                        let caption = label.clone();
                        view! {
                            <figure class="chart" role="img" aria-label=label>
                                <div inner_html=c.chart_svg.clone()></div>
                                <figcaption>{caption}</figcaption>
                            </figure>
                        }
                    }).collect_view()}
                </div>
            }.into_any(),
        }}
        {vp.validation.clone().and_then(|val| val.compared_to.map(|prev| (prev, val))).map(|(prev, val)| view! {
            <h3>{format!("Validation against v{prev}")}</h3>
            {if val.anomalies.is_empty() {
                view! { <p class="ok" role="status">{format!("No anomalies against v{prev}.")}</p> }.into_any()
            } else {
                view! {
                    <ul class="anomalies" aria-label="Anomalies">
                        {val.anomalies.iter().map(|a| {
                            let class = format!("badge severity-{}", a.severity);
                            view! {
                                <li><span class=class>{a.severity.clone()}</span>" "<strong>{a.column.clone()}</strong>": "{a.message.clone()}</li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {(!val.distances.is_empty()).then(|| view! {
                <table class="table compact" aria-label="Distribution distances">
                    <thead><tr><th>"Column"</th><th>"Measure"</th><th>"Distance"</th><th>"Change"</th></tr></thead>
                    <tbody>
                        {val.distances.iter().map(|(c, m, d)| {
                            let width = format!("width: {:.0}%", (d * 100.0).clamp(0.0, 100.0));
                            let measure = if m == "jensen_shannon" { "Jensen-Shannon" } else { "L-infinity" };
                            let fill = if *d >= 0.3 { "meter-fill over" } else { "meter-fill" };
                            view! {
                                <tr>
                                    <td>{c.clone()}</td>
                                    <td>{measure}</td>
                                    <td>{format!("{d:.3}")}</td>
                                    <td><div class="meter" aria-hidden="true"><div class=fill style=width></div></div></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        })}
        {split}
        {(status == "ready").then(|| {
            let initial = PreviewPage {
                columns: vp.preview_columns.clone(),
                rows: vp.preview_rows.clone(),
                offset: 0,
                total: vp.version.row_count,
            };
            view! { <PreviewPager slug=pslug name=pname version=v initial/> }
        })}
    }
}

/// Rows of a version, a page at a time (the first page comes with the profile; further pages are
/// fetched on demand).
#[component]
fn PreviewPager(slug: String, name: String, version: i32, initial: PreviewPage) -> impl IntoView {
    let fetch = ServerAction::<GetPreview>::new();
    let current = move || fetch.value().get().and_then(|r| r.ok()).unwrap_or_else(|| initial.clone());
    let step = PREVIEW_PAGE as u64;
    let go = move |offset: u64| {
        fetch.dispatch(GetPreview { slug: slug.clone(), name: name.clone(), version, offset });
    };
    let go2 = go.clone();
    view! {
        <h3>"Rows"</h3>
        {move || {
            let p = current();
            let total = p.total.unwrap_or(0).max(0) as u64;
            let first = p.offset + 1;
            let last = p.offset + p.rows.len() as u64;
            let (go, go2) = (go.clone(), go2.clone());
            let offset = p.offset;
            view! {
                <div class="pager">
                    <button type="button" on:click=move |_| go(offset.saturating_sub(step)) disabled={offset == 0}>"Previous rows"</button>
                    <span role="status">{format!("Rows {first}–{last} of {total}")}</span>
                    <button type="button" on:click=move |_| go2(offset + step) disabled={last >= total}>"Next rows"</button>
                </div>
                <div class="scroll-x">
                    <table class="table" aria-label="Preview">
                        <thead><tr>{p.columns.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view()}</tr></thead>
                        <tbody>
                            {p.rows.iter().map(|r| view! {
                                <tr>{r.iter().map(|cell| view! { <td>{cell.clone()}</td> }).collect_view()}</tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }
        }}
        {action_error(fetch)}
    }
}

/// Two versions' statistics side by side.
#[component]
fn CompareVersions(slug: String, name: String, versions: Vec<i32>) -> impl IntoView {
    let compare = ServerAction::<CompareVersionsFn>::new();
    let latest = versions.first().copied().unwrap_or(1);
    let previous = versions.get(1).copied().unwrap_or(latest);
    let options = |selected: i32| {
        versions
            .iter()
            .map(|v| view! { <option value=v.to_string() selected=*v == selected>{format!("v{v}")}</option> })
            .collect_view()
    };
    let (from_options, to_options) = (options(previous), options(latest));
    let pair = |p: &(Option<String>, Option<String>)| {
        let show = |x: &Option<String>| x.clone().unwrap_or_else(|| "—".into());
        let changed = p.0 != p.1;
        view! { <td class:changed=changed>{show(&p.0)}" → "{show(&p.1)}</td> }
    };
    let num = |p: &(Option<f64>, Option<f64>)| (p.0.map(|x| fmt_num(Some(x))), p.1.map(|x| fmt_num(Some(x))));
    view! {
        <h3>"Compare versions"</h3>
        <ActionForm action=compare attr:class="filters">
            <input type="hidden" name="slug" value=slug/>
            <input type="hidden" name="name" value=name/>
            <label>"From"<select name="a">{from_options}</select></label>
            <label>"To"<select name="b">{to_options}</select></label>
            <button type="submit">"Compare"</button>
        </ActionForm>
        {action_error(compare)}
        {move || compare.value().get().and_then(|r| r.ok()).map(|list| view! {
            <table class="table" aria-label="Version comparison">
                <thead><tr><th>"Column"</th><th>"Type"</th><th>"Missing %"</th><th>"Distinct"</th><th>"Mean"</th><th>"Std"</th><th>"Min"</th><th>"Max"</th></tr></thead>
                <tbody>
                    {list.iter().map(|r| {
                        let missing = (r.missing_pct.0.map(|x| format!("{x:.1}")), r.missing_pct.1.map(|x| format!("{x:.1}")));
                        let distinct = (r.distinct.0.map(|x| x.to_string()), r.distinct.1.map(|x| x.to_string()));
                        view! {
                            <tr>
                                <td>{r.column.clone()}</td>
                                {pair(&r.column_type)}
                                {pair(&missing)}
                                {pair(&distinct)}
                                {pair(&num(&r.mean))}
                                {pair(&num(&r.std))}
                                {pair(&r.min)}
                                {pair(&r.max)}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}
