//! Train a model from a profiled dataset version with a built-in algorithm: the form, which starts
//! a job and opens the run it trains.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::training::{get_training_options, StartTraining};
use crate::components::widgets::{action_error, go_to, ErrorBox, Loading};
use crate::model::{TrainingForm, TrainingOptions};
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
                if o.versions.is_empty() {
                    return view! { <p class="empty">"No profiled dataset version yet: upload a dataset first."</p> }.into_any();
                }
                view! { <TrainingFormView options=o action=start/> }.into_any()
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
                    {options.versions.iter().map(|v| {
                        let key = v.key();
                        let text = format!("{} v{} ({} rows)", v.dataset, v.version, v.rows);
                        view! { <option value=key.clone() selected=move || version.get() == key>{text}</option> }
                    }).collect_view()}
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
                <select name="algorithm" on:change=move |ev| { algorithm.set(event_target_value(&ev)); params.set(BTreeMap::new()); }>
                    {options.algorithms.iter().map(|a| {
                        let name = a.name.clone();
                        let text = a.name.replace('_', " ");
                        view! { <option value=name.clone() selected=move || algorithm.get() == name>{text}</option> }
                    }).collect_view()}
                </select>
            </label>
            <fieldset>
                <legend>"Hyperparameters (empty: the default shown)"</legend>
                {move || {
                    let algo = algorithm.get();
                    algorithms.with_value(|a| a.iter().find(|x| x.name == algo).map(|x| x.params.clone()).unwrap_or_default())
                        .into_iter()
                        .map(|p| {
                            let name = p.name.clone();
                            let key = p.name.clone();
                            let step = if p.integer { "1".to_string() } else { "any".to_string() };
                            view! {
                                <label>{p.name.clone()}
                                    <input type="number" step=step min=p.min.to_string() max=p.max.to_string() placeholder=p.default.to_string()
                                        prop:value=move || params.with(|m| m.get(&name).cloned().unwrap_or_default())
                                        on:input=move |ev| { let v = event_target_value(&ev); params.update(|m| { m.insert(key.clone(), v); }); }/>
                                    <small class="muted">{p.help.clone()}</small>
                                </label>
                            }
                        })
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
