//! Metric values of one run written together: while one write to a run's history is under way,
//! further values for that run wait and then go in one statement (group commit). Concurrent
//! loggers to a run then take turns per statement instead of per request, and never wait for
//! each other's locks on the run's latest values. Each caller is answered only once its own values
//! are committed; when a combined statement fails, each waiting request is written alone so that
//! it gets its own answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::tracking::{insert_metrics, Metric};
use crate::Result;

/// Values combined into one statement at most (further requests wait for the next one).
const MAX_COMBINED_VALUES: usize = 10_000;

type Waiting = (Vec<Metric>, oneshot::Sender<Result<()>>);

/// The runs being written and the requests waiting for each. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct MetricWriter {
    runs: Arc<Mutex<HashMap<i64, Vec<Waiting>>>>,
}

impl MetricWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `metrics` to run `run_id`'s history and updates its latest values; returns once
    /// they are committed. The caller has checked the run and the values.
    pub async fn write(&self, db: &PgPool, run_id: i64, metrics: Vec<Metric>) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut runs = self.runs.lock().expect("metric writer lock");
            match runs.get_mut(&run_id) {
                // A write for this run is under way: it takes these values next.
                Some(waiting) => {
                    waiting.push((metrics, done));
                    false
                }
                None => {
                    runs.insert(run_id, vec![(metrics, done)]);
                    true
                }
            }
        };
        if start {
            // On its own task, so that a caller who goes away does not strand the others.
            tokio::spawn(self.clone().drain(db.clone(), run_id));
        }
        answer.await.unwrap_or_else(|_| Err(crate::Error::Internal(anyhow::anyhow!("the metric writer stopped"))))
    }

    /// Writes run `run_id`'s waiting values, a statement at a time, until none wait.
    async fn drain(self, db: PgPool, run_id: i64) {
        loop {
            let batch = {
                let mut runs = self.runs.lock().expect("metric writer lock");
                let Some(waiting) = runs.get_mut(&run_id) else { return };
                if waiting.is_empty() {
                    runs.remove(&run_id);
                    return;
                }
                let mut values = 0;
                let take = waiting
                    .iter()
                    .take_while(|(m, _)| {
                        values += m.len();
                        values <= MAX_COMBINED_VALUES
                    })
                    .count()
                    .max(1);
                waiting.drain(..take).collect::<Vec<_>>()
            };
            Self::write_batch(&db, run_id, batch).await;
        }
    }

    async fn write_batch(db: &PgPool, run_id: i64, batch: Vec<Waiting>) {
        if batch.len() > 1 {
            let all: Vec<Metric> = batch.iter().flat_map(|(m, _)| m.iter().cloned()).collect();
            if Self::insert(db, run_id, &all).await.is_ok() {
                for (_, done) in batch {
                    let _ = done.send(Ok(()));
                }
                return;
            }
        }
        // Alone (or again alone, after the combined statement failed): each gets its own answer.
        for (metrics, done) in batch {
            let _ = done.send(Self::insert(db, run_id, &metrics).await);
        }
    }

    async fn insert(db: &PgPool, run_id: i64, metrics: &[Metric]) -> Result<()> {
        let mut conn = db.acquire().await?;
        insert_metrics(&mut conn, run_id, metrics).await
    }
}
