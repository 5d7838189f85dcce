//! What endpoints answered, written off the request path: each request is a [`Served`] sent
//! into a bounded channel (a full channel drops it and counts the drop, never blocking); a
//! writer task stores the sampled requests and responses and adds every request to per-minute
//! statistics per deployed model. This process's totals are also kept in memory for `/metrics`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::{Core, Result};

/// Upper bounds (µs) of the latency buckets; one more bucket holds everything slower.
pub const LATENCY_BUCKETS_US: [u64; 14] = [50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];
/// Requests waiting to be written, at most.
pub const CHANNEL_CAPACITY: usize = 10_000;
/// Rows written per batch, at most.
const BATCH: usize = 1_000;

pub fn bucket_of(latency_us: u64) -> usize {
    LATENCY_BUCKETS_US.iter().position(|b| latency_us <= *b).unwrap_or(LATENCY_BUCKETS_US.len())
}

/// One answered request.
#[derive(Debug, Clone)]
pub struct Served {
    pub endpoint_id: i64,
    pub deployed_model_id: i64,
    pub model_version: String,
    pub endpoint: String,
    pub at: DateTime<Utc>,
    pub latency_us: u64,
    pub ok: bool,
    /// (request, response) when the request was sampled for the log.
    pub log: Option<(Value, Value)>,
}

/// This process's totals for one deployed model.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub endpoint: String,
    pub model_version: String,
    pub requests: u64,
    pub errors: u64,
    pub latency_sum_us: u64,
    pub buckets: Vec<u64>,
}

pub struct Recorder {
    tx: mpsc::Sender<Served>,
    rx: Mutex<Option<mpsc::Receiver<Served>>>,
    dropped: AtomicU64,
    totals: Mutex<HashMap<i64, Totals>>,
}

impl Default for Recorder {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        Recorder { tx, rx: Mutex::new(Some(rx)), dropped: AtomicU64::new(0), totals: Mutex::new(HashMap::new()) }
    }
}

impl Recorder {
    /// Counts a request and hands it to the writer (dropping it when the writer is behind).
    pub fn record(&self, served: Served) {
        {
            let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
            let t = totals.entry(served.deployed_model_id).or_insert_with(|| Totals {
                endpoint: served.endpoint.clone(),
                model_version: served.model_version.clone(),
                buckets: vec![0; LATENCY_BUCKETS_US.len() + 1],
                ..Default::default()
            });
            t.requests += 1;
            t.errors += u64::from(!served.ok);
            t.latency_sum_us += served.latency_us;
            t.buckets[bucket_of(served.latency_us)] += 1;
        }
        if self.tx.try_send(served).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests not written because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// This process's totals per deployed model.
    pub fn totals(&self) -> Vec<(i64, Totals)> {
        let mut v: Vec<(i64, Totals)> = self.totals.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, t)| (*k, t.clone())).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    fn take_receiver(&self) -> Option<mpsc::Receiver<Served>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Writes what the recorder collects until the process ends (start it once per process).
pub async fn write_forever(core: Core) {
    let Some(mut rx) = core.serving.recorder.take_receiver() else {
        tracing::warn!("serving: the prediction log writer is already running");
        return;
    };
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = Instant::now() + Duration::from_millis(200);
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                Ok(Some(s)) => batch.push(s),
                _ => break,
            }
        }
        if let Err(e) = write(&core.db, &batch).await {
            tracing::warn!(error = %e, rows = batch.len(), "serving: writing prediction logs failed");
        }
        batch.clear();
    }
}

async fn write(db: &PgPool, batch: &[Served]) -> Result<()> {
    let logged: Vec<&Served> = batch.iter().filter(|s| s.log.is_some()).collect();
    let mut tx = db.begin().await?;
    if !logged.is_empty() {
        let col = |f: &dyn Fn(&Served) -> Value| logged.iter().map(|s| f(s)).collect::<Vec<Value>>();
        sqlx::query(
            "INSERT INTO prediction_logs (endpoint_id, deployed_model_id, model_version, at, latency_us, ok, request, response)
             SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TIMESTAMPTZ[], $5::BIGINT[], $6::BOOLEAN[], $7::JSONB[], $8::JSONB[])",
        )
        .bind(logged.iter().map(|s| s.endpoint_id).collect::<Vec<_>>())
        .bind(logged.iter().map(|s| s.deployed_model_id).collect::<Vec<_>>())
        .bind(logged.iter().map(|s| s.model_version.clone()).collect::<Vec<_>>())
        .bind(logged.iter().map(|s| s.at).collect::<Vec<_>>())
        .bind(logged.iter().map(|s| s.latency_us as i64).collect::<Vec<_>>())
        .bind(logged.iter().map(|s| s.ok).collect::<Vec<_>>())
        .bind(col(&|s| s.log.as_ref().map(|l| l.0.clone()).unwrap_or_default()))
        .bind(col(&|s| s.log.as_ref().map(|l| l.1.clone()).unwrap_or_default()))
        .execute(&mut *tx)
        .await?;
    }
    // Per deployed model and minute: requests, errors, latency buckets.
    let mut stats: HashMap<(i64, DateTime<Utc>), (i64, String, i64, i64, Vec<i64>)> = HashMap::new();
    for s in batch {
        let minute = s.at.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(s.at);
        let e = stats
            .entry((s.deployed_model_id, minute))
            .or_insert_with(|| (s.endpoint_id, s.model_version.clone(), 0, 0, vec![0; LATENCY_BUCKETS_US.len() + 1]));
        e.2 += 1;
        e.3 += i64::from(!s.ok);
        e.4[bucket_of(s.latency_us)] += 1;
    }
    for ((deployed, minute), (endpoint, version, requests, errors, buckets)) in stats {
        sqlx::query(
            "INSERT INTO prediction_stats (endpoint_id, deployed_model_id, model_version, minute, requests, errors, latency_buckets)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (deployed_model_id, minute) DO UPDATE SET
                requests = prediction_stats.requests + EXCLUDED.requests,
                errors = prediction_stats.errors + EXCLUDED.errors,
                latency_buckets = ARRAY(SELECT a + b FROM unnest(prediction_stats.latency_buckets, EXCLUDED.latency_buckets) AS t(a, b))",
        )
        .bind(endpoint)
        .bind(deployed)
        .bind(version)
        .bind(minute)
        .bind(requests)
        .bind(errors)
        .bind(buckets)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The latency (µs, a bucket's upper bound) below which a fraction `q` of the requests fall.
pub fn percentile(buckets: &[i64], q: f64) -> Option<f64> {
    let total: i64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let want = (q * total as f64).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= want {
            return Some(LATENCY_BUCKETS_US.get(i).map(|b| *b as f64).unwrap_or(f64::INFINITY));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_buckets_and_percentiles_read_them() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(50), 0);
        assert_eq!(bucket_of(51), 1);
        assert_eq!(bucket_of(5_000_000), LATENCY_BUCKETS_US.len());
        let mut b = vec![0i64; LATENCY_BUCKETS_US.len() + 1];
        b[1] = 90; // ≤ 100 µs
        b[4] = 9; // ≤ 1 ms
        b[8] = 1; // ≤ 20 ms
        assert_eq!(percentile(&b, 0.5), Some(100.0));
        assert_eq!(percentile(&b, 0.95), Some(1_000.0));
        assert_eq!(percentile(&b, 0.999), Some(20_000.0));
        assert_eq!(percentile(&[0; 15], 0.5), None);
    }

    #[test]
    fn a_full_channel_drops_and_counts() {
        let r = Recorder::default();
        let served = Served {
            endpoint_id: 1,
            deployed_model_id: 2,
            model_version: "m/1".into(),
            endpoint: "p.e".into(),
            at: Utc::now(),
            latency_us: 120,
            ok: true,
            log: None,
        };
        for _ in 0..CHANNEL_CAPACITY + 5 {
            r.record(served.clone());
        }
        assert_eq!(r.dropped(), 5);
        let totals = r.totals();
        assert_eq!(totals[0].1.requests, (CHANNEL_CAPACITY + 5) as u64);
        assert_eq!(totals[0].1.buckets[2], (CHANNEL_CAPACITY + 5) as u64);
    }
}
