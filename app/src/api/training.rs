//! Built-in training from the browser: the versions and algorithms to choose from, and starting a
//! job or a "best model" search.

use leptos::prelude::*;

use crate::model::*;

#[server]
pub async fn get_training_options(slug: String) -> Result<TrainingOptions, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let project = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    let versions = trainable_versions(&cx, &actor, &slug).await?;
    let experiments = trellis_core::tracking::project_experiments(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    Ok(TrainingOptions {
        can_write: project.role >= trellis_core::types::Role::Editor,
        versions,
        algorithms: trellis_core::training::algorithms()
            .into_iter()
            .map(|a| AlgorithmForm {
                name: a.name.to_string(),
                params: a
                    .params
                    .into_iter()
                    .map(|p| ParamField { name: p.name.to_string(), default: p.default, min: p.min, max: p.max, integer: p.integer, help: p.help.to_string() })
                    .collect(),
            })
            .collect(),
        experiments: experiments.into_iter().map(|e| e.name).collect(),
    })
}

/// The form's `algorithm` for the "best model" preset.
pub const BEST_MODEL: &str = "best";

/// Starts a training job, or with `algorithm` = [`BEST_MODEL`] a search over every algorithm;
/// returns the run's id (the search's parent run).
#[server]
pub async fn start_training(slug: String, form: TrainingForm) -> Result<String, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let (dataset, version) = form
        .dataset_version
        .rsplit_once('@')
        .and_then(|(d, v)| Some((d.to_string(), v.parse::<i32>().ok()?)))
        .ok_or_else(|| AppError::BadRequest("choose a dataset version".into()))?;
    let seed = match form.seed.trim() {
        "" => None,
        s => Some(s.parse::<u64>().map_err(|_| AppError::BadRequest(format!("seed: '{s}' is not a whole number ≥ 0")))?),
    };
    // Every kind of training takes these the same way.
    let features = (!form.features.is_empty()).then_some(form.features);
    let run_name = (!form.run_name.trim().is_empty()).then_some(form.run_name);
    let params: std::collections::BTreeMap<String, serde_json::Value> = form
        .params
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    if form.algorithm == BEST_MODEL {
        let minutes = form.time_budget_minutes.trim();
        let minutes: f64 = minutes.parse().map_err(|_| AppError::BadRequest(format!("time budget: '{minutes}' is not a number of minutes")))?;
        if !(minutes.is_finite() && minutes > 0.0) {
            return Err(AppError::BadRequest("time budget: must be more than 0 minutes".into()));
        }
        let req = trellis_core::tuning::AutoMlRequest {
            experiment: form.experiment,
            dataset,
            version,
            target: form.target,
            task: form.task,
            time_budget_seconds: Some((minutes * 60.0).round() as u64),
            max_trials: None,
            algorithms: None,
            parallelism: None,
            metric: None,
            direction: None,
            features,
            seed,
            run_name,
        };
        let submitted = trellis_core::tuning::submit_automl(&cx.core, &actor, &slug, req).await.map_err(|e| cx.fail(e))?;
        return Ok(submitted.run_id);
    }
    let training = trellis_core::training::TrainingRequest {
        experiment: form.experiment,
        dataset,
        version,
        target: form.target,
        task: form.task,
        algorithm: form.algorithm,
        params,
        features,
        seed,
        run_name,
    };
    if form.tune {
        let number = |what: &str, name: &str, raw: &str| -> Result<serde_json::Value, AppError> {
            let raw = raw.trim();
            let x: f64 = raw.parse().map_err(|_| AppError::BadRequest(format!("{name}: the {what} '{raw}' is not a number")))?;
            Ok(if x.fract() == 0.0 && x.abs() < 9.0e15 { serde_json::json!(x as i64) } else { serde_json::json!(x) })
        };
        let mut search_space = std::collections::BTreeMap::new();
        for (name, f) in &form.space {
            let value = match f.kind.as_str() {
                "" | "fixed" => continue,
                kind @ ("uniform" | "log_uniform" | "int") => {
                    serde_json::json!({ kind: [number("lowest value", name, &f.low)?, number("highest value", name, &f.high)?] })
                }
                "choice" => {
                    let values = f.choices.split(',').filter(|v| !v.trim().is_empty()).map(|v| number("value", name, v)).collect::<Result<Vec<_>, _>>()?;
                    serde_json::json!({ "choice": values })
                }
                other => return Err(AppError::BadRequest(format!("{name}: unknown way to search '{other}'"))),
            };
            search_space.insert(name.clone(), value);
        }
        if search_space.is_empty() {
            return Err(AppError::BadRequest("search space: choose how to search at least one hyperparameter (a range or values)".into()));
        }
        let whole = |what: &str, raw: &str| -> Result<Option<usize>, AppError> {
            match raw.trim() {
                "" => Ok(None),
                t => t.parse().map(Some).map_err(|_| AppError::BadRequest(format!("{what}: '{t}' is not a whole number"))),
            }
        };
        let method = (!form.method.trim().is_empty()).then(|| form.method.trim().to_string());
        let (max_trials, parallelism) = (whole("trials", &form.max_trials)?, whole("trials at once", &form.parallelism)?);
        let req = trellis_core::tuning::TuningRequest::around(training, search_space, method, max_trials, parallelism);
        let submitted = trellis_core::tuning::submit(&cx.core, &actor, &slug, req).await.map_err(|e| cx.fail(e))?;
        return Ok(submitted.run_id);
    }
    let submitted = trellis_core::training::submit(&cx.core, &actor, &slug, training).await.map_err(|e| cx.fail(e))?;
    Ok(submitted.run_id)
}

/// Cancels a search (tuning or best model) by its parent run.
#[server]
pub async fn cancel_search(slug: String, run_id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::tuning::cancel(&cx.core, &actor, &slug, &run_id).await.map_err(|e| cx.fail(e))?;
    Ok(())
}
