//! Metric values of one run written together: while [`WRITES_PER_RUN`] writes to a run's history
//! are under way, further values for that run wait and then go in one statement (group commit,
//! see [`crate::group_commit`]). Concurrent loggers to a run then share statements instead of
//! making one each. Each caller is answered only once its own values are committed; when a
//! combined statement fails, each waiting request is written alone so that it gets its own
//! answer.
//!
//! Values are written pending ([`crate::metric_store`]); the writer folds a run's pending values
//! into its history once they add up to [`FOLD_VALUES`], and a background task folds the rest
//! within about a second of their writing. Readers fold for themselves, so this only keeps the
//! pending rows few, never decides what a reader sees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use sqlx::PgPool;

use crate::group_commit::{GroupCommit, Waiting};
use crate::metric_store;
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

/// A request's values packed into pending rows ([`metric_store::pack`]) and how many values
/// they hold.
type Packed = (Vec<Vec<u8>>, usize);

/// Writes to runs' histories, combined per run, and the runs with values not yet folded. Cheap
/// to clone (shared).
#[derive(Clone, Debug)]
pub struct MetricWriter {
    writes: GroupCommit<i64, Packed>,
    unfolded: Arc<Mutex<Unfolded>>,
}

impl Default for MetricWriter {
    fn default() -> Self {
        Self::new()
    }
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
        let unfolded: Arc<Mutex<Unfolded>> = Default::default();
        let folds = unfolded.clone();
        let writes = GroupCommit::new(
            WRITES_PER_RUN,
            MAX_COMBINED_VALUES,
            |(_, values): &Packed| *values,
            Arc::new(move |db: PgPool, run_id: i64, batch: Vec<Waiting<Packed>>| {
                let folds = folds.clone();
                async move {
                    let values = Self::write_batch(&db, run_id, batch).await;
                    if values > 0 {
                        Self::note_written(&folds, &db, run_id, values);
                    }
                }
                .boxed()
            }),
        );
        Self { writes, unfolded }
    }

    /// Appends `values` metric values, packed into `rows` ([`metric_store::pack`]), to run
    /// `run_id`'s history while the run is active; returns once they are committed, with `false`
    /// when the run was not active (or gone) and nothing was written. The caller has checked
    /// that it may write to the run, and the values.
    pub async fn write(&self, db: &PgPool, run_id: i64, rows: Vec<Vec<u8>>, values: usize) -> Result<bool> {
        self.writes.submit(db, run_id, (rows, values)).await
    }

    /// Notes `values` more unfolded values of a run (written and committed): starts folding them
    /// when there are enough, else leaves them to the background task (started when it is not
    /// running).
    pub fn wrote(&self, db: &PgPool, run_id: i64, values: usize) {
        Self::note_written(&self.unfolded, db, run_id, values)
    }

    fn note_written(unfolded: &Arc<Mutex<Unfolded>>, db: &PgPool, run_id: i64, values: usize) {
        let (fold_now, start) = {
            let mut unfolded = unfolded.lock().expect("metric writer lock");
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
            tokio::spawn(Self::fold_in_background(unfolded.clone(), db.clone()));
        }
    }

    /// Folds, a few times a second, the runs whose values have waited [`FOLD_AFTER`]; stops
    /// when none are left.
    async fn fold_in_background(unfolded: Arc<Mutex<Unfolded>>, db: PgPool) {
        loop {
            tokio::time::sleep(FOLD_AFTER / 4).await;
            let due: Vec<i64> = {
                let mut unfolded = unfolded.lock().expect("metric writer lock");
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
    async fn write_batch(db: &PgPool, run_id: i64, batch: Vec<Waiting<Packed>>) -> usize {
        if batch.len() > 1 {
            let all: Vec<&[u8]> = batch.iter().flat_map(|w| w.item.0.iter().map(Vec::as_slice)).collect();
            if let Ok(written) = Self::insert(db, run_id, &all).await {
                let values = batch.iter().map(|w| w.item.1).sum();
                for w in batch {
                    let _ = w.done.send(Ok(written));
                }
                return if written { values } else { 0 };
            }
        }
        // Alone (or again alone, after the combined statement failed): each gets its own answer.
        let mut written = 0;
        for Waiting { item: (rows, values), done } in batch {
            let rows: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
            let result = Self::insert(db, run_id, &rows).await;
            if let Ok(true) = result {
                written += values;
            }
            let _ = done.send(result);
        }
        written
    }

    async fn insert(db: &PgPool, run_id: i64, rows: &[&[u8]]) -> Result<bool> {
        let mut conn = db.acquire().await?;
        metric_store::append_packed_if_active(&mut conn, run_id, rows).await
    }
}
