//! Endpoints from the browser: list and create them, deploy registered versions with a traffic
//! split, and try a prediction.

use leptos::prelude::*;

use crate::model::*;

#[cfg(feature = "ssr")]
fn row(e: trellis_core::serving::EndpointView) -> EndpointRow {
    EndpointRow {
        name: e.name,
        oip_name: e.oip_name,
        description: e.description,
        created: e.created_at,
        deployed: e
            .deployed_models
            .into_iter()
            .map(|d| {
                let spec: trellis_core::serving::explain::ExplanationSpec = serde_json::from_value(d.explanation).unwrap_or_default();
                DeployedRow {
                    id: d.id,
                    model: d.model,
                    version: d.version,
                    alias: d.alias,
                    traffic: d.traffic_percent,
                    explanation_method: spec.method_name().to_string(),
                    explanation_setting: spec.count(),
                }
            })
            .collect(),
    }
}

#[server]
pub async fn list_endpoints(slug: String) -> Result<Vec<EndpointRow>, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let list = trellis_core::serving::list_endpoints(&cx.core, &actor, &slug).await.map_err(|e| cx.fail(e))?;
    Ok(list.into_iter().map(row).collect())
}

/// Creates an endpoint; returns its name.
#[server]
pub async fn create_endpoint(slug: String, name: String, description: String) -> Result<String, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let new = trellis_core::serving::NewEndpoint { name: name.trim().to_string(), description, log_sample_rate: 0.0 };
    let e = trellis_core::serving::create_endpoint(&cx.core, &actor, &slug, new).await.map_err(|e| cx.fail(e))?;
    Ok(e.name)
}

#[server]
pub async fn get_endpoint_page(slug: String, name: String) -> Result<EndpointPage, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let e = trellis_core::serving::get_endpoint(&cx.core, &actor, &slug, &name).await.map_err(|e| cx.fail(e))?;
    let project = trellis_core::projects::get(cx.db(), &actor, &slug).await.map_err(|e| cx.fail(e))?;
    let choices = model_choices(&cx, &actor, &slug).await?;
    let try_it = trellis_core::serving::try_it(&cx.core, &actor, &slug, &name).await.map_err(|e| cx.fail(e))?;
    let fields = try_it
        .map(|t| {
            t.features
                .into_iter()
                .enumerate()
                .map(|(i, f)| TryItField {
                    kind: serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                    example: t.example.as_ref().and_then(|ex| ex.get(i).cloned()).unwrap_or_default(),
                    name: f.name,
                    categories: f.categories,
                })
                .collect()
        })
        .unwrap_or_default();
    let stats = trellis_core::serving::endpoint_stats(&cx.core, &actor, &slug, &name, 60).await.map_err(|e| cx.fail(e))?;
    let now = chrono::Utc::now();
    let ago = |t: &chrono::DateTime<chrono::Utc>| (*t - now).num_seconds() as f64 / 60.0;
    let requests: Vec<(String, Vec<(f64, f64)>)> =
        stats.iter().map(|s| (s.model_version.clone(), s.minutes.iter().map(|m| (ago(&m.0), m.1 as f64)).collect())).collect();
    let mut latency: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for s in &stats {
        for (label, pick) in [("p50", 3usize), ("p95", 4)] {
            let points: Vec<(f64, f64)> = s
                .minutes
                .iter()
                .filter_map(|m| Some((ago(&m.0), if pick == 3 { m.3? } else { m.4? } / 1000.0)).filter(|p| p.1.is_finite()))
                .collect();
            latency.push((format!("{} {label}", s.model_version), points));
        }
    }
    let logs = trellis_core::serving::recent_logs(&cx.core, &actor, &slug, &name, 10).await.map_err(|e| cx.fail(e))?;
    let short = |v: &serde_json::Value| {
        let t = v.to_string();
        if t.chars().count() > 300 { format!("{}…", t.chars().take(300).collect::<String>()) } else { t }
    };
    Ok(EndpointPage {
        log_sample_rate: e.log_sample_rate,
        endpoint: row(e),
        can_write: project.role >= trellis_core::types::Role::Editor,
        models: choices,
        fields,
        requests_svg: if stats.is_empty() { String::new() } else { trellis_core::charts::lines_svg(&requests, "minutes ago") },
        latency_svg: if stats.is_empty() { String::new() } else { trellis_core::charts::lines_svg(&latency, "minutes ago (ms)") },
        served: stats
            .iter()
            .map(|s| ServedRow {
                deployed_model_id: s.deployed_model_id.clone(),
                model_version: s.model_version.clone(),
                requests: s.requests,
                errors: s.errors,
                p50: fmt_latency_us(s.p50_us),
                p95: fmt_latency_us(s.p95_us),
                p99: fmt_latency_us(s.p99_us),
            })
            .collect(),
        logs: logs
            .iter()
            .map(|l| LogRow {
                at: l.at,
                model_version: l.model_version.clone(),
                latency: format!("{:.2} ms", l.latency_us as f64 / 1000.0),
                ok: l.ok,
                request: short(&l.request),
                response: short(&l.response),
            })
            .collect(),
    })
}

/// Sets the share of requests whose request and response are logged (a percentage as typed).
#[server]
pub async fn set_log_sampling(slug: String, endpoint: String, percent: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let p: f64 = percent.trim().parse().map_err(|_| AppError::BadRequest(format!("sampling: '{}' is not a percentage", percent.trim())))?;
    let change = trellis_core::serving::EndpointChange { description: None, log_sample_rate: Some(p / 100.0) };
    trellis_core::serving::update_endpoint(&cx.core, &actor, &slug, &endpoint, change).await.map_err(|e| cx.fail(e))?;
    Ok(())
}

/// Deploys `model` at `target` (`3` for version 3, `@champion` to follow an alias) with a share
/// of the traffic.
#[server]
pub async fn deploy_model(slug: String, endpoint: String, model: String, target: String, traffic: String, explanation: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let (version, alias) = parse_model_target(&target)?;
    let traffic = traffic.trim();
    let traffic_percent = if traffic.is_empty() {
        None
    } else {
        Some(traffic.parse::<i32>().map_err(|_| AppError::BadRequest(format!("traffic: '{traffic}' is not a whole percentage")))?)
    };
    let explanation = (!explanation.trim().is_empty())
        .then(|| trellis_core::serving::explain::ExplanationSpec { method: Some(explanation.trim().to_string()), ..Default::default() });
    let req = trellis_core::serving::DeployRequest { model, version, alias, traffic_percent, explanation };
    trellis_core::serving::deploy(&cx.core, &actor, &slug, &endpoint, req).await.map_err(|e| cx.fail(e))?;
    Ok(())
}

/// Changes a deployed model's explanation method and its paths or steps (empty: the default),
/// keeping its baseline.
#[server]
pub async fn set_explanation(slug: String, endpoint: String, deployed_model_id: String, method: String, setting: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let e = trellis_core::serving::get_endpoint(&cx.core, &actor, &slug, &endpoint).await.map_err(|e| cx.fail(e))?;
    let current: trellis_core::serving::explain::ExplanationSpec = e
        .deployed_models
        .iter()
        .find(|d| d.id == deployed_model_id)
        .and_then(|d| serde_json::from_value(d.explanation.clone()).ok())
        .unwrap_or_default();
    let setting = setting.trim();
    let count = if setting.is_empty() {
        None
    } else {
        Some(setting.parse::<usize>().map_err(|_| AppError::BadRequest(format!("paths or steps: '{setting}' is not a whole number")))?)
    };
    let method = method.trim().to_string();
    let explanation = trellis_core::serving::explain::ExplanationSpec {
        path_count: count.filter(|_| method == "sampled_shapley"),
        step_count: count.filter(|_| method == "integrated_gradients"),
        method: Some(method),
        baseline: current.baseline,
    };
    let req = trellis_core::serving::MutateRequest { deployed_model_id, explanation };
    trellis_core::serving::mutate_deployed_model(&cx.core, &actor, &slug, &endpoint, req).await.map_err(|e| cx.fail(e))?;
    Ok(())
}

/// Deletes an endpoint that serves nothing.
#[server]
pub async fn delete_endpoint(slug: String, endpoint: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    trellis_core::serving::delete_endpoint(&cx.core, &actor, &slug, &endpoint).await.map_err(|e| cx.fail(e))?;
    Ok(())
}

#[server]
pub async fn undeploy_model(slug: String, endpoint: String, deployed_model_id: String) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let req = trellis_core::serving::UndeployRequest { deployed_model_id };
    trellis_core::serving::undeploy(&cx.core, &actor, &slug, &endpoint, req).await.map_err(|e| cx.fail(e))?;
    Ok(())
}

/// Sets the traffic split: (deployed model id, percentage as typed) for every deployed model.
#[server]
pub async fn set_traffic_split(slug: String, endpoint: String, split: Vec<(String, String)>) -> Result<(), AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let mut traffic_split = std::collections::HashMap::new();
    for (id, pct) in split {
        let p = pct.trim().parse::<i32>().map_err(|_| AppError::BadRequest(format!("traffic: '{}' is not a whole percentage", pct.trim())))?;
        traffic_split.insert(id, p);
    }
    let req = trellis_core::serving::TrafficRequest { traffic_split };
    trellis_core::serving::set_traffic(&cx.core, &actor, &slug, &endpoint, req).await.map_err(|e| cx.fail(e))?;
    Ok(())
}

/// Predicts one instance given as (feature, value as typed); empty values are missing.
#[server]
pub async fn try_prediction(slug: String, endpoint: String, values: Vec<(String, String)>) -> Result<TryItAnswer, AppError> {
    use super::ssr::*;
    use serde_json::{json, Value};
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let instance: serde_json::Map<String, Value> =
        values.into_iter().map(|(k, v)| (k, if v.trim().is_empty() { Value::Null } else { Value::String(v) })).collect();
    let req = trellis_core::serving::PredictRequest { instances: vec![Value::Object(instance.clone())], parameters: None };
    let answer = trellis_core::serving::explain::explain(&cx.core, &actor, &slug, &endpoint, req).await.map_err(|e| cx.fail(e))?;
    let attribution = answer.explanations.first().and_then(|e| e.attributions.first()).cloned();
    let attributions: Vec<(String, f64)> = attribution
        .as_ref()
        .map(|a| a.feature_attributions.iter().map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0))).collect())
        .unwrap_or_default();
    let p = answer.predictions.first().cloned().unwrap_or(Value::Null);
    let scores: Vec<(String, f64)> = match (p.get("classes").and_then(Value::as_array), p.get("scores").and_then(Value::as_array)) {
        (Some(c), Some(s)) => c.iter().zip(s).map(|(c, s)| (c.as_str().unwrap_or_default().to_string(), s.as_f64().unwrap_or(0.0))).collect(),
        _ => Vec::new(),
    };
    let answer_text = match (p.get("label"), p.get("value")) {
        (Some(Value::String(l)), _) => l.clone(),
        (_, Some(v)) => v.to_string(),
        _ => p.to_string(),
    };
    Ok(TryItAnswer {
        model_version: answer.model_version,
        deployed_model_id: answer.deployed_model_id,
        answer: answer_text,
        scores_svg: (!scores.is_empty()).then(|| trellis_core::charts::bars_svg(&scores)),
        scores,
        request_json: serde_json::to_string_pretty(&json!({ "instances": [instance] })).unwrap_or_default(),
        attributions_svg: (!attributions.is_empty()).then(|| trellis_core::charts::attributions_svg(&attributions)),
        attributions,
        explained: attribution.as_ref().map(|a| a.output_display_name.clone()).unwrap_or_default(),
        baseline_output: attribution.as_ref().map(|a| a.baseline_output_value).unwrap_or(f64::NAN),
        instance_output: attribution.as_ref().map(|a| a.instance_output_value).unwrap_or(f64::NAN),
        method: answer.method,
    })
}

/// Registers a run's model as the next version of a project model (created when new); returns
/// the model's name.
#[server]
pub async fn register_run_model(slug: String, run_id: String, model: String) -> Result<String, AppError> {
    use super::ssr::*;
    let cx = Ctx::get()?;
    let actor = cx.actor().await?;
    let v = trellis_core::registry::register_run_model(cx.db(), &actor, &slug, &run_id, &model).await.map_err(|e| cx.fail(e))?;
    Ok(v.model_name)
}
