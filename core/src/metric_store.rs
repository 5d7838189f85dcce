//! Where metric values live. A write appends pending rows holding its values packed into bytes
//! (`run_metric_pending`, one row per [`PACKED_ROW_BYTES`]); folding moves a run's pending rows
//! into its history, one chunk per key with the values in history order (`run_metric_chunks`),
//! and raises its latest value per key (`run_latest_metrics`) once per key. Writing costs a row
//! per 8,000 bytes of values; folding costs a row per key. Everything that reads a run's metrics
//! folds first, so it sees every committed write; [`crate::metric_writer`] also folds in the
//! background.

use std::cmp::Ordering;
use std::collections::HashMap;

use futures::TryStreamExt;
use sqlx::PgPool;

use crate::tracking::Metric;
use crate::Result;

/// Appends `metrics` to run `run_id`'s pending values (part of the caller's transaction). A run
/// deleted meanwhile takes nothing.
pub(crate) async fn append(conn: &mut sqlx::PgConnection, run_id: i64, metrics: &[Metric]) -> Result<()> {
    let rows = pack(metrics)?;
    let rows: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
    insert_packed(conn, run_id, &rows, INSERT_PENDING).await.map(|_| ())
}

/// Appends values packed into `rows` ([`pack`]) while the run is active; `false` when it is not
/// (or gone), and nothing was written.
pub(crate) async fn append_packed_if_active(conn: &mut sqlx::PgConnection, run_id: i64, rows: &[&[u8]]) -> Result<bool> {
    insert_packed(conn, run_id, rows, INSERT_PENDING_IF_ACTIVE).await
}

macro_rules! insert_pending_sql {
    () => {
        "INSERT INTO run_metric_pending (run_id, experiment_id, packed)
         SELECT r.id, r.experiment_id, p FROM runs r, unnest($2::bytea[]) AS p WHERE r.id = $1"
    };
}
const INSERT_PENDING: &str = insert_pending_sql!();
const INSERT_PENDING_IF_ACTIVE: &str = concat!(insert_pending_sql!(), " AND r.lifecycle_stage = 'active'");

/// Metrics as the four arrays statements take them: keys, values, timestamps, steps.
pub fn columns(metrics: &[Metric]) -> (Vec<&str>, Vec<f64>, Vec<i64>, Vec<i64>) {
    (
        metrics.iter().map(|m| m.key.as_str()).collect(),
        metrics.iter().map(|m| m.value).collect(),
        metrics.iter().map(|m| m.timestamp).collect(),
        metrics.iter().map(|m| m.step).collect(),
    )
}

/// Bytes of packed values in one pending row at most: a row this size stays in its table page
/// (the table's `toast_tuple_target`), not out of line. Longer writes take several rows.
pub const PACKED_ROW_BYTES: usize = 8_000;

/// Bytes of a packed value's numbers: value, timestamp and step.
const NUMBERS_BYTES: usize = 3 * 8;

/// Bytes a value takes packed besides its key: the key's length and the numbers.
const PACKED_VALUE_BYTES: usize = 1 + NUMBERS_BYTES;

/// Packs metric values as `run_metric_pending.packed` holds them (see its migration): per value
/// the key's length in one byte, the key, then value, timestamp and step as 8 big-endian bytes
/// each. Cut into rows of at most [`PACKED_ROW_BYTES`] (a longer single value would take a row of
/// its own; keys are at most 250 bytes, so none is).
pub fn pack(metrics: &[Metric]) -> Result<Vec<Vec<u8>>> {
    let mut rows: Vec<Vec<u8>> = Vec::new();
    let mut row: Vec<u8> = Vec::new();
    for m in metrics {
        let key_length = u8::try_from(m.key.len()).map_err(|_| crate::Error::bad_request(format!("metric name '{}' is too long", m.key)))?;
        if !row.is_empty() && row.len() + PACKED_VALUE_BYTES + m.key.len() > PACKED_ROW_BYTES {
            rows.push(std::mem::take(&mut row));
        }
        if row.is_empty() {
            row.reserve(PACKED_ROW_BYTES.min(metrics.len() * (PACKED_VALUE_BYTES + m.key.len())));
        }
        row.push(key_length);
        row.extend_from_slice(m.key.as_bytes());
        row.extend_from_slice(&m.value.to_be_bytes());
        row.extend_from_slice(&m.timestamp.to_be_bytes());
        row.extend_from_slice(&m.step.to_be_bytes());
    }
    if !row.is_empty() {
        rows.push(row);
    }
    Ok(rows)
}

/// Calls `value(key, point)` for each value [`pack`] put in `packed`, in order.
pub fn unpack(packed: &[u8], mut value: impl FnMut(&str, Point)) -> Result<()> {
    let broken = || crate::Error::Internal(anyhow::anyhow!("a pending row of metric values is not as packed"));
    let mut rest = packed;
    while let Some((&length, after)) = rest.split_first() {
        let length = length as usize;
        if after.len() < length + NUMBERS_BYTES {
            return Err(broken());
        }
        let key = std::str::from_utf8(&after[..length]).map_err(|_| broken())?;
        let number = |at: usize| -> [u8; 8] { after[length + at..length + at + 8].try_into().expect("eight bytes") };
        let point = Point { value: f64::from_be_bytes(number(0)), timestamp: i64::from_be_bytes(number(8)), step: i64::from_be_bytes(number(16)) };
        value(key, point);
        rest = &after[length + NUMBERS_BYTES..];
    }
    Ok(())
}

async fn insert_packed(conn: &mut sqlx::PgConnection, run_id: i64, rows: &[&[u8]], statement: &'static str) -> Result<bool> {
    if rows.is_empty() {
        return Ok(true);
    }
    let written = sqlx::query(statement).bind(run_id).bind(rows).execute(conn).await?.rows_affected();
    Ok(written > 0)
}

/// Deletes every value of run `run_id`, pending and folded, and its latest values (part of the
/// caller's transaction). The run's row is locked first, in the order folds lock it, so a fold
/// under way finishes before and one starting after finds nothing to fold.
pub async fn clear(conn: &mut sqlx::PgConnection, run_id: i64) -> Result<()> {
    sqlx::query("SELECT 1 FROM runs WHERE id = $1 FOR NO KEY UPDATE").bind(run_id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM run_metric_pending WHERE run_id = $1").bind(run_id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM run_metric_chunks WHERE run_id = $1").bind(run_id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM run_latest_metrics WHERE run_id = $1").bind(run_id).execute(&mut *conn).await?;
    Ok(())
}

/// Which of these runs have pending values: one index probe per run, which stops at its first
/// pending row.
const PENDING_OF_RUNS: &str =
    "SELECT r.id FROM unnest($1::int8[]) AS r(id) WHERE EXISTS (SELECT 1 FROM run_metric_pending p WHERE p.run_id = r.id)";

/// The runs of these experiments with pending values (usually none).
const PENDING_OF_EXPERIMENTS: &str = "SELECT DISTINCT run_id FROM run_metric_pending WHERE experiment_id = ANY($1)";

/// Folds the pending values of these runs into their histories and latest values; answers how
/// many bytes of packed values it took from the pending rows.
pub async fn fold_runs(db: &PgPool, run_ids: &[i64]) -> Result<usize> {
    fold(db, PENDING_OF_RUNS, run_ids).await
}

/// Folds the pending values of every run of these experiments, so that a read sees them all.
pub async fn fold_experiments(db: &PgPool, experiment_ids: &[i64]) -> Result<()> {
    fold(db, PENDING_OF_EXPERIMENTS, experiment_ids).await.map(drop)
}

/// The statement vacuuming the pending values' table. Folding deletes pending rows; until a
/// vacuum removes them they stay in the table and its indexes, and every fold's and reader's look
/// at a run's pending rows passes them all (a run logged to at full speed leaves thousands per
/// second, and autovacuum looks at a database about once a minute). The writer runs it after
/// folding [`VACUUM_AFTER_BYTES`]. A vacuum does not block writes or folds; one that finds
/// another under way waits for it.
pub const VACUUM_PENDING: &str = "VACUUM run_metric_pending";

/// Bytes of packed values folded (deleted from the pending rows) after which the writer vacuums
/// them away ([`VACUUM_PENDING`]): about 6,000 requests of 100 values with short keys.
pub const VACUUM_AFTER_BYTES: usize = 16 << 20;

/// Values per chunk at most: a page of history reads a few chunks, not the whole fold.
pub const CHUNK_VALUES: usize = 8_192;

/// Finds the runs with pending values (one index probe; usually there are none), then in one
/// transaction:
/// - locks those runs' rows, in id order, as raising their revisions would (folding last would
///   invite a deadlock with a transaction that changes or deletes a run, then its metrics), so
///   concurrent folds of a run take turns: the second finds the values folded and skips them;
/// - takes their pending rows;
/// - sorts each run's values per key (here, not in the database) and writes one chunk per run
///   and key;
/// - raises the latest values (the greatest step, then timestamp, then value, as MLflow
///   defines them), in (run, key) order.
async fn fold(db: &PgPool, pending_runs: &str, ids: &[i64]) -> Result<usize> {
    let runs: Vec<i64> = sqlx::query_scalar(pending_runs).bind(ids).fetch_all(db).await?;
    if runs.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    let runs: Vec<i64> = sqlx::query_scalar("SELECT id FROM runs WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(&runs)
        .fetch_all(&mut *tx)
        .await?;
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as("DELETE FROM run_metric_pending WHERE run_id = ANY($1) RETURNING run_id, packed")
        .bind(&runs)
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let taken: usize = rows.iter().map(|(_, packed)| packed.len()).sum();
    // Per run and key; a key's name is copied once per fold, not once per value.
    let mut by_run: HashMap<i64, HashMap<String, Vec<Point>>> = HashMap::new();
    for (run_id, packed) in &rows {
        let keys = by_run.entry(*run_id).or_default();
        unpack(packed, |key, point| match keys.get_mut(key) {
            Some(points) => points.push(point),
            None => {
                keys.insert(key.to_string(), vec![point]);
            }
        })?;
    }
    drop(rows);
    let mut groups: Vec<((i64, String), Vec<Point>)> =
        by_run.into_iter().flat_map(|(run_id, keys)| keys.into_iter().map(move |(key, points)| ((run_id, key), points))).collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    take_small_chunks(&mut tx, &mut groups).await?;
    let n = groups.len();
    let (mut runs, mut keys) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut first_steps, mut first_times, mut last_steps, mut last_times) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut starts, mut ends) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut latest_values, mut latest_times, mut latest_steps) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let total: usize = groups.iter().map(|(_, p)| p.len()).sum();
    let (mut values, mut times, mut steps) = (Vec::with_capacity(total), Vec::with_capacity(total), Vec::with_capacity(total));
    let (mut latest_runs, mut latest_keys) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for ((run_id, key), mut points) in groups {
        points.sort_unstable_by(Point::order);
        let last = points[points.len() - 1];
        latest_runs.push(run_id);
        latest_keys.push(key.clone());
        latest_values.push(last.value);
        latest_times.push(last.timestamp);
        latest_steps.push(last.step);
        for piece in points.chunks(CHUNK_VALUES) {
            let (first, last) = (piece[0], piece[piece.len() - 1]);
            runs.push(run_id);
            keys.push(key.clone());
            first_steps.push(first.step);
            first_times.push(first.timestamp);
            last_steps.push(last.step);
            last_times.push(last.timestamp);
            // PostgreSQL's array slices count from 1 and include both ends.
            starts.push(values.len() as i32 + 1);
            for p in piece {
                values.push(p.value);
                times.push(p.timestamp);
                steps.push(p.step);
            }
            ends.push(values.len() as i32);
        }
    }
    sqlx::query(
        "INSERT INTO run_metric_chunks (run_id, key, first_step, first_timestamp, last_step, last_timestamp, value_count, vals, timestamps, steps)
         SELECT c.run_id, c.key, c.fs, c.ft, c.ls, c.lt, c.b - c.a + 1,
                ($9::float8[])[c.a:c.b], ($10::int8[])[c.a:c.b], ($11::int8[])[c.a:c.b]
           FROM unnest($1::int8[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int4[], $8::int4[])
                AS c(run_id, key, fs, ft, ls, lt, a, b)",
    )
    .bind(&runs)
    .bind(&keys)
    .bind(&first_steps)
    .bind(&first_times)
    .bind(&last_steps)
    .bind(&last_times)
    .bind(&starts)
    .bind(&ends)
    .bind(&values)
    .bind(&times)
    .bind(&steps)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO run_latest_metrics (run_id, experiment_id, run_start_time, key, value, timestamp, step)
         SELECT u.run_id, r.experiment_id, r.start_time, u.key, u.v, u.t, u.s
           FROM unnest($1::int8[], $2::text[], $3::float8[], $4::int8[], $5::int8[]) WITH ORDINALITY AS u(run_id, key, v, t, s, n)
           JOIN runs r ON r.id = u.run_id
          ORDER BY u.n
         ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value, timestamp = EXCLUDED.timestamp, step = EXCLUDED.step
          WHERE (EXCLUDED.step, EXCLUDED.timestamp, EXCLUDED.value) >= (run_latest_metrics.step, run_latest_metrics.timestamp, run_latest_metrics.value)",
    )
    .bind(&latest_runs)
    .bind(&latest_keys)
    .bind(&latest_values)
    .bind(&latest_times)
    .bind(&latest_steps)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(taken)
}

/// Chunks with fewer values than this are small: a fold of a few values of their key merges
/// with them (see [`take_small_chunks`]).
pub const SMALL_CHUNK: usize = 1_024;

/// A fold of fewer values of a key than this looks for small chunks to merge with. Busier
/// logging folds more at a time and makes chunks big enough as they are, without reading back.
pub const FEW_VALUES: usize = 128;

/// Takes into `groups` (a fold's values per run and key) the small chunks those values would
/// otherwise sit beside. For each key folding fewer than [`FEW_VALUES`] values, its chunks
/// written last are taken, newest first, while each is small and holds no more values than are
/// gathered so far; they are deleted here and written again, merged, by the fold. A value is rewritten
/// only when its chunk at least doubles, so at most log2([`SMALL_CHUNK`]) times, and a key
/// logged a value at a time ends up with about one chunk per [`SMALL_CHUNK`] values (plus a
/// few smaller ones at its end) instead of one per fold. Part of the fold's transaction, with
/// the runs' rows locked, so no other fold changes these chunks meanwhile.
async fn take_small_chunks(tx: &mut sqlx::PgConnection, groups: &mut [((i64, String), Vec<Point>)]) -> Result<()> {
    let small: Vec<usize> = (0..groups.len()).filter(|&i| groups[i].1.len() < FEW_VALUES).collect();
    if small.is_empty() {
        return Ok(());
    }
    let runs: Vec<i64> = small.iter().map(|&i| groups[i].0 .0).collect();
    let keys: Vec<&str> = small.iter().map(|&i| groups[i].0 .1.as_str()).collect();
    // Enough to reach a chunk that is not small when sizes double from one value up.
    let look_back = (SMALL_CHUNK.trailing_zeros() + 2) as i64;
    // The key's chunks written last, newest first (by id, not by first value: a chunk holding a
    // value logged late would otherwise sit in front of newer ones and stop the merging). A
    // count missing (chunks from before counts were kept) is read off the array.
    let mut trailing: Vec<(i64, i64, i32)> = sqlx::query_as(
        "SELECT g.n, c.id, coalesce(c.value_count, cardinality(c.vals))
           FROM unnest($1::int8[], $2::text[]) WITH ORDINALITY AS g(run_id, key, n)
           CROSS JOIN LATERAL (SELECT id, value_count, vals FROM run_metric_chunks c
                                WHERE c.run_id = g.run_id AND c.key = g.key
                                ORDER BY id DESC LIMIT $3) c",
    )
    .bind(&runs)
    .bind(&keys)
    .bind(look_back)
    .fetch_all(&mut *tx)
    .await?;
    trailing.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let (mut taken_runs, mut taken_keys, mut taken_ids) = (Vec::new(), Vec::new(), Vec::new());
    let mut gathered = 0usize;
    let mut current = 0i64;
    let mut open = false;
    for (n, id, count) in trailing {
        let group = small[(n - 1) as usize];
        if n != current {
            (current, open) = (n, true);
            gathered = groups[group].1.len();
        }
        let count = count as usize;
        if open && count < SMALL_CHUNK && count <= gathered {
            taken_runs.push(groups[group].0 .0);
            taken_keys.push(groups[group].0 .1.as_str());
            taken_ids.push(id);
            gathered += count;
        } else {
            open = false;
        }
    }
    if taken_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i64, String, Vec<f64>, Vec<i64>, Vec<i64>)> = sqlx::query_as(
        "DELETE FROM run_metric_chunks c USING unnest($1::int8[], $2::text[], $3::int8[]) AS t(run_id, key, id)
          WHERE c.run_id = t.run_id AND c.key = t.key AND c.id = t.id
          RETURNING c.run_id, c.key, c.vals, c.timestamps, c.steps",
    )
    .bind(&taken_runs)
    .bind(&taken_keys)
    .bind(&taken_ids)
    .fetch_all(&mut *tx)
    .await?;
    let index: HashMap<(i64, &str), usize> = small.iter().map(|&i| ((groups[i].0 .0, groups[i].0 .1.as_str()), i)).collect();
    let mut merged: Vec<(usize, Vec<Point>)> = Vec::with_capacity(rows.len());
    for (run_id, key, values, timestamps, steps) in rows {
        let i = index[&(run_id, key.as_str())];
        merged.push((i, points_of(values, timestamps, steps).collect()));
    }
    for (i, points) in merged {
        groups[i].1.extend(points);
    }
    Ok(())
}

/// PostgreSQL's order of `float8`: NaN after every number and equal to itself, -0 equal to 0.
pub fn value_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).expect("numbers compare"),
    }
}

/// One logged value: (step, timestamp, value), compared in history order.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub step: i64,
    pub timestamp: i64,
    pub value: f64,
}

impl Point {
    pub fn order(&self, other: &Point) -> Ordering {
        (self.step, self.timestamp).cmp(&(other.step, other.timestamp)).then_with(|| value_order(self.value, other.value))
    }
}

type ChunkRow = (i64, i64, Vec<f64>, Vec<i64>, Vec<i64>);

fn points_of(values: Vec<f64>, timestamps: Vec<i64>, steps: Vec<i64>) -> impl Iterator<Item = Point> {
    values.into_iter().zip(timestamps).zip(steps).map(|((value, timestamp), step)| Point { step, timestamp, value })
}

/// The first `count` values of a (folded) history from `from` on (values equal to `from`
/// included), in history order. Reads the chunks in the order of their first values and stops
/// once no further chunk can hold one of the first `count`.
pub async fn history_from(db: &PgPool, run_id: i64, key: &str, from: Option<Point>, count: usize) -> Result<Vec<Point>> {
    let (from_step, from_timestamp) = from.map(|p| (p.step, p.timestamp)).unwrap_or((i64::MIN, i64::MIN));
    // Chunks a batch at a time (about what the page still needs, and one more): PostgreSQL sends
    // every row a statement selects, so one statement for all would send the whole rest of the
    // history. What a chunk holds is judged from the chunks read so far: a slow logger's folds
    // make small chunks, and a page of them must not take a statement per few values.
    let (mut chunks_read, mut values_read) = (0usize, 0usize);
    // At most twice the batch before: a few small chunks first must not make the next batch
    // fetch a thousand full ones.
    let mut batch = 0i64;
    // The batches see one snapshot: a fold merging small chunks meanwhile would otherwise show a
    // later batch values an earlier one already had.
    let mut tx = db.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
    let mut after = (i64::MIN, i64::MIN, i64::MIN);
    let mut fetched: std::collections::VecDeque<ChunkRow> = std::collections::VecDeque::new();
    let mut exhausted = false;
    let mut got: Vec<Point> = Vec::new();
    // Whether `got` is in history order (so far each chunk started after the one before
    // ended, as when values are logged in order).
    let mut sorted = true;
    // The (step, timestamp) of the count-th value gathered so far, when there are that many:
    // a chunk starting after it holds none of the first `count`. Worked out again (when not
    // simply read off) once what was gathered has doubled, so a stale (later) bound only reads
    // a chunk more.
    let mut bound: Option<(i64, i64)> = None;
    let mut bound_at = 0;
    loop {
        if fetched.is_empty() && !exhausted {
            let per_chunk = if chunks_read == 0 { CHUNK_VALUES } else { (values_read / chunks_read).max(1) };
            let wanted = (count.saturating_sub(got.len()) / per_chunk + 2).min(1_000) as i64;
            batch = if batch == 0 { wanted } else { wanted.min(2 * batch) };
            let rows: Vec<(i64, ChunkRow)> = sqlx::query_as::<_, (i64, i64, i64, Vec<f64>, Vec<i64>, Vec<i64>)>(
                "SELECT id, first_step, first_timestamp, vals, timestamps, steps FROM run_metric_chunks
                  WHERE run_id = $1 AND key = $2 AND (last_step, last_timestamp) >= ($3, $4)
                    AND (first_step, first_timestamp, id) > ($5, $6, $7)
                  ORDER BY first_step, first_timestamp, id LIMIT $8",
            )
            .bind(run_id)
            .bind(key)
            .bind(from_step)
            .bind(from_timestamp)
            .bind(after.0)
            .bind(after.1)
            .bind(after.2)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(id, fs, ft, v, t, s)| (id, (fs, ft, v, t, s)))
            .collect();
            exhausted = (rows.len() as i64) < batch;
            if let Some((id, (fs, ft, ..))) = rows.last() {
                after = (*fs, *ft, *id);
            }
            fetched.extend(rows.into_iter().map(|(_, row)| row));
        }
        let Some((first_step, first_timestamp, values, timestamps, steps)) = fetched.pop_front() else { break };
        if let Some(b) = bound {
            if (first_step, first_timestamp) > b {
                break;
            }
        }
        let points: Vec<Point> = points_of(values, timestamps, steps).collect();
        chunks_read += 1;
        values_read += points.len();
        // A chunk is in history order: the values before `from` are its first ones.
        let start = from.map_or(0, |f| points.partition_point(|p| p.order(&f) == Ordering::Less));
        let points = &points[start..];
        if let (Some(last), Some(first)) = (got.last(), points.first()) {
            sorted &= last.order(first) != Ordering::Greater;
        }
        got.extend_from_slice(points);
        if count > 0 && got.len() >= count {
            if sorted {
                bound = Some((got[count - 1].step, got[count - 1].timestamp));
            } else if bound.is_none() || got.len() >= 2 * bound_at {
                let (_, nth, _) = got.select_nth_unstable_by(count - 1, Point::order);
                bound = Some((nth.step, nth.timestamp));
                bound_at = got.len();
            }
        }
    }
    tx.commit().await?;
    if !sorted {
        got.sort_unstable_by(Point::order);
    }
    got.truncate(count);
    Ok(got)
}

/// Every (folded) value of a metric, in no particular order.
pub async fn all_points(db: &PgPool, run_id: i64, key: &str) -> Result<Vec<Point>> {
    let mut chunks = sqlx::query_as::<_, ChunkRow>(
        "SELECT first_step, first_timestamp, vals, timestamps, steps FROM run_metric_chunks WHERE run_id = $1 AND key = $2",
    )
    .bind(run_id)
    .bind(key)
    .fetch(db);
    let mut got = Vec::new();
    while let Some((_, _, values, timestamps, steps)) = chunks.try_next().await? {
        got.extend(points_of(values, timestamps, steps));
    }
    Ok(got)
}
