mod common;

use common::*;
use trellis_core::tracking::{self, Metric, CHART_POINTS};

/// A long history is drawn from a few thousand points that keep its ends and its spikes.
#[tokio::test]
async fn long_metric_histories_are_bucketed_for_charts_keeping_spikes() {
    let t = TestDb::new().await;
    let (_, ada) = user(&t.pool, "ada@example.org", false).await;
    let p = project(&t.pool, &ada, "Churn").await;
    let exp = tracking::create_experiment(&t.pool, &ada, &format!("{}/curves", p.slug), &[]).await.unwrap();
    let run = tracking::create_run(&t.core(), &ada, &exp.to_string(), Some("long"), None, &[]).await.unwrap();
    let n = 30_000i64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let metrics: Vec<Metric> = chunk
            .iter()
            .map(|&i| Metric {
                key: "loss".into(),
                value: if i == 12_345 { 50.0 } else if i == 777 { f64::NAN } else { 1.0 / (1.0 + i as f64) },
                timestamp: 1_000_000 + i * 10,
                step: i,
            })
            .collect();
        tracking::log_batch(&t.core(), &ada, &run.run_uuid, &metrics, &[], &[]).await.unwrap();
    }
    let points = tracking::metric_chart_points(&t.pool, &ada, &run.run_uuid, "loss", false).await.unwrap();
    assert!(points.len() as i64 <= CHART_POINTS, "{} points", points.len());
    assert!(points.len() as i64 > CHART_POINTS / 2, "{} points", points.len());
    assert!(points.windows(2).all(|w| w[0].0 <= w[1].0), "in x order");
    assert_eq!(points.first().unwrap(), &(0.0, 1.0));
    assert_eq!(points.last().unwrap().0, (n - 1) as f64);
    assert!(points.contains(&(12_345.0, 50.0)), "the spike is kept");
    assert!(points.iter().all(|p| p.1.is_finite()));
    // Folded into chunks of at most CHUNK_VALUES, and paged across them in order.
    let chunks: Vec<i32> = sqlx::query_scalar("SELECT cardinality(vals) FROM run_metric_chunks c JOIN runs r ON r.id = c.run_id WHERE r.run_uuid = $1")
        .bind(&run.run_uuid)
        .fetch_all(&t.pool)
        .await
        .unwrap();
    assert!(chunks.len() >= 4 && chunks.iter().all(|&c| c as usize <= trellis_core::metric_store::CHUNK_VALUES), "{chunks:?}");
    let (mut steps, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = tracking::metric_history(&t.pool, &ada, &run.run_uuid, "loss", 7_000, cursor).await.unwrap();
        steps.extend(page.iter().map(|m| m.step));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(steps, (0..n).collect::<Vec<_>>());
    // By time: seconds since the first value.
    let by_time = tracking::metric_chart_points(&t.pool, &ada, &run.run_uuid, "loss", true).await.unwrap();
    assert_eq!(by_time.first().unwrap().0, 0.0);
    assert!((by_time.last().unwrap().0 - (n - 1) as f64 * 0.01).abs() < 1e-9);
    // A short history comes as logged; outsiders see nothing.
    let short = tracking::create_run(&t.core(), &ada, &exp.to_string(), Some("short"), None, &[]).await.unwrap();
    let few: Vec<Metric> = (0..5).map(|i| Metric { key: "acc".into(), value: i as f64, timestamp: 1, step: i }).collect();
    tracking::log_batch(&t.core(), &ada, &short.run_uuid, &few, &[], &[]).await.unwrap();
    let got = tracking::metric_chart_points(&t.pool, &ada, &short.run_uuid, "acc", false).await.unwrap();
    assert_eq!(got, (0..5).map(|i| (i as f64, i as f64)).collect::<Vec<_>>());
    let (_, eve) = user(&t.pool, "eve@example.org", false).await;
    assert!(tracking::metric_chart_points(&t.pool, &eve, &short.run_uuid, "acc", false).await.is_err());
}

/// Paging a history by cursor returns every row once, also across runs of identical rows and NaN.
#[tokio::test]
async fn metric_history_pages_by_cursor_without_losing_or_repeating_rows() {
    let t = TestDb::new().await;
    let (_, ada) = user(&t.pool, "ada@example.org", false).await;
    let p = project(&t.pool, &ada, "Churn").await;
    let exp = tracking::create_experiment(&t.pool, &ada, &format!("{}/pages", p.slug), &[]).await.unwrap();
    let run = tracking::create_run(&t.core(), &ada, &exp.to_string(), Some("r"), None, &[]).await.unwrap();
    let mut logged = Vec::new();
    for step in 0..6i64 {
        let copies = if step == 2 { 7 } else { 1 };
        for _ in 0..copies {
            logged.push(Metric { key: "m".into(), value: 0.5, timestamp: 10, step });
        }
        logged.push(Metric { key: "m".into(), value: f64::NAN, timestamp: 11, step });
        logged.push(Metric { key: "m".into(), value: -(step as f64), timestamp: 11, step });
    }
    tracking::log_batch(&t.core(), &ada, &run.run_uuid, &logged, &[], &[]).await.unwrap();
    let (all, none) = tracking::metric_history(&t.pool, &ada, &run.run_uuid, "m", 1000, None).await.unwrap();
    assert_eq!(all.len(), logged.len());
    assert!(none.is_none());
    let show = |ms: &[Metric]| ms.iter().map(|m| format!("{}/{}/{}", m.step, m.timestamp, m.value)).collect::<Vec<_>>();
    for size in [1, 2, 3, 4, 5] {
        let (mut paged, mut cursor) = (Vec::new(), None);
        loop {
            let (page, next) = tracking::metric_history(&t.pool, &ada, &run.run_uuid, "m", size, cursor).await.unwrap();
            paged.extend(page);
            match next {
                Some(c) => cursor = Some(tracking::HistoryCursor::parse(&c.token()).unwrap()),
                None => break,
            }
        }
        assert_eq!(show(&paged), show(&all), "pages of {size}");
    }
    assert!(tracking::HistoryCursor::parse("1:2:zz:0").is_err());
    assert!(tracking::HistoryCursor::parse("1:2:0:-1").is_err());
}

/// Values logged out of order, in writes folded at different times (some still pending when
/// read), come back in history order (step, timestamp, value; NaN last, -0 equal to 0), whole
/// and in pages of any size; the latest value per key is the greatest.
#[tokio::test]
async fn metric_histories_folded_in_pieces_read_back_in_history_order() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let ada = team.editor.clone();
    let exp = tracking::create_experiment(&t.pool, &ada, &format!("{}/folds", team.project.slug), &[]).await.unwrap();
    let run = tracking::create_run(&t.core(), &ada, &exp.to_string(), Some("r"), None, &[]).await.unwrap();
    let core = t.core();
    let m = |key: &str, step: i64, timestamp: i64, value: f64| Metric { key: key.into(), value, timestamp, step };
    let writes: Vec<Vec<Metric>> = vec![
        (10..20).map(|s| m("loss", s, 100 + s, 1.0 / s as f64)).collect(),
        (0..5).map(|s| m("loss", s, 50 - s, s as f64)).chain([m("loss", 12, 112, 0.5), m("loss", 12, 112, -3.0)]).collect(),
        // Step 0 throughout, ordered by time: logged newest first.
        (0..8).rev().map(|i| m("acc", 0, 1_000 + i, i as f64 / 10.0)).collect(),
        vec![m("loss", 3, 47, f64::NAN), m("loss", 3, 47, -1.0), m("loss", 25, 1, -0.0), m("acc", 0, 1_003, 9.0)],
        (5..10).map(|s| m("loss", s, 200, 2.0)).chain([m("loss", 19, 119, 7.0)]).collect(),
        vec![m("loss", 40, 1, 4.0), m("acc", 0, 999, 0.25)],
    ];
    for (i, w) in writes.iter().enumerate() {
        // With params, the write is a transaction of its own; without, it joins the writer's.
        let params = if i == 3 { vec![("lr".to_string(), "0.1".to_string())] } else { vec![] };
        tracking::log_batch(&core, &ada, &run.run_uuid, w, &params, &[]).await.unwrap();
        if i < writes.len() - 1 {
            // Reading folds what is pending; the last write is read unfolded.
            tracking::get_run(&t.pool, &ada, &run.run_uuid).await.unwrap();
        }
    }
    // Folds of a few values merge with the key's small chunks written before (when those hold no
    // more than is gathered): the fourth fold of "loss" (6 values) took the third (3), the second
    // (7) and the first (10), logged out of order, into one chunk; "acc" kept its 8 and its 1.
    let sizes: Vec<(String, i32)> = sqlx::query_as("SELECT key, value_count FROM run_metric_chunks").fetch_all(&t.pool).await.unwrap();
    assert!(sizes.contains(&("loss".into(), 26)) && sizes.contains(&("acc".into(), 8)), "{sizes:?}");
    let order = |a: &Metric, b: &Metric| {
        let v = |x: f64| if x.is_nan() { (1, 0.0) } else { (0, x + 0.0) };
        (a.step, a.timestamp).cmp(&(b.step, b.timestamp)).then(v(a.value).partial_cmp(&v(b.value)).unwrap())
    };
    let show = |ms: &[Metric]| ms.iter().map(|m| format!("{}/{}/{}", m.step, m.timestamp, m.value + 0.0)).collect::<Vec<_>>();
    for key in ["loss", "acc"] {
        let mut expected: Vec<Metric> = writes.iter().flatten().filter(|w| w.key == key).cloned().collect();
        expected.sort_by(order);
        let (all, next) = tracking::metric_history(&t.pool, &ada, &run.run_uuid, key, 1000, None).await.unwrap();
        assert_eq!(show(&all), show(&expected), "{key}");
        assert!(next.is_none());
        for size in [1, 3, 7, 50] {
            let (mut paged, mut cursor) = (Vec::new(), None);
            loop {
                let (page, next) = tracking::metric_history(&t.pool, &ada, &run.run_uuid, key, size, cursor).await.unwrap();
                assert!(page.len() as i64 <= size);
                paged.extend(page);
                match next {
                    Some(c) => cursor = Some(tracking::HistoryCursor::parse(&c.token()).unwrap()),
                    None => break,
                }
            }
            assert_eq!(show(&paged), show(&expected), "{key} in pages of {size}");
        }
        let latest = tracking::get_run(&t.pool, &ada, &run.run_uuid).await.unwrap().metrics.into_iter().find(|l| l.key == key).unwrap();
        assert_eq!(show(&[latest]), show(&expected[expected.len() - 1..]), "latest {key}");
        // The chart by step: finite values, in step order.
        let points = tracking::metric_chart_points(&t.pool, &ada, &run.run_uuid, key, false).await.unwrap();
        let finite: Vec<(f64, f64)> = expected.iter().filter(|m| m.value.is_finite()).map(|m| (m.step as f64, m.value)).collect();
        assert_eq!(points.len(), finite.len());
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0), "{key} chart in step order");
    }
    // Reading left nothing pending.
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM run_metric_pending").fetch_one(&t.pool).await.unwrap();
    assert_eq!(pending, 0);
}

/// Values written but not yet folded are seen by every reader: a search filtering and ordering
/// by the metric, counting, the experiment's keys, a run's page and its history.
#[tokio::test]
async fn pending_metric_values_are_seen_by_every_reader() {
    use trellis_core::tracking::ViewType;
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let ada = team.editor.clone();
    let exp = tracking::create_experiment(&t.pool, &ada, &format!("{}/pending", team.project.slug), &[]).await.unwrap();
    let e = exp.to_string();
    let mut runs = Vec::new();
    for (name, acc) in [("low", 0.2), ("high", 0.9), ("mid", 0.6)] {
        let run = tracking::create_run(&t.core(), &ada, &e, Some(name), None, &[]).await.unwrap();
        // Written as the writer writes them, and left pending (nothing here folds).
        sqlx::query(
            "INSERT INTO run_metric_pending (run_id, experiment_id, packed)
             SELECT id, experiment_id, metric_values_packed(ARRAY['acc', 'acc'], ARRAY[0.1, $2], ARRAY[5, 6]::int8[], ARRAY[0, 1]::int8[])
               FROM runs WHERE run_uuid = $1",
        )
        .bind(&run.run_uuid)
        .bind(acc)
        .execute(&t.pool)
        .await
        .unwrap();
        runs.push((name, run.run_uuid));
    }
    let core = t.core();
    let order = ["metrics.acc DESC".to_string()];
    let found = tracking::search_runs(&t.pool, &core.runs, &team.viewer, &[e.clone()], "metrics.acc > 0.5", &order, ViewType::ActiveOnly, 10, 0)
        .await
        .unwrap();
    let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["high", "mid"]);
    assert_eq!(tracking::count_runs(&t.pool, &team.viewer, &[e.clone()], "metrics.acc < 0.5", ViewType::ActiveOnly).await.unwrap(), 1);
    assert_eq!(tracking::experiment_keys(&t.pool, &team.viewer, &e).await.unwrap().0, ["acc"]);
    // A second batch, pending again, moves the latest value.
    sqlx::query(
        "INSERT INTO run_metric_pending (run_id, experiment_id, packed)
         SELECT id, experiment_id, metric_values_packed(ARRAY['acc'], ARRAY[0.05], ARRAY[7]::int8[], ARRAY[2]::int8[]) FROM runs WHERE run_uuid = $1",
    )
    .bind(&runs[1].1)
    .execute(&t.pool)
    .await
    .unwrap();
    let high = tracking::get_run(&t.pool, &team.viewer, &runs[1].1).await.unwrap();
    assert_eq!(high.metrics.iter().map(|m| (m.key.as_str(), m.value, m.step)).collect::<Vec<_>>(), [("acc", 0.05, 2)]);
    let (history, _) = tracking::metric_history(&t.pool, &team.viewer, &runs[1].1, "acc", 10, None).await.unwrap();
    assert_eq!(history.iter().map(|m| m.value).collect::<Vec<_>>(), [0.1, 0.9, 0.05]);
    // The outsider sees none of it.
    assert!(tracking::metric_history(&t.pool, &team.outsider, &runs[1].1, "acc", 10, None).await.is_err());
}

/// A team editor's run "r" in a new experiment `experiment` of the team's project: the editor,
/// the run, and the run's row id.
async fn editor_run(t: &TestDb, experiment: &str) -> (trellis_core::Actor, tracking::Run, i64) {
    let team = team(&t.pool).await;
    let ada = team.editor.clone();
    let exp = tracking::create_experiment(&t.pool, &ada, &format!("{}/{experiment}", team.project.slug), &[]).await.unwrap();
    let run = tracking::create_run(&t.core(), &ada, &exp.to_string(), Some("r"), None, &[]).await.unwrap();
    let run_id = sqlx::query_scalar("SELECT id FROM runs WHERE run_uuid = $1").bind(&run.run_uuid).fetch_one(&t.pool).await.unwrap();
    (ada, run, run_id)
}

/// Pending values packed by the server read back the same in the database (the inspection view's
/// unpacking, special numbers included), the database packs values byte for byte as the server
/// does, and a long write is cut into rows that stay in the table's pages (nothing out of line).
#[tokio::test]
async fn packed_metric_values_read_the_same_in_the_database_and_the_server() {
    use trellis_core::metric_store;
    let t = TestDb::new().await;
    let (_, _, run_id) = editor_run(&t, "packed").await;
    let numbers = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 5e-324, -2.2250738585072014e-308, f64::MAX, 0.1, -123.456];
    let metrics: Vec<Metric> = (0..1000usize)
        .map(|i| Metric {
            key: if i % 3 == 0 { "k".repeat(250) } else { format!("é/{i}") },
            value: numbers[i % numbers.len()],
            timestamp: i as i64 - 500,
            step: [i64::MIN, i64::MAX, i as i64][i % 3],
        })
        .collect();
    let rows = metric_store::pack(&metrics).unwrap();
    assert!(rows.len() > 1, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.len() <= metric_store::PACKED_ROW_BYTES));
    sqlx::query("INSERT INTO run_metric_pending (run_id, experiment_id, packed) SELECT id, experiment_id, p FROM runs, unnest($2::bytea[]) p WHERE id = $1")
        .bind(run_id)
        .bind(&rows)
        .execute(&t.pool)
        .await
        .unwrap();
    let toasted: i64 = sqlx::query_scalar("SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'run_metric_pending'").fetch_one(&t.pool).await.unwrap();
    assert_eq!(toasted, 0, "pending rows went out of line");
    let show = |key: &str, value: f64, timestamp: i64, step: i64| format!("{key} {:x} {timestamp} {step}", if value.is_nan() { f64::NAN.to_bits() } else { value.to_bits() });
    let expected: Vec<String> = metrics.iter().map(|m| show(&m.key, m.value, m.timestamp, m.step)).collect();
    // One insert into an empty table lays its rows out in the order it was given them.
    let in_database: Vec<(String, f64, i64, i64)> = sqlx::query_as(
        "SELECT u.key, u.value, u.timestamp, u.step FROM run_metric_pending p, metric_values_unpacked(p.packed) WITH ORDINALITY AS u
          WHERE p.run_id = $1 ORDER BY p.ctid, u.ordinality",
    )
    .bind(run_id)
    .fetch_all(&t.pool)
    .await
    .unwrap();
    assert_eq!(in_database.iter().map(|(k, v, t, s)| show(k, *v, *t, *s)).collect::<Vec<_>>(), expected);
    let (keys, values, timestamps, steps) = metric_store::columns(&metrics);
    let packed_there: Vec<u8> = sqlx::query_scalar("SELECT metric_values_packed($1, $2, $3, $4)")
        .bind(&keys)
        .bind(&values)
        .bind(&timestamps)
        .bind(&steps)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(packed_there, rows.concat());
    let mut unpacked = Vec::new();
    metric_store::unpack(&packed_there, |key, p| unpacked.push(show(key, p.value, p.timestamp, p.step))).unwrap();
    assert_eq!(unpacked, expected);
    assert!(metric_store::unpack(&packed_there[..packed_there.len() - 1], |_, _| {}).is_err(), "a cut value is refused");
}

/// Audit rows and runs keep who made them, and where, as a record (no foreign key): deleting a
/// user or a project by hand clears those references, as `ON DELETE SET NULL` did, and keeps the
/// rows.
#[tokio::test]
async fn deleting_a_user_or_project_by_hand_clears_references_to_it() {
    let t = TestDb::new().await;
    let (ada, run, run_id) = editor_run(&t, "who").await;
    let user = ada.user_id.unwrap();
    let project: i64 = sqlx::query_scalar("SELECT e.project_id FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id = $1")
        .bind(run_id)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    let audit_rows = |column: &'static str, id: i64| {
        let pool = t.pool.clone();
        async move { sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM audit_log WHERE {column} = $1")).bind(id).fetch_one(&pool).await.unwrap() }
    };
    assert!(audit_rows("user_id", user).await > 0);
    sqlx::query("DELETE FROM users WHERE id = $1").bind(user).execute(&t.pool).await.unwrap();
    assert_eq!(audit_rows("user_id", user).await, 0);
    let creator: Option<i64> = sqlx::query_scalar("SELECT user_id FROM runs WHERE id = $1").bind(run_id).fetch_one(&t.pool).await.unwrap();
    assert_eq!(creator, None);
    assert!(audit_rows("project_id", project).await > 0);
    sqlx::query("DELETE FROM projects WHERE id = $1").bind(project).execute(&t.pool).await.unwrap();
    assert_eq!(audit_rows("project_id", project).await, 0);
    let kept: (Option<i64>, Option<i64>, String) = sqlx::query_as("SELECT user_id, project_id, user_email FROM audit_log WHERE action = 'run.create' AND target_id = $1")
        .bind(&run.run_uuid)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    assert_eq!(kept, (None, None, ada.email.clone()), "the audit row stays, with who did it");
}

/// Values nobody reads are folded in the background soon after they are written.
#[tokio::test]
async fn metric_values_are_folded_in_the_background() {
    let t = TestDb::new().await;
    let (ada, run, _) = editor_run(&t, "quiet").await;
    let core = t.core();
    let metrics: Vec<Metric> = (0..50).map(|s| Metric { key: "loss".into(), value: s as f64, timestamp: s, step: s }).collect();
    tracking::log_batch(&core, &ada, &run.run_uuid, &metrics, &[], &[]).await.unwrap();
    let count = |table: &'static str| {
        let pool = t.pool.clone();
        async move { sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}")).fetch_one(&pool).await.unwrap() }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count("run_metric_pending").await > 0 {
        assert!(std::time::Instant::now() < deadline, "values still pending after 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(count("run_metric_chunks").await, 1);
    let latest: (f64, i64) = sqlx::query_as("SELECT value, step FROM run_latest_metrics WHERE key = 'loss'").fetch_one(&t.pool).await.unwrap();
    assert_eq!(latest, (49.0, 49));
}

/// A script that logs a value at a time, each folded on its own (as values logged a second
/// apart are), leaves its history in a few chunks: each fold merges the key's small last
/// chunks. The history reads back whole and in order, also while folds merge chunks.
#[tokio::test]
async fn a_key_logged_a_value_at_a_time_is_kept_in_a_few_chunks() {
    let t = TestDb::new().await;
    let (ada, run, run_id) = editor_run(&t, "slow").await;
    let core = t.core();
    let n = 2_500i64;
    // Out of order throughout: every other value counts down from the end, and every 100th
    // arrives late.
    let step = |i: i64| if i % 2 == 1 { 2 * n - i } else if i % 100 == 98 { i - 50 } else { i };
    let logged: Vec<Metric> = (0..n).map(|i| Metric { key: "loss".into(), value: (n - i) as f64, timestamp: 1_000 + i, step: step(i) }).collect();
    // A reader paging the history the whole time, each page against a sort of what it saw.
    let reading = {
        let (pool, ada, run_uuid) = (t.pool.clone(), ada.clone(), run.run_uuid.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            loop {
                let (mut all, mut cursor) = (Vec::new(), None);
                loop {
                    let (page, next) = tracking::metric_history(&pool, &ada, &run_uuid, "loss", 97, cursor).await.unwrap();
                    all.extend(page);
                    match next {
                        Some(c) => cursor = Some(tracking::HistoryCursor::parse(&c.token()).unwrap()),
                        None => break,
                    }
                }
                let mut sorted = all.clone();
                sorted.sort_by_key(|m| (m.step, m.timestamp));
                let keys = |ms: &[Metric]| ms.iter().map(|m| (m.step, m.timestamp)).collect::<Vec<_>>();
                assert_eq!(keys(&all), keys(&sorted), "a history read while folding, in order");
                let mut distinct = keys(&all);
                distinct.dedup();
                assert_eq!(distinct.len(), all.len(), "no value read twice");
                reads += 1;
                if all.len() as i64 == n {
                    return reads;
                }
            }
        })
    };
    for m in &logged {
        tracking::log_batch(&core, &ada, &run.run_uuid, std::slice::from_ref(m), &[], &[]).await.unwrap();
        trellis_core::metric_store::fold_runs(&t.pool, &[run_id]).await.unwrap();
    }
    assert!(reading.await.unwrap() >= 1);
    let chunks: Vec<(i32, i32)> = sqlx::query_as("SELECT value_count, cardinality(vals) FROM run_metric_chunks WHERE run_id = $1")
        .bind(run_id)
        .fetch_all(&t.pool)
        .await
        .unwrap();
    assert!(chunks.iter().all(|(count, len)| count == len), "each chunk's count is its length: {chunks:?}");
    assert_eq!(chunks.iter().map(|c| c.0 as i64).sum::<i64>(), n);
    // Chunks of at least SMALL_CHUNK values, and at most one per doubling of sizes below it.
    let small = trellis_core::metric_store::SMALL_CHUNK as i64;
    let limit = n / small + small.trailing_zeros() as i64 + 1;
    assert!((chunks.len() as i64) <= limit, "{} chunks for {n} values (at most {limit})", chunks.len());
    assert!(chunks.iter().any(|c| c.0 as i64 >= small), "{chunks:?}");
    let mut expected = logged.clone();
    expected.sort_by_key(|m| (m.step, m.timestamp));
    let show = |ms: &[Metric]| ms.iter().map(|m| format!("{}/{}/{}", m.step, m.timestamp, m.value)).collect::<Vec<_>>();
    let (all, next) = tracking::metric_history(&t.pool, &ada, &run.run_uuid, "loss", 10_000, None).await.unwrap();
    assert!(next.is_none());
    assert_eq!(show(&all), show(&expected));
    let latest = tracking::get_run(&t.pool, &ada, &run.run_uuid).await.unwrap().metrics;
    assert_eq!(show(&latest), show(&expected[expected.len() - 1..]));
}

/// Clearing a run's values (a training job run again does) while values are logged and folded
/// neither deadlocks nor leaves values of before the clear or a latest value without its history.
#[tokio::test]
async fn clearing_a_run_while_its_values_are_folded() {
    let t = TestDb::new().await;
    let (ada, run, run_id) = editor_run(&t, "restart").await;
    let core = t.core();
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let (core, pool, ada, run_uuid) = (core.clone(), t.pool.clone(), ada.clone(), run.run_uuid.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..60i64 {
                let metrics: Vec<Metric> = (0..5).map(|k| Metric { key: format!("m{k}"), value: i as f64, timestamp: i, step: i * 4 + w }).collect();
                tracking::log_batch(&core, &ada, &run_uuid, &metrics, &[], &[]).await.unwrap();
                if i % 3 == 0 {
                    trellis_core::metric_store::fold_runs(&pool, &[run_id]).await.unwrap();
                }
            }
        }));
    }
    for _ in 0..20 {
        let mut tx = t.pool.begin().await.unwrap();
        sqlx::query("UPDATE runs SET status = 'RUNNING' WHERE id = $1").bind(run_id).execute(&mut *tx).await.unwrap();
        trellis_core::metric_store::clear(&mut tx, run_id).await.unwrap();
        tx.commit().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    // One last clear, then values logged after it: those and nothing else.
    let mut tx = t.pool.begin().await.unwrap();
    trellis_core::metric_store::clear(&mut tx, run_id).await.unwrap();
    tx.commit().await.unwrap();
    let after: Vec<Metric> = (0..5).map(|k| Metric { key: format!("m{k}"), value: -1.0, timestamp: 7, step: 1_000 }).collect();
    tracking::log_batch(&core, &ada, &run.run_uuid, &after, &[], &[]).await.unwrap();
    let got = tracking::get_run(&t.pool, &ada, &run.run_uuid).await.unwrap();
    assert_eq!(got.metrics.len(), 5);
    assert!(got.metrics.iter().all(|m| (m.step, m.value) == (1_000, -1.0)), "{:?}", got.metrics);
    let values: i64 = sqlx::query_scalar("SELECT count(*) FROM run_metric_values WHERE run_id = $1").bind(run_id).fetch_one(&t.pool).await.unwrap();
    assert_eq!(values, 5);
}

/// Logging metrics again to a run is decided from memory, but never past a change: a run
/// deleted since refuses values, a restored one takes them, and an editor made a viewer or
/// removed is refused; nothing refused is written.
#[tokio::test]
async fn a_remembered_right_to_log_metrics_yields_to_changes() {
    use trellis_core::types::Role;
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let exp = tracking::create_experiment(&t.pool, &team.editor, &format!("{}/again", team.project.slug), &[]).await.unwrap();
    let run = tracking::create_run(&t.core(), &team.editor, &exp.to_string(), Some("r"), None, &[]).await.unwrap();
    let core = t.core();
    let one = |step: i64| [Metric { key: "loss".into(), value: step as f64, timestamp: step, step }];
    let logged = || async {
        tracking::metric_history(&t.pool, &team.admin, &run.run_uuid, "loss", 100, None).await.unwrap().0.iter().map(|m| m.step).collect::<Vec<_>>()
    };
    tracking::log_batch(&core, &team.editor, &run.run_uuid, &one(0), &[], &[]).await.unwrap();
    tracking::log_batch(&core, &team.editor, &run.run_uuid, &one(1), &[], &[]).await.unwrap();
    tracking::set_run_stage(&t.pool, &team.editor, &run.run_uuid, "deleted").await.unwrap();
    let refused = tracking::log_batch(&core, &team.editor, &run.run_uuid, &one(2), &[], &[]).await;
    assert!(matches!(&refused, Err(trellis_core::Error::BadRequest(m)) if m.contains("must be in the 'active' state")), "{refused:?}");
    tracking::set_run_stage(&t.pool, &team.editor, &run.run_uuid, "active").await.unwrap();
    tracking::log_batch(&core, &team.editor, &run.run_uuid, &one(3), &[], &[]).await.unwrap();
    assert_eq!(logged().await, [0, 1, 3]);
    trellis_core::projects::set_member(&t.pool, &team.admin, &team.project.slug, &team.editor.email, Role::Viewer).await.unwrap();
    let refused = tracking::log_batch(&core, &team.editor, &run.run_uuid, &one(4), &[], &[]).await;
    assert!(matches!(refused, Err(trellis_core::Error::Forbidden(_))), "{refused:?}");
    trellis_core::projects::set_member(&t.pool, &team.admin, &team.project.slug, &team.editor.email, Role::Editor).await.unwrap();
    tracking::log_batch(&core, &team.editor, &run.run_uuid, &one(5), &[], &[]).await.unwrap();
    trellis_core::projects::remove_member(&t.pool, &team.admin, &team.project.slug, &team.editor.email).await.unwrap();
    let refused = tracking::log_batch(&core, &team.editor, &run.run_uuid, &one(6), &[], &[]).await;
    assert!(matches!(refused, Err(trellis_core::Error::NotFound(_))), "{refused:?}");
    assert_eq!(logged().await, [0, 1, 3, 5]);
}

/// Runs selected together are deleted and restored together: all or none, by editors only.
#[tokio::test]
async fn selected_runs_are_deleted_and_restored_together() {
    use trellis_core::tracking::ViewType;
    use trellis_core::Error;
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let exp = tracking::create_experiment(&t.pool, &team.editor, &format!("{}/bulk", team.project.slug), &[]).await.unwrap();
    let other = tracking::create_experiment(&t.pool, &team.editor, &format!("{}/other", team.project.slug), &[]).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..4 {
        let run = tracking::create_run(&t.core(), &team.editor, &exp.to_string(), Some(&format!("r{i}")), None, &[]).await.unwrap();
        ids.push(run.run_uuid);
    }
    let elsewhere = tracking::create_run(&t.core(), &team.editor, &other.to_string(), Some("x"), None, &[]).await.unwrap().run_uuid;
    let count = |view| {
        let (pool, editor, e) = (t.pool.clone(), team.editor.clone(), exp.to_string());
        async move { tracking::count_runs(&pool, &editor, &[e], "", view).await.unwrap() }
    };
    let e = exp.to_string();
    // A run of another experiment in the selection: nothing changes.
    let mixed = vec![ids[0].clone(), elsewhere.clone()];
    assert!(matches!(tracking::set_runs_stage(&t.pool, &team.editor, &e, &mixed, "deleted").await, Err(Error::NotFound(_))));
    assert_eq!(count(ViewType::ActiveOnly).await, 4);
    // Viewers cannot, outsiders do not see the experiment; bad stages and empty selections are refused.
    assert!(matches!(tracking::set_runs_stage(&t.pool, &team.viewer, &e, &ids, "deleted").await, Err(Error::Forbidden(_))));
    assert!(matches!(tracking::set_runs_stage(&t.pool, &team.outsider, &e, &ids, "deleted").await, Err(Error::NotFound(_))));
    assert!(matches!(tracking::set_runs_stage(&t.pool, &team.editor, &e, &ids, "gone").await, Err(Error::BadRequest(_))));
    assert!(matches!(tracking::set_runs_stage(&t.pool, &team.editor, &e, &[], "deleted").await, Err(Error::BadRequest(_))));
    // Three selected (one twice): three deleted, then two of them restored.
    let three = vec![ids[0].clone(), ids[1].clone(), ids[2].clone(), ids[0].clone()];
    assert_eq!(tracking::set_runs_stage(&t.pool, &team.editor, &e, &three, "deleted").await.unwrap(), 3);
    assert_eq!((count(ViewType::ActiveOnly).await, count(ViewType::DeletedOnly).await), (1, 3));
    assert_eq!(tracking::set_runs_stage(&t.pool, &team.editor, &e, &ids[..2], "active").await.unwrap(), 2);
    assert_eq!((count(ViewType::ActiveOnly).await, count(ViewType::DeletedOnly).await), (3, 1));
    let deleted = tracking::get_run(&t.pool, &team.editor, &ids[2]).await.unwrap();
    assert_eq!(deleted.lifecycle_stage, "deleted");
}

/// Many loggers writing to one run at once: their values are combined into fewer statements,
/// every value lands in the history once, and the latest value per key is the greatest step's.
#[tokio::test]
async fn concurrent_metric_writes_to_one_run_all_land_and_keep_the_latest() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let (ada, p) = (team.editor.clone(), team.project.clone());
    let exp = tracking::create_experiment(&t.pool, &ada, &format!("{}/busy", p.slug), &[]).await.unwrap();
    let run = tracking::create_run(&t.core(), &ada, &exp.to_string(), Some("busy"), None, &[]).await.unwrap();
    let core = t.core();
    let writers = 24i64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (core, ada, run_id) = (core.clone(), ada.clone(), run.run_uuid.clone());
        tasks.push(tokio::spawn(async move {
            for round in 0..5i64 {
                let step = round * writers + w;
                let metrics: Vec<Metric> = (0..20)
                    .map(|k| Metric { key: format!("m{k}"), value: (step * 100 + k) as f64, timestamp: 1_000 + step, step })
                    .collect();
                tracking::log_batch(&core, &ada, &run_id, &metrics, &[], &[]).await.unwrap();
            }
        }));
    }
    // Readers at the same time: each folds what is pending, concurrently with the others and
    // with the background.
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (pool, ada, run_id) = (t.pool.clone(), ada.clone(), run.run_uuid.clone());
        readers.push(tokio::spawn(async move {
            for _ in 0..10 {
                tracking::get_run(&pool, &ada, &run_id).await.unwrap();
                tracking::metric_history(&pool, &ada, &run_id, "m3", 10_000, None).await.unwrap();
            }
        }));
    }
    for task in tasks.into_iter().chain(readers) {
        task.await.unwrap();
    }
    let last = 5 * writers - 1;
    for k in [0, 7, 19] {
        let (history, _) = tracking::metric_history(&t.pool, &ada, &run.run_uuid, &format!("m{k}"), 10_000, None).await.unwrap();
        let mut steps: Vec<i64> = history.iter().map(|m| m.step).collect();
        steps.sort();
        assert_eq!(steps, (0..5 * writers).collect::<Vec<_>>(), "every value of m{k} once");
    }
    let got = tracking::get_run(&t.pool, &ada, &run.run_uuid).await.unwrap();
    assert_eq!(got.metrics.len(), 20);
    for m in &got.metrics {
        let k: i64 = m.key[1..].parse().unwrap();
        assert_eq!((m.step, m.value), (last, (last * 100 + k) as f64), "{}", m.key);
    }
    // A viewer's write is refused before it joins anyone's statement.
    let one = [Metric { key: "m0".into(), value: 1.0, timestamp: 1, step: 10_000 }];
    assert!(matches!(
        tracking::log_batch(&core, &team.viewer, &run.run_uuid, &one, &[], &[]).await,
        Err(trellis_core::Error::Forbidden(_))
    ));
    assert!(matches!(
        tracking::log_batch(&core, &team.outsider, &run.run_uuid, &one, &[], &[]).await,
        Err(trellis_core::Error::NotFound(_))
    ));
    // Deleting the run (as deleting its experiment or project does) deletes its metrics.
    let count = |table: &'static str| {
        let (pool, run_id) = (t.pool.clone(), run.run_uuid.clone());
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table} m JOIN runs r ON r.id = m.run_id WHERE r.run_uuid = $1"))
                .bind(run_id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("run_metric_values").await, 20 * 5 * writers);
    let id: i64 = sqlx::query_scalar("DELETE FROM experiments e USING runs r WHERE r.experiment_id = e.id AND r.run_uuid = $1 RETURNING r.id")
        .bind(&run.run_uuid)
        .fetch_one(&t.pool)
        .await
        .unwrap();
    for table in ["run_metric_chunks", "run_metric_pending", "run_latest_metrics"] {
        let left: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE run_id = $1")).bind(id).fetch_one(&t.pool).await.unwrap();
        assert_eq!(left, 0, "{table}");
    }
}

/// Searches keep the runs they read by revision: a run searched again after any change to it
/// shows the change, whichever part changed, and unchanged runs come from memory.
#[tokio::test]
async fn searched_runs_show_every_change_to_them() {
    use trellis_core::logged_models::{self, DatasetInput};
    use trellis_core::tracking::ViewType;
    let t = TestDb::new().await;
    let core = t.core();
    let (_, ada) = user(&t.pool, "ada@example.org", false).await;
    let p = project(&t.pool, &ada, "Churn").await;
    let exp = tracking::create_experiment(&t.pool, &ada, &format!("{}/cached", p.slug), &[]).await.unwrap().to_string();
    let run = tracking::create_run(&t.core(), &ada, &exp, Some("first"), None, &[]).await.unwrap();
    let other = tracking::create_run(&t.core(), &ada, &exp, Some("other"), None, &[]).await.unwrap();
    let search = |view: ViewType| search_one(&core, &ada, &exp, &run.run_uuid, view);
    let searched = |view: ViewType| async move { search(view).await.expect("the run is found") };
    let first = searched(ViewType::ActiveOnly).await;
    assert_eq!(first.name, "first");
    assert_eq!(core.runs.len(), 2, "both runs are kept");
    assert_eq!(searched(ViewType::ActiveOnly).await.name, "first");

    let metric = |value: f64, step: i64| Metric { key: "loss".into(), value, timestamp: 5, step };
    let (lr, team_a) = (("lr".to_string(), "0.1".to_string()), ("team".to_string(), "a".to_string()));
    tracking::log_batch(&core, &ada, &run.run_uuid, &[metric(0.5, 1)], &[lr.clone()], &[team_a.clone()]).await.unwrap();
    let r = searched(ViewType::ActiveOnly).await;
    assert_eq!(r.metrics.iter().map(|m| (m.key.as_str(), m.value)).collect::<Vec<_>>(), [("loss", 0.5)]);
    assert_eq!(r.params, [lr]);
    assert!(r.tags.contains(&team_a));

    tracking::log_batch(&core, &ada, &run.run_uuid, &[metric(0.25, 2)], &[], &[("team".into(), "b".into())]).await.unwrap();
    let r = searched(ViewType::ActiveOnly).await;
    assert_eq!(r.metrics[0].value, 0.25);
    assert!(r.tags.contains(&("team".into(), "b".into())));
    // An older step does not replace the latest value.
    tracking::log_batch(&core, &ada, &run.run_uuid, &[metric(9.0, 0)], &[], &[]).await.unwrap();
    assert_eq!(searched(ViewType::ActiveOnly).await.metrics[0].value, 0.25);

    tracking::delete_tag(&t.pool, &ada, &run.run_uuid, "team").await.unwrap();
    assert!(!searched(ViewType::ActiveOnly).await.tags.iter().any(|(k, _)| k == "team"));

    tracking::update_run(&t.pool, &ada, &run.run_uuid, Some("FINISHED"), Some(99), Some("renamed")).await.unwrap();
    let r = searched(ViewType::ActiveOnly).await;
    assert_eq!((r.name.as_str(), r.status.as_str(), r.end_time), ("renamed", "FINISHED", Some(99)));

    let input = DatasetInput {
        name: "train".into(),
        digest: "abc".into(),
        source_type: "local".into(),
        source: "{}".into(),
        schema: String::new(),
        profile: String::new(),
        tags: vec![],
        dataset_version: None,
    };
    logged_models::log_inputs(&t.pool, &ada, &run.run_uuid, &[input], &[]).await.unwrap();
    let names: Vec<String> = searched(ViewType::ActiveOnly).await.links.datasets.iter().map(|d| d.name.clone()).collect();
    assert_eq!(names, ["train"]);

    tracking::set_run_stage(&t.pool, &ada, &run.run_uuid, "deleted").await.unwrap();
    assert!(search(ViewType::ActiveOnly).await.is_none());
    assert_eq!(searched(ViewType::All).await.lifecycle_stage, "deleted");
    // The run that never changed is still the one read first.
    assert_eq!(search_one(&core, &ada, &exp, &other.run_uuid, ViewType::All).await.unwrap().name, "other");
}

/// Run `run_uuid` as a search of experiment `exp` finds it.
async fn search_one(
    core: &trellis_core::Core,
    actor: &trellis_core::Actor,
    exp: &str,
    run_uuid: &str,
    view: trellis_core::tracking::ViewType,
) -> Option<std::sync::Arc<trellis_core::run_cache::KeptRun>> {
    let runs = tracking::search_runs(&core.db, &core.runs, actor, &[exp.to_string()], "", &[], view, 100, 0).await.unwrap();
    runs.into_iter().find(|r| r.run_uuid == run_uuid)
}

/// A run is created by an editor (or an instance admin) in an active experiment of a project the
/// caller's token reaches; anyone else gets the reason and nothing is written.
#[tokio::test]
async fn runs_are_created_by_those_who_may_write_in_active_experiments() {
    use trellis_core::actor::TokenGrant;
    use trellis_core::Error;
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let exp = tracking::create_experiment(&t.pool, &team.editor, &format!("{}/trials", team.project.slug), &[]).await.unwrap().to_string();
    let other = project(&t.pool, &team.editor, "Elsewhere").await;
    let runs = || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM runs").fetch_one(&t.pool).await.unwrap() };

    let run = tracking::create_run(&t.core(), &team.editor, &exp, Some("first"), Some(5), &[("k".into(), "v".into())]).await.unwrap();
    assert_eq!((run.name.as_str(), run.start_time, run.status.as_str()), ("first", 5, "RUNNING"));
    let stored = tracking::get_run(&t.pool, &team.viewer, &run.run_uuid).await.unwrap();
    assert_eq!(stored.tags, vec![("k".to_string(), "v".to_string()), ("mlflow.runName".to_string(), "first".to_string())]);
    let audit: (String, serde_json::Value, Option<i64>) =
        sqlx::query_as("SELECT target_id, details, project_id FROM audit_log WHERE action = 'run.create'").fetch_one(&t.pool).await.unwrap();
    assert_eq!(audit, (run.run_uuid.clone(), serde_json::json!({ "experiment": "trials" }), Some(team.project.id)));
    assert!(tracking::create_run(&t.core(), &team.root, &exp, Some("by root"), None, &[]).await.is_ok(), "instance admins may");

    let before = runs().await;
    let refused = tracking::create_run(&t.core(), &team.viewer, &exp, None, None, &[]).await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    let refused = tracking::create_run(&t.core(), &team.outsider, &exp, None, None, &[]).await;
    assert!(matches!(refused, Err(Error::NotFound(_))), "{refused:?}");
    let refused = tracking::create_run(&t.core(), &team.editor, "999999", None, None, &[]).await;
    assert!(matches!(refused, Err(Error::NotFound(_))), "{refused:?}");
    let refused = tracking::create_run(&t.core(), &team.editor, "x1", None, None, &[]).await;
    assert!(matches!(refused, Err(Error::BadRequest(_))), "{refused:?}");
    let mut scoped = team.editor.clone();
    scoped.token = Some(TokenGrant { token_id: 1, project_id: Some(other.id), predict_only: false });
    let refused = tracking::create_run(&t.core(), &scoped, &exp, None, None, &[]).await;
    assert!(matches!(refused, Err(Error::NotFound(_))), "a token of another project: {refused:?}");
    scoped.token = Some(TokenGrant { token_id: 1, project_id: None, predict_only: true });
    let refused = tracking::create_run(&t.core(), &scoped, &exp, None, None, &[]).await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "a predict-only token: {refused:?}");
    tracking::update_experiment(&t.pool, &team.editor, &exp, None, Some("deleted")).await.unwrap();
    let refused = tracking::create_run(&t.core(), &team.editor, &exp, None, None, &[]).await;
    assert!(matches!(&refused, Err(Error::BadRequest(m)) if m.contains("active")), "{refused:?}");
    assert_eq!(runs().await, before, "nothing was written");
}

/// Runs created at the same time share statements: each creation still gets its own answer
/// (refusals with their reasons, nothing written for them), and each created run its own tags
/// and audit row.
#[tokio::test]
async fn concurrent_run_creations_share_statements_and_keep_their_own_answers() {
    use trellis_core::Error;
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let exp = tracking::create_experiment(&t.pool, &team.editor, &format!("{}/sweep", team.project.slug), &[]).await.unwrap().to_string();
    let closed = tracking::create_experiment(&t.pool, &team.editor, &format!("{}/closed", team.project.slug), &[]).await.unwrap().to_string();
    tracking::update_experiment(&t.pool, &team.editor, &closed, None, Some("deleted")).await.unwrap();
    let core = t.core();
    let callers = [(&team.editor, &exp), (&team.viewer, &exp), (&team.outsider, &exp), (&team.editor, &closed), (&team.root, &exp)];
    let creations = (0..40).map(|i| {
        let (actor, experiment) = callers[i % callers.len()];
        let core = &core;
        async move {
            let tags = [("trial".to_string(), i.to_string())];
            (i, tracking::create_run(core, actor, experiment, Some(&format!("trial-{i}")), Some(i as i64), &tags).await)
        }
    });
    let results = futures::future::join_all(creations).await;
    let mut created = Vec::new();
    for (i, result) in results {
        match (i % callers.len(), result) {
            (0 | 4, Ok(run)) => created.push((i, run)),
            (1, Err(Error::Forbidden(_))) | (2, Err(Error::NotFound(_))) => {}
            (3, Err(Error::BadRequest(m))) if m.contains("active") => {}
            (_, other) => panic!("creation {i}: {other:?}"),
        }
    }
    assert_eq!(created.len(), 16);
    for (i, run) in &created {
        let stored = tracking::get_run(&t.pool, &team.viewer, &run.run_uuid).await.unwrap();
        assert_eq!((stored.name.clone(), stored.start_time), (format!("trial-{i}"), *i as i64));
        assert_eq!(stored.tags, vec![("mlflow.runName".to_string(), format!("trial-{i}")), ("trial".to_string(), i.to_string())]);
        let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'run.create' AND target_id = $1")
            .bind(&run.run_uuid)
            .fetch_one(&t.pool)
            .await
            .unwrap();
        assert_eq!(audit, 1, "creation {i}");
    }
    let (runs, transactions): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM runs").fetch_one(&t.pool).await.unwrap();
    assert_eq!(runs, 16, "nothing written for the refused");
    assert!(transactions < runs, "{runs} runs in {transactions} transactions");
}

/// Folding deletes pending rows; once the writer has folded enough of them it vacuums them away,
/// so that looks at a run's pending rows do not pass every row folded since the last vacuum.
#[tokio::test]
async fn pending_rows_folded_by_the_writer_are_vacuumed_away() {
    let t = TestDb::new().await;
    let (ada, run, run_id) = editor_run(&t, "busy").await;
    let core = t.core();
    let vacuums = || {
        let pool = t.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'run_metric_pending'")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(vacuums().await, 0);
    // Long keys (225 packed bytes a value), so that some 75 requests fold more bytes than the
    // writer vacuums after.
    let key = |i: usize| format!("{i:0>200}");
    let per_value = 1 + key(0).len() + 24;
    let requests = trellis_core::metric_store::VACUUM_AFTER_BYTES / (1000 * per_value) + 1;
    for r in 0..requests as i64 {
        let metrics: Vec<Metric> = (0..1000).map(|i| Metric { key: key(i % 10), value: (r * 1000 + i as i64) as f64, timestamp: r, step: r }).collect();
        tracking::log_batch(&core, &ada, &run.run_uuid, &metrics, &[], &[]).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while vacuums().await == 0 {
        assert!(std::time::Instant::now() < deadline, "the pending rows were not vacuumed within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM run_metric_pending").fetch_one(&t.pool).await.unwrap();
    assert_eq!(pending, 0, "the vacuum comes after the fold");
    let latest: (f64, i64) = sqlx::query_as("SELECT value, step FROM run_latest_metrics WHERE run_id = $1 AND key = $2")
        .bind(run_id)
        .bind(key(9))
        .fetch_one(&t.pool)
        .await
        .unwrap();
    let last = requests as i64 - 1;
    assert_eq!(latest, ((last * 1000 + 999) as f64, last));
}

/// A burst of creations in a young database has `runs` analyzed as it grows (at 64 runs created
/// by the process, then at each doubling), so that lookups planned while the table had a page
/// or two are planned again for its size instead of scanning it whole for each new run.
#[tokio::test]
async fn a_burst_of_creations_has_runs_analyzed_as_the_table_grows() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let exp = tracking::create_experiment(&t.pool, &team.editor, &format!("{}/sweep", team.project.slug), &[]).await.unwrap().to_string();
    let core = t.core();
    // Analyses asked for (autovacuum's are counted apart).
    let analyses = || {
        let pool = t.pool.clone();
        async move { sqlx::query_scalar::<_, i64>("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'runs'").fetch_one(&pool).await.unwrap() }
    };
    for i in 0..63 {
        tracking::create_run(&core, &team.editor, &exp, Some(&format!("trial-{i}")), None, &[]).await.unwrap();
    }
    assert_eq!(analyses().await, 0, "not analyzed before 64 runs were created");
    tracking::create_run(&core, &team.editor, &exp, Some("trial-63"), None, &[]).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while analyses().await == 0 {
        assert!(std::time::Instant::now() < deadline, "runs was not analyzed within 60 s of the 64th creation");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A run's `mlflow.runName` tag is its name, kept as MLflow keeps it: a new run has it (from
/// the name or the tag, which may not disagree), setting the tag renames the run, renaming sets
/// the tag again, deleting the tag leaves the name; searches filter and order by it, and show
/// every change to it.
#[tokio::test]
async fn the_run_name_tag_follows_the_run_name_as_in_mlflow() {
    use trellis_core::tracking::{ViewType, RUN_NAME_TAG};
    use trellis_core::Error;
    let t = TestDb::new().await;
    let core = t.core();
    let team = team(&t.pool).await;
    let exp = tracking::create_experiment(&t.pool, &team.editor, &format!("{}/names", team.project.slug), &[]).await.unwrap().to_string();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    let name_tag = |v: &str| pair(RUN_NAME_TAG, v);
    let tags_of = |uuid: String| {
        let (pool, viewer) = (t.pool.clone(), team.viewer.clone());
        async move { tracking::get_run(&pool, &viewer, &uuid).await.unwrap().tags }
    };
    let search = |filter: &'static str, order: &'static [&'static str]| {
        let (core, viewer, exp) = (&core, &team.viewer, exp.clone());
        async move {
            let order: Vec<String> = order.iter().map(|o| o.to_string()).collect();
            let runs = tracking::search_runs(&core.db, &core.runs, viewer, &[exp], filter, &order, ViewType::ActiveOnly, 100, 0).await.unwrap();
            runs.iter().map(|r| r.name.clone()).collect::<Vec<String>>()
        }
    };

    let alpha = tracking::create_run(&core, &team.editor, &exp, Some("alpha"), Some(1), &[]).await.unwrap();
    assert_eq!(alpha.tags, [name_tag("alpha")]);
    assert_eq!(tags_of(alpha.run_uuid.clone()).await, [name_tag("alpha")]);
    let beta = tracking::create_run(&core, &team.editor, &exp, None, Some(2), &[pair("z", "1"), name_tag("beta")]).await.unwrap();
    assert_eq!((beta.name.as_str(), &beta.tags[..]), ("beta", &[name_tag("beta"), pair("z", "1")][..]));
    assert_eq!(tags_of(beta.run_uuid.clone()).await, [name_tag("beta"), pair("z", "1")]);
    let same = tracking::create_run(&core, &team.editor, &exp, Some("same"), Some(0), &[name_tag("same")]).await.unwrap();
    assert_eq!(same.tags, [name_tag("same")]);
    tracking::set_run_stage(&t.pool, &team.editor, &same.run_uuid, "deleted").await.unwrap();
    let refused = tracking::create_run(&core, &team.editor, &exp, Some("one"), None, &[name_tag("another")]).await;
    assert!(matches!(&refused, Err(Error::BadRequest(m)) if m.contains("different values")), "{refused:?}");
    assert_eq!(search("", &[]).await, ["beta", "alpha"], "the refused run was not written");

    // Read once, so that the searches below see changes through the runs' revisions.
    assert_eq!(search("tags.mlflow.runName = 'beta'", &[]).await, ["beta"]);
    tracking::log_batch(&core, &team.editor, &beta.run_uuid, &[], &[], &[name_tag("gamma")]).await.unwrap();
    let renamed = tracking::get_run(&t.pool, &team.viewer, &beta.run_uuid).await.unwrap();
    assert_eq!((renamed.name.as_str(), &renamed.tags[..]), ("gamma", &[name_tag("gamma"), pair("z", "1")][..]));
    assert!(search("tags.mlflow.runName = 'beta'", &[]).await.is_empty());
    assert_eq!(search("tags.`mlflow.runName` LIKE '%a'", &["tags.mlflow.runName DESC"]).await, ["gamma", "alpha"]);
    assert_eq!(search("tags.mlflow.runName != 'gamma'", &[]).await, ["alpha"]);
    // An empty name changes nothing (MLflow ignores it too); a viewer may not set it.
    tracking::log_batch(&core, &team.editor, &beta.run_uuid, &[], &[], &[name_tag(" ")]).await.unwrap();
    assert_eq!(tags_of(beta.run_uuid.clone()).await[0], name_tag("gamma"));
    let refused = tracking::log_batch(&core, &team.viewer, &beta.run_uuid, &[], &[], &[name_tag("mine")]).await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");

    // Deleting the tag keeps the name; the run then has no such tag to filter by or delete.
    tracking::delete_tag(&t.pool, &team.editor, &alpha.run_uuid, RUN_NAME_TAG).await.unwrap();
    let untagged = tracking::get_run(&t.pool, &team.viewer, &alpha.run_uuid).await.unwrap();
    assert_eq!((untagged.name.as_str(), untagged.tags.len()), ("alpha", 0));
    let again = tracking::delete_tag(&t.pool, &team.editor, &alpha.run_uuid, RUN_NAME_TAG).await;
    assert!(matches!(again, Err(Error::NotFound(_))), "{again:?}");
    assert!(search("tags.mlflow.runName = 'alpha'", &[]).await.is_empty());
    assert_eq!(search("attributes.run_name = 'alpha'", &[]).await, ["alpha"]);
    assert_eq!(search("", &["tags.mlflow.runName ASC"]).await, ["gamma", "alpha"], "runs without the tag come last");
    assert_eq!(search("", &["tags.mlflow.runName DESC"]).await, ["gamma", "alpha"]);
    let count = tracking::count_runs(&t.pool, &team.viewer, &[exp.clone()], "tags.mlflow.runName LIKE '%'", ViewType::All).await.unwrap();
    assert_eq!(count, 2, "gamma and the deleted run 'same'");

    // Renaming the run gives it the tag again.
    tracking::update_run(&t.pool, &team.editor, &alpha.run_uuid, None, None, Some("delta")).await.unwrap();
    assert_eq!(tags_of(alpha.run_uuid.clone()).await, [name_tag("delta")]);
    let long = "n".repeat(8001);
    let refused = tracking::update_run(&t.pool, &team.editor, &alpha.run_uuid, None, None, Some(&long)).await;
    assert!(matches!(&refused, Err(Error::BadRequest(m)) if m.contains("length limit")), "{refused:?}");
    let refused = tracking::create_run(&core, &team.editor, &exp, Some(&long), None, &[]).await;
    assert!(matches!(&refused, Err(Error::BadRequest(m)) if m.contains("length limit")), "{refused:?}");
    assert_eq!(search("tags.mlflow.runName = 'delta'", &[]).await, ["delta"]);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM run_tags WHERE key = $1").bind(RUN_NAME_TAG).fetch_one(&t.pool).await.unwrap();
    assert_eq!(stored, 0, "the tag is never a row of its own");
}
