//! Jobs: a live list per project (and for the instance), and a job's detail with live logs.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::jobs::{get_job, job_logs, list_jobs, CancelJob};
use crate::components::widgets::{action_error, ticker, ErrorBox, Loading, ProgressBar, StateBadge};
use crate::model::{fmt_opt_time, fmt_time, JobRow};

fn jobs_table(list: Vec<JobRow>, base: String) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"No jobs yet. Jobs appear here when work runs in the background: dataset profiling, training, batch prediction, pipelines."</p> }.into_any();
    }
    view! {
        <table class="table" aria-label="Jobs">
            <thead><tr><th>"Job"</th><th>"Kind"</th><th>"State"</th><th>"Progress"</th><th>"Created"</th><th>"Finished"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|j| {
                    let progress = j.progress;
                    view! {
                        <tr>
                            <td><a href=format!("{base}/{}", j.id)>{format!("#{}", j.id)}</a></td>
                            <td><code>{j.kind.clone()}</code></td>
                            <td><StateBadge state=j.state.clone()/></td>
                            <td><ProgressBar value=Signal::derive(move || progress) label=format!("Progress of job {}", j.id)/></td>
                            <td>{fmt_time(&j.created_at)}</td>
                            <td>{fmt_opt_time(&j.finished_at)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
pub fn ProjectJobs() -> impl IntoView {
    let ctx = crate::pages::project::use_project();
    let tick = ticker(2);
    let jobs = Resource::new(move || (ctx.slug.get(), tick.get()), |(s, _)| list_jobs(Some(s), None));
    view! {
        <Title text="Jobs · Trellis"/>
        <h2>"Jobs"</h2>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match jobs.await {
                    Ok(list) => jobs_table(list, format!("/p/{}/jobs", ctx.slug.get_untracked())).into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn InstanceJobs() -> impl IntoView {
    let tick = ticker(2);
    let jobs = Resource::new(move || tick.get(), |_| list_jobs(None, None));
    view! {
        <Title text="System jobs · Trellis"/>
        <h1>"System jobs"</h1>
        <p class="muted">"Housekeeping that runs for the whole instance."</p>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match jobs.await {
                    Ok(list) => jobs_table(list, "/admin/jobs".to_string()).into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn JobDetail() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0));
    let tick = ticker(2);
    let cancel = ServerAction::<CancelJob>::new();
    let job = Resource::new(move || (id.get(), tick.get(), cancel.version().get()), |(id, _, _)| get_job(id));
    let logs = Resource::new(move || (id.get(), tick.get()), |(id, _)| job_logs(id, None));
    view! {
        <Title text=move || format!("Job #{} · Trellis", id.get())/>
        <h2>{move || format!("Job #{}", id.get())}</h2>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let j = match job.await { Ok(j) => j, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let progress = j.progress;
                let active = j.is_active();
                view! {
                    <section class="card">
                        <dl class="facts">
                            <dt>"Kind"</dt><dd><code>{j.kind.clone()}</code></dd>
                            <dt>"State"</dt><dd><StateBadge state=j.state.clone()/>{j.cancel_requested.then(|| " (cancel requested)")}</dd>
                            <dt>"Progress"</dt><dd><ProgressBar value=Signal::derive(move || progress) label="Job progress"/>" "{j.progress_message.clone()}</dd>
                            <dt>"Attempts"</dt><dd>{format!("{} of {}", j.attempts, j.max_attempts)}</dd>
                            <dt>"Created"</dt><dd>{fmt_time(&j.created_at)}</dd>
                            <dt>"Started"</dt><dd>{fmt_opt_time(&j.started_at)}</dd>
                            <dt>"Finished"</dt><dd>{fmt_opt_time(&j.finished_at)}</dd>
                        </dl>
                        {j.error.clone().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                        {(active && !j.cancel_requested).then(|| view! {
                            <ActionForm action=cancel>
                                <input type="hidden" name="id" value=j.id.to_string()/>
                                <button type="submit" class="danger">"Cancel job"</button>
                            </ActionForm>
                        })}
                        {action_error(cancel)}
                    </section>
                }.into_any()
            })}
        </Transition>
        <h3>"Log"</h3>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match logs.await {
                    Ok(lines) if lines.is_empty() => view! { <p class="muted">"No log lines yet."</p> }.into_any(),
                    Ok(lines) => view! {
                        <pre class="log" aria-label="Job log" aria-live="polite">
                            {lines.into_iter().map(|l| {
                                let class = format!("log-{}", l.stream);
                                view! { <span class=class>{format!("{} {}\n", l.at.format("%H:%M:%S"), l.line)}</span> }
                            }).collect_view()}
                        </pre>
                    }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}
