//! Bulk insert of narrow rows into PostgreSQL: UNNEST batches and COPY, rows per second.
//! The physical limit later ingestion (metrics, prediction logs) is compared against.
//!
//! Run: `cargo bench -p trellis-core --bench bulk_insert` (uses TRELLIS_TEST_DATABASE_URL).

use std::time::Instant;

use trellis_core::testing::TestDb;

const ROWS: i64 = 1_000_000;
const BATCH: i64 = 10_000;

#[tokio::main]
async fn main() {
    let t = TestDb::new().await;
    sqlx::query("CREATE UNLOGGED TABLE IF NOT EXISTS bench_rows (run_id BIGINT, step BIGINT, value DOUBLE PRECISION)")
        .execute(&t.pool)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE bench_logged (run_id BIGINT, step BIGINT, value DOUBLE PRECISION)")
        .execute(&t.pool)
        .await
        .unwrap();

    for table in ["bench_logged", "bench_rows"] {
        // UNNEST: one INSERT per batch of arrays.
        let start = Instant::now();
        let mut i = 0;
        while i < ROWS {
            let steps: Vec<i64> = (i..i + BATCH).collect();
            let runs: Vec<i64> = steps.iter().map(|s| s % 100).collect();
            let values: Vec<f64> = steps.iter().map(|s| (*s as f64).sin()).collect();
            sqlx::query(&format!(
                "INSERT INTO {table} (run_id, step, value) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::float8[])"
            ))
            .bind(&runs)
            .bind(&steps)
            .bind(&values)
            .execute(&t.pool)
            .await
            .unwrap();
            i += BATCH;
        }
        let unnest = start.elapsed();

        // COPY FROM STDIN, text format.
        let mut conn = t.pool.acquire().await.unwrap();
        let start = Instant::now();
        let mut copy = conn.copy_in_raw(&format!("COPY {table} (run_id, step, value) FROM STDIN")).await.unwrap();
        let mut buf = String::with_capacity(4 << 20);
        for s in 0..ROWS {
            use std::fmt::Write;
            writeln!(buf, "{}\t{}\t{}", s % 100, s, (s as f64).sin()).unwrap();
            if buf.len() > (4 << 20) - 100 {
                copy.send(buf.as_bytes()).await.unwrap();
                buf.clear();
            }
        }
        copy.send(buf.as_bytes()).await.unwrap();
        copy.finish().await.unwrap();
        let copied = start.elapsed();

        let kind = if table == "bench_rows" { "unlogged" } else { "logged" };
        println!(
            "{kind:>8} table, {ROWS} rows of (bigint, bigint, float8): UNNEST x{BATCH}: {:>9.0} rows/s ({:.2} s)   COPY: {:>9.0} rows/s ({:.2} s)",
            ROWS as f64 / unnest.as_secs_f64(),
            unnest.as_secs_f64(),
            ROWS as f64 / copied.as_secs_f64(),
            copied.as_secs_f64()
        );
    }
}
