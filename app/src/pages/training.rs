//! Train a model: from a profiled dataset version with a built-in algorithm, or with the user's
//! own code (a custom job). Each form starts a job and opens the run it trains.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::training::{get_training_options, StartTraining, BEST_MODEL};
use crate::components::widgets::{action_error, go_to, ErrorBox, Loading, ProgressBar};
use crate::model::{SearchField, TrainingForm, TrainingOptions};
use crate::pages::project::use_project;

#[component]
pub fn TrainModel() -> impl IntoView {
    let ctx = use_project();
    let options = Resource::new(move || ctx.slug.get(), get_training_options);
    let start = ServerAction::<StartTraining>::new();
    Effect::new(move |_| {
        if let Some(Ok(run_id)) = start.value().get() {
            go_to(&format!("/p/{}/runs/{run_id}", ctx.slug.get_untracked()));
        }
    });
    view! {
        <Title text="Train a model · Trellis"/>
        <h2>"Train a model"</h2>
        <p class="muted">"Built-in training on a profiled dataset version: preprocessing is learned on the training split, \
            the model is evaluated on the validation and test splits, and everything lands in an experiment run."</p>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let o = match options.await { Ok(o) => o, Err(e) => return view! { <ErrorBox error=e/> }.into_any() };
                if !o.can_write {
                    return view! { <p class="empty">"Only editors and admins of this project can train models."</p> }.into_any();
                }
                let custom = o.clone();
                view! {
                    {if o.versions.is_empty() {
                        view! { <p class="empty">"No profiled dataset version yet: upload a dataset first."</p> }.into_any()
                    } else {
                        view! { <TrainingFormView options=o action=start/> }.into_any()
                    }}
                    <CustomJobFormView options=custom/>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
fn TrainingFormView(options: TrainingOptions, action: ServerAction<StartTraining>) -> impl IntoView {
    let ctx = use_project();
    let versions = StoredValue::new(options.versions.clone());
    let algorithms = StoredValue::new(options.algorithms.clone());
    let version = RwSignal::new(options.versions[0].key());
    let target = RwSignal::new(String::new());
    let task = RwSignal::new("binary".to_string());
    let algorithm = RwSignal::new("gradient_boosting".to_string());
    let params = RwSignal::new(BTreeMap::<String, String>::new());
    let excluded = RwSignal::new(BTreeSet::<String>::new());
    let experiment = RwSignal::new(options.experiments.first().cloned().unwrap_or_else(|| "training".to_string()));
    let seed = RwSignal::new("0".to_string());
    let run_name = RwSignal::new(String::new());
    let budget = RwSignal::new("5".to_string());
    let tune = RwSignal::new(false);
    let space = RwSignal::new(BTreeMap::<String, SearchField>::new());
    let method = RwSignal::new("random".to_string());
    let trials = RwSignal::new("10".to_string());
    let parallelism = RwSignal::new("2".to_string());
    let columns = Memo::new(move |_| versions.with_value(|vs| vs.iter().find(|v| v.key() == version.get()).map(|v| v.columns.clone()).unwrap_or_default()));
    // A new version: the last column as the target (when the chosen one is not in it), with the
    // task that fits it.
    Effect::new(move |_| {
        let cols = columns.get();
        if !cols.iter().any(|c| c.name == target.get_untracked()) {
            if let Some(last) = cols.last() {
                target.set(last.name.clone());
                task.set(last.suggested_task().to_string());
            }
            excluded.set(BTreeSet::new());
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let algo = algorithm.get_untracked();
        let algo_is_single = algo != BEST_MODEL;
        let known: Vec<String> = algorithms.with_value(|a| a.iter().find(|x| x.name == algo).map(|x| x.params.iter().map(|p| p.name.clone()).collect()).unwrap_or_default());
        let chosen_target = target.get_untracked();
        let skip = excluded.get_untracked();
        let features: Vec<String> = if skip.is_empty() {
            Vec::new()
        } else {
            columns.get_untracked().into_iter().map(|c| c.name).filter(|n| *n != chosen_target && !skip.contains(n)).collect()
        };
        action.dispatch(StartTraining {
            slug: ctx.slug.get_untracked(),
            form: TrainingForm {
                experiment: experiment.get_untracked(),
                dataset_version: version.get_untracked(),
                target: chosen_target,
                task: task.get_untracked(),
                algorithm: algo,
                params: params.get_untracked().into_iter().filter(|(k, _)| known.contains(k)).collect(),
                features,
                seed: seed.get_untracked(),
                run_name: run_name.get_untracked(),
                time_budget_minutes: budget.get_untracked(),
                tune: tune.get_untracked() && algo_is_single,
                space: space.get_untracked().into_iter().filter(|(k, _)| known.contains(k)).collect(),
                method: method.get_untracked(),
                max_trials: trials.get_untracked(),
                parallelism: parallelism.get_untracked(),
            },
        });
    };
    view! {
        <form class="form" aria-label="Training" on:submit=on_submit>
            <label>"Experiment"
                <input type="text" name="experiment" list="experiment-names" required maxlength="500"
                    prop:value=move || experiment.get() on:input=move |ev| experiment.set(event_target_value(&ev))/>
            </label>
            <datalist id="experiment-names">
                {options.experiments.iter().map(|e| view! { <option value=e.clone()></option> }).collect_view()}
            </datalist>
            <label>"Dataset version"
                <select name="dataset_version" on:change=move |ev| version.set(event_target_value(&ev))>
                    <VersionOptions versions=options.versions.clone() chosen=version/>
                </select>
            </label>
            <label>"Target column"
                <select name="target" on:change=move |ev| {
                    let t = event_target_value(&ev);
                    if let Some(c) = columns.get_untracked().iter().find(|c| c.name == t) {
                        task.set(c.suggested_task().to_string());
                    }
                    target.set(t);
                }>
                    {move || columns.get().into_iter().map(|c| {
                        let name = c.name.clone();
                        let text = format!("{} ({}, {} distinct)", c.name, c.column_type, c.distinct);
                        view! { <option value=name.clone() selected=move || target.get() == name>{text}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"Task"
                <select name="task" on:change=move |ev| task.set(event_target_value(&ev))>
                    {["binary", "multiclass", "regression"].into_iter().map(|t| view! {
                        <option value=t selected=move || task.get() == t>{t}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Algorithm"
                <select name="algorithm" on:change=move |ev| { algorithm.set(event_target_value(&ev)); params.set(BTreeMap::new()); space.set(BTreeMap::new()); }>
                    {options.algorithms.iter().map(|a| {
                        let name = a.name.clone();
                        let text = a.name.replace('_', " ");
                        view! { <option value=name.clone() selected=move || algorithm.get() == name>{text}</option> }
                    }).collect_view()}
                    <option value=BEST_MODEL selected=move || algorithm.get() == BEST_MODEL>"best model: try every algorithm"</option>
                </select>
            </label>
            {move || (algorithm.get() == BEST_MODEL).then(|| view! {
                <label>"Time budget (minutes)"
                    <input type="number" name="time_budget_minutes" min="0.2" max="10080" step="any" prop:value=move || budget.get()
                        on:input=move |ev| budget.set(event_target_value(&ev))/>
                    <small class="muted">"Each algorithm with its defaults first, then random hyperparameters from each one's default space, \
                        until 30 trials or the budget run out; the best by the validation metric wins. Trials run as child runs."</small>
                </label>
            })}
            {move || (algorithm.get() != BEST_MODEL).then(|| view! {
                <label class="check">
                    <input type="checkbox" prop:checked=move || tune.get() on:change=move |ev| tune.set(event_target_checked(&ev))/>
                    " Search hyperparameters (a tuning job: one child run per trial, the best by the validation metric)"
                </label>
            })}
            {move || (tune.get() && algorithm.get() != BEST_MODEL).then(|| view! {
                <div class="row">
                    <label>"Search method"
                        <select on:change=move |ev| method.set(event_target_value(&ev))>
                            <option value="random" selected=move || method.get() == "random">"random"</option>
                            <option value="grid" selected=move || method.get() == "grid">"grid (values and whole-number ranges)"</option>
                        </select>
                    </label>
                    <label>"Trials"
                        <input type="number" min="1" max="1000" step="1" prop:value=move || trials.get() on:input=move |ev| trials.set(event_target_value(&ev))/>
                    </label>
                    <label>"Trials at once"
                        <input type="number" min="1" max="100" step="1" prop:value=move || parallelism.get() on:input=move |ev| parallelism.set(event_target_value(&ev))/>
                    </label>
                </div>
            })}
            <fieldset>
                <legend>{move || if tune.get() { "Hyperparameters: fixed (empty: the default), or searched over a range or values" } else { "Hyperparameters (empty: the default shown)" }}</legend>
                {move || {
                    let algo = algorithm.get();
                    let searching = tune.get() && algo != BEST_MODEL;
                    algorithms.with_value(|a| a.iter().find(|x| x.name == algo).map(|x| x.params.clone()).unwrap_or_default())
                        .into_iter()
                        .map(|p| view! { <ParamInput p=p params=params space=space searching=searching/> })
                        .collect_view()
                }}
            </fieldset>
            <details>
                <summary>"Feature columns (all but the target unless unticked)"</summary>
                {move || {
                    let t = target.get();
                    columns.get().into_iter().filter(|c| c.name != t).map(|c| {
                        let name = c.name.clone();
                        let toggled = c.name.clone();
                        view! {
                            <label class="check">
                                <input type="checkbox" prop:checked=move || !excluded.with(|e| e.contains(&name))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        excluded.update(|e| { if on { e.remove(&toggled); } else { e.insert(toggled.clone()); } });
                                    }/>
                                {c.name.clone()}
                            </label>
                        }
                    }).collect_view()
                }}
            </details>
            <label>"Seed"
                <input type="number" name="seed" min="0" step="1" prop:value=move || seed.get() on:input=move |ev| seed.set(event_target_value(&ev))/>
            </label>
            <label>"Run name (optional)"
                <input type="text" name="run_name" maxlength="250" prop:value=move || run_name.get() on:input=move |ev| run_name.set(event_target_value(&ev))/>
            </label>
            <button type="submit" disabled=move || action.pending().get()>"Start training"</button>
            {action_error(action)}
        </form>
    }
}

/// A custom job: the user's code (one file or an archive) and a command, uploaded as a form to
/// the REST API with a progress bar; the run page follows the job.
#[component]
fn CustomJobFormView(options: TrainingOptions) -> impl IntoView {
    let ctx = use_project();
    let code_input = NodeRef::<leptos::html::Input>::new();
    let experiment = RwSignal::new(options.experiments.first().cloned().unwrap_or_else(|| "training".to_string()));
    let command = RwSignal::new("python train.py".to_string());
    let version = RwSignal::new(String::new());
    let timeout = RwSignal::new("3600".to_string());
    let progress = RwSignal::new(0.0);
    let sending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let mut spec = serde_json::json!({ "experiment": experiment.get_untracked(), "command": command.get_untracked() });
        match timeout.get_untracked().trim().parse::<u64>() {
            Ok(t) => spec["timeout_seconds"] = t.into(),
            Err(_) => {
                error.set(Some("The time limit must be a whole number of seconds.".into()));
                return;
            }
        }
        if let Some((dataset, v)) = version.get_untracked().rsplit_once('@') {
            spec["dataset"] = dataset.into();
            spec["version"] = v.parse::<i64>().unwrap_or(0).into();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&spec, code_input, ctx);
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = code_input.get().and_then(|i| i.files()).and_then(|f| f.get(0)) else {
                error.set(Some("Choose the code to run: a .py file, or a .zip or .tar.gz archive.".into()));
                return;
            };
            let (Ok(form), Ok(xhr)) = (web_sys::FormData::new(), web_sys::XmlHttpRequest::new()) else { return };
            let _ = form.append_with_str("spec", &spec.to_string());
            let _ = form.append_with_blob_and_filename("code", &file, &file.name());
            let slug = ctx.slug.get_untracked();
            if xhr.open("POST", &format!("/v1/projects/{slug}/custom-jobs")).is_err() {
                return;
            }
            sending.set(true);
            crate::components::widgets::send_with_progress(xhr, |x| x.send_with_opt_form_data(Some(&form)), progress, move |status, body| {
                sending.set(false);
                match (status, body["run_id"].as_str()) {
                    (200..=299, Some(run_id)) => go_to(&format!("/p/{slug}/runs/{run_id}")),
                    (0, _) => error.set(Some("The upload was interrupted (network error).".into())),
                    _ => error.set(Some(format!("Refused: {}", body["error"]["message"].as_str().unwrap_or("the job could not start")))),
                }
            });
        }
    };
    view! {
        <section class="card">
            <h2>"Custom training: your own code"</h2>
            <p class="muted">"Upload a script or an archive and the command that runs it. The worker runs it in a directory of its own with "
                <code>"MLFLOW_TRACKING_URI"</code>", "<code>"MLFLOW_RUN_ID"</code>" and a token for this job, so "
                <code>"mlflow.start_run()"</code>" logs into the run made for it. The chosen version's splits are in "
                <code>"$TRELLIS_DATA_DIR"</code>" (train.csv, validation.csv, test.csv); an .onnx file left in "
                <code>"$TRELLIS_OUTPUT_DIR"</code>" becomes the run's model. The code runs on the worker machine."</p>
            <form class="form" aria-label="Custom training" on:submit=on_submit>
                <label>"Code (.py file, .zip, .tar or .tar.gz)"
                    <input type="file" name="code" required accept=".py,.zip,.tar,.gz,.tgz,.sh,.r,.R" node_ref=code_input/>
                </label>
                <label>"Command"
                    <input type="text" name="command" required maxlength="10000" prop:value=move || command.get()
                        on:input=move |ev| command.set(event_target_value(&ev))/>
                </label>
                <label>"Experiment"
                    <input type="text" name="custom_experiment" list="experiment-names" required maxlength="500"
                        prop:value=move || experiment.get() on:input=move |ev| experiment.set(event_target_value(&ev))/>
                </label>
                <label>"Data for $TRELLIS_DATA_DIR"
                    <select name="custom_dataset_version" on:change=move |ev| version.set(event_target_value(&ev))>
                        <option value="" selected=move || version.get().is_empty()>"None"</option>
                        <VersionOptions versions=options.versions.clone() chosen=version/>
                    </select>
                </label>
                <label>"Time limit (seconds)"
                    <input type="number" name="timeout_seconds" step="1" prop:value=move || timeout.get()
                        on:input=move |ev| timeout.set(event_target_value(&ev))/>
                </label>
                <button type="submit" disabled=move || sending.get()>"Start custom job"</button>
                <ProgressBar value=progress label="Code upload progress"/>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            </form>
        </section>
    }
}

/// The `<option>`s of a dataset-version select (`dataset@version` values).
#[component]
fn VersionOptions(versions: Vec<crate::model::TrainableVersion>, chosen: RwSignal<String>) -> impl IntoView {
    versions
        .into_iter()
        .map(|v| {
            let key = v.key();
            let text = format!("{} v{} ({} rows)", v.dataset, v.version, v.rows);
            view! { <option value=key.clone() selected=move || chosen.get() == key>{text}</option> }
        })
        .collect_view()
}

/// Changes how hyperparameter `name` is searched.
fn edit_search(space: RwSignal<BTreeMap<String, SearchField>>, name: &str, change: impl FnOnce(&mut SearchField)) {
    space.update(|m| change(m.entry(name.to_string()).or_default()));
}

/// One hyperparameter of the training form: its value, or — when searching — how it is
/// searched (fixed, a range, a range on a log scale, whole numbers, or given values).
#[component]
fn ParamInput(p: crate::model::ParamField, params: RwSignal<BTreeMap<String, String>>, space: RwSignal<BTreeMap<String, SearchField>>, searching: bool) -> impl IntoView {
    let name = p.name.clone();
    let kind = Memo::new({
        let name = name.clone();
        move |_| space.with(|m| m.get(&name).map(|f| f.kind.clone()).filter(|k| !k.is_empty()).unwrap_or_else(|| "fixed".to_string()))
    });
    let kinds: Vec<(&'static str, &'static str)> = if p.integer {
        vec![("fixed", "fixed"), ("int", "whole numbers from … to …"), ("choice", "these values")]
    } else {
        vec![("fixed", "fixed"), ("uniform", "range"), ("log_uniform", "range on a log scale"), ("choice", "these values")]
    };
    let step = if p.integer { "1" } else { "any" };
    let (n1, n2, n3, n4, n5) = (name.clone(), name.clone(), name.clone(), name.clone(), name.clone());
    let (min, max, default) = (p.min.to_string(), p.max.to_string(), p.default.to_string());
    let (low_min, high_max) = (min.clone(), max.clone());
    let (how, lowest, highest, values) = (
        format!("How to search {name}"),
        format!("Lowest {name}"),
        format!("Highest {name}"),
        format!("Values of {name} (comma-separated)"),
    );
    view! {
        <label>{p.name.clone()}
            {searching.then(|| view! {
                <select aria-label=how on:change=move |ev| { let v = event_target_value(&ev); edit_search(space, &n1, |f| f.kind = v); }>
                    {kinds.into_iter().map(|(v, l)| view! { <option value=v selected=move || kind.get() == v>{l}</option> }).collect_view()}
                </select>
            })}
            <Show when=move || !searching || kind.get() == "fixed">
                <input type="number" step=step min=min.clone() max=max.clone() placeholder=default.clone()
                    prop:value={ let n = n2.clone(); move || params.with(|m| m.get(&n).cloned().unwrap_or_default()) }
                    on:input={ let n = n2.clone(); move |ev| { let v = event_target_value(&ev); params.update(|m| { m.insert(n.clone(), v); }); } }/>
            </Show>
            <Show when=move || searching && matches!(kind.get().as_str(), "uniform" | "log_uniform" | "int")>
                <input type="number" step="any" aria-label=lowest.clone() placeholder=low_min.clone()
                    on:input={ let n = n3.clone(); move |ev| { let v = event_target_value(&ev); edit_search(space, &n, |f| f.low = v); } }/>
                <input type="number" step="any" aria-label=highest.clone() placeholder=high_max.clone()
                    on:input={ let n = n4.clone(); move |ev| { let v = event_target_value(&ev); edit_search(space, &n, |f| f.high = v); } }/>
            </Show>
            <Show when=move || searching && kind.get() == "choice">
                <input type="text" aria-label=values.clone() placeholder="e.g. 3, 5, 8"
                    on:input={ let n = n5.clone(); move |ev| { let v = event_target_value(&ev); edit_search(space, &n, |f| f.choices = v); } }/>
            </Show>
            <small class="muted">{p.help.clone()}</small>
        </label>
    }
}
