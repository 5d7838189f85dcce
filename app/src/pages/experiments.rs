//! Experiments of a project (logged through the MLflow API): the list, an experiment's runs
//! (filtered and ordered with MLflow's grammar), and a run with its params, tags and metric charts.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::experiments::{compare_runs, experiment_runs, get_run_page, list_experiments, run_artifacts, ChangeRuns, SetRunNote};
use crate::api::jobs::{get_job, job_logs};
use crate::api::endpoints::RegisterRunModel;
use crate::api::training::CancelSearch;
use crate::components::widgets::{action_error, go_to, reload_page, ticker, ErrorBox, Loading, ProgressBar, StateBadge};
use crate::model::{
    fmt_bytes, fmt_num, fmt_time, url_encode, AppError, ArtifactView, ChartOptions, ExperimentPage, LogLine, PreviewKind, RunEvaluationView, RunJob, RunPage,
    RunsQuery, TrialsView,
};
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
    let runs_query = Memo::new(move |_| {
        let q = query.read();
        RunsQuery {
            filter: q.get("filter").unwrap_or_default(),
            order: q.get("order").unwrap_or_default(),
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0),
            columns: q.get_all("col").unwrap_or_default(),
            best: q.get("best").unwrap_or_default(),
            lower_is_better: q.get("goal").is_none_or(|g| g != "max"),
            lifecycle: q.get("lifecycle").unwrap_or_default(),
            chart_x: q.get("cx").unwrap_or_default(),
            chart_y: q.get("cy").unwrap_or_default(),
        }
    });
    // Runs selected for a bulk action, and the action; the table reloads after it.
    let selected = RwSignal::new(Vec::<String>::new());
    let change = ServerAction::<ChangeRuns>::new();
    let refresh = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(_)) = change.value().get() {
            selected.set(Vec::new());
            refresh.update(|r| *r += 1);
        }
    });
    let page = Resource::new(move || (ctx.slug.get(), id.get(), runs_query.get(), refresh.get()), |(s, i, q, _)| experiment_runs(s, i, q));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let p = match page.await { Ok(p) => p, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                let q = runs_query.get_untracked();
                view! {
                    <Title text=format!("{} · Experiments · Trellis", p.name)/>
                    <h2>"Experiment "<code>{p.name.clone()}</code></h2>
                    <form method="get" class="form inline-grid" aria-label="Search runs">
                        <label class="wide">"Filter"<input type="text" name="filter" value=q.filter.clone()
                            placeholder="metrics.loss < 0.5 and params.model = 'rf'"/></label>
                        <label>"Order by"<input type="text" name="order" value=q.order.clone() placeholder="metrics.loss ASC"/></label>
                        <label>"Runs"
                            <select name="lifecycle">
                                <option value="" selected=q.lifecycle.is_empty()>"active"</option>
                                <option value="deleted" selected=q.lifecycle == "deleted">"deleted"</option>
                                <option value="all" selected=q.lifecycle == "all">"all"</option>
                            </select>
                        </label>
                        <KeepQuery q=q.clone() except=&["filter", "order", "lifecycle"]/>
                        <button type="submit">"Search runs"</button>
                    </form>
                    {p.filter_error.clone().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                    <div class="run-tools">
                        <ColumnChooser p=p.clone() q=q.clone()/>
                        <BestRunForm p=p.clone() q=q.clone()/>
                    </div>
                    {p.best.clone().map(|b| view! {
                        <p class="best" role="status">{format!("Best run by {} ({}): ", b.metric, if q.lower_is_better { "lowest" } else { "highest" })}
                            <a href=format!("/p/{slug}/runs/{}", b.run_id)>{b.name.clone()}</a>{format!(" — {}", fmt_num(Some(b.value)))}</p>
                    })}
                    <RunsChartForm p=p.clone() q=q.clone()/>
                    {p.chart.clone().map(|c| {
                        let label = format!("Runs chart: {} against {}", c.y, c.x);
                        let note = if c.left_out > 0 { format!("{} runs drawn; {} without both values or over the limit left out.", c.drawn, c.left_out) } else { format!("{} runs drawn.", c.drawn) };
                        view! {
                            <figure class="chart wide-chart" role="img" aria-label=label>
                                <div inner_html=c.svg></div>
                                <figcaption>{note}</figcaption>
                            </figure>
                        }
                    })}
                    {if p.runs.is_empty() {
                        view! { <p class="empty">"No runs match."</p> }.into_any()
                    } else {
                        view! { <RunsTable p=p.clone() q=q.clone() slug=slug.clone() selected change/> }.into_any()
                    }}
                }.into_any()
            })}
        </Suspense>
    }
}

/// A sortable column header: a link that orders by `term` (descending first for metrics, then
/// the other way on a second click).
#[component]
fn SortHeader(label: String, term: String, q: RunsQuery, class: &'static str) -> impl IntoView {
    let current = q.order.trim().to_string();
    let (asc, desc) = (format!("{term} ASC"), format!("{term} DESC"));
    let (next, mark, sort) = if current.eq_ignore_ascii_case(&desc) {
        (asc, " ↓", "descending")
    } else if current.eq_ignore_ascii_case(&asc) || current.eq_ignore_ascii_case(&term) {
        (desc, " ↑", "ascending")
    } else {
        (if term.starts_with("metrics.") || term == "start_time" { desc } else { asc }, "", "none")
    };
    let href = q.href(|q| {
        q.order = next;
        q.page = 0;
    });
    view! { <th class=class aria-sort=sort><a href=href aria-label=format!("Sort by {label}")>{label.clone()}{mark}</a></th> }
}

/// Compare, delete or restore the runs selected in the table.
#[component]
fn BulkActions(p: ExperimentPage, q: RunsQuery, slug: String, selected: RwSignal<Vec<String>>, change: ServerAction<ChangeRuns>) -> impl IntoView {
    let none = move || selected.with(Vec::is_empty);
    let can_delete = p.can_write && q.lifecycle != "deleted";
    let can_restore = p.can_write && !q.lifecycle.is_empty();
    let experiment_id = p.id;
    let run = move |delete: bool| {
        let slug = slug.clone();
        move |_| {
            change.dispatch(ChangeRuns { slug: slug.clone(), experiment_id, runs: selected.get_untracked().join(","), delete });
        }
    };
    view! {
        <div class="bulk" role="group" aria-label="Selected runs">
            <button type="submit">"Compare selected runs"</button>
            {can_delete.then(|| view! { <button type="button" disabled=none on:click=run(true)>"Delete selected runs"</button> })}
            {can_restore.then(|| view! { <button type="button" disabled=none on:click=run(false)>"Restore selected runs"</button> })}
            <span class="muted" role="status">{move || {
                let n = selected.with(Vec::len);
                match change.value().get() {
                    Some(Ok((k, deleted))) if n == 0 => format!("{} {k} run{}.", if deleted { "Deleted" } else { "Restored" }, if k == 1 { "" } else { "s" }),
                    _ if n > 0 => format!("{n} selected"),
                    _ => String::new(),
                }
            }}</span>
        </div>
        {action_error(change)}
    }
}

#[component]
fn RunsTable(p: ExperimentPage, q: RunsQuery, slug: String, selected: RwSignal<Vec<String>>, change: ServerAction<ChangeRuns>) -> impl IntoView {
    let best = p.best.as_ref().map(|b| b.run_id.clone());
    let first = q.page * p.per_page + 1;
    let last = (first + p.runs.len() as i64 - 1).min(p.total);
    let pages = (p.total + p.per_page - 1) / p.per_page;
    let prev = (q.page > 0).then(|| q.href(|q| q.page -= 1));
    let next = (q.page + 1 < pages).then(|| q.href(|q| q.page += 1));
    let quoted = |k: &str| if k.chars().all(|c| c.is_alphanumeric() || c == '_') { k.to_string() } else { format!("`{k}`") };
    view! {
        <form method="get" action=format!("/p/{slug}/compare") aria-label="Compare runs">
        <BulkActions p=p.clone() q=q.clone() slug=slug.clone() selected change/>
        <table class="table" aria-label="Runs">
            <thead><tr>
                <th>"Select"</th>
                <SortHeader label="Run".into() term="attributes.run_name".into() q=q.clone() class=""/>
                <SortHeader label="Status".into() term="attributes.status".into() q=q.clone() class=""/>
                <SortHeader label="Started".into() term="attributes.start_time".into() q=q.clone() class=""/>
                <th>"User"</th>
                {p.metric_keys.iter().map(|k| view! { <SortHeader label=k.clone() term=format!("metrics.{}", quoted(k)) q=q.clone() class="metric"/> }).collect_view()}
                {p.param_keys.iter().map(|k| view! { <SortHeader label=k.clone() term=format!("params.{}", quoted(k)) q=q.clone() class="param"/> }).collect_view()}
            </tr></thead>
            <tbody>
                {p.runs.into_iter().map(|r| {
                    let is_best = best.as_deref() == Some(r.run_id.as_str());
                    let (id, id2) = (r.run_id.clone(), r.run_id.clone());
                    let toggle = move |ev| {
                        let on = event_target_checked(&ev);
                        selected.update(|s| {
                            s.retain(|x| *x != id);
                            if on {
                                s.push(id.clone());
                            }
                        });
                    };
                    view! {
                        <tr class:best=is_best class:deleted=r.deleted>
                            <td><input type="checkbox" name="run" value=r.run_id.clone() aria-label=format!("Select run {}", r.name)
                                prop:checked=move || selected.with(|s| s.contains(&id2)) on:change=toggle/></td>
                            <td><a href=format!("/p/{slug}/runs/{}", r.run_id)>{r.name.clone()}</a></td>
                            <td><StateBadge state=r.status.to_lowercase()/>{r.deleted.then(|| view! { " " <span class="badge">"deleted"</span> })}</td>
                            <td>{fmt_time(&r.start)}</td>
                            <td>{r.user.clone()}</td>
                            {r.metrics.iter().map(|m| view! { <td>{fmt_num(*m)}</td> }).collect_view()}
                            {r.params.iter().map(|v| view! { <td>{v.clone().unwrap_or_else(|| "—".into())}</td> }).collect_view()}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </form>
        <nav class="pager" aria-label="Pages of runs">
            <span>{format!("Runs {first}–{last} of {}", p.total)}</span>
            {prev.map(|h| view! { <a href=h>"Previous page"</a> })}
            {next.map(|h| view! { <a href=h>"Next page"</a> })}
        </nav>
    }
}

/// Which metric and param columns the runs table shows.
#[component]
fn ColumnChooser(p: ExperimentPage, q: RunsQuery) -> impl IntoView {
    let shown: Vec<String> =
        p.metric_keys.iter().map(|k| format!("metrics.{k}")).chain(p.param_keys.iter().map(|k| format!("params.{k}"))).collect();
    let all: Vec<(String, String)> = p
        .all_metric_keys
        .iter()
        .map(|k| (format!("metrics.{k}"), format!("metric {k}")))
        .chain(p.all_param_keys.iter().map(|k| (format!("params.{k}"), format!("param {k}"))))
        .collect();
    view! {
        <details class="column-chooser">
            <summary>"Columns"</summary>
            <form method="get" aria-label="Choose columns">
                <KeepQuery q=q.clone() except=&["col"]/>
                <fieldset><legend>"Show these metrics and params"</legend>
                {all.into_iter().map(|(value, label)| {
                    let checked = shown.contains(&value);
                    view! { <label class="check"><input type="checkbox" name="col" value=value checked=checked/>{label}</label> }
                }).collect_view()}
                </fieldset>
                <button type="submit">"Show columns"</button>
            </form>
        </details>
    }
}

/// Hidden inputs that carry the page's query through a form, except the parts the form sets
/// itself (and the page: a form's answer starts on the first page).
#[component]
fn KeepQuery(q: RunsQuery, except: &'static [&'static str]) -> impl IntoView {
    q.pairs()
        .into_iter()
        .filter(|(k, _)| *k != "page" && !except.contains(k))
        .map(|(k, v)| view! { <input type="hidden" name=k value=v/> })
        .collect_view()
}

/// Asks for a chart of every matching run: a metric against a param or another metric.
#[component]
fn RunsChartForm(p: ExperimentPage, q: RunsQuery) -> impl IntoView {
    let axes: Vec<(String, String)> = p
        .all_param_keys
        .iter()
        .map(|k| (format!("params.{k}"), format!("param {k}")))
        .chain(p.all_metric_keys.iter().map(|k| (format!("metrics.{k}"), format!("metric {k}"))))
        .collect();
    (!p.all_metric_keys.is_empty()).then(|| view! {
        <form method="get" class="inline" aria-label="Runs chart">
            <KeepQuery q=q.clone() except=&["cx", "cy"]/>
            <label>"Horizontal axis"
                <select name="cx">
                    {axes.into_iter().map(|(v, l)| { let on = q.chart_x == v; view! { <option value=v selected=on>{l}</option> } }).collect_view()}
                </select>
            </label>
            <label>"Vertical axis"
                <select name="cy">
                    {p.all_metric_keys.iter().map(|k| { let v = format!("metrics.{k}"); let on = q.chart_y == v; view! { <option value=v selected=on>{format!("metric {k}")}</option> } }).collect_view()}
                </select>
            </label>
            <button type="submit">"Draw runs chart"</button>
        </form>
    })
}

/// Picks the best run by a metric, lowest or highest.
#[component]
fn BestRunForm(p: ExperimentPage, q: RunsQuery) -> impl IntoView {
    (!p.all_metric_keys.is_empty()).then(|| view! {
        <form method="get" class="inline" aria-label="Best run">
            <KeepQuery q=q.clone() except=&["best", "goal"]/>
            <label>"Best run by"
                <select name="best">
                    {p.all_metric_keys.iter().map(|k| view! { <option value=k.clone() selected=q.best == *k>{k.clone()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Goal"
                <select name="goal">
                    <option value="min" selected=q.lower_is_better>"lowest"</option>
                    <option value="max" selected=!q.lower_is_better>"highest"</option>
                </select>
            </label>
            <button type="submit">"Find best run"</button>
        </form>
    })
}

/// Selected runs side by side (`?run=<id>&run=<id>…`).
#[component]
pub fn CompareRuns() -> impl IntoView {
    let ctx = use_project();
    let query = use_query_map();
    let runs = Memo::new(move |_| query.read().get_all("run").unwrap_or_default().join(","));
    let options = Memo::new(move |_| ChartOptions {
        scatter_param: query.read().get("sx").unwrap_or_default(),
        scatter_metric: query.read().get("sy").unwrap_or_default(),
        ..ChartOptions::from_query(query.read().get("x"), query.read().get("smooth"))
    });
    let page = Resource::new(move || (ctx.slug.get(), runs.get(), options.get()), |(s, r, o)| compare_runs(s, r, o));
    view! {
        <Title text="Compare runs · Trellis"/>
        <h2>"Compare runs"</h2>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let c = match page.await { Ok(c) => c, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                let names: Vec<String> = c.runs.iter().map(|r| r.1.clone()).collect();
                let keep: Vec<(String, String)> = c.runs.iter().map(|r| ("run".to_string(), r.0.clone())).collect();
                view! {
                    <ChartOptionsForm options=options.get_untracked() keep=keep/>
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
                    <h3>"Param against metric"</h3>
                    {if c.numeric_params.is_empty() || c.metrics.is_empty() {
                        view! { <p class="empty">"A scatter needs a numeric param and a metric."</p> }.into_any()
                    } else {
                        let o = options.get_untracked();
                        let runs_kept: Vec<String> = c.runs.iter().map(|r| r.0.clone()).collect();
                        view! {
                            <form method="get" class="inline" aria-label="Scatter">
                                {runs_kept.into_iter().map(|r| view! { <input type="hidden" name="run" value=r/> }).collect_view()}
                                <label>"Param"<select name="sx">
                                    {c.numeric_params.iter().map(|k| view! { <option value=k.clone() selected=o.scatter_param == *k>{k.clone()}</option> }).collect_view()}
                                </select></label>
                                <label>"Metric"<select name="sy">
                                    {c.metrics.iter().map(|k| view! { <option value=k.clone() selected=o.scatter_metric == *k>{k.clone()}</option> }).collect_view()}
                                </select></label>
                                <button type="submit">"Draw scatter"</button>
                            </form>
                            {c.scatter.clone().map(|(p, m, svg)| view! {
                                <figure class="chart wide-chart" role="img" aria-label=format!("Scatter of {m} against {p}")>
                                    <div inner_html=svg></div>
                                    <figcaption>{format!("{m} against {p}, one dot per run")}</figcaption>
                                </figure>
                            })}
                        }.into_any()
                    }}
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn RunDetail() -> impl IntoView {
    let ctx = use_project();
    let params = use_params_map();
    let query = use_query_map();
    let run_id = Memo::new(move |_| params.read().get("run").unwrap_or_default());
    let options = Memo::new(move |_| ChartOptions::from_query(query.read().get("x"), query.read().get("smooth")));
    let save_note = ServerAction::<SetRunNote>::new();
    let cancel_search = ServerAction::<CancelSearch>::new();
    // A search's parent run is read again every few seconds while its trials run.
    let searching = RwSignal::new(false);
    let tick = ticker(3);
    let live = move || if searching.get() { tick.get() } else { 0 };
    let page = Resource::new(
        move || (ctx.slug.get(), run_id.get(), options.get(), save_note.version().get(), cancel_search.version().get(), live()),
        |(s, r, o, _, _, _)| get_run_page(s, r, o),
    );
    Effect::new(move |_| {
        if let Some(Ok(r)) = page.get() {
            searching.set(r.status == "RUNNING" && r.trials.is_some());
        }
    });
    let dir = Memo::new(move |_| query.read().get("dir").unwrap_or_default());
    let file = Memo::new(move |_| query.read().get("file").unwrap_or_default());
    let artifacts = Resource::new(move || (ctx.slug.get(), run_id.get(), dir.get(), file.get()), |(s, r, d, f)| run_artifacts(s, r, d, f));
    view! {
        <Transition fallback=Loading>
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
                    {r.note_html.clone().map(|html| view! {
                        <section class="note" aria-label="Note"><h3>"Note"</h3><div class="note-text" inner_html=html></div></section>
                    })}
                    {r.can_write.then(|| {
                        let (slug, run_id, note) = (slug.clone(), r.run_id.clone(), r.note.clone().unwrap_or_default());
                        view! {
                        <details class="note-editor">
                            <summary>{if note.is_empty() { "Add a note" } else { "Edit note" }}</summary>
                            <ActionForm action=save_note attr:class="form">
                                <input type="hidden" name="slug" value=slug/>
                                <input type="hidden" name="run_id" value=run_id/>
                                <label>"Note (markdown)"<textarea name="note" rows="5" maxlength="8000">{note}</textarea></label>
                                <button type="submit" disabled=move || save_note.pending().get()>"Save note"</button>
                                {action_error(save_note)}
                            </ActionForm>
                        </details>
                    }})}
                    {r.job.clone().map(|job| view! { <TrainingJob job=job/> })}
                    <RunLineage slug=slug.clone() r=r.clone()/>
                    {(r.can_write && r.has_model).then(|| view! { <RegisterModel slug=slug.clone() run_id=r.run_id.clone() models=r.registered_models.clone()/> })}
                    {r.evaluation.clone().map(|ev| view! { <Evaluation ev=ev/> })}
                    {r.trials.clone().map(|t| {
                        let cancellable = (r.can_write && r.status == "RUNNING").then(|| r.run_id.clone());
                        view! { <Trials slug=slug.clone() t=t cancellable=cancellable cancel=cancel_search/> }
                    })}
                    <h3>"Metrics"</h3>
                    <ChartOptionsForm options=options.get_untracked() keep=vec![]/>
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
                    {if r.tags.is_empty() {
                        view! { <p class="empty">"No tags."</p> }.into_any()
                    } else {
                        view! {
                            <table class="table compact" aria-label="Tags">
                                <thead><tr><th>"Name"</th><th>"Value"</th></tr></thead>
                                <tbody>{r.tags.into_iter().map(|(k, v)| view! { <tr><td>{k}</td><td>{v}</td></tr> }).collect_view()}</tbody>
                            </table>
                        }.into_any()
                    }}
                    <h3>"Artifacts"</h3>
                    <ArtifactBrowser artifacts=artifacts/>
                }.into_any()
            })}
        </Transition>
    }
}

/// The job training a run: its state and progress, and the end of its log. Rendered from the
/// run page's data, then kept fresh by polling in the browser while the job works; the page
/// reloads when it ends, to show the evaluation.
#[component]
fn TrainingJob(job: RunJob) -> impl IntoView {
    let ctx = use_project();
    let id = job.id;
    let active = job.state == "queued" || job.state == "running";
    let state = RwSignal::new(job);
    let lines = RwSignal::new(Vec::<LogLine>::new());
    let tick = if active { ticker(2) } else { RwSignal::new(0) };
    Effect::new(move |_| {
        tick.track();
        leptos::task::spawn_local(async move {
            if let Ok(j) = get_job(id).await {
                let ended = !j.is_active();
                state.set(RunJob { id: j.id, state: j.state, progress: j.progress, message: j.progress_message, error: j.error });
                if active && ended {
                    reload_page();
                }
            }
            if let Ok(l) = job_logs(id, None).await {
                lines.set(l);
            }
        });
    });
    view! {
        <section class="card" aria-label="Training job">
            <h3>"Training job"</h3>
            <div class="job-line">
                <a href=format!("/p/{}/jobs/{id}", ctx.slug.get_untracked())>{format!("Job #{id}")}</a>" "
                {move || view! { <StateBadge state=state.with(|j| j.state.clone())/> }}" "
                <ProgressBar value=Signal::derive(move || state.with(|j| j.progress)) label="Training progress"/>" "
                <span class="muted">{move || state.with(|j| j.message.clone())}</span>
            </div>
            {move || state.with(|j| j.error.clone()).map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || {
                let all = lines.get();
                let start = all.len().saturating_sub(12);
                (!all.is_empty()).then(|| view! {
                    <pre class="log" aria-label="Training log" aria-live="polite">
                        {all[start..].iter().map(|l| {
                            let class = format!("log-{}", l.stream);
                            view! { <span class=class>{format!("{} {}\n", l.at.format("%H:%M:%S"), l.line)}</span> }
                        }).collect_view()}
                    </pre>
                })
            }}
        </section>
    }
}

/// A hyperparameter search's trials: a table (best first marked) and each searched parameter
/// against the metric; editors can cancel a search that is still running.
#[component]
fn Trials(slug: String, t: TrialsView, cancellable: Option<String>, cancel: ServerAction<CancelSearch>) -> impl IntoView {
    let done = t.rows.iter().filter(|r| r.2 != "RUNNING" && r.2 != "SCHEDULED").count();
    let total = t.rows.len();
    let direction = if t.maximize { "higher is better" } else { "lower is better" };
    let cancel_slug = slug.clone();
    view! {
        <section aria-label="Trials">
            <h3>"Trials"</h3>
            <p class="muted">{format!("{done} of {total} trials ended; ranked by {} ({direction}).", t.metric)}</p>
            {cancellable.map(|run_id| view! {
                <ActionForm action=cancel attr:class="form inline">
                    <input type="hidden" name="slug" value=cancel_slug/>
                    <input type="hidden" name="run_id" value=run_id/>
                    <button type="submit" class="danger" disabled=move || cancel.pending().get()>"Cancel search"</button>
                    {action_error(cancel)}
                </ActionForm>
            })}
            <table class="table compact" aria-label="Trials">
                <thead><tr>
                    <th>"Trial"</th><th>"Status"</th>
                    {t.params.iter().map(|p| view! { <th>{p.clone()}</th> }).collect_view()}
                    <th>{t.metric.clone()}</th>
                </tr></thead>
                <tbody>{t.rows.iter().map(|(id, name, status, values, value)| {
                    let best = t.best_run.as_deref() == Some(id.as_str());
                    view! {
                        <tr class=if best { "best" } else { "" }>
                            <td><a href=format!("/p/{slug}/runs/{id}")>{name.clone()}</a>{best.then(|| " (best)")}</td>
                            <td><StateBadge state=status.to_lowercase()/></td>
                            {values.iter().map(|v| view! { <td>{v.clone()}</td> }).collect_view()}
                            <td>{fmt_num(*value)}</td>
                        </tr>
                    }
                }).collect_view()}</tbody>
            </table>
            <div class="charts">
                {t.charts.iter().map(|(p, svg)| {
                    let label = format!("{p} against {}", t.metric);
                    view! {
                        <figure class="chart" role="img" aria-label=label.clone()>
                            <div inner_html=svg.clone()></div>
                            <figcaption>{label.clone()}</figcaption>
                        </figure>
                    }
                }).collect_view()}
            </div>
        </section>
    }
}

/// A trained run's evaluation: metrics per split, loss curves, ROC and precision–recall curves,
/// confusion matrices, residuals and feature importance.
#[component]
fn Evaluation(ev: RunEvaluationView) -> impl IntoView {
    let mut names: Vec<String> = Vec::new();
    for s in &ev.splits {
        for (k, _) in &s.metrics {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let splits = ev.splits.clone();
    let figure = |svg: Option<String>, label: &'static str, caption: &'static str| {
        svg.map(|svg| view! {
            <figure class="chart" role="img" aria-label=label>
                <div inner_html=svg></div>
                <figcaption>{caption}</figcaption>
            </figure>
        })
    };
    let classes = ev.classes.clone();
    view! {
        <section aria-label="Evaluation">
            <h3>"Evaluation"</h3>
            <table class="table compact" aria-label="Evaluation metrics">
                <thead><tr><th>"Metric"</th>{splits.iter().map(|s| view! { <th>{format!("{} ({} rows)", s.split, s.rows)}</th> }).collect_view()}</tr></thead>
                <tbody>{names.into_iter().map(|k| view! {
                    <tr><td>{k.clone()}</td>{splits.iter().map(|s| {
                        let v = s.metrics.iter().find(|(m, _)| *m == k).map(|(_, v)| *v);
                        view! { <td>{fmt_num(v)}</td> }
                    }).collect_view()}</tr>
                }).collect_view()}</tbody>
            </table>
            <div class="charts">
                {figure(ev.loss_svg.clone(), "Loss per iteration", "Loss per iteration: train and validation")}
                {figure(ev.roc_svg.clone(), "ROC curve", "ROC curve")}
                {figure(ev.pr_svg.clone(), "Precision-recall curve", "Precision–recall curve")}
                {figure(ev.residuals_svg.clone(), "Residuals", "Residuals on the test split")}
                {figure(ev.importance_svg.clone(), "Feature importance", "Feature importance (top 10)")}
            </div>
            {ev.splits.iter().filter(|s| !s.confusion.is_empty()).map(|s| {
                let label = format!("Confusion matrix ({})", s.split);
                view! {
                    <table class="table compact confusion" aria-label=label.clone()>
                        <caption>{label.clone()}" — rows: true class, columns: predicted"</caption>
                        <thead><tr><th></th>{classes.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view()}</tr></thead>
                        <tbody>{s.confusion.iter().enumerate().map(|(i, row)| view! {
                            <tr><th>{classes.get(i).cloned().unwrap_or_default()}</th>{row.iter().map(|n| view! { <td>{*n}</td> }).collect_view()}</tr>
                        }).collect_view()}</tbody>
                    </table>
                }
            }).collect_view()}
        </section>
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

/// The x axis (step or time) and smoothing of the metric charts, as a GET form; `keep` are
/// query values carried along (the compared runs).
#[component]
fn ChartOptionsForm(options: ChartOptions, keep: Vec<(String, String)>) -> impl IntoView {
    view! {
        <form method="get" class="inline" aria-label="Chart options">
            {keep.into_iter().map(|(k, v)| view! { <input type="hidden" name=k value=v/> }).collect_view()}
            <label>"X axis"
                <select name="x">
                    <option value="step" selected=!options.by_time>"Step"</option>
                    <option value="time" selected=options.by_time>"Time since first value"</option>
                </select>
            </label>
            <label>"Smoothing"
                <input type="number" name="smooth" min="0" max="0.99" step="0.05" value=options.smoothing.to_string()/>
            </label>
            <button type="submit">"Redraw charts"</button>
        </form>
    }
}

/// A run's artifacts, one directory at a time (`?dir=`), with a preview of a chosen file
/// (`?file=`): text, the first rows of a CSV, or an image.
#[component]
fn ArtifactBrowser(artifacts: Resource<Result<ArtifactView, AppError>>) -> impl IntoView {
    let view_of = artifacts;
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let v = match view_of.await { Ok(v) => v, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let here = |d: &str, f: &str| {
                    let mut parts = Vec::new();
                    if !d.is_empty() { parts.push(format!("dir={}", url_encode(d))); }
                    if !f.is_empty() { parts.push(format!("file={}", url_encode(f))); }
                    format!("?{}", parts.join("&"))
                };
                let parent = (!v.dir.is_empty()).then(|| v.dir.rsplit_once('/').map_or(String::new(), |(p, _)| p.to_string()));
                let base = v.download_base.clone();
                view! {
                    <nav class="crumbs" aria-label="Artifact folder">
                        <a href=here("", "")>"artifacts"</a>
                        {v.dir.split('/').filter(|p| !p.is_empty()).scan(String::new(), |acc, part| {
                            if !acc.is_empty() { acc.push('/'); }
                            acc.push_str(part);
                            Some((acc.clone(), part.to_string()))
                        }).map(|(path, part)| view! { " / " <a href=here(&path, "")>{part}</a> }).collect_view()}
                    </nav>
                    {if v.entries.is_empty() {
                        view! { <p class="empty">"No artifacts logged."</p> }.into_any()
                    } else {
                        let dir_now = v.dir.clone();
                        view! {
                            <table class="table compact" aria-label="Artifacts">
                                <thead><tr><th>"Name"</th><th>"Size"</th><th>"Download"</th></tr></thead>
                                <tbody>
                                    {parent.map(|p| view! { <tr><td><a href=here(&p, "")>".."</a></td><td></td><td></td></tr> })}
                                    {v.entries.into_iter().map(|(path, name, is_dir, size)| {
                                        if is_dir {
                                            view! { <tr><td><a href=here(&path, "")>{format!("{name}/")}</a></td><td></td><td></td></tr> }.into_any()
                                        } else {
                                            view! { <tr>
                                                <td><a href=here(&dir_now, &path) aria-label=format!("Preview {name}")>{name.clone()}</a></td>
                                                <td>{size.map(fmt_bytes).unwrap_or_default()}</td>
                                                <td><a href=format!("{base}/{path}") download=name.clone() aria-label=format!("Download {name}")>"Download"</a></td>
                                            </tr> }.into_any()
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }}
                    {v.preview.map(|p| {
                        let label = format!("Preview of {}", p.path);
                        let body = match p.kind {
                            PreviewKind::Text { text, truncated } => view! {
                                <pre class="artifact-text">{text}</pre>
                                {truncated.then(|| view! { <p class="muted">"Only the beginning of the file is shown."</p> })}
                            }.into_any(),
                            PreviewKind::Table { header, rows, truncated } => view! {
                                <div class="scroll-x"><table class="table compact" aria-label=format!("Rows of {}", p.path)>
                                    <thead><tr>{header.into_iter().map(|h| view! { <th>{h}</th> }).collect_view()}</tr></thead>
                                    <tbody>{rows.into_iter().map(|r| view! { <tr>{r.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr> }).collect_view()}</tbody>
                                </table></div>
                                {truncated.then(|| view! { <p class="muted">"Only the first rows are shown."</p> })}
                            }.into_any(),
                            PreviewKind::Image => view! { <img class="artifact-image" src=format!("{base}/{}", p.path) alt=p.path.clone()/> }.into_any(),
                            PreviewKind::Binary => view! { <p class="muted">{format!("A binary file of {}; download it to open it.", fmt_bytes(p.size))}</p> }.into_any(),
                        };
                        view! { <section class="artifact-preview" aria-label=label><h4>{p.path.clone()}</h4>{body}</section> }
                    })}
                }.into_any()
            })}
        </Suspense>
    }
}

/// Registers the run's model as the next version of a project model (a new one by a new name).
#[component]
fn RegisterModel(slug: String, run_id: String, models: Vec<String>) -> impl IntoView {
    let register = ServerAction::<RegisterRunModel>::new();
    let to = slug.clone();
    Effect::new(move |_| {
        if let Some(Ok(name)) = register.value().get() {
            go_to(&format!("/p/{to}/models/{name}"));
        }
    });
    view! {
        <ActionForm action=register attr:class="form inline" attr:aria-label="Register model">
            <input type="hidden" name="slug" value=slug/>
            <input type="hidden" name="run_id" value=run_id/>
            <label>"Registered model name"
                <input type="text" name="model" required maxlength="256" list="registered-models" placeholder="a new or existing model"/>
            </label>
            <datalist id="registered-models">{models.into_iter().map(|m| view! { <option value=m></option> }).collect_view()}</datalist>
            <button type="submit" disabled=move || register.pending().get()>"Register model"</button>
            {action_error(register)}
        </ActionForm>
    }
}
