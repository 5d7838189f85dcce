//! Prometheus metrics: request counts and latency per route, job queue depth, database pool.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntGaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

use crate::startup::AppState;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    jobs: IntGaugeVec,
    pool: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("trellis_http_requests_total", "HTTP requests by method, route and status"),
            &["method", "route", "status"],
        )
        .unwrap();
        let latency = HistogramVec::new(
            HistogramOpts::new("trellis_http_request_duration_seconds", "HTTP request latency by method and route")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route"],
        )
        .unwrap();
        let jobs = IntGaugeVec::new(Opts::new("trellis_jobs", "Jobs by state"), &["state"]).unwrap();
        let pool = IntGaugeVec::new(Opts::new("trellis_db_pool_connections", "Database pool connections"), &["state"]).unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        registry.register(Box::new(latency.clone())).unwrap();
        registry.register(Box::new(jobs.clone())).unwrap();
        registry.register(Box::new(pool.clone())).unwrap();
        Metrics { registry, requests, latency, jobs, pool }
    }
}

/// Route layer: counts and times each request under its route template (not the raw path).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    let m = &state.metrics;
    m.requests.with_label_values(&[method.as_str(), route.as_str(), res.status().as_str()]).inc();
    m.latency.with_label_values(&[method.as_str(), route.as_str()]).observe(start.elapsed().as_secs_f64());
    res
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    match trellis_core::jobs::counts_by_state(&state.core.db).await {
        Ok(counts) => {
            for s in trellis_core::jobs::STATES {
                let n = counts.iter().find(|(k, _)| k == s).map(|(_, n)| *n).unwrap_or(0);
                m.jobs.with_label_values(&[s]).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not count jobs"),
    }
    let size = state.core.db.size() as i64;
    let idle = state.core.db.num_idle() as i64;
    m.pool.with_label_values(&["open"]).set(size);
    m.pool.with_label_values(&["idle"]).set(idle);
    m.pool.with_label_values(&["in_use"]).set(size - idle);
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut buf) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    buf.extend(prediction_metrics(&state.core.serving.recorder).into_bytes());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], buf).into_response()
}

/// This process's predictions per deployed model, in the Prometheus text format.
fn prediction_metrics(r: &trellis_core::serving::logging::Recorder) -> String {
    use std::fmt::Write;
    use trellis_core::serving::logging::LATENCY_BUCKETS_US;
    let totals = r.totals();
    let mut out = String::new();
    let label = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let _ = writeln!(out, "# HELP trellis_predictions_total Prediction requests answered, per deployed model");
    let _ = writeln!(out, "# TYPE trellis_predictions_total counter");
    for (id, t) in &totals {
        let _ = writeln!(out, "trellis_predictions_total{{endpoint=\"{}\",deployed_model=\"{id}\",model_version=\"{}\"}} {}", label(&t.endpoint), label(&t.model_version), t.requests);
    }
    let _ = writeln!(out, "# HELP trellis_prediction_errors_total Prediction requests that failed, per deployed model");
    let _ = writeln!(out, "# TYPE trellis_prediction_errors_total counter");
    for (id, t) in &totals {
        let _ = writeln!(out, "trellis_prediction_errors_total{{endpoint=\"{}\",deployed_model=\"{id}\",model_version=\"{}\"}} {}", label(&t.endpoint), label(&t.model_version), t.errors);
    }
    let _ = writeln!(out, "# HELP trellis_prediction_latency_seconds Prediction latency, per deployed model");
    let _ = writeln!(out, "# TYPE trellis_prediction_latency_seconds histogram");
    for (id, t) in &totals {
        let labels = format!("endpoint=\"{}\",deployed_model=\"{id}\",model_version=\"{}\"", label(&t.endpoint), label(&t.model_version));
        let mut cumulative = 0;
        for (i, n) in t.buckets.iter().enumerate() {
            cumulative += n;
            let le = LATENCY_BUCKETS_US.get(i).map(|b| format!("{}", *b as f64 / 1e6)).unwrap_or_else(|| "+Inf".into());
            let _ = writeln!(out, "trellis_prediction_latency_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "trellis_prediction_latency_seconds_sum{{{labels}}} {}", t.latency_sum_us as f64 / 1e6);
        let _ = writeln!(out, "trellis_prediction_latency_seconds_count{{{labels}}} {}", t.requests);
    }
    let _ = writeln!(out, "# HELP trellis_prediction_logs_dropped_total Prediction log entries dropped because the writer was behind");
    let _ = writeln!(out, "# TYPE trellis_prediction_logs_dropped_total counter");
    let _ = writeln!(out, "trellis_prediction_logs_dropped_total {}", r.dropped());
    out
}
