//! Configuration: command-line flags, each also settable as a `TRELLIS_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Where the database is: `DATABASE_URL`, or a private cluster in the data directory.
#[derive(Args, Clone, Debug)]
pub struct DbArgs {
    /// Data directory: the private PostgreSQL cluster (when no DATABASE_URL) and local files.
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    pub data_dir: PathBuf,
    /// An existing PostgreSQL database to use instead of the private cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Largest number of database connections this process opens.
    #[arg(long, env = "TRELLIS_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
    /// Where dataset files and artifacts are stored: `s3://bucket[/prefix]` (any S3-compatible
    /// store, configured by the `AWS_*` variables) or `file:///path`. Default: DATA_DIR/blobs.
    #[arg(long, env = "TRELLIS_BLOB_URL")]
    pub blob_url: Option<String>,
}

impl DbArgs {
    /// The blob store these settings name (temporary upload files stay in DATA_DIR/tmp).
    pub fn blobs(&self) -> anyhow::Result<trellis_core::storage::Blobs> {
        Ok(match &self.blob_url {
            Some(url) => trellis_core::storage::Blobs::from_url(url, &self.data_dir)?,
            None => trellis_core::storage::Blobs::local(&self.data_dir)?,
        })
    }
}

#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TRELLIS_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    /// Job workers to run inside this process (0 for none).
    #[arg(long, env = "TRELLIS_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// The URL people reach Trellis at; `https://…` marks session cookies Secure.
    #[arg(long, env = "TRELLIS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Sign users out after this many minutes without a request.
    #[arg(long, env = "TRELLIS_SESSION_IDLE_MINUTES", default_value_t = 720)]
    pub session_idle_minutes: i64,
    /// Largest request body accepted by the JSON API and forms, in bytes.
    #[arg(long, env = "TRELLIS_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest dataset file accepted, in bytes (uploads stream to disk, never into memory).
    #[arg(long, env = "TRELLIS_MAX_UPLOAD_BYTES", default_value_t = 10 << 30)]
    pub max_upload_bytes: u64,
    /// Directory of the built web assets (`pkg/`); defaults to LEPTOS_SITE_ROOT or `target/site`.
    #[arg(long, env = "TRELLIS_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// Seconds a worker's claim on a job lasts without a heartbeat.
    #[arg(long, env = "TRELLIS_JOB_LEASE_SECONDS", default_value_t = 30)]
    pub job_lease_seconds: u64,
}

#[derive(Args, Clone, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Jobs to run at once in this process.
    #[arg(long, env = "TRELLIS_WORKERS", default_value_t = 1)]
    pub concurrency: usize,
    /// The URL Trellis is reached at from this machine; custom training jobs' MLflow clients
    /// use it (`MLFLOW_TRACKING_URI`).
    #[arg(long, env = "TRELLIS_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[arg(long, env = "TRELLIS_JOB_LEASE_SECONDS", default_value_t = 30)]
    pub job_lease_seconds: u64,
}

impl ServeArgs {
    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}
