mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use trellis_core::jobs::{self, Job};
use trellis_core::worker::{JobContext, Permanent, Registry, Worker, WorkerConfig};
use trellis_core::{Actor, Error, PgPool};

fn fast() -> WorkerConfig {
    WorkerConfig { lease: Duration::from_millis(1500), poll: Duration::from_millis(50) }
}

fn registry(t: &TestDb) -> Registry {
    let mut r = Registry::builtin(&t.core());
    r.register("test.count", |ctx: JobContext| async move {
        let n: u64 = ctx.payload::<serde_json::Value>()?["n"].as_u64().unwrap_or(3);
        for i in 0..n {
            ctx.log(&format!("step {i}")).await?;
            ctx.progress((i + 1) as f64 / n as f64, &format!("{} of {n}", i + 1)).await?;
        }
        Ok(Some(json!({ "counted": n })))
    });
    r.register("test.fail", |_ctx: JobContext| async move { anyhow::bail!("disk on fire") });
    r.register("test.permanent", |_ctx: JobContext| async move { Err(Permanent("bad input".into()).into()) });
    r.register("test.forever", |ctx: JobContext| async move {
        ctx.log("started").await?;
        ctx.cancelled().cancelled().await;
        Ok(None)
    });
    r
}

fn worker(t: &TestDb, id: &str) -> Worker {
    Worker::new(t.pool.clone(), id, Arc::new(registry(t)), fast())
}

async fn wait_for_state(db: &PgPool, actor: &Actor, id: i64, state: &str) -> Job {
    for _ in 0..200 {
        let j = jobs::get(db, actor, id).await.unwrap();
        if j.state == state {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never reached {state}: {:?}", jobs::get(db, actor, id).await.unwrap());
}

#[tokio::test]
async fn a_job_runs_with_progress_and_logs() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let job = jobs::submit(&t.pool, &team.editor, Some(&team.project.slug), "test.count", json!({ "n": 4 }), 3).await.unwrap();
    assert_eq!(job.state, "queued");
    assert!(worker(&t, "w1").run_once(&CancellationToken::new()).await.unwrap());
    let done = jobs::get(&t.pool, &team.viewer, job.id).await.unwrap();
    assert_eq!(done.state, "succeeded");
    assert_eq!(done.progress, 1.0);
    assert_eq!(done.result, Some(json!({ "counted": 4 })));
    assert!(done.finished_at.is_some());
    let logs = jobs::logs(&t.pool, &team.viewer, job.id, None, 100).await.unwrap();
    let lines: Vec<&str> = logs.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(lines, vec!["step 0", "step 1", "step 2", "step 3"]);
    let tail = jobs::logs(&t.pool, &team.viewer, job.id, Some(logs[1].id), 100).await.unwrap();
    assert_eq!(tail.len(), 2);
    // Nothing left to claim.
    assert!(!worker(&t, "w1").run_once(&CancellationToken::new()).await.unwrap());
}

#[tokio::test]
async fn job_permissions_follow_project_roles() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let slug = team.project.slug.as_str();
    let e = jobs::submit(&t.pool, &team.viewer, Some(slug), "test.count", json!({}), 3).await.unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    let job = jobs::submit(&t.pool, &team.editor, Some(slug), "test.count", json!({}), 3).await.unwrap();
    assert!(matches!(jobs::get(&t.pool, &team.outsider, job.id).await, Err(Error::NotFound(_))));
    assert!(matches!(jobs::logs(&t.pool, &team.outsider, job.id, None, 10).await, Err(Error::NotFound(_))));
    assert!(matches!(jobs::cancel(&t.pool, &team.viewer, job.id).await, Err(Error::Forbidden(_))));
    assert!(matches!(jobs::list(&t.pool, &team.outsider, Some(slug), None, 10).await, Err(Error::NotFound(_))));
    assert_eq!(jobs::list(&t.pool, &team.viewer, Some(slug), None, 10).await.unwrap().len(), 1);
    assert!(matches!(jobs::list(&t.pool, &team.viewer, Some(slug), Some("bogus"), 10).await, Err(Error::BadRequest(_))));
    // Instance jobs: instance admins only.
    assert!(matches!(jobs::list(&t.pool, &team.admin, None, None, 10).await, Err(Error::Forbidden(_))));
    assert!(jobs::list(&t.pool, &team.root, None, None, 10).await.is_ok());
    assert!(matches!(jobs::get(&t.pool, &team.admin, 999_999).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn failures_are_retried_with_backoff_then_fail() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let job = jobs::submit(&t.pool, &team.editor, Some(&team.project.slug), "test.fail", json!({}), 2).await.unwrap();
    let w = worker(&t, "w1");
    assert!(w.run_once(&CancellationToken::new()).await.unwrap());
    let after_first = jobs::get(&t.pool, &team.editor, job.id).await.unwrap();
    assert_eq!(after_first.state, "queued", "retried");
    assert_eq!(after_first.attempts, 1);
    assert!(after_first.run_after > after_first.updated_at, "backoff puts the retry in the future");
    assert!(!w.run_once(&CancellationToken::new()).await.unwrap(), "not due yet");
    sqlx::query("UPDATE jobs SET run_after = now() WHERE id = $1").bind(job.id).execute(&t.pool).await.unwrap();
    assert!(w.run_once(&CancellationToken::new()).await.unwrap());
    let failed = jobs::get(&t.pool, &team.editor, job.id).await.unwrap();
    assert_eq!(failed.state, "failed");
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.error.as_deref(), Some("disk on fire"));
    let logs = jobs::logs(&t.pool, &team.editor, job.id, None, 100).await.unwrap();
    assert!(logs.iter().any(|l| l.stream == "error" && l.line == "disk on fire"));
}

#[tokio::test]
async fn permanent_errors_and_unknown_kinds_fail_at_once() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let slug = team.project.slug.as_str();
    let a = jobs::submit(&t.pool, &team.editor, Some(slug), "test.permanent", json!({}), 5).await.unwrap();
    let b = jobs::submit(&t.pool, &team.editor, Some(slug), "no.such.kind", json!({}), 5).await.unwrap();
    let w = worker(&t, "w1");
    while w.run_once(&CancellationToken::new()).await.unwrap() {}
    let a = jobs::get(&t.pool, &team.editor, a.id).await.unwrap();
    let b = jobs::get(&t.pool, &team.editor, b.id).await.unwrap();
    assert_eq!((a.state.as_str(), a.attempts), ("failed", 1));
    assert_eq!(a.error.as_deref(), Some("bad input"));
    assert_eq!(b.state, "failed");
    assert!(b.error.unwrap().contains("no.such.kind"));
}

#[tokio::test]
async fn cancelling_a_queued_and_a_running_job() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let slug = team.project.slug.as_str();
    let queued = jobs::submit(&t.pool, &team.editor, Some(slug), "test.count", json!({}), 1).await.unwrap();
    let c = jobs::cancel(&t.pool, &team.editor, queued.id).await.unwrap();
    assert_eq!(c.state, "cancelled");
    assert!(matches!(jobs::cancel(&t.pool, &team.editor, queued.id).await, Err(Error::Conflict(_))));

    let running = jobs::submit(&t.pool, &team.editor, Some(slug), "test.forever", json!({}), 1).await.unwrap();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(worker(&t, "w1").run(shutdown.clone()));
    wait_for_state(&t.pool, &team.editor, running.id, "running").await;
    let c = jobs::cancel(&t.pool, &team.admin, running.id).await.unwrap();
    assert!(c.cancel_requested);
    let done = wait_for_state(&t.pool, &team.editor, running.id, "cancelled").await;
    assert!(done.finished_at.is_some());
    shutdown.cancel();
    handle.await.unwrap();
    let cancels: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'job.cancel'").fetch_one(&t.pool).await.unwrap();
    assert_eq!(cancels, 2);
}

#[tokio::test]
async fn a_job_whose_worker_died_is_claimed_again() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let job = jobs::submit(&t.pool, &team.editor, Some(&team.project.slug), "test.count", json!({ "n": 1 }), 3).await.unwrap();
    // A worker claims it, then dies: no heartbeat, no result.
    let claimed = jobs::claim(&t.pool, "dead-worker", Duration::from_millis(300)).await.unwrap().unwrap();
    assert_eq!(claimed.id, job.id);
    let w = worker(&t, "w2");
    assert!(!w.run_once(&CancellationToken::new()).await.unwrap(), "the lease still holds");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(w.run_once(&CancellationToken::new()).await.unwrap());
    let done = jobs::get(&t.pool, &team.editor, job.id).await.unwrap();
    assert_eq!(done.state, "succeeded");
    assert_eq!(done.attempts, 2);
    // The dead worker's late writes are ignored.
    jobs::set_progress(&t.pool, job.id, "dead-worker", 0.1, "zombie").await.unwrap();
    assert_eq!(jobs::get(&t.pool, &team.editor, job.id).await.unwrap().progress_message, "1 of 1");
}

#[tokio::test]
async fn shutdown_returns_the_running_job_to_the_queue() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let job = jobs::submit(&t.pool, &team.editor, Some(&team.project.slug), "test.forever", json!({}), 3).await.unwrap();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(worker(&t, "w1").run(shutdown.clone()));
    wait_for_state(&t.pool, &team.editor, job.id, "running").await;
    shutdown.cancel();
    handle.await.unwrap();
    let j = jobs::get(&t.pool, &team.editor, job.id).await.unwrap();
    assert_eq!(j.state, "queued");
    assert_eq!(j.attempts, 0, "a released job does not use up an attempt");
}

#[tokio::test]
async fn concurrent_workers_run_each_job_exactly_once() {
    let t = TestDb::new().await;
    let team = team(&t.pool).await;
    let runs: Arc<Mutex<HashMap<i64, u32>>> = Arc::default();
    let mut r = Registry::default();
    let seen = runs.clone();
    r.register("test.once", move |ctx: JobContext| {
        let seen = seen.clone();
        async move {
            *seen.lock().unwrap().entry(ctx.job.id).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(None)
        }
    });
    let registry = Arc::new(r);
    for _ in 0..40 {
        jobs::submit(&t.pool, &team.editor, Some(&team.project.slug), "test.once", json!({}), 1).await.unwrap();
    }
    let mut handles = Vec::new();
    for i in 0..4 {
        let w = Worker::new(t.pool.clone(), format!("w{i}"), registry.clone(), fast());
        handles.push(tokio::spawn(async move {
            while w.run_once(&CancellationToken::new()).await.unwrap() {}
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let runs = runs.lock().unwrap();
    assert_eq!(runs.len(), 40);
    assert!(runs.values().all(|n| *n == 1), "{runs:?}");
    let done: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'").fetch_one(&t.pool).await.unwrap();
    assert_eq!(done, 40);
}

#[tokio::test]
async fn housekeeping_is_scheduled_once_and_runs() {
    let t = TestDb::new().await;
    let first = jobs::enqueue_system(&t.pool, "maintenance.cleanup").await.unwrap();
    assert!(first.is_some());
    assert!(jobs::enqueue_system(&t.pool, "maintenance.cleanup").await.unwrap().is_none());
    sqlx::query("INSERT INTO login_attempts (email, ip, succeeded, at) VALUES ('x', '1', false, now() - interval '2 days'), ('y', '1', false, now())")
        .execute(&t.pool)
        .await
        .unwrap();
    assert!(worker(&t, "w1").run_once(&CancellationToken::new()).await.unwrap());
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM login_attempts").fetch_one(&t.pool).await.unwrap();
    assert_eq!(left, 1);
    let j = jobs::get(&t.pool, &Actor::operator(), first.unwrap()).await.unwrap();
    assert_eq!(j.state, "succeeded");
}
