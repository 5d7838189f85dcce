//! The Trellis domain: accounts, projects, roles, tokens, audit, jobs, datasets, tracking,
//! training (built-in, tuned and custom), the model registry and serving.
//!
//! Every operation takes the caller's [`Actor`] and checks the permission itself, so no route
//! can forget. SQL lives here (sqlx on PostgreSQL); nothing here knows about axum or Leptos.

pub mod access_cache;
pub mod actor;
pub mod artifact_uploads;
pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod batch_prediction;
pub mod charts;
pub mod code_archive;
pub mod custom_training;
pub mod datasets;
pub mod db;
pub mod demo;
pub mod error;
pub mod group_commit;
pub mod jobs;
pub mod jobs_builtin;
pub mod logged_models;
pub mod metric_store;
pub mod metric_writer;
pub mod model_governance;
pub mod model_upload;
pub mod local_pg;
pub mod parquet_files;
pub mod projects;
pub mod registry;
pub mod run_cache;
pub mod run_creation;
pub mod search_filter;
pub mod serving;
pub mod storage;
pub mod tokens;
pub mod tracking;
pub mod training;
pub mod tuning;
pub mod types;
pub mod worker;

#[cfg(feature = "testing")]
pub mod testing;

pub use actor::Actor;
pub use sqlx::PgPool;
pub use error::{Error, Result};

/// Everything a request handler needs to reach the domain. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Core {
    pub db: sqlx::PgPool,
    pub blobs: storage::Blobs,
    /// Combines concurrent metric writes to a run (see [`metric_writer`]).
    pub metrics: metric_writer::MetricWriter,
    /// The URL this Trellis is reached at, given to custom training jobs as
    /// `MLFLOW_TRACKING_URI`; without it, custom jobs fail with a message saying so.
    pub public_url: Option<String>,
    /// Endpoints' routing tables and loaded models (see [`serving`]).
    pub serving: std::sync::Arc<serving::Serving>,
    /// Recent access decisions (see [`access_cache`]).
    pub access: std::sync::Arc<access_cache::AccessCache>,
    /// Runs recently read, by revision (see [`run_cache`]).
    pub runs: std::sync::Arc<run_cache::RunCache>,
    /// Combines concurrent run creations (see [`run_creation`]).
    pub run_creator: run_creation::RunCreator,
}

impl Core {
    pub fn new(db: sqlx::PgPool, blobs: storage::Blobs) -> Self {
        Self {
            db,
            blobs,
            metrics: metric_writer::MetricWriter::new(),
            public_url: None,
            serving: Default::default(),
            access: Default::default(),
            runs: Default::default(),
            run_creator: run_creation::RunCreator::new(),
        }
    }
}
