//! Experiments of a project (logged through the MLflow API): the list, an experiment's runs
//! (filtered and ordered with MLflow's grammar), and a run with its params, tags and metric charts.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::experiments::{compare_runs, experiment_runs, get_run_page, list_experiments};
use crate::components::widgets::{ErrorBox, Loading, StateBadge};
use crate::model::{fmt_bytes, fmt_num, fmt_time, RunPage};
use crate::pages::project::use_project;

#[component]
pub fn Experiments() -> impl IntoView {
    let ctx = use_project();
    let list = Resource::new(move || ctx.slug.get(), list_experiments);
    view! {
        <Title text="Experiments · Trellis"/>
        <h2>"Experiments"</h2>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let rows = match list.await { Ok(r) => r, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                if rows.is_empty() {
                    return view! {
                        <p class="empty">"No experiments yet. Log runs from Python with the MLflow client:"</p>
                        <pre class="code">{format!("export MLFLOW_TRACKING_URI=<this server>\nexport MLFLOW_TRACKING_TOKEN=<a token for {slug}>\npython -c 'import mlflow; mlflow.set_experiment(\"baseline\"); mlflow.start_run(); mlflow.log_metric(\"loss\", 0.5)'")}</pre>
                    }.into_any();
                }
                view! {
                    <table class="table" aria-label="Experiments">
                        <thead><tr><th>"Name"</th><th>"Runs"</th><th>"Last run"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|e| view! {
                                <tr>
                                    <td><a href=format!("/p/{slug}/experiments/{}", e.id)>{e.name.clone()}</a></td>
                                    <td>{e.runs}</td>
                                    <td>{e.last_run.as_ref().map(fmt_time).unwrap_or_else(|| "—".into())}</td>
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
pub fn ExperimentDetail() -> impl IntoView {
    let ctx = use_project();
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0));
    let filter = Memo::new(move |_| query.read().get("filter").unwrap_or_default());
    let order = Memo::new(move |_| query.read().get("order").unwrap_or_default());
    let page = Resource::new(move || (ctx.slug.get(), id.get(), filter.get(), order.get()), |(s, i, f, o)| experiment_runs(s, i, f, o));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let p = match page.await { Ok(p) => p, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                let (metric_keys, param_keys) = (p.metric_keys.clone(), p.param_keys.clone());
                view! {
                    <Title text=format!("{} · Experiments · Trellis", p.name)/>
                    <h2>"Experiment "<code>{p.name.clone()}</code></h2>
                    <form method="get" class="form inline-grid" aria-label="Search runs">
                        <label class="wide">"Filter"<input type="text" name="filter" value=filter.get_untracked()
                            placeholder="metrics.loss < 0.5 and params.model = 'rf'"/></label>
                        <label>"Order by"<input type="text" name="order" value=order.get_untracked() placeholder="metrics.loss ASC"/></label>
                        <button type="submit">"Search runs"</button>
                    </form>
                    {p.filter_error.clone().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                    {if p.runs.is_empty() {
                        view! { <p class="empty">"No runs match."</p> }.into_any()
                    } else {
                        view! {
                            <form method="get" action=format!("/p/{slug}/compare") aria-label="Compare runs">
                            <button type="submit">"Compare selected runs"</button>
                            <table class="table" aria-label="Runs">
                                <thead><tr>
                                    <th>"Select"</th>
                                    <th>"Run"</th><th>"Status"</th><th>"Started"</th><th>"User"</th>
                                    {metric_keys.iter().map(|k| view! { <th class="metric">{k.clone()}</th> }).collect_view()}
                                    {param_keys.iter().map(|k| view! { <th class="param">{k.clone()}</th> }).collect_view()}
                                </tr></thead>
                                <tbody>
                                    {p.runs.into_iter().map(|r| view! {
                                        <tr>
                                            <td><input type="checkbox" name="run" value=r.run_id.clone() aria-label=format!("Select run {}", r.name)/></td>
                                            <td><a href=format!("/p/{slug}/runs/{}", r.run_id)>{r.name.clone()}</a></td>
                                            <td><StateBadge state=r.status.to_lowercase()/></td>
                                            <td>{fmt_time(&r.start)}</td>
                                            <td>{r.user.clone()}</td>
                                            {r.metrics.iter().map(|m| view! { <td>{fmt_num(*m)}</td> }).collect_view()}
                                            {r.params.iter().map(|v| view! { <td>{v.clone().unwrap_or_else(|| "—".into())}</td> }).collect_view()}
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </form>
                        }.into_any()
                    }}
                }.into_any()
            })}
        </Suspense>
    }
}

/// Selected runs side by side (`?run=<id>&run=<id>…`).
#[component]
pub fn CompareRuns() -> impl IntoView {
    let ctx = use_project();
    let query = use_query_map();
    let runs = Memo::new(move |_| query.read().get_all("run").unwrap_or_default().join(","));
    let page = Resource::new(move || (ctx.slug.get(), runs.get()), |(s, r)| compare_runs(s, r));
    view! {
        <Title text="Compare runs · Trellis"/>
        <h2>"Compare runs"</h2>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let c = match page.await { Ok(c) => c, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                let names: Vec<String> = c.runs.iter().map(|r| r.1.clone()).collect();
                view! {
                    <div class="charts">
                        {c.charts.into_iter().map(|(key, svg)| {
                            let label = format!("Metric {key} of the compared runs");
                            view! {
                                <figure class="chart wide-chart" role="img" aria-label=label>
                                    <div inner_html=svg></div>
                                    <figcaption>{key}</figcaption>
                                </figure>
                            }
                        }).collect_view()}
                    </div>
                    <table class="table" aria-label="Differences">
                        <thead><tr><th>""</th>
                            {c.runs.iter().map(|(id, name)| view! { <th><a href=format!("/p/{slug}/runs/{id}")>{name.clone()}</a></th> }).collect_view()}
                        </tr></thead>
                        <tbody>
                            {c.rows.into_iter().map(|(label, values)| {
                                let differs = values.windows(2).any(|w| w[0] != w[1]);
                                view! {
                                    <tr class:differs=differs>
                                        <td>{label}</td>
                                        {values.into_iter().map(|v| view! { <td>{v.unwrap_or_else(|| "—".into())}</td> }).collect_view()}
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    <p class="muted">{format!("Comparing {}. Rows whose values differ are marked.", names.join(", "))}</p>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn RunDetail() -> impl IntoView {
    let ctx = use_project();
    let params = use_params_map();
    let run_id = Memo::new(move |_| params.read().get("run").unwrap_or_default());
    let page = Resource::new(move || (ctx.slug.get(), run_id.get()), |(s, r)| get_run_page(s, r));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let r = match page.await { Ok(r) => r, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                view! {
                    <Title text=format!("{} · Runs · Trellis", r.name)/>
                    <p><a href=format!("/p/{slug}/experiments/{}", r.experiment_id)>{format!("← {}", r.experiment_name)}</a></p>
                    <h2>"Run "<code>{r.name.clone()}</code>" "<StateBadge state=r.status.to_lowercase()/></h2>
                    <p class="muted">{format!("{} · started {} · {}", r.run_id, fmt_time(&r.start), r.user)}
                        {r.end.as_ref().map(|e| format!(" · ended {}", fmt_time(e)))}</p>
                    {r.parent.clone().map(|(id, name)| view! {
                        <p>"Part of "<a href=format!("/p/{slug}/runs/{id}")>{name}</a></p>
                    })}
                    {r.note.clone().map(|n| view! {
                        <section class="note" aria-label="Note"><h3>"Note"</h3><pre class="note-text">{n}</pre></section>
                    })}
                    <RunLineage slug=slug.clone() r=r.clone()/>
                    <h3>"Metrics"</h3>
                    {if r.charts.is_empty() {
                        view! { <p class="empty">"No metrics logged."</p> }.into_any()
                    } else {
                        view! {
                            <div class="charts">
                                {r.charts.into_iter().map(|(key, latest, svg)| {
                                    let label = format!("Metric {key}");
                                    view! {
                                        <figure class="chart wide-chart" role="img" aria-label=label>
                                            <div inner_html=svg></div>
                                            <figcaption>{format!("{key} (latest {})", fmt_num(Some(latest)))}</figcaption>
                                        </figure>
                                    }
                                }).collect_view()}
                            </div>
                        }.into_any()
                    }}
                    <h3>"Parameters"</h3>
                    <table class="table compact" aria-label="Parameters">
                        <thead><tr><th>"Name"</th><th>"Value"</th></tr></thead>
                        <tbody>{r.params.into_iter().map(|(k, v)| view! { <tr><td>{k}</td><td>{v}</td></tr> }).collect_view()}</tbody>
                    </table>
                    <h3>"Tags"</h3>
                    <table class="table compact" aria-label="Tags">
                        <thead><tr><th>"Name"</th><th>"Value"</th></tr></thead>
                        <tbody>{r.tags.into_iter().map(|(k, v)| view! { <tr><td>{k}</td><td>{v}</td></tr> }).collect_view()}</tbody>
                    </table>
                    <h3>"Artifacts"</h3>
                    {if r.artifacts.is_empty() {
                        view! { <p class="empty">"No artifacts logged."</p> }.into_any()
                    } else {
                        let base = r.artifact_base.clone();
                        view! {
                            <table class="table compact" aria-label="Artifacts">
                                <thead><tr><th>"Path"</th><th>"Size"</th></tr></thead>
                                <tbody>{r.artifacts.into_iter().map(|(path, is_dir, size)| {
                                    let name = if is_dir { format!("{path}/") } else { path.clone() };
                                    view! { <tr>
                                        <td>{if is_dir { view! { <span>{name}</span> }.into_any() } else {
                                            view! { <a href=format!("{base}/{path}") download=path.clone()>{name}</a> }.into_any()
                                        }}</td>
                                        <td>{size.map(fmt_bytes).unwrap_or_default()}</td>
                                    </tr> }
                                }).collect_view()}</tbody>
                            </table>
                        }.into_any()
                    }}
                }.into_any()
            })}
        </Suspense>
    }
}

/// Where a run's inputs came from and what it produced: its trials (child runs), the datasets it
/// used (linked when they are the project's dataset versions), and the models it logged with the
/// registered versions made from them.
#[component]
fn RunLineage(slug: String, r: RunPage) -> impl IntoView {
    let has_any = !r.children.is_empty() || !r.datasets.is_empty() || !r.models.is_empty();
    has_any.then(|| view! {
        <section class="lineage" aria-label="Lineage">
            <h3>"Lineage"</h3>
            {(!r.datasets.is_empty()).then(|| view! {
                <table class="table compact" aria-label="Dataset inputs">
                    <thead><tr><th>"Dataset"</th><th>"Context"</th><th>"Digest"</th><th>"Trellis dataset version"</th></tr></thead>
                    <tbody>{r.datasets.iter().map(|d| {
                        let link = d.dataset_version.clone().map(|(name, n)| view! {
                            <a href=format!("/p/{slug}/datasets/{name}?v={n}")>{format!("{name} v{n}")}</a>
                        });
                        view! { <tr>
                            <td>{d.name.clone()}</td>
                            <td>{d.context.clone().unwrap_or_default()}</td>
                            <td><code>{d.digest.clone()}</code></td>
                            <td>{link}</td>
                        </tr> }
                    }).collect_view()}</tbody>
                </table>
            })}
            {(!r.models.is_empty()).then(|| view! {
                <table class="table compact" aria-label="Logged models">
                    <thead><tr><th>"Model"</th><th>"Id"</th><th>"Status"</th><th>"Registered as"</th></tr></thead>
                    <tbody>{r.models.iter().map(|m| view! { <tr>
                        <td>{m.name.clone()}</td>
                        <td><code>{m.model_id.clone()}</code></td>
                        <td><StateBadge state=m.status.clone()/></td>
                        <td>{m.registrations.iter().map(|(name, v)| view! {
                            <a class="chip" href=format!("/p/{slug}/models/{name}")>{format!("{name} v{v}")}</a>
                        }).collect_view()}</td>
                    </tr> }).collect_view()}</tbody>
                </table>
            })}
            {(!r.children.is_empty()).then(|| view! {
                <table class="table compact" aria-label="Child runs">
                    <thead><tr><th>"Child run"</th></tr></thead>
                    <tbody>{r.children.iter().map(|(id, name)| view! {
                        <tr><td><a href=format!("/p/{slug}/runs/{id}")>{name.clone()}</a></td></tr>
                    }).collect_view()}</tbody>
                </table>
            })}
        </section>
    })
}
