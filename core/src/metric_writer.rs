//! Metric values of one run written together: while [`WRITES_PER_RUN`] writes to a run's history
//! are under way, further values for that run wait and then go in one statement (group commit).
//! Concurrent loggers to a run then share statements instead of making one each. Each caller is
//! answered only once its own values are committed; when a combined statement fails, each
//! waiting request is written alone so that it gets its own answer.
//!
//! Values are written pending ([`crate::metric_store`]); the writer folds a run's pending values
//! into its history once they add up to [`FOLD_VALUES`], and a background task folds the rest
//! within about a second of their writing. Readers fold for themselves, so this only keeps the
//! pending rows few, never decides what a reader sees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::oneshot;

use crate::metric_store;
use crate::tracking::Metric;
use crate::Result;

/// Values combined into one statement at most (further requests wait for the next one).
const MAX_COMBINED_VALUES: usize = 10_000;

/// Pending values of one run that the writer starts folding at once.
pub const FOLD_VALUES: usize = 100_000;

/// How long values wait pending, about, before the background task folds them.
const FOLD_AFTER: Duration = Duration::from_millis(500);

/// Statements writing one run's values at a time, at most. Pending values are rows of their
/// own, so writes to a run never wait for each other's locks; more than one under way lets one
/// commit's flush overlap the next statement.
const WRITES_PER_RUN: usize = 3;

type Waiting = (Vec<Metric>, oneshot::Sender<Result<bool>>);

/// A run being written: the requests waiting, and how many writes are under way.
#[derive(Debug, Default)]
struct RunWrites {
    waiting: Vec<Waiting>,
    writing: usize,
}

/// The runs being written and the requests waiting for each, and the runs with values not yet
/// folded. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct MetricWriter {
    runs: Arc<Mutex<HashMap<i64, RunWrites>>>,
    unfolded: Arc<Mutex<Unfolded>>,
}

#[derive(Debug, Default)]
struct Unfolded {
    /// Per run: when its oldest unfolded values were written, and how many there are.
    runs: HashMap<i64, (Instant, usize)>,
    /// Whether the background task is running (it stops when nothing is left to fold).
    folding: bool,
}

impl MetricWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `metrics` to run `run_id`'s history while the run is active; returns once they are
    /// committed, with `false` when the run was not active (or gone) and nothing was written.
    /// The caller has checked that it may write to the run, and the values.
    pub async fn write(&self, db: &PgPool, run_id: i64, metrics: Vec<Metric>) -> Result<bool> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut runs = self.runs.lock().expect("metric writer lock");
            let run = runs.entry(run_id).or_default();
            run.waiting.push((metrics, done));
            // Else the writes under way take these values next.
            let start = run.writing < WRITES_PER_RUN;
            run.writing += start as usize;
            start
        };
        if start {
            // On its own task, so that a caller who goes away does not strand the others.
            tokio::spawn(self.clone().drain(db.clone(), run_id));
        }
        answer.await.unwrap_or_else(|_| Err(crate::Error::Internal(anyhow::anyhow!("the metric writer stopped"))))
    }

    /// Writes run `run_id`'s waiting values, a statement at a time, until none wait (one of the
    /// run's writes under way).
    async fn drain(self, db: PgPool, run_id: i64) {
        loop {
            let batch = {
                let mut runs = self.runs.lock().expect("metric writer lock");
                let Some(run) = runs.get_mut(&run_id) else { return };
                if run.waiting.is_empty() {
                    run.writing -= 1;
                    if run.writing == 0 {
                        runs.remove(&run_id);
                    }
                    return;
                }
                let waiting = &mut run.waiting;
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
            let values = Self::write_batch(&db, run_id, batch).await;
            if values > 0 {
                self.wrote(&db, run_id, values);
            }
        }
    }

    /// Notes `values` more unfolded values of a run (written and committed): starts folding them
    /// when there are enough, else leaves them to the background task (started when it is not
    /// running).
    pub fn wrote(&self, db: &PgPool, run_id: i64, values: usize) {
        let (fold_now, start) = {
            let mut unfolded = self.unfolded.lock().expect("metric writer lock");
            let entry = unfolded.runs.entry(run_id).or_insert((Instant::now(), 0));
            entry.1 += values;
            let fold_now = entry.1 >= FOLD_VALUES;
            if fold_now {
                unfolded.runs.remove(&run_id);
            }
            let start = !unfolded.folding && !unfolded.runs.is_empty();
            unfolded.folding |= start;
            (fold_now, start)
        };
        if fold_now {
            // Beside further writes, which do not wait for it.
            let db = db.clone();
            tokio::spawn(async move {
                if let Err(e) = metric_store::fold_runs(&db, &[run_id]).await {
                    tracing::warn!(run = run_id, error = %e, "folding metric values failed; readers fold them");
                }
            });
        }
        if start {
            tokio::spawn(self.clone().fold_in_background(db.clone()));
        }
    }

    /// Folds, a few times a second, the runs whose values have waited [`FOLD_AFTER`]; stops
    /// when none are left.
    async fn fold_in_background(self, db: PgPool) {
        loop {
            tokio::time::sleep(FOLD_AFTER / 4).await;
            let due: Vec<i64> = {
                let mut unfolded = self.unfolded.lock().expect("metric writer lock");
                if unfolded.runs.is_empty() {
                    unfolded.folding = false;
                    return;
                }
                let due: Vec<i64> = unfolded.runs.iter().filter(|(_, (since, _))| since.elapsed() >= FOLD_AFTER).map(|(id, _)| *id).collect();
                for id in &due {
                    unfolded.runs.remove(id);
                }
                due
            };
            if !due.is_empty() {
                if let Err(e) = metric_store::fold_runs(&db, &due).await {
                    tracing::warn!(runs = due.len(), error = %e, "folding metric values failed; readers fold them");
                }
            }
        }
    }

    /// Writes a batch of waiting requests and answers them; returns how many values it wrote.
    async fn write_batch(db: &PgPool, run_id: i64, batch: Vec<Waiting>) -> usize {
        if batch.len() > 1 {
            let all: Vec<Metric> = batch.iter().flat_map(|(m, _)| m.iter().cloned()).collect();
            if let Ok(written) = Self::insert(db, run_id, &all).await {
                for (_, done) in batch {
                    let _ = done.send(Ok(written));
                }
                return if written { all.len() } else { 0 };
            }
        }
        // Alone (or again alone, after the combined statement failed): each gets its own answer.
        let mut written = 0;
        for (metrics, done) in batch {
            let result = Self::insert(db, run_id, &metrics).await;
            if let Ok(true) = result {
                written += metrics.len();
            }
            let _ = done.send(result);
        }
        written
    }

    async fn insert(db: &PgPool, run_id: i64, metrics: &[Metric]) -> Result<bool> {
        let mut conn = db.acquire().await?;
        metric_store::append_if_active(&mut conn, run_id, metrics).await
    }
}
