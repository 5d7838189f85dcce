//! The worker loop: claims jobs, runs their handler under a renewed lease, streams progress and
//! logs, and records the outcome. Several workers (in `trellis serve` and `trellis worker`
//! processes, on any machine) share one queue.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::jobs::{self, ClaimedJob, Heartbeat};

pub type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<Option<Value>>> + Send>>;
pub type Handler = Arc<dyn Fn(JobContext) -> JobFuture + Send + Sync>;

/// An error that retrying cannot fix (bad payload, missing input): the job fails at once.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

/// Job kinds this worker can run.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl Registry {
    /// The job kinds built into Trellis.
    pub fn builtin(core: &crate::Core) -> Self {
        let mut r = Registry::default();
        r.register(crate::jobs_builtin::CLEANUP_KIND, crate::jobs_builtin::cleanup);
        let blobs = core.blobs.clone();
        r.register(crate::datasets::PROFILE_KIND, move |ctx| crate::datasets::profile_job(ctx, blobs.clone()));
        let trainer = core.clone();
        r.register(crate::training::TRAIN_KIND, move |ctx| crate::training::training_job(ctx, trainer.clone()));
        let runner = core.clone();
        r.register(crate::custom_training::CUSTOM_KIND, move |ctx| crate::custom_training::custom_job(ctx, runner.clone()));
        let predictor = core.clone();
        r.register(crate::batch_prediction::BATCH_KIND, move |ctx| crate::batch_prediction::batch_job(ctx, predictor.clone()));
        r
    }

    pub fn register<F, Fut>(&mut self, kind: &str, f: F)
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Option<Value>>> + Send + 'static,
    {
        self.handlers.insert(kind.to_string(), Arc::new(move |ctx| Box::pin(f(ctx))));
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.handlers.keys().cloned().collect();
        k.sort();
        k
    }
}

/// What a handler gets: the job, the database, and ways to report progress and logs.
#[derive(Clone)]
pub struct JobContext {
    pub job: ClaimedJob,
    pub db: PgPool,
    worker_id: Arc<str>,
    cancel: CancellationToken,
}

impl JobContext {
    pub fn payload<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_value(self.job.payload.clone())
            .map_err(|e| Permanent(format!("invalid payload for {}: {e}", self.job.kind)).into())
    }

    /// Reports progress (0–1) with a short message.
    pub async fn progress(&self, fraction: f64, message: &str) -> anyhow::Result<()> {
        jobs::set_progress(&self.db, self.job.id, &self.worker_id, fraction, message).await?;
        Ok(())
    }

    pub async fn log(&self, line: &str) -> anyhow::Result<()> {
        jobs::append_log(&self.db, self.job.id, "info", line).await?;
        Ok(())
    }

    pub async fn log_stream(&self, stream: &str, line: &str) -> anyhow::Result<()> {
        jobs::append_log(&self.db, self.job.id, stream, line).await?;
        Ok(())
    }

    /// Fires when the job is cancelled or the worker shuts down; long handlers should watch it.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub lease: Duration,
    pub poll: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig { lease: Duration::from_secs(30), poll: Duration::from_millis(500) }
    }
}

pub struct Worker {
    db: PgPool,
    id: Arc<str>,
    registry: Arc<Registry>,
    config: WorkerConfig,
}

enum Outcome {
    Done(anyhow::Result<Option<Value>>),
    Cancelled,
    Shutdown,
}

impl Worker {
    pub fn new(db: PgPool, id: impl Into<String>, registry: Arc<Registry>, config: WorkerConfig) -> Self {
        let id: String = id.into();
        Worker { db, id: id.into(), registry, config }
    }

    /// A worker id unique to this process: host, pid and a counter.
    pub fn default_id(n: usize) -> String {
        let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "host".into());
        format!("{host}:{}:{n}", std::process::id())
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` fires; a job in flight at shutdown is released back to the queue.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(worker = %self.id, kinds = ?self.registry.kinds(), "worker started");
        while !shutdown.is_cancelled() {
            match self.run_once(&shutdown).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(worker = %self.id, error = %e, "worker could not claim a job"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        tracing::info!(worker = %self.id, "worker stopped");
    }

    /// Claims and runs at most one job. Returns whether a job was claimed.
    pub async fn run_once(&self, shutdown: &CancellationToken) -> crate::Result<bool> {
        let Some(job) = jobs::claim(&self.db, &self.id, self.config.lease).await? else {
            return Ok(false);
        };
        self.execute(job, shutdown).await?;
        Ok(true)
    }

    async fn execute(&self, job: ClaimedJob, shutdown: &CancellationToken) -> crate::Result<()> {
        let (db, wid, id) = (&self.db, &*self.id, job.id);
        tracing::info!(worker = wid, job = id, kind = %job.kind, attempt = job.attempts, "job started");
        if job.attempts > job.max_attempts {
            let msg = format!("gave up after {} attempts (its worker stopped renewing the lease)", job.max_attempts);
            jobs::append_log(db, id, "error", &msg).await?;
            jobs::fail(db, id, wid, &msg, false).await?;
            return Ok(());
        }
        let Some(handler) = self.registry.handlers.get(&job.kind).cloned() else {
            let msg = format!("no worker handles jobs of kind '{}'", job.kind);
            jobs::append_log(db, id, "error", &msg).await?;
            jobs::fail(db, id, wid, &msg, false).await?;
            return Ok(());
        };
        if job.attempts > 1 {
            jobs::append_log(db, id, "info", &format!("attempt {} of {}", job.attempts, job.max_attempts)).await?;
        }

        let cancel = shutdown.child_token();
        let user_cancel = CancellationToken::new();
        let lost = Arc::new(AtomicBool::new(false));
        let beat = {
            let (db, wid, lease) = (db.clone(), self.id.clone(), self.config.lease);
            let (cancel, user_cancel, lost) = (cancel.clone(), user_cancel.clone(), lost.clone());
            tokio::spawn(async move {
                let every = lease / 3;
                loop {
                    tokio::time::sleep(every).await;
                    match jobs::heartbeat(&db, id, &wid, lease).await {
                        Ok(Heartbeat::Renewed { cancel_requested: true }) => {
                            user_cancel.cancel();
                            cancel.cancel();
                        }
                        Ok(Heartbeat::Renewed { .. }) => {}
                        Ok(Heartbeat::Lost) => {
                            lost.store(true, Ordering::SeqCst);
                            cancel.cancel();
                            return;
                        }
                        Err(e) => tracing::warn!(job = id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };

        let ctx = JobContext { job: job.clone(), db: db.clone(), worker_id: self.id.clone(), cancel: cancel.clone() };
        let fut = handler(ctx);
        let finished = tokio::select! {
            biased;
            r = fut => Some(r),
            _ = cancel.cancelled() => None,
        };
        // Once cancellation or shutdown fired, the handler's own ending does not count: a
        // cancelled job ends cancelled, and a job interrupted by shutdown goes back to the queue.
        let outcome = if user_cancel.is_cancelled() {
            Outcome::Cancelled
        } else if cancel.is_cancelled() {
            Outcome::Shutdown
        } else {
            Outcome::Done(finished.expect("the handler finished"))
        };
        beat.abort();

        if lost.load(Ordering::SeqCst) {
            tracing::warn!(job = id, "lease lost; another worker owns the job now");
            return Ok(());
        }
        match outcome {
            Outcome::Done(Ok(result)) => {
                jobs::succeed(db, id, wid, result).await?;
                tracing::info!(job = id, "job succeeded");
            }
            Outcome::Done(Err(e)) => {
                let retryable = !e.is::<Permanent>();
                let msg = format!("{e:#}");
                jobs::append_log(db, id, "error", &msg).await?;
                let retried = jobs::fail(db, id, wid, &msg, retryable).await?;
                tracing::warn!(job = id, error = %msg, retried, "job failed");
            }
            Outcome::Cancelled => {
                jobs::append_log(db, id, "info", "cancelled").await?;
                jobs::mark_cancelled(db, id, wid).await?;
                tracing::info!(job = id, "job cancelled");
            }
            Outcome::Shutdown => {
                jobs::append_log(db, id, "info", "worker shutting down; job returned to the queue").await?;
                jobs::release(db, id, wid).await?;
                tracing::info!(job = id, "job released at shutdown");
            }
        }
        Ok(())
    }
}
