//! Datasets: list, create, versions, profile with charts, preview. Uploads go to the REST API
//! (streamed, with progress in the browser).

use leptos::prelude::*;

use crate::model::*;

#[cfg(feature = "ssr")]
fn version_row(v: trellis_core::datasets::DatasetVersion) -> VersionRow {
    VersionRow {
        version: v.version,
        sha256: v.sha256,
        size: v.size,
        format: v.format,
        filename: v.filename,
        compression: v.compression,
        row_count: v.row_count,
        column_count: v.column_count,
        status: v.status,
        error: v.error,
        profile_job_id: v.profile_job_id,
        uploaded_by: v.uploaded_by,
        created_at: v.created_at,
    }
}

#[cfg(feature = "ssr")]
fn dataset_row(d: trellis_core::datasets::Dataset) -> DatasetRow {
    DatasetRow {
        name: d.name,
        description: d.description,
        created_at: d.created_at,
        version_count: d.version_count,
        latest_version: d.latest_version,
        latest_status: d.latest_status,
        archived: d.archived_at.is_some(),
    }
}

#[server]
pub async fn list_datasets(slug: String, archived: bool) -> Result<DatasetList, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let project = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    let list = trellis_core::datasets::list(cx.db(), &actor, &slug, archived).await.map_err(|e| cx.fail(e))?;
    Ok(DatasetList {
        can_write: project.role >= trellis_core::types::Role::Editor,
        datasets: list.into_iter().map(dataset_row).collect(),
    })
}

#[server]
pub async fn create_dataset(slug: String, name: String, description: String) -> Result<String, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let d = trellis_core::datasets::create(cx.db(), &actor, &slug, &name, &description).await.map_err(|e| cx.fail(e))?;
    Ok(d.name)
}

#[server]
pub async fn get_dataset_page(slug: String, name: String) -> Result<DatasetPage, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let project = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    let (d, versions) = trellis_core::datasets::get(cx.db(), &actor, &slug, &name).await.map_err(|e| cx.fail(e))?;
    Ok(DatasetPage {
        can_write: project.role >= trellis_core::types::Role::Editor,
        dataset: dataset_row(d),
        versions: versions.into_iter().map(version_row).collect(),
    })
}

/// A version's profile (the latest when `version` is `None`; `None` when there is no version):
/// statistics per column with charts, validation, split, and the first rows.
#[server]
pub async fn get_version_profile(slug: String, name: String, version: Option<i32>) -> Result<Option<VersionProfile>, AppError> {
    use super::ssr::*;
    use trellis_ml::profile::ColumnProfile;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let version = match version {
        Some(v) => v,
        None => {
            let (_, versions) = trellis_core::datasets::get(cx.db(), &actor, &slug, &name).await.map_err(|e| cx.fail(e))?;
            match versions.first() {
                Some(v) => v.version,
                None => return Ok(None),
            }
        }
    };
    let detail = trellis_core::datasets::version(cx.db(), &actor, &slug, &name, version).await.map_err(|e| cx.fail(e))?;
    let profiles: Vec<ColumnProfile> = match &detail.statistics {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            tracing::error!(error = %e, "stored statistics do not parse");
            AppError::Internal
        })?,
        None => Vec::new(),
    };
    let columns = profiles
        .into_iter()
        .map(|c| {
            let chart_svg = match &c.histogram {
                Some(h) => trellis_core::charts::histogram_svg(&h.edges, &h.counts),
                None => trellis_core::charts::top_values_svg(&c.top),
            };
            let (min, max) = if c.column_type.is_numeric() {
                (c.min.map(|v| fmt_num(Some(v))), c.max.map(|v| fmt_num(Some(v))))
            } else {
                (c.min_text.clone(), c.max_text.clone())
            };
            ColumnRow {
                median: c.quantiles.iter().find(|(p, _)| *p == 0.5).map(|q| q.1),
                name: c.name,
                column_type: c.column_type.as_str().to_string(),
                count: c.count,
                missing: c.missing,
                distinct: c.distinct,
                distinct_exact: c.distinct_exact,
                mean: c.mean,
                std: c.std,
                min,
                max,
                chart_svg,
            }
        })
        .collect();
    let preview = trellis_core::datasets::preview_of(&cx.core, &detail.version, 0, PREVIEW_PAGE)
        .await
        .map_err(|e| cx.fail(e))?;
    let job_progress = match (detail.version.status.as_str(), detail.version.profile_job_id) {
        ("profiling", Some(id)) => trellis_core::jobs::get(cx.db(), &actor, id)
            .await
            .ok()
            .map(|j| (j.progress, if j.progress_message.is_empty() { j.state } else { j.progress_message })),
        _ => None,
    };
    let validation = if detail.version.status == "ready" {
        let v = trellis_core::datasets::anomalies(cx.db(), &actor, &slug, &name, version).await.map_err(|e| cx.fail(e))?;
        Some(ValidationView {
            compared_to: v.compared_to,
            anomalies: v
                .anomalies
                .into_iter()
                .map(|a| AnomalyRow {
                    column: a.column,
                    kind: a.kind,
                    severity: serde_json::to_value(a.severity).ok().and_then(|s| s.as_str().map(String::from)).unwrap_or_default(),
                    message: a.message,
                })
                .collect(),
            distances: v.distances.into_iter().map(|d| (d.column, d.measure, d.value)).collect(),
        })
    } else {
        None
    };
    let project = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    let split = trellis_core::datasets::get_split(cx.db(), &actor, &slug, &name, version)
        .await
        .map_err(|e| cx.fail(e))?
        .map(split_view);
    Ok(Some(VersionProfile {
        can_write: project.role >= trellis_core::types::Role::Editor,
        split,
        validation,
        job_progress,
        version: version_row(detail.version),
        columns,
        preview_columns: preview.columns,
        preview_rows: preview.rows,
    }))
}

/// Archives (hides, closes to uploads) or unarchives a dataset.
#[server]
pub async fn set_dataset_archived(slug: String, name: String, archived: bool) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::datasets::set_archived(cx.db(), &actor, &slug, &name, archived)
        .await
        .map(|_| ())
        .map_err(|e| cx.fail(e))
}

/// Deletes a version; its file is freed when nothing else holds the same content.
#[server]
pub async fn delete_version(slug: String, name: String, version: i32) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::datasets::delete_version(&cx.core, &actor, &slug, &name, version)
        .await
        .map(|_| ())
        .map_err(|e| cx.fail(e))
}

#[cfg(feature = "ssr")]
fn split_view(s: trellis_core::datasets::Split) -> SplitView {
    let description = match s.spec["method"].as_str() {
        Some("random") => format!("random, seed {}", s.spec["seed"]),
        _ => format!("by column {}", s.spec["column"].as_str().unwrap_or("?")),
    };
    let n = |k: &str| s.counts[k].as_u64().unwrap_or(0);
    SplitView { description, counts: [n("train"), n("validation"), n("test")] }
}

/// Splits a version by percentages with a seed.
#[server]
pub async fn split_version(
    slug: String,
    name: String,
    version: i32,
    train: f64,
    validation: f64,
    test: f64,
    seed: u64,
) -> Result<SplitView, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let fractions = [("train", train), ("validation", validation), ("test", test)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v / 100.0))
        .collect();
    let spec = trellis_core::datasets::SplitSpec::Random { fractions, seed };
    trellis_core::datasets::set_split(&cx.core, &actor, &slug, &name, version, spec)
        .await
        .map(split_view)
        .map_err(|e| cx.fail(e))
}

pub const PREVIEW_PAGE: usize = 20;

/// A page of rows of a version.
#[server]
pub async fn get_preview(slug: String, name: String, version: i32, offset: u64) -> Result<PreviewPage, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let p = trellis_core::datasets::preview(&cx.core, &actor, &slug, &name, version, offset, PREVIEW_PAGE)
        .await
        .map_err(|e| cx.fail(e))?;
    Ok(PreviewPage { columns: p.columns, rows: p.rows, offset: p.offset, total: p.total_rows })
}

/// Two versions' column statistics side by side.
#[server]
pub async fn compare_versions(slug: String, name: String, a: i32, b: i32) -> Result<Vec<CompareRow>, AppError> {
    use super::ssr::*;
    use trellis_ml::profile::ColumnProfile;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let mut stats = Vec::new();
    for v in [a, b] {
        let d = trellis_core::datasets::version(cx.db(), &actor, &slug, &name, v).await.map_err(|e| cx.fail(e))?;
        let Some(s) = d.statistics else {
            return Err(cx.fail(trellis_core::Error::conflict(format!("version {v} is not profiled yet"))));
        };
        let cols: Vec<ColumnProfile> = serde_json::from_value(s).map_err(|_| AppError::Internal)?;
        stats.push(cols);
    }
    let mut names: Vec<String> = stats[0].iter().map(|c| c.name.clone()).collect();
    for c in &stats[1] {
        if !names.contains(&c.name) {
            names.push(c.name.clone());
        }
    }
    let pick = |cols: &[ColumnProfile], n: &str| cols.iter().find(|c| c.name == n).cloned();
    let text = |c: &ColumnProfile, min: bool| -> Option<String> {
        if c.column_type.is_numeric() {
            (if min { c.min } else { c.max }).map(|x| fmt_num(Some(x)))
        } else if min {
            c.min_text.clone()
        } else {
            c.max_text.clone()
        }
    };
    Ok(names
        .into_iter()
        .map(|n| {
            let (x, y) = (pick(&stats[0], &n), pick(&stats[1], &n));
            let both = |f: &dyn Fn(&ColumnProfile) -> Option<f64>| (x.as_ref().and_then(f), y.as_ref().and_then(f));
            CompareRow {
                column: n,
                column_type: (x.as_ref().map(|c| c.column_type.as_str().to_string()), y.as_ref().map(|c| c.column_type.as_str().to_string())),
                missing_pct: both(&|c| {
                    let total = (c.count + c.missing).max(1) as f64;
                    Some(100.0 * c.missing as f64 / total)
                }),
                distinct: (x.as_ref().map(|c| c.distinct), y.as_ref().map(|c| c.distinct)),
                mean: both(&|c| c.mean),
                std: both(&|c| c.std),
                min: (x.as_ref().and_then(|c| text(c, true)), y.as_ref().and_then(|c| text(c, true))),
                max: (x.as_ref().and_then(|c| text(c, false)), y.as_ref().and_then(|c| text(c, false))),
            }
        })
        .collect())
}
