//! Experiments and runs (logged through the MLflow API): lists, a runs table filtered with
//! MLflow's grammar, and a run's page with metric charts drawn on the server.

use leptos::prelude::*;

use crate::model::*;

#[cfg(feature = "ssr")]
fn time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[server]
pub async fn list_experiments(slug: String) -> Result<Vec<ExperimentRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let list = trellis_core::tracking::project_experiments(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    Ok(list
        .into_iter()
        .map(|e| ExperimentRow { id: e.id, name: e.name, runs: e.runs, last_run: e.last_run.map(time) })
        .collect())
}

/// Columns shown at most, of each kind.
pub const MAX_COLUMNS: usize = 8;

#[server]
pub async fn experiment_runs(slug: String, id: i64, filter: String, order: String) -> Result<ExperimentPage, AppError> {
    use super::ssr::*;
    use trellis_core::tracking::{self, ViewType};
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let e = tracking::experiment_in(cx.db(), &actor, &slug, &id.to_string()).await.map_err(|e| cx.fail(e))?;
    let order_by: Vec<String> = if order.trim().is_empty() { vec![] } else { vec![order] };
    let ids = [id.to_string()];
    let (runs, filter_error) =
        match tracking::search_runs(cx.db(), &actor, &ids, &filter, &order_by, ViewType::ActiveOnly, 1000, 0).await {
            Ok(r) => (r, None),
            Err(trellis_core::Error::BadRequest(m)) => (Vec::new(), Some(m)),
            Err(err) => return Err(cx.fail(err)),
        };
    let mut metric_keys: Vec<String> = runs.iter().flat_map(|r| r.metrics.iter().map(|m| m.key.clone())).collect();
    metric_keys.sort();
    metric_keys.dedup();
    metric_keys.truncate(MAX_COLUMNS);
    let mut param_keys: Vec<String> = runs.iter().flat_map(|r| r.params.iter().map(|p| p.0.clone())).collect();
    param_keys.sort();
    param_keys.dedup();
    param_keys.truncate(MAX_COLUMNS);
    let rows = runs
        .iter()
        .map(|r| RunRow {
            run_id: r.run_uuid.clone(),
            name: r.name.clone(),
            status: r.status.clone(),
            user: r.user_name.clone(),
            start: time(r.start_time),
            metrics: metric_keys.iter().map(|k| r.metrics.iter().find(|m| &m.key == k).map(|m| m.value)).collect(),
            params: param_keys.iter().map(|k| r.params.iter().find(|p| &p.0 == k).map(|p| p.1.clone())).collect(),
        })
        .collect();
    Ok(ExperimentPage { id: e.id, name: e.name, metric_keys, param_keys, runs: rows, filter_error })
}

#[server]
pub async fn get_run_page(slug: String, run_id: String) -> Result<RunPage, AppError> {
    use super::ssr::*;
    use trellis_core::tracking;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let run = tracking::get_run(cx.db(), &actor, &run_id).await.map_err(|e| cx.fail(e))?;
    let e = tracking::experiment_in(cx.db(), &actor, &slug, &run.experiment_id.to_string()).await.map_err(|e| cx.fail(e))?;
    let mut charts = Vec::new();
    for m in &run.metrics {
        let history = tracking::metric_history(cx.db(), &actor, &run_id, &m.key, tracking::MAX_RESULTS, 0)
            .await
            .map_err(|e| cx.fail(e))?;
        let points: Vec<(f64, f64)> = history.iter().map(|h| (h.step as f64, h.value)).collect();
        let svg = trellis_core::charts::lines_svg(&[(m.key.clone(), points)], "step");
        charts.push((m.key.clone(), m.value, svg));
    }
    let tag = |k: &str| run.tags.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let note = tag("mlflow.note.content").filter(|n| !n.trim().is_empty());
    let parent = match tag("mlflow.parentRunId") {
        Some(p) => tracking::get_run(cx.db(), &actor, &p).await.ok().map(|r| (r.run_uuid, r.name)),
        None => None,
    };
    let filter = format!("tags.mlflow.parentRunId = '{}'", run.run_uuid);
    let children = tracking::search_runs(cx.db(), &actor, &[e.id.to_string()], &filter, &[], tracking::ViewType::ActiveOnly, 1000, 0)
        .await
        .map_err(|e| cx.fail(e))?
        .into_iter()
        .map(|c| (c.run_uuid, c.name))
        .collect();
    let links = trellis_core::logged_models::run_links(cx.db(), std::slice::from_ref(&run.run_uuid)).await.map_err(|e| cx.fail(e))?;
    let datasets = links
        .get(&run.run_uuid)
        .map(|l| {
            l.datasets
                .iter()
                .map(|d| RunDatasetInput {
                    name: d.name.clone(),
                    digest: d.digest.clone(),
                    source: d.source.clone(),
                    context: d.tags.iter().find(|(k, _)| k == "mlflow.data.context").map(|(_, v)| v.clone()),
                    dataset_version: d.dataset_version.as_deref().and_then(|v| {
                        let (_, rest) = v.split_once('/')?;
                        let (name, n) = rest.rsplit_once("@v")?;
                        Some((name.to_string(), n.parse().ok()?))
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
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
    let root = format!("{}/{}/artifacts", e.id, run.run_uuid);
    let at = trellis_core::artifacts::ArtifactPath::parse(&root).map_err(|e| cx.fail(e))?;
    let artifacts = trellis_core::artifacts::list(&cx.core, &actor, &at)
        .await
        .map_err(|e| cx.fail(e))?
        .into_iter()
        .map(|a| (a.path, a.is_dir, a.file_size))
        .collect();
    Ok(RunPage {
        note,
        parent,
        children,
        datasets,
        models,
        artifacts,
        artifact_base: format!("/api/2.0/mlflow-artifacts/artifacts/{root}"),
        run_id: run.run_uuid,
        name: run.name,
        experiment_id: e.id,
        experiment_name: e.name,
        status: run.status,
        user: run.user_name,
        start: time(run.start_time),
        end: run.end_time.map(time),
        params: run.params,
        tags: run.tags.into_iter().filter(|(k, _)| !k.starts_with("mlflow.")).collect(),
        charts,
    })
}

/// Runs compared: at most this many.
pub const MAX_COMPARED: usize = 20;

#[server]
pub async fn compare_runs(slug: String, runs: String) -> Result<RunComparison, AppError> {
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
            let history = tracking::metric_history(cx.db(), &actor, &r.run_uuid, key, tracking::MAX_RESULTS, 0)
                .await
                .map_err(|e| cx.fail(e))?;
            series.push((r.name.clone(), history.iter().map(|h| (h.step as f64, h.value)).collect::<Vec<_>>()));
        }
        charts.push((key.clone(), trellis_core::charts::lines_svg(&series, "step")));
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
    Ok(RunComparison { runs: loaded.iter().map(|r| (r.run_uuid.clone(), r.name.clone())).collect(), charts, rows })
}
