//! Endpoints: the project's list, and an endpoint's page with its deployed models, the traffic
//! split, a deploy form and "try it" (a prediction from a form, with curl and Python snippets).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::endpoints::{get_endpoint_page, list_endpoints, CreateEndpoint, DeleteEndpoint, DeployModel, SetExplanation, SetLogSampling, SetTrafficSplit, TryPrediction, UndeployModel};
use crate::components::widgets::{absolute_url, action_error, go_to, successes, ErrorBox, Loading};
use crate::model::{fmt_time, DeployChoice, EndpointPage, TryItAnswer, TryItField};
use crate::pages::project::use_project;

#[component]
pub fn Endpoints() -> impl IntoView {
    let ctx = use_project();
    let create = ServerAction::<CreateEndpoint>::new();
    Effect::new(move |_| {
        if let Some(Ok(name)) = create.value().get() {
            go_to(&format!("/p/{}/endpoints/{name}", ctx.slug.get_untracked()));
        }
    });
    let list = Resource::new(move || ctx.slug.get(), list_endpoints);
    view! {
        <Title text="Endpoints · Trellis"/>
        <h2>"Endpoints"</h2>
        <p class="muted">"An endpoint serves registered model versions over HTTP — Vertex-style "<code>":predict"</code>
            " and the Open Inference Protocol — splitting its traffic between them."</p>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let rows = match list.await { Ok(r) => r, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                if rows.is_empty() {
                    return view! { <p class="empty">"No endpoints yet."</p> }.into_any();
                }
                view! {
                    <table class="table" aria-label="Endpoints">
                        <thead><tr><th>"Name"</th><th>"Inference name"</th><th>"Deployed models"</th><th>"Description"</th><th>"Created"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|e| view! {
                                <tr>
                                    <td><a href=format!("/p/{slug}/endpoints/{}", e.name)>{e.name.clone()}</a></td>
                                    <td><code>{e.oip_name.clone()}</code></td>
                                    <td>{e.deployed.iter().map(|d| view! { <span class="chip">{format!("{} · {}%", d.describe(), d.traffic)}</span> }).collect_view()}</td>
                                    <td>{e.description.clone()}</td>
                                    <td>{fmt_time(&e.created)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let writable = ctx.project.await.map(|p| p.can_write()).unwrap_or(false);
                writable.then(|| view! {
                    <ActionForm action=create attr:class="form" attr:aria-label="New endpoint">
                        <h3>"New endpoint"</h3>
                        <input type="hidden" name="slug" value=ctx.slug.get_untracked()/>
                        <label>"Endpoint name"<input type="text" name="name" required maxlength="63" pattern="[a-z0-9]([a-z0-9\\-]*[a-z0-9])?"
                            title="lowercase letters, digits and inner hyphens"/></label>
                        <label>"Description"<input type="text" name="description" maxlength="10000"/></label>
                        <button type="submit" disabled=move || create.pending().get()>"Create endpoint"</button>
                        {action_error(create)}
                    </ActionForm>
                })
            })}
        </Suspense>
    }
}

#[component]
pub fn EndpointDetail() -> impl IntoView {
    let ctx = use_project();
    let params = use_params_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let deploy = ServerAction::<DeployModel>::new();
    let undeploy = ServerAction::<UndeployModel>::new();
    let split = ServerAction::<SetTrafficSplit>::new();
    let sampling = ServerAction::<SetLogSampling>::new();
    let explanation = ServerAction::<SetExplanation>::new();
    let delete = ServerAction::<DeleteEndpoint>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            go_to(&format!("/p/{}/endpoints", ctx.slug.get_untracked()));
        }
    });
    let changes = [successes(deploy), successes(undeploy), successes(split), successes(sampling), successes(explanation)];
    let page = Resource::new(move || (ctx.slug.get(), name.get(), changes.map(|c| c.get())), |(s, n, _)| get_endpoint_page(s, n));
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let p = match page.await { Ok(p) => p, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                let slug = ctx.slug.get_untracked();
                let e = p.endpoint.clone();
                view! {
                    <Title text=format!("{} · Endpoints · Trellis", e.name)/>
                    <p><a href=format!("/p/{slug}/endpoints")>"← Endpoints"</a></p>
                    <h2>"Endpoint "<code>{e.name.clone()}</code></h2>
                    {(!e.description.is_empty()).then(|| view! { <p>{e.description.clone()}</p> })}
                    <p class="muted">"Open Inference Protocol name: "<code>{e.oip_name.clone()}</code>
                        " — "<code>{format!("POST /v2/models/{}/infer", e.oip_name)}</code></p>
                    <Deployed p=p.clone() undeploy=undeploy explanation=explanation/>
                    {(p.can_write && e.deployed.len() > 1).then(|| view! { <TrafficSplit p=p.clone() action=split/> })}
                    {p.can_write.then(|| view! { <DeployForm p=p.clone() action=deploy/> })}
                    {(!p.fields.is_empty()).then(|| view! { <TryIt p=p.clone()/> })}
                    <Served p=p.clone() sampling=sampling/>
                    {(p.can_write && e.deployed.is_empty()).then(|| view! {
                        <ActionForm action=delete attr:class="form" attr:aria-label="Delete endpoint">
                            <h3>"Delete endpoint"</h3>
                            <input type="hidden" name="slug" value=slug.clone()/>
                            <input type="hidden" name="endpoint" value=e.name.clone()/>
                            <p class="muted">"The endpoint serves nothing; deleting it frees its name. Its request statistics and logs go with it."</p>
                            <button type="submit" class="danger" disabled=move || delete.pending().get()>"Delete endpoint"</button>
                            {action_error(delete)}
                        </ActionForm>
                    })}
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn Deployed(p: EndpointPage, undeploy: ServerAction<UndeployModel>, explanation: ServerAction<SetExplanation>) -> impl IntoView {
    let ctx = use_project();
    let e = p.endpoint;
    if e.deployed.is_empty() {
        return view! { <section aria-label="Deployed models"><h3>"Deployed models"</h3><p class="empty">"Nothing is deployed yet."</p></section> }.into_any();
    }
    let can_write = p.can_write;
    let split_label = format!("Traffic split: {}", e.deployed.iter().map(|d| format!("{} {}%", d.describe(), d.traffic)).collect::<Vec<_>>().join(", "));
    view! {
        <section aria-label="Deployed models">
            <h3>"Deployed models"</h3>
            <div class="traffic-bar" role="img" aria-label=split_label>
                {e.deployed.iter().enumerate().filter(|(_, d)| d.traffic > 0).map(|(i, d)| view! {
                    <span class=format!("traffic-part part-{}", i % 6) style=format!("width: {}%", d.traffic)>{format!("{} {}%", d.describe(), d.traffic)}</span>
                }).collect_view()}
            </div>
            <table class="table" aria-label="Deployed models">
                <thead><tr><th>"Deployed model"</th><th>"Model"</th><th>"Traffic"</th><th>"Explanation"</th>{can_write.then(|| view! { <th>"Actions"</th> })}</tr></thead>
                <tbody>
                    {e.deployed.iter().map(|d| {
                        let (slug, endpoint, id) = (ctx.slug.get_untracked(), e.name.clone(), d.id.clone());
                        let label = format!("Undeploy {}", d.describe());
                        let (slug2, endpoint2, id2) = (slug.clone(), endpoint.clone(), id.clone());
                        let method = d.explanation_method.clone();
                        let setting = d.explanation_setting.map(|n| n.to_string()).unwrap_or_default();
                        let shown = match (d.explanation_method.as_str(), d.explanation_setting) {
                            ("sampled_shapley", Some(n)) => format!("sampled Shapley, {n} paths"),
                            ("integrated_gradients", Some(n)) => format!("integrated gradients, {n} steps"),
                            ("tree_shap", _) => "TreeSHAP (exact)".to_string(),
                            (other, _) => other.to_string(),
                        };
                        let describe = d.describe();
                        let (form_label, method_label, count_label, save_label) = (
                            format!("Explanation settings for {describe}"),
                            format!("Explanation method for {describe}"),
                            format!("Paths or steps for {describe}"),
                            format!("Save explanation settings for {describe}"),
                        );
                        view! {
                            <tr>
                                <td><code>{d.id.clone()}</code></td>
                                <td><a href=format!("/p/{}/models/{}", ctx.slug.get_untracked(), d.model)>{d.describe()}</a></td>
                                <td>{format!("{}%", d.traffic)}</td>
                                <td>{shown}</td>
                                {can_write.then(|| view! {
                                    <td>
                                        <ActionForm action=explanation attr:class="inline" attr:aria-label=form_label>
                                            <input type="hidden" name="slug" value=slug2/>
                                            <input type="hidden" name="endpoint" value=endpoint2/>
                                            <input type="hidden" name="deployed_model_id" value=id2/>
                                            <select name="method" aria-label=method_label>
                                                {[("sampled_shapley", "Sampled Shapley"), ("tree_shap", "TreeSHAP"), ("integrated_gradients", "Integrated gradients")].into_iter().map(|(v, l)| view! {
                                                    <option value=v selected=method == v>{l}</option>
                                                }).collect_view()}
                                            </select>
                                            <input type="number" name="setting" min="1" max="100" step="1" value=setting placeholder="default"
                                                aria-label=count_label/>
                                            <button type="submit" class="secondary" aria-label=save_label>"Save"</button>
                                        </ActionForm>
                                        <ActionForm action=undeploy attr:class="inline">
                                            <input type="hidden" name="slug" value=slug/>
                                            <input type="hidden" name="endpoint" value=endpoint/>
                                            <input type="hidden" name="deployed_model_id" value=id/>
                                            <button type="submit" class="secondary" aria-label=label>"Undeploy"</button>
                                        </ActionForm>
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {action_error(undeploy)}
            {action_error(explanation)}
        </section>
    }
    .into_any()
}

#[component]
fn TrafficSplit(p: EndpointPage, action: ServerAction<SetTrafficSplit>) -> impl IntoView {
    let ctx = use_project();
    let deployed = p.endpoint.deployed.clone();
    let values = RwSignal::new(deployed.iter().map(|d| d.traffic.to_string()).collect::<Vec<_>>());
    let endpoint = p.endpoint.name.clone();
    let ids: Vec<String> = deployed.iter().map(|d| d.id.clone()).collect();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(SetTrafficSplit {
            slug: ctx.slug.get_untracked(),
            endpoint: endpoint.clone(),
            split: ids.iter().cloned().zip(values.get_untracked()).collect(),
        });
    };
    let total = move || values.get().iter().map(|v| v.trim().parse::<i32>().unwrap_or(0)).sum::<i32>();
    view! {
        <form class="form" aria-label="Traffic split" on:submit=on_submit>
            <h3>"Traffic split"</h3>
            {deployed.iter().enumerate().map(|(i, d)| view! {
                <label>{format!("Traffic for {} (%)", d.describe())}
                    <input type="number" min="0" max="100" step="1" required prop:value=move || values.get().get(i).cloned().unwrap_or_default()
                        on:input=move |ev| values.update(|v| v[i] = event_target_value(&ev))/>
                </label>
            }).collect_view()}
            <p class="muted" aria-live="polite">{move || format!("Total: {}% (must be 100%)", total())}</p>
            <button type="submit" disabled=move || action.pending().get()>"Save split"</button>
            {action_error(action)}
        </form>
    }
}

#[component]
fn DeployForm(p: EndpointPage, action: ServerAction<DeployModel>) -> impl IntoView {
    let ctx = use_project();
    if p.models.is_empty() {
        return view! { <p class="empty">"No registered models to deploy yet: register a trained run's model from its run page."</p> }.into_any();
    }
    let first = p.endpoint.deployed.is_empty();
    view! {
        <ActionForm action=action attr:class="form" attr:aria-label="Deploy a model">
            <h3>"Deploy a model"</h3>
            <input type="hidden" name="slug" value=ctx.slug.get_untracked()/>
            <input type="hidden" name="endpoint" value=p.endpoint.name.clone()/>
            <ModelTargetFields models=p.models.clone()/>
            <label>"Traffic (%)"
                <input type="number" name="traffic" min="0" max="100" step="1" value=if first { "100" } else { "0" }/>
            </label>
            <label>"Explanation method"
                <select name="explanation">
                    <option value="sampled_shapley">"Sampled Shapley (any model)"</option>
                    <option value="tree_shap">"TreeSHAP (tree models, exact)"</option>
                    <option value="integrated_gradients">"Integrated gradients (linear models)"</option>
                </select>
            </label>
            <p class="muted">"The other deployed models keep their proportions of the traffic that is left."</p>
            <button type="submit" disabled=move || action.pending().get()>"Deploy"</button>
            {action_error(action)}
        </ActionForm>
    }
    .into_any()
}

#[component]
fn TryIt(p: EndpointPage) -> impl IntoView {
    let ctx = use_project();
    let fields: Vec<TryItField> = p.fields.clone();
    let values = RwSignal::new(fields.iter().map(|f| f.example.clone()).collect::<Vec<_>>());
    let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
    let endpoint = p.endpoint.name.clone();
    let predict = ServerAction::<TryPrediction>::new();
    let on_submit = {
        let endpoint = endpoint.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            predict.dispatch(TryPrediction { slug: ctx.slug.get_untracked(), endpoint: endpoint.clone(), values: names.iter().cloned().zip(values.get_untracked()).collect() });
        }
    };
    let path = format!("/v1/projects/{}/endpoints/{endpoint}:predict", ctx.slug.get_untracked());
    view! {
        <section aria-label="Try it">
            <h3>"Try it"</h3>
            <p class="muted">"Prefilled from a row of the training data. Leave a value empty for a missing value."</p>
            <form class="form grid-form" aria-label="Prediction input" on:submit=on_submit>
                {fields.iter().enumerate().map(|(i, f)| {
                    let list = (!f.categories.is_empty()).then(|| format!("try-{i}"));
                    let list_attr = list.clone().unwrap_or_default();
                    view! {
                        <label>{f.name.clone()}
                            <input type="text" list=list_attr placeholder=f.kind.clone() prop:value=move || values.get().get(i).cloned().unwrap_or_default()
                                on:input=move |ev| values.update(|v| v[i] = event_target_value(&ev))/>
                        </label>
                        {list.map(|id| view! { <datalist id=id>{f.categories.iter().map(|c| view! { <option value=c.clone()></option> }).collect_view()}</datalist> })}
                    }
                }).collect_view()}
                <button type="submit" disabled=move || predict.pending().get()>"Predict"</button>
            </form>
            {action_error(predict)}
            {move || predict.value().get().and_then(|r| r.ok()).map(|a| view! { <Answer a=a path=path.clone()/> })}
        </section>
    }
}

#[component]
fn Answer(a: TryItAnswer, path: String) -> impl IntoView {
    let url = absolute_url(&path);
    let body = a.request_json.clone();
    let curl = format!(
        "curl -X POST '{url}' \\\n  -H \"Authorization: Bearer $TRELLIS_TOKEN\" -H 'Content-Type: application/json' \\\n  -d '{}'",
        body.replace('\'', "'\\''")
    );
    let python = format!(
        "import os, requests\n\nresponse = requests.post(\n    \"{url}\",\n    headers={{\"Authorization\": f\"Bearer {{os.environ['TRELLIS_TOKEN']}}\"}},\n    json={},\n)\nprint(response.json()[\"predictions\"])",
        body.replace("null", "None").replace("true", "True").replace("false", "False")
    );
    view! {
        <div class="prediction" aria-label="Prediction" role="region">
            <p>"Prediction: "<strong>{a.answer.clone()}</strong>
                <span class="muted">{format!(" — by {} (deployed model {})", a.model_version, a.deployed_model_id)}</span></p>
            {a.scores_svg.clone().map(|svg| view! { <div class="chart" role="img" aria-label="Class probabilities" inner_html=svg></div> })}
            {a.attributions_svg.clone().map(|svg| view! {
                <h4>"Why: feature attributions"</h4>
                <p class="muted">{format!("{} of '{}': {} at the baseline → {} for this instance ({})",
                    if a.scores.is_empty() { "Value" } else { "Score" }, a.explained, fmt_value(a.baseline_output), fmt_value(a.instance_output), a.method.replace('_', " "))}</p>
                <div class="chart" role="img" aria-label="Feature attributions" inner_html=svg></div>
            })}
            {(!a.scores.is_empty()).then(|| view! {
                <table class="table compact" aria-label="Class probabilities">
                    <thead><tr><th>"Class"</th><th>"Probability"</th></tr></thead>
                    <tbody>{a.scores.iter().map(|(c, s)| view! { <tr><td>{c.clone()}</td><td>{format!("{s:.4}")}</td></tr> }).collect_view()}</tbody>
                </table>
            })}
            <h4>"curl"</h4>
            <pre class="code" aria-label="curl command">{curl}</pre>
            <h4>"Python"</h4>
            <pre class="code" aria-label="Python snippet">{python}</pre>
        </div>
    }
}

fn fmt_value(x: f64) -> String {
    if x.is_finite() { format!("{x:.4}") } else { "—".into() }
}

/// The last hour: requests and latency per deployed model, drawn per minute; log sampling and
/// the newest sampled requests.
#[component]
fn Served(p: EndpointPage, sampling: ServerAction<SetLogSampling>) -> impl IntoView {
    let ctx = use_project();
    view! {
        <section aria-label="Traffic and latency">
            <h3>"Traffic and latency (last hour)"</h3>
            {if p.served.is_empty() {
                view! { <p class="empty">"No requests in the last hour."</p> }.into_any()
            } else {
                view! {
                    <div class="charts">
                        <figure><figcaption>"Requests per minute"</figcaption>
                            <div class="chart" role="img" aria-label="Requests per minute" inner_html=p.requests_svg.clone()></div></figure>
                        <figure><figcaption>"Latency (ms), p50 and p95"</figcaption>
                            <div class="chart" role="img" aria-label="Latency per minute" inner_html=p.latency_svg.clone()></div></figure>
                    </div>
                    <table class="table compact" aria-label="Requests per deployed model">
                        <thead><tr><th>"Deployed model"</th><th>"Version"</th><th>"Requests"</th><th>"Errors"</th><th>"p50"</th><th>"p95"</th><th>"p99"</th></tr></thead>
                        <tbody>{p.served.iter().map(|r| view! {
                            <tr><td><code>{r.deployed_model_id.clone()}</code></td><td>{r.model_version.clone()}</td><td>{r.requests}</td>
                                <td>{r.errors}</td><td>{r.p50.clone()}</td><td>{r.p95.clone()}</td><td>{r.p99.clone()}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                }.into_any()
            }}
            <p class="muted">"Metrics for Prometheus at "<code>"/metrics"</code>" ("<code>"trellis_predictions_total"</code>", "
                <code>"trellis_prediction_latency_seconds"</code>")."</p>
            {p.can_write.then(|| view! {
                <ActionForm action=sampling attr:class="form inline" attr:aria-label="Request logging">
                    <input type="hidden" name="slug" value=ctx.slug.get_untracked()/>
                    <input type="hidden" name="endpoint" value=p.endpoint.name.clone()/>
                    <label>"Log this share of requests (%)"
                        <input type="number" name="percent" min="0" max="100" step="any" value=format!("{}", p.log_sample_rate * 100.0)/>
                    </label>
                    <button type="submit" disabled=move || sampling.pending().get()>"Save logging"</button>
                    {action_error(sampling)}
                </ActionForm>
            })}
            {(!p.logs.is_empty()).then(|| view! {
                <table class="table compact" aria-label="Logged requests">
                    <thead><tr><th>"Time"</th><th>"Version"</th><th>"Latency"</th><th>"Result"</th><th>"Request"</th><th>"Response"</th></tr></thead>
                    <tbody>{p.logs.iter().map(|l| view! {
                        <tr><td>{fmt_time(&l.at)}</td><td>{l.model_version.clone()}</td><td>{l.latency.clone()}</td>
                            <td>{if l.ok { "ok" } else { "error" }}</td><td><code class="wrap">{l.request.clone()}</code></td><td><code class="wrap">{l.response.clone()}</code></td></tr>
                    }).collect_view()}</tbody>
                </table>
            })}
        </section>
    }
}

/// The `model` and `target` fields of a form: a registered model, then one of its versions
/// (`3`) or aliases (`@champion`).
#[component]
pub fn ModelTargetFields(models: Vec<DeployChoice>) -> impl IntoView {
    let first = models.first().map(|m| m.model.clone()).unwrap_or_default();
    let stored: StoredValue<Vec<DeployChoice>> = StoredValue::new(models.clone());
    let model = RwSignal::new(first);
    let choice = Memo::new(move |_| stored.with_value(|m| m.iter().find(|c| c.model == model.get()).cloned()));
    view! {
        <label>"Model"
            <select name="model" on:change=move |ev| model.set(event_target_value(&ev))>
                {models.iter().map(|m| view! { <option value=m.model.clone()>{m.model.clone()}</option> }).collect_view()}
            </select>
        </label>
        <label>"Version or alias"
            <select name="target">
                {move || choice.get().map(|c| view! {
                    {c.versions.iter().rev().map(|v| view! { <option value=v.to_string()>{format!("v{v}")}</option> }).collect_view()}
                    {c.aliases.iter().map(|a| view! { <option value=format!("@{a}")>{format!("@{a} (follows the alias)")}</option> }).collect_view()}
                })}
            </select>
        </label>
    }
}
