//! Experiments and runs (logged through the MLflow API): lists, a runs table filtered with
//! MLflow's grammar, and a run's page with metric charts drawn on the server.

use leptos::prelude::*;

use crate::model::*;

#[server]
pub async fn list_experiments(slug: String) -> Result<Vec<ExperimentRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let list = trellis_core::tracking::project_experiments(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    Ok(list
        .into_iter()
        .map(|e| ExperimentRow { id: e.id, name: e.name, runs: e.runs, last_run: e.last_run.map(time_ms) })
        .collect())
}

/// Columns shown at most, of each kind, unless chosen.
pub const MAX_COLUMNS: usize = 8;
/// Runs on one page of an experiment's table.
pub const RUNS_PER_PAGE: i64 = 100;
/// Runs drawn in an experiment's runs chart, at most.
pub const MAX_CHART_RUNS: i64 = 2000;

#[server]
pub async fn experiment_runs(slug: String, id: i64, query: RunsQuery) -> Result<ExperimentPage, AppError> {
    use super::ssr::*;
    use trellis_core::tracking::{self, ViewType};
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let e = tracking::experiment_in(cx.db(), &actor, &slug, &id.to_string()).await.map_err(|e| cx.fail(e))?;
    let (all_metric_keys, all_param_keys) = tracking::experiment_keys(cx.db(), &actor, &id.to_string()).await.map_err(|e| cx.fail(e))?;
    let chosen = |prefix: &str, all: &[String]| -> Vec<String> {
        if query.columns.is_empty() {
            all.iter().take(MAX_COLUMNS).cloned().collect()
        } else {
            query.columns.iter().filter_map(|c| c.strip_prefix(prefix)).filter(|k| all.iter().any(|a| a == k)).map(str::to_string).collect()
        }
    };
    let metric_keys = chosen("metrics.", &all_metric_keys);
    let param_keys = chosen("params.", &all_param_keys);
    let order_by: Vec<String> = if query.order.trim().is_empty() { vec![] } else { vec![query.order.clone()] };
    let ids = [id.to_string()];
    let offset = query.page.max(0) * RUNS_PER_PAGE;
    let view = match query.lifecycle.as_str() {
        "deleted" => ViewType::DeletedOnly,
        "all" => ViewType::All,
        _ => ViewType::ActiveOnly,
    };
    let searched = async {
        let total = tracking::count_runs(cx.db(), &actor, &ids, &query.filter, view).await?;
        let runs = tracking::search_runs(cx.db(), &cx.core.runs, &actor, &ids, &query.filter, &order_by, view, RUNS_PER_PAGE, offset).await?;
        Ok::<_, trellis_core::Error>((total, runs))
    };
    let (total, runs, filter_error) = match searched.await {
        Ok((t, r)) => (t, r, None),
        Err(trellis_core::Error::BadRequest(m)) => (0, Vec::new(), Some(m)),
        Err(err) => return Err(cx.fail(err)),
    };
    let best = if query.best.is_empty() || filter_error.is_some() {
        None
    } else {
        let key = query.best.trim_start_matches("metrics.").to_string();
        let order = vec![format!("metrics.`{key}` {}", if query.lower_is_better { "ASC" } else { "DESC" })];
        let filter = if query.filter.trim().is_empty() { String::new() } else { query.filter.clone() };
        let found = tracking::search_runs(cx.db(), &cx.core.runs, &actor, &ids, &filter, &order, view, 1, 0).await.map_err(|e| cx.fail(e))?;
        found.into_iter().next().and_then(|r| {
            let value = r.metrics.iter().find(|m| m.key == key)?.value;
            Some(BestRun { run_id: r.run_uuid.clone(), name: r.name.clone(), metric: key, value })
        })
    };
    let rows = runs
        .iter()
        .map(|r| RunRow {
            run_id: r.run_uuid.clone(),
            name: r.name.clone(),
            status: r.status.clone(),
            user: r.user_name.clone(),
            start: time_ms(r.start_time),
            metrics: metric_keys.iter().map(|k| r.metrics.iter().find(|m| &m.key == k).map(|m| m.value)).collect(),
            params: param_keys.iter().map(|k| r.params.iter().find(|p| &p.0 == k).map(|p| p.1.clone())).collect(),
            deleted: r.lifecycle_stage == "deleted",
        })
        .collect();
    let role = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?.role;
    let chart = if query.chart_x.is_empty() || query.chart_y.is_empty() || filter_error.is_some() {
        None
    } else {
        let runs = tracking::search_runs(cx.db(), &cx.core.runs, &actor, &ids, &query.filter, &order_by, view, MAX_CHART_RUNS, 0).await.map_err(|e| cx.fail(e))?;
        let y_key = query.chart_y.trim_start_matches("metrics.");
        let x_value = |r: &tracking::Run| -> Option<f64> {
            if let Some(k) = query.chart_x.strip_prefix("params.") {
                r.params.iter().find(|p| p.0 == k)?.1.trim().parse::<f64>().ok()
            } else {
                let k = query.chart_x.trim_start_matches("metrics.");
                r.metrics.iter().find(|m| m.key == k).map(|m| m.value)
            }
        };
        let points: Vec<(String, f64, f64)> = runs
            .iter()
            .filter_map(|r| Some((r.name.clone(), x_value(r)?, r.metrics.iter().find(|m| m.key == y_key)?.value)))
            .filter(|p| p.1.is_finite() && p.2.is_finite())
            .collect();
        let x_label = query.chart_x.trim_start_matches("metrics.").trim_start_matches("params.").to_string();
        Some(RunsChart {
            svg: trellis_core::charts::scatter_svg(&points, &x_label, y_key),
            drawn: points.len(),
            left_out: total - points.len() as i64,
            x: x_label,
            y: y_key.to_string(),
        })
    };
    Ok(ExperimentPage {
        id: e.id,
        name: e.name,
        metric_keys,
        param_keys,
        all_metric_keys,
        all_param_keys,
        runs: rows,
        total,
        per_page: RUNS_PER_PAGE,
        best,
        filter_error,
        can_write: role >= trellis_core::types::Role::Editor,
        chart,
    })
}

/// Deletes (`delete`) or restores runs of an experiment selected together (editors); `runs` are
/// run ids separated by commas. Returns how many changed, and `delete`.
#[server]
pub async fn change_runs(slug: String, experiment_id: i64, runs: String, delete: bool) -> Result<(u64, bool), AppError> {
    use super::ssr::*;
    use trellis_core::tracking;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let e = tracking::experiment_in(cx.db(), &actor, &slug, &experiment_id.to_string()).await.map_err(|e| cx.fail(e))?;
    let ids: Vec<String> = runs.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    let stage = if delete { "deleted" } else { "active" };
    let changed = tracking::set_runs_stage(cx.db(), &actor, &e.id.to_string(), &ids, stage).await.map_err(|e| cx.fail(e))?;
    Ok((changed, delete))
}

#[cfg(feature = "ssr")]
fn x_label(options: &ChartOptions) -> &'static str {
    if options.by_time { "seconds since the first value" } else { "step" }
}

#[server]
pub async fn get_run_page(slug: String, run_id: String, options: ChartOptions) -> Result<RunPage, AppError> {
    use super::ssr::*;
    use trellis_core::tracking;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let run = tracking::get_run(cx.db(), &actor, &run_id).await.map_err(|e| cx.fail(e))?;
    let e = tracking::experiment_in(cx.db(), &actor, &slug, &run.experiment_id.to_string()).await.map_err(|e| cx.fail(e))?;
    let mut charts = Vec::new();
    for m in &run.metrics {
        let points = tracking::metric_chart_points(cx.db(), &actor, &run_id, &m.key, options.by_time).await.map_err(|e| cx.fail(e))?;
        let svg = trellis_core::charts::lines_svg_smoothed(&[(m.key.clone(), points)], x_label(&options), options.smoothing);
        charts.push((m.key.clone(), m.value, svg));
    }
    let tag = |k: &str| run.tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let note = tag("mlflow.note.content").filter(|n| !n.trim().is_empty());
    let note_html = note.as_deref().map(markdown_html);
    let role = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?.role;
    let parent = match tag("mlflow.parentRunId") {
        Some(p) => tracking::get_run(cx.db(), &actor, &p).await.ok().map(|r| (r.run_uuid, r.name)),
        None => None,
    };
    let filter = format!("tags.mlflow.parentRunId = '{}'", run.run_uuid);
    let children = tracking::search_runs(cx.db(), &cx.core.runs, &actor, &[e.id.to_string()], &filter, &[], tracking::ViewType::ActiveOnly, 1000, 0)
        .await
        .map_err(|e| cx.fail(e))?
        .into_iter()
        .map(|c| (c.run_uuid.clone(), c.name.clone()))
        .collect();
    let datasets = run
        .links
        .datasets
        .iter()
        .map(|d| RunDatasetInput {
            name: d.name.clone(),
            digest: d.digest.clone(),
            source: d.source.clone(),
            context: d.tags.iter().find(|(k, _)| k == "mlflow.data.context").map(|(_, v)| v.clone()),
            dataset_version: d.dataset_version.clone(),
        })
        .collect();
    let models = trellis_core::logged_models::of_run(cx.db(), &actor, &run.run_uuid)
        .await
        .map_err(|e| cx.fail(e))?
        .into_iter()
        .map(|m| RunLoggedModel {
            model_id: m.model_id,
            name: m.name,
            status: m.status.trim_start_matches("LOGGED_MODEL_").to_lowercase(),
            registrations: m.registrations,
        })
        .collect();
    let job = match tag("trellis.job_id").and_then(|j| j.parse::<i64>().ok()) {
        Some(id) => trellis_core::jobs::get(cx.db(), &actor, id).await.ok().map(|j| RunJob {
            id: j.id,
            state: j.state,
            progress: j.progress,
            message: j.progress_message,
            error: j.error,
        }),
        None => None,
    };
    let evaluation = match trellis_core::training::run_evaluation(&cx.core, &actor, &run.run_uuid).await.map_err(|e| cx.fail(e))? {
        Some(ev) => {
            let loss_key = run.metrics.iter().find_map(|m| m.key.strip_prefix("curve_train_").map(str::to_string));
            let mut loss = Vec::new();
            if let Some(k) = &loss_key {
                for split in ["train", "validation"] {
                    let key = format!("curve_{split}_{k}");
                    if run.metrics.iter().any(|m| m.key == key) {
                        let points = tracking::metric_chart_points(cx.db(), &actor, &run_id, &key, false).await.map_err(|e| cx.fail(e))?;
                        loss.push((split.to_string(), points));
                    }
                }
            }
            Some(evaluation_view(ev, loss, loss_key.as_deref().unwrap_or("loss")))
        }
        None => None,
    };
    let model_dir = trellis_core::artifacts::ArtifactPath {
        experiment_id: run.experiment_id.to_string(),
        owner: trellis_core::artifacts::Owner::Run(run.run_uuid.clone()),
        path: "model".into(),
    };
    let has_model = trellis_core::artifacts::list(&cx.core, &actor, &model_dir)
        .await
        .map(|entries| entries.iter().any(|e| e.path.ends_with("model.json") || e.path.ends_with("model.onnx")))
        .unwrap_or(false);
    let registered_models = if has_model && role >= trellis_core::types::Role::Editor {
        trellis_core::registry::project_models(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?.into_iter().map(|m| m.name).collect()
    } else {
        Vec::new()
    };
    let trials = if tag("trellis.tuning").is_some() {
        let param = |k: &str| run.params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let metric = param("metric").unwrap_or_default();
        let maximize = param("direction").as_deref() != Some("minimize");
        let filter = format!("tags.mlflow.parentRunId = '{}'", run.run_uuid);
        let children = tracking::search_runs(cx.db(), &cx.core.runs, &actor, &[e.id.to_string()], &filter, &[], tracking::ViewType::ActiveOnly, 1000, 0)
            .await
            .map_err(|e| cx.fail(e))?;
        // The searched parameters: the search space's, or (a search over several algorithms)
        // the algorithm and every parameter whose value differs between trials.
        let searched: Vec<String> = match param("search_space").and_then(|s| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&s).ok()) {
            Some(space) => space.keys().cloned().collect(),
            None => {
                let mut values: std::collections::BTreeMap<&str, std::collections::BTreeSet<Option<&str>>> = Default::default();
                let keys: std::collections::BTreeSet<&str> = children.iter().flat_map(|c| c.params.iter().map(|(k, _)| k.as_str())).collect();
                for c in &children {
                    for k in &keys {
                        values.entry(k).or_default().insert(c.params.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()));
                    }
                }
                let mut varying: Vec<String> = values.into_iter().filter(|(_, v)| v.len() > 1).map(|(k, _)| k.to_string()).collect();
                varying.sort_by_key(|k| (k != "algorithm", k.clone()));
                varying
            }
        };
        let mut rows: Vec<(String, String, String, Vec<String>, Option<f64>)> = children
            .iter()
            .map(|c| {
                let values = searched.iter().map(|p| c.params.iter().find(|(k, _)| k == p).map(|(_, v)| v.clone()).unwrap_or_default()).collect();
                let value = c.metrics.iter().find(|m| m.key == metric).map(|m| m.value);
                (c.run_uuid.clone(), c.name.clone(), c.status.clone(), values, value)
            })
            .collect();
        rows.sort_by_key(|r| r.1.trim_start_matches("trial-").parse::<u64>().unwrap_or(u64::MAX));
        let charts = searched
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let points: Vec<(String, f64, f64)> = rows
                    .iter()
                    .filter_map(|r| Some((r.1.clone(), r.3[i].parse::<f64>().ok()?, r.4?)))
                    .collect();
                (p.clone(), trellis_core::charts::scatter_svg(&points, p, &metric))
            })
            .filter(|(_, svg)| !svg.is_empty())
            .collect();
        Some(TrialsView { metric, maximize, params: searched, rows, best_run: tag("trellis.best_run_id"), charts })
    } else {
        None
    };
    Ok(RunPage {
        has_model,
        registered_models,
        trials,
        job,
        evaluation,
        note,
        note_html,
        can_write: role >= trellis_core::types::Role::Editor,
        parent,
        children,
        datasets,
        models,
        run_id: run.run_uuid,
        name: run.name,
        experiment_id: e.id,
        experiment_name: e.name,
        status: run.status,
        user: run.user_name,
        start: time_ms(run.start_time),
        end: run.end_time.map(time_ms),
        params: run.params,
        tags: run.tags.into_iter().filter(|(k, _)| !k.starts_with("mlflow.")).collect(),
        charts,
    })
}

/// Draws a training job's evaluation.
#[cfg(feature = "ssr")]
fn evaluation_view(ev: trellis_core::training::RunEvaluation, loss: Vec<(String, Vec<(f64, f64)>)>, loss_name: &str) -> RunEvaluationView {
    use trellis_core::charts;
    use trellis_ml::evaluate::Report;
    let mut roc = Vec::new();
    let mut pr = Vec::new();
    let mut residuals = Vec::new();
    let splits = ev
        .reports
        .iter()
        .map(|(split, report)| {
            let (rows, confusion) = match report {
                Report::Classification(c) => {
                    if !c.roc.is_empty() {
                        roc.push((split.clone(), c.roc.clone()));
                        pr.push((split.clone(), c.pr.clone()));
                    }
                    (c.rows, c.confusion.clone())
                }
                Report::Regression(r) => {
                    if split == "test" {
                        residuals = r.residuals.iter().map(|(p, e)| (String::new(), *p, *e)).collect();
                    }
                    (r.rows, Vec::new())
                }
            };
            SplitEvaluation { split: split.clone(), rows, metrics: report.metrics().into_iter().map(|(k, v)| (k.to_string(), v)).collect(), confusion }
        })
        .collect();
    let some = |svg: String| (!svg.is_empty()).then_some(svg);
    RunEvaluationView {
        splits,
        classes: ev.classes,
        loss_svg: (!loss.is_empty()).then(|| charts::lines_svg(&loss, &format!("iteration ({loss_name})"))).and_then(some),
        roc_svg: (!roc.is_empty()).then(|| charts::lines_svg(&roc, "false positive rate (y: true positive rate)")).and_then(some),
        pr_svg: (!pr.is_empty()).then(|| charts::lines_svg(&pr, "recall (y: precision)")).and_then(some),
        residuals_svg: (!residuals.is_empty()).then(|| charts::scatter_svg(&residuals, "predicted", "actual − predicted")).and_then(some),
        importance_svg: some(charts::bars_svg(&ev.importance)),
        importance: ev.importance,
    }
}

/// Runs compared: at most this many.
pub const MAX_COMPARED: usize = 20;

#[server]
pub async fn compare_runs(slug: String, runs: String, options: ChartOptions) -> Result<RunComparison, AppError> {
    use super::ssr::*;
    use trellis_core::tracking;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let ids: Vec<&str> = runs.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if ids.is_empty() || ids.len() > MAX_COMPARED {
        return Err(AppError::BadRequest(format!("choose 1 to {MAX_COMPARED} runs to compare")));
    }
    let mut loaded = Vec::new();
    for id in &ids {
        let run = tracking::get_run(cx.db(), &actor, id).await.map_err(|e| cx.fail(e))?;
        tracking::experiment_in(cx.db(), &actor, &slug, &run.experiment_id.to_string()).await.map_err(|e| cx.fail(e))?;
        loaded.push(run);
    }
    let mut keys: Vec<String> = loaded.iter().flat_map(|r| r.metrics.iter().map(|m| m.key.clone())).collect();
    keys.sort();
    keys.dedup();
    let mut charts = Vec::new();
    for key in &keys {
        let mut series = Vec::new();
        for r in loaded.iter().filter(|r| r.metrics.iter().any(|m| &m.key == key)) {
            let points = tracking::metric_chart_points(cx.db(), &actor, &r.run_uuid, key, options.by_time).await.map_err(|e| cx.fail(e))?;
            series.push((r.name.clone(), points));
        }
        charts.push((key.clone(), trellis_core::charts::lines_svg_smoothed(&series, x_label(&options), options.smoothing)));
    }
    let mut param_keys: Vec<String> = loaded.iter().flat_map(|r| r.params.iter().map(|p| p.0.clone())).collect();
    param_keys.sort();
    param_keys.dedup();
    let mut rows: Vec<(String, Vec<Option<String>>)> = param_keys
        .iter()
        .map(|k| (format!("param {k}"), loaded.iter().map(|r| r.params.iter().find(|p| &p.0 == k).map(|p| p.1.clone())).collect()))
        .collect();
    rows.extend(keys.iter().map(|k| {
        (format!("metric {k}"), loaded.iter().map(|r| r.metrics.iter().find(|m| &m.key == k).map(|m| format!("{:.6}", m.value))).collect())
    }));
    let numeric_params: Vec<String> = param_keys
        .iter()
        .filter(|k| loaded.iter().filter_map(|r| r.params.iter().find(|p| &p.0 == *k)).all(|p| p.1.trim().parse::<f64>().is_ok()))
        .cloned()
        .collect();
    let scatter = match (numeric_params.iter().find(|k| **k == options.scatter_param), keys.iter().find(|k| **k == options.scatter_metric)) {
        (Some(p), Some(m)) => {
            let points: Vec<(String, f64, f64)> = loaded
                .iter()
                .filter_map(|r| {
                    let x = r.params.iter().find(|q| &q.0 == p)?.1.trim().parse::<f64>().ok()?;
                    let y = r.metrics.iter().find(|q| &q.key == m)?.value;
                    Some((r.name.clone(), x, y))
                })
                .collect();
            Some((p.clone(), m.clone(), trellis_core::charts::scatter_svg(&points, p, m)))
        }
        _ => None,
    };
    Ok(RunComparison {
        runs: loaded.iter().map(|r| (r.run_uuid.clone(), r.name.clone())).collect(),
        charts,
        rows,
        numeric_params,
        metrics: keys,
        scatter,
    })
}

/// A directory of a run's artifacts and, when `file` is set, a preview of that file.
#[server]
pub async fn run_artifacts(slug: String, run_id: String, dir: String, file: String) -> Result<ArtifactView, AppError> {
    use super::ssr::*;
    use trellis_core::artifacts::{self, ArtifactPath, Preview};
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let run = trellis_core::tracking::get_run(cx.db(), &actor, &run_id).await.map_err(|e| cx.fail(e))?;
    trellis_core::tracking::experiment_in(cx.db(), &actor, &slug, &run.experiment_id.to_string()).await.map_err(|e| cx.fail(e))?;
    let root = format!("{}/{}/artifacts", run.experiment_id, run.run_uuid);
    let at = |path: &str| ArtifactPath::parse(&format!("{root}/{path}"));
    let listed = at(&dir).map_err(|e| cx.fail(e))?;
    let prefix = if listed.path.is_empty() { String::new() } else { format!("{}/", listed.path) };
    let entries = artifacts::list(&cx.core, &actor, &listed)
        .await
        .map_err(|e| cx.fail(e))?
        .into_iter()
        .map(|a| (format!("{prefix}{}", a.path), a.path, a.is_dir, a.file_size))
        .collect();
    let preview = if file.is_empty() {
        None
    } else {
        let target = at(&file).map_err(|e| cx.fail(e))?;
        let (p, size) = artifacts::preview(&cx.core, &actor, &target).await.map_err(|e| cx.fail(e))?;
        let kind = match p {
            Preview::Text { text, truncated } => PreviewKind::Text { text, truncated },
            Preview::Table { header, rows, truncated } => PreviewKind::Table { header, rows, truncated },
            Preview::Image => PreviewKind::Image,
            Preview::Binary => PreviewKind::Binary,
        };
        Some(ArtifactPreview { path: target.path, size, kind })
    };
    Ok(ArtifactView { dir: listed.path, entries, download_base: format!("/api/2.0/mlflow-artifacts/artifacts/{root}"), preview })
}

/// Markdown as HTML for notes: raw HTML is shown as text, and links and images keep only
/// http(s), mailto and relative targets.
#[cfg(feature = "ssr")]
pub fn markdown_html(md: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let safe = |url: &str| {
        let lower = url.trim().to_ascii_lowercase();
        let scheme = lower.split_once(':').map(|(s, _)| s).filter(|s| !s.contains('/'));
        match scheme {
            None => true,
            Some(s) => matches!(s, "http" | "https" | "mailto"),
        }
    };
    let events = Parser::new_ext(md, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) if !safe(&dest_url) => {
            Event::Start(Tag::Link { link_type, dest_url: "#".into(), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) if !safe(&dest_url) => {
            Event::Start(Tag::Image { link_type, dest_url: "#".into(), title, id })
        }
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

/// Sets a run's note (markdown; editors). An empty note removes it.
#[server]
pub async fn set_run_note(slug: String, run_id: String, note: String) -> Result<(), AppError> {
    use super::ssr::*;
    use trellis_core::tracking;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let run = tracking::get_run(cx.db(), &actor, &run_id).await.map_err(|e| cx.fail(e))?;
    tracking::experiment_in(cx.db(), &actor, &slug, &run.experiment_id.to_string()).await.map_err(|e| cx.fail(e))?;
    let key = "mlflow.note.content";
    if note.trim().is_empty() {
        match tracking::delete_tag(cx.db(), &actor, &run_id, key).await {
            Ok(()) | Err(trellis_core::Error::NotFound(_)) => Ok(()),
            Err(e) => Err(cx.fail(e)),
        }
    } else {
        tracking::log_batch(&cx.core, &actor, &run_id, &[], &[], &[(key.to_string(), note)]).await.map_err(|e| cx.fail(e))
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::markdown_html;

    #[test]
    fn notes_are_markdown_without_raw_html_or_script_links() {
        let html = markdown_html("# Result\n\n**AUC** 0.91 <script>alert(1)</script> [ok](https://x.org) [bad](javascript:alert(1))");
        assert!(html.contains("<h1>Result</h1>") && html.contains("<strong>AUC</strong>"), "{html}");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("href=\"https://x.org\"") && !html.contains("javascript:"), "{html}");
    }
}
