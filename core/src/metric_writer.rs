//! Metric values of one run written together: while [`WRITES_PER_RUN`] writes to a run's history
//! are under way, further values for that run wait and then go in one statement (group commit,
//! see [`crate::group_commit`]). Concurrent loggers to a run then share statements instead of
//! making one each. Each caller is answered only once its own values are committed.
//!
//! Values are written pending ([`crate::metric_store`]); the writer folds a run's pending values
//! into its history once they add up to [`FOLD_VALUES`], and a background task folds the rest
//! within about a second of their writing. Readers fold for themselves, so this only keeps the
//! pending rows few, never decides what a reader sees. After folding
//! [`metric_store::VACUUM_AFTER_BYTES`] the writer vacuums the folded rows away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::PgPool;

use crate::db::Maintenance;
use crate::group_commit::{GroupCommit, WriteTogether};
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
    folding: Arc<Folding>,
}

/// What the writer keeps between writes, shared by its clones, its statements and its tasks:
/// the runs with values not yet folded, and what its folds took from the pending rows since the
/// last vacuum of them (see [`metric_store::VACUUM_PENDING`]).
#[derive(Debug)]
struct Folding {
    unfolded: Mutex<Unfolded>,
    /// Bytes of packed values folded since the last vacuum.
    folded_bytes: AtomicUsize,
    vacuum: Maintenance,
}

impl Default for Folding {
    fn default() -> Self {
        Self { unfolded: Default::default(), folded_bytes: Default::default(), vacuum: Maintenance::new(metric_store::VACUUM_PENDING) }
    }
}

#[derive(Debug, Default)]
struct Unfolded {
    /// Per run: when its oldest unfolded values were written, and how many there are.
    runs: HashMap<i64, (Instant, usize)>,
    /// Whether the background fold task is running (it stops when nothing is left to fold).
    background_task: bool,
}

impl Folding {
    /// Notes `values` more unfolded values of a run (written and committed): starts folding them
    /// when there are enough, else leaves them to the background task (started when it is not
    /// running).
    fn note_written(self: &Arc<Self>, db: &PgPool, run_id: i64, values: usize) {
        let (fold_now, start) = {
            let mut unfolded = self.unfolded.lock().expect("metric writer lock");
            let entry = unfolded.runs.entry(run_id).or_insert((Instant::now(), 0));
            entry.1 += values;
            let fold_now = entry.1 >= FOLD_VALUES;
            if fold_now {
                unfolded.runs.remove(&run_id);
            }
            let start = !unfolded.background_task && !unfolded.runs.is_empty();
            unfolded.background_task |= start;
            (fold_now, start)
        };
        if fold_now {
            // Beside further writes, which do not wait for it.
            let (folding, db) = (self.clone(), db.clone());
            tokio::spawn(async move { folding.fold(&db, &[run_id]).await });
        }
        if start {
            tokio::spawn(self.clone().fold_in_background(db.clone()));
        }
    }

    /// Folds, a few times a second, the runs whose values have waited [`FOLD_AFTER`]; stops
    /// when none are left.
    async fn fold_in_background(self: Arc<Self>, db: PgPool) {
        loop {
            tokio::time::sleep(FOLD_AFTER / 4).await;
            let due: Vec<i64> = {
                let mut unfolded = self.unfolded.lock().expect("metric writer lock");
                if unfolded.runs.is_empty() {
                    unfolded.background_task = false;
                    return;
                }
                let due: Vec<i64> = unfolded.runs.iter().filter(|(_, (since, _))| since.elapsed() >= FOLD_AFTER).map(|(id, _)| *id).collect();
                for id in &due {
                    unfolded.runs.remove(id);
                }
                due
            };
            if !due.is_empty() {
                self.fold(&db, &due).await;
            }
        }
    }

    /// Folds these runs' pending values and notes what they took.
    async fn fold(self: &Arc<Self>, db: &PgPool, runs: &[i64]) {
        match metric_store::fold_runs(db, runs).await {
            Ok(bytes) => self.folded(db, bytes),
            Err(e) => tracing::warn!(runs = runs.len(), error = %e, "folding metric values failed; readers fold them"),
        }
    }

    /// Notes a fold's bytes; vacuums the pending rows, beside further writes and folds, once
    /// [`metric_store::VACUUM_AFTER_BYTES`] have been folded and no vacuum is under way.
    fn folded(&self, db: &PgPool, bytes: usize) {
        if self.folded_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes >= metric_store::VACUUM_AFTER_BYTES && self.vacuum.start(db) {
            self.folded_bytes.store(0, Ordering::Relaxed);
        }
    }
}

impl Default for MetricWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// The statement writing a run's waiting values: all requests' rows in one insert, which the
/// run being inactive refuses as a whole. Notes the values it wrote, for folding.
struct WriteValues {
    folding: Arc<Folding>,
}

impl WriteTogether<i64, Packed> for WriteValues {
    fn write<'a>(&'a self, db: &'a PgPool, run_id: &'a i64, writes: &'a [Packed]) -> BoxFuture<'a, Result<Vec<bool>>> {
        async move {
            let rows: Vec<&[u8]> = writes.iter().flat_map(|(rows, _)| rows.iter().map(Vec::as_slice)).collect();
            let mut conn = db.acquire().await?;
            let written = metric_store::append_packed_if_active(&mut conn, *run_id, &rows).await?;
            if written {
                self.folding.note_written(db, *run_id, writes.iter().map(|(_, values)| values).sum());
            }
            Ok(vec![written; writes.len()])
        }
        .boxed()
    }
}

impl MetricWriter {
    pub fn new() -> Self {
        let folding: Arc<Folding> = Default::default();
        let write = WriteValues { folding: folding.clone() };
        let writes = GroupCommit::new(WRITES_PER_RUN, MAX_COMBINED_VALUES, |(_, values): &Packed| *values, write);
        Self { writes, folding }
    }

    /// Appends `values` metric values, packed into `rows` ([`metric_store::pack`]), to run
    /// `run_id`'s history while the run is active; returns once they are committed, with `false`
    /// when the run was not active (or gone) and nothing was written. The caller has checked
    /// that it may write to the run, and the values.
    pub async fn write(&self, db: &PgPool, run_id: i64, rows: Vec<Vec<u8>>, values: usize) -> Result<bool> {
        Ok(self.writes.submit(db, run_id, (rows, values)).await?.0)
    }

    /// Notes `values` more unfolded values of a run (written and committed): starts folding them
    /// when there are enough, else leaves them to the background task (started when it is not
    /// running).
    pub fn wrote(&self, db: &PgPool, run_id: i64, values: usize) {
        self.folding.note_written(db, run_id, values)
    }
}
